#!/usr/bin/env bash
# Python compatibility suite (boto3 + AWS CLI v1) against a running ivschat-server.
#
#   tests/compat/run-python.sh ENDPOINT_URL [extra pytest args...]
#
# Creates (or reuses) a virtualenv at ${IVSCHAT_CACHE:-$HOME/.cache/ivschat-server}/venv-compat,
# installs tests/compat/python/requirements.txt into it (skipped when the requirements and the
# Python version are unchanged since the last install), then runs pytest with AWS
# configuration isolated from the machine's. Exit status = pytest's. Per-test results go to
# ${IVSCHAT_RESULTS_DIR:-$IVSCHAT_CACHE/compat-results}/python.xml (JUnit, for the matrix).
set -euo pipefail

if [[ $# -lt 1 || -z "${1:-}" ]]; then
    echo "usage: $0 ENDPOINT_URL [pytest args...]   (e.g. http://127.0.0.1:8080)" >&2
    exit 2
fi
endpoint=$1
shift

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
suite="$here/python"
requirements="$suite/requirements.txt"

cache=${IVSCHAT_CACHE:-$HOME/.cache/ivschat-server}
# Per-test results (JUnit XML) for the compatibility matrix (tests/compat/matrix/generate.py);
# removed first, so that a run that fails early leaves no stale results behind.
results=${IVSCHAT_RESULTS_DIR:-$cache/compat-results}
mkdir -p "$results"
rm -f "$results/python.xml"
venv="$cache/venv-compat"
stamp="$venv/.requirements.sha256"
python=${PYTHON:-python3}

# The stamp covers the requirements and the interpreter that built the venv.
want=$( { cat "$requirements"; "$python" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)

if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
    rm -rf "$venv"
    mkdir -p "$cache"
    if ! "$python" -m venv "$venv"; then
        echo "error: '$python -m venv' failed (on Debian/Ubuntu: apt-get install python3-venv)" >&2
        rm -rf "$venv"
        exit 2
    fi
fi

if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
    rm -f "$stamp"
    echo "run-python.sh: installing $requirements into $venv" >&2
    PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv/bin/python" -m pip install -q -r "$requirements"
    # The pinned botocore must know ivschat, and the pinned awscli must expose it.
    "$venv/bin/python" - <<'EOF'
import boto3, botocore, sys
services = boto3.session.Session().get_available_services()
if "ivschat" not in services:
    sys.exit(f"botocore {botocore.__version__} has no ivschat service")
EOF
    AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
        "$venv/bin/aws" ivschat help >/dev/null 2>&1 \
        || { echo "error: the installed awscli has no 'ivschat' command" >&2; exit 2; }
    echo "$want" > "$stamp"
fi

# Isolate AWS configuration: only these credentials, no profile, no config files.
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_SECURITY_TOKEN \
    AWS_ENDPOINT_URL AWS_ENDPOINT_URL_IVSCHAT AWS_CA_BUNDLE AWS_ROLE_ARN AWS_WEB_IDENTITY_TOKEN_FILE
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
export IVSCHAT_ENDPOINT="$endpoint"
export PYTHONDONTWRITEBYTECODE=1

cd "$repo"
# Put the venv first on PATH so that `aws` resolves to the pinned CLI.
set +e
PATH="$venv/bin:$PATH" "$venv/bin/pytest" -q tests/compat/python \
    --junitxml="$results/python.xml" -o junit_family=xunit2 "$@"
status=$?
set -e
exit $status
