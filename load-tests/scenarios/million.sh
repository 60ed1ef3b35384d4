#!/usr/bin/env bash
# million: a 1,000,000-contact campaign (--quick: 20,000). The CSV
# (phone,external_id) is imported through the REST API (one streamed
# upload: parse, normalise, locate, dedupe, COPY, merge); the same rows are
# then loaded by `psql \copy` into another list as the baseline (ratio in the
# report), and removed. A campaign over the imported list dials at up to
# 2,000 attempts/s: measured over a bounded window (quick 10 s, full 10 min
# or until every contact was dialed) the sustained attempts/s, latency
# percentiles, CPU per call, PostgreSQL write rates, dialerd's RSS, errors
# and numbers dialed twice.
#   million.sh [--quick]     env ROOT B OUT RUN (see load-tests/load.sh)
set -uo pipefail
# shellcheck source=../lib/common.sh
. "$ROOT/load-tests/lib/common.sh"
lt_init million "$@"

if [ $LT_QUICK = 1 ]; then N=20000; WINDOW=10; else N=1000000; WINDOW=600; fi
CPS=2000
lt_param contacts "$N"
lt_param campaign_cps "$CPS"
lt_param dial_window_s "$WINDOW"
NPA=$(lt_open_npa) || { lt_log "no US calling window open now: skipped"; lt_fig million_skipped 1 flag "" no; lt_finish; exit 0; }
lt_param area_code "$NPA"

lt_answer_scenario "$RUN/scenario.json"
lt_services
lt_sim "$RUN/scenario.json"
lt_dialerd DIALERD_DB_POOL_SIZE=8

# 1. Import through the API. Numbers NPA-200-0000 upwards (exchanges 200-310,
# N11 exchanges skipped).
# The list is one upload (MILLION_CHUNK rows per upload if set). An import
# still running api.import-wait after its body is in answers 202 with the
# job's Location, which is read until the import ends (bounded).
CHUNK=${MILLION_CHUNK:-$N}
lt_param upload_rows "$CHUNK"
CSV=$RUN/contacts.csv
awk -v n="$N" -v b=$((NPA * 10000000 + 2000000)) 'BEGIN {
  print "phone,external_id"
  for (i = 0; k < n; i++) {
    if (int((b + i) / 10000) % 100 == 11) continue # N11 exchanges are not dialable
    printf "+1%.0f,C%07d\n", b + i, k++ } }' >"$CSV" # %d stops at 2^31 in mawk
bytes=$(stat -c %s "$CSV")
L=$(lt_list million)
lt_need "$L" "the list"
read -r x0 ins0 upd0 <<<"$(lt_pg_stat)"
t0=$(date +%s.%N)
code=201
part=0
for off in $(seq 0 "$CHUNK" $((N - 1))); do
  { echo "phone,external_id"; tail -n +$((off + 2)) "$CSV" | head -n "$CHUNK"; } >"$RUN/part.csv"
  c=$(curl -sS -o "$RUN/upload.json" -w '%{http_code}' --max-time 120 -XPOST "$U/lists/$L/uploads" \
    -H "Authorization: Bearer $TOK" -H 'Content-Type: text/csv' -H "Upload-Id: million-$N-$part" \
    --data-binary @"$RUN/part.csv")
  part=$((part + 1))
  if [ "$c" = 202 ]; then
    job=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["job"]["id"])' "$RUN/upload.json")
    st=running
    for _ in $(seq 1 3600); do # 30 minutes at most
      st=$(curl -sS --max-time 10 "$U/imports/$job" -H "Authorization: Bearer $TOK" |
        python3 -c 'import json,sys; print(json.load(sys.stdin).get("state", "?"))' 2>/dev/null)
      [ "$st" = running ] || [ "$st" = pending ] || [ "$st" = "" ] || break
      sleep 0.5
    done
    lt_log "upload $part answered 202; the import ended $st"
    [ "$st" = completed ] && c=201
  fi
  if [ "$c" != 201 ]; then
    code=$c
    lt_log "upload $part answered $c: $(head -c 300 "$RUN/upload.json")"
    break
  fi
done
t_imp=$(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN { printf "%.2f", a - b }')
read -r x1 ins1 upd1 <<<"$(lt_pg_stat)"
in_db=$(lt_sql "SELECT count(*) FROM contacts WHERE list_id = $L")
imp_rate=$(awk -v n="$in_db" -v t="$t_imp" 'BEGIN { printf "%.0f", n / t }')
lt_log "import: $part uploads, last HTTP $code, $in_db in the list, ${t_imp}s ($imp_rate rows/s, $bytes bytes)"
lt_fig million_import_http_status "$code" status 201 "$(lt_ok "$code == 201")"
lt_fig million_import_rows "$in_db" rows "$N" "$(lt_ok "$in_db == $N")"
lt_fig million_import_seconds "$t_imp" s "" yes
lt_fig million_import_rows_per_s "$imp_rate" rows/s ">=100000" "$(lt_ok "$imp_rate >= 100000")"
lt_fig million_import_pg_rows_written "$((ins1 - ins0 + upd1 - upd0))" rows "" yes
rm -f "$RUN/part.csv"

# 2. Baseline: psql \copy of the same rows into another list of the tenant.
L2=$(lt_list copy-baseline)
lt_need "$L2" "the baseline list"
awk -F, -v t="$LT_TENANT" -v l="$L2" 'NR > 1 { print t "," l "," $1 "," $2 }' "$CSV" >"$RUN/copy.csv"
t0=$(date +%s.%N)
"${PSQL[@]}" -d "$LT_DB" -qc "\\copy contacts (tenant_id, list_id, number, external_id) FROM '$RUN/copy.csv' CSV" >/dev/null
t_copy=$(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN { printf "%.2f", a - b }')
copy_rate=$(awk -v n="$N" -v t="$t_copy" 'BEGIN { printf "%.0f", n / t }')
lt_log "psql \\copy of the same rows: ${t_copy}s ($copy_rate rows/s)"
lt_fig million_psql_copy_rows_per_s "$copy_rate" rows/s "" yes
# time for the same number of rows (the import's rows per second against \copy's)
ratio=$(awk -v a="$imp_rate" -v b="$copy_rate" 'BEGIN { printf "%.2f", (a > 0) ? b / a : 0 }')
lt_fig million_import_time_vs_psql_copy "$ratio" x "<=2" "$(lt_ok "$ratio <= 2")"
lt_sql "DELETE FROM contacts WHERE list_id = $L2" >/dev/null
lt_sql "VACUUM ANALYZE contacts" >/dev/null 2>&1 || "${PSQL[@]}" -d "$LT_DB" -qc "VACUUM ANALYZE contacts" >/dev/null 2>&1
rm -f "$RUN/copy.csv" "$CSV"

# 3. Dial the imported list.
FLOW=$(lt_flow)
lt_need "$FLOW" "the flow"
C=$(lt_campaign million "$FLOW" "$L" "$CPS" 20000)
lt_need "$C" "the campaign"
lt_sampler_start 1 $((WINDOW + 60))
lt_api_ok POST "/campaigns/$C/start" >/dev/null || exit 1
lt_wait_ge 1 15 lt_originates
sleep 2
lt_metrics >"$RUN/m-a"
o0=$(lt_originates)
e0=$(lt_ends)
c0=$(lt_cpu "$DPID")
read -r x0 ins0 upd0 <<<"$(lt_pg_stat)"
t0=$(date +%s.%N)
for _ in $(seq 1 "$WINDOW"); do
  [ "$(lt_originates)" -ge "$N" ] && break
  kill -0 "$DPID" 2>/dev/null || break
  sleep 1
done
t1=$(date +%s.%N)
o1=$(lt_originates)
e1=$(lt_ends)
c1=$(lt_cpu "$DPID")
read -r x1 ins1 upd1 <<<"$(lt_pg_stat)"
lt_metrics >"$RUN/m-b"
lt_api_ok POST "/campaigns/$C/stop" >/dev/null
lt_sampler_stop
dt=$(awk -v a="$t1" -v b="$t0" 'BEGIN { printf "%.2f", a - b }')
rate=$(awk -v n=$((o1 - o0)) -v t="$dt" 'BEGIN { printf "%.0f", n / t }')
lt_log "dialed $o1 of $N; $rate attempts/s over ${dt}s"
lt_olog_rate originate >"$RUN/series/attempts_per_s_over_time"
awk '{ print $1, $6 / 1024 }' "$RUN/samples" >"$RUN/series/rss_mb_over_time"
p() { lt_hist_pct "$1" "$2" "$RUN/m-a" "$RUN/m-b"; }
lt_fig million_dialed "$o1" contacts "$N" "$(lt_ok "$o1 >= $N")"
lt_fig million_attempts_per_s "$rate" attempts/s ">=2000" "$(lt_ok "$rate >= 2000")"
for q in 50 95 99; do lt_fig "million_originate_p$q" "$(p dialer_originate_seconds 0.$q)" ms "" yes; done
d99=$(p dialer_decision_to_originate_seconds 0.99)
lt_fig million_decision_to_originate_p50 "$(p dialer_decision_to_originate_seconds 0.5)" ms "" yes
lt_fig million_decision_to_originate_p99 "$d99" ms "<=5" "$(lt_ok "$d99 <= 5")"
lt_fig million_event_to_action_p99 "$(p dialer_event_to_action_seconds 0.99)" ms "" yes
lt_fig million_cpu_ms_per_call "$(awk -v a="$c1" -v b="$c0" -v n=$((e1 - e0)) 'BEGIN { printf "%.3f", (n > 0) ? (a - b) * 1000 / n : 0 }')" ms "" yes
lt_fig million_pg_commits_per_s "$(awk -v a="$x1" -v b="$x0" -v t="$dt" 'BEGIN { printf "%.0f", (a - b) / t }')" commits/s "" yes
lt_fig million_pg_rows_written_per_s "$(awk -v a="$((ins1 - ins0 + upd1 - upd0))" -v t="$dt" 'BEGIN { printf "%.0f", a / t }')" rows/s "" yes
rss1=$(awk 'END { print $6 }' "$RUN/samples")
lt_fig million_rss_mb_end "$(awk -v a="$rss1" 'BEGIN { printf "%.1f", a / 1024 }')" MB "" yes
e=$(lt_errors)
lt_fig million_errors "$e" lines 0 "$(lt_ok "$e == 0")"
d=$(lt_dups)
lt_fig million_numbers_dialed_twice "$d" numbers 0 "$(lt_ok "$d == 0")"
lt_finish
