/* test_summary.c - unit tests of reports/summary.c: rates, sorting and the JSON, CSV and text
 * forms of summaries, report lists and single reports, on hand-made structs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/unit_test.h"

#include "reports/reports.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 1704067200 /* 2024-01-01T00:00:00Z */

static struct report_summary_row result_rows[] = {
    {"validation-failure", 1, -1, 2},
    {"certificate-expired", 2, -1, 20},
    {"a-tie", 1, -1, 2},
};
static struct report_summary_row mx_rows[] = {
    {"mx2.example.com", 1, -1, 4},
    {"mx1.example.com", 2, -1, 20},
};
static struct report_summary_row reporter_rows[] = {
    {"Microsoft Corporation", 1, 7, 0},
    {"Google Inc.", 7, 4000, 11},
    {"Example, \"Inc.\"", 1, 0, 0},
};
static struct report_summary_row day_rows[] = {
    {"2024-01-02", 2, 300, 4},
    {"2024-01-01", 1, 150, 6},
};

static struct report_summary make_summary(enum report_group by)
{
    struct report_summary s = {
        .since = T0,
        .until = T0 + 30 * 86400 + 3600,
        .domain = NULL,
        .by = by,
        .reports = 9,
        .successful = 4007,
        .failed = 11,
        .by_result_type = {result_rows, 3},
        .by_mx = {mx_rows, 2},
        .by_reporter = {reporter_rows, 3},
    };
    if (by == REPORT_BY_DAY)
        s.groups = (struct report_summary_rows){day_rows, 2};
    return s;
}

enum printer { SUMMARY_CSV, SUMMARY_TEXT, LIST_CSV, LIST_TEXT, DETAIL_TEXT };

/* What report_summary_csv or _text print for s, report_list_csv or _text for m alone, or
 * report_detail_text for m and r, as a malloc'd string. */
static char *capture(enum printer p, const struct report_summary *s, const struct report_listing *m,
                     const struct report *r)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (p == SUMMARY_CSV)
        report_summary_csv(s, f);
    else if (p == SUMMARY_TEXT)
        report_summary_text(s, f);
    else if (p == LIST_CSV)
        report_list_csv(m, 1, f);
    else if (p == LIST_TEXT)
        report_list_text(m, 1, f);
    else
        report_detail_text(m, r, f);
    fclose(f);
    return buf;
}

/* Every one of the NULL-terminated strings after text is in text. */
static void has_all(const char *text, ...)
{
    va_list ap;
    va_start(ap, text);
    for (const char *n; (n = va_arg(ap, const char *)) != NULL;)
        if (strstr(text, n) == NULL)
            fail_msg("\"%s\" is not in:\n%s", n, text);
    va_end(ap);
}

static void test_group_names(void **state)
{
    const char *names[] = {"none", "day", "domain", "mx", "reporter", "result"};
    for (size_t i = 0; i < 6; i++) {
        enum report_group g;
        assert_int_equal(report_group_parse(names[i], &g), 0);
        assert_int_equal(g, (enum report_group)i);
        assert_string_equal(report_group_name(g), names[i]);
    }
    enum report_group g;
    assert_int_equal(report_group_parse("week", &g), -1);
    assert_int_equal(report_group_parse("", &g), -1);
    assert_int_equal(report_group_parse(NULL, &g), -1);
    assert_int_equal(report_group_parse("Day", &g), -1);
}

static void test_rate_and_time(void **state)
{
    assert_true(report_success_rate(0, 0) < 0);
    assert_true(report_success_rate(99, 1) > 0.98999 && report_success_rate(99, 1) < 0.99001);
    assert_true(report_success_rate(0, 5) == 0.0);
    assert_true(report_success_rate(5, 0) == 1.0);
    assert_true(report_success_rate(-1, 0) < 0);
    char buf[21];
    report_format_time(T0, buf);
    assert_string_equal(buf, "2024-01-01");
    report_format_time(T0 + 3661, buf);
    assert_string_equal(buf, "2024-01-01T01:01:01Z");
}

static void test_sort(void **state)
{
    struct report_summary s = make_summary(REPORT_BY_DAY);
    report_summary_sort(&s);
    /* failed desc, ties by key */
    assert_string_equal(result_rows[0].key, "certificate-expired");
    assert_string_equal(result_rows[1].key, "a-tie");
    assert_string_equal(result_rows[2].key, "validation-failure");
    assert_string_equal(mx_rows[0].key, "mx1.example.com");
    /* reporters by reports desc, ties by key */
    assert_string_equal(reporter_rows[0].key, "Google Inc.");
    assert_string_equal(reporter_rows[1].key, "Example, \"Inc.\"");
    assert_string_equal(reporter_rows[2].key, "Microsoft Corporation");
    /* days in date order */
    assert_string_equal(day_rows[0].key, "2024-01-01");
    assert_string_equal(day_rows[1].key, "2024-01-02");
}

static void test_summary_json(void **state)
{
    struct report_summary s = make_summary(REPORT_BY_NONE);
    report_summary_sort(&s);
    json_t *j = report_summary_json(&s);
    char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(5));
    assert_string_equal(
        text,
        "{\"by_mx\":[{\"failed_sessions\":20,\"mx\":\"mx1.example.com\",\"reports\":2},"
        "{\"failed_sessions\":4,\"mx\":\"mx2.example.com\",\"reports\":1}],"
        "\"by_reporter\":[{\"failed_sessions\":11,\"organization\":\"Google Inc.\",\"reports\":7,"
        "\"success_rate\":0.99726,\"successful_sessions\":4000},"
        "{\"failed_sessions\":0,\"organization\":\"Example, \\\"Inc.\\\"\",\"reports\":1,"
        "\"success_rate\":null,\"successful_sessions\":0},"
        "{\"failed_sessions\":0,\"organization\":\"Microsoft Corporation\",\"reports\":1,"
        "\"success_rate\":1.0,\"successful_sessions\":7}],"
        "\"by_result_type\":[{\"failed_sessions\":20,\"reports\":2,\"result_type\":"
        "\"certificate-expired\"},{\"failed_sessions\":2,\"reports\":1,\"result_type\":"
        "\"a-tie\"},{\"failed_sessions\":2,\"reports\":1,\"result_type\":\"validation-failure\"}],"
        "\"domain\":null,\"since\":\"2024-01-01\",\"totals\":{\"conflicts\":0,\"failed_sessions\":"
        "11,"
        "\"reports\":9,\"success_rate\":0.99726,\"successful_sessions\":4007},"
        "\"until\":\"2024-01-31T01:00:00Z\"}");
    free(text);
    json_decref(j);

    /* With --by: "by" and "groups"; a domain. */
    s = make_summary(REPORT_BY_DAY);
    s.domain = "example.com";
    report_summary_sort(&s);
    j = report_summary_json(&s);
    assert_string_equal(json_string_value(json_object_get(j, "by")), "day");
    assert_string_equal(json_string_value(json_object_get(j, "domain")), "example.com");
    json_t *groups = json_object_get(j, "groups");
    assert_int_equal(json_array_size(groups), 2);
    json_t *g0 = json_array_get(groups, 0);
    assert_string_equal(json_string_value(json_object_get(g0, "key")), "2024-01-01");
    assert_int_equal(json_integer_value(json_object_get(g0, "successful_sessions")), 150);
    assert_int_equal(json_integer_value(json_object_get(g0, "failed_sessions")), 6);
    json_decref(j);

    /* No sessions at all: the rate is null, lists are empty arrays. */
    struct report_summary e = {.since = T0, .until = T0 + 86400};
    j = report_summary_json(&e);
    text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(
        text, "{\"by_mx\":[],\"by_reporter\":[],\"by_result_type\":[],"
              "\"domain\":null,\"since\":\"2024-01-01\",\"totals\":"
              "{\"conflicts\":0,\"failed_sessions\":0,\"reports\":0,\"success_rate\":null,"
              "\"successful_sessions\":0},\"until\":\"2024-01-02\"}");
    free(text);
    json_decref(j);
}

static void test_summary_csv(void **state)
{
    struct report_summary s = make_summary(REPORT_BY_NONE);
    report_summary_sort(&s);
    char *csv = capture(SUMMARY_CSV, &s, NULL, NULL);
    assert_string_equal(csv,
                        "section,key,reports,successful_sessions,failed_sessions,success_rate\r\n"
                        "total,,9,4007,11,0.99726\r\n"
                        "result_type,certificate-expired,2,,20,\r\n"
                        "result_type,a-tie,1,,2,\r\n"
                        "result_type,validation-failure,1,,2,\r\n"
                        "mx,mx1.example.com,2,,20,\r\n"
                        "mx,mx2.example.com,1,,4,\r\n"
                        "reporter,Google Inc.,7,4000,11,0.99726\r\n"
                        "reporter,\"Example, \"\"Inc.\"\"\",1,0,0,\r\n"
                        "reporter,Microsoft Corporation,1,7,0,1.00000\r\n");
    free(csv);
    s = make_summary(REPORT_BY_DAY);
    report_summary_sort(&s);
    csv = capture(SUMMARY_CSV, &s, NULL, NULL);
    assert_string_equal(csv, "day,reports,successful_sessions,failed_sessions,success_rate\r\n"
                             "2024-01-01,1,150,6,0.96154\r\n"
                             "2024-01-02,2,300,4,0.98684\r\n");
    free(csv);
}

static void test_summary_text(void **state)
{
    struct report_summary s = make_summary(REPORT_BY_NONE);
    s.domain = "example.com";
    report_summary_sort(&s);
    char *t = capture(SUMMARY_TEXT, &s, NULL, NULL);
    has_all(t,
            "TLS-RPT reports starting in [2024-01-01, 2024-01-31T01:00:00Z), "
            "policy-domain example.com\n",
            "  reports              9\n", "  failed sessions      11\n", "   99.73%\n",
            "Failures by result type\n", "  certificate-expired", "By reporting organisation\n",
            NULL);
    free(t);
}

static void test_list_and_detail(void **state)
{
    char *domains[] = {"example.com", "example.net"};
    struct report_listing m = {
        .id = 42,
        .organization_name = "Google Inc.",
        .report_id = "r,1",
        .contact_info = NULL,
        .source = "email",
        .start = T0,
        .end = T0 + 86399,
        .received = T0 + 90000,
        .successful = 10,
        .failed = 2,
        .domains = domains,
        .n_domains = 2,
        .gzip = 1,
        .rawsize = 321,
        .counted = 1,
        .dkim = "pass",
        .dkim_domain = "google.com",
    };
    json_t *j = report_list_json(&m, 1, T0, T0 + 86400);
    char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(
        text, "{\"reports\":[{\"conflict_of\":null,\"conflicts\":0,\"contact_info\":null,"
              "\"counted\":true,\"dkim\":\"pass\",\"dkim_detail\":null,"
              "\"dkim_domain\":\"google.com\",\"end\":\"2024-01-01T23:59:59Z\","
              "\"failed_sessions\":2,\"gzip\":true,\"id\":42,\"organization_name\":\"Google Inc.\","
              "\"policy_domains\":[\"example.com\",\"example.net\"],\"raw_size\":321,"
              "\"received\":\"2024-01-02T01:00:00Z\",\"report_id\":\"r,1\",\"source\":\"email\","
              "\"start\":\"2024-01-01T00:00:00Z\",\"successful_sessions\":10}],"
              "\"since\":\"2024-01-01\",\"until\":\"2024-01-02\"}");
    free(text);
    json_decref(j);

    char *buf = capture(LIST_CSV, NULL, &m, NULL);
    assert_string_equal(buf, "id,organization_name,report_id,start,end,received,source,"
                             "policy_domains,successful_sessions,failed_sessions,conflict_of,"
                             "conflicts,dkim,dkim_domain\r\n"
                             "42,Google Inc.,\"r,1\",2024-01-01T00:00:00Z,2024-01-01T23:59:59Z,"
                             "2024-01-02T01:00:00Z,email,example.com;example.net,10,2,,0,pass,"
                             "google.com\r\n");
    free(buf);

    buf = capture(LIST_TEXT, NULL, &m, NULL);
    has_all(buf, "42     2024-01-01T00:00:00Z Google Inc.", " pass      r,1\n", "1 report\n", NULL);
    free(buf);

    char *ps[] = {"version: STSv1", "mode: enforce"};
    char *mx[] = {"*.example.com"};
    struct report_failure fails[] = {{.result_type = "certificate-expired",
                                      .receiving_mx_hostname = "mx1.example.com",
                                      .failed_session_count = 2}};
    struct report_policy pol = {.policy_type = "sts",
                                .policy_string = ps,
                                .n_policy_string = 2,
                                .policy_domain = "example.com",
                                .mx_host = mx,
                                .n_mx_host = 1,
                                .total_successful = 10,
                                .total_failure = 2,
                                .failures = fails,
                                .n_failures = 1};
    struct report r = {.organization_name = "Google Inc.",
                       .report_id = "r,1",
                       .start = T0,
                       .end = T0 + 86399,
                       .policies = &pol,
                       .n_policies = 1};
    j = report_detail_json(&m, &r);
    json_t *p0 = json_array_get(json_object_get(j, "policies"), 0);
    text = json_dumps(p0, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(text, "{\"failed_sessions\":2,\"failure_details\":[{\"failed_session_"
                              "count\":2,\"receiving_mx_hostname\":\"mx1.example.com\","
                              "\"result_type\":\"certificate-expired\"}],\"mx_host\":"
                              "[\"*.example.com\"],\"policy_domain\":\"example.com\","
                              "\"policy_string\":[\"version: STSv1\",\"mode: enforce\"],"
                              "\"policy_type\":\"sts\",\"successful_sessions\":10}");
    free(text);
    assert_int_equal(json_integer_value(json_object_get(j, "id")), 42);
    json_decref(j);

    buf = capture(DETAIL_TEXT, NULL, &m, &r);
    has_all(buf, "report 42\n", "  policy 1: sts example.com, 10 successful, 2 failed\n",
            "    failure: certificate-expired, 2 sessions\n",
            "  dkim               pass d=google.com\n", NULL);
    assert_null(strstr(buf, "conflict"));
    free(buf);
    /* A failure says why; a report that did not come by e-mail has no DKIM line. */
    m.dkim = "fail";
    m.dkim_detail = "body hash mismatch";
    buf = capture(DETAIL_TEXT, NULL, &m, &r);
    has_all(buf, "  dkim               fail d=google.com (body hash mismatch)\n", NULL);
    free(buf);
    m.dkim = m.dkim_domain = m.dkim_detail = NULL;
    buf = capture(DETAIL_TEXT, NULL, &m, &r);
    assert_null(strstr(buf, "dkim"));
    free(buf);

    /* A later copy with other content (a forged or a genuine later copy): marked in every form. */
    m.conflict_of = 41;
    m.counted = 0;
    j = report_list_json(&m, 1, T0, T0 + 86400);
    json_t *l0 = json_array_get(json_object_get(j, "reports"), 0);
    assert_int_equal(json_integer_value(json_object_get(l0, "conflict_of")), 41);
    assert_true(json_is_false(json_object_get(l0, "counted")));
    json_decref(j);
    buf = capture(LIST_CSV, NULL, &m, NULL);
    assert_non_null(strstr(buf, "example.com;example.net,10,2,41,0,,\r\n"));
    free(buf);
    buf = capture(LIST_TEXT, NULL, &m, NULL);
    assert_non_null(strstr(buf, " -         r,1  CONFLICT of 41\n"));
    free(buf);
    buf = capture(DETAIL_TEXT, NULL, &m, &r);
    assert_non_null(strstr(buf, "  conflict           a copy of report 41 with other content under "
                                "the same report-id; not counted in summaries\n"));
    free(buf);
    /* ... and the first copy, which has one later copy. */
    m.conflict_of = 0;
    m.conflicts = 1;
    m.counted = 1;
    buf = capture(LIST_TEXT, NULL, &m, NULL);
    assert_non_null(strstr(buf, "r,1  CONFLICT: 1 other copy\n"));
    free(buf);
}

static void test_summary_conflicts(void **state)
{
    struct report_summary s = make_summary(REPORT_BY_NONE);
    s.conflicts = 2;
    report_summary_sort(&s);
    json_t *j = report_summary_json(&s);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "totals"), "conflicts")),
                     2);
    json_decref(j);
    char *csv = capture(SUMMARY_CSV, &s, NULL, NULL);
    assert_non_null(strstr(csv, "total,,9,4007,11,0.99726\r\nconflicts,,2,,,\r\n"));
    free(csv);
    char *t = capture(SUMMARY_TEXT, &s, NULL, NULL);
    assert_non_null(strstr(t, "  conflicts            2 (copies"));
    free(t);
}

/* Text and CSV from hostile reports: control characters escaped, formulas guarded. */
static void test_hostile_fields(void **state)
{
    struct report_summary_row evil_rows[] = {
        {"-2+3\x1b[2J", 1, -1, 5},
        {"@SUM(A1),\"x\"\r\nEvil", 1, -1, 4},
    };
    struct report_summary s = make_summary(REPORT_BY_NONE);
    s.by_mx = (struct report_summary_rows){evil_rows, 2};
    char *csv = capture(SUMMARY_CSV, &s, NULL, NULL);
    has_all(csv, "\r\nmx,'-2+3\\x1b[2J,1,,5,\r\n",
            "\r\nmx,\"'@SUM(A1),\"\"x\"\"\\r\\nEvil\",1,,4,\r\n", NULL);
    assert_null(strchr(csv, '\x1b'));
    free(csv);
    char *text = capture(SUMMARY_TEXT, &s, NULL, NULL);
    has_all(text, "  -2+3\\x1b[2J ", "  @SUM(A1),\"x\"\\r\\nEvil ", NULL);
    assert_null(strchr(text, '\x1b'));
    assert_null(strchr(text, '\r'));
    free(text);

    char *domains[] = {"@x.test"};
    struct report_listing m = {.id = 7,
                               .organization_name = "=cmd\x1b]0;t\x07",
                               .report_id = "+1,2",
                               .contact_info = "a@b\x1b[8m",
                               .source = "https",
                               .start = T0,
                               .end = T0 + 86399,
                               .received = T0,
                               .domains = domains,
                               .n_domains = 1};
    char *buf = capture(LIST_CSV, NULL, &m, NULL);
    has_all(buf, "\r\n7,'=cmd\\x1b]0;t\\x07,\"'+1,2\",2024-01-01T00:00:00Z,",
            ",https,'@x.test,0,0,,0,,\r\n", NULL);
    free(buf);
    buf = capture(LIST_TEXT, NULL, &m, NULL);
    assert_non_null(strstr(buf, " =cmd\\x1b]0;t\\x07 "));
    assert_null(strchr(buf, '\x1b'));
    free(buf);
    char *mx[] = {"mx\x1b[1m.x.test"};
    struct report_failure fails[] = {{.result_type = "x\x1b[0m",
                                      .additional_information = "\xc2\x9b"
                                                                "31m",
                                      .failed_session_count = 1}};
    struct report_policy pol = {.policy_type = "sts",
                                .policy_domain = "x.test",
                                .mx_host = mx,
                                .n_mx_host = 1,
                                .failures = fails,
                                .n_failures = 1};
    struct report r = {.policies = &pol, .n_policies = 1};
    buf = capture(DETAIL_TEXT, NULL, &m, &r);
    has_all(buf, "  contact-info       a@b\\x1b[8m\n", "    mx-host        mx\\x1b[1m.x.test\n",
            "    failure: x\\x1b[0m, 1 sessions\n", " \\u009b31m\n", NULL);
    assert_null(strchr(buf, '\x1b'));
    free(buf);
}

UNIT_TESTS(NULL, cmocka_unit_test(test_group_names), cmocka_unit_test(test_rate_and_time),
           cmocka_unit_test(test_sort), cmocka_unit_test(test_summary_json),
           cmocka_unit_test(test_summary_csv), cmocka_unit_test(test_summary_text),
           cmocka_unit_test(test_list_and_detail), cmocka_unit_test(test_hostile_fields),
           cmocka_unit_test(test_summary_conflicts))
