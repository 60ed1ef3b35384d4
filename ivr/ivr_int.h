/* SPDX-License-Identifier: MIT */
/*
 * ivr_int: declarations shared by the files of the ivr module (compiled
 * flows, templates, the string buffer). Not for other modules.
 */
#ifndef IVR_IVR_INT_H
#define IVR_IVR_INT_H

#include <jansson.h>
#include <regex.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ivr/ivr.h"

#define IVR_MAX_NODES        1000
#define IVR_MAX_DOC_BYTES    (1024 * 1024)
#define IVR_MAX_PROMPT_ITEMS 20
#define IVR_MAX_DIGITS       64
#define IVR_MAX_ID           64
#define IVR_NO_NODE          (-1)

/* ---------------------------------------------------------------------- */
/* String buffer                                                           */
/* ---------------------------------------------------------------------- */

struct ivr__buf {
    char *p;    /* NUL-terminated once anything was added; NULL before */
    size_t len; /* bytes used */
    size_t cap; /* bytes allocated */
    bool oom;   /* sticky: an append failed */
};

void ivr__buf_add(struct ivr__buf *b, const char *s, size_t n);
void ivr__buf_adds(struct ivr__buf *b, const char *s);
void ivr__buf_fini(struct ivr__buf *b);

/* ---------------------------------------------------------------------- */
/* Templates                                                               */
/* ---------------------------------------------------------------------- */

enum ivr__filter {
    IVR_F_DEFAULT = 0,
    IVR_F_UPPER,
    IVR_F_LOWER,
    IVR_F_DIGITS,
    IVR_F_JSON,
    IVR_F_URLENCODE,
    IVR_F_NUMBER,
    IVR_F_LAST4,
};

struct ivr__tfilter {
    enum ivr__filter kind;
    char *arg; /* default: the fallback text */
};

struct ivr__tpart {
    char *lit;     /* literal text, or NULL for an expression */
    size_t litlen; /* its length */
    char **seg;    /* path segments ("nodes", "menu", "digits") */
    size_t nseg;   /* number of segments */
    struct ivr__tfilter *filters;
    size_t nfilters;
};

struct ivr__tmpl {
    struct ivr__tpart *parts;
    size_t nparts;
    bool constant; /* no expressions: parts[0] (if any) is the whole text */
};

/* Compiles src; NULL with *err (static) on a syntax error or OOM. */
struct ivr__tmpl *ivr__tmpl_compile(const char *src, const char **err);
void ivr__tmpl_free(struct ivr__tmpl *t);

/* ---------------------------------------------------------------------- */
/* Variables (vars.c)                                                      */
/* ---------------------------------------------------------------------- */

/*
 * A compact read-only object: the members of a JSON object in their order,
 * in one allocation (entries, then keys and string values NUL-terminated).
 * Scalars are stored inline; an object or array member keeps a jansson
 * value of its own.
 */
struct ivr__cobj;

/* A compact copy of object o (NULL when o is not an object or on OOM: check json_is_object). */
struct ivr__cobj *ivr__cobj_new(json_t *o);
void ivr__cobj_free(struct ivr__cobj *c);
/* Bytes held (the block and the nested values' count only as a pointer). */
size_t ivr__cobj_size(const struct ivr__cobj *c);
/* The string member key, or NULL (absent or not a string). */
const char *ivr__cobj_str(const struct ivr__cobj *c, const char *key);
/* The object as a new jansson object (NULL on OOM). */
json_t *ivr__cobj_json(const struct ivr__cobj *c);

/*
 * The variables a template, a branch or an assignment reads. Two forms:
 *
 * - a plain tree (session false): tree is {"call":{},"contact":{},...} and
 *   lookups walk it (ivr_render, the flow checker);
 * - a session's store (session true): call.*, contact.* and sys.* (caller's
 *   input) are compact read-only objects; sys.now, sys.time, sys.weekday and
 *   sys.tz are derived from the instant of the last refresh; secrets.* is the
 *   tenant's shared object (a reference, never copied or written); tree holds
 *   only what the flow writes (flow.*, nodes.*, and contact.* once a flow
 *   assigns to it: the compact copy is then turned into a jansson object),
 *   and is created on the first write. A group that holds nothing reads as
 *   an empty object, as every group existed before.
 */
struct ivr__vars {
    json_t *tree;              /* see above; NULL until written (session form) */
    struct ivr__cobj *call;    /* NULL: empty, or moved to tree */
    struct ivr__cobj *contact; /* NULL: empty, or moved to tree */
    struct ivr__cobj *sys;     /* the input's sys.* (usually NULL) */
    json_t *secrets;           /* reference, or NULL */
    const char *sys_tz;        /* sys.tz; valid while the flow it belongs to lives */
    int64_t sys_now;           /* sys.now: epoch seconds of the last refresh */
    int32_t sys_off;           /* UTC offset in minutes at that instant */
    bool sys_set;              /* refreshed at least once */
    bool session;              /* the session form */
};

/* Fills v (session form) from the caller's vars (borrowed); 0 or ERR_NOMEM. */
/* s is a variable group a template may name: call, contact, flow, nodes, sys, secrets. */
bool ivr__var_group(const char *s);

int ivr__vars_init(struct ivr__vars *v, json_t *in);
void ivr__vars_fini(struct ivr__vars *v);

/*
 * Looks a path up, as a template sees it (secrets included: callers apply
 * the masking rule). Returns a borrowed value or NULL; a value built for the
 * lookup (a compact or derived member, an empty group) is also stored in
 * *tmp, which the caller releases with json_decref() once done with it.
 */
json_t *ivr__vars_get(const struct ivr__vars *v, char *const *seg, size_t nseg, json_t **tmp);

/* The string at group.key, or NULL (absent or not a string). Borrowed until the next write. */
const char *ivr__vars_str(const struct ivr__vars *v, const char *group, const char *key);

/*
 * Sets a path (v taken) like ivr__set_path on the whole tree: a compact
 * group written to becomes a jansson object first. sys.* and secrets.* are
 * read only (ERR_INVAL). 0 or ERR_*.
 */
int ivr__vars_set(struct ivr__vars *v, char *const *seg, size_t nseg, json_t *val);

/* group.key = the string val (call.trigger, call.amd_result). 0 or ERR_NOMEM. */
int ivr__vars_set_str(struct ivr__vars *v, const char *group, const char *key, const char *val);

/* The jansson object of a written group ("flow", "nodes"), created when create is set. */
json_t *ivr__vars_group(struct ivr__vars *v, const char *group, bool create);

/* Every variable as one new tree {"call":{},...,"secrets":{}} (NULL on OOM). */
json_t *ivr__vars_json(const struct ivr__vars *v);

/* Heap bytes of the compact groups (the jansson tree not counted). */
size_t ivr__vars_compact_size(const struct ivr__vars *v);

/* Appends the rendering of t to out; counts missing variables in *missing. */
void ivr__tmpl_render(const struct ivr__tmpl *t, const struct ivr__vars *vars, bool allow_secrets,
                      struct ivr__buf *out, int *missing);

/* Looks a path up in vars (borrowed result or NULL). */
json_t *ivr__lookup(json_t *vars, char *const *seg, size_t nseg);

/* The value as text into out (strings bare, numbers shortest form, json compact). */
void ivr__value_text(json_t *v, struct ivr__buf *out);

/* ---------------------------------------------------------------------- */
/* Compiled flows                                                          */
/* ---------------------------------------------------------------------- */

enum ivr__ntype {
    IVR_N_START = 0,
    IVR_N_PLAY,
    IVR_N_SAY,
    IVR_N_COLLECT,
    IVR_N_BRANCH,
    IVR_N_SET_VARIABLE,
    IVR_N_API_CALL,
    IVR_N_TRANSFER,
    IVR_N_VOICEMAIL,
    IVR_N_HANGUP,
    IVR_N_LOOP,
    IVR_N_WAIT,
    IVR_N_SUBFLOW,
    IVR_N_RETURN,
    IVR_N_COUNT_
};

extern const char *const ivr__ntype_names[IVR_N_COUNT_];

/* A transition: outcome event -> node index. */
struct ivr__edge {
    char *event;
    int target;
};

/* A prompt item: say text (template) or play media (template URIs). */
struct ivr__prompt {
    bool is_say;
    struct ivr__tmpl *text; /* say text, or the media URI */
    enum ivr_say_as say_as;
};

struct ivr__prompts {
    struct ivr__prompt *items;
    size_t n;
};

struct ivr__choice {
    char *digits;
    char *event; /* "choice:<digits>" */
};

struct ivr__collect {
    struct ivr__prompts prompt;
    int min_digits, max_digits;
    char finish_key; /* 0: none */
    int64_t first_ms, inter_ms, max_ms;
    bool barge_in, flush_before, ignore_during_prompt, replay_main, mask;
    char *valid_digits; /* NULL: any */
    regex_t pattern;
    bool has_pattern;
    struct ivr__choice *choices;
    size_t nchoices;
    bool prefix_ambiguous; /* some choice is a prefix of another */
    int max_noinput, max_nomatch;
    struct ivr__prompts *noinput_prompts, *nomatch_prompts;
    size_t nnoinput, nnomatch;
    char *save_as; /* "flow.x" path or NULL */
};

enum ivr__op {
    IVR_OP_EQ = 0,
    IVR_OP_NE,
    IVR_OP_LT,
    IVR_OP_LE,
    IVR_OP_GT,
    IVR_OP_GE,
    IVR_OP_IN,
    IVR_OP_NOT_IN,
    IVR_OP_CONTAINS,
    IVR_OP_STARTS_WITH,
    IVR_OP_ENDS_WITH,
    IVR_OP_REGEX,
    IVR_OP_EMPTY,
    IVR_OP_NOT_EMPTY,
    IVR_OP_BEFORE_TIME,
    IVR_OP_AFTER_TIME,
    IVR_OP_WEEKDAY_IN,
    IVR_OP_DATE_BETWEEN,
    IVR_OP_BUSINESS_HOURS,
    IVR_OP_ALL,
    IVR_OP_ANY,
    IVR_OP_COUNT_
};

enum ivr__as { IVR_AS_STRING = 0, IVR_AS_NUMBER, IVR_AS_BOOL };

struct ivr__calendar;

struct ivr__cond {
    enum ivr__op op;
    enum ivr__as as;
    struct ivr__tmpl *left;  /* NULL for time ops: the session's local time */
    struct ivr__tmpl *right; /* for scalar ops */
    char **list;             /* in / not_in / weekday_in values */
    size_t nlist;
    regex_t re;
    bool has_re;
    int t1, t2; /* minutes of day, or days since epoch for date_between */
    char *tz;   /* time ops: zone, NULL = flow default */
    const struct ivr__calendar *cal;
    struct ivr__cond *sub; /* all / any */
    size_t nsub;
};

struct ivr__route {
    char *id;
    char *event; /* "route:<id>" */
    struct ivr__cond cond;
};

struct ivr__branch {
    struct ivr__route *routes;
    size_t nroutes;
};

struct ivr__assign {
    char **seg; /* target path: {"flow","x"} or {"contact","x"} */
    size_t nseg;
    struct ivr__tmpl *value;

    enum { IVR_T_STRING, IVR_T_NUMBER, IVR_T_BOOL, IVR_T_JSON } type;
};

struct ivr__set {
    struct ivr__assign *assign;
    size_t n;
};

struct ivr__kv {
    char *name;
    struct ivr__tmpl *value;
};

struct ivr__mapping {
    char **seg; /* target variable */
    size_t nseg;
    char **path; /* into the response body: "data.balance" or "items.0.id" */
    size_t npath;
};

struct ivr__api {
    char *method;
    struct ivr__tmpl *url;
    struct ivr__kv *headers;
    size_t nheaders;
    struct ivr__kv *query;
    size_t nquery;
    struct ivr__tmpl *body; /* a text body */
    json_t *body_json;      /* a JSON body: its string leaves are templates */
    struct ivr__tmpl *user, *pass, *bearer;
    int64_t timeout_ms, connect_ms;
    int retries;
    int64_t backoff_ms;
    size_t max_bytes;
    struct ivr__mapping *map;
    size_t nmap;
};

struct ivr__transfer {
    enum ivr_transfer_mode mode;
    char *target_type;
    struct ivr__tmpl *target;
    struct ivr__tmpl *caller_id;
    int ring_timeout_s;
};

struct ivr__voicemail {
    struct ivr__prompts greeting;
    bool beep;
    int max_length_s, silence_s, min_length_s;
    char finish_key;
};

struct ivr__hangup {
    int cause;
    char *disposition;
    struct ivr__prompts final_prompt;
};

struct ivr__media {
    struct ivr__prompts items; /* play media or one say item */
    int loop;
    bool barge_in;
    struct ivr__tmpl *lang, *voice;
};

struct ivr__subflow {
    char *flow_id;
    int revision; /* 0: latest published */
    struct ivr__kv *inputs;
    size_t ninputs;
    struct ivr__kv *outputs; /* parent flow var name <- template in the child */
    size_t noutputs;
};

struct ivr__node {
    char *id;
    enum ivr__ntype type;
    struct ivr__edge *edges;
    size_t nedges;
    int max_visits; /* 0: unbounded */

    union {
        struct ivr__media media;
        struct ivr__collect collect;
        struct ivr__branch branch;
        struct ivr__set set;
        struct ivr__api api;
        struct ivr__transfer transfer;
        struct ivr__voicemail vm;
        struct ivr__hangup hangup;

        struct {
            int max;
        } loop;

        struct {
            int64_t ms;
        } wait;
        struct ivr__subflow sub;

        struct {
            char *exit;
        } ret;
    } u;
};

struct ivr__range {
    int from, to; /* minutes of day */
};

struct ivr__calendar {
    char *name;
    char *tz;
    struct ivr__range *days[7]; /* Sunday first */
    size_t ndays[7];
    int *holidays; /* days since the epoch */
    size_t nholidays;
};

struct ivr_flow {
    _Atomic long refs;
    char *name;
    struct ivr__node *nodes;
    size_t nnodes;
    int start;
    int on_error, on_hangup; /* IVR_NO_NODE when absent */
    char *language, *voice, *tz;
    int max_steps, max_consecutive;
    int64_t max_duration_ms;
    json_t *var_defaults; /* {"name": default} for flow.* */
    struct ivr__calendar *cals;
    size_t ncals;
};

/* The target of event on node n, or IVR_NO_NODE. */
int ivr__edge_find(const struct ivr__node *n, const char *event);

/* Resolves a fixed zone ("UTC", "Z", "+05:30", "-0800"); 0 or ERR_NOTFOUND. */
int ivr__tz_fixed(const char *tz, int *offset_min);

/* The built-in zone table (common US/EU zones with DST); 0 or ERR_NOTFOUND. */
int ivr__tz_builtin(const char *tz, int64_t wall_us, int *offset_min);

/* Parses "HH:MM" into minutes of day; -1 when malformed. */
int ivr__parse_hhmm(const char *s);

/* Parses "YYYY-MM-DD" into days since the epoch; INT32_MIN when malformed. */
int ivr__parse_date(const char *s);

/* Splits "a.b.c" into new segments; NULL on OOM or an empty segment. */
char **ivr__split_path(const char *s, size_t *n);
void ivr__free_path(char **seg, size_t n);

/* Sets vars[seg...] = v (taken), creating objects on the way. 0 or ERR_*. */
int ivr__set_path(json_t *vars, char *const *seg, size_t n, json_t *v);

#endif
