/* SPDX-License-Identifier: MIT */
/*
 * dialerctl dnc load --list ID [--format registry|plain|changes|xml|auto]
 *     [--replace] [--force] [--list-date YYYY-MM-DD] [--db CONNINFO] FILE
 *
 * Loads a DNC file of any size into a dnc_lists list in PostgreSQL (the
 * system of record) and tells every dialerd node to reload that list.
 *
 * Decisions:
 *   - Through the database, not the REST API: the upload route parses in
 *     memory on the httpd thread (dnc.upload-max); here the file is mmapped
 *     and parsed line by line into one COPY stream (1 MB chunks) into a
 *     temporary table, then merged into dnc_entries in the same transaction.
 *     The operator runs it where the database is reachable, with dialerd's
 *     own settings: DIALERD_DB_CONNINFO (or --db), DIALERD_REDIS_HOST,
 *     DIALERD_REDIS_PORT, DIALERD_REDIS_PASSWORD, DIALERD_DNC_CHANNEL.
 *   - All or nothing: a malformed line aborts the COPY and the transaction,
 *     and is reported with its line number and field (exit 1); nothing is
 *     stored.
 *   - The registry format replaces the list's entries (the download is the
 *     whole registry) and dates the list today unless --list-date says
 *     otherwise; other formats add unless --replace; a change file's D lines
 *     remove. FILE may be a zip archive as the registry delivers it (every
 *     member file is read) and the registry's XML tagged file (docs/compliance.md).
 *   - The SHA-256 of FILE as it is (before unzipping) is stored in
 *     dnc_lists.file_sha256. Loading the list's current file again with
 *     replacing semantics (registry, xml, --replace) is refused (exit 3)
 *     unless --force.
 *   - Platform role: national lists belong to no tenant, and the command is
 *     an operator's tool.
 *   - After the commit a "reload" for the list is published on the DNC
 *     channel (the format of compliance/dnc_sync.c); every node reloads it
 *     from PostgreSQL. Without Redis the data is stored and the nodes pick it
 *     up at their next full reload (the command says so, exit 0).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "compliance/compliance.h"
#include "core/db.h"
#include "core/err.h"
#include "ctl/ctl.h"

#define CHUNK (1u << 20)

struct load {
    PGconn *pg;
    char *buf;
    size_t len;
    uint64_t adds, dels;
    bool failed;
};

static int put(struct load *l, const char *s, size_t n)
{
    if (l->len + n > CHUNK) {
        if (PQputCopyData(l->pg, l->buf, (int)l->len) != 1) {
            l->failed = true;
            return -1;
        }
        l->len = 0;
    }
    memcpy(l->buf + l->len, s, n);
    l->len += n;
    return 0;
}

/* One accepted entry: "a +1..." or "d +1..." into the COPY stream. */
static int on_entry(int add, const char *e164, void *arg)
{
    struct load *l = arg;
    char line[40];
    int n = snprintf(line, sizeof(line), "%c\t%s\n", add ? 'a' : 'd', e164);
    if (n < 0 || (size_t)n >= sizeof(line)) {
        return ERR_INVAL;
    }
    if (add) {
        l->adds++;
    } else {
        l->dels++;
    }
    return put(l, line, (size_t)n) == 0 ? 0 : ERR_DB;
}

static bool exec_ok(PGconn *pg, const char *sql, int n, const char *const *p, PGresult **out)
{
    PGresult *r = PQexecParams(pg, sql, n, NULL, p, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_COPY_IN;
    if (!ok) {
        fprintf(stderr, "dialerctl: database: %s", PQerrorMessage(pg));
    }
    if (out != NULL && ok) {
        *out = r;
    } else {
        PQclear(r);
    }
    return ok;
}

/* Publishes the reload; 0, or -1 (reported). */
static int publish_reload(const char *scope, const char *tenant, const char *campaign,
                          const char *list)
{
    const char *host = getenv("DIALERD_REDIS_HOST");
    const char *port = getenv("DIALERD_REDIS_PORT");
    const char *pw = getenv("DIALERD_REDIS_PASSWORD");
    const char *chan = getenv("DIALERD_DNC_CHANNEL");
    struct timeval tv = { 5, 0 };
    int sc = strcmp(scope, "national") == 0 ? COMPLIANCE_DNC_NATIONAL
             : strcmp(scope, "tenant") == 0 ? COMPLIANCE_DNC_TENANT
                                            : COMPLIANCE_DNC_CAMPAIGN;
    redisContext *r =
        redisConnectWithTimeout(host != NULL && host[0] ? host : "127.0.0.1",
                                port != NULL ? (int)strtol(port, NULL, 10) : 6379, tv);
    if (r == NULL || r->err) {
        fprintf(stderr, "dialerctl: redis: %s\n", r != NULL ? r->errstr : "cannot connect");
        redisFree(r);
        return -1;
    }
    redisReply *rep;
    if (pw != NULL && pw[0] != '\0') {
        rep = redisCommand(r, "AUTH %s", pw);
        bool ok = rep != NULL && rep->type != REDIS_REPLY_ERROR;
        freeReplyObject(rep);
        if (!ok) {
            fprintf(stderr, "dialerctl: redis: authentication failed\n");
            redisFree(r);
            return -1;
        }
    }
    char msg[160];
    snprintf(msg, sizeof(msg), "dnc1 dialerctl-%ld reload %d %s %s %s", (long)getpid(), sc, tenant,
             campaign, list);
    rep = redisCommand(r, "PUBLISH %s %s", chan != NULL && chan[0] ? chan : "dialer:dnc", msg);
    bool ok = rep != NULL && rep->type == REDIS_REPLY_INTEGER;
    if (ok) {
        printf("reload sent to %lld node(s)\n", rep->integer);
    } else {
        fprintf(stderr, "dialerctl: redis: publish failed\n");
    }
    freeReplyObject(rep);
    redisFree(r);
    return ok ? 0 : -1;
}

static bool date_ok(const char *s)
{
    return strlen(s) == 10 && strspn(s, "0123456789-") == 10 && s[4] == '-' && s[7] == '-';
}

int ctl_dnc_load(int argc, char **argv)
{
    const char *list = NULL, *path = NULL, *fmt_s = "registry", *date = NULL;
    const char *conninfo = getenv("DIALERD_DB_CONNINFO");
    bool replace = false, force = false;
    for (int i = 0; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--list") == 0 && v != NULL) {
            list = v;
            i++;
        } else if (strcmp(argv[i], "--format") == 0 && v != NULL) {
            fmt_s = v;
            i++;
        } else if (strcmp(argv[i], "--list-date") == 0 && v != NULL) {
            date = v;
            i++;
        } else if (strcmp(argv[i], "--db") == 0 && v != NULL) {
            conninfo = v;
            i++;
        } else if (strcmp(argv[i], "--replace") == 0) {
            replace = true;
        } else if (strcmp(argv[i], "--force") == 0) {
            force = true;
        } else if (path == NULL && argv[i][0] != '-') {
            path = argv[i];
        } else {
            return -1;
        }
    }
    enum compliance_dnc_format fmt;
    if (strcmp(fmt_s, "registry") == 0) {
        fmt = COMPLIANCE_DNC_FMT_REGISTRY;
        replace = true;
    } else if (strcmp(fmt_s, "plain") == 0) {
        fmt = COMPLIANCE_DNC_FMT_PLAIN;
    } else if (strcmp(fmt_s, "changes") == 0) {
        fmt = COMPLIANCE_DNC_FMT_CHANGES;
    } else if (strcmp(fmt_s, "xml") == 0) {
        fmt = COMPLIANCE_DNC_FMT_XML;
        replace = true;
    } else if (strcmp(fmt_s, "auto") == 0) {
        fmt = COMPLIANCE_DNC_FMT_AUTO;
    } else {
        fprintf(stderr, "dialerctl: --format is registry, plain, changes, xml or auto\n");
        return 2;
    }
    if (list == NULL || path == NULL || strspn(list, "0123456789") != strlen(list) ||
        strlen(list) == 0 || strlen(list) > 18) {
        return -1;
    }
    if (date != NULL && !date_ok(date)) {
        fprintf(stderr, "dialerctl: --list-date is YYYY-MM-DD\n");
        return 2;
    }
    if (conninfo == NULL || conninfo[0] == '\0') {
        fprintf(stderr, "dialerctl: set DIALERD_DB_CONNINFO or --db\n");
        return 2;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        fprintf(stderr, "dialerctl: cannot open %s: %s\n", path, err_str(-errno));
        if (fd >= 0) {
            close(fd);
        }
        return 2;
    }
    void *map = NULL;
    if (st.st_size > 0) {
        map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    }
    close(fd);
    if (map == MAP_FAILED) {
        fprintf(stderr, "dialerctl: cannot read %s\n", path);
        return 2;
    }
    (void)madvise(map, (size_t)st.st_size, MADV_SEQUENTIAL);
    /* the digest of the file as it is (a zip before unzipping): dnc_lists.file_sha256 */
    unsigned char digest[crypto_hash_sha256_BYTES];
    char sha[crypto_hash_sha256_BYTES * 2 + 1];
    crypto_hash_sha256(digest, map != NULL ? map : (const void *)"",
                       (unsigned long long)st.st_size);
    sodium_bin2hex(sha, sizeof(sha), digest, sizeof(digest));

    int rc = 2;
    struct load l = { .pg = PQconnectdb(conninfo), .buf = malloc(CHUNK) };
    PGresult *res = NULL;
    char scope[16] = "", tenant[24] = "0", campaign[24] = "0";
    if (PQstatus(l.pg) != CONNECTION_OK || l.buf == NULL) {
        fprintf(stderr, "dialerctl: database: %s", PQerrorMessage(l.pg));
        goto out;
    }
    const char *p1[1] = { list };
    if (!exec_ok(l.pg, "BEGIN", 0, NULL, NULL) ||
        !exec_ok(l.pg, "SET LOCAL ROLE dialer_platform", 0, NULL, NULL) ||
        !exec_ok(l.pg, "SELECT set_config('app.actor', 'dialerctl', true)", 0, NULL, NULL) ||
        !exec_ok(l.pg,
                 "SELECT scope, coalesce(tenant_id, 0), coalesce(campaign_id, 0), "
                 "coalesce(encode(file_sha256, 'hex'), '') FROM dnc_lists "
                 "WHERE id = $1::bigint FOR UPDATE",
                 1, p1, &res)) {
        goto out;
    }
    if (PQntuples(res) != 1) {
        fprintf(stderr, "dialerctl: no DNC list %s\n", list);
        PQclear(res);
        goto out;
    }
    snprintf(scope, sizeof(scope), "%s", PQgetvalue(res, 0, 0));
    snprintf(tenant, sizeof(tenant), "%s", PQgetvalue(res, 0, 1));
    snprintf(campaign, sizeof(campaign), "%s", PQgetvalue(res, 0, 2));
    bool same = strcmp(PQgetvalue(res, 0, 3), sha) == 0;
    PQclear(res);
    if (same && replace && !force) {
        fprintf(stderr,
                "dialerctl: %s (SHA-256 %s) is the file list %s was last loaded from; "
                "--force loads it again\n",
                path, sha, list);
        rc = 3;
        goto out;
    }
    if (!exec_ok(l.pg, "CREATE TEMP TABLE dnc_load (op \"char\", x text) ON COMMIT DROP", 0, NULL,
                 NULL) ||
        !exec_ok(l.pg, "COPY dnc_load (op, x) FROM STDIN", 0, NULL, NULL)) {
        goto out;
    }
    struct compliance_dnc_parse_error perr = { 0 };
    uint64_t lines = 0;
    int prc = compliance_dnc_parse(map, (size_t)st.st_size, fmt, NULL, on_entry, &l, &lines, &perr);
    if (prc != 0 || l.failed) {
        PQputCopyEnd(l.pg, "the file was refused");
        PQclear(PQgetResult(l.pg));
        if (!l.failed) {
            fprintf(stderr, "dialerctl: %s:%" PRIu64 ": %s (nothing stored)\n", path, perr.line,
                    perr.message);
            rc = 1;
        } else {
            fprintf(stderr, "dialerctl: database: %s", PQerrorMessage(l.pg));
        }
        goto out;
    }
    if ((l.len > 0 && PQputCopyData(l.pg, l.buf, (int)l.len) != 1) ||
        PQputCopyEnd(l.pg, NULL) != 1) {
        fprintf(stderr, "dialerctl: database: %s", PQerrorMessage(l.pg));
        goto out;
    }
    res = PQgetResult(l.pg);
    bool copied = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    if (!copied) {
        fprintf(stderr, "dialerctl: database: %s", PQerrorMessage(l.pg));
        goto out;
    }
    const char *p2[5] = { list, replace ? "true" : "false", scope,
                          strcmp(tenant, "0") != 0 ? tenant : NULL,
                          strcmp(campaign, "0") != 0 ? campaign : NULL };
    const char *p3[3] = { list,
                          date != NULL ? date
                          : fmt == COMPLIANCE_DNC_FMT_REGISTRY || fmt == COMPLIANCE_DNC_FMT_XML
                              ? "today"
                              : NULL,
                          sha };
    if (!exec_ok(l.pg, "DELETE FROM dnc_entries WHERE $2::boolean AND list_id = $1::bigint", 2, p2,
                 NULL) ||
        !exec_ok(l.pg,
                 "DELETE FROM dnc_entries e USING dnc_load d WHERE d.op = 'd' AND "
                 "e.list_id = $1::bigint AND coalesce(e.number::text, e.prefix) = d.x",
                 1, p2, NULL) ||
        !exec_ok(
            l.pg,
            "INSERT INTO dnc_entries (scope, tenant_id, campaign_id, list_id, number, prefix, "
            "source) SELECT $2, $3::bigint, $4::bigint, $1::bigint, "
            "CASE WHEN length(x) > 8 THEN x END, CASE WHEN length(x) <= 8 THEN x END, 'import' "
            "FROM (SELECT DISTINCT x FROM dnc_load WHERE op = 'a') s ON CONFLICT DO NOTHING",
            4, (const char *const[]){ p2[0], p2[2], p2[3], p2[4] }, NULL) ||
        !exec_ok(l.pg,
                 "UPDATE dnc_lists SET entry_count = (SELECT count(*) FROM dnc_entries WHERE "
                 "list_id = $1::bigint), loaded_at = now(), list_date = coalesce($2::date, "
                 "list_date), file_sha256 = decode($3, 'hex') WHERE id = $1::bigint",
                 3, p3, NULL) ||
        !exec_ok(l.pg, "COMMIT", 0, NULL, NULL)) {
        goto out;
    }
    printf("list %s: %" PRIu64 " lines, %" PRIu64 " added, %" PRIu64 " removed%s, sha256 %s\n",
           list, lines, l.adds, l.dels, replace ? " (entries replaced)" : "", sha);
    rc = 0;
    if (publish_reload(scope, tenant, campaign, list) != 0) {
        printf("stored; the nodes load it at their next full reload\n");
    }
out:
    PQfinish(l.pg);
    free(l.buf);
    if (map != NULL) {
        munmap(map, (size_t)st.st_size);
    }
    return rc;
}
