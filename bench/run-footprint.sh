#!/usr/bin/env bash
# Footprint: start-to-ready time and idle memory of ivschat-server. Builds release binaries,
# then ivschat-footprint starts the server RUNS times with a fresh data dir and RUNS times with
# an existing one, polling GET /ready every POLL_US µs from the moment it spawns the process,
# reads VmRSS/VmHWM right after ready and after IDLE seconds, prints a table of medians and
# writes JSON.
#
# Usage: bench/run-footprint.sh [extra server flags…]
#
# Environment:
#   RUNS=5              starts of each kind
#   IDLE=5              seconds idle before the second memory reading
#   POLL_US=1000        readiness probe interval, µs
#   PORT=18480          first port; each start uses the next one
#   OUT=dir             where results go (default: bench/results/footprint-<timestamp>)
#   REV=<git rev>       build the server from this committed revision (git archive)
#   SERVER_BIN=path     use this server binary, build none
#   WAIT_QUIET=600      wait up to this many seconds for the machine to be quiet first
#   CARGO_TARGET_DIR    default $HOME/.cache/ivschat-server/target
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ivschat-server/target}"
. "$repo/bench/lib.sh"
out="${OUT:-$repo/bench/results/footprint-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$out"


build -p ivschat-bench --bin ivschat-footprint
cp "$CARGO_TARGET_DIR/release/ivschat-footprint" "$out/ivschat-footprint"

resolve_server "$out"
ls -l "$server" | awk '{print "server binary: " $5 " bytes"}' | tee -a "$out/server-rev.txt" >&2

wait_quiet

"$out/ivschat-footprint" --server-bin "$server" --runs "${RUNS:-5}" --idle-s "${IDLE:-5}" \
  --poll-interval-us "${POLL_US:-1000}" --port "${PORT:-18480}" --log-dir "$out/logs" \
  --json "$out/footprint.json" -- "$@" | tee "$out/footprint.txt"
