/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the ARI event layer: feeds arbitrary bytes to
 * ari_event_parse_ex() as one WebSocket message and, when it parses, checks
 * the invariants the rest of the client relies on:
 *
 *   - a parsed event always encodes (ari_event_to_json) and the encoding
 *     parses back to an equal event (round trip);
 *   - routing returns only non-empty ids and never more than it counts;
 *   - a failed parse leaves *out NULL and a NUL-terminated message;
 *   - the dial tracker accepts anything that parses.
 *
 * Every input also goes through the jansson reference path
 * (ari__event_parse_jansson) and the fast decoder alone: the public result,
 * return code and error message must be the reference's, and whenever the
 * fast decoder accepts an input its typed result must equal the reference's
 * (same for Channel bodies through ari_channel_parse).
 *
 * The same bytes are also tried as a Channel body (the REST path). Run:
 *   make fuzz-build
 *   build/fuzz/tests/fuzz/fuzz_ari_event -dict=tests/fuzz/fuzz_ari_event.dict \
 *       -max_total_time=60 tests/fuzz/corpus/ari_event/
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ari/ari.h"
#include "ari/ari_int.h"
#include "core/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                       \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "invariant failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
            abort();                                                                      \
        }                                                                                 \
    } while (0)

static void check_error(const struct ari_parse_error *err)
{
    CHECK(memchr(err->message, '\0', sizeof(err->message)) != NULL);
    CHECK(memchr(err->field, '\0', sizeof(err->field)) != NULL);
}

static void check_event(struct arena *a, const struct ari_event *ev)
{
    const char *ids[8];
    size_t n = ari_event_channel_ids(ev, ids, 8);
    struct ari_dial_tracker t;
    struct ari_event *back = NULL;
    json_t *j;
    char *text;

    for (size_t i = 0; i < n && i < 8; i++) {
        CHECK(ids[i] != NULL && ids[i][0] != '\0');
    }
    CHECK(n <= 8); /* no event has more channel routes than that */
    const char *bridge = ari_event_bridge_id(ev);
    CHECK(bridge == NULL || bridge[0] != '\0');
    CHECK(ev->type_name != NULL);

    ari_dial_tracker_init(&t, n > 0 ? ids[0] : "none");
    ari_dial_tracker_feed(&t, ev);
    (void)ari_dial_tracker_outcome(&t);

    j = ari_event_to_json(ev);
    CHECK(j != NULL);
    text = json_dumps(j, JSON_COMPACT);
    CHECK(text != NULL);
    CHECK(ari_event_parse(text, strlen(text), a, &back) == 0);
    CHECK(ari_event_equal(ev, back));
    free(text);
    json_decref(j);
}

/* The public parse (rc, ev, err) against the jansson reference and the fast path alone. */
static void compare_event(const char *text, size_t size, struct arena *a, int rc,
                          const struct ari_event *ev, const struct ari_parse_error *err)
{
    struct ari_parse_error ref_err;
    struct ari_event *ref = NULL;
    struct ari_event *fast = NULL;
    int ref_rc = ari__event_parse_jansson(text, size, a, &ref, &ref_err);
    int fast_rc = ari__event_parse_fast(text, size, a, &fast);

    CHECK(rc == ref_rc);
    if (rc == 0) {
        CHECK(ari_event_equal(ev, ref));
    } else if (rc == ERR_PARSE) {
        CHECK(strcmp(err->message, ref_err.message) == 0);
        CHECK(strcmp(err->field, ref_err.field) == 0);
    }
    CHECK(fast_rc == 0 || fast_rc == ARI__FALLBACK);
    if (fast_rc == 0) {
        CHECK(ref_rc == 0);
        CHECK(ari_event_equal(fast, ref));
    } else {
        CHECK(fast == NULL);
    }
}

static void compare_channel(const char *text, size_t size, struct arena *a, int rc,
                            const struct ari_channel *ch, const struct ari_parse_error *err)
{
    struct ari_parse_error ref_err;
    struct ari_channel ref;
    struct ari_channel fast;
    int ref_rc = ari__model_parse_jansson(ARI_MODEL_CHANNEL, text, size, a, &ref, &ref_err);
    int fast_rc;

    CHECK(rc == ref_rc);
    if (rc == 0) {
        CHECK(ari_model_equal(ARI_MODEL_CHANNEL, ch, &ref));
    } else if (rc == ERR_PARSE) {
        CHECK(strcmp(err->message, ref_err.message) == 0);
    }
    memset(&fast, 0, sizeof(fast));
    fast_rc = ari__fast_model(ari__models[ARI_MODEL_CHANNEL], text, size, a, &fast);
    CHECK(fast_rc == 0 || fast_rc == ARI__FALLBACK);
    if (fast_rc == 0) {
        CHECK(ref_rc == 0);
        CHECK(ari_model_equal(ARI_MODEL_CHANNEL, &fast, &ref));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct arena a;
    struct ari_parse_error err;
    struct ari_event *ev = (struct ari_event *)&err;
    struct ari_channel ch;
    int rc;

    arena_init(&a, 4096);
    rc = ari_event_parse_ex((const char *)data, size, &a, &ev, &err);
    compare_event((const char *)data, size, &a, rc, ev, &err);
    if (rc == 0) {
        CHECK(ev != NULL);
        check_event(&a, ev);
    } else {
        CHECK(ev == NULL);
        CHECK(rc < 0);
        check_error(&err);
    }
    rc = ari_channel_parse((const char *)data, size, &a, &ch, &err);
    compare_channel((const char *)data, size, &a, rc, &ch, &err);
    if (rc == 0) {
        json_t *j = ari_model_to_json(ARI_MODEL_CHANNEL, &ch);
        struct ari_channel ch2;
        CHECK(j != NULL);
        char *text = json_dumps(j, JSON_COMPACT);
        CHECK(text != NULL);
        CHECK(ari_channel_parse(text, strlen(text), &a, &ch2, NULL) == 0);
        CHECK(ari_model_equal(ARI_MODEL_CHANNEL, &ch, &ch2));
        free(text);
        json_decref(j);
    } else {
        check_error(&err);
    }
    arena_fini(&a);
    return 0;
}
