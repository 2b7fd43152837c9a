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
out="${OUT:-$repo/bench/results/footprint-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$out"

build() {
  local tries=0
  until cargo build --release --quiet "$@"; do
    tries=$((tries + 1))
    [ "$tries" -lt 5 ] || { echo "build failed $tries times: $*" >&2; return 1; }
    echo "build failed (someone's edit in progress?); retrying in 60 s" >&2
    sleep 60
  done
}

build -p ivschat-bench --bin ivschat-footprint
cp "$CARGO_TARGET_DIR/release/ivschat-footprint" "$out/ivschat-footprint"

if [ -n "${SERVER_BIN:-}" ]; then
  server="$SERVER_BIN"
  server_rev="prebuilt $SERVER_BIN"
elif [ -n "${REV:-}" ]; then
  sha="$(git rev-parse --verify "$REV^{commit}")"
  src="$HOME/.cache/ivschat-server/bench-src/$sha"
  if [ ! -f "$src/Cargo.toml" ]; then
    mkdir -p "$src"
    git archive "$sha" | tar -x -C "$src"
  fi
  (cd "$src" && CARGO_TARGET_DIR="$CARGO_TARGET_DIR-rev" build -p ivschat-server)
  server="$CARGO_TARGET_DIR-rev/release/ivschat-server"
  server_rev="$sha (git archive)"
else
  build -p ivschat-server
  cp "$CARGO_TARGET_DIR/release/ivschat-server" "$out/ivschat-server"
  server="$out/ivschat-server"
  server_rev="$(git rev-parse HEAD) + work tree ($(git status --porcelain -- crates | wc -l) changed paths under crates/)"
fi
echo "server: $server_rev" | tee "$out/server-rev.txt" >&2
ls -l "$server" | awk '{print "server binary: " $5 " bytes"}' | tee -a "$out/server-rev.txt" >&2

if [ "${WAIT_QUIET:-0}" -gt 0 ]; then
  waited=0
  while :; do
    a=($(head -1 /proc/stat)); sleep 3; b=($(head -1 /proc/stat))
    idle=$(( (b[4] + b[5]) - (a[4] + a[5]) )); total=0
    for k in 1 2 3 4 5 6 7 8; do total=$(( total + b[k] - a[k] )); done
    busy=$(( total > 0 ? 100 * (total - idle) / total : 0 ))
    [ "$busy" -ge 25 ] || break
    waited=$((waited + 10))
    [ "$waited" -lt "$WAIT_QUIET" ] || { echo "machine still ${busy}% busy; running anyway" >&2; break; }
    echo "machine ${busy}% busy (someone else's work); waiting" >&2
    sleep 7
  done
fi

"$out/ivschat-footprint" --server-bin "$server" --runs "${RUNS:-5}" --idle-s "${IDLE:-5}" \
  --poll-interval-us "${POLL_US:-1000}" --port "${PORT:-18480}" --log-dir "$out/logs" \
  --json "$out/footprint.json" -- "$@" | tee "$out/footprint.txt"
