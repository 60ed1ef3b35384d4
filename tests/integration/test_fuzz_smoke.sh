#!/usr/bin/env bash
# Runs every built libFuzzer harness (build/fuzz/tests/fuzz/fuzz_*) for a few
# seconds over its committed corpus (FUZZ_SMOKE_SECONDS, default 5), so a
# parser change that crashes on a known input or on a short mutation run
# fails `make test`. Longer runs: `make fuzz` (FUZZ_SECONDS each). The
# harnesses run one a core (FUZZ_JOBS, tests/support/run-fuzz.sh), each for
# the whole FUZZ_SMOKE_SECONDS.
# Without a fuzz build (`make fuzz-build`, clang) it says so and passes.
set -uo pipefail
ROOT=${DIALER_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$ROOT" || exit 2
secs=${FUZZ_SMOKE_SECONDS:-5}
bins=()
for src in tests/fuzz/fuzz_*.c; do
  bin=build/fuzz/${src%.c}
  if [ -x "$bin" ] && [ "$bin" -nt "$src" ]; then
    bins+=("$bin")
  else
    echo "skip - $bin not built or older than its source (make fuzz-build)"
  fi
done
if [ ${#bins[@]} -eq 0 ]; then
  echo "no fuzz build: nothing run"
  exit 0
fi
tests/support/run-fuzz.sh "$secs" "${bins[@]}"
