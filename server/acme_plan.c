/* acme_plan.c - which hosted domains the ACME scheduler orders now (their certificates, the
 * back-off and renewal requests of their acme_state rows), and the queue of domains being
 * ordered. */
#include "server/server_int.h"
#include "server/acme_int.h"
#include "acme/acme.h"
#include "common/common.h"
#include "hosted/hosted.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the busy domains and the Retry-After table (under a->mu) ---- */

/* Where `d` is or would go in the sorted busy list; *found when it is there. */
static size_t busy_pos(const struct srv_acme *a, const char *d, int *found)
{
    size_t lo = 0, hi = a->n_busy;
    *found = 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(a->busy[mid], d);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The end of the latest Retry-After the CA gave for `domain` since serve started; -1 when
 * none is known. */
static int64_t retry_until(struct srv_acme *a, const char *domain)
{
    for (size_t i = 0; i < a->n_retry; i++)
        if (strcmp(a->retry[i].domain, domain) == 0)
            return a->retry[i].until;
    return -1;
}

/* With a->mu held: the planner wakes by `when` at the latest. */
static void due_at(struct srv_acme *a, int64_t when)
{
    if (when > 0 && (a->next_due == 0 || when < a->next_due))
        a->next_due = when;
}

void srv__acme_done(struct srv_acme *a, const char *domain, int64_t until, int64_t next_attempt)
{
    due_at(a, next_attempt);
    strv_push(&a->finished, &a->n_finished, domain);
    int found;
    size_t i = busy_pos(a, domain, &found);
    if (found) {
        free(a->busy[i]);
        memmove(a->busy + i, a->busy + i + 1, (a->n_busy - i - 1) * sizeof(*a->busy));
        a->n_busy--;
    }
    size_t k = 0;
    while (k < a->n_retry && strcmp(a->retry[k].domain, domain) != 0)
        k++;
    if (until > 0) {
        if (k == a->n_retry) {
            a->retry = xrealloc(a->retry, (a->n_retry + 1) * sizeof(*a->retry));
            a->retry[a->n_retry++].domain = xstrdup(domain);
        }
        a->retry[k].until = until;
    } else if (k < a->n_retry) {
        free(a->retry[k].domain);
        a->retry[k] = a->retry[--a->n_retry];
    }
}

void srv__acme_enqueue(struct srv_acme *a, char **domains, size_t n)
{
    pthread_mutex_lock(&a->mu);
    for (size_t k = 0; k < n; k++) {
        int found;
        size_t i = busy_pos(a, domains[k], &found);
        for (size_t f = 0; f < a->n_finished && !found; f++)
            found = strcmp(a->finished[f], domains[k]) == 0;
        if (found)
            continue;
        a->busy = xrealloc(a->busy, (a->n_busy + 1) * sizeof(*a->busy));
        memmove(a->busy + i + 1, a->busy + i, (a->n_busy - i) * sizeof(*a->busy));
        a->busy[i] = xstrdup(domains[k]);
        a->n_busy++;
        strv_push(&a->queue, &a->n_queue, domains[k]);
    }
    pthread_cond_broadcast(&a->work_cv);
    pthread_mutex_unlock(&a->mu);
}

/* ---- planning ---- */

static const struct hosted_acme *row_of(const struct hosted_acme *rows, size_t n, const char *d)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(rows[mid].domain, d);
        if (c == 0)
            return &rows[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* A renewal asked for with request = 1 ("renew if due") that is not due: answered by doing
 * nothing, and the request is cleared. */
static void request_not_due(struct hosted *h, const struct hosted_acme *row, int64_t not_after)
{
    struct hosted_acme r = *row;
    r.request = 0;
    if (hosted_acme_put(h, &r) != 0)
        return;
    srv_metrics_acme_changed(h, row->domain);
    log_event(LOG_INFO, "acme.renew.not_due", "domain=%s not_after=%lld", row->domain,
              (long long)not_after);
}

int srv__acme_waits(const struct hosted_acme *row, int forced, int64_t retry_until, int64_t now)
{
    if (row == NULL || now >= row->next_attempt)
        return 0;
    if (!forced)
        return 1;
    if (retry_until >= 0)
        return retry_until > now;
    /* none known (serve restarted since): a rate-limited domain waits for its next_attempt */
    return row->last_error != NULL && strncmp(row->last_error, "rate_limited", 12) == 0;
}

void srv__acme_plan(struct srv_acme *a, struct hosted *h, int64_t now, char ***due, size_t *n_due)
{
    char err[512] = "", q[600];
    struct hosted_policy_list pl = {0};
    const struct hosted_cert *certs = NULL;
    size_t n_certs = 0, n_rows = 0, queued = 0;
    struct hosted_acme *rows = NULL;
    if (hosted_policy_list(h, 0, &pl, err, sizeof(err)) != 0 ||
        hosted_certs(h, &certs, &n_certs) != 0 || hosted_acme_list(h, &rows, &n_rows) != 0) {
        if (!atomic_load(&a->stop))
            log_event(LOG_WARN, "acme.plan", "error=%s",
                      log_quote(q, sizeof(q), err[0] ? err : "the database cannot be read"));
        hosted_policy_list_free(&pl);
        hosted_acme_free(rows, n_rows);
        return;
    }
    const struct hosted_cert_index *ix = hosted_cert_index(h);
    for (size_t i = 0; i < pl.n && !atomic_load(&a->stop); i++) {
        const char *d = pl.items[i].domain;
        const struct hosted_acme *row = row_of(rows, n_rows, d);
        char host[300];
        snprintf(host, sizeof(host), "mta-sts.%s", d);
        int covers;
        long c = hosted_cert_pick(ix, host, &covers);
        int64_t not_after = c >= 0 ? certs[c].not_after : 0;
        int needed = acme_needs_cert(now, not_after, covers, a->cfg->acme_renew_before);
        int forced = row != NULL && row->request == 2;
        if (!needed && !forced) {
            if (row != NULL && row->request == 1)
                request_not_due(h, row, not_after);
            continue;
        }
        pthread_mutex_lock(&a->mu);
        int busy;
        busy_pos(a, d, &busy);
        if (srv__acme_waits(row, forced, row ? retry_until(a, d) : -1, now)) {
            due_at(a, row->next_attempt);
        } else if (!busy) {
            strv_push(due, n_due, d);
            queued++;
        }
        pthread_mutex_unlock(&a->mu);
    }
    log_event(LOG_DEBUG, "acme.plan", "domains=%zu certs=%zu rows=%zu queued=%zu", pl.n, n_certs,
              n_rows, queued);
    hosted_policy_list_free(&pl);
    hosted_acme_free(rows, n_rows);
}
