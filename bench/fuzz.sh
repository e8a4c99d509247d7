#!/usr/bin/env bash
# Runs every fuzz target (fuzz/, entry points in src/fuzzing.rs) for RUNS
# executions each (default 10 million), from the committed seed corpora
# (real client packets), with debug assertions on, on the stable toolchain
# (RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its -Z flags). New inputs go to
# a scratch corpus, crashes to fuzz/artifacts/<target>/. Prints, per target,
# libFuzzer's executions, speed and coverage, and fails if any crashed.
#
#   bash bench/fuzz.sh                 # cargo install cargo-fuzz first
#   RUNS=1000000 TARGETS="tftp" bash bench/fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-10000000}
TARGETS=${TARGETS:-"dhcp4 dhcp6 tftp boot_http dns"}
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null || { echo "fuzz: cargo install cargo-fuzz" >&2; exit 1; }
cargo fuzz build -s none -a --fuzz-dir fuzz
# Run the binaries just built (cargo fuzz run would rebuild on any edit).
bins=fuzz/target/$(rustc -vV | awk '/^host:/ {print $2}')/release
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failed=0
for t in $TARGETS; do
  mkdir -p "$scratch/$t" "fuzz/artifacts/$t"
  log="$scratch/$t.log"
  start=$SECONDS
  if ! "$bins/$t" -artifact_prefix="fuzz/artifacts/$t/" -runs="$RUNS" -print_final_stats=1 -max_len=4096 \
      "$scratch/$t" "fuzz/corpus/$t" >"$log" 2>&1; then
    failed=1
    echo "fuzz: $t CRASHED; the input is in fuzz/artifacts/$t/:"
    grep -E "panicked|SUMMARY|Test unit written" "$log" || tail -20 "$log"
  fi
  runs=$(awk '/stat::number_of_executed_units/ {print $2}' "$log")
  speed=$(awk '/stat::average_exec_per_sec/ {print $2}' "$log")
  cov=$(grep -oE "cov: [0-9]+ ft: [0-9]+" "$log" | tail -1)
  echo "fuzz: $t: ${runs:-?} executions in $((SECONDS - start)) s (${speed:-?}/s), $cov, corpus $(ls "$scratch/$t" | wc -l) inputs"
done
exit "$failed"
