/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the node snapshots other dialerd nodes publish on
 * Redis (dashboards' dash__snap_parse): arbitrary bytes either parse into a
 * snapshot that re-encodes and parses back to the same figures, or are
 * refused with a NUL-terminated message. A parsed snapshot also goes through
 * the campaign merge, the tenant wall (trunks, servers, flows) and the
 * Prometheus renderer (no crash, no overflow).
 * Run:
 *   make fuzz-build
 *   build/fuzz/tests/fuzz/fuzz_dash_snap -max_total_time=60 tests/fuzz/corpus/dash_snap/
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dashboards/dash_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                       \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "invariant failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
            abort();                                                                      \
        }                                                                                 \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[160];
    struct dash_snap *s, *again;
    json_t *j;
    char *text;
    struct dash_buf b = { 0 };

    memset(err, 'x', sizeof(err));
    s = dash__snap_parse((const char *)data, size, err, sizeof(err));
    if (s == NULL) {
        CHECK(memchr(err, '\0', sizeof(err)) != NULL);
        return 0;
    }
    j = dash__snap_to_json(s);
    CHECK(j != NULL);
    text = json_dumps(j, JSON_COMPACT);
    CHECK(text != NULL);
    again = dash__snap_parse(text, strlen(text), err, sizeof(err));
    CHECK(again != NULL);
    CHECK(again->n == s->n && strcmp(again->node, s->node) == 0);
    for (size_t i = 0; i < s->n; i++) {
        CHECK(memcmp(again->e[i].v, s->e[i].v, sizeof(s->e[i].v)) == 0);
        CHECK(strcmp(again->e[i].name, s->e[i].name) == 0);
        CHECK(memcmp(again->e[i].w1m, s->e[i].w1m, sizeof(s->e[i].w1m)) == 0);
    }
    const struct dash_snap *arr[] = { s, again };
    if (s->n > 0) {
        json_decref(dash__campaign_json(arr, 2, s->e[0].tenant_id, s->e[0].id));
        json_decref(dash__trunks_json(arr, 2, s->e[0].tenant_id));
        json_decref(dash__flows_json(arr, 2, s->e[0].tenant_id));
    }
    json_decref(dash__servers_json(arr, 2));
    dash__prom_render(&b, arr, 2, false);
    dash__buf_free(&b);
    free(again);
    free(text);
    json_decref(j);
    free(s);
    return 0;
}
