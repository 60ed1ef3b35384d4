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
  # no national DNC list is loaded in the demo; ari-sim stands in for the network
  export DIALERD_DIALER_ALLOW_MISSING_DNC=true
  export DIALERD_DIALER_CPS=${DEMO_CPS:-50}

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
  seed_campaign
  echo
  echo "dialerd is up (logs in $LOGS):"
  echo "  health:     http://127.0.0.1:$HTTP_PORT/healthz"
  echo "  readiness:  http://127.0.0.1:$HTTP_PORT/readyz"
  curl -sS "http://127.0.0.1:$HTTP_PORT/readyz" || true
  echo
  echo "Stop everything with: make demo-stop"
}

# A sample tenant (dialerd bootstrap), a template flow, a list of 10,000
# generated contacts and a running campaign: dialerd picks it up within a
# poll and the numbers move (call_attempts, call_logs, ari-sim's log).
seed_campaign() {
  local psql=("$DIALER_PG_BIN/psql" "$DIALER_PG_CONNINFO" -v ON_ERROR_STOP=1 -Atq)
  local pw=${DEMO_PASSWORD:-demo-password-123}
  if [ -z "$("${psql[@]}" -c "SELECT id FROM tenants WHERE slug = 'demo'")" ]; then
    DIALERD_BOOTSTRAP_PASSWORD="$pw" "$B/dialerd" bootstrap --tenant-slug demo \
      --tenant-name "Demo Inc" --email admin@demo.test --name Admin >/dev/null
  fi
  "${psql[@]}" -v def="$(cat ivr/templates/survey_feedback.json)" <<'SQL'
SELECT set_config('app.t', (SELECT id::text FROM tenants WHERE slug = 'demo'), false);
INSERT INTO ivr_flows (tenant_id, name, draft)
SELECT current_setting('app.t')::bigint, 'Demo survey', :'def'::jsonb
WHERE NOT EXISTS (SELECT 1 FROM ivr_flows WHERE name = 'Demo survey');
INSERT INTO contact_lists (tenant_id, name)
SELECT current_setting('app.t')::bigint, 'Demo list'
WHERE NOT EXISTS (SELECT 1 FROM contact_lists WHERE name = 'Demo list');
INSERT INTO contacts (tenant_id, list_id, number)
SELECT current_setting('app.t')::bigint, l.id, '+1212' || (5550000 + g)::text
FROM contact_lists l, generate_series(0, 9999) g
WHERE l.name = 'Demo list' AND NOT EXISTS (SELECT 1 FROM contacts c WHERE c.list_id = l.id);
INSERT INTO campaigns (tenant_id, name, flow_id, settings)
SELECT current_setting('app.t')::bigint, 'Demo campaign', f.id,
       '{"pacing": {"mode": "progressive"}, "ring_time_s": 20, "retry": {"max_attempts": 2}}'
FROM ivr_flows f WHERE f.name = 'Demo survey'
AND NOT EXISTS (SELECT 1 FROM campaigns WHERE name = 'Demo campaign');
INSERT INTO campaign_lists (tenant_id, campaign_id, list_id)
SELECT c.tenant_id, c.id, l.id FROM campaigns c, contact_lists l
WHERE c.name = 'Demo campaign' AND l.name = 'Demo list' ON CONFLICT DO NOTHING;
UPDATE campaigns SET state = 'running' WHERE name = 'Demo campaign' AND state = 'draft';
SQL
  echo "demo: tenant 'demo' (admin@demo.test / $pw), campaign 'Demo campaign' of 10,000 contacts running"
  echo "  watch it: $DIALER_PG_BIN/psql \"$DIALER_PG_CONNINFO\" -c \"SELECT outcome, count(*) FROM call_attempts GROUP BY 1\""
}

case "${1:-start}" in
  start) start_all ;;
  stop) stop_all ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
