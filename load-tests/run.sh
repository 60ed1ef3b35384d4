#!/usr/bin/env bash
# Benchmark runner. `make bench` runs the quick form (each benchmark bounded,
# the whole run under 5 minutes); `make load` the full suite.
#   run.sh quick|full
# Each load-tests/bench_*.c program is built by the Makefile (release build)
# and run with the mode as its argument; it prints lines of the form
#   BENCH name=<figure> value=<number> unit=<unit> target=<target> ok=<yes|no>
# which are collected into a table in load-tests/results/latest.md.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
MODE=${1:-quick}
B=${B:-build/release}
OUT=load-tests/results
mkdir -p "$OUT"
tmp=$(mktemp)
status=0
for bin in $(ls "$B"/load-tests/bench_* 2>/dev/null | grep -v '\.[od]$' | sort); do
  echo "== $(basename "$bin") ($MODE)"
  if ! timeout 600 "$bin" "$MODE" | tee -a "$tmp"; then
    status=1
  fi
done
{
  echo "# Benchmark results ($MODE), $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "Command: \`make $( [ "$MODE" = quick ] && echo bench || echo load )\` on $(nproc) cores."
  echo
  echo "| figure | value | unit | target | met |"
  echo "|---|---|---|---|---|"
  grep '^BENCH ' "$tmp" | sed -E 's/^BENCH name=([^ ]+) value=([^ ]+) unit=([^ ]+) target=([^ ]*) ok=([a-z]+).*/| \1 | \2 | \3 | \4 | \5 |/'
} >"$OUT/latest.md"
cat "$OUT/latest.md"
rm -f "$tmp"
exit $status
