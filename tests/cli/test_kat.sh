#!/bin/bash
# Known-answer test, as OpenBSD signify's regress tests do: signing the
# committed input with the committed test-only key gives exactly the
# committed output (RSA PKCS#1 v1.5 is deterministic, and the input's own
# ID and validUntil are kept), that output verifies with xmlsec1 and with
# fedsign verify, and a copy with one byte of content changed does not.
# The files are in tests/data/kat (see tests/data/README.md).
. "$SRCDIR/tests/lib.sh"

KAT=$SRCDIR/tests/data/kat
MDNS=urn:oasis:names:tc:SAML:2.0:metadata

# git does not keep file modes, and fedsign refuses a key file that group or
# others can read: sign with a private copy.
cp "$KAT/kat-key.pem" "$TMP/kat-key.pem"
chmod 600 "$TMP/kat-key.pem"

xmlsec_verify() {	# FILE: xmlsec1 with the pinned certificate only
	xmlsec1 --verify --id-attr:ID "$MDNS:EntitiesDescriptor" \
	    --pubkey-cert-pem "$KAT/kat-cert.pem" --enabled-key-data key-name,rsa,ec "$1"
}

# 1. The known answer.
expect 0 "sign the KAT input (no --valid-for: its validUntil is kept)" \
    "$FEDSIGN" sign "$KAT/kat-input.xml" -o "$TMP/signed.xml" \
    --key-file "$TMP/kat-key.pem" --cert "$KAT/kat-cert.pem"
check "the output is byte for byte kat-signed.xml" cmp "$TMP/signed.xml" "$KAT/kat-signed.xml"

# 2. The committed answer verifies.
check "xmlsec1 accepts kat-signed.xml" xmlsec_verify "$KAT/kat-signed.xml"
expect 0 "fedsign verify accepts kat-signed.xml" \
    "$FEDSIGN" verify "$KAT/kat-signed.xml" --cert "$KAT/kat-cert.pem" --max-validity 30000d

# 3. One byte of signed content changed: both refuse it.
sed 's/ Friends</ Friendz</' "$KAT/kat-signed.xml" >"$TMP/tampered.xml"
check "the tampered copy differs in exactly one byte" \
    test "$(cmp -l "$KAT/kat-signed.xml" "$TMP/tampered.xml" | wc -l)" -eq 1
expect 1 "xmlsec1 rejects the tampered copy" xmlsec_verify "$TMP/tampered.xml"
err_has "data and digest do not match"
expect 1 "fedsign verify rejects the tampered copy" \
    "$FEDSIGN" verify "$TMP/tampered.xml" --cert "$KAT/kat-cert.pem" --max-validity 30000d
err_has "digest mismatch"

done_testing
