/* SPDX-License-Identifier: MIT */
/*
 * cfg: table-driven configuration.
 *
 * A program describes its configuration once, as a table of struct
 * cfg_option (name, type, offset of the field in its config struct, default,
 * bounds, flags, one line of documentation). One table drives the defaults,
 * the file parser, environment overrides, bounds checks and the
 * --help-config listing, so they cannot drift apart.
 *
 * File format: one "name = value" per line; '#' starts a comment; blank lines
 * are ignored; values may be double-quoted. Unknown names are errors (with
 * the line number), as are values out of bounds.
 *
 * Environment: PREFIX + the name upper-cased with '.' and '-' turned into '_'
 * (DIALERD_DB_CONNINFO sets db.conninfo). Environment wins over the file.
 * An unknown variable that starts with the prefix is an error too, so a typo
 * is not silently ignored.
 *
 * Types: INT (64-bit), BOOL (true/false/yes/no/on/off/1/0), STR (copied,
 * freed by cfg_free), DURATION (stored as int64 milliseconds; "250ms", "30s",
 * "5m", "1h"; a bare number is milliseconds), SIZE (int64 bytes; "64k",
 * "10MB", "1GiB"). Bounds apply to INT, DURATION and SIZE, and to the length
 * of STR when max > 0.
 *
 * A loaded config is immutable; reloading builds a new struct.
 */
#ifndef CORE_CFG_H
#define CORE_CFG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum cfg_type { CFG_INT, CFG_BOOL, CFG_STR, CFG_DURATION, CFG_SIZE };

enum {
    CFG_RESTART = 0,    /* takes effect on restart only */
    CFG_RELOADABLE = 1, /* may change on reload */
    CFG_SECRET = 2,     /* never printed or logged */
};

struct cfg_option {
    const char *name;   /* dotted: "db.conninfo" */
    enum cfg_type type; /* storage: INT/DURATION/SIZE int64_t, BOOL bool, STR char * */
    size_t offset;      /* offsetof the field in the config struct */
    const char *def;    /* default in the file syntax; NULL for an empty string */
    int64_t min, max;   /* bounds (inclusive); for STR a max length when max > 0 */
    unsigned flags;     /* CFG_RELOADABLE, CFG_SECRET */
    const char *doc;    /* one line for --help-config */
};

struct cfg_error {
    char msg[256]; /* what was wrong, naming the key (and line) */
};

/* Sets every field to its default. Returns 0 or a negative code (err.h). */
int cfg_defaults(const struct cfg_option *tab, size_t n, void *conf, struct cfg_error *err);

/* Applies one name/value pair; origin names the source for messages. */
int cfg_set(const struct cfg_option *tab, size_t n, void *conf, const char *name, const char *value,
            const char *origin, struct cfg_error *err);

/* Applies a config file. A missing file is ERR_NOTFOUND. */
int cfg_load_file(const struct cfg_option *tab, size_t n, void *conf, const char *path,
                  struct cfg_error *err);

/*
 * Applies environment variables starting with prefix ("DIALERD_"). Names
 * listed in ignore (NULL-terminated, may be NULL) are skipped.
 */
int cfg_load_env(const struct cfg_option *tab, size_t n, void *conf, const char *prefix,
                 const char *const *ignore, struct cfg_error *err);

/* Frees the strings cfg_* stored in conf. */
void cfg_free(const struct cfg_option *tab, size_t n, void *conf);

/* Prints the table (name, type, default, bounds, env name, doc) to out. */
void cfg_print_help(const struct cfg_option *tab, size_t n, const char *prefix, FILE *out);

/* Parsers used by the table; exposed for other modules and tests. */
int cfg_parse_bool(const char *s, int *out);
int cfg_parse_int(const char *s, int64_t *out);
int cfg_parse_duration_ms(const char *s, int64_t *out);
int cfg_parse_size(const char *s, int64_t *out);

#endif
