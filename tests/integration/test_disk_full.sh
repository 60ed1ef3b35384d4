#!/usr/bin/env bash
# A full disk harms nothing: a real dialerd dialing outbound campaigns whose
# flows record voicemail and speak text, against ari-sim, PostgreSQL and Redis.
#   1. Asterisk's recordings disk is full (ari-sim's disk_full fault, the way
#      Asterisk 22 fails: the recording ends at once "done" with duration 0,
#      or the record request answers 500): every voicemail takes its failure
#      outcome (no_audio, error), the step records say so, no call or
#      execution is left open, the dialer dials the whole campaign; once the
#      disk is clear the same flow records again, each caller's message under
#      a name of its own (concurrent voicemails used to share one name: 409).
#   2. dialerd's own disk is full: dialerd runs in a mount namespace of its
#      own where /tmp is a 2 MiB tmpfs holding the text-to-speech cache
#      (ivr.sounds-dir); the test fills it through /proc/<pid>/root.
#      - A render that cannot be written fails the say (its error outcome), no
#        half-written or temporary file is left in the cache, dialerd keeps
#        dialing; with space back the next say renders the whole prompt.
#      - The rejects export of an import (written to a temporary file) answers
#        503 {"error":{"code":"insufficient_storage"}} naming the full disk,
#        and works again once space is freed.
#   3. The log's disk is full (stderr is /dev/full): dialerd runs as usual.
# Mounting needs root (CI and the build machine run as root); elsewhere the
# test prints SKIP with the reason. Run by tests/support/run-all.sh with the
# services' environment.
set -uo pipefail
# shellcheck source=tests/support/e2e.sh
. "$(dirname "$0")/../support/e2e.sh"
e2e_init disk_full

mkdir -p "$TMP/probe"
if ! why=$(unshare -m --propagation private sh -c 'mount -t tmpfs -o size=64k tmpfs "$0" && umount "$0"' \
  "$TMP/probe" 2>&1); then
  echo "SKIP - a tmpfs cannot be mounted in a mount namespace here: ${why:-unshare failed}"
  exit 0
fi
if ! command -v espeak-ng >/dev/null; then
  echo "SKIP - espeak-ng is not installed (the say checks need it)"
  exit 0
fi

cat >"$TMP/scenario.json" <<'EOF'
{"name": "disk-full", "seed": 5,
 "populations": {"default": [{"weight": 1, "outcome": "answer", "ring": 0.2, "talk": "forever",
                              "greeting": {"delay": 0, "length": 600}}]}}
EOF
e2e_start_sim "$TMP/scenario.json"
check "ari-sim listens" test -n "$SIMPORT"
simfault() { curl -fsS -XPOST "http://127.0.0.1:$SIMPORT/_sim/fault?action=$1" >/dev/null; }

e2e_createdb
e2e_env
export DIALERD_NODE_ID="disk-$$"
export DIALERD_DIALER_ALLOW_MISSING_DNC=true DIALERD_DIALER_TALK_TIME=100ms
export DIALERD_DIALER_POLL=100ms DIALERD_DIALER_CPS=200 DIALERD_DIALER_MAX_CHANNELS=200
export DIALERD_DIALER_LEASE_TIME=10s DIALERD_DIALER_PORTS=50
export DIALERD_IVR_SOUNDS_DIR=/tmp/cache
PW="disk-Pass-word-$$"
check "migrate" bash -c "'$DIALERD' migrate >/dev/null"
e2e_bootstrap acme ops@acme.test "$PW" >/dev/null 2>&1
check "bootstrap" test $? -eq 0
T=$(sql "SELECT id FROM tenants WHERE slug = 'acme'")

publish() { # name definition-file -> flow id
  local f def
  def=$(cat "$2")
  f=$("${PSQL[@]}" -d "$DB" -Atq -v def="$def" <<SQL
INSERT INTO ivr_flows (tenant_id, name, draft) VALUES ($T, '$1', :'def'::jsonb) RETURNING id;
SQL
  )
  "${PSQL[@]}" -d "$DB" -q -v def="$def" <<SQL
INSERT INTO ivr_flow_revisions (tenant_id, flow_id, revision, definition) VALUES ($T, $f, 1, :'def'::jsonb);
UPDATE ivr_flows SET latest_revision = 1, published_revision = 1 WHERE id = $f;
SQL
  echo "$f"
}
NC=20
mk_campaign() { # name flow first-number -> campaign id, NC contacts
  local c l
  c=$(sql "INSERT INTO campaigns (tenant_id, name, flow_id, settings) VALUES ($T, '$1', $2,
           '{\"pacing\": {\"mode\": \"fixed\", \"cps\": 20, \"max_channels\": 20}, \"retry\": {\"max_attempts\": 1}}')
           RETURNING id" | head -1)
  l=$(sql "INSERT INTO contact_lists (tenant_id, name) VALUES ($T, 'l-$1') RETURNING id" | head -1)
  sql "INSERT INTO campaign_lists (tenant_id, campaign_id, list_id) VALUES ($T, $c, $l)" >/dev/null
  sql "INSERT INTO contacts (tenant_id, list_id, number)
       SELECT $T, $l, '+1212555' || lpad(($3 + g)::text, 4, '0') FROM generate_series(0, $NC - 1) g" >/dev/null
  echo "$c"
}

cat >"$TMP/vm.json" <<'EOF'
{"format": "ivrflow/1", "name": "voicemail", "start": "start",
 "nodes": {
  "start": {"type": "start", "props": {"triggers": ["outbound_answered"]}, "next": {"next": "vm"}},
  "vm": {"type": "voicemail", "props": {"max_length_s": 5, "min_length_s": 1},
         "next": {"recorded": "kept", "no_audio": "empty", "error": "failed"}},
  "kept": {"type": "hangup", "props": {"disposition": "vm_recorded"}},
  "empty": {"type": "hangup", "props": {"disposition": "vm_no_audio"}},
  "failed": {"type": "hangup", "props": {"disposition": "vm_error"}}
 }}
EOF
TEXT="Thank you for taking our call. Your appointment is confirmed for Tuesday at ten in the morning. Press one to repeat this message, two to change it, or stay on the line."
cat >"$TMP/say.json" <<EOF
{"format": "ivrflow/1", "name": "say", "start": "start",
 "nodes": {
  "start": {"type": "start", "props": {"triggers": ["outbound_answered"]}, "next": {"next": "say"}},
  "say": {"type": "say", "props": {"text": "$TEXT", "voice": "en"},
          "next": {"done": "said", "error": "unsaid"}},
  "said": {"type": "hangup", "props": {"disposition": "say_done"}},
  "unsaid": {"type": "hangup", "props": {"disposition": "say_error"}}
 }}
EOF
FVM=$(publish voicemail "$TMP/vm.json")
FSAY=$(publish say "$TMP/say.json")

# dialerd in a mount namespace of its own: /tmp is a 2 MiB tmpfs there.
cat >"$TMP/dialerd-ns" <<EOF
#!/bin/sh
exec unshare -m --propagation private sh -c 'mount -t tmpfs -o size=2m tmpfs /tmp && mkdir /tmp/cache && exec "\$0" "\$@"' "$DIALERD" "\$@"
EOF
chmod +x "$TMP/dialerd-ns"
LOG=$DIALER_RUN_DIR/dialerd-disk-full-test.log
: >"$LOG"
DIALERD=$TMP/dialerd-ns e2e_start_dialerd "$LOG"
check "dialerd listens" test -n "$DPORT"
ROOT=/proc/$DPID/root/tmp
check "its /tmp is the small tmpfs" test "$(stat -f -c '%T %b' "$ROOT")" = "tmpfs $((2048 * 1024 / $(stat -f -c %S "$ROOT")))"

# run CAMPAIGN: starts it, waits (60 s at most) until every contact has an ended attempt.
run() {
  sql "UPDATE campaigns SET state = 'running' WHERE id = $1" >/dev/null
  wait_sql "SELECT count(*) FROM call_attempts WHERE campaign_id = $1 AND ended_at IS NOT NULL" "$NC" 60
}
dispositions() {
  sql "SELECT coalesce(string_agg(d, ' ' ORDER BY d), '') FROM (SELECT disposition || '=' || count(*) AS d
       FROM call_attempts WHERE campaign_id = $1 GROUP BY disposition) x"
}
steps_q() { # campaign node -> the query of event_out=count ... (step records are written in batches)
  echo "SELECT coalesce(string_agg(d, ' ' ORDER BY d), '') FROM (SELECT s.event_out || '=' || count(*) AS d
       FROM ivr_steps s JOIN ivr_executions e ON e.id = s.execution_id JOIN call_attempts a ON a.id = e.call_attempt_id
       WHERE a.campaign_id = $1 AND s.node_id = '$2' GROUP BY s.event_out) x"
}
settled() { # campaign: no attempt open, every execution ended, no channel up at ari-sim
  wait_sql "SELECT count(*) FROM call_attempts WHERE campaign_id = $1 AND ended_at IS NULL" 0 10 &&
    wait_sql "SELECT count(*) FROM ivr_executions e JOIN call_attempts a ON a.id = e.call_attempt_id
              WHERE a.campaign_id = $1 AND e.status <> 'ended'" 0 10 &&
    wait_for 10 bash -c "curl -fsS http://127.0.0.1:$SIMPORT/_sim/stats | grep -q '\"channels_active\":0,'"
}

# 1. Asterisk's recordings disk.
simfault "disk_full&mode=write"
C1=$(mk_campaign vm-write "$FVM" 1000)
check "disk full (recording ends empty): the dialer dials the whole campaign" run "$C1"
got=$(dispositions "$C1")
check "every voicemail takes no_audio [$got]" test "$got" = "vm_no_audio=$NC"
check "the step records say no_audio" wait_sql "$(steps_q "$C1" vm)" "no_audio=$NC" 10
check "nothing left open (attempts, executions, channels)" settled "$C1"

simfault "disk_full&mode=mkdir"
C2=$(mk_campaign vm-mkdir "$FVM" 2000)
check "disk full (record refused with 500): the dialer dials the whole campaign" run "$C2"
got=$(dispositions "$C2")
check "every voicemail takes error [$got]" test "$got" = "vm_error=$NC"
check "the step records say error" wait_sql "$(steps_q "$C2" vm)" "error=$NC" 10
check "nothing left open (attempts, executions, channels)" settled "$C2"

simfault clear
C3=$(mk_campaign vm-clear "$FVM" 3000)
check "disk clear again: the campaign is dialed" run "$C3"
got=$(dispositions "$C3")
check "every voicemail is recorded again [$got]" test "$got" = "vm_recorded=$NC"
got=$(curl -fsS -u "$DIALERD_ARI_USER:$DIALERD_ARI_PASSWORD" "http://127.0.0.1:$SIMPORT/ari/recordings/stored" |
  jq '[.[].name] | unique | length')
check "each caller's message is a recording of its own, none kept from the full disk [$got]" test "$got" = "$NC"
check "nothing left open (attempts, executions, channels)" settled "$C3"

# 2. dialerd's own disk: the text-to-speech cache.
dd if=/dev/zero of="$ROOT/filler" bs=64k 2>/dev/null
truncate -s -8K "$ROOT/filler" # room for the text file, not for the audio
C4=$(mk_campaign say-full "$FSAY" 4000)
check "cache disk full: the dialer dials the whole campaign" run "$C4"
got=$(dispositions "$C4")
check "every say takes its error outcome [$got]" test "$got" = "say_error=$NC"
got=$(ls -A "$ROOT/cache" | tr '\n' ' ')
check "nothing half-written or temporary in the cache [$got]" test -z "$got"
check "the log names the cause" grep -q "No space left on device" "$LOG"
check "nothing left open (attempts, executions, channels)" settled "$C4"
check "dialerd still runs" alive "$DPID"

rm -f "$ROOT/filler"
C5=$(mk_campaign say-room "$FSAY" 5000)
check "space back: the campaign is dialed" run "$C5"
got=$(dispositions "$C5")
check "every say is spoken [$got]" test "$got" = "say_done=$NC"
WAV=$(ls "$ROOT/cache"/tts-*.wav 2>/dev/null | head -1)
check "one prompt in the cache" test "$(ls -A "$ROOT/cache" | wc -l)" = 1 -a -n "$WAV"
espeak-ng -v en --stdout "$TEXT" >"$TMP/ref.wav"
check "the whole prompt: the same audio as espeak-ng renders" \
  cmp -s <(tail -c +45 "$WAV") <(tail -c +45 "$TMP/ref.wav")
check "its WAV sizes match its length" python3 - "$WAV" <<'EOF'
import struct, sys
d = open(sys.argv[1], "rb").read()
sys.exit(not (d[:4] == b"RIFF" and struct.unpack("<I", d[4:8])[0] == len(d) - 8
              and d[36:40] == b"data" and struct.unpack("<I", d[40:44])[0] == len(d) - 44))
EOF

# 3. The rejects export, written to a temporary file in /tmp.
U=http://127.0.0.1:$DPORT/api/v1
TOK=$(e2e_login "$U" ops@acme.test "$PW" | jq -r '.access_token // empty')
check "login" test -n "$TOK"
r=$(api POST /lists '{"name":"with rejects"}')
LIST=$(body "$r" | jq -r .id)
printf 'phone,first_name\n+12125550100,Ann\nnot-a-number,Bob\n+12125550101,Cy\n12,Dee\n' >"$TMP/c.csv"
up=$(curl -sS -XPOST "$U/lists/$LIST/uploads" -H "Authorization: Bearer $TOK" -H 'Content-Type: text/csv' \
  -H "Upload-Id: disk-$$" --data-binary @"$TMP/c.csv")
JOB=$(jq -r '.job.id // empty' <<<"$up")
check "an import with rejects" test -n "$JOB"
dd if=/dev/zero of="$ROOT/filler" bs=64k 2>/dev/null
r=$(api GET "/imports/$JOB/rejects.csv")
check "temporary disk full: the export answers 503 insufficient_storage [$(status "$r")]" \
  test "$(status "$r")" = 503 -a "$(body "$r" | jq -r .error.code)" = insufficient_storage
check "and names the full disk" grep -q "disk is full" <<<"$(body "$r" | jq -r .error.message)"
rm -f "$ROOT/filler"
code=$(curl -sS -o "$TMP/rejects.csv" -w '%{http_code}' "$U/imports/$JOB/rejects.csv" -H "Authorization: Bearer $TOK")
check "space back: the export works [$code]" test "$code" = 200
check "with the rejected rows" bash -c "grep -q not-a-number '$TMP/rejects.csv' && grep -q Dee '$TMP/rejects.csv'"

e2e_stop_dialerd
check "dialerd exits on SIGTERM" bash -c "! kill -0 $DPID 2>/dev/null"
check "no phone number in full in the log" bash -c "! grep -q '+1212555' '$LOG'"

# 4. The log's disk is full: every log line fails with ENOSPC (/dev/full);
#    dialerd starts, dials and records all the same.
HP=$(free_port)
DIALERD_HTTP_PORT=$HP "$DIALERD" >/dev/null 2>/dev/full &
DPID=$!
pids+=("$DPID")
check "log disk full: dialerd starts and answers" wait_for 10 curl -fsS -o /dev/null "http://127.0.0.1:$HP/healthz"
C6=$(mk_campaign vm-nolog "$FVM" 6000)
check "and dials the whole campaign" run "$C6"
got=$(dispositions "$C6")
check "its voicemails are recorded [$got]" test "$got" = "vm_recorded=$NC"
check "nothing left open (attempts, executions, channels)" settled "$C6"
e2e_stop_dialerd
check "dialerd exits on SIGTERM" bash -c "! kill -0 $DPID 2>/dev/null"

e2e_done
