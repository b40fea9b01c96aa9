#!/bin/bash
# Interoperability: metadata signed by fedsign (PEM key, SoftHSM2 RSA and
# EC P-256 token keys) verifies with real consumers — xmlsec1, OpenSAML
# samlsign, Shibboleth SP mdquery through the Signature and
# RequireValidUntil filters — and a copy with one attribute changed is
# rejected by each; metadata signed by xmlsec1 verifies with fedsign.
# The consumers are driven by tests/interop/consumers.sh.
. "$SRCDIR/tests/lib.sh"

IOP=$SRCDIR/tests/interop
GEN=$SRCDIR/tests/tools/gen-aggregate.py
MDNS=urn:oasis:names:tc:SAML:2.0:metadata
export TMPDIR=$TMP   # the harness's own temporary folders go with ours

# tampered DESC FILE CERT: a copy of FILE with one attribute value changed
# must be rejected by every consumer.
tampered() {
	local desc=$1 file=$2 cert=$3
	if python3 "$IOP/mdtool.py" tamper "$file" "$file.tampered" >"$TMP/tamper.out"; then
		sed 's/^/# /' "$TMP/tamper.out"
		consumers "$desc, one attribute changed" --expect-fail "$file.tampered" "$cert"
	else
		nok "$desc: could not make a tampered copy"
	fi
}

# xmlsec_sign IN OUT KEY CERT ALG: sign with the xmlsec1 CLI, template
# prepared by tests/interop/prepare-template.py (validUntil = now + 10 days).
xmlsec_sign() {
	local in=$1 out=$2 key=$3 cert=$4 alg=$5 root
	root=$(python3 "$IOP/prepare-template.py" --alg "$alg" --valid-for-days 10 "$in" "$out.tmpl") || return 1
	xmlsec1 --sign --privkey-pem "$key,$cert" --id-attr:ID "$MDNS:${root%% *}" \
	    --output "$out" "$out.tmpl" 2>"$TMP/xmlsec.err" || { sed 's/^/# /' "$TMP/xmlsec.err" | head; return 1; }
}

# Inputs: a small eduGAIN-shaped aggregate and one entity from it.
if [ -f "$GEN" ] && python3 "$GEN" 12 "$TMP/agg.xml" --seed 7 --certs "$TMP/gencerts" 2>"$TMP/gen.err"; then
	ok "generated a 12-entity aggregate"
else
	nok "generated a 12-entity aggregate (needs $GEN)"
	sed 's/^/# /' "$TMP/gen.err" 2>/dev/null | head
	done_testing
fi
check "extracted one entity" python3 "$IOP/mdtool.py" extract-entity "$TMP/agg.xml" "$TMP/ent.xml" 1

pem_key rsa2048 "$TMP/rsa.pem"
pem_key ecp256 "$TMP/ec.pem"
pem_key rsa2048 "$TMP/other.pem"

# --- 1. The harness itself, on xmlsec1-signed metadata; fedsign verify of it.
for kind in agg ent; do
	if xmlsec_sign "$TMP/$kind.xml" "$TMP/$kind.xmlsec-rsa.xml" "$TMP/rsa.pem" "$TMP/rsa.pem.crt" rsa-sha256; then
		ok "xmlsec1 signed $kind with RSA"
		consumers "xmlsec1 RSA $kind" "$TMP/$kind.xmlsec-rsa.xml" "$TMP/rsa.pem.crt"
		tampered "xmlsec1 RSA $kind" "$TMP/$kind.xmlsec-rsa.xml" "$TMP/rsa.pem.crt"
		expect 0 "fedsign verify accepts xmlsec1 RSA $kind" \
		    "$FEDSIGN" verify "$TMP/$kind.xmlsec-rsa.xml" --cert "$TMP/rsa.pem.crt"
		expect 1 "fedsign verify rejects xmlsec1 RSA $kind with one attribute changed" \
		    "$FEDSIGN" verify "$TMP/$kind.xmlsec-rsa.xml.tampered" --cert "$TMP/rsa.pem.crt"
		expect 1 "fedsign verify rejects xmlsec1 RSA $kind under another certificate" \
		    "$FEDSIGN" verify "$TMP/$kind.xmlsec-rsa.xml" --cert "$TMP/other.pem.crt"
	else
		nok "xmlsec1 signed $kind with RSA"
	fi
done
if xmlsec_sign "$TMP/agg.xml" "$TMP/agg.xmlsec-ec.xml" "$TMP/ec.pem" "$TMP/ec.pem.crt" ecdsa-sha256; then
	ok "xmlsec1 signed agg with ECDSA P-256"
	consumers "xmlsec1 EC agg" "$TMP/agg.xmlsec-ec.xml" "$TMP/ec.pem.crt"
	expect 0 "fedsign verify accepts xmlsec1 EC agg" \
	    "$FEDSIGN" verify "$TMP/agg.xmlsec-ec.xml" --cert "$TMP/ec.pem.crt"
else
	nok "xmlsec1 signed agg with ECDSA P-256"
fi
consumers "wrong certificate" --expect-fail "$TMP/agg.xmlsec-rsa.xml" "$TMP/other.pem.crt"

# --- 2. fedsign with a PEM RSA key.
for kind in agg ent; do
	expect 0 "fedsign sign $kind with a PEM RSA key" \
	    "$FEDSIGN" sign "$TMP/$kind.xml" -o "$TMP/$kind.pem.xml" \
	    --key-file "$TMP/rsa.pem" --cert "$TMP/rsa.pem.crt" --valid-for 10d
	if [ -s "$TMP/$kind.pem.xml" ]; then
		consumers "fedsign PEM RSA $kind" "$TMP/$kind.pem.xml" "$TMP/rsa.pem.crt"
		tampered "fedsign PEM RSA $kind" "$TMP/$kind.pem.xml" "$TMP/rsa.pem.crt"
	fi
done
# A validUntil beyond the member's maxValidityInterval is refused by the SP.
expect 0 "fedsign sign with --valid-for 60d" \
    "$FEDSIGN" sign "$TMP/agg.xml" -o "$TMP/agg.60d.xml" \
    --key-file "$TMP/rsa.pem" --cert "$TMP/rsa.pem.crt" --valid-for 60d
if [ -s "$TMP/agg.60d.xml" ]; then
	consumers "60 days valid, 30 allowed" --expect-fail --skip xmlsec1,samlsign \
	    --max-validity 30d "$TMP/agg.60d.xml" "$TMP/rsa.pem.crt"
fi

# --- 3./4. fedsign with SoftHSM2 token keys: RSA-2048/3072, EC P-256/P-384.
new_token interop
for type in rsa:2048 rsa:3072 ec:p256 ec:p384; do
	obj=md-${type/:/-}
	uri=$(key_uri interop "$obj")
	expect 0 "fedsign keygen $type on the token" "$FEDSIGN" keygen --key "$uri" --type "$type"
	expect 0 "fedsign cert create for the $type key" \
	    "$FEDSIGN" cert create --key "$uri" --subject 'CN=test' --out "$TMP/$obj.crt"
	[ -s "$TMP/$obj.crt" ] || continue
	for kind in agg ent; do
		expect 0 "fedsign sign $kind with the token $type key" \
		    "$FEDSIGN" sign "$TMP/$kind.xml" -o "$TMP/$kind.$obj.xml" --key "$uri" --valid-for 10d
		[ -s "$TMP/$kind.$obj.xml" ] || continue
		consumers "fedsign token $type $kind" "$TMP/$kind.$obj.xml" "$TMP/$obj.crt"
		tampered "fedsign token $type $kind" "$TMP/$kind.$obj.xml" "$TMP/$obj.crt"
	done
done

done_testing
