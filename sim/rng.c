/* SPDX-License-Identifier: MIT */
/*
 * rng: seeded random streams and delay distributions.
 *
 * Each dialed number gets its own stream, seeded from the run seed, the
 * number and how many times it was dialed before (see engine.c), so an
 * outcome does not depend on what else was dialed in between. The generator
 * is xoshiro256** seeded through splitmix64.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "sim/sim_int.h"

uint64_t sim__mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

uint64_t sim__hash64(const char *s, uint64_t h)
{
    h ^= 14695981039346656037ULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        h = (h ^ *p) * 1099511628211ULL;
    }
    return sim__mix64(h);
}

void sim__rng_seed(struct sim_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++) {
        seed = sim__mix64(seed + (uint64_t)i);
        r->s[i] = seed;
    }
    if ((r->s[0] | r->s[1] | r->s[2] | r->s[3]) == 0) {
        r->s[0] = 1;
    }
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t sim__rng_next(struct sim_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double sim__rng_unit(struct sim_rng *r)
{
    return (double)(sim__rng_next(r) >> 11) * 0x1.0p-53;
}

static double gauss(struct sim_rng *r)
{
    /* Box-Muller; one value per call keeps the stream position simple. */
    double u1 = sim__rng_unit(r);
    double u2 = sim__rng_unit(r);
    if (u1 < 1e-300) {
        u1 = 1e-300;
    }
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

double sim__dist_draw(const struct sim_dist *d, struct sim_rng *r, double def)
{
    double v;

    switch (d->kind) {
    case DIST_NONE:
        return def;
    case DIST_FIXED:
        v = d->a;
        break;
    case DIST_UNIFORM:
        v = d->a + (d->b - d->a) * sim__rng_unit(r);
        break;
    case DIST_EXP:
        v = -d->a * log(1.0 - sim__rng_unit(r));
        break;
    case DIST_LOGNORMAL:
        v = exp(d->a + d->b * gauss(r));
        break;
    case DIST_NORMAL:
        v = d->a + d->b * gauss(r);
        break;
    default:
        v = def;
        break;
    }
    if (v < d->min) {
        v = d->min;
    }
    if (d->max >= 0 && v > d->max) {
        v = d->max;
    }
    return v < 0 ? 0 : v;
}

static int num(const json_t *j, double *out)
{
    if (!json_is_number(j)) {
        return -1;
    }
    *out = json_number_value(j);
    return 0;
}

int sim__dist_parse(const json_t *j, struct sim_dist *d, char *err, size_t errlen)
{
    const json_t *v;

    memset(d, 0, sizeof(*d));
    d->max = -1;
    if (json_is_number(j)) {
        d->kind = DIST_FIXED;
        d->a = json_number_value(j);
        return 0;
    }
    if (!json_is_object(j)) {
        snprintf(err, errlen, "a distribution is a number or an object");
        return -1;
    }
    if ((v = json_object_get(j, "min")) != NULL && num(v, &d->min) < 0) {
        goto bad;
    }
    if ((v = json_object_get(j, "max")) != NULL && num(v, &d->max) < 0) {
        goto bad;
    }
    if ((v = json_object_get(j, "fixed")) != NULL) {
        d->kind = DIST_FIXED;
        return num(v, &d->a) < 0 ? (snprintf(err, errlen, "fixed: not a number"), -1) : 0;
    }
    if ((v = json_object_get(j, "uniform")) != NULL) {
        d->kind = DIST_UNIFORM;
        if (!json_is_array(v) || json_array_size(v) != 2 || num(json_array_get(v, 0), &d->a) < 0 ||
            num(json_array_get(v, 1), &d->b) < 0 || d->b < d->a) {
            snprintf(err, errlen, "uniform: expected [low, high]");
            return -1;
        }
        return 0;
    }
    if ((v = json_object_get(j, "exponential")) != NULL) {
        const json_t *mean = json_is_object(v) ? json_object_get(v, "mean") : v;
        d->kind = DIST_EXP;
        if (num(mean, &d->a) < 0 || d->a <= 0) {
            snprintf(err, errlen, "exponential: expected a positive mean");
            return -1;
        }
        return 0;
    }
    if ((v = json_object_get(j, "lognormal")) != NULL) {
        double median = 0, sigma = 0;
        d->kind = DIST_LOGNORMAL;
        if (!json_is_object(v)) {
            goto bad;
        }
        if (json_object_get(v, "mu") != NULL) {
            if (num(json_object_get(v, "mu"), &d->a) < 0) {
                goto bad;
            }
        } else if (num(json_object_get(v, "median"), &median) < 0 || median <= 0) {
            snprintf(err, errlen, "lognormal: expected median (or mu) and sigma");
            return -1;
        } else {
            d->a = log(median);
        }
        if (num(json_object_get(v, "sigma"), &sigma) < 0 || sigma < 0) {
            snprintf(err, errlen, "lognormal: expected sigma >= 0");
            return -1;
        }
        d->b = sigma;
        return 0;
    }
    if ((v = json_object_get(j, "normal")) != NULL) {
        d->kind = DIST_NORMAL;
        if (!json_is_object(v) || num(json_object_get(v, "mean"), &d->a) < 0 ||
            num(json_object_get(v, "sd"), &d->b) < 0) {
            snprintf(err, errlen, "normal: expected mean and sd");
            return -1;
        }
        return 0;
    }
bad:
    snprintf(err, errlen, "unknown distribution (fixed, uniform, exponential, lognormal, normal)");
    return -1;
}
