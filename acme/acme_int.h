/* acme_int.h - what the files of the ACME client share: the client itself, the HTTP exchange
 * with its nonce pool, and the parsers of the CA's answers. Not for other modules. */
#ifndef STSD_ACME_INT_H
#define STSD_ACME_INT_H

#include "acme/acme.h"

#include <stddef.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

/* Caps on what the CA sends: it is trusted, but a broken or hostile directory must not cost
 * unbounded memory. */
#define ACME__BODY_MAX (256 * 1024)  /* any JSON answer */
#define ACME__CHAIN_MAX (64 * 1024)  /* the certificate chain */
#define ACME__URL_MAX 2048           /* a URL in a header or an object */
#define ACME__NONCE_MAX 256          /* a Replay-Nonce */
#define ACME__AUTHZ_MAX 16           /* authorizations of one order (we ask for one name) */
#define ACME__BAD_NONCE_RETRIES 5    /* badNonce answers retried per request */
#define ACME__RETRY_AFTER_MAX 604800 /* a Retry-After longer than a week is read as a week */

/* ---------------------------------------------------------------- parse.c */

/* printf into err[errlen] when err is not NULL: the message of a failing function. */
void acme__set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The directory's URLs (RFC 8555 section 7.1.1) that the client uses. */
struct acme__directory {
    char new_nonce[ACME__URL_MAX];
    char new_account[ACME__URL_MAX];
    char new_order[ACME__URL_MAX];
};

/* The status of an order, an authorization or a challenge (RFC 8555 section 7.1.6). */
enum acme__state {
    ACME__S_UNKNOWN = 0,
    ACME__S_PENDING,
    ACME__S_READY,
    ACME__S_PROCESSING,
    ACME__S_VALID,
    ACME__S_INVALID,
    ACME__S_EXPIRED,
    ACME__S_DEACTIVATED,
    ACME__S_REVOKED,
};

/* An order object (RFC 8555 section 7.1.3). */
struct acme__order {
    enum acme__state status;
    size_t n_authz;
    char authz[ACME__AUTHZ_MAX][ACME__URL_MAX];
    char finalize[ACME__URL_MAX];
    char certificate[ACME__URL_MAX]; /* "" until the order is valid */
    char error[256];                 /* the order's problem "type: detail", or "" */
};

/* An authorization object (RFC 8555 section 7.1.4) and its challenge of the wanted type. */
struct acme__authz {
    enum acme__state status;
    char identifier[256]; /* the DNS name */
    enum acme__state ch_status;
    char ch_url[ACME__URL_MAX];
    char ch_token[256]; /* base64url only (section 8.3): it goes into a URL path */
    char ch_error[400]; /* the challenge's problem "type: detail", or "" */
    char ch_type[96];   /* that problem's type alone */
};

/* Each parser reads len bytes of JSON text (not NUL-terminated) and returns 0, or -1 with the
 * reason in err (one phrase: "no newOrder URL", "not JSON: ..."). URLs must be https. */
int acme__parse_directory(const char *text, size_t len, struct acme__directory *d, char *err,
                          size_t errlen);
int acme__parse_order(const char *text, size_t len, struct acme__order *o, char *err,
                      size_t errlen);
/* `type` is the challenge type wanted ("http-01"); an authorization that offers none of that
 * type is an error unless it is already valid. */
int acme__parse_authz(const char *text, size_t len, const char *type, struct acme__authz *a,
                      char *err, size_t errlen);
/* A problem document (RFC 7807, RFC 8555 section 6.7): its type into type[typelen] and
 * "detail" (with the first subproblem's detail) into detail[detaillen], made printable.
 * 0, or -1 when the text is not a problem document (both then ""). */
int acme__parse_problem(const char *text, size_t len, char *type, size_t typelen, char *detail,
                        size_t detaillen);
/* The target of the first link in a Link header value (RFC 8288) whose rel is `rel` ("up":
 * the issuer of a certificate, RFC 8555 section 7.4.2) into out. 0, or -1 when there is none
 * or it does not fit. */
int acme__link_target(const char *value, const char *rel, char *out, size_t outlen);
/* 1 when a Replay-Nonce is base64url of at most ACME__NONCE_MAX - 1 characters (RFC 8555
 * section 6.5.1); 0 otherwise (it is then not used). */
int acme__nonce_ok(const char *nonce);
/* The word of a state, "pending" ...; "unknown". */
const char *acme__state_name(enum acme__state s);

/* ---------------------------------------------------------------- http.c */

/* An answer from the CA. */
struct acme__resp {
    long status; /* HTTP status */
    char *body;  /* NUL-terminated, malloc'd (possibly empty) */
    size_t len;
    char location[ACME__URL_MAX]; /* "" when absent */
    char link_up[ACME__URL_MAX];  /* Link: <...>;rel="up", "" when absent */
    long retry_after;             /* seconds, 0 when absent */
    int problem;                  /* 1 when the body is a problem document */
    char type[96];                /* its type ("" otherwise) */
    char detail[400];             /* its detail */
};
void acme__resp_free(struct acme__resp *r);

struct acme_client {
    char *directory, *contact, *ca_file, *challenge;
    long timeout, poll_max;
    int (*cancelled)(void *arg);
    void *cancel_arg;
    EVP_PKEY *key;
    char *thumbprint;
    CURL *curl;
    char errbuf[CURL_ERROR_SIZE];
    int have_dir;
    struct acme__directory dir;
    char kid[ACME__URL_MAX];     /* the account URL, "" until known */
    char nonce[ACME__NONCE_MAX]; /* the next nonce to use, "" when none is held */
};

/* Set up the curl handle of a new client. 0, or -1. */
int acme__http_init(struct acme_client *c);
/* An unsigned GET (the directory) of at most `cap` bytes. ACME_OK with any 2xx answer in *r;
 * else the failure in e (naming `step` and the URL) and r freed. */
enum acme_status acme__get(struct acme_client *c, const char *step, const char *url, size_t cap,
                           struct acme__resp *r, struct acme_error *e);
/* A signed POST of `payload` (NULL: POST-as-GET) to url, with the account's kid or, before
 * there is one (newAccount), the key's JWK. A fresh nonce is taken from the pool or from
 * newNonce; a badNonce answer is retried with the nonce it carries. `accept` is the Accept
 * header or NULL. Like acme__get otherwise. */
enum acme_status acme__post(struct acme_client *c, const char *step, const char *url,
                            const char *payload, const char *accept, size_t cap,
                            struct acme__resp *r, struct acme_error *e);
/* Wait `seconds`, waking to check opts->cancelled. 0, or -1 when cancelled. */
int acme__sleep(struct acme_client *c, long seconds);
int acme__is_cancelled(struct acme_client *c);
/* Fill e: status, the answer's HTTP status, type and Retry-After (when r is not NULL) and a
 * detail "<step> <url>: <what>". */
void acme__fail(struct acme_error *e, enum acme_status s, const struct acme__resp *r,
                const char *step, const char *url, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* ---------------------------------------------------------------- csr.c */

/* A new P-256 key and the DER of a CSR for `host` (subjectAltName dNSName host), base64url, in
 * *csr_b64 (malloc'd). 0, or -1. */
int acme__csr_new(const char *host, EVP_PKEY **key, char **csr_b64);
/* A new EC P-256 key (EVP_PKEY_free), or NULL. */
EVP_PKEY *acme__p256_new(void);
/* The subjectAltName extension with the one dNSName `host` (X509_EXTENSION_free), or NULL. */
X509_EXTENSION *acme__san_ext(const char *host);
/* The private key as PKCS#8 PEM, malloc'd; NULL on failure. */
char *acme__key_pem(EVP_PKEY *key);
/* 0 when `chain` (PEM) starts with a certificate whose public key is `key`'s and that covers
 * `host`; else -1 with the reason in err. */
int acme__chain_check(const char *chain, size_t len, EVP_PKEY *key, const char *host, char *err,
                      size_t errlen);

#endif
