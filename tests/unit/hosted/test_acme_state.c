/* test_acme_state.c - the ACME state of hosted/acme_state.c: rows written and read back, renewal
 * requests (hosted domains only, force or not, a request made while the scheduler held an
 * older copy of the row), and the install of an issued certificate with the source that
 * hosted_certs then reports ("acme", or "file" once the file is replaced by hand). */
#include "hosted_test.h"
#include "cert_test.h"
#include "tests/unit/unit_test.h"

#include <time.h>

static const char pol[] = "version: STSv1\nmode: testing\nmx: mail.example.com\nmax_age: 86400\n";

static void test_roundtrip(void **state)
{
    (void)state;
    struct fixture *fx = fixture_new(HOSTED_CREATE);
    struct hosted_acme a = {.domain = "B.test.",
                            .state = "failed",
                            .failures = 3,
                            .next_attempt = 1000,
                            .last_attempt = 900,
                            .last_success = 800,
                            .not_after = 5000,
                            .serial = "0AFF",
                            .last_error = "challenge: connection refused",
                            .account = "https://ca.test/acct/1",
                            .request = 2,
                            .requested_at = 950};
    assert_int_equal(hosted_acme_put(fx->h, &a), 0);
    struct hosted_acme b = {.domain = "a.test", .state = "ok"};
    assert_int_equal(hosted_acme_put(fx->h, &b), 0);

    struct hosted_acme r;
    assert_int_equal(hosted_acme_get(fx->h, "b.test", &r), 1);
    assert_string_equal(r.domain, "b.test"); /* stored in its canonical form */
    assert_string_equal(r.state, "failed");
    assert_int_equal(r.failures, 3);
    assert_int_equal(r.next_attempt, 1000);
    assert_int_equal(r.last_attempt, 900);
    assert_int_equal(r.last_success, 800);
    assert_int_equal(r.not_after, 5000);
    assert_string_equal(r.serial, "0AFF");
    assert_string_equal(r.last_error, "challenge: connection refused");
    assert_string_equal(r.account, "https://ca.test/acct/1");
    assert_int_equal(r.request, 2);
    assert_int_equal(r.requested_at, 950);
    hosted_acme_clear(&r);
    assert_null(r.domain);

    /* NULL strings stay NULL; no row is 0 with the row zeroed; a bad name is no row */
    assert_int_equal(hosted_acme_get(fx->h, "a.test", &r), 1);
    assert_null(r.serial);
    assert_null(r.last_error);
    assert_null(r.account);
    assert_int_equal(r.failures, 0);
    hosted_acme_clear(&r);
    r.failures = 7;
    assert_int_equal(hosted_acme_get(fx->h, "c.test", &r), 0);
    assert_int_equal(r.failures, 0);
    assert_null(r.domain);
    assert_int_equal(hosted_acme_get(fx->h, "bad_name!", &r), 0);
    struct hosted_acme bad = {.domain = "bad_name!"};
    assert_int_equal(hosted_acme_put(fx->h, &bad), -1);

    /* every row, sorted by domain */
    struct hosted_acme *v;
    size_t n;
    assert_int_equal(hosted_acme_list(fx->h, &v, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].domain, "a.test");
    assert_string_equal(v[1].domain, "b.test");
    assert_string_equal(v[1].serial, "0AFF");
    hosted_acme_free(v, n);

    /* a put replaces the row; a request newer than the one the writer read is kept */
    snprintf(a.state, sizeof(a.state), "ok");
    a.failures = 0;
    a.last_error = NULL;
    a.request = 0;
    a.requested_at = 900; /* the writer read an older request than the stored one (950) */
    assert_int_equal(hosted_acme_put(fx->h, &a), 0);
    assert_int_equal(hosted_acme_get(fx->h, "b.test", &r), 1);
    assert_string_equal(r.state, "ok");
    assert_int_equal(r.failures, 0);
    assert_null(r.last_error);
    assert_int_equal(r.request, 2);
    assert_int_equal(r.requested_at, 950);
    hosted_acme_clear(&r);
    a.requested_at = 950; /* the writer saw that request: it is answered */
    assert_int_equal(hosted_acme_put(fx->h, &a), 0);
    assert_int_equal(hosted_acme_get(fx->h, "b.test", &r), 1);
    assert_int_equal(r.request, 0);
    assert_int_equal(r.requested_at, 950);
    hosted_acme_clear(&r);

    /* a read-only handle changes nothing */
    char err[256];
    struct hosted *ro = hosted_open(&fx->cfg, HOSTED_READ_ONLY, err, sizeof(err));
    assert_non_null(ro);
    assert_int_equal(hosted_acme_put(ro, &b), -1);
    assert_int_equal(hosted_acme_request(ro, "a.test", 1, 1), -1);
    assert_int_equal(hosted_acme_list(ro, &v, &n), 0);
    assert_int_equal(n, 2);
    hosted_acme_free(v, n);
    hosted_close(ro);
    fixture_free(fx);
}

static void test_request(void **state)
{
    (void)state;
    struct fixture *fx = fixture_new(HOSTED_CREATE);
    struct hosted_acme r;
    /* nothing hosted: nothing marked */
    assert_int_equal(hosted_acme_request(fx->h, NULL, 0, 100), 0);
    put_file(fx, "policies/a.test.txt", pol, strlen(pol));
    put_file(fx, "policies/b.test.txt", pol, strlen(pol));

    /* a domain that is not hosted is not marked, nor is a name that is not a domain */
    assert_int_equal(hosted_acme_request(fx->h, "c.test", 1, 100), 0);
    assert_int_equal(hosted_acme_request(fx->h, "../b.test", 1, 100), 0);
    assert_int_equal(hosted_acme_get(fx->h, "c.test", &r), 0);

    /* "renew if due": a new row with request 1 and the time, never ordered */
    assert_int_equal(hosted_acme_request(fx->h, "A.TEST.", 0, 100), 1);
    assert_int_equal(hosted_acme_get(fx->h, "a.test", &r), 1);
    assert_int_equal(r.request, 1);
    assert_int_equal(r.requested_at, 100);
    assert_string_equal(r.state, "");
    assert_int_equal(r.last_attempt, 0);
    hosted_acme_clear(&r);
    /* forced: 2; a later request that is not forced does not weaken a pending one */
    assert_int_equal(hosted_acme_request(fx->h, "a.test", 1, 200), 1);
    assert_int_equal(hosted_acme_request(fx->h, "a.test", 0, 300), 1);
    assert_int_equal(hosted_acme_get(fx->h, "a.test", &r), 1);
    assert_int_equal(r.request, 2);
    assert_int_equal(r.requested_at, 300);
    hosted_acme_clear(&r);

    /* an existing row keeps its bookkeeping; only the request changes */
    struct hosted_acme b = {.domain = "b.test",
                            .state = "failed",
                            .failures = 2,
                            .next_attempt = 5000,
                            .last_error = "ca: rejectedIdentifier"};
    assert_int_equal(hosted_acme_put(fx->h, &b), 0);
    /* every hosted domain */
    assert_int_equal(hosted_acme_request(fx->h, NULL, 0, 400), 2);
    assert_int_equal(hosted_acme_get(fx->h, "b.test", &r), 1);
    assert_int_equal(r.request, 1);
    assert_int_equal(r.requested_at, 400);
    assert_string_equal(r.state, "failed");
    assert_int_equal(r.failures, 2);
    assert_int_equal(r.next_attempt, 5000);
    assert_string_equal(r.last_error, "ca: rejectedIdentifier");
    hosted_acme_clear(&r);
    assert_int_equal(hosted_acme_get(fx->h, "a.test", &r), 1);
    assert_int_equal(r.request, 2);
    hosted_acme_clear(&r);
    struct hosted_acme *v;
    size_t n;
    assert_int_equal(hosted_acme_list(fx->h, &v, &n), 0);
    assert_int_equal(n, 2); /* c.test never got a row */
    hosted_acme_free(v, n);
    fixture_free(fx);
}

/* The source and serial hosted_certs reports for mta-sts.<d>. */
static const struct hosted_cert *cert_of(struct fixture *fx, const char *d)
{
    const struct hosted_cert *v;
    size_t n;
    assert_int_equal(hosted_certs(fx->h, &v, &n), 0);
    int i = hosted_cert_for(fx->h, d);
    assert_true(i >= 0);
    return &v[i];
}

static void test_installed(void **state)
{
    (void)state;
    struct fixture *fx = fixture_new(HOSTED_CREATE);
    EVP_PKEY *cak = key_new(), *k = key_new();
    X509 *ca = cert_new("ACME test CA", cak, NULL, NULL, -86400, 86400 * 365, 1);
    cert_test_serial = 0x7A0B1C2D3E4F5061;
    X509 *leaf = cert_new("mta-sts.a.test", k, ca, cak, -3600, 86400 * 90, 0);
    X509 *hand = cert_new("mta-sts.a.test", k, ca, cak, -3600, 86400 * 60, 0);
    X509 *b = cert_new("mta-sts.b.test", k, ca, cak, -3600, 86400 * 60, 0);
    X509 *wrong = cert_new("mta-sts.other.test", k, ca, cak, -3600, 86400 * 90, 0);
    int64_t now = (int64_t)time(NULL);
    /* the scheduler's row before: failures, an error, a request it took up */
    struct hosted_acme before = {.domain = "a.test",
                                 .state = "pending",
                                 .failures = 4,
                                 .next_attempt = now + 600,
                                 .last_attempt = now - 5,
                                 .last_error = "network: connection refused",
                                 .request = 2,
                                 .requested_at = now - 10};
    assert_int_equal(hosted_acme_put(fx->h, &before), 0);

    size_t len;
    char err[300] = "";
    X509 *cw[] = {wrong, ca, NULL};
    char *pem = pem_of(cw, k, &len);
    assert_int_equal(
        hosted_acme_installed(fx->h, "a.test", pem, len, "acct", now, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "does not cover mta-sts.a.test"));
    free(pem);
    struct hosted_acme r;
    assert_int_equal(hosted_acme_get(fx->h, "a.test", &r), 1);
    assert_string_equal(r.state, "pending"); /* a refused certificate records nothing */
    hosted_acme_clear(&r);

    X509 *c1[] = {leaf, ca, NULL};
    pem = pem_of(c1, k, &len);
    assert_int_equal(hosted_acme_installed(fx->h, "A.test", pem, len, "https://ca.test/acct/7", now,
                                           err, sizeof(err)),
                     0);
    free(pem);
    assert_int_equal(hosted_acme_get(fx->h, "a.test", &r), 1);
    assert_string_equal(r.state, "ok");
    assert_int_equal(r.failures, 0);
    assert_int_equal(r.next_attempt, 0);
    assert_int_equal(r.last_attempt, now - 5);
    assert_int_equal(r.last_success, now);
    assert_null(r.last_error);
    assert_int_equal(r.request, 0);
    assert_string_equal(r.serial, "7A0B1C2D3E4F5061");
    assert_string_equal(r.account, "https://ca.test/acct/7");
    const struct hosted_cert *c = cert_of(fx, "a.test");
    assert_int_equal(r.not_after, c->not_after);
    assert_true(r.not_after > now + 86400 * 89 && r.not_after <= now + 86400 * 90);
    hosted_acme_clear(&r);
    assert_string_equal(c->serial, "7A0B1C2D3E4F5061");
    assert_string_equal(c->source, "acme");
    /* audited as the ACME client's */
    assert_audit(fx, "a.test", 1, "acme", "certificate", "not_after=");
    /* without a database the same certificate reads as "file" */
    char herr[256];
    struct hosted *nodb = hosted_open(&fx->cfg, HOSTED_NO_DB, herr, sizeof(herr));
    const struct hosted_cert *v;
    size_t n;
    assert_int_equal(hosted_certs(nodb, &v, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].serial, "7A0B1C2D3E4F5061");
    assert_string_equal(v[0].source, "file");
    hosted_close(nodb);

    /* a certificate put there by hand (another serial) is "file" again; one for a domain ACME
     * has no row for too */
    X509 *c2[] = {hand, ca, NULL}, *c3[] = {b, ca, NULL};
    pem = pem_of(c2, k, &len);
    put_file(fx, "certs/mta-sts.a.test.pem", pem, len);
    free(pem);
    pem = pem_of(c3, k, &len);
    put_file(fx, "certs/mta-sts.b.test.pem", pem, len);
    free(pem);
    c = cert_of(fx, "a.test");
    assert_string_equal(c->serial, "7A0B1C2D3E4F5062");
    assert_string_equal(c->source, "file");
    assert_string_equal(cert_of(fx, "b.test")->source, "file");

    X509 *all[] = {ca, leaf, hand, b, wrong};
    for (size_t j = 0; j < sizeof(all) / sizeof(all[0]); j++)
        X509_free(all[j]);
    EVP_PKEY_free(cak);
    EVP_PKEY_free(k);
    fixture_free(fx);
}

UNIT_TESTS(NULL, cmocka_unit_test(test_roundtrip), cmocka_unit_test(test_request),
           cmocka_unit_test(test_installed))
