#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: formatting and lints, the Rust unit and
# integration tests (real aws-sdk-ivschat client against an in-process server), then the
# compatibility suites (boto3, AWS CLI, …) against a running ivschat-server binary.
#
# Everything it installs goes under ${IVSCHAT_CACHE:-~/.cache/ivschat-server}, outside the
# clone, so repeat runs are fast.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export IVSCHAT_CACHE=${IVSCHAT_CACHE:-$HOME/.cache/ivschat-server}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$IVSCHAT_CACHE/target}
mkdir -p "$IVSCHAT_CACHE"

step() { printf '\n==> %s\n' "$*"; }

# Everything started below is stopped on every exit path: success, failure, Ctrl-C, TERM.
source scripts/services.sh
server_pid=""
data_dir=""
cleanup() {
  if [[ -n $server_pid ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  [[ -n $data_dir ]] && rm -rf "$data_dir"
  services_stop
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step "Services: private PostgreSQL and Redis (or the ones IVSCHAT_TEST_*_URL name)"
services_start postgres redis
# tests/backend_tls.rs starts TLS-only PostgreSQL and Redis servers of its own (with a CA it
# makes with openssl), so their programs must be here even when the services above came from
# IVSCHAT_TEST_*_URL.
services_find_pg_bin >/dev/null
services_require_command redis-server redis-server
services_require_command openssl openssl
# Tests that need a service fail when it is missing, instead of skipping (as a bare `cargo test`
# without these variables does).
export IVSCHAT_REQUIRE_SERVICES=1

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "Rust tests (unit + integration with aws-sdk-ivschat)"
# cargo-nextest is not installed when missing: the tests themselves run in about 25 s on two
# cores (most of this step is the build), so the most nextest could save is less than the few
# minutes it takes to compile it from crates.io (no prebuilt binaries are reachable here).
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  echo "cargo-nextest not found: running cargo test (see scripts/test.sh for why it is not installed)"
  cargo test --workspace --locked --no-fail-fast
fi

# The fault-injection suite (RELIABILITY.md "Fault injection"): three ivschat-server processes
# on a PostgreSQL and a Redis of its own (it stops and kills them), six chat clients, and faults
# made by the test: kill -9 of a node, Redis paused and killed, PostgreSQL stopped, a node cut off
# from Redis by a network-namespace partition and a full tmpfs under a node's data directory
# (those two need root; without it they are reported SKIPPED). About 100 s on 2 cores, bounded.
step "Fault injection: three nodes, real PostgreSQL and Redis, faults a-e (tests/faults)"
cargo test --locked -p ivschat-server --test faults -- --ignored --nocapture

step "Build ivschat-server for the compatibility suites, and the ivschat CLI"
cargo build --locked -p ivschat-server --bin ivschat-server -p ivschat-cli --bin ivschat
server_bin="$CARGO_TARGET_DIR/debug/ivschat-server"
cli_bin="$CARGO_TARGET_DIR/debug/ivschat"
# The CLI's interactive mode is driven through a terminal multiplexer.
services_require_command tmux tmux
# Suites that start their own servers (e.g. with moto endpoints) use this binary.
export IVSCHAT_SERVER_BIN="$server_bin"

# Start a server on a free loopback port with a fresh data directory, and stop it on exit.
data_dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
endpoint="http://127.0.0.1:$port"
"$server_bin" --listen "127.0.0.1:$port" --data-dir "$data_dir" >"$data_dir/server.log" 2>&1 &
server_pid=$!
# Wait until the server answers its health probe (bounded: 30 s).
for _ in $(seq 1 300); do
  if curl -fsS "$endpoint/health" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$server_pid" 2>/dev/null; then cat "$data_dir/server.log"; exit 1; fi
  sleep 0.1
done
curl -fsS "$endpoint/health" >/dev/null

status=0
step "Compatibility: boto3 and the AWS CLI against $endpoint"
bash tests/compat/run-python.sh "$endpoint" || status=$?
step "Compatibility: @aws-sdk/client-ivschat and amazon-ivs-chat-messaging against $endpoint"
bash tests/compat/run-node.sh "$endpoint" || status=$?
# After the Node suite, which installs the official JS SDK the CLI test chats with.
step "The ivschat CLI: ivschat chat in tmux, tail, send, event, kick, and the JS SDK in one room, against $endpoint"
bash tests/cli/run-chat-tmux.sh "$endpoint" "$cli_bin" || status=$?
step "The web console in Chromium (playwright-core) against $endpoint"
bash tests/compat/run-console.sh "$endpoint" || status=$?
step "Compatibility: the AWS SDK for Java v1 and v2 against $endpoint"
bash tests/compat/run-java.sh "$endpoint" || status=$?
step "Compatibility: the AWS SDK for Go v2 against $endpoint"
bash tests/compat/run-go.sh "$endpoint" || status=$?
step "Compatibility: OpenAPI Generator 7.9.0 clients (javascript, cpp-qt-client) against $endpoint"
bash tests/compat/run-openapi.sh "$endpoint" || status=$?
# Reliability smoke runs (RELIABILITY.md): each bounded, about 3 minutes together on 2 cores
# plus the fuzz build (about 6 minutes from scratch, cached in $IVSCHAT_CACHE/fuzz-target).
step "Schema-driven API testing: schemathesis against $endpoint"
bash tests/compat/run-schemathesis.sh "$endpoint" || status=$?
step "Crash safety: kill -9 under concurrent writes, 5 rounds (server: $server_bin)"
bash scripts/crash-safety.sh 5 || status=$?
step "Fuzzing smoke run: cargo-fuzz, 20 s per target"
bash fuzz/run.sh 20 || status=$?
# Last: the matrix, from the results of all the suites above (also when one failed, so that the
# failing cells show); exits non-zero when a cell's tests failed or did not run.
step "Compatibility matrix: COMPATIBILITY.md"
bash tests/compat/matrix/run.sh || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- server log (last 50 lines) ---"; tail -50 "$data_dir/server.log"
  exit "$status"
fi

step "All suites passed"
