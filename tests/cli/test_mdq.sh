#!/bin/bash
# fedsign publish with an mdq: section: per-entity documents and their
# signing cache (src/lib/publish/mdq.c), end to end.
#
# A SoftHSM2 token key, used through the PKCS#11 shim (tests/p11/shim.c)
# so that logins and signatures are counted, and so that the shim's
# SmartCard-HSM emulator can slow signing down and pull the token out.
# Members: 150 generated entities (tests/tools/gen-aggregate.py), one per
# file, and three real files of tests/data/corpus.  What each document and
# file must be is worked out here (mq.py below), from the inputs and the
# manual (doc/fedsign.1, MDQ), not from fedsign's code.
#
# The assertions are numbered by topic: 1 the first run (every document,
# index.json, .gz, .json, entities.json, entities.xml, the consumers),
# 2 nothing changed, 3 one member changed, one removed, one added,
# 10 --dry-run, 7 a damaged cache file and a write that fails, 8 another
# signing key, 4 renewals over the resign window (FEDSIGN_NOW, hourly
# runs) and after an outage, 9 configuration refusals, 5 a run killed
# with kill -9 in the middle of signing, 6 the token unplugged in the
# middle of signing (and a key change that fails that way), 11 an
# upstream's validUntil (it bounds the feed, not the documents), 12 a
# token that returns a wrong signature, 13 an entityID JSON must escape,
# 14 validity shortened and an entity's own validUntil brought forward,
# 15 state-dir on another file system than publish-dir.
# Takes about a minute and a half (runs beside other tests: tests/meson.build).
. "$SRCDIR/tests/lib.sh"
export LC_ALL=C
export TMPDIR=$TMP      # the harness's and the generator's temporary files go with ours

TOOLS=$SRCDIR/tests/tools
SHIM=${SHIM:-${BUILDDIR:-$(dirname "$FEDSIGN")}/tests/p11/libfs_p11shim.so}
SHIM=$(realpath -m "$SHIM")              # a relative module path is looked up in p11-kit's folder
FEDSIGN=$(realpath "$FEDSIGN")
MQ=$TMP/mq.py

# The MDQ settings of every configuration here, in seconds too.
VALIDITY=14d VALIDITY_S=1209600
WINDOW=4d WINDOW_S=345600
INTERVAL=1h INTERVAL_S=3600

# --- mq.py: the test's own reading of the published tree --------------------
cat >"$MQ" <<'PYEOF'
"""mq.py: helpers of tests/cli/test_mdq.sh.  Checks print TAP-style lines
("ok - ..." / "not ok - ..." and "#" comments), numbered by the caller.

  mq.py ids DIR...            every entityID in DIR/*.xml, sorted
  mq.py get JSON EXPR [ARG]   print EXPR on the JSON document r (ARGs in a)
  mq.py cache STATE           "FILES ENTITIES": the files under
                              STATE/mdq/cache, and the entities they hold
  mq.py journal FILE [damage] the signature records of an MDQ journal;
                              damage: one changed, one cut short added
  mq.py tree REL IDS CACHEDUR TAG [NOW VALIDITY WINDOW]
      The published tree REL (a release folder) for the entityIDs in file
      IDS: entities/{sha1}HEX (HEX: SHA-1 of the entityID) with .gz and
      .json for each and nothing else; each document an md:EntityDescriptor
      with ds:Signature as first child, its entityID, an ID, validUntil and
      cacheDuration; index.json; entities.json; entities.xml; release.json.
      With NOW..: every validUntil in [NOW + VALIDITY - WINDOW, NOW +
      VALIDITY] and spread over most of the window.
  mq.py step PREV INDEX REPORT NOW CSIGN RC N VALIDITY WINDOW IV TAG PUB
      One run of the renewal loop, from the index.json before and after,
      the report, FEDSIGN_NOW, the C_Sign calls, the exit status, and PUB:
      "FILE:validUntil=..." lines of the documents published.  An entity
      is renewed when its validUntil in index.json changed.
  mq.py loop DIR N VALIDITY WINDOW IV TAG
      Every run recorded in DIR (runs: "K NOW RC CSIGN" lines; index.K.json,
      report.K.json, pub.K.txt; index.start.json before the first), then
      the totals.
  mq.py span INDEX             the earliest and the latest validUntil
  mq.py outage INDEX WINDOW IV
      "J MUST": a time an hour and ten minutes before the first document
      expires, and how many documents have less than WINDOW/2 + IV left then.
"""
import datetime
import gzip
import hashlib
import json
import math
import os
import re
import sys
import xml.etree.ElementTree as ET

MD = "urn:oasis:names:tc:SAML:2.0:metadata"
DS = "http://www.w3.org/2000/09/xmldsig#"


def q(ns, local):
    return "{%s}%s" % (ns, local)


def when(text):
    return int(datetime.datetime.fromisoformat(text.strip().replace("Z", "+00:00")).timestamp())


def name_of(eid):
    return "{sha1}" + hashlib.sha1(eid.encode("utf-8")).hexdigest()


def tap(tag, desc, problems):
    if problems:
        print("not ok - %s %s" % (tag, desc))
        for p in problems[:8]:
            print("#   %s" % p)
        if len(problems) > 8:
            print("#   ... and %d more" % (len(problems) - 8))
    else:
        print("ok - %s %s" % (tag, desc))
    return not problems


def entity_ids(root):
    if root.tag == q(MD, "EntityDescriptor"):
        return [root.get("entityID")]
    return [e.get("entityID") for e in root.iter(q(MD, "EntityDescriptor"))]


def ids(dirs):
    out = set()
    for d in dirs:
        for f in sorted(os.listdir(d)):
            if f.endswith(".xml"):
                out.update(entity_ids(ET.parse(os.path.join(d, f)).getroot()))
    for i in sorted(out):
        print(i)


def get(path, expr, args):
    with open(path, encoding="utf-8") as f:
        r = json.load(f)
    v = eval(expr, {"r": r, "a": args})
    if isinstance(v, bool):
        v = "true" if v else "false"
    print("" if v is None else v)


def cache(state):
    files, ents = 0, set()
    for top, _, names in os.walk(os.path.join(state, "mdq", "cache")):
        for f in names:
            files += 1
            try:
                ents.add(ET.parse(os.path.join(top, f)).getroot().get("entityID"))
            except Exception:
                pass
    print(files, len(ents))


def journal(path, damage=False):
    """The FSJ2 (signature) records of an MDQ journal, counted.  With
    damage: one bit of the first one's signature flipped, and a record
    cut short appended, as a kill in the middle of its write leaves it."""
    b = bytearray(open(path, "rb").read())
    at, n, first = 0, 0, None
    while at < len(b):
        nl = b.index(b"\n", at)
        kind, name, size = bytes(b[at:nl]).decode().split(" ")
        if kind == "FSJ2":
            n += 1
            if first is None:
                first = nl + 1
        at = nl + 1 + int(size)
    if damage:
        b[first + 7] ^= 0x10
        b += b"FSJ2 " + b"ab" * 40
        open(path, "wb").write(b)
    print(n)


def tree(rel, idsfile, cachedur, tag, spread):
    with open(idsfile, encoding="utf-8") as f:
        want_ids = [l for l in f.read().splitlines() if l]
    ent = os.path.join(rel, "entities")
    names = {name_of(i): i for i in want_ids}
    want = set(names) | {n + ".gz" for n in names} | {n + ".json" for n in names} | {"index.json"}
    got = set(os.listdir(ent)) if os.path.isdir(ent) else set()
    tap(tag, "entities/ holds {sha1}HEX, HEX.gz and HEX.json for each of the %d entities and nothing else"
        % len(want_ids), ["missing %s (%s)" % (x, names.get(x.split(".")[0], "")) for x in sorted(want - got)] +
        ["extra %s" % x for x in sorted(got - want)])
    docs, shape, vus, roles, idvals = {}, [], {}, {}, {}
    for n, i in sorted(names.items()):
        p = os.path.join(ent, n)
        try:
            with open(p, "rb") as f:
                docs[i] = f.read()
            root = ET.fromstring(docs[i])
        except Exception as e:
            shape.append("%s (%s): %s" % (n, i, e))
            continue
        kids = [c for c in root if isinstance(c.tag, str)]
        why = None
        if root.tag != q(MD, "EntityDescriptor"):
            why = "root is %s" % root.tag
        elif root.get("entityID") != i:
            why = "entityID %r" % root.get("entityID")
        elif not kids or kids[0].tag != q(DS, "Signature"):
            why = "first child is %s" % (kids[0].tag if kids else "nothing")
        elif sum(1 for c in root.iter(q(DS, "Signature"))) != 1:
            why = "not exactly one ds:Signature"
        elif not root.get("ID"):
            why = "no ID"
        elif root.get("cacheDuration") != cachedur:
            why = "cacheDuration %r, not %r" % (root.get("cacheDuration"), cachedur)
        elif not root.get("validUntil"):
            why = "no validUntil"
        if why:
            shape.append("%s (%s): %s" % (n, i, why))
            continue
        vus[i] = when(root.get("validUntil"))
        idvals.setdefault(root.get("ID"), []).append(i)
        roles[i] = [c.tag.split("}")[1] for c in kids]
    tap(tag, "every document: md:EntityDescriptor of its entityID, ds:Signature first (and only), "
        "ID, validUntil, cacheDuration %s" % cachedur, shape)
    tap(tag, "no two documents share an ID", ["%s: %s" % (k, v) for k, v in idvals.items() if len(v) > 1])
    if spread:
        now, validity, window = spread
        lo, hi = now + validity - window, now + validity
        out = ["%s: validUntil %s" % (i, v) for i, v in vus.items() if not lo <= v <= hi]
        tap(tag, "every validUntil is between now + validity - window and now + validity", out)
        if vus:
            span = max(vus.values()) - min(vus.values())
            print("# validUntil from now + %.2f d to now + %.2f d" % ((min(vus.values()) - now) / 86400,
                                                                        (max(vus.values()) - now) / 86400))
            tap(tag, "the validUntil values are spread over the window (max - min = %.2f d > 3/4 of %.2f d)"
                % (span / 86400, window / 86400), [] if span > 0.75 * window else ["span %d s" % span])
    # index.json
    try:
        with open(os.path.join(ent, "index.json"), encoding="utf-8") as f:
            idx = json.load(f)
    except Exception as e:
        idx = None
        tap(tag, "index.json is JSON", [str(e)])
    if idx is not None:
        bad = ["missing %s" % i for i in want_ids if i not in idx] + \
              ["extra %s" % i for i in idx if i not in names.values()]
        for i in want_ids:
            x = idx.get(i)
            if x is None or i not in docs:
                continue
            b = docs[i]
            if x.get("file") != name_of(i):
                bad.append("%s: file %r" % (i, x.get("file")))
            if x.get("sha256") != hashlib.sha256(b).hexdigest():
                bad.append("%s: sha256 %r is not the file's" % (i, x.get("sha256")))
            if x.get("size") != len(b):
                bad.append("%s: size %r, the file has %d bytes" % (i, x.get("size"), len(b)))
            if i in vus and (not x.get("validUntil") or when(x["validUntil"]) != vus[i]):
                bad.append("%s: validUntil %r is not the document's" % (i, x.get("validUntil")))
        tap(tag, "index.json maps every entityID to its file, with the file's sha256, size and validUntil", bad)
    # .gz and .json
    bad_gz, bad_js = [], []
    for n, i in sorted(names.items()):
        p = os.path.join(ent, n)
        if i not in docs:
            continue
        try:
            with open(p + ".gz", "rb") as f:
                if gzip.decompress(f.read()) != docs[i]:
                    bad_gz.append("%s.gz: not the document's bytes" % n)
        except Exception as e:
            bad_gz.append("%s.gz: %s" % (n, e))
        try:
            with open(p + ".json", encoding="utf-8") as f:
                o = json.load(f)
            kind = "idp" if "IDPSSODescriptor" in roles.get(i, []) else "sp"
            if not isinstance(o, dict):
                bad_js.append("%s.json: not an object" % n)
            elif o.get("entityID") != i:
                bad_js.append("%s.json: entityID %r" % (n, o.get("entityID")))
            elif not isinstance(o.get("title"), str) or not o["title"]:
                bad_js.append("%s.json: title %r" % (n, o.get("title")))
            elif o.get("type") != kind:
                bad_js.append("%s.json: type %r, the entity is an %s" % (n, o.get("type"), kind))
        except Exception as e:
            bad_js.append("%s.json: %s" % (n, e))
    tap(tag, "every HEX.gz decompresses to HEX's bytes", bad_gz)
    tap(tag, "every HEX.json is a discovery object with the entityID, a title and the type", bad_js)
    # entities.json
    try:
        with open(os.path.join(rel, "entities.json"), encoding="utf-8") as f:
            lst = json.load(f)
        got_ids = [o.get("entityID") for o in lst]
        bad = [] if sorted(got_ids) == sorted(want_ids) else \
            ["missing %s" % x for x in sorted(set(want_ids) - set(got_ids))] + \
            ["extra or twice: %s" % x for x in sorted(set(got_ids)) if got_ids.count(x) != want_ids.count(x)]
        keys = [o.get("title", "").encode("utf-8").lower() for o in lst]
        bad += ["%r before %r" % (lst[k]["title"], lst[k + 1]["title"])
                for k in range(len(keys) - 1) if keys[k] > keys[k + 1]]
        tap(tag, "entities.json lists every entity once, sorted by title", bad)
        # Its members are made from the texts of the .json files, or
        # printed again for the entities linked from the live release.
        diff = []
        for o in lst:
            n = name_of(o.get("entityID", ""))
            try:
                with open(os.path.join(ent, n + ".json"), encoding="utf-8") as f:
                    if json.load(f) != o:
                        diff.append("%s: not what %s.json says" % (o.get("entityID"), n))
            except Exception as e:
                diff.append("%s.json: %s" % (n, e))
        tap(tag, "each entry of entities.json is its entity's HEX.json", diff)
    except Exception as e:
        tap(tag, "entities.json lists every entity once, sorted by title", [str(e)])
    # entities.xml
    try:
        got_ids = entity_ids(ET.parse(os.path.join(rel, "entities.xml")).getroot())
        tap(tag, "entities.xml holds every entity once", [] if sorted(got_ids) == sorted(want_ids) else
            ["%d entities, %d distinct, %d wanted; missing %s" % (len(got_ids), len(set(got_ids)), len(want_ids),
                                                                sorted(set(want_ids) - set(got_ids))[:3])])
    except Exception as e:
        tap(tag, "entities.xml holds every entity once", [str(e)])
    # release.json
    try:
        with open(os.path.join(rel, "release.json"), encoding="utf-8") as f:
            rj = json.load(f)
        tap(tag, "release.json names the release", [] if rj.get("release") == os.path.basename(os.path.realpath(rel))
            else ["release %r" % rj.get("release")])
    except Exception as e:
        tap(tag, "release.json names the release", [str(e)])


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def published(path):
    """FILE -> validUntil of each document, from "FILE:validUntil=..." lines."""
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            name, _, rest = line.rstrip("\n").partition(":")
            m = re.search(r'validUntil="([^"]*)"', rest)
            out[name] = m.group(1) if m else None
    return out


def step(prev, idx, rep, now, csign, rc, n, validity, window, iv, pub=None):
    """The problems of one run, the entities it renewed (its validUntil in
    index.json changed), a summary, and where the published documents are
    not what index.json says."""
    bad = []
    budget = max(1, math.ceil(n * iv / window))
    if rc != 0:
        bad.append("exit %d" % rc)
    if set(prev) != set(idx):
        bad.append("the entities changed: %d before, %d after" % (len(prev), len(idx)))
    pv = {i: when(x["validUntil"]) for i, x in prev.items()}
    nv = {i: when(x["validUntil"]) for i, x in idx.items()}
    renewed = sorted(i for i in idx if i in prev and idx[i]["validUntil"] != prev[i]["validUntil"])
    outcome = rep.get("outcome", "")
    m = rep.get("mdq")
    sig = rep.get("signatures", {})
    if outcome.startswith("unchanged"):
        if renewed:
            bad.append("unchanged, but %d documents have another validUntil" % len(renewed))
        if csign != 0:
            bad.append("unchanged, but %d C_Sign calls" % csign)
        due = [i for i in pv if pv[i] - now < window]
        if due:
            bad.append("the fast path was taken with %d documents within the window" % len(due))
    elif outcome == "published":
        if m is None:
            bad.append("no mdq counts in the report")
        else:
            if (m.get("new"), m.get("changed"), m.get("removed")) != (0, 0, 0):
                bad.append("new/changed/removed %s/%s/%s, not 0/0/0" % (m.get("new"), m.get("changed"), m.get("removed")))
            if m.get("renewed") != len(renewed) or m.get("signatures") != len(renewed):
                bad.append("the report says %s renewed, %s signatures; %d validUntil changed in index.json" %
                           (m.get("renewed"), m.get("signatures"), len(renewed)))
        if sig.get("entities") != len(renewed) or csign != sig.get("entities", 0) + sig.get("feeds", 0):
            bad.append("C_Sign %d, signatures %s, %d validUntil changed in index.json" % (csign, sig, len(renewed)))
    else:
        bad.append("outcome %r" % outcome)
    must = [i for i in renewed if pv[i] - now < window / 2 + iv]
    if len(renewed) > budget and len(must) != len(renewed):
        bad.append("%d renewals, more than the budget %d, and %d of them had %d s or more left" %
                   (len(renewed), budget, len(renewed) - len(must), window // 2 + iv))
    back = [i for i in renewed if nv[i] < pv[i]]
    if back:
        bad.append("%d documents replaced by ones that expire sooner: %s" % (len(back), back[:3]))
    short = [i for i in renewed if nv[i] - pv[i] < iv or nv[i] > now + validity]
    if short:
        bad.append("renewals that buy less than one run or last longer than the validity: %s" % short[:3])
    due_left = [pv[i] for i in pv if i not in renewed and pv[i] - now < window]
    if renewed and due_left and max(pv[i] for i in renewed) > min(due_left):
        bad.append("not soonest expiry first: renewed one expiring at %d, left one expiring at %d" %
                   (max(pv[i] for i in renewed), min(due_left)))
    least = min(nv[i] - now for i in nv) if nv else 0
    if least - iv < window / 2:
        bad.append("a document has %.1f h left at the next run, less than half the window" % ((least - iv) / 3600))
    summary = "%s: %d renewed (budget %d, %d had less than window/2 + 1h left), least left at the next run %.1f h" % (
        outcome.split(":")[0], len(renewed), budget, len(must), (least - iv) / 3600)
    mism = []
    for i, x in (idx.items() if pub is not None else []):
        if pub.get(x["file"]) != x["validUntil"]:
            mism.append("%s: index.json says validUntil %s, the published document has %s%s" % (
                i, x["validUntil"], pub.get(x["file"]), " (renewed in this run)" if i in renewed else ""))
    return bad, renewed, summary, mism


def step_cmd(a):
    prev, idx, rep = load(a[0]), load(a[1]), load(a[2])
    now, csign, rc, n, validity, window, iv = (int(x) for x in a[3:10])
    bad, renewed, summary, mism = step(prev, idx, rep, now, csign, rc, n, validity, window, iv, published(a[11]))
    tap(a[10], "a run at %s: %s" % (datetime.datetime.utcfromtimestamp(now).strftime("%Y-%m-%dT%H:%MZ"), summary), bad)
    tap(a[10], "the documents it published are what index.json says (their validUntil)", mism)


def loop(d, n, validity, window, iv, tag):
    runs = []
    with open(os.path.join(d, "runs")) as f:
        for line in f:
            k, now, rc, csign = line.split()
            runs.append((k, int(now), int(rc), int(csign)))
    prev = load(os.path.join(d, "index.start.json"))
    counts, total = {}, 0
    budget = max(1, math.ceil(n * iv / window))
    most = 0
    stale, stale_runs = [], 0
    for k, now, rc, csign in runs:
        idx = load(os.path.join(d, "index.%s.json" % k))
        rep = load(os.path.join(d, "report.%s.json" % k))
        bad, renewed, summary, mism = step(prev, idx, rep, now, csign, rc, n, validity, window, iv,
                                           published(os.path.join(d, "pub.%s.txt" % k)))
        stale += ["run %s: %s" % (k, x) for x in mism]
        stale_runs += 1 if mism else 0
        tap(tag, "run %s at %s: %s" % (k, datetime.datetime.utcfromtimestamp(now).strftime("%Y-%m-%dT%H:%MZ"),
                                       summary), bad)
        for i in renewed:
            counts[i] = counts.get(i, 0) + 1
        total += len(renewed)
        most = max(most, len(renewed))
        prev = idx
    twice = sorted(i for i, c in counts.items() if c > 1)
    never = sorted(i for i in prev if i not in counts)
    print("# %d runs, %d renewals, at most %d in one run; %d entities never renewed" % (len(runs), total, most, len(never)))
    tap(tag, "over the window each entity was renewed once: %d renewals of %d entities, spread at most %d a run"
        % (total, n, budget), (["renewed twice: %s" % twice[:3]] if twice else []) +
        (["%d renewals, not close to %d: never renewed %s" % (total, n, never[:3])] if not n - budget <= total <= n else []) +
        (["a burst of %d in one run" % most] if most > budget else []))
    tap(tag, "in every run the published documents are what index.json says (their validUntil)%s" %
        (": not so in %d runs" % stale_runs if stale_runs else ""), stale)


def span(path):
    vus = [when(x["validUntil"]) for x in load(path).values()]
    print(min(vus), max(vus))


def outage(path, window, iv):
    idx = load(path)
    vus = sorted(when(x["validUntil"]) for x in idx.values())
    j = vus[0] - iv - 600
    print(j, sum(1 for v in vus if v - j < window / 2 + iv))


def main():
    cmd, a = sys.argv[1], sys.argv[2:]
    if cmd == "ids":
        ids(a)
    elif cmd == "id":
        print(ET.parse(a[0]).getroot().get("entityID"))
    elif cmd == "get":
        get(a[0], a[1], a[2:])
    elif cmd == "cache":
        cache(a[0])
    elif cmd == "journal":
        journal(a[0], len(a) > 1 and a[1] == "damage")
    elif cmd == "tree":
        tree(a[0], a[1], a[2], a[3], tuple(int(x) for x in a[4:7]) if len(a) >= 7 else None)
    elif cmd == "step":
        step_cmd(a)
    elif cmd == "loop":
        loop(a[0], int(a[1]), int(a[2]), int(a[3]), int(a[4]), a[5])
    elif cmd == "span":
        span(a[0])
    elif cmd == "outage":
        outage(a[0], int(a[1]), int(a[2]))
    else:
        sys.exit("mq.py: unknown command %s" % cmd)


main()
PYEOF

# --- helpers -----------------------------------------------------------------

# fs CODE DESC ARGS...: run fedsign ARGS and assert its exit status (stdout
# in $TMP/out, stderr in $TMP/err).
fs() {
	local want=$1 desc=$2; shift 2
	expect "$want" "$desc" "$FEDSIGN" "$@"
}

# jr FILE EXPR [ARG...]: a Python expression on the JSON document r in FILE.
jr() { python3 "$MQ" get "$@" 2>/dev/null; }
ids_of() { python3 "$MQ" ids "$@"; }                    # DIR...: entityIDs, sorted
id_of() { python3 "$MQ" id "$1"; }                      # FILE: the entityID of its root
sha1name() { printf '{sha1}%s' "$(printf '%s' "$1" | sha1sum | cut -c1-40)"; }
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }

# tap DESC CMD...: CMD prints "ok - ..."/"not ok - ..." lines, each one
# assertion here.
tap() {
	local desc=$1 line n=0; shift
	"$@" >"$TMP/tap.out" 2>"$TMP/tap.err"
	while IFS= read -r line; do
		case $line in
		"ok - "*) ok "${line#ok - }"; n=$((n + 1)) ;;
		"not ok - "*) nok "${line#not ok - }"; n=$((n + 1)) ;;
		"#"*) echo "$line" ;;
		esac
	done <"$TMP/tap.out"
	if [ "$n" -eq 0 ] || grep -q Traceback "$TMP/tap.err"; then
		nok "$desc: the check did not run through"
		sed 's/^/# /' "$TMP/tap.err" | head -20
	fi
}

# The shim writes one line per PKCS#11 call it counts (calls NAME).
export FS_SHIM_MODULE=$SOFTHSM_MODULE FS_SHIM_COUNT=$TMP/p11.calls
: >"$FS_SHIM_COUNT"
# wait_signs N SECONDS: until N C_Sign calls were made (or SECONDS passed).
wait_signs() {
	local i
	for i in $(seq $(($2 * 50))); do
		[ "$(calls C_Sign)" -ge "$1" ] && return 0
		sleep 0.02
	done
	return 1
}

# docs REL: the entity documents of release REL, one path a line.
docs() { find "$1/entities/" -maxdepth 1 -type f -name '{sha1}*' ! -name '*.*' | sort; }

# each_doc DESC REL N CMD...: CMD FILE [exit 0] for each document of REL,
# two at a time (each one is a process of its own), and there are N of
# them.  Each failure's output is shown, up to three.
each_doc() {
	local desc=$1 rel=$2 n=$3 seen bad; shift 3
	docs "$rel" >"$TMP/each.list"
	seen=$(wc -l <"$TMP/each.list")
	rm -rf "$TMP/each.d" && mkdir "$TMP/each.d"
	# shellcheck disable=SC2016 # expanded by the inner sh
	xargs -d '\n' -P 2 -I{} sh -c 'd=$1 f=$2; shift 2
		"$@" "$f" >"$d/$$.out" 2>&1 </dev/null || { echo "$f" >"$d/$$.bad"; tail -3 "$d/$$.out" >>"$d/$$.bad"; }
		rm -f "$d/$$.out"' sh "$TMP/each.d" {} "$@" <"$TMP/each.list"
	bad=$(find "$TMP/each.d" -type f -name '*.bad' | wc -l)
	if [ "$bad" -eq 0 ] && [ "$seen" -eq "$n" ]; then
		ok "$desc ($seen)"
	else
		nok "$desc ($bad of $seen do not, $n expected)"
		find "$TMP/each.d" -type f -name '*.bad' | head -3 | xargs -r cat | sed 's/^/# /'
	fi
}

# verify_all DESC CERT REL N [OPTIONS]: fedsign verify accepts each of the
# N documents of REL with the key of CERT.
verify_all() {
	local desc=$1 cert=$2 rel=$3 n=$4; shift 4
	each_doc "$desc" "$rel" "$n" "$FEDSIGN" verify --cert "$cert" -q "$@"
}

# xmlsec_all DESC CERT REL N: xmlsec1 accepts each document with the pinned key.
xmlsec_all() {
	each_doc "$1" "$3" "$4" xmlsec1 --verify --pubkey-cert-pem "$2" \
	    --id-attr:ID urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor
}

# pub_vu REL: "FILE:validUntil=..." for each document of REL (its root's).
pub_vu() { docs "$1" | xargs -d '\n' grep -H -o -m1 'validUntil="[^"]*"' | sed 's#^.*/##'; }

# gz_is_agg PUB: PUB/current/entities.xml.gz is one gzip member that ends
# the file (some clients read only the first), and inflates to
# PUB/current/entities.xml.
gz_is_agg() {
	python3 -c '
import sys, zlib
d = open(sys.argv[1] + "/current/entities.xml.gz", "rb").read()
o = zlib.decompressobj(31)
x = o.decompress(d)
sys.exit(not (o.eof and o.unused_data == b"" and x == open(sys.argv[1] + "/current/entities.xml", "rb").read()))
' "$1"
}

# inodes REL: "NAME INODE" for every file of REL/entities, sorted.
inodes() { (cd "$1/entities" && stat -c '%n %i' -- *) | sort; }

# edit_location FILE: the first Location="..." gets "/changed" appended (an
# attribute value: canonicalisation sees it, the schema does not mind).
edit_location() {
	python3 - "$1" <<'EOF'
import re, sys
p = sys.argv[1]
t = open(p, encoding="utf-8").read()
t2 = re.sub(r'Location="([^"]*)"', r'Location="\1/changed"', t, count=1)
assert t2 != t
open(p, "w", encoding="utf-8").write(t2)
EOF
}

# --- inputs ------------------------------------------------------------------

[ -f "$SHIM" ] || nok "the PKCS#11 shim $SHIM is missing (build it)"
new_token mdq
fs 0 "keygen: the signing key on the token" keygen --key "$(key_uri mdq signer1)" --type rsa:2048
fs 0 "... and its certificate" cert create --key "$(key_uri mdq signer1)" \
    --subject 'CN=Test MDQ Signer' --out "$TMP/signer1.crt"
fs 0 "keygen: a second key on the token" keygen --key "$(key_uri mdq signer2)" --type rsa:2048
fs 0 "... and its certificate" cert create --key "$(key_uri mdq signer2)" \
    --subject 'CN=Test MDQ Signer 2' --out "$TMP/signer2.crt"
# publish signs through the shim; no cert: the token's certificate goes into KeyInfo
KEY1="pkcs11:token=mdq;object=signer1?module-path=$SHIM&pin-source=file:$TMP/pin"
KEY2="pkcs11:token=mdq;object=signer2?module-path=$SHIM&pin-source=file:$TMP/pin"

# 151 generated entities, one per file: 150 members, one kept for later;
# and three real single-entity files (two IdPs, one SP).
python3 "$TOOLS/gen-aggregate.py" 151 "$TMP/gen.xml" --seed 31 --certs "$TMP/gencerts" ||
    { nok "gen-aggregate.py made the members"; done_testing; }
mkdir -p "$TMP/split" "$TMP/members"
xsltproc --stringparam dir "$TMP/split" "$TOOLS/split-entities.xsl" "$TMP/gen.xml"
cp "$TMP"/split/entity-00{001..150}.xml "$TMP/members/"
for f in idp.aco.net sharav.abes.fr skriptenforum.net; do
	cp "$CORPUS/pyFF/$f.xml" "$TMP/members/corpus-$f.xml"
done
ids_of "$TMP/members" >"$TMP/ids1"
N=$(wc -l <"$TMP/ids1")
is "153 member entities, each with its own entityID" "$N" 153
IDP_ID=https://idp.aco.net/idp/shibboleth
SP_ID=https://skriptenforum.net/shibboleth

PUB=$TMP/main/www STATE=$TMP/main/state R=$TMP/main/state/last-report.json
C=$TMP/main/publish.yaml
mkdir -p "$TMP/main"
KEY=$KEY1 NOTE=""
# conf FILE: the main configuration ($KEY, $NOTE).
conf() {
	cat >"$1" <<EOF
# fedsign publish with mdq: the main configuration $NOTE
signing:
  key: "$KEY"
publish-dir: $PUB
state-dir: $STATE
validity: 10d
cache-duration: 6h
sources:
  - name: members
    files: "$TMP/members/*.xml"
feeds:
  - file: hub.xml
    sources: [members]
mdq:
  sources: [members]
  validity: $VALIDITY
  resign-window: $WINDOW
  run-interval: $INTERVAL
EOF
}

# --- 1. the first run ----------------------------------------------------------

conf "$C"
L0=$(calls C_Login) S0=$(calls C_Sign)
fs 0 "1. the first run publishes (exit 0)" publish -c "$C" -q
REL1=$(realpath "$PUB/current")
T1=$(epoch "$(jr "$R" 'r["started"]')")
is "1. outcome: published" "$(jr "$R" 'r["outcome"]')" published
is "1. one login" "$(( $(calls C_Login) - L0 ))" 1
is "1. report: signatures.entities is every entity" "$(jr "$R" 'r["signatures"]["entities"]')" "$N"
is "1. report: signatures.feeds is 2 (hub.xml, entities.xml)" "$(jr "$R" 'r["signatures"]["feeds"]')" 2
is "1. C_Sign calls = entities + feeds" "$(( $(calls C_Sign) - S0 ))" "$((N + 2))"
is "1. report: mdq entities new changed unchanged renewed removed signatures" \
    "$(jr "$R" '"%(entities)s %(new)s %(changed)s %(unchanged)s %(renewed)s %(removed)s %(signatures)s" % r["mdq"]')" \
    "$N $N 0 0 0 0 $N"
tap "1. the tree" python3 "$MQ" tree "$PUB/current" "$TMP/ids1" PT6H "1." "$T1" "$VALIDITY_S" "$WINDOW_S"
verify_all "1. every document verifies with fedsign verify" "$TMP/signer1.crt" "$PUB/current" "$N"
xmlsec_all "1. every document verifies with xmlsec1" "$TMP/signer1.crt" "$PUB/current" "$N"
consumers "1. an IdP's document ($IDP_ID)" "$PUB/current/entities/$(sha1name "$IDP_ID")" "$TMP/signer1.crt"
consumers "1. an SP's document ($SP_ID)" "$PUB/current/entities/$(sha1name "$SP_ID")" "$TMP/signer1.crt"
fs 0 "1. entities.xml (the signed aggregate) verifies" verify "$PUB/current/entities.xml" --cert "$TMP/signer1.crt"
fs 0 "1. hub.xml verifies" verify "$PUB/current/hub.xml" --cert "$TMP/signer1.crt"
check "1. entities.xml.gz is entities.xml, compressed" cmp -s <(gzip -dc "$PUB/current/entities.xml.gz") "$PUB/current/entities.xml"
# It is compressed in parts (of 256 kB here) on several threads: still one
# gzip member, one deflate stream, as a browser or HTTP library expects
# (some read only the first member), and smaller than level 1 makes.
check "1. entities.xml.gz is one gzip member and ends with it" python3 -c '
import sys, zlib
d = open(sys.argv[1], "rb").read()
o = zlib.decompressobj(31)
x = o.decompress(d)
sys.exit(not (o.eof and o.unused_data == b"" and x == open(sys.argv[2], "rb").read()
              and len(d) < len(zlib.compress(x, 1)) and len(x) > 3 * 256 * 1024))
' "$PUB/current/entities.xml.gz" "$PUB/current/entities.xml"

# --- 2. nothing changed ----------------------------------------------------------

snap pub1 "$PUB"
L0=$(calls C_Login) S0=$(calls C_Sign)
fs 0 "2. the second run, nothing changed (exit 0)" publish -c "$C" -q
is "2. outcome: unchanged" "$(jr "$R" 'r["outcome"].split(":")[0]')" unchanged
is "2. no login and no signature" "$(( $(calls C_Login) - L0 )) $(( $(calls C_Sign) - S0 ))" "0 0"
same_tree "2. publish-dir byte-identical" pub1 "$PUB"

# --- 3. one member changed, one removed, one added ---------------------------------

CH=$TMP/members/entity-00005.xml
CH_ID=$(id_of "$CH") RM_ID=$(id_of "$TMP/members/entity-00007.xml") ADD_ID=$(id_of "$TMP/split/entity-00151.xml")
check "3. the three entityIDs are known" test -n "$CH_ID" -a -n "$RM_ID" -a -n "$ADD_ID"
edit_location "$CH"
check "3. the change is an attribute value (a Location)" grep -q 'Location="[^"]*/changed"' "$CH"
rm "$TMP/members/entity-00007.xml"
cp "$TMP/split/entity-00151.xml" "$TMP/members/"
ids_of "$TMP/members" >"$TMP/ids3"
PREV=$(realpath "$PUB/current")
S0=$(calls C_Sign)
fs 0 "3. one changed, one removed, one added: published (exit 0)" publish -c "$C" -q
REL3=$(realpath "$PUB/current")
check "3. a new release is live" test "$REL3" != "$PREV"
is "3. report: mdq new changed removed signatures" \
    "$(jr "$R" '"%(new)s %(changed)s %(removed)s %(signatures)s" % r["mdq"]')" "1 1 1 2"
is "3. report: signatures.entities 2, signatures.feeds 2 (both feeds hold other entities)" \
    "$(jr "$R" '"%(entities)s %(feeds)s" % r["signatures"]')" "2 2"
is "3. C_Sign calls: the 2 entities + the 2 feeds" "$(( $(calls C_Sign) - S0 ))" 4
check "3. the removed entity's document is gone" test ! -e "$REL3/entities/$(sha1name "$RM_ID")"
check "3. ... and so are its .gz and .json" test ! -e "$REL3/entities/$(sha1name "$RM_ID").gz" -a ! -e "$REL3/entities/$(sha1name "$RM_ID").json"
check "3. the changed entity's document is another file" bash -c "! cmp -s '$PREV/entities/$(sha1name "$CH_ID")' '$REL3/entities/$(sha1name "$CH_ID")'"
check "3. ... holding the new Location" grep -q 'Location="[^"]*/changed"' "$REL3/entities/$(sha1name "$CH_ID")"
check "3. the added entity has a document" test -s "$REL3/entities/$(sha1name "$ADD_ID")"
# Every other file (document, .gz, .json) is the previous release's: the
# same inode, a hard link.
inodes "$PREV" >"$TMP/inodes.prev"
inodes "$REL3" >"$TMP/inodes.3"
join "$TMP/inodes.prev" "$TMP/inodes.3" | grep -v -e '^index\.json ' -e "^$(sha1name "$CH_ID")" >"$TMP/inodes.joined"
is "3. every other entity's 3 files are in both releases" "$(wc -l <"$TMP/inodes.joined")" "$(( (N - 2) * 3 ))"
is "3. ... as the same inode (hard links): byte-identical" "$(awk '$2 != $3' "$TMP/inodes.joined" | wc -l)" 0
tap "3. the tree" python3 "$MQ" tree "$PUB/current" "$TMP/ids3" PT6H "3."
is "3. the cache holds one document per entity (the removed and the replaced ones are gone)" \
    "$(python3 "$MQ" cache "$STATE")" "$N $N"
for id in "$CH_ID" "$ADD_ID"; do
	fs 0 "3. $id: fedsign verify" verify "$REL3/entities/$(sha1name "$id")" --cert "$TMP/signer1.crt"
	check "3. $id: xmlsec1 verifies" xmlsec1 --verify --pubkey-cert-pem "$TMP/signer1.crt" \
	    --id-attr:ID urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor "$REL3/entities/$(sha1name "$id")"
done
fs 0 "3. entities.xml verifies" verify "$PUB/current/entities.xml" --cert "$TMP/signer1.crt"
check "3. entities.xml.gz is the new entities.xml, one gzip member" gz_is_agg "$PUB"
# Its parts are cut where the content says, so the parts the three
# changes did not touch have the input they had: their bytes are copied
# from the live .gz, not compressed again.
is "3. report: the .gz has parts, some copied from the live one, not all" \
    "$(jr "$R" 'r["mdq"]["gzipParts"] >= 5 and 0 < r["mdq"]["gzipPartsReused"] < r["mdq"]["gzipParts"]')" true

# --- 10. --dry-run -------------------------------------------------------------------

D_FILE=$TMP/members/entity-00010.xml
cp "$D_FILE" "$TMP/entity-00010.orig"
edit_location "$D_FILE"
snap dry "$PUB"
snap drystate "$STATE"
L0=$(calls C_Login) S0=$(calls C_Sign)
fs 0 "10. --dry-run with a changed member (exit 0)" publish -c "$C" --dry-run -q
is "10. report: a dry run" "$(jr "$R" 'r.get("dryRun")')" true
is "10. report: mdq counts (changed, unchanged, signatures)" \
    "$(jr "$R" '"%(changed)s %(unchanged)s %(signatures)s" % r["mdq"]')" "1 $((N - 1)) 0"
is "10. report: no signature" "$(jr "$R" '"%(entities)s %(feeds)s" % r["signatures"]')" "0 0"
is "10. the token was not used: no login, no C_Sign" "$(( $(calls C_Login) - L0 )) $(( $(calls C_Sign) - S0 ))" "0 0"
same_tree "10. publish-dir byte-identical" dry "$PUB"
same_tree "10. state-dir (the cache, publication.json) byte-identical but for last-report.json" drystate "$STATE" 'last-report\.json'
cp "$TMP/entity-00010.orig" "$D_FILE"

# --- 7. a damaged cache file ----------------------------------------------------------

# The victim: the first file under state-dir/mdq/cache/*/ (by name); its
# entity, from the document it holds.
X_PATH=$(find "$STATE/mdq/cache" -mindepth 2 -maxdepth 2 -type f | sort | head -1)
X_ID=$(id_of "$X_PATH" 2>/dev/null)
check "7. a cache file of an entity's document: $X_ID" grep -qxF -- "$X_ID" "$TMP/ids3"
truncate -s 300 "$X_PATH"
# Something else changes, so that the run is not the fast path: another
# member's entityID quoted with ' (canonicalisation does not see it).
Y_FILE=$TMP/members/entity-00030.xml
[ "$(id_of "$Y_FILE")" = "$X_ID" ] && Y_FILE=$TMP/members/entity-00031.xml
Y_ID=$(id_of "$Y_FILE")
python3 - "$Y_FILE" <<'EOF'
import re, sys
p = sys.argv[1]
t = open(p, encoding="utf-8").read()
open(p, "w", encoding="utf-8").write(re.sub(r'entityID="([^"]*)"', r"entityID='\1'", t, count=1))
EOF
check "7. the other member's file changed (quotes only)" grep -qF "entityID='$Y_ID'" "$Y_FILE"
PREV=$(realpath "$PUB/current")
S0=$(calls C_Sign)
fs 0 "7. the next run publishes (exit 0)" publish -c "$C"
REL7=$(realpath "$PUB/current")
err_has "damaged"
is "7. the report has a warning about that entity's damaged document" \
    "$(jr "$R" 'len([f for f in r["findings"] if f["level"] == "warn" and f.get("entityID") == a[0] and "damaged" in f["message"]])' "$X_ID")" 1
is "7. exactly that entity is signed again (report: mdq signatures, changed)" \
    "$(jr "$R" '"%(signatures)s %(changed)s" % r["mdq"]')" "1 1"
is "7. C_Sign calls: that entity + the feeds signed" "$(( $(calls C_Sign) - S0 ))" "$(( 1 + $(jr "$R" 'r["signatures"]["feeds"]') ))"
fs 0 "7. its new document verifies" verify "$REL7/entities/$(sha1name "$X_ID")" --cert "$TMP/signer1.crt"
is "7. the entity whose file changed only in its quotes kept its document (same inode)" \
    "$(stat -c %i "$REL7/entities/$(sha1name "$Y_ID")")" "$(stat -c %i "$PREV/entities/$(sha1name "$Y_ID")")"
tap "7. the tree" python3 "$MQ" tree "$PUB/current" "$TMP/ids3" PT6H "7."

# The live entities.xml.gz changed in place (every byte between its
# header and trailer, at the same size): each part it would lend is
# inflated and compared first, so none is taken, the run says so, and the
# new .gz is the new entities.xml.
G_FILE=$TMP/members/entity-00035.xml
edit_location "$G_FILE"
python3 - "$PUB/current/entities.xml.gz" <<'EOF'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
for i in range(10, len(b) - 8):
    b[i] ^= 0x55
open(p, "wb").write(bytes(b))
EOF
fs 0 "7. a run after the live entities.xml.gz was damaged publishes (exit 0)" publish -c "$C"
err_has "compressed again"
is "7. ... the report warns of it once" \
    "$(jr "$R" 'len([f for f in r["findings"] if f["level"] == "warn" and "compressed again" in f["message"]])')" 1
is "7. ... no part of the damaged file is used" "$(jr "$R" 'r["mdq"]["gzipPartsReused"]')" 0
check "7. ... the new entities.xml.gz is the new entities.xml" gz_is_agg "$PUB"
# A list of parts that is not one: ignored, everything compressed.
printf 'fedsign-agz-1 12 2\n0 0 -1\n' >"$STATE/mdq/aggregate.parts"
edit_location "$G_FILE"
fs 0 "7. a run with a damaged state-dir/mdq/aggregate.parts publishes (exit 0)" publish -c "$C" -q
is "7. ... using no part of the live .gz, without a warning" \
    "$(jr "$R" '"%d %d" % (r["mdq"]["gzipPartsReused"], len(r["findings"]))')" "0 0"
check "7. ... its entities.xml.gz is the new entities.xml" gz_is_agg "$PUB"
edit_location "$G_FILE"
fs 0 "7. the run after takes parts from that .gz again (exit 0)" publish -c "$C" -q
is "7. ... (report: mdq gzipPartsReused > 0)" "$(jr "$R" 'r["mdq"]["gzipPartsReused"] > 0')" true
check "7. ... and its entities.xml.gz is the new entities.xml" gz_is_agg "$PUB"

# A write that fails (past ulimit -f: EFBIG, the same path as a full disk)
# after the signing: the run fails, nothing published changes, and the
# document it signed is not signed again by the next run.
W_FILE=$TMP/members/entity-00040.xml
W_ID=$(id_of "$W_FILE")
edit_location "$W_FILE"
snap full "$PUB"
S0=$(calls C_Sign)
expect 4 "7. a run whose aggregate cannot be written (ulimit -f 100): exit 4" \
    bash -c 'ulimit -f 100; exec "$@"' - "$FEDSIGN" publish -c "$C"
err_has "nothing published was changed"
is "7. ... it signed the changed entity's document, then the aggregate it could not write" \
    "$(( $(calls C_Sign) - S0 ))" 2
same_tree "7. ... publish-dir byte-identical" full "$PUB"
check "7. ... no half-built release left" bash -c "! ls -A '$PUB/releases' | grep -q '^[.]'"
S0=$(calls C_Sign)
fs 0 "7. the next run, with room to write, publishes (exit 0)" publish -c "$C" -q
is "7. ... without signing that document again (report: mdq signatures)" "$(jr "$R" 'r["mdq"]["signatures"]')" 0
is "7. ... C_Sign calls: the feeds only" "$(( $(calls C_Sign) - S0 ))" "$(jr "$R" 'r["signatures"]["feeds"]')"
check "7. ... its document holds the change" grep -q 'Location="[^"]*/changed"' "$PUB/current/entities/$(sha1name "$W_ID")"
fs 0 "7. ... and verifies" verify "$PUB/current/entities/$(sha1name "$W_ID")" --cert "$TMP/signer1.crt"

# --- 8. another signing key ----------------------------------------------------------

KEY=$KEY2 NOTE="(the second key)" conf "$C"
S0=$(calls C_Sign)
fs 0 "8. the same configuration with another key publishes (exit 0)" publish -c "$C" -q
is "8. every entity is signed again (report: mdq signatures)" "$(jr "$R" 'r["mdq"]["signatures"]')" "$N"
is "8. C_Sign calls: every entity + the feeds signed" "$(( $(calls C_Sign) - S0 ))" "$(( N + $(jr "$R" 'r["signatures"]["feeds"]') ))"
verify_all "8. every document verifies with the new key's certificate" "$TMP/signer2.crt" "$PUB/current" "$N"
check "8. ... and not with the old one" bash -c "! '$FEDSIGN' verify '$PUB/current/entities/$(sha1name "$IDP_ID")' --cert '$TMP/signer1.crt' -q 2>/dev/null"
# A feed whose entities did not change is reused from the live release
# only when the same key and certificate would sign it.
fs 0 "8. hub.xml verifies with the new key's certificate" \
    verify "$PUB/current/hub.xml" --cert "$TMP/signer2.crt"
fs 0 "8. entities.xml verifies with the new key's certificate" \
    verify "$PUB/current/entities.xml" --cert "$TMP/signer2.crt"
tap "8. the tree" python3 "$MQ" tree "$PUB/current" "$TMP/ids3" PT6H "8."
is "8. the cache holds the new key's documents only" "$(python3 "$MQ" cache "$STATE")" "$N $N"

# --- 4. renewals over the window: hourly runs at FEDSIGN_NOW -------------------------

# From an hour before the first document comes within resign-window of
# its validUntil until three hours after the last one did, one run an
# hour (about 100 runs; nothing changes but the time).
IDX=$PUB/current/entities/index.json
read -r VMIN VMAX < <(python3 "$MQ" span "$IDX")
START=$(( VMIN - WINDOW_S - INTERVAL_S ))
END=$(( VMAX - WINDOW_S + 3 * INTERVAL_S ))
RUNS=$(( (END - START) / INTERVAL_S + 1 ))
check "4. between 90 and 110 hourly runs cover the window ($RUNS)" test "$RUNS" -ge 90 -a "$RUNS" -le 110
LOOP=$TMP/loop
mkdir -p "$LOOP"
cp "$IDX" "$LOOP/index.start.json"
T_LOOP=$(date +%s)
for k in $(seq 0 $((RUNS - 1))); do
	t=$(( START + k * INTERVAL_S ))
	s0=$(calls C_Sign)
	FEDSIGN_NOW=$(iso "$t") "$FEDSIGN" publish -c "$C" -q >"$LOOP/out" 2>"$LOOP/err.$k"
	rc=$?
	echo "$k $t $rc $(( $(calls C_Sign) - s0 ))" >>"$LOOP/runs"
	cp "$R" "$LOOP/report.$k.json"
	cp "$PUB/current/entities/index.json" "$LOOP/index.$k.json"
	pub_vu "$PUB/current" >"$LOOP/pub.$k.txt"
	[ "$rc" -eq 0 ] || sed "s/^/# run $k: /" "$LOOP/err.$k" | head -3
done
echo "# $RUNS runs in $(( $(date +%s) - T_LOOP )) s"
# A renewal's new document goes into the cache and index.json (its
# sha256); the old one is dropped, so no entity is renewed twice in a row.
tap "4. the hourly runs" python3 "$MQ" loop "$LOOP" "$N" "$VALIDITY_S" "$WINDOW_S" "$INTERVAL_S" "4."
T4=$(( START + (RUNS - 1) * INTERVAL_S ))

# After an outage: no run until an hour and ten minutes before the first
# document expires.  Every document with less than window/2 + 1h left is
# renewed, past the budget; no other.
read -r J MUST < <(python3 "$MQ" outage "$IDX" "$WINDOW_S" "$INTERVAL_S")
BUDGET=$(( (N * INTERVAL_S + WINDOW_S - 1) / WINDOW_S ))
check "4. after the outage $MUST documents have less than window/2 + 1h left, more than the budget $BUDGET" test "$MUST" -gt "$BUDGET"
cp "$IDX" "$TMP/index.before-outage.json"
S0=$(calls C_Sign)
FEDSIGN_NOW=$(iso "$J") fs 0 "4. the first run after the outage (exit 0)" publish -c "$C" -q
pub_vu "$PUB/current" >"$TMP/pub.outage.txt"
tap "4. the run after the outage" python3 "$MQ" step "$TMP/index.before-outage.json" "$IDX" "$R" "$J" \
    "$(( $(calls C_Sign) - S0 ))" 0 "$N" "$VALIDITY_S" "$WINDOW_S" "$INTERVAL_S" "4." "$TMP/pub.outage.txt"
is "4. ... it renewed exactly those $MUST" "$(jr "$R" 'r["mdq"]["renewed"]')" "$MUST"
tap "4. the tree after the outage" python3 "$MQ" tree "$PUB/current" "$TMP/ids3" PT6H "4."

# --- 9. configuration refusals: exit 2, FILE:LINE --------------------------------------

B=$TMP/bad
mkdir -p "$B"
# badconf FILE FEEDFILE MDQLINE...: the main configuration with these mdq: lines.
badconf() {
	local f=$1 feed=$2; shift 2
	{ cat <<EOF
signing:
  key: "$KEY2"
publish-dir: $PUB
state-dir: $STATE
validity: 10d
cache-duration: 6h
sources:
  - name: members
    files: "$TMP/members/*.xml"
feeds:
  - file: $feed
    sources: [members]
mdq:
EOF
	printf '  %s\n' "$@"; } >"$f"
}
# refused DESC FILE LINE-PATTERN TEXT: exit 2, "FILE:LINE:" and TEXT.
refused() {
	local line
	line=$(grep -n -- "$3" "$2" | head -1 | cut -d: -f1)
	fs 2 "9. $1: exit 2" publish -c "$2"
	err_has "$2:$line: "
	err_has "$4"
}
snap conf "$PUB"
badconf "$B/source.yaml" hub.xml 'sources: [members, nosuch]'
refused "mdq sources naming an unknown source" "$B/source.yaml" nosuch "'nosuch', which is not defined"
badconf "$B/window.yaml" hub.xml 'sources: [members]' 'validity: 14d' 'resign-window: 8d'
refused "resign-window more than half the validity" "$B/window.yaml" resign-window "is more than half the validity"
badconf "$B/interval.yaml" hub.xml 'sources: [members]' 'resign-window: 4d' 'run-interval: 49h'
refused "run-interval more than half the window" "$B/interval.yaml" run-interval "run-interval is more than half the resign-window"
badconf "$B/cache.yaml" hub.xml 'sources: [members]' 'validity: 14d' 'cache-duration: 14d'
refused "mdq cache-duration not shorter than the validity" "$B/cache.yaml" '  cache-duration: 14d' "cache-duration is not shorter than the validity"
badconf "$B/feed.yaml" entities.xml 'sources: [members]'
refused "a feed named entities.xml" "$B/feed.yaml" 'file: entities.xml' "'entities.xml'"
# The limits themselves are allowed (checked with a dry run).
badconf "$B/limits.yaml" hub.xml 'sources: [members]' 'validity: 14d' 'resign-window: 7d' 'run-interval: 84h'
FEDSIGN_NOW=$(iso "$J") fs 0 "9. resign-window half the validity, run-interval half the window: accepted" publish -c "$B/limits.yaml" --dry-run -q
same_tree "9. publish-dir byte-identical" conf "$PUB"

# --- 5. a run killed with kill -9 in the middle of signing ----------------------------

# crash_conf DIR KEY: a configuration of its own, in DIR.
crash_conf() {
	cat >"$1/publish.yaml" <<EOF
signing:
  key: "$2"
publish-dir: www
state-dir: state
validity: 10d
cache-duration: 6h
sources:
  - name: members
    files: "members/*.xml"
feeds:
  - file: hub.xml
    sources: [members]
mdq:
  sources: [members]
  validity: $VALIDITY
  resign-window: $WINDOW
  run-interval: $INTERVAL
  sign-workers: 2
EOF
}
K=$TMP/crash
mkdir -p "$K/members"
crash_conf "$K" "$KEY1"
cp "$TMP"/split/entity-00{001..010}.xml "$K/members/"
fs 0 "5. a first publication of 10 entities" publish -c "$K/publish.yaml" -q
cp "$TMP"/split/entity-00{011..090}.xml "$K/members/"
ids_of "$K/members" >"$TMP/ids5"
snap crash "$K/www"
S0=$(calls C_Sign)
# 80 new entities at 20 signatures a second on 2 workers: killed once 30
# signatures were asked for, about 1.5 s in.  The shim counts a C_Sign
# when it is called: those in flight (at most one a worker) are counted
# but never returned.
FS_SHIM_SIGN_RATE=20 "$FEDSIGN" publish -c "$K/publish.yaml" -q >"$TMP/kill.out" 2>"$TMP/kill.err" &
PID=$!
wait_signs $((S0 + 30)) 20
kill -9 "$PID"
wait "$PID" 2>/dev/null
is "5. the run was killed (exit 137)" "$?" 137
LINES=$(( $(calls C_Sign) - S0 ))
echo "# the killed run asked for $LINES signatures"
# Entities are signed before the feeds (publish.c): with fewer than 80
# calls, the feeds took none of them.
check "5. it was killed in the middle of signing the entities ($LINES C_Sign calls of 80)" test "$LINES" -ge 3 -a "$LINES" -lt 80
same_tree "5. publish-dir byte-identical (but for the unfinished releases/.building-* folder)" crash "$K/www" '\.building-'
# The killed run's journal: a record of each signature the token returned.
JN=$(python3 "$MQ" journal "$K/state/mdq/journal")
check "5. the journal holds a signature record (FSJ2) for each signature returned: $JN of $LINES asked for" \
    test "${JN:-0}" -ge $((LINES - 2)) -a "${JN:-0}" -le "$LINES"
cp -a "$K" "$K-torn"
S0=$(calls C_Sign)
fs 0 "5. the rerun without the rate limit publishes (exit 0)" publish -c "$K/publish.yaml" -q
RE=$(jr "$K/state/last-report.json" 'r["signatures"]["entities"]')
RF=$(jr "$K/state/last-report.json" 'r["signatures"]["feeds"]')
RR=$(jr "$K/state/last-report.json" 'r["mdq"].get("recovered", 0)')
is "5. the rerun's C_Sign calls are its report's signatures (entities + feeds)" "$(( $(calls C_Sign) - S0 ))" "$(( RE + RF ))"
is "5. ... both feeds signed" "$RF" 2
check "5. it signs only what the killed run had not: 80 - $LINES (its C_Sign lines) <= $RE <= 80 - $LINES + the 2 in flight" \
    test "${RE:-0}" -ge $((80 - LINES)) -a "${RE:-0}" -le $((80 - LINES + 2))
is "5. the journal's $JN signatures made their documents again (mdq.recovered)" "$RR" "$JN"
is "5. ... and those are all it did not sign: recovered + signed = 80" "$((RR + RE))" 80
check "5. the journal is gone once the tree is written" test ! -e "$K/state/mdq/journal"
is "5. the cache holds one document per entity" "$(python3 "$MQ" cache "$K/state")" "90 90"
check "5. no .building- folder is left" bash -c "! ls -a '$K/www/releases' | grep -q building"
tap "5. the tree" python3 "$MQ" tree "$K/www/current" "$TMP/ids5" PT6H "5."
verify_all "5. every document verifies" "$TMP/signer1.crt" "$K/www/current" 90

# The same killed run, its journal damaged: one signature changed in a
# byte, and a last record cut short, as a kill in the middle of its write
# would leave it.
python3 "$MQ" journal "$K-torn/state/mdq/journal" damage >/dev/null
S0=$(calls C_Sign)
fs 0 "5. the rerun with a damaged journal publishes (exit 0)" publish -c "$K-torn/publish.yaml" -q
RE=$(jr "$K-torn/state/last-report.json" 'r["signatures"]["entities"]')
RR=$(jr "$K-torn/state/last-report.json" 'r["mdq"].get("recovered", 0)')
is "5. ... the changed signature is not used: $((JN - 1)) documents made again" "$RR" "$((JN - 1))"
is "5. ... the entity it was for is signed again: recovered + signed = 80" "$((RR + RE))" 80
check "5. ... and a finding says so" grep -q "does not make this document again" "$K-torn/state/last-report.json"
is "5. ... the cache holds one document per entity" "$(python3 "$MQ" cache "$K-torn/state")" "90 90"
verify_all "5. ... every document verifies" "$TMP/signer1.crt" "$K-torn/www/current" 90

# --- 6. the token unplugged in the middle of signing -----------------------------------

U=$TMP/unplug
mkdir -p "$U/members"
crash_conf "$U" "$KEY1"
sed -i '/sign-workers/d' "$U/publish.yaml"
cp "$TMP"/split/entity-00{001..010}.xml "$U/members/"
fs 0 "6. a first publication of 10 entities" publish -c "$U/publish.yaml" -q
cp "$TMP"/split/entity-00{011..070}.xml "$U/members/"
ids_of "$U/members" >"$TMP/ids6"
snap unplug "$U/www"
PLUG=$TMP/unplugged
rm -f "$PLUG"
S0=$(calls C_Sign)
# A SmartCard-HSM (one session: at most one signature in flight) at 20
# signatures a second, 60 new entities; unplugged once 20 were asked for,
# about 1 s in.
FS_SHIM_SMARTCARD=1 FS_SHIM_SIGN_RATE=20 FS_SHIM_UNPLUG=$PLUG \
    "$FEDSIGN" publish -c "$U/publish.yaml" -q >"$TMP/out" 2>"$TMP/err" &
PID=$!
wait_signs $((S0 + 20)) 20
touch "$PLUG"
wait "$PID"
is "6. unplugged: exit 3" "$?" 3
err_has "CKR_DEVICE_REMOVED"
err_has "removed"
same_tree "6. publish-dir byte-identical" unplug "$U/www"
LINES=$(( $(calls C_Sign) - S0 ))
echo "# the unplugged run asked for $LINES signatures"
check "6. it was unplugged in the middle of signing the entities ($LINES C_Sign calls of 60)" test "$LINES" -ge 2 -a "$LINES" -lt 60
rm -f "$PLUG"
S0=$(calls C_Sign)
FS_SHIM_SMARTCARD=1 FS_SHIM_SIGN_RATE=0 FS_SHIM_UNPLUG=$PLUG \
    fs 0 "6. replugged: the next run publishes (exit 0)" publish -c "$U/publish.yaml" -q
RE=$(jr "$U/state/last-report.json" 'r["signatures"]["entities"]')
RF=$(jr "$U/state/last-report.json" 'r["signatures"]["feeds"]')
is "6. its C_Sign calls are its report's signatures (entities + feeds)" "$(( $(calls C_Sign) - S0 ))" "$(( RE + RF ))"
check "6. it signs only what was not signed before the unplug: 60 - $LINES <= $RE <= 60 - $LINES + the 1 in flight" \
    test "${RE:-0}" -ge $((60 - LINES)) -a "${RE:-0}" -le $((60 - LINES + 1))
tap "6. the tree" python3 "$MQ" tree "$U/www/current" "$TMP/ids6" PT6H "6."
verify_all "6. every document verifies" "$TMP/signer1.crt" "$U/www/current" 70

# A key change whose first run is cut short the same way: the next run
# must still sign every entity the failed run did not.
crash_conf "$U" "$KEY2"
S0=$(calls C_Sign)
FS_SHIM_SIGN_RATE=20 FS_SHIM_UNPLUG=$PLUG "$FEDSIGN" publish -c "$U/publish.yaml" -q >"$TMP/out" 2>"$TMP/err" &
PID=$!
wait_signs $((S0 + 10)) 20
touch "$PLUG"
wait "$PID"
is "6. a key change, unplugged in its first run: exit 3" "$?" 3
rm -f "$PLUG"
LINES=$(( $(calls C_Sign) - S0 ))
echo "# the failed run with the new key asked for $LINES signatures"
S0=$(calls C_Sign)
fs 0 "6. ... the next run publishes (exit 0)" publish -c "$U/publish.yaml" -q
RE=$(jr "$U/state/last-report.json" 'r["signatures"]["entities"]')
# The cache is keyed by the signer too: the new key's documents from the
# failed run are kept, the old key's are signed again.
check "6. ... it signs every entity the failed run did not: 70 - $LINES <= $RE <= 70 - $LINES + 2" \
    test "${RE:-0}" -ge $((70 - LINES)) -a "${RE:-0}" -le $((70 - LINES + 2))
verify_all "6. ... every document verifies with the new key's certificate" \
    "$TMP/signer2.crt" "$U/www/current" 70


# --- 12. a token that returns a wrong signature ----------------------------------

# Ten new entities; the fifth signature the run gets from the token has
# its last byte changed (the shim's FS_SHIM_BAD_SIG).  Every signature is
# checked with the public key as it is made, sampled or not: the run
# stops and publishes nothing, and keeps what it signed before.
cp "$TMP"/split/entity-00{071..080}.xml "$U/members/"
ids_of "$U/members" >"$TMP/ids12"
snap badsig "$U/www"
S0=$(calls C_Sign)
FS_SHIM_BAD_SIG=5 fs 3 "12. a wrong signature from the token: exit 3 (the token)" publish -c "$U/publish.yaml" -q
err_has "the token returned a signature that does not verify"
same_tree "12. publish-dir byte-identical" badsig "$U/www"
LINES=$(( $(calls C_Sign) - S0 ))
check "12. it stopped at the wrong signature ($LINES C_Sign calls of 10)" test "$LINES" -ge 5 -a "$LINES" -le 6
S0=$(calls C_Sign)
fs 0 "12. the next run publishes (exit 0)" publish -c "$U/publish.yaml" -q
RE=$(jr "$U/state/last-report.json" 'r["signatures"]["entities"]')
check "12. ... it signs the wrong one and those not reached, not the four before: 4 <= $RE <= 6" \
    test "${RE:-0}" -ge 4 -a "${RE:-0}" -le 6
tap "12. the tree" python3 "$MQ" tree "$U/www/current" "$TMP/ids12" PT6H "12."
verify_all "12. every document verifies" "$TMP/signer2.crt" "$U/www/current" 80

# --- 11. an upstream's validUntil bounds its feed, not the documents ------------

# One source file, an EntitiesDescriptor valid for 5 days around two
# entities, one of them with a validUntil of its own 3 days ahead.  The
# per-entity documents are bounded by the entity's own validUntil only;
# the feed that holds them, by the enclosing one too.
W=$TMP/upstream
mkdir -p "$W/members"
crash_conf "$W" "$KEY1"
NOW=$(date +%s)
python3 - "$TMP/split/entity-00001.xml" "$TMP/split/entity-00002.xml" "$W/members/up.xml" \
    "$(iso $((NOW + 5 * 86400)))" "$(iso $((NOW + 3 * 86400)))" <<'PY'
import re, sys
a, b, out, agg_vu, own_vu = sys.argv[1:]
def body(f, extra):
    t = re.sub(r'^<\?xml[^>]*\?>\s*', '', open(f, encoding="utf-8").read())
    return t.replace('<md:EntityDescriptor ', '<md:EntityDescriptor %s' % extra, 1)
with open(out, "w", encoding="utf-8") as o:
    o.write('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
            'validUntil="%s">\n' % agg_vu)
    o.write(body(a, ''))
    o.write(body(b, 'validUntil="%s" ' % own_vu))
    o.write('</md:EntitiesDescriptor>\n')
PY
A_ID=$(id_of "$TMP/split/entity-00001.xml") B_ID=$(id_of "$TMP/split/entity-00002.xml")
fs 0 "11. an upstream-like source publishes (exit 0)" publish -c "$W/publish.yaml" -q
vu_of() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]]["validUntil"])' "$W/www/current/entities/index.json" "$1"; }
VA=$(epoch "$(vu_of "$A_ID")") VB=$(epoch "$(vu_of "$B_ID")")
check "11. the entity without a validUntil of its own gets the mdq: validity, past the enclosing 5 days ($(( (VA - NOW) / 3600 )) h)" \
    test "${VA:-0}" -ge $((NOW + VALIDITY_S - WINDOW_S - 60)) -a "${VA:-0}" -le $((NOW + VALIDITY_S + 60))
check "11. the entity with its own validUntil keeps it ($(( (VB - NOW) / 3600 )) h)" \
    test "${VB:-0}" -le $((NOW + 3 * 86400)) -a "${VB:-0}" -ge $((NOW + 3 * 86400 - WINDOW_S - 60))
HV=$(epoch "$(xmllint --xpath 'string(/*/@validUntil)' "$W/www/current/hub.xml")")
check "11. the feed is bounded by the enclosing validUntil and the entity's" \
    test "${HV:-0}" -le $((NOW + 3 * 86400)) -a "${HV:-0}" -gt "$NOW"
verify_all "11. both documents verify" "$TMP/signer1.crt" "$W/www/current" 2
# A day later a document capped by the upstream's 5 days would be within
# the 4-day window and renewed; these are not.
S0=$(calls C_Sign)
expect 0 "11. the next run a day later (exit 0)" env FEDSIGN_NOW="$(iso $((NOW + 86400)))" "$FEDSIGN" publish -c "$W/publish.yaml" -q
check "11. ... renews neither document (C_Sign calls: $(( $(calls C_Sign) - S0 )), at most the feed's)" \
    test $(( $(calls C_Sign) - S0 )) -le 1
is "11. ... index.json keeps their validUntil" "$(epoch "$(vu_of "$A_ID")") $(epoch "$(vu_of "$B_ID")")" "$VA $VB"

# --- 13. an entityID that JSON must escape --------------------------------------

# index.json and the state are joined a member at a time (mdq.c,
# tree_lists; jansson prints each member): an entityID with a quote, a backslash and non-ASCII characters (white space
# is refused before) is a key like any other, and its file is the SHA-1
# of its UTF-8 bytes.
O=$TMP/odd
mkdir -p "$O/members"
crash_conf "$O" "$KEY1"
cp "$TMP/split/entity-00003.xml" "$TMP/split/entity-00004.xml" "$O/members/"
python3 - "$O/members/entity-00003.xml" <<'PY'
import re, sys
p = sys.argv[1]
t = open(p, encoding="utf-8").read()
t2 = re.sub(r'entityID="[^"]*"', lambda m: 'entityID="https://odd.example.org/a&quot;b\\c/\u00e9\u4e2d&#x1F600;"', t, count=1)
assert t2 != t
open(p, "w", encoding="utf-8").write(t2)
PY
ODD=$'https://odd.example.org/a"b\\c/\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80'
fs 0 "13. a member whose entityID has a quote, a backslash, é, 中 and an emoji publishes (exit 0)" publish -c "$O/publish.yaml" -q
is "13. index.json is JSON and names both entities, that one as it is" \
    "$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1], encoding="utf-8")); print(len(j), sys.argv[2] in j)' "$O/www/current/entities/index.json" "$ODD")" "2 True"
is "13. ... with the SHA-1 of its UTF-8 bytes as its file" \
    "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1], encoding="utf-8"))[sys.argv[2]]["file"])' "$O/www/current/entities/index.json" "$ODD")" \
    "{sha1}$(printf '%s' "$ODD" | sha1sum | cut -c1-40)"
is "13. the state names it the same way" \
    "$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1], encoding="utf-8")); print(len(j), sys.argv[2] in j)' "$O/state/mdq/entities.json" "$ODD")" "2 True"
fs 0 "13. its document verifies" verify "$O/www/current/entities/{sha1}$(printf '%s' "$ODD" | sha1sum | cut -c1-40)" --cert "$TMP/signer1.crt"
edit_location "$O/members/entity-00004.xml"
fs 0 "13. the next run, with the other entity changed (exit 0)" publish -c "$O/publish.yaml" -q
is "13. ... finds that one unchanged in the state it wrote (report: mdq changed unchanged signatures)" \
    "$(jr "$O/state/last-report.json" '"%(changed)s %(unchanged)s %(signatures)s" % r["mdq"]')" "1 1 1"

# --- 14. validity shortened, an entity's own validUntil brought forward ---------

# Neither is in the cache key (the content digest leaves validUntil out),
# so the cache still holds documents that claim more than is allowed now:
# they are signed again, at once, not published as they are; and only once.
V=$TMP/shorten
mkdir -p "$V/members"
VALIDITY=14d crash_conf "$V" "$KEY1"
cp "$TMP"/split/entity-00{005..008}.xml "$V/members/"
NOW=$(date +%s)
fs 0 "14. four entities published with validity 14d" publish -c "$V/publish.yaml" -q
VR=$V/state/last-report.json
# vmax: the latest validUntil index.json gives, in seconds (the ISO times
# have one width, so the greatest string is the latest).
vmax() { epoch "$(jr "$V/www/current/entities/index.json" 'max(v["validUntil"] for v in r.values())')"; }
check "14. ... and their documents are valid for more than 10 days" test "$(vmax)" -gt $((NOW + 10 * 86400))
cp -a "$V/state/mdq/cache" "$TMP/shorten-cache14"
VALIDITY=10d WINDOW=2d crash_conf "$V" "$KEY1"
S0=$(calls C_Sign)
expect 0 "14. validity 10d an hour later (exit 0)" env FEDSIGN_NOW="$(iso $((NOW + 3600)))" "$FEDSIGN" publish -c "$V/publish.yaml" -q
is "14. ... renews all four documents at once (report: mdq renewed overValidity signatures)" \
    "$(jr "$VR" '"%s %s %s" % (r["mdq"]["renewed"], r["mdq"].get("overValidity"), r["mdq"]["signatures"])')" "4 4 4"
is "14. ... four entity signatures at the token" "$(( $(calls C_Sign) - S0 - $(jr "$VR" 'r["signatures"]["feeds"]') ))" 4
check "14. ... none valid for more than 10 days after the run" test "$(vmax)" -le $((NOW + 3600 + 10 * 86400))
verify_all "14. ... and they verify" "$TMP/signer1.crt" "$V/www/current" 4
check "14. ... and the report says why" grep -q 'longer than mdq validity' "$VR"
# The 14-day documents back in the cache, as a run killed before its
# commit would leave them: the new ones are kept, nothing is signed again.
cp -an "$TMP/shorten-cache14/." "$V/state/mdq/cache/"
cp "$TMP/split/entity-00009.xml" "$V/members/"
S0=$(calls C_Sign)
expect 0 "14. the next run, one entity added, the old documents in the cache too (exit 0)" \
    env FEDSIGN_NOW="$(iso $((NOW + 7200)))" "$FEDSIGN" publish -c "$V/publish.yaml" -q
is "14. ... signs only the new entity (report: mdq new renewed signatures)" \
    "$(jr "$VR" '"%(new)s %(renewed)s %(signatures)s" % r["mdq"]')" "1 0 1"
check "14. ... none valid for more than 10 days" test "$(vmax)" -le $((NOW + 3600 + 10 * 86400))
is "14. ... and the cache lost the 14-day documents (files in it)" \
    "$(find "$V/state/mdq/cache" -type f -name '*.xml' | wc -l)" 5
# An entity's own validUntil, 3 days ahead: its document follows it.
F6=$V/members/entity-00006.xml
sed -i "0,/<md:EntityDescriptor /s//<md:EntityDescriptor validUntil=\"$(iso $((NOW + 3 * 86400)))\" /" "$F6"
check "14. entity-00006 has a validUntil of its own" grep -q "validUntil=\"$(iso $((NOW + 3 * 86400)))\"" "$F6"
expect 0 "14. the next run (exit 0)" env FEDSIGN_NOW="$(iso $((NOW + 10800)))" "$FEDSIGN" publish -c "$V/publish.yaml" -q
is "14. ... renews that one document (report: mdq changed renewed overValidity signatures)" \
    "$(jr "$VR" '"%s %s %s %s" % (r["mdq"]["changed"], r["mdq"]["renewed"], r["mdq"].get("overValidity"), r["mdq"]["signatures"])')" "0 1 1 1"
E6=$(id_of "$F6")
V6=$(epoch "$(jr "$V/www/current/entities/index.json" 'r[a[0]]["validUntil"]' "$E6")")
# Less its share of the window (2d here), as any signature made now.
check "14. ... whose validUntil is not past the entity's own, nor more than the window before it ($(( (NOW + 3 * 86400 - ${V6:-0}) / 60 )) min before)" \
    test "${V6:-0}" -le $((NOW + 3 * 86400)) -a "${V6:-0}" -ge $((NOW + 3 * 86400 - 2 * 86400))
fs 0 "14. ... and it verifies" verify "$V/www/current/entities/$(sha1name "$E6")" --cert "$TMP/signer1.crt"

# --- 15. state-dir on another file system than publish-dir -------------------

# The cache cannot be hard-linked into a release across file systems
# (EXDEV): it keeps copies of its own, and each release gets copies.
X=$TMP/xdev
mkdir -p "$X/members" "$X/state"
if mount -t tmpfs -o size=64m tmpfs "$X/state"; then
	MOUNTED=$X/state
	crash_conf "$X" "$KEY1"
	cp "$TMP"/split/entity-00{011..015}.xml "$X/members/"
	XR=$X/state/last-report.json
	fs 0 "15. state-dir on a file system of its own: the first run (exit 0)" publish -c "$X/publish.yaml" -q
	is "15. ... signs the five entities (report: mdq new signatures)" \
	    "$(jr "$XR" '"%(new)s %(signatures)s" % r["mdq"]')" "5 5"
	is "15. ... and the cache has their five documents" \
	    "$(find "$X/state/mdq/cache" -type f -name '*.xml' | wc -l)" 5
	verify_all "15. ... which verify" "$TMP/signer1.crt" "$X/www/current" 5
	edit_location "$X/members/entity-00012.xml"
	NOW=$(date +%s)
	expect 0 "15. an hour later, one entity changed (exit 0)" \
	    env FEDSIGN_NOW="$(iso $((NOW + 3600)))" "$FEDSIGN" publish -c "$X/publish.yaml" -q
	is "15. ... signs that one, the others from the cache (report: mdq changed unchanged signatures)" \
	    "$(jr "$XR" '"%(changed)s %(unchanged)s %(signatures)s" % r["mdq"]')" "1 4 1"
	verify_all "15. ... and every document verifies" "$TMP/signer1.crt" "$X/www/current" 5
	umount "$X/state" && MOUNTED=
else
	nok "15. cannot mount a tmpfs for state-dir (run as root)"
fi

done_testing
