#!/usr/bin/env bash
# strace -c -f over the handshake phase of 1,000 connections, one server binary ($1), port $2, output $3
set -euo pipefail
cd /work/wt-handshake
. bench/lib.sh
bin="$1"; p="$2"; outf="$3"
tmp=$(mktemp -d)
write_open_limits_config "$tmp/bench.toml"
"$bin" --listen "127.0.0.1:$p" --data-dir "$tmp/data" --config "$tmp/bench.toml" >"$tmp/server.log" 2>&1 &
spid=$!
trap 'kill $spid 2>/dev/null; wait $spid 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && break; sleep 0.1; done
$HOME/.cache/ivschat-server/target-handshake/release/ivschat-bench --target ivschat --endpoint "http://127.0.0.1:$p" \
  --connections 1000 --rooms 1 --senders-per-room 1 --rate-per-room 1 --message-bytes 200 --warmup 0s --duration 1s --drain 2s --mint-ahead \
  --phase-command "case \"\$IVSCHAT_BENCH_PHASE\" in
     minted) strace -c -f -p $spid -o $outf & echo \$! > $tmp/strace.pid; sleep 1 ;;
     connected) kill -INT \$(cat $tmp/strace.pid); while kill -0 \$(cat $tmp/strace.pid) 2>/dev/null; do sleep 0.1; done ;;
   esac" >"$tmp/bench.txt" 2>"$tmp/bench.log" || { tail -5 "$tmp/bench.log"; }
