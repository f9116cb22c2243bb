/* output.c - the typed result rendered as the JSON object documented in checker.h, and as
 * grouped human-readable text. */
#include "checker/checker.h"
#include "common/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Network text is escaped to printable ASCII before it gets here; this guards jansson's
 * UTF-8 check anyway. */
static json_t *str(const char *s)
{
    if (s == NULL)
        return json_null();
    json_t *j = json_string(s);
    if (j != NULL)
        return j;
    char *c = xstrdup(s);
    for (char *p = c; *p; p++)
        if ((unsigned char)*p >= 0x80 || (unsigned char)*p < 0x20)
            *p = '?';
    j = json_string(c);
    free(c);
    return j;
}

static json_t *str_or_null(const char *s)
{
    return (s == NULL || s[0] == '\0') ? json_null() : str(s);
}

static json_t *time_or_null(int have, int64_t t)
{
    char buf[21];
    if (!have)
        return json_null();
    format_rfc3339((time_t)t, buf);
    return json_string(buf);
}

static json_t *status_or_null(long status)
{
    return status ? json_integer(status) : json_null();
}

static json_t *str_array(char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, str(v[i]));
    return a;
}

static json_t *addr_json(const struct check_result_addr *a)
{
    return json_pack("{s:s,s:b,s:b,s:o,s:o,s:b,s:o,s:b,s:o,s:o,s:o,s:o,s:I}", "ip", a->ip,
                     "reachable", a->reachable, "starttls", a->starttls, "tls_version",
                     str_or_null(a->tls_version), "cipher", str_or_null(a->cipher), "verified",
                     a->verified, "verify_error", str_or_null(a->verify_error), "name_match",
                     a->name_match, "not_before", time_or_null(a->have_cert, a->not_before),
                     "not_after", time_or_null(a->have_cert, a->not_after), "days_left",
                     a->have_cert ? json_integer(a->days_left) : json_null(), "error",
                     str_or_null(a->error), "ms", (json_int_t)a->ms);
}

static json_t *policy_json(const struct check_result_policy *p)
{
    if (!p->attempted)
        return json_null();
    json_t *o = json_pack(
        "{s:s,s:b,s:o,s:o,s:I,s:o,s:o,s:o,s:o,s:o}", "url", p->url, "fetched", p->fetched, "status",
        status_or_null(p->status), "content_type", str_or_null(p->content_type), "ms",
        (json_int_t)p->ms, "text", p->text ? str(p->text) : json_null(), "mode",
        p->mode ? json_string(p->mode) : json_null(), "max_age",
        p->mode ? json_integer(p->max_age) : json_null(), "mx",
        p->mode ? str_array(p->mx, p->n_mx) : json_null(), "error", str_or_null(p->error));
    if (p->per_address) {
        json_t *as = json_array();
        for (size_t i = 0; i < p->n_addrs; i++) {
            const struct check_result_fetch_addr *pa = &p->addrs[i];
            json_array_append_new(as,
                                  json_pack("{s:s,s:o,s:I,s:o}", "ip", pa->ip, "status",
                                            status_or_null(pa->status), "ms", (json_int_t)pa->ms,
                                            "error", str_or_null(pa->error)));
        }
        json_object_set_new(o, "addresses", as);
    }
    return o;
}

static json_t *dns_json(const struct check_result_dns *d)
{
    json_t *dns = json_object();
    json_t *mx = json_array();
    for (size_t i = 0; i < d->n_mx; i++) {
        json_t *m = json_object();
        json_object_set_new(m, "preference", json_integer(d->mx[i].preference));
        json_object_set_new(m, "host", str(d->mx[i].host));
        json_array_append_new(mx, m);
    }
    json_object_set_new(dns, "mx", mx);
    json_object_set_new(dns, "null_mx", json_boolean(d->null_mx));
    json_object_set_new(dns, "sts_txt", str_array(d->sts_txt, d->n_sts_txt));
    json_object_set_new(dns, "rpt_txt", str_array(d->rpt_txt, d->n_rpt_txt));
    json_t *ph = json_object();
    json_object_set_new(ph, "name", str(d->policy_host));
    json_t *ha = json_array();
    for (size_t i = 0; i < d->n_policy_host_addrs; i++)
        json_array_append_new(ha, json_string(d->policy_host_addrs[i]));
    json_object_set_new(ph, "addresses", ha);
    json_object_set_new(dns, "policy_host", ph);
    json_object_set_new(dns, "dnssec", json_string(d->dnssec));
    return dns;
}

json_t *check_result_domain_json(const struct check_result_domain *d)
{
    json_t *o = json_object();
    json_object_set_new(o, "domain", str(d->domain));
    json_object_set_new(o, "verdict", json_string(check_verdict_name(d->worst)));
    json_t *fs = json_array();
    for (size_t i = 0; i < d->n_findings; i++) {
        const struct check_finding *f = &d->findings[i];
        json_t *j = json_object();
        json_object_set_new(j, "id", json_string(f->id));
        json_object_set_new(j, "severity", json_string(check_severity_name(f->severity)));
        json_object_set_new(j, "subject", str(f->subject));
        json_object_set_new(j, "message", str(f->message));
        json_object_set_new(j, "fix", str(f->fix));
        if (f->result_type != NULL)
            json_object_set_new(j, "result_type", json_string(f->result_type));
        json_array_append_new(fs, j);
    }
    json_object_set_new(o, "findings", fs);
    json_object_set_new(o, "dns", dns_json(&d->dns));
    json_object_set_new(o, "policy", policy_json(&d->policy));
    json_t *mxs = json_array();
    for (size_t i = 0; i < d->n_mx; i++) {
        const struct check_result_mx *m = &d->mx[i];
        json_t *as = json_array();
        for (size_t k = 0; k < m->n_addrs; k++)
            json_array_append_new(as, addr_json(&m->addrs[k]));
        json_array_append_new(mxs, json_pack("{s:o,s:i,s:o}", "host", str(m->host), "preference",
                                             m->preference, "addresses", as));
    }
    json_object_set_new(o, "mx", mxs);
    if (d->hosted.compared) {
        const struct check_result_hosted *h = &d->hosted;
        json_t *j = json_object();
        json_object_set_new(j, "policy", json_boolean(h->policy));
        json_object_set_new(j, "policy_id", str_or_null(h->policy_id));
        json_object_set_new(j, "cert_not_after", time_or_null(h->cert_found, h->cert_not_after));
        json_object_set_new(o, "hosted", j);
    }
    return o;
}

json_t *check_result_json(const struct check_result *r)
{
    if (!r->ran)
        return NULL;
    json_t *doms = json_array();
    for (size_t i = 0; i < r->n_domains; i++)
        json_array_append_new(doms, check_result_domain_json(&r->domains[i]));
    json_t *res = json_object();
    json_object_set_new(res, "version", json_integer(1));
    json_object_set_new(res, "domains", doms);
    return res;
}

/* ---- text ---- */

struct colors {
    const char *err, *warn, *info, *ok, *bold, *dim, *off;
};

static void print_facts(FILE *f, const struct check_result_domain *d, const struct colors *c,
                        struct text_safe *ts)
{
    for (size_t k = 0; k < d->n_mx; k++) {
        const struct check_result_mx *m = &d->mx[k];
        fprintf(f, "  %sMX %d %s%s", c->dim, m->preference, text_safe(ts, m->host), c->off);
        for (size_t i = 0; i < m->n_addrs; i++) {
            const struct check_result_addr *a = &m->addrs[i];
            fprintf(f, "%s %s %s%s", c->dim, text_safe(ts, a->ip),
                    a->starttls    ? (a->tls_version[0] ? text_safe(ts, a->tls_version) : "TLS")
                    : a->reachable ? "no-TLS"
                                   : "unreachable",
                    c->off);
        }
        fputc('\n', f);
    }
    for (size_t k = 0; k < d->dns.n_sts_txt; k++)
        fprintf(f, "  %s_mta-sts TXT \"%s\"%s\n", c->dim, text_safe(ts, d->dns.sts_txt[k]), c->off);
    for (size_t k = 0; k < d->dns.n_rpt_txt; k++)
        fprintf(f, "  %s_smtp._tls TXT \"%s\"%s\n", c->dim, text_safe(ts, d->dns.rpt_txt[k]),
                c->off);
    const struct check_result_policy *p = &d->policy;
    if (p->attempted && p->status)
        fprintf(f, "  %spolicy %s: HTTP %ld, mode %s, %lld ms%s\n", c->dim, text_safe(ts, p->url),
                p->status, p->mode ? p->mode : "-", (long long)p->ms, c->off);
    else if (p->attempted)
        fprintf(f, "  %spolicy %s: %s%s\n", c->dim, text_safe(ts, p->url), text_safe(ts, p->error),
                c->off);
    if (strcmp(d->dns.dnssec, "unknown") != 0)
        fprintf(f, "  %sDNSSEC %s%s\n", c->dim, d->dns.dnssec, c->off);
    if (d->hosted.compared && d->hosted.policy) {
        char na[21] = "-";
        if (d->hosted.cert_found)
            format_rfc3339((time_t)d->hosted.cert_not_after, na);
        fprintf(f, "  %shosted here: policy id %s, certificate until %s%s\n", c->dim,
                d->hosted.policy_id[0] ? d->hosted.policy_id : "-", na, c->off);
    }
}

void check_print_text(FILE *f, const struct check_result *r, int color)
{
    struct colors c = {"", "", "", "", "", "", ""};
    if (color)
        c = (struct colors){"\033[31m", "\033[33m", "\033[36m", "\033[32m",
                            "\033[1m",  "\033[2m",  "\033[0m"};
    for (size_t i = 0; i < r->n_domains; i++) {
        const struct check_result_domain *d = &r->domains[i];
        struct text_safe ts = {0};
        const char *vc = d->worst == CHECK_ERROR     ? c.err
                         : d->worst == CHECK_WARNING ? c.warn
                                                     : c.ok;
        fprintf(f, "%s%s%s: %s%s%s\n", c.bold, text_safe(&ts, d->domain), c.off, vc,
                check_verdict_name(d->worst), c.off);
        print_facts(f, d, &c, &ts);
        /* Findings grouped by severity, worst first. */
        const char *const sc[] = {c.info, c.warn, c.err};
        int any = 0;
        for (int s = CHECK_ERROR; s >= CHECK_INFO; s--)
            for (size_t k = 0; k < d->n_findings; k++) {
                const struct check_finding *x = &d->findings[k];
                if ((int)x->severity != s)
                    continue;
                any = 1;
                fprintf(f, "  %s%-7s%s %s%s%s  %s\n", sc[s], check_severity_name(x->severity),
                        c.off, c.bold, x->id, c.off, text_safe(&ts, x->subject));
                fprintf(f, "          %s\n", text_safe(&ts, x->message));
                fprintf(f, "          %sfix:%s %s\n", c.dim, c.off, text_safe(&ts, x->fix));
            }
        if (!any)
            fprintf(f, "  %sno findings%s\n", c.ok, c.off);
        fputc('\n', f);
        text_safe_free(&ts);
    }
}
