#!/usr/bin/env bash
# Starts a throwaway PostgreSQL and the API on 127.0.0.1:${PORT:-8000} for poking at by hand.
# Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q -p hyperfleet-api
state=$(mktemp -d /tmp/hyperfleet-dev.XXXXXX)
trap 'hack/test-env.sh down "$state"' EXIT
PGBIN=/usr/lib/postgresql/15/bin
[[ -x $PGBIN/initdb ]] || { apt-get update -qq && apt-get install -y -qq postgresql-15; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$state/pg" && chown postgres:postgres "$state/pg"
runuser -u postgres -- "$PGBIN/initdb" -D "$state/pg/data" -U postgres --auth=trust --no-sync >/dev/null
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$state/pg/data" -l "$state/pg/server.log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $state/pg" start >/dev/null
./target/debug/hyperfleet-api --log-format text serve --migrate \
  --database-url "postgres://postgres@127.0.0.1:$port/postgres" --listen "127.0.0.1:${PORT:-8000}"
