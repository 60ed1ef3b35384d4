/* SPDX-License-Identifier: MIT */
/*
 * hooks/sign: the pure parts of webhooks (hooks/hooks.h): event types,
 * secrets, the HMAC signature and its check, the event body and the retry
 * schedule.
 */
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/db.h"
#include "core/err.h"
#include "hooks/hooks.h"

const char *const hooks_event_types[] = {
    "call.completed",
    "campaign.state_changed",
    "import.finished",
    NULL,
};

bool hooks_event_type_ok(const char *s)
{
    if (s == NULL) {
        return false;
    }
    if (strcmp(s, "*") == 0) {
        return true;
    }
    for (size_t i = 0; hooks_event_types[i] != NULL; i++) {
        if (strcmp(s, hooks_event_types[i]) == 0) {
            return true;
        }
    }
    return false;
}

int hooks_events_check(const struct json_t *events, char *err, size_t errlen)
{
    const json_t *a = (const json_t *)events;
    if (!json_is_array(a) || json_array_size(a) == 0 || json_array_size(a) > HOOKS_EVENTS_MAX) {
        snprintf(err, errlen, "events must be an array of 1 to %d event types", HOOKS_EVENTS_MAX);
        return ERR_INVAL;
    }
    for (size_t i = 0; i < json_array_size(a); i++) {
        const char *s = json_string_value(json_array_get(a, i));
        if (!hooks_event_type_ok(s)) {
            snprintf(err, errlen,
                     "events[%zu] is not an event type (call.completed, campaign.state_changed, "
                     "import.finished or *)",
                     i);
            return ERR_INVAL;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(s, json_string_value(json_array_get(a, j))) == 0) {
                snprintf(err, errlen, "events[%zu] repeats events[%zu]", i, j);
                return ERR_INVAL;
            }
        }
    }
    return 0;
}

int hooks_secret_new(char *out, size_t n)
{
    unsigned char raw[HOOKS_SECRET_RAW_BYTES];
    if (n < HOOKS_SECRET_MAX + 1) {
        return ERR_INVAL;
    }
    randombytes_buf(raw, sizeof(raw));
    memcpy(out, "whsec_", 6);
    sodium_bin2base64(out + 6, n - 6, raw, sizeof(raw), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof(raw));
    return 0;
}

void hooks_sign(const char *secret, size_t secret_len, int64_t ts, const char *body, size_t len,
                char out[HOOKS_SIG_HEX + 1])
{
    crypto_auth_hmacsha256_state st;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    char t[24];
    int tn = snprintf(t, sizeof(t), "%" PRId64 ".", ts);

    crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, secret_len);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)t, (unsigned long long)tn);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, len);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_bin2hex(out, HOOKS_SIG_HEX + 1, mac, sizeof(mac));
    sodium_memzero(&st, sizeof(st));
}

bool hooks_verify(const char *secret, size_t secret_len, const char *header, const char *body,
                  size_t len, int64_t now_s, int64_t tolerance_s)
{
    char want[HOOKS_SIG_HEX + 1];
    int64_t ts = -1;
    bool ok = false;
    const char *p = header;

    if (header == NULL || body == NULL) {
        return false;
    }
    /* t= first (exactly one), then any number of v1= signatures. */
    if (strncmp(p, "t=", 2) != 0) {
        return false;
    }
    p += 2;
    char *end;
    long long v = strtoll(p, &end, 10);
    if (end == p || v < 0 || (*end != ',' && *end != '\0')) {
        return false;
    }
    ts = v;
    if (now_s - ts > tolerance_s || ts - now_s > tolerance_s) {
        return false;
    }
    hooks_sign(secret, secret_len, ts, body, len, want);
    p = end;
    while (*p == ',') {
        p++;
        const char *q = strchr(p, ',');
        size_t n = q != NULL ? (size_t)(q - p) : strlen(p);
        if (n == 3 + HOOKS_SIG_HEX && strncmp(p, "v1=", 3) == 0 &&
            sodium_memcmp(p + 3, want, HOOKS_SIG_HEX) == 0) {
            ok = true;
        }
        p += n;
    }
    return ok;
}

char *hooks_event_body(const char *event_id, const char *type, const char *created_at,
                       int64_t tenant, const char *data_json)
{
    json_t *data = data_json != NULL ? json_loads(data_json, 0, NULL) : NULL;
    if (!json_is_object(data) || event_id == NULL || type == NULL || created_at == NULL) {
        json_decref(data);
        return NULL;
    }
    json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:o}", "id", event_id, "type", type, "created_at",
                          created_at, "tenant_id", (json_int_t)tenant, "data", data);
    if (o == NULL) {
        return NULL;
    }
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return s;
}

struct hooks_retry hooks_retry_decide(const struct hooks_backoff *b, long code, int attempts,
                                      int64_t retry_from_ms, int64_t now_ms, uint64_t rnd)
{
    enum { HTTP_GONE = 410 };
    struct hooks_retry r = { 0 };
    int64_t min = b != NULL && b->min_ms > 0 ? b->min_ms : 5000;
    int64_t max = b != NULL && b->max_ms > 0 ? b->max_ms : 3600000;
    int64_t age = b != NULL && b->max_age_ms > 0 ? b->max_age_ms : 86400000;

    if (code == HTTP_GONE) {
        r.gone = true;
        return r;
    }
    unsigned n = attempts > 1 ? (unsigned)(attempts - 1) : 0;
    r.delay_ms = db_backoff_delay_ms(min, max, n > 62 ? 62 : n, rnd);
    r.retry = now_ms + r.delay_ms <= retry_from_ms + age;
    return r;
}
