/* SPDX-License-Identifier: MIT */
/*
 * dialer internals shared by dialer.c (calls) and cdr.c (call_logs batches).
 */
#ifndef DIALER_DIALER_INT_H
#define DIALER_DIALER_INT_H

#include <ev.h>

#include "dialer/dialer.h"

#define DIALER_CDR_BATCH_MAX 1000
#define DIALER_CDR_COLS      19

/* One call_logs row, values already in text form for the INSERT. */
struct dialer_cdr {
    char attempt_id[DIALER_ID_MAX];
    int64_t tenant_id;
    int64_t campaign_id;
    char number[DIALER_E164_MAX];
    char caller_id[DIALER_E164_MAX];
    int64_t started_us, answered_us, human_us, ended_us;
    int64_t connected_us, safe_harbour_us; /* 0: never */
    int ring_timeout_s;
    int64_t ring_ms, talk_ms, total_ms;
    char outcome[16];
    char disposition[64];
    int hangup_cause; /* -1: NULL */
    char amd[12];     /* "" : NULL */
    bool live;
    bool abandoned;
};

struct dialer_cdr_tx;

/*
 * Launch admission per ARI server (D2 in docs/RELIABILITY.md): an UP server
 * takes calls; a DOWN one none; a DEGRADED one (a burst of 5xx/transport
 * failures) takes one probe at a time, spaced by a back-off that doubles
 * from DIALER_PROBE_MIN_US to DIALER_PROBE_MAX_US while probes fail. A probe
 * is a real call: refused with 503 it costs the contact nothing (not_dialed).
 * Once a probe is accepted the server takes calls again ("cleared") until
 * the next server failure, even while the client still reports the
 * degraded window. Pure: the unit tests drive it with their own clock.
 */
#define DIALER_PROBE_MIN_US   INT64_C(250000)
#define DIALER_PROBE_MAX_US   INT64_C(5000000)
#define DIALER_PROBE_CLAIM_US INT64_C(5000000) /* a launch's unused probe claim expires */

struct dialer_probe {
    bool cleared;       /* a call was accepted since the last failure */
    bool probing;       /* a probe originate is out */
    bool claimed;       /* a launch holds the next probe (dialer_can_call) */
    int64_t claimed_us; /* when */
    int64_t next_us;    /* no probe before this */
    int64_t backoff_us; /* current spacing (0: none yet) */
};

enum dialer_admit {
    DIALER_ADMIT_NO = 0,
    DIALER_ADMIT_YES,   /* the server takes calls */
    DIALER_ADMIT_PROBE, /* this call is the probe (DEGRADED) */
};

/* launch: reserve the probe for a launch to come (dialer_can_call); else an originate. */
enum dialer_admit dialer_probe_admit(struct dialer_probe *p, enum ari_health h, int64_t now_us,
                                     bool launch);
/* An originate's answer on the server: ok (accepted), or a server failure. */
void dialer_probe_result(struct dialer_probe *p, bool probe, bool ok, int64_t now_us);

/* The originate window (dialer/window.c). */
#define DIALER_WINDOW_MIN    8
#define DIALER_WINDOW_START  64
#define DIALER_WINDOW_CUT_US INT64_C(250000)

struct dialer_window {
    double limit;        /* originates out at most (fractional between answers) */
    int max;             /* never above */
    int64_t target_us;   /* an answer later than this is congestion; <= 0: off */
    int64_t last_cut_us; /* the last decrease */
    uint64_t cuts;       /* decreases so far */
};

void dialer_window_init(struct dialer_window *w, int max, int64_t target_us);
/* An originate answered after latency_us (timed_out: no answer, or a transport error). */
void dialer_window_answer(struct dialer_window *w, int64_t latency_us, bool timed_out,
                          int in_flight, int64_t now_us);
/* The window now (max when off). */
int dialer_window_limit(const struct dialer_window *w);

/* What an originate error means for the call (dialer_originate_class). */
enum dialer_orig_class {
    DIALER_ORIG_REPEATED,    /* 409 "already exists": our own channel, the call goes on */
    DIALER_ORIG_UNREACHABLE, /* 500 Allocation failed: no channel, the number is unrequestable */
    DIALER_ORIG_FAILED,      /* a 4xx: refused, not a server fault */
    DIALER_ORIG_NOT_DIALED,  /* 503: refused before any channel existed */
    DIALER_ORIG_CHECK,       /* another 5xx: GET the channel id before deciding */
    DIALER_ORIG_UNKNOWN,     /* timeout, transport, cancel: a channel may exist (lost) */
};

enum dialer_orig_class dialer_originate_class(enum ari_error e, long http_status,
                                              const char *message);
/* A failure that counts against the server's health (5xx, timeout, transport). */
bool dialer_originate_server_fault(enum ari_error e, long http_status);

struct dialer_srv {
    struct ari_client *c;
    struct dialer_probe probe;
};

struct dialer {
    struct ev_loop *loop;
    struct ari_pool *ari;
    struct db_pool *db;
    struct dialer_hooks hooks;
    struct dialer_call **buckets;
    size_t n_calls;
    size_t n_watched;         /* adopted calls watched (dialer_adopt_watch) */
    size_t originating;       /* calls with orig_pending */
    struct dialer_window win; /* launches out at most (window.c) */
    int win_used;             /* launches out, as the caller last said (dialer_launch_window) */
    char app[64];
    char node[64];
    char amd_context[64];
    int64_t talk_ms;
    struct dialer_stats st;
    /* CDR queue */
    ev_timer cdr_timer;
    struct dialer_cdr *cdr;
    size_t cdr_n, cdr_cap, cdr_max_queue;
    int cdr_batch;
    struct dialer_cdr_tx *cdr_tx; /* the batch being written, or NULL */
    struct dialer_srv *srv;       /* one per pool server */
    size_t nsrv;
};

/*
 * Registers a call as dialer_call() does but sends nothing (no ARI server is
 * needed): unit tests replay captured event sequences through
 * dialer_on_event, the benchmark measures the state machine alone.
 */
int dialer_call_track(struct dialer *d, const struct dialer_call_req *req);

void dialer_cdr_push(struct dialer *d, const struct dialer_cdr *row);
void dialer_cdr_fini(struct dialer *d);

#endif
