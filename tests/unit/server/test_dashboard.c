/* test_dashboard.c - unit tests of the dashboard's pure parts: what needs attention, the
 * order of the overview, search, paging, days left and URL escaping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "server/admin_int.h"
#include "tests/unit/unit_test.h"

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
        {"a.pem", "CN=CA", NOW + 10 * DAY},
        {"b.pem", "CN=CA", NOW + 20 * DAY},
        {"w.pem", "CN=CA", NOW + 30 * DAY},
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

UNIT_TESTS(NULL, cmocka_unit_test(test_attention), cmocka_unit_test(test_sort),
           cmocka_unit_test(test_match), cmocka_unit_test(test_page),
           cmocka_unit_test(test_days_left), cmocka_unit_test(test_url),
           cmocka_unit_test(test_certs_find))
