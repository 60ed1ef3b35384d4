/* SPDX-License-Identifier: MIT */
/*
 * validate_int: what the validator's files share (flow.c: loading, report,
 * property checks, templates and prompts, edges; nodes.c: the per-type
 * compilers; graph.c: reachability, termination, cycles, handlers).
 * Module-private: ivr__v_ prefix, not for other modules.
 */
#ifndef IVR_VALIDATE_INT_H
#define IVR_VALIDATE_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "ivr/ivr_int.h"

struct ivr_report {
    struct ivr_diag *d;
    size_t n, cap, nerr;
    bool oom;
};

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

/* A path buffer: "$.nodes.<id>.<rest>". */
struct pbuf {
    char s[256];
};

enum pkind { P_STR, P_INT, P_BOOL, P_ARR, P_OBJ, P_ANY, P_STRARR, P_TEXT };

struct pspec {
    const char *name;
    enum pkind kind;
    bool required;
};

enum tctx {
    TC_SPEECH,  /* rendered to the caller: masked values and secrets refused */
    TC_GENERAL, /* set_variable, branch, URL, body: secrets refused */
    TC_SECRET,  /* api_call headers and auth: secrets allowed */
};

/* Adds a finding (the node is v->node_id). */
void ivr__v_diag(struct vstate *v, enum ivr_severity sev, const char *rule, const char *path,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* "$.nodes.<current node><suffix>" into b; returns b->s. */
const char *ivr__v_npath(struct pbuf *b, struct vstate *v, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* snprintf for JSON paths (truncation accepted). */
void ivr__v_pathf(char *dst, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

int ivr__v_node_index(const struct vstate *v, const char *id);
bool ivr__v_kind_ok(enum pkind k, json_t *j);
const char *ivr__v_pstr(json_t *props, const char *k, const char *def);
long long ivr__v_pint(json_t *props, const char *k, long long def);
bool ivr__v_pbool(json_t *props, const char *k, bool def);
bool ivr__v_range_check(struct vstate *v, const char *prop, long long val, long long lo,
                        long long hi, const char *unit);
/* Compiles a template and checks its references for the context; NULL after a finding. */
struct ivr__tmpl *ivr__v_tmpl(struct vstate *v, const char *src, const char *path, enum tctx ctx);
bool ivr__v_media_uri_ok(const char *s);
enum ivr_say_as ivr__v_say_as_parse(const char *s, bool *ok);
void ivr__v_prompts(struct vstate *v, json_t *arr, const char *path, struct ivr__prompts *out);
void ivr__v_prompts_free(struct ivr__prompts *p);
void ivr__v_check_lang(struct vstate *v, json_t *props, const char *key);
bool ivr__v_failure_event(const char *ev);
bool ivr__v_digits_ok(const char *s);
int ivr__v_weekday_parse(const char *s);
/* The property table of a node type (also read by the schema test). */
const struct pspec *ivr__pspecs(int type);

/* The events a node type can emit (NULL-terminated). */
const char *const *ivr__v_events(int type);

/* nodes.c: type-specific compile of one node; masked outputs noted before templates. */
void ivr__v_compile_node(struct vstate *v, struct ivr__node *n, json_t *props);
void ivr__v_note_masked(struct vstate *v, const char *id, json_t *props);

/* graph.c: rules 8, 9, 10, 11 and 20 on the compiled edges. */
void ivr__v_graph_rules(struct vstate *v);

#endif
