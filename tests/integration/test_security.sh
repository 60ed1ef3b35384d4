#!/usr/bin/env bash
# Security properties of a whole dialerd, from outside: TLS for the API and
# the live WebSocket with certificate files from the configuration (a
# self-signed certificate made here, verified by the client), plain HTTP
# refused on the TLS port, request size limits (413) and header limits (431)
# at the configured values, failed-login limits (429 with Retry-After), and
# no secret in the log of the whole run: JWT signing key, passwords, ARI
# password, API key, access and refresh tokens, phone numbers in full.
# Tenant isolation, roles, token attacks, formula-safe exports and the
# api_call SSRF guard are covered by test_api.c, test_import.c and
# test_ivr_api_call.c (docs/SECURITY.md maps each threat to its test).
# Run by tests/support/run-all.sh with the services' environment.
set -uo pipefail
# shellcheck source=tests/support/e2e.sh
. "$(dirname "$0")/../support/e2e.sh"
e2e_init security

# A throw-away CA-less certificate for 127.0.0.1 (the client trusts exactly it).
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=127.0.0.1" \
  -addext "subjectAltName=IP:127.0.0.1" -keyout "$TMP/key.pem" -out "$TMP/cert.pem" \
  >/dev/null 2>&1
check "certificate generated" test -s "$TMP/cert.pem"

JWT_SECRET="sec-jwt-signing-key-$$-0123456789abcdef0123"
ARI_SECRET="sec-ari-password-$$"
PW="sec-Admin-Pass-$$"
e2e_createdb
e2e_env
export DIALERD_HTTP_TLS_CERT=$TMP/cert.pem DIALERD_HTTP_TLS_KEY=$TMP/key.pem
export DIALERD_HTTP_MAX_BODY=64k DIALERD_HTTP_MAX_HEADER=4k
export DIALERD_API_JWT_KEYS="main=$JWT_SECRET"
export DIALERD_ARI_URL="http://127.0.0.1:9" DIALERD_ARI_USER=asterisk DIALERD_ARI_PASSWORD=$ARI_SECRET
export DIALERD_DIALER_ENABLED=false

check "migrate" bash -c "'$DIALERD' migrate >/dev/null 2>&1"
printf '%s\n' "$PW" | "$DIALERD" bootstrap --tenant-slug acme --tenant-name Acme \
  --email admin-$$@acme.test --name Admin >/dev/null 2>&1
check "bootstrap" test $? -eq 0

LOG=$TMP/dialerd.log
: >"$LOG"
e2e_start_dialerd "$LOG"
PORT=$DPORT
check "dialerd listens" test -n "$PORT"
S=https://127.0.0.1:$PORT
C=(curl -sS --max-time 5 --cacert "$TMP/cert.pem")

# 1. TLS with the configured certificate; plain HTTP refused on that port.
code=$("${C[@]}" -o /dev/null -w '%{http_code}' "$S/healthz")
check "HTTPS /healthz with the configured certificate verifies and answers 200" test "$code" = 200
code=$(curl -s --max-time 3 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/healthz")
check "plain HTTP on the TLS port gets no HTTP answer ($code)" test "$code" = 000
code=$(curl -s --max-time 3 -o /dev/null -w '%{http_code}' "$S/healthz")
check "a client without the certificate refuses the connection ($code)" test "$code" = 000

# 2. Login over HTTPS.
body=
for _ in $(seq 1 50); do
  body=$("${C[@]}" -XPOST "$S/api/v1/auth/login" -H 'Content-Type: application/json' \
    -d "{\"email\":\"admin-$$@acme.test\",\"password\":\"$PW\"}" 2>/dev/null)
  grep -q access_token <<<"$body" && break
  sleep 0.1
done
check "login over HTTPS answers a token pair" grep -q '"refresh_token"' <<<"$body"
TOK=$(sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p' <<<"$body")
REFRESH=$(sed -n 's/.*"refresh_token":"\([^"]*\)".*/\1/p' <<<"$body")
key=$("${C[@]}" -XPOST "$S/api/v1/api-keys" -H "Authorization: Bearer $TOK" \
  -H 'Content-Type: application/json' -d '{"name":"ci","role":"viewer"}')
APIKEY=$(sed -n 's/.*"key":"\([^"]*\)".*/\1/p' <<<"$key")
check "an API key is issued (shown once)" test -n "$APIKEY"
code=$("${C[@]}" -o /dev/null -w '%{http_code}' "$S/api/v1/me" -H "X-API-Key: $APIKEY")
check "the API key authenticates over HTTPS" test "$code" = 200

# 3. WebSocket over TLS (WSS): the upgrade is accepted with a token, refused without.
ws() { # ws <query>: the status line of the upgrade answer
  "${C[@]}" --http1.1 -i --max-time 2 "$S/ws/v1/live$1" -H 'Connection: Upgrade' \
    -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' \
    -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' 2>/dev/null | head -1 | tr -d '\r'
}
st=$(ws "?access_token=$TOK")
check "WSS upgrade on /ws/v1/live ($st)" grep -q '^HTTP/1.1 101' <<<"$st"

# 4. Size limits at the configured values.
head -c 70000 /dev/zero | tr '\0' 'a' >"$TMP/big.json"
code=$("${C[@]}" -o /dev/null -w '%{http_code}' -XPOST "$S/api/v1/auth/login" \
  -H 'Content-Type: application/json' --data-binary @"$TMP/big.json")
check "a body over http.max-body (64k) answers 413 ($code)" test "$code" = 413
code=$("${C[@]}" -o /dev/null -w '%{http_code}' -XPOST "$S/api/v1/auth/login" \
  -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' --data-binary @"$TMP/big.json")
check "a chunked body over the limit answers 413 ($code)" test "$code" = 413
big=$(head -c 6000 /dev/zero | tr '\0' 'b')
code=$("${C[@]}" -o /dev/null -w '%{http_code}' "$S/healthz" -H "Cookie: c=$big")
check "headers over http.max-header (4k) answer 431 ($code)" test "$code" = 431
# On TLS a header lws does not know by name is bounded by twice the limit
# (docs/httpd.md): over that the connection closes without an answer.
huge=$(head -c 9000 /dev/zero | tr '\0' 'b')
code=$("${C[@]}" -o /dev/null -w '%{http_code}' "$S/healthz" -H "X-Filler: $huge" 2>/dev/null)
check "an unknown header over twice the limit is refused ($code)" test "$code" = 431 -o "$code" = 000
code=$("${C[@]}" -o /dev/null -w '%{http_code}' "$S/healthz")
check "the server still answers after the refusals" test "$code" = 200

# 5. Failed logins limited per account (429 with Retry-After, before the password is checked).
last=
for i in $(seq 1 6); do
  last=$("${C[@]}" -o /dev/null -D "$TMP/h.txt" -w '%{http_code}' -XPOST "$S/api/v1/auth/login" \
    -H 'Content-Type: application/json' \
    -d "{\"email\":\"admin-$$@acme.test\",\"password\":\"wrong-guess-$i\"}")
done
check "the sixth wrong password answers 429 ($last)" test "$last" = 429
check "with Retry-After" grep -qi '^Retry-After: [0-9]' "$TMP/h.txt"
code=$("${C[@]}" -o /dev/null -w '%{http_code}' -XPOST "$S/api/v1/auth/login" \
  -H 'Content-Type: application/json' -d "{\"email\":\"admin-$$@acme.test\",\"password\":\"$PW\"}")
check "even the right password is refused while limited ($code)" test "$code" = 429

kill -TERM "$DPID"
wait "$DPID"
check "SIGTERM exits 0" test $? -eq 0

# 6. Secrets never in the log of the whole run.
nolog() { ! grep -qF -- "$1" "$LOG"; }
check "log has lines to search" test "$(wc -l <"$LOG")" -gt 10
check "JWT signing key not in the log" nolog "$JWT_SECRET"
check "admin password not in the log" nolog "$PW"
check "ARI password not in the log" nolog "$ARI_SECRET"
check "API key not in the log" nolog "$APIKEY"
check "access token not in the log" nolog "$TOK"
check "refresh token not in the log" nolog "$REFRESH"
check "wrong passwords not in the log" nolog "wrong-guess-"
check "TLS key material not in the log" nolog "PRIVATE KEY"

e2e_done
