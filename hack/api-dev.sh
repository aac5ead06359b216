#!/usr/bin/env bash
# Starts a throwaway PostgreSQL and the API on 127.0.0.1:${PORT:-8000} for poking at by hand.
# Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q -p hyperfleet-api
# The single quotes are deliberate: DATABASE_URL is set by test-env.sh for the inner shell.
# shellcheck disable=SC2016
SERVICES=postgres exec hack/test-env.sh run bash -c \
  './target/debug/hyperfleet-api --log-format text serve --migrate --database-url "$DATABASE_URL" --listen "127.0.0.1:${PORT:-8000}"'
