#!/usr/bin/env bash
# A long fuzzing campaign over every cargo-fuzz target (fuzz/fuzz_targets),
# one target after the other, each until it has run RUNS inputs or for at
# most SECONDS. The corpus is kept between campaigns in fuzz/corpus/<target>
# (not committed; fuzz/seeds/<target> holds the committed starting points),
# so each campaign starts where the last one stopped. A crash stops the
# campaign with libFuzzer's report; the input is in fuzz/artifacts/<target>.
#
# Usage: scripts/fuzz.sh [--seconds N] [--runs N] [TARGET...]
#   --seconds N   time limit per target (default 3600)
#   --runs N      executions per target (default 10000000)
#   TARGET...     some targets only (default: all; `cargo fuzz list`)
# Prints, per target: executions, seconds, executions per second, corpus size.
# Needs the nightly toolchain and cargo-fuzz (scripts/setup.sh installs both).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../fuzz"

seconds=3600
runs=10000000
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo +nightly fuzz list)

cargo +nightly fuzz build 2>&1 | tail -n 1
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
printf '%-14s %12s %9s %10s %8s\n' target executions seconds "exec/s" corpus
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target" "artifacts/$target"
  seeds=()
  [ -d "seeds/$target" ] && seeds=("seeds/$target")
  start=$(date +%s)
  if ! cargo +nightly fuzz run "$target" "corpus/$target" ${seeds[@]+"${seeds[@]}"} \
      -- -runs="$runs" -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1; then
    echo "fuzz.sh: $target FAILED; libFuzzer's report:" >&2
    tail -n 40 "$log" >&2
    exit 1
  fi
  elapsed=$(( $(date +%s) - start ))
  # libFuzzer's final statistics: stat::number_of_executed_units
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  execs=${execs:-0}
  rate=$(( execs / (elapsed > 0 ? elapsed : 1) ))
  printf '%-14s %12s %9s %10s %8s\n' "$target" "$execs" "$elapsed" "$rate" \
    "$(find "corpus/$target" -type f | wc -l)"
done
