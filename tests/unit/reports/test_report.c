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
    struct CMUnitTest *tests = xcalloc(nv + ni + 1, sizeof *tests);
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
    int rc = _cmocka_run_group_tests("report_data", tests, nv + ni + 1, NULL, NULL);
    for (size_t i = 0; i < nv + ni + 1; i++)
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
