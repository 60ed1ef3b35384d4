#!/usr/bin/env bash
# inbound-flood: ari-sim's inbound generator floods one extension whose flow
# answers, plays one short prompt and hangs up (the outbound dialer is off).
# Steps of offered inbound calls per second (Poisson), each measured over its
# steady part: flows completed per second (the prompts ari-sim played),
# calls still up at the end of the step, dialerd CPU time per call, RSS,
# errors. The knee is the first step where fewer than 95 % of the offered
# calls complete.
#   inbound-flood.sh [--quick]     env ROOT B OUT RUN (see load-tests/load.sh)
set -uo pipefail
# shellcheck source=../lib/common.sh
. "$ROOT/load-tests/lib/common.sh"
lt_init inbound-flood "$@"

if [ $LT_QUICK = 1 ]; then RATES=(200 600); SECS=5; else RATES=(100 250 500 1000 1500 2000); SECS=20; fi
WARM=2
lt_param rates "${RATES[*]}"
lt_param step_seconds "$SECS"

scenario() { # RATE -> scenario JSON (the generator starts at once)
  cat <<EOF
{"name": "inbound-flood", "seed": 3,
 "media": {"sound:load-prompt": 0.05},
 "populations": {"default": [{"weight": 1, "outcome": "answer", "ring": 0, "talk": "forever"}],
                 "callers": [{"weight": 1, "talk": "forever"}]},
 "inbound": [{"extension": "2000", "app": "dialer", "context": "inbound", "endpoint": "trunk",
              "caller": "+1415555####", "rate": $1, "start": 0, "max": 10000000, "population": "callers"}]}
EOF
}
echo '{"name": "idle", "seed": 3}' >"$RUN/idle.json"
lt_services
lt_sim "$RUN/idle.json" --dialplan none
lt_dialerd DIALERD_DIALER_ENABLED=false DIALERD_DB_POOL_SIZE=8 DIALERD_EXT_INBOUND_RANGE=2000-2009
FLOW=$(lt_flow)
lt_need "$FLOW" "the flow"
# dialerd provisions the extension inventory shortly after it starts (a
# second later when its first database connection was not up yet)
for _ in $(seq 1 100); do
  grep -q 'event=extensions_provisioned from=2000' "$DLOG" && break
  sleep 0.2
done
EXT=$(lt_api_ok POST "/flows/$FLOW/inbound" | jq -r .extension)
[ "$EXT" = 2000 ] || { lt_log "extension assignment gave $EXT"; exit 1; }

lt_sampler_start 1 $(((SECS + 3) * ${#RATES[@]} + 20))
best=0
knee=
for r in "${RATES[@]}"; do
  scenario "$r" >"$RUN/flood.json"
  curl -sS -o /dev/null -XPOST "http://127.0.0.1:$SIMPORT/_sim/scenario?path=$RUN/flood.json"
  sleep "$WARM"
  i0=$(lt_sim_stat .inbound)
  p0=$(lt_sim_stat .playbacks)
  c0=$(lt_cpu "$DPID")
  t0=$(date +%s.%N)
  sleep $((SECS - WARM))
  t1=$(date +%s.%N)
  i1=$(lt_sim_stat .inbound)
  p1=$(lt_sim_stat .playbacks)
  c1=$(lt_cpu "$DPID")
  up=$(lt_sim_stat .channels_active)
  echo '{"name": "idle", "seed": 3}' >"$RUN/idle.json"
  curl -sS -o /dev/null -XPOST "http://127.0.0.1:$SIMPORT/_sim/scenario?path=$RUN/idle.json"
  dt=$(awk -v a="$t1" -v b="$t0" 'BEGIN { printf "%.3f", a - b }')
  offered=$(awk -v n=$((i1 - i0)) -v t="$dt" 'BEGIN { printf "%.0f", n / t }')
  done_=$(awk -v n=$((p1 - p0)) -v t="$dt" 'BEGIN { printf "%.0f", n / t }')
  cpu=$(awk -v a="$c1" -v b="$c0" -v n=$((p1 - p0)) 'BEGIN { printf "%.3f", (n > 0) ? (a - b) * 1000 / n : 0 }')
  lt_log "rate $r/s: $offered/s arrived, $done_/s flows played, $up calls up, cpu $cpu ms/call"
  lt_series inbound_achieved_vs_offered "$offered" "$done_"
  lt_series cpu_ms_per_call "$r" "$cpu"
  if awk -v d="$done_" -v o="$offered" 'BEGIN { exit !(d >= 0.95 * o) }'; then
    best=$done_
    best_cpu=$cpu
  else
    knee=$r
    break
  fi
  # let the step's calls drain before the next
  for _ in $(seq 1 20); do [ "$(lt_sim_stat .channels_active)" -le 5 ] && break; sleep 0.5; done
done
lt_sampler_stop
awk '{ print $1, $6 / 1024 }' "$RUN/samples" >"$RUN/series/rss_mb_over_time"
lt_fig inbound_sustained_calls_per_s "$best" calls/s "" yes
lt_fig inbound_knee_offered "${knee:-none}" calls/s "" yes
lt_fig inbound_cpu_ms_per_call "${best_cpu:-0}" ms "" yes
ov=$(grep -c 'event=inbound_overflow' "$DLOG")
lt_fig inbound_overflow_refusals "$ov" calls 0 "$(lt_ok "$ov == 0")"
e=$(lt_errors)
lt_fig inbound_errors "$e" lines 0 "$(lt_ok "$e == 0")"
lt_finish
