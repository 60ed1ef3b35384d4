#!/usr/bin/env bash
# Tenant secrets in a real dialerd: the key from DIALERD_SECRETS_KEY, a
# secret set, listed (name only) and stored sealed through the API at
# DEBUG log level, the value in no log line; without a key the routes
# answer 503 naming the options; a key that is not base64 of 32 bytes
# stops dialerd at start naming the option (and not the text). Run by
# tests/support/run-all.sh with the services' env.
set -uo pipefail
B=${DIALER_BUILD:?}
DIALERD=$B/dialerd
fails=0
pids=()
DB=test_secrets_dialerd_$$
PSQL=("$DIALER_PG_BIN/psql" -h "$DIALER_PG_SOCKDIR" -p "$DIALER_PG_PORT" -U dialer)
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  "${PSQL[@]}" -d postgres -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1
}
trap cleanup EXIT

check() {
  local what=$1
  shift
  if "$@"; then echo "ok - $what"; else echo "FAIL - $what"; fails=$((fails + 1)); fi
}

"${PSQL[@]}" -d postgres -qc "CREATE DATABASE $DB" >/dev/null
export DIALERD_DB_ADMIN_CONNINFO="host=$DIALER_PG_SOCKDIR port=$DIALER_PG_PORT user=dialer dbname=$DB"
export DIALERD_DB_CONNINFO="host=$DIALER_PG_SOCKDIR port=$DIALER_PG_PORT user=dialer_app dbname=$DB"
export DIALERD_REDIS_HOST=127.0.0.1 DIALERD_REDIS_PORT=$DIALER_REDIS_PORT
export DIALERD_HTTP_STATIC_DIR="" DIALERD_HTTP_PORT=0
export DIALERD_API_PWHASH_OPS=1 DIALERD_API_PWHASH_MEM=64k
export DIALERD_API_JWT_KEYS="main=dialerd-test-secret-0123456789abcdef0123"
export DIALERD_ARI_URL="http://127.0.0.1:9"
export DIALERD_LOG_LEVEL=debug
PW="s3cret-Pass-$$"
VALUE="crm-value-$$-never-logged"
KEY=$(head -c 32 /dev/urandom | base64)

check "migrate" bash -c "'$DIALERD' migrate >/dev/null"
printf '%s\n' "$PW" | "$DIALERD" bootstrap --tenant-slug acme --email ops-$$@acme.test >/dev/null 2>&1

# Starts dialerd with the environment given; sets PORT and TOK.
start() {
  LOG=$1
  shift
  env "$@" "$DIALERD" >"$LOG" 2>&1 &
  DPID=$!
  pids+=($DPID)
  PORT=
  for _ in $(seq 1 100); do
    PORT=$(sed -n 's/.*server event=listening .* port=\([0-9]*\).*/\1/p' "$LOG" | head -1)
    [ -n "$PORT" ] && break
    sleep 0.1
  done
  U=http://127.0.0.1:$PORT/api/v1
  body=
  for _ in $(seq 1 100); do
    body=$(curl -sS -XPOST "$U/auth/login" -H 'Content-Type: application/json' \
      -d "{\"email\":\"ops-$$@acme.test\",\"password\":\"$PW\"}" 2>/dev/null)
    grep -q access_token <<<"$body" && break
    sleep 0.1
  done
  TOK=$(sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p' <<<"$body")
}

LOG=$DIALER_RUN_DIR/dialerd-secrets-test.log
start "$LOG" DIALERD_SECRETS_KEY="$KEY"
check "dialerd listens with a secrets key" test -n "$PORT"
st=$(curl -sS -o /dev/null -w '%{http_code}' -XPUT "$U/secrets/crm_token" -H "Authorization: Bearer $TOK" \
  -H 'Content-Type: application/json' -d "{\"value\":\"$VALUE\"}")
check "PUT /secrets/crm_token creates (201)" test "$st" = 201
l=$(curl -sS "$U/secrets" -H "Authorization: Bearer $TOK")
check "GET /secrets lists the name" grep -q '"name":"crm_token"' <<<"$l"
check "GET /secrets shows no value" bash -c "! grep -qF '$VALUE' <<<'$l'"
n=$("${PSQL[@]}" -d "$DB" -Atc "SELECT count(*) FROM tenant_secrets WHERE name = 'crm_token' AND position(convert_to('$VALUE', 'UTF8') IN ciphertext) = 0")
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

echo "$fails failed"
exit $((fails > 0))
