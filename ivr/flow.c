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
#include "ivr/validate_int.h"

const char *const ivr__ntype_names[IVR_N_COUNT_] = {
    "start",    "play",      "say",    "collect", "branch", "set_variable", "api_call",
    "transfer", "voicemail", "hangup", "loop",    "wait",   "subflow",      "return",
};

/* ---------------------------------------------------------------------- */
/* Report                                                                  */
/* ---------------------------------------------------------------------- */

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

void ivr__v_diag(struct vstate *v, enum ivr_severity sev, const char *rule, const char *path,
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

const char *ivr__v_npath(struct pbuf *b, struct vstate *v, const char *fmt, ...)
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

void ivr__v_pathf(char *dst, size_t n, const char *fmt, ...)
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

int ivr__v_node_index(const struct vstate *v, const char *id)
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

static const char *const *const events_tab[IVR_N_COUNT_] = {
    ev_start, ev_media, ev_media, ev_collect, ev_branch, ev_set, ev_api, ev_transfer, ev_vm,
    ev_none, ev_loop, ev_wait, ev_subflow, ev_none,
};

/* clang-format on */

/* Exported for the schema consistency test. */

const struct pspec *ivr__pspecs(int type)
{
    return pspecs[type];
}

const char *const *ivr__v_events(int type)
{
    return events_tab[type];
}

static const char *kind_name(enum pkind k)
{
    static const char *const names[] = { "text",      "a whole number", "true or false",   "a list",
                                         "an object", "any value",      "a list of texts", "text" };
    return names[k];
}

bool ivr__v_kind_ok(enum pkind k, json_t *j)
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
            ivr__v_diag(v, IVR_SEV_ERROR, "unknown_property",
                        ivr__v_npath(&pb, v, ".props.%s", key),
                        "A %s node has no setting called \"%s\".", ivr__ntype_names[type], key);
        } else if (!ivr__v_kind_ok(s->kind, val)) {
            ivr__v_diag(v, IVR_SEV_ERROR, "property_type", ivr__v_npath(&pb, v, ".props.%s", key),
                        "The setting \"%s\" must be %s.", key, kind_name(s->kind));
        }
    }
    for (const struct pspec *s = pspecs[type]; s->name; s++) {
        if (s->required && json_object_get(props, s->name) == NULL) {
            ivr__v_diag(v, IVR_SEV_ERROR, "required_property",
                        ivr__v_npath(&pb, v, ".props.%s", s->name),
                        "A %s node needs the setting \"%s\".", ivr__ntype_names[type], s->name);
        }
    }
}

/* Typed getters with defaults; the type was checked by check_props. */
const char *ivr__v_pstr(json_t *props, const char *k, const char *def)
{
    json_t *j = json_object_get(props, k);
    return json_is_string(j) ? json_string_value(j) : def;
}

long long ivr__v_pint(json_t *props, const char *k, long long def)
{
    json_t *j = json_object_get(props, k);
    return json_is_integer(j) ? (long long)json_integer_value(j) : def;
}

bool ivr__v_pbool(json_t *props, const char *k, bool def)
{
    json_t *j = json_object_get(props, k);
    return json_is_boolean(j) ? json_is_true(j) : def;
}

bool ivr__v_range_check(struct vstate *v, const char *prop, long long val, long long lo,
                        long long hi, const char *unit)
{
    struct pbuf pb = { "" };
    if (val < lo || val > hi) {
        ivr__v_diag(v, IVR_SEV_ERROR, "out_of_range", ivr__v_npath(&pb, v, ".props.%s", prop),
                    "\"%s\" is %lld%s; it must be between %lld and %lld%s.", prop, val, unit, lo,
                    hi, unit);
        return false;
    }
    return true;
}

/* ---------------------------------------------------------------------- */
/* Templates (rule 15)                                                     */
/* ---------------------------------------------------------------------- */

static void check_refs(struct vstate *v, const struct ivr__tmpl *t, const char *path, enum tctx ctx)
{
    for (size_t i = 0; i < t->nparts; i++) {
        const struct ivr__tpart *p = &t->parts[i];
        if (p->lit != NULL) {
            continue;
        }
        const char *root = p->seg[0];
        if (!ivr__var_group(root)) {
            ivr__v_diag(v, IVR_SEV_ERROR, "unknown_variable", path,
                        "\"%s\" is not a known variable group; use call., contact., flow., nodes., "
                        "sys. or secrets.",
                        root);
            continue;
        }
        if (strcmp(root, "secrets") == 0 && ctx != TC_SECRET) {
            ivr__v_diag(v, IVR_SEV_ERROR, "secret_outside_api_auth", path,
                        "Secrets may only be used in the headers or authentication of an API call, "
                        "never in speech, logs or other settings.");
        }
        if (p->nseg < 2) {
            ivr__v_diag(v, IVR_SEV_ERROR, "unknown_variable", path,
                        "\"%s\" needs a variable name after the group (for example %s.name).", root,
                        root);
            continue;
        }
        if (strcmp(root, "flow") == 0) {
            json_object_set_new(v->used, p->seg[1], json_true());
        }
        if (strcmp(root, "nodes") == 0 && ivr__v_node_index(v, p->seg[1]) == IVR_NO_NODE) {
            ivr__v_diag(
                v, IVR_SEV_WARNING, "unknown_node_reference", path,
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
                    ivr__v_diag(
                        v, IVR_SEV_ERROR, "masked_in_speech", path,
                        "\"%s\" holds masked input (card or PIN digits) and must not be read "
                        "back or logged.",
                        k2);
                }
            }
        }
    }
}

struct ivr__tmpl *ivr__v_tmpl(struct vstate *v, const char *src, const char *path, enum tctx ctx)
{
    const char *err;
    struct ivr__tmpl *t = ivr__tmpl_compile(src, &err);
    if (t == NULL) {
        ivr__v_diag(v, IVR_SEV_ERROR, "template_syntax", path,
                    "The text \"%.60s\" has a template error: %s.", src, err);
        return NULL;
    }
    check_refs(v, t, path, ctx);
    return t;
}

/* ---------------------------------------------------------------------- */
/* Prompts                                                                 */
/* ---------------------------------------------------------------------- */

bool ivr__v_media_uri_ok(const char *s)
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

enum ivr_say_as ivr__v_say_as_parse(const char *s, bool *ok)
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
        ivr__v_diag(
            v, IVR_SEV_ERROR, "prompt_item", path,
            "Each prompt item is either {\"say\": \"text\"} or {\"play\": \"sound:name\"}.");
        return false;
    }
    out->is_say = json_is_string(say);
    out->say_as = ivr__v_say_as_parse(json_string_value(json_object_get(it, "say_as")), &ok);
    if (!ok) {
        ivr__v_diag(v, IVR_SEV_ERROR, "property_type", path,
                    "say_as must be text, digits, number or characters.");
    }
    const char *src = json_string_value(out->is_say ? say : play);
    if (!out->is_say && !ivr__v_media_uri_ok(src)) {
        ivr__v_diag(v, IVR_SEV_ERROR, "media_uri", path,
                    "\"%.60s\" is not a playable sound; use sound:, recording:, digits:, number:, "
                    "characters:, tone: or https:.",
                    src);
    }
    if (out->is_say && strlen(src) > 3000) {
        ivr__v_diag(v, IVR_SEV_ERROR, "text_too_long", path,
                    "Spoken text is limited to 3000 characters.");
    }
    out->text = ivr__v_tmpl(v, src, path, TC_SPEECH);
    return out->text != NULL;
}

void ivr__v_prompts(struct vstate *v, json_t *arr, const char *path, struct ivr__prompts *out)
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
        ivr__v_diag(v, IVR_SEV_ERROR, "too_many_prompts", path,
                    "A prompt may have at most %d items.", IVR_MAX_PROMPT_ITEMS);
        return;
    }
    out->items = calloc(json_array_size(arr) + 1, sizeof(*out->items));
    if (out->items == NULL) {
        v->r->oom = true;
        return;
    }
    json_array_foreach (arr, i, it) {
        ivr__v_pathf(pb.s, sizeof(pb.s), "%s[%zu]", path, i);
        if (prompt_item(v, it, pb.s, &out->items[out->n])) {
            out->n++;
        }
    }
}

void ivr__v_prompts_free(struct ivr__prompts *p)
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

void ivr__v_check_lang(struct vstate *v, json_t *props, const char *key)
{
    struct pbuf pb = { "" };
    const char *l = ivr__v_pstr(props, key, NULL);
    if (l != NULL && strstr(l, "{{") == NULL && !lang_ok(l)) {
        ivr__v_diag(v, IVR_SEV_ERROR, "language", ivr__v_npath(&pb, v, ".props.%s", key),
                    "\"%s\" is not a language tag like en-US or fr-FR.", l);
    }
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
    for (const char *const *e = events_tab[n->type]; *e; e++) {
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

bool ivr__v_failure_event(const char *ev)
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
    if (ivr__v_failure_event(ev) && rc->v->f->on_error != IVR_NO_NODE) {
        return;
    }
    ivr__v_diag(rc->v, IVR_SEV_ERROR, "outcome_unmapped", ivr__v_npath(&pb, rc->v, ".next.%s", ev),
                "Nothing happens after \"%s\" on this step; connect it to a next step%s.", ev,
                ivr__v_failure_event(ev) ? " or set a flow-level error handler" : "");
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
        ivr__v_diag(v, IVR_SEV_ERROR, "property_type", ivr__v_npath(&pb, v, ".next"),
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
            ivr__v_npath(&pb, v, ".next.%s", ev);
            ivr__v_diag(v, IVR_SEV_ERROR, "unknown_event", pb.s,
                        "A %s step has no outcome called \"%s\".", ivr__ntype_names[n->type], ev);
            continue;
        }
        if (!json_is_string(t)) {
            ivr__v_npath(&pb, v, ".next.%s", ev);
            ivr__v_diag(v, IVR_SEV_ERROR, "property_type", pb.s,
                        "The next step must be given by its id.");
            continue;
        }
        int k = ivr__v_node_index(v, json_string_value(t));
        if (k == IVR_NO_NODE) {
            ivr__v_npath(&pb, v, ".next.%s", ev);
            ivr__v_diag(v, IVR_SEV_ERROR, "dangling_transition", pb.s,
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
        ivr__v_prompts_free(&n->u.media.items);
        ivr__tmpl_free(n->u.media.lang);
        ivr__tmpl_free(n->u.media.voice);
        break;
    case IVR_N_COLLECT: {
        struct ivr__collect *c = &n->u.collect;
        ivr__v_prompts_free(&c->prompt);
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
            ivr__v_prompts_free(&c->noinput_prompts[i]);
        }
        for (size_t i = 0; i < c->nnomatch; i++) {
            ivr__v_prompts_free(&c->nomatch_prompts[i]);
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
        ivr__v_prompts_free(&n->u.vm.greeting);
        break;
    case IVR_N_HANGUP:
        free(n->u.hangup.disposition);
        ivr__v_prompts_free(&n->u.hangup.final_prompt);
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
        ivr__v_pathf(path, sizeof(path), "$.settings.calendars.%s", name);
        if (tz == NULL || (ivr__tz_fixed(tz, &off) != 0 && strchr(tz, '/') == NULL)) {
            ivr__v_diag(
                v, IVR_SEV_ERROR, "calendar_tz", path,
                "The calendar needs \"tz\": a time zone like America/New_York, UTC or +01:00.");
        }
        if (!json_is_object(hours)) {
            ivr__v_diag(v, IVR_SEV_ERROR, "calendar_hours", path,
                        "The calendar needs \"hours\", e.g. {\"mon\": [\"09:00-17:00\"]}.");
            continue;
        }
        const char *dk;
        json_t *ranges;
        json_object_foreach (hours, dk, ranges) {
            int d = ivr__v_weekday_parse(dk);
            size_t i;
            json_t *r;
            if (d < 0 || !json_is_array(ranges)) {
                ivr__v_diag(
                    v, IVR_SEV_ERROR, "calendar_hours", path,
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
                    ivr__v_diag(v, IVR_SEV_ERROR, "calendar_hours", path,
                                "\"%s\" is not an opening range like \"09:00-17:30\".",
                                s ? s : "?");
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
                ivr__v_diag(v, IVR_SEV_ERROR, "calendar_holidays", path,
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
    *out = ivr__v_node_index(v, id);
    if (*out == IVR_NO_NODE) {
        ivr__v_pathf(path, sizeof(path), "$.settings.%s", key);
        ivr__v_diag(v, IVR_SEV_ERROR, "handler_missing", path,
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
        ivr__v_diag(v, IVR_SEV_ERROR, "language", "$.settings.language",
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
            ivr__v_diag(v, IVR_SEV_ERROR, "out_of_range", "$.settings.limits",
                        "Limits: max_steps 1-5000, max_consecutive_visits 1-100, max_duration_s "
                        "1-14400.");
        }
    }
    parse_calendars(v, json_object_get(s, "calendars"));
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
            ivr__v_pathf(path, sizeof(path), "$.%.100s", k);
            ivr__v_diag(v, IVR_SEV_ERROR, "unknown_property", path,
                        "The flow has no setting called \"%.100s\".", k);
        }
    }
    const char *fmt = json_string_value(json_object_get(doc, "format"));
    if (fmt == NULL || strcmp(fmt, "ivrflow/1") != 0) {
        ivr__v_diag(v, IVR_SEV_ERROR, "format", "$.format",
                    "The document must say \"format\": \"ivrflow/1\".");
    }
    if (json_object_get(doc, "parameters") != NULL) {
        ivr__v_diag(v, IVR_SEV_ERROR, "template_not_instantiated", "$.parameters",
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
            ivr__v_pathf(path, sizeof(path), "$.variables.%.100s", k);
            ivr__v_diag(v, IVR_SEV_WARNING, "variable_unset", path,
                        "flow.%.100s is used but never set and has no default; it will be empty.",
                        k);
        }
    }
    json_object_foreach (json_object_get(doc, "variables"), k, val) {
        if (json_object_get(v->used, k) == NULL) {
            ivr__v_pathf(path, sizeof(path), "$.variables.%.100s", k);
            ivr__v_diag(v, IVR_SEV_INFO, "variable_unused", path,
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
        ivr__v_diag(&v, IVR_SEV_ERROR, "schema", "$", "A flow is a JSON object.");
        goto finish;
    }
    check_top(&v, doc);
    v.flow_id = json_string_value(json_object_get(doc, "flow_id"));
    v.f->name = strdup(json_string_value(json_object_get(doc, "name")) ?: "");
    if (!json_is_object(nodes) || nn == 0) {
        ivr__v_diag(&v, IVR_SEV_ERROR, "schema", "$.nodes", "The flow has no steps.");
        goto finish;
    }
    if (nn > IVR_MAX_NODES) {
        ivr__v_diag(&v, IVR_SEV_ERROR, "too_many_nodes", "$.nodes",
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
            ivr__v_diag(
                &v, IVR_SEV_ERROR, "node_id", ivr__v_npath(&pb, &v, "%s", ""),
                "Step ids have 1-64 letters, digits, '_' or '-' (and cannot be reserved words).");
        }
        if (json_is_object(node)) {
            ivr__v_note_masked(&v, id, json_object_get(node, "props"));
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
            ivr__v_diag(&v, IVR_SEV_ERROR, "node_type", ivr__v_npath(&pb, &v, ".type"),
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
                ivr__v_diag(&v, IVR_SEV_ERROR, "unknown_property", ivr__v_npath(&pb, &v, ".%s", nk),
                            "A step has no field called \"%s\" (settings go in \"props\").", nk);
            }
        }
        json_t *props = json_object_get(node, "props");
        if (props == NULL) {
            props = json_object();
            json_object_set_new(node, "props", props);
        }
        if (!json_is_object(props)) {
            ivr__v_diag(&v, IVR_SEV_ERROR, "property_type", ivr__v_npath(&pb, &v, ".props"),
                        "\"props\" must be an object.");
            continue;
        }
        check_props(&v, type, props);
        n->max_visits = (int)json_integer_value(json_object_get(node, "max_visits"));
        ivr__v_compile_node(&v, n, props);
    }
    /* Rule 3: one start, and the start points at it. */
    json_t *start = json_object_get(doc, "start");
    size_t nstart = 0;
    for (size_t k = 0; k < v.f->nnodes; k++) {
        nstart += v.f->nodes[k].type == IVR_N_START;
    }
    v.node_id = NULL;
    v.f->start =
        json_is_string(start) ? ivr__v_node_index(&v, json_string_value(start)) : IVR_NO_NODE;
    if (v.f->start == IVR_NO_NODE || v.f->nodes[v.f->start].type != IVR_N_START) {
        ivr__v_diag(&v, IVR_SEV_ERROR, "start", "$.start",
                    "\"start\" must name the flow's start step.");
        v.f->start = IVR_NO_NODE;
    }
    if (nstart != 1) {
        ivr__v_diag(&v, IVR_SEV_ERROR, "start_count", "$.nodes",
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
        ivr__v_graph_rules(&v);
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
        ivr__v_diag(&v, IVR_SEV_ERROR, "too_large", "$", "A flow document is limited to 1 MB.");
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
        ivr__v_diag(&v, IVR_SEV_ERROR, "json", "$",
                    "The document is not valid JSON (line %d, column %d: %s).", je.line, je.column,
                    je.text);
        *report = r;
        return r->oom ? ERR_NOMEM : ERR_INVAL;
    }
    int rc = ivr_flow_load_json(doc, opt, flow, report);
    json_decref(doc);
    return rc;
}
