/* result.c - the typed result of a check (struct check_result): built from the facts and
 * findings of each domain once the rules have run, and freed. */
#include "checker/checker_int.h"
#include "common/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *check_severity_name(enum check_severity s)
{
    return s == CHECK_ERROR ? "error" : s == CHECK_WARNING ? "warning" : "info";
}

const char *check_verdict_name(enum check_severity s)
{
    return s == CHECK_INFO ? "ok" : check_severity_name(s);
}

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static char **copy_strv(char *const *v, size_t n)
{
    char **c = xcalloc(n ? n : 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        c[i] = xstrdup(v[i]);
    return c;
}

void check_hosted_facts_clear(struct check_hosted_facts *f)
{
    free(f->policy_text);
    free_strv(f->old_ids, f->n_old_ids);
    memset(f, 0, sizeof(*f));
}

/* DNSSEC over every answer about the domain's own names. */
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

static void result_dns(const struct check_domain *d, struct check_result_dns *o)
{
    o->mx = xcalloc(d->n_mx_listed ? d->n_mx_listed : 1, sizeof(*o->mx));
    for (size_t i = 0; i < d->n_mx_listed; i++) {
        o->mx[i].preference = d->mx_listed[i].preference;
        o->mx[i].host = xstrdup(d->mx_listed[i].host);
    }
    o->n_mx = d->n_mx_listed;
    o->null_mx = d->null_mx;
    o->sts_txt = copy_strv(d->sts_txt, d->n_sts_txt);
    o->n_sts_txt = d->n_sts_txt;
    o->rpt_txt = copy_strv(d->rpt_txt, d->n_rpt_txt);
    o->n_rpt_txt = d->n_rpt_txt;
    o->policy_host = xasprintf("mta-sts.%s", d->name ? d->name : "");
    o->policy_host_addrs = xcalloc(d->n_host_addrs ? d->n_host_addrs : 1, CHECK_IP_MAX);
    for (size_t i = 0; i < d->n_host_addrs; i++)
        snprintf(o->policy_host_addrs[i], CHECK_IP_MAX, "%s", d->host_addrs[i]);
    o->n_policy_host_addrs = d->n_host_addrs;
    o->dnssec = dnssec_state(d);
    for (size_t i = 0; i < o->n_sts_txt && !o->sts_id[0]; i++) {
        struct sts_txt t;
        int id_err = 0;
        char err[200];
        if (policy_txt_is_sts(o->sts_txt[i]) &&
            policy_sts_txt_parse(o->sts_txt[i], &t, &id_err, err, sizeof(err)) == 0)
            snprintf(o->sts_id, sizeof(o->sts_id), "%s", t.id);
    }
    size_t n_rpt;
    o->rpt_record = check__txt_first(o->rpt_txt, o->n_rpt_txt, policy_txt_is_rpt, &n_rpt);
    struct rpt_txt rt = {0};
    char err[200];
    if (o->rpt_record != NULL && policy_rpt_txt_parse(o->rpt_record, &rt, err, sizeof(err)) == 0) {
        o->rua = copy_strv(rt.rua, rt.n_rua);
        o->n_rua = rt.n_rua;
    }
    policy_rpt_txt_clear(&rt);
}

static void result_policy(const struct check_domain *d, struct check_result_policy *o)
{
    const struct check_fetch *fe = &d->fetch;
    o->attempted = fe->attempted;
    if (!fe->attempted)
        return;
    snprintf(o->url, sizeof(o->url), "%s", fe->url);
    o->fetched = fe->done && fe->status == 200 && !fe->too_big && fe->body != NULL;
    o->status = fe->status;
    snprintf(o->content_type, sizeof(o->content_type), "%s", fe->content_type);
    o->ms = fe->ms;
    o->text = o->fetched ? xstrdup(fe->body) : NULL;
    if (d->policy_ok) {
        o->mode = policy_mode_name(d->policy.mode);
        o->max_age = d->policy.max_age;
        o->mx = copy_strv(d->policy.mx, d->policy.n_mx);
        o->n_mx = d->policy.n_mx;
    }
    snprintf(o->error, sizeof(o->error), "%s", fe->error);
    o->per_address = fe->n_per_addr > 0;
    size_t n = fe->n_per_addr < d->n_host_addrs ? fe->n_per_addr : d->n_host_addrs;
    o->addrs = xcalloc(n ? n : 1, sizeof(*o->addrs));
    for (size_t i = 0; i < n; i++) {
        const struct check_fetch *pa = &fe->per_addr[i];
        snprintf(o->addrs[i].ip, sizeof(o->addrs[i].ip), "%s", d->host_addrs[i]);
        o->addrs[i].status = pa->status;
        o->addrs[i].ms = pa->ms;
        snprintf(o->addrs[i].error, sizeof(o->addrs[i].error), "%s", pa->error);
    }
    o->n_addrs = n;
}

static void result_addr(const struct check_addr *a, int64_t now, struct check_result_addr *o)
{
    snprintf(o->ip, sizeof(o->ip), "%s", a->ip);
    o->reachable = a->reachable;
    o->starttls = a->starttls;
    snprintf(o->tls_version, sizeof(o->tls_version), "%s", a->tls_version_name);
    snprintf(o->cipher, sizeof(o->cipher), "%s", a->cipher);
    o->verified = a->handshake && a->verified;
    snprintf(o->verify_error, sizeof(o->verify_error), "%s", a->verify_error);
    o->have_cert = a->have_cert;
    o->name_match = a->have_cert && a->name_match;
    if (a->have_cert) {
        o->not_before = a->not_before;
        o->not_after = a->not_after;
        o->days_left = (a->not_after - now) / 86400;
    }
    snprintf(o->error, sizeof(o->error), "%s", a->error);
    o->ms = a->ms;
}

void check__result_domain(const struct check_domain *d, int64_t now,
                          struct check_result_domain *out)
{
    memset(out, 0, sizeof(*out));
    out->domain = xstrdup(d->name ? d->name : "");
    out->valid = d->valid;
    out->worst = check__worst(d);
    out->findings = xcalloc(d->n_findings ? d->n_findings : 1, sizeof(*out->findings));
    for (size_t i = 0; i < d->n_findings; i++) {
        const struct check_finding *f = &d->findings[i];
        out->findings[i] = *f;
        out->findings[i].subject = xstrdup(f->subject);
        out->findings[i].message = xstrdup(f->message);
        out->findings[i].fix = xstrdup(f->fix);
    }
    out->n_findings = d->n_findings;
    result_dns(d, &out->dns);
    result_policy(d, &out->policy);
    out->mx = xcalloc(d->n_mx ? d->n_mx : 1, sizeof(*out->mx));
    for (size_t i = 0; i < d->n_mx; i++) {
        const struct check_mx *m = &d->mx[i];
        struct check_result_mx *o = &out->mx[i];
        o->host = xstrdup(m->host);
        o->preference = m->preference;
        o->addrs = xcalloc(m->n_addrs ? m->n_addrs : 1, sizeof(*o->addrs));
        for (size_t k = 0; k < m->n_addrs; k++)
            result_addr(&m->addrs[k], now, &o->addrs[k]);
        o->n_addrs = m->n_addrs;
    }
    out->n_mx = d->n_mx;
    const struct check_hosted_facts *h = &d->hosted;
    struct check_result_hosted *oh = &out->hosted;
    oh->compared = d->hosted_given;
    oh->policy = h->has_policy;
    snprintf(oh->policy_id, sizeof(oh->policy_id), "%s", h->current_id);
    oh->cert_found = h->has_policy && h->cert_found;
    oh->cert_not_after = oh->cert_found ? h->cert_not_after : 0;
    snprintf(oh->cert_path, sizeof(oh->cert_path), "%s", oh->cert_found ? h->cert_path : "");
}

void check__result_domain_clear(struct check_result_domain *r)
{
    free(r->domain);
    for (size_t i = 0; i < r->n_findings; i++) {
        free(r->findings[i].subject);
        free(r->findings[i].message);
        free(r->findings[i].fix);
    }
    free(r->findings);
    for (size_t i = 0; i < r->dns.n_mx; i++)
        free(r->dns.mx[i].host);
    free(r->dns.mx);
    free_strv(r->dns.sts_txt, r->dns.n_sts_txt);
    free_strv(r->dns.rpt_txt, r->dns.n_rpt_txt);
    free(r->dns.policy_host);
    free(r->dns.policy_host_addrs);
    free_strv(r->dns.rua, r->dns.n_rua);
    free(r->policy.text);
    free_strv(r->policy.mx, r->policy.n_mx);
    free(r->policy.addrs);
    for (size_t i = 0; i < r->n_mx; i++) {
        free(r->mx[i].host);
        free(r->mx[i].addrs);
    }
    free(r->mx);
    memset(r, 0, sizeof(*r));
}

void check_result_free(struct check_result *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n_domains; i++)
        check__result_domain_clear(&r->domains[i]);
    free(r->domains);
    memset(r, 0, sizeof(*r));
}

json_t *check__domain_json(const struct check_domain *d, int64_t now)
{
    struct check_result_domain r;
    check__result_domain(d, now, &r);
    json_t *j = check_result_domain_json(&r);
    check__result_domain_clear(&r);
    return j;
}
