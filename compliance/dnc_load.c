/* SPDX-License-Identifier: MIT */
/*
 * dnc_load: building DNC lists off the loop (compliance.h, "loading lists").
 *
 * Threads. Jobs go to the worker through an mpsc queue and a semaphore (the
 * worker is a plain thread, not a loop, so it may block on the semaphore,
 * on file reads and on the build). Results come back to the loop through an
 * mpsc mailbox. The store itself is thread-safe (dnc.c).
 *
 * Database reads. One pinned connection, one transaction on the platform
 * role (dnc_entries of every tenant are read: RLS is forced), pages of
 * PAGE_ROWS rows by id (keyset), so one callback adds at most PAGE_ROWS
 * entries to the builder on the loop. The store's sequence is taken before
 * the first page: changes applied while the pages are read stay in the
 * overlay above the new set.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compliance/compliance.h"
#include "core/db.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mpsc.h"

#define PAGE_ROWS 50000

enum job_kind { JOB_FILE, JOB_BUILD };

struct job {
    struct mpsc_node node;
    enum job_kind kind;
    struct compliance_dnc_loader *l;
    struct compliance_dnc_list_info info;
    enum compliance_dnc_format fmt;
    char *path;
    struct compliance_dnc_builder *b;
    uint64_t since_seq;
    /* results */
    int status;
    uint64_t entries;
    struct compliance_dnc_parse_error err;
    /* database read state (loop thread) */
    struct db_conn *db;
    int64_t last_id;
    char params[5][24];
};

struct compliance_dnc_loader {
    struct compliance_dnc *d;
    compliance_dnc_loaded_cb *cb;
    void *arg;
    struct mpsc_queue jobs;
    sem_t wake;
    atomic_bool stop;
    pthread_t thread;
    struct mpsc_mailbox done;
};

static void job_free(struct job *j)
{
    compliance_dnc_builder_destroy(j->b);
    free(j->path);
    free(j);
}

/* ---- worker ------------------------------------------------------------------ */

static int on_change(int add, const char *e164, void *arg)
{
    struct job *j = arg;
    return compliance_dnc_apply(j->l->d, &j->info, add, e164, NULL);
}

static void run_file(struct job *j)
{
    int fd = open(j->path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    void *map = NULL;
    if (fd < 0 || fstat(fd, &st) != 0) {
        j->status = fd < 0 ? -errno : ERR_IO;
        snprintf(j->err.message, sizeof(j->err.message), "file: cannot open");
        if (fd >= 0) {
            close(fd);
        }
        return;
    }
    if (st.st_size > 0) {
        map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            j->status = ERR_IO;
            close(fd);
            return;
        }
    }
    close(fd);
    j->since_seq = compliance_dnc_seq(j->l->d);
    bool changes = j->fmt == COMPLIANCE_DNC_FMT_CHANGES;
    if (!changes && (j->status = compliance_dnc_builder_create(&j->b)) != 0) {
        goto out;
    }
    j->status = compliance_dnc_parse(map, (size_t)st.st_size, j->fmt, j->b, on_change, j,
                                     &j->entries, &j->err);
    if (j->status == 0 && changes) {
        j->status = compliance_dnc_compact(j->l->d, &j->info);
        if (j->status == ERR_NOTFOUND) {
            j->status = 0; /* an empty change file for a list nobody has */
        }
    } else if (j->status == 0) {
        j->status = compliance_dnc_publish(j->l->d, &j->info, j->b, j->since_seq);
        j->b = NULL;
    }
out:
    if (map != NULL) {
        munmap(map, (size_t)st.st_size);
    }
}

static void *worker(void *arg)
{
    struct compliance_dnc_loader *l = arg;
#ifdef _GNU_SOURCE
    pthread_setname_np(pthread_self(), "dnc-build");
#endif
    for (;;) {
        while (sem_wait(&l->wake) != 0 && errno == EINTR) {
        }
        /* acquire: pairs with the release store in loader_destroy() */
        if (atomic_load_explicit(&l->stop, memory_order_acquire)) {
            break;
        }
        /* newest first from the queue: reverse to run jobs in submission order */
        struct mpsc_node *n = NULL;
        for (struct mpsc_node *t = mpsc_take_all(&l->jobs); t != NULL;) {
            struct mpsc_node *nx = t->next;
            t->next = n;
            n = t;
            t = nx;
        }
        while (n != NULL) {
            struct mpsc_node *next = n->next;
            struct job *j = CONTAINER_OF(n, struct job, node);
            if (j->kind == JOB_FILE) {
                run_file(j);
            } else {
                j->status = compliance_dnc_publish(l->d, &j->info, j->b, j->since_seq);
                j->b = NULL;
            }
            mpsc_mailbox_send(&l->done, &j->node);
            n = next;
        }
    }
    return NULL;
}

static void on_done(struct mpsc_mailbox *mb, struct mpsc_node *msg, void *arg)
{
    struct compliance_dnc_loader *l = arg;
    struct job *j = CONTAINER_OF(msg, struct job, node);
    (void)mb;
    if (j->status != 0) {
        LOG_WARN(COMPLIANCE,
                 "event=dnc_load_failed list=%" PRId64 " status=%s line=%" PRIu64 " msg=\"%s\"",
                 j->info.list_id, err_name(j->status), j->err.line, j->err.message);
    }
    if (l->cb != NULL) {
        l->cb(&j->info, j->status, j->entries, &j->err, l->arg);
    }
    job_free(j);
}

static void submit(struct compliance_dnc_loader *l, struct job *j)
{
    mpsc_push(&l->jobs, &j->node);
    sem_post(&l->wake);
}

int compliance_dnc_loader_create(struct ev_loop *loop, struct compliance_dnc *d,
                                 compliance_dnc_loaded_cb *done_cb, void *arg,
                                 struct compliance_dnc_loader **out)
{
    struct compliance_dnc_loader *l;
    int rc;
    if (loop == NULL || d == NULL || out == NULL) {
        return ERR_INVAL;
    }
    l = calloc(1, sizeof(*l));
    if (l == NULL) {
        return ERR_NOMEM;
    }
    l->d = d;
    l->cb = done_cb;
    l->arg = arg;
    mpsc_init(&l->jobs);
    atomic_init(&l->stop, false);
    sem_init(&l->wake, 0, 0);
    mpsc_mailbox_init(&l->done, loop, on_done, l);
    rc = pthread_create(&l->thread, NULL, worker, l);
    if (rc != 0) {
        mpsc_mailbox_fini(&l->done);
        sem_destroy(&l->wake);
        free(l);
        return -rc;
    }
    *out = l;
    return 0;
}

void compliance_dnc_loader_destroy(struct compliance_dnc_loader *l)
{
    if (l == NULL) {
        return;
    }
    /* release: pairs with the worker's acquire load */
    atomic_store_explicit(&l->stop, true, memory_order_release);
    sem_post(&l->wake);
    pthread_join(l->thread, NULL);
    struct mpsc_node *n = mpsc_take_all(&l->jobs);
    while (n != NULL) {
        struct mpsc_node *next = n->next;
        job_free(CONTAINER_OF(n, struct job, node));
        n = next;
    }
    l->cb = NULL; /* finished jobs still queued for the loop are freed silently */
    mpsc_mailbox_fini(&l->done);
    sem_destroy(&l->wake);
    free(l);
}

static struct job *job_new(struct compliance_dnc_loader *l, enum job_kind kind,
                           const struct compliance_dnc_list_info *info)
{
    struct job *j = calloc(1, sizeof(*j));
    if (j != NULL) {
        j->kind = kind;
        j->l = l;
        j->info = *info;
    }
    return j;
}

int compliance_dnc_load_file(struct compliance_dnc_loader *l,
                             const struct compliance_dnc_list_info *info, const char *path,
                             enum compliance_dnc_format fmt)
{
    if (l == NULL || info == NULL || path == NULL || path[0] == '\0') {
        return ERR_INVAL;
    }
    struct job *j = job_new(l, JOB_FILE, info);
    if (j == NULL || (j->path = strdup(path)) == NULL) {
        free(j);
        return ERR_NOMEM;
    }
    j->fmt = fmt;
    submit(l, j);
    return 0;
}

/* ---- database read (loop thread) -------------------------------------------- */

static const char list_sql[] =
    "SELECT name, coalesce(country, ''), "
    "coalesce(extract(epoch FROM list_date)::bigint, 0), coalesce(max_age_days, 0) "
    "FROM dnc_lists WHERE id = $1::bigint";

static const char page_sql[] =
    "SELECT id, coalesce(number::text, prefix) FROM dnc_entries "
    "WHERE scope = $1 AND tenant_id IS NOT DISTINCT FROM $2::bigint "
    "AND campaign_id IS NOT DISTINCT FROM $3::bigint AND list_id IS NOT DISTINCT FROM $4::bigint "
    "AND id > $5::bigint ORDER BY id LIMIT 50000";

static void db_finish(struct job *j, int status)
{
    static const struct db_query commit = { .sql = "COMMIT" };
    static const struct db_query rollback = { .sql = "ROLLBACK" };
    (void)db_query_send(j->db, status == 0 ? &commit : &rollback, NULL);
    db_conn_unpin(j->db);
    j->db = NULL;
    if (status != 0) {
        j->status = status;
        mpsc_mailbox_send(&j->l->done, &j->node);
        return;
    }
    j->kind = JOB_BUILD;
    submit(j->l, j);
}

static void send_page(struct job *j);

static void on_page(int status, PGresult *res, void *arg)
{
    struct job *j = arg;
    if (status != 0 || res == NULL || PQnfields(res) != 2) {
        snprintf(j->err.message, sizeof(j->err.message), "dnc_entries: read failed");
        db_finish(j, status != 0 ? status : ERR_DB);
        return;
    }
    int n = PQntuples(res);
    for (int i = 0; i < n; i++) {
        const char *e = PQgetvalue(res, i, 1);
        int rc = compliance_dnc_builder_add(j->b, e, strlen(e));
        if (rc == ERR_NOMEM) {
            db_finish(j, rc);
            return;
        }
        if (rc == 0) {
            j->entries++;
        } else if (j->err.line == 0) { /* the database's CHECKs make this unlikely */
            j->err.line = (uint64_t)strtoll(PQgetvalue(res, i, 0), NULL, 10);
            snprintf(j->err.message, sizeof(j->err.message), "dnc_entries.id: entry skipped");
        }
    }
    if (n > 0) {
        j->last_id = strtoll(PQgetvalue(res, n - 1, 0), NULL, 10);
    }
    if (n == PAGE_ROWS) {
        send_page(j);
    } else {
        db_finish(j, 0);
    }
}

static void send_page(struct job *j)
{
    const char *params[5];
    snprintf(j->params[4], sizeof(j->params[4]), "%" PRId64, j->last_id);
    for (int i = 0; i < 5; i++) {
        params[i] = j->params[i][0] != '\0' ? j->params[i] : NULL;
    }
    struct db_query q = {
        .sql = page_sql, .nparams = 5, .params = params, .cb = on_page, .arg = j
    };
    int rc = db_query_send(j->db, &q, NULL);
    if (rc != 0) {
        db_finish(j, rc);
    }
}

static void on_list(int status, PGresult *res, void *arg)
{
    struct job *j = arg;
    if (status != 0 || res == NULL || PQntuples(res) != 1 || PQnfields(res) != 4) {
        snprintf(j->err.message, sizeof(j->err.message), "dnc_lists: no such list");
        db_finish(j, status != 0 ? status : ERR_NOTFOUND);
        return;
    }
    snprintf(j->info.name, sizeof(j->info.name), "%s", PQgetvalue(res, 0, 0));
    snprintf(j->info.country, sizeof(j->info.country), "%s", PQgetvalue(res, 0, 1));
    j->info.list_date_us = strtoll(PQgetvalue(res, 0, 2), NULL, 10) * INT64_C(1000000);
    j->info.max_age_days = (int32_t)strtol(PQgetvalue(res, 0, 3), NULL, 10);
    send_page(j);
}

int compliance_dnc_load_db(struct compliance_dnc_loader *l, struct db_conn *db,
                           const struct compliance_dnc_list_info *info)
{
    static const char *const scopes[] = { "national", "tenant", "campaign" };
    static const struct db_query begin = { .sql = "BEGIN" };
    static const struct db_query role = { .sql = "SET LOCAL ROLE dialer_platform" };
    int rc;
    if (l == NULL || db == NULL || info == NULL || (unsigned)info->scope > 2) {
        return ERR_INVAL;
    }
    struct job *j = job_new(l, JOB_BUILD, info);
    if (j == NULL || compliance_dnc_builder_create(&j->b) != 0) {
        free(j);
        return ERR_NOMEM;
    }
    rc = db_conn_pin(db);
    if (rc != 0) {
        job_free(j);
        return rc;
    }
    j->db = db;
    j->since_seq = compliance_dnc_seq(l->d);
    snprintf(j->params[0], sizeof(j->params[0]), "%s", scopes[info->scope]);
    if (info->tenant_id != 0) {
        snprintf(j->params[1], sizeof(j->params[1]), "%" PRId64, info->tenant_id);
    }
    if (info->campaign_id != 0) {
        snprintf(j->params[2], sizeof(j->params[2]), "%" PRId64, info->campaign_id);
    }
    if (info->list_id != 0) {
        snprintf(j->params[3], sizeof(j->params[3]), "%" PRId64, info->list_id);
    }
    (void)db_query_send(db, &begin, NULL);
    (void)db_query_send(db, &role, NULL);
    if (info->list_id != 0) {
        const char *p[1] = { j->params[3] };
        struct db_query q = { .sql = list_sql, .nparams = 1, .params = p, .cb = on_list, .arg = j };
        rc = db_query_send(db, &q, NULL);
        if (rc != 0) {
            db_finish(j, rc);
        }
        return 0;
    }
    send_page(j);
    return 0;
}
