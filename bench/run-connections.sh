#!/usr/bin/env bash
# Connections: how many chat connections one node holds, what each costs in server memory, and
# how fast they open (CreateChatToken, then the WebSocket handshake).
#
# Usage: bench/run-connections.sh [extra ivschat-bench flags…]
#
# Each run starts a fresh ivschat-server (fresh data dir, quotas and listener limits opened up
# for the bench), opens CONNS connections spread over ROOMS rooms (with CONCURRENCY token mints
# and handshakes in flight), keeps them open with light traffic (1 message/s per room, 200 B)
# for DURATION, then closes them. The bench reads the server's VmRSS from /proc before and after.
#
# Environment:
#   CONNS=auto        connections (auto: the issue's 100,000, capped by the open-files limit:
#                     each connection holds one descriptor in the server and one in the bench)
#   ROOMS=100         rooms (connections are spread round-robin)
#   CONCURRENCY=500   --connect-concurrency
#   DURATION=5s       how long the connections stay open (with 1 msg/s per room)
#   RUNS=3            repetitions (a fresh server each), medians at the end
#   SOURCE_IPS=auto   --source-ips (auto: one 127.0.0.x per 16,000 connections)
#   PORT=19500        first port; each run takes the next one
#   OUT=dir           default bench/results/connections-<timestamp>
#   SERVER_BIN=path   use this server binary; REV=<commit> builds that commit (bench/lib.sh);
#                     default: the work tree, built with cargo build --release
#   CARGO_TARGET_DIR  default $HOME/.cache/ivschat-server/target
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ivschat-server/target}"
. "$repo/bench/lib.sh"
runs="${RUNS:-3}"
rooms="${ROOMS:-100}"
port="${PORT:-19500}"
out="${OUT:-$repo/bench/results/connections-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$out"

# One descriptor per connection on each side, plus some for the server's own files.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
fd_limit="$(ulimit -n)"
conns="${CONNS:-auto}"
if [ "$conns" = auto ]; then
  conns=100000
  max=$((fd_limit - 600))   # the bench wants connections + 512 descriptors
  if [ "$conns" -gt "$max" ]; then
    echo "open-files limit is $fd_limit (hard $(ulimit -Hn)) and cannot be raised here: using $max connections instead of 100,000" >&2
    conns=$max
  fi
fi
source_ips="${SOURCE_IPS:-auto}"
[ "$source_ips" = auto ] && source_ips=$(( (conns + 15999) / 16000 ))

resolve_server "$out"
build -p ivschat-bench
bench="$CARGO_TARGET_DIR/release/ivschat-bench"

server_pid=""
tmp="$(mktemp -d)"
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

write_open_limits_config "$tmp/bench.toml"

echo "connections: $conns in $rooms rooms, $source_ips source address(es), $runs run(s); results in $out" >&2
jsons=()
for i in $(seq 1 "$runs"); do
  p=$((port + i))
  rm -rf "$tmp/data"
  "$server" --listen "127.0.0.1:$p" --data-dir "$tmp/data" --config "$tmp/bench.toml" \
    >"$out/server-$i.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 200); do
    curl -sf "http://127.0.0.1:$p/ready" >/dev/null 2>&1 && break
    sleep 0.05
  done
  "$bench" --endpoint "http://127.0.0.1:$p" --server-pid "$server_pid" \
    --connections "$conns" --rooms "$rooms" --senders-per-room 1 --rate-per-room 1 \
    --message-bytes 200 --duration "${DURATION:-5s}" --warmup 1s \
    --connect-concurrency "${CONCURRENCY:-500}" --connect-timeout 300s \
    --source-ips "$source_ips" --label "connections run $i" --json "$out/run-$i.json" "$@" \
    >"$out/run-$i.txt" 2>"$out/run-$i.log" || echo "run $i: ivschat-bench exited $?" >&2
  cat "$out/run-$i.txt"
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
  [ -f "$out/run-$i.json" ] && jsons+=("$out/run-$i.json")
done
[ "${#jsons[@]}" -gt 0 ] || { echo "no run produced results" >&2; exit 1; }
"$bench" --summarize "${jsons[@]}" | tee "$out/median.txt"
