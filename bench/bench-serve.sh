#!/bin/bash
# bench-serve.sh: fedsign serve against nginx serving the same MDQ tree.
#
# usage: bench/bench-serve.sh [N] [--quick]
#
# Makes a release of N entities (default 10,000, ~5.6 kB each as in
# eduGAIN) by the publish contract (tests/serve/mktree.py), starts
# fedsign serve (build/fedsign, or $FEDSIGN) and nginx (static files:
# /entities/{sha1}HEX from the release folder, nginx's own ETags) on
# 127.0.0.1, and drives both with bench/mdq-load.c (compiled here with cc):
# C connections with keep-alive, every entity in turn, for S seconds a run.
#
#   200s   GET /entities/{sha1}HEX                      -> 200 and the body
#   304s   the same with If-None-Match: that server's ETag -> 304
#
# R paired runs (default 5; the order of the two servers alternates) and
# the median of each; the ratios serve/nginx of the medians (targets: 0.8
# or more for both).  Then the memory of fedsign serve (VmRSS, VmHWM,
# anonymous RSS) against the size of entities/index.json, less that of a
# serve of a one-entity tree after the same load.  Only 127.0.0.1 is
# used; every run is bounded in time (S <= 60) and requests (2,000,000).
#
# Environment: BENCH_RUNS (5), BENCH_SECONDS (5), BENCH_CONNS (32),
# FEDSIGN, NGINX (/usr/sbin/nginx).  --quick: N 200, 1 run of 1 second,
# to check the script.  The machine is shared: the load average is
# printed before and after; numbers taken above 0.5 are not worth much.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
N=10000 RUNS=${BENCH_RUNS:-5} SECS=${BENCH_SECONDS:-5} CONNS=${BENCH_CONNS:-32}
[ "$SECS" -le 60 ] 2>/dev/null || SECS=60
for a in "$@"; do
	case $a in
	--quick) N=200 RUNS=1 SECS=1 ;;
	[0-9]*) N=$a ;;
	*) sed -n '2,/^set -u/{/^set -u/d;s/^# \{0,1\}//;p}' "$0"; exit 2 ;;
	esac
done
FEDSIGN=${FEDSIGN:-$top/build/fedsign}
NGINX=${NGINX:-/usr/sbin/nginx}
[ -x "$FEDSIGN" ] || { echo "bench-serve: build fedsign first (ninja -C build)" >&2; exit 2; }
W=$(mktemp -d "${TMPDIR:-/tmp}/bench-serve.XXXXXX")
SPID="" NPID="" BPID=""
trap 'kill $SPID $NPID $BPID 2>/dev/null; wait 2>/dev/null; rm -rf "$W"' EXIT

echo "== $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(nproc) CPUs; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
cc -O2 -Wall -Wextra -o "$W/mdq-load" "$top/bench/mdq-load.c" || exit 1
echo "== a release of $N entities"
python3 "$top/tests/serve/mktree.py" "$W/pub" bench --count "$N" --pad 5600 || exit 1
python3 "$top/tests/serve/mktree.py" "$W/one" one --count 1 || exit 1
REL=$W/pub/releases/bench
python3 - "$REL" "$W" <<'EOF'
import json, os, random, sys
rel, w = sys.argv[1], sys.argv[2]
idx = json.load(open(os.path.join(rel, "entities", "index.json")))
files = [e["file"] for e in idx.values()]
random.Random(1).shuffle(files)
with open(w + "/paths", "w") as p, open(w + "/serve-etags", "w") as s, open(w + "/nginx-etags", "w") as n:
    sha = {e["file"]: e["sha256"] for e in idx.values()}
    for f in files:
        st = os.stat(os.path.join(rel, "entities", f))
        p.write("/entities/%s\n" % f)
        s.write('/entities/%s\t"%s"\n' % (f, sha[f]))
        n.write('/entities/%s\t"%x-%x"\n' % (f, int(st.st_mtime), st.st_size))
EOF
IDX=$(stat -c %s "$REL/entities/index.json")

# fedsign serve, and a serve of one entity for the baseline memory.
# start LOG ARGS...: fedsign serve in the background; BPID its pid and
# BPORT its port (not in a $(...): the server would hold its pipe open).
start() {
	: >"$1"
	"$FEDSIGN" serve --listen 127.0.0.1:0 "${@:2}" >/dev/null 2>"$1" &
	BPID=$! BPORT=""
	for _ in $(seq 600); do
		BPORT=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$1" | head -1)
		[ -n "$BPORT" ] && return 0
		kill -0 "$BPID" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}
rss() { grep -E "^$2:" "/proc/$1/status" | awk '{print $2}'; }
start "$W/one.log" --dir "$W/one" || { echo "bench-serve: serve did not start" >&2; cat "$W/one.log"; exit 1; }
ONE_PID=$BPID
# The baseline under the same load: connection buffers and the threads'
# arenas are the server's whatever the index, not the index's.
python3 -c 'import json,sys; print("/entities/" + next(iter(json.load(open(sys.argv[1])).values()))["file"])' \
    "$W/one/current/entities/index.json" >"$W/one-path"
"$W/mdq-load" -c "$CONNS" -d 1 "127.0.0.1:$BPORT" "$W/one-path" >/dev/null || exit 1
BASE_ANON=$(rss "$ONE_PID" RssAnon) BASE_RSS=$(rss "$ONE_PID" VmRSS)
kill "$ONE_PID"; wait "$ONE_PID" 2>/dev/null; BPID=""
start "$W/serve.log" --dir "$W/pub" || { echo "bench-serve: serve did not start" >&2; cat "$W/serve.log"; exit 1; }
SPID=$BPID SPORT=$BPORT BPID=""

NPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$W/nginx"
cat >"$W/nginx/nginx.conf" <<EOF
user $(id -un) $(id -gn);
worker_processes $(nproc);
daemon off;
pid $W/nginx/nginx.pid;
error_log $W/nginx/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $W/nginx/body;
    proxy_temp_path $W/nginx/proxy;
    fastcgi_temp_path $W/nginx/fastcgi;
    uwsgi_temp_path $W/nginx/uwsgi;
    scgi_temp_path $W/nginx/scgi;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$NPORT;
        root $W/pub/current;
        location ~ "^/entities/(\{sha1\}[0-9a-f]{40})\$" {
            default_type application/samlmetadata+xml;
            gzip_static on;
        }
    }
}
EOF
"$NGINX" -p "$W/nginx" -c "$W/nginx/nginx.conf" &
NPID=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$NPORT/" && break; sleep 0.05; done

# Both give the same bytes for the same path.
p=$(head -1 "$W/paths")
cmp -s <(curl -s -g "http://127.0.0.1:$SPORT$p") <(curl -s -g "http://127.0.0.1:$NPORT$p") ||
    { echo "bench-serve: serve and nginx differ on $p" >&2; exit 1; }

load() { # PORT FILE [-e]: one run; prints "rps p99"
	"$W/mdq-load" -c "$CONNS" -d "$SECS" ${3:-} "127.0.0.1:$1" "$2" >"$W/run.out" || exit 1
	grep -q ' other=0 errors=0$' "$W/run.out" || echo "# $(cat "$W/run.out")" >&2
	sed -n 's/.* rps=\([0-9]*\) .* p99_ms=\([0-9.]*\) .*/\1 \2/p' "$W/run.out"
}
: >"$W/results"
for r in $(seq "$RUNS"); do
	for kind in 200 304; do
		if [ "$kind" = 200 ]; then sf=$W/paths nf=$W/paths e=""; else sf=$W/serve-etags nf=$W/nginx-etags e=-e; fi
		if [ $((r % 2)) = 1 ]; then
			s=$(load "$SPORT" "$sf" $e); n=$(load "$NPORT" "$nf" $e)
		else
			n=$(load "$NPORT" "$nf" $e); s=$(load "$SPORT" "$sf" $e)
		fi
		echo "$kind $s $n" >>"$W/results"
		printf 'run %d %s: serve %6s rps p99 %6s ms | nginx %6s rps p99 %6s ms\n' "$r" "$kind" $s $n
	done
done
ANON=$(rss "$SPID" RssAnon) VRSS=$(rss "$SPID" VmRSS) HWM=$(rss "$SPID" VmHWM)
echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$W/results" <<EOF
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
print("== medians of $RUNS paired runs, $N entities, $CONNS connections, ${SECS}s each")
for kind in ("200", "304"):
    r = [x for x in rows if x[0] == kind]
    s, sp, n, np_ = (statistics.median(float(x[i]) for x in r) for i in (1, 2, 3, 4))
    pr = statistics.median(float(x[1]) / float(x[3]) for x in r)
    print("%ss: fedsign serve %8.0f rps p99 %6.3f ms | nginx %8.0f rps p99 %6.3f ms | "
          "serve/nginx %.2f (median of pairs %.2f; target >= 0.80)" % (kind, s, sp, n, np_, s / n, pr))
idx, anon, base = $IDX, $ANON, $BASE_ANON
print("== memory of fedsign serve: VmRSS %d kB, VmHWM %d kB, anonymous %d kB" % ($VRSS, $HWM, anon))
print("   one-entity serve after the same load: VmRSS %d kB, anonymous %d kB" % ($BASE_RSS, base))
print("   index.json %d kB; anonymous memory for the index %d kB = %.2f x index.json (target <= 2)"
      % (idx // 1024, anon - base, (anon - base) * 1024 / idx))
EOF
