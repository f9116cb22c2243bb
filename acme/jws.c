/* jws.c - base64url, the EC P-256 JWK and its thumbprint, ES256 JWS signing and verification,
 * and the account key file, for the ACME client. */
#include "acme/acme.h"
#include "acme/acme_int.h"
#include "common/common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#define P256_COORD 32
#define ACCOUNT_KEY_CAP 16384

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char *acme_b64url_encode(const void *buf, size_t len)
{
    const unsigned char *p = buf;
    char *out = xmalloc(len / 3 * 4 + 5);
    size_t o = 0, i = 0;
    for (; i + 3 <= len; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
        out[o++] = b64url_alphabet[v >> 18 & 63];
        out[o++] = b64url_alphabet[v >> 12 & 63];
        out[o++] = b64url_alphabet[v >> 6 & 63];
        out[o++] = b64url_alphabet[v & 63];
    }
    if (len - i == 1) {
        unsigned v = (unsigned)p[i] << 16;
        out[o++] = b64url_alphabet[v >> 18 & 63];
        out[o++] = b64url_alphabet[v >> 12 & 63];
    } else if (len - i == 2) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8;
        out[o++] = b64url_alphabet[v >> 18 & 63];
        out[o++] = b64url_alphabet[v >> 12 & 63];
        out[o++] = b64url_alphabet[v >> 6 & 63];
    }
    out[o] = '\0';
    return out;
}

static int b64url_value(char c)
{
    const char *p = c != '\0' ? strchr(b64url_alphabet, c) : NULL;
    return p != NULL ? (int)(p - b64url_alphabet) : -1;
}

unsigned char *acme_b64url_decode(const char *s, size_t slen, size_t *len)
{
    if (slen % 4 == 1)
        return NULL;
    unsigned char *out = xmalloc(slen / 4 * 3 + 3);
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < slen; i++) {
        int v = b64url_value(s[i]);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = (acc << 6 | (unsigned)v) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits & 0xff);
        }
    }
    /* the bits left over must be zero, or two texts would decode to the same bytes */
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) {
        free(out);
        return NULL;
    }
    out[o] = '\0';
    *len = o;
    return out;
}

EVP_PKEY *acme_p256_from_xy(const unsigned char x[32], const unsigned char y[32])
{
    unsigned char point[1 + 2 * P256_COORD];
    point[0] = 0x04; /* uncompressed */
    memcpy(point + 1, x, P256_COORD);
    memcpy(point + 1 + P256_COORD, y, P256_COORD);
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"P-256", 0),
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point)),
        OSSL_PARAM_construct_end(),
    };
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
        pkey = NULL;
    EVP_PKEY_CTX_free(ctx);
    return pkey;
}

/* 1 when `key` is an EC key on P-256. */
static int is_p256(EVP_PKEY *key)
{
    char group[64];
    size_t glen = 0;
    return key != NULL && EVP_PKEY_is_a(key, "EC") &&
           EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                          &glen) == 1 &&
           (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0);
}

/* The key's public coordinates, each left-padded to 32 bytes. 0 or -1. */
static int p256_xy(EVP_PKEY *key, unsigned char x[32], unsigned char y[32])
{
    if (!is_p256(key))
        return -1;
    BIGNUM *bx = NULL, *by = NULL;
    int rc = -1;
    if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &bx) == 1 &&
        EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &by) == 1 &&
        BN_bn2binpad(bx, x, P256_COORD) == P256_COORD &&
        BN_bn2binpad(by, y, P256_COORD) == P256_COORD)
        rc = 0;
    BN_free(bx);
    BN_free(by);
    return rc;
}

json_t *acme_jwk(EVP_PKEY *key)
{
    unsigned char x[P256_COORD], y[P256_COORD];
    if (p256_xy(key, x, y) != 0)
        return NULL;
    char *xs = acme_b64url_encode(x, sizeof(x));
    char *ys = acme_b64url_encode(y, sizeof(y));
    json_t *jwk = json_pack("{s:s, s:s, s:s, s:s}", "crv", "P-256", "kty", "EC", "x", xs, "y", ys);
    free(xs);
    free(ys);
    return jwk;
}

char *acme_jwk_thumbprint(EVP_PKEY *key)
{
    json_t *jwk = acme_jwk(key);
    if (jwk == NULL)
        return NULL;
    /* the JWK holds exactly the required members; sorted and compact is RFC 7638's form */
    char *text = json_dumps(jwk, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(jwk);
    if (text == NULL)
        return NULL;
    unsigned char md[32];
    unsigned int mdlen = 0;
    int ok = EVP_Digest(text, strlen(text), md, &mdlen, EVP_sha256(), NULL);
    free(text);
    if (ok != 1 || mdlen != sizeof(md))
        return NULL;
    return acme_b64url_encode(md, mdlen);
}

/* ES256 over `input`: the 64-byte raw R||S in `rs`. 0 or -1. */
static int es256_sign(EVP_PKEY *key, const char *input, unsigned char rs[64])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char *der = NULL;
    size_t derlen = 0;
    ECDSA_SIG *sig = NULL;
    int rc = -1;
    if (md == NULL || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
        EVP_DigestSign(md, NULL, &derlen, (const unsigned char *)input, strlen(input)) != 1)
        goto out;
    der = xmalloc(derlen);
    if (EVP_DigestSign(md, der, &derlen, (const unsigned char *)input, strlen(input)) != 1)
        goto out;
    const unsigned char *p = der;
    sig = d2i_ECDSA_SIG(NULL, &p, (long)derlen);
    if (sig == NULL)
        goto out;
    const BIGNUM *r = NULL, *s = NULL;
    ECDSA_SIG_get0(sig, &r, &s);
    if (BN_bn2binpad(r, rs, P256_COORD) != P256_COORD ||
        BN_bn2binpad(s, rs + P256_COORD, P256_COORD) != P256_COORD)
        goto out;
    rc = 0;
out:
    ECDSA_SIG_free(sig);
    free(der);
    EVP_MD_CTX_free(md);
    return rc;
}

char *acme_jws_sign(EVP_PKEY *key, const char *nonce, const char *url, const char *kid,
                    const char *payload)
{
    if (key == NULL || nonce == NULL || url == NULL)
        return NULL;
    json_t *hdr = json_pack("{s:s, s:s, s:s}", "alg", "ES256", "nonce", nonce, "url", url);
    if (hdr == NULL)
        return NULL;
    if (kid != NULL) {
        json_object_set_new(hdr, "kid", json_string(kid));
    } else {
        json_t *jwk = acme_jwk(key);
        if (jwk == NULL) {
            json_decref(hdr);
            return NULL;
        }
        json_object_set_new(hdr, "jwk", jwk);
    }
    char *hdr_text = json_dumps(hdr, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(hdr);
    if (hdr_text == NULL)
        return NULL;
    char *prot = acme_b64url_encode(hdr_text, strlen(hdr_text));
    free(hdr_text);
    char *pay =
        acme_b64url_encode(payload != NULL ? payload : "", payload != NULL ? strlen(payload) : 0);
    char *input = xasprintf("%s.%s", prot, pay);
    unsigned char rs[64];
    char *out = NULL;
    if (es256_sign(key, input, rs) == 0) {
        char *sig = acme_b64url_encode(rs, sizeof(rs));
        json_t *jws =
            json_pack("{s:s, s:s, s:s}", "protected", prot, "payload", pay, "signature", sig);
        if (jws != NULL)
            out = json_dumps(jws, JSON_COMPACT);
        json_decref(jws);
        free(sig);
    }
    free(input);
    free(prot);
    free(pay);
    return out;
}

int acme_jws_verify(EVP_PKEY *pub, const char *protected_b64, const char *payload_b64,
                    const char *sig_b64)
{
    if (pub == NULL || protected_b64 == NULL || payload_b64 == NULL || sig_b64 == NULL ||
        !is_p256(pub))
        return 0;
    size_t rslen = 0;
    unsigned char *rs = acme_b64url_decode(sig_b64, strlen(sig_b64), &rslen);
    if (rs == NULL)
        return 0;
    int ok = 0;
    ECDSA_SIG *sig = NULL;
    unsigned char *der = NULL;
    EVP_MD_CTX *md = NULL;
    char *input = NULL;
    if (rslen != 64)
        goto out;
    sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(rs, P256_COORD, NULL);
    BIGNUM *s = BN_bin2bn(rs + P256_COORD, P256_COORD, NULL);
    if (sig == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(sig, r, s) != 1) {
        BN_free(r);
        BN_free(s);
        goto out;
    }
    int derlen = i2d_ECDSA_SIG(sig, &der);
    if (derlen <= 0)
        goto out;
    input = xasprintf("%s.%s", protected_b64, payload_b64);
    md = EVP_MD_CTX_new();
    if (md != NULL && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub) == 1 &&
        EVP_DigestVerify(md, der, (size_t)derlen, (const unsigned char *)input, strlen(input)) == 1)
        ok = 1;
out:
    EVP_MD_CTX_free(md);
    free(input);
    OPENSSL_free(der);
    ECDSA_SIG_free(sig);
    free(rs);
    return ok;
}

int acme_jws_verify_compact(EVP_PKEY *pub, const char *jws)
{
    if (jws == NULL)
        return 0;
    const char *dot1 = strchr(jws, '.');
    const char *dot2 = dot1 != NULL ? strchr(dot1 + 1, '.') : NULL;
    if (dot2 == NULL || strchr(dot2 + 1, '.') != NULL)
        return 0;
    char *prot = xstrndup(jws, (size_t)(dot1 - jws));
    char *pay = xstrndup(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    int ok = acme_jws_verify(pub, prot, pay, dot2 + 1);
    free(prot);
    free(pay);
    return ok;
}

int acme_jws_verify_flattened(EVP_PKEY *pub, const char *json_text)
{
    if (json_text == NULL)
        return 0;
    json_t *jws = json_loads(json_text, 0, NULL);
    const char *prot = json_string_value(json_object_get(jws, "protected"));
    const char *pay = json_string_value(json_object_get(jws, "payload"));
    const char *sig = json_string_value(json_object_get(jws, "signature"));
    int ok = 0;
    if (prot != NULL && pay != NULL && sig != NULL) {
        size_t hlen = 0;
        unsigned char *htext = acme_b64url_decode(prot, strlen(prot), &hlen);
        json_t *hdr = htext != NULL ? json_loadb((const char *)htext, hlen, 0, NULL) : NULL;
        const char *alg = json_string_value(json_object_get(hdr, "alg"));
        if (alg != NULL && strcmp(alg, "ES256") == 0)
            ok = acme_jws_verify(pub, prot, pay, sig);
        json_decref(hdr);
        free(htext);
    }
    json_decref(jws);
    return ok;
}

/* A new P-256 key written to `path` (PEM, 0600, atomically). */
/* A new key, created so that of two processes starting at once exactly one key wins. */
static EVP_PKEY *account_key_create(const char *path, char *err, size_t errlen)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    if (key == NULL) {
        acme__set_err(err, errlen, "cannot generate a P-256 key for %s", path);
        return NULL;
    }
    BIO *bio = BIO_new(BIO_s_mem());
    char *pem = NULL;
    long pemlen = 0;
    if (bio == NULL || PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1 ||
        (pemlen = BIO_get_mem_data(bio, &pem)) <= 0) {
        acme__set_err(err, errlen, "cannot encode the account key for %s", path);
        goto fail;
    }
    if (file_create_atomic(path, pem, (size_t)pemlen, 0600) != 0) {
        int e = errno;
        if (e == EEXIST) { /* another process created it first: use that one */
            BIO_free(bio);
            EVP_PKEY_free(key);
            return acme_account_key_load(path, err, errlen);
        }
        acme__set_err(err, errlen, "cannot write the account key %s: %s", path, strerror(e));
        errno = e;
        goto fail;
    }
    BIO_free(bio);
    return key;
fail:
    BIO_free(bio);
    EVP_PKEY_free(key);
    return NULL;
}

EVP_PKEY *acme_account_key_load(const char *path, char *err, size_t errlen)
{
    if (path == NULL || *path == '\0') {
        acme__set_err(err, errlen, "no account key path");
        errno = EINVAL;
        return NULL;
    }
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT)
            return account_key_create(path, err, errlen);
        acme__set_err(err, errlen, "cannot open the account key %s: %s", path, strerror(e));
        errno = e;
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        acme__set_err(err, errlen, "cannot stat the account key %s: %s", path, strerror(e));
        errno = e;
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        acme__set_err(err, errlen, "the account key %s is not a regular file", path);
        errno = EINVAL;
        return NULL;
    }
    if ((st.st_mode & 077) != 0) {
        close(fd);
        acme__set_err(err, errlen,
                      "the account key %s is accessible by group or others (mode %04o); "
                      "chmod 600 it",
                      path, (unsigned)(st.st_mode & 07777));
        errno = EPERM;
        return NULL;
    }
    if (st.st_size <= 0 || st.st_size > ACCOUNT_KEY_CAP) {
        close(fd);
        acme__set_err(err, errlen, "the account key %s is empty or too large", path);
        errno = EINVAL;
        return NULL;
    }
    char *buf = xmalloc((size_t)st.st_size);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    BIO *bio = BIO_new_mem_buf(buf, (int)got);
    EVP_PKEY *key = bio != NULL ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    OPENSSL_cleanse(buf, got);
    free(buf);
    if (key == NULL || !is_p256(key)) {
        EVP_PKEY_free(key);
        acme__set_err(err, errlen, "the account key %s does not hold an ECDSA P-256 private key",
                      path);
        errno = EINVAL;
        return NULL;
    }
    return key;
}
