#!/usr/bin/env bash
# Replays the twelve reference captures of a real Asterisk 22 against
# ari-sim and compares events (per channel, every field), HTTP statuses and
# bodies; every event is also checked against events.json. Needs node (no
# npm packages). See tests/conformance/replay.mjs.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export DIALER_ROOT=${DIALER_ROOT:-$ROOT}
export DIALER_BUILD=${DIALER_BUILD:-$ROOT/build/debug}
if [ ! -x "$DIALER_BUILD/ari-sim" ]; then
  echo "ari-sim not built at $DIALER_BUILD/ari-sim" >&2
  exit 1
fi
exec node "$ROOT/tests/conformance/replay.mjs"
