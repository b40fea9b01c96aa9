# Helpers for the fedsignd tests (bash), sourced after tests/lib.sh.
: "${FEDSIGND:?FEDSIGND must name the fedsignd binary}"
: "${P11_IMPORT:?P11_IMPORT must name the p11-import helper}"
: "${FEDSIGND_LOAD:?FEDSIGND_LOAD must name the load client}"
SHIM=${SHIM:-$BUILDDIR/tests/p11/libfs_p11shim.so}
SOCK=$TMP/sock
DAEMONS=()

# Stop every daemon still running, then clean up as lib.sh does.
_cleanup() {
	local p
	for p in "${DAEMONS[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in "${DAEMONS[@]}"; do
		wait "$p" 2>/dev/null
	done
	rm -rf "$TMP"
}
trap _cleanup EXIT

# tokens LABEL...: a SoftHSM2 token per label, each holding the same RSA
# key pair ($TMP/k.pem, as two HSMs restored from one backup hold it)
# and its certificate ($TMP/k.crt), labelled md-signing with id 0102.
tokens() {
	local t
	[ -f "$TMP/pin" ] || { (umask 077; printf 'fsd-Pin-738201\n' >"$TMP/pin"; printf '87654321\n' >"$TMP/sopin"); }
	[ -f "$TMP/k.pem" ] || {
		openssl genrsa -out "$TMP/k.pem" 2048 2>/dev/null
		openssl req -new -x509 -key "$TMP/k.pem" -subj "/CN=fedsignd test" -days 30 \
		    -out "$TMP/k.crt" 2>/dev/null
		openssl pkey -in "$TMP/k.pem" -pubout -out "$TMP/pub.pem"
	}
	for t in "$@"; do
		new_token "$t"
		"$P11_IMPORT" "$SOFTHSM_MODULE" "$t" "$TMP/pin" "$TMP/k.pem" md-signing 0102 "$TMP/k.crt" ||
		    echo "# p11-import on $t failed"
	done
	# The shim loads a copy of SoftHSM2 of its own: its unplug and its
	# finalisation leave the tokens opened through SoftHSM2 itself alone.
	cp "$SOFTHSM_MODULE" "$TMP/softhsm-copy.so"
}

# direct TOKEN / shimmed TOKEN: the URI of the key on a token, straight
# or through the shim (slow, unpluggable: FS_SHIM_* in the environment).
direct() { echo "pkcs11:token=$1;object=md-signing?module-path=$SOFTHSM_MODULE&pin-source=file:$TMP/pin"; }
shimmed() { echo "pkcs11:token=$1;object=md-signing?module-path=$SHIM&pin-source=file:$TMP/pin"; }

# start CONFIG [VAR=VALUE...]: run fedsignd -d in the background, messages
# to $TMP/daemon.log, and wait until it answers on $SOCK; $DPID is its pid.
start() {
	local conf=$1 i; shift
	: >"$TMP/daemon.log"
	env FS_SHIM_MODULE="$TMP/softhsm-copy.so" "$@" "$FEDSIGND" -d -c "$conf" \
	    >>"$TMP/daemon.log" 2>&1 &
	DPID=$!
	DAEMONS+=("$DPID")
	for i in $(seq 1 300); do
		grep -q "ready:" "$TMP/daemon.log" && return 0
		kill -0 "$DPID" 2>/dev/null || break
		sleep 0.1
	done
	echo "# fedsignd did not start:"; sed 's/^/#   /' "$TMP/daemon.log"
	return 1
}

# stop: SIGTERM, and its exit status.
stop() {
	kill -TERM "$DPID" 2>/dev/null
	wait "$DPID"
}

# stopped [DESC]: SIGTERM; fedsignd must exit 0 (a sanitizer's finding
# would not).  When it does not, the end of its messages (the sanitizer's
# report) goes into the test's output and to stderr, which meson prints.
stopped() {
	local rc
	stop
	rc=$?
	check "${1:-SIGTERM: fedsignd exits 0} (exit $rc)" test "$rc" = 0
	[ "$rc" = 0 ] || tail -n 80 "$TMP/daemon.log" | sed 's/^/# daemon: /' | tee /dev/stderr
	return "$rc"
}

# api [CURL-ARGS...]: curl on the unix socket; the body to $TMP/body, the
# status on stdout.
api() {
	curl -s -o "$TMP/body" -w '%{http_code}' --unix-socket "$SOCK" "$@"
}

# status_is CODE DESC [CURL-ARGS...]: an API call answered CODE.
status_is() {
	local want=$1 desc=$2 got; shift 2
	got=$(api "$@")
	if [ "$got" = "$want" ]; then
		ok "$desc"
	else
		nok "$desc (HTTP $got, expected $want)"
		sed 's/^/# /' "$TMP/body" | head -5
	fi
}

# body_has TEXT: the last answer has TEXT.
body_has() { _has "$TMP/body" answer "$1"; }

# json EXPR: a value of the last answer (python3 expression on d).
json() { python3 -c "import json,sys; d=json.load(open('$TMP/body')); print($1)"; }

# verifies MESSAGE-FILE SIG-BASE64 [DIGEST]: an RSA PKCS#1 v1.5 signature of
# the message by the test key, as openssl checks it.
verifies() {
	printf '%s' "$2" | base64 -d >"$TMP/sig.bin" &&
	    openssl dgst -"${3:-sha256}" -verify "$TMP/pub.pem" -signature "$TMP/sig.bin" "$1" >/dev/null
}
