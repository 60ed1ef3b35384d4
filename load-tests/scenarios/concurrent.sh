#!/usr/bin/env bash
# concurrent: 20,000 calls up at once (--quick: 2,000; CONCURRENT_CALLS). Every callee
# answers and the campaign's flow holds the call (a long wait node), so
# each in-flight call has its dialer call, its campaign record and a live
# flow session. The campaign dials at up to 2,000 attempts/s until N calls
# are up; dialerd's RSS is sampled before the first call and at the plateau:
# (RSS at plateau - RSS idle) / calls up is the memory per in-flight call
# (target 8 KB; issue 9). Also: calls up reached, ramp time, CPU per call
# set up, open descriptors, errors.
#   concurrent.sh [--quick]     env ROOT B OUT RUN (see load-tests/load.sh)
set -uo pipefail
# shellcheck source=../lib/common.sh
. "$ROOT/load-tests/lib/common.sh"
lt_init concurrent "$@"

if [ $LT_QUICK = 1 ]; then N=2000; RAMP=30; else N=20000; RAMP=240; fi
N=${CONCURRENT_CALLS:-$N}
CPS=${CONCURRENT_CPS:-2000}
lt_param target_calls "$N"
lt_param campaign_cps "$CPS"
NPA=$(lt_open_npa) || { lt_log "no US calling window open now: skipped"; lt_fig concurrent_skipped 1 flag "" no; lt_finish; exit 0; }
lt_param area_code "$NPA"

lt_answer_scenario "$RUN/scenario.json"
lt_services
lt_sim "$RUN/scenario.json"
lt_dialerd DIALERD_DB_POOL_SIZE=8 DIALERD_ARI_REQUEST_TIMEOUT=15s
# The flow holds the call for 8 minutes (eight 60 s waits; the run stops it before).
HOLD='{"format":"ivrflow/1","name":"hold","start":"s","nodes":{"s":{"type":"start","props":{"triggers":["outbound_answered"]},"next":{"next":"w1"}}'
for i in 1 2 3 4 5 6 7 8; do
  nx=w$((i + 1))
  [ $i = 8 ] && nx=h
  HOLD+=",\"w$i\":{\"type\":\"wait\",\"props\":{\"duration_ms\":60000},\"next\":{\"next\":\"$nx\"}}"
done
HOLD+=',"h":{"type":"hangup","props":{"disposition":"held"}}}}'
FLOW=$(lt_api_ok POST /flows "{\"name\":\"hold\",\"definition\":$HOLD}" | jq -r .id) || exit 1
lt_api_ok POST "/flows/$FLOW/publish" '{"message":"load"}' >/dev/null || exit 1
L=$(lt_list concurrent)
lt_fill_list "$L" "$N" $((NPA * 10000000 + 2000000))
C=$(lt_campaign concurrent "$FLOW" "$L" "$CPS" $((N + 1000)))
lt_need "$C" "the campaign"
sleep 2
read -r _ _ rss0 fd0 <<<"$(lt_proc "$DPID")"
c0=$(lt_cpu "$DPID")
up() { lt_sim_stat .channels_active; }
lt_sampler_start 1 $((RAMP + 60))
t0=$(date +%s.%N)
lt_api_ok POST "/campaigns/$C/start" >/dev/null || exit 1
reached=0
for _ in $(seq 1 "$RAMP"); do
  reached=$(up)
  [ "$reached" -ge "$N" ] && break
  kill -0 "$DPID" 2>/dev/null || break
  sleep 1
done
t_ramp=$(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN { printf "%.1f", a - b }')
sleep 3 # settle: the last calls' flows start
reached=$(up)
read -r _ _ rss1 fd1 <<<"$(lt_proc "$DPID")"
c1=$(lt_cpu "$DPID")
lt_sampler_stop
per=$(awk -v a="$rss1" -v b="$rss0" -v n="$reached" 'BEGIN { printf "%.0f", (n > 0) ? (a - b) * 1024 / n : 0 }')
lt_log "$reached calls up after ${t_ramp}s; RSS $rss0 -> $rss1 KB: $per bytes per call; fds $fd0 -> $fd1"
awk '{ print $1, $2 - $3 }' "$RUN/samples" >"$RUN/series/in_flight_over_time"
awk '{ print $1, $6 / 1024 }' "$RUN/samples" >"$RUN/series/rss_mb_over_time"
# one point per new level of calls up (the plateau would weigh a single x)
awk '$2 - $3 > last { last = $2 - $3; print last, $6 }' "$RUN/samples" >"$RUN/series/rss_kb_vs_in_flight"
lt_fig concurrent_calls_up "$reached" calls ">=$N" "$(lt_ok "$reached >= $N")"
lt_fig concurrent_ramp_seconds "$t_ramp" s "" yes
lt_fig concurrent_bytes_per_call "$per" bytes "<=8192" "$(lt_ok "$per <= 8192")"
# The marginal cost: slope of RSS against calls up over the ramp (fixed costs excluded).
read -r slope _ _ <<<"$(python3 "$ROOT/load-tests/lib/slope.py" "$RUN/series/rss_kb_vs_in_flight" 0.1)"
marg=$(awk -v s="$slope" 'BEGIN { printf "%.0f", s * 1024 }')
lt_fig concurrent_bytes_per_call_marginal "$marg" bytes "<=8192" "$(lt_ok "$marg <= 8192")"
lt_fig concurrent_rss_idle_mb "$(awk -v a="$rss0" 'BEGIN { printf "%.1f", a / 1024 }')" MB "" yes
lt_fig concurrent_rss_plateau_mb "$(awk -v a="$rss1" 'BEGIN { printf "%.1f", a / 1024 }')" MB "" yes
lt_fig concurrent_cpu_ms_per_call_set_up "$(awk -v a="$c1" -v b="$c0" -v n="$reached" 'BEGIN { printf "%.3f", (n > 0) ? (a - b) * 1000 / n : 0 }')" ms "" yes
lt_fig concurrent_open_fds "$fd1" fds "" yes
e=$(lt_errors)
lt_fig concurrent_errors "$e" lines 0 "$(lt_ok "$e == 0")"
lt_api_ok POST "/campaigns/$C/stop" >/dev/null
lt_finish
