/* SPDX-License-Identifier: MIT */
/*
 * err: the project's error codes.
 *
 * Fallible functions return int: 0 on success, a negative code on failure. A
 * code in (-1000, 0) is a negated errno value (a system error); project codes
 * are numbered from -1001 down and come from the one table below, which also
 * generates err_name() and err_str(). Expected outcomes that are not failures
 * ("later", "not mine") have their own codes (ERR_AGAIN, ERR_DECLINED) so
 * callers can test for them by name.
 */
#ifndef CORE_ERR_H
#define CORE_ERR_H

/* clang-format off */
#define ERR_MAP(X)                                                                 \
    X(NOMEM,        -1001, "out of memory")                                        \
    X(INVAL,        -1002, "invalid argument")                                     \
    X(AGAIN,        -1003, "try again later")                                      \
    X(DECLINED,     -1004, "not handled here")                                     \
    X(TIMEOUT,      -1005, "timed out")                                            \
    X(CANCELED,     -1006, "canceled")                                             \
    X(CLOSED,       -1007, "connection closed")                                    \
    X(NOTFOUND,     -1008, "not found")                                            \
    X(EXISTS,       -1009, "already exists")                                       \
    X(CONFLICT,     -1010, "conflicting state")                                    \
    X(PARSE,        -1011, "malformed input")                                      \
    X(RANGE,        -1012, "value out of range")                                   \
    X(TOOBIG,       -1013, "too large")                                            \
    X(UNKNOWN_KEY,  -1014, "unknown configuration key")                            \
    X(IO,           -1015, "input/output error")                                   \
    X(DISCONNECTED, -1016, "not connected")                                        \
    X(BUSY,         -1017, "resource busy")                                        \
    X(PROTO,        -1018, "protocol error")                                       \
    X(DB,           -1019, "database error")                                       \
    X(KV,           -1020, "key-value store error")                                \
    X(HTTP,         -1021, "HTTP error")                                           \
    X(AUTH,         -1022, "authentication failed")                                \
    X(FORBIDDEN,    -1023, "not allowed")                                          \
    X(SHUTDOWN,     -1024, "shutting down")                                        \
    X(INTERNAL,     -1025, "internal error")

/* clang-format on */

enum err_code {

#define ERR_ENUM_(name, val, str) ERR_##name = (val),
    ERR_MAP(ERR_ENUM_)
#undef ERR_ENUM_
        ERR_OK = 0
};

/*
 * Returns the symbolic name of code ("ERR_TIMEOUT", "ECONNREFUSED") or
 * "UNKNOWN". The string is static; any thread may call.
 */
const char *err_name(int code);

/*
 * Returns a human-readable description of code. For negated errno values the
 * C library's description is used (thread-safe, unlike strerror). Static.
 */
const char *err_str(int code);

#endif
