#!/bin/bash
# The main commands run valgrind-clean: no invalid reads or writes, no use
# of uninitialised memory, and no definite leaks, on a real SoftHSM2 token.
. "$SRCDIR/tests/lib.sh"

VG=(valgrind --quiet --error-exitcode=99 --leak-check=full
    --errors-for-leak-kinds=definite --show-leak-kinds=definite
    --suppressions="$SRCDIR/tests/valgrind.supp")
EX=$SRCDIR/examples

new_token fed >/dev/null
pem_key rsa2048 "$TMP/k.pem"
expect 0 "valgrind: keygen rsa:2048" "${VG[@]}" "$FEDSIGN" keygen --key "$(key_uri fed k)" --type rsa:2048
expect 0 "valgrind: keygen ec:p256" "${VG[@]}" "$FEDSIGN" keygen --key "$(key_uri fed e)" --type ec:p256
expect 0 "valgrind: cert create" "${VG[@]}" "$FEDSIGN" cert create --key "$(key_uri fed k)" \
    --subject "CN=valgrind" --out "$TMP/k.crt"
expect 0 "valgrind: cert create (EC)" "${VG[@]}" "$FEDSIGN" cert create --key "$(key_uri fed e)" \
    --subject "CN=valgrind" --out "$TMP/e.crt"
expect 0 "valgrind: cert show" "${VG[@]}" "$FEDSIGN" cert show --key "$(key_uri fed k)"
expect 0 "valgrind: token list --login" "${VG[@]}" "$FEDSIGN" token list --login "$(key_uri fed k)"
expect 0 "valgrind: sign with the token key" "${VG[@]}" "$FEDSIGN" sign "$EX/federation-metadata.xml" \
    -o "$TMP/s.xml" --key "$(key_uri fed k)" --valid-for 1d --publisher https://x.example/
expect 0 "valgrind: sign with the token EC key" "${VG[@]}" "$FEDSIGN" sign "$EX/idp-entity.xml" \
    -o "$TMP/e.xml" --key "$(key_uri fed e)" --valid-for 1d
expect 0 "valgrind: sign with a PEM key" "${VG[@]}" "$FEDSIGN" sign "$EX/idp-entity.xml" \
    -o "$TMP/p.xml" --key-file "$TMP/k.pem" --cert "$TMP/k.pem.crt" --valid-for 1d
expect 0 "valgrind: verify" "${VG[@]}" "$FEDSIGN" verify "$TMP/s.xml" --cert "$TMP/k.crt" -o "$TMP/v.xml"
expect 0 "valgrind: verify EC" "${VG[@]}" "$FEDSIGN" verify "$TMP/e.xml" --cert "$TMP/e.crt"
sed 's/e0.safire/e9.safire/' "$TMP/s.xml" >"$TMP/t.xml"
expect 1 "valgrind: verify of a tampered file" "${VG[@]}" "$FEDSIGN" verify "$TMP/t.xml" --cert "$TMP/k.crt"
printf '<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>' >"$TMP/d.xml"
expect 1 "valgrind: DOCTYPE refused" "${VG[@]}" "$FEDSIGN" sign "$TMP/d.xml" -o "$TMP/o.xml" \
    --key-file "$TMP/k.pem" --valid-for 1d
(umask 077; echo 1 >"$TMP/bad")
expect 3 "valgrind: wrong PIN" "${VG[@]}" "$FEDSIGN" sign "$EX/idp-entity.xml" -o "$TMP/o.xml" \
    --valid-for 1d --key "pkcs11:token=fed;object=k?module-path=$SOFTHSM_MODULE&pin-source=file:$TMP/bad"

# Signing writes the output while another thread verifies it: no races.
expect 0 "helgrind: verification and writing share the tree safely" \
    valgrind --quiet --tool=helgrind --error-exitcode=99 \
    --suppressions="$SRCDIR/tests/valgrind.supp" "$FEDSIGN" sign \
    "$EX/federation-metadata.xml" -o "$TMP/h.xml" --key-file "$TMP/k.pem" \
    --cert "$TMP/k.pem.crt" --valid-for 1d

# The library on several threads at once: parse, stamp, sign with one
# shared signer, verify and publish different documents concurrently.
mkdir -p "$TMP/threads"
expect 0 "helgrind: 3 threads sign, verify and publish at once" \
    valgrind --quiet --tool=helgrind --error-exitcode=99 \
    --suppressions="$SRCDIR/tests/valgrind.supp" "$TEST_THREADS" \
    "$TMP/k.pem" "$TMP/k.pem.crt" "$EX/federation-metadata.xml" "$TMP/threads" 3 2
out_has "3 threads x 2 rounds: 0 failures"
expect 0 "memcheck: the same" "${VG[@]}" "$TEST_THREADS" \
    "$TMP/k.pem" "$TMP/k.pem.crt" "$EX/federation-metadata.xml" "$TMP/threads" 3 2

# fedsign publish with checks, rule files and mdq: the threads of the
# checks (each with its own rules), of entity signing, of the MDQ tree,
# its lists and the aggregate's .gz in parts (70 entities: a 400 kB
# aggregate, two parts or more), and the verification beside the writing.
python3 "$SRCDIR/tests/tools/gen-aggregate.py" 66 "$TMP/up.xml" --certs "$TMP/gencerts" >/dev/null 2>&1
cat >"$TMP/pub.yaml" <<EOF
signing:
  key: "$(key_uri fed k)"
  cert: $TMP/k.crt
publish-dir: $TMP/pub
state-dir: $TMP/pubstate
validity: 10d
publisher: https://md.example.org/
sources:
  - name: members
    files: $EX/members/*.xml
    registration-authority: https://md.example.org/
  - name: up
    file: $TMP/up.xml
checks:
  schema: true
  rules: [$EX/rules/check_*.xsl]
feeds:
  - file: all.xml
    sources: [members, up]
mdq:
  sources: [members, up]
EOF
expect 0 "helgrind: publish (checks with rules, mdq) on all its threads" \
    valgrind --quiet --tool=helgrind --error-exitcode=99 \
    --suppressions="$SRCDIR/tests/valgrind.supp" "$FEDSIGN" publish -c "$TMP/pub.yaml" -q
check "... it published the aggregate and its .gz" cmp -s <(gzip -dc "$TMP/pub/current/entities.xml.gz") "$TMP/pub/current/entities.xml"
check "... of more than one 256 kB part" test "$(stat -c %s "$TMP/pub/current/entities.xml")" -gt 262144
sed -i 's/^validity: 10d/validity: 9d/' "$TMP/pub.yaml"
expect 0 "memcheck: publish again (every feed signed again)" "${VG[@]}" "$FEDSIGN" publish -c "$TMP/pub.yaml" -q
check "... copying parts of the live .gz (report: mdq gzipPartsReused > 0)" python3 -c '
import json, sys
sys.exit(json.load(open(sys.argv[1]))["mdq"]["gzipPartsReused"] == 0)' "$TMP/pubstate/last-report.json"
check "... into a .gz that is the new aggregate" cmp -s <(gzip -dc "$TMP/pub/current/entities.xml.gz") "$TMP/pub/current/entities.xml"

done_testing
