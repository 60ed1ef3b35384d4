/* SPDX-License-Identifier: MIT */
/*
 * log: levelled, per-category logging in one line of key=value pairs.
 *
 * A line looks like
 *     2026-11-24T12:00:00.123Z INFO db event=connected host=/run/pg port=5432
 * The caller's format string supplies the key=value part; free text goes in
 * a quoted msg="..." pair. The LOG_* macros test the category's level before
 * they evaluate their arguments, so a disabled DEBUG line costs one relaxed
 * atomic load.
 *
 * Phone numbers are personal data: format them with LOG_NUM(level, number),
 * which prints the number in full only at DEBUG and masks it above
 * ("+1415*****67"). Secrets are never passed to the logger at all.
 *
 * Any thread may log. Each line is written with one write(2) call, so lines
 * from different threads never interleave. Nothing logs from a signal handler
 * (signals arrive through ev_signal watchers).
 */
#ifndef CORE_LOG_H
#define CORE_LOG_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

enum log_level {
    LOG_LEVEL_ERR = 0,
    LOG_LEVEL_WARN = 1,
    LOG_LEVEL_NOTICE = 2,
    LOG_LEVEL_INFO = 3,
    LOG_LEVEL_DEBUG = 4,
};

/* clang-format off */
#define LOG_CAT_MAP(X)          \
    X(CORE, "core")             \
    X(DB, "db")                 \
    X(KV, "kv")                 \
    X(HTTP, "http")             \
    X(HTTPD, "httpd")           \
    X(ARI, "ari")               \
    X(DIALER, "dialer")         \
    X(CAMPAIGN, "campaign")     \
    X(IVR, "ivr")               \
    X(COMPLIANCE, "compliance") \
    X(IMPORT, "import")         \
    X(DASH, "dash")             \
    X(API, "api")               \
    X(SERVER, "server")         \
    X(SIM, "sim")               \
    X(HOOKS, "hooks")           \
    X(TEST, "test")

/* clang-format on */

enum log_cat {

#define LOG_CAT_ENUM_(id, name) LOG_CAT_##id,
    LOG_CAT_MAP(LOG_CAT_ENUM_)
#undef LOG_CAT_ENUM_
        LOG_CAT_COUNT_
};

/* Per-category threshold; private to the macros below. */
extern _Atomic int log_levels_[LOG_CAT_COUNT_];

#define LOG_ENABLED(cat, lvl) \
    ((lvl) <= atomic_load_explicit(&log_levels_[LOG_CAT_##cat], memory_order_relaxed))

#define LOG_AT_(lvl, cat, ...)                               \
    do {                                                     \
        if (LOG_ENABLED(cat, lvl)) {                         \
            log_write((lvl), LOG_CAT_##cat, 0, __VA_ARGS__); \
        }                                                    \
    } while (0)

#define LOG_ERR(cat, ...)    LOG_AT_(LOG_LEVEL_ERR, cat, __VA_ARGS__)
#define LOG_WARN(cat, ...)   LOG_AT_(LOG_LEVEL_WARN, cat, __VA_ARGS__)
#define LOG_NOTICE(cat, ...) LOG_AT_(LOG_LEVEL_NOTICE, cat, __VA_ARGS__)
#define LOG_INFO(cat, ...)   LOG_AT_(LOG_LEVEL_INFO, cat, __VA_ARGS__)
#define LOG_DEBUG(cat, ...)  LOG_AT_(LOG_LEVEL_DEBUG, cat, __VA_ARGS__)

/*
 * LOG_ERRNO(WARN, db, errnum, fmt, ...) appends errno=<name> err="<text>"
 * for errnum (a positive errno or one of our negative codes). Save errno
 * into a local right after the failing call and pass that local.
 */
#define LOG_ERRNO(LVL, cat, errnum, ...)                                      \
    do {                                                                      \
        if (LOG_ENABLED(cat, LOG_LEVEL_##LVL)) {                              \
            log_write(LOG_LEVEL_##LVL, LOG_CAT_##cat, (errnum), __VA_ARGS__); \
        }                                                                     \
    } while (0)

enum { LOG_PHONE_BUFSZ = 40 };

/*
 * The phone number num as it may appear in a line of level lvl: in full at
 * DEBUG, otherwise masked to its first 5 and last 2 characters. buf must have
 * LOG_PHONE_BUFSZ bytes; the result points into it (or at a constant).
 */
const char *log_phone(int lvl, const char *num, char *buf);
#define LOG_NUM(lvl, num) log_phone((lvl), (num), (char[LOG_PHONE_BUFSZ]){ 0 })

/* Writes one line. errnum 0 means none. Use the macros, not this. */
void log_write(int lvl, enum log_cat cat, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void log_vwrite(int lvl, enum log_cat cat, int errnum, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

/* Sets every category's level. */
void log_set_level(int lvl);

/*
 * Applies a level specification: "info" sets every category; "info,db=debug,
 * ari=warn" sets the default then overrides. Returns 0, or ERR_INVAL for an
 * unknown level or category (nothing is changed then).
 */
int log_configure(const char *spec);

/* Parses "err|warn|notice|info|debug"; returns the level or -1. */
int log_level_parse(const char *s);

/*
 * Sends lines to fd (default 2, stderr). The fd is borrowed. Call before
 * threads start.
 */
void log_set_fd(int fd);

/*
 * A rate limiter for repeated failures: at most one line per interval; the
 * next line that passes reports how many were suppressed. Owned by one thread.
 */
struct log_ratelimit {
    int64_t interval_us; /* public: minimum spacing of lines */
    int64_t last_us;     /* private */
    uint64_t suppressed; /* private */
};

/*
 * Returns the number of lines suppressed since the last allowed one plus one
 * when a line may be written now (the caller adds suppressed=N-1 to it), or 0
 * when the line should be dropped.
 */
uint64_t log_ratelimit_pass(struct log_ratelimit *rl, int64_t now_us);

#endif
