#!/usr/bin/env bash
# Schema-driven API testing: schemathesis against a running ivschat-server.
#
#   tests/compat/run-schemathesis.sh ENDPOINT_URL [extra schemathesis args...]
#
# Generates requests for all 17 operations from the OpenAPI description
# (tests/compat/openapi/ivschat-openapi.yaml, see tests/compat/openapi/README.md), corrected for
# its known quirks by schemathesis/prepare_spec.py, signs each with SigV4 (botocore;
# schemathesis/hooks.py) and checks every answer:
#   not_a_server_error            never 5xx
#   status_code_conformance       only the operation's documented (real) status codes
#   content_type_conformance      the documented media type
#   response_headers_conformance  documented headers
#   response_schema_conformance   200 bodies match the output shapes, errors the error body
#   negative_data_rejection       input that breaks the schema is refused with a 4xx
#   aws_error_shape               every 4xx has X-Amzn-Errortype (known type, matching status)
#                                 and a JSON body with a string `message`
#   signature_accepted            no botocore-signed request is refused with a SigV4 error
# Phases: examples, coverage, fuzzing (positive and negative data) and stateful (links from
# CreateRoom/CreateLoggingConfiguration to the operations that take their ARN).
#
# Bounded for CI (~1-2 minutes): ST_MAX_EXAMPLES (default 25) examples per operation and phase,
# fixed seed ST_SEED (default 20240601; `random` for a new one each run). A longer run:
#   ST_MAX_EXAMPLES=500 ST_SEED=random tests/compat/run-schemathesis.sh http://127.0.0.1:8080
#
# The venv is ${IVSCHAT_CACHE:-$HOME/.cache/ivschat-server}/venv-schemathesis (pinned
# schemathesis/requirements.txt; reinstalled only when it or the Python version changes).
# Resources the run creates are deleted at the end (the server is shared with other suites).
# The JSON report goes to ${IVSCHAT_RESULTS_DIR:-$IVSCHAT_CACHE/compat-results}/schemathesis.json.
# Exit status: schemathesis' (non-zero on any failure or error).
set -euo pipefail

if [[ $# -lt 1 || ! "${1:-}" =~ ^https?:// ]]; then
    echo "usage: $0 ENDPOINT_URL [schemathesis args...]   (e.g. http://127.0.0.1:8080)" >&2
    exit 2
fi
endpoint=${1%/}
shift

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
suite="$here/schemathesis"
requirements="$suite/requirements.txt"
spec="$here/openapi/ivschat-openapi.yaml"
if [[ ! -f "$spec" ]]; then
    echo "error: no OpenAPI description (tests/compat/openapi/ivschat-openapi.yaml)" >&2
    exit 2
fi

cache=${IVSCHAT_CACHE:-$HOME/.cache/ivschat-server}
venv="$cache/venv-schemathesis"
stamp="$venv/.requirements.sha256"
python=${PYTHON:-python3}
results=${IVSCHAT_RESULTS_DIR:-$cache/compat-results}
mkdir -p "$cache" "$results"

want=$( { cat "$requirements"; "$python" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
    rm -rf "$venv"
    if ! "$python" -m venv "$venv"; then
        echo "error: '$python -m venv' failed (on Debian/Ubuntu: apt-get install python3-venv)" >&2
        rm -rf "$venv"
        exit 2
    fi
fi
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
    rm -f "$stamp"
    echo "run-schemathesis.sh: installing $requirements into $venv" >&2
    PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv/bin/python" -m pip install -q -r "$requirements"
    echo "$want" > "$stamp"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$venv/bin/python" "$suite/prepare_spec.py" "$spec" "$work/spec.json"

seed=${ST_SEED:-20240601}
seed_args=()
[[ "$seed" == random ]] || seed_args=(--seed "$seed")

export PYTHONPATH="$suite" SCHEMATHESIS_HOOKS=hooks PYTHONDONTWRITEBYTECODE=1
export IVSCHAT_ST_CREATED="$work/created.txt" IVSCHAT_ST_STATUSES="$work/statuses.txt"
# No AWS configuration of the machine leaks in: the hook signs with test/test itself.
unset AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN

set +e
(cd "$work" && "$venv/bin/schemathesis" run "$work/spec.json" \
    --url "$endpoint" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,negative_data_rejection,aws_error_shape,signature_accepted \
    --max-examples "${ST_MAX_EXAMPLES:-25}" \
    --suppress-health-check filter_too_much,too_slow \
    --workers 2 \
    --request-timeout 30 \
    "${seed_args[@]}" \
    --report json --report-json-path "$results/schemathesis.json" \
    "$@")
status=$?
set -e

"$venv/bin/python" "$suite/cleanup.py" "$endpoint" "$work/created.txt" || status=1
"$venv/bin/python" - "$results/schemathesis.json" "$work/statuses.txt" <<'PY' || true
import collections, json, sys
report = json.load(open(sys.argv[1]))
cases = report["test_cases"]
statuses = collections.Counter()
try:
    for line in open(sys.argv[2]):
        statuses[line.split()[-1]] += 1
except FileNotFoundError:
    pass
tally = ", ".join(f"{code}: {n}" for code, n in sorted(statuses.items()))
print(f"schemathesis: {cases['generated']} cases generated, {sum(statuses.values())} requests "
      f"({tally}), {cases['with_failures']} with failures, {len(report['errors'])} errors, "
      f"seed {report['seed']}, {report['running_time']:.0f} s")
PY
exit $status
