#!/usr/bin/env bash
# The interleaved before/after rounds of BENCHMARKS.md, "Fan-out shards on their own runtime":
# per round, the server from before the change and the floor, then the server after it with
# each fan-out thread count given ([chat] fanout_threads, written by bench/lib.sh).
#
# Usage: BEFORE=<ivschat-server built at b34e88b> AFTER=<built at 2d2a73f or later> \
#          bench/run-shard-rounds.sh SCENARIO ["THREADS …"]
#   SCENARIO   fanout | rooms | saturation (bench/run-compare.sh; SIZES=19000 for saturation)
#   THREADS    fan-out thread counts to try, default "1"; the recorded runs used "2 1" (fanout)
#              and "1" (rooms, saturation)
# Environment: ROUNDS=3, OUT=dir (default bench/results/shard-rounds-SCENARIO-<timestamp>);
# the rest goes to bench/run-compare.sh. Results: OUT/base-<round>/, OUT/threads<N>-<round>/.
set -euo pipefail
scenario="${1:?usage: BEFORE=bin AFTER=bin bench/run-shard-rounds.sh SCENARIO [\"THREADS…\"]}"
threads="${2:-1}"
: "${BEFORE:?BEFORE=<ivschat-server without the shard runtime>}" "${AFTER:?AFTER=<ivschat-server with it>}"
cd "$(dirname "$0")/.."
out="${OUT:-bench/results/shard-rounds-$scenario-$(date -u +%Y%m%dT%H%M%SZ)}"
export NOISY="${NOISY:-0}" RUNS=1 PLOTS=0
for i in $(seq 1 "${ROUNDS:-3}"); do
  SERVERS="ivschat floor" SERVER_BIN="$BEFORE" OUT="$out/base-$i" bench/run-compare.sh "$scenario"
  for n in $threads; do
    FANOUT_THREADS="$n" SERVERS=ivschat SERVER_BIN="$AFTER" OUT="$out/threads$n-$i" \
      bench/run-compare.sh "$scenario"
  done
done
grep -H '^ivschat \|^floor ' "$out"/*/summary.txt
