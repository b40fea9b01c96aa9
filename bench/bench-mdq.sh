#!/bin/bash
# bench-mdq.sh — per-entity MDQ documents (`mdq:` in the publish
# configuration): what a first run, a second run, a run with 1% of the
# entities changed and a run on a slow token cost, against the raw PKCS#11
# signing rate of the same key and the same publication without `mdq:`,
# in the same run, with paired runs.
#
# usage: bench/bench-mdq.sh
#
# Environment:
#   FEDSIGN         the fedsign binary (default: build/fedsign of this tree)
#   BENCH_RATE      the p11-sign-rate binary (default: build/p11-sign-rate)
#   BENCH_SHIM      the SmartCard-HSM emulator (default:
#                   build/tests/p11/libfs_p11shim.so)
#   BENCH_ENTITIES  entities in the upstream aggregate (default 10000; made
#                   by tests/tools/gen-aggregate.py, seed 1)
#   BENCH_MEMBERS   member entities, one file each (default 100; seed 2)
#   BENCH_RUNS      paired runs of A, B, C and E, the median is shown
#                   (default 5)
#   BENCH_RATE_SECONDS  how long p11-sign-rate signs (default 5)
#   BENCH_CPUS      1: every timed command runs pinned to one CPU
#                   (taskset -c 0), p11-sign-rate too; default: all CPUs
#   BENCH_DIR       where inputs are generated and kept between runs
#                   (default: a temporary folder, removed at the end)
#   BENCH_VERIFY    1 (default): in the first paired run and in D, check
#                   the feeds and some entity documents with xmlsec1
#                   --verify against the token's certificate, untimed
#   BENCH_GEN       another generator with gen-aggregate.py's command line
#   BENCH_KEEP      1: keep the run's folders at the end (to look into them)
#   BENCH_SETTLE    seconds of quiet after the sync before each timed
#                   fedsign publish (default 5; see publish() below)
#   BENCH_SLOW      1 (default): run D, the slow token; 0 leaves it out
#   BENCH_SLOW_ENTITIES  member entities of D (default 2000; seed 2)
#   BENCH_SLOW_RUNS hourly runs of D with 1% changed (default 3)
#   BENCH_SLOW_RATE signatures a second of the emulator (default 2, the
#                   SmartCard-HSM's)
#   BENCH_SLOW_FULL 1: time D's first run of all BENCH_SLOW_ENTITIES at the
#                   slow rate (2,000 entities: over 1000 s); default: it is
#                   ESTIMATED from a first run of BENCH_SLOW_SAMPLE entities
#   BENCH_SLOW_SAMPLE  entities of that sample first run (default 200, or
#                   a tenth of BENCH_SLOW_ENTITIES when that is fewer)
#   BENCH_TOKEN_RATE  F's token rate, signatures a second (default 1000; 0
#                   leaves F out)
#
# The input: bench-publish.sh's (an upstream aggregate signed by `fedsign
# sign --key-file` with an RSA-2048 key, --valid-for 5d, a file: source
# with verify-cert; 100 member files; examples/publish-safire.yaml's four
# feeds; checks off), signed with an RSA-2048 key on a SoftHSM2 token made
# in the temporary folder, plus
#
#   mdq:
#     sources: [members, edugain]
#     validity: 14d
#     resign-window: 4d
#     run-interval: 1h
#
# Every run has FEDSIGN_NOW set: T0 (the start of the benchmark, to the
# minute), then T0+1h, T0+2h.  In each paired run, one after the other, in
# folders made new for the run (deleted only at the end of the benchmark):
#
#   A0   the publication without mdq:, a first run (empty folders), T0
#   raw  p11-sign-rate over the same key, 2 threads (BENCH_RATE_SECONDS)
#   A    the publication with mdq:, a first run (empty folders), T0
#   raw  again (the raw row is the median of both measurements of all
#        the paired runs: the rate of this machine drifts within minutes)
#   B    A again at T0+1h, nothing changed
#   C    A again at T0+2h, 1% of the upstream's entities changed (their
#        mdrpi:RegistrationInfo/@registrationInstant; the upstream signed
#        again with its key, untimed)
#   E    C's run, the naive way: on a copy of A's folders made after B
#        (untimed) without state-dir/mdq, as if every entity were signed
#        every run, as pyFF and the Shibboleth aggregator do
#
# then, in BENCH_RUNS paired runs of their own (after all of the above:
# their files would slow the later A runs' file system):
#
#   Fraw p11-sign-rate, 2 threads, through the emulator at
#        BENCH_TOKEN_RATE signatures a second (FS_SHIM_SIGN_RATE, one
#        schedule for all sessions; SoftHSM2 still signs underneath)
#   F    A through the emulator at that rate, in new folders: a token
#        whose rate is its own, not the host's CPUs, as a network HSM's
#        (for information: the issue's targets are A's)
#
# and once, after the paired runs (D): the SmartCard-HSM emulator
# (FS_SHIM_SMARTCARD=1: one session, 2 signatures a second) as the URI's
# module-path, BENCH_SLOW_ENTITIES member entities (feeds hub.xml and
# idp-proxy.xml, mdq: over the members), C_Sign counted by the emulator
# (FS_SHIM_COUNT): a first run of BENCH_SLOW_SAMPLE entities (the estimate)
# or of all of them (BENCH_SLOW_FULL=1); otherwise the full first run is
# made at full speed (FS_SHIM_SIGN_RATE=0: it only fills the cache, it is
# no measurement); then a run with nothing changed at +30m, BENCH_SLOW_RUNS runs at
# +1h, +2h, ... with 1% of the member files changed each, and one at +7d,
# where renewals come due.
#
# After C and each run of D, untimed: the release's entity documents are
# compared with the previous release's (a document that is a new file is
# a new signature published: as many as the run signed), the changed
# entities must carry their change, and each document's validUntil must
# be the one entities/index.json gives.
#
# Targets: A time <= 1.5 x N / raw rate + A0 time; A signaturesPerSecond
# >= 0.85 x raw rate; B no entity signature, time <= 0.3 x A; C signatures
# (changed + renewed) <= 2% of N, time <= 0.2 x A; D every run after the
# first <= 300 s.  Exit status 0 when every target passed, 1 otherwise.
set -u
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
. "$HERE/lib.sh"
GEN=${BENCH_GEN:-$REPO/tests/tools/gen-aggregate.py}
SPLIT=$REPO/tests/tools/split-entities.xsl
FEDSIGN=${FEDSIGN:-$REPO/build/fedsign}
RATE=${BENCH_RATE:-$REPO/build/p11-sign-rate}
SHIM=${BENCH_SHIM:-$REPO/build/tests/p11/libfs_p11shim.so}
N=${BENCH_ENTITIES:-10000}
NMEM=${BENCH_MEMBERS:-100}
RUNS=${BENCH_RUNS:-5}
RATE_SECONDS=${BENCH_RATE_SECONDS:-5}
RATE_THREADS=2
VERIFY=${BENCH_VERIFY:-1}
SLOW=${BENCH_SLOW:-1}
NS=${BENCH_SLOW_ENTITIES:-2000}
SLOW_RUNS=${BENCH_SLOW_RUNS:-3}
SLOW_RATE=${BENCH_SLOW_RATE:-2}
SLOW_FULL=${BENCH_SLOW_FULL:-0}
TOKEN_RATE=${BENCH_TOKEN_RATE:-1000}
SETTLE=${BENCH_SETTLE:-5}
SOFTHSM_MODULE=${SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
MDNS=urn:oasis:names:tc:SAML:2.0:metadata
RA=https://safire.ac.za/
TIME=/usr/bin/time
LIMIT_D=300
PIN=()
[ "${BENCH_CPUS:-}" = 1 ] && PIN=(taskset -c 0)

die() { echo "bench-mdq: $*" >&2; exit 1; }
note() { echo "# $*" >&2; }

for v in "$N" "$NMEM" "$RUNS" "$RATE_SECONDS" "$NS" "$SLOW_RUNS"; do
	case $v in ''|*[!0-9]*|0) die "BENCH_ENTITIES, BENCH_MEMBERS, BENCH_RUNS, BENCH_RATE_SECONDS, BENCH_SLOW_ENTITIES and BENCH_SLOW_RUNS must be positive numbers" ;; esac
done
SAMPLE=${BENCH_SLOW_SAMPLE:-$(( NS / 10 < 200 ? NS / 10 : 200 ))}
[ "$SAMPLE" -ge 1 ] 2>/dev/null || SAMPLE=1
case $SLOW_RATE in ''|*[!0-9.]*) die "BENCH_SLOW_RATE must be a number of signatures a second" ;; esac
case $TOKEN_RATE in ''|*[!0-9.]*) die "BENCH_TOKEN_RATE must be a number of signatures a second" ;; esac
[ $# -eq 0 ] || die "no arguments (the sizes are BENCH_ENTITIES and BENCH_SLOW_ENTITIES)"
[ -x "$TIME" ] || die "$TIME not found (Debian package 'time')"
for c in xmlsec1 xsltproc openssl python3 date; do
	command -v "$c" >/dev/null || die "$c not found"
done
[ -f "$GEN" ] || die "generator not found: $GEN (set BENCH_GEN)"
[ -f "$SOFTHSM_MODULE" ] || die "SoftHSM2 not found: $SOFTHSM_MODULE (set SOFTHSM_MODULE)"
[ ${#PIN[@]} -eq 0 ] || command -v taskset >/dev/null || die "taskset not found"
if ! { [ -x "$FEDSIGN" ] && "$FEDSIGN" publish --help >/dev/null 2>&1; }; then
	die "'$FEDSIGN publish --help' does not work (ninja -C build, or set FEDSIGN)"
fi
[ -x "$RATE" ] || die "p11-sign-rate not found: $RATE (ninja -C build, or set BENCH_RATE)"
{ [ "$SLOW" != 1 ] && [ "$TOKEN_RATE" = 0 ]; } || [ -f "$SHIM" ] ||
	die "the emulator is not built: $SHIM (ninja -C build, set BENCH_SHIM, or BENCH_SLOW=0 BENCH_TOKEN_RATE=0)"

if [ -n "${BENCH_DIR:-}" ]; then
	W=$BENCH_DIR
	mkdir -p "$W" || die "cannot make $W"
	OUTD=$(mktemp -d "$W/mdq.XXXXXX") || die "cannot make a folder in $W"
else
	W=$(mktemp -d "${TMPDIR:-/tmp}/bench-mdq.XXXXXX") || die "cannot make a temporary folder"
	OUTD=$W/run
	mkdir -p "$OUTD"
fi
# Everything a run made is deleted here, at the end, never between runs
# (ext4 is slow to allocate inodes right after a mass deletion).
# shellcheck disable=SC2317 # called by the trap
cleanup() {
	if [ "${BENCH_KEEP:-0}" = 1 ]; then note "kept: $OUTD (BENCH_KEEP=1)"; return; fi
	note "removing $OUTD"
	if [ -n "${BENCH_DIR:-}" ]; then rm -rf "$OUTD"; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
unset FEDSIGN_PIN FEDSIGN_NOW

# --- helpers in python, written once
cat >"$OUTD/report.py" <<'EOF'
# report.py LAST-REPORT.JSON: key=value lines ("-" when missing)
import json, sys
try:
    with open(sys.argv[1]) as f:
        r = json.load(f)
except (OSError, ValueError):
    r = {}
t = r.get("timings") or {}
m = r.get("mdq") or {}
s = r.get("signatures") or {}
def num(v, fmt="%.3f"):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return "-"
    return fmt % v if isinstance(v, float) else str(v)
o = (r.get("outcome") or "none").split(":")[0].split()
out = {"outcome": o[0] if o else "none"}
for k in ("sources", "checks", "entities", "tree", "feeds", "total"):
    out["t." + k] = num(t.get(k))
# feeds includes the entities' signing and the tree; "feedsonly" is the
# rest of it (the feeds' signing, verification and writing), "rest" what
# no timing covers (MDQ planning: reading the cache and the content keys;
# the release, syncfs, commit and state).
def f(k):
    v = t.get(k)
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None
if f("feeds") is not None:
    out["t.feedsonly"] = "%.3f" % (f("feeds") - (f("entities") or 0) - (f("tree") or 0))
else:
    out["t.feedsonly"] = "-"
if None not in (f("total"), f("sources"), f("checks"), f("feeds")):
    out["t.rest"] = "%.3f" % (f("total") - f("sources") - f("checks") - f("feeds"))
else:
    out["t.rest"] = "-"
for k in ("entities", "new", "changed", "unchanged", "renewed", "removed",
          "signatures", "workers", "boundedByUpstream"):
    out["m." + k] = num(m.get(k))
out["m.sps"] = num(m.get("signaturesPerSecond"), "%.1f")
out["m.seconds"] = num(m.get("signingSeconds"))
out["m.prep"] = num(m.get("preparingSeconds"))
out["s.feeds"] = num(s.get("feeds"))
out["s.entities"] = num(s.get("entities"))
out["reason"] = (r.get("reason") or "").replace("\n", " ")[:300]
for k, v in out.items():
    print("%s=%s" % (k, v))
EOF

cat >"$OUTD/edit.py" <<'EOF'
# edit.py agg IN OUT EVERY OFFSET MARKER IDS: entities number i with
#   i % EVERY == OFFSET of aggregate IN get registrationInstant=MARKER;
#   OUT is the result, IDS their entityIDs
# edit.py files DIR EVERY OFFSET MARKER IDS: the same for the member files
#   of DIR (sorted by name, one entity each), edited in place
# Prints the number of entities changed.
import glob, os, re, sys
from xml.sax.saxutils import unescape
START = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?EntityDescriptor\b")
RI = re.compile(rb'registrationInstant="[^"]*"')
EID = re.compile(rb'entityID="([^"]*)"')
def edit(seg, marker):
    new, n = RI.subn(b'registrationInstant="' + marker + b'"', seg, count=1)
    if n != 1:
        sys.exit("edit.py: an entity without registrationInstant")
    return new, unescape(EID.search(seg).group(1).decode(), {"&quot;": '"', "&apos;": "'"})
ids = []
if sys.argv[1] == "agg":
    src, dst, every, offset, marker, idsf = sys.argv[2:8]
    every, offset, marker = int(every), int(offset), marker.encode()
    data = open(src, "rb").read()
    starts = [m.start() for m in START.finditer(data)]
    out, pos = [], 0
    for i, s in enumerate(starts):
        if i % every != offset:
            continue
        end = starts[i + 1] if i + 1 < len(starts) else len(data)
        new, eid = edit(data[s:end], marker)
        out += [data[pos:s], new]
        pos = end
        ids.append(eid)
    out.append(data[pos:])
    with open(dst, "wb") as f:
        f.write(b"".join(out))
else:
    d, every, offset, marker, idsf = sys.argv[2:7]
    every, offset, marker = int(every), int(offset), marker.encode()
    for i, p in enumerate(sorted(glob.glob(os.path.join(d, "*.xml")))):
        if i % every != offset:
            continue
        data = open(p, "rb").read()
        m = START.search(data)
        new, eid = edit(data[m.start():], marker)
        with open(p, "wb") as f:
            f.write(data[:m.start()] + new)
        ids.append(eid)
with open(idsf, "w") as f:
    f.write("".join(e + "\n" for e in ids))
print(len(ids))
EOF

cat >"$OUTD/check.py" <<'EOF'
# check.py OLD-ENTITIES NEW-ENTITIES IDS MARKER: of the entity documents
# of the release NEW, how many are not the file the release OLD had (a
# new signature published), how many of the entities named in IDS carry
# MARKER, and how many documents carry another validUntil than NEW's
# index.json gives them.  Prints "resigned R marked M of K missing X
# stale S".
import hashlib, json, os, re, sys
old, new, idsf, marker = sys.argv[1:5]
VU = re.compile(rb'validUntil="([^"]*)"')
with open(os.path.join(new, "index.json")) as f:
    idx = json.load(f)
resigned = stale = 0
for eid, v in idx.items():
    p = os.path.join(new, v["file"])
    a = os.stat(p)
    try:
        b = os.stat(os.path.join(old, v["file"]))
        same = (a.st_ino, a.st_dev) == (b.st_ino, b.st_dev)
    except OSError:
        same = False
    resigned += not same
    with open(p, "rb") as f:
        m = VU.search(f.read(8192))
    stale += m is None or m.group(1).decode() != v.get("validUntil")
ids = [l.rstrip("\n") for l in open(idsf) if l.strip()]
marked = missing = 0
for e in ids:
    p = os.path.join(new, "{sha1}" + hashlib.sha1(e.encode()).hexdigest())
    try:
        with open(p, "rb") as f:
            marked += marker.encode() in f.read()
    except OSError:
        missing += 1
print("resigned %d marked %d of %d missing %d stale %d" % (resigned, marked, len(ids), missing, stale))
EOF

# --- inputs, kept in W: the unsigned upstream (the same file bench-sign.sh
# and bench-publish.sh make for this size) and the member files
UNSIGNED=$W/agg-$N.xml
if [ ! -s "$UNSIGNED" ]; then
	note "generating $N upstream entities..."
	if ! { python3 "$GEN" "$N" "$UNSIGNED.part" --certs "$W/gencerts" >&2 &&
	    mv "$UNSIGNED.part" "$UNSIGNED"; }; then
		die "cannot generate $UNSIGNED"
	fi
fi
# members COUNT: W/members-COUNT, one file per entity (seed 2), registered
# by the federation itself (the same folder bench-publish.sh makes)
members() {
	local d=$W/members-$1
	[ -d "$d" ] && return 0
	note "generating $1 member entities..."
	if ! { rm -rf "$d.part" && mkdir -p "$d.part" &&
	    python3 "$GEN" "$1" "$W/members-$1.xml" --seed 2 --certs "$W/gencerts" >&2 &&
	    xsltproc --stringparam dir "$d.part" "$SPLIT" "$W/members-$1.xml" &&
	    sed -i "s|registrationAuthority=\"[^\"]*\"|registrationAuthority=\"$RA\"|" "$d.part"/*.xml &&
	    mv "$d.part" "$d"; }; then
		die "cannot make the member files"
	fi
	rm -f "$W/members-$1.xml"
}
members "$NMEM"
MEMBERS=$W/members-$NMEM
[ "$SLOW" != 1 ] || members "$NS"

# --- the upstream's key; the upstream, and the upstream with 1% of its
# entities changed, both signed with it (valid for 5 days)
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$OUTD/up-key.pem" -out "$OUTD/up-cert.pem" \
    -subj "/CN=bench upstream signer" -days 30 2>/dev/null || die "openssl could not make a key"
chmod 600 "$OUTD/up-key.pem"
UP=$OUTD/upstream.xml UPC=$OUTD/upstream-changed.xml LIVE=$OUTD/upstream-live.xml
MARK_C=1990-01-01T02:00:00Z
CHG=$(python3 "$OUTD/edit.py" agg "$UNSIGNED" "$OUTD/agg-changed.xml" 100 42 "$MARK_C" "$OUTD/changed-ids.txt") ||
	die "cannot change the upstream's entities"
for pair in "$UNSIGNED:$UP" "$OUTD/agg-changed.xml:$UPC"; do
	"$FEDSIGN" sign "${pair%%:*}" -o "${pair#*:}" --key-file "$OUTD/up-key.pem" --cert "$OUTD/up-cert.pem" \
	    --valid-for 5d -q || die "fedsign sign could not sign ${pair%%:*}"
done
rm -f "$OUTD/agg-changed.xml"

# --- the signing key: a SoftHSM2 token of our own (never the system's)
if ! bench_token "$OUTD" 123456 'CN=bench mdq signer' "$OUTD/signer.crt"; then
	sed 's/^/#   /' "$OUTD/p11.log" | tail -5 >&2
	die "token setup failed"
fi
bench_token_cert "$OUTD" || die "no PEM certificate in the output of fedsign cert show"
URI_SHIM="pkcs11:token=bench;object=md-signing?module-path=$SHIM&pin-source=file:$OUTD/pin"

# --- times: T0 to the minute, and FEDSIGN_NOW values after it
T0=$(( $(date -u +%s) / 60 * 60 ))
at() { date -u -d "@$((T0 + $1))" +%Y-%m-%dT%H:%M:%SZ; }	# SECONDS-AFTER-T0

# --- the configurations
# config NAME DIR KEY-URI MDQ-SOURCES FEEDS-KIND MEMBER-DIR: NAME.yaml, with the
# folders DIR/pub and DIR/state; MDQ-SOURCES "" for no mdq:; FEEDS-KIND
# "all" (the four feeds and the upstream) or "members" (hub.xml and
# idp-proxy.xml, members only)
config() {
	local file=$1 dir=$2 key=$3 mdq=$4 kind=$5 mdir=$6
	{
		cat <<EOF
# bench-mdq.sh: examples/publish-safire.yaml's feeds
signing:
  key: "$key"
  cert: $OUTD/signer.crt
publish-dir: $dir/pub
state-dir: $dir/state
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
      - $mdir/*.xml
    registration-authority: $RA
    required: true
EOF
		[ "$kind" = all ] && cat <<EOF
  - name: edugain
    file: $LIVE
    verify-cert: $OUTD/up-cert.pem
    required: true
    timeout: 30s
    max-size: 200M
EOF
		cat <<EOF
checks:
  schema: false
feeds:
  - file: hub.xml
    name: https://metadata.safire.ac.za/hub.xml
    sources: [members]
  - file: idp-proxy.xml
    name: https://metadata.safire.ac.za/idp-proxy.xml
    sources: [members]
    select:
      roles: [idp]
EOF
		[ "$kind" = all ] && cat <<EOF
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
EOF
		cat <<EOF
safety:
  max-entity-drop: 10%
EOF
		[ -n "$mdq" ] && cat <<EOF
mdq:
  sources: [$mdq]
  validity: 14d
  resign-window: 4d
  run-interval: 1h
EOF
	} >"$file.yaml"
}

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

# report DIR: REP[...] from DIR/state/last-report.json (see report.py)
declare -A REP
report() {
	local k v
	REP=()
	while IFS='=' read -r k v; do REP[$k]=$v; done < <(python3 "$OUTD/report.py" "$1/state/last-report.json")
}

# publish DIR NOW [VAR=VALUE...]: fedsign publish -c DIR.yaml as at NOW
# (FEDSIGN_NOW), timed, after a sync (untimed, so that no run pays for
# the write-back of what came before) and SETTLE seconds: on the 2-vCPU
# VMs this was measured on, the disk stays slow for a few seconds after a
# large write-back (C right after the untimed copy of A's folders for E,
# 200 MB and 30,000 files, and a sync: 4.3 s; after 4 s more: 2.9 s);
# 0 when it exits 0 and the report says WANT (published by default)
publish() {
	local dir=$1 now=$2 want=${WANT:-published}
	shift 2
	sync
	sleep "$SETTLE"
	if ! run_timed env FEDSIGN_NOW="$now" "$@" "$FEDSIGN" publish -c "$dir.yaml"; then
		report "$dir"
		[ -z "${REP[reason]:-}" ] || note "the report's reason: ${REP[reason]}"
		return 1
	fi
	report "$dir"
	if [ "${REP[outcome]}" != "$want" ]; then
		note "${dir##*/}: the report's outcome is '${REP[outcome]}', expected '$want'"
		return 1
	fi
}

# xverify FILE ROOT: FILE verifies with xmlsec1 and the token's certificate
xverify() {
	if xmlsec1 --verify --id-attr:ID "$MDNS:$2" --pubkey-cert-pem "$TOKCERT" \
	        --enabled-key-data key-name,rsa,ec "$1" >"$OUTD/verify.log" 2>&1; then
		return 0
	fi
	note "${1#"$OUTD"/} does NOT verify with xmlsec1 and the token's certificate"
	sed 's/^/#   /' "$OUTD/verify.log" | tail -3 >&2
	return 1
}

# verify_release DIR: every feed and three entity documents of DIR's
# current release verify
verify_release() {
	local f rc=0 n=0
	[ "$VERIFY" = 1 ] || return 0
	for f in "$1/pub/current"/*.xml; do
		xverify "$f" EntitiesDescriptor || rc=1
	done
	for f in "$1/pub/current/entities"/\{sha1\}*; do
		case $f in *.gz|*.json) continue ;; esac
		xverify "$f" EntityDescriptor || rc=1
		n=$((n + 1))
		[ $n -lt 3 ] || break
	done
	[ $n -gt 0 ] || { note "${1##*/}: no entity documents in current/entities"; rc=1; }
	return $rc
}

release_of() { readlink "$1/pub/current"; }	# DIR: releases/ID

# published OLD NEW IDS MARKER SIGNATURES: the release NEW's entities/
# against OLD's (check.py): as many documents are new files as the run
# made signatures, every entity of IDS carries MARKER, and every
# document's validUntil is the one index.json gives.  PUB_RESIGNED: the
# documents that are new files; PUB_WHY: what is wrong.
published() {
	local got resigned marked total missing stale
	PUB_WHY="" PUB_RESIGNED=-
	got=$(python3 "$OUTD/check.py" "$1" "$2" "$3" "$4") || { PUB_WHY="check.py failed"; return 1; }
	read -r _ resigned _ marked _ total _ missing _ stale <<<"$got"
	PUB_RESIGNED=$resigned
	[ "$resigned" = "$5" ] || PUB_WHY+="$5 signatures, but $resigned documents published again (as new files); "
	[ "$marked" = "$total" ] && [ "$missing" = 0 ] ||
		PUB_WHY+="$marked of $total changed entities published with their change ($missing missing); "
	[ "$stale" = 0 ] || PUB_WHY+="$stale documents whose validUntil is not the one index.json gives; "
	PUB_WHY=${PUB_WHY%; }
	[ -z "$PUB_WHY" ]
}

declare -A ST SM BAD
KEYS="A0 rate A A.sources A.checks A.entities A.tree A.feeds A.feedsonly A.rest A.total A.n A.sigs A.sps A.workers A.prep A.ssec A.both
B B.sigs B.fsigs C C.sources C.checks C.entities C.tree C.feeds C.feedsonly C.rest C.total C.sigs C.changed C.renewed C.repub C.n
E E.entities E.tree E.total E.sigs Frate F F.entities F.sigs F.sps F.workers"
for k in $KEYS; do ST[$k]=""; SM[$k]=""; done
add() { ST[$1]+="$2 "; [ -z "${3:-}" ] || SM[$1]+="$3 "; }	# KEY VALUE [KB]
bad() { [ -n "${BAD[$1]:-}" ] || BAD[$1]=$2; }			# KEY REASON
B_OK=1 C_OK=1 B_WHY="" C_WHY=""

load0=$(cut -d' ' -f1-3 /proc/loadavg)
note "T0 (FEDSIGN_NOW of the first runs) is $(at 0)"
for i in $(seq "$RUNS"); do
	note "paired run $i of $RUNS"
	R=$OUTD/r$i
	mkdir -p "$R"
	config "$R/A0" "$R/A0" "$URI" "" all "$MEMBERS"
	config "$R/A" "$R/A" "$URI" "members, edugain" all "$MEMBERS"
	config "$R/E" "$R/E" "$URI" "members, edugain" all "$MEMBERS"
	cp -f "$UP" "$LIVE" || die "cannot copy the upstream"

	# A0: the publication without mdq:
	if publish "$R/A0" "$(at 0)"; then
		add A0 "$R_T" "$R_M"
	else
		bad A0 "fedsign publish failed"
	fi

	# raw: the C_Sign rate of the same key, 2 threads, just before A
	# and just after it (this machine's speed drifts within minutes)
	raw_rate() {
		if run_timed "$RATE" "$SOFTHSM_MODULE" bench md-signing "$OUTD/pin" "$RATE_THREADS" "$RATE_SECONDS"; then
			add rate "$(awk '{for (i = 1; i < NF; i++) if ($i == "rate") print $(i + 1)}' "$OUTD/cmd.out")"
		else
			bad rate "p11-sign-rate failed"
		fi
	}
	raw_rate

	# A: the first run with mdq:
	a_ok=0
	if publish "$R/A" "$(at 0)"; then
		a_ok=1
		add A "$R_T" "$R_M"
		for k in sources checks entities tree feeds feedsonly rest total; do add "A.$k" "${REP[t.$k]}"; done
		add A.n "${REP[m.entities]}"
		add A.sigs "${REP[m.signatures]}"
		add A.sps "${REP[m.sps]}"
		add A.workers "${REP[m.workers]}"
		add A.prep "${REP[m.prep]}"
		add A.ssec "${REP[m.seconds]}"
		add A.both "$(awk -v n="${REP[m.signatures]}" -v p="${REP[m.prep]}" -v s="${REP[m.seconds]}" \
		    'BEGIN { if (p + s > 0) printf "%.1f", n / (p + s); else print "-" }')"
		[ "${REP[m.signatures]}" = "${REP[m.entities]}" ] ||
			note "A: ${REP[m.signatures]} entity signatures for ${REP[m.entities]} entities"
		if [ "$i" = 1 ] && ! verify_release "$R/A"; then bad A "a feed or a document does not verify"; fi
	else
		bad A "fedsign publish failed"
	fi
	raw_rate

	# B: nothing changed, an hour later
	if [ $a_ok = 1 ]; then
		rel=$(release_of "$R/A")
		if WANT=unchanged publish "$R/A" "$(at 3600)"; then
			add B "$R_T" "$R_M"
			add B.sigs "${REP[s.entities]}"
			add B.fsigs "${REP[s.feeds]}"
			if [ "${REP[s.entities]}" != 0 ] || [ "${REP[s.feeds]}" != 0 ]; then
				B_OK=0 B_WHY+=" run $i: ${REP[s.entities]} entity and ${REP[s.feeds]} feed signatures;"
			fi
		else
			bad B "second run failed or published"
			B_OK=0 B_WHY+=" run $i: outcome '${REP[outcome]:-}';"
		fi
		[ "$(release_of "$R/A")" = "$rel" ] || { B_OK=0 B_WHY+=" run $i: a new release;"; }
	fi

	# E's folders: A's after B, without state-dir/mdq (copied, untimed;
	# the publish in C syncs first)
	e_ok=0
	if [ $a_ok = 1 ]; then
		mkdir -p "$R/E/state" &&
		cp -a "$R/A/pub" "$R/E/pub" &&
		find "$R/A/state" -mindepth 1 -maxdepth 1 ! -name mdq -exec cp -a {} "$R/E/state/" \; &&
		e_ok=1
		[ $e_ok = 1 ] || bad E "cannot copy A's folders"
	fi

	# C: 1% of the upstream changed, two hours after A
	cp -f "$UPC" "$LIVE" || die "cannot copy the upstream"
	if [ $a_ok = 1 ]; then
		rel=$(release_of "$R/A")
		if publish "$R/A" "$(at 7200)"; then
			add C "$R_T" "$R_M"
			for k in sources checks entities tree feeds feedsonly rest total; do add "C.$k" "${REP[t.$k]}"; done
			add C.sigs "${REP[m.signatures]}"
			add C.changed "${REP[m.changed]}"
			add C.renewed "${REP[m.renewed]}"
			add C.n "${REP[m.entities]}"
			if [ "${REP[m.changed]}" != "$CHG" ] || [ "${REP[m.new]}" != 0 ]; then
				C_OK=0 C_WHY+=" run $i: the report says ${REP[m.new]} new and ${REP[m.changed]} changed, $CHG were changed;"
			fi
			if [ "${REP[m.signatures]}" != $(( ${REP[m.changed]:-0} + ${REP[m.renewed]:-0} )) ]; then
				C_OK=0 C_WHY+=" run $i: ${REP[m.signatures]} signatures, not changed + renewed;"
			fi
			if ! published "$R/A/pub/$rel/entities" "$R/A/pub/current/entities" \
			        "$OUTD/changed-ids.txt" "$MARK_C" "${REP[m.signatures]}"; then
				C_OK=0 C_WHY+=" run $i: $PUB_WHY;"
			fi
			add C.repub "$PUB_RESIGNED"
			if [ "$i" = 1 ] && [ "$VERIFY" = 1 ]; then
				verify_release "$R/A" || bad C "a feed or a document does not verify"
				f=$R/A/pub/current/entities/'{sha1}'$(head -1 "$OUTD/changed-ids.txt" | tr -d '\n' | sha1sum | cut -c1-40)
				xverify "$f" EntityDescriptor || bad C "a changed entity's document does not verify"
			fi
		else
			bad C "fedsign publish failed"
		fi
	fi

	# E: C's run, but every entity signed again
	if [ $e_ok = 1 ]; then
		if publish "$R/E" "$(at 7200)"; then
			add E "$R_T" "$R_M"
			add E.sigs "${REP[m.signatures]}"
			for k in entities tree total; do add "E.$k" "${REP[t.$k]}"; done
			if [ "$i" = 1 ] && ! verify_release "$R/E"; then bad E "a feed or a document does not verify"; fi
		else
			bad E "fedsign publish failed"
		fi
	fi

done
load1=$(cut -d' ' -f1-3 /proc/loadavg)

# --- F: A on a token with a rate of its own, in paired runs of its own
# after A..E (its folders would slow A's, written later on the same disk)
if [ "$TOKEN_RATE" != 0 ]; then
	for i in $(seq "$RUNS"); do
		note "F: paired run $i of $RUNS, the emulator at $TOKEN_RATE/s"
		R=$OUTD/r$i
		cp -f "$UP" "$LIVE" || die "cannot copy the upstream"
		config "$R/F" "$R/F" "$URI_SHIM" "members, edugain" all "$MEMBERS"
		if run_timed env FS_SHIM_MODULE="$SOFTHSM_MODULE" FS_SHIM_SIGN_RATE="$TOKEN_RATE" \
		        "$RATE" "$SHIM" bench md-signing "$OUTD/pin" "$RATE_THREADS" "$RATE_SECONDS"; then
			add Frate "$(awk '{for (i = 1; i < NF; i++) if ($i == "rate") print $(i + 1)}' "$OUTD/cmd.out")"
		else
			bad Frate "p11-sign-rate through the emulator failed"
		fi
		if publish "$R/F" "$(at 0)" FS_SHIM_MODULE="$SOFTHSM_MODULE" FS_SHIM_SIGN_RATE="$TOKEN_RATE"; then
			add F "$R_T" "$R_M"
			add F.entities "${REP[t.entities]}"
			add F.sigs "${REP[m.signatures]}"
			add F.sps "${REP[m.sps]}"
			add F.workers "${REP[m.workers]}"
			if [ "$i" = 1 ] && ! verify_release "$R/F"; then bad F "a feed or a document does not verify"; fi
		else
			bad F "fedsign publish failed"
		fi
	done
fi

# --- D: the slow token, once
SHIMENV=(FS_SHIM_MODULE="$SOFTHSM_MODULE" FS_SHIM_SMARTCARD=1 FS_SHIM_COUNT="$OUTD/count")
D_ROWS=() D_MAX="" D_BAD="" D_RAW=- D_FIRST="" D_FIRST_HOW=""
declare -A DV
# slow_run LABEL DIR AT RATE [WANT]: one publish through the emulator;
# appends a row to D_ROWS; DV[...] as for the last run.  When DIR had a
# release, what was published again is checked against SLOW_IDS and
# SLOW_MARK (the entities changed for this run and their mark).
slow_run() {
	local label=$1 dir=$2 when=$3 rate=$4 csign clogin rel0 repub=-
	DV=()
	rel0=$(release_of "$dir" 2>/dev/null)
	: >"$OUTD/count"
	if WANT=${5:-published} publish "$dir" "$(at "$when")" "${SHIMENV[@]}" FS_SHIM_SIGN_RATE="$rate"; then
		csign=$(grep -c '^C_Sign$' "$OUTD/count")
		clogin=$(grep -c '^C_Login$' "$OUTD/count")
		DV=([t]=$R_T [csign]=$csign [clogin]=$clogin)
		if [ "$csign" != $(( ${REP[s.entities]:-0} + ${REP[s.feeds]:-0} )) ]; then
			note "D $label: the emulator counted $csign C_Sign, the report says ${REP[s.entities]} + ${REP[s.feeds]}"
			D_BAD+=" $label: $csign C_Sign, the report says ${REP[s.entities]} entity and ${REP[s.feeds]} feed signatures;"
		fi
		if [ -n "$rel0" ]; then
			published "$dir/pub/$rel0/entities" "$dir/pub/current/entities" "${SLOW_IDS:-/dev/null}" \
			    "${SLOW_MARK:-none}" "${REP[s.entities]}" || D_BAD+=" $label: $PUB_WHY;"
			repub=$PUB_RESIGNED
		fi
		D_ROWS+=("$(printf '%-34s %-20s %8s %7s %7s %7s %7s %7s %7s %7s %9s' "$label" "$(at "$when")" "$R_T" \
		    "$csign" "${REP[s.entities]}" "${REP[m.changed]}" "${REP[m.renewed]}" "$repub" "${REP[s.feeds]}" \
		    "${REP[m.workers]}" "${REP[t.entities]}")")
		return 0
	fi
	D_ROWS+=("$(printf '%-34s %-20s %8s' "$label" "$(at "$when")" fail)")
	D_BAD+=" $label: fedsign publish failed;"
	return 1
}
d_max() { D_MAX=$(awk -v a="$D_MAX" -v b="$1" 'BEGIN { if (a == "" || b + 0 > a + 0) print b; else print a }'); }

if [ "$SLOW" = 1 ]; then
	note "D: the slow token, $NS member entities at $SLOW_RATE signatures/s"
	S=$OUTD/slow
	mkdir -p "$S/members" "$S/sample-members"
	cp -a "$W/members-$NS"/. "$S/members/" || die "cannot copy the member files"
	# shellcheck disable=SC2012 # plain file names
	ls "$W/members-$NS" | sort | head -n "$SAMPLE" | while read -r f; do cp -a "$W/members-$NS/$f" "$S/sample-members/"; done
	config "$S/main" "$S/main" "$URI_SHIM" members members "$S/members"
	config "$S/sample" "$S/sample" "$URI_SHIM" members members "$S/sample-members"
	if run_timed env "${SHIMENV[@]}" FS_SHIM_SIGN_RATE="$SLOW_RATE" "$RATE" "$SHIM" bench md-signing "$OUTD/pin" 1 "$RATE_SECONDS"; then
		D_RAW=$(awk '{for (i = 1; i < NF; i++) if ($i == "rate") print $(i + 1)}' "$OUTD/cmd.out")
	else
		D_BAD+=" p11-sign-rate through the emulator failed;"
	fi
	if [ "$SLOW_FULL" = 1 ]; then
		note "D: the full first run at $SLOW_RATE/s (BENCH_SLOW_FULL=1)"
		if slow_run "first run, $NS entities" "$S/main" 0 "$SLOW_RATE"; then
			D_FIRST=${DV[t]} D_FIRST_HOW="measured (BENCH_SLOW_FULL=1)"
		fi
	else
		note "D: a first run of $SAMPLE entities at $SLOW_RATE/s, for the estimate"
		if slow_run "first run, $SAMPLE entities (sample)" "$S/sample" 0 "$SLOW_RATE"; then
			D_FIRST=$(awk -v t="${DV[t]}" -v n="$NS" -v s="$SAMPLE" -v r="${REP[m.sps]}" \
			    'BEGIN { if (r + 0 > 0) printf "%.0f", t + (n - s) / r; else print "-" }')
			D_FIRST_HOW="ESTIMATED = the $SAMPLE-entity first run's ${DV[t]} s + ($NS - $SAMPLE) / its ${REP[m.sps]} signatures/s (BENCH_SLOW_FULL=1 measures it)"
		fi
		note "D: the first run of $NS entities at full speed (FS_SHIM_SIGN_RATE=0): fills the cache, not a measurement"
		slow_run "first run, $NS, full speed (fill)" "$S/main" 0 0
	fi
	if [ -d "$S/main/pub/current" ]; then
		verify_release "$S/main" || D_BAD+=" a feed or a document of the first run does not verify;"
		slow_run "+30m, nothing changed" "$S/main" 1800 "$SLOW_RATE" unchanged && d_max "${DV[t]}"
		[ "${DV[csign]:-x}" = 0 ] || D_BAD+=" +30m: C_Sign calls with nothing changed;"
		for h in $(seq "$SLOW_RUNS") 168; do
			SLOW_IDS=$OUTD/slow-ids.txt SLOW_MARK=$(printf '1990-01-02T%02d:%02d:00Z' $((h / 60 % 24)) $((h % 60)))
			chg=$(python3 "$OUTD/edit.py" files "$S/members" 100 $((h % 100)) "$SLOW_MARK" "$SLOW_IDS") ||
				die "cannot change the member files"
			if [ "$h" = 168 ]; then label="+7d, $chg changed"; else label="+${h}h, $chg changed"; fi
			slow_run "$label" "$S/main" $((h * 3600)) "$SLOW_RATE" && d_max "${DV[t]}"
		done
		verify_release "$S/main" || D_BAD+=" a feed or a document of the last run does not verify;"
	else
		D_BAD+=" no first run to continue from;"
	fi
fi

# --- medians, table, targets
median() { tr ' ' '\n' | grep . | grep -v '^-$' | sort -n | awk '{v[NR]=$1} END {if (NR) print v[int((NR+1)/2)]}'; }
declare -A T M
for k in $KEYS; do
	if [ -n "${BAD[${k%%.*}]:-}" ]; then T[$k]=fail; M[$k]=fail; continue; fi
	T[$k]=$(median <<<"${ST[$k]}"); [ -n "${T[$k]}" ] || T[$k]=-
	M[$k]=$(median <<<"${SM[$k]}"); [ -n "${M[$k]}" ] || M[$k]=-
done
isnum() { [[ $1 =~ ^-?[0-9]+([.][0-9]+)?$ ]]; }
ratio() { awk -v a="$1" -v b="$2" -v f="${3:-%.2f}" 'BEGIN { if (a ~ /^-?[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf f, a / b; else printf "-" }'; }
mb() { awk -v k="$1" 'BEGIN { if (k ~ /^[0-9]+$/) printf "%.1f", k / 1024; else printf "%s", k }'; }
size_of() { awk -v b="$(stat -c %s "$1" 2>/dev/null || echo 0)" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
# limit SIGNATURES RATE: 1.5 x SIGNATURES / RATE + A0, or - (a first run's
# limit, from the medians)
limit() {
	if isnum "$1" && isnum "$2" && isnum "${T[A0]}"; then
		awk -v n="$1" -v r="$2" -v a="${T[A0]}" 'BEGIN { if (r > 0) printf "%.3f", 1.5 * n / r + a; else print "-" }'
	else
		echo -
	fi
}
LIMIT_A=$(limit "${T[A.sigs]}" "${T[rate]}")
LIMIT_F=$(limit "${T[F.sigs]}" "${T[Frate]}")
BUDGET=-
isnum "${T[C.n]}" && BUDGET=$(( (${T[C.n]} * 3600 + 4 * 86400 - 1) / (4 * 86400) ))

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
echo
echo "MDQ benchmark: median of $RUNS paired runs; $("$FEDSIGN" --version 2>/dev/null | head -1)"
echo "CPU: $cpu, $(nproc) CPUs; commands pinned to $([ ${#PIN[@]} -gt 0 ] && echo "one CPU (BENCH_CPUS=1)" || echo "no CPU (all available)")"
echo "input: upstream $N entities, $(size_of "$UP") (signed, RSA-2048, valid 5d); $NMEM member files; MDQ entities: ${T[A.n]}"
echo "mdq: validity 14d, resign-window 4d, run-interval 1h; SoftHSM2 token, RSA-2048; A at T0 = $(at 0), B at T0+1h, C and E at T0+2h"
echo "C and E: $CHG upstream entities changed (registrationInstant), the upstream signed again"
echo "load average before: $load0, after: $load1 (other work on the machine skews the times)"
# row KEY CASE LABEL UNIT REF-VALUE REF-LABEL [FMT]
row() {
	local r=-
	[ "$5" = - ] || r=$(ratio "${T[$1]}" "$5" "${7:-%.2f}")
	printf '%-4s %-46s %10s %-6s %8s  %-7s %7s\n' "$2" "$3" "${T[$1]}" "$4" "$(mb "${M[$1]:--}")" "$6" "$r"
}
printf '%-4s %-46s %10s %-6s %8s  %-7s %7s\n' case measurement median unit rss_MB ref ratio
row A0        A0 "publish without mdq:, first run"           s     -           ""
row rate      raw "p11-sign-rate, $RATE_THREADS threads, ${RATE_SECONDS}s"   sig/s -     ""
row A         A  "publish with mdq:, first run"              s     "$LIMIT_A"  limit
row A.sources A  "  timings.sources"                         s     "${T[A.total]}" total
row A.checks  A  "  timings.checks"                          s     "${T[A.total]}" total
row A.entities A "  timings.entities (signing the entities)" s     "${T[A.total]}" total
row A.tree    A  "  timings.tree (entities/ folder)"         s     "${T[A.total]}" total
row A.feeds   A  "  timings.feeds (incl. entities, tree)"    s     "${T[A.total]}" total
row A.feedsonly A "    feeds less entities and tree"         s     "${T[A.total]}" total
row A.rest    A  "  rest (plan, sync, commit)"               s     "${T[A.total]}" total
row A.total   A  "  timings.total"                           s     "${T[A]}"   wall
row A.sigs    A  "  mdq.signatures"                          sig   -           ""
row A.prep    A  "  mdq.preparingSeconds (before signing)"    s     "${T[A.entities]}" entities
row A.ssec    A  "  mdq.signingSeconds"                      s     "${T[A.entities]}" entities
row A.sps     A  "  mdq.signaturesPerSecond"                 sig/s "${T[rate]}" raw
row A.both    A  "  signatures / (preparing + signing)"      sig/s "${T[rate]}" raw
row A.workers A  "  mdq.workers"                             ""    -           ""
row B         B  "second run, nothing changed (+1h)"         s     "${T[A]}"   A
row B.sigs    B  "  entity signatures (report)"              sig   -           ""
row B.fsigs   B  "  feed signatures (report)"                sig   -           ""
row C         C  "$CHG upstream entities changed (+2h)"      s     "${T[A]}"   A
row C.sources C  "  timings.sources"                         s     "${T[C.total]}" total
row C.checks  C  "  timings.checks"                          s     "${T[C.total]}" total
row C.entities C "  timings.entities (signing the entities)" s     "${T[C.total]}" total
row C.tree    C  "  timings.tree (entities/ folder)"         s     "${T[C.total]}" total
row C.feeds   C  "  timings.feeds (incl. entities, tree)"    s     "${T[C.total]}" total
row C.feedsonly C "    feeds less entities and tree"         s     "${T[C.total]}" total
row C.rest    C  "  rest (plan, sync, commit)"               s     "${T[C.total]}" total
row C.total   C  "  timings.total"                           s     "${T[C]}"   wall
row C.sigs    C  "  mdq.signatures"                          sig   "${T[C.n]}" N "%.4f"
row C.changed C  "    mdq.changed"                           sig   "${T[C.n]}" N "%.4f"
row C.renewed C  "    mdq.renewed (budget $BUDGET a run)"    sig   "${T[C.n]}" N "%.4f"
row C.repub   C  "  documents published as new files"        doc   "${T[C.sigs]}" sigs
row E         E  "naive: C with state-dir/mdq deleted"       s     "${T[C]}"   C
row E.entities E "  timings.entities"                        s     "${T[C.entities]}" C
row E.tree    E  "  timings.tree"                            s     "${T[C.tree]}" C
row E.sigs    E  "  mdq.signatures"                          sig   "${T[C.sigs]}" C
if [ "$TOKEN_RATE" != 0 ]; then
	row Frate  Fraw "p11-sign-rate, emulator at ${TOKEN_RATE}/s"  sig/s -    ""
	row F      F  "A on the ${TOKEN_RATE}/s token"               s     "$LIMIT_F"  limit
	row F.entities F "  timings.entities (signing the entities)" s     "${T[F]}"   wall
	row F.sps  F  "  mdq.signaturesPerSecond"                   sig/s "${T[Frate]}" Fraw
	row F.workers F "  mdq.workers"                             ""    -           ""
fi
echo "(limit: 1.5 x mdq.signatures / raw + A0 = $LIMIT_A s; total: the run's timings.total; raw: the p11-sign-rate row;"
echo " N: the MDQ entities; budget: ceil(N x run-interval / resign-window), the most renewals a run signs unless they are due)"
for k in A0 rate A B C E Frate F; do
	[ -z "${BAD[$k]:-}" ] || note "$k: ${BAD[$k]}"
done
# What C's time goes to: the largest of its parts
dom=$(for k in sources checks entities tree feedsonly rest; do echo "${T[C.$k]} $k"; done | grep -E '^[0-9.]+ ' | sort -rn | head -1)
if [ -n "$dom" ] && isnum "${T[C.total]}"; then
	part=${dom#* }
	case $part in
	sources) what="reading the sources (the upstream's digest and signature, the member files)" ;;
	checks) what="the built-in checks" ;;
	entities) what="signing the changed and renewed entities" ;;
	tree) what="writing the entities/ folder (links, .gz, .json, index.json)" ;;
	feedsonly) what="building, signing and writing the feeds and the aggregate" ;;
	rest) what="planning (the cache and the content keys), sync and commit" ;;
	esac
	echo "C: most of its time is $part, $what: ${dom%% *} s of ${T[C.total]} s ($(awk -v a="${dom%% *}" -v b="${T[C.total]}" 'BEGIN { if (b > 0) printf "%.0f", 100 * a / b; else printf "-" }')% of timings.total)"
fi

if [ "$SLOW" = 1 ]; then
	echo
	echo "D: slow token: the SmartCard-HSM emulator ($(basename "$SHIM"), FS_SHIM_SMARTCARD=1, one session, $SLOW_RATE signatures/s)"
	echo "   $NS member entities (feeds hub.xml, idp-proxy.xml; mdq: over the members); C_Sign counted by the emulator"
	echo "   raw rate through the emulator (p11-sign-rate, 1 thread): $D_RAW signatures/s"
	printf '%-34s %-20s %8s %7s %7s %7s %7s %7s %7s %7s %9s\n' run FEDSIGN_NOW time_s C_Sign ent_sig changed renewed new_doc feed_sig workers entities_s
	for r in "${D_ROWS[@]}"; do echo "$r"; done
	echo "first run of $NS entities at $SLOW_RATE/s: ${D_FIRST:--} s, $D_FIRST_HOW"
	echo "(new_doc: documents that are new files against the previous release; renewal budget: ceil($NS x 1h / 4d) = $(( (NS * 3600 + 4 * 86400 - 1) / (4 * 86400) )) a run)"
	[ -z "$D_BAD" ] || note "D:$D_BAD"
fi

# --- targets
status=0
# LABEL VALUE OP LIMIT [FORMAT]: VALUE is judged as given (a ratio
# unrounded: 0.846 is not >= 0.85, though "%.2f" shows it as 0.85) and
# shown in FORMAT
target() {
	local verdict shown=$2
	verdict=$(awk -v v="$2" -v op="$3" -v l="$4" 'BEGIN {
		if (v !~ /^[0-9.]+$/) { print "FAIL"; exit }
		ok = (op == "<=") ? (v + 0 <= l + 0) : (op == ">=") ? (v + 0 >= l + 0) : (v + 0 == l + 0)
		print ok ? "PASS" : "FAIL" }')
	[ "$verdict" = PASS ] || status=1
	if [ -n "${5:-}" ] && isnum "$2"; then
		shown=$(awk -v v="$2" -v f="$5" 'BEGIN { printf f, v }')
	fi
	printf '  %-58s %8s  %-2s %-5s %s\n' "$1" "$shown" "$3" "$4" "$verdict"
}
assertion() {	# LABEL OK WHY
	if [ "$2" = 1 ]; then
		printf '  %-58s %8s  %-8s %s\n' "$1" yes "" PASS
	else
		status=1
		printf '  %-58s %8s  %-8s %s\n' "$1" no "" FAIL
		note "$1:$3"
	fi
}
info() { printf '  %-58s %8s  %-8s %s\n' "$1" "$2" "" "(for information)"; }
echo
echo "targets (ratios of the medians):"
target "A  time / (1.5 x N / raw + A0)" "$(ratio "${T[A]}" "$LIMIT_A" %.9f)" "<=" 1 %.3f
target "A  mdq.signaturesPerSecond / raw $RATE_THREADS-thread rate" "$(ratio "${T[A.sps]}" "${T[rate]}" %.9f)" ">=" 0.85 %.3f
info "A  signatures / (preparing + signing) / raw" "$(ratio "${T[A.both]}" "${T[rate]}")"
target "B  entity signatures" "${T[B.sigs]}" "=" 0
assertion "B  outcome unchanged, nothing signed, no new release" "$([ "$B_OK" = 1 ] && [ -n "${ST[B]}" ] && [ -z "${BAD[B]:-}" ] && echo 1 || echo 0)" "$B_WHY${BAD[B]:+ ${BAD[B]}}"
target "B  second / first run" "$(ratio "${T[B]}" "${T[A]}" %.9f)" "<=" 0.3 %.3f
target "C  signatures (changed + renewed) / N" "$(ratio "${T[C.sigs]}" "${T[C.n]}" %.9f)" "<=" 0.02 %.4f
assertion "C  counts right, every signature published, index.json right" "$([ "$C_OK" = 1 ] && [ -n "${ST[C]}" ] && [ -z "${BAD[C]:-}" ] && echo 1 || echo 0)" "$C_WHY${BAD[C]:+ ${BAD[C]}}"
target "C  time / first run" "$(ratio "${T[C]}" "${T[A]}" %.9f)" "<=" 0.2 %.3f
if [ "$SLOW" = 1 ]; then
	target "D  slowest run after the first, seconds" "${D_MAX:--}" "<=" "$LIMIT_D"
	assertion "D  C_Sign = report, every signature published, verify" "$([ -z "$D_BAD" ] && echo 1 || echo 0)" "$D_BAD"
	info "D  first run of $NS entities, seconds$([ "$SLOW_FULL" = 1 ] || echo " (ESTIMATE)")" "${D_FIRST:--}"
fi
if [ "$TOKEN_RATE" != 0 ]; then
	info "F  ${TOKEN_RATE}/s token: time / (1.5 x N / its raw + A0)" "$(ratio "${T[F]}" "$LIMIT_F")"
	info "F  ${TOKEN_RATE}/s token: signaturesPerSecond / its raw" "$(ratio "${T[F.sps]}" "${T[Frate]}")"
fi
info "E  naive time / C" "$(ratio "${T[E]}" "${T[C]}")"
info "E  naive signatures / C" "$(ratio "${T[E.sigs]}" "${T[C.sigs]}")"
exit $status
