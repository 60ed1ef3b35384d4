/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the ARI unit tests: finding the real captures under
 * ../shared/ari (testenv_shared()), walking their messages, and turning
 * events into short tokens ("Dial(BUSY)") for order checks. Header-only
 * (static functions) because each test binary is built from one source.
 */
#ifndef TESTS_UNIT_ARI_ARI_TEST_UTIL_H
#define TESTS_UNIT_ARI_ARI_TEST_UTIL_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ari/ari.h"
#include "tests/support/testenv.h"

/* Joins a "/" b into out (size bytes); false if it does not fit. */
static inline bool util_join(char *out, size_t size, const char *a, const char *b)
{
    int n = snprintf(out, size, "%s/%s", a, b);
    return n >= 0 && (size_t)n < size;
}

/* The shared ARI directory (../shared/ari), or NULL when it is not there. */
static inline const char *util_ari_dir(void)
{
    static char path[4096];
    const char *shared = testenv_shared();

    if (shared == NULL) {
        return NULL;
    }
    return util_join(path, sizeof(path), shared, "ari") ? path : NULL;
}

/* jansson's tree of the file at <shared>/ari/<rel> (new reference), or NULL. */
static inline json_t *util_load(const char *rel)
{
    char path[4096];
    const char *dir = util_ari_dir();
    json_error_t jerr;
    json_t *j;

    if (dir == NULL || !util_join(path, sizeof(path), dir, rel)) {
        return NULL;
    }
    j = json_load_file(path, 0, &jerr);
    if (j == NULL) {
        fprintf(stderr, "cannot load %s: %s\n", path, jerr.text);
    }
    return j;
}

/* Sorted names of the *.json files in <shared>/ari/<sub>; count in *n. free() each and the array.
 */
static inline char **util_list_json(const char *sub, size_t *n)
{
    char path[4096];
    const char *dir = util_ari_dir();
    char **names = NULL;
    struct dirent *de;
    DIR *d;

    *n = 0;
    if (dir == NULL || !util_join(path, sizeof(path), dir, sub)) {
        return NULL;
    }
    d = opendir(path);
    if (d == NULL) {
        return NULL;
    }
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len > 5 && strcmp(de->d_name + len - 5, ".json") == 0) {
            char **grown = realloc(names, (*n + 1) * sizeof(*names));
            if (grown == NULL) {
                break;
            }
            names = grown;
            names[(*n)++] = strdup(de->d_name);
        }
    }
    closedir(d);
    for (size_t i = 1; i < *n; i++) { /* insertion sort: a dozen names */
        for (size_t k = i; k > 0 && strcmp(names[k - 1], names[k]) > 0; k--) {
            char *t = names[k];
            names[k] = names[k - 1];
            names[k - 1] = t;
        }
    }
    return names;
}

static inline void util_free_list(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(names[i]);
    }
    free(names);
}

/* Compact JSON text of j with keys in their stored order (malloc'd). */
static inline char *util_dump(const json_t *j)
{
    return json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
}

/* A short token for ev, for order checks: "Dial(BUSY)", "ChannelDestroyed(17)", ... */
static inline void util_token(const struct ari_event *ev, char *buf, size_t size)
{
    switch (ev->type) {
    case ARI_EVENT_DIAL:
        snprintf(buf, size, "Dial(%s)", ev->dial.dialstatus);
        break;
    case ARI_EVENT_CHANNEL_STATE_CHANGE:
        snprintf(buf, size, "ChannelStateChange(%s)", ev->channel_state_change.channel->state);
        break;
    case ARI_EVENT_CHANNEL_HANGUP_REQUEST: {
        const struct ari_ev_channel_hangup_request *h = &ev->channel_hangup_request;
        if (h->has_cause) {
            snprintf(buf, size, "ChannelHangupRequest(%s%d)", h->has_soft && h->soft ? "soft," : "",
                     h->cause);
        } else {
            snprintf(buf, size, "ChannelHangupRequest(%s)", h->has_soft && h->soft ? "soft" : "");
        }
        break;
    }
    case ARI_EVENT_CHANNEL_DESTROYED:
        snprintf(buf, size, "ChannelDestroyed(%d)", ev->channel_destroyed.cause);
        break;
    case ARI_EVENT_CHANNEL_VARSET:
        snprintf(buf, size, "ChannelVarset(%s=%s)", ev->channel_varset.variable,
                 ev->channel_varset.value);
        break;
    case ARI_EVENT_CHANNEL_DTMF_RECEIVED:
        snprintf(buf, size, "ChannelDtmfReceived(%s)", ev->channel_dtmf_received.digit);
        break;
    case ARI_EVENT_STASIS_START: {
        size_t off = (size_t)snprintf(buf, size, "StasisStart(");
        for (size_t i = 0; i < ev->stasis_start.n_args && off < size; i++) {
            off += (size_t)snprintf(buf + off, size - off, "%s%s", i ? "," : "",
                                    ev->stasis_start.args[i]);
        }
        if (off < size) {
            snprintf(buf + off, size - off, ")");
        }
        break;
    }
    default:
        snprintf(buf, size, "%s", ev->type_name);
        break;
    }
}

/* Whether ev concerns channel id (any routed channel, not only the primary). */
static inline bool util_concerns(const struct ari_event *ev, const char *id)
{
    const char *ids[16];
    size_t n = ari_event_channel_ids(ev, ids, 16);

    for (size_t i = 0; i < n && i < 16; i++) {
        if (strcmp(ids[i], id) == 0) {
            return true;
        }
    }
    return false;
}

#endif
