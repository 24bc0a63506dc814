#!/usr/bin/env bash
# Runs a command with a throw-away PostgreSQL server: a fresh cluster in a temporary directory,
# listening on a free loopback port only, removed afterwards. The command finds the server's
# URL in BLINDFOLD_TEST_POSTGRES (the test harness then gives each test a database of its own).
#
#   bash scripts/with-postgres.sh cargo test --workspace --release --test it
#
# Needs Debian's postgresql package (scripts/setup.sh --postgres installs it). As root (CI), the
# cluster runs as the `postgres` user, since PostgreSQL refuses to run as root.
set -euo pipefail

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  echo "with-postgres.sh: PostgreSQL is not installed (run: bash scripts/setup.sh --postgres)" >&2
  exit 1
fi

as_owner=()
dir=$(mktemp -d -t blindfold-pg.XXXXXX)
if [ "$(id -u)" = 0 ]; then
  chown postgres: "$dir"
  as_owner=(runuser -u postgres --)
fi

stop() {
  "${as_owner[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap stop EXIT

"${as_owner[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --no-sync -E UTF8 >"$dir/initdb.log" 2>&1 \
  || { cat "$dir/initdb.log" >&2; exit 1; }
# Loopback TCP only, the socket in the temporary directory; durability off (a test cluster
# dies with the run); enough connections for every test's server pool at once. A random port,
# tried again if another process holds it.
started=""
for _ in 1 2 3 4 5; do
  port=$((20000 + RANDOM % 30000))
  if "${as_owner[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start -o \
    "-h 127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400" \
    >/dev/null; then
    started=yes
    break
  fi
done
if [ -z "$started" ]; then
  cat "$dir/server.log" >&2
  exit 1
fi

export BLINDFOLD_TEST_POSTGRES="postgres://postgres@127.0.0.1:$port/postgres"
echo "with-postgres.sh: PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port" >&2
status=0
"$@" || status=$?
exit "$status"
