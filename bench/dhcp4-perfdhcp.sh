#!/usr/bin/env bash
# DHCPv4 lease throughput: Fulcrum vs ISC Kea (memfile, single-threaded) vs
# dnsmasq, measured with perfdhcp (Debian `kea-admin`) in one run.
#
#   sudo bash bench/dhcp4-perfdhcp.sh [--clients N] [--rate R | --rates "R1 R2 ..."]
#                                     [--duration S] [--servers "fulcrum kea dnsmasq"]
#                                     [--avalanche N] [--fulcrum BIN] [--idle-wait S]
#                                     [--full-ramp] [--keep] [--perf]
#   bash bench/dhcp4-perfdhcp.sh --report DIR    # re-print a kept run (--keep)
#
# Defaults: --clients 10000, --duration 5 (seconds per step), --rates
# "100 250 500 1000 2000 3000 4000 5000 6000 8000 10000 12000 16000",
# servers fulcrum kea dnsmasq (dnsmasq with --no-ping; add `dnsmasq-ping` to
# --servers for dnsmasq's default ping-before-offer), perfdhcp single-threaded
# (-g single, so it takes one of the two cores), --idle-wait 120. Fulcrum is
# built with `cargo build --release` unless --fulcrum BIN is given.
# --perf records Fulcrum's CPU profile during each of its steps (`perf record`,
# DWARF call graphs, 499 Hz, into the step's directory) and implies --keep.
#
# What it does, for every rate step and every server (servers interleaved
# within a step, their order rotated from step to step, so slow drift of a
# shared machine hits all of them alike):
#   1. creates two network namespaces of its own, a server side and a client
#      side joined by a veth pair (10.88.0.1/16 <-> 10.88.0.2/16);
#   2. starts the server fresh (empty lease database) in the server side;
#   3. runs perfdhcp in the client side with the SAME parameters for every
#      server: relay mode (perfdhcp sends from 10.88.0.2:67 to 10.88.0.1, so
#      giaddr = 10.88.0.2 and replies come back to the "relay"), `-R N`
#      clients, `-r R` DISCOVERs/s for `-p S` seconds (`-n R*S` at most),
#      replies later than 1 s count as drops, 1 s exit wait (`-W`);
#   4. reads perfdhcp's report and the server's own counters, stops the
#      server (by PID), deletes the namespaces.
#
# perfdhcp draws client MACs from a base in order, so the first N exchanges
# of a step are N new clients and later ones (R*S > N) repeat a DORA for a
# client that already holds a lease. Use --clients >= R*S for new leases only.
#
# Figures: leases/s = ACKs received by perfdhcp / send period (perfdhcp's own
# "Rate:" divides by the period plus the exit wait, so it reads lower).
# "0-drop" is the highest step with zero drops in both DISCOVER-OFFER and
# REQUEST-ACK; "peak" the highest ACK rate at any step. perfdhcp counts a
# DHCPNAK as a dropped REQUEST, so NAKs are drops too. A server that leaves
# more than half of its DISCOVERs unanswered at a step skips the higher steps
# (unless --full-ramp). `--rate R` runs that single step. `--avalanche N` adds
# perfdhcp's boot-storm scenario (all N clients at once, then perfdhcp's own
# retransmission back-off) and reports N / time.
#
# Traffic stays inside the namespaces created here; on exit (normal, error or
# Ctrl-C) the servers started here are killed by PID and the namespaces
# deleted. Every perfdhcp run is bounded by -n/-p and by `timeout`.
set -euo pipefail

# Defaults (see above).
CLIENTS=10000
RATES="100 250 500 1000 2000 3000 4000 5000 6000 8000 10000 12000 16000"
DURATION=5
SERVERS="fulcrum kea dnsmasq"
AVALANCHE=0
FULCRUM_BIN=""
KEEP=0
API_AUTH=()           # curl's Authorization header for Fulcrum's API, once known
PERF_THREADS=single   # perfdhcp -g: one thread leaves the other core to the server
IDLE_WAIT=120         # seconds to wait, before each run, for other work to calm down
FULL_RAMP=0           # 1: keep ramping a server past the point where it drops most requests
SEED=1
REPORT_DIR=""

# Addressing: one /16; every server hands out the same dynamic pool.
SRV_IP=10.88.0.1
CLI_IP=10.88.0.2
PREFIX=16
POOL_START=10.88.1.0
POOL_END=10.88.254.254
POOL_SIZE=$(( 254 * 256 - 1 ))          # 65023 addresses
LEASE_SECONDS=3600
API="http://$SRV_IP:8080"    # the boot listener (and, before [api] existed, the API)
OPS="$API"                   # the operator API: https://$SRV_IP:8443 for builds with [api]

# Run state, used by the EXIT trap.
WORK=""
NS_SRV="fb4-$$-srv"
NS_CLI="fb4-$$-cli"
SERVER_PID=""
PERF_PID=""
PERF_REC_PID=""      # `perf record` on Fulcrum during a step (--perf)
PERF_RECORD=0

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit "${1:-0}"; }
die() { echo "error: $*" >&2; exit 1; }
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

parse_args() {
    while [ $# -gt 0 ]; do
        case "$1" in
            --clients) CLIENTS="$2"; shift 2 ;;
            --rate|--rates) RATES="$2"; shift 2 ;;
            --duration) DURATION="$2"; shift 2 ;;
            --servers) SERVERS="$2"; shift 2 ;;
            --avalanche) AVALANCHE="$2"; shift 2 ;;
            --fulcrum) FULCRUM_BIN="$2"; shift 2 ;;
            --perfdhcp-threads) PERF_THREADS="$2"; shift 2 ;;
            --idle-wait) IDLE_WAIT="$2"; shift 2 ;;
            --full-ramp) FULL_RAMP=1; shift ;;
            --keep) KEEP=1; shift ;;
            --perf) PERF_RECORD=1; KEEP=1; shift ;;
            --report) REPORT_DIR="$2"; shift 2 ;;
            -h|--help) usage 0 ;;
            *) echo "unknown option: $1" >&2; usage 2 ;;
        esac
    done
    case "$CLIENTS$DURATION$AVALANCHE$IDLE_WAIT" in
        *[!0-9]*) die "--clients, --duration, --avalanche and --idle-wait take integers" ;;
    esac
    for r in $RATES; do case "$r" in *[!0-9]*) die "bad rate: $r" ;; esac; done
    [ -n "${RATES// }" ] || die "no rates"
    for s in $SERVERS; do
        case "$s" in
            fulcrum|kea|dnsmasq|dnsmasq-ping) ;;
            *) die "unknown server: $s (fulcrum kea dnsmasq dnsmasq-ping)" ;;
        esac
    done
    case "$PERF_THREADS" in single|multi) ;; *) die "--perfdhcp-threads: single or multi" ;; esac
    if [ "$CLIENTS" -lt 1 ] || [ "$CLIENTS" -gt "$POOL_SIZE" ]; then
        die "--clients must be 1..$POOL_SIZE (the pool)"
    fi
    [ "$AVALANCHE" -le "$POOL_SIZE" ] || die "--avalanche must be <= $POOL_SIZE (the pool)"
    [ "$DURATION" -ge 1 ] || die "--duration must be >= 1"
}

has_server() { [[ " $SERVERS " == *" $1 "* ]]; }

# ---------------------------------------------------------------- setup
install_missing() {
    local need=()
    command -v perfdhcp >/dev/null || need+=(kea-admin)
    command -v kea-dhcp4 >/dev/null || need+=(kea-dhcp4-server)
    command -v dnsmasq >/dev/null || need+=(dnsmasq-base)
    command -v curl >/dev/null || need+=(curl)
    command -v python3 >/dev/null || need+=(python3)
    command -v ss >/dev/null || need+=(iproute2)
    [ -x /usr/bin/time ] || need+=(time)
    [ ${#need[@]} -eq 0 ] && return 0
    log "installing ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${need[@]}" >&2 \
        || { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y "${need[@]}" >&2; }
}

# Builds Fulcrum (as the invoking user under sudo, so target/ keeps its
# owner) and takes a private copy: a rebuild in the shared target directory
# cannot swap the binary in the middle of a run.
prepare_fulcrum() {
    local repo
    repo=$(cd "$(dirname "$0")/.." && pwd)
    if [ -z "$FULCRUM_BIN" ]; then
        log "cargo build --release (waits if another build holds the target dir)"
        if [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then
            (cd "$repo" && sudo -u "$SUDO_USER" -H bash -lc 'cargo build --release' >&2)
        else
            (cd "$repo" && cargo build --release >&2)
        fi
        FULCRUM_BIN="$repo/target/release/fulcrum"
    fi
    [ -x "$FULCRUM_BIN" ] || die "no fulcrum binary at $FULCRUM_BIN"
    cp "$FULCRUM_BIN" "$WORK/fulcrum"
    FULCRUM_DESC="$FULCRUM_BIN (built $(date -u -r "$FULCRUM_BIN" +%Y-%m-%dT%H:%M:%SZ); repo at $(
        git -C "$repo" describe --always --dirty 2>/dev/null || echo unknown))"
    FULCRUM_BIN="$WORK/fulcrum"
}

# ---------------------------------------------------------------- teardown
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

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
    local rc=$?
    kill_pid "$PERF_PID"
    kill_pid "$PERF_REC_PID"
    kill_pid "$SERVER_PID"
    teardown_ns
    if [ -n "$WORK" ] && [ -d "$WORK" ]; then
        if [ "$KEEP" -eq 1 ]; then
            log "raw outputs kept in $WORK (re-print: bash $0 --report $WORK)"
        else
            rm -rf "$WORK"
        fi
    fi
    exit "$rc"
}

setup_ns() {
    teardown_ns
    ip netns add "$NS_SRV"
    ip netns add "$NS_CLI"
    ip link add veth-srv netns "$NS_SRV" type veth peer name veth-cli netns "$NS_CLI"
    ip -n "$NS_SRV" addr add "$SRV_IP/$PREFIX" dev veth-srv
    ip -n "$NS_CLI" addr add "$CLI_IP/$PREFIX" dev veth-cli
    ip -n "$NS_SRV" link set lo up
    ip -n "$NS_CLI" link set lo up
    ip -n "$NS_SRV" link set veth-srv up
    ip -n "$NS_CLI" link set veth-cli up
}

in_srv() { ip netns exec "$NS_SRV" "$@"; }
in_cli() { ip netns exec "$NS_CLI" "$@"; }

# Waits until the server is alive and something listens on UDP port 67.
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
# Each start_* takes the step's directory, leaves SERVER_PID set (the
# server's own PID: `ip netns exec` execs it) and returns once it is ready.
start_fulcrum() {
    local d=$1 i api_section=""
    # Builds with a TLS operator API ([api]) get it on its own port.
    OPS="$API"
    if "$FULCRUM_BIN" --help | grep -q -- --tls-fingerprint; then
        api_section=$'[api]\nlisten = "'"$SRV_IP"':8443"'
        OPS="https://$SRV_IP:8443"
    fi
    cat >"$d/fulcrum.toml" <<EOF
data_dir = "$d/data"
[http]
listen = "$SRV_IP:8080"
[dhcp]
listen4 = "0.0.0.0:67"
interfaces = ["veth-srv"]
# perfdhcp relays every client from one address; Kea and dnsmasq have no
# per-source limit.
rate_per_source = 0
[dns]
enabled = false
[tftp]
enabled = false
$api_section
EOF
    ip netns exec "$NS_SRV" "$FULCRUM_BIN" serve --config "$d/fulcrum.toml" >"$d/server.log" 2>&1 &
    SERVER_PID=$!
    for i in $(seq 100); do
        kill -0 "$SERVER_PID" 2>/dev/null || return 1
        in_cli curl -sf --max-time 1 "$API/healthz" >/dev/null 2>&1 && break
        sleep 0.1
    done
    # Builds with API tokens wrote the first admin token at start.
    local tok
    tok=$(cat "$d/data/admin.token" 2>/dev/null || true)
    API_AUTH=()
    [ -n "$tok" ] && API_AUTH=(-H "Authorization: Bearer $tok")
    [ -f "$d/data/tls/cert.pem" ] && API_AUTH+=(--cacert "$d/data/tls/cert.pem")
    in_cli curl -sS -f --max-time 5 -X POST -H 'content-type: application/json' "${API_AUTH[@]}" \
        "$OPS/api/v1/networks" -d "{\"name\": \"bench\", \"subnet\": \"10.88.0.0/$PREFIX\",
            \"router\": \"$SRV_IP\", \"server\": \"$SRV_IP\",
            \"static\": {\"start\": \"10.88.0.10\", \"end\": \"10.88.0.250\"},
            \"dynamic\": {\"start\": \"$POOL_START\", \"end\": \"$POOL_END\"},
            \"domain\": \"bench.test\", \"interface\": \"veth-srv\",
            \"lease_seconds\": $LEASE_SECONDS}" >"$d/network.json" 2>&1 || return 1
    wait_udp67
}

start_kea() {
    local d=$1
    cat >"$d/kea-dhcp4.json" <<EOF
{ "Dhcp4": {
  "interfaces-config": { "interfaces": [ "veth-srv" ], "dhcp-socket-type": "udp" },
  "control-socket": { "socket-type": "unix", "socket-name": "$d/kea4.sock" },
  "lease-database": { "type": "memfile", "persist": true, "name": "$d/leases4.csv",
                      "lfc-interval": 0 },
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
    KEA_PIDFILE_DIR="$d" KEA_LOCKFILE_DIR="$d" \
        ip netns exec "$NS_SRV" "$KEA" -c "$d/kea-dhcp4.json" >"$d/server.log" 2>&1 &
    SERVER_PID=$!
    wait_udp67
}

start_dnsmasq() {   # $2 = ping: leave dnsmasq's ping-before-offer on
    local d=$1 ping=${2:-}
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
    wait_udp67
}

start_server() {   # start_server NAME DIR
    case "$1" in
        fulcrum) start_fulcrum "$2" ;;
        kea) start_kea "$2" ;;
        dnsmasq) start_dnsmasq "$2" ;;
        dnsmasq-ping) start_dnsmasq "$2" ping ;;
    esac
}

# ---------------------------------------------------------------- measures
cpu_seconds() {   # user + system CPU of a process (all threads)
    local t
    t=$(awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
    awk -v t="$t" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }'
}

busy_seconds() {   # user + nice + system CPU of the whole machine
    awk -v hz="$(getconf CLK_TCK)" '/^cpu / { printf "%.2f", ($2 + $3 + $4) / hz }' /proc/stat
}

# Before a run nothing of ours is busy: wait (up to IDLE_WAIT s) until the
# rest of the machine uses under 25% of one CPU over a second, so a build or
# a VM of someone else's is less likely to land in the middle of a step.
wait_idle() {
    local waited=0 b0 b1
    while :; do
        b0=$(busy_seconds); sleep 1; b1=$(busy_seconds)
        awk -v a="$b0" -v b="$b1" 'BEGIN { exit !(b - a < 0.25) }' && return 0
        waited=$(( waited + 1 ))
        if [ "$waited" -ge "$IDLE_WAIT" ]; then
            log "machine still busy after ${IDLE_WAIT}s; running anyway (see the other% column)"
            return 0
        fi
        [ $(( waited % 15 )) -eq 1 ] && log "waiting for other work on the machine to calm down..."
    done
}

peak_rss_mib() {
    awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || echo 0
}

# UDP datagrams the kernel dropped in a namespace because the socket's
# receive buffer was full (the reader did not keep up).
udp_rcvbuf_errors() {
    ip netns exec "$1" awk '/^Udp:/ { n++; if (n == 2) print $6 }' /proc/net/snmp
}

# The server's own view after a run: "acks naks leases" ("?" if unknown).
server_counters() {   # server_counters NAME DIR
    local name=$1 d=$2
    case "$name" in
        fulcrum)
            local m acks naks leases
            m=$(in_cli curl -sf --max-time 5 "${API_AUTH[@]}" "$OPS/metrics" || true)
            printf '%s\n' "$m" >"$d/metrics.txt"
            acks=$(awk '$1 ~ /^fulcrum_dhcp4_replies_total[{]type="ack"/ { n += $2 } END { print n + 0 }' <<<"$m")
            naks=$(awk '$1 ~ /^fulcrum_dhcp4_replies_total[{]type="nak"/ { n += $2 } END { print n + 0 }' <<<"$m")
            leases=$(in_cli curl -sf --max-time 30 "${API_AUTH[@]}" "$OPS/api/v1/leases" \
                | python3 -c 'import json, sys; print(len(json.load(sys.stdin)))' 2>/dev/null || echo "?")
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
stats = resp["arguments"]
with open(sys.argv[1] + ".stats.json", "w") as f:
    json.dump(stats, f, indent=1)
def stat(name):
    v = stats.get(name)
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

COLUMNS_TSV="mode rate server do_sent do_recv do_drops ra_sent ra_recv ra_drops resent leases_per_s srv_acks srv_naks srv_leases srv_sock cli_sock cpu_s rss_mib perf_rc seconds other_cpu"

# run_one MODE RATE SERVER: one fresh server, one perfdhcp run, one row.
run_one() {
    local mode=$1 rate=$2 server=$3
    local d="$WORK/$mode-$rate-$server"
    mkdir -p "$d"
    wait_idle
    setup_ns
    if ! start_server "$server" "$d"; then
        log "$server failed to start; its output:"
        cat "$d"/server.log "$d"/*.log "$d"/network.json >&2 2>/dev/null || true
        kill_pid "$SERVER_PID"; SERVER_PID=""
        teardown_ns
        printf '%s\t%s\t%s\t0\t0\t0\t0\t0\t0\t0\t0\t?\t?\t?\t?\t?\t0\t0\tstart-failed\t0\t?\n' \
            "$mode" "$rate" "$server" >>"$RESULTS"
        return 0
    fi
    local args limit rc=0 t0 t1 busy0 busy1 cpu0 cpu1 timing=()
    if [ "$mode" = avalanche ]; then
        args=(-4 -g "$PERF_THREADS" -l "$CLI_IP" -R "$rate" --scenario avalanche -s "$SEED" "$SRV_IP")
        limit=180
    else
        args=(-4 -g "$PERF_THREADS" -l "$CLI_IP" -R "$CLIENTS" -r "$rate" -p "$DURATION"
              -n $(( rate * DURATION )) -d 1 -W 1000000 -s "$SEED" "$SRV_IP")
        limit=$(( DURATION + 60 ))
    fi
    echo "perfdhcp ${args[*]}" >"$d/perfdhcp.cmd"
    # GNU time records perfdhcp's own CPU, to tell our load from other work.
    [ -x /usr/bin/time ] && timing=(/usr/bin/time -f "%U %S" -o "$d/perfdhcp.cpu")
    busy0=$(busy_seconds)
    cpu0=$(cpu_seconds "$SERVER_PID")
    t0=$(date +%s.%N)
    ip netns exec "$NS_CLI" timeout -k 5 "$limit" \
        "${timing[@]}" "$PERFDHCP" "${args[@]}" >"$d/perfdhcp.out" 2>&1 &
    PERF_PID=$!
    if [ "$PERF_RECORD" -eq 1 ] && [ "$server" = fulcrum ]; then
        perf record -q -F 499 --call-graph dwarf,16384 -p "$SERVER_PID" -o "$d/perf.data" \
            >"$d/perf.log" 2>&1 &
        PERF_REC_PID=$!
    fi
    # perfdhcp exits 3 when any exchange went unanswered: a result, not a failure.
    wait "$PERF_PID" || rc=$?
    PERF_PID=""
    if [ -n "$PERF_REC_PID" ]; then
        kill -INT "$PERF_REC_PID" 2>/dev/null || true
        wait "$PERF_REC_PID" || true
        PERF_REC_PID=""
        log "profile of fulcrum at $rate/s: perf report -i $d/perf.data (symbols: $WORK/fulcrum)"
    fi
    t1=$(date +%s.%N)
    cpu1=$(cpu_seconds "$SERVER_PID")
    busy1=$(busy_seconds)

    local rss srv_sock cli_sock counters p lps secs other
    rss=$(peak_rss_mib "$SERVER_PID")
    srv_sock=$(udp_rcvbuf_errors "$NS_SRV")
    cli_sock=$(udp_rcvbuf_errors "$NS_CLI")
    counters=$(server_counters "$server" "$d")
    kill_pid "$SERVER_PID"; SERVER_PID=""
    teardown_ns

    p=$(parse_perfdhcp "$d/perfdhcp.out")
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
    if [ "$mode" = avalanche ]; then
        # "It took HH:MM:SS.ffffff to provision N clients."
        local took
        took=$(awk '/It took/ { split($3, t, ":"); print t[1] * 3600 + t[2] * 60 + t[3] }' "$d/perfdhcp.out")
        lps=$(awk -v n="$rate" -v t="${took:-0}" 'BEGIN { printf "%.0f", (t > 0) ? n / t : 0 }')
        secs=${took:-$secs}
    else
        lps=$(awk -v r="$(cut -d' ' -f5 <<<"$p")" -v d="$DURATION" 'BEGIN { printf "%.0f", r / d }')
    fi
    # CPU used during the run by anything but this server and perfdhcp (a
    # build, a VM...), in % of one CPU: a high value flags a noisy step.
    other=$(awk -v b0="$busy0" -v b1="$busy1" -v c0="$cpu0" -v c1="$cpu1" -v t0="$t0" -v t1="$t1" \
        -v p="$(tail -1 "$d/perfdhcp.cpu" 2>/dev/null)" 'BEGIN {
            if (split(p, q, " ") != 2) { print "?"; exit }
            o = (b1 - b0) - (c1 - c0) - (q[1] + q[2])
            printf "%.0f", 100 * (o < 0 ? 0 : o) / (t1 - t0) }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$mode" "$rate" "$server" \
        "$(tr ' ' '\t' <<<"$p")" "$lps" "$(tr ' ' '\t' <<<"$counters")" "$srv_sock" "$cli_sock" \
        "$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.2f", b - a }')" "$rss" "$rc" "$secs" \
        "$other" >>"$RESULTS"
    log "$(printf '%-9s %-12s %6s%s -> %6s leases/s  drops DO %s RA %s  (perfdhcp rc %s)' \
        "$mode" "$server" "$rate" "$([ "$mode" = avalanche ] && echo ' clients' || echo /s)" \
        "$lps" "$(cut -d' ' -f3 <<<"$p")" "$(cut -d' ' -f6 <<<"$p")" "$rc")"
}

# Saturated: more than half of this server's DISCOVERs unanswered at its last step.
saturated() {
    awk -F'\t' -v s="$1" '$1 == "rate" && $3 == s { sent = $4; drops = $6 }
        END { exit !(sent > 0 && drops * 2 > sent) }' "$RESULTS"
}

# ---------------------------------------------------------------- report
report() {   # report DIR: header.txt + results.tsv of a run
    cat "$1/header.txt"
    echo
    python3 - "$1/results.tsv" <<'EOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
servers = list(dict.fromkeys(r["server"] for r in rows))

def pct(drops, sent):
    sent, drops = int(sent), int(drops)
    return 100.0 * drops / sent if sent else 0.0

def ok(r):
    return r["perf_rc"] in ("0", "3")

print("Per step. leases/s = ACKs received / send period; drop% as perfdhcp counts them (NAKs and late")
print("replies included); NAK = sent by the server; srv/cli sock = datagrams the kernel dropped because")
print("the server's / perfdhcp's socket buffer was full; cpu s = server CPU; other% = CPU of other work.")
print(f"{'rate':>6} {'server':<12} {'DISC':>6} {'OFFER':>6} {'ACK':>6} {'leases/s':>8} {'DO drop%':>8} "
      f"{'RA drop%':>8} {'NAK':>4} {'srv sock':>8} {'cli sock':>8} {'leases':>6} {'cpu s':>5} "
      f"{'RSS MiB':>7} {'other%':>6}")
for r in rows:
    if r["mode"] != "rate":
        continue
    print(f"{r['rate']:>6} {r['server']:<12} {r['do_sent']:>6} {r['do_recv']:>6} {r['ra_recv']:>6} "
          f"{r['leases_per_s']:>8} {pct(r['do_drops'], r['do_sent']):>8.2f} "
          f"{pct(r['ra_drops'], r['ra_sent']):>8.2f} {r['srv_naks']:>4} {r['srv_sock']:>8} "
          f"{r['cli_sock']:>8} {r['srv_leases']:>6} {r['cpu_s']:>5} {r['rss_mib']:>7} {r['other_cpu']:>6}"
          + ("" if ok(r) else f"  perfdhcp: {r['perf_rc']}"))

summary = {}
for s in servers:
    mine = sorted((r for r in rows if r["server"] == s and r["mode"] == "rate"),
                  key=lambda r: int(r["rate"]))
    # Highest step with zero drops (on a shared machine steps need not be
    # monotonic: the table above shows them all).
    zero = None
    for r in mine:
        if ok(r) and int(r["do_drops"]) == 0 and int(r["ra_drops"]) == 0:
            zero = r
    peak = max(mine, key=lambda r: int(r["leases_per_s"]), default=None)
    av = [r for r in rows if r["server"] == s and r["mode"] == "avalanche"]
    summary[s] = {
        "zero": int(zero["leases_per_s"]) if zero else 0,
        "zero_rate": zero["rate"] if zero else "-",
        "peak": int(peak["leases_per_s"]) if peak else 0,
        "peak_rate": peak["rate"] if peak else "-",
        "peak_drop": pct(int(peak["do_drops"]) + int(peak["ra_drops"]),
                         int(peak["do_sent"]) + int(peak["ra_sent"])) if peak else 0.0,
        "rss": max((float(r["rss_mib"]) for r in mine), default=0.0),
        "av": av[0] if av else None,
    }

def ratio(a, b):
    return f"{a / b:.2f}" if b else "n/a"

if any(r["mode"] == "rate" for r in rows):
    k = summary.get("kea", {})
    d = summary.get("dnsmasq", {})
    print()
    print("Summary. 0-drop = ACK rate at the highest step with no drop at all; peak = highest ACK rate")
    print("at any step (with that step's drop%); ratios are this server / kea and / dnsmasq.")
    print(f"{'server':<12} {'0-drop/s':>8} {'step':>6} {'vs kea':>6} {'vs dnsm':>7}   {'peak/s':>6} "
          f"{'step':>6} {'drop%':>5} {'vs kea':>6} {'vs dnsm':>7}   {'max RSS MiB':>11}")
    for s in servers:
        v = summary[s]
        print(f"{s:<12} {v['zero']:>8} {v['zero_rate']:>6} {ratio(v['zero'], k.get('zero', 0)):>6} "
              f"{ratio(v['zero'], d.get('zero', 0)):>7}   {v['peak']:>6} {v['peak_rate']:>6} "
              f"{v['peak_drop']:>5.1f} {ratio(v['peak'], k.get('peak', 0)):>6} "
              f"{ratio(v['peak'], d.get('peak', 0)):>7}   {v['rss']:>11.1f}")

if any(v["av"] for v in summary.values()):
    ka = (summary.get("kea") or {}).get("av")
    da = (summary.get("dnsmasq") or {}).get("av")
    print()
    print("Avalanche (perfdhcp --scenario avalanche: every client at once, then perfdhcp's back-off):")
    print(f"{'server':<12} {'clients':>7} {'seconds':>8} {'leases/s':>8} {'vs kea':>6} {'vs dnsm':>7} "
          f"{'resent':>7} {'srv sock':>8}")
    for s in servers:
        a = summary[s]["av"]
        if not a:
            continue
        lps = int(a["leases_per_s"])
        print(f"{s:<12} {a['rate']:>7} {float(a['seconds']):>8.2f} {lps:>8} "
              f"{ratio(lps, int(ka['leases_per_s']) if ka else 0):>6} "
              f"{ratio(lps, int(da['leases_per_s']) if da else 0):>7} {a['resent']:>7} {a['srv_sock']:>8}"
              + ("" if ok(a) else f"  (perfdhcp {a['perf_rc']}: timed out?)"))
EOF
}

# ---------------------------------------------------------------- main
main() {
    parse_args "$@"
    if [ -n "$REPORT_DIR" ]; then
        report "$REPORT_DIR"
        return 0
    fi
    [ "$(id -u)" -eq 0 ] || die "run as root (sudo): it creates network namespaces"
    trap cleanup EXIT
    trap 'exit 130' INT TERM

    install_missing
    PERFDHCP=$(command -v perfdhcp)
    KEA=$(command -v kea-dhcp4)
    DNSMASQ=$(command -v dnsmasq)
    WORK=$(mktemp -d /tmp/fulcrum-bench-dhcp4.XXXXXX)
    FULCRUM_DESC="-"
    has_server fulcrum && prepare_fulcrum

    RESULTS="$WORK/results.tsv"
    tr ' ' '\t' <<<"$COLUMNS_TSV" >"$RESULTS"
    local dnsmasq_mode=""
    has_server dnsmasq && dnsmasq_mode="--no-ping, --dhcp-lease-max $POOL_SIZE, --quiet-dhcp"
    has_server dnsmasq-ping && dnsmasq_mode="$dnsmasq_mode${dnsmasq_mode:+; }dnsmasq-ping: ping-before-offer ON"
    {
        echo "DHCPv4 perfdhcp benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPUs, kernel $(uname -r)"
        echo "command: bash bench/dhcp4-perfdhcp.sh$(printf ' %q' "$@")"
        echo "perfdhcp $($PERFDHCP -v 2>&1 | awk '{ print $NF; exit }'): -4 -g $PERF_THREADS -l $CLI_IP -R $CLIENTS -r RATE -p $DURATION -n RATE*$DURATION -d 1 -W 1000000 -s $SEED $SRV_IP"
        echo "  (relay mode: giaddr $CLI_IP; rates: $RATES; fresh server per step)"
        echo "pool $POOL_START-$POOL_END ($POOL_SIZE addresses) on every server, lease $LEASE_SECONDS s"
        echo "fulcrum: $FULCRUM_DESC"
        echo "kea $($KEA -v 2>&1 | head -1): memfile (persist, LFC off), single-threaded, udp sockets"
        echo "dnsmasq $($DNSMASQ -v | awk 'NR == 1 { print $3 }'): ${dnsmasq_mode:--}"
    } >"$WORK/header.txt"
    log "servers: $SERVERS; clients (-R): $CLIENTS; rates: $RATES; ${DURATION}s per step"

    local step=0 rate i n server order
    for rate in $RATES; do
        read -r -a order <<<"$SERVERS"
        n=${#order[@]}
        for i in $(seq 0 $(( n - 1 ))); do
            server=${order[$(( (i + step) % n ))]}
            if [ "$FULL_RAMP" -eq 0 ] && saturated "$server"; then
                log "rate      $server saturated at a lower step: skipping $rate/s"
                continue
            fi
            run_one rate "$rate" "$server"
        done
        step=$(( step + 1 ))
    done
    if [ "$AVALANCHE" -gt 0 ]; then
        for server in $SERVERS; do run_one avalanche "$AVALANCHE" "$server"; done
    fi
    echo
    report "$WORK"
}

# Everything runs from inside main, parsed whole before it starts, so editing
# this file while a run is under way cannot derail that run.
main "$@"; exit
