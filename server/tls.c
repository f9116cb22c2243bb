/* tls.c - the certificate table: loading, decoding on first use, lookup by server name. */
#include "server/server_int.h"
#include "common/common.h"
#include "hosted/hosted.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

static void obj_free(struct srv_cert_obj *o)
{
    if (o == NULL)
        return;
    X509_free(o->x509);
    sk_X509_pop_free(o->chain, X509_free);
    EVP_PKEY_free(o->key);
    free(o);
}

static void cert_clear(struct srv_cert *c)
{
    free(c->file);
    for (int i = 0; i < c->n_der; i++)
        free(c->der[i]);
    free(c->der);
    free(c->der_len);
    if (c->key_der != NULL)
        OPENSSL_cleanse(c->key_der, (size_t)c->key_der_len);
    free(c->key_der);
    obj_free(atomic_load(&c->obj));
    memset(c, 0, sizeof(*c));
}

static void warn_key_mode(const char *path, const struct stat *st)
{
    /* Group read is how [server] user reads a root-owned key after the drop (0640). */
    if ((st->st_mode & 027) != 0) {
        char q[600];
        log_event(LOG_WARN, "cert.key_mode",
                  "file=%s mode=%04o fix=\"chmod 600 the file (640 for the group of [server] "
                  "user)\"",
                  log_quote(q, sizeof(q), path), (unsigned)(st->st_mode & 07777));
    }
}

/* Collect the DER of the certificate blocks (when `certs` is set) into c and of the first
 * private key block into *kder (malloc'd by OpenSSL). 0 or -1 with err. */
static int pem_scan(struct srv_cert *c, const char *buf, size_t len, int certs,
                    unsigned char **kder, long *klen, char *err, size_t errlen)
{
    BIO *b = BIO_new_mem_buf(buf, (int)len);
    char *name = NULL, *header = NULL;
    unsigned char *data = NULL;
    long dlen = 0;
    int rc = 0;
    while (rc == 0 && PEM_read_bio(b, &name, &header, &data, &dlen) == 1) {
        if (certs && strcmp(name, PEM_STRING_X509) == 0) {
            if (c->n_der > CERT_CHAIN_MAX) {
                snprintf(err, errlen, "more than %d chain certificates", CERT_CHAIN_MAX);
                rc = -1;
            } else {
                c->der = xrealloc(c->der, (size_t)(c->n_der + 1) * sizeof(*c->der));
                c->der_len = xrealloc(c->der_len, (size_t)(c->n_der + 1) * sizeof(long));
                c->der[c->n_der] = xmalloc((size_t)dlen);
                memcpy(c->der[c->n_der], data, (size_t)dlen);
                c->der_len[c->n_der++] = dlen;
            }
        } else if (*kder == NULL && strstr(name, "PRIVATE KEY") != NULL) {
            if (strstr(name, "ENCRYPTED") != NULL) {
                snprintf(err, errlen,
                         "the private key is encrypted: store it unencrypted (mode 0600)");
                rc = -1;
            } else {
                *kder = data;
                *klen = dlen;
                data = NULL;
            }
        }
        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_free(data);
        name = header = NULL;
        data = NULL;
    }
    ERR_clear_error(); /* the loop ends with "no start line" */
    BIO_free(b);
    return rc;
}

/* Load one certificate (chain) and key. 0, or -1 with reason in err. */
static int cert_load(struct srv_cert *c, const char *cert_path, const char *key_path, char *err,
                     size_t errlen)
{
    size_t clen, klen = 0;
    char *cbuf = file_read_all(cert_path, CERT_FILE_MAX, &clen);
    if (cbuf == NULL) {
        int e = errno;
        snprintf(err, errlen, "cannot read %s: %s%s", cert_path, strerror(e), srv__priv_hint(e));
        return -1;
    }
    char *kbuf = NULL;
    if (strcmp(cert_path, key_path) != 0) {
        kbuf = file_read_all(key_path, CERT_FILE_MAX, &klen);
        if (kbuf == NULL) {
            int e = errno;
            snprintf(err, errlen, "cannot read key %s: %s%s", key_path, strerror(e),
                     srv__priv_hint(e));
            free(cbuf);
            return -1;
        }
    }
    int rc = -1;
    unsigned char *kder = NULL;
    long kdlen = 0;
    if (pem_scan(c, cbuf, clen, 1, &kder, &kdlen, err, errlen) != 0)
        goto out;
    if (kbuf != NULL && kder == NULL && pem_scan(c, kbuf, klen, 0, &kder, &kdlen, err, errlen) != 0)
        goto out;
    if (c->n_der == 0) {
        snprintf(err, errlen, "no PEM certificate");
        goto out;
    }
    if (kder == NULL) {
        snprintf(err, errlen, "no PEM private key");
        goto out;
    }
    c->key_der = xmalloc((size_t)kdlen);
    memcpy(c->key_der, kder, (size_t)kdlen);
    c->key_der_len = kdlen;
    rc = 0;
out:
    if (kder != NULL)
        OPENSSL_clear_free(kder, (size_t)kdlen);
    OPENSSL_cleanse(cbuf, clen);
    free(cbuf);
    if (kbuf != NULL) {
        OPENSSL_cleanse(kbuf, klen);
        free(kbuf);
    }
    return rc;
}

/* The previous table's certificate for host loaded from the same file, or NULL. */
static const struct srv_cert *prev_cert(const struct srv_cert_table *prev, const char *host,
                                        const char *file)
{
    if (prev == NULL)
        return NULL;
    const struct srv_cert *c = NULL;
    if (strcmp(host, "default") == 0) {
        c = prev->default_cert >= 0 ? &prev->certs[prev->default_cert] : NULL;
    } else {
        long i = srv__hash_get(&prev->index, host, strlen(host), name_key, prev);
        c = i >= 0 ? &prev->certs[prev->names[i].cert] : NULL;
    }
    return c != NULL && strcmp(c->file, file) == 0 ? c : NULL;
}

static void cert_copy(struct srv_cert *dst, const struct srv_cert *src)
{
    memset(dst, 0, sizeof(*dst));
    dst->file = xstrdup(src->file);
    dst->mtime = src->mtime;
    dst->ino = src->ino;
    dst->size = src->size;
    dst->n_der = src->n_der;
    dst->der = xmalloc((size_t)src->n_der * sizeof(*dst->der));
    dst->der_len = xmalloc((size_t)src->n_der * sizeof(long));
    for (int i = 0; i < src->n_der; i++) {
        dst->der[i] = xmalloc((size_t)src->der_len[i]);
        memcpy(dst->der[i], src->der[i], (size_t)src->der_len[i]);
        dst->der_len[i] = src->der_len[i];
    }
    dst->key_der = xmalloc((size_t)src->key_der_len);
    memcpy(dst->key_der, src->key_der, (size_t)src->key_der_len);
    dst->key_der_len = src->key_der_len;
    atomic_store(&dst->failed, atomic_load(&src->failed));
    const struct srv_cert_obj *so = atomic_load(&src->obj);
    if (so != NULL) { /* share what is decoded already */
        struct srv_cert_obj *o = xcalloc(1, sizeof(*o));
        X509_up_ref(so->x509);
        o->x509 = so->x509;
        o->chain = X509_chain_up_ref(so->chain);
        EVP_PKEY_up_ref(so->key);
        o->key = so->key;
        o->not_after = so->not_after;
        atomic_store(&dst->obj, o);
    }
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

struct cert_job {
    char *host, *cert_path, *key_path;
    int is_pem;
    const struct srv_cert *old; /* the previous table's version of this file */
    struct srv_cert cert;       /* the result */
    int ok;
    char err[400];
};

static void job_run(struct cert_job *j)
{
    struct stat sc, sk;
    if (stat(j->cert_path, &sc) != 0 || stat(j->key_path, &sk) != 0) {
        int e = errno;
        snprintf(j->err, sizeof(j->err), "cannot stat %s: %s%s", j->key_path, strerror(e),
                 srv__priv_hint(e));
        return;
    }
    struct timespec mtime = sc.st_mtim;
    if (sk.st_mtim.tv_sec > mtime.tv_sec ||
        (sk.st_mtim.tv_sec == mtime.tv_sec && sk.st_mtim.tv_nsec > mtime.tv_nsec))
        mtime = sk.st_mtim;
    off_t size = sc.st_size + (j->is_pem ? 0 : sk.st_size);
    ino_t ino = sc.st_ino ^ (j->is_pem ? 0 : sk.st_ino);
    if (j->old != NULL && j->old->mtime.tv_sec == mtime.tv_sec &&
        j->old->mtime.tv_nsec == mtime.tv_nsec && j->old->ino == ino && j->old->size == size) {
        cert_copy(&j->cert, j->old); /* unchanged since the last load */
        j->ok = 1;
        return;
    }
    warn_key_mode(j->key_path, &sk);
    if (cert_load(&j->cert, j->cert_path, j->key_path, j->err, sizeof(j->err)) == 0) {
        j->cert.file = xstrdup(j->cert_path);
        j->cert.mtime = mtime;
        j->cert.ino = ino;
        j->cert.size = size;
        j->ok = 1;
    } else {
        cert_clear(&j->cert);
    }
}

struct job_slice {
    struct cert_job *jobs;
    size_t n, start, step;
};

static void *job_worker(void *arg)
{
    struct job_slice *sl = arg;
    for (size_t i = sl->start; i < sl->n; i += sl->step)
        job_run(&sl->jobs[i]);
    return NULL;
}

#define CERT_LOAD_THREADS 8
static void run_jobs(struct cert_job *jobs, size_t n)
{
    long nproc = sysconf(_SC_NPROCESSORS_ONLN);
    size_t k = nproc > 1 ? (size_t)nproc : 1;
    if (k > CERT_LOAD_THREADS)
        k = CERT_LOAD_THREADS;
    if (n < 64)
        k = 1;
    pthread_t tids[CERT_LOAD_THREADS];
    struct job_slice sl[CERT_LOAD_THREADS];
    size_t started = 0;
    for (size_t i = 1; i < k; i++) {
        sl[i] = (struct job_slice){jobs, n, i, k};
        if (pthread_create(&tids[i], NULL, job_worker, &sl[i]) != 0)
            break;
        started = i;
    }
    /* this thread takes slice 0, and the slices of threads that did not start */
    for (size_t i = 0; i < n; i += k)
        job_run(&jobs[i]);
    for (size_t i = started + 1; i < k; i++)
        for (size_t m = i; m < n; m += k)
            job_run(&jobs[m]);
    for (size_t i = 1; i <= started; i++)
        pthread_join(tids[i], NULL);
}

struct srv_cert_table *srv__certs_build(const char *dir, const struct srv_cert_table *prev)
{
    struct srv_cert_table *t = xcalloc(1, sizeof(*t));
    t->default_cert = -1;
    char q1[600], q2[600];
    struct hosted_cert *files = NULL;
    char **skipped = NULL;
    size_t n_files = 0, n_skipped = 0;
    if (hosted_cert_files(dir, &files, &n_files, &skipped, &n_skipped) != 0) {
        int e = errno;
        char *why = xasprintf("%s%s", strerror(e), srv__priv_hint(e));
        log_event(LOG_ERROR, "cert.dir",
                  "dir=%s error=%s serving=%s fix=\"create it or set [tls] cert_dir\"",
                  log_quote(q1, sizeof(q1), dir), log_quote(q2, sizeof(q2), why),
                  prev ? "last-good" : "none");
        free(why);
        if (prev != NULL) {
            free(t);
            return NULL; /* keep serving what was loaded */
        }
        srv__hash_init(&t->index, 0);
        return t;
    }
    for (size_t i = 0; i < n_skipped; i++) {
        log_event(LOG_WARN, "cert.ignored",
                  "file=%s reason=\"the file name is not <hostname>.pem or <hostname>.crt\"",
                  log_quote(q1, sizeof(q1), skipped[i]));
        free(skipped[i]);
    }
    free(skipped);
    /* Parse in parallel: OpenSSL's decoding is most of the start-up time with many names. */
    struct cert_job *jobs = xcalloc(n_files + 1, sizeof(*jobs));
    size_t n_jobs = 0;
    for (size_t i = 0; i < n_files; i++) { /* the strings move to the job */
        struct cert_job *j = &jobs[n_jobs++];
        j->host = files[i].name;
        j->cert_path = files[i].file;
        j->key_path = files[i].key_file;
        j->is_pem = strcmp(j->cert_path, j->key_path) == 0;
        j->old = prev_cert(prev, j->host, j->cert_path);
        files[i].name = files[i].file = files[i].key_file = NULL;
    }
    hosted_cert_files_free(files, n_files);
    run_jobs(jobs, n_jobs);

    t->certs = xcalloc(n_jobs + 1, sizeof(*t->certs));
    char **hosts = xcalloc(n_jobs + 1, sizeof(*hosts));
    for (size_t i = 0; i < n_jobs; i++) {
        struct cert_job *j = &jobs[i];
        int ok = j->ok;
        if (!ok) {
            log_event(LOG_ERROR, "cert.invalid",
                      "file=%s reason=%s serving=%s fix=\"put the chain and an unencrypted "
                      "key in <host>.pem, or <host>.crt + <host>.key\"",
                      log_quote(q1, sizeof(q1), j->cert_path), log_quote(q2, sizeof(q2), j->err),
                      j->old ? "last-good" : "none");
            if (j->old != NULL) {
                cert_copy(&j->cert, j->old);
                ok = 1;
            }
        }
        if (ok) {
            t->certs[t->n] = j->cert;
            hosts[t->n] = j->host;
            j->host = NULL;
            if (strcmp(hosts[t->n], "default") == 0)
                t->default_cert = (long)t->n;
            t->n++;
        }
        free(j->host);
        free(j->cert_path);
        free(j->key_path);
    }
    free(jobs);
    /* Names: every file's host name first (they win), then each certificate's DNS SANs. */
    size_t cap = 0;
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(hosts[i], "default") != 0)
            add_name(t, &cap, hosts[i], strlen(hosts[i]), (uint32_t)i);
    for (size_t i = 0; i < t->n; i++) {
        const struct srv_cert_obj *o = atomic_load(&t->certs[i].obj);
        if (o == NULL) {
            /* its SANs are indexed once the warm-up has decoded it (never, if it fails) */
            if (!atomic_load(&t->certs[i].failed))
                t->n_undecoded++;
            continue;
        }
        GENERAL_NAMES *gens = X509_get_ext_d2i(o->x509, NID_subject_alt_name, NULL, NULL);
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

/* Decode a certificate's DER blocks and key. NULL with the reason in *why. */
static struct srv_cert_obj *obj_decode(const struct srv_cert *c, const char **why)
{
    struct srv_cert_obj *o = xcalloc(1, sizeof(*o));
    o->chain = sk_X509_new_null();
    for (int i = 0; i < c->n_der; i++) {
        const unsigned char *p = c->der[i];
        X509 *x = d2i_X509(NULL, &p, c->der_len[i]);
        if (x == NULL) {
            *why = "a CERTIFICATE block does not decode";
            obj_free(o);
            return NULL;
        }
        if (i == 0)
            o->x509 = x;
        else
            sk_X509_push(o->chain, x);
    }
    EVP_PKEY *pub = X509_get0_pubkey(o->x509);
    int type = pub != NULL ? EVP_PKEY_get_base_id(pub) : EVP_PKEY_NONE;
    const unsigned char *p = c->key_der;
    o->key = d2i_PrivateKey(type, NULL, &p, c->key_der_len);
    if (o->key == NULL) {
        p = c->key_der;
        o->key = d2i_AutoPrivateKey(NULL, &p, c->key_der_len);
    }
    if (o->key == NULL) {
        *why = "the private key does not decode";
        obj_free(o);
        return NULL;
    }
    if (X509_check_private_key(o->x509, o->key) != 1) {
        *why = "the private key does not match the certificate";
        obj_free(o);
        return NULL;
    }
    struct tm tm;
    if (ASN1_TIME_to_tm(X509_get0_notAfter(o->x509), &tm) == 1)
        o->not_after = timegm(&tm);
    return o;
}

const struct srv_cert_obj *srv__cert_obj(const struct srv_cert *cc)
{
    struct srv_cert *c = (struct srv_cert *)cc; /* only the atomic fields change */
    struct srv_cert_obj *o = atomic_load(&c->obj);
    if (o != NULL || atomic_load(&c->failed))
        return o;
    const char *why = NULL;
    o = obj_decode(c, &why);
    if (o == NULL) {
        ERR_clear_error();
        if (atomic_exchange(&c->failed, 1) == 0) {
            char q[600];
            log_event(LOG_ERROR, "cert.invalid",
                      "file=%s reason=\"%s\" serving=none fix=\"put a valid chain and its "
                      "key in the file, then reload\"",
                      log_quote(q, sizeof(q), c->file), why);
        }
        return NULL;
    }
    struct srv_cert_obj *expected = NULL;
    if (!atomic_compare_exchange_strong(&c->obj, &expected, o)) {
        obj_free(o); /* another thread was first */
        return expected;
    }
    return o;
}

int srv__certs_warm(const struct srv_cert_table *t, size_t *cursor, size_t max)
{
    size_t i = *cursor;
    for (size_t done = 0; i < t->n && done < max; i++, done++)
        srv__cert_obj(&t->certs[i]);
    *cursor = i;
    return i < t->n;
}
