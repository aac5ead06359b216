#!/usr/bin/env bash
# Throwaway test services on loopback, on free ports, in a state directory:
#   hack/test-env.sh up   DIR      start PostgreSQL, RabbitMQ and the Pub/Sub emulator; write DIR/env
#   hack/test-env.sh down DIR      stop everything started by `up DIR` and remove DIR
#   hack/test-env.sh run CMD...    up in a temporary DIR, run CMD with DIR/env, down (always)
# DIR/env exports DATABASE_URL, AMQP_URL, PUBSUB_EMULATOR_HOST (and the RabbitMQ control
# variables tests use to restart the broker). Missing packages are installed with apt.
# SERVICES (default "postgres pubsub rabbitmq promtool") chooses what `up` starts (promtool,
# Prometheus' rule checker, is only installed: the alert tests run it).
set -euo pipefail

die() { echo "test-env: $*" >&2; exit 1; }
log() { echo "test-env: $*" >&2; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
  local deadline=$((SECONDS + $1)) what=$2; shift 2
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.3
  done
  log "$what is ready"
}

apt_install() {
  log "installing $* with apt"
  if [[ ! -f /tmp/.hyperfleet-apt-updated ]]; then
    apt-get update -qq && touch /tmp/.hyperfleet-apt-updated
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

PGBIN=/usr/lib/postgresql/15/bin
PUBSUB_EMULATOR=/usr/lib/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator

start_postgres() {
  local dir=$1 port
  [[ -x $PGBIN/initdb ]] || apt_install postgresql-15
  port=$(free_port)
  mkdir -p "$dir/pg" && chown postgres:postgres "$dir/pg"
  runuser -u postgres -- "$PGBIN/initdb" -D "$dir/pg/data" -U postgres --auth=trust -E UTF8 \
    --locale=C.UTF-8 --no-sync >"$dir/pg/initdb.log" 2>&1 || { cat "$dir/pg/initdb.log" >&2; die "initdb failed"; }
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$dir/pg/data" -l "$dir/pg/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir/pg -c fsync=off -c synchronous_commit=off \
        -c full_page_writes=off -c max_connections=300" start >/dev/null \
    || { cat "$dir/pg/server.log" >&2; die "PostgreSQL did not start"; }
  echo "export DATABASE_URL=postgres://postgres@127.0.0.1:$port/postgres" >>"$dir/env"
  log "PostgreSQL is ready on 127.0.0.1:$port"
}

start_rabbitmq() {
  local dir=$1 amqp dist epmd node
  command -v rabbitmq-server >/dev/null || apt_install rabbitmq-server
  amqp=$(free_port); dist=$(free_port); epmd=$(free_port)
  node="hftest$$@localhost"
  mkdir -p "$dir/rabbitmq"
  printf 'listeners.tcp.1 = 127.0.0.1:%s\nloopback_users = none\n' "$amqp" >"$dir/rabbitmq/rabbitmq.conf"
  echo '[].' >"$dir/rabbitmq/enabled_plugins"
  chown -R rabbitmq:rabbitmq "$dir/rabbitmq"
  cat >"$dir/rabbitmq/env" <<ENV
export RABBITMQ_NODENAME=$node
export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
export RABBITMQ_NODE_PORT=$amqp
export RABBITMQ_DIST_PORT=$dist
export ERL_EPMD_PORT=$epmd
export ERL_EPMD_ADDRESS=127.0.0.1
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS='-kernel inet_dist_use_interface {127,0,0,1}'
export RABBITMQ_CONFIG_FILE=$dir/rabbitmq/rabbitmq.conf
export RABBITMQ_ENABLED_PLUGINS_FILE=$dir/rabbitmq/enabled_plugins
export RABBITMQ_MNESIA_BASE=$dir/rabbitmq/mnesia
export RABBITMQ_LOG_BASE=$dir/rabbitmq/log
export RABBITMQ_PID_FILE=$dir/rabbitmq/rabbit.pid
ENV
  # shellcheck disable=SC1091
  (source "$dir/rabbitmq/env" && rabbitmq-server -detached) || die "rabbitmq-server failed to start"
  (source "$dir/rabbitmq/env" && timeout 90 rabbitmqctl -q wait --timeout 90 "$RABBITMQ_PID_FILE") \
    || { tail -n 40 "$dir"/rabbitmq/log/*.log >&2 || true; die "RabbitMQ did not become ready"; }
  {
    echo "export AMQP_URL=amqp://guest:guest@127.0.0.1:$amqp/%2f"
    echo "export HYPERFLEET_TEST_RABBITMQ_ENV=$dir/rabbitmq/env"
  } >>"$dir/env"
  log "RabbitMQ is ready on 127.0.0.1:$amqp"
}

start_pubsub() {
  local dir=$1 port
  [[ -x $PUBSUB_EMULATOR ]] || apt_install google-cloud-cli-pubsub-emulator \
    || die "the Pub/Sub emulator ($PUBSUB_EMULATOR) is not installed and apt could not install it"
  port=$(free_port)
  mkdir -p "$dir/pubsub"
  setsid "$PUBSUB_EMULATOR" --host=127.0.0.1 --port="$port" </dev/null >"$dir/pubsub/emulator.log" 2>&1 &
  echo $! >"$dir/pubsub/pid"
  wait_for 60 "Pub/Sub emulator on 127.0.0.1:$port" curl -sf "http://127.0.0.1:$port/" \
    || { cat "$dir/pubsub/emulator.log" >&2; die "the Pub/Sub emulator did not become ready"; }
  echo "export PUBSUB_EMULATOR_HOST=127.0.0.1:$port" >>"$dir/env"
}

install_promtool() {
  local dir=$1
  command -v promtool >/dev/null || apt_install prometheus || die "promtool is missing and apt could not install it"
  echo "export PROMTOOL=$(command -v promtool)" >>"$dir/env"
  log "promtool is $(promtool --version 2>&1 | head -n1)"
}

up() {
  local dir=$1
  mkdir -p "$dir" && chmod 755 "$dir" && : >"$dir/env"
  command -v curl >/dev/null || apt_install curl
  local service
  for service in ${SERVICES:-postgres pubsub rabbitmq promtool}; do
    case $service in
      postgres) start_postgres "$dir" ;;
      pubsub) start_pubsub "$dir" ;;
      rabbitmq) start_rabbitmq "$dir" ;;
      promtool) install_promtool "$dir" ;;
      *) die "unknown service '$service' (known: postgres pubsub rabbitmq promtool)" ;;
    esac
  done
}

down() {
  local dir=$1
  [[ -d $dir ]] || return 0
  if [[ -f $dir/rabbitmq/env ]]; then
    # A wedged node must not hang the test run: bounded stop, then kill what is left.
    # shellcheck disable=SC1091
    (source "$dir/rabbitmq/env"
     timeout 30 rabbitmqctl -q stop >/dev/null 2>&1
     [[ -f $RABBITMQ_PID_FILE ]] && kill -9 "$(cat "$RABBITMQ_PID_FILE")" 2>/dev/null
     timeout 5 epmd -port "$ERL_EPMD_PORT" -kill >/dev/null 2>&1) || true
  fi
  if [[ -f $dir/pubsub/pid ]]; then
    kill -- "-$(cat "$dir/pubsub/pid")" 2>/dev/null || true
  fi
  if [[ -d $dir/pg/data ]]; then
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$dir/pg/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
  log "stopped test services"
}

run() {
  local dir status=0
  dir=$(mktemp -d /tmp/hyperfleet-env.XXXXXX)
  # shellcheck disable=SC2064
  trap "down '$dir'" EXIT
  up "$dir"
  # shellcheck disable=SC1091
  source "$dir/env"
  "$@" || status=$?
  return "$status"
}

case "${1:-}" in
  up) [[ -n ${2:-} ]] || die "usage: $0 up DIR"; up "$2" ;;
  down) [[ -n ${2:-} ]] || die "usage: $0 down DIR"; down "$2" ;;
  run) shift; [[ $# -gt 0 ]] || die "usage: $0 run CMD..."; run "$@" ;;
  *) die "usage: $0 up|down DIR | run CMD..." ;;
esac
