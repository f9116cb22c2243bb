/* tls_ctx.c - the one SSL_CTX: protocols, cipher suites, SNI, and rotating session-ticket keys. */
#include "server/server_int.h"
#include "server/acme_int.h"
#include "common/common.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One key: its name goes in clear at the start of each ticket (RFC 5077 §4), the AES key
 * encrypts the session state, the HMAC key authenticates the whole ticket. */
struct ticket_key {
    unsigned char name[16];
    unsigned char aes[32];
    unsigned char hmac[32];
    uint64_t created_ms; /* monotonic */
    int valid;
};

/* The ring: the key that encrypts new tickets, and the one before it, which still decrypts
 * (a ticket is good for one to two lifetimes). Shared by all loop threads. */
static struct {
    pthread_mutex_t mu;
    struct ticket_key cur, prev;
    uint64_t lifetime_ms;
} ring = {.mu = PTHREAD_MUTEX_INITIALIZER};

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void key_new(struct ticket_key *k, uint64_t now)
{
    if (RAND_bytes(k->name, sizeof(k->name)) != 1 || RAND_bytes(k->aes, sizeof(k->aes)) != 1 ||
        RAND_bytes(k->hmac, sizeof(k->hmac)) != 1)
        abort(); /* no randomness: no safe ticket key either */
    k->created_ms = now;
    k->valid = 1;
}

/* With ring.mu held: rotate when the current key is a lifetime old. After two lifetimes
 * without a handshake the old key is dropped too, so no key decrypts for longer than two
 * lifetimes. */
static void ring_rotate(uint64_t now)
{
    if (ring.cur.valid && now - ring.cur.created_ms < ring.lifetime_ms)
        return;
    if (ring.cur.valid && now - ring.cur.created_ms < 2 * ring.lifetime_ms)
        ring.prev = ring.cur;
    else
        OPENSSL_cleanse(&ring.prev, sizeof(ring.prev));
    key_new(&ring.cur, now);
}

/* OpenSSL's ticket key callback (SSL_CTX_set_tlsext_ticket_key_evp_cb): enc = 1 picks the
 * current key for a new ticket; enc = 0 finds the key a ticket names: 1 = use it, 2 = use it
 * and issue a fresh ticket under the current key, 0 = unknown (a full handshake). */
static int on_ticket_key(SSL *ssl, unsigned char name[16], unsigned char *iv, EVP_CIPHER_CTX *cctx,
                         EVP_MAC_CTX *hctx, int enc)
{
    (void)ssl;
    struct ticket_key k;
    int rc = 1;
    pthread_mutex_lock(&ring.mu);
    ring_rotate(mono_ms());
    if (enc) {
        k = ring.cur;
    } else if (memcmp(name, ring.cur.name, sizeof(ring.cur.name)) == 0) {
        k = ring.cur;
    } else if (ring.prev.valid && memcmp(name, ring.prev.name, sizeof(ring.prev.name)) == 0) {
        k = ring.prev;
        rc = 2;
    } else {
        pthread_mutex_unlock(&ring.mu);
        return 0;
    }
    pthread_mutex_unlock(&ring.mu);
    int ok;
    if (enc) {
        memcpy(name, k.name, sizeof(k.name));
        ok = RAND_bytes(iv, 16) == 1 &&
             EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k.aes, iv) == 1;
    } else {
        ok = EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k.aes, iv) == 1;
    }
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, k.hmac, sizeof(k.hmac)),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
        OSSL_PARAM_END,
    };
    ok = ok && EVP_MAC_CTX_set_params(hctx, params) == 1;
    OPENSSL_cleanse(&k, sizeof(k));
    if (!ok)
        return enc ? -1 : 0;
    return rc;
}

/* Install the ticket key callback on ctx with a fresh key. STSD_TEST_TICKET_LIFETIME_MS (tests
 * only) overrides the lifetime in milliseconds. 0 or -1. */
static int tickets_setup(SSL_CTX *ctx, int64_t lifetime_s)
{
    uint64_t ms = (uint64_t)(lifetime_s > 0 ? lifetime_s : 12 * 3600) * 1000;
    /* Test-only knob: the tests of rotation cannot wait for the 60 s configuration minimum
     * several times over. Not documented for operators; it only shortens the lifetime. */
    const char *test_ms = getenv("STSD_TEST_TICKET_LIFETIME_MS");
    if (test_ms != NULL && atol(test_ms) > 0)
        ms = (uint64_t)atol(test_ms);
    pthread_mutex_lock(&ring.mu);
    ring.lifetime_ms = ms;
    OPENSSL_cleanse(&ring.prev, sizeof(ring.prev));
    key_new(&ring.cur, mono_ms());
    pthread_mutex_unlock(&ring.mu);
    /* Sessions may live as long as a key decrypts (two lifetimes), at least OpenSSL's
     * default 300 s: the key ring, not the session timeout, decides when a ticket dies. */
    long timeout = (long)(2 * ms / 1000);
    SSL_CTX_set_timeout(ctx, timeout > 300 ? timeout : 300);
    return SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, on_ticket_key) == 1 ? 0 : -1;
}

/* ---- the context ---- */

static void ssl_error(char *buf, size_t sz, const char *what)
{
    unsigned long e = ERR_get_error();
    char es[256] = "";
    if (e != 0)
        ERR_error_string_n(e, es, sizeof(es));
    snprintf(buf, sz, "%s%s%s", what, es[0] ? ": " : "", es);
    ERR_clear_error();
}

/*
 * SNI (RFC 6066 §3): pick the certificate for the requested name from this thread's
 * snapshot. No SNI or an unknown name gets default.pem when there is one; otherwise the
 * handshake ends with an unrecognized_name alert. A tls-alpn-01 validation handshake has its
 * certificate already (acme_tls.c).
 */
static int on_servername(SSL *ssl, int *al, void *arg)
{
    if (srv__acme_tls_conn(ssl))
        return SSL_TLSEXT_ERR_OK;
    struct srv_thread *t = srv_current();
    const struct srv_cert_table *ct = t != NULL && t->snap != NULL ? t->snap->certs : NULL;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    const struct srv_cert *c = srv__cert_find(ct, name);
    if (c == NULL) {
        *al = SSL_AD_UNRECOGNIZED_NAME;
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    const struct srv_cert_obj *o = srv__cert_obj(c);
    if (o == NULL || SSL_use_cert_and_key(ssl, o->x509, o->key, o->chain, 1) != 1) {
        ERR_clear_error();
        *al = SSL_AD_INTERNAL_ERROR;
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    return SSL_TLSEXT_ERR_OK;
}

SSL_CTX *srv__ssl_ctx_new(const struct stsd_config *cfg, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        ssl_error(err, errlen, "SSL_CTX_new failed");
        return NULL;
    }
    int minv = cfg->min_version >= TLS1_2_VERSION ? cfg->min_version : TLS1_2_VERSION;
    if (SSL_CTX_set_min_proto_version(ctx, minv) != 1) {
        ssl_error(err, errlen, "[tls] min_version is not supported by OpenSSL");
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    /* TLS 1.2: forward secrecy and AEAD only (ECDHE with AES-GCM or ChaCha20-Poly1305; no
     * CBC, no RSA key exchange). TLS 1.3 keeps OpenSSL's suites, all of them AEAD. */
    if (SSL_CTX_set_cipher_list(ctx, SRV_TLS12_CIPHERS) != 1) {
        ssl_error(err, errlen, "OpenSSL knows none of the TLS 1.2 cipher suites");
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"stsd", 4);
    if (cfg->session_tickets) {
        /* Resumption by session tickets only, as nginx does by default: stateless and shared
         * by all loop threads (OpenSSL's per-process ticket keys), no internal session cache
         * to lock and fill on every full handshake, and one ticket per handshake instead of
         * OpenSSL's two. A client that comes back (a reporter posting several reports, a
         * monitor) skips the certificate and the signature. */
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL);
        SSL_CTX_set_num_tickets(ctx, 1);
        if (tickets_setup(ctx, cfg->ticket_lifetime) != 0) {
            ssl_error(err, errlen, "cannot install the session-ticket key callback");
            SSL_CTX_free(ctx);
            return NULL;
        }
    } else {
        /* [tls] session_tickets = off: every connection is a full handshake (no ticket key
         * lives in the process, for operators who want that). */
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
        SSL_CTX_set_num_tickets(ctx, 0);
    }
    SSL_CTX_set_tlsext_servername_callback(ctx, on_servername);
    h2o_ssl_register_alpn_protocols(ctx, h2o_alpn_protocols); /* h2, http/1.1 */
    /* the same choice, plus acme-tls/1 for a tls-alpn-01 validation */
    srv__acme_tls_setup(ctx, cfg->acme_directory != NULL && cfg->acme_directory[0] != '\0' &&
                                 cfg->acme_challenge == 1);
    return ctx;
}
