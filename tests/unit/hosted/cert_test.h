/* cert_test.h - certificates and keys made with OpenSSL for the hosted/ tests: a P-256 key, a
 * certificate for one name (or a CA) signed by an issuer, and their PEM text. */
#ifndef STSD_CERT_TEST_H
#define STSD_CERT_TEST_H

#include "hosted_test.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

static inline EVP_PKEY *key_new(void)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    assert_non_null(k);
    return k;
}

/* The serial number the next cert_new gives (then counted up). */
static int64_t cert_test_serial = 1;

/* A certificate for cn (also its one DNS SAN) valid [now + from, now + to] (seconds), signed
 * by issuer/ikey (NULL: self-signed); ca: a CA certificate. */
static inline X509 *cert_new(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *ikey, long from,
                             long to, int ca)
{
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set_int64(X509_get_serialNumber(x), cert_test_serial++);
    X509_gmtime_adj(X509_getm_notBefore(x), from);
    X509_gmtime_adj(X509_getm_notAfter(x), to);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
    X509_set_pubkey(x, key);
    X509V3_CTX c;
    X509V3_set_ctx_nodb(&c);
    X509V3_set_ctx(&c, issuer ? issuer : x, x, NULL, NULL, 0);
    char san[300];
    snprintf(san, sizeof(san), "DNS:%s", cn);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(
        NULL, &c, ca ? NID_basic_constraints : NID_subject_alt_name, ca ? "critical,CA:TRUE" : san);
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    assert_true(X509_sign(x, ikey ? ikey : key, EVP_sha256()) > 0);
    return x;
}

/* PEM of the certificates (NULL-terminated) and the key, malloc'd. */
static inline char *pem_of(X509 **chain, EVP_PKEY *key, size_t *len)
{
    BIO *b = BIO_new(BIO_s_mem());
    for (size_t i = 0; chain[i]; i++)
        PEM_write_bio_X509(b, chain[i]);
    if (key)
        PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL);
    char *p;
    long n = BIO_get_mem_data(b, &p);
    char *out = xstrndup(p, (size_t)n);
    *len = (size_t)n;
    BIO_free(b);
    return out;
}

#endif
