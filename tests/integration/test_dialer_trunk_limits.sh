#!/usr/bin/env bash
# Carrier trunk limits (dialer.trunk-limits), end to end: two dialerd nodes
# against one ari-sim, PostgreSQL (as dialer_app under RLS) and a private
# Redis, with
#     carrier-a channels=5, carrier-b cps=10
#   1. channels: two campaigns of two tenants dial through carrier-a, a third
#      campaign has carrier-a then carrier-c (no limit). ari-sim, sampled
#      every 50 ms, never has more than 5 channels up on carrier-a (and its
#      originate log, replayed exactly, neither), while the limit is reached;
#      the third campaign's launches that found carrier-a full went out on
#      carrier-c (fail-over to the next trunk with room), counted on /metrics;
#      the wall's trunk tiles give carrier-a the capacity 5;
#   2. CPS: two campaigns of 20 CPS each on carrier-b: ari-sim's originate
#      log shows carrier-b at 10 calls per second within 5 % (steady rate,
#      the middle 80 % of the originates), and no calendar second above 10 +
#      the bucket's 2;
#   3. Redis stopped: no originate on a limited trunk afterwards (fail closed).
# Run by tests/support/run-all.sh with the services' environment.
set -uo pipefail
# shellcheck source=tests/support/e2e.sh
. "$(dirname "$0")/../support/e2e.sh"
e2e_init dialer_trunklim

cat >"$TMP/scenario.json" <<'EOF'
{"name": "trunk-limits", "seed": 9,
 "rules": [{"number": "*", "outcome": "answer", "ring": 0.2, "talk": "forever"}]}
EOF
e2e_start_sim "$TMP/scenario.json"
check "ari-sim listens" test -n "$SIMPORT"
e2e_start_redis
e2e_createdb
e2e_env
export DIALERD_DIALER_ALLOW_MISSING_DNC=true DIALERD_DIALER_TALK_TIME=1s
export DIALERD_DIALER_POLL=100ms DIALERD_DIALER_CPS=200 DIALERD_DIALER_MAX_CHANNELS=200
export DIALERD_DIALER_LEASE_TIME=60s DIALERD_DIALER_LEASE_BATCH=10
export DIALERD_DIALER_TRUNK_LIMITS="carrier-a channels=5, carrier-b cps=10"
check "migrate" bash -c "'$DIALERD' migrate >/dev/null"

T1=$(sql "INSERT INTO tenants (slug, name) VALUES ('acme', 'Acme') RETURNING id" | head -1)
T2=$(sql "INSERT INTO tenants (slug, name) VALUES ('bolt', 'Bolt') RETURNING id" | head -1)
mk_campaign() { # tenant name settings prefix count -> campaign id
  local t=$1 c l f
  f=$(sql "INSERT INTO ivr_flows (tenant_id, name) VALUES ($t, 'f-$2') RETURNING id" | head -1)
  c=$(sql "INSERT INTO campaigns (tenant_id, name, flow_id, settings) VALUES ($t, '$2', $f, '$3') RETURNING id" | head -1)
  l=$(sql "INSERT INTO contact_lists (tenant_id, name) VALUES ($t, 'l-$2') RETURNING id" | head -1)
  sql "INSERT INTO campaign_lists (tenant_id, campaign_id, list_id) VALUES ($t, $c, $l)" >/dev/null
  sql "INSERT INTO contacts (tenant_id, list_id, number) SELECT $t, $l, '$4' || lpad(g::text, 4, '0') FROM generate_series(0, $5 - 1) g" >/dev/null
  echo "$c"
}
ep() { echo "{\"name\": \"$1\", \"endpoint\": \"PJSIP/{e164}@$1\"}"; }
P='"pacing": {"mode": "fixed", "cps": 20, "max_channels": 40}, "retry": {"max_attempts": 1}'
A1=$(mk_campaign "$T1" a1 "{$P, \"trunks\": [$(ep carrier-a)]}" +1213444 40)
A2=$(mk_campaign "$T2" a2 "{$P, \"trunks\": [$(ep carrier-a)]}" +1213445 40)
A3=$(mk_campaign "$T1" a3 "{$P, \"trunks\": [$(ep carrier-a), $(ep carrier-c)]}" +1213446 60)
B1=$(mk_campaign "$T1" b1 "{$P, \"trunks\": [$(ep carrier-b)]}" +1213555 120)
B2=$(mk_campaign "$T2" b2 "{$P, \"trunks\": [$(ep carrier-b)]}" +1213556 120)

for n in 1 2; do
  export DIALERD_NODE_ID="tl$n-$$" DIALERD_ARI_APP="tl$n-$$"
  e2e_start_dialerd "$DIALER_RUN_DIR/dialerd-trunklim-$n.log"
  check "dialerd node $n listens" test -n "$DPORT"
  eval "PORT$n=$DPORT PID$n=$DPID"
done

# ari-sim's live channels by trunk, every 50 ms, until told to stop
cat >"$TMP/sample.py" <<'EOF'
import base64, json, os, sys, time, urllib.request
url, out, stop = sys.argv[1], sys.argv[2], sys.argv[3]
auth = "Basic " + base64.b64encode(b"asterisk:asterisk").decode()
peak = {}
samples = 0
t_end = time.time() + 120
while not os.path.exists(stop) and time.time() < t_end:
    try:
        req = urllib.request.Request(url + "/ari/channels", headers={"Authorization": auth})
        chans = json.load(urllib.request.urlopen(req, timeout=2))
    except Exception:
        time.sleep(0.05)
        continue
    n = {}
    for c in chans:
        name = c.get("name", "")
        if name.startswith("PJSIP/"):
            trunk = name[6:].rsplit("-", 1)[0]
            n[trunk] = n.get(trunk, 0) + 1
    for k, v in n.items():
        peak[k] = max(peak.get(k, 0), v)
    samples += 1
    time.sleep(0.05)
json.dump({"samples": samples, "peak": peak}, open(out, "w"))
EOF
python3 "$TMP/sample.py" "http://127.0.0.1:$SIMPORT" "$TMP/peak.json" "$TMP/stop" &
SAMPLER=$!
pids+=("$SAMPLER")

sql "UPDATE campaigns SET state = 'running' WHERE id IN ($A1, $A2, $A3, $B1, $B2)" >/dev/null
check "every contact called once" wait_sql \
  "SELECT count(*) FROM contacts WHERE state = 'done' AND attempts = 1" 380 120
touch "$TMP/stop"
for _ in $(seq 1 50); do alive "$SAMPLER" || break; sleep 0.1; done

# ------------------------------------------------------------ 1. channels
peak_a=$(jget "$(cat "$TMP/peak.json" 2>/dev/null)" "j['peak'].get('carrier-a', 0)")
nsamp=$(jget "$(cat "$TMP/peak.json" 2>/dev/null)" "j['samples']")
echo "  ari-sim sampled $nsamp times: peak channels on carrier-a $peak_a"
check "ari-sim sampled (${nsamp:-0} samples)" test "${nsamp:-0}" -ge 100
check "never more than 5 channels up on carrier-a in ari-sim's samples ($peak_a), and 5 reached" \
  test "${peak_a:-99}" = 5
# the exact concurrency from the originate log: +1 at an originate, -1 at its end
peak_log=$(jq -r 'select(.endpoint | test("@carrier-a$")) | [.time, .event] | @tsv' "$OLOG" |
  sort -s -k1,1 | awk '$2 == "originate" { n++; if (n > m) m = n } $2 == "end" { n-- } END { print m + 0 }')
check "never more than 5 on carrier-a in ari-sim's originate log ($peak_log)" test "$peak_log" -le 5
both=$(q "SELECT count(DISTINCT c.tenant_id) FROM call_attempts a JOIN campaigns c ON c.id = a.campaign_id WHERE a.trunk = 'carrier-a'")
check "both tenants' campaigns dialed through carrier-a" test "$both" = 2
nodes=$(q "SELECT count(DISTINCT dialer_node) FROM call_attempts WHERE trunk = 'carrier-a'")
check "both nodes dialed through carrier-a ($nodes)" test "$nodes" = 2
on_c=$(q "SELECT count(*) FROM call_attempts WHERE campaign_id = $A3 AND trunk = 'carrier-c'")
check "carrier-a full: campaign a3 went on to carrier-c ($on_c of 60)" test "$on_c" -gt 0
check "no other campaign used carrier-c" test \
  "$(q "SELECT count(*) FROM call_attempts WHERE campaign_id <> $A3 AND trunk = 'carrier-c'")" = 0
m1=$(curl -fsS "http://127.0.0.1:$PORT1/metrics")
m2=$(curl -fsS "http://127.0.0.1:$PORT2/metrics")
metric() { printf '%s\n%s\n' "$m1" "$m2" | grep "^$1{trunk=\"$2\"}" | awk '{s += $2} END {print s + 0}'; }
la=$(metric dialer_trunk_limit_launches_total carrier-a)
da=$(q "SELECT count(*) FROM call_attempts WHERE trunk = 'carrier-a'")
check "/metrics: launches on carrier-a over both nodes ($la) = attempts in the database ($da)" test "$la" = "$da"
check "/metrics: carrier-a's waits and overflows counted" test \
  "$(metric dialer_trunk_limit_waits_total carrier-a)" -gt 0 -a "$(metric dialer_trunk_limit_overflows_total carrier-a)" -gt 0
cap_a=$(printf '%s\n%s\n' "$m1" "$m2" | grep '^dialer_trunk_capacity{' | grep 'trunk="carrier-a"' | awk '{print $2}' | sort -u | tr '\n' ' ')
check "the wall's trunk tiles: carrier-a's capacity is its limit (${cap_a})" test "$cap_a" = "5 "
check "/metrics: no channel of carrier-a held once every call ended" wait_for 5 test \
  "$(curl -fsS "http://127.0.0.1:$PORT1/metrics" | grep -c '^dialer_trunk_limit_channels{trunk="carrier-a"} 0')" = 1
check "Redis: carrier-a's shared channel count is back to 0" wait_for 5 test \
  "$(redis-cli -p "$RPORT" hvals dialer:lim:ch:trunk:carrier-a | awk '{s += $1} END {print s + 0}')" = 0

# ------------------------------------------------------------ 2. CPS
# the steady rate: from the 10th to the 90th percentile originate (start-up and the lists' end
# left out); the bucket's 2 tokens are in the calendar-second check below
rate=$(jq -r 'select(.event == "originate" and (.endpoint | test("@carrier-b$"))) | .time' "$OLOG" |
  while read -r t; do date -u -d "$t" +%s%3N; done | sort -n |
  awk '{ t[NR] = $1 } END { i = int(NR * 0.1) + 1; j = int(NR * 0.9)
         printf "%.3f %d %.1f %.3f\n", (j - i) * 1000 / (t[j] - t[i]), NR, (t[j] - t[i]) / 1000,
                (NR - 1) * 1000 / (t[NR] - t[1]) }')
read -r cps nb secs whole <<<"$rate"
echo "  carrier-b: $nb originates; $cps per second over the middle $secs s ($whole over the whole run)"
check "carrier-b dialed every contact of its campaigns ($nb)" test "$nb" = 240
check "carrier-b held at 10 CPS within 5 % ($cps)" \
  awk -v r="$cps" 'BEGIN { exit !(r >= 9.5 && r <= 10.5) }'
worst=$(jq -r 'select(.event == "originate" and (.endpoint | test("@carrier-b$"))) | .time[0:19]' "$OLOG" |
  sort | uniq -c | sort -rn | head -1 | awk '{print $1}')
check "no calendar second on carrier-b above 12 ($worst)" test "${worst:-99}" -le 12

# ------------------------------------------------------------ 3. fail closed
A4=$(mk_campaign "$T1" a4 "{$P, \"trunks\": [$(ep carrier-a)]}" +1213447 40)
redis-cli -p "$RPORT" shutdown nosave >/dev/null 2>&1
sleep 0.5
before=$(grep -c '"event":"originate".*"number":"+1213447' "$OLOG")
sql "UPDATE campaigns SET state = 'running' WHERE id = $A4" >/dev/null
sleep 3
after=$(grep -c '"event":"originate".*"number":"+1213447' "$OLOG")
check "Redis away: nothing originated on carrier-a (the trunk and global gates fail closed: $before -> $after)" test "$after" = 0

for n in 1 2; do
  check "node $n stops on SIGTERM" e2e_stop_dialerd "$(eval echo "\$PID$n")"
  check "no sanitizer report in node $n's log" bash -c \
    "! grep -qE 'Sanitizer|runtime error' '$DIALER_RUN_DIR/dialerd-trunklim-$n.log'"
  check "no full phone number in node $n's log" bash -c \
    "! grep -qE '\\+1213[0-9]{7}' '$DIALER_RUN_DIR/dialerd-trunklim-$n.log'"
done
e2e_done
