#!/usr/bin/env bash
# The AWS SDK for Java v1 and v2 compatibility suites (tests/compat/java) against a running
# ivschat-server.
#
#   tests/compat/run-java.sh ENDPOINT_URL [mvn args...]     e.g. -Dtest=JavaV1Test
#
# Maven's repository is cached under ${IVSCHAT_CACHE:-$HOME/.cache/ivschat-server}/m2, so a warm
# run downloads nothing. Versions are pinned in tests/compat/java/pom.xml. Starts a second server
# for throttling and quotas (tests/compat/lib/slow-server.sh). Per-test results go to
# ${IVSCHAT_RESULTS_DIR:-$IVSCHAT_CACHE/compat-results}/java-v1.xml and java-v2.xml (JUnit, from
# surefire). Exit status = Maven's.
set -euo pipefail

if [[ $# -lt 1 || ! "${1:-}" =~ ^https?:// ]]; then
    echo "usage: $0 ENDPOINT_URL [mvn args...]   (e.g. http://127.0.0.1:8080)" >&2
    exit 2
fi
endpoint=$1
shift
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${IVSCHAT_CACHE:-$HOME/.cache/ivschat-server}
results=${IVSCHAT_RESULTS_DIR:-$cache/compat-results}
mkdir -p "$results"
rm -f "$results/java-v1.xml" "$results/java-v2.xml"
# A JDK (17+) and Maven, from Debian's packages when missing (scripts/services.sh installs them,
# with sudo when not root).
source "$here/../../scripts/services.sh"
services_require_command javac default-jdk-headless
services_require_command mvn maven

source "$here/lib/slow-server.sh"
slow_server_start

export IVSCHAT_ENDPOINT="$endpoint"
# The SDKs must find their settings in the code only, not in this machine's AWS configuration.
# (An empty file, not /dev/null: v1 warns that /dev/null is not a profiles file.)
empty_config="$SLOW_SERVER_DIR/empty-aws-config"
: >"$empty_config"
export AWS_CONFIG_FILE="$empty_config" AWS_SHARED_CREDENTIALS_FILE="$empty_config"
export AWS_JAVA_V1_DISABLE_DEPRECATION_ANNOUNCEMENT=true
unset AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_ENDPOINT_URL_IVSCHAT

status=0
reports="$here/java/target/surefire-reports"
rm -rf "$reports"
(cd "$here/java" && mvn -B -q -Dmaven.repo.local="$cache/m2" test "$@") || status=$?
for v in 1 2; do
    if [[ -f "$reports/TEST-compat.JavaV${v}Test.xml" ]]; then
        cp "$reports/TEST-compat.JavaV${v}Test.xml" "$results/java-v${v}.xml"
    fi
done
exit $status
