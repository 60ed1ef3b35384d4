/* SPDX-License-Identifier: MIT */
/*
 * sim_int: declarations shared by the files of the sim module.
 *
 * Layout of the module:
 *   buf.c       growable byte buffer and the JSON writer used for every model
 *   map.c       string hash map and the case-insensitive ordered id index
 *   timer.c     the timer heap that drives every scheduled call event
 *   rng.c       seeded random streams and the delay distributions
 *   scenario.c  scenario file: callee populations, rules, media, inbound
 *   model.c     channels, bridges and their JSON snapshots
 *   events.c    applications, subscriptions, event publication to sockets
 *   engine.c    the call engine: originate, dial, far ends, hang-up order
 *   pbx.c       extensions.conf subset and its interpreter
 *   media.c     playbacks, recordings and answering-machine detection
 *   rest_*.c    the ARI operations
 *   http.c      libwebsockets glue: requests, responses, the events socket
 *   control.c   /_sim control endpoints, faults and statistics
 *   olog.c      the originate log
 *   apidocs.c   the swagger files and the route table built from them
 *
 * Ownership: the struct sim owns every object; objects point at each other
 * with borrowed pointers that are cleared before an object is freed.
 * Channels are never freed while a call chain may still use them: a
 * destroyed channel goes to a zombie list that sim__reap() empties at the
 * end of each top-level callback (timer dispatch, HTTP request).
 */
#ifndef SIM_SIM_INT_H
#define SIM_SIM_INT_H

#include <ev.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "sim/sim.h"

struct lws;
struct lws_context;
struct lws_vhost;

/* Copies src into dst (size len), truncating; always terminates. */
static inline void sim__strlcpy(char *dst, const char *src, size_t len)
{
    size_t n = 0;
    if (len == 0) {
        return;
    }
    while (n + 1 < len && src[n] != '\0') {
        dst[n] = src[n];
        n++;
    }
    dst[n] = '\0';
}

#define SIM_CONTAINER_OF(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* ------------------------------------------------------------------------
 * buf.c: byte buffer and JSON writer
 */
struct sim_buf {
    char *p;    /* bytes; NUL-terminated when len < cap */
    size_t len; /* bytes used */
    size_t cap; /* bytes allocated */
};

void sim__buf_init(struct sim_buf *b);
void sim__buf_fini(struct sim_buf *b);
void sim__buf_reset(struct sim_buf *b);
/* Makes room for extra more bytes; aborts on out-of-memory (a simulator). */
void sim__buf_reserve(struct sim_buf *b, size_t extra);
void sim__buf_put(struct sim_buf *b, const void *p, size_t n);
void sim__buf_puts(struct sim_buf *b, const char *s);
void sim__buf_putc(struct sim_buf *b, char c);
void sim__buf_printf(struct sim_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string (quoted, escaped); NULL writes "". */
void sim__buf_jstr(struct sim_buf *b, const char *s);
void sim__buf_jint(struct sim_buf *b, long long v);
/* Removes n bytes from the front. */
void sim__buf_consume(struct sim_buf *b, size_t n);
/* A literal, with its length computed at compile time. */
#define SIM_LIT(b, lit) sim__buf_put((b), (lit), sizeof(lit) - 1)

/* ------------------------------------------------------------------------
 * map.c: string hash map; case-insensitive ordered index for id prefixes
 */
struct sim_map_ent {
    char *key;   /* owned copy; NULL = empty; SIM_MAP_TOMB = deleted */
    void *value; /* borrowed */
};

struct sim_map {
    struct sim_map_ent *e; /* slots */
    size_t cap;            /* power of two or 0 */
    size_t n;              /* live entries */
    size_t used;           /* live + tombstones */
    int nocase;            /* keys compare case-insensitively */
};

void sim__map_init(struct sim_map *m, int nocase);
void sim__map_fini(struct sim_map *m);
void *sim__map_get(const struct sim_map *m, const char *key);
/* Inserts or replaces; the key is copied. */
void sim__map_put(struct sim_map *m, const char *key, void *value);
/* Removes key; returns its value or NULL. */
void *sim__map_del(struct sim_map *m, const char *key);
/* Iteration: i starts at 0; returns the next live entry or NULL. */
struct sim_map_ent *sim__map_next(const struct sim_map *m, size_t *i);

struct sim_idx_node;

struct sim_idx {
    struct sim_idx_node *head; /* skip list sentinel */
    int level;                 /* current top level */
    uint64_t rnd;              /* level generator state */
    size_t n;
};

void sim__idx_init(struct sim_idx *x);
void sim__idx_fini(struct sim_idx *x);
void sim__idx_add(struct sim_idx *x, const char *key);
void sim__idx_del(struct sim_idx *x, const char *key);
/* True if prefix is (case-insensitively) a prefix of some key, or equals one. */
int sim__idx_has_prefix(const struct sim_idx *x, const char *prefix);

/* ------------------------------------------------------------------------
 * timer.c
 */
struct sim;
struct sim_timer;
typedef void sim_timer_cb(struct sim *s, struct sim_timer *t);

struct sim_timer {
    int64_t due;      /* monotonic us */
    uint64_t seq;     /* tie-break: start order */
    uint32_t idx;     /* heap slot + 1; 0 = not running */
    sim_timer_cb *cb; /* called once when due */
};

struct sim_timers {
    struct sim_timer **h; /* min-heap on (due, seq) */
    uint32_t n, cap;
    uint64_t seq;
};

void sim__timer_init(struct sim_timer *t, sim_timer_cb *cb);
/* (Re)starts t to fire at monotonic time due_us. */
void sim__timer_at(struct sim *s, struct sim_timer *t, int64_t due_us);
/* (Re)starts t to fire after delay_us of simulated time (scaled). */
void sim__timer_after(struct sim *s, struct sim_timer *t, int64_t delay_us);
void sim__timer_stop(struct sim *s, struct sim_timer *t);

static inline int sim__timer_running(const struct sim_timer *t)
{
    return t->idx != 0;
}

void sim__timers_fini(struct sim_timers *ts);
/* Runs every timer due at now (including ones started meanwhile). */
void sim__timers_run(struct sim *s);
/* Re-arms the loop timer to the earliest due timer. */
void sim__timers_arm(struct sim *s);

/* ------------------------------------------------------------------------
 * rng.c
 */
struct sim_rng {
    uint64_t s[4]; /* xoshiro256** state */
};

void sim__rng_seed(struct sim_rng *r, uint64_t seed);
uint64_t sim__rng_next(struct sim_rng *r);
/* Uniform in [0, 1). */
double sim__rng_unit(struct sim_rng *r);
uint64_t sim__hash64(const char *s, uint64_t h);
uint64_t sim__mix64(uint64_t x);

enum sim_dist_kind { DIST_NONE, DIST_FIXED, DIST_UNIFORM, DIST_EXP, DIST_LOGNORMAL, DIST_NORMAL };

/* A delay distribution in seconds. */
struct sim_dist {
    enum sim_dist_kind kind;
    double a, b;     /* fixed: a; uniform: [a, b]; exp: mean a; lognormal: mu a, sigma b; normal */
    double min, max; /* clamp; max < 0 = none */
};

/* Draws seconds (>= 0). DIST_NONE gives def. */
double sim__dist_draw(const struct sim_dist *d, struct sim_rng *r, double def);
/* Parses a JSON distribution (number, {"fixed":..}, {"uniform":[a,b]}, ...). */
int sim__dist_parse(const json_t *j, struct sim_dist *d, char *err, size_t errlen);

/* ------------------------------------------------------------------------
 * scenario.c
 */
enum sim_outcome {
    OUT_ANSWER,
    OUT_BUSY,
    OUT_NOANSWER,
    OUT_CONGESTION,
    OUT_REJECTED,
    OUT_UNALLOCATED,
    OUT_FAILED,
    OUT_UNREACHABLE,
    OUT_COUNT_
};

const char *sim__outcome_name(enum sim_outcome o);

enum sim_amd_kind { AMD_MODEL, AMD_HUMAN, AMD_MACHINE, AMD_NOTSURE };

enum sim_dtmf_from { DTMF_FROM_ANSWER, DTMF_FROM_PLAYBACK };

struct sim_dtmf_step {
    enum sim_dtmf_from from; /* what "after" counts from */
    int playback;            /* for FROM_PLAYBACK: the nth playback started (1-based) */
    struct sim_dist after;   /* delay in seconds */
    char digits[32];         /* digits to send, each 100 ms long */
};

/* How a callee (or an inbound caller) behaves; part of a population. */
struct sim_spec {
    double weight;
    enum sim_outcome outcome;
    int ringing;              /* -1 default: send 180 before the final answer */
    struct sim_dist progress; /* delay to 180 Ringing */
    struct sim_dist ring;     /* originate to answer/final response */
    struct sim_dist talk;     /* answer to far-end hang-up; NONE = default */
    int talk_forever;         /* never hangs up */
    struct sim_dist giveup;   /* noanswer: far end gives up (480) after this */
    int sip;                  /* final SIP response code (0 = by outcome) */
    int cause;                /* Q.850 cause override (0 = by SIP code) */
    int hangup_cause;         /* cause of the far end's BYE, default 16 */
    enum sim_amd_kind amd;    /* AMD verdict; AMD_MODEL derives it from the greeting */
    char amd_cause[48];       /* AMDCAUSE override */
    struct sim_dist amd_delay;
    struct sim_dist greet_delay; /* answer to start of the far end's greeting */
    struct sim_dist greet_len;   /* greeting length; 0 = silent */
    struct sim_dtmf_step dtmf[8];
    int ndtmf;
    struct sim_dist abandon; /* inbound callers: hang up before answer after this */
};

struct sim_population {
    char *name;
    struct sim_spec *specs;
    int n;
    double total; /* sum of weights */
};

struct sim_rule {
    char *number_glob;    /* NULL = any */
    char *endpoint_glob;  /* NULL = any */
    int population;       /* index, or -1 */
    struct sim_spec spec; /* used when population < 0 */
};

struct sim_media {
    char *uri;      /* "sound:hello-world" */
    double seconds; /* length */
    int missing;    /* the file does not exist */
    char *formats;  /* comma list for GET /sounds ("gsm,slin" when NULL) */
};

struct sim_inbound {
    char *extension;
    char *app;
    char *context;
    char *endpoint;
    char *caller_name;
    char *caller_pattern; /* '#' is a random digit */
    double rate;          /* calls per second (Poisson); 0 = off */
    double interval;      /* fixed spacing in seconds; used when rate is 0 */
    double start;         /* seconds before the first call */
    int64_t max;          /* calls to place; -1 = unlimited */
    int population;       /* caller behaviour */
};

/* What a full recordings disk does to a record request (scenario "disk_full"). */
enum sim_disk {
    SIM_DISK_OK,
    SIM_DISK_FULL_WRITE, /* 201, RecordingStarted, RecordingFinished done, duration 0, no file */
    SIM_DISK_FULL_MKDIR, /* the recordings directory cannot be made: 500 */
};

struct sim_scenario {
    int refs;
    enum sim_disk disk_full; /* recordings disk full (off unless the scenario says) */
    char *name;
    int64_t seed;
    struct sim_dist progress;    /* default delay to 180 */
    double playback_default;     /* seconds for unknown sounds */
    double endpoint_latency;     /* not used yet; kept for the file format */
    char *endpoint_context;      /* dialplan context of PJSIP channels ("default") */
    struct sim_population *pops; /* [0] is the default */
    int npops;
    struct sim_rule *rules;
    int nrules;
    struct sim_media *media;
    int nmedia;
    struct sim_inbound *inbound;
    int ninbound;
};

/* The recordings disk as it is now: the disk_full fault, else the scenario's. */
enum sim_disk sim__disk(const struct sim *s);

/* Loads a scenario (file path or JSON text); NULL on error with a message in err. */
struct sim_scenario *sim__scenario_load_file(const char *path, char *err, size_t errlen);
struct sim_scenario *sim__scenario_load_json(const json_t *root, char *err, size_t errlen);
struct sim_scenario *sim__scenario_default(void);
void sim__scenario_ref(struct sim_scenario *sc);
void sim__scenario_unref(struct sim_scenario *sc);
/* The spec governing a call to number via endpoint, drawn with r. */
const struct sim_spec *sim__scenario_pick(const struct sim_scenario *sc, const char *number,
                                          const char *endpoint, struct sim_rng *r);
const struct sim_spec *sim__scenario_pick_pop(const struct sim_scenario *sc, int pop,
                                              struct sim_rng *r);
const struct sim_media *sim__scenario_media(const struct sim_scenario *sc, const char *uri);
int sim__glob(const char *pat, const char *s);

/* ------------------------------------------------------------------------
 * Channels, bridges, media (model.c, media.c)
 */
enum sim_cstate {
    CS_DOWN,
    CS_RSRVD,
    CS_OFFHOOK,
    CS_DIALING,
    CS_RING,
    CS_RINGING,
    CS_UP,
    CS_BUSY,
};

const char *sim__cstate_name(enum sim_cstate st);

enum sim_tech { TECH_PJSIP, TECH_LOCAL, TECH_SNOOP };

enum sim_stasis_kind {
    STASIS_NONE,
    STASIS_APP, /* put there by ARI (originate app=, create, snoop): no dialplan */
    STASIS_PBX, /* entered with Stasis() from the dialplan */
};

/* What an outbound channel does once answered. */
enum sim_after { AFTER_NOTHING, AFTER_STASIS, AFTER_PBX };

struct sim_var {
    struct sim_var *next;
    char *name;  /* arena */
    char *value; /* arena */
};

struct sim_app;
struct sim_bridge;
struct sim_playback;
struct sim_rec;
struct sim_pbx_step;

/* A pending far-end action for scenario-driven (non-Local) channels. */
enum sim_far_step {
    FAR_IDLE,
    FAR_PROGRESS, /* next: 180 Ringing */
    FAR_FINAL,    /* next: answer or failure */
    FAR_GIVEUP,   /* next: 480 after ringing (noanswer with giveup) */
    FAR_TALK,     /* answered; next: hang-up */
    FAR_ABANDON,  /* inbound caller: next: hang-up before answer */
};

struct sim_chan {
    struct sim *sim;
    struct arena arena; /* strings of this channel */
    char *id;
    char *name;
    enum sim_tech tech;
    int half;              /* Local: 1 or 2; else 0 */
    struct sim_chan *peer; /* Local: the other half while alive */
    int inbound;           /* created by the inbound generator (Ring, dialplan) */
    int outbound;          /* originated or dialed: snapshots say AppDial2 when idle */
    enum sim_cstate state;
    const char *caller_name, *caller_num;
    const char *conn_name, *conn_num;
    const char *protocol_id;
    const char *context, *exten;
    int priority;
    const char *app_name, *app_data;
    int64_t created_us; /* wall clock */
    char created[32];   /* created_us formatted once */
    struct sim_var *vars;

    /* subscriptions */
    struct sim_app *subs[4]; /* apps subscribed explicitly */
    int nsubs;
    struct sim_app *stasis_app; /* the app the channel is in, if any */
    enum sim_stasis_kind stasis;
    const char *stasis_args; /* "a,b" as given; NULL = none */

    /* outbound dial by ARI (originate, /dial) */
    int dialing; /* Dial events pending a final status */
    const char *dialstring;
    const char *dial_caller; /* id of the /dial caller (looked up when needed) */
    struct sim_timer t_timeout;
    int dial_timeout_s;   /* armed when the dial starts; 0 = none */
    int64_t ring_left_us; /* ring time left after the 180 */
    enum sim_after after;
    const char *after_app, *after_args;
    const char *after_ctx, *after_exten;
    int after_prio;

    /* far end (scenario) */
    const struct sim_spec *spec;   /* copied into plan fields below at dial time */
    struct sim_scenario *scenario; /* reference held while spec is in use */
    struct sim_rng rng;
    enum sim_far_step far;
    struct sim_timer t_far;
    int64_t answer_us;    /* monotonic time of answer, 0 = not answered */
    int64_t talk_us;      /* planned talk time; -1 forever */
    int64_t greet_at_us;  /* far-end speech start (monotonic), 0 = none */
    int64_t greet_end_us; /* far-end speech end */
    struct sim_timer t_greet;
    struct sim_timer t_dtmf; /* next scripted digit */
    int dtmf_step;
    int dtmf_digit;
    int64_t dtmf_base_us;  /* start of the current step's clock */
    int playbacks_started; /* for FROM_PLAYBACK scripts */

    /* dialplan */
    int pbx;                         /* the dialplan is running */
    const struct sim_pbx_step *step; /* current step */
    struct sim_timer t_pbx;
    int pbx_state;       /* app-specific progress (digits sent, ...) */
    const char *pbx_arg; /* app data after substitution (arena) */
    int talking;         /* playing audio towards the peer (Playback app) */
    int far_talking;     /* the audio this channel receives has voice now */
    int64_t far_talk_since;
    int64_t amd_start_us;
    int amd_words;
    int64_t amd_voice_start_us;
    int64_t amd_silence_start_us;
    int spec_amd_fixed; /* AMD verdict comes from the scenario, not the model */

    /* media */
    struct sim_playback *pb_head; /* queue; head is the current one */
    struct sim_playback *pb_tail;
    struct sim_rec *rec;
    struct sim_bridge *bridge;

    /* DTMF sent by ARI (POST dtmf) towards the far end */
    struct sim_timer t_dtmf_out;
    const char *dtmf_out; /* digits left */
    int dtmf_out_between_ms, dtmf_out_duration_ms;

    /* snoop channels watching this one */
    struct sim_chan *snoops;
    struct sim_chan *snoop_next;
    struct sim_chan *snoop_of;
    int create_only; /* made by /channels/create */

    /* teardown */
    int hanging;  /* hang-up requested; teardown pending or running */
    int hang_how; /* HANG_* of the first request */
    int was_pbx_stasis;
    int destroyed; /* ChannelDestroyed sent */
    int cause;     /* hang-up cause so far (0 = not set) */
    int tech_cause;
    int own_cause; /* cause set by this channel's own dialplan (Busy, Hangup) */
    struct sim_timer t_teardown;

    /* originate log */
    int logged;
    const char *number;
    enum sim_outcome planned;
    int outcome_final; /* final outcome reported */
    int answered;
    int cancelled;

    struct sim_chan *zombie_next;
};

struct sim_bridge {
    struct sim *sim;
    char *id;
    char *name;
    char *types; /* as given */
    int holding; /* holding bridge */
    int64_t created_us;
    struct sim_chan **chans; /* members, oldest first */
    int nchans, capchans;
    struct sim_app *subs[4]; /* apps subscribed to the bridge */
    int nsubs;
    struct sim_playback *pb_head, *pb_tail;
    struct sim_rec *rec;
};

enum sim_pb_state { PB_QUEUED, PB_PLAYING, PB_PAUSED, PB_CONTINUING, PB_DONE, PB_FAILED };

struct sim_playback {
    struct sim *sim;
    char *id;
    char **media; /* media URIs */
    int nmedia;
    int index;    /* current item */
    char *target; /* "channel:<id>" or "bridge:<id>" */
    char *language;
    enum sim_pb_state state;
    int stopped;               /* stop requested */
    struct sim_chan *chan;     /* target channel (borrowed) */
    struct sim_bridge *bridge; /* or target bridge */
    int64_t remain_us;         /* left of the current item (while paused) */
    int64_t started_us;
    int64_t offset_us;
    int64_t skip_us;
    struct sim_timer t;
    struct sim_playback *next; /* queue link */
};

enum sim_rec_state { REC_QUEUED, REC_RECORDING, REC_PAUSED, REC_DONE, REC_FAILED, REC_CANCELED };

struct sim_rec {
    struct sim *sim;
    char *name;
    char *format;
    char *target;
    enum sim_rec_state state;
    struct sim_chan *chan;
    struct sim_bridge *bridge;
    int64_t max_us, max_silence_us;
    int64_t started_us;
    int64_t paused_us; /* total time paused */
    int64_t pause_start_us;
    int terminate_on; /* 0 none, 1 any, '*', '#' */
    int heard_voice;
    int muted;
    int disk_full; /* the disk was full when it started: no audio is written */
    struct sim_timer t;
};

struct sim_stored {
    char *name;
    char *format;
    double seconds;
};

/* ------------------------------------------------------------------------
 * events.c: applications and sockets
 */
struct sim_ws {
    struct sim *sim;
    struct lws *wsi;
    struct sim_buf out; /* framed messages not yet written */
    size_t out_off;     /* bytes of out already written */
    char **apps;        /* app names of this socket */
    int napps;
    int subscribe_all;
    int drop; /* close as soon as writable */
    struct sim_ws *next;
};

struct sim_app {
    char *name;
    struct sim_buf tail; /* ,"asterisk_id":..,"application":..} */
    struct sim_ws *ws;   /* socket receiving this app's events; NULL = inactive */
    int subscribe_all;
    struct sim_app *next;
};

/* ------------------------------------------------------------------------
 * The simulator
 */
struct sim_counters {
    uint64_t originates, originate_rejected, inbound, answered, hangups;
    uint64_t outcome[OUT_COUNT_];
    uint64_t events, event_bytes, http_requests, http_5xx_injected, http_4xx, ws_connects;
    uint64_t ws_refused, conn_refused, playbacks, recordings, bridges;
    uint64_t timers_fired;
};

struct sim_route;
struct sim_pbx;
struct sim_gen;
struct sim_pending;
struct far_dtmf;
struct sim_olog;

struct sim {
    struct ev_loop *loop;
    struct lws_context *lws;
    struct lws_vhost *vhost;
    int port;
    char *bind;
    char *user, *password;
    char *asterisk_id;
    char *version;
    char *system_name;
    char *api_docs_dir;
    double time_scale;
    int64_t seed;
    int seed_from_cli;
    int64_t body_limit;
    char **channelvars;
    int nchannelvars;

    /* ids */
    int64_t epoch;     /* startup time (seconds) in generated ids */
    uint64_t uniq_seq; /* next generated id sequence */
    uint32_t pjsip_seq, local_seq, snoop_seq;
    int64_t startup_wall_us, reload_wall_us;

    /* objects */
    struct sim_map chans;      /* id -> chan */
    struct sim_map chan_names; /* name (nocase) -> chan */
    struct sim_idx chan_keys;  /* lowercase ids and names, for the prefix check */
    size_t nchans;
    struct sim_map bridges;
    struct sim_map playbacks;
    struct sim_map recs;      /* live recordings by name */
    struct sim_map stored;    /* stored recordings by name */
    struct sim_map apps;      /* name -> struct sim_app */
    struct sim_map attempts;  /* number -> (uintptr_t) attempts so far */
    struct sim_map globals;   /* global variables (value strings owned) */
    struct sim_app *apps_all; /* apps with subscribe_all, linked */
    struct sim_ws *sockets;
    struct sim_chan *zombies;

    struct sim_scenario *scenario;
    struct sim_pbx *pbx;
    struct sim_olog *olog;

    /* timers */
    struct sim_timers timers;
    ev_timer loop_timer;
    ev_prepare prepare;
    int in_dispatch;

    /* inbound generators */
    struct sim_gen *gens;
    int ngens;

    /* faults */
    int64_t refuse_until_us; /* monotonic */
    int64_t fail_until_us;
    int fail_status;
    int64_t delay_ms;
    int disk_fault; /* -1: the scenario's disk_full; else an enum sim_disk forced by a fault */
    struct sim_pending *pending; /* delayed HTTP responses */

    /* routes */
    struct sim_route *routes;
    int nroutes;
    json_t **docs; /* parsed swagger files */
    char **doc_names;
    int ndocs;

    /* scratch */
    struct sim_buf ev; /* event body under construction */
    char ts_cache[40]; /* formatted timestamp */
    int64_t ts_cache_ms;
    uint64_t uuid_seq;

    struct far_dtmf *far_dtmfs; /* pending /_sim far-end digit sequences */

    struct sim_counters stats;
    int stop;
};

/* ------------------------------------------------------------------------
 * model.c
 */
/* Generates an Asterisk-style unique id ("<system->name-><epoch>.<seq>") into buf. */
void sim__uniqueid(struct sim *s, char *buf, size_t len);
/* A random-looking UUID (deterministic sequence) into buf (37 bytes). */
void sim__uuid(struct sim *s, char *buf);

struct sim_chan *sim__chan_alloc(struct sim *s, const char *id, const char *name,
                                 enum sim_tech tech, enum sim_cstate st);
struct sim_chan *sim__chan_find(struct sim *s, const char *id_or_name);
/* 0 if id may be used for a new channel; else an HTTP-style code (409/400). */
int sim__chan_id_check(struct sim *s, const char *id, const char **msg);
void sim__chan_set_var(struct sim_chan *c, const char *name, const char *value);
const char *sim__chan_get_var(const struct sim_chan *c, const char *name);
char *sim__chan_strdup(struct sim_chan *c, const char *str);
/* Writes the Channel model. */
void sim__chan_json(struct sim *s, struct sim_buf *b, const struct sim_chan *c);
/* Moves c to the zombie list (no further events); freed by sim__reap(). */
void sim__chan_retire(struct sim_chan *c);
void sim__chan_free(struct sim_chan *c);
void sim__reap(struct sim *s);

struct sim_bridge *sim__bridge_new(struct sim *s, const char *id, const char *types,
                                   const char *name);
void sim__bridge_json(struct sim *s, struct sim_buf *b, const struct sim_bridge *br);
void sim__bridge_free(struct sim_bridge *br);

/* Q.850 cause text exactly as Asterisk prints it. */
const char *sim__cause_txt(int cause);
/* SIP final response to Q.850 cause, as chan_pjsip maps it. */
int sim__sip_to_cause(int sip);
/* Dial status for a far-end failure cause. */
const char *sim__cause_dialstatus(int cause);
/* "normal", "busy"... to a cause; -1 if unknown. */
int sim__reason_to_cause(const char *reason);

/* Wall-clock time formatted the ARI way ("2026-11-24T11:46:27.251+0000"). */
const char *sim__timestamp(struct sim *s);
void sim__format_time(int64_t wall_us, char *buf, size_t len);

/* ------------------------------------------------------------------------
 * events.c
 */
struct sim_app *sim__app_get(struct sim *s, const char *name, int create);
int sim__app_active(const struct sim_app *a);
void sim__chan_subscribe(struct sim_chan *c, struct sim_app *a);
void sim__bridge_subscribe(struct sim_bridge *br, struct sim_app *a);

/* Recipient sets for an event. */
struct sim_rcpt {
    struct sim_app *a[16];
    int n;
};

void sim__rcpt_chan(struct sim *s, struct sim_rcpt *r, const struct sim_chan *c, int stasis_only);
void sim__rcpt_bridge(struct sim *s, struct sim_rcpt *r, const struct sim_bridge *br);
void sim__rcpt_add(struct sim_rcpt *r, struct sim_app *a);

/*
 * Event construction: sim__ev_begin() starts the body in s->ev with the
 * given JSON prefix (blob keys that come before "type") and the type and
 * timestamp; the caller appends payload keys with a leading comma;
 * sim__ev_send() finishes and writes it to every recipient's socket.
 */
void sim__ev_begin(struct sim *s, const char *blob_prefix, const char *type);
void sim__ev_send(struct sim *s, const struct sim_rcpt *r);

/* Common channel events. */
void sim__ev_chan_simple(struct sim_chan *c, const char *type);
void sim__ev_state(struct sim_chan *c, enum sim_cstate st);
void sim__ev_varset(struct sim_chan *c, const char *var, const char *value);
void sim__ev_dialplan(struct sim_chan *c, const char *app, const char *data);
/* ChannelCallerId, then ChannelConnectedLine. */
void sim__ev_callerid(struct sim_chan *c);
void sim__ev_chan_callerid(struct sim_chan *c);
void sim__ev_hangup_request(struct sim_chan *c, int cause, int tech_cause, int soft);
void sim__ev_destroyed(struct sim_chan *c);
void sim__ev_dial(struct sim_chan *peer, const char *status);
void sim__ev_dtmf(struct sim_chan *c, char digit, int duration_ms);
void sim__ev_stasis_start(struct sim_chan *c);
void sim__ev_stasis_end(struct sim_chan *c);
void sim__ev_playback(struct sim_playback *pb, const char *type);
void sim__ev_recording(struct sim_rec *rec, const char *type);
void sim__ev_bridge(struct sim_bridge *br, const char *type);
void sim__ev_bridge_chan(struct sim_bridge *br, struct sim_chan *c, const char *type);

/* Sockets. */
struct sim_ws *sim__ws_new(struct sim *s, struct lws *wsi, const char *apps, int subscribe_all);
void sim__ws_closed(struct sim_ws *w);
/* Writes pending output; returns -1 to close. */
int sim__ws_writable(struct sim_ws *w);
void sim__ws_drop_all(struct sim *s);

/* ------------------------------------------------------------------------
 * engine.c
 */
struct sim_originate {
    const char *endpoint;
    const char *extension, *context, *label;
    int priority;
    const char *app, *app_args;
    const char *caller_id;
    int timeout; /* seconds; -1 none */
    const char *channel_id, *other_channel_id;
    const char *originator, *formats;
    json_t *variables; /* object or NULL */
    int create_only;   /* /channels/create: into Stasis, dial later */
};

/*
 * Originates; on success *out is the new channel (snapshot goes into the
 * 200 body) and 0 is returned; else an HTTP status with *msg (and *reason).
 */
int sim__originate(struct sim *s, const struct sim_originate *o, struct sim_chan **out,
                   const char **msg, const char **reason);
/* Starts dialing a channel made by /channels/create. */
int sim__dial(struct sim_chan *c, struct sim_chan *caller, int timeout);
/* Answers c (ARI answer, dialplan Answer, far-end answer). */
void sim__answer(struct sim_chan *c);
/* Requests a hang-up and runs the teardown (now or soon). */
void sim__hangup(struct sim_chan *c, int cause, int tech_cause, int how);

enum {
    HANG_ARI = 1,      /* DELETE /channels/{id}: soft request, cause 32 in the event */
    HANG_FAR = 2,      /* the far end hung up (BYE, failure response) */
    HANG_DIALPLAN = 3, /* Hangup() and friends: the dialplan ends the call */
    HANG_SILENT = 4,   /* no request event (dial engine, failed Stasis) */
    HANG_TIMEOUT = 5,  /* originate timeout: no request event */
    HANG_PEER = 6,     /* the other half of a Local pair went away */
};

/* Enters the Stasis app (kind STASIS_APP or STASIS_PBX). Returns 0 or -1 (app inactive). */
int sim__stasis_enter(struct sim_chan *c, const char *app, const char *args,
                      enum sim_stasis_kind kind);
/* Leaves Stasis to continue in the dialplan at ctx/exten/prio. */
void sim__stasis_continue(struct sim_chan *c, const char *ctx, const char *exten, int prio);
/* DTMF arriving at c from its far end (goes through bridges). */
void sim__dtmf_in(struct sim_chan *c, char digit, int duration_ms);
/* The far end of c started (1) or stopped (0) talking. */
void sim__far_speech(struct sim_chan *c, int talking);
/* Far-end controls for tests. */
void sim__far_answer(struct sim_chan *c);
void sim__far_hangup(struct sim_chan *c, int cause);
/* Bridge membership. */
void sim__bridge_add(struct sim_bridge *br, struct sim_chan *c);
void sim__bridge_leave(struct sim_chan *c);
/* Starts sending DTMF to the far end of c. */
void sim__dtmf_send(struct sim_chan *c, const char *digits, int before_ms, int between_ms,
                    int duration_ms, int after_ms);
/* Indicates ringing on c (ARI ring / dialplan Ringing()). */
void sim__ring(struct sim_chan *c);
/* Moves c from its Stasis app to another. Returns 0, or -1 if app is inactive. */
int sim__stasis_move(struct sim_chan *c, const char *app, const char *args);
struct sim_chan *sim__snoop(struct sim_chan *target, const char *app, const char *args,
                            const char *snoop_id);
/* Inbound call generation. */
struct sim_chan *sim__inbound_call(struct sim *s, const struct sim_inbound *g,
                                   const struct sim_spec *spec, const char *caller_num,
                                   struct sim_rng *rng);
void sim__gens_start(struct sim *s);
void sim__gens_stop(struct sim *s);
/* Forgets every channel, bridge, playback and live recording (restart). */
void sim__forget_all(struct sim *s);
/* A playback started on c (for DTMF scripts relative to playbacks). */
void sim__far_playback_started(struct sim_chan *c);
/* The number dialed in an endpoint ("PJSIP/trunk/sip:+1555@h" -> "+1555"). */
void sim__endpoint_number(const char *endpoint, char *buf, size_t len);

/* ------------------------------------------------------------------------
 * pbx.c
 */
struct sim_pbx_step {
    char *exten; /* pattern or literal */
    int priority;
    char *label;
    char *app;
    char *data; /* raw, with ${...} */
};

struct sim_pbx *sim__pbx_load(const char *path, char *err, size_t errlen);
struct sim_pbx *sim__pbx_parse(const char *text, char *err, size_t errlen);
void sim__pbx_free(struct sim_pbx *p);
int sim__pbx_exists(const struct sim_pbx *p, const char *ctx, const char *exten, int prio);
int sim__pbx_has_context(const struct sim_pbx *p, const char *ctx);
int sim__pbx_find_label(const struct sim_pbx *p, const char *ctx, const char *exten,
                        const char *label);
/* Starts (or restarts) the dialplan of c at ctx/exten/prio. */
void sim__pbx_start(struct sim_chan *c, const char *ctx, const char *exten, int prio);
/* Stops the dialplan (no events). */
void sim__pbx_stop(struct sim_chan *c);
/* Continues the dialplan of c at the next priority. */
void sim__pbx_next(struct sim_chan *c);
/* Substitutes ${...} in data for channel c into the channel's arena. */
char *sim__pbx_subst(struct sim_chan *c, const char *data);
/* The Stasis app running c's dialplan returned. */
void sim__pbx_stasis_returned(struct sim_chan *c);
/* AMD: far-end speech changed for a channel running AMD(). */
void sim__amd_speech(struct sim_chan *c);

/* ------------------------------------------------------------------------
 * media.c
 */
struct sim_playback *sim__playback_new(struct sim *s, const char *id, const char *media,
                                       const char *lang, int64_t offset_ms, int64_t skip_ms);
void sim__playback_queue_chan(struct sim_playback *pb, struct sim_chan *c);
void sim__playback_queue_bridge(struct sim_playback *pb, struct sim_bridge *br);
void sim__playback_json(struct sim *s, struct sim_buf *b, const struct sim_playback *pb);
/* DELETE /playbacks/{id} and /control. Return an HTTP status. */
int sim__playback_stop(struct sim_playback *pb);
int sim__playback_control(struct sim_playback *pb, const char *op, const char **msg);
/* Stops everything queued or playing on a channel (hang-up); emits the finals. */
void sim__playbacks_chan_gone(struct sim_chan *c);
void sim__playbacks_bridge_gone(struct sim_bridge *br);
void sim__playback_free(struct sim_playback *pb);
/* Seconds a medium plays; *missing set if the file does not exist. */
double sim__media_seconds(struct sim *s, const char *uri, int *missing, int *skip);

struct sim_rec *sim__rec_new(struct sim *s, const char *name, const char *format);
void sim__rec_start(struct sim_rec *rec);
void sim__rec_json(struct sim *s, struct sim_buf *b, const struct sim_rec *rec);
void sim__rec_stop(struct sim_rec *rec, int cancel);
void sim__rec_dtmf(struct sim_rec *rec, char digit);
void sim__rec_chan_gone(struct sim_chan *c);
void sim__rec_free(struct sim_rec *rec);
int sim__rec_pause(struct sim_rec *rec, int pause);

/* ------------------------------------------------------------------------
 * olog.c
 */
struct sim_olog *sim__olog_open(const char *path);
void sim__olog_close(struct sim_olog *o);
void sim__olog_originate(struct sim *s, const char *chan_id, const char *endpoint,
                         const char *number, const char *outcome, int cause, int attempt);
void sim__olog_end(struct sim *s, struct sim_chan *c, const char *outcome, int cause);

/* ------------------------------------------------------------------------
 * http.c / rest
 */
struct sim_param {
    const char *name;
    const char *value;
};

/* One REST request, as the handlers see it. */
struct sim_req {
    struct sim *s;
    struct arena arena;       /* strings of this request */
    int method;               /* SIM_M_* */
    const char *path;         /* after /ari, decoded, e.g. "/channels/x/play" */
    struct sim_param *params; /* query, form and JSON-body scalars merged; last wins */
    int nparams, capparams;
    struct sim_param pathp[8]; /* path variables */
    int npathp;
    json_t *body; /* JSON body or NULL (borrowed from the connection) */
    const char *host;
    const char *nickname; /* swagger operation */
    /* response */
    int status;
    const char *reason;
    struct sim_buf hdr;      /* extra headers, each ending in \r\n */
    struct sim_buf body_out; /* response body */
};

enum {
    SIM_M_GET,
    SIM_M_POST,
    SIM_M_PUT,
    SIM_M_DELETE,
    SIM_M_OPTIONS,
    SIM_M_PATCH,
    SIM_M_HEAD,
    SIM_M_COUNT_
};

const char *sim__req_param(const struct sim_req *r, const char *name);
const char *sim__req_path(const struct sim_req *r, const char *name);
int sim__req_int(const struct sim_req *r, const char *name, int def);
int sim__req_bool(const struct sim_req *r, const char *name, int def);
/* Error response {"message": msg} with status and reason phrase. */
void sim__req_error(struct sim_req *r, int status, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void sim__req_nocontent(struct sim_req *r);
/* Starts a 200 (or 201 with location) JSON body; caller writes into r->body_out. */
void sim__req_ok(struct sim_req *r);
void sim__req_created(struct sim_req *r, const char *location);
void sim__req_alloc_failed(struct sim_req *r);

typedef void sim_handler(struct sim_req *r);
sim_handler *sim__rest_handler(const char *nickname);

struct sim_route {
    char *path; /* "/channels/{channelId}/play" */
    char **segs;
    int nsegs;
    const char *nick[SIM_M_COUNT_];
    int websocket;
};

int sim__apidocs_load(struct sim *s, const char *dir);
void sim__apidocs_free(struct sim *s);
/* Serves /ari/api-docs/<file>; fills r. */
void sim__apidocs_serve(struct sim_req *r, const char *file);
/* Finds the route for path; fills r->pathp. Returns the route or NULL. */
const struct sim_route *sim__route_match(struct sim *s, struct sim_req *r, char **segs, int nsegs);

int sim__http_start(struct sim *s);
void sim__http_stop(struct sim *s);

/* control.c */
int sim__control(struct sim *s, int method, const char *path, struct sim_req *r);
void sim__stats_json(struct sim *s, struct sim_buf *b);
void sim__control_fini(struct sim *s);

#endif
