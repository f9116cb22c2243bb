/* rules_rpt.c - the _smtp._tls TXT record (RFC 8460 §3) and its https: report hosts. */
#include "checker/checker_int.h"
#include "common/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void check__rules_rpt_txt(struct check_domain *d, int sts_published)
{
    char subj[300];
    snprintf(subj, sizeof(subj), "_smtp._tls.%s", d->name);
    if (check__dns_failed(d, subj, &d->rpt_ans))
        return;
    size_t n;
    const char *rec = check__txt_first(d->rpt_txt, d->n_rpt_txt, policy_txt_is_rpt, &n);
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
    static const struct check__txt_kind kind = {
        "v=TLSRPTv1",
        "RFC 8460 §3 allows one; senders ignore them all",
        "rpt.txt.multiple",
        "Keep one v=TLSRPTv1 record; list several rua URIs in it, separated by commas.",
        "rpt.txt.syntax",
        "v=TLSRPTv1; rua=mailto:..."};
    if (check__txt_multiple_or_long(d, subj, n, d->rpt_txt_longest, &kind))
        return;
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
                check__private_addr(d, "rpt.rua.private", r->host, r->addrs[k], "reporters post to",
                                    "not checked");
        if (r->n_addrs == 0)
            check__finding_add(d, "rpt.rua.https", CHECK_WARNING, NULL, r->host, fix,
                               "the https: report host %s does not resolve: %s", r->host,
                               check__dns_status_text(r->a.status == DNS_OK ? &r->aaaa : &r->a));
        else if (r->tls_done && !r->tls_ok)
            check__finding_add(d, "rpt.rua.https", CHECK_WARNING, NULL, r->host, fix,
                               "reporters cannot post to %s:%d: %s", r->host, r->port,
                               r->tls_error);
    }
}
