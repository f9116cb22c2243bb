/* test_details.c - unit tests of reports/details.c: the content digest and the merge of
 * failure details past max_detail_rows (totals exact, rows bounded, merged rows marked). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/unit_test.h"

#include "common/common.h"
#include "reports/reports.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const TYPES[] = {"certificate-expired", "starttls-not-supported",
                                    "validation-failure", "x-vendor-thing"};

/* A report of np policies with nd details each; detail j of policy i has type
 * TYPES[(i + j) % ntypes], count j + 1 and its own mx and ip. */
static void make(struct report *r, size_t np, size_t nd, size_t ntypes)
{
    memset(r, 0, sizeof(*r));
    r->organization_name = xstrdup("Org");
    r->report_id = xstrdup("id-1");
    r->start = 1704067200;
    r->end = 1704153599;
    r->n_policies = np;
    r->policies = xcalloc(np, sizeof(*r->policies));
    for (size_t i = 0; i < np; i++) {
        struct report_policy *p = &r->policies[i];
        p->policy_type = xstrdup("sts");
        p->policy_domain = xasprintf("d%zu.example", i);
        p->total_successful = 100;
        p->total_failure = (int64_t)nd;
        p->n_failures = nd;
        p->failures = xcalloc(nd ? nd : 1, sizeof(*p->failures));
        for (size_t j = 0; j < nd; j++) {
            struct report_failure *f = &p->failures[j];
            f->result_type = xstrdup(TYPES[(i + j) % ntypes]);
            f->receiving_mx_hostname = xasprintf("mx%zu.d%zu.example", j, i);
            f->receiving_ip = xasprintf("192.0.2.%zu", j % 250);
            f->sending_mta_ip = xstrdup("198.51.100.1");
            f->failed_session_count = (int64_t)j + 1;
        }
    }
}

/* Sum of failed-session-count per (policy, type index). */
static void sums(const struct report *r, size_t ntypes, int64_t *out /* np * ntypes */)
{
    for (size_t i = 0; i < r->n_policies; i++)
        for (size_t t = 0; t < ntypes; t++)
            out[i * ntypes + t] = 0;
    for (size_t i = 0; i < r->n_policies; i++) {
        const struct report_policy *p = &r->policies[i];
        for (size_t j = 0; j < p->n_failures; j++) {
            size_t t = 0;
            while (t < ntypes && strcmp(TYPES[t], p->failures[j].result_type) != 0)
                t++;
            assert_true(t < ntypes);
            out[i * ntypes + t] += p->failures[j].failed_session_count;
        }
    }
}

/* make(r, np, nd, ntypes), then merge it down to `bound` rows: the sums per (policy, type)
 * must not change. Returns what report_merge_details returned. */
static size_t merge_keeps_sums(struct report *r, size_t np, size_t nd, size_t ntypes, size_t bound)
{
    make(r, np, nd, ntypes);
    int64_t *want = xcalloc(np * ntypes, sizeof(*want)), *got = xcalloc(np * ntypes, sizeof(*got));
    sums(r, ntypes, want);
    size_t merged = report_merge_details(r, bound);
    sums(r, ntypes, got);
    assert_memory_equal(want, got, np * ntypes * sizeof(*want));
    free(want);
    free(got);
    return merged;
}

static size_t rows(const struct report *r)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n_policies; i++)
        n += r->policies[i].n_failures;
    return n;
}

static void test_under_the_bound_untouched(void **state)
{
    struct report r;
    make(&r, 3, 10, 4);
    unsigned char before[REPORT_DIGEST_LEN], after[REPORT_DIGEST_LEN];
    report_digest(&r, before);
    assert_int_equal(report_merge_details(&r, 30), 0);
    assert_int_equal(rows(&r), 30);
    report_digest(&r, after);
    assert_memory_equal(before, after, REPORT_DIGEST_LEN);
    report_clear(&r);
}

static void test_merge_bounded_totals_exact(void **state)
{
    /* The shape, scaled: 46 policies x 1,000 details, bound 1,000 rows. */
    enum { NP = 46, ND = 1000, NT = 4 };
    struct report r;
    size_t merged = merge_keeps_sums(&r, NP, ND, NT, 1000);
    assert_true(rows(&r) <= 1000);
    /* pairs = 46 * 4 = 184; 816 left for kept details: 816 / 46 = 17 per policy */
    size_t kept = 0, merged_rows = 0;
    for (size_t i = 0; i < NP; i++) {
        const struct report_policy *p = &r.policies[i];
        assert_int_equal(p->n_failures, 17 + NT);
        for (size_t j = 0; j < p->n_failures; j++) {
            const struct report_failure *f = &p->failures[j];
            if (f->receiving_mx_hostname != NULL) {
                kept++;
                /* kept details are the first ones, as they were */
                char want_mx[64];
                snprintf(want_mx, sizeof(want_mx), "mx%zu.d%zu.example", j, i);
                assert_string_equal(f->receiving_mx_hostname, want_mx);
            } else {
                merged_rows++;
                assert_null(f->receiving_ip);
                assert_null(f->sending_mta_ip);
                assert_non_null(f->additional_information);
                assert_non_null(strstr(f->additional_information, "failure-details merged"));
            }
        }
    }
    assert_int_equal(kept, 17 * NP);
    assert_int_equal(merged_rows, NT * NP);
    assert_int_equal(merged, (size_t)NP * ND - kept);
    report_clear(&r);
}

static void test_merge_counts_in_text(void **state)
{
    struct report r;
    make(&r, 1, 10, 1); /* one type: 1 pair, bound 4: 3 kept + 1 row of 7 */
    assert_int_equal(report_merge_details(&r, 4), 7);
    assert_int_equal(r.policies[0].n_failures, 4);
    const struct report_failure *m = &r.policies[0].failures[3];
    assert_string_equal(m->result_type, TYPES[0]);
    assert_int_equal(m->failed_session_count, 4 + 5 + 6 + 7 + 8 + 9 + 10);
    assert_string_equal(m->additional_information, "stsd: 7 failure-details merged into this row "
                                                   "([reports] max_detail_rows = 4)");
    report_clear(&r);
}

/* More (policy, result-type) pairs than the bound: one row per pair, nothing kept. */
static void test_more_pairs_than_rows(void **state)
{
    enum { NP = 10, ND = 8, NT = 4 };
    struct report r;
    merge_keeps_sums(&r, NP, ND, NT, 5);
    assert_int_equal(rows(&r), NP * NT);
    report_clear(&r);
}

static void test_saturating_sum(void **state)
{
    struct report r;
    make(&r, 1, 3, 1);
    for (size_t j = 0; j < 3; j++)
        r.policies[0].failures[j].failed_session_count = INT64_MAX / 2;
    report_merge_details(&r, 1);
    assert_int_equal(r.policies[0].n_failures, 1);
    assert_true(r.policies[0].failures[0].failed_session_count == INT64_MAX);
    report_clear(&r);
}

static void test_digest_tells_content(void **state)
{
    struct report a, b;
    make(&a, 2, 3, 2);
    make(&b, 2, 3, 2);
    unsigned char da[REPORT_DIGEST_LEN], db[REPORT_DIGEST_LEN];
    report_digest(&a, da);
    report_digest(&b, db);
    assert_memory_equal(da, db, REPORT_DIGEST_LEN);
    /* one count differs */
    b.policies[1].failures[2].failed_session_count++;
    report_digest(&b, db);
    assert_memory_not_equal(da, db, REPORT_DIGEST_LEN);
    b.policies[1].failures[2].failed_session_count--;
    /* NULL and "" differ; so do "ab"+"" and "a"+"b" */
    a.contact_info = xstrdup("");
    report_digest(&a, da);
    report_digest(&b, db);
    assert_memory_not_equal(da, db, REPORT_DIGEST_LEN);
    free(a.contact_info);
    a.contact_info = NULL;
    free(a.organization_name);
    free(a.report_id);
    a.organization_name = xstrdup("Or");
    a.report_id = xstrdup("gid-1");
    report_digest(&a, da);
    assert_memory_not_equal(da, db, REPORT_DIGEST_LEN);
    report_clear(&a);
    report_clear(&b);
}

/* The same report as gzip over HTTPS and as JSON with other spacing and member order by
 * e-mail: the same digest. */
static void test_digest_same_across_forms(void **state)
{
    static const char one[] =
        "{\"organization-name\":\"Org\",\"date-range\":{\"start-datetime\":"
        "\"2024-01-01T00:00:00Z\",\"end-datetime\":\"2024-01-01T23:59:59Z\"},\"contact-info\":"
        "\"a@b.example\",\"report-id\":\"x\",\"policies\":[{\"policy\":{\"policy-type\":\"sts\","
        "\"policy-domain\":\"example.com\",\"policy-string\":[\"version: STSv1\"],\"mx-host\":"
        "[\"mx.example.com\"]},\"summary\":{\"total-successful-session-count\":5,"
        "\"total-failure-session-count\":1},\"failure-details\":[{\"result-type\":"
        "\"certificate-expired\",\"failed-session-count\":1}]}]}";
    static const char two[] =
        "{ \"report-id\": \"x\", \"contact-info\": \"a@b.example\",\n"
        "  \"organization-name\": \"Org\", \"x-unknown\": 1,\n"
        "  \"date-range\": { \"end-datetime\": \"2024-01-01T23:59:59Z\",\n"
        "                  \"start-datetime\": \"2024-01-01T00:00:00Z\" },\n"
        "  \"policies\": [ { \"summary\": { \"total-failure-session-count\": 1,\n"
        "    \"total-successful-session-count\": 5 },\n"
        "    \"failure-details\": [ { \"failed-session-count\": 1,\n"
        "       \"result-type\": \"certificate-expired\" } ],\n"
        "    \"policy\": { \"mx-host\": [\"mx.example.com\"], \"policy-string\":\n"
        "       [\"version: STSv1\"], \"policy-domain\": \"example.com\",\n"
        "       \"policy-type\": \"sts\" } } ] }\n";
    struct report a, b;
    struct report_error err;
    assert_int_equal(report_parse(one, strlen(one), &a, &err), 0);
    assert_int_equal(report_parse(two, strlen(two), &b, &err), 0);
    unsigned char da[REPORT_DIGEST_LEN], db[REPORT_DIGEST_LEN];
    report_digest(&a, da);
    report_prepare_store(&b, 1000, db);
    assert_memory_equal(da, db, REPORT_DIGEST_LEN);
    report_clear(&a);
    report_clear(&b);
}

UNIT_TESTS(NULL, cmocka_unit_test(test_under_the_bound_untouched),
           cmocka_unit_test(test_merge_bounded_totals_exact),
           cmocka_unit_test(test_merge_counts_in_text), cmocka_unit_test(test_more_pairs_than_rows),
           cmocka_unit_test(test_saturating_sum), cmocka_unit_test(test_digest_tells_content),
           cmocka_unit_test(test_digest_same_across_forms))
