/* SPDX-License-Identifier: MIT */
/*
 * Internal to the api module: what the campaign route files share
 * (api_campaigns.c: CRUD, transitions, history, lists;
 * api_campaigns_calls.c: attempts, call logs, CSV export, ready set;
 * api_callbacks.c: a contact's callback).
 */
#ifndef API_API_CAMPAIGNS_H
#define API_API_CAMPAIGNS_H

#include <stddef.h>
#include <stdint.h>

#include "api/api.h"

/* The attempt/call routes and the ready set (api_campaigns_calls.c). */
int api__campaign_calls_routes(struct api *a);

/* POST /api/v1/contacts/{id}/callback (api_callbacks.c). */
int api__contact_callback_routes(struct api *a);

/*
 * The attempts/calls cursor: base64url of "<time us>.<uuid>". make writes it
 * into out (at least 128 bytes), 0 or ERR_TOOBIG; parse gives the time as
 * decimal text (tsz >= 24) and the uuid (37 bytes), 0 or ERR_PARSE. Pure.
 */
int api__campaign_cursor_make(int64_t t_us, const char *id, char *out, size_t outsz);
int api__campaign_cursor_parse(const char *c, char *t_out, size_t tsz, char *id_out);

#endif
