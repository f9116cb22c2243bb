/* acme_worker.c - an order thread of serve's ACME scheduler: orders one queued domain's
 * certificate at a time, answers its challenges through the challenge table, installs the
 * result and keeps the domain's acme_state row (back-off, errors). */
#include "server/server_int.h"
#include "server/acme_int.h"
#include "acme/acme.h"
#include "common/common.h"
#include "hosted/hosted.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/pem.h>

#define SHORT_LIVED_WAIT                                                                           \
    (24 * 3600) /* a new certificate already due is not ordered again sooner                       \
                 */
#define RELOAD_WAIT_MS 5000
#define SKEW_WAIT_S 30 /* longest wait for a new certificate's notBefore */

/* acme_challenge_ops: the challenge is answered from the table while the CA validates. */
static int present(void *arg, const char *type, const char *host, const char *token,
                   const char *key_auth)
{
    (void)arg;
    if (strcmp(type, "http-01") == 0)
        return srv__acme_chal_add(SRV_ACME_HTTP01, host, token, key_auth, NULL, NULL);
    X509 *cert = NULL;
    EVP_PKEY *key = NULL;
    if (strcmp(type, "tls-alpn-01") != 0 || acme_tlsalpn_cert(host, key_auth, &cert, &key) != 0)
        return -1;
    return srv__acme_chal_add(SRV_ACME_TLSALPN01, host, token, NULL, cert, key);
}

static void cleanup(void *arg, const char *type, const char *host, const char *token)
{
    (void)arg;
    srv__acme_chal_remove(strcmp(type, "http-01") == 0 ? SRV_ACME_HTTP01 : SRV_ACME_TLSALPN01, host,
                          token);
}

static const struct acme_challenge_ops chal_ops = {present, cleanup, NULL};

/* The domain's row (a new one when it has none). -1 when the database fails. */
static int row_get(struct hosted *h, const char *domain, struct hosted_acme *r)
{
    int rc = hosted_acme_get(h, domain, r);
    if (rc == 0) {
        memset(r, 0, sizeof(*r));
        r->domain = xstrdup(domain);
    }
    return rc < 0 ? -1 : 0;
}

static void row_put(struct hosted *h, const struct hosted_acme *r)
{
    if (hosted_acme_put(h, r) != 0)
        log_event(LOG_WARN, "acme.state", "domain=%s error=\"cannot write the acme_state row\"",
                  r->domain);
    else
        srv_metrics_acme_changed(h, r->domain);
}

void srv__acme_failed(struct hosted *h, const char *domain, int64_t started, enum acme_status st,
                      const struct acme_error *e, int64_t *retry_until, int64_t *next_attempt)
{
    srv_acme_count_order((int)st);
    struct hosted_acme r;
    char q[700];
    int64_t now = (int64_t)time(NULL);
    if (row_get(h, domain, &r) != 0)
        return;
    r.failures++;
    if (started > 0)
        r.last_attempt = started;
    snprintf(r.state, sizeof(r.state), "failed");
    free(r.last_error);
    r.last_error = xasprintf("%s: %s", acme_status_name(st), e->detail);
    int64_t w = srv__acme_wait(r.failures, e->retry_after);
    /* whole seconds since a moment ago: one more, so that nothing is sent before the CA's
     * Retry-After has run out */
    if (e->retry_after > 0 && w < e->retry_after + 1)
        w = e->retry_after + 1;
    r.next_attempt = now + w;
    *next_attempt = r.next_attempt;
    r.request = 0;
    row_put(h, &r);
    if (e->retry_after > 0)
        *retry_until = now + e->retry_after + 1;
    char when[21];
    format_rfc3339((time_t)r.next_attempt, when);
    log_event(LOG_WARN, "acme.order.fail",
              "domain=%s step=%s status=%s detail=%s retry_after=%ld http_status=%ld "
              "next_attempt=%s wait=%lld failures=%d",
              domain, started > 0 ? "account" : "order", acme_status_name(st),
              log_quote(q, sizeof(q), e->detail), e->retry_after, e->http_status, when,
              (long long)w, r.failures);
    hosted_acme_clear(&r);
}

/* A CA whose clock runs ahead (or that stamps the second it issues, later than ours) sends a
 * leaf that is not valid yet by a few seconds: wait for it, as the install checks validity
 * now. At most SKEW_WAIT_S; cut short by a stop. */
static void wait_not_before(struct srv_acme *a, const char *chain)
{
    BIO *b = BIO_new_mem_buf(chain, -1);
    X509 *leaf = b != NULL ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    struct tm tm;
    int64_t nb = 0;
    if (leaf != NULL && ASN1_TIME_to_tm(X509_get0_notBefore(leaf), &tm) == 1)
        nb = (int64_t)timegm(&tm);
    X509_free(leaf);
    int64_t now = (int64_t)time(NULL);
    for (int i = 0;
         nb > now && nb - now <= SKEW_WAIT_S && i < SKEW_WAIT_S * 10 && !atomic_load(&a->stop);
         i++) {
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
        now = (int64_t)time(NULL);
    }
}

/* Install the chain + key, serve it from the next handshake, log it. 0, or -1 with err. */
static int installed(struct srv_acme *a, struct hosted *h, struct acme_client *c,
                     const char *domain, const char *chain, const char *key, int64_t t0, char *err,
                     size_t errlen)
{
    char *pem =
        xasprintf("%s%s%s", chain, chain[0] && chain[strlen(chain) - 1] != '\n' ? "\n" : "", key);
    wait_not_before(a, chain);
    int64_t now = (int64_t)time(NULL);
    int rc = hosted_acme_installed(h, domain, pem, strlen(pem), acme_client_account_url(c), now,
                                   err, errlen);
    OPENSSL_cleanse(pem, strlen(pem));
    free(pem);
    if (rc != 0)
        return -1;
    srv_metrics_acme_changed(h, domain);
    /* the certificate directory's watch would see it within a moment; this makes it now */
    srv_reload_now(RELOAD_WAIT_MS);
    struct hosted_acme r;
    if (row_get(h, domain, &r) != 0)
        return 0;
    char when[21];
    format_rfc3339((time_t)r.not_after, when);
    log_event(LOG_INFO, "acme.order.ok", "domain=%s not_after=%s serial=%s seconds=%lld", domain,
              when, r.serial ? r.serial : "-", (long long)(now - t0));
    if (acme_needs_cert(now, r.not_after, 1, a->cfg->acme_renew_before)) {
        r.next_attempt = now + SHORT_LIVED_WAIT;
        row_put(h, &r);
        log_event(LOG_WARN, "acme.order.short_lived",
                  "domain=%s not_after=%s renew_before=%lld note=\"the new certificate is "
                  "already within renew_before; the next order waits a day\" fix=\"lower [acme] "
                  "renew_before below the CA's certificate lifetime\"",
                  domain, when, (long long)a->cfg->acme_renew_before);
    }
    hosted_acme_clear(&r);
    return 0;
}

/* One order for `domain`: the row says pending while it runs, then ok or failed. After a
 * failure, *retry_until is the end of a Retry-After the CA gave and *next_attempt the end of
 * the back-off (both 0 otherwise). */
static void order(struct srv_acme *a, struct hosted *h, struct acme_client *c, const char *domain,
                  int64_t *retry_until, int64_t *next_attempt)
{
    struct hosted_acme r;
    int64_t t0 = (int64_t)time(NULL);
    if (row_get(h, domain, &r) != 0)
        return;
    char before[sizeof(r.state)];
    memcpy(before, r.state, sizeof(before));
    snprintf(r.state, sizeof(r.state), "pending");
    r.last_attempt = t0;
    row_put(h, &r);
    log_event(LOG_INFO, "acme.order.start", "domain=%s failures=%d", domain, r.failures);
    srv_acme_inflight(1);
    char host[300], err[400]; /* err fits e.detail after its prefix */
    snprintf(host, sizeof(host), "mta-sts.%s", domain);
    char *chain = NULL, *key = NULL;
    struct acme_error e;
    memset(&e, 0, sizeof(e));
    enum acme_status st = acme_order(c, host, &chal_ops, &chain, &key, &e);
    if (st == ACME_OK && installed(a, h, c, domain, chain, key, t0, err, sizeof(err)) != 0) {
        st = ACME_E_LOCAL;
        snprintf(e.detail, sizeof(e.detail), "installing the certificate: %s", err);
    }
    if (st != ACME_OK && atomic_load(&a->stop)) {
        /* cancelled by the stop: not a failure of the CA's; the row goes back as it was */
        memcpy(r.state, before, sizeof(r.state));
        row_put(h, &r);
        log_event(LOG_INFO, "acme.order.cancelled", "domain=%s", domain);
    } else if (st != ACME_OK) {
        srv__acme_failed(h, domain, 0, st, &e, retry_until, next_attempt);
    } else {
        srv_acme_count_order(ACME_OK);
    }
    srv_acme_inflight(-1);
    if (key != NULL)
        OPENSSL_cleanse(key, strlen(key));
    free(key);
    free(chain);
    hosted_acme_clear(&r);
}

/* The next queued domain (malloc'd), or NULL when the scheduler stops. */
static char *take(struct srv_acme *a)
{
    pthread_mutex_lock(&a->mu);
    while (a->q_head == a->n_queue && !atomic_load(&a->stop))
        pthread_cond_wait(&a->work_cv, &a->mu);
    char *d = NULL;
    if (!atomic_load(&a->stop)) {
        d = a->queue[a->q_head++];
        if (a->q_head == a->n_queue) {
            a->q_head = a->n_queue = 0;
        } else if (a->q_head >= 1024 && a->q_head * 2 >= a->n_queue) {
            /* taken entries are never more than those still waiting, past a small start */
            memmove(a->queue, a->queue + a->q_head, (a->n_queue - a->q_head) * sizeof(*a->queue));
            a->n_queue -= a->q_head;
            a->q_head = 0;
        }
    }
    pthread_mutex_unlock(&a->mu);
    return d;
}

void *srv__acme_worker_main(void *arg)
{
    struct srv_acme *a = arg;
    struct hosted *h;
    struct acme_client *c;
    if (srv__acme_thread_open(a, "acme.worker", &h, &c) != 0)
        return NULL;
    char *d;
    while ((d = take(a)) != NULL) {
        /* a domain removed since it was queued is not ordered */
        struct hosted_policy p;
        memset(&p, 0, sizeof(p));
        int hosted = hosted_policy_get(h, d, 0, &p);
        hosted_policy_clear(&p);
        int64_t retry_until = 0, next_attempt = 0;
        if (hosted != 0)
            order(a, h, c, d, &retry_until, &next_attempt);
        pthread_mutex_lock(&a->mu);
        srv__acme_done(a, d, retry_until, next_attempt);
        pthread_mutex_unlock(&a->mu);
        free(d);
    }
    acme_client_free(c);
    hosted_close(h);
    return NULL;
}
