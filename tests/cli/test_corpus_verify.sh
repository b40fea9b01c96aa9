#!/bin/bash
# fedsign verify against real federation metadata: the byte-exact copies in
# tests/data/corpus.  What each file is, and what xmlsec1 1.2.37 said about
# its signature, is in $CORPUS/INDEX.md; every expectation below follows
# it.  All of these have expired, hence --allow-expired throughout; where a
# file fails a strict rule on purpose, the comment names the rule.
. "$SRCDIR/tests/lib.sh"

# embedded FILE OUT: the first ds:X509Certificate in the KeyInfo of FILE's
# document-level ds:Signature, as a PEM file.  Pinning it proves integrity
# only, not trust (INDEX.md: "OK (embedded)"); it is what INDEX.md checked
# those files against, with xmlsec1 told not to trust the X509Data.
embedded() {
	xmllint --xpath 'string(/*/*[local-name()="Signature"]/*[local-name()="KeyInfo"]//*[local-name()="X509Certificate"][1])' "$CORPUS/$1" |
	    tr -d ' \t\r\n' | openssl base64 -d -A |
	    openssl x509 -inform der -out "$2" 2>/dev/null
}

# fpr PEM: its SHA-256 fingerprint as --fingerprint takes it.
fpr() {
	echo "sha256:$(openssl x509 -in "$1" -outform der | sha256sum | cut -c1-64)"
}

v() { "$FEDSIGN" verify "$@"; }

# valid FILE CERT [OPTION...]: FILE verifies with CERT.
valid() {
	local f=$1 c=$2; shift 2
	expect 0 "$f verifies" v --allow-expired "$@" --cert "$c" "$CORPUS/$f"
}

# invalid FILE CERT RULE [OPTION...]: FILE is refused, naming RULE.
invalid() {
	local f=$1 c=$2 rule=$3; shift 3
	expect 1 "$f is refused" v --allow-expired "$@" --cert "$c" "$CORPUS/$f"
	err_has "$rule"
}

# Certificates copied out of the files' own KeyInfo.
for f in pysaml2/metadata.aaitest-2019-11.xml pyFF/wayf-edugain-metadata.xml \
    OpenConext-manage/prod_md_about_spf_sps.xml \
    pyXMLSecurity/surfconext-test-engine-idp.xml \
    pysaml2/metadata.aaitest-2014-02-original.xml \
    java-opensaml/metadata.aaitest_signed.xml \
    OpenConext-manage/edugain_feed.xml smee/complex.xml \
    pyXMLSecurity/ecdsa-xades-idp.xml pyXMLSecurity/eidas-eesti.xml; do
	pem=$TMP/$(echo "$f" | tr / _).pem
	check "certificate copied out of $f's KeyInfo" embedded "$f" "$pem"
done
emb() { echo "$TMP/$(echo "$1" | tr / _).pem"; }
SMEE_MDQ=$CORPUS/smee/ukfederation-mdq.pem

# --- SHA-256 and better: verify ------------------------------------------
valid pysaml2/metadata.aaitest-2019-11.xml "$(emb pysaml2/metadata.aaitest-2019-11.xml)"
err_has "valid signature by CN=SWITCHaai Metadata Signer"
expect 0 "pysaml2/metadata.aaitest-2019-11.xml verifies by --fingerprint" \
    v --allow-expired --fingerprint "$(fpr "$(emb pysaml2/metadata.aaitest-2019-11.xml)")" \
    "$CORPUS/pysaml2/metadata.aaitest-2019-11.xml"
valid pyFF/wayf-edugain-metadata.xml "$(emb pyFF/wayf-edugain-metadata.xml)"
err_has "CN=metadata.2016.signing"
# exc-c14n#WithComments in the Reference.
valid OpenConext-manage/prod_md_about_spf_sps.xml \
    "$(emb OpenConext-manage/prod_md_about_spf_sps.xml)"
valid pyXMLSecurity/surfconext-test-engine-idp.xml \
    "$(emb pyXMLSecurity/surfconext-test-engine-idp.xml)"
# UK federation MDQ responses: no KeyInfo at all, only the pinned cert works.
valid smee/cern.xml "$SMEE_MDQ"
valid smee/valid.xml "$SMEE_MDQ"
expect 1 "smee/valid.xml has no KeyInfo to match a fingerprint in" \
    v --allow-expired --fingerprint "$(fpr "$SMEE_MDQ")" "$CORPUS/smee/valid.xml"
err_has "no certificate in KeyInfo matches the pinned fingerprint"
valid pyXMLSecurity/eidas-no-connector.xml \
    "$CORPUS/pyXMLSecurity/eidas-no-connector-signer.crt"
err_has "CN=no-node"
# ecdsa-sha512 with a P-384 key.
valid pyXMLSecurity/eidas-it-connector.xml \
    "$CORPUS/pyXMLSecurity/eidas-it-connector-signer.crt"

# Without --allow-expired these are all refused as expired.
expect 1 "smee/cern.xml has expired" v --cert "$SMEE_MDQ" "$CORPUS/smee/cern.xml"
err_has "validity: expired: validUntil 2024-02-22T16:00:31Z is in the past"

# --- tampered twins ----------------------------------------------------------
invalid smee/tampered.xml "$SMEE_MDQ" "digest mismatch"
invalid smee/missing.xml "$SMEE_MDQ" "digest mismatch"
# A real eduGAIN signature kept over a 3-entity cut of the feed.
invalid OpenConext-manage/edugain_feed.xml \
    "$(emb OpenConext-manage/edugain_feed.xml)" "digest mismatch"
# A genuine file checked against another signer's certificate.
invalid smee/valid.xml "$CORPUS/pyXMLSecurity/eidas-no-connector-signer.crt" \
    "does not verify with the pinned key"

# --- SHA-1 federation files ------------------------------------------------------
# Refused by default (rule: algorithm allowlist) ...
for f in pysaml2/InCommon-metadata-2010-03.xml pysaml2/swamid-kalmar-1.0.xml \
    pysaml2/metadata.aaitest-2014-02-original.xml pysaml2/swamid-1.0.xml \
    java-opensaml/ukfederation-metadata.xml pyXMLSecurity/href.xml \
    java-opensaml/metadata.switchaai_signed.xml; do
	expect 1 "$f (rsa-sha1) is refused without --allow-sha1" \
	    v --allow-expired --cert "$CORPUS/pyFF/md-signer.crt" "$CORPUS/$f"
	err_has "uses SHA-1"
done
# rsa-sha512 over a SHA-1 digest: the DigestMethod is refused too.
invalid pyXMLSecurity/eidas-fr-connector.xml \
    "$CORPUS/pyXMLSecurity/eidas-fr-connector-signer.crt" \
    "DigestMethod sha1 uses SHA-1"

# ... and accepted with --allow-sha1 where the key has 2048 bits or more.
valid pysaml2/InCommon-metadata-2010-03.xml "$CORPUS/pysaml2/inc-md-cert.pem" --allow-sha1
valid pysaml2/swamid-kalmar-1.0.xml "$CORPUS/pyFF/md-signer.crt" --allow-sha1
valid pysaml2/metadata.aaitest-2014-02-original.xml \
    "$(emb pysaml2/metadata.aaitest-2014-02-original.xml)" --allow-sha1
valid pyXMLSecurity/eidas-fr-connector.xml \
    "$CORPUS/pyXMLSecurity/eidas-fr-connector-signer.crt" --allow-sha1
valid pyXMLSecurity/eidas-fr-proxy.xml \
    "$CORPUS/pyXMLSecurity/eidas-fr-proxy-signer.crt" --allow-sha1

# SHA-1 files that fail another strict rule even with --allow-sha1:
# validUntil present -- SWAMID 1.0 and the UK federation 2006 aggregate
# have none.
invalid pysaml2/swamid-1.0.xml "$CORPUS/pyFF/md-signer.crt" "no validUntil" --allow-sha1
invalid java-opensaml/ukfederation-metadata.xml "$CORPUS/smee/ukfederation.pem" \
    "no validUntil" --allow-sha1
# transforms -- eduID.hu's Reference has enveloped-signature only, no
# canonicalization transform.
invalid pyXMLSecurity/href.xml \
    "$CORPUS/pyXMLSecurity/href-metadata-signer-2011.crt" \
    "transforms: the Reference must have exactly two transforms" --allow-sha1
# key strength -- SWITCH 2006 and the pyFF test aggregate: RSA-1024 signers.
invalid java-opensaml/metadata.aaitest_signed.xml \
    "$(emb java-opensaml/metadata.aaitest_signed.xml)" \
    "key too weak: RSA 1024 bits" --allow-sha1
invalid pyXMLSecurity/rh07-pyff-aggregate.xml \
    "$CORPUS/pyXMLSecurity/rh07-signer.crt" "key too weak: RSA 1024 bits" --allow-sha1

# SHA-1 tamper pairs stay refused with --allow-sha1.
invalid pysaml2/metadata.aaitest-2014-02-validUntil-edited.xml \
    "$(emb pysaml2/metadata.aaitest-2014-02-original.xml)" "digest mismatch" --allow-sha1
invalid pysaml2/InCommon-metadata-2012-modified.xml \
    "$CORPUS/pysaml2/inc-md-cert.pem" "digest mismatch" --allow-sha1
invalid smee/complex.xml "$(emb smee/complex.xml)" "digest mismatch" --allow-sha1

# --- other strict rules on real files ------------------------------------------
# XAdES-style signature: a ds:Object with the signed properties, and a
# second Reference to them (rule: nothing in ds:Signature but SignedInfo,
# SignatureValue and KeyInfo).
invalid pyXMLSecurity/ecdsa-xades-idp.xml "$(emb pyXMLSecurity/ecdsa-xades-idp.xml)" \
    "<dsig:Object> inside ds:Signature is not covered by the signature"
# RSASSA-PSS (rule: algorithm allowlist; xmlsec1 1.2.37 cannot check it).
invalid pyXMLSecurity/eidas-eesti.xml "$(emb pyXMLSecurity/eidas-eesti.xml)" \
    "sha256-rsa-MGF1 is not in the allowlist"
# Unsigned metadata.
invalid pyFF/test-sp.xml "$SMEE_MDQ" "not signed"

done_testing
