# shellcheck shell=bash
# Helpers the benchmark scripts share (bash), sourced after they have set
# FEDSIGN, SOFTHSM_MODULE and their own folder.

# bench_token DIR PIN SUBJECT CERT: a SoftHSM2 token of our own under
# DIR/hsm (never the system's), as tests/lib.sh does: label "bench", the
# user PIN PIN in DIR/pin, the SO PIN in DIR/sopin, an RSA-2048 key
# "md-signing" made on it by fedsign keygen and its self-signed
# certificate (subject SUBJECT) in CERT.  Exports SOFTHSM2_CONF, sets URI
# (the key's, PIN from DIR/pin); the commands' output goes to DIR/p11.log.
# Status 1 when a step failed (the end of the log says which).
bench_token() {
	local dir=$1 pin=$2 subject=$3 cert=$4
	mkdir -p "$dir/hsm/tokens" || return 1
	printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n' \
	    "$dir/hsm/tokens" >"$dir/hsm/softhsm2.conf" || return 1
	export SOFTHSM2_CONF=$dir/hsm/softhsm2.conf
	(umask 077; printf '%s\n' "$pin" >"$dir/pin"; printf '87654321\n' >"$dir/sopin") || return 1
	URI="pkcs11:token=bench;object=md-signing?module-path=$SOFTHSM_MODULE&pin-source=file:$dir/pin"
	{ "$FEDSIGN" token init --module "$SOFTHSM_MODULE" --label bench \
	      --so-pin-source "file:$dir/sopin" --pin-source "file:$dir/pin" &&
	  "$FEDSIGN" keygen --key "$URI" --type rsa:2048 &&
	  "$FEDSIGN" cert create --key "$URI" --subject "$subject" --out "$cert"; } >"$dir/p11.log" 2>&1
}

# bench_token_cert DIR: the token's certificate object (fedsign cert show
# of URI) as PEM in DIR/token-cert.pem, for xmlsec1; sets TOKCERT.
# Status 1 when there is none.
bench_token_cert() {
	TOKCERT=$1/token-cert.pem
	"$FEDSIGN" cert show --key "$URI" >"$1/cert-show.txt" 2>>"$1/p11.log" || return 1
	sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p' "$1/cert-show.txt" >"$TOKCERT"
	[ -s "$TOKCERT" ]
}
