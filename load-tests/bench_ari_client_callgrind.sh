#!/usr/bin/env bash
# Instructions per ARI call lifecycle on the client side, with a breakdown.
#   make VARIANT=release tests-build    (or just the bench and ari-sim)
#   load-tests/bench_ari_client_callgrind.sh [N]
# Runs build/release/load-tests/bench_ari_client under callgrind with
# collection limited to run_lifecycles (N lifecycles after a 100-lifecycle
# warm-up, default 500), then prints the total per lifecycle and the share of
# the main libraries (inclusive), from callgrind_annotate.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
N=${1:-500}
B=${B:-build/release}
OUT=$(mktemp /tmp/bench-ari-client-cg.XXXXXX)
trap 'rm -f "$OUT"' EXIT
DIALER_BUILD=$ROOT/$B valgrind --tool=callgrind --toggle-collect=run_lifecycles \
  --callgrind-out-file="$OUT" -q "$B/load-tests/bench_ari_client" callgrind "$N"
total=$(sed -n 's/^\(totals\|summary\): *\([0-9]*\).*/\2/p' "$OUT" | tail -1)
echo "BENCH name=ari_client_instr_per_lifecycle value=$((total / N)) unit=instructions target=150000 ok=$([ $((total / N)) -le 150000 ] && echo yes || echo no)"
callgrind_annotate --inclusive=yes "$OUT" 2>/dev/null | awk -v n="$N" -v t="$total" '
  /ari_event_parse_ex \[/ && !p1 { gsub(",","",$1); printf "  event parsing (ari_event_parse_ex):   %9d per lifecycle (%4.1f%%)\n", $1/n, 100*$1/t; p1=1 }
  /json_loadb \[/ && !p2        { gsub(",","",$1); printf "    of which jansson json_loadb:        %9d per lifecycle (%4.1f%%)\n", $1/n, 100*$1/t; p2=1 }
  /curl_multi_socket_action \[/ && !p3 { gsub(",","",$1); printf "  curl (REST transport):               %9d per lifecycle (%4.1f%%)\n", $1/n, 100*$1/t; p3=1 }
  /lws_service_fd_tsi \[/ && !p4 { gsub(",","",$1); printf "  libwebsockets incl. our callback:    %9d per lifecycle (%4.1f%%)\n", $1/n, 100*$1/t; p4=1 }
  /ari\/client.c:rb_send_internal \[/ && !p5 { gsub(",","",$1); printf "  request building + start (ours+curl setup): %9d per lifecycle (%4.1f%%)\n", $1/n, 100*$1/t; p5=1 }'
