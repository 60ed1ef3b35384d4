#!/usr/bin/env bash
# The demo: starts a private PostgreSQL and Redis under run/demo, migrates the
# database, starts ari-sim (when built) and dialerd on loopback, waits until
# dialerd is healthy and prints its URLs. Everything keeps running in the
# background until `make demo-stop` (scripts/demo.sh stop).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export RUN_DIR=$ROOT/run/demo
B=${B:-build/release}
LOGS=$RUN_DIR/logs
HTTP_PORT=${DEMO_HTTP_PORT:-8080}
ARI_PORT=${DEMO_ARI_PORT:-8088}

stop_pid() { # stop_pid <pidfile>
  local f=$1 pid i=0
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  kill "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$f"
}

port_free() { ! (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; }

stop_all() {
  stop_pid "$RUN_DIR/dialerd.pid"
  stop_pid "$RUN_DIR/ari-sim.pid"
  tests/support/services.sh stop
}

start_all() {
  mkdir -p "$LOGS"
  stop_pid "$RUN_DIR/dialerd.pid"
  stop_pid "$RUN_DIR/ari-sim.pid"
  tests/support/services.sh start
  # shellcheck disable=SC1091
  . "$RUN_DIR/services.env"
  port_free "$HTTP_PORT" || { echo "demo: port $HTTP_PORT is busy; set DEMO_HTTP_PORT" >&2; exit 1; }

  export DIALERD_DB_CONNINFO="$DIALER_PG_CONNINFO"
  export DIALERD_REDIS_HOST=127.0.0.1
  export DIALERD_REDIS_PORT="$DIALER_REDIS_PORT"
  export DIALERD_HTTP_PORT="$HTTP_PORT"
  export DIALERD_HTTP_STATIC_DIR="$ROOT/dashboards/web/dist"
  export DIALERD_NODE_ID=demo-1
  export DIALERD_ARI_URL="http://127.0.0.1:$ARI_PORT"
  export DIALERD_ARI_USER=dialer
  export DIALERD_ARI_PASSWORD=demo-only-secret

  "$B/dialerd" migrate

  if [ -x "$B/ari-sim" ]; then
    port_free "$ARI_PORT" || { echo "demo: port $ARI_PORT is busy; set DEMO_ARI_PORT" >&2; exit 1; }
    "$B/ari-sim" --port "$ARI_PORT" --user dialer --password demo-only-secret \
      --originate-log "$RUN_DIR/originate.log" >"$LOGS/ari-sim.log" 2>&1 &
    echo $! >"$RUN_DIR/ari-sim.pid"
  fi

  "$B/dialerd" >"$LOGS/dialerd.log" 2>&1 &
  echo $! >"$RUN_DIR/dialerd.pid"

  local i=0
  until curl -fsS "http://127.0.0.1:$HTTP_PORT/healthz" >/dev/null 2>&1; do
    i=$((i + 1))
    if [ $i -gt 100 ] || ! kill -0 "$(cat "$RUN_DIR/dialerd.pid")" 2>/dev/null; then
      echo "demo: dialerd did not become healthy; last log lines:" >&2
      tail -20 "$LOGS/dialerd.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  echo
  echo "dialerd is up (logs in $LOGS):"
  echo "  health:     http://127.0.0.1:$HTTP_PORT/healthz"
  echo "  readiness:  http://127.0.0.1:$HTTP_PORT/readyz"
  curl -sS "http://127.0.0.1:$HTTP_PORT/readyz" || true
  echo
  echo "Stop everything with: make demo-stop"
}

case "${1:-start}" in
  start) start_all ;;
  stop) stop_all ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
