#!/usr/bin/env bash
# Runs the benchmarks against throwaway services (see hack/test-env.sh), in release mode.
set -euo pipefail
cd "$(dirname "$0")/.."
state=$(mktemp -d /tmp/hyperfleet-bench.XXXXXX)
trap 'hack/test-env.sh down "$state"' EXIT
hack/test-env.sh up "$state"
# shellcheck disable=SC1091
source "$state/env"
cargo bench --workspace "$@"
