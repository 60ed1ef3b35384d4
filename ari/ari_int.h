/* SPDX-License-Identifier: MIT */
/*
 * ari_int: module-private declarations of the ARI event layer.
 *
 * The layer is table-driven. scripts/gen_ari_models.py turns the swagger
 * into one struct ari__model per model and per event payload (ari_desc.c):
 * each field says its JSON key, its kind (how the JSON value maps to C),
 * whether it is required, and the offsets of its members in the C struct.
 * codec.c walks those tables to decode, encode and compare; event.c adds
 * the event envelope (type, timestamp, application, asterisk_id) and the
 * routing steps. Nothing here allocates outside the caller's arena, except
 * jansson's own tree while a message is being decoded.
 */
#ifndef ARI_ARI_INT_H
#define ARI_ARI_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ari/ari.h"

/* How a field's JSON value maps to C (see scripts/gen_ari_models.py). */
enum ari__kind {
    ARI__K_STR,       /* string -> const char * */
    ARI__K_INT,       /* integer -> int (+ bool has_ at off2 when optional) */
    ARI__K_LONG,      /* integer -> int64_t (+ has_) */
    ARI__K_BOOL,      /* true/false -> bool (+ has_) */
    ARI__K_DATE,      /* string -> const char * + int64_t epoch us at off2 */
    ARI__K_ENUM,      /* string -> const char * + enum code (int) at off2 */
    ARI__K_STRLIST,   /* array of strings -> const char ** + size_t count at off2 */
    ARI__K_VARS,      /* object -> struct ari_var * + size_t count at off2 */
    ARI__K_MODEL,     /* object -> struct <sub> * */
    ARI__K_MODELLIST, /* array of objects -> struct <sub> * (array) + size_t count at off2 */
};

#define ARI__F_REQUIRED 0x01 /* missing or null is ERR_PARSE */
#define ARI__F_PRE      0x02 /* event payload key Asterisk emits before "type" */

#define ARI__NO_OFF ((uint16_t)0xffff) /* off2 of fields without a companion member */

/* Which enumerated-string table an ARI__K_ENUM field uses (ari__enums[]). */
enum ari__enum_id {
    ARI__ENUM_CHANNEL_STATE,
    ARI__ENUM_DIALSTATUS,
    ARI__ENUM_PLAYBACK_STATE,
    ARI__ENUM_RECORDING_STATE,
    ARI__ENUM_COUNT_
};

struct ari__model;

struct ari__field {
    const char *name;             /* JSON key, NUL-terminated */
    uint8_t kind;                 /* enum ari__kind */
    uint8_t flags;                /* ARI__F_* */
    uint8_t aux;                  /* ARI__K_ENUM: enum ari__enum_id */
    uint16_t off;                 /* offset of the value member */
    uint16_t off2;                /* offset of has_/_us/_code/n_ member, or ARI__NO_OFF */
    const struct ari__model *sub; /* ARI__K_MODEL, ARI__K_MODELLIST: the element model */
};

struct ari__model {
    const char *name;                /* swagger model name ("Channel", "StasisStart") */
    uint16_t size;                   /* sizeof the C struct (0 for payload-less events) */
    uint16_t n_fields;               /* entries in fields */
    const struct ari__field *fields; /* in the order Asterisk emits the keys */
};

struct ari__enum_name {
    const char *name; /* the string as emitted ("Dialing Offhook") */
    uint8_t len;      /* strlen(name) */
    int code;         /* the enum value */
};

struct ari__enum_table {
    const struct ari__enum_name *names; /* canonical names first, then input-only aliases */
    size_t n;                           /* entries in names */
    int count;                          /* the enum's _COUNT_ (codes are 1..count-1) */
};

/*
 * One routing step: p = *(payload + off1); if off2 != ARI__NO_OFF,
 * p = *(p + off2); the id is the string at p + off_id, after prefix when
 * prefix is set (a target_uri such as "channel:<id>"; no match, no id).
 */
struct ari__route {
    uint16_t off1;      /* pointer member of the payload */
    uint16_t off2;      /* pointer member of that model, or ARI__NO_OFF */
    uint16_t off_id;    /* string member holding the id or the target URI */
    const char *prefix; /* "channel:" / "bridge:" for target URIs, else NULL */
};

/* Where "application" goes when encoding (real output differs by event). */
enum ari__layout {
    ARI__LAYOUT_DEFAULT,       /* type, timestamp, payload, asterisk_id, application */
    ARI__LAYOUT_APP_BEFORE_ID, /* type, timestamp, payload, application, asterisk_id */
    ARI__LAYOUT_APP_SECOND,    /* type, application, timestamp, payload, asterisk_id */
};

struct ari__event_desc {
    const char *name;                     /* the "type" value */
    uint8_t name_len;                     /* strlen(name) */
    uint8_t layout;                       /* enum ari__layout */
    bool is_event;                        /* an Event (application required), not a bare Message */
    const struct ari__model *payload;     /* payload fields, offsets from the union start */
    const struct ari__route *chan_routes; /* channel ids, primary first */
    uint8_t n_chan_routes;
    const struct ari__route *bridge_routes; /* bridge ids, primary first */
    uint8_t n_bridge_routes;
};

/* The pointer member at base + off (members are addressed by offset; memcpy avoids type punning).
 */
static inline void *ari__get_ptr(const void *base, uint16_t off)
{
    void *p;
    memcpy(&p, (const char *)base + off, sizeof(p));
    return p;
}

/* Generated tables (ari_desc.c). */
extern const struct ari__event_desc ari__events[ARI_EVENT_COUNT_];
extern const struct ari__model *const ari__models[ARI_MODEL_COUNT_];
extern const struct ari__enum_table ari__enums[ARI__ENUM_COUNT_];

/* Decoder state shared by codec.c and event.c. */
struct ari__dec {
    struct arena *a;             /* where everything decoded goes */
    struct ari_parse_error *err; /* filled on ERR_PARSE; never NULL inside the codec */
};

/*
 * Decodes obj into the zeroed struct at dst following m. Returns 0,
 * ERR_PARSE (d->err->field holds the path below obj, d->err->message the
 * reason only) or ERR_NOMEM. obj is borrowed.
 */
int ari__decode_model(struct ari__dec *d, const struct ari__model *m, const json_t *obj, void *dst);

/*
 * Adds the fields of m found in src to the JSON object obj, in table order.
 * with_pre selects the ARI__F_PRE fields (true) or the others (false); a
 * non-event model passes false and gets every field. Returns 0, ERR_NOMEM,
 * or ERR_INVAL when a required member is NULL (logged with its key).
 */
int ari__encode_fields(const struct ari__model *m, const void *src, json_t *obj, bool with_pre);

/* Deep equality of two structs described by m (both non-NULL). */
bool ari__equal_fields(const struct ari__model *m, const void *a, const void *b);

/* Prepends "name" (or "[index]" when name is NULL) to err->field. */
void ari__path_prepend(struct ari_parse_error *err, const char *name, size_t index);

/* Sets err->message from a format and clears err->field; returns ERR_PARSE. */
int ari__fail(struct ari_parse_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The code of the len bytes at s in enum table id, or 0 (UNKNOWN). */
int ari__enum_code(enum ari__enum_id id, const char *s, size_t len);

/* The canonical string of code in enum table id, or NULL. */
const char *ari__enum_name(enum ari__enum_id id, int code);

/* "object", "string", ... for messages. */
const char *ari__json_type_name(const json_t *v);

/* Shared target of every decoded empty string and empty list (never written). */
extern char ari__empty_string[1];
extern max_align_t ari__empty_array[1];

/*
 * The fast decoder (fastdec.c): text straight into the structs, no jansson
 * tree. Returns 0 with the same result the jansson path gives, ERR_NOMEM,
 * or ARI__FALLBACK when the text is anything but plain valid ARI JSON (any
 * error included): the caller then runs the jansson path, which is the
 * reference and writes every error message. A fallback may leave unused
 * bytes in the arena.
 */
#define ARI__FALLBACK 1

/* Decodes the object text into the zeroed struct at dst following m. */
int ari__fast_model(const struct ari__model *m, const char *text, size_t len, struct arena *a,
                    void *dst);

/* Decodes one event message; the envelopes are event.c's (application required or not). */
int ari__fast_event(const char *text, size_t len, struct arena *a,
                    const struct ari__model *envelope_event,
                    const struct ari__model *envelope_message, struct ari_event **out);

/* ari__fast_event() with the event envelopes: the fast path alone (tests, fuzzing). */
int ari__event_parse_fast(const char *text, size_t len, struct arena *a, struct ari_event **out);

/*
 * ari_event_parse_ex() and ari_model_parse() through jansson only: the
 * reference the fast decoder is compared with (tests, fuzzing).
 */
int ari__event_parse_jansson(const char *text, size_t len, struct arena *a, struct ari_event **out,
                             struct ari_parse_error *err);
int ari__model_parse_jansson(enum ari_model_type type, const char *text, size_t len,
                             struct arena *a, void *out, struct ari_parse_error *err);

#endif
