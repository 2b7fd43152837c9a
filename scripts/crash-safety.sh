#!/usr/bin/env bash
# Crash safety: kill -9 the server at random moments under concurrent writes, and check that
# nothing acknowledged is lost and that the SQLite files are intact.
#
#   scripts/crash-safety.sh [ROUNDS]        (default 5, the CI smoke run; e.g. 100 for a real run)
#
# Each round, with one data directory kept across rounds:
#   1. start ivschat-server on a fresh loopback port with --aws-endpoint http://127.0.0.1:9
#      (every AWS log destination is down, so chat log records stay in the spool);
#   2. scripts/crash-safety/driver.py drives 3 control-plane writers (create/update/tag/untag/
#      delete rooms, create/update/delete logging configurations; boto3, no retries) and 2 chat
#      connections (SEND_MESSAGE, plus SendEvent) in a room with a Firehose logging
#      configuration, recording every write answered 2xx and every MESSAGE/EVENT delivered;
#   3. SIGKILL the server at a random moment (0.3 to CRASH_MAX_DELAY s, default 4, into the writes);
#   4. with the server down: `PRAGMA integrity_check` of ivschat.db and spool.db must say ok,
#      and every acknowledged chat record must be in spool.db;
#   5. restart on a new port; through the API every acknowledged write must be there (every
#      acknowledged delete absent); a write cut off by the kill may have happened or not;
#   6. no server log may contain a panic.
#
# Binary: $IVSCHAT_SERVER_BIN if set (scripts/test.sh passes its debug build), else
# `cargo build --release`. Python packages: scripts/crash-safety/requirements.txt in
# ${IVSCHAT_CACHE:-$HOME/.cache/ivschat-server}/venv-crash. Exit status 0 only if every round passed.
set -euo pipefail

rounds=${1:-5}
root=$(cd "$(dirname "$0")/.." && pwd)
here="$root/scripts/crash-safety"
export IVSCHAT_CACHE=${IVSCHAT_CACHE:-$HOME/.cache/ivschat-server}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$IVSCHAT_CACHE/target}
max_delay=${CRASH_MAX_DELAY:-4}
mkdir -p "$IVSCHAT_CACHE"

server_bin=${IVSCHAT_SERVER_BIN:-}
if [[ -z "$server_bin" ]]; then
    (cd "$root" && cargo build --release --locked -p ivschat-server --bin ivschat-server)
    server_bin="$CARGO_TARGET_DIR/release/ivschat-server"
fi

python=${PYTHON:-python3}
venv="$IVSCHAT_CACHE/venv-crash"
stamp="$venv/.requirements.sha256"
want=$( { cat "$here/requirements.txt"; "$python" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
    rm -rf "$venv"
    "$python" -m venv "$venv"
fi
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
    rm -f "$stamp"
    PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv/bin/python" -m pip install -q -r "$here/requirements.txt"
    echo "$want" > "$stamp"
fi
py="$venv/bin/python"
unset AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_ENDPOINT_URL \
    AWS_ENDPOINT_URL_IVSCHAT
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true

work=$(mktemp -d)
data="$work/data"
state="$work/state.json"
server_pid=""
driver_pid=""
cleanup() {
    [[ -n "$driver_pid" ]] && kill "$driver_pid" 2>/dev/null || true
    [[ -n "$server_pid" ]] && kill -9 "$server_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    if [[ "${keep_work:-0}" == 1 ]]; then echo "crash-safety: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

free_port() {
    "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_server() { # $1: log name
    port=$(free_port)
    endpoint="http://127.0.0.1:$port"
    IVSCHAT_LOG=info "$server_bin" --listen "127.0.0.1:$port" --data-dir "$data" \
        --aws-endpoint http://127.0.0.1:9 >"$work/$1.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 300); do
        if curl -fsS "$endpoint/health" >/dev/null 2>&1; then return 0; fi
        if ! kill -0 "$server_pid" 2>/dev/null; then
            echo "crash-safety: the server did not start:" >&2; tail -20 "$work/$1.log" >&2; return 1
        fi
        sleep 0.1
    done
    echo "crash-safety: the server did not answer /health within 30 s" >&2
    return 1
}

fail() {
    echo "crash-safety: FAILED in round $round: $*" >&2
    keep_work=1
    exit 1
}

started=$(date +%s)
round=0
start_server "server-0" || fail "start"
total_acked=0; total_doubt=0; total_chat=0
for round in $(seq 1 "$rounds"); do
    # Writes for up to 30 s; the kill comes well before.
    "$py" "$here/driver.py" drive "$endpoint" "$state" 30 >"$work/driver-$round.out" 2>"$work/driver-$round.err" &
    driver_pid=$!
    for _ in $(seq 1 300); do
        grep -q '^ready' "$work/driver-$round.out" 2>/dev/null && break
        kill -0 "$driver_pid" 2>/dev/null || break
        sleep 0.1
    done
    grep -q '^ready' "$work/driver-$round.out" || { cat "$work/driver-$round.err" >&2; fail "the driver did not start"; }
    delay=$("$py" -c "import random; print(round(random.uniform(0.3, $max_delay), 2))")
    sleep "$delay"
    kill -9 "$server_pid"
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
    if ! wait "$driver_pid"; then
        driver_pid=""
        cat "$work/driver-$round.err" >&2
        fail "the driver failed before the kill"
    fi
    driver_pid=""
    counts=$(tail -1 "$work/driver-$round.out")
    spool=$("$py" "$here/driver.py" verify-spool - "$state" "$data") || fail "spool and integrity check"
    start_server "server-$round" || fail "restart after kill -9"
    api=$("$py" "$here/driver.py" verify "$endpoint" "$state") || fail "acknowledged writes check"
    if grep -l "panicked" "$work"/server-*.log >/dev/null 2>&1; then
        grep -h -A5 "panicked" "$work"/server-*.log >&2
        fail "a server panicked"
    fi
    read -r acked doubt chat < <("$py" -c "import json,sys; c=json.loads(sys.argv[1]); print(c.get('acknowledged',0), c.get('in_doubt',0), c.get('chat_acknowledged',0))" "$counts")
    total_acked=$((total_acked + acked)); total_doubt=$((total_doubt + doubt)); total_chat=$((total_chat + chat))
    echo "round $round/$rounds: killed after ${delay}s; $acked writes acknowledged, $doubt in doubt, $chat chat records acknowledged; $spool; $api"
done
kill "$server_pid" 2>/dev/null || true
wait "$server_pid" 2>/dev/null || true
server_pid=""
echo "crash-safety: $rounds rounds of kill -9 passed: $total_acked acknowledged control-plane writes, $total_doubt in doubt, $total_chat acknowledged chat records, all checked ($(( $(date +%s) - started )) s)"
