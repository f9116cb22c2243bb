/* cert_index.c - which certificate serves a host name: the names of cert_dir's certificates
 * (DNS SANs) in one sorted index, so that finding the certificate of each of 10,000 names is
 * a binary search, not a scan of every certificate for every name. */
#include "hosted/hosted_int.h"
#include "common/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509v3.h>

static int name_cmp(const void *x, const void *y)
{
    return strcmp(((const struct hosted_cert_name *)x)->name,
                  ((const struct hosted_cert_name *)y)->name);
}

void hosted_cert_index_build(const struct hosted_cert *v, size_t n, struct hosted_cert_index *ix)
{
    memset(ix, 0, sizeof(*ix));
    ix->certs = v;
    ix->n_certs = n;
    size_t cap = 0;
    for (size_t i = 0; i < n; i++) {
        GENERAL_NAMES *gens = v[i].x509 != NULL
                                  ? X509_get_ext_d2i(v[i].x509, NID_subject_alt_name, NULL, NULL)
                                  : NULL;
        for (int k = 0; k < sk_GENERAL_NAME_num(gens); k++) {
            const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, k);
            if (g->type != GEN_DNS)
                continue;
            const unsigned char *s = ASN1_STRING_get0_data(g->d.dNSName);
            int len = ASN1_STRING_length(g->d.dNSName);
            if (len <= 0 || len > 253 || memchr(s, 0, (size_t)len) != NULL)
                continue;
            if (ix->n == cap) {
                cap = cap ? cap * 2 : 64;
                ix->v = xrealloc(ix->v, cap * sizeof(*ix->v));
            }
            char *name = xstrndup((const char *)s, (size_t)len);
            for (char *p = name; *p; p++)
                if (*p >= 'A' && *p <= 'Z')
                    *p = (char)(*p - 'A' + 'a');
            ix->v[ix->n].name = name;
            ix->v[ix->n++].cert = i;
        }
        GENERAL_NAMES_free(gens);
    }
    if (ix->n > 0)
        qsort(ix->v, ix->n, sizeof(*ix->v), name_cmp);
}

void hosted_cert_index_free(struct hosted_cert_index *ix)
{
    for (size_t i = 0; i < ix->n; i++)
        free(ix->v[i].name);
    free(ix->v);
    memset(ix, 0, sizeof(*ix));
}

/* Of the certificates whose SAN is exactly `name`, the one that ends last; -1 when none. */
static long san_best(const struct hosted_cert_index *ix, const char *name)
{
    size_t lo = 0, hi = ix->n;
    while (lo < hi) { /* the first entry >= name */
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(ix->v[mid].name, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    long best = -1;
    for (; lo < ix->n && strcmp(ix->v[lo].name, name) == 0; lo++)
        if (best < 0 || ix->certs[ix->v[lo].cert].not_after > ix->certs[best].not_after)
            best = (long)ix->v[lo].cert;
    return best;
}

long hosted_cert_pick(const struct hosted_cert_index *ix, const char *host, int *covers)
{
    *covers = 0;
    /* by file name first, as the server's SNI callback picks it (the list is sorted by name) */
    size_t lo = 0, hi = ix->n_certs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(ix->certs[mid].name, host);
        if (c == 0) {
            *covers = ix->certs[mid].x509 != NULL &&
                      X509_check_host(ix->certs[mid].x509, host, 0,
                                      X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) == 1;
            return (long)mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    /* then a SAN naming it, then a wildcard SAN for its parent (RFC 6125 §6.4.3: one label) */
    long best = san_best(ix, host);
    const char *dot = strchr(host, '.');
    if (best < 0 && dot != NULL && strchr(dot + 1, '.') != NULL) {
        char wild[300];
        snprintf(wild, sizeof(wild), "*%s", dot);
        best = san_best(ix, wild);
    }
    *covers = best >= 0;
    return best;
}

const struct hosted_cert_index *hosted_cert_index(struct hosted *h)
{
    if (h->index_stale) {
        hosted_cert_index_free(&h->index);
        hosted_cert_index_build(h->certs, h->n_certs, &h->index);
        h->index_stale = 0;
    }
    return &h->index;
}

int hosted_cert_for(struct hosted *h, const char *domain)
{
    char host[300];
    snprintf(host, sizeof(host), "mta-sts.%s", domain);
    for (char *p = host; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    int covers;
    return (int)hosted_cert_pick(hosted_cert_index(h), host, &covers);
}
