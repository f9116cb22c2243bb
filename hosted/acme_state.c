/* acme_state.c - what the ACME scheduler knows of each hosted domain's certificate (the rows
 * are sql/'s), the command line's renewal requests, and the install of an issued certificate. */
#include "hosted/hosted_int.h"
#include "common/common.h"
#include "sql/db.h"

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Every field of a row from src to dst, between struct hosted_acme and struct db_acme (the
 * same fields): the strings as pointers. */
#define ACME_COPY(dst, src)                                                                        \
    do {                                                                                           \
        (dst)->domain = (src)->domain;                                                             \
        snprintf((dst)->state, sizeof((dst)->state), "%s", (src)->state);                          \
        (dst)->failures = (src)->failures;                                                         \
        (dst)->next_attempt = (src)->next_attempt;                                                 \
        (dst)->last_attempt = (src)->last_attempt;                                                 \
        (dst)->last_success = (src)->last_success;                                                 \
        (dst)->not_after = (src)->not_after;                                                       \
        (dst)->serial = (src)->serial;                                                             \
        (dst)->last_error = (src)->last_error;                                                     \
        (dst)->account = (src)->account;                                                           \
        (dst)->request = (src)->request;                                                           \
        (dst)->requested_at = (src)->requested_at;                                                 \
    } while (0)

void hosted_acme_clear(struct hosted_acme *a)
{
    if (a == NULL)
        return;
    struct db_acme r; /* the strings move to sql/'s row, which frees them */
    ACME_COPY(&r, a);
    db_acme_clear(&r);
    memset(a, 0, sizeof(*a));
}

void hosted_acme_free(struct hosted_acme *v, size_t n)
{
    for (size_t i = 0; v != NULL && i < n; i++)
        hosted_acme_clear(&v[i]);
    free(v);
}

int hosted_acme_list(struct hosted *h, struct hosted_acme **out, size_t *n)
{
    char err[256];
    struct db_acme *v = NULL;
    *out = NULL;
    *n = 0;
    struct db *db = hosted_db(h, err, sizeof(err));
    if (db == NULL || db_acme_list(db, &v, n) != 0)
        return -1;
    *out = xcalloc(*n ? *n : 1, sizeof(**out));
    for (size_t i = 0; i < *n; i++) /* the strings move */
        ACME_COPY(&(*out)[i], &v[i]);
    free(v);
    return 0;
}

int hosted_acme_get(struct hosted *h, const char *domain, struct hosted_acme *out)
{
    char err[256], d[254];
    struct db_acme r;
    memset(out, 0, sizeof(*out));
    if (hosted__domain(domain, d) != 0)
        return 0;
    struct db *db = hosted_db(h, err, sizeof(err));
    int rc = db == NULL ? -1 : db_acme_get(db, d, &r);
    if (rc == 1) /* the strings move */
        ACME_COPY(out, &r);
    return rc;
}

int hosted_acme_put(struct hosted *h, const struct hosted_acme *a)
{
    char err[256], d[254];
    if (a->domain == NULL || hosted__domain(a->domain, d) != 0)
        return -1;
    struct db *db = hosted__db_rw(h, err, sizeof(err));
    if (db == NULL)
        return -1;
    struct db_acme r; /* db_acme_put only reads the row */
    ACME_COPY(&r, a);
    r.domain = d;
    return db_acme_put(db, &r);
}

/* 1 when a policy file of the canonical domain d exists. */
static int is_hosted(const struct hosted *h, const char *d)
{
    char *path = hosted__policy_path(h, d);
    int yes = access(path, F_OK) == 0;
    free(path);
    return yes;
}

int hosted_acme_request(struct hosted *h, const char *domain, int force, int64_t now)
{
    char err[256], d[254];
    struct db *db = hosted__db_rw(h, err, sizeof(err));
    if (db == NULL)
        return -1;
    int request = force ? 2 : 1;
    if (domain != NULL) {
        if (hosted__domain(domain, d) != 0 || !is_hosted(h, d))
            return 0;
        return db_acme_request(db, d, request, now) == 0 ? 1 : -1;
    }
    struct hosted_policy_list l;
    if (hosted_policy_list(h, 0, &l, err, sizeof(err)) != 0)
        return -1;
    int marked = 0, in_tx = l.n > 1 && db_begin(db) == 0;
    for (size_t i = 0; i < l.n && marked >= 0; i++)
        marked = db_acme_request(db, l.items[i].domain, request, now) == 0 ? marked + 1 : -1;
    if (in_tx && (marked < 0 || db_commit(db) != 0)) {
        db_rollback(db);
        marked = -1;
    }
    hosted_policy_list_free(&l);
    return marked;
}

int hosted_acme_installed(struct hosted *h, const char *domain, const char *pem, size_t len,
                          const char *account, int64_t now, char *err, size_t errlen)
{
    char d[254];
    if (hosted__domain(domain, d) != 0) {
        snprintf(err, errlen, "'%.80s' is not a domain name", domain);
        return -1;
    }
    if (hosted_cert_install(h, d, pem, len, "acme", now, err, errlen) != 0)
        return -1;
    /* hosted_cert_install read the chain already: the leaf is the first certificate. */
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    X509 *leaf = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    char serial[66] = "";
    hosted__serial_hex(leaf, serial);
    struct hosted_acme old;
    int rc = hosted_acme_get(h, d, &old) < 0 ? -1 : 0;
    /* The request read is answered; one made since (a newer requested_at) stays. */
    struct hosted_acme a = {.domain = d,
                            .state = "ok",
                            .last_attempt = old.last_attempt,
                            .last_success = now,
                            .not_after = hosted__asn1_unix(X509_get0_notAfter(leaf)),
                            .serial = serial,
                            .account = (char *)account,
                            .requested_at = old.requested_at};
    X509_free(leaf);
    if (rc == 0)
        rc = hosted_acme_put(h, &a);
    if (rc != 0)
        snprintf(err, errlen,
                 "the certificate of %s is installed but its state could not be "
                 "recorded in the database",
                 d);
    hosted_acme_clear(&old);
    return rc;
}
