/* test_parse.c - unit tests of common/'s value parsers (sizes, durations, dates, RFC 3339,
 * the report window) and of the one domain-name validator; run by test_common.c's main. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/common.h"
#include "tests/unit/common/common_test.h"

#include <stdio.h>
#include <string.h>

/* 2026-11-29T12:30:00Z: "now" for relative dates. */
#define NOW ((time_t)1795955400)
#define DAY 86400

enum parser { SIZE, DURATION, DATE_OR_AGO, RFC3339 };

/* Run one parser on s; its result widened to int64_t. */
static int run_parser(enum parser which, const char *s, int64_t *out)
{
    uint64_t u = 0;
    time_t t = 0;
    int rc;
    switch (which) {
    case SIZE:
        rc = parse_size(s, &u);
        *out = (int64_t)u;
        return rc;
    case DURATION:
        return parse_duration(s, out);
    case DATE_OR_AGO:
        rc = parse_date_or_ago(s, NOW, &t);
        break;
    default:
        rc = parse_rfc3339(s, &t);
        break;
    }
    *out = (int64_t)t;
    return rc;
}

void test_value_parsers(void **state)
{
    static const struct {
        enum parser which;
        const char *in;
        int ok;
        int64_t want;
    } cases[] = {
        {SIZE, "10M", 1, 10 * 1024 * 1024},
        {SIZE, "512k", 1, 512 * 1024},
        {SIZE, "100", 1, 100},
        {SIZE, "1G", 1, 1024ll * 1024 * 1024},
        {SIZE, "4KB", 1, 4096},
        {SIZE, "2mb", 1, 2 * 1024 * 1024},
        {SIZE, "100B", 0, 0}, /* B only after a unit */
        {SIZE, "1K5", 0, 0},
        {SIZE, "", 0, 0},
        {SIZE, "M", 0, 0},
        {SIZE, "10X", 0, 0},
        {SIZE, "-1", 0, 0},
        {SIZE, "99999999999999999999", 0, 0},
        {SIZE, "18446744073709551615G", 0, 0},
        {DURATION, "6h", 1, 21600},
        {DURATION, "30d", 1, 30 * DAY},
        {DURATION, "2w", 1, 14 * DAY},
        {DURATION, "45", 1, 45},
        {DURATION, "h", 0, 0},
        {DURATION, "5y", 0, 0},
        {DURATION, "1h30m", 0, 0},
        {DURATION, "9223372036854775807", 1, INT64_MAX},
        {DURATION, "9223372036854775807s", 1, INT64_MAX},
        {DURATION, "9223372036854775807m", 0, 0},
        {DURATION, "1w", 1, 7 * DAY},
        {DATE_OR_AGO, "2026-11-01", 1, 1793491200},
        {DATE_OR_AGO, "30d", 1, NOW - 30 * DAY},
        {DATE_OR_AGO, "12h", 1, NOW - 12 * 3600},
        {DATE_OR_AGO, "30", 0, 0},
        {DATE_OR_AGO, "45s", 0, 0},
        {DATE_OR_AGO, "2026-13-01", 0, 0},
        {DATE_OR_AGO, "2026-02-29", 0, 0},
        {RFC3339, "2026-11-29T12:30:00Z", 1, NOW},
        {RFC3339, "2026-11-29T12:30:00", 1, NOW}, /* no zone: UTC */
        {RFC3339, "2026-11-29T14:30:00+02:00", 1, NOW},
        {RFC3339, "2026-11-29T12:30:00.123Z", 1, NOW},
        {RFC3339, "2026-02-30T00:00:00Z", 0, 0},
        {RFC3339, "2026-11-29", 0, 0},
        {RFC3339, "2026-11-29T25:00:00Z", 0, 0},
        {RFC3339, "2026-11-29T12:30:00Zjunk", 0, 0},
        {RFC3339, "yesterday", 0, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t v = -12345;
        int rc = run_parser(cases[i].which, cases[i].in, &v);
        if (rc != (cases[i].ok ? 0 : -1) || (cases[i].ok && v != cases[i].want))
            fail_msg("parser %d '%s': rc %d value %lld, want %s %lld", (int)cases[i].which,
                     cases[i].in, rc, (long long)v, cases[i].ok ? "ok" : "refused",
                     (long long)cases[i].want);
    }
    assert_int_equal(parse_size(NULL, &(uint64_t){0}), -1);
}

void test_formats(void **state)
{
    char stamp[21], day[11], hex[9];
    format_rfc3339(NOW, stamp);
    assert_string_equal(stamp, "2026-11-29T12:30:00Z");
    format_date(NOW, day);
    assert_string_equal(day, "2026-11-29");
    const unsigned char in[] = {0x00, 0x0f, 0xa5, 0xff};
    assert_ptr_equal(format_hex(in, sizeof(in), hex), hex);
    assert_string_equal(hex, "000fa5ff");
    assert_string_equal(format_hex(in, 0, hex), "");
    /* and back, digit by digit */
    format_hex(in, sizeof(in), hex);
    for (size_t i = 0; i < sizeof(in); i++)
        assert_int_equal(hex_digit(hex[2 * i], 1) * 16 + hex_digit(hex[2 * i + 1], 1), in[i]);
    assert_int_equal(hex_digit('F', 0), 15);
    assert_int_equal(hex_digit('F', 1), -1);
    assert_int_equal(hex_digit('g', 0), -1);
    assert_int_equal(hex_digit('\0', 0), -1);
    assert_int_equal(hex_digit('/', 0), -1);
    assert_int_equal(hex_digit(':', 0), -1);
    assert_int_equal(hex_digit('`', 0), -1);
    assert_int_equal(hex_digit('@', 0), -1);
}

void test_window(void **state)
{
    static const char expect[] = "expected YYYY-MM-DD, an RFC 3339 time or a relative 30d/12h";
    static const struct {
        const char *since, *until;
        int64_t since_want, until_want;
        const char *err; /* NULL: accepted */
    } cases[] = {
        {NULL, NULL, NOW - 30 * DAY, NOW, NULL}, /* the defaults */
        {"2026-11-01", "2026-11-29", 1793491200, 1795910400, NULL},
        {"7d", NULL, NOW - 7 * DAY, NOW, NULL},
        {NULL, "12h", NOW - 30 * DAY, NOW - 12 * 3600, NULL},
        {"2026-11-29T12:00:00Z", "2026-11-29T14:30:00+02:00", NOW - 1800, NOW, NULL},
        {"2026-11-29", "2026-11-29", 1795910400, 1795910400, NULL}, /* empty, not refused */
        {"yesterday", NULL, 0, 0, "since 'yesterday': "},
        {NULL, "2026-13-01", 0, 0, "until '2026-13-01': "},
        {"", NULL, 0, 0, "since '': "},
        {"30", NULL, 0, 0, "since '30': "},
        {"2026-11-29", "2026-11-01", 0, 0, "since is after until"},
        {NULL, "2026-01-01", 0, 0, "since is after until"}, /* default since is later */
        {"0123456789012345678901234567890123456789xyz", NULL, 0, 0,
         "since '0123456789012345678901234567890123456789': "}, /* cut at 40 */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t since = -1, until = -1;
        char err[200] = "", want[200];
        int rc =
            parse_window(cases[i].since, cases[i].until, NOW, &since, &until, err, sizeof(err));
        if (cases[i].err == NULL) {
            if (rc != 0 || since != cases[i].since_want || until != cases[i].until_want)
                fail_msg("case %zu: rc %d [%lld, %lld) %s", i, rc, (long long)since,
                         (long long)until, err);
            continue;
        }
        snprintf(want, sizeof(want), "%s%s", cases[i].err,
                 strstr(cases[i].err, "after") ? "" : expect);
        if (rc != -1 || strcmp(err, want) != 0)
            fail_msg("case %zu: rc %d err '%s', want '%s'", i, rc, err, want);
    }
}

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

void test_domain_table(void **state)
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
    /* the limits: labels of 63 octets, names of 253 */
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

void test_domain_normalise(void **state)
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
    assert_int_equal(domain_normalise("a.example", small, sizeof(small)),
                     -1); /* 9 octets and the NUL */
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

/* The resolver setting: unbound's IP@PORT form from the forms users type. */
void test_resolver_parse(void **state)
{
    char out[128];
    assert_int_equal(resolver_parse("127.0.0.1", out, sizeof(out)), 0);
    assert_string_equal(out, "127.0.0.1@53");
    assert_int_equal(resolver_parse("127.0.0.1@5353", out, sizeof(out)), 0);
    assert_string_equal(out, "127.0.0.1@5353");
    assert_int_equal(resolver_parse("127.0.0.1:5353", out, sizeof(out)), 0);
    assert_string_equal(out, "127.0.0.1@5353");
    assert_int_equal(resolver_parse("::1", out, sizeof(out)), 0);
    assert_string_equal(out, "::1@53");
    assert_int_equal(resolver_parse("[::1]:5353", out, sizeof(out)), 0);
    assert_string_equal(out, "::1@5353");
    assert_int_equal(resolver_parse("::1@5353", out, sizeof(out)), 0);
    assert_int_equal(resolver_parse("not an address", out, sizeof(out)), -1);
    assert_int_equal(resolver_parse("127.0.0.1:0", out, sizeof(out)), -1);
    assert_int_equal(resolver_parse("127.0.0.1:70000", out, sizeof(out)), -1);
    assert_int_equal(resolver_parse("127.0.0.1@", out, sizeof(out)), -1);
    assert_int_equal(resolver_parse("localhost", out, sizeof(out)), -1);
    assert_int_equal(resolver_parse("", out, sizeof(out)), -1);
}
