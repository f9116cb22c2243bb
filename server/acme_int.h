/*
 * acme_int.h - serve's side of ACME (RFC 8555), shared by the files of server/ only:
 *
 *   acme_challenge.c  the challenges being answered now: added and removed by the scheduler's
 *                     order threads (through acme_challenge_ops), looked up by the loop threads;
 *   acme_http.c       the port-80 listener's handler: GET /.well-known/acme-challenge/<token>
 *                     (http-01, RFC 8555 §8.3), 404 for everything else, never a redirect;
 *   acme_tls.c        acme-tls/1 on the HTTPS listeners (tls-alpn-01, RFC 8737): the ClientHello
 *                     callback, the ALPN choice, the validation certificate;
 *   acme_sched.c      the scheduler: which hosted domain needs a certificate, the order threads,
 *                     back-off; the module srv_acme_module.
 *
 * The loop threads only ever read the challenge table (under its mutex, a handful of entries);
 * every ACME exchange runs on the scheduler's own threads.
 */
#ifndef STSD_SERVER_ACME_INT_H
#define STSD_SERVER_ACME_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "acme/acme.h"

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

/* ---- acme_challenge.c ---- */
enum srv_acme_chal_type { SRV_ACME_HTTP01 = 0, SRV_ACME_TLSALPN01 = 1 };
/* Longest token answered: RFC 8555 §8.3 tokens carry at least 128 bits of entropy (22
 * base64url characters); CAs send 43. Anything longer is refused before a lookup. */
#define SRV_ACME_TOKEN_MAX 128
/* Room for a key authorization: token "." base64url(SHA-256 thumbprint). */
#define SRV_ACME_KEYAUTH_MAX (SRV_ACME_TOKEN_MAX + 1 + 43 + 1)
/* 1 when s[0..len) is 1 to SRV_ACME_TOKEN_MAX characters of the base64url alphabet
 * (RFC 4648 §5, no padding); 0 otherwise. */
int srv__acme_token_valid(const char *s, size_t len);
/* Make the table for at most `capacity` challenges at once (emptying it). Main thread, before
 * anything uses it. */
void srv__acme_chal_init(size_t capacity);
/* Empty the table and release what it holds. */
void srv__acme_chal_fini(void);
/* Add a challenge (any thread). http-01: token and key_auth; tls-alpn-01: host, and the
 * validation certificate and key, whose references the table takes over (also on failure).
 * host is kept lowercased. 0, or -1 when the table is full or an argument is not valid. */
int srv__acme_chal_add(enum srv_acme_chal_type type, const char *host, const char *token,
                       const char *key_auth, X509 *cert, EVP_PKEY *key);
/* Remove the challenge of this type for (host, token) (any thread; none: no-op). */
void srv__acme_chal_remove(enum srv_acme_chal_type type, const char *host, const char *token);
/* http-01: copy the key authorization of `token` (len bytes, not NUL-terminated) into out.
 * Its length, or -1 when no http-01 challenge has that token. */
int srv__acme_chal_http(const char *token, size_t len, char *out, size_t outsz);
/* tls-alpn-01: the validation certificate and key for `host` (len bytes, compared without
 * regard to case), each with a new reference the caller releases (X509_free, EVP_PKEY_free).
 * 0 none; else which answer this is for the challenge (1 the first, 2 the second, ...), so
 * that a flood of handshakes for a pending name logs once, not once per ClientHello. */
int srv__acme_chal_tls(const char *host, size_t len, X509 **cert, EVP_PKEY **key);
/* How many challenges are in the table. */
size_t srv__acme_chal_count(void);

/* ---- acme_http.c ---- */
#define SRV_ACME_CHALLENGE_PATH "/.well-known/acme-challenge/"
struct st_h2o_pathconf_t;
/* The catch-all "/" of the port-80 host: http-01 answers, 404 (405 for other methods on the
 * challenge path) everywhere else. */
void srv__acme_http_register(struct st_h2o_pathconf_t *pathconf);

/* ---- acme_tls.c ---- */
#define SRV_ACME_ALPN "acme-tls/1"
/* From the body of a ClientHello's server_name extension (RFC 6066 §3), the first host_name,
 * lowercased, one trailing dot removed, into out (NUL-terminated). Its length, or -1 when the
 * extension is malformed, holds no host name or the name does not fit. */
int srv__tls_ext_sni(const unsigned char *p, size_t len, char *out, size_t outsz);
/* 1 when the body of a ClientHello's ALPN extension (RFC 7301 §3.1) is well formed and offers
 * `proto`; 0 otherwise. */
int srv__tls_ext_alpn_offers(const unsigned char *p, size_t len, const char *proto);
/* Install the ALPN choice on ctx: h2, then http/1.1 (the server's preference, as h2o's own
 * callback), and acme-tls/1 for a connection acme_tls.c answers; with tls_alpn = 1 also the
 * ClientHello callback that picks those connections. */
void srv__acme_tls_setup(SSL_CTX *ctx, int tls_alpn);
/* 1 when this handshake is a tls-alpn-01 validation answered with the validation certificate
 * (the SNI callback then leaves the certificate alone). */
int srv__acme_tls_conn(SSL *ssl);

/* ---- acme_sched.c (planning, the module) and acme_worker.c (one order at a time) ---- */
struct stsd_config;
struct srv_acme_retry {
    char *domain;
    int64_t until; /* a Retry-After from the CA runs until then */
};
/* The scheduler's state, shared by its planning thread and its order threads under mu. */
struct srv_acme {
    const struct stsd_config *cfg;
    EVP_PKEY *key; /* the account key */
    pthread_mutex_t mu;
    pthread_cond_t plan_cv; /* the planner: a kick, a stop, or its next turn */
    pthread_cond_t work_cv; /* the order threads: a queued domain, or a stop */
    atomic_int stop;
    int kick;     /* SRV_ACME_KICK_* bits since the planner last looked */
    char **queue; /* domains to order, oldest first, from q_head on */
    size_t n_queue, q_head;
    char **busy; /* queued or being ordered now, sorted */
    size_t n_busy;
    /* done since the planner's current pass began: that pass read the certificates and rows
     * before, so it must not queue them again (the next pass sees what they left) */
    char **finished;
    size_t n_finished;
    struct srv_acme_retry *retry;
    size_t n_retry;
    int64_t next_due; /* the earliest back-off end of a domain waiting for it; 0 = none */
    pthread_t planner;
    int planner_on;
    pthread_t *workers;
    int n_workers;
};
/* Seconds to wait after `failures` failures with the CA's retry_after (acme_backoff with a
 * random jitter). */
int64_t srv__acme_wait(int failures, long retry_after);
/* A thread's own hosted handle and ACME client. 0, or -1 (logged as `event`; nothing is
 * left open). */
struct hosted;
struct acme_client;
int srv__acme_thread_open(struct srv_acme *a, const char *event, struct hosted **h,
                          struct acme_client **c);
/* A failed order of `domain` (or one that could not start: the account step failed; then
 * `started` is the attempt's time for the row's last_attempt, else 0): counted, its row says
 * failed with "<status>: <detail>", one more failure, the request cleared, and next_attempt
 * after the back-off (never before the CA's Retry-After); logged as acme.order.fail. Sets
 * *retry_until (0 = no Retry-After) and *next_attempt. */
void srv__acme_failed(struct hosted *h, const char *domain, int64_t started, enum acme_status st,
                      const struct acme_error *e, int64_t *retry_until, int64_t *next_attempt);
/* An order thread: orders the queued domains one at a time until the scheduler stops. */
void *srv__acme_worker_main(void *arg);
/* The hosted domains to order now (appended to *due, a strv): certificate missing, not
 * covering the name or within renew_before of its end, or a forced renewal asked; back-off
 * over; not queued or being ordered already. Renew-if-due requests that are not due are
 * cleared. */
void srv__acme_plan(struct srv_acme *a, struct hosted *h, int64_t now, char ***due, size_t *n_due);
/* Whether a domain that needs an order waits at `now`: until its row's next_attempt (the
 * back-off); a forced renewal skips the back-off, not a Retry-After the CA gave that still
 * runs (retry_until: its end, -1 when none is known since serve started; then a domain whose
 * last failure was rate_limited waits for next_attempt). Pure. */
struct hosted_acme;
int srv__acme_waits(const struct hosted_acme *row, int forced, int64_t retry_until, int64_t now);
/* Queue domains for the order threads (a->mu not held), except those busy or finished since
 * the current pass began. */
void srv__acme_enqueue(struct srv_acme *a, char **domains, size_t n);
/* With a->mu held: a domain is done (no longer busy, finished for the pass under way); its
 * Retry-After, if any, is kept, and the planner looks again at next_attempt (0: not before its
 * next full pass). */
void srv__acme_done(struct srv_acme *a, const char *domain, int64_t retry_until,
                    int64_t next_attempt);
/* What the control thread tells the planner after a reload: the policies changed (a full
 * pass at once) and/or the certificates did (a full pass soon). Any thread; no-op when ACME is
 * off. */
enum { SRV_ACME_KICK_POLICIES = 1, SRV_ACME_KICK_CERTS = 2 };
void srv__acme_kick(int what);

#endif
