#!/usr/bin/env bash
# A dialerd node killed (kill -9) while its calls are up: its calls stay counted against
# dialer.max-channels until they really end (docs/dialer.md section 2a).
# tests/support/cluster.sh: 3 nodes, 1 ari-sim, one database, one Redis; every call answers
# and talks for 10 minutes, so the channel cap binds and nothing ends by itself.
#   - kill -9 node 3 while it holds calls: for 30 s after (its liveness key lapses after 15 s),
#     the channels up in ari-sim (sampled every 100 ms from /_sim/stats) never exceed the cap;
#   - the survivors adopt its attempts (call_attempts.dialer_process moves to one of them) and
#     keep the calls up; hung up from the far end, each attempt is closed exactly once across
#     the nodes (one attempt_end line in all the logs, one call log); a call the survivor saw
#     answered (Up) ends as human and its contact is done (never redialed); no number is
#     originated twice;
#   - the calls go through a trunk with a carrier limit (dialer.trunk-limits) and the campaign's
#     own limit on it (trunks[].max_channels), neither binding: after the takeover (the campaign
#     paused, so no gate holds unused tokens) each trunk key's channel count in Redis, as the
#     limiter counts it (fields of processes whose liveness or hold lives), equals the calls up
#     in ari-sim, and no field of node 3's process is left under them.
# Before the fix the dead node's bookings expired with its liveness key and the survivors
# filled the cap again on top of its calls (about 40 channels up against 30).
set -uo pipefail
ROOT=${DIALER_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
MAXCH=${DN_MAX_CHANNELS:-30}
# check, jget, wait_for, sql, sql_is, e2e_cluster_*
# shellcheck source=tests/support/e2e.sh
. "$ROOT/tests/support/e2e.sh"
e2e_cluster_init dn 3 1

cat >"$TMP/scenario.json" <<'EOF'
{"name": "deadnode", "seed": 9,
 "populations": {"default": [{"weight": 1, "outcome": "answer", "ring": 0.2, "talk": "forever"}]}}
EOF
cat >"$TMP/extra.conf" <<EOF
dialer.cps = 40
dialer.max-channels = $MAXCH
dialer.poll = 200ms
dialer.lease-time = 5s
dialer.lease-batch = 20
dialer.talk-time = 600s
dialer.trunk-limits = dn-$$ channels=1000
api.pwhash-ops = 1
api.pwhash-mem = 64k
EOF
e2e_cluster_start "cluster of 3 nodes and 1 sim starts"
active() { curl -s --max-time 2 "$SIM1_URL/_sim/stats" | sed -n 's/.*"channels_active":\([0-9]*\).*/\1/p'; }
# Channel ids in ari-sim; with an argument, only those in that state.
sim_channels() { curl -s --max-time 5 -u asterisk:asterisk "$SIM1_URL/ari/channels" |
  python3 -c 'import json,sys; w=sys.argv[1:]; print("\n".join(c["id"] for c in json.load(sys.stdin) if not w or c["state"] == w[0]))' "$@"; }

e2e_cluster_tenant "dn-Pass-$$-$RANDOM"
TRK=dn-$$
C=$(e2e_cluster_campaign dead 4145550000 300 ', "trunks": [{"name": "'$TRK'", "endpoint": "PJSIP/{e164}@'$TRK'", "max_channels": 1000}]')
inflight3() { sql "SELECT count(*) FROM call_attempts WHERE campaign_id = $C AND dialer_node = '$NODE3_ID' AND ended_at IS NULL"; }
# Node 3 dials first, alone, so that it holds calls when the cap binds (with all three
# started together the other two could take the whole cap first); then the others join.
for i in 1 2; do "$CLUSTER" stop-node "$i" >/dev/null; done
sql "UPDATE campaigns SET state = 'running' WHERE id = $C" >/dev/null
n3_holds() { [ "$(inflight3)" -ge 5 ]; }
check "node 3 alone holds calls" wait_for 60 n3_holds
for i in 1 2; do check "node $i joins" "$CLUSTER" start-node "$i"; done
e2e_cluster_env
# The cap reached with node 3 holding calls, and every call answered:
# a call still ringing when node 3 dies is hung up by Asterisk when it answers, since
# the Stasis application it was to enter is gone with node 3's WebSocket, so only calls
# already up can be kept up by a survivor.
full() { [ "$(active)" -ge "$MAXCH" ] && [ "$(inflight3)" -ge 1 ] &&
  [ "$(sim_channels | wc -l)" = "$(sim_channels Up | wc -l)" ]; }
check "the channel cap binds with node 3 holding calls" wait_for 60 full
"$CLUSTER" kill-node 3
kill_ms=$(date +%s%3N)
sql "SELECT id FROM call_attempts WHERE campaign_id = $C AND dialer_node = '$NODE3_ID' AND ended_at IS NULL" | sort >"$TMP/inflight3.txt"
sim_channels Up | sort >"$TMP/sim.txt"
comm -12 "$TMP/inflight3.txt" "$TMP/sim.txt" >"$TMP/up3.txt"
UP3=$(wc -l <"$TMP/up3.txt")
echo "  killed node 3 with $(wc -l <"$TMP/inflight3.txt") attempts in flight, $UP3 of them up in ari-sim ($(wc -l <"$TMP/sim.txt") channels up, cap $MAXCH)"
check "node 3 had calls up when killed" test "$UP3" -gt 0

# 30 s of samples (300 at 100 ms), bounded by time too.
peak=0
over=0
end_ms=$((kill_ms + 30000))
for _ in $(seq 1 400); do
  [ "$(date +%s%3N)" -ge "$end_ms" ] && break
  a=$(active)
  [ -n "$a" ] && [ "$a" -gt "$peak" ] && peak=$a
  [ -n "$a" ] && [ "$a" -gt "$MAXCH" ] && over=$((over + 1))
  sleep 0.1
done
echo "  30 s after the kill: peak $peak channels up in ari-sim (cap $MAXCH), $over samples over the cap; now $(active)"
check "channels up in ari-sim never above dialer.max-channels for 30 s after the kill" test "$peak" -le "$MAXCH"

UP3L=$(sed "s/.*/'&'/" "$TMP/up3.txt" | paste -sd,)
adopted() { sql_is "SELECT count(*) FROM call_attempts WHERE id IN ($UP3L) AND ended_at IS NULL AND dialer_process IS NOT NULL AND left(dialer_process, length('$NODE3_ID') + 1) <> '$NODE3_ID/'" "$UP3"; }
check "the survivors adopted node 3's calls and keep them up ($UP3)" wait_for 10 adopted
by=$(sql "SELECT string_agg(DISTINCT split_part(dialer_process, '/', 1), ',') FROM call_attempts WHERE id IN ($UP3L)")
echo "  adopted by: $by; $(grep -h 'event=dead_process_adopted' "$NODE1_LOG" "$NODE2_LOG" | head -3 | sed 's/.*event=/event=/')"
check "the adopted calls are still up in ari-sim" test "$(sim_channels | sort | comm -12 - "$TMP/up3.txt" | wc -l)" = "$UP3"

# The trunk's channel counts after the takeover. The campaign is paused first so that no
# gate holds unused tokens (they are given back at the next tick); the attempts node 3 left
# without a channel are closed by the survivors' watch within a few seconds.
sql "UPDATE campaigns SET state = 'paused' WHERE id = $C" >/dev/null
RCLI=(redis-cli -h 127.0.0.1 -p "$DIALER_REDIS_PORT")
# $1's count as the limiter counts it: the fields of processes whose liveness or hold lives.
counted() {
  local f v s=0
  while read -r f && read -r v; do
    [ "$("${RCLI[@]}" exists "dialer:lim:node:$f" "dialer:lim:hold:$f")" -gt 0 ] && s=$((s + v))
  done < <("${RCLI[@]}" hgetall "$1")
  echo "$s"
}
KT=dialer:lim:ch:trunk:$TRK
KC=dialer:lim:ch:camp:$C:trunk:$TRK
trunk_counts() {
  local up
  up=$(sim_channels | wc -l)
  TC="carrier limit $(counted "$KT"), campaign limit $(counted "$KC"), calls up $up"
  [ "$(counted "$KT")" = "$up" ] && [ "$(counted "$KC")" = "$up" ]
}
# bounded in time (each try reads Redis and ari-sim, which takes a while under load)
trunk_counts_within() {
  local end=$(($(date +%s) + $1)) i
  for i in $(seq 1 100); do
    trunk_counts && return 0
    [ "$(date +%s)" -ge "$end" ] && return 1
    sleep 0.2
  done
  return 1
}
check "after the takeover the trunk's channel counts in Redis equal the calls up" trunk_counts_within 15
echo "  $TC"
check "no field of node 3's process left under the trunk's keys" bash -c \
  "! { ${RCLI[*]} hkeys '$KT'; ${RCLI[*]} hkeys '$KC'; } | grep -q '^$NODE3_ID/'"

# The far end hangs up: each adopted attempt is closed once, with its call log; they were
# all answered (Up), so each ends as human and its contact is done.
while read -r id; do
  curl -s -o /dev/null --max-time 2 -XPOST "$SIM1_URL/_sim/channels/$id/hangup?cause=16"
done <"$TMP/up3.txt"
ALL3L=$(sed "s/.*/'&'/" "$TMP/inflight3.txt" | paste -sd,)
check "every attempt node 3 left is closed" wait_for 20 sql_is \
  "SELECT count(*) FROM call_attempts WHERE id IN ($ALL3L) AND ended_at IS NULL" 0
check "the adopted attempts, answered before the kill, ended as human" sql_is \
  "SELECT count(*) FROM call_attempts WHERE id IN ($UP3L) AND outcome = 'human'" "$UP3"
ends_once() {
  local id n
  while read -r id; do
    n=$(cat "$NODE1_LOG" "$NODE2_LOG" "$NODE3_LOG" | grep -c "event=attempt_end id=$id ")
    [ "$n" = 1 ] || { echo "  $id ended $n times"; return 1; }
  done <"$TMP/up3.txt"
}
check "each adopted attempt ended exactly once across the nodes" ends_once
check "each adopted call has its call log" wait_for 5 sql_is \
  "SELECT count(*) FROM call_logs WHERE attempt_id IN ($UP3L) AND outcome = 'human' AND answered_at IS NOT NULL" "$UP3"
check "their contacts are done" sql_is \
  "SELECT count(*) FROM contacts WHERE id IN (SELECT contact_id FROM call_attempts WHERE id IN ($UP3L)) AND state = 'done'" "$UP3"
dups=$(grep -h '"event":"originate"' "$SIM1_OLOG" | sed -n 's/.*"number":"\([^"]*\)".*/\1/p' | sort | uniq -d | wc -l)
check "no number originated twice" test "$dups" = 0

# Node 3 comes back: nothing of its old calls is left to it (the survivors closed them).
before=$(wc -l <"$NODE3_LOG")
check "node 3 restarts under its node id" "$CLUSTER" start-node 3
e2e_cluster_env
check "the restart adopts none of the attempts the survivors took" \
  wait_for 10 bash -c "tail -n +$((before + 1)) '$NODE3_LOG' | grep -q 'event=inflight_adopted n=0'"

e2e_cluster_shutdown '+1414555'
e2e_done
