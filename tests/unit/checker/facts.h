/* facts.h - synthetic facts for the checker's unit tests: a correct domain (good()) that each
 * test breaks in one place, and the same with hosted facts handed in. */
#ifndef STSD_TEST_CHECKER_FACTS_H
#define STSD_TEST_CHECKER_FACTS_H

#include "checker/checker_int.h"
#include "common/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const int64_t NOW = 1795000000; /* 2026-11-18 */

static const char GOOD_POLICY[] = "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.com\r\n"
                                  "mx: *.example.net\r\nmax_age: 604800\r\n";

static inline void set_policy(struct check_domain *d, const char *text)
{
    free(d->fetch.body);
    d->fetch.body = xstrdup(text);
    d->fetch.len = strlen(text);
}

static inline void set_txt(char **slot, size_t *n, size_t *longest, const char *txt)
{
    for (size_t i = 0; i < *n; i++)
        free(slot[i]);
    *n = 0;
    *longest = 0;
    if (txt == NULL)
        return;
    slot[(*n)++] = xstrdup(txt);
    *longest = strlen(txt);
}

static inline void add_mx(struct check_domain *d, int pref, const char *host)
{
    d->mx_listed = xrealloc(d->mx_listed, (d->n_mx_listed + 1) * sizeof(*d->mx_listed));
    d->mx_listed[d->n_mx_listed].preference = pref;
    d->mx_listed[d->n_mx_listed].host = xstrdup(host);
    d->n_mx_listed++;
    d->mx = xrealloc(d->mx, (d->n_mx + 1) * sizeof(*d->mx));
    struct check_mx *m = &d->mx[d->n_mx++];
    memset(m, 0, sizeof(*m));
    m->host = xstrdup(host);
    m->preference = pref;
    m->host_valid = 1;
    m->a.status = DNS_OK;
    m->aaaa.status = DNS_NODATA;
    m->n_addrs = 1;
    struct check_addr *a = &m->addrs[0];
    snprintf(a->ip, sizeof(a->ip), "192.0.2.%zu", 20 + d->n_mx);
    a->family = AF_INET;
    a->probed = a->reachable = a->starttls = a->handshake = a->verified = a->name_match = 1;
    a->tls_version = TLS1_3_VERSION;
    snprintf(a->tls_version_name, sizeof(a->tls_version_name), "TLSv1.3");
    snprintf(a->cipher, sizeof(a->cipher), "TLS_AES_256_GCM_SHA384");
    a->have_cert = 1;
    a->not_before = NOW - 10 * 86400;
    a->not_after = NOW + 60 * 86400;
    a->failed_step = SMTP_DONE;
    a->banner_ms = 30;
    a->ms = 40;
    d->n_mx_total = d->n_mx_listed;
}

/* A correct domain: one MX with good TLS, the policy fetched, both TXT records. */
static inline struct check_domain *good(void)
{
    struct check_domain *d = xcalloc(1, sizeof(*d));
    d->name = xstrdup("example.com");
    d->valid = 1;
    d->mx_ans.status = d->sts_ans.status = d->rpt_ans.status = d->host_a.status = DNS_OK;
    d->host_aaaa.status = DNS_NODATA;
    set_txt(d->sts_txt, &d->n_sts_txt, &d->sts_txt_longest, "v=STSv1; id=20261129T000000");
    set_txt(d->rpt_txt, &d->n_rpt_txt, &d->rpt_txt_longest,
            "v=TLSRPTv1; rua=mailto:tlsrpt@example.com");
    snprintf(d->host_addrs[0], INET6_ADDRSTRLEN, "192.0.2.10");
    d->n_host_addrs = 1;
    add_mx(d, 10, "mx1.example.com");
    add_mx(d, 20, "a.example.net");
    struct check_fetch *fe = &d->fetch;
    fe->attempted = fe->done = 1;
    snprintf(fe->url, sizeof(fe->url), "https://mta-sts.example.com/.well-known/mta-sts.txt");
    fe->status = 200;
    snprintf(fe->content_type, sizeof(fe->content_type), "text/plain; charset=utf-8");
    fe->ms = 25;
    set_policy(d, GOOD_POLICY);
    return d;
}

static inline void done(struct check_domain *d)
{
    check__domain_clear(d);
    free(d);
}

/* good() with what stsd hosts handed in: a policy file with this text (NULL: none read) and
 * this current id. */
static inline struct check_domain *hosted(const char *text, const char *id)
{
    struct check_domain *d = good();
    d->hosted_given = d->hosted.has_policy = 1;
    if (text != NULL) {
        d->hosted.policy_text = xstrdup(text);
        d->hosted.policy_len = strlen(text);
    }
    snprintf(d->hosted.current_id, sizeof(d->hosted.current_id), "%s", id);
    return d;
}

/* The same with the mta-sts certificate expiring at not_after. */
static inline struct check_domain *hosted_cert(int64_t not_after)
{
    struct check_domain *d = hosted(NULL, "");
    d->hosted.cert_found = 1;
    d->hosted.cert_not_after = not_after;
    snprintf(d->hosted.cert_path, sizeof(d->hosted.cert_path), "/certs/mta-sts.example.com.pem");
    return d;
}

/* The first address of the first MX. */
static inline struct check_addr *addr0(struct check_domain *d)
{
    return &d->mx[0].addrs[0];
}

#endif
