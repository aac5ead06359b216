#!/usr/bin/env bash
# hack/fleet.sh's inner half, run with DATABASE_URL and AMQP_URL pointing at throwaway services.
set -euo pipefail
clusters="$1" settings="$2" job="$3"
port="${PORT:-8100}"
api="http://127.0.0.1:${port}"
work="$(mktemp -d /tmp/hyperfleet-fleet.XXXXXX)"
source "$(dirname "$0")/processes.sh"

# The catalog as it is (its adapters consume from RabbitMQ); the local Sentinels switched to
# RabbitMQ, with the chosen timings.
cp -r adapters "$work/adapters"
mkdir "$work/local"
cp config/local/pull-secret.yaml "$work/local/"
case "$settings" in
  local) poll=1s backoff=1s ;;
  production) poll=5s backoff=10s ;;
  *) echo "settings: local or production, not '$settings'" >&2; exit 2 ;;
esac
sed -e "s/type: memory/type: rabbitmq\n    urlSecretRef: {name: hyperfleet-rabbitmq, key: url}/" \
    -e "s/pollInterval: 1s/pollInterval: $poll/" -e "s/backoffNotReady: 1s/backoffNotReady: $backoff/" \
    config/local/sentinels.yaml >"$work/local/sentinels.yaml"
export HYPERFLEET_RABBITMQ_URL="$AMQP_URL"

# Every process here calls from 127.0.0.1, one caller to the per-caller rate limits: off.
start_api ./target/release "$port" "$work/api.log" --log-level warn \
  --rate-limit-reads 0 --rate-limit-writes 0 --rate-limit-status 0
# The operator starts against a ready API, as in a cluster where the API has been running.
for _ in $(seq 300); do curl -sf "$api/readyz" >/dev/null && break; sleep 0.1; done
./target/release/hyperfleet-operator --log-level "${OPERATOR_LOG_LEVEL:-warn}" local \
  --config-dir "$work/adapters,$work/local" --api-url "$api" \
  --job-duration "$job" --admin-addr "127.0.0.1:$((port + 1))" >"$work/operator.log" 2>&1 &
operator_pid=$!
started "$operator_pid"
echo "fleet: $clusters clusters, $settings settings (poll $poll, backoff $backoff), Jobs of $job; logs in $work" >&2

# Every adapter's queue (`<topic>-<subscription>`), whose backlog the benchmark samples.
queues=()
for config in "$work"/adapters/*/adapterconfig.yaml; do
  queues+=(--queue "$(awk '/^ *topic:/ {topic = $2} /^ *subscription:/ {print topic "-" $2}' "$config")")
done

HYPERFLEET_DEMO_AMQP_URL="$AMQP_URL" ./target/release/hyperfleet-demo --api-url "$api" --wait-for-api 30s \
  --timeout 900s fleet --clusters "$clusters" --metrics "$api/metrics" \
  --metrics "http://127.0.0.1:$((port + 1))/metrics" --process "api=$api_pid" --process "operator=$operator_pid" \
  "${queues[@]}"
curl -s "$api/metrics" >"$work/api.metrics" || true
curl -s "http://127.0.0.1:$((port + 1))/metrics" >"$work/operator.metrics" || true
