/* SPDX-License-Identifier: MIT */
/*
 * tz: time zones from the system tz database, without the C library's TZ.
 *
 * A zone is read once from its TZif file (RFC 8536) into one sorted array of
 * transitions, each carrying the UTC offset and DST flag that start there.
 * Version 2+ files are read from their 64-bit section; the footer's POSIX TZ
 * string ("EST5EDT,M3.2.0,M11.1.0") describes the time after the last
 * transition, and at load the table is extended with the footer's
 * transitions through EXTEND_TO_YEAR, so that every conversion in practice is
 * one binary search. Later instants compute the footer's transitions for
 * their own year on the fly. Version 1 files (32-bit data, no footer) are
 * accepted too; files with leap seconds ("right/" zones) are refused.
 *
 * UTC -> local is: find the span (the stretch between two transitions) that
 * holds the instant, add its offset, split into a civil date with Howard
 * Hinnant's days-from-civil arithmetic. The window code works on spans
 * directly, because within a span local time is UTC plus a constant, which
 * makes "the first instant whose local time is in [a, b)" exact across the
 * skipped and the repeated hour.
 *
 * Registry. Zone ids 0..compliance__zone_count-1 are the generated table's
 * names; names registered at run time (a contact's own zone) get the ids
 * after them. Each id has an atomic slot: readers load it with acquire and,
 * when it is set, use the zone with no lock; a miss takes the mutex, checks
 * again, loads the file and publishes the zone with a release store (which
 * pairs with the readers' acquire loads). A zone that fails to load is
 * recorded as failed (a static sentinel) so a missing file costs one open,
 * not one per call. Zones are freed only by compliance_fini(). Lock order:
 * only the one registry mutex; no callback runs under it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compliance/compliance_int.h"
#include "core/err.h"
#include "core/log.h"

#define EXTEND_TO_YEAR 2100
#define TZ_SLOTS       1024
#define TZ_FILE_MAX    (1 << 20)
#define TZ_NAME_MAX    128
#define DEFAULT_TZDIR  "/usr/share/zoneinfo"
#define SECS_PER_DAY   INT64_C(86400)

/* A POSIX TZ rule date: Jn (1-365, no Feb 29), n (0-365), or Mm.w.d. */
struct posix_date {
    char kind; /* 'J', 'N' or 'M' */
    int16_t n; /* day for J/N; month for M */
    int8_t week;
    int8_t wday;
    int32_t time; /* seconds after local midnight, may be negative or > 24h */
};

struct posix_rule {
    int32_t std_off; /* local - UTC, seconds */
    int32_t dst_off;
    uint8_t has_dst;
    struct posix_date start, end;
};

struct transition {
    int64_t at;    /* UTC seconds */
    int32_t utoff; /* offset from here on */
    uint8_t isdst;
};

struct compliance__tz {
    struct transition *trans; /* sorted by at */
    uint32_t ntrans;
    int32_t utoff0; /* before the first transition */
    uint8_t isdst0;
    uint8_t has_rule; /* rule describes times after the file's data */
    uint8_t failed;   /* the sentinel for a zone that could not be loaded */
    int8_t fail_code_is_parse;
    struct posix_rule rule;
};

static struct compliance__tz tz_failed_notfound = { .failed = 1 };
static struct compliance__tz tz_failed_parse = { .failed = 1, .fail_code_is_parse = 1 };

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic(struct compliance__tz *) tz_slots[TZ_SLOTS];
static char *dyn_names[TZ_SLOTS];            /* written under reg_lock before dyn_count */
static _Atomic unsigned dyn_count;           /* release after dyn_names[] entry is set */
static char tzdir[PATH_MAX] = DEFAULT_TZDIR; /* set by init only */
static char tzversion[32];                   /* under reg_lock */
static _Atomic int tzversion_read;           /* release after tzversion written */

/* ---- calendar ------------------------------------------------------------ */

int64_t compliance__days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void compliance__civil_from_days(int64_t z, int32_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    *m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int32_t)(yoe + era * 400 + (*m <= 2));
}

unsigned compliance__weekday(int64_t days)
{
    /* 1970-01-01 was a Thursday. */
    int64_t w = (days + 4) % 7;
    return (unsigned)(w < 0 ? w + 7 : w);
}

static int is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* ---- POSIX TZ footer ------------------------------------------------------- */

static const char *parse_name(const char *p)
{
    if (*p == '<') {
        while (*p && *p != '>') {
            p++;
        }
        return *p == '>' ? p + 1 : NULL;
    }
    const char *s = p;
    while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')) {
        p++;
    }
    return p - s >= 3 ? p : NULL;
}

/* [+-]hh[:mm[:ss]] as seconds; hours up to 167 (RFC 8536 extension). */
static const char *parse_hms(const char *p, int32_t *out)
{
    int sign = 1;
    int32_t h = 0, m = 0, s = 0;
    if (*p == '+' || *p == '-') {
        sign = *p == '-' ? -1 : 1;
        p++;
    }
    if (*p < '0' || *p > '9') {
        return NULL;
    }
    while (*p >= '0' && *p <= '9') {
        h = h * 10 + (*p++ - '0');
        if (h > 167) {
            return NULL;
        }
    }
    if (*p == ':') {
        p++;
        if (p[0] < '0' || p[0] > '5' || p[1] < '0' || p[1] > '9') {
            return NULL;
        }
        m = (p[0] - '0') * 10 + (p[1] - '0');
        p += 2;
        if (*p == ':') {
            p++;
            if (p[0] < '0' || p[0] > '5' || p[1] < '0' || p[1] > '9') {
                return NULL;
            }
            s = (p[0] - '0') * 10 + (p[1] - '0');
            p += 2;
        }
    }
    *out = sign * (h * 3600 + m * 60 + s);
    return p;
}

static const char *parse_num(const char *p, int lo, int hi, int *out)
{
    int v = 0;
    if (*p < '0' || *p > '9') {
        return NULL;
    }
    while (*p >= '0' && *p <= '9') {
        v = v * 10 + (*p++ - '0');
        if (v > hi) {
            return NULL;
        }
    }
    if (v < lo) {
        return NULL;
    }
    *out = v;
    return p;
}

static const char *parse_date(const char *p, struct posix_date *d)
{
    int a, b, c;
    if (*p == 'M') {
        p = parse_num(p + 1, 1, 12, &a);
        if (p == NULL || *p++ != '.') {
            return NULL;
        }
        p = parse_num(p, 1, 5, &b);
        if (p == NULL || *p++ != '.') {
            return NULL;
        }
        p = parse_num(p, 0, 6, &c);
        if (p == NULL) {
            return NULL;
        }
        d->kind = 'M';
        d->n = (int16_t)a;
        d->week = (int8_t)b;
        d->wday = (int8_t)c;
    } else if (*p == 'J') {
        p = parse_num(p + 1, 1, 365, &a);
        if (p == NULL) {
            return NULL;
        }
        d->kind = 'J';
        d->n = (int16_t)a;
    } else {
        p = parse_num(p, 0, 365, &a);
        if (p == NULL) {
            return NULL;
        }
        d->kind = 'N';
        d->n = (int16_t)a;
    }
    d->time = 7200;
    if (*p == '/') {
        p = parse_hms(p + 1, &d->time);
    }
    return p;
}

/*
 * Parses a POSIX TZ string as found in TZif footers. Returns 0 or ERR_PARSE.
 * An empty string means "no rule".
 */
static int posix_parse(const char *s, struct posix_rule *r)
{
    int32_t off;
    memset(r, 0, sizeof(*r));
    const char *p = parse_name(s);
    if (p == NULL || (p = parse_hms(p, &off)) == NULL) {
        return ERR_PARSE;
    }
    r->std_off = -off; /* POSIX offsets count west of Greenwich */
    if (*p == '\0') {
        return 0;
    }
    p = parse_name(p);
    if (p == NULL) {
        return ERR_PARSE;
    }
    r->has_dst = 1;
    r->dst_off = r->std_off + 3600;
    if (*p != ',' && *p != '\0') {
        p = parse_hms(p, &off);
        if (p == NULL) {
            return ERR_PARSE;
        }
        r->dst_off = -off;
    }
    if (*p != ',') {
        return ERR_PARSE; /* the rules are mandatory in TZif footers */
    }
    p = parse_date(p + 1, &r->start);
    if (p == NULL || *p != ',') {
        return ERR_PARSE;
    }
    p = parse_date(p + 1, &r->end);
    if (p == NULL || *p != '\0') {
        return ERR_PARSE;
    }
    return 0;
}

/* Day number (since the epoch) of a rule date in year y. */
static int64_t posix_day(const struct posix_date *d, int32_t y)
{
    int64_t jan1 = compliance__days_from_civil(y, 1, 1);
    if (d->kind == 'J') {
        int64_t n = d->n - 1;
        if (is_leap(y) && d->n >= 60) {
            n++; /* Jn never counts February 29 */
        }
        return jan1 + n;
    }
    if (d->kind == 'N') {
        return jan1 + d->n;
    }
    int64_t first = compliance__days_from_civil(y, (unsigned)d->n, 1);
    int64_t day = first + ((d->wday - (int)compliance__weekday(first)) + 7) % 7;
    day += 7 * (d->week - 1);
    if (d->week == 5) {
        int next_m = d->n == 12 ? 1 : d->n + 1;
        int64_t next = compliance__days_from_civil(d->n == 12 ? y + 1 : y, (unsigned)next_m, 1);
        while (day >= next) {
            day -= 7;
        }
    }
    return day;
}

/*
 * The two transitions of year y, in UTC, sorted: DST starts at the start
 * rule's local standard time and ends at the end rule's local daylight time.
 */
static void posix_year(const struct posix_rule *r, int32_t y, struct transition out[2])
{
    int64_t on = posix_day(&r->start, y) * SECS_PER_DAY + r->start.time - r->std_off;
    int64_t off = posix_day(&r->end, y) * SECS_PER_DAY + r->end.time - r->dst_off;
    struct transition a = { on, r->dst_off, 1 };
    struct transition b = { off, r->std_off, 0 };
    if (on <= off) {
        out[0] = a;
        out[1] = b;
    } else {
        out[0] = b;
        out[1] = a;
    }
}

static int32_t year_of(int64_t utc_s)
{
    int32_t y;
    unsigned m, d;
    compliance__civil_from_days(compliance__floordiv(utc_s, SECS_PER_DAY), &y, &m, &d);
    return y;
}

/* ---- TZif ------------------------------------------------------------------ */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

struct tzif_counts {
    uint32_t isut, isstd, leap, time, type, chr;
};

static int tzif_header(const unsigned char *p, size_t len, struct tzif_counts *c, int *version)
{
    if (len < 44 || memcmp(p, "TZif", 4) != 0) {
        return ERR_PARSE;
    }
    *version = p[4] == 0 ? 1 : p[4] - '0';
    c->isut = be32(p + 20);
    c->isstd = be32(p + 24);
    c->leap = be32(p + 28);
    c->time = be32(p + 32);
    c->type = be32(p + 36);
    c->chr = be32(p + 40);
    if (c->type == 0 || c->type > 256 || c->time > 100000 || c->chr > 100000 || c->leap > 100000 ||
        c->isut > 256 || c->isstd > 256) {
        return ERR_PARSE;
    }
    return 0;
}

static size_t tzif_block_size(const struct tzif_counts *c, int tsize)
{
    return (size_t)c->time * (size_t)tsize + c->time + (size_t)c->type * 6 + c->chr +
           (size_t)c->leap * (size_t)(tsize + 4) + c->isstd + c->isut;
}

/* Appends the footer rule's transitions after the last one, through year to. */
static int extend_with_rule(struct compliance__tz *tz, int32_t to)
{
    int64_t last = tz->ntrans ? tz->trans[tz->ntrans - 1].at : INT64_MIN;
    int32_t from = tz->ntrans ? year_of(last) : 1970;
    if (from > to) {
        return 0;
    }
    size_t cap = tz->ntrans + 2 * (size_t)(to - from + 1);
    struct transition *t = realloc(tz->trans, cap * sizeof(*t));
    if (t == NULL) {
        return ERR_NOMEM;
    }
    tz->trans = t;
    for (int32_t y = from; y <= to; y++) {
        struct transition two[2];
        posix_year(&tz->rule, y, two);
        for (int i = 0; i < 2; i++) {
            if (two[i].at > last) {
                t[tz->ntrans++] = two[i];
                last = two[i].at;
            }
        }
    }
    return 0;
}

static int tzif_parse(const unsigned char *buf, size_t len, struct compliance__tz *tz)
{
    struct tzif_counts c;
    int version, rc;
    int tsize = 4;
    const unsigned char *p = buf;
    const unsigned char *end = buf + len;

    rc = tzif_header(p, len, &c, &version);
    if (rc != 0) {
        return rc;
    }
    if (version >= 2) {
        /* Skip the 32-bit block; the second header describes 64-bit data. */
        size_t skip = 44 + tzif_block_size(&c, 4);
        if (skip > len) {
            return ERR_PARSE;
        }
        p += skip;
        rc = tzif_header(p, (size_t)(end - p), &c, &version);
        if (rc != 0) {
            return rc;
        }
        tsize = 8;
    }
    if (c.leap != 0) {
        return ERR_PARSE; /* leap-second ("right/") zones are not supported */
    }
    p += 44;
    if (tzif_block_size(&c, tsize) > (size_t)(end - p)) {
        return ERR_PARSE;
    }
    const unsigned char *times = p;
    const unsigned char *idx = times + (size_t)c.time * (size_t)tsize;
    const unsigned char *types = idx + c.time;
    const unsigned char *footer = types + (size_t)c.type * 6 + c.chr + c.isstd + c.isut;

    tz->trans = malloc(((size_t)c.time + 1) * sizeof(*tz->trans));
    if (tz->trans == NULL) {
        return ERR_NOMEM;
    }
    tz->ntrans = 0;
    tz->utoff0 = (int32_t)be32(types);
    tz->isdst0 = types[4];
    int64_t prev = INT64_MIN;
    for (uint32_t i = 0; i < c.time; i++) {
        int64_t at = tsize == 8 ? be64(times + 8 * (size_t)i)
                                : (int64_t)(int32_t)be32(times + 4 * (size_t)i);
        unsigned ti = idx[i];
        if (ti >= c.type || at <= prev) {
            return ERR_PARSE;
        }
        prev = at;
        tz->trans[tz->ntrans].at = at;
        tz->trans[tz->ntrans].utoff = (int32_t)be32(types + 6 * (size_t)ti);
        tz->trans[tz->ntrans].isdst = types[6 * (size_t)ti + 4];
        tz->ntrans++;
    }
    if (version >= 2 && footer < end && *footer == '\n') {
        const unsigned char *nl = memchr(footer + 1, '\n', (size_t)(end - footer - 1));
        char s[128];
        if (nl == NULL || (size_t)(nl - footer - 1) >= sizeof(s)) {
            return ERR_PARSE;
        }
        memcpy(s, footer + 1, (size_t)(nl - footer - 1));
        s[nl - footer - 1] = '\0';
        if (s[0] != '\0') {
            rc = posix_parse(s, &tz->rule);
            if (rc != 0) {
                return rc;
            }
            tz->has_rule = 1;
            if (tz->rule.has_dst) {
                return extend_with_rule(tz, EXTEND_TO_YEAR);
            }
        }
    }
    return 0;
}

static int valid_zone_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n >= TZ_NAME_MAX || name[0] == '/' || name[0] == '.') {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        int ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                 ch == '_' || ch == '-' || ch == '+' || ch == '/';
        if (!ok || (ch == '/' && name[i + 1] == '.')) {
            return 0;
        }
    }
    return 1;
}

/* Reads and parses the zone file of name. Returns 0 and a new zone, or an error. */
static int tz_load(const char *name, struct compliance__tz **out)
{
    char path[PATH_MAX + TZ_NAME_MAX + 2];
    struct stat st;
    unsigned char *buf = NULL;
    struct compliance__tz *tz = NULL;
    int rc = ERR_NOTFOUND;
    int fd = -1;

    if (!valid_zone_name(name)) {
        return ERR_INVAL;
    }
    memcpy(path, tzdir, strlen(tzdir));
    path[strlen(tzdir)] = '/';
    memcpy(path + strlen(tzdir) + 1, name, strlen(name) + 1);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        goto fail;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > TZ_FILE_MAX) {
        goto fail;
    }
    buf = malloc((size_t)st.st_size + 1);
    tz = calloc(1, sizeof(*tz));
    if (buf == NULL || tz == NULL) {
        rc = ERR_NOMEM;
        goto fail;
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            rc = ERR_IO;
            goto fail;
        }
        got += (size_t)r;
    }
    rc = tzif_parse(buf, got, tz);
    if (rc != 0) {
        goto fail;
    }
    close(fd);
    free(buf);
    *out = tz;
    return 0;
fail:
    if (fd >= 0) {
        close(fd);
    }
    free(buf);
    if (tz != NULL) {
        free(tz->trans);
        free(tz);
    }
    return rc;
}

/* ---- registry -------------------------------------------------------------- */

const char *compliance_zone_name(uint16_t id)
{
    if (id < compliance__zone_count) {
        return compliance__zone_names[id];
    }
    /* Pairs with the release store of dyn_count in compliance_zone_id(). */
    unsigned n = atomic_load_explicit(&dyn_count, memory_order_acquire);
    if ((unsigned)id - compliance__zone_count < n) {
        return dyn_names[id];
    }
    return NULL;
}

static int table_zone_id(const char *name)
{
    unsigned lo = 0, hi = compliance__zone_count;
    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;
        int c = strcmp(compliance__zone_names[mid], name);
        if (c == 0) {
            return (int)mid;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return -1;
}

/* Loads slot id's zone under reg_lock unless another thread did. */
static struct compliance__tz *slot_fill_locked(uint16_t id, const char *name)
{
    struct compliance__tz *tz = atomic_load_explicit(&tz_slots[id], memory_order_relaxed);
    if (tz != NULL) {
        return tz;
    }
    int rc = tz_load(name, &tz);
    if (rc != 0) {
        LOG_WARN(COMPLIANCE, "event=zone_load_failed zone=%s err=%s", name, err_name(rc));
        tz = rc == ERR_PARSE ? &tz_failed_parse : &tz_failed_notfound;
    }
    /* Pairs with the acquire load in compliance__tz_get(). */
    atomic_store_explicit(&tz_slots[id], tz, memory_order_release);
    return tz;
}

int compliance__tz_get(uint16_t zone, const struct compliance__tz **out)
{
    if (zone >= TZ_SLOTS) {
        return ERR_NOTFOUND;
    }
    /* Pairs with the release store in slot_fill_locked(). */
    struct compliance__tz *tz = atomic_load_explicit(&tz_slots[zone], memory_order_acquire);
    if (tz == NULL) {
        const char *name = compliance_zone_name(zone);
        if (name == NULL) {
            return ERR_NOTFOUND;
        }
        pthread_mutex_lock(&reg_lock);
        tz = slot_fill_locked(zone, name);
        pthread_mutex_unlock(&reg_lock);
    }
    if (tz->failed) {
        return tz->fail_code_is_parse ? ERR_PARSE : ERR_NOTFOUND;
    }
    *out = tz;
    return 0;
}

int compliance_zone_id(const char *name, uint16_t *id)
{
    int rc = 0;
    if (name == NULL || id == NULL || !valid_zone_name(name)) {
        return ERR_INVAL;
    }
    int t = table_zone_id(name);
    if (t >= 0) {
        *id = (uint16_t)t;
        return 0;
    }
    pthread_mutex_lock(&reg_lock);
    unsigned n = atomic_load_explicit(&dyn_count, memory_order_relaxed);
    for (unsigned i = 0; i < n; i++) {
        if (strcmp(dyn_names[compliance__zone_count + i], name) == 0) {
            *id = (uint16_t)(compliance__zone_count + i);
            goto out;
        }
    }
    if (compliance__zone_count + n >= TZ_SLOTS) {
        rc = ERR_TOOBIG;
        goto out;
    }
    struct compliance__tz *tz;
    rc = tz_load(name, &tz);
    if (rc != 0) {
        goto out;
    }
    unsigned nid = compliance__zone_count + n;
    dyn_names[nid] = strdup(name);
    if (dyn_names[nid] == NULL) {
        free(tz->trans);
        free(tz);
        rc = ERR_NOMEM;
        goto out;
    }
    atomic_store_explicit(&tz_slots[nid], tz, memory_order_release);
    /* Pairs with the acquire load in compliance_zone_name(). */
    atomic_store_explicit(&dyn_count, n + 1, memory_order_release);
    *id = (uint16_t)nid;
out:
    pthread_mutex_unlock(&reg_lock);
    return rc;
}

static void read_tzversion_locked(void)
{
    char path[PATH_MAX + 16];
    char line[64] = { 0 };
    snprintf(path, sizeof(path), "%s/tzdata.zi", tzdir);
    snprintf(tzversion, sizeof(tzversion), "unknown");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t r = read(fd, line, sizeof(line) - 1);
        close(fd);
        if (r > 10 && strncmp(line, "# version ", 10) == 0) {
            size_t n = strcspn(line + 10, "\n");
            if (n > 0 && n < sizeof(tzversion)) {
                memcpy(tzversion, line + 10, n);
                tzversion[n] = '\0';
            }
        }
    }
    /* Pairs with the acquire load in compliance_tzdata_version(). */
    atomic_store_explicit(&tzversion_read, 1, memory_order_release);
}

const char *compliance_tzdata_version(void)
{
    if (!atomic_load_explicit(&tzversion_read, memory_order_acquire)) {
        pthread_mutex_lock(&reg_lock);
        if (!atomic_load_explicit(&tzversion_read, memory_order_relaxed)) {
            read_tzversion_locked();
        }
        pthread_mutex_unlock(&reg_lock);
    }
    return tzversion;
}

int compliance_init(const struct compliance_options *opts)
{
    int rc = 0;
    const char *dir = opts != NULL && opts->tzdir != NULL ? opts->tzdir : DEFAULT_TZDIR;
    if (strlen(dir) >= sizeof(tzdir)) {
        return ERR_INVAL;
    }
    pthread_mutex_lock(&reg_lock);
    memcpy(tzdir, dir, strlen(dir) + 1);
    read_tzversion_locked();
    if (opts != NULL && opts->preload) {
        for (unsigned i = 0; i < compliance__zone_count; i++) {
            struct compliance__tz *tz = slot_fill_locked((uint16_t)i, compliance__zone_names[i]);
            if (tz->failed && rc == 0) {
                rc = tz->fail_code_is_parse ? ERR_PARSE : ERR_NOTFOUND;
            }
        }
    }
    pthread_mutex_unlock(&reg_lock);
    return rc;
}

void compliance_fini(void)
{
    pthread_mutex_lock(&reg_lock);
    for (unsigned i = 0; i < TZ_SLOTS; i++) {
        struct compliance__tz *tz = atomic_load_explicit(&tz_slots[i], memory_order_relaxed);
        if (tz != NULL && !tz->failed) {
            free(tz->trans);
            free(tz);
        }
        atomic_store_explicit(&tz_slots[i], NULL, memory_order_relaxed);
        free(dyn_names[i]);
        dyn_names[i] = NULL;
    }
    atomic_store_explicit(&dyn_count, 0, memory_order_relaxed);
    atomic_store_explicit(&tzversion_read, 0, memory_order_relaxed);
    pthread_mutex_unlock(&reg_lock);
}

/* ---- conversion ------------------------------------------------------------ */

void compliance__tz_span(const struct compliance__tz *tz, int64_t t, struct compliance__span *out)
{
    const struct transition *tr = tz->trans;
    uint32_t n = tz->ntrans;
    if (n == 0 || t < tr[0].at) {
        out->start = INT64_MIN;
        out->end = n ? tr[0].at : INT64_MAX;
        out->utoff = n || !tz->has_rule ? tz->utoff0 : tz->rule.std_off;
        out->isdst = n || !tz->has_rule ? tz->isdst0 : 0;
        return;
    }
    /* The last transition at or before t. */
    uint32_t lo = 0, hi = n;
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (tr[mid].at <= t) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    if (lo + 1 < n) {
        out->start = tr[lo].at;
        out->end = tr[lo + 1].at;
        out->utoff = tr[lo].utoff;
        out->isdst = tr[lo].isdst;
        return;
    }
    if (!tz->has_rule || !tz->rule.has_dst) {
        out->start = tr[lo].at;
        out->end = INT64_MAX;
        out->utoff = tr[lo].utoff;
        out->isdst = tr[lo].isdst;
        return;
    }
    /* Past the extended table: the footer rule, computed for t's years. */
    struct transition six[6];
    int32_t y = year_of(t);
    posix_year(&tz->rule, y - 1, six);
    posix_year(&tz->rule, y, six + 2);
    posix_year(&tz->rule, y + 1, six + 4);
    int k = 0;
    while (k + 1 < 6 && six[k + 1].at <= t) {
        k++;
    }
    out->start = six[k].at > tr[lo].at ? six[k].at : tr[lo].at;
    out->end = six[k + 1 < 6 ? k + 1 : 5].at;
    if (out->end <= t) {
        out->end = INT64_MAX; /* cannot happen for t inside year y */
    }
    out->utoff = six[k].at <= t ? six[k].utoff : tr[lo].utoff;
    out->isdst = six[k].at <= t ? six[k].isdst : tr[lo].isdst;
}

int compliance_tz_to_local(uint16_t zone, int64_t utc_us, struct compliance_local *out)
{
    const struct compliance__tz *tz;
    struct compliance__span sp;
    int rc = compliance__tz_get(zone, &tz);
    if (rc != 0) {
        return rc;
    }
    int64_t t = compliance__floordiv(utc_us, 1000000);
    compliance__tz_span(tz, t, &sp);
    compliance__local_fill(t, &sp, out);
    return 0;
}

void compliance__local_fill(int64_t t, const struct compliance__span *sp,
                            struct compliance_local *out)
{
    int64_t local = t + sp->utoff;
    int64_t days = compliance__floordiv(local, SECS_PER_DAY);
    int64_t sod = local - days * SECS_PER_DAY;
    unsigned m, d;
    compliance__civil_from_days(days, &out->year, &m, &d);
    out->month = (uint8_t)m;
    out->day = (uint8_t)d;
    out->hour = (uint8_t)(sod / 3600);
    out->minute = (uint8_t)(sod / 60 % 60);
    out->second = (uint8_t)(sod % 60);
    out->wday = (uint8_t)compliance__weekday(days);
    out->utoff_s = sp->utoff;
    out->isdst = sp->isdst;
}
