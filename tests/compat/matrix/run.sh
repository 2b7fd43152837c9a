#!/usr/bin/env bash
# The compatibility matrix: collects the Rust suite's results, then writes COMPATIBILITY.md.
#
#   tests/compat/matrix/run.sh [generate.py args...]     (e.g. --check)
#
# The aws-sdk-ivschat suite runs in-process (crates/server/tests), not against the shared
# server, and `cargo test`/nextest keep no per-test report; so this re-runs the two test binaries
# that back the matrix (control_plane, and messaging's throttling test; already built by the
# Rust test step, a few seconds) and converts libtest's output to JUnit
# ($IVSCHAT_RESULTS_DIR/rust.xml). IVSCHAT_MATRIX_SKIP_RUST=1 keeps an existing rust.xml.
# The other suites write their JUnit files themselves (run-python.sh, run-node.sh,
# run-openapi.sh). Then generate.py builds the matrix from all of them (see its docstring).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../../.." && pwd)
cache=${IVSCHAT_CACHE:-$HOME/.cache/ivschat-server}
export IVSCHAT_RESULTS_DIR=${IVSCHAT_RESULTS_DIR:-$cache/compat-results}
mkdir -p "$IVSCHAT_RESULTS_DIR"
python=${PYTHON:-python3}
status=0

if [[ "${IVSCHAT_MATRIX_SKIP_RUST:-}" != 1 || ! -f "$IVSCHAT_RESULTS_DIR/rust.xml" ]]; then
    rm -f "$IVSCHAT_RESULTS_DIR/rust.xml"
    logs=$(mktemp -d)
    trap 'rm -rf "$logs"' EXIT
    (cd "$repo" && cargo test --locked --workspace --test control_plane --no-fail-fast \
        >"$logs/control_plane.log" 2>&1) || { tail -30 "$logs/control_plane.log"; status=1; }
    (cd "$repo" && cargo test --locked --workspace --test messaging -- --exact \
        account_rate_quotas_answer_429_and_throttling_exception \
        >"$logs/messaging.log" 2>&1) || { tail -30 "$logs/messaging.log"; status=1; }
    "$python" "$here/generate.py" junit-from-libtest "$IVSCHAT_RESULTS_DIR/rust.xml" \
        control_plane="$logs/control_plane.log" messaging="$logs/messaging.log" || status=1
fi

"$python" "$here/generate.py" "$@" || status=1
exit $status
