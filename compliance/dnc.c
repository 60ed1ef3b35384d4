/* SPDX-License-Identifier: MIT */
/*
 * dnc: the DNC store (compliance.h, "Do-Not-Call index").
 *
 * Data. A snapshot is an immutable table of list versions sorted by (scope,
 * tenant, campaign, list id). A list version is immutable too: its info, a
 * shared base (the Elias-Fano number set and the sorted block keys, built
 * once) and its own small overlay of changes made since the base was built
 * (sorted by kind and key; each change carries the store sequence that made
 * it). An API add creates a new list version (old overlay + one change,
 * O(overlay)) and a new snapshot table (O(lists)); the base is shared.
 *
 * Publication. store->cur points at the current snapshot. A writer (under
 * wlock) builds the next snapshot and exchanges it in (seq_cst); the old one
 * goes on the retired list. Readers pin with a hazard pointer: they store the
 * pointer they loaded in their thread's slot (seq_cst) and check that cur
 * still holds it; a writer frees a retired snapshot only when no slot holds
 * it (seq_cst loads, pairing with the readers' stores and their release of
 * the slot). Reference counts of list versions and bases are plain integers
 * touched only under wlock, never by readers.
 *
 * Hazard slots are process-wide (256): a thread claims one on its first
 * lookup and gives it back when it exits (a pthread key destructor).
 *
 * Lock order: wlock only (never held while calling out or sorting).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "compliance/compliance.h"
#include "compliance/compliance_int.h"
#include "compliance/dnc_int.h"
#include "core/clock.h"
#include "core/counter.h"
#include "core/err.h"

#define KIND_SHIFT      56
#define KIND_NUM        0u
#define KIND_NPA        1u
#define KIND_NXX        2u
#define CKEY(kind, key) (((uint64_t)(kind) << KIND_SHIFT) | (key))

struct dnc_base {
    int refs;                 /* under wlock */
    struct compliance__ef ef; /* numbers */
    uint64_t *blocks;         /* CKEY(KIND_NPA|KIND_NXX, prefix), ascending */
    size_t nblocks;
    int64_t refreshed_us;
};

struct dnc_change {
    uint64_t ckey; /* CKEY(kind, key) */
    uint64_t seq;
    uint8_t add;
};

struct dnc_list {
    int refs; /* under wlock */
    struct compliance_dnc_list_info info;
    struct dnc_base *base;
    struct dnc_change *ov; /* ascending ckey */
    size_t nov;
};

struct dnc_snap {
    struct dnc_snap *retired_next; /* writer's retired list */
    size_t n;
    struct dnc_list *lists[]; /* sorted by list_cmp */
};

struct compliance_dnc {
    _Atomic(struct dnc_snap *) cur;
    pthread_mutex_t wlock;
    struct dnc_snap *retired; /* under wlock */
    _Atomic uint64_t seq;     /* stored under wlock; read by anyone */
};

struct compliance_dnc_builder {
    uint64_t *nums;
    size_t nnums, capnums;
    uint64_t *blocks;
    size_t nblocks, capblocks;
};

static struct counter national_alarm =
    COUNTER_INIT(COUNTER_KIND_GAUGE, "compliance_dnc_national_alarm",
                 "Age alarm of the national DNC list (compliance_dnc_age_alarm): 0 fresh, "
                 "1 warning, 2 stale, 3 missing");

/* ---- hazard slots --------------------------------------------------------- */

#define HP_SLOTS 256

static _Atomic(void *) hp[HP_SLOTS];
static atomic_bool hp_used[HP_SLOTS];
static pthread_key_t hp_key;
static pthread_once_t hp_once = PTHREAD_ONCE_INIT;
static _Thread_local int hp_mine = -1;

static void hp_release(void *p)
{
    int i = (int)(intptr_t)p - 1;
    if (i >= 0 && i < HP_SLOTS) {
        atomic_store_explicit(&hp[i], NULL, memory_order_seq_cst);
        /* pairs with the acquire-free CAS in hp_slot(): the slot is empty again */
        atomic_store_explicit(&hp_used[i], false, memory_order_release);
    }
}

static void hp_init(void)
{
    (void)pthread_key_create(&hp_key, hp_release);
}

static int hp_slot(void)
{
    if (hp_mine >= 0) {
        return hp_mine;
    }
    (void)pthread_once(&hp_once, hp_init);
    for (int i = 0; i < HP_SLOTS; i++) {
        bool expect = false;
        /* acq_rel: pairs with the release in hp_release() of the previous owner */
        if (atomic_compare_exchange_strong_explicit(&hp_used[i], &expect, true,
                                                    memory_order_acq_rel, memory_order_relaxed)) {
            hp_mine = i;
            (void)pthread_setspecific(hp_key, (void *)(intptr_t)(i + 1));
            return i;
        }
    }
    return -1;
}

static struct dnc_snap *pin(struct compliance_dnc *d, int slot)
{
    struct dnc_snap *p;
    do {
        /* acquire: pairs with the writer's seq_cst exchange in swap_in() */
        p = atomic_load_explicit(&d->cur, memory_order_acquire);
        /* seq_cst: ordered before the re-check and against reclaim()'s slot scan */
        atomic_store_explicit(&hp[slot], p, memory_order_seq_cst);
    } while (p != atomic_load_explicit(&d->cur, memory_order_seq_cst));
    return p;
}

static void unpin(int slot)
{
    /* release: our reads of the snapshot happen before reclaim() sees the slot empty */
    atomic_store_explicit(&hp[slot], NULL, memory_order_release);
}

/* ---- reference counting (under wlock) ------------------------------------- */

static void base_unref(struct dnc_base *b)
{
    if (b != NULL && --b->refs == 0) {
        compliance__ef_free(&b->ef);
        free(b->blocks);
        free(b);
    }
}

static void list_unref(struct dnc_list *l)
{
    if (l != NULL && --l->refs == 0) {
        base_unref(l->base);
        free(l->ov);
        free(l);
    }
}

static void snap_free(struct dnc_snap *s)
{
    for (size_t i = 0; i < s->n; i++) {
        list_unref(s->lists[i]);
    }
    free(s);
}

static bool hp_holds(const struct dnc_snap *s)
{
    for (int i = 0; i < HP_SLOTS; i++) {
        /* seq_cst: pairs with pin()'s store and unpin()'s release */
        if (atomic_load_explicit(&hp[i], memory_order_seq_cst) == s) {
            return true;
        }
    }
    return false;
}

static void reclaim(struct compliance_dnc *d)
{
    struct dnc_snap **pp = &d->retired;
    while (*pp != NULL) {
        struct dnc_snap *s = *pp;
        if (hp_holds(s)) {
            pp = &s->retired_next;
        } else {
            *pp = s->retired_next;
            snap_free(s);
        }
    }
}

static void swap_in(struct compliance_dnc *d, struct dnc_snap *next)
{
    /* seq_cst: pairs with pin()'s acquire load and re-check */
    struct dnc_snap *old = atomic_exchange_explicit(&d->cur, next, memory_order_seq_cst);
    old->retired_next = d->retired;
    d->retired = old;
    reclaim(d);
}

/* ---- keys ----------------------------------------------------------------- */

/* Parses "+digits": a number (8-15 digits; NANP: 11 with NPA and NXX 2-9) or a
 * NANP block "+1NPA" / "+1NPANXX". Returns 0 and *ckey, or ERR_INVAL. */
static int parse_entry(const char *s, size_t len, uint64_t *ckey)
{
    uint64_t v = 0;
    size_t nd;
    if (len < 2 || s[0] != '+' || len > 16) {
        return ERR_INVAL;
    }
    for (size_t i = 1; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return ERR_INVAL;
        }
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    nd = len - 1;
    if (s[1] == '0') {
        return ERR_INVAL;
    }
    if (s[1] == '1') {
        if (nd >= 2 && s[2] < '2') {
            return ERR_INVAL;
        }
        if (nd >= 5 && s[5] < '2') {
            return ERR_INVAL;
        }
        if (nd == 4) {
            *ckey = CKEY(KIND_NPA, v);
            return 0;
        }
        if (nd == 7) {
            *ckey = CKEY(KIND_NXX, v);
            return 0;
        }
        if (nd != 11) {
            return ERR_INVAL;
        }
        *ckey = CKEY(KIND_NUM, v);
        return 0;
    }
    if (nd < 7 || nd > 15) {
        return ERR_INVAL;
    }
    *ckey = CKEY(KIND_NUM, v);
    return 0;
}

/* ---- builder --------------------------------------------------------------- */

int compliance_dnc_builder_create(struct compliance_dnc_builder **out)
{
    *out = calloc(1, sizeof(**out));
    return *out == NULL ? ERR_NOMEM : 0;
}

void compliance_dnc_builder_destroy(struct compliance_dnc_builder *b)
{
    if (b == NULL) {
        return;
    }
    free(b->nums);
    free(b->blocks);
    free(b);
}

static int push(uint64_t **arr, size_t *n, size_t *cap, uint64_t v)
{
    if (*n == *cap) {
        size_t nc = *cap == 0 ? 1024 : *cap * 2;
        uint64_t *na = realloc(*arr, nc * sizeof(*na));
        if (na == NULL) {
            return ERR_NOMEM;
        }
        *arr = na;
        *cap = nc;
    }
    (*arr)[(*n)++] = v;
    return 0;
}

static int builder_add_ckey(struct compliance_dnc_builder *b, uint64_t ck)
{
    if ((ck >> KIND_SHIFT) == KIND_NUM) {
        return push(&b->nums, &b->nnums, &b->capnums, ck);
    }
    return push(&b->blocks, &b->nblocks, &b->capblocks, ck);
}

int compliance_dnc_builder_add(struct compliance_dnc_builder *b, const char *s, size_t len)
{
    uint64_t ck;
    if (b == NULL || s == NULL || parse_entry(s, len, &ck) != 0) {
        return ERR_INVAL;
    }
    return builder_add_ckey(b, ck);
}

size_t compliance_dnc_builder_count(const struct compliance_dnc_builder *b)
{
    return b->nnums + b->nblocks;
}

/* ---- store ------------------------------------------------------------------ */

int compliance_dnc_create(struct compliance_dnc **out)
{
    struct compliance_dnc *d = calloc(1, sizeof(*d));
    struct dnc_snap *s = calloc(1, sizeof(*s));
    if (d == NULL || s == NULL) {
        free(d);
        free(s);
        return ERR_NOMEM;
    }
    pthread_mutex_init(&d->wlock, NULL);
    atomic_init(&d->cur, s);
    atomic_init(&d->seq, 0);
    counter_register(&national_alarm);
    *out = d;
    return 0;
}

void compliance_dnc_destroy(struct compliance_dnc *d)
{
    if (d == NULL) {
        return;
    }
    struct dnc_snap *r = d->retired;
    while (r != NULL) {
        struct dnc_snap *nx = r->retired_next;
        snap_free(r);
        r = nx;
    }
    snap_free(atomic_load_explicit(&d->cur, memory_order_relaxed));
    pthread_mutex_destroy(&d->wlock);
    free(d);
}

uint64_t compliance_dnc_seq(const struct compliance_dnc *d)
{
    /* acquire: pairs with the release increments made under wlock */
    return atomic_load_explicit(&d->seq, memory_order_acquire);
}

static int cmp_i64(int64_t a, int64_t b)
{
    return a < b ? -1 : a > b;
}

static int id_cmp(const struct compliance_dnc_list_info *a,
                  const struct compliance_dnc_list_info *b)
{
    int c = cmp_i64((int64_t)a->scope, (int64_t)b->scope);
    if (c == 0) {
        c = cmp_i64(a->tenant_id, b->tenant_id);
    }
    if (c == 0) {
        c = cmp_i64(a->campaign_id, b->campaign_id);
    }
    if (c == 0) {
        c = cmp_i64(a->list_id, b->list_id);
    }
    return c;
}

/* First index i of s with id_cmp(lists[i], key) >= 0. */
static size_t lower_bound(const struct dnc_snap *s, const struct compliance_dnc_list_info *key)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (id_cmp(&s->lists[mid]->info, key) < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* A copy of cur with list l at its place (replacing the same id), or without
 * the list of id when l is NULL. Takes a reference on every list kept and
 * consumes the caller's reference on l. Under wlock. */
static struct dnc_snap *snap_with(const struct dnc_snap *cur,
                                  const struct compliance_dnc_list_info *id, struct dnc_list *l)
{
    size_t at = lower_bound(cur, id);
    bool same = at < cur->n && id_cmp(&cur->lists[at]->info, id) == 0;
    size_t n = cur->n + (l != NULL ? 1 : 0) - (same ? 1 : 0);
    struct dnc_snap *s = calloc(1, sizeof(*s) + n * sizeof(s->lists[0]));
    if (s == NULL) {
        return NULL;
    }
    size_t w = 0;
    for (size_t i = 0; i < cur->n; i++) {
        if (i == at && l != NULL) {
            s->lists[w++] = l;
        }
        if (i == at && same) {
            continue;
        }
        cur->lists[i]->refs++;
        s->lists[w++] = cur->lists[i];
    }
    if (at == cur->n && l != NULL) {
        s->lists[w++] = l;
    }
    s->n = w;
    return s;
}

static struct dnc_list *find_list(const struct dnc_snap *s,
                                  const struct compliance_dnc_list_info *id)
{
    size_t at = lower_bound(s, id);
    return at < s->n && id_cmp(&s->lists[at]->info, id) == 0 ? s->lists[at] : NULL;
}

static int64_t now_wall(void)
{
    return clock_wall_us();
}

static struct dnc_base *base_new(void)
{
    struct dnc_base *b = calloc(1, sizeof(*b));
    if (b != NULL) {
        b->refs = 1;
        b->refreshed_us = now_wall();
    }
    return b;
}

/* Installs list (info, base, overlay = changes of old after since_seq). Under
 * wlock; consumes the caller's reference on base. */
static int install(struct compliance_dnc *d, const struct compliance_dnc_list_info *info,
                   struct dnc_base *base, const struct dnc_list *old, uint64_t since_seq,
                   const struct dnc_change *extra)
{
    struct dnc_list *l = calloc(1, sizeof(*l));
    size_t cap = (old != NULL ? old->nov : 0) + 1;
    if (l == NULL || (l->ov = malloc(cap * sizeof(*l->ov))) == NULL) {
        free(l);
        base_unref(base);
        return ERR_NOMEM;
    }
    l->refs = 1;
    l->info = *info;
    l->base = base;
    bool placed = extra == NULL;
    for (size_t i = 0; old != NULL && i < old->nov; i++) {
        const struct dnc_change *c = &old->ov[i];
        if (!placed && extra->ckey <= c->ckey) {
            l->ov[l->nov++] = *extra;
            placed = true;
            if (extra->ckey == c->ckey) {
                continue;
            }
        }
        if (c->seq > since_seq) {
            l->ov[l->nov++] = *c;
        }
    }
    if (!placed) {
        l->ov[l->nov++] = *extra;
    }
    struct dnc_snap *cur = atomic_load_explicit(&d->cur, memory_order_relaxed);
    struct dnc_snap *next = snap_with(cur, info, l);
    if (next == NULL) {
        list_unref(l);
        return ERR_NOMEM;
    }
    swap_in(d, next);
    return 0;
}

static int build_base(struct compliance_dnc_builder *b, struct dnc_base **out)
{
    struct dnc_base *base = base_new();
    int rc;
    if (base == NULL) {
        return ERR_NOMEM;
    }
    rc = compliance__keys_sort_unique(b->nums, &b->nnums);
    if (rc == 0) {
        rc = compliance__keys_sort_unique(b->blocks, &b->nblocks);
    }
    if (rc == 0) {
        rc = compliance__ef_build(b->nums, b->nnums, &base->ef);
    }
    if (rc != 0) {
        base_unref(base);
        return rc;
    }
    base->blocks = b->blocks;
    base->nblocks = b->nblocks;
    b->blocks = NULL;
    b->nblocks = b->capblocks = 0;
    *out = base;
    return 0;
}

int compliance_dnc_publish(struct compliance_dnc *d, const struct compliance_dnc_list_info *info,
                           struct compliance_dnc_builder *b, uint64_t since_seq)
{
    struct dnc_base *base = NULL;
    int rc;
    if (d == NULL || info == NULL || b == NULL) {
        compliance_dnc_builder_destroy(b);
        return ERR_INVAL;
    }
    rc = build_base(b, &base);
    compliance_dnc_builder_destroy(b);
    if (rc != 0) {
        return rc;
    }
    pthread_mutex_lock(&d->wlock);
    struct dnc_snap *cur = atomic_load_explicit(&d->cur, memory_order_relaxed);
    rc = install(d, info, base, find_list(cur, info), since_seq, NULL);
    pthread_mutex_unlock(&d->wlock);
    return rc;
}

int compliance_dnc_apply(struct compliance_dnc *d, const struct compliance_dnc_list_info *info,
                         int add, const char *entry, uint64_t *seq)
{
    struct dnc_change c;
    int rc;
    if (d == NULL || info == NULL || entry == NULL ||
        parse_entry(entry, strlen(entry), &c.ckey) != 0) {
        return ERR_INVAL;
    }
    c.add = add != 0;
    pthread_mutex_lock(&d->wlock);
    struct dnc_snap *cur = atomic_load_explicit(&d->cur, memory_order_relaxed);
    struct dnc_list *old = find_list(cur, info);
    struct dnc_base *base;
    struct compliance_dnc_list_info li = *info;
    if (old != NULL) {
        base = old->base;
        base->refs++;
        li = old->info; /* an API change keeps the list's name and dates */
    } else if ((base = base_new()) == NULL) {
        pthread_mutex_unlock(&d->wlock);
        return ERR_NOMEM;
    }
    c.seq = atomic_load_explicit(&d->seq, memory_order_relaxed) + 1;
    rc = install(d, &li, base, old, 0, &c);
    if (rc == 0) {
        /* release: pairs with compliance_dnc_seq()'s acquire */
        atomic_store_explicit(&d->seq, c.seq, memory_order_release);
        if (seq != NULL) {
            *seq = c.seq;
        }
    }
    pthread_mutex_unlock(&d->wlock);
    return rc;
}

int compliance_dnc_drop(struct compliance_dnc *d, const struct compliance_dnc_list_info *info)
{
    int rc = ERR_NOTFOUND;
    pthread_mutex_lock(&d->wlock);
    struct dnc_snap *cur = atomic_load_explicit(&d->cur, memory_order_relaxed);
    if (find_list(cur, info) != NULL) {
        struct dnc_snap *next = snap_with(cur, info, NULL);
        rc = ERR_NOMEM;
        if (next != NULL) {
            swap_in(d, next);
            rc = 0;
        }
    }
    pthread_mutex_unlock(&d->wlock);
    return rc;
}

static const struct dnc_change *ov_find(const struct dnc_list *l, uint64_t ck)
{
    size_t lo = 0, hi = l->nov;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (l->ov[mid].ckey < ck) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < l->nov && l->ov[lo].ckey == ck ? &l->ov[lo] : NULL;
}

static bool sorted_has(const uint64_t *a, size_t n, uint64_t v)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a[mid] < v) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < n && a[lo] == v;
}

int compliance_dnc_compact(struct compliance_dnc *d, const struct compliance_dnc_list_info *info)
{
    struct compliance_dnc_builder *b = NULL;
    struct dnc_list *l;
    uint64_t seq0;
    int rc = 0;

    pthread_mutex_lock(&d->wlock);
    l = find_list(atomic_load_explicit(&d->cur, memory_order_relaxed), info);
    if (l != NULL) {
        l->refs++;
    }
    seq0 = atomic_load_explicit(&d->seq, memory_order_relaxed);
    pthread_mutex_unlock(&d->wlock);
    if (l == NULL) {
        return ERR_NOTFOUND;
    }
    /* The list version l is ours until list_unref below: read it unlocked. */
    const struct dnc_base *base = l->base;
    if (compliance_dnc_builder_create(&b) != 0 ||
        (base->ef.n > 0 && (b->nums = malloc((size_t)base->ef.n * sizeof(uint64_t))) == NULL)) {
        rc = ERR_NOMEM;
    }
    if (rc == 0) {
        b->capnums = (size_t)base->ef.n;
        compliance__ef_decode(&base->ef, b->nums);
        size_t w = 0;
        for (size_t i = 0; i < (size_t)base->ef.n; i++) {
            const struct dnc_change *c = ov_find(l, CKEY(KIND_NUM, b->nums[i]));
            if (c == NULL || c->add) {
                b->nums[w++] = b->nums[i];
            }
        }
        b->nnums = w;
        for (size_t i = 0; rc == 0 && i < base->nblocks; i++) {
            const struct dnc_change *c = ov_find(l, base->blocks[i]);
            if (c == NULL || c->add) {
                rc = builder_add_ckey(b, base->blocks[i]);
            }
        }
        for (size_t i = 0; rc == 0 && i < l->nov; i++) {
            if (l->ov[i].add) {
                uint64_t ck = l->ov[i].ckey;
                rc = builder_add_ckey(b, (ck >> KIND_SHIFT) == KIND_NUM
                                             ? ck & ((UINT64_C(1) << KIND_SHIFT) - 1)
                                             : ck);
            }
        }
    }
    struct compliance_dnc_list_info li = l->info;
    pthread_mutex_lock(&d->wlock);
    list_unref(l);
    pthread_mutex_unlock(&d->wlock);
    if (rc != 0) {
        compliance_dnc_builder_destroy(b);
        return rc;
    }
    return compliance_dnc_publish(d, &li, b, seq0);
}

/* ---- lookup ----------------------------------------------------------------- */

/* Does a block of list l cover key? 1 with *match, else 0. */
static int list_blocks_prefix(const struct dnc_list *l, uint64_t key,
                              enum compliance_dnc_match *match)
{
    const struct dnc_change *c;
    if ((l->nov == 0 && l->base->nblocks == 0) || key < COMPLIANCE__NANP_MIN ||
        key >= COMPLIANCE__NANP_END) {
        return 0;
    }

    static const struct {
        unsigned kind;
        uint64_t div;
        enum compliance_dnc_match m;
    } blk[2] = {
        { KIND_NXX, 10000, COMPLIANCE_DNC_MATCH_EXCHANGE },
        { KIND_NPA, 10000000, COMPLIANCE_DNC_MATCH_AREA_CODE },
    };

    for (int i = 0; i < 2; i++) {
        uint64_t ck = CKEY(blk[i].kind, key / blk[i].div);
        c = l->nov > 0 ? ov_find(l, ck) : NULL;
        if (c != NULL ? c->add : sorted_has(l->base->blocks, l->base->nblocks, ck)) {
            *match = blk[i].m;
            return 1;
        }
    }
    return 0;
}

/* Does list l block key (a number's digits)? 1 with *match, else 0. */
static int list_blocks(const struct dnc_list *l, uint64_t key, enum compliance_dnc_match *match)
{
    const struct dnc_change *c = l->nov > 0 ? ov_find(l, CKEY(KIND_NUM, key)) : NULL;
    if (c != NULL ? c->add : compliance__ef_contains(&l->base->ef, key)) {
        *match = COMPLIANCE_DNC_MATCH_NUMBER;
        return 1;
    }
    return list_blocks_prefix(l, key, match);
}

static bool country_covers(const char *list_country, const char *country)
{
    if (list_country[0] == '\0' || country == NULL || country[0] == '\0') {
        return true;
    }
    if (strcmp(list_country, country) == 0) {
        return true;
    }
    return strcmp(list_country, "US") == 0 && compliance__country_is_us(country);
}

static void fill_hit(const struct dnc_list *l, enum compliance_dnc_match m,
                     struct compliance_dnc_hit *hit)
{
    if (hit == NULL) {
        return;
    }
    hit->scope = l->info.scope;
    hit->match = m;
    hit->tenant_id = l->info.tenant_id;
    hit->campaign_id = l->info.campaign_id;
    hit->list_id = l->info.list_id;
    hit->list_date_us = l->info.list_date_us;
    memcpy(hit->list_name, l->info.name, sizeof(hit->list_name));
    hit->list_name[sizeof(hit->list_name) - 1] = '\0';
}

static int check_snap(const struct dnc_snap *s, uint64_t key, const char *country,
                      int64_t tenant_id, int64_t campaign_id, struct compliance_dnc_hit *hit)
{
    enum compliance_dnc_match m;
    struct compliance_dnc_list_info k = { 0 };
    size_t i = 0;
    for (; i < s->n && s->lists[i]->info.scope == COMPLIANCE_DNC_NATIONAL; i++) {
        const struct dnc_list *l = s->lists[i];
        if (country_covers(l->info.country, country) && list_blocks(l, key, &m)) {
            fill_hit(l, m, hit);
            return 1;
        }
    }
    k.scope = COMPLIANCE_DNC_TENANT;
    k.tenant_id = tenant_id;
    k.list_id = INT64_MIN;
    for (i = lower_bound(s, &k); i < s->n; i++) {
        const struct dnc_list *l = s->lists[i];
        if (l->info.scope != COMPLIANCE_DNC_TENANT || l->info.tenant_id != tenant_id) {
            break;
        }
        if (list_blocks(l, key, &m)) {
            fill_hit(l, m, hit);
            return 1;
        }
    }
    if (campaign_id == 0) {
        return 0;
    }
    k.scope = COMPLIANCE_DNC_CAMPAIGN;
    k.campaign_id = campaign_id;
    for (i = lower_bound(s, &k); i < s->n; i++) {
        const struct dnc_list *l = s->lists[i];
        if (l->info.scope != COMPLIANCE_DNC_CAMPAIGN || l->info.tenant_id != tenant_id ||
            l->info.campaign_id != campaign_id) {
            break;
        }
        if (list_blocks(l, key, &m)) {
            fill_hit(l, m, hit);
            return 1;
        }
    }
    return 0;
}

int compliance_dnc_check(struct compliance_dnc *d, const char *e164, const char *country,
                         int64_t tenant_id, int64_t campaign_id, struct compliance_dnc_hit *hit)
{
    uint64_t ck;
    int slot, rc;
    if (d == NULL || e164 == NULL || parse_entry(e164, strlen(e164), &ck) != 0 ||
        (ck >> KIND_SHIFT) != KIND_NUM) {
        return ERR_INVAL;
    }
    if ((slot = hp_slot()) < 0) {
        return ERR_BUSY;
    }
    const struct dnc_snap *s = pin(d, slot);
    rc = check_snap(s, ck, country, tenant_id, campaign_id, hit);
    unpin(slot);
    return rc;
}

int compliance_dnc_key(const char *e164, uint64_t *key)
{
    uint64_t ck;
    if (e164 == NULL || key == NULL || parse_entry(e164, strlen(e164), &ck) != 0 ||
        (ck >> KIND_SHIFT) != KIND_NUM) {
        return ERR_INVAL;
    }
    *key = ck;
    return 0;
}

#define MANY_CHUNK 256

/* Runs keys[0..n) (n <= MANY_CHUNK) through list l, for those not blocked yet. */
static void list_many(const struct dnc_list *l, const uint64_t *keys, size_t n, uint8_t *blocked,
                      struct compliance_dnc_hit *hits)
{
    uint8_t in[MANY_CHUNK];
    compliance__ef_contains_many(&l->base->ef, keys, n, in);
    for (size_t j = 0; j < n; j++) {
        enum compliance_dnc_match m = COMPLIANCE_DNC_MATCH_NUMBER;
        if (blocked[j]) {
            continue;
        }
        int hit = in[j];
        if (l->nov > 0) {
            const struct dnc_change *c = ov_find(l, CKEY(KIND_NUM, keys[j]));
            hit = c != NULL ? c->add : hit;
        }
        if (!hit && (l->nov > 0 || l->base->nblocks > 0)) {
            hit = list_blocks_prefix(l, keys[j], &m);
        }
        if (hit) {
            blocked[j] = 1;
            fill_hit(l, m, hits != NULL ? &hits[j] : NULL);
        }
    }
}

int compliance_dnc_check_many(struct compliance_dnc *d, const uint64_t *keys, size_t n,
                              const char *country, int64_t tenant_id, int64_t campaign_id,
                              uint8_t *blocked, struct compliance_dnc_hit *hits)
{
    int slot;
    if (d == NULL || (n > 0 && (keys == NULL || blocked == NULL))) {
        return ERR_INVAL;
    }
    if ((slot = hp_slot()) < 0) {
        return ERR_BUSY;
    }
    memset(blocked, 0, n);
    const struct dnc_snap *s = pin(d, slot);
    for (size_t i = 0; i < s->n; i++) {
        const struct dnc_list *l = s->lists[i];
        bool applies;
        switch (l->info.scope) {
        case COMPLIANCE_DNC_NATIONAL:
            applies = country_covers(l->info.country, country);
            break;
        case COMPLIANCE_DNC_TENANT:
            applies = l->info.tenant_id == tenant_id;
            break;
        default:
            applies = campaign_id != 0 && l->info.tenant_id == tenant_id &&
                      l->info.campaign_id == campaign_id;
            break;
        }
        for (size_t o = 0; applies && o < n; o += MANY_CHUNK) {
            size_t m = n - o < MANY_CHUNK ? n - o : MANY_CHUNK;
            list_many(l, keys + o, m, blocked + o, hits != NULL ? hits + o : NULL);
        }
    }
    unpin(slot);
    return 0;
}

int compliance_dnc_list_stats(struct compliance_dnc *d, const struct compliance_dnc_list_info *info,
                              struct compliance_dnc_list_stats *st)
{
    int slot = hp_slot();
    int rc = ERR_NOTFOUND;
    if (slot < 0) {
        return ERR_BUSY;
    }
    const struct dnc_snap *s = pin(d, slot);
    const struct dnc_list *l = find_list(s, info);
    if (l != NULL) {
        st->numbers = l->base->ef.n;
        st->blocks = l->base->nblocks;
        st->overlay = l->nov;
        st->bytes = compliance__ef_bytes(&l->base->ef) + l->base->nblocks * sizeof(uint64_t) +
                    l->nov * sizeof(struct dnc_change);
        st->list_date_us = l->info.list_date_us;
        st->refreshed_us = l->base->refreshed_us;
        rc = 0;
    }
    unpin(slot);
    return rc;
}

const struct compliance__ef *compliance__dnc_ef(struct compliance_dnc *d,
                                                const struct compliance_dnc_list_info *info)
{
    const struct dnc_list *l = find_list(atomic_load_explicit(&d->cur, memory_order_acquire), info);
    return l != NULL ? &l->base->ef : NULL;
}

/* ---- list age ----------------------------------------------------------------- */

#define DAY_US (INT64_C(86400) * CLOCK_US_PER_SEC)

void compliance_dnc_list_age(const struct compliance_dnc_list_info *li, int64_t now_us,
                             int32_t warn_days, struct compliance_list_age *out)
{
    memset(out, 0, sizeof(*out));
    out->state = COMPLIANCE_LIST_FRESH;
    out->list_id = li->list_id;
    out->age_s = li->list_date_us > 0 ? (now_us - li->list_date_us) / CLOCK_US_PER_SEC : -1;
    if (li->max_age_days <= 0) {
        return;
    }
    if (li->list_date_us <= 0) {
        out->state = COMPLIANCE_LIST_STALE;
        return;
    }
    out->stale_at_us = li->list_date_us + (int64_t)li->max_age_days * DAY_US;
    if (now_us >= out->stale_at_us) {
        out->state = COMPLIANCE_LIST_STALE;
    } else if (now_us >= out->stale_at_us - (int64_t)warn_days * DAY_US) {
        out->state = COMPLIANCE_LIST_WARNING;
    }
}

const char *compliance_list_age_name(enum compliance_list_age_state s)
{
    static const char *const names[] = { "fresh", "warning", "stale", "missing" };
    return (unsigned)s < 4 ? names[s] : "unknown";
}

void compliance_dnc_national_age(struct compliance_dnc *d, const char *country, int64_t now_us,
                                 int32_t warn_days, struct compliance_list_age *out)
{
    int slot = hp_slot();
    memset(out, 0, sizeof(*out));
    out->state = COMPLIANCE_LIST_MISSING;
    out->age_s = -1;
    if (slot >= 0) {
        const struct dnc_snap *s = pin(d, slot);
        bool any = false;
        for (size_t i = 0; i < s->n && s->lists[i]->info.scope == COMPLIANCE_DNC_NATIONAL; i++) {
            const struct compliance_dnc_list_info *li = &s->lists[i]->info;
            if (li->country[0] != '\0' && !country_covers(li->country, country)) {
                continue;
            }
            struct compliance_list_age one;
            compliance_dnc_list_age(li, now_us, warn_days, &one);
            if (!any || one.state > out->state || out->state == COMPLIANCE_LIST_MISSING) {
                *out = one;
            }
            any = true;
        }
        unpin(slot);
    } else {
        out->state = COMPLIANCE_LIST_STALE;
    }
}

void compliance_dnc_age_alarm(struct compliance_dnc *d, const char *country, int64_t now_us,
                              int32_t warn_days, struct compliance_list_age *out)
{
    compliance_dnc_national_age(d, country, now_us, warn_days, out);
    counter_set(&national_alarm, (int64_t)out->state);
}
