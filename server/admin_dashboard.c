/* admin_dashboard.c - what every dashboard page is made of: the string buffer with HTML and
 * URL escaping, the page frame with its inline CSS, cards and the inline SVG charts. No
 * script and nothing loaded from elsewhere; every string is HTML-escaped. */
#include "server/admin_int.h"
#include "common/common.h"
#include "policy/policy.h"
#include "reports/reports.h"
#include "sql/db.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY 86400
#define MAX_DAYS 62  /* day bars drawn: the latest days with reports */
#define MAX_ROWS 10  /* entries per breakdown chart */
#define CERT_SOON 14 /* days left at which a certificate needs attention */

void srv__buf_printf(struct admin_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || b->len + (size_t)n + 1 > ADMIN_MAX_BODY)
        return;
    if (b->len + (size_t)n + 1 > b->cap) {
        size_t c = b->cap ? b->cap : 4096;
        while (c < b->len + (size_t)n + 1)
            c *= 2;
        b->p = xrealloc(b->p, c);
        b->cap = c;
    }
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void srv__buf_html(struct admin_buf *b, const char *s)
{
    if (s == NULL)
        return;
    const char *run = s;
    char ctl[8];
    for (; *s; s++) {
        const char *rep = NULL;
        switch (*s) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&#39;";
            break;
        default:
            /* Control characters are not allowed in HTML text: shown as in text output
             * (ESC as \x1b), line breaks and tabs kept for <pre>. */
            if (((unsigned char)*s < 0x20 && *s != '\n' && *s != '\t' && *s != '\r') ||
                *s == 0x7f) {
                snprintf(ctl, sizeof(ctl), "\\x%02x", (unsigned char)*s);
                rep = ctl;
                break;
            }
            continue;
        }
        srv__buf_printf(b, "%.*s%s", (int)(s - run), run, rep);
        run = s + 1;
    }
    srv__buf_printf(b, "%s", run);
}

static const char css[] =
    "*{box-sizing:border-box}"
    "body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#1d232a;"
    "background:#f4f6f8}"
    "header{background:#1d3557;color:#fff;padding:.8em 1em}header h1{margin:0;font-size:1.3em}"
    "header a{color:#cfe3ff;margin-right:.8em}"
    "main{max-width:1100px;margin:0 auto;padding:.5em}"
    "section{background:#fff;border-radius:8px;padding:.8em 1em;margin:.8em 0;"
    "box-shadow:0 1px 3px rgba(0,0,0,.12)}"
    "h2{margin:.2em 0 .5em;font-size:1.2em}h3{font-size:1em;margin:1em 0 .3em}"
    ".cards{display:flex;flex-wrap:wrap;gap:.6em}"
    ".card{flex:1 1 9em;border:1px solid #dde3ea;border-radius:6px;padding:.4em .6em}"
    ".card dt{font-size:.8em;color:#5a6470}.card dd{margin:0;font-size:1.25em;font-weight:600}"
    ".ok{color:#1a7f37}.bad{color:#c62828}.warn{color:#a15c00}"
    "table{border-collapse:collapse;width:100%;font-size:.9em}"
    "th,td{text-align:left;padding:.25em .4em;border-bottom:1px solid #e6eaee;"
    "vertical-align:top;overflow-wrap:anywhere}"
    "td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}"
    "svg{width:100%;height:auto;display:block}"
    ".scroll{overflow-x:auto}pre{white-space:pre-wrap;background:#f6f8fa;padding:.5em;"
    "border-radius:4px;font-size:.85em}"
    ".legend span{display:inline-block;width:.8em;height:.8em;margin:0 .3em 0 .8em}"
    ".badge{display:inline-block;font-size:.78em;padding:0 .45em;margin:0 .2em .1em 0;"
    "border-radius:9px;background:#fde8e8;color:#a61b1b;white-space:nowrap}"
    ".badge.warn{background:#fff1db;color:#8a4b00}.badge.ok{background:#e3f4e6;color:#1a7f37}"
    "tr.attention td:first-child{border-left:3px solid #c62828}"
    "form.inline{display:flex;flex-wrap:wrap;gap:.4em;align-items:center;margin:.3em 0}"
    "input[type=text],input[type=search],textarea{font:inherit;padding:.25em .4em;"
    "border:1px solid #b8c2cc;border-radius:4px;min-width:16em}"
    "button{font:inherit;padding:.25em .8em;border:1px solid #1d3557;border-radius:4px;"
    "background:#1d3557;color:#fff;cursor:pointer}"
    ".pager a,.pager b{margin-right:.5em}code{overflow-wrap:anywhere}"
    ".findings td:nth-child(-n+2),.findings th,table.mx td,table.mx th,table.domains td"
    "{white-space:nowrap}"
    "@media (max-width:600px){body{font-size:14px}main{padding:.2em}section{padding:.6em}}";

void srv__fmt_rate(char *buf, size_t n, int64_t ok, int64_t failed)
{
    double r = report_success_rate(ok, failed);
    if (r < 0)
        snprintf(buf, n, "-");
    else
        snprintf(buf, n, "%.2f%%", r * 100.0);
}

void srv__card(struct admin_buf *b, const char *id, const char *label, const char *cls,
               const char *value)
{
    srv__buf_printf(b, "<dl class=\"card\"><dt>");
    srv__buf_html(b, label);
    srv__buf_printf(b, "</dt><dd%s%s%s data-k=\"", cls ? " class=\"" : "", cls ? cls : "",
                    cls ? "\"" : "");
    srv__buf_html(b, id);
    srv__buf_printf(b, "\">");
    srv__buf_html(b, value);
    srv__buf_printf(b, "</dd></dl>");
}

void srv__card_int(struct admin_buf *b, const char *id, const char *label, const char *cls,
                   int64_t v)
{
    char s[32];
    snprintf(s, sizeof(s), "%lld", (long long)v);
    srv__card(b, id, label, cls, s);
}

/* Successful and failed sessions per day: two bars per day on a common linear scale. */
static void day_chart(struct admin_buf *b, const struct report_summary_rows *days)
{
    if (days->n == 0) {
        srv__buf_printf(b, "<p>No reports in this window.</p>");
        return;
    }
    size_t first = days->n > MAX_DAYS ? days->n - MAX_DAYS : 0;
    size_t n = days->n - first;
    int64_t max = 1;
    for (size_t i = first; i < days->n; i++) {
        if (days->v[i].successful > max)
            max = days->v[i].successful;
        if (days->v[i].failed > max)
            max = days->v[i].failed;
    }
    const int slot = 26, h = 150, top = 12, left = 44, bottom = 44;
    /* At least 14 slots wide, so that a few days do not become giant bars. */
    int w = left + (int)(n < 14 ? 14 : n) * slot + 8;
    srv__buf_printf(b,
                    "<div class=\"scroll\"><svg class=\"chart days\" role=\"img\" "
                    "viewBox=\"0 0 %d %d\" style=\"min-width:%dpx;max-width:%dpx\" "
                    "xmlns=\"http://www.w3.org/2000/svg\"><title>Sessions per day</title>",
                    w, top + h + bottom, n > 12 ? (int)n * 14 : 0, 2 * w);
    srv__buf_printf(b,
                    "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#888\"/>"
                    "<text x=\"%d\" y=\"%d\" font-size=\"10\" text-anchor=\"end\">%lld</text>"
                    "<text x=\"%d\" y=\"%d\" font-size=\"10\" text-anchor=\"end\">0</text>",
                    left, top + h, w, top + h, left - 4, top + 8, (long long)max, left - 4,
                    top + h);
    for (size_t i = 0; i < n; i++) {
        const struct report_summary_row *r = &days->v[first + i];
        int64_t ok = r->successful < 0 ? 0 : r->successful;
        int hs = (int)((double)ok / (double)max * h + 0.5);
        int hf = (int)((double)r->failed / (double)max * h + 0.5);
        if (ok > 0 && hs < 1)
            hs = 1;
        if (r->failed > 0 && hf < 1)
            hf = 1;
        int x = left + (int)i * slot + 3;
        srv__buf_printf(b, "<g class=\"day\" data-day=\"");
        srv__buf_html(b, r->key);
        srv__buf_printf(b, "\" data-successful=\"%lld\" data-failed=\"%lld\">", (long long)ok,
                        (long long)r->failed);
        srv__buf_printf(b,
                        "<rect class=\"ok\" x=\"%d\" y=\"%d\" width=\"10\" height=\"%d\" "
                        "fill=\"#2e7d32\"><title>",
                        x, top + h - hs, hs);
        srv__buf_html(b, r->key);
        srv__buf_printf(b, ": %lld successful</title></rect>", (long long)ok);
        srv__buf_printf(b,
                        "<rect class=\"fail\" x=\"%d\" y=\"%d\" width=\"10\" height=\"%d\" "
                        "fill=\"#c62828\"><title>",
                        x + 10, top + h - hf, hf);
        srv__buf_html(b, r->key);
        srv__buf_printf(b, ": %lld failed</title></rect>", (long long)r->failed);
        if (n <= 16 || i % (n / 8 + 1) == 0) {
            srv__buf_printf(b,
                            "<text x=\"%d\" y=\"%d\" font-size=\"9\" "
                            "transform=\"rotate(-40 %d %d)\" text-anchor=\"end\">",
                            x + 10, top + h + 12, x + 10, top + h + 12);
            /* Month-day when there is room for many bars, the whole date otherwise. */
            srv__buf_html(b, strlen(r->key) == 10 && n > 8 ? r->key + 5 : r->key);
            srv__buf_printf(b, "</text>");
        }
        srv__buf_printf(b, "</g>");
    }
    srv__buf_printf(b, "</svg></div><p class=\"legend\"><span style=\"background:#2e7d32\">"
                       "</span>successful<span style=\"background:#c62828\"></span>failed</p>");
}

/* A horizontal bar chart of failed sessions per key, with the numbers in a table beside. */
static void bar_chart(struct admin_buf *b, const char *cls, const char *title,
                      const struct report_summary_rows *rows, int with_sessions)
{
    srv__buf_printf(b, "<h3>");
    srv__buf_html(b, title);
    srv__buf_printf(b, "</h3>");
    size_t n = rows->n < MAX_ROWS ? rows->n : MAX_ROWS;
    if (n == 0) {
        srv__buf_printf(b, "<p class=\"ok\">None.</p>");
        return;
    }
    int64_t max = 1;
    for (size_t i = 0; i < n; i++)
        if (rows->v[i].failed > max)
            max = rows->v[i].failed;
    const int rowh = 20, w = 600, label = 250;
    srv__buf_printf(
        b,
        "<svg class=\"chart %s\" role=\"img\" viewBox=\"0 0 %d %d\" style=\"max-width:760px\" "
        "xmlns=\"http://www.w3.org/2000/svg\"><title>",
        cls, w, (int)n * rowh + 4);
    srv__buf_html(b, title);
    srv__buf_printf(b, "</title>");
    for (size_t i = 0; i < n; i++) {
        const struct report_summary_row *r = &rows->v[i];
        int bw = (int)((double)r->failed / (double)max * (w - label - 60) + 0.5);
        if (r->failed > 0 && bw < 1)
            bw = 1;
        int y = (int)i * rowh + 2;
        srv__buf_printf(b, "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"end\">",
                        label - 6, y + 13);
        char key[40];
        snprintf(key, sizeof(key), "%s", r->key);
        if (strlen(r->key) > 36)
            memcpy(key + 33, "...", 4);
        srv__buf_html(b, key);
        srv__buf_printf(b,
                        "</text><rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"14\" "
                        "fill=\"#c62828\"><title>",
                        label, y + 2, bw);
        srv__buf_html(b, r->key);
        srv__buf_printf(b,
                        ": %lld failed</title></rect><text x=\"%d\" y=\"%d\" "
                        "font-size=\"11\">%lld</text>",
                        (long long)r->failed, label + bw + 4, y + 13, (long long)r->failed);
    }
    srv__buf_printf(b,
                    "</svg><table class=\"%s\"><tr><th>%s</th>%s<th class=\"n\">failed "
                    "sessions</th></tr>",
                    cls, with_sessions ? "organisation" : "",
                    with_sessions ? "<th class=\"n\">reports</th><th class=\"n\">successful</th>"
                                  : "");
    for (size_t i = 0; i < rows->n && i < 100; i++) {
        const struct report_summary_row *r = &rows->v[i];
        srv__buf_printf(b, "<tr><td class=\"key\">");
        srv__buf_html(b, r->key);
        srv__buf_printf(b, "</td>");
        if (with_sessions)
            srv__buf_printf(b,
                            "<td class=\"n\" data-k=\"reports\">%lld</td>"
                            "<td class=\"n\" data-k=\"successful\">%lld</td>",
                            (long long)r->reports, (long long)r->successful);
        srv__buf_printf(b, "<td class=\"n\" data-k=\"failed\">%lld</td></tr>",
                        (long long)r->failed);
    }
    srv__buf_printf(b, "</table>");
}

void srv__report_charts(struct admin_buf *b, const struct report_summary *s)
{
    srv__buf_printf(b, "<h3>Sessions per day</h3>");
    day_chart(b, &s->groups);
    bar_chart(b, "by-result", "Failures by result type", &s->by_result_type, 0);
    bar_chart(b, "by-mx", "Failures by receiving MX", &s->by_mx, 0);
    bar_chart(b, "by-reporter", "Reporters seen (failures by organisation)", &s->by_reporter, 1);
}

void srv__buf_url(struct admin_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; s != NULL && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~')
            srv__buf_printf(b, "%c", c);
        else
            srv__buf_printf(b, "%%%c%c", hex[c >> 4], hex[c & 15]);
    }
}

int64_t srv__days_left(int64_t not_after, time_t now)
{
    /* Whole days, rounded down; an expired certificate counts the days since, negative. */
    int64_t d = not_after - (int64_t)now;
    return d >= 0 ? d / DAY : -((-d + DAY - 1) / DAY);
}

int srv__cert_soon(int64_t days_left)
{
    return days_left < CERT_SOON;
}

void srv__page_begin(struct admin_buf *b, const char *title)
{
    srv__buf_printf(b, "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
                       "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                       "<title>");
    srv__buf_html(b, title);
    srv__buf_printf(b,
                    " - stsd</title><style>%s</style></head><body><header><h1>stsd</h1><nav>"
                    "<a href=\"/\">Domains</a><a href=\"/check\">Checker</a></nav></header>"
                    "<main>",
                    css);
}

void srv__page_end(struct admin_buf *b, struct admin_response *rs, int status)
{
    srv__buf_printf(b,
                    "<p><small>stsd %s &middot; JSON at <code>/api/v1/</code> &middot; "
                    "<code>/metrics</code></small></p></main></body></html>\n",
                    STSD_VERSION);
    free(rs->body);
    rs->body = b->p ? b->p : xstrdup("");
    rs->len = b->len;
    rs->status = status;
    rs->content_type = "text/html; charset=utf-8";
    b->p = NULL;
    b->len = b->cap = 0;
}

int srv__page_params(const struct admin_params *p, const char *const *allowed,
                     const struct admin_request *rq, int64_t *since, int64_t *until,
                     struct admin_response *rs)
{
    char msg[400];
    if (srv__admin_params_allowed(p, allowed, msg, sizeof(msg)) != 0 ||
        (since != NULL && srv__admin_window(p, rq->now, since, until, msg, sizeof(msg)) != 0)) {
        srv__admin_error(rs, 400, msg);
        return -1;
    }
    return 0;
}
