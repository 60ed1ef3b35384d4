#!/usr/bin/env bash
# soak: 30 minutes (--quick: 30 s; SOAK_SECONDS) at a moderate 150 attempts/s, the
# same call as cps-ramp (answer, one prompt, hang up). dialerd's RSS and open
# descriptors are sampled every 5 s (1 s in the quick form); over the second
# half (the first is warm-up: pools, caches, tables and malloc arenas grow to
# the largest number of calls in flight, which overload episodes raise) the
# least-squares slopes must be flat: RSS growing less than 1 MB per 10 minutes and the
# descriptor count not growing (less than one per 10 minutes). Also: the
# attempts/s held, errors, numbers dialed twice.
#   soak.sh [--quick]     env ROOT B OUT RUN (see load-tests/load.sh)
set -uo pipefail
# shellcheck source=../lib/common.sh
. "$ROOT/load-tests/lib/common.sh"
lt_init soak "$@"

if [ $LT_QUICK = 1 ]; then SECS=30; IV=1; else SECS=1800; IV=5; fi
SECS=${SOAK_SECONDS:-$SECS}
CPS=${SOAK_CPS:-150}
lt_param seconds "$SECS"
lt_param campaign_cps "$CPS"
lt_param sample_interval_s "$IV"
NPA=$(lt_open_npa) || { lt_log "no US calling window open now: skipped"; lt_fig soak_skipped 1 flag "" no; lt_finish; exit 0; }
lt_param area_code "$NPA"

lt_answer_scenario "$RUN/scenario.json"
lt_services
lt_sim "$RUN/scenario.json"
lt_dialerd DIALERD_DB_POOL_SIZE=8
FLOW=$(lt_flow)
lt_need "$FLOW" "the flow"
N=$((CPS * SECS * 11 / 10))
L=$(lt_list soak)
lt_fill_list "$L" "$N" $((NPA * 10000000 + 2000000))
C=$(lt_campaign soak "$FLOW" "$L" "$CPS" 5000)
lt_need "$C" "the campaign"
lt_sampler_start "$IV" $((SECS / IV + 10))
lt_api_ok POST "/campaigns/$C/start" >/dev/null || exit 1
t0=$(date +%s)
while [ $(($(date +%s) - t0)) -lt "$SECS" ]; do
  kill -0 "$DPID" 2>/dev/null || { lt_log "dialerd exited"; break; }
  sleep 5
done
lt_sampler_stop
lt_api_ok POST "/campaigns/$C/stop" >/dev/null
awk '{ print $1, $6 / 1024 }' "$RUN/samples" >"$RUN/series/rss_mb_over_time"
awk '{ print $1, $7 }' "$RUN/samples" >"$RUN/series/fds_over_time"
lt_olog_rate originate >"$RUN/series/attempts_per_s_over_time"
read -r rs _ _ <<<"$(python3 "$ROOT/load-tests/lib/slope.py" "$RUN/series/rss_mb_over_time" 0.5)"
read -r fs _ _ <<<"$(python3 "$ROOT/load-tests/lib/slope.py" "$RUN/series/fds_over_time" 0.5)"
half=$(awk '{ r[NR] = $2 } END { printf "%.1f", r[int(NR / 2) + 1] - r[1] }' "$RUN/series/rss_mb_over_time")
rss_10m=$(awk -v s="$rs" 'BEGIN { printf "%.3f", s * 600 }')
fds_10m=$(awk -v s="$fs" 'BEGIN { printf "%.2f", s * 600 }')
orig=$(lt_originates)
el=$(awk 'END { print $1 }' "$RUN/samples")
rate=$(awk -v n="$orig" -v t="$el" 'BEGIN { printf "%.0f", (t > 0) ? n / t : 0 }')
lt_log "$orig attempts in ${el}s ($rate/s); RSS slope $rss_10m MB/10 min, fds slope $fds_10m /10 min"
lt_fig soak_attempts_per_s "$rate" attempts/s "$CPS" "$(lt_ok "$rate >= 0.95 * $CPS")"
if [ "$SECS" -ge 600 ]; then
  lt_fig soak_rss_slope_mb_per_10min "$rss_10m" MB/10min "<1" "$(lt_ok "$rss_10m < 1")"
  lt_fig soak_fd_slope_per_10min "$fds_10m" fds/10min "<1" "$(lt_ok "$fds_10m < 1")"
else
  # a short run is warm-up only (pools, caches, malloc arenas still growing):
  # its slopes are shown, not judged
  lt_fig soak_rss_slope_mb_per_10min "$rss_10m" MB/10min - yes
  lt_fig soak_fd_slope_per_10min "$fds_10m" fds/10min - yes
fi
lt_fig soak_rss_growth_first_half_mb "$half" MB "" yes
lt_fig soak_rss_end_mb "$(awk 'END { printf "%.1f", $6 / 1024 }' "$RUN/samples")" MB "" yes
lt_fig soak_fds_end "$(awk 'END { print $7 }' "$RUN/samples")" fds "" yes
e=$(lt_errors)
lt_fig soak_errors "$e" lines 0 "$(lt_ok "$e == 0")"
d=$(lt_dups)
lt_fig soak_numbers_dialed_twice "$d" numbers 0 "$(lt_ok "$d == 0")"
lt_finish
