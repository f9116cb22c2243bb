/* tlsalpn.c - what a challenge answers with: the key authorization (RFC 8555 section 8.1) and
 * the tls-alpn-01 validation certificate (RFC 8737 section 3). */
#include "acme/acme_int.h"
#include "common/common.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/objects.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#define TLSALPN_VALIDITY (7 * 86400) /* the CA validates within minutes */

char *acme_key_authorization(EVP_PKEY *account_key, const char *token)
{
    if (token == NULL)
        return NULL;
    char *tp = acme_jwk_thumbprint(account_key);
    if (tp == NULL)
        return NULL;
    char *ka = xasprintf("%s.%s", token, tp);
    free(tp);
    return ka;
}

/* The critical id-pe-acmeIdentifier extension: its extnValue is the DER of an OCTET STRING
 * holding SHA-256(key_auth) (RFC 8737 section 3), i.e. 04 20 || digest. */
static X509_EXTENSION *acme_identifier_ext(const char *key_auth)
{
    unsigned char der[2 + 32];
    unsigned int mdlen = 0;
    der[0] = 0x04;
    der[1] = 0x20;
    if (EVP_Digest(key_auth, strlen(key_auth), der + 2, &mdlen, EVP_sha256(), NULL) != 1 ||
        mdlen != 32)
        return NULL;
    ASN1_OBJECT *oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1);
    ASN1_OCTET_STRING *val = ASN1_OCTET_STRING_new();
    X509_EXTENSION *ext = NULL;
    if (oid != NULL && val != NULL && ASN1_OCTET_STRING_set(val, der, sizeof(der)) == 1)
        ext = X509_EXTENSION_create_by_OBJ(NULL, oid, 1, val);
    ASN1_OCTET_STRING_free(val);
    ASN1_OBJECT_free(oid);
    return ext;
}

/* A random positive 64-bit serial number. */
static int set_serial(X509 *x)
{
    unsigned char r[8];
    if (RAND_bytes(r, sizeof(r)) != 1)
        return -1;
    r[0] &= 0x7f;
    r[0] |= 0x01; /* never zero */
    BIGNUM *bn = BN_bin2bn(r, sizeof(r), NULL);
    ASN1_INTEGER *ai = bn != NULL ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
    int rc = ai != NULL && X509_set_serialNumber(x, ai) == 1 ? 0 : -1;
    ASN1_INTEGER_free(ai);
    BN_free(bn);
    return rc;
}

int acme_tlsalpn_cert(const char *host, const char *key_auth, X509 **cert, EVP_PKEY **key)
{
    *cert = NULL;
    *key = NULL;
    if (host == NULL || key_auth == NULL || !domain_valid(host))
        return -1;
    EVP_PKEY *k = acme__p256_new();
    X509 *x = X509_new();
    X509_EXTENSION *san = acme__san_ext(host);
    X509_EXTENSION *id = acme_identifier_ext(key_auth);
    X509_NAME *name = x != NULL ? X509_get_subject_name(x) : NULL;
    int rc = -1;
    if (k == NULL || x == NULL || san == NULL || id == NULL || X509_set_version(x, 2) != 1 ||
        set_serial(x) != 0 || X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
        X509_gmtime_adj(X509_getm_notAfter(x), TLSALPN_VALIDITY) == NULL ||
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                   (const unsigned char *)"acme-tls-alpn-01", -1, -1, 0) != 1 ||
        X509_set_issuer_name(x, name) != 1 || X509_set_pubkey(x, k) != 1 ||
        X509_add_ext(x, san, -1) != 1 || X509_add_ext(x, id, -1) != 1 ||
        X509_sign(x, k, EVP_sha256()) <= 0)
        goto out;
    *cert = x;
    *key = k;
    x = NULL;
    k = NULL;
    rc = 0;
out:
    X509_EXTENSION_free(san);
    X509_EXTENSION_free(id);
    X509_free(x);
    EVP_PKEY_free(k);
    return rc;
}
