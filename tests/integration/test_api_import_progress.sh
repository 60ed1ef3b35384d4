#!/usr/bin/env bash
# An import's progress says when its row count is an estimate, in a real dialerd:
# a CSV of IP_ROWS rows (default 40,000, about 1 MB) is uploaded through
# POST /api/v1/lists/{id}/uploads with its Content-Length, at a limited rate so
# that the body streams for a few seconds. A WebSocket client subscribed to the
# tenant on /ws/v1/live, which also polls GET /api/v1/imports/{job} meanwhile,
# must see:
#   - while the body streams, "import" messages and the job object with
#     rows_total_estimated true and a rows_total near the file's row count;
#   - once the count is exact, rows_total_estimated false with rows_total equal
#     to the file's row count, and never an estimate again;
#   - the final message: completed, every row read and imported, exact count;
#   - the job read back after the end: the exact count, not an estimate.
# Every wait is bounded (the client gives up after IP_WAIT seconds).
# Run by tests/support/run-all.sh with the services' environment.
set -uo pipefail
export DIALER_ROOT=${DIALER_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=tests/support/e2e.sh
. "$DIALER_ROOT/tests/support/e2e.sh"
e2e_init api_import_progress
E2E_CHECK_LAST="last response"
N=${IP_ROWS:-40000}
WAIT=${IP_WAIT:-120}
RATE=${IP_RATE:-300k}

# The watcher (tests/support/wsclient.py): subscribes to the tenant on /ws/v1/live, prints
# each "import" message as {"src": "ws", ...} and, between messages, each answer of
# GET /api/v1/imports/{job} as {"src": "rest", ...}, until the final state and one more read
# of the job after it.
cat >"$TMP/watch.py" <<'PYEOF'
import json, os, sys, time, urllib.request
sys.path.insert(0, os.path.join(os.environ["DIALER_ROOT"], "tests/support"))
from wsclient import WsClient
port, token, ready, secs = int(sys.argv[1]), sys.argv[2], sys.argv[3], float(sys.argv[4])
deadline = time.monotonic() + secs
def job(jid):
    req = urllib.request.Request("http://127.0.0.1:%d/api/v1/imports/%s" % (port, jid),
                                 headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())
def out(src, m):
    m["src"] = src
    print(json.dumps(m, sort_keys=True), flush=True)
ws = WsClient(port, "/ws/v1/live", headers={"Authorization": "Bearer " + token})
ws.send_json({"type": "subscribe", "tenant": True})
jid = None
last_poll = 0.0
while time.monotonic() < deadline:
    m = ws.recv_json(0.05)
    if m is not None and m.get("type") == "subscribed":
        open(ready, "w").write("ready\n")
    if m is not None and m.get("type") == "import":
        jid = m["job_id"]
        out("ws", m)
        if m["state"] in ("completed", "failed", "cancelled"):
            out("rest", job(jid))
            sys.exit(0)
    if jid is not None and time.monotonic() - last_poll >= 0.1:
        last_poll = time.monotonic()
        out("rest", job(jid))
sys.exit(1)
PYEOF

e2e_createdb
e2e_env
export DIALERD_ARI_URL="http://127.0.0.1:9" DIALERD_DIALER_ENABLED=false
export DIALERD_IMPORT_PROGRESS_INTERVAL=50ms
PW="s3cret-Pass-$$"
check "migrate" bash -c "'$DIALERD' migrate >/dev/null"
printf '%s\n' "$PW" | "$DIALERD" bootstrap --tenant-slug acme --email ops@acme.test >/dev/null 2>&1
LOG=$DIALER_RUN_DIR/dialerd-import-progress-$$.log
e2e_start_dialerd "$LOG"
check "dialerd listens" test -n "$DPORT"
U=http://127.0.0.1:$DPORT/api/v1
TOK=$(jget "$(e2e_login "$U" ops@acme.test "$PW")" 'j["access_token"]')
check "log in" test -n "$TOK"
r=$(api POST /lists '{"name":"progress","dnc_mode":"mark"}')
L=$(jget "$(body "$r")" 'j["id"]')
check "a list is created" test "$(status "$r")" = 201 -a -n "$L"

# N distinct valid New York numbers, one a row, with a name.
python3 - "$N" >"$TMP/contacts.csv" <<'PYEOF'
import sys
n = int(sys.argv[1])
print("phone,first_name")
for i in range(n):
    print("+1212%03d%04d,Name%d" % (230 + i // 10000, i % 10000, i))
PYEOF
check "the file has $N rows" test "$(($(wc -l <"$TMP/contacts.csv") - 1))" = "$N"

python3 "$TMP/watch.py" "$DPORT" "$TOK" "$TMP/ws.ready" "$WAIT" >"$TMP/watch.out" 2>"$TMP/watch.err" &
WPID=$!
pids+=("$WPID")
wait_for 10 test -s "$TMP/ws.ready"
check "the WebSocket client is subscribed" test -s "$TMP/ws.ready"
r=$(curl -sS --max-time "$WAIT" --limit-rate "$RATE" -XPOST "$U/lists/$L/uploads" \
  -H "Authorization: Bearer $TOK" -H "Upload-Id: progress-$$" -H 'Content-Type: text/csv' \
  --data-binary @"$TMP/contacts.csv" -w '\n%{http_code}')
check "the upload completes ($(tail -1 <<<"$r"))" test "$(tail -1 <<<"$r")" = 201
wait "$WPID"
check "the WebSocket client saw the import end" test $? -eq 0
echo "  $(grep -c '"src": "ws"' "$TMP/watch.out") WebSocket messages, $(grep -c '"src": "rest"' "$TMP/watch.out") job reads"

# Verdicts over the client's output: src, then the fields a progress bar reads.
verdict() { # verdict <src> <python expression over ms (that source's messages, in order)>
  python3 -c 'import json, sys
ms = [m for m in map(json.loads, open(sys.argv[1])) if m["src"] == sys.argv[2]]
n = int(sys.argv[3])
sys.exit(0 if eval(sys.argv[4]) else 1)' "$TMP/watch.out" "$1" "$N" "$2"
}
est='[m for m in ms if m["state"] == "running" and m["rows_total_estimated"] is True]'
check "WebSocket: rows_total_estimated true while the body streams" verdict ws "len($est) > 0"
check "WebSocket: each estimate is a number within 10 % of the file's rows" \
  verdict ws "all(isinstance(m['rows_total'], int) and abs(m['rows_total'] - n) <= n // 10 and m['rows_total'] >= m['rows_read'] for m in $est)"
first_exact='next(i for i, m in enumerate(ms) if m["rows_total_estimated"] is False and m["rows_total"] is not None)'
check "WebSocket: once exact, the count is the file's rows and never an estimate again" \
  verdict ws "all(m['rows_total'] == n and m['rows_total_estimated'] is False for m in ms[$first_exact:])"
check "WebSocket: no estimate flag without a number" \
  verdict ws "all(m['rows_total'] is not None or m['rows_total_estimated'] is False for m in ms)"
check "WebSocket: the final message is completed, every row read and imported, the exact count" \
  verdict ws "(ms[-1]['state'], ms[-1]['rows_read'], ms[-1]['rows_imported'], ms[-1]['rows_total'], ms[-1]['rows_total_estimated']) == ('completed', n, n, n, False)"
check "REST: the running job says rows_total_estimated true with a number" \
  verdict rest "any(m['state'] == 'running' and m['rows_total_estimated'] is True and isinstance(m['rows_total'], int) for m in ms)"
check "REST: the job after the end has the exact count" \
  verdict rest "(ms[-1]['state'], ms[-1]['rows_total'], ms[-1]['rows_total_estimated']) == ('completed', n, False)"
check "the rows are in the list" \
  test "$(sql "SELECT count(*) FROM contacts WHERE list_id = $L")" = "$N"

e2e_stop_dialerd
check "dialerd exits on SIGTERM" test $? -eq 0
e2e_done
