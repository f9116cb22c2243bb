/* certs.c - the certificates in cert_dir as facts (name, files, issuer, validity, serial, whether
 * ACME installed them), cached. */
#include "hosted/hosted_int.h"
#include "common/common.h"
#include "sql/db.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/*
 * A certificate file is <host>.pem (chain and key) or <host>.crt with its key in <host>.key,
 * where <host> is a valid host name or "default" (served to clients that send no or an
 * unknown SNI name). Other files are not certificates of ours and are left out.
 */

static void cert_clear(struct hosted_cert *c)
{
    free(c->name);
    free(c->file);
    free(c->key_file);
    free(c->issuer);
    X509_free(c->x509);
    memset(c, 0, sizeof(*c));
}

void hosted__certs_free(struct hosted *h)
{
    for (size_t i = 0; i < h->n_certs; i++)
        cert_clear(&h->certs[i]);
    free(h->certs);
    free(h->certs_seen);
    h->certs = NULL;
    h->certs_seen = NULL;
    h->n_certs = 0;
    hosted_cert_index_free(&h->index);
    h->index_stale = 1;
}

int64_t hosted__asn1_unix(const ASN1_TIME *a)
{
    struct tm tm;
    if (a == NULL || ASN1_TIME_to_tm(a, &tm) != 1)
        return 0;
    return (int64_t)timegm(&tm);
}

void hosted__serial_hex(const X509 *x, char out[66])
{
    BIGNUM *bn = x ? ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL) : NULL;
    char *hex = bn ? BN_bn2hex(bn) : NULL; /* upper case, whole bytes */
    snprintf(out, 66, "%s", hex ? hex : "");
    OPENSSL_free(hex);
    BN_free(bn);
}

/* The issuer as one line, most specific part first: "CN=R11, O=Let's Encrypt, C=US". */
static char *issuer_line(X509 *x)
{
    BIO *b = BIO_new(BIO_s_mem());
    if (b == NULL)
        abort();
    unsigned long fl = (XN_FLAG_RFC2253 & ~XN_FLAG_SEP_MASK) | XN_FLAG_SEP_CPLUS_SPC;
    X509_NAME_print_ex(b, X509_get_issuer_name(x), 0, fl);
    char *data = NULL;
    long n = BIO_get_mem_data(b, &data);
    char *s = xstrndup(data ? data : "", n > 0 ? (size_t)n : 0);
    BIO_free(b);
    return s;
}

/* Read the leaf of one file into c (name, file, key_file set). 0, or -1 when it holds no
 * certificate. */
static int cert_read(struct hosted_cert *c)
{
    FILE *f = fopen(c->file, "r");
    X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    if (f)
        fclose(f);
    if (x == NULL)
        return -1;
    c->x509 = x;
    c->not_before = hosted__asn1_unix(X509_get0_notBefore(x));
    c->not_after = hosted__asn1_unix(X509_get0_notAfter(x));
    c->issuer = issuer_line(x);
    hosted__serial_hex(x, c->serial);
    return 0;
}

static int cert_cmp(const void *a, const void *b)
{
    const struct hosted_cert *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c != 0 ? c : strcmp(x->file, y->file);
}

void hosted_cert_files_free(struct hosted_cert *v, size_t n)
{
    for (size_t i = 0; v != NULL && i < n; i++)
        cert_clear(&v[i]);
    free(v);
}

int hosted_cert_files(const char *dir, struct hosted_cert **out, size_t *n, char ***skipped,
                      size_t *n_skipped)
{
    size_t cap = 0;
    *out = NULL;
    *n = 0;
    if (skipped != NULL) {
        *skipped = NULL;
        *n_skipped = 0;
    }
    DIR *d = opendir(dir);
    if (d == NULL)
        return -1;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        const char *ext = de->d_name + l - 4;
        if (de->d_name[0] == '.' || l < 5 || (strcmp(ext, ".pem") != 0 && strcmp(ext, ".crt") != 0))
            continue;
        char *host = xstrndup(de->d_name, l - 4);
        if (strcmp(host, "default") != 0 && !domain_valid(host)) {
            free(host);
            if (skipped != NULL) {
                *skipped = xrealloc(*skipped, (*n_skipped + 1) * sizeof(char *));
                (*skipped)[(*n_skipped)++] = xstrdup(de->d_name);
            }
            continue;
        }
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            *out = xrealloc(*out, cap * sizeof(**out));
        }
        struct hosted_cert *c = &(*out)[(*n)++];
        memset(c, 0, sizeof(*c));
        c->name = host;
        c->file = xasprintf("%s/%s", dir, de->d_name);
        c->key_file = ext[1] == 'p' ? xstrdup(c->file) : xasprintf("%s/%s.key", dir, host);
    }
    closedir(d);
    if (*n > 1)
        qsort(*out, *n, sizeof(**out), cert_cmp);
    return 0;
}

static int acme_row_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const struct db_acme *)elem)->domain);
}

/* The source of each certificate: "acme" when it is mta-sts.<d> and its serial is the one
 * ACME last installed for d, else "file". One query for the whole listing; without a
 * database (or the table) every certificate is "file". */
static void mark_sources(struct hosted *h, struct hosted_cert *v, size_t n)
{
    char err[256];
    struct db_acme *rows = NULL;
    size_t nr = 0;
    struct db *db = (h->flags & HOSTED_NO_DB) ? NULL : hosted_db(h, err, sizeof(err));
    if (db == NULL || db_acme_list(db, &rows, &nr) != 0)
        nr = 0;
    for (size_t i = 0; i < n; i++) {
        const struct db_acme *r = NULL;
        if (nr > 0 && strncmp(v[i].name, "mta-sts.", 8) == 0)
            r = bsearch(v[i].name + 8, rows, nr, sizeof(*rows), acme_row_cmp);
        int acme = r != NULL && r->serial != NULL && strcmp(r->serial, v[i].serial) == 0;
        snprintf(v[i].source, sizeof(v[i].source), "%s", acme ? "acme" : "file");
    }
    db_acme_free(rows, nr);
}

int hosted_certs(struct hosted *h, const struct hosted_cert **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    size_t nf = 0;
    struct hosted_cert *v = NULL;
    if (hosted_cert_files(h->cert_dir, &v, &nf, NULL, NULL) != 0) {
        int e = errno;
        hosted__certs_free(h);
        errno = e;
        return e == ENOENT ? 0 : -1;
    }
    struct hosted__cert_seen *seen = xcalloc(nf ? nf : 1, sizeof(*seen));
    size_t k = 0, j = 0, old_n = h->n_certs, same = 0;
    for (size_t i = 0; i < nf; i++) {
        struct hosted_cert *c = &v[i];
        struct stat st;
        /* Both listings are sorted by cert_cmp: walk the old one alongside. */
        while (j < h->n_certs && cert_cmp(&h->certs[j], c) < 0)
            j++;
        struct hosted_cert *old =
            j < h->n_certs && cert_cmp(&h->certs[j], c) == 0 ? &h->certs[j] : NULL;
        if (stat(c->file, &st) != 0) {
            cert_clear(c);
            continue;
        }
        struct hosted__cert_seen s = {st.st_size, st.st_mtim};
        struct hosted__cert_seen *os = old ? &h->certs_seen[old - h->certs] : NULL;
        if (old != NULL && old->x509 != NULL && os->size == s.size &&
            os->mtime.tv_sec == s.mtime.tv_sec && os->mtime.tv_nsec == s.mtime.tv_nsec) {
            cert_clear(c);
            *c = *old;        /* unchanged since the last call: moved, not decoded again */
            old->x509 = NULL; /* marks it moved; its strings now belong to c */
            same += (size_t)(old - h->certs) == k; /* and at the same position */
        } else if (cert_read(c) != 0) {
            cert_clear(c);
            continue;
        }
        seen[k] = s;
        v[k++] = *c;
    }
    for (size_t i = 0; i < h->n_certs; i++)
        if (h->certs[i].x509 != NULL) /* not moved: its file changed or went away */
            cert_clear(&h->certs[i]);
    free(h->certs);
    free(h->certs_seen);
    h->certs = v;
    h->certs_seen = seen;
    h->n_certs = k;
    mark_sources(h, v, k);
    /* the index names certificates by position: built again when any changed, came or went */
    if (same != k || k != old_n)
        h->index_stale = 1;
    h->index.certs = v;
    h->index.n_certs = k;
    *out = v;
    *n = k;
    return 0;
}
