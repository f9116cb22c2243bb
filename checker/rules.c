/* rules.c - the finding catalogue (checker.h): pure functions from the facts a check collected
 * (DNS answers, probe results, the fetched policy, the hosted facts) to findings; the helpers
 * the rules files share. */
#include "checker/checker_int.h"
#include "common/common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void check__finding_add(struct check_domain *d, const char *id, enum check_severity sev,
                        const char *result_type, const char *subject, const char *fix,
                        const char *fmt, ...)
{
    /* One finding per (id, subject): the first one says it. */
    for (size_t i = 0; i < d->n_findings; i++)
        if (strcmp(d->findings[i].id, id) == 0 && strcmp(d->findings[i].subject, subject) == 0)
            return;
    d->findings = xrealloc(d->findings, (d->n_findings + 1) * sizeof(*d->findings));
    struct check_finding *f = &d->findings[d->n_findings++];
    va_list ap;
    char msg[1024];
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    f->id = id;
    f->severity = sev;
    f->result_type = result_type;
    f->subject = xstrdup(subject);
    f->message = xstrdup(msg);
    f->fix = xstrdup(fix);
}

enum check_severity check__worst(const struct check_domain *d)
{
    enum check_severity w = CHECK_INFO;
    for (size_t i = 0; i < d->n_findings; i++)
        if (d->findings[i].severity > w)
            w = d->findings[i].severity;
    return w;
}

const char *check__dns_status_text(const struct dns_answer *a)
{
    switch (a->status) {
    case DNS_PENDING:
        return "no answer";
    case DNS_OK:
        return "ok";
    case DNS_NODATA:
        return "no record (NODATA)";
    case DNS_NXDOMAIN:
        return "the name does not exist (NXDOMAIN)";
    case DNS_FAIL:
        return a->why[0] ? a->why : "the query failed";
    }
    return "?";
}

void check__dns_problem(struct check_domain *d, const char *what, const struct dns_answer *a)
{
    if (a->bogus) {
        check__finding_add(d, "dns.dnssec", CHECK_ERROR, "dnssec-invalid", what,
                           "Fix the DNSSEC signatures of the zone (re-sign it, check the DS "
                           "record at the parent); validating senders cannot use bogus data.",
                           "DNSSEC validation failed for %s: %s", what, a->why);
    } else if (a->status == DNS_FAIL) {
        check__finding_add(d, "dns.error", CHECK_ERROR, NULL, what,
                           "Make the zone's name servers answer this query (SERVFAIL and "
                           "timeouts make senders defer or skip MTA-STS).",
                           "the query for %s failed: %s", what, check__dns_status_text(a));
    }
}

/* ---- the _mta-sts and _smtp._tls TXT records (RFC 8461 §3.1, RFC 8460 §3) ---- */

/* An address the run did not connect to because it is private (opts->no_private). */
void check__private_addr(struct check_domain *d, const char *id, const char *host, const char *ip,
                         const char *role, const char *what)
{
    char subj[400];
    snprintf(subj, sizeof(subj), "%s[%s]", host, ip);
    check__finding_add(d, id, CHECK_WARNING, NULL, subj,
                       "Publish only public addresses for the host; senders on the Internet "
                       "cannot reach a private one. (stsd serve's self-checks connect to "
                       "private addresses only with [checks] allow_private = on.)",
                       "%s is a loopback, private, link-local or otherwise non-public address "
                       "that %s %s: %s",
                       ip, role, host, what);
}

int check__dns_failed(struct check_domain *d, const char *what, const struct dns_answer *a)
{
    if (a->status != DNS_FAIL && a->status != DNS_PENDING)
        return 0;
    check__dns_problem(d, what, a);
    return 1;
}

const char *check__txt_first(char *const *txt, size_t n_txt, int (*is)(const char *), size_t *n)
{
    const char *rec = NULL;
    *n = 0;
    for (size_t i = 0; i < n_txt; i++)
        if (is(txt[i])) {
            if (rec == NULL)
                rec = txt[i];
            (*n)++;
        }
    return rec;
}

const char *check__sts_record(const struct check_domain *d, size_t *n_sts)
{
    return check__txt_first(d->sts_txt, d->n_sts_txt, policy_txt_is_sts, n_sts);
}

int check__txt_multiple_or_long(struct check_domain *d, const char *subj, size_t n, size_t longest,
                                const struct check__txt_kind *k)
{
    if (n > 1) {
        check__finding_add(d, k->multiple_id, CHECK_ERROR, NULL, subj, k->multiple_fix,
                           "%zu TXT records start with %s (%s)", n, k->tag, k->rfc);
        return 1;
    }
    if (longest >= CHECK_MAX_TXT_LEN) {
        char fix[200];
        snprintf(fix, sizeof(fix), "Publish a short record: \"%s\".", k->sample);
        check__finding_add(d, k->syntax_id, CHECK_ERROR, NULL, subj, fix,
                           "the TXT record is %zu bytes long (more than %d)", longest,
                           CHECK_MAX_TXT_LEN - 1);
        return 1;
    }
    return 0;
}

void check__rules(struct check_domain *d, int64_t now)
{
    if (!d->valid) {
        check__finding_add(d, "check.input", CHECK_ERROR, NULL, d->name,
                           "Give a domain name such as example.com (letters, digits and "
                           "hyphens, at least two labels, no IP address).",
                           "'%s' is not a valid domain name: %s", d->name, d->input_error);
        return;
    }
    check__rules_sts_txt(d);
    size_t n_sts;
    int sts_published = check__sts_record(d, &n_sts) != NULL;
    check__rules_fetch(d, sts_published);
    check__rules_policy(d);
    check__rules_coverage(d);
    check__rules_mx(d, now);
    check__rules_rpt_txt(d, sts_published);
    check__rules_hosted(d, now);
}

void check__domain_clear(struct check_domain *d)
{
    free(d->name);
    for (size_t i = 0; i < d->n_mx; i++)
        free(d->mx[i].host);
    free(d->mx);
    for (size_t i = 0; i < d->n_mx_listed; i++)
        free(d->mx_listed[i].host);
    free(d->mx_listed);
    for (size_t i = 0; i < d->n_sts_txt; i++)
        free(d->sts_txt[i]);
    for (size_t i = 0; i < d->n_rpt_txt; i++)
        free(d->rpt_txt[i]);
    for (size_t i = 0; i < d->n_rua_hosts; i++)
        free(d->rua_hosts[i].host);
    free(d->fetch.body);
    for (size_t i = 0; i < d->fetch.n_per_addr; i++)
        free(d->fetch.per_addr[i].body);
    free(d->fetch.per_addr);
    if (d->policy_parsed)
        policy_clear(&d->policy);
    check_hosted_facts_clear(&d->hosted);
    for (size_t i = 0; i < d->n_findings; i++) {
        free(d->findings[i].subject);
        free(d->findings[i].message);
        free(d->findings[i].fix);
    }
    free(d->findings);
    memset(d, 0, sizeof(*d));
}
