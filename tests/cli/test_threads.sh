#!/bin/bash
# The library on several threads at once, natively (and under the
# sanitizers in that build): 8 threads x 10 rounds each parse, stamp,
# sign with one shared signer, verify and publish their own document.
. "$SRCDIR/tests/lib.sh"

pem_key rsa2048 "$TMP/k.pem"
mkdir -p "$TMP/pub"
expect 0 "8 threads x 10 rounds" "$TEST_THREADS" "$TMP/k.pem" "$TMP/k.pem.crt" \
    "$SRCDIR/examples/federation-metadata.xml" "$TMP/pub" 8 10
out_has "8 threads x 10 rounds: 0 failures"
for i in 0 3 7; do
	check "thread $i's output verifies" "$FEDSIGN" verify -q "$TMP/pub/out-$i.xml" \
	    --cert "$TMP/k.pem.crt" --allow-expired --max-validity 30000d
done
check "each thread published its own document" test "$(ls "$TMP/pub" | wc -l)" = 8

done_testing
