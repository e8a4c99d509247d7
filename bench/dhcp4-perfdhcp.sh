#!/usr/bin/env bash
# DHCPv4 lease throughput: Fulcrum vs ISC Kea (memfile, single-threaded) vs
# dnsmasq, measured with perfdhcp (Debian `kea-admin`) in one run.
#
#   sudo bash bench/dhcp4-perfdhcp.sh [--clients N] [--rate R | --rates "R1 R2 ..."]
#                                     [--duration S] [--servers "fulcrum kea dnsmasq"]
#                                     [--avalanche N] [--fulcrum BIN] [--idle-wait S] [--keep]
#
# What it does, for every rate step and every server (servers interleaved
# within a step, so slow drift of the shared machine hits all of them alike):
#   1. creates two network namespaces of its own, a server side and a client
#      side joined by a veth pair (10.88.0.1/16 <-> 10.88.0.2/16);
#   2. starts the server fresh (empty lease database) in the server side;
#   3. runs perfdhcp in the client side with the SAME parameters for every
#      server: relay mode (perfdhcp sends from 10.88.0.2:67 to 10.88.0.1, so
#      giaddr = 10.88.0.2 and replies come back to the "relay"), `-R N` clients,
#      `-r R` DISCOVERs/s for `-p S` seconds (`-n R*S` at most), replies later
#      than 1 s count as drops, 1 s exit wait (`-W`) for the last replies;
#   4. reads perfdhcp's report and the server's own counters, stops the
#      server (by PID), deletes the namespaces.
#
# Default: a rate ramp (--rates), fresh server per step. The figure of merit
# is the highest step with zero drops in both DISCOVER-OFFER and REQUEST-ACK
# ("leases/s at 0 drops"); the highest ACK rate achieved at any step is the
# saturated throughput. `--rate R` runs that single step only. `--avalanche N`
# also runs perfdhcp's boot-storm scenario (all N clients at once, then
# perfdhcp's own retransmission back-off) and reports N / time.
#
# perfdhcp counts a DHCPNAK as a dropped REQUEST, so NAKs show up as drops.
# Leases/s = ACKs received by perfdhcp / send period (perfdhcp's own "Rate:"
# divides by the period plus the exit wait, so it reads lower).
#
# Traffic stays inside the namespaces created here; on exit (normal, error or
# Ctrl-C) the servers started here are killed by PID and the namespaces
# deleted. Every perfdhcp run is bounded by -n/-p and by `timeout`.
set -euo pipefail

# ---------------------------------------------------------------- options
CLIENTS=10000
RATES="250 500 1000 2000 3000 4000 5000 6000 8000"
DURATION=5
SERVERS="fulcrum kea dnsmasq"
AVALANCHE=0
FULCRUM_BIN=""
KEEP=0
PERF_THREADS=single   # perfdhcp -g: one thread leaves the other core to the server
IDLE_WAIT=120         # seconds to wait, before each run, for other work to calm down
SEED=1

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

while [ $# -gt 0 ]; do
    case "$1" in
        --clients) CLIENTS="$2"; shift 2 ;;
        --rate) RATES="$2"; shift 2 ;;
        --rates) RATES="$2"; shift 2 ;;
        --duration) DURATION="$2"; shift 2 ;;
        --servers) SERVERS="$2"; shift 2 ;;
        --avalanche) AVALANCHE="$2"; shift 2 ;;
        --fulcrum) FULCRUM_BIN="$2"; shift 2 ;;
        --perfdhcp-threads) PERF_THREADS="$2"; shift 2 ;;
        --idle-wait) IDLE_WAIT="$2"; shift 2 ;;
        --keep) KEEP=1; shift ;;
        -h|--help) usage 0 ;;
        *) echo "unknown option: $1" >&2; usage 2 ;;
    esac
done

die() { echo "error: $*" >&2; exit 1; }
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

[ "$(id -u)" -eq 0 ] || die "run as root (sudo): it creates network namespaces"
case "$CLIENTS$DURATION$AVALANCHE$IDLE_WAIT" in *[!0-9]*) die "--clients/--duration/--avalanche take integers" ;; esac
for r in $RATES; do case "$r" in *[!0-9]*|"") die "bad rate: $r" ;; esac; done
for s in $SERVERS; do
    case "$s" in fulcrum|kea|dnsmasq|dnsmasq-ping) ;; *) die "unknown server: $s (fulcrum kea dnsmasq dnsmasq-ping)" ;; esac
done

# Addressing: one /16; every server hands out the same dynamic pool.
SRV_IP=10.88.0.1
CLI_IP=10.88.0.2
PREFIX=16
POOL_START=10.88.1.0
POOL_END=10.88.254.254
POOL_SIZE=$(( 254 * 256 - 1 ))          # 65023 addresses
[ "$CLIENTS" -ge 1 ] && [ "$CLIENTS" -le "$POOL_SIZE" ] || die "--clients must be 1..$POOL_SIZE (pool size)"
[ "$AVALANCHE" -le "$POOL_SIZE" ] || die "--avalanche must be <= $POOL_SIZE"
LEASE_SECONDS=3600
API="http://$SRV_IP:8080"

# ---------------------------------------------------------------- packages
need_pkgs=()
command -v perfdhcp >/dev/null || need_pkgs+=(kea-admin)
command -v kea-dhcp4 >/dev/null || need_pkgs+=(kea-dhcp4-server)
command -v dnsmasq >/dev/null || need_pkgs+=(dnsmasq-base)
command -v curl >/dev/null || need_pkgs+=(curl)
command -v python3 >/dev/null || need_pkgs+=(python3)
command -v ss >/dev/null || need_pkgs+=(iproute2)
[ -x /usr/bin/time ] || need_pkgs+=(time)
if [ ${#need_pkgs[@]} -gt 0 ]; then
    log "installing ${need_pkgs[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${need_pkgs[@]}" >&2 \
        || { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y "${need_pkgs[@]}" >&2; }
fi
PERFDHCP=$(command -v perfdhcp)
KEA=$(command -v kea-dhcp4)
DNSMASQ=$(command -v dnsmasq)

# ---------------------------------------------------------------- fulcrum
REPO=$(cd "$(dirname "$0")/.." && pwd)
if [[ " $SERVERS " == *" fulcrum "* ]] && [ -z "$FULCRUM_BIN" ]; then
    log "cargo build --release (waits if another build holds the target dir)"
    if [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then
        (cd "$REPO" && sudo -u "$SUDO_USER" -H bash -lc 'cargo build --release' >&2)
    else
        (cd "$REPO" && cargo build --release >&2)
    fi
    FULCRUM_BIN="$REPO/target/release/fulcrum"
fi
if [[ " $SERVERS " == *" fulcrum "* ]]; then
    [ -x "$FULCRUM_BIN" ] || die "no fulcrum binary at $FULCRUM_BIN"
fi

# ---------------------------------------------------------------- teardown
WORK=$(mktemp -d /tmp/fulcrum-bench-dhcp4.XXXXXX)
NS_SRV="fb4-$$-srv"
NS_CLI="fb4-$$-cli"
SERVER_PID=""
PERF_PID=""

kill_pid() {   # kill_pid PID: TERM, wait up to 5 s, then KILL
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
        # Only processes this script started can live in its namespaces.
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill_pid "$pid"; done
        ip netns delete "$ns" 2>/dev/null || true
    done
}

cleanup() {
    local rc=$?
    kill_pid "$PERF_PID"
    kill_pid "$SERVER_PID"
    teardown_ns
    if [ "$KEEP" -eq 1 ]; then
        log "raw outputs kept in $WORK"
    else
        rm -rf "$WORK"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

setup_ns() {
    teardown_ns
    ip netns add "$NS_SRV"
    ip netns add "$NS_CLI"
    ip link add veth-srv netns "$NS_SRV" type veth peer name veth-cli netns "$NS_CLI"
    ip -n "$NS_SRV" addr add "$SRV_IP/$PREFIX" dev veth-srv
    ip -n "$NS_CLI" addr add "$CLI_IP/$PREFIX" dev veth-cli
    for ns in "$NS_SRV" "$NS_CLI"; do ip -n "$ns" link set lo up; done
    ip -n "$NS_SRV" link set veth-srv up
    ip -n "$NS_CLI" link set veth-cli up
}

in_srv() { ip netns exec "$NS_SRV" "$@"; }
in_cli() { ip netns exec "$NS_CLI" "$@"; }

# Waits until something in the server namespace listens on UDP port 67.
wait_udp67() {
    local i
    for i in $(seq 100); do
        kill -0 "$SERVER_PID" 2>/dev/null || return 1
        [ -n "$(in_srv ss -HulnO 'sport = :67' 2>/dev/null)" ] && return 0
        sleep 0.1
    done
    return 1
}

# ---------------------------------------------------------------- servers
# Each start_* leaves SERVER_PID set and the server ready; $1 = its directory.
start_fulcrum() {
    local d=$1
    mkdir -p "$d"
    cat >"$d/fulcrum.toml" <<EOF
data_dir = "$d/data"
[http]
listen = "$SRV_IP:8080"
[dhcp]
listen4 = "0.0.0.0:67"
interfaces = ["veth-srv"]
[tftp]
enabled = false
EOF
    ip netns exec "$NS_SRV" "$FULCRUM_BIN" serve --config "$d/fulcrum.toml" >"$d/server.log" 2>&1 &
    SERVER_PID=$!
    local i
    for i in $(seq 100); do
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$d/server.log" >&2; return 1; }
        in_cli curl -sf --max-time 1 "$API/healthz" >/dev/null 2>&1 && break
        sleep 0.1
    done
    in_cli curl -sS -f --max-time 5 -X POST -H 'content-type: application/json' \
        "$API/api/v1/networks" -d "{\"name\":\"bench\",\"subnet\":\"10.88.0.0/$PREFIX\",
        \"router\":\"$SRV_IP\",\"server\":\"$SRV_IP\",
        \"static\":{\"start\":\"10.88.0.10\",\"end\":\"10.88.0.250\"},
        \"dynamic\":{\"start\":\"$POOL_START\",\"end\":\"$POOL_END\"},
        \"domain\":\"bench.test\",\"interface\":\"veth-srv\",\"lease_seconds\":$LEASE_SECONDS}" \
        >"$d/network.json" || return 1
    wait_udp67
}

start_kea() {
    local d=$1
    mkdir -p "$d"
    cat >"$d/kea-dhcp4.json" <<EOF
{ "Dhcp4": {
  "interfaces-config": { "interfaces": [ "veth-srv" ], "dhcp-socket-type": "udp" },
  "control-socket": { "socket-type": "unix", "socket-name": "$d/kea4.sock" },
  "lease-database": { "type": "memfile", "persist": true, "name": "$d/leases4.csv", "lfc-interval": 0 },
  "multi-threading": { "enable-multi-threading": false },
  "valid-lifetime": $LEASE_SECONDS,
  "subnet4": [ {
      "id": 1, "subnet": "10.88.0.0/$PREFIX",
      "pools": [ { "pool": "$POOL_START - $POOL_END" } ],
      "option-data": [ { "name": "routers", "data": "$SRV_IP" },
                       { "name": "domain-name", "data": "bench.test" } ] } ],
  "loggers": [ { "name": "kea-dhcp4", "severity": "WARN",
                 "output_options": [ { "output": "$d/kea.log" } ] } ]
} }
EOF
    KEA_PIDFILE_DIR="$d" KEA_LOCKFILE_DIR="$d" KEA_LOGGER_DESTINATION="$d/kea.log" \
        ip netns exec "$NS_SRV" "$KEA" -c "$d/kea-dhcp4.json" >"$d/server.log" 2>&1 &
    SERVER_PID=$!
    wait_udp67 || { cat "$d/server.log" "$d/kea.log" >&2 2>/dev/null; return 1; }
}

start_dnsmasq() {   # $2 = "ping" to leave dnsmasq's ping check on
    local d=$1 ping=${2:-}
    mkdir -p "$d"
    local args=(-k --conf-file=/dev/null --port=0 --user=root --group=root
        --interface=veth-srv --bind-interfaces
        "--dhcp-range=$POOL_START,$POOL_END,255.255.0.0,${LEASE_SECONDS}s"
        "--dhcp-option=option:router,$SRV_IP" --domain=bench.test
        "--dhcp-lease-max=$POOL_SIZE" --dhcp-authoritative --quiet-dhcp
        "--dhcp-leasefile=$d/dnsmasq.leases" "--pid-file=$d/dnsmasq.pid"
        "--log-facility=$d/dnsmasq.log")
    [ "$ping" = ping ] || args+=(--no-ping)
    ip netns exec "$NS_SRV" "$DNSMASQ" "${args[@]}" >"$d/server.log" 2>&1 &
    SERVER_PID=$!
    wait_udp67 || { cat "$d/server.log" "$d/dnsmasq.log" >&2 2>/dev/null; return 1; }
}

start_server() {   # start_server NAME DIR
    case "$1" in
        fulcrum) start_fulcrum "$2" ;;
        kea) start_kea "$2" ;;
        dnsmasq) start_dnsmasq "$2" ;;
        dnsmasq-ping) start_dnsmasq "$2" ping ;;
    esac
}

# Server CPU time (user+system, all threads) in seconds.
cpu_seconds() {
    local t
    t=$(awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
    awk -v t="$t" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }'
}
# Busy CPU seconds of the whole machine (user + nice + system, all CPUs).
busy_seconds() {
    awk -v hz="$(getconf CLK_TCK)" '/^cpu / { printf "%.2f", ($2 + $3 + $4) / hz }' /proc/stat
}
# Before a run nothing of ours is busy: wait (up to IDLE_WAIT s) until the
# rest of the machine uses under 25% of one CPU over a second, so a build or a
# VM of someone else's does not land in the middle of a step.
wait_idle() {
    local waited=0 b0 b1
    while :; do
        b0=$(busy_seconds); sleep 1; b1=$(busy_seconds)
        awk -v a="$b0" -v b="$b1" 'BEGIN { exit !(b - a < 0.25) }' && return 0
        waited=$(( waited + 1 ))
        if [ "$waited" -ge "$IDLE_WAIT" ]; then
            log "machine still busy after ${IDLE_WAIT}s; running anyway (see other% column)"
            return 0
        fi
        [ $(( waited % 15 )) -eq 1 ] && log "waiting for other work on the machine to calm down..."
    done
}
peak_rss_mib() {
    awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || echo 0
}
# UDP receive-buffer overflows in the server namespace: datagrams the kernel
# dropped because the server did not read its socket fast enough.
srv_rcvbuf_errors() {
    in_srv awk '/^Udp:/ { n++; if (n == 2) print $6 }' /proc/net/snmp
}

# The server's own view after a run: "acks naks leases".
server_counters() {   # server_counters NAME DIR
    local name=$1 d=$2
    case "$name" in
        fulcrum)
            local m acks naks leases
            m=$(in_cli curl -sf --max-time 5 "$API/metrics" || true)
            acks=$(awk '$1 == "fulcrum_dhcp4_acks" { print $2 }' <<<"$m")
            naks=$(awk '$1 == "fulcrum_dhcp4_naks" { print $2 }' <<<"$m")
            leases=$(in_cli curl -sf --max-time 30 "$API/api/v1/leases" \
                | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))' 2>/dev/null || echo "?")
            echo "${acks:-?} ${naks:-?} $leases"
            ;;
        kea)
            python3 - "$d/kea4.sock" "$d/leases4.csv" <<'EOF' 2>/dev/null || echo "? ? ?"
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall(json.dumps({"command": "statistic-get-all"}).encode())
buf = b""
while True:
    part = s.recv(65536)
    if not part:
        break
    buf += part
    try:
        resp = json.loads(buf)
        break
    except ValueError:
        continue
args = resp["arguments"]
def stat(name):
    v = args.get(name)
    return v[0][0] if v else 0
addrs = set()
with open(sys.argv[2]) as f:
    next(f)
    for line in f:
        addrs.add(line.split(",", 1)[0])
print(stat("pkt4-ack-sent"), stat("pkt4-nak-sent"), len(addrs))
EOF
            ;;
        dnsmasq*)
            local n="?"
            [ -f "$d/dnsmasq.leases" ] && n=$(wc -l <"$d/dnsmasq.leases")
            echo "? ? $n"
            ;;
    esac
}

# perfdhcp's report -> "do_sent do_recv do_drops ra_sent ra_recv ra_drops resent"
parse_perfdhcp() {
    awk '
        /Statistics for: DISCOVER-OFFER/ { s = "do" }
        /Statistics for: REQUEST-ACK/    { s = "ra" }
        /^sent packets:/     && s { v[s "_sent"] = $3 }
        /^received packets:/ && s { v[s "_recv"] = $3 }
        /^drops:/            && s { v[s "_drops"] = $2 }
        /^Requests resent:/  { v["resent"] = $3 }
        END {
            printf "%d %d %d %d %d %d %d\n", v["do_sent"], v["do_recv"], v["do_drops"],
                v["ra_sent"], v["ra_recv"], v["ra_drops"], v["resent"]
        }' "$1"
}

RESULTS="$WORK/results.tsv"
printf 'mode\trate\tserver\tdo_sent\tdo_recv\tdo_drops\tra_sent\tra_recv\tra_drops\tresent\tleases_per_s\tsrv_acks\tsrv_naks\tsrv_leases\tsock_drops\tcpu_s\trss_mib\tperf_rc\tseconds\tother_cpu\n' >"$RESULTS"

# run_one MODE RATE SERVER: one fresh server, one perfdhcp run, one result row.
run_one() {
    local mode=$1 rate=$2 server=$3
    local d="$WORK/$mode-$rate-$server"
    mkdir -p "$d"
    wait_idle
    setup_ns
    if ! start_server "$server" "$d"; then
        log "$server failed to start (see $d)"
        kill_pid "$SERVER_PID"; SERVER_PID=""
        printf '%s\t%s\t%s\t0\t0\t0\t0\t0\t0\t0\t0\t?\t?\t?\t?\t0\t0\tstart-failed\t0\t0\n' "$mode" "$rate" "$server" >>"$RESULTS"
        return 0
    fi
    local cpu0 args limit rc=0 t0 t1 busy0 busy1
    busy0=$(busy_seconds)
    cpu0=$(cpu_seconds "$SERVER_PID")
    if [ "$mode" = avalanche ]; then
        args=(-4 -g "$PERF_THREADS" -l "$CLI_IP" -R "$rate" --scenario avalanche -s "$SEED" "$SRV_IP")
        limit=180
    else
        args=(-4 -g "$PERF_THREADS" -l "$CLI_IP" -R "$CLIENTS" -r "$rate" -p "$DURATION"
              -n $(( rate * DURATION )) -d 1 -W 1000000 -s "$SEED" "$SRV_IP")
        limit=$(( DURATION + 60 ))
    fi
    echo "perfdhcp ${args[*]}" >"$d/perfdhcp.cmd"
    t0=$(date +%s.%N)
    # GNU time records perfdhcp's own CPU, to tell our load from other work.
    local timing=()
    [ -x /usr/bin/time ] && timing=(/usr/bin/time -f "%U %S" -o "$d/perfdhcp.cpu")
    ip netns exec "$NS_CLI" timeout -k 5 "$limit" \
        "${timing[@]}" "$PERFDHCP" "${args[@]}" >"$d/perfdhcp.out" 2>&1 &
    PERF_PID=$!
    wait "$PERF_PID" || rc=$?
    PERF_PID=""
    t1=$(date +%s.%N)
    # perfdhcp exits 3 when any exchange went unanswered: a result, not a failure.
    local cpu1 rss sock counters p lps secs other
    cpu1=$(cpu_seconds "$SERVER_PID")
    busy1=$(busy_seconds)
    rss=$(peak_rss_mib "$SERVER_PID")
    sock=$(srv_rcvbuf_errors)
    counters=$(server_counters "$server" "$d")
    p=$(parse_perfdhcp "$d/perfdhcp.out")
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
    if [ "$mode" = avalanche ]; then
        # "It took HH:MM:SS.ffffff to provision N clients."
        local took
        took=$(awk '/It took/ { split($3, t, ":"); print t[1]*3600 + t[2]*60 + t[3] }' "$d/perfdhcp.out")
        lps=$(awk -v n="$rate" -v t="${took:-0}" 'BEGIN { printf "%.0f", (t > 0) ? n / t : 0 }')
        secs=${took:-$secs}
    else
        lps=$(awk -v r="$(cut -d' ' -f5 <<<"$p")" -v d="$DURATION" 'BEGIN { printf "%.0f", r / d }')
    fi
    # CPU used during the run by anything other than this server and perfdhcp
    # (another build, a VM...), as % of one CPU: high values flag a noisy step.
    other=$(awk -v b0="$busy0" -v b1="$busy1" -v c0="$cpu0" -v c1="$cpu1" -v t0="$t0" -v t1="$t1" \
        -v p="$(cat "$d/perfdhcp.cpu" 2>/dev/null | tail -1)" 'BEGIN {
            split(p, q, " "); o = (b1 - b0) - (c1 - c0) - (q[1] + q[2]);
            if (p == "") { print "?"; exit } printf "%.0f", 100 * (o < 0 ? 0 : o) / (t1 - t0) }')
    kill_pid "$SERVER_PID"; SERVER_PID=""
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$mode" "$rate" "$server" \
        "$(tr ' ' '\t' <<<"$p")" "$lps" "$(tr ' ' '\t' <<<"$counters")" "$sock" \
        "$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.2f", b - a }')" "$rss" "$rc" "$secs" "$other" >>"$RESULTS"
    log "$(printf '%-9s %-12s %6s%s -> %6s leases/s  drops DO %s RA %s  (perfdhcp rc %s)' \
        "$mode" "$server" "$rate" "$([ "$mode" = avalanche ] && echo ' clients' || echo /s)" "$lps" "$(cut -d' ' -f3 <<<"$p")" "$(cut -d' ' -f6 <<<"$p")" "$rc")"
    teardown_ns
}

# ---------------------------------------------------------------- run
log "servers: $SERVERS; clients (-R): $CLIENTS; rates: $RATES; ${DURATION}s per step; pool $POOL_START-$POOL_END ($POOL_SIZE)"
log "perfdhcp: $($PERFDHCP -v 2>&1 | head -1); kea: $($KEA -v 2>&1 | head -1); dnsmasq: $($DNSMASQ -v | head -1 | awk '{print $3}')"
START_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
step=0
for rate in $RATES; do
    # Rotate the order of servers from one step to the next.
    read -r -a order <<<"$SERVERS"
    n=${#order[@]}
    for i in $(seq 0 $(( n - 1 ))); do
        run_one rate "$rate" "${order[$(( (i + step) % n ))]}"
    done
    step=$(( step + 1 ))
done
if [ "$AVALANCHE" -gt 0 ]; then
    for s in $SERVERS; do run_one avalanche "$AVALANCHE" "$s"; done
fi

# ---------------------------------------------------------------- report
echo
echo "DHCPv4 perfdhcp benchmark, $START_DATE, $(nproc) CPUs ($(uname -r))"
echo "perfdhcp -4 -g $PERF_THREADS -l $CLI_IP -R $CLIENTS -r RATE -p $DURATION -n RATE*$DURATION -d 1 -W 1000000 -s $SEED $SRV_IP   (relay mode, giaddr $CLI_IP)"
echo "pool $POOL_START-$POOL_END ($POOL_SIZE addresses) on every server; fresh server per step"
echo "kea: memfile (persist, no LFC), single-threaded, udp sockets;  dnsmasq: $(
    [[ " $SERVERS " == *" dnsmasq "* ]] && echo "--no-ping, dhcp-lease-max $POOL_SIZE, --quiet-dhcp")$(
    [[ " $SERVERS " == *" dnsmasq-ping "* ]] && echo "; dnsmasq-ping: ping check ON")"
echo
python3 - "$RESULTS" "$SERVERS" <<'EOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
servers = sys.argv[2].split()

def pct(drops, sent):
    sent, drops = int(sent), int(drops)
    return 100.0 * drops / sent if sent else 0.0

print("Per step (leases/s = ACKs received / send period; drops include NAKs; sock = server socket overflows):")
print(f"{'rate':>6} {'server':<12} {'DISC sent':>9} {'OFFER':>7} {'ACK':>7} {'leases/s':>8} "
      f"{'DO drop%':>8} {'RA drop%':>8} {'srv NAK':>7} {'sock':>6} {'leases':>7} {'cpu s':>6} {'RSS MiB':>7}")
for r in rows:
    if r["mode"] != "rate":
        continue
    print(f"{r['rate']:>6} {r['server']:<12} {r['do_sent']:>9} {r['do_recv']:>7} {r['ra_recv']:>7} "
          f"{r['leases_per_s']:>8} {pct(r['do_drops'], r['do_sent']):>8.2f} "
          f"{pct(r['ra_drops'], r['ra_sent']):>8.2f} {r['srv_naks']:>7} {r['sock_drops']:>6} "
          f"{r['srv_leases']:>7} {r['cpu_s']:>6} {r['rss_mib']:>7} {r['other_cpu']:>6}"
          + ("" if r["perf_rc"] in ("0", "3") else f"  perfdhcp rc {r['perf_rc']}"))

summary = {}
for s in servers:
    mine = [r for r in rows if r["server"] == s and r["mode"] == "rate"]
    mine.sort(key=lambda r: int(r["rate"]))
    zero = None      # highest step such that it and every lower step had 0 drops
    for r in mine:
        if int(r["do_drops"]) == 0 and int(r["ra_drops"]) == 0 and r["perf_rc"] in ("0", "3"):
            zero = r
        else:
            break
    peak = max(mine, key=lambda r: int(r["leases_per_s"]), default=None)
    av = [r for r in rows if r["server"] == s and r["mode"] == "avalanche"]
    summary[s] = {
        "zero": int(zero["leases_per_s"]) if zero else 0,
        "zero_rate": int(zero["rate"]) if zero else 0,
        "peak": int(peak["leases_per_s"]) if peak else 0,
        "peak_drop": (pct(int(peak["do_drops"]) + int(peak["ra_drops"]),
                          int(peak["do_sent"]) + int(peak["ra_sent"])) if peak else 0),
        "rss": max((float(r["rss_mib"]) for r in mine), default=0),
        "av": av[0] if av else None,
    }

def ratio(a, b):
    return f"{a / b:.2f}" if b else "n/a"

print()
print("Summary:")
print(f"{'server':<12} {'0-drop leases/s':>15} {'(step)':>7} {'vs kea':>7} {'vs dnsmasq':>10} "
      f"{'peak leases/s':>13} {'drop%':>6} {'vs kea':>7} {'vs dnsmasq':>10} {'peak RSS MiB':>12}")
k = summary.get("kea", {})
d = summary.get("dnsmasq", {})
for s in servers:
    v = summary[s]
    print(f"{s:<12} {v['zero']:>15} {v['zero_rate'] or '-':>7} {ratio(v['zero'], k.get('zero', 0)):>7} "
          f"{ratio(v['zero'], d.get('zero', 0)):>10} {v['peak']:>13} {v['peak_drop']:>6.1f} "
          f"{ratio(v['peak'], k.get('peak', 0)):>7} {ratio(v['peak'], d.get('peak', 0)):>10} {v['rss']:>12.1f}")
print("0-drop = ACK rate at the highest rate step reached with zero drops in every step up to it"
      " (0 if even the lowest step dropped).")

if any(v["av"] for v in summary.values()):
    print()
    print("Avalanche (perfdhcp --scenario avalanche: every client at once, then perfdhcp's back-off):")
    print(f"{'server':<12} {'clients':>7} {'seconds':>8} {'leases/s':>8} {'vs kea':>7} {'vs dnsmasq':>10} {'retransmits':>11}")
    ka = summary.get("kea", {}).get("av")
    da = summary.get("dnsmasq", {}).get("av")
    for s in servers:
        a = summary[s]["av"]
        if not a:
            continue
        retr = int(a["resent"])
        print(f"{s:<12} {a['rate']:>7} {a['seconds']:>8} {a['leases_per_s']:>8} "
              f"{ratio(int(a['leases_per_s']), int(ka['leases_per_s']) if ka else 0):>7} "
              f"{ratio(int(a['leases_per_s']), int(da['leases_per_s']) if da else 0):>10} {retr:>11}"
              + ("" if a["perf_rc"] in ("0", "3") else f"  (perfdhcp rc {a['perf_rc']}: timed out)"))
EOF
