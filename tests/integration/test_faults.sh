#!/usr/bin/env bash
# The fault suite's short form (tests/reliability/run.sh): kill -9 of dialerd
# five times mid-campaign, ari-sim WebSocket drop / 5xx / restart, PostgreSQL
# and Redis stopped mid-campaign, against a real dialerd, ari-sim and a
# private PostgreSQL and Redis. Under 3 minutes. `make load` runs --long.
set -uo pipefail
exec "$(dirname "$0")/../reliability/run.sh" "$@"
