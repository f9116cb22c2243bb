/* test_rules.c - the rules (checker/rules.c) on synthetic facts: a correct domain has no
 * finding above info, and each fault gives exactly its finding with the right severity. */
#include "checker/checker_int.h"
#include "common/common.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static const int64_t NOW = 1795000000; /* 2026-11-18 */

static const char GOOD_POLICY[] = "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.com\r\n"
                                  "mx: *.example.net\r\nmax_age: 604800\r\n";

static void set_policy(struct check_domain *d, const char *text)
{
    free(d->fetch.body);
    d->fetch.body = xstrdup(text);
    d->fetch.len = strlen(text);
}

static void set_txt(char **slot, size_t *n, size_t *longest, const char *txt)
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

static void add_mx(struct check_domain *d, int pref, const char *host)
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
static struct check_domain *good(void)
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

static void done(struct check_domain *d)
{
    check__domain_clear(d);
    free(d);
}

static const struct check_finding *find(const struct check_domain *d, const char *id)
{
    for (size_t i = 0; i < d->n_findings; i++)
        if (strcmp(d->findings[i].id, id) == 0)
            return &d->findings[i];
    return NULL;
}

/* Run the rules and require no finding at all. */
static void expect_none(struct check_domain *d)
{
    check__rules(d, NOW);
    for (size_t i = 0; i < d->n_findings; i++)
        print_message("# got %s %s: %s\n", d->findings[i].id, d->findings[i].subject,
                      d->findings[i].message);
    assert_int_equal(d->n_findings, 0);
    done(d);
}

/* Run the rules and require exactly one finding: id with severity sev. */
static void expect_only(struct check_domain *d, const char *id, enum check_severity sev)
{
    check__rules(d, NOW);
    if (d->n_findings != 1 || strcmp(d->findings[0].id, id) != 0) {
        for (size_t i = 0; i < d->n_findings; i++)
            print_message("# got %s %s: %s\n", d->findings[i].id, d->findings[i].subject,
                          d->findings[i].message);
        fail_msg("want exactly %s", id);
    }
    assert_int_equal(d->findings[0].severity, sev);
    assert_true(d->findings[0].message[0] != '\0');
    assert_true(d->findings[0].fix[0] != '\0');
    assert_true(d->findings[0].subject[0] != '\0');
    done(d);
}

static void test_good(void **state)
{
    struct check_domain *d = good();
    check__rules(d, NOW);
    assert_int_equal(d->n_findings, 0);
    assert_int_equal(check__worst(d), CHECK_INFO);
    json_t *j = check__domain_json(d, NOW);
    assert_string_equal(json_string_value(json_object_get(j, "verdict")), "ok");
    json_t *pol = json_object_get(j, "policy");
    assert_string_equal(json_string_value(json_object_get(pol, "mode")), "enforce");
    assert_int_equal(json_integer_value(json_object_get(pol, "max_age")), 604800);
    json_t *a = json_array_get(
        json_object_get(json_array_get(json_object_get(j, "mx"), 0), "addresses"), 0);
    assert_int_equal(json_integer_value(json_object_get(a, "days_left")), 60);
    assert_true(json_is_true(json_object_get(a, "verified")));
    json_decref(j);
    done(d);
}

static void test_sts_txt(void **state)
{
    struct check_domain *d = good();
    set_txt(d->sts_txt, &d->n_sts_txt, &d->sts_txt_longest, NULL);
    d->sts_ans.status = DNS_NXDOMAIN;
    expect_only(d, "sts.txt.missing", CHECK_ERROR);

    /* No policy host either: the domain does not use MTA-STS, so senders can be downgraded
     * (a warning); rpt.txt not required. */
    d = good();
    set_txt(d->sts_txt, &d->n_sts_txt, &d->sts_txt_longest, NULL);
    set_txt(d->rpt_txt, &d->n_rpt_txt, &d->rpt_txt_longest, NULL);
    d->sts_ans.status = d->rpt_ans.status = DNS_NXDOMAIN;
    d->n_host_addrs = 0;
    d->host_a.status = DNS_NXDOMAIN;
    d->fetch.attempted = d->fetch.done = 0;
    expect_only(d, "sts.txt.missing", CHECK_WARNING);

    d = good();
    d->sts_txt[d->n_sts_txt++] = xstrdup("v=STSv1; id=20260101T000000");
    expect_only(d, "sts.txt.multiple", CHECK_ERROR);

    d = good();
    set_txt(d->sts_txt, &d->n_sts_txt, &d->sts_txt_longest, "v=spf1 -all");
    expect_only(d, "sts.txt.syntax", CHECK_ERROR);

    d = good();
    set_txt(d->sts_txt, &d->n_sts_txt, &d->sts_txt_longest,
            "v=STSv1; id=1; thisextensionnameislongerthan32chars=1");
    expect_only(d, "sts.txt.syntax", CHECK_ERROR);

    d = good();
    set_txt(d->sts_txt, &d->n_sts_txt, &d->sts_txt_longest, "v=STSv1; id=2026-11-29");
    expect_only(d, "sts.txt.id", CHECK_ERROR);

    /* A TXT record longer than the cap is a syntax error, whatever it holds. */
    d = good();
    d->sts_txt_longest = 64000;
    expect_only(d, "sts.txt.syntax", CHECK_ERROR);
}

static void test_hosted(void **state)
{
    struct check_domain *d = good();
    d->hosted.enabled = d->hosted.has_policy = 1;
    d->hosted.policy_text = xstrdup(GOOD_POLICY);
    d->hosted.policy_len = strlen(GOOD_POLICY);
    snprintf(d->hosted.current_id, sizeof(d->hosted.current_id), "20261129T000000");
    check__rules(d, NOW);
    assert_int_equal(d->n_findings, 0); /* the same id, the same policy (CRLF vs LF aside) */
    done(d);

    d = good();
    d->hosted.enabled = d->hosted.has_policy = 1;
    snprintf(d->hosted.current_id, sizeof(d->hosted.current_id), "20261130T000000");
    d->hosted.old_ids = xcalloc(1, sizeof(char *));
    d->hosted.old_ids[d->hosted.n_old_ids++] = xstrdup("20261129T000000");
    expect_only(d, "sts.txt.stale-id", CHECK_WARNING);

    d = good();
    d->hosted.enabled = d->hosted.has_policy = 1;
    const char lf[] = "version: STSv1\nmode: testing\nmx: mx1.example.com\nmax_age: 604800\n";
    d->hosted.policy_text = xstrdup(lf);
    d->hosted.policy_len = strlen(lf);
    expect_only(d, "sts.hosted.mismatch", CHECK_WARNING);

    d = good();
    d->hosted.enabled = d->hosted.has_policy = 1;
    d->hosted.cert_checked = d->hosted.cert_found = 1;
    d->hosted.cert_not_after = NOW + 13 * 86400 + 3600;
    snprintf(d->hosted.cert_path, sizeof(d->hosted.cert_path), "/certs/mta-sts.example.com.pem");
    expect_only(d, "sts.host.cert-expiring", CHECK_WARNING);

    d = good();
    d->hosted.enabled = d->hosted.has_policy = 1;
    d->hosted.cert_checked = d->hosted.cert_found = 1;
    d->hosted.cert_not_after = NOW - 1;
    snprintf(d->hosted.cert_path, sizeof(d->hosted.cert_path), "/certs/mta-sts.example.com.pem");
    expect_only(d, "sts.host.cert-expiring", CHECK_ERROR);

    d = good(); /* 14 days left: not yet "within 14 days" */
    d->hosted.enabled = d->hosted.has_policy = 1;
    d->hosted.cert_checked = d->hosted.cert_found = 1;
    d->hosted.cert_not_after = NOW + 14 * 86400 + 60;
    expect_none(d);
}

static void test_fetch(void **state)
{
    struct check_domain *d = good();
    d->fetch.attempted = d->fetch.done = 0;
    d->n_host_addrs = 0;
    d->host_a.status = d->host_aaaa.status = DNS_NXDOMAIN;
    expect_only(d, "sts.host.dns", CHECK_ERROR);

    d = good();
    d->fetch.tls_error = 1;
    d->fetch.status = 0;
    expect_only(d, "sts.fetch.tls", CHECK_ERROR);

    d = good();
    d->fetch.status = 301;
    snprintf(d->fetch.redirect, sizeof(d->fetch.redirect), "https://elsewhere.example/");
    expect_only(d, "sts.fetch.redirect", CHECK_ERROR);

    d = good();
    d->fetch.status = 404;
    expect_only(d, "sts.fetch.status", CHECK_ERROR);

    d = good();
    snprintf(d->fetch.content_type, sizeof(d->fetch.content_type), "text/html");
    expect_only(d, "sts.fetch.content-type", CHECK_ERROR);

    d = good(); /* parameters and case are allowed */
    snprintf(d->fetch.content_type, sizeof(d->fetch.content_type), "Text/Plain;charset=UTF-8");
    expect_none(d);

    d = good();
    d->fetch.too_big = 1;
    expect_only(d, "sts.fetch.size", CHECK_ERROR);

    d = good();
    d->fetch.timed_out = 1;
    d->fetch.status = 0;
    d->fetch.ms = 10000;
    expect_only(d, "sts.fetch.timeout", CHECK_ERROR);

    d = good();
    d->fetch.connect_error = 1;
    d->fetch.status = 0;
    expect_only(d, "sts.fetch.connect", CHECK_ERROR);

    d = good();
    d->fetch.ms = 4001;
    expect_only(d, "sts.fetch.slow", CHECK_WARNING);

    d = good(); /* 4 s exactly is not slower than 4 s */
    d->fetch.ms = 4000;
    expect_none(d);
}

/* A policy host with two addresses, each also fetched alone. */
static struct check_domain *two_hosts(void)
{
    struct check_domain *d = good();
    snprintf(d->host_addrs[1], INET6_ADDRSTRLEN, "192.0.2.11");
    d->n_host_addrs = 2;
    d->fetch.per_addr = xcalloc(2, sizeof(*d->fetch.per_addr));
    d->fetch.n_per_addr = 2;
    for (int i = 0; i < 2; i++) {
        struct check_fetch *pa = &d->fetch.per_addr[i];
        pa->attempted = pa->done = 1;
        pa->status = 200;
        snprintf(pa->content_type, sizeof(pa->content_type), "text/plain");
        pa->body = xstrdup(GOOD_POLICY);
        pa->len = strlen(GOOD_POLICY);
    }
    return d;
}

static void test_fetch_addrs(void **state)
{
    struct check_domain *d = two_hosts();
    expect_none(d);

    d = two_hosts();
    struct check_fetch *pa = &d->fetch.per_addr[1];
    pa->tls_error = 1;
    pa->status = 0;
    snprintf(pa->error, sizeof(pa->error), "certificate has expired");
    check__rules(d, NOW);
    const struct check_finding *f = find(d, "sts.fetch.tls");
    assert_non_null(f);
    assert_string_equal(f->subject, "mta-sts.example.com[192.0.2.11]");
    assert_string_equal(f->result_type, "sts-webpki-invalid");
    assert_int_equal(d->n_findings, 1);
    done(d);

    d = two_hosts();
    pa = &d->fetch.per_addr[0];
    free(pa->body);
    pa->body = xstrdup("version: STSv1\r\nmode: testing\r\nmx: mx1.example.com\r\n"
                       "max_age: 604800\r\n");
    pa->len = strlen(pa->body);
    check__rules(d, NOW);
    f = find(d, "sts.fetch.inconsistent");
    assert_non_null(f);
    assert_int_equal(f->severity, CHECK_WARNING);
    assert_string_equal(f->subject, "mta-sts.example.com[192.0.2.10]");
    assert_int_equal(d->n_findings, 1);
    json_t *j = check__domain_json(d, NOW);
    json_t *as = json_object_get(json_object_get(j, "policy"), "addresses");
    assert_int_equal(json_array_size(as), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(as, 1), "ip")),
                        "192.0.2.11");
    json_decref(j);
    done(d);

    /* The fetch through the name fails the same way as one address: reported once. */
    d = two_hosts();
    d->fetch.status = 404;
    d->fetch.per_addr[0].status = 404;
    check__rules(d, NOW);
    assert_int_equal(d->n_findings, 1);
    assert_string_equal(d->findings[0].id, "sts.fetch.status");
    done(d);
}

static void test_policy(void **state)
{
    struct check_domain *d = good();
    set_policy(d, "mode: enforce\r\nmx: mx1.example.com\r\nmax_age: 604800\r\n");
    expect_only(d, "sts.policy.syntax", CHECK_ERROR);

    d = good();
    set_policy(d, "version: STSv1\r\nmode: testing\r\nmx: mx1.example.com\r\nmx: *.example.net"
                  "\r\nmax_age: 604800\r\n");
    expect_only(d, "sts.policy.mode", CHECK_WARNING);

    d = good();
    set_policy(d, "version: STSv1\r\nmode: none\r\nmax_age: 604800\r\n");
    expect_only(d, "sts.policy.mode", CHECK_INFO);

    d = good(); /* a day is too short in enforce mode */
    set_policy(d, "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.com\r\nmx: *.example.net"
                  "\r\nmax_age: 86400\r\n");
    expect_only(d, "sts.policy.max-age", CHECK_WARNING);

    d = good(); /* ... and enough in testing mode */
    set_policy(d, "version: STSv1\r\nmode: testing\r\nmx: mx1.example.com\r\nmx: *.example.net"
                  "\r\nmax_age: 86400\r\n");
    check__rules(d, NOW);
    assert_int_equal(d->n_findings, 1);
    assert_string_equal(d->findings[0].id, "sts.policy.mode");
    done(d);

    d = good();
    set_policy(d, "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.com\r\nmx: *.example.net"
                  "\r\nmax_age: 604800\r\ncolour: blue\r\n");
    expect_only(d, "sts.policy.unknown-key", CHECK_WARNING);
}

static void test_coverage(void **state)
{
    struct check_domain *d = good();
    add_mx(d, 30, "backup.example.org");
    expect_only(d, "sts.mx.unmatched", CHECK_ERROR);

    d = good();
    add_mx(d, 30, "backup.example.org");
    set_policy(d, "version: STSv1\r\nmode: testing\r\nmx: mx1.example.com\r\nmx: *.example.net"
                  "\r\nmax_age: 604800\r\n");
    check__rules(d, NOW);
    const struct check_finding *f = find(d, "sts.mx.unmatched");
    assert_non_null(f);
    assert_int_equal(f->severity, CHECK_WARNING);
    assert_string_equal(f->subject, "backup.example.org");
    assert_string_equal(f->result_type, "validation-failure");
    assert_int_equal(d->n_findings, 2); /* and sts.policy.mode */
    done(d);

    /* "*.example.net" does not match the bare example.net nor a.b.example.net (§4.1). */
    d = good();
    add_mx(d, 30, "a.b.example.net");
    expect_only(d, "sts.mx.unmatched", CHECK_ERROR);

    d = good();
    set_policy(d, "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.com\r\nmx: *.example.net"
                  "\r\nmx: old.example.com\r\nmax_age: 604800\r\n");
    check__rules(d, NOW);
    f = find(d, "sts.mx.unused-pattern");
    assert_non_null(f);
    assert_string_equal(f->subject, "old.example.com");
    assert_int_equal(d->n_findings, 1);
    done(d);
}

static struct check_addr *addr0(struct check_domain *d)
{
    return &d->mx[0].addrs[0];
}

static void test_mx(void **state)
{
    struct check_domain *d = good();
    for (size_t i = 0; i < d->n_mx_listed; i++)
        free(d->mx_listed[i].host);
    d->n_mx_listed = 0;
    for (size_t i = 0; i < d->n_mx; i++)
        free(d->mx[i].host);
    d->n_mx = 0;
    d->mx_ans.status = DNS_NODATA;
    expect_only(d, "mx.none", CHECK_ERROR);

    d = good();
    for (size_t i = 0; i < d->n_mx_listed; i++)
        free(d->mx_listed[i].host);
    d->n_mx_listed = 0;
    for (size_t i = 0; i < d->n_mx; i++)
        free(d->mx[i].host);
    d->n_mx = 0;
    d->null_mx = 1;
    set_policy(d, "version: STSv1\r\nmode: none\r\nmax_age: 604800\r\n");
    check__rules(d, NOW);
    const struct check_finding *f = find(d, "mx.none");
    assert_non_null(f);
    assert_int_equal(f->severity, CHECK_INFO);
    done(d);

    d = good();
    addr0(d)->starttls = addr0(d)->handshake = addr0(d)->verified = addr0(d)->name_match = 0;
    addr0(d)->have_cert = 0;
    snprintf(addr0(d)->error, sizeof(addr0(d)->error), "EHLO: STARTTLS is not offered");
    check__rules(d, NOW);
    f = find(d, "mx.starttls");
    assert_non_null(f);
    assert_string_equal(f->subject, "mx1.example.com[192.0.2.21]");
    assert_string_equal(f->result_type, "starttls-not-supported");
    assert_int_equal(d->n_findings, 1);
    done(d);

    d = good();
    addr0(d)->tls_version = TLS1_VERSION;
    snprintf(addr0(d)->tls_version_name, sizeof(addr0(d)->tls_version_name), "TLSv1");
    expect_only(d, "mx.tls.version", CHECK_ERROR);

    d = good();
    addr0(d)->handshake = addr0(d)->verified = addr0(d)->name_match = addr0(d)->have_cert = 0;
    expect_only(d, "mx.tls.handshake", CHECK_ERROR);

    d = good();
    addr0(d)->verified = 0;
    addr0(d)->err_untrusted = 1;
    snprintf(addr0(d)->verify_error, sizeof(addr0(d)->verify_error),
             "unable to get local issuer certificate (depth 0)");
    expect_only(d, "mx.cert.untrusted", CHECK_ERROR);

    d = good();
    addr0(d)->verified = 0;
    addr0(d)->err_expired = 1;
    addr0(d)->not_after = NOW - 86400;
    expect_only(d, "mx.cert.expired", CHECK_ERROR);

    d = good();
    addr0(d)->verified = 0;
    addr0(d)->err_not_yet_valid = 1;
    addr0(d)->not_before = NOW + 86400;
    expect_only(d, "mx.cert.expired", CHECK_ERROR);

    d = good();
    addr0(d)->name_match = 0;
    expect_only(d, "mx.cert.host", CHECK_ERROR);

    d = good();
    addr0(d)->not_after = NOW + 13 * 86400 + 3600;
    expect_only(d, "mx.cert.expiring", CHECK_WARNING);

    d = good();
    addr0(d)->not_after = NOW + 14 * 86400 + 60;
    expect_none(d);

    d = good();
    addr0(d)->reachable = addr0(d)->starttls = addr0(d)->handshake = 0;
    addr0(d)->have_cert = 0;
    snprintf(addr0(d)->error, sizeof(addr0(d)->error), "connect: Connection refused");
    check__rules(d, NOW);
    f = find(d, "mx.unreachable");
    assert_non_null(f);
    assert_string_equal(f->subject, "mx1.example.com");
    assert_int_equal(d->n_findings, 1);
    done(d);

    /* One address of two answers: the MX is reachable, no finding. */
    d = good();
    d->mx[0].n_addrs = 2;
    struct check_addr *b = &d->mx[0].addrs[1];
    snprintf(b->ip, sizeof(b->ip), "2001:db8::1");
    b->family = AF_INET6;
    b->probed = 1;
    snprintf(b->error, sizeof(b->error), "connect: Network is unreachable");
    expect_none(d);

    d = good(); /* an MX host without addresses */
    d->mx[0].n_addrs = 0;
    d->mx[0].a.status = DNS_NXDOMAIN;
    expect_only(d, "mx.unreachable", CHECK_ERROR);

    d = good();
    d->n_mx_total = 1000;
    expect_only(d, "mx.too-many", CHECK_WARNING);

    d = good();
    addr0(d)->banner_ms = 5001;
    expect_only(d, "mx.slow", CHECK_WARNING);

    d = good();
    addr0(d)->banner_ms = 5000;
    expect_none(d);
}

static void test_rpt(void **state)
{
    struct check_domain *d = good();
    set_txt(d->rpt_txt, &d->n_rpt_txt, &d->rpt_txt_longest, NULL);
    d->rpt_ans.status = DNS_NXDOMAIN;
    expect_only(d, "rpt.txt.missing", CHECK_WARNING);

    d = good();
    d->rpt_txt[d->n_rpt_txt++] = xstrdup("v=TLSRPTv1; rua=mailto:b@example.com");
    expect_only(d, "rpt.txt.multiple", CHECK_ERROR);

    d = good();
    set_txt(d->rpt_txt, &d->n_rpt_txt, &d->rpt_txt_longest,
            "v=TLSRPTv1; rua=ftp://reports.example.com/x");
    expect_only(d, "rpt.txt.syntax", CHECK_ERROR);

    d = good();
    set_txt(d->rpt_txt, &d->n_rpt_txt, &d->rpt_txt_longest,
            "v=TLSRPTv1; rua=https://reports.example.com/tlsrpt");
    d->rua_hosts[0].host = xstrdup("reports.example.com");
    d->rua_hosts[0].port = 443;
    d->rua_hosts[0].a.status = DNS_NXDOMAIN;
    d->rua_hosts[0].aaaa.status = DNS_NXDOMAIN;
    d->n_rua_hosts = 1;
    expect_only(d, "rpt.rua.https", CHECK_WARNING);

    d = good();
    set_txt(d->rpt_txt, &d->n_rpt_txt, &d->rpt_txt_longest,
            "v=TLSRPTv1; rua=https://reports.example.com/tlsrpt");
    d->rua_hosts[0].host = xstrdup("reports.example.com");
    d->rua_hosts[0].port = 443;
    d->rua_hosts[0].a.status = DNS_OK;
    d->rua_hosts[0].n_addrs = 1;
    d->rua_hosts[0].tls_attempted = d->rua_hosts[0].tls_done = 1;
    snprintf(d->rua_hosts[0].tls_error, sizeof(d->rua_hosts[0].tls_error), "bad certificate");
    d->n_rua_hosts = 1;
    expect_only(d, "rpt.rua.https", CHECK_WARNING);
}

static void test_dns_and_input(void **state)
{
    struct check_domain *d = good();
    d->valid = 0;
    snprintf(d->input_error, sizeof(d->input_error), "bad");
    expect_only(d, "check.input", CHECK_ERROR);

    d = good();
    d->sts_ans.status = DNS_FAIL;
    snprintf(d->sts_ans.why, sizeof(d->sts_ans.why), "SERVFAIL");
    expect_only(d, "dns.error", CHECK_ERROR);

    d = good();
    d->sts_ans.status = DNS_FAIL;
    d->sts_ans.bogus = 1;
    snprintf(d->sts_ans.why, sizeof(d->sts_ans.why), "DNSSEC bogus: signature expired");
    check__rules(d, NOW);
    const struct check_finding *f = find(d, "dns.dnssec");
    assert_non_null(f);
    assert_string_equal(f->result_type, "dnssec-invalid");
    done(d);
}

/* Several faults at once: each finding once per (id, subject); the worst severity wins. */
static void test_dedup_and_worst(void **state)
{
    struct check_domain *d = good();
    check__finding_add(d, "mx.slow", CHECK_WARNING, NULL, "a", "fix", "one");
    check__finding_add(d, "mx.slow", CHECK_WARNING, NULL, "a", "fix", "two");
    check__finding_add(d, "mx.slow", CHECK_WARNING, NULL, "b", "fix", "three");
    assert_int_equal(d->n_findings, 2);
    assert_int_equal(check__worst(d), CHECK_WARNING);
    check__finding_add(d, "sts.policy.mode", CHECK_INFO, NULL, "c", "fix", "four");
    assert_int_equal(check__worst(d), CHECK_WARNING);
    check__finding_add(d, "mx.cert.host", CHECK_ERROR, NULL, "c", "fix", "five");
    assert_int_equal(check__worst(d), CHECK_ERROR);
    json_t *j = check__domain_json(d, NOW);
    assert_string_equal(json_string_value(json_object_get(j, "verdict")), "error");
    assert_int_equal(json_array_size(json_object_get(j, "findings")), 4);
    json_decref(j);
    done(d);
}

/* Addresses skipped as private (opts->no_private): a warning each, and the other rules do not
 * count them as unreachable or unfetched. */
static void test_private_addresses(void **state)
{
    /* an MX whose only address is private: mx.address.private, not mx.unreachable */
    struct check_domain *d = good();
    struct check_addr *a = &d->mx[0].addrs[0];
    snprintf(a->ip, sizeof(a->ip), "127.0.0.1");
    a->reachable = a->starttls = a->handshake = a->verified = 0;
    a->private_skipped = 1;
    expect_only(d, "mx.address.private", CHECK_WARNING);
    d = good();
    a = &d->mx[0].addrs[0];
    a->reachable = 0;
    a->private_skipped = 1;
    check__rules(d, NOW);
    const struct check_finding *f = find(d, "mx.address.private");
    assert_non_null(f);
    assert_string_equal(f->subject, "mx1.example.com[192.0.2.21]");
    assert_null(find(d, "mx.unreachable"));
    done(d);
    /* a private address beside an unreachable public one: both said */
    d = good();
    d->mx[0].n_addrs = 2;
    d->mx[0].addrs[1] = d->mx[0].addrs[0];
    snprintf(d->mx[0].addrs[0].ip, INET6_ADDRSTRLEN, "10.0.0.1");
    d->mx[0].addrs[0].private_skipped = 1;
    d->mx[0].addrs[0].reachable = 0;
    d->mx[0].addrs[1].reachable = 0;
    snprintf(d->mx[0].addrs[1].error, sizeof(d->mx[0].addrs[1].error), "refused");
    check__rules(d, NOW);
    assert_non_null(find(d, "mx.address.private"));
    f = find(d, "mx.unreachable");
    assert_non_null(f);
    assert_non_null(strstr(f->message, "192.0.2.21: refused"));
    done(d);

    /* the policy host resolves only to a private address: not fetched, sts.host.private */
    d = good();
    snprintf(d->host_addrs[0], INET6_ADDRSTRLEN, "192.168.1.1");
    d->host_private[0] = 1;
    d->n_host_private = 1;
    d->fetch.attempted = d->fetch.done = 0;
    d->fetch.status = 0;
    free(d->fetch.body);
    d->fetch.body = NULL;
    d->fetch.len = 0;
    check__rules(d, NOW);
    f = find(d, "sts.host.private");
    assert_non_null(f);
    assert_int_equal(f->severity, CHECK_WARNING);
    assert_string_equal(f->subject, "mta-sts.example.com[192.168.1.1]");
    assert_null(find(d, "sts.host.dns"));
    done(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_sts_txt),
        cmocka_unit_test(test_private_addresses),
        cmocka_unit_test(test_hosted),
        cmocka_unit_test(test_fetch),
        cmocka_unit_test(test_fetch_addrs),
        cmocka_unit_test(test_policy),
        cmocka_unit_test(test_coverage),
        cmocka_unit_test(test_mx),
        cmocka_unit_test(test_rpt),
        cmocka_unit_test(test_dns_and_input),
        cmocka_unit_test(test_dedup_and_worst),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
