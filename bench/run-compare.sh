#!/usr/bin/env bash
# Runs the same ivschat-bench load against three servers in one benchmark run, interleaved so
# that machine noise hits all of them alike, and compares them:
#   ivschat  ivschat-server (fresh data dir, quotas and listener limits opened up for the bench)
#   nats     a private nats-server with a WebSocket listener (generated config, its own ports;
#            the system NATS on 4222 is never touched): one subject per room
#   floor    bench/floor-server: tokio + tungstenite broadcast with no chat logic (the floor of
#            our own stack; --design writer-task, BENCHMARKS.md "The floor")
#   centrifugo  Centrifugo (pinned, built by bench/build-peers.sh with the machine's Go from the
#            module proxy): JSON protocol over WebSocket, anonymous connections allowed to
#            subscribe and publish in the default namespace, no history, no presence
#   sockudo  Sockudo (pinned, built by bench/build-peers.sh from crates.io): Pusher protocol 7
#            over WebSocket, one public channel per room, senders publishing through the
#            signed HTTP API; local adapter, memory app manager and cache, no queue, no
#            metrics listener, rate limiter off, no connection cap (BENCHMARKS.md, "Sockudo")
#   (SERVERS picks among them; the default is all five)
#
# Usage: bench/run-compare.sh SCENARIO [extra ivschat-bench flags…]
#   fanout      1 room, SUBS (10,000) connections of which 10 send, 100 msg/s in all, 200 B:
#               latency distribution, throughput, memory per connection, CPU
#   saturation  the same room and rate, growing the room through SIZES until a server loses a
#               delivery or its p99 exceeds P99_LIMIT_MS; reports each server's largest clean room
#   rooms       normal load: SUBS (10,000) connections in 100 rooms, 10 msg/s per room from one
#               sender each, 200 B (100,000 deliveries/s): latency at a load that is not saturating
#
# Every run starts a fresh server, runs the bench with identical load flags and --server-pid,
# and stops the server. Order: for each size, RUNS rounds of (ivschat, nats, floor).
# Results: OUT/<server>-<subscribers>-run<i>.json (+ .txt table, .log bench progress,
# server-*.log), OUT/summary.json, OUT/summary.txt and plots (OUT/*.svg).
#
# Environment:
#   RUNS=3                rounds per size (medians over them)
#   SUBS=10000            fanout: connections in the room (senders included)
#   SIZES="10000 20000 40000 80000"   saturation: room sizes, in order
#   P99_LIMIT_MS=1000     saturation: a size is clean for a server when the medians show no
#                         loss, no reordering, no failed connection and p99 ≤ this
#   SERVERS="ivschat nats floor centrifugo sockudo"   which servers, in run order
#   DURATION=10s WARMUP=2s            measurement window and warm-up of each run
#   SOURCE_IPS=auto       --source-ips for the bench (auto: 1 up to 25,000 connections, then
#                         one source address per 16,000 connections)
#   PORT=19000            first port; every server start takes the next two (no TIME_WAIT reuse)
#   OUT=dir               default bench/results/compare-<scenario>-<timestamp>
#   REV=<git rev>         build ivschat-server from this commit (git archive) instead of the
#                         work tree (the bench and floor-server always come from the work tree)
#   SERVER_BIN=path       use this ivschat-server binary, build none
#   NATS_BIN=path         nats-server to use (default: the one on PATH; Debian's package is
#                         installed when missing)
#   CENTRIFUGO_BIN=path   centrifugo to use (default: bench/build-peers.sh builds the pinned one)
#   SOCKUDO_BIN=path      sockudo to use (default: bench/build-peers.sh builds the pinned one)
#   FLOOR_DESIGN=writer-task          floor-server --design (writer-task | select)
#   WAIT_QUIET=0          before each run, wait up to this many seconds for the machine to be
#                         quiet (<25% busy over 3 s; it is shared with other people's builds)
#   NOISY=25 TRIES=3      repeat a run during which other processes used more than NOISY% of a
#                         core (up to TRIES times; the noisy results are kept as noisy-*)
#   PLOTS=1               write plots (installs matplotlib into
#                         $HOME/.cache/ivschat-server/venv-bench with pip on first use)
#   CARGO_TARGET_DIR      default $HOME/.cache/ivschat-server/target
set -euo pipefail

scenario="${1:-}"
[ -n "$scenario" ] || { sed -n '2,/^set -euo/p' "$0" | grep '^#'; exit 2; }
shift
extra=("$@")
case "$scenario" in
  fanout)     sizes=("${SUBS:-10000}") ;;
  rooms)      sizes=("${SUBS:-10000}") ;;
  saturation) read -r -a sizes <<<"${SIZES:-10000 20000 40000 80000}" ;;
  *) echo "unknown scenario: $scenario (fanout, rooms or saturation)" >&2; exit 2 ;;
esac
# The issue's load: one room, 100 msg/s over 10 senders, 200-byte messages. Tokens are
# minted before the connect phase (--mint-ahead; nothing to mint for the others), so every
# server's connect rate counts TCP connects and WebSocket handshakes (and the protocol's join)
# alone: issue 24's connect-rate target.
load=(--rooms 1 --senders-per-room 10 --rate-per-room 100 --message-bytes 200
      --duration "${DURATION:-10s}" --warmup "${WARMUP:-2s}" --connect-timeout 300s --mint-ahead)
if [ "$scenario" = rooms ]; then
  # Normal load: 100 rooms of SUBS/100, 10 msg/s each from one sender (100,000 deliveries/s).
  load=(--rooms 100 --senders-per-room 1 --rate-per-room 10 --message-bytes 200
        --duration "${DURATION:-10s}" --warmup "${WARMUP:-2s}" --connect-timeout 300s --mint-ahead)
fi

repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ivschat-server/target}"
. "$repo/bench/lib.sh"
runs="${RUNS:-3}"
read -r -a servers <<<"${SERVERS:-ivschat nats floor centrifugo sockudo}"
p99_limit="${P99_LIMIT_MS:-1000}"
port="${PORT:-19000}"
if [ -z "${NATS_BIN:-}" ] && [[ " ${servers[*]} " == *" nats "* ]]; then
  # Debian's nats-server, installed when missing (scripts/services.sh).
  . "$repo/scripts/services.sh"
  services_require_command nats-server nats-server
fi
nats_bin="${NATS_BIN:-$(command -v nats-server || echo /usr/sbin/nats-server)}"
centrifugo_bin="${CENTRIFUGO_BIN:-}"
if [ -z "$centrifugo_bin" ] && [[ " ${servers[*]} " == *" centrifugo "* ]]; then
  # Without Go (or the module proxy) the others still run; the summary says who was missing.
  if ! centrifugo_bin="$("$repo/bench/build-peers.sh" centrifugo | awk '{print $2}')" \
      || [ ! -x "$centrifugo_bin" ]; then
    echo "could not build Centrifugo (bench/build-peers.sh); running without it" >&2
    centrifugo_bin=""
    kept=()
    for s in "${servers[@]}"; do [ "$s" = centrifugo ] || kept+=("$s"); done
    servers=("${kept[@]}")
  fi
fi
sockudo_bin="${SOCKUDO_BIN:-}"
if [ -z "$sockudo_bin" ] && [[ " ${servers[*]} " == *" sockudo "* ]]; then
  # The first build takes about 20 minutes on the 2-core machine; without it the others run.
  if ! sockudo_bin="$("$repo/bench/build-peers.sh" sockudo | awk '{print $2}')" \
      || [ ! -x "$sockudo_bin" ]; then
    echo "could not build Sockudo (bench/build-peers.sh); running without it" >&2
    sockudo_bin=""
    kept=()
    for s in "${servers[@]}"; do [ "$s" = sockudo ] || kept+=("$s"); done
    servers=(${kept[@]+"${kept[@]}"})
  fi
fi
floor_design="${FLOOR_DESIGN:-writer-task}"
out="${OUT:-$repo/bench/results/compare-$scenario-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$out"
for s in "${servers[@]}"; do
  case "$s" in ivschat|nats|floor|centrifugo|sockudo) ;; *) echo "unknown server in SERVERS: $s" >&2; exit 2 ;; esac
done

# Descriptors: each side needs one per connection. Root may raise the hard limit.
largest=0
for n in "${sizes[@]}"; do [ "$n" -gt "$largest" ] && largest="$n"; done
want=$((largest + 10000))
if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$want" ]; then
  ulimit -Hn "$want" 2>/dev/null || echo "cannot raise the hard open-files limit to $want (not root?)" >&2
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
echo "ulimit -n: $(ulimit -n); ephemeral ports: $(tr '\t' - </proc/sys/net/ipv4/ip_local_port_range)" >&2

# Copies: a concurrent build in the shared target dir must not swap a binary under us.
mkdir -p "$out/bin"
build -p ivschat-bench -p floor-server
cp "$CARGO_TARGET_DIR/release/ivschat-bench" "$CARGO_TARGET_DIR/release/floor-server" "$out/bin/"
bench="$out/bin/ivschat-bench"
floor="$out/bin/floor-server"
if [[ " ${servers[*]} " == *" ivschat "* ]]; then
  resolve_server "$out/bin"
else
  server_rev="(not run)" # no release build of a server that is not measured
fi
nats_version="$("$nats_bin" --version 2>&1 | head -1)"
centrifugo_version="$([ -z "$centrifugo_bin" ] || "$centrifugo_bin" version 2>&1 | head -1)"
sockudo_version="$([ -z "$sockudo_bin" ] || "$sockudo_bin" --version 2>&1 | head -1)"
bench_rev="$(git rev-parse HEAD) + work tree ($(git status --porcelain -- crates/bench bench/floor-server | wc -l) changed paths in the bench)"
echo "nats-server:    $nats_version ($nats_bin)" >&2
[ -z "$centrifugo_bin" ] || echo "centrifugo:     $centrifugo_version ($centrifugo_bin)" >&2
[ -z "$sockudo_bin" ] || echo "sockudo:        $sockudo_version ($sockudo_bin)" >&2
cat >"$out/meta.json" <<EOF
{
  "scenario": "$scenario",
  "runs": $runs,
  "sizes": [$(IFS=,; echo "${sizes[*]}")],
  "servers": [$(printf '"%s",' "${servers[@]}" | sed 's/,$//')],
  "p99_limit_ms": $p99_limit,
  "load_flags": "$(echo "${load[*]} ${extra[*]:-}" | sed 's/ *$//')",
  "ivschat_server": "$server_rev",
  "nats_server": "$nats_version",
  "centrifugo": "$centrifugo_version",
  "sockudo": "$sockudo_version",
  "floor_design": "$floor_design",
  "bench": "$bench_rev",
  "machine": "$(nproc) CPUs, $(free -g | awk '/^Mem:/ {print $2}') GiB",
  "started": "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
}
EOF

server_pid=""
tmp=""
stop_server() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  server_pid=""
  [ -z "$tmp" ] || rm -rf "$tmp"
  tmp=""
}
trap stop_server EXIT INT TERM

# Waits until something listens on 127.0.0.1:$1 (the server of pid $server_pid).
wait_port() {
  for _ in $(seq 1 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    kill -0 "$server_pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# Starts server $1 on port $2 (and $2+1), logging to $3; sets server_pid and target_flags.
start_server() {
  local kind="$1" p="$2" log="$3"
  tmp="$(mktemp -d -t ivschat-compare.XXXXXX)"
  case "$kind" in
    ivschat)
      # Every connection comes from 127.0.0.x and the bench opens up to SIZES of them: no
      # account connection quota or listener limit may refuse it.
      write_open_limits_config "$tmp/bench.toml"
      "$server" --listen "127.0.0.1:$p" --data-dir "$tmp/data" --config "$tmp/bench.toml" >"$log" 2>&1 &
      server_pid=$!
      target_flags=(--target ivschat --endpoint "http://127.0.0.1:$p")
      ;;
    nats)
      # Client port p+1 (unused by the bench), WebSocket on p. write_deadline as the
      # ivschat-server's chat write timeout; no connection cap below the largest room.
      cat >"$tmp/nats.conf" <<EOF
listen: "127.0.0.1:$((p + 1))"
max_connections: 10000000
write_deadline: "10s"
websocket {
  listen: "127.0.0.1:$p"
  no_tls: true
  compression: false
}
EOF
      "$nats_bin" -c "$tmp/nats.conf" >"$log" 2>&1 &
      server_pid=$!
      target_flags=(--target nats-ws --endpoint "http://127.0.0.1:$p" --ws-url "ws://127.0.0.1:$p/")
      ;;
    floor)
      "$floor" --listen "127.0.0.1:$p" --design "$floor_design" >"$log" 2>&1 &
      server_pid=$!
      target_flags=(--target bare --endpoint "http://127.0.0.1:$p" --ws-url "ws://127.0.0.1:$p/")
      ;;
    centrifugo)
      # Anonymous connections may subscribe and publish (no tokens: like the floor and NATS,
      # no auth cost); write_timeout as the ivschat-server's chat write timeout; no history,
      # presence or join/leave (the defaults); errors only in the log.
      cat >"$tmp/centrifugo.json" <<EOF
{
  "http_server": {"address": "127.0.0.1", "port": $p},
  "log": {"level": "error"},
  "client": {"allow_anonymous_connect_without_token": true, "allowed_origins": ["*"]},
  "channel": {"without_namespace": {"allow_subscribe_for_anonymous": true,
    "allow_subscribe_for_client": true, "allow_publish_for_anonymous": true,
    "allow_publish_for_client": true, "allow_publish_for_subscriber": true}},
  "websocket": {"write_timeout": "10s"},
  "usage_stats": {"disabled": true}
}
EOF
      "$centrifugo_bin" --config "$tmp/centrifugo.json" >"$log" 2>&1 &
      server_pid=$!
      target_flags=(--target centrifugo --endpoint "http://127.0.0.1:$p"
                    --ws-url "ws://127.0.0.1:$p/connection/websocket")
      ;;
    sockudo)
      # One app (the bench's default --pusher-* flags); everything in process (local adapter,
      # memory app manager and cache, no queue: its default queue is Redis); no metrics
      # listener (its own port); the rate limiter off (its defaults: 100 API requests and 20
      # WebSocket connects a minute per address); no connection cap, global or per app (0 is
      # none); the HTTP API's backend event rate unset (unlimited); payloads up to 100 KB.
      # Its WebSocket buffer (1,000 messages, then disconnect) is its default, like NATS's
      # write_deadline. Run from $tmp: it reads config/config.toml from its working directory.
      cat >"$tmp/sockudo.json" <<EOF
{
  "host": "127.0.0.1",
  "port": $p,
  "debug": false,
  "max_connections": 0,
  "adapter": {"driver": "local"},
  "app_manager": {"driver": "memory", "array": {"apps": [{
    "id": "bench", "key": "bench-key", "secret": "bench-secret", "enabled": true,
    "max_connections": 0, "enable_client_messages": false, "max_client_events_per_second": 0,
    "max_event_payload_in_kb": 100
  }]}},
  "cache": {"driver": "memory"},
  "queue": {"driver": "none"},
  "metrics": {"enabled": false},
  "rate_limiter": {"enabled": false}
}
EOF
      (cd "$tmp" && exec env -u PORT -u HOST -u DEBUG "$sockudo_bin" --config "$tmp/sockudo.json") \
        >"$log" 2>&1 &
      server_pid=$!
      target_flags=(--target sockudo --endpoint "http://127.0.0.1:$p" --ws-url "ws://127.0.0.1:$p/")
      ;;
  esac
  wait_port "$p" || { echo "$kind did not start; see $log" >&2; tail -5 "$log" >&2; return 1; }
}


# Other processes' CPU during the measurement (% of a core), from a result file.
others_of() {
  python3 -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["cpu_measure"].get("others_pct_of_core") or 0))' "$1" 2>/dev/null || echo 0
}

attempt=0
# One run of server $1 with $2 connections, round $3.
run_one() {
  local kind="$1" n="$2" i="$3" tries=0 sips="${SOURCE_IPS:-auto}"
  [ "$sips" != auto ] || sips=$(( n > 25000 ? (n + 15999) / 16000 : 1 ))
  local base="$out/$kind-$n-run$i"
  while :; do
    tries=$((tries + 1))
    attempt=$((attempt + 1))
    local p=$((port + 2 * (attempt - 1)))
    wait_quiet
    start_server "$kind" "$p" "$out/server-$kind-$n-run$i.log" || { stop_server; return 0; }
    echo "== $scenario: $kind, $n subscribers, round $i/$runs (port $p, pid $server_pid, source ips $sips)" >&2
    local rc=0
    "$bench" "${target_flags[@]}" --server-pid "$server_pid" --connections "$n" --source-ips "$sips" \
      "${load[@]}" ${extra[@]+"${extra[@]}"} --label "$kind $n run $i" --json "$base.json" \
      >"$base.txt" 2>"$base.log" || rc=$?
    stop_server
    sed -n '1,/^errors/p' "$base.txt" | grep -E '^(deliveries|losses|latency|server rss|closes|errors)' | sed 's/^/   /' >&2 || true
    [ "$rc" -eq 0 ] || echo "   ivschat-bench exit $rc (see $base.log)" >&2
    case "$kind" in
      ivschat) grep -E ' (WARN|ERROR) ' "$out/server-$kind-$n-run$i.log" | grep -vE 'no credentials configured|no Lambda endpoint configured' | head -3 | sed 's/^/   server: /' >&2 || true ;;
      nats) grep -iE 'slow consumer|\[ERR\]|\[WRN\]' "$out/server-$kind-$n-run$i.log" | grep -v 'not configured with TLS' | head -3 | sed 's/^/   server: /' >&2 || true ;;
    esac
    local others limit="${NOISY:-25}"
    others="$(others_of "$base.json")"
    if [ "$limit" -gt 0 ] && [ "$others" -gt "$limit" ] && [ "$tries" -lt "${TRIES:-3}" ]; then
      echo "   other processes used ${others}% of a core during the measurement; repeating" >&2
      for f in "$base".*; do mv "$f" "$out/noisy-$(basename "$f" | sed "s/\.\([a-z]*\)$/-$tries.\1/")"; done
      sleep 5
      continue
    fi
    return 0
  done
}

active=("${servers[@]}")
for n in "${sizes[@]}"; do
  [ "${#active[@]}" -gt 0 ] || break
  for i in $(seq 1 "$runs"); do
    for kind in "${active[@]}"; do
      run_one "$kind" "$n" "$i"
      sleep 2
    done
  done
  if [ "$scenario" = saturation ]; then
    still=()
    for kind in "${active[@]}"; do
      if verdict="$(python3 bench/compare.py verdict --p99-limit-ms "$p99_limit" "$out/$kind-$n-run"*.json)"; then
        still+=("$kind")
      else
        echo "== $kind stops at $n subscribers: $verdict" >&2
      fi
    done
    active=(${still[@]+"${still[@]}"})
  fi
done

python3 bench/compare.py summary "$out" | tee "$out/summary.txt"
if [ "${PLOTS:-1}" = 1 ]; then
  venv="$HOME/.cache/ivschat-server/venv-bench"
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import matplotlib' 2>/dev/null; then
    python3 -m venv "$venv" && "$venv/bin/pip" install --quiet matplotlib \
      || echo "could not install matplotlib into $venv; no plots" >&2
  fi
  "$venv/bin/python" bench/plot.py "$out/summary.json" || echo "plotting failed" >&2
fi
echo "results in $out" >&2
