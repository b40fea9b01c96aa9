#!/bin/bash
# run-rules.sh RULESDIR FILE
#
# Runs every RULESDIR/check_*.xsl except check_framework.xsl over FILE with
# plain xsltproc, in file-name order, and prints each line the rule file
# writes on standard error (its xsl:message lines) as
#
#     RULEFILE: MESSAGE
#
# e.g. "check_reginfo.xsl: [ERROR] https://sp.example.org/shibboleth: ...".
# The stylesheets' own output (text, empty for these rules) is thrown away.
# xsltproc runs with --nonet and --nowrite: no network, no files written.
#
# Exit status: 0 when every xsltproc run succeeded (whatever the rules
# reported), 1 when one failed (its error lines are printed, prefixed like
# the messages), 2 for a usage error or a folder with no rule files.
#
# The rules in examples/rules that need fedsign's extension functions
# (check_rsa_keysize.xsl) take their fallback path here and warn that
# they did not check.

set -u
export LC_ALL=C

if [ $# -ne 2 ]; then
	echo "usage: $0 RULESDIR FILE" >&2
	exit 2
fi
rulesdir=$1
file=$2
if [ ! -d "$rulesdir" ]; then
	echo "$0: $rulesdir: not a folder" >&2
	exit 2
fi
if [ ! -r "$file" ] || [ -d "$file" ]; then
	echo "$0: $file: not a readable file" >&2
	exit 2
fi
command -v xsltproc >/dev/null || { echo "$0: xsltproc not found" >&2; exit 2; }

status=0
n=0
for rule in "$rulesdir"/check_*.xsl; do
	[ -f "$rule" ] || continue
	name=${rule##*/}
	[ "$name" = check_framework.xsl ] && continue
	n=$((n + 1))
	# stderr into the pipe, stdout discarded; the order of the redirections matters
	xsltproc --nonet --nowrite "$rule" "$file" 2>&1 >/dev/null |
		while IFS= read -r line || [ -n "$line" ]; do
			printf '%s: %s\n' "$name" "$line"
		done
	if [ "${PIPESTATUS[0]}" -ne 0 ]; then
		status=1
	fi
done
if [ "$n" -eq 0 ]; then
	echo "$0: no check_*.xsl rule files in $rulesdir" >&2
	exit 2
fi
exit "$status"
