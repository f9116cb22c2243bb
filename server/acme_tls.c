/* acme_tls.c - tls-alpn-01 (RFC 8737) on the HTTPS listeners: a ClientHello that offers ALPN
 * "acme-tls/1" for a name with a pending challenge gets the validation certificate; everyone
 * else gets h2 or http/1.1 as before. */
#include "server/acme_int.h"
#include "common/common.h"

#include <h2o.h>
#include <openssl/err.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>

int srv__tls_ext_sni(const unsigned char *p, size_t len, char *out, size_t outsz)
{
    /* ServerNameList: uint16 length, then entries of uint8 type, uint16 length, name */
    if (p == NULL || len < 2 || (size_t)((p[0] << 8) | p[1]) != len - 2)
        return -1;
    for (size_t i = 2; i + 3 <= len;) {
        unsigned type = p[i];
        size_t n = (size_t)((p[i + 1] << 8) | p[i + 2]);
        i += 3;
        if (n > len - i)
            return -1;
        if (type == 0) { /* host_name */
            if (n > 0 && p[i + n - 1] == '.')
                n--;
            if (n == 0 || n >= outsz)
                return -1;
            for (size_t k = 0; k < n; k++) {
                unsigned char c = p[i + k];
                if (c == 0)
                    return -1;
                out[k] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
            }
            out[n] = '\0';
            return (int)n;
        }
        i += n;
    }
    return -1;
}

int srv__tls_ext_alpn_offers(const unsigned char *p, size_t len, const char *proto)
{
    /* ProtocolNameList: uint16 length, then names of uint8 length (each at least 1 byte) */
    if (p == NULL || len < 2 || (size_t)((p[0] << 8) | p[1]) != len - 2)
        return 0;
    size_t plen = strlen(proto);
    int found = 0;
    for (size_t i = 2; i < len;) {
        size_t n = p[i++];
        if (n == 0 || n > len - i)
            return 0;
        if (n == plen && memcmp(p + i, proto, n) == 0)
            found = 1;
        i += n;
    }
    return found;
}

/* The ex_data slot marking a validation handshake. */
static int ex_idx = -1;
static pthread_once_t ex_once = PTHREAD_ONCE_INIT;

static void ex_init(void)
{
    ex_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

int srv__acme_tls_conn(SSL *ssl)
{
    return ex_idx >= 0 && SSL_get_ex_data(ssl, ex_idx) != NULL;
}

/* RFC 8737 §3: once the handshake is done the validator sends nothing and closes; so does
 * serve. Nothing the peer might send is read as a request (the TLS layer reports the end of
 * the stream), and the socket's reading side is shut: h2o sees the end of the connection at
 * once and closes it, after what is left of the handshake's own output has gone out. The
 * socket is found through h2o's BIO, whose data is the h2o socket. */
static void on_info(const SSL *ssl, int where, int ret)
{
    (void)ret;
    if ((where & SSL_CB_HANDSHAKE_DONE) == 0)
        return;
    SSL_set_shutdown((SSL *)ssl, SSL_RECEIVED_SHUTDOWN);
    BIO *b = SSL_get_rbio(ssl);
    const char *name = b != NULL ? BIO_method_name(b) : NULL;
    h2o_socket_t *sock = name != NULL && strcmp(name, "h2o_socket") == 0 ? BIO_get_data(b) : NULL;
    if (sock != NULL)
        shutdown(h2o_socket_get_fd(sock), SHUT_RD);
}

/*
 * Runs before the SNI callback sees the name: a handshake that offers acme-tls/1 (RFC 8737
 * §3: the validator offers only that one, with the name in SNI) for a name with a tls-alpn-01
 * challenge in the table is answered with the validation certificate, no session ticket and
 * no resumption. Any other handshake, including acme-tls/1 for a name without a challenge,
 * goes on as usual (and acme-tls/1 is not selected).
 */
static int on_client_hello(SSL *ssl, int *al, void *arg)
{
    (void)al;
    (void)arg;
    const unsigned char *p;
    size_t len;
    if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_application_layer_protocol_negotiation, &p,
                                  &len) != 1 ||
        !srv__tls_ext_alpn_offers(p, len, SRV_ACME_ALPN))
        return SSL_CLIENT_HELLO_SUCCESS;
    char host[256];
    int n = SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &p, &len) == 1
                ? srv__tls_ext_sni(p, len, host, sizeof(host))
                : -1;
    X509 *cert = NULL;
    EVP_PKEY *key = NULL;
    int nth = n > 0 ? srv__acme_chal_tls(host, (size_t)n, &cert, &key) : 0;
    if (nth <= 0)
        return SSL_CLIENT_HELLO_SUCCESS;
    int ok = SSL_use_cert_and_key(ssl, cert, key, NULL, 1) == 1;
    X509_free(cert);
    EVP_PKEY_free(key);
    if (!ok) {
        ERR_clear_error();
        return SSL_CLIENT_HELLO_SUCCESS;
    }
    SSL_set_ex_data(ssl, ex_idx, (void *)1);
    SSL_set_options(ssl, SSL_OP_NO_TICKET);
    SSL_set_num_tickets(ssl, 0);
    SSL_set_info_callback(ssl, on_info);
    if (nth == 1) /* the CA validates from a few places; anyone may send more */
        log_event(LOG_INFO, "acme.tls_alpn.answered", "host=%s", host);
    return SSL_CLIENT_HELLO_SUCCESS;
}

/* ALPN (RFC 7301 §3.2): a validation handshake gets acme-tls/1; any other the first of the
 * server's protocols (h2o's list: h2, then http/1.1) that the client offers, as h2o's own
 * callback does; none in common: no ALPN. */
static int on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)arg;
    if (srv__acme_tls_conn(ssl)) {
        *out = (const unsigned char *)SRV_ACME_ALPN;
        *outlen = (unsigned char)strlen(SRV_ACME_ALPN);
        return SSL_TLSEXT_ERR_OK;
    }
    for (const h2o_iovec_t *pr = h2o_alpn_protocols; pr->len != 0; pr++) {
        for (unsigned int i = 0; i < inlen;) {
            unsigned int n = in[i++];
            if (n > inlen - i)
                return SSL_TLSEXT_ERR_NOACK;
            if (n == pr->len && memcmp(in + i, pr->base, n) == 0) {
                *out = (const unsigned char *)pr->base;
                *outlen = (unsigned char)pr->len;
                return SSL_TLSEXT_ERR_OK;
            }
            i += n;
        }
    }
    return SSL_TLSEXT_ERR_NOACK;
}

void srv__acme_tls_setup(SSL_CTX *ctx, int tls_alpn)
{
    pthread_once(&ex_once, ex_init);
    SSL_CTX_set_alpn_select_cb(ctx, on_alpn, NULL);
    if (tls_alpn)
        SSL_CTX_set_client_hello_cb(ctx, on_client_hello, NULL);
}
