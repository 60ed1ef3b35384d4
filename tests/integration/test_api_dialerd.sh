#!/usr/bin/env bash
# The REST API in a real dialerd: `dialerd bootstrap` (password from stdin,
# refused as an argument, bad input exit 2, taken e-mail exit 1), then
# dialerd serving login and /me as the application role (dialer_app, RLS in
# force), JWT keys from the environment, no password in the log, and a clean
# exit on SIGTERM. Run by tests/support/run-all.sh with the services' env.
set -uo pipefail
# shellcheck source=tests/support/e2e.sh
. "$(dirname "$0")/../support/e2e.sh"
e2e_init api_dialerd
e2e_createdb
e2e_env
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
stored=$(sql "SELECT count(*) FROM users WHERE password_hash LIKE '\$argon2id\$%'")
check "the password is stored as Argon2id only" test "$stored" = 1

LOG=$DIALER_RUN_DIR/dialerd-api-test.log
: >"$LOG"
e2e_start_dialerd "$LOG"
PORT=$DPORT
check "dialerd listens" test -n "$PORT"
U=http://127.0.0.1:$PORT/api/v1
body=$(e2e_login "$U" "ops-$$@acme.test" "$PW")
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

e2e_done
