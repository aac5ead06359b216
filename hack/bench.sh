#!/usr/bin/env bash
# Runs the benchmarks against throwaway services (see hack/test-env.sh), in release mode.
# Extra arguments go to cargo bench, e.g. `hack/bench.sh --bench list_fleet`.
set -euo pipefail
cd "$(dirname "$0")/.."
exec hack/test-env.sh run cargo bench --workspace "$@"
