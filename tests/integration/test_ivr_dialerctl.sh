#!/usr/bin/env bash
# dialerctl flow validate / simulate / template as an operator uses them:
# exit statuses (0 valid, 1 invalid, 2 usage or bad script), findings naming
# the step and JSON path, and a simulated call through a template whose
# step log shows the outcome and never the masked digits.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export DIALER_BUILD=${DIALER_BUILD:-$ROOT/build/debug}
CTL="$DIALER_BUILD/dialerctl"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

[ -x "$CTL" ] || fail "dialerctl not built at $CTL"

# A broken flow: exit 1, the finding names the step and the path.
cat >"$TMP/bad.json" <<'JSON'
{"format":"ivrflow/1","start":"s","nodes":{
 "s":{"type":"start","next":{"next":"menu"}},
 "menu":{"type":"collect","props":{"choices":["1"]},"next":{"choice:1":"nowhere","noinput":"bye"}},
 "bye":{"type":"hangup"}}}
JSON
set +e
out=$("$CTL" flow validate "$TMP/bad.json"); rc=$?
set -e
[ "$rc" -eq 1 ] || fail "invalid flow: exit $rc, want 1"
grep -q 'error: \$.nodes.menu.next.choice:1: .*"nowhere"' <<<"$out" || fail "dangling finding missing: $out"
grep -q 'error: \$.nodes.menu.next.nomatch' <<<"$out" || fail "unmapped nomatch missing: $out"
set +e
"$CTL" flow validate "$TMP/bad.json" --json >"$TMP/bad.out"; rc=$?
set -e
[ "$rc" -eq 1 ] || fail "--json exit $rc"
python3 -c "import json,sys; d=json.load(open('$TMP/bad.out')); assert d['valid'] is False and len(d['errors'])==2, d"

# Usage errors and unreadable files: exit 2.
set +e
"$CTL" flow validate >/dev/null 2>&1; rc1=$?
"$CTL" flow validate "$TMP/missing.json" >/dev/null 2>&1; rc2=$?
"$CTL" nosuch thing >/dev/null 2>&1; rc3=$?
set -e
[ "$rc1" -eq 2 ] && [ "$rc2" -eq 2 ] && [ "$rc3" -eq 2 ] || fail "usage exits $rc1 $rc2 $rc3"

# A template instantiated with parameters validates for publishing and simulates.
"$CTL" flow template "$ROOT/ivr/templates/payment_processing.json" --set merchant="Globex Power" \
  --set payment_api=https://pay.globex.example/charges >"$TMP/pay.json"
"$CTL" flow validate "$TMP/pay.json" --publish | grep -q 'valid (0 errors' || fail "template not valid"
"$CTL" flow simulate "$TMP/pay.json" --vars '{"contact":{"amount_due":"19.99"}}' --script \
  'on intro; dtmf 1; on card; dtmf 5555444433331111#; on expiry; dtmf 0130; on cvv; dtmf 999#;
   mock POST https://pay.globex.example/charges 200 {"confirmation": "Q7"}' >"$TMP/log.json"
python3 - "$TMP/log.json" <<'PY'
import json, sys
log = json.load(open(sys.argv[1]))
assert log["end"]["disposition"] == "paid", log["end"]
text = json.dumps(log)
assert "5555444433331111" not in text and "0130" not in text, "masked digits leaked"
says = [a for s in log["steps"] for a in s["actions"] if a.startswith("say: ")]
assert any("Globex Power" in a for a in says), says
assert any("ending in 1111" in a for a in says), says
PY
"$CTL" flow template "$ROOT/ivr/templates/payment_processing.json" --set payment_api=http://10.0.0.5/ \
  >/dev/null 2>&1 && fail "plain http parameter accepted"

# A bad script names the statement: exit 2.
set +e
err=$("$CTL" flow simulate "$TMP/pay.json" --script 'on intro; dtmf 1x' 2>&1 >/dev/null); rc=$?
set -e
[ "$rc" -eq 2 ] || fail "bad script exit $rc"
grep -q 'statement 2' <<<"$err" || fail "bad script message: $err"
echo "dialerctl: all checks passed"
