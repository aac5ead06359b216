# Sourced by hack/demo-run.sh and hack/fleet-run.sh. Every process started with `started` is
# stopped when the script exits; `start_api BIN_DIR PORT LOG [ARGS...]` starts the API with the
# catalog's required adapters on 127.0.0.1:PORT (DATABASE_URL from hack/test-env.sh) and leaves
# its pid in $api_pid.
pids=()
stop_processes() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop_processes EXIT INT TERM
started() { pids+=("$1"); }
start_api() {
  local bin="$1" port="$2" log="$3"
  shift 3
  "$bin/hyperfleet-api" serve --migrate \
    --database-url "$DATABASE_URL" --listen "127.0.0.1:${port}" \
    --cluster-adapters validation,dns,placement,pullsecret,hypershift \
    --nodepool-adapters validation,hypershift "$@" >"$log" 2>&1 &
  api_pid=$!
  started "$api_pid"
}
