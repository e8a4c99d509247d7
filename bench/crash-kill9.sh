#!/usr/bin/env bash
# Crash safety at length: Fulcrum under DHCP load, API writes and annealing
# deployments, killed with SIGKILL at N random moments (default 60),
# restarted each time on the same data dir and checked (every acknowledged
# lease, node and bootenv write there, no address held twice, no run lost
# or run twice, no noderole in an impossible state; at the end everything
# converges). The suite runs the same test with 6 kills.
#
#   bash bench/crash-kill9.sh [--kills N] [--seed S]
#
# Loopback only; no root needed. Prints one line per kill and a summary.
set -euo pipefail
cd "$(dirname "$0")/.."
kills=60 seed=""
while (($#)); do
  case $1 in
    --kills) kills=$2; shift 2;;
    --seed) seed=$2; shift 2;;
    *) echo "usage: $0 [--kills N] [--seed S]" >&2; exit 2;;
  esac
done
export FULCRUM_CRASH_ROUNDS=$kills
[[ -n $seed ]] && export FULCRUM_CRASH_SEED=$seed
exec cargo test --release --test it -- --exact crash::kill_9_at_random_moments_loses_nothing --nocapture
