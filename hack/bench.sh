#!/usr/bin/env bash
# Runs the benchmarks against throwaway services (see hack/test-env.sh), in release mode.
# Extra arguments go to cargo bench, e.g. `hack/bench.sh --bench list_fleet`. The API benchmark
# drives the API with wrk (installed with apt when missing), as pgbench drives PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v wrk >/dev/null; then
  echo "bench: installing wrk with apt" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null
fi
exec hack/test-env.sh run cargo bench --workspace "$@"
