/* SPDX-License-Identifier: MIT */
/*
 * simc: a small blocking ARI client for ari-sim's tests.
 *
 * It starts the ari-sim program on a free port, sends REST requests with
 * libcurl (Basic auth, keep-alive) and reads the events WebSocket with a
 * plain RFC 6455 client, returning each event as a jansson object. It is
 * meant for test code: calls block (with timeouts) and failures are
 * reported by return values, never by aborting.
 */
#ifndef SIM_SIMC_H
#define SIM_SIMC_H

#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

/* A running simulator process. */
struct simc_proc {
    pid_t pid;
    int port;
    char dir[256]; /* private temporary directory (port file, log) */
    char log[300]; /* its stdout/stderr */
};

/*
 * Starts build/<variant>/ari-sim ($DIALER_BUILD, else build/debug) with
 * --port 0 and the extra arguments (NULL-terminated; may be NULL). Waits up
 * to 5 s for it to listen. Returns 0 or -1.
 */
int simc_start(struct simc_proc *p, const char *const *args);

/* Sends sig (SIGTERM to stop) and waits; returns the exit status or -1. */
int simc_stop(struct simc_proc *p, int sig);

/* True if the log holds a sanitizer report. */
int simc_log_has_sanitizer_report(const struct simc_proc *p);

struct simc_resp {
    long status;
    char reason[64];
    char *body;    /* NUL-terminated; owned; free with simc_resp_free */
    char *headers; /* raw header block */
    json_t *json;  /* parsed body or NULL */
};

void simc_resp_free(struct simc_resp *r);

/*
 * One request to 127.0.0.1:port. body may be NULL; ctype defaults to
 * application/json when a body is given. auth is "user:pass" or NULL.
 * Returns 0 (HTTP exchange happened) or -1 (transport error).
 */
int simc_http(int port, const char *method, const char *path, const char *body, const char *ctype,
              const char *auth, struct simc_resp *out);

struct simc_ws;

/*
 * Opens a WebSocket to path (e.g. "/ari/events?app=x&api_key=u:p").
 * Returns the socket, or NULL with *status set to the HTTP status answered
 * (0 on a transport error).
 */
struct simc_ws *simc_ws_open(int port, const char *path, const char *protocol, int *status,
                             char *resp_headers, size_t hlen);

/* The next event (new reference) or NULL on timeout or close. */
json_t *simc_ws_next(struct simc_ws *w, int timeout_ms);

/* Waits for an event of type for channel id (NULL = any); events before it are dropped. */
json_t *simc_ws_wait(struct simc_ws *w, const char *type, const char *chan_id, int timeout_ms);

/* True once the server closed or the connection dropped. */
int simc_ws_closed(const struct simc_ws *w);

void simc_ws_close(struct simc_ws *w);

#endif
