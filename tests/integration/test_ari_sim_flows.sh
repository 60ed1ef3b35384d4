#!/usr/bin/env bash
# Scenario-driven (PJSIP) call flows of NOTES.md section 7 against ari-sim:
# answer, busy, timeout, cancel, failures, unreachable, DTMF scripts, AMD via
# continue and dialplan originate, playback lists and control, recording,
# inbound IVR, create+dial, bridges; every event checked against
# events.json. Needs node (no npm packages). See tests/conformance/flows.mjs.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export DIALER_ROOT=${DIALER_ROOT:-$ROOT}
export DIALER_BUILD=${DIALER_BUILD:-$ROOT/build/debug}
exec node "$ROOT/tests/conformance/flows.mjs"
