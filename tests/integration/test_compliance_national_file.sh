#!/usr/bin/env bash
# The national DNC registry from a file (dnc.national-file) in a real dialerd,
# with PostgreSQL, Redis and ari-sim:
#   - a generated registry file of 1,000,000 numbers is loaded on the
#     dnc-build worker while the API answers; /readyz shows it with its
#     counts, at most 1.25 bytes of index per number;
#   - its numbers are refused by GET /api/v1/compliance/check, naming the
#     national list; numbers not in it are allowed;
#   - a new file with a malformed line is refused with the line's number
#     (/readyz and the log) and the previous index stays in force;
#   - a corrected file replaces the index (numbers only in the old file are
#     allowed again);
#   - a running campaign never originates a number of the file (ari-sim's
#     originate log) while it dials the others (skipped outside New York's
#     calling hours).
set -uo pipefail
# shellcheck source=tests/support/e2e.sh
. "$(dirname "$0")/../support/e2e.sh"
e2e_init cnf
E2E_CHECK_LAST="last response"

# The registry file, at the density of the real registry (about one number in 32 of the
# valid numbers of its area codes): 999,990 numbers, every 31st valid number of area codes
# 212-215 (exchanges 200-999, without 212-888 and 212-999), plus ten numbers
# <extra>0000..0009 in those two exchanges (the campaign's). A bad line number puts a
# malformed line there.
mkreg() { # mkreg <file> <count> <bad line or 0> <extra exchange>
  python3 - "$@" <<'PYEOF'
import os, sys
path, count, bad, extra = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
out = []
def gen():
    k = 0  # valid numbers before this exchange; every 31st one is in the file
    for npa in (212, 213, 214, 215):
        for nxx in range(200, 1000):
            if npa == 212 and nxx in (888, 999):
                continue
            for line in range(-k % 31, 10000, 31):
                yield "%d%d%04d" % (npa, nxx, line)
            k += 10000
for num in gen():
    if len(out) == count - 10:
        break
    out.append(num)
out += ["%s%04d" % (extra, k) for k in range(10)]
if bad:
    out.insert(bad - 1, "212555XYZ1")
with open(path + ".tmp", "w") as f:
    f.write("\n".join(out) + "\n")
os.replace(path + ".tmp", path)
PYEOF
}
REG=$TMP/national.txt
t0=$(date +%s%N)
mkreg "$REG" 1000000 0 212888
check "a registry file of 1,000,000 numbers is generated ($((($(date +%s%N) - t0) / 1000000)) ms)" \
  test "$(wc -l <"$REG")" = 1000000

cat >"$TMP/scenario.json" <<'EOF'
{"name": "national", "seed": 5,
 "populations": {"default": [{"weight": 1, "outcome": "answer", "ring": 0.1, "talk": "forever"}]}}
EOF
e2e_start_sim "$TMP/scenario.json"
check "ari-sim listens" test -n "$SIMPORT"

e2e_createdb
e2e_env
export DIALERD_DIALER_TALK_TIME=100ms DIALERD_DIALER_POLL=100ms
export DIALERD_DNC_CHANNEL="dialer:dnc:cnf:$$"
export DIALERD_DNC_NATIONAL_FILE=$REG DIALERD_DNC_NATIONAL_FILE_CHECK=200ms
PW="s3cret-Pass-$$"
check "migrate" bash -c "'$DIALERD' migrate >/dev/null"
printf '%s\n' "$PW" | "$DIALERD" bootstrap --tenant-slug acme --email ops@acme.test \
  --platform-operator >/dev/null 2>&1
T=$(sql "SELECT id FROM tenants WHERE slug = 'acme'")

LOG=$DIALER_RUN_DIR/dialerd-cnf.log
: >"$LOG"
DIALERD_NODE_ID="cnf-$$" e2e_start_dialerd "$LOG"
PID=$DPID PORT=$DPORT
check "dialerd listens" test -n "$PORT"
A=http://127.0.0.1:$PORT/api/v1
body=$(e2e_login "$A" ops@acme.test "$PW")
TOK=$(jget "$body" 'j["access_token"]')
check "the operator logs in" test -n "$TOK"
H=(-H "Authorization: Bearer $TOK")
AT="2026-11-25T16:00:00Z" # a Wednesday, 11:00 in New York: inside every window
chk() { curl -sS "$A/compliance/check?number=%2B$1&at=$AT" "${H[@]}"; }
nf() { # the national_file object of /readyz
  jget "$(curl -sS "http://127.0.0.1:$PORT/readyz")" 'j["checks"]["dnc"].get("national_file")'
}
wait_nf() { # wait_nf <state> <secs> [loaded_at to differ from]
  for _ in $(seq 1 $(($2 * 10))); do
    r=$(nf)
    if [ "$(jget "$r" 'j["state"]')" = "$1" ] &&
      { [ -z "${3:-}" ] || [ "$(jget "$r" 'j.get("loaded_at_s", 0), j.get("error", {}).get("at_s", 0)')" != "$3" ]; }; then
      return 0
    fi
    sleep 0.1
  done
  return 1
}

# 1. The load.
check "the file loads (readyz national_file loaded)" wait_nf loaded 60
r=$(nf)
check "1,000,000 numbers in the index" test "$(jget "$r" 'j["numbers"]')" = 1000000
check "at most 1.25 bytes per number ($(jget "$r" 'round(j["bytes"] / j["numbers"], 3)'))" \
  test "$(jget "$r" 'j["bytes"] <= 1.25 * j["numbers"]')" = true
check "dated by the file's modification time" \
  test "$(jget "$r" 'j["list_date_s"]')" = "$(stat -c %Y "$REG")"
grep -q 'event=dnc_national_file_loaded .*numbers=1000000' "$LOG"
check "the log says so" test $? -eq 0
rss=$(awk '/VmRSS/ {print $2}' "/proc/$PID/status")
echo "# dialerd VmRSS after the load: ${rss} kB"

# 2. The check route.
r=$(chk 12122000031)
check "a number of the file is refused, naming the national registry file" \
  test "$(jget "$r" '[j["allowed"], j["reason"], j["dnc"]["scope"], j["dnc"]["list"], j["dnc"]["list_id"]]')" = '[false, "dnc", "national", "national registry file", -1]'
r=$(chk 12128880004)
check "so is an added number at the end of the file" test "$(jget "$r" 'j["reason"]')" = dnc
r=$(chk 12122000008)
check "a number not in the file is allowed (the list is fresh)" test "$(jget "$r" 'j["allowed"]')" = true
r=$(curl -sS "http://127.0.0.1:$PORT/readyz")
check "the national list counts as fresh" \
  test "$(jget "$r" 'j["checks"]["dnc"]["national"]["state"]')" = fresh

# 3. A malformed line: refused with its number, the previous index kept.
prev=$(jget "$(nf)" 'j.get("loaded_at_s", 0), j.get("error", {}).get("at_s", 0)')
sleep 1.1 # a different modification time
mkreg "$REG" 1000000 500001 212999
check "a file with a malformed line at 500,001 is refused" wait_nf failed 60
r=$(nf)
check "the error names line 500001 and the field" \
  test "$(jget "$r" '[j["error"]["line"], "number" in j["error"]["message"]]')" = '[500001, true]'
grep -q 'event=dnc_national_file_failed .*line=500001' "$LOG"
check "the log names the line" test $? -eq 0
check "the previous index stays: still 1,000,000 numbers" test "$(jget "$r" 'j["numbers"]')" = 1000000
r=$(chk 12128880004)
check "a number of the previous file is still refused" test "$(jget "$r" 'j["reason"]')" = dnc
r=$(chk 12129990004)
check "a number of the refused file is not" test "$(jget "$r" 'j["allowed"]')" = true

# 4. The corrected file replaces the index.
sleep 1.1
mkreg "$REG" 1000000 0 212999
check "the corrected file loads" wait_nf loaded 60
r=$(chk 12129990004)
check "its numbers are refused" test "$(jget "$r" 'j["reason"]')" = dnc
r=$(chk 12128880004)
check "numbers only in the old file are allowed again" test "$(jget "$r" 'j["allowed"]')" = true
check "the error is cleared" test "$(jget "$(nf)" '"error" in j')" = false

# 5. A campaign never originates a number of the file.
F=$(sql "INSERT INTO ivr_flows (tenant_id, name) VALUES ($T, 'f') RETURNING id" | head -1)
C=$(sql "INSERT INTO campaigns (tenant_id, name, flow_id, settings) VALUES ($T, 'c', $F, '{\"pacing\": {\"mode\": \"fixed\", \"cps\": 50, \"max_channels\": 50}, \"retry\": {\"max_attempts\": 1}}') RETURNING id" | head -1)
L=$(sql "INSERT INTO contact_lists (tenant_id, name) VALUES ($T, 'camp') RETURNING id" | head -1)
sql "INSERT INTO campaign_lists (tenant_id, campaign_id, list_id) VALUES ($T, $C, $L)" >/dev/null
sql "INSERT INTO contacts (tenant_id, list_id, number) SELECT $T, $L, '+1212999' || lpad(g::text, 4, '0') FROM generate_series(0, 19) g" >/dev/null
now_ok=$(jget "$(curl -sS "$A/compliance/check?number=%2B12129990015" "${H[@]}")" 'j["allowed"]')
# The DNC step comes before the window: the file's numbers are skipped (and recorded) at any hour.
sql "UPDATE campaigns SET state = 'running' WHERE id = $C" >/dev/null
dec=
for _ in $(seq 1 100); do
  dec=$(curl -sS "$A/compliance/decisions?campaign=$C&rule=dnc" "${H[@]}")
  [ "$(jget "$dec" 'len(j["items"])')" = 10 ] && break
  sleep 0.1
done
r=$dec
check "10 DNC decision records for the skipped contacts, through GET /compliance/decisions?rule=dnc" \
  test "$(jget "$dec" 'len(j["items"])')" = 10
check "each names the list that blocked it (rule, list id and name, list date)" \
  test "$(jget "$dec" 'sorted(set((i["rule"], i["verdict"], i["data_versions"]["dnc_list_id"], i["data_versions"]["dnc_list"], i["data_versions"]["dnc_list_date"] != "") for i in j["items"]))')" = '[["dnc.national", "block", -1, "national registry file", true]]'
check "the numbers are the file's; the trace is the audit record, number masked" \
  test "$(jget "$dec" '(sorted(i["number"] for i in j["items"])[0], j["items"][0]["trace"]["dnc"]["list"], "*" in j["items"][0]["trace"]["number"], j["items"][0]["contact_id"] is not None)')" = '["+12129990000", "national registry file", true, true]'
r=$(curl -sS "$A/compliance/decisions?campaign=$C&number=%2B12129990003&limit=5" "${H[@]}")
check "filtered by number" test "$(jget "$r" '[len(j["items"]), j["items"][0]["number"]]')" = '[1, "+12129990003"]'
r=$(curl -sS "$A/compliance/decisions?campaign=$C&rule=dnc&limit=4" "${H[@]}")
nb=$(jget "$r" 'j["next_before"]')
r2=$(curl -sS "$A/compliance/decisions?campaign=$C&rule=dnc&limit=4&before=$nb" "${H[@]}")
check "paged: 4, then 4 older ones" \
  test "$(jget "$r2" '[len(j["items"]), max(i["id"] for i in j["items"]) < '"$nb"']')" = '[4, true]'
r=$(curl -sS "$A/compliance/decisions?limit=0" "${H[@]}")
check "a bad limit is 400 naming it" test "$(jget "$r" 'j["error"]["field"]')" = '?limit'
if [ "$now_ok" = true ]; then
  for _ in $(seq 1 300); do
    [ "$(grep -c '"number":"+1212999' "$OLOG" 2>/dev/null)" -ge 10 ] && break
    sleep 0.1
  done
  check "the campaign originates the 10 numbers not in the file" \
    test "$(grep '"event":"originate"' "$OLOG" | grep -c '"number":"+1212999001')" = 10
  sleep 0.5
  check "and never one of the file's" bash -c "! grep -q '\"number\":\"+1212999000' '$OLOG'"
else
  echo "ok - originate part skipped: New York is outside its calling hours now"
fi

# 6. The check route with a campaign: its own window and its cap rule sets apply too.
mkc() { # mkc <name> <settings> -> id (a draft: the dialer leaves it alone)
  sql "INSERT INTO campaigns (tenant_id, name, settings) VALUES ($T, '$1', '$2') RETURNING id" | head -1
}
K1=$(mkc afternoons '{"schedule": {"time_zone": "America/New_York", "windows": [{"days": ["mon","tue","wed","thu","fri"], "from": "13:00", "to": "24:00"}]}}')
K2=$(mkc uk-caps '{"compliance": {"cap_rules": ["gb"]}}')
K3=$(mkc broken '{"schedule": {"windows": "always"}}')
cc() { curl -sS "$A/compliance/check?number=%2B$1&at=$2${3:+&$3}" "${H[@]}"; }
r=$(cc 12122000008 2026-11-25T16:00:00Z "campaign=$K1")
check "11:00 in New York: the law allows, the campaign's window (13:00-24:00) does not" \
  test "$(jget "$r" '[j["allowed"], j["reason"], j["decided_by"], j["next_eligible"], j["campaign"]["window"]]')" = '[false, "window", "campaign-window", "2026-11-25T18:00:00.000Z", "closed"]'
r=$(cc 12122000008 2026-11-25T16:00:00Z "")
check "without the campaign the same call is allowed" test "$(jget "$r" 'j["allowed"]')" = true
r=$(cc 12122000008 2026-11-25T23:30:00Z "campaign_id=$K1")
check "18:30: both allow (campaign_id= works too)" \
  test "$(jget "$r" '[j["allowed"], j["campaign"]["window"]]')" = '[true, "open"]'
r=$(cc 12122000008 2026-11-26T02:30:00Z "campaign=$K1")
check "21:30: the law blocks; next eligible is when both allow (Thursday 13:00 New York)" \
  test "$(jget "$r" '[j["allowed"], j["reason"], j["campaign"]["window"], j["next_eligible"]]')" = '[false, "window", "open", "2026-11-26T18:00:00.000Z"]'
r=$(cc 12122000008 2026-11-25T16:00:00Z "campaign=$K3")
check "a campaign whose settings cannot be read: the legal windows only, the field named" \
  test "$(jget "$r" '[j["allowed"], j["campaign"]["window_checked"], j["campaign"]["error"]["field"]]')" = '[true, false, "schedule.windows"]'
# A UK number with an abandoned call an hour before: the gb rule set locks it for 72 h.
ms=$(python3 -c 'import datetime; print(int(datetime.datetime(2026, 11, 25, 15, 0, tzinfo=datetime.timezone.utc).timestamp() * 1000))')
redis-cli -h 127.0.0.1 -p "$DIALER_REDIS_PORT" HSET "cmp:ev:{$T:+442079460123}" abandon "$ms" >/dev/null
r=$(cc 442079460123 2026-11-25T16:00:00Z "campaign=$K2")
check "a campaign selecting gb: blocked 72 h after an abandoned call (cap rule named)" \
  test "$(jget "$r" '[j["allowed"], j["reason"], j["cap"]["rule"], j["next_eligible"], j["campaign"]["cap_rules"], j["caps_checked"]]')" = '[false, "cap", "gb-72h-after-abandon", "2026-11-28T15:00:00.000Z", ["gb"], true]'
r=$(cc 442079460123 2026-11-25T16:00:00Z "campaign=$K1")
check "a campaign without it: allowed (no cap by place in the UK)" \
  test "$(jget "$r" '[j["allowed"], j["caps_checked"]]')" = '[true, true]'
r=$(cc 442079460123 2026-11-25T16:00:00Z "campaign=999999")
check "another tenant's or no campaign: 404" test "$(jget "$r" 'j["error"]["code"]')" = not_found

# 7. dialerctl dnc load: a file into a database list, streamed (no upload limit), every node told.
r=$(curl -sS -XPOST "$A/dnc/lists" "${H[@]}" -H 'Content-Type: application/json' \
  -d '{"name": "FTC registry", "scope": "national", "country": "US", "max_age_days": 31}')
NL=$(jget "$r" 'j["id"]')
check "the operator creates a national list in the database" test -n "$NL"
python3 - "$TMP/db-registry.txt" 300000 0 <<'PYEOF'
import sys
path, count, bad = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
out = ["%d%d%04d" % (313, 200 + k // 10000, k % 10000) for k in range(count)]
if bad:
    out[bad - 1] = "313,55X0001"
open(path, "w").write("\n".join(out) + "\n")
PYEOF
CTL=$B/dialerctl
out=$("$CTL" dnc load --list "$NL" "$TMP/db-registry.txt" 2>&1)
s=$?
r=$out
check "dialerctl dnc load stores 300,000 numbers (exit $s: $(head -1 <<<"$out"))" \
  test "$s" = 0 -a "$(sql "SELECT entry_count FROM dnc_lists WHERE id = $NL")" = 300000
check "and tells the nodes" grep -q 'reload sent to [1-9]' <<<"$out"
ok=
for _ in $(seq 1 100); do
  r=$(chk 13132290001)
  [ "$(jget "$r" '[j["reason"], j["dnc"]["list_id"]]')" = "[\"dnc\", $NL]" ] && ok=1 && break
  sleep 0.1
done
check "a number of it is refused on the running node, naming the database list" test -n "$ok"
python3 - "$TMP/db-bad.txt" 300000 1000 <<'PYEOF'
import sys
path, count, bad = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
out = ["%d%d%04d" % (314, 200 + k // 10000, k % 10000) for k in range(count)]
out[bad - 1] = "314,55X0001"
open(path, "w").write("\n".join(out) + "\n")
PYEOF
out=$("$CTL" dnc load --list "$NL" "$TMP/db-bad.txt" 2>&1)
s=$?
r=$out
check "a malformed line: exit 1 naming line 1000, nothing stored" \
  test "$s" = 1 -a "$(grep -c 'db-bad.txt:1000: .*nothing stored' <<<"$out")" = 1 -a \
  "$(sql "SELECT count(*) FROM dnc_entries WHERE list_id = $NL AND number LIKE '+1314%'")" = 0
"$CTL" dnc load --list 999999 "$TMP/db-registry.txt" >/dev/null 2>&1
check "an unknown list: exit 2" test $? = 2

kill -TERM "$PID"
wait "$PID"
s=$?
check "dialerd exits 0 on SIGTERM ($s)" test "$s" = 0
e2e_done
