#!/bin/bash
# fedsign serve: the MDQ protocol over curl, on trees made by mktree.py by
# the publish contract.  Assertions by topic: 1 the command line, 2
# entityIDs in every encoding real clients send, 3 {sha1}, 4 Accept and
# JSON, 5 caching (ETag, 304, Last-Modified, max-age), 6 gzip, 7 HEAD and
# errors (404, 405, 406, 400), 8 /status and /metrics, 9 following
# current (switches during a burst, a broken release, no release yet),
# 10 hostile clients (huge headers, NUL bytes, slowloris, idle and too many
# connections), 11 -c CONFIG, 12 signals.  About 20 seconds.
. "$SRCDIR/tests/lib.sh"
. "$SRCDIR/tests/serve/lib-serve.sh"
export LC_ALL=C.UTF-8

PUB=$TMP/pub
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$TMP"' EXIT

# The entityIDs that need care: '/', a trailing '/', '.xml', '#', '?',
# '&', '+', '=', ';', non-ASCII, a long one.
cat >"$TMP/ids" <<'EOF'
https://idp.example.org/idp/shibboleth
https://sp.example.org/
https://sp.example.org/metadata.xml
https://sp.example.org/shibboleth#main
https://sp.example.org/sp?id=1&lang=en
urn:mace:example.org:a+b=c;d
https://üñî.example.org/sp/€
http://adfs.example.org/adfs/services/trust
EOF
printf 'https://long.example.org/%s\n' "$(head -c 900 /dev/zero | tr '\0' x)" >>"$TMP/ids"
python3 "$MKTREE" "$PUB" r1 --ids "$TMP/ids" --count 40 >"$TMP/mk.out" 2>&1 ||
    { nok "mktree.py made release r1"; cat "$TMP/mk.out"; done_testing; }
ENT=$PUB/releases/r1/entities
jidx() { python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))[sys.argv[2]]; print(e[sys.argv[3]])' "$ENT/index.json" "$1" "$2"; }

# --- 1 the command line -------------------------------------------------------
expect 0 "serve --help" "$FEDSIGN" serve --help
for w in --dir --listen --max-clients --timeout --status-margin -c --quiet --verbose "Exit status:" \
    "127.0.0.1:8080"; do
	out_has "$w"
done
for code in 0 1 2 3 4 5; do
	check "serve --help names exit status $code" grep -qE "^ +$code  " "$TMP/out"
done
expect 2 "serve without a folder" "$FEDSIGN" serve
err_has "--dir PUBLISH-DIR, or -c CONFIG"
expect 2 "serve with an unknown option" "$FEDSIGN" serve --dir "$PUB" --bogus
expect 2 "serve --max-clients 0" "$FEDSIGN" serve --dir "$PUB" --max-clients 0
expect 2 "serve --timeout x" "$FEDSIGN" serve --dir "$PUB" --timeout x
expect 2 "serve --listen without a port" "$FEDSIGN" serve --dir "$PUB" --listen 127.0.0.1
err_has "has no port"
expect 2 "serve --listen ::1:80 (IPv6 without brackets)" "$FEDSIGN" serve --dir "$PUB" --listen ::1:80
expect 2 "serve --listen with port 70000" "$FEDSIGN" serve --dir "$PUB" --listen 127.0.0.1:70000
expect 4 "serve --dir of a folder that does not exist" "$FEDSIGN" serve --dir "$TMP/nope"
err_has "cannot open the publish folder"
mkdir -p "$TMP/broken/releases/b1/entities"
echo '{"x": ' >"$TMP/broken/releases/b1/entities/index.json"
ln -s releases/b1 "$TMP/broken/current"
expect 1 "serve refuses to start on a broken live release" "$FEDSIGN" serve --dir "$TMP/broken" --listen 127.0.0.1:0
err_has "release 'b1': entities/index.json"
mkdir -p "$TMP/noidx/releases/n1/entities"
ln -s releases/n1 "$TMP/noidx/current"
expect 1 "serve refuses a release without entities/index.json" "$FEDSIGN" serve --dir "$TMP/noidx" --listen 127.0.0.1:0
err_has "release 'n1': cannot open entities/index.json: No such file or directory"
err_has "add mdq: to the configuration and publish again"
mkdir -p "$TMP/noent/releases/x1"
ln -s releases/x1 "$TMP/noent/current"
expect 1 "serve refuses a release without entities/" "$FEDSIGN" serve --dir "$TMP/noent" --listen 127.0.0.1:0
err_has "the release 'x1' has no entities/ folder"
mkdir -p "$TMP/nocur"
expect 4 "serve --dir of a folder without current" "$FEDSIGN" serve --dir "$TMP/nocur" --listen 127.0.0.1:0
err_has "'$TMP/nocur' has no release to serve ($TMP/nocur/current: No such file or directory): run fedsign publish"
mkdir -p "$TMP/curdir/current"
expect 4 "serve --dir whose current is not a link" "$FEDSIGN" serve --dir "$TMP/curdir" --listen 127.0.0.1:0
err_has "current: not a symbolic link"
echo x >"$TMP/afile"
expect 4 "serve --dir of a file" "$FEDSIGN" serve --dir "$TMP/afile"
err_has "cannot open the publish folder '$TMP/afile': Not a directory"
expect 4 "serve -c of a file that does not exist" "$FEDSIGN" serve -c "$TMP/nope.yaml"
err_has "cannot read '$TMP/nope.yaml': No such file or directory"

start_serve S --dir "$PUB" -v || { nok "fedsign serve starts"; cat "$TMP/S.log"; done_testing; }
ok "fedsign serve starts on port $S_PORT"
B=http://127.0.0.1:$S_PORT
_has "$TMP/S.log" log "serving release r1: 49 entities"
expect 4 "a second serve on the same port" "$FEDSIGN" serve --dir "$PUB" --listen "127.0.0.1:$S_PORT"
err_has "cannot listen on 127.0.0.1:$S_PORT: Address already in use (another server listens there: stop it, or give another --listen)"
expect 4 "serve on an address of no interface" "$FEDSIGN" serve --dir "$PUB" --listen 192.0.2.1:8080
err_has "cannot listen on 192.0.2.1:8080: Cannot assign requested address (no interface of this host has that address)"

# --- 2 entityIDs in every encoding -------------------------------------------
# doc_is DESC ID: the last answer is ID's document from release r1, whole.
doc_is() {
	local file; file=$ENT/{sha1}$(sha1hex "$2")
	if [ "$CODE" = 200 ] && cmp -s "$TMP/body" "$file"; then ok "$1"; else nok "$1 (status $CODE)"; head -3 "$TMP/body" | sed 's/^/# /'; fi
}
while IFS= read -r id; do
	short=${id:0:60}
	for how in sp idp lower; do
		get "$B/entities/$("enc_$how" "$id")"
		doc_is "$how-encoded $short" "$id"
	done
	case $id in *'#'*|*'?'*) continue ;; esac
	get "$B/entities/$id"
	doc_is "not encoded: $short" "$id"
done <"$TMP/ids"
# What the SP sends, literally, and the headers of a 200.
get "$B/entities/https%3A%2F%2Fidp.example.org%2Fidp%2Fshibboleth"
doc_is "https%3A%2F%2Fidp.example.org%2Fidp%2Fshibboleth" https://idp.example.org/idp/shibboleth
is "Content-Type" "$(hdr Content-Type)" application/samlmetadata+xml
is "ETag is the quoted sha256 of the index" "$(hdr ETag)" "\"$(jidx https://idp.example.org/idp/shibboleth sha256)\""
is "ETag is the sha256 of the body" "$(hdr ETag)" "\"$(sha256sum <"$TMP/body" | cut -d' ' -f1)\""
is "Content-Length" "$(hdr Content-Length)" "$(stat -c %s "$TMP/body")"
is "Last-Modified is the file's mtime" "$(hdr Last-Modified)" \
    "$(TZ=GMT date -d @"$(stat -c %Y "$ENT/{sha1}$(sha1hex https://idp.example.org/idp/shibboleth)")" '+%a, %d %b %Y %H:%M:%S GMT')"
is "Cache-Control from cacheDuration" "$(hdr Cache-Control)" "max-age=21600"
is "Vary" "$(hdr Vary)" "Accept, Accept-Encoding"
get "$B/entities/https:%2F%2Fidp.example.org%2Fidp%2Fshibboleth"
doc_is "https:%2F%2F... (IdP: ':' as it is)" https://idp.example.org/idp/shibboleth
get "$B/entities/urn:mace:example.org:a+b=c;d"
doc_is "'+' is a plus" "urn:mace:example.org:a+b=c;d"
get "$B/entities/urn:mace:example.org:a%20b=c;d"
is "'%20' is not a plus" "$CODE" 404
get "$B/entities/https%3A%2F%2Fsp.example.org%2Fsp%3Fid%3D1%26lang%3Den?ignored=1&x"
doc_is "'?' encoded in the entityID, a query string after it" "https://sp.example.org/sp?id=1&lang=en"
get "$B/entities/https%3A%2F%2Fsp.example.org%2Fshibboleth%23main"
doc_is "'#' encoded" "https://sp.example.org/shibboleth#main"
get "$B/entities/https%3A%2F%2Fsp.example.org"
is "no trailing '/' is another entityID" "$CODE" 404

# --- 3 {sha1} -------------------------------------------------------------------
H=$(sha1hex https://sp.example.org/)
get "$B/entities/{sha1}$H"
doc_is "{sha1}hex" https://sp.example.org/
get "$B/entities/%7Bsha1%7D$H"
doc_is "%7Bsha1%7Dhex" https://sp.example.org/
get "$B/entities/{sha1}${H^^}"
doc_is "{sha1}HEX in uppercase" https://sp.example.org/
get "$B/entities/{sha1}${H:0:39}"
is "{sha1} and 39 hex digits: 400" "$CODE" 400
get "$B/entities/{sha1}${H}0"
is "{sha1} and 41 hex digits: 400" "$CODE" 400
get "$B/entities/{sha1}${H:0:39}g"
is "{sha1} and a non-hex digit: 400" "$CODE" 400
get "$B/entities/{sha1}0000000000000000000000000000000000000000"
is "{sha1} of no entity: 404" "$CODE" 404

# --- 4 Accept and JSON ------------------------------------------------------------
for a in application/samlmetadata+xml application/xml text/xml '*/*' 'application/*' \
    'application/json;q=0.5, application/samlmetadata+xml'; do
	get "$B/entities/{sha1}$H" -H "Accept: $a"
	doc_is "Accept: $a: the XML" https://sp.example.org/
	is "Accept: $a: Content-Type" "$(hdr Content-Type)" application/samlmetadata+xml
done
get "$B/entities/{sha1}$H" -H "Accept:"
doc_is "no Accept: the XML" https://sp.example.org/
for a in application/json 'application/json, application/samlmetadata+xml;q=0.9' \
    'application/json;q=1.0, */*;q=0.1' 'application/samlmetadata+xml;q=0, */*'; do
	get "$B/entities/{sha1}$H" -H "Accept: $a"
	is "Accept: $a: JSON" "$CODE $(hdr Content-Type)" "200 application/json"
	check "Accept: $a: the entity's .json" cmp "$TMP/body" "$ENT/{sha1}$H.json"
done
is "the JSON is the entity's" "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["entityID"])' "$TMP/body")" https://sp.example.org/
get "$B/entities" -H "Accept: application/json"
check "/entities as JSON is entities.json" cmp "$TMP/body" "$PUB/releases/r1/entities.json"
is "entities.json holds them all" "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$TMP/body")" 49
get "$B/entities"
check "/entities is entities.xml" cmp "$TMP/body" "$PUB/releases/r1/entities.xml"
is "/entities: Content-Type" "$(hdr Content-Type)" application/samlmetadata+xml
get "$B/entities/"
check "/entities/ is entities.xml too" cmp "$TMP/body" "$PUB/releases/r1/entities.xml"
for a in text/html 'image/png, text/html;q=0.9' '*/*;q=0' 'application/json;q=0, application/samlmetadata+xml;q=0'; do
	get "$B/entities/{sha1}$H" -H "Accept: $a"
	is "Accept: $a: 406" "$CODE" 406
done

# --- 5 caching ----------------------------------------------------------------------
get "$B/entities/{sha1}$H"
ET=$(hdr ETag) LM=$(hdr Last-Modified)
get "$B/entities/{sha1}$H" -H "If-None-Match: $ET"
is "If-None-Match with the ETag: 304" "$CODE" 304
is "304: no body" "$(stat -c %s "$TMP/body")" 0
is "304: the ETag" "$(hdr ETag)" "$ET"
is "304: no Content-Type (RFC 9110 15.4.5)" "$(hdr Content-Type)" ""
is "304: Cache-Control" "$(hdr Cache-Control)" "max-age=21600"
is "304: Vary" "$(hdr Vary)" "Accept, Accept-Encoding"
get "$B/entities/{sha1}$H" -H "If-None-Match: \"x\", W/$ET"
is "If-None-Match list with a weak tag: 304" "$CODE" 304
get "$B/entities/{sha1}$H" -H "If-None-Match: *"
is "If-None-Match: *: 304" "$CODE" 304
get "$B/entities/{sha1}$H" -H 'If-None-Match: "0000"'
is "If-None-Match another ETag: 200" "$CODE" 200
get "$B/entities/{sha1}$H" -H "If-Modified-Since: $LM"
is "If-Modified-Since the Last-Modified: 304" "$CODE" 304
get "$B/entities/{sha1}$H" -H "If-Modified-Since: $(TZ=GMT date -d '+1 day' '+%A, %d-%b-%y %H:%M:%S GMT')"
is "If-Modified-Since in RFC 850 form, later: 304" "$CODE" 304
get "$B/entities/{sha1}$H" -H "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT"
is "If-Modified-Since long ago: 200" "$CODE" 200
get "$B/entities/{sha1}$H" -H "If-Modified-Since: $LM" -H 'If-None-Match: "0000"'
is "If-None-Match wins over If-Modified-Since" "$CODE" 200
get "$B/entities/{sha1}$H" -H "If-Modified-Since: garbage"
is "an If-Modified-Since that is not a date: 200" "$CODE" 200
get "$B/entities" -H "If-None-Match: \"$(sha256sum <"$PUB/releases/r1/entities.xml" | cut -d' ' -f1)\""
is "/entities: 304 by ETag" "$CODE" 304
get "$B/entities/{sha1}$H" -H "Accept: application/json"
JET=$(hdr ETag)
is "the JSON's ETag is its own sha256" "$JET" "\"$(sha256sum <"$ENT/{sha1}$H.json" | cut -d' ' -f1)\""
get "$B/entities/{sha1}$H" -H "Accept: application/json" -H "If-None-Match: $JET"
is "JSON: 304 by its ETag" "$CODE" 304
# max-age is never past validUntil: a release valid for 100 seconds.
python3 "$MKTREE" "$TMP/pub-short" s1 --count 3 --valid-for 100 --cache 21600 >/dev/null
start_serve SHORT --dir "$TMP/pub-short" || nok "serve starts on the short release"
get "http://127.0.0.1:$SHORT_PORT/entities/{sha1}$(sha1hex https://sp00001.gen.example.org/shibboleth)"
ma=$(hdr Cache-Control | sed 's/max-age=//')
check "max-age $ma stops at validUntil (at most 100 - 3600*1)" test "${ma:-99999}" -le 100
python3 "$MKTREE" "$TMP/pub-nocd" n1 --count 3 --no-cache >/dev/null

# --- 6 gzip -----------------------------------------------------------------------
get "$B/entities/{sha1}$H" -H "Accept-Encoding: gzip"
is "Accept-Encoding: gzip: Content-Encoding" "$(hdr Content-Encoding)" gzip
check "gzip: the body is the .gz file" cmp "$TMP/body" "$ENT/{sha1}$H.gz"
is "gzip: its own ETag" "$(hdr ETag)" "${ET%\"}-gzip\""
is "gzip: Vary" "$(hdr Vary)" "Accept, Accept-Encoding"
is "gzip: Content-Length of the .gz" "$(hdr Content-Length)" "$(stat -c %s "$ENT/{sha1}$H.gz")"
get "$B/entities/{sha1}$H" --compressed
doc_is "curl --compressed: the XML once decoded" https://sp.example.org/
get "$B/entities/{sha1}$H" -H "Accept-Encoding: gzip" -H "If-None-Match: ${ET%\"}-gzip\""
is "gzip: 304 by the gzip ETag" "$CODE" 304
get "$B/entities/{sha1}$H" -H "Accept-Encoding: gzip;q=0, deflate"
is "gzip;q=0: not compressed" "$(hdr Content-Encoding)" ""
get "$B/entities" -H "Accept-Encoding: gzip"
check "/entities gzip: entities.xml.gz" cmp "$TMP/body" "$PUB/releases/r1/entities.xml.gz"
get "$B/entities/{sha1}$H" -H "Accept-Encoding: gzip" -H "Accept: application/json"
is "JSON is never compressed here" "$(hdr Content-Encoding)" ""

# --- 7 HEAD and errors -------------------------------------------------------------
get "$B/entities/{sha1}$H" -I
is "HEAD: 200" "$CODE" 200
check "HEAD: no body (curl -I prints only the head)" cmp "$TMP/body" "$TMP/head"
is "HEAD: Content-Length of the document" "$(hdr Content-Length)" "$(stat -c %s "$ENT/{sha1}$H")"
is "HEAD: ETag" "$(hdr ETag)" "$ET"
get "$B/entities/https%3A%2F%2Fnobody.example.org%2F"
is "an unknown entityID: 404" "$CODE" 404
is "404: Cache-Control, short" "$(hdr Cache-Control)" "max-age=60"
get "$B/"
is "/: 404" "$CODE" 404
get "$B/entities.xml"
is "/entities.xml: 404" "$CODE" 404
get "$B/entities/%2e%2e%2f%2e%2e%2fentities.xml"
is "..%2F..%2F is a name, not found: 404" "$CODE" 404
get "$B/entities/..%2F..%2F..%2Fetc%2Fpasswd"
is "..%2F..%2F..%2Fetc%2Fpasswd: 404" "$CODE" 404
get "$B/entities/../../../etc/passwd"
is "../../../etc/passwd: 404" "$CODE" 404
for m in POST PUT DELETE OPTIONS PATCH; do
	get "$B/entities/{sha1}$H" -X "$m" -d x
	is "$m: 405" "$CODE" 405
	is "$m: Allow" "$(hdr Allow)" "GET, HEAD"
done
for p in 'a%zzb' 'a%2' 'a%00b' 'a%0Db' '..%C0%AF..%C0%AFetc' '%C0%80' '%E0%80%AF' '%ED%A0%80' \
    '%FF' "{sha1}${H:0:20}" '{sha1}..%2F..%2Fetc'; do
	get "$B/entities/$p"
	is "/entities/$p: 400" "$CODE" 400
done
is "400: says why" "$(head -c 12 "$TMP/body")" "bad request:"
is "a literal '#' in the request line: 400" "$(python3 "$RAW" send "$S_PORT" 'GET /entities/urn:a#b HTTP/1.1\r\nHost: x\r\n\r\n')" "HTTP/1.1 400 Bad Request"
is "a NUL byte in the path: refused" "$(python3 "$RAW" send "$S_PORT" 'GET /entities/urn:a\x00b HTTP/1.1\r\nHost: x\r\n\r\n' | cut -c1-12)" "HTTP/1.1 400"
is "an absolute-form request target" "$(python3 "$RAW" send "$S_PORT" "GET http://mdq.example.org/entities/{sha1}$H HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")" "HTTP/1.1 200 OK"
is "HTTP/1.0" "$(python3 "$RAW" send "$S_PORT" "GET /entities/{sha1}$H HTTP/1.0\\r\\n\\r\\n")" "HTTP/1.1 200 OK"

# --- 8 /status and /metrics ----------------------------------------------------------
get "$B/status"
is "/status: 200" "$CODE" 200
is "/status: JSON" "$(hdr Content-Type)" application/json
is "/status: ok" "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["status"], d["release"], d["entities"])' "$TMP/body")" "ok r1 49"
is "/status: no-store" "$(hdr Cache-Control)" no-store
start_serve MARGIN --dir "$PUB" --status-margin 30d || nok "serve --status-margin 30d starts"
get "http://127.0.0.1:$MARGIN_PORT/status"
is "/status within the margin of validUntil: 503" "$CODE" 503
is "/status: expiring" "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["status"])' "$TMP/body")" expiring
stop_serve MARGIN
get "$B/metrics"
is "/metrics: 200" "$CODE" 200
is "/metrics: Prometheus text" "$(hdr Content-Type)" "text/plain; version=0.0.4; charset=utf-8"
for m in 'fedsign_serve_requests_total{code="200"}' 'fedsign_serve_requests_total{code="304"}' \
    'fedsign_serve_requests_total{code="404"}' 'fedsign_serve_requests_total{code="400"}' \
    'fedsign_serve_sent_bytes_total' 'fedsign_serve_request_duration_seconds_bucket{le="+Inf"}' \
    'fedsign_serve_request_duration_seconds_count' 'fedsign_serve_release_age_seconds' \
    'fedsign_serve_entities 49' 'fedsign_serve_connections'; do
	_has "$TMP/body" /metrics "$m"
done
n200=$(sed -n 's/^fedsign_serve_requests_total{code="200"} //p' "$TMP/body")
check "/metrics counted the 200s ($n200)" test "${n200:-0}" -ge 50
ib=$(sed -n 's/^fedsign_serve_index_bytes //p' "$TMP/body")
check "the index in memory ($ib bytes) is at most twice index.json ($(stat -c %s "$ENT/index.json"))" \
    test "${ib:-999999999}" -le $((2 * $(stat -c %s "$ENT/index.json")))

# --- 9 following current --------------------------------------------------------------
python3 "$MKTREE" "$PUB" r2 --ids "$TMP/ids" --count 40 >/dev/null
for _ in $(seq 50); do grep -q "serving release r2" "$TMP/S.log" && break; sleep 0.1; done
_has "$TMP/S.log" log "serving release r2"
get "$B/entities/{sha1}$H"
check "after the switch: r2's document" cmp "$TMP/body" "$PUB/releases/r2/entities/{sha1}$H"
check "r2's ETag differs from r1's" test "$(hdr ETag)" != "$ET"
# A burst of requests while current switches r2 -> r3 -> r4 -> r5, and r2
# and r3 are removed: each answer is one release's document, whole.
python3 "$RAW" burst "$S_PORT" "$PUB" 4 4 >"$TMP/burst.out" 2>&1 &
BURST=$!
for r in r3 r4 r5; do
	sleep 0.8
	python3 "$MKTREE" "$PUB" "$r" --ids "$TMP/ids" --count 40 >/dev/null
done
sleep 0.5
rm -rf "$PUB/releases/r2" "$PUB/releases/r3"
wait $BURST
sed 's/^/# /' "$TMP/burst.out"
check "every answer during the switches is one release's whole document" grep -q ' bad=0$' "$TMP/burst.out"
n=$(sed -n 's/.*releases=\([0-9]*\).*/\1/p' "$TMP/burst.out")
check "the burst saw several releases ($n)" test "${n:-0}" -ge 2
get "$B/entities/{sha1}$H"
check "after the burst: r5's document" cmp "$TMP/body" "$PUB/releases/r5/entities/{sha1}$H"
# A broken release is refused; the last good one goes on.
mkdir -p "$PUB/releases/bad/entities"
echo '{"https://x.example.org/": {"file": "{sha1}00", "validUntil": "2099-01-01T00:00:00Z"}}' \
    >"$PUB/releases/bad/entities/index.json"
ln -sfn releases/bad "$PUB/.cur" && mv -T "$PUB/.cur" "$PUB/current"
for _ in $(seq 50); do grep -q "release 'bad'" "$TMP/S.log" && break; sleep 0.1; done
_has "$TMP/S.log" log "release 'bad': entities/index.json: 'https://x.example.org/': its \"file\" is not"
_has "$TMP/S.log" log "still serving the last good release"
get "$B/entities/{sha1}$H"
check "a broken release: r5 is still served" cmp "$TMP/body" "$PUB/releases/r5/entities/{sha1}$H"
get "$B/metrics"
_has "$TMP/body" /metrics "fedsign_serve_reload_failures_total 1"
python3 "$MKTREE" "$PUB" r6 --ids "$TMP/ids" --count 2 >/dev/null
for _ in $(seq 50); do grep -q "serving release r6" "$TMP/S.log" && break; sleep 0.1; done
get "$B/entities/{sha1}$(sha1hex https://sp00001.gen.example.org/shibboleth)"
is "after the broken one, r6" "$CODE" 200
get "$B/entities/{sha1}$(sha1hex https://sp00039.gen.example.org/shibboleth)"
is "an entity r6 dropped: 404" "$CODE" 404
# SIGHUP: a look at current at once (and it keeps running).
kill -HUP "$S_PID"
sleep 0.2
check "SIGHUP: still running" kill -0 "$S_PID"
# A request in flight keeps its release: a big aggregate read slowly
# while current switches and the release it came from is removed.
python3 "$MKTREE" "$TMP/fly" f1 --count 3000 --pad 3000 >/dev/null
cp "$TMP/fly/releases/f1/entities.xml" "$TMP/f1-entities.xml"
start_serve FLY --dir "$TMP/fly" || nok "serve starts on release f1"
python3 "$RAW" slow "$FLY_PORT" /entities "$TMP/fly.body" "$TMP/fly.ready" >"$TMP/fly.out" &
SLOWPID=$!
for _ in $(seq 50); do [ -e "$TMP/fly.ready" ] && break; sleep 0.1; done
python3 "$MKTREE" "$TMP/fly" f2 --count 3000 --pad 3000 >/dev/null
for _ in $(seq 50); do grep -q "serving release f2" "$TMP/FLY.log" && break; sleep 0.1; done
rm -rf "$TMP/fly/releases/f1"
get "http://127.0.0.1:$FLY_PORT/entities"
check "during the slow read: new requests get f2" cmp -s "$TMP/body" "$TMP/fly/releases/f2/entities.xml"
wait $SLOWPID
is "the slow request: 200" "$(cat "$TMP/fly.out")" "HTTP/1.1 200 OK"
check "the slow request got f1's aggregate whole ($(stat -c %s "$TMP/fly.body") of $(stat -c %s "$TMP/f1-entities.xml") bytes)" \
    cmp -s "$TMP/fly.body" "$TMP/f1-entities.xml"
stop_serve FLY

# current removed while serving: the last release goes on.
python3 "$MKTREE" "$TMP/gone" g1 --ids "$TMP/ids" >/dev/null
start_serve GONE --dir "$TMP/gone" || nok "serve starts on release g1"
rm "$TMP/gone/current"
for _ in $(seq 50); do grep -q "still serving the last release" "$TMP/GONE.log" && break; sleep 0.1; done
_has "$TMP/GONE.log" log "current: No such file or directory: still serving the last release"
get "http://127.0.0.1:$GONE_PORT/entities/{sha1}$H"
check "current removed: g1 is still served" cmp "$TMP/body" "$TMP/gone/releases/g1/entities/{sha1}$H"
python3 "$MKTREE" "$TMP/gone" g2 --ids "$TMP/ids" >/dev/null
for _ in $(seq 50); do grep -q "serving release g2" "$TMP/GONE.log" && break; sleep 0.1; done
get "http://127.0.0.1:$GONE_PORT/entities/{sha1}$H"
check "current made again: g2 is served" cmp "$TMP/body" "$TMP/gone/releases/g2/entities/{sha1}$H"
stop_serve GONE
# Without release.json, .gz, .json (publish before the JSON pieces).
python3 "$MKTREE" "$TMP/pub-min" m1 --ids "$TMP/ids" --omit gz --omit json --omit release >/dev/null
start_serve MIN --dir "$TMP/pub-min" || nok "serve starts on a tree without .gz, .json, release.json"
get "http://127.0.0.1:$MIN_PORT/entities/{sha1}$H" -H "Accept-Encoding: gzip"
is "no .gz: the XML as it is" "$CODE $(hdr Content-Encoding)" "200 "
get "http://127.0.0.1:$MIN_PORT/entities/{sha1}$H" -H "Accept: application/json"
is "no .json: 406 for JSON only" "$CODE" 406
stop_serve MIN

# --- 10 hostile clients ------------------------------------------------------------------
H6=$(sha1hex https://sp.example.org/)
big=$(head -c 40000 /dev/zero | tr '\0' a)
get "$B/entities/{sha1}$H6" -H "X-Big: $big"
check "a 40 kB header: refused ($CODE)" test "$CODE" = 431 -o "$CODE" = 400 -o "$CODE" = 413 -o "$CODE" = 000
get "$B/entities/$(head -c 40000 /dev/zero | tr '\0' a)"
check "a 40 kB path: refused ($CODE)" test "$CODE" = 414 -o "$CODE" = 431 -o "$CODE" = 400 -o "$CODE" = 000
get "$B/entities/{sha1}$H6"
is "still serving after huge requests" "$CODE" 200
start_serve SLOW --dir "$PUB" --timeout 2 --max-clients 100 || nok "serve --timeout 2 starts"
# slowloris from 127.0.0.2: one header byte a second, 70 connections;
# at most 64 from one address are taken, and the others still get in.
python3 "$RAW" hold "$SLOW_PORT" 127.0.0.2 70 2.5 1 >"$TMP/hold.out" &
HOLD=$!
sleep 1
get "http://127.0.0.1:$SLOW_PORT/entities/{sha1}$H6"
is "slowloris from 127.0.0.2: 127.0.0.1 is still served" "$CODE" 200
wait $HOLD
n=$(sed -n 's/open=\([0-9]*\).*/\1/p' "$TMP/hold.out")
check "slowloris: at most 64 connections from one address stayed ($n)" test "${n:-99}" -le 64
# idle connections are closed after --timeout
python3 "$RAW" hold "$SLOW_PORT" 127.0.0.3 5 3.5 >"$TMP/idle.out"
is "idle connections are closed after --timeout 2" "$(cat "$TMP/idle.out")" "open=0 closed=5"
get "http://127.0.0.1:$SLOW_PORT/entities/{sha1}$H6"
is "still serving after slow clients" "$CODE" 200
stop_serve SLOW
start_serve FEW --dir "$PUB" --max-clients 4 --timeout 3 || nok "serve --max-clients 4 starts"
# 4 idle connections from 127.0.0.4 take every place: a fifth client
# waits (in the listen queue) until they are gone.
python3 "$RAW" hold "$FEW_PORT" 127.0.0.4 4 1.5 >"$TMP/few.out" &
HOLD=$!
sleep 0.4
get "http://127.0.0.1:$FEW_PORT/status" --max-time 0.7
is "--max-clients 4: a fifth connection is not served while 4 are open" "$CODE" 000
wait $HOLD
for _ in $(seq 40); do get "http://127.0.0.1:$FEW_PORT/status"; [ "$CODE" = 200 ] && break; sleep 0.1; done
is "--max-clients: served again once they are gone" "$CODE" 200
stop_serve FEW

# --- 11 -c CONFIG -------------------------------------------------------------------------
cat >"$TMP/publish.yaml" <<EOF
signing: {key-file: key.pem}
publish-dir: pub
state-dir: state
validity: 10d
sources:
  - {name: members, files: m/*.xml}
feeds:
  - {file: hub.xml, sources: [members]}
mdq:
  sources: [members]
serve:
  listen: [127.0.0.1:0]
  max-clients: 50
  timeout: 10s
  status-margin: 2h
EOF
start_serve CONF -c "$TMP/publish.yaml" || { nok "serve -c CONFIG starts"; cat "$TMP/CONF.log"; }
get "http://127.0.0.1:$CONF_PORT/status"
is "-c: publish-dir and serve: from the configuration" "$CODE $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["margin"])' "$TMP/body")" "200 7200"
stop_serve CONF
printf 'serve: {listen: nowhere}\n' >>"$TMP/publish.yaml"
expect 2 "-c: a bad serve: section is refused" "$FEDSIGN" serve -c "$TMP/publish.yaml"
err_has "key 'serve' is given twice"
sed -e '/^serve:/,$d' "$TMP/publish.yaml" >"$TMP/bad-listen.yaml"
printf 'serve:\n  listen: nowhere\n' >>"$TMP/bad-listen.yaml"
expect 2 "-c: a listen address without a port is refused" "$FEDSIGN" serve -c "$TMP/bad-listen.yaml"
err_has "bad-listen.yaml:12: listen address 'nowhere' is not ADDR:PORT: write 127.0.0.1:8080"

# --- 12 signals ----------------------------------------------------------------------------
stop_serve SHORT INT
is "SIGINT: exit 0" "$STOP_RC" 0
stop_serve S TERM
is "SIGTERM: exit 0" "$STOP_RC" 0
_has "$TMP/S.log" log "stopping (SIGTERM)"
_has "$TMP/S.log" log "GET /entities/https%3A%2F%2Fidp.example.org%2Fidp%2Fshibboleth 200"

if grep -l -E "Sanitizer|runtime error:" "$TMP"/*.log >/dev/null 2>&1; then
	nok "a sanitizer reported an error in a serve log"
	grep -h -A5 -E "Sanitizer|runtime error:" "$TMP"/*.log | head -20 | sed 's/^/# /'
else
	ok "no sanitizer report in the serve logs"
fi
done_testing
