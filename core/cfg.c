/* SPDX-License-Identifier: MIT */
/* cfg: see cfg.h. */
#include "core/cfg.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"

extern char **environ;

static void set_err(struct cfg_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void set_err(struct cfg_error *err, const char *fmt, ...)
{
    va_list ap;
    if (err == NULL) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
}

int cfg_parse_bool(const char *s, int *out)
{
    static const char *const yes[] = { "true", "yes", "on", "1" };
    static const char *const no[] = { "false", "no", "off", "0" };
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return ERR_PARSE;
}

/* Parses a decimal integer followed by an optional unit; returns the unit. */
static int parse_num_unit(const char *s, int64_t *num, const char **unit)
{
    char *end;
    long long v;

    while (isspace((unsigned char)*s)) {
        s++;
    }
    if (*s == '\0') {
        return ERR_PARSE;
    }
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno == ERANGE) {
        return ERR_RANGE;
    }
    if (end == s) {
        return ERR_PARSE;
    }
    while (isspace((unsigned char)*end)) {
        end++;
    }
    *num = v;
    *unit = end;
    return 0;
}

static int scale(int64_t v, int64_t mul, int64_t *out)
{
    if (v > INT64_MAX / mul || v < INT64_MIN / mul) {
        return ERR_RANGE;
    }
    *out = v * mul;
    return 0;
}

int cfg_parse_int(const char *s, int64_t *out)
{
    const char *unit;
    int64_t v;
    int rc = parse_num_unit(s, &v, &unit);
    if (rc != 0) {
        return rc;
    }
    if (*unit != '\0') {
        return ERR_PARSE;
    }
    *out = v;
    return 0;
}

int cfg_parse_duration_ms(const char *s, int64_t *out)
{
    static const struct {
        const char *u;
        int64_t ms;
    } units[] = { { "", 1 },      { "ms", 1 },      { "s", 1000 },    { "sec", 1000 },
                  { "m", 60000 }, { "min", 60000 }, { "h", 3600000 }, { "d", 86400000 } };

    const char *unit;
    int64_t v;
    int rc = parse_num_unit(s, &v, &unit);
    if (rc != 0) {
        return rc;
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcasecmp(unit, units[i].u) == 0) {
            return scale(v, units[i].ms, out);
        }
    }
    return ERR_PARSE;
}

int cfg_parse_size(const char *s, int64_t *out)
{
    static const struct {
        const char *u;
        int64_t b;
    } units[] = { { "", 1 },
                  { "b", 1 },
                  { "k", 1024 },
                  { "kb", 1024 },
                  { "kib", 1024 },
                  { "m", 1024 * 1024 },
                  { "mb", 1024 * 1024 },
                  { "mib", 1024 * 1024 },
                  { "g", INT64_C(1024) * 1024 * 1024 },
                  { "gb", INT64_C(1024) * 1024 * 1024 },
                  { "gib", INT64_C(1024) * 1024 * 1024 } };

    const char *unit;
    int64_t v;
    int rc = parse_num_unit(s, &v, &unit);
    if (rc != 0) {
        return rc;
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcasecmp(unit, units[i].u) == 0) {
            return scale(v, units[i].b, out);
        }
    }
    return ERR_PARSE;
}

static const struct cfg_option *find(const struct cfg_option *tab, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(tab[i].name, name) == 0) {
            return &tab[i];
        }
    }
    return NULL;
}

static const char *type_name(enum cfg_type t)
{
    switch (t) {
    case CFG_INT:
        return "int";
    case CFG_BOOL:
        return "bool";
    case CFG_STR:
        return "string";
    case CFG_DURATION:
        return "duration";
    case CFG_SIZE:
        return "size";
    }
    return "?";
}

static int apply(const struct cfg_option *o, void *conf, const char *value, const char *origin,
                 struct cfg_error *err)
{
    char *field = (char *)conf + o->offset;
    int64_t v = 0;
    int rc = 0;

    switch (o->type) {
    case CFG_BOOL: {
        int b;
        if (cfg_parse_bool(value, &b) != 0) {
            set_err(err, "%s: %s: expected a boolean (true/false), got \"%s\"", origin, o->name,
                    value);
            return ERR_PARSE;
        }
        *(bool *)(void *)field = b != 0;
        return 0;
    }
    case CFG_STR: {
        size_t len = strlen(value);
        if (o->max > 0 && (int64_t)len > o->max) {
            set_err(err, "%s: %s: longer than %lld characters", origin, o->name, (long long)o->max);
            return ERR_RANGE;
        }
        if (o->min > 0 && (int64_t)len < o->min) {
            set_err(err, "%s: %s: shorter than %lld characters", origin, o->name,
                    (long long)o->min);
            return ERR_RANGE;
        }
        char *copy = strdup(value);
        if (copy == NULL) {
            return ERR_NOMEM;
        }
        char **slot = (char **)(void *)field;
        free(*slot);
        *slot = copy;
        return 0;
    }
    case CFG_INT:
        rc = cfg_parse_int(value, &v);
        break;
    case CFG_DURATION:
        rc = cfg_parse_duration_ms(value, &v);
        break;
    case CFG_SIZE:
        rc = cfg_parse_size(value, &v);
        break;
    }
    if (rc != 0) {
        set_err(err, "%s: %s: expected a%s %s, got \"%s\"", origin, o->name,
                o->type == CFG_INT ? "n" : "", type_name(o->type), value);
        return rc;
    }
    if (v < o->min || v > o->max) {
        set_err(err, "%s: %s: %lld is outside %lld..%lld", origin, o->name, (long long)v,
                (long long)o->min, (long long)o->max);
        return ERR_RANGE;
    }
    *(int64_t *)(void *)field = v;
    return 0;
}

int cfg_defaults(const struct cfg_option *tab, size_t n, void *conf, struct cfg_error *err)
{
    for (size_t i = 0; i < n; i++) {
        int rc = apply(&tab[i], conf, tab[i].def != NULL ? tab[i].def : "", "default", err);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

int cfg_set(const struct cfg_option *tab, size_t n, void *conf, const char *name, const char *value,
            const char *origin, struct cfg_error *err)
{
    const struct cfg_option *o = find(tab, n, name);
    if (o == NULL) {
        set_err(err, "%s: unknown configuration key \"%s\" (see --help-config)", origin, name);
        return ERR_UNKNOWN_KEY;
    }
    return apply(o, conf, value, origin, err);
}

static char *trim(char *s)
{
    char *e;
    while (isspace((unsigned char)*s)) {
        s++;
    }
    e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) {
        *--e = '\0';
    }
    return s;
}

int cfg_load_file(const struct cfg_option *tab, size_t n, void *conf, const char *path,
                  struct cfg_error *err)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0;
    int rc = 0;

    if (f == NULL) {
        int e = errno;
        set_err(err, "%s: cannot open: %s", path, e == ENOENT ? "no such file" : "error");
        return e == ENOENT ? ERR_NOTFOUND : -e;
    }
    while (getline(&line, &cap, f) >= 0) {
        char origin[300];
        char *key;
        char *val;
        char *eq;

        lineno++;
        key = trim(line);
        if (*key == '#' || *key == '\0') {
            continue;
        }
        snprintf(origin, sizeof(origin), "%s:%d", path, lineno);
        eq = strchr(key, '=');
        if (eq == NULL) {
            set_err(err, "%s: expected \"name = value\"", origin);
            rc = ERR_PARSE;
            break;
        }
        *eq = '\0';
        val = trim(eq + 1);
        key = trim(key);
        if (*val == '"') {
            size_t len = strlen(val);
            if (len < 2 || val[len - 1] != '"') {
                set_err(err, "%s: unterminated quoted value", origin);
                rc = ERR_PARSE;
                break;
            }
            val[len - 1] = '\0';
            val++;
        } else {
            char *hash = strstr(val, " #");
            if (hash != NULL) {
                *hash = '\0';
                val = trim(val);
            }
        }
        rc = cfg_set(tab, n, conf, key, val, origin, err);
        if (rc != 0) {
            break;
        }
    }
    free(line);
    fclose(f);
    return rc;
}

static void env_name(const char *prefix, const char *name, char *out, size_t size)
{
    size_t j = (size_t)snprintf(out, size, "%s", prefix);
    for (const char *p = name; *p != '\0' && j + 1 < size; p++) {
        char c = *p;
        out[j++] = (c == '.' || c == '-') ? '_' : (char)toupper((unsigned char)c);
    }
    out[j] = '\0';
}

int cfg_load_env(const struct cfg_option *tab, size_t n, void *conf, const char *prefix,
                 const char *const *ignore, struct cfg_error *err)
{
    size_t plen = strlen(prefix);

    for (char **e = environ; *e != NULL; e++) {
        const char *eq = strchr(*e, '=');
        char name[128];
        bool matched = false;

        if (eq == NULL || strncmp(*e, prefix, plen) != 0) {
            continue;
        }
        size_t nlen = (size_t)(eq - *e);
        if (nlen >= sizeof(name)) {
            set_err(err, "environment: variable name too long");
            return ERR_UNKNOWN_KEY;
        }
        memcpy(name, *e, nlen);
        name[nlen] = '\0';
        for (const char *const *ig = ignore; ig != NULL && *ig != NULL; ig++) {
            if (strcmp(*ig, name) == 0) {
                matched = true;
            }
        }
        if (matched) {
            continue;
        }
        for (size_t i = 0; i < n && !matched; i++) {
            char want[128];
            env_name(prefix, tab[i].name, want, sizeof(want));
            if (strcmp(want, name) == 0) {
                char origin[160];
                snprintf(origin, sizeof(origin), "environment %s", name);
                int rc = apply(&tab[i], conf, eq + 1, origin, err);
                if (rc != 0) {
                    return rc;
                }
                matched = true;
            }
        }
        if (!matched) {
            set_err(err, "environment: unknown variable %s (see --help-config)", name);
            return ERR_UNKNOWN_KEY;
        }
    }
    return 0;
}

void cfg_free(const struct cfg_option *tab, size_t n, void *conf)
{
    for (size_t i = 0; i < n; i++) {
        if (tab[i].type == CFG_STR) {
            char **slot = (char **)(void *)((char *)conf + tab[i].offset);
            free(*slot);
            *slot = NULL;
        }
    }
}

void cfg_print_help(const struct cfg_option *tab, size_t n, const char *prefix, FILE *out)
{
    fprintf(out, "%-28s %-9s %-22s %s\n", "NAME", "TYPE", "DEFAULT", "DESCRIPTION");
    for (size_t i = 0; i < n; i++) {
        const struct cfg_option *o = &tab[i];
        char env[128];
        char bounds[64] = "";

        env_name(prefix, o->name, env, sizeof(env));
        if (o->type == CFG_INT || o->type == CFG_DURATION || o->type == CFG_SIZE) {
            snprintf(bounds, sizeof(bounds), " [%lld..%lld%s]", (long long)o->min,
                     (long long)o->max,
                     o->type == CFG_DURATION ? " ms" : (o->type == CFG_SIZE ? " bytes" : ""));
        }
        fprintf(out, "%-28s %-9s %-22s %s%s%s\n", o->name, type_name(o->type),
                (o->flags & CFG_SECRET) != 0
                    ? "(secret)"
                    : (o->def != NULL && *o->def != '\0' ? o->def : "\"\""),
                o->doc, bounds, (o->flags & CFG_RELOADABLE) != 0 ? " (reloadable)" : "");
        fprintf(out, "%-28s %-9s %-22s env %s\n", "", "", "", env);
    }
}
