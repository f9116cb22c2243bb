/* selfcheck.c - the scheduled self-checks of `stsd serve` ([checks]) and "check now": one
 * thread runs the checker over the hosted domains spread across the interval, stores each
 * result through hosted/ and raises a webhook for a regression; the same thread runs the alert
 * scans (alerts.c). */
#include "server/admin_int.h"
#include "server/server.h"
#include "server/server_int.h"
#include "checker/checker.h"
#include "common/common.h"
#include "hosted/hosted.h"
#include "sql/db.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ALERT_SCAN 5        /* seconds between scans for new reports and certificates */
#define CHECK_KEEP 1000     /* runs kept per domain */
#define FIRST_CHECK_DELAY 1 /* seconds after start before the first check */
#define PACE_MS 250         /* the thread wakes at most this often to run the checks due */

struct selfcheck {
    const struct stsd_config *cfg;
    struct srv_webhook *hook;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop, done;
    /* The current interval: every domain gets a slot, spread evenly over it. */
    char **cycle;
    size_t n_cycle, next; /* next: the first domain not checked yet */
    int64_t cycle_ms;     /* when the interval started (CLOCK_REALTIME ms) */
};

/* The running thread; selfcheck_mu guards the pointer and posts to its webhook. */
static struct selfcheck *selfcheck;
static pthread_mutex_t selfcheck_mu = PTHREAD_MUTEX_INITIALIZER;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void srv__selfcheck_post(char *body)
{
    pthread_mutex_lock(&selfcheck_mu);
    if (selfcheck != NULL && selfcheck->hook != NULL)
        srv__webhook_post(selfcheck->hook, body);
    else
        free(body);
    pthread_mutex_unlock(&selfcheck_mu);
}

/* An error finding is identified by its id and subject. */
static int has_error(const struct db_check_finding *f, size_t n, const char *id,
                     const char *subject)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(f[i].severity, "error") == 0 && strcmp(f[i].finding, id) == 0 &&
            strcmp(f[i].subject, subject) == 0)
            return 1;
    return 0;
}

char *srv__selfcheck_regression(const char *domain, const struct db_check *cur,
                                const struct db_check_finding *cf, size_t ncf,
                                const struct db_check_finding *pf, size_t npf, int64_t prev_id)
{
    json_t *news = json_array();
    for (size_t i = 0; i < ncf; i++) {
        if (strcmp(cf[i].severity, "error") != 0 ||
            has_error(pf, npf, cf[i].finding, cf[i].subject))
            continue;
        /* The same new error twice in one run counts once. */
        if (has_error(cf, i, cf[i].finding, cf[i].subject))
            continue;
        json_array_append_new(news, json_pack("{s:s,s:s,s:s}", "id", cf[i].finding, "subject",
                                              cf[i].subject, "message", cf[i].message));
    }
    if (json_array_size(news) == 0) {
        json_decref(news);
        return NULL;
    }
    char started[21];
    format_rfc3339((time_t)cur->started, started);
    return srv__json_body(json_pack(
        "{s:s,s:s,s:s,s:I,s:I,s:o,s:i,s:i}", "kind", "check.regression", "domain", domain, "time",
        started, "check_id", (json_int_t)cur->id, "previous_check_id", (json_int_t)prev_id,
        "new_errors", news, "errors", cur->errors, "warnings", cur->warnings));
}

/* Store one domain's result (its JSON as the result column) and compare it with the previous
 * run. 0, or -1 with err. */
static int store_domain(struct hosted *h, const struct check_result_domain *d, int64_t started,
                        int64_t ms, int could_not_run, char *err, size_t errlen)
{
    size_t nf = d->n_findings < DB_CHECK_MAX_FINDINGS ? d->n_findings : DB_CHECK_MAX_FINDINGS;
    struct db_check_finding *f = xcalloc(nf ? nf : 1, sizeof(*f));
    struct db_check c = {0};
    c.domain = d->domain;
    c.started = started;
    c.duration_ms = ms;
    for (size_t i = 0; i < nf; i++) {
        const struct check_finding *x = &d->findings[i];
        f[i].finding = (char *)x->id;
        f[i].severity = (char *)check_severity_name(x->severity);
        f[i].subject = x->subject;
        f[i].message = x->message;
        if (x->severity == CHECK_ERROR)
            c.errors++;
        else if (x->severity == CHECK_WARNING)
            c.warnings++;
        else
            c.infos++;
    }
    c.status = could_not_run ? 69 : c.errors ? 2 : c.warnings ? 1 : 0;
    c.dns_id = d->dns.sts_id[0] ? (char *)d->dns.sts_id : NULL;
    c.result = srv__json_body(check_result_domain_json(d));
    /* The previous run, before this one is stored. */
    struct db *db = hosted_db(h, err, errlen);
    struct db_check *prev = NULL;
    size_t nprev = 0;
    struct db_check_finding *pf = NULL;
    size_t npf = 0;
    if (db != NULL && hosted_check_latest(h, d->domain, &prev, &nprev) == 0 && nprev > 0)
        db_check_findings(db, prev[0].id, &pf, &npf);
    int64_t id = 0;
    int rc = 0;
    if (db == NULL || hosted_check_store(h, &c, f, nf, &id) != 0) {
        if (db != NULL)
            snprintf(err, errlen, "%s", db_errmsg(db));
        char q[300];
        log_event(LOG_ERROR, "check.store_failed", "domain=%s reason=%s", d->domain,
                  log_quote(q, sizeof(q), err));
        rc = -1;
    } else {
        c.id = id;
        db_check_prune(db, d->domain, CHECK_KEEP);
        log_event(LOG_INFO, "check.done", "domain=%s id=%lld errors=%d warnings=%d ms=%lld",
                  d->domain, (long long)id, c.errors, c.warnings, (long long)ms);
        /* A run that could not reach a resolver says nothing about the domain. */
        if (nprev > 0 && !could_not_run && prev[0].status != 69) {
            char *body = srv__selfcheck_regression(d->domain, &c, f, nf, pf, npf, prev[0].id);
            if (body != NULL) {
                log_event(LOG_WARN, "alert.regression", "domain=%s check=%lld", d->domain,
                          (long long)id);
                srv__selfcheck_post(body);
            }
        }
    }
    db_check_findings_free(pf, npf);
    db_checks_free(prev, nprev);
    free(c.result);
    free(f);
    return rc;
}

/* check_run over domains with the self-check options, compared with what h hosts (h may be
 * NULL); *started and *ms say when and how long. */
static int run_checks(struct hosted *h, const struct stsd_config *cfg, const char *const *domains,
                      size_t n, struct check_result *res, int64_t *started, int64_t *ms, char *err,
                      size_t errlen)
{
    struct check_opts o;
    srv_check_opts(cfg, &o);
    if (h != NULL) {
        o.hosted_facts = srv_check_facts;
        o.hosted_ctx = h;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    *started = (int64_t)time(NULL);
    int rc = check_run(&o, domains, n, res, err, errlen);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    *ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    if (rc < 0) {
        char q[400];
        log_event(LOG_WARN, "check.unavailable", "reason=%s", log_quote(q, sizeof(q), err));
    }
    for (size_t i = 0; i < res->n_domains; i++)
        srv__metrics_count_check();
    return rc;
}

int srv_check_domain(struct hosted *h, const struct stsd_config *cfg, const char *domain, int store,
                     struct check_result *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (store && h == NULL) {
        snprintf(err, errlen, "storing a check needs the hosted state");
        return -1;
    }
    int64_t started, ms;
    int rc = run_checks(h, cfg, &domain, 1, out, &started, &ms, err, errlen);
    if (store)
        for (size_t i = 0; i < out->n_domains; i++)
            if (store_domain(h, &out->domains[i], started, ms, rc < 0, err, errlen) != 0)
                return -2;
    return rc;
}

/* The domains to check: [checks] domains, else every hosted domain (policy file). */
static void cycle_load(struct selfcheck *sc, struct hosted *h)
{
    const struct stsd_config *cfg = sc->cfg;
    for (size_t i = 0; i < sc->n_cycle; i++)
        free(sc->cycle[i]);
    free(sc->cycle);
    sc->cycle = NULL;
    sc->n_cycle = sc->next = 0;
    if (cfg->n_check_domains > 0) {
        sc->cycle = xcalloc(cfg->n_check_domains, sizeof(char *));
        for (size_t i = 0; i < cfg->n_check_domains; i++)
            sc->cycle[i] = xstrdup(cfg->check_domains[i]);
        sc->n_cycle = cfg->n_check_domains;
        return;
    }
    struct hosted_policy_list l;
    char err[256];
    memset(&l, 0, sizeof(l));
    if (hosted_policy_list(h, 0, &l, err, sizeof(err)) == 0 && l.n > 0) {
        sc->cycle = xcalloc(l.n, sizeof(char *));
        for (size_t i = 0; i < l.n; i++)
            sc->cycle[i] = xstrdup(l.items[i].domain);
        sc->n_cycle = l.n;
    }
    hosted_policy_list_free(&l);
}

int64_t srv__selfcheck_slot_ms(int64_t start_ms, int64_t interval_ms, size_t i, size_t n)
{
    if (n == 0)
        return start_ms;
    /* i * interval / n without overflow for any realistic interval and count */
    return start_ms + (int64_t)((double)interval_ms * (double)i / (double)n);
}

/* Check the domains whose slot has come (at most CHECK_MAX_DOMAINS in one run). */
static void run_due(struct selfcheck *sc, struct hosted *h, int64_t t_ms)
{
    const struct stsd_config *cfg = sc->cfg;
    size_t first = sc->next, n = 0;
    while (first + n < sc->n_cycle && n < CHECK_MAX_DOMAINS &&
           srv__selfcheck_slot_ms(sc->cycle_ms, cfg->check_interval * 1000, first + n,
                                  sc->n_cycle) <= t_ms)
        n++;
    if (n == 0)
        return;
    sc->next += n;
    struct check_result res;
    int64_t started, ms;
    char err[300] = "";
    int rc = run_checks(h, cfg, (const char *const *)sc->cycle + first, n, &res, &started, &ms, err,
                        sizeof(err));
    for (size_t i = 0; i < res.n_domains; i++)
        store_domain(h, &res.domains[i], started, ms, rc < 0, err, sizeof(err));
    check_result_free(&res);
}

/* A restart does not re-check at once what was checked less than an interval ago: the next
 * run is one interval after the newest stored one. */
static time_t first_check(struct hosted *h, const struct stsd_config *cfg, time_t next_check)
{
    char err[300];
    struct db *db = hosted_db(h, err, sizeof(err));
    struct db_check *c = NULL;
    size_t n = 0;
    if (db != NULL && db_check_history(db, NULL, 1, 0, &c, &n) == 0 && n == 1 &&
        c[0].started + cfg->check_interval > (int64_t)next_check)
        next_check = (time_t)(c[0].started + cfg->check_interval);
    db_checks_free(c, n);
    return next_check;
}

static void *selfcheck_main(void *arg)
{
    struct selfcheck *sc = arg;
    struct hosted *h = NULL;
    const struct stsd_config *cfg = sc->cfg;
    struct srv__alerts *alerts = srv__alerts_new(cfg, sc->hook);
    time_t now = time(NULL);
    time_t next_check = cfg->check_interval > 0 ? now + FIRST_CHECK_DELAY : 0;
    time_t next_scan = now;
    int have_db = 0;
    pthread_mutex_lock(&sc->mu);
    while (!sc->stop) {
        pthread_mutex_unlock(&sc->mu);
        now = time(NULL);
        char err[512];
        if (h == NULL && (h = hosted_open(cfg, 0, err, sizeof(err))) == NULL) {
            char q[600];
            log_event(LOG_ERROR, "check.hosted", "reason=%s", log_quote(q, sizeof(q), err));
        }
        if (h != NULL && !have_db) {
            have_db = hosted_db(h, err, sizeof(err)) != NULL;
            if (!have_db) {
                char q[600];
                log_event(LOG_ERROR, "check.db", "reason=%s", log_quote(q, sizeof(q), err));
            } else if (next_check) {
                next_check = first_check(h, cfg, next_check);
            }
        }
        if (have_db && next_check && now >= next_check && sc->next >= sc->n_cycle) {
            /* A new interval (once the previous one's checks are all done): every domain gets a
             * slot in it. */
            cycle_load(sc, h);
            sc->cycle_ms = (int64_t)now * 1000;
            next_check = now + cfg->check_interval;
            log_event(LOG_INFO, "check.interval", "domains=%zu interval=%lld", sc->n_cycle,
                      (long long)cfg->check_interval);
        }
        if (have_db && sc->next < sc->n_cycle) {
            run_due(sc, h, now_ms());
            if (sc->next == sc->n_cycle && time(NULL) > next_check)
                log_event(LOG_WARN, "check.behind",
                          "domains=%zu interval=%lld late_s=%lld reason=\"the checks of one "
                          "interval took longer than the interval\"",
                          sc->n_cycle, (long long)cfg->check_interval,
                          (long long)(time(NULL) - next_check));
            if (sc->next == sc->n_cycle && time(NULL) >= next_check)
                next_check = time(NULL); /* the next interval starts now */
        }
        if (h != NULL && now >= next_scan) {
            srv__alerts_scan(alerts, h, now);
            next_scan = now + ALERT_SCAN;
        }
        pthread_mutex_lock(&sc->mu);
        if (sc->stop)
            break;
        /* Until the next slot (at least PACE_MS away), at most a second. */
        int64_t wake = now_ms() + 1000;
        if (sc->next < sc->n_cycle) {
            int64_t slot = srv__selfcheck_slot_ms(sc->cycle_ms, cfg->check_interval * 1000,
                                                  sc->next, sc->n_cycle);
            int64_t earliest = now_ms() + PACE_MS;
            if (slot < wake)
                wake = slot < earliest ? earliest : slot;
        }
        struct timespec ts = {.tv_sec = wake / 1000, .tv_nsec = (wake % 1000) * 1000000};
        pthread_cond_timedwait(&sc->cv, &sc->mu, &ts);
    }
    pthread_mutex_unlock(&sc->mu);
    srv__alerts_free(alerts);
    hosted_close(h);
    for (size_t i = 0; i < sc->n_cycle; i++)
        free(sc->cycle[i]);
    free(sc->cycle);
    sc->cycle = NULL;
    sc->n_cycle = 0;
    pthread_mutex_lock(&sc->mu);
    sc->done = 1;
    pthread_cond_broadcast(&sc->cv);
    pthread_mutex_unlock(&sc->mu);
    return NULL;
}

void srv__selfcheck_start(const struct stsd_config *cfg)
{
    if (cfg->check_interval <= 0 && cfg->webhook_url == NULL)
        return;
    struct selfcheck *sc = xcalloc(1, sizeof(*sc));
    sc->cfg = cfg;
    if (cfg->webhook_url != NULL)
        sc->hook = srv__webhook_new(cfg->webhook_url, cfg->allow_private);
    pthread_mutex_init(&sc->mu, NULL);
    pthread_cond_init(&sc->cv, NULL);
    pthread_mutex_lock(&selfcheck_mu);
    selfcheck = sc; /* before the thread runs: its posts find the webhook */
    pthread_mutex_unlock(&selfcheck_mu);
    if (pthread_create(&sc->thread, NULL, selfcheck_main, sc) != 0) {
        log_event(LOG_ERROR, "check.thread", "reason=\"cannot start the self-check thread\"");
        pthread_mutex_lock(&selfcheck_mu);
        selfcheck = NULL;
        pthread_mutex_unlock(&selfcheck_mu);
        srv__webhook_free(sc->hook);
        free(sc);
        return;
    }
    log_event(LOG_INFO, "check.scheduled", "interval=%lld webhook=%s",
              (long long)cfg->check_interval, cfg->webhook_url ? "yes" : "no");
}

void srv__selfcheck_stop(void)
{
    pthread_mutex_lock(&selfcheck_mu);
    struct selfcheck *sc = selfcheck;
    selfcheck = NULL;
    pthread_mutex_unlock(&selfcheck_mu);
    if (sc == NULL)
        return;
    pthread_mutex_lock(&sc->mu);
    sc->stop = 1;
    pthread_cond_broadcast(&sc->cv);
    /* A check in progress may take its full timeout: do not hold up the exit for it. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 3;
    while (!sc->done)
        if (pthread_cond_timedwait(&sc->cv, &sc->mu, &ts) == ETIMEDOUT)
            break;
    int done = sc->done;
    pthread_mutex_unlock(&sc->mu);
    if (!done) {
        log_event(LOG_WARN, "check.abandoned", "reason=\"a check was still running at exit\"");
        pthread_detach(sc->thread);
        return; /* the process is exiting; the thread's memory goes with it */
    }
    pthread_join(sc->thread, NULL);
    srv__webhook_free(sc->hook);
    pthread_mutex_destroy(&sc->mu);
    pthread_cond_destroy(&sc->cv);
    free(sc);
}
