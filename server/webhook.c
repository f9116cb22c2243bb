/* webhook.c - the alert webhook: a bounded queue and one thread that POSTs JSON with libcurl,
 * retrying with exponential backoff, so that alerts never hold up serving. */
#include "server/admin_int.h"
#include "checker/checker.h"
#include "common/common.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct hook_item {
    struct hook_item *next;
    char *json;
    int low; /* may be dropped first when the queue is full (srv__webhook_post_low) */
};

struct srv_webhook {
    char *url;
    int allow_private; /* [checks] allow_private: may connect to non-public addresses */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct hook_item *head, **tail;
    size_t n;
    int busy;        /* a delivery is in progress or waiting for its retry */
    atomic_int stop; /* also read by the transfer callback, without the mutex */
    int abandon_logged;
};

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
    return size * n;
}

/* Abort a transfer in progress when the server stops (non-zero ends it). */
static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    struct srv_webhook *w = arg;
    return atomic_load(&w->stop);
}

/* Every socket libcurl opens passes here: a non-public address is refused (the attempt then
 * fails with "couldn't connect") unless [checks] allow_private = on. */
static curl_socket_t open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
    struct srv_webhook *w = arg;
    if (!w->allow_private && check_addr_private(&a->addr)) {
        char ip[INET6_ADDRSTRLEN] = "?";
        const void *p = a->family == AF_INET6
                            ? (const void *)&((const struct sockaddr_in6 *)&a->addr)->sin6_addr
                            : (const void *)&((const struct sockaddr_in *)&a->addr)->sin_addr;
        inet_ntop(a->family == AF_INET6 ? AF_INET6 : AF_INET, p, ip, sizeof(ip));
        log_event(LOG_WARN, "alert.refused",
                  "address=%s reason=\"a loopback, private, link-local or other non-public "
                  "address; set [checks] allow_private = on to allow it\"",
                  ip);
        return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype, a->protocol);
}

/* One attempt; 0 when the receiver answered 2xx. */
static int post_once(struct srv_webhook *w, const char *json, long *status, char *err,
                     size_t errlen)
{
    const char *url = w->url;
    CURL *c = curl_easy_init();
    if (c == NULL) {
        snprintf(err, errlen, "curl_easy_init failed");
        return -1;
    }
    char ebuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(json));
    curl_easy_setopt(c, CURLOPT_USERAGENT, "stsd/" STSD_VERSION);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)WEBHOOK_TIMEOUT);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)WEBHOOK_TIMEOUT);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, w);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, w);
    CURLcode rc = curl_easy_perform(c);
    *status = 0;
    int ret = -1;
    if (rc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
        if (*status >= 200 && *status < 300)
            ret = 0;
        else
            snprintf(err, errlen, "HTTP status %ld", *status);
    } else {
        snprintf(err, errlen, "%s", ebuf[0] ? ebuf : curl_easy_strerror(rc));
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    return ret;
}

/* Wait up to `secs` or until stop; returns 1 when stopping. Called with mu held. */
static int wait_secs(struct srv_webhook *w, int secs)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += secs;
    while (!w->stop) {
        if (pthread_cond_timedwait(&w->cv, &w->mu, &ts) == ETIMEDOUT)
            break;
    }
    return w->stop;
}

static void *hook_thread(void *arg)
{
    struct srv_webhook *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (w->head == NULL && !w->stop)
            pthread_cond_wait(&w->cv, &w->mu);
        if (w->stop)
            break;
        struct hook_item *it = w->head;
        w->head = it->next;
        if (w->head == NULL)
            w->tail = &w->head;
        w->n--;
        w->busy = 1;
        int delay = 1, done = 0;
        for (int attempt = 1; attempt <= WEBHOOK_MAX_ATTEMPTS && !done; attempt++) {
            pthread_mutex_unlock(&w->mu);
            char err[CURL_ERROR_SIZE + 32] = "";
            long status = 0;
            done = post_once(w, it->json, &status, err, sizeof(err)) == 0;
            char q[300];
            if (done)
                log_event(LOG_INFO, "alert.sent", "status=%ld attempt=%d", status, attempt);
            else
                log_event(LOG_WARN, "alert.failed", "attempt=%d reason=%s retry_in=%d", attempt,
                          log_quote(q, sizeof(q), err),
                          attempt < WEBHOOK_MAX_ATTEMPTS && !w->stop ? delay : -1);
            srv__metrics_count_webhook(done);
            pthread_mutex_lock(&w->mu);
            if (!done && attempt < WEBHOOK_MAX_ATTEMPTS) {
                if (wait_secs(w, delay))
                    break;
                delay = delay * 2 > WEBHOOK_MAX_BACKOFF ? WEBHOOK_MAX_BACKOFF : delay * 2;
            }
        }
        if (!done && w->stop) {
            log_event(LOG_WARN, "alert.abandoned", "reason=\"stopping\" pending=%zu", w->n + 1);
            w->abandon_logged = 1;
        } else if (!done)
            log_event(LOG_ERROR, "alert.dropped",
                      "reason=\"the webhook did not accept the alert\" attempts=%d",
                      WEBHOOK_MAX_ATTEMPTS);
        w->busy = 0;
        free(it->json);
        free(it);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

struct srv_webhook *srv__webhook_new(const char *url, int allow_private)
{
    struct srv_webhook *w = xcalloc(1, sizeof(*w));
    w->url = xstrdup(url);
    w->allow_private = allow_private;
    w->tail = &w->head;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (pthread_create(&w->thread, NULL, hook_thread, w) != 0) {
        log_event(LOG_ERROR, "alert.thread", "reason=\"cannot start the webhook thread\"");
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        free(w->url);
        free(w);
        return NULL;
    }
    return w;
}

/* The queue is full: make room for `it` by dropping the oldest low-priority body, else (for
 * a low-priority newcomer) the newcomer, else the oldest body. Returns 0 when `it` is the one
 * dropped. Called with mu held. */
static int make_room(struct srv_webhook *w, struct hook_item *it)
{
    struct hook_item **pp = &w->head;
    while (*pp != NULL && !(*pp)->low)
        pp = &(*pp)->next;
    if (*pp == NULL && it->low)
        pp = NULL;
    else if (*pp == NULL)
        pp = &w->head;
    struct hook_item *old = pp ? *pp : it;
    if (pp != NULL) {
        *pp = old->next;
        if (w->tail == &old->next)
            w->tail = pp;
        w->n--;
    }
    log_event(LOG_WARN, "alert.dropped", "reason=\"webhook queue full\" queue=%d which=%s",
              WEBHOOK_QUEUE_MAX, old->low ? "failure_rate" : "oldest");
    free(old->json);
    free(old);
    return pp != NULL;
}

static void post(struct srv_webhook *w, char *json, int low)
{
    if (w == NULL) {
        free(json);
        return;
    }
    struct hook_item *it = xcalloc(1, sizeof(*it));
    it->json = json;
    it->low = low;
    pthread_mutex_lock(&w->mu);
    if (w->n >= WEBHOOK_QUEUE_MAX && !make_room(w, it)) {
        pthread_mutex_unlock(&w->mu);
        return;
    }
    *w->tail = it;
    w->tail = &it->next;
    w->n++;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

void srv__webhook_post(struct srv_webhook *w, char *json)
{
    post(w, json, 0);
}

void srv__webhook_post_low(struct srv_webhook *w, char *json)
{
    post(w, json, 1);
}

size_t srv__webhook_pending(struct srv_webhook *w)
{
    if (w == NULL)
        return 0;
    pthread_mutex_lock(&w->mu);
    size_t n = w->n + (size_t)w->busy;
    pthread_mutex_unlock(&w->mu);
    return n;
}

void srv__webhook_free(struct srv_webhook *w)
{
    if (w == NULL)
        return;
    srv__threads_end(&w->mu, &w->stop, &w->cv, NULL, &w->thread, 1);
    if (w->n > 0 && !w->abandon_logged)
        log_event(LOG_WARN, "alert.abandoned", "reason=\"stopping\" pending=%zu", w->n);
    while (w->head != NULL) {
        struct hook_item *it = w->head;
        w->head = it->next;
        free(it->json);
        free(it);
    }
    free(w->url);
    free(w);
    curl_global_cleanup();
}
