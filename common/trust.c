/* trust.c - a CA file added to the trust store of a TLS client's SSL_CTX. */
#include "common/trust.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>

int trust_add_ca_file(void *ssl_ctx, const char *path)
{
    X509_STORE *store = SSL_CTX_get_cert_store(ssl_ctx);
    return store != NULL && X509_STORE_load_file(store, path) == 1 ? 0 : -1;
}
