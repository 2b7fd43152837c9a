#!/usr/bin/env bash
# Where the server's CPU goes on one control-plane operation under load: starts a release
# ivschat-server (fresh data dir, quotas raised as in run-control-plane.sh), loads it with
# ivschat-cpbench, and samples the server with `perf record` (or, with TOOL=callgrind or when
# perf is unavailable, counts its instructions with valgrind's callgrind at low load).
# Prints the top entries and keeps the raw data.
#
# Usage: bench/profile-control-plane.sh [OPERATION]   (default get-room; also create-chat-token,
#                                                      list-rooms, list-tags-for-resource, health)
# Environment: TOOL=perf|callgrind, SECONDS_=8 (sampling time), CONCURRENCY=32, PORT=18380,
#              OUT=dir (default bench/results/profile-<op>-<timestamp>), SERVER_BIN=path,
#              EXTRA_CONFIG=file (TOML appended to the server config, e.g. [[users]] with
#              policies; sign as one of them with IVSCHAT_BENCH_ACCESS_KEY/_SECRET_KEY),
#              CARGO_TARGET_DIR (default $HOME/.cache/ivschat-server/target)
set -euo pipefail

op="${1:-get-room}"
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ivschat-server/target}"
out="${OUT:-$repo/bench/results/profile-$op-$(date -u +%Y%m%dT%H%M%SZ)}"
port="${PORT:-18380}"
secs="${SECONDS_:-8}"
mkdir -p "$out"
tool="${TOOL:-perf}"
if [ "$tool" = perf ] && ! perf record -o /dev/null -- true >/dev/null 2>&1; then
  echo "perf cannot record here; using callgrind" >&2
  tool=callgrind
fi

cargo build --release --quiet -p ivschat-bench --bin ivschat-cpbench
[ -n "${SERVER_BIN:-}" ] || cargo build --release --quiet -p ivschat-server
server="${SERVER_BIN:-$CARGO_TARGET_DIR/release/ivschat-server}"
bench="$CARGO_TARGET_DIR/release/ivschat-cpbench"

config="$out/server.toml"
{
  echo "[quotas]"
  awk '/^pub struct Quotas/,/^}/' crates/server/src/config.rs \
    | sed -n 's/^ *pub \([a-z_]*_per_second\): *u[0-9]*,.*/\1 = 1000000/p'
} >"$config"
[ -z "${EXTRA_CONFIG:-}" ] || { echo; cat "$EXTRA_CONFIG"; } >>"$config"

data_dir="$(mktemp -d -t ivschat-profile-data.XXXXXX)"
server_pid=""
cleanup() {
  [ -z "$server_pid" ] || kill -TERM "$server_pid" 2>/dev/null || true
  [ -z "$server_pid" ] || wait "$server_pid" 2>/dev/null || true
  rm -rf "$data_dir"
}
trap cleanup EXIT INT TERM

if [ "$tool" = callgrind ]; then
  valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.out" \
    "$server" --listen "127.0.0.1:$port" --data-dir "$data_dir" --config "$config" \
    >"$out/server.log" 2>&1 &
else
  "$server" --listen "127.0.0.1:$port" --data-dir "$data_dir" --config "$config" \
    >"$out/server.log" 2>&1 &
fi
server_pid=$!
for _ in $(seq 1 300); do
  curl -sf "http://127.0.0.1:$port/ready" >/dev/null 2>&1 && break
  sleep 0.1
done

if [ "$tool" = callgrind ]; then
  # Instructions, not time: deterministic on a shared machine. Valgrind is ~50x slower, so
  # low concurrency; counters are zeroed after the warm-up. Note: valgrind hides SHA-NI, so
  # SHA-256 looks several times dearer than on the real CPU.
  "$bench" --endpoint "http://127.0.0.1:$port" --operation "$op" --concurrency 4 \
    --duration 1s --warmup 0s --quiet >/dev/null
  callgrind_control --zero "$server_pid" >/dev/null
  "$bench" --endpoint "http://127.0.0.1:$port" --operation "$op" --concurrency 4 \
    --duration "${secs}s" --warmup 0s --quiet --json "$out/cpbench.json" | tee "$out/cpbench.txt"
  callgrind_control --dump "$server_pid" >/dev/null
  sleep 1
  requests="$(sed -n 's/.*"requests": \([0-9]*\),.*/\1/p' "$out/cpbench.json" | head -1)"
  latest="$(ls -t "$out"/callgrind.out* | head -1)"
  callgrind_annotate --inclusive=yes "$latest" >"$out/inclusive.txt" 2>/dev/null || true
  callgrind_annotate "$latest" >"$out/self.txt" 2>/dev/null || true
  total="$(sed -n 's/^ *\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' "$out/self.txt" | tr -d ,)"
  echo
  echo "== $op: ${total:-?} instructions for ${requests:-?} requests ($( [ -n "${total:-}" ] && [ -n "${requests:-}" ] && echo $((total / requests)) || echo ?) per request)"
  echo "== top functions, inclusive ($out/inclusive.txt)"
  grep -E '^ *[0-9,]+ \(' "$out/inclusive.txt" | grep -vE 'tokio::|hyper::|std::|core::ops|axum::|tower::|futures_util::|start_thread|__rust_begin' \
    | head -40 | cut -c1-180
else
  "$bench" --endpoint "http://127.0.0.1:$port" --operation "$op" --concurrency "${CONCURRENCY:-32}" \
    --duration "$((secs + 2))s" --warmup 1s --server-pid "$server_pid" --quiet \
    --json "$out/cpbench.json" >"$out/cpbench.txt" &
  bench_pid=$!
  sleep 1.5
  perf record -F 1999 -g -p "$server_pid" -o "$out/perf.data" -- sleep "$secs" 2>"$out/perf-record.txt" >/dev/null
  wait "$bench_pid" || true
  cat "$out/cpbench.txt"
  perf report -i "$out/perf.data" --no-children --sort comm,dso -g none --stdio 2>/dev/null \
    | grep '%' >"$out/by-thread-and-object.txt" || true
  perf report -i "$out/perf.data" --no-children --sort symbol -g none --stdio 2>/dev/null \
    | grep '%' | cut -c1-160 >"$out/by-symbol.txt" || true
  echo
  echo "== $op: server samples by thread and object ($out/by-thread-and-object.txt)"
  head -10 "$out/by-thread-and-object.txt"
  echo "== top symbols, self time ($out/by-symbol.txt)"
  head -40 "$out/by-symbol.txt"
fi
# One log line per request: keep the start only.
log="$out/server.log"
if [ "$(wc -c <"$log")" -gt 1000000 ]; then head -c 200000 "$log" >"$log.head" && mv "$log.head" "$log"; fi
