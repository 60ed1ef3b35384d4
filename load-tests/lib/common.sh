# shellcheck shell=bash
# Shared functions of the load scenarios (sourced). Each scenario runs with
#   ROOT  the checkout, B the release build directory, OUT the results
#   directory of this run, RUN a private run directory under run/load/
# and calls, in order: lt_init NAME; lt_services; lt_sim SCENARIO [args];
# lt_dialerd [env...]; lt_login; then its own driving; lt_fig/lt_series for
# the figures; lt_finish (writes $OUT/NAME.json). lt_cleanup (trap) stops
# every process the scenario started (by pid) and the services.
# Every wait is bounded in count and time; everything listens on loopback.

LT_PIDS=()
LT_FIGS=""
export LT_QUICK=0

lt_log() { echo "[$LT_NAME $(date -u +%H:%M:%S)] $*" >&2; }

lt_init() { # lt_init NAME "$@"  (parses --quick)
  LT_NAME=$1
  shift
  for a in "$@"; do
    case $a in
      --quick) LT_QUICK=1 ;;
      *) echo "$LT_NAME: unknown argument $a" >&2; exit 2 ;;
    esac
  done
  : "${ROOT:?}" "${B:?}" "${OUT:?}" "${RUN:?}"
  mkdir -p "$OUT" "$RUN"
  rm -rf "${RUN:?}"/*
  LT_FIGS=$RUN/figures.tsv
  : >"$LT_FIGS"
  mkdir -p "$RUN/series"
  LT_STARTED=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  LT_PARAMS="{}"
  # An early stop says why: the last command that failed, where, and with
  # what status (set -E: also inside functions), printed by lt_cleanup.
  set -E
  trap 'LT_FAILED="line $LINENO: $BASH_COMMAND (status $?)"' ERR
  trap lt_cleanup EXIT
  trap 'LT_FAILED="signal"; exit 130' INT TERM
}

lt_cleanup() {
  local rc=$? p
  if [ "$rc" -ne 0 ]; then
    lt_log "stopped with exit status $rc after ${SECONDS}s; last failed command: ${LT_FAILED:-none}; logs in $RUN"
  fi
  for p in "${LT_PIDS[@]}"; do
    kill -TERM "$p" 2>/dev/null
  done
  for _ in $(seq 1 80); do
    local alive=0
    for p in "${LT_PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  for p in "${LT_PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
  if [ -f "$RUN/services.env" ]; then
    RUN_DIR=$RUN "$ROOT/tests/support/services.sh" stop >/dev/null 2>&1
  fi
  # keep logs, drop the bulky data
  rm -rf "$RUN/pg" "$RUN/redis" "$RUN"/*.csv 2>/dev/null
}

# Parameters recorded in the JSON: lt_param key value (numbers or strings).
lt_param() {
  LT_PARAMS=$(jq -c --arg k "$1" --arg v "$2" '.[$k] = ($v | tonumber? // $v)' <<<"$LT_PARAMS")
}

# A figure: printed as a BENCH line and kept for the JSON.
lt_fig() { # name value unit target ok
  local ok=${5:-yes}
  printf 'BENCH name=%s value=%s unit=%s target=%s ok=%s\n' "$1" "$2" "$3" "$4" "$ok"
  printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$ok" >>"$LT_FIGS"
}

# A series point: lt_series name x y (files in $RUN/series).
lt_series() { printf '%s %s\n' "$2" "$3" >>"$RUN/series/$1"; }

# yes/no from an awk comparison: lt_ok "VALUE >= 2000"
lt_ok() {
  case $1 in *nan* | *none*) echo no; return ;; esac
  awk "BEGIN { exit !($1) }" && echo yes || echo no
}

lt_finish() {
  python3 "$ROOT/load-tests/lib/emit.py" "$LT_NAME" "$LT_STARTED" "$LT_PARAMS" "$LT_FIGS" \
    "$RUN/series" >"$OUT/$LT_NAME.json"
  lt_log "wrote $OUT/$LT_NAME.json"
}

# ------------------------------------------------------------------ services

lt_services() {
  local rc=0
  RUN_DIR=$RUN "$ROOT/tests/support/services.sh" start >"$RUN/services.log" 2>&1 || rc=$?
  if [ $rc -ne 0 ]; then
    # services.sh says why; the servers' own logs say more (a port taken: "bind")
    lt_log "PostgreSQL and Redis did not start (services.sh exit $rc):"
    cat "$RUN/services.log" >&2
    tail -n 5 "$RUN/pg/server.log" "$RUN/redis/redis.log" >&2 2>/dev/null
    exit 1
  fi
  # shellcheck disable=SC1091
  set -a
  . "$RUN/services.env"
  set +a
  PSQL=("$DIALER_PG_BIN/psql" -h "$DIALER_PG_SOCKDIR" -p "$DIALER_PG_PORT" -U dialer -v ON_ERROR_STOP=1)
  LT_DB=dialer
  # the load runs want throughput, not durability of a throw-away database
  "${PSQL[@]}" -d postgres -qc "ALTER SYSTEM SET synchronous_commit = off" >/dev/null
  "${PSQL[@]}" -d postgres -qc "SELECT pg_reload_conf()" >/dev/null
}

lt_sql() { "${PSQL[@]}" -d "$LT_DB" -Atc "$1"; }

# pg_stat_database counters of the dialer's database: "commits inserted updated"
lt_pg_stat() {
  lt_sql "SELECT xact_commit, tup_inserted, tup_updated FROM pg_stat_database WHERE datname = '$LT_DB'" |
    tr '|' ' '
}

lt_redis_cmds() {
  redis-cli -p "$DIALER_REDIS_PORT" info stats 2>/dev/null | tr -d '\r' |
    sed -n 's/^total_commands_processed://p'
}

# ------------------------------------------------------------------- ari-sim

# lt_sim SCENARIO_JSON [extra ari-sim args]: SIMPORT, SIMPID, OLOG.
lt_sim() {
  OLOG=$RUN/originate.log
  : >"$OLOG"
  "$B/ari-sim" --port 0 --port-file "$RUN/sim.port" --scenario "$1" --originate-log "$OLOG" \
    --user asterisk --password asterisk --log-level warn "${@:2}" >"$RUN/ari-sim.log" 2>&1 &
  SIMPID=$!
  LT_PIDS+=("$SIMPID")
  for _ in $(seq 1 100); do
    [ -s "$RUN/sim.port" ] && break
    kill -0 "$SIMPID" 2>/dev/null || break
    sleep 0.1
  done
  SIMPORT=$(cat "$RUN/sim.port" 2>/dev/null)
  [ -n "$SIMPORT" ] || { lt_log "ari-sim did not start"; cat "$RUN/ari-sim.log" >&2; exit 1; }
}

lt_sim_stat() { # lt_sim_stat KEY -> value from /_sim/stats
  curl -sS "http://127.0.0.1:$SIMPORT/_sim/stats" | jq -r "$1 // 0"
}

# ------------------------------------------------------------------- dialerd

# Starts dialerd against the services and ari-sim; extra VAR=value settings
# override the defaults. DPID, PORT, U (API base), DLOG.
lt_dialerd() {
  export DIALERD_DB_ADMIN_CONNINFO="host=$DIALER_PG_SOCKDIR port=$DIALER_PG_PORT user=dialer dbname=$LT_DB"
  export DIALERD_DB_CONNINFO="host=$DIALER_PG_SOCKDIR port=$DIALER_PG_PORT user=dialer_app dbname=$LT_DB"
  export DIALERD_REDIS_HOST=127.0.0.1 DIALERD_REDIS_PORT=$DIALER_REDIS_PORT
  export DIALERD_HTTP_STATIC_DIR="" DIALERD_HTTP_PORT=0 DIALERD_HTTP_BIND=127.0.0.1
  export DIALERD_API_PWHASH_OPS=1 DIALERD_API_PWHASH_MEM=64k
  # a throw-away key for this run only, never stored
  DIALERD_API_JWT_KEYS="load=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  export DIALERD_API_JWT_KEYS
  export DIALERD_ARI_URL="http://127.0.0.1:$SIMPORT" DIALERD_ARI_USER=asterisk DIALERD_ARI_PASSWORD=asterisk
  export DIALERD_NODE_ID="load-$LT_NAME"
  export DIALERD_LOG_LEVEL=notice
  export DIALERD_DIALER_ALLOW_MISSING_DNC=true DIALERD_DIALER_POLL=200ms
  export DIALERD_DIALER_CPS=100000 DIALERD_DIALER_MAX_CHANNELS=100000 DIALERD_DIALER_PORTS=100000
  export DIALERD_DIALER_LEASE_BATCH=2000 DIALERD_DIALER_LEASE_TIME=120s DIALERD_DIALER_TALK_TIME=100ms
  export DIALERD_IVR_SOUNDS_DIR="$RUN/sounds" DIALERD_SHUTDOWN_DRAIN_TIMEOUT=3s
  mkdir -p "$RUN/sounds"
  local kv
  for kv in "$@"; do export "${kv?}"; done
  "$B/dialerd" migrate >"$RUN/migrate.log" 2>&1 || { cat "$RUN/migrate.log" >&2; exit 1; }
  LT_PW="load-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  DIALERD_BOOTSTRAP_PASSWORD="$LT_PW" "$B/dialerd" bootstrap --tenant-slug load \
    --email ops@load.test >/dev/null 2>&1 || { lt_log "bootstrap failed"; exit 1; }
  DLOG=$RUN/dialerd.log
  : >"$DLOG"
  # LT_DIALERD_WRAP: a command dialerd runs under (valgrind --tool=massif ...)
  # shellcheck disable=SC2086
  ${LT_DIALERD_WRAP:-} "$B/dialerd" >>"$DLOG" 2>&1 &
  DPID=$!
  LT_PIDS+=("$DPID")
  PORT=
  for _ in $(seq 1 200); do
    PORT=$(sed -n 's/.*server event=listening .* port=\([0-9]*\).*/\1/p' "$DLOG" | head -1)
    [ -n "$PORT" ] && break
    kill -0 "$DPID" 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$PORT" ] || { lt_log "dialerd did not start"; tail -20 "$DLOG" >&2; exit 1; }
  U=http://127.0.0.1:$PORT/api/v1
  lt_login || { lt_log "cannot log in"; exit 1; }
  LT_TENANT=$(lt_sql "SELECT id FROM tenants WHERE slug = 'load'")
}

# A fresh access token in TOK (they expire: long runs log in again on a 401).
lt_login() {
  TOK=
  for _ in $(seq 1 100); do
    TOK=$(curl -sS -XPOST "$U/auth/login" -H 'Content-Type: application/json' \
      -d "{\"email\":\"ops@load.test\",\"password\":\"$LT_PW\"}" 2>/dev/null | jq -r '.access_token // empty')
    [ -n "$TOK" ] && return 0
    sleep 0.1
  done
  return 1
}

# lt_need VALUE WHAT: stops the scenario when an id could not be had.
lt_need() {
  case $1 in '' | null) lt_log "could not create $2"; exit 1 ;; esac
}

# lt_api METHOD PATH [JSON] -> body on stdout; status in $RUN/status
lt_api() {
  local try
  for try in 1 2; do
    curl -sS -o "$RUN/body" -w '%{http_code}' -X "$1" "$U$2" -H "Authorization: Bearer $TOK" \
      -H 'Content-Type: application/json' ${3:+-d "$3"} >"$RUN/status"
    [ "$(cat "$RUN/status")" = 401 ] && [ $try = 1 ] && lt_login && continue
    break
  done
  cat "$RUN/body"
}

lt_api_ok() { # like lt_api, fails (and logs) on a status >= 300
  local out
  local st
  out=$(lt_api "$@")
  st=$(cat "$RUN/status")
  # 000: no answer at all (curl said why on stderr)
  if [ "${st:-0}" -lt 200 ] || [ "$st" -ge 300 ]; then
    lt_log "API $1 $2 answered $(cat "$RUN/status"): $out"
    return 1
  fi
  printf '%s' "$out"
}

# An area code whose federal calling window (8:00-21:00 local) stays open
# for the next hour; empty when none does (10:00-12:00 UTC).
lt_open_npa() {
  local cand h
  for cand in 212:America/New_York 312:America/Chicago 303:America/Denver \
    213:America/Los_Angeles 907:America/Anchorage 808:Pacific/Honolulu 787:America/Puerto_Rico \
    671:Pacific/Guam; do
    h=$(TZ=${cand#*:} date +%H)
    h=$((10#$h))
    if [ "$h" -ge 8 ] && [ "$h" -lt 20 ]; then
      echo "${cand%%:*}"
      return 0
    fi
  done
  return 1
}

# The ari-sim scenario of the outbound runs: every callee answers after
# 50 ms and stays until the flow hangs up; the prompt lasts PROMPT seconds.
lt_answer_scenario() { # FILE [PROMPT_SECONDS]
  cat >"$1" <<EOF
{"name": "load-answer", "seed": 1, "progress": 0.01,
 "media": {"sound:load-prompt": ${2:-0.05}},
 "populations": {"default": [{"weight": 1, "outcome": "answer", "ring": 0.05, "talk": "forever", "amd": "human"}]}}
EOF
}

# Warnings and errors dialerd logged, less the expected ones of the load runs' configuration
# (no national DNC list, no secrets key).
lt_errors() { grep -E ' (ERR|WARN) ' "$DLOG" | grep -Evc 'event=(dnc_national_list|secrets_unconfigured)'; }

# Numbers dialed more than once (ari-sim's originate log).
lt_dups() {
  grep '"event":"originate"' "$OLOG" | sed -n 's/.*"number":"\([^"]*\)".*/\1/p' | sort | uniq -d | wc -l
}

# The outbound flow: answer, one short prompt, hang up (what the peer does).
LT_FLOW_OUT='{"format":"ivrflow/1","name":"load","start":"s","nodes":{"s":{"type":"start","props":{"triggers":["outbound_answered","inbound"]},"next":{"next":"p"}},"p":{"type":"play","props":{"media":["sound:load-prompt"]},"next":{"done":"h","error":"h","interrupted":"h"}},"h":{"type":"hangup","props":{"disposition":"played"}}}}'

# lt_flow -> published flow id
lt_flow() {
  local f
  f=$(lt_api_ok POST /flows "{\"name\":\"load flow\",\"definition\":$LT_FLOW_OUT}" | jq -r .id) || exit 1
  lt_api_ok POST "/flows/$f/publish" '{"message":"load"}' >/dev/null || exit 1
  echo "$f"
}

# lt_list NAME -> list id
lt_list() { lt_api_ok POST /lists "{\"name\":\"$1\"}" | jq -r .id; }

# lt_fill_list LIST N FIRST_NUMBER: N contacts +1<NPA><7 digits> from
# FIRST_NUMBER upwards, N11 exchanges (211, 311, ...: not dialable) skipped,
# inserted directly (the import path is measured by the million scenario).
lt_fill_list() {
  lt_sql "INSERT INTO contacts (tenant_id, list_id, number) SELECT $LT_TENANT, $1, '+1' || ($3 + g)::text FROM generate_series(0, $2 + $2 / 50 + 20000) g WHERE (($3 + g) / 10000) % 100 <> 11 LIMIT $2" >/dev/null
}

# lt_campaign NAME FLOW LIST CPS MAX_CHANNELS -> campaign id (draft)
lt_campaign() {
  local c
  c=$(lt_api_ok POST /campaigns "{\"name\":\"$1\",\"flow_id\":$2,\"settings\":{\"pacing\":{\"mode\":\"fixed\",\"cps\":$4,\"max_channels\":$5},\"retry\":{\"max_attempts\":1},\"ring_time_s\":20}}" | jq -r .id) || exit 1
  lt_api_ok POST "/campaigns/$c/lists/$3" >/dev/null || exit 1
  echo "$c"
}

lt_originates() { grep -c '"event":"originate"' "$OLOG"; }
lt_ends() { grep -c '"event":"end"' "$OLOG"; }

# ---------------------------------------------------------------- sampling

# Process figures of a pid: "utime_s stime_s rss_kb fds"
lt_proc() {
  local pid=$1 tck
  tck=$(getconf CLK_TCK)
  [ -r "/proc/$pid/stat" ] || { echo "0 0 0 0"; return; }
  local st rss fds
  st=$(sed 's/^.*) //' "/proc/$pid/stat")
  rss=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$pid/status")
  fds=$(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
  awk -v t="$tck" -v r="$rss" -v f="$fds" '{ printf "%.2f %.2f %s %s\n", $12 / t, $13 / t, r, f }' <<<"$st"
}

lt_cpu() { lt_proc "$1" | awk '{ printf "%.2f\n", $1 + $2 }'; }

lt_metrics() { curl -sS --max-time 5 "http://127.0.0.1:$PORT/metrics"; }

# Background sampler: every INTERVAL seconds for at most COUNT samples,
# one line "t originates ends utime stime rss fds" in $RUN/samples, and the
# /metrics histogram lines in $RUN/metrics/<t>. lt_sampler_stop ends it.
lt_sampler_start() { # INTERVAL COUNT
  local iv=$1 n=$2
  : >"$RUN/samples"
  mkdir -p "$RUN/metrics"
  (
    t0=$(date +%s.%N)
    for _ in $(seq 1 "$n"); do
      t=$(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN { printf "%.1f", a - b }')
      echo "$t $(lt_originates) $(lt_ends) $(lt_proc "$DPID")" >>"$RUN/samples"
      sleep "$iv"
    done
  ) &
  LT_SAMPLER=$!
  LT_PIDS+=("$LT_SAMPLER")
}

lt_sampler_stop() { kill "$LT_SAMPLER" 2>/dev/null; wait "$LT_SAMPLER" 2>/dev/null; }

# Percentile of a histogram family from two /metrics snapshots (files):
# lt_hist_pct FAMILY Q BEFORE AFTER -> milliseconds
lt_hist_pct() {
  python3 "$ROOT/load-tests/lib/hist.py" "$1" "$2" "$3" "$4"
}

# Waits until CMD prints a value >= WANT, at most SECS seconds.
lt_wait_ge() { # WANT SECS CMD...
  local want=$1 secs=$2 got=0
  shift 2
  for _ in $(seq 1 $((secs * 5))); do
    got=$("$@")
    [ "$got" -ge "$want" ] && return 0
    sleep 0.2
  done
  lt_log "waited ${secs}s for $* >= $want, got $got"
  return 1
}

# The originate log's rate per second: "second count" lines, seconds
# without any counted as 0.
lt_olog_rate() { # EVENT (originate|end)
  grep "\"event\":\"$1\"" "$OLOG" | sed -n 's/.*"time":"[^T]*T\([0-9:]*\)\..*/\1/p' | uniq -c |
    awk '{ split($2, a, ":"); s = a[1] * 3600 + a[2] * 60 + a[3]; if (NR == 1) s0 = s
           if (s < s0) s += 86400; c[s - s0] += $1; if (s - s0 > m) m = s - s0 }
         END { for (i = 0; i <= m && NR > 0; i++) print i, c[i] + 0 }'
}
