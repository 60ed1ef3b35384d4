#!/usr/bin/env bash
# Runs the test suite and prints one closing line: "N passed, N failed".
#
#   run-all.sh unit          cmocka unit tests (no services)
#   run-all.sh integration   integration tests against a private PostgreSQL,
#                            Redis and ari-sim (started here, always stopped)
#   run-all.sh all           unit + integration + browser
#
# Each cmocka binary runs under a timeout (cmocka runs cases in-process, so a
# hang would otherwise stall the suite); its summary lines are counted. A
# binary that crashes or times out without a summary counts as one failure.
# Script tests (tests/integration/test_*.sh, tests/browser/test_*.mjs) count
# one test each by exit status. Logs go to build/<variant>/test-logs/.
# Each test's line ends with its duration; the closing lines name the slowest
# 15 and the total (build/<variant>/test-logs/durations.txt keeps them all).
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
MODE=${1:-all}
VARIANT=${VARIANT:-debug}
B=${B:-build/$VARIANT}
LOGS=$B/test-logs
mkdir -p "$LOGS"

export DIALER_ROOT=$ROOT
export DIALER_BUILD=$ROOT/$B
export DIALER_SHARED=${DIALER_SHARED:-$(cd "$ROOT/.." && pwd)/shared}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1 second_deadlock_stack=1}
# Calling windows follow the law by the contact's local time, so a campaign
# of New York numbers dials nothing at night. dialerd of a test build judges
# windows at this Wednesday afternoon instead (DIALER_TEST_WINDOW_TIME,
# refused by release builds), so the suite passes at any hour; the tests of
# the windows themselves unset it and use the real time.
export DIALER_TEST_WINDOW_TIME=${DIALER_TEST_WINDOW_TIME-2026-11-18T19:00:00Z}
TEST_TIMEOUT=${TEST_TIMEOUT:-600}
TEST_RUN_DIR=${TEST_RUN_DIR:-$ROOT/run/test}
case "$TEST_RUN_DIR" in /*) ;; *) TEST_RUN_DIR=$ROOT/$TEST_RUN_DIR ;; esac

passed=0
failed=0
failed_names=()
failed_details=() # the lines that say why, repeated just above the summary
durations=()      # "<seconds> <name>", one per test binary or script
SUITE_START=$(date +%s.%N)

now() { date +%s.%N; }
took() { # took <name> <start>: prints and records the seconds since start
  local secs
  secs=$(awk -v a="$2" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
  durations+=("$secs $1")
  echo "   ($1: ${secs}s)"
}

note_failure() { # note_failure <name> <log>: keeps the last lines explaining a failure
  local why
  why=$(grep -E '^\[ +(ERROR|LINE|FAILED) +\]|^\s*not ok|Sanitizer|runtime error' "$2" | head -16)
  [ -z "$why" ] && why=$(tail -8 "$2")
  failed_details+=("--- $1" "$why")
}

run_cmocka() { # run_cmocka <binary>
  local bin=$1 name log rc p f t0
  name=${bin#"$B"/}
  log=$LOGS/$(echo "$name" | tr '/' '_').log
  echo "== $name"
  t0=$(now)
  timeout --kill-after=10 "$TEST_TIMEOUT" "$bin" >"$log" 2>&1
  rc=$?
  took "$name" "$t0"
  sed 's/^/   /' "$log" | grep -E '^\s+\[ +(RUN|OK|FAILED|PASSED|SKIPPED|ERROR) +\]|ERROR|Sanitizer|runtime error|Assertion|FAIL' | grep -v '^\s*\[ RUN' | head -60
  p=$(grep -E '^\[  PASSED  \] [0-9]+ test' "$log" | tail -1 | sed -E 's/.*\] ([0-9]+) test.*/\1/')
  f=$(grep -E '^\[  FAILED  \] [0-9]+ test' "$log" | tail -1 | sed -E 's/.*\] ([0-9]+) test.*/\1/')
  p=${p:-0}
  f=${f:-0}
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    f=1
    echo "   $name exited with status $rc (see $log)"
    tail -30 "$log" | sed 's/^/   | /'
  fi
  passed=$((passed + p))
  failed=$((failed + f))
  if [ "$f" -ne 0 ]; then
    failed_names+=("$name")
    note_failure "$name" "$log"
  fi
}

run_script() { # run_script <file> (exit status decides)
  local file=$1 log rc t0
  log=$LOGS/$(echo "$file" | tr '/' '_').log
  echo "== $file"
  t0=$(now)
  case "$file" in
    *.mjs|*.js) timeout --kill-after=10 "$TEST_TIMEOUT" node "$file" >"$log" 2>&1 ;;
    *) timeout --kill-after=10 "$TEST_TIMEOUT" bash "$file" >"$log" 2>&1 ;;
  esac
  rc=$?
  took "$file" "$t0"
  tail -5 "$log" | sed 's/^/   /'
  if [ "$rc" -eq 0 ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    failed_names+=("$file")
    note_failure "$file" "$log"
    echo "   $file failed with status $rc (see $log)"
    tail -30 "$log" | sed 's/^/   | /'
  fi
}

run_unit() {
  for bin in $(ls "$B"/tests/unit/*/test_* 2>/dev/null | grep -v '\.[od]$' | sort); do
    [ -x "$bin" ] && run_cmocka "$bin"
  done
}

SERVICES_STARTED=0
start_services() {
  [ "$SERVICES_STARTED" -eq 1 ] && return 0
  trap 'RUN_DIR=$TEST_RUN_DIR tests/support/services.sh stop >/dev/null 2>&1' EXIT
  trap 'exit 130' INT TERM
  if ! RUN_DIR=$TEST_RUN_DIR tests/support/services.sh start; then
    echo "could not start PostgreSQL/Redis"
    failed=$((failed + 1))
    return 1
  fi
  # shellcheck disable=SC1091
  . "$TEST_RUN_DIR/services.env"
  export RUN_DIR=$TEST_RUN_DIR
  SERVICES_STARTED=1
}

run_integration() {
  start_services || return 0
  for bin in $(ls "$B"/tests/integration/test_* 2>/dev/null | grep -v '\.[od]$' | sort); do
    [ -x "$bin" ] && run_cmocka "$bin"
  done
  for f in $(ls tests/integration/test_*.sh 2>/dev/null | sort); do
    run_script "$f"
  done
}

run_browser() {
  local files
  files=$(ls tests/browser/test_*.mjs 2>/dev/null | sort)
  [ -z "$files" ] && return 0
  start_services || return 0
  for f in $files; do
    run_script "$f"
  done
}

case "$MODE" in
  unit) run_unit ;;
  integration) run_integration ;;
  browser) run_browser ;;
  all) run_unit; run_integration; run_browser ;;
  *) echo "usage: $0 unit|integration|browser|all" >&2; exit 2 ;;
esac

if [ ${#durations[@]} -gt 0 ]; then
  printf '%s\n' "${durations[@]}" | sort -rn >"$LOGS/durations.txt"
  echo "slowest 15 (seconds; all in $LOGS/durations.txt):"
  head -15 "$LOGS/durations.txt" | sed 's/^/   /'
  awk -v a="$SUITE_START" -v b="$(now)" -v n=${#durations[@]} \
    'BEGIN { printf "%d tests in %.0f s\n", n, b - a }'
fi
if [ ${#failed_names[@]} -gt 0 ]; then
  echo "why (the failing checks; whole logs in $LOGS):"
  printf '%s\n' "${failed_details[@]}" | cut -c1-300 | sed 's/^/   /'
  echo "failed: ${failed_names[*]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
