/* metrics_acme.c - the ACME scheduler's rows (acme_state) kept in memory for /metrics and the
 * dashboard's overview: the scheduler hands over each row it writes, and the metrics thread
 * re-reads them all every few seconds with one query (rows other processes changed), so that
 * neither a scrape nor the front page reads them per domain. */
#include "server/admin_int.h"
#include "common/common.h"
#include "common/config.h"
#include "hosted/hosted.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct {
    pthread_mutex_t mu;
    struct srv__acme_brief *v; /* sorted by domain */
    size_t n;
    uint64_t seq; /* of the latest srv_metrics_acme_changed */
} A = {.mu = PTHREAD_MUTEX_INITIALIZER};

int srv__acme_failing(const char *state, int failures)
{
    return failures >= 1 && state != NULL && strcmp(state, "ok") != 0;
}

static int brief_cmp(const void *a, const void *b)
{
    return strcmp(((const struct srv__acme_brief *)a)->domain,
                  ((const struct srv__acme_brief *)b)->domain);
}

void srv__acme_briefs_free(struct srv__acme_brief *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].domain);
    free(v);
}

/* Make v the table (A.mu held, released here) and free the one it replaces. */
static void install_unlock(struct srv__acme_brief *v, size_t n)
{
    struct srv__acme_brief *old = A.v;
    size_t old_n = A.n;
    A.v = v;
    A.n = n;
    pthread_mutex_unlock(&A.mu);
    srv__acme_briefs_free(old, old_n);
}

void srv__metrics_acme_forget(void)
{
    pthread_mutex_lock(&A.mu);
    install_unlock(NULL, 0);
}

static void brief_set(struct srv__acme_brief *b, const struct hosted_acme *a, uint64_t seq)
{
    snprintf(b->state, sizeof(b->state), "%s", a->state);
    b->failures = a->failures;
    b->next_attempt = a->next_attempt;
    b->seq = seq;
}

/* Put b (its domain now owned by the table) into the sorted table v of n, replacing the row
 * of the same domain. */
static void upsert(struct srv__acme_brief **v, size_t *n, struct srv__acme_brief *b)
{
    size_t lo = 0, hi = *n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp((*v)[mid].domain, b->domain);
        if (c == 0) {
            free((*v)[mid].domain);
            (*v)[mid] = *b;
            return;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *v = xrealloc(*v, (*n + 1) * sizeof(**v));
    memmove(&(*v)[lo + 1], &(*v)[lo], (*n - lo) * sizeof(**v));
    (*v)[lo] = *b;
    (*n)++;
}

void srv__metrics_acme_refresh(struct hosted *h)
{
    const struct stsd_config *cfg = h ? hosted_config(h) : NULL;
    if (cfg == NULL || cfg->acme_directory == NULL || cfg->acme_directory[0] == '\0') {
        srv__metrics_acme_forget(); /* rows of an earlier run with ACME on say nothing now */
        return;
    }
    pthread_mutex_lock(&A.mu);
    uint64_t seq0 = A.seq;
    pthread_mutex_unlock(&A.mu);
    struct hosted_acme *rows = NULL;
    size_t n = 0;
    if (hosted_acme_list(h, &rows, &n) != 0)
        return; /* keep the last good rows */
    struct srv__acme_brief *v = xcalloc(n ? n : 1, sizeof(*v));
    for (size_t i = 0; i < n; i++) {
        v[i].domain = xstrdup(rows[i].domain ? rows[i].domain : "");
        brief_set(&v[i], &rows[i], 0);
    }
    hosted_acme_free(rows, n);
    if (n > 1)
        qsort(v, n, sizeof(*v), brief_cmp);
    /* A row the scheduler changed while the query ran may be newer than what it read. */
    pthread_mutex_lock(&A.mu);
    for (size_t i = 0; i < A.n; i++)
        if (A.v[i].seq > seq0) {
            struct srv__acme_brief b = A.v[i];
            b.domain = xstrdup(A.v[i].domain);
            upsert(&v, &n, &b);
        }
    install_unlock(v, n);
}

void srv_metrics_acme_changed(struct hosted *h, const char *domain)
{
    struct hosted_acme a;
    memset(&a, 0, sizeof(a));
    if (h == NULL || domain == NULL || hosted_acme_get(h, domain, &a) != 1) {
        hosted_acme_clear(&a);
        return;
    }
    struct srv__acme_brief b = {.domain = xstrdup(domain)};
    pthread_mutex_lock(&A.mu);
    brief_set(&b, &a, ++A.seq);
    upsert(&A.v, &A.n, &b);
    pthread_mutex_unlock(&A.mu);
    hosted_acme_clear(&a);
}

const struct srv__acme_brief *srv__acme_brief_find(const struct srv__acme_brief *v, size_t n,
                                                   const char *domain)
{
    struct srv__acme_brief key = {.domain = (char *)domain};
    return n && domain ? bsearch(&key, v, n, sizeof(*v), brief_cmp) : NULL;
}

void srv__metrics_acme_copy(struct srv__acme_brief **out, size_t *n)
{
    pthread_mutex_lock(&A.mu);
    *n = A.n;
    *out = xcalloc(A.n ? A.n : 1, sizeof(**out));
    for (size_t i = 0; i < A.n; i++) {
        (*out)[i] = A.v[i];
        (*out)[i].domain = xstrdup(A.v[i].domain);
    }
    pthread_mutex_unlock(&A.mu);
}

int srv__metrics_acme_failing(const char *domain)
{
    pthread_mutex_lock(&A.mu);
    const struct srv__acme_brief *r = srv__acme_brief_find(A.v, A.n, domain);
    int failing = r != NULL && srv__acme_failing(r->state, r->failures);
    pthread_mutex_unlock(&A.mu);
    return failing;
}
