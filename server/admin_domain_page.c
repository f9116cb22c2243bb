/* admin_domain_page.c - the dashboard page of one hosted domain (/domains/{d}): its policy,
 * the ids recorded, served and published, the certificate and its ACME orders, the latest
 * check with every finding, and the charts of its reports. */
#include "server/admin_int.h"
#include "common/common.h"
#include "hosted/hosted.h"
#include "policy/policy.h"
#include "reports/reports.h"
#include "sql/db.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void state_cards(struct admin_buf *b, const struct admin_domain *d,
                        const struct hosted_acme *acme, time_t now)
{
    srv__buf_printf(b, "<div class=\"cards\">");
    if (d->valid)
        srv__card(b, "mode", "policy mode", d->mode == POLICY_MODE_ENFORCE ? "ok" : "warn",
                  policy_mode_name((enum policy_mode)d->mode));
    else
        srv__card(b, "mode", "policy mode", "bad", "invalid file");
    srv__card(b, "policy_id", "id recorded for the file", NULL,
              d->policy_id[0] ? d->policy_id : "(not recorded)");
    if (d->have_served)
        srv__card(b, "served", "id served", d->served && !d->stale ? "ok" : "bad",
                  !d->served        ? "nothing (404)"
                  : d->stale        ? "last good version"
                  : d->served_id[0] ? d->served_id
                                    : "(unknown)");
    const char *id = srv__admin_domain_id(d);
    if (!d->checked)
        srv__card(b, "dns", "DNS _mta-sts id", NULL, "not checked yet");
    else if (d->dns_id != NULL && id[0] && strcmp(d->dns_id, id) == 0)
        srv__card(b, "dns", "DNS _mta-sts id", "ok", d->dns_id);
    else {
        char s[80];
        snprintf(s, sizeof(s), "stale: %s", d->dns_id ? d->dns_id : "none published");
        srv__card(b, "dns", "DNS _mta-sts id", "bad", s);
    }
    if (d->has_cert) {
        int64_t left = srv__days_left(d->cert_not_after, now);
        srv__card_int(b, "cert_days", "certificate days left", srv__cert_soon(left) ? "bad" : "ok",
                      left);
    } else {
        srv__card(b, "cert_days", "certificate", "bad", "none in cert_dir");
    }
    if (acme != NULL && srv__acme_failing(acme->state, acme->failures))
        srv__card_int(b, "acme_failing", "ACME orders failing", "bad", acme->failures);
    srv__buf_printf(b, "</div>");
}

/* What the server's policy table says of a file that does not parse. */
static void file_error(struct admin_buf *b, const struct admin_invalid *iv, int served)
{
    if (iv == NULL)
        return;
    srv__buf_printf(b, "<p class=\"bad\" id=\"file-error\">The policy file <code>");
    srv__buf_html(b, iv->file);
    srv__buf_printf(b, "</code>");
    if (iv->line > 0)
        srv__buf_printf(b, " line %d", iv->line);
    srv__buf_printf(b, ": ");
    srv__buf_html(b, iv->reason);
    srv__buf_printf(b, " (%s).</p>",
                    served ? "its last good version is served" : "nothing is served for it");
}

/* A time for the card: RFC 3339, or `none` when t is 0. */
static void card_time(struct admin_buf *b, const char *key, const char *label, int64_t t,
                      const char *none)
{
    char s[21];
    if (t > 0)
        format_rfc3339((time_t)t, s);
    srv__buf_printf(b, "<tr><th>%s</th><td data-k=\"%s\">%s</td></tr>", label, key,
                    t > 0 ? s : none);
}

void srv__admin_cert_card(struct admin_buf *b, const struct admin_domain *d,
                          const struct hosted_acme *acme, int acme_on, time_t now)
{
    srv__buf_printf(b, "<table class=\"cert\" id=\"cert-card\">");
    if (d->has_cert) {
        const char *base = strrchr(d->cert_file, '/');
        int64_t left = srv__days_left(d->cert_not_after, now);
        srv__buf_printf(b, "<tr><th>file</th><td>");
        srv__buf_html(b, base ? base + 1 : d->cert_file);
        srv__buf_printf(b, "</td></tr><tr><th>issuer</th><td data-k=\"issuer\">");
        srv__buf_html(b, d->cert_issuer ? d->cert_issuer : "");
        srv__buf_printf(b, "</td></tr>");
        card_time(b, "not_after", "not after", d->cert_not_after, "-");
        srv__buf_printf(b,
                        "<tr><th>days left</th><td data-k=\"days_left\" class=\"%s\">%lld</td>"
                        "</tr>",
                        srv__cert_soon(left) ? "bad" : "ok", (long long)left);
    }
    srv__buf_printf(b, "<tr><th>source</th><td data-k=\"source\">%s</td></tr>",
                    !d->has_cert        ? "none"
                    : d->cert_source[0] ? d->cert_source
                                        : "file");
    if (acme_on) {
        const struct hosted_acme *a = acme && acme->domain ? acme : NULL;
        int failing = a != NULL && srv__acme_failing(a->state, a->failures);
        srv__buf_printf(b,
                        "<tr><th>ACME state</th><td data-k=\"acme_state\" class=\"%s\">%s</td>"
                        "</tr><tr><th>consecutive failures</th><td data-k=\"acme_failures\">%d"
                        "</td></tr><tr><th>last error</th><td data-k=\"acme_last_error\">",
                        failing ? "bad" : "", a && a->state[0] ? a->state : "not ordered yet",
                        a ? a->failures : 0);
        srv__buf_html(b, a && a->last_error ? a->last_error : "none");
        srv__buf_printf(b, "</td></tr>");
        card_time(b, "acme_next_attempt", "next attempt", a ? a->next_attempt : 0, "when due");
        card_time(b, "acme_last_success", "last success", a ? a->last_success : 0, "never");
    }
    srv__buf_printf(b, "</table>");
    if (!d->has_cert)
        srv__buf_printf(b,
                        "<p class=\"bad\">No certificate in cert_dir serves this name: "
                        "senders cannot fetch the policy%s.</p>",
                        acme_on ? " until ACME obtains one" : "");
}

static void policy_part(struct admin_buf *b, const struct admin_domain *d,
                        const struct hosted_acme *acme, int acme_on, time_t now, const char *csrf)
{
    srv__buf_printf(b, "<div id=\"policy\"><h3>Policy</h3>");
    if (!d->valid && d->error) {
        srv__buf_printf(b, "<p class=\"bad\">Policy file error: ");
        srv__buf_html(b, d->error);
        srv__buf_printf(b, "</p>");
    }
    if (d->text) {
        srv__buf_printf(b, "<pre id=\"policy-text\">");
        srv__buf_html(b, d->text);
        srv__buf_printf(b, "</pre>");
    }
    const char *id = srv__admin_domain_id(d);
    if (id[0]) {
        char rec[80];
        srv__buf_printf(b, "<p>DNS record to publish: <code id=\"sts-record\">_mta-sts.");
        srv__buf_html(b, d->domain);
        srv__buf_printf(b, ". IN TXT \"");
        srv__buf_html(b, policy_sts_txt_format(id, rec, sizeof(rec)));
        srv__buf_printf(b, "\"</code></p>");
    }
    srv__buf_printf(b, "<h3>Certificate for mta-sts.");
    srv__buf_html(b, d->domain);
    srv__buf_printf(b, "</h3>");
    srv__admin_cert_card(b, d, acme, acme_on, now);
    /* The management forms (admin_forms.c), with this session's CSRF token. */
    srv__buf_printf(b, "<h3>Manage</h3>");
    srv__form_policy(b, csrf, d->domain,
                     d->valid ? policy_mode_name((enum policy_mode)d->mode) : "testing",
                     (const char *const *)d->mx, d->n_mx, d->max_age);
    srv__form_enforce(b, csrf, d->domain);
    srv__form_certificate(b, csrf, d->domain);
    srv__form_withdraw(b, csrf, d->domain);
    srv__buf_printf(b, "</div>");
}

/* The latest stored check: the counts, then the findings with their fixes from the stored
 * result (the stored finding rows have no fix; they are the fallback). */
static void latest_check(struct admin_buf *b, struct db *db, const char *domain, const char *csrf)
{
    srv__buf_printf(b, "<div id=\"check\"><h3>Latest check</h3>");
    srv__form_check(b, csrf, domain);
    srv__buf_printf(b, "<p><a href=\"/check?domain=");
    srv__buf_url(b, domain);
    srv__buf_printf(b, "\">Run the checker now (not stored)</a></p>");
    struct db_check *c = NULL;
    size_t nc = 0;
    if (db_check_latest(db, domain, &c, &nc) != 0 || nc == 0) {
        srv__buf_printf(b, "<p>No check stored yet (see [checks] interval).</p></div>");
        db_checks_free(c, nc);
        return;
    }
    char t[21];
    format_rfc3339((time_t)c[0].started, t);
    const char *cls = c[0].errors ? "bad" : c[0].warnings ? "warn" : "ok";
    srv__buf_printf(b,
                    "<p class=\"check\">%s: <b class=\"%s\">%d error(s), %d warning(s)</b>, "
                    "%d info, in %lld ms.</p>",
                    t, cls, c[0].errors, c[0].warnings, c[0].infos, (long long)c[0].duration_ms);
    json_t *r = c[0].result ? json_loads(c[0].result, 0, NULL) : NULL;
    /* the domain's object of the checker's JSON (older rows: the whole JSON) */
    json_t *dom =
        json_object_get(r, "findings") ? r : json_array_get(json_object_get(r, "domains"), 0);
    if (json_is_array(json_object_get(dom, "findings"))) {
        srv__check_findings_html(b, dom);
    } else {
        struct db_check_finding *f = NULL;
        size_t nf = 0;
        json_t *fa = json_array();
        if (db_check_findings(db, c[0].id, &f, &nf) == 0)
            for (size_t i = 0; i < nf; i++)
                json_array_append_new(fa, json_pack("{s:s,s:s,s:s,s:s}", "id", f[i].finding,
                                                    "severity", f[i].severity, "subject",
                                                    f[i].subject, "message", f[i].message));
        db_check_findings_free(f, nf);
        json_t *o = json_pack("{s:o}", "findings", fa);
        srv__check_findings_html(b, o);
        json_decref(o);
    }
    json_decref(r);
    db_checks_free(c, nc);
    srv__buf_printf(b, "</div>");
}

static void reports_part(struct admin_buf *b, struct db *db, const char *domain, int64_t since,
                         int64_t until)
{
    struct report_summary s;
    memset(&s, 0, sizeof(s));
    s.since = since;
    s.until = until;
    s.domain = domain;
    s.by = REPORT_BY_DAY;
    char t0[21], t1[21];
    report_format_time(since, t0);
    report_format_time(until, t1);
    srv__buf_printf(b,
                    "<div id=\"reports\"><h3>Reports</h3><p>From <time id=\"since\">%s"
                    "</time> until <time id=\"until\">%s</time> (UTC); ",
                    t0, t1);
    static const char *const windows[] = {"7d", "30d", "90d", "365d"};
    for (size_t i = 0; i < 4; i++) {
        srv__buf_printf(b, "<a href=\"" ADMIN_DOMAIN_PAGE "");
        srv__buf_html(b, domain);
        srv__buf_printf(b, "?since=%s\">%s</a> ", windows[i], windows[i]);
    }
    srv__buf_printf(b, "</p>");
    if (db_report_summary(db, &s) != 0) {
        srv__buf_printf(b, "<p class=\"bad\">The database is not available.</p></div>");
        db_report_summary_clear(&s);
        return;
    }
    report_summary_sort(&s);
    char rate[32];
    srv__fmt_rate(rate, sizeof(rate), s.successful, s.failed);
    srv__buf_printf(b, "<div class=\"cards\">");
    srv__card_int(b, "reports", "reports", NULL, s.reports);
    srv__card_int(b, "successful", "successful sessions", "ok", s.successful);
    srv__card_int(b, "failed", "failed sessions", s.failed ? "bad" : "ok", s.failed);
    srv__card(b, "rate", "success rate", NULL, rate);
    if (s.conflicts > 0) /* copies with other content under a stored report-id (forged?) */
        srv__card_int(b, "conflicts", "conflicting copies, not counted", "bad", s.conflicts);
    srv__buf_printf(b, "</div>");
    srv__report_charts(b, &s);
    db_report_summary_clear(&s);
    srv__admin_report_list(b, db, domain, since, until);
    srv__buf_printf(b, "</div>");
}

/* The page frame and its section's heading; the section is the domain's with `domain`. */
static void page_open(struct admin_buf *b, const char *title, const char *domain)
{
    srv__page_begin(b, title);
    srv__buf_printf(b, "<section");
    if (domain != NULL) {
        srv__buf_printf(b, " class=\"domain\" data-domain=\"");
        srv__buf_html(b, domain);
        srv__buf_printf(b, "\"");
    }
    srv__buf_printf(b, "><h2>");
    srv__buf_html(b, title);
    srv__buf_printf(b, "</h2>");
}

/* A page saying `what` of `name`, with a link to the checker for it. */
static void message_page(struct admin_response *rs, int status, const char *title, const char *name,
                         const char *what)
{
    struct admin_buf b = {0};
    page_open(&b, title, NULL);
    srv__buf_printf(&b, "<p><code>");
    srv__buf_html(&b, name);
    srv__buf_printf(&b, "</code> ");
    srv__buf_html(&b, what);
    srv__buf_printf(&b, " <a href=\"/check?domain=");
    srv__buf_url(&b, name);
    srv__buf_printf(&b, "\">Check it</a>.</p></section>");
    srv__page_end(&b, rs, status);
}

void srv__admin_domain_page(const struct admin_env *env, struct db *db, const char *name,
                            const struct admin_params *p, const struct admin_request *rq,
                            struct admin_response *rs)
{
    static const char *const allowed[] = {"since", "until", NULL};
    char dom[256];
    int64_t since, until;
    if (srv__page_params(p, allowed, rq, &since, &until, rs) != 0)
        return;
    struct admin_buf b = {0};
    if (domain_normalise(name, dom, sizeof(dom)) != 0) {
        message_page(rs, 400, "Not a domain name", name, "is not a domain name.");
        return;
    }
    struct admin_domain *d = NULL;
    size_t n = 0;
    if (srv__admin_domains(env, db, dom, rq, &d, &n) != 0 || n == 0) {
        srv__admin_domains_free(d, n);
        message_page(rs, 404, dom, dom, "is not hosted here.");
        return;
    }
    page_open(&b, dom, dom);
    char csrf[ADMIN_CSRF_HEX + 1] = "";
    srv__admin_csrf(rq->session, csrf);
    int acme_on = env->cfg->acme_directory != NULL && env->cfg->acme_directory[0] != '\0';
    struct hosted_acme acme;
    memset(&acme, 0, sizeof(acme));
    if (acme_on && (rq->hosted == NULL || hosted_acme_get(rq->hosted, dom, &acme) != 1)) {
        hosted_acme_clear(&acme);
        memset(&acme, 0, sizeof(acme)); /* no row: never ordered */
    }
    state_cards(&b, &d[0], acme_on ? &acme : NULL, rq->now);
    file_error(&b, srv__admin_invalid_find(rq, dom), d[0].served);
    policy_part(&b, &d[0], &acme, acme_on, rq->now, csrf);
    latest_check(&b, db, dom, csrf);
    reports_part(&b, db, dom, since, until);
    srv__buf_printf(&b, "</section>");
    srv__admin_domains_free(d, n);
    hosted_acme_clear(&acme);
    srv__page_end(&b, rs, 200);
}
