/* test_dashboard.c - unit tests of the dashboard's pure parts: what needs attention, the
 * order of the overview, search, paging, days left, URL escaping, the certificate card and
 * the ACME and certificate series of /metrics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "server/admin_int.h"
#include "hosted/hosted.h"
#include "tests/unit/unit_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY 86400
static const time_t NOW = 1800000000;

/* A healthy row: a certificate for 60 days, checked, DNS publishes the served id. */
static struct admin_row healthy(const char *domain)
{
    struct admin_row r = {0};
    r.domain = domain;
    r.id = "20261201T000000";
    r.checked = 1;
    r.dns_id = "20261201T000000";
    r.has_cert = 1;
    r.cert_not_after = NOW + 60 * DAY;
    r.successful = 100;
    return r;
}

static void test_attention(void **state)
{
    (void)state;
    struct admin_row r = healthy("a.test");
    assert_int_equal(srv__admin_attention(&r, NOW), 0);
    r.failed = 1;
    assert_int_equal(srv__admin_attention(&r, NOW), ADMIN_ATT_SESSIONS);
    r = healthy("a.test");
    r.has_cert = 0;
    assert_int_equal(srv__admin_attention(&r, NOW), ADMIN_ATT_CERT);
    r.has_cert = 1;
    r.cert_not_after = NOW + 14 * DAY; /* 14 whole days: fine */
    assert_int_equal(srv__admin_attention(&r, NOW), 0);
    r.cert_not_after = NOW + 14 * DAY - 1; /* 13 days and a bit */
    assert_int_equal(srv__admin_attention(&r, NOW), ADMIN_ATT_CERT);
    r.cert_not_after = NOW - 1; /* expired */
    assert_int_equal(srv__admin_attention(&r, NOW), ADMIN_ATT_CERT);
    r = healthy("a.test");
    r.dns_id = "20200101T000000";
    assert_int_equal(srv__admin_attention(&r, NOW), ADMIN_ATT_STALE_ID);
    r.dns_id = NULL; /* DNS publishes none */
    assert_int_equal(srv__admin_attention(&r, NOW), ADMIN_ATT_STALE_ID);
    r.id = ""; /* the served id is unknown: nothing to compare */
    assert_int_equal(srv__admin_attention(&r, NOW), 0);
    r = healthy("a.test");
    r.checked = 0; /* never checked: neither stale nor failing */
    r.dns_id = NULL;
    r.check_errors = 3;
    assert_int_equal(srv__admin_attention(&r, NOW), 0);
    r.checked = 1;
    r.dns_id = r.id;
    assert_int_equal(srv__admin_attention(&r, NOW), ADMIN_ATT_CHECK);
    r.check_errors = 0;
    r.check_warnings = 5; /* warnings only: no attention */
    assert_int_equal(srv__admin_attention(&r, NOW), 0);
    r.stale = 1;
    r.failed = 2;
    assert_int_equal(srv__admin_attention(&r, NOW), ADMIN_ATT_FILE | ADMIN_ATT_SESSIONS);
    r = healthy("a.test");
    r.broken = 1; /* never parsed: nothing served, the same reason */
    r.id = "";
    r.mode = -1;
    assert_int_equal(srv__admin_attention(&r, NOW), ADMIN_ATT_FILE);
    r = healthy("a.test");
    r.acme_failing = 1; /* ACME keeps failing while the certificate is still fine */
    assert_int_equal(srv__admin_attention(&r, NOW), ADMIN_ATT_ACME);
}

static void test_acme_failing(void **state)
{
    (void)state;
    assert_true(srv__acme_failing("failed", 1));
    assert_true(srv__acme_failing("pending", 3)); /* a retry after failures */
    assert_false(srv__acme_failing("failed", 0));
    assert_false(srv__acme_failing("ok", 0));
    assert_false(srv__acme_failing("ok", 2)); /* a success ends the run of failures */
    assert_false(srv__acme_failing("", 0));
    assert_false(srv__acme_failing(NULL, 2));
}

static void test_sort(void **state)
{
    (void)state;
    struct admin_row v[5] = {healthy("a.test"), healthy("b.test"), healthy("c.test"),
                             healthy("d.test"), healthy("e.test")};
    v[3].attention = ADMIN_ATT_CERT;
    v[4].attention = ADMIN_ATT_CHECK | ADMIN_ATT_SESSIONS;
    v[2].attention = ADMIN_ATT_STALE_ID;
    srv__admin_rows_sort(v, 5);
    const char *want[] = {"e.test", "c.test", "d.test", "a.test", "b.test"};
    for (int i = 0; i < 5; i++)
        assert_string_equal(v[i].domain, want[i]);
    srv__admin_rows_sort(v, 0);
    /* A file serving nothing comes before any number of other reasons. */
    v[4].broken = 1; /* b.test */
    v[4].attention = ADMIN_ATT_FILE;
    v[3].broken = 1; /* a.test */
    v[3].attention = ADMIN_ATT_FILE | ADMIN_ATT_CERT;
    srv__admin_rows_sort(v, 5);
    const char *want2[] = {"a.test", "b.test", "e.test", "c.test", "d.test"};
    for (int i = 0; i < 5; i++)
        assert_string_equal(v[i].domain, want2[i]);
}

static void test_match(void **state)
{
    (void)state;
    assert_true(srv__admin_row_match("mail.example.com", ""));
    assert_true(srv__admin_row_match("mail.example.com", NULL));
    assert_true(srv__admin_row_match("mail.example.com", "example"));
    assert_true(srv__admin_row_match("mail.example.com", "mail.example.com"));
    assert_false(srv__admin_row_match("mail.example.com", "examples"));
    assert_false(srv__admin_row_match("a.test", "<b>"));
}

static void test_page(void **state)
{
    (void)state;
    size_t first, count, cur;
    assert_int_equal(srv__admin_page(0, 1, 50, &first, &count, &cur), 1);
    assert_int_equal(first, 0);
    assert_int_equal(count, 0);
    assert_int_equal(cur, 1);
    assert_int_equal(srv__admin_page(114, 1, 50, &first, &count, &cur), 3);
    assert_int_equal(first, 0);
    assert_int_equal(count, 50);
    assert_int_equal(srv__admin_page(114, 3, 50, &first, &count, &cur), 3);
    assert_int_equal(first, 100);
    assert_int_equal(count, 14);
    /* past the end: the last page; 0 (not a number): the first */
    srv__admin_page(114, 99, 50, &first, &count, &cur);
    assert_int_equal(cur, 3);
    assert_int_equal(first, 100);
    srv__admin_page(114, 0, 50, &first, &count, &cur);
    assert_int_equal(cur, 1);
    assert_int_equal(srv__admin_page(100, 2, 50, &first, &count, &cur), 2);
    assert_int_equal(count, 50);
    assert_int_equal(srv__admin_page(10000, 200, 50, &first, &count, &cur), 200);
    assert_int_equal(first, 9950);
}

static void test_days_left(void **state)
{
    (void)state;
    assert_int_equal(srv__days_left(NOW + 10 * DAY, NOW), 10);
    assert_int_equal(srv__days_left(NOW + 10 * DAY - 1, NOW), 9);
    assert_int_equal(srv__days_left(NOW, NOW), 0);
    assert_int_equal(srv__days_left(NOW - 1, NOW), -1);
    assert_int_equal(srv__days_left(NOW - DAY, NOW), -1);
    assert_int_equal(srv__days_left(NOW - DAY - 1, NOW), -2);
    assert_true(srv__cert_soon(13));
    assert_false(srv__cert_soon(14));
    assert_true(srv__cert_soon(-3));
}

static void test_url(void **state)
{
    (void)state;
    struct admin_buf b = {0};
    srv__buf_url(&b, "a b&c=<\"d\">/e.f-g_h~\xc3\xa9");
    assert_string_equal(b.p, "a%20b%26c%3D%3C%22d%22%3E%2Fe.f-g_h~%C3%A9");
    free(b.p);
}

static void test_certs_find(void **state)
{
    (void)state;
    struct admin_cert_fact certs[] = {
        {"a.pem", "CN=CA", NOW + 10 * DAY, "file"},
        {"b.pem", "CN=CA", NOW + 20 * DAY, "acme"},
        {"w.pem", "CN=CA", NOW + 30 * DAY, "file"},
    };
    /* sorted by name, as srv__admin_certs_view builds it */
    struct admin_cert_name names[] = {
        {"*.wild.test", 2},       {"mta-sts.a.test", 0},    {"mta-sts.both.test", 0},
        {"mta-sts.both.test", 1}, {"mta-sts.wild.test", 0},
    };
    struct admin_certs_view cv = {.certs = certs, .n = 3, .names = names, .n_names = 5};
    assert_ptr_equal(srv__admin_certs_find(&cv, "a.test"), &certs[0]);
    /* two certificates serve the name: the one that expires last */
    assert_ptr_equal(srv__admin_certs_find(&cv, "both.test"), &certs[1]);
    /* the name itself before a wildcard */
    assert_ptr_equal(srv__admin_certs_find(&cv, "wild.test"), &certs[0]);
    /* a wildcard for *.<domain> covers mta-sts.<domain>; not a deeper name */
    names[4].name = "mta-sts.other.test";
    assert_ptr_equal(srv__admin_certs_find(&cv, "wild.test"), &certs[2]);
    assert_null(srv__admin_certs_find(&cv, "sub.wild.test"));
    assert_null(srv__admin_certs_find(&cv, "none.test"));
    assert_null(srv__admin_certs_find(NULL, "a.test"));
}

/* Whether `line` (a whole line, with its newline) is in the text. */
static int has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
        if (p == text || p[-1] == '\n')
            return p[n - 1] == '\n';
    return 0;
}

static void test_acme_metrics(void **state)
{
    (void)state;
    struct admin_cert_fact certs[] = {
        {"a.pem", "CN=CA", NOW + 5 * DAY + DAY / 2, "file"},
        {"c.pem", "CN=Pebble", NOW - DAY / 4, "acme"},
    };
    struct admin_cert_name names[] = {{"mta-sts.a.test", 0}, {"mta-sts.c.test", 1}};
    struct admin_certs_view cv = {.certs = certs, .n = 2, .names = names, .n_names = 2};
    struct srv__metrics_domain doms[] = {{.domain = "a.test"},
                                         {.domain = "b.test"},
                                         {.domain = "c\"q.test"},
                                         {.domain = "c.test"},
                                         {.domain = "x\\y\nz"}};
    struct srv__acme_brief rows[] = {
        {"b.test", "failed", 3, NOW + 3600, 0},
        {"c.test", "ok", 0, 0, 0},
        {"gone.test", "failed", 9, NOW + 60, 0}, /* no longer hosted: no series */
    };
    struct srv_acme_stats st = {
        .orders = {4, 2, 0, 0, 0, 0, 1}, .in_flight = 1, .in_flight_max = 5, .enabled = 1};
    struct admin_buf b = {0};
    srv__metrics_acme_write(&b, &st, doms, 5, &cv, rows, 3, NOW);
    const char *const want[] = {
        "# TYPE stsd_acme_enabled gauge\n",
        "stsd_acme_enabled 1\n",
        "# TYPE stsd_acme_orders_total counter\n",
        "stsd_acme_orders_total{result=\"ok\"} 4\n",
        "stsd_acme_orders_total{result=\"network\"} 2\n",
        "stsd_acme_orders_total{result=\"rate_limited\"} 0\n",
        "stsd_acme_orders_total{result=\"challenge\"} 0\n",
        "stsd_acme_orders_total{result=\"ca\"} 0\n",
        "stsd_acme_orders_total{result=\"protocol\"} 0\n",
        "stsd_acme_orders_total{result=\"local\"} 1\n",
        "stsd_acme_orders_in_flight 1\n",
        "stsd_acme_orders_in_flight_max 5\n",
        "stsd_certificate_days_left{domain=\"a.test\"} 5.500\n",
        "stsd_certificate_days_left{domain=\"c.test\"} -0.250\n",
        "stsd_certificate_source{domain=\"a.test\",source=\"file\"} 1\n",
        "stsd_certificate_source{domain=\"b.test\",source=\"none\"} 1\n",
        "stsd_certificate_source{domain=\"c\\\"q.test\",source=\"none\"} 1\n",
        "stsd_certificate_source{domain=\"c.test\",source=\"acme\"} 1\n",
        "stsd_certificate_source{domain=\"x\\\\y\\nz\",source=\"none\"} 1\n",
        "stsd_acme_failures{domain=\"b.test\"} 3\n",
        "stsd_acme_failures{domain=\"c.test\"} 0\n",
        "stsd_acme_next_attempt_timestamp_seconds{domain=\"b.test\"} 1800003600\n",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        if (!has_line(b.p, want[i]))
            fail_msg("missing %s in:\n%s", want[i], b.p);
    /* no certificate: no days left; no row or no next attempt: no series; not hosted: none */
    assert_null(strstr(b.p, "stsd_certificate_days_left{domain=\"b.test\"}"));
    assert_null(strstr(b.p, "stsd_acme_failures{domain=\"a.test\"}"));
    assert_null(strstr(b.p, "stsd_acme_next_attempt_timestamp_seconds{domain=\"c.test\"}"));
    assert_null(strstr(b.p, "gone.test"));
    /* every sample line belongs to a declared family */
    size_t samples = 0;
    for (const char *p = b.p; *p; p = strchr(p, '\n') + 1)
        samples += *p != '#';
    assert_int_equal(samples, 20);
    free(b.p);
}

static void test_cert_card(void **state)
{
    (void)state;
    struct admin_domain d = {0};
    d.domain = "a.test";
    d.has_cert = 1;
    d.cert_file = "/var/lib/stsd/certs/mta-sts.a.test.pem";
    d.cert_issuer = "CN=Pebble Intermediate CA <1>";
    d.cert_not_after = NOW + 5 * DAY + 10;
    snprintf(d.cert_source, sizeof(d.cert_source), "acme");
    struct hosted_acme a = {0};
    a.domain = "a.test";
    snprintf(a.state, sizeof(a.state), "failed");
    a.failures = 4;
    a.next_attempt = NOW + 960;
    a.last_success = NOW - 80 * DAY;
    a.last_error = "network: connect to <127.0.0.1:9> & no";
    struct admin_buf b = {0};
    srv__admin_cert_card(&b, &d, &a, 1, NOW);
    const char *const want[] = {
        "<td>mta-sts.a.test.pem</td>",
        "<td data-k=\"issuer\">CN=Pebble Intermediate CA &lt;1&gt;</td>",
        "<td data-k=\"not_after\">2027-01-20T08:00:10Z</td>",
        "<td data-k=\"days_left\" class=\"bad\">5</td>",
        "<td data-k=\"source\">acme</td>",
        "<td data-k=\"acme_state\" class=\"bad\">failed</td>",
        "<td data-k=\"acme_failures\">4</td>",
        "<td data-k=\"acme_last_error\">network: connect to &lt;127.0.0.1:9&gt; &amp; no</td>",
        "<td data-k=\"acme_next_attempt\">2027-01-15T08:16:00Z</td>",
        "<td data-k=\"acme_last_success\">2026-10-27T08:00:00Z</td>",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        if (strstr(b.p, want[i]) == NULL)
            fail_msg("missing %s in:\n%s", want[i], b.p);
    assert_null(strstr(b.p, "<script"));
    free(b.p);

    /* no certificate, never ordered */
    struct admin_domain none = {0};
    none.domain = "b.test";
    struct hosted_acme zero = {0};
    memset(&b, 0, sizeof(b));
    srv__admin_cert_card(&b, &none, &zero, 1, NOW);
    assert_non_null(strstr(b.p, "<td data-k=\"source\">none</td>"));
    assert_non_null(strstr(b.p, "<td data-k=\"acme_state\" class=\"\">not ordered yet</td>"));
    assert_non_null(strstr(b.p, "<td data-k=\"acme_last_error\">none</td>"));
    assert_non_null(strstr(b.p, "<td data-k=\"acme_last_success\">never</td>"));
    assert_non_null(strstr(b.p, "until ACME obtains one"));
    assert_null(strstr(b.p, "days_left"));
    free(b.p);

    /* ACME off: no ACME rows at all; a file certificate */
    snprintf(d.cert_source, sizeof(d.cert_source), "file");
    memset(&b, 0, sizeof(b));
    srv__admin_cert_card(&b, &d, NULL, 0, NOW);
    assert_string_equal(
        b.p, "<table class=\"cert\" id=\"cert-card\"><tr><th>file</th><td>mta-sts.a.test.pem</td>"
             "</tr><tr><th>issuer</th><td data-k=\"issuer\">CN=Pebble Intermediate CA &lt;1&gt;"
             "</td></tr><tr><th>not after</th><td data-k=\"not_after\">2027-01-20T08:00:10Z</td>"
             "</tr><tr><th>days left</th><td data-k=\"days_left\" class=\"bad\">5</td></tr>"
             "<tr><th>source</th><td data-k=\"source\">file</td></tr></table>");
    free(b.p);
}

UNIT_TESTS(NULL, cmocka_unit_test(test_attention), cmocka_unit_test(test_sort),
           cmocka_unit_test(test_match), cmocka_unit_test(test_page),
           cmocka_unit_test(test_days_left), cmocka_unit_test(test_url),
           cmocka_unit_test(test_certs_find), cmocka_unit_test(test_acme_failing),
           cmocka_unit_test(test_acme_metrics), cmocka_unit_test(test_cert_card))
