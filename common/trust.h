/* trust.h - extra trust for TLS clients: a CA file added to the certificates an SSL_CTX
 * already trusts (libcurl's system store), for the clients of acme/ and mail/. */
#ifndef STSD_COMMON_TRUST_H
#define STSD_COMMON_TRUST_H

/* Add the PEM certificates of path to ssl_ctx's (an SSL_CTX *) store, keeping what it trusts
 * already: a server with a publicly trusted certificate still verifies. 0, or -1 when the
 * file cannot be read or holds no certificate. */
int trust_add_ca_file(void *ssl_ctx, const char *path);

#endif
