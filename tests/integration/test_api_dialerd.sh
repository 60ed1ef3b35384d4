#!/usr/bin/env bash
# The REST API in a real dialerd: `dialerd bootstrap` (password from stdin,
# refused as an argument, bad input exit 2, taken e-mail exit 1), then
# dialerd serving login and /me as the application role (dialer_app, RLS in
# force), JWT keys from the environment, no password in the log, and a clean
# exit on SIGTERM. Run by tests/support/run-all.sh with the services' env.
set -uo pipefail
B=${DIALER_BUILD:?}
DIALERD=$B/dialerd
fails=0
pids=()
DB=test_api_dialerd_$$
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
PW="s3cret-Pass-$$"

check "migrate" bash -c "'$DIALERD' migrate >/dev/null"
out=$(printf '%s\n' "$PW" | "$DIALERD" bootstrap --tenant-slug acme --tenant-name "Acme Inc" \
  --email ops-$$@acme.test --name Ops --platform-operator 2>&1)
check "bootstrap from stdin creates tenant and admin" \
  bash -c "grep -q 'tenant acme id=[0-9]* created' <<<'$out' && grep -q 'platform-operator created' <<<'$out'"
printf '%s\n' "$PW" | "$DIALERD" bootstrap --tenant-slug acme --email ops-$$@acme.test >/dev/null 2>&1
check "bootstrap refuses a taken e-mail (exit 1)" test $? -eq 1
"$DIALERD" bootstrap --tenant-slug acme --email x@acme.test --password "$PW" </dev/null >/dev/null 2>&1
check "bootstrap refuses a password argument (exit 2)" test $? -eq 2
DIALERD_BOOTSTRAP_PASSWORD=short "$DIALERD" bootstrap --tenant-slug acme --email y@acme.test >/dev/null 2>&1
check "bootstrap refuses a short password (exit 2)" test $? -eq 2
DIALERD_BOOTSTRAP_PASSWORD="$PW" "$DIALERD" bootstrap --tenant-slug "Bad Slug" --email z@acme.test >/dev/null 2>&1
check "bootstrap refuses a bad slug (exit 2)" test $? -eq 2
stored=$("${PSQL[@]}" -d "$DB" -Atc "SELECT count(*) FROM users WHERE password_hash LIKE '\$argon2id\$%'")
check "the password is stored as Argon2id only" test "$stored" = 1

LOG=$DIALER_RUN_DIR/dialerd-api-test.log
"$DIALERD" >"$LOG" 2>&1 &
DPID=$!
pids+=($DPID)
PORT=
for _ in $(seq 1 100); do
  PORT=$(sed -n 's/.*server event=listening .* port=\([0-9]*\).*/\1/p' "$LOG" | head -1)
  [ -n "$PORT" ] && break
  sleep 0.1
done
check "dialerd listens" test -n "$PORT"
U=http://127.0.0.1:$PORT/api/v1
body=
for _ in $(seq 1 100); do
  body=$(curl -sS -XPOST "$U/auth/login" -H 'Content-Type: application/json' \
    -d "{\"email\":\"ops-$$@acme.test\",\"password\":\"$PW\"}" 2>/dev/null)
  grep -q access_token <<<"$body" && break
  sleep 0.1
done
check "login answers a token pair" grep -q '"refresh_token"' <<<"$body"
TOK=$(sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p' <<<"$body")
me=$(curl -sS "$U/me" -H "Authorization: Bearer $TOK")
check "/me names the bootstrapped operator" \
  bash -c "grep -q '\"email\":\"ops-$$@acme.test\"' <<<'$me' && grep -q '\"platform_operator\":true' <<<'$me'"
hdrs=$(curl -sS -D - -o /dev/null "$U/me")
check "no credentials: 401 with X-Request-Id" \
  bash -c "grep -q '^HTTP/1.1 401' <<<'$hdrs' && grep -qi '^X-Request-Id:' <<<'$hdrs'"
t=$(curl -sS "$U/tenants" -H "Authorization: Bearer $TOK")
check "the operator lists tenants" grep -q '"slug":"acme"' <<<"$t"
kill -TERM "$DPID"
wait "$DPID"
check "SIGTERM exits 0" test $? -eq 0
check "the password never reaches the log" bash -c "! grep -qF '$PW' '$LOG'"
check "the signing secret never reaches the log" bash -c "! grep -qF 'dialerd-test-secret' '$LOG'"

echo "$fails failed"
exit $((fails > 0))
