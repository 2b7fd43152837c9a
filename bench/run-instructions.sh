#!/usr/bin/env bash
# The noise-free cost figure (issue 24, item 4): instructions the *server* executes per
# delivered message and per control-plane request, counted by valgrind's callgrind on a fixed,
# small workload, for ivschat-server and the floor (bench/floor-server), with their ratio.
#
# Why callgrind and not `perf stat -e instructions`: this VM has no hardware counters (perf
# reports them "not supported"). Callgrind counts user-space instructions only (the kernel's
# share, e.g. in write/epoll, is not in the figures) and runs the server ~50x slower, so the
# load must be light enough for a server under callgrind to keep up (RATE below).
#
# Workloads (same generator, same flags for both servers):
#   chat           one room of MEMBERS (1,000) connections, SENDERS (10) of them sending
#                  MESSAGES (1,000) messages of 200 B in all at RATE (10) msg/s, no warm-up.
#                  Tokens are minted ahead (--mint-ahead) and the generator's --phase-command
#                  dumps the server's counters when the tokens are minted, when every
#                  connection is in and when the last delivery has arrived, so each phase is
#                  counted on its own:
#                    instructions/delivery  = message-phase instructions / deliveries received
#                    instructions/handshake = handshake-phase instructions / connections
#                  (ours: the token-checked WebSocket upgrade and join; the floor: the bare
#                  upgrade), and ours per CreateChatToken in the mint phase.
#   control-plane  ivschat-server only (the floor has no control plane): ivschat-cpbench,
#                  CP_OPS (create-chat-token get-room), CP_CONCURRENCY (4) connections for
#                  CP_DURATION (20s) each, counters dumped before and after each operation:
#                    instructions/request = instructions between the dumps / requests answered
#
# Usage: bench/run-instructions.sh            (the lead's one command: builds, runs, prints)
#
# Environment:
#   MEMBERS=1000 MESSAGES=1000 RATE=10 SENDERS=10
#   CP_OPS="create-chat-token get-room" CP_CONCURRENCY=4 CP_DURATION=20s
#   SERVERS="ivschat floor"   which servers' chat workload to count (ivschat also runs the
#                             control-plane one)
#   FLOOR_DESIGN=writer-task  floor-server --design (writer-task | select)
#   CALLGRIND=1               0: the native pass alone (no callgrind workloads; a few seconds
#                             per server instead of minutes, for before/after pairs)
#   NATIVE_RATE=100           the native pass's rate (msg/s): the same MEMBERS and MESSAGES,
#                             run without valgrind under `perf stat` (system calls, CPU time
#                             and context switches per delivery: the kernel's share, which
#                             callgrind does not see)
#   ROOM_TAGS="k=v,k=v"       tags on the measured room (ivschat only; ivschat-bench
#                             --room-tag), e.g. "ivschat-server:history=100,ivschat-server:replay=on"
#                             or "ivschat-server:presence-events=on" (README "Extensions (not AWS)")
#   PORT=19500                first port; each server start takes the next one
#   OUT=dir                   default bench/results/instructions-<timestamp>
#   REV=<git rev> / SERVER_BIN=path   which ivschat-server (see bench/lib.sh)
#   CARGO_TARGET_DIR          default $HOME/.cache/ivschat-server/target
# Results: OUT/summary.txt (the table), OUT/summary.json, OUT/<server>-*.json (generator
# results), OUT/<server>-callgrind.out.N (the dumps), OUT/<server>-{handshake,delivery}-self.txt
# (bench/callgrind_self.py: exclusive instructions per function, per handshake / delivery).
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ivschat-server/target}"
. "$repo/bench/lib.sh"
members="${MEMBERS:-1000}"
messages="${MESSAGES:-1000}"
rate="${RATE:-10}"
senders="${SENDERS:-10}"
read -r -a cp_ops <<<"${CP_OPS:-create-chat-token get-room}"
cp_concurrency="${CP_CONCURRENCY:-4}"
cp_duration="${CP_DURATION:-20s}"
read -r -a servers <<<"${SERVERS:-ivschat floor}"
floor_design="${FLOOR_DESIGN:-writer-task}"
room_tag_flags=()
IFS=, read -r -a room_tags <<<"${ROOM_TAGS:-}"
for tag in ${room_tags[@]+"${room_tags[@]}"}; do room_tag_flags+=(--room-tag "$tag"); done
port="${PORT:-19500}"
out="${OUT:-$repo/bench/results/instructions-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$out/bin"
command -v valgrind >/dev/null && command -v callgrind_control >/dev/null || {
  . "$repo/scripts/services.sh"
  services_require_command valgrind valgrind
}
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

build -p ivschat-bench -p floor-server
cp "$CARGO_TARGET_DIR/release/ivschat-bench" "$CARGO_TARGET_DIR/release/ivschat-cpbench" \
  "$CARGO_TARGET_DIR/release/floor-server" "$out/bin/"
if [[ " ${servers[*]} " == *" ivschat "* ]]; then resolve_server "$out/bin"; fi

duration_s=$(python3 -c "print($messages / $rate)")
native_rate="${NATIVE_RATE:-100}"
native_duration_s=$(python3 -c "print($messages / $native_rate)")
# perf's software events and tracepoints work in this VM (its hardware counters do not).
perf_ok=0
if command -v perf >/dev/null && perf stat -e raw_syscalls:sys_enter,task-clock -- true >/dev/null 2>&1; then
  perf_ok=1
else
  echo "perf stat with raw_syscalls:sys_enter unavailable: no native pass" >&2
fi

server_pid=""
tmp=""
stop_server() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 1 300); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  server_pid=""
  [ -z "$tmp" ] || rm -rf "$tmp"
  tmp=""
}
trap stop_server EXIT INT TERM

attempt=0
# Starts server $1 under callgrind (or natively with $2 = native); sets server_pid, p (its
# port) and target_flags.
start_server() {
  local kind="$1" vg=()
  attempt=$((attempt + 1))
  p=$((port + attempt - 1))
  tmp="$(mktemp -d -t ivschat-instructions.XXXXXX)"
  if [ "${2:-}" != native ]; then
    rm -f "$out/$kind-callgrind.out"*
    vg=(valgrind --tool=callgrind --callgrind-out-file="$out/$kind-callgrind.out")
  fi
  case "$kind" in
    ivschat)
      server="${server:?}"
      write_open_limits_config "$tmp/bench.toml"
      # The control-plane run must not be refused by the account's rate quotas: every
      # `*_per_second` member of the server's Quotas struct raised, under [quotas].
      awk '/^pub struct Quotas/,/^}/' "$src/crates/server/src/config.rs" \
        | sed -n 's/^ *pub \([a-z_]*_per_second\): *u[0-9]*,.*/\1 = 1000000/p' >"$tmp/quotas"
      sed -i "/^\[quotas\]/r $tmp/quotas" "$tmp/bench.toml"
      ${vg[@]+"${vg[@]}"} "$server" --listen "127.0.0.1:$p" --data-dir "$tmp/data" --config "$tmp/bench.toml" \
        >"$out/$kind-server.log" 2>&1 &
      server_pid=$!
      target_flags=(--target ivschat --endpoint "http://127.0.0.1:$p" ${room_tag_flags[@]+"${room_tag_flags[@]}"})
      ;;
    floor)
      ${vg[@]+"${vg[@]}"} "$out/bin/floor-server" --listen "127.0.0.1:$p" --design "$floor_design" \
        >"$out/$kind-server.log" 2>&1 &
      server_pid=$!
      target_flags=(--target bare --endpoint "http://127.0.0.1:$p" --ws-url "ws://127.0.0.1:$p/")
      ;;
  esac
  for _ in $(seq 1 1200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "$kind did not start under callgrind; see $out/$kind-server.log" >&2
  tail -5 "$out/$kind-server.log" >&2
  return 1
}

# How many counter dumps server $1 has written so far.
dumps_of() {
  local f n=0
  for f in "$out/$1-callgrind.out".*; do [ -e "$f" ] && n=$((n + 1)); done
  echo "$n"
}

# Dumps the running server's counters (they restart from zero) and waits for the file.
dump() {
  local before
  before=$(dumps_of "$1")
  callgrind_control -d "$server_pid" >/dev/null
  for _ in $(seq 1 600); do
    [ "$(dumps_of "$1")" -gt "$before" ] && return 0
    sleep 0.1
  done
  echo "no callgrind dump from $1" >&2
  return 1
}

results=()
for kind in "${servers[@]}"; do
  if [ "${CALLGRIND:-1}" != 0 ]; then
  echo "== $kind: chat workload under callgrind ($members members, $messages messages at $rate/s)" >&2
  start_server "$kind"
  # Dumps: .1 start-up, .2 rooms + minting, .3 the handshakes, .4 the message phase.
  dump "$kind"
  rc=0
  "$out/bin/ivschat-bench" "${target_flags[@]}" --server-pid "$server_pid" \
    --connections "$members" --rooms 1 --senders-per-room "$senders" --rate-per-room "$rate" \
    --message-bytes 200 --warmup 0s --duration "${duration_s}s" --drain 60s \
    --connect-concurrency 50 --connect-timeout 900s --threads 1 --mint-ahead \
    --phase-command "[ \"\$IVSCHAT_BENCH_PHASE\" = connecting ] || callgrind_control -d $server_pid >/dev/null" \
    --label "$kind instructions" --json "$out/$kind-chat.json" \
    >"$out/$kind-chat.txt" 2>"$out/$kind-chat.log" || rc=$?
  [ "$rc" -eq 0 ] || echo "   ivschat-bench exit $rc (see $out/$kind-chat.log)" >&2
  for _ in $(seq 1 100); do [ -f "$out/$kind-callgrind.out.4" ] && break; sleep 0.1; done
  if [ "$kind" = ivschat ]; then
    for op in "${cp_ops[@]}"; do
      echo "== $kind: control plane under callgrind ($op, $cp_concurrency connections, $cp_duration)" >&2
      dump "$kind"
      n=$(dumps_of "$kind")
      "$out/bin/ivschat-cpbench" --endpoint "http://127.0.0.1:$p" --operation "$op" \
        --concurrency "$cp_concurrency" --duration "$cp_duration" --warmup 0s --quiet \
        --server-pid "$server_pid" --label "$op instructions" --json "$out/$kind-cp-$op.json" \
        >"$out/$kind-cp-$op.txt" 2>&1 || echo "   ivschat-cpbench exit $? ($out/$kind-cp-$op.txt)" >&2
      dump "$kind"
      echo "$op $((n + 1))" >>"$out/$kind-cp-dumps.txt"
    done
  fi
  stop_server
  fi
  if [ "$perf_ok" = 1 ]; then
    # The kernel's share, natively: the same workload at NATIVE_RATE, with `perf stat`
    # (software events and tracepoints, which this VM has) attached to the server from
    # "connected" to "drained": system calls, CPU time and context switches per delivery
    # (and from "minted" to "connected": the same per handshake). perf gets 0.5 s to attach
    # before the phase it counts begins.
    echo "== $kind: chat workload natively under perf stat ($members members, $messages messages at $native_rate/s)" >&2
    start_server "$kind" native
    rm -f "$out/$kind-perf.txt"
    "$out/bin/ivschat-bench" "${target_flags[@]}" --server-pid "$server_pid" \
      --connections "$members" --rooms 1 --senders-per-room "$senders" --rate-per-room "$native_rate" \
      --message-bytes 200 --warmup 0s --duration "${native_duration_s}s" --drain 10s --mint-ahead \
      --phase-command "perf_stop() { kill -INT \$(cat $out/$kind-perf.pid); while kill -0 \$(cat $out/$kind-perf.pid) 2>/dev/null; do sleep 0.1; done; }
        perf_start() { perf stat -e raw_syscalls:sys_enter,task-clock,context-switches -p $server_pid -o \$1 & echo \$! >$out/$kind-perf.pid; sleep 0.5; }
        case \"\$IVSCHAT_BENCH_PHASE\" in
          minted) perf_start $out/$kind-perf-handshakes.txt ;;
          connected) perf_stop; perf_start $out/$kind-perf.txt ;;
          drained) perf_stop ;;
        esac" \
      --label "$kind native" --json "$out/$kind-native.json" \
      >"$out/$kind-native.txt" 2>"$out/$kind-native.log" || echo "   ivschat-bench exit $? (see $out/$kind-native.log)" >&2
    stop_server
  fi
  results+=("$kind")
done

python3 - "$out" "$members" "$messages" "${servers[@]}" <<'EOF' | tee "$out/summary.txt"
import glob, json, os, re, sys
out, members, messages, servers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]

def total(path):
    for line in open(path):
        if line.startswith("summary:"):
            return int(line.split()[1])
    return None

rows, summary = [], {}
for kind in servers:
    dump = lambda n: total(f"{out}/{kind}-callgrind.out.{n}")
    try:
        chat = json.load(open(f"{out}/{kind}-chat.json"))
    except (OSError, ValueError):
        chat = None
        if os.path.exists(f"{out}/{kind}-chat.log"):
            print(f"{kind}: no chat result (see {out}/{kind}-chat.log)"); continue
    s = {"control_plane": {}}
    if chat:
        d = chat["deliveries"]
        s.update({
            "connections": chat["connect"]["ok"],
            "deliveries": d["received"],
            "lost": d["lost"],
            "out_of_order": d["out_of_order"],
            "messages_sent": chat["sent"]["measured"],
            "startup_instructions": dump(1),
            "mint_instructions": dump(2),
            "connect_instructions": dump(3),
            "message_instructions": dump(4),
        })
        s["per_mint"] = s["mint_instructions"] / max(1, s["connections"])
        s["per_connection"] = s["connect_instructions"] / max(1, s["connections"])
        s["per_delivery"] = s["message_instructions"] / max(1, s["deliveries"])
        s["per_message_sent"] = s["message_instructions"] / max(1, s["messages_sent"])
    cp = {}
    dumps = f"{out}/{kind}-cp-dumps.txt"
    if os.path.exists(dumps):
        for line in open(dumps):
            op, n = line.split()
            r = json.load(open(f"{out}/{kind}-cp-{op}.json"))
            ok = r["requests"] - r.get("non_2xx", 0)
            cp[op] = {"requests": ok, "instructions": dump(int(n)),
                      "per_request": dump(int(n)) / max(1, ok)}
    s["control_plane"] = cp
    # The native pass (perf stat): system calls, CPU time and context switches per delivery.
    try:
        native = json.load(open(f"{out}/{kind}-native.json"))
        text = open(f"{out}/{kind}-perf.txt").read()
        def counter(name):
            m = re.search(r"^\s*([\d,.]+)\s+(?:msec\s+)?" + re.escape(name), text, re.M)
            return float(m.group(1).replace(",", "")) if m else None
        n = max(1, native["deliveries"]["received"])
        handshakes = open(f"{out}/{kind}-perf-handshakes.txt").read()
        def hs_counter(name):
            m = re.search(r"^\s*([\d,.]+)\s+(?:msec\s+)?" + re.escape(name), handshakes, re.M)
            return float(m.group(1).replace(",", "")) if m else None
        h = max(1, native["connect"]["ok"])
        s["native_handshake"] = {
            "connections": native["connect"]["ok"],
            "per_second": native["connect"]["per_second"],
            "syscalls_per_handshake": (hs_counter("raw_syscalls:sys_enter") or 0) / h,
            "cpu_us_per_handshake": (hs_counter("task-clock") or 0) * 1000 / h,
        }
        s["native"] = {
            "deliveries": native["deliveries"]["received"],
            "lost": native["deliveries"]["lost"],
            "p99_ms": native["latency_ms"]["p99"],
            "syscalls_per_delivery": (counter("raw_syscalls:sys_enter") or 0) / n,
            "cpu_us_per_delivery": (counter("task-clock") or 0) * 1000 / n,
            "context_switches_per_delivery": (counter("context-switches") or 0) / n,
        }
    except (OSError, ValueError, KeyError):
        pass
    summary[kind] = s

json.dump(summary, open(f"{out}/summary.json", "w"), indent=2)
print(f"instructions executed by the server (callgrind, user space), {members} members, {messages} messages")
print(f"{'server':10} {'per delivery':>13} {'per message':>13} {'per handshake':>14} {'per mint':>10} {'deliveries':>11} {'lost':>5} {'ooo':>4}")
for kind, s in summary.items():
    if "per_delivery" not in s:
        continue
    print(f"{kind:10} {s['per_delivery']:13,.0f} {s['per_message_sent']:13,.0f} {s['per_connection']:14,.0f} {s['per_mint']:10,.0f} "
          f"{s['deliveries']:11,} {s['lost']:5} {s['out_of_order']:4}")
if "per_delivery" in summary.get("ivschat", {}) and "per_delivery" in summary.get("floor", {}):
    a, b = summary["ivschat"], summary["floor"]
    print(f"ratio ivschat/floor: per delivery x{a['per_delivery'] / b['per_delivery']:.2f}, "
          f"per handshake x{a['per_connection'] / b['per_connection']:.2f}")
natives = {k: s["native"] for k, s in summary.items() if "native" in s}
if natives:
    print()
    print("natively (perf stat on the server, message phase; CPU time depends on how busy the machine is)")
    print(f"{'server':10} {'syscalls/deliv':>14} {'CPU µs/deliv':>13} {'ctx sw/deliv':>13} {'deliveries':>11} {'lost':>5} {'p99 ms':>8}")
    for kind, v in natives.items():
        print(f"{kind:10} {v['syscalls_per_delivery']:14.3f} {v['cpu_us_per_delivery']:13.3f} {v['context_switches_per_delivery']:13.4f} "
              f"{v['deliveries']:11,} {v['lost']:5} {v['p99_ms']:8.1f}")
    print(f"{'server':10} {'syscalls/hs':>14} {'CPU µs/hs':>13} {'handshakes/s':>13}")
    for kind, s in summary.items():
        v = s.get("native_handshake")
        if v:
            print(f"{kind:10} {v['syscalls_per_handshake']:14.1f} {v['cpu_us_per_handshake']:13.1f} {v['per_second']:13,.0f}")
for kind, s in summary.items():
    for op, c in s["control_plane"].items():
        print(f"{kind} control plane {op}: {c['per_request']:,.0f} instructions/request ({c['requests']:,} requests)")
EOF
# Where the instructions go: exclusive counts per function, per handshake and per delivery.
for kind in "${results[@]}"; do
  conns=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]]["connections"])' "$out/summary.json" "$kind" 2>/dev/null || echo 1)
  deliv=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]]["deliveries"])' "$out/summary.json" "$kind" 2>/dev/null || echo 1)
  [ ! -f "$out/$kind-callgrind.out.3" ] || python3 bench/callgrind_self.py "$out/$kind-callgrind.out.3" "$conns" 40 >"$out/$kind-handshake-self.txt"
  [ ! -f "$out/$kind-callgrind.out.4" ] || python3 bench/callgrind_self.py "$out/$kind-callgrind.out.4" "$deliv" 40 >"$out/$kind-delivery-self.txt"
done
echo "results in $out" >&2
