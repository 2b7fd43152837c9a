#!/usr/bin/env bash
# Control-plane throughput: builds release binaries, starts ivschat-server on loopback with a
# fresh data dir and the account rate quotas raised, and runs ivschat-cpbench (closed loop,
# SigV4-signed HTTP/1.1 keep-alive) on CreateChatToken and GetRoom. Repeats RUNS times (a new
# server each time), prints a table of medians and writes every result as JSON.
#
# Usage: bench/run-control-plane.sh [extra ivschat-cpbench flags…]
#
# Environment:
#   RUNS=3              repetitions (each with a new server and data dir)
#   OPS="create-chat-token get-room"   operations, each run does all of them on its server
#   CONCURRENCY=32      connections (one request in flight each)
#   DURATION=10s WARMUP=2s
#   THREADS=1           generator worker threads (the server keeps its default: one per CPU)
#   SIGNER=fast         fast | aws-sigv4 (see ivschat-cpbench --help)
#   PORT=18280          first port; each run uses the next one
#   OUT=dir             where results go (default: bench/results/control-plane-<timestamp>)
#   REV=<git rev>       build the server from this committed revision (git archive) instead of
#                       the work tree, in its own target dir ($CARGO_TARGET_DIR-rev)
#   SERVER_BIN=path     use this server binary, build none
#   WAIT_QUIET=600      before each run, wait up to this many seconds for the machine to be
#                       quiet (<25% busy over 3 s; it is shared with other people's builds)
#   NOISY=25            a run during which other processes used more than this % of a core is
#                       repeated (up to TRIES=3 times; noisy results kept as noisy-*.json and
#                       left out of the medians). NOISY=0 keeps every run.
#   EXTRA_CONFIG=file   TOML appended to the generated server config (e.g. [[credentials]] and
#                       [[users]] with IAM policies); sign with another key through
#                       IVSCHAT_BENCH_ACCESS_KEY / IVSCHAT_BENCH_SECRET_KEY (ivschat-cpbench)
#   IVSCHAT_LOG=…       server log filter (default: the server's default, info: one line per
#                       control-plane request, written to a file)
#   CARGO_TARGET_DIR    default $HOME/.cache/ivschat-server/target
#
# Quotas: the server's account rate quotas (the `[quotas]` table, `*_per_second` keys) are
# raised to 1,000,000 through a TOML file passed with --config; quotas are configurable only
# in that file (or IVSCHAT_CONFIG). Without this, rate-limited operations answer 429.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ivschat-server/target}"
. "$repo/bench/lib.sh"
runs="${RUNS:-3}"
ops="${OPS:-create-chat-token get-room}"
port="${PORT:-18280}"
out="${OUT:-$repo/bench/results/control-plane-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$out"
flags=(--concurrency "${CONCURRENCY:-32}" --duration "${DURATION:-10s}" --warmup "${WARMUP:-2s}"
       --threads "${THREADS:-1}" --signer "${SIGNER:-fast}" --quiet "$@")


build -p ivschat-bench --bin ivschat-cpbench
cp "$CARGO_TARGET_DIR/release/ivschat-cpbench" "$out/ivschat-cpbench"
bench="$out/ivschat-cpbench"

resolve_server "$out"

# Every `*_per_second` member of the server's Quotas struct, raised.
config="$out/server.toml"
{
  echo "[quotas]"
  awk '/^pub struct Quotas/,/^}/' "$src/crates/server/src/config.rs" \
    | sed -n 's/^ *pub \([a-z_]*_per_second\): *u[0-9]*,.*/\1 = 1000000/p'
} >"$config"
[ -z "${EXTRA_CONFIG:-}" ] || { echo; cat "$EXTRA_CONFIG"; } >>"$config"
echo "quotas raised ($config): $(grep -c per_second "$config") *_per_second keys" >&2

server_pid=""
data_dir=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  server_pid=""
  [ -z "$data_dir" ] || rm -rf "$data_dir"
  data_dir=""
}
trap cleanup EXIT INT TERM


start_server() { # $1 = port, $2 = log file
  data_dir="$(mktemp -d -t ivschat-cpbench-data.XXXXXX)"
  "$server" --listen "127.0.0.1:$1" --data-dir "$data_dir" --config "$config" >"$2" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 200); do
    curl -sf "http://127.0.0.1:$1/ready" >/dev/null 2>&1 && return 0
    kill -0 "$server_pid" 2>/dev/null || { echo "server exited; see $2" >&2; exit 1; }
    sleep 0.05
  done
  echo "server not ready after 10 s; see $2" >&2
  exit 1
}

others_of() { # other processes' CPU during the window (% of a core), from a result file
  sed -n 's/.*"others_pct_of_core": \([0-9.]*\).*/\1/p' "$1" 2>/dev/null | head -1 | cut -d. -f1
}

jsons=()
status=0
attempt=0
for i in $(seq 1 "$runs"); do
  for op in $ops; do
    tries=0
    while :; do
      attempt=$((attempt + 1))
      tries=$((tries + 1))
      p=$((port + attempt - 1))
      wait_quiet
      start_server "$p" "$out/server-$op-$i.log"
      echo "== run $i/$runs: $op on 127.0.0.1:$p (server pid $server_pid)" >&2
      "$bench" --endpoint "http://127.0.0.1:$p" --server-pid "$server_pid" --operation "$op" \
        --label "run $i" --json "$out/$op-$i.json" "${flags[@]}" \
        | tee "$out/table-$op-$i.txt" || status=$?
      cleanup
      errors="$(grep -E ' (WARN|ERROR) ' "$out/server-$op-$i.log" | grep -v 'no credentials configured' | grep -vc 'no Lambda endpoint configured' || true)"
      [ "$errors" -eq 0 ] || echo "server log: $errors WARN/ERROR lines ($out/server-$op-$i.log)" >&2
      others="$(others_of "$out/$op-$i.json")"
      limit="${NOISY:-25}"
      if [ "$limit" -gt 0 ] && [ -n "$others" ] && [ "$others" -gt "$limit" ] && [ "$tries" -lt "${TRIES:-3}" ]; then
        echo "run $i $op: other processes used ${others}% of a core; repeating it" >&2
        mv "$out/$op-$i.json" "$out/noisy-$op-$i-$tries.json"
        sleep 5
        continue
      fi
      break
    done
    jsons+=("$out/$op-$i.json")
    # Per-request log lines can be large; keep the first ones only.
    log="$out/server-$op-$i.log"
    if [ "$(wc -c <"$log")" -gt 1000000 ]; then head -c 200000 "$log" >"$log.head" && mv "$log.head" "$log"; fi
  done
done

echo
echo "== control plane: medians over $runs run(s) (results in $out)"
"$bench" --summarize "${jsons[@]}" --json "$out/medians.json" | tee "$out/medians.txt"
exit "$status"
