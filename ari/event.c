/* SPDX-License-Identifier: MIT */
/*
 * event: one events-WebSocket message in, one typed struct ari_event out.
 *
 * A message is a JSON object whose "type" picks the payload layout. The
 * common keys (timestamp, application, asterisk_id) form an envelope decoded
 * by a small hand-written descriptor; the payload is decoded by the event's
 * generated descriptor (ari_desc.c) straight into the union inside struct
 * ari_event. The type name is found by binary search over the generated
 * name table, which is sorted by byte order, so lookup is O(log n) with no
 * hashing or allocation; known types then point type_name at the static
 * table string.
 *
 * Tolerance rules (NOTES.md sections 2 and 9): unknown types become
 * ARI_EVENT_UNKNOWN with a copy of the raw text, unknown keys are never
 * looked at, absent or null optional keys leave zeroed members, and only
 * the keys a message cannot be understood without are required (the swagger's
 * required set, relaxed where real servers omit keys; see
 * scripts/gen_ari_models.py RELAXED). A missing timestamp is tolerated
 * because Asterisk 12 sent playback events without one.
 *
 * Parsing takes the single-pass decoder of fastdec.c first: text straight
 * into the arena structs, about 14,000 instructions for a 500-byte event
 * against 105,000 through jansson's tree. Whatever it does not take (any
 * error, real numbers, repeated keys, escaped keys, non-string variables;
 * see fastdec.c) goes through jansson (json_loadb + the codec.c walk), which
 * stays the reference: it writes every error message, and the unit and fuzz
 * tests check that both paths give equal events. A jansson tree lives only
 * for the duration of the call; the event owns nothing but arena memory. Encoding walks the same
 * tables and places "type", "timestamp", "application" and "asterisk_id" where Asterisk 22 puts
 * them (blob-built events put their blob keys before "type"), so a captured event re-encodes to the
 * same bytes.
 *
 * Routing (ari_event_channel_ids) follows generated steps: pointer member,
 * optional nested pointer member, then the id string or a "channel:<id>"
 * target URI. It never allocates, and returns pointers into the event.
 */
#include <stdio.h>
#include <string.h>

#include "ari/ari_int.h"
#include "core/err.h"
#include "core/log.h"

/* ---------------------------------------------------------------------- */
/* Envelope                                                                */
/* ---------------------------------------------------------------------- */

#define ENVELOPE_FIELDS(app_flags)                                                             \
    { "timestamp",                                                                             \
      ARI__K_DATE,                                                                             \
      0,                                                                                       \
      0,                                                                                       \
      offsetof(struct ari_event, timestamp),                                                   \
      offsetof(struct ari_event, timestamp_us),                                                \
      NULL },                                                                                  \
        { "application", ARI__K_STR, (app_flags), 0, offsetof(struct ari_event, application),  \
          ARI__NO_OFF,   NULL },                                                               \
    {                                                                                          \
        "asterisk_id", ARI__K_STR, 0, 0, offsetof(struct ari_event, asterisk_id), ARI__NO_OFF, \
            NULL                                                                               \
    }

/* An Event: application is required. */
static const struct ari__field envelope_event_fields[] = { ENVELOPE_FIELDS(ARI__F_REQUIRED) };
static const struct ari__model envelope_event = { "Event", sizeof(struct ari_event), 3,
                                                  envelope_event_fields };

/* A bare Message (MissingParams) or an unknown type: nothing is required. */
static const struct ari__field envelope_message_fields[] = { ENVELOPE_FIELDS(0) };
static const struct ari__model envelope_message = { "Message", sizeof(struct ari_event), 3,
                                                    envelope_message_fields };

/* ---------------------------------------------------------------------- */
/* Type names                                                              */
/* ---------------------------------------------------------------------- */

static int name_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c != 0) {
        return c;
    }
    return alen < blen ? -1 : (alen > blen ? 1 : 0);
}

enum ari_event_type ari_event_type_from_name(const char *name, size_t len)
{
    size_t lo = 1;
    size_t hi = ARI_EVENT_COUNT_;

    if (name == NULL) {
        return ARI_EVENT_UNKNOWN;
    }
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct ari__event_desc *e = &ari__events[mid];
        int c = name_cmp(name, len, e->name, e->name_len);
        if (c == 0) {
            return (enum ari_event_type)mid;
        }
        if (c < 0) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    return ARI_EVENT_UNKNOWN;
}

const char *ari_event_type_name(enum ari_event_type type)
{
    if ((unsigned)type >= ARI_EVENT_COUNT_) {
        return "";
    }
    return ari__events[type].name;
}

/* ---------------------------------------------------------------------- */
/* Parse                                                                   */
/* ---------------------------------------------------------------------- */

/* Turns the codec's (field, reason) into the final one-line message. */
static void finish_error(struct ari_parse_error *err, const char *type_name)
{
    char reason[sizeof(err->message)];
    int n;

    memcpy(reason, err->message, sizeof(reason));
    reason[sizeof(reason) - 1] = '\0';
    /* Truncation is acceptable: the message is for humans and logs. */
    if (err->field[0] != '\0') {
        n = snprintf(err->message, sizeof(err->message), "%.60s%s%s: %s", type_name,
                     err->field[0] == '[' ? "" : ".", err->field, reason);
    } else {
        n = snprintf(err->message, sizeof(err->message), "%.60s: %s", type_name, reason);
    }
    if (n < 0) {
        err->message[0] = '\0';
    }
}

static void *payload_of(struct ari_event *ev)
{
    return &ev->_payload;
}

static const void *payload_of_const(const struct ari_event *ev)
{
    return &ev->_payload;
}

/* Copies the raw message (the given text, or obj's encoding) into ev. */
static int keep_raw(struct ari__dec *d, struct ari_event *ev, const json_t *obj, const char *text,
                    size_t len)
{
    char *p;

    if (text == NULL) {
        len = json_dumpb(obj, NULL, 0, JSON_COMPACT);
        if (len == 0) {
            return ERR_NOMEM;
        }
    }
    p = arena_alloc(d->a, len + 1);
    if (p == NULL) {
        return ERR_NOMEM;
    }
    if (text != NULL) {
        memcpy(p, text, len);
    } else if (json_dumpb(obj, p, len, JSON_COMPACT) != len) {
        return ERR_NOMEM;
    }
    p[len] = '\0';
    ev->raw = p;
    ev->raw_len = len;
    return 0;
}

static int decode_event(const json_t *obj, struct arena *a, struct ari_event **out,
                        struct ari_parse_error *err, const char *text, size_t len)
{
    struct ari__dec d = { a, err };
    const struct ari__event_desc *desc;
    struct ari_event *ev;
    const json_t *t;
    const char *type_name = "message";
    int rc;

    if (!json_is_object(obj)) {
        rc = ari__fail(err, "expected a JSON object, got %s", ari__json_type_name(obj));
        goto fail;
    }
    t = json_object_get(obj, "type");
    if (t == NULL || !json_is_string(t)) {
        if (t == NULL) {
            rc = ari__fail(err, "missing required key");
        } else {
            rc = ari__fail(err, "expected string, got %s", ari__json_type_name(t));
        }
        ari__path_prepend(err, "type", 0);
        goto fail;
    }
    ev = arena_calloc(a, sizeof(*ev));
    if (ev == NULL) {
        return ERR_NOMEM;
    }
    ev->type = ari_event_type_from_name(json_string_value(t), json_string_length(t));
    desc = &ari__events[ev->type];
    if (ev->type != ARI_EVENT_UNKNOWN) {
        ev->type_name = desc->name;
    } else {
        ev->type_name = arena_strndup(a, json_string_value(t), json_string_length(t));
        if (ev->type_name == NULL) {
            return ERR_NOMEM;
        }
    }
    type_name = ev->type_name;
    rc = ari__decode_model(
        &d, (ev->type != ARI_EVENT_UNKNOWN && desc->is_event) ? &envelope_event : &envelope_message,
        obj, ev);
    if (rc == 0 && desc->payload != NULL && desc->payload->n_fields > 0) {
        rc = ari__decode_model(&d, desc->payload, obj, payload_of(ev));
    }
    if (rc == 0 && ev->type == ARI_EVENT_UNKNOWN) {
        rc = keep_raw(&d, ev, obj, text, len);
    }
    if (rc != 0) {
        goto fail;
    }
    *out = ev;
    return 0;

fail:
    if (rc == ERR_PARSE) {
        finish_error(err, type_name);
        LOG_DEBUG(ARI, "event=parse_failed field=%s msg=\"%s\"", err->field, err->message);
    }
    return rc;
}

int ari_event_from_json(const json_t *obj, struct arena *a, struct ari_event **out,
                        struct ari_parse_error *err)
{
    struct ari_parse_error local;

    if (out != NULL) {
        *out = NULL;
    }
    if (obj == NULL || a == NULL || out == NULL) {
        return ERR_INVAL;
    }
    return decode_event(obj, a, out, err != NULL ? err : &local, NULL, 0);
}

/* jansson's tree of text, or NULL with err filled and *rc set. */
static json_t *load_json(const char *text, size_t len, struct ari_parse_error *err, int *rc)
{
    json_error_t jerr;
    json_t *root;

    if (len > ARI_EVENT_MAX_LEN) {
        ari__fail(err, "message of %zu bytes exceeds the %zu-byte limit", len, ARI_EVENT_MAX_LEN);
        *rc = ERR_TOOBIG;
        return NULL;
    }
    root = json_loadb(text, len, 0, &jerr);
    if (root == NULL) {
        if (json_error_code(&jerr) == json_error_out_of_memory) {
            *rc = ERR_NOMEM;
            return NULL;
        }
        ari__fail(err, "not valid JSON: %s (line %d, column %d)", jerr.text, jerr.line,
                  jerr.column);
        *rc = ERR_PARSE;
    }
    return root;
}

int ari__event_parse_jansson(const char *text, size_t len, struct arena *a, struct ari_event **out,
                             struct ari_parse_error *err)
{
    struct ari_parse_error local;
    json_t *root;
    int rc = 0;

    if (out != NULL) {
        *out = NULL;
    }
    if (text == NULL || a == NULL || out == NULL) {
        return ERR_INVAL;
    }
    if (err == NULL) {
        err = &local;
    }
    root = load_json(text, len, err, &rc);
    if (root == NULL) {
        if (rc == ERR_PARSE || rc == ERR_TOOBIG) {
            finish_error(err, "message");
            LOG_DEBUG(ARI, "event=parse_failed msg=\"%s\"", err->message);
        }
        return rc;
    }
    rc = decode_event(root, a, out, err, text, len);
    json_decref(root);
    return rc;
}

int ari__event_parse_fast(const char *text, size_t len, struct arena *a, struct ari_event **out)
{
    *out = NULL;
    return ari__fast_event(text, len, a, &envelope_event, &envelope_message, out);
}

int ari_event_parse_ex(const char *text, size_t len, struct arena *a, struct ari_event **out,
                       struct ari_parse_error *err)
{
    int rc;

    if (out != NULL) {
        *out = NULL;
    }
    if (text == NULL || a == NULL || out == NULL) {
        return ERR_INVAL;
    }
    if (len <= ARI_EVENT_MAX_LEN) {
        rc = ari__fast_event(text, len, a, &envelope_event, &envelope_message, out);
        if (rc != ARI__FALLBACK) {
            return rc;
        }
        *out = NULL;
    }
    return ari__event_parse_jansson(text, len, a, out, err);
}

int ari_event_parse(const char *text, size_t len, struct arena *a, struct ari_event **out)
{
    return ari_event_parse_ex(text, len, a, out, NULL);
}

/* ---------------------------------------------------------------------- */
/* Encode                                                                  */
/* ---------------------------------------------------------------------- */

static int set_str(json_t *obj, const char *key, const char *value)
{
    if (value == NULL) {
        return 0;
    }
    return json_object_set_new(obj, key, json_string(value)) == 0 ? 0 : ERR_NOMEM;
}

static int set_timestamp(json_t *obj, const struct ari_event *ev)
{
    char buf[ARI_TIME_BUFSZ];

    if (ev->timestamp != NULL) {
        return set_str(obj, "timestamp", ev->timestamp);
    }
    if (ev->timestamp_us == 0) {
        return 0;
    }
    if (ari_time_format(ev->timestamp_us, buf, sizeof(buf)) < 0) {
        return ERR_INVAL;
    }
    return set_str(obj, "timestamp", buf);
}

json_t *ari_event_to_json(const struct ari_event *ev)
{
    const struct ari__event_desc *desc;
    const struct ari__model *pm;
    json_t *obj;
    int rc = 0;

    if (ev == NULL || (unsigned)ev->type >= ARI_EVENT_COUNT_) {
        return NULL;
    }
    if (ev->type == ARI_EVENT_UNKNOWN) {
        return ev->raw != NULL ? json_loadb(ev->raw, ev->raw_len, 0, NULL) : NULL;
    }
    desc = &ari__events[ev->type];
    pm = desc->payload;
    if (desc->is_event && ev->application == NULL) {
        LOG_DEBUG(ARI, "event=encode_failed type=%s key=application reason=missing_required",
                  desc->name);
        return NULL;
    }
    obj = json_object();
    if (obj == NULL) {
        return NULL;
    }
    rc = ari__encode_fields(pm, payload_of_const(ev), obj, true);
    if (rc == 0) {
        rc = set_str(obj, "type", desc->name);
    }
    if (rc == 0 && desc->layout == ARI__LAYOUT_APP_SECOND) {
        rc = set_str(obj, "application", ev->application);
    }
    if (rc == 0) {
        rc = set_timestamp(obj, ev);
    }
    if (rc == 0) {
        rc = ari__encode_fields(pm, payload_of_const(ev), obj, false);
    }
    if (rc == 0 && desc->layout == ARI__LAYOUT_APP_BEFORE_ID) {
        rc = set_str(obj, "application", ev->application);
    }
    if (rc == 0) {
        rc = set_str(obj, "asterisk_id", ev->asterisk_id);
    }
    if (rc == 0 && desc->layout == ARI__LAYOUT_DEFAULT) {
        rc = set_str(obj, "application", ev->application);
    }
    if (rc != 0) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

/* ---------------------------------------------------------------------- */
/* Equality                                                                */
/* ---------------------------------------------------------------------- */

static bool raw_equal(const struct ari_event *a, const struct ari_event *b)
{
    json_t *ja;
    json_t *jb;
    bool eq;

    if (a->raw == NULL || b->raw == NULL) {
        return a->raw == b->raw;
    }
    ja = json_loadb(a->raw, a->raw_len, 0, NULL);
    jb = json_loadb(b->raw, b->raw_len, 0, NULL);
    eq = ja != NULL && jb != NULL && json_equal(ja, jb);
    json_decref(ja);
    json_decref(jb);
    return eq;
}

bool ari_event_equal(const struct ari_event *a, const struct ari_event *b)
{
    if (a == NULL || b == NULL) {
        return a == b;
    }
    if (a->type != b->type || (unsigned)a->type >= ARI_EVENT_COUNT_ || a->type_name == NULL ||
        b->type_name == NULL || strcmp(a->type_name, b->type_name) != 0) {
        return false;
    }
    if (!ari__equal_fields(&envelope_message, a, b)) {
        return false;
    }
    if (a->type == ARI_EVENT_UNKNOWN) {
        return raw_equal(a, b);
    }
    return ari__equal_fields(ari__events[a->type].payload, payload_of_const(a),
                             payload_of_const(b));
}

/* ---------------------------------------------------------------------- */
/* Routing                                                                 */
/* ---------------------------------------------------------------------- */

/* The id a route step leads to in the payload at base, or NULL. */
static const char *route_id(const void *base, const struct ari__route *r)
{
    const char *p = ari__get_ptr(base, r->off1);
    const char *s;

    if (p == NULL) {
        return NULL;
    }
    if (r->off2 != ARI__NO_OFF) {
        p = ari__get_ptr(p, r->off2);
        if (p == NULL) {
            return NULL;
        }
    }
    s = ari__get_ptr(p, r->off_id);
    if (s == NULL) {
        return NULL;
    }
    if (r->prefix != NULL) {
        size_t plen = strlen(r->prefix);
        if (strncmp(s, r->prefix, plen) != 0) {
            return NULL;
        }
        s += plen;
    }
    return *s != '\0' ? s : NULL;
}

size_t ari_event_channel_ids(const struct ari_event *ev, const char **ids, size_t max)
{
    /* Routes are few (test_desc checks at most eight), so dedupe in a local array and
     * copy out: the count is then exact whatever max is. */
    const char *found[16];
    const struct ari__event_desc *desc;
    const void *base;
    size_t n = 0;

    if (ev == NULL || (unsigned)ev->type >= ARI_EVENT_COUNT_) {
        return 0;
    }
    desc = &ari__events[ev->type];
    base = payload_of_const(ev);
    for (size_t i = 0; i < desc->n_chan_routes && n < sizeof(found) / sizeof(found[0]); i++) {
        const char *id = route_id(base, &desc->chan_routes[i]);
        bool dup = false;
        if (id == NULL) {
            continue;
        }
        for (size_t k = 0; k < n && !dup; k++) {
            dup = strcmp(found[k], id) == 0;
        }
        if (!dup) {
            found[n++] = id;
        }
    }
    for (size_t k = 0; k < n && k < max; k++) {
        ids[k] = found[k];
    }
    return n;
}

const char *ari_event_channel_id(const struct ari_event *ev)
{
    const struct ari__event_desc *desc;

    if (ev == NULL || (unsigned)ev->type >= ARI_EVENT_COUNT_) {
        return NULL;
    }
    desc = &ari__events[ev->type];
    for (size_t i = 0; i < desc->n_chan_routes; i++) {
        const char *id = route_id(payload_of_const(ev), &desc->chan_routes[i]);
        if (id != NULL) {
            return id;
        }
    }
    return NULL;
}

const char *ari_event_bridge_id(const struct ari_event *ev)
{
    const struct ari__event_desc *desc;

    if (ev == NULL || (unsigned)ev->type >= ARI_EVENT_COUNT_) {
        return NULL;
    }
    desc = &ari__events[ev->type];
    for (size_t i = 0; i < desc->n_bridge_routes; i++) {
        const char *id = route_id(payload_of_const(ev), &desc->bridge_routes[i]);
        if (id != NULL) {
            return id;
        }
    }
    return NULL;
}

/* ---------------------------------------------------------------------- */
/* Models                                                                  */
/* ---------------------------------------------------------------------- */

const char *ari_model_name(enum ari_model_type type)
{
    return (unsigned)type < ARI_MODEL_COUNT_ ? ari__models[type]->name : "";
}

size_t ari_model_size(enum ari_model_type type)
{
    return (unsigned)type < ARI_MODEL_COUNT_ ? ari__models[type]->size : 0;
}

int ari_model_from_json(enum ari_model_type type, const json_t *obj, struct arena *a, void *out,
                        struct ari_parse_error *err)
{
    struct ari_parse_error local;
    struct ari__dec d = { a, err != NULL ? err : &local };
    const struct ari__model *m;
    int rc;

    if ((unsigned)type >= ARI_MODEL_COUNT_ || obj == NULL || a == NULL || out == NULL) {
        return ERR_INVAL;
    }
    m = ari__models[type];
    memset(out, 0, m->size);
    rc = ari__decode_model(&d, m, obj, out);
    if (rc == ERR_PARSE) {
        finish_error(d.err, m->name);
        LOG_DEBUG(ARI, "event=model_parse_failed field=%s msg=\"%s\"", d.err->field,
                  d.err->message);
    }
    return rc;
}

int ari__model_parse_jansson(enum ari_model_type type, const char *text, size_t len,
                             struct arena *a, void *out, struct ari_parse_error *err)
{
    struct ari_parse_error local;
    json_t *root;
    int rc = 0;

    if ((unsigned)type >= ARI_MODEL_COUNT_ || text == NULL || a == NULL || out == NULL) {
        return ERR_INVAL;
    }
    if (err == NULL) {
        err = &local;
    }
    root = load_json(text, len, err, &rc);
    if (root == NULL) {
        if (rc == ERR_PARSE || rc == ERR_TOOBIG) {
            finish_error(err, ari__models[type]->name);
        }
        return rc;
    }
    rc = ari_model_from_json(type, root, a, out, err);
    json_decref(root);
    return rc;
}

int ari_model_parse(enum ari_model_type type, const char *text, size_t len, struct arena *a,
                    void *out, struct ari_parse_error *err)
{
    int rc;

    if ((unsigned)type >= ARI_MODEL_COUNT_ || text == NULL || a == NULL || out == NULL) {
        return ERR_INVAL;
    }
    if (len <= ARI_EVENT_MAX_LEN) {
        memset(out, 0, ari__models[type]->size);
        rc = ari__fast_model(ari__models[type], text, len, a, out);
        if (rc != ARI__FALLBACK) {
            return rc;
        }
    }
    /* ari_model_from_json() zeroes out again before decoding. */
    return ari__model_parse_jansson(type, text, len, a, out, err);
}

int ari_channel_parse(const char *text, size_t len, struct arena *a, struct ari_channel *out,
                      struct ari_parse_error *err)
{
    return ari_model_parse(ARI_MODEL_CHANNEL, text, len, a, out, err);
}

json_t *ari_model_to_json(enum ari_model_type type, const void *model)
{
    json_t *obj;

    if ((unsigned)type >= ARI_MODEL_COUNT_ || model == NULL) {
        return NULL;
    }
    obj = json_object();
    if (obj != NULL && ari__encode_fields(ari__models[type], model, obj, false) != 0) {
        json_decref(obj);
        obj = NULL;
    }
    return obj;
}

bool ari_model_equal(enum ari_model_type type, const void *a, const void *b)
{
    if ((unsigned)type >= ARI_MODEL_COUNT_) {
        return false;
    }
    if (a == NULL || b == NULL) {
        return a == b;
    }
    return ari__equal_fields(ari__models[type], a, b);
}

/* ---------------------------------------------------------------------- */
/* Enumerated strings                                                      */
/* ---------------------------------------------------------------------- */

static int enum_from(enum ari__enum_id id, const char *s)
{
    return s != NULL ? ari__enum_code(id, s, strlen(s)) : 0;
}

static const char *enum_name_or(enum ari__enum_id id, int code, const char *fallback)
{
    const char *s = code != 0 ? ari__enum_name(id, code) : NULL;
    return s != NULL ? s : fallback;
}

enum ari_channel_state ari_channel_state_from_name(const char *s)
{
    return (enum ari_channel_state)enum_from(ARI__ENUM_CHANNEL_STATE, s);
}

const char *ari_channel_state_name(enum ari_channel_state state)
{
    return enum_name_or(ARI__ENUM_CHANNEL_STATE, (int)state, "Unknown");
}

enum ari_dialstatus ari_dialstatus_from_name(const char *s)
{
    return (enum ari_dialstatus)enum_from(ARI__ENUM_DIALSTATUS, s);
}

const char *ari_dialstatus_name(enum ari_dialstatus status)
{
    return enum_name_or(ARI__ENUM_DIALSTATUS, (int)status, "UNKNOWN");
}

enum ari_playback_state ari_playback_state_from_name(const char *s)
{
    return (enum ari_playback_state)enum_from(ARI__ENUM_PLAYBACK_STATE, s);
}

const char *ari_playback_state_name(enum ari_playback_state state)
{
    return enum_name_or(ARI__ENUM_PLAYBACK_STATE, (int)state, "unknown");
}

enum ari_recording_state ari_recording_state_from_name(const char *s)
{
    return (enum ari_recording_state)enum_from(ARI__ENUM_RECORDING_STATE, s);
}

const char *ari_recording_state_name(enum ari_recording_state state)
{
    return enum_name_or(ARI__ENUM_RECORDING_STATE, (int)state, "unknown");
}
