# Helpers of the fedsign serve tests (bash), sourced after tests/lib.sh.
#
#   start_serve NAME ARGS...   fedsign serve ARGS in the background, on
#                              127.0.0.1 with a free port unless ARGS say
#                              --listen; waits for its "listening" line.
#                              Sets ${NAME}_PID, ${NAME}_PORT; log in
#                              $TMP/NAME.log
#   stop_serve NAME [SIGNAL]   signal it (TERM) and wait; STOP_RC its status
#   get URL [CURL ARGS...]     one request: status in CODE, head in
#                              $TMP/head, body in $TMP/body
#   hdr NAME                   a header of the last answer ("" if none)
#   is DESC GOT WANT           one assertion: GOT equals WANT
#   enc_sp / enc_idp / enc_lower ID   an entityID encoded as Shibboleth SP
#                              (xmltooling), the Shibboleth IdP (Guava's
#                              path segment escaper) and with lowercase hex

SERVE_TOOLS=$SRCDIR/tests/serve
MKTREE=$SERVE_TOOLS/mktree.py
RAW=$SERVE_TOOLS/rawhttp.py

start_serve() {
	local name=$1 port i; shift
	local listen=(--listen 127.0.0.1:0)
	case " $* " in *" --listen "*|*" -l "*|*" -c "*) listen=() ;; esac
	: >"$TMP/$name.log"
	"$FEDSIGN" serve "${listen[@]}" "$@" 2>"$TMP/$name.log" &
	printf -v "${name}_PID" %s $!
	for i in $(seq 300); do
		port=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$TMP/$name.log" | head -1)
		[ -n "$port" ] && break
		kill -0 "$(eval echo "\$${name}_PID")" 2>/dev/null || break
		sleep 0.05
	done
	printf -v "${name}_PORT" %s "$port"
	[ -n "$port" ]
}

stop_serve() {
	local name=$1 sig=${2:-TERM} pid
	pid=$(eval echo "\$${name}_PID")
	kill -"$sig" "$pid" 2>/dev/null
	wait "$pid"
	STOP_RC=$?
}

get() {
	local url=$1; shift
	: >"$TMP/body"
	CODE=$(curl -s -g --path-as-is -o "$TMP/body" -D "$TMP/head" -w '%{http_code}' \
	    --max-time 10 "$@" "$url")
}

hdr() {
	grep -i "^$1:" "$TMP/head" | head -1 | sed 's/^[^:]*: *//; s/\r$//'
}

enc_sp() {
	python3 -c '
import sys
bad = set(b"=&/?:\"\\+%#<>{}|^~[]` ")
print("".join(chr(c) if 0x20 < c < 0x7f and c not in bad else "%%%02X" % c
              for c in sys.argv[1].encode()))' "$1"
}

enc_idp() {
	python3 -c '
import sys, urllib.parse
print(urllib.parse.quote(sys.argv[1], safe="-._~!$\x27()*,;&=@:+"))' "$1"
}

enc_lower() {
	python3 -c '
import sys
print("".join(chr(c) if chr(c).isalnum() and c < 0x80 else "%%%02x" % c
              for c in sys.argv[1].encode()))' "$1"
}

# sha1hex ID: the lowercase hex SHA-1 of an entityID.
sha1hex() { printf %s "$1" | sha1sum | cut -d' ' -f1; }
