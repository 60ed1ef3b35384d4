#!/usr/bin/env bash
# A hang-up that Asterisk refuses is sent again: a real dialerd (tests/support/cluster.sh, one
# node, one ari-sim) hangs up answered calls after dialer.talk-time; while those hang-ups are
# due, ari-sim answers every ARI request with 503 for 2 seconds. Checked: every contact still
# reaches a final state, every attempt ends, and no channel is left up on ari-sim (a refused
# hang-up used to leave the call waiting forever for a ChannelDestroyed that never came: the
# channel up, the contact dialing, its channel held in the global cap).
# Run by tests/support/run-all.sh with the services' environment.
set -uo pipefail
ROOT=${DIALER_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
B=${DIALER_BUILD:?}
export DIALER_BUILD=$B
CLUSTER=$ROOT/tests/support/cluster.sh
N=300
fails=0
TMP=$(mktemp -d)
export CLUSTER_DIR=$TMP/cluster CLUSTER_NODES=1 CLUSTER_SIMS=1 CLUSTER_NAME=hr$$
cleanup() {
  "$CLUSTER" stop >/dev/null 2>&1
  rm -rf "$TMP"
}
trap cleanup EXIT
check() {
  local what=$1
  shift
  if "$@"; then echo "ok - $what"; else echo "FAIL - $what"; fails=$((fails + 1)); fi
}
wait_for() { # wait_for <seconds> <command...>: bounded
  for _ in $(seq 1 $(($1 * 5))); do
    "${@:2}" && return 0
    sleep 0.2
  done
  return 1
}

# Every callee answers after 0.2 s and never hangs up: only the dialer ends the calls.
cat >"$TMP/scenario.json" <<'EOF'
{"name": "hangup-retry", "seed": 5,
 "populations": {"default": [{"weight": 1, "outcome": "answer", "ring": 0.2, "talk": "forever"}]}}
EOF
cat >"$TMP/extra.conf" <<'EOF'
dialer.cps = 100
dialer.max-channels = 1000
dialer.poll = 200ms
dialer.lease-time = 10s
dialer.talk-time = 1s
EOF
export CLUSTER_SCENARIO=$TMP/scenario.json CLUSTER_CONF=$TMP/extra.conf
check "dialerd and ari-sim start" "$CLUSTER" start
set -a
# shellcheck disable=SC1091
. "$CLUSTER_DIR/cluster.env"
set +a
PSQL=("$DIALER_PG_BIN/psql" -h "$DIALER_PG_SOCKDIR" -p "$DIALER_PG_PORT" -U dialer -d "$CLUSTER_DB" -v ON_ERROR_STOP=1)
sql() { "${PSQL[@]}" -Atc "$1"; }
sql_is() { [ "$(sql "$1")" = "$2" ]; }
sql "INSERT INTO tenants (slug, name) VALUES ('acme', 'Acme')" >/dev/null
T=$(sql "SELECT id FROM tenants WHERE slug = 'acme'")
F=$(sql "INSERT INTO ivr_flows (tenant_id, name) VALUES ($T, 'f') RETURNING id" | head -1)
C=$(sql "INSERT INTO campaigns (tenant_id, name, flow_id, settings) VALUES ($T, 'c', $F, '{\"pacing\": {\"mode\": \"fixed\", \"cps\": 100, \"max_channels\": 1000}, \"retry\": {\"max_attempts\": 1}, \"ring_time_s\": 20}') RETURNING id" | head -1)
L=$(sql "INSERT INTO contact_lists (tenant_id, name) VALUES ($T, 'l') RETURNING id" | head -1)
sql "INSERT INTO campaign_lists (tenant_id, campaign_id, list_id) VALUES ($T, $C, $L)" >/dev/null
sql "INSERT INTO contacts (tenant_id, list_id, number) SELECT $T, $L, '+1212' || (5550000 + g)::text FROM generate_series(0, $N - 1) g" >/dev/null
active() { curl -s --max-time 2 "$SIM1_URL/_sim/stats" | sed -n 's/.*"channels_active":\([0-9]*\).*/\1/p'; }
answered_up() { [ "$(active)" -ge 40 ]; }

sql "UPDATE campaigns SET state = 'running' WHERE id = $C" >/dev/null
check "calls are answered and up" wait_for 30 answered_up
up=$(active)
curl -s -X POST "$SIM1_URL/_sim/fault?action=fail&seconds=2" >/dev/null
echo "  ari-sim answers 503 for 2 s with $up calls up (their hang-ups due within 1 s)"
unfinished="SELECT count(*) FROM contacts WHERE list_id = $L AND state NOT IN ('done', 'failed')"
check "every contact reaches a final state" wait_for 60 sql_is "$unfinished" 0
check "every attempt ended" wait_for 20 sql_is "SELECT count(*) FROM call_attempts WHERE campaign_id = $C AND ended_at IS NULL" 0
no_channel() { [ "$(active)" = 0 ]; }
check "no channel left up on ari-sim ($(active) now)" wait_for 20 no_channel
check "the refused hang-ups were sent again" grep -q "event=hangup_retry" "$NODE1_LOG"
st=$("$CLUSTER" stop-node 1)
check "dialerd exits 0 on SIGTERM" test "$st" = 0
echo "$fails failed"
[ "$fails" -eq 0 ]
