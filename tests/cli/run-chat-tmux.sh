#!/usr/bin/env bash
# The `ivschat` CLI against a running ivschat-server, the interactive mode driven through a
# terminal: `ivschat chat` runs in a tmux session (a private tmux server, its own socket), keys
# go in with `send-keys`, and the screen is read with `capture-pane` until the expected text
# appears (each wait bounded: 20 s). Alongside: `ivschat tail` (JSON lines), `send`, `event`,
# `kick`, `/delete` typed at the prompt, and a peer on the official JS SDK
# (amazon-ivs-chat-messaging) exchanging messages with the terminal in the same room.
#
#   tests/cli/run-chat-tmux.sh ENDPOINT_URL IVSCHAT_BIN
#
# Needs tmux, curl (for --aws-sigv4), python3, and Node with tests/compat/node/node_modules
# installed (tests/compat/run-node.sh installs them; scripts/test.sh runs that first).
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 ENDPOINT_URL IVSCHAT_BIN" >&2
  exit 2
fi
endpoint=${1%/}
bin=$2
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
node_suite="$root/tests/compat/node"
[[ -d "$node_suite/node_modules/amazon-ivs-chat-messaging" ]] || {
  echo "error: $node_suite/node_modules is missing (run tests/compat/run-node.sh $endpoint first)" >&2
  exit 2
}

# AWS configuration isolated from the machine's: the server's default key, no profiles.
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
export AWS_ENDPOINT_URL_IVSCHAT=$endpoint AWS_EC2_METADATA_DISABLED=true
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL

work=$(mktemp -d)
socket="ivschat-cli-test-$$"
session=chat
tail_pid=""
peer_pid=""
cleanup() {
  tmux -L "$socket" kill-server 2>/dev/null || true
  [[ -n $tail_pid ]] && kill "$tail_pid" 2>/dev/null || true
  [[ -n $peer_pid ]] && kill "$peer_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
tm() { tmux -L "$socket" "$@"; }

fail() {
  echo "FAIL: $*" >&2
  echo "--- screen ---" >&2; tm capture-pane -p -t "$session" >&2 || true
  echo "--- tail ---" >&2; cat "$work/tail.jsonl" >&2 || true
  echo "--- JS SDK peer ---" >&2; cat "$work/peer.log" >&2 || true
  exit 1
}

# Polls until `check` succeeds; 20 s at most.
wait_until() {
  local what=$1; shift
  for _ in $(seq 1 200); do
    if "$@"; then return 0; fi
    sleep 0.1
  done
  fail "$what"
}
screen_has() { tm capture-pane -p -t "$session" | grep -qF -- "$1"; }
file_has() { grep -qF -- "$2" "$1" 2>/dev/null; }

room=$(curl -fsS --aws-sigv4 "aws:amz:us-east-1:ivschat" --user test:test \
  -H 'content-type: application/json' -X POST "$endpoint/CreateRoom" -d '{"name":"cli-test"}')
room_arn=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["arn"])' "$room")
room_id=${room_arn##*/}
echo "room $room_arn"

# A watcher, printing JSON lines.
"$bin" tail "$room_id" --user watcher >"$work/tail.jsonl" 2>"$work/tail.err" &
tail_pid=$!
wait_until "ivschat tail connects" file_has "$work/tail.jsonl" '{"Type":"CONNECTED"}'

# The interactive chat, in a 100x30 terminal; the shell says how it ended.
tm new-session -d -s "$session" -x 100 -y 30 \
  "'$bin' chat '$room_arn' --user alice --capability SEND_MESSAGE --capability DELETE_MESSAGE; echo \"EXITED \$?\"; sleep 600"
wait_until "the chat screen shows the room" screen_has "joined as alice"
screen_has "alice · connected" || fail "the status bar"

echo "a message from another user scrolls in"
"$bin" send "$room_id" --user bob "hello from bob" >"$work/send.json"
wait_until "bob's message on the screen" screen_has "bob: hello from bob"
python3 -c 'import json,sys; f=json.load(open(sys.argv[1])); assert f["Type"]=="MESSAGE" and f["Sender"]["UserId"]=="bob", f' "$work/send.json"

echo "typing at the prompt sends"
tm send-keys -t "$session" "hello from alice" Enter
wait_until "alice's message on the screen" screen_has "alice: hello from alice"
wait_until "alice's message in tail" file_has "$work/tail.jsonl" '"Content":"hello from alice"'

echo "/delete at the prompt"
id=$(python3 -c '
import json, sys
for line in open(sys.argv[1]):
    f = json.loads(line)
    if f.get("Content") == "hello from alice":
        print(f["Id"])' "$work/tail.jsonl")
tm send-keys -t "$session" "/delete $id spam" Enter
wait_until "the deletion on the screen" screen_has "message $id was deleted (spam)"
wait_until "the deletion in tail" file_has "$work/tail.jsonl" "\"MessageID\":\"$id\""

echo "ivschat event"
"$bin" event "$room_id" app:wave --attribute hand=left >/dev/null
wait_until "the event on the screen" screen_has "event app:wave hand=left"

echo "the official JS SDK and ivschat chat talk in one room"
(cd "$node_suite" && IVSCHAT_ENDPOINT=$endpoint node cli-peer.mjs "$room_arn" js-user \
  "hello from the js sdk" "hello back from the terminal") >"$work/peer.log" 2>&1 &
peer_pid=$!
wait_until "the JS SDK's message on the screen" screen_has "js-user: hello from the js sdk"
tm send-keys -t "$session" "hello back from the terminal" Enter
wait_until "the JS SDK peer receives the terminal's message" file_has "$work/peer.log" "GOT"
wait "$peer_pid" || fail "the JS SDK peer exited with an error"
peer_pid=""

echo "ivschat kick"
"$bin" kick "$room_id" alice --reason "be nice"
wait_until "the kick on the screen" screen_has "disconnected by a moderator: be nice; not reconnecting"
screen_has "alice · disconnected" || fail "the status bar after the kick"

echo "Ctrl-C leaves and restores the terminal"
tm send-keys -t "$session" C-c
wait_until "ivschat chat exits 0" screen_has "EXITED 0"

# Every tail line is JSON; the kick's event is there.
python3 - "$work/tail.jsonl" <<'PY'
import json, sys
frames = [json.loads(line) for line in open(sys.argv[1])]
names = [f.get("EventName") for f in frames if f["Type"] == "EVENT"]
assert "aws:DISCONNECT_USER" in names and "app:wave" in names, names
PY
echo "ivschat CLI: all checks passed"
