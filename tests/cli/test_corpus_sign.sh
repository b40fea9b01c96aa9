#!/bin/bash
# Every file of the real-world corpus (tests/data/corpus) that is well-formed
# SAML metadata signs and verifies round trip, with fedsign verify and with
# xmlsec1; every other file fails with a clear error and no output.
. "$SRCDIR/tests/lib.sh"

check "the corpus is there ($CORPUS)" test -f "$CORPUS/INDEX.md"
pem_key rsa2048 "$TMP/k.pem"

# Metadata that no signer can sign as it is, with the reason asserted.
declare -A UNSIGNABLE=(
	# pyFF's "bad metadata" sample declares xmlns:xsi="xsi": a relative
	# namespace URI, which XML canonicalisation forbids.
	[pyFF/stockholmstad-c1107b3ceb78c5e9.xml]="relative URI"
)

n=0
while IFS= read -r f; do
	rel=${f#$CORPUS/}
	root=$(xmllint --nonet --xpath 'concat(namespace-uri(/*), " ", local-name(/*))' "$f" 2>/dev/null)
	out=$TMP/out.xml
	rm -f "$out"
	if [ -n "${UNSIGNABLE[$rel]:-}" ]; then
		expect 1 "$rel is refused" "$FEDSIGN" sign "$f" -o "$out" \
		    --key-file "$TMP/k.pem" --cert "$TMP/k.pem.crt" --valid-for 1d
		err_has "${UNSIGNABLE[$rel]}"
		check "$rel: no output" test ! -e "$out"
		continue
	fi
	case $root in
	"urn:oasis:names:tc:SAML:2.0:metadata EntitiesDescriptor"|\
	"urn:oasis:names:tc:SAML:2.0:metadata EntityDescriptor")
		n=$((n + 1))
		expect 0 "sign $rel" "$FEDSIGN" sign "$f" -o "$out" -q \
		    --key-file "$TMP/k.pem" --cert "$TMP/k.pem.crt" --valid-for 1d
		expect 0 "fedsign verify $rel" "$FEDSIGN" verify "$out" --cert "$TMP/k.pem.crt" -q
		check "xmlsec1 verifies $rel" xmlsec1 --verify \
		    --id-attr:ID "urn:oasis:names:tc:SAML:2.0:metadata:${root##* }" \
		    --pubkey-cert-pem "$TMP/k.pem.crt" --enabled-key-data key-name,rsa,ec "$out"
		;;
	*)
		expect 1 "$rel is refused (${root:-not well-formed})" "$FEDSIGN" sign "$f" -o "$out" \
		    --key-file "$TMP/k.pem" --cert "$TMP/k.pem.crt" --valid-for 1d
		check "$rel: message names the problem" \
		    grep -qE "not SAML 2.0 metadata|not well-formed|DOCTYPE" "$TMP/err"
		check "$rel: no output" test ! -e "$out"
		;;
	esac
done < <(find "$CORPUS" -name '*.xml' | sort)
check "the corpus held metadata to sign ($n files)" test "$n" -ge 50

done_testing
