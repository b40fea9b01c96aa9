#!/bin/bash
# The fedsignd: signer backend: `fedsign sign` and `fedsign publish` with
# the key held by fedsignd, on the unix socket and over https with the
# secret from FEDSIGND_SECRET_FILE, in a process that has neither the
# token nor the PIN; xmlsec1 checks every result.  A wrong secret, a
# daemon that is not there and an unknown key end in a clear message, a
# non-zero exit and no output.
. "$SRCDIR/tests/lib.sh"
. "$SRCDIR/tests/daemon/lib-daemon.sh"
export LC_ALL=C

EX=$SRCDIR/examples
MDNS=urn:oasis:names:tc:SAML:2.0:metadata
tokens hsm1 hsm2
PIN=$(head -1 "$TMP/pin")
(umask 077
 printf 'aggregator agg-0123456789abcdef\nlimited lim-0123456789abcdef other\n' >"$TMP/clients"
 echo agg-0123456789abcdef >"$TMP/secret"
 echo agg-0123456789abcdeX >"$TMP/wrong"
 echo lim-0123456789abcdef >"$TMP/limited")
openssl req -new -x509 -newkey rsa:2048 -nodes -keyout "$TMP/tls.key" -out "$TMP/tls.crt" \
    -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -days 2 2>/dev/null
PORT=$((20000 + ($$ + 7) % 20000))
cat >"$TMP/f.yaml" <<EOF
listen:
  - unix:$SOCK
  - tcp:127.0.0.1:$PORT
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
UNIX_KEY="fedsignd:unix:$SOCK?key=md-signing"
HTTPS_KEY="fedsignd:https://127.0.0.1:$PORT/?key=md-signing&ca-file=$TMP/tls.crt"

# xmlsec FILE ROOT: xmlsec1 verifies FILE (root element ROOT) with the
# test key's certificate.
xmlsec() {
	xmlsec1 --verify --id-attr:ID "$MDNS:$2" --pubkey-cert-pem "$TMP/k.crt" \
	    --enabled-key-data key-name,rsa,ec "$1"
}
# client CMD...: CMD as a signing client: no token store, no PIN.
client() {
	env -u SOFTHSM2_CONF -u FEDSIGN_PIN FS_SHIM_COUNT="$TMP/client-p11" "$@"
}
# refused DESC TEXT OUT CMD...: CMD fails (not 0), says TEXT, and OUT is
# not there afterwards.
refused() {
	local desc=$1 text=$2 out=$3 rc; shift 3
	rm -f "$out"
	client "$@" >"$TMP/out" 2>"$TMP/err"; rc=$?
	if [ "$rc" -ne 0 ]; then ok "$desc: exit $rc"; else nok "$desc: exit 0"; fi
	err_has "$text"
	check "$desc: no output written" test ! -e "$out"
}

start "$TMP/f.yaml" || { nok "fedsignd starts"; done_testing; }
ok "fedsignd starts"

# --- fedsign sign on the unix socket -------------------------------------
expect 0 "fedsign sign --key $UNIX_KEY" client "$FEDSIGN" sign "$EX/federation-metadata.xml" \
    -o "$TMP/agg.xml" --key "$UNIX_KEY" --valid-for 7d
check "xmlsec1 verifies the aggregate" xmlsec "$TMP/agg.xml" EntitiesDescriptor
check "KeyInfo holds the certificate the daemon gave (the tokens' one)" \
    test "$(xmllint --xpath 'string(//*[local-name()="X509Certificate"])' "$TMP/agg.xml" | tr -d '\n ')" = \
    "$(sed '1d;$d' "$TMP/k.crt" | tr -d '\n')"
expect 0 "fedsign verify accepts it" "$FEDSIGN" verify "$TMP/agg.xml" --cert "$TMP/k.crt"
expect 0 "sign an entity with --cert" client "$FEDSIGN" sign "$EX/idp-entity.xml" \
    -o "$TMP/e.xml" --key "$UNIX_KEY" --cert "$TMP/k.crt" --valid-for 1d
check "xmlsec1 verifies the entity" xmlsec "$TMP/e.xml" EntityDescriptor
check "the client process touched no PKCS#11 module" test ! -e "$TMP/client-p11"
check "the signatures are in the audit log, with the client's pid" python3 -c "
import json
ls = [json.loads(l) for l in open('$TMP/audit.jsonl')]
assert len([x for x in ls if x['api'] == 'v1' and x['result'] == 'ok' and x['client']['transport'] == 'unix']) >= 2, ls"

# --- fedsign sign over https with FEDSIGND_SECRET_FILE ------------------
expect 0 "fedsign sign over https (FEDSIGND_SECRET_FILE)" \
    client env FEDSIGND_SECRET_FILE="$TMP/secret" "$FEDSIGN" sign "$EX/federation-metadata.xml" \
    -o "$TMP/agg-https.xml" --key "$HTTPS_KEY" --valid-for 7d
check "xmlsec1 verifies it" xmlsec "$TMP/agg-https.xml" EntitiesDescriptor
check "the audit log names the TCP client" python3 -c "
import json
ls = [json.loads(l) for l in open('$TMP/audit.jsonl')]
assert any(x['client'].get('name') == 'aggregator' and x['api'] == 'v1' for x in ls)"
check "the secret is in no log" bash -c "! grep -q 0123456789abcdef '$TMP/daemon.log' '$TMP/audit.jsonl'"

# --- fedsign publish, parallel signing through fedsignd -------------------
mkdir -p "$TMP/members"
cp "$EX"/members/*.xml "$TMP/members/"
cat >"$TMP/publish.yaml" <<EOF
signing:
  key: "$UNIX_KEY"
publish-dir: $TMP/www
state-dir: $TMP/state
validity: 10d
publisher: https://fed.example.net/
sources:
  - name: members
    files: "$TMP/members/*.xml"
    registration-authority: https://fed.example.net/
feeds:
  - file: hub.xml
    name: https://md.fed.example.net/hub.xml
    sources: [members]
  - file: idps.xml
    sources: [members]
    select:
      roles: [idp]
EOF
expect 0 "fedsign publish with signing key $UNIX_KEY" client "$FEDSIGN" publish -c "$TMP/publish.yaml" -q
for f in hub idps; do
	check "xmlsec1 verifies the published $f.xml" xmlsec "$TMP/www/current/$f.xml" EntitiesDescriptor
done
check "publish touched no PKCS#11 module" test ! -e "$TMP/client-p11"
check "the PIN is in no output" bash -c "! grep -rqF -- '$PIN' '$TMP/out' '$TMP/err' '$TMP/www' '$TMP/state'"
sed "s|key: .*|key: \"${HTTPS_KEY//&/\\&}\"|; s|$TMP/www|$TMP/www2|; s|$TMP/state|$TMP/state2|" \
    "$TMP/publish.yaml" >"$TMP/publish-https.yaml"
expect 0 "fedsign publish over https" client env FEDSIGND_SECRET_FILE="$TMP/secret" "$FEDSIGN" publish \
    -c "$TMP/publish-https.yaml" -q
check "xmlsec1 verifies the feed published over https" xmlsec "$TMP/www2/current/hub.xml" EntitiesDescriptor

# --- errors: clear message, non-zero exit, no output ----------------------
refused "an unknown key" "no key 'nope'" "$TMP/x.xml" \
    "$FEDSIGN" sign "$EX/federation-metadata.xml" -o "$TMP/x.xml" --key "fedsignd:unix:$SOCK?key=nope"
refused "no key= in the URI" "key=" "$TMP/x.xml" \
    "$FEDSIGN" sign "$EX/federation-metadata.xml" -o "$TMP/x.xml" --key "fedsignd:unix:$SOCK"
refused "a wrong secret" "401" "$TMP/x.xml" env FEDSIGND_SECRET_FILE="$TMP/wrong" \
    "$FEDSIGN" sign "$EX/federation-metadata.xml" -o "$TMP/x.xml" --key "$HTTPS_KEY"
refused "a client not allowed the key" "403" "$TMP/x.xml" env FEDSIGND_SECRET_FILE="$TMP/limited" \
    "$FEDSIGN" sign "$EX/federation-metadata.xml" -o "$TMP/x.xml" --key "$HTTPS_KEY"
refused "https without FEDSIGND_SECRET_FILE" "FEDSIGND_SECRET_FILE" "$TMP/x.xml" \
    "$FEDSIGN" sign "$EX/federation-metadata.xml" -o "$TMP/x.xml" --key "$HTTPS_KEY"
refused "a certificate the client does not trust" "certificate" "$TMP/x.xml" env FEDSIGND_SECRET_FILE="$TMP/secret" \
    "$FEDSIGN" sign "$EX/federation-metadata.xml" -o "$TMP/x.xml" \
    --key "fedsignd:https://127.0.0.1:$PORT/?key=md-signing"
chmod 644 "$TMP/secret"
refused "a secret file others can read" "$TMP/secret" "$TMP/x.xml" env FEDSIGND_SECRET_FILE="$TMP/secret" \
    "$FEDSIGN" sign "$EX/federation-metadata.xml" -o "$TMP/x.xml" --key "$HTTPS_KEY"
chmod 600 "$TMP/secret"
refused "plain http to a host off loopback" "only for a daemon on this machine" "$TMP/x.xml" \
    "$FEDSIGN" sign "$EX/federation-metadata.xml" -o "$TMP/x.xml" --key "fedsignd:http://192.0.2.1:8080/?key=md-signing"
cp "$TMP/agg.xml" "$TMP/keep.xml"
stopped
refused "the daemon is not running" "fedsignd" "$TMP/x.xml" \
    "$FEDSIGN" sign "$EX/federation-metadata.xml" -o "$TMP/x.xml" --key "$UNIX_KEY"
err_has "is fedsignd running"
err_has "cannot connect to fedsignd's socket '$SOCK': No such file or directory"
client "$FEDSIGN" sign "$EX/federation-metadata.xml" -o "$TMP/keep.xml" --key "$UNIX_KEY" >/dev/null 2>&1
check "a failed sign leaves an existing output as it was" cmp "$TMP/agg.xml" "$TMP/keep.xml"
# A new member: the feeds must be signed again.
cp "$EX/idp-entity.xml" "$TMP/members/"
cp -a "$TMP/www" "$TMP/www.before"
expect 3 "fedsign publish with the daemon down fails" client "$FEDSIGN" publish -c "$TMP/publish.yaml" -q
err_has "fedsignd"
check "and publishes nothing new" diff -r "$TMP/www.before" "$TMP/www"

done_testing
