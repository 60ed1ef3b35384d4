#!/usr/bin/env bash
# burst: from idle to a campaign allowed 5,000 attempts/s at once. N
# contacts (quick 1,000; full 20,000) are ready when the campaign starts;
# measured: the time to the first originate, the time until all N were
# originated and ended, the peak one-second originate rate, originate and
# decision-to-originate percentiles over the burst, dialerd's RSS before and
# at the peak, errors and numbers dialed twice (none expected).
#   burst.sh [--quick]     env ROOT B OUT RUN (see load-tests/load.sh)
set -uo pipefail
# shellcheck source=../lib/common.sh
. "$ROOT/load-tests/lib/common.sh"
lt_init burst "$@"

if [ $LT_QUICK = 1 ]; then N=1000; LIMIT=30; else N=20000; LIMIT=300; fi
CPS=5000
lt_param contacts "$N"
lt_param campaign_cps "$CPS"
NPA=$(lt_open_npa) || { lt_log "no US calling window open now: skipped"; lt_fig burst_skipped 1 flag "" no; lt_finish; exit 0; }
lt_param area_code "$NPA"

lt_answer_scenario "$RUN/scenario.json" 0.5
lt_services
lt_sim "$RUN/scenario.json"
lt_dialerd DIALERD_DB_POOL_SIZE=8
FLOW=$(lt_flow)
lt_need "$FLOW" "the flow"
L=$(lt_list burst)
lt_fill_list "$L" "$N" $((NPA * 10000000 + 2000000))
C=$(lt_campaign burst "$FLOW" "$L" "$CPS" 20000)
lt_need "$C" "the campaign"
sleep 1
read -r _ _ rss0 _ <<<"$(lt_proc "$DPID")"
lt_metrics >"$RUN/m-a"
read -r x0 ins0 upd0 <<<"$(lt_pg_stat)"
c0=$(lt_cpu "$DPID")
lt_sampler_start 0.5 $((LIMIT * 2 + 20))
t0=$(date +%s.%N)
lt_api_ok POST "/campaigns/$C/start" >/dev/null || exit 1
lt_wait_ge 1 10 lt_originates
t_first=$(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN { printf "%.2f", a - b }')
lt_wait_ge "$N" "$LIMIT" lt_originates
t_all=$(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN { printf "%.2f", a - b }')
lt_metrics >"$RUN/m-b"
lt_wait_ge "$N" 60 lt_ends
t_end=$(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN { printf "%.2f", a - b }')
lt_sampler_stop
c1=$(lt_cpu "$DPID")
read -r x1 ins1 upd1 <<<"$(lt_pg_stat)"
orig=$(lt_originates)
ends=$(lt_ends)
lt_olog_rate originate >"$RUN/series/attempts_per_s_over_time"
lt_olog_rate end >"$RUN/series/ends_per_s_over_time"
peak=$(sort -k2 -n "$RUN/series/attempts_per_s_over_time" | tail -1 | awk '{ print $2 }')
rss_peak=$(awk 'BEGIN { m = 0 } $6 > m { m = $6 } END { print m }' "$RUN/samples")
awk '{ print $1, $6 / 1024 }' "$RUN/samples" >"$RUN/series/rss_mb_over_time"
awk '{ print $1, $2 - $3 }' "$RUN/samples" >"$RUN/series/in_flight_over_time"
# attempts/s between the first and the last originate (when not all N were
# originated, t_all is only the bound waited)
rate=$(awk '$2 > 0 { if (f == "") f = $1; l = $1; n += $2 } END { printf "%.0f", (n > 0) ? n / (l - f + 1) : 0 }' \
  "$RUN/series/attempts_per_s_over_time")
[ "$orig" -ge "$N" ] || t_all=none
lt_log "burst of $N: first originate after ${t_first}s, all originated after ${t_all}s ($rate/s, peak $peak/s), all ended after ${t_end}s"
p() { lt_hist_pct "$1" "$2" "$RUN/m-a" "$RUN/m-b"; }
lt_fig burst_time_to_first_originate "$t_first" s "" yes
lt_fig burst_time_to_all_originated "$t_all" s "" yes
lt_fig burst_attempts_per_s "$rate" attempts/s ">=2000" "$(lt_ok "$rate >= 2000")"
lt_fig burst_peak_attempts_per_s "${peak:-0}" attempts/s "" yes
lt_fig burst_originated "$orig" calls "$N" "$(lt_ok "$orig == $N")"
lt_fig burst_ended "$ends" calls "$N" "$(lt_ok "$ends == $N")"
for q in 50 99; do lt_fig "burst_originate_p$q" "$(p dialer_originate_seconds 0.$q)" ms "" yes; done
d99=$(p dialer_decision_to_originate_seconds 0.99)
lt_fig burst_decision_to_originate_p50 "$(p dialer_decision_to_originate_seconds 0.5)" ms "" yes
lt_fig burst_decision_to_originate_p99 "$d99" ms "<=5" "$(lt_ok "$d99 <= 5")"
lt_fig burst_event_to_action_p99 "$(p dialer_event_to_action_seconds 0.99)" ms "" yes
lt_fig burst_cpu_ms_per_call "$(awk -v a="$c1" -v b="$c0" -v n="$ends" 'BEGIN { printf "%.3f", (n > 0) ? (a - b) * 1000 / n : 0 }')" ms "" yes
lt_fig burst_pg_commits "$((x1 - x0))" commits "" yes
lt_fig burst_pg_rows_written "$((ins1 - ins0 + upd1 - upd0))" rows "" yes
lt_fig burst_rss_growth_mb "$(awk -v a="$rss_peak" -v b="$rss0" 'BEGIN { printf "%.1f", (a - b) / 1024 }')" MB "" yes
e=$(lt_errors)
lt_fig burst_errors "$e" lines 0 "$(lt_ok "$e == 0")"
d=$(lt_dups)
lt_fig burst_numbers_dialed_twice "$d" numbers 0 "$(lt_ok "$d == 0")"
lt_finish
