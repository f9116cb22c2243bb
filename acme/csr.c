/* csr.c - the certificate side of an order: a new key and its CSR (RFC 8555 section 7.4), the
 * key as PEM, and the check that the chain the CA sent is for that key and name. */
#include "acme/acme_int.h"
#include "common/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

EVP_PKEY *acme__p256_new(void)
{
    return EVP_EC_gen("P-256");
}

X509_EXTENSION *acme__san_ext(const char *host)
{
    GENERAL_NAMES *names = sk_GENERAL_NAME_new_null();
    GENERAL_NAME *gn = GENERAL_NAME_new();
    ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();
    X509_EXTENSION *ext = NULL;
    if (names == NULL || gn == NULL || ia5 == NULL ||
        ASN1_STRING_set(ia5, host, (int)strlen(host)) != 1) {
        ASN1_IA5STRING_free(ia5);
        GENERAL_NAME_free(gn);
        goto out;
    }
    GENERAL_NAME_set0_value(gn, GEN_DNS, ia5);
    if (sk_GENERAL_NAME_push(names, gn) <= 0) {
        GENERAL_NAME_free(gn);
        goto out;
    }
    ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, names);
out:
    GENERAL_NAMES_free(names);
    return ext;
}

/* A CN is at most 64 characters (RFC 5280's ub-common-name); the name is in the SAN anyway. */
static int set_cn(X509_NAME *name, const char *host)
{
    if (strlen(host) > 64)
        return 0;
    return X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)host, -1, -1,
                                      0) == 1
               ? 0
               : -1;
}

int acme__csr_new(const char *host, EVP_PKEY **key, char **csr_b64)
{
    *key = acme__p256_new();
    *csr_b64 = NULL;
    X509_REQ *req = X509_REQ_new();
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    X509_EXTENSION *san = acme__san_ext(host);
    unsigned char *der = NULL;
    int derlen = 0, rc = -1;
    if (*key == NULL || req == NULL || exts == NULL || san == NULL ||
        X509_REQ_set_version(req, 0) != 1 || set_cn(X509_REQ_get_subject_name(req), host) != 0 ||
        X509_REQ_set_pubkey(req, *key) != 1 || sk_X509_EXTENSION_push(exts, san) <= 0)
        goto out;
    san = NULL; /* owned by exts now */
    if (X509_REQ_add_extensions(req, exts) != 1 || X509_REQ_sign(req, *key, EVP_sha256()) <= 0 ||
        (derlen = i2d_X509_REQ(req, &der)) <= 0)
        goto out;
    *csr_b64 = acme_b64url_encode(der, (size_t)derlen);
    rc = 0;
out:
    OPENSSL_free(der);
    X509_EXTENSION_free(san);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_REQ_free(req);
    if (rc != 0) {
        EVP_PKEY_free(*key);
        *key = NULL;
    }
    return rc;
}

char *acme__key_pem(EVP_PKEY *key)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL, *out = NULL;
    long n = 0;
    if (bio != NULL && PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) == 1 &&
        (n = BIO_get_mem_data(bio, &data)) > 0)
        out = xstrndup(data, (size_t)n);
    BIO_free(bio);
    return out;
}

int acme__chain_check(const char *chain, size_t len, EVP_PKEY *key, const char *host, char *err,
                      size_t errlen)
{
    BIO *bio = BIO_new_mem_buf(chain, (int)len);
    X509 *leaf = bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    const char *why = NULL;
    if (leaf == NULL)
        why = "the answer is not a PEM certificate chain";
    else if (EVP_PKEY_eq(X509_get0_pubkey(leaf), key) != 1)
        why = "the certificate is not for the key of the CSR";
    else if (X509_check_host(leaf, host, 0, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) != 1)
        why = "the certificate does not cover the name";
    X509_free(leaf);
    BIO_free(bio);
    if (why != NULL && err != NULL && errlen > 0)
        snprintf(err, errlen, "%s", why);
    return why != NULL ? -1 : 0;
}
