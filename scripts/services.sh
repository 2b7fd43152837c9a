# Private PostgreSQL and Redis instances for the test suite and the benchmarks.
#
# Sourced, not run: `source scripts/services.sh`, then call `services_start postgres redis`
# and `services_stop` on exit (scripts/test.sh traps it).
#
# For each service:
#   - if the caller gave a URL (IVSCHAT_TEST_DATABASE_URL, IVSCHAT_TEST_REDIS_URL), that service is used as it is and never started or stopped here;
#   - otherwise the server binary is found (installed from Debian's packages when missing) and a
#     private instance is started on a free loopback port, with its data in a temporary
#     directory, and its URL is exported under the same name.
# A system-wide instance, its port and its data are never touched: the private instances use
# their own ports, sockets and directories, and nothing else is stopped.
#
# PostgreSQL refuses to run as root; when this runs as root, the private cluster belongs to the
# unprivileged user `nobody` (its directory is made for it, mode 0700).

services_root=""        # temporary directory holding every private instance
services_pids=()        # processes to stop (redis-server)
services_pg_data=""     # the private PostgreSQL cluster's directory, when one was started
services_pg_bin=""      # its binaries' directory

services_log() { printf '[services] %s\n' "$*" >&2; }

# A free TCP port on 127.0.0.1 (the kernel picks it; a rare race with another process is
# caught by the start-up checks below, which retry on a new port).
services_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Installs Debian packages (as root, or through sudo when it is available without a password).
services_apt_install() {
  local sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    if sudo -n true 2>/dev/null; then sudo=(sudo -n); else
      services_log "need the Debian packages $*, and cannot install them (not root, no sudo)"
      return 1
    fi
  fi
  services_log "installing Debian packages: $*"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" \
    >/dev/null || {
    # The package lists may be missing or stale on a fresh machine.
    "${sudo[@]}" apt-get update -qq >/dev/null &&
      "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" \
        >/dev/null
  }
}

# Runs a command as the owner of the private PostgreSQL cluster.
services_as_pg_user() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u nobody -- "$@"; else "$@"; fi
}

# Finds PostgreSQL's server binaries (Debian keeps them out of PATH, under
# /usr/lib/postgresql/<version>/bin), installing the package when there are none.
services_find_pg_bin() {
  local dir
  for attempt in 1 2; do
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    if [[ -n $dir && -x $dir/initdb && -x $dir/pg_ctl ]]; then echo "$dir"; return 0; fi
    if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
      dirname "$(command -v initdb)"; return 0
    fi
    [[ $attempt -eq 1 ]] && { services_apt_install postgresql >&2 || return 1; }
  done
  services_log "PostgreSQL's initdb/pg_ctl not found after installing the package"
  return 1
}

services_start_postgres() {
  if [[ -n ${IVSCHAT_TEST_DATABASE_URL:-} ]]; then
    services_log "PostgreSQL: using IVSCHAT_TEST_DATABASE_URL (not started here)"
    return 0
  fi
  services_pg_bin=$(services_find_pg_bin) || return 1
  services_pg_data="$services_root/postgres"
  mkdir -p "$services_pg_data"
  [[ $(id -u) -eq 0 ]] && chown nobody "$services_pg_data"
  chmod 0700 "$services_pg_data"
  services_as_pg_user "$services_pg_bin/initdb" -D "$services_pg_data" -U postgres \
    --auth=trust --encoding=UTF8 --no-sync >"$services_root/postgres-initdb.log" 2>&1 || {
    cat "$services_root/postgres-initdb.log" >&2; return 1; }
  local port
  for _ in 1 2 3; do
    port=$(services_free_port)
    # Durability is not under test against this instance (crash safety is tested on SQLite and
    # on the server's own spool), so it trades fsync for speed. The socket directory is the
    # cluster's own, so the system's /var/run/postgresql is never used.
    if services_as_pg_user "$services_pg_bin/pg_ctl" -D "$services_pg_data" -w -t 60 \
        -l "$services_pg_data/server.log" \
        -o "-p $port -c listen_addresses=127.0.0.1 -k $services_pg_data -c max_connections=400 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
        start >/dev/null; then
      "$services_pg_bin/createdb" -h 127.0.0.1 -p "$port" -U postgres test || return 1
      export IVSCHAT_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/test"
      services_log "PostgreSQL $("$services_pg_bin/postgres" --version | awk '{print $3}'): $IVSCHAT_TEST_DATABASE_URL (private, $services_pg_data)"
      return 0
    fi
    tail -5 "$services_pg_data/server.log" >&2
  done
  services_log "PostgreSQL did not start"
  return 1
}

# Starts a server in the background and waits (bounded) until `check PORT` succeeds, retrying
# on a new port when the server exits first (the port was taken in between). Sets
# services_daemon_port (not echoed: a command substitution would run this in a subshell, which
# would lose the pid).
#   services_start_daemon NAME CHECK_FN COMMAND... (every {PORT} in the command is replaced)
services_daemon_port=""
services_start_daemon() {
  local name=$1 check=$2; shift 2
  local port pid args
  for _ in 1 2 3; do
    port=$(services_free_port)
    args=("${@//\{PORT\}/$port}")
    "${args[@]}" >"$services_root/$name.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 300); do
      if "$check" "$port"; then
        services_pids+=("$pid")
        services_daemon_port=$port
        return 0
      fi
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
    tail -5 "$services_root/$name.log" >&2
  done
  services_log "$name did not start"
  return 1
}

services_redis_answers() { redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null | grep -q PONG; }

services_start_redis() {
  if [[ -n ${IVSCHAT_TEST_REDIS_URL:-} ]]; then
    services_log "Redis: using IVSCHAT_TEST_REDIS_URL (not started here)"
    return 0
  fi
  if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    services_apt_install redis-server || return 1
  fi
  mkdir -p "$services_root/redis"
  services_start_daemon redis services_redis_answers \
    redis-server --port '{PORT}' --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$services_root/redis" --daemonize no || return 1
  export IVSCHAT_TEST_REDIS_URL="redis://127.0.0.1:$services_daemon_port"
  services_log "Redis $(redis-server --version | sed -n 's/.*v=\([0-9.]*\).*/\1/p'): $IVSCHAT_TEST_REDIS_URL (private)"
}

# Makes sure COMMAND is on PATH, installing Debian PACKAGE when it is not (the benchmarks use
# this for nats-server, which they start with their own configuration).
#   services_require_command COMMAND PACKAGE
services_require_command() {
  command -v "$1" >/dev/null || services_apt_install "$2" || return 1
  command -v "$1" >/dev/null || { services_log "$1 not found after installing $2"; return 1; }
}

# services_start [postgres] [redis]
services_start() {
  services_root=$(mktemp -d "${TMPDIR:-/tmp}/ivschat-services.XXXXXX")
  chmod 0755 "$services_root" # the PostgreSQL owner must reach its directory inside
  local service
  for service in "$@"; do
    "services_start_$service" || { services_log "could not provide $service"; return 1; }
  done
}

# Stops what services_start started (and nothing else); safe to call more than once.
services_stop() {
  local pid
  for pid in "${services_pids[@]}"; do
    kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  done
  services_pids=()
  if [[ -n $services_pg_data && -f $services_pg_data/postmaster.pid ]]; then
    services_as_pg_user "$services_pg_bin/pg_ctl" -D "$services_pg_data" -m immediate -w stop \
      >/dev/null 2>&1 || true
  fi
  services_pg_data=""
  if [[ -n $services_root ]]; then
    # A PostgreSQL that the same Ctrl-C or TERM already reached may still be writing its last
    # files while it exits: one more try after it has had a moment.
    rm -rf "$services_root" 2>/dev/null || { sleep 1; rm -rf "$services_root"; }
    services_root=""
  fi
}
