#!/bin/bash
# Out of memory fails closed (issue #4): under a range of address-space
# limits (ulimit -v), signing and verifying an 800-entity aggregate either
# succeed completely or fail naming memory, with exit 5 and nothing
# written.  Before this was fixed, libxml2 stopped parsing when memory ran
# out without marking the document as broken, and fedsign signed and
# published the part it had: 72 of 800 entities, validly signed, exit 0.
# The plain build only: the sanitizers reserve terabytes of address space.
. "$SRCDIR/tests/lib.sh"

GEN=$SRCDIR/tests/tools/gen-aggregate.py
pem_key rsa2048 "$TMP/k.pem"
python3 "$GEN" 800 "$TMP/a800.xml" --certs "$TMP/gencerts" >/dev/null 2>&1
entities() { xmllint --xpath 'count(//*[local-name()="EntityDescriptor"])' "$1" 2>/dev/null; }
check "an 800-entity aggregate" test "$(entities "$TMP/a800.xml")" = 800
"$FEDSIGN" sign "$TMP/a800.xml" -o "$TMP/signed.xml" --key-file "$TMP/k.pem" \
    --cert "$TMP/k.pem.crt" --valid-for 14d -q

# under LIMIT CMD...: run CMD with ulimit -v LIMIT (KiB); stderr to $TMP/err.
under() {
	local kb=$1; shift
	(ulimit -v "$kb"; exec "$@") >"$TMP/out" 2>"$TMP/err"
}

# sweep WHAT STDIN: sign under limits from 20 MiB up; count the outcomes.
sweep() {
	local what=$1 stdin=$2 kb rc n truncated=0 oom=0 good=0 other=0 dirty=0
	for kb in $(seq 30000 4000 110000); do
		echo previous >"$TMP/pub.xml"
		if [ "$stdin" = 1 ]; then
			under "$kb" bash -c '"$@" <"$0"' "$TMP/a800.xml" "$FEDSIGN" sign - -o "$TMP/pub.xml" \
			    --key-file "$TMP/k.pem" --cert "$TMP/k.pem.crt" --valid-for 14d -q
		else
			under "$kb" "$FEDSIGN" sign "$TMP/a800.xml" -o "$TMP/pub.xml" \
			    --key-file "$TMP/k.pem" --cert "$TMP/k.pem.crt" --valid-for 14d -q
		fi
		rc=$?
		if [ $rc -eq 0 ]; then
			n=$(entities "$TMP/pub.xml")
			if [ "$n" = 800 ] && "$FEDSIGN" verify -q "$TMP/pub.xml" --cert "$TMP/k.pem.crt"; then
				good=$((good + 1))
			else
				truncated=$((truncated + 1))
				echo "# $what: ulimit -v $kb: exit 0 with $n of 800 entities"
			fi
		elif [ $rc -eq 5 ] && grep -q "out of memory" "$TMP/err"; then
			oom=$((oom + 1))
			[ "$(cat "$TMP/pub.xml")" = previous ] || dirty=$((dirty + 1))
		elif grep -qE "error while loading shared libraries|cannot allocate memory|Cannot allocate memory" "$TMP/err"; then
			other=$((other + 1))	# could not even start, or OpenSSL gave up
			[ "$(cat "$TMP/pub.xml")" = previous ] || dirty=$((dirty + 1))
		else
			other=$((other + 1))
			echo "# $what: ulimit -v $kb: exit $rc: $(head -c 300 "$TMP/err")"
			[ "$(cat "$TMP/pub.xml")" = previous ] || dirty=$((dirty + 1))
		fi
		[ -z "$(ls -A "$TMP" | grep '^\.fedsign-')" ] || dirty=$((dirty + 1))
	done
	echo "# $what: $good complete, $oom out of memory, $other other failures, $truncated truncated"
	check "$what: no limit gives a truncated but signed aggregate" test $truncated -eq 0
	check "$what: some limits run out of memory while parsing or signing ($oom)" test $oom -ge 3
	check "$what: enough memory signs all 800 entities ($good)" test $good -ge 3
	check "$what: every failure left the previous output untouched" test $dirty -eq 0
}
sweep "sign a file" 0
sweep "sign standard input" 1

# verify: never a verdict of "not valid" for lack of memory.
wrong=0 oom=0 good=0
for kb in $(seq 30000 4000 110000); do
	under "$kb" "$FEDSIGN" verify "$TMP/signed.xml" --cert "$TMP/k.pem.crt" -o "$TMP/v.xml"
	rc=$?
	case $rc in
	0) good=$((good + 1)) ;;
	1) wrong=$((wrong + 1)); echo "# verify under ulimit -v $kb: $(head -c 300 "$TMP/err")" ;;
	5) grep -q "out of memory" "$TMP/err" && oom=$((oom + 1)) ;;
	esac
done
echo "# verify: $good valid, $oom out of memory, $wrong wrongly invalid"
check "verify: lack of memory is never reported as an invalid signature" test $wrong -eq 0
check "verify: some limits run out of memory ($oom)" test $oom -ge 3
check "verify: enough memory verifies ($good)" test $good -ge 3

done_testing
