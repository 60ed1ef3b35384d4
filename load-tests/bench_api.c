/* SPDX-License-Identifier: MIT */
/*
 * bench_api: authenticated GET throughput and latency of the REST API.
 *
 * Starts the api module on a real httpd on loopback (no access log, as in a
 * busy deployment that ships access logs elsewhere) and runs wrk with
 * keep-alive against GET /api/v1/roles with a bearer token: the full
 * request pipeline (JWT check, permission, handler, JSON answer) without a
 * database round trip, which is what every authenticated request pays
 * before its own queries. Two runs: with the verified-token cache (the
 * default, api.auth-cache) and with it off (every request verifies the
 * HS256 signature with libjwt). No PostgreSQL is needed: the pool points at
 * nothing and stays down.
 *
 *   bench_api quick|full|<seconds>
 *   bench_api verify      only the in-process verification costs (for callgrind)
 * Output: BENCH lines (requests/s and p99 per run). Needs wrk on PATH.
 */
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api/api.h"
#include "api/api_int.h"
#include "core/clock.h"
#include "core/log.h"

extern char **environ;

struct result {
    double rps;
    double p99_ms;
    long non2xx;
};

/* "1.23ms", "850.00us", "1.01s" -> milliseconds. */
static double to_ms(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (strncmp(end, "us", 2) == 0) {
        return v / 1000.0;
    }
    if (strncmp(end, "ms", 2) == 0) {
        return v;
    }
    if (*end == 's') {
        return v * 1000.0;
    }
    return v;
}

static int run_wrk(int port, const char *token, int secs, struct result *res)
{
    char url[128], hdr[1024], dur[16];
    char a0[] = "wrk", a1[] = "-t2", a2[] = "-c16", a3[] = "-d", a5[] = "--latency", a6[] = "-H";
    char *argv[] = { a0, a1, a2, a3, dur, a5, a6, hdr, url, NULL };
    int fds[2];
    posix_spawn_file_actions_t fa;
    pid_t pid;
    FILE *f;
    char line[512];
    int status;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v1/roles", port);
    snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s", token);
    snprintf(dur, sizeof(dur), "%ds", secs);
    if (pipe(fds) != 0) {
        return -1;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    if (posix_spawnp(&pid, "wrk", &fa, NULL, argv, environ) != 0) {
        posix_spawn_file_actions_destroy(&fa);
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    f = fdopen(fds[0], "r");
    memset(res, 0, sizeof(*res));
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        char *p = line;
        while (*p == ' ') {
            p++;
        }
        if (strncmp(p, "Requests/sec:", 13) == 0) {
            res->rps = strtod(p + 13, NULL);
        } else if (strncmp(p, "99%", 3) == 0) {
            res->p99_ms = to_ms(p + 3 + strspn(p + 3, " \t"));
        } else if (strncmp(p, "Non-2xx", 7) == 0) {
            char *c = strchr(p, ':');
            res->non2xx = c != NULL ? strtol(c + 1, NULL, 10) : -1;
        }
        fputs(line, stderr);
    }
    if (f != NULL) {
        fclose(f);
    }
    waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 && res->rps > 0 ? 0 : -1;
}

static int bench_one(const char *name, int64_t cache_s, int secs)
{
    struct api_config ac = {
        .db_conninfo = "host=/nonexistent dbname=none connect_timeout=1",
        .db_pool_size = 1,
        .jwt_keys = "bench=bench-secret-0123456789abcdef0123456789",
        .auth_cache_s = cache_s,
        .pwhash_ops = 1,
        .pwhash_mem = 8192,
        .hash_threads = 1,
    };
    struct httpd_config hc = { .name = "bench", .no_access_log = true, .max_connections = 256 };
    struct api_principal p = {
        .kind = API_PRINCIPAL_USER, .id = 1, .tenant_id = 1, .role = API_ROLE_VIEWER
    };
    struct api *a = NULL;
    struct httpd *h;
    struct result r;
    char *tok;
    int rc;

    if (api_create(&ac, &a) != 0) {
        return -1;
    }
    api_httpd_hooks(a, &hc);
    h = httpd_create(&hc, NULL, 0);
    if (h == NULL || api_mount(a, h) != 0 || httpd_start(h) != 0) {
        httpd_stop(h);
        api_destroy(a);
        return -1;
    }
    tok = api__jwt_issue(a, &p, clock_wall_us() / 1000000);
    rc = run_wrk(httpd_port(h), tok, secs, &r);
    free(tok);
    httpd_stop(h);
    api_destroy(a);
    if (rc != 0) {
        printf("BENCH name=%s_rps value=0 unit=req/s target=10000 ok=no (wrk failed or missing)\n",
               name);
        return -1;
    }
    printf("BENCH name=%s_rps value=%.0f unit=req/s target=10000 ok=%s\n", name, r.rps,
           r.rps >= 10000 && r.non2xx == 0 ? "yes" : "no");
    printf("BENCH name=%s_p99 value=%.2f unit=ms target=10 ok=%s\n", name, r.p99_ms,
           r.p99_ms > 0 && r.p99_ms < 10 ? "yes" : "no");
    return 0;
}

/* In-process cost of one verification and of one cache hit (one core, no HTTP). */
static void bench_verify(void)
{
    struct api_config ac = {
        .jwt_keys = "bench=bench-secret-0123456789abcdef0123456789",
        .pwhash_ops = 1,
        .pwhash_mem = 8192,
        .hash_threads = 1,
    };
    struct api_principal p = {
        .kind = API_PRINCIPAL_USER, .id = 1, .tenant_id = 1, .role = API_ROLE_VIEWER
    };
    struct api_principal out;
    struct api *a = NULL;
    char *tok;
    int64_t now_s = clock_wall_us() / 1000000;
    int64_t t0, t1, t2;
    int i, ok = 0;
    const int n = 200000;

    if (api_create(&ac, &a) != 0) {
        return;
    }
    tok = api__jwt_issue(a, &p, now_s);
    t0 = clock_mono_us();
    for (i = 0; i < n / 10; i++) {
        ok += api__jwt_verify(a, tok, now_s, &out) == 0;
    }
    t1 = clock_mono_us();
    api__cache_put(a, tok, &out, now_s * 1000000);
    for (i = 0; i < n; i++) {
        ok += api__cache_get(a, tok, now_s * 1000000 + 1) != NULL;
    }
    t2 = clock_mono_us();
    if (ok == n / 10 + n) {
        double v = (double)(t1 - t0) / (n / 10);
        double c = (double)(t2 - t1) * 1000.0 / n;
        printf("BENCH name=api_jwt_verify value=%.2f unit=us target= ok=yes\n", v);
        printf("BENCH name=api_auth_cache_hit value=%.0f unit=ns target= ok=yes\n", c);
        printf("BENCH name=api_cache_speedup value=%.1f unit=x target= ok=yes\n", v * 1000.0 / c);
    }
    free(tok);
    api_destroy(a);
}

int main(int argc, char **argv)
{
    int secs = 5;

    if (argc > 1 && strcmp(argv[1], "verify") == 0) {
        log_set_level(LOG_LEVEL_ERR);
        bench_verify(); /* for callgrind: no HTTP, no wrk */
        return 0;
    }
    if (argc > 1) {
        if (strcmp(argv[1], "full") == 0) {
            secs = 20;
        } else if (strcmp(argv[1], "quick") != 0) {
            secs = (int)strtol(argv[1], NULL, 10);
        }
    }
    if (secs <= 0) {
        secs = 5;
    }
    log_set_level(LOG_LEVEL_ERR);
    bench_verify();
    bench_one("api_auth_get_cached", 0, secs);
    bench_one("api_auth_get_uncached", -1, secs);
    return 0;
}
