/* SPDX-License-Identifier: MIT */
/*
 * httpd_static: web assets from static_dir for GET/HEAD paths no route takes.
 *
 * Containment is enforced by the kernel, not by string checks: the directory
 * is opened once (O_PATH) and every file is opened relative to it with
 * openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS), which refuses "..",
 * absolute paths and symlinks that lead outside (EXDEV). lws has already
 * %-decoded the path and collapsed "/../" before we see it; we additionally
 * refuse any segment that starts with '.', so dotfiles (.env, .git) are never
 * served. On kernels without openat2 we open relative to the directory and
 * check the opened file's real path against the directory's.
 *
 * Directories serve their index.html. Responses carry a MIME type by
 * extension, a weak ETag (size and mtime) honoured by If-None-Match with
 * 304, X-Content-Type-Options: nosniff and Cache-Control: "no-cache" for
 * HTML (so a deploy is seen at once), a year and immutable under /assets/
 * (the bundler's content-hashed files), an hour for the rest. Files are read
 * with pread() in write-buffer-sized pieces as the client takes them; these
 * are small local files, read on the loop thread like nginx does.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/err.h"
#include "core/httpd_int.h"
#include "core/log.h"

static const struct {
    const char *ext;
    const char *type;
} mime_types[] = {
    { "html", "text/html; charset=utf-8" },
    { "htm", "text/html; charset=utf-8" },
    { "css", "text/css; charset=utf-8" },
    { "js", "text/javascript; charset=utf-8" },
    { "mjs", "text/javascript; charset=utf-8" },
    { "json", "application/json" },
    { "map", "application/json" },
    { "txt", "text/plain; charset=utf-8" },
    { "csv", "text/csv; charset=utf-8" },
    { "xml", "application/xml" },
    { "svg", "image/svg+xml" },
    { "png", "image/png" },
    { "jpg", "image/jpeg" },
    { "jpeg", "image/jpeg" },
    { "gif", "image/gif" },
    { "webp", "image/webp" },
    { "ico", "image/x-icon" },
    { "woff", "font/woff" },
    { "woff2", "font/woff2" },
    { "ttf", "font/ttf" },
    { "wasm", "application/wasm" },
    { "pdf", "application/pdf" },
    { "wav", "audio/wav" },
    { "mp3", "audio/mpeg" },
};

static const char *mime_type(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash != NULL ? slash : path, '.');

    if (dot != NULL) {
        for (size_t i = 0; i < sizeof(mime_types) / sizeof(mime_types[0]); i++) {
            if (strcasecmp(dot + 1, mime_types[i].ext) == 0) {
                return mime_types[i].type;
            }
        }
    }
    return "application/octet-stream";
}

int httpd__static_open(struct httpd *h)
{
    int fd = open(h->cfg.static_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);

    if (fd == -1) {
        int e = errno;
        LOG_ERRNO(ERR, HTTPD, e, "event=static_dir_failed server=%s dir=\"%s\"", h->cfg.name,
                  h->cfg.static_dir);
        return -e;
    }
    h->static_fd = fd;
    return 0;
}

/* True when a path segment starts with '.' (".", "..", dotfiles) or has a backslash. */
static bool path_refused(const char *path)
{
    for (const char *s = path; *s != '\0'; s++) {
        if (*s == '\\') {
            return true;
        }
        if (*s == '/' && s[1] == '.') {
            return true;
        }
    }
    return false;
}

/* Fallback for kernels without openat2: open, then check where we landed. */
static int open_checked(int dirfd, const char *rel)
{
    char link[64], dir[PATH_MAX], got[PATH_MAX];
    ssize_t dl, gl;
    int fd = openat(dirfd, rel, O_RDONLY | O_CLOEXEC | O_NOCTTY);

    if (fd == -1) {
        return -errno;
    }
    snprintf(link, sizeof(link), "/proc/self/fd/%d", dirfd);
    dl = readlink(link, dir, sizeof(dir) - 1);
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    gl = readlink(link, got, sizeof(got) - 1);
    if (dl <= 0 || gl <= 0) {
        close(fd);
        return -EACCES;
    }
    dir[dl] = '\0';
    got[gl] = '\0';
    if (strncmp(got, dir, (size_t)dl) != 0 || got[dl] != '/') {
        close(fd);
        return -EXDEV;
    }
    return fd;
}

/* Opens rel beneath dirfd. Returns an fd or -errno (EXDEV: it leads outside). */
static int open_beneath(int dirfd, const char *rel)
{
    struct open_how how;
    long fd;

    memset(&how, 0, sizeof(how));
    how.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));
    if (fd == -1) {
        int e = errno;
        if (e == ENOSYS) {
            return open_checked(dirfd, rel);
        }
        return -e;
    }
    return (int)fd;
}

static void static_fail(struct httpd_req *req, int err)
{
    if (err == EXDEV || err == EACCES || err == EPERM) {
        httpd__fail(req, HTTPD_STATUS_FORBIDDEN, "forbidden", "access to this file is not allowed");
    } else {
        httpd__fail(req, HTTPD_STATUS_NOT_FOUND, "not_found", "no such resource");
    }
}

static const char *cache_control(const char *path, const char *ctype)
{
    if (strncmp(ctype, "text/html", 9) == 0) {
        return "no-cache";
    }
    if (strncmp(path, "/assets/", 8) == 0) {
        return "public, max-age=31536000, immutable";
    }
    return "public, max-age=3600";
}

void httpd__static_serve(struct httpd_req *req)
{
    struct httpd *h = req->h;
    const char *rel;
    const char *ctype;
    const char *inm;
    char *extra, etag[64];
    struct stat st;
    size_t plen = strlen(req->path);
    int fd;

    if (path_refused(req->path)) {
        static_fail(req, ENOENT);
        return;
    }
    rel = req->path + 1;
    if (*rel == '\0' || req->path[plen - 1] == '/') {
        rel = arena_sprintf(&req->arena, "%sindex.html", rel);
    }
    fd = rel != NULL ? open_beneath(h->static_fd, rel) : -ENOMEM;
    if (fd < 0) {
        static_fail(req, -fd);
        return;
    }
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        int ifd = open_beneath(fd, "index.html");
        close(fd);
        fd = ifd;
        if (fd < 0) {
            static_fail(req, -fd);
            return;
        }
        rel = "index.html";
        if (fstat(fd, &st) != 0) {
            st.st_mode = 0;
        }
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        static_fail(req, ENOENT);
        return;
    }
    ctype = mime_type(rel);
    snprintf(etag, sizeof(etag), "W/\"%llx-%llx\"", (unsigned long long)st.st_size,
             (unsigned long long)st.st_mtim.tv_sec * 1000000000ULL +
                 (unsigned long long)st.st_mtim.tv_nsec);
    extra = arena_sprintf(&req->arena,
                          "ETag: %s\r\nCache-Control: %s\r\nX-Content-Type-Options: nosniff\r\n",
                          etag, cache_control(req->path, ctype));
    if (extra == NULL) {
        close(fd);
        httpd__fail(req, HTTPD_STATUS_INTERNAL_ERROR, "internal_error", "internal error");
        return;
    }
    inm = httpd_req_header(req, "if-none-match");
    if (inm != NULL && strstr(inm, etag) != NULL) {
        close(fd);
        httpd__respond(req, HTTPD_STATUS_NOT_MODIFIED, NULL, NULL, 0, extra, false);
        return;
    }
    httpd__respond_file(req, HTTPD_STATUS_OK, ctype, fd, (int64_t)st.st_size, extra);
}

ssize_t httpd__static_read(struct httpd_resp *r, unsigned char *buf, size_t size)
{
    int64_t left = r->file_len - r->file_off;
    ssize_t n;

    if ((int64_t)size > left) {
        size = (size_t)left;
    }
    do {
        n = pread(r->fd, buf, size, (off_t)r->file_off);
    } while (n == -1 && errno == EINTR);
    if (n == -1) {
        return -errno;
    }
    if (n == 0 && size > 0) {
        return -EIO; /* the file shrank under us */
    }
    r->file_off += n;
    return n;
}
