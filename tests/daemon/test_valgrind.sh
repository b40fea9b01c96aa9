#!/bin/bash
# fedsignd and its client run valgrind-clean: no invalid reads or writes,
# no use of uninitialised memory, no definite leaks, through signatures in
# every dialect, refused requests, an unplug and replug of a token, a
# SIGHUP reload and SIGTERM.  (The plain build only: valgrind cannot run
# a binary built with the sanitizers.)
. "$SRCDIR/tests/lib.sh"
. "$SRCDIR/tests/daemon/lib-daemon.sh"

VG=(valgrind --quiet --error-exitcode=99 --leak-check=full
    --errors-for-leak-kinds=definite --show-leak-kinds=definite
    --suppressions="$SRCDIR/tests/valgrind.supp" --log-file="$TMP/vg.%p")
EX=$SRCDIR/examples
PLUG=$TMP/unplugged

tokens hsm1 hsm2
cat >"$TMP/f.yaml" <<EOF
listen: [unix:$SOCK]
audit-log: $TMP/audit.jsonl
health-interval: 1s
retry-interval: 1s
token-timeout: 20s
keys:
  md-signing:
    sessions: 2
    tokens:
      - "$(direct hsm1)"
      - "$(shimmed hsm2)"
EOF

# start under valgrind: as lib-daemon.sh's start, with more patience.
: >"$TMP/daemon.log"
env FS_SHIM_MODULE="$TMP/softhsm-copy.so" FS_SHIM_UNPLUG="$PLUG" "${VG[@]}" "$FEDSIGND" -d -c "$TMP/f.yaml" \
    >>"$TMP/daemon.log" 2>&1 &
DPID=$!
DAEMONS+=("$DPID")
wait_until 60 grep -q "ready:" "$TMP/daemon.log" && ok "fedsignd starts under valgrind" ||
    { nok "fedsignd starts under valgrind"; sed 's/^/# /' "$TMP/daemon.log" "$TMP"/vg.* | head -40; done_testing; }

printf 'SignedInfo stand-in\n' >"$TMP/msg"
d=$(openssl dgst -sha256 -binary "$TMP/msg" | base64 -w0)
status_is 200 "v1 sign" --data "{\"alg\":\"sha256\",\"digest\":\"$d\"}" http://x/v1/keys/md-signing/sign
check "its signature verifies" verifies "$TMP/msg" "$(json "d['signature']")"
di=$( { printf '\x30\x31\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x01\x05\x00\x04\x20'; openssl dgst -sha256 -binary "$TMP/msg"; } | base64 -w0)
status_is 200 "pyeleven sign" --data "{\"mech\":\"RSAPKCS1\",\"data\":\"$di\"}" http://x/hsm1/md-signing/sign
status_is 200 "goeleven sign" --data "{\"data\":\"$di\",\"mech\":\"CKM_RSA_PKCS\",\"function\":\"sign\"}" http://x/hsm2/md-signing
status_is 400 "bad JSON" --data '{"alg":' http://x/v1/keys/md-signing/sign
status_is 404 "unknown key" --data '{}' http://x/v1/keys/nope/sign
status_is 200 "GET /status" http://x/status
status_is 200 "GET /metrics" http://x/metrics
status_is 200 "GET /v1/keys/md-signing" http://x/v1/keys/md-signing
status_is 200 "GET /" http://x/
expect 0 "the load client, 200 requests from 4 threads" "$FEDSIGND_LOAD" -u "$SOCK" -k md-signing -c 4 -n 200 -V
expect 0 "valgrind: fedsign sign through fedsignd" "${VG[@]}" "$FEDSIGN" sign "$EX/federation-metadata.xml" \
    -o "$TMP/agg.xml" --key "fedsignd:unix:$SOCK?key=md-signing" --valid-for 1d
expect 3 "valgrind: fedsign sign with an unknown key" "${VG[@]}" "$FEDSIGN" sign "$EX/federation-metadata.xml" \
    -o "$TMP/x.xml" --key "fedsignd:unix:$SOCK?key=nope" --valid-for 1d

touch "$PLUG"
"$FEDSIGND_LOAD" -u "$SOCK" -k md-signing -c 2 -n 50 -V >"$TMP/load.out" 2>&1
_has "$TMP/load.out" "load while hsm2 is unplugged" "failed 0"
check "hsm2 goes down" wait_until 20 bash -c "curl -s --unix-socket '$SOCK' http://x/status | grep -q '\"down\"'"
rm -f "$PLUG"
check "hsm2 comes back" wait_until 40 bash -c "curl -s --unix-socket '$SOCK' http://x/status | python3 -c 'import json,sys; d=json.load(sys.stdin); assert all(t[\"state\"] == \"up\" for t in d[\"keys\"][\"md-signing\"][\"tokens\"])'"
printf '  other:\n    tokens: ["%s"]\n' "$(direct hsm2)" >>"$TMP/f.yaml"
kill -HUP "$DPID"
check "SIGHUP reloads" wait_until 40 grep -q "reloaded" "$TMP/daemon.log"
status_is 200 "the new key is there" http://x/v1/keys/other
kill -TERM "$DPID"
wait "$DPID"; rc=$?
check "SIGTERM: exit 0, valgrind found nothing (exit $rc)" test "$rc" = 0
check "valgrind ran the daemon (its log is there)" test -e "$TMP/vg.$DPID"
for f in "$TMP"/vg.*; do
	[ -s "$f" ] && { echo "# $f:"; sed 's/^/# /' "$f" | head -60; }
done

done_testing
