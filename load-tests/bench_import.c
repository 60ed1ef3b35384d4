/* SPDX-License-Identifier: MIT */
/*
 * Benchmark of the list importer against the private PostgreSQL:
 *
 *   import_rows_per_s        a generated CSV (phone, first name, city, id)
 *                            through the whole pipeline (parse, normalise,
 *                            locate, stage by COPY, merge, commit)
 *   import_vs_psql_copy      that time divided by the time of `psql \copy`
 *                            of the same rows, already normalised, into the
 *                            same table (another list), measured in the same
 *                            run: the "within 2x". PostgreSQL refuses
 *                            COPY FROM into a table with row-level security,
 *                            so the baseline runs as the table owner (no RLS
 *                            checks); the importer pays them in its merge.
 *   import_vs_psql_copy_plain
 *                            that time divided by the time of `psql \copy`
 *                            of the same CSV file, as generated, into a plain
 *                            table of four text columns: the ceiling (with
 *                            parse_ratio and normalise_ratio, the C side's
 *                            times on the same scale)
 *   import_parse_rows_per_s  the CSV reader alone over the file in memory
 *   import_normalise_rows_per_s
 *                            reader + mapping + E.164 + place + staging line:
 *                            all the importer's work before PostgreSQL
 *   import_peak_rss          this process's peak RSS growth over the import
 *   e164_normalize           ns per number of importer_e164_normalize over
 *                            the spellings of the issue (no database)
 *
 * Modes: "quick" (make bench) 200,000 rows; "full" (make load) 1,000,000
 * rows (the figure: at most 10 s); "cside" only the database-free
 * figures on 200,000 rows (for callgrind). PostgreSQL: DIALER_PG_CONNINFO
 * when set (the test runner's services), else tests/support/services.sh is
 * started with RUN_DIR=run/bench and stopped at the end.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <postgresql/libpq-fe.h>
#include <pthread.h>

#include "core/err.h"
#include "core/log.h"
#include "importers/importers.h"
#include "importers/importers_int.h"
#include "server/migrate.h"

#define DB "bench_import"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long rss_hwm_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, "VmHWM:", 6) == 0)
            kb = strtol(line + 6, NULL, 10);
    if (f)
        fclose(f);
    return kb;
}

static int run_cmd(const char *cmd)
{
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    char buf[512];
    while (fgets(buf, sizeof(buf), p))
        fputs(buf, stderr);
    return pclose(p);
}

static PGconn *connect_db(const char *base, const char *extra)
{
    char ci[1024];
    snprintf(ci, sizeof(ci), "%s %s", base, extra);
    PGconn *c = PQconnectdb(ci);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "bench_import: %s\n", PQerrorMessage(c));
        exit(1);
    }
    PQclear(PQexec(c, "SET client_min_messages = warning"));
    return c;
}

static long long exec_int(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK) {
        fprintf(stderr, "bench_import: %s: %s\n", sql, PQresultErrorMessage(r));
        exit(1);
    }
    long long v = PQntuples(r) > 0 ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    PQclear(r);
    return v;
}

/* ---- the generated file ---- */

static const char *const npas[] = { "415", "212", "305", "312", "617" };
static int nxx_valid[800];
static int n_nxx;

static void nxx_init(void)
{
    for (int x = 200; x <= 999; x++)
        if (x % 100 != 11 && x != 555)
            nxx_valid[n_nxx++] = x;
}

/* Row i in one of the spellings people use. */
static int format_row(char *out, size_t sz, long i)
{
    long k = i / 5;
    int nxx = nxx_valid[(k / 10000) % n_nxx];
    long line = k % 10000;
    const char *npa = npas[i % 5];
    switch (i % 4) {
    case 0:
        return snprintf(out, sz, "(%s) %03d-%04ld,N%ld,City,%ld\n", npa, nxx, line, i, i);
    case 1:
        return snprintf(out, sz, "%s.%03d.%04ld,N%ld,City,%ld\n", npa, nxx, line, i, i);
    case 2:
        return snprintf(out, sz, "+1 %s %03d %04ld,N%ld,City,%ld\n", npa, nxx, line, i, i);
    default:
        return snprintf(out, sz, "1-%s-%03d-%04ld,N%ld,City,%ld\n", npa, nxx, line, i, i);
    }
}

/* ---- the C side alone (no database) ---- */

struct cside {
    bool normalise;
    bool have_map;
    struct imp_mapping map;
    struct imp_list list;
    struct imp_buf line;
    uint64_t rows, accepted;
};

static int cside_row(void *arg, uint64_t row_no, char **f, const size_t *lens, size_t n)
{
    struct cside *c = arg;
    if (!c->have_map) {
        char err[256];
        if (imp_mapping_build(&c->map, f, lens, n, false, NULL, err, sizeof(err)) != 0)
            return ERR_PARSE;
        c->have_map = true;
        return 0;
    }
    c->rows++;
    if (!c->normalise)
        return 0;
    char detail[256];
    int r = imp_row_stage(&c->list, &c->map, row_no, f, lens, n, &c->line, detail, sizeof(detail));
    if (r < 0)
        return r;
    if (r == IMPORTER_REASON_NONE)
        c->accepted++;
    if (c->line.len > (1u << 20))
        c->line.len = 0; /* what the job hands to the COPY at this point */
    return 0;
}

/*
 * Seconds to read the generated file through the CSV reader (encoding,
 * delimiter, fields), and with normalise also the mapping, E.164, place and
 * the staging line of every row: the importer's work before PostgreSQL.
 * The file is generated once into memory and fed in 64 KiB pieces.
 */
static double bench_cside(const char *file, size_t flen, long rows, bool normalise)
{
    struct cside c;
    memset(&c, 0, sizeof(c));
    c.normalise = normalise;
    c.list.tenant_id = 1;
    c.list.list_id = 1;
    imp_buf_init(&c.line);
    struct imp_csv csv;
    if (imp_csv_init(&csv, 0, 0, cside_row, &c) != 0)
        exit(1);
    double t0 = now_s();
    for (size_t off = 0; off < flen; off += 64 * 1024) {
        size_t n = flen - off < 64 * 1024 ? flen - off : 64 * 1024;
        if (imp_csv_feed(&csv, file + off, n) != 0)
            exit(1);
    }
    if (imp_csv_finish(&csv) != 0)
        exit(1);
    double t = now_s() - t0;
    imp_csv_fini(&csv);
    if (c.have_map)
        imp_mapping_fini(&c.map);
    imp_buf_fini(&c.line);
    if ((long)c.rows != rows || (normalise && (long)c.accepted != rows)) {
        fprintf(stderr, "bench_import: the C side read %llu rows, accepted %llu, of %ld\n",
                (unsigned long long)c.rows, (unsigned long long)c.accepted, rows);
        exit(1);
    }
    return t;
}

static char *make_file(long rows, size_t *len)
{
    size_t cap = (size_t)rows * 64 + 64;
    char *p = malloc(cap);
    if (!p)
        exit(1);
    size_t n = (size_t)snprintf(p, cap, "phone,first_name,city,id\n");
    for (long i = 0; i < rows; i++)
        n += (size_t)format_row(p + n, cap - n, i);
    *len = n;
    return p;
}

/* ---- importer run ---- */

struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done, resumed;
    struct importer_result res;
};

static void on_done(struct importer_job *job, const struct importer_result *r, json_t *items,
                    void *arg)
{
    struct waiter *w = arg;
    (void)job;
    (void)items;
    pthread_mutex_lock(&w->mu);
    w->res = *r;
    w->done = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void on_resume(struct importer_job *job, void *arg)
{
    struct waiter *w = arg;
    (void)job;
    pthread_mutex_lock(&w->mu);
    w->resumed = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static bool wait_flag(struct waiter *w, bool *flag, int seconds)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += seconds;
    pthread_mutex_lock(&w->mu);
    while (!*flag)
        if (pthread_cond_timedwait(&w->cv, &w->mu, &ts) != 0)
            break;
    bool v = *flag;
    *flag = false;
    pthread_mutex_unlock(&w->mu);
    return v;
}

static double bench_pipeline(const char *ci_app, long long tenant, long long list, long rows,
                             long *rss_growth_kb)
{
    struct importer *imp;
    struct importer_config cfg = { .conninfo = ci_app, .worker_name = "bench" };
    if (importer_create(&cfg, &imp) != 0)
        exit(1);
    struct waiter w;
    memset(&w, 0, sizeof(w));
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    struct importer_job_opts o = { .tenant_id = tenant,
                                   .list_id = list,
                                   .upload_id = "bench",
                                   .bytes_total = -1,
                                   .on_done = on_done,
                                   .on_resume = on_resume,
                                   .arg = &w };
    long rss0 = rss_hwm_kb();
    double t0 = now_s();
    struct importer_job *job;
    if (importer_job_start(imp, &o, &job) != 0)
        exit(1);
    char piece[64 * 1024];
    size_t len = (size_t)snprintf(piece, sizeof(piece), "phone,first_name,city,id\n");
    for (long i = 0; i < rows; i++) {
        len += (size_t)format_row(piece + len, sizeof(piece) - len, i);
        if (len > sizeof(piece) - 128 || i == rows - 1) {
            if (importer_job_feed(job, piece, len) == ERR_AGAIN && !wait_flag(&w, &w.resumed, 120))
                exit(1);
            len = 0;
        }
    }
    importer_job_finish(job);
    bool ok = wait_flag(&w, &w.done, 600);
    double t = now_s() - t0;
    *rss_growth_kb = rss_hwm_kb() - rss0;
    importer_job_release(job);
    importer_destroy(imp);
    if (!ok || w.res.status != 0 || (long)w.res.progress.rows_accepted != rows) {
        fprintf(stderr, "bench_import: import failed: %s (accepted %llu of %ld)\n", w.res.error,
                (unsigned long long)w.res.progress.rows_accepted, rows);
        exit(1);
    }
    pthread_mutex_destroy(&w.mu);
    pthread_cond_destroy(&w.cv);
    return t;
}

static double bench_e164(long n)
{
    static const char *const in[] = { "(415) 555-2671", "415.555.2671 x12", "+1 415 555 2671",
                                      "1-415-555-2671", "4155552671.0",     "+44 20 7946 0958",
                                      "212 555 0123",   "4.15555E+09" };
    struct importer_number num;
    size_t lens[8];
    for (int i = 0; i < 8; i++)
        lens[i] = strlen(in[i]);
    volatile unsigned sink = 0;
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        sink += (unsigned)importer_e164_normalize(in[i & 7], lens[i & 7], NULL, &num, NULL, 0);
        sink += (unsigned char)num.e164[2];
    }
    double t = now_s() - t0;
    (void)sink;
    return t * 1e9 / (double)n;
}

int main(int argc, char **argv)
{
    long rows = 200000;
    if (argc > 1 && strcmp(argv[1], "full") == 0)
        rows = 1000000;
    else if (argc > 1 && strcmp(argv[1], "quick") != 0)
        rows = strtol(argv[1], NULL, 10);
    log_set_level(getenv("BENCH_LOG") ? LOG_LEVEL_INFO : LOG_LEVEL_WARN);
    nxx_init();

    bool cside_only = argc > 1 && strcmp(argv[1], "cside") == 0;
    if (cside_only)
        rows = 200000;
    double ns = bench_e164(cside_only ? 200000 : 2000000);
    printf("BENCH name=e164_normalize value=%.0f unit=ns/number target=<=1000 ok=%s\n", ns,
           ns <= 1000 ? "yes" : "no");
    fflush(stdout);

    size_t flen;
    char *file_csv = make_file(rows, &flen);
    double t_parse = bench_cside(file_csv, flen, rows, false);
    double t_norm = bench_cside(file_csv, flen, rows, true);
    printf("BENCH name=import_parse_rows_per_s value=%.0f unit=rows/s target=>=100000 ok=%s "
           "mib_per_s=%.0f\n",
           (double)rows / t_parse, (double)rows / t_parse >= 100000 ? "yes" : "no",
           (double)flen / t_parse / 1048576.0);
    printf("BENCH name=import_normalise_rows_per_s value=%.0f unit=rows/s target=>=100000 ok=%s\n",
           (double)rows / t_norm, (double)rows / t_norm >= 100000 ? "yes" : "no");
    fflush(stdout);
    if (cside_only) {
        free(file_csv);
        return 0;
    }

    const char *base = getenv("DIALER_PG_CONNINFO");
    char started[1024] = "";
    if (!base) {
        if (run_cmd("RUN_DIR=run/bench tests/support/services.sh start") != 0)
            return 1;
        FILE *f = fopen("run/bench/services.env", "r");
        char line[1024];
        while (f && fgets(line, sizeof(line), f)) {
            if (strncmp(line, "export DIALER_PG_CONNINFO='", 27) == 0) {
                snprintf(started, sizeof(started), "%s", line + 27);
                started[strcspn(started, "'")] = 0;
            }
        }
        if (f)
            fclose(f);
        if (!started[0])
            return 1;
        base = started;
    }
    PGconn *admin = connect_db(base, "");
    exec_int(admin, "DROP DATABASE IF EXISTS " DB " WITH (FORCE)");
    exec_int(admin, "CREATE DATABASE " DB);
    char ci[1100], ci_app[1100];
    if (strlen(base) > 1000)
        return 1;
    snprintf(ci, sizeof(ci), "%.1000s dbname=" DB, base);
    snprintf(ci_app, sizeof(ci_app), "%.1000s dbname=" DB " user=dialer_app", base);
    struct server_migrate_result mres;
    if (server_migrate(ci, NULL, NULL, &mres) != 0)
        return 1;
    PGconn *su = connect_db(ci, "");

    long long tenant = exec_int(su, "INSERT INTO tenants (slug, name) VALUES ('bench', 'B')"
                                    " RETURNING id");
    char sql[512];
    snprintf(sql, sizeof(sql),
             "INSERT INTO contact_lists (tenant_id, name) VALUES (%lld, 'a'), (%lld, 'b')"
             " RETURNING id",
             tenant, tenant);
    long long list_a = exec_int(su, sql), list_b = list_a + 1;

    long rss_kb;
    double t_pipe = bench_pipeline(ci_app, tenant, list_a, rows, &rss_kb);

    /* The same rows, normalised, out of list a into a file, then timed \copy into list b. */
    char file[] = "/tmp/bench-import-XXXXXX";
    int fd = mkstemp(file);
    if (fd < 0)
        return 1;
    close(fd);
    char cmd[4096];
    snprintf(cmd, sizeof(cmd),
             "psql -q -X '%s' -c \"\\copy (SELECT tenant_id, %lld, number, extension, alt_numbers,"
             " external_id, country, region, postal_code, time_zones, tz_source, custom, state"
             " FROM contacts WHERE list_id = %lld) TO '%s'\"",
             ci, list_b, list_a, file);
    if (run_cmd(cmd) != 0)
        return 1;
    snprintf(cmd, sizeof(cmd),
             "psql -q -X '%s' -c \"\\copy contacts (tenant_id,"
             " list_id, number, extension, alt_numbers, external_id, country, region, postal_code,"
             " time_zones, tz_source, custom, state) FROM '%s'\"",
             ci, file);
    double t0 = now_s();
    if (run_cmd(cmd) != 0)
        return 1;
    double t_copy = now_s() - t0;
    remove(file);
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM contacts WHERE list_id = %lld", list_b);
    if (exec_int(su, sql) != rows) {
        fprintf(stderr, "bench_import: psql \\copy loaded a different row count\n");
        return 1;
    }

    /* The ceiling: the same CSV file, as generated, into a plain table of text columns. */
    snprintf(file, sizeof(file), "/tmp/bench-import-XXXXXX");
    fd = mkstemp(file);
    if (fd < 0 || write(fd, file_csv, flen) != (ssize_t)flen)
        return 1;
    close(fd);
    exec_int(su, "CREATE TABLE plain_csv (phone text, first_name text, city text, id text)");
    snprintf(cmd, sizeof(cmd),
             "psql -q -X '%s' -c \"\\copy plain_csv FROM '%s' WITH (FORMAT csv, HEADER)\"", ci,
             file);
    t0 = now_s();
    if (run_cmd(cmd) != 0)
        return 1;
    double t_plain = now_s() - t0;
    remove(file);
    if (exec_int(su, "SELECT count(*) FROM plain_csv") != rows) {
        fprintf(stderr, "bench_import: psql \\copy into the plain table lost rows\n");
        return 1;
    }

    double rate = (double)rows / t_pipe;
    double ratio = t_pipe / t_copy;
    double target_s = 10.0 * (double)rows / 1e6;
    printf("BENCH name=import_rows_per_s value=%.0f unit=rows/s target=>=100000 ok=%s rows=%ld "
           "seconds=%.2f\n",
           rate, rate >= 100000 ? "yes" : "no", rows, t_pipe);
    printf("BENCH name=import_vs_psql_copy value=%.2f unit=ratio target=<=2.0 ok=%s copy_s=%.2f\n",
           ratio, ratio <= 2.0 ? "yes" : "no", t_copy);
    printf("BENCH name=import_vs_psql_copy_plain value=%.2f unit=ratio target=- ok=- "
           "copy_s=%.2f copy_rows_per_s=%.0f parse_ratio=%.2f normalise_ratio=%.2f\n",
           t_pipe / t_plain, t_plain, (double)rows / t_plain, t_parse / t_plain, t_norm / t_plain);
    printf("BENCH name=import_peak_rss value=%.1f unit=MiB target=<=100 ok=%s\n", rss_kb / 1024.0,
           rss_kb <= 100 * 1024 ? "yes" : "no");
    (void)target_s;

    PQfinish(su);
    free(file_csv);
    exec_int(admin, "DROP DATABASE IF EXISTS " DB " WITH (FORCE)");
    PQfinish(admin);
    if (started[0])
        run_cmd("RUN_DIR=run/bench tests/support/services.sh stop");
    return 0;
}
