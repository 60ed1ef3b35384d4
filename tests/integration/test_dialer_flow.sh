#!/usr/bin/env bash
# The outbound dialer with its flow, in a real dialerd against ari-sim,
# PostgreSQL (as dialer_app under RLS) and a private Redis:
#   - answered calls run the campaign's published flow with contact.* from the
#     contact row; the disposition comes from the flow (flow.disposition);
#     steps and executions are recorded; a callee hanging up mid-flow ends the
#     execution as "hangup" (no execution left active); a callback the flow
#     asks for (flow.callback_at) becomes the contact's next attempt;
#   - more live answers than dialer.ports flows: the extra calls hear the
#     safe-harbour message at once and are abandoned (call_logs proof);
#   - the state frequency cap (Florida, 3 calls in 24 h) stops the redials;
#   - the wall's counters move (/metrics);
#   - Redis down: no originate at all (fail closed).
# Run by tests/support/run-all.sh with the services' environment.
set -uo pipefail
# shellcheck source=tests/support/e2e.sh
. "$(dirname "$0")/../support/e2e.sh"
e2e_init dialer_flow

# A Florida number of its own per run: the cap history lives in Redis for 24 h.
FL="+1305555$(printf '%04d' $((($$ * 7919 + RANDOM) % 10000)))"
cat >"$TMP/scenario.json" <<EOF
{"name": "dialer-flow", "seed": 7,
 "populations": {"default": [{"weight": 1, "outcome": "answer", "ring": 0.2, "talk": "forever"}]},
 "rules": [
   {"number": "+1305*", "outcome": "congestion", "ring": 0.05},
   {"number": "*[0-3]", "outcome": "answer", "ring": 0.2, "talk": "forever"},
   {"number": "*[45]", "outcome": "answer", "ring": 0.2, "talk": 2.2},
   {"number": "*[67]", "outcome": "busy", "ring": 0.1, "ringing": false},
   {"number": "*[89]", "outcome": "congestion", "ring": 0.1}
 ]}
EOF
e2e_start_sim "$TMP/scenario.json"
check "ari-sim listens" test -n "$SIMPORT"

# Redis of this test only: it is stopped at the end (fail closed).
e2e_start_redis

e2e_createdb
e2e_env
export DIALERD_NODE_ID="flow-$$"
export DIALERD_DIALER_ALLOW_MISSING_DNC=true DIALERD_DIALER_TALK_TIME=100ms
export DIALERD_DIALER_POLL=100ms DIALERD_DIALER_CPS=400 DIALERD_DIALER_MAX_CHANNELS=400
export DIALERD_DIALER_LEASE_TIME=10s DIALERD_DIALER_PORTS=20
check "migrate" bash -c "'$DIALERD' migrate >/dev/null"

cat >"$TMP/flow.json" <<'EOF'
{"format": "ivrflow/1", "name": "outbound test", "start": "start",
 "nodes": {
  "start": {"type": "start", "props": {"triggers": ["outbound_answered"]}, "next": {"next": "mark"}},
  "mark": {"type": "set_variable",
           "props": {"assign": [{"name": "disposition", "value": "greeted_{{contact.first_name | lower}}"},
                                {"name": "callback_at", "value": "{{contact.callback}}"}]},
           "next": {"next": "greet", "error": "greet"}},
  "greet": {"type": "play", "props": {"media": ["sound:hello-world"]}, "next": {"done": "hold", "error": "hold"}},
  "hold": {"type": "wait", "props": {"duration_ms": 2500}, "next": {"next": "bye"}},
  "bye": {"type": "hangup", "props": {}}
 }}
EOF
sql "INSERT INTO tenants (slug, name) VALUES ('acme', 'Acme')" >/dev/null
T=$(sql "SELECT id FROM tenants WHERE slug = 'acme'")
DEF=$(cat "$TMP/flow.json")
F=$("${PSQL[@]}" -d "$DB" -Atq -v def="$DEF" <<SQL
INSERT INTO ivr_flows (tenant_id, name, draft) VALUES ($T, 'outbound', :'def'::jsonb) RETURNING id;
SQL
)
"${PSQL[@]}" -d "$DB" -q -v def="$DEF" <<SQL
INSERT INTO ivr_flow_revisions (tenant_id, flow_id, revision, definition) VALUES ($T, $F, 1, :'def'::jsonb);
UPDATE ivr_flows SET latest_revision = 1, published_revision = 1 WHERE id = $F;
SQL
CB_AT=$(date -u -d 'tomorrow 15:00' +%Y-%m-%dT%H:%M:%SZ)
mk_campaign() { # name settings -> campaign id (contacts added by the caller into l-<name>)
  local c l
  c=$(sql "INSERT INTO campaigns (tenant_id, name, flow_id, settings) VALUES ($T, '$1', $F, '$2') RETURNING id" | head -1)
  l=$(sql "INSERT INTO contact_lists (tenant_id, name) VALUES ($T, 'l-$1') RETURNING id" | head -1)
  sql "INSERT INTO campaign_lists (tenant_id, campaign_id, list_id) VALUES ($T, $c, $l)" >/dev/null
  echo "$c $l"
}
# The last digit picks the callee (scenario rules): N/10 contacts a digit, 10 each at N=100.
N=100
D=$((N / 10))
read -r CA LA <<<"$(mk_campaign flow '{"pacing": {"mode": "fixed", "cps": 100, "max_channels": 15}, "retry": {"max_attempts": 1}, "callbacks": {"enabled": true, "max_days": 7}}')"
sql "INSERT INTO contacts (tenant_id, list_id, number, custom) SELECT $T, $LA, '+1212777' || lpad(g::text, 4, '0'),
     json_build_object('first_name', CASE WHEN g % 2 = 0 THEN 'Alice' ELSE 'Bob' END,
                       'callback', CASE WHEN g % 10 = 3 THEN '$CB_AT' ELSE '' END)
     FROM generate_series(0, $N - 1) g" >/dev/null
read -r CB LB <<<"$(mk_campaign harbour '{"pacing": {"mode": "fixed", "cps": 200, "max_channels": 200}, "retry": {"max_attempts": 1}}')"
sql "INSERT INTO contacts (tenant_id, list_id, number) SELECT $T, $LB, '+1212888' || lpad((g * 10)::text, 4, '0') FROM generate_series(0, 99) g" >/dev/null
read -r CC LC <<<"$(mk_campaign capped '{"pacing": {"mode": "fixed", "cps": 10, "max_channels": 5}, "retry": {"max_attempts": 10, "failed": {"delay_s": 0, "max_attempts": 10, "max_per_day": 10}}}')"
sql "INSERT INTO contacts (tenant_id, list_id, number) VALUES ($T, $LC, '$FL')" >/dev/null
read -r CD LD <<<"$(mk_campaign closed '{"pacing": {"mode": "fixed", "cps": 20, "max_channels": 20}, "retry": {"max_attempts": 1}}')"
sql "INSERT INTO contacts (tenant_id, list_id, number) SELECT $T, $LD, '+1212999' || lpad(g::text, 4, '0') FROM generate_series(0, 999) g" >/dev/null

LOG=$DIALER_RUN_DIR/dialerd-flow-test.log
: >"$LOG"
e2e_start_dialerd "$LOG"
HPORT=$DPORT
check "dialerd listens" test -n "$HPORT"

# Where a campaign that stopped dialing stands: whether dialerd and ari-sim still run, the
# attempts still open with their flow's execution (status, last node, steps; "none": no flow),
# the contacts by state, the channels ari-sim still holds, and dialerd's launch and channel
# gauges. Printed when the campaign does not finish in time, so a stall shows where it is.
stall_report() { # campaign list
  echo "  stall report for campaign $1 at $(date -u +%H:%M:%S):"
  echo "    dialerd $(alive "$DPID" && echo running || echo GONE), ari-sim $(alive "$SIM_PID" && echo running || echo GONE)"
  sql "SELECT '    open attempts: ' || count(*) FROM call_attempts a WHERE a.campaign_id = $1 AND a.ended_at IS NULL"
  sql "SELECT '    open digit=' || right(a.number, 1) || ' execution=' || coalesce(e.status || '/' || coalesce(e.last_node, '-') || '/' || e.steps, 'none') ||
              ' age_s=' || round(extract(epoch from now() - a.started_at))
       FROM call_attempts a LEFT JOIN ivr_executions e ON e.call_attempt_id = a.id
       WHERE a.campaign_id = $1 AND a.ended_at IS NULL ORDER BY a.started_at LIMIT 20"
  sql "SELECT '    contacts ' || state || ': ' || count(*) FROM contacts WHERE list_id = $2 GROUP BY state ORDER BY state"
  local ch
  ch=$(curl -fsS --max-time 5 -u asterisk:asterisk "http://127.0.0.1:$SIMPORT/ari/channels" 2>/dev/null) &&
    echo "    ari-sim channels up: $(grep -o '"id"' <<<"$ch" | wc -l)" || echo "    ari-sim: no answer to GET /channels"
  curl -fsS --max-time 5 "http://127.0.0.1:$HPORT/metrics" 2>/dev/null |
    grep -E '^(dialer_launching|dialer_channels_booked|dialer_end_writes_queued|db_queries_inflight|db_connections_up)' |
    sed 's/^/    /'
}

# 1. The flow on answered calls.
sql "UPDATE campaigns SET state = 'running' WHERE id = $CA" >/dev/null
unfinished="SELECT count(*) FROM contacts c WHERE c.list_id = %s AND c.state NOT IN ('done', 'failed')"
f0=$fails
check "flow campaign: every contact attempted" wait_sql \
  "SELECT count(*) FROM call_attempts WHERE campaign_id = $CA AND ended_at IS NOT NULL" $N 90
[ "$fails" = "$f0" ] || stall_report "$CA" "$LA"
ans="campaign_id = $CA AND outcome = 'human'"
check "answered calls carry the flow's disposition with contact.first_name" test \
  "$(sql "SELECT count(*) FROM call_attempts WHERE $ans AND disposition = CASE WHEN right(number, 1)::int % 2 = 0 THEN 'greeted_alice' ELSE 'greeted_bob' END")" = $((6 * D))
check "no answered call got the stand-in" test "$(sql "SELECT count(*) FROM call_attempts WHERE $ans AND disposition = 'no_flow'")" = 0
check "one execution per answered call, pinned revision, all ended" wait_sql \
  "SELECT count(*) FILTER (WHERE e.flow_revision = 1 AND e.status = 'ended' AND e.direction = 'outbound') || '/' || count(*) FROM ivr_executions e JOIN call_attempts a ON a.id = e.call_attempt_id WHERE a.campaign_id = $CA" "$((6 * D))/$((6 * D))" 15
check "flows that ran to the end completed (digits 0-3)" test \
  "$(sql "SELECT count(*) FROM ivr_executions e JOIN call_attempts a ON a.id = e.call_attempt_id WHERE a.campaign_id = $CA AND right(a.number, 1) BETWEEN '0' AND '3' AND e.ended_reason = 'completed' AND e.last_node = 'bye'")" = $((4 * D))
check "callee hanging up mid-flow ends the execution as hangup (digits 4-5)" test \
  "$(sql "SELECT count(*) FROM ivr_executions e JOIN call_attempts a ON a.id = e.call_attempt_id WHERE a.campaign_id = $CA AND right(a.number, 1) IN ('4', '5') AND e.ended_reason = 'hangup' AND e.last_node IN ('greet', 'hold')")" = $((2 * D))
check "steps recorded (start, mark, greet, hold, bye)" test \
  "$(sql "SELECT count(DISTINCT s.node_id) FROM ivr_steps s JOIN ivr_executions e ON e.id = s.execution_id JOIN call_attempts a ON a.id = e.call_attempt_id WHERE a.campaign_id = $CA")" = 5
check "busy and congestion keep their outcomes" test \
  "$(sql "SELECT count(*) FILTER (WHERE outcome = 'busy') || '/' || count(*) FILTER (WHERE outcome = 'congestion') FROM call_attempts WHERE campaign_id = $CA")" = "$((2 * D))/$((2 * D))"
check "callbacks asked by the flow are scheduled at that time" test \
  "$(sql "SELECT count(*) FROM contacts WHERE list_id = $LA AND state = 'pending' AND next_attempt_at = '$CB_AT'::timestamptz")" = $D
check "the other contacts are finished" wait_sql "$(printf "$unfinished" "$LA")" $D 10
check "no connected call counted abandoned" test \
  "$(sql "SELECT count(*) FROM call_logs WHERE campaign_id = $CA AND abandoned")" = 0
check "connection time recorded within 2 s of the answer" test \
  "$(sql "SELECT count(*) FROM call_logs WHERE campaign_id = $CA AND live_answer AND connected_at IS NOT NULL AND connected_at - answered_at <= interval '2 s'")" = $((6 * D))

# 2. More live answers than flows: the safe-harbour message.
sql "UPDATE campaigns SET state = 'running' WHERE id = $CB" >/dev/null
f0=$fails
check "harbour campaign: every contact attempted" wait_sql \
  "SELECT count(*) FROM call_attempts WHERE campaign_id = $CB AND ended_at IS NOT NULL" 100 60
[ "$fails" = "$f0" ] || stall_report "$CB" "$LB"
ab=$(sql "SELECT count(*) FROM call_attempts WHERE campaign_id = $CB AND outcome = 'abandoned' AND disposition = 'safe_harbour'")
hu=$(sql "SELECT count(*) FROM call_attempts WHERE campaign_id = $CB AND outcome = 'human'")
echo "  harbour campaign: $hu connected, $ab abandoned with the message"
check "live answers beyond dialer.ports are abandoned with the message" test "$ab" -gt 0 -a $((ab + hu)) = 100
check "the proof: abandoned, message within 2 s, never connected" wait_sql \
  "SELECT count(*) FROM call_logs WHERE campaign_id = $CB AND abandoned AND live_answer AND connected_at IS NULL AND safe_harbour_at - answered_at <= interval '2 s'" "$ab" 10

# 3. The Florida cap: 3 calls in any 24 hours, whatever the campaign's retries.
sql "UPDATE campaigns SET state = 'running' WHERE id = $CC" >/dev/null
forig() { grep -c "\"event\":\"originate\".*\"number\":\"$FL\"" "$OLOG"; }
for _ in $(seq 1 100); do [ "$(forig)" -ge 3 ] && break; sleep 0.1; done
sleep 3
check "the capped number is dialed 3 times, not more ($(forig))" test "$(forig)" = 3
check "the block is logged with its rule" grep -q "event=cap_blocked .*rule=us-fl" "$LOG"

# 4. The wall's figures.
met=$(curl -fsS "http://127.0.0.1:$HPORT/metrics")
attempts=$(printf '%s\n' "$met" | grep "campaign=\"$CA\"" | grep '^dialer_campaign_attempts' | awk '{print $2}' | head -1)
check "the wall counts the campaign's attempts ($attempts)" test "${attempts:-0}" = "$N"
hits=$(printf '%s\n' "$met" | grep '^dialer_ivr_node_hits' | grep "flow=\"$F\",ivr_node=\"greet\",outcome=\"\"" | awk '{print $2}' | head -1)
check "and its IVR node hits ($hits)" test "${hits:-0}" -ge $((6 * D))

# 5. Redis down: nothing is originated.
sql "UPDATE campaigns SET state = 'running' WHERE id = $CD" >/dev/null
dorig() { grep -c '"event":"originate".*"number":"+1212999' "$OLOG"; }
for _ in $(seq 1 100); do [ "$(dorig)" -ge 20 ] && break; sleep 0.1; done
kill -9 "$RPID"
sleep 1
at_kill=$(dorig)
sleep 3
check "no originate while Redis is down ($at_kill, then $(dorig))" test "$(dorig)" = "$at_kill" -a "$at_kill" -lt 1000

e2e_stop_dialerd
check "dialerd exits on SIGTERM" bash -c "! kill -0 $DPID 2>/dev/null"
check "no phone number in full in the log" bash -c "! grep -q '+1212777' '$LOG'"

e2e_done
