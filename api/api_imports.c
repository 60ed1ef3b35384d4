/* SPDX-License-Identifier: MIT */
/*
 * Uploads, JSON batches and import jobs of contact lists: thin routes over
 * importers/importers.h (docs/importers.md, "Routes").
 *
 * Threads. Handlers, on_chunk and on_end run on the httpd thread; the
 * importer's resume and done callbacks run on the job's worker thread and
 * come back through httpd_post() with the request's handle (never the
 * context). The upload record (struct upload) lives from the handler to
 * the done message; running uploads are kept in a list on the httpd thread
 * so GET /imports/{job} can show live progress and DELETE can cancel.
 *
 * Decisions:
 *   - The upload id comes from the Upload-Id header or ?upload_id= and is
 *     required: it is what makes a retried upload idempotent.
 *   - The client leaving before the body is complete cancels the import
 *     (nothing is imported); leaving after the body was complete does not:
 *     the import finishes and GET /imports/{job} reports it.
 *   - Live progress and cancel work on the node running the upload; on
 *     another node GET shows the import_jobs row and DELETE answers 409.
 *   - An upload answers when its import has ended (201, or 200 for a
 *     replay) if that is within IMPORT_WAIT_MS of the body's end; a large
 *     file takes longer (a million rows is a minute or more), so then the
 *     answer is 202 Accepted with the running job and Location:
 *     /api/v1/imports/{job}, and the import goes on (GET that URL, or the
 *     WebSocket's progress, for the end). The wait stays below the HTTP
 *     server's deadline for a deferred answer (httpd.request_timeout, 30 s
 *     by default), which would otherwise answer 503 while the import
 *     succeeds. "Prefer: respond-async" (RFC 7240) asks for the 202 as
 *     soon as the body is in.
 *   - The rejects CSV is written by importer_rejects_export on a thread of
 *     its own (blocking libpq) into a temporary file, then sent; at most
 *     REJECTS_THREADS at once (503 with Retry-After beyond), at most
 *     REJECTS_MAX bytes (422 beyond; the CLI has no limit).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#include "api/api_imports.h"
#include "api/api_rest.h"
#include "core/arena.h"
#include "core/err.h"
#include "core/log.h"
#include "importers/importers.h"

#define REJECTS_THREADS 2
#define REJECTS_MAX     (256L * 1024 * 1024)
#define BATCH_MAX_BODY  (16L * 1024 * 1024)
#define IMPORT_WAIT_MS  20000 /* then 202 (below httpd.request_timeout's default 30 s) */
#define CLAIM_WAIT_MS   200   /* the job row not claimed yet at the 202: asked again */

struct upload;

struct api_lists {
    struct api *api;
    struct importer *imp;
    char *conninfo;
    struct upload *running; /* httpd thread */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int exports;            /* rejects exports running (mu) */
    int64_t import_wait_ms; /* body's end to the 202 */
};

struct upload {
    struct api_lists *L;
    struct httpd *h;
    uint64_t handle;
    struct importer_job *job;
    json_t *mapping;
    int64_t tenant_id;
    int64_t list_id;
    char upload_id[129];
    bool batch;
    bool finished; /* the body is complete */
    bool accepted; /* answered 202: the end is not answered */
    ev_timer wait; /* from the body's end to the 202 (httpd loop) */
    struct upload *prev, *next;
};

/* ------------------------------------------------------------ helpers */

static json_t *progress_json(json_t *job, const struct importer_progress *p)
{
    json_t *by = json_object();
    int i;

    for (i = 1; i < IMPORTER_REASON_COUNT; i++) {
        if (p->rejected_by_reason[i] > 0) {
            json_object_set_new(by, importer_reason_name((enum importer_reason)i),
                                json_integer((json_int_t)p->rejected_by_reason[i]));
        }
    }
    json_object_set_new(job, "state", json_string(importer_state_name(p->state)));
    json_object_set_new(job, "bytes_read", json_integer((json_int_t)p->bytes_read));
    json_object_set_new(job, "bytes_total",
                        p->bytes_total >= 0 ? json_integer(p->bytes_total) : json_null());
    json_object_set_new(job, "percent", p->percent >= 0 ? json_integer(p->percent) : json_null());
    json_object_set_new(job, "rows_read", json_integer((json_int_t)p->rows_read));
    json_object_set_new(job, "rows_total",
                        p->rows_total >= 0 ? json_integer((json_int_t)p->rows_total) : json_null());
    json_object_set_new(job, "rows_total_estimated",
                        json_boolean(p->rows_total >= 0 && !p->rows_total_exact));
    json_object_set_new(job, "rows_accepted", json_integer((json_int_t)p->rows_accepted));
    json_object_set_new(job, "rows_rejected", json_integer((json_int_t)p->rows_rejected));
    json_object_set_new(job, "rejected_by_reason", by);
    return job;
}

static struct upload *running_find(struct api_lists *L, int64_t tenant, int64_t list,
                                   const char *upload_id)
{
    struct upload *u;
    for (u = L->running; u != NULL; u = u->next) {
        if (u->tenant_id == tenant && u->list_id == list && strcmp(u->upload_id, upload_id) == 0) {
            return u;
        }
    }
    return NULL;
}

static void running_remove(struct upload *u)
{
    if (u->prev != NULL) {
        u->prev->next = u->next;
    } else {
        u->L->running = u->next;
    }
    if (u->next != NULL) {
        u->next->prev = u->prev;
    }
    u->prev = u->next = NULL;
}

static void upload_free(struct upload *u)
{
    if (u->job != NULL) {
        importer_job_release(u->job);
    }
    json_decref(u->mapping);
    free(u);
}

/* --------------------------------------------- worker -> httpd thread */

struct resume_msg {
    uint64_t handle;
};

static void post_resume(struct httpd *h, void *arg)
{
    struct resume_msg *m = arg;
    struct httpd_req *req = httpd_req_lookup(h, m->handle);
    if (req != NULL) {
        httpd_req_resume(req);
    }
    free(m);
}

static void on_resume(struct importer_job *job, void *arg)
{
    struct upload *u = arg;
    struct resume_msg *m = malloc(sizeof(*m));
    (void)job;
    if (m == NULL) {
        return;
    }
    m->handle = u->handle;
    if (httpd_post(u->h, post_resume, m) != 0) {
        free(m);
    }
}

struct done_msg {
    struct upload *u;
    struct importer_result r;
    json_t *items;
};

static void answer_done(struct api_ctx *ctx, const struct upload *u,
                        const struct importer_result *r, json_t *items)
{
    json_t *job, *body;

    switch (r->status) {
    case 0:
        job = json_pack("{s:s, s:I, s:s, s:b}", "id", r->job_id, "list_id", (json_int_t)u->list_id,
                        "upload_id", u->upload_id, "replayed", r->replayed);
        progress_json(job, &r->progress);
        body = json_pack("{s:o}", "job", job);
        if (u->batch) {
            json_object_set_new(body, "items", items != NULL ? json_incref(items) : json_array());
        }
        api_respond_json(ctx, r->replayed || u->batch ? HTTPD_STATUS_OK : HTTPD_STATUS_CREATED,
                         body, NULL);
        return;
    case ERR_PARSE:
        api_error(ctx, HTTPD_STATUS_UNPROCESSABLE, "invalid_file", r->error, NULL);
        return;
    case ERR_NOTFOUND:
        api_error(ctx, HTTPD_STATUS_NOT_FOUND, "not_found", "no such list", NULL);
        return;
    case ERR_BUSY:
        api_error(ctx, HTTPD_STATUS_CONFLICT, "upload_in_progress",
                  "an upload with this Upload-Id is still running; retry when it has ended",
                  "Upload-Id");
        return;
    case ERR_CANCELED:
        api_error(ctx, HTTPD_STATUS_CONFLICT, "cancelled", "the import was cancelled", NULL);
        return;
    case ERR_INVAL:
        api_error(ctx, HTTPD_STATUS_UNPROCESSABLE, "invalid_request",
                  r->error[0] != '\0' ? r->error : "the import request is invalid", NULL);
        return;
    default:
        LOG_ERR(API, "event=import_failed req=%s job=%s err=\"%s\"", api_ctx_request_id(ctx),
                r->job_id, err_str(r->status));
        api_error(ctx, HTTPD_STATUS_UNAVAILABLE, "unavailable",
                  "the import could not run; retry with the same Upload-Id", NULL);
        return;
    }
}

static void post_done(struct httpd *h, void *arg)
{
    struct done_msg *m = arg;
    struct upload *u = m->u;
    struct api_ctx *ctx = api_ctx_lookup(u->L->api, u->handle);
    (void)h;

    running_remove(u);
    ev_timer_stop(httpd_loop(u->h), &u->wait);
    if (ctx != NULL && !u->accepted) {
        httpd_req_on_abort(api_ctx_req(ctx), NULL, NULL);
        answer_done(ctx, u, &m->r, m->items);
    }
    json_decref(m->items);
    upload_free(u);
    free(m);
}

static void on_done(struct importer_job *job, const struct importer_result *r, json_t *items,
                    void *arg)
{
    struct upload *u = arg;
    struct done_msg *m = calloc(1, sizeof(*m));
    (void)job;

    if (m == NULL) {
        return; /* the upload stays listed; api_lists_destroy frees it */
    }
    m->u = u;
    m->r = *r;
    m->items = items != NULL ? json_deep_copy(items) : NULL;
    if (httpd_post(u->h, post_done, m) != 0) {
        json_decref(m->items);
        free(m);
    }
}

static void on_abort(struct httpd_req *req, int reason, void *arg)
{
    struct upload *u = arg;
    (void)req;
    if (!u->finished || reason == ERR_SHUTDOWN) {
        importer_job_cancel(u->job);
    }
}

/* ----------------------------------------------------------- uploads */

static bool upload_id_ok(const char *s)
{
    size_t i, n = s != NULL ? strlen(s) : 0;
    if (n == 0 || n > 128) {
        return false;
    }
    for (i = 0; i < n; i++) {
        if (s[i] < 0x21 || s[i] > 0x7e) {
            return false;
        }
    }
    return true;
}

static void wait_cb(struct ev_loop *loop, ev_timer *w, int revents);

/* Common start: the upload record, registered; the job started by start(). */
static struct upload *upload_new(struct api_ctx *ctx, struct api_lists *L, int64_t list_id,
                                 const char *upload_id, bool batch)
{
    struct upload *u = calloc(1, sizeof(*u));
    if (u == NULL) {
        return NULL;
    }
    u->L = L;
    u->h = httpd_req_server(api_ctx_req(ctx));
    u->handle = api_ctx_handle(ctx);
    u->tenant_id = api_ctx_principal(ctx)->tenant_id;
    u->list_id = list_id;
    u->batch = batch;
    snprintf(u->upload_id, sizeof(u->upload_id), "%s", upload_id);
    ev_timer_init(&u->wait, wait_cb, 0, 0);
    u->wait.data = u;
    return u;
}

static void upload_register(struct api_ctx *ctx, struct upload *u)
{
    u->next = u->L->running;
    if (u->next != NULL) {
        u->next->prev = u;
    }
    u->L->running = u;
    api_ctx_set_data(ctx, u);
    httpd_req_on_abort(api_ctx_req(ctx), on_abort, u);
}

static int start_failed(struct api_ctx *ctx, struct upload *u, int rc, const char *msg)
{
    upload_free(u);
    if (rc == ERR_BUSY) {
        api_respond_json(ctx, HTTPD_STATUS_UNAVAILABLE,
                         json_pack("{s:{s:s, s:s}}", "error", "code", "busy", "message",
                                   "too many imports are running; try again shortly"),
                         &(struct api_resp_opts){ .retry_after_s = 5 });
    } else if (rc == ERR_TOOBIG) {
        api_error(ctx, HTTPD_STATUS_PAYLOAD_TOO_LARGE, "too_many_items",
                  "at most 10000 items per batch", "$.items");
    } else if (rc == ERR_INVAL) {
        api_error(ctx, HTTPD_STATUS_UNPROCESSABLE, "invalid_field",
                  msg != NULL && msg[0] != '\0' ? msg : "the import options are invalid", NULL);
    } else {
        return rc;
    }
    return HTTPD_DONE;
}

static void creator_id(struct api_ctx *ctx, int64_t *id)
{
    const struct api_principal *p = api_ctx_principal(ctx);
    *id = p->kind == API_PRINCIPAL_USER ? p->id : 0;
}

static int h_upload(struct api_ctx *ctx, void *arg)
{
    static const char *const allowed[] = { "upload_id", "delimiter", "header",
                                           "mapping",   "filename",  NULL };
    struct api_lists *L = arg;
    struct httpd_req *req = api_ctx_req(ctx);
    const char *upload_id = httpd_req_header(req, "Upload-Id");
    const char *ct = httpd_req_header(req, "Content-Type");
    const char *cl = httpd_req_header(req, "Content-Length");
    const char *delim = httpd_req_query(req, "delimiter");
    const char *header = httpd_req_query(req, "header");
    const char *mapping = httpd_req_query(req, "mapping");
    struct importer_job_opts o = { 0 };
    struct upload *u;
    int64_t list_id;
    int rc;

    if (api_path_id(ctx, "id", &list_id) != 0 || api_query_allow(ctx, allowed) != 0) {
        return HTTPD_DONE;
    }
    if (upload_id == NULL) {
        upload_id = httpd_req_query(req, "upload_id");
    }
    if (!upload_id_ok(upload_id)) {
        api_error(ctx, HTTPD_STATUS_BAD_REQUEST, "missing_upload_id",
                  "an Upload-Id header (1-128 printable characters) is required: a retry with the "
                  "same id never imports twice",
                  "Upload-Id");
        return HTTPD_DONE;
    }
    if (ct != NULL && strncasecmp(ct, "multipart/form-data", 19) == 0) {
        o.format = IMPORTER_FORMAT_MULTIPART;
        o.content_type = ct;
    } else if (ct != NULL &&
               (strncasecmp(ct, "text/csv", 8) == 0 || strncasecmp(ct, "text/plain", 10) == 0 ||
                strncasecmp(ct, "application/csv", 15) == 0 ||
                strncasecmp(ct, "text/tab-separated-values", 25) == 0 ||
                strncasecmp(ct, "application/octet-stream", 24) == 0)) {
        o.format = IMPORTER_FORMAT_CSV;
    } else {
        api_error(ctx, HTTPD_STATUS_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
                  "send the file as text/csv or multipart/form-data", "Content-Type");
        return HTTPD_DONE;
    }
    if (delim != NULL) {
        if (strcmp(delim, ",") == 0 || strcmp(delim, "comma") == 0) {
            o.delimiter = ',';
        } else if (strcmp(delim, ";") == 0 || strcmp(delim, "semicolon") == 0) {
            o.delimiter = ';';
        } else if (strcmp(delim, "\t") == 0 || strcmp(delim, "tab") == 0) {
            o.delimiter = '\t';
        } else {
            api_error(ctx, HTTPD_STATUS_BAD_REQUEST, "invalid_parameter",
                      "delimiter is comma, semicolon or tab", "?delimiter");
            return HTTPD_DONE;
        }
    }
    if (header != NULL && strcmp(header, "true") != 0 && strcmp(header, "false") != 0) {
        api_error(ctx, HTTPD_STATUS_BAD_REQUEST, "invalid_parameter", "header is true or false",
                  "?header");
        return HTTPD_DONE;
    }
    if (L->imp == NULL) {
        api_error(ctx, HTTPD_STATUS_UNAVAILABLE, "unavailable", "imports are not enabled", NULL);
        return HTTPD_DONE;
    }
    u = upload_new(ctx, L, list_id, upload_id, false);
    if (u == NULL) {
        return ERR_NOMEM;
    }
    if (mapping != NULL) {
        u->mapping = json_loads(mapping, 0, NULL);
        if (!json_is_object(u->mapping)) {
            upload_free(u);
            api_error(ctx, HTTPD_STATUS_BAD_REQUEST, "invalid_parameter",
                      "mapping is a JSON object ({\"phone\": \"Cell\"})", "?mapping");
            return HTTPD_DONE;
        }
    }
    o.tenant_id = u->tenant_id;
    o.list_id = list_id;
    o.upload_id = u->upload_id;
    o.filename = httpd_req_query(req, "filename");
    o.bytes_total = cl != NULL ? strtoll(cl, NULL, 10) : -1;
    o.no_header = header != NULL && strcmp(header, "false") == 0;
    o.mapping = u->mapping;
    creator_id(ctx, &o.created_by);
    o.on_resume = on_resume;
    o.on_done = on_done;
    o.arg = u;
    rc = importer_job_start(L->imp, &o, &u->job);
    if (rc != 0) {
        u->job = NULL;
        return start_failed(ctx, u, rc, NULL);
    }
    upload_register(ctx, u);
    return HTTPD_DEFERRED;
}

static int upload_chunk(struct api_ctx *ctx, const void *data, size_t len, void *arg)
{
    struct upload *u = api_ctx_data(ctx);
    int rc;
    (void)arg;

    if (u == NULL) {
        return HTTPD_DONE; /* refused before the job started: discard */
    }
    rc = importer_job_feed(u->job, data, len);
    switch (rc) {
    case 0:
    case ERR_CANCELED: /* ended (replay, bad file): the answer comes from on_done */
    case ERR_CLOSED:
        return HTTPD_DONE;
    case ERR_AGAIN:
        return HTTPD_PAUSE;
    default:
        importer_job_cancel(u->job);
        return rc;
    }
}

/* The import outlasted the wait: 202 with the running job (httpd thread). */
static void wait_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct upload *u = w->data;
    struct api_ctx *ctx = api_ctx_lookup(u->L->api, u->handle);
    char id[37];
    (void)revents;
    if (ctx == NULL || u->accepted) {
        return;
    }
    if (!importer_job_id(u->job, id)) {
        ev_timer_set(w, CLAIM_WAIT_MS / 1000.0, 0);
        ev_timer_start(loop, w); /* on_done answers if the claim fails */
        return;
    }
    struct importer_progress p;
    importer_job_progress(u->job, &p);
    json_t *job = json_pack("{s:s, s:I, s:s, s:b}", "id", id, "list_id", (json_int_t)u->list_id,
                            "upload_id", u->upload_id, "replayed", false);
    if (job == NULL) {
        return; /* the end answers */
    }
    progress_json(job, &p);
    char loc[64];
    snprintf(loc, sizeof(loc), "/api/v1/imports/%s", id);
    const struct api_resp_opts o = { .location = loc };
    u->accepted = true;
    httpd_req_on_abort(api_ctx_req(ctx), NULL, NULL); /* the import goes on */
    api_respond_json(ctx, HTTPD_STATUS_ACCEPTED, json_pack("{s:o}", "job", job), &o);
}

/* "Prefer: respond-async" among the request's preferences (RFC 7240). */
static bool prefers_async(struct api_ctx *ctx)
{
    const char *v = httpd_req_header(api_ctx_req(ctx), "Prefer");
    while (v != NULL && *v != '\0') {
        v += strspn(v, " \t,");
        size_t n = strcspn(v, " \t,;=");
        if (n == strlen("respond-async") && strncasecmp(v, "respond-async", n) == 0) {
            return true;
        }
        v += strcspn(v, ",");
    }
    return false;
}

static void upload_end(struct api_ctx *ctx, void *arg)
{
    struct upload *u = api_ctx_data(ctx);
    (void)arg;
    if (u != NULL) {
        u->finished = true;
        importer_job_finish(u->job);
        double after = prefers_async(ctx) ? 0.0 : (double)u->L->import_wait_ms / 1000.0;
        ev_timer_set(&u->wait, after, 0);
        ev_timer_start(httpd_loop(u->h), &u->wait);
    }
}

/* POST /lists/{id}/contacts: {"upload_id", "items": [...], "mapping": {...}} */
static int h_batch(struct api_ctx *ctx, void *arg)
{
    static const struct api_field fields[] = {
        { .name = "upload_id", .type = API_F_STRING, .required = true, .min = 1, .max = 128 },
        { .name = "mapping", .type = API_F_OBJECT, .max = 16384 },
    };
    struct api_lists *L = arg;
    json_t *body = httpd_req_json(api_ctx_req(ctx));
    json_t *rest, *items;
    struct api_field_error fe;
    struct importer_job_opts o = { 0 };
    struct upload *u;
    char err[256] = "";
    int64_t list_id;
    int rc;

    if (api_path_id(ctx, "id", &list_id) != 0) {
        return HTTPD_DONE;
    }
    if (!json_is_object(body)) {
        json_t *dummy;
        api_body_validate(ctx, fields, 2, &dummy); /* answers 400 */
        return HTTPD_DONE;
    }
    rest = json_copy(body);
    if (rest == NULL) {
        return ERR_NOMEM;
    }
    json_object_del(rest, "items");
    rc = api_json_check(rest, fields, 2, &fe);
    json_decref(rest);
    if (rc != 0) {
        return rest_invalid(ctx, fe.code, fe.field, fe.message);
    }
    items = json_object_get(body, "items");
    if (items == NULL) {
        return rest_invalid(ctx, "missing_field", "$.items", "items is required");
    }
    if (!json_is_array(items)) {
        return rest_invalid(ctx, "invalid_field", "$.items", "items is an array of objects");
    }
    if (!upload_id_ok(rest_jstr(body, "upload_id"))) {
        return rest_invalid(ctx, "invalid_field", "$.upload_id",
                            "upload_id is 1-128 printable characters without spaces");
    }
    if (L->imp == NULL) {
        api_error(ctx, HTTPD_STATUS_UNAVAILABLE, "unavailable", "imports are not enabled", NULL);
        return HTTPD_DONE;
    }
    u = upload_new(ctx, L, list_id, rest_jstr(body, "upload_id"), true);
    if (u == NULL) {
        return ERR_NOMEM;
    }
    u->finished = true;
    u->mapping = json_incref(json_object_get(body, "mapping"));
    o.tenant_id = u->tenant_id;
    o.list_id = list_id;
    o.upload_id = u->upload_id;
    o.mapping = u->mapping;
    creator_id(ctx, &o.created_by);
    o.on_done = on_done;
    o.arg = u;
    rc = importer_batch_start(L->imp, &o, items, err, sizeof(err), &u->job);
    if (rc != 0) {
        u->job = NULL;
        if (rc == ERR_INVAL) {
            upload_free(u);
            return rest_invalid(ctx, "invalid_field", "$.items",
                                err[0] != '\0' ? err : "items is an array of objects");
        }
        return start_failed(ctx, u, rc, err);
    }
    upload_register(ctx, u);
    return HTTPD_DEFERRED;
}

/* ---------------------------------------------------------- import jobs */

#define JOB_JSON                                                                               \
    "json_build_object('id', j.id, 'list_id', j.list_id, 'upload_id', j.upload_id,"            \
    " 'state', j.state, 'replayed', false, 'filename', j.filename,"                            \
    " 'bytes_read', j.bytes_read, 'bytes_total', j.bytes_total,"                               \
    " 'percent', CASE WHEN j.state = 'completed' THEN 100 WHEN coalesce(j.bytes_total, 0) = 0" \
    "  THEN NULL ELSE least(99, j.bytes_read * 100 / j.bytes_total) END,"                      \
    " 'rows_read', j.rows_read, 'rows_accepted', j.rows_accepted,"                             \
    " 'rows_total', CASE WHEN j.state = 'completed' THEN j.rows_read END,"                     \
    " 'rows_total_estimated', false,"                                                          \
    " 'rows_rejected', j.rows_rejected, 'rejected_by_reason', j.rejected_by_reason,"           \
    " 'error', j.error, 'created_by', j.created_by, 'created_at', j.created_at,"               \
    " 'started_at', j.started_at, 'finished_at', j.finished_at)"

struct job_out {
    struct api_lists *L;
    json_t *obj;
    bool cancel;
};

static bool uuid_ok(const char *s)
{
    size_t i;
    if (s == NULL || strlen(s) != 36) {
        return false;
    }
    for (i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : strchr("0123456789abcdefABCDEF", s[i]) == NULL || s[i] == '\0') {
            return false;
        }
    }
    return true;
}

static int job_row(struct api_ctx *ctx, PGresult *res, void *arg)
{
    struct job_out *o = arg;
    (void)ctx;
    if (PQntuples(res) == 1) {
        o->obj = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    }
    return 0;
}

static void job_done(struct api_ctx *ctx, int status, void *arg)
{
    struct job_out *o = arg;
    struct upload *u = NULL;
    const char *state;
    json_t *obj = o->obj;

    o->obj = NULL;
    if (status != 0) {
        json_decref(obj);
        api_error_db(ctx, status);
        return;
    }
    if (obj == NULL) {
        api_error(ctx, HTTPD_STATUS_NOT_FOUND, "not_found", "no such import", NULL);
        return;
    }
    state = json_string_value(json_object_get(obj, "state"));
    if (state != NULL && (strcmp(state, "running") == 0 || strcmp(state, "pending") == 0)) {
        u = running_find(o->L, api_ctx_principal(ctx)->tenant_id,
                         json_integer_value(json_object_get(obj, "list_id")),
                         json_string_value(json_object_get(obj, "upload_id")));
    }
    if (u != NULL && u->job != NULL) {
        struct importer_progress p;
        importer_job_progress(u->job, &p);
        progress_json(obj, &p);
    }
    if (!o->cancel) {
        api_respond_json(ctx, HTTPD_STATUS_OK, obj, NULL);
        return;
    }
    if (u == NULL) {
        const char *msg = state != NULL && strcmp(state, "running") == 0
                              ? "the import is running on another node; cancel it there"
                              : "the import has ended; only a running import can be cancelled";
        api_error(ctx, HTTPD_STATUS_CONFLICT, "not_running", msg, NULL);
        json_decref(obj); /* state points into it */
        return;
    }
    importer_job_cancel(u->job);
    api_respond_json(ctx, HTTPD_STATUS_ACCEPTED, obj, NULL);
}

static int job_query(struct api_ctx *ctx, struct api_lists *L, bool cancel)
{
    struct job_out *o = arena_calloc(httpd_req_arena(api_ctx_req(ctx)), sizeof(*o));
    const char *id = httpd_req_param(api_ctx_req(ctx), "job");
    const char *params[1];
    struct api_stmt st;
    int rc;

    if (o == NULL) {
        return ERR_NOMEM;
    }
    if (!uuid_ok(id)) {
        api_error(ctx, HTTPD_STATUS_NOT_FOUND, "not_found", "no such import", NULL);
        return HTTPD_DONE;
    }
    o->L = L;
    o->cancel = cancel;
    params[0] = id;
    st = (struct api_stmt){ .sql = "SELECT " JOB_JSON " FROM import_jobs j WHERE j.id = $1::uuid",
                            .nparams = 1,
                            .params = params,
                            .rows = job_row,
                            .arg = o };
    rc = api_db_run(ctx, API_SCOPE_TENANT, &st, 1, job_done, o);
    if (rc != 0) {
        api_error_db(ctx, rc);
        return HTTPD_DONE;
    }
    return HTTPD_DEFERRED;
}

static int h_job_get(struct api_ctx *ctx, void *arg)
{
    return job_query(ctx, arg, false);
}

static int h_job_cancel(struct api_ctx *ctx, void *arg)
{
    return job_query(ctx, arg, true);
}

/* Jobs are keyed by uuid: paged by creation order through a row number. */
static int h_imports_page(struct api_ctx *ctx, void *arg)
{
    (void)arg;
    return rest_child_page(
        ctx, "no such list", "SELECT count(*) FROM contact_lists WHERE id = $1::bigint",
        "SELECT n, js FROM (SELECT row_number() OVER (ORDER BY j.created_at, j.id) AS n,"
        " " JOB_JSON " AS js FROM import_jobs j WHERE j.list_id = $1::bigint) x"
        " WHERE n > $2::bigint ORDER BY n LIMIT $3::bigint");
}

/* -------------------------------------------------------- rejects.csv */

struct export
{
    struct api_lists *L;
    struct httpd *h;
    uint64_t handle;
    int64_t tenant_id;
    char job_id[37];
    int status;
    char *data;
    size_t len;
};

static void export_answer(struct httpd *h, void *arg)
{
    struct export *x = arg;
    struct api_ctx *ctx = api_ctx_lookup(x->L->api, x->handle);
    (void)h;

    if (ctx != NULL) {
        switch (x->status) {
        case 0:
            api_respond_raw(ctx, HTTPD_STATUS_OK, "text/csv; charset=utf-8", x->data, x->len);
            break;
        case ERR_NOTFOUND:
            api_error(ctx, HTTPD_STATUS_NOT_FOUND, "not_found", "no such import", NULL);
            break;
        case ERR_TOOBIG:
            api_error(ctx, HTTPD_STATUS_UNPROCESSABLE, "export_too_large",
                      "the rejects file is larger than 256 MiB; export it with dialerctl", NULL);
            break;
        case -ENOSPC:
            api_error(ctx, HTTPD_STATUS_UNAVAILABLE, "insufficient_storage",
                      "the server's temporary disk is full, so the rejects could not be "
                      "written; try again once space is freed",
                      NULL);
            break;
        default:
            api_error(ctx, HTTPD_STATUS_UNAVAILABLE, "unavailable",
                      "the rejects could not be exported; try again", NULL);
            break;
        }
    }
    free(x->data);
    free(x);
}

static int read_all(int fd, struct export *x)
{
    off_t size = lseek(fd, 0, SEEK_END);
    size_t got = 0;

    if (size < 0 || lseek(fd, 0, SEEK_SET) != 0) {
        return ERR_IO;
    }
    if (size > REJECTS_MAX) {
        return ERR_TOOBIG;
    }
    x->data = malloc((size_t)size + 1);
    if (x->data == NULL) {
        return ERR_NOMEM;
    }
    while (got < (size_t)size) {
        ssize_t n = read(fd, x->data + got, (size_t)size - got);
        if (n <= 0) {
            return ERR_IO;
        }
        got += (size_t)n;
    }
    x->len = got;
    return 0;
}

static void *export_thread(void *arg)
{
    struct export *x = arg;
    struct api_lists *L = x->L;
    FILE *f = tmpfile();

    if (f == NULL) {
        x->status = errno == ENOSPC || errno == EDQUOT ? -ENOSPC : ERR_IO;
    } else {
        x->status = importer_rejects_export(L->conninfo, x->tenant_id, x->job_id, fileno(f));
        if (x->status == 0) {
            x->status = read_all(fileno(f), x);
        }
        fclose(f);
    }
    if (httpd_post(x->h, export_answer, x) != 0) {
        free(x->data);
        free(x);
    }
    pthread_mutex_lock(&L->mu);
    L->exports--;
    pthread_cond_broadcast(&L->cv);
    pthread_mutex_unlock(&L->mu);
    return NULL;
}

static int h_rejects(struct api_ctx *ctx, void *arg)
{
    struct api_lists *L = arg;
    const char *id = httpd_req_param(api_ctx_req(ctx), "job");
    struct export *x;
    pthread_t t;
    pthread_attr_t at;
    bool busy;
    int rc;

    if (!uuid_ok(id)) {
        api_error(ctx, HTTPD_STATUS_NOT_FOUND, "not_found", "no such import", NULL);
        return HTTPD_DONE;
    }
    pthread_mutex_lock(&L->mu);
    busy = L->exports >= REJECTS_THREADS;
    if (!busy) {
        L->exports++;
    }
    pthread_mutex_unlock(&L->mu);
    if (busy) {
        api_respond_json(ctx, HTTPD_STATUS_UNAVAILABLE,
                         json_pack("{s:{s:s, s:s}}", "error", "code", "busy", "message",
                                   "other exports are running; try again shortly"),
                         &(struct api_resp_opts){ .retry_after_s = 2 });
        return HTTPD_DONE;
    }
    x = calloc(1, sizeof(*x));
    if (x == NULL) {
        rc = ERR_NOMEM;
        goto fail;
    }
    x->L = L;
    x->h = httpd_req_server(api_ctx_req(ctx));
    x->handle = api_ctx_handle(ctx);
    x->tenant_id = api_ctx_principal(ctx)->tenant_id;
    snprintf(x->job_id, sizeof(x->job_id), "%s", id);
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    rc = pthread_create(&t, &at, export_thread, x) != 0 ? ERR_NOMEM : 0;
    pthread_attr_destroy(&at);
    if (rc == 0) {
        return HTTPD_DEFERRED;
    }
    free(x);
fail:
    pthread_mutex_lock(&L->mu);
    L->exports--;
    pthread_mutex_unlock(&L->mu);
    return rc;
}

/* ---------------------------------------------------------- lifecycle */

int api_lists_create(struct api *a, struct importer *imp, const char *conninfo,
                     struct api_lists **out)
{
    struct api_lists *L = calloc(1, sizeof(*L));
    int rc;

    *out = NULL;
    if (L == NULL) {
        return ERR_NOMEM;
    }
    L->api = a;
    L->imp = imp;
    L->import_wait_ms = IMPORT_WAIT_MS;
    L->conninfo = strdup(conninfo != NULL ? conninfo : "");
    pthread_mutex_init(&L->mu, NULL);
    pthread_cond_init(&L->cv, NULL);
    if (L->conninfo == NULL) {
        api_lists_destroy(L);
        return ERR_NOMEM;
    }
    const struct api_route upload = { .methods = HTTPD_POST,
                                      .pattern = "/api/v1/lists/{id}/uploads",
                                      .perm = API_PERM_LISTS_WRITE,
                                      .handler = h_upload,
                                      .arg = L };
    const struct api_route routes[] = {
        { .methods = HTTPD_POST,
          .pattern = "/api/v1/lists/{id}/contacts",
          .perm = API_PERM_LISTS_WRITE,
          .handler = h_batch,
          .arg = L,
          .flags = API_ROUTE_IDEMPOTENT,
          .max_body = BATCH_MAX_BODY },
        { .methods = HTTPD_GET,
          .pattern = "/api/v1/lists/{id}/imports",
          .perm = API_PERM_LISTS_READ,
          .handler = h_imports_page,
          .arg = L,
          .flags = API_ROUTE_NO_BODY },
        { .methods = HTTPD_GET,
          .pattern = "/api/v1/imports/{job}",
          .perm = API_PERM_LISTS_READ,
          .handler = h_job_get,
          .arg = L,
          .flags = API_ROUTE_NO_BODY },
        { .methods = HTTPD_DELETE,
          .pattern = "/api/v1/imports/{job}",
          .perm = API_PERM_LISTS_WRITE,
          .handler = h_job_cancel,
          .arg = L,
          .flags = API_ROUTE_NO_BODY },
        { .methods = HTTPD_GET,
          .pattern = "/api/v1/imports/{job}/rejects.csv",
          .perm = API_PERM_LISTS_READ,
          .handler = h_rejects,
          .arg = L,
          .flags = API_ROUTE_NO_BODY },
    };
    rc = api__lists_routes_add(a);
    if (rc == 0) {
        rc = api_route_add_stream(a, &upload, upload_chunk, upload_end);
    }
    if (rc == 0) {
        rc = api__routes_add(a, routes, sizeof(routes) / sizeof(routes[0]));
    }
    if (rc != 0) {
        api_lists_destroy(L);
        return rc;
    }
    *out = L;
    return 0;
}

void api_lists_set_import_wait(struct api_lists *L, int64_t ms)
{
    if (L != NULL && ms >= 0) {
        L->import_wait_ms = ms;
    }
}

void api_lists_destroy(struct api_lists *L)
{
    struct timespec until;
    int i;

    if (L == NULL) {
        return;
    }
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    pthread_mutex_lock(&L->mu);
    for (i = 0; i < 100 && L->exports > 0; i++) {
        if (pthread_cond_timedwait(&L->cv, &L->mu, &until) != 0) {
            break;
        }
    }
    pthread_mutex_unlock(&L->mu);
    while (L->running != NULL) {
        struct upload *u = L->running;
        running_remove(u);
        upload_free(u);
    }
    pthread_cond_destroy(&L->cv);
    pthread_mutex_destroy(&L->mu);
    free(L->conninfo);
    free(L);
}
