#!/usr/bin/env bash
# Annealer benchmark: 10,000 nodes x 5 noop roles (50,000 noderoles).
# Measures time from commit to all ACTIVE, durable transitions per second
# and Fulcrum's peak RSS, and checks the invariants (one run per node, cap
# respected, parents before children) from the persisted run log.
#
#   bash bench/engine-annealer.sh [--nodes N] [--cap C] [--fulcrum BIN]
#
# Fulcrum is built with `cargo build --release` unless --fulcrum BIN names
# a binary (to measure an older build in the same session).
#
# Runs a release build on loopback (127.0.0.1, a free high port); DHCP and
# TFTP are off. No peer: OpenCrowbar's annealer needs its Rails/PostgreSQL
# stack, which cannot be installed from this machine's registries.
set -euo pipefail
cd "$(dirname "$0")/.."
nodes=10000 cap=10 bin=""
while [[ $# -gt 0 ]]; do
  case $1 in
    --nodes) nodes=$2; shift 2;;
    --cap) cap=$2; shift 2;;
    --fulcrum) bin=$2; shift 2;;
    *) echo "unknown argument $1" >&2; exit 2;;
  esac
done
if [[ -z $bin ]]; then
  cargo build --release --quiet
  bin=target/release/fulcrum
fi
dir=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
# Builds with a TLS operator API ([api]) get it on a port of its own.
api="http://127.0.0.1:$port"
api_section=""
if "$bin" --help | grep -q -- --tls-fingerprint; then
  api_port=$(free_port)
  api="https://127.0.0.1:$api_port"
  api_section=$'[api]\nlisten = "127.0.0.1:'"$api_port"'"'
fi
cat > "$dir/fulcrum.toml" <<TOML
data_dir = "$dir/data"
[http]
listen = "127.0.0.1:$port"
[dhcp]
enabled = false
[dns]
enabled = false
[tftp]
enabled = false
[engine]
max_concurrent_runs = $cap
$api_section
TOML
FULCRUM_LOG=warn "$bin" serve --config "$dir/fulcrum.toml" > "$dir/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
# Builds with API tokens wrote the first admin token at start; older ones
# take none.
token=$(cat "$dir/data/admin.token" 2>/dev/null || true)
cacert=()
[[ -f $dir/data/tls/cert.pem ]] && cacert=(--cacert "$dir/data/tls/cert.pem")
result=$(python3 bench/engine_annealer.py --api "$api" --nodes "$nodes" --cap "$cap" ${token:+--token "$token"} "${cacert[@]}")
rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
disk=$(du -sk "$dir/data" | cut -f1)
echo "$result" | python3 -c "
import json, sys
r = json.loads(sys.stdin.read())
r['peak_rss_mib'] = round($rss / 1024, 1)
r['store_mib'] = round($disk / 1024, 1)
print(json.dumps(r, indent=1))
"
