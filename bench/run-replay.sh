#!/usr/bin/env bash
# Replay on join (issue 22): how fast a room's history reaches a joining client. Builds release
# binaries, starts ivschat-server on loopback with a fresh data dir (embedded: in-memory ring +
# history.db), and runs ivschat-replaybench: a room tagged ivschat-server:history=MESSAGES and
# ivschat-server:replay=on is filled, then JOINS clients join one after the other and read the
# whole replay; the same joins into a room without our tags give the handshake alone.
#
# Usage: bench/run-replay.sh [extra ivschat-replaybench flags…]
#
# Environment:
#   MESSAGES=100 JOINS=200  replayed messages, joins measured
#   PORT=18380              the server's port
#   BUS=redis://…           also run it on a scale-out node (PostgreSQL from DATABASE_URL, this
#                           Redis), under a cluster name of its own, removed afterwards
#   DATABASE_URL=postgres://…
#   OUT=dir                 where results go (default: bench/results/replay-<timestamp>)
#   SERVER_BIN=path, REV=<git rev>, WAIT_QUIET=seconds: as in bench/lib.sh
#   CARGO_TARGET_DIR        default $HOME/.cache/ivschat-server/target
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ivschat-server/target}"
. bench/lib.sh

messages="${MESSAGES:-100}"
joins="${JOINS:-200}"
port="${PORT:-18380}"
out="${OUT:-bench/results/replay-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$out"
resolve_server "$out"
build -p ivschat-bench --bin ivschat-replaybench
bench="$CARGO_TARGET_DIR/release/ivschat-replaybench"
write_open_limits_config "$out/server.toml"

pid=""
data=""
stop() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=""; fi
  if [ -n "$data" ]; then rm -rf "$data"; data=""; fi
}
trap stop EXIT

# run LABEL [server flags…]
run() {
  local label="$1"
  shift
  data="$(mktemp -d)"
  "$server" --listen "127.0.0.1:$port" --data-dir "$data" --config "$out/server.toml" "$@" \
    >"$out/server-$label.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
    sleep 0.1
  done
  wait_quiet
  echo "== $label (machine $(machine_busy)% busy before the run)" | tee -a "$out/results.txt"
  "$bench" --endpoint "http://127.0.0.1:$port" --messages "$messages" --joins "$joins" "${EXTRA[@]}" \
    | tee -a "$out/results.txt"
  stop
}

EXTRA=("$@")
run embedded
if [ -n "${BUS:-}" ]; then
  : "${DATABASE_URL:?BUS needs DATABASE_URL}"
  cluster="replay_$(date +%s)"
  run scale-out --bus "$BUS" --database-url "$DATABASE_URL" --cluster-name "$cluster"
  psql "$DATABASE_URL" -qc "DROP SCHEMA IF EXISTS \"$cluster\" CASCADE" >/dev/null 2>&1 || true
fi
echo "results: $out/results.txt"
