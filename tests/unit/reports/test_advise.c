/* test_advise.c - unit tests of the enforce advice (reports/advise.c): each threshold on both
 * sides of its edge, the next mode from each mode, and the max_age of the next step. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/unit_test.h"

#include "reports/reports.h"

#include <string.h>

static struct report_advise_in testing(int64_t days, int64_t ok, int64_t bad, int check, int errors)
{
    struct report_advise_in in = {.valid = 1,
                                  .mode = "testing",
                                  .max_age = 86400,
                                  .days = days,
                                  .successful = ok,
                                  .failed = bad,
                                  .have_check = check,
                                  .check_errors = errors};
    return in;
}

static const char *ids(const struct report_advice *a, char *buf, size_t n)
{
    buf[0] = '\0';
    for (size_t i = 0; i < a->n_blockers; i++) {
        strncat(buf, a->blockers[i].id, n - strlen(buf) - 1);
        strncat(buf, " ", n - strlen(buf) - 1);
    }
    return buf;
}

static void test_testing_to_enforce(void **state)
{
    (void)state;
    char b[200];
    struct report_advice a;
    struct report_advise_in in = testing(14, 1000, 1, 1, 0); /* exactly 0.1% failed */
    report_advise(&in, &a);
    assert_string_equal(a.target, "enforce");
    assert_true(a.ready);
    assert_int_equal(a.n_blockers, 0);
    assert_int_equal(a.max_age, REPORT_ADVISE_GOOD_MAX_AGE); /* raised to a week */
    in = testing(13, 1000, 0, 1, 0);
    report_advise(&in, &a);
    assert_false(a.ready);
    assert_string_equal(ids(&a, b, sizeof(b)), "too-few-days ");
    assert_string_equal(a.blockers[0].message,
                        "reports on 13 day(s) in the window; at least 14 are needed");
    in = testing(20, 998, 2, 1, 0); /* 0.2% */
    report_advise(&in, &a);
    assert_string_equal(ids(&a, b, sizeof(b)), "failures ");
    assert_string_equal(a.blockers[0].message,
                        "2 of 1000 sessions failed (0.20%); at most 0.10% may fail");
    in = testing(5, 100, 5, 0, 0);
    report_advise(&in, &a);
    assert_string_equal(ids(&a, b, sizeof(b)), "too-few-days failures no-check ");
    in = testing(20, 100, 0, 1, 3);
    report_advise(&in, &a);
    assert_string_equal(ids(&a, b, sizeof(b)), "check-errors ");
    assert_string_equal(a.blockers[0].message, "the latest check has 3 error(s); fix them first");
    in.max_age = 2000000;
    in.check_errors = 0;
    report_advise(&in, &a);
    assert_true(a.ready);
    assert_int_equal(a.max_age, 2000000); /* a long one is kept */
}

static void test_other_modes(void **state)
{
    (void)state;
    char b[200];
    struct report_advice a;
    struct report_advise_in in = testing(0, 0, 0, 1, 0);
    in.mode = "none";
    report_advise(&in, &a);
    assert_string_equal(a.target, "testing");
    assert_true(a.ready);
    in.have_check = 0;
    report_advise(&in, &a);
    assert_false(a.ready);
    assert_string_equal(ids(&a, b, sizeof(b)), "no-check ");
    in = testing(30, 1000, 0, 0, 0);
    in.mode = "enforce";
    in.max_age = 86400;
    report_advise(&in, &a);
    assert_true(a.raise_max_age);
    assert_string_equal(a.target, "enforce");
    in.max_age = REPORT_ADVISE_GOOD_MAX_AGE;
    report_advise(&in, &a);
    assert_null(a.target);
    assert_false(a.ready);
    assert_int_equal(a.n_blockers, 0);
    in.failed = 10;
    report_advise(&in, &a);
    assert_string_equal(ids(&a, b, sizeof(b)), "failures ");
    in = testing(30, 1000, 0, 1, 0);
    in.valid = 0;
    in.invalid_reason = "line 2: mode: 'enforcing' is not enforce, testing or none";
    report_advise(&in, &a);
    assert_null(a.target);
    assert_string_equal(ids(&a, b, sizeof(b)), "policy-invalid ");
    assert_string_equal(a.blockers[0].message, "the policy file is invalid: line 2: mode: "
                                               "'enforcing' is not enforce, testing or none");
}

UNIT_TESTS(NULL, cmocka_unit_test(test_testing_to_enforce), cmocka_unit_test(test_other_modes))
