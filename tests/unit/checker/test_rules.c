/* test_rules.c - the rules (checker/rules*.c) on synthetic facts: a correct domain has no
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

#include "facts.h"

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

/* Run the rules and require exactly one finding: id about subject, with result type rt
 * unless rt is NULL. Returns it (d stays the caller's). */
static const struct check_finding *expect_subject(struct check_domain *d, const char *id,
                                                  const char *subject, const char *rt)
{
    check__rules(d, NOW);
    const struct check_finding *f = find(d, id);
    assert_non_null(f);
    assert_string_equal(f->subject, subject);
    if (rt != NULL)
        assert_string_equal(f->result_type, rt);
    assert_int_equal(d->n_findings, 1);
    return f;
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

/* good() with this one record at _smtp._tls (rpt) or _mta-sts (NULL: none, and the name is
 * NXDOMAIN). */
static struct check_domain *with_txt(int rpt, const char *txt)
{
    struct check_domain *d = good();
    if (rpt)
        set_txt(d->rpt_txt, &d->n_rpt_txt, &d->rpt_txt_longest, txt);
    else
        set_txt(d->sts_txt, &d->n_sts_txt, &d->sts_txt_longest, txt);
    if (txt == NULL)
        (rpt ? &d->rpt_ans : &d->sts_ans)->status = DNS_NXDOMAIN;
    return d;
}

static struct check_domain *with_sts(const char *txt)
{
    return with_txt(0, txt);
}

static struct check_domain *with_rpt(const char *txt)
{
    return with_txt(1, txt);
}

static void test_sts_txt(void **state)
{
    expect_only(with_sts(NULL), "sts.txt.missing", CHECK_ERROR);

    /* No policy host either: the domain does not use MTA-STS, so senders can be downgraded
     * (a warning); rpt.txt not required. */
    struct check_domain *d = with_sts(NULL);
    set_txt(d->rpt_txt, &d->n_rpt_txt, &d->rpt_txt_longest, NULL);
    d->rpt_ans.status = DNS_NXDOMAIN;
    d->n_host_addrs = 0;
    d->host_a.status = DNS_NXDOMAIN;
    d->fetch.attempted = d->fetch.done = 0;
    expect_only(d, "sts.txt.missing", CHECK_WARNING);

    d = good();
    d->sts_txt[d->n_sts_txt++] = xstrdup("v=STSv1; id=20260101T000000");
    expect_only(d, "sts.txt.multiple", CHECK_ERROR);

    expect_only(with_sts("v=spf1 -all"), "sts.txt.syntax", CHECK_ERROR);
    expect_only(with_sts("v=STSv1; id=1; thisextensionnameislongerthan32chars=1"), "sts.txt.syntax",
                CHECK_ERROR);
    expect_only(with_sts("v=STSv1; id=2026-11-29"), "sts.txt.id", CHECK_ERROR);

    /* A TXT record longer than the cap is a syntax error, whatever it holds. */
    d = good();
    d->sts_txt_longest = 64000;
    expect_only(d, "sts.txt.syntax", CHECK_ERROR);
}

static void test_hosted(void **state)
{
    struct check_domain *d = hosted(GOOD_POLICY, "20261129T000000");
    check__rules(d, NOW);
    assert_int_equal(d->n_findings, 0); /* the same id, the same policy (CRLF vs LF aside) */
    json_t *j = check__domain_json(d, NOW);
    json_t *h = json_object_get(j, "hosted");
    assert_true(json_is_true(json_object_get(h, "policy")));
    assert_string_equal(json_string_value(json_object_get(h, "policy_id")), "20261129T000000");
    assert_true(json_is_null(json_object_get(h, "cert_not_after")));
    json_decref(j);
    done(d);

    d = hosted(NULL, "20261130T000000");
    d->hosted.old_ids = xcalloc(1, sizeof(char *));
    d->hosted.old_ids[d->hosted.n_old_ids++] = xstrdup("20261129T000000");
    expect_only(d, "sts.txt.stale-id", CHECK_WARNING);

    expect_only(hosted("version: STSv1\nmode: testing\nmx: mx1.example.com\nmax_age: 604800\n", ""),
                "sts.hosted.mismatch", CHECK_WARNING);
    expect_only(hosted_cert(NOW + 13 * 86400 + 3600), "sts.host.cert-expiring", CHECK_WARNING);
    expect_only(hosted_cert(NOW - 1), "sts.host.cert-expiring", CHECK_ERROR);
    expect_none(hosted_cert(NOW + 14 * 86400 + 60)); /* 14 days left: not "within 14 days" */

    /* No facts handed in: no "hosted" object, no comparison. */
    d = good();
    j = check__domain_json(d, NOW);
    assert_null(json_object_get(j, "hosted"));
    json_decref(j);
    done(d);
}

static void test_fetch(void **state)
{
    struct check_domain *d = good();
    d->fetch.attempted = d->fetch.done = 0;
    d->n_host_addrs = 0;
    d->host_a.status = d->host_aaaa.status = DNS_NXDOMAIN;
    expect_only(d, "sts.host.dns", CHECK_ERROR);

    /* good()'s fetch with one thing changed; id NULL: no finding. */
    static const struct {
        long status;
        const char *content_type, *redirect;
        int tls_error, too_big, timed_out, connect_error;
        int64_t ms;
        const char *id;
        enum check_severity sev;
    } cases[] = {
        {0, NULL, NULL, 1, 0, 0, 0, 25, "sts.fetch.tls", CHECK_ERROR},
        {301, NULL, "https://elsewhere.example/", 0, 0, 0, 0, 25, "sts.fetch.redirect",
         CHECK_ERROR},
        {404, NULL, NULL, 0, 0, 0, 0, 25, "sts.fetch.status", CHECK_ERROR},
        {200, "text/html", NULL, 0, 0, 0, 0, 25, "sts.fetch.content-type", CHECK_ERROR},
        /* parameters and case are allowed */
        {200, "Text/Plain;charset=UTF-8", NULL, 0, 0, 0, 0, 25, NULL, CHECK_INFO},
        {200, NULL, NULL, 0, 1, 0, 0, 25, "sts.fetch.size", CHECK_ERROR},
        {0, NULL, NULL, 0, 0, 1, 0, 10000, "sts.fetch.timeout", CHECK_ERROR},
        {0, NULL, NULL, 0, 0, 0, 1, 25, "sts.fetch.connect", CHECK_ERROR},
        {200, NULL, NULL, 0, 0, 0, 0, 4001, "sts.fetch.slow", CHECK_WARNING},
        /* 4 s exactly is not slower than 4 s */
        {200, NULL, NULL, 0, 0, 0, 0, 4000, NULL, CHECK_INFO},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        d = good();
        struct check_fetch *fe = &d->fetch;
        fe->status = cases[i].status;
        if (cases[i].content_type != NULL)
            snprintf(fe->content_type, sizeof(fe->content_type), "%s", cases[i].content_type);
        if (cases[i].redirect != NULL)
            snprintf(fe->redirect, sizeof(fe->redirect), "%s", cases[i].redirect);
        fe->tls_error = cases[i].tls_error;
        fe->too_big = cases[i].too_big;
        fe->timed_out = cases[i].timed_out;
        fe->connect_error = cases[i].connect_error;
        fe->ms = cases[i].ms;
        if (cases[i].id == NULL)
            expect_none(d);
        else
            expect_only(d, cases[i].id, cases[i].sev);
    }
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
    expect_subject(d, "sts.fetch.tls", "mta-sts.example.com[192.0.2.11]", "sts-webpki-invalid");
    done(d);

    d = two_hosts();
    pa = &d->fetch.per_addr[0];
    free(pa->body);
    pa->body = xstrdup("version: STSv1\r\nmode: testing\r\nmx: mx1.example.com\r\n"
                       "max_age: 604800\r\n");
    pa->len = strlen(pa->body);
    const struct check_finding *f =
        expect_subject(d, "sts.fetch.inconsistent", "mta-sts.example.com[192.0.2.10]", NULL);
    assert_int_equal(f->severity, CHECK_WARNING);
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
    expect_subject(d, "sts.mx.unused-pattern", "old.example.com", NULL);
    done(d);
}

/* good() without MX records. */
static struct check_domain *no_mx(void)
{
    struct check_domain *d = good();
    for (size_t i = 0; i < d->n_mx_listed; i++)
        free(d->mx_listed[i].host);
    d->n_mx_listed = 0;
    for (size_t i = 0; i < d->n_mx; i++)
        free(d->mx[i].host);
    d->n_mx = 0;
    return d;
}

static void test_mx(void **state)
{
    struct check_domain *d = no_mx();
    d->mx_ans.status = DNS_NODATA;
    expect_only(d, "mx.none", CHECK_ERROR);

    d = no_mx();
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
    expect_subject(d, "mx.starttls", "mx1.example.com[192.0.2.21]", "starttls-not-supported");
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
    expect_subject(d, "mx.unreachable", "mx1.example.com", NULL);
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

/* with_rpt of an https: rua whose host reports.example.com was checked. */
static struct check_domain *with_rua(void)
{
    struct check_domain *d = with_rpt("v=TLSRPTv1; rua=https://reports.example.com/tlsrpt");
    d->rua_hosts[0].host = xstrdup("reports.example.com");
    d->rua_hosts[0].port = 443;
    d->n_rua_hosts = 1;
    return d;
}

static void test_rpt(void **state)
{
    expect_only(with_rpt(NULL), "rpt.txt.missing", CHECK_WARNING);

    struct check_domain *d = good();
    d->rpt_txt[d->n_rpt_txt++] = xstrdup("v=TLSRPTv1; rua=mailto:b@example.com");
    expect_only(d, "rpt.txt.multiple", CHECK_ERROR);

    expect_only(with_rpt("v=TLSRPTv1; rua=ftp://reports.example.com/x"), "rpt.txt.syntax",
                CHECK_ERROR);

    d = with_rua();
    d->rua_hosts[0].a.status = DNS_NXDOMAIN;
    d->rua_hosts[0].aaaa.status = DNS_NXDOMAIN;
    expect_only(d, "rpt.rua.https", CHECK_WARNING);

    d = with_rua();
    d->rua_hosts[0].a.status = DNS_OK;
    d->rua_hosts[0].n_addrs = 1;
    d->rua_hosts[0].tls_attempted = d->rua_hosts[0].tls_done = 1;
    snprintf(d->rua_hosts[0].tls_error, sizeof(d->rua_hosts[0].tls_error), "bad certificate");
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
