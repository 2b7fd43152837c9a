#!/usr/bin/env bash
# Builds the peer servers that bench/run-compare.sh measures beside ivschat-server, at pinned
# versions, into $HOME/.cache/ivschat-server/peers (nothing is installed system-wide):
#   centrifugo   Centrifugo (Go), built with the machine's Go from the Go module proxy
#                (about 5 minutes and 1.8 GB of module and build caches on the 2-core machine)
# Skipped when the binary is already there. Prints "<name> <path>" per peer.
# (Sockudo, a Pusher-protocol server in Rust, is not here yet: BENCHMARKS.md, "Peers".)
#
# Usage: bench/build-peers.sh [centrifugo]     (default: all)
# Environment:
#   CENTRIFUGO_VERSION=v6.9.1   PEERS_DIR=$HOME/.cache/ivschat-server/peers
set -euo pipefail

centrifugo_version="${CENTRIFUGO_VERSION:-v6.9.1}"
peers="${PEERS_DIR:-$HOME/.cache/ivschat-server/peers}"
want=("$@")
[ "${#want[@]}" -gt 0 ] || want=(centrifugo)

for peer in "${want[@]}"; do
  case "$peer" in
    centrifugo)
      dir="$peers/centrifugo-$centrifugo_version"
      if [ ! -x "$dir/centrifugo" ]; then
        mkdir -p "$dir"
        # Module and build caches beside the binary's, not in the user's ~/go.
        GOBIN="$dir" GOMODCACHE="$peers/go-mod" GOCACHE="$peers/go-build" GOFLAGS=-buildvcs=false \
          go install "github.com/centrifugal/centrifugo/v6@$centrifugo_version" >&2
      fi
      echo "centrifugo $dir/centrifugo"
      ;;
    *) echo "unknown peer: $peer (centrifugo)" >&2; exit 2 ;;
  esac
done
