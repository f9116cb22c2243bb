/* test_match.c - mx pattern matching (RFC 8461 §4.1), host name and id syntax. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/unit_test.h"

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

static void test_domain_length(void **state)
{
    char label[70], name[400];
    memset(label, 'a', 63);
    label[63] = '\0';
    snprintf(name, sizeof(name), "%s.example", label);
    assert_int_equal(policy_domain_valid(name), 1);
    memset(label, 'a', 64);
    label[64] = '\0';
    snprintf(name, sizeof(name), "%s.example", label);
    assert_int_equal(policy_domain_valid(name), 0);
    /* 253 octets is the limit: 4 labels of 61 + 3 dots = 247, + ".abcde" = 253 */
    memset(label, 'a', 61);
    label[61] = '\0';
    snprintf(name, sizeof(name), "%s.%s.%s.%s.abcde", label, label, label, label);
    assert_int_equal(strlen(name), 253);
    assert_int_equal(policy_domain_valid(name), 1);
    snprintf(name, sizeof(name), "%s.%s.%s.%s.abcdef", label, label, label, label);
    assert_int_equal(policy_domain_valid(name), 0);
}

/* One input of a syntax check (NULL allowed) and the answer it must give. */
struct syntax_case {
    int (*fn)(const char *);
    const char *s;
    int want;
};

static void test_syntax(void **state)
{
    static const struct syntax_case cases[] = {
        {policy_domain_valid, "example.com", 1},
        {policy_domain_valid, "mail.example.com", 1},
        {policy_domain_valid, "a.b", 1},
        {policy_domain_valid, "xn--bcher-kva.example", 1},
        {policy_domain_valid, "1.example", 1},
        {policy_domain_valid, "a-b.c-d.example", 1},
        {policy_domain_valid, "EXAMPLE.COM", 1},
        {policy_domain_valid, "9x.example", 1},
        {policy_domain_valid, "", 0},
        {policy_domain_valid, "com", 0},
        {policy_domain_valid, "example.com.", 0},
        {policy_domain_valid, ".example.com", 0},
        {policy_domain_valid, "a..example", 0},
        {policy_domain_valid, "-a.example", 0},
        {policy_domain_valid, "a-.example", 0},
        {policy_domain_valid, "a_b.example", 0},
        {policy_domain_valid, "192.0.2.1", 0},
        {policy_domain_valid, "1.2.3", 0},
        {policy_domain_valid, "example.123", 0},
        {policy_domain_valid, "::1", 0},
        {policy_domain_valid, "[192.0.2.1]", 0},
        {policy_domain_valid, "*.example.com", 0},
        {policy_domain_valid, "b\303\274cher.example", 0},
        {policy_domain_valid, "exa mple.com", 0},
        {policy_domain_valid, "a/b.example", 0},
        {policy_domain_valid, NULL, 0},
        {policy_mx_pattern_valid, "mail.example.com", 1},
        {policy_mx_pattern_valid, "*.example.com", 1},
        {policy_mx_pattern_valid, "*.com", 0},
        {policy_mx_pattern_valid, "*", 0},
        {policy_mx_pattern_valid, "*.", 0},
        {policy_mx_pattern_valid, "**.example.com", 0},
        {policy_mx_pattern_valid, "*.*.example.com", 0},
        {policy_mx_pattern_valid, "mail.*.example.com", 0},
        {policy_mx_pattern_valid, "m*.example.com", 0},
        {policy_mx_pattern_valid, "*.example.com.", 0},
        {policy_mx_pattern_valid, "192.0.2.1", 0},
        {policy_mx_pattern_valid, "2001:db8::1", 0},
        {policy_mx_pattern_valid, NULL, 0},
        {policy_id_valid, "20261129T123000", 1},
        {policy_id_valid, "a", 1},
        {policy_id_valid, "12345678901234567890123456789012", 1},
        {policy_id_valid, "123456789012345678901234567890123", 0},
        {policy_id_valid, "", 0},
        {policy_id_valid, "2026-11-29", 0},
        {policy_id_valid, "abc def", 0},
        {policy_id_valid, "abc_def", 0},
        {policy_id_valid, NULL, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct syntax_case *c = &cases[i];
        int got = c->fn(c->s);
        if (got != c->want)
            fail_msg("case %zu (\"%s\") = %d, want %d", i, c->s ? c->s : "(null)", got, c->want);
    }
}

UNIT_TESTS(NULL, cmocka_unit_test(test_match_mx), cmocka_unit_test(test_syntax),
           cmocka_unit_test(test_domain_length))
