/* SPDX-License-Identifier: MIT */
/*
 * dnc_int: the DNC index internals shared by dnc_index.c, dnc.c and their
 * tests: the Elias-Fano set of numbers and the key sort.
 */
#ifndef COMPLIANCE_DNC_INT_H
#define COMPLIANCE_DNC_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * An immutable set of 64-bit keys in Elias-Fano form.
 *
 * With n keys spread over a range of u values, each key k - base is split
 * into its low l = floor(log2(u / n)) bits, stored packed in lo[], and its
 * high part h, stored in unary in hi[]: key i sets bit h_i + i; the h-th zero
 * bit ends the run of keys with high part h. That is l + 2 bits per key at
 * most (about l + 1.3 on random data). samp[g] is the number of keys whose
 * high part is below g * COMPLIANCE__EF_SAMPLE, so a lookup jumps to within
 * COMPLIANCE__EF_SAMPLE zeros of its run and finishes with popcounts: about
 * 0.3 bits per key more, three cache lines per lookup.
 */
#define COMPLIANCE__EF_SAMPLE_LOG 7
#define COMPLIANCE__EF_SAMPLE     (1u << COMPLIANCE__EF_SAMPLE_LOG)

struct compliance__ef {
    uint64_t n;     /* keys */
    uint64_t base;  /* smallest key */
    uint64_t last;  /* largest key */
    unsigned l;     /* low bits per key */
    uint64_t nhigh; /* high values 0 .. nhigh-1 */
    uint64_t *hi;   /* unary high parts, + padding words */
    uint64_t *lo;   /* packed low parts, + one padding word */
    uint32_t *samp; /* per sample group: keys with a smaller high part */
    size_t hi_words, lo_words, nsamp;
    uint64_t bits_per_high; /* (n + nhigh) / nhigh in 16.16 fixed point, for prefetch guesses */
};

/* Sorts keys[0..*n) ascending and drops duplicates (*n shrinks). LSD radix
 * sort; tmp (may be NULL) is scratch of *n words. Returns 0 or ERR_NOMEM. */
int compliance__keys_sort_unique(uint64_t *keys, size_t *n);

/* Builds ef from n strictly ascending keys (borrowed). An empty set is
 * valid. Returns 0, ERR_INVAL (not ascending), ERR_TOOBIG (n >= 2^31) or
 * ERR_NOMEM. */
int compliance__ef_build(const uint64_t *keys, size_t n, struct compliance__ef *ef);

/* True when key is in ef. No allocation, no writes: any thread. */
bool compliance__ef_contains(const struct compliance__ef *ef, uint64_t key);

/* out[i] = (keys[i] is in ef), for n keys in any order: the batch form,
 * which overlaps the cache misses of up to 16 lookups. */
void compliance__ef_contains_many(const struct compliance__ef *ef, const uint64_t *keys, size_t n,
                                  uint8_t *out);

/* Writes the keys in order into out (ef->n words). */
void compliance__ef_decode(const struct compliance__ef *ef, uint64_t *out);

/* Bytes of memory the set uses. */
size_t compliance__ef_bytes(const struct compliance__ef *ef);

void compliance__ef_free(struct compliance__ef *ef);

/* The set of the list identified by info, or NULL. No pin: for tests and
 * benchmarks that publish nothing while they use it. */
struct compliance_dnc;
struct compliance_dnc_list_info;
const struct compliance__ef *compliance__dnc_ef(struct compliance_dnc *d,
                                                const struct compliance_dnc_list_info *info);

/* ---- keys ---------------------------------------------------------------- */

/* A key is the E.164 number's digits read as a decimal number (the '+'
 * dropped): "+14155550123" -> 14155550123. Blocks are NANP prefixes:
 * "+1415" (an area code) -> 1415, "+1415555" (an exchange) -> 1415555. */
#define COMPLIANCE__NANP_MIN UINT64_C(10000000000) /* 1 000 000 0000 */
#define COMPLIANCE__NANP_END UINT64_C(20000000000)

#endif
