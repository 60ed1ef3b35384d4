/* SPDX-License-Identifier: MIT */
/*
 * scenario: what the simulated world does with the calls it gets.
 *
 * A scenario (JSON, documented in docs/ari-sim.md) holds callee populations
 * (weighted behaviour specs: answer, busy, no answer, congestion, rejected,
 * unallocated, failed, unreachable; ring, talk and greeting time
 * distributions; answering-machine verdicts; DTMF scripts), number and
 * endpoint rules that pin a behaviour to matching calls, playback lengths per
 * media URI and inbound caller generators. A loaded scenario is immutable
 * and reference counted: calls in progress keep the scenario they started
 * with when POST /_sim/scenario swaps in a new one.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sim/sim_int.h"

static const char *const outcome_names[OUT_COUNT_] = {
    "answered", "busy",        "noanswer", "congestion",
    "rejected", "unallocated", "failed",   "unreachable",
};

const char *sim__outcome_name(enum sim_outcome o)
{
    return (unsigned)o < OUT_COUNT_ ? outcome_names[o] : "unknown";
}

static int parse_outcome(const char *s, enum sim_outcome *o)
{
    static const struct {
        const char *name;
        enum sim_outcome o;
    } tab[] = {
        { "answer", OUT_ANSWER },
        { "answered", OUT_ANSWER },
        { "busy", OUT_BUSY },
        { "noanswer", OUT_NOANSWER },
        { "no_answer", OUT_NOANSWER },
        { "congestion", OUT_CONGESTION },
        { "rejected", OUT_REJECTED },
        { "reject", OUT_REJECTED },
        { "unallocated", OUT_UNALLOCATED },
        { "failed", OUT_FAILED },
        { "failure", OUT_FAILED },
        { "unreachable", OUT_UNREACHABLE },
    };

    for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
        if (strcmp(s, tab[i].name) == 0) {
            *o = tab[i].o;
            return 0;
        }
    }
    return -1;
}

int sim__glob(const char *pat, const char *s)
{
    for (;;) {
        switch (*pat) {
        case '\0':
            return *s == '\0';
        case '*':
            while (*pat == '*') {
                pat++;
            }
            if (*pat == '\0') {
                return 1;
            }
            for (; *s; s++) {
                if (sim__glob(pat, s)) {
                    return 1;
                }
            }
            return 0;
        case '?':
            if (*s == '\0') {
                return 0;
            }
            pat++;
            s++;
            break;
        case '[': {
            const char *p = pat + 1;
            int neg = 0, ok = 0;
            if (*s == '\0') {
                return 0;
            }
            if (*p == '!' || *p == '^') {
                neg = 1;
                p++;
            }
            while (*p && *p != ']') {
                if (p[1] == '-' && p[2] && p[2] != ']') {
                    if (*s >= p[0] && *s <= p[2]) {
                        ok = 1;
                    }
                    p += 3;
                } else {
                    if (*s == *p) {
                        ok = 1;
                    }
                    p++;
                }
            }
            if (*p != ']' || ok == neg) {
                return 0;
            }
            pat = p + 1;
            s++;
            break;
        }
        default:
            if (*pat != *s) {
                return 0;
            }
            pat++;
            s++;
            break;
        }
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

static void spec_defaults(struct sim_spec *sp)
{
    memset(sp, 0, sizeof(*sp));
    sp->weight = 1;
    sp->outcome = OUT_ANSWER;
    sp->ringing = -1;
    sp->progress.max = sp->ring.max = sp->talk.max = sp->giveup.max = -1;
    sp->amd_delay.max = sp->greet_delay.max = sp->greet_len.max = sp->abandon.max = -1;
    sp->hangup_cause = 16;
    sp->amd = AMD_MODEL;
}

static int get_dist(const json_t *o, const char *key, struct sim_dist *d, char *err, size_t errlen)
{
    const json_t *v = json_object_get(o, key);
    char sub[160];

    if (v == NULL || json_is_null(v)) {
        return 0;
    }
    if (sim__dist_parse(v, d, sub, sizeof(sub)) < 0) {
        snprintf(err, errlen, "%s: %s", key, sub);
        return -1;
    }
    return 0;
}

static int parse_dtmf(const json_t *arr, struct sim_spec *sp, char *err, size_t errlen)
{
    size_t i;
    const json_t *it;

    if (!json_is_array(arr)) {
        snprintf(err, errlen, "dtmf: expected an array");
        return -1;
    }
    json_array_foreach (arr, i, it) {
        struct sim_dtmf_step *st;
        const char *digits = json_string_value(json_object_get(it, "digits"));
        const char *from = json_string_value(json_object_get(it, "from"));
        if (sp->ndtmf >= (int)(sizeof(sp->dtmf) / sizeof(sp->dtmf[0]))) {
            snprintf(err, errlen, "dtmf: at most 8 steps");
            return -1;
        }
        st = &sp->dtmf[sp->ndtmf];
        memset(st, 0, sizeof(*st));
        st->after.max = -1;
        if (digits == NULL || digits[0] == '\0' || strlen(digits) >= sizeof(st->digits) ||
            strspn(digits, "0123456789ABCDabcd*#") != strlen(digits)) {
            snprintf(err, errlen, "dtmf[%zu]: digits must be 1-31 of 0-9 A-D * #", i);
            return -1;
        }
        for (size_t k = 0; digits[k]; k++) {
            st->digits[k] = (char)toupper((unsigned char)digits[k]);
        }
        st->from = DTMF_FROM_ANSWER;
        if (from != NULL && strcmp(from, "playback") == 0) {
            st->from = DTMF_FROM_PLAYBACK;
            st->playback = (int)json_integer_value(json_object_get(it, "playback"));
            if (st->playback <= 0) {
                st->playback = 1;
            }
        } else if (from != NULL && strcmp(from, "answer") != 0) {
            snprintf(err, errlen, "dtmf[%zu]: from is \"answer\" or \"playback\"", i);
            return -1;
        }
        if (get_dist(it, "after", &st->after, err, errlen) < 0) {
            return -1;
        }
        sp->ndtmf++;
    }
    return 0;
}

static int parse_amd(const json_t *v, struct sim_spec *sp, char *err, size_t errlen)
{
    const char *kind =
        json_is_string(v) ? json_string_value(v) : json_string_value(json_object_get(v, "status"));
    if (kind == NULL) {
        snprintf(err, errlen, "amd: expected \"human\", \"machine\", \"notsure\" or an object");
        return -1;
    }
    if (strcasecmp(kind, "human") == 0) {
        sp->amd = AMD_HUMAN;
    } else if (strcasecmp(kind, "machine") == 0) {
        sp->amd = AMD_MACHINE;
    } else if (strcasecmp(kind, "notsure") == 0) {
        sp->amd = AMD_NOTSURE;
    } else if (strcasecmp(kind, "model") == 0) {
        sp->amd = AMD_MODEL;
    } else {
        snprintf(err, errlen, "amd: unknown status %s", kind);
        return -1;
    }
    if (json_is_object(v)) {
        const char *cause = json_string_value(json_object_get(v, "cause"));
        if (cause != NULL) {
            snprintf(sp->amd_cause, sizeof(sp->amd_cause), "%s", cause);
        }
        if (get_dist(v, "delay", &sp->amd_delay, err, errlen) < 0) {
            return -1;
        }
    }
    return 0;
}

static int parse_spec(const json_t *o, struct sim_spec *sp, char *err, size_t errlen)
{
    const json_t *v;
    const char *s;

    spec_defaults(sp);
    if (!json_is_object(o)) {
        snprintf(err, errlen, "a behaviour spec is an object");
        return -1;
    }
    if ((v = json_object_get(o, "weight")) != NULL) {
        if (!json_is_number(v) || json_number_value(v) < 0) {
            snprintf(err, errlen, "weight: expected a number >= 0");
            return -1;
        }
        sp->weight = json_number_value(v);
    }
    if ((s = json_string_value(json_object_get(o, "outcome"))) != NULL &&
        parse_outcome(s, &sp->outcome) < 0) {
        snprintf(err, errlen, "outcome: unknown \"%s\"", s);
        return -1;
    }
    if ((v = json_object_get(o, "ringing")) != NULL) {
        sp->ringing = json_is_true(v);
    }
    if (get_dist(o, "progress", &sp->progress, err, errlen) < 0 ||
        get_dist(o, "ring", &sp->ring, err, errlen) < 0 ||
        get_dist(o, "giveup", &sp->giveup, err, errlen) < 0 ||
        get_dist(o, "abandon", &sp->abandon, err, errlen) < 0) {
        return -1;
    }
    v = json_object_get(o, "talk");
    if (v != NULL &&
        (json_is_null(v) || (json_is_string(v) && strcmp(json_string_value(v), "forever") == 0))) {
        sp->talk_forever = 1;
    } else if (get_dist(o, "talk", &sp->talk, err, errlen) < 0) {
        return -1;
    }
    sp->sip = (int)json_integer_value(json_object_get(o, "sip"));
    sp->cause = (int)json_integer_value(json_object_get(o, "cause"));
    if ((v = json_object_get(o, "hangup_cause")) != NULL) {
        sp->hangup_cause = (int)json_integer_value(v);
    }
    if ((v = json_object_get(o, "amd")) != NULL && parse_amd(v, sp, err, errlen) < 0) {
        return -1;
    }
    if ((v = json_object_get(o, "greeting")) != NULL) {
        if (!json_is_object(v) || get_dist(v, "delay", &sp->greet_delay, err, errlen) < 0 ||
            get_dist(v, "length", &sp->greet_len, err, errlen) < 0) {
            if (!json_is_object(v)) {
                snprintf(err, errlen, "greeting: expected {\"delay\":..,\"length\":..}");
            }
            return -1;
        }
    }
    if ((v = json_object_get(o, "dtmf")) != NULL && parse_dtmf(v, sp, err, errlen) < 0) {
        return -1;
    }
    return 0;
}

static int find_pop(const struct sim_scenario *sc, const char *name)
{
    for (int i = 0; i < sc->npops; i++) {
        if (strcmp(sc->pops[i].name, name) == 0) {
            return i;
        }
    }
    return -1;
}

static int parse_pop(const char *name, const json_t *arr, struct sim_population *p, char *err,
                     size_t errlen)
{
    size_t i;
    const json_t *it;
    char sub[200];

    p->name = xstrdup(name);
    if (!json_is_array(arr) || json_array_size(arr) == 0) {
        snprintf(err, errlen, "population %s: expected a non-empty array", name);
        return -1;
    }
    p->specs = calloc(json_array_size(arr), sizeof(*p->specs));
    if (p->specs == NULL) {
        abort();
    }
    json_array_foreach (arr, i, it) {
        if (parse_spec(it, &p->specs[i], sub, sizeof(sub)) < 0) {
            snprintf(err, errlen, "population %s[%zu]: %s", name, i, sub);
            return -1;
        }
        p->total += p->specs[i].weight;
        p->n++;
    }
    if (p->total <= 0) {
        snprintf(err, errlen, "population %s: weights sum to zero", name);
        return -1;
    }
    return 0;
}

static int add_pop_single(struct sim_scenario *sc, const char *name, const struct sim_spec *sp)
{
    struct sim_population *pops = realloc(sc->pops, sizeof(*pops) * (size_t)(sc->npops + 1));
    struct sim_population *p;
    if (pops == NULL) {
        abort();
    }
    sc->pops = pops;
    p = &sc->pops[sc->npops];
    memset(p, 0, sizeof(*p));
    p->name = xstrdup(name);
    p->specs = malloc(sizeof(*p->specs));
    if (p->specs == NULL) {
        abort();
    }
    p->specs[0] = *sp;
    p->specs[0].weight = 1;
    p->n = 1;
    p->total = 1;
    return sc->npops++;
}

static int parse_pops(const json_t *root, struct sim_scenario *sc, char *err, size_t errlen)
{
    const json_t *pops = json_object_get(root, "populations");
    const char *key;
    const json_t *val;
    size_t n;

    if (pops == NULL) {
        struct sim_spec sp;
        spec_defaults(&sp);
        add_pop_single(sc, "default", &sp);
        return 0;
    }
    if (!json_is_object(pops)) {
        snprintf(err, errlen, "populations: expected an object of arrays");
        return -1;
    }
    n = json_object_size(pops) + 1;
    sc->pops = calloc(n, sizeof(*sc->pops));
    if (sc->pops == NULL) {
        abort();
    }
    /* "default" goes first so index 0 is the fallback. */
    if ((val = json_object_get(pops, "default")) != NULL) {
        if (parse_pop("default", val, &sc->pops[sc->npops++], err, errlen) < 0) {
            return -1;
        }
    }
    json_object_foreach ((json_t *)pops, key, val) {
        if (strcmp(key, "default") == 0) {
            continue;
        }
        if (parse_pop(key, val, &sc->pops[sc->npops++], err, errlen) < 0) {
            return -1;
        }
    }
    if (find_pop(sc, "default") < 0) {
        snprintf(err, errlen, "populations: a \"default\" population is required");
        return -1;
    }
    return 0;
}

static int parse_rules(const json_t *root, struct sim_scenario *sc, char *err, size_t errlen)
{
    const json_t *rules = json_object_get(root, "rules");
    size_t i;
    const json_t *it;
    char sub[200];

    if (rules == NULL) {
        return 0;
    }
    if (!json_is_array(rules)) {
        snprintf(err, errlen, "rules: expected an array");
        return -1;
    }
    sc->rules = calloc(json_array_size(rules) + 1, sizeof(*sc->rules));
    if (sc->rules == NULL) {
        abort();
    }
    json_array_foreach (rules, i, it) {
        struct sim_rule *r = &sc->rules[sc->nrules];
        const char *num = json_string_value(json_object_get(it, "number"));
        const char *ep = json_string_value(json_object_get(it, "endpoint"));
        const char *pop = json_string_value(json_object_get(it, "population"));
        if (num == NULL) {
            num = json_string_value(json_object_get(it, "match"));
        }
        if (num == NULL && ep == NULL) {
            snprintf(err, errlen, "rules[%zu]: needs \"number\" or \"endpoint\"", i);
            return -1;
        }
        r->number_glob = num ? xstrdup(num) : NULL;
        r->endpoint_glob = ep ? xstrdup(ep) : NULL;
        r->population = -1;
        sc->nrules++;
        if (pop != NULL) {
            r->population = find_pop(sc, pop);
            if (r->population < 0) {
                snprintf(err, errlen, "rules[%zu]: unknown population %s", i, pop);
                return -1;
            }
        } else if (parse_spec(it, &r->spec, sub, sizeof(sub)) < 0) {
            snprintf(err, errlen, "rules[%zu]: %s", i, sub);
            return -1;
        }
    }
    return 0;
}

static int parse_media(const json_t *root, struct sim_scenario *sc, char *err, size_t errlen)
{
    const json_t *media = json_object_get(root, "media");
    const char *key;
    const json_t *val;

    if (media == NULL) {
        return 0;
    }
    if (!json_is_object(media)) {
        snprintf(err, errlen, "media: expected an object of uri: seconds");
        return -1;
    }
    sc->media = calloc(json_object_size(media) + 1, sizeof(*sc->media));
    if (sc->media == NULL) {
        abort();
    }
    json_object_foreach ((json_t *)media, key, val) {
        struct sim_media *m = &sc->media[sc->nmedia];
        m->uri = xstrdup(key);
        sc->nmedia++;
        if (json_is_number(val)) {
            m->seconds = json_number_value(val);
        } else if (json_is_object(val)) {
            const json_t *f = json_object_get(val, "formats");
            m->seconds = json_number_value(json_object_get(val, "seconds"));
            m->missing = json_is_true(json_object_get(val, "missing"));
            if (json_is_array(f)) {
                size_t k;
                const json_t *it;
                char list[256] = "";
                size_t used = 0;
                json_array_foreach (f, k, it) {
                    const char *fmt = json_is_string(it) ? json_string_value(it) : NULL;
                    if (fmt != NULL && used + strlen(fmt) + 2 < sizeof(list)) {
                        int w = snprintf(list + used, sizeof(list) - used, "%s%s",
                                         used != 0 ? "," : "", fmt);
                        used += (size_t)w;
                    }
                }
                m->formats = xstrdup(list);
            }
        } else {
            snprintf(err, errlen, "media %s: expected seconds or an object", key);
            return -1;
        }
    }
    return 0;
}

static int parse_inbound(const json_t *root, struct sim_scenario *sc, char *err, size_t errlen)
{
    const json_t *in = json_object_get(root, "inbound");
    size_t i;
    const json_t *it;
    char sub[200];

    if (in == NULL) {
        return 0;
    }
    if (!json_is_array(in)) {
        snprintf(err, errlen, "inbound: expected an array");
        return -1;
    }
    sc->inbound = calloc(json_array_size(in) + 1, sizeof(*sc->inbound));
    if (sc->inbound == NULL) {
        abort();
    }
    json_array_foreach (in, i, it) {
        struct sim_inbound *g = &sc->inbound[sc->ninbound];
        const char *ext = json_string_value(json_object_get(it, "extension"));
        const char *pop = json_string_value(json_object_get(it, "population"));
        const json_t *beh = json_object_get(it, "behaviour");
        const json_t *v;
        if (ext == NULL) {
            snprintf(err, errlen, "inbound[%zu]: extension is required", i);
            return -1;
        }
        sc->ninbound++;
        g->extension = xstrdup(ext);
        g->app = xstrdup(json_string_value(json_object_get(it, "app")) ?: "ivr");
        g->context = xstrdup(json_string_value(json_object_get(it, "context")) ?: "inbound");
        g->endpoint = xstrdup(json_string_value(json_object_get(it, "endpoint")) ?: "trunk");
        g->caller_name = xstrdup(json_string_value(json_object_get(it, "caller_name")) ?: "");
        g->caller_pattern =
            xstrdup(json_string_value(json_object_get(it, "caller")) ?: "+1555#######");
        g->rate = json_number_value(json_object_get(it, "rate"));
        g->interval = json_number_value(json_object_get(it, "interval"));
        g->start = json_number_value(json_object_get(it, "start"));
        v = json_object_get(it, "max");
        g->max = v ? (int64_t)json_integer_value(v) : -1;
        g->population = 0;
        if (beh != NULL) {
            struct sim_spec sp;
            char name[64];
            if (parse_spec(beh, &sp, sub, sizeof(sub)) < 0) {
                snprintf(err, errlen, "inbound[%zu].behaviour: %s", i, sub);
                return -1;
            }
            snprintf(name, sizeof(name), "inbound#%zu", i);
            g->population = add_pop_single(sc, name, &sp);
        } else if (pop != NULL) {
            g->population = find_pop(sc, pop);
            if (g->population < 0) {
                snprintf(err, errlen, "inbound[%zu]: unknown population %s", i, pop);
                return -1;
            }
        } else {
            /* A caller that stays until the IVR hangs up. */
            struct sim_spec sp;
            char name[64];
            spec_defaults(&sp);
            sp.talk_forever = 1;
            snprintf(name, sizeof(name), "inbound#%zu", i);
            g->population = add_pop_single(sc, name, &sp);
        }
        if (g->rate < 0 || g->interval < 0) {
            snprintf(err, errlen, "inbound[%zu]: rate and interval must be >= 0", i);
            return -1;
        }
    }
    return 0;
}

struct sim_scenario *sim__scenario_load_json(const json_t *root, char *err, size_t errlen)
{
    struct sim_scenario *sc;
    const json_t *v;

    if (!json_is_object(root)) {
        snprintf(err, errlen, "a scenario is a JSON object");
        return NULL;
    }
    sc = calloc(1, sizeof(*sc));
    if (sc == NULL) {
        abort();
    }
    sc->refs = 1;
    sc->name = xstrdup(json_string_value(json_object_get(root, "name")) ?: "unnamed");
    v = json_object_get(root, "seed");
    sc->seed = v ? (int64_t)json_integer_value(v) : -1;
    sc->progress.max = -1;
    sc->playback_default = 2.0;
    if ((v = json_object_get(root, "playback_default")) != NULL) {
        sc->playback_default = json_number_value(v);
    }
    sc->endpoint_context =
        xstrdup(json_string_value(json_object_get(root, "endpoint_context")) ?: "default");
    if ((v = json_object_get(root, "disk_full")) != NULL) {
        const char *m = json_string_value(v);
        if (json_is_boolean(v)) {
            sc->disk_full = json_is_true(v) ? SIM_DISK_FULL_WRITE : SIM_DISK_OK;
        } else if (m != NULL && strcmp(m, "write") == 0) {
            sc->disk_full = SIM_DISK_FULL_WRITE;
        } else if (m != NULL && strcmp(m, "mkdir") == 0) {
            sc->disk_full = SIM_DISK_FULL_MKDIR;
        } else {
            snprintf(err, errlen, "disk_full: true, false, \"write\" or \"mkdir\"");
            sim__scenario_unref(sc);
            return NULL;
        }
    }
    if (get_dist(root, "progress", &sc->progress, err, errlen) < 0 ||
        parse_pops(root, sc, err, errlen) < 0 || parse_rules(root, sc, err, errlen) < 0 ||
        parse_media(root, sc, err, errlen) < 0 || parse_inbound(root, sc, err, errlen) < 0) {
        sim__scenario_unref(sc);
        return NULL;
    }
    return sc;
}

struct sim_scenario *sim__scenario_load_file(const char *path, char *err, size_t errlen)
{
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    struct sim_scenario *sc;

    if (root == NULL) {
        snprintf(err, errlen, "%s:%d: %s", path, je.line, je.text);
        return NULL;
    }
    sc = sim__scenario_load_json(root, err, errlen);
    json_decref(root);
    return sc;
}

/*
 * The built-in scenario: most numbers answer after a few seconds of ringing
 * and talk for a while; the rest is a realistic mix of failures. Media
 * lengths are the ones measured on the reference Asterisk.
 */
static const char default_scenario[] =
    "{\"name\":\"built-in\",\"seed\":1,"
    "\"media\":{\"sound:hello-world\":1.403,\"sound:custom/dialer-test\":{\"seconds\":4.307,"
    "\"formats\":[\"gsm\",\"ulaw\",\"slin\"]},"
    "\"sound:hello\":0.784,\"sound:custom/machine-greeting\":17.0,\"sound:beep\":0.25,"
    "\"sound:silence/1\":1,\"sound:silence/3\":3,\"sound:silence/5\":5},"
    "\"populations\":{\"default\":["
    "{\"weight\":62,\"outcome\":\"answer\",\"ring\":{\"uniform\":[2,12]},"
    "\"talk\":{\"lognormal\":{\"median\":40,\"sigma\":0.6,\"max\":600}},\"amd\":\"human\"},"
    "{\"weight\":8,\"outcome\":\"answer\",\"ring\":{\"uniform\":[3,15]},\"talk\":30,"
    "\"amd\":\"machine\",\"greeting\":{\"delay\":0.4,\"length\":{\"uniform\":[8,18]}}},"
    "{\"weight\":9,\"outcome\":\"busy\",\"ring\":{\"uniform\":[0.2,2]},\"ringing\":false},"
    "{\"weight\":12,\"outcome\":\"noanswer\"},"
    "{\"weight\":4,\"outcome\":\"congestion\",\"ring\":{\"uniform\":[0.1,1]}},"
    "{\"weight\":2,\"outcome\":\"rejected\",\"ring\":{\"uniform\":[0.5,4]}},"
    "{\"weight\":2,\"outcome\":\"unallocated\",\"ring\":{\"uniform\":[0.1,0.5]}},"
    "{\"weight\":1,\"outcome\":\"failed\",\"sip\":500}]}}";

struct sim_scenario *sim__scenario_default(void)
{
    char err[256];
    json_error_t je;
    json_t *root = json_loads(default_scenario, 0, &je);
    struct sim_scenario *sc;

    if (root == NULL) {
        abort();
    }
    sc = sim__scenario_load_json(root, err, sizeof(err));
    json_decref(root);
    if (sc == NULL) {
        abort();
    }
    return sc;
}

void sim__scenario_ref(struct sim_scenario *sc)
{
    sc->refs++;
}

void sim__scenario_unref(struct sim_scenario *sc)
{
    if (sc == NULL || --sc->refs > 0) {
        return;
    }
    for (int i = 0; i < sc->npops; i++) {
        free(sc->pops[i].name);
        free(sc->pops[i].specs);
    }
    free(sc->pops);
    for (int i = 0; i < sc->nrules; i++) {
        free(sc->rules[i].number_glob);
        free(sc->rules[i].endpoint_glob);
    }
    free(sc->rules);
    for (int i = 0; i < sc->nmedia; i++) {
        free(sc->media[i].uri);
        free(sc->media[i].formats);
    }
    free(sc->media);
    for (int i = 0; i < sc->ninbound; i++) {
        struct sim_inbound *g = &sc->inbound[i];
        free(g->extension);
        free(g->app);
        free(g->context);
        free(g->endpoint);
        free(g->caller_name);
        free(g->caller_pattern);
    }
    free(sc->inbound);
    free(sc->endpoint_context);
    free(sc->name);
    free(sc);
}

const struct sim_spec *sim__scenario_pick_pop(const struct sim_scenario *sc, int pop,
                                              struct sim_rng *r)
{
    const struct sim_population *p;
    double x;

    if (pop < 0 || pop >= sc->npops) {
        pop = 0;
    }
    p = &sc->pops[pop];
    x = sim__rng_unit(r) * p->total;
    for (int i = 0; i < p->n; i++) {
        if (x < p->specs[i].weight) {
            return &p->specs[i];
        }
        x -= p->specs[i].weight;
    }
    return &p->specs[p->n - 1];
}

const struct sim_spec *sim__scenario_pick(const struct sim_scenario *sc, const char *number,
                                          const char *endpoint, struct sim_rng *r)
{
    for (int i = 0; i < sc->nrules; i++) {
        const struct sim_rule *ru = &sc->rules[i];
        if (ru->number_glob != NULL && !sim__glob(ru->number_glob, number)) {
            continue;
        }
        if (ru->endpoint_glob != NULL && !sim__glob(ru->endpoint_glob, endpoint)) {
            continue;
        }
        if (ru->population >= 0) {
            return sim__scenario_pick_pop(sc, ru->population, r);
        }
        return &ru->spec;
    }
    return sim__scenario_pick_pop(sc, 0, r);
}

const struct sim_media *sim__scenario_media(const struct sim_scenario *sc, const char *uri)
{
    for (int i = 0; i < sc->nmedia; i++) {
        if (strcmp(sc->media[i].uri, uri) == 0) {
            return &sc->media[i];
        }
    }
    return NULL;
}
