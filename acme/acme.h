/* acme.h - the ACME client's building blocks: base64url, the JWK and thumbprint of an EC P-256
 * account key, ES256 JWS in flattened JSON serialization, and the account key file. None of
 * these functions prints; errors are return values (and an optional message buffer). */
#ifndef STSD_ACME_H
#define STSD_ACME_H

#include <stddef.h>

#include <jansson.h>
#include <openssl/evp.h>

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

#endif
