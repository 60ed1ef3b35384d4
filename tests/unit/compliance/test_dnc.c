/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for compliance/dnc.c and dnc_index.c: the Elias-Fano set
 * against a plain sorted array, 10 million numbers, blocks, the overlay,
 * which list blocks, list age, and atomic swaps under concurrent readers
 * (run under TSan by make tsan).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "compliance/compliance.h"
#include "compliance/dnc_int.h"
#include "core/counter.h"
#include "core/err.h"

/* xorshift64*: deterministic test data. */
static uint64_t rnd_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * UINT64_C(2685821657736338717);
}

static bool in_sorted(const uint64_t *a, size_t n, uint64_t v)
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

/* The set answers exactly like a sorted array, for dense, sparse and tiny sets. */
static void test_ef_matches_sorted_array(void **state)
{
    static const struct {
        size_t n;
        uint64_t span;
    } cases[] = { { 0, 10 },
                  { 1, 1 },
                  { 2, 3 },
                  { 1000, 1000 },
                  { 1000, 1u << 30 },
                  { 50000, 200000 },
                  { 50000, UINT64_C(1) << 45 } };

    uint64_t seed = 42;
    (void)state;
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        size_t n = cases[c].n;
        uint64_t *k = malloc((n + 1) * sizeof(*k));
        struct compliance__ef ef;
        for (size_t i = 0; i < n; i++) {
            k[i] = UINT64_C(14150000000) + rnd_next(&seed) % cases[c].span;
        }
        assert_int_equal(compliance__keys_sort_unique(k, &n), 0);
        for (size_t i = 1; i < n; i++) {
            assert_true(k[i - 1] < k[i]);
        }
        assert_int_equal(compliance__ef_build(k, n, &ef), 0);
        for (size_t i = 0; i < n; i++) {
            assert_true(compliance__ef_contains(&ef, k[i]));
        }
        for (int i = 0; i < 20000; i++) {
            uint64_t q = UINT64_C(14150000000) - 5 + rnd_next(&seed) % (cases[c].span + 10);
            assert_int_equal(compliance__ef_contains(&ef, q), in_sorted(k, n, q));
        }
        uint64_t *back = malloc((n + 1) * sizeof(*back));
        compliance__ef_decode(&ef, back);
        assert_memory_equal(back, k, n * sizeof(*k));
        free(back);
        compliance__ef_free(&ef);
        free(k);
    }
}

static void test_ef_rejects_unsorted(void **state)
{
    uint64_t k[3] = { 5, 5, 7 };
    struct compliance__ef ef;
    (void)state;
    assert_int_equal(compliance__ef_build(k, 3, &ef), ERR_INVAL);
}

static struct compliance_dnc_list_info list_info(enum compliance_dnc_scope scope, int64_t tenant,
                                                 int64_t campaign, int64_t id, const char *name)
{
    struct compliance_dnc_list_info li;
    memset(&li, 0, sizeof(li));
    li.scope = scope;
    li.tenant_id = tenant;
    li.campaign_id = campaign;
    li.list_id = id;
    snprintf(li.name, sizeof(li.name), "%s", name);
    return li;
}

static void add(struct compliance_dnc_builder *b, const char *s)
{
    assert_int_equal(compliance_dnc_builder_add(b, s, strlen(s)), 0);
}

/* 10 million registry numbers in 40 area codes: every one is found, numbers
 * next to them are not, and the set costs under 1.25 bytes per number even at
 * this density (the registry's is about 7.5 bits). */
static void test_dnc_ten_million(void **state)
{
    struct compliance_dnc *d;
    struct compliance_dnc_builder *b;
    struct compliance_dnc_list_info li = list_info(COMPLIANCE_DNC_NATIONAL, 0, 0, 1, "FTC");
    struct compliance_dnc_list_stats st;
    const size_t n = 10000000;
    uint64_t seed = 7;
    char num[24];
    (void)state;
    snprintf(li.country, sizeof(li.country), "%s", "US");
    assert_int_equal(compliance_dnc_create(&d), 0);
    assert_int_equal(compliance_dnc_builder_create(&b), 0);
    for (size_t i = 0; i < n; i++) {
        /* every third number of 40 area codes 201..240 (even numbers only below) */
        uint64_t v = rnd_next(&seed) % (40u * 8000000u / 2);
        unsigned npa = 201 + (unsigned)(v / 4000000);
        uint64_t rest = 2000000 + (v % 4000000) * 2;
        snprintf(num, sizeof(num), "+1%u%07llu", npa, (unsigned long long)rest);
        add(b, num);
    }
    assert_int_equal(compliance_dnc_publish(d, &li, b, 0), 0);
    assert_int_equal(compliance_dnc_list_stats(d, &li, &st), 0);
    assert_true(st.numbers > 9000000 && st.numbers <= n);
    assert_true((double)st.bytes / (double)st.numbers < 1.25);
    seed = 7;
    for (size_t i = 0; i < n; i += 97) {
        for (size_t j = (i == 0 ? 0 : i - 96); j < i; j++) {
            (void)rnd_next(&seed);
        }
        uint64_t v = rnd_next(&seed) % (40u * 8000000u / 2);
        unsigned npa = 201 + (unsigned)(v / 4000000);
        uint64_t rest = 2000000 + (v % 4000000) * 2;
        struct compliance_dnc_hit hit;
        snprintf(num, sizeof(num), "+1%u%07llu", npa, (unsigned long long)rest);
        assert_int_equal(compliance_dnc_check(d, num, "US", 1, 0, &hit), 1);
        assert_int_equal(hit.list_id, 1);
        snprintf(num, sizeof(num), "+1%u%07llu", npa, (unsigned long long)rest + 1);
        assert_int_equal(compliance_dnc_check(d, num, "US", 1, 0, NULL), 0);
    }
    compliance_dnc_destroy(d);
}

/* Area-code and exchange blocks; the list that blocks is named. */
static void test_dnc_blocks_and_scopes(void **state)
{
    struct compliance_dnc *d;
    struct compliance_dnc_builder *b;
    struct compliance_dnc_list_info nat = list_info(COMPLIANCE_DNC_NATIONAL, 0, 0, 1, "FTC");
    struct compliance_dnc_list_info ten = list_info(COMPLIANCE_DNC_TENANT, 7, 0, 2, "internal");
    struct compliance_dnc_list_info cam = list_info(COMPLIANCE_DNC_CAMPAIGN, 7, 70, 3, "spring");
    struct compliance_dnc_hit hit;
    (void)state;
    snprintf(nat.country, sizeof(nat.country), "%s", "US");
    assert_int_equal(compliance_dnc_create(&d), 0);
    assert_int_equal(compliance_dnc_builder_create(&b), 0);
    add(b, "+12125550100");
    add(b, "+1900");    /* area code */
    add(b, "+1415555"); /* exchange */
    assert_int_equal(compliance_dnc_publish(d, &nat, b, 0), 0);
    assert_int_equal(compliance_dnc_builder_create(&b), 0);
    add(b, "+13055550101");
    add(b, "+442079460000");
    assert_int_equal(compliance_dnc_publish(d, &ten, b, 0), 0);
    assert_int_equal(compliance_dnc_builder_create(&b), 0);
    add(b, "+13055550102");
    assert_int_equal(compliance_dnc_publish(d, &cam, b, 0), 0);

    assert_int_equal(compliance_dnc_check(d, "+12125550100", "US", 7, 70, &hit), 1);
    assert_int_equal(hit.scope, COMPLIANCE_DNC_NATIONAL);
    assert_int_equal(hit.match, COMPLIANCE_DNC_MATCH_NUMBER);
    assert_string_equal(hit.list_name, "FTC");
    assert_int_equal(compliance_dnc_check(d, "+19005551234", "US", 7, 70, &hit), 1);
    assert_int_equal(hit.match, COMPLIANCE_DNC_MATCH_AREA_CODE);
    assert_int_equal(compliance_dnc_check(d, "+14155559999", "US", 7, 70, &hit), 1);
    assert_int_equal(hit.match, COMPLIANCE_DNC_MATCH_EXCHANGE);
    assert_int_equal(compliance_dnc_check(d, "+14155569999", "US", 7, 70, &hit), 0);
    /* the US registry covers Puerto Rico, not Canada */
    assert_int_equal(compliance_dnc_check(d, "+12125550100", "PR", 7, 70, NULL), 1);
    assert_int_equal(compliance_dnc_check(d, "+12125550100", "CA", 7, 70, NULL), 0);
    /* tenant list: any campaign of tenant 7, not tenant 8 */
    assert_int_equal(compliance_dnc_check(d, "+13055550101", "US", 7, 0, &hit), 1);
    assert_int_equal(hit.scope, COMPLIANCE_DNC_TENANT);
    assert_int_equal(hit.list_id, 2);
    assert_int_equal(compliance_dnc_check(d, "+13055550101", "US", 8, 0, NULL), 0);
    assert_int_equal(compliance_dnc_check(d, "+442079460000", "GB", 7, 71, NULL), 1);
    /* campaign list: campaign 70 only */
    assert_int_equal(compliance_dnc_check(d, "+13055550102", "US", 7, 70, &hit), 1);
    assert_int_equal(hit.scope, COMPLIANCE_DNC_CAMPAIGN);
    assert_string_equal(hit.list_name, "spring");
    assert_int_equal(compliance_dnc_check(d, "+13055550102", "US", 7, 71, NULL), 0);
    /* malformed input */
    assert_int_equal(compliance_dnc_check(d, "2125550100", "US", 7, 70, NULL), ERR_INVAL);
    assert_int_equal(compliance_dnc_check(d, "+1900", "US", 7, 70, NULL), ERR_INVAL);
    assert_int_equal(compliance_dnc_check(d, "+1212555010x", "US", 7, 70, NULL), ERR_INVAL);
    assert_int_equal(compliance_dnc_drop(d, &cam), 0);
    assert_int_equal(compliance_dnc_check(d, "+13055550102", "US", 7, 70, NULL), 0);
    assert_int_equal(compliance_dnc_drop(d, &cam), ERR_NOTFOUND);
    compliance_dnc_destroy(d);
}

/* Adds and removes are visible at once; a rebuild keeps changes made while
 * its source was read and drops those the source already has. */
static void test_dnc_overlay(void **state)
{
    struct compliance_dnc *d;
    struct compliance_dnc_builder *b;
    struct compliance_dnc_list_info ten = list_info(COMPLIANCE_DNC_TENANT, 7, 0, 0, "api");
    struct compliance_dnc_list_stats st;
    uint64_t seq1, seq2;
    (void)state;
    assert_int_equal(compliance_dnc_create(&d), 0);
    /* the first add creates the list */
    assert_int_equal(compliance_dnc_apply(d, &ten, 1, "+13055550101", &seq1), 0);
    assert_int_equal(compliance_dnc_check(d, "+13055550101", "US", 7, 0, NULL), 1);
    assert_int_equal(compliance_dnc_apply(d, &ten, 1, "+1212", NULL), 0);
    assert_int_equal(compliance_dnc_check(d, "+12125551234", "US", 7, 0, NULL), 1);
    assert_int_equal(compliance_dnc_apply(d, &ten, 0, "+13055550101", NULL), 0);
    assert_int_equal(compliance_dnc_check(d, "+13055550101", "US", 7, 0, NULL), 0);
    assert_int_equal(compliance_dnc_apply(d, &ten, 1, "+13055550103", &seq2), 0);
    assert_true(seq2 > seq1);
    assert_int_equal(compliance_dnc_apply(d, &ten, 1, "not-a-number", NULL), ERR_INVAL);

    /* a rebuild whose source was read after seq1 but before seq2 */
    assert_int_equal(compliance_dnc_builder_create(&b), 0);
    add(b, "+13055550104");
    assert_int_equal(compliance_dnc_publish(d, &ten, b, seq2 - 1), 0);
    assert_int_equal(compliance_dnc_check(d, "+13055550103", "US", 7, 0, NULL), 1); /* kept */
    assert_int_equal(compliance_dnc_check(d, "+13055550104", "US", 7, 0, NULL), 1);
    assert_int_equal(compliance_dnc_check(d, "+12125551234", "US", 7, 0, NULL), 0); /* in source */
    /* remove from the built set, then compact: the overlay is folded in */
    assert_int_equal(compliance_dnc_apply(d, &ten, 0, "+13055550104", NULL), 0);
    assert_int_equal(compliance_dnc_check(d, "+13055550104", "US", 7, 0, NULL), 0);
    assert_int_equal(compliance_dnc_list_stats(d, &ten, &st), 0);
    assert_int_equal(st.overlay, 2);
    assert_int_equal(compliance_dnc_compact(d, &ten), 0);
    assert_int_equal(compliance_dnc_list_stats(d, &ten, &st), 0);
    assert_int_equal(st.overlay, 0);
    assert_int_equal(st.numbers, 1);
    assert_int_equal(compliance_dnc_check(d, "+13055550103", "US", 7, 0, NULL), 1);
    assert_int_equal(compliance_dnc_check(d, "+13055550104", "US", 7, 0, NULL), 0);
    compliance_dnc_destroy(d);
}

#define DAY INT64_C(86400000000)

struct gauge_find {
    const char *name;
    int64_t value;
};

static void gauge_visit(const struct counter *c, void *arg)
{
    struct gauge_find *g = arg;
    if (strcmp(c->name, g->name) == 0) {
        g->value = counter_get(c);
    }
}

static int64_t gauge(const char *name)
{
    struct gauge_find g = { name, -1 };
    counter_foreach(gauge_visit, &g);
    return g.value;
}

static void test_dnc_national_age(void **state)
{
    struct compliance_dnc *d;
    struct compliance_dnc_builder *b;
    struct compliance_dnc_list_info nat = list_info(COMPLIANCE_DNC_NATIONAL, 0, 0, 1, "FTC");
    struct compliance_list_age age;
    const int64_t t0 = INT64_C(1781049600) * 1000000; /* 2026-06-10 */
    (void)state;
    assert_int_equal(compliance_dnc_create(&d), 0);
    compliance_dnc_national_age(d, "US", t0, 7, &age);
    assert_int_equal(age.state, COMPLIANCE_LIST_MISSING);
    snprintf(nat.country, sizeof(nat.country), "%s", "US");
    nat.list_date_us = t0;
    nat.max_age_days = 31;
    assert_int_equal(compliance_dnc_builder_create(&b), 0);
    assert_int_equal(compliance_dnc_publish(d, &nat, b, 0), 0);
    compliance_dnc_national_age(d, "US", t0 + 23 * DAY, 7, &age);
    assert_int_equal(age.state, COMPLIANCE_LIST_FRESH);
    assert_int_equal(age.age_s, 23 * 86400);
    compliance_dnc_national_age(d, "US", t0 + 24 * DAY, 7, &age);
    assert_int_equal(age.state, COMPLIANCE_LIST_WARNING);
    assert_int_equal(age.stale_at_us, t0 + 31 * DAY);
    compliance_dnc_national_age(d, "US", t0 + 31 * DAY - 1, 7, &age);
    assert_int_equal(age.state, COMPLIANCE_LIST_WARNING);
    compliance_dnc_national_age(d, "US", t0 + 31 * DAY, 7, &age);
    assert_int_equal(age.state, COMPLIANCE_LIST_STALE);
    compliance_dnc_national_age(d, "PR", t0 + 31 * DAY, 7, &age);
    assert_int_equal(age.state, COMPLIANCE_LIST_STALE);
    compliance_dnc_national_age(d, "CA", t0, 7, &age);
    assert_int_equal(age.state, COMPLIANCE_LIST_MISSING);
    /* the alarm sets the gauge for metrics; the plain query does not */
    compliance_dnc_age_alarm(d, "US", t0 + 24 * DAY, 7, &age);
    assert_int_equal(age.state, COMPLIANCE_LIST_WARNING);
    assert_int_equal(gauge("compliance_dnc_national_alarm"), 1);
    compliance_dnc_national_age(d, "US", t0 + 40 * DAY, 7, &age);
    assert_int_equal(gauge("compliance_dnc_national_alarm"), 1);
    compliance_dnc_age_alarm(d, "US", t0 + 40 * DAY, 7, &age);
    assert_int_equal(gauge("compliance_dnc_national_alarm"), 2);
    compliance_dnc_destroy(d);
}

/* Readers on two threads while a writer swaps between two versions of a
 * list: every lookup sees one whole version (the two marker numbers agree),
 * never a mix or freed memory. */
struct swap_fx {
    struct compliance_dnc *d;
    atomic_int stop;
    long reads, torn;
};

static void *reader(void *arg)
{
    struct swap_fx *f = arg;
    long n = 0, torn = 0;
    while (!atomic_load_explicit(&f->stop, memory_order_acquire) && n < 2000000) {
        int a = compliance_dnc_check(f->d, "+12125550001", "US", 1, 0, NULL);
        int b = compliance_dnc_check(f->d, "+12125550002", "US", 1, 0, NULL);
        int c = compliance_dnc_check(f->d, "+13125550003", "US", 1, 0, NULL);
        /* version A has ...0001 and ...0003, version B ...0002 and ...0003 */
        if (c != 1 || a + b != 1) {
            /* a and b come from two lookups: one swap between them is allowed */
            if (c != 1 || a + b > 2) {
                torn++;
            }
        }
        n++;
    }
    f->reads += n;
    f->torn += torn;
    return NULL;
}

static void publish_version(struct compliance_dnc *d, const struct compliance_dnc_list_info *li,
                            int v)
{
    struct compliance_dnc_builder *b;
    assert_int_equal(compliance_dnc_builder_create(&b), 0);
    add(b, (v & 1) ? "+12125550002" : "+12125550001");
    add(b, "+13125550003");
    for (int k = 0; k < 1000; k++) {
        char num[24];
        snprintf(num, sizeof(num), "+1646555%04d", k);
        add(b, num);
    }
    assert_int_equal(compliance_dnc_publish(d, li, b, 0), 0);
}

static void test_dnc_swap_under_readers(void **state)
{
    struct swap_fx f = { 0 };
    struct compliance_dnc_list_info li = list_info(COMPLIANCE_DNC_TENANT, 1, 0, 1, "t");
    pthread_t th[2];
    struct swap_fx per[2];
    (void)state;
    assert_int_equal(compliance_dnc_create(&f.d), 0);
    publish_version(f.d, &li, 0);
    for (int i = 0; i < 2; i++) {
        per[i] = (struct swap_fx){ .d = f.d };
        atomic_init(&per[i].stop, 0);
        assert_int_equal(pthread_create(&th[i], NULL, reader, &per[i]), 0);
    }
    for (int v = 1; v <= 400; v++) {
        publish_version(f.d, &li, v);
        assert_int_equal(compliance_dnc_apply(f.d, &li, 1, "+16465559999", NULL), 0);
    }
    for (int i = 0; i < 2; i++) {
        atomic_store_explicit(&per[i].stop, 1, memory_order_release);
        pthread_join(th[i], NULL);
        assert_int_equal(per[i].torn, 0);
        assert_true(per[i].reads > 0);
    }
    compliance_dnc_destroy(f.d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ef_matches_sorted_array),
        cmocka_unit_test(test_ef_rejects_unsorted),
        cmocka_unit_test(test_dnc_ten_million),
        cmocka_unit_test(test_dnc_blocks_and_scopes),
        cmocka_unit_test(test_dnc_overlay),
        cmocka_unit_test(test_dnc_national_age),
        cmocka_unit_test(test_dnc_swap_under_readers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
