#!/usr/bin/env bash
# baselines: what the components can do alone, measured in the same run as
# the product so the report can give ratios.
#   - ari-sim driven by its own C bench (sim/bench) at full speed: call
#     lifecycles per second (originate, StasisStart, play, hang-up);
#   - redis-benchmark against the private Redis: GET/SET/INCR operations/s;
#   - the peer: load-tests/peer/peer.js, the stock ari-client package driving
#     the same call scenario as cps-ramp (originate; on StasisStart answer,
#     play one prompt, hang up) at full speed: calls/s and calls per CPU
#     second of its process.
# (psql \copy, the import baseline, runs inside the million scenario on the
# same CSV.)
#   baselines.sh [--quick]     env ROOT B OUT RUN (see load-tests/load.sh)
set -uo pipefail
# shellcheck source=../lib/common.sh
. "$ROOT/load-tests/lib/common.sh"
lt_init baselines "$@"

if [ $LT_QUICK = 1 ]; then SECS=3; else SECS=20; fi
lt_param seconds "$SECS"

# 1. ari-sim alone.
out=$(timeout $((SECS + 30)) "$B/ari-sim-bench" --seconds "$SECS" --concurrency 4000 --conns 64 --depth 16 2>&1)
rate=$(sed -n 's/^BENCH name=ari_sim_call_lifecycles value=\([0-9.]*\).*/\1/p' <<<"$out")
cpu=$(sed -n 's/.*sim_cpu=\([0-9]*\)%.*/\1/p' <<<"$out")
lt_log "ari-sim alone: ${rate:-?} lifecycles/s at ${cpu:-?} % of one core"
lt_fig ari_sim_lifecycles_per_s "${rate:-0}" calls/s ">=5000" "$(lt_ok "${rate:-0} >= 5000")"
lt_fig ari_sim_cpu_percent_of_core "${cpu:-0}" % "" yes

# 2. Redis alone.
lt_services
rb=$(timeout 120 redis-benchmark -h 127.0.0.1 -p "$DIALER_REDIS_PORT" -q -c 50 \
  -n $((SECS * 25000)) -t get,set,incr --csv 2>/dev/null)
ops=$(awk -F'","' 'NR > 1 { gsub(/"/, "", $2); s += $2; n++ } END { if (n) printf "%.0f", s / n }' <<<"$rb")
lt_log "redis-benchmark: ${ops:-?} ops/s (mean of GET, SET, INCR; 50 clients, no pipelining)"
lt_fig redis_benchmark_ops_per_s "${ops:-0}" ops/s "" yes

# 3. The peer: the same scenario as cps-ramp through the stock ari-client.
PEER=$ROOT/load-tests/peer
if [ ! -d "$PEER/node_modules/ari-client" ]; then
  (cd "$PEER" && timeout 300 npm ci --no-audit --no-fund --loglevel=error) >"$RUN/npm.log" 2>&1 ||
    (cd "$PEER" && timeout 300 npm install --no-audit --no-fund --loglevel=error) >>"$RUN/npm.log" 2>&1
fi
lt_answer_scenario "$RUN/scenario.json"
lt_sim "$RUN/scenario.json"
for conc in ${PEER_CONCURRENCY:-200}; do
  res=$(timeout $((SECS + 60)) node "$PEER/peer.js" "http://127.0.0.1:$SIMPORT" asterisk asterisk \
    "$SECS" "$conc" +1212900 2>"$RUN/peer.log" | tail -1)
  if ! jq -e .calls >/dev/null 2>&1 <<<"$res"; then
    lt_log "peer failed: $(tail -3 "$RUN/peer.log")"
    lt_fig peer_calls_per_s 0 calls/s "" no
    continue
  fi
  cps=$(jq -r '.calls_per_s | floor' <<<"$res")
  cpc=$(jq -r '.calls_per_cpu_s | floor' <<<"$res")
  lt_log "peer (ari-client, $conc in flight): $cps calls/s, $cpc calls per CPU second, $(jq -r .failed <<<"$res") failed"
  lt_param peer_concurrency "$conc"
  lt_fig peer_calls_per_s "$cps" calls/s ">0" "$(lt_ok "$cps > 0")"
  lt_fig peer_calls_per_cpu_second "$cpc" calls/s/core "" yes
  lt_fig peer_failed "$(jq -r .failed <<<"$res")" calls 0 "$(lt_ok "$(jq -r .failed <<<"$res") == 0")"
done
lt_finish
