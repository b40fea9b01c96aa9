#!/bin/bash
# What a hostile test found (issue #4): unsigned content inside the
# signature, special files as outputs, PIN exposure, unprotected key
# files, lengths from a PKCS#11 module, control characters in messages,
# deep and wide documents, namespace errors, hung and crashing modules,
# signals during the write, impossible dates, limits, key URIs, and
# messages for empty input and unusable token certificates.
. "$SRCDIR/tests/lib.sh"

EX=$SRCDIR/examples
H=$SRCDIR/tests/tools/hostile.py
GEN=$SRCDIR/tests/tools/gen-aggregate.py
pem_key rsa2048 "$TMP/k.pem"
S=("$FEDSIGN" sign --key-file "$TMP/k.pem" --cert "$TMP/k.pem.crt")
V=("$FEDSIGN" verify --cert "$TMP/k.pem.crt")
evil_count() { xmllint --xpath 'count(//*[@entityID="https://evil.example.org/idp"])' "$1" 2>/dev/null; }

expect 0 "sign the example aggregate" "${S[@]}" "$EX/federation-metadata.xml" -o "$TMP/good.xml" --valid-for 7d
expect 0 "it verifies" "${V[@]}" "$TMP/good.xml"

# --- 1. unsigned content inside ds:Signature ---------------------------
for kind in object manifest keyinfo x509data sigvalue pi-keyinfo retrieval; do
	python3 "$H" "$kind" "$TMP/good.xml" "$TMP/$kind.xml"
	check "$kind: xmlsec1 itself accepts the variant (the hole was real)" \
	    bash -c "[ $kind = sigvalue ] || [ $kind = pi-keyinfo ] || [ $kind = retrieval ] || xmlsec1 --verify \
	    --id-attr:ID urn:oasis:names:tc:SAML:2.0:metadata:EntitiesDescriptor \
	    --pubkey-cert-pem '$TMP/k.pem.crt' --enabled-key-data key-name,rsa,ec '$TMP/$kind.xml'"
	rm -f "$TMP/out-$kind.xml"
	expect 1 "$kind: refused by fedsign verify" "${V[@]}" "$TMP/$kind.xml" -o "$TMP/out-$kind.xml"
	err_has "unsigned content"
	check "$kind: verify -o wrote nothing" test ! -e "$TMP/out-$kind.xml"
done
check "the injected entity was in the object variant" test "$(evil_count "$TMP/object.xml")" = 1
err_has "the strict profile"
expect 1 "a ds:Object is named as such" "${V[@]}" "$TMP/object.xml"
err_has "Object"

# --- 2. special files as outputs ----------------------------------------
mkdir -p "$TMP/special"
mknod "$TMP/special/null" c 1 3
mkfifo "$TMP/special/fifo"
ln -s /proc/self/fd/1 "$TMP/special/link"
mkdir "$TMP/special/dir"
for t in null fifo link dir; do
	expect 4 "verify -o onto a $t is refused" "${V[@]}" "$TMP/good.xml" -o "$TMP/special/$t"
	err_has "will not replace"
	expect 4 "sign -o onto a $t is refused" "${S[@]}" "$EX/idp-entity.xml" -o "$TMP/special/$t" --valid-for 1d
done
check "the device node is still a device" test -c "$TMP/special/null"
check "the FIFO is still a FIFO" test -p "$TMP/special/fifo"
check "the link is still a link" test -L "$TMP/special/link"
check "the folder is still a folder" test -d "$TMP/special/dir"
check "nothing else appeared beside them" test "$(ls -A "$TMP/special" | wc -l)" = 4
expect 0 "-o - writes to standard output" "${V[@]}" "$TMP/good.xml" -o -
out_has "<ds:Signature"

# --- 3. PIN exposure: FEDSIGN_PIN out of the environment, no core dumps --
PIN=fedsign-pin-7f3a9c2e41d0
new_token() {
	local label=$1
	mkdir -p "$TMP/hsm/tokens"
	printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n' \
	    "$TMP/hsm/tokens" >"$TMP/hsm/softhsm2.conf"
	export SOFTHSM2_CONF=$TMP/hsm/softhsm2.conf
	(umask 077; printf '%s\n' "$PIN" >"$TMP/pin"; printf '87654321\n' >"$TMP/sopin")
	"$FEDSIGN" token init --module "$SOFTHSM_MODULE" --label "$label" \
	    --so-pin-source "file:$TMP/sopin" --pin-source "file:$TMP/pin" >/dev/null
}
new_token hostile
"$FEDSIGN" keygen --key "$(key_uri hostile a)" --type rsa:2048 >/dev/null
"$FEDSIGN" cert create --key "$(key_uri hostile a)" --subject CN=a --out "$TMP/a.crt" >/dev/null
NOPIN="pkcs11:token=hostile;object=a"
SHIM_ENV=(env FS_SHIM_MODULE="$SOFTHSM_MODULE")

# hanging MARK: wait (30 s at most) until the shim says, in MARK, that
# a call hangs: the checks look at a process that got that far, however
# slowly it got there.
hanging() {
	wait_until 30 test -s "$1" && return 0
	echo "# the module never hung ($1 is empty)"
	return 1
}

# hung CALL: a background fedsign sign stopped inside the module, in CALL.
hung() {
	rm -f "$TMP/hang.mark"
	"${SHIM_ENV[@]}" FS_SHIM_HANG="$1" FS_SHIM_HANG_MARK="$TMP/hang.mark" \
	    FEDSIGN_PIN="$PIN" FEDSIGN_P11_TIMEOUT=60 \
	    "$FEDSIGN" sign "$EX/idp-entity.xml" -o "$TMP/hung.xml" --valid-for 1d \
	    --module "$SHIM" --key "$NOPIN" >/dev/null 2>&1 &
	HUNG=$!
	hanging "$TMP/hang.mark"
}
hung C_Initialize
check "FEDSIGN_PIN is not in /proc/PID/environ while the module hangs in C_Initialize" \
    bash -c "! tr '\0' '\n' </proc/$HUNG/environ | grep -q FEDSIGN_PIN"
check "the PIN is nowhere in /proc/PID/environ" bash -c "! grep -qa '$PIN' /proc/$HUNG/environ"
check "core dumps are off (RLIMIT_CORE 0)" bash -c "grep -E '^Max core file size +0 +0 ' /proc/$HUNG/limits"
kill -9 $HUNG; wait $HUNG 2>/dev/null
hung C_Sign
check "after the login, while signing, the PIN is nowhere in the process's memory" \
    bash -c "! python3 '$SRCDIR/tests/tools/memgrep.py' $HUNG '$PIN'"
kill -9 $HUNG; wait $HUNG 2>/dev/null
# Not dumpable: another process of the same user can neither read the
# environment nor ptrace it; /proc/PID files then belong to root.
# (Its mark goes to a folder of its own that user nobody may write to.)
NBD=$(mktemp -d /tmp/fedsign-nobody.XXXXXX)
chmod 1777 "$NBD"
setpriv --reuid=65534 --regid=65534 --clear-groups env FS_SHIM_MODULE="$SOFTHSM_MODULE" \
    FS_SHIM_HANG=C_Initialize FS_SHIM_HANG_MARK="$NBD/mark" FEDSIGN_PIN="$PIN" \
    "$FEDSIGN" sign "$EX/idp-entity.xml" -o /tmp/never.xml --valid-for 1d \
    --module "$SHIM" --key "$NOPIN" >/dev/null 2>&1 &
NB=$!
setpriv --reuid=65534 --regid=65534 --clear-groups sleep 60 &
CONTROL=$!
hanging "$NBD/mark"
check "a process of user nobody owns its /proc/PID/environ (the control)" \
    test "$(stat -c %u /proc/$CONTROL/environ)" = 65534
check "fedsign run as nobody is not dumpable: its /proc/PID/environ belongs to root" \
    test "$(stat -c %u /proc/$NB/environ)" = 0
kill -9 $NB $CONTROL; wait $NB $CONTROL 2>/dev/null
rm -rf "$NBD"

# --- 4. a key file others can read -------------------------------------
cp "$TMP/k.pem" "$TMP/open.pem"
chmod 644 "$TMP/open.pem"
expect 3 "a key file readable by others is refused" "$FEDSIGN" sign "$EX/idp-entity.xml" \
    -o "$TMP/x.xml" --key-file "$TMP/open.pem" --cert "$TMP/k.pem.crt" --valid-for 1d
err_has "chmod 600"
check "nothing written" test ! -e "$TMP/x.xml"

# --- 5. lengths from the module ----------------------------------------
for n in 100000 255 0; do
	expect 3 "C_Sign reporting $n bytes is refused" "${SHIM_ENV[@]}" FS_SHIM_SIGLEN=$n \
	    "$FEDSIGN" sign "$EX/idp-entity.xml" -o "$TMP/x.xml" --valid-for 1d --module "$SHIM" \
	    --key "$(key_uri hostile a)"
	err_has "a signature of $n bytes"
done
check "nothing written" test ! -e "$TMP/x.xml"

# --- 6. control characters in messages ---------------------------------
python3 "$H" cr-alg "$TMP/good.xml" "$TMP/cr.xml"
expect 1 "an Algorithm with a carriage return is refused" "${V[@]}" "$TMP/cr.xml"
check "no raw carriage return reaches the terminal" bash -c "! grep -q \$'\r' '$TMP/err'"
check "no second line: the fake one stays on the first" test "$(wc -l <"$TMP/err")" = 1
err_has '\x0D'
err_has '\x0A'

# --- 7. deep and wide documents, refused fast ---------------------------
python3 "$H" deep 60000 "$TMP/deep.xml"
python3 "$H" wide 50000 "$TMP/wide.xml"
python3 "$H" xmlns 100000 "$TMP/xmlns.xml"
for f in deep wide xmlns; do
	t0=$EPOCHREALTIME
	expect 1 "sign refuses the $f document" "${S[@]}" "$TMP/$f.xml" -o "$TMP/x.xml" --valid-for 1d
	t1=$EPOCHREALTIME
	check "... within a second" awk -v a="$t0" -v b="$t1" 'BEGIN { exit !(b - a < 1.0) }'
	expect 1 "verify refuses the $f document" "${V[@]}" "$TMP/$f.xml"
done
expect 1 "deep: named" "${V[@]}" "$TMP/deep.xml"
err_has "nested more than 256 deep"
expect 1 "wide: named" "${V[@]}" "$TMP/wide.xml"
err_has "more than 256 attributes"
expect 1 "the depth limit can be lowered" "${V[@]}" "$TMP/good.xml" --max-depth 3
err_has "nested more than 3 deep"
python3 "$H" deep 1000 "$TMP/deep1000.xml"
expect 0 "... and raised" "${S[@]}" "$TMP/deep1000.xml" -o "$TMP/x.xml" --valid-for 1d --max-depth 2000 -q
expect 2 "... but not beyond what the canonicaliser's stack allows" "${S[@]}" "$TMP/deep.xml" \
    -o "$TMP/x.xml" --valid-for 1d --max-depth 70000
err_has "from 1 to 5000"
rm -f "$TMP/x.xml"

# --- 8. not namespace-well-formed --------------------------------------
MD='xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"'
E="entityID=\"https://sp.example.org/sp\" validUntil=\"2099-01-01T00:00:00Z\""
printf '<md:EntityDescriptor %s %s><foo:bar/></md:EntityDescriptor>\n' "$MD" "$E" >"$TMP/ns1.xml"
printf '<md:EntityDescriptor %s %s><x xmlns:p=""/></md:EntityDescriptor>\n' "$MD" "$E" >"$TMP/ns2.xml"
printf '<md:EntityDescriptor %s %s xmlns:xml="urn:other"/>\n' "$MD" "$E" >"$TMP/ns3.xml"
printf '<md:EntityDescriptor %s %s xmlns:a="urn:x" xmlns:b="urn:x" a:k="1" b:k="2"/>\n' "$MD" "$E" >"$TMP/ns4.xml"
for i in 1 2 3 4; do
	expect 1 "sign refuses namespace error $i" "${S[@]}" "$TMP/ns$i.xml" -o "$TMP/x.xml"
	err_has "not well-formed"
	expect 1 "verify refuses namespace error $i" "${V[@]}" "$TMP/ns$i.xml"
done
check "nothing written" test ! -e "$TMP/x.xml"

# --- 9. hung and crashing modules --------------------------------------
echo "previous" >"$TMP/pub.xml"
before=$(sha256sum <"$TMP/pub.xml")
unchanged() { test "$(sha256sum <"$TMP/pub.xml")" = "$before" && test "$(ls -A "$TMP" | grep -c '^\.fedsign-')" = 0; }
for call in C_Initialize C_Login C_Sign; do
	t0=$EPOCHREALTIME
	expect 3 "a module hanging in $call ends the command" "${SHIM_ENV[@]}" FS_SHIM_HANG=$call \
	    FEDSIGN_P11_TIMEOUT=2 "$FEDSIGN" sign "$EX/idp-entity.xml" -o "$TMP/pub.xml" \
	    --valid-for 1d --module "$SHIM" --key "$(key_uri hostile a)"
	t1=$EPOCHREALTIME
	err_has "did not return from $call within 2 seconds"
	check "... after the timeout, not much later" awk -v a="$t0" -v b="$t1" 'BEGIN { exit !(b - a < 6) }'
	check "... and the previous output is untouched" unchanged
done
# (bash -c: the dying child's "Segmentation fault" stays out of the TAP.)
bash -c '"$@" >/dev/null 2>&1' - "${SHIM_ENV[@]}" FS_SHIM_FINALIZE_CRASH=1 "$FEDSIGN" sign \
    "$EX/idp-entity.xml" -o "$TMP/pub.xml" --valid-for 1d --module "$SHIM" \
    --key "$(key_uri hostile a)" 2>/dev/null
rc=$?
check "a module crashing in C_Finalize fails the command (status $rc)" test $rc -ne 0
check "... before anything was committed" unchanged

# --- 10. signals and file-size limits during the write ------------------
python3 "$GEN" 3000 "$TMP/big.xml" --certs "$TMP/gencerts" >/dev/null 2>&1
check "a 3,000-entity aggregate to write" test -s "$TMP/big.xml"
mkdir -p "$TMP/w"
echo "previous" >"$TMP/w/out.xml"
wbefore=$(sha256sum <"$TMP/w/out.xml")
for sig in SIGINT SIGTERM SIGHUP; do
	caught=missed
	for try in 1 2 3 4 5; do
		caught=$(python3 "$SRCDIR/tests/tools/interrupt.py" $sig "$TMP/w" -- "${S[@]}" \
		    "$TMP/big.xml" -o "$TMP/w/out.xml" --valid-for 1d)
		[ "$caught" != missed ] && break
	done
	check "$sig arrived during the write ($caught)" test "$caught" != missed
	check "... the temporary file was mode 0600 while written" test "$caught" = "caught 600"
	check "... no temporary file is left" test "$(ls -A "$TMP/w")" = out.xml
	check "... the previous output is untouched" test "$(sha256sum <"$TMP/w/out.xml")" = "$wbefore"
done
expect 4 "ulimit -f during the write" bash -c "ulimit -f 1000; exec \"\$@\"" - "${S[@]}" \
    "$TMP/big.xml" -o "$TMP/w/out.xml" --valid-for 1d
err_has "File too large"
check "... no temporary file is left" test "$(ls -A "$TMP/w")" = out.xml
check "... the previous output is untouched" test "$(sha256sum <"$TMP/w/out.xml")" = "$wbefore"
# Stale temporary files of earlier runs are removed; one in use is not.
touch "$TMP/w/.fedsign-stale001"
touch "$TMP/w/.fedsign-inuse001"
# The holder is the sleep itself (flock(1) with a command would leave its
# child behind, holding the test's output open for 30 s after the kill).
( exec 9>>"$TMP/w/.fedsign-inuse001"; flock 9; : >"$TMP/inuse.locked"; exec sleep 30 ) &
LOCKER=$!
wait_until 10 test -e "$TMP/inuse.locked"
expect 0 "a run in a folder with stale temporary files" "${S[@]}" "$EX/idp-entity.xml" \
    -o "$TMP/w/out.xml" --valid-for 1d
check "... removes the stale one" test ! -e "$TMP/w/.fedsign-stale001"
check "... keeps the one another process holds" test -e "$TMP/w/.fedsign-inuse001"
kill $LOCKER; wait $LOCKER 2>/dev/null
rm -f "$TMP/w/.fedsign-inuse001"

# Ctrl-C at the PIN prompt leaves the terminal as it was.
check "Ctrl-C at the PIN prompt restores echo" python3 "$SRCDIR/tests/tools/pty-interrupt.py" -- \
    "$FEDSIGN" sign "$EX/idp-entity.xml" -o "$TMP/x.xml" --valid-for 1d \
    --key "pkcs11:token=hostile;object=a?module-path=$SOFTHSM_MODULE"
check "... and nothing was written" test ! -e "$TMP/x.xml"

# --- 11. names, modes and groups of outputs ------------------------------
long=$TMP/$(printf 'a%.0s' $(seq 250)).xml
expect 0 "an output name of 254 bytes" "${S[@]}" "$EX/idp-entity.xml" -o "$long" --valid-for 1d
check "... written" test -s "$long"
install -m 0640 -g daemon /dev/null "$TMP/grp.xml"
expect 0 "replace a file of mode 0640, group daemon" "${S[@]}" "$EX/idp-entity.xml" -o "$TMP/grp.xml" --valid-for 1d
check "... it keeps mode 0640 and group daemon" test "$(stat -c '%a %G' "$TMP/grp.xml")" = "640 daemon"
(umask 027; "${S[@]}" "$EX/idp-entity.xml" -o "$TMP/new.xml" --valid-for 1d -q)
check "a new file gets 0666 less the umask (027: 640)" test "$(stat -c %a "$TMP/new.xml")" = 640

# --- 12. dates, validity, size limits ----------------------------------
sed 's|entityID=|validUntil="2027-02-29T00:00:00Z" entityID=|' "$EX/idp-entity.xml" >"$TMP/feb29.xml"
expect 1 "29 February 2027 does not exist" "${S[@]}" "$TMP/feb29.xml" -o "$TMP/x.xml"
err_has "not a valid dateTime"
sed 's|entityID=|validUntil="2096-02-29T00:00:00Z" entityID=|' "$EX/idp-entity.xml" >"$TMP/feb29b.xml"
expect 0 "29 February 2096 does" "${S[@]}" "$TMP/feb29b.xml" -o "$TMP/x.xml" -q
perl -pe 's/validUntil="[^"]*"/validUntil="2027-02-29T00:00:00Z"/' "$TMP/good.xml" >"$TMP/feb29v.xml"
expect 1 "verify refuses 29 February 2027" "${V[@]}" "$TMP/feb29v.xml"
err_has "not a valid xs:dateTime"
expect 0 "sign for 60 days" "${S[@]}" "$EX/federation-metadata.xml" -o "$TMP/60d.xml" --valid-for 60d
expect 1 "verify refuses 60 days by default" "${V[@]}" "$TMP/60d.xml"
err_has "maximum validity P28D"
expect 0 "... and accepts them with --max-validity 61d" "${V[@]}" "$TMP/60d.xml" --max-validity 61d
expect 1 "standard input over --max-size" bash -c "(echo '<md:EntitiesDescriptor $MD>'; yes '<!-- x -->') |
    timeout 20 \"\$@\"" - "${S[@]}" - -o "$TMP/x.xml" --valid-for 1d --max-size 10M
err_has "larger than 10485760 bytes"
expect 1 "a file over --max-size" "${S[@]}" "$TMP/big.xml" -o "$TMP/x.xml" --valid-for 1d --max-size 1M
err_has "the size limit"
rm -f "$TMP/x.xml"

# --- 13. key URIs -------------------------------------------------------
for u in "pkcs11:token=hostile;object=a;type=cert" "pkcs11:token=hostile;object=a;type=public"; do
	expect 2 "the URI's ${u##*;} is honoured: not a private key" "$FEDSIGN" sign "$EX/idp-entity.xml" \
	    -o "$TMP/x.xml" --valid-for 1d --key "$u?module-path=$SOFTHSM_MODULE&pin-source=file:$TMP/pin"
	err_has "${u##*;}"
done
expect 0 "type=private is accepted" "$FEDSIGN" sign "$EX/idp-entity.xml" -o "$TMP/x.xml" --valid-for 1d \
    --key "pkcs11:token=hostile;object=a;type=private?module-path=$SOFTHSM_MODULE&pin-source=file:$TMP/pin"
rm -f "$TMP/x.xml"
expect 2 "type=bogus is refused" "$FEDSIGN" sign "$EX/idp-entity.xml" -o "$TMP/x.xml" --valid-for 1d \
    --key "pkcs11:token=hostile;object=a;type=bogus?module-path=$SOFTHSM_MODULE"
err_has "is not private, public, cert"
expect 2 "an uppercase PIN-VALUE is named" "$FEDSIGN" sign "$EX/idp-entity.xml" -o "$TMP/x.xml" \
    --valid-for 1d --key "pkcs11:token=hostile;object=a?module-path=$SOFTHSM_MODULE&PIN-VALUE=1234"
err_has "pin-value"
check "... and the PIN is not repeated" bash -c "! grep -q 1234 '$TMP/err'"
expect 2 "a mistyped attribute is named" "$FEDSIGN" sign "$EX/idp-entity.xml" -o "$TMP/x.xml" \
    --valid-for 1d --key "pkcs11:token=hostile;objet=a?module-path=$SOFTHSM_MODULE"
err_has "unknown path attribute 'objet'"
check "nothing written" test ! -e "$TMP/x.xml"

# --- 14. messages -------------------------------------------------------
: >"$TMP/empty.xml"
printf '  \n\t\n' >"$TMP/blank.xml"
for f in "$TMP/empty.xml" "$TMP/blank.xml" /dev/null; do
	expect 1 "sign: $(basename "$f") is an empty document" "${S[@]}" "$f" -o "$TMP/x.xml" --valid-for 1d
	err_has "empty document"
	expect 1 "verify: $(basename "$f") is an empty document" "${V[@]}" "$f"
	err_has "empty document"
done
expect 1 "empty standard input" bash -c "\"\$@\" </dev/null" - "${S[@]}" - -o "$TMP/x.xml" --valid-for 1d
err_has "empty document"
# A certificate object with the key's id that belongs to another key.
"$FEDSIGN" keygen --key "$(key_uri hostile b)" --type rsa:2048 >/dev/null
"$FEDSIGN" cert create --key "$(key_uri hostile b)" --subject CN=b --out "$TMP/b.crt" >/dev/null
"$FEDSIGN" keygen --key "$(key_uri hostile c)" --type rsa:2048 >/dev/null
cid=$("$FEDSIGN" token list --login "$(key_uri hostile c)" | sed -n 's/.*private key: label=c id=\([0-9a-f]*\).*/\1/p')
openssl x509 -in "$TMP/b.crt" -outform der -out "$TMP/b.der"
pkcs11-tool --module "$SOFTHSM_MODULE" --token-label hostile --login --pin "$PIN" \
    --write-object "$TMP/b.der" --type cert --id "$cid" --label c >/dev/null 2>&1
check "a certificate of key b was stored under key c's id ($cid)" test -n "$cid"
expect 3 "signing with key c names the certificate of another key" "$FEDSIGN" sign "$EX/idp-entity.xml" \
    -o "$TMP/x.xml" --valid-for 1d --key "$(key_uri hostile c)"
err_has "belongs to another key pair"
expect 0 "... and --cert still works" "$FEDSIGN" sign "$EX/idp-entity.xml" -o "$TMP/x.xml" -q \
    --valid-for 1d --key "$(key_uri hostile c)" --no-keyinfo
expect 3 "a device error reading the token certificate is named" "${SHIM_ENV[@]}" FS_SHIM_CERT_FAIL=1 \
    "$FEDSIGN" sign "$EX/idp-entity.xml" -o "$TMP/y.xml" --valid-for 1d --module "$SHIM" \
    --key "$(key_uri hostile a)"
err_has "CKR_DEVICE_ERROR"
err_has "certificate object"
check "nothing written" test ! -e "$TMP/y.xml"

done_testing
