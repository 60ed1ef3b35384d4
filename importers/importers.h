/* SPDX-License-Identifier: MIT */
/*
 * importers: contact lists into PostgreSQL, from CSV uploads (plain or
 * multipart/form-data, streamed) and from JSON batches.
 *
 * DESIGN
 *
 * An import is a struct importer_job. The REST route creates it when the
 * request head arrives (importer_job_start), hands it the body pieces as
 * they arrive (importer_job_feed, any thread, copies the bytes), and says
 * when the body is complete (importer_job_finish) or broken
 * (importer_job_cancel). Everything else runs on the job's worker thread,
 * which has its own libev loop and its own PostgreSQL session (core/db):
 *
 *   body pieces -> multipart framing (when the upload is a form) ->
 *   encoding (UTF-8 with or without BOM; Windows-1252/Latin-1 converted when
 *   the bytes say so; UTF-16 and binary refused) -> delimiter detection
 *   (comma, semicolon, tab) -> libcsv -> header mapping (synonyms or an
 *   explicit mapping; other columns become custom fields) -> per row: E.164
 *   normalisation (NANP rules, allowed countries), state and time zones
 *   (compliance_locate; the file's own state/zone columns win), DNC lookup
 *   (a callback) -> COPY into a temporary staging table -> at the end one
 *   statement merges the staging table into contacts (deduplicated within
 *   the upload and against the list) and writes import_rejects -> the job
 *   row is completed, all in one transaction.
 *
 * Atomicity: the staging table, the merge, the rejects and the job's final
 * state commit together, so a failed, cancelled or interrupted upload leaves
 * no contacts behind, and a retry starts over. Idempotency: the client's
 * upload id is unique per list (import_jobs.upload_id); a retry of a
 * completed upload reads and discards the body and reports the first
 * import's result (importer_result.replayed); a retry while the first is
 * still running fails with ERR_BUSY. Even so the merge cannot create a
 * duplicate contact (ON CONFLICT DO NOTHING on the list's unique number).
 *
 * Memory: bounded whatever the file size. The body queue is bounded by
 * importer_config.window_bytes (importer_job_feed says ERR_AGAIN above it;
 * the resume callback says when to feed again), COPY by core/db's high-water
 * mark (parsing stops while COPY is behind), a row by max_row_bytes. Dedupe
 * happens in PostgreSQL, not in a hash set in memory.
 *
 * Threads: importer_create/destroy on any one thread; importer_job_* from
 * any thread (the feeder is usually the httpd thread). The progress, resume
 * and done callbacks run on the job's worker thread: post to your own loop
 * from there (httpd_post). The DNC callback runs on the worker thread too.
 *
 * Logging: category "import"; numbers only through LOG_NUM. Rejected rows
 * keep their original values in import_rejects (tenant data under RLS, like
 * contacts.number): the user needs them to correct and upload again.
 */
#ifndef IMPORTERS_IMPORTERS_H
#define IMPORTERS_IMPORTERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct importer;
struct importer_job;

/* ------------------------------------------------------------------------ */
/* Reasons a row is rejected (import_rejects.reason)                          */

/* clang-format off */
#define IMPORTER_REASON_MAP(X)                                                  \
    X(NONE,            "none")                                                  \
    X(MISSING_NUMBER,  "missing_number")      /* the phone cell is empty */     \
    X(INVALID_NUMBER,  "invalid_number")      /* not a dialable number */       \
    X(SCIENTIFIC,      "scientific_notation") /* 4.15555E+09: digits lost */    \
    X(FICTIONAL,       "fictional_number")    /* 555-01XX */                    \
    X(COUNTRY,         "country_not_allowed") /* outside the list's countries */\
    X(DUPLICATE,       "duplicate")           /* in this upload or the list */  \
    X(DNC,             "dnc")                 /* on a do-not-call list */       \
    X(INVALID_FIELD,   "invalid_field")       /* state, zone, alt number... */  \
    X(DNC_UNAVAILABLE, "dnc_unavailable")     /* the DNC lookup failed */

/* clang-format on */

enum importer_reason {

#define IMPORTER_REASON_ENUM_(id, name) IMPORTER_REASON_##id,
    IMPORTER_REASON_MAP(IMPORTER_REASON_ENUM_)
#undef IMPORTER_REASON_ENUM_
        IMPORTER_REASON_COUNT
};

/* The code stored in import_rejects.reason ("invalid_number"). Static. */
const char *importer_reason_name(enum importer_reason r);

/* ------------------------------------------------------------------------ */
/* E.164 normalisation (pure; any thread)                                    */

#define IMPORTER_E164_MAX 16 /* "+" and 15 digits */
#define IMPORTER_EXT_MAX  16 /* contacts.extension: [0-9*#]{1,16} */

struct importer_e164_opts {
    const char *const *allowed_countries; /* ISO alpha-2; borrowed; NULL/0: any */
    size_t nallowed;
    bool allow_fictional; /* accept NANP 555-0100..555-0199 */
};

struct importer_number {
    char e164[IMPORTER_E164_MAX + 1]; /* "+14155552671" */
    char ext[IMPORTER_EXT_MAX + 1];   /* "12", or "" */
    char country[3];                  /* "US", or "" when no table knows it */
};

/*
 * Normalises a number as people write it: "(415) 555-2671", "415.555.2671
 * x12", "+1 415 555 2671", "1-415-555-2671", "4155552671.0" (a spreadsheet
 * float), "+44 20 7946 0958", "011 44 20 7946 0958", "00 44 ...". Numbers
 * without a country prefix are NANP. NANP rules: 10 digits, NPA and NXX
 * start 2-9 and are not N11, the area code is in service (compliance
 * tables), 555-01XX only with allow_fictional. The extension ("x12", "ext.
 * 12", "#12", ";ext=12") is split off into out->ext.
 *
 * Returns IMPORTER_REASON_NONE and fills *out, or the reason and (when
 * detail is not NULL) a static or dsz-bounded message in detail that names
 * what is wrong without repeating the number. in is borrowed, len bytes.
 */
enum importer_reason importer_e164_normalize(const char *in, size_t len,
                                             const struct importer_e164_opts *o,
                                             struct importer_number *out, char *detail, size_t dsz);

/* ------------------------------------------------------------------------ */
/* The service                                                               */

/*
 * A DNC lookup: returns 1 when e164 is on a do-not-call list that applies to
 * the list's tenant, 0 when not, a negative code when the lookup failed (the
 * row is then rejected as dnc_unavailable: an import never lets a number
 * through unchecked). Runs on a worker thread; must be thread-safe.
 */
typedef int importer_dnc_cb(const char *e164, int64_t tenant_id, int64_t list_id, void *arg);

/*
 * Every job's progress, for the live progress bar (dialerd sends it to the
 * tenant's WebSocket subscribers): at most every progress_ms, at each state
 * change and once at the end with the final counters (state completed,
 * failed or cancelled). job_id is the import_jobs id ("" before the job row
 * exists), upload_id the client's. Runs on the job's worker thread; strings
 * are borrowed for the call.
 */
struct importer_progress;

struct importer_watch {
    int64_t tenant_id;
    int64_t list_id;
    const char *job_id;
    const char *upload_id;
};

typedef void importer_watch_cb(const struct importer_watch *w, const struct importer_progress *p,
                               void *arg);

struct importer_config {
    const char *conninfo;     /* libpq conninfo of a role with dialer_app rights; copied */
    int max_jobs;             /* concurrent jobs (one worker thread each) [4] */
    size_t window_bytes;      /* body bytes queued per job before ERR_AGAIN [4 MiB] */
    size_t max_row_bytes;     /* a longer row fails the file [1 MiB] */
    size_t copy_high_water;   /* COPY buffer above which parsing waits [1 MiB] */
    int64_t progress_ms;      /* minimum interval between progress events [250] */
    const char *worker_name;  /* import_jobs.worker, e.g. the node name; copied ["dialerd"] */
    importer_dnc_cb *dnc;     /* optional; without it no DNC scrub happens */
    void *dnc_arg;            /* borrowed */
    importer_watch_cb *watch; /* optional: every job's progress (see importer_watch) */
    void *watch_arg;          /* borrowed */
};

/*
 * Creates the service. Returns 0 and sets *out (new: importer_destroy), or
 * ERR_INVAL (no conninfo) / ERR_NOMEM.
 */
int importer_create(const struct importer_config *cfg, struct importer **out);

/*
 * Cancels every running job, waits for their worker threads and frees the
 * service. Jobs the caller still holds stay valid until released; their
 * done callback has run (ERR_SHUTDOWN or ERR_CANCELED). NULL is ignored.
 */
void importer_destroy(struct importer *imp);

/* ------------------------------------------------------------------------ */
/* Jobs                                                                       */

enum importer_state {
    IMPORTER_PENDING = 0, /* created, not yet claimed in the database */
    IMPORTER_RUNNING,
    IMPORTER_COMPLETED,
    IMPORTER_FAILED,
    IMPORTER_CANCELLED,
};

/* "pending", "running", "completed", "failed", "cancelled" (import_jobs.state). */
const char *importer_state_name(enum importer_state s);

struct importer_progress {
    enum importer_state state;
    uint64_t bytes_read;    /* body bytes the parser consumed */
    int64_t bytes_total;    /* Content-Length, or -1 when unknown */
    uint64_t rows_read;     /* data rows seen */
    uint64_t rows_accepted; /* rows that passed the per-row checks (final: merged) */
    uint64_t rows_rejected;
    uint64_t rejected_by_reason[IMPORTER_REASON_COUNT];
    int percent; /* of bytes_total, -1 when unknown; 100 only when completed */
    /*
     * Rows the upload holds: exact (rows_total_exact) for a JSON batch and
     * once the whole body is read; before that, for a body of known size,
     * the estimate rows_read * bytes_total / bytes_read (at least rows_read);
     * -1 when unknown (no Content-Length, nothing read yet).
     */
    int64_t rows_total;
    bool rows_total_exact;
};

struct importer_result {
    int status;      /* 0, or why the job failed (ERR_PARSE bad file, ERR_BUSY ...) */
    char job_id[37]; /* import_jobs.id (uuid), "" when never claimed */
    bool replayed;   /* the upload id had completed before: nothing new was imported */
    char error[512]; /* a message for the user when status != 0 */
    struct importer_progress progress;
};

/* Progress, at most every progress_ms and at each state change (worker thread). */
typedef void importer_progress_cb(struct importer_job *job, const struct importer_progress *p,
                                  void *arg);
/* The body queue fell below half the window: feed again (worker thread). */
typedef void importer_resume_cb(struct importer_job *job, void *arg);
/*
 * The end (worker thread), exactly once per job and the last callback of it
 * (the callbacks' arg may be freed from then on). r is borrowed for the call.
 * For a JSON batch, items (borrowed) holds one result per input item:
 * {"index": i, "status": "accepted"|"rejected", "reason": ..., "detail": ...}.
 */
typedef void importer_done_cb(struct importer_job *job, const struct importer_result *r,
                              json_t *items, void *arg);

enum importer_format {
    IMPORTER_FORMAT_CSV = 0,   /* the body is the CSV file */
    IMPORTER_FORMAT_MULTIPART, /* multipart/form-data: the first part with a filename */
};

struct importer_job_opts {
    int64_t tenant_id;
    int64_t list_id;
    const char *upload_id; /* required, 1..128 bytes; copied */
    enum importer_format format;
    const char *content_type; /* for MULTIPART: the header with boundary=; copied */
    const char *filename;     /* optional; copied */
    int64_t bytes_total;      /* Content-Length, -1 unknown */
    char delimiter;           /* 0: detect; ',', ';' or '\t' */
    bool no_header;           /* the first row is data (then mapping is by column number) */
    json_t *mapping;          /* optional {"phone": "Cell", "first_name": "Given", ...}; borrowed */
    int64_t created_by;       /* users.id, or 0 */
    importer_progress_cb *on_progress; /* optional */
    importer_resume_cb *on_resume;     /* optional (required to use ERR_AGAIN) */
    importer_done_cb *on_done;         /* optional */
    void *arg;                         /* borrowed; passed to the callbacks */
};

/*
 * Starts a CSV import job. Returns 0 and sets *out (a reference: release
 * with importer_job_release), ERR_INVAL (missing ids, bad mapping or
 * multipart content type without boundary), ERR_BUSY (max_jobs running) or
 * ERR_NOMEM. Callbacks never run before this returns.
 */
int importer_job_start(struct importer *imp, const struct importer_job_opts *o,
                       struct importer_job **out);

/*
 * Appends len body bytes (copied). Returns 0, or ERR_AGAIN: accepted, but
 * the queue is at its window; stop until on_resume. ERR_CLOSED after finish
 * or cancel, ERR_CANCELED once the job has ended (stop sending; the response
 * comes from on_done), ERR_NOMEM. Any thread, one feeder at a time.
 */
int importer_job_feed(struct importer_job *job, const void *data, size_t len);

/* The body is complete. Returns 0 or ERR_CLOSED (already finished or cancelled). */
int importer_job_finish(struct importer_job *job);

/*
 * Cancels the job (user request, client gone, truncated body): nothing is
 * imported; on_done follows with state cancelled. No-op after the end.
 */
void importer_job_cancel(struct importer_job *job);

/* Current progress (atomic snapshot of counters). Any thread. */
void importer_job_progress(const struct importer_job *job, struct importer_progress *out);

/*
 * The job's import_jobs id into out once the job row is claimed (any
 * thread): true then; false before the claim or when nothing was claimed.
 */
bool importer_job_id(const struct importer_job *job, char out[37]);

/* Drops the caller's reference. The job ends by itself (feed, finish, cancel). */
void importer_job_release(struct importer_job *job);

/*
 * Imports a JSON batch: items is an array of objects whose keys are treated
 * as column names (same mapping, normalisation, dedupe and scrub as a file),
 * at most IMPORTER_BATCH_MAX items. The batch is a job of its own with
 * upload_id from o (idempotent the same way); format, content_type and
 * bytes_total are ignored. on_done receives the per-item results. Returns as
 * importer_job_start, plus ERR_TOOBIG for too many items and ERR_INVAL when
 * items is not an array of objects (the message in err, when not NULL).
 */
#define IMPORTER_BATCH_MAX 10000
int importer_batch_start(struct importer *imp, const struct importer_job_opts *o, json_t *items,
                         char *err, size_t errsz, struct importer_job **out);

/* ------------------------------------------------------------------------ */
/* Rejects export                                                             */

/*
 * Writes one CSV cell to buf (at most bsz bytes including NUL): quoted when
 * needed, and neutralised for spreadsheets: a cell beginning with '=', '+',
 * '-', '@', TAB or CR gets a leading apostrophe. Returns the length written
 * or ERR_TOOBIG. Pure.
 */
int importer_csv_cell(const char *value, size_t len, char *buf, size_t bsz);

/*
 * Writes the rejects of job_id as CSV (header: row, reason, detail, then the
 * original columns in file order) to fd, reading import_rejects with a
 * blocking connection of its own; for a worker thread or the CLI, never a
 * loop thread. Returns 0, ERR_NOTFOUND (no such job for the tenant), ERR_DB,
 * -ENOSPC (fd's file system is full), ERR_IO.
 */
int importer_rejects_export(const char *conninfo, int64_t tenant_id, const char *job_id, int fd);

#endif
