#!/usr/bin/env bash
# The demo's inner half, run by hack/demo.sh with DATABASE_URL pointing at a throwaway
# PostgreSQL: starts the API and the operator, runs the scenario, stops them.
set -euo pipefail
keep="${1:-0}"
port="${PORT:-8000}"
api="http://127.0.0.1:${port}"
logs="$(mktemp -d /tmp/hyperfleet-demo.XXXXXX)"
source "$(dirname "$0")/processes.sh"

start_api ./target/debug "$port" "$logs/api.log" --log-format text
./target/debug/hyperfleet-operator --log-format text local \
  --config-dir adapters,config/local --memory-broker --api-url "$api" \
  --job-duration 1s --admin-addr "127.0.0.1:$((port + 1))" >"$logs/operator.log" 2>&1 &
started $!
echo "demo: API on $api, operator metrics on http://127.0.0.1:$((port + 1))/metrics, logs in $logs" >&2

./target/debug/hyperfleet-demo --api-url "$api" --wait-for-api 30s

if [[ "$keep" == 1 ]]; then
  cat >&2 <<MSG

demo: still running. Try:
  curl -s $api/api/hyperfleet/v1/clusters | head -c 600
  curl -s -XPOST $api/api/hyperfleet/v1/clusters -H 'content-type: application/json' -d @config/samples/api/cluster.json
  tail -f $logs/operator.log
Ctrl-C stops everything.
MSG
  wait
fi
