/* test_domain.c - unit tests of common/domain.c: the one domain-name validator and its
 * normalisation of what users type. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/common.h"

#include <stdio.h>
#include <string.h>

/* A name of `labels` labels of `len` 'a's, then `tail` (e.g. ".example"). */
static const char *name_of(char *buf, size_t bufsz, int labels, size_t len, const char *tail)
{
    size_t w = 0;
    for (int l = 0; l < labels; l++) {
        if (l > 0)
            buf[w++] = '.';
        memset(buf + w, 'a', len);
        w += len;
    }
    snprintf(buf + w, bufsz - w, "%s", tail);
    return buf;
}

static void test_domain_table(void **state)
{
    /* NULL reason: valid. Otherwise the reason domain_problem must give. */
    static const struct {
        const char *name, *why;
    } cases[] = {
        {"example.com", NULL},
        {"mail.example.com", NULL},
        {"a.b", NULL},
        {"xn--bcher-kva.example", NULL}, /* an IDN as its A-label */
        {"1.example", NULL},
        {"9x.example", NULL},
        {"a-b.c-d.example", NULL},
        {"EXAMPLE.COM", NULL}, /* case-insensitive */
        {"", "is empty"},
        {"com", "is a single label; write a fully qualified host name"},
        {"example.com.", "has a trailing dot; remove it"},
        {".example.com", "has an empty label (two dots in a row or a leading dot)"},
        {"a..example", "has an empty label (two dots in a row or a leading dot)"},
        {"-a.example", "has a label that starts or ends with a hyphen"},
        {"a-.example", "has a label that starts or ends with a hyphen"},
        {"a_b.example", "has a character other than letters, digits, hyphens and dots"},
        {"exa mple.com", "has a character other than letters, digits, hyphens and dots"},
        {"a/b.example", "has a character other than letters, digits, hyphens and dots"},
        {"192.0.2.1", "is an IP address; write a host name"},
        {"::1", "is an IP address; write a host name"},
        {"2001:db8::1", "is an IP address; write a host name"},
        {"[192.0.2.1]", "is an IP address; write a host name"},
        {"1.2.3", "has an all-numeric top-level label"},
        {"example.123", "has an all-numeric top-level label"},
        {"*.example.com", "has a wildcard that is not a whole left-most label ('*.' prefix)"},
        {"b\303\274cher.example",
         "is not in A-labels; write internationalized names in their xn-- form"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *why = domain_problem(cases[i].name, strlen(cases[i].name));
        if ((why == NULL) != (cases[i].why == NULL) ||
            (why != NULL && strcmp(why, cases[i].why) != 0))
            fail_msg("'%s': got '%s', want '%s'", cases[i].name, why ? why : "(valid)",
                     cases[i].why ? cases[i].why : "(valid)");
        assert_int_equal(domain_valid(cases[i].name), cases[i].why == NULL);
    }
    assert_int_equal(domain_valid(NULL), 0);
    /* Only the first n bytes count. */
    assert_null(domain_problem("example.com:443", 11));
}

static void test_domain_lengths(void **state)
{
    char name[400];
    assert_int_equal(domain_valid(name_of(name, sizeof(name), 1, 63, ".example")), 1);
    assert_string_equal(domain_problem(name_of(name, sizeof(name), 1, 64, ".example"), 72),
                        "has a label longer than 63 characters");
    /* 4 labels of 61 and 3 dots are 247 octets; ".abcde" makes 253, the limit. */
    name_of(name, sizeof(name), 4, 61, ".abcde");
    assert_int_equal(strlen(name), 253);
    assert_int_equal(domain_valid(name), 1);
    name_of(name, sizeof(name), 4, 61, ".abcdef");
    assert_int_equal(strlen(name), 254);
    assert_string_equal(domain_problem(name, 254), "is longer than 253 characters");
}

static void test_domain_normalise(void **state)
{
    static const struct {
        const char *in, *want; /* want NULL: refused */
    } cases[] = {
        {"Example.COM", "example.com"},
        {"example.com.", "example.com"}, /* one trailing dot: the zone file form */
        {"MAIL.Example.Org.", "mail.example.org"},
        {"example.com..", NULL},
        {".", NULL},
        {"", NULL},
        {"com.", NULL},
        {"192.0.2.1", NULL},
        {"*.example.com", NULL},
        {"b\303\274cher.example", NULL},
        {"xn--BCHER-kva.example", "xn--bcher-kva.example"},
    };
    char out[256];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = domain_normalise(cases[i].in, out, sizeof(out));
        if (rc != (cases[i].want ? 0 : -1) || (rc == 0 && strcmp(out, cases[i].want) != 0))
            fail_msg("'%s': rc %d out '%s'", cases[i].in, rc, rc == 0 ? out : "");
    }
    assert_int_equal(domain_normalise(NULL, out, sizeof(out)), -1);
    /* It does not fit: refused, with the reason. */
    char small[8];
    assert_int_equal(domain_normalise("example.com", small, sizeof(small)), -1);
    assert_string_equal(domain_normalise_problem("example.com", 11, small, sizeof(small)),
                        "is too long");
    assert_int_equal(domain_normalise("a.example", small, sizeof(small)), -1); /* 9 octets and the NUL */
    assert_int_equal(domain_normalise("a.examp", small, sizeof(small)), 0);
    assert_string_equal(small, "a.examp");
    /* In place, and with a 253-octet name plus the dot. */
    char name[400];
    name_of(name, sizeof(name), 4, 61, ".ABCDE.");
    assert_int_equal(domain_normalise(name, name, 254), 0);
    assert_int_equal(strlen(name), 253);
    assert_string_equal(name + 248, "abcde");
    assert_string_equal(domain_normalise_problem("Exa_mple.com.", 13, out, sizeof(out)),
                        "has a character other than letters, digits, hyphens and dots");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_domain_table),
        cmocka_unit_test(test_domain_lengths),
        cmocka_unit_test(test_domain_normalise),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
