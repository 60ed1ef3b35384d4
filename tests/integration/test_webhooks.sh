#!/usr/bin/env bash
# Webhooks end to end, in a real dialerd against ari-sim, PostgreSQL and
# Redis, with local HTTP receivers that check every signature themselves
# (HMAC-SHA256 over "<timestamp>.<body>" with the secret the API showed once).
#
#   1. The API: create (secret shown once), read (never the secret), viewer
#      reads but cannot write, bad bodies refused naming the field.
#   2. A campaign without webhooks sets the reference originate rate.
#   3. The same campaign size with three endpoints: one healthy, one that
#      answers after 10 s, one whose port refuses connections. The
#      originate rate stays within a generous ratio of the reference; the
#      healthy endpoint gets every call.completed event, signed, while the
#      other two hold their own slots only; the dead one's deliveries are
#      retried with their error recorded, and it is disabled automatically
#      after failing for webhooks.disable-after (reason in GET).
#   4. 410 Gone disables an endpoint (reason in GET); the SSRF guard refuses
#      an internal address that is not allowlisted.
#   5. kill -9 of dialerd with a backlog; the targets recover; after the
#      restart (and PATCH enabled=true for the disabled one) every event
#      reaches them (each event id at least once).
#   6. Redelivery sends an event again with the same id; rotation.
#   7. The outbox is bounded (webhooks.keep-per-tenant finished rows).
set -uo pipefail
. "$(dirname "$0")/../support/e2e.sh"
e2e_init webhooks

N=${WEBHOOKS_CONTACTS:-120}
CPS=30
RATIO_MIN=0.7

cat >"$TMP/scenario.json" <<'EOF'
{"name": "webhooks", "seed": 5,
 "populations": {"default": [{"weight": 1, "outcome": "answer", "ring": 0.1, "talk": "forever"}]}}
EOF
e2e_start_sim "$TMP/scenario.json"
check "ari-sim listens" test -n "$SIMPORT"

# The receiver: mode file ok|slow; a path ending in /gone answers 410. Each
# request is one JSON line: receiver, path, event id (header and body), type,
# attempt id, whether the signature verified with the current secret file.
cat >"$TMP/recv.py" <<'PY'
import hashlib, hmac, http.server, json, os, sys, threading, time
name, port, tmp = sys.argv[1], int(sys.argv[2]), sys.argv[3]
lock = threading.Lock()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        try:
            mode = open(os.path.join(tmp, "mode." + name)).read().strip()
        except OSError:
            mode = "ok"
        if mode == "slow":
            time.sleep(10)
        sig_ok = False
        try:
            secret = open(os.path.join(tmp, "secret." + name)).read().strip()
            parts = dict(p.split("=", 1) for p in self.headers["Dialer-Signature"].split(","))
            t = parts["t"]
            want = hmac.new(secret.encode(), (t + ".").encode() + body, hashlib.sha256).hexdigest()
            sig_ok = (hmac.compare_digest(want, parts["v1"]) and t == self.headers["Dialer-Timestamp"]
                      and abs(time.time() - int(t)) < 300)
        except Exception:
            pass
        ev = json.loads(body)
        rec = {"recv": name, "path": self.path, "hdr_id": self.headers.get("Dialer-Event-Id"),
               "id": ev.get("id"), "type": ev.get("type"),
               "hdr_type": self.headers.get("Dialer-Event-Type"),
               "attempt": ev.get("data", {}).get("attempt_id"), "sig_ok": sig_ok,
               "has_created": "created_at" in ev, "tenant": ev.get("tenant_id")}
        with lock, open(os.path.join(tmp, "got.jsonl"), "a") as f:
            f.write(json.dumps(rec) + "\n")
        code = 410 if self.path.endswith("/gone") else 200
        self.send_response(code)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *a):
        pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
s.daemon_threads = True
open(os.path.join(tmp, "port." + name), "w").write(str(s.server_port))
s.serve_forever()
PY
start_recv() { # name [port]: the port in $TMP/port.<name>
  rm -f "$TMP/port.$1"
  python3 "$TMP/recv.py" "$1" "${2:-0}" "$TMP" >>"$TMP/recv.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 50); do [ -s "$TMP/port.$1" ] && break; sleep 0.1; done
}
: >"$TMP/got.jsonl"
start_recv r1
start_recv r2
P1=$(cat "$TMP/port.r1")
P2=$(cat "$TMP/port.r2")
P3=$(free_port) # r3 starts only once the "dead" target recovers
echo slow >"$TMP/mode.r2"
check "receivers listen" test -n "$P1" -a -n "$P2"

e2e_createdb
e2e_env
export DIALERD_SECRETS_KEY=$(head -c 32 /dev/urandom | base64)
export DIALERD_NODE_ID="hooks-$$" DIALERD_LOG_LEVEL=info
export DIALERD_DIALER_ALLOW_MISSING_DNC=true DIALERD_DIALER_TALK_TIME=100ms
export DIALERD_DIALER_POLL=100ms DIALERD_DIALER_CPS=400 DIALERD_DIALER_MAX_CHANNELS=400
export DIALERD_WEBHOOKS_ALLOW=127.0.0.1/32 DIALERD_WEBHOOKS_POLL=200ms
export DIALERD_WEBHOOKS_RETRY_MIN=1s DIALERD_WEBHOOKS_RETRY_MAX=3s
export DIALERD_WEBHOOKS_CONNECT_TIMEOUT=1s DIALERD_WEBHOOKS_TIMEOUT=12s
export DIALERD_WEBHOOKS_PER_ENDPOINT=2 DIALERD_WEBHOOKS_DISABLE_AFTER=6s
check "migrate" bash -c "'$DIALERD' migrate >/dev/null"
PW="s3cret-Pass-$$"
e2e_bootstrap alpha admin-$$@alpha.test "$PW" >/dev/null 2>&1
e2e_bootstrap beta admin-$$@beta.test "$PW" >/dev/null 2>&1
TA=$(sql "SELECT id FROM tenants WHERE slug = 'alpha'")
TB=$(sql "SELECT id FROM tenants WHERE slug = 'beta'")

SETTINGS="{\"pacing\": {\"mode\": \"fixed\", \"cps\": $CPS, \"max_channels\": 200}, \"retry\": {\"max_attempts\": 1}}"
mk_campaign() { # tenant name first-number -> campaign id
  local c l f
  f=$(sql "INSERT INTO ivr_flows (tenant_id, name) VALUES ($1, 'f-$2') RETURNING id" | head -1)
  c=$(sql "INSERT INTO campaigns (tenant_id, name, flow_id, settings) VALUES ($1, '$2', $f, '$SETTINGS') RETURNING id" | head -1)
  l=$(sql "INSERT INTO contact_lists (tenant_id, name) VALUES ($1, 'l-$2') RETURNING id" | head -1)
  sql "INSERT INTO campaign_lists (tenant_id, campaign_id, list_id) VALUES ($1, $c, $l)" >/dev/null
  sql "INSERT INTO contacts (tenant_id, list_id, number) SELECT $1, $l, '+1212' || ($3 + g)::text FROM generate_series(0, $N - 1) g" >/dev/null
  echo "$c"
}
CB=$(mk_campaign "$TB" ref 5550000)
CA=$(mk_campaign "$TA" hooked 6660000)

LOG=$DIALER_RUN_DIR/dialerd-webhooks-test.log
: >"$LOG"
check "dialerd starts" e2e_start_dialerd "$LOG"
U=http://127.0.0.1:$DPORT/api/v1
TOK=$(jget "$(e2e_login "$U" admin-$$@alpha.test "$PW")" 'j["access_token"]')

# ---- 1. the API
mk_hook() { # url events-json -> "status body"
  api POST /webhooks "{\"url\": \"$1\", \"events\": $2, \"description\": \"test\"}"
}
r=$(mk_hook "http://127.0.0.1:$P1/hooks" '["call.completed", "campaign.state_changed"]')
check "create answers 201" test "$(status "$r")" = 201
E1=$(jget "$(body "$r")" 'j["id"]')
S1=$(jget "$(body "$r")" 'j["secret"]')
check "the secret is shown at creation (whsec_...)" grep -q '^whsec_' <<<"$S1"
echo "$S1" >"$TMP/secret.r1"
r=$(api GET "/webhooks/$E1")
check "a read never shows the secret" test "$(status "$r")" = 200 -a "$(jget "$(body "$r")" '"secret" in j')" = false
check "the secret is not stored in clear" test \
  "$(sql "SELECT count(*) FROM webhook_endpoints WHERE position('$S1' in encode(secret_ct, 'escape')) > 0")" = 0
r=$(api POST /webhooks '{"url": "ftp://x.test/", "events": ["call.completed"]}')
check "a bad url is refused naming \$.url" test "$(status "$r")" = 422 -a "$(jget "$(body "$r")" 'j["error"]["field"]')" = '$.url'
r=$(api POST /webhooks "{\"url\": \"http://127.0.0.1:$P1/\", \"events\": [\"call.done\"]}")
check "an unknown event is refused naming \$.events" test "$(status "$r")" = 422 -a "$(jget "$(body "$r")" 'j["error"]["field"]')" = '$.events'
r=$(api PATCH "/webhooks/$E1" '{"colour": "red"}')
check "PATCH refuses an unknown field" test "$(status "$r")" = 422
r=$(api POST /users "{\"email\": \"viewer-$$@alpha.test\", \"role\": \"viewer\", \"password\": \"$PW\"}")
VTOK=$(jget "$(e2e_login "$U" viewer-$$@alpha.test "$PW")" 'j["access_token"]')
vget=$(curl -sS -o /dev/null -w '%{http_code}' "$U/webhooks/$E1" -H "Authorization: Bearer $VTOK")
vpost=$(curl -sS -o /dev/null -w '%{http_code}' -XPOST "$U/webhooks" -H "Authorization: Bearer $VTOK" \
  -H 'Content-Type: application/json' -d "{\"url\": \"http://127.0.0.1:$P1/\", \"events\": [\"*\"]}")
check "a viewer reads ($vget) but cannot create ($vpost)" test "$vget" = 200 -a "$vpost" = 403
TOKB=$(jget "$(e2e_login "$U" admin-$$@beta.test "$PW")" 'j["access_token"]')
bget=$(curl -sS -o /dev/null -w '%{http_code}' "$U/webhooks/$E1" -H "Authorization: Bearer $TOKB")
check "another tenant does not see it ($bget)" test "$bget" = 404

# ---- 2. reference rate: tenant beta has no webhooks
rate() { # campaign -> originates per second (first to last attempt)
  sql "SELECT round(((count(*) - 1) / greatest(extract(epoch FROM max(started_at) - min(started_at)), 0.001))::numeric, 2) FROM call_attempts WHERE campaign_id = $1"
}
done_sql="SELECT count(*) FROM call_attempts WHERE campaign_id = %s AND ended_at IS NOT NULL"
sql "UPDATE campaigns SET state = 'running' WHERE id = $CB" >/dev/null
check "reference campaign completes" wait_sql "$(printf "$done_sql" "$CB")" "$N" 90
RB=$(rate "$CB")

# ---- 3. a slow and a dead endpoint beside the healthy one
r=$(mk_hook "http://127.0.0.1:$P2/slow" '["call.completed"]')
E2=$(jget "$(body "$r")" 'j["id"]')
jget "$(body "$r")" 'j["secret"]' >"$TMP/secret.r2"
r=$(mk_hook "http://127.0.0.1:$P3/dead" '["call.completed"]')
E3=$(jget "$(body "$r")" 'j["id"]')
jget "$(body "$r")" 'j["secret"]' >"$TMP/secret.r3"
r=$(mk_hook "http://127.0.0.1:$P1/gone" '["campaign.state_changed"]')
E4=$(jget "$(body "$r")" 'j["id"]')
r=$(mk_hook "http://[::1]:$P1/ssrf" '["campaign.state_changed"]')
E5=$(jget "$(body "$r")" 'j["id"]')
check "five endpoints created" test -n "$E2" -a -n "$E3" -a -n "$E4" -a -n "$E5"

sql "UPDATE campaigns SET state = 'running' WHERE id = $CA" >/dev/null
check "the hooked campaign completes" wait_sql "$(printf "$done_sql" "$CA")" "$N" 90
RA=$(rate "$CA")
ok_ratio=$(python3 -c "print(int($RA >= $RATIO_MIN * $RB))")
check "originate rate with slow and dead endpoints ($RA/s) >= $RATIO_MIN x without ($RB/s)" test "$ok_ratio" = 1
got() { # receiver -> distinct attempt ids of campaign A's call.completed events received signed
  python3 - "$TMP/got.jsonl" "$1" <<'PY'
import json, sys
ids = set()
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["recv"] == sys.argv[2] and r["type"] == "call.completed" and r["sig_ok"] and r["id"] == r["hdr_id"] and r["type"] == r["hdr_type"]:
        ids.add(r["attempt"])
print("\n".join(sorted(i for i in ids if i)))
PY
}
attempts() { sql "SELECT id FROM call_attempts WHERE campaign_id = $1 ORDER BY id"; }
attempts "$CA" >"$TMP/attempts.a"
wait_same() { # receiver secs
  for _ in $(seq 1 $(($2 * 5))); do
    got "$1" | comm -12 - "$TMP/attempts.a" | cmp -s - "$TMP/attempts.a" && return 0
    sleep 0.2
  done
  echo "  $1 has $(got "$1" | comm -12 - "$TMP/attempts.a" | wc -l) of $N" >&2
  return 1
}
check "the healthy endpoint got every call.completed of the campaign, signed, within 30 s" wait_same r1 30
check "no event id reached the healthy endpoint twice" test "$(python3 -c "
import json
ids=[json.loads(l)['id'] for l in open('$TMP/got.jsonl') if json.loads(l)['recv']=='r1']
print(len(ids)-len(set(ids)))")" = 0
check "the body carries id, type, created_at and the tenant" test "$(python3 -c "
import json
print(all(r['has_created'] and r['tenant']==$TA for r in map(json.loads, open('$TMP/got.jsonl')) if r['recv']=='r1'))")" = True
check "the campaign's state changes reached it too" test "$(grep -c '"recv": "r1".*"campaign.state_changed"' "$TMP/got.jsonl")" -ge 1
r2_inflight=$(sql "SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $E2 AND status = 'sending'")
check "the slow endpoint holds at most its 2 slots ($r2_inflight)" test "$r2_inflight" -le 2
check "the dead endpoint's deliveries are retried with the error recorded" wait_sql \
  "SELECT count(*) > 0 FROM webhook_deliveries WHERE endpoint_id = $E3 AND attempts >= 2 AND status = 'pending' AND last_error IS NOT NULL" t 20
r=$(api GET "/webhooks/$E3/deliveries?limit=5")
check "GET deliveries shows attempts and the last error" test \
  "$(jget "$(body "$r")" 'j["items"][0]["status"] in ("pending","sending") and j["items"][0]["attempts"] >= 1 and "last_error" in j["items"][0]')" = true

check "failing for webhooks.disable-after disabled the dead endpoint, with the reason" wait_sql \
  "SELECT count(*) FROM webhook_endpoints WHERE id = $E3 AND NOT enabled AND disabled_reason LIKE 'disabled: every delivery failed since%'" 1 30
r=$(api GET "/webhooks/$E3")
check "GET says so" test "$(jget "$(body "$r")" 'j["enabled"] is False and j["disabled_reason"].startswith("disabled: every delivery failed")')" = true

# ---- 4. 410 Gone and the SSRF guard
r=$(api GET "/webhooks/$E4")
check "410 Gone disabled the endpoint, with the reason" wait_sql \
  "SELECT count(*) FROM webhook_endpoints WHERE id = $E4 AND NOT enabled AND disabled_reason LIKE '%410%'" 1 20
r=$(api GET "/webhooks/$E4")
check "GET shows it disabled" test "$(jget "$(body "$r")" 'j["enabled"]')" = false
check "the internal address was refused by the guard" wait_sql \
  "SELECT count(*) > 0 FROM webhook_deliveries WHERE endpoint_id = $E5 AND last_error LIKE 'address refused%'" t 20
check "nothing reached the receiver through the refused address" test "$(grep -c '/ssrf' "$TMP/got.jsonl")" = 0

# ---- 5. kill -9 with a backlog, the targets recover, restart
pending=$(sql "SELECT count(*) FROM webhook_deliveries WHERE endpoint_id IN ($E2, $E3) AND status IN ('pending', 'sending')")
check "a backlog exists before the kill ($pending)" test "$pending" -gt $((N / 2))
kill -9 "$DPID"
wait "$DPID" 2>/dev/null
echo ok >"$TMP/mode.r2"
start_recv r3 "$P3"
check "dialerd restarts" e2e_start_dialerd "$LOG"
U=http://127.0.0.1:$DPORT/api/v1
r=$(api PATCH "/webhooks/$E3" '{"enabled": true}')
check "PATCH enabled=true revives it" test "$(status "$r")" = 200 -a "$(jget "$(body "$r")" 'j["enabled"] and j["disabled_reason"] is None')" = true
check "after the restart the slow endpoint got every event" wait_same r2 90
check "and the once dead endpoint too" wait_same r3 60
check "their outbox rows are delivered" wait_sql \
  "SELECT count(*) FROM webhook_deliveries WHERE endpoint_id IN ($E2, $E3) AND status = 'delivered'" $((2 * N)) 30
r=$(api GET "/webhooks/$E3")
check "the recovered endpoint is no longer failing" test "$(jget "$(body "$r")" 'j["failing_since"]')" = null

# ---- 6. redelivery
D=$(sql "SELECT id FROM webhook_deliveries WHERE endpoint_id = $E1 AND status = 'delivered' ORDER BY id LIMIT 1")
EV=$(sql "SELECT event_id FROM webhook_deliveries WHERE id = $D")
before=$(grep -c "\"id\": \"$EV\"" "$TMP/got.jsonl")
r=$(api POST "/webhooks/$E1/deliveries/$D/redeliver")
check "redeliver answers 202" test "$(status "$r")" = 202
for _ in $(seq 1 50); do [ "$(grep -c "\"id\": \"$EV\"" "$TMP/got.jsonl")" -gt "$before" ] && break; sleep 0.2; done
check "the event arrives again with the same id" test "$(grep -c "\"id\": \"$EV\"" "$TMP/got.jsonl")" -gt "$before"
r=$(api POST "/webhooks/$E1/rotate-secret")
S1b=$(jget "$(body "$r")" 'j["secret"]')
check "rotation shows a new secret" test "$(status "$r")" = 200 -a -n "$S1b" -a "$S1b" != "$S1"
check "SIGTERM stops dialerd" e2e_stop_dialerd
# ---- 7. the outbox is bounded: at most webhooks.keep-per-tenant finished rows per tenant
export DIALERD_WEBHOOKS_KEEP_PER_TENANT=10
check "dialerd starts with keep-per-tenant 10" e2e_start_dialerd "$LOG"
check "the sweep pruned the tenant's finished rows to 10" wait_sql \
  "SELECT count(*) FROM webhook_deliveries WHERE tenant_id = $TA AND status IN ('delivered', 'failed')" 10 30
check "SIGTERM stops it" e2e_stop_dialerd
check "no secret in the log" bash -c "test -n '$S1' -a -n '$S1b' && ! grep -qF -e '$S1' -e '$S1b' '$LOG'"

echo "rates: without webhooks $RB/s, with slow and dead endpoints $RA/s"
echo "$fails failed"
exit $((fails > 0))
