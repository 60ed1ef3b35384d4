#!/usr/bin/env bash
# Scale-out: several dialerd nodes on one campaign (tests/support/cluster.sh: 3 nodes, 2
# ari-sim, one private PostgreSQL and Redis), global caps dialer.cps and dialer.max-channels.
#   load-tests/scenarios/multinode.sh [--quick]
# Environment (load-tests/load.sh sets them; standalone defaults in brackets): ROOT [the
# checkout], B release build [ROOT/build/release], OUT results [load-tests/results/multinode-
# <date>], RUN private run directory [run/load/multinode].
# Phases:
#   A  one campaign run to the end on 3 nodes: calls/s total and per node, cap adherence
#      (busiest calendar second against dialer.cps, peak live channels against
#      dialer.max-channels, from the union of the sims' originate logs), duplicates, and the
#      cost per call of each part: dialerd CPU (/proc), PostgreSQL statements (the nodes'
#      db_queries_total), transactions and rows written (pg_stat_database), Redis commands
#      (INFO commandstats), ari-sim CPU and HTTP requests;
#   B  a second campaign with node 3 killed (kill -9) mid-run: reclaim time (kill to the first
#      of its leased contacts dialed by a survivor), duplicates, caps; node 3 restarted settles
#      its attempts in flight, every contact final;
#   C  a small run on 2 nodes and 1 sim with node 1 under callgrind (counting only while the
#      campaign runs: callgrind_control -z / -d): instructions per call of one node;
#   D  saturation: the same campaign on 1 node and on 3 nodes (2 sims) with caps far above
#      what the machine does: calls/s and dialerd CPU per call of each, and their ratio (on 2
#      shared cores more nodes cannot add throughput; this shows what they cost). Full form
#      only.
# Prints BENCH lines and writes $OUT/multinode.json ({"scenario","started","params",
# "figures","series"}). Every wait is bounded; everything listens on loopback.
set -uo pipefail
ROOT=${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$ROOT" || exit 2
B=${B:-$ROOT/build/release}
case $B in /*) ;; *) B=$ROOT/$B ;; esac
QUICK=0
for a in "$@"; do
  case $a in
    --quick) QUICK=1 ;;
    *) echo "multinode: unknown argument $a" >&2; exit 2 ;;
  esac
done
OUT=${OUT:-$ROOT/load-tests/results/multinode-$(date -u +%Y-%m-%dT%H%MZ)}
RUN=${RUN:-$ROOT/run/load/multinode}
mkdir -p "$OUT" "$RUN"
rm -rf "${RUN:?}"/*
STARTED=$(date -u +%Y-%m-%dT%H:%M:%SZ)
CLUSTER=$ROOT/tests/support/cluster.sh
export DIALER_BUILD=$B DIALER_ROOT=$ROOT
[ -x "$B/dialerd" ] && [ -x "$B/ari-sim" ] || { echo "multinode: $B/dialerd or ari-sim missing (make VARIANT=release)" >&2; exit 2; }

if [ $QUICK = 1 ]; then
  N=1500 CPS=250 MAXCH=150 NCG=150 CGCPS=30 WAIT=120 NSAT=1000
else
  N=20000 CPS=400 MAXCH=300 NCG=1500 CGCPS=40 WAIT=900 NSAT=12000
fi
FIGS=$RUN/figures.tsv
SERIES=$RUN/series
mkdir -p "$SERIES"
: >"$FIGS"
log() { echo "[multinode $(date -u +%H:%M:%S)] $*" >&2; }
fig() { # fig name value unit target ok
  printf 'BENCH name=%s value=%s unit=%s target=%s ok=%s\n' "$1" "$2" "$3" "$4" "${5:-yes}"
  printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "${5:-yes}" >>"$FIGS"
}
ok() { awk "BEGIN { exit !($1) }" && echo yes || echo no; }
calc() { awk "BEGIN { printf \"%.${2:-2}f\", $1 }"; }

cleanup() {
  for d in "$RUN"/cluster-*; do
    [ -d "$d" ] && CLUSTER_DIR=$d "$CLUSTER" stop >/dev/null 2>&1
  done
  RUN_DIR=$RUN/services "$ROOT/tests/support/services.sh" stop >/dev/null 2>&1
  rm -rf "$RUN/services/pg" "$RUN/services/redis" "$RUN"/cluster-*/sim-*/originate.log 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM

RUN_DIR=$RUN/services "$ROOT/tests/support/services.sh" start >/dev/null || exit 1
set -a
# shellcheck disable=SC1091
. "$RUN/services/services.env"
set +a
REDIS=(redis-cli -h 127.0.0.1 -p "$DIALER_REDIS_PORT")

cat >"$RUN/scenario.json" <<'EOF'
{"name": "multinode", "seed": 7,
 "populations": {"default": [{"weight": 1, "outcome": "answer", "ring": 0.3, "talk": "forever"}]},
 "rules": [
   {"number": "*[0-4]", "outcome": "answer", "ring": 0.3, "talk": "forever"},
   {"number": "*[5-7]", "outcome": "busy", "ring": 0.1, "ringing": false},
   {"number": "*[89]", "outcome": "congestion", "ring": 0.1}
 ]}
EOF
conf() { # conf <cps> <max channels> > file
  cat <<EOF
dialer.cps = $1
dialer.max-channels = $2
dialer.poll = 200ms
dialer.lease-time = 5s
dialer.lease-batch = 100
dialer.talk-time = 1s
log.level = notice
EOF
}

cluster_env() {
  set -a
  # shellcheck disable=SC1091
  . "$CLUSTER_DIR/cluster.env"
  set +a
  PSQL=("$DIALER_PG_BIN/psql" -h "$DIALER_PG_SOCKDIR" -p "$DIALER_PG_PORT" -U dialer -d "$CLUSTER_DB" -v ON_ERROR_STOP=1)
}
sql() { "${PSQL[@]}" -Atc "$1"; }
wait_sql() { # wait_sql <sql> <want> <seconds>
  for _ in $(seq 1 $(($3 * 5))); do
    [ "$(sql "$1")" = "$2" ] && return 0
    sleep 0.2
  done
  return 1
}
setup_tenant() {
  sql "INSERT INTO tenants (slug, name) VALUES ('acme', 'Acme')" >/dev/null
  T=$(sql "SELECT id FROM tenants WHERE slug = 'acme'")
  F=$(sql "INSERT INTO ivr_flows (tenant_id, name) VALUES ($T, 'f') RETURNING id" | head -1)
}
SETTINGS='{"pacing": {"mode": "fixed", "cps": 10000, "max_channels": 10000}, "retry": {"max_attempts": 1}, "ring_time_s": 20}'
mk_campaign() { # name first-number count -> campaign id
  local c l
  c=$(sql "INSERT INTO campaigns (tenant_id, name, flow_id, settings) VALUES ($T, '$1', $F, '$SETTINGS') RETURNING id" | head -1)
  l=$(sql "INSERT INTO contact_lists (tenant_id, name) VALUES ($T, 'l-$1') RETURNING id" | head -1)
  sql "INSERT INTO campaign_lists (tenant_id, campaign_id, list_id) VALUES ($T, $c, $l)" >/dev/null
  sql "INSERT INTO contacts (tenant_id, list_id, number) SELECT $T, $l, '+1' || ($2 + g)::text FROM generate_series(0, $3 - 1) g" >/dev/null
  echo "$c"
}
unfinished() { echo "SELECT count(*) FROM contacts c JOIN campaign_lists cl USING (list_id) WHERE cl.campaign_id = $1 AND c.state NOT IN ('done', 'failed')"; }
orig() { cat "$SIM1_OLOG" "${SIM2_OLOG:-/dev/null}" 2>/dev/null | grep '"event":"originate"' | grep -c "\"number\":\"+1$1"; }
cpu_ms() { # CPU time (user + system) of a pid in ms
  awk -v hz="$(getconf CLK_TCK)" '{ print int(($14 + $15) * 1000 / hz) }' "/proc/$1/stat" 2>/dev/null || echo 0
}
metric() { # metric <url> <name>: a core counter of a node's /metrics
  curl -s --max-time 5 "$1/metrics" | awk -v n="$2" '$1 == n { print $2 }' | head -1
}
redis_calls() { "${REDIS[@]}" INFO commandstats | tr -d '\r' | sed -n 's/^cmdstat_\([^:]*\):calls=\([0-9]*\).*/\1 \2/p' | sort; }
pg_stat() { sql "SELECT xact_commit, tup_inserted + tup_updated + tup_deleted FROM pg_stat_database WHERE datname = current_database()"; }
sim_stat() { curl -s --max-time 5 "$1/_sim/stats" | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j.get(sys.argv[1], 0))' "$2"; }

# ------------------------------------------------------------------ phase A
export CLUSTER_DIR=$RUN/cluster-a CLUSTER_NODES=3 CLUSTER_SIMS=2 CLUSTER_NAME=mnl$$
export CLUSTER_SCENARIO=$RUN/scenario.json CLUSTER_CONF=$RUN/a.conf
conf "$CPS" "$MAXCH" >"$RUN/a.conf"
log "phase A: 3 nodes, 2 sims, $N contacts, dialer.cps $CPS, dialer.max-channels $MAXCH"
"$CLUSTER" start >&2 || exit 1
cluster_env
setup_tenant
C1=$(mk_campaign a 2125500000 "$N")
C2=$(mk_campaign b 3135500000 $((N / 2)))
sql "VACUUM ANALYZE" >/dev/null 2>&1
declare -A cpu0 q0 k0
for i in 1 2 3; do
  p=NODE${i}_PID u=NODE${i}_URL
  cpu0[$i]=$(cpu_ms "${!p}")
  q0[$i]=$(metric "${!u}" db_queries_total)
  k0[$i]=$(metric "${!u}" kv_commands_total)
done
s0cpu=$(($(cpu_ms "$SIM1_PID") + $(cpu_ms "$SIM2_PID")))
s0req=$(($(sim_stat "$SIM1_URL" http_requests) + $(sim_stat "$SIM2_URL" http_requests)))
redis_calls >"$RUN/redis0.txt"
read -r x0 w0 <<<"$(pg_stat | tr '|' ' ')"
sql "UPDATE campaigns SET state = 'running' WHERE id = $C1" >/dev/null
wait_sql "$(unfinished "$C1")" 0 "$WAIT" || log "campaign A did not finish in ${WAIT}s"
wait_sql "SELECT count(*) FROM call_logs WHERE campaign_id = $C1" "$N" 30 || log "call logs of A incomplete"
sleep 1
declare -A cpu1 q1 k1
for i in 1 2 3; do
  p=NODE${i}_PID u=NODE${i}_URL
  cpu1[$i]=$(cpu_ms "${!p}")
  q1[$i]=$(metric "${!u}" db_queries_total)
  k1[$i]=$(metric "${!u}" kv_commands_total)
done
s1cpu=$(($(cpu_ms "$SIM1_PID") + $(cpu_ms "$SIM2_PID")))
s1req=$(($(sim_stat "$SIM1_URL" http_requests) + $(sim_stat "$SIM2_URL" http_requests)))
redis_calls >"$RUN/redis1.txt"
read -r x1 w1 <<<"$(pg_stat | tr '|' ' ')"
"$CLUSTER" originates +1212 >"$RUN/facts-a.json"
FA=$RUN/facts-a.json
jq_() { python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$@"; }
done_a=$(sql "SELECT count(*) FROM call_attempts WHERE campaign_id = $C1")
dur=$(jq_ "$FA" '(j["last_ms"] - j["first_ms"]) / 1000.0')
[ "$(ok "$dur > 0")" = yes ] || dur=1
fig multinode_calls_per_sec_total "$(calc "$done_a / $dur" 1)" calls/s "dialer.cps=$CPS"
for i in 1 2 3; do
  n=$(sql "SELECT count(*) FROM call_attempts WHERE campaign_id = $C1 AND dialer_node = '$CLUSTER_NAME-n$i'")
  fig "multinode_calls_per_sec_node$i" "$(calc "$n / $dur" 1)" calls/s "-"
  fig "multinode_dialerd_cpu_us_per_call_node$i" "$(calc "(${cpu1[$i]} - ${cpu0[$i]}) * 1000 / ($n > 0 ? $n : 1)" 0)" us "-"
  sql "SELECT extract(epoch FROM date_trunc('second', started_at))::bigint, count(*) FROM call_attempts WHERE campaign_id = $C1 AND dialer_node = '$CLUSTER_NAME-n$i' GROUP BY 1 ORDER BY 1" |
    tr '|' ' ' >"$SERIES/calls_per_sec_node$i"
done
cpu_all=0 q_all=0 k_all=0
for i in 1 2 3; do
  cpu_all=$((cpu_all + cpu1[$i] - cpu0[$i]))
  q_all=$((q_all + ${q1[$i]:-0} - ${q0[$i]:-0}))
  k_all=$((k_all + ${k1[$i]:-0} - ${k0[$i]:-0}))
done
mps=$(jq_ "$FA" 'j["max_per_second"]')
peak=$(jq_ "$FA" 'j["peak_live"]')
fig multinode_cps_adherence_pct "$(calc "$mps * 100 / $CPS" 1)" % "<=105" "$(ok "$mps * 100 <= $CPS * 105")"
fig multinode_channels_adherence_pct "$(calc "$peak * 100 / $MAXCH" 1)" % "<=105" "$(ok "$peak * 100 <= $MAXCH * 105")"
dups=$(jq_ "$FA" 'j["dup_numbers"] + j["dup_channels"]')
fig multinode_duplicates "$dups" contacts 0 "$(ok "$dups == 0")"
fig multinode_dialerd_cpu_us_per_call "$(calc "$cpu_all * 1000 / $done_a" 0)" us "-"
fig multinode_pg_statements_per_call "$(calc "$q_all / $done_a" 2)" statements "-"
fig multinode_pg_transactions_per_call "$(calc "($x1 - $x0) / $done_a" 2)" transactions "-"
fig multinode_pg_rows_written_per_call "$(calc "($w1 - $w0) / $done_a" 2)" rows "-"
rc=$(join -a2 -e0 -o 2.1,1.2,2.2 "$RUN/redis0.txt" "$RUN/redis1.txt" | awk '{ d = $3 - $2; t += d; printf "%s=%d ", $1, d > "/dev/stderr" } END { print t }' 2>"$RUN/redis-by-command.txt")
fig multinode_redis_commands_per_call "$(calc "$rc / $done_a" 2)" commands "-"
fig multinode_redis_client_commands_per_call "$(calc "$k_all / $done_a" 2)" commands "-"
fig multinode_sim_cpu_us_per_call "$(calc "($s1cpu - $s0cpu) * 1000 / $done_a" 0)" us "-"
fig multinode_sim_http_requests_per_call "$(calc "($s1req - $s0req) / $done_a" 2)" requests "-"
log "Redis commands by name over phase A: $(cat "$RUN/redis-by-command.txt")"
jq_ "$FA" '"\n".join("%d %d" % (t, n) for t, n in j["per_second"])' >"$SERIES/originates_per_sec"
jq_ "$FA" '"\n".join("%d %d" % (t, n) for t, n in j["live_100ms"])' >"$SERIES/live_channels"

# ------------------------------------------------------------------ phase B
NB=$((N / 2))
log "phase B: $NB contacts, node 3 killed mid-run"
sql "UPDATE campaigns SET state = 'running' WHERE id = $C2" >/dev/null
for _ in $(seq 1 $((WAIT * 10))); do
  [ "$(orig 313)" -ge $((NB / 4)) ] && [ "$(sql "SELECT count(*) FROM contacts WHERE lease_owner = '$NODE3_ID' AND state = 'leased'")" -gt 0 ] && break
  sleep 0.1
done
"$CLUSTER" kill-node 3
kill_ms=$(date +%s%3N)
sql "SELECT id FROM contacts WHERE lease_owner = '$NODE3_ID' AND state = 'leased'" | paste -sd, >"$RUN/leased3.txt"
sql "SELECT id FROM call_attempts WHERE campaign_id = $C2 AND dialer_node = '$NODE3_ID' AND ended_at IS NULL" >"$RUN/inflight3.txt"
nd=$(sql "SELECT count(*) FROM contacts WHERE lease_owner = '$NODE3_ID' AND state = 'dialing'")
log "killed node 3 after $(orig 313) originates: $(tr ',' '\n' <"$RUN/leased3.txt" | grep -c .) leased, $nd dialing"
wait_sql "$(unfinished "$C2")" "$nd" "$WAIT" || log "survivors did not finish B"
L3=$(cat "$RUN/leased3.txt")
if [ -n "$L3" ]; then
  first=$(sql "SELECT (extract(epoch FROM min(started_at)) * 1000)::bigint FROM call_attempts WHERE contact_id IN ($L3) AND dialer_node <> '$NODE3_ID'")
  fig multinode_reclaim_ms "$((first - kill_ms))" ms "lease 5s + liveness 15s" "$(ok "$first - $kill_ms <= 30000")"
fi
"$CLUSTER" start-node 3 >&2
cluster_env
wait_sql "$(unfinished "$C2")" 0 120 || log "B not settled after the restart"
"$CLUSTER" originates +1313 "$RUN/inflight3.txt" >"$RUN/facts-b.json"
FB=$RUN/facts-b.json
dupb=$(jq_ "$FB" 'j["dup_numbers"] + j["dup_channels"]')
fig multinode_kill_duplicates "$dupb" contacts 0 "$(ok "$dupb == 0")"
fig multinode_kill_unsettled "$(sql "$(unfinished "$C2")")" contacts 0 "$(ok "$(sql "$(unfinished "$C2")") == 0")"
mps=$(jq_ "$FB" 'j["max_per_second"]')
peak=$(jq_ "$FB" 'j["peak_live"]')
peak_all=$(jq_ "$FB" 'j["peak_live_all"]')
fig multinode_kill_cps_adherence_pct "$(calc "$mps * 100 / $CPS" 1)" % "<=105" "$(ok "$mps * 100 <= $CPS * 105")"
fig multinode_kill_channels_adherence_pct "$(calc "$peak * 100 / $MAXCH" 1)" % "<=105" "$(ok "$peak * 100 <= $MAXCH * 105")"
fig multinode_kill_channels_with_dead_calls_pct "$(calc "$peak_all * 100 / $MAXCH" 1)" % "<=105" "$(ok "$peak_all * 100 <= $MAXCH * 105")"
jq_ "$FB" '"\n".join("%d %d" % (t, n) for t, n in j["live_100ms"])' >"$SERIES/kill_live_channels"
jq_ "$FB" '"\n".join("%d %d" % (t, n) for t, n in j["per_second"])' >"$SERIES/kill_originates_per_sec"
"$CLUSTER" stop >&2

# ------------------------------------------------------------------ phase C
if command -v valgrind >/dev/null && command -v callgrind_control >/dev/null; then
  export CLUSTER_DIR=$RUN/cluster-c CLUSTER_NODES=2 CLUSTER_SIMS=1 CLUSTER_NAME=mnc$$ CLUSTER_WAIT=300
  export CLUSTER_CONF=$RUN/c.conf CLUSTER_WRAP_NODE=1
  export CLUSTER_WRAP="valgrind --tool=callgrind --callgrind-out-file=$RUN/callgrind.out.%p"
  conf "$CGCPS" 1000 >"$RUN/c.conf"
  log "phase C: node 1 of 2 under callgrind, $NCG contacts at $CGCPS/s"
  if "$CLUSTER" start >&2; then
    cluster_env
    setup_tenant
    C3=$(mk_campaign c 4145500000 "$NCG")
    callgrind_control -z "$NODE1_PID" >/dev/null 2>&1
    sql "UPDATE campaigns SET state = 'running' WHERE id = $C3" >/dev/null
    wait_sql "$(unfinished "$C3")" 0 "$WAIT" || log "campaign C did not finish"
    wait_sql "SELECT count(*) FROM call_logs WHERE campaign_id = $C3" "$NCG" 60 || log "call logs of C incomplete"
    sleep 1
    rm -f "$RUN"/callgrind.out.*
    callgrind_control -d "$NODE1_PID" >/dev/null 2>&1
    n1=$(sql "SELECT count(*) FROM call_attempts WHERE campaign_id = $C3 AND dialer_node = '$NODE1_ID'")
    ir=$(cat "$RUN"/callgrind.out.* 2>/dev/null | sed -n 's/^summary: *\([0-9]*\).*/\1/p' | sort -n | tail -1)
    if [ -n "$ir" ] && [ "$n1" -gt 0 ]; then
      fig multinode_instructions_per_call_node "$((ir / n1))" instructions "-"
      log "callgrind: $ir instructions for $n1 calls of node 1 (lease, begin, originate, events, finish, call log, metrics)"
    fi
    "$CLUSTER" stop >&2
  fi
fi

# ------------------------------------------------------------------ phase D
saturate() { # saturate <nodes>: prints "calls/s cpu-us-per-call"
  local n=$1 c i p t0=0 t1=0 fs
  export CLUSTER_DIR=$RUN/cluster-d$n CLUSTER_NODES=$n CLUSTER_SIMS=2 CLUSTER_NAME=mnd$n$$ CLUSTER_WAIT=60
  export CLUSTER_CONF=$RUN/d.conf CLUSTER_WRAP='' CLUSTER_WRAP_NODE=0
  conf 5000 5000 >"$RUN/d.conf"
  "$CLUSTER" start >&2 || return 1
  cluster_env
  setup_tenant
  c=$(mk_campaign d 5155500000 "$NSAT")
  for i in $(seq 1 "$n"); do p=NODE${i}_PID; t0=$((t0 + $(cpu_ms "${!p}"))); done
  sql "UPDATE campaigns SET state = 'running' WHERE id = $c" >/dev/null
  wait_sql "$(unfinished "$c")" 0 "$WAIT" || log "saturation run on $n nodes did not finish"
  for i in $(seq 1 "$n"); do p=NODE${i}_PID; t1=$((t1 + $(cpu_ms "${!p}"))); done
  "$CLUSTER" originates +1515 >"$RUN/facts-d$n.json"
  fs=$RUN/facts-d$n.json
  jq_ "$fs" '"\n".join("%d %d" % (t, n) for t, n in j["per_second"])' >"$SERIES/saturation_originates_per_sec_${n}node"
  echo "$(jq_ "$fs" 'round(j["originates"] * 1000.0 / max(1, j["last_ms"] - j["first_ms"]), 1)') $(calc "($t1 - $t0) * 1000 / $NSAT" 0)"
  "$CLUSTER" stop >&2
}
# The quick form (make bench) skips it: a capacity figure needs the full form's run.
r1='' r3=''
if [ $QUICK = 0 ]; then
  log "phase D: saturation, $NSAT contacts on 1 node, then on 3"
  read -r r1 u1 <<<"$(saturate 1)"
  read -r r3 u3 <<<"$(saturate 3)"
fi
if [ -n "${r1:-}" ] && [ -n "${r3:-}" ]; then
  fig multinode_saturation_calls_per_sec_1node "$r1" calls/s "-"
  fig multinode_saturation_calls_per_sec_3nodes "$r3" calls/s "-"
  fig multinode_saturation_ratio_3_to_1 "$(calc "$r3 / $r1" 2)" ratio "-"
  fig multinode_saturation_dialerd_cpu_us_per_call_1node "$u1" us "-"
  fig multinode_saturation_dialerd_cpu_us_per_call_3nodes "$u3" us "-"
fi

python3 - "$STARTED" "$FIGS" "$SERIES" "$QUICK" "$N" "$CPS" "$MAXCH" "$NCG" >"$OUT/multinode.json" <<'PYEOF'
import json, os, sys
started, figs, sdir, quick, n, cps, maxch, ncg = sys.argv[1:9]
def num(v):
    try:
        f = float(v)
        return int(f) if f.is_integer() else f
    except ValueError:
        return v
figures = []
for line in open(figs):
    p = line.rstrip("\n").split("\t")
    if len(p) == 5:
        figures.append({"name": p[0], "value": num(p[1]), "unit": p[2], "target": p[3], "ok": p[4]})
series = {}
for s in sorted(os.listdir(sdir)):
    pts = []
    for line in open(os.path.join(sdir, s)):
        p = line.split()
        if len(p) == 2:
            pts.append([num(p[0]), num(p[1])])
    series[s] = pts
json.dump({"scenario": "multinode", "started": started,
           "params": {"quick": quick == "1", "nodes": 3, "sims": 2, "contacts": int(n),
                      "dialer_cps": int(cps), "dialer_max_channels": int(maxch),
                      "callgrind_contacts": int(ncg)},
           "figures": figures, "series": series}, sys.stdout, indent=1)
PYEOF
log "results in $OUT/multinode.json"
