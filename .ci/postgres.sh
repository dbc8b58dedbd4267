#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the test suites: `source .ci/postgres.sh`
# starts one (installing PostgreSQL from Debian when missing) on 127.0.0.1 in a
# temporary directory and exports AUTHZ_TEST_DATABASE_URL; `pg_stop` stops it
# and removes the directory. initdb refuses to run as root, so the cluster runs
# as the `postgres` user (created by the Debian package) when we are root.
set -euo pipefail

PG_PORT="${PG_PORT:-35432}"
pg_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$dir" ] || [ ! -x "$dir/initdb" ]; then
    echo "--- installing PostgreSQL (apt-get install postgresql)" >&2
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    dir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  fi
  echo "$dir"
}

as_pg() {
  if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi
}

pg_start() {
  PG=$(pg_bin)
  PG_DIR=$(mktemp -d)
  if [ "$(id -u)" = 0 ]; then chown postgres "$PG_DIR"; fi
  as_pg "$PG/initdb -D $PG_DIR/data -A trust -U authz" >/dev/null
  as_pg "$PG/pg_ctl -D $PG_DIR/data -o '-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off' -l $PG_DIR/log -w start" >/dev/null
  as_pg "$PG/createdb -h 127.0.0.1 -p $PG_PORT -U authz authz"
  export PG PG_DIR
  export AUTHZ_TEST_DATABASE_URL="postgres://authz@127.0.0.1:$PG_PORT/authz"
  echo "--- PostgreSQL $($PG/postgres --version | awk '{print $3}') on 127.0.0.1:$PG_PORT" >&2
}

pg_restart() {
  as_pg "$PG/pg_ctl -D $PG_DIR/data -m fast -w restart" >/dev/null
}

pg_stop() {
  if [ -n "${PG_DIR:-}" ] && [ -d "$PG_DIR/data" ]; then
    as_pg "$PG/pg_ctl -D $PG_DIR/data -m immediate -w stop" >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
  fi
}
