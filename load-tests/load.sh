#!/usr/bin/env bash
# The load suite: runs every load-tests/scenarios/*.sh (or those named with
# --only), each against its own private PostgreSQL, Redis, ari-sim and
# dialerd, then turns their JSON into PNG plots and one Markdown report.
#   load-tests/load.sh [--quick] [--only NAME...] [--out DIR] [--report FILE] [--no-docs]
# --quick is the short form (the whole suite in about 3 minutes on an idle
# machine; `make bench` runs it); without it the full form (bounded: under
# an hour plus the 30-minute soak). Scenarios get ROOT, B (release build),
# OUT (this run's results directory) and RUN (a private run directory under
# run/load/).
# Results: load-tests/results/<run date>/ (or --out DIR, e.g. an earlier
# run's directory to complete it with the scenarios it lacked: the report
# then covers every JSON there; JSON, PNG, logs of failures) and
# load-tests/results/REPORT.md (or --report FILE); the rerun scenarios' rows
# in docs/PERFORMANCE.md are replaced unless --no-docs. Exit status: 0 when
# every scenario ran (targets missed are in the report, not in the status).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
QUICK=
ONLY=()
OUT_DIR=
REPORT=$ROOT/load-tests/results/REPORT.md
DOCS=1
while [ $# -gt 0 ]; do
  case $1 in
    --quick) QUICK=--quick ;;
    --out) OUT_DIR=${2:?--out needs a directory}; shift ;;
    --report) REPORT=${2:?--report needs a file}; shift ;;
    --no-docs) DOCS=0 ;;
    --only)
      shift
      while [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; do ONLY+=("$1"); shift; done
      continue
      ;;
    -h | --help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "load.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

export ROOT
export B=${B:-$ROOT/build/release}
case $B in /*) ;; *) B=$ROOT/$B ;; esac
STAMP=$(date -u +%Y-%m-%dT%H%MZ)
export OUT=${OUT_DIR:-$ROOT/load-tests/results/$STAMP}
case $OUT in /*) ;; *) OUT=$ROOT/$OUT ;; esac
mkdir -p "$OUT"

# The programs the scenarios run (release build; B set elsewhere: built by the caller).
if [ "$B" = "$ROOT/build/release" ]; then
  make -s -j2 VARIANT=release build/release/dialerd build/release/ari-sim ari-sim-bench \
    >"$OUT/build.log" 2>&1 || { tail -30 "$OUT/build.log" >&2; exit 1; }
  rm -f "$OUT/build.log"
fi

scenarios=()
for f in "$ROOT"/load-tests/scenarios/*.sh; do
  n=$(basename "$f" .sh)
  if [ ${#ONLY[@]} -gt 0 ]; then
    keep=0
    for o in "${ONLY[@]}"; do [ "$o" = "$n" ] && keep=1; done
    [ $keep = 1 ] || continue
  fi
  scenarios+=("$n")
done
[ ${#scenarios[@]} -gt 0 ] || { echo "load.sh: no scenario selected" >&2; exit 2; }

# Bounds per scenario (seconds): the soak runs 30 minutes in the full form.
limit() {
  if [ -n "$QUICK" ]; then echo 150; elif [ "$1" = soak ]; then echo 2400; else echo 1200; fi
}

status=0
t_start=$(date +%s)
for n in "${scenarios[@]}"; do
  export RUN=$ROOT/run/load/$n
  echo "== $n ${QUICK:-(full)}"
  t0=$(date +%s)
  cut -d' ' -f1-3 /proc/loadavg >"$OUT/$n.load"
  timeout -k 20 "$(limit "$n")" bash "$ROOT/load-tests/scenarios/$n.sh" $QUICK 2> >(tee "$OUT/$n.log" >&2) |
    tee "$OUT/$n.bench"
  rc=${PIPESTATUS[0]}
  cut -d' ' -f1-3 /proc/loadavg >>"$OUT/$n.load"
  echo "== $n: exit $rc in $(($(date +%s) - t0)) s"
  if [ "$rc" -ne 0 ]; then
    status=1
    [ "$rc" -eq 124 ] && echo "== $n: stopped at its time limit ($(limit "$n") s)" >&2
    cp "$RUN"/*.log "$OUT/" 2>/dev/null
    mkdir -p "$OUT/failed-$n"
    cp "$RUN"/*.log "$OUT/failed-$n/" 2>/dev/null
  fi
  rm -f "$OUT/$n.bench"
  [ "$rc" -eq 0 ] && rm -f "$OUT/$n.log"
  # the run directory's bulky files (originate logs, data) are not kept
  rm -rf "$RUN/pg" "$RUN/redis" "$RUN/originate.log" "$RUN"/*.csv "$RUN"/m-* "$RUN/metrics" 2>/dev/null
done
echo "== suite: $(($(date +%s) - t_start)) s"

LOAD_DOCS=$DOCS LOAD_RERUN="${scenarios[*]}" python3 "$ROOT/load-tests/lib/report.py" "$OUT" "$REPORT" \
  "${QUICK:+quick}" "$(($(date +%s) - t_start))" || status=1

# Only the plots of the run REPORT.md shows stay in the tree (a run with its
# own --report, e.g. make bench's, leaves them alone).
if [ "$REPORT" = "$ROOT/load-tests/results/REPORT.md" ]; then
  for d in "$ROOT"/load-tests/results/*/; do
    [ "${d%/}" = "$OUT" ] && continue
    rm -f "$d"*.png
  done
fi
echo "report: ${REPORT#"$ROOT"/} (plots and JSON in ${OUT#"$ROOT"/})"
exit $status
