/* SPDX-License-Identifier: MIT */
/*
 * campaign internals shared by the module's files (not for other modules).
 */
#ifndef CAMPAIGN_CAMPAIGN_INT_H
#define CAMPAIGN_CAMPAIGN_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "campaign/campaign.h"
#include "compliance/compliance.h"

/* True for '+', a non-zero digit and 6 to 14 more digits. */
bool campaign_e164_valid(const char *s);

/* Days since 1970-01-01 of the proleptic Gregorian date y-m-d. */
int64_t campaign_days_from_civil(int y, int m, int d);

#endif
