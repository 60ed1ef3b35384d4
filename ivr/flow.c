/* SPDX-License-Identifier: MIT */
/*
 * flow: loading, validating and compiling ivrflow/1 documents.
 *
 * One pass over the document both checks it (the rules of IVR-FLOWS.md
 * section 8, numbered in the comments below) and builds the compiled flow:
 * node structs with their properties typed, templates compiled, regexes
 * compiled, events resolved to node indexes. Graph rules (reachability,
 * termination, cycles, handlers) run on the compiled edges afterwards.
 * Findings carry the node id, a JSON path ("$.nodes.menu.props.max_digits")
 * and a sentence for a campaign manager. A compiled flow is returned only
 * when there is no error; it is immutable and reference-counted.
 *
 * The property tables below are the C side of ivr/schema/flow.schema.json
 * (a unit test checks that both name the same properties).
 */
#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "ivr/ivr_int.h"

const char *const ivr__ntype_names[IVR_N_COUNT_] = {
    "start",    "play",      "say",    "collect", "branch", "set_variable", "api_call",
    "transfer", "voicemail", "hangup", "loop",    "wait",   "subflow",      "return",
};

/* ---------------------------------------------------------------------- */
/* Report                                                                  */
/* ---------------------------------------------------------------------- */

struct ivr_report {
    struct ivr_diag *d;
    size_t n, cap, nerr;
    bool oom;
};

size_t ivr_report_count(const struct ivr_report *r)
{
    return r->n;
}

size_t ivr_report_errors(const struct ivr_report *r)
{
    return r->nerr;
}

const struct ivr_diag *ivr_report_get(const struct ivr_report *r, size_t i)
{
    return i < r->n ? &r->d[i] : NULL;
}

bool ivr_report_has(const struct ivr_report *r, const char *rule)
{
    for (size_t i = 0; i < r->n; i++) {
        if (strcmp(r->d[i].rule, rule) == 0) {
            return true;
        }
    }
    return false;
}

void ivr_report_free(struct ivr_report *r)
{
    if (r == NULL) {
        return;
    }
    for (size_t i = 0; i < r->n; i++) {
        free((char *)r->d[i].node);
        free((char *)r->d[i].path);
        free((char *)r->d[i].message);
    }
    free(r->d);
    free(r);
}

json_t *ivr_report_to_json(const struct ivr_report *r)
{
    json_t *o =
        json_pack("{s:b,s:[],s:[],s:[]}", "valid", r->nerr == 0, "errors", "warnings", "info");
    static const char *const keys[] = { "errors", "warnings", "info" };
    if (o == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < r->n; i++) {
        const struct ivr_diag *d = &r->d[i];
        json_t *it = json_pack("{s:s,s:s?,s:s,s:s}", "rule", d->rule, "node", d->node, "path",
                               d->path, "message", d->message);
        json_array_append_new(json_object_get(o, keys[d->severity]), it);
    }
    return o;
}

/* ---------------------------------------------------------------------- */
/* Validator state                                                         */
/* ---------------------------------------------------------------------- */

struct vstate {
    struct ivr_report *r;
    const struct ivr_load_options *opt;
    struct ivr_flow *f;
    json_t *doc;
    const char *node_id; /* current node for diagnostics */
    char **node_keys;    /* per node: the document key */
    int *hash;           /* open addressing: node index + 1 */
    size_t hcap;
    json_t *assigned;    /* flow.* names assigned somewhere: {name: true} */
    json_t *used;        /* flow.* names referenced */
    json_t *masked;      /* paths of masked values: {"nodes.x.digits": true} */
    const char *flow_id; /* own id, for subflow recursion */
};

static void diag(struct vstate *v, enum ivr_severity sev, const char *rule, const char *path,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void diag(struct vstate *v, enum ivr_severity sev, const char *rule, const char *path,
                 const char *fmt, ...)
{
    struct ivr_report *r = v->r;
    char msg[512];
    va_list ap;
    if (sev == IVR_SEV_ERROR) {
        r->nerr++;
    }
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        struct ivr_diag *d = realloc(r->d, cap * sizeof(*d));
        if (d == NULL) {
            r->oom = true;
            return;
        }
        r->d = d;
        r->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    struct ivr_diag *d = &r->d[r->n];
    d->severity = sev;
    d->rule = rule;
    d->node = v->node_id ? strdup(v->node_id) : NULL;
    d->path = strdup(path);
    d->message = strdup(msg);
    if ((v->node_id && d->node == NULL) || d->path == NULL || d->message == NULL) {
        free((char *)d->node);
        free((char *)d->path);
        free((char *)d->message);
        r->oom = true;
        return;
    }
    r->n++;
}

/* A path buffer: "$.nodes.<id>.<rest>". */
struct pbuf {
    char s[256];
};

static const char *npath(struct pbuf *b, struct vstate *v, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static const char *npath(struct pbuf *b, struct vstate *v, const char *fmt, ...)
{
    int n = snprintf(b->s, sizeof(b->s), "$.nodes.%s", v->node_id ? v->node_id : "?");
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof(b->s)) {
        vsnprintf(b->s + n, sizeof(b->s) - (size_t)n, fmt, ap);
    }
    va_end(ap);
    return b->s;
}

/* snprintf for JSON paths: truncating a very long path is acceptable. */
static void pathf(char *dst, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void pathf(char *dst, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, n, fmt, ap);
    va_end(ap);
}

static uint32_t hash_str(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) {
        h = (h ^ (unsigned char)*s) * 16777619u;
    }
    return h;
}

static int node_index(const struct vstate *v, const char *id)
{
    size_t i = hash_str(id) & (v->hcap - 1);
    while (v->hash[i] != 0) {
        int k = v->hash[i] - 1;
        if (strcmp(v->node_keys[k], id) == 0) {
            return k;
        }
        i = (i + 1) & (v->hcap - 1);
    }
    return IVR_NO_NODE;
}

static void node_index_add(struct vstate *v, int k)
{
    size_t i = hash_str(v->node_keys[k]) & (v->hcap - 1);
    while (v->hash[i] != 0) {
        i = (i + 1) & (v->hcap - 1);
    }
    v->hash[i] = k + 1;
}

/* ---------------------------------------------------------------------- */
/* Property tables (rule 1 and 7)                                          */
/* ---------------------------------------------------------------------- */

enum pkind { P_STR, P_INT, P_BOOL, P_ARR, P_OBJ, P_ANY, P_STRARR, P_TEXT };

struct pspec {
    const char *name;
    enum pkind kind;
    bool required;
};

/* clang-format off */
static const struct pspec p_start[] = { { "triggers", P_STRARR, false }, { "inputs", P_OBJ, false }, { NULL, 0, 0 } };
static const struct pspec p_play[] = { { "media", P_STRARR, true }, { "loop", P_INT, false },
    { "barge_in", P_BOOL, false }, { "language", P_STR, false }, { NULL, 0, 0 } };
static const struct pspec p_say[] = { { "text", P_STR, true }, { "say_as", P_STR, false },
    { "language", P_STR, false }, { "voice", P_STR, false }, { "loop", P_INT, false },
    { "barge_in", P_BOOL, false }, { NULL, 0, 0 } };
static const struct pspec p_collect[] = { { "input", P_STRARR, false }, { "prompt", P_ARR, false },
    { "min_digits", P_INT, false }, { "max_digits", P_INT, false }, { "finish_on_key", P_STR, false },
    { "first_digit_timeout_ms", P_INT, false }, { "inter_digit_timeout_ms", P_INT, false },
    { "max_duration_ms", P_INT, false }, { "barge_in", P_BOOL, false }, { "flush_before", P_BOOL, false },
    { "during_prompt", P_STR, false }, { "valid_digits", P_STR, false }, { "pattern", P_STR, false },
    { "choices", P_STRARR, false }, { "max_noinput", P_INT, false }, { "max_nomatch", P_INT, false },
    { "noinput_prompts", P_ARR, false }, { "nomatch_prompts", P_ARR, false },
    { "replay_main_prompt", P_BOOL, false }, { "save_as", P_STR, false }, { "mask", P_BOOL, false },
    { NULL, 0, 0 } };
static const struct pspec p_branch[] = { { "routes", P_ARR, true }, { NULL, 0, 0 } };
static const struct pspec p_set[] = { { "assign", P_ARR, true }, { NULL, 0, 0 } };
static const struct pspec p_api[] = { { "method", P_STR, false }, { "url", P_STR, true },
    { "headers", P_OBJ, false }, { "query", P_OBJ, false }, { "body", P_ANY, false },
    { "auth", P_OBJ, false }, { "timeout_ms", P_INT, false }, { "connect_timeout_ms", P_INT, false },
    { "retries", P_OBJ, false }, { "max_response_bytes", P_INT, false },
    { "response_mapping", P_ARR, false }, { "idempotency_key", P_STR, false }, { NULL, 0, 0 } };
static const struct pspec p_transfer[] = { { "target", P_OBJ, true }, { "mode", P_STR, false },
    { "ring_timeout_s", P_INT, false }, { "caller_id", P_STR, false }, { NULL, 0, 0 } };
static const struct pspec p_vm[] = { { "greeting", P_ARR, false }, { "beep", P_BOOL, false },
    { "max_length_s", P_INT, false }, { "silence_timeout_s", P_INT, false },
    { "min_length_s", P_INT, false }, { "finish_on_key", P_STR, false }, { NULL, 0, 0 } };
static const struct pspec p_hangup[] = { { "cause", P_STR, false }, { "disposition", P_STR, false },
    { "final_prompt", P_ARR, false }, { NULL, 0, 0 } };
static const struct pspec p_loop[] = { { "max", P_INT, true }, { NULL, 0, 0 } };
static const struct pspec p_wait[] = { { "duration_ms", P_INT, true }, { NULL, 0, 0 } };
static const struct pspec p_subflow[] = { { "flow_id", P_STR, true }, { "revision", P_INT, false },
    { "inputs", P_OBJ, false }, { "outputs", P_OBJ, false }, { NULL, 0, 0 } };
static const struct pspec p_return[] = { { "exit", P_STR, false }, { NULL, 0, 0 } };

static const struct pspec *const pspecs[IVR_N_COUNT_] = {
    p_start, p_play, p_say, p_collect, p_branch, p_set, p_api, p_transfer, p_vm, p_hangup,
    p_loop, p_wait, p_subflow, p_return,
};

/* The events each type can emit; NULL-terminated. choice:/route: are dynamic. */
static const char *const ev_start[] = { "next", "human", "machine", NULL };
static const char *const ev_media[] = { "done", "interrupted", "error", NULL };
static const char *const ev_collect[] = { "input", "noinput", "nomatch", "error", NULL };
static const char *const ev_branch[] = { "default", NULL };
static const char *const ev_set[] = { "next", "error", NULL };
static const char *const ev_api[] = { "success", "error", "timeout", NULL };
static const char *const ev_transfer[] = { "transferred", "completed", "busy", "no_answer", "failed", NULL };
static const char *const ev_vm[] = { "recorded", "no_audio", "hangup", "error", NULL };
static const char *const ev_none[] = { NULL };
static const char *const ev_loop[] = { "continue", "exhausted", NULL };
static const char *const ev_wait[] = { "next", NULL };
static const char *const ev_subflow[] = { "completed", "failed", NULL };

static const char *const *const events[IVR_N_COUNT_] = {
    ev_start, ev_media, ev_media, ev_collect, ev_branch, ev_set, ev_api, ev_transfer, ev_vm,
    ev_none, ev_loop, ev_wait, ev_subflow, ev_none,
};
/* clang-format on */

/* Exported for the schema consistency test. */
const struct pspec *ivr__pspecs(int type);

const struct pspec *ivr__pspecs(int type)
{
    return pspecs[type];
}

static const char *kind_name(enum pkind k)
{
    static const char *const names[] = { "text",      "a whole number", "true or false",   "a list",
                                         "an object", "any value",      "a list of texts", "text" };
    return names[k];
}

static bool kind_ok(enum pkind k, json_t *j)
{
    switch (k) {
    case P_STR:
    case P_TEXT:
        return json_is_string(j);
    case P_INT:
        return json_is_integer(j);
    case P_BOOL:
        return json_is_boolean(j);
    case P_ARR:
        return json_is_array(j);
    case P_OBJ:
        return json_is_object(j);
    case P_STRARR: {
        size_t i;
        json_t *it;
        if (!json_is_array(j)) {
            return false;
        }
        json_array_foreach (j, i, it) {
            if (!json_is_string(it)) {
                return false;
            }
        }
        return true;
    }
    case P_ANY:
        return true;
    }
    return false;
}

/* Rule 1 + 7 on one node's props. */
static void check_props(struct vstate *v, int type, json_t *props)
{
    struct pbuf pb = { "" };
    const char *key;
    json_t *val;
    json_object_foreach (props, key, val) {
        const struct pspec *s = pspecs[type];
        while (s->name && strcmp(s->name, key) != 0) {
            s++;
        }
        if (s->name == NULL) {
            diag(v, IVR_SEV_ERROR, "unknown_property", npath(&pb, v, ".props.%s", key),
                 "A %s node has no setting called \"%s\".", ivr__ntype_names[type], key);
        } else if (!kind_ok(s->kind, val)) {
            diag(v, IVR_SEV_ERROR, "property_type", npath(&pb, v, ".props.%s", key),
                 "The setting \"%s\" must be %s.", key, kind_name(s->kind));
        }
    }
    for (const struct pspec *s = pspecs[type]; s->name; s++) {
        if (s->required && json_object_get(props, s->name) == NULL) {
            diag(v, IVR_SEV_ERROR, "required_property", npath(&pb, v, ".props.%s", s->name),
                 "A %s node needs the setting \"%s\".", ivr__ntype_names[type], s->name);
        }
    }
}

/* Typed getters with defaults; the type was checked by check_props. */
static const char *pstr(json_t *props, const char *k, const char *def)
{
    json_t *j = json_object_get(props, k);
    return json_is_string(j) ? json_string_value(j) : def;
}

static long long pint(json_t *props, const char *k, long long def)
{
    json_t *j = json_object_get(props, k);
    return json_is_integer(j) ? (long long)json_integer_value(j) : def;
}

static bool pbool(json_t *props, const char *k, bool def)
{
    json_t *j = json_object_get(props, k);
    return json_is_boolean(j) ? json_is_true(j) : def;
}

static bool range_check(struct vstate *v, const char *prop, long long val, long long lo,
                        long long hi, const char *unit)
{
    struct pbuf pb = { "" };
    if (val < lo || val > hi) {
        diag(v, IVR_SEV_ERROR, "out_of_range", npath(&pb, v, ".props.%s", prop),
             "\"%s\" is %lld%s; it must be between %lld and %lld%s.", prop, val, unit, lo, hi,
             unit);
        return false;
    }
    return true;
}

/* ---------------------------------------------------------------------- */
/* Templates (rule 15)                                                     */
/* ---------------------------------------------------------------------- */

enum tctx {
    TC_SPEECH,  /* rendered to the caller: masked values and secrets refused */
    TC_GENERAL, /* set_variable, branch, URL, body: secrets refused */
    TC_SECRET,  /* api_call headers and auth: secrets allowed */
};

static bool is_root(const char *s)
{
    static const char *const roots[] = { "call", "contact", "flow", "nodes", "sys", "secrets" };
    for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
        if (strcmp(s, roots[i]) == 0) {
            return true;
        }
    }
    return false;
}

static void check_refs(struct vstate *v, const struct ivr__tmpl *t, const char *path, enum tctx ctx)
{
    for (size_t i = 0; i < t->nparts; i++) {
        const struct ivr__tpart *p = &t->parts[i];
        if (p->lit != NULL) {
            continue;
        }
        const char *root = p->seg[0];
        if (!is_root(root)) {
            diag(v, IVR_SEV_ERROR, "unknown_variable", path,
                 "\"%s\" is not a known variable group; use call., contact., flow., nodes., "
                 "sys. or secrets.",
                 root);
            continue;
        }
        if (strcmp(root, "secrets") == 0 && ctx != TC_SECRET) {
            diag(v, IVR_SEV_ERROR, "secret_outside_api_auth", path,
                 "Secrets may only be used in the headers or authentication of an API call, "
                 "never in speech, logs or other settings.");
        }
        if (p->nseg < 2) {
            diag(v, IVR_SEV_ERROR, "unknown_variable", path,
                 "\"%s\" needs a variable name after the group (for example %s.name).", root, root);
            continue;
        }
        if (strcmp(root, "flow") == 0) {
            json_object_set_new(v->used, p->seg[1], json_true());
        }
        if (strcmp(root, "nodes") == 0 && node_index(v, p->seg[1]) == IVR_NO_NODE) {
            diag(v, IVR_SEV_WARNING, "unknown_node_reference", path,
                 "This refers to the results of a step \"%s\" that does not exist; it will be "
                 "empty.",
                 p->seg[1]);
        }
        bool last4 = p->nfilters > 0 && p->filters[p->nfilters - 1].kind == IVR_F_LAST4;
        if (ctx == TC_SPEECH && p->nseg >= 2 && !last4) {
            char key[160];
            snprintf(key, sizeof(key), "%s.%s%s%s", root, p->seg[1], p->nseg > 2 ? "." : "",
                     p->nseg > 2 ? p->seg[2] : "");
            const char *k2;
            json_t *val;
            json_object_foreach (v->masked, k2, val) {
                if (strncmp(key, k2, strlen(k2)) == 0) {
                    diag(v, IVR_SEV_ERROR, "masked_in_speech", path,
                         "\"%s\" holds masked input (card or PIN digits) and must not be read "
                         "back or logged.",
                         k2);
                }
            }
        }
    }
}

static struct ivr__tmpl *tmpl(struct vstate *v, const char *src, const char *path, enum tctx ctx)
{
    const char *err;
    struct ivr__tmpl *t = ivr__tmpl_compile(src, &err);
    if (t == NULL) {
        diag(v, IVR_SEV_ERROR, "template_syntax", path,
             "The text \"%.60s\" has a template error: %s.", src, err);
        return NULL;
    }
    check_refs(v, t, path, ctx);
    return t;
}

/* ---------------------------------------------------------------------- */
/* Prompts                                                                 */
/* ---------------------------------------------------------------------- */

static bool media_uri_ok(const char *s)
{
    static const char *const schemes[] = { "sound:",  "recording:",  "digits:",
                                           "number:", "characters:", "tone:",
                                           "https:",  "http:",       "{{" };
    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
        if (strncmp(s, schemes[i], strlen(schemes[i])) == 0) {
            return true;
        }
    }
    return false;
}

static enum ivr_say_as say_as_parse(const char *s, bool *ok)
{
    *ok = true;
    if (s == NULL || strcmp(s, "text") == 0) {
        return IVR_SAY_TEXT;
    }
    if (strcmp(s, "digits") == 0) {
        return IVR_SAY_DIGITS;
    }
    if (strcmp(s, "number") == 0) {
        return IVR_SAY_NUMBER;
    }
    if (strcmp(s, "characters") == 0) {
        return IVR_SAY_CHARACTERS;
    }
    *ok = false;
    return IVR_SAY_TEXT;
}

static bool prompt_item(struct vstate *v, json_t *it, const char *path, struct ivr__prompt *out)
{
    json_t *say = json_object_get(it, "say");
    json_t *play = json_object_get(it, "play");
    bool ok;
    if (!json_is_object(it) || (json_is_string(say) == json_is_string(play))) {
        diag(v, IVR_SEV_ERROR, "prompt_item", path,
             "Each prompt item is either {\"say\": \"text\"} or {\"play\": \"sound:name\"}.");
        return false;
    }
    out->is_say = json_is_string(say);
    out->say_as = say_as_parse(json_string_value(json_object_get(it, "say_as")), &ok);
    if (!ok) {
        diag(v, IVR_SEV_ERROR, "property_type", path,
             "say_as must be text, digits, number or characters.");
    }
    const char *src = json_string_value(out->is_say ? say : play);
    if (!out->is_say && !media_uri_ok(src)) {
        diag(v, IVR_SEV_ERROR, "media_uri", path,
             "\"%.60s\" is not a playable sound; use sound:, recording:, digits:, number:, "
             "characters:, tone: or https:.",
             src);
    }
    if (out->is_say && strlen(src) > 3000) {
        diag(v, IVR_SEV_ERROR, "text_too_long", path, "Spoken text is limited to 3000 characters.");
    }
    out->text = tmpl(v, src, path, TC_SPEECH);
    return out->text != NULL;
}

static void prompts(struct vstate *v, json_t *arr, const char *path, struct ivr__prompts *out)
{
    size_t i;
    json_t *it;
    struct pbuf pb = { "" };
    out->n = 0;
    out->items = NULL;
    if (!json_is_array(arr)) {
        return;
    }
    if (json_array_size(arr) > IVR_MAX_PROMPT_ITEMS) {
        diag(v, IVR_SEV_ERROR, "too_many_prompts", path, "A prompt may have at most %d items.",
             IVR_MAX_PROMPT_ITEMS);
        return;
    }
    out->items = calloc(json_array_size(arr) + 1, sizeof(*out->items));
    if (out->items == NULL) {
        v->r->oom = true;
        return;
    }
    json_array_foreach (arr, i, it) {
        pathf(pb.s, sizeof(pb.s), "%s[%zu]", path, i);
        if (prompt_item(v, it, pb.s, &out->items[out->n])) {
            out->n++;
        }
    }
}

static void prompts_free(struct ivr__prompts *p)
{
    for (size_t i = 0; i < p->n; i++) {
        ivr__tmpl_free(p->items[i].text);
    }
    free(p->items);
}

static bool lang_ok(const char *s)
{
    size_t n = 0;
    while (isalpha((unsigned char)s[n])) {
        n++;
    }
    if (n < 2 || n > 3) {
        return false;
    }
    const char *p = s + n;
    while (*p == '-') {
        size_t k = 0;
        p++;
        while (isalnum((unsigned char)p[k])) {
            k++;
        }
        if (k < 1 || k > 8) {
            return false;
        }
        p += k;
    }
    return *p == '\0';
}

static void check_lang(struct vstate *v, json_t *props, const char *key)
{
    struct pbuf pb = { "" };
    const char *l = pstr(props, key, NULL);
    if (l != NULL && strstr(l, "{{") == NULL && !lang_ok(l)) {
        diag(v, IVR_SEV_ERROR, "language", npath(&pb, v, ".props.%s", key),
             "\"%s\" is not a language tag like en-US or fr-FR.", l);
    }
}

/* ---------------------------------------------------------------------- */
/* Node types                                                              */
/* ---------------------------------------------------------------------- */

static void compile_media(struct vstate *v, struct ivr__node *n, json_t *props)
{
    struct pbuf pb = { "" };
    struct ivr__media *m = &n->u.media;
    m->loop = (int)pint(props, "loop", 1);
    m->barge_in = pbool(props, "barge_in", n->type == IVR_N_SAY ? false : false);
    range_check(v, "loop", m->loop, 1, 99, "");
    check_lang(v, props, "language");
    if (pstr(props, "language", NULL)) {
        m->lang =
            tmpl(v, pstr(props, "language", ""), npath(&pb, v, ".props.language"), TC_GENERAL);
    }
    if (n->type == IVR_N_PLAY) {
        json_t *media = json_object_get(props, "media");
        size_t i;
        json_t *it;
        if (json_is_array(media) && json_array_size(media) == 0) {
            diag(v, IVR_SEV_ERROR, "required_property", npath(&pb, v, ".props.media"),
                 "A play step needs at least one sound to play.");
        }
        if (!kind_ok(P_STRARR, media) || json_array_size(media) > IVR_MAX_PROMPT_ITEMS) {
            if (json_array_size(media) > IVR_MAX_PROMPT_ITEMS) {
                diag(v, IVR_SEV_ERROR, "too_many_prompts", npath(&pb, v, ".props.media"),
                     "A play step may list at most %d sounds.", IVR_MAX_PROMPT_ITEMS);
            }
            return;
        }
        m->items.items = calloc(json_array_size(media) + 1, sizeof(*m->items.items));
        if (m->items.items == NULL) {
            v->r->oom = true;
            return;
        }
        json_array_foreach (media, i, it) {
            const char *src = json_string_value(it);
            npath(&pb, v, ".props.media[%zu]", i);
            if (!media_uri_ok(src)) {
                diag(v, IVR_SEV_ERROR, "media_uri", pb.s,
                     "\"%.60s\" is not a playable sound; use sound:, recording:, digits:, "
                     "number:, characters:, tone: or https:.",
                     src);
            }
            struct ivr__tmpl *t = tmpl(v, src, pb.s, TC_SPEECH);
            if (t != NULL) {
                m->items.items[m->items.n].text = t;
                m->items.n++;
            }
        }
    } else {
        bool ok;
        const char *text = pstr(props, "text", NULL);
        m->items.items = calloc(1, sizeof(*m->items.items));
        if (m->items.items == NULL) {
            v->r->oom = true;
            return;
        }
        m->items.items[0].is_say = true;
        m->items.items[0].say_as = say_as_parse(pstr(props, "say_as", NULL), &ok);
        if (!ok) {
            diag(v, IVR_SEV_ERROR, "property_type", npath(&pb, v, ".props.say_as"),
                 "say_as must be text, digits, number or characters.");
        }
        if (text != NULL) {
            if (strlen(text) == 0 || strlen(text) > 3000) {
                diag(v, IVR_SEV_ERROR, "text_length", npath(&pb, v, ".props.text"),
                     "The text to say must have between 1 and 3000 characters.");
            }
            m->items.items[0].text = tmpl(v, text, npath(&pb, v, ".props.text"), TC_SPEECH);
            m->items.n = m->items.items[0].text != NULL;
        }
        check_lang(v, props, "voice") /* voices are names; only checked when tag-like */;
        if (pstr(props, "voice", NULL)) {
            m->voice = tmpl(v, pstr(props, "voice", ""), npath(&pb, v, ".props.voice"), TC_GENERAL);
        }
    }
}

static char key_char(struct vstate *v, json_t *props, const char *k, const char *def)
{
    struct pbuf pb = { "" };
    const char *s = pstr(props, k, def);
    if (s[0] == '\0') {
        return 0;
    }
    if (strlen(s) != 1 || strchr("0123456789*#", s[0]) == NULL) {
        diag(v, IVR_SEV_ERROR, "finish_key", npath(&pb, v, ".props.%s", k),
             "\"%s\" must be one phone key (0-9, * or #) or empty.", k);
        return 0;
    }
    return s[0];
}

static bool digits_ok(const char *s)
{
    if (*s == '\0') {
        return false;
    }
    for (; *s; s++) {
        if (strchr("0123456789*#", *s) == NULL) {
            return false;
        }
    }
    return true;
}

static void compile_collect(struct vstate *v, struct ivr__node *n, json_t *props)
{
    struct pbuf pb = { "" };
    struct ivr__collect *c = &n->u.collect;
    json_t *ch = json_object_get(props, "choices");
    json_t *input = json_object_get(props, "input");
    size_t i;
    json_t *it;

    json_array_foreach (input, i, it) {
        if (!json_is_string(it) || strcmp(json_string_value(it), "dtmf") != 0) {
            diag(v, IVR_SEV_ERROR, "input_mode", npath(&pb, v, ".props.input[%zu]", i),
                 "Only keypad input (\"dtmf\") is supported.");
        }
    }
    prompts(v, json_object_get(props, "prompt"), npath(&pb, v, ".props.prompt"), &c->prompt);
    c->min_digits = (int)pint(props, "min_digits", 1);
    c->max_digits = (int)pint(props, "max_digits", json_is_array(ch) ? 0 : -1);
    c->finish_key = key_char(v, props, "finish_on_key", "#");
    c->first_ms = pint(props, "first_digit_timeout_ms", 5000);
    c->inter_ms = pint(props, "inter_digit_timeout_ms", 3000);
    c->max_ms = pint(props, "max_duration_ms", 0);
    c->barge_in = pbool(props, "barge_in", true);
    c->flush_before = pbool(props, "flush_before", true);
    c->replay_main = pbool(props, "replay_main_prompt", true);
    c->mask = pbool(props, "mask", false);
    c->max_noinput = (int)pint(props, "max_noinput", 2);
    c->max_nomatch = (int)pint(props, "max_nomatch", 2);
    const char *dp = pstr(props, "during_prompt", "buffer");
    if (strcmp(dp, "buffer") != 0 && strcmp(dp, "ignore") != 0) {
        diag(v, IVR_SEV_ERROR, "property_type", npath(&pb, v, ".props.during_prompt"),
             "during_prompt must be \"buffer\" or \"ignore\".");
    }
    c->ignore_during_prompt = strcmp(dp, "ignore") == 0;
    if (pstr(props, "valid_digits", NULL)) {
        c->valid_digits = strdup(pstr(props, "valid_digits", ""));
        if (!digits_ok(c->valid_digits)) {
            diag(v, IVR_SEV_ERROR, "valid_digits", npath(&pb, v, ".props.valid_digits"),
                 "valid_digits may only contain 0-9, * and #.");
        }
    }
    if (pstr(props, "pattern", NULL)) {
        if (regcomp(&c->pattern, pstr(props, "pattern", ""), REG_EXTENDED | REG_NOSUB) != 0) {
            diag(v, IVR_SEV_ERROR, "regex", npath(&pb, v, ".props.pattern"),
                 "The pattern is not a valid regular expression.");
        } else {
            c->has_pattern = true;
        }
    }
    if (json_is_array(ch)) {
        size_t maxlen = 0;
        c->choices = calloc(json_array_size(ch) + 1, sizeof(*c->choices));
        if (c->choices == NULL) {
            v->r->oom = true;
            return;
        }
        json_array_foreach (ch, i, it) {
            const char *d = json_string_value(it);
            npath(&pb, v, ".props.choices[%zu]", i);
            if (d == NULL || !digits_ok(d)) {
                diag(v, IVR_SEV_ERROR, "choice_keys", pb.s,
                     "Menu choices may only contain the keys 0-9, * and #.");
                continue;
            }
            for (size_t k = 0; k < c->nchoices; k++) {
                if (strcmp(c->choices[k].digits, d) == 0) {
                    diag(v, IVR_SEV_ERROR, "choice_duplicate", pb.s,
                         "The choice \"%s\" is listed twice.", d);
                }
            }
            if (c->finish_key && strchr(d, c->finish_key)) {
                diag(v, IVR_SEV_ERROR, "choice_finish_key", pb.s,
                     "The choice \"%s\" contains the finish key %c, which ends input and is "
                     "never part of it.",
                     d, c->finish_key);
            }
            struct ivr__choice *cc = &c->choices[c->nchoices++];
            cc->digits = strdup(d);
            cc->event = malloc(strlen(d) + 8);
            if (cc->digits == NULL || cc->event == NULL) {
                v->r->oom = true;
                return;
            }
            snprintf(cc->event, strlen(d) + 8, "choice:%s", d);
            maxlen = strlen(d) > maxlen ? strlen(d) : maxlen;
        }
        if (c->max_digits == 0) {
            c->max_digits = (int)maxlen;
        }
        for (size_t a = 0; a < c->nchoices; a++) {
            size_t la = strlen(c->choices[a].digits);
            if ((int)la < c->min_digits || (int)la > c->max_digits) {
                diag(v, IVR_SEV_ERROR, "choice_length", npath(&pb, v, ".props.choices"),
                     "The choice \"%s\" can never be entered: it is not between min_digits (%d) "
                     "and max_digits (%d) keys long.",
                     c->choices[a].digits, c->min_digits, c->max_digits);
            }
            for (size_t b = 0; b < c->nchoices; b++) {
                if (a != b && strlen(c->choices[b].digits) > la &&
                    strncmp(c->choices[a].digits, c->choices[b].digits, la) == 0) {
                    c->prefix_ambiguous = true;
                    diag(v, IVR_SEV_WARNING, "choice_prefix", npath(&pb, v, ".props.choices"),
                         "Choice \"%s\" is the start of \"%s\": callers who press %s wait %lld "
                         "ms more to see whether another key follows.",
                         c->choices[a].digits, c->choices[b].digits, c->choices[a].digits,
                         (long long)c->inter_ms);
                }
            }
        }
    } else if (c->max_digits < 0) {
        diag(v, IVR_SEV_ERROR, "required_property", npath(&pb, v, ".props.max_digits"),
             "An input step without menu choices needs max_digits.");
        c->max_digits = 1;
    }
    if (c->min_digits < 1 || c->min_digits > c->max_digits || c->max_digits > IVR_MAX_DIGITS) {
        diag(v, IVR_SEV_ERROR, "digit_limits", npath(&pb, v, ".props.min_digits"),
             "Digits must satisfy 1 <= min_digits (%d) <= max_digits (%d) <= %d.", c->min_digits,
             c->max_digits, IVR_MAX_DIGITS);
    }
    range_check(v, "first_digit_timeout_ms", c->first_ms, 1000, 30000, " ms");
    range_check(v, "inter_digit_timeout_ms", c->inter_ms, 1000, 15000, " ms");
    if (c->max_ms != 0) {
        range_check(v, "max_duration_ms", c->max_ms, 1000, 300000, " ms");
    }
    range_check(v, "max_noinput", c->max_noinput, 0, 5, "");
    range_check(v, "max_nomatch", c->max_nomatch, 0, 5, "");
    json_t *ni = json_object_get(props, "noinput_prompts");
    json_t *nm = json_object_get(props, "nomatch_prompts");
    c->noinput_prompts = calloc(json_array_size(ni) + 1, sizeof(*c->noinput_prompts));
    c->nomatch_prompts = calloc(json_array_size(nm) + 1, sizeof(*c->nomatch_prompts));
    if (c->noinput_prompts == NULL || c->nomatch_prompts == NULL) {
        v->r->oom = true;
        return;
    }
    json_array_foreach (ni, i, it) {
        json_t *one = json_array();
        json_array_append(one, it);
        prompts(v, json_is_array(it) ? it : one, npath(&pb, v, ".props.noinput_prompts[%zu]", i),
                &c->noinput_prompts[c->nnoinput++]);
        json_decref(one);
    }
    json_array_foreach (nm, i, it) {
        json_t *one = json_array();
        json_array_append(one, it);
        prompts(v, json_is_array(it) ? it : one, npath(&pb, v, ".props.nomatch_prompts[%zu]", i),
                &c->nomatch_prompts[c->nnomatch++]);
        json_decref(one);
    }
    if (pstr(props, "save_as", NULL)) {
        const char *sa = pstr(props, "save_as", "");
        const char *name = strncmp(sa, "flow.", 5) == 0 ? sa + 5 : sa;
        if (*name == '\0' || strchr(name, '.') != NULL) {
            diag(v, IVR_SEV_ERROR, "variable_name", npath(&pb, v, ".props.save_as"),
                 "save_as names a flow variable, like flow.account or account.");
        } else {
            c->save_as = strdup(name);
            json_object_set_new(v->assigned, name, json_true());
        }
    }
}

/* Marks what a masked collect produces, before templates are checked. */
static void note_masked(struct vstate *v, const char *id, json_t *props)
{
    char key[160];
    if (!pbool(props, "mask", false)) {
        return;
    }
    snprintf(key, sizeof(key), "nodes.%s.digits", id);
    json_object_set_new(v->masked, key, json_true());
    const char *sa = pstr(props, "save_as", NULL);
    if (sa != NULL) {
        snprintf(key, sizeof(key), "flow.%s", strncmp(sa, "flow.", 5) == 0 ? sa + 5 : sa);
        json_object_set_new(v->masked, key, json_true());
    }
}

static const struct {
    const char *name;
    enum ivr__op op;
} ops[] = {
    { "eq", IVR_OP_EQ },
    { "ne", IVR_OP_NE },
    { "lt", IVR_OP_LT },
    { "le", IVR_OP_LE },
    { "gt", IVR_OP_GT },
    { "ge", IVR_OP_GE },
    { "in", IVR_OP_IN },
    { "not_in", IVR_OP_NOT_IN },
    { "contains", IVR_OP_CONTAINS },
    { "starts_with", IVR_OP_STARTS_WITH },
    { "ends_with", IVR_OP_ENDS_WITH },
    { "regex", IVR_OP_REGEX },
    { "empty", IVR_OP_EMPTY },
    { "not_empty", IVR_OP_NOT_EMPTY },
    { "before_time", IVR_OP_BEFORE_TIME },
    { "after_time", IVR_OP_AFTER_TIME },
    { "weekday_in", IVR_OP_WEEKDAY_IN },
    { "date_between", IVR_OP_DATE_BETWEEN },
    { "business_hours", IVR_OP_BUSINESS_HOURS },
};

static int weekday_parse(const char *s)
{
    static const char *const days[] = { "sun", "mon", "tue", "wed", "thu", "fri", "sat" };
    for (int i = 0; i < 7; i++) {
        if (strcmp(s, days[i]) == 0) {
            return i;
        }
    }
    return -1;
}

static void compile_cond(struct vstate *v, json_t *w, const char *path, struct ivr__cond *c,
                         int depth);

static void compile_group(struct vstate *v, json_t *arr, const char *path, struct ivr__cond *c,
                          int depth)
{
    size_t i;
    json_t *it;
    struct pbuf pb = { "" };
    c->sub = calloc(json_array_size(arr) + 1, sizeof(*c->sub));
    if (c->sub == NULL) {
        v->r->oom = true;
        return;
    }
    json_array_foreach (arr, i, it) {
        pathf(pb.s, sizeof(pb.s), "%s[%zu]", path, i);
        compile_cond(v, it, pb.s, &c->sub[c->nsub++], depth + 1);
    }
}

static void compile_cond(struct vstate *v, json_t *w, const char *path, struct ivr__cond *c,
                         int depth)
{
    struct pbuf pb = { "" };
    if (!json_is_object(w) || depth > 8) {
        diag(v, IVR_SEV_ERROR, "condition", path,
             "A condition is an object like {\"left\": \"{{flow.x}}\", \"op\": \"eq\", "
             "\"right\": \"1\"} (nested at most 8 deep).");
        c->op = IVR_OP_ALL;
        return;
    }
    json_t *all = json_object_get(w, "all");
    json_t *any = json_object_get(w, "any");
    if (json_is_array(all) || json_is_array(any)) {
        c->op = json_is_array(all) ? IVR_OP_ALL : IVR_OP_ANY;
        pathf(pb.s, sizeof(pb.s), "%s.%s", path, json_is_array(all) ? "all" : "any");
        compile_group(v, json_is_array(all) ? all : any, pb.s, c, depth);
        return;
    }
    const char *op = json_string_value(json_object_get(w, "op"));
    size_t k;
    for (k = 0; op && k < sizeof(ops) / sizeof(ops[0]); k++) {
        if (strcmp(ops[k].name, op) == 0) {
            break;
        }
    }
    if (op == NULL || k == sizeof(ops) / sizeof(ops[0])) {
        diag(v, IVR_SEV_ERROR, "condition_operator", path,
             "Unknown comparison \"%s\"; use eq, ne, lt, le, gt, ge, in, not_in, contains, "
             "starts_with, ends_with, regex, empty, not_empty, before_time, after_time, "
             "weekday_in, date_between or business_hours.",
             op ? op : "(none)");
        c->op = IVR_OP_ALL;
        return;
    }
    c->op = ops[k].op;
    const char *as = json_string_value(json_object_get(w, "as"));
    if (as == NULL || strcmp(as, "string") == 0) {
        c->as = IVR_AS_STRING;
    } else if (strcmp(as, "number") == 0) {
        c->as = IVR_AS_NUMBER;
    } else if (strcmp(as, "bool") == 0) {
        c->as = IVR_AS_BOOL;
    } else {
        diag(v, IVR_SEV_ERROR, "condition_type", path, "\"as\" must be string, number or bool.");
    }
    if (c->op >= IVR_OP_LT && c->op <= IVR_OP_GE && c->as != IVR_AS_NUMBER) {
        diag(v, IVR_SEV_ERROR, "condition_type", path,
             "Less/greater comparisons need \"as\": \"number\" (otherwise \"10\" < \"9\" as "
             "text).");
    }
    json_t *left = json_object_get(w, "left");
    json_t *right = json_object_get(w, "right");
    const char *tz = json_string_value(json_object_get(w, "tz"));
    if (tz != NULL) {
        c->tz = strdup(tz);
    }
    if (c->op < IVR_OP_BEFORE_TIME) {
        if (!json_is_string(left)) {
            diag(
                v, IVR_SEV_ERROR, "condition", path,
                "The condition needs \"left\": the value to test, e.g. \"{{nodes.menu.digits}}\".");
            return;
        }
        pathf(pb.s, sizeof(pb.s), "%s.left", path);
        c->left = tmpl(v, json_string_value(left), pb.s, TC_GENERAL);
    }
    pathf(pb.s, sizeof(pb.s), "%s.right", path);
    switch (c->op) {
    case IVR_OP_EMPTY:
    case IVR_OP_NOT_EMPTY:
        return;
    case IVR_OP_IN:
    case IVR_OP_NOT_IN:
    case IVR_OP_WEEKDAY_IN: {
        size_t i;
        json_t *it;
        if (!json_is_array(right)) {
            diag(v, IVR_SEV_ERROR, "condition", pb.s, "\"right\" must be a list of values.");
            return;
        }
        c->list = calloc(json_array_size(right) + 1, sizeof(char *));
        if (c->list == NULL) {
            v->r->oom = true;
            return;
        }
        json_array_foreach (right, i, it) {
            struct ivr__buf b = { 0 };
            ivr__value_text(it, &b);
            ivr__buf_add(&b, "", 0);
            if (c->op == IVR_OP_WEEKDAY_IN && weekday_parse(b.p) < 0) {
                diag(v, IVR_SEV_ERROR, "condition", pb.s,
                     "\"%s\" is not a weekday; use sun, mon, tue, wed, thu, fri, sat.", b.p);
            }
            c->list[c->nlist++] = b.p;
        }
        return;
    }
    case IVR_OP_BEFORE_TIME:
    case IVR_OP_AFTER_TIME:
        c->t1 = json_is_string(right) ? ivr__parse_hhmm(json_string_value(right)) : -1;
        if (c->t1 < 0) {
            diag(v, IVR_SEV_ERROR, "condition", pb.s, "\"right\" must be a time like \"17:30\".");
        }
        return;
    case IVR_OP_DATE_BETWEEN: {
        json_t *a = json_array_get(right, 0), *b = json_array_get(right, 1);
        c->t1 = json_is_string(a) ? ivr__parse_date(json_string_value(a)) : INT_MIN;
        c->t2 = json_is_string(b) ? ivr__parse_date(json_string_value(b)) : INT_MIN;
        if (c->t1 == INT_MIN || c->t2 == INT_MIN || c->t1 > c->t2) {
            diag(v, IVR_SEV_ERROR, "condition", pb.s,
                 "\"right\" must be two dates [\"2026-12-24\", \"2026-12-31\"], first <= second.");
        }
        return;
    }
    case IVR_OP_BUSINESS_HOURS: {
        const char *cal = json_string_value(json_object_get(w, "calendar"));
        for (size_t i = 0; cal && i < v->f->ncals; i++) {
            if (strcmp(v->f->cals[i].name, cal) == 0) {
                c->cal = &v->f->cals[i];
            }
        }
        if (c->cal == NULL) {
            diag(v, IVR_SEV_ERROR, "calendar_missing", path,
                 "The business-hours calendar \"%s\" is not defined in settings.calendars.",
                 cal ? cal : "(none)");
        }
        return;
    }
    case IVR_OP_REGEX:
        if (!json_is_string(right) ||
            regcomp(&c->re, json_string_value(right), REG_EXTENDED | REG_NOSUB) != 0) {
            diag(v, IVR_SEV_ERROR, "regex", pb.s, "The pattern is not a valid regular expression.");
        } else {
            c->has_re = true;
        }
        return;
    default:
        if (json_is_string(right)) {
            c->right = tmpl(v, json_string_value(right), pb.s, TC_GENERAL);
        } else if (json_is_number(right) || json_is_boolean(right)) {
            struct ivr__buf b = { 0 };
            const char *err;
            ivr__value_text(right, &b);
            ivr__buf_add(&b, "", 0);
            c->right = ivr__tmpl_compile(b.p ? b.p : "", &err);
            ivr__buf_fini(&b);
        } else {
            diag(v, IVR_SEV_ERROR, "condition", pb.s,
                 "The condition needs \"right\": the value to compare with.");
        }
        return;
    }
}

static void compile_branch(struct vstate *v, struct ivr__node *n, json_t *props)
{
    struct pbuf pb = { "" };
    json_t *routes = json_object_get(props, "routes");
    size_t i;
    json_t *it;
    bool always = false;
    if (!json_is_array(routes)) {
        return;
    }
    if (json_array_size(routes) == 0) {
        diag(v, IVR_SEV_ERROR, "branch_routes", npath(&pb, v, ".props.routes"),
             "A branch needs at least one route besides the default.");
    }
    n->u.branch.routes = calloc(json_array_size(routes) + 1, sizeof(struct ivr__route));
    if (n->u.branch.routes == NULL) {
        v->r->oom = true;
        return;
    }
    json_array_foreach (routes, i, it) {
        const char *id = json_string_value(json_object_get(it, "id"));
        json_t *when = json_object_get(it, "when");
        npath(&pb, v, ".props.routes[%zu]", i);
        if (id == NULL || *id == '\0' || strlen(id) > IVR_MAX_ID) {
            diag(v, IVR_SEV_ERROR, "branch_routes", pb.s,
                 "Each route needs an \"id\" (1-64 characters) and a \"when\" condition.");
            continue;
        }
        struct ivr__route *r = &n->u.branch.routes[n->u.branch.nroutes];
        for (size_t k = 0; k < n->u.branch.nroutes; k++) {
            if (strcmp(n->u.branch.routes[k].id, id) == 0) {
                diag(v, IVR_SEV_ERROR, "branch_routes", pb.s, "Two routes are called \"%s\".", id);
            }
            json_t *prev = json_object_get(json_array_get(routes, k), "when");
            if (json_equal(prev, when)) {
                diag(v, IVR_SEV_WARNING, "duplicate_condition", pb.s,
                     "Route \"%s\" has the same condition as an earlier route, so it is never "
                     "taken.",
                     id);
            }
        }
        if (always) {
            diag(v, IVR_SEV_WARNING, "route_unreachable", pb.s,
                 "Route \"%s\" comes after a route that always matches, so it is never taken.", id);
        }
        r->id = strdup(id);
        r->event = malloc(strlen(id) + 7);
        if (r->id == NULL || r->event == NULL) {
            free(r->id);
            free(r->event);
            v->r->oom = true;
            return;
        }
        snprintf(r->event, strlen(id) + 7, "route:%s", id);
        char wp[300];
        pathf(wp, sizeof(wp), "%s.when", pb.s);
        compile_cond(v, when, wp, &r->cond, 0);
        n->u.branch.nroutes++;
        json_t *all = json_object_get(when, "all");
        if (json_is_array(all) && json_array_size(all) == 0) {
            always = true;
        }
    }
}

static char **var_target(struct vstate *v, const char *name, const char *path, size_t *nseg)
{
    char buf[200];
    if (strncmp(name, "flow.", 5) != 0 && strncmp(name, "contact.", 8) != 0) {
        snprintf(buf, sizeof(buf), "flow.%s", name);
        name = buf;
    }
    char **seg = ivr__split_path(name, nseg);
    if (seg == NULL || *nseg != 2) {
        diag(v, IVR_SEV_ERROR, "variable_name", path,
             "\"%s\" is not a variable you can set; use flow.name or contact.name.", name);
        if (seg != NULL) {
            ivr__free_path(seg, *nseg);
        }
        return NULL;
    }
    if (strcmp(seg[0], "flow") == 0) {
        json_object_set_new(v->assigned, seg[1], json_true());
    }
    return seg;
}

static void compile_set(struct vstate *v, struct ivr__node *n, json_t *props)
{
    struct pbuf pb = { "" };
    json_t *arr = json_object_get(props, "assign");
    size_t i;
    json_t *it;
    if (!json_is_array(arr)) {
        return;
    }
    n->u.set.assign = calloc(json_array_size(arr) + 1, sizeof(struct ivr__assign));
    if (n->u.set.assign == NULL) {
        v->r->oom = true;
        return;
    }
    json_array_foreach (arr, i, it) {
        const char *name = json_string_value(json_object_get(it, "name"));
        json_t *value = json_object_get(it, "value");
        const char *type = json_string_value(json_object_get(it, "type"));
        struct ivr__assign *a = &n->u.set.assign[n->u.set.n];
        npath(&pb, v, ".props.assign[%zu]", i);
        if (name == NULL || value == NULL) {
            diag(v, IVR_SEV_ERROR, "assign", pb.s,
                 "Each assignment needs a \"name\" and a \"value\".");
            continue;
        }
        a->seg = var_target(v, name, pb.s, &a->nseg);
        if (a->seg == NULL) {
            continue;
        }
        if (type == NULL || strcmp(type, "string") == 0) {
            a->type = IVR_T_STRING;
        } else if (strcmp(type, "number") == 0) {
            a->type = IVR_T_NUMBER;
        } else if (strcmp(type, "bool") == 0) {
            a->type = IVR_T_BOOL;
        } else if (strcmp(type, "json") == 0) {
            a->type = IVR_T_JSON;
        } else {
            diag(v, IVR_SEV_ERROR, "assign", pb.s,
                 "\"type\" must be string, number, bool or json.");
        }
        struct ivr__buf b = { 0 };
        if (json_is_string(value)) {
            ivr__buf_adds(&b, json_string_value(value));
        } else {
            char *d = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
            ivr__buf_adds(&b, d ? d : "");
            free(d);
            if (type == NULL) {
                a->type = json_is_number(value)    ? IVR_T_NUMBER
                          : json_is_boolean(value) ? IVR_T_BOOL
                                                   : IVR_T_JSON;
            }
        }
        char vp[300];
        pathf(vp, sizeof(vp), "%s.value", pb.s);
        a->value = tmpl(v, b.p ? b.p : "", vp, TC_GENERAL);
        ivr__buf_fini(&b);
        if (a->value != NULL) {
            n->u.set.n++;
        } else {
            ivr__free_path(a->seg, a->nseg);
            a->seg = NULL;
        }
    }
}

static bool method_idempotent(const char *m)
{
    return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0 || strcmp(m, "PUT") == 0 ||
           strcmp(m, "DELETE") == 0 || strcmp(m, "OPTIONS") == 0;
}

static void kvs(struct vstate *v, json_t *obj, const char *path, enum tctx ctx,
                struct ivr__kv **out, size_t *n)
{
    const char *k;
    json_t *val;
    struct pbuf pb = { "" };
    *out = calloc(json_object_size(obj) + 1, sizeof(**out));
    if (*out == NULL) {
        v->r->oom = true;
        return;
    }
    json_object_foreach (obj, k, val) {
        pathf(pb.s, sizeof(pb.s), "%s.%s", path, k);
        if (!json_is_string(val)) {
            diag(v, IVR_SEV_ERROR, "property_type", pb.s, "\"%s\" must be text.", k);
            continue;
        }
        struct ivr__tmpl *t = tmpl(v, json_string_value(val), pb.s, ctx);
        if (t == NULL) {
            continue;
        }
        (*out)[*n].name = strdup(k);
        (*out)[*n].value = t;
        (*n)++;
    }
}

static void check_secret_names(struct vstate *v, const struct ivr__tmpl *t, const char *path)
{
    if (v->opt->secrets == NULL || t == NULL) {
        return;
    }
    for (size_t i = 0; i < t->nparts; i++) {
        const struct ivr__tpart *p = &t->parts[i];
        if (p->lit || strcmp(p->seg[0], "secrets") != 0 || p->nseg < 2) {
            continue;
        }
        bool found = false;
        for (size_t k = 0; k < v->opt->nsecrets; k++) {
            found |= strcmp(v->opt->secrets[k], p->seg[1]) == 0;
        }
        if (!found) {
            diag(v, IVR_SEV_ERROR, "secret_missing", path,
                 "The secret \"%s\" does not exist for this tenant.", p->seg[1]);
        }
    }
}

static void check_url(struct vstate *v, const char *url, const char *path)
{
    if (strncmp(url, "https://", 8) == 0) {
        return;
    }
    if (strncmp(url, "{{", 2) == 0) {
        diag(v, IVR_SEV_WARNING, "url_dynamic", path,
             "The address starts with a variable, so it cannot be checked before the call.");
        return;
    }
    if (strncmp(url, "http://", 7) == 0) {
        const char *h = url + 7;
        size_t hl = strcspn(h, ":/?#");
        for (size_t i = 0; i < v->opt->nhttp_hosts; i++) {
            if (strlen(v->opt->http_hosts[i]) == hl && strncmp(v->opt->http_hosts[i], h, hl) == 0) {
                return;
            }
        }
        diag(v, IVR_SEV_ERROR, "url_scheme", path,
             "The address must start with https:// (plain http:// only for hosts your "
             "administrator allowed).");
        return;
    }
    diag(v, IVR_SEV_ERROR, "url_scheme", path,
         "The address must be absolute and start with https://.");
}

static void compile_api(struct vstate *v, struct ivr__node *n, json_t *props)
{
    struct pbuf pb = { "" };
    struct ivr__api *a = &n->u.api;
    static const char *const methods[] = { "GET",    "POST", "PUT",    "PATCH",
                                           "DELETE", "HEAD", "OPTIONS" };
    const char *m = pstr(props, "method", "GET");
    bool mok = false;
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        mok |= strcmp(methods[i], m) == 0;
    }
    if (!mok) {
        diag(v, IVR_SEV_ERROR, "http_method", npath(&pb, v, ".props.method"),
             "\"%s\" is not an HTTP method; use GET, POST, PUT, PATCH, DELETE or HEAD.", m);
    }
    a->method = strdup(m);
    if (pstr(props, "url", NULL)) {
        check_url(v, pstr(props, "url", ""), npath(&pb, v, ".props.url"));
        a->url = tmpl(v, pstr(props, "url", ""), pb.s, TC_GENERAL);
    }
    kvs(v, json_object_get(props, "headers"), npath(&pb, v, ".props.headers"), TC_SECRET,
        &a->headers, &a->nheaders);
    for (size_t i = 0; i < a->nheaders; i++) {
        check_secret_names(v, a->headers[i].value, pb.s);
    }
    kvs(v, json_object_get(props, "query"), npath(&pb, v, ".props.query"), TC_GENERAL, &a->query,
        &a->nquery);
    json_t *body = json_object_get(props, "body");
    if (body != NULL) {
        char *d = json_is_string(body) ? strdup(json_string_value(body))
                                       : json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
        if (d != NULL) {
            struct ivr__tmpl *t = tmpl(v, d, npath(&pb, v, ".props.body"), TC_GENERAL);
            if (json_is_string(body)) {
                a->body = t;
            } else {
                ivr__tmpl_free(t);
                a->body_json = json_deep_copy(body);
            }
        }
        free(d);
    }
    json_t *auth = json_object_get(props, "auth");
    if (auth != NULL) {
        const char *type = json_string_value(json_object_get(auth, "type"));
        npath(&pb, v, ".props.auth");
        if (type != NULL && strcmp(type, "basic") == 0) {
            const char *u = json_string_value(json_object_get(auth, "username"));
            const char *p = json_string_value(json_object_get(auth, "password"));
            a->user = u ? tmpl(v, u, pb.s, TC_SECRET) : NULL;
            a->pass = p ? tmpl(v, p, pb.s, TC_SECRET) : NULL;
            check_secret_names(v, a->pass, pb.s);
            if (u == NULL) {
                diag(v, IVR_SEV_ERROR, "auth", pb.s, "Basic authentication needs a username.");
            }
        } else if (type != NULL && strcmp(type, "bearer") == 0) {
            const char *t = json_string_value(json_object_get(auth, "token"));
            a->bearer = t ? tmpl(v, t, pb.s, TC_SECRET) : NULL;
            check_secret_names(v, a->bearer, pb.s);
            if (t == NULL) {
                diag(v, IVR_SEV_ERROR, "auth", pb.s, "Bearer authentication needs a token.");
            }
        } else {
            diag(v, IVR_SEV_ERROR, "auth", pb.s, "\"auth.type\" must be basic or bearer.");
        }
    }
    a->timeout_ms = pint(props, "timeout_ms", 5000);
    a->connect_ms = pint(props, "connect_timeout_ms", 2000);
    range_check(v, "timeout_ms", a->timeout_ms, 100, 10000, " ms");
    range_check(v, "connect_timeout_ms", a->connect_ms, 100, a->timeout_ms, " ms");
    a->max_bytes = (size_t)pint(props, "max_response_bytes", 65536);
    range_check(v, "max_response_bytes", (long long)a->max_bytes, 1, 1024 * 1024, " bytes");
    json_t *retries = json_object_get(props, "retries");
    if (retries != NULL) {
        a->retries = (int)json_integer_value(json_object_get(retries, "count"));
        a->backoff_ms = json_integer_value(json_object_get(retries, "backoff_ms"));
        if (a->backoff_ms == 0) {
            a->backoff_ms = 200;
        }
        range_check(v, "retries", a->retries, 0, 3, "");
        if (a->retries > 0 && !method_idempotent(m) &&
            pstr(props, "idempotency_key", NULL) == NULL) {
            diag(v, IVR_SEV_ERROR, "retry_not_idempotent", npath(&pb, v, ".props.retries"),
                 "A %s request may have taken effect before it failed; retry it only with an "
                 "idempotency_key.",
                 m);
        }
    }
    json_t *map = json_object_get(props, "response_mapping");
    size_t i;
    json_t *it;
    a->map = calloc(json_array_size(map) + 1, sizeof(*a->map));
    if (a->map == NULL) {
        v->r->oom = true;
        return;
    }
    json_array_foreach (map, i, it) {
        const char *var = json_string_value(json_object_get(it, "var"));
        const char *path = json_string_value(json_object_get(it, "path"));
        npath(&pb, v, ".props.response_mapping[%zu]", i);
        if (var == NULL || path == NULL) {
            diag(v, IVR_SEV_ERROR, "response_mapping", pb.s,
                 "Each mapping needs \"var\" (where to store) and \"path\" (e.g. "
                 "\"data.balance\").");
            continue;
        }
        const char *p = path;
        if (strncmp(p, "$.", 2) == 0) {
            p += 2;
        }
        struct ivr__mapping *mp = &a->map[a->nmap];
        mp->path = ivr__split_path(p, &mp->npath);
        if (mp->path == NULL) {
            diag(v, IVR_SEV_ERROR, "response_mapping", pb.s,
                 "\"%s\" is not a response path like data.balance or items.0.id.", path);
            continue;
        }
        mp->seg = var_target(v, var, pb.s, &mp->nseg);
        if (mp->seg == NULL) {
            ivr__free_path(mp->path, mp->npath);
            continue;
        }
        a->nmap++;
    }
}

static bool target_ok(const char *type, const char *val)
{
    if (strstr(val, "{{") != NULL) {
        return true;
    }
    if (strcmp(type, "pstn") == 0) {
        size_t n = strlen(val);
        if (val[0] != '+' || n < 8 || n > 16 || val[1] == '0') {
            return false;
        }
        for (size_t i = 1; i < n; i++) {
            if (!isdigit((unsigned char)val[i])) {
                return false;
            }
        }
        return true;
    }
    if (strcmp(type, "extension") == 0) {
        return digits_ok(val) && strlen(val) <= 15;
    }
    if (strcmp(type, "sip") == 0) {
        return strncmp(val, "sip:", 4) == 0 || strncmp(val, "sips:", 5) == 0;
    }
    if (strcmp(type, "queue") == 0) {
        for (const char *p = val; *p; p++) {
            if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-') {
                return false;
            }
        }
        return *val != '\0';
    }
    return false;
}

static void compile_transfer(struct vstate *v, struct ivr__node *n, json_t *props)
{
    struct pbuf pb = { "" };
    struct ivr__transfer *t = &n->u.transfer;
    json_t *target = json_object_get(props, "target");
    const char *mode = pstr(props, "mode", "blind");
    if (strcmp(mode, "blind") == 0) {
        t->mode = IVR_TRANSFER_BLIND;
    } else if (strcmp(mode, "bridge") == 0) {
        t->mode = IVR_TRANSFER_BRIDGE;
    } else {
        diag(v, IVR_SEV_ERROR, "transfer_mode", npath(&pb, v, ".props.mode"),
             "\"mode\" must be blind or bridge.");
    }
    t->ring_timeout_s = (int)pint(props, "ring_timeout_s", 30);
    range_check(v, "ring_timeout_s", t->ring_timeout_s, 5, 120, " s");
    if (json_is_object(target)) {
        const char *type = json_string_value(json_object_get(target, "type"));
        const char *val = json_string_value(json_object_get(target, "value"));
        npath(&pb, v, ".props.target");
        if (type == NULL || val == NULL ||
            (strcmp(type, "extension") && strcmp(type, "pstn") && strcmp(type, "sip") &&
             strcmp(type, "queue"))) {
            diag(v, IVR_SEV_ERROR, "transfer_target", pb.s,
                 "The target needs a type (extension, pstn, sip or queue) and a value.");
            return;
        }
        if (!target_ok(type, val)) {
            diag(v, IVR_SEV_ERROR, "transfer_target", pb.s,
                 "\"%s\" is not a valid %s target (pstn: +14155550123, extension: digits, sip: "
                 "sip:user@host, queue: a name).",
                 val, type);
        }
        t->target_type = strdup(type);
        t->target = tmpl(v, val, pb.s, TC_GENERAL);
    }
    if (pstr(props, "caller_id", NULL)) {
        t->caller_id =
            tmpl(v, pstr(props, "caller_id", ""), npath(&pb, v, ".props.caller_id"), TC_GENERAL);
    }
}

static void compile_vm(struct vstate *v, struct ivr__node *n, json_t *props)
{
    struct pbuf pb = { "" };
    struct ivr__voicemail *m = &n->u.vm;
    prompts(v, json_object_get(props, "greeting"), npath(&pb, v, ".props.greeting"), &m->greeting);
    m->beep = pbool(props, "beep", true);
    m->max_length_s = (int)pint(props, "max_length_s", 120);
    m->silence_s = (int)pint(props, "silence_timeout_s", 5);
    m->min_length_s = (int)pint(props, "min_length_s", 1);
    m->finish_key = key_char(v, props, "finish_on_key", "#");
    range_check(v, "max_length_s", m->max_length_s, 5, 600, " s");
    range_check(v, "silence_timeout_s", m->silence_s, 1, 60, " s");
    range_check(v, "min_length_s", m->min_length_s, 0, m->max_length_s, " s");
}

static int cause_parse(const char *s)
{
    static const struct {
        const char *name;
        int code;
    } causes[] = { { "normal", 16 },   { "busy", 17 },       { "no_answer", 19 },
                   { "rejected", 21 }, { "congestion", 34 }, { "failure", 38 } };

    for (size_t i = 0; i < sizeof(causes) / sizeof(causes[0]); i++) {
        if (strcmp(causes[i].name, s) == 0) {
            return causes[i].code;
        }
    }
    return -1;
}

static void compile_hangup(struct vstate *v, struct ivr__node *n, json_t *props)
{
    struct pbuf pb = { "" };
    n->u.hangup.cause = cause_parse(pstr(props, "cause", "normal"));
    if (n->u.hangup.cause < 0) {
        diag(v, IVR_SEV_ERROR, "hangup_cause", npath(&pb, v, ".props.cause"),
             "\"cause\" must be normal, busy, no_answer, rejected, congestion or failure.");
        n->u.hangup.cause = 16;
    }
    const char *d = pstr(props, "disposition", NULL);
    if (d != NULL) {
        n->u.hangup.disposition = strdup(d);
        if (strlen(d) == 0 || strlen(d) > 64) {
            diag(v, IVR_SEV_ERROR, "disposition", npath(&pb, v, ".props.disposition"),
                 "A disposition code has 1 to 64 characters.");
        }
    }
    prompts(v, json_object_get(props, "final_prompt"), npath(&pb, v, ".props.final_prompt"),
            &n->u.hangup.final_prompt);
}

static void compile_subflow(struct vstate *v, struct ivr__node *n, json_t *props)
{
    struct pbuf pb = { "" };
    struct ivr__subflow *s = &n->u.sub;
    s->flow_id = strdup(pstr(props, "flow_id", ""));
    s->revision = (int)pint(props, "revision", 0);
    kvs(v, json_object_get(props, "inputs"), npath(&pb, v, ".props.inputs"), TC_GENERAL, &s->inputs,
        &s->ninputs);
    kvs(v, json_object_get(props, "outputs"), npath(&pb, v, ".props.outputs"), TC_GENERAL,
        &s->outputs, &s->noutputs);
    for (size_t i = 0; i < s->noutputs; i++) {
        json_object_set_new(v->assigned, s->outputs[i].name, json_true());
    }
    npath(&pb, v, ".props.flow_id");
    if (v->flow_id != NULL && strcmp(v->flow_id, s->flow_id) == 0) {
        diag(v, IVR_SEV_ERROR, "subflow_recursion", pb.s,
             "A flow cannot call itself as a subflow.");
        return;
    }
    if (v->opt->subflow == NULL) {
        diag(v, IVR_SEV_WARNING, "subflow_unchecked", pb.s,
             "The subflow \"%s\" will be looked up when the call reaches this step.", s->flow_id);
        return;
    }
    struct ivr_flow *sub = v->opt->subflow(s->flow_id, s->revision, v->opt->subflow_arg);
    if (sub == NULL) {
        diag(v, IVR_SEV_ERROR, "subflow_missing", pb.s,
             "The subflow \"%s\" does not exist or has no published revision.", s->flow_id);
        return;
    }
    for (size_t i = 0; i < sub->nnodes; i++) {
        if (sub->nodes[i].type == IVR_N_SUBFLOW) {
            diag(v, IVR_SEV_ERROR, "subflow_nested", pb.s,
                 "The subflow \"%s\" calls another subflow; subflows cannot be nested.",
                 s->flow_id);
            break;
        }
    }
    const char *k;
    json_t *val;
    json_object_foreach (sub->var_defaults, k, val) {
        bool given = false;
        for (size_t i = 0; i < s->ninputs; i++) {
            given |= strcmp(s->inputs[i].name, k) == 0;
        }
        if (json_is_null(val) && !given) {
            diag(v, IVR_SEV_ERROR, "subflow_input", pb.s,
                 "The subflow \"%s\" needs the input \"%s\".", s->flow_id, k);
        }
    }
    ivr_flow_unref(sub);
}

/* ---------------------------------------------------------------------- */
/* Events and edges (rules 4, 5, 6)                                        */
/* ---------------------------------------------------------------------- */

int ivr__edge_find(const struct ivr__node *n, const char *event)
{
    for (size_t i = 0; i < n->nedges; i++) {
        if (strcmp(n->edges[i].event, event) == 0) {
            return n->edges[i].target;
        }
    }
    return IVR_NO_NODE;
}

static bool event_known(const struct ivr__node *n, const char *ev)
{
    for (const char *const *e = events[n->type]; *e; e++) {
        if (strcmp(*e, ev) == 0) {
            return true;
        }
    }
    if (n->type == IVR_N_COLLECT) {
        for (size_t i = 0; i < n->u.collect.nchoices; i++) {
            if (strcmp(n->u.collect.choices[i].event, ev) == 0) {
                return true;
            }
        }
    }
    if (n->type == IVR_N_BRANCH) {
        for (size_t i = 0; i < n->u.branch.nroutes; i++) {
            if (strcmp(n->u.branch.routes[i].event, ev) == 0) {
                return true;
            }
        }
    }
    return false;
}

static bool failure_event(const char *ev)
{
    return strcmp(ev, "error") == 0 || strcmp(ev, "timeout") == 0 || strcmp(ev, "failed") == 0;
}

/* Calls fn for each event the node must map (rule 6). */
static void required_events(const struct ivr__node *n, void (*fn)(void *, const char *), void *arg)
{
    switch (n->type) {
    case IVR_N_START:
    case IVR_N_SET_VARIABLE:
    case IVR_N_WAIT:
        fn(arg, "next");
        break;
    case IVR_N_PLAY:
    case IVR_N_SAY:
        fn(arg, "done");
        break;
    case IVR_N_COLLECT:
        fn(arg, "noinput");
        fn(arg, "nomatch");
        if (n->u.collect.nchoices == 0) {
            fn(arg, "input");
        }
        for (size_t i = 0; i < n->u.collect.nchoices; i++) {
            fn(arg, n->u.collect.choices[i].event);
        }
        break;
    case IVR_N_BRANCH:
        fn(arg, "default");
        for (size_t i = 0; i < n->u.branch.nroutes; i++) {
            fn(arg, n->u.branch.routes[i].event);
        }
        break;
    case IVR_N_API_CALL:
        fn(arg, "success");
        fn(arg, "error");
        fn(arg, "timeout");
        break;
    case IVR_N_TRANSFER:
        fn(arg, "failed");
        if (n->u.transfer.mode == IVR_TRANSFER_BRIDGE) {
            fn(arg, "completed");
            fn(arg, "busy");
            fn(arg, "no_answer");
        }
        break;
    case IVR_N_VOICEMAIL:
        fn(arg, "recorded");
        fn(arg, "no_audio");
        break;
    case IVR_N_LOOP:
        fn(arg, "continue");
        fn(arg, "exhausted");
        break;
    case IVR_N_SUBFLOW:
        fn(arg, "completed");
        fn(arg, "failed");
        break;
    default:
        break;
    }
}

struct req_ctx {
    struct vstate *v;
    const struct ivr__node *n;
    json_t *next; /* the document's "next": an event named there was already judged */
};

static void check_required_event(void *arg, const char *ev)
{
    struct req_ctx *rc = arg;
    struct pbuf pb = { "" };
    if (ivr__edge_find(rc->n, ev) != IVR_NO_NODE || json_object_get(rc->next, ev) != NULL) {
        return;
    }
    if (failure_event(ev) && rc->v->f->on_error != IVR_NO_NODE) {
        return;
    }
    diag(rc->v, IVR_SEV_ERROR, "outcome_unmapped", npath(&pb, rc->v, ".next.%s", ev),
         "Nothing happens after \"%s\" on this step; connect it to a next step%s.", ev,
         failure_event(ev) ? " or set a flow-level error handler" : "");
}

/* Parses node.next into edges (targets resolved after all nodes are known). */
static void parse_next(struct vstate *v, struct ivr__node *n, json_t *next)
{
    struct pbuf pb = { "" };
    const char *ev;
    json_t *t;
    if (next == NULL) {
        return;
    }
    if (!json_is_object(next)) {
        diag(v, IVR_SEV_ERROR, "property_type", npath(&pb, v, ".next"),
             "\"next\" maps outcomes to step ids, like {\"done\": \"menu\"}.");
        return;
    }
    n->edges = calloc(json_object_size(next) + 1, sizeof(*n->edges));
    if (n->edges == NULL) {
        v->r->oom = true;
        return;
    }
    json_object_foreach (next, ev, t) {
        /* Paths are built only for findings: this loop runs for every edge of every flow. */
        if (!event_known(n, ev)) {
            npath(&pb, v, ".next.%s", ev);
            diag(v, IVR_SEV_ERROR, "unknown_event", pb.s, "A %s step has no outcome called \"%s\".",
                 ivr__ntype_names[n->type], ev);
            continue;
        }
        if (!json_is_string(t)) {
            npath(&pb, v, ".next.%s", ev);
            diag(v, IVR_SEV_ERROR, "property_type", pb.s, "The next step must be given by its id.");
            continue;
        }
        int k = node_index(v, json_string_value(t));
        if (k == IVR_NO_NODE) {
            npath(&pb, v, ".next.%s", ev);
            diag(v, IVR_SEV_ERROR, "dangling_transition", pb.s,
                 "The outcome \"%s\" leads to a step \"%s\" that does not exist.", ev,
                 json_string_value(t));
            continue;
        }
        n->edges[n->nedges].event = strdup(ev);
        if (n->edges[n->nedges].event == NULL) {
            v->r->oom = true;
            return;
        }
        n->edges[n->nedges].target = k;
        n->nedges++;
    }
}

/* ---------------------------------------------------------------------- */
/* Freeing                                                                 */
/* ---------------------------------------------------------------------- */

static void cond_free(struct ivr__cond *c)
{
    ivr__tmpl_free(c->left);
    ivr__tmpl_free(c->right);
    for (size_t i = 0; i < c->nlist; i++) {
        free(c->list[i]);
    }
    free(c->list);
    if (c->has_re) {
        regfree(&c->re);
    }
    free(c->tz);
    for (size_t i = 0; i < c->nsub; i++) {
        cond_free(&c->sub[i]);
    }
    free(c->sub);
}

static void kv_free(struct ivr__kv *kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(kv[i].name);
        ivr__tmpl_free(kv[i].value);
    }
    free(kv);
}

static void node_free(struct ivr__node *n)
{
    free(n->id);
    for (size_t i = 0; i < n->nedges; i++) {
        free(n->edges[i].event);
    }
    free(n->edges);
    switch (n->type) {
    case IVR_N_PLAY:
    case IVR_N_SAY:
        prompts_free(&n->u.media.items);
        ivr__tmpl_free(n->u.media.lang);
        ivr__tmpl_free(n->u.media.voice);
        break;
    case IVR_N_COLLECT: {
        struct ivr__collect *c = &n->u.collect;
        prompts_free(&c->prompt);
        free(c->valid_digits);
        if (c->has_pattern) {
            regfree(&c->pattern);
        }
        for (size_t i = 0; i < c->nchoices; i++) {
            free(c->choices[i].digits);
            free(c->choices[i].event);
        }
        free(c->choices);
        for (size_t i = 0; i < c->nnoinput; i++) {
            prompts_free(&c->noinput_prompts[i]);
        }
        for (size_t i = 0; i < c->nnomatch; i++) {
            prompts_free(&c->nomatch_prompts[i]);
        }
        free(c->noinput_prompts);
        free(c->nomatch_prompts);
        free(c->save_as);
        break;
    }
    case IVR_N_BRANCH:
        for (size_t i = 0; i < n->u.branch.nroutes; i++) {
            free(n->u.branch.routes[i].id);
            free(n->u.branch.routes[i].event);
            cond_free(&n->u.branch.routes[i].cond);
        }
        free(n->u.branch.routes);
        break;
    case IVR_N_SET_VARIABLE:
        for (size_t i = 0; i < n->u.set.n; i++) {
            ivr__free_path(n->u.set.assign[i].seg, n->u.set.assign[i].nseg);
            ivr__tmpl_free(n->u.set.assign[i].value);
        }
        free(n->u.set.assign);
        break;
    case IVR_N_API_CALL: {
        struct ivr__api *a = &n->u.api;
        free(a->method);
        ivr__tmpl_free(a->url);
        kv_free(a->headers, a->nheaders);
        kv_free(a->query, a->nquery);
        ivr__tmpl_free(a->body);
        json_decref(a->body_json);
        ivr__tmpl_free(a->user);
        ivr__tmpl_free(a->pass);
        ivr__tmpl_free(a->bearer);
        for (size_t i = 0; i < a->nmap; i++) {
            ivr__free_path(a->map[i].seg, a->map[i].nseg);
            ivr__free_path(a->map[i].path, a->map[i].npath);
        }
        free(a->map);
        break;
    }
    case IVR_N_TRANSFER:
        free(n->u.transfer.target_type);
        ivr__tmpl_free(n->u.transfer.target);
        ivr__tmpl_free(n->u.transfer.caller_id);
        break;
    case IVR_N_VOICEMAIL:
        prompts_free(&n->u.vm.greeting);
        break;
    case IVR_N_HANGUP:
        free(n->u.hangup.disposition);
        prompts_free(&n->u.hangup.final_prompt);
        break;
    case IVR_N_SUBFLOW:
        free(n->u.sub.flow_id);
        kv_free(n->u.sub.inputs, n->u.sub.ninputs);
        kv_free(n->u.sub.outputs, n->u.sub.noutputs);
        break;
    case IVR_N_RETURN:
        free(n->u.ret.exit);
        break;
    default:
        break;
    }
}

static void flow_free(struct ivr_flow *f)
{
    for (size_t i = 0; i < f->nnodes; i++) {
        node_free(&f->nodes[i]);
    }
    free(f->nodes);
    for (size_t i = 0; i < f->ncals; i++) {
        struct ivr__calendar *c = &f->cals[i];
        free(c->name);
        free(c->tz);
        for (int d = 0; d < 7; d++) {
            free(c->days[d]);
        }
        free(c->holidays);
    }
    free(f->cals);
    free(f->name);
    free(f->language);
    free(f->voice);
    free(f->tz);
    json_decref(f->var_defaults);
    free(f);
}

struct ivr_flow *ivr_flow_ref(struct ivr_flow *f)
{
    atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
    return f;
}

void ivr_flow_unref(struct ivr_flow *f)
{
    /* acq_rel: the last owner must see every write made before other unrefs. */
    if (f != NULL && atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) == 1) {
        flow_free(f);
    }
}

size_t ivr_flow_nodes(const struct ivr_flow *f)
{
    return f->nnodes;
}

const char *ivr_flow_name(const struct ivr_flow *f)
{
    return f->name ? f->name : "";
}

/* ---------------------------------------------------------------------- */
/* Settings                                                                */
/* ---------------------------------------------------------------------- */

static void parse_calendars(struct vstate *v, json_t *cals)
{
    const char *name;
    json_t *c;
    char path[300];
    struct ivr_flow *f = v->f;
    if (!json_is_object(cals)) {
        return;
    }
    f->cals = calloc(json_object_size(cals) + 1, sizeof(*f->cals));
    if (f->cals == NULL) {
        v->r->oom = true;
        return;
    }
    json_object_foreach (cals, name, c) {
        struct ivr__calendar *cal = &f->cals[f->ncals++];
        const char *tz = json_string_value(json_object_get(c, "tz"));
        json_t *hours = json_object_get(c, "hours");
        json_t *hol = json_object_get(c, "holidays");
        int off;
        cal->name = strdup(name);
        cal->tz = strdup(tz ? tz : "UTC");
        pathf(path, sizeof(path), "$.settings.calendars.%s", name);
        if (tz == NULL || (ivr__tz_fixed(tz, &off) != 0 && strchr(tz, '/') == NULL)) {
            diag(v, IVR_SEV_ERROR, "calendar_tz", path,
                 "The calendar needs \"tz\": a time zone like America/New_York, UTC or +01:00.");
        }
        if (!json_is_object(hours)) {
            diag(v, IVR_SEV_ERROR, "calendar_hours", path,
                 "The calendar needs \"hours\", e.g. {\"mon\": [\"09:00-17:00\"]}.");
            continue;
        }
        const char *dk;
        json_t *ranges;
        json_object_foreach (hours, dk, ranges) {
            int d = weekday_parse(dk);
            size_t i;
            json_t *r;
            if (d < 0 || !json_is_array(ranges)) {
                diag(v, IVR_SEV_ERROR, "calendar_hours", path,
                     "\"%s\" is not a weekday (sun..sat) with a list of \"HH:MM-HH:MM\" ranges.",
                     dk);
                continue;
            }
            free(cal->days[d]);
            cal->days[d] = calloc(json_array_size(ranges) + 1, sizeof(struct ivr__range));
            cal->ndays[d] = 0;
            if (cal->days[d] == NULL) {
                v->r->oom = true;
                return;
            }
            json_array_foreach (ranges, i, r) {
                const char *s = json_string_value(r);
                char a[6], b[6];
                int from = -1, to = -1;
                if (s != NULL && strlen(s) == 11 && s[5] == '-') {
                    memcpy(a, s, 5);
                    a[5] = '\0';
                    memcpy(b, s + 6, 5);
                    b[5] = '\0';
                    from = ivr__parse_hhmm(a);
                    to = ivr__parse_hhmm(b);
                }
                if (from < 0 || to <= from) {
                    diag(v, IVR_SEV_ERROR, "calendar_hours", path,
                         "\"%s\" is not an opening range like \"09:00-17:30\".", s ? s : "?");
                    continue;
                }
                cal->days[d][cal->ndays[d]].from = from;
                cal->days[d][cal->ndays[d]].to = to;
                cal->ndays[d]++;
            }
        }
        size_t i;
        json_t *h;
        cal->holidays = calloc(json_array_size(hol) + 1, sizeof(int));
        json_array_foreach (hol, i, h) {
            int day = json_is_string(h) ? ivr__parse_date(json_string_value(h)) : INT_MIN;
            if (day == INT_MIN) {
                diag(v, IVR_SEV_ERROR, "calendar_holidays", path,
                     "Holidays are dates like \"2026-12-25\".");
                continue;
            }
            cal->holidays[cal->nholidays++] = day;
        }
    }
}

static const char *handler(struct vstate *v, json_t *settings, const char *key, int *out)
{
    const char *id = json_string_value(json_object_get(settings, key));
    char path[64];
    *out = IVR_NO_NODE;
    if (id == NULL) {
        return NULL;
    }
    *out = node_index(v, id);
    if (*out == IVR_NO_NODE) {
        pathf(path, sizeof(path), "$.settings.%s", key);
        diag(v, IVR_SEV_ERROR, "handler_missing", path,
             "The %s handler points to a step \"%s\" that does not exist.", key, id);
    }
    return id;
}

static void parse_settings(struct vstate *v, json_t *s)
{
    struct ivr_flow *f = v->f;
    json_t *limits = json_object_get(s, "limits");
    f->language = strdup(json_string_value(json_object_get(s, "language")) ?: "en-US");
    f->voice = strdup(json_string_value(json_object_get(s, "voice")) ?: "default");
    f->tz = strdup(json_string_value(json_object_get(s, "tz")) ?: "UTC");
    if (!lang_ok(f->language)) {
        diag(v, IVR_SEV_ERROR, "language", "$.settings.language",
             "\"%s\" is not a language tag like en-US.", f->language);
    }
    f->max_steps = 500;
    f->max_consecutive = 10;
    f->max_duration_ms = 3600 * 1000;
    if (json_is_object(limits)) {
        json_t *j;
        if (json_is_integer(j = json_object_get(limits, "max_steps"))) {
            f->max_steps = (int)json_integer_value(j);
        }
        if (json_is_integer(j = json_object_get(limits, "max_consecutive_visits"))) {
            f->max_consecutive = (int)json_integer_value(j);
        }
        if (json_is_integer(j = json_object_get(limits, "max_duration_s"))) {
            f->max_duration_ms = json_integer_value(j) * 1000;
        }
        if (f->max_steps < 1 || f->max_steps > 5000 || f->max_consecutive < 1 ||
            f->max_consecutive > 100 || f->max_duration_ms < 1000 ||
            f->max_duration_ms > 4 * 3600 * 1000) {
            diag(v, IVR_SEV_ERROR, "out_of_range", "$.settings.limits",
                 "Limits: max_steps 1-5000, max_consecutive_visits 1-100, max_duration_s "
                 "1-14400.");
        }
    }
    parse_calendars(v, json_object_get(s, "calendars"));
}

/* ---------------------------------------------------------------------- */
/* Graph rules (8, 9, 10, 11, 20)                                          */
/* ---------------------------------------------------------------------- */

static bool is_input_node(const struct ivr__node *n)
{
    return n->type == IVR_N_COLLECT || n->type == IVR_N_VOICEMAIL;
}

static bool is_media_node(const struct ivr__node *n)
{
    return n->type == IVR_N_PLAY || n->type == IVR_N_SAY || n->type == IVR_N_COLLECT ||
           n->type == IVR_N_TRANSFER || n->type == IVR_N_VOICEMAIL || n->type == IVR_N_WAIT ||
           n->type == IVR_N_SUBFLOW;
}

/* Every event the node may emit at run time. */
static size_t possible_events(const struct ivr__node *n, const char **out, size_t max)
{
    size_t k = 0;
    for (const char *const *e = events[n->type]; *e && k < max; e++) {
        if (n->type == IVR_N_COLLECT && strcmp(*e, "input") == 0 && n->u.collect.nchoices) {
            continue;
        }
        if (n->type == IVR_N_TRANSFER && n->u.transfer.mode == IVR_TRANSFER_BLIND &&
            strcmp(*e, "failed") != 0 && strcmp(*e, "transferred") != 0) {
            continue;
        }
        if (n->type == IVR_N_START && strcmp(*e, "next") != 0 && ivr__edge_find(n, *e) < 0) {
            continue;
        }
        out[k++] = *e;
    }
    if (n->type == IVR_N_COLLECT) {
        for (size_t i = 0; i < n->u.collect.nchoices && k < max; i++) {
            out[k++] = n->u.collect.choices[i].event;
        }
    }
    if (n->type == IVR_N_BRANCH) {
        for (size_t i = 0; i < n->u.branch.nroutes && k < max; i++) {
            out[k++] = n->u.branch.routes[i].event;
        }
    }
    return k;
}

struct graph {
    int *adj_start; /* CSR: successors of i are adj[adj_start[i] .. adj_start[i+1]) */
    int *adj;
    int *radj_start;
    int *radj;
};

static int graph_build(const struct ivr_flow *f, struct graph *g)
{
    size_t n = f->nnodes, m = 0;
    for (size_t i = 0; i < n; i++) {
        m += f->nodes[i].nedges;
    }
    g->adj_start = calloc(n + 1, sizeof(int));
    g->adj = calloc(m + 1, sizeof(int));
    g->radj_start = calloc(n + 2, sizeof(int));
    g->radj = calloc(m + 1, sizeof(int));
    if (!g->adj_start || !g->adj || !g->radj_start || !g->radj) {
        return ERR_NOMEM;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        g->adj_start[i] = (int)k;
        for (size_t e = 0; e < f->nodes[i].nedges; e++) {
            int t = f->nodes[i].edges[e].target;
            g->adj[k++] = t;
            g->radj_start[t + 2]++;
        }
    }
    g->adj_start[n] = (int)k;
    for (size_t i = 2; i < n + 2; i++) {
        g->radj_start[i] += g->radj_start[i - 1];
    }
    for (size_t i = 0; i < n; i++) {
        for (int e = g->adj_start[i]; e < g->adj_start[i + 1]; e++) {
            g->radj[g->radj_start[g->adj[e] + 1]++] = (int)i;
        }
    }
    return 0;
}

static void graph_free(struct graph *g)
{
    free(g->adj_start);
    free(g->adj);
    free(g->radj_start);
    free(g->radj);
}

/* Iterative Tarjan: comp[i] = component id; returns the number of components. */
static int tarjan(const struct ivr_flow *f, const struct graph *g, int *comp)
{
    int n = (int)f->nnodes, idx = 0, ncomp = 0, sp = 0, cs = 0;
    int *index = malloc(sizeof(int) * (size_t)n), *low = malloc(sizeof(int) * (size_t)n);
    int *stack = malloc(sizeof(int) * (size_t)n), *call = malloc(sizeof(int) * (size_t)n);
    int *edge = malloc(sizeof(int) * (size_t)n);
    bool *on = calloc((size_t)n + 1, sizeof(bool));
    if (!index || !low || !stack || !call || !edge || !on) {
        ncomp = -1;
        goto out;
    }
    for (int i = 0; i < n; i++) {
        index[i] = -1;
    }
    for (int r = 0; r < n; r++) {
        if (index[r] >= 0) {
            continue;
        }
        call[cs] = r;
        edge[cs++] = g->adj_start[r];
        index[r] = low[r] = idx++;
        stack[sp++] = r;
        on[r] = true;
        while (cs > 0) {
            int u = call[cs - 1];
            if (edge[cs - 1] < g->adj_start[u + 1]) {
                int w = g->adj[edge[cs - 1]++];
                if (index[w] < 0) {
                    index[w] = low[w] = idx++;
                    stack[sp++] = w;
                    on[w] = true;
                    call[cs] = w;
                    edge[cs++] = g->adj_start[w];
                } else if (on[w] && index[w] < low[u]) {
                    low[u] = index[w];
                }
                continue;
            }
            if (low[u] == index[u]) {
                int w;
                do {
                    w = stack[--sp];
                    on[w] = false;
                    comp[w] = ncomp;
                } while (w != u);
                ncomp++;
            }
            cs--;
            if (cs > 0) {
                int p = call[cs - 1];
                if (low[u] < low[p]) {
                    low[p] = low[u];
                }
            }
        }
    }
out:
    free(index);
    free(low);
    free(stack);
    free(call);
    free(edge);
    free(on);
    return ncomp;
}

static void bfs(const struct ivr_flow *f, const struct graph *g, int from, bool *seen, bool reverse,
                int *queue)
{
    (void)f;
    int qh = 0, qt = 0;
    if (from < 0 || seen[from]) {
        return;
    }
    seen[from] = true;
    queue[qt++] = from;
    while (qh < qt) {
        int u = queue[qh++];
        const int *st = reverse ? g->radj_start : g->adj_start;
        const int *a = reverse ? g->radj : g->adj;
        for (int e = st[u]; e < st[u + 1]; e++) {
            if (!seen[a[e]]) {
                seen[a[e]] = true;
                queue[qt++] = a[e];
            }
        }
    }
}

static void graph_rules(struct vstate *v)
{
    struct ivr_flow *f = v->f;
    size_t n = f->nnodes;
    struct graph g = { 0 };
    struct pbuf pb = { "" };
    bool *reach = calloc(n + 1, sizeof(bool));
    bool *ends = calloc(n + 1, sizeof(bool));
    bool *hang = calloc(n + 1, sizeof(bool));
    int *queue = calloc(n + 1, sizeof(int));
    int *comp = calloc(n + 1, sizeof(int));
    if (!reach || !ends || !hang || !queue || !comp || graph_build(f, &g) != 0) {
        v->r->oom = true;
        goto out;
    }
    /* Rule 8: reachable from start or a handler. */
    bfs(f, &g, f->start, reach, false, queue);
    bfs(f, &g, f->on_error, reach, false, queue);
    bfs(f, &g, f->on_hangup, reach, false, queue);
    for (size_t i = 0; i < n; i++) {
        if (!reach[i]) {
            v->node_id = f->nodes[i].id;
            diag(v, v->opt->publish ? IVR_SEV_ERROR : IVR_SEV_WARNING, "unreachable_node",
                 npath(&pb, v, "%s", ""), "No path from the start leads to this step.");
        }
    }
    /* Rule 9: some end is reachable from every node. */
    for (size_t i = 0; i < n; i++) {
        const struct ivr__node *nd = &f->nodes[i];
        const char *evs[80];
        size_t k = possible_events(nd, evs, 80);
        bool end = nd->type == IVR_N_HANGUP || nd->type == IVR_N_RETURN ||
                   (nd->type == IVR_N_TRANSFER && nd->u.transfer.mode == IVR_TRANSFER_BLIND);
        for (size_t e = 0; e < k && !end; e++) {
            end = ivr__edge_find(nd, evs[e]) == IVR_NO_NODE &&
                  !(failure_event(evs[e]) && f->on_error != IVR_NO_NODE);
        }
        if (end && !ends[i]) {
            bfs(f, &g, (int)i, ends, true, queue);
        }
    }
    if (f->on_error != IVR_NO_NODE && ends[f->on_error]) {
        for (size_t i = 0; i < n; i++) {
            ends[i] = true; /* failures can always leave through the handler */
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (!ends[i] && reach[i]) {
            v->node_id = f->nodes[i].id;
            diag(v, IVR_SEV_ERROR, "no_ending", npath(&pb, v, "%s", ""),
                 "From this step the call can never end: every path loops back without reaching "
                 "a hang-up, transfer or end.");
        }
    }
    /* Rule 10: cycles need input or a bound. */
    int ncomp = tarjan(f, &g, comp);
    if (ncomp < 0) {
        v->r->oom = true;
        goto out;
    }
    int *size = calloc((size_t)ncomp + 1, sizeof(int));
    int *flags = calloc((size_t)ncomp + 1, sizeof(int));
    if (size == NULL || flags == NULL) {
        free(size);
        free(flags);
        v->r->oom = true;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const struct ivr__node *nd = &f->nodes[i];
        size[comp[i]]++;
        for (int e = g.adj_start[i]; e < g.adj_start[i + 1]; e++) {
            if (g.adj[e] == (int)i) {
                size[comp[i]]++; /* a self loop is a cycle */
            }
        }
        flags[comp[i]] |=
            (is_input_node(nd) ? 1 : 0) | ((nd->type == IVR_N_LOOP || nd->max_visits > 0) ? 2 : 0);
    }
    for (size_t i = 0; i < n; i++) {
        int c = comp[i];
        if (size[c] < 2 || flags[c] < 0) {
            continue;
        }
        v->node_id = f->nodes[i].id;
        if ((flags[c] & 3) == 0) {
            diag(v, IVR_SEV_ERROR, "cycle_without_input", npath(&pb, v, "%s", ""),
                 "This step is in a loop that never waits for the caller and has no loop limit, "
                 "so it could spin forever; add a loop step or an input step.");
        } else if ((flags[c] & 2) == 0) {
            diag(v, IVR_SEV_WARNING, "unbounded_cycle", npath(&pb, v, "%s", ""),
                 "Callers can go round this loop without limit; consider a loop step that gives "
                 "up after a few rounds.");
        }
        flags[c] = -1; /* one finding per component */
    }
    /* Rule 11: the hang-up handler runs without a caller. */
    if (f->on_hangup != IVR_NO_NODE) {
        bfs(f, &g, f->on_hangup, hang, false, queue);
        for (size_t i = 0; i < n; i++) {
            if (!hang[i]) {
                continue;
            }
            v->node_id = f->nodes[i].id;
            if (is_media_node(&f->nodes[i])) {
                diag(v, IVR_SEV_ERROR, "hangup_handler_media", npath(&pb, v, "%s", ""),
                     "After the caller hung up only data steps can run (set variable, branch, "
                     "API call); this %s step needs a caller.",
                     ivr__ntype_names[f->nodes[i].type]);
            }
            if (size[comp[i]] >= 2 || flags[comp[i]] == -1) {
                diag(v, IVR_SEV_ERROR, "hangup_handler_cycle", npath(&pb, v, "%s", ""),
                     "The steps after a hang-up must not loop.");
            }
        }
    }
    free(size);
    free(flags);
    /* Rule 20: outbound flows speak before any slow request. */
    const struct ivr__node *st = f->start >= 0 ? &f->nodes[f->start] : NULL;
    if (st != NULL) {
        bool outbound = false, human = ivr__edge_find(st, "human") >= 0,
             machine = ivr__edge_find(st, "machine") >= 0;
        json_t *trig = json_object_get(
            json_object_get(json_object_get(json_object_get(v->doc, "nodes"), st->id), "props"),
            "triggers");
        size_t i;
        json_t *it;
        json_array_foreach (trig, i, it) {
            outbound |=
                json_is_string(it) && strcmp(json_string_value(it), "outbound_answered") == 0;
        }
        v->node_id = st->id;
        if (human != machine) {
            diag(v, IVR_SEV_ERROR, "amd_outcomes", npath(&pb, v, ".next"),
                 "When answering-machine results are used, map both \"human\" and \"machine\".");
        }
        int cur = ivr__edge_find(st, "next");
        for (int hops = 0; outbound && cur >= 0 && hops < 32; hops++) {
            const struct ivr__node *nd = &f->nodes[cur];
            if (nd->type == IVR_N_PLAY || nd->type == IVR_N_SAY || nd->type == IVR_N_COLLECT) {
                break;
            }
            if (nd->type == IVR_N_API_CALL) {
                v->node_id = nd->id;
                diag(v, IVR_SEV_WARNING, "outbound_silence", npath(&pb, v, "%s", ""),
                     "The called person hears silence while this request runs; greet them first "
                     "(people hang up on silent calls).");
                break;
            }
            cur = nd->nedges > 0 ? nd->edges[0].target : -1;
        }
    }
out:
    v->node_id = NULL;
    graph_free(&g);
    free(reach);
    free(ends);
    free(hang);
    free(queue);
    free(comp);
}

/* ---------------------------------------------------------------------- */
/* Load                                                                    */
/* ---------------------------------------------------------------------- */

static bool id_ok(const char *id)
{
    static const char *const reserved[] = { "__proto__",      "constructor", "prototype",
                                            "hasOwnProperty", "toString",    "valueOf" };
    size_t n = strlen(id);
    if (n == 0 || n > IVR_MAX_ID) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!isalnum((unsigned char)id[i]) && id[i] != '_' && id[i] != '-') {
            return false;
        }
    }
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
        if (strcmp(reserved[i], id) == 0) {
            return false;
        }
    }
    return true;
}

static int type_parse(const char *s)
{
    for (int i = 0; s && i < IVR_N_COUNT_; i++) {
        if (strcmp(ivr__ntype_names[i], s) == 0) {
            return i;
        }
    }
    return -1;
}

static void compile_node(struct vstate *v, struct ivr__node *n, json_t *props)
{
    switch (n->type) {
    case IVR_N_PLAY:
    case IVR_N_SAY:
        compile_media(v, n, props);
        break;
    case IVR_N_COLLECT:
        compile_collect(v, n, props);
        break;
    case IVR_N_BRANCH:
        compile_branch(v, n, props);
        break;
    case IVR_N_SET_VARIABLE:
        compile_set(v, n, props);
        break;
    case IVR_N_API_CALL:
        compile_api(v, n, props);
        break;
    case IVR_N_TRANSFER:
        compile_transfer(v, n, props);
        break;
    case IVR_N_VOICEMAIL:
        compile_vm(v, n, props);
        break;
    case IVR_N_HANGUP:
        compile_hangup(v, n, props);
        break;
    case IVR_N_LOOP:
        n->u.loop.max = (int)pint(props, "max", 3);
        range_check(v, "max", n->u.loop.max, 1, 100, "");
        break;
    case IVR_N_WAIT:
        n->u.wait.ms = pint(props, "duration_ms", 1000);
        range_check(v, "duration_ms", n->u.wait.ms, 100, 60000, " ms");
        break;
    case IVR_N_SUBFLOW:
        compile_subflow(v, n, props);
        break;
    case IVR_N_RETURN:
        n->u.ret.exit = strdup(pstr(props, "exit", "completed"));
        break;
    case IVR_N_START:
    default: {
        json_t *inputs = json_object_get(props, "inputs");
        const char *k;
        json_t *val;
        json_object_foreach (inputs, k, val) {
            json_object_set_new(v->assigned, k, json_true());
        }
        break;
    }
    }
}

static void check_top(struct vstate *v, json_t *doc)
{
    static const char *const keys[] = { "format",    "flow_id", "name",  "description",
                                        "revision",  "status",  "start", "settings",
                                        "variables", "nodes",   "ui",    "parameters" };
    const char *k;
    json_t *val;
    char path[128];
    json_object_foreach (doc, k, val) {
        bool known = false;
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
            known |= strcmp(keys[i], k) == 0;
        }
        if (!known) {
            pathf(path, sizeof(path), "$.%.100s", k);
            diag(v, IVR_SEV_ERROR, "unknown_property", path,
                 "The flow has no setting called \"%.100s\".", k);
        }
    }
    const char *fmt = json_string_value(json_object_get(doc, "format"));
    if (fmt == NULL || strcmp(fmt, "ivrflow/1") != 0) {
        diag(v, IVR_SEV_ERROR, "format", "$.format",
             "The document must say \"format\": \"ivrflow/1\".");
    }
    if (json_object_get(doc, "parameters") != NULL) {
        diag(v, IVR_SEV_ERROR, "template_not_instantiated", "$.parameters",
             "This is a template: create a flow from it (fill in its parameters) first.");
    }
    const char *vk;
    json_t *decl;
    json_object_foreach (json_object_get(doc, "variables"), vk, decl) {
        json_t *def = json_object_get(decl, "default");
        json_object_set(v->f->var_defaults, vk, def ? def : json_null());
    }
}

static void var_usage(struct vstate *v, json_t *doc)
{
    const char *k;
    json_t *val;
    char path[160];
    json_object_foreach (v->used, k, val) {
        json_t *d = json_object_get(v->f->var_defaults, k);
        if (json_object_get(v->assigned, k) == NULL && (d == NULL || json_is_null(d))) {
            pathf(path, sizeof(path), "$.variables.%.100s", k);
            diag(v, IVR_SEV_WARNING, "variable_unset", path,
                 "flow.%.100s is used but never set and has no default; it will be empty.", k);
        }
    }
    json_object_foreach (json_object_get(doc, "variables"), k, val) {
        if (json_object_get(v->used, k) == NULL) {
            pathf(path, sizeof(path), "$.variables.%.100s", k);
            diag(v, IVR_SEV_INFO, "variable_unused", path,
                 "flow.%.100s is declared but never used.", k);
        }
    }
}

int ivr_flow_load_json(json_t *doc, const struct ivr_load_options *opt, struct ivr_flow **out,
                       struct ivr_report **report)
{
    static const struct ivr_load_options defaults = { 0 };
    struct vstate v = { 0 };
    struct pbuf pb = { "" };
    json_t *nodes = json_object_get(doc, "nodes");
    size_t nn = json_object_size(nodes);
    int rc = 0;

    if (out != NULL) {
        *out = NULL;
    }
    v.opt = opt ? opt : &defaults;
    v.doc = doc;
    v.r = calloc(1, sizeof(*v.r));
    v.f = calloc(1, sizeof(*v.f));
    v.assigned = json_object();
    v.used = json_object();
    v.masked = json_object();
    if (v.f) {
        v.f->var_defaults = json_object();
        v.f->start = v.f->on_error = v.f->on_hangup = IVR_NO_NODE;
        atomic_init(&v.f->refs, 1);
    }
    if (!v.r || !v.f || !v.assigned || !v.used || !v.masked || !v.f->var_defaults) {
        rc = ERR_NOMEM;
        goto out;
    }
    if (!json_is_object(doc)) {
        diag(&v, IVR_SEV_ERROR, "schema", "$", "A flow is a JSON object.");
        goto finish;
    }
    check_top(&v, doc);
    v.flow_id = json_string_value(json_object_get(doc, "flow_id"));
    v.f->name = strdup(json_string_value(json_object_get(doc, "name")) ?: "");
    if (!json_is_object(nodes) || nn == 0) {
        diag(&v, IVR_SEV_ERROR, "schema", "$.nodes", "The flow has no steps.");
        goto finish;
    }
    if (nn > IVR_MAX_NODES) {
        diag(&v, IVR_SEV_ERROR, "too_many_nodes", "$.nodes",
             "A flow may have at most %d steps; this one has %zu. Split it into subflows.",
             IVR_MAX_NODES, nn);
        goto finish;
    }
    /* Rule 2: ids, and the index. */
    v.f->nodes = calloc(nn, sizeof(*v.f->nodes));
    v.node_keys = calloc(nn, sizeof(char *));
    for (v.hcap = 16; v.hcap < nn * 2; v.hcap *= 2) {
    }
    v.hash = calloc(v.hcap, sizeof(int));
    if (!v.f->nodes || !v.node_keys || !v.hash) {
        rc = ERR_NOMEM;
        goto out;
    }
    const char *id;
    json_t *node;
    json_object_foreach (nodes, id, node) {
        size_t k = v.f->nnodes++;
        v.node_keys[k] = (char *)id;
        v.f->nodes[k].id = strdup(id);
        if (v.f->nodes[k].id == NULL) {
            rc = ERR_NOMEM;
            goto out;
        }
        node_index_add(&v, (int)k);
        v.node_id = id;
        if (!id_ok(id)) {
            diag(&v, IVR_SEV_ERROR, "node_id", npath(&pb, &v, "%s", ""),
                 "Step ids have 1-64 letters, digits, '_' or '-' (and cannot be reserved words).");
        }
        if (json_is_object(node)) {
            note_masked(&v, id, json_object_get(node, "props"));
        }
    }
    v.node_id = NULL;
    json_t *settings = json_object_get(doc, "settings");
    parse_settings(&v, settings);
    handler(&v, settings, "on_error", &v.f->on_error);
    handler(&v, settings, "on_hangup", &v.f->on_hangup);
    /* Rules 1, 7, 13-19 per node. */
    for (size_t k = 0; k < v.f->nnodes; k++) {
        struct ivr__node *n = &v.f->nodes[k];
        v.node_id = n->id;
        node = json_object_get(nodes, n->id);
        int type = json_is_object(node)
                       ? type_parse(json_string_value(json_object_get(node, "type")))
                       : -1;
        if (type < 0) {
            diag(&v, IVR_SEV_ERROR, "node_type", npath(&pb, &v, ".type"),
                 "Unknown step type; use start, play, say, collect, branch, set_variable, "
                 "api_call, transfer, voicemail, hangup, loop, wait, subflow or return.");
            n->type = IVR_N_HANGUP;
            continue;
        }
        n->type = (enum ivr__ntype)type;
        const char *nk;
        json_t *nv;
        json_object_foreach (node, nk, nv) {
            if (strcmp(nk, "type") && strcmp(nk, "props") && strcmp(nk, "next") &&
                strcmp(nk, "label") && strcmp(nk, "max_visits") && strcmp(nk, "notes")) {
                diag(&v, IVR_SEV_ERROR, "unknown_property", npath(&pb, &v, ".%s", nk),
                     "A step has no field called \"%s\" (settings go in \"props\").", nk);
            }
        }
        json_t *props = json_object_get(node, "props");
        if (props == NULL) {
            props = json_object();
            json_object_set_new(node, "props", props);
        }
        if (!json_is_object(props)) {
            diag(&v, IVR_SEV_ERROR, "property_type", npath(&pb, &v, ".props"),
                 "\"props\" must be an object.");
            continue;
        }
        check_props(&v, type, props);
        n->max_visits = (int)json_integer_value(json_object_get(node, "max_visits"));
        compile_node(&v, n, props);
    }
    /* Rule 3: one start, and the start points at it. */
    json_t *start = json_object_get(doc, "start");
    size_t nstart = 0;
    for (size_t k = 0; k < v.f->nnodes; k++) {
        nstart += v.f->nodes[k].type == IVR_N_START;
    }
    v.node_id = NULL;
    v.f->start = json_is_string(start) ? node_index(&v, json_string_value(start)) : IVR_NO_NODE;
    if (v.f->start == IVR_NO_NODE || v.f->nodes[v.f->start].type != IVR_N_START) {
        diag(&v, IVR_SEV_ERROR, "start", "$.start", "\"start\" must name the flow's start step.");
        v.f->start = IVR_NO_NODE;
    }
    if (nstart != 1) {
        diag(&v, IVR_SEV_ERROR, "start_count", "$.nodes",
             "A flow has exactly one start step; this one has %zu.", nstart);
    }
    /* Rules 4, 5, 6: edges. Branch conditions needing calendars were compiled above. */
    for (size_t k = 0; k < v.f->nnodes; k++) {
        struct ivr__node *n = &v.f->nodes[k];
        v.node_id = n->id;
        node = json_object_get(nodes, n->id);
        if (!json_is_object(node)) {
            continue;
        }
        parse_next(&v, n, json_object_get(node, "next"));
        struct req_ctx rc2 = { &v, n, json_object_get(node, "next") };
        required_events(n, check_required_event, &rc2);
    }
    if (v.r->nerr == 0 && v.f->start != IVR_NO_NODE) {
        graph_rules(&v);
    }
    v.node_id = NULL;
    var_usage(&v, doc);
finish:
    if (v.r->oom) {
        rc = ERR_NOMEM;
        goto out;
    }
    rc = v.r->nerr == 0 ? 0 : ERR_INVAL;
    if (rc == 0 && out != NULL) {
        *out = v.f;
        v.f = NULL;
    }
out:
    if (v.f) {
        flow_free(v.f);
    }
    free(v.node_keys);
    free(v.hash);
    json_decref(v.assigned);
    json_decref(v.used);
    json_decref(v.masked);
    if (rc == ERR_NOMEM) {
        ivr_report_free(v.r);
        v.r = NULL;
    }
    *report = v.r;
    return rc;
}

int ivr_flow_load(const char *text, size_t len, const struct ivr_load_options *opt,
                  struct ivr_flow **flow, struct ivr_report **report)
{
    json_error_t je;
    if (flow != NULL) {
        *flow = NULL;
    }
    if (len > IVR_MAX_DOC_BYTES) {
        struct ivr_report *r = calloc(1, sizeof(*r));
        struct vstate v = { .r = r };
        if (r == NULL) {
            return ERR_NOMEM;
        }
        diag(&v, IVR_SEV_ERROR, "too_large", "$", "A flow document is limited to 1 MB.");
        *report = r;
        return ERR_INVAL;
    }
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (doc == NULL) {
        struct ivr_report *r = calloc(1, sizeof(*r));
        struct vstate v = { .r = r };
        if (r == NULL) {
            return ERR_NOMEM;
        }
        diag(&v, IVR_SEV_ERROR, "json", "$",
             "The document is not valid JSON (line %d, column %d: %s).", je.line, je.column,
             je.text);
        *report = r;
        return r->oom ? ERR_NOMEM : ERR_INVAL;
    }
    int rc = ivr_flow_load_json(doc, opt, flow, report);
    json_decref(doc);
    return rc;
}
