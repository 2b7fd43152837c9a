#!/usr/bin/env bash
# The same fan-out workload, in the same run and with identical load flags, on three set-ups:
#   embedded  one node, SQLite, in-memory fan-out (the baseline);
#   bus       one node on PostgreSQL + Redis (--bus): the node receives its own messages back
#             through Redis, so (bus − embedded) is what the bus costs;
#   cluster   three nodes on PostgreSQL + Redis, the senders on node 1 and the receivers spread
#             over nodes 2 and 3, so every delivery crosses Redis from one process to another.
# The set-ups are interleaved (embedded, bus, cluster, embedded, bus, cluster, …). Each run gets
# fresh data dirs and a fresh --cluster-name (PostgreSQL schema + Redis key prefix), dropped
# afterwards. Prints a table of medians and writes JSON to bench/results/cluster-<scenario>-<time>/.
#
# Usage: bench/run-cluster.sh SCENARIO [extra ivschat-bench flags…]
#   fanout-1k   1 room, 1,000 connections (10 of them send), 100 msg/s, 200 B, 10 s
#   rooms-100   100 rooms, 10,000 connections (1 sender each), 10 msg/s per room, 200 B, 10 s
#   fanout-10k  1 room, 10,000 connections (10 of them send), 100 msg/s, 200 B, 10 s
#   smoke       1 room, 200 connections (10 of them send), 50 msg/s, 200 B, 3 s (a quick check)
#   custom      only the flags you pass
#
# Environment:
#   RUNS=3              repetitions of each set-up, interleaved; medians at the end
#   CONFIGS="embedded bus cluster"   which set-ups, in this order
#   PORT=19080          first port; each node of each attempt takes the next one
#   OUT=dir             where results go (default: bench/results/cluster-<scenario>-<timestamp>)
#   IVSCHAT_TEST_DATABASE_URL=postgres://…  shared PostgreSQL (trust auth); default: a private
#                       instance started for this run (scripts/services.sh), stopped at exit
#   IVSCHAT_TEST_REDIS_URL=redis://…         shared Redis; default: a private instance, likewise
#   REDIS_PID=pid       redis-server to watch (default: the one listening on the Redis URL's port)
#   REV=<git rev>       build the server from this committed revision (git archive), as
#                       run-fanout.sh does; SERVER_BIN=path uses that binary, builds none
#   WAIT_QUIET=600      before each run, wait up to this long for the machine to be <25% busy
#   NOISY=25            repeat a run (up to TRIES=3) if other processes used more than this %
#                       of a core during its window (kept as noisy-*.json). NOISY=0 keeps all.
#   IVSCHAT_LOG=…       server log filter (default: the server's default, info)
#   CARGO_TARGET_DIR    default $HOME/.cache/ivschat-server/target
# Needs psql, redis-cli, curl and jq (PostgreSQL and Redis are installed from Debian's packages
# when missing, as scripts/test.sh does).
set -euo pipefail

scenario="${1:-}"
[ -n "$scenario" ] || { sed -n '2,/^set -euo/p' "$0" | grep '^#'; exit 2; }
shift
case "$scenario" in
  fanout-1k)  flags=(--connections 1000 --rooms 1 --senders-per-room 10 --rate-per-room 100 --message-bytes 200 --duration 10s --warmup 2s) ;;
  rooms-100)  flags=(--connections 10000 --rooms 100 --senders-per-room 1 --rate-per-room 10 --message-bytes 200 --duration 10s --warmup 2s) ;;
  fanout-10k) flags=(--connections 10000 --rooms 1 --senders-per-room 10 --rate-per-room 100 --message-bytes 200 --duration 10s --warmup 2s) ;;
  smoke)      flags=(--connections 200 --rooms 1 --senders-per-room 10 --rate-per-room 50 --message-bytes 200 --duration 3s --warmup 1s) ;;
  custom)     flags=() ;;
  *) echo "unknown scenario: $scenario" >&2; exit 2 ;;
esac
flags+=("$@")

for tool in psql redis-cli curl jq; do
  command -v "$tool" >/dev/null || { echo "run-cluster.sh needs $tool" >&2; exit 2; }
done

repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ivschat-server/target}"
. "$repo/bench/lib.sh"
runs="${RUNS:-3}"
configs=(${CONFIGS:-embedded bus cluster})
port="${PORT:-19080}"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
out="${OUT:-$repo/bench/results/cluster-$scenario-$stamp}"
. "$repo/scripts/services.sh"
trap services_stop EXIT # replaced below by one that also stops the nodes
services_start postgres redis
database_url="$IVSCHAT_TEST_DATABASE_URL"
redis_url="$IVSCHAT_TEST_REDIS_URL"
redis_port="${redis_url##*:}"; redis_port="${redis_port%%/*}"
mkdir -p "$out"

for c in "${configs[@]}"; do
  case "$c" in embedded|bus|cluster) ;; *) echo "unknown config in CONFIGS: $c" >&2; exit 2 ;; esac
done

psql "$database_url" -qAtc 'select 1' >/dev/null || { echo "cannot reach PostgreSQL at $database_url" >&2; exit 1; }
[ "$(redis-cli -p "$redis_port" ping)" = PONG ] || { echo "cannot reach Redis at $redis_url" >&2; exit 1; }
redis_pid="${REDIS_PID:-$(redis-cli -p "$redis_port" info server | tr -d '\r' | sed -n 's/^process_id://p')}"
watch=()
if [ -n "$redis_pid" ] && [ -r "/proc/$redis_pid/stat" ]; then
  watch=(--watch-pid "$redis_pid")
  echo "watching redis-server pid $redis_pid" >&2
else
  echo "redis-server's /proc entry is not readable here; no Redis CPU figures" >&2
fi

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
echo "ulimit -n: $(ulimit -n)" >&2


build -p ivschat-bench
cp "$CARGO_TARGET_DIR/release/ivschat-bench" "$out/ivschat-bench"
bench="$out/ivschat-bench"

resolve_server "$out"

# Every set-up gets the same configuration: limits raised so the bench is never refused for
# opening many connections from one address.
write_open_limits_config "$out/server.toml"

# What is running now (cleaned up by `stop_nodes`, and by the trap whatever happens).
node_pids=()
data_dirs=()
schema=""
stop_nodes() {
  local pid
  for pid in "${node_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${node_pids[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  node_pids=()
  local d
  for d in "${data_dirs[@]}"; do rm -rf "$d"; done
  data_dirs=()
  if [ -n "$schema" ]; then
    psql "$database_url" -qAtc "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 \
      || echo "could not drop schema $schema" >&2
    redis-cli -p "$redis_port" --scan --pattern "$schema:*" \
      | xargs -r -n 500 redis-cli -p "$redis_port" del >/dev/null 2>&1 || true
  fi
  schema=""
}
trap 'stop_nodes; services_stop' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Starts `$1` nodes (ports from `$2`), on PostgreSQL + Redis when `$3` = shared.
start_nodes() {
  local count="$1" first_port="$2" mode="$3" log="$4" key i p dir
  key="$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')"
  for i in $(seq 1 "$count"); do
    p=$((first_port + i - 1))
    dir="$(mktemp -d -t ivschat-cluster-data.XXXXXX)"
    data_dirs+=("$dir")
    local extra=()
    if [ "$mode" = shared ]; then
      extra=(--database-url "$database_url" --bus "$redis_url" --cluster-name "$schema")
    fi
    "$server" --config "$out/server.toml" --listen "127.0.0.1:$p" --data-dir "$dir" \
      --token-key "$key" "${extra[@]}" >"$log-node$i.log" 2>&1 &
    node_pids+=("$!")
  done
  for i in $(seq 1 "$count"); do
    p=$((first_port + i - 1))
    for _ in $(seq 1 300); do
      curl -sf -o /dev/null "http://127.0.0.1:$p/ready" && break
      kill -0 "${node_pids[$((i - 1))]}" 2>/dev/null || { echo "node $i exited; see $log-node$i.log" >&2; return 1; }
      sleep 0.1
    done
    curl -sf -o /dev/null "http://127.0.0.1:$p/ready" || { echo "node $i not ready; see $log-node$i.log" >&2; return 1; }
  done
}


status=0
attempt=0
run_once() { # $1 = config, $2 = run number; writes $out/$1-$2.*
  local cfg="$1" i="$2" base nodes mode
  wait_quiet
  attempt=$((attempt + 1))
  base=$((port + 3 * (attempt - 1)))
  case "$cfg" in
    embedded) nodes=1; mode=embedded ;;
    bus)      nodes=1; mode=shared ;;
    cluster)  nodes=3; mode=shared ;;
  esac
  schema=""
  [ "$mode" = shared ] && schema="bench_${cfg}_$(date -u +%s)_${i}_$$"
  start_nodes "$nodes" "$base" "$mode" "$out/$cfg-$i" || { stop_nodes; exit 1; }
  local pids
  pids="$(IFS=,; echo "${node_pids[*]}")"
  local where=(--endpoint "http://127.0.0.1:$base")
  if [ "$cfg" = cluster ]; then
    where+=(--sender-ws-url "ws://127.0.0.1:$base/"
            --ws-url "ws://127.0.0.1:$((base + 1))/,ws://127.0.0.1:$((base + 2))/")
  fi
  echo "== $cfg run $i/$runs: $scenario on ports $base..$((base + nodes - 1)) (pids $pids${schema:+, schema $schema})" >&2
  "$bench" "${where[@]}" --server-pid "$pids" "${watch[@]}" \
    --label "$scenario $cfg run $i" --json "$out/$cfg-$i.json" "${flags[@]}" \
    | tee "$out/$cfg-$i.txt" || status=$?
  stop_nodes
  local f notable
  for f in "$out/$cfg-$i"-node*.log; do
    # Start-up notices (default dev key, no Lambda endpoint) are expected; the rest is worth a look.
    notable="$(grep -E ' (WARN|ERROR) ' "$f" | grep -vE 'no credentials configured|no Lambda endpoint configured' || true)"
    if [ -n "$notable" ]; then
      echo "$(basename "$f"): $(grep -c ' WARN ' <<<"$notable" || true) WARN, $(grep -c ' ERROR ' <<<"$notable" || true) ERROR lines"
      sed -E 's/^[^ ]+ +//' <<<"$notable" | cut -c1-160 | sort | uniq -c | sort -rn | head -3
    fi
  done
}

others_of() {
  jq -r '.cpu_measure.others_pct_of_core // empty | floor' "$1" 2>/dev/null || true
}

for i in $(seq 1 "$runs"); do
  for cfg in "${configs[@]}"; do
    tries=0
    while :; do
      tries=$((tries + 1))
      run_once "$cfg" "$i"
      others="$(others_of "$out/$cfg-$i.json")"
      limit="${NOISY:-25}"
      if [ "$limit" -gt 0 ] && [ -n "$others" ] && [ "$others" -gt "$limit" ] && [ "$tries" -lt "${TRIES:-3}" ]; then
        echo "$cfg run $i: other processes used ${others}% of a core during the measurement; repeating it" >&2
        for f in "$out/$cfg-$i".*; do mv "$f" "$out/noisy-$tries-$(basename "$f")"; done
        sleep 5
        continue
      fi
      break
    done
    sleep 2
  done
done

# Medians per set-up (jq), as a table and as JSON.
jq -n --argjson runs "$runs" '
  def median: sort | if length == 0 then null
    elif length % 2 == 1 then .[length / 2 | floor]
    else (.[length / 2 - 1] + .[length / 2]) / 2 end;
  def fig(f): [ .[] | f | select(. != null) ] | median;
  reduce inputs as $r ({}; .[$r.label | split(" ")[1]] += [$r])
  | with_entries(.value |= {
      runs: length,
      deliveries_per_second: fig(.deliveries.per_second),
      latency_p50_ms: fig(.latency_ms.p50),
      latency_p99_ms: fig(.latency_ms.p99),
      latency_max_ms: fig(.latency_ms.max),
      lost: fig(.deliveries.lost),
      out_of_order: fig(.deliveries.out_of_order),
      duplicates: fig(.deliveries.duplicates),
      refused: fig(.sent.refused_measured),
      connect_failed: fig(.connect.failed),
      server_cpu_pct_of_core: fig(.cpu_measure.server_pct_of_core),
      per_server_cpu_pct_of_core: ([ .[] | .cpu_measure.per_server_pct_of_core // [] ] | transpose | map(map(select(. != null)) | median)),
      redis_cpu_pct_of_core: fig(.cpu_measure.watched_pct_of_core),
      generator_cpu_pct_of_core: fig(.cpu_measure.generator_pct_of_core),
      others_cpu_pct_of_core: fig(.cpu_measure.others_pct_of_core),
      server_rss_connected_mib: fig(.server_memory_kib.connected / 1024),
      server_rss_per_connection_kib: fig(.server_rss_per_connection_kib),
      per_url: (.[0].per_url | map({url, connections}))
    })
' $(for cfg in "${configs[@]}"; do for i in $(seq 1 "$runs"); do
       [ -f "$out/$cfg-$i.json" ] && echo "$out/$cfg-$i.json"; done; done) \
  | jq --arg scenario "$scenario" --arg server "$server_rev" --argjson flags "$(printf '%s\n' "${flags[@]}" | jq -R . | jq -s .)" \
       '{scenario: $scenario, server: $server, bench_flags: $flags, configs: .}' >"$out/summary.json"

{
  echo
  echo "== $scenario: medians over $runs run(s) per set-up ($out)"
  jq -r '
    .configs as $c
    | ["embedded", "bus", "cluster"] | map(select($c[.] != null)) as $names
    | def cell(f; p): ($c[.] | f) as $v | if $v == null then "n/a" else ($v * pow(10; p) | round / pow(10; p) | tostring) end;
      def row(name; f; p): [name] + ($names | map(cell(f; p)));
      def delta(name; f; p): [name] + ($names | map(
          if . == "embedded" or $c.embedded == null then "" else
            (($c[.] | f) - ($c.embedded | f)) as $d | ("+" + (($d * pow(10; p) | round / pow(10; p)) | tostring) | sub("\\+-"; "-")) end));
    [([""] + $names),
     row("deliveries/s"; .deliveries_per_second; 0),
     row("latency p50 ms"; .latency_p50_ms; 2),
     row("latency p99 ms"; .latency_p99_ms; 2),
     row("latency max ms"; .latency_max_ms; 2),
     delta("p50 vs embedded ms"; .latency_p50_ms; 2),
     delta("p99 vs embedded ms"; .latency_p99_ms; 2),
     row("lost"; .lost; 0),
     row("out-of-order"; .out_of_order; 0),
     row("refused"; .refused; 0),
     row("connect failures"; .connect_failed; 0),
     row("server CPU % core (sum)"; .server_cpu_pct_of_core; 0),
     ([ "  per node" ] + ($names | map($c[.].per_server_cpu_pct_of_core | if length == 0 then "" else map(round | tostring) | join(" / ") end))),
     row("redis CPU % core"; .redis_cpu_pct_of_core; 0),
     row("generator CPU % core"; .generator_cpu_pct_of_core; 0),
     row("others CPU % core"; .others_cpu_pct_of_core; 0),
     row("server RSS connected MiB"; .server_rss_connected_mib; 1),
     row("runs"; .runs; 0)]
    | .[] | @tsv' "$out/summary.json" | column -t -s $'\t'
  echo
  echo "connections per URL (cluster): $(jq -r '.configs.cluster.per_url // [] | map("\(.url) \(.connections)") | join(", ")' "$out/summary.json")"
} | tee "$out/median.txt"
exit "$status"
