#!/usr/bin/env bash
# Fault suite: a real dialerd running campaigns against ari-sim, a private
# PostgreSQL and a private Redis (all on loopback), with faults injected at
# random moments. Every wait is bounded in count and time.
#
#   run.sh [--long] [--strict] [--seed N] [--phases kill,ari,pg,redis]
#
# Short form (make test, through tests/integration/test_faults.sh): 5 kills,
# one of each other fault, a few thousand contacts, under 3 minutes.
# Long form (make load): 20 kills, every ARI and service fault repeated,
# more contacts.
#
# Phases (each on its own campaign, all on one dialerd node id):
#   kill   kill -9 of dialerd at random moments, restarted each time: zero
#          numbers originated twice (ari-sim's originate log), zero contacts
#          lost (every contact final or still eligible), every originate with
#          exactly one call log, every attempt settled.
#   ari    ari-sim drops its WebSocket, answers 5xx for a while, restarts:
#          dialerd stops originating on the server while it is down, reconnects,
#          reconciles (no attempt left unsettled, no channel left up) and
#          resumes; /readyz follows.
#   pg     PostgreSQL stopped for a few seconds mid-campaign: dialerd does not
#          crash, no call log lost, the campaign completes.
#   redis  Redis stopped for a few seconds mid-campaign (its state is lost):
#          launches stop while it is down (fail closed), the channel cap is
#          never exceeded, the campaign completes when it is back.
# Throughout: ari-sim's live channels are sampled every 100 ms and must never
# exceed dialer.max-channels.
#
# Needs DIALER_BUILD (dialerd, ari-sim); starts its own PostgreSQL and Redis
# under run/reliab-<pid> with tests/support/services.sh and removes them.
# Prints "FAULTS injected=... contacts=... duplicates=... lost=..." at the end.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 2
LONG=0
STRICT=0
SEED=${FAULT_SEED:-$(($(date +%s) % 32768))}
PHASES=kill,ari,pg,redis
while [ $# -gt 0 ]; do
  case "$1" in
    --long) LONG=1 ;;
    --strict) STRICT=1 ;;
    --seed) SEED=$2; shift ;;
    --phases) PHASES=$2; shift ;;
    *) echo "usage: $0 [--long] [--strict] [--seed N] [--phases kill,ari,pg,redis]" >&2; exit 2 ;;
  esac
  shift
done
RANDOM=$SEED
B=${DIALER_BUILD:-$ROOT/build/debug}
DIALERD=$B/dialerd
SIM=$B/ari-sim
[ -x "$DIALERD" ] && [ -x "$SIM" ] || { echo "run.sh: $DIALERD or $SIM missing (make)" >&2; exit 2; }

if [ $LONG -eq 1 ]; then
  KILLS=20 N_KILL=12000 N_PHASE=3000 N_ARI=6000 REPEAT=3 WAIT=600
else
  KILLS=5 N_KILL=1500 N_PHASE=800 N_ARI=1500 REPEAT=1 WAIT=120
fi
CPS=150 MAXCH=300

fails=0
known_fails=0
faults=0
contacts=0
pids=()
DPID=
SAMPLER=
TMP=$(mktemp -d)
SVC=$ROOT/run/reliab-$$
LOG=$TMP/dialerd.log
OLOG=$TMP/originate.log

cleanup() {
  [ -n "$SAMPLER" ] && kill "$SAMPLER" 2>/dev/null
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  RUN_DIR=$SVC tests/support/services.sh stop >/dev/null 2>&1
  rm -rf "$SVC"
  if [ $fails -ne 0 ] && [ -n "${FAULT_KEEP:-}" ]; then
    echo "logs kept in $TMP"
  else
    rm -rf "$TMP"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# known <what> <command...>: a check that fails today because of a reported
# defect outside this suite (docs/RELIABILITY.md, "Open defects"); printed as
# KNOWN, counted as a failure with --strict.
known() {
  local what=$1
  shift
  if "$@"; then
    echo "ok - $what"
  elif [ $STRICT -eq 1 ]; then
    echo "FAIL - $what"
    fails=$((fails + 1))
  else
    echo "KNOWN - $what"
    known_fails=$((known_fails + 1))
  fi
}

check() {
  local what=$1
  shift
  if "$@"; then echo "ok - $what"; else echo "FAIL - $what"; fails=$((fails + 1)); fi
}

echo "# fault suite: $([ $LONG -eq 1 ] && echo long || echo short), seed $SEED, phases $PHASES"

# ------------------------------------------------------------------ services
if ! RUN_DIR=$SVC tests/support/services.sh start >/dev/null; then
  echo "FAIL - private PostgreSQL/Redis start"
  exit 1
fi
# shellcheck disable=SC1091
. "$SVC/services.env"
svc() { RUN_DIR=$SVC tests/support/services.sh "$@" >/dev/null 2>&1; }
PSQL=("$DIALER_PG_BIN/psql" -h "$DIALER_PG_SOCKDIR" -p "$DIALER_PG_PORT" -U dialer -v ON_ERROR_STOP=1)
DB=faults
sql() { "${PSQL[@]}" -d "$DB" -Atc "$1" 2>/dev/null; }

# Waits (bounded) until the SQL answers the expected value.
wait_sql() {
  local q=$1 want=$2 secs=$3 got=
  for _ in $(seq 1 $((secs * 5))); do
    got=$(sql "$q")
    [ "$got" = "$want" ] && return 0
    sleep 0.2
  done
  echo "  waited ${secs}s for [$q] = $want, last $got" >&2
  return 1
}

# ------------------------------------------------------------------- ari-sim
cat >"$TMP/scenario.json" <<'EOF'
{"name": "faults", "seed": 13,
 "populations": {"default": [{"weight": 1, "outcome": "answer", "ring": 0.2, "talk": "forever"}]},
 "rules": [
   {"number": "*[0-5]", "outcome": "answer", "ring": 0.3, "talk": "forever"},
   {"number": "*[6-7]", "outcome": "busy", "ring": 0.2, "ringing": false},
   {"number": "*[89]", "outcome": "congestion", "ring": 0.1}
 ]}
EOF
SIMPID=
start_sim() {
  rm -f "$TMP/sim.port"
  "$SIM" --port "${SIMPORT:-0}" --port-file "$TMP/sim.port" --scenario "$TMP/scenario.json" \
    --originate-log "$OLOG" --log-level warn >>"$TMP/sim.log" 2>&1 &
  SIMPID=$!
  pids+=("$SIMPID")
  for _ in $(seq 1 100); do [ -s "$TMP/sim.port" ] && break; sleep 0.05; done
  SIMPORT=$(cat "$TMP/sim.port" 2>/dev/null)
  [ -n "$SIMPORT" ]
}
check "ari-sim starts" start_sim
SIMURL=http://127.0.0.1:$SIMPORT
fault() { curl -sf -X POST "$SIMURL/_sim/fault?$1" >/dev/null; }
sim_active() { curl -sf --max-time 2 "$SIMURL/_sim/stats" | sed -n 's/.*"channels_active":\([0-9]*\).*/\1/p'; }

# The cap sampler: ari-sim's live channels every 100 ms (bounded by count).
sampler() {
  for _ in $(seq 1 30000); do
    a=$(sim_active)
    [ -n "$a" ] && echo "$(date +%s.%N) $a"
    sleep 0.1
  done
}
sampler >"$TMP/active.log" 2>/dev/null &
SAMPLER=$!

# ------------------------------------------------------------------- dialerd
"${PSQL[@]}" -d postgres -qc "CREATE DATABASE $DB" >/dev/null
export DIALERD_DB_ADMIN_CONNINFO="host=$DIALER_PG_SOCKDIR port=$DIALER_PG_PORT user=dialer dbname=$DB"
export DIALERD_DB_CONNINFO="host=$DIALER_PG_SOCKDIR port=$DIALER_PG_PORT user=dialer_app dbname=$DB"
export DIALERD_REDIS_HOST=127.0.0.1 DIALERD_REDIS_PORT=$DIALER_REDIS_PORT
export DIALERD_HTTP_STATIC_DIR="" DIALERD_HTTP_PORT=0
export DIALERD_API_JWT_KEYS="main=faults-jwt-secret-0123456789abcdef0123456"
export DIALERD_ARI_URL="$SIMURL" DIALERD_ARI_USER=asterisk DIALERD_ARI_PASSWORD=asterisk
export DIALERD_NODE_ID="faults-$$"
export DIALERD_DIALER_ALLOW_MISSING_DNC=true DIALERD_DIALER_TALK_TIME=500ms
export DIALERD_DIALER_POLL=200ms DIALERD_DIALER_CPS=$CPS DIALERD_DIALER_MAX_CHANNELS=$MAXCH
export DIALERD_DIALER_LEASE_TIME=10s DIALERD_DIALER_LEASE_BATCH=100
check "migrate" bash -c "'$DIALERD' migrate >/dev/null 2>&1"

sql "INSERT INTO tenants (slug, name) VALUES ('acme', 'Acme')" >/dev/null
T=$(sql "SELECT id FROM tenants WHERE slug = 'acme'")
F=$(sql "INSERT INTO ivr_flows (tenant_id, name) VALUES ($T, 'f') RETURNING id" | head -1)
SETTINGS='{"pacing": {"mode": "fixed", "cps": 1000, "max_channels": 1000}, "retry": {"max_attempts": 1}, "ring_time_s": 20}'
mk_campaign() { # name prefix count -> campaign id (numbers +1<area>555NNNN)
  local c l
  c=$(sql "INSERT INTO campaigns (tenant_id, name, flow_id, settings) VALUES ($T, '$1', $F, '$SETTINGS') RETURNING id" | head -1)
  l=$(sql "INSERT INTO contact_lists (tenant_id, name) VALUES ($T, 'l-$1') RETURNING id" | head -1)
  sql "INSERT INTO campaign_lists (tenant_id, campaign_id, list_id) VALUES ($T, $c, $l)" >/dev/null
  sql "INSERT INTO contacts (tenant_id, list_id, number) SELECT $T, $l, '+1$2' || (5550000 + g)::text FROM generate_series(0, $3 - 1) g" >/dev/null
  echo "$c"
}
run_campaign() { # run_campaign <id> <contacts>
  sql "UPDATE campaigns SET state = 'running' WHERE id = $1" >/dev/null
  contacts=$((contacts + $2))
}

start_dialerd() {
  "$DIALERD" >>"$LOG" 2>&1 &
  DPID=$!
  pids+=("$DPID")
}
alive() { kill -0 "$DPID" 2>/dev/null; }
: >"$LOG"
start_dialerd

# Per-campaign facts from the originate log and the database.
orig() { grep -c "\"event\":\"originate\".*\"number\":\"+1$1" "$OLOG"; }
dups() { grep '"event":"originate"' "$OLOG" | sed -n 's/.*"number":"\([^"]*\)".*/\1/p' | sort | uniq -d | wc -l; }
unfinished() { echo "SELECT count(*) FROM contacts c JOIN campaign_lists cl USING (list_id) WHERE cl.campaign_id = $1 AND c.state NOT IN ('done', 'failed')"; }
# Channel ids ari-sim accepted for a campaign's numbers, one per line.
channels_of() { grep '"event":"originate"' "$OLOG" | grep "\"number\":\"+1$1" | sed -n 's/.*"channel":"\([^"]*\)".*/\1/p' | sort -u; }
# Originates of a campaign with no call log (a list of ids, counted).
no_log() {
  channels_of "$1" >"$TMP/ch.txt"
  sql "SELECT attempt_id FROM call_logs WHERE campaign_id = $2" | sort -u >"$TMP/logged.txt"
  comm -23 "$TMP/ch.txt" "$TMP/logged.txt" | wc -l
}
wait_no_log() { # the batch writer runs every 200 ms: allow it 10 s
  local n=
  for _ in $(seq 1 50); do n=$(no_log "$1" "$2"); [ "$n" = 0 ] && return 0; sleep 0.2; done
  echo "  $n originates without a call log:" >&2
  comm -23 "$TMP/ch.txt" "$TMP/logged.txt" | head -5 | while read -r id; do
    sql "SELECT id, state, outcome, hangup_cause, originated_at IS NOT NULL, ended_at - started_at FROM call_attempts WHERE id = '$id'" >&2
  done
  return 1
}
# Originates that are not attempt ids of the campaign.
not_attempt() {
  channels_of "$1" >"$TMP/ch.txt"
  sql "SELECT id FROM call_attempts WHERE campaign_id = $2" | sort -u >"$TMP/att.txt"
  comm -23 "$TMP/ch.txt" "$TMP/att.txt" | wc -l
}
wait_orig() { # wait_orig <prefix> <at least> <seconds>
  for _ in $(seq 1 $(($3 * 20))); do [ "$(orig "$1")" -ge "$2" ] && return 0; sleep 0.05; done
  return 1
}
settled() { # settled <campaign> <contacts> [check|known]: every contact final, every attempt ended
  local c=$1 n=$2 how=${3:-check} secs=$WAIT secs2=20
  [ "$how" = known ] && secs=15 secs2=2
  "$how" "campaign $c: every contact reaches a final state" wait_sql "$(unfinished "$c")" 0 "$secs"
  "$how" "campaign $c: every attempt settled" wait_sql \
    "SELECT count(*) FROM call_attempts WHERE campaign_id = $c AND ended_at IS NULL" 0 "$secs2"
  # (an originate refused before any channel existed is kept as not_dialed: not an attempt)
  check "campaign $c: one attempt per contact ($n)" test \
    "$(sql "SELECT count(*) || '/' || count(DISTINCT contact_id) FROM call_attempts WHERE campaign_id = $c AND outcome IS DISTINCT FROM 'not_dialed'")" = "$n/$n"
}
restart_dialerd() { # SIGTERM (bounded wait), then start again
  kill -TERM "$DPID"
  for _ in $(seq 1 100); do alive || break; sleep 0.1; done
  kill -9 "$DPID" 2>/dev/null
  wait "$DPID" 2>/dev/null
  start_dialerd
}
no_channel_left() {
  local a=
  for _ in $(seq 1 100); do a=$(sim_active); [ "$a" = 0 ] && return 0; sleep 0.1; done
  echo "  ari-sim still has $a channels" >&2
  return 1
}
api_port() { sed -n 's/.*event=listening bind=.* port=\([0-9]*\).*/\1/p' "$LOG" | tail -1; }
readyz() { # prints the HTTP status of /readyz
  curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$(api_port)/readyz"
}
ari_status() { # the ARI server's status in /readyz
  curl -s --max-time 2 "http://127.0.0.1:$(api_port)/readyz" | sed -n 's/.*"servers": *\[{[^]]*"status": *"\([a-z]*\)".*/\1/p'
}
wait_ready() {
  for _ in $(seq 1 $(($1 * 10))); do [ "$(readyz)" = 200 ] && return 0; sleep 0.1; done
  return 1
}
check "dialerd ready" wait_ready 20

# ---------------------------------------------------------- phase: kill -9
phase_kill() {
  local c kills=0 inflight total=0
  c=$(mk_campaign kill 212 "$N_KILL")
  run_campaign "$c" "$N_KILL"
  for i in $(seq 1 "$KILLS"); do
    # A random moment of a running campaign: once the new process dials
    # (after a kill the dead process's channels hold the cap until its
    # liveness expires, up to 15 s), 0 to 1.5 s later.
    wait_orig 212 $(($(orig 212) + 10)) 30
    sleep "$(printf '0.%03d' $((RANDOM % 1000)))"
    sleep "$(printf '0.%03d' $((RANDOM % 500)))"
    if [ "$(sql "$(unfinished "$c")")" = 0 ]; then
      echo "  campaign finished after $kills kills"
      break
    fi
    kill -9 "$DPID"
    wait "$DPID" 2>/dev/null
    kills=$((kills + 1))
    inflight=$(sql "SELECT count(*) FROM call_attempts WHERE campaign_id = $c AND ended_at IS NULL")
    total=$((total + inflight))
    echo "  kill $i: $(orig 212) originated, $inflight attempts in flight"
    start_dialerd
  done
  faults=$((faults + kills))
  check "kill -9 injected $kills times ($total attempts in flight at the kills)" \
    test "$kills" -ge $((KILLS * 4 / 5)) -a "$total" -gt 0
  settled "$c" "$N_KILL"
  check "kill: no number originated twice ($(orig 212) originates)" test "$(dups)" = 0
  check "kill: every originate is an attempt of the campaign" test "$(not_attempt 212 "$c")" = 0
  check "kill: no contact lost (all done or failed, none dialing or leased)" test \
    "$(sql "SELECT count(*) FROM contacts c JOIN campaign_lists cl USING (list_id) WHERE cl.campaign_id = $c AND c.state IN ('done', 'failed') AND c.attempts = 1")" = "$N_KILL"
  check "kill: every originate has exactly one call log" wait_no_log 212 "$c"
  check "kill: every attempt that ended normally has its call log" wait_sql \
    "SELECT count(*) FROM call_attempts a WHERE campaign_id = $c AND outcome <> 'lost' AND NOT EXISTS (SELECT 1 FROM call_logs l WHERE l.attempt_id = a.id)" 0 10
  check "kill: no channel left up on ari-sim" no_channel_left
}

# ------------------------------------------------------------- phase: ARI
phase_ari() {
  local c n0 n1 r t0 spent nd failed_during
  c=$(mk_campaign ari 313 "$N_ARI")
  run_campaign "$c" "$N_ARI"
  for _ in $(seq 1 "$REPEAT"); do
    wait_orig 313 $(($(orig 313) + 100)) 20
    # WebSocket dropped: calls stay up, the client reconnects and reconciles.
    fault "action=drop_ws"
    faults=$((faults + 1))
    n0=$(orig 313)
    check "ari drop_ws: originations resume" wait_orig 313 $((n0 + 50)) 20

    # 5xx for 3 s: the server is marked degraded; no attempt should be spent on it.
    fault "action=fail&seconds=3&status=503"
    faults=$((faults + 1))
    t0=$(date -u '+%Y-%m-%d %H:%M:%S.%N')
    sleep 1
    r=$(ari_status)
    sleep 2
    # let the originates of the window end (a 5xx is answered at once)
    sleep 1
    spent=$(sql "SELECT count(*) FROM call_attempts WHERE campaign_id = $c AND outcome IN ('failed', 'lost') AND started_at >= '$t0+00'")
    nd=$(sql "SELECT count(*) FROM call_attempts WHERE campaign_id = $c AND outcome = 'not_dialed' AND started_at >= '$t0+00'")
    check "ari 5xx: /readyz reports the server degraded ($r)" test "$r" = degraded -o "$r" = down
    check "ari 5xx: no attempt spent while the server fails ($spent failed, $nd refused and given back)" test "$spent" = 0
    n1=$(orig 313)
    check "ari 5xx: originations resume" wait_orig 313 $((n1 + 50)) 20
    check "ari 5xx: ready again" wait_ready 20

    # Restart: every channel forgotten without events, refused for 2 s.
    fault "action=restart&seconds=2"
    faults=$((faults + 1))
    n0=$(orig 313)
    check "ari restart: originations resume" wait_orig 313 $((n0 + 50)) 30
    check "ari restart: ready again" wait_ready 20
  done
  settled "$c" "$N_ARI"
  failed_during=$(sql "SELECT count(*) FROM call_attempts WHERE campaign_id = $c AND outcome IN ('failed', 'lost')")
  echo "  ari: $failed_during attempts failed or lost across the faults"
  check "ari: no number originated twice" test "$(dups)" = 0
  check "ari: every originate is an attempt of the campaign" test "$(not_attempt 313 "$c")" = 0
  check "ari: no channel left up on ari-sim" no_channel_left
  check "ari: dialerd still running" alive
}

# ------------------------------------------------------- phase: PostgreSQL
phase_pg() {
  local c n0 n1
  c=$(mk_campaign pg 414 "$N_PHASE")
  run_campaign "$c" "$N_PHASE"
  for _ in $(seq 1 "$REPEAT"); do
    wait_orig 414 $(($(orig 414) + 150)) 20
    svc stop-pg
    faults=$((faults + 1))
    sleep 0.5
    n0=$(orig 414)
    sleep 2.5
    n1=$(orig 414)
    check "pg down: no new attempt originated ($n0 -> $n1)" test "$((n1 - n0))" -le "$MAXCH"
    check "pg down: dialerd still running" alive
    svc start-pg
    check "pg back: originations resume" wait_orig 414 $((n1 + 50)) 30
  done
  # Attempts whose finish failed while PostgreSQL was down are queued and
  # written when it is back (D3): every one settles without a restart, with
  # its real outcome (the scenario has answers, busy and congestion only; an
  # attempt whose own write had an unknown outcome was never dialed and is
  # closed as not_dialed, not an attempt).
  settled "$c" "$N_PHASE"
  echo "  pg: $(grep -c 'event=attempt_finish_failed.*queued for retry' "$LOG") end writes queued while PostgreSQL was away, $(grep -c 'event=attempt_finish_landed' "$LOG") written later; $(grep -c 'event=attempt_begin_failed' "$LOG") attempt rows of unknown outcome (never dialed), $(grep -c 'event=attempt_not_written' "$LOG") of them found not written"
  check "pg: every attempt closed with its real outcome (none lost)" test \
    "$(sql "SELECT count(*) FROM call_attempts WHERE campaign_id = $c AND outcome NOT IN ('human', 'busy', 'congestion', 'not_dialed')")" = 0
  check "pg: no number originated twice" test "$(dups)" = 0
  check "pg: no call log lost (every originate has one)" wait_no_log 414 "$c"
  check "pg: dialerd still running" alive
}

# ------------------------------------------------------------ phase: Redis
phase_redis() {
  local c n0 n1
  c=$(mk_campaign redis 515 "$N_PHASE")
  run_campaign "$c" "$N_PHASE"
  for _ in $(seq 1 "$REPEAT"); do
    wait_orig 515 $(($(orig 515) + 150)) 20
    svc stop-redis
    faults=$((faults + 1))
    n0=$(orig 515)
    sleep 3
    n1=$(orig 515)
    # Fail closed: at most the local allowance drawn before Redis went away.
    check "redis down: launches stop ($n0 -> $n1, allowance <= $MAXCH)" test "$((n1 - n0))" -le "$MAXCH"
    check "redis down: dialerd still running" alive
    svc start-redis
    check "redis back: originations resume" wait_orig 515 $((n1 + 50)) 30
  done
  settled "$c" "$N_PHASE"
  check "redis: no number originated twice" test "$(dups)" = 0
  check "redis: dialerd still running" alive
}

for p in ${PHASES//,/ }; do
  echo "## phase $p"
  "phase_$p"
done

kill "$SAMPLER" 2>/dev/null
SAMPLER=
peak=$(sort -k2 -n "$TMP/active.log" | tail -1 | cut -d' ' -f2)
check "channel cap never exceeded (peak ${peak:-?} of $MAXCH live channels)" test "${peak:-0}" -le "$MAXCH"
kill -TERM "$DPID"
for _ in $(seq 1 100); do alive || break; sleep 0.1; done
check "dialerd exits on SIGTERM" bash -c "! kill -0 $DPID 2>/dev/null"
check "no full phone number in the log" bash -c "! grep -qE '\\+1(212|313|414|515)[0-9]{7}' '$LOG'"
check "no secret in the log" bash -c "! grep -qE 'faults-jwt-secret|DIALERD_ARI_PASSWORD|password=asterisk' '$LOG'"
check "no crash reported in the log" bash -c "! grep -qE 'AddressSanitizer|LeakSanitizer|runtime error|Segmentation|Assertion' '$LOG'"
total_dups=$(dups)
echo "FAULTS injected=$faults contacts=$contacts originates=$(grep -c '"event":"originate"' "$OLOG") duplicates=$total_dups failed_checks=$fails known_defects=$known_fails seed=$SEED"
echo "$fails failed"
[ "$fails" -eq 0 ]
