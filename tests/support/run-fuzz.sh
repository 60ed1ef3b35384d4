#!/usr/bin/env bash
# Runs each libFuzzer harness for a bounded time over its corpus.
#   run-fuzz.sh SECONDS harness...
# The corpus of build/fuzz/tests/fuzz/fuzz_NAME is tests/fuzz/corpus/NAME/
# (committed seeds); new inputs go to build/fuzz/corpus/NAME/ so the repo's
# corpus only grows by hand. A crash fails the run with the harness's report
# and its reproducer in build/fuzz/crashes/.
# FUZZ_JOBS harnesses run at a time (default: the number of cores); each is
# single-threaded, so every harness still gets SECONDS of one core.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
secs=${1:?seconds}
shift
jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}
[ "$jobs" -ge 1 ] 2>/dev/null || jobs=1
passed=0
failed=0
mkdir -p build/fuzz/crashes

fuzz_one() { # fuzz_one <harness>: exit status of the run, its log in build/fuzz/NAME.log
  local bin=$1 name work seeds
  name=$(basename "$bin")
  name=${name#fuzz_}
  work=build/fuzz/corpus/$name
  mkdir -p "$work"
  seeds=tests/fuzz/corpus/$name
  [ -d "$seeds" ] || seeds=
  timeout $((secs + 60)) "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix=build/fuzz/crashes/"$name"- "$work" $seeds >"build/fuzz/$name.log" 2>&1
}

report() { # report <harness> <status>: the harness's last line, or its report on failure
  local name
  name=$(basename "$1")
  name=${name#fuzz_}
  echo "== fuzz $name for ${secs}s"
  if [ "$2" -eq 0 ]; then
    tail -1 "build/fuzz/$name.log"
    passed=$((passed + 1))
  else
    tail -40 "build/fuzz/$name.log"
    failed=$((failed + 1))
  fi
}

declare -A running=() # pid -> harness
for bin in "$@"; do
  while [ ${#running[@]} -ge "$jobs" ]; do
    wait -n -p done_pid
    st=$?
    report "${running[$done_pid]}" "$st"
    unset "running[$done_pid]"
  done
  fuzz_one "$bin" &
  running[$!]=$bin
done
while [ ${#running[@]} -gt 0 ]; do
  wait -n -p done_pid
  st=$?
  report "${running[$done_pid]}" "$st"
  unset "running[$done_pid]"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
