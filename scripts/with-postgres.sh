#!/usr/bin/env bash
# Runs a command beside a throwaway PostgreSQL cluster on 127.0.0.1 (a free port, a temporary
# folder), with PDM_TEST_POSTGRES set to its admin URL; stops and removes the cluster after.
set -euo pipefail
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$pg_bin" ] || { echo "with-postgres: PostgreSQL is not installed (make setup installs it)" >&2; exit 1; }
dir=$(mktemp -d /tmp/portaldm-pg.XXXXXX)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown postgres "$dir"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_pg "$pg_bin/initdb" -D "$dir/data" -A trust -U postgres >/dev/null
cleanup() {
  as_pg "$pg_bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
# Durability is not what these tests are about: no fsync makes the throwaway cluster fast.
as_pg "$pg_bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
  -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null
export PDM_TEST_POSTGRES="postgres://postgres@127.0.0.1:$port/postgres"
# The postmaster, whose processes' CPU the benchmarks report (scripts/lib.sh, pg_cpu_ms).
PDM_TEST_POSTGRES_PID=$(head -n 1 "$dir/data/postmaster.pid")
export PDM_TEST_POSTGRES_PID
"$@"
