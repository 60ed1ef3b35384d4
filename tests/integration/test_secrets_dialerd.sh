#!/usr/bin/env bash
# Tenant secrets in a real dialerd: the key from DIALERD_SECRETS_KEY, a
# secret set, listed (name only) and stored sealed through the API at
# DEBUG log level, the value in no log line; without a key the routes
# answer 503 naming the options; a key that is not base64 of 32 bytes
# stops dialerd at start naming the option (and not the text). Run by
# tests/support/run-all.sh with the services' env.
set -uo pipefail
. "$(dirname "$0")/../support/e2e.sh"
e2e_init secrets_dialerd

e2e_createdb
e2e_env
export DIALERD_ARI_URL="http://127.0.0.1:9"
export DIALERD_LOG_LEVEL=debug
PW="s3cret-Pass-$$"
VALUE="crm-value-$$-never-logged"
KEY=$(head -c 32 /dev/urandom | base64)

check "migrate" bash -c "'$DIALERD' migrate >/dev/null"
e2e_bootstrap acme "ops-$$@acme.test" "$PW" >/dev/null 2>&1

# Starts dialerd logging to LOG (settings of its own go before the call); sets PORT, U and TOK.
start() {
  LOG=$1
  : >"$LOG"
  e2e_start_dialerd "$LOG"
  PORT=$DPORT
  U=http://127.0.0.1:$PORT/api/v1
  TOK=$(jget "$(e2e_login "$U" "ops-$$@acme.test" "$PW")" 'j["access_token"]')
}

LOG=$DIALER_RUN_DIR/dialerd-secrets-test.log
DIALERD_SECRETS_KEY="$KEY" start "$LOG"
check "dialerd listens with a secrets key" test -n "$PORT"
st=$(curl -sS -o /dev/null -w '%{http_code}' -XPUT "$U/secrets/crm_token" -H "Authorization: Bearer $TOK" \
  -H 'Content-Type: application/json' -d "{\"value\":\"$VALUE\"}")
check "PUT /secrets/crm_token creates (201)" test "$st" = 201
l=$(curl -sS "$U/secrets" -H "Authorization: Bearer $TOK")
check "GET /secrets lists the name" grep -q '"name":"crm_token"' <<<"$l"
check "GET /secrets shows no value" bash -c "! grep -qF '$VALUE' <<<'$l'"
n=$(sql "SELECT count(*) FROM tenant_secrets WHERE name = 'crm_token' AND position(convert_to('$VALUE', 'UTF8') IN ciphertext) = 0")
check "PostgreSQL holds the value sealed only" test "$n" = 1
sleep 0.5 # one refresh of the flows' copy is logged at DEBUG if anything were
kill -TERM "$DPID"
wait "$DPID"
check "SIGTERM exits 0" test $? -eq 0
check "the value never reaches the log (DEBUG)" bash -c "! grep -qF '$VALUE' '$LOG'"
check "the key never reaches the log" bash -c "! grep -qF '$KEY' '$LOG'"

LOG2=$DIALER_RUN_DIR/dialerd-secrets-nokey.log
start "$LOG2"
st=$(curl -sS -o "$LOG2.body" -w '%{http_code}' "$U/secrets" -H "Authorization: Bearer $TOK")
check "without a key GET /secrets is 503" test "$st" = 503
check "the 503 names secrets.key and secrets.key-file" \
  bash -c "grep -q 'secrets.key' '$LOG2.body' && grep -q 'secrets.key-file' '$LOG2.body'"
check "without a key dialerd warns" grep -q 'event=secrets_unconfigured' "$LOG2"
kill -TERM "$DPID"
wait "$DPID"

LOG3=$DIALER_RUN_DIR/dialerd-secrets-badkey.log
DIALERD_SECRETS_KEY="not-a-key-$$" timeout 20 "$DIALERD" >"$LOG3" 2>&1
rc=$?
check "a bad key stops dialerd at start" test "$rc" -ne 0 -a "$rc" -ne 124
check "the refusal names secrets.key" grep -q 'key=secrets.key ' "$LOG3"
check "the refusal does not print the key" bash -c "! grep -qF 'not-a-key-$$' '$LOG3'"
rm -f "$LOG2.body"

e2e_done
