/* test_acme_serve.c - unit tests of serve's ACME parts that need no network: the challenge
 * table (acme_challenge.c), the ClientHello extension readers (acme_tls.c) and the choice of
 * the certificate serving a name and the queue of domains to order (acme_plan.c). */
#include "server/acme_int.h"
#include "common/common.h"
#include "hosted/hosted.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cmocka.h>

#include "../unit_test.h"

static void test_token_valid(void **state)
{
    (void)state;
    char t[SRV_ACME_TOKEN_MAX + 2];
    assert_true(srv__acme_token_valid("evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA", 43));
    assert_true(srv__acme_token_valid("a", 1));
    assert_false(srv__acme_token_valid("", 0));
    assert_false(srv__acme_token_valid("abc=", 4)); /* padding */
    assert_false(srv__acme_token_valid("ab/c", 4)); /* standard base64, not base64url */
    assert_false(srv__acme_token_valid("ab+c", 4));
    assert_false(srv__acme_token_valid("../x", 4));
    assert_false(srv__acme_token_valid("a b", 3));
    assert_false(srv__acme_token_valid("ab\0c", 4));
    memset(t, 'A', sizeof(t));
    assert_true(srv__acme_token_valid(t, SRV_ACME_TOKEN_MAX));
    assert_false(srv__acme_token_valid(t, SRV_ACME_TOKEN_MAX + 1));
    assert_false(srv__acme_token_valid(NULL, 3));
}

/* A throwaway key and self-signed certificate, standing in for acme_tlsalpn_cert's. */
static void make_cert(X509 **cert, EVP_PKEY **key)
{
    *key = EVP_EC_gen("P-256");
    assert_non_null(*key);
    *cert = X509_new();
    assert_non_null(*cert);
    X509_set_pubkey(*cert, *key);
    assert_true(X509_sign(*cert, *key, EVP_sha256()) > 0);
}

static void test_http01(void **state)
{
    (void)state;
    char out[SRV_ACME_KEYAUTH_MAX];
    srv__acme_chal_init(2);
    assert_int_equal(srv__acme_chal_http("tok1", 4, out, sizeof(out)), -1);
    assert_int_equal(
        srv__acme_chal_add(SRV_ACME_HTTP01, "mta-sts.a.test", "tok1", "tok1.thumb", NULL, NULL), 0);
    assert_int_equal(srv__acme_chal_http("tok1", 4, out, sizeof(out)), 10);
    assert_string_equal(out, "tok1.thumb");
    /* a token is compared exactly: case, length, prefix */
    assert_int_equal(srv__acme_chal_http("TOK1", 4, out, sizeof(out)), -1);
    assert_int_equal(srv__acme_chal_http("tok", 3, out, sizeof(out)), -1);
    assert_int_equal(srv__acme_chal_http("tok1x", 5, out, sizeof(out)), -1);
    /* not NUL-terminated: only len bytes count */
    assert_int_equal(srv__acme_chal_http("tok1/../", 4, out, sizeof(out)), 10);
    /* too small a buffer: not copied */
    assert_int_equal(srv__acme_chal_http("tok1", 4, out, 5), -1);
    /* an invalid token is refused when added */
    assert_int_equal(srv__acme_chal_add(SRV_ACME_HTTP01, "h", "a/b", "x", NULL, NULL), -1);
    assert_int_equal(srv__acme_chal_add(SRV_ACME_HTTP01, "h", "tok2", NULL, NULL, NULL), -1);
    /* bounded: the second slot fills, the third add fails */
    assert_int_equal(srv__acme_chal_add(SRV_ACME_HTTP01, "h", "tok2", "k2", NULL, NULL), 0);
    assert_int_equal(srv__acme_chal_add(SRV_ACME_HTTP01, "h", "tok3", "k3", NULL, NULL), -1);
    assert_int_equal((int)srv__acme_chal_count(), 2);
    srv__acme_chal_remove(SRV_ACME_HTTP01, NULL, "tok1");
    assert_int_equal((int)srv__acme_chal_count(), 1);
    assert_int_equal(srv__acme_chal_http("tok1", 4, out, sizeof(out)), -1);
    assert_int_equal(srv__acme_chal_add(SRV_ACME_HTTP01, "h", "tok3", "k3", NULL, NULL), 0);
    assert_int_equal(srv__acme_chal_http("tok3", 4, out, sizeof(out)), 2);
    /* an http-01 token is not a tls-alpn-01 name */
    X509 *c = NULL;
    EVP_PKEY *k = NULL;
    assert_int_equal(srv__acme_chal_tls("h", 1, &c, &k), 0);
    srv__acme_chal_fini();
    assert_int_equal((int)srv__acme_chal_count(), 0);
}

static void test_tlsalpn01(void **state)
{
    (void)state;
    X509 *cert, *got = NULL;
    EVP_PKEY *key, *gotk = NULL;
    srv__acme_chal_init(4);
    make_cert(&cert, &key);
    assert_int_equal(
        srv__acme_chal_add(SRV_ACME_TLSALPN01, "MTA-STS.A.test", "tok", NULL, cert, key), 0);
    assert_int_equal(srv__acme_chal_tls("mta-sts.b.test", 14, &got, &gotk), 0);
    assert_int_equal(srv__acme_chal_tls("mta-sts.a.tes", 13, &got, &gotk), 0);
    assert_int_equal(srv__acme_chal_tls("mta-sts.a.TEST", 14, &got, &gotk), 1);
    assert_ptr_equal(got, cert);
    assert_ptr_equal(gotk, key);
    X509_free(got);
    EVP_PKEY_free(gotk);
    /* the second answer says it is the second (serve logs only the first) */
    assert_int_equal(srv__acme_chal_tls("mta-sts.a.test", 14, &got, &gotk), 2);
    X509_free(got);
    EVP_PKEY_free(gotk);
    /* no http-01 answer for it */
    char out[SRV_ACME_KEYAUTH_MAX];
    assert_int_equal(srv__acme_chal_http("tok", 3, out, sizeof(out)), -1);
    /* a tls-alpn-01 challenge needs its certificate (the references are taken anyway) */
    assert_int_equal(srv__acme_chal_add(SRV_ACME_TLSALPN01, "x.test", "t", NULL, NULL, NULL), -1);
    srv__acme_chal_remove(SRV_ACME_TLSALPN01, "mta-sts.a.test", "other");
    assert_int_equal((int)srv__acme_chal_count(), 1);
    srv__acme_chal_remove(SRV_ACME_TLSALPN01, "mta-sts.a.test", "tok");
    assert_int_equal((int)srv__acme_chal_count(), 0);
    assert_int_equal(srv__acme_chal_tls("mta-sts.a.test", 14, &got, &gotk), 0);
    /* what the table holds at the end is released by fini (ASan's leak check) */
    make_cert(&cert, &key);
    assert_int_equal(srv__acme_chal_add(SRV_ACME_TLSALPN01, "b.test", NULL, NULL, cert, key), 0);
    srv__acme_chal_fini();
}

static void test_sni(void **state)
{
    (void)state;
    char out[256];
    /* list length 17, host_name type 0, length 14 */
    static const unsigned char ok[] = "\x00\x11\x00\x00\x0eMTA-STS.a.test";
    assert_int_equal(srv__tls_ext_sni(ok, sizeof(ok) - 1, out, sizeof(out)), 14);
    assert_string_equal(out, "mta-sts.a.test");
    static const unsigned char dot[] = "\x00\x06\x00\x00\x03\x61\x62.";
    assert_int_equal(srv__tls_ext_sni(dot, sizeof(dot) - 1, out, sizeof(out)), 2);
    assert_string_equal(out, "ab");
    /* wrong list length, name overrunning, unknown type only, NUL inside, too small out */
    static const unsigned char badlen[] = "\x00\x12\x00\x00\x0eMTA-STS.a.test";
    assert_int_equal(srv__tls_ext_sni(badlen, sizeof(badlen) - 1, out, sizeof(out)), -1);
    static const unsigned char over[] = "\x00\x11\x00\x00\x0fMTA-STS.a.test";
    assert_int_equal(srv__tls_ext_sni(over, sizeof(over) - 1, out, sizeof(out)), -1);
    static const unsigned char other[] = "\x00\x05\x01\x00\x02xy";
    assert_int_equal(srv__tls_ext_sni(other, sizeof(other) - 1, out, sizeof(out)), -1);
    static const unsigned char nul[] = "\x00\x06\x00\x00\x03\x61\x00\x62";
    assert_int_equal(srv__tls_ext_sni(nul, sizeof(nul) - 1, out, sizeof(out)), -1);
    assert_int_equal(srv__tls_ext_sni(ok, sizeof(ok) - 1, out, 14), -1);
    assert_int_equal(srv__tls_ext_sni(ok, 1, out, sizeof(out)), -1);
}

static void test_alpn(void **state)
{
    (void)state;
    static const unsigned char acme[] = "\x00\x0b\x0a"
                                        "acme-tls/1";
    static const unsigned char both[] = "\x00\x0e\x02h2\x0a"
                                        "acme-tls/1";
    static const unsigned char web[] = "\x00\x0c\x02h2\x08http/1.1";
    static const unsigned char prefix[] = "\x00\x0a\x09"
                                          "acme-tls/";
    static const unsigned char broken[] = "\x00\x0b\x0b"
                                          "acme-tls/1";
    static const unsigned char empty[] = "\x00\x0c\x00\x0a"
                                         "acme-tls/1";
    assert_true(srv__tls_ext_alpn_offers(acme, sizeof(acme) - 1, SRV_ACME_ALPN));
    assert_true(srv__tls_ext_alpn_offers(both, sizeof(both) - 1, SRV_ACME_ALPN));
    assert_false(srv__tls_ext_alpn_offers(web, sizeof(web) - 1, SRV_ACME_ALPN));
    assert_true(srv__tls_ext_alpn_offers(web, sizeof(web) - 1, "http/1.1"));
    assert_false(srv__tls_ext_alpn_offers(prefix, sizeof(prefix) - 1, SRV_ACME_ALPN));
    assert_false(srv__tls_ext_alpn_offers(broken, sizeof(broken) - 1, SRV_ACME_ALPN));
    assert_false(srv__tls_ext_alpn_offers(empty, sizeof(empty) - 1, SRV_ACME_ALPN));
    assert_false(srv__tls_ext_alpn_offers(acme, 1, SRV_ACME_ALPN));
}

/* A certificate with these DNS SANs (comma-separated "DNS:..." list, or NULL for none). */
static X509 *cert_sans(const char *sans)
{
    X509 *c;
    EVP_PKEY *k;
    make_cert(&c, &k);
    if (sans != NULL) {
        X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, sans);
        assert_non_null(e);
        assert_int_equal(X509_add_ext(c, e, -1), 1);
        X509_EXTENSION_free(e);
    }
    EVP_PKEY_free(k);
    return c;
}

static void test_cert_pick(void **state)
{
    (void)state;
    /* sorted by name, as hosted_certs lists them */
    struct hosted_cert v[] = {
        {.name = "default", .not_after = 100, .x509 = cert_sans("DNS:mta-sts.e.test")},
        {.name = "multi", .not_after = 200, .x509 = cert_sans("DNS:MTA-STS.b.test,DNS:x.test")},
        {.name = "multi2", .not_after = 300, .x509 = cert_sans("DNS:mta-sts.b.test")},
        {.name = "mta-sts.a.test", .not_after = 50, .x509 = cert_sans("DNS:mta-sts.a.test")},
        {.name = "mta-sts.c.test", .not_after = 60, .x509 = cert_sans("DNS:other.test")},
        {.name = "wild", .not_after = 70, .x509 = cert_sans("DNS:*.d.test,IP:127.0.0.1")},
        {.name = "broken", .not_after = 0, .x509 = NULL},
    };
    size_t n = sizeof(v) / sizeof(v[0]) - 1; /* "broken" is looked at separately */
    struct hosted_cert_index ix;
    hosted_cert_index_build(v, n, &ix);
    assert_int_equal((int)ix.n, 7); /* every DNS SAN, the IP address left out */
    int covers = -1;
    /* by file name */
    assert_int_equal(hosted_cert_pick(&ix, "mta-sts.a.test", &covers), 3);
    assert_int_equal(covers, 1);
    /* by file name, not covering: it is what is served, so it counts (and is not valid) */
    assert_int_equal(hosted_cert_pick(&ix, "mta-sts.c.test", &covers), 4);
    assert_int_equal(covers, 0);
    /* by SAN (case-insensitive in the certificate): the one that ends last */
    assert_int_equal(hosted_cert_pick(&ix, "mta-sts.b.test", &covers), 2);
    assert_int_equal(covers, 1);
    /* by wildcard SAN: one label only */
    assert_int_equal(hosted_cert_pick(&ix, "mta-sts.d.test", &covers), 5);
    assert_int_equal(covers, 1);
    assert_int_equal(hosted_cert_pick(&ix, "a.mta-sts.d.test", &covers), -1);
    assert_int_equal(covers, 0);
    /* default.pem's SAN names e.test: found by SAN like any other */
    assert_int_equal(hosted_cert_pick(&ix, "mta-sts.e.test", &covers), 0);
    /* none */
    assert_int_equal(hosted_cert_pick(&ix, "mta-sts.f.test", &covers), -1);
    assert_int_equal(covers, 0);
    hosted_cert_index_free(&ix);
    /* a certificate that could not be read names nothing and covers nothing */
    hosted_cert_index_build(&v[n], 1, &ix);
    assert_int_equal((int)ix.n, 0);
    assert_int_equal(hosted_cert_pick(&ix, "broken", &covers), 0);
    assert_int_equal(covers, 0);
    hosted_cert_index_free(&ix);
    hosted_cert_index_build(NULL, 0, &ix);
    assert_int_equal(hosted_cert_pick(&ix, "mta-sts.a.test", &covers), -1);
    hosted_cert_index_free(&ix);
    for (size_t i = 0; i < n; i++)
        X509_free(v[i].x509);
}

static void test_waits(void **state)
{
    (void)state;
    struct hosted_acme r = {.domain = "a.test", .next_attempt = 1000};
    /* no row, or the back-off is over: no wait */
    assert_false(srv__acme_waits(NULL, 0, -1, 500));
    assert_false(srv__acme_waits(&r, 0, -1, 1000));
    assert_false(srv__acme_waits(&r, 1, 2000, 1000));
    /* within the back-off: waits unless forced */
    assert_true(srv__acme_waits(&r, 0, -1, 999));
    assert_true(srv__acme_waits(&r, 0, 0, 999));
    assert_false(srv__acme_waits(&r, 1, -1, 999));
    /* forced: a Retry-After still running is honoured, one that ran out is not */
    assert_true(srv__acme_waits(&r, 1, 900, 899));
    assert_false(srv__acme_waits(&r, 1, 900, 900));
    assert_false(srv__acme_waits(&r, 1, 0, 500));
    /* forced, nothing known since a restart: a rate-limited failure waits for next_attempt */
    r.last_error = "rate_limited: too many new orders";
    assert_true(srv__acme_waits(&r, 1, -1, 999));
    assert_false(srv__acme_waits(&r, 1, 900, 950));
    r.last_error = "network: connection refused";
    assert_false(srv__acme_waits(&r, 1, -1, 999));
}

/* A planner pass reads the certificates and rows first and queues later: a domain whose order
 * finished in between must not be queued again by that pass (it was, and got a second
 * certificate); the next pass, which sees the new certificate, starts from an empty list. */
static void test_queue_finished(void **state)
{
    (void)state;
    struct srv_acme a;
    memset(&a, 0, sizeof(a));
    pthread_mutex_init(&a.mu, NULL);
    pthread_cond_init(&a.work_cv, NULL);
    char *due[] = {"a.test", "b.test"};
    srv__acme_enqueue(&a, due, 1);
    assert_int_equal(a.n_queue - a.q_head, 1);
    srv__acme_enqueue(&a, due, 1); /* busy: not twice */
    assert_int_equal(a.n_queue - a.q_head, 1);
    pthread_mutex_lock(&a.mu);
    srv__acme_done(&a, "a.test", 0, 0); /* its order ends while a pass is planning */
    pthread_mutex_unlock(&a.mu);
    assert_int_equal(a.n_busy, 0);
    srv__acme_enqueue(&a, due, 2); /* that pass queues what it planned */
    assert_int_equal(a.n_queue - a.q_head, 2);
    assert_string_equal(a.queue[1], "b.test");
    for (size_t i = 0; i < a.n_queue; i++)
        free(a.queue[i]);
    free(a.queue);
    strv_free(a.busy, a.n_busy);
    strv_free(a.finished, a.n_finished);
    pthread_cond_destroy(&a.work_cv);
    pthread_mutex_destroy(&a.mu);
}

UNIT_TESTS(NULL, cmocka_unit_test(test_cert_pick), cmocka_unit_test(test_waits),
           cmocka_unit_test(test_queue_finished), cmocka_unit_test(test_token_valid),
           cmocka_unit_test(test_http01), cmocka_unit_test(test_tlsalpn01),
           cmocka_unit_test(test_sni), cmocka_unit_test(test_alpn))
