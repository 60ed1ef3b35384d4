/* SPDX-License-Identifier: MIT */
/*
 * ivr_ari: the interpreter's channel operations over the ARI client, and the
 * per-process dispatcher from channel id to session.
 *
 * DESIGN
 * - One struct ivr_ari per process, on the loop thread. A call registers its
 *   channel id in an open-addressing hash map (FNV-1a, linear probing,
 *   tombstones, grown at half load): dispatch is one hash and usually one
 *   probe, with no allocation per event. A bridged transfer registers its
 *   callee's channel too, pointing at the same call.
 * - Operation ids travel in the ARI ids we choose: the playback id is
 *   "<channel>.p<op>", so PlaybackFinished names the op it completes without
 *   a table; a recording's op is kept in the call (one at a time).
 * - Hang-up: the first of ChannelHangupRequest (not soft), StasisEnd or
 *   ChannelDestroyed gives IVR_EV_HANGUP once, with the best cause known.
 * - Blind transfer: a target containing '/' is an endpoint (POST .../redirect),
 *   anything else an extension continued in transfer_context (POST
 *   .../continue); success is IVR_XFER_TRANSFERRED.
 * - Bridged transfer: the callee is originated into our Stasis app
 *   (endpoint, or Local/<target>@<transfer_context>) with the ring timeout;
 *   ari_dial_tracker decides the outcome (busy, no answer, failed). On its
 *   StasisStart a mixing bridge takes both channels; when the callee leaves
 *   (hangs up) with the caller still up the outcome is IVR_XFER_COMPLETED and
 *   the bridge is destroyed. A caller hang-up hangs the callee up.
 * - say: text to speech through a provider (ivr/tts.c: espeak-ng by default,
 *   or an HTTP TTS service) on a worker thread (never the loop), rendered
 *   once to "<sounds_dir>/tts-<hash>.wav" where the hash is BLAKE2b of voice
 *   and text; a cache hit plays at once. The file is played as
 *   "sound:<sounds_uri>/tts-<hash>" (Asterisk adds the extension): sounds_dir
 *   must then be readable by Asterisk (the same host, or a shared directory
 *   mounted at sounds_uri on the Asterisk side). With sounds_http_base it is
 *   played as "sound:<base>/tts-<hash>.wav" instead, which Asterisk fetches
 *   over HTTP (its media cache) from dialerd's /sounds/ route. The worker
 *   hands results back through a core/mpsc mailbox; a result finds its call
 *   again by channel id, so a call that ended meanwhile is simply gone.
 * - The TTS cache is bounded (tts_cache_max_bytes, tts_cache_max_age_ms):
 *   the worker, never the loop, sweeps sounds_dir every sweep interval, after
 *   a render that takes its running total over the size bound, and when
 *   asked (ivr_ari_tts_sweep). A sweep deletes files not used for max_age,
 *   then the least recently used until the total fits (LRU by atime: a cache
 *   hit sets the file's atime explicitly, so relatime/noatime mounts do not
 *   matter), and leftovers of interrupted renders older than an hour. A file
 *   a live call is using is never deleted: op_say pins the file's hash
 *   (under the worker mutex, before it looks at the file) until the call's
 *   next say or its end, and the worker checks the pins and unlinks under
 *   the same mutex, so a cache hit never races a deletion.
 * - Nothing here delivers an event from inside an operation: failures found
 *   synchronously are returned; asynchronous ones arrive from the loop.
 */
#include <dirent.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ari/ari.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mpsc.h"
#include "ivr/ivr.h"

enum { ID_MAX = 160, PATH_MAX_ = 512, HASH_HEX = 32 };

#define TTS_DEFAULT_MAX_BYTES (INT64_C(256) * 1024 * 1024)
#define TTS_DEFAULT_MAX_AGE   (INT64_C(30) * 86400 * 1000)
#define TTS_DEFAULT_SWEEP     (INT64_C(60) * 1000)
#define TTS_LEFTOVER_AGE_S    3600

struct ivr_ari_call {
    struct ivr_ari *d;
    struct ari_client *client;
    struct ivr_session *session;
    char chan[ID_MAX];
    /* playback */
    uint64_t say_op; /* a say waiting for its TTS file */
    char say_lang[16];
    char pin[HASH_HEX + 1]; /* the TTS file this call uses ("" none) */
    struct ari_req *play_req;
    uint64_t play_op; /* the op of play_req */
    /* recording */
    uint64_t rec_op;
    char rec_name[ID_MAX];
    struct ari_req *rec_req;
    /* transfer */
    uint64_t xfer_op;
    enum ivr_transfer_mode xfer_mode;
    struct ari_req *xfer_req;
    char peer[ID_MAX + 24];   /* bridged callee's channel, "" none */
    char bridge[ID_MAX + 24]; /* "" none */
    bool bridged;
    struct ari_dial_tracker tracker;
    /* state */
    bool hung;     /* IVR_EV_HANGUP delivered */
    bool in_event; /* inside ivr_session_event */
    bool dead;     /* destroy requested while in_event */
};

struct slot {
    const char *key; /* borrowed from the call; NULL empty; TOMB removed */
    struct ivr_ari_call *call;
};

static const char TOMB_[1];
#define TOMB ((const char *)TOMB_)

struct tts_job {
    struct mpsc_node node;
    struct tts_job *next; /* worker queue */
    char chan[ID_MAX];
    uint64_t op;
    char path[PATH_MAX_];
    char voice[64];
    char lang[16];
    int status; /* result */
    char text[];
};

struct ivr_ari {
    struct ev_loop *loop;
    char *app;
    char *xfer_ctx;
    char *sounds_dir;
    char *sounds_uri;
    char *sounds_http_base; /* NULL: play from sounds_uri */
    struct ivr_tts_provider *provider;
    char *voice;
    struct slot *slots;
    size_t cap, used, live; /* used counts tombstones too */
    /* TTS worker */
    pthread_t worker;
    bool worker_up;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct tts_job *jobs, *jobs_tail;
    bool stopping;
    struct mpsc_mailbox mb;
    /* TTS cache bound (worker; pins and stats under mu) */
    int64_t max_bytes, max_age_ms, sweep_ms; /* <= 0: no bound / no periodic sweep */
    bool sweep_wanted;
    int64_t est_bytes; /* running estimate of the cache size */
    struct tts_pin *pins;
    size_t npins, cap_pins;
    struct ivr_ari_tts_stats tts;
};

/* A TTS file in use by n live calls. */
struct tts_pin {
    char hash[HASH_HEX + 1];
    int n;
};

/* ------------------------------------------------------------------ map */

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static struct slot *map_find(const struct ivr_ari *d, const char *key)
{
    size_t mask = d->cap - 1;
    for (size_t i = hash_str(key) & mask, n = 0; n < d->cap; i = (i + 1) & mask, n++) {
        struct slot *s = &d->slots[i];
        if (s->key == NULL) {
            return NULL;
        }
        if (s->key != TOMB && strcmp(s->key, key) == 0) {
            return s;
        }
    }
    return NULL;
}

static void map_place(struct slot *slots, size_t cap, const char *key, struct ivr_ari_call *c)
{
    size_t mask = cap - 1;
    size_t i = hash_str(key) & mask;
    while (slots[i].key != NULL && slots[i].key != TOMB) {
        i = (i + 1) & mask;
    }
    slots[i].key = key;
    slots[i].call = c;
}

static int map_put(struct ivr_ari *d, const char *key, struct ivr_ari_call *c)
{
    if (map_find(d, key) != NULL) {
        return ERR_EXISTS;
    }
    if ((d->used + 1) * 2 > d->cap) {
        size_t ncap = d->cap;
        struct slot *ns;
        while ((d->live + 1) * 4 > ncap) {
            ncap *= 2;
        }
        ns = calloc(ncap, sizeof(*ns));
        if (ns == NULL) {
            return ERR_NOMEM;
        }
        for (size_t i = 0; i < d->cap; i++) {
            if (d->slots[i].key != NULL && d->slots[i].key != TOMB) {
                map_place(ns, ncap, d->slots[i].key, d->slots[i].call);
            }
        }
        free(d->slots);
        d->slots = ns;
        d->cap = ncap;
        d->used = d->live;
    }
    map_place(d->slots, d->cap, key, c);
    d->used++;
    d->live++;
    return 0;
}

static void map_del(struct ivr_ari *d, const char *key)
{
    struct slot *s = map_find(d, key);
    if (s != NULL) {
        s->key = TOMB;
        s->call = NULL;
        d->live--;
    }
}

size_t ivr_ari_count(const struct ivr_ari *d)
{
    return d != NULL ? d->live : 0;
}

/* ------------------------------------------------------------- helpers */

static void deliver(struct ivr_ari_call *c, const struct ivr_event *ev)
{
    if (c->session == NULL) {
        return;
    }
    c->in_event = true;
    ivr_session_event(c->session, ev);
    c->in_event = false;
}

static void free_call(struct ivr_ari_call *c);

/* After deliver(): true when the call must not be touched any more. */
static bool reap(struct ivr_ari_call *c)
{
    if (c->dead) {
        free_call(c);
        return true;
    }
    return false;
}

static uint64_t parse_op(const char *id, const char *chan, char tag)
{
    size_t n = strlen(chan);
    char *end;
    unsigned long long v;
    if (strncmp(id, chan, n) != 0 || id[n] != '.' || id[n + 1] != tag) {
        return 0;
    }
    errno = 0;
    v = strtoull(id + n + 2, &end, 10);
    if (errno != 0 || *end != '\0') {
        return 0;
    }
    return (uint64_t)v;
}

static const char *cause_reason(int cause)
{
    switch (cause) {
    case ARI_CAUSE_USER_BUSY:
        return "busy";
    case ARI_CAUSE_NORMAL_CIRCUIT_CONGESTION:
        return "congestion";
    case ARI_CAUSE_NO_ANSWER:
        return "no_answer";
    case ARI_CAUSE_NO_USER_RESPONSE:
        return "timeout";
    case ARI_CAUSE_CALL_REJECTED:
        return "rejected";
    case ARI_CAUSE_UNALLOCATED:
        return "unallocated";
    case ARI_CAUSE_NORMAL_UNSPECIFIED:
        return "normal_unspecified";
    default:
        return "normal";
    }
}

/* --------------------------------------------------------------- play */

static void play_done(struct ari_client *cl, const struct ari_result *res, void *arg)
{
    struct ivr_ari_call *c = arg;
    (void)cl;
    c->play_req = NULL;
    if (res->error != ARI_OK) {
        /* The playback never started: no PlaybackFinished will come. */
        uint64_t op = c->play_op;
        LOG_WARN(IVR, "play on %s refused: %s", c->chan, res->message);
        if (op != 0) {
            struct ivr_event ev = { .type = IVR_EV_PLAYBACK_DONE, .op = op, .failed = true };
            deliver(c, &ev);
            reap(c);
        }
    }
}

static int start_play(struct ivr_ari_call *c, uint64_t op, const char *const *media, size_t n,
                      const char *lang)
{
    char pbid[ID_MAX + 24];
    struct ari_play p = { .media = media, .n_media = n, .lang = lang, .playback_id = pbid };
    int rc;
    snprintf(pbid, sizeof(pbid), "%s.p%llu", c->chan, (unsigned long long)op);
    if (c->play_req != NULL) {
        ari_req_cancel(c->play_req);
        c->play_req = NULL;
    }
    rc = ari_channel_play(c->client, c->chan, &p, play_done, c, &c->play_req);
    if (rc == 0) {
        c->play_op = op;
    }
    return rc;
}

static int op_play(void *ctx, uint64_t op, const char *const *media, size_t n, const char *lang)
{
    struct ivr_ari_call *c = ctx;
    if (media == NULL || n == 0) {
        return ERR_INVAL;
    }
    c->say_op = 0;
    return start_play(c, op, media, n, lang);
}

static int op_stop_playback(void *ctx, uint64_t op)
{
    struct ivr_ari_call *c = ctx;
    char pbid[ID_MAX + 24];
    if (c->say_op == op) {
        c->say_op = 0; /* the rendering result will find nothing to play */
        return 0;
    }
    snprintf(pbid, sizeof(pbid), "%s.p%llu", c->chan, (unsigned long long)op);
    return ari_playback_stop(c->client, pbid, NULL, NULL, NULL);
}

/* ----------------------------------------------------------------- say */

int ivr_ari_tts_path(const char *dir, const char *text, const char *voice, char *buf, size_t size)
{
    unsigned char h[16];
    char hex[33];
    crypto_generichash_state st;
    int n;
    crypto_generichash_init(&st, NULL, 0, sizeof(h));
    crypto_generichash_update(&st, (const unsigned char *)voice, strlen(voice) + 1);
    crypto_generichash_update(&st, (const unsigned char *)text, strlen(text));
    crypto_generichash_final(&st, h, sizeof(h));
    sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
    n = snprintf(buf, size, "%s/tts-%s.wav", dir, hex);
    return n < 0 || (size_t)n >= size ? ERR_TOOBIG : 0;
}

static bool voice_ok(const char *v)
{
    if (*v == '\0' || strlen(v) >= 64 || *v == '-') {
        return false;
    }
    for (; *v != '\0'; v++) {
        char ch = *v;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_' || ch == '+')) {
            return false;
        }
    }
    return true;
}

static int play_tts_file(struct ivr_ari_call *c, uint64_t op, const char *path)
{
    /* "<dir>/tts-<hex>.wav" -> "sound:<uri>/tts-<hex>" or "sound:<http base>/tts-<hex>.wav" */
    char media[PATH_MAX_ + 16];
    const char *base = strrchr(path, '/');
    const char *m[1] = { media };
    int n;
    base = base != NULL ? base + 1 : path;
    if (c->d->sounds_http_base != NULL) {
        n = snprintf(media, sizeof(media), "sound:%s/%s", c->d->sounds_http_base, base);
    } else {
        n = snprintf(media, sizeof(media), "sound:%s/%.*s", c->d->sounds_uri,
                     (int)(strlen(base) - 4), base);
    }
    if (n < 0 || (size_t)n >= sizeof(media)) {
        return ERR_TOOBIG;
    }
    return start_play(c, op, m, 1, c->say_lang[0] != '\0' ? c->say_lang : NULL);
}

/* ------------------------------------------------------------ TTS cache */

/* The pin of hash or NULL; d->mu held. */
static struct tts_pin *pin_find(struct ivr_ari *d, const char *hash)
{
    for (size_t i = 0; i < d->npins; i++) {
        if (memcmp(d->pins[i].hash, hash, HASH_HEX) == 0) {
            return &d->pins[i];
        }
    }
    return NULL;
}

/* Drops the call's pin; d->mu held. */
static void pin_drop_locked(struct ivr_ari *d, struct ivr_ari_call *c)
{
    struct tts_pin *p = c->pin[0] != '\0' ? pin_find(d, c->pin) : NULL;
    if (p != NULL && --p->n == 0) {
        *p = d->pins[--d->npins];
    }
    c->pin[0] = '\0';
}

/* Pins the file of path ("<dir>/tts-<hex>.wav") for c, replacing its previous pin. */
static int pin_set(struct ivr_ari *d, struct ivr_ari_call *c, const char *path)
{
    const char *base = strrchr(path, '/');
    struct tts_pin *p;
    int rc = 0;
    base = base != NULL ? base + 5 : path + 4; /* past "/tts-" */
    pthread_mutex_lock(&d->mu);
    pin_drop_locked(d, c);
    p = pin_find(d, base);
    if (p == NULL && d->npins == d->cap_pins) {
        size_t cap = d->cap_pins != 0 ? d->cap_pins * 2 : 16;
        struct tts_pin *np = realloc(d->pins, cap * sizeof(*np));
        if (np == NULL) {
            rc = ERR_NOMEM;
        } else {
            d->pins = np;
            d->cap_pins = cap;
        }
    }
    if (rc == 0) {
        if (p == NULL) {
            p = &d->pins[d->npins++];
            memcpy(p->hash, base, HASH_HEX);
            p->hash[HASH_HEX] = '\0';
            p->n = 0;
        }
        p->n++;
        memcpy(c->pin, p->hash, HASH_HEX + 1);
    }
    pthread_mutex_unlock(&d->mu);
    return rc;
}

static void pin_drop(struct ivr_ari *d, struct ivr_ari_call *c)
{
    if (c->pin[0] != '\0') {
        pthread_mutex_lock(&d->mu);
        pin_drop_locked(d, c);
        pthread_mutex_unlock(&d->mu);
    }
}

struct tts_file {
    char name[HASH_HEX + 12]; /* "tts-<hex>.wav" */
    int64_t atime_s;
    int64_t size;
};

static int by_atime(const void *a, const void *b)
{
    const struct tts_file *x = a, *y = b;
    return x->atime_s < y->atime_s ? -1 : x->atime_s > y->atime_s;
}

/* "tts-<32 hex>.wav": 1; a render's leftover "tts-<32 hex>.wav.<pid>.tmp|txt": 2; else 0. */
static int tts_name_kind(const char *n)
{
    if (strncmp(n, "tts-", 4) != 0 || strlen(n) < 4 + HASH_HEX + 4) {
        return 0;
    }
    for (int i = 0; i < HASH_HEX; i++) {
        char ch = n[4 + i];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'))) {
            return 0;
        }
    }
    if (strcmp(n + 4 + HASH_HEX, ".wav") == 0) {
        return 1;
    }
    return strncmp(n + 4 + HASH_HEX, ".wav.", 5) == 0 ? 2 : 0;
}

/*
 * Reads the cache directory without the mutex: the files (new array in *out)
 * and their total size; leftovers of interrupted renders are deleted
 * (counted in *gone). No pin can name a leftover.
 */
static size_t tts_scan(DIR *dir, int64_t now_s, struct tts_file **out, int64_t *total,
                       uint64_t *gone)
{
    struct tts_file *v = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    *total = 0;
    while ((e = readdir(dir)) != NULL) {
        struct stat sb;
        int kind = tts_name_kind(e->d_name);
        if (kind == 0 || fstatat(dirfd(dir), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISREG(sb.st_mode)) {
            continue;
        }
        if (kind == 2) { /* an interrupted render (a crash): gone after an hour */
            if (now_s - (int64_t)sb.st_mtime > TTS_LEFTOVER_AGE_S &&
                unlinkat(dirfd(dir), e->d_name, 0) == 0) {
                (*gone)++;
            }
            continue;
        }
        if (n == cap) {
            size_t nc = cap != 0 ? cap * 2 : 256;
            struct tts_file *nv = realloc(v, nc * sizeof(*nv));
            if (nv == NULL) {
                break;
            }
            v = nv;
            cap = nc;
        }
        memcpy(v[n].name, e->d_name, 4 + HASH_HEX + 4); /* kind 1: exactly "tts-<hex>.wav" */
        v[n].name[4 + HASH_HEX + 4] = '\0';
        v[n].atime_s = (int64_t)sb.st_atime;
        v[n].size = (int64_t)sb.st_size;
        *total += v[n].size;
        n++;
    }
    *out = v;
    return n;
}

/*
 * Worker: one clean-up pass over sounds_dir. Files unused for max_age go,
 * then the least recently used until the total fits max_bytes; pinned files
 * stay. Pins are checked and files unlinked under d->mu (see the DESIGN).
 */
static void tts_sweep(struct ivr_ari *d)
{
    struct tts_file *v = NULL;
    int64_t total = 0, now_s = (int64_t)time(NULL);
    uint64_t deleted = 0;
    size_t n, kept = 0;
    DIR *dir = opendir(d->sounds_dir);
    if (dir == NULL) {
        return;
    }
    n = tts_scan(dir, now_s, &v, &total, &deleted);
    if (n > 1) {
        qsort(v, n, sizeof(*v), by_atime);
    }
    for (size_t i = 0; i < n; i++) {
        bool old = d->max_age_ms > 0 && (now_s - v[i].atime_s) * 1000 > d->max_age_ms;
        bool over = d->max_bytes > 0 && total > d->max_bytes;
        bool gone = false;
        if (old || over) {
            pthread_mutex_lock(&d->mu);
            if (pin_find(d, v[i].name + 4) == NULL && unlinkat(dirfd(dir), v[i].name, 0) == 0) {
                gone = true;
            }
            pthread_mutex_unlock(&d->mu);
        }
        if (gone) {
            total -= v[i].size;
            deleted++;
        } else {
            kept++;
        }
    }
    closedir(dir);
    free(v);
    pthread_mutex_lock(&d->mu);
    d->tts.sweeps++;
    d->tts.deleted += deleted;
    d->tts.files = kept;
    d->tts.bytes = total;
    d->est_bytes = total;
    pthread_mutex_unlock(&d->mu);
    if (deleted > 0) {
        LOG_INFO(IVR, "event=tts_cache_swept deleted=%llu files=%zu bytes=%lld",
                 (unsigned long long)deleted, kept, (long long)total);
    }
}

void ivr_ari_tts_sweep(struct ivr_ari *d)
{
    if (d == NULL || !d->worker_up) {
        return;
    }
    pthread_mutex_lock(&d->mu);
    d->sweep_wanted = true;
    pthread_cond_signal(&d->cv);
    pthread_mutex_unlock(&d->mu);
}

void ivr_ari_tts_stats(struct ivr_ari *d, struct ivr_ari_tts_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (d == NULL || !d->worker_up) {
        return;
    }
    pthread_mutex_lock(&d->mu);
    *out = d->tts;
    out->pinned = d->npins;
    pthread_mutex_unlock(&d->mu);
}

static int op_say(void *ctx, uint64_t op, const char *text, const char *lang, const char *voice)
{
    struct ivr_ari_call *c = ctx;
    struct ivr_ari *d = c->d;
    char path[PATH_MAX_];
    struct tts_job *j;
    size_t tl;
    struct stat sb;

    if (d->sounds_dir == NULL) {
        return ERR_DECLINED;
    }
    if (text == NULL || *text == '\0') {
        return ERR_INVAL;
    }
    if (voice == NULL || *voice == '\0' || strcmp(voice, "default") == 0) {
        /* The flow's default voice: the language's espeak-ng voice, else the configured one. */
        voice = lang != NULL && voice_ok(lang) ? lang : d->voice;
    }
    if (!voice_ok(voice)) {
        return ERR_INVAL;
    }
    snprintf(c->say_lang, sizeof(c->say_lang), "%s", lang != NULL ? lang : "");
    if (ivr_ari_tts_path(d->sounds_dir, text, voice, path, sizeof(path)) != 0) {
        return ERR_TOOBIG;
    }
    if (pin_set(d, c, path) != 0) {
        return ERR_NOMEM;
    }
    if (stat(path, &sb) == 0 && sb.st_size > 0) {
        /* A hit: the file's atime is its last use (LRU), whatever the mount options. */
        const struct timespec ts[2] = { { .tv_nsec = UTIME_NOW }, { .tv_nsec = UTIME_OMIT } };
        (void)utimensat(AT_FDCWD, path, ts, 0);
        c->say_op = 0;
        return play_tts_file(c, op, path);
    }
    tl = strlen(text);
    j = calloc(1, sizeof(*j) + tl + 1);
    if (j == NULL) {
        return ERR_NOMEM;
    }
    snprintf(j->chan, sizeof(j->chan), "%s", c->chan);
    j->op = op;
    snprintf(j->path, sizeof(j->path), "%s", path);
    snprintf(j->voice, sizeof(j->voice), "%s", voice);
    snprintf(j->lang, sizeof(j->lang), "%s", lang != NULL ? lang : "");
    memcpy(j->text, text, tl + 1);
    c->say_op = op;
    pthread_mutex_lock(&d->mu);
    if (d->jobs_tail != NULL) {
        d->jobs_tail->next = j;
    } else {
        d->jobs = j;
    }
    d->jobs_tail = j;
    pthread_cond_signal(&d->cv);
    pthread_mutex_unlock(&d->mu);
    return 0;
}

/* The worker's deadline for the next periodic sweep (CLOCK_MONOTONIC). */
static struct timespec sweep_deadline(const struct ivr_ari *d)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(d->sweep_ms / 1000);
    ts.tv_nsec += (long)(d->sweep_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

static void *tts_worker(void *arg)
{
    struct ivr_ari *d = arg;
    bool periodic = d->sounds_dir != NULL && d->sweep_ms > 0;
    struct timespec next = sweep_deadline(d);
    for (;;) {
        struct tts_job *j;
        pthread_mutex_lock(&d->mu);
        while (d->jobs == NULL && !d->stopping && !d->sweep_wanted) {
            if (!periodic) {
                pthread_cond_wait(&d->cv, &d->mu);
            } else if (pthread_cond_timedwait(&d->cv, &d->mu, &next) == ETIMEDOUT) {
                d->sweep_wanted = true;
            }
        }
        if (d->sweep_wanted && !d->stopping) {
            d->sweep_wanted = false;
            pthread_mutex_unlock(&d->mu);
            if (d->sounds_dir != NULL) {
                tts_sweep(d);
            }
            next = sweep_deadline(d);
            continue;
        }
        if (d->jobs == NULL) {
            pthread_mutex_unlock(&d->mu);
            return NULL;
        }
        j = d->jobs;
        d->jobs = j->next;
        if (d->jobs == NULL) {
            d->jobs_tail = NULL;
        }
        pthread_mutex_unlock(&d->mu);
        j->status = d->stopping ? ERR_SHUTDOWN
                                : d->provider->render(d->provider->ctx, j->text, j->lang, j->voice,
                                                      j->path);
        if (j->status == 0) {
            struct stat sb;
            if (stat(j->path, &sb) == 0) {
                pthread_mutex_lock(&d->mu);
                d->est_bytes += (int64_t)sb.st_size;
                if (d->max_bytes > 0 && d->est_bytes > d->max_bytes) {
                    d->sweep_wanted = true; /* runs before the next wait */
                }
                pthread_mutex_unlock(&d->mu);
            }
        }
        mpsc_mailbox_send(&d->mb, &j->node);
    }
}

static void tts_result(struct mpsc_mailbox *mb, struct mpsc_node *msg, void *arg)
{
    struct ivr_ari *d = arg;
    struct tts_job *j = CONTAINER_OF(msg, struct tts_job, node);
    struct slot *s = d->slots != NULL ? map_find(d, j->chan) : NULL;
    (void)mb;
    if (s != NULL && s->call->say_op == j->op && strcmp(s->call->chan, j->chan) == 0) {
        struct ivr_ari_call *c = s->call;
        int rc = j->status;
        c->say_op = 0;
        if (rc == 0) {
            rc = play_tts_file(c, j->op, j->path);
        } else {
            LOG_WARN(IVR, "text to speech failed for %s: %s", c->chan, err_str(rc));
        }
        if (rc != 0) {
            struct ivr_event ev = { .type = IVR_EV_PLAYBACK_DONE, .op = j->op, .failed = true };
            deliver(c, &ev);
            reap(c);
        }
    }
    free(j);
}

/* -------------------------------------------------------------- record */

static void rec_done(struct ari_client *cl, const struct ari_result *res, void *arg)
{
    struct ivr_ari_call *c = arg;
    (void)cl;
    c->rec_req = NULL;
    if (res->error != ARI_OK && c->rec_op != 0) {
        struct ivr_event ev = { .type = IVR_EV_RECORD_DONE, .op = c->rec_op, .failed = true };
        LOG_WARN(IVR, "record on %s refused: %s", c->chan, res->message);
        c->rec_op = 0;
        deliver(c, &ev);
        reap(c);
    }
}

static int op_record(void *ctx, uint64_t op, const struct ivr_record_params *p)
{
    struct ivr_ari_call *c = ctx;
    struct ari_record r;
    int rc;
    if (p == NULL || p->name == NULL || strlen(p->name) >= sizeof(c->rec_name)) {
        return ERR_INVAL;
    }
    r = (struct ari_record){ .name = p->name,
                             .format = p->format != NULL ? p->format : "wav",
                             .max_duration_s = p->max_duration_s,
                             .max_silence_s = p->max_silence_s,
                             .if_exists = "overwrite",
                             .beep = p->beep,
                             .terminate_on = p->terminate };
    rc = ari_channel_record(c->client, c->chan, &r, rec_done, c, &c->rec_req);
    if (rc == 0) {
        c->rec_op = op;
        snprintf(c->rec_name, sizeof(c->rec_name), "%s", p->name);
    }
    return rc;
}

static int op_stop_record(void *ctx, uint64_t op)
{
    struct ivr_ari_call *c = ctx;
    if (c->rec_op != op || c->rec_name[0] == '\0') {
        return 0;
    }
    return ari_recording_stop(c->client, c->rec_name, false, NULL, NULL, NULL);
}

/* ------------------------------------------------------------ transfer */

static void xfer_finish(struct ivr_ari_call *c, enum ivr_transfer_outcome outcome)
{
    struct ivr_event ev = { .type = IVR_EV_TRANSFER, .op = c->xfer_op, .outcome = outcome };
    if (c->xfer_op == 0) {
        return;
    }
    c->xfer_op = 0;
    if (c->peer[0] != '\0') {
        map_del(c->d, c->peer);
        c->peer[0] = '\0';
    }
    if (c->bridge[0] != '\0') {
        ari_bridge_destroy(c->client, c->bridge, NULL, NULL, NULL);
        c->bridge[0] = '\0';
    }
    c->bridged = false;
    deliver(c, &ev);
}

static void blind_done(struct ari_client *cl, const struct ari_result *res, void *arg)
{
    struct ivr_ari_call *c = arg;
    (void)cl;
    c->xfer_req = NULL;
    if (res->error != ARI_OK) {
        LOG_WARN(IVR, "transfer of %s refused: %s", c->chan, res->message);
    }
    xfer_finish(c, res->error == ARI_OK ? IVR_XFER_TRANSFERRED : IVR_XFER_FAILED);
    reap(c);
}

static void orig_done(struct ari_client *cl, const struct ari_result *res, void *arg)
{
    struct ivr_ari_call *c = arg;
    (void)cl;
    c->xfer_req = NULL;
    if (res->error != ARI_OK) {
        LOG_WARN(IVR, "transfer originate for %s refused: %s", c->chan, res->message);
        xfer_finish(c, IVR_XFER_FAILED);
        reap(c);
    }
}

static int op_transfer(void *ctx, uint64_t op, enum ivr_transfer_mode mode, const char *target,
                       int ring_timeout_s, const char *caller_id)
{
    struct ivr_ari_call *c = ctx;
    struct ivr_ari *d = c->d;
    char endpoint[ID_MAX + 64];
    struct ari_originate o;
    int rc;

    if (target == NULL || *target == '\0' || strlen(target) >= ID_MAX) {
        return ERR_INVAL;
    }
    if (c->xfer_op != 0) {
        return ERR_BUSY;
    }
    if (mode == IVR_TRANSFER_BLIND) {
        if (strchr(target, '/') != NULL) {
            rc = ari_channel_redirect(c->client, c->chan, target, blind_done, c, &c->xfer_req);
        } else {
            rc = ari_channel_continue(c->client, c->chan, d->xfer_ctx, target, 1, NULL, blind_done,
                                      c, &c->xfer_req);
        }
        if (rc == 0) {
            c->xfer_op = op;
            c->xfer_mode = mode;
        }
        return rc;
    }
    if (strchr(target, '/') != NULL) {
        snprintf(endpoint, sizeof(endpoint), "%s", target);
    } else {
        snprintf(endpoint, sizeof(endpoint), "Local/%s@%s", target, d->xfer_ctx);
    }
    snprintf(c->peer, sizeof(c->peer), "%s.x%llu", c->chan, (unsigned long long)op);
    snprintf(c->bridge, sizeof(c->bridge), "%s.b%llu", c->chan, (unsigned long long)op);
    rc = map_put(d, c->peer, c);
    if (rc != 0) {
        c->peer[0] = '\0';
        c->bridge[0] = '\0';
        return rc;
    }
    ari_dial_tracker_init(&c->tracker, c->peer);
    o = (struct ari_originate){ .endpoint = endpoint,
                                .channel_id = c->peer,
                                .app = d->app,
                                .app_args = "ivr-transfer",
                                .caller_id = caller_id,
                                .timeout_s = ring_timeout_s > 0 ? ring_timeout_s : 0,
                                .originator = c->chan };
    c->xfer_op = op;
    c->xfer_mode = mode;
    c->bridged = false;
    rc = ari_originate(c->client, &o, orig_done, c, &c->xfer_req);
    if (rc != 0) {
        map_del(d, c->peer);
        c->peer[0] = '\0';
        c->bridge[0] = '\0';
        c->xfer_op = 0;
    }
    return rc;
}

static enum ivr_transfer_outcome map_dial(enum ari_dial_outcome o)
{
    switch (o) {
    case ARI_DIAL_BUSY:
        return IVR_XFER_BUSY;
    case ARI_DIAL_NO_ANSWER:
        return IVR_XFER_NO_ANSWER;
    default:
        return IVR_XFER_FAILED;
    }
}

/* The bridge exists: both parties join it (one request each, in order). */
static void bridge_done(struct ari_client *cl, const struct ari_result *res, void *arg)
{
    struct ivr_ari_call *c = arg;
    (void)cl;
    c->xfer_req = NULL;
    if (res->error != ARI_OK || c->peer[0] == '\0') {
        if (c->peer[0] != '\0') {
            ari_channel_hangup(c->client, c->peer, "normal", NULL, NULL, NULL);
        }
        xfer_finish(c, IVR_XFER_FAILED);
        reap(c);
        return;
    }
    ari_bridge_add_channel(c->client, c->bridge, c->chan, NULL, NULL, NULL, NULL);
    ari_bridge_add_channel(c->client, c->bridge, c->peer, NULL, NULL, NULL, NULL);
}

/* An event about the bridged-transfer callee. */
static void peer_event(struct ivr_ari_call *c, const struct ari_event *ev)
{
    ari_dial_tracker_feed(&c->tracker, ev);
    if (ev->type == ARI_EVENT_STASIS_START && !c->bridged) {
        c->bridged = true;
        if (c->xfer_req != NULL) {
            ari_req_cancel(c->xfer_req);
            c->xfer_req = NULL;
        }
        if (ari_bridge_create(c->client, c->bridge, "mixing", NULL, bridge_done, c, &c->xfer_req) !=
            0) {
            ari_channel_hangup(c->client, c->peer, "normal", NULL, NULL, NULL);
            xfer_finish(c, IVR_XFER_FAILED);
        }
        return;
    }
    if (ev->type == ARI_EVENT_CHANNEL_DESTROYED || ev->type == ARI_EVENT_STASIS_END) {
        if (c->bridged) {
            xfer_finish(c, IVR_XFER_COMPLETED);
            return;
        }
        if (ev->type == ARI_EVENT_CHANNEL_DESTROYED) {
            xfer_finish(c, map_dial(ari_dial_tracker_outcome(&c->tracker)));
        }
    }
}

/* ------------------------------------------------------- hangup, vars */

static int op_hangup(void *ctx, int cause)
{
    struct ivr_ari_call *c = ctx;
    return ari_channel_hangup(c->client, c->chan, cause_reason(cause), NULL, NULL, NULL);
}

static int op_set_var(void *ctx, const char *name, const char *value)
{
    struct ivr_ari_call *c = ctx;
    return ari_channel_var_set(c->client, c->chan, name, value != NULL ? value : "", NULL, NULL,
                               NULL);
}

static const struct ivr_channel_ops OPS = {
    .play = op_play,
    .say = op_say,
    .stop_playback = op_stop_playback,
    .record = op_record,
    .stop_record = op_stop_record,
    .transfer = op_transfer,
    .hangup = op_hangup,
    .set_var = op_set_var,
};

const struct ivr_channel_ops *ivr_ari_ops(void)
{
    return &OPS;
}

/* ------------------------------------------------------------ dispatch */

static void hangup_event(struct ivr_ari_call *c, int cause)
{
    struct ivr_event ev = { .type = IVR_EV_HANGUP, .cause = cause };
    if (c->hung) {
        return;
    }
    c->hung = true;
    if (c->peer[0] != '\0') {
        ari_channel_hangup(c->client, c->peer, "normal", NULL, NULL, NULL);
        map_del(c->d, c->peer);
        c->peer[0] = '\0';
    }
    if (c->bridge[0] != '\0') {
        ari_bridge_destroy(c->client, c->bridge, NULL, NULL, NULL);
        c->bridge[0] = '\0';
    }
    c->xfer_op = 0;
    deliver(c, &ev);
}

static void call_event(struct ivr_ari_call *c, const struct ari_event *ev)
{
    switch (ev->type) {
    case ARI_EVENT_PLAYBACK_FINISHED: {
        const struct ari_playback *pb = ev->playback_finished.playback;
        uint64_t op = parse_op(pb->id, c->chan, 'p');
        struct ivr_event e = { .type = IVR_EV_PLAYBACK_DONE,
                               .op = op,
                               .failed = pb->state_code == ARI_PLAYBACK_STATE_FAILED };
        if (op != 0) {
            deliver(c, &e);
        }
        break;
    }
    case ARI_EVENT_CHANNEL_DTMF_RECEIVED: {
        const char *dg = ev->channel_dtmf_received.digit;
        struct ivr_event e = { .type = IVR_EV_DTMF, .digit = dg != NULL ? dg[0] : 0 };
        if (e.digit != 0 && !c->bridged) {
            deliver(c, &e);
        }
        break;
    }
    case ARI_EVENT_RECORDING_FINISHED:
    case ARI_EVENT_RECORDING_FAILED: {
        const struct ari_live_recording *r = ev->type == ARI_EVENT_RECORDING_FINISHED
                                                 ? ev->recording_finished.recording
                                                 : ev->recording_failed.recording;
        struct ivr_event e = { .type = IVR_EV_RECORD_DONE, .op = c->rec_op };
        if (c->rec_op == 0 || strcmp(r->name, c->rec_name) != 0) {
            break;
        }
        e.failed = ev->type == ARI_EVENT_RECORDING_FAILED;
        e.duration_s = r->has_duration ? r->duration : 0;
        c->rec_op = 0;
        c->rec_name[0] = '\0';
        deliver(c, &e);
        break;
    }
    case ARI_EVENT_CHANNEL_HANGUP_REQUEST: {
        const struct ari_ev_channel_hangup_request *h = &ev->channel_hangup_request;
        if (!(h->has_soft && h->soft)) {
            hangup_event(c, h->has_cause ? h->cause : ARI_CAUSE_NORMAL_CLEARING);
        }
        break;
    }
    case ARI_EVENT_STASIS_END:
        if (c->xfer_op != 0 && c->xfer_mode == IVR_TRANSFER_BLIND) {
            /* Left for the dialplan: the transfer's response completes it. */
            break;
        }
        hangup_event(c, ARI_CAUSE_NORMAL_CLEARING);
        break;
    case ARI_EVENT_CHANNEL_DESTROYED:
        hangup_event(c, ev->channel_destroyed.cause);
        break;
    default:
        break;
    }
}

bool ivr_ari_dispatch(struct ivr_ari *d, const struct ari_event *ev)
{
    const char *ids[4];
    size_t n = ari_event_channel_ids(ev, ids, 4);
    struct slot *s = NULL;
    struct ivr_ari_call *c;
    const char *id;

    if (d == NULL || d->live == 0) {
        return false;
    }
    for (size_t i = 0; i < n && i < 4 && s == NULL; i++) {
        if (ids[i] != NULL) {
            s = map_find(d, ids[i]);
        }
    }
    if (s == NULL) {
        return false;
    }
    c = s->call;
    id = s->key;
    if (c->peer[0] != '\0' && strcmp(id, c->peer) == 0) {
        peer_event(c, ev);
    } else {
        call_event(c, ev);
    }
    reap(c);
    return true;
}

/* ----------------------------------------------------------- lifecycle */

int ivr_ari_call_create(struct ivr_ari *d, struct ari_client *client, const char *channel_id,
                        struct ivr_ari_call **out)
{
    struct ivr_ari_call *c;
    int rc;
    if (d == NULL || client == NULL || channel_id == NULL || *channel_id == '\0' ||
        strlen(channel_id) >= ID_MAX - 24 || out == NULL) {
        return ERR_INVAL;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return ERR_NOMEM;
    }
    c->d = d;
    c->client = client;
    snprintf(c->chan, sizeof(c->chan), "%s", channel_id);
    rc = map_put(d, c->chan, c);
    if (rc != 0) {
        free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void ivr_ari_call_bind(struct ivr_ari_call *call, struct ivr_session *s)
{
    if (call != NULL) {
        call->session = s;
    }
}

const char *ivr_ari_call_channel(const struct ivr_ari_call *call)
{
    return call->chan;
}

bool ivr_ari_call_gone(const struct ivr_ari_call *call)
{
    return call->hung;
}

static void free_call(struct ivr_ari_call *c)
{
    pin_drop(c->d, c);
    ari_req_cancel(c->play_req);
    ari_req_cancel(c->rec_req);
    ari_req_cancel(c->xfer_req);
    free(c);
}

void ivr_ari_call_destroy(struct ivr_ari_call *c)
{
    if (c == NULL || c->dead) {
        return;
    }
    if (c->peer[0] != '\0') {
        ari_channel_hangup(c->client, c->peer, "normal", NULL, NULL, NULL);
        map_del(c->d, c->peer);
        c->peer[0] = '\0';
    }
    if (c->bridge[0] != '\0') {
        ari_bridge_destroy(c->client, c->bridge, NULL, NULL, NULL);
        c->bridge[0] = '\0';
    }
    map_del(c->d, c->chan);
    c->session = NULL;
    c->dead = true;
    if (!c->in_event) {
        free_call(c);
    }
}

static char *dup_or(const char *s, const char *def)
{
    const char *v = s != NULL && *s != '\0' ? s : def;
    return v != NULL ? strdup(v) : NULL;
}

int ivr_ari_create(struct ev_loop *loop, const struct ivr_ari_config *cfg, struct ivr_ari **out)
{
    struct ivr_ari_config zero = { 0 };
    struct ivr_ari *d;
    if (cfg == NULL) {
        cfg = &zero;
    }
    if (loop == NULL || out == NULL) {
        ivr_tts_provider_destroy(cfg->tts);
        return ERR_INVAL;
    }
    if (sodium_init() < 0) {
        ivr_tts_provider_destroy(cfg->tts);
        return ERR_INTERNAL;
    }
    d = calloc(1, sizeof(*d));
    if (d == NULL) {
        ivr_tts_provider_destroy(cfg->tts);
        return ERR_NOMEM;
    }
    d->loop = loop;
    d->cap = 64;
    d->slots = calloc(d->cap, sizeof(*d->slots));
    d->app = dup_or(cfg->app, NULL);
    d->xfer_ctx = dup_or(cfg->transfer_context, "ivr-transfer");
    d->sounds_dir = dup_or(cfg->sounds_dir, NULL);
    d->sounds_uri = dup_or(cfg->sounds_uri, cfg->sounds_dir);
    d->sounds_http_base = dup_or(cfg->sounds_http_base, NULL);
    d->voice = dup_or(cfg->default_voice, "en");
    d->provider = cfg->tts != NULL ? cfg->tts : ivr_tts_espeak_create(cfg->tts_program, d->voice);
    if (d->slots == NULL || d->xfer_ctx == NULL || d->provider == NULL || d->voice == NULL ||
        (cfg->sounds_http_base != NULL && d->sounds_http_base == NULL) ||
        (cfg->app != NULL && d->app == NULL) ||
        (cfg->sounds_dir != NULL && d->sounds_dir == NULL) ||
        (cfg->sounds_dir != NULL && d->sounds_uri == NULL)) {
        ivr_ari_destroy(d);
        return ERR_NOMEM;
    }
    d->max_bytes = cfg->tts_cache_max_bytes == 0 ? TTS_DEFAULT_MAX_BYTES : cfg->tts_cache_max_bytes;
    d->max_age_ms =
        cfg->tts_cache_max_age_ms == 0 ? TTS_DEFAULT_MAX_AGE : cfg->tts_cache_max_age_ms;
    d->sweep_ms = cfg->tts_sweep_interval_ms == 0 ? TTS_DEFAULT_SWEEP : cfg->tts_sweep_interval_ms;
    /* A first pass at start: leftovers of a previous run, and a cache over a lowered bound. */
    d->sweep_wanted = d->sounds_dir != NULL;
    pthread_mutex_init(&d->mu, NULL);
    {
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&d->cv, &ca);
        pthread_condattr_destroy(&ca);
    }
    mpsc_mailbox_init(&d->mb, loop, tts_result, d);
    if (pthread_create(&d->worker, NULL, tts_worker, d) != 0) {
        mpsc_mailbox_fini(&d->mb);
        pthread_mutex_destroy(&d->mu);
        pthread_cond_destroy(&d->cv);
        free(d->slots);
        d->slots = NULL;
        ivr_ari_destroy(d);
        return ERR_NOMEM;
    }
    d->worker_up = true;
    *out = d;
    return 0;
}

void ivr_ari_destroy(struct ivr_ari *d)
{
    if (d == NULL) {
        return;
    }
    if (d->worker_up) {
        pthread_mutex_lock(&d->mu);
        d->stopping = true;
        pthread_cond_signal(&d->cv);
        pthread_mutex_unlock(&d->mu);
        pthread_join(d->worker, NULL);
        /* Jobs never taken, then results already sent. */
        while (d->jobs != NULL) {
            struct tts_job *j = d->jobs;
            d->jobs = j->next;
            free(j);
        }
        for (size_t i = 0; i < d->cap; i++) {
            if (d->slots[i].key != NULL && d->slots[i].key != TOMB) {
                struct ivr_ari_call *c = d->slots[i].call;
                if (d->slots[i].key == c->chan) { /* the caller's slot, not a callee's */
                    d->slots[i].key = TOMB;
                    d->live--;
                    free_call(c);
                }
            }
        }
        free(d->slots);
        d->slots = NULL;
        d->cap = 0;
        mpsc_mailbox_fini(&d->mb);
        pthread_mutex_destroy(&d->mu);
        pthread_cond_destroy(&d->cv);
    }
    free(d->slots);
    free(d->pins);
    free(d->app);
    free(d->xfer_ctx);
    free(d->sounds_dir);
    free(d->sounds_uri);
    free(d->sounds_http_base);
    ivr_tts_provider_destroy(d->provider);
    free(d->voice);
    free(d);
}
