/* SPDX-License-Identifier: MIT */
/* log: see log.h. */
#include "core/log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"

_Atomic int log_levels_[LOG_CAT_COUNT_] = {
#define LOG_CAT_INIT_(id, name) [LOG_CAT_##id] = LOG_LEVEL_INFO,
    LOG_CAT_MAP(LOG_CAT_INIT_)
#undef LOG_CAT_INIT_
};

static const char *const cat_names[LOG_CAT_COUNT_] = {
#define LOG_CAT_NAME_(id, name) [LOG_CAT_##id] = name,
    LOG_CAT_MAP(LOG_CAT_NAME_)
#undef LOG_CAT_NAME_
};

static const char *const level_names[] = { "ERR", "WARN", "NOTICE", "INFO", "DEBUG" };

static _Atomic int log_fd = 2;

void log_set_fd(int fd)
{
    atomic_store_explicit(&log_fd, fd, memory_order_relaxed);
}

void log_set_level(int lvl)
{
    for (int i = 0; i < LOG_CAT_COUNT_; i++) {
        atomic_store_explicit(&log_levels_[i], lvl, memory_order_relaxed);
    }
}

int log_level_parse(const char *s)
{
    static const char *const lower[] = { "err", "warn", "notice", "info", "debug" };
    for (int i = 0; i < (int)(sizeof(lower) / sizeof(lower[0])); i++) {
        if (strcasecmp(s, lower[i]) == 0) {
            return i;
        }
    }
    if (strcasecmp(s, "error") == 0) {
        return LOG_LEVEL_ERR;
    }
    if (strcasecmp(s, "warning") == 0) {
        return LOG_LEVEL_WARN;
    }
    return -1;
}

static int find_cat(const char *name, size_t len)
{
    for (int i = 0; i < LOG_CAT_COUNT_; i++) {
        if (strlen(cat_names[i]) == len && strncmp(cat_names[i], name, len) == 0) {
            return i;
        }
    }
    return -1;
}

int log_configure(const char *spec)
{
    int levels[LOG_CAT_COUNT_];
    char item[64];
    const char *p = spec;

    for (int i = 0; i < LOG_CAT_COUNT_; i++) {
        levels[i] = atomic_load_explicit(&log_levels_[i], memory_order_relaxed);
    }
    while (*p != '\0') {
        size_t n = strcspn(p, ",");
        if (n == 0 || n >= sizeof(item)) {
            return ERR_INVAL;
        }
        memcpy(item, p, n);
        item[n] = '\0';
        char *eq = strchr(item, '=');
        if (eq == NULL) {
            int lvl = log_level_parse(item);
            if (lvl < 0) {
                return ERR_INVAL;
            }
            for (int i = 0; i < LOG_CAT_COUNT_; i++) {
                levels[i] = lvl;
            }
        } else {
            int cat = find_cat(item, (size_t)(eq - item));
            int lvl = log_level_parse(eq + 1);
            if (cat < 0 || lvl < 0) {
                return ERR_INVAL;
            }
            levels[cat] = lvl;
        }
        p += n;
        if (*p == ',') {
            p++;
        }
    }
    for (int i = 0; i < LOG_CAT_COUNT_; i++) {
        atomic_store_explicit(&log_levels_[i], levels[i], memory_order_relaxed);
    }
    return 0;
}

const char *log_phone(int lvl, const char *num, char *buf)
{
    size_t n;

    if (num == NULL) {
        return "-";
    }
    n = strlen(num);
    if (lvl >= LOG_LEVEL_DEBUG) {
        snprintf(buf, LOG_PHONE_BUFSZ, "%s", num);
        return buf;
    }
    if (n <= 7 || n >= LOG_PHONE_BUFSZ) {
        /* Too short to keep any digits safely, or too long to be a number. */
        return "***";
    }
    memcpy(buf, num, 5);
    memset(buf + 5, '*', n - 7);
    memcpy(buf + n - 2, num + n - 2, 2);
    buf[n] = '\0';
    return buf;
}

void log_vwrite(int lvl, enum log_cat cat, int errnum, const char *fmt, va_list ap)
{
    char line[4096];
    struct timespec ts;
    struct tm tm;
    size_t len;
    int n;

    if (lvl < 0) {
        lvl = 0;
    }
    if (lvl > LOG_LEVEL_DEBUG) {
        lvl = LOG_LEVEL_DEBUG;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    len = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    n = snprintf(line + len, sizeof(line) - len, ".%03ldZ %s %s ", ts.tv_nsec / 1000000L,
                 level_names[lvl], cat_names[cat]);
    len += (size_t)n;
    n = vsnprintf(line + len, sizeof(line) - len, fmt, ap);
    if (n < 0) {
        n = 0;
    }
    len += (size_t)n;
    if (len > sizeof(line) - 2) {
        len = sizeof(line) - 2;
    }
    if (errnum != 0) {
        int code = errnum > 0 ? -errnum : errnum;
        n = snprintf(line + len, sizeof(line) - len, " errno=%s err=\"%s\"", err_name(code),
                     err_str(code));
        if (n > 0) {
            len += (size_t)n;
        }
        if (len > sizeof(line) - 2) {
            len = sizeof(line) - 2;
        }
    }
    line[len++] = '\n';
    int fd = atomic_load_explicit(&log_fd, memory_order_relaxed);
    /* One write per line keeps lines whole; a short write to a pipe is rare
     * and only truncates this line. */
    ssize_t w = write(fd, line, len);
    (void)w;
}

void log_write(int lvl, enum log_cat cat, int errnum, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(lvl, cat, errnum, fmt, ap);
    va_end(ap);
}

uint64_t log_ratelimit_pass(struct log_ratelimit *rl, int64_t now_us)
{
    if (rl->last_us != 0 && now_us - rl->last_us < rl->interval_us) {
        rl->suppressed++;
        return 0;
    }
    uint64_t n = rl->suppressed + 1;
    rl->last_us = now_us;
    rl->suppressed = 0;
    return n;
}
