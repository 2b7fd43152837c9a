# Sourced by the compatibility runners whose suites need a second server: one whose account
# SendEvent rate is 1 request/s (ThrottlingException cannot be reached reliably at the default
# 100/s) and whose logging-configuration quota the suite may fill. Python and Node start theirs
# from the test code (chatlog_helpers.configured_server, throttling.test.mjs); the JVM and Go
# suites get it from here.
#
#   slow_server_start      exports IVSCHAT_SLOW_ENDPOINT; stops the server on exit
#
# The binary: IVSCHAT_SERVER_BIN, else $CARGO_TARGET_DIR/debug/ivschat-server (scripts/test.sh
# builds it), else target/debug/ivschat-server.

slow_server_start() {
    local repo bin port i
    repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
    bin=${IVSCHAT_SERVER_BIN:-${CARGO_TARGET_DIR:-$repo/target}/debug/ivschat-server}
    if [[ ! -x "$bin" ]]; then
        echo "error: ivschat-server binary not found at $bin (cargo build -p ivschat-server, or IVSCHAT_SERVER_BIN)" >&2
        return 2
    fi
    SLOW_SERVER_DIR=$(mktemp -d)
    printf '[quotas]\nsend_event_per_second = 1\n' >"$SLOW_SERVER_DIR/ivschat.toml"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    # Only the file configures it: the caller's IVSCHAT_* settings are not passed on.
    env $(env | grep -o '^IVSCHAT_[A-Z_]*' | sed 's/^/-u /') \
        "$bin" --listen "127.0.0.1:$port" --data-dir "$SLOW_SERVER_DIR/data" \
        --config "$SLOW_SERVER_DIR/ivschat.toml" >"$SLOW_SERVER_DIR/server.log" 2>&1 &
    SLOW_SERVER_PID=$!
    trap slow_server_stop EXIT
    export IVSCHAT_SLOW_ENDPOINT="http://127.0.0.1:$port"
    for i in $(seq 1 300); do
        if curl -fsS "$IVSCHAT_SLOW_ENDPOINT/health" >/dev/null 2>&1; then return 0; fi
        if ! kill -0 "$SLOW_SERVER_PID" 2>/dev/null; then
            echo "error: the second ivschat-server exited:" >&2; cat "$SLOW_SERVER_DIR/server.log" >&2
            return 1
        fi
        sleep 0.1
    done
    echo "error: the second ivschat-server did not answer /health within 30 s" >&2
    return 1
}

slow_server_stop() {
    if [[ -n "${SLOW_SERVER_PID:-}" ]]; then
        kill "$SLOW_SERVER_PID" 2>/dev/null || true
        wait "$SLOW_SERVER_PID" 2>/dev/null || true
        SLOW_SERVER_PID=
    fi
    [[ -n "${SLOW_SERVER_DIR:-}" ]] && rm -rf "$SLOW_SERVER_DIR"
    SLOW_SERVER_DIR=
}
