#!/bin/bash
# The options each command's --help shows, the man page and the README
# say the same: every option in a help text is in doc/fedsign.1 and in
# README.md, every option in the man page is in some help text, every help
# text has the exit codes, and every command is in both documents.
. "$SRCDIR/tests/lib.sh"

MAN=$SRCDIR/doc/fedsign.1
README=$SRCDIR/README.md
: >"$TMP/all-help"
for cmd in "token list" "token init" keygen "cert create" "cert show" sign verify publish check serve; do
	# shellcheck disable=SC2086
	expect 0 "fedsign $cmd --help" "$FEDSIGN" $cmd --help
	cat "$TMP/out" >>"$TMP/all-help"
	for code in 0 1 2 3 4 5; do
		check "$cmd --help names exit status $code" grep -qE "^ +$code  " "$TMP/out"
	done
	for opt in $(grep -oE -- '--[a-z][a-z0-9-]+' "$TMP/out" | sort -u); do
		check "$cmd $opt is in the man page" grep -qE -- "Fl -${opt#--}( |$)" "$MAN"
		check "$cmd $opt is in the README" grep -qF -- "$opt" "$README"
	done
	check "$cmd is in the man page" grep -qE "^\.Cm $cmd$" "$MAN"
	check "$cmd is in the README" grep -qF "fedsign $cmd" "$README"
done
for opt in $(grep -oE -- 'Fl -[a-z][a-z0-9-]+' "$MAN" | sed 's/^Fl /-/' | sort -u); do
	case $opt in --help|--version) continue ;; esac
	check "the man page's $opt is in a help text" grep -qF -- "$opt" "$TMP/all-help"
done
expect 0 "fedsign --help" "$FEDSIGN" --help
for code in 0 1 2 3 4 5; do
	check "fedsign --help names exit status $code" grep -qE "^ +$code  " "$TMP/out"
done
for env in FEDSIGN_PIN FEDSIGN_P11_TIMEOUT; do
	check "$env is in the man page" grep -qF "$env" "$MAN"
	check "$env is in the README" grep -qF "$env" "$README"
done
# Every key the configuration loader knows is documented, and in the
# example configuration or the man page's tables.
keys=$(awk '/_keys\[\] = \{/ { f = 1 } f { print } f && /\};/ { f = 0 }' "$SRCDIR/src/lib/conf/conf.c" |
    grep -oE '"[a-z][a-z-]*"' | tr -d '"' | sort -u)
[ -n "$keys" ] && ok "found the configuration keys in conf.c" || nok "no configuration keys found in conf.c"
for key in $keys; do
	check "config key $key is in the man page" grep -qE "^\.(It|Cm|It Cm) .*\b$key\b|Cm $key\b" "$MAN"
done
for key in signing publish-dir state-dir validity cache-duration sources checks feeds safety max-entity-drop; do
	check "config key $key is in the example" grep -qE "^ *(- )?$key:" "$SRCDIR/examples/publish-safire.yaml"
done

if command -v groff >/dev/null; then
	check "the man page formats without warnings" bash -c "groff -mdoc -Tutf8 -ww -z '$MAN' 2>&1 | (! grep .)"
fi

# fedsignd(8): every option of its usage text and every key its
# configuration loader knows is in the man page and the example.
DMAN=$SRCDIR/doc/fedsignd.8
for opt in $(sed -n '/^static const char usage_text/,/;$/p' "$SRCDIR/src/daemon/main.c" |
    grep -oE '^"  -[a-z]' | tr -d '" -'); do
	check "fedsignd -$opt is in fedsignd.8" grep -qE "^\.It Fl $opt( |$)" "$DMAN"
done
dkeys=$(awk '/_keys\[\] = \{/ { f = 1 } f { print } f && /\};/ { f = 0 }' "$SRCDIR/src/daemon/conf.c" |
    grep -oE '"[a-z][a-z0-9-]*"' | tr -d '"' | sort -u)
[ -n "$dkeys" ] && ok "found fedsignd's configuration keys" || nok "no fedsignd configuration keys found"
for key in $dkeys; do
	check "fedsignd key $key is in fedsignd.8" grep -qE "^\.It Cm (.*, )?$key( |,|$)" "$DMAN"
	check "fedsignd key $key is in examples/fedsignd.yaml" grep -qE "^ *(# *)?(- )?$key:" "$SRCDIR/examples/fedsignd.yaml"
done
check "fedsignd.8 is in the README" grep -qF "fedsignd(8)" "$README"
if command -v groff >/dev/null; then
	check "fedsignd.8 formats without warnings" bash -c "groff -mdoc -Tutf8 -ww -z '$DMAN' 2>&1 | (! grep .)"
fi

done_testing
