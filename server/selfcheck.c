/* selfcheck.c - the scheduled self-checks of `stsd serve` ([checks]) and the alerts
 * ([alerts]): one thread runs the checker, stores each result, and queues webhook bodies for
 * regressions, expiring certificates, failure rates in new reports and the daily digest. */
#include "server/admin_int.h"
#include "server/server_int.h"
#include "checker/checker.h"
#include "common/common.h"
#include "hosted/hosted.h"
#include "policy/policy.h"
#include "reports/reports.h"
#include "sql/db.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define DAY 86400
#define ALERT_SCAN 5        /* seconds between scans for new reports and certificates */
#define CHECK_KEEP 1000     /* runs kept per domain */
#define FIRST_CHECK_DELAY 1 /* seconds after start before the first check */
#define PACE_MS 250         /* the thread wakes at most this often to run the checks due */
#define MAX_CERT_ALERTS 1024

struct cert_alerted {
    char name[256];
    int64_t day; /* UTC day number of the last alert */
};

struct selfcheck {
    const struct stsd_config *cfg;
    char *policy_dir, *db_path;
    struct srv_webhook *hook;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop, done;
    int64_t last_report_id;
    struct cert_alerted certs[MAX_CERT_ALERTS];
    size_t n_certs;
    /* The current interval: every domain gets a slot, spread evenly over it. */
    char **cycle;
    size_t n_cycle, next; /* next: the first domain not checked yet */
    int64_t cycle_ms;     /* when the interval started (CLOCK_REALTIME ms) */
};

static struct selfcheck *selfcheck;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *dump(json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return s;
}

static json_t *now_json(void)
{
    char b[21];
    format_rfc3339(time(NULL), b);
    return json_string(b);
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
    return dump(json_pack("{s:s,s:s,s:s,s:I,s:I,s:o,s:i,s:i}", "kind", "check.regression", "domain",
                          domain, "time", started, "check_id", (json_int_t)cur->id,
                          "previous_check_id", (json_int_t)prev_id, "new_errors", news, "errors",
                          cur->errors, "warnings", cur->warnings));
}

/* The id DNS published: the first _mta-sts TXT record that parses. */
static char *dns_id_of(json_t *dom)
{
    json_t *txt = json_object_get(json_object_get(dom, "dns"), "sts_txt");
    size_t i;
    json_t *v;
    json_array_foreach(txt, i, v)
    {
        const char *s = json_string_value(v);
        struct sts_txt t;
        int id_err = 0;
        char err[200];
        if (s && policy_txt_is_sts(s) &&
            policy_sts_txt_parse(s, &t, &id_err, err, sizeof(err)) == 0)
            return xstrdup(t.id);
    }
    return NULL;
}

/* Store one domain's result and compare it with the previous run. */
static void store_domain(struct selfcheck *sc, struct db *db, json_t *dom, int64_t started,
                         int64_t ms, int could_not_run)
{
    const char *domain = json_string_value(json_object_get(dom, "domain"));
    if (domain == NULL)
        return;
    json_t *fs = json_object_get(dom, "findings");
    size_t nf = json_array_size(fs);
    if (nf > DB_CHECK_MAX_FINDINGS)
        nf = DB_CHECK_MAX_FINDINGS;
    struct db_check_finding *f = xcalloc(nf ? nf : 1, sizeof(*f));
    struct db_check c = {0};
    c.domain = (char *)domain;
    c.started = started;
    c.duration_ms = ms;
    for (size_t i = 0; i < nf; i++) {
        json_t *x = json_array_get(fs, i);
        f[i].finding = (char *)json_string_value(json_object_get(x, "id"));
        f[i].severity = (char *)json_string_value(json_object_get(x, "severity"));
        f[i].subject = (char *)json_string_value(json_object_get(x, "subject"));
        f[i].message = (char *)json_string_value(json_object_get(x, "message"));
        if (f[i].finding == NULL)
            f[i].finding = "";
        if (f[i].severity == NULL)
            f[i].severity = "info";
        if (f[i].subject == NULL)
            f[i].subject = "";
        if (f[i].message == NULL)
            f[i].message = "";
        if (strcmp(f[i].severity, "error") == 0)
            c.errors++;
        else if (strcmp(f[i].severity, "warning") == 0)
            c.warnings++;
        else
            c.infos++;
    }
    c.status = could_not_run ? 69 : c.errors ? 2 : c.warnings ? 1 : 0;
    c.dns_id = dns_id_of(dom);
    c.result = json_dumps(dom, JSON_COMPACT | JSON_PRESERVE_ORDER);
    /* The previous run, before this one is stored. */
    struct db_check *prev = NULL;
    size_t nprev = 0;
    struct db_check_finding *pf = NULL;
    size_t npf = 0;
    if (db_check_latest(db, domain, &prev, &nprev) == 0 && nprev > 0)
        db_check_findings(db, prev[0].id, &pf, &npf);
    int64_t id = 0;
    if (db_check_store(db, &c, f, nf, &id) != 0) {
        char q[300];
        log_event(LOG_ERROR, "check.store_failed", "domain=%s reason=%s", domain,
                  log_quote(q, sizeof(q), db_errmsg(db)));
    } else {
        c.id = id;
        db_check_prune(db, domain, CHECK_KEEP);
        log_event(LOG_INFO, "check.done", "domain=%s id=%lld errors=%d warnings=%d ms=%lld", domain,
                  (long long)id, c.errors, c.warnings, (long long)ms);
        /* A run that could not reach a resolver says nothing about the domain. */
        if (nprev > 0 && !could_not_run && prev[0].status != 69) {
            char *body = srv__selfcheck_regression(domain, &c, f, nf, pf, npf, prev[0].id);
            if (body != NULL) {
                log_event(LOG_WARN, "alert.regression", "domain=%s check=%lld", domain,
                          (long long)id);
                srv__webhook_post(sc->hook, body);
            }
        }
    }
    db_check_findings_free(pf, npf);
    db_checks_free(prev, nprev);
    free(c.dns_id);
    free(c.result);
    free(f);
}

/* The domains to check: [checks] domains, else every hosted domain (policy file). */
static void cycle_load(struct selfcheck *sc)
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
    struct hosted *hs = hosted_open(sc->cfg, HOSTED_NO_DB, err, sizeof(err));
    if (hs != NULL && hosted_policy_list(hs, 0, &l, err, sizeof(err)) == 0) {
        sc->cycle = xcalloc(l.n ? l.n : 1, sizeof(char *));
        for (size_t i = 0; i < l.n; i++)
            sc->cycle[i] = xstrdup(l.items[i].domain);
        sc->n_cycle = l.n;
        hosted_policy_list_free(&l);
    }
    hosted_close(hs);
}

int64_t srv__selfcheck_slot_ms(int64_t start_ms, int64_t interval_ms, size_t i, size_t n)
{
    if (n == 0)
        return start_ms;
    /* i * interval / n without overflow for any realistic interval and count */
    return start_ms + (int64_t)((double)interval_ms * (double)i / (double)n);
}

/* Check the domains whose slot has come (at most CHECK_MAX_DOMAINS in one run). */
static void run_due(struct selfcheck *sc, struct db *db, int64_t t_ms)
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
    struct check_opts o = {0};
    o.resolver = cfg->check_resolver;
    o.ca_file = cfg->check_ca_file;
    o.smtp_port = cfg->check_smtp_port;
    o.https_port = cfg->check_https_port;
    o.state_dir = cfg->state_dir;
    o.cert_dir = cfg->cert_dir;
    o.no_private = !cfg->allow_private;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int64_t started = (int64_t)time(NULL);
    json_t *res = NULL;
    char err[300] = "";
    int rc = check_run(&o, (const char *const *)sc->cycle + first, n, &res, err, sizeof(err));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    int64_t ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    if (rc < 0) {
        char q[400];
        log_event(LOG_WARN, "check.unavailable", "reason=%s", log_quote(q, sizeof(q), err));
    }
    size_t i;
    json_t *dom;
    json_array_foreach(json_object_get(res, "domains"), i, dom)
    {
        srv__metrics_count_check();
        store_domain(sc, db, dom, started, ms, rc < 0);
    }
    json_decref(res);
}

/* A domain stsd hosts: it has a policy file. Only those raise report alerts. */
static int is_hosted(const char *policy_dir, const char *domain)
{
    if (!policy_domain_valid(domain))
        return 0;
    char *path = xasprintf("%s/%s.txt", policy_dir, domain);
    for (char *c = path + strlen(policy_dir); *c; c++)
        *c = *c >= 'A' && *c <= 'Z' ? (char)(*c - 'A' + 'a') : *c;
    struct stat stb;
    int yes = stat(path, &stb) == 0 && S_ISREG(stb.st_mode);
    free(path);
    return yes;
}

static int hosted(void *ctx, const char *domain)
{
    return is_hosted(((struct selfcheck *)ctx)->policy_dir, domain);
}

/* Failure rate of the reports stored since the last scan, per policy domain. */
static void scan_reports(struct selfcheck *sc, struct db *db)
{
    struct db_new_reports *v = NULL;
    size_t n = 0;
    int64_t max_id = sc->last_report_id;
    if (db_check_new_reports(db, sc->last_report_id, &v, &n, &max_id, hosted, sc) != 0)
        return;
    for (size_t i = 0; i < n; i++) {
        int64_t total = v[i].successful + v[i].failed;
        if (total <= 0)
            continue;
        double rate = (double)v[i].failed / (double)total;
        if (rate <= sc->cfg->alert_failure_rate)
            continue;
        log_event(LOG_WARN, "alert.failure_rate", "domain=%s failed=%lld total=%lld", v[i].domain,
                  (long long)v[i].failed, (long long)total);
        srv__webhook_post_low(
            sc->hook,
            dump(json_pack("{s:s,s:s,s:o,s:I,s:I,s:I,s:I,s:I,s:f,s:f}", "kind",
                           "reports.failure_rate", "domain", v[i].domain, "time", now_json(),
                           "first_report_id", (json_int_t)(sc->last_report_id + 1),
                           "last_report_id", (json_int_t)max_id, "reports",
                           (json_int_t)v[i].reports, "successful_sessions",
                           (json_int_t)v[i].successful, "failed_sessions", (json_int_t)v[i].failed,
                           "failure_rate", rate, "threshold", sc->cfg->alert_failure_rate)));
    }
    db_new_reports_free(v, n);
    sc->last_report_id = max_id;
}

/* Certificates stsd serves that expire within [alerts] cert_days: one alert per day each. */
static void scan_certs(struct selfcheck *sc, time_t now)
{
    struct admin_cert *c = NULL;
    size_t n = 0;
    srv__admin_certs(sc->cfg->cert_dir, &c, &n);
    int64_t today = (int64_t)now / DAY;
    for (size_t i = 0; i < n; i++) {
        int64_t left_s = c[i].not_after - (int64_t)now;
        if (left_s >= (int64_t)sc->cfg->alert_cert_days * DAY)
            continue;
        size_t k;
        for (k = 0; k < sc->n_certs; k++)
            if (strcmp(sc->certs[k].name, c[i].name) == 0)
                break;
        if (k < sc->n_certs && sc->certs[k].day == today)
            continue;
        if (k == sc->n_certs) {
            if (sc->n_certs == MAX_CERT_ALERTS)
                continue;
            snprintf(sc->certs[k].name, sizeof(sc->certs[k].name), "%s", c[i].name);
            sc->n_certs++;
        }
        sc->certs[k].day = today;
        char na[21];
        format_rfc3339((time_t)c[i].not_after, na);
        const char *base = strrchr(c[i].file, '/');
        log_event(LOG_WARN, "alert.certificate", "name=%s days_left=%lld", c[i].name,
                  (long long)(left_s / DAY));
        srv__webhook_post(
            sc->hook,
            dump(json_pack("{s:s,s:s,s:s,s:o,s:s,s:I,s:i}", "kind", "certificate.expiring", "name",
                           c[i].name, "file", base ? base + 1 : c[i].file, "time", now_json(),
                           "not_after", na, "days_left", (json_int_t)(left_s / DAY),
                           "threshold_days", sc->cfg->alert_cert_days)));
    }
    srv__admin_certs_free(c, n);
}

/* The digest: the previous UTC day's reports per domain, the latest checks, certificates. */
char *srv__selfcheck_digest(struct db *db, const char *cert_dir, const char *policy_dir, time_t now)
{
    int64_t until = (int64_t)now / DAY * DAY, since = until - DAY;
    struct report_summary s;
    memset(&s, 0, sizeof(s));
    s.since = since;
    s.until = until;
    s.by = REPORT_BY_DOMAIN;
    if (db_report_summary(db, &s) != 0) {
        db_report_summary_clear(&s);
        return NULL;
    }
    report_summary_sort(&s);
    json_t *doms = json_array();
    for (size_t i = 0; i < s.groups.n; i++)
        if (policy_dir == NULL || is_hosted(policy_dir, s.groups.v[i].key))
            json_array_append_new(
                doms, json_pack("{s:s,s:I,s:I,s:I}", "domain", s.groups.v[i].key, "reports",
                                (json_int_t)s.groups.v[i].reports, "successful_sessions",
                                (json_int_t)s.groups.v[i].successful, "failed_sessions",
                                (json_int_t)s.groups.v[i].failed));
    struct db_check *c = NULL;
    size_t nc = 0;
    json_t *checks = json_array();
    if (db_check_latest(db, NULL, &c, &nc) == 0)
        for (size_t i = 0; i < nc; i++) {
            char t[21];
            format_rfc3339((time_t)c[i].started, t);
            json_array_append_new(checks,
                                  json_pack("{s:s,s:s,s:i,s:i}", "domain", c[i].domain, "started",
                                            t, "errors", c[i].errors, "warnings", c[i].warnings));
        }
    db_checks_free(c, nc);
    struct admin_cert *ce = NULL;
    size_t nce = 0;
    json_t *certs = json_array();
    srv__admin_certs(cert_dir, &ce, &nce);
    for (size_t i = 0; i < nce; i++)
        json_array_append_new(certs,
                              json_pack("{s:s,s:I}", "name", ce[i].name, "days_left",
                                        (json_int_t)((ce[i].not_after - (int64_t)now) / DAY)));
    srv__admin_certs_free(ce, nce);
    char a[11], b[11], t[21];
    format_date((time_t)since, a);
    format_date((time_t)until, b);
    format_rfc3339(now, t);
    char *body = dump(json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:o,s:o,s:o}", "kind", "digest",
                                "time", t, "since", a, "until", b, "reports", (json_int_t)s.reports,
                                "successful_sessions", (json_int_t)s.successful, "failed_sessions",
                                (json_int_t)s.failed, "domains", doms, "checks", checks,
                                "certificates", certs));
    db_report_summary_clear(&s);
    return body;
}

/* The daily digest: yesterday's reports per domain, the latest checks, the certificates. */
static void send_digest(struct selfcheck *sc, struct db *db, time_t now)
{
    char *body = srv__selfcheck_digest(db, sc->cfg->cert_dir, sc->policy_dir, now);
    if (body == NULL)
        return;
    srv__webhook_post(sc->hook, body);
    log_event(LOG_INFO, "alert.digest", "day=%lld", (long long)((int64_t)now / DAY - 1));
}

/*
 * Copies of a report stored as conflicts (a forged early copy, or the genuine one
 * after it): one webhook for each new copy that names a hosted policy-domain, at most
 * CONFLICT_ALERTS a scan (the rest follow at the next scans). Copies stored before this
 * start are not new.
 */
static void scan_conflicts(struct selfcheck *sc, struct db *db)
{
    enum { CONFLICT_ALERTS = 16 };
    static int64_t after = -1; /* this thread only: the newest report id looked at */
    if (after < 0) {
        if (db_report_conflicts_after(db, 0, 0, NULL, NULL, &after) != 0)
            after = -1;
        return;
    }
    struct db_report_conflict *v = NULL;
    size_t n = 0;
    int64_t max_id = after;
    if (db_report_conflicts_after(db, after, CONFLICT_ALERTS, &v, &n, &max_id) != 0)
        return;
    for (size_t i = 0; i < n; i++) {
        const char *hosted = NULL;
        for (size_t j = 0; j < v[i].n_domains && hosted == NULL; j++) {
            if (is_hosted(sc->policy_dir, v[i].domains[j]))
                hosted = v[i].domains[j];
        }
        if (hosted == NULL)
            continue;
        char org[200], rid[300];
        log_event(LOG_WARN, "alert.conflict",
                  "id=%lld conflict_of=%lld org=%s report_id=%s "
                  "domain=%s",
                  (long long)v[i].id, (long long)v[i].conflict_of,
                  log_quote(org, sizeof(org), v[i].organization_name),
                  log_quote(rid, sizeof(rid), v[i].report_id), hosted);
        srv__webhook_post(
            sc->hook, dump(json_pack(
                          "{s:s,s:s,s:o,s:I,s:I,s:s,s:s,s:s}", "kind", "reports.conflict", "domain",
                          hosted, "time", now_json(), "id", (json_int_t)v[i].id, "conflict_of",
                          (json_int_t)v[i].conflict_of, "organization_name", v[i].organization_name,
                          "report_id", v[i].report_id, "source", v[i].source ? v[i].source : "")));
    }
    after = n == CONFLICT_ALERTS ? v[n - 1].id : max_id;
    db_report_conflicts_free(v, n);
}

static void *selfcheck_main(void *arg)
{
    struct selfcheck *sc = arg;
    struct db *db = NULL;
    const struct stsd_config *cfg = sc->cfg;
    time_t now = time(NULL);
    time_t next_check = cfg->check_interval > 0 ? now + FIRST_CHECK_DELAY : 0;
    time_t next_scan = now;
    int64_t digest_day = (int64_t)now / DAY; /* the first digest comes at the next midnight */
    int have_cursor = 0;
    pthread_mutex_lock(&sc->mu);
    while (!sc->stop) {
        pthread_mutex_unlock(&sc->mu);
        now = time(NULL);
        if (db == NULL) {
            char err[512];
            db = db_open(sc->db_path, err, sizeof(err));
            if (db == NULL) {
                char q[600];
                log_event(LOG_ERROR, "check.db", "reason=%s", log_quote(q, sizeof(q), err));
            }
        }
        if (db != NULL && !have_cursor && next_check) {
            /* A restart does not re-check at once what was checked less than an interval
             * ago: the next run is one interval after the newest stored one. */
            struct db_check *h = NULL;
            size_t nh = 0;
            if (db_check_history(db, NULL, 1, 0, &h, &nh) == 0 && nh == 1 &&
                h[0].started + cfg->check_interval > (int64_t)next_check)
                next_check = (time_t)(h[0].started + cfg->check_interval);
            db_checks_free(h, nh);
        }
        if (db != NULL && !have_cursor) {
            size_t n = 0;
            /* Reports stored before this start are not "new". */
            have_cursor =
                db_check_new_reports(db, 0, NULL, &n, &sc->last_report_id, NULL, NULL) == 0;
        }
        if (db != NULL && next_check && now >= next_check && sc->next >= sc->n_cycle) {
            /* A new interval (once the previous one's checks are all done): every domain gets a
             * slot in it. */
            cycle_load(sc);
            sc->cycle_ms = (int64_t)now * 1000;
            next_check = now + cfg->check_interval;
            log_event(LOG_INFO, "check.interval", "domains=%zu interval=%lld", sc->n_cycle,
                      (long long)cfg->check_interval);
        }
        if (db != NULL && sc->next < sc->n_cycle) {
            run_due(sc, db, now_ms());
            if (sc->next == sc->n_cycle && time(NULL) > next_check)
                log_event(LOG_WARN, "check.behind",
                          "domains=%zu interval=%lld late_s=%lld reason=\"the checks of one "
                          "interval took longer than the interval\"",
                          sc->n_cycle, (long long)cfg->check_interval,
                          (long long)(time(NULL) - next_check));
            if (sc->next == sc->n_cycle && time(NULL) >= next_check)
                next_check = time(NULL); /* the next interval starts now */
        }
        if (sc->hook != NULL && now >= next_scan) {
            if (db != NULL && have_cursor)
                scan_reports(sc, db);
            if (db != NULL)
                scan_conflicts(sc, db);
            scan_certs(sc, now);
            if (cfg->digest_daily && db != NULL && (int64_t)now / DAY != digest_day) {
                digest_day = (int64_t)now / DAY;
                send_digest(sc, db, now);
            }
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
    db_close(db);
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

void srv__selfcheck_start(const struct stsd_config *cfg, const char *policy_dir,
                          const char *db_path)
{
    if (cfg->check_interval <= 0 && cfg->webhook_url == NULL)
        return;
    struct selfcheck *sc = xcalloc(1, sizeof(*sc));
    sc->cfg = cfg;
    sc->policy_dir = xstrdup(policy_dir);
    sc->db_path = xstrdup(db_path);
    if (cfg->webhook_url != NULL)
        sc->hook = srv__webhook_new(cfg->webhook_url, cfg->allow_private);
    pthread_mutex_init(&sc->mu, NULL);
    pthread_cond_init(&sc->cv, NULL);
    if (pthread_create(&sc->thread, NULL, selfcheck_main, sc) != 0) {
        log_event(LOG_ERROR, "check.thread", "reason=\"cannot start the self-check thread\"");
        srv__webhook_free(sc->hook);
        free(sc->policy_dir);
        free(sc->db_path);
        free(sc);
        return;
    }
    selfcheck = sc;
    log_event(LOG_INFO, "check.scheduled", "interval=%lld webhook=%s",
              (long long)cfg->check_interval, cfg->webhook_url ? "yes" : "no");
}

void srv__selfcheck_stop(void)
{
    struct selfcheck *sc = selfcheck;
    if (sc == NULL)
        return;
    selfcheck = NULL;
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
    free(sc->policy_dir);
    free(sc->db_path);
    free(sc);
}
