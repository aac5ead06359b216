#!/usr/bin/env bash
# The test command: start throwaway PostgreSQL, RabbitMQ and Pub/Sub emulator on loopback, run
# the whole workspace's tests against them, and stop them again, whatever the outcome.
# Extra arguments go to the test runner, e.g. `hack/test.sh -E 'test(search)'`.
set -euo pipefail
# A clean clone never reuses incremental state: skipping it saves ~1.4 GB of disk and some build time.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
cd "$(dirname "$0")/.."
# Helm's own SDK (from PyPI) lints and renders the chart for the packaging tests.
HYPERFLEET_HELM_PYTHON="$(hack/helm-env.sh)"
export HYPERFLEET_HELM_PYTHON
if cargo nextest --version >/dev/null 2>&1; then
  exec hack/test-env.sh run cargo nextest run --workspace --exclude hyperfleet-e2e --no-fail-fast "$@"
fi
exec hack/test-env.sh run cargo test --workspace --exclude hyperfleet-e2e --no-fail-fast "$@"
