#!/usr/bin/env bash
# cps-ramp: steady steps of offered call attempts per second until the knee.
# One campaign per step (fixed pacing at the step's CPS, one attempt per
# contact, the flow answers with one short prompt and hangs up; ari-sim
# answers every call after 50 ms); the ramp starts at 100/s so that a busy
# machine still shows its knee. Each step is measured over its steady
# part: achieved attempts/s (ari-sim's originate log), originate,
# decision-to-originate and event-to-action latency percentiles (dialerd's
# /metrics histograms), dialerd CPU time per call, PostgreSQL commits and
# rows per second, errors. The knee is the first step where the achieved
# rate falls under 95 % of the offered one or the originate p99 exceeds ten
# times the first step's and 250 ms (half of dialer.originate-target, above
# which dialerd itself holds launches back); the ramp stops there.
#   cps-ramp.sh [--quick]     env ROOT B OUT RUN (see load-tests/load.sh)
set -uo pipefail
# shellcheck source=../lib/common.sh
. "$ROOT/load-tests/lib/common.sh"
lt_init cps-ramp "$@"

if [ $LT_QUICK = 1 ]; then
  STEPS=(250 1000 2000)
  SECS=5
else
  STEPS=(100 250 500 1000 1500 2000 2500 3000 4000 5000)
  SECS=30
fi
WARM=2
lt_param steps "${STEPS[*]}"
lt_param step_seconds "$SECS"
lt_param warmup_seconds "$WARM"

NPA=$(lt_open_npa) || { lt_log "no US calling window open now (10:00-12:00 UTC): skipped"; lt_fig cps_ramp_skipped 1 flag "" no; lt_finish; exit 0; }
lt_param area_code "$NPA"

lt_answer_scenario "$RUN/scenario.json"
lt_services
lt_sim "$RUN/scenario.json"
lt_dialerd DIALERD_DB_POOL_SIZE=8
lt_param db_pool_size 8
FLOW=$(lt_flow)
lt_need "$FLOW" "the flow"

declare -a CAMPS
base=$((NPA * 10000000 + 2000000))
for i in "${!STEPS[@]}"; do
  n=$((STEPS[i] * (SECS + 2) * 11 / 10))
  l=$(lt_list "ramp-$i")
  lt_fill_list "$l" "$n" $((base + i * 200000))
  CAMPS[i]=$(lt_campaign "ramp-$i" "$FLOW" "$l" "${STEPS[i]}" 20000)
  lt_need "${CAMPS[i]}" "the campaign of step $i"
done
lt_log "dialerd pid $DPID on port $PORT, ari-sim on $SIMPORT, ${#STEPS[@]} steps of ${SECS}s"

lt_sampler_start 1 $(((SECS + 4) * ${#STEPS[@]} + 30))
first_p99=
knee=
best=0
best_cpu_ms=
errs0=$(lt_sim_stat .http_4xx)
for i in "${!STEPS[@]}"; do
  cps=${STEPS[i]}
  lt_api_ok POST "/campaigns/${CAMPS[i]}/start" >/dev/null || exit 1
  sleep "$WARM"
  lt_metrics >"$RUN/m-$i-a"
  o0=$(lt_originates)
  e0=$(lt_ends)
  c0=$(lt_cpu "$DPID")
  read -r x0 ins0 upd0 <<<"$(lt_pg_stat)"
  r0=$(lt_redis_cmds)
  t0=$(date +%s.%N)
  sleep $((SECS - WARM))
  t1=$(date +%s.%N)
  o1=$(lt_originates)
  e1=$(lt_ends)
  c1=$(lt_cpu "$DPID")
  read -r x1 ins1 upd1 <<<"$(lt_pg_stat)"
  r1=$(lt_redis_cmds)
  lt_metrics >"$RUN/m-$i-b"
  lt_api_ok POST "/campaigns/${CAMPS[i]}/stop" >/dev/null
  dt=$(awk -v a="$t1" -v b="$t0" 'BEGIN { printf "%.3f", a - b }')
  ach=$(awk -v n=$((o1 - o0)) -v t="$dt" 'BEGIN { printf "%.0f", n / t }')
  ends=$((e1 - e0))
  cpu_ms=$(awk -v c="$c1" -v d="$c0" -v n="$ends" 'BEGIN { printf "%.3f", (n > 0) ? (c - d) * 1000 / n : 0 }')
  p() { lt_hist_pct "$1" "$2" "$RUN/m-$i-a" "$RUN/m-$i-b"; }
  o50=$(p dialer_originate_seconds 0.5)
  o99=$(p dialer_originate_seconds 0.99)
  d99=$(p dialer_decision_to_originate_seconds 0.99)
  a99=$(p dialer_event_to_action_seconds 0.99)
  commits=$(awk -v a="$x1" -v b="$x0" -v t="$dt" 'BEGIN { printf "%.0f", (a - b) / t }')
  rows=$(awk -v a="$ins1" -v b="$ins0" -v c="$upd1" -v d="$upd0" -v t="$dt" 'BEGIN { printf "%.0f", (a - b + c - d) / t }')
  rops=$(awk -v a="$r1" -v b="$r0" -v t="$dt" 'BEGIN { printf "%.0f", (a - b) / t }')
  rpc=$(awk -v a="$r1" -v b="$r0" -v n="$ends" 'BEGIN { printf "%.1f", (n > 0) ? (a - b) / n : 0 }')
  lt_series redis_ops_per_s "$cps" "$rops"
  lt_series pg_rows_per_s "$cps" "$rows"
  lt_log "step $cps/s: achieved $ach/s, originate p50 $o50 p99 $o99 ms, decision p99 $d99 ms, event-to-action p99 $a99 ms, cpu $cpu_ms ms/call, pg $commits commits/s $rows rows/s"
  lt_series achieved_vs_offered "$cps" "$ach"
  lt_series originate_p99_ms "$cps" "$o99"
  lt_series originate_p50_ms "$cps" "$o50"
  lt_series decision_p99_ms "$cps" "$d99"
  lt_series event_to_action_p99_ms "$cps" "$a99"
  lt_series cpu_ms_per_call "$cps" "$cpu_ms"
  lt_series pg_commits_per_s "$cps" "$commits"
  [ -z "$first_p99" ] && first_p99=$o99
  exploded=$(awk -v p="$o99" -v f="$first_p99" 'BEGIN { print ((p != "nan" && p > 10 * f && p > 250) ? 1 : 0) }')
  short=$(awk -v a="$ach" -v o="$cps" 'BEGIN { print ((a < 0.95 * o) ? 1 : 0) }')
  if [ "$short" = 0 ] && [ "$exploded" = 0 ]; then
    best=$ach
    best_i=$i
    best_cpu_ms=$cpu_ms
    best_rops=$rops
    best_rpc=$rpc
    best_rows=$rows
  else
    knee=$cps
    lt_log "knee at $cps/s offered (achieved $ach/s, originate p99 $o99 ms)"
    break
  fi
  sleep 1
done
lt_sampler_stop
errs1=$(lt_sim_stat .http_4xx)
errors=$(lt_errors)

# The figures of the best sustained step.
bi=${best_i:-0}
pb() { lt_hist_pct "$1" "$2" "$RUN/m-$bi-a" "$RUN/m-$bi-b"; }
lt_fig cps_ramp_sustained_attempts_per_s "$best" attempts/s ">=2000" "$(lt_ok "$best >= 2000")"
lt_fig cps_ramp_knee_offered_cps "${knee:-none}" attempts/s "" yes
for q in 50 95 99; do
  v=$(pb dialer_originate_seconds 0.$q)
  lt_fig "cps_ramp_originate_p$q" "$v" ms "" yes
done
for q in 50 95 99; do
  v=$(pb dialer_decision_to_originate_seconds 0.$q)
  if [ $q = 99 ]; then
    lt_fig cps_ramp_decision_to_originate_p99 "$v" ms "<=5" "$(lt_ok "$v <= 5")"
  else
    lt_fig "cps_ramp_decision_to_originate_p$q" "$v" ms "" yes
  fi
done
for q in 50 95 99; do
  lt_fig "cps_ramp_event_to_action_p$q" "$(pb dialer_event_to_action_seconds 0.$q)" ms "" yes
done
lt_fig cps_ramp_cpu_ms_per_call "${best_cpu_ms:-0}" ms "" yes
cpc=$(awk -v m="${best_cpu_ms:-0}" 'BEGIN { printf "%.0f", (m > 0) ? 1000 / m : 0 }')
lt_fig cps_ramp_calls_per_cpu_second "$cpc" calls/s/core "" yes
lt_fig cps_ramp_pg_commits_per_s "$(awk -v i="$bi" 'NR == i + 1 { print $2 }' "$RUN/series/pg_commits_per_s")" commits/s "" yes
lt_fig cps_ramp_pg_rows_written_per_s "${best_rows:-0}" rows/s "" yes
lt_fig cps_ramp_redis_ops_per_s "${best_rops:-0}" ops/s "" yes
lt_fig cps_ramp_redis_ops_per_call "${best_rpc:-0}" ops "" yes
lt_fig cps_ramp_errors "$errors" lines 0 "$(lt_ok "$errors == 0")"
lt_fig cps_ramp_ari_4xx "$((errs1 - errs0))" responses 0 "$(lt_ok "$errs1 - $errs0 == 0")"
dups=$(lt_dups)
lt_fig cps_ramp_numbers_dialed_twice "$dups" numbers 0 "$(lt_ok "$dups == 0")"
awk '{ print $1, $6 / 1024 }' "$RUN/samples" >"$RUN/series/rss_mb_over_time"
lt_olog_rate originate >"$RUN/series/attempts_per_s_over_time"
lt_finish
