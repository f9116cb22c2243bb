/* admin_overview.c - the dashboard's front page: totals, then every hosted domain in one
 * table, those that need attention first, with search and paging. Built from what the
 * server holds in memory (the served policy table, the certificates, the ACME rows of
 * metrics_acme.c) and two grouped queries (the latest check of every domain, the window's
 * report sums per domain): its cost does not grow with per-domain reads. */
#include "server/admin_int.h"
#include "common/common.h"
#include "policy/policy.h"
#include "reports/reports.h"
#include "sql/db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ pure parts */

unsigned srv__admin_attention(const struct admin_row *r, time_t now)
{
    unsigned a = 0;
    if (r->failed > 0)
        a |= ADMIN_ATT_SESSIONS;
    if (!r->has_cert || srv__cert_soon(srv__days_left(r->cert_not_after, now)))
        a |= ADMIN_ATT_CERT;
    if (r->checked && r->id[0] && (r->dns_id == NULL || strcmp(r->dns_id, r->id) != 0))
        a |= ADMIN_ATT_STALE_ID;
    if (r->checked && r->check_errors > 0)
        a |= ADMIN_ATT_CHECK;
    if (r->stale || r->broken)
        a |= ADMIN_ATT_FILE;
    if (r->acme_failing)
        a |= ADMIN_ATT_ACME;
    return a;
}

static int bits(unsigned a)
{
    int n = 0;
    for (; a; a &= a - 1)
        n++;
    return n;
}

static int row_cmp(const void *x, const void *y)
{
    const struct admin_row *a = x, *b = y;
    if (a->broken != b->broken)
        return b->broken - a->broken;
    int ba = bits(a->attention), bb = bits(b->attention);
    if (ba != bb)
        return bb - ba;
    return strcmp(a->domain, b->domain);
}

void srv__admin_rows_sort(struct admin_row *v, size_t n)
{
    if (n > 1)
        qsort(v, n, sizeof(*v), row_cmp);
}

int srv__admin_row_match(const char *domain, const char *q)
{
    return q == NULL || q[0] == '\0' || strstr(domain, q) != NULL;
}

size_t srv__admin_page(size_t total, size_t page, size_t size, size_t *first, size_t *count,
                       size_t *page_out)
{
    size_t pages = size ? (total + size - 1) / size : 1;
    if (pages == 0)
        pages = 1;
    if (page < 1)
        page = 1;
    if (page > pages)
        page = pages;
    *first = (page - 1) * size;
    *count = total > *first ? total - *first : 0;
    if (*count > size)
        *count = size;
    *page_out = page;
    return pages;
}

/* ------------------------------------------------------------------ the facts */

static int check_cmp(const void *key, const void *item)
{
    return strcmp(key, ((const struct db_check *)item)->domain);
}

static int group_cmp(const void *a, const void *b)
{
    return strcmp(((const struct report_summary_row *)a)->key,
                  ((const struct report_summary_row *)b)->key);
}

static int group_find(const void *key, const void *item)
{
    return strcmp(key, ((const struct report_summary_row *)item)->key);
}

/* The facts of the row of `domain` from the grouped queries and the certificates. */
static void row_facts(struct admin_row *r, const struct db_check *c, size_t nc,
                      const struct report_summary *sum, const struct admin_certs_view *cv,
                      time_t now)
{
    const struct db_check *ck = nc ? bsearch(r->domain, c, nc, sizeof(*c), check_cmp) : NULL;
    if (ck != NULL) {
        r->checked = 1;
        r->check_errors = ck->errors;
        r->check_warnings = ck->warnings;
        r->checked_at = ck->started;
        r->dns_id = ck->dns_id;
    }
    const struct report_summary_row *g =
        sum->groups.n
            ? bsearch(r->domain, sum->groups.v, sum->groups.n, sizeof(*sum->groups.v), group_find)
            : NULL;
    if (g != NULL) {
        r->reports = g->reports;
        r->successful = g->successful;
        r->failed = g->failed;
    }
    const struct admin_cert_fact *cert = srv__admin_certs_find(cv, r->domain);
    if (cert != NULL) {
        r->has_cert = 1;
        r->cert_not_after = cert->not_after;
    }
    r->acme_failing = srv__metrics_acme_failing(r->domain);
    r->attention = srv__admin_attention(r, now);
}

static int served_find(const void *key, const void *item)
{
    return strcmp(key, ((const struct admin_served *)item)->domain);
}

/* One row per hosted domain with every fact the table and the ordering need: the served
 * ones, then the files that never parsed (nothing served). */
static struct admin_row *collect_rows(const struct admin_request *rq, const struct db_check *c,
                                      size_t nc, struct report_summary *sum, size_t *n)
{
    size_t cap = rq->n_served + rq->n_invalid;
    struct admin_row *v = xcalloc(cap ? cap : 1, sizeof(*v));
    if (sum->groups.n > 1)
        qsort(sum->groups.v, sum->groups.n, sizeof(*sum->groups.v), group_cmp);
    const struct admin_certs_view *cv = srv__admin_certs_view(rq->hosted);
    size_t k = 0;
    for (size_t i = 0; i < rq->n_served; i++) {
        struct admin_row *r = &v[k++];
        r->domain = rq->served[i].domain;
        r->id = rq->served[i].id;
        r->stale = rq->served[i].stale;
        r->mode = rq->served[i].mode;
        row_facts(r, c, nc, sum, cv, rq->now);
    }
    for (size_t i = 0; i < rq->n_invalid; i++) {
        const char *d = rq->invalid[i].domain;
        if (rq->n_served &&
            bsearch(d, rq->served, rq->n_served, sizeof(*rq->served), served_find) != NULL)
            continue; /* its last good version is served: counted above */
        struct admin_row *r = &v[k++];
        r->domain = d;
        r->id = "";
        r->broken = 1;
        r->mode = -1;
        row_facts(r, c, nc, sum, cv, rq->now);
    }
    *n = k;
    return v;
}

/* ------------------------------------------------------------------ rendering */

static const struct {
    unsigned bit;
    const char *key, *label, *cls;
} reasons[] = {
    {ADMIN_ATT_SESSIONS, "sessions", "failing sessions", ""},
    {ADMIN_ATT_CERT, "cert", "certificate", ""},
    {ADMIN_ATT_STALE_ID, "stale-id", "stale DNS id", " warn"},
    {ADMIN_ATT_CHECK, "check", "failing check", ""},
    {ADMIN_ATT_FILE, "file", "broken policy file", " warn"},
    {ADMIN_ATT_ACME, "acme", "ACME failing", ""},
};
#define N_REASONS (sizeof(reasons) / sizeof(reasons[0]))

/* A link to the overview with these parameters (q, page, since, until as given). */
static void overview_link(struct admin_buf *b, const struct admin_params *p, const char *q,
                          size_t page, const char *text)
{
    srv__buf_printf(b, "<a href=\"/?");
    const char *sep = "";
    if (q && q[0]) {
        srv__buf_printf(b, "q=");
        srv__buf_url(b, q);
        sep = "&amp;";
    }
    static const char *const keep[] = {"since", "until"};
    for (size_t i = 0; i < 2; i++) {
        const char *v = srv__admin_param(p, keep[i]);
        if (v != NULL) {
            srv__buf_printf(b, "%s%s=", sep, keep[i]);
            srv__buf_url(b, v);
            sep = "&amp;";
        }
    }
    srv__buf_printf(b, "%spage=%zu\">", sep, page);
    srv__buf_html(b, text);
    srv__buf_printf(b, "</a>");
}

static void row_html(struct admin_buf *b, const struct admin_row *r, time_t now)
{
    srv__buf_printf(b, "<tr class=\"dom%s\" data-domain=\"", r->attention ? " attention" : "");
    srv__buf_html(b, r->domain);
    srv__buf_printf(b, "\" data-attention=\"");
    for (size_t k = 0, sp = 0; k < N_REASONS; k++)
        if (r->attention & reasons[k].bit)
            srv__buf_printf(b, "%s%s", sp++ ? " " : "", reasons[k].key);
    srv__buf_printf(b, "\"><td><a href=\"" ADMIN_DOMAIN_PAGE "");
    srv__buf_html(b, r->domain);
    srv__buf_printf(b, "\">");
    srv__buf_html(b, r->domain);
    srv__buf_printf(b, "</a></td><td>");
    for (size_t k = 0; k < N_REASONS; k++)
        if (r->attention & reasons[k].bit)
            srv__buf_printf(b, "<span class=\"badge%s\">%s</span>", reasons[k].cls,
                            reasons[k].label);
    if (!r->attention)
        srv__buf_printf(b, "<span class=\"badge ok\">ok</span>");
    srv__buf_printf(b, "</td><td class=\"mode\">%s</td><td><code>",
                    r->mode >= 0 ? policy_mode_name((enum policy_mode)r->mode) : "-");
    srv__buf_html(b, r->id[0] ? r->id : "-");
    srv__buf_printf(b, "</code></td><td><code%s>",
                    r->attention & ADMIN_ATT_STALE_ID ? " class=\"bad\"" : "");
    srv__buf_html(b, !r->checked ? "-" : r->dns_id ? r->dns_id : "(none)");
    srv__buf_printf(b, "</code></td>");
    if (r->checked) {
        char t[21];
        report_format_time(r->checked_at, t);
        srv__buf_printf(b, "<td class=\"%s\">%d err, %d warn <small>%.10s</small></td>",
                        r->check_errors     ? "bad"
                        : r->check_warnings ? "warn"
                                            : "ok",
                        r->check_errors, r->check_warnings, t);
    } else {
        srv__buf_printf(b, "<td>not checked</td>");
    }
    if (r->has_cert) {
        int64_t left = srv__days_left(r->cert_not_after, now);
        srv__buf_printf(b, "<td class=\"n %s\">%lld d</td>", srv__cert_soon(left) ? "bad" : "ok",
                        (long long)left);
    } else {
        srv__buf_printf(b, "<td class=\"bad\">none</td>");
    }
    srv__buf_printf(b,
                    "<td class=\"n\">%lld</td><td class=\"n\">%lld</td>"
                    "<td class=\"n%s\">%lld</td></tr>",
                    (long long)r->reports, (long long)r->successful, r->failed ? " bad" : "",
                    (long long)r->failed);
}

static void pager(struct admin_buf *b, const struct admin_params *p, const char *q, size_t page,
                  size_t pages, size_t matches)
{
    srv__buf_printf(b, "<p class=\"pager\" data-page=\"%zu\" data-pages=\"%zu\">", page, pages);
    if (page > 1)
        overview_link(b, p, q, page - 1, "\xc2\xab previous");
    for (size_t i = 1; pages > 1 && i <= pages; i++) {
        /* the first, the last and the two either side of this one */
        if (i != 1 && i != pages && (i + 2 < page || i > page + 2)) {
            if (i == 2 || i == page + 3)
                srv__buf_printf(b, "&hellip; ");
            continue;
        }
        char s[24];
        snprintf(s, sizeof(s), "%zu", i);
        if (i == page)
            srv__buf_printf(b, "<b>%zu</b>", i);
        else
            overview_link(b, p, q, i, s);
    }
    if (page < pages)
        overview_link(b, p, q, page + 1, "next \xc2\xbb");
    srv__buf_printf(b, " <small>%zu domain%s</small></p>", matches, matches == 1 ? "" : "s");
}

static void totals(struct admin_buf *b, const struct report_summary *all, int db_ok,
                   const struct admin_row *v, size_t n)
{
    size_t count[N_REASONS] = {0}, any = 0;
    for (size_t i = 0; i < n; i++) {
        any += v[i].attention != 0;
        for (size_t k = 0; k < N_REASONS; k++)
            count[k] += (v[i].attention & reasons[k].bit) != 0;
    }
    srv__buf_printf(b, "<div class=\"cards\">");
    srv__card_int(b, "domains", "hosted domains", NULL, (int64_t)n);
    srv__card_int(b, "attention", "need attention", any ? "bad" : "ok", (int64_t)any);
    for (size_t k = 0; k < N_REASONS; k++)
        srv__card_int(b, reasons[k].key, reasons[k].label, count[k] ? "bad" : "ok",
                      (int64_t)count[k]);
    if (db_ok) {
        char rate[32];
        srv__fmt_rate(rate, sizeof(rate), all->successful, all->failed);
        srv__card_int(b, "reports", "reports", NULL, all->reports);
        srv__card_int(b, "successful", "successful sessions", "ok", all->successful);
        srv__card_int(b, "failed", "failed sessions", all->failed ? "bad" : "ok", all->failed);
        srv__card(b, "rate", "success rate", NULL, rate);
        if (all->conflicts > 0) /* copies with other content under a stored report-id */
            srv__card_int(b, "conflicts", "conflicting copies, not counted", "bad", all->conflicts);
        /* Policies that named no policy-domain and whose channel named none (Postfix 3.10's
         * no-policy-found): in the totals above, in no domain's row below. */
        for (size_t i = 0; i < all->groups.n; i++)
            if (strcmp(all->groups.v[i].key, REPORT_UNATTRIBUTED) == 0)
                srv__card_int(b, "unattributed", "reports with unattributed policies", NULL,
                              all->groups.v[i].reports);
    }
    srv__buf_printf(b, "</div>");
}

void srv__admin_dashboard(const struct admin_env *env, struct db *db, const struct admin_params *p,
                          const struct admin_request *rq, struct admin_response *rs)
{
    static const char *const allowed[] = {"since", "until", "q", "page", NULL};
    char q[256] = "";
    int64_t since, until;
    if (srv__page_params(p, allowed, rq, &since, &until, rs) != 0)
        return;
    const char *qp = srv__admin_param(p, "q");
    for (size_t i = 0; qp && qp[i] && i + 1 < sizeof(q); i++)
        q[i] = (char)(qp[i] >= 'A' && qp[i] <= 'Z' ? qp[i] + 32 : qp[i]);
    const char *pp = srv__admin_param(p, "page");
    size_t page = pp ? (size_t)strtoul(pp, NULL, 10) : 1;

    struct report_summary all;
    memset(&all, 0, sizeof(all));
    all.since = since;
    all.until = until;
    all.by = REPORT_BY_DOMAIN;
    int db_ok = db_report_summary(db, &all) == 0;
    struct db_check *c = NULL;
    size_t nc = 0;
    if (db_check_latest_brief(db, &c, &nc) != 0)
        db_ok = 0;
    size_t n = 0;
    (void)env;
    struct admin_row *v = collect_rows(rq, c, nc, &all, &n);
    srv__admin_rows_sort(v, n);

    struct admin_buf b = {0};
    srv__page_begin(&b, "Domains");
    char t0[21], t1[21];
    report_format_time(since, t0);
    report_format_time(until, t1);
    srv__buf_printf(&b, "<section id=\"overview\"><h2>Domains</h2><p>Reports from <time "
                        "id=\"since\">");
    srv__buf_html(&b, t0);
    srv__buf_printf(&b, "</time> until <time id=\"until\">");
    srv__buf_html(&b, t1);
    srv__buf_printf(&b, "</time> (UTC); ");
    static const char *const windows[] = {"7d", "30d", "90d", "365d"};
    for (size_t i = 0; i < 4; i++)
        srv__buf_printf(&b, "<a href=\"/?since=%s\">%s</a> ", windows[i], windows[i]);
    srv__buf_printf(&b, "</p>");
    totals(&b, &all, db_ok, v, n);
    if (!db_ok)
        srv__buf_printf(&b, "<p class=\"bad\">The database is not available.</p>");
    srv__buf_printf(&b, "</section><section id=\"domains\"><form class=\"inline\" method=\"get\" "
                        "action=\"/\"><input type=\"search\" name=\"q\" placeholder=\"part of a "
                        "domain name\" value=\"");
    srv__buf_html(&b, q);
    srv__buf_printf(&b, "\"><button>Search</button> <a href=\"/forms/policy\">Add a domain</a>"
                        "</form>");
    /* The matches keep the order: attention first. */
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (srv__admin_row_match(v[i].domain, q))
            v[m++] = v[i];
    size_t first, count, cur;
    size_t pages = srv__admin_page(m, page, ADMIN_PAGE_SIZE, &first, &count, &cur);
    if (n == 0)
        srv__buf_printf(&b, "<p>No hosted domains: add policies with <code>stsd policy "
                            "set</code> or <code>PUT /api/v1/domains/{d}/policy</code>.</p>");
    else if (m == 0)
        srv__buf_printf(&b, "<p>No hosted domain matches.</p>");
    if (m > 0) {
        pager(&b, p, q, cur, pages, m);
        srv__buf_printf(&b, "<div class=\"scroll\"><table class=\"domains\"><tr><th>domain</th>"
                            "<th>attention</th><th>mode</th><th>id served</th><th>DNS id</th>"
                            "<th>latest check</th><th class=\"n\">certificate</th>"
                            "<th class=\"n\">reports</th><th class=\"n\">successful</th>"
                            "<th class=\"n\">failed</th></tr>");
        for (size_t i = first; i < first + count; i++)
            row_html(&b, &v[i], rq->now);
        srv__buf_printf(&b, "</table></div>");
        if (pages > 1)
            pager(&b, p, q, cur, pages, m);
    }
    srv__buf_printf(&b, "</section>");
    free(v);
    db_checks_free(c, nc);
    db_report_summary_clear(&all);
    srv__page_end(&b, rs, 200);
}
