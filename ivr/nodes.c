/* SPDX-License-Identifier: MIT */
/*
 * nodes: the per-type part of the validator. Each compile_* function checks
 * one step's properties (rules 7 and 13-18 of IVR-FLOWS.md section 8) and
 * fills the typed node struct the interpreter runs: prompts and templates
 * compiled, regexes compiled, menu choices and branch routes turned into
 * their outcome events.
 */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "ivr/ivr_int.h"
#include "ivr/validate_int.h"

/* ---------------------------------------------------------------------- */
/* Node types                                                              */
/* ---------------------------------------------------------------------- */

static void compile_media(struct vstate *v, struct ivr__node *n, json_t *props)
{
    struct pbuf pb = { "" };
    struct ivr__media *m = &n->u.media;
    m->loop = (int)ivr__v_pint(props, "loop", 1);
    m->barge_in = ivr__v_pbool(props, "barge_in", n->type == IVR_N_SAY ? false : false);
    ivr__v_range_check(v, "loop", m->loop, 1, 99, "");
    ivr__v_check_lang(v, props, "language");
    if (ivr__v_pstr(props, "language", NULL)) {
        m->lang = ivr__v_tmpl(v, ivr__v_pstr(props, "language", ""),
                              ivr__v_npath(&pb, v, ".props.language"), TC_GENERAL);
    }
    if (n->type == IVR_N_PLAY) {
        json_t *media = json_object_get(props, "media");
        size_t i;
        json_t *it;
        if (json_is_array(media) && json_array_size(media) == 0) {
            ivr__v_diag(v, IVR_SEV_ERROR, "required_property", ivr__v_npath(&pb, v, ".props.media"),
                        "A play step needs at least one sound to play.");
        }
        if (!ivr__v_kind_ok(P_STRARR, media) || json_array_size(media) > IVR_MAX_PROMPT_ITEMS) {
            if (json_array_size(media) > IVR_MAX_PROMPT_ITEMS) {
                ivr__v_diag(v, IVR_SEV_ERROR, "too_many_prompts",
                            ivr__v_npath(&pb, v, ".props.media"),
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
            ivr__v_npath(&pb, v, ".props.media[%zu]", i);
            if (!ivr__v_media_uri_ok(src)) {
                ivr__v_diag(v, IVR_SEV_ERROR, "media_uri", pb.s,
                            "\"%.60s\" is not a playable sound; use sound:, recording:, digits:, "
                            "number:, characters:, tone: or https:.",
                            src);
            }
            struct ivr__tmpl *t = ivr__v_tmpl(v, src, pb.s, TC_SPEECH);
            if (t != NULL) {
                m->items.items[m->items.n].text = t;
                m->items.n++;
            }
        }
    } else {
        bool ok;
        const char *text = ivr__v_pstr(props, "text", NULL);
        m->items.items = calloc(1, sizeof(*m->items.items));
        if (m->items.items == NULL) {
            v->r->oom = true;
            return;
        }
        m->items.items[0].is_say = true;
        m->items.items[0].say_as = ivr__v_say_as_parse(ivr__v_pstr(props, "say_as", NULL), &ok);
        if (!ok) {
            ivr__v_diag(v, IVR_SEV_ERROR, "property_type", ivr__v_npath(&pb, v, ".props.say_as"),
                        "say_as must be text, digits, number or characters.");
        }
        if (text != NULL) {
            if (strlen(text) == 0 || strlen(text) > 3000) {
                ivr__v_diag(v, IVR_SEV_ERROR, "text_length", ivr__v_npath(&pb, v, ".props.text"),
                            "The text to say must have between 1 and 3000 characters.");
            }
            m->items.items[0].text =
                ivr__v_tmpl(v, text, ivr__v_npath(&pb, v, ".props.text"), TC_SPEECH);
            m->items.n = m->items.items[0].text != NULL;
        }
        ivr__v_check_lang(v, props, "voice") /* voices are names; only checked when tag-like */;
        if (ivr__v_pstr(props, "voice", NULL)) {
            m->voice = ivr__v_tmpl(v, ivr__v_pstr(props, "voice", ""),
                                   ivr__v_npath(&pb, v, ".props.voice"), TC_GENERAL);
        }
    }
}

static char key_char(struct vstate *v, json_t *props, const char *k, const char *def)
{
    struct pbuf pb = { "" };
    const char *s = ivr__v_pstr(props, k, def);
    if (s[0] == '\0') {
        return 0;
    }
    if (strlen(s) != 1 || strchr("0123456789*#", s[0]) == NULL) {
        ivr__v_diag(v, IVR_SEV_ERROR, "finish_key", ivr__v_npath(&pb, v, ".props.%s", k),
                    "\"%s\" must be one phone key (0-9, * or #) or empty.", k);
        return 0;
    }
    return s[0];
}

bool ivr__v_digits_ok(const char *s)
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
            ivr__v_diag(v, IVR_SEV_ERROR, "input_mode",
                        ivr__v_npath(&pb, v, ".props.input[%zu]", i),
                        "Only keypad input (\"dtmf\") is supported.");
        }
    }
    ivr__v_prompts(v, json_object_get(props, "prompt"), ivr__v_npath(&pb, v, ".props.prompt"),
                   &c->prompt);
    c->min_digits = (int)ivr__v_pint(props, "min_digits", 1);
    c->max_digits = (int)ivr__v_pint(props, "max_digits", json_is_array(ch) ? 0 : -1);
    c->finish_key = key_char(v, props, "finish_on_key", "#");
    c->first_ms = ivr__v_pint(props, "first_digit_timeout_ms", 5000);
    c->inter_ms = ivr__v_pint(props, "inter_digit_timeout_ms", 3000);
    c->max_ms = ivr__v_pint(props, "max_duration_ms", 0);
    c->barge_in = ivr__v_pbool(props, "barge_in", true);
    c->flush_before = ivr__v_pbool(props, "flush_before", true);
    c->replay_main = ivr__v_pbool(props, "replay_main_prompt", true);
    c->mask = ivr__v_pbool(props, "mask", false);
    c->max_noinput = (int)ivr__v_pint(props, "max_noinput", 2);
    c->max_nomatch = (int)ivr__v_pint(props, "max_nomatch", 2);
    const char *dp = ivr__v_pstr(props, "during_prompt", "buffer");
    if (strcmp(dp, "buffer") != 0 && strcmp(dp, "ignore") != 0) {
        ivr__v_diag(v, IVR_SEV_ERROR, "property_type", ivr__v_npath(&pb, v, ".props.during_prompt"),
                    "during_prompt must be \"buffer\" or \"ignore\".");
    }
    c->ignore_during_prompt = strcmp(dp, "ignore") == 0;
    if (ivr__v_pstr(props, "valid_digits", NULL)) {
        c->valid_digits = strdup(ivr__v_pstr(props, "valid_digits", ""));
        if (!ivr__v_digits_ok(c->valid_digits)) {
            ivr__v_diag(v, IVR_SEV_ERROR, "valid_digits",
                        ivr__v_npath(&pb, v, ".props.valid_digits"),
                        "valid_digits may only contain 0-9, * and #.");
        }
    }
    if (ivr__v_pstr(props, "pattern", NULL)) {
        if (regcomp(&c->pattern, ivr__v_pstr(props, "pattern", ""), REG_EXTENDED | REG_NOSUB) !=
            0) {
            ivr__v_diag(v, IVR_SEV_ERROR, "regex", ivr__v_npath(&pb, v, ".props.pattern"),
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
            ivr__v_npath(&pb, v, ".props.choices[%zu]", i);
            if (d == NULL || !ivr__v_digits_ok(d)) {
                ivr__v_diag(v, IVR_SEV_ERROR, "choice_keys", pb.s,
                            "Menu choices may only contain the keys 0-9, * and #.");
                continue;
            }
            for (size_t k = 0; k < c->nchoices; k++) {
                if (strcmp(c->choices[k].digits, d) == 0) {
                    ivr__v_diag(v, IVR_SEV_ERROR, "choice_duplicate", pb.s,
                                "The choice \"%s\" is listed twice.", d);
                }
            }
            if (c->finish_key && strchr(d, c->finish_key)) {
                ivr__v_diag(v, IVR_SEV_ERROR, "choice_finish_key", pb.s,
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
                ivr__v_diag(
                    v, IVR_SEV_ERROR, "choice_length", ivr__v_npath(&pb, v, ".props.choices"),
                    "The choice \"%s\" can never be entered: it is not between min_digits (%d) "
                    "and max_digits (%d) keys long.",
                    c->choices[a].digits, c->min_digits, c->max_digits);
            }
            for (size_t b = 0; b < c->nchoices; b++) {
                if (a != b && strlen(c->choices[b].digits) > la &&
                    strncmp(c->choices[a].digits, c->choices[b].digits, la) == 0) {
                    c->prefix_ambiguous = true;
                    ivr__v_diag(
                        v, IVR_SEV_WARNING, "choice_prefix", ivr__v_npath(&pb, v, ".props.choices"),
                        "Choice \"%s\" is the start of \"%s\": callers who press %s wait %lld "
                        "ms more to see whether another key follows.",
                        c->choices[a].digits, c->choices[b].digits, c->choices[a].digits,
                        (long long)c->inter_ms);
                }
            }
        }
    } else if (c->max_digits < 0) {
        ivr__v_diag(v, IVR_SEV_ERROR, "required_property",
                    ivr__v_npath(&pb, v, ".props.max_digits"),
                    "An input step without menu choices needs max_digits.");
        c->max_digits = 1;
    }
    if (c->min_digits < 1 || c->min_digits > c->max_digits || c->max_digits > IVR_MAX_DIGITS) {
        ivr__v_diag(v, IVR_SEV_ERROR, "digit_limits", ivr__v_npath(&pb, v, ".props.min_digits"),
                    "Digits must satisfy 1 <= min_digits (%d) <= max_digits (%d) <= %d.",
                    c->min_digits, c->max_digits, IVR_MAX_DIGITS);
    }
    ivr__v_range_check(v, "first_digit_timeout_ms", c->first_ms, 1000, 30000, " ms");
    ivr__v_range_check(v, "inter_digit_timeout_ms", c->inter_ms, 1000, 15000, " ms");
    if (c->max_ms != 0) {
        ivr__v_range_check(v, "max_duration_ms", c->max_ms, 1000, 300000, " ms");
    }
    ivr__v_range_check(v, "max_noinput", c->max_noinput, 0, 5, "");
    ivr__v_range_check(v, "max_nomatch", c->max_nomatch, 0, 5, "");
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
        ivr__v_prompts(v, json_is_array(it) ? it : one,
                       ivr__v_npath(&pb, v, ".props.noinput_prompts[%zu]", i),
                       &c->noinput_prompts[c->nnoinput++]);
        json_decref(one);
    }
    json_array_foreach (nm, i, it) {
        json_t *one = json_array();
        json_array_append(one, it);
        ivr__v_prompts(v, json_is_array(it) ? it : one,
                       ivr__v_npath(&pb, v, ".props.nomatch_prompts[%zu]", i),
                       &c->nomatch_prompts[c->nnomatch++]);
        json_decref(one);
    }
    if (ivr__v_pstr(props, "save_as", NULL)) {
        const char *sa = ivr__v_pstr(props, "save_as", "");
        const char *name = strncmp(sa, "flow.", 5) == 0 ? sa + 5 : sa;
        if (*name == '\0' || strchr(name, '.') != NULL) {
            ivr__v_diag(v, IVR_SEV_ERROR, "variable_name", ivr__v_npath(&pb, v, ".props.save_as"),
                        "save_as names a flow variable, like flow.account or account.");
        } else {
            c->save_as = strdup(name);
            json_object_set_new(v->assigned, name, json_true());
        }
    }
}

/* Marks what a masked collect produces, before templates are checked. */
void ivr__v_note_masked(struct vstate *v, const char *id, json_t *props)
{
    char key[160];
    if (!ivr__v_pbool(props, "mask", false)) {
        return;
    }
    snprintf(key, sizeof(key), "nodes.%s.digits", id);
    json_object_set_new(v->masked, key, json_true());
    const char *sa = ivr__v_pstr(props, "save_as", NULL);
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

int ivr__v_weekday_parse(const char *s)
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
        ivr__v_pathf(pb.s, sizeof(pb.s), "%s[%zu]", path, i);
        compile_cond(v, it, pb.s, &c->sub[c->nsub++], depth + 1);
    }
}

static void compile_cond(struct vstate *v, json_t *w, const char *path, struct ivr__cond *c,
                         int depth)
{
    struct pbuf pb = { "" };
    if (!json_is_object(w) || depth > 8) {
        ivr__v_diag(v, IVR_SEV_ERROR, "condition", path,
                    "A condition is an object like {\"left\": \"{{flow.x}}\", \"op\": \"eq\", "
                    "\"right\": \"1\"} (nested at most 8 deep).");
        c->op = IVR_OP_ALL;
        return;
    }
    json_t *all = json_object_get(w, "all");
    json_t *any = json_object_get(w, "any");
    if (json_is_array(all) || json_is_array(any)) {
        c->op = json_is_array(all) ? IVR_OP_ALL : IVR_OP_ANY;
        ivr__v_pathf(pb.s, sizeof(pb.s), "%s.%s", path, json_is_array(all) ? "all" : "any");
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
        ivr__v_diag(v, IVR_SEV_ERROR, "condition_operator", path,
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
        ivr__v_diag(v, IVR_SEV_ERROR, "condition_type", path,
                    "\"as\" must be string, number or bool.");
    }
    if (c->op >= IVR_OP_LT && c->op <= IVR_OP_GE && c->as != IVR_AS_NUMBER) {
        ivr__v_diag(v, IVR_SEV_ERROR, "condition_type", path,
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
            ivr__v_diag(
                v, IVR_SEV_ERROR, "condition", path,
                "The condition needs \"left\": the value to test, e.g. \"{{nodes.menu.digits}}\".");
            return;
        }
        ivr__v_pathf(pb.s, sizeof(pb.s), "%s.left", path);
        c->left = ivr__v_tmpl(v, json_string_value(left), pb.s, TC_GENERAL);
    }
    ivr__v_pathf(pb.s, sizeof(pb.s), "%s.right", path);
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
            ivr__v_diag(v, IVR_SEV_ERROR, "condition", pb.s, "\"right\" must be a list of values.");
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
            if (c->op == IVR_OP_WEEKDAY_IN && ivr__v_weekday_parse(b.p) < 0) {
                ivr__v_diag(v, IVR_SEV_ERROR, "condition", pb.s,
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
            ivr__v_diag(v, IVR_SEV_ERROR, "condition", pb.s,
                        "\"right\" must be a time like \"17:30\".");
        }
        return;
    case IVR_OP_DATE_BETWEEN: {
        json_t *a = json_array_get(right, 0), *b = json_array_get(right, 1);
        c->t1 = json_is_string(a) ? ivr__parse_date(json_string_value(a)) : INT_MIN;
        c->t2 = json_is_string(b) ? ivr__parse_date(json_string_value(b)) : INT_MIN;
        if (c->t1 == INT_MIN || c->t2 == INT_MIN || c->t1 > c->t2) {
            ivr__v_diag(
                v, IVR_SEV_ERROR, "condition", pb.s,
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
            ivr__v_diag(v, IVR_SEV_ERROR, "calendar_missing", path,
                        "The business-hours calendar \"%s\" is not defined in settings.calendars.",
                        cal ? cal : "(none)");
        }
        return;
    }
    case IVR_OP_REGEX:
        if (!json_is_string(right) ||
            regcomp(&c->re, json_string_value(right), REG_EXTENDED | REG_NOSUB) != 0) {
            ivr__v_diag(v, IVR_SEV_ERROR, "regex", pb.s,
                        "The pattern is not a valid regular expression.");
        } else {
            c->has_re = true;
        }
        return;
    default:
        if (json_is_string(right)) {
            c->right = ivr__v_tmpl(v, json_string_value(right), pb.s, TC_GENERAL);
        } else if (json_is_number(right) || json_is_boolean(right)) {
            struct ivr__buf b = { 0 };
            const char *err;
            ivr__value_text(right, &b);
            ivr__buf_add(&b, "", 0);
            c->right = ivr__tmpl_compile(b.p ? b.p : "", &err);
            ivr__buf_fini(&b);
        } else {
            ivr__v_diag(v, IVR_SEV_ERROR, "condition", pb.s,
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
        ivr__v_diag(v, IVR_SEV_ERROR, "branch_routes", ivr__v_npath(&pb, v, ".props.routes"),
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
        ivr__v_npath(&pb, v, ".props.routes[%zu]", i);
        if (id == NULL || *id == '\0' || strlen(id) > IVR_MAX_ID) {
            ivr__v_diag(v, IVR_SEV_ERROR, "branch_routes", pb.s,
                        "Each route needs an \"id\" (1-64 characters) and a \"when\" condition.");
            continue;
        }
        struct ivr__route *r = &n->u.branch.routes[n->u.branch.nroutes];
        for (size_t k = 0; k < n->u.branch.nroutes; k++) {
            if (strcmp(n->u.branch.routes[k].id, id) == 0) {
                ivr__v_diag(v, IVR_SEV_ERROR, "branch_routes", pb.s,
                            "Two routes are called \"%s\".", id);
            }
            json_t *prev = json_object_get(json_array_get(routes, k), "when");
            if (json_equal(prev, when)) {
                ivr__v_diag(
                    v, IVR_SEV_WARNING, "duplicate_condition", pb.s,
                    "Route \"%s\" has the same condition as an earlier route, so it is never "
                    "taken.",
                    id);
            }
        }
        if (always) {
            ivr__v_diag(
                v, IVR_SEV_WARNING, "route_unreachable", pb.s,
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
        ivr__v_pathf(wp, sizeof(wp), "%s.when", pb.s);
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
        ivr__v_diag(v, IVR_SEV_ERROR, "variable_name", path,
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
        ivr__v_npath(&pb, v, ".props.assign[%zu]", i);
        if (name == NULL || value == NULL) {
            ivr__v_diag(v, IVR_SEV_ERROR, "assign", pb.s,
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
            ivr__v_diag(v, IVR_SEV_ERROR, "assign", pb.s,
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
        ivr__v_pathf(vp, sizeof(vp), "%s.value", pb.s);
        a->value = ivr__v_tmpl(v, b.p ? b.p : "", vp, TC_GENERAL);
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
        ivr__v_pathf(pb.s, sizeof(pb.s), "%s.%s", path, k);
        if (!json_is_string(val)) {
            ivr__v_diag(v, IVR_SEV_ERROR, "property_type", pb.s, "\"%s\" must be text.", k);
            continue;
        }
        struct ivr__tmpl *t = ivr__v_tmpl(v, json_string_value(val), pb.s, ctx);
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
            ivr__v_diag(v, IVR_SEV_ERROR, "secret_missing", path,
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
        ivr__v_diag(v, IVR_SEV_WARNING, "url_dynamic", path,
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
        ivr__v_diag(v, IVR_SEV_ERROR, "url_scheme", path,
                    "The address must start with https:// (plain http:// only for hosts your "
                    "administrator allowed).");
        return;
    }
    ivr__v_diag(v, IVR_SEV_ERROR, "url_scheme", path,
                "The address must be absolute and start with https://.");
}

static void compile_api(struct vstate *v, struct ivr__node *n, json_t *props)
{
    struct pbuf pb = { "" };
    struct ivr__api *a = &n->u.api;
    static const char *const methods[] = { "GET",    "POST", "PUT",    "PATCH",
                                           "DELETE", "HEAD", "OPTIONS" };
    const char *m = ivr__v_pstr(props, "method", "GET");
    bool mok = false;
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        mok |= strcmp(methods[i], m) == 0;
    }
    if (!mok) {
        ivr__v_diag(v, IVR_SEV_ERROR, "http_method", ivr__v_npath(&pb, v, ".props.method"),
                    "\"%s\" is not an HTTP method; use GET, POST, PUT, PATCH, DELETE or HEAD.", m);
    }
    a->method = strdup(m);
    if (ivr__v_pstr(props, "url", NULL)) {
        check_url(v, ivr__v_pstr(props, "url", ""), ivr__v_npath(&pb, v, ".props.url"));
        a->url = ivr__v_tmpl(v, ivr__v_pstr(props, "url", ""), pb.s, TC_GENERAL);
    }
    kvs(v, json_object_get(props, "headers"), ivr__v_npath(&pb, v, ".props.headers"), TC_SECRET,
        &a->headers, &a->nheaders);
    for (size_t i = 0; i < a->nheaders; i++) {
        check_secret_names(v, a->headers[i].value, pb.s);
    }
    kvs(v, json_object_get(props, "query"), ivr__v_npath(&pb, v, ".props.query"), TC_GENERAL,
        &a->query, &a->nquery);
    json_t *body = json_object_get(props, "body");
    if (body != NULL) {
        char *d = json_is_string(body) ? strdup(json_string_value(body))
                                       : json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
        if (d != NULL) {
            struct ivr__tmpl *t =
                ivr__v_tmpl(v, d, ivr__v_npath(&pb, v, ".props.body"), TC_GENERAL);
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
        ivr__v_npath(&pb, v, ".props.auth");
        if (type != NULL && strcmp(type, "basic") == 0) {
            const char *u = json_string_value(json_object_get(auth, "username"));
            const char *p = json_string_value(json_object_get(auth, "password"));
            a->user = u ? ivr__v_tmpl(v, u, pb.s, TC_SECRET) : NULL;
            a->pass = p ? ivr__v_tmpl(v, p, pb.s, TC_SECRET) : NULL;
            check_secret_names(v, a->pass, pb.s);
            if (u == NULL) {
                ivr__v_diag(v, IVR_SEV_ERROR, "auth", pb.s,
                            "Basic authentication needs a username.");
            }
        } else if (type != NULL && strcmp(type, "bearer") == 0) {
            const char *t = json_string_value(json_object_get(auth, "token"));
            a->bearer = t ? ivr__v_tmpl(v, t, pb.s, TC_SECRET) : NULL;
            check_secret_names(v, a->bearer, pb.s);
            if (t == NULL) {
                ivr__v_diag(v, IVR_SEV_ERROR, "auth", pb.s, "Bearer authentication needs a token.");
            }
        } else {
            ivr__v_diag(v, IVR_SEV_ERROR, "auth", pb.s, "\"auth.type\" must be basic or bearer.");
        }
    }
    a->timeout_ms = ivr__v_pint(props, "timeout_ms", 5000);
    /* The default connect timeout (2 s) never exceeds a shorter total timeout the flow sets. */
    a->connect_ms = ivr__v_pint(props, "connect_timeout_ms",
                                a->timeout_ms > 100 && a->timeout_ms < 2000 ? a->timeout_ms : 2000);
    ivr__v_range_check(v, "timeout_ms", a->timeout_ms, 100, 10000, " ms");
    ivr__v_range_check(v, "connect_timeout_ms", a->connect_ms, 100, a->timeout_ms, " ms");
    a->max_bytes = (size_t)ivr__v_pint(props, "max_response_bytes", 65536);
    ivr__v_range_check(v, "max_response_bytes", (long long)a->max_bytes, 1, 1024 * 1024, " bytes");
    json_t *retries = json_object_get(props, "retries");
    if (retries != NULL) {
        a->retries = (int)json_integer_value(json_object_get(retries, "count"));
        a->backoff_ms = json_integer_value(json_object_get(retries, "backoff_ms"));
        if (a->backoff_ms == 0) {
            a->backoff_ms = 200;
        }
        ivr__v_range_check(v, "retries", a->retries, 0, 3, "");
        if (a->retries > 0 && !method_idempotent(m) &&
            ivr__v_pstr(props, "idempotency_key", NULL) == NULL) {
            ivr__v_diag(
                v, IVR_SEV_ERROR, "retry_not_idempotent", ivr__v_npath(&pb, v, ".props.retries"),
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
        ivr__v_npath(&pb, v, ".props.response_mapping[%zu]", i);
        if (var == NULL || path == NULL) {
            ivr__v_diag(v, IVR_SEV_ERROR, "response_mapping", pb.s,
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
            ivr__v_diag(v, IVR_SEV_ERROR, "response_mapping", pb.s,
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
        return ivr__v_digits_ok(val) && strlen(val) <= 15;
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
    const char *mode = ivr__v_pstr(props, "mode", "blind");
    if (strcmp(mode, "blind") == 0) {
        t->mode = IVR_TRANSFER_BLIND;
    } else if (strcmp(mode, "bridge") == 0) {
        t->mode = IVR_TRANSFER_BRIDGE;
    } else {
        ivr__v_diag(v, IVR_SEV_ERROR, "transfer_mode", ivr__v_npath(&pb, v, ".props.mode"),
                    "\"mode\" must be blind or bridge.");
    }
    t->ring_timeout_s = (int)ivr__v_pint(props, "ring_timeout_s", 30);
    ivr__v_range_check(v, "ring_timeout_s", t->ring_timeout_s, 5, 120, " s");
    if (json_is_object(target)) {
        const char *type = json_string_value(json_object_get(target, "type"));
        const char *val = json_string_value(json_object_get(target, "value"));
        ivr__v_npath(&pb, v, ".props.target");
        if (type == NULL || val == NULL ||
            (strcmp(type, "extension") && strcmp(type, "pstn") && strcmp(type, "sip") &&
             strcmp(type, "queue"))) {
            ivr__v_diag(v, IVR_SEV_ERROR, "transfer_target", pb.s,
                        "The target needs a type (extension, pstn, sip or queue) and a value.");
            return;
        }
        if (!target_ok(type, val)) {
            ivr__v_diag(
                v, IVR_SEV_ERROR, "transfer_target", pb.s,
                "\"%s\" is not a valid %s target (pstn: +14155550123, extension: digits, sip: "
                "sip:user@host, queue: a name).",
                val, type);
        }
        t->target_type = strdup(type);
        t->target = ivr__v_tmpl(v, val, pb.s, TC_GENERAL);
    }
    if (ivr__v_pstr(props, "caller_id", NULL)) {
        t->caller_id = ivr__v_tmpl(v, ivr__v_pstr(props, "caller_id", ""),
                                   ivr__v_npath(&pb, v, ".props.caller_id"), TC_GENERAL);
    }
}

static void compile_vm(struct vstate *v, struct ivr__node *n, json_t *props)
{
    struct pbuf pb = { "" };
    struct ivr__voicemail *m = &n->u.vm;
    ivr__v_prompts(v, json_object_get(props, "greeting"), ivr__v_npath(&pb, v, ".props.greeting"),
                   &m->greeting);
    m->beep = ivr__v_pbool(props, "beep", true);
    m->max_length_s = (int)ivr__v_pint(props, "max_length_s", 120);
    m->silence_s = (int)ivr__v_pint(props, "silence_timeout_s", 5);
    m->min_length_s = (int)ivr__v_pint(props, "min_length_s", 1);
    m->finish_key = key_char(v, props, "finish_on_key", "#");
    ivr__v_range_check(v, "max_length_s", m->max_length_s, 5, 600, " s");
    ivr__v_range_check(v, "silence_timeout_s", m->silence_s, 1, 60, " s");
    ivr__v_range_check(v, "min_length_s", m->min_length_s, 0, m->max_length_s, " s");
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
    n->u.hangup.cause = cause_parse(ivr__v_pstr(props, "cause", "normal"));
    if (n->u.hangup.cause < 0) {
        ivr__v_diag(v, IVR_SEV_ERROR, "hangup_cause", ivr__v_npath(&pb, v, ".props.cause"),
                    "\"cause\" must be normal, busy, no_answer, rejected, congestion or failure.");
        n->u.hangup.cause = 16;
    }
    const char *d = ivr__v_pstr(props, "disposition", NULL);
    if (d != NULL) {
        n->u.hangup.disposition = strdup(d);
        if (strlen(d) == 0 || strlen(d) > 64) {
            ivr__v_diag(v, IVR_SEV_ERROR, "disposition", ivr__v_npath(&pb, v, ".props.disposition"),
                        "A disposition code has 1 to 64 characters.");
        }
    }
    ivr__v_prompts(v, json_object_get(props, "final_prompt"),
                   ivr__v_npath(&pb, v, ".props.final_prompt"), &n->u.hangup.final_prompt);
}

static void compile_subflow(struct vstate *v, struct ivr__node *n, json_t *props)
{
    struct pbuf pb = { "" };
    struct ivr__subflow *s = &n->u.sub;
    s->flow_id = strdup(ivr__v_pstr(props, "flow_id", ""));
    s->revision = (int)ivr__v_pint(props, "revision", 0);
    kvs(v, json_object_get(props, "inputs"), ivr__v_npath(&pb, v, ".props.inputs"), TC_GENERAL,
        &s->inputs, &s->ninputs);
    kvs(v, json_object_get(props, "outputs"), ivr__v_npath(&pb, v, ".props.outputs"), TC_GENERAL,
        &s->outputs, &s->noutputs);
    for (size_t i = 0; i < s->noutputs; i++) {
        json_object_set_new(v->assigned, s->outputs[i].name, json_true());
    }
    ivr__v_npath(&pb, v, ".props.flow_id");
    if (v->flow_id != NULL && strcmp(v->flow_id, s->flow_id) == 0) {
        ivr__v_diag(v, IVR_SEV_ERROR, "subflow_recursion", pb.s,
                    "A flow cannot call itself as a subflow.");
        return;
    }
    if (v->opt->subflow == NULL) {
        ivr__v_diag(v, IVR_SEV_WARNING, "subflow_unchecked", pb.s,
                    "The subflow \"%s\" will be looked up when the call reaches this step.",
                    s->flow_id);
        return;
    }
    struct ivr_flow *sub = v->opt->subflow(s->flow_id, s->revision, v->opt->subflow_arg);
    if (sub == NULL) {
        ivr__v_diag(v, IVR_SEV_ERROR, "subflow_missing", pb.s,
                    "The subflow \"%s\" does not exist or has no published revision.", s->flow_id);
        return;
    }
    for (size_t i = 0; i < sub->nnodes; i++) {
        if (sub->nodes[i].type == IVR_N_SUBFLOW) {
            ivr__v_diag(v, IVR_SEV_ERROR, "subflow_nested", pb.s,
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
            ivr__v_diag(v, IVR_SEV_ERROR, "subflow_input", pb.s,
                        "The subflow \"%s\" needs the input \"%s\".", s->flow_id, k);
        }
    }
    ivr_flow_unref(sub);
}

void ivr__v_compile_node(struct vstate *v, struct ivr__node *n, json_t *props)
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
        n->u.loop.max = (int)ivr__v_pint(props, "max", 3);
        ivr__v_range_check(v, "max", n->u.loop.max, 1, 100, "");
        break;
    case IVR_N_WAIT:
        n->u.wait.ms = ivr__v_pint(props, "duration_ms", 1000);
        ivr__v_range_check(v, "duration_ms", n->u.wait.ms, 100, 60000, " ms");
        break;
    case IVR_N_SUBFLOW:
        compile_subflow(v, n, props);
        break;
    case IVR_N_RETURN:
        n->u.ret.exit = strdup(ivr__v_pstr(props, "exit", "completed"));
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
