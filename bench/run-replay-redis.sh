#!/usr/bin/env bash
# Scale-out replay reads (issue 22): the Redis work of a replaying join, counted by Redis.
# Starts a private redis-server (loopback, free port, no persistence, temp dir) and one
# scale-out node on it (PostgreSQL from DATABASE_URL, a cluster name of its own, dropped
# afterwards), then runs ivschat-replaybench --redis-url: a room tagged
# ivschat-server:history=MESSAGES and replay=on is filled, and JOINS clients join one after the
# other, reading their replay, between two `redis-cli INFO` readings. Once per SINCE_LAST value:
# 0 is a whole replay, K a join with ?ivschat-server-since=<Id of the K+1-th last message>.
# Counts, not times: debug binaries do (the Redis side is the same code).
#
# Usage: bench/run-replay-redis.sh
#
# Environment:
#   DATABASE_URL=postgres://…   required
#   SERVER_BIN=path             default $CARGO_TARGET_DIR/debug/ivschat-server
#   BENCH_BIN=path              default $CARGO_TARGET_DIR/debug/ivschat-replaybench
#                               (cargo build -p ivschat-bench --bin ivschat-replaybench)
#   MESSAGES=1000 JOINS=20 SINCE_LAST="0 10" PORT=18381
#   OUT=file                    results are appended there too
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
: "${DATABASE_URL:?DATABASE_URL must name a PostgreSQL}"
target="${CARGO_TARGET_DIR:-$HOME/.cache/ivschat-server/target}"
server="${SERVER_BIN:-$target/debug/ivschat-server}"
bench="${BENCH_BIN:-$target/debug/ivschat-replaybench}"
messages="${MESSAGES:-1000}"
joins="${JOINS:-20}"
port="${PORT:-18381}"
out="${OUT:-/dev/null}"

work="$(mktemp -d)"
redis_pid=""
node_pid=""
cluster="replayredis_$$_$(date +%s)"
stop() {
  if [ -n "$node_pid" ]; then kill "$node_pid" 2>/dev/null || true; wait "$node_pid" 2>/dev/null || true; fi
  if [ -n "$redis_pid" ]; then kill "$redis_pid" 2>/dev/null || true; wait "$redis_pid" 2>/dev/null || true; fi
  psql "$DATABASE_URL" -qc "DROP SCHEMA IF EXISTS \"$cluster\" CASCADE" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap stop EXIT

redis_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" \
  >"$work/redis.log" 2>&1 &
redis_pid=$!
for _ in $(seq 1 100); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
redis_url="redis://127.0.0.1:$redis_port"

printf '[quotas]\nconcurrent_connections = 10000000\n[limits]\nmax_connections = 0\nmax_connections_per_ip = 0\n' \
  >"$work/server.toml"
"$server" --listen "127.0.0.1:$port" --data-dir "$work/data" --config "$work/server.toml" \
  --bus "$redis_url" --database-url "$DATABASE_URL" --cluster-name "$cluster" \
  >"$work/server.log" 2>&1 &
node_pid=$!
for _ in $(seq 1 300); do curl -fsS "http://127.0.0.1:$port/ready" >/dev/null 2>&1 && break; sleep 0.1; done

echo "== server $server ($(stat -c %y "$server" | cut -d. -f1)), Redis $(redis-server --version | awk '{print $3}')" | tee -a "$out"
for k in ${SINCE_LAST:-0 10}; do
  "$bench" --endpoint "http://127.0.0.1:$port" --messages "$messages" --joins "$joins" \
    --since-last "$k" --redis-url "$redis_url" | tee -a "$out"
done
