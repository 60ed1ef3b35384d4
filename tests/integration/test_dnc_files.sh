#!/usr/bin/env bash
# The national registry's files as delivered (zip, XML) and their digests, in a
# real dialerd with PostgreSQL, Redis and ari-sim, and through dialerctl:
#   - a zip made by Python's zipfile (a deflated flat file, a stored comma
#     file and a deflated XML file) uploaded to the national list: every
#     member's numbers are stored and refused by the check route; the list
#     shows the zip's SHA-256 (as sha256sum computes it);
#   - the same zip again answers 409 same_file, ?force=true loads it;
#   - a zip bomb and an XML file with a DTD are refused (422) naming the
#     member / the line, and nothing is stored;
#   - dialerctl dnc load reads a zip and an XML file, stores the digest, and
#     refuses the same file again (exit 3) unless --force.
set -uo pipefail
# shellcheck source=tests/support/e2e.sh
. "$(dirname "$0")/../support/e2e.sh"
e2e_init dncfiles
E2E_CHECK_LAST="last response"
CTL=$B/dialerctl

python3 - "$TMP" <<'PYEOF'
import sys, zipfile
d = sys.argv[1]
flat = "".join("21255501%02d\n" % i for i in range(40))        # 40 numbers
comma = "".join("213,55502%02d\r\n" % i for i in range(10))      # 10 numbers
xml = ('<?xml version="1.0" encoding="UTF-8"?>\n<!-- registry -->\n<DNC date="20261101">\n'
       + "".join('  <Rec><AreaCode>214</AreaCode><Phone>55503%02d</Phone></Rec>\n' % i for i in range(5))
       + '  <Rec phone="(215) 555-0400"/>\n</DNC>\n')                 # 6 numbers
with zipfile.ZipFile(d + "/registry.zip", "w") as z:
    z.writestr(zipfile.ZipInfo("flat/2026-11-01.txt"), flat, compress_type=zipfile.ZIP_DEFLATED)
    z.writestr("comma.txt", comma, compress_type=zipfile.ZIP_STORED)
    z.writestr("dnc.xml", xml, compress_type=zipfile.ZIP_DEFLATED)
with zipfile.ZipFile(d + "/bomb.zip", "w") as z:
    z.writestr("ok.txt", "2125550999\n", compress_type=zipfile.ZIP_DEFLATED)
    z.writestr("bomb.txt", "\n" * (8 << 20), compress_type=zipfile.ZIP_DEFLATED)
open(d + "/dtd.xml", "w").write('<?xml version="1.0"?>\n<!DOCTYPE r [ <!ENTITY x SYSTEM '
                                '"file:///etc/passwd"> ]>\n<r><n>2125550998</n></r>\n')
with zipfile.ZipFile(d + "/tenant.zip", "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr("a.csv", "number,name\n+1 (312) 555-0101,x\n3125550102,y\n")
open(d + "/tenant.xml", "w").write('<list><e n="3125550201"/><e n="3125550202"/></list>\n')
PYEOF
check "fixtures made by Python's zipfile" test -s "$TMP/registry.zip" -a -s "$TMP/bomb.zip"

cat >"$TMP/scenario.json" <<'EOF'
{"name": "dncfiles", "seed": 1,
 "populations": {"default": [{"weight": 1, "outcome": "answer", "ring": 0.1, "talk": "forever"}]}}
EOF
e2e_start_sim "$TMP/scenario.json"
e2e_createdb
e2e_env
export DIALERD_DNC_CHANNEL="dialer:dnc:files:$$"
PW="s3cret-Pass-$$"
check "migrate" bash -c "'$DIALERD' migrate >/dev/null"
printf '%s\n' "$PW" | "$DIALERD" bootstrap --tenant-slug acme --email ops@acme.test \
  --platform-operator >/dev/null 2>&1
LOG=$DIALER_RUN_DIR/dialerd-dncfiles-$$.log
: >"$LOG"
DIALERD_NODE_ID="dncfiles-$$" e2e_start_dialerd "$LOG"
check "dialerd listens" test -n "$DPORT"
A=http://127.0.0.1:$DPORT/api/v1
TOK=$(jget "$(e2e_login "$A" ops@acme.test "$PW")" 'j["access_token"]')
H=(-H "Authorization: Bearer $TOK")
api2() { # api2 <method> <url> [curl args...] -> "<status> <body>"
  local m=$1 u=$2
  shift 2
  curl -sS --max-time 30 -o "$TMP/body" -w '%{http_code}' -X "$m" "$u" "${H[@]}" "$@" &&
    printf ' ' && cat "$TMP/body"
}
st() { printf '%s\n' "${1%% *}"; }
bd() { printf '%s\n' "${1#* }"; }
AT="2026-11-25T16:00:00Z"
reason() {
  curl -sS "$A/compliance/check?number=%2B$1&at=$AT" "${H[@]}" |
    sed -n 's/.*"reason": *"\([^"]*\)".*/\1/p'
}
wait_reason() { # wait_reason <number> <reason>: at most 5 s
  local i
  for ((i = 0; i < 100; i++)); do
    [ "$(reason "$1")" = "$2" ] && return 0
    sleep 0.05
  done
  return 1
}
has() { grep -q -- "$1" <<<"$2"; }

r=$(api2 POST "$A/dnc/lists" -H 'Content-Type: application/json' \
  -d "{\"name\":\"FTC registry\",\"scope\":\"national\",\"source\":\"ftc\",\"country\":\"US\",\"list_date\":\"$(date -u +%F)\",\"max_age_days\":31}")
check "the national list is created" test "$(st "$r")" = 201
NAT=$(jget "$(bd "$r")" 'j["id"]')

# 1. the zip as delivered
SHA=$(sha256sum "$TMP/registry.zip" | cut -d' ' -f1)
r=$(api2 POST "$A/dnc/lists/$NAT/uploads?format=registry" --data-binary @"$TMP/registry.zip" \
  -H 'Content-Type: application/zip')
check "the registry zip is accepted (200)" test "$(st "$r")" = 200
check "every member's numbers are counted (56)" test "$(jget "$(bd "$r")" 'j["lines"]')" = 56
check "56 entries stored" test "$(sql "SELECT count(*) FROM dnc_entries WHERE list_id = $NAT")" = 56
check "the list records the zip's SHA-256" \
  test "$(sql "SELECT encode(file_sha256, 'hex') FROM dnc_lists WHERE id = $NAT")" = "$SHA"
r=$(api2 GET "$A/dnc/lists/$NAT")
check "GET the list shows file_sha256" test "$(jget "$(bd "$r")" 'j["file_sha256"]')" = "$SHA"
check "a number of the deflated flat member is dnc" wait_reason 12125550139 dnc
check "a number of the stored comma member is dnc" wait_reason 12135550209 dnc
check "a number of the XML member (area code + number) is dnc" wait_reason 12145550304 dnc
check "a number of the XML member (attribute) is dnc" wait_reason 12155550400 dnc
check "a number in no member is allowed" test "$(reason 12125550140)" = allowed

# 2. the same file twice
r=$(api2 POST "$A/dnc/lists/$NAT/uploads?format=registry" --data-binary @"$TMP/registry.zip")
check "the same zip again: 409 same_file" \
  test "$(st "$r")" = 409 -a "$(jget "$(bd "$r")" 'j["error"]["code"]')" = same_file
r=$(api2 POST "$A/dnc/lists/$NAT/uploads?format=registry&force=true" \
  --data-binary @"$TMP/registry.zip")
check "?force=true loads it again" test "$(st "$r")" = 200
check "still 56 entries" test "$(sql "SELECT count(*) FROM dnc_entries WHERE list_id = $NAT")" = 56

# 3. refused files store nothing
r=$(api2 POST "$A/dnc/lists/$NAT/uploads?format=registry" --data-binary @"$TMP/bomb.zip")
check "a zip bomb: 422 naming the member" test "$(st "$r")" = 422
check "... the message names bomb.txt" has 'bomb.txt' "$r"
r=$(api2 POST "$A/dnc/lists/$NAT/uploads?format=xml" --data-binary @"$TMP/dtd.xml")
check "an XML file with a DTD: 422" test "$(st "$r")" = 422
check "... on line 2" has 'line 2: xml: a DTD' "$r"
check "the refused files stored nothing" \
  test "$(sql "SELECT count(*) FROM dnc_entries WHERE list_id = $NAT AND number IN ('+12125550999', '+12125550998')")" = 0
r=$(api2 POST "$A/dnc/lists/$NAT/uploads?format=zip" --data-binary @"$TMP/registry.zip")
check "an unknown format: 400" test "$(st "$r")" = 400

# 4. dialerctl
r=$(api2 POST "$A/dnc/lists" -H 'Content-Type: application/json' -d '{"name":"internal"}')
TL=$(jget "$(bd "$r")" 'j["id"]')
TSHA=$(sha256sum "$TMP/tenant.zip" | cut -d' ' -f1)
export DIALERD_DB_CONNINFO="$DIALERD_DB_ADMIN_CONNINFO"
r=$("$CTL" dnc load --list "$TL" --format auto "$TMP/tenant.zip" 2>&1)
check "dialerctl loads a zip (exit 0)" test "$?" = 0
check "dialerctl prints the digest" has "sha256 $TSHA" "$r"
check "the zip's CSV member is stored" \
  test "$(sql "SELECT string_agg(number::text, ',' ORDER BY number) FROM dnc_entries WHERE list_id = $TL")" = "+13125550101,+13125550102"
check "dialerctl stores the digest" \
  test "$(sql "SELECT encode(file_sha256, 'hex') FROM dnc_lists WHERE id = $TL")" = "$TSHA"
r=$("$CTL" dnc load --list "$TL" --format auto --replace "$TMP/tenant.zip" 2>&1)
check "dialerctl refuses the same file replacing the list (exit 3)" test "$?" = 3
r=$("$CTL" dnc load --list "$TL" --format auto --replace --force "$TMP/tenant.zip" 2>&1)
check "dialerctl --force loads it" test "$?" = 0
r=$("$CTL" dnc load --list "$TL" --format xml "$TMP/tenant.xml" 2>&1)
check "dialerctl loads an XML file (exit 0)" test "$?" = 0
check "... replacing the list: its 2 numbers" \
  test "$(sql "SELECT string_agg(number::text, ',' ORDER BY number) FROM dnc_entries WHERE list_id = $TL")" = "+13125550201,+13125550202"
r=$("$CTL" dnc load --list "$TL" --format xml "$TMP/dtd.xml" 2>&1)
check "dialerctl refuses a DTD (exit 1)" test "$?" = 1
check "... naming file and line" has 'dtd.xml:2: xml: a DTD' "$r"

e2e_stop_dialerd
e2e_done
