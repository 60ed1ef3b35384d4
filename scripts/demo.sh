#!/usr/bin/env bash
# The demo: starts a private PostgreSQL and Redis under run/demo, migrates the
# database, starts ari-sim (when built) and dialerd on loopback, waits until
# dialerd is healthy and prints its URLs. Everything keeps running in the
# background until `make demo-stop` (scripts/demo.sh stop).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export RUN_DIR=$ROOT/run/demo
B=${B:-build/release}
LOGS=$RUN_DIR/logs
HTTP_PORT=${DEMO_HTTP_PORT:-8080}
ARI_PORT=${DEMO_ARI_PORT:-8088}

stop_pid() { # stop_pid <pidfile>
  local f=$1 pid i=0
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  kill "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$f"
}

port_free() { ! (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; }

# Who answers: people who take the survey (keys after each question), people
# who hang up during it, busy lines, no answer, congestion.
write_scenario() {
  cat >"$1" <<'EOF'
{"name": "demo", "seed": 2026,
 "populations": {"default": [
   {"weight": 45, "outcome": "answer", "ring": {"uniform": [2, 8]}, "talk": "forever",
    "dtmf": [{"digits": "4", "from": "playback", "playback": 2, "after": 1.0},
             {"digits": "9", "from": "playback", "playback": 3, "after": 1.0},
             {"digits": "2", "from": "playback", "playback": 4, "after": 1.0}]},
   {"weight": 15, "outcome": "answer", "ring": {"uniform": [2, 8]}, "talk": {"uniform": [2, 6]}},
   {"weight": 15, "outcome": "busy", "ring": 1, "ringing": false},
   {"weight": 18, "outcome": "noanswer", "giveup": {"uniform": [15, 20]}},
   {"weight": 7, "outcome": "congestion", "ring": 0.5}
 ]}}
EOF
}

# ari-sim takes its route table from ARI's swagger files (../shared/ari/api-docs
# beside the checkout). Without them, the demo gives it the table alone: each
# operation's resource, method, path and name as Asterisk 22 declares them
# (no descriptions, models or parameters: the simulator does not need them).
write_route_table() { # write_route_table <dir>
  mkdir -p "$1"
  awk -v dir="$1" '
    NF >= 4 {
      if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 }
      key = $1 SUBSEP $3
      if (!(key in paths)) { paths[key] = 1; plist[$1] = plist[$1] (plist[$1] == "" ? "" : "\t") $3 }
      ops[key] = ops[key] (ops[key] == "" ? "" : ", ") sprintf("{\"httpMethod\": \"%s\", \"nickname\": \"%s\"%s}", $2, $4, $5 == "upgrade" ? ", \"upgrade\": \"websocket\"" : "")
    }
    END {
      res = dir "/resources.json"
      printf "{\"apiVersion\": \"9.0.0\", \"swaggerVersion\": \"1.1\", \"basePath\": \"http://localhost:8088/ari\", \"apis\": [" > res
      for (i = 1; i <= n; i++) {
        r = order[i]
        printf "%s{\"path\": \"/api-docs/%s.{format}\"}", (i > 1 ? ", " : ""), r > res
        f = dir "/" r ".json"
        printf "{\"apiVersion\": \"9.0.0\", \"swaggerVersion\": \"1.2\", \"basePath\": \"http://localhost:8088/ari\", \"resourcePath\": \"/api-docs/%s.{format}\", \"apis\": [", r > f
        np = split(plist[r], ps, "\t")
        for (j = 1; j <= np; j++) {
          printf "%s{\"path\": \"%s\", \"operations\": [%s]}", (j > 1 ? ", " : ""), ps[j], ops[r SUBSEP ps[j]] > f
        }
        printf "]}\n" > f
        close(f)
      }
      printf "]}\n" > res
    }' <<'ROUTES'
asterisk GET /asterisk/config/dynamic/{configClass}/{objectType}/{id} getObject
asterisk PUT /asterisk/config/dynamic/{configClass}/{objectType}/{id} updateObject
asterisk DELETE /asterisk/config/dynamic/{configClass}/{objectType}/{id} deleteObject
asterisk GET /asterisk/info getInfo
asterisk GET /asterisk/ping ping
asterisk GET /asterisk/modules listModules
asterisk GET /asterisk/modules/{moduleName} getModule
asterisk POST /asterisk/modules/{moduleName} loadModule
asterisk DELETE /asterisk/modules/{moduleName} unloadModule
asterisk PUT /asterisk/modules/{moduleName} reloadModule
asterisk GET /asterisk/logging listLogChannels
asterisk POST /asterisk/logging/{logChannelName} addLog
asterisk DELETE /asterisk/logging/{logChannelName} deleteLog
asterisk PUT /asterisk/logging/{logChannelName}/rotate rotateLog
asterisk GET /asterisk/variable getGlobalVar
asterisk POST /asterisk/variable setGlobalVar
endpoints GET /endpoints list
endpoints PUT /endpoints/sendMessage sendMessage
endpoints POST /endpoints/refer refer
endpoints GET /endpoints/{tech} listByTech
endpoints GET /endpoints/{tech}/{resource} get
endpoints PUT /endpoints/{tech}/{resource}/sendMessage sendMessageToEndpoint
endpoints POST /endpoints/{tech}/{resource}/refer referToEndpoint
channels GET /channels list
channels POST /channels originate
channels POST /channels/create create
channels GET /channels/{channelId} get
channels POST /channels/{channelId} originateWithId
channels DELETE /channels/{channelId} hangup
channels POST /channels/{channelId}/continue continueInDialplan
channels POST /channels/{channelId}/move move
channels POST /channels/{channelId}/redirect redirect
channels POST /channels/{channelId}/answer answer
channels POST /channels/{channelId}/ring ring
channels DELETE /channels/{channelId}/ring ringStop
channels POST /channels/{channelId}/progress progress
channels POST /channels/{channelId}/dtmf sendDTMF
channels POST /channels/{channelId}/mute mute
channels DELETE /channels/{channelId}/mute unmute
channels POST /channels/{channelId}/hold hold
channels DELETE /channels/{channelId}/hold unhold
channels POST /channels/{channelId}/moh startMoh
channels DELETE /channels/{channelId}/moh stopMoh
channels POST /channels/{channelId}/silence startSilence
channels DELETE /channels/{channelId}/silence stopSilence
channels POST /channels/{channelId}/play play
channels POST /channels/{channelId}/play/{playbackId} playWithId
channels POST /channels/{channelId}/record record
channels GET /channels/{channelId}/variable getChannelVar
channels POST /channels/{channelId}/variable setChannelVar
channels GET /channels/{channelId}/variables getChannelVars
channels POST /channels/{channelId}/variables setChannelVars
channels POST /channels/{channelId}/snoop snoopChannel
channels POST /channels/{channelId}/snoop/{snoopId} snoopChannelWithId
channels POST /channels/{channelId}/dial dial
channels GET /channels/{channelId}/rtp_statistics rtpstatistics
channels POST /channels/externalMedia externalMedia
channels POST /channels/{channelId}/transfer_progress transfer_progress
bridges GET /bridges list
bridges POST /bridges create
bridges POST /bridges/{bridgeId} createWithId
bridges GET /bridges/{bridgeId} get
bridges DELETE /bridges/{bridgeId} destroy
bridges GET /bridges/{bridgeId}/variable getBridgeVar
bridges POST /bridges/{bridgeId}/variable setBridgeVar
bridges GET /bridges/{bridgeId}/variables getBridgeVars
bridges POST /bridges/{bridgeId}/variables setBridgeVars
bridges POST /bridges/{bridgeId}/addChannel addChannel
bridges POST /bridges/{bridgeId}/removeChannel removeChannel
bridges POST /bridges/{bridgeId}/videoSource/{channelId} setVideoSource
bridges DELETE /bridges/{bridgeId}/videoSource clearVideoSource
bridges POST /bridges/{bridgeId}/moh startMoh
bridges DELETE /bridges/{bridgeId}/moh stopMoh
bridges POST /bridges/{bridgeId}/play play
bridges POST /bridges/{bridgeId}/play/{playbackId} playWithId
bridges POST /bridges/{bridgeId}/record record
recordings GET /recordings/stored listStored
recordings GET /recordings/stored/{recordingName} getStored
recordings DELETE /recordings/stored/{recordingName} deleteStored
recordings GET /recordings/stored/{recordingName}/file getStoredFile
recordings POST /recordings/stored/{recordingName}/copy copyStored
recordings GET /recordings/live/{recordingName} getLive
recordings DELETE /recordings/live/{recordingName} cancel
recordings POST /recordings/live/{recordingName}/stop stop
recordings POST /recordings/live/{recordingName}/pause pause
recordings DELETE /recordings/live/{recordingName}/pause unpause
recordings POST /recordings/live/{recordingName}/mute mute
recordings DELETE /recordings/live/{recordingName}/mute unmute
sounds GET /sounds list
sounds GET /sounds/{soundId} get
playbacks GET /playbacks/{playbackId} get
playbacks DELETE /playbacks/{playbackId} stop
playbacks POST /playbacks/{playbackId}/control control
deviceStates GET /deviceStates list
deviceStates GET /deviceStates/{deviceName} get
deviceStates PUT /deviceStates/{deviceName} update
deviceStates DELETE /deviceStates/{deviceName} delete
mailboxes GET /mailboxes list
mailboxes GET /mailboxes/{mailboxName} get
mailboxes PUT /mailboxes/{mailboxName} update
mailboxes DELETE /mailboxes/{mailboxName} delete
events GET /events eventWebsocket upgrade
events POST /events/user/{eventName} userEvent
events POST /events/claim claimChannel
applications GET /applications list
applications GET /applications/{applicationName} get
applications POST /applications/{applicationName}/subscription subscribe
applications DELETE /applications/{applicationName}/subscription unsubscribe
applications PUT /applications/{applicationName}/eventFilter filter
ROUTES
}

stop_all() {
  stop_pid "$RUN_DIR/dialerd.pid"
  stop_pid "$RUN_DIR/ari-sim.pid"
  tests/support/services.sh stop
}

start_all() {
  mkdir -p "$LOGS"
  stop_pid "$RUN_DIR/dialerd.pid"
  stop_pid "$RUN_DIR/ari-sim.pid"
  tests/support/services.sh start
  # shellcheck disable=SC1091
  . "$RUN_DIR/services.env"
  port_free "$HTTP_PORT" || { echo "demo: port $HTTP_PORT is busy; set DEMO_HTTP_PORT" >&2; exit 1; }

  export DIALERD_DB_CONNINFO="$DIALER_PG_CONNINFO"
  export DIALERD_REDIS_HOST=127.0.0.1
  export DIALERD_REDIS_PORT="$DIALER_REDIS_PORT"
  export DIALERD_HTTP_PORT="$HTTP_PORT"
  export DIALERD_HTTP_STATIC_DIR="$ROOT/dashboards/web/dist"
  export DIALERD_NODE_ID=demo-1
  export DIALERD_ARI_URL="http://127.0.0.1:$ARI_PORT"
  export DIALERD_ARI_USER=dialer
  export DIALERD_ARI_PASSWORD=demo-only-secret
  # no national DNC list is loaded in the demo; ari-sim stands in for the network
  export DIALERD_DIALER_ALLOW_MISSING_DNC=true
  export DIALERD_DIALER_CPS=${DEMO_CPS:-50}
  export DIALERD_DIALER_PORTS=100
  mkdir -p "$RUN_DIR/sounds"
  export DIALERD_IVR_SOUNDS_DIR="$RUN_DIR/sounds"

  "$B/dialerd" migrate

  if [ -x "$B/ari-sim" ]; then
    port_free "$ARI_PORT" || { echo "demo: port $ARI_PORT is busy; set DEMO_ARI_PORT" >&2; exit 1; }
    write_scenario "$RUN_DIR/scenario.json"
    write_route_table "$RUN_DIR/api-docs"
    "$B/ari-sim" --port "$ARI_PORT" --user dialer --password demo-only-secret \
      --scenario "$RUN_DIR/scenario.json" --api-docs "$RUN_DIR/api-docs" \
      --originate-log "$RUN_DIR/originate.log" >"$LOGS/ari-sim.log" 2>&1 &
    echo $! >"$RUN_DIR/ari-sim.pid"
  fi

  "$B/dialerd" >"$LOGS/dialerd.log" 2>&1 &
  echo $! >"$RUN_DIR/dialerd.pid"

  local i=0
  until curl -fsS "http://127.0.0.1:$HTTP_PORT/healthz" >/dev/null 2>&1; do
    i=$((i + 1))
    if [ $i -gt 100 ] || ! kill -0 "$(cat "$RUN_DIR/dialerd.pid")" 2>/dev/null; then
      echo "demo: dialerd did not become healthy; last log lines:" >&2
      tail -20 "$LOGS/dialerd.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  seed_campaign
  echo
  echo "dialerd is up (logs in $LOGS):"
  echo "  health:     http://127.0.0.1:$HTTP_PORT/healthz"
  echo "  readiness:  http://127.0.0.1:$HTTP_PORT/readyz"
  curl -sS "http://127.0.0.1:$HTTP_PORT/readyz" || true
  echo
  echo "Stop everything with: make demo-stop"
}

# A sample tenant and its admin (dialerd bootstrap), then through the REST API
# as that admin: the survey template instantiated and PUBLISHED, a list of
# 10,000 generated contacts imported by the importer (CSV upload), and a
# campaign over them created, given the list and started through the campaign
# routes. dialerd picks the campaign up within a poll and the wall moves; it
# completes by itself once every contact is final.

json_field() { # json_field <key> : the first "key": value of stdin (string or number)
  grep -o "\"$1\": *\"\{0,1\}[^\",}]*" | head -1 | sed "s/^\"$1\": *\"\{0,1\}//"
}

api() { # api <method> <path> [curl args...] : the body; fails on an HTTP error
  local m=$1 p=$2 auth=()
  shift 2
  [ -n "${TOKEN:-}" ] && auth=(-H "Authorization: Bearer $TOKEN") # none before the login
  curl -fsS -X "$m" "http://127.0.0.1:$HTTP_PORT/api/v1$p" "${auth[@]}" "$@"
}

api_json() { # api_json <method> <path> <JSON> : api with a JSON body
  api "$1" "$2" -H 'Content-Type: application/json' -d "$3"
}

sql() { # sql <query> : its value(s) in the demo's database
  "$DIALER_PG_BIN/psql" "$DIALER_PG_CONNINFO" -v ON_ERROR_STOP=1 -Atq -c "$1"
}

seed_campaign() {
  local pw=${DEMO_PASSWORD:-demo-password-123}
  local email=admin@demo.test
  if [ -z "$(sql "SELECT id FROM tenants WHERE slug = 'demo'")" ]; then
    DIALERD_BOOTSTRAP_PASSWORD="$pw" "$B/dialerd" bootstrap --tenant-slug demo \
      --tenant-name "Demo Inc" --email "$email" --name Admin >/dev/null
  fi
  TOKEN=$(api_json POST /auth/login "{\"email\": \"$email\", \"password\": \"$pw\"}" |
    json_field access_token)
  [ -n "$TOKEN" ] || { echo "demo: cannot log in as $email" >&2; exit 1; }

  # The survey flow from its template, published (its results go to an
  # address the IVR's SSRF guard refuses, so nothing leaves this machine).
  local flow
  flow=$(sql "SELECT id FROM ivr_flows WHERE name = 'Demo survey'")
  if [ -z "$flow" ]; then
    api_json POST /flows/from-template/survey_feedback \
      '{"name": "Demo survey", "params": {"company": "Demo Inc", "results_api": "https://127.0.0.1:9/surveys"}}' \
      >/dev/null
    flow=$(sql "SELECT id FROM ivr_flows WHERE name = 'Demo survey'")
  fi
  if [ -z "$(sql "SELECT published_revision FROM ivr_flows WHERE id = $flow")" ]; then
    api_json POST "/flows/$flow/publish" '{"message": "demo"}' >/dev/null
  fi

  # 10,000 generated contacts through the importer (one CSV upload).
  local list job csv=$RUN_DIR/demo-contacts.csv
  list=$(sql "SELECT id FROM contact_lists WHERE name = 'Demo list'")
  if [ -z "$list" ]; then
    api_json POST /lists '{"name": "Demo list", "description": "generated by make demo"}' >/dev/null
    list=$(sql "SELECT id FROM contact_lists WHERE name = 'Demo list'")
  fi
  if [ "$(sql "SELECT count(*) FROM contacts WHERE list_id = $list")" = 0 ]; then
    awk 'BEGIN {
      split("Alice Bob Carol Dave Erin Frank Grace Heidi Ivan Judy", fn, " ");
      split("Smith Jones Brown Miller Davis Garcia Wilson Moore Taylor Lee", ln, " ");
      print "phone,first_name,last_name,account";
      for (i = 0; i < 10000; i++)
        printf "+1 (212) %03d-%04d,%s,%s,A%05d\n", 230 + int(i / 1000) * 7, 1000 + i % 1000 * 7,
               fn[i % 10 + 1], ln[int(i / 10) % 10 + 1], i;
    }' >"$csv"
    job=$(api POST "/lists/$list/uploads?filename=demo-contacts.csv" -H 'Content-Type: text/csv' \
      -H "Upload-Id: demo-$list" --data-binary "@$csv")
    echo "demo: imported $(printf '%s' "$job" | json_field rows_accepted) contacts" \
      "($(printf '%s' "$job" | json_field rows_rejected) rejected) into list $list"
  fi

  # The campaign, its list and its start, through the campaign routes. A re-run
  # finds it by name and starts (or resumes) it again when it is not running.
  local camp state
  camp=$(api GET "/campaigns?limit=100" | tr '{' '\n' | grep '"name": *"Demo campaign"' |
    json_field id || true)
  if [ -z "$camp" ]; then
    camp=$(api_json POST /campaigns "{\"name\": \"Demo campaign\",
      \"flow_id\": $flow, \"settings\": {\"pacing\": {\"mode\": \"power\", \"dial_ratio\": 1.5,
      \"max_channels\": 150}, \"ring_time_s\": 20, \"retry\": {\"max_attempts\": 2},
      \"callbacks\": {\"enabled\": true, \"max_days\": 14}}}" | json_field id)
  fi
  [ -n "$camp" ] || { echo "demo: cannot create the campaign" >&2; exit 1; }
  api_json POST "/campaigns/$camp/lists/$list" '{}' >/dev/null
  state=$(api GET "/campaigns/$camp" | json_field state)
  case "$state" in
    draft | scheduled) api_json POST "/campaigns/$camp/start" '{"reason": "make demo"}' >/dev/null ;;
    paused) api_json POST "/campaigns/$camp/resume" '{"reason": "make demo"}' >/dev/null ;;
  esac
  state=$(api GET "/campaigns/$camp" | json_field state)
  echo "demo: tenant 'demo', flow 'Demo survey' (published), campaign 'Demo campaign' ($camp) of 10,000 contacts $state"
  echo
  echo "The wall:   http://127.0.0.1:$HTTP_PORT/"
  echo "  login:    $email / $pw"
  echo "  (US calling windows apply: outside 8:00-21:00 New York time the wall shows the"
  echo "   contacts waiting for the window instead of calls)"
  echo "  SQL:      $DIALER_PG_BIN/psql \"$DIALER_PG_CONNINFO\" -c \"SELECT outcome, disposition, count(*) FROM call_attempts GROUP BY 1, 2\""
}

case "${1:-start}" in
  start) start_all ;;
  stop) stop_all ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
