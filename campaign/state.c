/* SPDX-License-Identifier: MIT */
/*
 * The campaign state machine's table. It mirrors the campaigns_state_guard
 * trigger of sql/0004_campaigns.sql (the database is the authority; this
 * copy lets the API answer 409 without a round trip, and a test checks the
 * two agree).
 */
#include <string.h>

#include "campaign/campaign_int.h"

static const char *const names[CAMPAIGN_STATE_COUNT_] = {
    "draft", "scheduled", "running", "paused", "completed", "stopped",
};

/* allowed[from] has bit to set. */
static const uint8_t allowed[CAMPAIGN_STATE_COUNT_] = {
    [CAMPAIGN_DRAFT] = (1u << CAMPAIGN_SCHEDULED) | (1u << CAMPAIGN_RUNNING),
    [CAMPAIGN_SCHEDULED] = (1u << CAMPAIGN_DRAFT) | (1u << CAMPAIGN_RUNNING) |
                           (1u << CAMPAIGN_PAUSED) | (1u << CAMPAIGN_STOPPED),
    [CAMPAIGN_RUNNING] =
        (1u << CAMPAIGN_PAUSED) | (1u << CAMPAIGN_COMPLETED) | (1u << CAMPAIGN_STOPPED),
    [CAMPAIGN_PAUSED] = (1u << CAMPAIGN_RUNNING) | (1u << CAMPAIGN_SCHEDULED) |
                        (1u << CAMPAIGN_STOPPED) | (1u << CAMPAIGN_COMPLETED),
    [CAMPAIGN_COMPLETED] = 0,
    [CAMPAIGN_STOPPED] = 0,
};

const char *campaign_state_name(enum campaign_state s)
{
    return (unsigned)s < CAMPAIGN_STATE_COUNT_ ? names[s] : "unknown";
}

int campaign_state_parse(const char *name)
{
    for (int i = 0; name && i < CAMPAIGN_STATE_COUNT_; i++) {
        if (strcmp(names[i], name) == 0) {
            return i;
        }
    }
    return -1;
}

bool campaign_state_allowed(enum campaign_state from, enum campaign_state to)
{
    if ((unsigned)from >= CAMPAIGN_STATE_COUNT_ || (unsigned)to >= CAMPAIGN_STATE_COUNT_) {
        return false;
    }
    return (allowed[from] >> to) & 1u;
}
