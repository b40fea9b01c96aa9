"""mktree.py: an MDQ release tree as fedsign publish makes it (tests of serve).

usage: mktree.py PUBLISH-DIR RELEASE [--ids FILE] [--count N] [--valid-for S]
                 [--cache S] [--no-cache] [--pad BYTES] [--no-switch]
                 [--omit WHAT]...

Writes PUBLISH-DIR/releases/RELEASE/ by the contract of the publish side:

  entities.xml, entities.xml.gz   the aggregate of all entities (and its gzip)
  entities.json                   the discovery JSON of all, sorted by title
  entities/{sha1}HEX              one md:EntityDescriptor per entity
  entities/{sha1}HEX.gz           ... gzipped; {sha1}HEX.json its discovery JSON
  entities/index.json             entityID -> file, validUntil, cacheDuration,
                                  sha256, size, digest
  release.json                    release, published, validUntil (the earliest)

then points PUBLISH-DIR/current at it with one rename(2), as publish does
(unless --no-switch).  The entities are those of --ids (one entityID a line,
UTF-8) and --count generated ones; each document names RELEASE, so that two
releases differ in every byte of every entity.  Nothing is signed: serve
never looks inside.  --omit gz|json|release|agg leaves those files out.
"""
import argparse
import gzip
import hashlib
import json
import os
import time
from xml.sax.saxutils import quoteattr, escape


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("release")
    ap.add_argument("--ids")
    ap.add_argument("--count", type=int, default=0)
    ap.add_argument("--valid-for", type=int, default=10 * 86400)
    ap.add_argument("--cache", type=int, default=6 * 3600)
    ap.add_argument("--no-cache", action="store_true")
    ap.add_argument("--pad", type=int, default=1500)
    ap.add_argument("--no-switch", action="store_true")
    ap.add_argument("--omit", action="append", default=[])
    a = ap.parse_args()

    ids = []
    if a.ids:
        with open(a.ids, encoding="utf-8") as f:
            ids = [line.rstrip("\n") for line in f if line.strip()]
    ids += ["https://sp%05d.gen.example.org/shibboleth" % i if i % 3 else
            "https://idp%05d.gen.example.org/idp/shibboleth" % i for i in range(a.count)]
    now = int(time.time())
    rel = os.path.join(a.dir, "releases", a.release)
    ent = os.path.join(rel, "entities")
    os.makedirs(ent, exist_ok=True)
    index, disco, docs = {}, [], []
    earliest = None
    for n, eid in enumerate(ids):
        sha1 = hashlib.sha1(eid.encode("utf-8")).hexdigest()
        name = "{sha1}" + sha1
        idp = "idp" in eid or n % 2 == 0
        vu = now + a.valid_for - (n % 7) * 3600
        earliest = vu if earliest is None or vu < earliest else earliest
        role = ("<md:IDPSSODescriptor protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\"/>"
                if idp else
                "<md:SPSSODescriptor protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\"/>")
        pad = ("<!-- %s -->" % ("x" * max(0, a.pad - 200 - len(eid))))
        cd = "" if a.no_cache else ' cacheDuration="PT%dS"' % a.cache
        xml = ('<?xml version="1.0" encoding="UTF-8"?>\n'
               '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
               'entityID=%s ID="_%s" validUntil="%s"%s>'
               '<!-- release %s -->%s%s</md:EntityDescriptor>\n'
               % (quoteattr(eid), sha1, iso(vu), cd, escape(a.release), pad, role)).encode("utf-8")
        with open(os.path.join(ent, name), "wb") as f:
            f.write(xml)
        if "gz" not in a.omit:
            with open(os.path.join(ent, name + ".gz"), "wb") as f:
                f.write(gzip.compress(xml, mtime=0))
        title = "Entity %d of %s" % (n, a.release)
        d = {"entityID": eid, "entity_id": eid, "title": title, "descr": "",
             "title_langs": {"en": title}, "descr_langs": {},
             "type": "idp" if idp else "sp", "auth": "saml", "scope": "",
             "domain": eid.split("/")[2] if eid.count("/") >= 2 else "",
             "hidden": "false", "entity_category": [], "assurance_certification": [],
             "registrationAuthority": "https://fed.example.net/",
             "entity_icon_url": None, "privacy_statement_url": None,
             "keywords": [], "discovery_responses": []}
        if "json" not in a.omit:
            with open(os.path.join(ent, name + ".json"), "w", encoding="utf-8") as f:
                json.dump(d, f, ensure_ascii=False)
        disco.append(d)
        docs.append(xml.split(b"?>\n", 1)[1].rstrip(b"\n"))
        entry = {"file": name, "validUntil": iso(vu),
                 "sha256": hashlib.sha256(xml).hexdigest(), "size": len(xml),
                 "digest": hashlib.sha256(eid.encode("utf-8") + xml).hexdigest()}
        if not a.no_cache:
            entry["cacheDuration"] = a.cache
        index[eid] = entry
    with open(os.path.join(ent, "index.json"), "w", encoding="utf-8") as f:
        json.dump(index, f, ensure_ascii=False, indent=1, sort_keys=True)
    agg = (b'<?xml version="1.0" encoding="UTF-8"?>\n'
           b'<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" validUntil="'
           + iso(earliest or now).encode() + b'"><!-- release ' + a.release.encode() + b' -->'
           + b"".join(docs) + b"</md:EntitiesDescriptor>\n")
    if "agg" not in a.omit:
        with open(os.path.join(rel, "entities.xml"), "wb") as f:
            f.write(agg)
        if "gz" not in a.omit:
            with open(os.path.join(rel, "entities.xml.gz"), "wb") as f:
                f.write(gzip.compress(agg, mtime=0))
        if "json" not in a.omit:
            with open(os.path.join(rel, "entities.json"), "w", encoding="utf-8") as f:
                json.dump(sorted(disco, key=lambda d: d["title"]), f, ensure_ascii=False)
    if "release" not in a.omit:
        with open(os.path.join(rel, "release.json"), "w") as f:
            json.dump({"release": a.release, "published": iso(now),
                       "validUntil": iso(earliest or now)}, f)
    if not a.no_switch:
        switch(a.dir, a.release)


def switch(top, release):
    tmp = os.path.join(top, ".current-" + release)
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(os.path.join("releases", release), tmp)
    os.rename(tmp, os.path.join(top, "current"))


if __name__ == "__main__":
    main()
