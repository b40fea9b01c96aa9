#!/bin/bash
# consumers.sh — check signed SAML metadata with real consumers.
#
# usage: consumers.sh [options] FILE CERT.pem
#
# FILE is signed SAML metadata: root md:EntitiesDescriptor or
# md:EntityDescriptor with an ID and validUntil, an enveloped ds:Signature
# referencing "#ID". CERT.pem is the signing certificate, pinned: no consumer
# is allowed to take the key from the document's KeyInfo.
#
# Consumers (one TAP-style line each, no test numbers, so that a calling
# TAP script can number them):
#   profile   the document's shape (see tests/interop/mdtool.py info)
#   xmlsec1   xmlsec1 --verify with the pinned key only
#   samlsign  OpenSAML samlsign verify mode (-c CERT), schema-validating (-V)
#   mdquery   Shibboleth SP: an XML MetadataProvider loading FILE through
#             the Signature and RequireValidUntil filters, then mdquery for
#             one entityID from FILE must print that entity
#
# Options:
#   --expect-fail       assert that every consumer REJECTS the file (for a
#                       tampered copy, a wrong certificate, ...); the profile
#                       line becomes a comment
#   --skip NAME         do not run consumer NAME (repeatable; NAME may be a
#                       comma-separated list); its line says "# SKIP"
#   --entity ENTITYID   the entityID mdquery asks for (default: the first)
#   --max-validity T    RequireValidUntil maxValidityInterval, in seconds or
#                       with a d/h suffix (default $INTEROP_MAX_VALIDITY or 30d)
#   -v                  print each consumer's output as "# " comments
#
# Environment: INTEROP_MAX_VALIDITY, OPENSAML_SCHEMAS (catalog list for
# samlsign -V; default: the Debian xmltooling, opensaml and shibboleth
# catalogs), INTEROP_SAMLSIGN_VALIDATE=0 to drop -V, INTEROP_KEEP=1 to keep
# the temporary folder (its path is printed).
#
# Exit status: 0 when every line is "ok", 1 when one is "not ok", 2 on a
# usage error or unusable input (missing file, unreadable certificate).
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MDTOOL=$HERE/mdtool.py
PY=${PYTHON:-python3}

usage() {
	sed -n '2,/^set -u/{/^set -u/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
	exit "${1:-2}"
}

die() { echo "consumers.sh: $*" >&2; exit 2; }

expect_fail=0
verbose=0
skip=","
entity=""
maxv=${INTEROP_MAX_VALIDITY:-30d}
args=()
while [ $# -gt 0 ]; do
	case $1 in
	--expect-fail) expect_fail=1 ;;
	--skip) [ $# -ge 2 ] || die "--skip needs a consumer name"; skip="$skip$2,"; shift ;;
	--skip=*) skip="$skip${1#--skip=},";;
	--entity) [ $# -ge 2 ] || die "--entity needs an entityID"; entity=$2; shift ;;
	--max-validity) [ $# -ge 2 ] || die "--max-validity needs a value"; maxv=$2; shift ;;
	-v) verbose=1 ;;
	-h|--help) usage 0 ;;
	--) shift; args+=("$@"); break ;;
	-*) die "unknown option '$1' (see --help)" ;;
	*) args+=("$1") ;;
	esac
	shift
done
[ ${#args[@]} -eq 2 ] || usage 2

FILE=$(realpath -e -- "${args[0]}" 2>/dev/null) || die "cannot read '${args[0]}'"
CERT=$(realpath -e -- "${args[1]}" 2>/dev/null) || die "cannot read '${args[1]}'"
[ -r "$FILE" ] || die "cannot read '$FILE'"
openssl x509 -in "$CERT" -noout 2>/dev/null || die "'$CERT' is not a PEM certificate"

case $maxv in
*d) maxv=$(( ${maxv%d} * 86400 )) ;;
*h) maxv=$(( ${maxv%h} * 3600 )) ;;
*s) maxv=${maxv%s} ;;
esac
case $maxv in ''|*[!0-9]*) die "bad --max-validity" ;; esac

for c in ${skip//,/ }; do
	case $c in profile|xmlsec1|samlsign|mdquery) ;; *) die "--skip: unknown consumer '$c'" ;; esac
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/interop.XXXXXX") || die "cannot make a temporary folder"
if [ "${INTEROP_KEEP:-0}" = 1 ]; then
	echo "# keeping $WORK"
else
	trap 'rm -rf "$WORK"' EXIT
fi

MD_ROOT="" MD_NS="" MD_ID="" MD_VALID_UNTIL="" MD_ENTITY="" MD_PROFILE=""
info=$("$PY" "$MDTOOL" info "$FILE") || die "cannot inspect '$FILE'"
eval "$info"
[ -n "$entity" ] || entity=$MD_ENTITY

failed=0
# report NAME VERDICT REASON LOG: VERDICT is accept, reject or error
# (the consumer could not do its job: that is never an "ok").
report() {
	local name=$1 verdict=$2 reason=$3 log=${4:-}
	local good=0 line
	if [ "$expect_fail" = 1 ]; then
		case $verdict in
		reject) good=1; line="$name: rejected: $reason" ;;
		accept) line="$name: accepted it${reason:+ ($reason)}" ;;
		*) line="$name: could not check: $reason" ;;
		esac
	else
		case $verdict in
		accept) good=1; line=$name ;;
		reject) line="$name: $reason" ;;
		*) line="$name: could not check: $reason" ;;
		esac
	fi
	if [ $good = 1 ]; then
		echo "ok - $line"
	else
		echo "not ok - $line"
		failed=1
	fi
	if [ -n "$log" ] && [ -s "$log" ] && { [ $good = 0 ] || [ $verbose = 1 ]; }; then
		grep -v '^INFO ' "$log" | head -25 | cut -c1-300 | sed 's/^/#   /'
	fi
}

skipped() {
	case $skip in *",$1,"*) echo "ok - $1 # SKIP by request"; return 0 ;; esac
	return 1
}

# A command that cannot run at all (missing, killed) is an error, not a verdict.
ran() { [ "$1" -ne 126 ] && [ "$1" -ne 127 ] && [ "$1" -lt 128 ]; }

check_profile() {
	skipped profile && return
	if [ "$expect_fail" = 1 ]; then
		echo "# profile: ${MD_PROFILE:-as expected}"
	elif [ -z "$MD_PROFILE" ]; then
		echo "ok - profile"
	else
		echo "not ok - profile: $MD_PROFILE"
		failed=1
	fi
}

check_xmlsec1() {
	skipped xmlsec1 && return
	local log=$WORK/xmlsec1.log rc reason root=${MD_ROOT:-EntitiesDescriptor}
	command -v xmlsec1 >/dev/null || { report xmlsec1 error "xmlsec1 not installed"; return; }
	xmlsec1 --verify \
	    --id-attr:ID "urn:oasis:names:tc:SAML:2.0:metadata:$root" \
	    --pubkey-cert-pem "$CERT" \
	    --enabled-key-data key-name,rsa,ec \
	    "$FILE" >"$log" 2>&1 </dev/null
	rc=$?
	# xmlsec1 prints its verdict alone on a line: OK, FAIL (checked and
	# wrong) or ERROR (could not check, e.g. no usable key); exit 0 only on OK.
	if [ $rc -eq 0 ] && grep -qx 'OK' "$log"; then
		report xmlsec1 accept "" "$log"
	elif ! ran $rc; then
		report xmlsec1 error "exit $rc" "$log"
	elif [ $rc -ne 0 ]; then
		reason=$(grep -xE 'OK|FAIL|ERROR' "$log" | head -1)
		reason="${reason:-no verdict} (exit $rc): $(grep -oE 'error=[0-9]+:[^:]*:[^:]*' "$log" | tail -1 | cut -d: -f2-)"
		report xmlsec1 reject "$reason" "$log"
	else
		report xmlsec1 error "exit 0 without an OK verdict" "$log"
	fi
}

check_samlsign() {
	skipped samlsign && return
	local log=$WORK/samlsign.log rc reason v=-V
	command -v samlsign >/dev/null || { report samlsign error "samlsign not installed (opensaml-tools)"; return; }
	[ "${INTEROP_SAMLSIGN_VALIDATE:-1}" = 0 ] && v=
	# Relative paths are taken from /etc/opensaml: pass absolute ones.
	# Exit status: 0 verified; -10 (246) "caught an exception" = rejected;
	# -1 (255) bad arguments; -2 (254) library initialisation failed.
	OPENSAML_SCHEMAS=${OPENSAML_SCHEMAS:-/usr/share/xml/xmltooling/catalog.xml:/usr/share/xml/opensaml/saml20-catalog.xml:/usr/share/xml/shibboleth/catalog.xml} \
	    samlsign $v -c "$CERT" -f "$FILE" >"$log" 2>&1 </dev/null
	rc=$?
	reason=$(grep -o 'caught an exception: .*' "$log" | tail -1)
	reason=${reason#caught an exception: }
	if [ $rc -eq 0 ] && ! grep -q ' ERROR ' "$log"; then
		report samlsign accept "" "$log"
	elif [ $rc -eq 246 ] && ! grep -q 'Unable to load certificate' "$log"; then
		report samlsign reject "${reason:-exit $rc}" "$log"
	else
		report samlsign error "exit $rc${reason:+: $reason}" "$log"
	fi
}

check_mdquery() {
	skipped mdquery && return
	local dir=$WORK/shib rc reason out err log
	command -v mdquery >/dev/null || { report mdquery error "mdquery not installed (shibboleth-sp-utils)"; return; }
	[ -n "$entity" ] || { report mdquery error "no entityID found in the file (use --entity)"; return; }
	mkdir -p "$dir/run" "$dir/cache" "$dir/log"
	out=$dir/mdquery.out err=$dir/mdquery.err log=$dir/mdquery.log
	"$PY" "$MDTOOL" fill "$HERE/shibboleth2.xml.in" "$dir/shibboleth2.xml" \
	    METADATA="$FILE" CERT="$CERT" MAX_VALIDITY="$maxv" || { report mdquery error "cannot write the SP configuration"; return; }
	"$PY" "$MDTOOL" fill "$HERE/shibd.logger.in" "$dir/mdquery.logger" LOGFILE="$log" || { report mdquery error "cannot write the logging configuration"; return; }
	# mdquery exits 0 whether or not it found the entity (a failed filter
	# only logs CRIT "error initializing MetadataProvider" and ERROR
	# "no metadata found for (...)"); it aborts (134) on a broken
	# configuration. So: accepted = exit 0 AND stdout is that entity's
	# md:EntityDescriptor AND no CRIT/ERROR logged.
	(cd "$dir" && SHIBSP_CONFIG=$dir/shibboleth2.xml SHIBSP_LOGGING=$dir/mdquery.logger \
	    SHIBSP_RUNDIR=$dir/run SHIBSP_CACHEDIR=$dir/cache SHIBSP_LOGDIR=$dir/log \
	    timeout 600 mdquery -e "$entity" >"$out" 2>"$err" </dev/null)
	rc=$?
	cat "$err" >>"$log" 2>/dev/null
	reason=$(grep -E '^(CRIT|ERROR) ' "$log" | head -1 | sed -E 's/^[A-Z]+ [^:]*: //')
	local filt
	filt=$(grep -E '^WARN OpenSAML\.MetadataFilter' "$log" | head -1 | sed -E 's/^[A-Z]+ [^:]*: //')
	[ -n "$filt" ] && reason="$reason ($filt)"
	if [ $rc -eq 0 ] && [ -s "$out" ] && "$PY" "$MDTOOL" is-entity "$out" "$entity" 2>>"$log"; then
		if grep -qE '^(CRIT|ERROR) ' "$log"; then
			report mdquery error "entity returned, but: $reason" "$log"
		else
			report mdquery accept "" "$log"
		fi
	elif [ $rc -eq 0 ] && [ ! -s "$out" ] && grep -q 'no metadata found for' "$log"; then
		report mdquery reject "${reason:-no metadata found}" "$log"
	else
		report mdquery error "exit $rc${reason:+: $reason}$(head -1 "$err" | sed 's/^/; /')" "$log"
	fi
}

check_profile
check_xmlsec1
check_samlsign
check_mdquery
exit $failed
