#!/usr/bin/env bash
# Decision records for every blocked attempt, and the national registry file's list in the DNC
# list routes, in a real dialerd with PostgreSQL, Redis and ari-sim:
#   - a running campaign whose contact is outside the legal calling window now (a number chosen
#     through the check route: the first of New York, Honolulu, Guam and Paris where calls are
#     forbidden now and in 20 minutes) gets one record naming the rule, its source, the zone,
#     the contact's local time and the next eligible moment; forced to be leased again and again
#     (and after a restart of dialerd) it still has one record;
#   - a campaign whose own schedule (in the contact's zone: a zone where it is night now) is
#     closed records window.campaign with that zone and its local time;
#   - a contact over a frequency cap (three attempts in Redis, the campaign's us-3-per-24h rule
#     set) records cap.3_per_24h with the window, the limit and the count; leased again, no
#     second record; GET /api/v1/compliance/decisions filters by rule and by family;
#   - the check route reads the campaign's compliance and safe_harbour blocks through the
#     campaign module (cap_rules as the dialer applies them; an unknown rule set is an error
#     naming the field and no cap rule applies);
#   - GET /api/v1/dnc/lists shows the registry file's list (id -1, first; source file, entries,
#     list date, age, read_only), GET /dnc/lists/-1 too; writes to it are 409 read_only, its
#     entries 409 not_stored; dated 40 days back it is stale there, in /readyz and in the
#     national-list alarm gauge on /metrics.
set -uo pipefail
# shellcheck source=tests/support/e2e.sh
. "$(dirname "$0")/../support/e2e.sh"
# This test is about the real calling windows: no test clock for them.
unset DIALER_TEST_WINDOW_TIME
e2e_init cdec
E2E_CHECK_LAST="last response"

# The registry file: 50 Detroit numbers.
REG=$TMP/registry.txt
for k in $(seq 10 59); do echo "31320000$k"; done >"$REG"

cat >"$TMP/scenario.json" <<'EOF'
{"name": "decisions", "seed": 7,
 "populations": {"default": [{"weight": 1, "outcome": "answer", "ring": 0.1, "talk": "forever"}]}}
EOF
e2e_start_sim "$TMP/scenario.json"
check "ari-sim listens" test -n "$SIMPORT"

e2e_createdb
e2e_env
export DIALERD_DIALER_TALK_TIME=100ms DIALERD_DIALER_POLL=100ms
export DIALERD_DNC_CHANNEL="dialer:dnc:cdec:$$"
export DIALERD_DNC_NATIONAL_FILE=$REG DIALERD_DNC_NATIONAL_FILE_CHECK=200ms
export DIALERD_DNC_ALARM_INTERVAL=200ms
PW="s3cret-Pass-$$"
check "migrate" bash -c "'$DIALERD' migrate >/dev/null"
printf '%s\n' "$PW" | "$DIALERD" bootstrap --tenant-slug acme --email ops@acme.test \
  --platform-operator >/dev/null 2>&1
T=$(sql "SELECT id FROM tenants WHERE slug = 'acme'")

LOG=$DIALER_RUN_DIR/dialerd-cdec.log
: >"$LOG"
DIALERD_NODE_ID="cdec-$$" e2e_start_dialerd "$LOG"
PID=$DPID PORT=$DPORT
check "dialerd listens" test -n "$PORT"
A=http://127.0.0.1:$PORT/api/v1
TOK=$(jget "$(e2e_login "$A" ops@acme.test "$PW")" 'j["access_token"]')
check "the operator logs in" test -n "$TOK"
H=(-H "Authorization: Bearer $TOK")
get() { curl -sS "$A$1" "${H[@]}"; }
code() { curl -sS -o "$TMP/body" -w '%{http_code}' "$@" "${H[@]}"; }
metric() { # metric <name with labels> -> value (0 when absent)
  curl -sS "http://127.0.0.1:$PORT/metrics" | awk -v m="$1" '$1 == m {print $2; f=1} END {if (!f) print 0}'
}
wait_for 20 bash -c "curl -sS 'http://127.0.0.1:$PORT/readyz' | grep -q '\"state\": *\"loaded\"'"
check "the registry file loads" test $? -eq 0

# 1. The registry file's list in the list routes.
r=$(get /dnc/lists)
check "GET /dnc/lists shows the registry file's list first: file, entries, date, age, read-only" \
  test "$(jget "$r" '[(l["id"], l["scope"], l["source_file"], l["entries"], l["age_days"], l["stale"], l["alarm"], l["read_only"], l["max_age_days"], l["list_date"]) for l in j["items"]][0]')" = \
  "[-1, \"national\", \"$REG\", 50, 0, false, \"fresh\", true, 31, \"$(date -u -r "$REG" +%F)\"]"
check "with its loaded_at" test "$(jget "$r" 'j["items"][0]["loaded_at"] is not None')" = true
r=$(get /dnc/lists?scope=tenant)
check "not among the tenant lists" test "$(jget "$r" '[l["id"] for l in j["items"] if l["id"] == -1]')" = '[]'
r=$(get /dnc/lists/-1)
check "GET /dnc/lists/-1 answers it" test "$(jget "$r" '[j["name"], j["state"], j["entries"]]')" = '["national registry file", "loaded", 50]'
c=$(code -XPOST "$A/dnc/lists/-1/entries" -H 'Content-Type: application/json' -d '{"number":"+13132009999"}')
r=$(cat "$TMP/body")
check "adding to it: 409 read_only naming dnc.national-file" \
  test "$c:$(jget "$r" 'j["error"]["code"]'):$(jget "$r" '"dnc.national-file" in j["error"]["message"]')" = "409:read_only:true"
c=$(code -XDELETE "$A/dnc/lists/-1/entries/%2B13132000010")
check "removing from it: 409" test "$c" = 409
c=$(code -XDELETE "$A/dnc/lists/-1")
check "deleting it: 409" test "$c" = 409
c=$(code -XPOST "$A/dnc/lists/-1/uploads?format=plain" --data-binary @"$REG")
check "uploading into it: 409" test "$c" = 409
c=$(code "$A/dnc/lists/-1/entries")
r=$(cat "$TMP/body")
check "its entries: 409 not_stored, pointing to the check route" \
  test "$c:$(jget "$r" 'j["error"]["code"]'):$(jget "$r" '"compliance/check" in j["error"]["message"]')" = "409:not_stored:true"
r=$(get "/compliance/check?number=%2B13132000011")
check "its numbers are refused, naming it" test "$(jget "$r" '[j["reason"], j["dnc"]["list_id"]]')" = '["dnc", -1]'

# 2. Numbers for now: blocked by the legal window now and in 20 minutes, or allowed.
NOW=$(date -u +%s)
pick() { # pick <window|allowed> <numbers...>: the first whose check gives that now and in 20 min
  local want=$1 n a b
  shift
  for n in "$@"; do
    a=$(jget "$(get "/compliance/check?number=%2B${n#+}&at=$NOW")" 'j["reason"]')
    b=$(jget "$(get "/compliance/check?number=%2B${n#+}&at=$((NOW + 1200))")" 'j["reason"]')
    if [ "$a" = "$want" ] && [ "$b" = "$want" ]; then
      echo "$n"
      return 0
    fi
  done
  return 1
}
W=$(pick window +12125550142 +18085550142 +16715550142 +33612345678)
check "a number outside its legal calling window now ($W)" test -n "$W"
# A zone where it is night now (00:00-06:00): the contact's zone for the campaign window.
NZ=$(python3 - <<'PYEOF'
import datetime, zoneinfo
for z in ("UTC", "Europe/Paris", "Asia/Dubai", "Asia/Kolkata", "Asia/Bangkok", "Asia/Tokyo",
          "Australia/Sydney", "Pacific/Auckland", "Pacific/Honolulu", "America/Los_Angeles",
          "America/Chicago", "America/New_York", "America/Sao_Paulo"):
    t = datetime.datetime.now(zoneinfo.ZoneInfo(z))
    if 0 <= t.hour < 5:
        print(z)
        break
PYEOF
)
check "a zone where it is night now ($NZ)" test -n "$NZ"

F=$(sql "INSERT INTO ivr_flows (tenant_id, name) VALUES ($T, 'f') RETURNING id" | head -1)
mkcamp() { # mkcamp <name> <extra settings JSON members> -> id (running, one list)
  local c l
  c=$(sql "INSERT INTO campaigns (tenant_id, name, flow_id, settings) VALUES ($T, '$1', $F, '{\"pacing\": {\"mode\": \"fixed\", \"cps\": 20, \"max_channels\": 20}, \"retry\": {\"max_attempts\": 2}$2}') RETURNING id" | head -1)
  l=$(sql "INSERT INTO contact_lists (tenant_id, name) VALUES ($T, '$1') RETURNING id" | head -1)
  sql "INSERT INTO campaign_lists (tenant_id, campaign_id, list_id) VALUES ($T, $c, $l)" >/dev/null
  echo "$c $l"
}
read -r C1 L1 < <(mkcamp legal '')
read -r C2 L2 < <(mkcamp schedule ', "schedule": {"contact_time": true, "windows": [{"days": ["mon","tue","wed","thu","fri","sat","sun"], "from": "08:00", "to": "21:00"}]}')
read -r C3 L3 < <(mkcamp capped ', "compliance": {"cap_rules": ["us-3-per-24h"]}')
K1=$(sql "INSERT INTO contacts (tenant_id, list_id, number) VALUES ($T, $L1, '$W') RETURNING id" | head -1)
K2=$(sql "INSERT INTO contacts (tenant_id, list_id, number, time_zones) VALUES ($T, $L2, '+12125550143', '{$NZ}') RETURNING id" | head -1)
UK=+442079460142 # the UK has no statutory calling hours: the cap decides
K3=$(sql "INSERT INTO contacts (tenant_id, list_id, number) VALUES ($T, $L3, '$UK') RETURNING id" | head -1)
nowms=$(($(date +%s%3N)))
first=$((nowms - 3 * 3600 * 1000))
redis-cli -h 127.0.0.1 -p "$DIALER_REDIS_PORT" ZADD "cmp:att:{$T:$UK}" "$first" a1 \
  "$((nowms - 2 * 3600 * 1000))" a2 "$((nowms - 3600 * 1000))" a3 >/dev/null
redis-cli -h 127.0.0.1 -p "$DIALER_REDIS_PORT" PEXPIRE "cmp:att:{$T:$UK}" 86400000 >/dev/null
sql "UPDATE campaigns SET state = 'running' WHERE id IN ($C1, $C2, $C3)" >/dev/null

rows() { sql "SELECT count(*) FROM compliance_decisions WHERE contact_id = $1"; }
metric_is() { [ "$(metric "$1")" "$2" "$3" ] 2>/dev/null; } # metric_is <name> <-ge|=> <value>
wait_sql "SELECT count(*) FROM compliance_decisions WHERE contact_id IN ($K1, $K2, $K3)" 3 30
check "one decision record each for the three skipped contacts" test $? -eq 0

# 3. The legal window record.
r=$(get "/compliance/decisions?contact=$K1")
exp=$(jget "$(get "/compliance/check?number=%2B${W#+}&at=$NOW")" '[("window." + j["decided_by"].replace("-", "_")), j["place"]["zones"][0], j["rule"]["source"]]')
check "it names the legal rule, its source, the zone and the rule-set version" \
  test "$(jget "$r" '[j["items"][0]["rule"], j["items"][0]["data_versions"]["zone"], j["items"][0]["data_versions"]["rule_source"]]')" = "$exp" -a \
  "$(jget "$r" 'j["items"][0]["rules_version"] == j["items"][0]["data_versions"]["ruleset"] != ""')" = true
check "the contact's local time and the next eligible moment" \
  test "$(jget "$r" '[len(j["items"][0]["data_versions"]["local_time"]) == 25, j["items"][0]["next_eligible_at"] is not None, j["items"][0]["trace"]["local"]["zone"] == j["items"][0]["data_versions"]["zone"]]')" = '[true, true, true]'
check "no call was placed" bash -c "! grep -q '\"number\":\"${W}\"' '$OLOG'"
wait_sql "$(printf 'SELECT count(*) FROM contacts WHERE id = %s AND state = %s AND next_attempt_at > now() + interval %s' "$K1" "'pending'" "'15 minutes'")" 1 30
check "the contact waits in the database for its window" test $? -eq 0
rep0=$(metric 'compliance_decision_records_total{result="repeat"}')
for i in 1 2 3; do
  sql "UPDATE contacts SET next_attempt_at = now() WHERE id = $K1" >/dev/null
  wait_sql "$(printf 'SELECT count(*) FROM contacts WHERE id = %s AND state = %s AND next_attempt_at > now() + interval %s' "$K1" "'pending'" "'15 minutes'")" 1 30
  check "leased again ($i), blocked again" test $? -eq 0
done
rep1=$(metric 'compliance_decision_records_total{result="repeat"}')
check "three repeats seen ($rep0 -> $rep1), still one record" test "$((rep1 - rep0))" -ge 3 -a "$(rows "$K1")" = 1

# 4. The campaign's own window in the contact's zone.
r=$(get "/compliance/decisions?contact=$K2")
check "window.campaign, in the contact's zone ($NZ) and its local time" \
  test "$(jget "$r" '[j["items"][0]["rule"], j["items"][0]["data_versions"]["zone"], j["items"][0]["data_versions"]["local_time"][11:13] < "05"]')" = "[\"window.campaign\", \"$NZ\", true]"
check "next eligible: 08:00 there" \
  test "$(python3 -c 'import datetime,sys,zoneinfo; t=datetime.datetime.fromisoformat(sys.argv[1]).astimezone(zoneinfo.ZoneInfo(sys.argv[2])); print(t.strftime("%H:%M"))' "$(jget "$r" 'j["items"][0]["next_eligible_at"]')" "$NZ")" = 08:00

# 5. The frequency cap.
r=$(get "/compliance/decisions?contact=$K3")
check "the capped contact: cap.3_per_24h with window, limit and count" \
  test "$(jget "$r" '[j["items"][0]["rule"], j["items"][0]["data_versions"]["cap_window_s"], j["items"][0]["data_versions"]["cap_limit"], j["items"][0]["data_versions"]["cap_count"], j["items"][0]["trace"]["cap"]["rule"]]')" = '["cap.3_per_24h", 86400, 3, 3, "3-per-24h"]'
check "next eligible: 24 h after the oldest of the three attempts" \
  test "$(python3 -c 'import datetime,sys; print(int(datetime.datetime.fromisoformat(sys.argv[1]).timestamp() * 1000))' "$(jget "$r" 'j["items"][0]["next_eligible_at"]')")" = "$((first + 86400000))"
check "and it was not dialed" bash -c "! grep -q '\"number\":\"${UK}\"' '$OLOG'"
wait_sql "$(printf 'SELECT count(*) FROM contacts WHERE id = %s AND state = %s AND next_attempt_at > now() + interval %s' "$K3" "'pending'" "'15 minutes'")" 1 30
check "the capped contact waits in the database" test $? -eq 0
q0=$(metric 'compliance_decision_records_total{result="repeat"}')
sql "UPDATE contacts SET next_attempt_at = now() WHERE id = $K3" >/dev/null
wait_sql "$(printf 'SELECT count(*) FROM contacts WHERE id = %s AND state = %s AND next_attempt_at > now() + interval %s' "$K3" "'pending'" "'15 minutes'")" 1 30
check "leased again, capped again: a repeat ($q0 -> $(metric 'compliance_decision_records_total{result="repeat"}')), one record" \
  test "$(metric 'compliance_decision_records_total{result="repeat"}')" -gt "$q0" -a "$(rows "$K3")" = 1

# 6. The decisions route's rule filter.
r=$(get "/compliance/decisions?rule=cap")
check "rule=cap: the cap family only" test "$(jget "$r" '[i["contact_id"] for i in j["items"]]')" = "[$K3]"
r=$(get "/compliance/decisions?rule=cap.3-per-24h")
check "one rule, written with '-'" test "$(jget "$r" '[i["rule"] for i in j["items"]]')" = '["cap.3_per_24h"]'
r=$(get "/compliance/decisions?rule=window&campaign=$C2")
check "rule=window with a campaign" test "$(jget "$r" '[i["contact_id"] for i in j["items"]]')" = "[$K2]"
r=$(get "/compliance/decisions?rule=win")
check "a family is matched whole, not as a prefix of letters" test "$(jget "$r" 'len(j["items"])')" = 0
r=$(get "/compliance/decisions?rule=Cap%20x")
check "a malformed rule: 400 naming ?rule" test "$(jget "$r" 'j["error"]["field"]')" = '?rule'

# 7. A restart: the new process does not know what was recorded; the insert does.
e2e_stop_dialerd "$PID"
check "dialerd stops" test $? -eq 0
DIALERD_NODE_ID="cdec-$$" e2e_start_dialerd "$LOG"
PID=$DPID PORT=$DPORT
A=http://127.0.0.1:$PORT/api/v1
check "dialerd starts again" test -n "$PORT"
sql "UPDATE contacts SET next_attempt_at = now() WHERE id = $K1" >/dev/null
wait_for 30 metric_is 'compliance_decision_records_total{result="queued"}' -ge 1
check "the restarted node queues the contact's record again" test $? -eq 0
wait_sql "$(printf 'SELECT count(*) FROM contacts WHERE id = %s AND state = %s AND next_attempt_at > now() + interval %s' "$K1" "'pending'" "'15 minutes'")" 1 30
sleep 0.5
check "and the insert keeps it at one record" test "$(rows "$K1")" = 1

# 8. The check route reads the campaign's blocks through the campaign module.
mkc() { sql "INSERT INTO campaigns (tenant_id, name, settings) VALUES ($T, '$1', '$2') RETURNING id" | head -1; }
B1=$(mkc blocks '{"compliance": {"cap_rules": ["us-3-per-24h", "gb"], "refuse_stale_dnc": true}, "safe_harbour": {"seller": "Acme", "callback_number": "+12125550199"}}')
B2=$(mkc badset '{"compliance": {"cap_rules": ["us-3-per-24h", "xx"]}}')
r=$(get "/compliance/check?number=%2B${UK#+}&at=$NOW&campaign=$B1")
check "a campaign with compliance and safe_harbour blocks: its cap rule sets apply (capped)" \
  test "$(jget "$r" '[j["campaign"]["window_checked"], j["campaign"]["cap_rules"], j["reason"], j["cap"]["rule"], j["cap"]["count"], j["cap"]["limit"]]')" = '[true, ["us-3-per-24h", "gb"], "cap", "3-per-24h", 3, 3]'
r=$(get "/compliance/check?number=%2B${UK#+}&at=$NOW&campaign=$B2")
check "an unknown rule set: the field named, no cap rule set applied (the dialer does not dial it)" \
  test "$(jget "$r" '[j["campaign"]["window_checked"], j["campaign"]["error"]["field"], j["campaign"]["cap_rules"], j["allowed"]]')" = '[false, "compliance.cap_rules[1]", [], true]'

# 9. The registry file 40 days old: stale in the list, /readyz and the alarm gauge.
touch -d '-40 days' "$REG"
for _ in $(seq 1 100); do
  r=$(get /dnc/lists/-1)
  [ "$(jget "$r" 'j["stale"]')" = true ] && break
  sleep 0.1
done
check "dated 40 days back: age 40 days, stale, alarm stale" \
  test "$(jget "$r" '[j["age_days"], j["stale"], j["alarm"], j["list_date"]]')" = "[40, true, \"stale\", \"$(date -u -r "$REG" +%F)\"]"
wait_for 10 metric_is compliance_dnc_national_alarm = 2
check "the national-list alarm gauge says stale (2)" test $? -eq 0
r=$(curl -sS "http://127.0.0.1:$PORT/readyz")
check "/readyz says stale" test "$(jget "$r" 'j["checks"]["dnc"]["national"]["state"]')" = stale
r=$(get /dnc/lists)
check "the list page shows it stale too" test "$(jget "$r" '[l["stale"] for l in j["items"] if l["id"] == -1]')" = '[true]'
touch "$REG"
wait_for 10 metric_is compliance_dnc_national_alarm = 0
check "a fresh file clears the alarm" test $? -eq 0

e2e_stop_dialerd "$PID"
check "dialerd exits on SIGTERM" test $? -eq 0
e2e_done
