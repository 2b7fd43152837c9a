#!/usr/bin/env bash
# The web console (`/console`) in a real browser against a running ivschat-server:
# tests/compat/node/console.test.mjs, with playwright-core driving Debian's Chromium and the
# official chat SDK as the other member of the room.
#
#   tests/compat/run-console.sh ENDPOINT_URL [node --test args...]
#
# Installs Debian's `chromium` when it is missing (scripts/services.sh; no test tool downloads
# a browser of its own), then runs the file through run-node.sh (same npm install, same AWS
# isolation). Results: ${IVSCHAT_RESULTS_DIR:-$IVSCHAT_CACHE/compat-results}/console.xml.
# IVSCHAT_CONSOLE_SCREENSHOTS=DIR saves screenshots of the main pages (docs/console/ holds
# README's).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/../../scripts/services.sh"
services_require_command chromium chromium
export IVSCHAT_CHROMIUM=${IVSCHAT_CHROMIUM:-$(command -v chromium)}
IVSCHAT_NODE_SUITE=console exec bash "$here/run-node.sh" "$@"
