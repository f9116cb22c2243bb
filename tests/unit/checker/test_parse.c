/* test_parse.c - the checker's parsers of network input (checker/parse.c): SMTP replies, MX
 * and TXT rdata, and domain names. */
#include "checker/checker_int.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static int feed(struct smtp_reply *r, const char *s, size_t *used)
{
    memset(r, 0, sizeof(*r));
    return check__smtp_reply_feed(r, s, strlen(s), used, 0);
}

static void test_smtp_reply(void **state)
{
    struct smtp_reply r;
    size_t used;
    assert_int_equal(feed(&r, "220 mx.example.com ESMTP\r\n", &used), 1);
    assert_int_equal(r.code, 220);
    assert_int_equal(r.n_lines, 1);
    assert_string_equal(r.text, "mx.example.com ESMTP");
    assert_int_equal(used, 26);

    const char ehlo[] = "250-mx.example.com\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 8BITMIME\r\n"
                        "extra";
    assert_int_equal(feed(&r, ehlo, &used), 1);
    assert_int_equal(r.n_lines, 4);
    assert_true(r.starttls);
    assert_int_equal(used, strlen(ehlo) - 5); /* stops after the last line */

    /* STARTTLS as a keyword only: not a prefix of another word, not the greeting line. */
    assert_int_equal(feed(&r, "250-STARTTLS\r\n250 STARTTLSX\r\n", &used), 1);
    assert_false(r.starttls);
    assert_int_equal(feed(&r, "250-mx\r\n250 starttls\r\n", &used), 1);
    assert_true(r.starttls);

    /* Incomplete: need more; bare LF accepted; a code alone is a line. */
    assert_int_equal(feed(&r, "220-first\r\n220 sec", &used), 0);
    assert_int_equal(used, 11);
    assert_int_equal(feed(&r, "220-a\n220\n", &used), 1);

    /* Malformed. */
    assert_int_equal(feed(&r, "220-a\r\n250 b\r\n", &used), -1); /* mixed codes */
    assert_int_equal(feed(&r, "2x0 bad\r\n", &used), -1);
    assert_int_equal(feed(&r, "620 bad\r\n", &used), -1);
    assert_int_equal(feed(&r, "220_bad\r\n", &used), -1);
    assert_int_equal(feed(&r, "22\r\n", &used), -1);
}

static void test_smtp_caps(void **state)
{
    struct smtp_reply r;
    size_t used;
    /* A line longer than the cap, complete or not. */
    size_t n = CHECK_SMTP_LINE_MAX + 10;
    char *big = malloc(n + 3);
    memcpy(big, "220 ", 4);
    memset(big + 4, 'x', n - 4);
    memcpy(big + n, "\r\n", 3);
    memset(&r, 0, sizeof(r));
    assert_int_equal(check__smtp_reply_feed(&r, big, n + 2, &used, 0), -1);
    memset(&r, 0, sizeof(r));
    assert_int_equal(check__smtp_reply_feed(&r, big, n, &used, 0), -1);
    /* A full buffer without a newline is too long even below the cap. */
    memset(&r, 0, sizeof(r));
    assert_int_equal(check__smtp_reply_feed(&r, big, 100, &used, 1), -1);
    free(big);

    /* An endless multi-line banner ends at the line cap, fed in pieces as the probe does. */
    memset(&r, 0, sizeof(r));
    int rc = 0;
    for (int i = 0; i < 10000 && rc == 0; i++)
        rc = check__smtp_reply_feed(&r, "220-more to come\r\n", 18, &used, 0);
    assert_int_equal(rc, -1);
    assert_int_equal(r.n_lines, CHECK_SMTP_MAX_LINES + 1);
}

static void test_mx_rdata(void **state)
{
    char host[300];
    int pref, valid;
    const unsigned char mx[] = "\x00\x0a\x04MAIL\x07"
                               "example\x03"
                               "com\x00";
    assert_int_equal(check__mx_rdata_parse(mx, sizeof(mx) - 1, &pref, host, sizeof(host), &valid),
                     0);
    assert_int_equal(pref, 10);
    assert_string_equal(host, "mail.example.com");
    assert_true(valid);

    const unsigned char null_mx[] = "\x00\x00\x00";
    assert_int_equal(
        check__mx_rdata_parse(null_mx, sizeof(null_mx) - 1, &pref, host, sizeof(host), &valid), 0);
    assert_string_equal(host, "");
    assert_false(valid);

    const unsigned char odd[] = "\x00\x0a\x03"
                                "a\xff"
                                "b\x03"
                                "com\x00";
    assert_int_equal(check__mx_rdata_parse(odd, sizeof(odd) - 1, &pref, host, sizeof(host), &valid),
                     0);
    assert_string_equal(host, "a\\255b.com");
    assert_false(valid);

    const unsigned char trunc[] = "\x00\x0a\x05"
                                  "ab";
    assert_int_equal(
        check__mx_rdata_parse(trunc, sizeof(trunc) - 1, &pref, host, sizeof(host), &valid), -1);
    const unsigned char ptr[] = "\x00\x0a\xc0\x0c";
    assert_int_equal(check__mx_rdata_parse(ptr, sizeof(ptr) - 1, &pref, host, sizeof(host), &valid),
                     -1);
}

static void test_txt_rdata(void **state)
{
    char out[64];
    /* Several character-strings join without separators (RFC 8461 §3.1 via RFC 7208 §3.3). */
    const unsigned char split[] = "\x0bv=STSv1; id\x0b=2026112900";
    assert_int_equal(check__txt_rdata_join(split, sizeof(split) - 1, out, sizeof(out)), 22);
    assert_string_equal(out, "v=STSv1; id=2026112900");

    const unsigned char ctrl[] = "\x03"
                                 "a\nb";
    assert_int_equal(check__txt_rdata_join(ctrl, sizeof(ctrl) - 1, out, sizeof(out)), 3);
    assert_string_equal(out, "a\\010b");

    const unsigned char bad[] = "\x05"
                                "ab";
    assert_int_equal(check__txt_rdata_join(bad, sizeof(bad) - 1, out, sizeof(out)), -1);

    /* Longer than the output: truncated, the full length returned. */
    unsigned char big[256 * 3];
    for (int i = 0; i < 3; i++) {
        big[i * 256] = 255;
        memset(big + i * 256 + 1, 'a', 255);
    }
    assert_int_equal(check__txt_rdata_join(big, sizeof(big), out, sizeof(out)), 765);
    assert_int_equal(strlen(out), sizeof(out) - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_smtp_reply),
        cmocka_unit_test(test_smtp_caps),
        cmocka_unit_test(test_mx_rdata),
        cmocka_unit_test(test_txt_rdata),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
