/* rules.c - the catalogue of findings: pure functions from the facts a check collected (DNS
 * answers, probe results, the fetched policy, the hosted state) to findings. */
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

static const char *dns_status_text(const struct dns_answer *a)
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

static void dns_problem(struct check_domain *d, const char *what, const struct dns_answer *a)
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
                           "the query for %s failed: %s", what, dns_status_text(a));
    }
}

/* ---- the _mta-sts and _smtp._tls TXT records (RFC 8461 §3.1, RFC 8460 §3) ---- */

/* An address the run did not connect to because it is private (opts->no_private). */
static void private_addr(struct check_domain *d, const char *id, const char *host, const char *ip,
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

static const char *sts_record(const struct check_domain *d, size_t *n_sts)
{
    const char *rec = NULL;
    *n_sts = 0;
    for (size_t i = 0; i < d->n_sts_txt; i++)
        if (policy_txt_is_sts(d->sts_txt[i])) {
            if (rec == NULL)
                rec = d->sts_txt[i];
            (*n_sts)++;
        }
    return rec;
}

static void rules_sts_txt(struct check_domain *d)
{
    char subj[300], fix[600];
    snprintf(subj, sizeof(subj), "_mta-sts.%s", d->name);
    if (d->sts_ans.status == DNS_FAIL || d->sts_ans.status == DNS_PENDING) {
        dns_problem(d, subj, &d->sts_ans);
        return;
    }
    size_t n_sts;
    const char *rec = sts_record(d, &n_sts);
    if (n_sts == 0 && d->n_sts_txt > 0) {
        snprintf(fix, sizeof(fix),
                 "Publish one TXT record at %s that starts with \"v=STSv1;\", e.g. "
                 "\"v=STSv1; id=20261129T120000\".",
                 subj);
        check__finding_add(d, "sts.txt.syntax", CHECK_ERROR, NULL, subj, fix,
                           "the TXT record \"%.120s\" does not start with v=STSv1, so senders "
                           "ignore it (RFC 8461 §3.1)",
                           d->sts_txt[0]);
        return;
    }
    if (n_sts == 0) {
        int host = d->n_host_addrs > 0;
        snprintf(fix, sizeof(fix),
                 host ? "Publish %s. IN TXT \"v=STSv1; id=<id>\" with the id of the policy "
                        "served at mta-sts.%s ('stsd policy dns %s' prints it)."
                      : "To use MTA-STS, serve a policy at https://mta-sts.%s/ and publish "
                        "%s. IN TXT \"v=STSv1; id=<id>\".",
                 host ? subj : d->name, host ? d->name : subj, d->name);
        check__finding_add(d, "sts.txt.missing", host ? CHECK_ERROR : CHECK_WARNING, NULL, subj,
                           fix,
                           host ? "no _mta-sts TXT record, although mta-sts.%s resolves: "
                                  "senders will not look for the policy"
                                : "no _mta-sts TXT record and no mta-sts.%s host: the domain "
                                  "does not use MTA-STS, so senders can be downgraded to "
                                  "plaintext",
                           d->name);
        return;
    }
    if (n_sts > 1) {
        check__finding_add(d, "sts.txt.multiple", CHECK_ERROR, NULL, subj,
                           "Delete all but one v=STSv1 TXT record: with several, senders "
                           "treat the domain as having no policy.",
                           "%zu TXT records start with v=STSv1 (RFC 8461 §3.1 allows one)", n_sts);
        return;
    }
    if (d->sts_txt_longest >= CHECK_MAX_TXT_LEN) {
        check__finding_add(d, "sts.txt.syntax", CHECK_ERROR, NULL, subj,
                           "Publish a short record: \"v=STSv1; id=<id>\".",
                           "the TXT record is %zu bytes long (more than %d)", d->sts_txt_longest,
                           CHECK_MAX_TXT_LEN - 1);
        return;
    }
    struct sts_txt st;
    int id_error = 0;
    char err[256] = "";
    if (policy_sts_txt_parse(rec, &st, &id_error, err, sizeof(err)) != 0) {
        if (id_error)
            check__finding_add(d, "sts.txt.id", CHECK_ERROR, NULL, subj,
                               "Set id= to 1-32 letters and digits that change whenever the "
                               "policy changes, e.g. id=20261129T120000.",
                               "\"%.200s\": %s", rec, err);
        else
            check__finding_add(d, "sts.txt.syntax", CHECK_ERROR, NULL, subj,
                               "Publish the record as \"v=STSv1; id=<id>\" (fields separated "
                               "by \"; \", RFC 8461 §3.1).",
                               "\"%.200s\": %s", rec, err);
    }
}

/* The id of the one valid v=STSv1 record, into out. 0 or -1. */
static int published_id(const struct check_domain *d, char out[POLICY_ID_MAX + 1])
{
    size_t n_sts;
    const char *rec = sts_record(d, &n_sts);
    struct sts_txt st;
    int id_error;
    char err[64];
    if (n_sts != 1 || policy_sts_txt_parse(rec, &st, &id_error, err, sizeof(err)) != 0)
        return -1;
    snprintf(out, POLICY_ID_MAX + 1, "%s", st.id);
    return 0;
}

static void rules_rpt_txt(struct check_domain *d, int sts_published)
{
    char subj[300];
    snprintf(subj, sizeof(subj), "_smtp._tls.%s", d->name);
    if (d->rpt_ans.status == DNS_FAIL || d->rpt_ans.status == DNS_PENDING) {
        dns_problem(d, subj, &d->rpt_ans);
        return;
    }
    const char *rec = NULL;
    size_t n = 0;
    for (size_t i = 0; i < d->n_rpt_txt; i++)
        if (policy_txt_is_rpt(d->rpt_txt[i])) {
            if (rec == NULL)
                rec = d->rpt_txt[i];
            n++;
        }
    if (n == 0 && d->n_rpt_txt > 0) {
        check__finding_add(d, "rpt.txt.syntax", CHECK_ERROR, NULL, subj,
                           "Publish \"v=TLSRPTv1; rua=mailto:tlsrpt@<domain>\" (or an https: "
                           "URI of your report endpoint).",
                           "the TXT record \"%.120s\" does not start with v=TLSRPTv1",
                           d->rpt_txt[0]);
        return;
    }
    if (n == 0) {
        if (sts_published)
            check__finding_add(d, "rpt.txt.missing", CHECK_WARNING, NULL, subj,
                               "Publish _smtp._tls TXT \"v=TLSRPTv1; rua=mailto:...\" so that "
                               "senders report TLS failures to you (RFC 8460); 'stsd policy "
                               "dns' prints one pointing at this server.",
                               "MTA-STS is published but there is no TLS-RPT record: nobody "
                               "will tell you when senders fail to deliver");
        return;
    }
    if (n > 1) {
        check__finding_add(d, "rpt.txt.multiple", CHECK_ERROR, NULL, subj,
                           "Keep one v=TLSRPTv1 record; list several rua URIs in it, "
                           "separated by commas.",
                           "%zu TXT records start with v=TLSRPTv1 (RFC 8460 §3 allows one; "
                           "senders ignore them all)",
                           n);
        return;
    }
    if (d->rpt_txt_longest >= CHECK_MAX_TXT_LEN) {
        check__finding_add(d, "rpt.txt.syntax", CHECK_ERROR, NULL, subj,
                           "Publish a short record: \"v=TLSRPTv1; rua=mailto:...\".",
                           "the TXT record is %zu bytes long (more than %d)", d->rpt_txt_longest,
                           CHECK_MAX_TXT_LEN - 1);
        return;
    }
    struct rpt_txt rt = {0};
    char err[256] = "";
    if (policy_rpt_txt_parse(rec, &rt, err, sizeof(err)) != 0) {
        check__finding_add(d, "rpt.txt.syntax", CHECK_ERROR, NULL, subj,
                           "Publish \"v=TLSRPTv1; rua=<uri>[,<uri>]\" with mailto: or https: "
                           "URIs, and ',', '!' and ';' escaped inside them (RFC 8460 §3).",
                           "\"%.200s\": %s", rec, err);
        policy_rpt_txt_clear(&rt);
        return;
    }
    policy_rpt_txt_clear(&rt);
    for (size_t i = 0; i < d->n_rua_hosts; i++) {
        const struct check_rua *r = &d->rua_hosts[i];
        const char *fix = "Make the https: rua host resolve (A/AAAA) and serve a certificate "
                          "valid for its name, or use a mailto: URI.";
        for (size_t k = 0; k < r->n_addrs; k++)
            if (r->addr_private[k])
                private_addr(d, "rpt.rua.private", r->host, r->addrs[k], "reporters post to",
                             "not checked");
        if (r->n_addrs == 0)
            check__finding_add(d, "rpt.rua.https", CHECK_WARNING, NULL, r->host, fix,
                               "the https: report host %s does not resolve: %s", r->host,
                               dns_status_text(r->a.status == DNS_OK ? &r->aaaa : &r->a));
        else if (r->tls_done && !r->tls_ok)
            check__finding_add(d, "rpt.rua.https", CHECK_WARNING, NULL, r->host, fix,
                               "reporters cannot post to %s:%d: %s", r->host, r->port,
                               r->tls_error);
    }
}

/* ---- the policy host and the fetched policy (RFC 8461 §3.2, §3.3) ---- */

static int media_type_is_text_plain(const char *ct)
{
    size_t l = strcspn(ct, "; \t");
    return l == 10 && strncasecmp(ct, "text/plain", 10) == 0;
}

/* The finding id a fetch result calls for (the first that applies), or NULL when it is a
 * usable text/plain 200. */
static const char *fetch_outcome(const struct check_fetch *fe, const char **result_type)
{
    *result_type = "sts-policy-fetch-error";
    if (!fe->done)
        return NULL;
    if (fe->too_big)
        return "sts.fetch.size";
    if (fe->timed_out)
        return "sts.fetch.timeout";
    if (fe->tls_error) {
        *result_type = "sts-webpki-invalid";
        return "sts.fetch.tls";
    }
    if (fe->connect_error)
        return "sts.fetch.connect";
    if (fe->status >= 300 && fe->status < 400)
        return "sts.fetch.redirect";
    if (fe->status != 200)
        return "sts.fetch.status";
    if (!media_type_is_text_plain(fe->content_type))
        return "sts.fetch.content-type";
    return NULL;
}

/* Each address of a multi-address policy host on its own: report what differs from the
 * fetch through the name (a sender may land on any of them). */
static void rules_fetch_addrs(struct check_domain *d)
{
    const struct check_fetch *fe = &d->fetch;
    const char *rt, *main_id = fetch_outcome(fe, &rt);
    const char *fix = "Make every address of the policy host serve the same policy over HTTPS "
                      "with a valid certificate (or remove the broken address from DNS).";
    for (size_t i = 0; i < fe->n_per_addr && i < d->n_host_addrs; i++) {
        const struct check_fetch *pa = &fe->per_addr[i];
        if (pa->private_skipped)
            continue;
        char subj[400];
        snprintf(subj, sizeof(subj), "mta-sts.%s[%s]", d->name, d->host_addrs[i]);
        const char *id = fetch_outcome(pa, &rt);
        if (id != NULL && (main_id == NULL || strcmp(id, main_id) != 0)) {
            char what[300];
            if (pa->error[0])
                snprintf(what, sizeof(what), "%s", pa->error);
            else
                snprintf(what, sizeof(what), "HTTP %ld, Content-Type \"%s\"", pa->status,
                         pa->content_type);
            check__finding_add(d, id, CHECK_ERROR, rt, subj, fix,
                               "the policy fetched from %s alone fails: %s", d->host_addrs[i],
                               what);
        } else if (id == NULL && main_id == NULL && fe->body != NULL && pa->body != NULL &&
                   (fe->len != pa->len || memcmp(fe->body, pa->body, fe->len) != 0)) {
            check__finding_add(d, "sts.fetch.inconsistent", CHECK_WARNING, NULL, subj, fix,
                               "the address %s serves a different policy than the others",
                               d->host_addrs[i]);
        }
    }
}

static void rules_fetch(struct check_domain *d, int sts_published)
{
    char host[300];
    snprintf(host, sizeof(host), "mta-sts.%s", d->name);
    const struct check_fetch *fe = &d->fetch;
    for (size_t i = 0; i < d->n_host_addrs; i++)
        if (d->host_private[i])
            private_addr(d, "sts.host.private", host, d->host_addrs[i],
                         "senders fetch the policy from", "not fetched");
    if (!fe->attempted) {
        if (sts_published && d->n_host_private == 0) {
            const struct dns_answer *a = d->host_a.status == DNS_FAIL ? &d->host_a : &d->host_aaaa;
            check__finding_add(d, "sts.host.dns", CHECK_ERROR, "sts-policy-fetch-error", host,
                               "Publish A and/or AAAA records for the policy host, pointing at "
                               "the server that serves the policy over HTTPS.",
                               "%s has no address: %s", host,
                               d->host_a.status == DNS_FAIL || d->host_aaaa.status == DNS_FAIL
                                   ? dns_status_text(a)
                                   : dns_status_text(&d->host_a));
        }
        return;
    }
    const char *url = fe->url;
    if (fe->too_big) {
        check__finding_add(d, "sts.fetch.size", CHECK_ERROR, "sts-policy-fetch-error", url,
                           "Serve the policy file itself; it is a few lines long and must "
                           "stay under 64 KiB.",
                           "the body reached %d bytes (policies must be shorter than 64 KiB)",
                           POLICY_MAX_BODY);
    } else if (fe->timed_out) {
        check__finding_add(d, "sts.fetch.timeout", CHECK_ERROR, "sts-policy-fetch-error", url,
                           "Make the policy host answer HTTPS requests promptly (senders "
                           "give up after a few seconds).",
                           "no complete answer within the timeout (%lld ms): %s", (long long)fe->ms,
                           fe->error);
    } else if (fe->tls_error) {
        check__finding_add(d, "sts.fetch.tls", CHECK_ERROR, "sts-webpki-invalid", url,
                           "Serve a certificate for mta-sts.<domain> that chains to a public "
                           "CA, is within its validity period and names the host in its "
                           "subjectAltName (RFC 8461 §3.3).",
                           "the policy host's certificate is not valid for %s: %s", host,
                           fe->error);
    } else if (fe->connect_error) {
        check__finding_add(d, "sts.fetch.connect", CHECK_ERROR, "sts-policy-fetch-error", url,
                           "Run an HTTPS server on the policy host's addresses (stsd serve), "
                           "reachable on port 443 from the Internet.",
                           "the policy could not be fetched: %s", fe->error);
    } else if (fe->status >= 300 && fe->status < 400) {
        check__finding_add(d, "sts.fetch.redirect", CHECK_ERROR, "sts-policy-fetch-error", url,
                           "Serve the policy directly with 200 at this URL; senders must not "
                           "follow redirects (RFC 8461 §3.3).",
                           "HTTP %ld redirect%s%s", fe->status, fe->redirect[0] ? " to " : "",
                           fe->redirect);
    } else if (fe->status != 200) {
        check__finding_add(d, "sts.fetch.status", CHECK_ERROR, "sts-policy-fetch-error", url,
                           "Serve the policy at /.well-known/mta-sts.txt with status 200.",
                           "HTTP status %ld (only 200 is a policy)", fe->status);
    }
    if (fe->done && !fe->too_big && !fe->timed_out && !fe->tls_error && !fe->connect_error &&
        fe->status == 200 && !media_type_is_text_plain(fe->content_type))
        check__finding_add(d, "sts.fetch.content-type", CHECK_ERROR, "sts-policy-fetch-error", url,
                           "Serve the policy with Content-Type: text/plain (RFC 8461 §3.2).",
                           "Content-Type is \"%s\", not text/plain",
                           fe->content_type[0] ? fe->content_type : "(none)");
    if (fe->ms > CHECK_SLOW_FETCH_MS && !fe->timed_out)
        check__finding_add(d, "sts.fetch.slow", CHECK_WARNING, NULL, url,
                           "Make the policy host answer faster: some senders give up after "
                           "a few seconds.",
                           "the fetch took %lld ms (more than %d)", (long long)fe->ms,
                           CHECK_SLOW_FETCH_MS);
    rules_fetch_addrs(d);
}

static void rules_policy(struct check_domain *d)
{
    const struct check_fetch *fe = &d->fetch;
    if (!fe->done || fe->status != 200 || fe->too_big || fe->body == NULL)
        return;
    d->policy_parsed = 1;
    memset(&d->pdiag, 0, sizeof(d->pdiag));
    d->policy_ok = policy_parse(fe->body, fe->len, &d->policy, &d->pdiag) == 0;
    const char *url = fe->url;
    for (size_t i = 0; i < d->pdiag.n; i++) {
        const struct policy_diag_item *it = &d->pdiag.items[i];
        char where[32] = "";
        if (it->line > 0)
            snprintf(where, sizeof(where), "line %d: ", it->line);
        if (it->kind == POLICY_DIAG_UNKNOWN_KEY || it->kind == POLICY_DIAG_DUPLICATE_KEY) {
            check__finding_add(d, "sts.policy.unknown-key", CHECK_WARNING, NULL, url,
                               "Remove unknown and repeated keys; only version, mode, max_age "
                               "and mx are defined (RFC 8461 §3.2).",
                               "%s%s", where, it->message);
        } else if (it->severity == POLICY_SEV_ERROR) {
            check__finding_add(d, "sts.policy.syntax", CHECK_ERROR, "sts-policy-invalid", url,
                               "Fix the policy file: \"version: STSv1\", \"mode: "
                               "enforce|testing|none\", \"max_age: <seconds>\", one \"mx: "
                               "<pattern>\" line per MX ('stsd policy validate' checks it).",
                               "%s%s%s", where, it->message,
                               d->pdiag.n_errors > 1 ? " (and more errors)" : "");
        }
    }
    if (!d->policy_ok)
        return;
    if (d->policy.mode == POLICY_MODE_TESTING)
        check__finding_add(d, "sts.policy.mode", CHECK_WARNING, NULL, url,
                           "Switch to mode: enforce once TLS-RPT reports show no failures; "
                           "testing protects nothing.",
                           "mode is testing: senders deliver even when TLS fails");
    else if (d->policy.mode == POLICY_MODE_NONE)
        check__finding_add(d, "sts.policy.mode", CHECK_INFO, NULL, url,
                           "Nothing to do if you are withdrawing MTA-STS; otherwise use "
                           "testing or enforce.",
                           "mode is none: the policy is being withdrawn");
    if (d->policy.max_age < 86400 ||
        (d->policy.mode == POLICY_MODE_ENFORCE && d->policy.max_age < 604800))
        check__finding_add(d, "sts.policy.max-age", CHECK_WARNING, NULL, url,
                           "Use max_age: 604800 (one week) or more, up to 31557600, so that "
                           "senders keep the policy between visits.",
                           "max_age is %ld s (less than %s)", d->policy.max_age,
                           d->policy.max_age < 86400 ? "a day" : "a week in enforce mode");
}

/* RFC 8461 §4.1: every MX must match a pattern, and a pattern that matches no MX is
 * probably a leftover. */
static void rules_coverage(struct check_domain *d)
{
    if (!d->policy_ok || d->policy.mode == POLICY_MODE_NONE || d->n_mx_listed == 0)
        return;
    int enforce = d->policy.mode == POLICY_MODE_ENFORCE;
    for (size_t i = 0; i < d->n_mx_listed; i++) {
        const char *host = d->mx_listed[i].host;
        int matched = 0;
        for (size_t j = 0; j < d->policy.n_mx && !matched; j++)
            matched = policy_match_mx(d->policy.mx[j], host);
        if (!matched) {
            char fix[400];
            snprintf(fix, sizeof(fix),
                     "Add \"mx: %s\" to the policy (or a \"*.\" pattern "
                     "covering it), or remove the MX record.",
                     host);
            check__finding_add(d, "sts.mx.unmatched", enforce ? CHECK_ERROR : CHECK_WARNING,
                               "validation-failure", host, fix,
                               "MX %s matches no mx pattern of the policy: %s", host,
                               enforce ? "senders will refuse to deliver to it"
                                       : "senders will report failures for it");
        }
    }
    for (size_t j = 0; j < d->policy.n_mx; j++) {
        int used = 0;
        for (size_t i = 0; i < d->n_mx_listed && !used; i++)
            used = policy_match_mx(d->policy.mx[j], d->mx_listed[i].host);
        if (!used)
            check__finding_add(d, "sts.mx.unused-pattern", CHECK_WARNING, NULL, d->policy.mx[j],
                               "Remove the pattern from the policy, or publish the MX record "
                               "it was meant for.",
                               "policy mx pattern %s matches no MX host", d->policy.mx[j]);
    }
}

/* ---- MX hosts and their STARTTLS probes (RFC 3207, RFC 8461 §4.2) ---- */

static void addr_subject(char *buf, size_t sz, const struct check_mx *mx,
                         const struct check_addr *a)
{
    snprintf(buf, sz, "%s[%s]", mx->host, a->ip);
}

static void rules_addr(struct check_domain *d, const struct check_mx *mx,
                       const struct check_addr *a, int64_t now)
{
    char subj[400];
    addr_subject(subj, sizeof(subj), mx, a);
    if (!a->reachable)
        return; /* mx.unreachable covers it when no address answers */
    if (a->banner_ms > CHECK_SLOW_BANNER_MS)
        check__finding_add(d, "mx.slow", CHECK_WARNING, NULL, subj,
                           "Make the SMTP server greet promptly (check reverse DNS lookups "
                           "and tarpitting of unknown clients).",
                           "the SMTP banner took %lld ms", (long long)a->banner_ms);
    if (!a->starttls) {
        check__finding_add(d, "mx.starttls", CHECK_ERROR, "starttls-not-supported", subj,
                           "Enable STARTTLS on the SMTP server with a certificate for the MX "
                           "host name (postfix: smtpd_tls_security_level = may).",
                           "%s", a->error[0] ? a->error : "STARTTLS failed");
        return;
    }
    if (!a->handshake) {
        check__finding_add(d, "mx.tls.handshake", CHECK_ERROR, "validation-failure", subj,
                           "Fix the server's TLS setup (certificate and key loaded, TLS 1.2 or "
                           "1.3 enabled, common cipher suites).",
                           "STARTTLS was accepted but the TLS handshake failed: %s", a->error);
        return;
    }
    if (a->tls_version != 0 && a->tls_version < TLS1_2_VERSION)
        check__finding_add(d, "mx.tls.version", CHECK_ERROR, NULL, subj,
                           "Enable TLS 1.2 and 1.3 on the SMTP server (postfix: "
                           "smtpd_tls_protocols = >=TLSv1.2).",
                           "the server negotiated %s; MTA-STS senders require TLS 1.2 or "
                           "later",
                           a->tls_version_name);
    if (a->err_expired || a->err_not_yet_valid) {
        char nb[21], na[21];
        format_rfc3339((time_t)a->not_before, nb);
        format_rfc3339((time_t)a->not_after, na);
        check__finding_add(
            d, "mx.cert.expired", CHECK_ERROR, "certificate-expired", subj,
            "Renew the certificate (and reload the SMTP server), and make "
            "renewal automatic.",
            "the certificate %s (valid %s to %s)",
            a->err_not_yet_valid && !a->err_expired ? "is not yet valid" : "has expired", nb, na);
    }
    if (a->err_untrusted)
        check__finding_add(d, "mx.cert.untrusted", CHECK_ERROR, "certificate-not-trusted", subj,
                           "Use a certificate from a public CA and send the full chain "
                           "(leaf and intermediates) from the SMTP server.",
                           "the certificate chain does not validate: %s%s", a->verify_error,
                           strstr(a->verify_error, "local issuer")
                               ? " (a missing intermediate certificate?)"
                               : "");
    if (a->have_cert && !a->name_match)
        check__finding_add(d, "mx.cert.host", CHECK_ERROR, "certificate-host-mismatch", subj,
                           "Get a certificate whose subjectAltName lists the MX host name (a "
                           "wildcard covers one left-most label only).",
                           "no subjectAltName dNSName of the certificate matches %s "
                           "(RFC 8461 §4.2)",
                           mx->host);
    if (a->have_cert && !a->err_expired && !a->err_not_yet_valid) {
        int64_t left = (a->not_after - now) / 86400;
        if (left < CHECK_EXPIRING_DAYS)
            check__finding_add(d, "mx.cert.expiring", CHECK_WARNING, NULL, subj,
                               "Renew the certificate now and check that renewal is "
                               "automatic.",
                               "the certificate expires in %lld day%s", (long long)left,
                               left == 1 ? "" : "s");
    }
}

static void rules_mx(struct check_domain *d, int64_t now)
{
    char subj[300];
    snprintf(subj, sizeof(subj), "%s", d->name);
    if (d->mx_ans.status == DNS_FAIL || d->mx_ans.status == DNS_PENDING) {
        dns_problem(d, subj, &d->mx_ans);
        return;
    }
    if (d->null_mx && d->n_mx_listed == 0) {
        check__finding_add(d, "mx.none", CHECK_INFO, NULL, subj,
                           "Nothing to do if the domain accepts no mail (RFC 7505).",
                           "the domain publishes a null MX: it accepts no mail");
        return;
    }
    if (d->n_mx_listed == 0) {
        check__finding_add(d, "mx.none", CHECK_ERROR, NULL, subj,
                           "Publish MX records for the domain's mail servers (or a null MX, "
                           "\"0 .\", if it accepts no mail).",
                           d->mx_ans.status == DNS_NXDOMAIN ? "the domain does not exist (NXDOMAIN)"
                                                            : "the domain has no MX records");
        return;
    }
    if (d->n_mx_total > CHECK_MAX_MX)
        check__finding_add(d, "mx.too-many", CHECK_WARNING, NULL, subj,
                           "Publish fewer MX records; senders try only a few.",
                           "%zu MX records; only the first %d (by preference) were probed",
                           d->n_mx_total, CHECK_MAX_MX);
    for (size_t i = 0; i < d->n_mx; i++) {
        const struct check_mx *mx = &d->mx[i];
        if (mx->a.bogus)
            dns_problem(d, mx->host, &mx->a);
        if (mx->n_addrs == 0) {
            check__finding_add(
                d, "mx.unreachable", CHECK_ERROR, NULL, mx->host,
                "Publish A/AAAA records for the MX host, or point the MX at a host that has "
                "them.",
                !mx->host_valid ? "the MX target %s is not a valid host name"
                                : "the MX host %s has no address: A %s, AAAA %s",
                mx->host, dns_status_text(&mx->a), dns_status_text(&mx->aaaa));
            continue;
        }
        int any = 0;
        size_t n_private = 0;
        for (size_t j = 0; j < mx->n_addrs; j++) {
            any |= mx->addrs[j].reachable;
            if (mx->addrs[j].private_skipped) {
                n_private++;
                private_addr(d, "mx.address.private", mx->host, mx->addrs[j].ip,
                             "senders deliver to", "not probed");
            }
        }
        if (!any && n_private < mx->n_addrs) {
            size_t j0 = 0;
            while (mx->addrs[j0].private_skipped) /* some address is not private */
                j0++;
            const struct check_addr *a0 = &mx->addrs[j0];
            check__finding_add(d, "mx.unreachable", CHECK_ERROR, NULL, mx->host,
                               "Make the SMTP server listen on port 25 of the MX host's "
                               "addresses and let port 25 through the firewall.",
                               "no address of %s answers SMTP (%s%s%s)", mx->host, a0->ip,
                               a0->error[0] ? ": " : "", a0->error);
            continue;
        }
        for (size_t j = 0; j < mx->n_addrs; j++)
            rules_addr(d, mx, &mx->addrs[j], now);
    }
}

/* ---- what this stsd hosts (with -c) ---- */

static void normalise_eol(const char *in, size_t len, char **out, size_t *outlen)
{
    char *b = xmalloc(len + 1);
    size_t w = 0;
    for (size_t i = 0; i < len; i++)
        if (in[i] != '\r')
            b[w++] = in[i];
    while (w > 0 && b[w - 1] == '\n')
        w--;
    b[w] = '\0';
    *out = b;
    *outlen = w;
}

static void rules_hosted(struct check_domain *d, int64_t now)
{
    const struct check_hosted *h = &d->hosted;
    if (!h->enabled)
        return;
    char subj[300];
    snprintf(subj, sizeof(subj), "_mta-sts.%s", d->name);
    char id[POLICY_ID_MAX + 1];
    if (h->has_policy && h->current_id[0] && published_id(d, id) == 0 &&
        strcmp(id, h->current_id) != 0) {
        int older = 0;
        for (size_t i = 0; i < h->n_old_ids; i++)
            older |= strcmp(h->old_ids[i], id) == 0;
        char fix[700];
        snprintf(fix, sizeof(fix),
                 "Publish %s. IN TXT \"v=STSv1; id=%s\" so that senders fetch the current "
                 "policy.",
                 subj, h->current_id);
        check__finding_add(d, "sts.txt.stale-id", CHECK_WARNING, NULL, subj, fix,
                           "DNS publishes id=%s, %s; the hosted policy's current content has "
                           "id=%s",
                           id,
                           older ? "the id of an older version of the hosted policy"
                                 : "which is not an id of the hosted policy",
                           h->current_id);
    }
    if (h->has_policy && h->policy_text != NULL && d->fetch.done && d->fetch.status == 200 &&
        d->fetch.body != NULL && !d->fetch.too_big) {
        char *a, *b;
        size_t al, bl;
        normalise_eol(h->policy_text, h->policy_len, &a, &al);
        normalise_eol(d->fetch.body, d->fetch.len, &b, &bl);
        if (al != bl || memcmp(a, b, al) != 0)
            check__finding_add(d, "sts.hosted.mismatch", CHECK_WARNING, NULL, d->fetch.url,
                               "Point mta-sts.<domain> at this stsd, or reload it (SIGHUP) so "
                               "that it serves the current file.",
                               "the policy served at %s differs from the hosted file",
                               d->fetch.url);
        free(a);
        free(b);
    }
    if (h->cert_checked && h->cert_found) {
        int64_t left = (h->cert_not_after - now) / 86400;
        if (h->cert_not_after <= now)
            check__finding_add(d, "sts.host.cert-expiring", CHECK_ERROR, "sts-webpki-invalid",
                               h->cert_path,
                               "Renew the mta-sts host certificate in cert_dir and reload "
                               "stsd (SIGHUP).",
                               "the certificate for mta-sts.%s has expired", d->name);
        else if (left < CHECK_EXPIRING_DAYS)
            check__finding_add(d, "sts.host.cert-expiring", CHECK_WARNING, NULL, h->cert_path,
                               "Renew the mta-sts host certificate in cert_dir and reload "
                               "stsd (SIGHUP).",
                               "the certificate for mta-sts.%s expires in %lld day%s", d->name,
                               (long long)left, left == 1 ? "" : "s");
    }
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
    rules_sts_txt(d);
    size_t n_sts;
    int sts_published = sts_record(d, &n_sts) != NULL;
    rules_fetch(d, sts_published);
    rules_policy(d);
    rules_coverage(d);
    rules_mx(d, now);
    rules_rpt_txt(d, sts_published);
    rules_hosted(d, now);
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
    free(d->hosted.policy_text);
    for (size_t i = 0; i < d->hosted.n_old_ids; i++)
        free(d->hosted.old_ids[i]);
    free(d->hosted.old_ids);
    for (size_t i = 0; i < d->n_findings; i++) {
        free(d->findings[i].subject);
        free(d->findings[i].message);
        free(d->findings[i].fix);
    }
    free(d->findings);
    memset(d, 0, sizeof(*d));
}
