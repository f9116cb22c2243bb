/* test_sched.c - when to order (acme_needs_cert), the backoff after failures (acme_backoff) and
 * the CA's Retry-After (acme_retry_after). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "acme/acme_int.h"
#include "tests/unit/unit_test.h"

#include <time.h>

/* 2015-10-21T07:28:00Z, the date of RFC 9110's example's day-of-week shape */
static const int64_t now = 1445412480;

/* A Retry-After value and the seconds it means at `now`. */
struct ra_case {
    const char *value;
    long want;
};

static void test_retry_after(void **state)
{
    static const struct ra_case c[] = {
        /* delta-seconds */
        {"120", 120},
        {"0", 0},
        {"  7 ", 7},
        {"604800", 604800},
        /* huge values are read as a week, never overflow */
        {"604801", 604800},
        {"99999999999999999999999999999999", 604800},
        /* garbage */
        {NULL, 0},
        {"", 0},
        {"   ", 0},
        {"-5", 0},
        {"+5", 0},
        {"5s", 0},
        {"1.5", 0},
        {"0x10", 0},
        {"soon", 0},
        {"Wed, 21 Oct 2015 07:28:00 GMT trailing", 0},
        {"Wed, 32 Oct 2015 07:28:00 GMT", 0},
        /* IMF-fixdate (RFC 9110 section 5.6.7) */
        {"Wed, 21 Oct 2015 07:30:00 GMT", 120},
        {"Thu, 22 Oct 2015 07:28:00 GMT", 86400},
        /* the two obsolete forms a recipient must accept */
        {"Wednesday, 21-Oct-15 07:29:00 GMT", 60},
        {"Wed Oct 21 07:28:30 2015", 30},
        /* now or in the past: no wait; far in the future: a week */
        {"Wed, 21 Oct 2015 07:28:00 GMT", 0},
        {"Tue, 20 Oct 2015 07:28:00 GMT", 0},
        {"Fri, 31 Dec 9999 23:59:59 GMT", 604800},
    };
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        long got = acme_retry_after(c[i].value, now);
        if (got != c[i].want)
            fail_msg("'%s': got %ld want %ld", c[i].value ? c[i].value : "(null)", got, c[i].want);
    }
}

static void test_backoff(void **state)
{
    const uint32_t mid = 1000; /* rnd % 2001 == 1000: no jitter */
    assert_int_equal(acme_backoff(1, mid, 0), 60);
    assert_int_equal(acme_backoff(2, mid, 0), 120);
    assert_int_equal(acme_backoff(3, mid, 0), 240);
    assert_int_equal(acme_backoff(11, mid, 0), 61440);
    assert_int_equal(acme_backoff(12, mid, 0), 86400);
    assert_int_equal(acme_backoff(1000, mid, 0), 86400);
    assert_int_equal(acme_backoff(2147483647, mid, 0), 86400);
    assert_int_equal(acme_backoff(0, mid, 0), 60);
    assert_int_equal(acme_backoff(-3, mid, 0), 60);
    /* the jitter's ends: -10 % and +10 % */
    assert_int_equal(acme_backoff(1, 0, 0), 54);
    assert_int_equal(acme_backoff(1, 2000, 0), 66);
    assert_int_equal(acme_backoff(12, 0, 0), 77760);
    assert_int_equal(acme_backoff(12, 2000, 0), 95040);
    /* any random value stays within +-10 % */
    for (uint32_t r = 0; r < 200000; r += 7) {
        uint32_t rnd = r * 2654435761u;
        for (int f = 1; f <= 14; f++) {
            int64_t base = f >= 12 ? 86400 : (int64_t)60 << (f - 1);
            int64_t b = acme_backoff(f, rnd, 0);
            assert_true(b >= base - base / 10 && b <= base + base / 10);
        }
    }
    /* never less than the CA's Retry-After */
    assert_int_equal(acme_backoff(1, mid, 3600), 3600);
    assert_int_equal(acme_backoff(1, 2000, 61), 66);
    assert_int_equal(acme_backoff(12, 2000, 604800), 604800);
}

static void test_needs_cert(void **state)
{
    const int64_t day = 86400, rb = 30 * day;
    struct {
        int64_t not_after;
        int covers;
        int64_t renew_before;
        int want;
    } cases[] = {
        {0, 1, rb, 1},                              /* no certificate */
        {0, 0, rb, 1},                              /* none, and nothing covers */
        {now + 90 * day, 0, rb, 1},                 /* does not cover the name */
        {now + 90 * day, 1, rb, 0},                 /* fresh */
        {now + 30 * day + 1, 1, rb, 0},             /* one second before the renewal window */
        {now + 30 * day, 1, rb, 1},                 /* the window opens */
        {now + 29 * day, 1, rb, 1},                 /* inside it */
        {now - 1, 1, rb, 1},                        /* expired */
        {now + 5 * 365 * day, 1, 5 * 365 * day, 1}, /* a huge renew_before forces renewal */
        {now + 1, 1, 0, 0},                         /* renew_before 0: until the end */
        {now, 1, 0, 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int got = acme_needs_cert(now, cases[i].not_after, cases[i].covers, cases[i].renew_before);
        if (got != cases[i].want)
            fail_msg("case %zu: got %d want %d", i, got, cases[i].want);
    }
}

UNIT_TESTS(NULL, cmocka_unit_test(test_retry_after), cmocka_unit_test(test_backoff),
           cmocka_unit_test(test_needs_cert))
