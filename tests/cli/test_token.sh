#!/bin/bash
# Token layer and key ceremony against a real SoftHSM2 token.
. "$SRCDIR/tests/lib.sh"

M=$SOFTHSM_MODULE
P11TOOL() { pkcs11-tool --module "$M" --token-label fed "$@" 2>/dev/null; }

expect 0 "--help" "$FEDSIGN" --help
out_has "Exit status"
expect 0 "--version" "$FEDSIGN" --version
out_has "fedsign "
expect 2 "unknown command is a usage error" "$FEDSIGN" frobnicate
expect 2 "keygen without --type" "$FEDSIGN" keygen --key "pkcs11:token=x"
for c in token keygen cert sign verify; do
	expect 0 "$c --help" "$FEDSIGN" $c --help
done

expect 0 "token init" new_token fed
expect 3 "a second init of the same label is refused" \
    "$FEDSIGN" token init --module "$M" --label fed \
    --so-pin-source "file:$TMP/sopin" --pin-source "file:$TMP/pin"
err_has "already exists"

# keygen for every type; attributes read back by OpenSC's pkcs11-tool.
for t in rsa:2048 rsa:3072 rsa:4096 ec:p256 ec:p384; do
	obj=k-${t/:/-}
	expect 0 "keygen $t" "$FEDSIGN" keygen --key "$(key_uri fed $obj)" --type $t
	out_has "key URI: pkcs11:token=fed;object=$obj;id="
	P11TOOL --login --pin 123456 --list-objects --type privkey --label $obj >"$TMP/p11"
	for attr in "sensitive" "always sensitive" "never extractable" "local"; do
		check "$t private key is $attr (pkcs11-tool)" grep -q "Access:.*$attr" "$TMP/p11"
	done
	check "$t private key usage is sign only (pkcs11-tool)" grep -qx "  Usage:      sign" "$TMP/p11"
	check "$t private key is not extractable" bash -c "! grep -q 'Access:.*[^r] extractable' '$TMP/p11'"
	expect 0 "token list --login shows $obj" "$FEDSIGN" token list --login "$(key_uri fed $obj)"
	out_has "private key: label=$obj"
	check "$t: our list says sensitive, never-extractable, local, no decrypt" \
	    grep -q "sensitive=yes always-sensitive=yes extractable=no never-extractable=yes local=yes sign=yes decrypt=no" "$TMP/out"

	# cert create: self-signed by the token key
	expect 0 "cert create for $t" "$FEDSIGN" cert create --key "$(key_uri fed $obj)" \
	    --subject "CN=Test Federation Signer $t,O=Test Federation,C=ZA" --out "$TMP/$obj.crt"
	cp "$TMP/out" "$TMP/create.out"
	check "$t cert verifies as self-signed (openssl verify)" \
	    openssl verify -CAfile "$TMP/$obj.crt" "$TMP/$obj.crt"
	want=$(openssl x509 -in "$TMP/$obj.crt" -noout -fingerprint -sha256 | cut -d= -f2)
	check "$t SHA-256 fingerprint equals openssl's" grep -q "SHA-256 fingerprint: $want" "$TMP/create.out"
	want=$(openssl x509 -in "$TMP/$obj.crt" -noout -fingerprint -sha1 | cut -d= -f2)
	check "$t SHA-1 fingerprint equals openssl's" grep -q "SHA-1 fingerprint:   $want" "$TMP/create.out"
	openssl x509 -in "$TMP/$obj.crt" -noout -pubkey >"$TMP/certpub.pem"
	case $t in
	rsa*)
		P11TOOL --read-object --type pubkey --label $obj -o "$TMP/pub.der"
		openssl pkey -pubin -inform DER -in "$TMP/pub.der" -outform PEM -out "$TMP/tokpub.pem" 2>/dev/null
		check "$t cert public key equals the token's public key" cmp -s "$TMP/tokpub.pem" "$TMP/certpub.pem"
		;;
	ec*)
		# pkcs11-tool 0.23 cannot export P-384 keys; compare the token's
		# CKA_EC_POINT (a DER OCTET STRING) with the end of the cert's SPKI.
		point=$(P11TOOL --list-objects --type pubkey | awk -v o="$obj" \
		    '$1 == "EC_POINT:" { p = substr($2, 5) } $1 == "label:" && $2 == o { print p }')
		spki=$(openssl pkey -pubin -in "$TMP/certpub.pem" -outform DER | xxd -p | tr -d '\n')
		check "$t cert public key equals the token's public key" \
		    test -n "$point" -a "${spki: -${#point}}" = "$point"
		;;
	esac
	check "$t cert subject" bash -c "openssl x509 -in '$TMP/$obj.crt' -noout -subject | grep -q 'CN = Test Federation Signer'"
	P11TOOL --list-objects --type cert --label $obj >"$TMP/p11"
	check "$t cert stored on the token with the key's label" grep -q "label:      $obj" "$TMP/p11"
	expect 0 "cert show for $t" "$FEDSIGN" cert show --key "$(key_uri fed $obj)"
	out_has "public key matches the private key: yes"
	out_has "BEGIN CERTIFICATE"
done

days=$(openssl x509 -in "$TMP/k-rsa-2048.crt" -noout -enddate | cut -d= -f2)
check "default validity is about ten years" \
    test $(( ($(date -d "$days" +%s) - $(date +%s)) / 86400 )) -ge 3649
expect 3 "a second cert for the same key needs --replace" "$FEDSIGN" cert create \
    --key "$(key_uri fed k-rsa-2048)" --subject "CN=x" --out "$TMP/x.crt"
err_has "--replace"
check "the refused run wrote no file" test ! -e "$TMP/x.crt"
expect 0 "cert create --replace" "$FEDSIGN" cert create --replace --days 30 \
    --key "$(key_uri fed k-rsa-2048)" --subject "CN=replaced" --out "$TMP/x.crt"
expect 0 "cert show after replace" "$FEDSIGN" cert show --key "$(key_uri fed k-rsa-2048)"
out_has "CN = replaced"

# Failures, each with a clear message and its own exit code.
expect 3 "duplicate label refused" "$FEDSIGN" keygen --key "$(key_uri fed k-ec-p256)" --type ec:p256
err_has "already has"
expect 0 "a key with id 01" "$FEDSIGN" keygen --type ec:p256 \
    --key "pkcs11:token=fed;object=new;id=%01?module-path=$M&pin-source=file:$TMP/pin"
expect 3 "duplicate id refused" "$FEDSIGN" keygen --type ec:p256 \
    --key "pkcs11:token=fed;object=new2;id=%01?module-path=$M&pin-source=file:$TMP/pin"
err_has "with id 01"

(umask 077; echo 000000 >"$TMP/wrongpin")
expect 3 "wrong PIN" "$FEDSIGN" cert show \
    --key "pkcs11:token=fed;object=k-ec-p256?module-path=$M&pin-source=file:$TMP/wrongpin"
err_has "CKR_PIN_INCORRECT"
err_has "PIN state"

chmod 644 "$TMP/wrongpin"
expect 3 "world-readable PIN file refused" "$FEDSIGN" cert show \
    --key "pkcs11:token=fed;object=k-ec-p256?module-path=$M&pin-source=file:$TMP/wrongpin"
err_has "can be read by others"
err_has "chmod 600"

expect 2 "pin-value in the URI refused" "$FEDSIGN" cert show \
    --key "pkcs11:token=fed;object=k-ec-p256?module-path=$M&pin-value=123456"
err_has "pin-source"

expect 3 "no PIN source and no terminal" bash -c "'$FEDSIGN' cert show --key 'pkcs11:token=fed;object=k-ec-p256?module-path=$M' </dev/null"
err_has "FEDSIGN_PIN"
expect 0 "PIN from FEDSIGN_PIN" env FEDSIGN_PIN=123456 "$FEDSIGN" cert show \
    --key "pkcs11:token=fed;object=k-ec-p256?module-path=$M"

expect 3 "missing token" "$FEDSIGN" cert show --key "$(key_uri nosuch k-ec-p256)"
err_has "no token matches"
err_has "'fed'"
expect 3 "no token present (shim)" env FS_SHIM_MODULE="$M" FS_SHIM_NO_TOKEN=1 \
    "$FEDSIGN" cert show --module "$SHIM" --key "$(key_uri fed k-ec-p256)"
err_has "CKR_TOKEN_NOT_PRESENT"
expect 3 "unknown module path" "$FEDSIGN" cert show --module /nonexistent/libnothing.so \
    --key "$(key_uri fed k-ec-p256)"
err_has "cannot load PKCS#11 module '/nonexistent/libnothing.so'"
expect 3 "ambiguous URI lists the candidates" "$FEDSIGN" cert show \
    --key "pkcs11:token=fed?module-path=$M&pin-source=file:$TMP/pin"
err_has "matches"
err_has "object=k-rsa-2048"
err_has "object=k-ec-p384"
expect 3 "URI matching no key lists what the token has" "$FEDSIGN" cert show \
    --key "$(key_uri fed nosuchkey)"
err_has "no private key"
err_has "object=k-ec-p256"

# A certificate of another key stored under this key's id: cert show says
# so, and cert create refuses before it writes anything.
"$FEDSIGN" keygen --key "pkcs11:token=fed;object=mis;id=%aa?module-path=$M&pin-source=file:$TMP/pin" --type ec:p256 >/dev/null
openssl x509 -in "$TMP/k-ec-p256.crt" -outform DER -out "$TMP/other.der"
P11TOOL --login --pin 123456 --write-object "$TMP/other.der" --type cert --id aa --label mis >/dev/null
expect 1 "cert show: the certificate is another key's" "$FEDSIGN" cert show \
    --key "pkcs11:token=fed;object=mis?module-path=$M&pin-source=file:$TMP/pin"
out_has "public key matches the private key: NO"
echo "keep me" >"$TMP/mis.crt"
expect 3 "cert create refuses over a mismatched certificate" "$FEDSIGN" cert create \
    --key "pkcs11:token=fed;object=mis?module-path=$M&pin-source=file:$TMP/pin" \
    --subject CN=mis --out "$TMP/mis.crt"
check "the refused cert create left the file alone" test "$(cat "$TMP/mis.crt")" = "keep me"
expect 0 "cert create --replace mends it" "$FEDSIGN" cert create --replace \
    --key "pkcs11:token=fed;object=mis?module-path=$M&pin-source=file:$TMP/pin" \
    --subject CN=mis --out "$TMP/mis.crt"
expect 0 "cert show after the mend" "$FEDSIGN" cert show \
    --key "pkcs11:token=fed;object=mis?module-path=$M&pin-source=file:$TMP/pin"
out_has "public key matches the private key: yes"

# A PIN in a URI is never repeated in a message, and never used.
expect 2 "bad URI with a pin-value" "$FEDSIGN" cert show --key "pkcs11:token=fed;object=%zz?pin-value=S3cret"
check "the pin-value is not echoed" bash -c "! grep -q S3cret '$TMP/err'"
expect 2 "token list refuses a pin-value" "$FEDSIGN" token list --login "pkcs11:token=fed?module-path=$M&pin-value=123456"
err_has "pin-source"

# Modules by p11-kit registered name, and the whole registry.
expect 0 "module-name=softhsm2 (p11-kit registry)" "$FEDSIGN" cert show \
    --key "pkcs11:token=fed;object=k-ec-p256?module-name=softhsm2&pin-source=file:$TMP/pin"
expect 3 "unknown module-name" "$FEDSIGN" cert show \
    --key "pkcs11:token=fed;object=k-ec-p256?module-name=nosuch&pin-source=file:$TMP/pin"
err_has "no PKCS#11 module named 'nosuch'"
expect 0 "no module given: every registered module is searched" "$FEDSIGN" cert show \
    --key "pkcs11:token=fed;object=k-ec-p256?pin-source=file:$TMP/pin"

expect 3 "RSA size above the token's CK_MECHANISM_INFO maximum" \
    env FS_SHIM_MODULE="$M" FS_SHIM_RSA_MAX=2048 "$FEDSIGN" keygen --type rsa:4096 \
    --module "$SHIM" --key "$(key_uri fed big)"
err_has "cannot make a 4096-bit RSA key"
err_has "2048"
expect 0 "rsa:2048 on the same limited token" \
    env FS_SHIM_MODULE="$M" FS_SHIM_RSA_MAX=2048 "$FEDSIGN" keygen --type rsa:2048 \
    --module "$SHIM" --key "$(key_uri fed small)"
expect 2 "unknown key type" "$FEDSIGN" keygen --type rsa:1024 --key "$(key_uri fed t)"

expect 0 "token list without login shows no private keys" "$FEDSIGN" token list --module "$M"
out_has "token: fed"
out_has "public key: label=k-rsa-2048"
check "no private key listed without login" bash -c "! grep -q 'private key:' '$TMP/out'"

# PINs typed at a terminal prompt, without echo.
PTY=$SRCDIR/tests/tools/pty-answer.py
expect 0 "token init with PINs from prompts" "$PTY" 31415926,31415926,271828,271828 -- \
    "$FEDSIGN" token init --module "$M" --label typed --so-pin-source prompt --pin-source prompt
out_has "Repeat new user PIN for token 'typed'"
check "typed PINs are not echoed" bash -c "! grep -qE '31415926|271828' '$TMP/out'"
expect 0 "login with the PIN typed at the prompt" "$PTY" 271828 -- \
    "$FEDSIGN" keygen --type ec:p256 --key "pkcs11:token=typed;object=k?module-path=$M"
out_has "Enter user PIN for token 'typed'"
check "the login PIN is not echoed" bash -c "! grep -q 271828 '$TMP/out'"
expect 3 "two different PINs at the repeat prompt" "$PTY" 1111,2222 -- \
    "$FEDSIGN" token init --module "$M" --label typed2 --so-pin-source prompt --pin-source prompt
out_has "differ"

# Whatever happened above, the PIN never reached the command line or output.
check "PIN never printed" bash -c "! grep -rq 123456 '$TMP/out' '$TMP/err'"

done_testing
