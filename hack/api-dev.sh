#!/usr/bin/env bash
# Starts a throwaway PostgreSQL and the API on 127.0.0.1:${PORT:-8000} for poking at by hand.
# Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q -p hyperfleet-api
state=$(mktemp -d /tmp/hyperfleet-dev.XXXXXX)
trap 'hack/test-env.sh down "$state"' EXIT
SERVICES=postgres hack/test-env.sh up "$state"
# shellcheck disable=SC1091
source "$state/env"
./target/debug/hyperfleet-api --log-format text serve --migrate \
  --database-url "$DATABASE_URL" --listen "127.0.0.1:${PORT:-8000}"
