#!/usr/bin/env bash
# dialerd end to end: configuration errors, migrate (twice), /healthz and
# /readyz against the private PostgreSQL and Redis (and ari-sim when built),
# readiness following Redis going down and coming back, and a clean exit 0
# on SIGTERM. Run by tests/support/run-all.sh with the services' env loaded.
set -uo pipefail
# shellcheck source=tests/support/e2e.sh
. "$(dirname "$0")/../support/e2e.sh"
e2e_init dialerd

out=$(DIALERD_HTTP_PROT=1 "$DIALERD" --version 2>&1 >/dev/null; DIALERD_HTTP_PROT=1 "$DIALERD" migrate-status 2>&1)
check "unknown environment variable is refused by name" grep -q 'DIALERD_HTTP_PROT' <<<"$out"
DIALERD_HTTP_PORT=99999 "$DIALERD" migrate-status >/dev/null 2>&1
check "out-of-range port exits 2" test $? -eq 2
check "--help-config lists options with env names" bash -c "'$DIALERD' --help-config | grep -q DIALERD_DB_POOL_SIZE"
check "--help-config hides secrets" bash -c "! DIALERD_ARI_PASSWORD=s3cret-value '$DIALERD' --help-config | grep -q s3cret-value"

# A database of its own for this test.
e2e_createdb
export DIALERD_DB_CONNINFO="host=$DIALER_PG_SOCKDIR port=$DIALER_PG_PORT user=dialer dbname=$DB"
export DIALERD_REDIS_HOST=127.0.0.1 DIALERD_REDIS_PORT=$DIALER_REDIS_PORT
export DIALERD_HTTP_STATIC_DIR=""

check "migrate applies the schema" "$DIALERD" migrate
check "migrate again is a no-op" "$DIALERD" migrate
tables=$(sql "SELECT count(*) FROM information_schema.tables WHERE table_name IN ('tenants','campaigns','contacts','call_attempts','ivr_flow_revisions')")
check "schema has the core tables" test "$tables" = 5

# ari-sim, when this build has it, on a port it binds itself (no probe race).
ARI_PORT=$(free_port)
if [ -x "$B/ari-sim" ]; then
  e2e_start_sim "" --user dialer --password pw
  check "ari-sim starts" test -n "$SIMPORT"
  ARI_PORT=${SIMPORT:-0}
fi
export DIALERD_ARI_URL="http://127.0.0.1:$ARI_PORT" DIALERD_ARI_USER=dialer DIALERD_ARI_PASSWORD=pw

# Port 0: dialerd binds a free port itself and logs it (event=listening).
export DIALERD_HTTP_PORT=0
: >"$DIALER_RUN_DIR/dialerd-test.log"
e2e_start_dialerd "$DIALER_RUN_DIR/dialerd-test.log"
PORT=$DPORT
up=0
for _ in $(seq 1 100); do
  [ -n "$PORT" ] && curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && { up=1; break; }
  sleep 0.1
done
check "healthz answers" test $up = 1
check "healthz is JSON with status ok" bash -c "curl -fsS http://127.0.0.1:$PORT/healthz | grep -q '\"status\": *\"ok\"'"

wait_ready() { # wait_ready <expected http code> <seconds>
  local code i=0
  while [ $i -lt $(($2 * 10)) ]; do
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/readyz")
    [ "$code" = "$1" ] && return 0
    sleep 0.1; i=$((i + 1))
  done
  curl -s "http://127.0.0.1:$PORT/readyz"; echo
  return 1
}
if [ -x "$B/ari-sim" ]; then
  check "readyz is 200 with PostgreSQL, Redis and ARI up" wait_ready 200 10
else
  check "readyz is 503 while ARI is unreachable" wait_ready 503 10
fi
body=$(curl -s "http://127.0.0.1:$PORT/readyz")
check "readyz reports postgresql up" grep -q '"postgresql": *{ *"status": *"up"' <<<"$body"
check "readyz reports redis up" grep -q '"redis": *{ *"status": *"up"' <<<"$body"

bash "$DIALER_ROOT/tests/support/services.sh" stop-redis
check "readyz turns 503 when Redis stops" wait_ready 503 10
check "readyz names redis as down" bash -c "curl -s http://127.0.0.1:$PORT/readyz | grep -q '\"redis\": *{ *\"status\": *\"down\"'"
bash "$DIALER_ROOT/tests/support/services.sh" start-redis
if [ -x "$B/ari-sim" ]; then
  check "readyz recovers after Redis is back" wait_ready 200 15
fi
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/api/v1/nope")
check "unknown route is 404" test "$code" = 404

kill -TERM $DPID
rc=0
for _ in $(seq 1 100); do kill -0 $DPID 2>/dev/null || break; sleep 0.1; done
wait $DPID; rc=$?
check "SIGTERM exits 0" test $rc = 0
check "shutdown is logged" grep -q 'event=shutdown_start' "$DIALER_RUN_DIR/dialerd-test.log"

e2e_done
