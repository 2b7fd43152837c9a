#!/usr/bin/env bash
# Issue 24's targets in one command: the instruction counts (bench/run-instructions.sh), then
# the fan-out, many-rooms and saturation comparisons (bench/run-compare.sh) against the floor
# and the peers, then one table: per target, ours, the floor, each peer, the ratio, met or
# not (BENCHMARKS.md's first table is this output).
#
# Usage: bench/run-targets.sh
#
# Environment (passed on to the scripts it runs):
#   RUNS=3                  rounds per comparison (medians); interleaved per round
#   SIZES="10000 15000 19000"   saturation room sizes (19,000: about what the hard limit of
#                           20,000 open files lets one process hold here; BENCHMARKS.md)
#   SERVERS="ivschat nats floor centrifugo sockudo"
#   SKIP="…"                any of: instructions fanout rooms saturation
#   OUT=dir                 default bench/results/targets-<timestamp>
#   REV=<git rev> / SERVER_BIN=path   which ivschat-server (bench/lib.sh)
# Takes about 30 minutes with RUNS=3 and SIZES="10000 19000" on the quiet 2-core machine
# (2026-12-07), about 45 with the three default sizes.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
out="${OUT:-$repo/bench/results/targets-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$out"
skip=" ${SKIP:-} "
export RUNS="${RUNS:-3}"
export SERVERS="${SERVERS:-ivschat nats floor centrifugo sockudo}"
[[ "$skip" == *" instructions "* ]] || OUT="$out/instructions" SERVERS="ivschat floor" bench/run-instructions.sh
[[ "$skip" == *" fanout "* ]] || OUT="$out/fanout" PLOTS="${PLOTS:-1}" bench/run-compare.sh fanout
[[ "$skip" == *" rooms "* ]] || OUT="$out/rooms" PLOTS="${PLOTS:-1}" bench/run-compare.sh rooms
[[ "$skip" == *" saturation "* ]] || OUT="$out/saturation" PLOTS="${PLOTS:-1}" \
  SIZES="${SIZES:-10000 15000 19000}" bench/run-compare.sh saturation
python3 bench/targets.py "$out" | tee "$out/targets.txt"
