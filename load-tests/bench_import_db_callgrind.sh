#!/usr/bin/env bash
# Instructions per row that PostgreSQL spends on the database side of an
# import, against `COPY` of the same rows into contacts: figures that do not
# move with the other work on a shared machine (wall-clock and CPU times do,
# by 2-5x here).
#
#   load-tests/bench_import_db_callgrind.sh [ROWS]      (default 20000)
#
# A throw-away cluster in a temporary directory gets the migrations of this
# tree (sql/) and ROWS normalised rows (five area codes, an id, a name, a
# zone, as bench_import's file). Each script then runs in a single-user
# backend under callgrind (ANALYZE samples at most 30,000 rows, so the
# staging figure per row falls for larger uploads):
#
#   stage   the importer's transaction up to the merge: temporary staging
#           table, COPY of the staged rows, ANALYZE of the joined columns
#   merge   the same plus the merge statement, taken from importers/job.c
#           (the fast form, the one a clean upload runs)
#   copy    COPY of the same rows into contacts as the owner (what `psql
#           \copy` makes the server do)
#
# and an empty transaction, subtracted from each. Prints BENCH lines.
# Needs valgrind, python3 and the PostgreSQL server binaries; takes a few
# minutes (callgrind slows the backend down about 50 times).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROWS=${1:-20000}
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$PG_BIN" ] || { echo "bench_import_db_callgrind: PostgreSQL binaries not found" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "bench_import_db_callgrind: valgrind not found" >&2; exit 1; }

W=$(mktemp -d /tmp/bench-import-cg-XXXXXX)
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" -eq 0 ] && chown postgres "$W"
cleanup() {
  as_pg "$PG_BIN/pg_ctl" -D "$W/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$W"
}
trap cleanup EXIT

as_pg "$PG_BIN/initdb" -D "$W/data" -U dialer -A trust --locale=C.UTF-8 >/dev/null
OPTS="-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=128MB -c jit=off"
as_pg "$PG_BIN/pg_ctl" -D "$W/data" -o "-k $W -c listen_addresses= $OPTS" -l "$W/log" -w start >/dev/null
CI="host=$W user=dialer dbname=postgres"
P() { psql -X -q -v ON_ERROR_STOP=1 "host=$W user=dialer dbname=bench" "$@"; }
psql -X -q "$CI" -c "CREATE DATABASE bench"
P -c "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,
      checksum text, applied_at timestamptz NOT NULL DEFAULT now(),
      applied_by text NOT NULL DEFAULT current_user, duration_ms integer NOT NULL DEFAULT 0,
      dialer_version text NOT NULL DEFAULT '')"
for f in "$ROOT"/sql/[0-9][0-9][0-9][0-9]_*.sql; do P -1 -f "$f" >/dev/null 2>&1 || { echo "migration $f failed" >&2; exit 1; }; done
P <<SQL
INSERT INTO tenants (slug, name) VALUES ('bench', 'B');
INSERT INTO contact_lists (tenant_id, name) VALUES (1, 'a'), (1, 'b');
INSERT INTO import_jobs (id, tenant_id, list_id, upload_id)
    VALUES ('00000000-0000-0000-0000-000000000001', 1, 1, 'bench');
CREATE TEMP VIEW gen AS
SELECT g, '+1' || (ARRAY['415','212','305','312','617'])[1 + g % 5]
          || (200 + (g / 5 / 10000) % 700)::text || lpad(((g / 5) % 10000)::text, 4, '0') AS number
FROM generate_series(0, $ROWS - 1) g;
COPY (SELECT g + 1, NULL, NULL, number, NULL, '{}', g::text, 'US', 'US-CA', NULL,
             '{America/Los_Angeles}', 'npa_nxx', json_build_object('first_name', 'N' || g, 'city', 'City'),
             'pending', json_build_object('phone', number, 'first_name', 'N' || g, 'city', 'City', 'id', g::text)
      FROM gen) TO '$W/stage.txt';
COPY (SELECT 1, 2, number, NULL, '{}', g::text, 'US', 'US-CA', NULL, '{America/Los_Angeles}', 'npa_nxx',
             json_build_object('first_name', 'N' || g, 'city', 'City'), 'pending'
      FROM gen) TO '$W/rows.txt';
SQL
as_pg "$PG_BIN/pg_ctl" -D "$W/data" -w stop >/dev/null

# The merge statement as the importer sends it ($1..$4: job, tenant, list, rows staged).
python3 - "$ROOT/importers/job.c" "$ROWS" >"$W/merge.sql" <<'PY'
import re, sys
s = open(sys.argv[1]).read()
lit = lambda t: ''.join(re.findall(r'"((?:[^"\\]|\\.)*)"', t))
head = lit(re.search(r'#define MERGE_HEAD(.*?)\n\n', s, re.S).group(1))
tail = lit(re.search(r'#define MERGE_TAIL(.*?)\n\n', s, re.S).group(1))
mid = lit(re.search(r'merge_fast_sql\[\] =(.*?);\n', s, re.S).group(1).replace('MERGE_HEAD', '').replace('MERGE_TAIL', ''))
sql = (head + mid + tail).replace('$1', "'00000000-0000-0000-0000-000000000001'")
print(sql.replace('$2', '1').replace('$3', '1').replace('$4', sys.argv[2]) + ';')
PY
ANALYZE=$(grep -o 'ANALYZE import_stage[^"]*' "$ROOT/importers/job.c" | head -1)

stage() {
  printf 'BEGIN;\n\nCREATE TEMP TABLE import_stage (row_no bigint, reason text, detail text, number text, extension text, alt_numbers text[], external_id text, country text, region text, postal_code text, time_zones text[], tz_source text, custom jsonb, state text, original text);\n\n'
  printf 'GRANT ALL ON import_stage TO dialer_app;\n\n'
  printf "COPY import_stage FROM '%s';\n\n%s;\n\n" "$W/stage.txt" "$ANALYZE"
  printf "SET ROLE dialer_app;\n\nSELECT set_config('app.tenant_id', '1', true);\n\n"
  printf "SET LOCAL work_mem = '64MB';\n\n"
}
printf 'BEGIN;\n\nROLLBACK;\n\n' >"$W/empty.sql"
{ stage; printf 'ROLLBACK;\n\n'; } >"$W/stage.sql"
{ stage; tr '\n' ' ' <"$W/merge.sql"; printf '\n\nROLLBACK;\n\n'; } >"$W/merge_tx.sql"
printf "BEGIN;\n\nCOPY contacts (tenant_id, list_id, number, extension, alt_numbers, external_id, country, region, postal_code, time_zones, tz_source, custom, state) FROM '%s';\n\nROLLBACK;\n\n" "$W/rows.txt" >"$W/copy.sql"
[ "$(id -u)" -eq 0 ] && chown postgres "$W"/*.sql "$W"/*.txt

ir() { # ir SCRIPT -> instructions of the whole single-user run
  as_pg valgrind --tool=callgrind --callgrind-out-file="$W/cg.$1" \
    "$PG_BIN/postgres" --single -j -D "$W/data" $OPTS bench <"$W/$1.sql" >"$W/out.$1" 2>"$W/err.$1"
  if grep -q "ERROR:" "$W/out.$1" "$W/err.$1"; then grep -h "ERROR:" "$W/out.$1" "$W/err.$1" >&2; exit 1; fi
  sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$W/err.$1"
}
E=$(ir empty); S=$(ir stage); M=$(ir merge_tx); C=$(ir copy)
awk -v e="$E" -v s="$S" -v m="$M" -v c="$C" -v n="$ROWS" 'BEGIN {
  st = (s - e) / n; mg = (m - s) / n; tot = (m - e) / n; cp = (c - e) / n
  printf "BENCH name=import_db_stage_ir_per_row value=%.0f unit=instructions target=- ok=- rows=%d\n", st, n
  printf "BENCH name=import_db_merge_ir_per_row value=%.0f unit=instructions target=- ok=- rows=%d\n", mg, n
  printf "BENCH name=import_db_total_ir_per_row value=%.0f unit=instructions target=- ok=- rows=%d\n", tot, n
  printf "BENCH name=copy_contacts_ir_per_row value=%.0f unit=instructions target=- ok=- rows=%d\n", cp, n
  printf "BENCH name=import_db_vs_copy_ir value=%.2f unit=ratio target=<=2.0 ok=%s\n", tot / cp, tot / cp <= 2 ? "yes" : "no"
}'
