/* test_cert_install.c - unit tests of hosted_cert_install (hosted/cert_install.c): certificates
 * made here with OpenSSL (a CA, an intermediate, leaves valid, expired, not yet valid, for
 * another name), every refusal with its reason, the installed file (mode 0600, chain + key)
 * and its audit row. */
#include "hosted_test.h"
#include "cert_test.h"
#include "tests/unit/unit_test.h"

#include <sys/stat.h>
#include <time.h>

static int expect(struct fixture *fx, X509 **chain, EVP_PKEY *key, const char *needle)
{
    size_t len;
    char *pem = pem_of(chain, key, &len);
    char err[400] = "";
    int rc = hosted_cert_install(fx->h, "A.test.", pem, len, "api", (int64_t)time(NULL), err,
                                 sizeof(err));
    free(pem);
    if (needle == NULL)
        return rc == 0;
    if (rc != -1 || strstr(err, needle) == NULL)
        fail_msg("want an error with '%s', got rc %d '%s'", needle, rc, err);
    return 1;
}

static void test_install(void **state)
{
    (void)state;
    struct fixture *fx = fixture_new(HOSTED_CREATE);
    EVP_PKEY *cak = key_new(), *ik = key_new(), *k = key_new(), *other = key_new();
    X509 *ca = cert_new("test CA", cak, NULL, NULL, -86400, 86400 * 365, 1);
    X509 *inter = cert_new("test intermediate", ik, ca, cak, -86400, 86400 * 365, 1);
    X509 *leaf = cert_new("mta-sts.a.test", k, inter, ik, -86400, 86400 * 90, 0);
    X509 *expired = cert_new("mta-sts.a.test", k, inter, ik, -86400 * 10, -86400, 0);
    X509 *future = cert_new("mta-sts.a.test", k, inter, ik, 86400 * 2, 86400 * 90, 0);
    X509 *wrong = cert_new("mta-sts.b.test", k, inter, ik, -86400, 86400 * 90, 0);
    X509 *old_inter = cert_new("test intermediate", ik, ca, cak, -86400 * 10, -3600, 1);

    X509 *c1[] = {leaf, inter, NULL}, *c2[] = {expired, inter, NULL}, *c3[] = {future, NULL};
    X509 *c4[] = {wrong, inter, NULL}, *c5[] = {inter, leaf, NULL}, *c6[] = {NULL};
    X509 *c7[] = {leaf, old_inter, NULL};
    assert_true(expect(fx, c1, other, "does not match"));
    assert_true(expect(fx, c2, k, "certificate 1 of the chain expired at"));
    assert_true(expect(fx, c3, k, "is not valid before"));
    assert_true(expect(fx, c4, k, "does not cover mta-sts.a.test"));
    assert_true(expect(fx, c5, k, "does not match")); /* the leaf must come first */
    assert_true(expect(fx, c6, k, "no PEM certificate"));
    assert_true(expect(fx, c1, NULL, "private key"));
    assert_true(expect(fx, c7, k, "certificate 2 of the chain expired"));
    char err[300];
    assert_int_equal(hosted_cert_install(fx->h, "a.test", "", 0, "api", 0, err, sizeof(err)), -1);
    assert_int_equal(hosted_cert_install(fx->h, "bad_name!", "x", 1, "api", 0, err, sizeof(err)),
                     -1);
    /* nothing was written by the refusals */
    char *path = xasprintf("%s/certs/mta-sts.a.test.pem", fx->dir);
    struct stat sb;
    assert_int_equal(stat(path, &sb), -1);
    struct hosted_audit *v = NULL;
    size_t n = 9;
    assert_int_equal(hosted_audit_list(fx->h, "a.test", 10, &v, &n), 0);
    assert_int_equal(n, 0);
    hosted_audit_free(v, n);

    /* a .crt + .key pair of the same name would shadow the new file: it goes */
    put_file(fx, "certs/mta-sts.a.test.crt", "x", 1);
    put_file(fx, "certs/mta-sts.a.test.key", "x", 1);
    assert_true(expect(fx, c1, k, NULL));
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    char *crt = xasprintf("%s/certs/mta-sts.a.test.crt", fx->dir);
    assert_int_equal(stat(crt, &sb), -1);
    free(crt);
    size_t len = 0;
    char *file = file_read_all(path, 1 << 20, &len);
    assert_non_null(file);
    BIO *b = BIO_new_mem_buf(file, (int)len);
    X509 *r1 = PEM_read_bio_X509(b, NULL, NULL, NULL), *r2 = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    b = BIO_new_mem_buf(file, (int)len);
    EVP_PKEY *rk = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
    BIO_free(b);
    assert_int_equal(X509_cmp(r1, leaf), 0);
    assert_int_equal(X509_cmp(r2, inter), 0);
    assert_int_equal(EVP_PKEY_eq(rk, k), 1);
    X509_free(r1);
    X509_free(r2);
    EVP_PKEY_free(rk);
    free(file);
    /* the certificate is what hosted_certs lists for the domain */
    const struct hosted_cert *cv = NULL;
    size_t nc = 0;
    assert_int_equal(hosted_certs(fx->h, &cv, &nc), 0);
    int i = hosted_cert_for(fx->h, "a.test");
    assert_true(i >= 0);
    assert_string_equal(cv[i].name, "mta-sts.a.test");
    /* one audit row */
    assert_audit(fx, "a.test", 1, "api", "certificate", "not_after=");
    free(path);
    X509 *all[] = {ca, inter, leaf, expired, future, wrong, old_inter};
    for (size_t j = 0; j < sizeof(all) / sizeof(all[0]); j++)
        X509_free(all[j]);
    EVP_PKEY *keys[] = {cak, ik, k, other};
    for (size_t j = 0; j < 4; j++)
        EVP_PKEY_free(keys[j]);
    fixture_free(fx);
}

UNIT_TESTS(NULL, cmocka_unit_test(test_install))
