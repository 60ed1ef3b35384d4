/* SPDX-License-Identifier: MIT */
/*
 * Shared helpers of the resource route files (api_lists.c, api_imports.c):
 * a result collector for "one object" and "a page of objects" queries and
 * their done callbacks, so each route is a validation step and one SQL
 * statement; and the route-table registration every api file uses.
 * Internal to the api module; resource files use only api/api.h and this
 * header, never api/api_int.h.
 */
#ifndef API_API_REST_H
#define API_API_REST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/api.h"

/* What a query collected (arena-allocated with the request). */
struct rest_out {
    json_t *items;   /* page: array of objects */
    json_t *obj;     /* one object */
    int64_t version; /* ETag of obj */
    int64_t last_id; /* page: id of the last row kept */
    int64_t limit;   /* page: rows beyond it are the "more" probe */
    bool more;
    int64_t found;            /* rows matched before a condition (If-Match, state) */
    int created;              /* status to answer (0: 200); 204 answers without body */
    const char *location;     /* prefix for Location: "<prefix>/<obj.id>" */
    const char *missing;      /* 404 message ("no such list") */
    const char *sqlstate_409; /* a SQLSTATE answered 409 conflict_msg (e.g. 23503) */
    const char *conflict_msg;
};

/*
 * Adds the n routes of a route table (api_route_add each, in order). Stops at
 * the first error and returns it; the routes added before it stay. Main
 * thread, before api_mount.
 */
int api__routes_add(struct api *a, const struct api_route *routes, size_t n);

struct rest_out *rest_out_new(struct api_ctx *ctx, const char *missing);

/* Rows (id, json) -> items (limit + 1 probe). */
int rest_rows_page(struct api_ctx *ctx, PGresult *res, void *arg);
/* One row (found, json, version): json NULL with found > 0 means If-Match failed. */
int rest_rows_one(struct api_ctx *ctx, PGresult *res, void *arg);
/* A first statement "SELECT count(*) ..." whose 0 means the parent is not found. */
int rest_rows_found(struct api_ctx *ctx, PGresult *res, void *arg);

/*
 * GET .../{id}/<children>?limit&cursor: parent_sql counts the parent ($1,
 * the path's id; 0 answers 404 with missing), page_sql selects (key, json)
 * rows with $1 the parent, $2 the cursor's last key and $3 the limit plus
 * one probe row. Returns the handler's answer (HTTPD_DEFERRED or _DONE).
 */
int rest_child_page(struct api_ctx *ctx, const char *missing, const char *parent_sql,
                    const char *page_sql);

/*
 * The two statements of a paged list under a parent: parent_sql counts the
 * parent (its first nparent params; 0 answers 404 with o->missing), page_sql
 * selects (key, json) rows (its first npage params). Answers the DB error
 * itself. Returns HTTPD_DEFERRED or HTTPD_DONE.
 */
int rest_run_page(struct api_ctx *ctx, struct rest_out *o, const char *const *params,
                  const char *parent_sql, int nparent, const char *page_sql, int npage);

/* GET ...?limit&cursor of a top-level collection: sql selects (key, json)
 * rows with $1 the cursor's last key and $2 the limit plus one probe row. */
int rest_page(struct api_ctx *ctx, const char *sql);

/* Answer {"items", "next_cursor"} (404 when found was set to 0 by rest_rows_found). */
void rest_page_done(struct api_ctx *ctx, int status, void *arg);
/* Answer the object with ETag (and Location), 404, 412 or the DB error. */
void rest_one_done(struct api_ctx *ctx, int status, void *arg);

/*
 * GET of the object the path's {id} names: sql ($1 the id) selects one row
 * (found, json[, version]) in the tenant's transaction. Answers the object
 * (with its ETag when sql has a version), 404 not_found with missing when
 * there is no row or {id} is not an id, or the DB error. Returns HTTPD_*.
 */
int rest_get_by_id(struct api_ctx *ctx, const char *missing, const char *sql);

/*
 * DELETE of the object {id} names: sql deletes it ($1) and selects
 * (count deleted, '{}'). Answers 204, 404 with missing, 409 conflict_msg when
 * a foreign key refuses the deletion (SQLSTATE 23503; conflict_msg NULL: the
 * DB error), or the DB error. Returns HTTPD_*.
 */
int rest_delete_by_id(struct api_ctx *ctx, const char *missing, const char *sql,
                      const char *conflict_msg);

/* One statement through api_db_run; answers the DB error itself. Returns HTTPD_*. */
int rest_run(struct api_ctx *ctx, const char *sql, int n, const char *const *params,
             api_rows_cb *rows, api_done_cb *done, struct rest_out *o);

const char *rest_i64(struct api_ctx *ctx, int64_t v);
const char *rest_jstr(const json_t *body, const char *k);
/* JSON true/false/absent -> "t"/"f"/NULL. */
const char *rest_jbool(const json_t *body, const char *k);

/* 422 with the field's JSON path. Returns HTTPD_DONE. */
int rest_invalid(struct api_ctx *ctx, const char *code, const char *field, const char *message);

#endif
