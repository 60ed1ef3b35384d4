/* SPDX-License-Identifier: MIT */
/* simc: see simc.h. Test code: blocking calls with poll() timeouts. */
#include "sim/simc.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void msleep(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

int simc_start(struct simc_proc *p, const char *const *args)
{
    const char *build = getenv("DIALER_BUILD");
    char bin[512], portfile[320];
    const char *argv[64];
    int n = 0;
    FILE *f;

    memset(p, 0, sizeof(*p));
    snprintf(p->dir, sizeof(p->dir), "/tmp/ari-simc-XXXXXX");
    if (mkdtemp(p->dir) == NULL) {
        return -1;
    }
    snprintf(bin, sizeof(bin), "%s/ari-sim", build ? build : "build/debug");
    snprintf(portfile, sizeof(portfile), "%s/port", p->dir);
    snprintf(p->log, sizeof(p->log), "%s/sim.log", p->dir);
    argv[n++] = bin;
    argv[n++] = "--port";
    argv[n++] = "0";
    argv[n++] = "--port-file";
    argv[n++] = portfile;
    for (int i = 0; args != NULL && args[i] != NULL && n < 62; i++) {
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    p->pid = fork();
    if (p->pid < 0) {
        return -1;
    }
    if (p->pid == 0) {
        int fd = open(p->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    for (int i = 0; i < 250; i++) {
        f = fopen(portfile, "r");
        if (f != NULL) {
            int ok = fscanf(f, "%d", &p->port) == 1;
            fclose(f);
            if (ok) {
                return 0;
            }
        }
        if (waitpid(p->pid, NULL, WNOHANG) == p->pid) {
            p->pid = 0;
            return -1;
        }
        msleep(20);
    }
    return -1;
}

int simc_stop(struct simc_proc *p, int sig)
{
    int status = 0;

    if (p->pid <= 0) {
        return -1;
    }
    kill(p->pid, sig);
    for (int i = 0; i < 750; i++) {
        pid_t r = waitpid(p->pid, &status, WNOHANG);
        if (r == p->pid) {
            p->pid = 0;
            if (WIFEXITED(status)) {
                return WEXITSTATUS(status);
            }
            return 128 + WTERMSIG(status);
        }
        msleep(20);
    }
    kill(p->pid, SIGKILL);
    waitpid(p->pid, &status, 0);
    p->pid = 0;
    return -1;
}

int simc_log_has_sanitizer_report(const struct simc_proc *p)
{
    FILE *f = fopen(p->log, "r");
    char line[1024];
    int found = 0;

    if (f == NULL) {
        return 0;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strstr(line, "AddressSanitizer") || strstr(line, "LeakSanitizer") ||
            strstr(line, "runtime error:")) {
            found = 1;
        }
    }
    fclose(f);
    return found;
}

/* ---------------------------------------------------------------------- */

struct grow {
    char *p;
    size_t len;
};

static size_t grow_cb(char *data, size_t size, size_t nmemb, void *arg)
{
    struct grow *g = arg;
    size_t n = size * nmemb;
    char *np = realloc(g->p, g->len + n + 1);
    if (np == NULL) {
        return 0;
    }
    g->p = np;
    memcpy(g->p + g->len, data, n);
    g->len += n;
    g->p[g->len] = '\0';
    return n;
}

void simc_resp_free(struct simc_resp *r)
{
    free(r->body);
    free(r->headers);
    if (r->json != NULL) {
        json_decref(r->json);
    }
    memset(r, 0, sizeof(*r));
}

int simc_http(int port, const char *method, const char *path, const char *body, const char *ctype,
              const char *auth, struct simc_resp *out)
{
    CURL *c = curl_easy_init();
    struct curl_slist *hdrs = NULL;
    struct grow b = { NULL, 0 }, h = { NULL, 0 };
    char url[2048], ct[160];
    CURLcode rc;

    memset(out, 0, sizeof(*out));
    if (c == NULL) {
        return -1;
    }
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, grow_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, grow_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    }
    if (auth != NULL) {
        curl_easy_setopt(c, CURLOPT_USERPWD, auth);
    }
    if (body != NULL) {
        snprintf(ct, sizeof(ct), "Content-Type: %s", ctype ? ctype : "application/json");
        hdrs = curl_slist_append(hdrs, ct);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    hdrs = curl_slist_append(hdrs, "Expect:");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    rc = curl_easy_perform(c);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
        out->body = b.p ? b.p : strdup("");
        out->headers = h.p ? h.p : strdup("");
        if (out->headers != NULL) {
            /* "HTTP/1.1 404 Not Found\r\n" */
            const char *sp = strchr(out->headers, ' ');
            sp = sp ? strchr(sp + 1, ' ') : NULL;
            if (sp != NULL) {
                size_t n = strcspn(sp + 1, "\r\n");
                snprintf(out->reason, sizeof(out->reason), "%.*s", (int)n, sp + 1);
            }
        }
        if (out->body != NULL && out->body[0] != '\0') {
            out->json = json_loads(out->body, JSON_DECODE_ANY, NULL);
        }
    } else {
        free(b.p);
        free(h.p);
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    return rc == CURLE_OK ? 0 : -1;
}

/* ---------------------------------------------------------------------- */

struct simc_ws {
    int fd;
    int closed;
    unsigned char *buf;
    size_t len, cap;
};

static int read_more(struct simc_ws *w, int timeout_ms)
{
    struct pollfd pfd = { w->fd, POLLIN, 0 };
    ssize_t n;

    if (w->closed) {
        return -1;
    }
    if (poll(&pfd, 1, timeout_ms) <= 0) {
        return 0;
    }
    if (w->len + 65536 > w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 131072;
        unsigned char *np = realloc(w->buf, cap);
        if (np == NULL) {
            return -1;
        }
        w->buf = np;
        w->cap = cap;
    }
    n = read(w->fd, w->buf + w->len, w->cap - w->len);
    if (n <= 0) {
        w->closed = 1;
        return -1;
    }
    w->len += (size_t)n;
    return 1;
}

struct simc_ws *simc_ws_open(int port, const char *path, const char *protocol, int *status,
                             char *resp_headers, size_t hlen)
{
    struct sockaddr_in sa;
    struct simc_ws *w;
    char req[2048];
    int fd, n;
    char *end;

    *status = 0;
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return NULL;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        return NULL;
    }
    n = snprintf(req, sizeof(req),
                 "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                 "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                 "Sec-WebSocket-Version: 13\r\n%s%s%s\r\n",
                 path, port, protocol ? "Sec-WebSocket-Protocol: " : "", protocol ? protocol : "",
                 protocol ? "\r\n" : "");
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return NULL;
    }
    w = calloc(1, sizeof(*w));
    if (w == NULL) {
        close(fd);
        return NULL;
    }
    w->fd = fd;
    while ((end = w->buf ? memmem(w->buf, w->len, "\r\n\r\n", 4) : NULL) == NULL) {
        if (read_more(w, 5000) <= 0) {
            break;
        }
    }
    if (end == NULL) {
        simc_ws_close(w);
        return NULL;
    }
    {
        size_t hl = (size_t)((unsigned char *)end - w->buf) + 4;
        if (resp_headers != NULL && hlen > 0) {
            snprintf(resp_headers, hlen, "%.*s", (int)hl, (char *)w->buf);
        }
        sscanf((char *)w->buf, "HTTP/1.1 %d", status);
        memmove(w->buf, w->buf + hl, w->len - hl);
        w->len -= hl;
    }
    if (*status != 101) {
        simc_ws_close(w);
        return NULL;
    }
    return w;
}

/* Takes one complete frame off the buffer; returns its payload or NULL. */
static char *take_frame(struct simc_ws *w, int *opcode, size_t *plen)
{
    size_t off = 2, len;
    char *p;

    if (w->len < 2) {
        return NULL;
    }
    *opcode = w->buf[0] & 0x0f;
    len = w->buf[1] & 0x7f;
    if (len == 126) {
        if (w->len < 4) {
            return NULL;
        }
        len = (size_t)w->buf[2] << 8 | w->buf[3];
        off = 4;
    } else if (len == 127) {
        if (w->len < 10) {
            return NULL;
        }
        len = 0;
        for (int i = 0; i < 8; i++) {
            len = len << 8 | w->buf[2 + i];
        }
        off = 10;
    }
    if (w->len < off + len) {
        return NULL;
    }
    p = malloc(len + 1);
    if (p == NULL) {
        return NULL;
    }
    memcpy(p, w->buf + off, len);
    p[len] = '\0';
    memmove(w->buf, w->buf + off + len, w->len - off - len);
    w->len -= off + len;
    *plen = len;
    return p;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

json_t *simc_ws_next(struct simc_ws *w, int timeout_ms)
{
    long long end = now_ms() + timeout_ms;

    for (;;) {
        int op;
        size_t len;
        char *p = take_frame(w, &op, &len);
        if (p != NULL) {
            json_t *j = NULL;
            if (op == 1) {
                j = json_loadb(p, len, 0, NULL);
            } else if (op == 8) {
                w->closed = 1;
            }
            free(p);
            if (j != NULL) {
                return j;
            }
            continue;
        }
        {
            long long left = end - now_ms();
            if (left <= 0 || read_more(w, (int)left) < 0) {
                return NULL;
            }
        }
    }
}

json_t *simc_ws_wait(struct simc_ws *w, const char *type, const char *chan_id, int timeout_ms)
{
    long long end = now_ms() + timeout_ms;

    for (;;) {
        long long left = end - now_ms();
        json_t *e = simc_ws_next(w, left > 0 ? (int)left : 0);
        const char *t;
        json_t *ch;
        if (e == NULL) {
            return NULL;
        }
        t = json_string_value(json_object_get(e, "type"));
        ch = json_object_get(e, "channel");
        if (ch == NULL) {
            ch = json_object_get(e, "peer");
        }
        if (t != NULL && strcmp(t, type) == 0 &&
            (chan_id == NULL ||
             (ch != NULL &&
              strcmp(json_string_value(json_object_get(ch, "id")) ?: "", chan_id) == 0))) {
            return e;
        }
        json_decref(e);
    }
}

int simc_ws_closed(const struct simc_ws *w)
{
    return w->closed;
}

void simc_ws_close(struct simc_ws *w)
{
    if (w == NULL) {
        return;
    }
    if (w->fd >= 0) {
        close(w->fd);
    }
    free(w->buf);
    free(w);
}
