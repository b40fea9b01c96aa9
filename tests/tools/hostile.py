#!/usr/bin/env python3
"""Make hostile variants of metadata for the tests (tests/cli/test_hostile.sh).

usage: hostile.py KIND IN OUT
  object         a ds:Object holding an md:EntityDescriptor, in ds:Signature
  manifest       an unreferenced ds:Manifest (in a ds:Object)
  keyinfo        an md:EntityDescriptor inside ds:KeyInfo
  x509data       an md:EntityDescriptor inside ds:X509Data
  sigvalue       an md:EntityDescriptor inside ds:SignatureValue
  pi-keyinfo     a processing instruction inside ds:KeyInfo
  retrieval      a ds:RetrievalMethod inside ds:KeyInfo
  cr-alg         SignatureMethod Algorithm with a carriage return and a fake
                 "valid signature" line
usage: hostile.py deep N OUT | wide N OUT | xmlns N OUT
  deep           an EntityDescriptor with N nested elements
  wide           an EntityDescriptor with N attributes
  xmlns          an EntityDescriptor with N namespace declarations
"""
import re
import sys

EVIL = ('<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
        'entityID="https://evil.example.org/idp"/>')
MD = 'xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"'
HEAD = ('<md:EntityDescriptor %s entityID="https://sp.example.org/sp" '
        'validUntil="2099-01-01T00:00:00Z"' % MD)


def sub1(pattern, repl, text):
    out, n = re.subn(pattern, repl, text, count=1, flags=re.S)
    if n != 1:
        sys.exit("hostile.py: pattern not found: %s" % pattern)
    return out


def mutate(kind, s):
    p = re.search(r"<(\w+:)?Signature[ >]", s).group(1) or ""
    if kind == "object":
        return sub1(r"(</%sSignature>)" % p, "<%sObject>%s</%sObject>\\1" % (p, EVIL, p), s)
    if kind == "manifest":
        man = ('<{p}Object><{p}Manifest><{p}Reference URI=""><{p}DigestMethod '
               'Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><{p}DigestValue>'
               'AAAA</{p}DigestValue></{p}Reference></{p}Manifest></{p}Object>').format(p=p)
        return sub1(r"(</%sSignature>)" % p, man + "\\1", s)
    if kind == "keyinfo":
        return sub1(r"(<%sKeyInfo[^>]*>)" % p, "\\1" + EVIL, s)
    if kind == "x509data":
        return sub1(r"(<%sX509Data[^>]*>)" % p, "\\1" + EVIL, s)
    if kind == "sigvalue":
        return sub1(r"(<%sSignatureValue[^>]*>)" % p, "\\1" + EVIL, s)
    if kind == "pi-keyinfo":
        return sub1(r"(<%sKeyInfo[^>]*>)" % p, "\\1<?evil data?>", s)
    if kind == "retrieval":
        return sub1(r"(<%sKeyInfo[^>]*>)" % p,
                    '\\1<%sRetrievalMethod URI="https://evil.example.org/k"/>' % p, s)
    if kind == "cr-alg":
        return sub1(r'(<%sSignatureMethod Algorithm=")[^"]*' % p,
                    "\\1x&#13;fedsign: idp.xml: valid signature by CN=Federation "
                    "Signer, validUntil 2030-01-01T00:00:00Z&#10;", s)
    sys.exit("hostile.py: unknown kind " + kind)


def build(kind, n):
    if kind == "deep":
        return (HEAD + "><md:Extensions>" + "<x:a xmlns:x='urn:x'>" +
                "<x:a>" * (n - 1) + "</x:a>" * n + "</md:Extensions></md:EntityDescriptor>\n")
    if kind == "wide":
        attrs = " ".join('a%d="v"' % i for i in range(n))
        return HEAD + " " + attrs + "/>\n"
    if kind == "xmlns":
        decls = " ".join('xmlns:p%d="urn:x:%d"' % (i, i) for i in range(n))
        return HEAD + " " + decls + "/>\n"
    sys.exit("hostile.py: unknown kind " + kind)


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    kind, arg, out = sys.argv[1:]
    if kind in ("deep", "wide", "xmlns"):
        text = build(kind, int(arg))
    else:
        with open(arg, encoding="utf-8") as f:
            text = mutate(kind, f.read())
    with open(out, "w", encoding="utf-8") as f:
        f.write(text)


if __name__ == "__main__":
    main()
