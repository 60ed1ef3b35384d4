#!/usr/bin/env bash
# Overload containment and the channel bookings, end to end: a real dialerd
# against ari-sim, PostgreSQL (as dialer_app under RLS) and a private Redis.
#   1. the channel bookings in Redis come back to 0 once every call has
#      ended, after Redis stalled twice (CLIENT PAUSE: the limits' acquires
#      and releases and the cap reservations time out in dialerd while Redis
#      still runs them later), the whole channel cap was booked in Redis
#      under the process by such acquires, and ari-sim refused originates
#      (503: not dialed); after each Redis fault dialing resumes within
#      seconds, and goes on until every contact is done;
#   2. dialer.max-launching holds: the dialer_launching gauge on /metrics
#      never goes above it, and the scheduler did wait on it
#      (dialer_launch_waits_total > 0) at a CPS that would otherwise launch
#      ten calls per tick.
# Run by tests/support/run-all.sh with the services' environment.
set -uo pipefail
. "$(dirname "$0")/../support/e2e.sh"
e2e_init dialer_overload

cat >"$TMP/scenario.json" <<'EOF'
{"name": "dialer-overload", "seed": 9,
 "populations": {"default": [{"weight": 1, "outcome": "answer", "ring": 0.1, "talk": "forever"}]},
 "rules": [{"number": "*", "outcome": "answer", "ring": 0.1, "talk": "forever"}]}
EOF
e2e_start_sim "$TMP/scenario.json"
check "ari-sim listens" test -n "$SIMPORT"

e2e_start_redis
R=(redis-cli -p "$RPORT")

e2e_createdb
e2e_env
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
e2e_start_dialerd "$LOG"
HPORT=$DPORT
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
# After each fault, RESUME more launches within RESUME_S seconds of Redis answering again: the
# once-a-second absolute count (book_sync) undoes what acquires that timed out but ran booked.
RESUME=20 RESUME_S=10
resumes() { # what
  local base
  base=$(originated)
  check "dialing resumes within ${RESUME_S}s of Redis answering again ($1)" \
    wait_originated $((base + RESUME)) $RESUME_S
}
stall() { # the pause (2.5 s) and 0.5 s more: Redis answers again
  "${R[@]}" CLIENT PAUSE 2500 ALL >/dev/null
  sleep 3
}
sql "UPDATE campaigns SET state = 'running' WHERE id = $C" >/dev/null
check "dialing starts" wait_originated 60 30
stall
resumes "first stall"
stall
resumes "second stall"
# What a stall may leave at worst: acquires that timed out in dialerd and ran in Redis later
# booked the whole channel cap under this process, which holds none of it. Under steady demand
# a refill was in flight at every tick, the absolute count was never written, and the gate
# granted nothing for good.
field=
for _ in $(seq 1 50); do
  field=$("${R[@]}" HKEYS dialer:lim:ch:global | grep -m1 "^$DIALERD_NODE_ID/")
  [ -n "$field" ] && break
  sleep 0.1
done
check "the process's bookings are in Redis" test -n "$field"
"${R[@]}" HINCRBY dialer:lim:ch:global "$field" 30 >/dev/null
resumes "the whole cap booked by lost acquires"
curl -sf -X POST "http://127.0.0.1:$SIMPORT/_sim/fault?action=fail&seconds=1&status=503" >/dev/null
# a cap check Redis did not answer sends its contact back for 5 s (no longer a minute)
check "every contact is done, dialed once (refused originates and cap checks Redis did not answer waited)" \
  wait_sql "SELECT count(*) FROM contacts WHERE list_id = $L AND state = 'done' AND attempts = 1" $N 90
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

e2e_stop_dialerd
check "dialerd exits on SIGTERM" bash -c "! kill -0 $DPID 2>/dev/null"
check "no phone number in full in the log" bash -c "! grep -qE '\\+1213777[0-9]{4}' '$LOG'"

e2e_done
