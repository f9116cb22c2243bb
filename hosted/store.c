/* store.c - the policy files: <policy_dir>/<domain>.txt, their hashes, ids and withdrawals. */
#include "hosted/hosted_int.h"
#include "common/common.h"
#include "sql/db.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/evp.h>

/*
 * A file name is <domain>.txt where <domain> is a valid host name written in lowercase.
 * Anything else ending in .txt is skipped and listed in `skipped`; other names (editor
 * backups, the temporary files of file_write_atomic) are ignored silently.
 */

static int name_canonical(const char *s, size_t n)
{
    char d[254], c[254];
    if (n >= sizeof(d))
        return 0;
    memcpy(d, s, n);
    d[n] = '\0';
    return hosted__domain(d, c) == 0 && strcmp(c, d) == 0;
}

void hosted__sha256(const void *buf, size_t len, unsigned char out[32])
{
    unsigned int n = 32;
    if (EVP_Digest(buf, len, out, &n, EVP_sha256(), NULL) != 1)
        abort(); /* only fails when OpenSSL cannot allocate */
}

/* Read and parse one file into p (p->domain already set). 0, or -1 with errno. */
static int load_file(const char *path, struct hosted_policy *p)
{
    size_t len = 0;
    /* A file of exactly 64 KiB is still read and gets the parser's size error; a larger
     * one fails here with EFBIG. */
    char *text = file_read_all(path, POLICY_MAX_BODY, &len);
    if (text == NULL) {
        int err = errno;
        struct policy_diag_item *it = &p->diag.items[0];
        p->diag.n = 1;
        p->diag.n_warnings = 0;
        p->diag.n_errors = 1;
        it->line = 1;
        it->severity = POLICY_SEV_ERROR;
        it->kind = err == EFBIG ? POLICY_DIAG_SIZE : POLICY_DIAG_SYNTAX;
        p->read_error = xstrdup(err == EFBIG ? "the file is larger than 64 KiB" : strerror(err));
        snprintf(it->message, sizeof(it->message), "cannot read the file: %s", p->read_error);
        p->valid = 0;
        errno = err;
        return -1;
    }
    /* file_read_all reads in 4 KiB steps; keep only what the file holds (10,000 domains). */
    p->text = xrealloc(text, len + 1);
    p->len = len;
    hosted__sha256(p->text, len, p->sha256);
    p->valid = policy_parse(p->text, len, &p->policy, &p->diag) == 0;
    return 0;
}

/*
 * The ids of the valid contents (recorded when new, in one transaction: 10,000 domains in
 * well under a second instead of one commit each; only looked up when read-only) and the
 * withdrawals under way. Without a database the ids stay "".
 */
static void fill_ids(struct hosted *h, struct hosted_policy *v, size_t n)
{
    char err[256];
    struct db *db = n > 0 ? hosted_db(h, err, sizeof(err)) : NULL;
    if (db == NULL)
        return;
    int ro = (h->flags & HOSTED_READ_ONLY) != 0;
    int in_tx = !ro && n > 1 && db_begin(db) == 0;
    int64_t now = (int64_t)time(NULL);
    for (size_t i = 0; i < n; i++) {
        struct hosted_policy *p = &v[i];
        int is_new = 0;
        if (!p->valid) /* never served, so DNS must never publish an id for it */
            continue;
        if (ro ? db_policy_version_find(db, p->domain, p->sha256, p->id) != 1
               : db_policy_version_record(db, p->domain, p->sha256, now, p->id, &is_new) != 0)
            p->id[0] = '\0';
    }
    if (in_tx && db_commit(db) != 0)
        db_rollback(db);
    struct db_withdrawal *w = NULL;
    size_t nw = 0;
    if (db_withdrawals(db, INT64_MAX, &w, &nw) != 0)
        return; /* a database from before withdrawals (read-only): none */
    /* Both sorted by domain (strcmp, and SQLite's binary collation). */
    for (size_t i = 0, k = 0; i < n && k < nw;) {
        int c = strcmp(v[i].domain, w[k].domain);
        if (c == 0) {
            v[i].withdrawing = 1;
            v[i].withdraw_until = w[k].until;
        }
        i += c <= 0;
        k += c >= 0;
    }
    free(w);
}

int hosted_policy_get(struct hosted *h, const char *domain, unsigned flags,
                      struct hosted_policy *out)
{
    memset(out, 0, sizeof(*out));
    char d[254];
    if (hosted__domain(domain, d) != 0)
        return 0;
    out->domain = xstrdup(d);
    char *path = hosted__policy_path(h, d);
    int rc = load_file(path, out);
    free(path);
    if (rc != 0) {
        if (errno != ENOENT)
            return -1;
        hosted_policy_clear(out);
        return 0;
    }
    if (flags & HOSTED_IDS)
        fill_ids(h, out, 1);
    return 1;
}

void hosted_policy_clear(struct hosted_policy *p)
{
    if (p == NULL)
        return;
    free(p->domain);
    free(p->text);
    free(p->read_error);
    policy_clear(&p->policy);
    /* Not a memset of the whole entry: its diag items need not be touched (see
     * hosted_policy_list). */
    p->domain = p->text = p->read_error = NULL;
    p->len = 0;
    p->valid = 0;
    p->id[0] = '\0';
    p->withdrawing = 0;
    p->withdraw_until = 0;
    p->diag.n = p->diag.n_errors = p->diag.n_warnings = 0;
}

void hosted_policy_list_free(struct hosted_policy_list *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->n; i++)
        hosted_policy_clear(&l->items[i]);
    free(l->items);
    for (size_t i = 0; i < l->n_skipped; i++)
        free(l->skipped[i]);
    free(l->skipped);
    memset(l, 0, sizeof(*l));
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The <domain> of every regular <domain>.txt in the directory, sorted; the other *.txt names
 * go to l->skipped. NULL with errno when the directory cannot be read. */
static char **read_names(DIR *d, size_t *n, struct hosted_policy_list *l)
{
    char **names = NULL;
    size_t cap = 0;
    struct dirent *de;
    *n = 0;
    while ((de = readdir(d)) != NULL) {
        const char *name = de->d_name;
        size_t len = strlen(name);
        if (len <= 4 || strcmp(name + len - 4, ".txt") != 0 || name[0] == '.')
            continue;
        if (!name_canonical(name, len - 4)) {
            l->skipped = xrealloc(l->skipped, (l->n_skipped + 1) * sizeof(char *));
            l->skipped[l->n_skipped++] = xstrdup(name);
            continue;
        }
        if (de->d_type != DT_REG) {
            struct stat st;
            if (fstatat(dirfd(d), name, &st, 0) != 0 || !S_ISREG(st.st_mode))
                continue;
        }
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            names = xrealloc(names, cap * sizeof(char *));
        }
        names[(*n)++] = xstrndup(name, len - 4);
    }
    if (*n > 1)
        qsort(names, *n, sizeof(char *), by_name);
    if (l->n_skipped > 1)
        qsort(l->skipped, l->n_skipped, sizeof(char *), by_name);
    return names;
}

/*
 * Start-up of the server reads every file here (up to 10,000 domains in well under a
 * second): the names are collected and sorted first, so the (large) entries are allocated
 * once with calloc and never moved; their diag items are only touched when written.
 */
int hosted_policy_list(struct hosted *h, unsigned flags, struct hosted_policy_list *out, char *err,
                       size_t errlen)
{
    memset(out, 0, sizeof(*out));
    DIR *d = opendir(h->policy_dir);
    if (d == NULL) {
        int e = errno;
        if (e == ENOENT)
            return 0; /* nothing hosted yet */
        if (err != NULL)
            snprintf(err, errlen, "cannot open the policy directory %s: %s", h->policy_dir,
                     strerror(e));
        errno = e;
        return -1;
    }
    size_t n = 0;
    char **names = read_names(d, &n, out);
    closedir(d);
    out->items = n ? xcalloc(n, sizeof(*out->items)) : NULL;
    for (size_t i = 0; i < n; i++) {
        struct hosted_policy *p = &out->items[out->n++];
        p->domain = names[i]; /* ownership moves to the entry */
        char *path = hosted__policy_path(h, p->domain);
        load_file(path, p);
        free(path);
    }
    free(names);
    if (flags & HOSTED_IDS)
        fill_ids(h, out->items, out->n);
    return 0;
}
