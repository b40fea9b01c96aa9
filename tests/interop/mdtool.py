#!/usr/bin/env python3
"""Small helpers for the interoperability harness (consumers.sh).

  mdtool.py info FILE
      Print shell assignments describing signed metadata FILE:
        MD_ROOT=<root local name>  MD_NS=<root namespace>  MD_ID=<root ID>
        MD_VALID_UNTIL=<validUntil or empty>  MD_ENTITY=<first entityID>
        MD_PROFILE=<"" when the document looks like the signing profile,
                    else the first problem found>
      The profile checked: root md:EntitiesDescriptor or md:EntityDescriptor
      with an ID and validUntil; its first child element is ds:Signature
      with exactly one Reference, URI="#<root ID>".
  mdtool.py fill TEMPLATE OUT NAME=VALUE...
      Copy TEMPLATE to OUT replacing each @NAME@ with VALUE (XML-escaped
      when TEMPLATE's name has ".xml").
  mdtool.py is-entity FILE ENTITYID
      Exit 0 when FILE is an XML document whose root is md:EntityDescriptor
      with that entityID (what mdquery prints for a found entity).
  mdtool.py tamper IN OUT [ATTR]
      Copy IN to OUT with one attribute value changed after the root's
      ds:Signature: the first ATTR (default: Location, else any non-namespace
      attribute) gets "x" appended, which keeps the document schema-valid.
      Prints what it changed.
  mdtool.py extract-entity IN OUT [INDEX]
      Write the INDEX-th (default 0) EntityDescriptor of aggregate IN as a
      standalone document OUT (byte copy of that element).
"""
import re
import shlex
import sys
import xml.etree.ElementTree as ET

MD = "urn:oasis:names:tc:SAML:2.0:metadata"
DS = "http://www.w3.org/2000/09/xmldsig#"


def die(msg, code=2):
    sys.stderr.write("mdtool: %s\n" % msg)
    sys.exit(code)


def split(tag):
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        return ns, local
    return "", tag


def info(path):
    out = {"MD_ROOT": "", "MD_NS": "", "MD_ID": "", "MD_VALID_UNTIL": "", "MD_ENTITY": "", "MD_PROFILE": ""}
    problem = None
    depth = 0
    root = None
    first_child = None      # (ns, local) of the root's first child element
    sig_depth = None        # depth of the root's ds:Signature while inside it
    refs = []
    try:
        for ev, el in ET.iterparse(path, events=("start", "end")):
            if ev == "end":
                depth -= 1
                if depth == 1 and sig_depth is not None:
                    sig_depth = None
                if root is not None and el is not root and depth <= 1 and out["MD_ENTITY"]:
                    break   # all that is needed has been seen
                if depth >= 1:
                    el.clear()
                continue
            depth += 1
            ns, local = split(el.tag)
            if depth == 1:
                root = el
                out["MD_ROOT"], out["MD_NS"] = local, ns
                out["MD_ID"] = el.get("ID", "")
                out["MD_VALID_UNTIL"] = el.get("validUntil", "")
                if local == "EntityDescriptor":
                    out["MD_ENTITY"] = el.get("entityID", "")
            elif depth == 2:
                if first_child is None:
                    first_child = (ns, local)
                    if (ns, local) == (DS, "Signature"):
                        sig_depth = 2
            elif sig_depth is not None and (ns, local) == (DS, "Reference"):
                refs.append(el.get("URI"))
            if local == "EntityDescriptor" and ns == MD and not out["MD_ENTITY"]:
                out["MD_ENTITY"] = el.get("entityID", "")
    except ET.ParseError as e:
        problem = "not well-formed XML: %s" % e
    if problem is None:
        if out["MD_NS"] != MD or out["MD_ROOT"] not in ("EntitiesDescriptor", "EntityDescriptor"):
            problem = "root is {%s}%s, not md:EntitiesDescriptor or md:EntityDescriptor" % (out["MD_NS"], out["MD_ROOT"])
        elif not out["MD_ID"]:
            problem = "root has no ID"
        elif not out["MD_VALID_UNTIL"]:
            problem = "root has no validUntil"
        elif first_child != (DS, "Signature"):
            problem = "first child of the root is not ds:Signature"
        elif len(refs) != 1:
            problem = "signature has %d References, not 1" % len(refs)
        elif refs[0] != "#" + out["MD_ID"]:
            problem = "Reference URI is %r, not '#%s'" % (refs[0], out["MD_ID"])
        elif not out["MD_ENTITY"]:
            problem = "no EntityDescriptor with an entityID"
    out["MD_PROFILE"] = problem or ""
    for k, v in out.items():
        print("%s=%s" % (k, shlex.quote(v)))


def xml_escape(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def fill(template, outp, pairs):
    with open(template, encoding="utf-8") as f:
        text = f.read()
    for p in pairs:
        name, sep, val = p.partition("=")
        if not sep:
            die("fill: expected NAME=VALUE, got %r" % p)
        text = text.replace("@%s@" % name, xml_escape(val) if ".xml" in template else val)
    left = re.search(r"@[A-Z_]+@", text)
    if left:
        die("fill: %s left unfilled in %s" % (left.group(0), template))
    with open(outp, "w", encoding="utf-8") as f:
        f.write(text)


def is_entity(path, entity):
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as e:
        sys.stderr.write("mdtool: %s\n" % e)
        return 1
    if root.tag != "{%s}EntityDescriptor" % MD:
        sys.stderr.write("mdtool: output root is %s\n" % root.tag)
        return 1
    if root.get("entityID") != entity:
        sys.stderr.write("mdtool: output entityID is %r\n" % root.get("entityID"))
        return 1
    return 0


def tamper(inp, outp, want=None):
    with open(inp, "rb") as f:
        data = f.read()
    m = re.search(rb"</([A-Za-z_][\w.-]*:)?Signature>", data)
    start = m.end() if m else 0
    attr = re.compile(rb'\s([A-Za-z_][\w.:-]*)="([^"]*)"')
    names = [want.encode()] if want else [b"Location", None]
    for name in names:
        for a in attr.finditer(data, start):
            n = a.group(1)
            if n == b"xmlns" or n.startswith(b"xmlns:"):
                continue
            if name is not None and n != name:
                continue
            pos = a.end(2)
            with open(outp, "wb") as f:
                f.write(data[:pos] + b"x" + data[pos:])
            print("changed %s=\"%s\" to \"%sx\" at byte %d" % (
                n.decode(), a.group(2).decode("utf-8", "replace"),
                a.group(2).decode("utf-8", "replace"), a.start(2)))
            return 0
    die("tamper: no attribute to change in %s" % inp, 1)


def extract_entity(inp, outp, index=0):
    with open(inp, "rb") as f:
        data = f.read()
    opens = list(re.finditer(rb"<([A-Za-z_][\w.-]*:)?EntityDescriptor[\s>]", data))
    if index >= len(opens):
        die("extract-entity: %s has %d entities" % (inp, len(opens)), 1)
    m = opens[index]
    prefix = m.group(1) or b""
    end = data.index(b"</" + prefix + b"EntityDescriptor>", m.start())
    end += len(b"</" + prefix + b"EntityDescriptor>")
    body = b'<?xml version="1.0" encoding="UTF-8"?>\n' + data[m.start():end] + b"\n"
    try:
        ET.fromstring(body)  # namespace-aware: refuses prefixes bound only on the aggregate
    except ET.ParseError as e:
        die("extract-entity: entity %d does not stand alone: %s" % (index, e), 1)
    with open(outp, "wb") as f:
        f.write(body)


def main():
    a = sys.argv[1:]
    if not a:
        sys.exit(__doc__)
    cmd = a.pop(0)
    if cmd == "info" and len(a) == 1:
        info(a[0])
    elif cmd == "fill" and len(a) >= 2:
        fill(a[0], a[1], a[2:])
    elif cmd == "is-entity" and len(a) == 2:
        sys.exit(is_entity(a[0], a[1]))
    elif cmd == "tamper" and len(a) in (2, 3):
        sys.exit(tamper(a[0], a[1], a[2] if len(a) == 3 else None))
    elif cmd == "extract-entity" and len(a) in (2, 3):
        extract_entity(a[0], a[1], int(a[2]) if len(a) == 3 else 0)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
