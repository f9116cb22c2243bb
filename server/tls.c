/* tls.c - the certificate table and the one SSL_CTX whose SNI callback picks a certificate. */
#include "server/server_int.h"
#include "common/common.h"

#include <dirent.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CERT_FILE_MAX (1024 * 1024) /* a chain + key file is a few KiB */
#define CERT_CHAIN_MAX 10

static const char *name_key(const void *ctx, uint32_t i)
{
    const struct srv_cert_table *t = ctx;
    return t->names[i].name;
}

const struct srv_cert *srv__cert_find(const struct srv_cert_table *t, const char *name)
{
    if (t == NULL)
        return NULL;
    char buf[256];
    size_t len = name ? strlen(name) : 0;
    if (len > 0 && name[len - 1] == '.')
        len--;
    if (len > 0 && len < sizeof(buf) - 2) {
        for (size_t i = 0; i < len; i++) {
            char c = name[i];
            buf[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
        }
        buf[len] = '\0';
        long i = srv__hash_get(&t->index, buf, len, name_key, t);
        if (i >= 0)
            return &t->certs[t->names[i].cert];
        /* RFC 6125 §6.4.3: a wildcard covers exactly one left-most label. */
        char *dot = memchr(buf, '.', len);
        if (dot != NULL && dot > buf) {
            size_t rest = len - (size_t)(dot - buf);
            char w[258];
            w[0] = '*';
            memcpy(w + 1, dot, rest);
            w[rest + 1] = '\0';
            i = srv__hash_get(&t->index, w, rest + 1, name_key, t);
            if (i >= 0)
                return &t->certs[t->names[i].cert];
        }
    }
    return t->default_cert >= 0 ? &t->certs[t->default_cert] : NULL;
}

static void ssl_error(char *buf, size_t sz, const char *what)
{
    unsigned long e = ERR_get_error();
    char es[256] = "";
    if (e != 0)
        ERR_error_string_n(e, es, sizeof(es));
    snprintf(buf, sz, "%s%s%s", what, es[0] ? ": " : "", es);
    ERR_clear_error();
}

static void cert_clear(struct srv_cert *c)
{
    free(c->file);
    X509_free(c->x509);
    EVP_PKEY_free(c->key);
    sk_X509_pop_free(c->chain, X509_free);
    memset(c, 0, sizeof(*c));
}

static void warn_key_mode(const char *path, const struct stat *st)
{
    if ((st->st_mode & 077) != 0) {
        char q[600];
        log_event(LOG_WARN, "cert.key_mode", "file=%s mode=%04o fix=\"chmod 600 the file\"",
                  log_quote(q, sizeof(q), path), (unsigned)(st->st_mode & 07777));
    }
}

/* Load one certificate (chain) and key. 0, or -1 with reason in err. */
static int cert_load(struct srv_cert *c, const char *cert_path, const char *key_path, char *err,
                     size_t errlen)
{
    size_t clen, klen;
    char *cbuf = file_read_all(cert_path, CERT_FILE_MAX, &clen);
    if (cbuf == NULL) {
        snprintf(err, errlen, "cannot read %s: %s", cert_path, strerror(errno));
        return -1;
    }
    char *kbuf = cbuf;
    klen = clen;
    if (strcmp(cert_path, key_path) != 0) {
        kbuf = file_read_all(key_path, CERT_FILE_MAX, &klen);
        if (kbuf == NULL) {
            snprintf(err, errlen, "cannot read key %s: %s", key_path, strerror(errno));
            free(cbuf);
            return -1;
        }
    }
    int rc = -1;
    BIO *b = BIO_new_mem_buf(cbuf, (int)clen);
    c->x509 = PEM_read_bio_X509(b, NULL, NULL, NULL);
    if (c->x509 == NULL) {
        ssl_error(err, errlen, "no PEM certificate");
        goto out;
    }
    c->chain = sk_X509_new_null();
    X509 *x;
    while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
        if (sk_X509_num(c->chain) >= CERT_CHAIN_MAX) {
            X509_free(x);
            snprintf(err, errlen, "more than %d chain certificates", CERT_CHAIN_MAX);
            goto out;
        }
        sk_X509_push(c->chain, x);
    }
    ERR_clear_error(); /* the loop ends with "no start line" */
    BIO_free(b);
    b = BIO_new_mem_buf(kbuf, (int)klen);
    c->key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
    if (c->key == NULL) {
        ssl_error(err, errlen, "no PEM private key (encrypted keys are not supported)");
        goto out;
    }
    if (X509_check_private_key(c->x509, c->key) != 1) {
        ssl_error(err, errlen, "the private key does not match the certificate");
        goto out;
    }
    struct tm tm;
    if (ASN1_TIME_to_tm(X509_get0_notAfter(c->x509), &tm) == 1)
        c->not_after = timegm(&tm);
    rc = 0;
out:
    BIO_free(b);
    if (kbuf != cbuf) {
        OPENSSL_cleanse(kbuf, klen);
        free(kbuf);
    } else {
        OPENSSL_cleanse(cbuf, clen);
    }
    free(cbuf);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int host_name_ok(const char *s)
{
    if (strcmp(s, "default") == 0)
        return 1;
    return policy_domain_valid(s);
}

/* The previous table's certificate loaded from the same file, or NULL. */
static const struct srv_cert *prev_cert(const struct srv_cert_table *prev, const char *file)
{
    if (prev == NULL)
        return NULL;
    for (size_t i = 0; i < prev->n; i++)
        if (strcmp(prev->certs[i].file, file) == 0)
            return &prev->certs[i];
    return NULL;
}

static void cert_copy(struct srv_cert *dst, const struct srv_cert *src)
{
    *dst = *src;
    dst->file = xstrdup(src->file);
    X509_up_ref(dst->x509);
    EVP_PKEY_up_ref(dst->key);
    dst->chain = X509_chain_up_ref(src->chain);
}

static void add_name(struct srv_cert_table *t, size_t *cap, const char *name, size_t len,
                     uint32_t cert)
{
    if (len == 0 || len > 253)
        return;
    if (t->n_names == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        t->names = xrealloc(t->names, *cap * sizeof(*t->names));
    }
    char *n = xstrndup(name, len);
    for (char *p = n; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p + 32);
    t->names[t->n_names].name = n;
    t->names[t->n_names].cert = cert;
    t->n_names++;
}

struct srv_cert_table *srv__certs_build(const char *dir, const struct srv_cert_table *prev)
{
    struct srv_cert_table *t = xcalloc(1, sizeof(*t));
    t->default_cert = -1;
    char q1[600], q2[600];
    DIR *d = opendir(dir);
    if (d == NULL) {
        log_event(LOG_ERROR, "cert.dir", "dir=%s error=%s fix=\"create it or set [tls] cert_dir\"",
                  log_quote(q1, sizeof(q1), dir), log_quote(q2, sizeof(q2), strerror(errno)));
        srv__hash_init(&t->index, 0);
        return t;
    }
    char **files = NULL;
    size_t n_files = 0, cap_files = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (de->d_name[0] == '.' || l < 5)
            continue;
        if (strcmp(de->d_name + l - 4, ".pem") != 0 && strcmp(de->d_name + l - 4, ".crt") != 0)
            continue;
        if (n_files == cap_files) {
            cap_files = cap_files ? cap_files * 2 : 64;
            files = xrealloc(files, cap_files * sizeof(*files));
        }
        files[n_files++] = xstrdup(de->d_name);
    }
    closedir(d);
    if (n_files > 1)
        qsort(files, n_files, sizeof(*files), cmp_str);
    t->certs = xcalloc(n_files + 1, sizeof(*t->certs));
    char **hosts = xcalloc(n_files + 1, sizeof(*hosts));
    for (size_t i = 0; i < n_files; i++) {
        size_t l = strlen(files[i]);
        char *host = xstrndup(files[i], l - 4);
        int is_pem = strcmp(files[i] + l - 4, ".pem") == 0;
        if (!host_name_ok(host)) {
            log_event(LOG_WARN, "cert.ignored",
                      "file=%s reason=\"the file name is not "
                      "<hostname>.pem or <hostname>.crt\"",
                      log_quote(q1, sizeof(q1), files[i]));
            free(host);
            continue;
        }
        char *cert_path = xasprintf("%s/%s", dir, files[i]);
        char *key_path = is_pem ? xstrdup(cert_path) : xasprintf("%s/%s.key", dir, host);
        struct stat sc, sk;
        struct srv_cert *c = &t->certs[t->n];
        const struct srv_cert *old = prev_cert(prev, cert_path);
        char err[400];
        int ok = 0;
        if (stat(cert_path, &sc) != 0 || stat(key_path, &sk) != 0) {
            snprintf(err, sizeof(err), "cannot stat %s: %s", key_path, strerror(errno));
        } else if (old != NULL &&
                   old->mtime == (sc.st_mtime > sk.st_mtime ? sc.st_mtime : sk.st_mtime) &&
                   old->size == sc.st_size + (is_pem ? 0 : sk.st_size)) {
            cert_copy(c, old); /* unchanged since the last load */
            ok = 1;
        } else {
            warn_key_mode(key_path, &sk);
            if (cert_load(c, cert_path, key_path, err, sizeof(err)) == 0) {
                c->file = xstrdup(cert_path);
                c->mtime = sc.st_mtime > sk.st_mtime ? sc.st_mtime : sk.st_mtime;
                c->size = sc.st_size + (is_pem ? 0 : sk.st_size);
                ok = 1;
            } else {
                cert_clear(c);
            }
        }
        if (!ok) {
            log_event(LOG_ERROR, "cert.invalid",
                      "file=%s reason=%s serving=%s fix=\"put the chain and an unencrypted "
                      "key in <host>.pem, or <host>.crt + <host>.key\"",
                      log_quote(q1, sizeof(q1), cert_path), log_quote(q2, sizeof(q2), err),
                      old ? "last-good" : "none");
            if (old != NULL) {
                cert_copy(c, old);
                ok = 1;
            }
        }
        if (ok) {
            hosts[t->n] = host;
            host = NULL;
            if (strcmp(hosts[t->n], "default") == 0)
                t->default_cert = (long)t->n;
            t->n++;
        }
        free(host);
        free(cert_path);
        free(key_path);
    }
    /* Names: every file's host name first (they win), then each certificate's DNS SANs. */
    size_t cap = 0;
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(hosts[i], "default") != 0)
            add_name(t, &cap, hosts[i], strlen(hosts[i]), (uint32_t)i);
    for (size_t i = 0; i < t->n; i++) {
        GENERAL_NAMES *gens = X509_get_ext_d2i(t->certs[i].x509, NID_subject_alt_name, NULL, NULL);
        for (int k = 0; gens != NULL && k < sk_GENERAL_NAME_num(gens) && k < 1000; k++) {
            const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, k);
            if (g->type != GEN_DNS)
                continue;
            const unsigned char *s = ASN1_STRING_get0_data(g->d.dNSName);
            int sl = ASN1_STRING_length(g->d.dNSName);
            if (sl > 0 && memchr(s, '\0', (size_t)sl) == NULL)
                add_name(t, &cap, (const char *)s, (size_t)sl, (uint32_t)i);
        }
        GENERAL_NAMES_free(gens);
    }
    srv__hash_init(&t->index, t->n_names);
    for (size_t i = 0; i < t->n_names; i++) {
        if (!srv__hash_put(&t->index, t->names[i].name, (uint32_t)i, name_key, t)) {
            free(t->names[i].name); /* a duplicate: the first one wins */
            t->names[i].name = NULL;
        }
    }
    for (size_t i = 0; i < n_files; i++)
        free(files[i]);
    free(files);
    for (size_t i = 0; i < t->n; i++)
        free(hosts[i]);
    free(hosts);
    return t;
}

void srv__certs_free(struct srv_cert_table *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->n; i++)
        cert_clear(&t->certs[i]);
    for (size_t i = 0; i < t->n_names; i++)
        free(t->names[i].name);
    free(t->certs);
    free(t->names);
    srv__hash_free(&t->index);
    free(t);
}

/*
 * SNI (RFC 6066 §3): pick the certificate for the requested name from this thread's
 * snapshot. No SNI or an unknown name gets default.pem when there is one; otherwise the
 * handshake ends with an unrecognized_name alert.
 */
static int on_servername(SSL *ssl, int *al, void *arg)
{
    struct srv_thread *t = srv_current();
    const struct srv_cert_table *ct = t != NULL && t->snap != NULL ? t->snap->certs : NULL;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    const struct srv_cert *c = srv__cert_find(ct, name);
    if (c == NULL) {
        *al = SSL_AD_UNRECOGNIZED_NAME;
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    if (SSL_use_cert_and_key(ssl, c->x509, c->key, c->chain, 1) != 1) {
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
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"stsd", 4);
    SSL_CTX_set_tlsext_servername_callback(ctx, on_servername);
    h2o_ssl_register_alpn_protocols(ctx, h2o_http2_alpn_protocols);
    return ctx;
}
