#!/bin/bash
# bench-sign.sh — time and peak memory of signing SAML metadata:
# fedsign (PEM key and SoftHSM2 token key) against the xmlsec1 CLI, in the
# same run, with paired runs.
#
# usage: bench/bench-sign.sh [SIZE...]
#   SIZE is a number of entities N (an eduGAIN-shaped aggregate made by
#   tests/tools/gen-aggregate.py; 10000 entities are about 60 MB) or
#   "entity" (one ~6 KB EntityDescriptor).  Default: entity 10000 50000.
#
# Environment:
#   FEDSIGN      the fedsign binary (default: build/fedsign of this tree)
#   BENCH_RUNS   paired runs per size, the median is shown (default 5)
#   BENCH_CPUS   1: every command runs pinned to one CPU (taskset -c 0), as
#                on a 2-vCPU machine whose second vCPU is busy; default:
#                all CPUs
#   BENCH_DIR    where inputs are generated and kept between runs (default:
#                a temporary folder, removed at the end)
#   BENCH_VERIFY 1 (default) checks every tool's first output with
#                `xmlsec1 --verify` against the certificate, untimed
#
# What is timed, per tool, is one command from the unsigned input file to a
# signed output file:
#   xmlsec1         xmlsec1 --sign --privkey-pem KEY,CERT --id-attr:ID ROOT
#                   on a PREPARED TEMPLATE: the ds:Signature template and
#                   validUntil/ID are inserted into the input beforehand
#                   (tests/interop/prepare-template.py), outside the timed
#                   region, so xmlsec1 gets that step for free
#   xmlsec1+verify  the same, then xmlsec1 --verify of its output: the same
#                   work as fedsign, which verifies what it signed before
#                   it replaces the output
#   fedsign-pem     fedsign sign IN -o OUT --key-file KEY --cert CERT --valid-for 7d
#   fedsign-pkcs11  fedsign sign IN -o OUT --key 'pkcs11:...' --valid-for 7d
#                   (RSA-2048 key on a SoftHSM2 token in a temporary folder,
#                   login included)
# All use an RSA-2048 key, rsa-sha256/sha256, exclusive c14n, and put the
# certificate into KeyInfo.  A paired run runs every tool once, one after
# the other, so that all tools see the same state of the machine; the
# median over the runs is shown.  Time is wall-clock seconds, memory peak
# RSS from `/usr/bin/time -f %M`.
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
. "$HERE/lib.sh"
GEN=${BENCH_GEN:-$REPO/tests/tools/gen-aggregate.py}
PREP=$REPO/tests/interop/prepare-template.py
MDTOOL=$REPO/tests/interop/mdtool.py
FEDSIGN=${FEDSIGN:-$REPO/build/fedsign}
RUNS=${BENCH_RUNS:-5}
VERIFY=${BENCH_VERIFY:-1}
SOFTHSM_MODULE=${SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
MDNS=urn:oasis:names:tc:SAML:2.0:metadata
TIME=/usr/bin/time
PIN=()
[ "${BENCH_CPUS:-}" = 1 ] && PIN=(taskset -c 0)

die() { echo "bench-sign: $*" >&2; exit 1; }
note() { echo "# $*" >&2; }

[ $# -gt 0 ] || set -- entity 10000 50000
for s in "$@"; do
	case $s in entity) ;; ''|*[!0-9]*) die "bad size '$s' (a number of entities, or 'entity')" ;; esac
done
[ -x "$TIME" ] || die "$TIME not found (Debian package 'time')"
command -v xmlsec1 >/dev/null || die "xmlsec1 not found"
[ -f "$GEN" ] || die "generator not found: $GEN (set BENCH_GEN)"
[ ${#PIN[@]} -eq 0 ] || command -v taskset >/dev/null || die "taskset not found"

if [ -n "${BENCH_DIR:-}" ]; then
	W=$BENCH_DIR
	mkdir -p "$W" || die "cannot make $W"
	OUTD=$(mktemp -d "$W/run.XXXXXX")
	trap 'rm -rf "$OUTD"' EXIT
else
	W=$(mktemp -d "${TMPDIR:-/tmp}/bench-sign.XXXXXX") || die "cannot make a temporary folder"
	OUTD=$W/run
	mkdir -p "$OUTD"
	trap 'rm -rf "$W"' EXIT
fi
unset FEDSIGN_PIN

# --- keys: one RSA-2048 PEM key for xmlsec1 and fedsign-pem
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$OUTD/key.pem" -out "$OUTD/cert.pem" \
    -subj "/CN=bench signer" -days 30 2>/dev/null || die "openssl could not make a key"
chmod 600 "$OUTD/key.pem"

# --- fedsign: which modes work
have_pem=0 have_p11=0
if [ -x "$FEDSIGN" ] && "$FEDSIGN" sign --help >/dev/null 2>&1; then
	have_pem=1
	# A SoftHSM2 token of our own (never the system's), as tests/lib.sh does.
	if bench_token "$OUTD" 123456 'CN=bench token signer' "$OUTD/p11cert.pem"; then
		have_p11=1
	else
		note "fedsign-pkcs11 left out: token setup failed:"
		sed 's/^/#   /' "$OUTD/p11.log" | tail -5 >&2
	fi
else
	note "fedsign-pem and fedsign-pkcs11 left out: '$FEDSIGN sign --help' does not work"
fi

# --- inputs
input() {	# SIZE -> path of the unsigned input (generated once)
	local s=$1 f
	if [ "$s" = entity ]; then
		f=$W/entity.xml
		if [ ! -s "$f" ]; then
			python3 "$GEN" 2 "$W/agg-2.xml" --certs "$W/gencerts" >&2 &&
			python3 "$MDTOOL" extract-entity "$W/agg-2.xml" "$f" 0 >&2 || die "cannot make the entity input"
		fi
	else
		f=$W/agg-$s.xml
		if [ ! -s "$f" ]; then
			note "generating $s entities..."
			python3 "$GEN" "$s" "$f.part" --certs "$W/gencerts" >&2 && mv "$f.part" "$f" || die "cannot generate $f"
		fi
	fi
	echo "$f"
}

# measure OUTFILE CMD...: run CMD once, print "SECONDS KB" (KB of peak RSS),
# or "fail" when it exits non-zero.
measure() {
	local out=$1 t0 t1 rc; shift
	rm -f "$out"
	t0=$EPOCHREALTIME
	"$TIME" -f '%e %M' -o "$OUTD/time.txt" "${PIN[@]}" "$@" >"$OUTD/cmd.out" 2>"$OUTD/cmd.err"
	rc=$?
	t1=$EPOCHREALTIME
	if [ $rc -ne 0 ] || [ ! -s "$out" ]; then
		note "failed (exit $rc): $*"
		sed 's/^/#   /' "$OUTD/cmd.err" | tail -5 >&2
		echo fail
		return
	fi
	awk -v a="$t0" -v b="$t1" '{printf "%.3f %d\n", b - a, $NF}' "$OUTD/time.txt"
}

median() { sort -n | awk '{v[NR]=$1} END {if (NR) print v[int((NR+1)/2)]}'; }

verify_out() {	# FILE CERT ROOT
	[ "$VERIFY" = 1 ] || return 0
	if xmlsec1 --verify --id-attr:ID "$MDNS:$3" --pubkey-cert-pem "$2" \
	        --enabled-key-data key-name,rsa,ec "$1" >"$OUTD/verify.log" 2>&1; then
		return 0
	fi
	note "output does NOT verify with xmlsec1: $1"
	sed 's/^/#   /' "$OUTD/verify.log" | tail -3 >&2
	return 1
}

TOOLS="xmlsec1 xmlsec1+verify fedsign-pem fedsign-pkcs11"
declare -A T M SAMPLES_T SAMPLES_M

# command_for SIZE TOOL: set CMD (array) and CERT for one tool, or return 1.
command_for() {
	local s=$1 tool=$2 in root out=$OUTD/out.xml
	in=$(input "$s") || return 1
	[ "$s" = entity ] && root=EntityDescriptor || root=EntitiesDescriptor
	ROOT=$root
	CERT=$OUTD/cert.pem
	case $tool in
	xmlsec1|xmlsec1+verify)
		[ -s "$OUTD/tmpl-$s.xml" ] || python3 "$PREP" --alg rsa-sha256 --valid-for-days 7 "$in" \
		    "$OUTD/tmpl-$s.xml" >/dev/null || return 1
		CMD=(xmlsec1 --sign --privkey-pem "$OUTD/key.pem,$OUTD/cert.pem" \
		    --id-attr:ID "$MDNS:$root" --output "$out" "$OUTD/tmpl-$s.xml")
		if [ "$tool" = xmlsec1+verify ]; then
			CMD=(sh -c '"$@" && xmlsec1 --verify --id-attr:ID "$R" --pubkey-cert-pem "$C" \
			    --enabled-key-data key-name,rsa,ec "$O" >/dev/null 2>&1' - "${CMD[@]}")
			export R="$MDNS:$root" C="$OUTD/cert.pem" O="$out"
		fi ;;
	fedsign-pem)
		[ $have_pem = 1 ] || return 1
		CMD=("$FEDSIGN" sign "$in" -o "$out" --key-file "$OUTD/key.pem" --cert "$OUTD/cert.pem" --valid-for 7d) ;;
	fedsign-pkcs11)
		[ $have_p11 = 1 ] || return 1
		CERT=$OUTD/p11cert.pem
		CMD=("$FEDSIGN" sign "$in" -o "$out" --key "$URI" --valid-for 7d) ;;
	esac
	OUT=$out
}

load0=$(cut -d' ' -f1-3 /proc/loadavg)
for s in "$@"; do
	for tool in $TOOLS; do SAMPLES_T[$s,$tool]=""; SAMPLES_M[$s,$tool]=""; done
	for i in $(seq "$RUNS"); do
		note "size $s: paired run $i of $RUNS"
		for tool in $TOOLS; do
			command_for "$s" "$tool" || { SAMPLES_T[$s,$tool]=n/a; continue; }
			[ "${SAMPLES_T[$s,$tool]}" = n/a ] || [ "${SAMPLES_T[$s,$tool]}" = fail ] && continue
			r=$(measure "$OUT" "${CMD[@]}")
			if [ "$r" = fail ] || { [ "$i" = 1 ] && ! verify_out "$OUT" "$CERT" "$ROOT"; }; then
				SAMPLES_T[$s,$tool]=fail
				continue
			fi
			SAMPLES_T[$s,$tool]+="${r% *} "
			SAMPLES_M[$s,$tool]+="${r#* } "
		done
	done
	for tool in $TOOLS; do
		case ${SAMPLES_T[$s,$tool]} in
		n/a|fail) T[$s,$tool]=${SAMPLES_T[$s,$tool]}; M[$s,$tool]=${SAMPLES_T[$s,$tool]} ;;
		*) T[$s,$tool]=$(printf '%s\n' ${SAMPLES_T[$s,$tool]} | median)
		   M[$s,$tool]=$(printf '%s\n' ${SAMPLES_M[$s,$tool]} | median) ;;
		esac
	done
	rm -f "$OUTD/tmpl-$s.xml" "$OUTD/out.xml"
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf "%.2f", a / b; else printf "-" }'; }
mb() { awk -v k="$1" 'BEGIN { if (k ~ /^[0-9]+$/) printf "%.1f", k / 1024; else printf "%s", k }'; }
size_of() { local f; [ "$1" = entity ] && f=$W/entity.xml || f=$W/agg-$1.xml; awk -v b="$(stat -c %s "$f" 2>/dev/null || echo 0)" 'BEGIN { if (b >= 1048576) printf "%.1f MiB", b / 1048576; else printf "%.1f KiB", b / 1024 }'; }

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
echo
echo "Signing benchmark: median of $RUNS paired runs; RSA-2048, rsa-sha256; $(xmlsec1 --version | head -1)"
echo "CPU: $cpu, $(nproc) CPUs; commands pinned to $([ ${#PIN[@]} -gt 0 ] && echo "one CPU (BENCH_CPUS=1)" || echo "no CPU (all available)")"
echo "(xmlsec1 signs a prepared template: the template insertion is not timed)"
echo "load average before: $load0, after: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews the times)"
printf '%-8s %-10s %-15s %8s %8s %9s %9s %9s %9s\n' input size tool time_s rss_MB t/xmlsec rss/xmlsec t/same rss/same
for s in "$@"; do
	for tool in $TOOLS; do
		printf '%-8s %-10s %-15s %8s %8s %9s %9s %9s %9s\n' "$s" "$(size_of "$s")" "$tool" \
		    "${T[$s,$tool]}" "$(mb "${M[$s,$tool]}")" \
		    "$(ratio "${T[$s,$tool]}" "${T[$s,xmlsec1]}")" "$(ratio "${M[$s,$tool]}" "${M[$s,xmlsec1]}")" \
		    "$(ratio "${T[$s,$tool]}" "${T[$s,xmlsec1+verify]}")" "$(ratio "${M[$s,$tool]}" "${M[$s,xmlsec1+verify]}")"
	done
done
echo "(t/same, rss/same: against xmlsec1 --sign followed by xmlsec1 --verify, the same work as fedsign sign)"
if [ -n "${T[10000,xmlsec1]:-}" ] && [ -n "${T[50000,xmlsec1]:-}" ]; then
	echo
	echo "Scaling, 50000 / 10000 entities (5x the input):"
	for tool in $TOOLS; do
		printf '  %-15s time %s  rss %s\n' "$tool" \
		    "$(ratio "${T[50000,$tool]}" "${T[10000,$tool]}")" "$(ratio "${M[50000,$tool]}" "${M[10000,$tool]}")"
	done
fi
