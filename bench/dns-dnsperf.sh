#!/usr/bin/env bash
# DNS benchmark: dnsperf against Fulcrum, Knot, NSD and dnsmasq serving the
# same 10,000-node cluster (A + AAAA + PTR queries plus 10 % names that do not
# exist), in the same run, on loopback, each server pinned to CPU 0 and
# dnsperf to CPU 1. Fulcrum's zones are made through its API; the peers
# load what Fulcrum transfers out (AXFR), so all four answer the same data.
#
#   bash bench/dns-dnsperf.sh [--fulcrum target/release/fulcrum] [--nodes 10000]
#                             [--seconds 10] [--servers "fulcrum knot nsd dnsmasq"]
#                             [--answer-cache N]   (Fulcrum's dns.answer_cache; 0 = off)
#
# Needs dnsperf, knot, nsd, dnsmasq-base, bind9-dnsutils, python3. Prints one
# line per server (QPS, lost, mean latency, p50/p99 from a rate-limited
# verbose run, the server's CPU use and CPU time per query) and the ratios to
# Knot; Fulcrum's RSS with the zones loaded, before and after the runs.
set -euo pipefail
cd "$(dirname "$0")/.."
FULCRUM=target/release/fulcrum
NODES=10000
SECONDS_RUN=10
SERVERS="fulcrum knot nsd dnsmasq"
ANSWER_CACHE=65536
while (($#)); do
  case $1 in
    --fulcrum) FULCRUM=$2; shift 2 ;;
    --nodes) NODES=$2; shift 2 ;;
    --seconds) SECONDS_RUN=$2; shift 2 ;;
    --servers) SERVERS=$2; shift 2 ;;
    --answer-cache) ANSWER_CACHE=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
for t in dnsperf knotd nsd dnsmasq dig python3 taskset curl; do
  command -v "$t" >/dev/null || { echo "dns-dnsperf: missing $t" >&2; exit 1; }
done
[[ -x $FULCRUM ]] || { echo "dns-dnsperf: build $FULCRUM first (cargo build --release)" >&2; exit 1; }
W=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$W"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_dns() { # PORT
  for _ in $(seq 100); do dig +time=1 +tries=1 @127.0.0.1 -p "$1" bench.test SOA +short 2>/dev/null | grep -q . && return 0; sleep 0.2; done
  echo "dns-dnsperf: no answer on port $1" >&2; return 1
}

# 1. Fulcrum, with the cluster made through its API.
FP=$(port); AP=$(port); HP=$(port)
cat > "$W/fulcrum.toml" <<TOML
data_dir = "$W/fdata"
[http]
listen = "127.0.0.1:$HP"
[api]
listen = "127.0.0.1:$AP"
tls = false
[dhcp]
enabled = false
[tftp]
enabled = false
[engine]
annealer = false
[dns]
listen = ["127.0.0.1:$FP"]
answer_cache = $ANSWER_CACHE
TOML
FULCRUM_LOG=warn taskset -c 0 "$FULCRUM" serve --config "$W/fulcrum.toml" > "$W/fulcrum.log" 2>&1 &
FPID=$!; PIDS+=("$FPID")
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$AP/healthz" >/dev/null && break; sleep 0.1; done
python3 - "$AP" "$W/fdata/admin.token" "$NODES" <<'PY'
import http.client, json, sys
port, token, n = int(sys.argv[1]), open(sys.argv[2]).read().strip(), int(sys.argv[3])
c = http.client.HTTPConnection("127.0.0.1", port)
def post(path, body):
    c.request("POST", path, json.dumps(body), {"Authorization": "Bearer " + token, "content-type": "application/json"})
    r = c.getresponse(); data = r.read()
    if r.status != 201: sys.exit(f"{path}: {r.status} {data[:200]}")
post("/api/v1/networks", {"name": "bench", "subnet": "10.200.0.0/16", "server": "10.200.0.1",
     "static": {"start": "10.200.0.10", "end": "10.200.255.250"}, "domain": "bench.test", "v6prefix": "fd00:b::/64"})
for i in range(n):
    post("/api/v1/nodes", {"name": f"node{i}.bench.test", "macs": ["52:54:%02x:%02x:%02x:%02x" % (i >> 24 & 255, i >> 16 & 255, i >> 8 & 255, i & 255)]})
PY
wait_dns "$FP"
RSS=$(awk '/VmRSS/ {print $2}' "/proc/$FPID/status")
for z in bench.test 200.10.in-addr.arpa 0.0.0.0.0.0.0.0.b.0.0.0.0.0.d.f.ip6.arpa; do
  dig +onesoa +nocmd +nostats +nocomments @127.0.0.1 -p "$FP" "$z" AXFR > "$W/$z.zone"
  n=$(grep -vc '^;' "$W/$z.zone" || true)
  echo "zone $z: $n records"
done

# 2. The query mix: A, AAAA and PTR for every node, plus 10 % that do not exist.
python3 - "$W/bench.test.zone" "$W/queries" <<'PY'
import random, sys
names, v4 = [], []
for line in open(sys.argv[1]):
    p = line.split()
    if len(p) >= 5 and p[3] == "A" and p[0].startswith("node"):
        names.append(p[0]); v4.append(p[4])
q = [f"{n} A" for n in names] + [f"{n} AAAA" for n in names]
q += ["%s.in-addr.arpa PTR" % ".".join(reversed(ip.split("."))) for ip in v4]
q += [f"missing{i}.bench.test A" for i in range(len(q) // 9)]
random.seed(4193); random.shuffle(q)
open(sys.argv[2], "w").write("\n".join(q) + "\n")
print(f"queries: {len(q)} ({len(names)} nodes)")
PY

# 3. The peers, loading the same zones.
KP=$(port); NP=$(port); DP=$(port)
mkdir -p "$W/knot"
cat > "$W/knot.conf" <<K
server:
    listen: 127.0.0.1@$KP
    rundir: "$W/knot"
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
database:
    storage: "$W/knot"
template:
  - id: default
    storage: "$W"
    file: "%s.zone"
zone:
  - domain: bench.test
  - domain: 200.10.in-addr.arpa
  - domain: 0.0.0.0.0.0.0.0.b.0.0.0.0.0.d.f.ip6.arpa
K
cat > "$W/nsd.conf" <<N
server:
    ip-address: 127.0.0.1@$NP
    server-count: 1
    database: ""
    zonesdir: "$W"
    pidfile: "$W/nsd.pid"
    xfrdfile: "$W/xfrd.state"
    zonelistfile: "$W/zone.list"
    username: ""
    logfile: "$W/nsd.log"
remote-control:
    control-enable: no
zone:
    name: bench.test
    zonefile: bench.test.zone
zone:
    name: 200.10.in-addr.arpa
    zonefile: 200.10.in-addr.arpa.zone
zone:
    name: 0.0.0.0.0.0.0.0.b.0.0.0.0.0.d.f.ip6.arpa
    zonefile: 0.0.0.0.0.0.0.0.b.0.0.0.0.0.d.f.ip6.arpa.zone
N
awk '$4 == "A" && $1 ~ /^node/ { sub(/\.$/, "", $1); print $5, $1 }' "$W/bench.test.zone" > "$W/hosts"
awk '$4 == "AAAA" && $1 ~ /^node/ { sub(/\.$/, "", $1); print $5, $1 }' "$W/bench.test.zone" >> "$W/hosts"

start_peer() { # NAME
  case $1 in
    knot) taskset -c 0 knotd -c "$W/knot.conf" > "$W/knot.log" 2>&1 & ;;
    nsd) taskset -c 0 nsd -d -c "$W/nsd.conf" > "$W/nsd.out" 2>&1 & ;;
    dnsmasq) taskset -c 0 dnsmasq --no-daemon --no-resolv --no-hosts --addn-hosts="$W/hosts" --local=/bench.test/ \
      --local=/200.10.in-addr.arpa/ --port="$DP" --listen-address=127.0.0.1 --bind-interfaces --cache-size=0 \
      --pid-file= --user=root > "$W/dnsmasq.log" 2>&1 & ;;
  esac
  PIDS+=("$!")
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; } # PID: user + system clock ticks
port_of() { case $1 in fulcrum) echo "$FP" ;; knot) echo "$KP" ;; nsd) echo "$NP" ;; dnsmasq) echo "$DP" ;; esac; }

# 4. Measure each: a full-speed run, then a rate-limited verbose run for
# percentiles. `cpu` is the server's CPU time over the full-speed run per
# wall second (1.00 = its one CPU busy throughout: the server is the limit;
# less: dnsperf is) and `us/q` its CPU microseconds per answered query, the
# figure that still compares servers when the client is the limit.
declare -A QPS USQ
printf '%-8s %10s %8s %10s %9s %9s %6s %6s\n' server qps lost mean_ms p50_ms p99_ms cpu us/q
for s in $SERVERS; do
  [[ $s == fulcrum ]] || start_peer "$s"
  p=$(port_of "$s")
  if [[ $s == dnsmasq ]]; then
    for _ in $(seq 50); do dig +time=1 +tries=1 @127.0.0.1 -p "$p" node1.bench.test +short | grep -q . && break; sleep 0.2; done
  else
    wait_dns "$p"
  fi
  spid=$FPID; [[ $s == fulcrum ]] || spid=${PIDS[-1]}
  t0=$(cpu_ticks "$spid")
  out=$(taskset -c 1 dnsperf -s 127.0.0.1 -p "$p" -d "$W/queries" -l "$SECONDS_RUN" -c 16 -q 200 -t 2 2>&1)
  t1=$(cpu_ticks "$spid")
  done_q=$(awk '/Queries completed/ {print $3}' <<<"$out")
  read -r cpu usq < <(python3 -c "import os,sys; t=(int(sys.argv[2])-int(sys.argv[1]))/os.sysconf('SC_CLK_TCK'); print(f'{t/float(sys.argv[3]):.2f} {t*1e6/max(int(sys.argv[4]),1):.2f}')" "$t0" "$t1" "$SECONDS_RUN" "$done_q")
  USQ[$s]=$usq
  qps=$(awk '/Queries per second/ {print $4}' <<<"$out")
  lost=$(awk '/Queries lost/ {print $3}' <<<"$out")
  mean=$(awk '/Average Latency/ {printf "%.3f", $4 * 1000}' <<<"$out")
  lat=$(taskset -c 1 dnsperf -s 127.0.0.1 -p "$p" -d "$W/queries" -l 3 -c 4 -Q 20000 -t 2 -v 2>/dev/null |
    awk '$1 == ">" || $3 ~ /^[0-9.]+$/ { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+\.[0-9]+$/ && $i < 5) { print $i * 1000; break } }' | sort -n |
    awk '{ v[NR] = $1 } END { if (NR) printf "%.3f %.3f", v[int(NR * 0.5) + 1], v[int(NR * 0.99) + 1]; else print "- -" }')
  QPS[$s]=$qps
  printf '%-8s %10s %8s %10s %9s %9s %6s %6s\n' "$s" "$qps" "$lost" "$mean" ${lat} "$cpu" "$usq"
  [[ $s == fulcrum ]] || { kill "${PIDS[-1]}" 2>/dev/null || true; wait "${PIDS[-1]}" 2>/dev/null || true; unset 'PIDS[-1]'; }
done
if [[ -n ${QPS[knot]:-} && -n ${QPS[fulcrum]:-} ]]; then
  python3 -c "import sys; print(f'fulcrum / knot: {float(sys.argv[1]) / float(sys.argv[2]):.2f}x queries/s, {float(sys.argv[4]) / float(sys.argv[3]):.2f}x queries per CPU second')" "${QPS[fulcrum]}" "${QPS[knot]}" "${USQ[fulcrum]}" "${USQ[knot]}"
fi
echo "fulcrum RSS with $NODES nodes in its zones: $((RSS / 1024)) MiB before the runs, $(($(awk '/VmRSS/ {print $2}' "/proc/$FPID/status") / 1024)) MiB after (answer caches full)"
