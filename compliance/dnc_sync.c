/* SPDX-License-Identifier: MIT */
/*
 * dnc_sync: DNC changes between nodes over Redis pub/sub (compliance.h,
 * "propagation between nodes").
 *
 * Delivery is at most once and unordered across publishers; a change is an
 * idempotent set (add or remove one entry), so a late duplicate cannot
 * corrupt a list, and the periodic or reconnect-triggered reload from
 * PostgreSQL (the system of record: dnc_entries) repairs anything lost.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compliance/compliance.h"
#include "core/counter.h"
#include "core/err.h"
#include "core/kv.h"

#define MAGIC "dnc1"

struct compliance_dnc_sync {
    struct compliance_dnc *d;
    struct kv_conn *pub;
    struct kv_sub *sub;
    char channel[128];
    char node[64];
    compliance_dnc_resync_cb *resync_cb;
    void *arg;
    uint64_t received;
};

static struct counter c_bad = COUNTER_INIT(COUNTER_KIND_COUNTER, "compliance_dnc_sync_bad_total",
                                           "Malformed DNC sync messages dropped");
static struct counter c_pub_fail =
    COUNTER_INIT(COUNTER_KIND_COUNTER, "compliance_dnc_sync_publish_failures_total",
                 "DNC changes that could not be published to the other nodes");

static bool node_ok(const char *s, size_t len)
{
    if (len == 0 || len > 63) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-')) {
            return false;
        }
    }
    return true;
}

/* Next space-separated token of m[*pos..len). */
static bool token(const char *m, size_t len, size_t *pos, const char **t, size_t *tl)
{
    size_t p = *pos;
    if (p >= len) {
        return false;
    }
    size_t s = p;
    while (p < len && m[p] != ' ') {
        p++;
    }
    *t = m + s;
    *tl = p - s;
    *pos = p < len ? p + 1 : p;
    return *tl > 0;
}

static bool int_tok(const char *t, size_t tl, int64_t *v)
{
    int64_t x = 0;
    if (tl == 0 || tl > 18) {
        return false;
    }
    for (size_t i = 0; i < tl; i++) {
        if (t[i] < '0' || t[i] > '9') {
            return false;
        }
        x = x * 10 + (t[i] - '0');
    }
    *v = x;
    return true;
}

/* "+1NPA" or "+1NPANXX" with NPA and NXX starting 2-9. */
static bool nanp_block(const char *e, size_t len)
{
    if ((len != 5 && len != 8) || e[0] != '+' || e[1] != '1') {
        return false;
    }
    for (size_t i = 2; i < len; i++) {
        if (e[i] < '0' || e[i] > '9') {
            return false;
        }
    }
    return e[2] >= '2' && (len == 5 || e[5] >= '2');
}

int compliance_dnc_sync_parse(const char *m, size_t len, struct compliance_dnc_list_info *info,
                              int *op, char node[64], char entry[24])
{
    const char *t;
    size_t tl, pos = 0;
    int64_t scope, v[3];
    if (m == NULL || info == NULL || op == NULL) {
        return ERR_PARSE;
    }
    memset(info, 0, sizeof(*info));
    entry[0] = '\0';
    if (!token(m, len, &pos, &t, &tl) || tl != 4 || memcmp(t, MAGIC, 4) != 0) {
        return ERR_PARSE;
    }
    if (!token(m, len, &pos, &t, &tl) || !node_ok(t, tl)) {
        return ERR_PARSE;
    }
    memcpy(node, t, tl);
    node[tl] = '\0';
    if (!token(m, len, &pos, &t, &tl)) {
        return ERR_PARSE;
    }
    if (tl == 3 && memcmp(t, "add", 3) == 0) {
        *op = 1;
    } else if (tl == 3 && memcmp(t, "del", 3) == 0) {
        *op = 0;
    } else if (tl == 6 && memcmp(t, "reload", 6) == 0) {
        *op = 2;
    } else {
        return ERR_PARSE;
    }
    if (!token(m, len, &pos, &t, &tl) || !int_tok(t, tl, &scope) ||
        scope > COMPLIANCE_DNC_CAMPAIGN) {
        return ERR_PARSE;
    }
    for (int i = 0; i < 3; i++) {
        if (!token(m, len, &pos, &t, &tl) || !int_tok(t, tl, &v[i])) {
            return ERR_PARSE;
        }
    }
    info->scope = (enum compliance_dnc_scope)scope;
    info->tenant_id = v[0];
    info->campaign_id = v[1];
    info->list_id = v[2];
    if (*op == 2) {
        return pos >= len ? 0 : ERR_PARSE;
    }
    uint64_t key;
    if (!token(m, len, &pos, &t, &tl) || tl > 16 || pos < len) {
        return ERR_PARSE;
    }
    memcpy(entry, t, tl);
    entry[tl] = '\0';
    /* a number, or a NANP block ("+1NPA", "+1NPANXX") */
    if (compliance_dnc_key(entry, &key) != 0 && !nanp_block(entry, tl)) {
        return ERR_PARSE;
    }
    return 0;
}

static void on_message(const struct kv_message *msg, void *arg)
{
    struct compliance_dnc_sync *s = arg;
    struct compliance_dnc_list_info info;
    char node[64], entry[24];
    int op;
    if (compliance_dnc_sync_parse(msg->data, msg->len, &info, &op, node, entry) != 0) {
        counter_inc(&c_bad);
        return;
    }
    if (op == 2) {
        if (s->resync_cb != NULL) {
            s->resync_cb(&info, s->arg);
        }
        return;
    }
    if (strcmp(node, s->node) == 0) {
        return; /* our own change, applied already */
    }
    if (compliance_dnc_apply(s->d, &info, op, entry, NULL) != 0) {
        counter_inc(&c_bad);
        return;
    }
    s->received++;
}

static void on_sub_state(bool up, void *arg)
{
    struct compliance_dnc_sync *s = arg;
    if (up && s->resync_cb != NULL) {
        s->resync_cb(NULL, s->arg); /* messages may have been lost while down */
    }
}

int compliance_dnc_sync_create(struct ev_loop *loop, struct compliance_dnc *d, struct kv_conn *pub,
                               const struct kv_options *sub_opt, const char *channel,
                               const char *node, compliance_dnc_resync_cb *resync_cb, void *arg,
                               struct compliance_dnc_sync **out)
{
    struct compliance_dnc_sync *s;
    struct kv_options o;
    int rc;
    if (loop == NULL || d == NULL || pub == NULL || sub_opt == NULL || channel == NULL ||
        node == NULL || out == NULL || !node_ok(node, strlen(node)) || channel[0] == '\0' ||
        strlen(channel) >= sizeof(s->channel)) {
        return ERR_INVAL;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return ERR_NOMEM;
    }
    counter_register(&c_bad);
    counter_register(&c_pub_fail);
    s->d = d;
    s->pub = pub;
    s->resync_cb = resync_cb;
    s->arg = arg;
    snprintf(s->channel, sizeof(s->channel), "%s", channel);
    snprintf(s->node, sizeof(s->node), "%s", node);
    o = *sub_opt;
    o.state_cb = on_sub_state;
    o.state_arg = s;
    rc = kv_sub_create(loop, &o, on_message, s, &s->sub);
    if (rc == 0) {
        rc = kv_sub_subscribe(s->sub, s->channel, strlen(s->channel));
    }
    if (rc != 0) {
        kv_sub_destroy(s->sub);
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void compliance_dnc_sync_destroy(struct compliance_dnc_sync *s)
{
    if (s == NULL) {
        return;
    }
    kv_sub_destroy(s->sub);
    free(s);
}

static void on_published(int status, redisReply *r, void *arg)
{
    (void)r;
    (void)arg;
    if (status != 0) {
        counter_inc(&c_pub_fail);
    }
}

static int publish(struct compliance_dnc_sync *s, const struct compliance_dnc_list_info *info,
                   const char *op, const char *entry)
{
    char msg[256];
    int n = snprintf(msg, sizeof(msg), MAGIC " %s %s %d %" PRId64 " %" PRId64 " %" PRId64 "%s%s",
                     s->node, op, (int)info->scope, info->tenant_id, info->campaign_id,
                     info->list_id, entry != NULL ? " " : "", entry != NULL ? entry : "");
    if (n < 0 || (size_t)n >= sizeof(msg)) {
        return ERR_INVAL;
    }
    const char *argv[3] = { "PUBLISH", s->channel, msg };
    int rc = kv_cmd_send(s->pub, 3, argv, NULL, on_published, NULL, NULL);
    if (rc != 0) {
        counter_inc(&c_pub_fail);
    }
    return rc;
}

int compliance_dnc_sync_apply(struct compliance_dnc_sync *s,
                              const struct compliance_dnc_list_info *info, int add,
                              const char *entry)
{
    if (s == NULL || info == NULL || entry == NULL || info->tenant_id < 0 ||
        info->campaign_id < 0 || info->list_id < 0) {
        return ERR_INVAL;
    }
    int rc = compliance_dnc_apply(s->d, info, add, entry, NULL);
    if (rc == 0) {
        (void)publish(s, info, add ? "add" : "del", entry);
    }
    return rc;
}

int compliance_dnc_sync_reload(struct compliance_dnc_sync *s,
                               const struct compliance_dnc_list_info *info)
{
    if (s == NULL || info == NULL || info->tenant_id < 0 || info->campaign_id < 0 ||
        info->list_id < 0) {
        return ERR_INVAL;
    }
    return publish(s, info, "reload", NULL);
}

uint64_t compliance_dnc_sync_received(const struct compliance_dnc_sync *s)
{
    return s->received;
}
