/* acme.h - the ACME client's building blocks: base64url, the JWK and thumbprint of an EC P-256
 * account key, ES256 JWS in flattened JSON serialization, and the account key file. None of
 * these functions prints; errors are return values (and an optional message buffer). */
#ifndef STSD_ACME_H
#define STSD_ACME_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

/* base64url (the URL- and file-name-safe alphabet) of `len` bytes, without '=' padding.
 * Returns a malloc'd NUL-terminated string (never NULL: out of memory aborts). */
char *acme_b64url_encode(const void *buf, size_t len);
/* Decode unpadded base64url text `s` of length `slen`. Returns a malloc'd buffer (NUL-terminated
 * for convenience, not counted in *len) or NULL when `s` is not canonical base64url: a character
 * outside the alphabet, '=' padding, a length of 1 mod 4, or non-zero unused trailing bits. */
unsigned char *acme_b64url_decode(const char *s, size_t slen, size_t *len);

/* An EC P-256 public key from its two 32-byte affine coordinates; NULL when (x, y) is not a
 * point of the curve. The caller frees it with EVP_PKEY_free. */
EVP_PKEY *acme_p256_from_xy(const unsigned char x[32], const unsigned char y[32]);
/* The public JWK of an EC P-256 key (public or private):
 * {"crv":"P-256","kty":"EC","x":...,"y":...} with both coordinates 32 bytes, base64url.
 * A new reference, or NULL when the key is not an EC P-256 key. */
json_t *acme_jwk(EVP_PKEY *key);
/* The RFC 7638 thumbprint of the key's JWK: base64url of the SHA-256 of its required members in
 * lexicographic order, without white space. malloc'd; NULL when the key is not EC P-256. */
char *acme_jwk_thumbprint(EVP_PKEY *key);

/* An ACME request body (RFC 8555 section 6.2): an ES256 JWS in flattened JSON serialization,
 * {"protected":...,"payload":...,"signature":...}, signed with the private P-256 `key`. The
 * protected header holds "alg":"ES256", `nonce`, `url`, and "kid":`kid` when `kid` is not NULL
 * (an existing account), else the key's "jwk" (newAccount, revocation by the certificate key).
 * `payload` is the JSON text to send; NULL sends an empty payload (POST-as-GET). Returns a
 * malloc'd string, or NULL when signing fails or an argument is missing. */
char *acme_jws_sign(EVP_PKEY *key, const char *nonce, const char *url, const char *kid,
                    const char *payload);
/* 1 when `sig_b64` (base64url of the 64-byte raw R||S) is a valid ES256 signature by the public
 * key `pub` over the JWS signing input `protected_b64` "." `payload_b64`; 0 otherwise. */
int acme_jws_verify(EVP_PKEY *pub, const char *protected_b64, const char *payload_b64,
                    const char *sig_b64);
/* acme_jws_verify of a JWS in compact serialization (three base64url parts joined by '.'). */
int acme_jws_verify_compact(EVP_PKEY *pub, const char *jws);
/* acme_jws_verify of a JWS in flattened JSON serialization; also 1 only when the protected header
 * says "alg":"ES256". */
int acme_jws_verify_flattened(EVP_PKEY *pub, const char *json_text);

/* The ACME account key at `path`: an ECDSA P-256 private key, PEM. An existing file is loaded;
 * it is refused when group or others may read or write it, or when it does not hold a P-256
 * key. A missing file is created (a new key, written atomically with mode 0600; the directory
 * must exist). Returns the key (EVP_PKEY_free), or NULL with a message in err (when err is not
 * NULL) and errno set when a system call failed. */
EVP_PKEY *acme_account_key_load(const char *path, char *err, size_t errlen);

/* ---------------------------------------------------------------- the protocol (client.c) */

/* What went wrong with an ACME exchange, by what the scheduler does about it. */
enum acme_status {
    ACME_OK = 0,
    ACME_E_NETWORK,    /* the directory could not be reached (connect, TLS, timeout, 5xx) */
    ACME_E_RATELIMIT,  /* 429 or urn:ietf:params:acme:error:rateLimited; see retry_after */
    ACME_E_CHALLENGE,  /* the CA could not validate the challenge (authorization invalid) */
    ACME_E_CA,         /* any other problem document from the CA (e.g. rejectedIdentifier) */
    ACME_E_PROTOCOL,   /* an answer that does not follow RFC 8555 (bad JSON, missing fields) */
    ACME_E_LOCAL,      /* ours: key, CSR, the challenge could not be presented, out of memory */
};
/* The status's word in logs and metrics: "ok", "network", "rate_limited", "challenge", "ca",
 * "protocol", "local". */
const char *acme_status_name(enum acme_status s);

struct acme_error {
    enum acme_status status;
    long retry_after;  /* seconds from the CA's Retry-After header; 0 = none */
    long http_status;  /* of the failing answer; 0 when none came */
    char type[96];     /* the problem document's type, "urn:ietf:params:acme:error:..." or "" */
    char detail[512];  /* one line for the log: what failed, where */
};

struct acme_options {
    const char *directory; /* the directory URL */
    const char *contact;   /* "mailto:..." or NULL */
    const char *ca_file;   /* CA certificates (PEM) trusted for the directory besides the system
                            * store, or NULL (the system store alone) */
    const char *challenge; /* "http-01" or "tls-alpn-01" */
    long timeout;          /* seconds per HTTP request (0 = 30) */
    long poll_max;         /* seconds to wait for an authorization or an order (0 = 120) */
    /* Polled during transfers and waits: when it returns non-zero the exchange ends at once
     * with ACME_E_LOCAL ("cancelled"). NULL = never. */
    int (*cancelled)(void *arg);
    void *cancel_arg;
};

/* How a challenge becomes answerable. The client calls present() before it tells the CA the
 * challenge is ready and cleanup() once the authorization is final, whatever its outcome.
 * http-01: answer GET /.well-known/acme-challenge/<token> on port 80 with key_auth.
 * tls-alpn-01: answer a TLS handshake with ALPN "acme-tls/1" and SNI `host` with the
 * certificate acme_tlsalpn_cert(host, key_auth) makes. present() returns 0, or -1. */
struct acme_challenge_ops {
    int (*present)(void *arg, const char *type, const char *host, const char *token,
                   const char *key_auth);
    void (*cleanup)(void *arg, const char *type, const char *host, const char *token);
    void *arg;
};

/* One client per thread (it owns a curl handle). `key` is the account key (a reference is
 * taken). NULL when out of memory. The program calls curl_global_init once before the first
 * client and ignores SIGPIPE (the handle runs with CURLOPT_NOSIGNAL). */
struct acme_client *acme_client_new(const struct acme_options *o, EVP_PKEY *key);
void acme_client_free(struct acme_client *c);
/* Fetch the directory and register or find the account (newAccount with
 * termsOfServiceAgreed; the same key finds the same account). *created is 1 when the CA made a
 * new account (201), 0 when it already existed (200). The account URL is kept by the client
 * and returned by acme_client_account_url. Called once; acme_order calls it when needed. */
int acme_client_account(struct acme_client *c, int *created, struct acme_error *e);
const char *acme_client_account_url(const struct acme_client *c);
/* Order a certificate for `host` (one DNS identifier): newOrder, each authorization's
 * challenge of the configured type through `ops`, polling with the CA's Retry-After, finalize
 * with a CSR for a new P-256 key, download. On ACME_OK, *chain_pem is the certificate chain
 * as the CA sent it and *key_pem the new private key (PKCS#8 PEM), both malloc'd. badNonce is
 * retried with the fresh nonce (up to 5 times per request). */
enum acme_status acme_order(struct acme_client *c, const char *host,
                            const struct acme_challenge_ops *ops, char **chain_pem,
                            char **key_pem, struct acme_error *e);

/* The key authorization of a challenge token: token "." base64url(JWK thumbprint). malloc'd. */
char *acme_key_authorization(EVP_PKEY *account_key, const char *token);
/* The text an http-01 GET answers is key_auth itself; the value a tls-alpn-01 certificate
 * carries is SHA-256(key_auth). This makes the RFC 8737 validation certificate for `host`:
 * self-signed, a new P-256 key, subjectAltName dNSName `host`, and the critical
 * id-pe-acmeIdentifier (1.3.6.1.5.5.7.1.31) extension holding the DER OCTET STRING of the
 * 32-byte digest. 0, or -1. */
int acme_tlsalpn_cert(const char *host, const char *key_auth, X509 **cert, EVP_PKEY **key);
/* Parse a Retry-After header value (delta-seconds or an HTTP-date) at `now`: seconds to wait,
 * 0 when absent or unparsable, at most a week (a longer wait is read as a week). */
long acme_retry_after(const char *value, int64_t now);

/* ---------------------------------------------------------------- scheduling (sched.c) */

/* When the certificate serving `host` should be (re)ordered: 1 when there is none
 * (not_after == 0), it does not cover the name (covers == 0), or now >= not_after -
 * renew_before; else 0. */
int acme_needs_cert(int64_t now, int64_t not_after, int covers, int64_t renew_before);
/* Seconds to wait after `failures` consecutive failures (>= 1): 60 s doubling up to 24 h, then
 * +-10 % jitter from `rnd` (any 32-bit random value), and never less than retry_after. */
int64_t acme_backoff(int failures, uint32_t rnd, long retry_after);

#endif
