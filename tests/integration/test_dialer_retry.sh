#!/usr/bin/env bash
# Retries and trunk fail-over, end to end: a real dialerd against ari-sim,
# PostgreSQL (as dialer_app under RLS) and a private Redis.
#   1. trunk fail-over: a campaign with two trunks whose first one answers
#      every call with 503 (congestion, Q.850 34): those calls are redialed at
#      once on the second trunk (a new attempt, within the retry policy), the
#      first trunk rests after three route failures in a row so later calls
#      start on the second one, a busy (486/17) callee is never redialed at
#      once on the other trunk, and the trunks' error counters on /metrics
#      match the database;
#   2. retries at the policy's times: no answer with a 3 s delay; the second
#      attempt comes no earlier than the delay after the first call ended and
#      within a fraction of a second after it (ari-sim's originate log);
#      max_per_day 2 holds (the third attempt is at least a day later) and
#      max_attempts 2 holds (the contact is failed after two);
#   3. a 500 burst from ari-sim: the originates it refuses are checked by
#      channel id and given back (not_dialed), no attempt is spent, no
#      number is dialed twice, and the hang-ups it refused are sent again
#      (no call is left up).
# Run by tests/support/run-all.sh with the services' environment.
set -uo pipefail
# shellcheck source=tests/support/e2e.sh
. "$(dirname "$0")/../support/e2e.sh"
e2e_init dialer_retry

# +1213444NNNN: fail-over campaign (digit 7 busy on any trunk; carrier-a congested);
# +1213555NNNN: no answer (480 after 0.2 s) for the retry campaigns.
cat >"$TMP/scenario.json" <<'EOF'
{"name": "dialer-retry", "seed": 5,
 "populations": {"default": [{"weight": 1, "outcome": "answer", "ring": 0.2, "talk": "forever"}]},
 "rules": [
   {"number": "+1213444???7", "outcome": "busy", "ring": 0.1, "ringing": false},
   {"number": "+1213555*", "outcome": "noanswer", "ring": 0.1, "giveup": 0.2},
   {"endpoint": "PJSIP/*@carrier-a", "outcome": "congestion", "ring": 0.05},
   {"number": "*", "outcome": "answer", "ring": 0.2, "talk": "forever"}
 ]}
EOF
e2e_start_sim "$TMP/scenario.json"
check "ari-sim listens" test -n "$SIMPORT"

e2e_start_redis

e2e_createdb
e2e_env
export DIALERD_NODE_ID="retry-$$"
export DIALERD_DIALER_ALLOW_MISSING_DNC=true DIALERD_DIALER_TALK_TIME=100ms
export DIALERD_DIALER_POLL=100ms DIALERD_DIALER_CPS=100 DIALERD_DIALER_MAX_CHANNELS=100
export DIALERD_DIALER_LEASE_TIME=30s
check "migrate" bash -c "'$DIALERD' migrate >/dev/null"

sql "INSERT INTO tenants (slug, name) VALUES ('acme', 'Acme')" >/dev/null
T=$(sql "SELECT id FROM tenants WHERE slug = 'acme'")
F=$(sql "INSERT INTO ivr_flows (tenant_id, name) VALUES ($T, 'f') RETURNING id" | head -1)
mk_campaign() { # name settings -> "campaign list"
  local c l
  c=$(sql "INSERT INTO campaigns (tenant_id, name, flow_id, settings) VALUES ($T, '$1', $F, '$2') RETURNING id" | head -1)
  l=$(sql "INSERT INTO contact_lists (tenant_id, name) VALUES ($T, 'l-$1') RETURNING id" | head -1)
  sql "INSERT INTO campaign_lists (tenant_id, campaign_id, list_id) VALUES ($T, $c, $l)" >/dev/null
  echo "$c $l"
}

LOG=$DIALER_RUN_DIR/dialerd-retry-test.log
: >"$LOG"
e2e_start_dialerd "$LOG"
HPORT=$DPORT
check "dialerd listens" test -n "$HPORT"

# ------------------------------------------------------------ 1. fail-over
N=60
TRUNKS='"trunks": [{"name": "carrier-a", "endpoint": "PJSIP/{e164}@carrier-a"}, {"name": "carrier-b", "endpoint": "PJSIP/{e164}@carrier-b"}]'
read -r CF LF <<<"$(mk_campaign failover "{\"pacing\": {\"mode\": \"fixed\", \"cps\": 6, \"max_channels\": 4}, $TRUNKS, \"retry\": {\"max_attempts\": 3, \"failed\": {\"delay_s\": 600, \"max_attempts\": 3}, \"busy\": {\"delay_s\": 600, \"max_attempts\": 3}}}")"
sql "INSERT INTO contacts (tenant_id, list_id, number) SELECT $T, $LF, '+1213444' || lpad(g::text, 4, '0') FROM generate_series(0, $N - 1) g" >/dev/null
sql "UPDATE campaigns SET state = 'running' WHERE id = $CF" >/dev/null
NB=$((N / 10)) # numbers ending in 7: busy
check "fail-over campaign: every contact answered, or busy and waiting" wait_sql \
  "SELECT count(*) FROM contacts WHERE list_id = $LF AND (state = 'done' OR (state = 'pending' AND attempts = 1 AND last_outcome = 'busy'))" $N 60
fo=$(q "SELECT count(DISTINCT contact_id) FROM call_attempts WHERE campaign_id = $CF AND trunk = 'carrier-a' AND outcome = 'congestion' AND hangup_cause = 34")
echo "  $fo contacts met the congested trunk first"
check "congested calls on carrier-a were redialed on carrier-b (within 2 s, attempt 2, answered)" test "$fo" -ge 3 -a \
  "$(q "SELECT count(*) FROM call_attempts a JOIN call_attempts b ON b.contact_id = a.contact_id AND b.attempt_no = a.attempt_no + 1
        WHERE a.campaign_id = $CF AND a.trunk = 'carrier-a' AND a.outcome = 'congestion'
          AND b.trunk = 'carrier-b' AND b.outcome = 'human' AND b.started_at - a.ended_at < interval '2 s'")" = "$fo"
# without the rest every one of the $((N - NB)) answering contacts would meet carrier-a first
check "carrier-a rests after three route failures: later calls start on carrier-b ($fo of $((N - NB)) met it)" \
  test "$fo" -le $((N / 4))
check "every answering contact is done, never dialed more than twice" test \
  "$(q "SELECT count(*) FROM contacts WHERE list_id = $LF AND state = 'done' AND attempts <= 2")" = $((N - NB))
check "busy callees are dialed once, never at once on the other trunk; retried after the policy's delay" test \
  "$(q "SELECT count(*) FROM contacts c WHERE c.list_id = $LF AND right(c.number, 1) = '7' AND c.state = 'pending'
        AND c.next_attempt_at >= c.last_attempt_at + interval '599 s'
        AND (SELECT count(*) FROM call_attempts a WHERE a.contact_id = c.id) = 1
        AND (SELECT outcome FROM call_attempts a WHERE a.contact_id = c.id) = 'busy'")" = "$NB"
busy_orig=$(grep '"event":"originate"' "$OLOG" | grep -c '"number":"+1213444...7"')
check "ari-sim saw each busy number once ($busy_orig)" test "$busy_orig" = "$NB"
met=$(curl -fsS "http://127.0.0.1:$HPORT/metrics")
ea=$(printf '%s\n' "$met" | grep '^dialer_trunk_errors' | grep 'trunk="carrier-a"' | awk '{print $2}' | head -1)
eb=$(printf '%s\n' "$met" | grep '^dialer_trunk_errors' | grep 'trunk="carrier-b"' | awk '{print $2}' | head -1)
da=$(q "SELECT count(*) FROM call_attempts WHERE campaign_id = $CF AND trunk = 'carrier-a' AND outcome = 'congestion'")
check "the end-write queue's depth is on /metrics (empty)" bash -c "printf '%s\n' \"\$1\" | grep -qx 'dialer_end_writes_queued 0'" _ "$met"
check "trunk errors on /metrics: carrier-a ${ea:-none} = $da congested, carrier-b ${eb:-0}" test "${ea:-x}" = "$da" -a "${eb:-0}" = 0

# ------------------------------------------------------------ 2. retries at the policy's times
read -r CR LR <<<"$(mk_campaign retry '{"pacing": {"mode": "fixed", "cps": 20, "max_channels": 20}, "ring_time_s": 15, "retry": {"max_attempts": 3, "no_answer": {"delay_s": 3, "max_attempts": 3, "max_per_day": 2}}}')"
sql "INSERT INTO contacts (tenant_id, list_id, number) SELECT $T, $LR, '+1213555' || lpad(g::text, 4, '0') FROM generate_series(0, 4) g" >/dev/null
read -r CM LM <<<"$(mk_campaign maxatt '{"pacing": {"mode": "fixed", "cps": 20, "max_channels": 20}, "ring_time_s": 15, "retry": {"max_attempts": 2, "no_answer": {"delay_s": 2, "max_attempts": 2}}}')"
sql "INSERT INTO contacts (tenant_id, list_id, number) SELECT $T, $LM, '+1213555' || lpad(g::text, 4, '0') FROM generate_series(100, 104) g" >/dev/null
sql "UPDATE campaigns SET state = 'running' WHERE id IN ($CR, $CM)" >/dev/null
check "retry campaign: two attempts each, then due a day later (max_per_day 2)" wait_sql \
  "SELECT count(*) FROM contacts WHERE list_id = $LR AND state = 'pending' AND attempts = 2 AND next_attempt_at > now() + interval '23 hours'" 5 30
check "max_attempts campaign: two attempts each, then failed" wait_sql \
  "SELECT count(*) FROM contacts WHERE list_id = $LM AND state = 'failed' AND attempts = 2" 5 30
sleep 4 # nothing more may be dialed
# Per number: the end of call 1 and the originate of call 2, from ari-sim's log (ms).
gaps=$(grep '"number":"+1213555' "$OLOG" | jq -r '[.event, .number, .time] | @tsv' |
  while IFS=$'\t' read -r ev num t; do echo "$ev $num $(date -u -d "$t" +%s%3N)"; done |
  awk '$1 == "end" && !($2 in e) { e[$2] = $3 } $1 == "originate" { n[$2]++; if (n[$2] == 2) o[$2] = $3 }
       END { for (k in o) print k, o[k] - e[k], (substr(k, 9, 4) + 0 >= 100 ? 2000 : 3000) }')
echo "$gaps" | sed 's/^+1213555\(....\)/  number ...\1: second call after/; s/$/ ms (delay in ms)/'
check "each contact dialed exactly twice" test \
  "$(grep '"event":"originate"' "$OLOG" | grep -c '"number":"+1213555')" = 20
check "the second attempt never before the delay" test "$(echo "$gaps" | awk '$2 < $3' | wc -l)" = 0 -a "$(echo "$gaps" | wc -l)" = 10
check "and within 500 ms after it (a tick is 50 ms)" test "$(echo "$gaps" | awk '$2 > $3 + 500' | wc -l)" = 0

# ------------------------------------------------------------ 3. a 500 burst
# Unlike a 503, a 500 does not prove that no channel was made: the dialer asks
# GET /channels/{id} (itself refused while the burst lasts, so again with a
# back-off) and only a "not found" makes the attempt not dialed.
read -r C5 L5 <<<"$(mk_campaign five '{"pacing": {"mode": "fixed", "cps": 50, "max_channels": 50}, "retry": {"max_attempts": 1}}')"
sql "INSERT INTO contacts (tenant_id, list_id, number) SELECT $T, $L5, '+1213666' || lpad(g::text, 4, '0') FROM generate_series(0, 299) g" >/dev/null
sql "UPDATE campaigns SET state = 'running' WHERE id = $C5" >/dev/null
for _ in $(seq 1 200); do [ "$(grep -c '"event":"originate".*"number":"+1213666' "$OLOG")" -ge 50 ] && break; sleep 0.05; done
curl -sf -X POST "http://127.0.0.1:$SIMPORT/_sim/fault?action=fail&seconds=2&status=500" >/dev/null
check "500 burst: every contact answered once, none spent" wait_sql \
  "SELECT count(*) FROM contacts WHERE list_id = $L5 AND state = 'done' AND attempts = 1" 300 60
nd=$(sql "SELECT count(*) FROM call_attempts WHERE campaign_id = $C5 AND outcome = 'not_dialed'")
check "500 burst: refused originates checked by channel id and given back ($nd), no attempt failed or lost" \
  test "$nd" -gt 0 -a "$(sql "SELECT count(*) FROM call_attempts WHERE campaign_id = $C5 AND outcome NOT IN ('human', 'not_dialed')")" = 0
check "500 burst: the checks are logged" grep -q 'event=originate_checked id=.* channel=none' "$LOG"
active() { curl -sf --max-time 2 "http://127.0.0.1:$SIMPORT/_sim/stats" | sed -n 's/.*"channels_active":\([0-9]*\).*/\1/p'; }
no_channel_left() {
  local a=
  for _ in $(seq 1 100); do a=$(active); [ "$a" = 0 ] && return 0; sleep 0.1; done
  echo "  ari-sim still has $a channels" >&2
  return 1
}
check "500 burst: hang-ups it refused were sent again ($(grep -c 'event=hangup_failed' "$LOG")): no channel left up" no_channel_left
check "500 burst: each number reached ari-sim once" test \
  "$(grep '"event":"originate"' "$OLOG" | grep '"number":"+1213666' | sed -n 's/.*"number":"\([^"]*\)".*/\1/p' | sort -u | wc -l)" = 300 -a \
  "$(grep '"event":"originate"' "$OLOG" | grep -c '"number":"+1213666')" = 300

e2e_stop_dialerd
check "dialerd exits on SIGTERM" bash -c "! kill -0 $DPID 2>/dev/null"
check "no phone number in full in the log" bash -c "! grep -qE '\\+1213(444|555|666)[0-9]{4}' '$LOG'"

e2e_done
