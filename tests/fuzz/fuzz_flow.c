/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for IVR flows: the bytes are a flow document for
 * ivr_flow_load() (parser, validator, compiler), or, when they start with
 * "T", a template for ivr_render(). Invariants checked:
 *
 *   - the report exists; it has errors exactly when the load failed, and a
 *     flow is returned exactly when it succeeded;
 *   - every finding has a rule, a JSON path starting with "$" and a message;
 *   - the report converts to JSON with "valid" matching;
 *   - a flow that loads runs in the simulator (a fixed script with keys,
 *     silence and a hang-up) to an end, within the simulator's bounds;
 *   - a template either fails to parse with a message, or renders, and
 *     secrets never render where they are not allowed;
 *   - a session's compact variable store renders it exactly as the jansson
 *     tree it was made from (same text, same count of missing variables).
 *
 * Run:
 *   make fuzz-build
 *   build/fuzz/tests/fuzz/fuzz_flow -max_total_time=60 tests/fuzz/corpus/flow/
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ivr/ivr.h"
#include "ivr/ivr_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                       \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "invariant failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
            abort();                                                                      \
        }                                                                                 \
    } while (0)

static void fuzz_template(const uint8_t *data, size_t size)
{
    char *src = malloc(size + 1);
    CHECK(src != NULL);
    memcpy(src, data, size);
    src[size] = '\0';
    json_t *vars = json_pack("{s:{s:s,s:i},s:{s:s,s:b,s:n,s:{s:[s]}},s:{s:f},s:{},s:{},s:{s:s}}",
                             "call", "from", "+14155550123", "attempt", 2, "contact", "name", "Ada",
                             "vip", 1, "nick", "addr", "tags", "a", "flow", "x", 1.5, "nodes",
                             "sys", "secrets", "key", "SECRETVALUE");
    const char *err = NULL;
    int missing = 0;
    char *out = ivr_render(src, vars, false, &missing, &err);
    const char *check = ivr_template_check(src);
    if (out == NULL) {
        CHECK(err != NULL && check != NULL);
    } else {
        CHECK(check == NULL);
        CHECK(strstr(out, "SECRETVALUE") == NULL || strstr(src, "SECRETVALUE") != NULL);
        CHECK(missing >= 0);
        struct ivr__vars st;
        CHECK(ivr__vars_init(&st, vars) == 0);
        struct ivr__tmpl *t = ivr__tmpl_compile(src, &err);
        CHECK(t != NULL);
        struct ivr__buf b = { 0 };
        int m2 = 0;
        ivr__tmpl_render(t, &st, false, &b, &m2);
        CHECK(!b.oom && b.p != NULL && strcmp(b.p, out) == 0 && m2 == missing);
        ivr__buf_fini(&b);
        ivr__tmpl_free(t);
        ivr__vars_fini(&st);
    }
    free(out);
    free(src);
    json_decref(vars);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 0 && data[0] == 'T') {
        fuzz_template(data + 1, size - 1);
        return 0;
    }
    struct ivr_flow *flow = NULL;
    struct ivr_report *rep = NULL;
    int rc = ivr_flow_load((const char *)data, size, NULL, &flow, &rep);
    CHECK(rep != NULL);
    CHECK((rc == 0) == (ivr_report_errors(rep) == 0));
    CHECK((rc == 0) == (flow != NULL));
    for (size_t i = 0; i < ivr_report_count(rep); i++) {
        const struct ivr_diag *d = ivr_report_get(rep, i);
        CHECK(d != NULL && d->rule != NULL && d->rule[0] != '\0');
        CHECK(d->path != NULL && d->path[0] == '$');
        CHECK(d->message != NULL && strlen(d->message) > 0);
    }
    json_t *j = ivr_report_to_json(rep);
    CHECK(j != NULL);
    CHECK(json_is_true(json_object_get(j, "valid")) == (rc == 0));
    json_decref(j);
    if (flow != NULL && ivr_flow_nodes(flow) <= 64) {
        json_t *log = NULL;
        char *err = NULL;
        CHECK(ivr_sim_run(flow, "dtmf 1; wait 6s; dtmf 12#; wait 30s; dtmf 9; wait 2m; hangup",
                          NULL, &log, &err) == 0);
        CHECK(json_object_get(log, "end") != NULL);
        CHECK(!json_is_null(json_object_get(log, "end")));
        json_decref(log);
        free(err);
    }
    ivr_flow_unref(flow);
    ivr_report_free(rep);
    return 0;
}
