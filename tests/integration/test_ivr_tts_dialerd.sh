#!/usr/bin/env bash
# Prompts over HTTP in a real dialerd: with ivr.sounds-dir and
# ivr.sounds-http-base set, GET /sounds/tts-<hex>.wav serves the cache file
# (audio/wav, same bytes); other names in the directory, traversal and a
# symlink named like a cache file are 404. Configuration errors of the text
# to speech options exit 2 naming the key, and the token never shows in
# --help-config. Run by tests/support/run-all.sh with the services' env.
set -uo pipefail
B=${DIALER_BUILD:?}
DIALERD=$B/dialerd
fails=0
pids=()
DB=test_ivr_tts_dialerd_$$
TMP=$(mktemp -d)
PSQL=("$DIALER_PG_BIN/psql" -h "$DIALER_PG_SOCKDIR" -p "$DIALER_PG_PORT" -U dialer)
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  "${PSQL[@]}" -d postgres -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1
  rm -rf "$TMP"
}
trap cleanup EXIT

check() {
  local what=$1
  shift
  if "$@"; then echo "ok - $what"; else echo "FAIL - $what"; fails=$((fails + 1)); fi
}

# Configuration errors name the key and exit 2.
out=$(DIALERD_IVR_TTS_PROVIDER=festival "$DIALERD" migrate-status 2>&1)
check "unknown provider exits 2" test $? -eq 2
check "unknown provider is named" grep -q 'ivr.tts-provider' <<<"$out"
out=$(DIALERD_IVR_TTS_PROVIDER=http DIALERD_IVR_TTS_URL=ftp://x/ "$DIALERD" migrate-status 2>&1)
check "http provider without an http(s) URL exits 2" test $? -eq 2
check "the URL key is named" grep -q 'ivr.tts-url' <<<"$out"
out=$(DIALERD_IVR_SOUNDS_HTTP_BASE=http://127.0.0.1/sounds "$DIALERD" migrate-status 2>&1)
check "sounds-http-base without sounds-dir exits 2" test $? -eq 2
check "--help-config hides the token" \
  bash -c "! DIALERD_IVR_TTS_TOKEN=tok-s3cret '$DIALERD' --help-config | grep -q tok-s3cret"

"${PSQL[@]}" -d postgres -qc "CREATE DATABASE $DB" >/dev/null
export DIALERD_DB_CONNINFO="host=$DIALER_PG_SOCKDIR port=$DIALER_PG_PORT user=dialer dbname=$DB"
export DIALERD_REDIS_HOST=127.0.0.1 DIALERD_REDIS_PORT=$DIALER_REDIS_PORT
export DIALERD_HTTP_STATIC_DIR=""
check "migrate" bash -c "'$DIALERD' migrate >/dev/null 2>&1"

portfile=$TMP/ari-sim.port
"$B/ari-sim" --port 0 --port-file "$portfile" --user dialer --password pw >"$TMP/ari-sim.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do [ -s "$portfile" ] && break; sleep 0.1; done
check "ari-sim starts" test -s "$portfile"
export DIALERD_ARI_URL="http://127.0.0.1:$(cat "$portfile" 2>/dev/null || echo 1)"
export DIALERD_ARI_USER=dialer DIALERD_ARI_PASSWORD=pw

mkdir -p "$TMP/cache"
NAME=tts-0123456789abcdef0123456789abcdef.wav
printf 'RIFF\x24\x00\x00\x00WAVEfmt prompt-bytes' >"$TMP/cache/$NAME"
printf 'not a prompt' >"$TMP/cache/secret.wav"
echo "outside the cache" >"$TMP/outside.txt"
ln -s "$TMP/outside.txt" "$TMP/cache/tts-fedcba9876543210fedcba9876543210.wav"

export DIALERD_HTTP_PORT=0 DIALERD_IVR_SOUNDS_DIR=$TMP/cache
export DIALERD_IVR_SOUNDS_HTTP_BASE=http://127.0.0.1:8080/sounds
"$DIALERD" >"$TMP/dialerd.log" 2>&1 &
DPID=$!
pids+=($DPID)
PORT=
for _ in $(seq 1 150); do
  PORT=$(sed -n 's/.*server event=listening .* port=\([0-9]*\).*/\1/p' "$TMP/dialerd.log" | head -1)
  [ -n "$PORT" ] && break
  sleep 0.1
done
check "dialerd listens" test -n "$PORT"
U=http://127.0.0.1:$PORT

code=$(curl -s -o "$TMP/got" -w '%{http_code} %{content_type}' "$U/sounds/$NAME")
check "a cache file is served as audio/wav" test "$code" = "200 audio/wav"
check "with the file's bytes" cmp -s "$TMP/got" "$TMP/cache/$NAME"
for p in /sounds/ /sounds/secret.wav /sounds/..%2foutside.txt /sounds/../outside.txt \
  /sounds/tts-fedcba9876543210fedcba9876543210.wav /sounds/TTS-0123456789abcdef0123456789abcdef.wav; do
  code=$(curl -s --path-as-is -o "$TMP/got" -w '%{http_code}' "$U$p")
  check "$p is refused ($code)" test "$code" = 404 -o "$code" = 400
  check "$p leaks nothing" bash -c "! grep -q -e 'outside the cache' -e 'not a prompt' '$TMP/got'"
done

kill -TERM $DPID
for _ in $(seq 1 100); do kill -0 $DPID 2>/dev/null || break; sleep 0.1; done
wait $DPID
check "SIGTERM exits 0" test $? = 0
echo "$fails failed"
[ $fails -eq 0 ]
