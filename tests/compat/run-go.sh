#!/usr/bin/env bash
# The AWS SDK for Go v2 compatibility suite (tests/compat/go) against a running ivschat-server.
#
#   tests/compat/run-go.sh ENDPOINT_URL [go test args...]     e.g. -run TestCreateRoom
#
# Modules and build cache live under ${IVSCHAT_CACHE:-$HOME/.cache/ivschat-server} (go-mod,
# go-build), so a warm run downloads and compiles nothing. Versions are pinned by go.mod/go.sum.
# Starts a second server for throttling and quotas (tests/compat/lib/slow-server.sh). Per-test
# results go to ${IVSCHAT_RESULTS_DIR:-$IVSCHAT_CACHE/compat-results}/go.xml (JUnit, converted
# from `go test -json` by tests/compat/matrix/generate.py). Exit status = go test's.
set -euo pipefail

if [[ $# -lt 1 || ! "${1:-}" =~ ^https?:// ]]; then
    echo "usage: $0 ENDPOINT_URL [go test args...]   (e.g. http://127.0.0.1:8080)" >&2
    exit 2
fi
endpoint=$1
shift
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${IVSCHAT_CACHE:-$HOME/.cache/ivschat-server}
results=${IVSCHAT_RESULTS_DIR:-$cache/compat-results}
mkdir -p "$results"
rm -f "$results/go.xml"
# Go 1.24+ (what the pinned aws-sdk-go-v2 modules ask for): Debian 12's golang-go (1.19) is too
# old, so the machine must provide it (README: "What the machine must have").
if ! go version 2>/dev/null | grep -Eq 'go1\.(2[4-9]|[3-9][0-9])'; then
    echo "error: Go 1.24 or newer is required (found: $(go version 2>/dev/null || echo none))" >&2
    exit 2
fi

source "$here/lib/slow-server.sh"
slow_server_start

export GOMODCACHE="$cache/go-mod" GOCACHE="$cache/go-build" GOFLAGS=-mod=readonly
export IVSCHAT_ENDPOINT="$endpoint"
# The SDK must find its settings in the code only, not in this machine's AWS configuration.
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
unset AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_ENDPOINT_URL_IVSCHAT

log=$(mktemp)
status=0
(cd "$here/go" && go test -count=1 -json "$@" ./...) >"$log" || status=$?
python3 "$here/matrix/generate.py" junit-from-gotest "$results/go.xml" "$log" || status=1
rm -f "$log"
exit $status
