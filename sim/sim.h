/* SPDX-License-Identifier: MIT */
/*
 * sim: ari-sim, an Asterisk REST Interface (ARI) simulator.
 *
 * ari-sim speaks ARI over HTTP and WebSocket the way an Asterisk 22 does (see
 * docs/ari-sim.md and ../shared/ari/NOTES.md): the same paths, parameters,
 * status codes, error bodies, models and events, in the same order. Behind
 * the protocol sits an in-memory telephone network: channels, Local channel
 * pairs, bridges, playbacks and recordings, a small dialplan interpreter
 * (extensions.conf subset, for Local channels, AMD and inbound calls) and
 * simulated far ends whose behaviour comes from a scenario file (answer and
 * failure mixes, ring and talk times, answering machines, DTMF scripts,
 * inbound caller generators). Outcomes are drawn from a seeded random stream
 * per dialed number, so the same seed and the same requests give the same
 * outcomes.
 *
 * Everything runs on one libev loop: libwebsockets serves HTTP and the events
 * WebSocket on that loop, and one timer heap drives every scheduled call
 * event. A struct sim and everything it owns belong to the thread that runs
 * its loop.
 */
#ifndef SIM_SIM_H
#define SIM_SIM_H

#include <stdint.h>

struct ev_loop;
struct sim;

/* Options; strings are borrowed for the duration of sim_create(). */
struct sim_options {
    const char *bind;          /* listen address, "127.0.0.1" */
    int64_t port;              /* 0 picks a free port (see sim_port()) */
    const char *user;          /* ARI user */
    const char *password;      /* ARI password */
    const char *api_docs;      /* directory of the swagger files; NULL = search */
    const char *scenario;      /* scenario JSON file; NULL = built-in default */
    const char *dialplan;      /* extensions.conf subset; NULL = search, "" = none */
    const char *originate_log; /* JSON-lines originate log; NULL = none */
    int64_t seed;              /* outcome seed; -1 = the scenario's (or 1) */
    double time_scale;         /* multiplies every simulated delay (0.1 = 10x faster) */
    const char *system_name;   /* prefix of generated channel ids ("" = none) */
    const char *asterisk_id;   /* entity id in events, "02:fc:00:00:00:01" style */
    const char *version;       /* Asterisk version reported, "22.10.1" */
    const char *channelvars;   /* comma list of variables put in every Channel snapshot */
    int64_t body_limit;        /* request body limit in bytes (Asterisk: 40960) */
};

/* Fills o with the defaults. */
void sim_options_default(struct sim_options *o);

/*
 * Creates a simulator on loop and starts listening. Returns 0 and the new
 * simulator in *out, or a negative code (err.h); messages go to the log.
 */
int sim_create(struct ev_loop *loop, const struct sim_options *opt, struct sim **out);

/* The TCP port actually bound. */
int sim_port(const struct sim *s);

/*
 * Stops listening, drops every connection and frees everything. Safe to call
 * from a callback of the loop (the work is done before it returns).
 */
void sim_destroy(struct sim *s);

/* Fault actions that signals can trigger (SIGUSR1: drop sockets; SIGUSR2: restart). */
void sim_fault_drop_websockets(struct sim *s);
void sim_fault_restart(struct sim *s, int64_t down_ms);

/* True once sim_request_stop() was called (POST /_sim/shutdown or a signal). */
int sim_stop_requested(const struct sim *s);
void sim_request_stop(struct sim *s);

#endif
