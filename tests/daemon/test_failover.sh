#!/bin/bash
# fedsignd over several copies of one key: balancing, a token unplugged
# mid-load (the shim's FS_SHIM_UNPLUG) with and without a second copy up,
# recovery with a new login after the replug, a token that stops
# answering (token-timeout), a single-session token (FS_SHIM_SMARTCARD),
# and copies that hold different key pairs refused at start.
#
# hsm1 is opened through SoftHSM2 itself; hsm2 (and in part 3 hsm1 too)
# through the shim, which loads its own copy of SoftHSM2: unplugging the
# shim's tokens leaves the direct one alone.
. "$SRCDIR/tests/lib.sh"
. "$SRCDIR/tests/daemon/lib-daemon.sh"

tokens hsm1 hsm2
PLUG=$TMP/unplugged
FAULT=$TMP/fault
COUNT=$TMP/shim-calls

# conf FILE URI...: a configuration with key md-signing on these copies.
conf() {
	local f=$1 u; shift
	{ printf 'listen: [unix:%s]\naudit-log: %s/audit.jsonl\n' "$SOCK" "$TMP"
	  printf 'health-interval: 1s\nretry-interval: 1s\ntoken-timeout: 2s\n'
	  printf 'keys:\n  md-signing:\n    sessions: 2\n    tokens:\n'
	  for u in "$@"; do printf '      - "%s"\n' "$u"; done; } >"$f"
}
# state LABEL: the token's state in /status ("up", "down").
state() {
	api http://x/status >/dev/null
	json "[t['state'] for t in d['keys']['md-signing']['tokens'] if t['label'] == '$1'][0]"
}
is_state() { [ "$(state "$1")" = "$2" ]; }
# metric NAME-AND-LABELS: its value in /metrics (empty when absent).
metric() {
	api http://x/metrics >/dev/null
	grep -F "$1" "$TMP/body" | grep -v '^#' | head -1 | awk '{print $NF}'
}
logins() { grep -c '^C_Login$' "$COUNT" 2>/dev/null || echo 0; }
# field NAME LINE: the number after NAME in fedsignd-load's line.
field() { awk -v k="$1" '{ for (i = 1; i < NF; i++) if ($i == k) { print $(i + 1); exit } }' <<<"$2"; }

# --- 1. balancing over two healthy copies ---------------------------------
conf "$TMP/f.yaml" "$(direct hsm1)" "$(shimmed hsm2)"
start "$TMP/f.yaml" FS_SHIM_UNPLUG="$PLUG" FS_SHIM_FAULT="$FAULT" \
    FS_SHIM_COUNT="$COUNT" || { nok "fedsignd starts on hsm1 and hsm2"; done_testing; }
ok "fedsignd starts on hsm1 and hsm2"
check "each token is logged in to once at start" test "$(logins)" = 1
expect 0 "400 requests from 4 threads, every signature verified" \
    "$FEDSIGND_LOAD" -u "$SOCK" -k md-signing -c 4 -n 400 -V
out_has "ok 400 busy 0 unavailable 0 failed 0"
api http://x/status >/dev/null
n1=$(json "[t['signatures'] for t in d['keys']['md-signing']['tokens'] if t['label'] == 'hsm1'][0]")
n2=$(json "[t['signatures'] for t in d['keys']['md-signing']['tokens'] if t['label'] == 'hsm2'][0]")
echo "# signatures: hsm1 $n1, hsm2 $n2"
check "the load is spread: each token made at least a fifth of it" \
    test "$n1" -ge 80 -a "$n2" -ge 80
check "/metrics counts the signatures of each token" \
    test "$(metric 'fedsignd_signatures_total{key="md-signing",token="hsm2"')" = "$n2"
check "no further login for the signatures" test "$(logins)" = 1

# --- 2. hsm2 unplugged mid-load: no failed request, no wrong signature ----
"$FEDSIGND_LOAD" -u "$SOCK" -k md-signing -c 4 -t 6 -V >"$TMP/load.out" 2>&1 &
LOAD=$!
sleep 1.5
touch "$PLUG"
check "hsm2 is marked down" wait_until 10 is_state hsm2 down
status_is 200 "/status stays 200 while hsm1 is up" http://x/status
check "/status says why hsm2 is down" bash -c "python3 -c \"import json; d=json.load(open('$TMP/body')); t=[t for t in d['keys']['md-signing']['tokens'] if t['label']=='hsm2'][0]; assert 'CKR_' in t['reason'], t\""
check "/metrics: fedsignd_token_up of hsm2 is 0" \
    test "$(metric 'fedsignd_token_up{key="md-signing",token="hsm2"')" = 0
check "/metrics: fedsignd_token_up of hsm1 is 1" \
    test "$(metric 'fedsignd_token_up{key="md-signing",token="hsm1"')" = 1
check "/metrics counts the token's errors by CKR code" \
    bash -c "grep -E 'fedsignd_token_errors_total\{key=\"md-signing\",token=\"hsm2\",code=\"CKR_(DEVICE_REMOVED|SESSION_HANDLE_INVALID|TOKEN_NOT_PRESENT)\"\} [1-9]' '$TMP/body'"
sleep 1
before=$(logins)
rm -f "$PLUG"
check "hsm2 comes back after the replug, without a restart" wait_until 15 is_state hsm2 up
check "it was logged in to again (the PIN read again from its file)" test "$(logins)" -gt "$before"
wait "$LOAD"; rc=$?
sed 's/^/# /' "$TMP/load.out"
check "the load client saw no failure (and verified every signature)" test "$rc" = 0
_has "$TMP/load.out" "load across the unplug" "unavailable 0 failed 0"
check "/metrics: fedsignd_token_up of hsm2 is 1 again" \
    test "$(metric 'fedsignd_token_up{key="md-signing",token="hsm2"')" = 1
check "/metrics: hsm2 was opened twice" \
    test "$(metric 'fedsignd_token_opens_total{key="md-signing",token="hsm2"')" -ge 2
expect 0 "hsm2 signs again after the replug" \
    "$FEDSIGND_LOAD" -u "$SOCK" -k md-signing -c 4 -n 200 -V
api http://x/status >/dev/null
m2=$(json "[t['signatures'] for t in d['keys']['md-signing']['tokens'] if t['label'] == 'hsm2'][0]")
check "hsm2 takes its share again ($n2 -> $m2)" test "$m2" -gt $((n2 + 20))
_has "$TMP/daemon.log" log "is up again"

# --- 2b. hsm2 fails signatures mid-load with other codes ------------------
# The issue's list: CKR_DEVICE_ERROR and CKR_SESSION_HANDLE_INVALID mark
# the copy down like an unplug; its requests go to hsm1; it is opened
# again once it signs again.
for code in CKR_DEVICE_ERROR CKR_SESSION_HANDLE_INVALID; do
	"$FEDSIGND_LOAD" -u "$SOCK" -k md-signing -c 4 -t 5 -V >"$TMP/load.out" 2>&1 &
	LOAD=$!
	sleep 1
	# Whole or not at all: a C_Sign reading it half-written would fail
	# with another code.
	printf '%s\n' "$code" >"$FAULT.new" && mv "$FAULT.new" "$FAULT"
	check "$code: hsm2 is marked down" wait_until 10 is_state hsm2 down
	check "$code: /status names the code" bash -c "python3 -c \"import json; d=json.load(open('$TMP/body')); t=[t for t in d['keys']['md-signing']['tokens'] if t['label']=='hsm2'][0]; assert '$code' in t['reason'], t\""
	check "$code: /metrics counts it" test "$(metric "fedsignd_token_errors_total{key=\"md-signing\",token=\"hsm2\",code=\"$code\"}")" -ge 1
	sleep 1
	rm -f "$FAULT"
	check "$code: hsm2 comes back once it signs again" wait_until 15 is_state hsm2 up
	wait "$LOAD"; rc=$?
	sed 's/^/# /' "$TMP/load.out"
	check "$code: the load client saw no failure (every signature verified)" test "$rc" = 0
	_has "$TMP/load.out" "load across $code" "unavailable 0 failed 0"
done
stopped
# SIGTERM logs out of and closes every session of hsm2 and finalises the
# module, after the last signature.
tail_calls=$(awk '/^C_Sign$/ { n = NR } { l[NR] = $0 } END { for (i = n + 1; i <= NR; i++) print l[i] }' "$COUNT")
echo "# after the last C_Sign: $(echo $tail_calls)"
check "SIGTERM: hsm2 logged out" test "$(grep -cx C_Logout <<<"$tail_calls")" -ge 1
check "SIGTERM: both sessions of hsm2 closed" test "$(grep -cx C_CloseSession <<<"$tail_calls")" -ge 2
check "SIGTERM: the module finalised, last" test "$(tail -1 <<<"$tail_calls")" = C_Finalize

# --- 3. every copy unplugged: health checks, clear 503s, then recovery ----
# No request after the unplug: the test signatures (health-interval 1s)
# must find it.  A second key on hsm1 (direct) stays up: /status is 503
# as soon as one key has no healthy token.
conf "$TMP/g.yaml" "$(shimmed hsm1)" "$(shimmed hsm2)"
printf '  spare:\n    tokens: ["%s"]\n' "$(direct hsm1)" >>"$TMP/g.yaml"
rm -f "$COUNT"
start "$TMP/g.yaml" FS_SHIM_UNPLUG="$PLUG" FS_SHIM_COUNT="$COUNT" ||
    nok "fedsignd starts on the shim's hsm1 and hsm2"
status_is 200 "/status is 200 with every token up" http://x/status
check "idle tokens make test signatures every health-interval" wait_until 10 bash -c \
    "curl -s --unix-socket '$SOCK' http://x/metrics | grep -Eq 'fedsignd_health_checks_total\{key=\"md-signing\",token=\"hsm2\",result=\"ok\"\} [1-9]'"
api http://x/status >/dev/null
check "/status shows each token's last test signature" \
    python3 -c "import json; d=json.load(open('$TMP/body')); assert all(t['last_check_ok'] and t['last_check'] for t in d['keys']['md-signing']['tokens']), d"
touch "$PLUG"
check "the test signatures find both tokens gone, with no request sent" \
    wait_until 10 bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' --unix-socket '$SOCK' http://x/status)\" = 503 ]"
status_is 503 "/status is 503 when one key has no healthy token" http://x/status
check "/status names both tokens, down" \
    test "$(json "' '.join(t['label']+':'+t['state'] for t in d['keys']['md-signing']['tokens'])")" = "hsm1:down hsm2:down"
check "/status: the other key is still up" test "$(json "d['keys']['spare']['tokens'][0]['state']")" = up
check "/metrics counts the failed test signatures" \
    test "$(metric 'fedsignd_health_checks_total{key="md-signing",token="hsm1",result="failed"')" -ge 1
d=$(printf 'x' | openssl dgst -sha256 -binary | base64 -w0)
status_is 503 "with no token up a signature request is 503" \
    --data "{\"alg\":\"sha256\",\"digest\":\"$d\"}" http://x/v1/keys/md-signing/sign
check "the 503 is JSON with error and detail" \
    python3 -c "import json; d=json.load(open('$TMP/body')); assert d['error'] and d['detail'], d"
check "the 503 has no signature" bash -c "! grep -q signature '$TMP/body'"
status_is 200 "the other key signs" \
    --data "{\"alg\":\"sha256\",\"digest\":\"$d\"}" http://x/v1/keys/spare/sign
expect 0 "the load client gets only 503s, no wrong answer" \
    "$FEDSIGND_LOAD" -u "$SOCK" -k md-signing -c 2 -n 20
out_has "ok 0 "
out_has "failed 0"
rm -f "$PLUG"
check "both tokens come back" wait_until 15 bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' --unix-socket '$SOCK' http://x/status)\" = 200 ]"
check "they were logged in to again" test "$(logins)" -ge 4
expect 0 "signing works again" "$FEDSIGND_LOAD" -u "$SOCK" -k md-signing -c 2 -n 50 -V
out_has "ok 50 "
stopped

# --- 4. a token that stops answering: token-timeout -----------------------
# The shim's hsm2 signs once every 5 s: each call outlasts token-timeout
# (2 s); the request goes to hsm1 and hsm2 is marked down.
conf "$TMP/h.yaml" "$(direct hsm1)" "$(shimmed hsm2)"
start "$TMP/h.yaml" FS_SHIM_SIGN_RATE=0.2 ||
    nok "fedsignd starts with a slow hsm2"
t0=$(date +%s.%N)
expect 0 "40 requests from 4 threads while hsm2 hangs: none fails" \
    "$FEDSIGND_LOAD" -u "$SOCK" -k md-signing -c 4 -n 40 -V
out_has "ok 40 busy 0 unavailable 0 failed 0"
t1=$(date +%s.%N)
check "they took well under 40 slow signatures (${t0%.*} -> ${t1%.*})" \
    python3 -c "assert $t1 - $t0 < 30"
check "hsm2 was marked down for not answering" wait_until 5 is_state hsm2 down
api http://x/status >/dev/null
check "its reason says it timed out" bash -c "python3 -c \"import json; d=json.load(open('$TMP/body')); t=[t for t in d['keys']['md-signing']['tokens'] if t['label']=='hsm2'][0]; print(t); assert 'token-timeout' in t.get('reason','') or 'did not return' in t.get('reason',''), t\""
status_is 200 "/status is 200: hsm1 is up" http://x/status
t0=$(date +%s)
stopped "SIGTERM with a call stuck in a module: fedsignd exits 0"
check "and quickly" test $(( $(date +%s) - t0 )) -le 10

# --- 4b. a token that returns a wrong signature ---------------------------
# The shim's hsm2 cuts its signatures short: they do not verify, so the
# daemon never hands one out, marks hsm2 down and signs on hsm1.
start "$TMP/h.yaml" FS_SHIM_SIGLEN=255 || nok "fedsignd starts with a lying hsm2"
expect 0 "100 requests while hsm2 returns bad signatures: all good" \
    "$FEDSIGND_LOAD" -u "$SOCK" -k md-signing -c 4 -n 100 -V
out_has "ok 100 busy 0 unavailable 0 failed 0"
check "hsm2 is kept down: its test signature does not verify" is_state hsm2 down
api http://x/status >/dev/null
check "its reason names the bad signature" bash -c "python3 -c \"import json; d=json.load(open('$TMP/body')); t=[t for t in d['keys']['md-signing']['tokens'] if t['label']=='hsm2'][0]; assert 'signature' in t['reason'], t\""
check "/metrics: hsm2 made no signature that was handed out" \
    test "$(metric 'fedsignd_signatures_total{key="md-signing",token="hsm2"')" = 0
stopped

# --- 4c. the only copy stops answering ----------------------------------
# With one copy, a requester signs on its own thread (no hand-off to a
# session's thread).  A call that does not return: the watchdog marks the
# copy down, later requests get a 503 at once, the stuck one gets its 503
# when the call returns, and neither SIGHUP nor SIGTERM waits for it.
conf "$TMP/one.yaml" "$(shimmed hsm2)"
rm -f "$FAULT"
start "$TMP/one.yaml" FS_SHIM_FAULT="$FAULT" || nok "fedsignd starts on hsm2 alone"
expect 0 "one copy: 50 requests from 2 threads, every signature verified" \
    "$FEDSIGND_LOAD" -u "$SOCK" -k md-signing -c 2 -n 50 -V
out_has "ok 50 busy 0 unavailable 0 failed 0"
echo HANG >"$FAULT.new" && mv "$FAULT.new" "$FAULT"
"$FEDSIGND_LOAD" -u "$SOCK" -k md-signing -c 1 -n 1 >"$TMP/stuck.out" 2>&1 &
STUCK=$!
check "one copy hanging: marked down by the watchdog" wait_until 10 is_state hsm2 down
status_is 503 "one copy hanging: /status is 503" http://x/status
t0=$(date +%s)
expect 0 "one copy hanging: the next request is refused" \
    "$FEDSIGND_LOAD" -u "$SOCK" -k md-signing -c 1 -n 1
out_has "ok 0 busy 0 unavailable 1 failed 0"
check "and at once" test $(( $(date +%s) - t0 )) -le 2
check "the stuck request has no answer yet" kill -0 "$STUCK"
rm -f "$FAULT"
wait "$STUCK"
sed 's/^/# /' "$TMP/stuck.out"
_has "$TMP/stuck.out" "the stuck request, once the call returned" "ok 0 busy 0 unavailable 1"
check "hsm2 comes back up" wait_until 15 is_state hsm2 up
expect 0 "and signs again" "$FEDSIGND_LOAD" -u "$SOCK" -k md-signing -c 2 -n 20 -V
out_has "ok 20 busy 0 unavailable 0 failed 0"
echo HANG >"$FAULT.new" && mv "$FAULT.new" "$FAULT"
"$FEDSIGND_LOAD" -u "$SOCK" -k md-signing -c 1 -n 1 >"$TMP/stuck.out" 2>&1 &
STUCK=$!
check "hanging again: marked down" wait_until 10 is_state hsm2 down
kill -HUP "$DPID"
check "SIGHUP with a request stuck: the reload completes" \
    wait_until 10 grep -q "reloaded" "$TMP/daemon.log"
_has "$TMP/daemon.log" log "a request is stuck in a call into a module"
status_is 503 "and fedsignd still answers" http://x/status
t0=$(date +%s)
kill -TERM "$DPID"
check "SIGTERM with a request stuck on its own thread: fedsignd exits" \
    wait_until 15 bash -c "! kill -0 $DPID"
wait "$DPID"; rc=$?
check "with exit status 0 (exit $rc)" test "$rc" = 0
check "within 15 s" test $(( $(date +%s) - t0 )) -le 15
_has "$TMP/daemon.log" log "stuck in a call into a module: stopping without it"
rm -f "$FAULT"
wait "$STUCK" 2>/dev/null

# --- 5. a token that allows one session ---------------------------------
conf "$TMP/s.yaml" "$(shimmed hsm2)"
start "$TMP/s.yaml" FS_SHIM_SMARTCARD=1 FS_SHIM_SIGN_RATE=100 ||
    nok "fedsignd starts on a SmartCard-HSM"
status_is 200 "GET /v1/keys/md-signing" http://x/v1/keys/md-signing
check "the one-session token gets one session (sessions: 2 asked)" \
    test "$(json "d['tokens'][0]['sessions']")" = 1
check "and the key says one request at a time" test "$(json "d['parallel']")" = 1
expect 0 "100 requests from 4 threads on one session: all verified" \
    "$FEDSIGND_LOAD" -u "$SOCK" -k md-signing -c 4 -n 100 -V
out_has "ok 100 busy 0 unavailable 0 failed 0"
stopped

# --- 6. a bounded queue: a flood beyond it gets 503 + Retry-After ---------
conf "$TMP/q.yaml" "$(shimmed hsm2)"
printf '    queue: 2\nrequest-timeout: 2s\n' >>"$TMP/q.yaml"
sed -i 's/sessions: 2/sessions: 1/' "$TMP/q.yaml"
# (In a sanitizer build ASan's quarantine would hold freed memory: off.)
start "$TMP/q.yaml" FS_SHIM_SIGN_RATE=4 \
    ASAN_OPTIONS="${ASAN_OPTIONS:-}:quarantine_size_mb=0:thread_local_quarantine_size_kb=0" ||
    nok "fedsignd starts with queue: 2"
expect 0 "16 threads at a 4/s token with a queue of 2: some are turned away" \
    "$FEDSIGND_LOAD" -u "$SOCK" -k md-signing -c 16 -n 48
check "some were 503 (busy)" bash -c "! grep -q 'busy 0 ' '$TMP/out'"
check "some were signed" bash -c "! grep -q 'ok 0 ' '$TMP/out'"
out_has "failed 0"
d=$(printf 'y' | openssl dgst -sha256 -binary | base64 -w0)
CURLS=()
for i in 1 2 3 4 5 6 7 8; do
	curl -s -D "$TMP/hdr.$i" -o "$TMP/body.$i" --unix-socket "$SOCK" \
	    --data "{\"alg\":\"sha256\",\"digest\":\"$d\"}" http://x/v1/keys/md-signing/sign &
	CURLS+=($!)
done
wait "${CURLS[@]}"
full=$(grep -l '^HTTP/1.1 503' "$TMP"/hdr.* | head -1)
check "of 8 requests at once, one beyond the queue is 503" test -n "$full"
check "with Retry-After" grep -qi '^Retry-After: [0-9]' "${full:-/dev/null}"
cp "${full%/*}/body.${full##*.}" "$TMP/body" 2>/dev/null
check "its error says the queue is full" test "$(json "d['error']")" = queue-full
# A flood far beyond the queue: 503s, and the daemon's memory stays flat.
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$DPID/status"; }
# Two floods first: thread stacks and allocator caches reach their size.
"$FEDSIGND_LOAD" -u "$SOCK" -k md-signing -c 32 -t 3 >/dev/null 2>&1
"$FEDSIGND_LOAD" -u "$SOCK" -k md-signing -c 32 -t 3 >/dev/null 2>&1
r1=$(rss)
expect 0 "a flood of 32 threads for 4 s: no request fails but by 503" \
    "$FEDSIGND_LOAD" -u "$SOCK" -k md-signing -c 32 -t 4
check "most of the flood got 503" test "$(field busy "$(cat "$TMP/out")")" -gt 100
sed 's/^/# flood: /' "$TMP/out"
"$FEDSIGND_LOAD" -u "$SOCK" -k md-signing -c 32 -t 4 >/dev/null 2>&1
r2=$(rss)
echo "# VmRSS after two floods ${r1} kB, after two more ${r2} kB"
# Under the sanitizers the RSS grows by some 50 bytes a request (ASan's
# own bookkeeping: the plain build stays flat, and LeakSanitizer finds
# nothing at exit), so the bound is looser there, but still a bound.
limit=4096
[ "${FSD_SANITIZE:-none}" = none ] || limit=32768
check "memory stays flat under the flood (grew less than $((limit / 1024)) MB)" test $((r2 - r1)) -lt $limit
status_is 200 "the daemon answers after the flood" http://x/status
# A client that sends half a request and waits: request-timeout (2 s).
check "a stalled request is cut off after request-timeout" python3 -c "
import socket, time
s = socket.socket(socket.AF_UNIX); s.connect('$SOCK')
s.sendall(b'POST /v1/keys/md-signing/sign HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{')
t0 = time.time(); s.settimeout(15)
while s.recv(4096): pass
t = time.time() - t0; print('closed after %.1f s' % t); assert 1.5 <= t <= 8, t"
stopped

# --- 6b. a wrong PIN: that copy stays down, untried, until SIGHUP ---------
(umask 077; printf 'wrong-pin\n' >"$TMP/pin2")
conf "$TMP/p.yaml" "$(direct hsm1)" "$(shimmed hsm2 | sed "s|file:$TMP/pin|file:$TMP/pin2|")"
rm -f "$COUNT"
start "$TMP/p.yaml" FS_SHIM_COUNT="$COUNT" || nok "fedsignd starts with hsm2's PIN wrong"
check "hsm2 is down" is_state hsm2 down
api http://x/status >/dev/null
check "its reason is CKR_PIN_INCORRECT" grep -q CKR_PIN_INCORRECT "$TMP/body"
_has "$TMP/daemon.log" log "the PIN is not tried again before SIGHUP"
expect 0 "hsm1 signs meanwhile" "$FEDSIGND_LOAD" -u "$SOCK" -k md-signing -c 2 -n 50 -V
sleep 2.5
check "hsm2 is not tried again, for 2.5 s of retry-interval 1s (that could lock the token)" \
    test "$(logins)" = 1
check "hsm2 is still down" is_state hsm2 down
# The file is corrected in place: fedsignd keeps it open from the start.
cat "$TMP/pin" >"$TMP/pin2"
kill -HUP "$DPID"
check "after SIGHUP hsm2 gets its one new try, and is up" wait_until 10 is_state hsm2 up
check "with one more login" test "$(logins)" = 2
expect 0 "both sign" "$FEDSIGND_LOAD" -u "$SOCK" -k md-signing -c 4 -n 200 -V
stopped

# --- 7. copies that hold different key pairs are refused at start ---------
openssl genrsa -out "$TMP/other.pem" 2048 2>/dev/null
openssl req -new -x509 -key "$TMP/other.pem" -subj "/CN=other" -days 30 -out "$TMP/other.crt" 2>/dev/null
new_token hsm3
"$P11_IMPORT" "$SOFTHSM_MODULE" hsm3 "$TMP/pin" "$TMP/other.pem" md-signing 0102 "$TMP/other.crt" ||
    echo "# p11-import on hsm3 failed"
conf "$TMP/x.yaml" "$(direct hsm1)" "$(direct hsm3)"
rm -f "$SOCK"
expect 1 "a key whose copies hold different key pairs does not start" \
    "$FEDSIGND" -d -c "$TMP/x.yaml"
err_has "holds another key pair"
err_has "key 'md-signing'"
check "it leaves no socket behind" test ! -e "$SOCK"

done_testing
