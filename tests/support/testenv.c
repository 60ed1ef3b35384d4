/* SPDX-License-Identifier: MIT */
/* testenv: see testenv.h. */
#include "tests/support/testenv.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

const char *testenv_get(const char *name)
{
    const char *v = getenv(name);
    return (v != NULL && *v != '\0') ? v : NULL;
}

const char *testenv_require(const char *name)
{
    const char *v = testenv_get(name);
    if (v == NULL) {
        fprintf(stderr,
                "%s is not set: run this test through tests/support/run-all.sh "
                "(make test), which starts the private services\n",
                name);
        exit(1);
    }
    return v;
}

const char *testenv_pg_conninfo(void)
{
    return testenv_require("DIALER_PG_CONNINFO");
}

int testenv_redis_port(void)
{
    return atoi(testenv_require("DIALER_REDIS_PORT")); /* NOLINT: trusted test env */
}

const char *testenv_root(void)
{
    const char *r = testenv_get("DIALER_ROOT");
    return r != NULL ? r : ".";
}

const char *testenv_shared(void)
{
    const char *s = testenv_get("DIALER_SHARED");
    struct stat st;
    if (s == NULL || stat(s, &st) != 0 || !S_ISDIR(st.st_mode)) {
        return NULL;
    }
    return s;
}

int testenv_services(const char *action)
{
    char script[4096];
    pid_t pid;
    int status;

    snprintf(script, sizeof(script), "%s/tests/support/services.sh", testenv_root());
    pid = fork();
    if (pid < 0) {
        return -1;
    }
    if (pid == 0) {
        execl("/bin/bash", "bash", script, action, (char *)NULL);
        _exit(127);
    }
    if (waitpid(pid, &status, 0) < 0) {
        return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
