#!/bin/bash
# fedsign sign: profile, attributes, token use, and bad input.
. "$SRCDIR/tests/lib.sh"

EX=$SRCDIR/examples
XMLSEC_OK() {	# FILE CERT: the xmlsec1 command accepts the signature
	local root
	root=$(sed -n 's/.*<\([a-z]*:\)\{0,1\}\(Entit[a-zA-Z]*Descriptor\)[ >].*/\2/p' "$1" | head -1)
	xmlsec1 --verify --id-attr:ID "urn:oasis:names:tc:SAML:2.0:metadata:$root" \
	    --pubkey-cert-pem "$2" --enabled-key-data key-name,rsa,ec "$1" >/dev/null 2>&1
}
xp() {		# FILE XPATH: evaluate with md/ds/mdrpi prefixes
	xmllint --xpath "$2" "$1" 2>/dev/null
}

pem_key rsa2048 "$TMP/rsa.pem"
pem_key ecp256 "$TMP/ec.pem"
pem_key rsa2048 "$TMP/other.pem"

expect 0 "sign the example aggregate with a PEM key" "$FEDSIGN" sign "$EX/federation-metadata.xml" \
    -o "$TMP/agg.xml" --key-file "$TMP/rsa.pem" --cert "$TMP/rsa.pem.crt" --valid-for 14d
check "xmlsec1 verifies it" XMLSEC_OK "$TMP/agg.xml" "$TMP/rsa.pem.crt"
expect 0 "fedsign verify accepts it" "$FEDSIGN" verify "$TMP/agg.xml" --cert "$TMP/rsa.pem.crt"
check "ds:Signature is the root's first child element" \
    test "$(xp "$TMP/agg.xml" 'local-name(/*/*[1])')" = Signature
check "one Reference, to the root's ID" \
    test "$(xp "$TMP/agg.xml" 'string(//*[local-name()="Reference"]/@URI)')" = "#$(xp "$TMP/agg.xml" 'string(/*/@ID)')"
check "rsa-sha256" grep -q 'Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"' "$TMP/agg.xml"
check "sha256 digest" grep -q 'DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"' "$TMP/agg.xml"
check "exclusive c14n" test "$(grep -c 'xml-exc-c14n#"' "$TMP/agg.xml")" -eq 2
check "enveloped-signature transform" grep -q 'xmldsig#enveloped-signature' "$TMP/agg.xml"
check "KeyInfo holds the certificate" \
    test "$(xp "$TMP/agg.xml" 'string(//*[local-name()="X509Certificate"])' | tr -d '\n ')" = \
    "$(sed '1d;$d' "$TMP/rsa.pem.crt" | tr -d '\n')"
vu=$(xp "$TMP/agg.xml" 'string(/*/@validUntil)')
d=$(( ($(date -d "$vu" +%s) - $(date +%s)) ))
check "--valid-for 14d sets validUntil 14 days ahead" test $d -gt $((14*86400 - 120)) -a $d -le $((14*86400))

# Re-signing replaces the root signature; deeper ones are left alone.
expect 0 "re-sign a signed document" "$FEDSIGN" sign "$TMP/agg.xml" -o "$TMP/agg2.xml" \
    --key-file "$TMP/other.pem" --cert "$TMP/other.pem.crt"
check "exactly one root signature after re-signing" \
    test "$(xp "$TMP/agg2.xml" 'count(/*/*[local-name()="Signature"])')" = 1
check "re-signed with the new key" XMLSEC_OK "$TMP/agg2.xml" "$TMP/other.pem.crt"
check "the input's future validUntil is kept" \
    test "$(xp "$TMP/agg2.xml" 'string(/*/@validUntil)')" = "$vu"
expect 0 "sign an entity" "$FEDSIGN" sign "$EX/idp-entity.xml" -o "$TMP/e1.xml" \
    --key-file "$TMP/rsa.pem" --cert "$TMP/rsa.pem.crt" --valid-for 7d
# an aggregate holding a signed entity
{ echo '<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" Name="x">'
  sed 1d "$TMP/e1.xml"; echo '</md:EntitiesDescriptor>'; } >"$TMP/nested.xml"
expect 0 "sign an aggregate holding a signed entity" "$FEDSIGN" sign "$TMP/nested.xml" \
    -o "$TMP/nested-s.xml" --key-file "$TMP/other.pem" --cert "$TMP/other.pem.crt" --valid-for 1d
check "the entity's own signature is left alone" \
    test "$(xp "$TMP/nested-s.xml" 'count(//*[local-name()="Signature"])')" = 2
check "an ID was added to the root" test -n "$(xp "$TMP/nested-s.xml" 'string(/*/@ID)')"
check "xmlsec1 verifies the aggregate" XMLSEC_OK "$TMP/nested-s.xml" "$TMP/other.pem.crt"

# A large aggregate: big enough for the heap reservation (fs_mem_expect).
GEN=$SRCDIR/tests/tools/gen-aggregate.py
check "the aggregate generator is there ($GEN)" test -f "$GEN"
python3 "$GEN" 3000 "$TMP/large.xml" >/dev/null 2>&1
check "a 3,000-entity aggregate over 15 MB" test "$(stat -c %s "$TMP/large.xml")" -gt 15000000
expect 0 "sign the large aggregate" "$FEDSIGN" sign "$TMP/large.xml" -o "$TMP/large-s.xml" \
    --key-file "$TMP/rsa.pem" --cert "$TMP/rsa.pem.crt" --valid-for 1d
check "xmlsec1 verifies the large aggregate" XMLSEC_OK "$TMP/large-s.xml" "$TMP/rsa.pem.crt"
expect 0 "fedsign verify accepts the large aggregate" "$FEDSIGN" verify "$TMP/large-s.xml" --cert "$TMP/rsa.pem.crt"
rm -f "$TMP/large.xml" "$TMP/large-s.xml"

# Attributes
expect 0 "--name, --cache-duration, --publisher" "$FEDSIGN" sign "$EX/federation-metadata.xml" \
    -o "$TMP/attrs.xml" --key-file "$TMP/rsa.pem" --cert "$TMP/rsa.pem.crt" --valid-for P14D \
    --cache-duration PT6H --name urn:example:fed --publisher https://md.example.org/
check "Name set" test "$(xp "$TMP/attrs.xml" 'string(/*/@Name)')" = urn:example:fed
check "cacheDuration set" test "$(xp "$TMP/attrs.xml" 'string(/*/@cacheDuration)')" = PT6H
check "PublicationInfo publisher" test "$(xp "$TMP/attrs.xml" \
    'string(/*/*[local-name()="Extensions"]/*[local-name()="PublicationInfo"]/@publisher)')" = https://md.example.org/
check "PublicationInfo creationInstant" test -n "$(xp "$TMP/attrs.xml" \
    'string(//*[local-name()="PublicationInfo"]/@creationInstant)')"
expect 0 "re-sign with another --publisher" "$FEDSIGN" sign "$TMP/attrs.xml" -o "$TMP/attrs2.xml" \
    --key-file "$TMP/rsa.pem" --cert "$TMP/rsa.pem.crt" --publisher https://other.example.org/
check "PublicationInfo updated, not duplicated" test "$(xp "$TMP/attrs2.xml" \
    'count(//*[local-name()="PublicationInfo"])')" = 1
check "...with the new publisher" test "$(xp "$TMP/attrs2.xml" \
    'string(//*[local-name()="PublicationInfo"]/@publisher)')" = https://other.example.org/
check "Extensions right after the Signature" \
    test "$(xp "$TMP/attrs.xml" 'local-name(/*/*[2])')" = Extensions
check "xmlsec1 verifies it" XMLSEC_OK "$TMP/attrs.xml" "$TMP/rsa.pem.crt"
expect 2 "--name on a single entity is a usage error" "$FEDSIGN" sign "$EX/idp-entity.xml" \
    -o "$TMP/x.xml" --key-file "$TMP/rsa.pem" --cert "$TMP/rsa.pem.crt" --valid-for 1d --name x

# Algorithms
for a in rsa-sha384 rsa-sha512; do
	expect 0 "--alg $a" "$FEDSIGN" sign "$EX/idp-entity.xml" -o "$TMP/$a.xml" \
	    --key-file "$TMP/rsa.pem" --cert "$TMP/rsa.pem.crt" --valid-for 1d --alg $a --digest sha512
	check "$a in SignatureMethod" grep -q "xmldsig-more#$a\"" "$TMP/$a.xml"
	check "xmlsec1 verifies $a" XMLSEC_OK "$TMP/$a.xml" "$TMP/rsa.pem.crt"
done
expect 0 "EC key: ecdsa-sha256" "$FEDSIGN" sign "$EX/idp-entity.xml" -o "$TMP/ec.xml" \
    --key-file "$TMP/ec.pem" --cert "$TMP/ec.pem.crt" --valid-for 1d
check "ecdsa-sha256 in SignatureMethod" grep -q 'xmldsig-more#ecdsa-sha256"' "$TMP/ec.xml"
check "xmlsec1 verifies ecdsa" XMLSEC_OK "$TMP/ec.xml" "$TMP/ec.pem.crt"
expect 2 "--alg rsa-sha256 with an EC key" "$FEDSIGN" sign "$EX/idp-entity.xml" -o "$TMP/x.xml" \
    --key-file "$TMP/ec.pem" --cert "$TMP/ec.pem.crt" --valid-for 1d --alg rsa-sha256
expect 2 "--digest sha1 refused" "$FEDSIGN" sign "$EX/idp-entity.xml" -o "$TMP/x.xml" \
    --key-file "$TMP/rsa.pem" --digest sha1 --valid-for 1d
expect 0 "--no-keyinfo" "$FEDSIGN" sign "$EX/idp-entity.xml" -o "$TMP/noki.xml" \
    --key-file "$TMP/rsa.pem" --no-keyinfo --valid-for 1d
check "no KeyInfo in the signature" \
    test "$(xp "$TMP/noki.xml" 'count(/*/*[local-name()="Signature"]/*[local-name()="KeyInfo"])')" = 0
check "xmlsec1 verifies it with the pinned cert" XMLSEC_OK "$TMP/noki.xml" "$TMP/rsa.pem.crt"
expect 0 "stdin to stdout" bash -c "'$FEDSIGN' sign - -o - --key-file '$TMP/rsa.pem' --cert '$TMP/rsa.pem.crt' --valid-for 1d <'$EX/idp-entity.xml' >'$TMP/pipe.xml'"
check "xmlsec1 verifies the piped output" XMLSEC_OK "$TMP/pipe.xml" "$TMP/rsa.pem.crt"

# CRLF and comments
sed 's/$/\r/' "$EX/federation-metadata.xml" | sed 's|<md:EntityDescriptor |<!-- a comment --><md:EntityDescriptor |' >"$TMP/crlf.xml"
expect 0 "CRLF input with comments" "$FEDSIGN" sign "$TMP/crlf.xml" -o "$TMP/crlf-s.xml" \
    --key-file "$TMP/rsa.pem" --cert "$TMP/rsa.pem.crt" --valid-for 1d
check "xmlsec1 verifies it" XMLSEC_OK "$TMP/crlf-s.xml" "$TMP/rsa.pem.crt"

# Bad input: clear error, non-zero exit, and the previous output untouched.
echo "previous output" >"$TMP/pub.xml"
before=$(sha256sum <"$TMP/pub.xml")
unchanged() { test "$(sha256sum <"$TMP/pub.xml")" = "$before" && ! ls "$TMP"/pub.xml.fedsign-* >/dev/null 2>&1; }
SIGN_PEM=("$FEDSIGN" sign --key-file "$TMP/rsa.pem" --cert "$TMP/rsa.pem.crt" -o "$TMP/pub.xml")

printf '<?xml version="1.0"?>\n<!DOCTYPE md [<!ENTITY a "aaaa">]>\n<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x">&a;</md:EntityDescriptor>\n' >"$TMP/doctype.xml"
expect 1 "DOCTYPE refused" "${SIGN_PEM[@]}" "$TMP/doctype.xml" --valid-for 1d
err_has "DOCTYPE"
err_has "doctype.xml:2"
check "previous output untouched" unchanged
printf '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x">\n<md:Extensions>\n</md:EntityDescriptor>\n' >"$TMP/bad.xml"
expect 1 "malformed XML" "${SIGN_PEM[@]}" "$TMP/bad.xml" --valid-for 1d
err_has "bad.xml:3:"
err_has "not well-formed"
check "previous output untouched" unchanged
echo '<html/>' >"$TMP/html.xml"
expect 1 "not metadata" "${SIGN_PEM[@]}" "$TMP/html.xml" --valid-for 1d
err_has "not SAML 2.0 metadata"
expect 1 "no validUntil and no --valid-for" "${SIGN_PEM[@]}" "$EX/idp-entity.xml"
err_has "validUntil"
err_has "--valid-for"
sed 's|entityID=|validUntil="2001-01-01T00:00:00Z" entityID=|' "$EX/idp-entity.xml" >"$TMP/expired.xml"
expect 1 "expired validUntil and no --valid-for" "${SIGN_PEM[@]}" "$TMP/expired.xml"
err_has "has passed"
# The in-memory verification stops a document no consumer should accept.
sed 's|<md:EntityDescriptor |<md:EntityDescriptor ID="_dup" |; s|<md:IDPSSODescriptor |<md:IDPSSODescriptor ID="_dup" |' \
    "$EX/idp-entity.xml" >"$TMP/dupid.xml"
expect 1 "signed output that fails verification is not written" "${SIGN_PEM[@]}" "$TMP/dupid.xml" --valid-for 1d
err_has "duplicated ID"
err_has "nothing was written"
check "previous output untouched" unchanged
expect 4 "missing input" "${SIGN_PEM[@]}" "$TMP/nonexistent.xml" --valid-for 1d
expect 3 "certificate of another key" "$FEDSIGN" sign "$EX/idp-entity.xml" -o "$TMP/pub.xml" \
    --key-file "$TMP/rsa.pem" --cert "$TMP/other.pem.crt" --valid-for 1d
err_has "another key pair"
expect 3 "no certificate and no --no-keyinfo" "$FEDSIGN" sign "$EX/idp-entity.xml" -o "$TMP/pub.xml" \
    --key-file "$TMP/rsa.pem" --valid-for 1d
expect 2 "bad duration" "${SIGN_PEM[@]}" "$EX/idp-entity.xml" --valid-for 14x
expect 2 "no key" "$FEDSIGN" sign "$EX/idp-entity.xml" -o "$TMP/pub.xml"
check "previous output untouched after all failures" unchanged

# Full disk: the previous output survives, no temporary file is left.
mkdir -p "$TMP/small"
if mount -t tmpfs -o size=16k tmpfs "$TMP/small"; then
	MOUNTED=$TMP/small
	echo "old" >"$TMP/small/md.xml"
	expect 4 "full disk" "$FEDSIGN" sign "$EX/federation-metadata.xml" -o "$TMP/small/md.xml" \
	    --key-file "$TMP/rsa.pem" --cert "$TMP/rsa.pem.crt" --valid-for 1d
	err_has "No space left on device"
	check "previous file intact on a full disk" test "$(cat "$TMP/small/md.xml")" = old
	check "no temporary file left" test "$(ls "$TMP/small" | wc -l)" = 1
	umount "$TMP/small" && MOUNTED=
else
	nok "cannot mount a small tmpfs to test a full disk (run as root)"
fi

# Token keys: one login, one session, both RSA signing paths, failures.
new_token fed >/dev/null
"$FEDSIGN" keygen --key "$(key_uri fed rsa)" --type rsa:2048 >/dev/null
"$FEDSIGN" cert create --key "$(key_uri fed rsa)" --subject CN=rsa --out "$TMP/tok-rsa.crt" >/dev/null
"$FEDSIGN" keygen --key "$(key_uri fed ec)" --type ec:p384 >/dev/null
"$FEDSIGN" cert create --key "$(key_uri fed ec)" --subject CN=ec --out "$TMP/tok-ec.crt" >/dev/null
SHIMENV=(env FS_SHIM_MODULE="$SOFTHSM_MODULE" FS_SHIM_ONE_SESSION=1 FS_SHIM_COUNT="$TMP/calls")
expect 0 "sign with a token RSA key (token allows one session)" "${SHIMENV[@]}" "$FEDSIGN" sign \
    "$EX/federation-metadata.xml" -o "$TMP/tok.xml" --module "$SHIM" --key "$(key_uri fed rsa)" --valid-for 1d
check "KeyInfo cert is the token's certificate object" XMLSEC_OK "$TMP/tok.xml" "$TMP/tok-rsa.crt"
check "exactly one login" test "$(grep -c C_Login "$TMP/calls")" = 1
check "exactly one signature operation" test "$(grep -c C_Sign "$TMP/calls")" = 1
expect 0 "token without CKM_SHA256_RSA_PKCS: hash on the host" "${SHIMENV[@]}" FS_SHIM_NO_HASH_SIGN=1 \
    "$FEDSIGN" sign "$EX/idp-entity.xml" -o "$TMP/tok2.xml" --module "$SHIM" --key "$(key_uri fed rsa)" --valid-for 1d
check "xmlsec1 verifies the DigestInfo path" XMLSEC_OK "$TMP/tok2.xml" "$TMP/tok-rsa.crt"
expect 0 "sign with a token EC P-384 key" "$FEDSIGN" sign "$EX/idp-entity.xml" -o "$TMP/tok3.xml" \
    --key "$(key_uri fed ec)" --valid-for 1d
check "ecdsa-sha384 for P-384" grep -q 'ecdsa-sha384"' "$TMP/tok3.xml"
check "xmlsec1 verifies it" XMLSEC_OK "$TMP/tok3.xml" "$TMP/tok-ec.crt"
expect 3 "token removed while signing" env FS_SHIM_MODULE="$SOFTHSM_MODULE" FS_SHIM_SIGN_FAIL=1 \
    "$FEDSIGN" sign "$EX/idp-entity.xml" -o "$TMP/pub.xml" --module "$SHIM" --key "$(key_uri fed rsa)" --valid-for 1d
err_has "CKR_DEVICE_REMOVED"
check "previous output untouched" unchanged
(umask 077; echo 999999 >"$TMP/wrong")
expect 3 "wrong PIN" "$FEDSIGN" sign "$EX/idp-entity.xml" -o "$TMP/pub.xml" --valid-for 1d \
    --key "pkcs11:token=fed;object=rsa?module-path=$SOFTHSM_MODULE&pin-source=file:$TMP/wrong"
err_has "CKR_PIN_INCORRECT"
check "previous output untouched" unchanged

done_testing
