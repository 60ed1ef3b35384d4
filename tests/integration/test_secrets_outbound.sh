#!/usr/bin/env bash
# Tenant secrets and api_call allowlists on outbound calls, in a real
# dialerd against ari-sim: two tenants' campaigns run the same flow, whose
# api_call sends "Authorization: Bearer {{secrets.token}}" to a loopback
# HTTP server. Tenant A (settings.api_call_allow 127.0.0.1/32, its secret
# set through the API) reaches it with its own value; tenant B (a secret
# but no allowlist) is refused before a packet leaves. The value appears in
# no log line (DEBUG), no step record and no execution row. Run by
# tests/support/run-all.sh with the services' env.
set -uo pipefail
. "$(dirname "$0")/../support/e2e.sh"
e2e_init secrets_outbound

VALUE="tok-$$-a7c3-never-logged"
# The API the flow calls: 200 only with tenant A's secret; every request is counted.
cat >"$TMP/api.py" <<PY
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with open("$TMP/hits", "a") as f:
            f.write("hit\n")
        ok = self.headers.get("Authorization") == "Bearer $VALUE"
        self.send_response(200 if ok else 401)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"ok": true}' if ok else b'{"error": "unauthorised"}')
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open("$TMP/api.port", "w").write(str(s.server_port))
s.serve_forever()
PY
python3 "$TMP/api.py" &
pids+=($!)
for _ in $(seq 1 50); do [ -s "$TMP/api.port" ] && break; sleep 0.1; done
APORT=$(cat "$TMP/api.port")
check "the test API listens" test -n "$APORT"
: >"$TMP/hits"

cat >"$TMP/scenario.json" <<EOF2
{"name": "secrets-outbound", "seed": 3,
 "populations": {"default": [{"weight": 1, "outcome": "answer", "ring": 0.1, "talk": "forever"}]}}
EOF2
e2e_start_sim "$TMP/scenario.json"
check "ari-sim listens" test -n "$SIMPORT"

e2e_createdb
e2e_env
export DIALERD_REDIS_SOCKET=""
export DIALERD_SECRETS_KEY=$(head -c 32 /dev/urandom | base64)
export DIALERD_NODE_ID="sec-$$" DIALERD_LOG_LEVEL=debug
export DIALERD_DIALER_ALLOW_MISSING_DNC=true DIALERD_DIALER_POLL=100ms DIALERD_DIALER_PORTS=20
check "migrate" bash -c "'$DIALERD' migrate >/dev/null 2>&1"
PW="s3cret-Pass-$$"
e2e_bootstrap alpha "a-$$@alpha.test" "$PW" >/dev/null 2>&1
e2e_bootstrap beta "b-$$@beta.test" "$PW" >/dev/null 2>&1
TA=$(sql "SELECT id FROM tenants WHERE slug = 'alpha'")
TB=$(sql "SELECT id FROM tenants WHERE slug = 'beta'")
sql "UPDATE tenants SET settings = '{\"api_call_allow\": [\"127.0.0.1/32\"]}' WHERE id = $TA" >/dev/null

cat >"$TMP/flow.json" <<EOF2
{"format": "ivrflow/1", "name": "api", "start": "s",
 "variables": {"api": {"type": "string", "default": "http://127.0.0.1:$APORT/check"}},
 "nodes": {
  "s": {"type": "start", "props": {"triggers": ["outbound_answered"]}, "next": {"next": "a"}},
  "a": {"type": "api_call", "props": {"method": "GET", "url": "{{flow.api}}",
        "headers": {"Authorization": "Bearer {{secrets.token}}"}, "timeout_ms": 3000},
        "next": {"success": "ok", "error": "err", "timeout": "err"}},
  "ok": {"type": "hangup", "props": {"disposition": "api_ok"}},
  "err": {"type": "hangup", "props": {"disposition": "api_err"}}
 }}
EOF2
DEF=$(cat "$TMP/flow.json")
for T in $TA $TB; do
  F=$("${PSQL[@]}" -d "$DB" -Atq -v def="$DEF" <<SQL
INSERT INTO ivr_flows (tenant_id, name, draft) VALUES ($T, 'api', :'def'::jsonb) RETURNING id;
SQL
)
  "${PSQL[@]}" -d "$DB" -q -v def="$DEF" <<SQL
INSERT INTO ivr_flow_revisions (tenant_id, flow_id, revision, definition) VALUES ($T, $F, 1, :'def'::jsonb);
UPDATE ivr_flows SET latest_revision = 1, published_revision = 1 WHERE id = $F;
SQL
  c=$(sql "INSERT INTO campaigns (tenant_id, name, flow_id, settings) VALUES ($T, 'c', $F, '{\"pacing\": {\"mode\": \"fixed\", \"cps\": 20, \"max_channels\": 5}, \"retry\": {\"max_attempts\": 1}}') RETURNING id" | head -1)
  l=$(sql "INSERT INTO contact_lists (tenant_id, name) VALUES ($T, 'l') RETURNING id" | head -1)
  sql "INSERT INTO campaign_lists (tenant_id, campaign_id, list_id) VALUES ($T, $c, $l)" >/dev/null
  sql "INSERT INTO contacts (tenant_id, list_id, number) SELECT $T, $l, '+1212' || (770 + $T) || lpad(g::text, 4, '0') FROM generate_series(0, 4) g" >/dev/null
  eval "C$T=$c"
done
CA=$(eval echo "\$C$TA")
CB=$(eval echo "\$C$TB")

LOG=$DIALER_RUN_DIR/dialerd-secrets-outbound.log
: >"$LOG"
e2e_start_dialerd "$LOG"
check "dialerd listens" test -n "$DPORT"
U=http://127.0.0.1:$DPORT/api/v1
put_secret() { # email value
  local tok
  tok=$(jget "$(e2e_login "$U" "$1" "$PW")" 'j["access_token"]')
  curl -sS -o /dev/null -w '%{http_code}' -XPUT "$U/secrets/token" -H "Authorization: Bearer $tok" \
    -H 'Content-Type: application/json' -d "{\"value\":\"$2\"}"
}
check "tenant A sets its secret" test "$(put_secret a-$$@alpha.test "$VALUE")" = 201
check "tenant B sets its own" test "$(put_secret b-$$@beta.test "$VALUE")" = 201
sleep 11 # one refresh (10 s) of the flows' copy after the change

sql "UPDATE campaigns SET state = 'running' WHERE id IN ($CA, $CB)" >/dev/null
check "every call of both campaigns ended" wait_sql \
  "SELECT count(*) FROM ivr_executions WHERE status = 'ended'" 10 60
check "tenant A's api_call succeeded with its secret (5 calls)" test \
  "$(sql "SELECT count(*) FROM call_attempts WHERE campaign_id = $CA AND disposition = 'api_ok'")" = 5
check "tenant B's api_call was refused (no allowlist)" test \
  "$(sql "SELECT count(*) FROM call_attempts WHERE campaign_id = $CB AND disposition = 'api_err'")" = 5
check "only tenant A's requests reached the server" test "$(wc -l <"$TMP/hits")" = 5
check "B's steps name the refusal" test \
  "$(sql "SELECT count(*) FROM ivr_steps s JOIN ivr_executions e ON e.id = s.execution_id WHERE e.tenant_id = $TB AND s.vars_delta::text LIKE '%forbidden_address%'")" = 5
check "the value is in no step and no execution" test \
  "$(sql "SELECT (SELECT count(*) FROM ivr_steps WHERE vars_delta::text LIKE '%$VALUE%' OR detail::text LIKE '%$VALUE%') + (SELECT count(*) FROM ivr_executions WHERE row_to_json(ivr_executions)::text LIKE '%$VALUE%')")" = 0
kill -TERM "$DPID"
wait "$DPID"
check "SIGTERM exits 0" test $? -eq 0
check "the value never reaches the log (DEBUG)" bash -c "! grep -qF '$VALUE' '$LOG'"

e2e_done
