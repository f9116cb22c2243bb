/* test_dkim.c - unit tests of mail/dkim.c and dkim_dns.c: alignment, result names, the TXT
 * join, and the fixture messages of tests/data/mail/dkim (signed by make.py there) verified
 * with keys from a lookup callback: pass, altered, unsigned, unrelated, missing and revoked
 * keys, a temporary failure; and the caps: the cache of failures and its bound, the
 * signature cap, the message's time (10 s of waiting: a lookup that never answers). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/common.h"
#include "mail/mail.h"
#include "mail/mail_int.h"
#include "tests/unit/mail/mail_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void test_aligned(void **state)
{
    (void)state;
    assert_int_equal(mail_dkim_aligned("google.com", "google.com"), 1);
    assert_int_equal(mail_dkim_aligned("Google.COM", "google.com."), 1);
    assert_int_equal(mail_dkim_aligned("google.com", "tlsrpt.google.com"), 1);
    assert_int_equal(mail_dkim_aligned("mail.reporter.test", "reporter.test"), 1);
    /* Not at a label boundary, or unrelated. */
    assert_int_equal(mail_dkim_aligned("oogle.com", "google.com"), 0);
    assert_int_equal(mail_dkim_aligned("google.com", "evilgoogle.com"), 0);
    assert_int_equal(mail_dkim_aligned("unrelated.test", "reporter.test"), 0);
    assert_int_equal(mail_dkim_aligned("com", "google.co"), 0);
    assert_int_equal(mail_dkim_aligned("", "google.com"), 0);
    assert_int_equal(mail_dkim_aligned("google.com", ""), 0);
    assert_int_equal(mail_dkim_aligned(NULL, "google.com"), 0);
    assert_int_equal(mail_dkim_aligned("google.com", NULL), 0);
    assert_int_equal(mail_dkim_aligned(".", "."), 0);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(mail_dkim_result_name(MAIL_DKIM_PASS), "pass");
    assert_string_equal(mail_dkim_result_name(MAIL_DKIM_UNALIGNED), "unaligned");
    assert_string_equal(mail_dkim_result_name(MAIL_DKIM_FAIL), "fail");
    assert_string_equal(mail_dkim_result_name(MAIL_DKIM_NONE), "none");
    assert_string_equal(mail_dkim_result_name(MAIL_DKIM_TEMPERROR), "temperror");
}

static void test_txt_join(void **state)
{
    (void)state;
    char out[16];
    const unsigned char two[] = "\x03v=D\x04KIM1";
    assert_int_equal(mail__dkim_txt_join(two, sizeof(two) - 1, out, sizeof(out)), 0);
    assert_string_equal(out, "v=DKIM1");
    assert_int_equal(mail__dkim_txt_join((const unsigned char *)"", 0, out, sizeof(out)), 0);
    assert_string_equal(out, "");
    /* A length past the end, a NUL inside, too long for out. */
    assert_int_equal(mail__dkim_txt_join((const unsigned char *)"\x05v=D", 4, out, sizeof(out)),
                     -1);
    assert_int_equal(mail__dkim_txt_join((const unsigned char *)"\x02v\0", 3, out, sizeof(out)),
                     -1);
    const unsigned char big[] = "\x10"
                                "0123456789abcdef";
    assert_int_equal(mail__dkim_txt_join(big, sizeof(big) - 1, out, sizeof(out)), -1);
}

struct fixture {
    struct dkim_keys keys;
    struct mail_dkim_verifier *v;
};

static int setup(void **state)
{
    struct fixture *f = xcalloc(1, sizeof(*f));
    f->v = dkim_keys_verifier(&f->keys);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    dkim_keys_free(&f->keys, f->v);
    free(f);
    return 0;
}

static void verify(struct fixture *f, const char *name, const char *from, struct mail_dkim *out)
{
    size_t len;
    char *msg = dkim_fixture(name, &len);
    mail_dkim_verify(f->v, msg, len, from, out);
    free(msg);
}

static void test_results(void **state)
{
    struct fixture *f = *state;
    static const struct {
        const char *file, *from;
        enum mail_dkim_result want;
        const char *domain, *detail;
    } cases[] = {
        {"pass.eml", "reporter.test", MAIL_DKIM_PASS, "reporter.test", ""},
        /* LF line ends (mbox, Maildir) verify the same. */
        {"pass-lf.eml", "reporter.test", MAIL_DKIM_PASS, "reporter.test", ""},
        {"subdomain.eml", "mail.reporter.test", MAIL_DKIM_PASS, "reporter.test", ""},
        {"pass.eml", "other.test", MAIL_DKIM_UNALIGNED, "reporter.test",
         "not the From: domain other.test"},
        {"pass.eml", "", MAIL_DKIM_UNALIGNED, "reporter.test", ""},
        {"altered.eml", "reporter.test", MAIL_DKIM_FAIL, "reporter.test", "body hash mismatch"},
        {"unsigned.eml", "reporter.test", MAIL_DKIM_NONE, "", ""},
        {"unrelated.eml", "reporter.test", MAIL_DKIM_UNALIGNED, "unrelated.test", ""},
        {"nokey.eml", "reporter.test", MAIL_DKIM_FAIL, "reporter.test",
         "no key at gone._domainkey.reporter.test: NXDOMAIN"},
        {"revoked.eml", "reporter.test", MAIL_DKIM_FAIL, "reporter.test", "revoked"},
        {"tempfail.eml", "reporter.test", MAIL_DKIM_TEMPERROR, "reporter.test",
         "key not fetched from slow._domainkey.reporter.test: DNS rcode SERVFAIL"},
        /* A failing signature on top of a good one: the best wins. */
        {"two.eml", "reporter.test", MAIL_DKIM_PASS, "reporter.test", ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct mail_dkim r;
        verify(f, cases[i].file, cases[i].from, &r);
        if (r.result != cases[i].want || strcmp(r.domain, cases[i].domain) != 0 ||
            strstr(r.detail, cases[i].detail) == NULL)
            fail_msg("%s: %s d=%s '%s'", cases[i].file, mail_dkim_result_name(r.result), r.domain,
                     r.detail);
    }
    /* A header that changed after signing. */
    size_t len;
    char *msg = dkim_fixture("pass.eml", &len);
    char *s = strstr(msg, "Subject: Report");
    assert_non_null(s);
    s[9] = 'r';
    struct mail_dkim r;
    mail_dkim_verify(f->v, msg, len, "reporter.test", &r);
    assert_int_equal(r.result, MAIL_DKIM_FAIL);
    assert_non_null(strstr(r.detail, "signature mismatch"));
    free(msg);
}

static void test_cache(void **state)
{
    struct fixture *f = *state;
    struct mail_dkim r;
    for (int i = 0; i < 3; i++) {
        verify(f, "tempfail.eml", "reporter.test", &r);
        assert_int_equal(r.result, MAIL_DKIM_TEMPERROR);
        verify(f, "nokey.eml", "reporter.test", &r);
        assert_int_equal(r.result, MAIL_DKIM_FAIL);
        verify(f, "pass.eml", "reporter.test", &r);
        assert_int_equal(r.result, MAIL_DKIM_PASS);
    }
    /* Three keys asked once each: failures are cached as well as keys. */
    assert_int_equal(f->keys.calls, 3);
    assert_int_equal(mail_dkim_lookups(f->v), 3);
}

static void test_cap(void **state)
{
    struct fixture *f = *state;
    struct mail_dkim r;
    verify(f, "many.eml", "reporter.test", &r);
    /* x6..x2 from the top are evaluated (no keys); x1 and the good one are not. */
    assert_int_equal(r.result, MAIL_DKIM_FAIL);
    assert_int_equal(f->keys.calls, MAIL_DKIM_MAX_SIGS);
    assert_string_equal(f->keys.last, "x2._domainkey.reporter.test");
    assert_non_null(strstr(r.detail, "2 more signatures not evaluated (at most 5 are)"));
}

static void test_hostile(void **state)
{
    struct fixture *f = *state;
    struct mail_dkim r;
    /* Nothing, a header without a body, garbage signatures. */
    mail_dkim_verify(f->v, "", 0, "reporter.test", &r);
    assert_int_equal(r.result, MAIL_DKIM_NONE);
    const char hdr[] = "DKIM-Signature: v=1; d=reporter.test; s=sel\r\nFrom: a@reporter.test";
    mail_dkim_verify(f->v, hdr, sizeof(hdr) - 1, "reporter.test", &r);
    assert_int_equal(r.result, MAIL_DKIM_FAIL);
    const char bad[] = "DKIM-Signature: \x01\xff;;;=\r\n\tb=\r\nFrom: x\r\n\r\nbody\n";
    mail_dkim_verify(f->v, bad, sizeof(bad) - 1, NULL, &r);
    assert_int_equal(r.result, MAIL_DKIM_FAIL);
    /* A selector that is no DNS name is never asked. */
    const char sel[] = "DKIM-Signature: v=1; a=rsa-sha256; d=reporter.test; s=a/b; h=from; "
                       "bh=AAAA; b=AAAA\r\nFrom: a@reporter.test\r\n\r\nbody\r\n";
    mail_dkim_verify(f->v, sel, sizeof(sel) - 1, "reporter.test", &r);
    assert_int_equal(r.result, MAIL_DKIM_FAIL);
    assert_int_equal(f->keys.calls, 0);
}

/* A lookup that finds nothing within its whole timeout (a mute resolver). */
static enum mail_dkim_key mute(const char *name, int64_t timeout_ms, char *txt, size_t txtsz,
                               char *why, size_t whysz, void *user)
{
    (void)name;
    (void)txt;
    (void)txtsz;
    ++*(int *)user;
    struct timespec ts = {.tv_sec = timeout_ms / 1000, .tv_nsec = (timeout_ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
    snprintf(why, whysz, "no DNS answer within %lld ms", (long long)timeout_ms);
    return MAIL_DKIM_KEY_TEMPFAIL;
}

/* Five signatures whose keys never come: two full waits fill the message's time, the other
 * three are not asked. */
static void test_message_deadline(void **state)
{
    (void)state;
    int calls = 0;
    char err[256];
    struct mail_dkim_verifier *v = mail_dkim_new_lookup(mute, &calls, err, sizeof(err));
    assert_non_null(v);
    size_t len;
    char *msg = dkim_fixture("many.eml", &len);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    struct mail_dkim r;
    mail_dkim_verify(v, msg, len, "reporter.test", &r);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double secs = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    printf("# five unanswered keys: %.2f s, %d lookups\n", secs, calls);
    assert_int_equal(r.result, MAIL_DKIM_TEMPERROR);
    assert_int_equal(calls, MAIL_DKIM_MESSAGE_MS / MAIL_DKIM_LOOKUP_MS);
    assert_true(secs >= MAIL_DKIM_MESSAGE_MS / 1000.0 - 0.1 &&
                secs < MAIL_DKIM_MESSAGE_MS / 1000.0 + 1);
    free(msg);
    mail_dkim_free(v);
}

/* More keys than the cache holds: the oldest is asked again, the newest is not. */
static void test_cache_bound(void **state)
{
    struct fixture *f = *state;
    struct mail_dkim r;
    char msg[512];
    for (int i = 0; i <= MAIL_DKIM_CACHE + 1; i++) {
        int k = i <= MAIL_DKIM_CACHE ? i : 0; /* k0 again at the end */
        int n = snprintf(msg, sizeof(msg),
                         "DKIM-Signature: v=1; a=rsa-sha256; d=reporter.test; s=k%d; h=from; "
                         "bh=AAAA; b=AAAA\r\nFrom: a@reporter.test\r\n\r\nbody\r\n",
                         k);
        mail_dkim_verify(f->v, msg, (size_t)n, "reporter.test", &r);
        assert_int_equal(r.result, MAIL_DKIM_FAIL);
        if (i == MAIL_DKIM_CACHE) {
            assert_int_equal(f->keys.calls, MAIL_DKIM_CACHE + 1);
            /* the newest key is cached */
            mail_dkim_verify(f->v, msg, (size_t)n, "reporter.test", &r);
            assert_int_equal(f->keys.calls, MAIL_DKIM_CACHE + 1);
        }
    }
    assert_int_equal(f->keys.calls, MAIL_DKIM_CACHE + 2);
    assert_string_equal(f->keys.last, "k0._domainkey.reporter.test");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aligned),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_txt_join),
        cmocka_unit_test_setup_teardown(test_results, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_bound, setup, teardown),
        cmocka_unit_test(test_message_deadline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
