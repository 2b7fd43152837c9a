#!/usr/bin/env bash
# Node.js compatibility suite (official amazon-ivs-chat-messaging SDK + @aws-sdk/client-ivschat)
# against a running ivschat-server.
#
#   tests/compat/run-node.sh ENDPOINT_URL [extra `node --test` args...]
#   e.g. tests/compat/run-node.sh http://127.0.0.1:8080 --test-name-pattern=kick
#
# Installs tests/compat/node/package-lock.json with `npm ci` into tests/compat/node/node_modules
# (skipped when the lockfile is unchanged since the last install; the stamp lives under
# ${IVSCHAT_CACHE:-$HOME/.cache/ivschat-server}, npm's download cache too), then runs the
# test files with the built-in `node --test` runner, with AWS configuration isolated from the
# machine's. Exit status = the runner's. Per-test results go to
# ${IVSCHAT_RESULTS_DIR:-$IVSCHAT_CACHE/compat-results}/node.xml (JUnit, for the matrix).
#
# Environment: IVSCHAT_CACHE (see above); NODE / NPM (interpreters to use);
# IVSCHAT_STEP_TIMEOUT_MS (per-step timeout on chat SDK awaits, default 5000);
# IVSCHAT_SDK_LOG=debug|info|error (echo the chat SDK's log lines to stderr);
# IVSCHAT_SERVER_BIN (throttling.test.mjs starts its own server with a low account rate, and
# tls.test.mjs one with a TLS certificate it makes with `openssl`; default
# $CARGO_TARGET_DIR/debug/ivschat-server).
set -euo pipefail

if [[ $# -lt 1 || -z "${1:-}" ]]; then
    echo "usage: $0 ENDPOINT_URL [node --test args...]   (e.g. http://127.0.0.1:8080)" >&2
    exit 2
fi
endpoint=$1
shift
if [[ ! "$endpoint" =~ ^https?:// ]]; then
    echo "error: ENDPOINT_URL must start with http:// or https:// (got '$endpoint')" >&2
    exit 2
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
suite="$here/node"
lockfile="$suite/package-lock.json"

cache=${IVSCHAT_CACHE:-$HOME/.cache/ivschat-server}
# Per-test results (JUnit XML) for the compatibility matrix (tests/compat/matrix/generate.py);
# removed first, so that a run that fails early leaves no stale results behind.
results=${IVSCHAT_RESULTS_DIR:-$cache/compat-results}
mkdir -p "$results"
# IVSCHAT_NODE_SUITE=console runs the browser test of the web console instead (run-console.sh).
suite_name=${IVSCHAT_NODE_SUITE:-node}
case "$suite_name" in
    node) test_files=(control-plane.test.mjs messaging.test.mjs history.test.mjs presence.test.mjs throttling.test.mjs tls.test.mjs) ;;
    console) test_files=(console.test.mjs) ;;
    *) echo "error: IVSCHAT_NODE_SUITE must be node or console (got '$suite_name')" >&2; exit 2 ;;
esac
rm -f "$results/$suite_name.xml"
node=${NODE:-node}
npm=${NPM:-npm}

# Node >= 20.10: `--experimental-websocket` (the built-in WebSocket test) and `--test-concurrency`.
if ! "$node" -e '
    const [maj, min] = process.versions.node.split(".").map(Number);
    process.exit(maj > 20 || (maj === 20 && min >= 10) ? 0 : 1);' 2>/dev/null; then
    echo "error: Node.js >= 20.10 is required (found: $("$node" --version 2>/dev/null || echo none))" >&2
    exit 2
fi

# One stamp per checkout (clones share the cache but not node_modules). It records the hash of
# the lockfile and package.json that node_modules was installed from.
mkdir -p "$cache/node-compat"
checkout_key=$(printf '%s' "$suite" | sha256sum | cut -c1-16)
stamp="$cache/node-compat/$checkout_key.sha256"
want=$(cat "$lockfile" "$suite/package.json" | sha256sum | cut -d' ' -f1)

if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" || ! -f "$suite/node_modules/.package-lock.json" ]]; then
    rm -f "$stamp"
    echo "run-node.sh: npm ci in $suite" >&2
    (
        cd "$suite"
        "$npm" ci --cache "$cache/npm-cache" --prefer-offline --no-audit --no-fund \
            --loglevel=error --ignore-scripts
    )
    echo "$want" > "$stamp"
fi

# Isolate AWS configuration: only these credentials, no profile, no config files.
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_SECURITY_TOKEN AWS_SDK_LOAD_CONFIG \
    AWS_ENDPOINT_URL AWS_ENDPOINT_URL_IVSCHAT AWS_CA_BUNDLE AWS_ROLE_ARN AWS_ROLE_SESSION_NAME \
    AWS_WEB_IDENTITY_TOKEN_FILE AWS_CONTAINER_CREDENTIALS_RELATIVE_URI AWS_CONTAINER_CREDENTIALS_FULL_URI \
    AWS_CREDENTIAL_EXPIRATION AWS_USE_FIPS_ENDPOINT AWS_USE_DUALSTACK_ENDPOINT
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
export IVSCHAT_ENDPOINT="$endpoint"

# The spec reporter reads better in logs than TAP (Node's default when stdout is not a TTY);
# the JUnit reporter writes the results file. Given reporters of one's own replace both.
reporter=(--test-reporter=spec --test-reporter-destination=stdout
          --test-reporter=junit --test-reporter-destination="$results/$suite_name.xml")
for arg in "$@"; do
    [[ "$arg" == --test-reporter* ]] && reporter=()
done

cd "$suite"
set +e
"$node" --test --test-concurrency=1 "${reporter[@]}" "$@" "${test_files[@]}"
status=$?
set -e
exit $status
