/* test_report.c - data-driven tests of report_parse/report_parse_body over tests/data/tlsrpt. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/common.h"
#include "reports/reports.h"
#include "tests/unit/reports/reports_test.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* The default of [reports] max_json. */
#define DEFAULT_MAX_JSON (20u * 1024 * 1024)

struct dcase {
    char *input;  /* path of the input */
    char *expect; /* path of the .expect file */
};

/* One case being run: its input, its .expect text, the parse result and error. */
struct run {
    const struct dcase *c;
    char *in, *exp;
    size_t len;
    struct report r;
    struct report_error err;
    char etext[512];
};

/* Read the input of case c (at most max bytes) and its .expect file into x. */
static void load(struct run *x, const struct dcase *c, size_t max)
{
    size_t elen;
    memset(x, 0, sizeof(*x));
    x->c = c;
    x->in = file_read_all(c->input, max, &x->len);
    x->exp = file_read_all(c->expect, 1 << 20, &elen);
    assert_non_null(x->in);
    if (x->exp == NULL)
        fail_msg("%s: no .expect file", c->input);
}

/* One valid case: the description of the parsed report equals the .expect file, read
 * plain and after a gzip round trip through report_parse_body. */
static void test_valid(void **state)
{
    struct run x;
    load(&x, *state, 1 << 24);

    if (report_parse(x.in, x.len, &x.r, &x.err) != 0)
        fail_msg("%s: %s", x.c->input, report_error_text(&x.err, x.etext, sizeof x.etext));
    char *got = rt_describe(&x.r);
    if (strcmp(got, x.exp) != 0)
        fail_msg("%s:\n--- expected\n%s--- got\n%s", x.c->input, x.exp, got);
    report_clear(&x.r);
    free(got);

    size_t zlen = compressBound(x.len) + 32;
    unsigned char *z = rt_gzip(x.in, x.len, &zlen);
    int status = report_parse_body(z, zlen, DEFAULT_MAX_JSON, &x.r, &x.err);
    if (status != 0)
        fail_msg("%s (gzip): %d %s", x.c->input, status,
                 report_error_text(&x.err, x.etext, sizeof x.etext));
    got = rt_describe(&x.r);
    assert_string_equal(got, x.exp);
    report_clear(&x.r);
    free(got);
    free(z);
    free(x.in);
    free(x.exp);
}

/* "key: value" from an .expect file (value up to the end of the line), or NULL. */
static char *expect_field(const char *exp, const char *key)
{
    size_t kl = strlen(key);
    for (const char *p = exp; p != NULL && *p != '\0';) {
        const char *eol = strchr(p, '\n');
        size_t ll = eol != NULL ? (size_t)(eol - p) : strlen(p);
        if (ll > kl + 1 && strncmp(p, key, kl) == 0 && p[kl] == ':' && p[kl + 1] == ' ')
            return xstrndup(p + kl + 2, ll - kl - 2);
        p = eol != NULL ? eol + 1 : NULL;
    }
    return NULL;
}

/* One invalid case: the intake answers the expected status and the error text holds the
 * expected "path: message" substring. */
static void test_invalid(void **state)
{
    struct run x;
    load(&x, *state, 1 << 26);
    char *status_s = expect_field(x.exp, "status");
    char *error_s = expect_field(x.exp, "error");
    char *cap_s = expect_field(x.exp, "cap");
    assert_non_null(status_s);
    assert_non_null(error_s);
    size_t cap = cap_s != NULL ? (size_t)strtoull(cap_s, NULL, 10) : DEFAULT_MAX_JSON;

    memset(&x.r, 0xa5, sizeof x.r); /* report_parse_body must clear it */
    int status = report_parse_body(x.in, x.len, cap, &x.r, &x.err);
    report_error_text(&x.err, x.etext, sizeof x.etext);
    if (status != atoi(status_s))
        fail_msg("%s: status %d, expected %s (%s)", x.c->input, status, status_s, x.etext);
    if (strstr(x.etext, error_s) == NULL)
        fail_msg("%s: error \"%s\" lacks \"%s\"", x.c->input, x.etext, error_s);
    /* A failed parse leaves nothing to free. */
    assert_null(x.r.organization_name);
    assert_null(x.r.policies);
    free(status_s);
    free(error_s);
    free(cap_s);
    free(x.in);
    free(x.exp);
}

/* The API around the parse: optional err, report_clear(NULL), error text, deep paths. */
static void test_api(void **state)
{
    struct report r;
    struct report_error err;
    char t[512];
    assert_int_equal(report_parse("{}", 2, &r, NULL), -1);
    report_clear(NULL);
    assert_int_equal(report_parse("[1]", 3, &r, &err), -1);
    assert_string_equal(report_error_text(&err, t, sizeof t), "$: must be a JSON object");
    /* A short buffer still gets a NUL-terminated prefix. */
    assert_string_equal(report_error_text(&err, t, 4), "$: ");
    /* A JSON path far longer than report_error.path is cut, not overrun. */
    char *key = xmalloc(400);
    memset(key, 'k', 399);
    key[399] = '\0';
    char *doc = xasprintf("{\"%s\": [[[[[1]]]]]}", key);
    assert_int_equal(report_parse(doc, strlen(doc), &r, &err), -1);
    assert_int_equal(strlen(err.path), sizeof err.path - 1);
    assert_string_equal(err.message, "nested deeper than the report schema (5 levels)");
    free(doc);
    free(key);
    /* Not NUL-terminated input: only `len` bytes are read. */
    static const char two[] = "{}{}";
    assert_int_equal(report_parse(two, 2, &r, &err), -1);
    assert_string_equal(err.path, "organization-name");
    /* A report built by hand with malloc'd fields is cleared by report_clear. */
    memset(&r, 0, sizeof r);
    r.organization_name = xstrdup("x");
    r.policies = xcalloc(1, sizeof *r.policies);
    r.n_policies = 1;
    r.policies[0].mx_host = xcalloc(1, sizeof(char *));
    r.policies[0].mx_host[0] = xstrdup("mx.example");
    r.policies[0].n_mx_host = 1;
    report_clear(&r);
    assert_null(r.policies);
    assert_int_equal(r.n_policies, 0);
}

/* policy-domain per policy type: optional (absent or null) for no-policy-found only, and
 * report_attribute filling only the policies that name none, after the digest. */
static void test_attribute(void **state)
{
    (void)state;
    static const char doc[] =
        "{\"organization-name\":\"o\",\"report-id\":\"r\",\"date-range\":{\"start-datetime\":"
        "\"2025-09-21T00:00:00Z\",\"end-datetime\":\"2025-09-21T23:59:59Z\"},\"policies\":["
        "{\"policy\":{\"policy-type\":\"no-policy-found\"},\"summary\":{"
        "\"total-successful-session-count\":4,\"total-failure-session-count\":0}},"
        "{\"policy\":{\"policy-type\":\"no-policy-found\",\"policy-domain\":null},\"summary\":{"
        "\"total-successful-session-count\":1,\"total-failure-session-count\":0}},"
        "{\"policy\":{\"policy-type\":\"no-policy-found\",\"policy-domain\":\"Named.Example\"},"
        "\"summary\":{\"total-successful-session-count\":2,\"total-failure-session-count\":0}}]}";
    struct report r;
    struct report_error err;
    char t[512];
    if (report_parse(doc, sizeof(doc) - 1, &r, &err) != 0)
        fail_msg("%s", report_error_text(&err, t, sizeof t));
    assert_null(r.policies[0].policy_domain);
    assert_null(r.policies[1].policy_domain);
    assert_string_equal(r.policies[2].policy_domain, "named.example");
    unsigned char d1[REPORT_DIGEST_LEN], d2[REPORT_DIGEST_LEN];
    report_digest(&r, d1);
    /* Nothing a domain name could be leaves them unattributed. */
    const char *no[] = {NULL, "", "exa mple.test", "192.0.2.1", "a..b"};
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        report_attribute(&r, no[i]);
        assert_null(r.policies[0].policy_domain);
        assert_int_equal(r.policies[0].domain_inferred, 0);
    }
    report_attribute(&r, "Example.TEST.");
    for (int i = 0; i < 2; i++) {
        assert_string_equal(r.policies[i].policy_domain, "example.test");
        assert_int_equal(r.policies[i].domain_inferred, 1);
    }
    assert_string_equal(r.policies[2].policy_domain, "named.example");
    assert_int_equal(r.policies[2].domain_inferred, 0);
    report_attribute(&r, "other.test"); /* once attributed, kept */
    assert_string_equal(r.policies[0].policy_domain, "example.test");
    /* The digest of the report as sent differs from the attributed one: take it first. */
    report_digest(&r, d2);
    assert_memory_not_equal(d1, d2, REPORT_DIGEST_LEN);
    report_clear(&r);
    /* Only no-policy-found may leave it out. */
    static const char *types[] = {"sts", "tlsa"};
    for (size_t i = 0; i < 2; i++) {
        char *bad =
            xasprintf("{\"organization-name\":\"o\",\"report-id\":\"r\",\"date-range\":{"
                      "\"start-datetime\":\"2025-09-21T00:00:00Z\",\"end-datetime\":"
                      "\"2025-09-21T23:59:59Z\"},\"policies\":[{\"policy\":{\"policy-type\":"
                      "\"%s\"},\"summary\":{\"total-successful-session-count\":1,"
                      "\"total-failure-session-count\":0}}]}",
                      types[i]);
        assert_int_equal(report_parse(bad, strlen(bad), &r, &err), -1);
        assert_string_equal(report_error_text(&err, t, sizeof t),
                            "policies[0].policy.policy-domain: required");
        free(bad);
    }
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every input of a folder (*.json, *.json.gz) with its .expect file. */
static size_t collect(const char *dir, struct dcase **out, char ***names)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        fprintf(stderr, "cannot open %s\n", dir);
        exit(1);
    }
    char **list = NULL;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if ((l > 5 && strcmp(de->d_name + l - 5, ".json") == 0) ||
            (l > 8 && strcmp(de->d_name + l - 8, ".json.gz") == 0)) {
            list = xrealloc(list, (n + 1) * sizeof *list);
            list[n++] = xstrdup(de->d_name);
        }
    }
    closedir(d);
    qsort(list, n, sizeof *list, by_name);
    struct dcase *cases = xcalloc(n ? n : 1, sizeof *cases);
    for (size_t i = 0; i < n; i++) {
        const char *nm = list[i];
        size_t l = strlen(nm);
        size_t stem = l - (strcmp(nm + l - 3, ".gz") == 0 ? 8 : 5);
        cases[i].input = xasprintf("%s/%s", dir, nm);
        cases[i].expect = xasprintf("%s/%.*s.expect", dir, (int)stem, nm);
    }
    *out = cases;
    *names = list;
    return n;
}

int main(void)
{
    const char *data = getenv("STSD_TEST_DATA");
    if (data == NULL) {
        fprintf(stderr, "STSD_TEST_DATA is not set\n");
        return 1;
    }
    char *vdir = xasprintf("%s/tlsrpt/valid", data);
    char *idir = xasprintf("%s/tlsrpt/invalid", data);
    struct dcase *vc, *ic;
    char **vn, **in;
    size_t nv = collect(vdir, &vc, &vn);
    size_t ni = collect(idir, &ic, &in);
    /* Guard against an empty or missing corpus passing silently. */
    if (nv < 30 || ni < 30) {
        fprintf(stderr, "too few cases: %zu valid, %zu invalid\n", nv, ni);
        return 1;
    }
    struct CMUnitTest *tests = xcalloc(nv + ni + 2, sizeof *tests);
    for (size_t i = 0; i < nv; i++) {
        tests[i].name = xasprintf("valid/%s", vn[i]);
        tests[i].test_func = test_valid;
        tests[i].initial_state = &vc[i];
    }
    for (size_t i = 0; i < ni; i++) {
        tests[nv + i].name = xasprintf("invalid/%s", in[i]);
        tests[nv + i].test_func = test_invalid;
        tests[nv + i].initial_state = &ic[i];
    }
    tests[nv + ni].name = xstrdup("api");
    tests[nv + ni].test_func = test_api;
    tests[nv + ni + 1].name = xstrdup("attribute");
    tests[nv + ni + 1].test_func = test_attribute;
    int rc = _cmocka_run_group_tests("report_data", tests, nv + ni + 2, NULL, NULL);
    for (size_t i = 0; i < nv + ni + 2; i++)
        free((char *)tests[i].name);
    for (size_t i = 0; i < nv; i++) {
        free(vc[i].input);
        free(vc[i].expect);
        free(vn[i]);
    }
    for (size_t i = 0; i < ni; i++) {
        free(ic[i].input);
        free(ic[i].expect);
        free(in[i]);
    }
    free(vc);
    free(ic);
    free(vn);
    free(in);
    free(tests);
    free(vdir);
    free(idir);
    return rc;
}
