#!/bin/bash
# bench-publish.sh — time and peak memory of `fedsign publish` (sources ->
# checks -> feeds -> sign -> publish) against the xmlsec1 and xsltproc CLIs
# doing the heart of the same work, in the same run, with paired runs.
#
# usage: bench/bench-publish.sh
#
# Environment:
#   FEDSIGN         the fedsign binary (default: build/fedsign of this tree)
#   BENCH_ENTITIES  entities in the upstream aggregate (default 10000, about
#                   56 MB; made by tests/tools/gen-aggregate.py, seed 1)
#   BENCH_MEMBERS   member entities, one file each (default 100; seed 2)
#   BENCH_RUNS      paired runs, the median is shown (default 5)
#   BENCH_CPUS      1: every timed command runs pinned to one CPU
#                   (taskset -c 0), as on a 2-vCPU machine whose second vCPU
#                   is busy; default: all CPUs
#   BENCH_DIR       where inputs are generated and kept between runs
#                   (default: a temporary folder, removed at the end)
#   BENCH_VERIFY    1 (default) checks every feed of the first paired run
#                   with `xmlsec1 --verify` against the token's
#                   certificate, untimed
#   BENCH_GEN       another generator with gen-aggregate.py's command line
#
# The input: an "upstream" aggregate signed by fedsign sign --key-file with
# an RSA-2048 key (--valid-for 5d), and the member files.  The
# configuration is examples/publish-safire.yaml's: four feeds (hub.xml:
# members; idp-proxy.xml: members' IdPs; edugain-consumer.xml: members +
# upstream, by XPath; edugain-sirtfi.xml: the same, Sirtfi only), signed
# with an RSA-2048 key on a SoftHSM2 token made in the temporary folder,
# the upstream as a file: source (a url: source for C-http) with
# verify-cert.  What is measured, in each paired run, one after the other:
#
#   A       fedsign publish, checks off (schema: false, no rules), from an
#           empty publish-dir and state-dir: a first publication
#   C       fedsign publish again on A's folders, nothing changed: it must
#           make no new release folder and leave every feed byte-identical
#   xmlsec1 xmlsec1 --verify of the upstream, and xmlsec1 --sign of the
#           largest feed A produced, on a PREPARED TEMPLATE (the feed with
#           its signature taken off, then tests/interop/prepare-template.py,
#           outside the timed region)
#   B       fedsign publish with schema: true and seven rule files of
#           examples/rules, from empty folders
#   xsltproc  xsltproc --nonet RULE UPSTREAM >/dev/null for the same seven
#           rule files, one after the other
#   C-http  A's configuration with the upstream served over HTTP by
#           tests/tools/mdserver.py: a first publication from empty
#           folders (a 200), then a second run (a 304, nothing changed)
#
# Targets (ratios of the medians): A time <= 2.5 x (xmlsec1 verify + sign),
# A peak RSS <= 2 x xmlsec1 --verify's; B timings.checks of the report <= 1
# x xsltproc; C second / first <= 0.3, for file: and url: sources.  Time
# is wall-clock seconds, memory peak RSS from `/usr/bin/time -f %M`.
# Exit status 0 when every target passed, 1 otherwise.
set -u
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
. "$HERE/lib.sh"
GEN=${BENCH_GEN:-$REPO/tests/tools/gen-aggregate.py}
PREP=$REPO/tests/interop/prepare-template.py
SPLIT=$REPO/tests/tools/split-entities.xsl
MDSERVER=$REPO/tests/tools/mdserver.py
RULESDIR=$REPO/examples/rules
FEDSIGN=${FEDSIGN:-$REPO/build/fedsign}
N=${BENCH_ENTITIES:-10000}
NMEM=${BENCH_MEMBERS:-100}
RUNS=${BENCH_RUNS:-5}
VERIFY=${BENCH_VERIFY:-1}
SOFTHSM_MODULE=${SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
MDNS=urn:oasis:names:tc:SAML:2.0:metadata
RA=https://safire.ac.za/
TIME=/usr/bin/time
RULE_NAMES="check_reginfo check_https_sso check_contacts check_mdui check_entityid check_scope check_keyusage"
PIN=()
[ "${BENCH_CPUS:-}" = 1 ] && PIN=(taskset -c 0)

die() { echo "bench-publish: $*" >&2; exit 1; }
note() { echo "# $*" >&2; }

for v in "$N" "$NMEM" "$RUNS"; do
	case $v in ''|*[!0-9]*|0) die "BENCH_ENTITIES, BENCH_MEMBERS and BENCH_RUNS must be positive numbers" ;; esac
done
[ $# -eq 0 ] || die "no arguments (the size is BENCH_ENTITIES)"
[ -x "$TIME" ] || die "$TIME not found (Debian package 'time')"
for c in xmlsec1 xsltproc openssl python3 sha256sum; do
	command -v "$c" >/dev/null || die "$c not found"
done
[ -f "$GEN" ] || die "generator not found: $GEN (set BENCH_GEN)"
[ -f "$SOFTHSM_MODULE" ] || die "SoftHSM2 not found: $SOFTHSM_MODULE (set SOFTHSM_MODULE)"
[ ${#PIN[@]} -eq 0 ] || command -v taskset >/dev/null || die "taskset not found"
if ! { [ -x "$FEDSIGN" ] && "$FEDSIGN" publish --help >/dev/null 2>&1; }; then
	die "'$FEDSIGN publish --help' does not work (ninja -C build, or set FEDSIGN)"
fi
RULES=()
for r in $RULE_NAMES; do
	[ -f "$RULESDIR/$r.xsl" ] || die "rule file missing: $RULESDIR/$r.xsl"
	RULES+=("$RULESDIR/$r.xsl")
done

SRV_PID=
if [ -n "${BENCH_DIR:-}" ]; then
	W=$BENCH_DIR
	mkdir -p "$W" || die "cannot make $W"
	OUTD=$(mktemp -d "$W/run.XXXXXX") || die "cannot make a folder in $W"
else
	W=$(mktemp -d "${TMPDIR:-/tmp}/bench-publish.XXXXXX") || die "cannot make a temporary folder"
	OUTD=$W/run
	mkdir -p "$OUTD"
fi
# shellcheck disable=SC2317 # called by the trap
cleanup() {
	if [ -n "$SRV_PID" ]; then
		kill "$SRV_PID" 2>/dev/null
		wait "$SRV_PID" 2>/dev/null
	fi
	if [ -n "${BENCH_DIR:-}" ]; then rm -rf "$OUTD"; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
unset FEDSIGN_PIN

# --- inputs, kept in W: the unsigned upstream (the same file bench-sign.sh
# makes for this size) and the member files
UNSIGNED=$W/agg-$N.xml
if [ ! -s "$UNSIGNED" ]; then
	note "generating $N upstream entities..."
	if ! { python3 "$GEN" "$N" "$UNSIGNED.part" --certs "$W/gencerts" >&2 &&
	    mv "$UNSIGNED.part" "$UNSIGNED"; }; then
		die "cannot generate $UNSIGNED"
	fi
fi
MEMBERS=$W/members-$NMEM
if [ ! -d "$MEMBERS" ]; then
	note "generating $NMEM member entities..."
	# The registry's own entities: registered by the federation itself
	# (registrationAuthority rewritten to it).
	if ! { rm -rf "$MEMBERS.part" && mkdir -p "$MEMBERS.part" &&
	    python3 "$GEN" "$NMEM" "$W/members-$NMEM.xml" --seed 2 --certs "$W/gencerts" >&2 &&
	    xsltproc --stringparam dir "$MEMBERS.part" "$SPLIT" "$W/members-$NMEM.xml" &&
	    sed -i "s|registrationAuthority=\"[^\"]*\"|registrationAuthority=\"$RA\"|" "$MEMBERS.part"/*.xml &&
	    mv "$MEMBERS.part" "$MEMBERS"; }; then
		die "cannot make the member files"
	fi
	rm -f "$W/members-$NMEM.xml"
fi

# --- the upstream's key, and the upstream signed with it (each run: it is
# valid for 5 days only)
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$OUTD/up-key.pem" -out "$OUTD/up-cert.pem" \
    -subj "/CN=bench upstream signer" -days 30 2>/dev/null || die "openssl could not make a key"
chmod 600 "$OUTD/up-key.pem"
UP=$OUTD/upstream.xml
"$FEDSIGN" sign "$UNSIGNED" -o "$UP" --key-file "$OUTD/up-key.pem" --cert "$OUTD/up-cert.pem" \
    --valid-for 5d -q || die "fedsign sign could not sign the upstream"

# --- the signing key: a SoftHSM2 token of our own (never the system's), as
# tests/lib.sh does; the certificate the configuration names, and the
# token's certificate object as PEM for the verification
if ! bench_token "$OUTD" 123456 'CN=bench publish signer' "$OUTD/signer.crt"; then
	sed 's/^/#   /' "$OUTD/p11.log" | tail -5 >&2
	die "token setup failed"
fi
bench_token_cert "$OUTD" || die "no PEM certificate in the output of fedsign cert show"
cmp -s <(openssl x509 -in "$TOKCERT" -outform DER) <(openssl x509 -in "$OUTD/signer.crt" -outform DER) ||
	note "the token's certificate (cert show) is not the one cert create wrote"

# --- the HTTP server for C-http (not timed, not pinned: it stands for the
# upstream's server)
mkdir -p "$OUTD/www"
cp "$UP" "$OUTD/www/upstream.xml"
SRVLOG=$OUTD/mdserver.log
: >"$SRVLOG"
python3 "$MDSERVER" "$OUTD/www" "$OUTD/port" "$SRVLOG" >"$OUTD/mdserver.err" 2>&1 &
SRV_PID=$!
for _ in $(seq 100); do [ -s "$OUTD/port" ] && break; sleep 0.1; done
[ -s "$OUTD/port" ] || die "mdserver.py did not start: $(head -3 "$OUTD/mdserver.err")"
PORT=$(cat "$OUTD/port")

# --- the configurations
# config NAME UPSTREAM-KEY-AND-VALUE CHECKS: OUTD/NAME.yaml, with the
# folders OUTD/NAME/pub and OUTD/NAME/state
config() {
	local name=$1 upstream=$2 checks=$3
	cat >"$OUTD/$name.yaml" <<EOF
# bench-publish.sh, case $name: examples/publish-safire.yaml's feeds
signing:
  key: "$URI"
  cert: $OUTD/signer.crt
publish-dir: $OUTD/$name/pub
state-dir: $OUTD/$name/state
validity: 10d
cache-duration: 6h
resign-window: 5d
keep-releases: 5
publisher: $RA
fetch:
  timeout: 60s
  max-size: 1G
limits:
  max-size: 1G
  max-depth: 256
  max-attributes: 256
sources:
  - name: members
    files:
      - $MEMBERS/*.xml
    registration-authority: $RA
    required: true
  - name: edugain
    $upstream
    verify-cert: $OUTD/up-cert.pem
    required: true
    timeout: 30s
    max-size: 200M
checks:
$checks
feeds:
  - file: hub.xml
    name: https://metadata.safire.ac.za/hub.xml
    sources: [members]
  - file: idp-proxy.xml
    name: https://metadata.safire.ac.za/idp-proxy.xml
    sources: [members]
    select:
      roles: [idp]
  - file: edugain-consumer.xml
    name: https://metadata.safire.ac.za/edugain-consumer.xml
    sources: [members, edugain]
    select:
      xpath: "md:IDPSSODescriptor or md:Extensions/mdrpi:RegistrationInfo/@registrationAuthority = '$RA'"
    validity: 7d
    cache-duration: 1h
  - file: edugain-sirtfi.xml
    name: https://metadata.safire.ac.za/edugain-sirtfi.xml
    sources: [members, edugain]
    select:
      assurance-certification: [https://refeds.org/sirtfi]
      xpath: "md:IDPSSODescriptor or md:Extensions/mdrpi:RegistrationInfo/@registrationAuthority = '$RA'"
    validity: 7d
    cache-duration: 1h
safety:
  max-entity-drop: 10%
EOF
}
rules_yaml="  schema: true
  rules:"
for r in "${RULES[@]}"; do rules_yaml+=$'\n'"    - $r"; done
config A "file: $UP" "  schema: false"
config B "file: $UP" "$rules_yaml"
config H "url: http://127.0.0.1:$PORT/upstream.xml" "  schema: false"
config prep "file: $UP" "  schema: false"

# --- helpers
# run_timed CMD...: run CMD once; R_T = wall seconds, R_M = peak RSS in KB;
# returns CMD's exit status (its output is in OUTD/cmd.out, cmd.err).
run_timed() {
	local t0 t1 rc
	t0=$EPOCHREALTIME
	"$TIME" -f '%e %M' -o "$OUTD/time.txt" "${PIN[@]}" "$@" >"$OUTD/cmd.out" 2>"$OUTD/cmd.err"
	rc=$?
	t1=$EPOCHREALTIME
	R_T=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}')
	R_M=$(awk 'END {print $NF + 0}' "$OUTD/time.txt")
	if [ $rc -ne 0 ]; then
		note "failed (exit $rc): $*"
		sed 's/^/#   /' "$OUTD/cmd.err" | tail -5 >&2
	fi
	return $rc
}

# report CASE: REP_OUTCOME (its first word) and REP[sources], REP[checks],
# REP[feeds], REP[total] ("-" when missing) from CASE/state/last-report.json
declare -A REP
report() {
	local line s c f t
	line=$(python3 - "$OUTD/$1/state/last-report.json" <<'EOF'
import json, sys
try:
    with open(sys.argv[1]) as f:
        r = json.load(f)
except (OSError, ValueError):
    print("none - - - -")
    sys.exit(0)
t = r.get("timings") or {}
o = (r.get("outcome") or "none").split(":")[0].split()
print(o[0] if o else "none",
      *("%.3f" % t[k] if isinstance(t.get(k), (int, float)) else "-"
        for k in ("sources", "checks", "feeds", "total")))
EOF
	)
	read -r REP_OUTCOME s c f t <<<"$line"
	REP=([sources]=$s [checks]=$c [feeds]=$f [total]=$t)
}

# publish CASE: fedsign publish -c CASE.yaml, timed; 0 when it exits 0 and
# the report says WANT (published by default)
publish() {
	local want=${WANT:-published}
	run_timed "$FEDSIGN" publish -c "$OUTD/$1.yaml" || { report "$1"; return 1; }
	report "$1"
	if [ "$REP_OUTCOME" != "$want" ]; then
		note "case $1: the report's outcome is '$REP_OUTCOME', expected '$want'"
		return 1
	fi
}

fresh() { rm -rf "${OUTD:?}/${1:?}"; }

# snapshot CASE: where current points, the release folders, every feed's
# SHA-256
snapshot() {
	local p=$OUTD/$1/pub
	readlink "$p/current"
	ls -a "$p/releases"
	(cd "$p/current" && sha256sum -- *.xml)
}

verify_feeds() {	# CASE: every published feed verifies with the token's certificate
	local f rc=0
	[ "$VERIFY" = 1 ] || return 0
	for f in "$OUTD/$1/pub/current"/*.xml; do
		if ! xmlsec1 --verify --id-attr:ID "$MDNS:EntitiesDescriptor" --pubkey-cert-pem "$TOKCERT" \
		        --enabled-key-data key-name,rsa,ec "$f" >"$OUTD/verify.log" 2>&1; then
			note "case $1: feed ${f##*/} does NOT verify with xmlsec1 and the token's certificate"
			sed 's/^/#   /' "$OUTD/verify.log" | tail -3 >&2
			rc=1
		fi
	done
	return $rc
}

declare -A ST SM BAD
KEYS="A A.sources A.checks A.feeds A.total xverify xsign xsum B B.checks B.total BminusA xslt C2 H1 H2"
for k in $KEYS; do ST[$k]=""; SM[$k]=""; done
add() { ST[$1]+="$2 "; [ -z "${3:-}" ] || SM[$1]+="$3 "; }	# KEY SECONDS [KB]
bad() { [ -n "${BAD[$1]:-}" ] || BAD[$1]=$2; }			# KEY REASON
good() { [ -z "${BAD[$1]:-}" ]; }
C_FILE_OK=1 C_HTTP_OK=1
C_FILE_WHY="" C_HTTP_WHY=""

# --- preparation, untimed: one publication (also a warm-up), its largest
# feed as the xmlsec1 template
note "preparation: a first publication, untimed"
fresh prep
publish prep || die "fedsign publish -c $OUTD/prep.yaml failed; see above"
LARGEST='' big=-1
for f in "$OUTD/prep/pub/current"/*.xml; do
	sz=$(stat -c %s "$f")
	[ "$sz" -gt "$big" ] && LARGEST=${f##*/} big=$sz
done
FEEDS_INFO=$(python3 - "$OUTD/prep/state/last-report.json" "$OUTD/prep/pub/current" <<'EOF'
import json, os, sys
r = json.load(open(sys.argv[1]))
print(", ".join("%s %d entities %.1f MiB" % (f["file"], f.get("entities", 0),
                os.path.getsize(os.path.join(sys.argv[2], f["file"])) / 1048576)
                for f in r.get("feeds", [])))
EOF
)
python3 - "$OUTD/prep/pub/current/$LARGEST" "$OUTD/largest-unsigned.xml" <<'EOF' || die "cannot take the signature off $LARGEST"
import re, sys
data = open(sys.argv[1], "rb").read()
m = re.search(rb"<(?:[A-Za-z_][\w.-]*:)?EntitiesDescriptor\b[^>]*>", data)
s = re.compile(rb"\s*<(?:[A-Za-z_][\w.-]*:)?Signature\b.*?</(?:[A-Za-z_][\w.-]*:)?Signature>", re.S).match(data, m.end())
if s is None:
    sys.exit("no signature after the root start tag")
open(sys.argv[2], "wb").write(data[:m.end()] + data[s.end():])
EOF
python3 "$PREP" --alg rsa-sha256 --valid-for-days 7 "$OUTD/largest-unsigned.xml" "$OUTD/tmpl.xml" >/dev/null ||
	die "prepare-template.py failed on $LARGEST"
rm -rf "$OUTD/prep" "$OUTD/largest-unsigned.xml"

XVERIFY=(xmlsec1 --verify --id-attr:ID "$MDNS:EntitiesDescriptor" --pubkey-cert-pem "$OUTD/up-cert.pem"
    --enabled-key-data "key-name,rsa,ec" "$UP")
XSIGN=(xmlsec1 --sign --privkey-pem "$OUTD/up-key.pem,$OUTD/up-cert.pem"
    --id-attr:ID "$MDNS:EntitiesDescriptor" --output "$OUTD/xsign.xml" "$OUTD/tmpl.xml")
# shellcheck disable=SC2016 # expanded by sh
XSLT=(sh -c 'up=$1; shift; for r; do xsltproc --nonet "$r" "$up" >/dev/null || exit 1; done' - "$UP" "${RULES[@]}")

load0=$(cut -d' ' -f1-3 /proc/loadavg)
for i in $(seq "$RUNS"); do
	note "paired run $i of $RUNS"
	# A: a first publication, checks off
	fresh A
	a_ok=0
	if good A && publish A; then
		a_ok=1
		add A "$R_T" "$R_M"
		for k in sources checks feeds total; do add "A.$k" "${REP[$k]}"; done
		if [ "$i" = 1 ] && ! verify_feeds A; then bad A "a feed does not verify"; fi
	else
		bad A "fedsign publish failed"
	fi
	a_t=$R_T

	# C: the same again, nothing changed
	if [ $a_ok = 1 ]; then
		before=$(snapshot A)
		if WANT=unchanged publish A; then
			add C2 "$R_T" "$R_M"
		else
			bad C2 "second run failed or published"
			C_FILE_OK=0 C_FILE_WHY+=" run $i: outcome '$REP_OUTCOME';"
		fi
		if [ "$(snapshot A)" != "$before" ]; then
			C_FILE_OK=0 C_FILE_WHY+=" run $i: a new release folder, or a feed changed;"
		fi
	fi

	# xmlsec1: verify the upstream, sign the largest feed's template
	x_ok=1
	if run_timed "${XVERIFY[@]}"; then add xverify "$R_T" "$R_M"; v_t=$R_T v_m=$R_M
	else bad xverify "xmlsec1 --verify failed"; x_ok=0; fi
	rm -f "$OUTD/xsign.xml"
	if run_timed "${XSIGN[@]}" && [ -s "$OUTD/xsign.xml" ]; then add xsign "$R_T" "$R_M"; s_t=$R_T s_m=$R_M
	else bad xsign "xmlsec1 --sign failed"; x_ok=0; fi
	if [ $x_ok = 1 ]; then
		add xsum "$(awk -v a="$v_t" -v b="$s_t" 'BEGIN {printf "%.3f", a + b}')" $((v_m > s_m ? v_m : s_m))
		if [ "$i" = 1 ] && [ "$VERIFY" = 1 ] && ! xmlsec1 --verify --id-attr:ID "$MDNS:EntitiesDescriptor" \
		        --pubkey-cert-pem "$OUTD/up-cert.pem" --enabled-key-data key-name,rsa,ec \
		        "$OUTD/xsign.xml" >/dev/null 2>&1; then
			note "xmlsec1's signed feed does not verify"
			bad xsign "its output does not verify"
		fi
	fi
	rm -f "$OUTD/xsign.xml"

	# B: checks on
	fresh B
	if good B && publish B; then
		add B "$R_T" "$R_M"
		add B.checks "${REP[checks]}"
		add B.total "${REP[total]}"
		[ $a_ok = 1 ] && add BminusA "$(awk -v a="$R_T" -v b="$a_t" 'BEGIN {printf "%.3f", a - b}')"
		if [ "$i" = 1 ] && ! verify_feeds B; then bad B "a feed does not verify"; fi
	else
		bad B "fedsign publish failed"
	fi
	fresh B

	# xsltproc: the seven rule files over the upstream
	if run_timed "${XSLT[@]}"; then add xslt "$R_T" "$R_M"; else bad xslt "xsltproc failed"; fi

	# C-http: first publication (a 200), then nothing changed (a 304)
	fresh H
	n0=$(wc -l <"$SRVLOG")
	if good H1 && publish H; then
		add H1 "$R_T" "$R_M"
		got=$(tail -n +$((n0 + 1)) "$SRVLOG")
		[ "$got" = "GET /upstream.xml 200" ] || note "C-http first run: the server log says '$got', expected one 'GET /upstream.xml 200'"
		if [ "$i" = 1 ] && ! verify_feeds H; then bad H1 "a feed does not verify"; fi
		before=$(snapshot H)
		n0=$(wc -l <"$SRVLOG")
		if WANT=unchanged publish H; then
			add H2 "$R_T" "$R_M"
		else
			# Timed all the same: the ratio is shown, the target fails.
			[ "$REP_OUTCOME" = published ] && add H2 "$R_T" "$R_M"
			C_HTTP_OK=0 C_HTTP_WHY+=" run $i: the second run's outcome is '$REP_OUTCOME', not 'unchanged';"
		fi
		got=$(tail -n +$((n0 + 1)) "$SRVLOG" | tr '\n' ' ')
		if [ "$got" != "GET /upstream.xml 304 " ]; then
			C_HTTP_OK=0 C_HTTP_WHY+=" run $i: the server log of the second run says '${got% }', not 'GET /upstream.xml 304';"
		fi
		if [ "$(snapshot H)" != "$before" ]; then
			C_HTTP_OK=0 C_HTTP_WHY+=" run $i: a new release folder, or a feed changed;"
		fi
	else
		bad H1 "fedsign publish failed"
		C_HTTP_OK=0 C_HTTP_WHY+=" run $i: the first run failed;"
	fi
	fresh H
	[ $a_ok = 1 ] && fresh A
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)

median() { tr ' ' '\n' | grep . | sort -n | awk '{v[NR]=$1} END {if (NR) print v[int((NR+1)/2)]}'; }
declare -A T M
for k in $KEYS; do
	if [ -n "${BAD[$k]:-}" ]; then T[$k]=fail; M[$k]=fail; continue; fi
	T[$k]=$(median <<<"${ST[$k]}"); [ -n "${T[$k]}" ] || T[$k]=-
	M[$k]=$(median <<<"${SM[$k]}"); [ -n "${M[$k]}" ] || M[$k]=-
done

# ratio A B [FORMAT]: A / B in FORMAT (default %.2f), or - when either is not a number
ratio() { awk -v a="$1" -v b="$2" -v f="${3:-%.2f}" 'BEGIN { if (a ~ /^-?[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf f, a / b; else printf "-" }'; }
mb() { awk -v k="$1" 'BEGIN { if (k ~ /^[0-9]+$/) printf "%.1f", k / 1024; else printf "%s", k }'; }
size_of() { awk -v b="$(stat -c %s "$1" 2>/dev/null || echo 0)" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
echo
echo "Publishing benchmark: median of $RUNS paired runs; $("$FEDSIGN" --version 2>/dev/null | head -1); $(xmlsec1 --version | head -1)"
echo "CPU: $cpu, $(nproc) CPUs; commands pinned to $([ ${#PIN[@]} -gt 0 ] && echo "one CPU (BENCH_CPUS=1)" || echo "no CPU (all available)")"
echo "input: upstream $N entities, $(size_of "$UP") (signed, RSA-2048); $NMEM member files"
echo "feeds (checks off): $FEEDS_INFO"
echo "xmlsec1 --sign: $LARGEST, the largest feed, on a prepared template (its preparation is not timed)"
echo "load average before: $load0, after: $load1 (other work on the machine skews the times)"
# row KEY CASE LABEL REF-KEY-TIME REF-KEY-RSS REF-LABEL ("-": no ratio)
row() {
	local rt=- rm=-
	[ "$4" = - ] || rt=$(ratio "${T[$1]}" "${T[$4]}")
	[ "$5" = - ] || rm=$(ratio "${M[$1]}" "${M[$5]}")
	printf '%-6s %-38s %8s %8s  %-8s %7s %7s\n' "$2" "$3" "${T[$1]}" "$(mb "${M[$1]}")" "$6" "$rt" "$rm"
}
printf '%-6s %-38s %8s %8s  %-8s %7s %7s\n' case measurement time_s rss_MB ref t/ref rss/ref
row A        A      "fedsign publish, checks off"          xsum    xverify xmlsec1
row A.sources A     "  report timings.sources"             -       -       ""
row A.checks A      "  report timings.checks"              -       -       ""
row A.feeds  A      "  report timings.feeds"               -       -       ""
row A.total  A      "  report timings.total"               xsum    -       xmlsec1
row xverify  A      "xmlsec1 --verify upstream"            xsum    xverify xmlsec1
row xsign    A      "xmlsec1 --sign largest feed"          xsum    xverify xmlsec1
row xsum     A      "xmlsec1 verify + sign"                xsum    xverify xmlsec1
row B        B      "fedsign publish, schema + 7 rules"    A       A       "A"
row B.checks B      "  report timings.checks"              xslt    -       "xsltproc"
row B.total  B      "  report timings.total"               A.total -       "A.total"
row BminusA  B      "  B - A (wall, paired)"               xslt    -       "xsltproc"
row xslt     B      "xsltproc --nonet, 7 rules, upstream"  xslt    xslt    "xsltproc"
row C2       C      "second run, file: source"             A       A       "A"
row H1       C-http "first run, url: source (200)"         H1      H1      "H1"
row H2       C-http "second run, url: source (304)"        H1      H1      "H1"
echo "(ref: what t/ref and rss/ref divide by; xmlsec1: time by xmlsec1 verify + sign, RSS by xmlsec1 --verify's;"
echo " A: A's first publication; H1: C-http's first publication; \"verify + sign\" RSS: the larger of the two)"
for k in $KEYS; do
	[ -z "${BAD[$k]:-}" ] || note "$k: ${BAD[$k]}"
done

# --- targets
status=0
# LABEL A B LIMIT: A / B, judged unrounded (1.004 is not <= 1, though
# "%.2f" shows it as 1.00), shown to three places
target() {
	local verdict q
	q=$(ratio "$2" "$3" %.9f)
	verdict=$(awk -v v="$q" -v l="$4" 'BEGIN { if (v ~ /^-?[0-9.]+$/ && v + 0 <= l + 0) print "PASS"; else print "FAIL" }')
	[ "$verdict" = PASS ] || status=1
	printf '  %-52s %7s  <= %-4s %s\n' "$1" "$(ratio "$2" "$3" %.3f)" "$4" "$verdict"
}
assertion() {	# LABEL OK WHY
	if [ "$2" = 1 ]; then
		printf '  %-52s %7s  %-7s %s\n' "$1" yes "" PASS
	else
		status=1
		printf '  %-52s %7s  %-7s %s\n' "$1" no "" FAIL
		note "$1:$3"
	fi
}
echo
echo "targets (ratios of the medians):"
target "A  publish time / (xmlsec1 verify + sign)" "${T[A]}" "${T[xsum]}" 2.5
target "A  publish peak RSS / xmlsec1 --verify peak RSS" "${M[A]}" "${M[xverify]}" 2
target "B  report timings.checks / xsltproc" "${T[B.checks]}" "${T[xslt]}" 1
printf '  %-52s %7s  %-7s %s\n' "B  (B - A wall) / xsltproc" "$(ratio "${T[BminusA]}" "${T[xslt]}")" "" "(for information)"
target "C  second / first run, file: source" "${T[C2]}" "${T[A]}" 0.3
assertion "C  file: no new release, feeds byte-identical" "$C_FILE_OK" "$C_FILE_WHY"
target "C  second / first run, url: source" "${T[H2]}" "${T[H1]}" 0.3
assertion "C  url: a 304, no new release, feeds byte-identical" "$C_HTTP_OK" "$C_HTTP_WHY"
exit $status
