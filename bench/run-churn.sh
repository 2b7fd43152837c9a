#!/usr/bin/env bash
# Churn: does the server's memory come back after connections come and go? Starts a fresh
# ivschat-server (embedded default: SQLite, in-process fan-out) and runs ivschat-churn against
# it: CYCLES cycles of CONNS connections (each mints a single-use token, opens the WebSocket,
# sends MESSAGES requests and waits for their answers, closes), then IDLE seconds with no
# traffic. Prints the server's VmRSS after every cycle and while idle, and a summary line.
#
# Usage: bench/run-churn.sh [extra ivschat-churn flags…]
#
# Environment:
#   CONNS=5000          connections per cycle
#   CYCLES=200          cycles (200 × 5,000 = 1,000,000 connections; ~3,000/s on 2 cores)
#   CONCURRENCY=200     connections in flight at once
#   MESSAGES=2          SEND_MESSAGE requests per connection
#   IDLE=120            seconds idle after the last cycle (VmRSS read every 10 s)
#   MALLOC_ARENA_MAX    passed to the server as set (issue 26 measured with 1); unset: glibc's
#                       default (8 arenas per core)
#   PORT=19700          the server's port
#   OUT=dir             default bench/results/churn-<timestamp>
#   SERVER_BIN=path     use this server binary; REV=<commit> builds that commit (bench/lib.sh);
#                       default: the work tree, built with cargo build --release
#   CHURN_BIN=path      use this ivschat-churn binary instead of building it
#   CARGO_TARGET_DIR    default $HOME/.cache/ivschat-server/target
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ivschat-server/target}"
. "$repo/bench/lib.sh"
port="${PORT:-19700}"
out="${OUT:-$repo/bench/results/churn-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$out"

resolve_server "$out"
if [ -n "${CHURN_BIN:-}" ]; then
  churn="$CHURN_BIN"
else
  build -p ivschat-bench --bin ivschat-churn
  churn="$CARGO_TARGET_DIR/release/ivschat-churn"
fi

server_pid=""
tmp="$(mktemp -d)"
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

write_open_limits_config "$tmp/bench.toml"
echo "MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX:-(unset)}" | tee -a "$out/server-rev.txt" >&2
"$server" --listen "127.0.0.1:$port" --data-dir "$tmp/data" --config "$tmp/bench.toml" \
  >"$out/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 200); do
  curl -sf "http://127.0.0.1:$port/ready" >/dev/null 2>&1 && break
  sleep 0.05
done

status=0
"$churn" --endpoint "http://127.0.0.1:$port" --server-pid "$server_pid" \
  --connections "${CONNS:-5000}" --cycles "${CYCLES:-200}" --concurrency "${CONCURRENCY:-200}" \
  --messages "${MESSAGES:-2}" --idle "${IDLE:-120}" --json "$out/churn.json" "$@" \
  | tee "$out/churn.txt" || status=$?
grep -E "VmRSS|VmHWM|RssAnon|RssFile" "/proc/$server_pid/status" | tee "$out/server-status.txt" || true
exit "$status"
