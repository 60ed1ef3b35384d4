/* SPDX-License-Identifier: MIT */
/*
 * server/migrate_cmd: `dialerd migrate` and `dialerd migrate-status`.
 * Uses db.admin-conninfo (the schema owner) when set, else db.conninfo, and
 * the migrations embedded in the binary (server/migrate.h).
 */
#include <stdio.h>

#include "core/err.h"
#include "core/log.h"
#include "server/migrate.h"
#include "server/server.h"

int server_migrate_cmd(const struct server_config *conf, bool status_only)
{
    const char *conninfo = (conf->db_admin_conninfo != NULL && conf->db_admin_conninfo[0] != '\0')
                               ? conf->db_admin_conninfo
                               : conf->db_conninfo;
    struct server_migrate_opts opts = { .lock_wait_ms = 60000 };
    struct server_migrate_result res = { 0 };
    int rc;

    if (status_only) {
        rc = server_migrate_status(conninfo, &opts, stdout, &res);
    } else {
        rc = server_migrate(conninfo, &opts, stdout, &res);
    }
    if (rc != 0) {
        LOG_ERR(SERVER, "event=migrate_failed failed_version=%d err=\"%s\"", res.failed_version,
                err_str(rc));
        return 1;
    }
    LOG_NOTICE(SERVER, "event=migrate_done applied=%d skipped=%d pending=%d version=%d",
               res.applied, res.skipped, res.pending, res.current_version);
    return 0;
}
