/* admin_checker.c - the checker page (/check?domain=x): runs the checker on any domain with
 * [checks]' resolver, trust anchors and ports, and shows its JSON as HTML: every finding
 * with severity and fix, per MX and address STARTTLS, TLS version and certificate, the
 * _mta-sts record, the policy fetch and mx coverage, and the _smtp._tls record. */
#include "server/admin_int.h"
#include "server/server.h"
#include "checker/checker.h"
#include "common/common.h"
#include "policy/policy.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A JSON scalar as text: strings escaped, true/false as yes/no, null as "-". */
static void jval(struct admin_buf *b, const json_t *v)
{
    if (json_is_string(v))
        srv__buf_html(b, json_string_value(v));
    else if (json_is_integer(v))
        srv__buf_printf(b, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        srv__buf_printf(b, "%g", json_real_value(v));
    else if (json_is_true(v))
        srv__buf_printf(b, "<span class=\"ok\">yes</span>");
    else if (json_is_false(v))
        srv__buf_printf(b, "<span class=\"bad\">no</span>");
    else
        srv__buf_printf(b, "-");
}

/* <td data-k="key">value</td> of one member. */
static void jtd(struct admin_buf *b, const json_t *o, const char *key)
{
    srv__buf_printf(b, "<td data-k=\"%s\">", key);
    jval(b, json_object_get(o, key));
    srv__buf_printf(b, "</td>");
}

static const char *sev_class(const char *sev)
{
    return strcmp(sev, "error") == 0 ? "bad" : strcmp(sev, "warning") == 0 ? "warn" : "";
}

void srv__check_findings_html(struct admin_buf *b, const json_t *dom)
{
    const json_t *fa = json_object_get(dom, "findings");
    if (json_array_size(fa) == 0) {
        srv__buf_printf(b, "<p class=\"ok\">No findings.</p>");
        return;
    }
    srv__buf_printf(b, "<div class=\"scroll\"><table class=\"findings\"><tr><th>severity</th>"
                       "<th>id</th><th>subject</th><th>message</th><th>fix</th></tr>");
    size_t i;
    const json_t *f;
    json_array_foreach(fa, i, f)
    {
        const char *sev = json_string_value(json_object_get(f, "severity"));
        const char *id = json_string_value(json_object_get(f, "id"));
        const char *subj = json_string_value(json_object_get(f, "subject"));
        sev = sev ? sev : "";
        srv__buf_printf(b, "<tr class=\"finding\" data-id=\"");
        srv__buf_html(b, id ? id : "");
        srv__buf_printf(b, "\" data-severity=\"");
        srv__buf_html(b, sev);
        srv__buf_printf(b, "\" data-subject=\"");
        srv__buf_html(b, subj ? subj : "");
        srv__buf_printf(b, "\"><td class=\"%s\">", sev_class(sev));
        srv__buf_html(b, sev);
        srv__buf_printf(b, "</td><td><code>");
        srv__buf_html(b, id ? id : "");
        srv__buf_printf(b, "</code></td><td>");
        srv__buf_html(b, subj ? subj : "");
        srv__buf_printf(b, "</td>");
        jtd(b, f, "message");
        jtd(b, f, "fix");
        srv__buf_printf(b, "</tr>");
    }
    srv__buf_printf(b, "</table></div>");
}

/* Every string of a JSON array, one <code> per line; "none" when empty. */
static void records(struct admin_buf *b, const char *id, const json_t *a)
{
    srv__buf_printf(b, "<ul id=\"%s\">", id);
    size_t i;
    const json_t *v;
    json_array_foreach(a, i, v)
    {
        srv__buf_printf(b, "<li><code>");
        jval(b, v);
        srv__buf_printf(b, "</code></li>");
    }
    if (json_array_size(a) == 0)
        srv__buf_printf(b, "<li class=\"bad\">none published</li>");
    srv__buf_printf(b, "</ul>");
}

/* 1 when a policy mx pattern matches host; -1 without a parsed policy. */
static int covered(const json_t *patterns, const char *host)
{
    if (!json_is_array(patterns) || host == NULL)
        return -1;
    size_t i;
    const json_t *p;
    json_array_foreach(patterns, i, p)
    {
        if (json_is_string(p) && policy_match_mx(json_string_value(p), host))
            return 1;
    }
    return 0;
}

static void mx_part(struct admin_buf *b, const json_t *dom)
{
    const json_t *pol = json_object_get(dom, "policy");
    const json_t *patterns = json_object_get(pol, "mx");
    srv__buf_printf(b, "<h3>MX hosts: STARTTLS, TLS and certificates</h3>");
    const json_t *mx = json_object_get(dom, "mx");
    if (json_array_size(mx) == 0) {
        srv__buf_printf(b, "<p class=\"bad\">No MX host was probed.</p>");
        return;
    }
    srv__buf_printf(b, "<div class=\"scroll\"><table class=\"mx\"><tr><th>MX</th>"
                       "<th>in policy</th><th>address</th><th>reachable</th><th>STARTTLS</th>"
                       "<th>TLS</th><th>verified</th><th>name match</th>"
                       "<th>not after</th><th class=\"n\">days left</th><th>error</th>"
                       "<th class=\"n\">ms</th></tr>");
    size_t i, k;
    const json_t *h, *a;
    json_array_foreach(mx, i, h)
    {
        const char *host = json_string_value(json_object_get(h, "host"));
        int cov = covered(patterns, host);
        const json_t *addrs = json_object_get(h, "addresses");
        size_t na = json_array_size(addrs);
        srv__buf_printf(b, "<tr class=\"mxhost\" data-host=\"");
        srv__buf_html(b, host ? host : "");
        srv__buf_printf(b, "\"><td rowspan=\"%zu\">", na ? na : 1);
        srv__buf_html(b, host ? host : "");
        srv__buf_printf(b,
                        " <small>(%lld)</small></td><td rowspan=\"%zu\" data-k=\"covered\" "
                        "class=\"%s\">%s</td>",
                        (long long)json_integer_value(json_object_get(h, "preference")),
                        na ? na : 1,
                        cov < 0   ? ""
                        : cov > 0 ? "ok"
                                  : "bad",
                        cov < 0   ? "-"
                        : cov > 0 ? "yes"
                                  : "no");
        if (na == 0)
            srv__buf_printf(b, "<td colspan=\"10\" class=\"bad\">no address</td></tr>");
        json_array_foreach(addrs, k, a)
        {
            if (k > 0)
                srv__buf_printf(b, "<tr class=\"mxaddr\">");
            static const char *const cols[] = {"ip",       "reachable",  "starttls",  "tls_version",
                                               "verified", "name_match", "not_after", "days_left",
                                               "error",    "ms"};
            for (size_t c = 0; c < sizeof(cols) / sizeof(cols[0]); c++) {
                const char *why = json_string_value(json_object_get(a, "verify_error"));
                if (strcmp(cols[c], "verified") != 0 || why == NULL || why[0] == '\0') {
                    jtd(b, a, cols[c]);
                    continue;
                }
                /* not verified: say why */
                srv__buf_printf(b, "<td data-k=\"verified\">");
                jval(b, json_object_get(a, "verified"));
                srv__buf_printf(b, " <small>");
                srv__buf_html(b, why);
                srv__buf_printf(b, "</small></td>");
            }
            srv__buf_printf(b, "</tr>");
        }
    }
    srv__buf_printf(b, "</table></div>");
}

static void sts_part(struct admin_buf *b, const json_t *dom)
{
    const json_t *dns = json_object_get(dom, "dns");
    srv__buf_printf(b, "<h3>MTA-STS</h3><p><code>_mta-sts.");
    jval(b, json_object_get(dom, "domain"));
    srv__buf_printf(b, "</code> TXT:</p>");
    records(b, "sts-txt", json_object_get(dns, "sts_txt"));
    const json_t *host = json_object_get(dns, "policy_host");
    srv__buf_printf(b, "<p>Policy host <code>");
    jval(b, json_object_get(host, "name"));
    srv__buf_printf(b, "</code>: ");
    const json_t *addrs = json_object_get(host, "addresses");
    size_t i;
    const json_t *v;
    json_array_foreach(addrs, i, v)
    {
        srv__buf_printf(b, "%s<code>", i ? ", " : "");
        jval(b, v);
        srv__buf_printf(b, "</code>");
    }
    if (json_array_size(addrs) == 0)
        srv__buf_printf(b, "<span class=\"bad\">no address</span>");
    srv__buf_printf(b, "</p>");
    const json_t *pol = json_object_get(dom, "policy");
    if (!json_is_object(pol)) {
        srv__buf_printf(b, "<p>The policy was not fetched.</p>");
        return;
    }
    srv__buf_printf(b, "<table class=\"fetch\">");
    static const char *const rows[][2] = {{"url", "URL"},       {"fetched", "fetched"},
                                          {"status", "status"}, {"content_type", "content type"},
                                          {"ms", "ms"},         {"error", "error"},
                                          {"mode", "mode"},     {"max_age", "max_age"}};
    for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
        srv__buf_printf(b, "<tr><th>%s</th>", rows[r][1]);
        jtd(b, pol, rows[r][0]);
        srv__buf_printf(b, "</tr>");
    }
    srv__buf_printf(b, "<tr><th>mx</th><td data-k=\"mx\">");
    json_array_foreach(json_object_get(pol, "mx"), i, v)
    {
        srv__buf_printf(b, "%s<code>", i ? ", " : "");
        jval(b, v);
        srv__buf_printf(b, "</code>");
    }
    srv__buf_printf(b, "</td></tr></table>");
    const json_t *text = json_object_get(pol, "text");
    if (json_is_string(text)) {
        srv__buf_printf(b, "<details><summary>Policy as fetched</summary><pre>");
        srv__buf_html(b, json_string_value(text));
        srv__buf_printf(b, "</pre></details>");
    }
}

static void domain_result(struct admin_buf *b, const json_t *dom)
{
    const char *verdict = json_string_value(json_object_get(dom, "verdict"));
    verdict = verdict ? verdict : "error";
    srv__buf_printf(b, "<section class=\"result\" data-domain=\"");
    jval(b, json_object_get(dom, "domain"));
    srv__buf_printf(b, "\"><h2>");
    jval(b, json_object_get(dom, "domain"));
    srv__buf_printf(b, " <span id=\"verdict\" class=\"badge%s\">%s</span></h2>",
                    strcmp(verdict, "ok") == 0        ? " ok"
                    : strcmp(verdict, "warning") == 0 ? " warn"
                                                      : "",
                    strcmp(verdict, "ok") == 0        ? "ok"
                    : strcmp(verdict, "warning") == 0 ? "warning"
                                                      : "error");
    srv__buf_printf(b, "<h3>Findings</h3>");
    srv__check_findings_html(b, dom);
    const json_t *dns = json_object_get(dom, "dns");
    srv__buf_printf(b, "<h3>DNS</h3><p>MX records (DNSSEC: <span data-k=\"dnssec\">");
    jval(b, json_object_get(dns, "dnssec"));
    srv__buf_printf(b, "</span>):</p><ul id=\"mx-records\">");
    size_t i;
    const json_t *m;
    json_array_foreach(json_object_get(dns, "mx"), i, m)
    {
        srv__buf_printf(b, "<li><code>");
        jval(b, json_object_get(m, "preference"));
        srv__buf_printf(b, " ");
        jval(b, json_object_get(m, "host"));
        srv__buf_printf(b, "</code></li>");
    }
    if (json_is_true(json_object_get(dns, "null_mx")))
        srv__buf_printf(b, "<li>null MX: the domain accepts no mail (RFC 7505)</li>");
    srv__buf_printf(b, "</ul>");
    mx_part(b, dom);
    sts_part(b, dom);
    srv__buf_printf(b, "<h3>TLS-RPT</h3><p><code>_smtp._tls.");
    jval(b, json_object_get(dom, "domain"));
    srv__buf_printf(b, "</code> TXT:</p>");
    records(b, "rpt-txt", json_object_get(dns, "rpt_txt"));
    srv__buf_printf(b, "</section>");
}

void srv__admin_checker_page(const struct admin_env *env, const struct admin_params *p,
                             const struct admin_request *rq, struct admin_response *rs)
{
    static const char *const allowed[] = {"domain", NULL};
    if (srv__page_params(p, allowed, rq, NULL, NULL, rs) != 0)
        return;
    /* The name as typed, without surrounding blanks: the checker says what is wrong with it. */
    char dom[256] = "";
    const char *in = srv__admin_param(p, "domain");
    if (in != NULL) {
        while (*in == ' ' || *in == '\t')
            in++;
        snprintf(dom, sizeof(dom), "%s", in);
        size_t n = strlen(dom);
        while (n > 0 && (dom[n - 1] == ' ' || dom[n - 1] == '\t'))
            dom[--n] = '\0';
    }
    struct admin_buf b = {0};
    srv__page_begin(&b, dom[0] ? dom : "Checker");
    srv__buf_printf(&b, "<section id=\"checker\"><h2>Check a domain</h2><form class=\"inline\" "
                        "method=\"get\" action=\"/check\"><input type=\"text\" name=\"domain\" "
                        "placeholder=\"example.org\" value=\"");
    srv__buf_html(&b, dom);
    srv__buf_printf(&b, "\"><button>Check</button></form><p><small>STARTTLS and certificates "
                        "of every MX address, the _mta-sts record, the policy as senders fetch "
                        "it, and the _smtp._tls record. Takes a few seconds.</small></p>"
                        "</section>");
    if (dom[0] == '\0') {
        srv__page_end(&b, rs, 200);
        return;
    }
    /* Compared with what this stsd hosts (stale id, served policy, certificate) when it
     * hosts the domain; nothing is stored. */
    struct check_result res;
    char err[300] = "";
    int rc = srv_check_domain(rq->hosted, env->cfg, dom, 0, &res, err, sizeof(err));
    json_t *js = check_result_json(&res);
    check_result_free(&res);
    if (rc < 0) {
        srv__buf_printf(&b, "<section><p class=\"bad\" id=\"check-error\">The check could not "
                            "run: ");
        srv__buf_html(&b, err);
        srv__buf_printf(&b, "</p></section>");
    }
    size_t i;
    const json_t *d;
    json_array_foreach(json_object_get(js, "domains"), i, d) domain_result(&b, d);
    json_decref(js);
    srv__page_end(&b, rs, 200);
}
