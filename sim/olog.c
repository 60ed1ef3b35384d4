/* SPDX-License-Identifier: MIT */
/*
 * olog: the originate log, one JSON object per line.
 *
 * Tests use it to prove that nothing was dialed twice, even across a crash
 * of the simulator or of the dialer, so every line is written with a single
 * write(2) on an O_APPEND descriptor the moment it is known: the
 * "originate" line when a dial is accepted (with the outcome the scenario
 * planned), the "end" line when the channel is destroyed (with the outcome
 * that happened: answered, busy, noanswer, congestion, rejected,
 * unallocated, failed, cancelled). A synchronous failure (unreachable) gets
 * only an "originate" line. No stdio buffering sits in between.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "sim/sim_int.h"

struct sim_olog {
    int fd;
    struct sim_buf line;
};

struct sim_olog *sim__olog_open(const char *path)
{
    struct sim_olog *o;
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

    if (fd < 0) {
        int e = errno;
        LOG_ERRNO(ERR, SIM, e, "event=olog_open_failed path=%s", path);
        return NULL;
    }
    o = calloc(1, sizeof(*o));
    if (o == NULL) {
        abort();
    }
    o->fd = fd;
    sim__buf_init(&o->line);
    return o;
}

void sim__olog_close(struct sim_olog *o)
{
    if (o == NULL) {
        return;
    }
    close(o->fd);
    sim__buf_fini(&o->line);
    free(o);
}

static void olog_write(struct sim_olog *o)
{
    const char *p = o->line.p;
    size_t left = o->line.len;

    while (left > 0) {
        ssize_t n = write(o->fd, p, left);
        if (n < 0) {
            int e = errno;
            if (e == EINTR) {
                continue;
            }
            LOG_ERRNO(ERR, SIM, e, "event=olog_write_failed");
            return;
        }
        p += n;
        left -= (size_t)n;
    }
}

static void head(struct sim *s, struct sim_buf *b, const char *event, const char *chan_id,
                 const char *endpoint, const char *number)
{
    char ts[40];

    sim__format_time(clock_wall_us(), ts, sizeof(ts));
    sim__buf_reset(b);
    SIM_LIT(b, "{\"time\":\"");
    sim__buf_puts(b, ts);
    SIM_LIT(b, "\",\"event\":\"");
    sim__buf_puts(b, event);
    SIM_LIT(b, "\",\"channel\":");
    sim__buf_jstr(b, chan_id);
    SIM_LIT(b, ",\"endpoint\":");
    sim__buf_jstr(b, endpoint);
    SIM_LIT(b, ",\"number\":");
    sim__buf_jstr(b, number);
    (void)s;
}

void sim__olog_originate(struct sim *s, const char *chan_id, const char *endpoint,
                         const char *number, const char *outcome, int cause, int attempt)
{
    struct sim_olog *o = s->olog;

    if (o == NULL) {
        return;
    }
    head(s, &o->line, "originate", chan_id ? chan_id : "", endpoint, number);
    SIM_LIT(&o->line, ",\"outcome\":");
    sim__buf_jstr(&o->line, outcome);
    SIM_LIT(&o->line, ",\"cause\":");
    sim__buf_jint(&o->line, cause);
    SIM_LIT(&o->line, ",\"attempt\":");
    sim__buf_jint(&o->line, attempt);
    SIM_LIT(&o->line, "}\n");
    olog_write(o);
}

void sim__olog_end(struct sim *s, struct sim_chan *c, const char *outcome, int cause)
{
    struct sim_olog *o = s->olog;
    const char *ep = c->dialstring ? c->dialstring : "";
    char endpoint[600];

    if (o == NULL) {
        return;
    }
    /* Rebuild Tech/resource from the name's technology and the dialstring. */
    snprintf(endpoint, sizeof(endpoint), "%s/%s", c->tech == TECH_LOCAL ? "Local" : "PJSIP", ep);
    head(s, &o->line, "end", c->id, endpoint, c->number ? c->number : "");
    SIM_LIT(&o->line, ",\"outcome\":");
    sim__buf_jstr(&o->line, outcome);
    SIM_LIT(&o->line, ",\"cause\":");
    sim__buf_jint(&o->line, cause);
    SIM_LIT(&o->line, "}\n");
    olog_write(o);
}
