/* store.c - the policy directory: <dir>/<domain>.txt files, their hashes, atomic writes, ids. */
#include "policy/policy_int.h"
#include "common/common.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/evp.h>

/*
 * A file name is <domain>.txt where <domain> is a valid host name written in lowercase
 * (policy_domain_valid). Anything else ending in .txt is skipped and listed in `skipped`;
 * other names (editor backups, the temporary files of file_write_atomic) are ignored
 * silently. Paths are only ever built from a validated, lowercased domain.
 */

static int domain_canonical(const char *s, size_t n)
{
    if (policy__domain_problem(s, n) != NULL)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] >= 'A' && s[i] <= 'Z')
            return 0;
    }
    return 1;
}

char *policy_store_path(const char *dir, const char *domain)
{
    if (dir == NULL || !policy_domain_valid(domain))
        return NULL;
    char *lower = xstrdup(domain);
    for (char *c = lower; *c; c++)
        *c = (char)policy__lower((unsigned char)*c);
    char *path = xasprintf("%s/%s.txt", dir, lower);
    free(lower);
    return path;
}

static void sha256(const char *buf, size_t len, unsigned char out[32])
{
    unsigned int n = 32;
    if (EVP_Digest(buf, len, out, &n, EVP_sha256(), NULL) != 1)
        abort(); /* only fails when OpenSSL cannot allocate */
}

/* Read and parse one file into e (e->domain already set). 0, or -1 with errno. */
static int load_file(const char *path, struct policy_store_entry *e)
{
    size_t len = 0;
    /* A file of exactly 64 KiB is still read and gets the parser's size error; a larger
     * one fails here with EFBIG. */
    char *text = file_read_all(path, POLICY_MAX_BODY, &len);
    if (text == NULL) {
        int err = errno;
        e->diag.n = 1;
        e->diag.n_warnings = 0;
        e->diag.n_errors = 1;
        e->diag.items[0].line = 1;
        e->diag.items[0].severity = POLICY_SEV_ERROR;
        if (err == EFBIG) {
            e->diag.items[0].kind = POLICY_DIAG_SIZE;
            e->read_error = xstrdup("the file is larger than 64 KiB");
        } else {
            e->diag.items[0].kind = POLICY_DIAG_SYNTAX;
            e->read_error = xstrdup(strerror(err));
        }
        snprintf(e->diag.items[0].message, sizeof(e->diag.items[0].message),
                 "cannot read the file: %s", e->read_error);
        e->valid = 0;
        errno = err;
        return -1;
    }
    /* file_read_all reads in 4 KiB steps; keep only what the file holds (10,000 domains). */
    e->text = xrealloc(text, len + 1);
    e->len = len;
    sha256(e->text, len, e->sha256);
    e->valid = policy_parse(e->text, len, &e->policy, &e->diag) == 0;
    return 0;
}

int policy_store_load_one(const char *dir, const char *domain, struct policy_store_entry *out)
{
    memset(out, 0, sizeof(*out));
    char *path = policy_store_path(dir, domain);
    if (path == NULL) {
        errno = EINVAL;
        return -1;
    }
    out->domain = xstrdup(domain);
    for (char *c = out->domain; *c; c++)
        *c = (char)policy__lower((unsigned char)*c);
    int rc = load_file(path, out);
    int err = errno;
    free(path);
    errno = err;
    return rc;
}

void policy_store_entry_clear(struct policy_store_entry *e)
{
    if (e == NULL)
        return;
    free(e->domain);
    free(e->text);
    free(e->read_error);
    policy_clear(&e->policy);
    /* Not a memset of the whole entry: its diag items need not be touched (see
     * policy_store_load). */
    e->domain = e->text = e->read_error = NULL;
    e->len = 0;
    e->valid = 0;
    e->diag.n = e->diag.n_errors = e->diag.n_warnings = 0;
}

void policy_store_list_free(struct policy_store_list *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->n; i++)
        policy_store_entry_clear(&l->items[i]);
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

/*
 * Start-up of the server reads every file here (up to 10,000 domains in well under a
 * second): the names are collected and sorted first, so the (large) entries are allocated
 * once with calloc and never moved; their diag items are only touched when written.
 */
int policy_store_load(const char *dir, struct policy_store_list *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    DIR *d = opendir(dir);
    if (d == NULL) {
        int e = errno;
        if (err != NULL)
            snprintf(err, errlen, "cannot open the policy directory %s: %s", dir, strerror(e));
        errno = e;
        return -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *name = de->d_name;
        size_t len = strlen(name);
        if (len <= 4 || strcmp(name + len - 4, ".txt") != 0 || name[0] == '.')
            continue;
        if (!domain_canonical(name, len - 4)) {
            out->skipped = xrealloc(out->skipped, (out->n_skipped + 1) * sizeof(char *));
            out->skipped[out->n_skipped++] = xstrdup(name);
            continue;
        }
        if (de->d_type != DT_REG) {
            struct stat st;
            if (fstatat(dirfd(d), name, &st, 0) != 0 || !S_ISREG(st.st_mode))
                continue;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            names = xrealloc(names, cap * sizeof(char *));
        }
        names[n++] = xstrndup(name, len - 4);
    }
    closedir(d);
    if (n > 1)
        qsort(names, n, sizeof(char *), by_name);
    if (out->n_skipped > 1)
        qsort(out->skipped, out->n_skipped, sizeof(char *), by_name);
    out->items = n ? xcalloc(n, sizeof(*out->items)) : NULL;
    for (size_t i = 0; i < n; i++) {
        struct policy_store_entry *e = &out->items[out->n++];
        e->domain = names[i]; /* ownership moves to the entry */
        char *path = policy_store_path(dir, e->domain);
        load_file(path, e);
        free(path);
    }
    free(names);
    return 0;
}

int policy_store_write(const char *dir, const char *domain, const char *text, size_t len)
{
    char *path = policy_store_path(dir, domain);
    if (path == NULL) {
        errno = EINVAL;
        return -1;
    }
    int rc = mkdir_p(dir, 0755);
    if (rc == 0)
        rc = file_write_atomic(path, text, len, 0644);
    int e = errno;
    free(path);
    errno = e;
    return rc;
}

/* Bijective base 26 ("a".."z", "aa".."zz", ...) of k >= 1 into out. */
static void letters(unsigned k, char *out)
{
    char tmp[8];
    size_t n = 0;
    while (k > 0 && n < sizeof(tmp)) {
        k--;
        tmp[n++] = (char)('a' + k % 26);
        k /= 26;
    }
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = '\0';
}

void policy_new_id(int64_t now, int (*taken)(void *ctx, const char *id), void *ctx,
                   char out[POLICY_ID_MAX + 1])
{
    time_t t = (time_t)now;
    struct tm tm;
    gmtime_r(&t, &tm);
    char base[24];
    strftime(base, sizeof(base), "%Y%m%dT%H%M%S", &tm);
    snprintf(out, POLICY_ID_MAX + 1, "%s", base);
    /* A bounded search: 26 + 26^2 suffixes are more than one second can need. When the
     * callback keeps saying "taken" (a failing database), the last candidate is returned
     * and the caller's insert fails on its unique key. */
    for (unsigned k = 1; taken != NULL && taken(ctx, out) && k <= 26 + 26 * 26; k++) {
        char suffix[8];
        letters(k, suffix);
        snprintf(out, POLICY_ID_MAX + 1, "%s%s", base, suffix);
    }
}
