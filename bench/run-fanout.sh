#!/usr/bin/env bash
# Builds release binaries, starts ivschat-server on loopback with a fresh data dir, runs
# ivschat-bench for a scenario, stops the server and prints the table. With RUNS>1 it repeats
# the whole thing (a fresh server each time) and prints the medians.
#
# Usage: bench/run-fanout.sh SCENARIO [extra ivschat-bench flags…]
#   fanout-1k   1 room, 1,000 connections (10 of them send), 100 msg/s, 200 B, 10 s
#   rooms-100   100 rooms, 10,000 connections (1 sender each), 10 msg/s per room, 200 B, 10 s
#   fanout-10k  1 room, 10,000 connections (10 of them send), 100 msg/s, 200 B, 10 s
#   custom      only the flags you pass
#
# Environment:
#   RUNS=3              repetitions (each with a new server and data dir), medians at the end
#   PORT=18080          first port; each attempt uses the next one (no TIME_WAIT reuse)
#   OUT=dir             where results go (default: bench/results/<scenario>-<timestamp>)
#   REV=<git rev>       build the server from this committed revision (git archive into a
#                       cache dir) instead of the work tree: reproducible figures while others
#                       edit the tree. Built in its own target dir ($CARGO_TARGET_DIR-rev).
#   SERVER_BIN=path     use this server binary, build none
#   WAIT_QUIET=600      before each run, wait up to this many seconds for the machine to be
#                       quiet (<25% busy over 3 s; it is shared with other people's builds)
#   NOISY=25            a run during which other processes used more than this % of a core is
#                       repeated (up to TRIES=3 times; the noisy results are kept as
#                       noisy-*.json and left out of the medians). NOISY=0 keeps every run.
#   IVSCHAT_LOG=…       server log filter (default: the server's default, info)
#   CARGO_TARGET_DIR    default $HOME/.cache/ivschat-server/target
set -euo pipefail

scenario="${1:-}"
[ -n "$scenario" ] || { sed -n '2,/^set -euo/p' "$0" | grep '^#'; exit 2; }
shift
case "$scenario" in
  fanout-1k)  flags=(--connections 1000 --rooms 1 --senders-per-room 10 --rate-per-room 100 --message-bytes 200 --duration 10s --warmup 2s) ;;
  rooms-100)  flags=(--connections 10000 --rooms 100 --senders-per-room 1 --rate-per-room 10 --message-bytes 200 --duration 10s --warmup 2s) ;;
  fanout-10k) flags=(--connections 10000 --rooms 1 --senders-per-room 10 --rate-per-room 100 --message-bytes 200 --duration 10s --warmup 2s) ;;
  custom)     flags=() ;;
  *) echo "unknown scenario: $scenario" >&2; exit 2 ;;
esac
flags+=("$@")

repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ivschat-server/target}"
. "$repo/bench/lib.sh"
runs="${RUNS:-1}"
port="${PORT:-18080}"
out="${OUT:-$repo/bench/results/$scenario-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$out"

# Each side needs one descriptor per connection; raise the soft limit to the hard one.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
echo "ulimit -n: $(ulimit -n)" >&2


build -p ivschat-bench
bench="$CARGO_TARGET_DIR/release/ivschat-bench"

resolve_server "$out"

server_pid=""
data_dir=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  server_pid=""
  [ -z "$data_dir" ] || rm -rf "$data_dir" "$data_dir.toml"
  data_dir=""
}
trap cleanup EXIT INT TERM


jsons=()
status=0
run_once() { # $1 = run number, $2 = port; writes $out/run-$1.*
  local i="$1" p="$2"
  wait_quiet
  data_dir="$(mktemp -d -t ivschat-bench-data.XXXXXX)"
  # All connections come from one address: lift the listener's per-address and total
  # connection limits and the account's connection quota (the defaults would refuse the
  # 10,000th connection, since the bench's control-plane connections count too).
  write_open_limits_config "$data_dir.toml"
  "$server" --listen "127.0.0.1:$p" --data-dir "$data_dir" --config "$data_dir.toml" \
    >"$out/server-$i.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && break
    kill -0 "$server_pid" 2>/dev/null || { echo "server exited; see $out/server-$i.log" >&2; exit 1; }
    sleep 0.1
  done
  echo "== run $i/$runs: $scenario on 127.0.0.1:$p (server pid $server_pid)" >&2
  "$bench" --endpoint "http://127.0.0.1:$p" --server-pid "$server_pid" \
    --label "$scenario run $i" --json "$out/run-$i.json" "${flags[@]}" \
    | tee "$out/table-$i.txt" || status=$?
  cleanup
  # The start-up notice about the default dev key is expected; anything else is worth a look.
  notable() { grep -E ' (WARN|ERROR) ' "$out/server-$i.log" | grep -v 'no credentials configured' || true; }
  echo "server log: $(notable | grep -c ' WARN ' || true) WARN, $(notable | grep -c ' ERROR ' || true) ERROR lines ($out/server-$i.log)"
  notable | sed -E 's/^[^ ]+ +//' | cut -c1-160 | sort | uniq -c | sort -rn | head -5
}

# Other processes' CPU during the measurement (% of a core), from a result file.
others_of() {
  sed -n 's/.*"others_pct_of_core": \([0-9.]*\).*/\1/p' "$1" 2>/dev/null | head -1 | cut -d. -f1
}

jsons=()
status=0
attempt=0
for i in $(seq 1 "$runs"); do
  tries=0
  while :; do
    attempt=$((attempt + 1))
    tries=$((tries + 1))
    run_once "$i" $((port + attempt - 1))
    others="$(others_of "$out/run-$i.json")"
    limit="${NOISY:-25}"
    if [ "$limit" -gt 0 ] && [ -n "$others" ] && [ "$others" -gt "$limit" ] && [ "$tries" -lt "${TRIES:-3}" ]; then
      echo "run $i: other processes used ${others}% of a core during the measurement; repeating it" >&2
      for f in run table server; do
        ext=json; [ "$f" = run ] || ext=txt; [ "$f" = server ] && ext=log
        [ -f "$out/$f-$i.$ext" ] && mv "$out/$f-$i.$ext" "$out/noisy-$f-$i-$tries.$ext"
      done
      sleep 5
      continue
    fi
    break
  done
  jsons+=("$out/run-$i.json")
  [ "$i" -lt "$runs" ] && sleep 2
done

if [ "$runs" -gt 1 ]; then
  echo
  echo "== $scenario: medians over $runs runs (results in $out)"
  "$bench" --summarize "${jsons[@]}" | tee "$out/median.txt"
fi
exit "$status"
