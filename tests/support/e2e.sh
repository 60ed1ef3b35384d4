# shellcheck shell=bash
# Helpers for the end-to-end shell tests (tests/integration/*.sh) and tests/support/cluster.sh.
# Sourced, never executed:   . "$(dirname "$0")/../support/e2e.sh"
# Every wait is bounded in count and time; every address is loopback.
#
# Reads (from tests/support/services.sh's services.env and the test runner):
#   DIALER_BUILD       build directory with dialerd and ari-sim (required by e2e_init)
#   DIALER_PG_BIN, DIALER_PG_SOCKDIR, DIALER_PG_PORT   the private PostgreSQL (user dialer)
#   DIALER_REDIS_PORT  the private Redis (e2e_env, unless e2e_start_redis ran)
#   DIALER_RUN_DIR     where tests put dialerd logs
#   DIALER_TEST_KEEP   non-empty: keep the test's database and files at exit (printed)
#
# Functions:
#   e2e_init NAME        B DIALERD SIM (binaries), fails=0, pids=() (killed -9 at exit),
#                        DB=test_NAME_<pid> (dropped at exit), TMP (a fresh directory, removed
#                        at exit), PSQL (psql as dialer, ON_ERROR_STOP); installs the EXIT trap.
#                        A test may define e2e_cleanup_extra, called first at exit.
#   check WHAT CMD...    runs CMD: prints "ok - WHAT" or "FAIL - WHAT" (and counts the failure;
#                        with E2E_CHECK_LAST=LABEL set, also "LABEL: $r", the last response)
#   e2e_done             prints "<fails> failed" and exits 0 only if nothing failed
#   sql QUERY, q QUERY   one statement in $DB, unaligned tuples only
#   wait_for SECS CMD... CMD until it succeeds, every 0.1 s, at most SECS seconds
#   wait_sql QUERY WANT SECS   sql QUERY until it prints WANT (says the last value if not)
#   free_port            a loopback TCP port nobody listens on
#   alive PID            the process runs
#   stop_pid PID         SIGTERM, at most 15 s for it to go, then SIGKILL
#   e2e_createdb         creates $DB (empty: run "$DIALERD" migrate)
#   e2e_start_redis      a private Redis on a free port: RPORT (for tests that flush or kill it)
#   e2e_env              exports the DIALERD_* settings every test shares: $DB as dialer_app
#                        (admin as dialer), Redis ($RPORT or the services' one), HTTP on an
#                        ephemeral port without static files, a test JWT key, cheap password
#                        hashing
#   e2e_start_sim SCENARIO [ARGS...]   ari-sim on an ephemeral port with that scenario file
#                        ("" for the built-in mix): SIMPORT, SIM_PID, OLOG (its originate log,
#                        $TMP/originate.log), sim.log in $TMP; exports DIALERD_ARI_URL/USER/
#                        PASSWORD for it. SIMPORT is empty if it did not listen within 5 s.
#   e2e_start_dialerd LOG [ARGS...]   "$DIALERD" ARGS (environment configuration) appended to
#                        LOG: DPID; waits at most 10 s for a new "event=listening" line: DPORT
#                        (empty if none). Works for restarts into the same LOG.
#   e2e_stop_dialerd [PID]   SIGTERM to PID (default $DPID), at most 10 s for it to exit
#   e2e_bootstrap SLUG EMAIL PASSWORD [ARGS...]   "$DIALERD" bootstrap, password from the
#                        environment (never an argument)
#   e2e_login URL EMAIL PASSWORD   POST URL/auth/login until it answers a token (at most 10 s):
#                        prints the last answer's body
#   jget JSON EXPR       the value of the Python expression EXPR over j (the parsed JSON):
#                        JSON for objects, lists, booleans and null, the plain value otherwise
#   api METHOD PATH [JSON]   curl METHOD $U$PATH with "Authorization: Bearer $TOK": prints
#                        "<status> <body>"; status R and body R split such an answer
#   sql_is QUERY WANT    sql QUERY prints exactly WANT
#
# Cluster tests (tests/support/cluster.sh: several dialerd nodes and ari-sims, one database):
#   e2e_cluster_init NAME NODES SIMS   B (binaries), CLUSTER (cluster.sh), fails=0, TMP (a fresh
#                        directory); exports CLUSTER_DIR=$TMP/cluster, CLUSTER_NODES,
#                        CLUSTER_SIMS, CLUSTER_NAME=NAME<pid>, and CLUSTER_SCENARIO and
#                        CLUSTER_CONF as $TMP/scenario.json and $TMP/extra.conf (the test writes
#                        both before e2e_cluster_start); the EXIT trap stops the cluster (which
#                        drops its database) and removes TMP.
#   e2e_cluster_start WHAT   cluster.sh start, checked as WHAT, then e2e_cluster_env
#   e2e_cluster_env      (re)loads cluster.env (again after a node restart): the NODE<I>_* and
#                        SIM<J>_* variables; DB and PSQL so that sql, sql_is and wait_sql run in
#                        the cluster's database
#   e2e_cluster_tenant PW   bootstraps tenant acme with operator ops@acme.test (password PW,
#                        from stdin) through node 1's configuration: T (checked), F (a flow)
#   e2e_cluster_campaign NAME FIRST COUNT   prints the id of a new draft campaign NAME on flow F
#                        with its own list of COUNT contacts +1FIRST, +1(FIRST+1), ...: fixed
#                        pacing far above the nodes' caps, one attempt a contact, 20 s ring time
#   e2e_cluster_shutdown PATTERN   SIGTERM to each node, checked to exit 0; checked that no
#                        number matching PATTERN (grep regex) is in full in the nodes' logs

e2e_init() {
  B=${DIALER_BUILD:?set DIALER_BUILD}
  DIALERD=$B/dialerd
  SIM=$B/ari-sim
  fails=0
  pids=()
  DB=test_${1:?e2e_init NAME}_$$
  TMP=$(mktemp -d)
  PSQL=("$DIALER_PG_BIN/psql" -h "$DIALER_PG_SOCKDIR" -p "$DIALER_PG_PORT" -U dialer -v ON_ERROR_STOP=1)
  trap e2e_cleanup EXIT
}

e2e_cleanup() {
  declare -F e2e_cleanup_extra >/dev/null && e2e_cleanup_extra
  local p
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  [ -n "${DIALER_TEST_KEEP:-}" ] && { echo "kept: database $DB, files $TMP"; return; }
  "${PSQL[@]}" -d postgres -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1
  rm -rf "$TMP"
}

check() {
  local what=$1
  shift
  if "$@"; then
    echo "ok - $what"
  else
    echo "FAIL - $what"
    [ -n "${E2E_CHECK_LAST:-}" ] && { echo "  $E2E_CHECK_LAST: ${r:-}" | head -c 600; echo; }
    fails=$((fails + 1))
  fi
}

e2e_done() {
  echo "$fails failed"
  [ "$fails" -eq 0 ]
  exit
}

sql() { "${PSQL[@]}" -d "$DB" -Atc "$1"; }
q() { sql "$1"; }
sql_is() { [ "$(sql "$1")" = "$2" ]; }

wait_for() {
  local secs=$1 i
  shift
  for ((i = 0; i < secs * 10; i++)); do
    "$@" && return 0
    sleep 0.1
  done
  "$@"
}

wait_sql() {
  local q=$1 want=$2 secs=$3 got='' i
  for ((i = 0; i < secs * 10; i++)); do
    got=$(sql "$q")
    [ "$got" = "$want" ] && return 0
    sleep 0.1
  done
  echo "  waited ${secs}s for [$q] = $want, last $got" >&2
  return 1
}

free_port() {
  python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

stop_pid() {
  local p=$1 i
  alive "$p" || return 0
  kill -TERM "$p" 2>/dev/null
  for ((i = 0; i < 150; i++)); do
    alive "$p" || return 0
    sleep 0.1
  done
  kill -9 "$p" 2>/dev/null
}

e2e_createdb() { "${PSQL[@]}" -d postgres -qc "CREATE DATABASE $DB" >/dev/null; }

e2e_start_redis() {
  local i
  RPORT=$(free_port)
  redis-server --port "$RPORT" --bind 127.0.0.1 --save "" --appendonly no >"$TMP/redis.log" 2>&1 &
  RPID=$!
  pids+=("$RPID")
  for ((i = 0; i < 50; i++)); do
    redis-cli -p "$RPORT" ping >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}

e2e_env() {
  export DIALERD_DB_ADMIN_CONNINFO="host=$DIALER_PG_SOCKDIR port=$DIALER_PG_PORT user=dialer dbname=$DB"
  export DIALERD_DB_CONNINFO="host=$DIALER_PG_SOCKDIR port=$DIALER_PG_PORT user=dialer_app dbname=$DB"
  export DIALERD_REDIS_HOST=127.0.0.1 DIALERD_REDIS_PORT=${RPORT:-$DIALER_REDIS_PORT}
  [ -n "${RPORT:-}" ] && export DIALERD_REDIS_SOCKET=""
  export DIALERD_HTTP_STATIC_DIR="" DIALERD_HTTP_PORT=0
  export DIALERD_API_PWHASH_OPS=1 DIALERD_API_PWHASH_MEM=64k
  export DIALERD_API_JWT_KEYS="main=dialerd-test-secret-0123456789abcdef0123"
}

e2e_start_sim() {
  local scenario=$1 i
  shift
  OLOG=$TMP/originate.log
  rm -f "$TMP/sim.port"
  "$SIM" --port 0 --port-file "$TMP/sim.port" ${scenario:+--scenario "$scenario"} \
    --originate-log "$OLOG" --log-level warn "$@" >>"$TMP/sim.log" 2>&1 &
  SIM_PID=$!
  pids+=("$SIM_PID")
  for ((i = 0; i < 50; i++)); do
    [ -s "$TMP/sim.port" ] && break
    sleep 0.1
  done
  SIMPORT=$(cat "$TMP/sim.port" 2>/dev/null)
  export DIALERD_ARI_URL="http://127.0.0.1:$SIMPORT" DIALERD_ARI_USER=asterisk
  export DIALERD_ARI_PASSWORD=asterisk
}

e2e_start_dialerd() {
  local log=$1 seen i
  shift
  touch "$log"
  seen=$(grep -c 'server event=listening' "$log")
  "$DIALERD" "$@" >>"$log" 2>&1 &
  DPID=$!
  pids+=("$DPID")
  DPORT=
  for ((i = 0; i < 100; i++)); do
    DPORT=$(grep 'server event=listening' "$log" | tail -n +"$((seen + 1))" |
      sed -n 's/.* port=\([0-9]*\).*/\1/p' | head -1)
    [ -n "$DPORT" ] && return 0
    alive "$DPID" || return 1
    sleep 0.1
  done
  return 1
}

e2e_stop_dialerd() {
  local p=${1:-$DPID} i
  kill -TERM "$p" 2>/dev/null
  for ((i = 0; i < 100; i++)); do
    alive "$p" || return 0
    sleep 0.1
  done
  return 1
}

e2e_bootstrap() {
  local slug=$1 email=$2 pw=$3
  shift 3
  DIALERD_BOOTSTRAP_PASSWORD="$pw" "$DIALERD" bootstrap --tenant-slug "$slug" --email "$email" "$@"
}

e2e_login() {
  local url=$1 email=$2 pw=$3 body='' i
  for ((i = 0; i < 100; i++)); do
    body=$(curl -sS --max-time 5 -XPOST "$url/auth/login" -H 'Content-Type: application/json' \
      -d "{\"email\":\"$email\",\"password\":\"$pw\"}" 2>/dev/null)
    grep -q '"access_token"' <<<"$body" && break
    sleep 0.1
  done
  printf '%s\n' "$body"
}

api() {
  local out
  out=$(curl -sS --max-time 30 -X "$1" "$U$2" -H "Authorization: Bearer $TOK" \
    -H 'Content-Type: application/json' ${3:+-d "$3"} -w '\n%{http_code}')
  printf '%s %s\n' "$(tail -n1 <<<"$out")" "$(sed '$d' <<<"$out")"
}
status() { cut -d' ' -f1 <<<"$1"; }
body() { cut -d' ' -f2- <<<"$1"; }

jget() {
  python3 -c 'import json,sys
j=json.loads(sys.argv[1])
v=eval(sys.argv[2])
print(json.dumps(v) if isinstance(v,(dict,list,tuple,bool)) or v is None else v)' "$1" "$2" 2>/dev/null
}

e2e_cluster_init() {
  B=${DIALER_BUILD:?set DIALER_BUILD}
  export DIALER_BUILD=$B
  CLUSTER=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/cluster.sh
  fails=0
  TMP=$(mktemp -d)
  export CLUSTER_DIR=$TMP/cluster CLUSTER_NODES=$2 CLUSTER_SIMS=$3 CLUSTER_NAME=$1$$
  export CLUSTER_SCENARIO=$TMP/scenario.json CLUSTER_CONF=$TMP/extra.conf
  trap e2e_cluster_cleanup EXIT
}

e2e_cluster_cleanup() {
  "$CLUSTER" stop >/dev/null 2>&1
  rm -rf "$TMP"
}

e2e_cluster_start() {
  check "$1" "$CLUSTER" start
  e2e_cluster_env
}

e2e_cluster_env() {
  set -a
  # shellcheck disable=SC1091
  . "$CLUSTER_DIR/cluster.env"
  set +a
  DB=$CLUSTER_DB
  PSQL=("$DIALER_PG_BIN/psql" -h "$DIALER_PG_SOCKDIR" -p "$DIALER_PG_PORT" -U dialer -v ON_ERROR_STOP=1)
}

e2e_cluster_tenant() {
  printf '%s\n' "$1" | DIALERD_ARI_PASSWORD=asterisk "$B/dialerd" -c "$NODE1_CONF" bootstrap \
    --tenant-slug acme --email ops@acme.test >/dev/null 2>&1
  T=$(sql "SELECT id FROM tenants WHERE slug = 'acme'")
  check "tenant bootstrapped" test -n "$T"
  F=$(sql "INSERT INTO ivr_flows (tenant_id, name) VALUES ($T, 'f') RETURNING id" | head -1)
}

# e2e_cluster_campaign NAME FIRST_NUMBER COUNT [EXTRA_SETTINGS]: EXTRA_SETTINGS are more
# members of the settings object (', "trunks": [...]').
e2e_cluster_campaign() {
  local settings c l
  settings='{"pacing": {"mode": "fixed", "cps": 1000, "max_channels": 1000}, "retry": {"max_attempts": 1}, "ring_time_s": 20'"${4:-}"'}'
  c=$(sql "INSERT INTO campaigns (tenant_id, name, flow_id, settings) VALUES ($T, '$1', $F, '$settings') RETURNING id" | head -1)
  l=$(sql "INSERT INTO contact_lists (tenant_id, name) VALUES ($T, 'l-$1') RETURNING id" | head -1)
  sql "INSERT INTO campaign_lists (tenant_id, campaign_id, list_id) VALUES ($T, $c, $l)" >/dev/null
  sql "INSERT INTO contacts (tenant_id, list_id, number) SELECT $T, $l, '+1' || ($2 + g)::text FROM generate_series(0, $3 - 1) g" >/dev/null
  echo "$c"
}

e2e_cluster_shutdown() {
  local i st
  for ((i = 1; i <= CLUSTER_NODES; i++)); do
    st=$("$CLUSTER" stop-node "$i")
    check "node $i exits 0 on SIGTERM" test "$st" = 0
  done
  check "no phone number in full in the logs" \
    bash -c "! grep -q '$1' '$CLUSTER_DIR'/node-*/dialerd.log"
  check "no sanitizer report in the logs" \
    bash -c "! grep -qE 'Sanitizer|runtime error' '$CLUSTER_DIR'/node-*/dialerd.log"
}
