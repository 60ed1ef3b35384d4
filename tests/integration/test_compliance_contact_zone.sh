#!/usr/bin/env bash
# The contact list's own time zone wins over the area code in the dialer, in a real dialerd with
# PostgreSQL, Redis and ari-sim. Zones are picked from the current time through the check route
# (GET /api/v1/compliance/check with time_zone=, the same function the dialer applies to a
# contact's stored zone), so the test holds at any hour:
#   - a contact whose area code's local time is inside the legal window (now and in 20 minutes)
#     but whose list-given zone is outside it: imported from a CSV with a time zone column
#     (tz_source explicit), never originated, its decision record names the list's zone and the
#     rule the check route names, and it waits in the database for that zone's morning;
#   - the reverse: an area code outside its window now, a list-given zone inside it: dialed.
#     (About 21:40-01:00 UTC no US area code is outside its window; a Paris number stands in
#     then, the French rules applied in the list's zone. A weekend or French holiday at that
#     hour can leave no pair at all: the case then says so and is skipped.)
set -uo pipefail
# shellcheck source=tests/support/e2e.sh
. "$(dirname "$0")/../support/e2e.sh"
# This test is about the real calling windows: no test clock for them.
unset DIALER_TEST_WINDOW_TIME
e2e_init czone
E2E_CHECK_LAST="last response"

# A national registry file (Detroit numbers, none of ours): the list-age rule is satisfied.
REG=$TMP/registry.txt
for k in $(seq 10 19); do echo "31320000$k"; done >"$REG"

cat >"$TMP/scenario.json" <<'EOF2'
{"name": "contact-zone", "seed": 7,
 "populations": {"default": [{"weight": 1, "outcome": "answer", "ring": 0.1, "talk": 0.5}]}}
EOF2
e2e_start_sim "$TMP/scenario.json"
check "ari-sim listens" test -n "$SIMPORT"

e2e_createdb
e2e_env
export DIALERD_DIALER_TALK_TIME=100ms DIALERD_DIALER_POLL=100ms
export DIALERD_DNC_CHANNEL="dialer:dnc:czone:$$"
export DIALERD_DNC_NATIONAL_FILE=$REG DIALERD_DNC_NATIONAL_FILE_CHECK=200ms
PW="czone-Pass-word-$$"
check "migrate" bash -c "'$DIALERD' migrate >/dev/null"
e2e_bootstrap acme ops@acme.test "$PW" >/dev/null 2>&1
check "bootstrap" test $? -eq 0

LOG=$DIALER_RUN_DIR/dialerd-czone.log
: >"$LOG"
DIALERD_NODE_ID="czone-$$" e2e_start_dialerd "$LOG"
PORT=$DPORT
check "dialerd listens" test -n "$PORT"
U=http://127.0.0.1:$PORT/api/v1
TOK=$(jget "$(e2e_login "$U" ops@acme.test "$PW")" 'j["access_token"]')
check "the operator logs in" test -n "$TOK"
get() { curl -sS "$U$1" -H "Authorization: Bearer $TOK"; }
wait_for 20 bash -c "curl -sS 'http://127.0.0.1:$PORT/readyz' | grep -q '\"state\": *\"loaded\"'"
check "the registry file loads" test $? -eq 0

# Pairs for now: reason <number> <zone or ""> <at> is the check route's reason.
NOW=$(date -u +%s)
reason() {
  local q="number=%2B${1#+}&at=$3"
  [ -n "$2" ] && q="$q&time_zone=$2"
  jget "$(get "/compliance/check?$q")" 'j["reason"]'
}
holds() { # holds <number> <zone> <reason>: now and in 20 minutes
  [ "$(reason "$1" "$2" "$NOW")" = "$3" ] && [ "$(reason "$1" "$2" $((NOW + 1200)))" = "$3" ]
}
NUMS=(+12122340142 +13122340142 +13032340142 +12132340142 +19072340142 +18082340142
  +17872340142 +16712340142)
ZONES=(America/New_York America/Chicago America/Denver America/Los_Angeles America/Anchorage
  Pacific/Honolulu America/Puerto_Rico Pacific/Guam Europe/London Asia/Kolkata Asia/Tokyo)
pair() { # pair <area code reason> <list zone reason> <numbers...>: "number zone"
  local ra=$1 rz=$2 n z
  shift 2
  for n in "$@"; do
    holds "$n" "" "$ra" || continue
    for z in "${ZONES[@]}"; do
      if holds "$n" "$z" "$rz"; then
        echo "$n $z"
        return 0
      fi
    done
  done
  return 1
}
read -r N1 Z1 < <(pair allowed window "${NUMS[@]}")
check "a number inside its area code's window, a zone outside it ($N1 in $Z1)" test -n "${Z1:-}"
read -r N2 Z2 < <(pair window allowed "${NUMS[@]}" +33142685300)
SKIP2=
[ -z "${Z2:-}" ] && SKIP2=1 && echo "# skip: no area code outside and zone inside its window now"

# The list: a CSV with a time zone column; the campaign dials it.
DEF='{"format":"ivrflow/1","start":"s","nodes":{"s":{"type":"start","props":{"triggers":["outbound_answered"]},"next":{"next":"h"}},"h":{"type":"hangup","props":{"disposition":"reached"}}}}'
FLOW=$(body "$(api POST /flows "{\"name\":\"zone\",\"definition\":$DEF}")" | jq -r .id)
api POST "/flows/$FLOW/publish" '{"message":"first"}' >/dev/null
LIST=$(body "$(api POST /lists '{"name":"zones"}')" | jq -r .id)
{
  echo "phone,first_name,time zone"
  echo "$N1,Pat,$Z1"
  [ -z "$SKIP2" ] && echo "$N2,Sam,$Z2"
} >"$TMP/list.csv"
up=$(curl -sS -XPOST "$U/lists/$LIST/uploads" -H "Authorization: Bearer $TOK" \
  -H 'Content-Type: text/csv' -H "Upload-Id: czone-$$" --data-binary @"$TMP/list.csv" \
  -w '\n%{http_code}')
check "the list imports: every row accepted" test "$(tail -n1 <<<"$up")" = 201 -a "$(jget "$(sed '$d' <<<"$up")" 'j["job"]["rows_rejected"]')" = 0
K1=$(sql "SELECT id FROM contacts WHERE list_id = $LIST AND number = '$N1'")
check "the list's zone is stored as the list's word (time_zones, tz_source explicit)" \
  test "$(sql "SELECT array_to_string(time_zones, ','), tz_source FROM contacts WHERE id = ${K1:-0}")" = "$Z1|explicit"
CAMP=$(body "$(api POST /campaigns "{\"name\":\"zones\",\"flow_id\":$FLOW,\"settings\":{\"pacing\":{\"mode\":\"fixed\",\"cps\":20,\"max_channels\":20},\"retry\":{\"max_attempts\":1}}}")" | jq -r .id)
api POST "/campaigns/$CAMP/lists/$LIST" >/dev/null
r=$(api POST "/campaigns/$CAMP/start")
check "the campaign starts" test "$(status "$r")" = 200 -o "$(status "$r")" = 201

# The reverse case: dialed in the list's zone although its area code is outside its window.
orig() { grep -c "\"event\":\"originate\".*\"number\":\"$1" "$OLOG" 2>/dev/null || true; }
if [ -z "$SKIP2" ]; then
  wait_for 30 bash -c "grep -q '\"event\":\"originate\".*\"number\":\"$N2' '$OLOG'"
  check "area code outside, list zone inside ($N2 in $Z2): dialed" test $? -eq 0
fi

# The contact outside its list zone's window: a decision record naming that zone, no call.
wait_sql "SELECT count(*) FROM compliance_decisions WHERE contact_id = ${K1:-0}" 1 30
check "one decision record for the contact outside its list zone's window" test $? -eq 0
exp=$(jget "$(get "/compliance/check?number=%2B${N1#+}&at=$NOW&time_zone=$Z1")" '["window." + j["decided_by"].replace("-", "_"), j["place"]["zones"][0]]')
r=$(get "/compliance/decisions?contact=${K1:-0}")
check "the record names the list's zone ($Z1) and the rule the check route names" \
  test "$(jget "$r" '[j["items"][0]["rule"], j["items"][0]["data_versions"]["zone"]]')" = "$exp" -a \
  "$(jget "$r" 'j["items"][0]["trace"]["local"]["zone"]')" = "$Z1"
check "its next eligible moment is 08:00 or later in the list's zone" \
  test "$(python3 -c 'import datetime,sys,zoneinfo; t=datetime.datetime.fromisoformat(sys.argv[1]).astimezone(zoneinfo.ZoneInfo(sys.argv[2])); print(t.hour >= 8)' "$(jget "$r" 'j["items"][0]["next_eligible_at"]')" "$Z1")" = True
wait_sql "$(printf 'SELECT count(*) FROM contacts WHERE id = %s AND state = %s AND next_attempt_at > now() + interval %s' "${K1:-0}" "'pending'" "'15 minutes'")" 1 30
check "it waits in the database for the list zone's window" test $? -eq 0
check "it was not dialed (the area code alone would have dialed it)" test "$(orig "$N1")" = 0
r=$(get "/compliance/check?number=%2B${N1#+}&at=$NOW&time_zone=Not/A_Zone")
check "the check route: an unknown zone is a 400 naming ?time_zone" \
  test "$(jget "$r" 'j["error"]["field"]')" = '?time_zone'

e2e_stop_dialerd "$DPID"
check "dialerd exits on SIGTERM" test $? -eq 0
e2e_done
