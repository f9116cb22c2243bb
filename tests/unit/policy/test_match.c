/* test_match.c - mx pattern matching (RFC 8461 §4.1), host name and id syntax. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "policy/policy.h"

#include <stdio.h>
#include <string.h>

struct match_case {
    const char *pattern, *host;
    int want;
};

static void test_match_mx(void **state)
{
    static const struct match_case cases[] = {
        /* the examples of RFC 8461 §4.1 */
        {"*.example.com", "mail.example.com", 1},
        {"*.example.com", "example.com", 0},
        {"*.example.com", "a.b.example.com", 0},
        /* RFC 8461 §4.1 */
        {"mail.example.com", "mail.example.com", 1},
        {"mail.example.com", "MAIL.Example.COM", 1},
        {"MAIL.EXAMPLE.COM", "mail.example.com", 1},
        {"*.Example.Com", "MX1.example.com", 1},
        {"mail.example.com", "mail.example.com.", 1},
        {"*.example.com", "mail.example.com.", 1},
        {"mail.example.com", "mail.example.com..", 0},
        {"mail.example.com", "mail.example.co", 0},
        {"mail.example.com", "mail.example.comm", 0},
        {"mail.example.com", "xmail.example.com", 0},
        {"mail.example.com", "mx.mail.example.com", 0},
        {"*.example.com", ".example.com", 0},
        {"*.example.com", "mail.example.net", 0},
        {"*.example.com", "mailexample.com", 0},
        {"*.example.com", "mail.xexample.com", 0},
        {"*.mail.example.com", "mx.mail.example.com", 1},
        {"*.mail.example.com", "mail.example.com", 0},
        {"*.example.com", "*.example.com", 1}, /* a literal '*' label is one label */
        {"example.com", "example.com", 1},
        {"mail.example.com", "", 0},
        {"mail.example.com", ".", 0},
        {"", "mail.example.com", 0},
        {"*.", "a.", 0},
        {"*", "mail", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int got = policy_match_mx(cases[i].pattern, cases[i].host);
        if (got != cases[i].want)
            fail_msg("policy_match_mx('%s', '%s') = %d, want %d", cases[i].pattern, cases[i].host,
                     got, cases[i].want);
    }
    assert_int_equal(policy_match_mx(NULL, "a.example"), 0);
    assert_int_equal(policy_match_mx("a.example", NULL), 0);
}

static void test_mx_pattern_valid(void **state)
{
    assert_int_equal(policy_mx_pattern_valid("mail.example.com"), 1);
    assert_int_equal(policy_mx_pattern_valid("*.example.com"), 1);
    assert_int_equal(policy_mx_pattern_valid("*.com"), 0);
    assert_int_equal(policy_mx_pattern_valid("*"), 0);
    assert_int_equal(policy_mx_pattern_valid("*."), 0);
    assert_int_equal(policy_mx_pattern_valid("**.example.com"), 0);
    assert_int_equal(policy_mx_pattern_valid("*.*.example.com"), 0);
    assert_int_equal(policy_mx_pattern_valid("mail.*.example.com"), 0);
    assert_int_equal(policy_mx_pattern_valid("m*.example.com"), 0);
    assert_int_equal(policy_mx_pattern_valid("*.example.com."), 0);
    assert_int_equal(policy_mx_pattern_valid("192.0.2.1"), 0);
    assert_int_equal(policy_mx_pattern_valid("2001:db8::1"), 0);
    assert_int_equal(policy_mx_pattern_valid(NULL), 0);
}

static void test_id_valid(void **state)
{
    assert_int_equal(policy_id_valid("20261129T123000"), 1);
    assert_int_equal(policy_id_valid("a"), 1);
    assert_int_equal(policy_id_valid("12345678901234567890123456789012"), 1);
    assert_int_equal(policy_id_valid("123456789012345678901234567890123"), 0);
    assert_int_equal(policy_id_valid(""), 0);
    assert_int_equal(policy_id_valid("2026-11-29"), 0);
    assert_int_equal(policy_id_valid("abc def"), 0);
    assert_int_equal(policy_id_valid("abc_def"), 0);
    assert_int_equal(policy_id_valid(NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match_mx),
        cmocka_unit_test(test_mx_pattern_valid),
        cmocka_unit_test(test_id_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
