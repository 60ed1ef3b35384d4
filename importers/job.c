/* SPDX-License-Identifier: MIT */
/*
 * job: an import job and its worker thread.
 *
 * DESIGN
 *
 * Each job has one worker thread running its own libev loop and one
 * PostgreSQL session (core/db) on it. The feeder (any thread, usually
 * httpd's) pushes body pieces as messages into the job's mailbox
 * (core/mpsc); ownership of each piece moves with the message. The feeder's
 * side of flow control is one atomic: the bytes queued and not yet parsed.
 * Above the window importer_job_feed() still accepts the piece but says
 * ERR_AGAIN; the worker calls on_resume when the backlog falls below half
 * the window. The worker's side: it parses queued pieces only while the
 * COPY buffer is below its high-water mark (core/db's drain callback
 * restarts it), so a slow database slows the upload down instead of filling
 * memory.
 *
 * Life of a job on the worker (each step's callback sends the next):
 *
 *   CONNECT  wait for the session (bounded: 10 s, then the job fails)
 *   CLAIM    one transaction: read the list's settings, upsert the
 *            import_jobs row as running (unless it completed before: then
 *            the job is a replay and ends at once with the first result),
 *            read the row back. lock_timeout 200 ms: a retry that collides
 *            with a live import of the same upload id gets ERR_BUSY.
 *   COPY     a second transaction: lock the job row (FOR UPDATE NOWAIT,
 *            held until the end, which is what the retry collides with),
 *            create the temporary staging table, COPY every row into it.
 *   MERGE    one statement inserts the accepted, first-seen numbers into
 *            contacts and writes every other row to import_rejects; the
 *            job row gets its final counters; COMMIT. The statement runs
 *            first as a plain INSERT of the rows the list lacks, under a
 *            savepoint, and again with ON CONFLICT DO NOTHING (the list's
 *            unique number and external id decide) only if that met a
 *            unique violation (see merge_sql). The transaction runs without
 *            JIT (a large merge is costed above jit_above_cost and compiling
 *            it cost seconds for nothing).
 *   FAIL     on a bad file, cancel or database error: ROLLBACK (nothing of
 *            the upload stays), then the job row is marked failed or
 *            cancelled in a transaction of its own.
 *
 * Progress: counters are atomics the worker writes and anyone reads
 * (importer_job_progress). rows_total is derived there: exact for a JSON
 * batch and once the body is parsed (all_read; a progress event goes out at
 * that moment, before the merge), else estimated as rows_read scaled by
 * bytes_total / bytes_read when the body's size is known, else unknown (-1).
 *
 * Lifetime: the job is counted: one reference for the caller, one for the
 * service's list of jobs (dropped when the service joins the finished
 * thread). The loop and mailbox live as long as the job, so a feeder that
 * races the end only pushes into a queue that job_free drains.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/db.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mpsc.h"
#include "importers/importers.h"
#include "importers/importers_int.h"

enum msg_kind { MSG_DATA, MSG_FINISH, MSG_CANCEL };

struct job_msg {
    struct mpsc_node node;
    struct job_msg *next; /* the worker's pending FIFO */
    enum msg_kind kind;
    size_t len;
    char data[];
};

enum phase {
    PH_CONNECT = 0,
    PH_CLAIM,
    PH_COPY,
    PH_MERGE,
    PH_FAILING,
    PH_DONE,
};

struct importer {
    char *conninfo;
    char *worker_name;
    struct importer_config cfg;
    pthread_mutex_t mu; /* guards jobs */
    struct importer_job *jobs;
};

struct importer_job {
    struct importer *imp;
    struct importer_job *next_in_imp; /* imp->jobs, under imp->mu */
    atomic_int refs;
    atomic_bool finished; /* the worker thread has returned */
    pthread_t thread;
    struct ev_loop *loop;
    struct mpsc_mailbox mb;
    ev_timer tick; /* progress events and the connect deadline */
    ev_async stop; /* service shutdown */
    /* Options (copied). */
    struct importer_job_opts o;
    char upload_id[129];
    char *content_type;
    char *filename;
    json_t *mapping_req;
    json_t *items; /* JSON batch, or NULL */
    /* Feeder side. */
    atomic_size_t queued;
    atomic_bool paused;   /* the feeder was told ERR_AGAIN */
    atomic_bool closed;   /* finish or cancel was called */
    atomic_bool ended;    /* on_done has run or is running */
    atomic_bool all_read; /* the whole body is parsed: rows_read is the file's row count */
    atomic_bool id_set;   /* id below is written (importer_job_id) */
    char id[37];          /* job_id as published to other threads */
    /* Progress (written by the worker, read anywhere). */
    atomic_int state;
    atomic_ullong bytes_read, rows_read, rows_accepted, rows_rejected;
    atomic_ullong by_reason[IMPORTER_REASON_COUNT];
    /* Worker only. */
    enum phase phase;
    struct db_conn *db;
    struct job_msg *pend_head, *pend_tail;
    bool input_done, cancel_req, copy_blocked, copy_ended, list_found, replay, batch_staged;
    bool use_mp;
    struct imp_mp mp;
    struct imp_csv csv;
    struct imp_mapping map;
    bool have_map;
    struct imp_list list;
    struct imp_buf line;
    int64_t started_ms;
    int64_t last_progress_ms;
    int64_t last_copy_wait;
    int fail_status;
    char job_id[37];
    char error[512];
    struct importer_result result;
    json_t *item_results;
};

static const char *const state_names[] = { "pending", "running", "completed", "failed",
                                           "cancelled" };

const char *importer_state_name(enum importer_state s)
{
    return (unsigned)s < 5 ? state_names[s] : "unknown";
}

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */

static int64_t now_ms(struct importer_job *j)
{
    return (int64_t)(ev_now(j->loop) * 1000.0);
}

static void job_free(struct importer_job *j)
{
    struct mpsc_node *n = mpsc_take_all(&j->mb.queue);
    while (n) {
        struct mpsc_node *next = n->next;
        free(CONTAINER_OF(n, struct job_msg, node));
        n = next;
    }
    while (j->pend_head) {
        struct job_msg *m = j->pend_head;
        j->pend_head = m->next;
        free(m);
    }
    if (j->loop) {
        mpsc_mailbox_fini(&j->mb);
        ev_ref(j->loop); /* the stop watcher was unref'd when started (libev's rule) */
        ev_async_stop(j->loop, &j->stop);
        ev_loop_destroy(j->loop);
    }
    free(j->content_type);
    free(j->filename);
    json_decref(j->mapping_req);
    json_decref(j->items);
    json_decref(j->item_results);
    for (size_t i = 0; i < j->list.nallowed; i++)
        free(j->list.allowed[i]);
    free(j->list.allowed);
    free(j);
}

static void job_unref(struct importer_job *j)
{
    /* Pairs with the other releases: the last one frees (acq_rel orders the job's writes). */
    if (atomic_fetch_sub_explicit(&j->refs, 1, memory_order_acq_rel) == 1)
        job_free(j);
}

void importer_job_release(struct importer_job *job)
{
    if (job)
        job_unref(job);
}

bool importer_job_id(const struct importer_job *j, char out[37])
{
    struct importer_job *m = (struct importer_job *)j;
    if (!atomic_load_explicit(&m->id_set, memory_order_acquire)) {
        out[0] = '\0';
        return false;
    }
    memcpy(out, j->id, 37);
    return true;
}

void importer_job_progress(const struct importer_job *j, struct importer_progress *p)
{
    struct importer_job *m = (struct importer_job *)j;
    memset(p, 0, sizeof(*p));
    p->state = (enum importer_state)atomic_load_explicit(&m->state, memory_order_relaxed);
    p->bytes_read = atomic_load_explicit(&m->bytes_read, memory_order_relaxed);
    p->bytes_total = j->o.bytes_total;
    p->rows_read = atomic_load_explicit(&m->rows_read, memory_order_relaxed);
    p->rows_accepted = atomic_load_explicit(&m->rows_accepted, memory_order_relaxed);
    p->rows_rejected = atomic_load_explicit(&m->rows_rejected, memory_order_relaxed);
    for (int i = 0; i < IMPORTER_REASON_COUNT; i++)
        p->rejected_by_reason[i] = atomic_load_explicit(&m->by_reason[i], memory_order_relaxed);
    p->rows_total = -1;
    if (j->items) {
        p->rows_total = (int64_t)json_array_size(j->items);
        p->rows_total_exact = true;
    } else if (p->state == IMPORTER_COMPLETED ||
               atomic_load_explicit(&m->all_read, memory_order_acquire)) {
        p->rows_total = (int64_t)p->rows_read;
        p->rows_total_exact = true;
    } else if (j->o.bytes_total > 0 && p->bytes_read > 0 && p->rows_read > 0) {
        /* Rows so far scaled by the bytes still to come (the rows' average size). */
        double est = (double)p->rows_read * (double)j->o.bytes_total / (double)p->bytes_read;
        p->rows_total = est < (double)p->rows_read ? (int64_t)p->rows_read : (int64_t)(est + 0.5);
    }
    p->percent = -1;
    if (p->state == IMPORTER_COMPLETED) {
        p->percent = 100;
    } else if (j->o.bytes_total > 0) {
        uint64_t pc = p->bytes_read * 100 / (uint64_t)j->o.bytes_total;
        p->percent = pc > 99 ? 99 : (int)pc;
    }
}

/* Someone listens to this job's progress (the job's own callback or the service's watch). */
static bool wants_progress(const struct importer_job *j)
{
    return j->o.on_progress != NULL || j->imp->cfg.watch != NULL;
}

static void emit_progress(struct importer_job *j)
{
    if (!wants_progress(j))
        return;
    struct importer_progress p;
    importer_job_progress(j, &p);
    j->last_progress_ms = now_ms(j);
    if (j->o.on_progress)
        j->o.on_progress(j, &p, j->o.arg);
    if (j->imp->cfg.watch) {
        const struct importer_watch w = { .tenant_id = j->o.tenant_id,
                                          .list_id = j->o.list_id,
                                          .job_id = j->job_id,
                                          .upload_id = j->upload_id };
        j->imp->cfg.watch(&w, &p, j->imp->cfg.watch_arg);
    }
}

static void set_state(struct importer_job *j, enum importer_state s)
{
    atomic_store_explicit(&j->state, (int)s, memory_order_relaxed);
    emit_progress(j);
}

static void count_reject(struct importer_job *j, enum importer_reason r, uint64_t n)
{
    atomic_fetch_add_explicit(&j->rows_rejected, n, memory_order_relaxed);
    atomic_fetch_add_explicit(&j->by_reason[r], n, memory_order_relaxed);
}

static json_t *by_reason_json(struct importer_job *j)
{
    json_t *o = json_object();
    for (int i = 1; i < IMPORTER_REASON_COUNT && o; i++) {
        unsigned long long v = atomic_load_explicit(&j->by_reason[i], memory_order_relaxed);
        if (v)
            json_object_set_new(o, importer_reason_name((enum importer_reason)i),
                                json_integer((json_int_t)v));
    }
    return o;
}

/* The end: on_done once, then the loop stops. */
static void finish_job(struct importer_job *j, enum importer_state s, int status)
{
    if (j->phase == PH_DONE)
        return;
    j->phase = PH_DONE;
    atomic_store_explicit(&j->ended, true, memory_order_release);
    set_state(j, s);
    struct importer_result *r = &j->result;
    r->status = status;
    r->replayed = j->replay;
    memcpy(r->job_id, j->job_id, sizeof(r->job_id));
    snprintf(r->error, sizeof(r->error), "%s", status ? j->error : "");
    importer_job_progress(j, &r->progress);
    if (status)
        LOG_NOTICE(IMPORT, "import ended job=%s upload=%s state=%s err=%s msg=\"%s\"", j->job_id,
                   j->upload_id, importer_state_name(s), err_name(status), j->error);
    else
        LOG_INFO(IMPORT, "import ended job=%s state=%s rows=%llu accepted=%llu rejected=%llu",
                 j->job_id, importer_state_name(s), (unsigned long long)r->progress.rows_read,
                 (unsigned long long)r->progress.rows_accepted,
                 (unsigned long long)r->progress.rows_rejected);
    /* A feeder waiting for on_resume must learn that the job is over: resume tells it to feed,
     * and the feed then says ERR_CANCELED. Before on_done, so that on_done is the last
     * callback: the caller may free the callbacks' arg once it has run. */
    if (atomic_exchange_explicit(&j->paused, false, memory_order_acq_rel) && j->o.on_resume)
        j->o.on_resume(j, j->o.arg);
    if (j->o.on_done)
        j->o.on_done(j, r, j->item_results, j->o.arg);
    ev_timer_stop(j->loop, &j->tick);
    db_conn_destroy(j->db);
    j->db = NULL;
    ev_break(j->loop, EVBREAK_ALL);
}

/* ------------------------------------------------------------------------ */
/* Failure path                                                              */

static void fail_marked(int status, PGresult *res, void *arg)
{
    struct importer_job *j = arg;
    (void)res;
    if (status == ERR_CANCELED)
        return;
    finish_job(
        j, j->cancel_req && j->fail_status == ERR_CANCELED ? IMPORTER_CANCELLED : IMPORTER_FAILED,
        j->fail_status);
}

static void mark_failed(struct importer_job *j)
{
    /* Record the outcome on the job row (a transaction of its own, after the ROLLBACK). */
    bool cancelled = j->fail_status == ERR_CANCELED;
    if (!j->job_id[0] || j->fail_status == ERR_BUSY || j->fail_status == ERR_DISCONNECTED ||
        !j->db) {
        finish_job(j, cancelled ? IMPORTER_CANCELLED : IMPORTER_FAILED, j->fail_status);
        return;
    }
    char tenant[24], bytes[24], rows[24];
    snprintf(tenant, sizeof(tenant), "%lld", (long long)j->o.tenant_id);
    snprintf(bytes, sizeof(bytes), "%llu",
             (unsigned long long)atomic_load_explicit(&j->bytes_read, memory_order_relaxed));
    snprintf(rows, sizeof(rows), "%llu",
             (unsigned long long)atomic_load_explicit(&j->rows_read, memory_order_relaxed));
    const char *tp[] = { tenant };
    const char *p[] = { j->job_id, cancelled ? "cancelled" : "failed", j->error, bytes, rows };
    db_query_send(j->db, &(struct db_query){ .sql = "BEGIN" }, NULL);
    db_query_send(j->db,
                  &(struct db_query){ .sql = "SELECT set_config('app.tenant_id', $1, true)",
                                      .nparams = 1,
                                      .params = tp },
                  NULL);
    db_query_send(j->db, &(struct db_query){ .sql = "SET LOCAL lock_timeout = '2s'" }, NULL);
    db_query_send(
        j->db,
        &(struct db_query){ .sql = "UPDATE import_jobs SET state = $2, error = left($3, 1000), "
                                   "finished_at = now(), rows_read = $5, rows_accepted = 0, "
                                   "rows_rejected = 0, rejected_by_reason = '{}', "
                                   "bytes_read = CASE WHEN bytes_total IS NULL THEN $4::bigint "
                                   "ELSE least($4::bigint, bytes_total) END "
                                   "WHERE id = $1 AND state <> 'completed'",
                            .nparams = 5,
                            .params = p },
        NULL);
    if (db_query_send(j->db, &(struct db_query){ .sql = "COMMIT", .cb = fail_marked, .arg = j },
                      NULL) != 0)
        finish_job(j, cancelled ? IMPORTER_CANCELLED : IMPORTER_FAILED, j->fail_status);
}

static void rolled_back(int status, PGresult *res, void *arg)
{
    (void)res;
    if (status == ERR_CANCELED)
        return;
    mark_failed(arg);
}

/*
 * Fails the job with status and a user-facing message. Safe to call in any
 * phase and more than once (the first reason wins).
 */
static void job_fail(struct importer_job *j, int status, const char *msg)
{
    if (j->phase == PH_FAILING || j->phase == PH_DONE)
        return;
    enum phase was = j->phase;
    j->phase = PH_FAILING;
    j->fail_status = status;
    if (msg != j->error)
        snprintf(j->error, sizeof(j->error), "%s", msg);
    if (was == PH_COPY && !j->copy_ended) {
        /* The COPY's done callback (ERR_DB) continues with the ROLLBACK. */
        j->copy_ended = true;
        if (db_copy_end(j->db, msg[0] ? msg : "import aborted") == 0)
            return;
    }
    if (j->db && (was == PH_COPY || was == PH_MERGE)) {
        if (db_query_send(j->db,
                          &(struct db_query){ .sql = "ROLLBACK", .cb = rolled_back, .arg = j },
                          NULL) == 0)
            return;
    }
    mark_failed(j);
}

/* ------------------------------------------------------------------------ */
/* Merge                                                                     */

/*
 * The merge is one statement: the first staged row of each number goes into
 * contacts, every other staged row into import_rejects. It comes in two forms
 * that differ only in how a row already in the list is kept out:
 *
 *   fast   a plain INSERT of the rows the list does not have (anti-joins on
 *          the list's number and external id, evaluated on the statement's
 *          snapshot). No speculative insertion: each row is inserted once
 *          into the heap and its indexes. Run under a savepoint.
 *   safe   INSERT ... ON CONFLICT DO NOTHING: the unique indexes decide.
 *
 * The fast form raises unique_violation only when its snapshot was not the
 * whole story: two rows of the upload share an external id (with different
 * numbers), or another session inserted one of the numbers after the
 * snapshot (the insert waits for that session, then fails if it committed).
 * The worker then rolls back to the savepoint and runs the safe form, so the
 * result is the same as the safe form's in every case.
 *
 * $4 is the number of staged rows: when every one of them was inserted there
 * is nothing to reject, and the rejects' joins (a pass over the staged rows
 * hashed against the first rows and the inserted numbers) do not run (the
 * comparison is a one-time filter above them).
 */
#define MERGE_HEAD                                                                   \
    "WITH firsts AS ("                                                               \
    "  SELECT number, min(row_no) AS row_no FROM import_stage"                       \
    "  WHERE reason IS NULL GROUP BY number"                                         \
    "), ins AS ("                                                                    \
    "  INSERT INTO contacts (tenant_id, list_id, number, extension, alt_numbers,"    \
    "                        external_id, country, region, postal_code, time_zones," \
    "                        tz_source, custom, state)"                              \
    "  SELECT $2, $3, s.number, s.extension, s.alt_numbers, s.external_id,"          \
    "         s.country, s.region, s.postal_code, s.time_zones, s.tz_source,"        \
    "         s.custom, s.state"                                                     \
    "  FROM import_stage s JOIN firsts f ON f.row_no = s.row_no"

#define MERGE_TAIL                                                                   \
    "  RETURNING number"                                                             \
    "), inserted AS (SELECT count(*) AS n FROM ins"                                  \
    "), rej AS ("                                                                    \
    "  INSERT INTO import_rejects (job_id, row_no, tenant_id, reason, detail,"       \
    "                              original)"                                        \
    "  SELECT $1, s.row_no, $2, COALESCE(s.reason, 'duplicate'),"                    \
    "         CASE WHEN s.reason IS NOT NULL THEN s.detail"                          \
    "              WHEN f.row_no <> s.row_no THEN 'same number as row ' || f.row_no" \
    "              ELSE 'the number (or external id) is already in the list' END,"   \
    "         s.original::jsonb"                                                     \
    "  FROM import_stage s LEFT JOIN firsts f ON f.number = s.number"                \
    "       LEFT JOIN ins i ON i.number = s.number AND f.row_no = s.row_no"          \
    "  WHERE (SELECT n FROM inserted) < $4"                                          \
    "    AND (s.reason IS NOT NULL OR f.row_no <> s.row_no OR i.number IS NULL)"     \
    "  RETURNING reason"                                                             \
    ")"                                                                              \
    "SELECT (SELECT n FROM inserted)::text,"                                         \
    "       (SELECT count(*) FROM rej WHERE reason = 'duplicate')::text"

static const char merge_fast_sql[] =
    MERGE_HEAD "  WHERE NOT EXISTS (SELECT 1 FROM contacts c"
               "                    WHERE c.list_id = $3 AND c.number = s.number)"
               "    AND (s.external_id IS NULL OR NOT EXISTS (SELECT 1 FROM contacts c"
               "         WHERE c.list_id = $3 AND c.external_id = s.external_id))" MERGE_TAIL;

static const char merge_sql[] = MERGE_HEAD "  ON CONFLICT DO NOTHING" MERGE_TAIL;

static void committed(int status, PGresult *res, void *arg)
{
    struct importer_job *j = arg;
    (void)res;
    if (status == ERR_CANCELED)
        return;
    if (status != 0) {
        /* ERR_DISCONNECTED: the outcome is unknown; a retry with the same upload id settles it. */
        j->phase = PH_MERGE;
        job_fail(j, status, "the database did not confirm the import; retry the upload");
        return;
    }
    finish_job(j, IMPORTER_COMPLETED, 0);
}

static void batch_rejects(int status, PGresult *res, void *arg)
{
    struct importer_job *j = arg;
    if (status != 0 || !j->items)
        return;
    size_t n = json_array_size(j->items);
    j->item_results = json_array();
    for (size_t i = 0; i < n && j->item_results; i++)
        json_array_append_new(
            j->item_results, json_pack("{s:I, s:s}", "index", (json_int_t)i, "status", "accepted"));
    for (int r = 0; r < PQntuples(res); r++) {
        long long row = strtoll(PQgetvalue(res, r, 0), NULL, 10);
        if (row < 1 || (size_t)row > n)
            continue;
        json_t *it = json_array_get(j->item_results, (size_t)row - 1);
        json_object_set_new(it, "status", json_string("rejected"));
        json_object_set_new(it, "reason", json_string(PQgetvalue(res, r, 1)));
        json_object_set_new(it, "detail", json_string(PQgetvalue(res, r, 2)));
    }
}

static void merged(int status, PGresult *res, void *arg)
{
    struct importer_job *j = arg;
    if (status == ERR_CANCELED)
        return;
    if (status != 0 || PQntuples(res) != 1) {
        LOG_ERR(IMPORT, "merge failed job=%s sqlstate=%s err=\"%s\"", j->job_id,
                db_result_sqlstate(res), res ? PQresultErrorMessage(res) : "");
        job_fail(j, status ? status : ERR_DB, "the database refused the import (merge)");
        return;
    }
    unsigned long long inserted = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
    LOG_INFO(IMPORT, "import merged job=%s inserted=%llu ms=%lld", j->job_id, inserted,
             (long long)(now_ms(j) - j->started_ms));
    unsigned long long dups = strtoull(PQgetvalue(res, 0, 1), NULL, 10);
    atomic_store_explicit(&j->rows_accepted, inserted, memory_order_relaxed);
    count_reject(j, IMPORTER_REASON_DUPLICATE, dups);

    char tenant[24], bytes[24], rows[24], acc[24], rej[24];
    snprintf(tenant, sizeof(tenant), "%lld", (long long)j->o.tenant_id);
    snprintf(bytes, sizeof(bytes), "%llu",
             (unsigned long long)atomic_load_explicit(&j->bytes_read, memory_order_relaxed));
    snprintf(rows, sizeof(rows), "%llu",
             (unsigned long long)atomic_load_explicit(&j->rows_read, memory_order_relaxed));
    snprintf(acc, sizeof(acc), "%llu", inserted);
    snprintf(rej, sizeof(rej), "%llu",
             (unsigned long long)atomic_load_explicit(&j->rows_rejected, memory_order_relaxed));
    json_t *br = by_reason_json(j);
    json_t *mj = j->have_map ? imp_mapping_json(&j->map) : json_object();
    char *brs = br ? json_dumps(br, JSON_COMPACT) : NULL;
    char *ms = mj ? json_dumps(mj, JSON_COMPACT) : NULL;
    json_decref(br);
    json_decref(mj);
    const char *p[] = { j->job_id, bytes, rows, acc, rej, brs ? brs : "{}", ms ? ms : "{}" };
    int rc = db_query_send(
        j->db,
        &(struct db_query){
            .sql = "UPDATE import_jobs SET state = 'completed', finished_at = now(),"
                   " bytes_read = CASE WHEN bytes_total IS NULL THEN $2::bigint"
                   "              ELSE least($2::bigint, bytes_total) END,"
                   " rows_read = $3, rows_accepted = $4, rows_rejected = $5,"
                   " rejected_by_reason = $6::jsonb, mapping = $7::jsonb WHERE id = $1",
            .nparams = 7,
            .params = p },
        NULL);
    free(brs);
    free(ms);
    if (rc == 0 && j->items) {
        const char *bp[] = { j->job_id };
        rc = db_query_send(j->db,
                           &(struct db_query){ .sql = "SELECT row_no, reason, coalesce(detail, '') "
                                                      "FROM import_rejects WHERE job_id = $1",
                                               .nparams = 1,
                                               .params = bp,
                                               .cb = batch_rejects,
                                               .arg = j },
                           NULL);
    }
    if (rc == 0)
        rc = db_query_send(j->db, &(struct db_query){ .sql = "COMMIT", .cb = committed, .arg = j },
                           NULL);
    if (rc != 0)
        job_fail(j, rc, "the database connection failed during the merge");
}

/* The merge's parameters $2, $3, $4: tenant, list, rows staged (buffers of 24). */
static void merge_params(struct importer_job *j, char *tenant, char *list, char *staged)
{
    snprintf(tenant, 24, "%lld", (long long)j->o.tenant_id);
    snprintf(list, 24, "%lld", (long long)j->o.list_id);
    snprintf(staged, 24, "%llu",
             (unsigned long long)atomic_load_explicit(&j->rows_read, memory_order_relaxed));
}

/* The fast merge met a unique violation (see merge_sql): the safe form decides instead. */
static void merged_fast(int status, PGresult *res, void *arg)
{
    struct importer_job *j = arg;
    if (status == ERR_DB && strcmp(db_result_sqlstate(res), "23505") == 0 && j->phase == PH_MERGE) {
        LOG_INFO(IMPORT, "import merge retried with ON CONFLICT job=%s", j->job_id);
        char tenant[24], list[24], staged[24];
        merge_params(j, tenant, list, staged);
        const char *p[] = { j->job_id, tenant, list, staged };
        db_query_send(j->db, &(struct db_query){ .sql = "ROLLBACK TO SAVEPOINT merge_fast" }, NULL);
        if (db_query_send(j->db,
                          &(struct db_query){ .sql = merge_sql,
                                              .nparams = 4,
                                              .params = p,
                                              .timeout_ms = DB_TIMEOUT_NONE,
                                              .cb = merged,
                                              .arg = j },
                          NULL) != 0)
            job_fail(j, ERR_DISCONNECTED, "the database connection failed");
        return;
    }
    merged(status, res, arg);
}

static void copy_done(int status, int64_t rows, PGresult *res, void *arg)
{
    struct importer_job *j = arg;
    if (status == ERR_CANCELED)
        return;
    j->copy_ended = true;
    if (j->phase == PH_FAILING) {
        /* The COPY was aborted on purpose: roll the transaction back. */
        if (status == ERR_DISCONNECTED || status == ERR_TIMEOUT ||
            db_query_send(j->db,
                          &(struct db_query){ .sql = "ROLLBACK", .cb = rolled_back, .arg = j },
                          NULL) != 0)
            mark_failed(j);
        return;
    }
    if (status != 0) {
        LOG_ERR(IMPORT, "copy failed job=%s sqlstate=%s err=\"%s\"", j->job_id,
                db_result_sqlstate(res), res ? PQresultErrorMessage(res) : "");
        job_fail(j, status == ERR_DB ? ERR_DB : status, "the database refused the staged rows");
        return;
    }
    j->phase = PH_MERGE;
    LOG_INFO(IMPORT, "import staged job=%s rows=%lld ms=%lld", j->job_id, (long long)rows,
             (long long)(now_ms(j) - j->started_ms));
    char tenant[24], list[24], staged[24];
    merge_params(j, tenant, list, staged);
    const char *p[] = { j->job_id, tenant, list, staged };
    /* Temporary tables are never auto-analyzed; without statistics the planner joins the
     * staging table to itself by nested loops. The joins and the grouping use these
     * columns only (sorting the sample of every column was a tenth of a small merge). */
    db_query_send(
        j->db, &(struct db_query){ .sql = "ANALYZE import_stage (row_no, reason, number)" }, NULL);
    db_query_send(j->db, &(struct db_query){ .sql = "SAVEPOINT merge_fast" }, NULL);
    if (db_query_send(j->db,
                      &(struct db_query){ .sql = merge_fast_sql,
                                          .nparams = 4,
                                          .params = p,
                                          .timeout_ms = DB_TIMEOUT_NONE,
                                          .cb = merged_fast,
                                          .arg = j },
                      NULL) != 0)
        job_fail(j, ERR_DISCONNECTED, "the database connection failed");
}

/* ------------------------------------------------------------------------ */
/* Parsing into the COPY                                                     */

static int stage_fields(struct importer_job *j, uint64_t row_no, char **f, const size_t *lens,
                        size_t n)
{
    char detail[256];
    atomic_fetch_add_explicit(&j->rows_read, 1, memory_order_relaxed);
    int r = imp_row_stage(&j->list, &j->map, row_no, f, lens, n, &j->line, detail, sizeof(detail));
    if (r < 0)
        return r;
    if (r == IMPORTER_REASON_NONE)
        atomic_fetch_add_explicit(&j->rows_accepted, 1, memory_order_relaxed);
    else
        count_reject(j, (enum importer_reason)r, 1);
    return 0;
}

static int on_csv_row(void *arg, uint64_t row_no, char **f, const size_t *lens, size_t n)
{
    struct importer_job *j = arg;
    if (!j->have_map) {
        char err[512];
        int rc = imp_mapping_build(&j->map, f, lens, n, j->o.no_header, j->mapping_req, err,
                                   sizeof(err));
        if (rc == ERR_NOMEM)
            return rc;
        if (rc) {
            snprintf(j->error, sizeof(j->error), "%s", err);
            return ERR_PARSE;
        }
        j->have_map = true;
        if (!j->o.no_header)
            return 0;
    }
    return stage_fields(j, j->o.no_header ? row_no + 1 : row_no, f, lens, n);
}

static int on_mp_data(void *arg, const char *data, size_t len)
{
    struct importer_job *j = arg;
    return imp_csv_feed(&j->csv, data, len);
}

static const char *parse_error(struct importer_job *j)
{
    if (j->error[0])
        return j->error;
    if (j->use_mp && j->mp.err[0])
        return j->mp.err;
    if (j->csv.err[0])
        return j->csv.err;
    return "the file could not be read";
}

/* Moves the staged lines to the COPY. Returns false when the job failed. */
static bool flush_lines(struct importer_job *j)
{
    if (!j->line.len)
        return true;
    int rc = db_copy_put(j->db, j->line.p, j->line.len);
    j->line.len = 0;
    if (rc == ERR_AGAIN) {
        j->copy_blocked = true;
        return true;
    }
    if (rc != 0) {
        job_fail(j, ERR_DISCONNECTED, "the database connection failed during the upload");
        return false;
    }
    return true;
}

static void maybe_resume(struct importer_job *j)
{
    size_t window = j->imp->cfg.window_bytes;
    if (atomic_load_explicit(&j->queued, memory_order_acquire) <= window / 2 &&
        atomic_exchange_explicit(&j->paused, false, memory_order_acq_rel) && j->o.on_resume)
        j->o.on_resume(j, j->o.arg);
}

static void end_of_input(struct importer_job *j)
{
    int rc = 0;
    if (j->use_mp)
        rc = imp_mp_finish(&j->mp);
    if (rc == 0)
        rc = imp_csv_finish(&j->csv);
    if (rc == 0 && !j->have_map)
        rc = (snprintf(j->error, sizeof(j->error), "the file is empty"), ERR_PARSE);
    if (rc) {
        job_fail(j, rc == ERR_NOMEM ? ERR_NOMEM : ERR_PARSE, parse_error(j));
        return;
    }
    atomic_store_explicit(&j->all_read, true, memory_order_release);
    emit_progress(j); /* the bar learns the exact row count before the merge */
    if (!flush_lines(j))
        return;
    j->copy_ended = true;
    if (db_copy_end(j->db, NULL) != 0)
        job_fail(j, ERR_DISCONNECTED, "the database connection failed during the upload");
}

static void stage_batch(struct importer_job *j);

/* Parses queued pieces while the COPY keeps up. */
static void pump(struct importer_job *j)
{
    if (j->phase != PH_COPY)
        return;
    if (j->items) {
        if (!j->batch_staged) {
            j->batch_staged = true;
            stage_batch(j);
        }
        return;
    }
    while (!j->copy_blocked && j->pend_head && j->phase == PH_COPY) {
        struct job_msg *m = j->pend_head;
        j->pend_head = m->next;
        if (!j->pend_head)
            j->pend_tail = NULL;
        if (m->kind == MSG_DATA) {
            int rc = j->use_mp ? imp_mp_feed(&j->mp, m->data, m->len)
                               : imp_csv_feed(&j->csv, m->data, m->len);
            atomic_fetch_add_explicit(&j->bytes_read, m->len, memory_order_relaxed);
            atomic_fetch_sub_explicit(&j->queued, m->len, memory_order_acq_rel);
            free(m);
            if (rc) {
                job_fail(j, rc == ERR_NOMEM ? ERR_NOMEM : ERR_PARSE, parse_error(j));
                return;
            }
            if (!flush_lines(j))
                return;
            maybe_resume(j);
        } else {
            free(m);
            end_of_input(j);
            return;
        }
    }
    if (wants_progress(j) && now_ms(j) - j->last_progress_ms >= j->imp->cfg.progress_ms)
        emit_progress(j);
}

static void copy_drain(void *arg)
{
    struct importer_job *j = arg;
    j->copy_blocked = false;
    pump(j);
}

/* A JSON batch: items are rows whose header is the union of their keys. */
static void stage_batch(struct importer_job *j)
{
    size_t n = json_array_size(j->items);
    json_t *keys = json_array();
    json_t *seen = json_object();
    size_t idx;
    json_t *it;
    json_array_foreach (j->items, idx, it) {
        const char *k;
        json_t *v;
        json_object_foreach (it, k, v) {
            if (!json_object_get(seen, k)) {
                json_object_set_new(seen, k, json_true());
                json_array_append_new(keys, json_string(k));
            }
        }
    }
    size_t nk = json_array_size(keys);
    char **f = calloc(nk ? nk : 1, sizeof(*f));
    size_t *lens = calloc(nk ? nk : 1, sizeof(*lens));
    char **bufs = calloc(nk ? nk : 1, sizeof(*bufs));
    int rc = (f && lens && bufs) ? 0 : ERR_NOMEM;
    for (size_t i = 0; i < nk && rc == 0; i++) {
        f[i] = (char *)json_string_value(json_array_get(keys, i));
        lens[i] = strlen(f[i]);
    }
    if (rc == 0) {
        char err[512];
        rc = imp_mapping_build(&j->map, f, lens, nk, false, j->mapping_req, err, sizeof(err));
        if (rc == 0)
            j->have_map = true;
        else if (rc != ERR_NOMEM)
            snprintf(j->error, sizeof(j->error), "%s", err);
    }
    for (size_t r = 0; r < n && rc == 0; r++) {
        json_t *obj = json_array_get(j->items, r);
        for (size_t i = 0; i < nk; i++) {
            json_t *v = json_object_get(obj, json_string_value(json_array_get(keys, i)));
            free(bufs[i]);
            bufs[i] = NULL;
            if (json_is_string(v))
                bufs[i] = strdup(json_string_value(v));
            else if (json_is_integer(v) || json_is_real(v) || json_is_boolean(v))
                bufs[i] = json_dumps(v, JSON_ENCODE_ANY);
            else
                bufs[i] = strdup("");
            if (!bufs[i]) {
                rc = ERR_NOMEM;
                break;
            }
            f[i] = bufs[i];
            lens[i] = strlen(bufs[i]);
        }
        if (rc == 0)
            rc = stage_fields(j, r + 1, f, lens, nk);
    }
    for (size_t i = 0; i < nk; i++)
        free(bufs[i]);
    free(bufs);
    free(f);
    free(lens);
    json_decref(keys);
    json_decref(seen);
    if (rc) {
        job_fail(j, rc == ERR_NOMEM ? ERR_NOMEM : ERR_INVAL,
                 j->error[0] ? j->error : "the batch could not be read");
        return;
    }
    if (!flush_lines(j))
        return;
    j->copy_ended = true;
    if (db_copy_end(j->db, NULL) != 0)
        job_fail(j, ERR_DISCONNECTED, "the database connection failed");
}

/* ------------------------------------------------------------------------ */
/* Claim                                                                     */

static void copy_lock_result(int status, PGresult *res, void *arg)
{
    struct importer_job *j = arg;
    if (status == ERR_CANCELED || status == 0)
        return;
    if (strcmp(db_result_sqlstate(res), "55P03") == 0)
        job_fail(j, ERR_BUSY, "an upload with this upload id is being imported right now");
    else
        job_fail(j, status, "the database refused the import");
}

static void start_copy(struct importer_job *j)
{
    char tenant[24];
    snprintf(tenant, sizeof(tenant), "%lld", (long long)j->o.tenant_id);
    const char *tp[] = { tenant };
    const char *jp[] = { j->job_id };
    j->phase = PH_COPY;
    set_state(j, IMPORTER_RUNNING);
    int rc = db_query_send(j->db, &(struct db_query){ .sql = "BEGIN" }, NULL);
    rc |= db_query_send(j->db,
                        &(struct db_query){ .sql = "SELECT set_config('app.tenant_id', $1, true)",
                                            .nparams = 1,
                                            .params = tp },
                        NULL);
    /* Hash joins and the dedupe aggregate of a large upload stay in memory. */
    rc |= db_query_send(j->db, &(struct db_query){ .sql = "SET LOCAL work_mem = '64MB'" }, NULL);
    /* The merge of a large upload is costed above jit_above_cost, and compiling its
     * expressions took seconds while saving nothing (one pass over the rows). */
    rc |= db_query_send(j->db, &(struct db_query){ .sql = "SET LOCAL jit = off" }, NULL);
    rc |= db_query_send(j->db,
                        &(struct db_query){ .sql = "SELECT 1 FROM import_jobs WHERE id = $1 "
                                                   "FOR UPDATE NOWAIT",
                                            .nparams = 1,
                                            .params = jp,
                                            .cb = copy_lock_result,
                                            .arg = j },
                        NULL);
    rc |= db_query_send(
        j->db,
        &(struct db_query){ .sql = "CREATE TEMP TABLE import_stage (row_no bigint, reason text, "
                                   "detail text, number text, extension text, alt_numbers text[], "
                                   "external_id text, country text, region text, postal_code text, "
                                   "time_zones text[], tz_source text, custom jsonb, state text, "
                                   "original text) ON COMMIT DROP" },
        NULL);
    if (rc == 0)
        rc = db_copy_start(j->db, &(struct db_copy_opts){
                                      .sql = "COPY import_stage (" IMP_STAGE_COLUMNS ") FROM STDIN",
                                      .done = copy_done,
                                      .drain = copy_drain,
                                      .arg = j,
                                      .high_water = j->imp->cfg.copy_high_water });
    if (rc != 0) {
        job_fail(j, ERR_DISCONNECTED, "the database connection failed");
        return;
    }
    if (j->cancel_req) {
        job_fail(j, ERR_CANCELED, "the upload was cancelled");
        return;
    }
    pump(j);
}

static void claim_list(int status, PGresult *res, void *arg)
{
    struct importer_job *j = arg;
    if (status != 0 || PQntuples(res) != 1)
        return;
    j->list_found = true;
    /* allowed_countries as text: {US,CA} */
    const char *ac = PQgetvalue(res, 0, 0);
    size_t cap = 0;
    for (const char *p = ac; *p; p++)
        if (*p == ',' || *p == '{')
            cap++;
    j->list.allowed = calloc(cap ? cap : 1, sizeof(char *));
    for (const char *p = ac; j->list.allowed && *p;) {
        while (*p == '{' || *p == ',' || *p == '}' || *p == '"')
            p++;
        size_t n = strcspn(p, ",}\"");
        if (n == 2 && j->list.nallowed < cap) {
            char *c = malloc(3);
            if (c) {
                memcpy(c, p, 2);
                c[2] = 0;
                j->list.allowed[j->list.nallowed++] = c;
            }
        }
        p += n;
    }
    j->list.dnc_mark = strcmp(PQgetvalue(res, 0, 1), "mark") == 0;
    json_t *s = json_loads(PQgetvalue(res, 0, 2), 0, NULL);
    json_t *tz = json_object_get(s, "default_time_zone");
    if (json_is_string(tz))
        snprintf(j->list.default_tz, sizeof(j->list.default_tz), "%s", json_string_value(tz));
    j->list.allow_fictional = json_is_true(json_object_get(s, "allow_fictional"));
    if (!j->mapping_req && json_is_object(json_object_get(s, "mapping")))
        j->mapping_req = json_incref(json_object_get(s, "mapping"));
    json_decref(s);
}

static void claim_row(int status, PGresult *res, void *arg)
{
    struct importer_job *j = arg;
    if (status == ERR_CANCELED)
        return;
    if (status != 0) {
        if (strcmp(db_result_sqlstate(res), "55P03") == 0)
            j->fail_status = ERR_BUSY;
        else if (strcmp(db_result_sqlstate(res), "23503") == 0)
            j->fail_status = ERR_NOTFOUND;
        else if (!j->fail_status)
            j->fail_status = status;
        return;
    }
    if (PQntuples(res) != 1)
        return;
    snprintf(j->job_id, sizeof(j->job_id), "%s", PQgetvalue(res, 0, 0));
    if (strcmp(PQgetvalue(res, 0, 1), "completed") == 0) {
        j->replay = true;
        atomic_store(&j->bytes_read, strtoull(PQgetvalue(res, 0, 2), NULL, 10));
        atomic_store(&j->rows_read, strtoull(PQgetvalue(res, 0, 3), NULL, 10));
        atomic_store(&j->rows_accepted, strtoull(PQgetvalue(res, 0, 4), NULL, 10));
        atomic_store(&j->rows_rejected, strtoull(PQgetvalue(res, 0, 5), NULL, 10));
        json_t *br = json_loads(PQgetvalue(res, 0, 6), 0, NULL);
        for (int i = 1; i < IMPORTER_REASON_COUNT; i++) {
            json_t *v = json_object_get(br, importer_reason_name((enum importer_reason)i));
            if (json_is_integer(v))
                atomic_store(&j->by_reason[i], (unsigned long long)json_integer_value(v));
        }
        json_decref(br);
    }
}

static void claim_done(int status, PGresult *res, void *arg)
{
    struct importer_job *j = arg;
    (void)res;
    if (status == ERR_CANCELED)
        return;
    if (status != 0 || j->fail_status) {
        int st = j->fail_status ? j->fail_status : status;
        j->job_id[0] = 0; /* nothing was claimed */
        job_fail(j, st,
                 st == ERR_BUSY       ? "an upload with this upload id is being imported right now"
                 : st == ERR_NOTFOUND ? "no such list"
                                      : "the database refused the import");
        return;
    }
    if (!j->list_found) {
        j->job_id[0] = 0;
        job_fail(j, ERR_NOTFOUND, "no such list");
        return;
    }
    memcpy(j->id, j->job_id, sizeof(j->id));
    atomic_store_explicit(&j->id_set, true, memory_order_release);
    if (j->replay) {
        finish_job(j, IMPORTER_COMPLETED, 0);
        return;
    }
    if (j->cancel_req) {
        job_fail(j, ERR_CANCELED, "the upload was cancelled");
        return;
    }
    start_copy(j);
}

static void start_claim(struct importer_job *j)
{
    char tenant[24], list[24], total[24], creator[24];
    snprintf(tenant, sizeof(tenant), "%lld", (long long)j->o.tenant_id);
    snprintf(list, sizeof(list), "%lld", (long long)j->o.list_id);
    snprintf(total, sizeof(total), "%lld", (long long)j->o.bytes_total);
    snprintf(creator, sizeof(creator), "%lld", (long long)j->o.created_by);
    json_t *opts = json_pack("{s:s, s:b, s:s}", "format",
                             j->o.format == IMPORTER_FORMAT_MULTIPART ? "multipart"
                             : j->items                               ? "json"
                                                                      : "csv",
                             "no_header", j->o.no_header, "delimiter",
                             j->o.delimiter == '\t' ? "tab"
                             : j->o.delimiter       ? (j->o.delimiter == ';' ? ";" : ",")
                                                    : "auto");
    char *os = opts ? json_dumps(opts, JSON_COMPACT) : NULL;
    json_decref(opts);
    const char *tp[] = { tenant };
    const char *lp[] = { list };
    const char *ip[] = { tenant,
                         list,
                         j->upload_id,
                         j->filename,
                         j->o.bytes_total >= 0 ? total : NULL,
                         os ? os : "{}",
                         j->imp->worker_name,
                         j->o.created_by > 0 ? creator : NULL };
    const char *sp[] = { list, j->upload_id };
    j->phase = PH_CLAIM;
    int rc = db_query_send(j->db, &(struct db_query){ .sql = "BEGIN" }, NULL);
    rc |= db_query_send(j->db,
                        &(struct db_query){ .sql = "SELECT set_config('app.tenant_id', $1, true)",
                                            .nparams = 1,
                                            .params = tp },
                        NULL);
    rc |=
        db_query_send(j->db, &(struct db_query){ .sql = "SET LOCAL lock_timeout = '200ms'" }, NULL);
    rc |= db_query_send(j->db,
                        &(struct db_query){ .sql = "SELECT allowed_countries::text, dnc_mode, "
                                                   "settings::text FROM contact_lists "
                                                   "WHERE id = $1",
                                            .nparams = 1,
                                            .params = lp,
                                            .cb = claim_list,
                                            .arg = j },
                        NULL);
    rc |= db_query_send(
        j->db,
        &(struct db_query){
            .sql = "INSERT INTO import_jobs (tenant_id, list_id, upload_id, state, filename,"
                   " bytes_total, options, worker, created_by, started_at)"
                   " VALUES ($1, $2, $3, 'running', $4, $5, $6::jsonb, $7, $8, now())"
                   " ON CONFLICT (list_id, upload_id) DO UPDATE SET state = 'running',"
                   " started_at = now(), finished_at = NULL, error = NULL, rows_read = 0,"
                   " rows_accepted = 0, rows_rejected = 0, bytes_read = 0,"
                   " rejected_by_reason = '{}', worker = EXCLUDED.worker,"
                   " filename = EXCLUDED.filename, bytes_total = EXCLUDED.bytes_total,"
                   " options = EXCLUDED.options"
                   " WHERE import_jobs.state <> 'completed'",
            .nparams = 8,
            .params = ip,
            .cb = claim_row,
            .arg = j },
        NULL);
    rc |= db_query_send(
        j->db,
        &(struct db_query){ .sql = "SELECT id::text, state, bytes_read, rows_read, rows_accepted,"
                                   " rows_rejected, rejected_by_reason::text FROM import_jobs"
                                   " WHERE list_id = $1 AND upload_id = $2",
                            .nparams = 2,
                            .params = sp,
                            .cb = claim_row,
                            .arg = j },
        NULL);
    rc |= db_query_send(j->db, &(struct db_query){ .sql = "COMMIT", .cb = claim_done, .arg = j },
                        NULL);
    free(os);
    if (rc != 0)
        job_fail(j, ERR_DISCONNECTED, "the database connection failed");
}

/* ------------------------------------------------------------------------ */
/* Worker loop                                                               */

static void on_db_state(int up, void *arg)
{
    struct importer_job *j = arg;
    if (up && j->phase == PH_CONNECT)
        start_claim(j);
}

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct importer_job *j = w->data;
    (void)loop;
    (void)revents;
    if (j->phase == PH_CONNECT && now_ms(j) - j->started_ms > 10000) {
        job_fail(j, ERR_DISCONNECTED, "the database is not reachable");
        return;
    }
    if (j->phase == PH_COPY && wants_progress(j) &&
        now_ms(j) - j->last_progress_ms >= j->imp->cfg.progress_ms)
        emit_progress(j);
}

static void on_stop(struct ev_loop *loop, ev_async *w, int revents)
{
    struct importer_job *j = w->data;
    (void)loop;
    (void)revents;
    if (j->phase == PH_CONNECT || j->phase == PH_CLAIM) {
        job_fail(j, ERR_SHUTDOWN, "the server is shutting down");
        if (j->phase != PH_DONE)
            finish_job(j, IMPORTER_FAILED, ERR_SHUTDOWN);
    } else {
        j->cancel_req = true;
        job_fail(j, ERR_SHUTDOWN, "the server is shutting down");
    }
}

static void on_msg(struct mpsc_mailbox *mb, struct mpsc_node *node, void *arg)
{
    struct importer_job *j = arg;
    struct job_msg *m = CONTAINER_OF(node, struct job_msg, node);
    (void)mb;
    if (j->phase == PH_DONE || j->phase == PH_FAILING || j->replay) {
        if (m->kind == MSG_DATA)
            atomic_fetch_sub_explicit(&j->queued, m->len, memory_order_acq_rel);
        free(m);
        return;
    }
    if (m->kind == MSG_CANCEL) {
        free(m);
        j->cancel_req = true;
        if (j->phase == PH_COPY)
            job_fail(j, ERR_CANCELED, "the upload was cancelled");
        return;
    }
    m->next = NULL;
    if (j->pend_tail)
        j->pend_tail->next = m;
    else
        j->pend_head = m;
    j->pend_tail = m;
    pump(j);
}

static void *worker_main(void *arg)
{
    struct importer_job *j = arg;
    pthread_setname_np(pthread_self(), "import");
    j->started_ms = now_ms(j);
    struct db_opts dbo = {
        .name = "import", .query_timeout_ms = 600000, .state_cb = on_db_state, .state_arg = j
    };
    if (db_conn_create(j->loop, j->imp->conninfo, &dbo, &j->db) != 0) {
        snprintf(j->error, sizeof(j->error), "the database connection could not be set up");
        j->phase = PH_FAILING;
        j->fail_status = ERR_INVAL;
        finish_job(j, IMPORTER_FAILED, ERR_INVAL);
    } else {
        ev_timer_start(j->loop, &j->tick);
        ev_run(j->loop, 0);
    }
    if (j->phase != PH_DONE) {
        /* The loop ran dry without an end: report it rather than hang the caller. */
        snprintf(j->error, sizeof(j->error), "the import stopped unexpectedly");
        finish_job(j, IMPORTER_FAILED, ERR_INTERNAL);
    }
    db_conn_destroy(j->db);
    j->db = NULL;
    imp_csv_fini(&j->csv);
    if (j->use_mp)
        imp_mp_fini(&j->mp);
    if (j->have_map)
        imp_mapping_fini(&j->map);
    imp_buf_fini(&j->line);
    /* Pairs with the acquire in reap(): the service may join us now. */
    atomic_store_explicit(&j->finished, true, memory_order_release);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Service and feeder API                                                    */

int importer_create(const struct importer_config *cfg, struct importer **out)
{
    *out = NULL;
    if (!cfg || !cfg->conninfo)
        return ERR_INVAL;
    struct importer *imp = calloc(1, sizeof(*imp));
    if (!imp)
        return ERR_NOMEM;
    imp->cfg = *cfg;
    imp->conninfo = strdup(cfg->conninfo);
    imp->worker_name = strdup(cfg->worker_name ? cfg->worker_name : "dialerd");
    if (!imp->conninfo || !imp->worker_name) {
        free(imp->conninfo);
        free(imp->worker_name);
        free(imp);
        return ERR_NOMEM;
    }
    imp->cfg.conninfo = imp->conninfo;
    imp->cfg.worker_name = imp->worker_name;
    if (imp->cfg.max_jobs <= 0)
        imp->cfg.max_jobs = 4;
    if (!imp->cfg.window_bytes)
        imp->cfg.window_bytes = 4u << 20;
    if (!imp->cfg.max_row_bytes)
        imp->cfg.max_row_bytes = 1u << 20;
    if (!imp->cfg.copy_high_water)
        imp->cfg.copy_high_water = 1u << 20;
    if (imp->cfg.progress_ms <= 0)
        imp->cfg.progress_ms = 250;
    pthread_mutex_init(&imp->mu, NULL);
    *out = imp;
    return 0;
}

/* Joins finished workers (mu held). Returns the number still running. */
static int reap(struct importer *imp, bool all)
{
    int running = 0;
    struct importer_job **pp = &imp->jobs;
    while (*pp) {
        struct importer_job *j = *pp;
        if (all || atomic_load_explicit(&j->finished, memory_order_acquire)) {
            pthread_join(j->thread, NULL);
            *pp = j->next_in_imp;
            job_unref(j);
        } else {
            running++;
            pp = &j->next_in_imp;
        }
    }
    return running;
}

void importer_destroy(struct importer *imp)
{
    if (!imp)
        return;
    pthread_mutex_lock(&imp->mu);
    for (struct importer_job *j = imp->jobs; j; j = j->next_in_imp)
        ev_async_send(j->loop, &j->stop);
    reap(imp, true);
    pthread_mutex_unlock(&imp->mu);
    pthread_mutex_destroy(&imp->mu);
    free(imp->conninfo);
    free(imp->worker_name);
    free(imp);
}

static int job_new(struct importer *imp, const struct importer_job_opts *o, json_t *items,
                   struct importer_job **out)
{
    *out = NULL;
    if (!imp || !o || o->tenant_id <= 0 || o->list_id <= 0 || !o->upload_id || !o->upload_id[0] ||
        strlen(o->upload_id) > 128)
        return ERR_INVAL;
    if (o->mapping && !json_is_object(o->mapping))
        return ERR_INVAL;
    if (o->delimiter && o->delimiter != ',' && o->delimiter != ';' && o->delimiter != '\t')
        return ERR_INVAL;
    struct importer_job *j = calloc(1, sizeof(*j));
    if (!j)
        return ERR_NOMEM;
    j->imp = imp;
    j->o = *o;
    snprintf(j->upload_id, sizeof(j->upload_id), "%s", o->upload_id);
    j->o.upload_id = j->upload_id;
    if (items)
        j->o.bytes_total = -1;
    j->content_type = o->content_type ? strdup(o->content_type) : NULL;
    j->filename = o->filename ? strndup(o->filename, 255) : NULL;
    j->mapping_req = o->mapping ? json_deep_copy(o->mapping) : NULL;
    j->items = items ? json_deep_copy(items) : NULL;
    j->o.mapping = NULL;
    j->list.tenant_id = o->tenant_id;
    j->list.list_id = o->list_id;
    j->list.dnc = imp->cfg.dnc;
    j->list.dnc_arg = imp->cfg.dnc_arg;
    imp_buf_init(&j->line);
    atomic_init(&j->refs, 2);
    int rc = ERR_NOMEM;
    if ((o->content_type && !j->content_type) || (o->filename && !j->filename) ||
        (o->mapping && !j->mapping_req) || (items && !j->items))
        goto fail;
    if (imp_csv_init(&j->csv, o->delimiter, imp->cfg.max_row_bytes, on_csv_row, j) != 0)
        goto fail;
    if (!items && o->format == IMPORTER_FORMAT_MULTIPART) {
        j->use_mp = true;
        rc = imp_mp_init(&j->mp, o->content_type, on_mp_data, j);
        if (rc) {
            imp_mp_fini(&j->mp);
            imp_csv_fini(&j->csv);
            goto fail;
        }
    }
    j->loop = ev_loop_new(EVFLAG_AUTO);
    if (!j->loop) {
        rc = ERR_NOMEM;
        if (j->use_mp)
            imp_mp_fini(&j->mp);
        imp_csv_fini(&j->csv);
        goto fail;
    }
    mpsc_mailbox_init(&j->mb, j->loop, on_msg, j);
    ev_timer_init(&j->tick, on_tick, 0.05, 0.05);
    j->tick.data = j;
    ev_async_init(&j->stop, on_stop);
    j->stop.data = j;
    ev_async_start(j->loop, &j->stop);
    ev_unref(j->loop);

    pthread_mutex_lock(&imp->mu);
    if (reap(imp, false) >= imp->cfg.max_jobs) {
        pthread_mutex_unlock(&imp->mu);
        rc = ERR_BUSY;
        if (j->use_mp)
            imp_mp_fini(&j->mp);
        imp_csv_fini(&j->csv);
        goto fail;
    }
    if (pthread_create(&j->thread, NULL, worker_main, j) != 0) {
        pthread_mutex_unlock(&imp->mu);
        rc = ERR_NOMEM;
        if (j->use_mp)
            imp_mp_fini(&j->mp);
        imp_csv_fini(&j->csv);
        goto fail;
    }
    j->next_in_imp = imp->jobs;
    imp->jobs = j;
    pthread_mutex_unlock(&imp->mu);
    LOG_INFO(IMPORT, "import started tenant=%lld list=%lld upload=%s format=%s",
             (long long)o->tenant_id, (long long)o->list_id, j->upload_id,
             items ? "json" : (j->use_mp ? "multipart" : "csv"));
    *out = j;
    return 0;
fail:
    imp_buf_fini(&j->line);
    job_free(j);
    return rc;
}

int importer_job_start(struct importer *imp, const struct importer_job_opts *o,
                       struct importer_job **out)
{
    return job_new(imp, o, NULL, out);
}

int importer_batch_start(struct importer *imp, const struct importer_job_opts *o, json_t *items,
                         char *err, size_t errsz, struct importer_job **out)
{
    *out = NULL;
    if (!json_is_array(items)) {
        if (err && errsz)
            snprintf(err, errsz, "items: must be an array of objects");
        return ERR_INVAL;
    }
    if (json_array_size(items) > IMPORTER_BATCH_MAX) {
        if (err && errsz)
            snprintf(err, errsz, "items: at most %d per request", IMPORTER_BATCH_MAX);
        return ERR_TOOBIG;
    }
    size_t i;
    json_t *it;
    json_array_foreach (items, i, it) {
        if (!json_is_object(it)) {
            if (err && errsz)
                snprintf(err, errsz, "items[%zu]: must be an object", i);
            return ERR_INVAL;
        }
    }
    int rc = job_new(imp, o, items, out);
    if (rc == 0) {
        /* The batch needs no body: the worker stages it as soon as the COPY is open. */
        importer_job_finish(*out);
    }
    return rc;
}

static int send_msg(struct importer_job *j, enum msg_kind k, const void *data, size_t len)
{
    struct job_msg *m = malloc(sizeof(*m) + len);
    if (!m)
        return ERR_NOMEM;
    m->kind = k;
    m->len = len;
    m->next = NULL;
    if (len)
        memcpy(m->data, data, len);
    mpsc_mailbox_send(&j->mb, &m->node);
    return 0;
}

int importer_job_feed(struct importer_job *j, const void *data, size_t len)
{
    if (atomic_load_explicit(&j->closed, memory_order_acquire))
        return ERR_CLOSED;
    if (atomic_load_explicit(&j->ended, memory_order_acquire))
        return ERR_CANCELED;
    if (len == 0)
        return 0;
    /* Counted before the send, so the worker's subtraction never goes below zero. */
    size_t q = atomic_fetch_add_explicit(&j->queued, len, memory_order_acq_rel) + len;
    int rc = send_msg(j, MSG_DATA, data, len);
    if (rc) {
        atomic_fetch_sub_explicit(&j->queued, len, memory_order_acq_rel);
        return rc;
    }
    if (q > j->imp->cfg.window_bytes) {
        atomic_store_explicit(&j->paused, true, memory_order_release);
        /* The worker may have drained meanwhile: re-check so the feeder is not stranded. */
        if (atomic_load_explicit(&j->queued, memory_order_acquire) <=
                j->imp->cfg.window_bytes / 2 &&
            atomic_exchange_explicit(&j->paused, false, memory_order_acq_rel))
            return 0;
        return ERR_AGAIN;
    }
    return 0;
}

int importer_job_finish(struct importer_job *j)
{
    if (atomic_exchange_explicit(&j->closed, true, memory_order_acq_rel))
        return ERR_CLOSED;
    return send_msg(j, MSG_FINISH, NULL, 0);
}

void importer_job_cancel(struct importer_job *j)
{
    if (!j || atomic_load_explicit(&j->ended, memory_order_acquire))
        return;
    atomic_store_explicit(&j->closed, true, memory_order_release);
    send_msg(j, MSG_CANCEL, NULL, 0);
}
