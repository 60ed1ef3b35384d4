/* SPDX-License-Identifier: MIT */
/*
 * media: playbacks and live recordings.
 *
 * Playbacks follow res_stasis_playback: a playback holds a list of media
 * URIs played in order; each item publishes PlaybackStarted (with
 * next_media_uri while more follow), a non-final item ends with
 * PlaybackContinuing and the last with PlaybackFinished ("done", or "failed"
 * for a missing file or a hang-up). An unknown URI scheme, a missing
 * recording: or an invalid number: is skipped right after its
 * PlaybackStarted, and if it was the last item no PlaybackFinished follows
 * (a quirk of the source kept on purpose). Playbacks on one channel or
 * bridge are serialised; pause publishes nothing and unpause publishes
 * PlaybackStarted again; stopping a queued playback reports it "done". DTMF
 * never interrupts a playback.
 *
 * Lengths come from the scenario's media table (with a default); digits:,
 * characters: and number: take a length per spoken word; tone: plays until
 * stopped.
 *
 * Recordings follow res_stasis_recording: RecordingStarted when recording
 * begins, RecordingFinished for done and canceled, no event for pause. The
 * simulator records no audio; a recording's duration is the time recorded
 * if the far end said anything meanwhile, else 0 (Asterisk trims silence).
 * A finished recording becomes a stored recording of that length.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "sim/sim_int.h"

static char *xstrdup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (d == NULL) {
        abort();
    }
    return d;
}

double sim__media_seconds(struct sim *s, const char *uri, int *missing, int *skip)
{
    const struct sim_media *m = sim__scenario_media(s->scenario, uri);

    *missing = 0;
    *skip = 0;
    if (m != NULL) {
        *missing = m->missing;
        return m->seconds;
    }
    if (strncmp(uri, "sound:", 6) == 0) {
        return s->scenario->playback_default;
    }
    if (strncmp(uri, "recording:", 10) == 0) {
        struct sim_stored *st = sim__map_get(&s->stored, uri + 10);
        if (st == NULL) {
            *skip = 1;
            return 0;
        }
        return st->seconds > 0 ? st->seconds : 0.1;
    }
    if (strncmp(uri, "digits:", 7) == 0) {
        return 0.6 * (double)strlen(uri + 7);
    }
    if (strncmp(uri, "characters:", 11) == 0) {
        return 0.7 * (double)strlen(uri + 11);
    }
    if (strncmp(uri, "number:", 7) == 0) {
        char *end;
        long v = strtol(uri + 7, &end, 10);
        if (end == uri + 7) {
            *skip = 1;
            return 0;
        }
        (void)v;
        return 0.8 * (double)(end - (uri + 7));
    }
    if (strncmp(uri, "tone:", 5) == 0) {
        return -1; /* until stopped */
    }
    *skip = 1;
    return 0;
}

struct sim_playback *sim__playback_new(struct sim *s, const char *id, const char *media,
                                       const char *lang, int64_t offset_ms, int64_t skip_ms)
{
    struct sim_playback *pb = calloc(1, sizeof(*pb));
    char uuid[40];
    char *list, *save = NULL;

    if (pb == NULL) {
        abort();
    }
    if (id == NULL || id[0] == '\0') {
        sim__uuid(s, uuid);
        id = uuid;
    }
    pb->sim = s;
    pb->id = xstrdup(id);
    pb->language = xstrdup(lang && lang[0] ? lang : "en");
    pb->offset_us = offset_ms * 1000;
    pb->skip_us = (skip_ms > 0 ? skip_ms : 3000) * 1000;
    list = xstrdup(media);
    for (char *m = strtok_r(list, ",", &save); m != NULL; m = strtok_r(NULL, ",", &save)) {
        char **v = realloc(pb->media, sizeof(*v) * (size_t)(pb->nmedia + 1));
        if (v == NULL) {
            abort();
        }
        pb->media = v;
        pb->media[pb->nmedia++] = xstrdup(m);
    }
    free(list);
    pb->state = PB_QUEUED;
    sim__map_put(&s->playbacks, pb->id, pb);
    s->stats.playbacks++;
    return pb;
}

void sim__playback_free(struct sim_playback *pb)
{
    struct sim *s = pb->sim;

    sim__timer_stop(s, &pb->t);
    if (sim__map_get(&s->playbacks, pb->id) == pb) {
        sim__map_del(&s->playbacks, pb->id);
    }
    for (int i = 0; i < pb->nmedia; i++) {
        free(pb->media[i]);
    }
    free(pb->media);
    free(pb->id);
    free(pb->target);
    free(pb->language);
    free(pb);
}

static const char *pb_state_name(enum sim_pb_state st)
{
    switch (st) {
    case PB_QUEUED:
        return "queued";
    case PB_PLAYING:
        return "playing";
    case PB_PAUSED:
        return "paused";
    case PB_CONTINUING:
        return "continuing";
    case PB_FAILED:
        return "failed";
    case PB_DONE:
    default:
        return "done";
    }
}

void sim__playback_json(struct sim *s, struct sim_buf *b, const struct sim_playback *pb)
{
    (void)s;
    SIM_LIT(b, "{\"id\":");
    sim__buf_jstr(b, pb->id);
    SIM_LIT(b, ",\"media_uri\":");
    sim__buf_jstr(b, pb->media[pb->index]);
    if (pb->index < pb->nmedia - 1) {
        SIM_LIT(b, ",\"next_media_uri\":");
        sim__buf_jstr(b, pb->media[pb->index + 1]);
    }
    SIM_LIT(b, ",\"target_uri\":");
    sim__buf_jstr(b, pb->target);
    SIM_LIT(b, ",\"language\":");
    sim__buf_jstr(b, pb->language);
    SIM_LIT(b, ",\"state\":\"");
    sim__buf_puts(b, pb_state_name(pb->state));
    SIM_LIT(b, "\"}");
}

/* The queue a playback lives in. */
static struct sim_playback **queue_head(struct sim_playback *pb, struct sim_playback ***tail)
{
    if (pb->chan != NULL) {
        *tail = &pb->chan->pb_tail;
        return &pb->chan->pb_head;
    }
    *tail = &pb->bridge->pb_tail;
    return &pb->bridge->pb_head;
}

static void unlink_pb(struct sim_playback *pb)
{
    struct sim_playback **tail;
    struct sim_playback **pp = queue_head(pb, &tail);
    struct sim_playback *prev = NULL;

    for (; *pp != NULL; prev = *pp, pp = &(*pp)->next) {
        if (*pp == pb) {
            *pp = pb->next;
            if (*tail == pb) {
                *tail = prev;
            }
            pb->next = NULL;
            return;
        }
    }
}

static void start_item(struct sim_playback *pb);
static void start_next_in_queue(struct sim_playback *head);

/* The playback is over (all items, or stopped): publish and free. */
static void finish(struct sim_playback *pb, enum sim_pb_state final, int publish)
{
    struct sim_playback *next;

    pb->state = final;
    sim__timer_stop(pb->sim, &pb->t);
    if (publish) {
        sim__ev_playback(pb, "PlaybackFinished");
    }
    next = pb->next;
    unlink_pb(pb);
    sim__playback_free(pb);
    if (next != NULL) {
        start_next_in_queue(next);
    }
}

static void item_done(struct sim_playback *pb, int failed)
{
    if (pb->index >= pb->nmedia - 1) {
        finish(pb, failed ? PB_FAILED : PB_DONE, 1);
        return;
    }
    pb->state = PB_CONTINUING;
    sim__ev_playback(pb, "PlaybackContinuing");
    pb->index++;
    start_item(pb);
}

static void pb_timer_cb(struct sim *s, struct sim_timer *t)
{
    struct sim_playback *pb = SIM_CONTAINER_OF(t, struct sim_playback, t);
    (void)s;

    if (pb->state == PB_QUEUED) {
        start_item(pb);
        return;
    }
    item_done(pb, 0);
}

static void start_item(struct sim_playback *pb)
{
    struct sim *s = pb->sim;

    for (;;) {
        int missing, skip;
        double sec;

        pb->state = PB_PLAYING;
        sim__ev_playback(pb, "PlaybackStarted");
        if (pb->index == 0 && pb->chan != NULL) {
            sim__far_playback_started(pb->chan);
            if (pb->chan->hanging) {
                return;
            }
        }
        sec = sim__media_seconds(s, pb->media[pb->index], &missing, &skip);
        if (missing) {
            item_done(pb, 1);
            return;
        }
        if (skip) {
            /* Skipped after PlaybackStarted; nothing follows if it was last. */
            if (pb->index >= pb->nmedia - 1) {
                finish(pb, PB_DONE, 0);
                return;
            }
            pb->index++;
            continue;
        }
        pb->started_us = clock_mono_us();
        if (sec >= 0) {
            int64_t us = (int64_t)(sec * 1e6) - (pb->index == 0 ? pb->offset_us : 0);
            pb->remain_us = us > 0 ? us : 0;
            sim__timer_after(s, &pb->t, pb->remain_us);
        } else {
            pb->remain_us = -1;
        }
        return;
    }
}

static void start_next_in_queue(struct sim_playback *head)
{
    /* Starts on the next loop turn, after any HTTP answer in progress. */
    head->state = PB_QUEUED;
    sim__timer_after(head->sim, &head->t, 0);
}

static void queue_append(struct sim_playback *pb, struct sim_playback **head,
                         struct sim_playback **tail)
{
    sim__timer_init(&pb->t, pb_timer_cb);
    pb->next = NULL;
    if (*tail != NULL) {
        (*tail)->next = pb;
    } else {
        *head = pb;
    }
    *tail = pb;
    if (*head == pb) {
        start_next_in_queue(pb);
    }
}

void sim__playback_queue_chan(struct sim_playback *pb, struct sim_chan *c)
{
    char t[300];

    snprintf(t, sizeof(t), "channel:%s", c->id);
    pb->target = xstrdup(t);
    pb->chan = c;
    queue_append(pb, &c->pb_head, &c->pb_tail);
}

void sim__playback_queue_bridge(struct sim_playback *pb, struct sim_bridge *br)
{
    char t[300];

    snprintf(t, sizeof(t), "bridge:%s", br->id);
    pb->target = xstrdup(t);
    pb->bridge = br;
    queue_append(pb, &br->pb_head, &br->pb_tail);
}

int sim__playback_stop(struct sim_playback *pb)
{
    if (pb->state == PB_QUEUED) {
        /* Cancelled before it started: reported as done when dropped. */
        finish(pb, PB_DONE, 1);
        return 204;
    }
    finish(pb, PB_DONE, 1);
    return 204;
}

static int controllable(const struct sim_playback *pb)
{
    const char *m = pb->media[pb->index];
    return strncmp(m, "sound:", 6) == 0 || strncmp(m, "recording:", 10) == 0 ||
           strncmp(m, "tone:", 5) == 0;
}

int sim__playback_control(struct sim_playback *pb, const char *op, const char **msg)
{
    struct sim *s = pb->sim;
    static char m[96];
    int playing = pb->state == PB_PLAYING || pb->state == PB_CONTINUING;

    if (strcmp(op, "restart") == 0 && pb->state == PB_QUEUED) {
        return 204;
    }
    if (strcmp(op, "unpause") == 0 && playing) {
        return 204;
    }
    if (strcmp(op, "pause") == 0 && pb->state == PB_PAUSED) {
        return 204;
    }
    if (!(playing || (pb->state == PB_PAUSED && strcmp(op, "unpause") == 0))) {
        snprintf(m, sizeof(m), "Can only %s while media is playing", op);
        *msg = m;
        return 409;
    }
    if (!controllable(pb)) {
        snprintf(m, sizeof(m), "Could not %s playback", op);
        *msg = m;
        return 500;
    }
    if (strcmp(op, "pause") == 0) {
        if (pb->remain_us >= 0) {
            int64_t elapsed = (int64_t)((double)(clock_mono_us() - pb->started_us) / s->time_scale);
            pb->remain_us -= elapsed;
            if (pb->remain_us < 0) {
                pb->remain_us = 0;
            }
        }
        sim__timer_stop(s, &pb->t);
        pb->state = PB_PAUSED;
    } else if (strcmp(op, "unpause") == 0) {
        pb->state = PB_PLAYING;
        sim__ev_playback(pb, "PlaybackStarted");
        pb->started_us = clock_mono_us();
        if (pb->remain_us >= 0) {
            sim__timer_after(s, &pb->t, pb->remain_us);
        }
    } else {
        int missing, skip;
        double sec = sim__media_seconds(s, pb->media[pb->index], &missing, &skip);
        int64_t total = sec >= 0 ? (int64_t)(sec * 1e6) : -1;
        int64_t elapsed = (int64_t)((double)(clock_mono_us() - pb->started_us) / s->time_scale);
        int64_t left = pb->remain_us >= 0 ? pb->remain_us - elapsed : -1;
        if (strcmp(op, "restart") == 0) {
            left = total;
        } else if (strcmp(op, "reverse") == 0 && left >= 0) {
            left += pb->skip_us;
            if (left > total) {
                left = total;
            }
        } else if (strcmp(op, "forward") == 0 && left >= 0) {
            left -= pb->skip_us;
            if (left < 0) {
                left = 0;
            }
        }
        pb->remain_us = left;
        pb->started_us = clock_mono_us();
        if (left >= 0) {
            sim__timer_after(s, &pb->t, left);
        }
    }
    return 204;
}

void sim__playbacks_chan_gone(struct sim_chan *c)
{
    struct sim_playback *pb = c->pb_head;

    if (pb == NULL) {
        return;
    }
    /* The current one fails; queued ones are dropped without events. */
    c->pb_head = c->pb_tail = NULL;
    while (pb != NULL) {
        struct sim_playback *next = pb->next;
        pb->next = NULL;
        if (pb->state != PB_QUEUED) {
            pb->state = PB_FAILED;
            sim__ev_playback(pb, "PlaybackFinished");
        }
        pb->chan = NULL;
        sim__playback_free(pb);
        pb = next;
    }
}

void sim__playbacks_bridge_gone(struct sim_bridge *br)
{
    struct sim_playback *pb = br->pb_head;

    br->pb_head = br->pb_tail = NULL;
    while (pb != NULL) {
        struct sim_playback *next = pb->next;
        pb->next = NULL;
        if (pb->state != PB_QUEUED) {
            pb->state = PB_DONE;
            sim__ev_playback(pb, "PlaybackFinished");
        }
        pb->bridge = NULL;
        sim__playback_free(pb);
        pb = next;
    }
}

/* ---------------------------------------------------------------------- */
/* Recordings */

/*
 * A full disk (scenario "disk_full", or the disk_full fault) as Asterisk 22
 * meets it in res_stasis_recording: the request is accepted (201) and
 * RecordingStarted sent; ast_play_and_record_full then stops at the first
 * frame it cannot write and its result is not looked at, so the recording
 * ends "done" (RecordingFinished, never RecordingFailed) with duration 0, and
 * no usable file. When the recordings directory itself cannot be made the
 * request answers 500 "Internal Server Error" (rest_channels.c).
 */
#define DISK_FULL_END_US INT64_C(20000) /* one 20 ms frame */

static const char *rec_state_name(enum sim_rec_state st)
{
    switch (st) {
    case REC_QUEUED:
        return "queued";
    case REC_RECORDING:
        return "recording";
    case REC_PAUSED:
        return "paused";
    case REC_DONE:
        return "done";
    case REC_FAILED:
        return "failed";
    case REC_CANCELED:
    default:
        return "canceled";
    }
}

static int64_t rec_elapsed_us(const struct sim_rec *rec)
{
    int64_t end = rec->state == REC_PAUSED ? rec->pause_start_us : clock_mono_us();
    int64_t e = end - rec->started_us - rec->paused_us;
    return (int64_t)((double)(e > 0 ? e : 0) / rec->sim->time_scale);
}

static int rec_duration(const struct sim_rec *rec)
{
    if (!rec->heard_voice || rec->disk_full) {
        return 0;
    }
    return (int)(rec_elapsed_us(rec) / 1000000);
}

void sim__rec_json(struct sim *s, struct sim_buf *b, const struct sim_rec *rec)
{
    (void)s;
    SIM_LIT(b, "{\"name\":");
    sim__buf_jstr(b, rec->name);
    SIM_LIT(b, ",\"format\":");
    sim__buf_jstr(b, rec->format);
    SIM_LIT(b, ",\"state\":\"");
    sim__buf_puts(b, rec_state_name(rec->state));
    SIM_LIT(b, "\",\"target_uri\":");
    sim__buf_jstr(b, rec->target);
    if (rec->state == REC_DONE || rec->state == REC_CANCELED) {
        int d = rec_duration(rec);
        SIM_LIT(b, ",\"duration\":");
        sim__buf_jint(b, d);
        if (rec->max_silence_us > 0) {
            SIM_LIT(b, ",\"talking_duration\":");
            sim__buf_jint(b, d);
            SIM_LIT(b, ",\"silence_duration\":");
            sim__buf_jint(b, (int)(rec_elapsed_us(rec) / 1000000) - d);
        }
    }
    sim__buf_putc(b, '}');
}

struct sim_rec *sim__rec_new(struct sim *s, const char *name, const char *format)
{
    struct sim_rec *rec = calloc(1, sizeof(*rec));

    if (rec == NULL) {
        abort();
    }
    rec->sim = s;
    rec->name = xstrdup(name);
    rec->format = xstrdup(format);
    rec->state = REC_QUEUED;
    sim__map_put(&s->recs, rec->name, rec);
    s->stats.recordings++;
    return rec;
}

void sim__rec_free(struct sim_rec *rec)
{
    struct sim *s = rec->sim;

    sim__timer_stop(s, &rec->t);
    if (sim__map_get(&s->recs, rec->name) == rec) {
        sim__map_del(&s->recs, rec->name);
    }
    if (rec->chan != NULL && rec->chan->rec == rec) {
        rec->chan->rec = NULL;
    }
    if (rec->bridge != NULL && rec->bridge->rec == rec) {
        rec->bridge->rec = NULL;
    }
    free(rec->name);
    free(rec->format);
    free(rec->target);
    free(rec);
}

static void rec_finish(struct sim_rec *rec, enum sim_rec_state st)
{
    struct sim *s = rec->sim;

    if (rec->state == REC_PAUSED) {
        rec->paused_us += clock_mono_us() - rec->pause_start_us;
    }
    rec->state = st;
    sim__timer_stop(s, &rec->t);
    sim__ev_recording(rec, "RecordingFinished");
    if (rec->disk_full) {
        /* Nothing was written: no stored recording of that name is left. */
        struct sim_stored *old = sim__map_get(&s->stored, rec->name);
        if (old != NULL) {
            sim__map_del(&s->stored, rec->name);
            free(old->name);
            free(old->format);
            free(old);
        }
    } else if (st == REC_DONE) {
        struct sim_stored *old = sim__map_get(&s->stored, rec->name);
        struct sim_stored *stv = old ? old : calloc(1, sizeof(*stv));
        if (stv == NULL) {
            abort();
        }
        if (old == NULL) {
            stv->name = xstrdup(rec->name);
            sim__map_put(&s->stored, stv->name, stv);
        }
        free(stv->format);
        stv->format = xstrdup(rec->format);
        stv->seconds = (double)rec_duration(rec);
    }
    sim__rec_free(rec);
}

static void rec_timer_cb(struct sim *s, struct sim_timer *t)
{
    struct sim_rec *rec = SIM_CONTAINER_OF(t, struct sim_rec, t);
    (void)s;

    if (rec->state == REC_QUEUED) {
        rec->state = REC_RECORDING;
        rec->started_us = clock_mono_us();
        if (rec->chan != NULL && rec->chan->far_talking) {
            rec->heard_voice = 1;
        }
        sim__ev_recording(rec, "RecordingStarted");
        if (rec->disk_full) {
            /* The first frame that cannot be written ends the recording. */
            sim__timer_after(s, &rec->t, DISK_FULL_END_US);
        } else if (rec->max_us > 0) {
            sim__timer_after(s, &rec->t, rec->max_us);
        } else if (rec->max_silence_us > 0 && !rec->heard_voice) {
            sim__timer_after(s, &rec->t, rec->max_silence_us);
        }
        return;
    }
    rec_finish(rec, REC_DONE);
}

void sim__rec_start(struct sim_rec *rec)
{
    char t[300];

    snprintf(t, sizeof(t), "%s:%s", rec->chan ? "channel" : "bridge",
             rec->chan ? rec->chan->id : rec->bridge->id);
    rec->target = xstrdup(t);
    sim__timer_init(&rec->t, rec_timer_cb);
    sim__timer_after(rec->sim, &rec->t, 0);
}

void sim__rec_stop(struct sim_rec *rec, int cancel)
{
    if (cancel) {
        sim__map_del(&rec->sim->stored, rec->name);
    }
    rec_finish(rec, cancel ? REC_CANCELED : REC_DONE);
}

int sim__rec_pause(struct sim_rec *rec, int pause)
{
    if (pause && rec->state == REC_RECORDING) {
        rec->state = REC_PAUSED;
        rec->pause_start_us = clock_mono_us();
    } else if (!pause && rec->state == REC_PAUSED) {
        rec->paused_us += clock_mono_us() - rec->pause_start_us;
        rec->state = REC_RECORDING;
        sim__ev_recording(rec, "RecordingStarted");
    }
    return 204;
}

void sim__rec_dtmf(struct sim_rec *rec, char digit)
{
    if (rec->state != REC_RECORDING || rec->terminate_on == 0) {
        return;
    }
    if (rec->terminate_on == 1 || rec->terminate_on == digit) {
        rec_finish(rec, REC_DONE);
    }
}

void sim__rec_chan_gone(struct sim_chan *c)
{
    if (c->rec != NULL) {
        struct sim_rec *rec = c->rec;
        if (rec->state == REC_QUEUED) {
            sim__rec_free(rec);
        } else {
            rec_finish(rec, REC_DONE);
        }
        c->rec = NULL;
    }
}
