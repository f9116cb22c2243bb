/* rules_fetch.c - the policy host, the fetched policy and its mx coverage (RFC 8461 §3.2,
 * §3.3, §4.1). */
#include "checker/checker_int.h"
#include "common/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

void check__rules_fetch(struct check_domain *d, int sts_published)
{
    char host[300];
    snprintf(host, sizeof(host), "mta-sts.%s", d->name);
    const struct check_fetch *fe = &d->fetch;
    for (size_t i = 0; i < d->n_host_addrs; i++)
        if (d->host_private[i])
            check__private_addr(d, "sts.host.private", host, d->host_addrs[i],
                                "senders fetch the policy from", "not fetched");
    if (!fe->attempted) {
        if (sts_published && d->n_host_private == 0) {
            const struct dns_answer *a = d->host_a.status == DNS_FAIL ? &d->host_a : &d->host_aaaa;
            check__finding_add(d, "sts.host.dns", CHECK_ERROR, "sts-policy-fetch-error", host,
                               "Publish A and/or AAAA records for the policy host, pointing at "
                               "the server that serves the policy over HTTPS.",
                               "%s has no address: %s", host,
                               d->host_a.status == DNS_FAIL || d->host_aaaa.status == DNS_FAIL
                                   ? check__dns_status_text(a)
                                   : check__dns_status_text(&d->host_a));
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

void check__rules_policy(struct check_domain *d)
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
void check__rules_coverage(struct check_domain *d)
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
