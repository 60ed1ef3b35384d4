#!/usr/bin/env bash
# Prompts over HTTP in a real dialerd: with ivr.sounds-dir and
# ivr.sounds-http-base set, GET /sounds/tts-<hex>.wav serves the cache file
# (audio/wav, same bytes); other names in the directory, traversal and a
# symlink named like a cache file are 404. Configuration errors of the text
# to speech options exit 2 naming the key, and the token never shows in
# --help-config. Run by tests/support/run-all.sh with the services' env.
set -uo pipefail
. "$(dirname "$0")/../support/e2e.sh"
e2e_init ivr_tts_dialerd

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

e2e_createdb
e2e_env
check "migrate" bash -c "'$DIALERD' migrate >/dev/null 2>&1"

e2e_start_sim ""
check "ari-sim starts" test -n "$SIMPORT"

mkdir -p "$TMP/cache"
NAME=tts-0123456789abcdef0123456789abcdef.wav
printf 'RIFF\x24\x00\x00\x00WAVEfmt prompt-bytes' >"$TMP/cache/$NAME"
printf 'not a prompt' >"$TMP/cache/secret.wav"
echo "outside the cache" >"$TMP/outside.txt"
ln -s "$TMP/outside.txt" "$TMP/cache/tts-fedcba9876543210fedcba9876543210.wav"

export DIALERD_IVR_SOUNDS_DIR=$TMP/cache
export DIALERD_IVR_SOUNDS_HTTP_BASE=http://127.0.0.1:8080/sounds
e2e_start_dialerd "$TMP/dialerd.log"
check "dialerd listens" test -n "$DPORT"
U=http://127.0.0.1:$DPORT

code=$(curl -s -o "$TMP/got" -w '%{http_code} %{content_type}' "$U/sounds/$NAME")
check "a cache file is served as audio/wav" test "$code" = "200 audio/wav"
check "with the file's bytes" cmp -s "$TMP/got" "$TMP/cache/$NAME"
for p in /sounds/ /sounds/secret.wav /sounds/..%2foutside.txt /sounds/../outside.txt \
  /sounds/tts-fedcba9876543210fedcba9876543210.wav /sounds/TTS-0123456789abcdef0123456789abcdef.wav; do
  code=$(curl -s --path-as-is -o "$TMP/got" -w '%{http_code}' "$U$p")
  check "$p is refused ($code)" test "$code" = 404 -o "$code" = 400
  check "$p leaks nothing" bash -c "! grep -q -e 'outside the cache' -e 'not a prompt' '$TMP/got'"
done

kill -TERM "$DPID"
wait "$DPID"
check "SIGTERM exits 0" test $? = 0
e2e_done
