/* test_result.c - the typed result (checker/result.c) built from synthetic facts, its JSON
 * (the keys and their order of `stsd check --json`) and its text rendering (checker/output.c). */
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

/* The rules run on d, then d becomes the one domain of *r (d is freed). */
static void result_of(struct check_domain *d, struct check_result *r)
{
    check__rules(d, NOW);
    memset(r, 0, sizeof(*r));
    r->ran = 1;
    r->domains = xcalloc(1, sizeof(*r->domains));
    check__result_domain(d, NOW, &r->domains[0]);
    r->n_domains = 1;
    r->worst = r->domains[0].worst;
    done(d);
}

/* The object's keys, comma-joined, in order. */
static char *keys(json_t *o)
{
    char *s = xstrdup("");
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        char *n = xasprintf("%s%s%s", s, s[0] ? "," : "", k);
        free(s);
        s = n;
    }
    return s;
}

static void expect_keys(json_t *o, const char *want)
{
    char *got = keys(o);
    assert_string_equal(got, want);
    free(got);
}

static char *text_of(const struct check_result *r, int color)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    check_print_text(f, r, color);
    fclose(f);
    return buf;
}

static void test_fields(void **state)
{
    struct check_result r;
    result_of(good(), &r);
    const struct check_result_domain *d = &r.domains[0];
    assert_string_equal(d->domain, "example.com");
    assert_true(d->valid);
    assert_int_equal(d->worst, CHECK_INFO);
    assert_int_equal(d->n_findings, 0);
    assert_int_equal(d->dns.n_mx, 2);
    assert_string_equal(d->dns.mx[1].host, "a.example.net");
    assert_string_equal(d->dns.policy_host, "mta-sts.example.com");
    assert_int_equal(d->dns.n_policy_host_addrs, 1);
    assert_string_equal(d->dns.policy_host_addrs[0], "192.0.2.10");
    assert_string_equal(d->dns.sts_id, "20261129T000000");
    assert_string_equal(d->dns.rpt_record, "v=TLSRPTv1; rua=mailto:tlsrpt@example.com");
    assert_int_equal(d->dns.n_rua, 1);
    assert_string_equal(d->dns.rua[0], "mailto:tlsrpt@example.com");
    assert_true(d->policy.attempted && d->policy.fetched);
    assert_string_equal(d->policy.mode, "enforce");
    assert_int_equal(d->policy.max_age, 604800);
    assert_int_equal(d->policy.n_mx, 2);
    assert_false(d->policy.per_address);
    assert_int_equal(d->n_mx, 2);
    const struct check_result_addr *a = &d->mx[0].addrs[0];
    assert_string_equal(a->ip, "192.0.2.21");
    assert_true(a->verified && a->name_match && a->have_cert);
    assert_string_equal(a->tls_version, "TLSv1.3");
    assert_int_equal(a->days_left, 60);
    assert_false(d->hosted.compared);
    assert_string_equal(check_verdict_name(d->worst), "ok");
    check_result_free(&r);

    /* A broken TLS-RPT record: no rua; an unparsable policy: no mode. */
    struct check_domain *f = good();
    set_policy(f, "version: STSv1\r\nmode: sometimes\r\n");
    free(f->rpt_txt[0]);
    f->rpt_txt[0] = xstrdup("v=TLSRPTv1; rua=ftp://x");
    result_of(f, &r);
    d = &r.domains[0];
    assert_null(d->policy.mode);
    assert_int_equal(d->policy.n_mx, 0);
    assert_non_null(d->policy.text);
    assert_string_equal(d->dns.rpt_record, "v=TLSRPTv1; rua=ftp://x");
    assert_int_equal(d->dns.n_rua, 0);
    assert_int_equal(d->worst, CHECK_ERROR);
    assert_string_equal(check_verdict_name(d->worst), "error");
    check_result_free(&r);
}

/* The JSON keeps the documented keys in their order. */
static void test_json_keys(void **state)
{
    struct check_result r;
    result_of(hosted_cert(NOW + 5 * 86400), &r);
    json_t *j = check_result_json(&r);
    expect_keys(j, "version,domains");
    json_t *d = json_array_get(json_object_get(j, "domains"), 0);
    expect_keys(d, "domain,verdict,findings,dns,policy,mx,hosted");
    expect_keys(json_array_get(json_object_get(d, "findings"), 0),
                "id,severity,subject,message,fix");
    expect_keys(json_object_get(d, "dns"), "mx,null_mx,sts_txt,rpt_txt,policy_host,dnssec");
    expect_keys(json_object_get(d, "policy"),
                "url,fetched,status,content_type,ms,text,mode,max_age,mx,error");
    json_t *mx0 = json_array_get(json_object_get(d, "mx"), 0);
    expect_keys(mx0, "host,preference,addresses");
    expect_keys(json_array_get(json_object_get(mx0, "addresses"), 0),
                "ip,reachable,starttls,tls_version,cipher,verified,verify_error,name_match,"
                "not_before,not_after,days_left,error,ms");
    json_t *h = json_object_get(d, "hosted");
    expect_keys(h, "policy,policy_id,cert_not_after");
    assert_true(json_is_null(json_object_get(h, "policy_id")));
    assert_string_equal(json_string_value(json_object_get(h, "cert_not_after")),
                        "2026-11-23T11:06:40Z");
    json_t *f = json_array_get(json_object_get(d, "findings"), 0);
    assert_string_equal(json_string_value(json_object_get(f, "id")), "sts.host.cert-expiring");
    assert_string_equal(json_string_value(json_object_get(d, "verdict")), "warning");
    json_decref(j);
    check_result_free(&r);
    assert_null(check_result_json(&r)); /* freed: nothing ran */
}

static void test_text(void **state)
{
    struct check_result r;
    result_of(hosted(GOOD_POLICY, "20261129T000000"), &r);
    char *t = text_of(&r, 0);
    assert_non_null(strstr(t, "example.com: ok\n"));
    assert_non_null(strstr(t, "  MX 10 mx1.example.com 192.0.2.21 TLSv1.3\n"));
    assert_non_null(strstr(t, "  _mta-sts TXT \"v=STSv1; id=20261129T000000\"\n"));
    assert_non_null(strstr(t, "  policy https://mta-sts.example.com/.well-known/mta-sts.txt: HTTP "
                              "200, mode enforce, 25 ms\n"));
    assert_non_null(strstr(t, "  hosted here: policy id 20261129T000000, certificate until -\n"));
    assert_non_null(strstr(t, "  no findings\n"));
    assert_null(strchr(t, '\033'));
    free(t);
    check_result_free(&r);

    /* Findings worst first, with their fix; colour only when asked; network text escaped. */
    struct check_domain *d = good();
    d->fetch.ms = 4001;     /* a warning */
    addr0(d)->starttls = 0; /* an error */
    snprintf(addr0(d)->error, sizeof(addr0(d)->error), "banner \033[31mred");
    result_of(d, &r);
    t = text_of(&r, 1);
    char *err = strstr(t, "mx.starttls"), *warn = strstr(t, "sts.fetch.slow");
    assert_non_null(err);
    assert_non_null(warn);
    assert_true(err < warn);
    assert_non_null(strstr(t, "\033[31merror  \033[0m"));
    assert_non_null(strstr(t, "fix:"));
    assert_null(strstr(t, "\033[31mred"));
    free(t);
    check_result_free(&r);
}

static void test_facts_clear(void **state)
{
    struct check_hosted_facts f = {0};
    f.has_policy = 1;
    f.policy_text = xstrdup("x");
    f.old_ids = xcalloc(2, sizeof(char *));
    f.old_ids[f.n_old_ids++] = xstrdup("a");
    f.old_ids[f.n_old_ids++] = xstrdup("b");
    check_hosted_facts_clear(&f);
    assert_null(f.policy_text);
    assert_int_equal(f.n_old_ids, 0);
    assert_int_equal(f.has_policy, 0);
    check_hosted_facts_clear(&f); /* twice is harmless */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_json_keys),
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_facts_clear),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
