#!/usr/bin/env bash
# Campaigns that run themselves, through a real dialerd (REST API only) and
# ari-sim, PostgreSQL (dialer_app under RLS) and Redis:
#   - a small campaign scheduled a few seconds ahead (schedule with starts_at)
#     originates nothing before its start, starts by itself, and completes by
#     itself once every contact is final; the history names "system" with the
#     reasons, and a WebSocket client of /ws/v1/live sees running then
#     completed (pushed like a manual change);
#   - a predictive campaign calling North America without a safe-harbour
#     message is refused naming $.settings.safe_harbour; a campaign with its
#     own message plays that media (seen on ari-sim's events with
#     subscribeAll) to the live answers it cannot connect, never the
#     deployment's sound:safe-harbour; one with its own text has it spoken;
#   - a Reg F campaign (compliance.cap_rules us-regf) dials a number that
#     always fails exactly 7 times and refuses the 8th with the rule named;
#     a Reg F campaign given a number that had a conversation does not dial
#     it (7 days after a conversation).
# The contacts' area code is picked so that the statutory calling window is
# open for the run (as test_campaign_api_e2e.sh); without one the dialing part
# is skipped (reported).
# Run by tests/support/run-all.sh with the services' environment.
set -uo pipefail
# shellcheck source=tests/support/e2e.sh
. "$(dirname "$0")/../support/e2e.sh"
e2e_init campaign_auto

NPA=
for cand in 212:America/New_York 787:America/Puerto_Rico 312:America/Chicago \
  213:America/Los_Angeles 808:Pacific/Honolulu 671:Pacific/Guam; do
  h=$(TZ=${cand#*:} date +%H)
  h=$((10#$h))
  if [ "$h" -ge 8 ] && [ "$h" -lt 20 ]; then
    NPA=${cand%%:*}
    break
  fi
done
P=${NPA:-212}
# the Reg F number: unique per run (the caps' history lives in Redis)
RF=$(printf '+1%s8%06d' "$P" $(((RANDOM * 32768 + RANDOM) % 1000000)))

# Everyone answers (the flow hangs up), except the Reg F number: congestion.
cat >"$TMP/scenario.json" <<EOF
{"name": "auto", "seed": 11,
 "populations": {"default": [{"weight": 1, "outcome": "answer", "ring": 0.2, "talk": "forever"}]},
 "rules": [{"number": "$RF", "outcome": "congestion", "ring": 0.05}]}
EOF
e2e_start_sim "$TMP/scenario.json"
check "ari-sim listens" test -n "$SIMPORT"

# A WebSocket client (standard library only): ws.py PORT PATH OUT SECS [FIRST_TEXT]
# writes every text message to OUT, one a line; "ready" to OUT.ready once upgraded.
cat >"$TMP/ws.py" <<'PYEOF'
import base64, os, socket, struct, sys, time
port, path, out, secs = int(sys.argv[1]), sys.argv[2], sys.argv[3], float(sys.argv[4])
first = sys.argv[5] if len(sys.argv) > 5 else None
hdr = sys.argv[6] if len(sys.argv) > 6 else ""
deadline = time.monotonic() + secs
s = socket.create_connection(("127.0.0.1", port), timeout=secs)
def exact(n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError()
        b += c
    return b
def send(text):
    d = text.encode(); m = os.urandom(4)
    ln = bytes([0x80 | len(d)]) if len(d) < 126 else bytes([0x80 | 126]) + struct.pack("!H", len(d))
    s.sendall(bytes([0x81]) + ln + m + bytes(x ^ m[i % 4] for i, x in enumerate(d)))
s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n"
           % (path, base64.b64encode(os.urandom(16)).decode(), hdr)).encode())
head = b""
while b"\r\n\r\n" not in head:
    head += exact(1)
if b" 101 " not in head.split(b"\r\n")[0]:
    sys.exit(2)
if first:
    send(first)
f = open(out, "a")
open(out + ".ready", "w").write("ready\n")
while time.monotonic() < deadline:
    s.settimeout(max(0.1, deadline - time.monotonic()))
    try:
        b0, b1 = exact(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", exact(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", exact(8))[0]
        p = exact(n)
    except (socket.timeout, EOFError, OSError):
        break
    if b0 & 0x0F == 8:
        break
    if b0 & 0x0F == 1:
        f.write(p.decode(errors="replace").replace("\n", " ") + "\n")
        f.flush()
PYEOF

# ari-sim's events of every channel (subscribeAll): the media played.
python3 "$TMP/ws.py" "$SIMPORT" "/ari/events?app=watch&subscribeAll=true&api_key=asterisk:asterisk" \
  "$TMP/ari.out" 300 >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 1 50); do [ -s "$TMP/ari.out.ready" ] && break; sleep 0.1; done
check "ari-sim event watcher subscribed" test -s "$TMP/ari.out.ready"

e2e_createdb
e2e_env
export DIALERD_NODE_ID="auto-$$"
# two live calls in flows per campaign: beyond that, the safe-harbour message
export DIALERD_DIALER_ALLOW_MISSING_DNC=true DIALERD_DIALER_PORTS=2
export DIALERD_DIALER_CPS=100 DIALERD_DIALER_MAX_CHANNELS=100
export DIALERD_DIALER_LEASE_TIME=10s DIALERD_LOG_LEVEL=info
mkdir -p "$TMP/sounds"
export DIALERD_IVR_SOUNDS_DIR="$TMP/sounds"
PW="auto-Pass-word-$$"
check "migrate" bash -c "'$DIALERD' migrate >/dev/null"
e2e_bootstrap acme ops@acme.test "$PW" >/dev/null 2>&1
check "bootstrap" test $? -eq 0

LOG=$DIALER_RUN_DIR/dialerd-campaign-auto.log
: >"$LOG"
e2e_start_dialerd "$LOG"
PORT=$DPORT
check "dialerd listens" test -n "$PORT"
U=http://127.0.0.1:$PORT/api/v1
TOK=$(e2e_login "$U" ops@acme.test "$PW" | jq -r '.access_token // empty')
check "login" test -n "$TOK"
ME=$(curl -sS "$U/me" -H "Authorization: Bearer $TOK" | jq -r '.id')

# list NAME FIRST_NUMBER... -> list id (numbers uploaded as CSV)
list() {
  local name=$1 id
  shift
  id=$(body "$(api POST /lists "{\"name\":\"$name\"}")" | jq -r .id)
  { echo "phone,first_name"; for n in "$@"; do echo "$n,Pat"; done; } >"$TMP/$id.csv"
  curl -sS -XPOST "$U/lists/$id/uploads" -H "Authorization: Bearer $TOK" -H 'Content-Type: text/csv' \
    -H "Upload-Id: auto-$id-$$" --data-binary @"$TMP/$id.csv" >/dev/null
  echo "$id"
}
# campaign NAME SETTINGS LIST -> campaign id (created, list attached)
campaign() {
  local id
  id=$(body "$(api POST /campaigns "{\"name\":\"$1\",\"flow_id\":$FLOW,\"settings\":$2}")" | jq -r .id)
  api POST "/campaigns/$id/lists/$3" >/dev/null
  echo "$id"
}
orig() { grep -c "\"event\":\"originate\".*\"number\":\"$1" "$OLOG" 2>/dev/null || true; }
state() { body "$(api GET "/campaigns/$1")" | jq -r .state; }
wait_state() { # id state seconds
  for _ in $(seq 1 $(($3 * 5))); do [ "$(state "$1")" = "$2" ] && return 0; sleep 0.2; done
  return 1
}

DEF='{"format":"ivrflow/1","start":"s","nodes":{"s":{"type":"start","props":{"triggers":["outbound_answered"]},"next":{"next":"w"}},"w":{"type":"wait","props":{"duration_ms":500},"next":{"next":"h"}},"h":{"type":"hangup","props":{"disposition":"reached"}}}}'
r=$(api POST /flows "{\"name\":\"Auto short\",\"definition\":$DEF}")
FLOW=$(body "$r" | jq -r .id)
api POST "/flows/$FLOW/publish" '{"message":"first"}' >/dev/null
check "flow published" test "$(sql "SELECT published_revision FROM ivr_flows WHERE id = $FLOW")" = 1

# The settings' rules through the API.
r=$(api POST /campaigns "{\"name\":\"No harbour\",\"flow_id\":$FLOW,\"settings\":{\"pacing\":{\"mode\":\"predictive\"},\"caller_id\":{\"number\":\"+12025550100\"}}}")
check "predictive in North America without a safe-harbour message: 422 naming it" \
  test "$(status "$r")" = 422 -a "$(body "$r" | jq -r .error.field)" = '$.settings.safe_harbour'
r=$(api POST /campaigns "{\"name\":\"Bad caps\",\"flow_id\":$FLOW,\"settings\":{\"compliance\":{\"cap_rules\":[\"de\"]}}}")
check "an unknown cap rule set: 422 naming it" \
  test "$(status "$r")" = 422 -a "$(body "$r" | jq -r .error.field)" = '$.settings.compliance.cap_rules[0]'

if [ -z "$NPA" ]; then
  echo "ok - dialing part skipped: no US zone is inside 8:00-20:00 local now ($(date -u +%H:%M) UTC)"
else
  python3 "$TMP/ws.py" "$PORT" /ws/v1/live "$TMP/live.out" 200 '{"type":"subscribe","tenant":true}' \
    "Authorization: Bearer $TOK"$'\r\n' >/dev/null 2>&1 &
  pids+=($!)
  for _ in $(seq 1 50); do [ -s "$TMP/live.out.ready" ] && break; sleep 0.1; done

  # 1. Scheduled a few seconds ahead: starts by itself, completes by itself.
  NUMS_A=()
  for i in $(seq 0 11); do NUMS_A+=("$(printf '+1%s234%04d' "$P" "$i")"); done
  LA=$(list "Auto A" "${NUMS_A[@]}")
  CA=$(campaign "Auto A" '{"pacing":{"mode":"progressive"},"retry":{"max_attempts":1}}' "$LA")
  START=$(date -u -d '+6 seconds' +%Y-%m-%dT%H:%M:%SZ)
  r=$(api POST "/campaigns/$CA/schedule" "{\"starts_at\":\"$START\",\"reason\":\"go at $START\"}")
  check "scheduled with starts_at (200)" \
    test "$(status "$r")" = 200 -a "$(body "$r" | jq -r .state)" = scheduled
  sleep 4
  check "nothing originated before its start ($(orig "+1${P}234"))" test "$(orig "+1${P}234")" = 0
  check "it starts by itself" wait_state "$CA" running 10
  check "it completes by itself once every contact is final" wait_state "$CA" completed 60
  check "every contact originated once" test "$(orig "+1${P}234")" = 12
  first=$(grep -m1 "\"event\":\"originate\".*+1${P}234" "$OLOG" | sed -n 's/.*"time":"\([^"]*\)".*/\1/p')
  check "first originate after starts_at ($first >= $START)" \
    test "$(date -u -d "$first" +%s)" -ge "$(date -u -d "$START" +%s)"
  h=$(body "$(api GET "/campaigns/$CA/history?kind=state_change")")
  check "history: scheduled by the user, started and completed by the system, with reasons" \
    test "$(jq -r '[.items[] | .from_state + ">" + .to_state + ":" + .actor + ":" + (.reason // "")] | join(",")' <<<"$h")" = \
    "draft>scheduled:user:$ME:go at $START,scheduled>running:system:schedule: starts_at reached,running>completed:system:every contact final"
  r=$(api GET "/campaigns/$CA/ready")
  check "the ready set says complete" test "$(body "$r" | jq -r .completion.complete)" = true
  wall() { jq -r --argjson c "$CA" 'select(.campaigns) | .campaigns[] | select(.campaign_id == $c) | .state // empty' "$TMP/live.out" 2>/dev/null | uniq | tr '\n' ' '; }
  for _ in $(seq 1 30); do wall | grep -q completed && break; sleep 0.2; done
  states=$(wall)
  check "the wall's WebSocket saw it running then completed ($states)" \
    bash -c '[[ $0 == *running*completed* ]]' "$states"

  # 2. The campaign's own safe-harbour message.
  NUMS_B=()
  for i in $(seq 0 9); do NUMS_B+=("$(printf '+1%s235%04d' "$P" "$i")"); done
  LB=$(list "Auto B" "${NUMS_B[@]}")
  CB=$(campaign "Auto B" '{"pacing":{"mode":"power","dial_ratio":6},"retry":{"max_attempts":1},"safe_harbour":{"seller":"Acme Energy","callback_number":"+12025550199","media":"sound:acme-harbour"}}' "$LB")
  r=$(api POST "/campaigns/$CB/start")
  check "harbour campaign started" test "$(status "$r")" = 200
  check "harbour campaign completes by itself" wait_state "$CB" completed 60
  ab=$(sql "SELECT count(*) FROM call_attempts WHERE campaign_id = $CB AND outcome = 'abandoned' AND disposition = 'safe_harbour'")
  own=$(grep -E '"type": ?"PlaybackStarted"' "$TMP/ari.out" | grep -cE '"media_uri": ?"sound:acme-harbour"')
  global=$(grep -E '"type": ?"PlaybackStarted"' "$TMP/ari.out" | grep -cE '"media_uri": ?"sound:safe-harbour"')
  echo "  harbour campaign: $ab abandoned with the message, $own played, $global global"
  check "live answers beyond the ports hear the campaign's own message ($own of $ab)" \
    test "$ab" -gt 0 -a "$own" = "$ab" -a "$global" = 0

  # ... or its own words, spoken (TTS into ivr.sounds-dir, played as sound:.../tts-<hash>).
  NUMS_T=()
  for i in $(seq 0 7); do NUMS_T+=("$(printf '+1%s236%04d' "$P" "$i")"); done
  LT=$(list "Auto T" "${NUMS_T[@]}")
  CT=$(campaign "Auto T" '{"pacing":{"mode":"power","dial_ratio":6},"retry":{"max_attempts":1},"safe_harbour":{"seller":"Acme Energy","callback_number":"+12025550199","text":"Sorry we missed you. This was Acme Energy, call us at 202 555 0199."}}' "$LT")
  api POST "/campaigns/$CT/start" >/dev/null
  check "spoken harbour campaign completes by itself" wait_state "$CT" completed 60
  abt=$(sql "SELECT count(*) FROM call_attempts WHERE campaign_id = $CT AND outcome = 'abandoned' AND disposition = 'safe_harbour'")
  tts=$(grep -E '"type": ?"PlaybackStarted"' "$TMP/ari.out" | grep -cE '"media_uri": ?"sound:[^"]*/tts-[0-9a-f]+"')
  global=$(grep -E '"type": ?"PlaybackStarted"' "$TMP/ari.out" | grep -cE '"media_uri": ?"sound:safe-harbour"')
  check "live answers beyond the ports hear the spoken message ($tts of $abt, $global global)" \
    test "$abt" -gt 0 -a "$tts" = "$abt" -a "$global" = 0
  check "the spoken message was rendered" bash -c "ls '$TMP'/sounds/tts-*.wav >/dev/null 2>&1"

  # 3. Reg F: 7 calls in 7 days, the 8th refused with its rule.
  LC=$(list "Auto C" "$RF")
  CC=$(campaign "Auto C" '{"pacing":{"mode":"progressive"},"retry":{"max_attempts":20,"failed":{"delay_s":1,"max_attempts":20,"max_per_day":20}},"compliance":{"cap_rules":["us-regf"]}}' "$LC")
  api POST "/campaigns/$CC/start" >/dev/null
  for _ in $(seq 1 600); do
    [ "$(sql "SELECT block_reason FROM contacts WHERE list_id = $LC")" = cap ] && break
    sleep 0.2
  done
  sleep 3
  check "the Reg F number is dialed exactly 7 times ($(orig "$RF"))" test "$(orig "$RF")" = 7
  check "the 8th is refused by us-regf-7-in-7 (logged with the rule)" \
    grep -q "event=cap_blocked .*rule=us-regf-7-in-7" "$LOG"
  echo "  Reg F contact: $(sql "SELECT state || ',' || block_reason || ',' || next_attempt_at FROM contacts WHERE list_id = $LC"), campaign $(state "$CC")"
  check "the contact waits for the cap, days ahead, and the campaign stays running" \
    test "$(sql "SELECT block_reason || ',' || (next_attempt_at > now() + interval '6 days') FROM contacts WHERE list_id = $LC")" = "cap,true" \
    -a "$(state "$CC")" = running
  r=$(api GET "/campaigns/$CC/ready")
  check "the ready set explains why it has not completed" \
    bash -c "grep -q 'cap' <<<'$(body "$r" | jq -r .completion.why)'"

  # 4. Reg F: no call within 7 days after a conversation (A's first number answered).
  LD=$(list "Auto D" "${NUMS_A[0]}")
  CD=$(campaign "Auto D" '{"pacing":{"mode":"progressive"},"compliance":{"cap_rules":["us-regf"]}}' "$LD")
  api POST "/campaigns/$CD/start" >/dev/null
  for _ in $(seq 1 100); do
    [ "$(sql "SELECT block_reason FROM contacts WHERE list_id = $LD")" = cap ] && break
    sleep 0.2
  done
  check "a number with a conversation is not dialed again by a Reg F campaign" \
    test "$(orig "${NUMS_A[0]}")" = 1 -a "$(sql "SELECT block_reason FROM contacts WHERE list_id = $LD")" = cap
  check "refused by us-regf-7-days-after-conversation" \
    grep -q "event=cap_blocked .*rule=us-regf-7-days-after-conversation" "$LOG"
fi

[ -n "${AUTO_KEEP:-}" ] && cp "$TMP"/*.out "$AUTO_KEEP"/ 2>/dev/null
e2e_stop_dialerd
check "dialerd exits on SIGTERM" bash -c "! kill -0 $DPID 2>/dev/null"
check "no phone number in full in the log" bash -c "! grep -q '+1${P}23[456]' '$LOG'"

e2e_done
