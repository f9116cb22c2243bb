/* acme_sched.c - serve's ACME scheduler: the account, which hosted domain needs a certificate
 * now, and the threads that order them ([acme] concurrency at once), off the event loops. */
#include "server/server_int.h"
#include "server/acme_int.h"
#include "acme/acme.h"
#include "common/common.h"
#include "hosted/hosted.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/rand.h>

#define PLAN_EVERY_S 60    /* a full pass over every hosted domain at least this often */
#define REQUESTS_EVERY_S 2 /* how often renewal requests (`stsd certs renew`) are looked for */
#define CERTS_GAP_S 5 /* a change of certificates is planned for this long after the last pass */

/* The running scheduler, for srv__acme_kick from the control thread. */
static _Atomic(struct srv_acme *) running;
/* The state made before the privilege drop; serve exits without fini when it fails to start
 * after that, and this keeps what it holds reachable (not a leak) until then. */
static struct srv_acme *made;

static int acme_on(const struct stsd_config *cfg)
{
    return cfg->acme_directory != NULL && cfg->acme_directory[0] != '\0';
}

static int cancelled(void *arg)
{
    return atomic_load(&((struct srv_acme *)arg)->stop);
}

/* The ACME client's options from the configuration, cancelled when the scheduler stops. */
static void acme_options(struct srv_acme *a, struct acme_options *o)
{
    memset(o, 0, sizeof(*o));
    o->directory = a->cfg->acme_directory;
    o->contact = a->cfg->acme_contact;
    o->ca_file = a->cfg->acme_ca_file;
    o->challenge = a->cfg->acme_challenge == 1 ? "tls-alpn-01" : "http-01";
    o->cancelled = cancelled;
    o->cancel_arg = a;
}

int64_t srv__acme_wait(int failures, long retry_after)
{
    uint32_t rnd = 0;
    if (RAND_bytes((unsigned char *)&rnd, sizeof(rnd)) != 1)
        rnd = (uint32_t)time(NULL);
    int64_t w = acme_backoff(failures, rnd, 0);
    /* Test-only knob: the tests of back-off cannot wait minutes for a second failure. It only
     * ever shortens the back-off (a divisor), never below one second, and never the CA's
     * Retry-After. Not for operators. */
    const char *div = getenv("STSD_TEST_ACME_BACKOFF_DIV");
    if (div != NULL && atol(div) > 1) {
        w /= atol(div);
        if (w < 1)
            w = 1;
    }
    return w > retry_after ? w : (int64_t)retry_after;
}

/* Register the account (or find it: the same key finds the same account). 0, or -1 with the
 * error in *e. */
static int account(struct srv_acme *a, struct acme_client *c, struct acme_error *e)
{
    memset(e, 0, sizeof(*e));
    int created = 0;
    char q[600];
    if (acme_client_account(c, &created, e) != 0)
        return -1;
    log_event(LOG_INFO, "acme.account", "created=%d url=%s directory=%s", created,
              log_field(q, sizeof(q), acme_client_account_url(c)), a->cfg->acme_directory);
    return 0;
}

/* One full pass: the domains due are queued once the account is registered. While it cannot
 * be, each of them records the failure (acme.order.fail step=account) and backs off as a
 * failed order would, and the account is tried again when the first of them is due. Returns
 * whether the account is registered. */
static int pass(struct srv_acme *a, struct hosted *h, struct acme_client *c, int account_ok,
                int64_t now, int *tried)
{
    char **due = NULL;
    size_t n = 0;
    pthread_mutex_lock(&a->mu);
    a->next_due = 0;
    strv_free(a->finished, a->n_finished);
    a->finished = NULL;
    a->n_finished = 0;
    pthread_mutex_unlock(&a->mu);
    srv__acme_plan(a, h, now, &due, &n);
    struct acme_error e;
    if (n > 0 && !account_ok && !atomic_load(&a->stop)) {
        /* the first step of these orders, one exchange for all of them: in flight */
        srv_acme_inflight(1);
        account_ok = account(a, c, &e) == 0;
        srv_acme_inflight(-1);
        *tried = 1;
    }
    if (account_ok) {
        srv__acme_enqueue(a, due, n);
    } else if (n > 0) {
        for (size_t i = 0; i < n && !atomic_load(&a->stop); i++) {
            int64_t retry_until = 0, next_attempt = 0;
            srv__acme_failed(h, due[i], now, e.status, &e, &retry_until, &next_attempt);
            pthread_mutex_lock(&a->mu);
            srv__acme_done(a, due[i], retry_until, next_attempt);
            pthread_mutex_unlock(&a->mu);
        }
    }
    strv_free(due, n);
    return account_ok;
}

int srv__acme_thread_open(struct srv_acme *a, const char *event, struct hosted **h,
                          struct acme_client **c)
{
    char err[512], q[600];
    *h = hosted_open(a->cfg, 0, err, sizeof(err));
    struct acme_options o;
    acme_options(a, &o);
    *c = acme_client_new(&o, a->key);
    if (*h != NULL && *c != NULL)
        return 0;
    log_event(LOG_ERROR, event, "error=%s",
              log_quote(q, sizeof(q), *h ? "cannot make an ACME client" : err));
    hosted_close(*h);
    acme_client_free(*c);
    return -1;
}

/* 1 when a renewal was asked for a domain (a row with request set). */
static int requests_pending(struct hosted *h)
{
    struct hosted_acme *rows = NULL;
    size_t n = 0;
    int any = 0;
    if (hosted_acme_list(h, &rows, &n) == 0)
        for (size_t i = 0; i < n && !any; i++)
            any = rows[i].request != 0;
    hosted_acme_free(rows, n);
    return any;
}

/* When the next full pass is due, from what woke the planner (a->mu held). */
static int64_t next_pass(struct srv_acme *a, int64_t next_full, int64_t last_full, int64_t now)
{
    if (a->kick & SRV_ACME_KICK_POLICIES)
        next_full = now;
    if ((a->kick & SRV_ACME_KICK_CERTS) && last_full + CERTS_GAP_S < next_full)
        next_full = last_full + CERTS_GAP_S;
    if (a->next_due > 0 && a->next_due < next_full)
        next_full = a->next_due;
    a->kick = 0;
    return next_full;
}

/*
 * The planner. A full pass (srv__acme_plan) reads every policy file and certificate, so it runs
 * when something may have changed: at once after a policy reload (a new domain), within
 * CERTS_GAP_S of a change in the certificate directory (a certificate replaced or removed; the
 * scheduler's own installs change it too, hence the gap), when a back-off ends, when a renewal
 * is asked (looked for every REQUESTS_EVERY_S), and every PLAN_EVERY_S (certificates come due
 * by the day).
 */
static void *planner_main(void *arg)
{
    struct srv_acme *a = arg;
    struct hosted *h;
    struct acme_client *c;
    if (srv__acme_thread_open(a, "acme.plan", &h, &c) != 0)
        return NULL;
    int account_ok = 0, tried = 0;
    int64_t next_full = 0, last_full = 0;
    while (!atomic_load(&a->stop)) {
        int64_t now = (int64_t)time(NULL);
        if (now >= next_full || requests_pending(h)) {
            account_ok = pass(a, h, c, account_ok, now, &tried);
            last_full = now;
            next_full = now + PLAN_EVERY_S;
        }
        if (!tried && !account_ok && !atomic_load(&a->stop)) {
            /* nothing was due at start: the account is registered now all the same, so that
             * the log says at once whether the CA can be reached */
            struct acme_error e;
            char q[600];
            account_ok = account(a, c, &e) == 0;
            if (!account_ok && !atomic_load(&a->stop))
                log_event(LOG_WARN, "acme.backoff",
                          "step=account status=%s detail=%s retry_after=%ld directory=%s "
                          "note=\"tried again when a certificate is due\"",
                          acme_status_name(e.status), log_quote(q, sizeof(q), e.detail),
                          e.retry_after, a->cfg->acme_directory);
        }
        tried = 1;
        struct timespec dl;
        clock_gettime(CLOCK_MONOTONIC, &dl);
        pthread_mutex_lock(&a->mu);
        next_full = next_pass(a, next_full, last_full, now);
        int64_t until = next_full < now + REQUESTS_EVERY_S ? next_full : now + REQUESTS_EVERY_S;
        dl.tv_sec += (time_t)(until > now ? until - now : 0);
        while (a->kick == 0 && !atomic_load(&a->stop) &&
               pthread_cond_timedwait(&a->plan_cv, &a->mu, &dl) == 0)
            ;
        next_full = next_pass(a, next_full, last_full, (int64_t)time(NULL));
        pthread_mutex_unlock(&a->mu);
    }
    acme_client_free(c);
    hosted_close(h);
    return NULL;
}

/* Wake the planner with `kick` (SRV_ACME_KICK_*), or every thread to end (stop = 1). */
static void wake(struct srv_acme *a, int kick, int stop)
{
    pthread_mutex_lock(&a->mu);
    if (stop)
        atomic_store(&a->stop, 1);
    a->kick |= kick;
    pthread_cond_broadcast(&a->plan_cv);
    if (stop)
        pthread_cond_broadcast(&a->work_cv);
    pthread_mutex_unlock(&a->mu);
}

void srv__acme_kick(int what)
{
    struct srv_acme *a = atomic_load(&running);
    if (a != NULL && what != 0)
        wake(a, what, 0);
}

/* ---- the module ---- */

/* Before the privilege drop: the account directory (0700) and key (0600), given to [server]
 * user, so that a later start as that user reads them too. */
static int acme_secrets(struct srv *s, int idx, char *err, size_t errlen)
{
    const struct stsd_config *cfg = s->cfg;
    if (!acme_on(cfg) || s->module_state[idx] != NULL)
        return 0;
    char *dir = hosted_path_acme(cfg);
    if (mkdir(dir, 0700) == 0) {
        srv__priv_created(dir);
    } else if (errno != EEXIST) {
        snprintf(err, errlen, "cannot create the ACME directory %s: %s", dir, strerror(errno));
        free(dir);
        return -1;
    }
    char *path = xasprintf("%s/account.key", dir);
    free(dir);
    struct stat st;
    int existed = stat(path, &st) == 0;
    char kerr[400];
    EVP_PKEY *key = acme_account_key_load(path, kerr, sizeof(kerr));
    if (key == NULL) {
        snprintf(err, errlen, "ACME account key %s: %s%s", path, kerr, srv__priv_hint(errno));
        free(path);
        return -1;
    }
    if (!existed)
        srv__priv_created(path);
    free(path);
    struct srv_acme *a = xcalloc(1, sizeof(*a));
    a->cfg = cfg;
    a->key = key;
    s->module_state[idx] = a;
    made = a;
    return 0;
}

static int acme_init(struct srv *s, int idx, char *err, size_t errlen)
{
    const struct stsd_config *cfg = s->cfg;
    srv_acme_set_enabled(acme_on(cfg));
    if (!acme_on(cfg))
        return 0;
    if (s->module_state[idx] == NULL && acme_secrets(s, idx, err, errlen) != 0)
        return -1;
    struct srv_acme *a = s->module_state[idx];
    int n = cfg->acme_concurrency > 0 ? cfg->acme_concurrency : 1;
    /* one challenge per order (one name each), with room for an order's leftovers */
    srv__acme_chal_init((size_t)n * 4);
    pthread_mutex_init(&a->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&a->plan_cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&a->work_cv, NULL);
    a->workers = xcalloc((size_t)n, sizeof(*a->workers));
    for (int i = 0; i < n; i++) {
        if (pthread_create(&a->workers[i], NULL, srv__acme_worker_main, a) != 0)
            break;
        a->n_workers++;
    }
    a->planner_on = a->n_workers > 0 && pthread_create(&a->planner, NULL, planner_main, a) == 0;
    if (!a->planner_on) {
        snprintf(err, errlen, "acme: cannot start the scheduler's threads");
        return -1;
    }
    atomic_store(&running, a);
    log_event(LOG_INFO, "acme.ready",
              "directory=%s challenge=%s concurrency=%d renew_before=%lld http_listen=%s",
              cfg->acme_directory, cfg->acme_challenge == 1 ? "tls-alpn-01" : "http-01",
              a->n_workers, (long long)cfg->acme_renew_before,
              cfg->acme_challenge == 1 ? "-" : cfg->acme_http_listen);
    return 0;
}

/* A graceful stop starts: orders under way are cancelled at their next step. */
static void acme_thread_stopping(struct srv_thread *t, int idx)
{
    struct srv_acme *a = t->srv->module_state[idx];
    if (a != NULL && atomic_load(&running) != NULL)
        wake(a, 0, 1);
}

static void acme_fini(struct srv *s, int idx)
{
    struct srv_acme *a = s->module_state[idx];
    if (a == NULL)
        return;
    atomic_store(&running, NULL);
    if (a->workers != NULL) { /* init ran */
        wake(a, 0, 1);
        if (a->planner_on)
            pthread_join(a->planner, NULL);
        srv__threads_end(&a->mu, &a->stop, &a->work_cv, &a->plan_cv, a->workers, a->n_workers);
    }
    for (size_t i = a->q_head; i < a->n_queue; i++)
        free(a->queue[i]);
    free(a->queue);
    strv_free(a->busy, a->n_busy);
    strv_free(a->finished, a->n_finished);
    for (size_t i = 0; i < a->n_retry; i++)
        free(a->retry[i].domain);
    free(a->retry);
    free(a->workers);
    EVP_PKEY_free(a->key);
    srv__acme_chal_fini();
    free(a);
    made = NULL;
    s->module_state[idx] = NULL;
    srv_acme_set_enabled(0);
}

/* In the order of struct srv_module: name, init (the threads start), secrets (before the
 * privilege drop), no thread_start, thread_stopping (orders under way are cancelled as soon as
 * a graceful stop begins), no thread_stop, fini (the threads are joined). */
const struct srv_module srv_acme_module = {
    "acme", acme_init, acme_secrets, NULL, acme_thread_stopping, NULL, acme_fini};
