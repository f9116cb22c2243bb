/* rules_sts.c - the _mta-sts TXT record (RFC 8461 §3.1) and what this stsd hosts compared
 * with what DNS publishes and the policy host serves. */
#include "checker/checker_int.h"
#include "common/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void check__rules_sts_txt(struct check_domain *d)
{
    char subj[300], fix[600];
    snprintf(subj, sizeof(subj), "_mta-sts.%s", d->name);
    if (check__dns_failed(d, subj, &d->sts_ans))
        return;
    size_t n_sts;
    const char *rec = check__sts_record(d, &n_sts);
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
    static const struct check__txt_kind kind = {
        "v=STSv1",
        "RFC 8461 §3.1 allows one",
        "sts.txt.multiple",
        "Delete all but one v=STSv1 TXT record: with several, senders treat the domain as "
        "having no policy.",
        "sts.txt.syntax",
        "v=STSv1; id=<id>"};
    if (check__txt_multiple_or_long(d, subj, n_sts, d->sts_txt_longest, &kind))
        return;
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
    const char *rec = check__sts_record(d, &n_sts);
    struct sts_txt st;
    int id_error;
    char err[64];
    if (n_sts != 1 || policy_sts_txt_parse(rec, &st, &id_error, err, sizeof(err)) != 0)
        return -1;
    snprintf(out, POLICY_ID_MAX + 1, "%s", st.id);
    return 0;
}

/* ---- what this stsd hosts (the facts its caller handed in) ---- */

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

void check__rules_hosted(struct check_domain *d, int64_t now)
{
    const struct check_hosted_facts *h = &d->hosted;
    if (!d->hosted_given)
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
    if (h->has_policy && h->cert_found) {
        int64_t left = (h->cert_not_after - now) / 86400;
        int expired = h->cert_not_after <= now;
        char when[64];
        snprintf(when, sizeof(when), "expires in %lld day%s", (long long)left,
                 left == 1 ? "" : "s");
        if (expired || left < CHECK_EXPIRING_DAYS)
            check__finding_add(d, "sts.host.cert-expiring", expired ? CHECK_ERROR : CHECK_WARNING,
                               expired ? "sts-webpki-invalid" : NULL, h->cert_path,
                               "Renew the mta-sts host certificate in cert_dir and reload "
                               "stsd (SIGHUP).",
                               "the certificate for mta-sts.%s %s", d->name,
                               expired ? "has expired" : when);
    }
}
