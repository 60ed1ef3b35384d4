#!/usr/bin/env bash
# Starts and stops a local cluster: N dialerd nodes and M ari-sim instances
# sharing one private PostgreSQL database and one Redis (tests/support/services.sh
# must be running and its services.env sourced). Loopback only; every wait is
# bounded.
#
#   cluster.sh start              create the database, migrate, start the sims and the nodes
#   cluster.sh stop               stop every node and sim (SIGTERM, then -9), drop the database
#   cluster.sh kill-node I        kill -9 node I (its pid file is kept, marked dead)
#   cluster.sh start-node I       (re)start node I with its own configuration, same id and port
#   cluster.sh stop-node I        SIGTERM node I and wait (bounded) for its exit status
#   cluster.sh status             one line per node and sim
#   cluster.sh originates [PREFIX [EXCLUDE]]
#                                 facts from the union of the sims' originate logs (numbers
#                                 starting with PREFIX only), one JSON object: originates,
#                                 duplicate numbers and channel ids, the busiest calendar second
#                                 and 1 s window, peak live channels (peak_live leaves out the
#                                 channel ids listed in the file EXCLUDE, peak_live_all does not),
#                                 per-second series
#
# Environment (start):
#   CLUSTER_DIR       directory for the cluster's files (required; created)
#   CLUSTER_NODES     dialerd nodes (default 2)            CLUSTER_SIMS  ari-sim instances (default 1)
#   CLUSTER_NAME      prefix of node ids, ari apps and the database (default cl<pid>)
#   CLUSTER_SCENARIO  ari-sim scenario file (default: the simulator's built-in mix)
#   CLUSTER_CONF      file of extra "name = value" lines appended to every node's configuration
#   CLUSTER_SPREAD    all: every node lists every sim (rotated, so node I prefers sim I);
#                     one: node I uses only sim ((I-1) mod M)+1 (default all)
#   CLUSTER_WAIT      seconds to wait for each node's /readyz (default 60)
#   CLUSTER_SIM_ARGS  extra ari-sim options (e.g. "--time-scale 0.5")
#   CLUSTER_WRAP, CLUSTER_WRAP_NODE  a command put in front of dialerd for node
#                     CLUSTER_WRAP_NODE only (e.g. "valgrind --tool=callgrind --callgrind-out-file=F")
#   DIALER_BUILD      build directory with dialerd and ari-sim (default build/debug)
#
# Each node gets CLUSTER_DIR/node-I/{dialerd.conf,dialerd.log,pid,exit}; its own node.id
# (NAME-nI), HTTP port (fixed at start, kept across restarts) and Stasis application
# (NAME-nI: Asterisk gives an application's events to one WebSocket only, so nodes sharing an
# Asterisk server must use distinct applications). Each sim gets CLUSTER_DIR/sim-J/
# {originate.log,sim.log,port,pid}. CLUSTER_DIR/cluster.env (rewritten on every change) exports:
#   CLUSTER_DIR CLUSTER_NAME CLUSTER_NODES CLUSTER_SIMS CLUSTER_DB CLUSTER_DB_CONNINFO
#   NODE<I>_ID NODE<I>_URL NODE<I>_PID NODE<I>_CONF NODE<I>_LOG
#   SIM<J>_URL SIM<J>_PID SIM<J>_OLOG
# DIALERD_* variables already in the environment reach every node (environment wins over
# the file), except the per-node ones (node id, port, ARI servers and app), which are removed.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# free_port, alive, stop_pid
# shellcheck source=e2e.sh
. "$ROOT/tests/support/e2e.sh"
CMD=${1:-}
DIR=${CLUSTER_DIR:?cluster: set CLUSTER_DIR}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
B=${DIALER_BUILD:-$ROOT/build/debug}
DIALERD=$B/dialerd
SIM=$B/ari-sim
STATE=$DIR/cluster.state

die() {
  echo "cluster: $*" >&2
  exit 1
}

need_services() {
  [ -n "${DIALER_PG_SOCKDIR:-}" ] && [ -n "${DIALER_PG_PORT:-}" ] && [ -n "${DIALER_REDIS_PORT:-}" ] ||
    die "PostgreSQL/Redis environment missing: tests/support/services.sh start; . \$RUN_DIR/services.env"
}

psql_admin() { "$DIALER_PG_BIN/psql" -h "$DIALER_PG_SOCKDIR" -p "$DIALER_PG_PORT" -U dialer -v ON_ERROR_STOP=1 -qAt "$@"; }

load_state() {
  [ -f "$STATE" ] || die "no cluster in $DIR (cluster.sh start)"
  # shellcheck disable=SC1090
  . "$STATE"
}

write_env() {
  local i j f=$DIR/cluster.env.tmp
  {
    echo "export CLUSTER_DIR='$DIR' CLUSTER_NAME='$NAME' CLUSTER_NODES=$NODES CLUSTER_SIMS=$SIMS"
    echo "export CLUSTER_DB='$DB'"
    echo "export CLUSTER_DB_CONNINFO='host=$DIALER_PG_SOCKDIR port=$DIALER_PG_PORT user=dialer dbname=$DB'"
    for i in $(seq 1 "$NODES"); do
      echo "export NODE${i}_ID='$NAME-n$i' NODE${i}_URL='http://127.0.0.1:$(cat "$DIR/node-$i/port")'"
      echo "export NODE${i}_PID='$(cat "$DIR/node-$i/pid" 2>/dev/null)' NODE${i}_CONF='$DIR/node-$i/dialerd.conf'"
      echo "export NODE${i}_LOG='$DIR/node-$i/dialerd.log'"
    done
    for j in $(seq 1 "$SIMS"); do
      echo "export SIM${j}_URL='http://127.0.0.1:$(cat "$DIR/sim-$j/port" 2>/dev/null)' SIM${j}_PID='$(cat "$DIR/sim-$j/pid" 2>/dev/null)'"
      echo "export SIM${j}_OLOG='$DIR/sim-$j/originate.log'"
    done
  } >"$f"
  mv "$f" "$DIR/cluster.env"
}

start_sim() { # start_sim J
  local d=$DIR/sim-$1 port
  mkdir -p "$d"
  port=$(cat "$d/port" 2>/dev/null || echo 0)
  rm -f "$d/port.new"
  # shellcheck disable=SC2086
  "$SIM" --port "$port" --port-file "$d/port.new" ${SCENARIO:+--scenario "$SCENARIO"} \
    --originate-log "$d/originate.log" --system-name "$NAME-s$1" --log-level warn \
    ${CLUSTER_SIM_ARGS:-} >>"$d/sim.log" 2>&1 &
  echo $! >"$d/pid"
  for _ in $(seq 1 100); do [ -s "$d/port.new" ] && break; sleep 0.05; done
  [ -s "$d/port.new" ] || die "ari-sim $1 did not listen (see $d/sim.log)"
  mv "$d/port.new" "$d/port"
}

node_conf() { # node_conf I: writes node-I/dialerd.conf
  local i=$1
  local d=$DIR/node-$i servers="" j k
  for k in $(seq 0 $((SIMS - 1))); do
    j=$(((i - 1 + k) % SIMS + 1))
    if [ "$SPREAD" = one ] && [ "$k" -gt 0 ]; then break; fi
    servers+="${servers:+,}s$j=http://127.0.0.1:$(cat "$DIR/sim-$j/port")"
  done
  {
    echo "# dialerd node $i of cluster $NAME (written by tests/support/cluster.sh)"
    echo "node.id = $NAME-n$i"
    echo "http.bind = 127.0.0.1"
    echo "http.port = $(cat "$d/port")"
    echo "http.static-dir ="
    echo "db.conninfo = host=$DIALER_PG_SOCKDIR port=$DIALER_PG_PORT user=dialer_app dbname=$DB"
    echo "db.admin-conninfo = host=$DIALER_PG_SOCKDIR port=$DIALER_PG_PORT user=dialer dbname=$DB"
    echo "redis.host = 127.0.0.1"
    echo "redis.port = $DIALER_REDIS_PORT"
    echo "ari.servers = $servers"
    echo "ari.user = asterisk"
    echo "ari.app = $NAME-n$i"
    echo "api.jwt-keys-file = $DIR/jwt.keys"
    echo "dnc.channel = dialer:dnc:$NAME"
    echo "dialer.allow-missing-dnc = true"
    [ -n "$EXTRA" ] && cat "$EXTRA"
  } >"$d/dialerd.conf"
}

# The node's environment: the caller's DIALERD_* minus the per-node keys, plus the ARI
# password (ari-sim's default credentials; not a secret of any real server). Execs: run it in
# a child process.
node_env() {
  exec env -u DIALERD_NODE_ID -u DIALERD_HTTP_PORT -u DIALERD_ARI_SERVERS -u DIALERD_ARI_URL \
    -u DIALERD_ARI_APP -u DIALERD_CONFIG -u DIALERD_DB_CONNINFO -u DIALERD_DB_ADMIN_CONNINFO \
    DIALERD_ARI_PASSWORD="${DIALERD_ARI_PASSWORD:-asterisk}" "$@"
}

ready() { # ready I: /readyz answers 200
  [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$(cat "$DIR/node-$1/port")/readyz")" = 200 ]
}

start_node() { # start_node I (configuration written by node_conf)
  local i=$1
  local d=$DIR/node-$i pid
  alive "$(cat "$d/pid" 2>/dev/null)" && die "node $i is already running"
  rm -f "$d/exit" "$d/pid"
  (
    wrap=()
    [ "$i" = "$WRAP_NODE" ] && read -r -a wrap <<<"$WRAP"
    node_env "${wrap[@]}" "$DIALERD" -c "$d/dialerd.conf" >>"$d/dialerd.log" 2>&1 &
    p=$!
    echo "$p" >"$d/pid"
    wait "$p"
    echo $? >"$d/exit"
  ) </dev/null >/dev/null 2>&1 &
  for _ in $(seq 1 50); do [ -s "$d/pid" ] && break; sleep 0.02; done
  pid=$(cat "$d/pid" 2>/dev/null)
  for _ in $(seq 1 $((WAIT * 10))); do
    ready "$i" && { write_env; return 0; }
    alive "$pid" || break
    sleep 0.1
  done
  write_env
  die "node $i not ready within ${WAIT}s (see $d/dialerd.log)"
}

case "$CMD" in
  start)
    need_services
    [ -x "$DIALERD" ] && [ -x "$SIM" ] || die "$DIALERD or $SIM missing (make)"
    [ -f "$STATE" ] && die "a cluster is already in $DIR (cluster.sh stop)"
    NODES=${CLUSTER_NODES:-2}
    SIMS=${CLUSTER_SIMS:-1}
    NAME=${CLUSTER_NAME:-cl$$}
    [[ "$NAME" =~ ^[a-z][a-z0-9_]{0,20}$ ]] || die "CLUSTER_NAME must match [a-z][a-z0-9_]{0,20}"
    DB=cluster_$NAME
    SCENARIO=${CLUSTER_SCENARIO:-}
    EXTRA=${CLUSTER_CONF:-}
    SPREAD=${CLUSTER_SPREAD:-all}
    WAIT=${CLUSTER_WAIT:-60}
    WRAP=${CLUSTER_WRAP:-}
    WRAP_NODE=${CLUSTER_WRAP_NODE:-0}
    [ -n "$SCENARIO" ] && SCENARIO=$(cd "$(dirname "$SCENARIO")" && pwd)/$(basename "$SCENARIO")
    [ -n "$EXTRA" ] && EXTRA=$(cd "$(dirname "$EXTRA")" && pwd)/$(basename "$EXTRA")
    {
      echo "NODES=$NODES SIMS=$SIMS NAME='$NAME' DB='$DB' SPREAD='$SPREAD' WAIT=$WAIT"
      echo "SCENARIO='$SCENARIO' EXTRA='$EXTRA' WRAP_NODE='$WRAP_NODE'"
      printf 'WRAP=%q\n' "$WRAP"
    } >"$STATE"
    (umask 077 && echo "k1=$(head -c 32 /dev/urandom | base64 | tr -d '\n=+/')" >"$DIR/jwt.keys")
    psql_admin -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1
    psql_admin -d postgres -c "CREATE DATABASE $DB" >/dev/null || die "cannot create database $DB"
    for j in $(seq 1 "$SIMS"); do start_sim "$j"; done
    for i in $(seq 1 "$NODES"); do
      mkdir -p "$DIR/node-$i"
      : >"$DIR/node-$i/dialerd.log"
      free_port >"$DIR/node-$i/port"
      node_conf "$i"
    done
    write_env
    (node_env "$DIALERD" -c "$DIR/node-1/dialerd.conf" migrate) >"$DIR/migrate.log" 2>&1 ||
      die "migrate failed (see $DIR/migrate.log)"
    for i in $(seq 1 "$NODES"); do start_node "$i"; done
    echo "cluster: $NODES nodes, $SIMS sims, database $DB (env in $DIR/cluster.env)"
    ;;
  stop)
    [ -f "$STATE" ] || exit 0
    load_state
    for i in $(seq 1 "$NODES"); do stop_pid "$(cat "$DIR/node-$i/pid" 2>/dev/null)" & done
    wait
    for j in $(seq 1 "$SIMS"); do stop_pid "$(cat "$DIR/sim-$j/pid" 2>/dev/null)"; done
    if [ -z "${CLUSTER_KEEP_DB:-}" ] && [ -n "${DIALER_PG_SOCKDIR:-}" ]; then
      psql_admin -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1
    fi
    rm -f "$STATE" "$DIR/jwt.keys"
    ;;
  kill-node)
    load_state
    i=${2:?node number}
    p=$(cat "$DIR/node-$i/pid" 2>/dev/null)
    alive "$p" || die "node $i is not running"
    kill -9 "$p"
    for _ in $(seq 1 100); do alive "$p" || break; sleep 0.02; done
    ;;
  start-node)
    need_services
    load_state
    i=${2:?node number}
    start_node "$i"
    ;;
  stop-node)
    load_state
    i=${2:?node number}
    stop_pid "$(cat "$DIR/node-$i/pid" 2>/dev/null)"
    for _ in $(seq 1 50); do [ -s "$DIR/node-$i/exit" ] && break; sleep 0.1; done
    cat "$DIR/node-$i/exit" 2>/dev/null
    ;;
  status)
    load_state
    for i in $(seq 1 "$NODES"); do
      p=$(cat "$DIR/node-$i/pid" 2>/dev/null)
      echo "node $i $NAME-n$i pid ${p:-?} $(alive "$p" && echo running || echo "stopped (exit $(cat "$DIR/node-$i/exit" 2>/dev/null))") http://127.0.0.1:$(cat "$DIR/node-$i/port")"
    done
    for j in $(seq 1 "$SIMS"); do
      p=$(cat "$DIR/sim-$j/pid" 2>/dev/null)
      echo "sim $j pid ${p:-?} $(alive "$p" && echo running || echo stopped) http://127.0.0.1:$(cat "$DIR/sim-$j/port" 2>/dev/null)"
    done
    ;;
  originates)
    load_state
    logs=()
    for j in $(seq 1 "$SIMS"); do logs+=("$DIR/sim-$j/originate.log"); done
    python3 - "${2:-}" "${3:-}" "${logs[@]}" <<'PYEOF'
import collections, datetime, json, sys
prefix, exclude, files = sys.argv[1], sys.argv[2], sys.argv[3:]
skip = set(open(exclude).read().split()) if exclude else set()
orig, ends, nums, chans = [], {}, collections.Counter(), collections.Counter()
def ms(t):  # "2026-11-24T14:24:20.166+0000" -> epoch milliseconds
    d = datetime.datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%f%z")
    return int(round(d.timestamp() * 1000))
for f in files:
    try:
        fh = open(f)
    except OSError:
        continue
    for line in fh:
        try:
            e = json.loads(line)
        except ValueError:
            continue  # a line cut by a crash of the simulator
        if not e.get("number", "").startswith(prefix):
            continue
        if e.get("event") == "originate":
            orig.append((ms(e["time"]), e["channel"]))
            nums[e["number"]] += 1
            chans[e["channel"]] += 1
        elif e.get("event") == "end":
            ends[e["channel"]] = ms(e["time"])
orig.sort()
per_sec = collections.Counter(t // 1000 for t, _ in orig)
win, j = 0, 0  # busiest sliding 1 s window
for i in range(len(orig)):
    while orig[i][0] - orig[j][0] >= 1000:
        j += 1
    win = max(win, i - j + 1)
def live_peak(keep):
    ev = [(t, 1) for t, c in orig if keep(c)] + [(t, -1) for c, t in ends.items() if c in chans and keep(c)]
    ev.sort(key=lambda x: (x[0], x[1]))  # an end and a start in the same millisecond: end first
    live = peak = 0
    conc = {}
    for t, d in ev:
        live += d
        peak = max(peak, live)
        conc[t // 100] = max(conc.get(t // 100, 0), live)
    return peak, conc
peak, conc = live_peak(lambda c: c not in skip)
peak_all, _ = live_peak(lambda c: True)
print(json.dumps({
    "originates": len(orig), "numbers": len(nums), "dup_numbers": sum(1 for v in nums.values() if v > 1),
    "dup_channels": sum(1 for v in chans.values() if v > 1), "ended": sum(1 for c in chans if c in ends),
    "first_ms": orig[0][0] if orig else 0, "last_ms": orig[-1][0] if orig else 0,
    "max_per_second": max(per_sec.values()) if per_sec else 0, "max_1s_window": win, "peak_live": peak, "peak_live_all": peak_all,
    "per_second": sorted([s, n] for s, n in per_sec.items()),
    "live_100ms": sorted([k * 100, v] for k, v in conc.items())}))
PYEOF
    ;;
  *)
    echo "usage: $0 start|stop|kill-node I|start-node I|stop-node I|status" >&2
    exit 2
    ;;
esac
