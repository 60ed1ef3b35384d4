/* SPDX-License-Identifier: MIT */
/*
 * dnc_index: the Elias-Fano number set behind each DNC list (dnc_int.h has
 * the layout) and the radix sort that prepares its input.
 *
 * Space: l + 2 bits per key at most plus 32 bits per COMPLIANCE__EF_SAMPLE
 * high values. For the US national registry (about 253 million numbers in
 * the 8 * 10^9 NANP numbers with a valid area code) u / n is about 32, so
 * l = 5 and a key costs about 7.5 bits: under one byte.
 *
 * Lookup: one sample word, the unary words of the run (usually one or two
 * cache lines) and the low bits of the run's keys. No allocation, no writes.
 */
#include <stdlib.h>
#include <string.h>

#include "compliance/dnc_int.h"
#include "core/err.h"

/* ---- sort ----------------------------------------------------------------- */

#define RADIX_BITS 11
#define RADIX_SIZE (1u << RADIX_BITS)

int compliance__keys_sort_unique(uint64_t *keys, size_t *n)
{
    size_t cnt = *n;
    uint64_t max = 0;
    uint64_t *tmp;
    uint64_t *src = keys;
    uint64_t *dst;
    size_t *count;
    unsigned shift;

    if (cnt < 2) {
        return 0;
    }
    for (size_t i = 0; i < cnt; i++) {
        max = keys[i] > max ? keys[i] : max;
    }
    tmp = malloc(cnt * sizeof(*tmp));
    count = malloc(RADIX_SIZE * sizeof(*count));
    if (tmp == NULL || count == NULL) {
        free(tmp);
        free(count);
        return ERR_NOMEM;
    }
    dst = tmp;
    for (shift = 0; shift < 64 && (max >> shift) != 0; shift += RADIX_BITS) {
        size_t sum = 0;
        memset(count, 0, RADIX_SIZE * sizeof(*count));
        for (size_t i = 0; i < cnt; i++) {
            count[(src[i] >> shift) & (RADIX_SIZE - 1)]++;
        }
        for (size_t d = 0; d < RADIX_SIZE; d++) {
            size_t c = count[d];
            count[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < cnt; i++) {
            dst[count[(src[i] >> shift) & (RADIX_SIZE - 1)]++] = src[i];
        }
        uint64_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != keys) {
        memcpy(keys, src, cnt * sizeof(*keys));
    }
    free(tmp);
    free(count);
    size_t w = 1;
    for (size_t i = 1; i < cnt; i++) {
        if (keys[i] != keys[w - 1]) {
            keys[w++] = keys[i];
        }
    }
    *n = w;
    return 0;
}

/* ---- build ---------------------------------------------------------------- */

static unsigned floor_log2(uint64_t x)
{
    return x == 0 ? 0 : 63u - (unsigned)__builtin_clzll(x);
}

int compliance__ef_build(const uint64_t *keys, size_t n, struct compliance__ef *ef)
{
    memset(ef, 0, sizeof(*ef));
    if (n >= (UINT64_C(1) << 31)) {
        return ERR_TOOBIG;
    }
    for (size_t i = 1; i < n; i++) {
        if (keys[i] <= keys[i - 1]) {
            return ERR_INVAL;
        }
    }
    ef->n = n;
    if (n > 0) {
        ef->base = keys[0];
        ef->last = keys[n - 1];
        uint64_t u = ef->last - ef->base + 1;
        /* bits per key: l + 1 + (u / n / 2^l) * (1 + 32 / SAMPLE); the best l is
         * floor(log2(u / n)) or one more */
        unsigned l0 = u / n > 1 ? floor_log2(u / n) : 0;
        double r = (double)u / (double)n;
        double c0 = l0 + r / (double)(UINT64_C(1) << l0) * 1.25;
        double c1 = (l0 + 1) + r / (double)(UINT64_C(1) << (l0 + 1)) * 1.25;
        ef->l = (c1 < c0 && l0 + 1 < 57) ? l0 + 1 : l0;
        ef->nhigh = ((ef->last - ef->base) >> ef->l) + 1;
    }
    uint64_t hibits = ef->n + ef->nhigh;
    ef->bits_per_high = ef->nhigh == 0 ? 0 : (hibits << 16) / ef->nhigh;
    ef->hi_words = (size_t)(hibits / 64) + 2;
    ef->lo_words = (size_t)((ef->n * ef->l) / 64) + 2;
    ef->nsamp = (size_t)(ef->nhigh >> COMPLIANCE__EF_SAMPLE_LOG) + 1;
    ef->hi = calloc(ef->hi_words, sizeof(uint64_t));
    ef->lo = calloc(ef->lo_words, sizeof(uint64_t));
    ef->samp = malloc(ef->nsamp * sizeof(uint32_t));
    if (ef->hi == NULL || ef->lo == NULL || ef->samp == NULL) {
        compliance__ef_free(ef);
        return ERR_NOMEM;
    }
    uint64_t lmask = ef->l == 0 ? 0 : (UINT64_C(1) << ef->l) - 1;
    size_t g = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t v = keys[i] - ef->base;
        uint64_t h = v >> ef->l;
        while (((uint64_t)g << COMPLIANCE__EF_SAMPLE_LOG) <= h) {
            ef->samp[g++] = (uint32_t)i;
        }
        uint64_t pos = h + i;
        ef->hi[pos >> 6] |= UINT64_C(1) << (pos & 63);
        if (ef->l != 0) {
            uint64_t off = (uint64_t)i * ef->l;
            uint64_t low = v & lmask;
            ef->lo[off >> 6] |= low << (off & 63);
            if ((off & 63) + ef->l > 64) {
                ef->lo[(off >> 6) + 1] |= low >> (64 - (off & 63));
            }
        }
    }
    while (g < ef->nsamp) {
        ef->samp[g++] = (uint32_t)n;
    }
    return 0;
}

void compliance__ef_free(struct compliance__ef *ef)
{
    free(ef->hi);
    free(ef->lo);
    free(ef->samp);
    memset(ef, 0, sizeof(*ef));
}

size_t compliance__ef_bytes(const struct compliance__ef *ef)
{
    return sizeof(*ef) + ef->hi_words * sizeof(uint64_t) + ef->lo_words * sizeof(uint64_t) +
           ef->nsamp * sizeof(uint32_t);
}

/* ---- lookup --------------------------------------------------------------- */

/*
 * The lookup is popcount-bound where it is not memory-bound: on x86-64 the
 * hot functions are compiled twice, with the POPCNT instruction and without,
 * and the loader picks one for the CPU (GCC target_clones; Clang 14 does not
 * resolve clones across a static library, so Clang builds use the default;
 * the TSan runtime is not ready when ifunc resolvers run, so TSan builds too).
 */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_THREAD__)
#define HOT_CLONES __attribute__((target_clones("popcnt", "default")))
#else
#define HOT_CLONES
#endif

/* Position of the k-th (0-based) set bit of w; w has more than k set bits. */
__attribute__((always_inline)) static inline unsigned select64(uint64_t w, unsigned k)
{
    unsigned base = 0;
    unsigned c = (unsigned)__builtin_popcount((uint32_t)w);
    if (k >= c) {
        k -= c;
        w >>= 32;
        base = 32;
    }
    for (;; base += 8, w >>= 8) {
        unsigned x = (unsigned)(w & 0xff);
        c = (unsigned)__builtin_popcount(x);
        if (k < c) {
            for (unsigned j = 0; j < k; j++) {
                x &= x - 1;
            }
            return base + (unsigned)__builtin_ctz(x);
        }
        k -= c;
    }
}

__attribute__((always_inline)) static inline uint64_t low_at(const struct compliance__ef *ef,
                                                             uint64_t i)
{
    uint64_t off = i * ef->l;
    unsigned sh = (unsigned)(off & 63);
    uint64_t v = ef->lo[off >> 6] >> sh;
    if (sh != 0) {
        v |= ef->lo[(off >> 6) + 1] << (64 - sh);
    }
    return v & ((UINT64_C(1) << ef->l) - 1);
}

/* The second half of a lookup: from the start position of run g*S. */
__attribute__((always_inline)) static inline bool contains_from(const struct compliance__ef *ef,
                                                                uint64_t v, uint64_t pos)
{
    uint64_t h = v >> ef->l;
    uint64_t skip = h & (COMPLIANCE__EF_SAMPLE - 1); /* zeros to pass */

    if (skip > 0) {
        size_t w = (size_t)(pos >> 6);
        uint64_t bits = ~ef->hi[w] & (~UINT64_C(0) << (pos & 63));
        for (;;) {
            unsigned c = (unsigned)__builtin_popcountll(bits);
            if (c >= skip) {
                pos = ((uint64_t)w << 6) + select64(bits, (unsigned)(skip - 1)) + 1;
                break;
            }
            skip -= c;
            bits = ~ef->hi[++w];
        }
    }
    /* The run of high part h starts at pos; its keys have index pos - h. */
    uint64_t i = pos - h;
    uint64_t low = ef->l == 0 ? 0 : v & ((UINT64_C(1) << ef->l) - 1);
    for (;;) {
        if (((ef->hi[pos >> 6] >> (pos & 63)) & 1) == 0) {
            return false;
        }
        uint64_t x = ef->l == 0 ? 0 : low_at(ef, i);
        if (x == low) {
            return true;
        }
        if (x > low) {
            return false;
        }
        pos++;
        i++;
    }
}

HOT_CLONES
bool compliance__ef_contains(const struct compliance__ef *ef, uint64_t key)
{
    if (ef->n == 0 || key < ef->base || key > ef->last) {
        return false;
    }
    uint64_t v = key - ef->base;
    uint64_t g = (v >> ef->l) >> COMPLIANCE__EF_SAMPLE_LOG;
    return contains_from(ef, v, (g << COMPLIANCE__EF_SAMPLE_LOG) + ef->samp[g]);
}

/*
 * Batch lookup: the keys go through the set in groups of BATCH, one stage at
 * a time (sample word, then the unary words, then the test), each stage
 * prefetching what the next one reads, so the cache misses of a group
 * overlap instead of queueing one after another.
 */
#define BATCH 32

HOT_CLONES
void compliance__ef_contains_many(const struct compliance__ef *ef, const uint64_t *keys, size_t n,
                                  uint8_t *out)
{
    uint64_t pos[BATCH];
    for (size_t i0 = 0; i0 < n; i0 += BATCH) {
        size_t m = n - i0 < BATCH ? n - i0 : BATCH;
        const uint64_t *k = keys + i0;
        for (size_t j = 0; j < m; j++) {
            if (ef->n == 0 || k[j] < ef->base || k[j] > ef->last) {
                continue;
            }
            uint64_t g = ((k[j] - ef->base) >> ef->l) >> COMPLIANCE__EF_SAMPLE_LOG;
            __builtin_prefetch(&ef->samp[g]);
        }
        for (size_t j = 0; j < m; j++) {
            if (ef->n == 0 || k[j] < ef->base || k[j] > ef->last) {
                pos[j] = UINT64_MAX;
                continue;
            }
            uint64_t v = k[j] - ef->base;
            uint64_t h = v >> ef->l;
            uint64_t g = h >> COMPLIANCE__EF_SAMPLE_LOG;
            pos[j] = (g << COMPLIANCE__EF_SAMPLE_LOG) + ef->samp[g];
            /* the run is about (h - g*S) * (1 + n/nhigh) bits further */
            uint64_t guess =
                pos[j] + (((h & (COMPLIANCE__EF_SAMPLE - 1)) * ef->bits_per_high) >> 16);
            __builtin_prefetch(&ef->hi[pos[j] >> 6]);
            __builtin_prefetch(&ef->hi[(guess >> 6) < ef->hi_words ? guess >> 6 : 0]);
            uint64_t ig = guess - h;
            uint64_t lo_word = ig < ef->n ? (ig * ef->l) >> 6 : 0;
            __builtin_prefetch(&ef->lo[lo_word]);
        }
        for (size_t j = 0; j < m; j++) {
            out[i0 + j] = pos[j] != UINT64_MAX && contains_from(ef, k[j] - ef->base, pos[j]);
        }
    }
}

void compliance__ef_decode(const struct compliance__ef *ef, uint64_t *out)
{
    uint64_t h = 0;
    uint64_t i = 0;
    for (uint64_t pos = 0; i < ef->n; pos++) {
        if (((ef->hi[pos >> 6] >> (pos & 63)) & 1) == 0) {
            h++;
            continue;
        }
        uint64_t low = ef->l == 0 ? 0 : low_at(ef, i);
        out[i] = ef->base + ((h << ef->l) | low);
        i++;
    }
}
