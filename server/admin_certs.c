/* admin_certs.c - a snapshot of cert_dir's certificates indexed by the names they serve (file
 * names and hosted/'s SAN index), kept per admin worker thread: the dashboard finds the
 * certificate of each of 10,000 domains by binary search without listing cert_dir per page. */
#include "server/admin_int.h"
#include "common/common.h"
#include "hosted/hosted.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static int name_cmp(const void *a, const void *b)
{
    return strcmp(((const struct admin_cert_name *)a)->name,
                  ((const struct admin_cert_name *)b)->name);
}

static void add_name(struct admin_certs_view *cv, size_t *alloc, const char *name, size_t len,
                     size_t cert)
{
    if (len == 0 || len > 253)
        return;
    if (cv->n_names == *alloc) {
        *alloc = *alloc ? 2 * *alloc : 64;
        cv->names = xrealloc(cv->names, *alloc * sizeof(*cv->names));
    }
    struct admin_cert_name *e = &cv->names[cv->n_names++];
    e->name = xstrndup(name, len);
    for (char *s = e->name; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s + 32);
    e->cert = cert;
}

static void view_clear(struct admin_certs_view *cv)
{
    for (size_t i = 0; i < cv->n; i++) {
        free(cv->certs[i].file);
        free(cv->certs[i].issuer);
    }
    for (size_t i = 0; i < cv->n_names; i++)
        free(cv->names[i].name);
    free(cv->certs);
    free(cv->names);
    memset(cv, 0, sizeof(*cv));
}

static int view_build(struct hosted *h, struct admin_certs_view *cv)
{
    const struct hosted_cert *v = NULL;
    size_t n = 0;
    if (hosted_certs(h, &v, &n) != 0)
        return -1;
    cv->certs = xcalloc(n ? n : 1, sizeof(*cv->certs));
    cv->n = n;
    size_t alloc = 0;
    for (size_t i = 0; i < n; i++) {
        cv->certs[i].file = xstrdup(v[i].file);
        cv->certs[i].issuer = xstrdup(v[i].issuer ? v[i].issuer : "");
        cv->certs[i].not_after = v[i].not_after;
        snprintf(cv->certs[i].source, sizeof(cv->certs[i].source), "%s",
                 v[i].source[0] ? v[i].source : "file");
        add_name(cv, &alloc, v[i].name, strlen(v[i].name), i);
    }
    /* the DNS SANs, from hosted/'s index of the same listing */
    const struct hosted_cert_index *ix = hosted_cert_index(h);
    for (size_t k = 0; k < ix->n; k++)
        add_name(cv, &alloc, ix->v[k].name, strlen(ix->v[k].name), ix->v[k].cert);
    if (cv->n_names > 1)
        qsort(cv->names, cv->n_names, sizeof(*cv->names), name_cmp);
    return 0;
}

static pthread_key_t view_key;
static pthread_once_t view_once = PTHREAD_ONCE_INIT;

static void view_destroy(void *p)
{
    view_clear(p);
    free(p);
}

static void view_key_make(void)
{
    if (pthread_key_create(&view_key, view_destroy) != 0)
        abort();
}

const struct admin_certs_view *srv__admin_certs_view(struct hosted *h)
{
    if (h == NULL)
        return NULL;
    pthread_once(&view_once, view_key_make);
    struct admin_certs_view *cv = pthread_getspecific(view_key);
    if (cv == NULL) {
        cv = xcalloc(1, sizeof(*cv));
        pthread_setspecific(view_key, cv);
    }
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    struct stat st;
    memset(&st, 0, sizeof(st));
    stat(hosted_cert_dir(h), &st);
    if (cv->built != 0 && now.tv_sec - cv->built < ADMIN_CERTS_TTL &&
        st.st_mtim.tv_sec == cv->dir_mtime.tv_sec && st.st_mtim.tv_nsec == cv->dir_mtime.tv_nsec)
        return cv;
    view_clear(cv);
    if (view_build(h, cv) != 0) {
        view_clear(cv);
        return NULL;
    }
    cv->dir_mtime = st.st_mtim;
    cv->built = now.tv_sec > 0 ? now.tv_sec : 1;
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    log_event(LOG_DEBUG, "admin.certs_indexed", "certs=%zu names=%zu ms=%lld", cv->n, cv->n_names,
              (long long)((t1.tv_sec - now.tv_sec) * 1000 + (t1.tv_nsec - now.tv_nsec) / 1000000));
    return cv;
}

const struct admin_cert_fact *srv__admin_certs_find(const struct admin_certs_view *cv,
                                                    const char *domain)
{
    if (cv == NULL)
        return NULL;
    char host[300];
    const struct admin_cert_fact *best = NULL;
    for (int w = 0; w < 2 && best == NULL; w++) {
        snprintf(host, sizeof(host), "%s.%s", w ? "*" : "mta-sts", domain);
        struct admin_cert_name key = {.name = host};
        const struct admin_cert_name *e =
            cv->n_names ? bsearch(&key, cv->names, cv->n_names, sizeof(*cv->names), name_cmp)
                        : NULL;
        if (e == NULL)
            continue;
        /* bsearch lands on any of equal names: look at all of them */
        while (e > cv->names && strcmp(e[-1].name, host) == 0)
            e--;
        for (; e < cv->names + cv->n_names && strcmp(e->name, host) == 0; e++)
            if (best == NULL || cv->certs[e->cert].not_after > best->not_after)
                best = &cv->certs[e->cert];
    }
    return best;
}
