#!/usr/bin/env python3
"""Make an xmlsec1 signing template out of unsigned SAML metadata.

Usage: prepare-template.py IN OUT [--alg rsa-sha256|rsa-sha384|rsa-sha512|ecdsa-sha256|ecdsa-sha384]
                                  [--valid-for-days D] [--id ID] [--no-keyinfo]

The root element (md:EntitiesDescriptor or md:EntityDescriptor) gets an ID
(kept when it has one, else --id or a fresh one), validUntil = now + D days
(default 10; replaced when present), and an empty ds:Signature template as
its FIRST child: exclusive c14n, the chosen SignatureMethod, one Reference
to "#ID" with the enveloped-signature and exc-c14n transforms, sha256 (or
the algorithm's hash) digest, and an empty KeyInfo/X509Data that
`xmlsec1 --sign --privkey-pem KEY,CERT` fills with the certificate.

Works on the bytes of the root start tag only, so everything else (other
namespaces, comments, non-ASCII text) stays as it was. The input must be
UTF-8 (or ASCII), without an existing signature on the root.
Prints "ROOT_LOCAL_NAME ID" on stdout.
"""
import datetime
import re
import secrets
import sys

DSIG = "http://www.w3.org/2000/09/xmldsig#"
ALGS = {
    "rsa-sha256": ("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", "http://www.w3.org/2001/04/xmlenc#sha256"),
    "rsa-sha384": ("http://www.w3.org/2001/04/xmldsig-more#rsa-sha384", "http://www.w3.org/2001/04/xmldsig-more#sha384"),
    "rsa-sha512": ("http://www.w3.org/2001/04/xmldsig-more#rsa-sha512", "http://www.w3.org/2001/04/xmlenc#sha512"),
    "ecdsa-sha256": ("http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256", "http://www.w3.org/2001/04/xmlenc#sha256"),
    "ecdsa-sha384": ("http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384", "http://www.w3.org/2001/04/xmldsig-more#sha384"),
}
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ATTR = re.compile(rb'\s+([^\s=/>]+)\s*=\s*("[^"]*"|\'[^\']*\')')


def die(msg):
    sys.stderr.write("prepare-template: %s\n" % msg)
    sys.exit(1)


def root_start(data):
    """Return (start, end) of the root element's start tag: data[start] is
    '<', data[end - 1] is '>'."""
    i, n = 0, len(data)
    if data.startswith(b"\xef\xbb\xbf"):
        i = 3
    while i < n:
        c = data[i:i + 1]
        if c.isspace():
            i += 1
        elif data.startswith(b"<?", i):
            i = data.index(b"?>", i) + 2
        elif data.startswith(b"<!--", i):
            i = data.index(b"-->", i) + 3
        elif data.startswith(b"<!DOCTYPE", i):
            die("documents with a DOCTYPE are not supported")
        elif c == b"<":
            j, q = i + 1, None
            while j < n:
                ch = data[j:j + 1]
                if q:
                    if ch == q:
                        q = None
                elif ch in (b'"', b"'"):
                    q = ch
                elif ch == b">":
                    return i, j + 1
                j += 1
            die("unterminated root start tag")
        else:
            die("unexpected content before the root element")
    die("no root element")


def main():
    args = sys.argv[1:]
    opts = {"--alg": "rsa-sha256", "--valid-for-days": "10", "--id": None}
    keyinfo = True
    pos = []
    while args:
        a = args.pop(0)
        if a in opts:
            if not args:
                die("%s needs a value" % a)
            opts[a] = args.pop(0)
        elif a == "--no-keyinfo":
            keyinfo = False
        elif a.startswith("--"):
            die("unknown option %s" % a)
        else:
            pos.append(a)
    if len(pos) != 2:
        sys.exit(__doc__)
    if opts["--alg"] not in ALGS:
        die("unknown --alg %s" % opts["--alg"])
    sig_alg, dig_alg = ALGS[opts["--alg"]]

    with open(pos[0], "rb") as f:
        data = f.read()
    s, e = root_start(data)
    tag = data[s:e]
    selfclosing = tag.endswith(b"/>")
    body = tag[1:-2] if selfclosing else tag[1:-1]
    m = re.match(rb"[^\s/>]+", body)
    qname = m.group(0)
    local = qname.split(b":")[-1].decode()
    if local not in ("EntitiesDescriptor", "EntityDescriptor"):
        die("root is %s, not md:EntitiesDescriptor or md:EntityDescriptor" % qname.decode())
    rest = body[m.end():]
    attrs = ATTR.findall(rest)
    if ATTR.sub(b"", rest).strip():
        die("cannot parse the root start tag")
    rid = None
    kept = []
    for name, val in attrs:
        if name == b"ID":
            rid = val[1:-1].decode()
        if name == b"validUntil":
            continue
        kept.append((name, val))
    if rid is None:
        rid = opts["--id"] or "_" + secrets.token_hex(16)
        kept.append((b"ID", b'"' + rid.encode() + b'"'))
    until = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=float(opts["--valid-for-days"]))
    kept.append((b"validUntil", until.strftime('"%Y-%m-%dT%H:%M:%SZ"').encode()))
    newtag = b"<" + qname + b"".join(b" " + n + b"=" + v for n, v in kept) + b">"

    tmpl = (
        '<ds:Signature xmlns:ds="%s">'
        '<ds:SignedInfo>'
        '<ds:CanonicalizationMethod Algorithm="%s"/>'
        '<ds:SignatureMethod Algorithm="%s"/>'
        '<ds:Reference URI="#%s">'
        '<ds:Transforms>'
        '<ds:Transform Algorithm="%senveloped-signature"/>'
        '<ds:Transform Algorithm="%s"/>'
        '</ds:Transforms>'
        '<ds:DigestMethod Algorithm="%s"/>'
        '<ds:DigestValue></ds:DigestValue>'
        '</ds:Reference>'
        '</ds:SignedInfo>'
        '<ds:SignatureValue></ds:SignatureValue>'
        '%s'
        '</ds:Signature>'
    ) % (DSIG, EXC_C14N, sig_alg, rid, DSIG, EXC_C14N, dig_alg,
         '<ds:KeyInfo><ds:X509Data><ds:X509Certificate></ds:X509Certificate></ds:X509Data></ds:KeyInfo>' if keyinfo else '')
    tmpl = tmpl.encode()
    if re.match(rb"\s*<([A-Za-z_][\w.-]*:)?Signature[\s>]", data[e:e + 200]):
        die("the root already has a signature")

    with open(pos[1], "wb") as f:
        f.write(data[:s])
        f.write(newtag)
        f.write(tmpl)
        if selfclosing:
            f.write(b"</" + qname + b">")
        f.write(data[e:])
    print(local, rid)


if __name__ == "__main__":
    main()
