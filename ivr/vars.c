/* SPDX-License-Identifier: MIT */
/*
 * vars: a session's variables, stored compactly.
 *
 * A session reads six groups (call, contact, flow, nodes, sys, secrets).
 * Held as one jansson tree, every group was an object with its own hash
 * table (about 220 bytes empty) and every value two or three allocations
 * (pair, value, text), about 3.4 KB for a call with a few contact fields.
 * Most of it is never written by the flow, so:
 *
 * - call.*, contact.* and the caller's sys.* are compact read-only objects,
 *   one allocation each (struct ivr__cobj); a value read from them is built
 *   for the lookup and released by the reader;
 * - sys.now, sys.time, sys.weekday and sys.tz are derived on lookup from the
 *   instant and offset saved by the last refresh (no allocation);
 * - secrets.* is the tenant's object, referenced, never copied (the server
 *   builds a new object when the secrets change, it never edits a published
 *   one);
 * - flow.* and nodes.* (and contact.* once a flow assigns to it) live in a
 *   jansson tree created on the first write.
 *
 * Lookups, the masking of secrets (by the callers, as before) and what a
 * template renders are unchanged: a group that holds nothing reads as an
 * empty object, members keep their order, numbers and booleans their type.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "ivr/ivr_int.h"

/* ---------------------------------------------------------------------- */
/* Compact objects                                                         */
/* ---------------------------------------------------------------------- */

enum ctype { C_STRING, C_INTEGER, C_REAL, C_TRUE, C_FALSE, C_NULL, C_JSON };

struct centry {
    uint32_t key; /* offset of the NUL-terminated key in the pool */
    uint8_t type; /* enum ctype */

    union {
        int64_t i;
        double d;

        struct {
            uint32_t off, len; /* C_STRING: text in the pool (NUL-terminated too) */
        } s;

        json_t *j; /* C_JSON: an object or array (reference) */
    } u;
};

struct ivr__cobj {
    uint32_t n;     /* entries */
    uint32_t bytes; /* size of the whole block */
    struct centry e[];
    /* then the pool */
};

static char *pool(const struct ivr__cobj *c)
{
    return (char *)&c->e[c->n];
}

/* Members of a value to store (one entry of a new compact object). */
struct cmember {
    const char *key;
    json_t *val;
};

/* Builds a compact object from n members (values borrowed); NULL on OOM or overflow. */
static struct ivr__cobj *cobj_build(const struct cmember *m, size_t n)
{
    size_t bytes = sizeof(struct ivr__cobj) + n * sizeof(struct centry);
    for (size_t i = 0; i < n; i++) {
        bytes += strlen(m[i].key) + 1;
        if (json_is_string(m[i].val)) {
            bytes += json_string_length(m[i].val) + 1;
        }
    }
    if (bytes > UINT32_MAX || n > UINT32_MAX) {
        return NULL;
    }
    struct ivr__cobj *c = malloc(bytes);
    if (c == NULL) {
        return NULL;
    }
    c->n = (uint32_t)n;
    c->bytes = (uint32_t)bytes;
    char *p = pool(c);
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        struct centry *e = &c->e[i];
        json_t *v = m[i].val;
        size_t kl = strlen(m[i].key) + 1;
        memcpy(p + off, m[i].key, kl);
        e->key = (uint32_t)off;
        off += kl;
        switch (json_typeof(v)) {
        case JSON_STRING:
            e->type = C_STRING;
            e->u.s.off = (uint32_t)off;
            e->u.s.len = (uint32_t)json_string_length(v);
            memcpy(p + off, json_string_value(v), e->u.s.len);
            p[off + e->u.s.len] = '\0';
            off += e->u.s.len + 1;
            break;
        case JSON_INTEGER:
            e->type = C_INTEGER;
            e->u.i = json_integer_value(v);
            break;
        case JSON_REAL:
            e->type = C_REAL;
            e->u.d = json_real_value(v);
            break;
        case JSON_TRUE:
            e->type = C_TRUE;
            break;
        case JSON_FALSE:
            e->type = C_FALSE;
            break;
        case JSON_NULL:
            e->type = C_NULL;
            break;
        default:
            e->type = C_JSON;
            e->u.j = json_deep_copy(v);
            if (e->u.j == NULL) {
                c->n = (uint32_t)i;
                ivr__cobj_free(c);
                return NULL;
            }
            break;
        }
    }
    return c;
}

struct ivr__cobj *ivr__cobj_new(json_t *o)
{
    size_t n = json_object_size(o);
    if (!json_is_object(o)) {
        return NULL;
    }
    struct cmember *m = malloc((n ? n : 1) * sizeof(*m));
    if (m == NULL) {
        return NULL;
    }
    size_t i = 0;
    const char *k;
    json_t *v;
    json_object_foreach (o, k, v) {
        m[i].key = k;
        m[i].val = v;
        i++;
    }
    struct ivr__cobj *c = cobj_build(m, i);
    free(m);
    return c;
}

void ivr__cobj_free(struct ivr__cobj *c)
{
    if (c == NULL) {
        return;
    }
    for (uint32_t i = 0; i < c->n; i++) {
        if (c->e[i].type == C_JSON) {
            json_decref(c->e[i].u.j);
        }
    }
    free(c);
}

size_t ivr__cobj_size(const struct ivr__cobj *c)
{
    return c != NULL ? c->bytes : 0;
}

static const struct centry *cobj_find(const struct ivr__cobj *c, const char *key)
{
    if (c == NULL) {
        return NULL;
    }
    const char *p = pool(c);
    for (uint32_t i = 0; i < c->n; i++) {
        if (strcmp(p + c->e[i].key, key) == 0) {
            return &c->e[i];
        }
    }
    return NULL;
}

const char *ivr__cobj_str(const struct ivr__cobj *c, const char *key)
{
    const struct centry *e = cobj_find(c, key);
    return e != NULL && e->type == C_STRING ? pool(c) + e->u.s.off : NULL;
}

/* The member as a jansson value: a new one, or for C_JSON a new reference. */
static json_t *centry_json(const struct ivr__cobj *c, const struct centry *e)
{
    switch ((enum ctype)e->type) {
    case C_STRING:
        return json_stringn_nocheck(pool(c) + e->u.s.off, e->u.s.len);
    case C_INTEGER:
        return json_integer(e->u.i);
    case C_REAL:
        return json_real(e->u.d);
    case C_TRUE:
        return json_true();
    case C_FALSE:
        return json_false();
    case C_NULL:
        return json_null();
    case C_JSON:
        return json_incref(e->u.j);
    }
    return NULL;
}

json_t *ivr__cobj_json(const struct ivr__cobj *c)
{
    json_t *o = json_object();
    for (uint32_t i = 0; o != NULL && c != NULL && i < c->n; i++) {
        json_t *v = centry_json(c, &c->e[i]);
        if (v == NULL || json_object_set_new(o, pool(c) + c->e[i].key, v) != 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

/* A copy of c with key set to the string val (replaced in place, or appended). */
static struct ivr__cobj *cobj_with_str(const struct ivr__cobj *c, const char *key, const char *val)
{
    size_t n = c != NULL ? c->n : 0;
    struct cmember *m = malloc((n + 1) * sizeof(*m));
    json_t **own = calloc(n + 1, sizeof(*own));
    json_t *sv = json_string(val);
    struct ivr__cobj *r = NULL;
    bool replaced = false;
    if (m == NULL || own == NULL || sv == NULL) {
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        m[i].key = pool(c) + c->e[i].key;
        if (strcmp(m[i].key, key) == 0) {
            m[i].val = sv;
            replaced = true;
            continue;
        }
        own[i] = c->e[i].type == C_JSON ? json_incref(c->e[i].u.j) : centry_json(c, &c->e[i]);
        m[i].val = own[i];
        if (m[i].val == NULL) {
            goto out;
        }
    }
    if (!replaced) {
        m[n].key = key;
        m[n].val = sv;
        n++;
    }
    r = cobj_build(m, n);
out:
    for (size_t i = 0; own != NULL && i <= (c != NULL ? c->n : 0); i++) {
        json_decref(own[i]);
    }
    json_decref(sv);
    free(own);
    free(m);
    return r;
}

/* ---------------------------------------------------------------------- */
/* sys.*                                                                   */
/* ---------------------------------------------------------------------- */

static const char *const sys_keys[] = { "now", "time", "weekday", "tz" };

/* A derived sys member (index into sys_keys) as a new value. */
static json_t *sys_value(const struct ivr__vars *v, size_t k)
{
    static const char *const days[] = { "sun", "mon", "tue", "wed", "thu", "fri", "sat" };
    int64_t local = v->sys_now + (int64_t)v->sys_off * 60;
    int64_t day = local >= 0 ? local / 86400 : (local - 86399) / 86400;
    int64_t sec = local - day * 86400;
    char buf[32];
    switch (k) {
    case 0:
        return json_integer(v->sys_now);
    case 1:
        snprintf(buf, sizeof(buf), "%02d:%02d", (int)(sec / 3600), (int)(sec / 60 % 60));
        return json_string(buf);
    case 2:
        return json_string(days[(day % 7 + 11) % 7]);
    default:
        return json_string(v->sys_tz != NULL ? v->sys_tz : "");
    }
}

static int sys_key(const char *key)
{
    for (size_t k = 0; k < sizeof(sys_keys) / sizeof(sys_keys[0]); k++) {
        if (strcmp(key, sys_keys[k]) == 0) {
            return (int)k;
        }
    }
    return -1;
}

/* The whole sys object: the input's members, the derived ones set over them (jansson order). */
static json_t *sys_json(const struct ivr__vars *v)
{
    json_t *o = v->sys != NULL ? ivr__cobj_json(v->sys) : json_object();
    for (size_t k = 0; o != NULL && v->sys_set && k < sizeof(sys_keys) / sizeof(sys_keys[0]); k++) {
        json_t *x = sys_value(v, k);
        if (x == NULL || json_object_set_new(o, sys_keys[k], x) != 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

/* ---------------------------------------------------------------------- */
/* The store                                                               */
/* ---------------------------------------------------------------------- */

int ivr__vars_init(struct ivr__vars *v, json_t *in)
{
    memset(v, 0, sizeof(*v));
    v->session = true;
    json_t *call = json_object_get(in, "call");
    json_t *contact = json_object_get(in, "contact");
    json_t *sys = json_object_get(in, "sys");
    json_t *flow = json_object_get(in, "flow");
    json_t *nodes = json_object_get(in, "nodes");
    json_t *secrets = json_object_get(in, "secrets");
    if ((json_object_size(call) > 0 && (v->call = ivr__cobj_new(call)) == NULL) ||
        (json_object_size(contact) > 0 && (v->contact = ivr__cobj_new(contact)) == NULL) ||
        (json_object_size(sys) > 0 && (v->sys = ivr__cobj_new(sys)) == NULL)) {
        goto fail;
    }
    if (json_object_size(flow) > 0 || json_object_size(nodes) > 0) {
        v->tree = json_object();
        if (v->tree == NULL ||
            (json_object_size(flow) > 0 &&
             json_object_set_new(v->tree, "flow", json_deep_copy(flow)) != 0) ||
            (json_object_size(nodes) > 0 &&
             json_object_set_new(v->tree, "nodes", json_deep_copy(nodes)) != 0)) {
            goto fail;
        }
    }
    if (json_object_size(secrets) > 0) {
        v->secrets = json_incref(secrets);
    }
    return 0;
fail:
    ivr__vars_fini(v);
    return ERR_NOMEM;
}

void ivr__vars_fini(struct ivr__vars *v)
{
    json_decref(v->tree);
    ivr__cobj_free(v->call);
    ivr__cobj_free(v->contact);
    ivr__cobj_free(v->sys);
    json_decref(v->secrets);
    memset(v, 0, sizeof(*v));
}

bool ivr__var_group(const char *s)
{
    static const char *const groups[] = { "call", "contact", "flow", "nodes", "sys", "secrets" };
    for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++) {
        if (strcmp(s, groups[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* The compact object standing for group, or NULL. */
static struct ivr__cobj *compact(const struct ivr__vars *v, const char *group)
{
    if (strcmp(group, "call") == 0) {
        return v->call;
    }
    if (strcmp(group, "contact") == 0) {
        return v->contact;
    }
    return NULL;
}

/* Continues a lookup below a value made for it (x taken into *tmp). */
static json_t *below(json_t *x, char *const *seg, size_t nseg, json_t **tmp)
{
    if (x == NULL) {
        return NULL;
    }
    json_t *r = ivr__lookup(x, seg, nseg);
    if (r == NULL) {
        json_decref(x);
        return NULL;
    }
    *tmp = x;
    return r;
}

json_t *ivr__vars_get(const struct ivr__vars *v, char *const *seg, size_t nseg, json_t **tmp)
{
    *tmp = NULL;
    if (!v->session) {
        return ivr__lookup(v->tree, seg, nseg);
    }
    if (nseg == 0) {
        json_t *all = ivr__vars_json(v);
        *tmp = all;
        return all;
    }
    const char *g = seg[0];
    struct ivr__cobj *c = compact(v, g);
    if (c != NULL) {
        if (nseg == 1) {
            return below(ivr__cobj_json(c), seg, 0, tmp);
        }
        const struct centry *e = cobj_find(c, seg[1]);
        if (e == NULL) {
            return NULL;
        }
        if (e->type == C_JSON) {
            return ivr__lookup(e->u.j, seg + 2, nseg - 2);
        }
        return nseg == 2 ? below(centry_json(c, e), seg, 0, tmp) : NULL;
    }
    if (strcmp(g, "sys") == 0) {
        if (nseg == 1) {
            return below(sys_json(v), seg, 0, tmp);
        }
        int k = v->sys_set ? sys_key(seg[1]) : -1;
        if (k >= 0) {
            return nseg == 2 ? below(sys_value(v, (size_t)k), seg, 0, tmp) : NULL;
        }
        const struct centry *e = cobj_find(v->sys, seg[1]);
        if (e == NULL) {
            return NULL;
        }
        if (e->type == C_JSON) {
            return ivr__lookup(e->u.j, seg + 2, nseg - 2);
        }
        return nseg == 2 ? below(centry_json(v->sys, e), seg, 0, tmp) : NULL;
    }
    json_t *r;
    if (strcmp(g, "secrets") == 0) {
        r = v->secrets != NULL ? ivr__lookup(v->secrets, seg + 1, nseg - 1) : NULL;
    } else {
        r = ivr__lookup(v->tree, seg, nseg);
    }
    if (r == NULL && nseg == 1 && ivr__var_group(g)) {
        r = *tmp = json_object(); /* a group that holds nothing */
    }
    return r;
}

const char *ivr__vars_str(const struct ivr__vars *v, const char *group, const char *key)
{
    struct ivr__cobj *c = v->session ? compact(v, group) : NULL;
    if (c != NULL) {
        return ivr__cobj_str(c, key);
    }
    return json_string_value(json_object_get(json_object_get(v->tree, group), key));
}

/* Makes the root of the tree exist; 0 or ERR_NOMEM. */
static int tree_root(struct ivr__vars *v)
{
    if (v->tree == NULL) {
        v->tree = json_object();
    }
    return v->tree != NULL ? 0 : ERR_NOMEM;
}

/* Moves a compact group into the tree (before a write to it). 0 or ERR_NOMEM. */
static int thaw(struct ivr__vars *v, const char *group)
{
    struct ivr__cobj **slot = strcmp(group, "call") == 0      ? &v->call
                              : strcmp(group, "contact") == 0 ? &v->contact
                                                              : NULL;
    if (slot == NULL || *slot == NULL) {
        return 0;
    }
    json_t *o = ivr__cobj_json(*slot);
    if (o == NULL || tree_root(v) != 0 || json_object_set_new(v->tree, group, o) != 0) {
        return ERR_NOMEM;
    }
    ivr__cobj_free(*slot);
    *slot = NULL;
    return 0;
}

int ivr__vars_set(struct ivr__vars *v, char *const *seg, size_t nseg, json_t *val)
{
    if (nseg == 0) {
        json_decref(val);
        return ERR_INVAL;
    }
    if (v->session && (strcmp(seg[0], "sys") == 0 || strcmp(seg[0], "secrets") == 0 || nseg < 2)) {
        json_decref(val);
        return ERR_INVAL;
    }
    if ((v->session && thaw(v, seg[0]) != 0) || tree_root(v) != 0) {
        json_decref(val);
        return ERR_NOMEM;
    }
    return ivr__set_path(v->tree, seg, nseg, val);
}

int ivr__vars_set_str(struct ivr__vars *v, const char *group, const char *key, const char *val)
{
    struct ivr__cobj **slot = strcmp(group, "call") == 0      ? &v->call
                              : strcmp(group, "contact") == 0 ? &v->contact
                                                              : NULL;
    json_t *in_tree = json_object_get(v->tree, group);
    if (v->session && slot != NULL && in_tree == NULL) {
        struct ivr__cobj *c = cobj_with_str(*slot, key, val);
        if (c == NULL) {
            return ERR_NOMEM;
        }
        ivr__cobj_free(*slot);
        *slot = c;
        return 0;
    }
    char g[16], k[64];
    snprintf(g, sizeof(g), "%s", group);
    snprintf(k, sizeof(k), "%s", key);
    char *seg[2] = { g, k };
    json_t *s = json_string(val);
    return s != NULL ? ivr__vars_set(v, seg, 2, s) : ERR_NOMEM;
}

json_t *ivr__vars_group(struct ivr__vars *v, const char *group, bool create)
{
    json_t *g = json_object_get(v->tree, group);
    if (json_is_object(g) || !create) {
        return json_is_object(g) ? g : NULL;
    }
    if (tree_root(v) != 0 || (g = json_object()) == NULL) {
        return NULL;
    }
    if (json_object_set_new(v->tree, group, g) != 0) {
        return NULL;
    }
    return g;
}

json_t *ivr__vars_json(const struct ivr__vars *v)
{
    static const char *const groups[] = { "call", "contact", "flow", "nodes", "sys", "secrets" };
    if (!v->session) {
        return json_deep_copy(v->tree);
    }
    json_t *all = json_object();
    for (size_t i = 0; all != NULL && i < sizeof(groups) / sizeof(groups[0]); i++) {
        char g[16];
        snprintf(g, sizeof(g), "%s", groups[i]);
        char *seg[1] = { g };
        json_t *tmp;
        json_t *x = ivr__vars_get(v, seg, 1, &tmp);
        json_t *copy = x != NULL ? json_deep_copy(x) : json_object();
        json_decref(tmp);
        if (copy == NULL || json_object_set_new(all, groups[i], copy) != 0) {
            json_decref(all);
            return NULL;
        }
    }
    return all;
}

size_t ivr__vars_compact_size(const struct ivr__vars *v)
{
    return ivr__cobj_size(v->call) + ivr__cobj_size(v->contact) + ivr__cobj_size(v->sys);
}
