#!/usr/bin/env bash
# DHCPv6 lease throughput (SOLICIT-ADVERTISE-REQUEST-REPLY): Fulcrum vs ISC
# Kea (kea-dhcp6, memfile, single-threaded), measured with perfdhcp -6
# (Debian `kea-admin`) in one run.
#
#   sudo bash bench/dhcp6-perfdhcp.sh [--clients N] [--rates "R1 R2 ..."]
#                                     [--duration S] [--servers "fulcrum kea"]
#                                     [--avalanche N] [--fulcrum BIN] [--keep] [--perf]
#
# Defaults: --clients 10000, --duration 5 (seconds per step), --rates
# "1000 2000 4000 6000 8000 10000 12000 16000 20000 25000 30000", perfdhcp with one
# thread. Fulcrum is built with `cargo build --release` unless --fulcrum BIN.
# --perf records Fulcrum's CPU profile during each of its steps (`perf record`,
# DWARF call graphs, 499 Hz, into the step's directory) and implies --keep.
#
# For every step and server (servers take turns within a step): two network
# namespaces of this script's own joined by a veth pair, the server started
# fresh (empty lease database) on veth-srv, and perfdhcp on veth-cli sending
# SOLICITs to ff02::1:2 from its link-local address with the same
# parameters for every server: `-R N` clients (DUID-LLTs), `-r R`
# SOLICITs/s for `-p S` seconds (`-n R*S` at most), replies later than 1 s
# counted as drops, 1 s exit wait. leases/s = REPLYs received / S. "0-drop"
# is the highest step with no drop in either exchange; "peak" the highest
# REPLY rate. A server that leaves more than half its SOLICITs unanswered at
# a step skips the higher steps. `--avalanche N` adds perfdhcp's boot-storm
# scenario (N clients at once, then perfdhcp's retransmissions) and reports
# the time until every client got its REPLY.
#
# Fulcrum's cap on strangers' leases per network (`unknown_leases6`,
# 65,536 by default) is raised past any client count here: every perfdhcp
# client is a stranger, and Kea has no such cap.
#
# Fulcrum writes each lease durably (redb, fsync, group commit) before the
# REPLY leaves; Kea's memfile appends to its CSV without fsync.
#
# Traffic stays in the namespaces created here; on exit the processes
# started here are killed by PID and the namespaces deleted. Every perfdhcp
# run is bounded by -n/-p and by `timeout`.
set -euo pipefail

CLIENTS=10000
RATES="1000 2000 4000 6000 8000 10000 12000 16000 20000 25000 30000"
DURATION=5
SERVERS="fulcrum kea"
AVALANCHE=0
FULCRUM_BIN=""
KEEP=0
PERF_RECORD=0
PERF_REC_PID=""   # `perf record` on Fulcrum during a step (--perf)
PREFIX6=fd00:88::
LEASE_SECONDS=3600
SRV4=10.89.0.1
NS_SRV="fb6-$$-srv"
NS_CLI="fb6-$$-cli"
WORK=""
SERVER_PID=""
API_AUTH=()
OPS="https://$SRV4:8443"

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit "${1:-0}"; }
die() { echo "error: $*" >&2; exit 1; }
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

while [ $# -gt 0 ]; do
    case "$1" in
        --clients) CLIENTS="$2"; shift 2 ;;
        --rate|--rates) RATES="$2"; shift 2 ;;
        --duration) DURATION="$2"; shift 2 ;;
        --servers) SERVERS="$2"; shift 2 ;;
        --avalanche) AVALANCHE="$2"; shift 2 ;;
        --fulcrum) FULCRUM_BIN="$2"; shift 2 ;;
        --keep) KEEP=1; shift ;;
        --perf) PERF_RECORD=1; KEEP=1; shift ;;
        -h|--help) usage 0 ;;
        *) echo "unknown option: $1" >&2; usage 2 ;;
    esac
done
case "$CLIENTS$DURATION$AVALANCHE" in *[!0-9]*) die "--clients, --duration, --avalanche take integers" ;; esac
for r in $RATES; do case "$r" in *[!0-9]*) die "bad rate: $r" ;; esac; done
for s in $SERVERS; do case "$s" in fulcrum|kea) ;; *) die "unknown server: $s (fulcrum kea)" ;; esac; done
[ "$(id -u)" -eq 0 ] || die "run as root (namespaces)"

need=()
command -v perfdhcp >/dev/null || need+=(kea-admin)
command -v kea-dhcp6 >/dev/null || need+=(kea-dhcp6-server)
command -v curl >/dev/null || need+=(curl)
command -v python3 >/dev/null || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]} (without starting its services)"
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
    rm -f /usr/sbin/policy-rc.d
fi

kill_pid() {
    local pid=$1 i
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

teardown_ns() {
    local ns pid
    for ns in "$NS_SRV" "$NS_CLI"; do
        ip netns list 2>/dev/null | awk '{ print $1 }' | grep -qxF "$ns" || continue
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill_pid "$pid"; done
        ip netns delete "$ns" 2>/dev/null || true
    done
}

# shellcheck disable=SC2317  # the EXIT trap
cleanup() {
    local rc=$?
    kill_pid "$PERF_REC_PID"
    kill_pid "$SERVER_PID"
    teardown_ns
    if [ -n "$WORK" ] && [ -d "$WORK" ]; then
        if [ "$KEEP" -eq 1 ]; then log "raw outputs kept in $WORK"; else rm -rf "$WORK"; fi
    fi
    exit "$rc"
}

WORK=$(mktemp -d /tmp/fulcrum-dhcp6-bench.XXXXXX)
trap cleanup EXIT INT TERM

repo=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "$FULCRUM_BIN" ]; then
    log "cargo build --release"
    (cd "$repo" && cargo build --release >&2)
    FULCRUM_BIN="$repo/target/release/fulcrum"
fi
cp "$FULCRUM_BIN" "$WORK/fulcrum"
FULCRUM_DESC="$(git -C "$repo" describe --always --dirty 2>/dev/null || echo unknown)"

in_srv() { ip netns exec "$NS_SRV" "$@"; }
in_cli() { ip netns exec "$NS_CLI" "$@"; }

setup_ns() {
    teardown_ns
    ip netns add "$NS_SRV"
    ip netns add "$NS_CLI"
    for ns in "$NS_SRV" "$NS_CLI"; do
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
        ip -n "$ns" link set lo up
    done
    ip link add veth-srv netns "$NS_SRV" type veth peer name veth-cli netns "$NS_CLI"
    ip -n "$NS_SRV" addr add "$SRV4/24" dev veth-srv
    ip -n "$NS_SRV" addr add "${PREFIX6}1/64" dev veth-srv
    ip -n "$NS_CLI" addr add 10.89.0.2/24 dev veth-cli
    ip -n "$NS_SRV" link set veth-srv up
    ip -n "$NS_CLI" link set veth-cli up
    # perfdhcp and the servers need the link-local addresses in place.
    local i
    for i in $(seq 50); do
        [ -n "$(ip -n "$NS_CLI" -6 addr show dev veth-cli scope link)" ] \
            && [ -n "$(ip -n "$NS_SRV" -6 addr show dev veth-srv scope link)" ] && return 0
        sleep 0.1
    done
    die "no link-local addresses on the veth pair"
}

wait_udp547() {
    local i
    for i in $(seq 100); do
        kill -0 "$SERVER_PID" 2>/dev/null || return 1
        [ -n "$(in_srv ss -HulnO 'sport = :547' 2>/dev/null)" ] && return 0
        sleep 0.1
    done
    return 1
}

start_fulcrum() {
    local d=$1 i
    cat >"$d/fulcrum.toml" <<EOF
data_dir = "$d/data"
[http]
listen = "$SRV4:8080"
[api]
listen = "$SRV4:8443"
[dhcp]
listen4 = "$SRV4:67"
interfaces = ["veth-srv"]
rate_per_source = 0
# Every perfdhcp client is a stranger; Kea has no such cap.
unknown_leases6 = 4000000
[dns]
enabled = false
[tftp]
enabled = false
EOF
    ip netns exec "$NS_SRV" "$WORK/fulcrum" serve --config "$d/fulcrum.toml" >"$d/server.log" 2>&1 &
    SERVER_PID=$!
    for i in $(seq 100); do
        kill -0 "$SERVER_PID" 2>/dev/null || return 1
        in_cli curl -sf --max-time 1 "http://$SRV4:8080/healthz" >/dev/null 2>&1 && break
        sleep 0.1
    done
    API_AUTH=(-H "Authorization: Bearer $(cat "$d/data/admin.token")" --cacert "$d/data/tls/cert.pem")
    in_cli curl -sS -f --max-time 5 -X POST -H 'content-type: application/json' "${API_AUTH[@]}" \
        "$OPS/api/v1/networks" -d "{\"name\": \"bench\", \"subnet\": \"10.89.0.0/24\",
            \"static\": {\"start\": \"10.89.0.10\", \"end\": \"10.89.0.250\"},
            \"domain\": \"bench.test\", \"interface\": \"veth-srv\", \"v6prefix\": \"${PREFIX6}/64\",
            \"ra\": \"off\", \"lease_seconds\": $LEASE_SECONDS}" >"$d/network.json" 2>&1 || return 1
    wait_udp547
}

start_kea() {
    local d=$1
    cat >"$d/kea-dhcp6.json" <<EOF
{ "Dhcp6": {
  "interfaces-config": { "interfaces": [ "veth-srv" ] },
  "control-socket": { "socket-type": "unix", "socket-name": "$d/kea6.sock" },
  "lease-database": { "type": "memfile", "persist": true, "name": "$d/leases6.csv", "lfc-interval": 0 },
  "server-id": { "type": "LLT", "persist": false },
  "multi-threading": { "enable-multi-threading": false },
  "preferred-lifetime": $(( LEASE_SECONDS / 4 * 3 )), "valid-lifetime": $LEASE_SECONDS,
  "subnet6": [ { "id": 1, "subnet": "${PREFIX6}/64", "interface": "veth-srv",
      "pools": [ { "pool": "${PREFIX6}ffff:0:0:0 - ${PREFIX6}ffff:ffff:ffff:ffff" } ] } ],
  "loggers": [ { "name": "kea-dhcp6", "severity": "WARN", "output_options": [ { "output": "$d/kea.log" } ] } ]
} }
EOF
    KEA_PIDFILE_DIR="$d" KEA_LOCKFILE_DIR="$d" ip netns exec "$NS_SRV" kea-dhcp6 -c "$d/kea-dhcp6.json" >"$d/server.log" 2>&1 &
    SERVER_PID=$!
    wait_udp547
}

# The server's lease count after a run.
server_leases() {
    case "$1" in
        fulcrum) in_cli curl -sf --max-time 30 "${API_AUTH[@]}" "$OPS/api/v1/leases?family=6" \
            | python3 -c 'import json, sys; l = json.load(sys.stdin); print(len({x["ip"] for x in l}))' 2>/dev/null || echo "?" ;;
        kea) python3 -c 'import sys; print(len({l.split(",")[0] for l in list(open(sys.argv[1]))[1:]}))' "$2/leases6.csv" 2>/dev/null || echo "?" ;;
    esac
}

# perfdhcp -6's report -> "sa_sent sa_recv sa_drops rr_sent rr_recv rr_drops"
parse_perfdhcp() {
    awk '
        /Statistics for: SOLICIT-ADVERTISE/ { s = "sa" }
        /Statistics for: REQUEST-REPLY/     { s = "rr" }
        /^sent packets:/     && s { v[s "_sent"] = $3 }
        /^received packets:/ && s { v[s "_recv"] = $3 }
        /^drops:/            && s { v[s "_drops"] = $2 }
        END { printf "%d %d %d %d %d %d\n", v["sa_sent"], v["sa_recv"], v["sa_drops"], v["rr_sent"], v["rr_recv"], v["rr_drops"] }' "$1"
}

RESULTS="$WORK/results.tsv"
: >"$RESULTS"

run_one() {   # run_one MODE RATE SERVER
    local mode=$1 rate=$2 server=$3 d="$WORK/$1-$2-$3" args limit t0 t1 rc=0
    mkdir -p "$d"
    setup_ns
    if ! "start_$server" "$d"; then
        log "$server failed to start:"; cat "$d"/*.log "$d"/network.json >&2 2>/dev/null || true
        kill_pid "$SERVER_PID"; SERVER_PID=""; teardown_ns
        printf '%s\t%s\t%s\t0 0 0 0 0 0\t0\t?\t0\n' "$mode" "$rate" "$server" >>"$RESULTS"
        return 0
    fi
    if [ "$mode" = avalanche ]; then
        args=(-6 -g single -l veth-cli -R "$rate" --scenario avalanche -s 1)
        limit=240
    else
        args=(-6 -g single -l veth-cli -R "$CLIENTS" -r "$rate" -p "$DURATION" -n $(( rate * DURATION )) -d 1 -W 1000000 -s 1)
        limit=$(( DURATION + 60 ))
    fi
    echo "perfdhcp ${args[*]}" >"$d/perfdhcp.cmd"
    if [ "$PERF_RECORD" -eq 1 ] && [ "$server" = fulcrum ]; then
        perf record -q -F 499 --call-graph dwarf,16384 -p "$SERVER_PID" -o "$d/perf.data" \
            >"$d/perf.log" 2>&1 &
        PERF_REC_PID=$!
    fi
    t0=$(date +%s.%N)
    in_cli timeout "$limit" perfdhcp "${args[@]}" >"$d/perfdhcp.out" 2>&1 || rc=$?
    t1=$(date +%s.%N)
    if [ -n "$PERF_REC_PID" ]; then
        kill -INT "$PERF_REC_PID" 2>/dev/null || true
        wait "$PERF_REC_PID" || true
        PERF_REC_PID=""
        log "profile of fulcrum at $rate/s: perf report -i $d/perf.data (symbols: $WORK/fulcrum)"
    fi
    local counts leases rss
    counts=$(parse_perfdhcp "$d/perfdhcp.out")
    leases=$(server_leases "$server" "$d")
    local dropped=""
    if [ "$server" = fulcrum ]; then
        # What Fulcrum itself dropped, by reason (perfdhcp's drops also
        # count answers later than 1 s and those lost in its own buffer).
        in_cli curl -sf --max-time 10 "${API_AUTH[@]}" "$OPS/metrics" >"$d/metrics.txt" 2>/dev/null || true
        dropped=$(awk '/^fulcrum_dhcp6_dropped_total/ { sub(/.*reason="/, ""); sub(/"}/, ""); printf "%s=%s ", $1, $2 }' "$d/metrics.txt")
    fi
    rss=$(awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$SERVER_PID/status" 2>/dev/null || echo 0)
    kill_pid "$SERVER_PID"; SERVER_PID=""
    teardown_ns
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$mode" "$rate" "$server" "$counts" \
        "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')" "$leases" "$rss" >>"$RESULTS"
    log "$mode $rate $server: $counts (sa sent/recv/drops rr sent/recv/drops), $leases leases, rc $rc${dropped:+, dropped by the server: $dropped}"
}

log "Fulcrum $FULCRUM_DESC vs $(kea-dhcp6 -v 2>/dev/null | head -1 | sed 's/^/Kea /'), perfdhcp $(perfdhcp -v 2>&1 | head -1)"
declare -A stopped=()
order=($SERVERS)
for rate in $RATES; do
    for s in "${order[@]}"; do
        [ -n "${stopped[$s]:-}" ] && continue
        run_one ramp "$rate" "$s"
        sa_sent=$(awk -F'\t' -v r="$rate" -v s="$s" '$1 == "ramp" && $2 == r && $3 == s { split($4, c, " "); print c[1] + 0, c[2] + 0 }' "$RESULTS")
        read -r sent recv <<<"$sa_sent"
        if [ "${sent:-0}" -gt 0 ] && [ $(( recv * 2 )) -lt "$sent" ]; then stopped[$s]=1; fi
    done
    order=("${order[@]:1}" "${order[0]}")
done
if [ "$AVALANCHE" -gt 0 ]; then
    for s in $SERVERS; do run_one avalanche "$AVALANCHE" "$s"; done
fi

python3 - "$RESULTS" "$DURATION" "$SERVERS" <<'EOF'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
dur = float(sys.argv[2]); servers = sys.argv[3].split()
ramp = {}
print("\n| offered/s | " + " | ".join(f"{s} REPLYs/s (drops)" for s in servers) + " |")
print("| --- |" + " --- |" * len(servers))
by_rate = {}
for mode, rate, server, counts, secs, leases, rss in rows:
    c = [int(x) for x in counts.split()]
    if mode == "ramp":
        by_rate.setdefault(int(rate), {})[server] = (c, leases, rss)
for rate in sorted(by_rate):
    cells = []
    for s in servers:
        if s not in by_rate[rate]:
            cells.append("-"); continue
        c, _, _ = by_rate[rate][s]
        cells.append(f"{c[4] / dur:,.0f} ({c[2] + c[5]})")
    print(f"| {rate:,} | " + " | ".join(cells) + " |")
summary = {}
for s in servers:
    zero = max([r for r in by_rate if s in by_rate[r] and by_rate[r][s][0][2] + by_rate[r][s][0][5] == 0 and by_rate[r][s][0][4] > 0], default=0)
    peak = max([by_rate[r][s][0][4] / dur for r in by_rate if s in by_rate[r]], default=0)
    rss = max([float(by_rate[r][s][2]) for r in by_rate if s in by_rate[r]], default=0)
    summary[s] = (zero, peak, rss)
print("\n| server | 0-drop step | peak REPLYs/s | peak RSS MiB |")
print("| --- | --- | --- | --- |")
for s in servers:
    z, p, r = summary[s]
    print(f"| {s} | {z:,} | {p:,.0f} | {r} |")
if "fulcrum" in summary and "kea" in summary and summary["kea"][1] > 0:
    zf, pf, _ = summary["fulcrum"]; zk, pk, _ = summary["kea"]
    print(f"\nFulcrum/Kea: 0-drop {zf / zk if zk else float('nan'):.2f}, peak {pf / pk:.2f}")
av = [r for r in rows if r[0] == "avalanche"]
if av:
    print("\n| avalanche | server | clients served | seconds |")
    print("| --- | --- | --- | --- |")
    for mode, rate, server, counts, secs, leases, rss in av:
        c = [int(x) for x in counts.split()]
        print(f"| {int(rate):,} | {server} | {c[4]:,} REPLYs, {leases} leases | {secs} |")
EOF
