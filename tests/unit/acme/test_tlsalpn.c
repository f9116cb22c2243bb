/* test_tlsalpn.c - the key authorization, the RFC 8737 validation certificate (parsed back with
 * OpenSSL), the CSR of an order and the check of the chain the CA sends. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "acme/acme_int.h"
#include "common/common.h"
#include "tests/unit/unit_test.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

static const char token[] = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA";

static void test_key_authorization(void **state)
{
    EVP_PKEY *k = acme__p256_new();
    assert_non_null(k);
    char *tp = acme_jwk_thumbprint(k);
    char *ka = acme_key_authorization(k, token);
    char *want = xasprintf("%s.%s", token, tp);
    assert_string_equal(ka, want);
    assert_int_equal(strlen(tp), 43); /* base64url of 32 bytes */
    assert_null(acme_key_authorization(k, NULL));
    free(want);
    free(ka);
    free(tp);
    EVP_PKEY_free(k);
}

/* The DNS names of a certificate's or request's SAN, comma-joined into out. */
static void san_names(const GENERAL_NAMES *names, char *out, size_t outlen)
{
    out[0] = '\0';
    for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
        assert_int_equal(gn->type, GEN_DNS);
        snprintf(out + strlen(out), outlen - strlen(out), "%s%s", i ? "," : "",
                 (const char *)ASN1_STRING_get0_data(gn->d.dNSName));
    }
}

static void test_tlsalpn_cert(void **state)
{
    const char *host = "mta-sts.example.test";
    const char *ka =
        "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI";
    X509 *x = NULL;
    EVP_PKEY *k = NULL;
    assert_int_equal(acme_tlsalpn_cert(host, ka, &x, &k), 0);
    /* through DER and back, as a validating CA sees it */
    unsigned char *der = NULL;
    int derlen = i2d_X509(x, &der);
    assert_true(derlen > 0);
    const unsigned char *p = der;
    X509 *y = d2i_X509(NULL, &p, derlen);
    assert_non_null(y);

    ASN1_OBJECT *oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1);
    int idx = X509_get_ext_by_OBJ(y, oid, -1);
    assert_true(idx >= 0);
    assert_int_equal(X509_get_ext_by_OBJ(y, oid, idx), -1); /* exactly one */
    X509_EXTENSION *ext = X509_get_ext(y, idx);
    assert_int_equal(X509_EXTENSION_get_critical(ext), 1);
    const ASN1_OCTET_STRING *val = X509_EXTENSION_get_data(ext);
    unsigned char want[34] = {0x04, 0x20};
    unsigned int mdlen = 0;
    assert_int_equal(EVP_Digest(ka, strlen(ka), want + 2, &mdlen, EVP_sha256(), NULL), 1);
    assert_int_equal(ASN1_STRING_length(val), 34);
    assert_memory_equal(ASN1_STRING_get0_data(val), want, 34);

    GENERAL_NAMES *names = X509_get_ext_d2i(y, NID_subject_alt_name, NULL, NULL);
    char got[300];
    san_names(names, got, sizeof(got));
    assert_string_equal(got, host);
    GENERAL_NAMES_free(names);

    assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(y), k), 1);
    assert_int_equal(X509_verify(y, k), 1); /* self-signed */
    assert_int_equal(X509_check_host(y, host, 0, 0, NULL), 1);
    assert_true(X509_cmp_current_time(X509_get0_notBefore(y)) < 0);
    assert_true(X509_cmp_current_time(X509_get0_notAfter(y)) > 0);
    /* short-lived: at most 8 days from now */
    time_t later = time(NULL) + 8 * 86400;
    assert_true(X509_cmp_time(X509_get0_notAfter(y), &later) < 0);

    /* another key authorization, another digest; another call, another key */
    X509 *x2 = NULL;
    EVP_PKEY *k2 = NULL;
    assert_int_equal(acme_tlsalpn_cert(host, "other.key-auth", &x2, &k2), 0);
    const ASN1_OCTET_STRING *v2 =
        X509_EXTENSION_get_data(X509_get_ext(x2, X509_get_ext_by_OBJ(x2, oid, -1)));
    assert_memory_not_equal(ASN1_STRING_get0_data(v2), want, 34);
    assert_int_not_equal(EVP_PKEY_eq(k, k2), 1);

    ASN1_OBJECT_free(oid);
    X509_free(x2);
    EVP_PKEY_free(k2);
    X509_free(y);
    OPENSSL_free(der);
    X509_free(x);
    EVP_PKEY_free(k);
}

static X509_REQ *csr_of(const char *host, EVP_PKEY **key)
{
    char *b64 = NULL;
    assert_int_equal(acme__csr_new(host, key, &b64), 0);
    size_t len = 0;
    unsigned char *der = acme_b64url_decode(b64, strlen(b64), &len);
    assert_non_null(der);
    const unsigned char *p = der;
    X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)len);
    assert_non_null(req);
    assert_ptr_equal(p, der + len);
    free(der);
    free(b64);
    return req;
}

/* The SAN names requested in req, comma-joined. */
static void csr_san(X509_REQ *req, char *out, size_t outlen)
{
    STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
    int idx = X509v3_get_ext_by_NID(exts, NID_subject_alt_name, -1);
    assert_true(idx >= 0);
    GENERAL_NAMES *names = X509V3_EXT_d2i(sk_X509_EXTENSION_value(exts, idx));
    san_names(names, out, outlen);
    GENERAL_NAMES_free(names);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
}

static void test_csr(void **state)
{
    EVP_PKEY *k = NULL;
    X509_REQ *req = csr_of("mta-sts.example.test", &k);
    assert_int_equal(X509_REQ_verify(req, k), 1);
    assert_int_equal(EVP_PKEY_eq(X509_REQ_get0_pubkey(req), k), 1);
    assert_string_equal(OBJ_nid2sn(EVP_PKEY_get_base_id(k)), "id-ecPublicKey");
    char san[300];
    csr_san(req, san, sizeof(san));
    assert_string_equal(san, "mta-sts.example.test");
    X509_REQ_free(req);
    EVP_PKEY_free(k);

    /* a name longer than a CN may be: only in the SAN */
    char host[200];
    snprintf(host, sizeof(host), "mta-sts.%s.%s.test", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
             "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
    req = csr_of(host, &k);
    assert_int_equal(X509_NAME_entry_count(X509_REQ_get_subject_name(req)), 0);
    csr_san(req, san, sizeof(san));
    assert_string_equal(san, host);
    X509_REQ_free(req);

    /* the key's PEM is PKCS#8 and loads back as the same key */
    char *pem = acme__key_pem(k);
    assert_non_null(pem);
    assert_non_null(strstr(pem, "-----BEGIN PRIVATE KEY-----"));
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *back = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    assert_int_equal(EVP_PKEY_eq(back, k), 1);
    EVP_PKEY_free(back);
    BIO_free(bio);
    free(pem);
    EVP_PKEY_free(k);
}

static void test_chain_check(void **state)
{
    X509 *x = NULL;
    EVP_PKEY *k = NULL, *other = acme__p256_new();
    assert_int_equal(acme_tlsalpn_cert("mta-sts.example.test", "ka", &x, &k), 0);
    BIO *bio = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_X509(bio, x), 1);
    char *pem = NULL;
    size_t pemlen = (size_t)BIO_get_mem_data(bio, &pem); /* not NUL-terminated */
    char err[200];
    assert_int_equal(acme__chain_check(pem, pemlen, k, "mta-sts.example.test", err, sizeof(err)),
                     0);
    assert_int_equal(
        acme__chain_check(pem, pemlen, other, "mta-sts.example.test", err, sizeof(err)), -1);
    assert_string_equal(err, "the certificate is not for the key of the CSR");
    assert_int_equal(acme__chain_check(pem, pemlen, k, "mta-sts.other.test", err, sizeof(err)), -1);
    assert_string_equal(err, "the certificate does not cover the name");
    assert_int_equal(acme__chain_check(pem, 40, k, "mta-sts.example.test", err, sizeof(err)), -1);
    assert_string_equal(err, "the answer is not a PEM certificate chain");
    BIO_free(bio);
    X509_free(x);
    EVP_PKEY_free(k);
    EVP_PKEY_free(other);
}

static void test_tlsalpn_cert_refuses(void **state)
{
    X509 *x = (X509 *)1;
    EVP_PKEY *k = (EVP_PKEY *)1;
    assert_int_equal(acme_tlsalpn_cert("not a host", "ka", &x, &k), -1);
    assert_null(x);
    assert_null(k);
    assert_int_equal(acme_tlsalpn_cert("mta-sts.example.test", NULL, &x, &k), -1);
    assert_int_equal(acme_tlsalpn_cert(NULL, "ka", &x, &k), -1);
}

UNIT_TESTS(NULL, cmocka_unit_test(test_key_authorization), cmocka_unit_test(test_tlsalpn_cert),
           cmocka_unit_test(test_csr), cmocka_unit_test(test_chain_check),
           cmocka_unit_test(test_tlsalpn_cert_refuses))
