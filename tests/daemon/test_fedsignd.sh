#!/bin/bash
# fedsignd: configuration checks, its API and the pyeleven and goeleven
# dialects (requests as pyXMLSecurity, PHPH and goeleven's clients make
# them), authentication, TLS, the audit log, metrics, secrets, reload,
# privilege drop and shutdown, on two SoftHSM2 tokens holding one key.
. "$SRCDIR/tests/lib.sh"
. "$SRCDIR/tests/daemon/lib-daemon.sh"

tokens hsm1 hsm2
PIN=$(head -1 "$TMP/pin")
(umask 077
 printf '# name secret [keys]\naggregator agg-0123456789abcdef\nlimited lim-0123456789abcdef other\n' >"$TMP/clients"
 echo agg-0123456789abcdef >"$TMP/secret")
openssl req -new -x509 -newkey rsa:2048 -nodes -keyout "$TMP/tls.key" -out "$TMP/tls.crt" \
    -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -days 2 2>/dev/null
PORT=$((20000 + $$ % 20000)); TPORT=$((PORT + 1)); PPORT=$((PORT + 2))

cat >"$TMP/f.yaml" <<EOF
listen:
  - unix:$SOCK
  - address: tcp:127.0.0.1:$PORT
    tls: false
  - tcp:127.0.0.1:$TPORT
  - address: tcp:127.0.0.1:$PPORT
    tls: false
    auth: none
tls-cert: $TMP/tls.crt
tls-key: $TMP/tls.key
clients-file: $TMP/clients
audit-log: $TMP/audit.jsonl
health-interval: 1h
keys:
  md-signing:
    tokens:
      - "$(direct hsm1)"
      - "$(direct hsm2)"
EOF

# --- -n: the configuration is checked, line by line ----------------------
expect 0 "fedsignd -n accepts a good configuration" "$FEDSIGND" -n -c "$TMP/f.yaml"
err_has "configuration OK"
bad() {	# bad DESC TEXT: fedsignd -n refuses $TMP/b.yaml, saying TEXT
	expect 1 "$1" "$FEDSIGND" -n -c "$TMP/b.yaml"
	err_has "$2"
}
printf 'listen: [unix:%s]\naudit-log: %s/a\nkeys:\n  k:\n    tokens: ["%s"]\n    sesions: 2\n' \
    "$SOCK" "$TMP" "$(direct hsm1)" >"$TMP/b.yaml"
bad "an unknown key is refused with file and line" "b.yaml:6: unknown key 'sesions' in a key: did you mean 'sessions'?"
printf 'listen: [tcp:0.0.0.0:8443]\naudit-log: %s/a\nkeys:\n  k:\n    tokens: ["%s"]\n' \
    "$TMP" "$(direct hsm1)" >"$TMP/b.yaml"
bad "TCP off the loopback interface without TLS is refused" "it needs TLS"
printf 'listen: [unix:%s]\naudit-log: %s/a\nkeys:\n  k:\n    tokens: ["pkcs11:token=hsm1;object=k?module-path=%s"]\n' \
    "$SOCK" "$TMP" "$SOFTHSM_MODULE" >"$TMP/b.yaml"
bad "a token without pin-source is refused" "b.yaml:5: token 'pkcs11:token=hsm1;object=k?...' needs pin-source=file:PATH"
printf 'listen: [unix:%s]\naudit-log: %s/a\nkeys:\n  k:\n    tokens: ["pkcs11:token=hsm1;object=k?pin-value=1234"]\n' \
    "$SOCK" "$TMP" >"$TMP/b.yaml"
bad "a pin-value is refused without repeating it" "has a pin-value"
grep -q 1234 "$TMP/err" && nok "the pin-value is not repeated" || ok "the pin-value is not repeated"
printf 'listen: [unix:%s]\nkeys:\n  k:\n    tokens: ["%s"]\n' "$SOCK" "$(direct hsm1)" >"$TMP/b.yaml"
bad "the audit log is required" "'audit-log' is missing"
printf 'listen: [unix:%s]\naudit-log: %s/a\nkeys:\n  "a/b":\n    tokens: ["%s"]\n' \
    "$SOCK" "$TMP" "$(direct hsm1)" >"$TMP/b.yaml"
bad "a key name that does not fit in a URL path is refused" "key name 'a/b'"
printf 'listen: &l [unix:%s]\naudit-log: %s/a\nkeys: {}\n' "$SOCK" "$TMP" >"$TMP/b.yaml"
bad "YAML anchors are refused" "anchors"
cp "$TMP/pin" "$TMP/pin.open"; chmod 644 "$TMP/pin.open"
sed "s|file:$TMP/pin\"|file:$TMP/pin.open\"|" "$TMP/f.yaml" >"$TMP/b.yaml"
bad "a PIN file others can read is refused" "can be read by others"
chmod 644 "$TMP/clients"
expect 1 "a clients file others can read is refused" "$FEDSIGND" -n -c "$TMP/f.yaml"
err_has "clients file '$TMP/clients' can be read by others"
chmod 600 "$TMP/clients"
expect 2 "an unknown option is a usage error" "$FEDSIGND" -x
expect 0 "fedsignd -h" "$FEDSIGND" -h
out_has "usage: fedsignd [-dnv] [-c config]"

# --- start: PIN from the file, nothing of it anywhere ------------------------
if start "$TMP/f.yaml" FEDSIGN_PIN="$PIN-from-env"; then ok "fedsignd starts"; else nok "fedsignd starts"; fi
status_is 200 "GET /status: 200 with both tokens up" http://x/status
check "/status names both tokens, up" test "$(json "' '.join(t['label']+':'+t['state'] for t in d['keys']['md-signing']['tokens'])")" = "hsm1:up hsm2:up"
check "the PIN is not in /proc/PID/environ" bash -c "! tr '\0' '\n' </proc/$DPID/environ | grep -q -- '$PIN'"
check "FEDSIGN_PIN is gone from /proc/PID/environ" bash -c "! grep -q FEDSIGN_PIN /proc/$DPID/environ"
check "the PIN is not in /proc/PID/cmdline" bash -c "! grep -q -- '$PIN' /proc/$DPID/cmdline"
check "core dumps are off" grep -Eq '^Max core file size +0 +0' /proc/$DPID/limits
check "after the logins, the PIN is nowhere in the daemon's memory" \
    bash -c "! python3 '$SRCDIR/tests/tools/memgrep.py' $DPID '$PIN'"
_has "$TMP/daemon.log" log "FEDSIGN_PIN is ignored"

# --- fedsign's own API ------------------------------------------------------
status_is 200 "GET /v1/keys/md-signing" http://x/v1/keys/md-signing
json "d['public_key']" >"$TMP/got.pem"
check "its public key is the key's" cmp <(openssl pkey -pubin -in "$TMP/got.pem" -outform DER) \
    <(openssl pkey -pubin -in "$TMP/pub.pem" -outform DER)
check "its certificate is the tokens' one" test "$(json "d['certificate']" | openssl x509 -outform DER | sha256sum)" = \
    "$(openssl x509 -in "$TMP/k.crt" -outform DER | sha256sum)"
check "it says how many requests may run at once (the sessions of both tokens)" test "$(json "d['parallel']")" = 8
printf 'SignedInfo stand-in\n' >"$TMP/msg"
for alg in sha256 sha384 sha512; do
	d=$(openssl dgst -$alg -binary "$TMP/msg" | base64 -w0)
	status_is 200 "POST /v1/keys/md-signing/sign ($alg)" -H 'Content-Type: application/json' \
	    --data "{\"alg\":\"$alg\",\"digest\":\"$d\"}" http://x/v1/keys/md-signing/sign
	check "the $alg signature verifies (openssl)" verifies "$TMP/msg" "$(json "d['signature']")" $alg
done
d=$(openssl dgst -sha1 -binary "$TMP/msg" | base64 -w0)
status_is 400 "a SHA-1 digest is refused" --data "{\"alg\":\"sha1\",\"digest\":\"$d\"}" http://x/v1/keys/md-signing/sign
check "errors are JSON with error and detail" test "$(json "d['error']")" = bad-request
status_is 400 "an MD5 digest is refused" --data "{\"alg\":\"md5\",\"digest\":\"$d\"}" http://x/v1/keys/md-signing/sign
status_is 400 "a digest of the wrong length is refused" --data "{\"alg\":\"sha256\",\"digest\":\"$d\"}" http://x/v1/keys/md-signing/sign
status_is 400 "bad base64 is refused" --data '{"alg":"sha256","digest":"!!!!"}' http://x/v1/keys/md-signing/sign
status_is 400 "a body that is not JSON is refused" --data 'alg=sha256' http://x/v1/keys/md-signing/sign
status_is 400 "a JSON key given twice is refused" --data '{"alg":"sha256","alg":"sha512"}' http://x/v1/keys/md-signing/sign
status_is 404 "an unknown key is 404" --data '{}' http://x/v1/keys/nope/sign
status_is 405 "GET on sign is 405" http://x/v1/keys/md-signing/sign
status_is 405 "DELETE is 405" -X DELETE http://x/v1/keys/md-signing
status_is 404 "an unknown path is 404" http://x/a/b/c/d/e
head -c 70000 /dev/zero | tr '\0' a >"$TMP/big"
status_is 413 "a body over 64 KiB is refused" --data-binary @"$TMP/big" http://x/v1/keys/md-signing/sign
status_is 413 "a chunked body over 64 KiB is refused" -H 'Transfer-Encoding: chunked' --data-binary @"$TMP/big" http://x/v1/keys/md-signing/sign
for i in 1 2 3 4 5; do got=$(api --data-binary @"$TMP/big" http://x/v1/keys/md-signing/sign); [ "$got" = 413 ] || break; done
check "the 413 arrives every time (the body is read first, not reset)" test "$got" = 413
head -c 3000000 /dev/zero | tr '\0' a >"$TMP/huge"
got=$(api --data-binary @"$TMP/huge" http://x/v1/keys/md-signing/sign)
check "a 3 MB body is cut off unread: 413 or the connection closed, never more ($got)" \
    bash -c "[ '$got' = 413 ] || [ '$got' = 000 ]"
status_is 200 "the connection still works after that" http://x/status

# --- pyeleven, as pyXMLSecurity's XMLSecCryptoREST sends it -------------------
# data = base64 (Python 2's encode("base64"): wrapped lines) of the
# DigestInfo of the SignedInfo's digest; mech RSAPKCS1; POST .../rawsign.
tbs() { { printf '\x30\x31\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x01\x05\x00\x04\x20'; openssl dgst -sha256 -binary "$TMP/msg"; }; }
data=$(tbs | python3 -c 'import base64,sys; print(base64.encodebytes(sys.stdin.buffer.read()).decode().replace("\n","\\n"))')
status_is 200 "pyeleven rawsign (pyXMLSecurity's request)" -H 'Content-Type: application/json' \
    --data "{\"mech\": \"RSAPKCS1\", \"data\": \"$data\"}" http://x/hsm1/md-signing/rawsign
check "its signature verifies" verifies "$TMP/msg" "$(json "d['signed']")"
check "it names the slot asked for" test "$(json "d['slot']")" = hsm1
status_is 200 "pyeleven sign returns the certificate too" --data "{\"data\": \"$data\"}" http://x/hsm2/md-signing/sign
check "pyeleven sign: the signature verifies" verifies "$TMP/msg" "$(json "d['signed']")"
check "pyeleven sign: the certificate is the key's" test "$(json "d['cert']" | openssl x509 -outform DER | sha256sum)" = \
    "$(openssl x509 -in "$TMP/k.crt" -outform DER | sha256sum)"
status_is 400 "pyeleven: an unknown mech is refused" --data "{\"mech\": \"SHA1RSAPKCS\", \"data\": \"$data\"}" http://x/hsm1/md-signing/rawsign
status_is 404 "pyeleven: an unknown key label is 404" --data "{\"data\": \"$data\"}" http://x/hsm1/nokey/rawsign
sha1di=$( { printf '\x30\x21\x30\x09\x06\x05\x2b\x0e\x03\x02\x1a\x05\x00\x04\x14'; openssl dgst -sha1 -binary "$TMP/msg"; } | base64 -w0)
status_is 400 "pyeleven: a SHA-1 DigestInfo is refused" --data "{\"data\": \"$sha1di\"}" http://x/hsm1/md-signing/rawsign
status_is 200 "pyeleven GET / lists the token labels" http://x/
check "both labels are listed" test "$(json "' '.join(sorted(d['labels']))")" = "hsm1 hsm2"
status_is 200 "pyeleven GET /hsm1 lists its slot" http://x/hsm1
status_is 404 "pyeleven GET of an unknown label is 404" http://x/nolabel

# --- goeleven and PHPH over TCP, with the client's secret -------------------
tcp() { curl -s -o "$TMP/body" -w '%{http_code}' "$@"; }
tcp_is() { local want=$1 desc=$2 got; shift 2; got=$(tcp "$@")
	if [ "$got" = "$want" ]; then ok "$desc"; else nok "$desc (HTTP $got, expected $want)"; sed 's/^/# /' "$TMP/body" | head -5; fi; }
B64DI=$(tbs | base64 -w0)
tcp_is 401 "TCP without a secret is 401" --data "{\"alg\":\"sha256\",\"digest\":\"$d\"}" http://127.0.0.1:$PORT/v1/keys/md-signing/sign
check "401 carries a JSON error" test "$(json "d['error']")" = unauthorized
tcp_is 401 "TCP with a wrong secret is 401" -H "Authorization: Bearer agg-0123456789abcdeX" http://127.0.0.1:$PORT/v1/keys/md-signing
tcp_is 403 "a client limited to other keys gets 403" -H "Authorization: Bearer lim-0123456789abcdef" http://127.0.0.1:$PORT/v1/keys/md-signing
tcp_is 200 "GET /status needs no secret" http://127.0.0.1:$PORT/status
tcp_is 200 "goeleven: POST /slot/key with sharedkey in the body (as goeleven's clients send)" \
    --data "{\"data\":\"$B64DI\",\"mech\":\"CKM_RSA_PKCS\",\"digest\":\"\",\"function\":\"sign\",\"sharedkey\":\"agg-0123456789abcdef\"}" \
    http://127.0.0.1:$PORT/hsm1/md-signing
check "goeleven: the signature verifies" verifies "$TMP/msg" "$(json "d['signed']")"
check "goeleven: the answer is {\"signed\": ...} alone" test "$(json "' '.join(d)")" = signed
tcp_is 200 "goeleven: CKM_SHA256_RSA_PKCS hashes the data" \
    --data "{\"data\":\"$(base64 -w0 "$TMP/msg")\",\"mech\":\"CKM_SHA256_RSA_PKCS\",\"function\":\"sign\",\"sharedkey\":\"agg-0123456789abcdef\"}" \
    http://127.0.0.1:$PORT/hsm2/md-signing
check "goeleven CKM_SHA256_RSA_PKCS: the signature verifies" verifies "$TMP/msg" "$(json "d['signed']")"
tcp_is 400 "goeleven: decrypt is refused" \
    --data "{\"data\":\"$B64DI\",\"mech\":\"CKM_RSA_PKCS_OAEP\",\"function\":\"decrypt\",\"sharedkey\":\"agg-0123456789abcdef\"}" \
    http://127.0.0.1:$PORT/hsm1/md-signing
tcp_is 400 "goeleven: CKM_SHA1_RSA_PKCS is refused" \
    --data "{\"data\":\"$B64DI\",\"mech\":\"CKM_SHA1_RSA_PKCS\",\"function\":\"sign\",\"sharedkey\":\"agg-0123456789abcdef\"}" \
    http://127.0.0.1:$PORT/hsm1/md-signing
# PHPH's samlxmldsig::signHSM: the bare SHA-256 of the SignedInfo, the
# secret in an X-AUTH header, mech CKM_RSA_PKCS and a key field.
tcp_is 200 "PHPH: a bare digest with X-AUTH" -H 'Content-Type: application/json' -H "X-AUTH: agg-0123456789abcdef" \
    --data "{\"data\":\"$(openssl dgst -sha256 -binary "$TMP/msg" | base64 -w0)\",\"key\":\"hsm:agg:http://x/hsm1/md-signing\",\"mech\":\"CKM_RSA_PKCS\"}" \
    http://127.0.0.1:$PORT/hsm1/md-signing
check "PHPH: the signature verifies as rsa-sha256 (openssl_verify's view)" verifies "$TMP/msg" "$(json "d['signed']")"
tcp_is 200 "a listener with auth: none serves pyeleven clients on loopback" \
    --data "{\"mech\": \"RSAPKCS1\", \"data\": \"$data\"}" http://127.0.0.1:$PPORT/hsm1/md-signing/rawsign
# TLS
tcp_is 200 "TLS: sign over https with the bearer secret" --cacert "$TMP/tls.crt" -H "Authorization: Bearer agg-0123456789abcdef" \
    --data "{\"alg\":\"sha256\",\"digest\":\"$(openssl dgst -sha256 -binary "$TMP/msg" | base64 -w0)\"}" https://127.0.0.1:$TPORT/v1/keys/md-signing/sign
check "TLS: the signature verifies" verifies "$TMP/msg" "$(json "d['signature']")"
check "TLS: plain HTTP to the TLS port gets nothing" bash -c "! curl -s -m 5 http://127.0.0.1:$TPORT/status"
check "TLS: TLS 1.1 is refused" bash -c "! curl -s -m 5 --cacert '$TMP/tls.crt' --tlsv1.1 --tls-max 1.1 https://127.0.0.1:$TPORT/status"
expect 0 "TLS: 300 requests from 4 threads, all verified" "$FEDSIGND_LOAD" -U https://127.0.0.1:$TPORT \
    -s "$TMP/secret" -c 4 -n 300 -V
out_has "ok 300 busy 0"

# --- audit, metrics -------------------------------------------------------
check "the audit log has mode 0640" test "$(stat -c %a "$TMP/audit.jsonl")" = 640
check "the audit log is open for appending only (O_APPEND, write-only)" python3 -c "
import os
fds = [f for f in os.listdir('/proc/$DPID/fd') if os.readlink('/proc/$DPID/fd/' + f) == '$TMP/audit.jsonl']
assert len(fds) == 1, fds
flags = int([l for l in open('/proc/$DPID/fdinfo/' + fds[0]) if l.startswith('flags:')][0].split()[1], 8)
assert flags & os.O_APPEND and flags & os.O_ACCMODE == os.O_WRONLY, oct(flags)"
check "every audit line is one JSON object" python3 -c "
import json
for l in open('$TMP/audit.jsonl'): json.loads(l)"
hex=$(openssl dgst -sha256 -hex "$TMP/msg" | sed 's/.* //')
check "the audit log has the digest, key, token serial and the unix client's uid and pid" python3 -c "
import json
ls = [json.loads(l) for l in open('$TMP/audit.jsonl')]
l = [x for x in ls if x['digest'] == '$hex' and x['api'] == 'v1' and x['client']['transport'] == 'unix'][0]
assert l['key'] == 'md-signing' and l['result'] == 'ok' and l['alg'] == 'sha256'
assert l['serial'] and l['client']['uid'] == $(id -u) and l['client']['pid'] > 0 and l['time'].endswith('Z')"
check "TCP clients are audited by their name and address" python3 -c "
import json
ls = [json.loads(l) for l in open('$TMP/audit.jsonl')]
assert any(x['client'].get('name') == 'aggregator' and x['client']['address'].startswith('127.0.0.1:') and x['api'] == 'goeleven' for x in ls)"
check "refused requests are audited too (SHA-1 never reaches the log as signed)" python3 -c "
import json
ls = [json.loads(l) for l in open('$TMP/audit.jsonl')]
assert not any(x['alg'] == 'sha1' for x in ls)"
status_is 200 "GET /metrics" http://x/metrics
body_has '# TYPE fedsignd_signatures_total counter'
body_has 'fedsignd_token_up{key="md-signing",token="hsm1"'
body_has '# TYPE fedsignd_sign_seconds histogram'
body_has 'fedsignd_sign_seconds_bucket{key="md-signing",le="+Inf"}'
body_has 'fedsignd_http_responses_total{code="400"}'
check "the metrics are well-formed Prometheus text" python3 -c "
import re
fams = set(); cur = None
for l in open('$TMP/body'):
    l = l.rstrip('\n')
    if l.startswith('# TYPE '):
        cur = l.split()[2]; assert cur not in fams, cur; fams.add(cur); continue
    if l.startswith('#') or not l: continue
    m = re.match(r'^([a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$', l); assert m, l
    n = m.group(1); assert n == cur or n.startswith(cur + '_'), (n, cur)"
_has "$TMP/daemon.log" log "ready"
check "the PIN is not in the log" bash -c "! grep -q -- '$PIN' '$TMP/daemon.log'"
check "no client secret is in the log or the audit log" bash -c "! grep -q 0123456789abcdef '$TMP/daemon.log' '$TMP/audit.jsonl'"

# --- SIGHUP: reload without dropping a request ---------------------------
"$FEDSIGND_LOAD" -u "$SOCK" -k md-signing -c 2 -t 4 >"$TMP/load.out" 2>&1 &
LOAD=$!
sleep 1
sed 's/^health-interval: 1h/health-interval: 30m/' "$TMP/f.yaml" >"$TMP/f2.yaml"
printf '  other:\n    tokens:\n      - "%s"\n' "$(direct hsm2)" >>"$TMP/f2.yaml"
cp "$TMP/f2.yaml" "$TMP/f.yaml"
kill -HUP "$DPID"
wait_until 10 grep -q "reloaded" "$TMP/daemon.log"
status_is 200 "after SIGHUP the new key is there" http://x/v1/keys/other
wait "$LOAD"; check "no request failed during the reload" test $? = 0
_has "$TMP/load.out" "load during reload" "unavailable 0 failed 0"
printf 'listen: [unix:%s]\nbogus: 1\n' "$SOCK" >"$TMP/f.yaml"
kill -HUP "$DPID"
wait_until 10 grep -q "reload refused" "$TMP/daemon.log"
_has "$TMP/daemon.log" log "f.yaml:2: unknown key 'bogus'"
status_is 200 "a bad configuration is refused and the old one keeps serving" http://x/v1/keys/other
cp "$TMP/f2.yaml" "$TMP/f.yaml"

# --- SIGTERM --------------------------------------------------------------
"$FEDSIGND_LOAD" -u "$SOCK" -k md-signing -c 2 -t 10 >"$TMP/load.out" 2>&1 &
LOAD=$!
sleep 1
stopped
wait "$LOAD"
check "SIGTERM: requests under way were answered, none failed but by 503 or a closed socket" \
    bash -c "grep -q 'ok [1-9]' '$TMP/load.out'"
_has "$TMP/daemon.log" log "stopped"
check "SIGTERM: the socket is removed" test ! -e "$SOCK"

# --- in the background, as user nobody ------------------------------------
# SoftHSM2 reads its files on every operation: the daemon's user needs
# them.  The PIN file stays root's (0600): it was opened before the drop.
chown -R nobody "$TMP/hsm"
chmod 711 "$TMP"
sed -i 's/^health-interval: .*/health-interval: 1h\nuser: nobody/' "$TMP/f.yaml"
expect 0 "without -d fedsignd goes into the background once ready" "$FEDSIGND" -c "$TMP/f.yaml"
status_is 200 "the background daemon answers" http://x/status
BG=$(json "d['pid']")
DAEMONS+=("$BG")
check "it runs as nobody" grep -Eq "^Uid:\s+65534\s+65534\s+65534" /proc/$BG/status
check "it cannot regain privileges (no_new_privs)" grep -Eq "^NoNewPrivs:\s+1" /proc/$BG/status
check "it is not dumpable: its /proc files stay root's" test "$(stat -c %u /proc/$BG/status)" = 0
check "it signs as nobody" "$FEDSIGND_LOAD" -u "$SOCK" -k md-signing -c 2 -n 100 -V
kill -TERM "$BG"; wait_until 10 bash -c "! kill -0 $BG"
check "it stops on SIGTERM" bash -c "! kill -0 $BG 2>/dev/null"
chown -R root "$TMP/hsm"
printf 'wrong\n' >"$TMP/badpin"; chmod 600 "$TMP/badpin"
sed "s|file:$TMP/pin\"|file:$TMP/badpin\"|g" "$TMP/f2.yaml" >"$TMP/b.yaml"
expect 1 "a start that fails in the background says why and exits 1" "$FEDSIGND" -c "$TMP/b.yaml"
err_has "CKR_PIN_INCORRECT"

done_testing
