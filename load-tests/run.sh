#!/usr/bin/env bash
# Benchmark runner. `make bench` runs `run.sh quick`: the quick form of every
# benchmark the issues name, in about 5 minutes on an idle machine, and one
# table of every figure against its target; `make load` runs `run.sh full`
# (the benchmarks' long form; the Makefile then runs the full load suite).
#   run.sh quick|full
#
# 1. Each load-tests/bench_*.c program (built by the Makefile, release build)
#    runs with the mode as its argument (source "bench"), with a private
#    PostgreSQL and Redis (tests/support/services.sh, RUN_DIR run/bench-services;
#    their environment exported for the benchmarks that need a database)
#    unless DIALER_PG_CONNINFO is already set.
# 2. quick only: the load suite's quick form, every scenario of
#    load-tests/scenarios/ (`load.sh --quick --out load-tests/results/bench
#    --no-docs`; source "scenario"). BENCH_SCENARIOS=0 skips it.
# Both print lines of the form
#   BENCH name=<figure> value=<number> unit=<unit> target=<target> ok=<yes|no>
# Then the one table: every figure with a target (value, target, met,
# source, issue), then every target of load-tests/targets.tsv that no figure
# of this run measured ("not measured"). Printed, and written as Markdown
# with the figures that have no target to load-tests/results/BENCH.md.
# Exit status: 1 when a benchmark or scenario failed to run; a missed
# target is a finding in the table, not a failure.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
MODE=${1:-quick}
case $MODE in quick | full) ;; *) echo "usage: run.sh quick|full" >&2; exit 2 ;; esac
B=${B:-build/release}
case $B in /*) ;; *) B=$ROOT/$B ;; esac
OUT=load-tests/results
mkdir -p "$OUT"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
t_start=$(date +%s)
read -r load0 _ </proc/loadavg

SVC=
if [ -z "${DIALER_PG_CONNINFO:-}" ]; then
  SVC=$ROOT/run/bench-services
  if RUN_DIR=$SVC tests/support/services.sh start >"$tmp/services.log" 2>&1; then
    set -a
    # shellcheck disable=SC1091
    . "$SVC/services.env"
    set +a
  else
    echo "run.sh: PostgreSQL and Redis did not start; the benchmarks needing them skip:" >&2
    cat "$tmp/services.log" >&2
    status=1
  fi
fi
stop_services() {
  [ -n "$SVC" ] || return 0
  RUN_DIR=$SVC tests/support/services.sh stop >/dev/null 2>&1
  # the load scenarios start their own: none of these may leak to them
  for v in $(sed -n 's/^\(export \)\{0,1\}\([A-Z_]*\)=.*/\2/p' "$SVC/services.env" 2>/dev/null); do
    unset "$v"
  done
  rm -rf "$SVC"
  SVC=
}
trap 'stop_services; rm -rf "$tmp"' EXIT

for bin in "$B"/load-tests/bench_*; do
  case $bin in *.o | *.d) continue ;; esac
  [ -x "$bin" ] || continue
  echo "== $(basename "$bin") ($MODE)"
  t0=$(date +%s)
  timeout 600 "$bin" "$MODE" | tee "$tmp/out"
  rc=${PIPESTATUS[0]}
  [ "$rc" -ne 0 ] && { echo "== $(basename "$bin"): exit $rc" >&2; status=1; }
  sed -n 's/^BENCH \(.*\)/\1 source=bench/p' "$tmp/out" >>"$tmp/lines"
  echo "== $(basename "$bin"): $(($(date +%s) - t0)) s"
done
t_bench=$(($(date +%s) - t_start))
stop_services

t_scen=0
if [ "$MODE" = quick ] && [ "${BENCH_SCENARIOS:-1}" != 0 ]; then
  t0=$(date +%s)
  rm -rf "$OUT/bench"
  B=$B load-tests/load.sh --quick --out "$OUT/bench" --report "$OUT/bench/REPORT.md" \
    --no-docs | tee "$tmp/out"
  [ "${PIPESTATUS[0]}" -ne 0 ] && status=1
  sed -n 's/^BENCH \(.*\)/\1 source=scenario/p' "$tmp/out" >>"$tmp/lines"
  t_scen=$(($(date +%s) - t0))
fi
touch "$tmp/lines"
read -r load1 _ </proc/loadavg

python3 - "$tmp/lines" load-tests/targets.tsv "$OUT/BENCH.md" "$MODE" "$t_bench" "$t_scen" \
  "$load0" "$load1" "$(nproc)" <<'EOF'
import datetime, re, sys
lines, targets, md, mode, t_bench, t_scen, load0, load1, ncpu = sys.argv[1:10]
figs = []
for line in open(lines):
    m = re.match(r'name=(\S+) value=(\S*) unit=(\S*) target=(\S*) ok=(\S+).* source=(\S+)$',
                 line.strip())
    if m:
        figs.append(dict(zip(('name', 'value', 'unit', 'target', 'ok', 'source'), m.groups())))
# targets.tsv: issue <TAB> what the issue asks <TAB> figures (regular expressions, comma-separated)
want = []
for line in open(targets):
    if line.startswith('#') or not line.strip():
        continue
    p = line.rstrip('\n').split('\t')
    if len(p) >= 3:
        want.append((p[0], p[1], [re.compile('^(%s)$' % r.strip()) for r in p[2].split(',')]))
def issue_of(name):
    for iss, _, res in want:
        if any(r.match(name) for r in res):
            return iss
    return ''
def has_target(f):
    return f['target'] not in ('', '-')
rows = [f for f in figs if has_target(f)]
missing = [(iss, what) for iss, what, res in want
           if not any(r.match(f['name']) for f in figs for r in res)]
def esc(s):
    return s.replace('|', '\\|')
head = ['| figure | value | target | met | source | issue |', '|---|---|---|---|---|---|']
body = ['| %s | %s %s | %s | %s | %s | %s |' % (f['name'], f['value'], f['unit'], esc(f['target']),
                                               f['ok'], f['source'], issue_of(f['name']))
        for f in rows]
body += ['| %s | not measured | %s | — | — | %s |' % ('(%s)' % esc(what), '—', iss)
         for iss, what in missing]
met = sum(1 for f in rows if f['ok'] == 'yes')
summary = ('%d figures against a target: %d met, %d missed; %d targets of the issues not '
           'measured by this run.' % (len(rows), met, len(rows) - met, len(missing)))
print()
print('\n'.join(head + body))
print()
print(summary)
now = datetime.datetime.utcnow().strftime('%Y-%m-%d %H:%M')
L = ['# Benchmarks against their targets (%s form), %s UTC' % (mode, now), '',
     'Command: `make %s` on %s cores: the benchmarks (`load-tests/bench_*`) took %s s%s. '
     'Load average (1 min) %s at the start, %s at the end: the machine is shared, so rates '
     'measured under load are below the product\'s capacity; ratios against baselines of the '
     'same run and instruction counts are the comparable figures (docs/PERFORMANCE.md).' % (
         'bench' if mode == 'quick' else 'load', ncpu, t_bench,
         ', the load scenarios (`load-tests/load.sh --quick`) %s s (their report: '
         '`bench/REPORT.md`)' % t_scen if mode == 'quick' and t_scen != '0' else '',
         load0, load1), '',
     summary, '']
L += head + body + ['']
other = [f for f in figs if not has_target(f)]
if other:
    L += ['## Figures without a target', '', '| figure | value | source |', '|---|---|---|']
    L += ['| %s | %s %s | %s |' % (f['name'], f['value'], f['unit'], f['source']) for f in other]
    L.append('')
open(md, 'w').write('\n'.join(L))
EOF
echo "table: $OUT/BENCH.md ($(($(date +%s) - t_start)) s)"
exit $status
