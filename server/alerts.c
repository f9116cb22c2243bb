/* alerts.c - the alert scans of serve's self-check thread ([alerts]): failure rates in new
 * reports, new conflicting copies of reports, certificates near expiry, certificates near
 * expiry whose ACME renewal keeps failing, and the daily digest, each sent as a webhook body. */
#include "server/admin_int.h"
#include "server/server_int.h"
#include "common/common.h"
#include "hosted/hosted.h"
#include "reports/reports.h"
#include "sql/db.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DAY 86400
#define MAX_CERT_ALERTS 1024

struct cert_alerted {
    char name[256];
    int64_t day; /* UTC day number of the last alert */
};

struct srv__alerts {
    const struct stsd_config *cfg;
    struct srv_webhook *hook;
    struct hosted *h; /* during a scan */
    int have_cursor;
    int64_t last_report_id;  /* reports up to this id were scanned */
    int64_t conflicts_after; /* the newest report id looked at for conflicts; -1 not yet */
    int64_t digest_day;      /* UTC day of the last digest */
    struct cert_alerted certs[MAX_CERT_ALERTS];
    size_t n_certs;
    struct cert_alerted renewals[MAX_CERT_ALERTS]; /* by domain */
    size_t n_renewals;
};

char *srv__json_body(json_t *o)
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

/* A domain stsd hosts: it has a policy file (also an unreadable one). Only those raise
 * report alerts. */
static int is_hosted(struct hosted *h, const char *domain)
{
    struct hosted_policy p;
    memset(&p, 0, sizeof(p));
    int rc = hosted_policy_get(h, domain, 0, &p);
    int yes = rc != 0; /* -1: the file is there but unreadable */
    hosted_policy_clear(&p);
    return yes;
}

static int hosted_cb(void *ctx, const char *domain)
{
    return is_hosted(ctx, domain);
}

/* Failure rate of the reports stored since the last scan, per policy domain. */
static void scan_reports(struct srv__alerts *sc, struct db *db)
{
    struct db_new_reports *v = NULL;
    size_t n = 0;
    int64_t max_id = sc->last_report_id;
    if (db_check_new_reports(db, sc->last_report_id, &v, &n, &max_id, hosted_cb, sc->h) != 0)
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
            srv__json_body(json_pack(
                "{s:s,s:s,s:o,s:I,s:I,s:I,s:I,s:I,s:f,s:f}", "kind", "reports.failure_rate",
                "domain", v[i].domain, "time", now_json(), "first_report_id",
                (json_int_t)(sc->last_report_id + 1), "last_report_id", (json_int_t)max_id,
                "reports", (json_int_t)v[i].reports, "successful_sessions",
                (json_int_t)v[i].successful, "failed_sessions", (json_int_t)v[i].failed,
                "failure_rate", rate, "threshold", sc->cfg->alert_failure_rate)));
    }
    db_new_reports_free(v, n);
    sc->last_report_id = max_id;
}

/* 1 when `name` has had no alert today (and records that it has one now); 0 when it had one,
 * or when the table is full. */
static int first_today(struct cert_alerted *v, size_t *n, const char *name, int64_t today)
{
    size_t k;
    for (k = 0; k < *n; k++)
        if (strcmp(v[k].name, name) == 0)
            break;
    if (k < *n && v[k].day == today)
        return 0;
    if (k == *n) {
        if (*n == MAX_CERT_ALERTS)
            return 0;
        snprintf(v[k].name, sizeof(v[k].name), "%s", name);
        (*n)++;
    }
    v[k].day = today;
    return 1;
}

/* Certificates stsd serves that expire within [alerts] cert_days: one alert per day each. */
static void scan_certs(struct srv__alerts *sc, struct hosted *h, time_t now)
{
    const struct hosted_cert *c = NULL;
    size_t n = 0;
    if (hosted_certs(h, &c, &n) != 0)
        return;
    int64_t today = (int64_t)now / DAY;
    for (size_t i = 0; i < n; i++) {
        int64_t left_s = c[i].not_after - (int64_t)now;
        if (left_s >= (int64_t)sc->cfg->alert_cert_days * DAY ||
            !first_today(sc->certs, &sc->n_certs, c[i].name, today))
            continue;
        char na[21];
        format_rfc3339((time_t)c[i].not_after, na);
        const char *base = strrchr(c[i].file, '/');
        log_event(LOG_WARN, "alert.certificate", "name=%s days_left=%lld", c[i].name,
                  (long long)(left_s / DAY));
        srv__webhook_post(sc->hook,
                          srv__json_body(json_pack(
                              "{s:s,s:s,s:s,s:o,s:s,s:I,s:i}", "kind", "certificate.expiring",
                              "name", c[i].name, "file", base ? base + 1 : c[i].file, "time",
                              now_json(), "not_after", na, "days_left", (json_int_t)(left_s / DAY),
                              "threshold_days", sc->cfg->alert_cert_days)));
    }
}

/*
 * Hosted domains whose served certificate expires within [alerts] cert_days while ACME keeps
 * failing to renew it: the certificate will lapse unless someone looks at the renewal. One
 * alert per domain per day, with the latest error.
 */
static void scan_renewals(struct srv__alerts *sc, struct hosted *h, time_t now)
{
    if (sc->cfg->acme_directory == NULL || sc->cfg->acme_directory[0] == '\0')
        return;
    struct hosted_acme *a = NULL;
    size_t na = 0;
    const struct hosted_cert *c = NULL;
    size_t nc = 0;
    if (hosted_acme_list(h, &a, &na) != 0)
        return;
    if (hosted_certs(h, &c, &nc) != 0)
        nc = 0;
    int64_t today = (int64_t)now / DAY;
    for (size_t i = 0; i < na; i++) {
        if (!srv__acme_failing(a[i].state, a[i].failures) || !is_hosted(h, a[i].domain))
            continue;
        int k = nc > 0 ? hosted_cert_for(h, a[i].domain) : -1;
        int64_t left_s = k >= 0 ? c[k].not_after - (int64_t)now : 0;
        if (k < 0 || left_s >= (int64_t)sc->cfg->alert_cert_days * DAY ||
            !first_today(sc->renewals, &sc->n_renewals, a[i].domain, today))
            continue;
        char na_s[21], next[21], q[600];
        format_rfc3339((time_t)c[k].not_after, na_s);
        format_rfc3339((time_t)a[i].next_attempt, next);
        const char *err = a[i].last_error ? a[i].last_error : "";
        log_event(LOG_WARN, "alert.renewal_failing",
                  "domain=%s days_left=%lld failures=%d error=%s", a[i].domain,
                  (long long)(left_s / DAY), a[i].failures, log_quote(q, sizeof(q), err));
        char *name = xasprintf("mta-sts.%s", a[i].domain);
        srv__webhook_post(
            sc->hook, srv__json_body(json_pack("{s:s,s:s,s:s,s:o,s:s,s:I,s:i,s:s,s:s?,s:i}", "kind",
                                               "certificate.renewal_failing", "domain", a[i].domain,
                                               "name", name, "time", now_json(), "not_after", na_s,
                                               "days_left", (json_int_t)(left_s / DAY), "failures",
                                               a[i].failures, "last_error", err, "next_attempt",
                                               a[i].next_attempt > 0 ? next : NULL,
                                               "threshold_days", sc->cfg->alert_cert_days)));
        free(name);
    }
    hosted_acme_free(a, na);
}

/* The digest: the previous UTC day's reports per domain, the latest checks, certificates. */
char *srv__selfcheck_digest(struct hosted *h, time_t now)
{
    char err[300];
    struct db *db = hosted_db(h, err, sizeof(err));
    if (db == NULL)
        return NULL;
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
        if (is_hosted(h, s.groups.v[i].key))
            json_array_append_new(
                doms, json_pack("{s:s,s:I,s:I,s:I}", "domain", s.groups.v[i].key, "reports",
                                (json_int_t)s.groups.v[i].reports, "successful_sessions",
                                (json_int_t)s.groups.v[i].successful, "failed_sessions",
                                (json_int_t)s.groups.v[i].failed));
    struct db_check *c = NULL;
    size_t nc = 0;
    json_t *checks = json_array();
    if (hosted_check_latest(h, NULL, &c, &nc) == 0)
        for (size_t i = 0; i < nc; i++) {
            char t[21];
            format_rfc3339((time_t)c[i].started, t);
            json_array_append_new(checks,
                                  json_pack("{s:s,s:s,s:i,s:i}", "domain", c[i].domain, "started",
                                            t, "errors", c[i].errors, "warnings", c[i].warnings));
        }
    db_checks_free(c, nc);
    const struct hosted_cert *ce = NULL;
    size_t nce = 0;
    json_t *certs = json_array();
    if (hosted_certs(h, &ce, &nce) != 0)
        nce = 0;
    for (size_t i = 0; i < nce; i++)
        json_array_append_new(certs,
                              json_pack("{s:s,s:I}", "name", ce[i].name, "days_left",
                                        (json_int_t)((ce[i].not_after - (int64_t)now) / DAY)));
    char a[11], b[11], t[21];
    format_date((time_t)since, a);
    format_date((time_t)until, b);
    format_rfc3339(now, t);
    char *body = srv__json_body(
        json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:o,s:o,s:o}", "kind", "digest", "time", t, "since",
                  a, "until", b, "reports", (json_int_t)s.reports, "successful_sessions",
                  (json_int_t)s.successful, "failed_sessions", (json_int_t)s.failed, "domains",
                  doms, "checks", checks, "certificates", certs));
    db_report_summary_clear(&s);
    return body;
}

/*
 * Copies of a report stored as conflicts (a forged early copy, or the genuine one
 * after it): one webhook for each new copy that names a hosted policy-domain, at most
 * CONFLICT_ALERTS a scan (the rest follow at the next scans). Copies stored before this
 * start are not new.
 */
static void scan_conflicts(struct srv__alerts *sc, struct db *db)
{
    enum { CONFLICT_ALERTS = 16 };
    int64_t after = sc->conflicts_after;
    if (after < 0) {
        if (db_report_conflicts_after(db, 0, 0, NULL, NULL, &after) != 0)
            after = -1;
        sc->conflicts_after = after;
        return;
    }
    struct db_report_conflict *v = NULL;
    size_t n = 0;
    int64_t max_id = after;
    if (db_report_conflicts_after(db, after, CONFLICT_ALERTS, &v, &n, &max_id) != 0)
        return;
    for (size_t i = 0; i < n; i++) {
        const char *hosted = NULL;
        for (size_t j = 0; j < v[i].n_domains && hosted == NULL; j++)
            if (is_hosted(sc->h, v[i].domains[j]))
                hosted = v[i].domains[j];
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
            sc->hook, srv__json_body(json_pack(
                          "{s:s,s:s,s:o,s:I,s:I,s:s,s:s,s:s}", "kind", "reports.conflict", "domain",
                          hosted, "time", now_json(), "id", (json_int_t)v[i].id, "conflict_of",
                          (json_int_t)v[i].conflict_of, "organization_name", v[i].organization_name,
                          "report_id", v[i].report_id, "source", v[i].source ? v[i].source : "")));
    }
    sc->conflicts_after = n == CONFLICT_ALERTS ? v[n - 1].id : max_id;
    db_report_conflicts_free(v, n);
}

struct srv__alerts *srv__alerts_new(const struct stsd_config *cfg, struct srv_webhook *hook)
{
    struct srv__alerts *a = xcalloc(1, sizeof(*a));
    a->cfg = cfg;
    a->hook = hook;
    a->conflicts_after = -1;
    a->digest_day = (int64_t)time(NULL) / DAY; /* the first digest comes at the next midnight */
    return a;
}

void srv__alerts_scan(struct srv__alerts *a, struct hosted *h, time_t now)
{
    char err[300];
    struct db *db = hosted_db(h, err, sizeof(err));
    a->h = h;
    if (db != NULL && !a->have_cursor) {
        size_t n = 0;
        /* Reports stored before this start are not "new". */
        a->have_cursor = db_check_new_reports(db, 0, NULL, &n, &a->last_report_id, NULL, NULL) == 0;
    }
    if (a->hook != NULL) {
        if (db != NULL && a->have_cursor)
            scan_reports(a, db);
        if (db != NULL)
            scan_conflicts(a, db);
        scan_certs(a, h, now);
        scan_renewals(a, h, now);
        if (a->cfg->digest_daily && db != NULL && (int64_t)now / DAY != a->digest_day) {
            a->digest_day = (int64_t)now / DAY;
            char *body = srv__selfcheck_digest(h, now);
            if (body != NULL) {
                srv__webhook_post(a->hook, body);
                log_event(LOG_INFO, "alert.digest", "day=%lld", (long long)(a->digest_day - 1));
            }
        }
    }
    a->h = NULL;
}

void srv__alerts_free(struct srv__alerts *a)
{
    free(a);
}
