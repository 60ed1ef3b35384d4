#!/usr/bin/env bash
# Conformance of ari-sim with the stock node ari-client package (pinned in
# tests/package.json): installs the packages when tests/node_modules is
# missing, then runs tests/conformance/conformance.mjs against a freshly
# started ari-sim on a free port.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export DIALER_ROOT=${DIALER_ROOT:-$ROOT}
export DIALER_BUILD=${DIALER_BUILD:-$ROOT/build/debug}
cd "$ROOT/tests"
if [ ! -d node_modules/ari-client ]; then
  if [ -f package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error
  else
    npm install --no-audit --no-fund --loglevel=error
  fi
fi
exec node "$ROOT/tests/conformance/conformance.mjs"
