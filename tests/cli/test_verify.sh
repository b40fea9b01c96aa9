#!/bin/bash
# fedsign verify: the strict profile of DESIGN.md, one failing input per
# rule.  Every fixture is made here and signed with the real xmlsec1 CLI,
# so the signatures are a peer's, not our own.
. "$SRCDIR/tests/lib.sh"

DS=http://www.w3.org/2000/09/xmldsig#
EXC=http://www.w3.org/2001/10/xml-exc-c14n#
INC=http://www.w3.org/TR/2001/REC-xml-c14n-20010315
ENV=${DS}enveloped-signature
FUTURE=$(date -u -d '+10 days' +%Y-%m-%dT%H:%M:%SZ)
PAST=$(date -u -d '-2 days' +%Y-%m-%dT%H:%M:%SZ)

# Defaults for tmpl; each test changes what it needs and calls reset after.
reset() {
	ROOT=EntitiesDescriptor
	C14N=$EXC
	RC14N=$EXC
	SIG=http://www.w3.org/2001/04/xmldsig-more#rsa-sha256
	DIG=http://www.w3.org/2001/04/xmlenc#sha256
	URI='#_agg1'
	ROOTATTR="ID=\"_agg1\" Name=\"urn:example:fed\" validUntil=\"$FUTURE\""
	XFORM=''
	REF2=''
	BODY=''
}

# tmpl OUT: a metadata document with a signature template as the first
# child of the root (exc-c14n, rsa-sha256, one Reference "#ID" with the
# enveloped and exc-c14n transforms, sha256), shaped by the variables
# that reset sets.
tmpl() {
	local sig entities
	sig="<ds:Signature xmlns:ds=\"$DS\"><ds:SignedInfo>\
<ds:CanonicalizationMethod Algorithm=\"$C14N\"/>\
<ds:SignatureMethod Algorithm=\"$SIG\"/>\
<ds:Reference URI=\"$URI\"><ds:Transforms>\
<ds:Transform Algorithm=\"$ENV\"/><ds:Transform Algorithm=\"$RC14N\"/>$XFORM\
</ds:Transforms><ds:DigestMethod Algorithm=\"$DIG\"/><ds:DigestValue/>\
</ds:Reference>$REF2</ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo>\
<ds:X509Data><ds:X509Certificate/></ds:X509Data></ds:KeyInfo></ds:Signature>"
	entities='
  <md:EntityDescriptor entityID="https://idp.example.org/idp" ID="_e1">'"$BODY"'
    <!-- the IdP -->
    <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
      <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example.org/sso"/>
    </md:IDPSSODescriptor>
  </md:EntityDescriptor>
  <md:EntityDescriptor entityID="https://sp.example.org/sp">
    <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
      <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.example.org/acs" index="0"/>
    </md:SPSSODescriptor>
  </md:EntityDescriptor>'
	if [ "$ROOT" = EntityDescriptor ]; then
		cat >"$1" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://sp.example.org/sp" $ROOTATTR>$sig
  <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.example.org/acs" index="0"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>
EOF
	else
		cat >"$1" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" $ROOTATTR>$sig$entities
</md:EntitiesDescriptor>
EOF
	fi
}

# sign KEY TEMPLATE OUT: sign with xmlsec1, putting KEY.crt in KeyInfo.
sign() {
	xmlsec1 --sign --privkey-pem "$1,$1.crt" \
	    --id-attr:ID urn:oasis:names:tc:SAML:2.0:metadata:EntitiesDescriptor \
	    --id-attr:ID urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor \
	    --output "$3" "$2" 2>"$TMP/xmlsec.err" ||
	    { echo "# xmlsec1 --sign failed:"; sed 's/^/# /' "$TMP/xmlsec.err"; }
}

# make NAME [KEY]: template with the current variables, signed by KEY
# (default: the trusted key) into $TMP/NAME.xml; then reset.
make() {
	tmpl "$TMP/$1.tmpl"
	sign "${2:-$TMP/k}" "$TMP/$1.tmpl" "$TMP/$1.xml"
	reset
}

fp() {
	echo "sha256:$(openssl x509 -in "$1" -outform der | sha256sum | cut -c1-64)"
}

v() { "$FEDSIGN" verify "$@"; }

pem_key rsa2048 "$TMP/k"
pem_key rsa2048 "$TMP/other"
pem_key rsa1024 "$TMP/weak"
pem_key ecp256 "$TMP/ec"
pem_key ecp384 "$TMP/ec384"
K=$TMP/k.crt
reset

# --- valid documents -------------------------------------------------
make good
expect 0 "valid signature verifies" v "$TMP/good.xml" --cert "$K"
err_has "valid signature by CN=fedsign test rsa2048, validUntil $FUTURE"
expect 0 "-q prints nothing" v -q "$TMP/good.xml" --cert "$K"
check "-q stderr is empty" test ! -s "$TMP/err"
expect 0 "options after FILE" v --cert "$K" "$TMP/good.xml"
expect 0 "standard input" sh -c '"$0" verify --cert "$1" - <"$2"' \
    "$FEDSIGN" "$K" "$TMP/good.xml"

expect 0 "right --fingerprint" v "$TMP/good.xml" --fingerprint "$(fp "$K")"
err_has "valid signature by the certificate with SHA-256 fingerprint"
colons=$(openssl x509 -in "$K" -noout -fingerprint -sha256 | sed 's/.*=//')
expect 0 "--fingerprint with colons" v "$TMP/good.xml" \
    --fingerprint "sha256:$colons"
expect 1 "wrong --fingerprint" v "$TMP/good.xml" \
    --fingerprint "$(fp "$TMP/other.crt")"
err_has "no certificate in KeyInfo matches the pinned fingerprint"

C14N=$INC RC14N=$INC; make inc
expect 0 "inclusive c14n verifies" v "$TMP/inc.xml" --cert "$K"
C14N=$EXC RC14N=${EXC}WithComments; make excwc
expect 0 "exclusive c14n with comments verifies" v "$TMP/excwc.xml" --cert "$K"
# Comments are not signed even so: a "#ID" (or "") Reference selects the
# node-set without comments (XML-DSig 4.4.3.3).  Content still is.
sed 's/<!-- the IdP -->/<!-- the IdQ -->/' "$TMP/excwc.xml" >"$TMP/excwc-c.xml"
expect 0 "a changed comment does not matter under an ID Reference" \
    v "$TMP/excwc-c.xml" --cert "$K"
sed 's/idp.example.org\/sso/evil.example.org\/sso/' "$TMP/excwc.xml" >"$TMP/excwc-t.xml"
expect 1 "changed content under c14n WithComments fails" \
    v "$TMP/excwc-t.xml" --cert "$K"
err_has "digest mismatch"
C14N=${INC}#WithComments RC14N=${INC}#WithComments; make incwc
expect 0 "inclusive c14n with comments verifies" v "$TMP/incwc.xml" --cert "$K"
# exc-c14n with an InclusiveNamespaces PrefixList in the Reference.
tmpl "$TMP/pl.tmpl"
sed "s|<ds:Transform Algorithm=\"$EXC\"/>|<ds:Transform Algorithm=\"$EXC\"><ec:InclusiveNamespaces xmlns:ec=\"$EXC\" PrefixList=\"md\"/></ds:Transform>|" \
    "$TMP/pl.tmpl" >"$TMP/pl2.tmpl"
sign "$TMP/k" "$TMP/pl2.tmpl" "$TMP/pl.xml"
check "PrefixList fixture has InclusiveNamespaces" grep -q PrefixList "$TMP/pl.xml"
expect 0 "exc-c14n with an InclusiveNamespaces PrefixList verifies" \
    v "$TMP/pl.xml" --cert "$K"

URI=''; make emptyuri
expect 0 "Reference URI \"\" verifies" v "$TMP/emptyuri.xml" --cert "$K"

ROOT=EntityDescriptor ROOTATTR="ID=\"_sp\" validUntil=\"$FUTURE\""
URI='#_sp'; make entity
expect 0 "a signed EntityDescriptor verifies" v "$TMP/entity.xml" --cert "$K"

SIG=http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256; make ec "$TMP/ec"
expect 0 "EC P-256 signature verifies" v "$TMP/ec.xml" --cert "$TMP/ec.crt"
SIG=http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384
DIG=http://www.w3.org/2001/04/xmldsig-more#sha384; make ec384 "$TMP/ec384"
expect 0 "EC P-384 ecdsa-sha384 verifies" v "$TMP/ec384.xml" --cert "$TMP/ec384.crt"
SIG=http://www.w3.org/2001/04/xmldsig-more#rsa-sha512
DIG=http://www.w3.org/2001/04/xmlenc#sha512; make sha512
expect 0 "rsa-sha512 / sha512 verifies" v "$TMP/sha512.xml" --cert "$K"

# An inner ds:Signature (on an entity) is content, not the document's.
BODY="<ds:Signature xmlns:ds=\"$DS\"><ds:SignedInfo/></ds:Signature>"; make inner
expect 0 "a signature deeper in the tree is ignored" v "$TMP/inner.xml" --cert "$K"

# --- -o -------------------------------------------------------------
expect 0 "-o writes the verified document" v "$TMP/good.xml" --cert "$K" \
    -o "$TMP/out.xml"
check "-o output is the verified document, byte for byte" \
    cmp -s "$TMP/good.xml" "$TMP/out.xml"
expect 0 "-o output verifies again" v "$TMP/out.xml" --cert "$K"
expect 0 "-o - writes to standard output" v -q "$TMP/good.xml" --cert "$K" -o -
check "stdout holds the verified document" cmp -s "$TMP/good.xml" "$TMP/out"
echo previous >"$TMP/keep.xml"
expect 1 "-o is not written when the signature is bad" \
    v "$TMP/excwc-t.xml" --cert "$K" -o "$TMP/keep.xml"
check "the previous output is untouched" grep -qx previous "$TMP/keep.xml"
check "no temporary file is left" \
    sh -c "! ls '$TMP' | grep -q fedsign-"
expect 4 "-o into a missing folder exits 4" v "$TMP/good.xml" --cert "$K" \
    -o "$TMP/nodir/out.xml"

# --- trust --------------------------------------------------------------
make otherkey "$TMP/other"
expect 1 "signed by another key (its own cert in KeyInfo)" \
    v "$TMP/otherkey.xml" --cert "$K"
err_has "does not verify with the pinned key"
expect 1 "another key, fingerprint of the trusted cert" \
    v "$TMP/otherkey.xml" --fingerprint "$(fp "$K")"
err_has "no certificate in KeyInfo matches the pinned fingerprint"
expect 1 "the EC cert for an RSA signature" v "$TMP/good.xml" --cert "$TMP/ec.crt"
err_has "needs an RSA key"

sed 's/sp.example.org\/acs/evil.example.org\/acs/' "$TMP/good.xml" >"$TMP/tampered.xml"
expect 1 "tampered content" v "$TMP/tampered.xml" --cert "$K"
err_has "digest mismatch"
sed "s/validUntil=\"$FUTURE\"/validUntil=\"2099-01-01T00:00:00Z\"/" \
    "$TMP/good.xml" >"$TMP/tampered-vu.xml"
expect 1 "tampered validUntil" v "$TMP/tampered-vu.xml" --cert "$K" --max-validity 36000d
err_has "digest mismatch"
expect 1 "a validUntil in 2099 is beyond the default maximum validity" v "$TMP/tampered-vu.xml" --cert "$K"
err_has "maximum validity P28D"
# Flip one base64 character in the middle of the SignatureValue.
perl -0pe 's{(<ds:SignatureValue>\s*.{20})(.)}{$1 . ($2 eq "A" ? "B" : "A")}se' \
    "$TMP/good.xml" >"$TMP/badsigval.xml"
expect 1 "tampered SignatureValue" v "$TMP/badsigval.xml" --cert "$K"
err_has "does not verify with the pinned key"
perl -0pe 's{<ds:SignatureValue>[^<]*}{<ds:SignatureValue>!!not base64!!}' \
    "$TMP/good.xml" >"$TMP/b64sigval.xml"
expect 1 "SignatureValue that is not base64" v "$TMP/b64sigval.xml" --cert "$K"
err_has "ds:SignatureValue>, which the strict profile allows to hold base64 only"

# --- validity -----------------------------------------------------------
ROOTATTR="ID=\"_agg1\" validUntil=\"$PAST\""; make expired
expect 1 "expired validUntil" v "$TMP/expired.xml" --cert "$K"
err_has "expired"
expect 0 "expired with --allow-expired" v "$TMP/expired.xml" --cert "$K" \
    --allow-expired
ROOTATTR='ID="_agg1"'; make novu
expect 1 "no validUntil" v "$TMP/novu.xml" --cert "$K"
err_has "no validUntil"
expect 1 "no validUntil even with --allow-expired" v "$TMP/novu.xml" \
    --cert "$K" --allow-expired
ROOTATTR='ID="_agg1" validUntil="next tuesday"'; make badvu
expect 1 "unparseable validUntil" v "$TMP/badvu.xml" --cert "$K"
err_has "validUntil 'next tuesday' is not a valid xs:dateTime"
expect 1 "--max-validity shorter than what remains" v "$TMP/good.xml" \
    --cert "$K" --max-validity 5d
err_has "maximum validity"
expect 0 "--max-validity longer than what remains" v "$TMP/good.xml" \
    --cert "$K" --max-validity P14D

# --- algorithms and keys --------------------------------------------------
SIG=http://www.w3.org/2000/09/xmldsig#rsa-sha1 DIG=http://www.w3.org/2000/09/xmldsig#sha1
make sha1
expect 1 "SHA-1 signature refused" v "$TMP/sha1.xml" --cert "$K"
err_has "SHA-1"
expect 0 "SHA-1 signature with --allow-sha1" v "$TMP/sha1.xml" --cert "$K" \
    --allow-sha1
DIG=http://www.w3.org/2000/09/xmldsig#sha1; make sha1dig
expect 1 "rsa-sha256 over a SHA-1 digest refused" v "$TMP/sha1dig.xml" --cert "$K"
err_has "DigestMethod sha1 uses SHA-1"
sed 's|http://www.w3.org/2001/04/xmlenc#sha256|http://www.w3.org/2001/04/xmldsig-more#md5|' \
    "$TMP/good.xml" >"$TMP/md5.xml"
expect 1 "MD5 refused, even with --allow-sha1" v "$TMP/md5.xml" --cert "$K" \
    --allow-sha1
err_has "MD5, which is never accepted"
make weak "$TMP/weak"
expect 1 "RSA-1024 key refused" v "$TMP/weak.xml" --cert "$TMP/weak.crt"
err_has "key too weak: RSA 1024 bits"
expect 1 "RSA-1024 key refused by fingerprint" v "$TMP/weak.xml" \
    --fingerprint "$(fp "$TMP/weak.crt")"
err_has "key too weak"
C14N=http://www.w3.org/2006/12/xml-c14n11; make c14n11
expect 1 "c14n 1.1 CanonicalizationMethod refused" v "$TMP/c14n11.xml" --cert "$K"
err_has "CanonicalizationMethod http://www.w3.org/2006/12/xml-c14n11 is not in the allowlist"

# --- structure and signature wrapping ---------------------------------------
# The signed aggregate moved under an unsigned wrapper root.
{ echo "<md:EntitiesDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" ID=\"_wrap\" validUntil=\"$FUTURE\">"
  sed 1d "$TMP/good.xml"
  echo '<md:EntityDescriptor entityID="https://evil.example.org/idp"/></md:EntitiesDescriptor>'
} >"$TMP/wrap.xml"
expect 1 "signed element under an unsigned wrapper" v "$TMP/wrap.xml" --cert "$K"
err_has "not signed"
# The same, with the genuine signature moved up to the wrapper.
perl -0pe 's{(<ds:Signature.*</ds:Signature>)}{}s; $sig = $1;
    s{(<md:EntitiesDescriptor [^>]*ID="_wrap"[^>]*>)}{$1$sig}' \
    "$TMP/wrap.xml" >"$TMP/wrap2.xml"
expect 1 "signature moved to the wrapper root" v "$TMP/wrap2.xml" --cert "$K"
err_has "does not point to the document element"
# A second element carrying the signed ID (the content an XSW attack adds).
sed 's|<md:EntityDescriptor entityID="https://sp.example.org/sp">|<md:EntityDescriptor entityID="https://sp.example.org/sp" ID="_agg1">|' \
    "$TMP/good.xml" >"$TMP/dupid.xml"
expect 1 "duplicated ID" v "$TMP/dupid.xml" --cert "$K"
err_has "duplicated ID"
sed 's|<md:EntityDescriptor entityID="https://sp.example.org/sp">|<md:EntityDescriptor entityID="https://sp.example.org/sp" xml:id="_agg1">|' \
    "$TMP/good.xml" >"$TMP/dupxmlid.xml"
expect 1 "xml:id duplicating the signed ID" v "$TMP/dupxmlid.xml" --cert "$K"
err_has "duplicated ID"
URI='#_e1'; make childref
expect 1 "Reference to a child element" v "$TMP/childref.xml" --cert "$K"
err_has "does not point to the document element"
REF2="<ds:Reference URI=\"#_e1\"><ds:Transforms><ds:Transform Algorithm=\"$ENV\"/><ds:Transform Algorithm=\"$EXC\"/></ds:Transforms><ds:DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"/><ds:DigestValue/></ds:Reference>"
make tworefs
expect 1 "two References" v "$TMP/tworefs.xml" --cert "$K"
err_has "exactly one ds:Reference"
# An XPath transform that leaves the SP out of the signed content: with it
# the SP could be changed at will.
XFORM="<ds:Transform Algorithm=\"http://www.w3.org/TR/1999/REC-xpath-19991116\"><ds:XPath xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\">not(ancestor-or-self::md:EntityDescriptor[@entityID='https://sp.example.org/sp'])</ds:XPath></ds:Transform>"
make xpath
xmlsec_verify() {
	xmlsec1 --verify --pubkey-cert-pem "$K" --enabled-key-data rsa \
	    --id-attr:ID urn:oasis:names:tc:SAML:2.0:metadata:EntitiesDescriptor \
	    "$1" >/dev/null 2>&1
}
check "xmlsec1 alone accepts the XPath-transformed signature" \
    xmlsec_verify "$TMP/xpath.xml"
expect 1 "an extra XPath transform" v "$TMP/xpath.xml" --cert "$K"
err_has "transforms: the Reference must have exactly two transforms"
RC14N=http://www.w3.org/2000/09/xmldsig#base64; make b64
expect 1 "base64 in place of the canonicalization" v "$TMP/b64.xml" --cert "$K"
err_has "transforms: the second transform must be a canonicalization"
# Two signatures on the root.
perl -0pe 's{(<ds:Signature.*</ds:Signature>)}{$1$1}s' "$TMP/good.xml" >"$TMP/twosig.xml"
expect 1 "two signatures on the document element" v "$TMP/twosig.xml" --cert "$K"
err_has "2 ds:Signature children"

# --- not signed, not metadata, not XML --------------------------------------
perl -0pe 's{<ds:Signature.*</ds:Signature>}{}s' "$TMP/good.xml" >"$TMP/unsigned.xml"
expect 1 "missing signature" v "$TMP/unsigned.xml" --cert "$K"
err_has "not signed"
printf '<?xml version="1.0"?>\n<foo ID="x"/>\n' >"$TMP/notmd.xml"
expect 1 "not metadata" v "$TMP/notmd.xml" --cert "$K"
err_has "not SAML 2.0 metadata"
{ echo '<?xml version="1.0"?>'; echo '<!DOCTYPE md [ <!ENTITY x "y"> ]>'; sed 1d "$TMP/good.xml"; } >"$TMP/doctype.xml"
expect 1 "DOCTYPE refused" v "$TMP/doctype.xml" --cert "$K"
err_has "a DOCTYPE is not allowed"
printf '<?xml version="1.0"?>\n<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">\n  <oops>\n</md:EntitiesDescriptor>\n' >"$TMP/malformed.xml"
expect 1 "malformed XML" v "$TMP/malformed.xml" --cert "$K"
err_has "malformed.xml:4:"
check "the message has line:column" \
    grep -qE 'malformed\.xml:[0-9]+:[0-9]+: not well-formed XML' "$TMP/err"
: >"$TMP/empty.xml"
expect 1 "empty file" v "$TMP/empty.xml" --cert "$K"

# --- files and usage ----------------------------------------------------------
expect 4 "unreadable FILE" v "$TMP/nonexistent.xml" --cert "$K"
err_has "cannot read"
expect 4 "unreadable --cert" v "$TMP/good.xml" --cert "$TMP/nonexistent.pem"
expect 3 "--cert that holds no certificate" v "$TMP/good.xml" --cert "$TMP/good.xml"
err_has "holds no PEM certificate"
expect 0 "--help" v --help
out_has "usage: fedsign verify FILE"
out_has "Exit status:"
expect 2 "no arguments" v
expect 2 "no FILE" v --cert "$K"
expect 2 "two FILEs" v "$TMP/good.xml" "$TMP/good.xml" --cert "$K"
expect 2 "neither --cert nor --fingerprint" v "$TMP/good.xml"
expect 2 "both --cert and --fingerprint" v "$TMP/good.xml" --cert "$K" \
    --fingerprint "$(fp "$K")"
expect 2 "fingerprint without sha256:" v "$TMP/good.xml" \
    --fingerprint "$(fp "$K" | cut -d: -f2)"
expect 2 "fingerprint too short" v "$TMP/good.xml" --fingerprint sha256:abcd
expect 2 "fingerprint not hex" v "$TMP/good.xml" \
    --fingerprint "sha256:$(printf 'zz%.0s' $(seq 32))"
expect 2 "bad --max-validity" v "$TMP/good.xml" --cert "$K" --max-validity 3y
expect 2 "unknown option" v "$TMP/good.xml" --cert "$K" --frobnicate
err_has "Try 'fedsign verify --help'"
expect 2 "--cert without a value" v "$TMP/good.xml" --cert

done_testing
