#!/usr/bin/env bash
# OpenAPI Generator 7.9.0 clients (`javascript`, `cpp-qt-client`) against a running ivschat-server.
#
#   tests/compat/run-openapi.sh ENDPOINT_URL [--only javascript|cpp-qt-client]
#
# 1. Installs openapi-generator-cli==7.9.0 (PyPI; it bundles the generator's jar, run with the
#    machine's Java >= 11) and PyYAML into ${IVSCHAT_CACHE:-~/.cache/ivschat-server}/venv-openapi.
# 2. Generates the clients from tests/compat/openapi/ivschat-openapi.yaml (APIs-guru's OpenAPI
#    conversion of the service model, see openapi/README.md) into $IVSCHAT_CACHE/openapi/<key>/,
#    where <key> hashes the description, the generator version, flatten_allof.py and the
#    generator arguments; nothing generated is committed, and a repeat run with the same key
#    regenerates nothing:
#      javascript/            from the description as it is;
#      cpp-qt-client-raw/     from the description as it is (does not compile: checked, see below);
#      cpp-qt-client/         from the description with single-$ref allOfs flattened
#                             (openapi/flatten_allof.py), which is what a Qt user must do.
# 3. javascript: `npm ci` of tests/compat/openapi/js (superagent, aws4), then `node --test`.
# 4. cpp-qt-client: apt-get installs qtbase5-dev, cmake and g++ when missing (root only); checks
#    that the raw client fails to compile (cached per key); builds the flattened client and the
#    QtTest harness with CMake in $IVSCHAT_CACHE/openapi/qt-build-<key> (incremental), runs it.
# 5. Starts a second ivschat-server (binary: $IVSCHAT_SERVER_BIN, else
#    $CARGO_TARGET_DIR/debug/ivschat-server) with openapi/throttle-server.toml for the
#    ThrottlingException scenario; without a binary that scenario is skipped.
#
# Results: JUnit XML in ${IVSCHAT_RESULTS_DIR:-$IVSCHAT_CACHE/compat-results}/openapi-*.xml (read
# by tests/compat/matrix/generate.py). Exit status: non-zero if any suite failed.
set -euo pipefail

if [[ $# -lt 1 || ! "${1:-}" =~ ^https?:// ]]; then
    echo "usage: $0 ENDPOINT_URL [--only javascript|cpp-qt-client]   (e.g. http://127.0.0.1:8080)" >&2
    exit 2
fi
endpoint=${1%/}
shift
only=""
if [[ "${1:-}" == "--only" ]]; then only=${2:?}; shift 2; fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
suite="$here/openapi"
cache=${IVSCHAT_CACHE:-$HOME/.cache/ivschat-server}
results=${IVSCHAT_RESULTS_DIR:-$cache/compat-results}
mkdir -p "$cache/openapi" "$results"
# Removed first, so that a run that fails early leaves no stale results behind.
if [[ -z "$only" || "$only" == javascript ]]; then rm -f "$results/openapi-javascript.xml"; fi
if [[ -z "$only" || "$only" == cpp-qt-client ]]; then rm -f "$results"/openapi-cpp-qt-client*.xml; fi
generator_version=7.9.0
spec="$suite/ivschat-openapi.yaml"
python=${PYTHON:-python3}
node=${NODE:-node}
npm=${NPM:-npm}
log() { printf 'run-openapi.sh: %s\n' "$*" >&2; }
elapsed() { echo $(( $(date +%s) - $1 ))s; }

# ------------------------------------------------------------------ generator (PyPI + Java)
apt_install() { # packages...: apt-get install, with one `apt-get update` if the lists are stale
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends "$@" >/dev/null 2>&1 || {
        apt-get update -q >/dev/null
        apt-get install -y -q --no-install-recommends "$@" >/dev/null
    }
}
if ! java -version >/dev/null 2>&1; then
    if [[ $(id -u) -ne 0 ]]; then
        echo "error: the OpenAPI Generator needs a Java runtime (11+): apt-get install default-jre-headless" >&2
        exit 2
    fi
    log "apt-get install default-jre-headless"
    apt_install default-jre-headless
fi
if ! "$node" -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 10) ? 0 : 1)' 2>/dev/null; then
    echo "error: Node.js >= 20.10 is required (found: $("$node" --version 2>/dev/null || echo none))" >&2
    exit 2
fi
venv="$cache/venv-openapi"
requirements="$suite/requirements.txt"
want=$( { cat "$requirements"; "$python" -c 'import sys; print(sys.version)'; } | sha256sum | cut -c1-64)
if [[ ! -x "$venv/bin/python" || "$(cat "$venv/.requirements.sha256" 2>/dev/null)" != "$want" ]]; then
    log "installing $requirements into $venv"
    rm -rf "$venv"
    "$python" -m venv "$venv"
    PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv/bin/python" -m pip install -q -r "$requirements"
    echo "$want" > "$venv/.requirements.sha256"
fi
got_version=$("$venv/bin/openapi-generator-cli" version 2>/dev/null | tail -1)
[[ "$got_version" == "$generator_version" ]] || { echo "error: generator $got_version, want $generator_version" >&2; exit 2; }

# Generator arguments (default options, as the seed clients were generated): part of the key.
gen_args=()
key=$( { sha256sum "$spec" "$suite/flatten_allof.py" | cut -c1-64; echo "$generator_version ${gen_args[*]}"; } \
    | sha256sum | cut -c1-16)
gen="$cache/openapi/$key"
if [[ ! -f "$gen/.complete" ]]; then
    t0=$(date +%s)
    log "generating clients into $gen"
    rm -rf "$gen" "$gen.tmp"
    mkdir -p "$gen.tmp"
    "$venv/bin/python" "$suite/flatten_allof.py" "$spec" "$gen.tmp/ivschat-openapi.flat.yaml"
    for target in javascript:javascript:"$spec" cpp-qt-client-raw:cpp-qt-client:"$spec" \
        cpp-qt-client:cpp-qt-client:"$gen.tmp/ivschat-openapi.flat.yaml"; do
        IFS=: read -r dir generator input <<<"$target"
        "$venv/bin/openapi-generator-cli" generate -g "$generator" -i "$input" -o "$gen.tmp/$dir" \
            "${gen_args[@]}" >"$gen.tmp/$dir.log" 2>&1 \
            || { cat "$gen.tmp/$dir.log" >&2; exit 1; }
    done
    touch "$gen.tmp/.complete"
    mv "$gen.tmp" "$gen"
    log "generated in $(elapsed "$t0")"
fi

status=0
want_client() { [[ -z "$only" || "$only" == "$1" ]]; }

# ------------------------------------------------------------------ throttling server
throttle_pid=""
throttle_dir=""
stop_throttle() {
    if [[ -n "$throttle_pid" ]]; then kill "$throttle_pid" 2>/dev/null || true; wait "$throttle_pid" 2>/dev/null || true; fi
    [[ -n "$throttle_dir" ]] && rm -rf "$throttle_dir"
    return 0
}
trap stop_throttle EXIT
server_bin=${IVSCHAT_SERVER_BIN:-${CARGO_TARGET_DIR:-$cache/target}/debug/ivschat-server}
unset IVSCHAT_THROTTLE_ENDPOINT
if [[ -x "$server_bin" ]]; then
    throttle_dir=$(mktemp -d)
    port=$("$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    "$server_bin" --config "$suite/throttle-server.toml" --listen "127.0.0.1:$port" \
        --data-dir "$throttle_dir" >"$throttle_dir/server.log" 2>&1 &
    throttle_pid=$!
    for _ in $(seq 1 300); do
        curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
        kill -0 "$throttle_pid" 2>/dev/null || break
        sleep 0.1
    done
    if curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1; then
        export IVSCHAT_THROTTLE_ENDPOINT="http://127.0.0.1:$port"
    else
        log "warning: the throttling server did not start; ThrottlingException is skipped"
        cat "$throttle_dir/server.log" >&2 || true
    fi
else
    log "warning: no ivschat-server binary at $server_bin (set IVSCHAT_SERVER_BIN); ThrottlingException is skipped"
fi

# Isolated AWS configuration (the harnesses sign with test/test themselves).
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_ENDPOINT_URL_IVSCHAT
export IVSCHAT_ENDPOINT="$endpoint"

# A JUnit file written by this script (build checks).
junit_case() { # name outcome(pass|fail) message
    local msg=${3//&/&amp;}; msg=${msg//</&lt;}; msg=${msg//>/&gt;}; msg=${msg//\"/&quot;}
    if [[ "$2" == pass ]]; then printf '  <testcase name="%s"/>\n' "$1"
    else printf '  <testcase name="%s"><failure message="%s"/></testcase>\n' "$1" "$msg"; fi
}

# ------------------------------------------------------------------ javascript
if want_client javascript; then
    t0=$(date +%s)
    out="$results/openapi-javascript.xml"
    rm -f "$out"
    js="$suite/js"
    stamp="$cache/openapi/npm-$(printf '%s' "$js" | sha256sum | cut -c1-16).sha256"
    want=$(cat "$js/package-lock.json" "$js/package.json" | sha256sum | cut -c1-64)
    if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" || ! -f "$js/node_modules/.package-lock.json" ]]; then
        log "npm ci in $js"
        (cd "$js" && "$npm" ci --cache "$cache/npm-cache" --prefer-offline --no-audit --no-fund \
            --loglevel=error --ignore-scripts)
        echo "$want" > "$stamp"
    fi
    log "javascript client: node --test"
    (cd "$js" && OPENAPI_JS_CLIENT_DIR="$gen/javascript" "$node" --import ./register.mjs --test \
        --test-concurrency=1 --test-reporter=spec --test-reporter-destination=stdout \
        --test-reporter=junit --test-reporter-destination="$out" control-plane.test.mjs) || status=1
    log "javascript client done in $(elapsed "$t0")"
fi

# ------------------------------------------------------------------ cpp-qt-client
if want_client cpp-qt-client; then
    t0=$(date +%s)
    out="$results/openapi-cpp-qt-client.xml"
    build_out="$results/openapi-cpp-qt-client-build.xml"
    rm -f "$out" "$build_out"
    qt_headers=$(qmake -query QT_INSTALL_HEADERS 2>/dev/null || true)
    if ! command -v cmake >/dev/null || ! command -v g++ >/dev/null || ! command -v make >/dev/null ||
        [[ ! -f "$qt_headers/QtNetwork/QNetworkAccessManager" || ! -f "$qt_headers/QtTest/QtTest" ]]; then
        if [[ $(id -u) -ne 0 ]]; then
            echo "error: the Qt client needs qtbase5-dev, cmake, g++ and make (apt-get install -y qtbase5-dev cmake g++ make)" >&2
            exit 2
        fi
        log "apt-get install qtbase5-dev cmake g++ make"
        apt_install qtbase5-dev cmake g++ make
        qt_headers=$(qmake -query QT_INSTALL_HEADERS)
    fi
    qt_version=$(qmake -query QT_VERSION)

    # As generated from the raw description, the client does not compile (bare QList/QMap for
    # allOf-wrapped arrays and maps). Checked on one translation unit; cached per key.
    raw_check="$gen/qt-raw-compile.log"
    if [[ ! -f "$raw_check.done" ]]; then
        set +e
        g++ -std=c++17 -fsyntax-only -fPIC -I"$qt_headers" -I"$qt_headers/QtCore" -I"$qt_headers/QtNetwork" \
            -I"$qt_headers/QtGui" -I"$gen/cpp-qt-client-raw/client" \
            "$gen/cpp-qt-client-raw/client/OAIListRoomsResponse.cpp" >"$raw_check" 2>&1
        echo $? > "$raw_check.done"
        set -e
    fi
    bare=$(grep -hE '^\s+(const )?Q(List|Map) ' "$gen/cpp-qt-client-raw/client/"*.h | wc -l)
    if [[ "$(cat "$raw_check.done")" != 0 ]] && grep -q "invalid use of template-name .QList. without an argument list" "$raw_check"; then
        raw_case=$(junit_case Build_asGenerated pass "")
    else
        raw_case=$(junit_case Build_asGenerated fail "expected the raw client to fail with bare QList (exit $(cat "$raw_check.done")); see $raw_check")
    fi

    # CMake ties a build directory to one source directory: key it by the checkout's path too,
    # so clones in other places (CI) do not collide with this one's cache.
    src_key=$(printf '%s' "$suite" | sha256sum | cut -c1-8)
    qt_build="$cache/openapi/qt-build-$key-$src_key"
    log "cpp-qt-client: cmake build in $qt_build (Qt $qt_version)"
    set +e
    cmake -S "$suite/qt" -B "$qt_build" -DCMAKE_BUILD_TYPE=Release \
        -DOPENAPI_QT_CLIENT_DIR="$gen/cpp-qt-client/client" >"$qt_build.configure.log" 2>&1 &&
        cmake --build "$qt_build" -j "$(nproc)" >"$qt_build.build.log" 2>&1
    built=$?
    set -e
    if [[ $built -eq 0 ]]; then
        flat_case=$(junit_case Build_flattened pass "")
    else
        tail -n 40 "$qt_build.configure.log" "$qt_build.build.log" >&2 || true
        flat_case=$(junit_case Build_flattened fail "cmake build failed; see $qt_build.build.log")
        status=1
    fi
    {
        echo '<?xml version="1.0" encoding="UTF-8"?>'
        echo "<testsuite name=\"cpp-qt-client build\" qt=\"$qt_version\" bare_containers_in_raw_headers=\"$bare\">"
        echo "$raw_case"
        echo "$flat_case"
        echo '</testsuite>'
    } > "$build_out"
    grep -q '<failure' <<<"$raw_case" && status=1

    if [[ $built -eq 0 ]]; then
        log "cpp-qt-client: QtTest"
        # The generated worker qDebug()s "got a request body" for every POST: silenced.
        QT_LOGGING_RULES="default.debug=false" "$qt_build/tst_controlplane" \
            -o "$out,junitxml" -o "-,txt" || status=1
    fi
    log "cpp-qt-client done in $(elapsed "$t0")"
fi

# Runtime versions, for the matrix.
printf '{"generator": "%s", "qt": "%s", "java": "%s", "node": "%s"}\n' "$generator_version" \
    "$(qmake -query QT_VERSION 2>/dev/null || echo none)" \
    "$(java -version 2>&1 | head -1 | sed 's/"/\\"/g')" "$("$node" --version)" > "$results/openapi-environment.json"

exit $status
