#!/usr/bin/env bash
# The demo: builds, starts a throwaway PostgreSQL, the API and `hyperfleet-operator local` with
# the adapter catalog (memory broker, simulated Jobs), then creates a cluster and a node pool and
# shows the adapters' progress until both are Ready, updates the cluster, deletes it, and cleans
# up. `hack/demo.sh --keep` leaves everything running after the scenario (Ctrl-C stops it).
# PORT (default 8000) is the API's port; the operator's admin server uses PORT+1.
set -euo pipefail
cd "$(dirname "$0")/.."
keep=0
case "${1:-}" in
  --keep) keep=1 ;;
  "") ;;
  *) echo "usage: hack/demo.sh [--keep]" >&2; exit 2 ;;
esac
echo "demo: building (a first build takes several minutes)" >&2
cargo build --workspace --bins
SERVICES=postgres exec hack/test-env.sh run hack/demo-run.sh "$keep"
