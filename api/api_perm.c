/* SPDX-License-Identifier: MIT */
/*
 * api/perm: the permission matrix -- the one table of which role may do
 * what. Routes name a permission; README.md and GET /api/v1/roles show this
 * table. Decisions where the requirement is silent:
 *   - viewers read everything operational (campaigns, lists, flows, DNC,
 *     extensions, reports) but not the people and keys of the tenant;
 *   - editors run the dialing work (campaigns, lists, flows, DNC) and may
 *     see the users (to know who changed what), but manage no access;
 *   - admins also manage users, API keys, extensions and secrets, and read the audit log;
 *   - webhooks: editors and admins manage endpoints, viewers read them and
 *     their deliveries (the signing secret is shown only at creation and
 *     rotation);
 *   - tenants are managed only by platform operators, whatever their role.
 */
#include <string.h>

#include "api/api.h"

#define V (1u << API_ROLE_VIEWER)
#define E (1u << API_ROLE_EDITOR)
#define A (1u << API_ROLE_ADMIN)

/* clang-format off */
const struct api_perm_row api_perm_matrix[API_PERM_COUNT_] = {
    { API_PERM_PUBLIC,            "public",            V | E | A, false, "no authentication (login, refresh, logout)" },
    { API_PERM_PROFILE_READ,      "profile.read",      V | E | A, false, "read one's own profile (/me)" },
    { API_PERM_ROLES_READ,        "roles.read",        V | E | A, false, "list the roles and their permissions" },
    { API_PERM_USERS_READ,        "users.read",        E | A,     false, "list and read the tenant's users" },
    { API_PERM_USERS_WRITE,       "users.write",       A,         false, "create, change and disable users" },
    { API_PERM_API_KEYS_READ,     "api_keys.read",     A,         false, "list the tenant's API keys (never the secrets)" },
    { API_PERM_API_KEYS_WRITE,    "api_keys.write",    A,         false, "create and revoke API keys" },
    { API_PERM_TENANTS_MANAGE,    "tenants.manage",    V | E | A, true,  "create, list, change and suspend tenants (platform operators)" },
    { API_PERM_CAMPAIGNS_READ,    "campaigns.read",    V | E | A, false, "read campaigns and their state" },
    { API_PERM_CAMPAIGNS_WRITE,   "campaigns.write",   E | A,     false, "create and change campaigns" },
    { API_PERM_CAMPAIGNS_CONTROL, "campaigns.control", E | A,     false, "start, pause, stop campaigns" },
    { API_PERM_LISTS_READ,        "lists.read",        V | E | A, false, "read contact lists and imports" },
    { API_PERM_LISTS_WRITE,       "lists.write",       E | A,     false, "upload and change contact lists" },
    { API_PERM_FLOWS_READ,        "flows.read",        V | E | A, false, "read IVR flows and revisions" },
    { API_PERM_FLOWS_WRITE,       "flows.write",       E | A,     false, "edit IVR flow drafts" },
    { API_PERM_FLOWS_PUBLISH,     "flows.publish",     E | A,     false, "publish and revert IVR flows" },
    { API_PERM_DNC_READ,          "dnc.read",          V | E | A, false, "read the tenant's DNC lists" },
    { API_PERM_DNC_WRITE,         "dnc.write",         E | A,     false, "add and remove DNC entries" },
    { API_PERM_EXTENSIONS_READ,   "extensions.read",   V | E | A, false, "read extensions" },
    { API_PERM_EXTENSIONS_WRITE,  "extensions.write",  A,         false, "claim, bind and release extensions" },
    { API_PERM_REPORTS_READ,      "reports.read",      V | E | A, false, "read call logs, metrics and reports" },
    { API_PERM_AUDIT_READ,        "audit.read",        A,         false, "read the tenant's audit log" },
    { API_PERM_SECRETS_READ,      "secrets.read",      A,         false, "list the tenant's secret names (never the values)" },
    { API_PERM_SECRETS_WRITE,     "secrets.write",     A,         false, "set and delete the tenant's secrets for api_call" },
    { API_PERM_WEBHOOKS_READ,     "webhooks.read",     V | E | A, false, "read webhook endpoints and their deliveries (never the signing secret)" },
    { API_PERM_WEBHOOKS_WRITE,    "webhooks.write",    E | A,     false, "create, change, delete webhook endpoints, rotate secrets, redeliver" },
};

/* clang-format on */

const char *api_role_name(enum api_role r)
{
    switch (r) {
    case API_ROLE_VIEWER:
        return "viewer";
    case API_ROLE_EDITOR:
        return "editor";
    case API_ROLE_ADMIN:
        return "admin";
    default:
        return "none";
    }
}

enum api_role api_role_parse(const char *s)
{
    if (s == NULL) {
        return API_ROLE_NONE;
    }
    if (strcmp(s, "viewer") == 0) {
        return API_ROLE_VIEWER;
    }
    if (strcmp(s, "editor") == 0) {
        return API_ROLE_EDITOR;
    }
    if (strcmp(s, "admin") == 0) {
        return API_ROLE_ADMIN;
    }
    return API_ROLE_NONE;
}

bool api_perm_allows(enum api_perm perm, enum api_role role, bool platform_operator)
{
    const struct api_perm_row *row;

    if ((unsigned)perm >= API_PERM_COUNT_) {
        return false;
    }
    row = &api_perm_matrix[perm];
    if (perm == API_PERM_PUBLIC) {
        return true;
    }
    if (role <= API_ROLE_NONE || role > API_ROLE_ADMIN) {
        return false;
    }
    if (row->platform && !platform_operator) {
        return false;
    }
    return (row->roles & (1u << role)) != 0;
}
