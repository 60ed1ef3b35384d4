#!/usr/bin/env bash
# Inbound IVR end to end in a real dialerd against ari-sim, PostgreSQL (as
# dialer_app under RLS) and Redis, driven through the REST API:
#   - dialerd provisions the extension inventory at start-up (idempotent
#     across a restart);
#   - a flow created from a template and published gets the next free
#     extension (POST /flows/{id}/inbound); an ari-sim call to it runs it;
#   - the extension moved to another flow: new calls run the new flow, a call
#     in progress keeps its flow; a revision published mid-call changes only
#     later calls;
#   - released: callers hear the unknown-extension message; after the
#     quarantine dialerd's timer frees it and it can be claimed again;
#   - the per-extension limit set through the API refuses the call over it.
# Run by tests/support/run-all.sh with the services' environment.
set -uo pipefail
# shellcheck source=tests/support/e2e.sh
. "$(dirname "$0")/../support/e2e.sh"
e2e_init inbound_e2e

# Waits (bounded) until the log has n lines matching the pattern.
wait_log() {
  local pat=$1 n=$2 secs=$3
  for _ in $(seq 1 $((secs * 10))); do
    [ "$(grep -cE "$pat" "$LOG")" -ge "$n" ] && return 0
    sleep 0.1
  done
  echo "  waited ${secs}s for $n x [$pat], got $(grep -cE "$pat" "$LOG")" >&2
  return 1
}

# Callers stay on the line until the flow hangs up.
cat >"$TMP/scenario.json" <<'EOF'
{"name": "inbound-e2e", "seed": 7,
 "populations": {"default": [{"weight": 1, "outcome": "answer", "ring": 0, "talk": "forever"}]}}
EOF
e2e_start_sim "$TMP/scenario.json" --dialplan none
check "ari-sim listens" test -n "$SIMPORT"

e2e_createdb
e2e_env
export DIALERD_NODE_ID="inbound-e2e-$$" DIALERD_DIALER_ENABLED=false
export DIALERD_IVR_SOUNDS_DIR="$TMP/sounds"
export DIALERD_EXT_QUARANTINE=2s DIALERD_EXT_EXPIRY_INTERVAL=1s
export DIALERD_EXT_INBOUND_RANGE=2000-2099 DIALERD_EXT_OUTBOUND_RANGE=3000-3009
export DIALERD_EXT_RESERVED_RANGE=4000-4009
mkdir -p "$TMP/sounds"
PW="s3cret-Pass-$$"
for bad in 1999-2999 2500-2100 2000 20a0-2999; do
  out=$(DIALERD_EXT_INBOUND_RANGE=$bad "$DIALERD" migrate-status 2>&1)
  check "ext.inbound-range $bad is refused by name (exit 2)" \
    bash -c "test $? -eq 2 && grep -q 'ext.inbound-range' <<<'$out'"
done
check "migrate" bash -c "'$DIALERD' migrate >/dev/null 2>&1"
printf '%s\n' "$PW" | "$DIALERD" bootstrap --tenant-slug acme --email admin@acme.test >/dev/null 2>&1
check "bootstrap" test $? -eq 0
T=$(sql "SELECT id FROM tenants WHERE slug = 'acme'")

LOG=$DIALER_RUN_DIR/dialerd-inbound-e2e-test.log
: >"$LOG"
start_dialerd() {
  e2e_start_dialerd "$LOG"
  PORT=$DPORT
}
start_dialerd
check "dialerd listens" test -n "$PORT"
check "the configured ranges are provisioned at start-up" wait_sql \
  "SELECT count(*) FILTER (WHERE pool = 'inbound') || ',' || count(*) FILTER (WHERE pool = 'outbound') || ',' || count(*) FROM extensions" \
  "100,10,120" 10
# A restart provisions nothing twice.
kill -TERM "$DPID"
wait "$DPID"
check "SIGTERM exits 0" test $? -eq 0
start_dialerd
check "dialerd listens again" test -n "$PORT"
check "a restart provisions nothing new" wait_log 'event=extensions_provisioned from=2000 to=2099 created=0' 1 10
check "the inventory is unchanged" test "$(sql "SELECT count(*) FROM extensions")" = 120

U=http://127.0.0.1:$PORT/api/v1
body=$(e2e_login "$U" admin@acme.test "$PW")
TOK=$(jq -r .access_token <<<"$body")
check "login" test -n "$TOK" -a "$TOK" != null
api() { # method path [body] -> body; status in $TMP/status
  local m=$1 p=$2 d=${3:-}
  if [ -n "$d" ]; then
    curl -sS -o "$TMP/body" -w '%{http_code}' -X "$m" "$U$p" -H "Authorization: Bearer $TOK" \
      -H 'Content-Type: application/json' -d "$d" >"$TMP/status"
  else
    curl -sS -o "$TMP/body" -w '%{http_code}' -X "$m" "$U$p" -H "Authorization: Bearer $TOK" >"$TMP/status"
  fi
  cat "$TMP/body"
}
flow() { # tag wait_ms -> definition
  echo "{\"format\":\"ivrflow/1\",\"start\":\"s\",\"nodes\":{\"s\":{\"type\":\"start\",\"props\":{\"triggers\":[\"inbound\"]},\"next\":{\"next\":\"w\"}},\"w\":{\"type\":\"wait\",\"props\":{\"duration_ms\":$2},\"next\":{\"next\":\"h\"}},\"h\":{\"type\":\"hangup\",\"props\":{\"disposition\":\"$1\"}}}}"
}
publish() { api POST "/flows/$1/publish" '{"message":"go"}' >/dev/null; [ "$(cat "$TMP/status")" = 201 ]; }
call() {
  curl -sS -o /dev/null -XPOST \
    "http://127.0.0.1:$SIMPORT/_sim/inbound?extension=$1&app=dialer&caller=%2B14155550100&population=default"
}
started() { # ext flow revision -> count of flow starts
  grep -cE "event=inbound_flow_start extension=$1 tenant=$T flow=$2 revision=$3 " "$LOG"
}

# 1. A flow from a template, published, gets the next free extension; a call runs it.
F1=$(api POST /flows/from-template/support_queue '{"name":"Support","params":{"company":"Acme"}}' | jq -r .id)
check "flow created from a template" test "$(cat "$TMP/status")" = 201
check "template flow published" publish "$F1"
EXT=$(api POST "/flows/$F1/inbound" | jq -r .extension)
check "POST /flows/{id}/inbound assigns the next free extension ($EXT)" \
  test "$(cat "$TMP/status")" = 201 -a "$EXT" = 2000
check "assigned in the database" test "$(sql "SELECT tenant_id || ',' || flow_id FROM extensions WHERE number = $EXT")" = "$T,$F1"
call "$EXT"
check "a call to $EXT runs the template flow" wait_log "event=inbound_flow_start extension=$EXT tenant=$T flow=$F1 revision=1 " 1 10

# 2. Move: new calls run the new flow; a call in progress keeps its flow and revision.
F2=$(api POST /flows "{\"name\":\"Long\",\"definition\":$(flow long1 3000)}" | jq -r .id)
check "flow 2 published" publish "$F2"
F3=$(api POST /flows "{\"name\":\"Short\",\"definition\":$(flow short 100)}" | jq -r .id)
check "flow 3 published" publish "$F3"
api PATCH "/extensions/$EXT" "{\"flow_id\":$F2}" >/dev/null
check "moved to flow 2" test "$(cat "$TMP/status")" = 200
call "$EXT"
check "the next call runs flow 2" wait_log "event=inbound_flow_start extension=$EXT tenant=$T flow=$F2 revision=1 " 1 10
# Mid-call: revision 2 of flow 2 published, then the extension moved to flow 3.
api PUT "/flows/$F2" "{\"definition\":$(flow long2 100)}" >/dev/null
check "flow 2 revision 2 published mid-call" publish "$F2"
call "$EXT"
check "a new call runs revision 2" wait_log "event=inbound_flow_end extension=$EXT tenant=$T flow=$F2 revision=2 .*disposition=\"long2\"" 1 10
api PATCH "/extensions/$EXT" "{\"flow_id\":$F3}" >/dev/null
call "$EXT"
check "after the move a new call runs flow 3" wait_log "event=inbound_flow_end extension=$EXT tenant=$T flow=$F3 revision=1 .*disposition=\"short\"" 1 10
check "the call in progress ended with flow 2 revision 1" \
  wait_log "event=inbound_flow_end extension=$EXT tenant=$T flow=$F2 revision=1 .*disposition=\"long1\"" 1 10

# 2b. Execution records: each run is recorded and read back through the API.
check "flow 3's run is recorded" wait_sql \
  "SELECT count(*) FROM ivr_executions WHERE flow_id = $F3 AND direction = 'inbound' AND status = 'ended'" 1 10
ex=$(api GET "/flows/$F3/executions")
got=$(jq -r '[(.items | length), .items[0].direction, .items[0].extension, .items[0].ended_reason, .items[0].revision, .items[0].caller] | map(tostring) | join(",")' <<<"$ex")
check "GET /flows/{id}/executions lists it ($got)" test "$got" = "1,inbound,$EXT,completed,1,+14155550100"
EID=$(jq -r '.items[0].id' <<<"$ex")
st=$(api GET "/flows/$F3/executions/$EID/steps" | jq -r '[.items[] | .node_id + ":" + (.event_out // "-")] | join(",")')
check "its steps in order ($st)" test "$st" = "s:next,w:next,h:-"
got=$(api GET "/flows/$F3/executions/$EID" | jq -r '.id + "," + .status')
check "GET /flows/{id}/executions/{eid}" test "$(cat "$TMP/status"),$got" = "200,$EID,ended"
api GET "/flows/$F2/executions/$EID/steps" >/dev/null
check "the execution under another flow is 404" test "$(cat "$TMP/status")" = 404
api GET "/flows/$F3/executions/not-a-uuid" >/dev/null
check "a malformed execution id is 404" test "$(cat "$TMP/status")" = 404
# Another tenant sees none of it.
printf '%s\n' "$PW" | "$DIALERD" bootstrap --tenant-slug globex --email admin@globex.test >/dev/null 2>&1
TOKB=$(curl -sS -XPOST "$U/auth/login" -H 'Content-Type: application/json' \
  -d "{\"email\":\"admin@globex.test\",\"password\":\"$PW\"}" | jq -r .access_token)
code=$(curl -sS -o /dev/null -w '%{http_code}' "$U/flows/$F3/executions" -H "Authorization: Bearer $TOKB")
code2=$(curl -sS -o /dev/null -w '%{http_code}' "$U/flows/$F3/executions/$EID/steps" -H "Authorization: Bearer $TOKB")
check "another tenant gets 404 for the executions and steps ($code,$code2)" test "$code,$code2" = "404,404"

# 3. Per-extension limit through the API: one call at a time, the second hears the overflow.
api PATCH "/extensions/$EXT" "{\"flow_id\":$F2,\"revision\":1,\"max_calls\":1}" >/dev/null
check "limit set" test "$(cat "$TMP/status")" = 200
n=$(started "$EXT" "$F2" 1)
call "$EXT"
for _ in $(seq 1 100); do [ "$(started "$EXT" "$F2" 1)" -gt "$n" ] && break; sleep 0.1; done
call "$EXT"
check "the call over the limit is refused" wait_log "event=inbound_overflow extension=$EXT tenant=$T" 1 10
check "the running call ends normally" \
  wait_log "event=inbound_flow_end extension=$EXT tenant=$T flow=$F2 revision=1 .*disposition=\"long1\"" 2 10

# Paging a flow's executions: every run once, in order.
n2=$(sql "SELECT count(*) FROM ivr_executions WHERE flow_id = $F2")
p1=$(api GET "/flows/$F2/executions?limit=2")
cur=$(jq -r .next_cursor <<<"$p1")
p2=$(api GET "/flows/$F2/executions?limit=200&cursor=$cur")
ids=$( (jq -r '.items[].id' <<<"$p1"; jq -r '.items[].id' <<<"$p2") | sort -u | wc -l)
check "executions paged by 2: $ids distinct of $n2" test "$n2" -ge 3 -a "$ids" = "$n2" -a "$cur" != null

# 4. Release: the unknown-extension message; after the quarantine the timer frees it.
api DELETE "/extensions/$EXT" >/dev/null
check "released into quarantine" test "$(cat "$TMP/status")" = 200 -a \
  "$(sql "SELECT state FROM extensions WHERE number = $EXT")" = quarantined
call "$EXT"
check "a call to the released extension hears the unknown-extension message" \
  wait_log "event=inbound_unknown extension=$EXT " 1 10
check "the quarantine ends on dialerd's timer" \
  wait_sql "SELECT state FROM extensions WHERE number = $EXT" free 10
check "logged" wait_log "event=extensions_quarantine_ended freed=1" 1 5
X=$(api POST /extensions "{\"flow_id\":$F3,\"extension\":$EXT}" | jq -r .extension)
check "the freed extension can be claimed again" test "$(cat "$TMP/status")" = 201 -a "$X" = "$EXT"
hist=$(api GET "/extensions/$EXT/audit" | jq -r '[.items[].action] | join(",")')
check "its audit trail ($hist)" test "$hist" = \
  "extension.assign,extension.move,extension.move,extension.move,extension.release,extension.assign"

kill -TERM "$DPID"
wait "$DPID"
check "SIGTERM exits 0" test $? -eq 0
check "caller numbers are masked in the log" bash -c "! grep -q '14155550100' '$LOG'"

e2e_done
