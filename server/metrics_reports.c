/* metrics_reports.c - the per-domain report series of /metrics, kept in memory: loaded once by
 * a background thread (one aggregate query), then updated by the writer after each commit, so
 * that a scrape never reads the report tables. Only hosted domains have series. */
#include "server/admin_int.h"
#include "common/common.h"
#include "hosted/hosted.h"
#include "policy/policy.h"
#include "reports/reports.h"
#include "sql/db.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define SYNC_SECS 5        /* between catch-ups with reports other processes stored */
#define PENDING_MAX 100000 /* writer contributions held while a load runs; beyond: load again */
#define READY_WAIT_SECS 5  /* a scrape waits this long for the first load */

/* The RFC 8460 §4.3 result types, then "other" for anything else a report says. */
static const char *const result_types[SRV_RESULT_TYPES] = {
    "starttls-not-supported", "certificate-host-mismatch",
    "certificate-expired",    "certificate-not-trusted",
    "validation-failure",     "tlsa-invalid",
    "dnssec-invalid",         "dane-required",
    "sts-policy-fetch-error", "sts-policy-invalid",
    "sts-webpki-invalid",     "other"};

int srv__metrics_result_type(const char *rt)
{
    for (int i = 0; rt != NULL && i < SRV_RESULT_TYPES - 1; i++)
        if (strcasecmp(rt, result_types[i]) == 0)
            return i;
    return SRV_RESULT_TYPES - 1;
}

const char *srv__metrics_result_type_name(int i)
{
    return i >= 0 && i < SRV_RESULT_TYPES ? result_types[i] : "other";
}

/* A contribution held while a load runs: one report (domain NULL) or one of its policies. */
struct pending {
    int64_t id;
    char *domain;
    int64_t successful, failed, by_type[SRV_RESULT_TYPES];
};

enum { ST_OFF = 0, ST_LOADING, ST_READY };

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int state;
    struct srv__metrics_domain *v; /* hosted domains, sorted */
    size_t n;
    int64_t reports;   /* every stored report, hosted or not */
    int64_t watermark; /* reports with id <= watermark are in the loaded sums */
    struct pending *pend;
    size_t n_pend;
    int overflow; /* pending contributions were lost: load again */
    int tried;    /* the first load was attempted (a scrape waits for it, not longer) */
    /* the thread */
    pthread_t thread;
    int running, stop;
    struct hosted *hosted; /* the thread's handle on the hosted state */
} M = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static atomic_uint_fast64_t policies_gen;
static atomic_int reload_asked; /* srv_metrics_reload: sum everything again */

void srv_metrics_reload(void)
{
    atomic_store(&reload_asked, 1);
    pthread_mutex_lock(&M.mu);
    pthread_cond_broadcast(&M.cv); /* wake the thread now */
    pthread_mutex_unlock(&M.mu);
}

void srv__metrics_policies_changed(void)
{
    atomic_fetch_add(&policies_gen, 1);
}

static int dom_cmp(const void *a, const void *b)
{
    return strcmp(((const struct srv__metrics_domain *)a)->domain,
                  ((const struct srv__metrics_domain *)b)->domain);
}

static struct srv__metrics_domain *find(struct srv__metrics_domain *v, size_t n, const char *domain)
{
    struct srv__metrics_domain key = {.domain = (char *)domain};
    return domain ? bsearch(&key, v, n, sizeof(*v), dom_cmp) : NULL;
}

static void table_free(struct srv__metrics_domain *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].domain);
    free(v);
}

static int64_t clamp(int64_t c)
{
    return c < 0 ? 0 : c > DB_REPORT_MAX_COUNT ? DB_REPORT_MAX_COUNT : c;
}

/* Add one contribution to the live table (mu held). */
static void add(const struct pending *p)
{
    if (p->domain == NULL) {
        M.reports++;
        return;
    }
    struct srv__metrics_domain *d = find(M.v, M.n, p->domain);
    if (d == NULL)
        return;
    d->successful += p->successful;
    d->failed += p->failed;
    for (int k = 0; k < SRV_RESULT_TYPES; k++)
        d->by_type[k] += p->by_type[k];
}

/* One report as contributions: fn(ctx, &contribution) for the report, then each policy. */
static void contributions(const struct report *r, int64_t id, void (*fn)(const struct pending *))
{
    struct pending c = {.id = id};
    fn(&c);
    for (size_t i = 0; i < r->n_policies; i++) {
        const struct report_policy *p = &r->policies[i];
        if (p->policy_domain == NULL)
            continue; /* unattributed: no domain's series (a NULL domain is the report's) */
        memset(&c, 0, sizeof(c));
        c.id = id;
        c.domain = p->policy_domain;
        c.successful = clamp(p->total_successful);
        c.failed = clamp(p->total_failure);
        for (size_t k = 0; k < p->n_failures; k++)
            c.by_type[srv__metrics_result_type(p->failures[k].result_type)] +=
                clamp(p->failures[k].failed_session_count);
        fn(&c);
    }
}

static void hold(const struct pending *c)
{
    if (M.n_pend >= PENDING_MAX) {
        M.overflow = 1;
        return;
    }
    if (M.n_pend % 1024 == 0)
        M.pend = xrealloc(M.pend, (M.n_pend + 1024) * sizeof(*M.pend));
    M.pend[M.n_pend] = *c;
    M.pend[M.n_pend].domain = c->domain ? xstrdup(c->domain) : NULL;
    M.n_pend++;
}

void srv_metrics_report_stored(const struct report *r, int64_t id)
{
    pthread_mutex_lock(&M.mu);
    if (M.state == ST_READY && id > M.watermark)
        contributions(r, id, add);
    else if (M.state == ST_LOADING)
        contributions(r, id, hold);
    pthread_mutex_unlock(&M.mu);
}

/* ---- loading: the background thread ---- */

struct load {
    struct srv__metrics_domain *v;
    size_t n;
    int64_t reports;
};

static void on_reports(void *ctx, int64_t n)
{
    ((struct load *)ctx)->reports += n;
}

static void on_sessions(void *ctx, const char *domain, int64_t ok, int64_t failed)
{
    struct load *l = ctx;
    struct srv__metrics_domain *d = find(l->v, l->n, domain);
    if (d != NULL) {
        d->successful += ok;
        d->failed += failed;
    }
}

static void on_failures(void *ctx, const char *domain, const char *rt, int64_t failed)
{
    struct load *l = ctx;
    struct srv__metrics_domain *d = find(l->v, l->n, domain);
    if (d != NULL)
        d->by_type[srv__metrics_result_type(rt)] += failed;
}

/* The hosted domains: the policy files of the policy directory, sorted. */
static int hosted_list(struct srv__metrics_domain **v, size_t *n)
{
    struct hosted_policy_list l;
    char err[256];
    *v = NULL;
    *n = 0;
    if (hosted_policy_list(M.hosted, 0, &l, err, sizeof(err)) != 0) {
        char q[300];
        log_event(LOG_WARN, "metrics.hosted", "reason=%s", log_quote(q, sizeof(q), err));
        return -1;
    }
    *v = xcalloc(l.n ? l.n : 1, sizeof(**v));
    for (size_t i = 0; i < l.n; i++)
        (*v)[i].domain = xstrdup(l.items[i].domain);
    *n = l.n;
    hosted_policy_list_free(&l);
    qsort(*v, *n, sizeof(**v), dom_cmp);
    return 0;
}

static int same_domains(const struct srv__metrics_domain *a, size_t na,
                        const struct srv__metrics_domain *b, size_t nb)
{
    if (na != nb)
        return 0;
    for (size_t i = 0; i < na; i++)
        if (strcmp(a[i].domain, b[i].domain) != 0)
            return 0;
    return 1;
}

/* Sum every stored report for the hosted domains `v` and make that the live table; the
 * writer's contributions that arrive meanwhile are held and applied after. */
static int load(struct db *db, struct srv__metrics_domain *v, size_t n)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_mutex_lock(&M.mu);
    M.state = ST_LOADING;
    M.overflow = 0;
    pthread_mutex_unlock(&M.mu);
    struct load l = {.v = v, .n = n};
    struct db_report_sums_cb cb = {&l, on_reports, on_sessions, on_failures};
    int64_t top = 0;
    int rc = db_check_max_report_id(db, &top) == 0 ? db_check_report_sums(db, 0, top, 0, &cb) : -1;
    pthread_mutex_lock(&M.mu);
    if (rc == 0) {
        table_free(M.v, M.n);
        M.v = v;
        M.n = n;
        M.reports = l.reports;
        M.watermark = top;
        for (size_t i = 0; i < M.n_pend; i++)
            if (M.pend[i].id > top)
                add(&M.pend[i]);
    } else {
        table_free(v, n);
    }
    for (size_t i = 0; i < M.n_pend; i++)
        free(M.pend[i].domain);
    free(M.pend);
    M.pend = NULL;
    M.n_pend = 0;
    M.state = rc == 0 && !M.overflow ? ST_READY : ST_LOADING;
    pthread_cond_broadcast(&M.cv);
    pthread_mutex_unlock(&M.mu);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long long ms = (t1.tv_sec - t0.tv_sec) * 1000LL + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    if (rc != 0) {
        char q[300];
        log_event(LOG_ERROR, "metrics.load_failed", "reason=%s",
                  log_quote(q, sizeof(q), db_errmsg(db)));
    } else
        log_event(LOG_INFO, "metrics.loaded", "domains=%zu reports=%lld upto=%lld ms=%lld", n,
                  (long long)l.reports, (long long)top, ms);
    return rc;
}

/* Reports other processes (`stsd reports ingest`) stored since the last look: the writer
 * counts only its own (source https). */
static void catch_up(struct db *db, int64_t *seen)
{
    int64_t top = 0;
    if (db_check_max_report_id(db, &top) != 0 || top <= *seen)
        return;
    pthread_mutex_lock(&M.mu);
    size_t n = M.n;
    struct srv__metrics_domain *v = xcalloc(n ? n : 1, sizeof(*v));
    for (size_t i = 0; i < n; i++)
        v[i].domain = M.v[i].domain; /* borrowed: only this thread replaces the table */
    pthread_mutex_unlock(&M.mu);
    struct load l = {.v = v, .n = n};
    struct db_report_sums_cb cb = {&l, on_reports, on_sessions, on_failures};
    if (db_check_report_sums(db, *seen, top, 1, &cb) == 0) {
        pthread_mutex_lock(&M.mu);
        M.reports += l.reports;
        for (size_t i = 0; i < n; i++) {
            struct pending c = {
                .domain = v[i].domain, .successful = v[i].successful, .failed = v[i].failed};
            memcpy(c.by_type, v[i].by_type, sizeof(c.by_type));
            add(&c);
        }
        pthread_mutex_unlock(&M.mu);
        *seen = top;
    }
    free(v);
}

static void *metrics_main(void *arg)
{
    char err[512];
    struct db *db = NULL;
    uint64_t gen = (uint64_t)-1;
    int64_t seen = 0;
    pthread_mutex_lock(&M.mu);
    while (!M.stop) {
        pthread_mutex_unlock(&M.mu);
        if (db == NULL && (db = hosted_db(M.hosted, err, sizeof(err))) == NULL) {
            char q[600];
            log_event(LOG_ERROR, "metrics.db", "reason=%s", log_quote(q, sizeof(q), err));
        }
        uint64_t g = atomic_load(&policies_gen);
        int asked = db != NULL && atomic_exchange(&reload_asked, 0);
        struct srv__metrics_domain *v = NULL;
        size_t n = 0;
        if (db != NULL && (g != gen || asked || M.state != ST_READY) && hosted_list(&v, &n) == 0) {
            pthread_mutex_lock(&M.mu);
            int same = !asked && M.state == ST_READY && same_domains(v, n, M.v, M.n);
            pthread_mutex_unlock(&M.mu);
            if (same)
                table_free(v, n);
            else if (load(db, v, n) == 0)
                seen = M.watermark;
            gen = g;
        }
        if (db != NULL && M.state == ST_READY)
            catch_up(db, &seen);
        if (db != NULL)
            srv__metrics_acme_refresh(M.hosted);
        pthread_mutex_lock(&M.mu);
        M.tried = 1;
        pthread_cond_broadcast(&M.cv);
        if (M.stop)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += SYNC_SECS;
        pthread_cond_timedwait(&M.cv, &M.mu, &ts);
    }
    pthread_mutex_unlock(&M.mu);
    return NULL;
}

void srv__metrics_start(const struct stsd_config *cfg)
{
    char err[512], q[600];
    if (M.running)
        return;
    M.hosted = hosted_open(cfg, 0, err, sizeof(err));
    if (M.hosted == NULL) {
        log_event(LOG_ERROR, "metrics.hosted", "reason=%s", log_quote(q, sizeof(q), err));
        return;
    }
    pthread_mutex_lock(&M.mu);
    M.stop = 0;
    M.tried = 0;
    M.state = ST_LOADING; /* from here the writer's reports are held for the first load */
    pthread_mutex_unlock(&M.mu);
    if (pthread_create(&M.thread, NULL, metrics_main, NULL) != 0) {
        log_event(LOG_ERROR, "metrics.thread", "reason=\"cannot start the metrics thread\"");
        pthread_mutex_lock(&M.mu);
        M.state = ST_OFF;
        pthread_mutex_unlock(&M.mu);
        hosted_close(M.hosted);
        M.hosted = NULL;
        return;
    }
    M.running = 1;
}

void srv__metrics_stop(void)
{
    if (!M.running)
        return;
    pthread_mutex_lock(&M.mu);
    M.stop = 1;
    pthread_cond_broadcast(&M.cv);
    pthread_mutex_unlock(&M.mu);
    pthread_join(M.thread, NULL);
    M.running = 0;
    pthread_mutex_lock(&M.mu);
    M.state = ST_OFF;
    table_free(M.v, M.n);
    M.v = NULL;
    M.n = 0;
    for (size_t i = 0; i < M.n_pend; i++)
        free(M.pend[i].domain);
    free(M.pend);
    M.pend = NULL;
    M.n_pend = 0;
    pthread_mutex_unlock(&M.mu);
    srv__metrics_acme_forget();
    hosted_close(M.hosted); /* and its database */
    M.hosted = NULL;
}

int srv__metrics_domains(struct srv__metrics_domain **out, size_t *n, int64_t *reports)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += READY_WAIT_SECS;
    pthread_mutex_lock(&M.mu);
    while (M.state == ST_LOADING && !M.tried)
        if (pthread_cond_timedwait(&M.cv, &M.mu, &ts) == ETIMEDOUT)
            break;
    int ok = M.state != ST_OFF && (M.state == ST_READY || M.v != NULL);
    *n = ok ? M.n : 0;
    *out = xcalloc(*n ? *n : 1, sizeof(**out));
    for (size_t i = 0; i < *n; i++) {
        (*out)[i] = M.v[i];
        (*out)[i].domain = xstrdup(M.v[i].domain);
    }
    *reports = ok ? M.reports : 0;
    pthread_mutex_unlock(&M.mu);
    return ok ? 0 : -1;
}

void srv__metrics_domains_free(struct srv__metrics_domain *v, size_t n)
{
    table_free(v, n);
}
