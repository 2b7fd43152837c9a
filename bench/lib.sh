# Shared by the bench/run-*.sh scripts (sourced, not run). Expects CARGO_TARGET_DIR and `repo`
# (the checkout's root) to be set.

# Build, retrying: other people may be half-way through an edit of the work tree.
build() {
  local tries=0
  until cargo build --release --quiet "$@"; do
    tries=$((tries + 1))
    [ "$tries" -lt 5 ] || { echo "build failed $tries times: $*" >&2; return 1; }
    echo "build failed (someone's edit in progress?); retrying in 60 s" >&2
    sleep 60
  done
}

# Sets `server` (the ivschat-server binary to run), `server_rev` (what it was built from) and
# `src` (the source tree it came from), and records server_rev in DIR/server-rev.txt:
#   SERVER_BIN=path   that binary, built by someone else
#   REV=<git rev>     built from a `git archive` of that commit, in its own target dir, so the
#                     figures belong to a known commit even while others edit the tree
#   (neither)         built from the work tree, and copied into DIR: a concurrent build in the
#                     shared target dir must not swap it under a running benchmark
resolve_server() {
  local dir="$1" sha
  src="$repo"
  if [ -n "${SERVER_BIN:-}" ]; then
    server="$SERVER_BIN"
    server_rev="prebuilt $SERVER_BIN"
  elif [ -n "${REV:-}" ]; then
    sha="$(git rev-parse --verify "$REV^{commit}")"
    src="$HOME/.cache/ivschat-server/bench-src/$sha"
    if [ ! -f "$src/Cargo.toml" ]; then
      mkdir -p "$src"
      git archive "$sha" | tar -x -C "$src"
    fi
    (cd "$src" && CARGO_TARGET_DIR="$CARGO_TARGET_DIR-rev" build -p ivschat-server)
    server="$CARGO_TARGET_DIR-rev/release/ivschat-server"
    server_rev="$sha (git archive)"
  else
    build -p ivschat-server
    cp "$CARGO_TARGET_DIR/release/ivschat-server" "$dir/ivschat-server"
    server="$dir/ivschat-server"
    server_rev="$(git rev-parse HEAD) + work tree ($(git status --porcelain -- crates | wc -l) changed paths under crates/)"
  fi
  echo "server: $server_rev" | tee "$dir/server-rev.txt" >&2
}

# Writes a server --config that lets one bench open thousands of connections from 127.0.0.x:
# no account connection quota, no listener connection limit and no per-address handshake rate
# may refuse it. The handshake rate key is written only for a server ($server, from
# resolve_server) that knows it: older revisions, compared side by side, refuse unknown keys.
write_open_limits_config() {
  printf '[quotas]\nconcurrent_connections = 10000000\n[limits]\nmax_connections = 0\nmax_connections_per_ip = 0\n' >"$1"
  if [ -n "${server:-}" ] && grep -qa handshakes_per_second "$server"; then
    printf 'handshakes_per_second = 0\n' >>"$1"
  fi  # FANOUT_THREADS=N: the server's [chat] fanout_threads (bench/run-shard-rounds.sh).
  if [ -n "${FANOUT_THREADS:-}" ]; then
    printf '[chat]\nfanout_threads = %s\n' "$FANOUT_THREADS" >>"$1"
  fi
}

# How busy the whole machine is, in %, over 3 s.
machine_busy() {
  local a b
  a=($(head -1 /proc/stat)); sleep 3; b=($(head -1 /proc/stat))
  local idle=$(( (b[4] + b[5]) - (a[4] + a[5]) )) total=0 k
  for k in 1 2 3 4 5 6 7 8; do total=$(( total + b[k] - a[k] )); done
  echo $(( total > 0 ? 100 * (total - idle) / total : 0 ))
}

# Waits up to WAIT_QUIET seconds for the machine to be under 25% busy (it is shared with other
# people's builds); runs anyway after that.
wait_quiet() {
  local limit="${WAIT_QUIET:-0}" waited=0 busy
  [ "$limit" -gt 0 ] || return 0
  while busy=$(machine_busy); [ "$busy" -ge 25 ]; do
    waited=$((waited + 3))
    if [ "$waited" -ge "$limit" ]; then echo "machine still ${busy}% busy after ${waited}s; running anyway" >&2; return 0; fi
    echo "machine ${busy}% busy (someone else's work); waiting" >&2
    sleep 7; waited=$((waited + 7))
  done
  echo "machine quiet (${busy}% busy)" >&2
}
