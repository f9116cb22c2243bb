/* admin_metrics.c - /metrics in the Prometheus text exposition format (version 0.0.4): the
 * process counters of metrics.c and metrics_reports.c (hosted domains only), the ACME orders
 * and the certificate of each hosted domain, and the latest self-checks. */
#include "server/admin_int.h"
#include "acme/acme.h"
#include "common/common.h"
#include "hosted/hosted.h"
#include "reports/reports.h"
#include "sql/db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY 86400

/* A label value with \ " and newline escaped, as the format requires; the runs between them
 * are copied whole (a scrape writes tens of thousands of label values). */
static void label(struct admin_buf *b, const char *s)
{
    while (s != NULL && *s != '\0') {
        size_t n = strcspn(s, "\\\"\n");
        if (n > 0)
            srv__buf_printf(b, "%.*s", (int)n, s);
        if (s[n] == '\0')
            break;
        srv__buf_printf(b, "%s", s[n] == '\\' ? "\\\\" : s[n] == '"' ? "\\\"" : "\\n");
        s += n + 1;
    }
}

static void head(struct admin_buf *b, const char *name, const char *type, const char *help)
{
    srv__buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A counter with one series per result, "ok" and "failed". */
static void by_result(struct admin_buf *b, const char *name, const char *help,
                      unsigned long long ok, unsigned long long failed)
{
    head(b, name, "counter", help);
    srv__buf_printf(b, "%s{result=\"ok\"} %llu\n", name, ok);
    srv__buf_printf(b, "%s{result=\"failed\"} %llu\n", name, failed);
}

/* The per-domain report series, from the counters of metrics_reports.c (no query). */
static void sessions(struct admin_buf *b, const struct srv__metrics_domain *v, size_t n,
                     int64_t reports)
{
    head(b, "stsd_reports_stored", "gauge", "Reports in the database.");
    srv__buf_printf(b, "stsd_reports_stored %lld\n", (long long)reports);
    head(b, "stsd_sessions", "gauge",
         "Sessions in stored reports by hosted policy domain and outcome (all time).");
    for (size_t i = 0; i < n; i++) {
        srv__buf_printf(b, "stsd_sessions{domain=\"");
        label(b, v[i].domain);
        srv__buf_printf(b, "\",result=\"successful\"} %lld\n", (long long)v[i].successful);
        srv__buf_printf(b, "stsd_sessions{domain=\"");
        label(b, v[i].domain);
        srv__buf_printf(b, "\",result=\"failed\"} %lld\n", (long long)v[i].failed);
    }
    head(b, "stsd_failed_sessions", "gauge",
         "Failed sessions in stored reports' failure details by hosted policy domain and result "
         "type (the RFC 8460 types, anything else as \"other\"; all time).");
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < SRV_RESULT_TYPES; k++) {
            if (v[i].by_type[k] == 0)
                continue;
            srv__buf_printf(b, "stsd_failed_sessions{domain=\"");
            label(b, v[i].domain);
            srv__buf_printf(b, "\",result_type=\"%s\"} %lld\n", srv__metrics_result_type_name(k),
                            (long long)v[i].by_type[k]);
        }
}

/* `name{domain="d"` of a per-domain series; the caller adds the rest. */
static void domain_series(struct admin_buf *b, const char *name, const char *domain)
{
    srv__buf_printf(b, "%s{domain=\"", name);
    label(b, domain);
    srv__buf_printf(b, "\"");
}

void srv__metrics_acme_write(struct admin_buf *b, const struct srv_acme_stats *st,
                             const struct srv__metrics_domain *v, size_t n,
                             const struct admin_certs_view *cv, const struct srv__acme_brief *rows,
                             size_t nr, time_t now)
{
    head(b, "stsd_acme_enabled", "gauge",
         "1 when [acme] directory is set and certificates are ordered.");
    srv__buf_printf(b, "stsd_acme_enabled %d\n", st->enabled ? 1 : 0);
    head(b, "stsd_acme_orders_total", "counter", "ACME orders finished by result.");
    for (int r = ACME_OK; r <= ACME_E_LOCAL; r++)
        srv__buf_printf(b, "stsd_acme_orders_total{result=\"%s\"} %llu\n",
                        acme_status_name((enum acme_status)r), (unsigned long long)st->orders[r]);
    head(b, "stsd_acme_orders_in_flight", "gauge", "ACME orders running now.");
    srv__buf_printf(b, "stsd_acme_orders_in_flight %d\n", st->in_flight);
    head(b, "stsd_acme_orders_in_flight_max", "gauge",
         "The most ACME orders that ran at once since the start.");
    srv__buf_printf(b, "stsd_acme_orders_in_flight_max %d\n", st->in_flight_max);

    head(b, "stsd_certificate_days_left", "gauge",
         "Days until the certificate served for mta-sts.<domain> expires (negative: expired).");
    for (size_t i = 0; i < n; i++) {
        const struct admin_cert_fact *c = srv__admin_certs_find(cv, v[i].domain);
        if (c == NULL)
            continue;
        domain_series(b, "stsd_certificate_days_left", v[i].domain);
        srv__buf_printf(b, "} %.3f\n", (double)(c->not_after - (int64_t)now) / DAY);
    }
    head(b, "stsd_certificate_source", "gauge",
         "Where the certificate served for mta-sts.<domain> comes from: acme, file, none.");
    for (size_t i = 0; i < n; i++) {
        const struct admin_cert_fact *c = srv__admin_certs_find(cv, v[i].domain);
        domain_series(b, "stsd_certificate_source", v[i].domain);
        srv__buf_printf(b, ",source=\"%s\"} 1\n", c ? c->source : "none");
    }
    head(b, "stsd_acme_failures", "gauge", "Consecutive failed ACME orders of each domain.");
    for (size_t i = 0; i < n; i++) {
        const struct srv__acme_brief *a = srv__acme_brief_find(rows, nr, v[i].domain);
        if (a == NULL)
            continue;
        domain_series(b, "stsd_acme_failures", v[i].domain);
        srv__buf_printf(b, "} %d\n", a->failures);
    }
    head(b, "stsd_acme_next_attempt_timestamp_seconds", "gauge",
         "No ACME order for the domain before this time (back-off, Retry-After).");
    for (size_t i = 0; i < n; i++) {
        const struct srv__acme_brief *a = srv__acme_brief_find(rows, nr, v[i].domain);
        if (a == NULL || a->next_attempt <= 0)
            continue;
        domain_series(b, "stsd_acme_next_attempt_timestamp_seconds", v[i].domain);
        srv__buf_printf(b, "} %lld\n", (long long)a->next_attempt);
    }
}

/* The latest self-check of each hosted domain: one index seek per domain, however many runs
 * are stored. */
static void checks(struct admin_buf *b, struct db *db, const struct srv__metrics_domain *v,
                   size_t n)
{
    struct db_check *c = xcalloc(n ? n : 1, sizeof(*c));
    for (size_t i = 0; i < n; i++)
        if (db_check_latest_counts(db, v[i].domain, &c[i]) != 1)
            c[i].id = 0;
    head(b, "stsd_check_findings", "gauge",
         "Findings of the latest self-check of each domain by severity.");
    for (size_t i = 0; i < n; i++) {
        static const char *const sev[] = {"error", "warning", "info"};
        int cnt[] = {c[i].errors, c[i].warnings, c[i].infos};
        for (int k = 0; k < 3 && c[i].id != 0; k++) {
            srv__buf_printf(b, "stsd_check_findings{domain=\"");
            label(b, v[i].domain);
            srv__buf_printf(b, "\",severity=\"%s\"} %d\n", sev[k], cnt[k]);
        }
    }
    head(b, "stsd_check_timestamp_seconds", "gauge", "When the latest self-check ran.");
    for (size_t i = 0; i < n; i++) {
        if (c[i].id == 0)
            continue;
        srv__buf_printf(b, "stsd_check_timestamp_seconds{domain=\"");
        label(b, v[i].domain);
        srv__buf_printf(b, "\"} %lld\n", (long long)c[i].started);
    }
    free(c);
}

void srv__admin_metrics(const struct admin_env *env, struct db *db, const struct admin_request *rq,
                        struct admin_response *rs)
{
    time_t now = rq->now;
    struct srv__metrics_snapshot *m = xmalloc(sizeof(*m));
    srv__metrics_snapshot(m);
    struct admin_buf b = {0};
    head(&b, "stsd_http_requests_total", "counter", "Requests answered by endpoint and status.");
    for (int e = 0; e < SRV_EP__N; e++)
        for (int s = 0; s < 600; s++)
            if (m->requests[e][s])
                srv__buf_printf(
                    &b, "stsd_http_requests_total{endpoint=\"%s\",status=\"%d\"} %llu\n",
                    srv__metrics_endpoint_name(e), s, (unsigned long long)m->requests[e][s]);
    head(&b, "stsd_report_posts_total", "counter",
         "Report POSTs by outcome (stored, duplicate, or the reason for rejecting them).");
    for (int o = 0; o < SRV_REPORT__N; o++)
        srv__buf_printf(&b, "stsd_report_posts_total{outcome=\"%s\"} %llu\n",
                        srv__metrics_outcome_name(o), (unsigned long long)m->reports[o]);
    by_result(&b, "stsd_policy_reloads_total", "Policy reloads by result.",
              (unsigned long long)m->reloads_ok, (unsigned long long)m->reloads_failed);
    head(&b, "stsd_policies_served", "gauge", "Policies served after the last (re)load.");
    srv__buf_printf(&b, "stsd_policies_served %lld\n", (long long)m->policies);
    head(&b, "stsd_policy_files_broken", "gauge",
         "Policy files that do not parse (their last good version, if any, is served).");
    srv__buf_printf(&b, "stsd_policy_files_broken %lld\n", (long long)m->policies_broken);
    by_result(&b, "stsd_webhook_deliveries_total", "Alert webhook attempts by result.",
              (unsigned long long)m->webhooks_sent, (unsigned long long)m->webhooks_failed);
    head(&b, "stsd_checks_total", "counter", "Self-checks run by this process.");
    srv__buf_printf(&b, "stsd_checks_total %llu\n", (unsigned long long)m->checks_run);
    free(m);

    struct srv__metrics_domain *v = NULL;
    size_t nv = 0;
    int64_t reports = 0;
    srv__metrics_domains(&v, &nv, &reports); /* none and 0 when the counters are off */
    struct srv_acme_stats st;
    srv_acme_stats(&st);
    struct srv__acme_brief *rows = NULL;
    size_t nr = 0;
    srv__metrics_acme_copy(&rows, &nr);
    srv__metrics_acme_write(&b, &st, v, nv, srv__admin_certs_view(rq->hosted), rows, nr, now);
    srv__acme_briefs_free(rows, nr);
    sessions(&b, v, nv, reports);
    checks(&b, db, v, nv);
    srv__metrics_domains_free(v, nv);
    srv__mail_metrics_write(&b);

    free(rs->body);
    rs->body = b.p ? b.p : xstrdup("");
    rs->len = b.len;
    rs->status = 200;
    rs->content_type = "text/plain; version=0.0.4; charset=utf-8";
}
