/* output.c - the check's result as the JSON object documented in checker.h, and as grouped
 * human-readable text rendered from that object. */
#include "checker/checker_int.h"
#include "common/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *check__severity_name(enum check_severity s)
{
    return s == CHECK_ERROR ? "error" : s == CHECK_WARNING ? "warning" : "info";
}

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

static const char *dnssec_state(const struct check_domain *d)
{
    const struct dns_answer *all[] = {&d->mx_ans, &d->sts_ans, &d->rpt_ans, &d->host_a,
                                      &d->host_aaaa};
    int answered = 0, secure = 1;
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        if (all[i]->bogus)
            return "bogus";
        if (all[i]->status == DNS_OK || all[i]->status == DNS_NODATA ||
            all[i]->status == DNS_NXDOMAIN) {
            answered = 1;
            secure &= all[i]->secure;
        }
    }
    if (!answered)
        return "unknown";
    return secure ? "secure" : "insecure";
}

static json_t *addr_json(const struct check_addr *a, int64_t now)
{
    json_t *o = json_object();
    json_object_set_new(o, "ip", json_string(a->ip));
    json_object_set_new(o, "reachable", json_boolean(a->reachable));
    json_object_set_new(o, "starttls", json_boolean(a->starttls));
    json_object_set_new(o, "tls_version", str_or_null(a->tls_version_name));
    json_object_set_new(o, "cipher", str_or_null(a->cipher));
    json_object_set_new(o, "verified", json_boolean(a->handshake && a->verified));
    json_object_set_new(o, "verify_error", str_or_null(a->verify_error));
    json_object_set_new(o, "name_match", json_boolean(a->have_cert && a->name_match));
    json_object_set_new(o, "not_before", time_or_null(a->have_cert, a->not_before));
    json_object_set_new(o, "not_after", time_or_null(a->have_cert, a->not_after));
    json_object_set_new(o, "days_left",
                        a->have_cert ? json_integer((a->not_after - now) / 86400) : json_null());
    json_object_set_new(o, "error", str_or_null(a->error));
    json_object_set_new(o, "ms", json_integer(a->ms));
    return o;
}

static json_t *policy_json(const struct check_domain *d)
{
    const struct check_fetch *fe = &d->fetch;
    if (!fe->attempted)
        return json_null();
    json_t *o = json_object();
    json_object_set_new(o, "url", json_string(fe->url));
    int fetched = fe->done && fe->status == 200 && !fe->too_big && fe->body != NULL;
    json_object_set_new(o, "fetched", json_boolean(fetched));
    json_object_set_new(o, "status", fe->status ? json_integer(fe->status) : json_null());
    json_object_set_new(o, "content_type", str_or_null(fe->content_type));
    json_object_set_new(o, "ms", json_integer(fe->ms));
    json_object_set_new(o, "text", fetched ? str(fe->body) : json_null());
    if (d->policy_ok) {
        json_object_set_new(o, "mode", json_string(policy_mode_name(d->policy.mode)));
        json_object_set_new(o, "max_age", json_integer(d->policy.max_age));
        json_t *mx = json_array();
        for (size_t i = 0; i < d->policy.n_mx; i++)
            json_array_append_new(mx, str(d->policy.mx[i]));
        json_object_set_new(o, "mx", mx);
    } else {
        json_object_set_new(o, "mode", json_null());
        json_object_set_new(o, "max_age", json_null());
        json_object_set_new(o, "mx", json_null());
    }
    json_object_set_new(o, "error", str_or_null(fe->error));
    if (fe->n_per_addr > 0) {
        json_t *as = json_array();
        for (size_t i = 0; i < fe->n_per_addr && i < d->n_host_addrs; i++) {
            const struct check_fetch *pa = &fe->per_addr[i];
            json_t *a = json_object();
            json_object_set_new(a, "ip", json_string(d->host_addrs[i]));
            json_object_set_new(a, "status", pa->status ? json_integer(pa->status) : json_null());
            json_object_set_new(a, "ms", json_integer(pa->ms));
            json_object_set_new(a, "error", str_or_null(pa->error));
            json_array_append_new(as, a);
        }
        json_object_set_new(o, "addresses", as);
    }
    return o;
}

json_t *check__domain_json(const struct check_domain *d, int64_t now)
{
    json_t *o = json_object();
    json_object_set_new(o, "domain", str(d->name));
    enum check_severity w = check__worst(d);
    json_object_set_new(o, "verdict",
                        json_string(w == CHECK_INFO ? "ok" : check__severity_name(w)));
    json_t *fs = json_array();
    for (size_t i = 0; i < d->n_findings; i++) {
        const struct check_finding *f = &d->findings[i];
        json_t *j = json_object();
        json_object_set_new(j, "id", json_string(f->id));
        json_object_set_new(j, "severity", json_string(check__severity_name(f->severity)));
        json_object_set_new(j, "subject", str(f->subject));
        json_object_set_new(j, "message", str(f->message));
        json_object_set_new(j, "fix", str(f->fix));
        if (f->result_type != NULL)
            json_object_set_new(j, "result_type", json_string(f->result_type));
        json_array_append_new(fs, j);
    }
    json_object_set_new(o, "findings", fs);

    json_t *dns = json_object();
    json_t *mx = json_array();
    for (size_t i = 0; i < d->n_mx_listed; i++) {
        json_t *m = json_object();
        json_object_set_new(m, "preference", json_integer(d->mx_listed[i].preference));
        json_object_set_new(m, "host", str(d->mx_listed[i].host));
        json_array_append_new(mx, m);
    }
    json_object_set_new(dns, "mx", mx);
    json_object_set_new(dns, "null_mx", json_boolean(d->null_mx));
    json_t *sts = json_array(), *rpt = json_array();
    for (size_t i = 0; i < d->n_sts_txt; i++)
        json_array_append_new(sts, str(d->sts_txt[i]));
    for (size_t i = 0; i < d->n_rpt_txt; i++)
        json_array_append_new(rpt, str(d->rpt_txt[i]));
    json_object_set_new(dns, "sts_txt", sts);
    json_object_set_new(dns, "rpt_txt", rpt);
    json_t *ph = json_object();
    char *hn = xasprintf("mta-sts.%s", d->name ? d->name : "");
    json_object_set_new(ph, "name", str(hn));
    free(hn);
    json_t *ha = json_array();
    for (size_t i = 0; i < d->n_host_addrs; i++)
        json_array_append_new(ha, json_string(d->host_addrs[i]));
    json_object_set_new(ph, "addresses", ha);
    json_object_set_new(dns, "policy_host", ph);
    json_object_set_new(dns, "dnssec", json_string(dnssec_state(d)));
    json_object_set_new(o, "dns", dns);

    json_object_set_new(o, "policy", policy_json(d));

    json_t *mxs = json_array();
    for (size_t i = 0; i < d->n_mx; i++) {
        const struct check_mx *m = &d->mx[i];
        json_t *j = json_object();
        json_object_set_new(j, "host", str(m->host));
        json_object_set_new(j, "preference", json_integer(m->preference));
        json_t *as = json_array();
        for (size_t k = 0; k < m->n_addrs; k++)
            json_array_append_new(as, addr_json(&m->addrs[k], now));
        json_object_set_new(j, "addresses", as);
        json_array_append_new(mxs, j);
    }
    json_object_set_new(o, "mx", mxs);

    if (d->hosted.enabled) {
        const struct check_hosted *h = &d->hosted;
        json_t *j = json_object();
        json_object_set_new(j, "policy", json_boolean(h->has_policy));
        json_object_set_new(j, "policy_id", str_or_null(h->current_id));
        json_object_set_new(j, "cert_not_after", time_or_null(h->cert_found, h->cert_not_after));
        json_object_set_new(o, "hosted", j);
    }
    return o;
}

/* ---- text ---- */

struct colors {
    const char *err, *warn, *info, *ok, *bold, *dim, *off;
};

/* A string member, escaped for the terminal: DNS records, SMTP banners, certificate names
 * and error texts come from the network. Lives until text_safe_free(ts). */
static const char *json_str(struct text_safe *ts, const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? text_safe(ts, s) : "";
}

void check_print_text(FILE *f, const json_t *result, int color)
{
    struct colors c = {"", "", "", "", "", "", ""};
    if (color)
        c = (struct colors){"\033[31m", "\033[33m", "\033[36m", "\033[32m",
                            "\033[1m",  "\033[2m",  "\033[0m"};
    size_t i;
    json_t *dom;
    json_array_foreach(json_object_get(result, "domains"), i, dom)
    {
        struct text_safe ts = {0};
        const char *verdict = json_str(&ts, dom, "verdict");
        const char *vc = strcmp(verdict, "error") == 0     ? c.err
                         : strcmp(verdict, "warning") == 0 ? c.warn
                                                           : c.ok;
        fprintf(f, "%s%s%s: %s%s%s\n", c.bold, json_str(&ts, dom, "domain"), c.off, vc, verdict,
                c.off);

        /* The facts, briefly. */
        json_t *dns = json_object_get(dom, "dns");
        size_t k;
        json_t *v;
        json_array_foreach(json_object_get(dom, "mx"), k, v)
        {
            fprintf(f, "  %sMX %lld %s%s", c.dim,
                    (long long)json_integer_value(json_object_get(v, "preference")),
                    json_str(&ts, v, "host"), c.off);
            size_t m;
            json_t *a;
            json_array_foreach(json_object_get(v, "addresses"), m, a)
            {
                const char *ver = json_str(&ts, a, "tls_version");
                fprintf(f, "%s %s %s%s", c.dim, json_str(&ts, a, "ip"),
                        json_is_true(json_object_get(a, "starttls"))    ? (ver[0] ? ver : "TLS")
                        : json_is_true(json_object_get(a, "reachable")) ? "no-TLS"
                                                                        : "unreachable",
                        c.off);
            }
            fputc('\n', f);
        }
        json_array_foreach(json_object_get(dns, "sts_txt"), k, v) fprintf(
            f, "  %s_mta-sts TXT \"%s\"%s\n", c.dim, text_safe(&ts, json_string_value(v)), c.off);
        json_array_foreach(json_object_get(dns, "rpt_txt"), k, v) fprintf(
            f, "  %s_smtp._tls TXT \"%s\"%s\n", c.dim, text_safe(&ts, json_string_value(v)), c.off);
        json_t *pol = json_object_get(dom, "policy");
        if (json_is_object(pol)) {
            json_t *st = json_object_get(pol, "status");
            if (json_is_integer(st))
                fprintf(f, "  %spolicy %s: HTTP %lld, mode %s, %lld ms%s\n", c.dim,
                        json_str(&ts, pol, "url"), (long long)json_integer_value(st),
                        json_is_string(json_object_get(pol, "mode")) ? json_str(&ts, pol, "mode")
                                                                     : "-",
                        (long long)json_integer_value(json_object_get(pol, "ms")), c.off);
            else
                fprintf(f, "  %spolicy %s: %s%s\n", c.dim, json_str(&ts, pol, "url"),
                        json_str(&ts, pol, "error"), c.off);
        }

        const char *dnssec = json_str(&ts, dns, "dnssec");
        if (strcmp(dnssec, "unknown") != 0)
            fprintf(f, "  %sDNSSEC %s%s\n", c.dim, dnssec, c.off);
        json_t *h = json_object_get(dom, "hosted");
        if (json_is_object(h) && json_is_true(json_object_get(h, "policy")))
            fprintf(f, "  %shosted here: policy id %s, certificate until %s%s\n", c.dim,
                    json_is_string(json_object_get(h, "policy_id")) ? json_str(&ts, h, "policy_id")
                                                                    : "-",
                    json_is_string(json_object_get(h, "cert_not_after"))
                        ? json_str(&ts, h, "cert_not_after")
                        : "-",
                    c.off);

        /* Findings grouped by severity, worst first. */
        static const char *const sevs[] = {"error", "warning", "info"};
        const char *const sc[] = {c.err, c.warn, c.info};
        int any = 0;
        for (int s = 0; s < 3; s++) {
            json_array_foreach(json_object_get(dom, "findings"), k, v)
            {
                if (strcmp(json_str(&ts, v, "severity"), sevs[s]) != 0)
                    continue;
                any = 1;
                fprintf(f, "  %s%-7s%s %s%s%s  %s\n", sc[s], sevs[s], c.off, c.bold,
                        json_str(&ts, v, "id"), c.off, json_str(&ts, v, "subject"));
                fprintf(f, "          %s\n", json_str(&ts, v, "message"));
                fprintf(f, "          %sfix:%s %s\n", c.dim, c.off, json_str(&ts, v, "fix"));
            }
        }
        if (!any)
            fprintf(f, "  %sno findings%s\n", c.ok, c.off);
        fputc('\n', f);
        text_safe_free(&ts);
    }
}
