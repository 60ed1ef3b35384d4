/* SPDX-License-Identifier: MIT */
/*
 * testenv: what integration tests need to find the private services that
 * tests/support/run-all.sh started (see tests/support/services.sh), and to
 * inject faults into them.
 */
#ifndef TESTS_SUPPORT_TESTENV_H
#define TESTS_SUPPORT_TESTENV_H

/*
 * The value of environment variable name, or NULL. Integration tests call
 * testenv_require() in their group setup instead, which skips the whole
 * binary with a clear message when the services are not there.
 */
const char *testenv_get(const char *name);

/* Like testenv_get() but prints a message and exits 1 when name is unset. */
const char *testenv_require(const char *name);

/* libpq conninfo of the private PostgreSQL (superuser "dialer", db "dialer"). */
const char *testenv_pg_conninfo(void);

/* Loopback port of the private Redis. */
int testenv_redis_port(void);

/*
 * Runs tests/support/services.sh with the given action ("restart-pg",
 * "stop-redis", ...) against the running test services. Returns its exit
 * status (0 on success).
 */
int testenv_services(const char *action);

/* Repository root (DIALER_ROOT), or "." */
const char *testenv_root(void);

/* ../shared beside the repository (DIALER_SHARED), or NULL when absent. */
const char *testenv_shared(void);

#endif
