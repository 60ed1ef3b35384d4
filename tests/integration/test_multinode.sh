#!/usr/bin/env bash
# Several dialerd nodes on one campaign (tests/support/cluster.sh: 3 nodes, 2 ari-sim, one
# PostgreSQL database, one Redis), global caps dialer.cps and dialer.max-channels over all
# nodes. Checked from the union of the sims' originate logs and the database:
#   campaign 1 (run to the end):
#   - zero contacts originated twice, by number and by channel (= attempt) id; every
#     originate is an attempt of the campaign; every contact final with one attempt;
#   - every node dialed;
#   - per calendar second the originates never exceed dialer.cps by more than 5 %, and the
#     live channels (originate to end) never exceed dialer.max-channels by more than 5 %;
#   - the cluster figures (GET /api/v1/campaigns/{id}/stats, merged through Redis) equal the
#     sum of the nodes' own /metrics, which equal the attempts each node wrote;
#   campaign 2 (a node killed with kill -9 mid-run, lease time 5 s):
#   - the contacts the dead node had leased are reclaimed and dialed by the other nodes
#     first (reclaim time printed: before the backlog), while its attempts in flight are
#     never redialed;
#   - once its liveness lapses the survivors adopt its attempts in flight (docs/dialer.md
#     section 2a) and keep its calls up and counted: the live channels, the dead node's
#     included, stay within dialer.max-channels + 5 %; its calls hung up from the far end
#     are closed once (`human` when the survivor saw them answered, else `lost`, retried by
#     policy); every contact final without its restart,
#     zero duplicates; restarted, it finds nothing left to adopt.
# Run by tests/support/run-all.sh with the services' environment.
set -uo pipefail
ROOT=${DIALER_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
N=${MN_CONTACTS:-3000}
WAIT=${MN_WAIT:-120}
CPS=${MN_CPS:-150}
MAXCH=${MN_MAX_CHANNELS:-100}
# check, jget, wait_for, sql, sql_is, e2e_cluster_*
# shellcheck source=tests/support/e2e.sh
. "$ROOT/tests/support/e2e.sh"
e2e_cluster_init mn 3 2

cat >"$TMP/scenario.json" <<'EOF'
{"name": "multinode", "seed": 7,
 "populations": {"default": [{"weight": 1, "outcome": "answer", "ring": 0.3, "talk": "forever"}]},
 "rules": [
   {"number": "*[0-4]", "outcome": "answer", "ring": 0.3, "talk": "forever"},
   {"number": "*[5-7]", "outcome": "busy", "ring": 0.1, "ringing": false},
   {"number": "*[89]", "outcome": "congestion", "ring": 0.1}
 ]}
EOF
cat >"$TMP/extra.conf" <<EOF
dialer.cps = $CPS
dialer.max-channels = $MAXCH
dialer.poll = 200ms
dialer.lease-time = 5s
dialer.lease-batch = 50
dialer.talk-time = 1s
api.pwhash-ops = 1
api.pwhash-mem = 64k
EOF
e2e_cluster_start "cluster of 3 nodes and 2 sims starts"

PW="mn-Pass-$$-$RANDOM"
e2e_cluster_tenant "$PW"
C1=$(e2e_cluster_campaign one 2125550000 "$N")
C2=$(e2e_cluster_campaign two 3135550000 "$N")
unfinished() { echo "SELECT count(*) FROM contacts c JOIN campaign_lists cl USING (list_id) WHERE cl.campaign_id = $1 AND c.state NOT IN ('done', 'failed')"; }
orig() { grep -h '"event":"originate"' "$SIM1_OLOG" "$SIM2_OLOG" 2>/dev/null | grep -c "\"number\":\"+1$1"; }
facts() { "$CLUSTER" originates "+1$1" >"$TMP/facts-$1.json" && cat "$TMP/facts-$1.json"; }
# Originates that are not attempt ids of the campaign (count).
not_attempt() { # not_attempt <prefix> <campaign>
  grep -h '"event":"originate"' "$SIM1_OLOG" "$SIM2_OLOG" | grep "\"number\":\"+1$1" |
    sed -n 's/.*"channel":"\([^"]*\)".*/\1/p' | sort -u >"$TMP/ch.txt"
  sql "SELECT id FROM call_attempts WHERE campaign_id = $2" | sort -u >"$TMP/att.txt"
  comm -23 "$TMP/ch.txt" "$TMP/att.txt" | wc -l
}
caps_held() { # caps_held <facts json> [all]: per-second originates and live channels within 5 %
  local f=$1 s l a
  s=$(jget "$f" 'j["max_per_second"]')
  l=$(jget "$f" 'j["peak_live"]')
  a=$(jget "$f" 'j["peak_live_all"]')
  echo "  busiest second $s originates (cap $CPS), busiest 1 s window $(jget "$f" 'j["max_1s_window"]'), peak $l live channels (cap $MAXCH; $a with a dead node's calls)"
  echo "  busiest seconds (s after the first originate: count): $(jget "$f" '", ".join("%d: %d" % (t - j["first_ms"] // 1000, n) for t, n in sorted(j["per_second"], key=lambda x: -x[1])[:4])')"
  [ "${2:-}" = all ] && l=$a
  [ "$((s * 100))" -le $((CPS * 105)) ] && [ "$((l * 100))" -le $((MAXCH * 105)) ]
}

# ------------------------------------------------------------ campaign 1: to the end
sql "UPDATE campaigns SET state = 'running' WHERE id = $C1" >/dev/null
check "campaign 1 ($N contacts on 3 nodes) completes" wait_for "$WAIT" sql_is "$(unfinished "$C1")" 0
f=$(facts 212)
check "campaign 1: every contact originated once ($(jget "$f" 'j["originates"]') originates)" \
  test "$(jget "$f" 'j["originates"]')" = "$N" -a "$(jget "$f" 'j["numbers"]')" = "$N"
check "campaign 1: zero numbers and zero channel ids originated twice" \
  test "$(jget "$f" 'j["dup_numbers"]')" = 0 -a "$(jget "$f" 'j["dup_channels"]')" = 0
check "campaign 1: every originate is an attempt of the campaign" test "$(not_attempt 212 "$C1")" = 0
check "campaign 1: one finished attempt per contact" sql_is \
  "SELECT count(*) || '/' || count(DISTINCT contact_id) || '/' || count(ended_at) FROM call_attempts WHERE campaign_id = $C1" "$N/$N/$N"
split=$(sql "SELECT string_agg(dialer_node || '=' || n, ' ' ORDER BY dialer_node) FROM (SELECT dialer_node, count(*) n FROM call_attempts WHERE campaign_id = $C1 GROUP BY 1) s")
check "campaign 1: every node dialed ($split)" \
  sql_is "SELECT count(DISTINCT dialer_node) FROM call_attempts WHERE campaign_id = $C1" 3
check "campaign 1: global CPS and channel caps held within 5 %" caps_held "$f"

# Cluster figures: each node's own /metrics = the attempts it wrote; the stats route (merged
# through Redis) = their sum. The nodes publish every second, so this is waited for (bounded).
node_metric() { # node_metric <i> <figure> <campaign>
  local u
  u=NODE$1_URL
  curl -s --max-time 2 "${!u}/metrics" |
    sed -n "s/^dialer_campaign_$2_total{node=\"[^\"]*\",tenant=\"$T\",campaign=\"$3\"} \([0-9]*\)$/\1/p"
}
TOKEN=$(jget "$(curl -s -XPOST "$NODE2_URL/api/v1/auth/login" -H 'Content-Type: application/json' \
  -d "{\"email\":\"ops@acme.test\",\"password\":\"$PW\"}")" 'j["access_token"]')
check "log in on node 2" test -n "$TOKEN"
stats() { curl -s --max-time 2 "$1/api/v1/campaigns/$2/stats" -H "Authorization: Bearer $TOKEN"; }
metrics_agree() { # metrics_agree <campaign> <figure in /metrics> <stats field> <SQL of the true value>
  local sum=0 i v want st
  want=$(sql "$4")
  for i in 1 2 3; do
    v=$(node_metric "$i" "$2" "$1")
    [ "$v" = "$(sql "$4 AND dialer_node = '$CLUSTER_NAME-n$i'")" ] || return 1
    sum=$((sum + v))
  done
  st=$(jget "$(stats "$NODE2_URL" "$1")" "j[\"$3\"]")
  [ "$sum" = "$want" ] && [ "$st" = "$sum" ] && [ "$(jget "$(stats "$NODE2_URL" "$1")" 'j["nodes"]')" = 3 ]
}
A1="SELECT count(*) FROM call_attempts WHERE campaign_id = $C1"
check "cluster attempts (stats route) = sum of the nodes' /metrics = attempts written ($N)" \
  wait_for 15 metrics_agree "$C1" attempts attempts "$A1"
check "cluster answered = sum of the nodes' answered" \
  wait_for 5 metrics_agree "$C1" answered answered "$A1 AND outcome = 'human'"
check "cluster ended = sum of the nodes' ended" \
  wait_for 5 metrics_agree "$C1" ended ended "$A1 AND ended_at IS NOT NULL"
echo "  stats: $(stats "$NODE2_URL" "$C1" | head -c 400)"

# ------------------------------------------- campaign 2: node 3 killed mid-run
sql "UPDATE campaigns SET state = 'running' WHERE id = $C2" >/dev/null
n3_ready() { [ "$(sql "SELECT count(*) FROM contacts WHERE lease_owner = '$NODE3_ID' AND state = 'leased'")" -ge 10 ] &&
  [ "$(orig 313)" -ge $((N / 4)) ]; }
check "node 3 holds leases mid-run" wait_for 60 n3_ready
"$CLUSTER" kill-node 3
kill_ms=$(date +%s%3N)
sql "SELECT id FROM contacts WHERE lease_owner = '$NODE3_ID' AND state = 'leased'" | sort >"$TMP/leased3.txt"
sql "SELECT id FROM contacts WHERE lease_owner = '$NODE3_ID' AND state = 'dialing'" | sort >"$TMP/dialing3.txt"
sql "SELECT id FROM call_attempts WHERE campaign_id = $C2 AND dialer_node = '$NODE3_ID' AND ended_at IS NULL" >"$TMP/inflight3.txt"
inflight=$(wc -l <"$TMP/inflight3.txt")
echo "  killed node 3 after $(orig 313) originates: $(wc -l <"$TMP/leased3.txt") contacts leased, $(wc -l <"$TMP/dialing3.txt") dialing, $inflight attempts in flight"
ND=$(wc -l <"$TMP/dialing3.txt")
INF3L=$(sed "s/.*/'&'/" "$TMP/inflight3.txt" | paste -sd,)
LEASED3=$(paste -sd, "$TMP/leased3.txt")
if [ -n "$LEASED3" ]; then
  check "node 3's leased contacts were dialed by the others" wait_for "$WAIT" sql_is \
    "SELECT count(DISTINCT contact_id) FROM call_attempts WHERE contact_id IN ($LEASED3) AND dialer_node <> '$NODE3_ID'" \
    "$(wc -l <"$TMP/leased3.txt")"
  first=$(sql "SELECT (extract(epoch FROM min(started_at)) * 1000)::bigint FROM call_attempts WHERE contact_id IN ($LEASED3) AND dialer_node <> '$NODE3_ID'")
  echo "  reclaim: first of node 3's leased contacts dialed by a survivor $((first - kill_ms)) ms after the kill (lease time 5 s)"
fi
if [ -n "$INF3L" ]; then
  taken() { sql_is "SELECT count(*) FROM call_attempts WHERE id IN ($INF3L) AND ended_at IS NULL AND left(coalesce(dialer_process, '$NODE3_ID/'), length('$NODE3_ID') + 1) = '$NODE3_ID/'" 0; }
  check "the survivors adopted node 3's attempts in flight ($inflight)" wait_for 60 taken
  if [ "$ND" -gt 0 ]; then
    DIALING3=$(paste -sd, "$TMP/dialing3.txt")
    check "node 3's contacts in flight were not redialed" sql_is \
      "SELECT count(*) FROM call_attempts WHERE contact_id IN ($DIALING3) AND dialer_node <> '$NODE3_ID'" 0
  fi
  # its calls are still up (talk forever): the far end hangs up
  while read -r id; do
    for u in "$SIM1_URL" "$SIM2_URL"; do
      curl -s -o /dev/null --max-time 2 -XPOST "$u/_sim/channels/$id/hangup?cause=16"
    done
  done <"$TMP/inflight3.txt"
fi
check "without node 3 every contact ends final" wait_for "$WAIT" sql_is "$(unfinished "$C2")" 0
check "every attempt of campaign 2 ended" wait_for 20 sql_is \
  "SELECT count(*) FROM call_attempts WHERE campaign_id = $C2 AND ended_at IS NULL" 0
check "node 3's in-flight attempts settled by the survivors, as human (seen answered) or lost ($inflight)" sql_is \
  "SELECT count(*) FROM call_attempts WHERE campaign_id = $C2 AND dialer_node = '$NODE3_ID' AND ended_at IS NOT NULL AND outcome IN ('human', 'lost') AND left(dialer_process, length('$NODE3_ID') + 1) <> '$NODE3_ID/'" "$inflight"
check "node 3 restarts under its node id" "$CLUSTER" start-node 3
e2e_cluster_env
"$CLUSTER" originates +1313 >"$TMP/facts-313.json"
f=$(cat "$TMP/facts-313.json")
check "campaign 2: zero numbers and channel ids originated twice ($(jget "$f" 'j["originates"]') originates)" \
  test "$(jget "$f" 'j["dup_numbers"]')" = 0 -a "$(jget "$f" 'j["dup_channels"]')" = 0
check "campaign 2: every originate is an attempt; one attempt per contact" \
  test "$(not_attempt 313 "$C2")" = 0 -a "$(sql "SELECT count(*) || '/' || count(DISTINCT contact_id) FROM call_attempts WHERE campaign_id = $C2")" = "$N/$N"
# The dead node's calls stay counted until they end (adopted by the survivors): the live
# channels, its calls included, within the cap.
check "campaign 2: global CPS and channels (the dead node's calls included) held within 5 % across the kill" \
  caps_held "$f" all

# ------------------------------------------------------------------- shutdown
e2e_cluster_shutdown '+1212555\|+1313555'
e2e_done
