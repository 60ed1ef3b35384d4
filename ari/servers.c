/* SPDX-License-Identifier: MIT */
/*
 * servers: the list of Asterisk servers from dialerd's configuration.
 *
 * Two forms, so a one-server set-up keeps working unchanged:
 *   ari.url = http://127.0.0.1:8088           (with ari.user / ari.password)
 *   ari.servers = a=http://10.0.0.1:8088,b=http://10.0.0.2:8088
 * A name is 1-32 characters of [A-Za-z0-9_-]; URLs must be http://. With
 * ari.servers set, ari.url is ignored. Credentials per server come from a
 * file (ari.credentials-file), never from the config file itself: one
 * "name user password" per line, '#' comments, blank lines ignored; a
 * server without a line uses ari.user / ari.password. The file is read
 * once at start-up (before any loop runs).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ari/ari.h"
#include "core/err.h"

enum { NAME_MAX_LEN = 32, LINE_MAX_LEN = 1024 };

static bool name_ok(const char *s, size_t n)
{
    if (n == 0 || n > NAME_MAX_LEN) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-') {
            return false;
        }
    }
    return true;
}

/* Keeps a copy of the n bytes at s in the list's string table. */
static char *keep(struct ari_server_list *l, const char *s, size_t n)
{
    char **t;
    char *copy = strndup(s, n);

    if (copy == NULL) {
        return NULL;
    }
    t = realloc(l->_strings, (l->_n_strings + 1) * sizeof(*t));
    if (t == NULL) {
        free(copy);
        return NULL;
    }
    l->_strings = t;
    l->_strings[l->_n_strings++] = copy;
    return copy;
}

static int add_server(struct ari_server_list *l, const char *name, size_t nlen, const char *url,
                      size_t ulen, char *err, size_t errlen)
{
    struct ari_client_config *c;

    for (size_t i = 0; i < l->n; i++) {
        if (strlen(l->servers[i].name) == nlen && memcmp(l->servers[i].name, name, nlen) == 0) {
            snprintf(err, errlen, "ari.servers: server \"%.*s\" listed twice", (int)nlen, name);
            return ERR_INVAL;
        }
    }
    if (ulen < 8 || strncmp(url, "http://", 7) != 0) {
        snprintf(err, errlen, "ari.servers: server \"%.*s\": URL must start with http://",
                 (int)nlen, name);
        return ERR_INVAL;
    }
    c = realloc(l->servers, (l->n + 1) * sizeof(*c));
    if (c == NULL) {
        return ERR_NOMEM;
    }
    l->servers = c;
    c = &l->servers[l->n];
    memset(c, 0, sizeof(*c));
    c->name = keep(l, name, nlen);
    c->url = keep(l, url, ulen);
    if (c->name == NULL || c->url == NULL) {
        return ERR_NOMEM;
    }
    l->n++;
    return 0;
}

static int parse_servers(struct ari_server_list *l, const char *spec, char *err, size_t errlen)
{
    const char *p = spec;

    while (*p != '\0') {
        const char *end = p + strcspn(p, ",");
        const char *eq = memchr(p, '=', (size_t)(end - p));
        const char *name = p, *url;
        size_t nlen, ulen;
        int rc;

        while (name < end && isspace((unsigned char)*name)) {
            name++;
        }
        if (eq == NULL) {
            snprintf(err, errlen, "ari.servers: \"%.*s\" is not name=url", (int)(end - p), p);
            return ERR_INVAL;
        }
        nlen = (size_t)(eq - name);
        while (nlen > 0 && isspace((unsigned char)name[nlen - 1])) {
            nlen--;
        }
        if (!name_ok(name, nlen)) {
            snprintf(err, errlen, "ari.servers: bad server name \"%.*s\" (1-32 of A-Z a-z 0-9 _ -)",
                     (int)nlen, name);
            return ERR_INVAL;
        }
        url = eq + 1;
        while (url < end && isspace((unsigned char)*url)) {
            url++;
        }
        ulen = (size_t)(end - url);
        while (ulen > 0 && isspace((unsigned char)url[ulen - 1])) {
            ulen--;
        }
        rc = add_server(l, name, nlen, url, ulen, err, errlen);
        if (rc != 0) {
            return rc;
        }
        p = *end == ',' ? end + 1 : end;
    }
    if (l->n == 0) {
        snprintf(err, errlen, "ari.servers: no server listed");
        return ERR_INVAL;
    }
    return 0;
}

/* Applies "name user password" lines from path to the servers. */
static int read_credentials(struct ari_server_list *l, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    char line[LINE_MAX_LEN];
    int lineno = 0;

    if (f == NULL) {
        int e = errno;
        snprintf(err, errlen, "ari.credentials-file: cannot open %s: %s", path, err_str(-e));
        return ERR_NOTFOUND;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        char *fields[3];
        int nf = 0;
        char *s = line;
        lineno++;
        while (nf < 3) {
            while (*s == ' ' || *s == '\t') {
                s++;
            }
            if (*s == '\0' || *s == '\n' || *s == '\r' || *s == '#') {
                break;
            }
            fields[nf++] = s;
            s += strcspn(s, " \t\r\n");
            if (*s != '\0') {
                *s++ = '\0';
            }
        }
        if (nf == 0) {
            continue;
        }
        if (nf != 3) {
            fclose(f);
            snprintf(err, errlen, "ari.credentials-file: line %d: expected \"name user password\"",
                     lineno);
            return ERR_INVAL;
        }
        bool found = false;
        for (size_t i = 0; i < l->n; i++) {
            if (strcmp(l->servers[i].name, fields[0]) == 0) {
                l->servers[i].user = keep(l, fields[1], strlen(fields[1]));
                l->servers[i].password = keep(l, fields[2], strlen(fields[2]));
                found = true;
            }
        }
        if (!found) {
            fclose(f);
            snprintf(err, errlen, "ari.credentials-file: line %d: no server named \"%s\"", lineno,
                     fields[0]);
            memset(line, 0, sizeof(line));
            return ERR_INVAL;
        }
        memset(line, 0, sizeof(line)); /* it held a password */
    }
    fclose(f);
    return 0;
}

int ari_server_list_parse(struct ari_server_list *l, const struct ari_server_list_spec *spec,
                          char *err, size_t errlen)
{
    int rc;

    memset(l, 0, sizeof(*l));
    err[0] = '\0';
    if (spec->servers != NULL && spec->servers[0] != '\0') {
        rc = parse_servers(l, spec->servers, err, errlen);
    } else if (spec->url != NULL && spec->url[0] != '\0') {
        rc = add_server(l, "default", 7, spec->url, strlen(spec->url), err, errlen);
        if (rc == ERR_INVAL) {
            snprintf(err, errlen, "ari.url: must start with http://");
        }
    } else {
        snprintf(err, errlen, "ari.url: no Asterisk server configured");
        rc = ERR_INVAL;
    }
    for (size_t i = 0; rc == 0 && i < l->n; i++) {
        l->servers[i].user = spec->user;
        l->servers[i].password = spec->password;
    }
    if (rc == 0 && spec->credentials_file != NULL && spec->credentials_file[0] != '\0') {
        rc = read_credentials(l, spec->credentials_file, err, errlen);
    }
    if (rc == ERR_NOMEM) {
        snprintf(err, errlen, "ari: out of memory");
    }
    if (rc != 0) {
        ari_server_list_free(l);
    }
    return rc;
}

void ari_server_list_free(struct ari_server_list *l)
{
    for (size_t i = 0; i < l->_n_strings; i++) {
        size_t n = strlen(l->_strings[i]);
        memset(l->_strings[i], 0, n); /* passwords among them */
        free(l->_strings[i]);
    }
    free(l->_strings);
    free(l->servers);
    memset(l, 0, sizeof(*l));
}
