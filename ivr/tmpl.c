/* SPDX-License-Identifier: MIT */
/*
 * tmpl: the {{ path | filter: arg }} templates of IVR flows.
 *
 * A template is literal text with expressions in double braces. An
 * expression is a dotted path into the session variables (call.*,
 * contact.*, flow.*, nodes.<id>.*, sys.*, secrets.*) followed by filters,
 * applied left to right:
 *
 *   default: 'x'   the text x when the value is missing or empty
 *   upper, lower   case mapping (ASCII)
 *   digits         the digits of the value spaced out ("1 2 3"), for speech
 *   last4          the last four characters (masked card confirmation)
 *   json           the value as compact JSON (strings quoted)
 *   urlencode      percent-encoding of everything but unreserved characters
 *   number         the value as a number ("007" -> "7"; empty when not one)
 *
 * There are no loops or conditionals (branch nodes do that). Templates are
 * compiled once when a flow loads; rendering walks the parts and appends to
 * a buffer. A missing variable renders as "" and is counted so the step log
 * can warn. secrets.* render only where the caller allows them (api_call
 * headers and auth).
 */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "ivr/ivr_int.h"

/* ---------------------------------------------------------------------- */
/* Buffer                                                                  */
/* ---------------------------------------------------------------------- */

void ivr__buf_add(struct ivr__buf *b, const char *s, size_t n)
{
    if (b->oom) {
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1) {
            cap *= 2;
        }
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    if (n > 0) {
        memcpy(b->p + b->len, s, n);
    }
    b->len += n;
    b->p[b->len] = '\0';
}

void ivr__buf_adds(struct ivr__buf *b, const char *s)
{
    ivr__buf_add(b, s, strlen(s));
}

void ivr__buf_fini(struct ivr__buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->oom = false;
}

/* ---------------------------------------------------------------------- */
/* Paths                                                                   */
/* ---------------------------------------------------------------------- */

char **ivr__split_path(const char *s, size_t *n)
{
    size_t cnt = 1;
    for (const char *p = s; *p; p++) {
        cnt += (*p == '.');
    }
    char **seg = calloc(cnt, sizeof(*seg));
    if (seg == NULL) {
        return NULL;
    }
    size_t i = 0;
    const char *start = s;
    for (const char *p = s;; p++) {
        if (*p == '.' || *p == '\0') {
            if (p == start) {
                ivr__free_path(seg, i);
                return NULL;
            }
            seg[i] = strndup(start, (size_t)(p - start));
            if (seg[i] == NULL) {
                ivr__free_path(seg, i);
                return NULL;
            }
            i++;
            if (*p == '\0') {
                break;
            }
            start = p + 1;
        }
    }
    *n = i;
    return seg;
}

void ivr__free_path(char **seg, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(seg[i]);
    }
    free(seg);
}

json_t *ivr__lookup(json_t *vars, char *const *seg, size_t nseg)
{
    json_t *v = vars;
    for (size_t i = 0; i < nseg && v != NULL; i++) {
        if (json_is_object(v)) {
            v = json_object_get(v, seg[i]);
        } else if (json_is_array(v)) {
            char *end;
            long idx = strtol(seg[i], &end, 10);
            v = (*end == '\0' && idx >= 0) ? json_array_get(v, (size_t)idx) : NULL;
        } else {
            return NULL;
        }
    }
    return v;
}

int ivr__set_path(json_t *vars, char *const *seg, size_t n, json_t *v)
{
    json_t *o = vars;
    for (size_t i = 0; i + 1 < n; i++) {
        json_t *c = json_object_get(o, seg[i]);
        if (!json_is_object(c)) {
            c = json_object();
            if (c == NULL || json_object_set_new(o, seg[i], c) != 0) {
                json_decref(v);
                return ERR_NOMEM;
            }
        }
        o = c;
    }
    return json_object_set_new(o, seg[n - 1], v) == 0 ? 0 : ERR_NOMEM;
}

void ivr__value_text(json_t *v, struct ivr__buf *out)
{
    char tmp[64];
    switch (json_typeof(v)) {
    case JSON_STRING:
        ivr__buf_add(out, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER: {
        /* Hand-rolled: integers are rendered on hot paths (loop counters, digits). */
        json_int_t x = json_integer_value(v);
        unsigned long long u = x < 0 ? 0ULL - (unsigned long long)x : (unsigned long long)x;
        char *p = tmp + sizeof(tmp);
        do {
            *--p = (char)('0' + u % 10);
            u /= 10;
        } while (u != 0);
        if (x < 0) {
            *--p = '-';
        }
        ivr__buf_add(out, p, (size_t)(tmp + sizeof(tmp) - p));
        break;
    }
    case JSON_REAL:
        snprintf(tmp, sizeof(tmp), "%.15g", json_real_value(v));
        ivr__buf_adds(out, tmp);
        break;
    case JSON_TRUE:
        ivr__buf_adds(out, "true");
        break;
    case JSON_FALSE:
        ivr__buf_adds(out, "false");
        break;
    case JSON_NULL:
        break;
    default: {
        char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (s == NULL) {
            out->oom = true;
            return;
        }
        ivr__buf_adds(out, s);
        free(s);
    }
    }
}

/* ---------------------------------------------------------------------- */
/* Compile                                                                 */
/* ---------------------------------------------------------------------- */

static const struct {
    const char *name;
    enum ivr__filter kind;
    bool arg;
} filters[] = {
    { "default", IVR_F_DEFAULT, true }, { "upper", IVR_F_UPPER, false },
    { "lower", IVR_F_LOWER, false },    { "digits", IVR_F_DIGITS, false },
    { "json", IVR_F_JSON, false },      { "urlencode", IVR_F_URLENCODE, false },
    { "number", IVR_F_NUMBER, false },  { "last4", IVR_F_LAST4, false },
};

static void part_free(struct ivr__tpart *p)
{
    free(p->lit);
    ivr__free_path(p->seg, p->nseg);
    for (size_t i = 0; i < p->nfilters; i++) {
        free(p->filters[i].arg);
    }
    free(p->filters);
}

void ivr__tmpl_free(struct ivr__tmpl *t)
{
    if (t == NULL) {
        return;
    }
    for (size_t i = 0; i < t->nparts; i++) {
        part_free(&t->parts[i]);
    }
    free(t->parts);
    free(t);
}

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t')) {
        p++;
    }
    return p;
}

static bool path_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '-' || c == '.';
}

/* Parses one expression between p and end into part; NULL or a message. */
static const char *parse_expr(const char *p, const char *end, struct ivr__tpart *part)
{
    p = skip_ws(p, end);
    const char *ps = p;
    while (p < end && path_char(*p)) {
        p++;
    }
    if (p == ps) {
        return "a variable name is expected inside {{ }}";
    }
    char *path = strndup(ps, (size_t)(p - ps));
    if (path == NULL) {
        return "out of memory";
    }
    part->seg = ivr__split_path(path, &part->nseg);
    free(path);
    if (part->seg == NULL) {
        return "a variable name has an empty part (two dots or a dot at an end)";
    }
    p = skip_ws(p, end);
    while (p < end) {
        if (*p != '|') {
            return "a '|' and a filter name are expected after the variable";
        }
        p = skip_ws(p + 1, end);
        const char *fs = p;
        while (p < end && (isalpha((unsigned char)*p) || isdigit((unsigned char)*p))) {
            p++;
        }
        size_t flen = (size_t)(p - fs);
        size_t k;
        for (k = 0; k < sizeof(filters) / sizeof(filters[0]); k++) {
            if (strlen(filters[k].name) == flen && strncmp(filters[k].name, fs, flen) == 0) {
                break;
            }
        }
        if (k == sizeof(filters) / sizeof(filters[0])) {
            return "unknown filter (known: default, upper, lower, digits, last4, json, "
                   "urlencode, number)";
        }
        struct ivr__tfilter *nf =
            realloc(part->filters, (part->nfilters + 1) * sizeof(*part->filters));
        if (nf == NULL) {
            return "out of memory";
        }
        part->filters = nf;
        struct ivr__tfilter *f = &part->filters[part->nfilters++];
        f->kind = filters[k].kind;
        f->arg = NULL;
        p = skip_ws(p, end);
        if (filters[k].arg) {
            if (p >= end || *p != ':') {
                return "the default filter needs a value: default: 'text'";
            }
            p = skip_ws(p + 1, end);
            if (p >= end || (*p != '\'' && *p != '"')) {
                return "the default value must be quoted: default: 'text'";
            }
            char q = *p++;
            const char *as = p;
            while (p < end && *p != q) {
                p++;
            }
            if (p >= end) {
                return "unterminated quote in a filter value";
            }
            f->arg = strndup(as, (size_t)(p - as));
            if (f->arg == NULL) {
                return "out of memory";
            }
            p = skip_ws(p + 1, end);
        }
    }
    return NULL;
}

static struct ivr__tpart *add_part(struct ivr__tmpl *t)
{
    struct ivr__tpart *np = realloc(t->parts, (t->nparts + 1) * sizeof(*t->parts));
    if (np == NULL) {
        return NULL;
    }
    t->parts = np;
    memset(&np[t->nparts], 0, sizeof(np[0]));
    return &np[t->nparts++];
}

struct ivr__tmpl *ivr__tmpl_compile(const char *src, const char **err)
{
    struct ivr__tmpl *t = calloc(1, sizeof(*t));
    const char *p = src;
    *err = NULL;
    if (t == NULL) {
        *err = "out of memory";
        return NULL;
    }
    t->constant = true;
    while (*p) {
        const char *open = strstr(p, "{{");
        const char *lend = open ? open : p + strlen(p);
        if (lend > p) {
            struct ivr__tpart *part = add_part(t);
            if (part == NULL || (part->lit = strndup(p, (size_t)(lend - p))) == NULL) {
                *err = "out of memory";
                goto fail;
            }
            part->litlen = (size_t)(lend - p);
        }
        if (open == NULL) {
            break;
        }
        const char *close = strstr(open + 2, "}}");
        if (close == NULL) {
            *err = "'{{' without a closing '}}'";
            goto fail;
        }
        const char *inner_open = strstr(open + 2, "{{");
        if (inner_open != NULL && inner_open < close) {
            *err = "'{{' inside another '{{ }}'";
            goto fail;
        }
        struct ivr__tpart *part = add_part(t);
        if (part == NULL) {
            *err = "out of memory";
            goto fail;
        }
        *err = parse_expr(open + 2, close, part);
        if (*err != NULL) {
            goto fail;
        }
        t->constant = false;
        p = close + 2;
    }
    if (strstr(src, "}}") != NULL && t->constant) {
        *err = "'}}' without an opening '{{'";
        goto fail;
    }
    return t;
fail:
    ivr__tmpl_free(t);
    return NULL;
}

const char *ivr_template_check(const char *src)
{
    const char *err;
    struct ivr__tmpl *t = ivr__tmpl_compile(src, &err);
    ivr__tmpl_free(t);
    return err;
}

/* ---------------------------------------------------------------------- */
/* Render                                                                  */
/* ---------------------------------------------------------------------- */

static void apply_filter(const struct ivr__tfilter *f, struct ivr__buf *in, bool *present,
                         struct ivr__buf *out)
{
    const char *s = in->p ? in->p : "";
    size_t n = in->len;
    switch (f->kind) {
    case IVR_F_DEFAULT:
        if (!*present || n == 0) {
            ivr__buf_adds(out, f->arg);
            *present = true;
        } else {
            ivr__buf_add(out, s, n);
        }
        return;
    case IVR_F_UPPER:
    case IVR_F_LOWER:
        for (size_t i = 0; i < n; i++) {
            char c = (char)(f->kind == IVR_F_UPPER ? toupper((unsigned char)s[i])
                                                   : tolower((unsigned char)s[i]));
            ivr__buf_add(out, &c, 1);
        }
        return;
    case IVR_F_DIGITS: {
        bool first = true;
        for (size_t i = 0; i < n; i++) {
            if (isalnum((unsigned char)s[i]) || s[i] == '*' || s[i] == '#') {
                if (!first) {
                    ivr__buf_add(out, " ", 1);
                }
                ivr__buf_add(out, &s[i], 1);
                first = false;
            }
        }
        return;
    }
    case IVR_F_LAST4:
        ivr__buf_add(out, n > 4 ? s + n - 4 : s, n > 4 ? 4 : n);
        return;
    case IVR_F_JSON: {
        json_t *j = json_stringn(s, n);
        char *d = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
        if (d == NULL) {
            out->oom = true;
        } else {
            ivr__buf_adds(out, d);
        }
        free(d);
        json_decref(j);
        return;
    }
    case IVR_F_URLENCODE:
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)s[i];
            if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
                ivr__buf_add(out, &s[i], 1);
            } else {
                char hex[4];
                snprintf(hex, sizeof(hex), "%%%02X", c);
                ivr__buf_add(out, hex, 3);
            }
        }
        return;
    case IVR_F_NUMBER: {
        char *end;
        double d = n > 0 ? strtod(s, &end) : 0.0;
        if (n > 0 && *end == '\0') {
            char tmp[64];
            snprintf(tmp, sizeof(tmp), "%.15g", d);
            ivr__buf_adds(out, tmp);
        }
        return;
    }
    }
}

/* The JSON filter on a non-string value dumps the value itself. */
static bool json_direct(const struct ivr__tpart *part, json_t *v)
{
    return part->nfilters == 1 && part->filters[0].kind == IVR_F_JSON && v != NULL &&
           !json_is_string(v);
}

void ivr__tmpl_render(const struct ivr__tmpl *t, const struct ivr__vars *vars, bool allow_secrets,
                      struct ivr__buf *out, int *missing)
{
    for (size_t i = 0; i < t->nparts; i++) {
        const struct ivr__tpart *part = &t->parts[i];
        if (part->lit != NULL) {
            ivr__buf_add(out, part->lit, part->litlen);
            continue;
        }
        json_t *v = NULL, *tmp = NULL;
        if (allow_secrets || strcmp(part->seg[0], "secrets") != 0) {
            v = ivr__vars_get(vars, part->seg, part->nseg, &tmp);
        }
        bool present = v != NULL && !json_is_null(v);
        if (!present && missing != NULL) {
            bool defaulted = false;
            for (size_t k = 0; k < part->nfilters; k++) {
                defaulted |= part->filters[k].kind == IVR_F_DEFAULT;
            }
            *missing += !defaulted;
        }
        if (json_direct(part, v)) {
            char *d = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            if (d != NULL) {
                ivr__buf_adds(out, d);
            }
            free(d);
            json_decref(tmp);
            continue;
        }
        if (part->nfilters == 0) {
            if (present) {
                ivr__value_text(v, out);
            }
            json_decref(tmp);
            continue;
        }
        struct ivr__buf cur = { 0 };
        if (present) {
            ivr__value_text(v, &cur);
        }
        json_decref(tmp);
        for (size_t k = 0; k < part->nfilters; k++) {
            struct ivr__buf next = { 0 };
            ivr__buf_add(&next, "", 0);
            apply_filter(&part->filters[k], &cur, &present, &next);
            ivr__buf_fini(&cur);
            cur = next;
        }
        ivr__buf_add(out, cur.p ? cur.p : "", cur.len);
        out->oom |= cur.oom;
        ivr__buf_fini(&cur);
    }
    if (out->p == NULL) {
        ivr__buf_add(out, "", 0);
    }
}

char *ivr_render(const char *src, json_t *vars, bool allow_secrets, int *missing, const char **err)
{
    struct ivr__tmpl *t = ivr__tmpl_compile(src, err);
    if (t == NULL) {
        return NULL;
    }
    struct ivr__buf b = { 0 };
    struct ivr__vars plain = { .tree = vars };
    ivr__tmpl_render(t, &plain, allow_secrets, &b, missing);
    ivr__tmpl_free(t);
    if (b.oom) {
        ivr__buf_fini(&b);
        *err = "out of memory";
        return NULL;
    }
    return b.p;
}

/* ---------------------------------------------------------------------- */
/* Time helpers                                                            */
/* ---------------------------------------------------------------------- */

int ivr__tz_fixed(const char *tz, int *offset_min)
{
    if (strcmp(tz, "UTC") == 0 || strcmp(tz, "Z") == 0 || strcmp(tz, "Etc/UTC") == 0) {
        *offset_min = 0;
        return 0;
    }
    if ((tz[0] != '+' && tz[0] != '-') || !isdigit((unsigned char)tz[1]) ||
        !isdigit((unsigned char)tz[2])) {
        return ERR_NOTFOUND;
    }
    const char *m = tz[3] == ':' ? tz + 4 : tz + 3;
    if (!isdigit((unsigned char)m[0]) || !isdigit((unsigned char)m[1]) || m[2] != '\0') {
        return ERR_NOTFOUND;
    }
    int h = (tz[1] - '0') * 10 + (tz[2] - '0');
    int mm = (m[0] - '0') * 10 + (m[1] - '0');
    if (h > 14 || mm > 59) {
        return ERR_NOTFOUND;
    }
    *offset_min = (tz[0] == '-' ? -1 : 1) * (h * 60 + mm);
    return 0;
}

int ivr__parse_hhmm(const char *s)
{
    if (strlen(s) != 5 || !isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]) ||
        s[2] != ':' || !isdigit((unsigned char)s[3]) || !isdigit((unsigned char)s[4])) {
        return -1;
    }
    int h = (s[0] - '0') * 10 + (s[1] - '0');
    int m = (s[3] - '0') * 10 + (s[4] - '0');
    if (h > 24 || m > 59 || (h == 24 && m != 0)) {
        return -1;
    }
    return h * 60 + m;
}

/* Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm). */
static int days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int era = (y >= 0 ? y : y - 399) / 400;
    int yoe = y - era * 400;
    int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int ivr__parse_date(const char *s)
{
    int y, m, d;
    char tail;
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-' ||
        sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 || m < 1 || m > 12 || d < 1 || d > 31 ||
        y < 1970 || y > 9999) {
        return INT_MIN;
    }
    return days_from_civil(y, m, d);
}

/*
 * A small built-in zone table for business hours when the host gives no
 * zone hook (the simulator, dialerctl): standard offset plus the US or EU
 * daylight-saving rule. US: from the second Sunday of March 02:00 local to
 * the first Sunday of November 02:00 local. EU: from the last Sunday of
 * March 01:00 UTC to the last Sunday of October 01:00 UTC. The server passes
 * compliance's TZif reader instead, which knows every zone and history.
 */
enum dst_rule { DST_NONE, DST_US, DST_EU };

static const struct {
    const char *name;
    int std_min;
    enum dst_rule rule;
} zones[] = {
    { "America/New_York", -300, DST_US },    { "America/Chicago", -360, DST_US },
    { "America/Denver", -420, DST_US },      { "America/Phoenix", -420, DST_NONE },
    { "America/Los_Angeles", -480, DST_US }, { "America/Anchorage", -540, DST_US },
    { "Pacific/Honolulu", -600, DST_NONE },  { "America/Toronto", -300, DST_US },
    { "America/Vancouver", -480, DST_US },   { "Europe/London", 0, DST_EU },
    { "Europe/Dublin", 0, DST_EU },          { "Europe/Lisbon", 0, DST_EU },
    { "Europe/Paris", 60, DST_EU },          { "Europe/Berlin", 60, DST_EU },
    { "Europe/Madrid", 60, DST_EU },         { "Europe/Rome", 60, DST_EU },
    { "Europe/Amsterdam", 60, DST_EU },      { "Europe/Brussels", 60, DST_EU },
    { "Europe/Athens", 120, DST_EU },        { "Europe/Helsinki", 120, DST_EU },
    { "Asia/Tokyo", 540, DST_NONE },         { "Asia/Kolkata", 330, DST_NONE },
    { "Asia/Singapore", 480, DST_NONE },     { "UTC", 0, DST_NONE },
};

/* Days since the epoch of the n-th (1-based; 0 = last) Sunday of month m in year y. */
static int nth_sunday(int y, int m, int n)
{
    if (n == 0) {
        int next = m == 12 ? days_from_civil(y + 1, 1, 1) : days_from_civil(y, m + 1, 1);
        int last = next - 1;
        return last - ((last % 7 + 11) % 7);
    }
    int first = days_from_civil(y, m, 1);
    int wd = (first % 7 + 11) % 7;
    return first + (7 - wd) % 7 + 7 * (n - 1);
}

static int year_of(int64_t sec)
{
    int64_t day = sec >= 0 ? sec / 86400 : (sec - 86399) / 86400;
    int y = 1970 + (int)(day / 366);
    while (days_from_civil(y + 1, 1, 1) <= day) {
        y++;
    }
    return y;
}

int ivr__tz_builtin(const char *tz, int64_t wall_us, int *offset_min)
{
    for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]); i++) {
        if (strcmp(zones[i].name, tz) != 0) {
            continue;
        }
        int64_t t = wall_us / 1000000;
        int std = zones[i].std_min;
        int y = year_of(t);
        bool dst = false;
        if (zones[i].rule == DST_US) {
            int64_t on = (int64_t)nth_sunday(y, 3, 2) * 86400 + 2 * 3600 - std * 60;
            int64_t off = (int64_t)nth_sunday(y, 11, 1) * 86400 + 2 * 3600 - (std + 60) * 60;
            dst = t >= on && t < off;
        } else if (zones[i].rule == DST_EU) {
            int64_t on = (int64_t)nth_sunday(y, 3, 0) * 86400 + 3600;
            int64_t off = (int64_t)nth_sunday(y, 10, 0) * 86400 + 3600;
            dst = t >= on && t < off;
        }
        *offset_min = std + (dst ? 60 : 0);
        return 0;
    }
    return ERR_NOTFOUND;
}
