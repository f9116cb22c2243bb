/* admin_report_page.c - the dashboard's reports: the latest reports of a domain (a table on
 * its page) and the page of one stored report (/reports/{id}), each with the DKIM result of
 * the message it came in and its conflict marks. */
#include "server/admin_int.h"

#include "common/common.h"
#include "reports/reports.h"
#include "sql/db.h"

#include <stdlib.h>
#include <string.h>

/* The DKIM result of a listing as an HTML fragment: "pass" green with its d=, the others
 * marked, "-" for a report that did not come by e-mail; the detail as its title. */
static void dkim_html(struct admin_buf *b, const struct report_listing *m)
{
    if (m->dkim == NULL) {
        srv__buf_printf(b, "<span class=\"dkim\" data-dkim=\"\">-</span>");
        return;
    }
    int pass = strcmp(m->dkim, "pass") == 0;
    srv__buf_printf(b, "<span class=\"dkim %s\" data-dkim=\"", pass ? "ok" : "bad");
    srv__buf_html(b, m->dkim);
    srv__buf_printf(b, "\"");
    if (m->dkim_detail != NULL) {
        srv__buf_printf(b, " title=\"");
        srv__buf_html(b, m->dkim_detail);
        srv__buf_printf(b, "\"");
    }
    srv__buf_printf(b, ">");
    srv__buf_html(b, m->dkim);
    if (m->dkim_domain != NULL) {
        srv__buf_printf(b, " d=");
        srv__buf_html(b, m->dkim_domain);
    }
    srv__buf_printf(b, "</span>");
}

static void conflict_html(struct admin_buf *b, const struct report_listing *m)
{
    if (m->conflict_of > 0)
        srv__buf_printf(
            b,
            " <span class=\"badge warn conflict\">conflict of <a href=\"" ADMIN_REPORT_PAGE
            "%lld\">%lld</a>%s</span>",
            (long long)m->conflict_of, (long long)m->conflict_of,
            m->counted ? ", counted" : ", not counted");
    else if (m->conflicts > 0)
        srv__buf_printf(b, " <span class=\"badge warn conflict\">%lld conflicting cop%s%s</span>",
                        (long long)m->conflicts, m->conflicts == 1 ? "y" : "ies",
                        m->counted ? "" : "; not counted");
}

void srv__admin_report_list(struct admin_buf *b, struct db *db, const char *domain, int64_t since,
                            int64_t until)
{
    struct db_report_filter f = {
        .domain = domain, .since = since, .until = until, .limit = ADMIN_REPORT_ROWS};
    struct report_listing *v = NULL;
    size_t n = 0;
    if (db_report_list(db, &f, &v, &n) != 0 || n == 0) {
        srv__buf_printf(b, "<p id=\"report-list\">%s</p>",
                        v == NULL && n == 0 ? "No reports to list." : "");
        db_report_list_free(v, n);
        return;
    }
    srv__buf_printf(b, "<h4>Latest reports</h4><table id=\"report-list\" class=\"reports\"><tr>"
                       "<th>id</th><th>start</th><th>organisation</th><th>by</th>"
                       "<th class=\"n\">successful</th><th class=\"n\">failed</th><th>DKIM</th>"
                       "</tr>");
    for (size_t i = 0; i < n; i++) {
        const struct report_listing *m = &v[i];
        char start[21];
        report_format_time(m->start, start);
        srv__buf_printf(b,
                        "<tr data-id=\"%lld\"><td><a href=\"" ADMIN_REPORT_PAGE "%lld\">%lld</a>"
                        "</td><td>%s</td><td>",
                        (long long)m->id, (long long)m->id, (long long)m->id, start);
        srv__buf_html(b, m->organization_name ? m->organization_name : "");
        conflict_html(b, m);
        srv__buf_printf(b, "</td><td>");
        srv__buf_html(b, m->source ? m->source : "");
        srv__buf_printf(b, "</td><td class=\"n\">%lld</td><td class=\"n\">%lld</td><td>",
                        (long long)m->successful, (long long)m->failed);
        dkim_html(b, m);
        srv__buf_printf(b, "</td></tr>");
    }
    srv__buf_printf(b, "</table>");
    db_report_list_free(v, n);
}

/* One row of the report page's facts. */
static void fact(struct admin_buf *b, const char *key, const char *label, const char *value)
{
    srv__buf_printf(b, "<tr data-k=\"%s\"><th>%s</th><td>", key, label);
    srv__buf_html(b, value ? value : "-");
    srv__buf_printf(b, "</td></tr>");
}

void srv__admin_report_page(struct db *db, const char *id_text, struct admin_response *rs)
{
    char *end;
    long long id = strtoll(id_text, &end, 10);
    if (*id_text < '1' || *id_text > '9' || *end != '\0' || id <= 0) {
        srv__admin_error(rs, 404, "no such report");
        return;
    }
    struct report_listing m;
    struct report r;
    int found = db_report_get(db, id, &m, &r, NULL, NULL);
    if (found != 1) {
        srv__admin_error(rs, found == 0 ? 404 : 503,
                         found == 0 ? "no such report" : "the database is not available");
        return;
    }
    struct admin_buf b = {0};
    char title[40], start[21], stop[21], recv[21], range[64];
    snprintf(title, sizeof(title), "Report %lld", id);
    srv__page_begin(&b, title);
    report_format_time(m.start, start);
    report_format_time(m.end, stop);
    report_format_time(m.received, recv);
    snprintf(range, sizeof(range), "%s .. %s", start, stop);
    srv__buf_printf(&b,
                    "<section class=\"report\" data-id=\"%lld\"><h2>%s</h2><table "
                    "class=\"facts\">",
                    id, title);
    fact(&b, "organization", "organisation", m.organization_name);
    fact(&b, "report-id", "report-id", m.report_id);
    fact(&b, "contact", "contact-info", m.contact_info);
    fact(&b, "range", "date range", range);
    fact(&b, "received", "received", recv);
    fact(&b, "source", "by", m.source);
    srv__buf_printf(&b, "<tr data-k=\"dkim\"><th>DKIM</th><td>");
    dkim_html(&b, &m);
    if (m.dkim_detail != NULL) {
        srv__buf_printf(&b, " <span class=\"dkim-detail\">");
        srv__buf_html(&b, m.dkim_detail);
        srv__buf_printf(&b, "</span>");
    }
    conflict_html(&b, &m);
    srv__buf_printf(&b, "</td></tr></table><table class=\"policies\"><tr><th>policy</th>"
                        "<th>domain</th><th class=\"n\">successful</th><th class=\"n\">failed"
                        "</th></tr>");
    for (size_t i = 0; i < r.n_policies; i++) {
        const struct report_policy *p = &r.policies[i];
        srv__buf_printf(&b, "<tr><td>");
        srv__buf_html(&b, p->policy_type ? p->policy_type : "");
        srv__buf_printf(&b, "</td><td>");
        srv__buf_html(&b, p->policy_domain ? p->policy_domain : "");
        srv__buf_printf(&b, "</td><td class=\"n\">%lld</td><td class=\"n\">%lld</td></tr>",
                        (long long)p->total_successful, (long long)p->total_failure);
    }
    srv__buf_printf(&b,
                    "</table><p><a href=\"/api/v1/reports/%lld\">JSON</a> &middot; <a "
                    "href=\"/api/v1/reports/%lld/raw\">as received</a></p></section>",
                    id, id);
    db_report_listing_clear(&m);
    db_report_clear(&r);
    srv__page_end(&b, rs, 200);
}
