/* SPDX-License-Identifier: MIT */
/*
 * model: channels and bridges, their ids and their JSON snapshots.
 *
 * Ids follow Asterisk: a generated channel id is "<epoch>.<seq>" where epoch
 * is the (simulated) start-up time and seq counts every channel created,
 * optionally prefixed by the system name; a client may choose its own
 * (channelId, otherChannelId) but not one that is a case-insensitive prefix
 * of a live channel's id or name (409), nor one over 149 characters (400).
 * Channel names are "PJSIP/<endpoint>-%08x" and "Local/<exten>@<ctx>-%08x;1"
 * and ";2", each technology counting on its own.
 *
 * Snapshots are written in the key order Asterisk uses, directly into a
 * buffer; nothing is built as a jansson tree on the event path.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "ari/ari.h"
#include "core/clock.h"
#include "sim/sim_int.h"

static const char *const cstate_names[] = {
    "Down", "Rsrvd", "OffHook", "Dialing", "Ring", "Ringing", "Up", "Busy",
};

const char *sim__cstate_name(enum sim_cstate st)
{
    return (unsigned)st < sizeof(cstate_names) / sizeof(cstate_names[0]) ? cstate_names[st]
                                                                         : "Unknown";
}

void sim__format_time(int64_t wall_us, char *buf, size_t len)
{
    time_t sec = (time_t)(wall_us / 1000000);
    struct tm tm;

    gmtime_r(&sec, &tm);
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03d+0000", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(wall_us / 1000 % 1000));
}

const char *sim__timestamp(struct sim *s)
{
    int64_t now = clock_wall_us();
    int64_t ms = now / 1000;

    if (ms != s->ts_cache_ms) {
        sim__format_time(now, s->ts_cache, sizeof(s->ts_cache));
        s->ts_cache_ms = ms;
    }
    return s->ts_cache;
}

void sim__uniqueid(struct sim *s, char *buf, size_t len)
{
    if (s->system_name != NULL && s->system_name[0] != '\0') {
        snprintf(buf, len, "%s-%lld.%llu", s->system_name, (long long)s->epoch,
                 (unsigned long long)s->uniq_seq++);
    } else {
        snprintf(buf, len, "%lld.%llu", (long long)s->epoch, (unsigned long long)s->uniq_seq++);
    }
}

void sim__uuid(struct sim *s, char *buf)
{
    uint64_t a = sim__mix64(++s->uuid_seq ^ (uint64_t)s->epoch);
    uint64_t b = sim__mix64(a ^ 0x5bd1e995u);

    snprintf(buf, 37, "%08x-%04x-4%03x-%04x-%012llx", (unsigned)(a >> 32),
             (unsigned)(a >> 16) & 0xffff, (unsigned)a & 0xfff,
             (unsigned)(0x8000 | ((b >> 48) & 0x3fff)),
             (unsigned long long)(b & 0xffffffffffffULL));
}

/* ---------------------------------------------------------------------- */

struct cause_row {
    int code;
    const char *txt;
};

/* Asterisk's cause table (main/channel.c); anything else prints "Unknown". */
static const struct cause_row cause_rows[] = {
    { 1, "Unallocated (unassigned) number" },
    { 2, "No route to specified transmit network" },
    { 3, "No route to destination" },
    { 5, "Misdialed trunk prefix" },
    { 6, "Channel unacceptable" },
    { 7, "Call awarded and being delivered in an established channel" },
    { 8, "Pre-empted" },
    { 14, "Number ported elsewhere" },
    { 16, "Normal Clearing" },
    { 17, "User busy" },
    { 18, "No user responding" },
    { 19, "User alerting, no answer" },
    { 20, "Subscriber absent" },
    { 21, "Call Rejected" },
    { 22, "Number changed" },
    { 23, "Redirected to new destination" },
    { 26, "Answered elsewhere" },
    { 27, "Destination out of order" },
    { 28, "Invalid number format" },
    { 29, "Facility rejected" },
    { 30, "Response to STATus ENQuiry" },
    { 31, "Normal, unspecified" },
    { 34, "Circuit/channel congestion" },
    { 38, "Network out of order" },
    { 41, "Temporary failure" },
    { 42, "Switching equipment congestion" },
    { 43, "Access information discarded" },
    { 44, "Requested channel not available" },
    { 50, "Facility not subscribed" },
    { 52, "Outgoing call barred" },
    { 54, "Incoming call barred" },
    { 57, "Bearer capability not authorized" },
    { 58, "Bearer capability not available" },
    { 65, "Bearer capability not implemented" },
    { 66, "Channel not implemented" },
    { 69, "Facility not implemented" },
    { 81, "Invalid call reference value" },
    { 88, "Incompatible destination" },
    { 95, "Invalid message unspecified" },
    { 96, "Mandatory information element is missing" },
    { 97, "Message type nonexist." },
    { 98, "Wrong message" },
    { 99, "Info. element nonexist or not implemented" },
    { 100, "Invalid information element contents" },
    { 101, "Message not compatible with call state" },
    { 102, "Recover on timer expiry" },
    { 103, "Mandatory IE length error" },
    { 111, "Protocol error, unspecified" },
    { 127, "Interworking, unspecified" },
};

const char *sim__cause_txt(int cause)
{
    for (size_t i = 0; i < sizeof(cause_rows) / sizeof(cause_rows[0]); i++) {
        if (cause_rows[i].code == cause) {
            return cause_rows[i].txt;
        }
    }
    return "Unknown";
}

int sim__sip_to_cause(int sip)
{
    switch (sip) {
    case 401:
    case 403:
    case 407:
    case 603:
        return 21;
    case 404:
    case 485:
    case 604:
        return 1;
    case 408:
        return 18;
    case 480:
    case 483:
        return 19;
    case 484:
        return 28;
    case 486:
    case 600:
        return 17;
    case 487:
        return 127;
    case 488:
    case 606:
        return 58;
    case 500:
        return 38;
    case 502:
        return 27;
    case 503:
        return 34;
    case 504:
        return 102;
    default:
        break;
    }
    if (sip >= 500 && sip < 600) {
        return 34;
    }
    if ((sip >= 400 && sip < 500) || (sip >= 600 && sip < 700)) {
        return 127;
    }
    return 16;
}

const char *sim__cause_dialstatus(int cause)
{
    switch (cause) {
    case 17:
        return "BUSY";
    case 34:
        return "CONGESTION";
    case 3:
    case 20:
        return "CHANUNAVAIL";
    default:
        return "NOANSWER";
    }
}

int sim__reason_to_cause(const char *reason)
{
    /* One table for the product and the simulator: ari/cause.c. */
    int cause = ari_hangup_reason_cause(reason);
    return cause < 0 ? -1 : cause;
}

/* ---------------------------------------------------------------------- */

char *sim__chan_strdup(struct sim_chan *c, const char *str)
{
    char *p = arena_strdup(&c->arena, str ? str : "");
    if (p == NULL) {
        abort();
    }
    return p;
}

static void index_add(struct sim *s, struct sim_chan *c)
{
    sim__map_put(&s->chans, c->id, c);
    sim__map_put(&s->chan_names, c->name, c);
    sim__idx_add(&s->chan_keys, c->id);
    sim__idx_add(&s->chan_keys, c->name);
    s->nchans++;
}

static void index_del(struct sim *s, struct sim_chan *c)
{
    if (sim__map_get(&s->chans, c->id) == c) {
        sim__map_del(&s->chans, c->id);
        sim__idx_del(&s->chan_keys, c->id);
        s->nchans--;
    }
    if (sim__map_get(&s->chan_names, c->name) == c) {
        sim__map_del(&s->chan_names, c->name);
        sim__idx_del(&s->chan_keys, c->name);
    }
}

int sim__chan_id_check(struct sim *s, const char *id, const char **msg)
{
    if (strlen(id) > 149) {
        *msg = "Uniqueid length exceeds maximum of 149";
        return 400;
    }
    if (sim__idx_has_prefix(&s->chan_keys, id)) {
        *msg = "Channel with given unique ID already exists";
        return 409;
    }
    return 0;
}

struct sim_chan *sim__chan_alloc(struct sim *s, const char *id, const char *name,
                                 enum sim_tech tech, enum sim_cstate st)
{
    struct sim_chan *c = calloc(1, sizeof(*c));
    char idbuf[64];

    if (c == NULL) {
        abort();
    }
    c->sim = s;
    arena_init(&c->arena, 1024);
    if (id == NULL || id[0] == '\0') {
        sim__uniqueid(s, idbuf, sizeof(idbuf));
        id = idbuf;
    } else {
        /* A chosen id still consumes a sequence number, as in Asterisk. */
        s->uniq_seq++;
    }
    c->id = sim__chan_strdup(c, id);
    c->name = sim__chan_strdup(c, name);
    c->tech = tech;
    c->state = st;
    c->caller_name = c->caller_num = c->conn_name = c->conn_num = "";
    c->protocol_id = "";
    c->context = "default";
    c->exten = "s";
    c->priority = 1;
    c->app_name = c->app_data = "";
    c->created_us = clock_wall_us();
    sim__format_time(c->created_us, c->created, sizeof(c->created));
    c->talk_us = -1;
    sim__timer_init(&c->t_timeout, NULL);
    sim__timer_init(&c->t_far, NULL);
    sim__timer_init(&c->t_greet, NULL);
    sim__timer_init(&c->t_dtmf, NULL);
    sim__timer_init(&c->t_pbx, NULL);
    sim__timer_init(&c->t_teardown, NULL);
    index_add(s, c);
    return c;
}

struct sim_chan *sim__chan_find(struct sim *s, const char *id_or_name)
{
    struct sim_chan *c = sim__map_get(&s->chans, id_or_name);
    if (c == NULL) {
        c = sim__map_get(&s->chan_names, id_or_name);
    }
    if (c != NULL && c->destroyed) {
        return NULL;
    }
    return c;
}

const char *sim__chan_get_var(const struct sim_chan *c, const char *name)
{
    for (const struct sim_var *v = c->vars; v != NULL; v = v->next) {
        if (strcmp(v->name, name) == 0) {
            return v->value;
        }
    }
    return NULL;
}

void sim__chan_set_var(struct sim_chan *c, const char *name, const char *value)
{
    struct sim_var *v;

    for (v = c->vars; v != NULL; v = v->next) {
        if (strcmp(v->name, name) == 0) {
            if (strcmp(v->value, value) != 0) {
                v->value = sim__chan_strdup(c, value);
            }
            return;
        }
    }
    v = arena_alloc(&c->arena, sizeof(*v));
    if (v == NULL) {
        abort();
    }
    v->name = sim__chan_strdup(c, name);
    v->value = sim__chan_strdup(c, value);
    v->next = c->vars;
    c->vars = v;
}

void sim__chan_json(struct sim *s, struct sim_buf *b, const struct sim_chan *c)
{
    SIM_LIT(b, "{\"id\":");
    sim__buf_jstr(b, c->id);
    SIM_LIT(b, ",\"name\":");
    sim__buf_jstr(b, c->name);
    SIM_LIT(b, ",\"state\":\"");
    sim__buf_puts(b, sim__cstate_name(c->state));
    SIM_LIT(b, "\",\"protocol_id\":");
    sim__buf_jstr(b, c->protocol_id);
    SIM_LIT(b, ",\"caller\":{\"name\":");
    sim__buf_jstr(b, c->caller_name);
    SIM_LIT(b, ",\"number\":");
    sim__buf_jstr(b, c->caller_num);
    SIM_LIT(b, "},\"connected\":{\"name\":");
    sim__buf_jstr(b, c->conn_name);
    SIM_LIT(b, ",\"number\":");
    sim__buf_jstr(b, c->conn_num);
    SIM_LIT(b, "},\"accountcode\":\"\",\"dialplan\":{\"context\":");
    sim__buf_jstr(b, c->context);
    SIM_LIT(b, ",\"exten\":");
    sim__buf_jstr(b, c->exten);
    SIM_LIT(b, ",\"priority\":");
    sim__buf_jint(b, c->priority);
    SIM_LIT(b, ",\"app_name\":");
    sim__buf_jstr(b, c->app_name);
    SIM_LIT(b, ",\"app_data\":");
    sim__buf_jstr(b, c->app_data);
    SIM_LIT(b, "},\"creationtime\":\"");
    sim__buf_puts(b, c->created);
    SIM_LIT(b, "\",\"language\":\"en\"");
    if (s->nchannelvars > 0) {
        SIM_LIT(b, ",\"channelvars\":{");
        for (int i = 0; i < s->nchannelvars; i++) {
            const char *v = sim__chan_get_var(c, s->channelvars[i]);
            if (i > 0) {
                sim__buf_putc(b, ',');
            }
            sim__buf_jstr(b, s->channelvars[i]);
            sim__buf_putc(b, ':');
            sim__buf_jstr(b, v ? v : "");
        }
        sim__buf_putc(b, '}');
    }
    sim__buf_putc(b, '}');
}

void sim__chan_retire(struct sim_chan *c)
{
    struct sim *s = c->sim;

    sim__timer_stop(s, &c->t_timeout);
    sim__timer_stop(s, &c->t_far);
    sim__timer_stop(s, &c->t_greet);
    sim__timer_stop(s, &c->t_dtmf);
    sim__timer_stop(s, &c->t_pbx);
    sim__timer_stop(s, &c->t_teardown);
    index_del(s, c);
    c->destroyed = 1;
    c->zombie_next = s->zombies;
    s->zombies = c;
}

void sim__chan_free(struct sim_chan *c)
{
    sim__scenario_unref(c->scenario);
    arena_fini(&c->arena);
    free(c);
}

void sim__reap(struct sim *s)
{
    while (s->zombies != NULL) {
        struct sim_chan *c = s->zombies;
        s->zombies = c->zombie_next;
        sim__chan_free(c);
    }
}

/* ---------------------------------------------------------------------- */

static char *xstrdup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (d == NULL) {
        abort();
    }
    return d;
}

struct sim_bridge *sim__bridge_new(struct sim *s, const char *id, const char *types,
                                   const char *name)
{
    struct sim_bridge *br = calloc(1, sizeof(*br));
    char uuid[40];

    if (br == NULL) {
        abort();
    }
    if (id == NULL || id[0] == '\0') {
        sim__uuid(s, uuid);
        id = uuid;
    }
    br->sim = s;
    br->id = xstrdup(id);
    br->name = xstrdup(name);
    br->types = xstrdup(types);
    br->holding = types != NULL && strstr(types, "holding") != NULL;
    br->created_us = clock_wall_us();
    sim__map_put(&s->bridges, br->id, br);
    return br;
}

void sim__bridge_json(struct sim *s, struct sim_buf *b, const struct sim_bridge *br)
{
    char created[40];
    (void)s;

    sim__format_time(br->created_us, created, sizeof(created));
    SIM_LIT(b, "{\"id\":");
    sim__buf_jstr(b, br->id);
    if (br->holding) {
        SIM_LIT(b, ",\"technology\":\"holding_bridge\",\"bridge_type\":\"holding\"");
    } else if (br->nchans > 2) {
        SIM_LIT(b, ",\"technology\":\"softmix\",\"bridge_type\":\"mixing\"");
    } else {
        SIM_LIT(b, ",\"technology\":\"simple_bridge\",\"bridge_type\":\"mixing\"");
    }
    SIM_LIT(b, ",\"bridge_class\":\"stasis\",\"creator\":\"Stasis\",\"name\":");
    sim__buf_jstr(b, br->name);
    SIM_LIT(b, ",\"channels\":[");
    /* Newest member first, as the reference Asterisk listed them. */
    for (int i = br->nchans - 1; i >= 0; i--) {
        sim__buf_jstr(b, br->chans[i]->id);
        if (i > 0) {
            sim__buf_putc(b, ',');
        }
    }
    SIM_LIT(b, "],\"creationtime\":\"");
    sim__buf_puts(b, created);
    if (br->holding) {
        SIM_LIT(b, "\",\"video_mode\":\"none\"}");
    } else {
        SIM_LIT(b, "\",\"video_mode\":\"talker\"}");
    }
}

void sim__bridge_free(struct sim_bridge *br)
{
    if (sim__map_get(&br->sim->bridges, br->id) == br) {
        sim__map_del(&br->sim->bridges, br->id);
    }
    free(br->chans);
    free(br->id);
    free(br->name);
    free(br->types);
    free(br);
}
