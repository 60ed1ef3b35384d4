#!/usr/bin/env bash
# The abandonment accountant survives a restart (kill -9) of dialerd:
#   - a UK campaign (abandon_window calendar_day) dials 12 numbers into ari-sim
#     (every callee answers) with one port (dialer.ports 1), so the live
#     answers that find the port taken hear the safe-harbour message and are
#     abandoned; the call logs hold the proof;
#   - dialerd is killed with SIGKILL and started again: the accountant is
#     restored from the call logs of the current period (the calendar day in
#     Europe/London) before the campaign launches, and the rate the
#     predictive pacer reads is the one of the call logs;
#   - a campaign_30d campaign restores its 30-day period from its first start.
# UK numbers: no statutory calling hours, so the test does not depend on the time of day.
set -uo pipefail
. "$(dirname "$0")/../support/e2e.sh"
e2e_init cab
E2E_CHECK_LAST=last # a failed check prints the last figures read ($r)

cat >"$TMP/scenario.json" <<'EOF'
{"name": "abandon", "seed": 7,
 "populations": {"default": [{"weight": 1, "outcome": "answer", "ring": 0.1, "talk": "forever"}]}}
EOF
e2e_start_sim "$TMP/scenario.json"
check "ari-sim listens" test -n "$SIMPORT"

e2e_createdb
e2e_env
export DIALERD_DIALER_TALK_TIME=1s DIALERD_DIALER_POLL=100ms DIALERD_DIALER_PORTS=1
export DIALERD_DNC_CHANNEL="dialer:dnc:cab:$$"
check "migrate" bash -c "'$DIALERD' migrate >/dev/null"
e2e_bootstrap acme ops@acme.test "s3cret-Pass-$$" >/dev/null 2>&1
T=$(sql "SELECT id FROM tenants WHERE slug = 'acme'")

LOG=$DIALER_RUN_DIR/dialerd-cab.log
: >"$LOG"
export DIALERD_NODE_ID="cab-$$"
start() {
  e2e_start_dialerd "$LOG"
  PID=$DPID
}
restored() { # restored <campaign>: the last restore line's fields
  grep "event=abandon_restored campaign=$1 " "$LOG" | tail -1 |
    sed -n 's/.* window=\([a-z_0-9]*\) .* live=\([0-9]*\) abandoned=\([0-9]*\) rate=\([0-9.]*\).*/\1 \2 \3 \4/p'
}
wait_restored() { # wait_restored <campaign> <count of restore lines>
  for _ in $(seq 1 200); do
    [ "$(grep -c "event=abandon_restored campaign=$1 " "$LOG")" -ge "$2" ] && return 0
    sleep 0.1
  done
  return 1
}

# A published flow that holds the call for 2 s: with one port, the live answers meanwhile
# cannot be connected and hear the safe-harbour message.
DEF='{"format": "ivrflow/1", "name": "hold", "start": "start",
 "nodes": {
  "start": {"type": "start", "props": {"triggers": ["outbound_answered"]}, "next": {"next": "hold"}},
  "hold": {"type": "wait", "props": {"duration_ms": 2000}, "next": {"next": "bye"}},
  "bye": {"type": "hangup", "props": {}}}}'
F=$("${PSQL[@]}" -d "$DB" -Atq -v def="$DEF" <<SQL
INSERT INTO ivr_flows (tenant_id, name, draft) VALUES ($T, 'hold', :'def'::jsonb) RETURNING id;
SQL
)
"${PSQL[@]}" -d "$DB" -q -v def="$DEF" <<SQL
INSERT INTO ivr_flow_revisions (tenant_id, flow_id, revision, definition) VALUES ($T, $F, 1, :'def'::jsonb);
UPDATE ivr_flows SET latest_revision = 1, published_revision = 1 WHERE id = $F;
SQL
mkcamp() { # mkcamp <name> <window> <numbers prefix> <count>
  local c l
  c=$(sql "INSERT INTO campaigns (tenant_id, name, flow_id, abandon_window, settings) VALUES ($T, '$1', $F, '$2', '{\"pacing\": {\"mode\": \"fixed\", \"cps\": 20, \"max_channels\": 20}, \"retry\": {\"max_attempts\": 1}}') RETURNING id" | head -1)
  l=$(sql "INSERT INTO contact_lists (tenant_id, name) VALUES ($T, 'l-$1') RETURNING id" | head -1)
  sql "INSERT INTO campaign_lists (tenant_id, campaign_id, list_id) VALUES ($T, $c, $l)" >/dev/null
  sql "INSERT INTO contacts (tenant_id, list_id, number) SELECT $T, $l, '$3' || lpad(g::text, 2, '0') FROM generate_series(1, $4) g" >/dev/null
  # one contact due tomorrow keeps the campaign running (it would complete by itself
  # once every contact is final, and a completed campaign is not taken up again)
  sql "INSERT INTO contacts (tenant_id, list_id, number, next_attempt_at) VALUES ($T, $l, '${3}99', now() + interval '1 day')" >/dev/null
  echo "$c"
}
UK=$(mkcamp uk calendar_day +4420794600 12)
US=$(mkcamp us campaign_30d +4420794700 6)

# 1. First run: the accountant starts empty; the campaign dials its 12 numbers.
start
sql "UPDATE campaigns SET state = 'running' WHERE id IN ($UK, $US)" >/dev/null
check "the accountant is restored (empty) before the first launch" wait_restored "$UK" 1
r=$(restored "$UK")
check "calendar_day, nothing counted yet" test "$r" = "calendar_day 0 0 0.0000"
for _ in $(seq 1 300); do
  [ "$(sql "SELECT count(*) FROM call_logs WHERE campaign_id = $UK")" -ge 12 ] &&
    [ "$(sql "SELECT count(*) FROM call_logs WHERE campaign_id = $US")" -ge 6 ] && break
  sleep 0.1
done
live=$(sql "SELECT count(*) FILTER (WHERE live_answer) FROM call_logs WHERE campaign_id = $UK")
ab=$(sql "SELECT count(*) FILTER (WHERE abandoned) FROM call_logs WHERE campaign_id = $UK")
check "12 call logs: $live live answers, $ab abandoned (one port)" \
  test "$live" = 12 -a "$ab" -ge 1 -a "$ab" -lt 12

# The campaign_30d campaign: its first start was 40 days ago (so its current 30-day period
# began 10 days ago) and three of its calls ended 15 days ago (the previous period).
sql "ALTER TABLE campaign_events DISABLE TRIGGER USER;
     UPDATE campaign_events SET at = now() - interval '40 days' WHERE campaign_id = $US;
     ALTER TABLE campaign_events ENABLE TRIGGER USER;
     UPDATE call_logs SET started_at = started_at - interval '15 days',
       answered_at = answered_at - interval '15 days', connected_at = connected_at - interval '15 days',
       safe_harbour_at = safe_harbour_at - interval '15 days', ended_at = ended_at - interval '15 days'
     WHERE attempt_id IN (SELECT attempt_id FROM call_logs WHERE campaign_id = $US
                          ORDER BY abandoned, attempt_id LIMIT 3)" >/dev/null
usl=$(sql "SELECT count(*) FILTER (WHERE live_answer) FROM call_logs WHERE campaign_id = $US AND ended_at >= now() - interval '10 days'")
usa=$(sql "SELECT count(*) FILTER (WHERE abandoned) FROM call_logs WHERE campaign_id = $US AND ended_at >= now() - interval '10 days'")
check "the 30-day campaign: 3 of its 6 calls moved to the previous period ($usl live, $usa abandoned left)" \
  test "$usl" = 3

# 2. kill -9 and start again: the same figures before any launch.
kill -9 "$PID"
wait "$PID" 2>/dev/null
start
check "after kill -9 and a restart the accountant is restored again" wait_restored "$UK" 2
r=$(restored "$UK")
want=$(python3 -c "print('calendar_day %d %d %.4f' % ($live, $ab, $ab / $live))")
check "from the call logs of today in London: $want" test "$r" = "$want"

r=$(restored "$US")
want=$(python3 -c "print('campaign_30d %d %d %.4f' % ($usl, $usa, $usa / $usl))")
check "the 30-day campaign counts its current period only: $want" test "$r" = "$want"

kill -TERM "$PID"
wait "$PID"
s=$?
check "dialerd exits 0 on SIGTERM ($s)" test "$s" = 0
e2e_done
