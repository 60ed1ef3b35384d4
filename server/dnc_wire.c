/* SPDX-License-Identifier: MIT */
/*
 * server/dnc_wire: the DNC store inside dialerd (design in dnc_wire.h and
 * docs/compliance.md, "In dialerd").
 *
 * Main loop state: a FIFO of lists to load, served one at a time on the
 * wire's own PostgreSQL connection (the loader pins it for a list's read);
 * a "list all" query that fills the FIFO; the age timer. Other threads talk
 * to the main loop through one mpsc mailbox (changes to publish, reloads).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/clock.h"
#include "core/db.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mpsc.h"
#include "server/dnc_wire.h"

enum msg_kind { MSG_CHANGE, MSG_RELOAD };

/* A message from another thread to the main loop. */
struct wire_msg {
    struct mpsc_node node;
    enum msg_kind kind;
    struct compliance_dnc_list_info info;
    int add;
    char entry[24];
};

/* dnc.national-file: the registry file this node loads (main loop; the status under lock). */
struct nfile {
    bool on;                        /* a file is configured */
    enum compliance_dnc_format fmt; /* dnc.national-file-format */
    ev_tstamp last_check;
    bool loading;          /* a load is on the worker */
    bool again;            /* the file changed while it loaded */
    int64_t seen_mtime_ns; /* stat at the last check */
    int64_t seen_size;
    int64_t want_mtime_ns; /* stat of the load in flight */
    int64_t want_size;
    pthread_mutex_t mu; /* guards st (read by /readyz on the httpd thread) */

    struct nfile_status {
        const char *state; /* "loading", "loaded", "failed", "missing" (static) */
        uint64_t numbers, bytes;
        int64_t list_date_us, loaded_us;
        int64_t failed_us;
        uint64_t error_line;
        char error[128];
    } st;
};

struct dnc_wire {
    struct ev_loop *loop;
    const struct server_config *conf;
    struct compliance_dnc *store;
    struct compliance_dnc_loader *loader;
    struct compliance_dnc_sync *sync;
    struct db_conn *db; /* own connection: list reads (pinned by the loader) */
    struct mpsc_mailbox mb;
    bool mb_ready;
    ev_timer tick;      /* every second: retries; the age alarm every dnc.alarm-interval */
    ev_tstamp last_age; /* when the age was last evaluated */
    /* The load FIFO (main loop). */
    struct compliance_dnc_list_info *q;
    size_t qhead, qlen, qcap;
    bool loading;      /* a list's load is in flight */
    bool listing;      /* the "list all" query is in flight */
    bool list_again;   /* a full reload was asked while listing */
    bool list_failed;  /* the list query failed: the tick retries */
    bool initial_done; /* the first full load finished (main loop copy of loaded) */
    uint64_t loaded_lists;
    int last_alarm; /* enum compliance_list_age_state last logged; -1 none */
    /* Read by other threads. */
    atomic_int loaded;  /* release: the first full load finished */
    atomic_int pending; /* lists queued or loading (relaxed: a status figure) */
    atomic_int db_up;   /* relaxed: a status flag */
    struct nfile nf;    /* dnc.national-file */
};

static const char *const scope_names[] = { "national", "tenant", "campaign" };

static const char *age_name(enum compliance_list_age_state s)
{
    switch (s) {
    case COMPLIANCE_LIST_FRESH:
        return "fresh";
    case COMPLIANCE_LIST_WARNING:
        return "warning";
    case COMPLIANCE_LIST_STALE:
        return "stale";
    default:
        return "missing";
    }
}

/* ------------------------------------------------------------ the load FIFO */

static void pump(struct dnc_wire *w);
static void list_all(struct dnc_wire *w);
static void nfile_loaded(struct dnc_wire *w, const struct compliance_dnc_list_info *info,
                         int status, uint64_t entries,
                         const struct compliance_dnc_parse_error *err);

static int enqueue(struct dnc_wire *w, const struct compliance_dnc_list_info *info)
{
    for (size_t i = 0; i < w->qlen; i++) {
        const struct compliance_dnc_list_info *x = &w->q[(w->qhead + i) % w->qcap];
        if (x->scope == info->scope && x->tenant_id == info->tenant_id &&
            x->campaign_id == info->campaign_id && x->list_id == info->list_id) {
            return 0; /* already queued: one load serves both requests */
        }
    }
    if (w->qlen == w->qcap) {
        size_t ncap = w->qcap ? w->qcap * 2 : 16;
        struct compliance_dnc_list_info *n = malloc(ncap * sizeof(*n));
        if (n == NULL) {
            return ERR_NOMEM;
        }
        for (size_t i = 0; i < w->qlen; i++) {
            n[i] = w->q[(w->qhead + i) % w->qcap];
        }
        free(w->q);
        w->q = n;
        w->qcap = ncap;
        w->qhead = 0;
    }
    w->q[(w->qhead + w->qlen) % w->qcap] = *info;
    w->qlen++;
    atomic_fetch_add_explicit(&w->pending, 1, memory_order_relaxed);
    return 0;
}

static void first_load_finished(struct dnc_wire *w)
{
    if (w->initial_done || w->listing || w->loading || w->qlen > 0) {
        return;
    }
    w->initial_done = true;
    /* release: pairs with the acquire in dnc_wire_loaded() (the store is already thread-safe;
     * this orders the "loaded" answer after the publishes above) */
    atomic_store_explicit(&w->loaded, 1, memory_order_release);
    LOG_NOTICE(SERVER, "event=dnc_loaded lists=%" PRIu64, w->loaded_lists);
}

static void loaded_cb(const struct compliance_dnc_list_info *info, int status, uint64_t entries,
                      const struct compliance_dnc_parse_error *err, void *arg)
{
    struct dnc_wire *w = arg;
    if (info->scope == COMPLIANCE_DNC_NATIONAL && info->list_id == DNC_WIRE_FILE_LIST_ID) {
        nfile_loaded(w, info, status, entries, err);
        return;
    }
    w->loading = false;
    atomic_fetch_sub_explicit(&w->pending, 1, memory_order_relaxed);
    if (status == 0) {
        w->loaded_lists++;
        LOG_INFO(SERVER,
                 "event=dnc_list_loaded scope=%s tenant=%" PRId64 " list=%" PRId64
                 " entries=%" PRIu64,
                 scope_names[info->scope], info->tenant_id, info->list_id, entries);
    } else if (status == ERR_NOTFOUND && info->list_id != 0) {
        /* The row is gone: the list was deleted (here or on another node). */
        (void)compliance_dnc_drop(w->store, info);
        LOG_INFO(SERVER, "event=dnc_list_dropped scope=%s tenant=%" PRId64 " list=%" PRId64,
                 scope_names[info->scope], info->tenant_id, info->list_id);
    } else {
        LOG_WARN(SERVER,
                 "event=dnc_list_load_failed scope=%s tenant=%" PRId64 " list=%" PRId64
                 " err=%s line=%" PRIu64 " msg=\"%s\"",
                 scope_names[info->scope], info->tenant_id, info->list_id, err_name(status),
                 err != NULL ? err->line : 0, err != NULL ? err->message : "");
        if (status == ERR_DISCONNECTED || status == ERR_TIMEOUT) {
            (void)enqueue(w, info); /* the timer retries once the database is back */
            return;
        }
    }
    if (w->list_again) {
        list_all(w); /* a full reload was asked while this list loaded */
    } else {
        pump(w);
    }
    first_load_finished(w);
}

/* Starts the next queued load when nothing is in flight. */
static void pump(struct dnc_wire *w)
{
    if (w->loading || w->listing || w->qlen == 0 || !db_conn_is_up(w->db)) {
        return;
    }
    struct compliance_dnc_list_info info = w->q[w->qhead];
    int rc = compliance_dnc_load_db(w->loader, w->db, &info);
    if (rc != 0) {
        LOG_DEBUG(SERVER, "event=dnc_load_deferred err=%s", err_name(rc));
        return; /* the tick retries */
    }
    w->qhead = (w->qhead + 1) % w->qcap;
    w->qlen--;
    w->loading = true;
}

/* ------------------------------------------------------------- list all */

static void on_lists(int status, PGresult *res, void *arg)
{
    struct dnc_wire *w = arg;
    if (status != 0 || res == NULL || PQnfields(res) != 4) {
        LOG_WARN(SERVER, "event=dnc_list_query_failed err=%s", err_name(status ? status : ERR_DB));
        w->list_failed = true; /* on_lists_end clears listing; the tick asks again */
        return;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        struct compliance_dnc_list_info info;
        memset(&info, 0, sizeof(info));
        const char *sc = PQgetvalue(res, i, 0);
        info.scope = strcmp(sc, "national") == 0 ? COMPLIANCE_DNC_NATIONAL
                     : strcmp(sc, "tenant") == 0 ? COMPLIANCE_DNC_TENANT
                                                 : COMPLIANCE_DNC_CAMPAIGN;
        info.tenant_id = strtoll(PQgetvalue(res, i, 1), NULL, 10);
        info.campaign_id = strtoll(PQgetvalue(res, i, 2), NULL, 10);
        info.list_id = strtoll(PQgetvalue(res, i, 3), NULL, 10);
        if (enqueue(w, &info) != 0) {
            LOG_ERR(SERVER, "event=dnc_list_queue_full err=ERR_NOMEM");
            break;
        }
    }
}

static void on_lists_end(int status, PGresult *res, void *arg)
{
    struct dnc_wire *w = arg;
    (void)res;
    if (status == ERR_CANCELED) {
        return;
    }
    w->listing = false;
    if (status != 0 || w->list_failed) {
        w->list_failed = false;
        w->list_again = true; /* the tick retries */
        return;
    }
    if (w->list_again) {
        w->list_again = false;
        list_all(w);
        return;
    }
    pump(w);
    first_load_finished(w);
}

/* Every list of every owner (platform role: RLS is forced on both tables). */
static void list_all(struct dnc_wire *w)
{
    static const struct db_query begin = { .sql = "BEGIN" };
    static const struct db_query role = { .sql = "SET LOCAL ROLE dialer_platform" };
    static const char sql[] =
        "SELECT scope, coalesce(tenant_id, 0), coalesce(campaign_id, 0), id FROM dnc_lists "
        "UNION SELECT DISTINCT scope, coalesce(tenant_id, 0), coalesce(campaign_id, 0), 0 "
        "FROM dnc_entries WHERE list_id IS NULL";
    if (w->listing) {
        w->list_again = true;
        return;
    }
    if (!db_conn_is_up(w->db) || w->loading) {
        w->list_again = true; /* after the load in flight, or when the database is back */
        return;
    }
    w->list_again = false;
    struct db_query q = { .sql = sql, .cb = on_lists, .arg = w };
    struct db_query end = { .sql = "COMMIT", .cb = on_lists_end, .arg = w };
    if (db_query_send(w->db, &begin, NULL) != 0 || db_query_send(w->db, &role, NULL) != 0 ||
        db_query_send(w->db, &q, NULL) != 0 || db_query_send(w->db, &end, NULL) != 0) {
        w->list_again = true;
        return;
    }
    w->listing = true;
}

/* ----------------------------------------------------------- sync, timer */

static void resync_cb(const struct compliance_dnc_list_info *info, void *arg)
{
    struct dnc_wire *w = arg;
    if (info == NULL) {
        list_all(w);
        return;
    }
    if (enqueue(w, info) == 0) {
        pump(w);
    }
}

static void check_age(struct dnc_wire *w)
{
    struct compliance_list_age age;
    compliance_dnc_age_alarm(w->store, w->conf->dnc_alarm_country, clock_wall_us(),
                             (int32_t)w->conf->dnc_warn_days, &age);
    if ((int)age.state == w->last_alarm || !w->initial_done) {
        return;
    }
    w->last_alarm = (int)age.state;
    if (age.state == COMPLIANCE_LIST_FRESH) {
        LOG_NOTICE(SERVER, "event=dnc_national_list country=%s state=fresh age_s=%" PRId64,
                   w->conf->dnc_alarm_country, age.age_s);
    } else {
        LOG_WARN(SERVER,
                 "event=dnc_national_list country=%s state=%s age_s=%" PRId64 " stale_at_s=%" PRId64
                 " msg=\"%s\"",
                 w->conf->dnc_alarm_country, age_name(age.state), age.age_s,
                 age.stale_at_us / 1000000,
                 age.state == COMPLIANCE_LIST_WARNING
                     ? "the national DNC list goes stale soon: load a newer registry file"
                     : "no fresh national DNC list: numbers of this country are not dialed");
    }
}

/* ------------------------------------------------------- the registry file */

/*
 * dnc.national-file: the national registry's full file, loaded by this node
 * on the dnc-build worker into a list of its own (scope national, list id
 * DNC_WIRE_FILE_LIST_ID, which no dnc_lists row has, so the database loads
 * and the Redis sync never touch it). Every dnc.national-file-check the
 * file's modification time and size are compared with the last ones; a
 * change starts a load. A load that fails (unreadable file, a malformed line)
 * leaves the previous list in place; the error and its line are logged and
 * shown in /readyz. The list's date is the file's modification time (the
 * download), so restarting with an old file does not make the list fresh.
 */

static int64_t stat_mtime_ns(const struct stat *st)
{
    return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

static void nfile_info(const struct dnc_wire *w, int64_t mtime_ns,
                       struct compliance_dnc_list_info *info)
{
    memset(info, 0, sizeof(*info));
    info->scope = COMPLIANCE_DNC_NATIONAL;
    info->list_id = DNC_WIRE_FILE_LIST_ID;
    snprintf(info->name, sizeof(info->name), "national registry file");
    snprintf(info->country, sizeof(info->country), "%s", w->conf->dnc_alarm_country);
    info->list_date_us = mtime_ns / 1000;
    info->max_age_days = (int32_t)w->conf->dnc_national_file_max_age_days;
}

static void nfile_set_failed(struct dnc_wire *w, const char *state, uint64_t line, const char *msg)
{
    pthread_mutex_lock(&w->nf.mu);
    w->nf.st.state = state;
    w->nf.st.failed_us = clock_wall_us();
    w->nf.st.error_line = line;
    snprintf(w->nf.st.error, sizeof(w->nf.st.error), "%s", msg);
    pthread_mutex_unlock(&w->nf.mu);
}

/* Compares the file with the last look; starts a load when it changed. Main loop. */
static void nfile_check(struct dnc_wire *w)
{
    struct nfile *nf = &w->nf;
    struct stat st;
    if (!nf->on) {
        return;
    }
    /* one stat() of a local file per check: no read on the loop */
    if (stat(w->conf->dnc_national_file, &st) != 0) {
        if (nf->seen_size != -1) {
            LOG_WARN(SERVER, "event=dnc_national_file_missing path=\"%s\" msg=\"%s\"",
                     w->conf->dnc_national_file, "cannot stat the national registry file");
            nfile_set_failed(w, "missing", 0, "cannot stat the file");
        }
        nf->seen_size = -1;
        nf->seen_mtime_ns = -1;
        return;
    }
    int64_t mt = stat_mtime_ns(&st), sz = (int64_t)st.st_size;
    if (mt == nf->seen_mtime_ns && sz == nf->seen_size) {
        return;
    }
    nf->seen_mtime_ns = mt;
    nf->seen_size = sz;
    if (nf->loading) {
        nf->again = true; /* after the load in flight */
        return;
    }
    struct compliance_dnc_list_info info;
    nfile_info(w, mt, &info);
    int rc = compliance_dnc_load_file(w->loader, &info, w->conf->dnc_national_file, nf->fmt);
    if (rc != 0) {
        nf->seen_size = -2; /* the next check tries again */
        return;
    }
    nf->loading = true;
    nf->want_mtime_ns = mt;
    nf->want_size = sz;
    pthread_mutex_lock(&nf->mu);
    if (nf->st.state == NULL || strcmp(nf->st.state, "loaded") != 0) {
        nf->st.state = "loading";
    }
    pthread_mutex_unlock(&nf->mu);
    LOG_NOTICE(SERVER, "event=dnc_national_file_loading path=\"%s\" bytes=%" PRId64,
               w->conf->dnc_national_file, sz);
}

static void nfile_loaded(struct dnc_wire *w, const struct compliance_dnc_list_info *info,
                         int status, uint64_t entries, const struct compliance_dnc_parse_error *err)
{
    struct nfile *nf = &w->nf;
    nf->loading = false;
    if (status == 0) {
        struct compliance_dnc_list_stats ls = { 0 };
        (void)compliance_dnc_list_stats(w->store, info, &ls);
        pthread_mutex_lock(&nf->mu);
        nf->st.state = "loaded";
        nf->st.numbers = ls.numbers;
        nf->st.bytes = ls.bytes;
        nf->st.list_date_us = info->list_date_us;
        nf->st.loaded_us = clock_wall_us();
        nf->st.error_line = 0;
        nf->st.error[0] = '\0';
        pthread_mutex_unlock(&nf->mu);
        LOG_NOTICE(SERVER,
                   "event=dnc_national_file_loaded path=\"%s\" lines=%" PRIu64 " numbers=%" PRIu64
                   " bytes=%" PRIu64,
                   w->conf->dnc_national_file, entries, ls.numbers, ls.bytes);
        check_age(w);
    } else {
        /* the previous list stays; the message names the line and field, never the number */
        char msg[128];
        snprintf(msg, sizeof(msg), "%s%s%.100s", err_name(status),
                 err != NULL && err->message[0] ? ": " : "", err != NULL ? err->message : "");
        nfile_set_failed(w, "failed", err != NULL ? err->line : 0, msg);
        LOG_WARN(SERVER,
                 "event=dnc_national_file_failed path=\"%s\" line=%" PRIu64
                 " msg=\"%s\" kept=\"the previous list\"",
                 w->conf->dnc_national_file, err != NULL ? err->line : 0, msg);
    }
    if (nf->again) {
        nf->again = false;
        nf->seen_size = -2; /* compare afresh: loads the newer file */
        nfile_check(w);
    }
}

static json_t *nfile_status_json(struct dnc_wire *w)
{
    struct nfile *nf = &w->nf;
    if (!nf->on) {
        return NULL;
    }
    pthread_mutex_lock(&nf->mu);
    struct nfile_status st = nf->st;
    pthread_mutex_unlock(&nf->mu);
    json_t *o = json_pack("{s:s, s:s}", "path", w->conf->dnc_national_file, "state",
                          st.state != NULL ? st.state : "loading");
    if (o == NULL) {
        return NULL;
    }
    if (st.loaded_us > 0) {
        json_object_set_new(o, "numbers", json_integer((json_int_t)st.numbers));
        json_object_set_new(o, "bytes", json_integer((json_int_t)st.bytes));
        json_object_set_new(o, "list_date_s", json_integer(st.list_date_us / 1000000));
        json_object_set_new(o, "loaded_at_s", json_integer(st.loaded_us / 1000000));
    }
    if (st.error[0] != '\0') {
        json_object_set_new(o, "error",
                            json_pack("{s:s, s:I, s:I}", "message", st.error, "line",
                                      (json_int_t)st.error_line, "at_s",
                                      (json_int_t)(st.failed_us / 1000000)));
    }
    return o;
}

int dnc_wire_file_info(struct dnc_wire *w, struct api_dnc_file *out)
{
    memset(out, 0, sizeof(*out));
    if (w == NULL || !w->nf.on) {
        return ERR_NOTFOUND;
    }
    pthread_mutex_lock(&w->nf.mu);
    struct nfile_status st = w->nf.st;
    pthread_mutex_unlock(&w->nf.mu);
    out->path = w->conf->dnc_national_file;
    out->state = st.state != NULL ? st.state : "loading";
    snprintf(out->country, sizeof(out->country), "%s", w->conf->dnc_alarm_country);
    out->numbers = (int64_t)st.numbers;
    out->list_date_us = st.list_date_us;
    out->loaded_us = st.loaded_us;
    out->max_age_days = (int32_t)w->conf->dnc_national_file_max_age_days;
    out->warn_days = (int32_t)w->conf->dnc_warn_days;
    out->error_line = st.error_line;
    snprintf(out->error, sizeof(out->error), "%s", st.error);
    return 0;
}

static void tick_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct dnc_wire *w = t->data;
    (void)revents;
    if (w->list_again) {
        list_all(w);
    }
    pump(w);
    if (ev_now(loop) - w->last_age >= (double)w->conf->dnc_alarm_interval_ms / 1000.0 ||
        (w->initial_done && w->last_alarm < 0)) {
        w->last_age = ev_now(loop);
        check_age(w);
    }
    if (w->nf.on &&
        ev_now(loop) - w->nf.last_check >= (double)w->conf->dnc_national_file_check_ms / 1000.0) {
        w->nf.last_check = ev_now(loop);
        nfile_check(w);
    }
}

static void dnc_db_state(int up, void *arg)
{
    struct dnc_wire *w = arg;
    atomic_store_explicit(&w->db_up, up ? 1 : 0, memory_order_relaxed);
    if (up && !w->initial_done && !w->listing) {
        list_all(w);
    } else if (up) {
        pump(w);
    }
}

static void mailbox_cb(struct mpsc_mailbox *mb, struct mpsc_node *n, void *arg)
{
    struct dnc_wire *w = arg;
    struct wire_msg *m = CONTAINER_OF(n, struct wire_msg, node);
    (void)mb;
    if (m->kind == MSG_CHANGE) {
        /* Applied locally already; applying again is harmless (the overlay keeps one change
         * per entry) and publishes it to the other nodes. */
        (void)compliance_dnc_sync_apply(w->sync, &m->info, m->add, m->entry);
    } else if (compliance_dnc_sync_reload(w->sync, &m->info) != 0) {
        resync_cb(&m->info, w); /* the publish failed: at least this node reloads */
    }
    free(m);
}

/* ------------------------------------------------------------- lifecycle */

int start_dnc(const struct dnc_wire_deps *deps, struct dnc_wire **out)
{
    const struct server_config *c = deps->conf;
    struct dnc_wire *w = calloc(1, sizeof(*w));
    struct db_opts dbo = {
        .name = "dnc",
        .backoff_min_ms = c->db_reconnect_min_ms,
        .backoff_max_ms = c->db_reconnect_max_ms,
        .query_timeout_ms = c->db_query_timeout_ms,
        .state_cb = dnc_db_state,
    };
    struct kv_options sub = {
        .host = c->redis_host,
        .port = (int)c->redis_port,
        .unix_path = c->redis_socket[0] != '\0' ? c->redis_socket : NULL,
        .password = c->redis_password[0] != '\0' ? c->redis_password : NULL,
        .name = "dnc-sub",
    };
    int rc;

    *out = NULL;
    if (w == NULL) {
        return ERR_NOMEM;
    }
    w->loop = deps->loop;
    w->conf = c;
    w->last_alarm = -1;
    pthread_mutex_init(&w->nf.mu, NULL);
    w->nf.seen_size = -2;
    if (c->dnc_national_file != NULL && c->dnc_national_file[0] != '\0') {
        const char *f = c->dnc_national_file_format;
        w->nf.on = true;
        w->nf.fmt = strcmp(f, "registry") == 0 ? COMPLIANCE_DNC_FMT_REGISTRY
                    : strcmp(f, "plain") == 0  ? COMPLIANCE_DNC_FMT_PLAIN
                    : strcmp(f, "auto") == 0   ? COMPLIANCE_DNC_FMT_AUTO
                    : strcmp(f, "xml") == 0    ? COMPLIANCE_DNC_FMT_XML
                                               : (enum compliance_dnc_format) - 1;
        if ((int)w->nf.fmt < 0) {
            LOG_ERR(SERVER, "event=config_invalid key=dnc.national-file-format msg=\"%s\"",
                    "registry, plain, xml or auto");
            dnc_wire_free(w);
            return ERR_INVAL;
        }
    }
    dbo.state_arg = w;
    rc = compliance_dnc_create(&w->store);
    if (rc == 0) {
        rc = compliance_dnc_loader_create(w->loop, w->store, loaded_cb, w, &w->loader);
    }
    if (rc == 0) {
        rc = compliance_dnc_sync_create(w->loop, w->store, deps->kv, &sub, c->dnc_channel,
                                        c->node_id, resync_cb, w, &w->sync);
    }
    if (rc == 0) {
        mpsc_mailbox_init(&w->mb, w->loop, mailbox_cb, w);
        w->mb_ready = true;
        rc = db_conn_create(w->loop, c->db_conninfo, &dbo, &w->db);
    }
    if (rc != 0) {
        LOG_ERR(SERVER, "event=dnc_init_failed err=\"%s\"", err_str(rc));
        stop_dnc(w);
        dnc_wire_free(w);
        return rc;
    }
    ev_timer_init(&w->tick, tick_cb, 1.0, 1.0);
    w->tick.data = w;
    ev_timer_start(w->loop, &w->tick);
    ev_unref(w->loop); /* the timer alone does not keep the loop running */
    w->nf.last_check = ev_now(w->loop);
    nfile_check(w); /* the file needs no database: its load starts now */
    *out = w;
    return 0;
}

void stop_dnc(struct dnc_wire *w)
{
    if (w == NULL) {
        return;
    }
    if (ev_is_active(&w->tick)) {
        ev_ref(w->loop);
        ev_timer_stop(w->loop, &w->tick);
    }
    compliance_dnc_sync_destroy(w->sync);
    w->sync = NULL;
    /* The connection first: a read in flight completes (canceled) into the loader's mailbox,
     * which the loader then frees. */
    db_conn_destroy(w->db);
    w->db = NULL;
    compliance_dnc_loader_destroy(w->loader);
    w->loader = NULL;
    if (w->mb_ready) {
        struct mpsc_node *n = mpsc_take_all(&w->mb.queue);
        while (n != NULL) {
            struct mpsc_node *next = n->next;
            free(CONTAINER_OF(n, struct wire_msg, node));
            n = next;
        }
        mpsc_mailbox_fini(&w->mb);
        w->mb_ready = false;
    }
}

void dnc_wire_free(struct dnc_wire *w)
{
    if (w == NULL) {
        return;
    }
    compliance_dnc_destroy(w->store);
    pthread_mutex_destroy(&w->nf.mu);
    free(w->q);
    free(w);
}

struct compliance_dnc *dnc_wire_store(struct dnc_wire *w)
{
    return w != NULL ? w->store : NULL;
}

int dnc_wire_loaded(const struct dnc_wire *w)
{
    return w != NULL &&
           atomic_load_explicit(&((struct dnc_wire *)w)->loaded, memory_order_acquire) != 0;
}

/* ------------------------------------------------------- other threads */

static int post(struct dnc_wire *w, enum msg_kind kind, const struct compliance_dnc_list_info *info,
                int add, const char *entry)
{
    struct wire_msg *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        return ERR_NOMEM;
    }
    m->kind = kind;
    m->info = *info;
    m->add = add;
    if (entry != NULL) {
        snprintf(m->entry, sizeof(m->entry), "%s", entry);
    }
    mpsc_mailbox_send(&w->mb, &m->node);
    return 0;
}

int dnc_wire_change(struct dnc_wire *w, const struct compliance_dnc_list_info *info, int add,
                    const char *entry)
{
    if (w == NULL || info == NULL || entry == NULL || strlen(entry) >= 24) {
        return ERR_INVAL;
    }
    int rc = compliance_dnc_apply(w->store, info, add, entry, NULL);
    if (rc != 0) {
        return rc;
    }
    return post(w, MSG_CHANGE, info, add, entry);
}

int dnc_wire_reload(struct dnc_wire *w, const struct compliance_dnc_list_info *info)
{
    if (w == NULL || info == NULL) {
        return ERR_INVAL;
    }
    return post(w, MSG_RELOAD, info, 0, NULL);
}

int dnc_wire_importer_check(const char *e164, int64_t tenant_id, int64_t list_id, void *arg)
{
    struct dnc_wire *w = arg;
    struct compliance_place place;
    (void)list_id;
    if (!dnc_wire_loaded(w)) {
        return ERR_AGAIN;
    }
    if (compliance_locate(e164, &place) != 0) {
        place.country[0] = '\0';
    }
    /* Campaign lists do not apply to a contact list (it has no campaign yet). */
    int rc = compliance_dnc_check(w->store, e164, place.country, tenant_id, 0, NULL);
    return rc;
}

json_t *dnc_wire_status_json(struct dnc_wire *w)
{
    struct compliance_list_age age;
    if (w == NULL) {
        return json_pack("{s:s}", "status", "disabled");
    }
    compliance_dnc_national_age(w->store, w->conf->dnc_alarm_country, clock_wall_us(),
                                (int32_t)w->conf->dnc_warn_days, &age);
    json_t *nat = json_pack("{s:s, s:s}", "country", w->conf->dnc_alarm_country, "state",
                            age_name(age.state));
    if (nat != NULL && age.age_s >= 0) {
        json_object_set_new(nat, "age_s", json_integer(age.age_s));
    }
    if (nat != NULL && age.stale_at_us > 0) {
        json_object_set_new(nat, "stale_at_s", json_integer(age.stale_at_us / 1000000));
    }
    return json_pack("{s:s, s:i, s:o*, s:o*}", "status", dnc_wire_loaded(w) ? "loaded" : "loading",
                     "lists_pending", atomic_load_explicit(&w->pending, memory_order_relaxed),
                     "national", nat, "national_file", nfile_status_json(w));
}
