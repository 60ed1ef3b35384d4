/* SPDX-License-Identifier: MIT */
/*
 * Internal to the api module: what the campaign route files share
 * (api_campaigns.c: CRUD, transitions, history, lists;
 * api_campaigns_calls.c: attempts, call logs, CSV export, ready set).
 */
#ifndef API_API_CAMPAIGNS_H
#define API_API_CAMPAIGNS_H

#include <stdint.h>

#include "api/api.h"

/* The attempt/call routes and the ready set (api_campaigns_calls.c). */
int api__campaign_calls_routes(struct api *a);

/* Epoch seconds or RFC 3339 ("2026-11-24T18:00:00Z", offsets allowed) -> epoch us. 0 or ERR_PARSE.
 */
int api__campaign_parse_time(const char *s, int64_t *us);

#endif
