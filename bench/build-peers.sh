#!/usr/bin/env bash
# Builds the peer servers that bench/run-compare.sh measures beside ivschat-server, at pinned
# versions, into $HOME/.cache/ivschat-server/peers (nothing is installed system-wide):
#   centrifugo   Centrifugo (Go), built with the machine's Go from the Go module proxy
#                (about 5 minutes and 1.8 GB of module and build caches on the 2-core machine)
#   sockudo      Sockudo (Rust, Pusher protocol), `cargo install --locked` from crates.io with
#                its default features, niced, 2 jobs, in its own target dir beside the binary
#                (no effect on the project's target dirs). Its dependency `metrics-exporter-tcp`
#                runs `protoc` at build time on a .proto that imports protobuf's well-known
#                types: Debian's protobuf-compiler and libprotobuf-dev are installed when
#                missing (scripts/services.sh, as root or through sudo). 20-40 minutes.
# Skipped when the binary is already there. Prints "<name> <path>" per peer.
#
# Usage: bench/build-peers.sh [centrifugo] [sockudo]     (default: all)
# Environment:
#   CENTRIFUGO_VERSION=v6.9.1   SOCKUDO_VERSION=5.2.0   PEERS_DIR=$HOME/.cache/ivschat-server/peers
#   PEER_BUILD_JOBS=2           (cargo's -j for Sockudo)
set -euo pipefail

centrifugo_version="${CENTRIFUGO_VERSION:-v6.9.1}"
sockudo_version="${SOCKUDO_VERSION:-5.2.0}"
repo="$(cd "$(dirname "$0")/.." && pwd)"
peers="${PEERS_DIR:-$HOME/.cache/ivschat-server/peers}"
want=("$@")
[ "${#want[@]}" -gt 0 ] || want=(centrifugo sockudo)

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
    sockudo)
      dir="$peers/sockudo-$sockudo_version"
      if [ ! -x "$dir/bin/sockudo" ]; then
        . "$repo/scripts/services.sh"
        services_require_command protoc protobuf-compiler
        # Its .proto imports google/protobuf/timestamp.proto: the well-known types are in
        # libprotobuf-dev (only a Recommends of protobuf-compiler, which apt skips here).
        [ -f /usr/include/google/protobuf/timestamp.proto ] || services_apt_install libprotobuf-dev
        mkdir -p "$dir"
        # Its own target dir, so the build neither reads nor grows the project's; niced and
        # with few jobs because the build machine's cores are shared.
        PROTOC="$(command -v protoc)" PROTOC_INCLUDE=/usr/include CARGO_TARGET_DIR="$peers/sockudo-target" \
          nice -n 10 cargo install --locked --version "$sockudo_version" \
          -j "${PEER_BUILD_JOBS:-2}" --root "$dir" sockudo >&2
      fi
      echo "sockudo $dir/bin/sockudo"
      ;;
    *) echo "unknown peer: $peer (centrifugo sockudo)" >&2; exit 2 ;;
  esac
done
