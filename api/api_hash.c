/* SPDX-License-Identifier: MIT */
/*
 * api/hash: Argon2id (libsodium crypto_pwhash) off the httpd thread.
 *
 * Hashing a password costs tens of milliseconds and tens of megabytes by
 * design, so it never runs on a loop thread. A few worker threads take jobs
 * from one mutex-protected queue (the house default for a work queue) and
 * send each result back to the httpd thread with httpd_post(), where the
 * job's callback runs. Passwords are wiped from memory as soon as a job is
 * done. Lock order: only the pool mutex; no callback runs under it.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "core/err.h"
#include "core/log.h"

enum { MAX_WORKERS = 16, MAX_QUEUE = 256 };

struct hash_job {
    struct hash_job *next;
    struct api *api;
    uint64_t handle;
    bool verify;
    char password[4097]; /* 1000 characters of up to 4 bytes */
    char hash[crypto_pwhash_STRBYTES];
    int status;
    api_hash_done_cb *done;
    void *arg;
};

struct api_hash_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct hash_job *head, *tail;
    size_t queued;
    bool stop;
    int n;
    pthread_t th[MAX_WORKERS];
};

static void job_free(struct hash_job *j)
{
    sodium_memzero(j->password, sizeof(j->password));
    free(j);
}

static void deliver(struct httpd *h, void *arg)
{
    struct hash_job *j = arg;
    (void)h;
    j->done(j->api, j->handle, j->status, j->status == 0 && !j->verify ? j->hash : NULL, j->arg);
    job_free(j);
}

static void run_job(struct api *a, struct hash_job *j)
{
    size_t plen = strlen(j->password);

    if (j->verify) {
        j->status = crypto_pwhash_str_verify(j->hash, j->password, plen) == 0 ? 0 : ERR_AUTH;
    } else {
        j->status =
            crypto_pwhash_str(j->hash, j->password, plen, a->cfg.pwhash_ops, a->cfg.pwhash_mem) == 0
                ? 0
                : ERR_NOMEM;
    }
    sodium_memzero(j->password, sizeof(j->password));
}

static void *worker(void *arg)
{
    struct api *a = arg;
    struct api_hash_pool *p = a->hash;
    struct hash_job *j;

    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (p->head == NULL && !p->stop) {
            pthread_cond_wait(&p->cv, &p->mu);
        }
        if (p->stop) {
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        j = p->head;
        p->head = j->next;
        if (p->head == NULL) {
            p->tail = NULL;
        }
        p->queued--;
        pthread_mutex_unlock(&p->mu);
        run_job(a, j);
        if (a->httpd == NULL || httpd_post(a->httpd, deliver, j) != 0) {
            job_free(j);
        }
    }
}

int api__hash_pool_start(struct api *a, int threads)
{
    struct api_hash_pool *p = calloc(1, sizeof(*p));
    int i;

    if (p == NULL) {
        return ERR_NOMEM;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    a->hash = p;
    if (threads > MAX_WORKERS) {
        threads = MAX_WORKERS;
    }
    for (i = 0; i < threads; i++) {
        if (pthread_create(&p->th[i], NULL, worker, a) != 0) {
            break;
        }
        pthread_setname_np(p->th[i], "api-hash");
        p->n++;
    }
    return p->n > 0 ? 0 : ERR_NOMEM;
}

void api__hash_pool_stop(struct api *a)
{
    struct api_hash_pool *p = a->hash;
    struct hash_job *j;
    int i;

    if (p == NULL) {
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (i = 0; i < p->n; i++) {
        pthread_join(p->th[i], NULL);
    }
    while (p->head != NULL) {
        j = p->head;
        p->head = j->next;
        job_free(j);
    }
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
    a->hash = NULL;
}

static int submit(struct api *a, uint64_t handle, bool verify, const char *password,
                  const char *hash, api_hash_done_cb *done, void *arg)
{
    struct api_hash_pool *p = a->hash;
    struct hash_job *j;

    if (strlen(password) >= sizeof(j->password) ||
        (hash != NULL && strlen(hash) >= sizeof(j->hash))) {
        return ERR_INVAL;
    }
    j = calloc(1, sizeof(*j));
    if (j == NULL) {
        return ERR_NOMEM;
    }
    j->api = a;
    j->handle = handle;
    j->verify = verify;
    snprintf(j->password, sizeof(j->password), "%s", password);
    if (hash != NULL) {
        snprintf(j->hash, sizeof(j->hash), "%s", hash);
    }
    j->done = done;
    j->arg = arg;
    pthread_mutex_lock(&p->mu);
    if (p->queued >= MAX_QUEUE) {
        pthread_mutex_unlock(&p->mu);
        job_free(j);
        return ERR_BUSY;
    }
    if (p->tail != NULL) {
        p->tail->next = j;
    } else {
        p->head = j;
    }
    p->tail = j;
    p->queued++;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return 0;
}

int api__hash_password(struct api *a, uint64_t handle, const char *password, api_hash_done_cb *done,
                       void *arg)
{
    return submit(a, handle, false, password, NULL, done, arg);
}

int api__hash_verify(struct api *a, uint64_t handle, const char *password, const char *hash,
                     api_hash_done_cb *done, void *arg)
{
    return submit(a, handle, true, password, hash, done, arg);
}
