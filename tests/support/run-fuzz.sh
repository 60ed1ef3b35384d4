#!/usr/bin/env bash
# Runs each libFuzzer harness for a bounded time over its corpus.
#   run-fuzz.sh SECONDS harness...
# The corpus of build/fuzz/tests/fuzz/fuzz_NAME is tests/fuzz/corpus/NAME/
# (committed seeds); new inputs go to build/fuzz/corpus/NAME/ so the repo's
# corpus only grows by hand. A crash stops the run with the harness's report
# and its reproducer in build/fuzz/crashes/.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
secs=${1:?seconds}
shift
passed=0
failed=0
mkdir -p build/fuzz/crashes
for bin in "$@"; do
  name=$(basename "$bin")
  name=${name#fuzz_}
  work=build/fuzz/corpus/$name
  mkdir -p "$work"
  seeds=tests/fuzz/corpus/$name
  [ -d "$seeds" ] || seeds=
  echo "== fuzz $name for ${secs}s"
  if timeout $((secs + 60)) "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix=build/fuzz/crashes/"$name"- "$work" $seeds >"build/fuzz/$name.log" 2>&1; then
    tail -1 "build/fuzz/$name.log"
    passed=$((passed + 1))
  else
    tail -40 "build/fuzz/$name.log"
    failed=$((failed + 1))
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
