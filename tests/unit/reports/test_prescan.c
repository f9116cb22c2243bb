/* test_prescan.c - report_prescan (value counts, structure, depth), the memory budget and the
 * bounded intake step report_parse_body_limited (value bombs, budget spent, what is held). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/unit_test.h"

#include "common/common.h"
#include "reports/reports.h"
#include "tests/unit/reports/reports_test.h"

#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum report_prescan_result scan(const char *s, size_t max, size_t *values)
{
    struct report_prescan ps;
    enum report_prescan_result r = report_prescan(s, strlen(s), max, &ps);
    *values = ps.values;
    return r;
}

static void test_counts(void **state)
{
    static const struct {
        const char *json;
        size_t values;
    } ok[] = {
        {"{}", 1},
        {"[]", 1},
        {" [ ] ", 1},
        {"\"x\"", 1},
        {"0", 1},
        {"-0.5e+10", 1},
        {"true", 1},
        {"[null,false,true]", 4},
        {"{\"a\":[1,{}]}", 4},
        {"{\"a\":{\"b\":{\"c\":[]}},\"d\":\"\\u00e9\\n\\\"\"}", 5},
        {"[{},{},{},[[]]]", 6},
        {"\xEF\xBB\xBF{\"k\":1}", 2},
        {"{\"k\":\"caf\xC3\xA9\"}\r\n\t", 2},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        size_t n = 0;
        if (scan(ok[i].json, 1000, &n) != REPORT_PRESCAN_OK || n != ok[i].values)
            fail_msg("%s: %zu values, expected %zu", ok[i].json, n, ok[i].values);
    }
}

static void test_invalid(void **state)
{
    static const char *bad[] = {
        "",
        " ",
        "[",
        "]",
        "[1,]",
        "[,1]",
        "{\"a\"}",
        "{\"a\":}",
        "{\"a\":1,}",
        "{1:2}",
        "{\"a\" 1}",
        "[}",
        "{]",
        "01",
        "1.",
        "-",
        "1e",
        ".5",
        "+1",
        "tru",
        "nul",
        "[1]x",
        "[1] [2]",
        "\"abc",
        "\"\x01\"",
        "\"\\x\"",
        "\"\\u12G4\"",
        "\"\\u12\"",
        "'a'",
        "[1 2]",
        "{\"a\":1 \"b\":2}",
        "NaN",
        "[Infinity]",
        "{\"a\":1}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t n;
        if (scan(bad[i], 1000, &n) != REPORT_PRESCAN_INVALID)
            fail_msg("accepted: %s", bad[i]);
        assert_true(n <= 1000);
    }
    /* A NUL byte is not whitespace. */
    assert_int_equal(report_prescan("[1]\0", 4, 10, NULL), REPORT_PRESCAN_INVALID);
    assert_int_equal(report_prescan("[1]", 3, 10, NULL), REPORT_PRESCAN_OK);
}

/* The scan stops at the first value past the cap, however much text follows. */
static void test_too_many(void **state)
{
    size_t n;
    assert_int_equal(scan("[0,0,0]", 4, &n), REPORT_PRESCAN_OK);
    assert_int_equal(n, 4);
    assert_int_equal(scan("[0,0,0]", 3, &n), REPORT_PRESCAN_TOO_MANY);
    assert_int_equal(n, 4);
    assert_int_equal(scan("[0,0,0,", 3, &n), REPORT_PRESCAN_TOO_MANY);
    size_t len = 3u * 1000000;
    char *big = xmalloc(len);
    big[0] = '[';
    for (size_t i = 1; i + 3 < len; i += 3)
        memcpy(big + i, "{},", 3);
    struct report_prescan ps;
    assert_int_equal(report_prescan(big, len, 100000, &ps), REPORT_PRESCAN_TOO_MANY);
    assert_int_equal(ps.values, 100001);
    assert_true(ps.offset < 400000); /* stopped early, not at the end */
    free(big);
}

static void test_depth(void **state)
{
    char buf[2 * (REPORT_PRESCAN_MAX_DEPTH + 1) + 1];
    for (size_t d = REPORT_PRESCAN_MAX_DEPTH; d <= REPORT_PRESCAN_MAX_DEPTH + 1; d++) {
        memset(buf, '[', d);
        memset(buf + d, ']', d);
        struct report_prescan ps;
        enum report_prescan_result r = report_prescan(buf, 2 * d, 1u << 20, &ps);
        if (d == REPORT_PRESCAN_MAX_DEPTH) {
            assert_int_equal(r, REPORT_PRESCAN_OK);
            assert_int_equal(ps.values, d);
            assert_int_equal(ps.max_depth, d);
        } else {
            assert_int_equal(r, REPORT_PRESCAN_INVALID);
        }
    }
    /* Objects and arrays mixed: each closes with its own bracket. */
    assert_int_equal(report_prescan("[{\"a\":[{}]}]", 12, 100, NULL), REPORT_PRESCAN_OK);
    assert_int_equal(report_prescan("[{\"a\":[{]}]}", 12, 100, NULL), REPORT_PRESCAN_INVALID);
}

/* Every sample jansson reads gets the same count from the scan. */
static void test_agrees_with_jansson(void **state)
{
    const char *data = getenv("STSD_TEST_DATA");
    assert_non_null(data);
    const char *dirs[] = {"tlsrpt/valid", "tlsrpt/invalid"};
    size_t checked = 0;
    for (size_t k = 0; k < 2; k++) {
        char *dir = xasprintf("%s/%s", data, dirs[k]);
        DIR *d = opendir(dir);
        assert_non_null(d);
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            size_t nl = strlen(e->d_name);
            if (nl < 5 || strcmp(e->d_name + nl - 5, ".json") != 0)
                continue;
            char *path = xasprintf("%s/%s", dir, e->d_name);
            size_t len;
            char *in = file_read_all(path, 1 << 26, &len);
            assert_non_null(in);
            json_t *j = json_loadb(in, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
            struct report_prescan ps;
            enum report_prescan_result r = report_prescan(in, len, SIZE_MAX - 1, &ps);
            if (j != NULL && (r != REPORT_PRESCAN_OK || ps.values != rt_json_values(j)))
                fail_msg("%s: scan %d with %zu values, jansson %zu", path, r, ps.values,
                         rt_json_values(j));
            checked += j != NULL;
            json_decref(j);
            free(in);
            free(path);
        }
        closedir(d);
        free(dir);
    }
    assert_true(checked > 20);
}

static void test_budget(void **state)
{
    struct report_budget b;
    report_budget_init(&b, 100);
    assert_int_equal(report_budget_take(&b, 60), 0);
    assert_int_equal(report_budget_take(&b, 41), -1);
    assert_int_equal(report_budget_take(&b, 40), 0);
    assert_int_equal(report_budget_used(&b), 100);
    assert_int_equal(report_budget_take(&b, 1), -1);
    assert_int_equal(report_budget_take(&b, SIZE_MAX), -1);
    report_budget_give(&b, 100);
    assert_int_equal(report_budget_used(&b), 0);
    assert_int_equal(report_budget_take(NULL, SIZE_MAX), 0);
    report_budget_give(NULL, 5);
}

/* A valid report whose unknown member holds `n` empty objects: the value bomb. */
static char *bomb_json(size_t n, size_t *len)
{
    static const char head[] =
        "{\"organization-name\":\"o\",\"date-range\":{\"start-datetime\":\"2026-01-01T00:00:00Z\","
        "\"end-datetime\":\"2026-01-02T00:00:00Z\"},\"contact-info\":\"c\",\"report-id\":\"r\","
        "\"policies\":[],\"x\":[";
    size_t hl = strlen(head);
    char *s = xmalloc(hl + 3 * n + 3);
    memcpy(s, head, hl);
    size_t o = hl;
    for (size_t i = 0; i < n; i++) {
        memcpy(s + o, i ? ",{}" : "{}", i ? 3 : 2);
        o += i ? 3 : 2;
    }
    memcpy(s + o, "]}", 3);
    *len = o + 2;
    return s;
}

static void test_body_limited(void **state)
{
    struct report_budget b;
    report_budget_init(&b, 64u << 20);
    struct report_body_limits lim = {.max_json = 20u << 20, .max_values = 100000, .budget = &b};
    struct report r;
    struct report_error err;
    size_t held = 1;

    /* Small: stored, and it holds its share of the budget until the caller gives it back. */
    size_t jl;
    char *ok = bomb_json(10, &jl);
    assert_int_equal(report_parse_body_limited(ok, jl, &lim, &r, &held, &err), 0);
    assert_string_equal(r.organization_name, "o");
    assert_int_equal(report_budget_used(&b), held);
    assert_true(held >= jl && held < jl + 40 * REPORT_BYTES_PER_VALUE);
    report_budget_give(&b, held);
    report_clear(&r);
    size_t zl;
    unsigned char *z = rt_gzip(ok, jl, &zl);
    assert_int_equal(report_parse_body_limited(z, zl, &lim, &r, &held, &err), 0);
    report_budget_give(&b, held);
    report_clear(&r);
    free(z);
    free(ok);
    assert_int_equal(report_budget_used(&b), 0);

    /* 6.5 M empty objects in 20 MB, ~20 KB of gzip: 413 before any tree, nothing held. */
    char *big = bomb_json(6500000, &jl);
    z = rt_gzip(big, jl, &zl);
    assert_true(zl < 64 * 1024);
    held = 1;
    assert_int_equal(report_parse_body_limited(z, zl, &lim, &r, &held, &err), 413);
    assert_int_equal(held, 0);
    assert_string_equal(err.path, "body");
    assert_non_null(strstr(err.message, "max_values"));
    assert_null(r.policies);
    assert_int_equal(report_budget_used(&b), 0);
    /* Plain, the same. */
    assert_int_equal(report_parse_body_limited(big, jl, &lim, &r, &held, &err), 413);

    /* The bomb is refused on its first 4 x max_values bytes: a budget of 1 MiB is enough. */
    report_budget_init(&b, 1u << 20);
    assert_int_equal(report_parse_body_limited(z, zl, &lim, &r, &held, &err), 413);
    assert_int_equal(report_budget_used(&b), 0);
    /* A budget smaller than that first step: 503. */
    report_budget_init(&b, 256u << 10);
    assert_int_equal(report_parse_body_limited(z, zl, &lim, &r, &held, &err), 503);
    assert_non_null(strstr(err.message, "budget"));
    assert_int_equal(report_budget_used(&b), 0);
    /* 2 MB of text in one string: measured, and a budget smaller than that is a 503 before
     * it is inflated. */
    char *one = bomb_json(1, &jl);
    char *padded = xasprintf("{\"pad\":\"%0*d\",%s", 2000000, 0, one + 1);
    size_t pl;
    unsigned char *pz = rt_gzip(padded, strlen(padded), &pl);
    report_budget_init(&b, 1u << 20);
    assert_int_equal(report_parse_body_limited(pz, pl, &lim, &r, &held, &err), 503);
    assert_int_equal(report_budget_used(&b), 0);
    report_budget_init(&b, 16u << 20);
    assert_int_equal(report_parse_body_limited(pz, pl, &lim, &r, &held, &err), 0);
    assert_int_equal(report_budget_used(&b), held);
    report_budget_give(&b, held);
    report_clear(&r);
    free(pz);
    free(padded);
    free(one);
    /* Room for the text but not the tree: 503 again, nothing left held. */
    char *mid = bomb_json(50000, &jl);
    report_budget_init(&b, 4u << 20);
    assert_int_equal(report_parse_body_limited(mid, jl, &lim, &r, &held, &err), 503);
    assert_int_equal(report_budget_used(&b), 0);
    /* With room it parses, and the invalid case gives everything back. */
    report_budget_init(&b, 64u << 20);
    assert_int_equal(report_parse_body_limited(mid, jl, &lim, &r, &held, &err), 0);
    report_budget_give(&b, held);
    report_clear(&r);
    mid[jl - 1] = ',';
    assert_int_equal(report_parse_body_limited(mid, jl, &lim, &r, &held, &err), 400);
    assert_string_equal(err.path, "$");
    assert_int_equal(report_budget_used(&b), 0);
    free(mid);
    free(z);
    free(big);
}

/* Quick mode handles up to REPORT_BODY_QUICK bytes of JSON and hands back anything larger
 * at once, holding nothing; without it, the same body gets its real answer. */
static void test_body_quick(void **state)
{
    struct report_budget b;
    report_budget_init(&b, 64u << 20);
    struct report_body_limits lim = {
        .max_json = 20u << 20, .max_values = 100000, .budget = &b, .quick = 1};
    struct report r;
    struct report_error err;
    size_t held = 1, jl, zl;
    char *small = bomb_json(10, &jl);
    assert_int_equal(report_parse_body_limited(small, jl, &lim, &r, &held, &err), 0);
    report_budget_give(&b, held);
    report_clear(&r);
    char *big = bomb_json(REPORT_BODY_QUICK / 3 + 10, &jl); /* just past the quick size */
    unsigned char *z = rt_gzip(big, jl, &zl);
    assert_int_equal(report_parse_body_limited(big, jl, &lim, &r, &held, &err), REPORT_BODY_LARGE);
    assert_int_equal(report_parse_body_limited(z, zl, &lim, &r, &held, &err), REPORT_BODY_LARGE);
    assert_int_equal(held, 0);
    assert_int_equal(report_budget_used(&b), 0);
    /* A gzip inside the gzip is measured by the large path too. */
    size_t z2l;
    unsigned char *z2 = rt_gzip(z, zl, &z2l);
    assert_int_equal(report_parse_body_limited(z2, z2l, &lim, &r, &held, &err), REPORT_BODY_LARGE);
    lim.quick = 0;
    assert_int_equal(report_parse_body_limited(z, zl, &lim, &r, &held, &err), 0);
    report_budget_give(&b, held);
    report_clear(&r);
    assert_int_equal(report_parse_body_limited(z2, z2l, &lim, &r, &held, &err), 400);
    assert_int_equal(report_budget_used(&b), 0);
    /* With max_json under the quick size, past it is a 413 in quick mode already. */
    lim.quick = 1;
    lim.max_json = 1000;
    assert_int_equal(report_parse_body_limited(z, zl, &lim, &r, &held, &err), 413);
    free(z2);
    free(z);
    free(big);
    free(small);
}

UNIT_TESTS(NULL, cmocka_unit_test(test_counts), cmocka_unit_test(test_invalid),
           cmocka_unit_test(test_too_many), cmocka_unit_test(test_depth),
           cmocka_unit_test(test_agrees_with_jansson), cmocka_unit_test(test_budget),
           cmocka_unit_test(test_body_limited), cmocka_unit_test(test_body_quick))
