#!/usr/bin/env bash
# Instructions per ARI call lifecycle on the client side, with a breakdown.
#   make VARIANT=release tests-build    (or just the bench and ari-sim)
#   load-tests/bench_ari_client_callgrind.sh [N]
# Runs build/release/load-tests/bench_ari_client under callgrind with
# collection limited to run_lifecycles (N lifecycles after a 100-lifecycle
# warm-up, default 500), then prints the total per lifecycle and the share of
# the main libraries (inclusive), from callgrind_annotate. KEEP=file keeps the
# callgrind output for callgrind_annotate.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
N=${1:-500}
B=${B:-build/release}
OUT=$(mktemp /tmp/bench-ari-client-cg.XXXXXX)
trap 'if [ -n "${KEEP:-}" ]; then cp "$OUT" "$KEEP"; fi; rm -f "$OUT"' EXIT
DIALER_BUILD=$ROOT/$B valgrind --tool=callgrind --toggle-collect=run_lifecycles \
  --callgrind-out-file="$OUT" -q "$B/load-tests/bench_ari_client" callgrind "$N"
total=$(sed -n 's/^\(totals\|summary\): *\([0-9]*\).*/\2/p' "$OUT" | tail -1)
echo "BENCH name=ari_client_instr_per_lifecycle value=$((total / N)) unit=instructions target=150000 ok=$([ $((total / N)) -le 150000 ] && echo yes || echo no)"
callgrind_annotate --inclusive=yes "$OUT" 2>/dev/null | awk -v n="$N" -v t="$total" '
  function grab(pat) { if ($0 ~ pat && !(pat in v)) { x = $1; gsub(",", "", x); v[pat] = x } }
  { grab("ari_event_parse_ex \\["); grab("ari__fast_event \\["); grab("json_loadb \\[");
    grab("curl_multi_socket_action \\["); grab("lws_service_fd_tsi \\["); grab("ari/ws.c:ws_cb \\["); grab("ari/ws.c:ws_io_cb \\[");
    grab("ari/ws.c:ari__ws_deliver \\["); grab("ari/h1.c:conn_io_cb \\["); grab("ari__h1_parse \\[");
    grab("ari/h1.c:ari__h1_start \\[");
    grab("ari/client.c:rb_send_internal \\[") }
  function line(label, x) { printf "  %-44s %9d per lifecycle (%4.1f%%)\n", label, x / n, 100 * x / t }
  END {
    line("event parsing (ari_event_parse_ex):", v["ari_event_parse_ex \\["])
    line("  of which the fast decoder:", v["ari__fast_event \\["])
    line("  jansson json_loadb (fallback, errors):", v["json_loadb \\["])
    if (v["lws_service_fd_tsi \\["] > 0) {
      line("libwebsockets incl. our callback:", v["lws_service_fd_tsi \\["])
      line("  libwebsockets own (frames, read, poll):", v["lws_service_fd_tsi \\["] - v["ari/ws.c:ws_cb \\["])
    } else {
      line("events WebSocket incl. delivery (ws_io_cb):", v["ari/ws.c:ws_io_cb \\["])
      line("  socket reads + frame handling:", v["ari/ws.c:ws_io_cb \\["] - v["ari/ws.c:ari__ws_deliver \\["])
    }
    if (v["curl_multi_socket_action \\["] > 0) {
      line("curl (REST transport):", v["curl_multi_socket_action \\["])
    } else {
      line("REST transport: start (format + write):", v["ari/h1.c:ari__h1_start \\["])
      line("REST transport: response reader:", v["ari__h1_parse \\["])
      line("REST responses incl. their callbacks:", v["ari/h1.c:conn_io_cb \\["])
    }
    line("request building + start (ours + curl setup):", v["ari/client.c:rb_send_internal \\["])
  }'
