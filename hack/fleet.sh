#!/usr/bin/env bash
# The fleet benchmark: N clusters created at once through the adapter catalog over RabbitMQ,
# with the real API over PostgreSQL and the operator in local mode (simulated Jobs), in release
# builds against throwaway services. Prints all-Ready time, create -> Ready percentiles, events,
# API requests and each process's CPU time and peak RSS.
#   hack/fleet.sh [N] [local|production] [JOB_DURATION]
# `local` runs the Sentinels with config/local's 1 s polls and backoff; `production` with the
# chart's defaults (poll 5 s, backoffNotReady 10 s).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p hyperfleet-api -p hyperfleet-operator -p hyperfleet-demo
SERVICES="postgres rabbitmq" exec hack/test-env.sh run hack/fleet-run.sh "${1:-100}" "${2:-local}" "${3:-1s}"
