# Shared helpers for the command-level tests (bash).  Each test script
# sources this, makes what it needs under $TMP, and ends with done_testing.
# Output is TAP: one "ok"/"not ok" line per assertion.
set -u

: "${FEDSIGN:?FEDSIGN must name the fedsign binary}"
: "${SRCDIR:?SRCDIR must name the source tree}"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/fedsign-test.XXXXXX")
# cleanup_tmp: $TMP goes, and first the file system a test mounted in it
# (MOUNTED), which rm -rf could not remove.  A test that sets a trap of
# its own calls it there.
MOUNTED=
cleanup_tmp() {
	[ -z "$MOUNTED" ] || umount "$MOUNTED" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup_tmp EXIT
CORPUS=${FEDSIGN_CORPUS:-$SRCDIR/tests/data/corpus}
SOFTHSM_MODULE=/usr/lib/softhsm/libsofthsm2.so
unset FEDSIGN_PIN

_n=0
_failed=0

ok()  { _n=$((_n + 1)); echo "ok $_n - $*"; }
nok() { _n=$((_n + 1)); _failed=$((_failed + 1)); echo "not ok $_n - $*"; }

# check DESC CMD...: one assertion, passing when CMD succeeds.
check() {
	local desc=$1; shift
	if "$@" >"$TMP/check.out" 2>&1; then ok "$desc"; else nok "$desc"; sed "s/^/# /" "$TMP/check.out" | head -5; fi
}

# expect CODE DESC CMD...: run CMD (stdout to $TMP/out, stderr to $TMP/err)
# and assert its exit code.
expect() {
	local want=$1 desc=$2 got; shift 2
	"$@" >"$TMP/out" 2>"$TMP/err"
	got=$?
	if [ "$got" -eq "$want" ]; then
		ok "$desc"
	else
		nok "$desc (exit $got, expected $want)"
		sed 's/^/# /' "$TMP/err" | head -20
	fi
}

# _has FILE WHAT TEXT: FILE contains TEXT (a fixed string).
_has() {
	if grep -qF -- "$3" "$1"; then
		ok "$2 has '$3'"
	else
		nok "$2 lacks '$3'"
		sed 's/^/# /' "$1" | head -20
	fi
}

# err_has TEXT / out_has TEXT: the last expect's stderr / stdout has TEXT.
err_has() { _has "$TMP/err" message "$1"; }
out_has() { _has "$TMP/out" output "$1"; }

# is DESC GOT WANT: one assertion, GOT equals WANT.
is() {
	if [ "$2" = "$3" ]; then ok "$1"; else nok "$1 (got '$2', expected '$3')"; fi
}

epoch() { date -u -d "$1" +%s 2>/dev/null; }        # TIME: seconds since 1970

# tree_of DIR: every name under DIR with its type, mode and link target, and
# the SHA-256 of every file.  Equal output: byte-identical trees.
tree_of() {
	[ -d "$1" ] || { echo "(no $1)"; return; }
	(cd "$1" && find . -printf '%P %y %m %l\n' | sort && find . -type f -exec sha256sum {} + | sort -k2)
}
snap() { tree_of "$2" >"$TMP/snap.$1"; }             # NAME DIR
# same_tree DESC NAME DIR [FILTER]: DIR is byte-identical to snapshot NAME
# (both without the lines matching the grep -E pattern FILTER).
same_tree() {
	local f=${4:-}
	without() { if [ -n "$f" ]; then grep -Ev -- "$f"; else cat; fi; }
	if cmp -s <(tree_of "$3" | without) <(without <"$TMP/snap.$2"); then
		ok "$1"
	else
		nok "$1"
		diff <(without <"$TMP/snap.$2") <(tree_of "$3" | without) | head -10 | sed 's/^/# /'
	fi
}

# wait_until SECONDS CMD...: poll CMD every 0.2 s.
wait_until() {
	local n=$(( $1 * 5 )); shift
	while [ "$n" -gt 0 ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
		n=$((n - 1))
	done
	return 1
}

# calls NAME: the PKCS#11 calls NAME the shim counted in $FS_SHIM_COUNT.
calls() { grep -cx "$1" "$FS_SHIM_COUNT"; }

# consumers DESC [harness options] FILE CERT: the interop harness
# (tests/interop/consumers.sh: xmlsec1, samlsign, and mdquery through the
# Signature and RequireValidUntil filters), each of its lines one
# assertion here.
consumers() {
	local desc=$1 line rc; shift
	"$SRCDIR/tests/interop/consumers.sh" "$@" >"$TMP/cons.out" 2>"$TMP/cons.err"
	rc=$?
	if ! grep -qE '^(not )?ok - ' "$TMP/cons.out"; then
		nok "$desc: consumers.sh ran no check (exit $rc)"
		sed 's/^/# /' "$TMP/cons.err" | head -20
		return
	fi
	while IFS= read -r line; do
		case $line in
		"ok - "*) ok "$desc: ${line#ok - }" ;;
		"not ok - "*) nok "$desc: ${line#not ok - }" ;;
		"#"*) echo "$line" ;;
		esac
	done <"$TMP/cons.out"
	[ -s "$TMP/cons.err" ] && sed 's/^/# /' "$TMP/cons.err" | head -10
	return 0
}

done_testing() {
	echo "1..$_n"
	[ "$_failed" -eq 0 ]
	exit $?
}

# new_token LABEL: a fresh SoftHSM2 token store under $TMP/hsm (its own
# softhsm2.conf, never the system's), one token LABEL initialised with
# user PIN from $TMP/pin and SO PIN from $TMP/sopin.
new_token() {
	local label=$1
	mkdir -p "$TMP/hsm/tokens"
	printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n' \
	    "$TMP/hsm/tokens" >"$TMP/hsm/softhsm2.conf"
	export SOFTHSM2_CONF=$TMP/hsm/softhsm2.conf
	[ -f "$TMP/pin" ] || { (umask 077; printf '123456\n' >"$TMP/pin"; printf '87654321\n' >"$TMP/sopin"); }
	"$FEDSIGN" token init --module "$SOFTHSM_MODULE" --label "$label" \
	    --so-pin-source "file:$TMP/sopin" --pin-source "file:$TMP/pin" >/dev/null
}

# key_uri TOKEN OBJECT: the URI of a key on the test token, PIN from $TMP/pin.
key_uri() {
	echo "pkcs11:token=$1;object=$2?module-path=$SOFTHSM_MODULE&pin-source=file:$TMP/pin"
}

# pem_key TYPE FILE: a PEM private key (rsa2048, rsa3072, ecp256, ecp384)
# and a self-signed certificate FILE.crt for it.
pem_key() {
	local type=$1 out=$2
	case $type in
	rsa*) openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:${type#rsa} -out "$out" 2>/dev/null ;;
	ecp256) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$out" 2>/dev/null ;;
	ecp384) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$out" 2>/dev/null ;;
	esac
	openssl req -new -x509 -key "$out" -subj "/CN=fedsign test $type" -days 3650 -out "$out.crt" 2>/dev/null
}
