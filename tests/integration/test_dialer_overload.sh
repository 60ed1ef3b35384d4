#!/usr/bin/env bash
# Overload containment and the channel bookings, end to end: a real dialerd
# against ari-sim, PostgreSQL (as dialer_app under RLS) and a private Redis.
#   1. the channel bookings in Redis come back to 0 once every call has
#      ended, after Redis stalled twice (CLIENT PAUSE: the limits' acquires
#      and releases and the cap reservations time out in dialerd while Redis
#      still runs them later) and ari-sim refused originates (503: not
#      dialed); dialing goes on until every contact is done;
#   2. dialer.max-launching holds: the dialer_launching gauge on /metrics
#      never goes above it, and the scheduler did wait on it
#      (dialer_launch_waits_total > 0) at a CPS that would otherwise launch
#      ten calls per tick.
# Run by tests/support/run-all.sh with the services' environment.
set -uo pipefail
B=${DIALER_BUILD:?}
DIALERD=$B/dialerd
SIM=$B/ari-sim
fails=0
pids=()
DB=test_dialer_overload_$$
TMP=$(mktemp -d)
PSQL=("$DIALER_PG_BIN/psql" -h "$DIALER_PG_SOCKDIR" -p "$DIALER_PG_PORT" -U dialer -v ON_ERROR_STOP=1)
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  [ -n "${DIALER_TEST_KEEP:-}" ] && { echo "kept: database $DB, files $TMP"; return; }
  "${PSQL[@]}" -d postgres -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1
  rm -rf "$TMP"
}
trap cleanup EXIT

check() {
  local what=$1
  shift
  if "$@"; then echo "ok - $what"; else echo "FAIL - $what"; fails=$((fails + 1)); fi
}
sql() { "${PSQL[@]}" -d "$DB" -Atc "$1"; }
wait_sql() {
  local q=$1 want=$2 secs=$3 got=
  for _ in $(seq 1 $((secs * 10))); do
    got=$(sql "$q")
    [ "$got" = "$want" ] && return 0
    sleep 0.1
  done
  echo "  waited ${secs}s for [$q] = $want, last $got" >&2
  return 1
}
free_port() { # a loopback port the kernel says is free now
  python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

cat >"$TMP/scenario.json" <<'EOF'
{"name": "dialer-overload", "seed": 9,
 "populations": {"default": [{"weight": 1, "outcome": "answer", "ring": 0.1, "talk": "forever"}]},
 "rules": [{"number": "*", "outcome": "answer", "ring": 0.1, "talk": "forever"}]}
EOF
OLOG=$TMP/originate.log
"$SIM" --port 0 --port-file "$TMP/sim.port" --scenario "$TMP/scenario.json" \
  --originate-log "$OLOG" --log-level warn >"$TMP/sim.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 50); do [ -s "$TMP/sim.port" ] && break; sleep 0.1; done
SIMPORT=$(cat "$TMP/sim.port")
check "ari-sim listens" test -n "$SIMPORT"

RPORT=$(free_port)
redis-server --port "$RPORT" --bind 127.0.0.1 --save "" --appendonly no >"$TMP/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 50); do redis-cli -p "$RPORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
R=(redis-cli -p "$RPORT")

"${PSQL[@]}" -d postgres -qc "CREATE DATABASE $DB" >/dev/null
export DIALERD_DB_ADMIN_CONNINFO="host=$DIALER_PG_SOCKDIR port=$DIALER_PG_PORT user=dialer dbname=$DB"
export DIALERD_DB_CONNINFO="host=$DIALER_PG_SOCKDIR port=$DIALER_PG_PORT user=dialer_app dbname=$DB"
export DIALERD_REDIS_HOST=127.0.0.1 DIALERD_REDIS_PORT=$RPORT DIALERD_REDIS_SOCKET=""
export DIALERD_HTTP_STATIC_DIR="" DIALERD_HTTP_PORT=0
export DIALERD_API_JWT_KEYS="main=dialerd-test-secret-0123456789abcdef0123"
export DIALERD_ARI_URL="http://127.0.0.1:$SIMPORT" DIALERD_ARI_USER=asterisk
export DIALERD_ARI_PASSWORD=asterisk
export DIALERD_NODE_ID="overload-$$"
export DIALERD_DIALER_ALLOW_MISSING_DNC=true DIALERD_DIALER_TALK_TIME=100ms
# 200 CPS (a chunk of 20 channels per refill) against 30 channels: one lost
# chunk is two thirds of the cap. At most 4 launches in flight.
MAXL=4
export DIALERD_DIALER_POLL=100ms DIALERD_DIALER_CPS=200 DIALERD_DIALER_MAX_CHANNELS=30
export DIALERD_DIALER_MAX_LAUNCHING=$MAXL DIALERD_DIALER_LEASE_TIME=30s
check "migrate" bash -c "'$DIALERD' migrate >/dev/null"

sql "INSERT INTO tenants (slug, name) VALUES ('acme', 'Acme')" >/dev/null
T=$(sql "SELECT id FROM tenants WHERE slug = 'acme'")
F=$(sql "INSERT INTO ivr_flows (tenant_id, name) VALUES ($T, 'f') RETURNING id" | head -1)
C=$(sql "INSERT INTO campaigns (tenant_id, name, flow_id, settings) VALUES ($T, 'load', $F, '{\"pacing\": {\"mode\": \"fixed\", \"cps\": 200, \"max_channels\": 30}, \"retry\": {\"max_attempts\": 1}}') RETURNING id" | head -1)
L=$(sql "INSERT INTO contact_lists (tenant_id, name) VALUES ($T, 'l') RETURNING id" | head -1)
sql "INSERT INTO campaign_lists (tenant_id, campaign_id, list_id) VALUES ($T, $C, $L)" >/dev/null
N=600
sql "INSERT INTO contacts (tenant_id, list_id, number) SELECT $T, $L, '+1213777' || lpad(g::text, 4, '0') FROM generate_series(0, $N - 1) g" >/dev/null

LOG=$DIALER_RUN_DIR/dialerd-overload-test.log
: >"$LOG"
"$DIALERD" >>"$LOG" 2>&1 &
DPID=$!
pids+=($DPID)
HPORT=
for _ in $(seq 1 100); do
  HPORT=$(sed -n 's/.*event=listening .*port=\([0-9]*\).*/\1/p' "$LOG" | head -1)
  [ -n "$HPORT" ] && break
  sleep 0.1
done
check "dialerd listens" test -n "$HPORT"

# /metrics sampled every 50 ms while the campaign runs (bounded: 4000 samples)
( for _ in $(seq 1 4000); do
    curl -fsS --max-time 2 "http://127.0.0.1:$HPORT/metrics" 2>/dev/null | grep -E '^dialer_launching ' | awk '{print $2}'
    sleep 0.05
  done >"$TMP/launching.txt" ) &
SAMPLER=$!
pids+=($SAMPLER)

originated() {
  local n
  n=$(grep -c '"event":"originate"' "$OLOG" 2>/dev/null)
  echo "${n:-0}"
}
wait_originated() { # n secs
  for _ in $(seq 1 $(($2 * 20))); do [ "$(originated)" -ge "$1" ] && return 0; sleep 0.05; done
  return 1
}
sql "UPDATE campaigns SET state = 'running' WHERE id = $C" >/dev/null
check "dialing starts" wait_originated 60 30
"${R[@]}" CLIENT PAUSE 2500 ALL >/dev/null
sleep 3
check "dialing goes on after Redis stalled" wait_originated 200 40
"${R[@]}" CLIENT PAUSE 2500 ALL >/dev/null
sleep 3
check "and after it stalled again" wait_originated 300 40
curl -sf -X POST "http://127.0.0.1:$SIMPORT/_sim/fault?action=fail&seconds=1&status=503" >/dev/null
check "every contact is done, dialed once (refused originates and cap checks Redis did not answer waited)" \
  wait_sql "SELECT count(*) FROM contacts WHERE list_id = $L AND state = 'done' AND attempts = 1" $N 150
booked() { "${R[@]}" HVALS dialer:lim:ch:global | awk '{s += $1} END {print s + 0}'; }
wait_unbooked() {
  local b=
  for _ in $(seq 1 100); do b=$(booked); [ "$b" = 0 ] && return 0; sleep 0.1; done
  echo "  still booked in Redis: $b ($("${R[@]}" HGETALL dialer:lim:ch:global | tr '\n' ' '))" >&2
  return 1
}
check "no channel booked in Redis once every call has ended" wait_unbooked
nd=$(sql "SELECT count(*) FROM call_attempts WHERE campaign_id = $C AND outcome = 'not_dialed'")
echo "  $nd originates were refused (not dialed) and dialed again"
kill "$SAMPLER" 2>/dev/null
wait "$SAMPLER" 2>/dev/null
met=$(curl -fsS "http://127.0.0.1:$HPORT/metrics")
waits=$(printf '%s\n' "$met" | awk '$1 == "dialer_launch_waits_total" {print $2}')
maxl=$(sort -n "$TMP/launching.txt" | tail -1)
echo "  dialer_launching: $(wc -l <"$TMP/launching.txt") samples, at most ${maxl:-none}; waits ${waits:-none}"
check "launches in flight never above dialer.max-launching ($MAXL)" test -n "$maxl" -a "${maxl:-99}" -le $MAXL
check "the scheduler waited on the bound" test "${waits:-0}" -gt 0
check "the bookings gauge is on /metrics (0)" bash -c "printf '%s\n' \"\$1\" | grep -qx 'dialer_channels_booked 0'" _ "$met"

kill -TERM "$DPID"
for _ in $(seq 1 100); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
check "dialerd exits on SIGTERM" bash -c "! kill -0 $DPID 2>/dev/null"
check "no phone number in full in the log" bash -c "! grep -qE '\\+1213777[0-9]{4}' '$LOG'"

echo "$fails failed"
[ "$fails" -eq 0 ]
