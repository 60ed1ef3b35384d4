#!/usr/bin/env bash
# api_call faults inside running outbound campaigns, in a real dialerd against
# ari-sim, PostgreSQL and Redis. Four campaigns dial at the same time, each
# with a flow whose api_call (timeout 2 s, one retry) reaches the address in
# the contact's "target" field (plain http on loopback, allowed by
# ivr.http-allow; a URL from a variable is checked at the call, not at load):
#   ok    a target that answers 200 at once (the control),
#   slow  a target that accepts and never answers in time,
#   dead  a port nobody listens on (connection refused),
#   fail  a target that answers 503.
# Checked: every contact of every campaign is dialed; each flow takes the
# api_call's documented outcome (success, timeout, error) and ends; no
# session, attempt or channel is left open; and the faults do not slow the
# originations: each campaign's launches (from ari-sim's originate log) span
# about what its pacing asks, as the control's do.
# Run by tests/support/run-all.sh with the services' environment.
set -uo pipefail
# shellcheck source=tests/support/e2e.sh
. "$(dirname "$0")/../support/e2e.sh"
e2e_init dialer_api_faults

cat >"$TMP/scenario.json" <<'EOF'
{"name": "api-faults", "seed": 9,
 "populations": {"default": [{"weight": 1, "outcome": "answer", "ring": 0.2, "talk": "forever"}]}}
EOF
e2e_start_sim "$TMP/scenario.json"
check "ari-sim listens" test -n "$SIMPORT"

# The targets: /ok answers at once, /slow after 30 s, /fail 503.
TPORT=$(free_port)
DEAD=$(free_port)
cat >"$TMP/target.py" <<'EOF'
import http.server, sys, time
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith("/slow"):
            time.sleep(30)
        code = 503 if self.path.startswith("/fail") else 200
        body = b'{"ok": true}' if code == 200 else b'{"error": "unavailable"}'
        try:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer.request_queue_size = 256
s = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H)
s.daemon_threads = True
s.serve_forever()
EOF
# One server per target: api_call holds at most 16 connections per host:port
# (core/http), so calls to the slow target's host:port queue behind it; other
# hosts are not held up, which is what the control shows.
SPORT=$(free_port)
FPORT=$(free_port)
for p in "$TPORT" "$SPORT" "$FPORT"; do
  python3 "$TMP/target.py" "$p" &
  pids+=($!)
  check "a target listens on $p" wait_for 5 curl -fsS -o /dev/null "http://127.0.0.1:$p/ok"
done

e2e_createdb
e2e_env
export DIALERD_NODE_ID="apifault-$$"
export DIALERD_DIALER_ALLOW_MISSING_DNC=true DIALERD_DIALER_TALK_TIME=100ms
export DIALERD_DIALER_POLL=100ms DIALERD_DIALER_CPS=400 DIALERD_DIALER_MAX_CHANNELS=400
export DIALERD_DIALER_LEASE_TIME=10s DIALERD_DIALER_PORTS=300
export DIALERD_IVR_HTTP_ALLOW=127.0.0.1/32
check "migrate" bash -c "'$DIALERD' migrate >/dev/null"
sql "INSERT INTO tenants (slug, name) VALUES ('acme', 'Acme')" >/dev/null
T=$(sql "SELECT id FROM tenants WHERE slug = 'acme'")

publish() { # name -> flow id (the api_call reaches contact.target)
  local f def
  def=$(
    cat <<EOF
{"format": "ivrflow/1", "name": "$1", "start": "start",
 "nodes": {
  "start": {"type": "start", "props": {"triggers": ["outbound_answered"]}, "next": {"next": "api"}},
  "api": {"type": "api_call",
          "props": {"method": "GET", "url": "{{contact.target}}", "timeout_ms": 2000, "connect_timeout_ms": 1000,
                    "retries": {"count": 1, "backoff_ms": 200}},
          "next": {"success": "ok", "error": "err", "timeout": "late"}},
  "ok": {"type": "hangup", "props": {"disposition": "api_ok"}},
  "err": {"type": "hangup", "props": {"disposition": "api_error"}},
  "late": {"type": "hangup", "props": {"disposition": "api_timeout"}}
 }}
EOF
  )
  f=$("${PSQL[@]}" -d "$DB" -Atq -v def="$def" <<SQL
INSERT INTO ivr_flows (tenant_id, name, draft) VALUES ($T, '$1', :'def'::jsonb) RETURNING id;
SQL
  )
  "${PSQL[@]}" -d "$DB" -q -v def="$def" <<SQL
INSERT INTO ivr_flow_revisions (tenant_id, flow_id, revision, definition) VALUES ($T, $f, 1, :'def'::jsonb);
UPDATE ivr_flows SET latest_revision = 1, published_revision = 1 WHERE id = $f;
SQL
  echo "$f"
}
NC=40
CPS=10
mk_campaign() { # name flow first-number target -> campaign id, NC contacts at CPS
  local c l
  c=$(sql "INSERT INTO campaigns (tenant_id, name, flow_id, settings) VALUES ($T, '$1', $2,
           '{\"pacing\": {\"mode\": \"fixed\", \"cps\": $CPS, \"max_channels\": 100}, \"retry\": {\"max_attempts\": 1}}')
           RETURNING id" | head -1)
  l=$(sql "INSERT INTO contact_lists (tenant_id, name) VALUES ($T, 'l-$1') RETURNING id" | head -1)
  sql "INSERT INTO campaign_lists (tenant_id, campaign_id, list_id) VALUES ($T, $c, $l)" >/dev/null
  sql "INSERT INTO contacts (tenant_id, list_id, number, custom)
       SELECT $T, $l, '+1212555' || lpad(($3 + g)::text, 4, '0'), json_build_object('target', '$4')
       FROM generate_series(0, $NC - 1) g" >/dev/null
  echo "$c"
}
declare -A CAMP BASE=([ok]=1000 [slow]=2000 [dead]=3000 [fail]=4000)
declare -A URL=([ok]="http://127.0.0.1:$TPORT/ok" [slow]="http://127.0.0.1:$SPORT/slow"
  [dead]="http://127.0.0.1:$DEAD/x" [fail]="http://127.0.0.1:$FPORT/fail")
declare -A WANT=([ok]="api_ok=$NC" [slow]="api_timeout=$NC" [dead]="api_error=$NC" [fail]="api_error=$NC")
declare -A STEP=([ok]="success=$NC" [slow]="timeout=$NC" [dead]="error=$NC" [fail]="error=$NC")
for k in ok slow dead fail; do
  CAMP[$k]=$(mk_campaign "$k" "$(publish "$k")" "${BASE[$k]}" "${URL[$k]}")
done

LOG=$DIALER_RUN_DIR/dialerd-api-faults-test.log
: >"$LOG"
e2e_start_dialerd "$LOG"
check "dialerd listens" test -n "$DPORT"

sql "UPDATE campaigns SET state = 'running' WHERE id IN (${CAMP[ok]}, ${CAMP[slow]}, ${CAMP[dead]}, ${CAMP[fail]})" >/dev/null
for k in ok slow dead fail; do
  check "$k: every contact dialed and its call ended" \
    wait_sql "SELECT count(*) FROM call_attempts WHERE campaign_id = ${CAMP[$k]} AND ended_at IS NOT NULL" "$NC" 60
done
for k in ok slow dead fail; do
  c=${CAMP[$k]}
  got=$(sql "SELECT coalesce(string_agg(d, ' '), '') FROM (SELECT disposition || '=' || count(*) AS d
             FROM call_attempts WHERE campaign_id = $c GROUP BY disposition ORDER BY 1) x")
  check "$k: every flow takes the api_call's outcome [$got]" test "$got" = "${WANT[$k]}"
  check "$k: the step records say so" wait_sql "SELECT coalesce(string_agg(d, ' '), '') FROM (
      SELECT s.event_out || '=' || count(*) AS d FROM ivr_steps s JOIN ivr_executions e ON e.id = s.execution_id
      JOIN call_attempts a ON a.id = e.call_attempt_id WHERE a.campaign_id = $c AND s.node_id = 'api'
      GROUP BY s.event_out ORDER BY 1) x" "${STEP[$k]}" 10
  check "$k: no execution left active" wait_sql "SELECT count(*) FROM ivr_executions e
      JOIN call_attempts a ON a.id = e.call_attempt_id WHERE a.campaign_id = $c AND e.status <> 'ended'" 0 10
  check "$k: no attempt left open" test "$(sql "SELECT count(*) FROM call_attempts WHERE campaign_id = $c AND ended_at IS NULL")" = 0
done
check "no channel left up at ari-sim" \
  wait_for 10 bash -c "curl -fsS http://127.0.0.1:$SIMPORT/_sim/stats | grep -q '\"channels_active\":0,'"

# The launches: NC contacts at CPS take (NC-1)/CPS s; a fault that held the
# dialer up would stretch them (a blocked second per call is 40 s here).
spans=$(python3 - "$OLOG" <<'EOF'
import json, sys, datetime
first, last = {}, {}
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("event") != "originate":
        continue
    k = {"1": "ok", "2": "slow", "3": "dead", "4": "fail"}[e["number"][-4]]
    t = datetime.datetime.strptime(e["time"], "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
    first[k] = min(first.get(k, t), t)
    last[k] = max(last.get(k, t), t)
print(" ".join("%s=%.2f" % (k, last[k] - first[k]) for k in ("ok", "slow", "dead", "fail") if k in first))
EOF
)
echo "  launch spans (s): $spans (pacing alone: $(python3 -c "print(($NC - 1) / $CPS)"))"
for k in ok slow dead fail; do
  s=$(sed -n "s/.*$k=\([0-9.]*\).*/\1/p" <<<"$spans")
  check "$k: launches not slowed (${s:-none} s for $NC at $CPS/s)" \
    python3 -c "import sys; s = float('${s:-1e9}'); sys.exit(not (s <= 1.5 * ($NC - 1) / $CPS + 1))"
done
check "dialerd still runs" alive "$DPID"
e2e_stop_dialerd
check "dialerd exits on SIGTERM" bash -c "! kill -0 $DPID 2>/dev/null"
check "no phone number in full in the log" bash -c "! grep -q '+1212555' '$LOG'"

e2e_done
