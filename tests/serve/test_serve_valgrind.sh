#!/bin/bash
# fedsign serve runs valgrind-clean: no invalid reads or writes, no use of
# uninitialised memory, and no definite leaks, through every kind of
# answer, two switches of current (one to a broken release) and a SIGTERM.
# (The plain build only: valgrind cannot run a sanitizer build.)
. "$SRCDIR/tests/lib.sh"
. "$SRCDIR/tests/serve/lib-serve.sh"
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$TMP"' EXIT

PUB=$TMP/pub
printf '%s\n' https://idp.example.org/idp/shibboleth 'https://sp.example.org/a?b=c&d#e' >"$TMP/ids"
python3 "$MKTREE" "$PUB" r1 --ids "$TMP/ids" --count 5 >/dev/null
"$FEDSIGN" serve --help >/dev/null
valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
    --show-leak-kinds=definite --suppressions="$SRCDIR/tests/valgrind.supp" \
    "$FEDSIGN" serve --dir "$PUB" --listen 127.0.0.1:0 -v 2>"$TMP/vg.log" &
VG=$!
for _ in $(seq 200); do
	PORT=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$TMP/vg.log" | head -1)
	[ -n "$PORT" ] && break
	sleep 0.05
done
check "serve starts under valgrind" test -n "$PORT"
B=http://127.0.0.1:$PORT
H=$(sha1hex https://idp.example.org/idp/shibboleth)
get "$B/entities/https%3A%2F%2Fidp.example.org%2Fidp%2Fshibboleth"; is "200" "$CODE" 200
ET=$(hdr ETag)
get "$B/entities/{sha1}$H" -H "If-None-Match: $ET"; is "304" "$CODE" 304
get "$B/entities/{sha1}$H" -H "Accept-Encoding: gzip"; is "gzip" "$(hdr Content-Encoding)" gzip
get "$B/entities/{sha1}$H" -H "Accept: application/json"; is "JSON" "$CODE" 200
get "$B/entities" -I; is "HEAD /entities" "$CODE" 200
get "$B/entities/%zz"; is "400" "$CODE" 400
get "$B/entities/nobody"; is "404" "$CODE" 404
get "$B/entities/{sha1}$H" -X POST -d x; is "405" "$CODE" 405
get "$B/entities/{sha1}$H" -H "Accept: text/html"; is "406" "$CODE" 406
get "$B/status"; is "/status" "$CODE" 200
get "$B/metrics"; is "/metrics" "$CODE" 200
is "a NUL byte" "$(python3 "$RAW" send "$PORT" 'GET /entities/a\x00b HTTP/1.1\r\nHost: x\r\n\r\n' | cut -c1-12)" "HTTP/1.1 400"
get "$B/entities/{sha1}$H" -H "X-Big: $(head -c 40000 /dev/zero | tr '\0' a)"
python3 "$MKTREE" "$PUB" r2 --ids "$TMP/ids" --count 3 >/dev/null
for _ in $(seq 100); do grep -q "serving release r2" "$TMP/vg.log" && break; sleep 0.1; done
get "$B/entities/{sha1}$H"
check "after a switch: r2" cmp "$TMP/body" "$PUB/releases/r2/entities/{sha1}$H"
mkdir -p "$PUB/releases/bad/entities"
echo '{"a": {"file": 1}}' >"$PUB/releases/bad/entities/index.json"
ln -sfn releases/bad "$PUB/.c" && mv -T "$PUB/.c" "$PUB/current"
for _ in $(seq 100); do grep -q "release 'bad'" "$TMP/vg.log" && break; sleep 0.1; done
get "$B/entities/{sha1}$H"; is "the broken release is refused" "$CODE" 200
kill -TERM "$VG"
wait "$VG"
rc=$?
is "valgrind: no errors, no leaks, exit 0 on SIGTERM" "$rc" 0
[ "$rc" = 0 ] || grep -v '^fedsign:' "$TMP/vg.log" | head -30 | sed 's/^/# /'
done_testing
