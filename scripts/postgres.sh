#!/usr/bin/env bash
# A private PostgreSQL 15 for development, tests and bench/: the Debian `postgresql-15`
# binaries (scripts/setup.sh installs them) run on a data directory of their own, on a free
# loopback port, with trust authentication for the superuser `linerate` on 127.0.0.1 only.
#
#   scripts/postgres.sh start DIR   initdb DIR/data when absent, start, print the URL
#   scripts/postgres.sh stop DIR    fast shutdown
#   scripts/postgres.sh url DIR     print the URL of a running instance
#
# As root the server runs as the `postgres` user (initdb refuses root); DIR is given to it.
set -euo pipefail
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
cmd=${1:?usage: postgres.sh start|stop|url DIR}
dir=${2:?usage: postgres.sh start|stop|url DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
data="$dir/data"

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

url() {
  local port
  port=$(cat "$dir/port")
  echo "postgresql://linerate@127.0.0.1:${port}/linerate"
}

free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return
    fi
  done
  echo "postgres.sh: no free port found" >&2
  exit 1
}

case "$cmd" in
  start)
    [ -x "$PG_BIN/initdb" ] || { echo "postgres.sh: $PG_BIN/initdb missing; run scripts/setup.sh" >&2; exit 1; }
    [ "$(id -u)" -eq 0 ] && chown postgres "$dir"
    if [ ! -f "$data/PG_VERSION" ]; then
      as_owner "$PG_BIN/initdb" -D "$data" -U linerate --auth=trust --encoding=UTF8 \
        --no-locale >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    # A restart keeps its port while it is free (clients reconnect to the same URL); a port
    # another process takes between the check and the bind costs a retry on a new one.
    port=""
    if [ -f "$dir/port" ] && ! (exec 3<>"/dev/tcp/127.0.0.1/$(cat "$dir/port")") 2>/dev/null; then
      port=$(cat "$dir/port")
    fi
    for attempt in 1 2 3 4 5; do
      [ -n "$port" ] || port=$(free_port)
      echo "$port" >"$dir/port"
      rm -f "$dir/server.log"
      if as_owner "$PG_BIN/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir \
            -c max_connections=50 -c shared_buffers=128MB -c max_wal_size=2GB" \
        start >/dev/null; then
        break
      fi
      if [ "$attempt" -eq 5 ] || ! grep -q "could not bind\|could not create any TCP/IP sockets" "$dir/server.log"; then
        cat "$dir/server.log" >&2
        exit 1
      fi
      port=""
    done
    "$PG_BIN/psql" -qAt -h 127.0.0.1 -p "$port" -U linerate -d postgres \
      -c "SELECT 1 FROM pg_database WHERE datname = 'linerate'" | grep -q 1 ||
      "$PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U linerate linerate
    url
    ;;
  stop)
    [ -f "$data/PG_VERSION" ] && as_owner "$PG_BIN/pg_ctl" -D "$data" -m fast -w stop >/dev/null
    ;;
  url)
    url
    ;;
  *)
    echo "usage: postgres.sh start|stop|url DIR" >&2
    exit 2
    ;;
esac
