/* SPDX-License-Identifier: MIT */
/*
 * codec: the table-driven engine that turns jansson values into the ARI
 * structs of ari/ari_types.h and back, and compares them.
 *
 * Every model and event payload is described by a struct ari__model
 * (generated into ari_desc.c from the swagger): a list of fields, each with
 * its JSON key, kind, required flag and member offsets. Three walkers use
 * the same tables:
 *
 *   decode   for each field, one json_object_get() on the key; absent or
 *            null leaves the zeroed member alone (optional) or fails
 *            (required); a value of the wrong JSON type fails. Strings are
 *            copied into the arena (empty strings share a static ""), nested
 *            models are arena-allocated structs. Unknown keys are never
 *            looked at, which is what makes them free to ignore.
 *   encode   appends the present fields to a JSON object in table order,
 *            which is the order Asterisk emits keys in.
 *   equal    deep comparison, member by member.
 *
 * Cost per decoded model: one hash lookup per known key plus one arena
 * allocation per string and per nested model; no heap allocation (a
 * non-string value inside an object-valued field is re-encoded into a stack
 * buffer, or the arena when it is large). Nesting is bounded by the schema
 * (at most four models deep), so the recursion is too.
 *
 * Errors build their key path on the way out: the innermost failure sets the
 * reason, each level above prepends its key ("caller" then "channel" gives
 * "channel.caller.number"), so success costs nothing for error reporting.
 *
 * Members are read and written through memcpy() at their offsets: the tables
 * address fields generically, and memcpy keeps that free of type-punning.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ari/ari_int.h"
#include "core/err.h"
#include "core/log.h"

/* Shared target of every empty string and empty array (never written). */
char ari__empty_string[1];
max_align_t ari__empty_array[1];

_Static_assert(sizeof(enum ari_channel_state) == sizeof(int), "enum members are stored as int");
_Static_assert(sizeof(enum ari_dialstatus) == sizeof(int), "enum members are stored as int");
_Static_assert(sizeof(enum ari_playback_state) == sizeof(int), "enum members are stored as int");
_Static_assert(sizeof(enum ari_recording_state) == sizeof(int), "enum members are stored as int");

/* ---------------------------------------------------------------------- */
/* Member access                                                           */
/* ---------------------------------------------------------------------- */

static void *get_ptr(const void *base, uint16_t off)
{
    return ari__get_ptr(base, off);
}

static void set_ptr(void *base, uint16_t off, const void *p)
{
    memcpy((char *)base + off, &p, sizeof(p));
}

static size_t get_size(const void *base, uint16_t off)
{
    size_t n;
    memcpy(&n, (const char *)base + off, sizeof(n));
    return n;
}

static void set_size(void *base, uint16_t off, size_t n)
{
    memcpy((char *)base + off, &n, sizeof(n));
}

static int get_int(const void *base, uint16_t off)
{
    int v;
    memcpy(&v, (const char *)base + off, sizeof(v));
    return v;
}

static void set_int(void *base, uint16_t off, int v)
{
    memcpy((char *)base + off, &v, sizeof(v));
}

static int64_t get_i64(const void *base, uint16_t off)
{
    int64_t v;
    memcpy(&v, (const char *)base + off, sizeof(v));
    return v;
}

static void set_i64(void *base, uint16_t off, int64_t v)
{
    memcpy((char *)base + off, &v, sizeof(v));
}

static bool get_bool(const void *base, uint16_t off)
{
    bool v;
    memcpy(&v, (const char *)base + off, sizeof(v));
    return v;
}

static void set_bool(void *base, uint16_t off, bool v)
{
    memcpy((char *)base + off, &v, sizeof(v));
}

/* ---------------------------------------------------------------------- */
/* Errors                                                                  */
/* ---------------------------------------------------------------------- */

const char *ari__json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return "real";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    case JSON_NULL:
        return "null";
    }
    return "?";
}

int ari__fail(struct ari_parse_error *err, const char *fmt, ...)
{
    va_list ap;

    err->field[0] = '\0';
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return ERR_PARSE;
}

void ari__path_prepend(struct ari_parse_error *err, const char *name, size_t index)
{
    char part[80];
    size_t have = strlen(err->field);
    int n;

    /* A name follows with ".", an index directly: "a.b", "a[2].b", "a[2][0]". */
    const char *dot = (have > 0 && err->field[0] != '[') ? "." : "";
    if (name != NULL) {
        n = snprintf(part, sizeof(part), "%s%s", name, dot);
    } else {
        n = snprintf(part, sizeof(part), "[%zu]%s", index, dot);
    }
    if (n < 0) {
        return;
    }
    size_t plen = (size_t)n < sizeof(part) ? (size_t)n : sizeof(part) - 1;
    if (plen + have >= sizeof(err->field)) {
        /* No room: keep the inner part already there (it names the failing key) and drop
         * the outer levels. Paths are bounded by the schema, so this needs key names far
         * longer than any ARI has. */
        return;
    }
    memmove(err->field + plen, err->field, have);
    memcpy(err->field, part, plen);
    err->field[plen + have] = '\0';
}

static int fail_type(struct ari__dec *d, const char *want, const json_t *v)
{
    return ari__fail(d->err, "expected %s, got %s", want, ari__json_type_name(v));
}

/* ---------------------------------------------------------------------- */
/* Enumerated strings                                                      */
/* ---------------------------------------------------------------------- */

int ari__enum_code(enum ari__enum_id id, const char *s, size_t len)
{
    const struct ari__enum_table *t = &ari__enums[id];

    for (size_t i = 0; i < t->n; i++) {
        if (t->names[i].len == len && memcmp(t->names[i].name, s, len) == 0) {
            return t->names[i].code;
        }
    }
    return 0;
}

const char *ari__enum_name(enum ari__enum_id id, int code)
{
    const struct ari__enum_table *t = &ari__enums[id];

    /* Canonical names come first, so the first match is the one to emit. */
    for (size_t i = 0; i < t->n; i++) {
        if (t->names[i].code == code) {
            return t->names[i].name;
        }
    }
    return NULL;
}

/* ---------------------------------------------------------------------- */
/* Decode                                                                  */
/* ---------------------------------------------------------------------- */

static const char *copy_string(struct ari__dec *d, const json_t *v)
{
    size_t len = json_string_length(v);
    if (len == 0) {
        return ari__empty_string;
    }
    return arena_strndup(d->a, json_string_value(v), len);
}

/* The compact JSON text of v, in the arena. */
static const char *copy_json_text(struct ari__dec *d, const json_t *v)
{
    char buf[256];
    const size_t flags = JSON_COMPACT | JSON_ENCODE_ANY;
    size_t n = json_dumpb(v, buf, sizeof(buf), flags);

    if (n == 0) {
        return NULL;
    }
    if (n <= sizeof(buf)) {
        return arena_strndup(d->a, buf, n);
    }
    char *p = arena_alloc(d->a, n + 1);
    if (p == NULL || json_dumpb(v, p, n, flags) != n) {
        return NULL;
    }
    p[n] = '\0';
    return p;
}

static int decode_vars(struct ari__dec *d, const json_t *obj, struct ari_var **out, size_t *n_out)
{
    size_t n = json_object_size(obj);
    struct ari_var *vars;
    const char *key;
    json_t *v;
    size_t i = 0;

    if (n == 0) {
        *out = (struct ari_var *)(void *)ari__empty_array;
        *n_out = 0;
        return 0;
    }
    vars = arena_alloc(d->a, n * sizeof(*vars));
    if (vars == NULL) {
        return ERR_NOMEM;
    }
    json_object_foreach ((json_t *)obj, key, v) {
        size_t klen = strlen(key);
        vars[i].name = klen == 0 ? ari__empty_string : arena_strndup(d->a, key, klen);
        if (json_is_string(v)) {
            vars[i].value = copy_string(d, v);
            vars[i].json = false;
        } else {
            vars[i].value = copy_json_text(d, v);
            vars[i].json = true;
        }
        if (vars[i].name == NULL || vars[i].value == NULL) {
            return ERR_NOMEM;
        }
        i++;
    }
    *out = vars;
    *n_out = i;
    return 0;
}

static int decode_strlist(struct ari__dec *d, const json_t *arr, const char ***out, size_t *n_out)
{
    size_t n = json_array_size(arr);
    const char **list;

    if (n == 0) {
        *out = (const char **)(void *)ari__empty_array;
        *n_out = 0;
        return 0;
    }
    list = arena_alloc(d->a, n * sizeof(*list));
    if (list == NULL) {
        return ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_array_get(arr, i);
        if (!json_is_string(v)) {
            int rc = fail_type(d, "string", v);
            ari__path_prepend(d->err, NULL, i);
            return rc;
        }
        list[i] = copy_string(d, v);
        if (list[i] == NULL) {
            return ERR_NOMEM;
        }
    }
    *out = list;
    *n_out = n;
    return 0;
}

static int decode_modellist(struct ari__dec *d, const struct ari__model *sub, const json_t *arr,
                            void **out, size_t *n_out)
{
    size_t n = json_array_size(arr);
    char *items;

    if (n == 0) {
        *out = ari__empty_array;
        *n_out = 0;
        return 0;
    }
    items = arena_calloc(d->a, n * sub->size);
    if (items == NULL) {
        return ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        int rc = ari__decode_model(d, sub, json_array_get(arr, i), items + i * sub->size);
        if (rc != 0) {
            if (rc == ERR_PARSE) {
                ari__path_prepend(d->err, NULL, i);
            }
            return rc;
        }
    }
    *out = items;
    *n_out = n;
    return 0;
}

/* Decodes the present, non-null value v of field f into dst. */
static int decode_field(struct ari__dec *d, const struct ari__field *f, const json_t *v, void *dst)
{
    switch ((enum ari__kind)f->kind) {
    case ARI__K_STR: {
        if (!json_is_string(v)) {
            return fail_type(d, "string", v);
        }
        const char *s = copy_string(d, v);
        if (s == NULL) {
            return ERR_NOMEM;
        }
        set_ptr(dst, f->off, s);
        return 0;
    }
    case ARI__K_INT: {
        if (!json_is_integer(v)) {
            return fail_type(d, "integer", v);
        }
        json_int_t x = json_integer_value(v);
        if (x < INT_MIN || x > INT_MAX) {
            return ari__fail(d->err, "integer %lld out of range", (long long)x);
        }
        set_int(dst, f->off, (int)x);
        if (f->off2 != ARI__NO_OFF) {
            set_bool(dst, f->off2, true);
        }
        return 0;
    }
    case ARI__K_LONG:
        if (!json_is_integer(v)) {
            return fail_type(d, "integer", v);
        }
        set_i64(dst, f->off, (int64_t)json_integer_value(v));
        if (f->off2 != ARI__NO_OFF) {
            set_bool(dst, f->off2, true);
        }
        return 0;
    case ARI__K_BOOL:
        if (!json_is_boolean(v)) {
            return fail_type(d, "boolean", v);
        }
        set_bool(dst, f->off, json_is_true(v));
        if (f->off2 != ARI__NO_OFF) {
            set_bool(dst, f->off2, true);
        }
        return 0;
    case ARI__K_DATE: {
        int64_t us;
        if (!json_is_string(v)) {
            return fail_type(d, "date string", v);
        }
        if (ari_time_parse(json_string_value(v), json_string_length(v), &us) != 0) {
            return ari__fail(d->err, "invalid date \"%.40s\"", json_string_value(v));
        }
        const char *s = copy_string(d, v);
        if (s == NULL) {
            return ERR_NOMEM;
        }
        set_ptr(dst, f->off, s);
        set_i64(dst, f->off2, us);
        return 0;
    }
    case ARI__K_ENUM: {
        if (!json_is_string(v)) {
            return fail_type(d, "string", v);
        }
        const char *s = copy_string(d, v);
        if (s == NULL) {
            return ERR_NOMEM;
        }
        set_ptr(dst, f->off, s);
        set_int(
            dst, f->off2,
            ari__enum_code((enum ari__enum_id)f->aux, json_string_value(v), json_string_length(v)));
        return 0;
    }
    case ARI__K_STRLIST: {
        const char **list = NULL;
        size_t n = 0;
        if (!json_is_array(v)) {
            return fail_type(d, "array", v);
        }
        int rc = decode_strlist(d, v, &list, &n);
        if (rc != 0) {
            return rc;
        }
        set_ptr(dst, f->off, list);
        set_size(dst, f->off2, n);
        return 0;
    }
    case ARI__K_VARS: {
        struct ari_var *vars = NULL;
        size_t n = 0;
        if (!json_is_object(v)) {
            return fail_type(d, "object", v);
        }
        int rc = decode_vars(d, v, &vars, &n);
        if (rc != 0) {
            return rc;
        }
        set_ptr(dst, f->off, vars);
        set_size(dst, f->off2, n);
        return 0;
    }
    case ARI__K_MODEL: {
        if (!json_is_object(v)) {
            return fail_type(d, "object", v);
        }
        void *sub = arena_calloc(d->a, f->sub->size);
        if (sub == NULL) {
            return ERR_NOMEM;
        }
        int rc = ari__decode_model(d, f->sub, v, sub);
        if (rc != 0) {
            return rc;
        }
        set_ptr(dst, f->off, sub);
        return 0;
    }
    case ARI__K_MODELLIST: {
        void *items = NULL;
        size_t n = 0;
        if (!json_is_array(v)) {
            return fail_type(d, "array", v);
        }
        int rc = decode_modellist(d, f->sub, v, &items, &n);
        if (rc != 0) {
            return rc;
        }
        set_ptr(dst, f->off, items);
        set_size(dst, f->off2, n);
        return 0;
    }
    }
    return ari__fail(d->err, "internal: unknown field kind %d", f->kind);
}

int ari__decode_model(struct ari__dec *d, const struct ari__model *m, const json_t *obj, void *dst)
{
    if (!json_is_object(obj)) {
        return fail_type(d, "object", obj);
    }
    for (uint16_t i = 0; i < m->n_fields; i++) {
        const struct ari__field *f = &m->fields[i];
        const json_t *v = json_object_get(obj, f->name);
        int rc;

        if (v == NULL || json_is_null(v)) {
            if (f->flags & ARI__F_REQUIRED) {
                rc = ari__fail(d->err, "missing required key");
                ari__path_prepend(d->err, f->name, 0);
                return rc;
            }
            continue;
        }
        rc = decode_field(d, f, v, dst);
        if (rc != 0) {
            if (rc == ERR_PARSE) {
                ari__path_prepend(d->err, f->name, 0);
            }
            return rc;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Encode                                                                  */
/* ---------------------------------------------------------------------- */

static json_t *encode_model(const struct ari__model *m, const void *src);

static json_t *encode_vars(const struct ari_var *vars, size_t n)
{
    json_t *obj = json_object();

    for (size_t i = 0; obj != NULL && i < n; i++) {
        json_t *v;
        if (vars[i].name == NULL || vars[i].value == NULL) {
            LOG_DEBUG(ARI, "event=encode_failed reason=null_var_member index=%zu", i);
            json_decref(obj);
            return NULL;
        }
        v = vars[i].json ? json_loads(vars[i].value, JSON_DECODE_ANY, NULL)
                         : json_string(vars[i].value);
        if (v == NULL || json_object_set_new(obj, vars[i].name, v) != 0) {
            json_decref(obj);
            return NULL;
        }
    }
    return obj;
}

/* The JSON value of the present field f of src, or NULL on OOM/invalid. */
static json_t *encode_value(const struct ari__field *f, const void *src)
{
    switch ((enum ari__kind)f->kind) {
    case ARI__K_STR:
        return json_string(get_ptr(src, f->off));
    case ARI__K_INT:
        return json_integer(get_int(src, f->off));
    case ARI__K_LONG:
        return json_integer(get_i64(src, f->off));
    case ARI__K_BOOL:
        return json_boolean(get_bool(src, f->off));
    case ARI__K_DATE: {
        const char *s = get_ptr(src, f->off);
        char buf[ARI_TIME_BUFSZ];
        if (s != NULL) {
            return json_string(s);
        }
        if (ari_time_format(get_i64(src, f->off2), buf, sizeof(buf)) < 0) {
            return NULL;
        }
        return json_string(buf);
    }
    case ARI__K_ENUM: {
        const char *s = get_ptr(src, f->off);
        if (s == NULL) {
            s = ari__enum_name((enum ari__enum_id)f->aux, get_int(src, f->off2));
        }
        return s != NULL ? json_string(s) : NULL;
    }
    case ARI__K_STRLIST: {
        const char *const *list = get_ptr(src, f->off);
        size_t n = get_size(src, f->off2);
        json_t *arr = json_array();
        for (size_t i = 0; arr != NULL && i < n; i++) {
            if (list[i] == NULL || json_array_append_new(arr, json_string(list[i])) != 0) {
                json_decref(arr);
                arr = NULL;
            }
        }
        return arr;
    }
    case ARI__K_VARS:
        return encode_vars(get_ptr(src, f->off), get_size(src, f->off2));
    case ARI__K_MODEL:
        return encode_model(f->sub, get_ptr(src, f->off));
    case ARI__K_MODELLIST: {
        const char *items = get_ptr(src, f->off);
        size_t n = get_size(src, f->off2);
        json_t *arr = json_array();
        for (size_t i = 0; arr != NULL && i < n; i++) {
            if (json_array_append_new(arr, encode_model(f->sub, items + i * f->sub->size)) != 0) {
                json_decref(arr);
                arr = NULL;
            }
        }
        return arr;
    }
    }
    return NULL;
}

/* Whether field f of src is present (has a value to encode). */
static bool is_present(const struct ari__field *f, const void *src)
{
    switch ((enum ari__kind)f->kind) {
    case ARI__K_INT:
    case ARI__K_LONG:
    case ARI__K_BOOL:
        return f->off2 == ARI__NO_OFF || get_bool(src, f->off2);
    case ARI__K_DATE:
        return get_ptr(src, f->off) != NULL || get_i64(src, f->off2) != 0;
    case ARI__K_ENUM:
        return get_ptr(src, f->off) != NULL || get_int(src, f->off2) != 0;
    default:
        return get_ptr(src, f->off) != NULL;
    }
}

int ari__encode_fields(const struct ari__model *m, const void *src, json_t *obj, bool with_pre)
{
    for (uint16_t i = 0; i < m->n_fields; i++) {
        const struct ari__field *f = &m->fields[i];
        json_t *v;

        if (((f->flags & ARI__F_PRE) != 0) != with_pre) {
            continue;
        }
        if (!is_present(f, src)) {
            if (f->flags & ARI__F_REQUIRED) {
                LOG_DEBUG(ARI, "event=encode_failed model=%s key=%s reason=missing_required",
                          m->name, f->name);
                return ERR_INVAL;
            }
            continue;
        }
        v = encode_value(f, src);
        if (v == NULL) {
            LOG_DEBUG(ARI, "event=encode_failed model=%s key=%s", m->name, f->name);
            return ERR_INVAL;
        }
        if (json_object_set_new(obj, f->name, v) != 0) {
            return ERR_NOMEM;
        }
    }
    return 0;
}

static json_t *encode_model(const struct ari__model *m, const void *src)
{
    json_t *obj;

    if (src == NULL) {
        return NULL;
    }
    obj = json_object();
    if (obj != NULL && ari__encode_fields(m, src, obj, false) != 0) {
        json_decref(obj);
        obj = NULL;
    }
    return obj;
}

/* ---------------------------------------------------------------------- */
/* Equality                                                                */
/* ---------------------------------------------------------------------- */

static bool str_eq(const char *a, const char *b)
{
    if (a == NULL || b == NULL) {
        return a == b;
    }
    return strcmp(a, b) == 0;
}

static bool vars_eq(const struct ari_var *a, const struct ari_var *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (a[i].json != b[i].json || !str_eq(a[i].name, b[i].name) ||
            !str_eq(a[i].value, b[i].value)) {
            return false;
        }
    }
    return true;
}

static bool field_eq(const struct ari__field *f, const void *a, const void *b)
{
    const void *pa = NULL;
    const void *pb = NULL;

    if (f->kind == ARI__K_STRLIST || f->kind == ARI__K_VARS || f->kind == ARI__K_MODEL ||
        f->kind == ARI__K_MODELLIST) {
        pa = get_ptr(a, f->off);
        pb = get_ptr(b, f->off);
        if (pa == NULL || pb == NULL) {
            return pa == pb;
        }
    }
    switch ((enum ari__kind)f->kind) {
    case ARI__K_STR:
        return str_eq(get_ptr(a, f->off), get_ptr(b, f->off));
    case ARI__K_INT:
        if (f->off2 != ARI__NO_OFF && get_bool(a, f->off2) != get_bool(b, f->off2)) {
            return false;
        }
        return get_int(a, f->off) == get_int(b, f->off);
    case ARI__K_LONG:
        if (f->off2 != ARI__NO_OFF && get_bool(a, f->off2) != get_bool(b, f->off2)) {
            return false;
        }
        return get_i64(a, f->off) == get_i64(b, f->off);
    case ARI__K_BOOL:
        if (f->off2 != ARI__NO_OFF && get_bool(a, f->off2) != get_bool(b, f->off2)) {
            return false;
        }
        return get_bool(a, f->off) == get_bool(b, f->off);
    case ARI__K_DATE:
        return str_eq(get_ptr(a, f->off), get_ptr(b, f->off)) &&
               get_i64(a, f->off2) == get_i64(b, f->off2);
    case ARI__K_ENUM:
        return str_eq(get_ptr(a, f->off), get_ptr(b, f->off)) &&
               get_int(a, f->off2) == get_int(b, f->off2);
    case ARI__K_STRLIST: {
        size_t n = get_size(a, f->off2);
        const char *const *la = pa;
        const char *const *lb = pb;
        if (n != get_size(b, f->off2)) {
            return false;
        }
        for (size_t i = 0; i < n; i++) {
            if (!str_eq(la[i], lb[i])) {
                return false;
            }
        }
        return true;
    }
    case ARI__K_VARS: {
        size_t n = get_size(a, f->off2);
        return n == get_size(b, f->off2) && vars_eq(pa, pb, n);
    }
    case ARI__K_MODEL:
        return ari__equal_fields(f->sub, pa, pb);
    case ARI__K_MODELLIST: {
        size_t n = get_size(a, f->off2);
        if (n != get_size(b, f->off2)) {
            return false;
        }
        for (size_t i = 0; i < n; i++) {
            if (!ari__equal_fields(f->sub, (const char *)pa + i * f->sub->size,
                                   (const char *)pb + i * f->sub->size)) {
                return false;
            }
        }
        return true;
    }
    }
    return false;
}

bool ari__equal_fields(const struct ari__model *m, const void *a, const void *b)
{
    for (uint16_t i = 0; i < m->n_fields; i++) {
        if (!field_eq(&m->fields[i], a, b)) {
            return false;
        }
    }
    return true;
}
