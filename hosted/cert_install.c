/* cert_install.c - installing an uploaded mta-sts certificate: the PEM chain and key are
 * checked (the key matches the leaf, the leaf covers mta-sts.<domain> by RFC 6125 rules, every
 * certificate of the chain is valid now and issued the one before it), then written as one
 * <cert_dir>/mta-sts.<domain>.pem (0600) that the server reads on its next reload. */
#include "hosted/hosted.h"
#include "hosted/hosted_int.h"
#include "common/common.h"

#include <errno.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CERT_CHAIN_MAX 10 /* certificates accepted in one upload */

/* Never prompt for a pass phrase: an encrypted key is refused. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return -1;
}

struct upload {
    X509 *chain[CERT_CHAIN_MAX];
    size_t n;
    EVP_PKEY *key;
};

static void upload_free(struct upload *u)
{
    for (size_t i = 0; i < u->n; i++)
        X509_free(u->chain[i]);
    EVP_PKEY_free(u->key);
}

/* The certificates (in order) and the one private key of a PEM text. -1 with err. */
static int upload_read(const char *pem, size_t len, struct upload *u, char *err, size_t errlen)
{
    memset(u, 0, sizeof(*u));
    if (len == 0 || len > INT32_MAX) {
        snprintf(err, errlen, "the body is empty: send the PEM certificate chain and key");
        return -1;
    }
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    X509 *x;
    /* PEM_read_bio_X509 skips blocks of other types (the key) on its way. */
    while ((x = PEM_read_bio_X509(b, NULL, no_passphrase, NULL)) != NULL) {
        if (u->n == CERT_CHAIN_MAX) {
            X509_free(x);
            BIO_free(b);
            snprintf(err, errlen, "more than %d certificates in the chain", CERT_CHAIN_MAX);
            return -1;
        }
        u->chain[u->n++] = x;
    }
    BIO_free(b);
    ERR_clear_error();
    if (u->n == 0) {
        snprintf(err, errlen, "no PEM certificate (-----BEGIN CERTIFICATE-----) in the body");
        return -1;
    }
    b = BIO_new_mem_buf(pem, (int)len);
    u->key = PEM_read_bio_PrivateKey(b, NULL, no_passphrase, NULL);
    EVP_PKEY *extra = u->key ? PEM_read_bio_PrivateKey(b, NULL, no_passphrase, NULL) : NULL;
    BIO_free(b);
    ERR_clear_error();
    if (u->key == NULL) {
        snprintf(err, errlen,
                 "no unencrypted PEM private key in the body (an encrypted key "
                 "is refused: the server starts without a pass phrase)");
        return -1;
    }
    if (extra != NULL) {
        EVP_PKEY_free(extra);
        snprintf(err, errlen, "more than one private key in the body");
        return -1;
    }
    return 0;
}

/* The checks before anything is written. -1 with err. */
static int upload_check(const struct upload *u, const char *host, int64_t now, char *err,
                        size_t errlen)
{
    X509 *leaf = u->chain[0];
    if (X509_check_private_key(leaf, u->key) != 1) {
        ERR_clear_error();
        snprintf(err, errlen, "the private key does not match the certificate");
        return -1;
    }
    /* RFC 8461 §3.3: senders check the policy host's certificate by RFC 6125 rules. */
    if (X509_check_host(leaf, host, 0, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) != 1) {
        snprintf(err, errlen, "the certificate does not cover %s", host);
        return -1;
    }
    for (size_t i = 0; i < u->n; i++) {
        int64_t nb = hosted__asn1_unix(X509_get0_notBefore(u->chain[i]));
        int64_t na = hosted__asn1_unix(X509_get0_notAfter(u->chain[i]));
        char t[21];
        if (na < now) {
            format_rfc3339((time_t)na, t);
            snprintf(err, errlen, "certificate %zu of the chain expired at %s", i + 1, t);
            return -1;
        }
        if (nb > now) {
            format_rfc3339((time_t)nb, t);
            snprintf(err, errlen, "certificate %zu of the chain is not valid before %s", i + 1, t);
            return -1;
        }
        if (i + 1 < u->n && X509_check_issued(u->chain[i + 1], u->chain[i]) != X509_V_OK) {
            snprintf(err, errlen,
                     "certificate %zu of the chain did not issue certificate %zu: send the "
                     "leaf first, then each issuer",
                     i + 2, i + 1);
            return -1;
        }
    }
    return 0;
}

/* The chain, then the key (PKCS #8), as one PEM text. malloc'd. */
static char *upload_pem(const struct upload *u, size_t *len)
{
    BIO *b = BIO_new(BIO_s_mem());
    for (size_t i = 0; i < u->n; i++)
        PEM_write_bio_X509(b, u->chain[i]);
    PEM_write_bio_PrivateKey(b, u->key, NULL, NULL, 0, NULL, NULL);
    char *p;
    long n = BIO_get_mem_data(b, &p);
    char *out = xstrndup(p, (size_t)n);
    *len = (size_t)n;
    BIO_free(b);
    return out;
}

int hosted_cert_install(struct hosted *h, const char *domain, const char *pem, size_t len,
                        const char *actor, int64_t now, char *err, size_t errlen)
{
    char dom[254];
    if (domain_normalise(domain, dom, sizeof(dom)) != 0) {
        snprintf(err, errlen, "'%.80s' is not a domain name", domain);
        return -1;
    }
    char host[262];
    snprintf(host, sizeof(host), "mta-sts.%s", dom);
    struct upload u;
    if (upload_read(pem, len, &u, err, errlen) != 0 ||
        upload_check(&u, host, now, err, errlen) != 0) {
        upload_free(&u);
        return -1;
    }
    size_t olen = 0;
    char *out = upload_pem(&u, &olen);
    int64_t not_after = hosted__asn1_unix(X509_get0_notAfter(u.chain[0]));
    char issuer[256] = "";
    X509_NAME_oneline(X509_get_issuer_name(u.chain[0]), issuer, sizeof(issuer));
    upload_free(&u);
    const char *dir = hosted_cert_dir(h);
    char *path = xasprintf("%s/%s.pem", dir, host);
    int rc = 0;
    if (mkdir_p(dir, 0750) != 0 || file_write_atomic(path, out, olen, 0600) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        rc = -1;
    } else {
        /* A <host>.crt + <host>.key pair would be read before the new .pem: it goes. */
        char *crt = xasprintf("%s/%s.crt", dir, host), *key = xasprintf("%s/%s.key", dir, host);
        unlink(crt);
        unlink(key);
        free(crt);
        free(key);
        char t[21], detail[400];
        format_rfc3339((time_t)not_after, t);
        snprintf(detail, sizeof(detail), "not_after=%s issuer=%s", t, issuer);
        hosted__audit(h, actor, "certificate", dom, NULL, NULL, detail, now);
    }
    OPENSSL_cleanse(out, olen);
    free(out);
    free(path);
    return rc;
}
