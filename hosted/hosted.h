/*
 * hosted.h - what stsd hosts for each domain: its policy file, the policy versions and their
 * ids, the mta-sts certificate, the latest self-check, withdrawals and the audit trail of
 * every change. The one module that knows the layout of the state directory:
 *
 *   <state_dir>/stsd.db              the database (opened through sql/)
 *   <state_dir>/policies/<d>.txt     one policy file per hosted domain (exactly the text)
 *   <cert_dir>/<host>.pem            chain + key, or <host>.crt + <host>.key
 *                                    ([tls] cert_dir, default <state_dir>/certs)
 *   <state_dir>/acme/                the ACME account (acme/)
 *
 * Directories are created 0750, policy files 0644 (their content is public), certificate
 * files and keys 0600. Paths are only ever built from a domain that passed domain_valid()
 * (common/common.h) and was lowercased: a name from a request never becomes a path otherwise.
 *
 * A struct hosted is used by one thread at a time (it owns at most one database
 * connection, opened on first need). Every function that changes what is hosted (put,
 * withdraw, remove, certificate install) is atomic (write to a temporary file, rename),
 * records the new policy version and writes one audit row.
 */
#ifndef STSD_HOSTED_H
#define STSD_HOSTED_H

#include <stddef.h>
#include <stdint.h>

#include "policy/policy.h"

struct stsd_config;
struct db;

/* ---------------------------------------------------------------- layout (layout.c) */

/* Paths derived from the configuration (malloc'd). */
char *hosted_path_db(const struct stsd_config *cfg);
char *hosted_path_policies(const struct stsd_config *cfg);
char *hosted_path_acme(const struct stsd_config *cfg);

#define HOSTED_CREATE 0x1 /* create state_dir, policies/ and cert_dir (0750) when missing */
#define HOSTED_NO_DB 0x2  /* never open the database: files only (ids stay "") */
#define HOSTED_READ_ONLY                                                                           \
    0x4 /* open the database read-only, never migrate or record anything                           \
           (`stsd check -c`: the database is left untouched; a content                             \
           without a recorded id gets id "") */

struct hosted;
/* NULL with a message (what, where, how to fix) in err. */
struct hosted *hosted_open(const struct stsd_config *cfg, unsigned flags, char *err, size_t errlen);
void hosted_close(struct hosted *h); /* NULL is a no-op */
const struct stsd_config *hosted_config(const struct hosted *h);
const char *hosted_policy_dir(const struct hosted *h); /* for watching it (inotify) only */
/* The policy file of a domain, for messages (malloc'd); NULL when domain is not valid. */
char *hosted_policy_file(const struct hosted *h, const char *domain);
const char *hosted_cert_dir(const struct hosted *h);
/* The database connection of this handle, opened (and created, with HOSTED_CREATE) on first
 * call; NULL with the reason in err (also with HOSTED_NO_DB). */
struct db *hosted_db(struct hosted *h, char *err, size_t errlen);

/* ---------------------------------------------------------------- policies (store.c) */

struct hosted_policy {
    char *domain; /* lowercased, from the file name */
    char *text;   /* file contents as read (NULL if unreadable) */
    size_t len;
    unsigned char sha256[32];
    int valid; /* parsed without error */
    struct policy policy;
    char *read_error; /* errno text when the file could not be read */
    char id[33];      /* the recorded id of this content; "" when broken or no database */
    int withdrawing;  /* a withdrawal is under way (hosted_policy_withdraw) */
    int64_t withdraw_until;
    struct policy_diag diag; /* last: its 6.8 KB are only touched as far as they are used */
};
struct hosted_policy_list {
    struct hosted_policy *items; /* sorted by domain */
    size_t n;
    char **skipped; /* names of *.txt files that are not <lowercase valid domain>.txt */
    size_t n_skipped;
};
#define HOSTED_IDS                                                                                 \
    0x10 /* look up (and, unless HOSTED_READ_ONLY, record when new) the id of                      \
            each valid content, and the withdrawals under way */
/* Every hosted domain. 0, or -1 with err when the directory cannot be read (a missing
 * directory is an empty list). */
int hosted_policy_list(struct hosted *h, unsigned flags, struct hosted_policy_list *out, char *err,
                       size_t errlen);
/* One domain. 1 found, 0 not hosted, -1 unreadable (read_error set). */
int hosted_policy_get(struct hosted *h, const char *domain, unsigned flags,
                      struct hosted_policy *out);
void hosted_policy_clear(struct hosted_policy *p);
void hosted_policy_list_free(struct hosted_policy_list *l);

/* ---------------------------------------------------------------- versions (versions.c) */

/* The id of this content of `domain`, recorded with a new id (policy_new_id, unique per
 * domain) when it is new. 0 or -1. */
int hosted_version_record(struct hosted *h, const char *domain, const unsigned char sha256[32],
                          int64_t now, char id_out[33], int *is_new);
struct hosted_version {
    char id[33];
    char sha256_hex[65];
    int64_t first_seen;
};
/* Every version of a domain, newest first; *out malloc'd (free()). 0 or -1. */
int hosted_versions(struct hosted *h, const char *domain, struct hosted_version **out, size_t *n);

/* ---------------------------------------------------------------- changes (manage.c) */

/* A policy from its fields: validates each one and names the field that is wrong
 * ("mode", "mx", "max_age") with the §2 reason. *text malloc'd: policy_format's canonical
 * text (CRLF lines; mx lowercased, repeats dropped). 0, or -1 with field and err filled. */
int hosted_policy_compose(int mode, const char *const *mx, size_t n_mx, long max_age, char **text,
                          size_t *len, char field[32], char *err, size_t errlen);

enum hosted_change { HOSTED_CREATED = 0, HOSTED_CHANGED, HOSTED_UNCHANGED };
struct hosted_put {
    enum hosted_change change;
    char id[33];     /* the id now current */
    char old_id[33]; /* the id before ("" for a new domain) */
    int new_id;      /* 1: the id was made now; 0: the content had an id already */
    char field[32];  /* on a validation error: "mode", "mx", "max_age", "policy", "domain" */
    char error[300]; /* on error: what is wrong (§2 wording) */
};
/*
 * Write a domain's policy text (validated first; a broken text is never written), record its
 * version and an audit row with `actor` ("cli", "api", "dashboard"). Returns 0, -1 on a
 * validation error (field + error: the API's 422), -2 on an I/O or database error (error).
 */
int hosted_policy_put(struct hosted *h, const char *domain, const char *text, size_t len,
                      const char *actor, int64_t now, struct hosted_put *res);
/*
 * RFC 8461 §8.3 withdrawal: publish mode none with a new id now and remove the file once the
 * old max_age has passed (*until). `at_once`: remove the file now. 1 done, 0 not hosted,
 * -1 error (err).
 */
int hosted_policy_withdraw(struct hosted *h, const char *domain, int at_once, const char *actor,
                           int64_t now, int64_t *until, char *err, size_t errlen);
/* Remove the files of withdrawals whose time has come (serve calls it periodically).
 * Returns how many were removed, -1 on error. */
int hosted_withdrawals_expire(struct hosted *h, int64_t now);

/* ---------------------------------------------------------------- certificates (certs.c) */

struct hosted_cert {
    char *name;     /* the host name it serves (the file name without extension) */
    char *file;     /* the certificate file */
    char *key_file; /* the key file (== file for a .pem holding both) */
    char *issuer;   /* one line, e.g. "CN=R11, O=Let's Encrypt" */
    int64_t not_before, not_after;
    char source[8]; /* "acme" when it is the certificate ACME last installed for the name
                       (its serial is the one hosted_acme records), else "file" */
    char serial[66]; /* hex, upper case, of the leaf */
    void *x509;     /* X509 *, the leaf */
};
/* Every certificate in cert_dir, sorted by name. Repeated calls on one handle re-read only
 * files whose size or mtime changed. 0 or -1. The array stays owned by h until the next
 * call or hosted_close. */
int hosted_certs(struct hosted *h, const struct hosted_cert **out, size_t *n);
/* The certificate files of a cert_dir without reading them: name, file and key_file of each
 * <host>.pem (chain + key) or <host>.crt (+ <host>.key), <host> a valid host name or
 * "default", sorted by name; the other .pem/.crt names go to *skipped when it is not NULL
 * (malloc'd strings). Release with hosted_cert_files_free. 0, or -1 (errno) when dir cannot
 * be read. */
int hosted_cert_files(const char *dir, struct hosted_cert **out, size_t *n, char ***skipped,
                      size_t *n_skipped);
void hosted_cert_files_free(struct hosted_cert *v, size_t n);
/* Which certificate serves a host name (cert_index.c): the DNS SANs of a list, lowercased
 * ("*.example.com" for a wildcard), sorted. */
struct hosted_cert_name {
    char *name;
    size_t cert; /* index in certs */
};
struct hosted_cert_index {
    const struct hosted_cert *certs; /* the list (sorted by name), not owned */
    size_t n_certs;
    struct hosted_cert_name *v; /* sorted by name */
    size_t n;
};
void hosted_cert_index_build(const struct hosted_cert *v, size_t n, struct hosted_cert_index *ix);
void hosted_cert_index_free(struct hosted_cert_index *ix);
/* The certificate serving `host` (lowercase), as the SNI callback picks it: the one whose
 * file is named after it, else one with a DNS SAN naming it (the latest to end), else one
 * with a wildcard SAN for its parent. Its index, or -1; *covers = 1 when it is valid for the
 * name (a certificate found by file name may not be). */
long hosted_cert_pick(const struct hosted_cert_index *ix, const char *host, int *covers);
/* The index of the list hosted_certs last returned, built again only after that list
 * changed (call hosted_certs first). Owned by h. */
const struct hosted_cert_index *hosted_cert_index(struct hosted *h);
/* The certificate serving mta-sts.<domain> (any case) in the list hosted_certs last returned,
 * as hosted_cert_pick finds it. Index or -1. */
int hosted_cert_for(struct hosted *h, const char *domain);
/*
 * Install a PEM chain + private key for mta-sts.<domain> (the API's upload): the key must
 * match the leaf, the leaf must cover mta-sts.<domain> and be valid at `now`. Written
 * atomically as <cert_dir>/mta-sts.<domain>.pem (0600), audited. 0, or -1 with the reason.
 */
int hosted_cert_install(struct hosted *h, const char *domain, const char *pem, size_t len,
                        const char *actor, int64_t now, char *err, size_t errlen);

/* ---------------------------------------------------------------- ACME state (acme_state.c) */

/* What serve's ACME scheduler knows of one hosted domain's certificate (table acme_state).
 * Kept across restarts so that back-off survives them. */
struct hosted_acme {
    char *domain;
    char state[12];        /* "" never ordered, "pending" ordering now, "ok", "failed" */
    int failures;          /* consecutive failed orders; 0 after a success */
    int64_t next_attempt;  /* no order before this time (back-off, Retry-After); 0 = none */
    int64_t last_attempt;  /* start of the latest order, 0 = never */
    int64_t last_success;  /* when the latest certificate was installed, 0 = never */
    int64_t not_after;     /* of the certificate ACME last installed, 0 = none */
    char *serial;          /* its serial (hex, upper case), NULL = none */
    char *last_error;      /* "<status>: <detail>" of the latest failure, NULL after a success */
    char *account;         /* the ACME account URL the latest order used, or NULL */
    int request;           /* asked by `stsd certs renew`: 0 none, 1 renew if due, 2 renew now */
    int64_t requested_at;  /* when that was asked, 0 = never */
};
/* Every row, sorted by domain. 0 or -1. */
int hosted_acme_list(struct hosted *h, struct hosted_acme **out, size_t *n);
/* One domain's row: 1 found, 0 none (*out zeroed), -1 error. */
int hosted_acme_get(struct hosted *h, const char *domain, struct hosted_acme *out);
/* Insert or replace a row (the scheduler's bookkeeping). 0 or -1. */
int hosted_acme_put(struct hosted *h, const struct hosted_acme *a);
/* A renewal request from the CLI for `domain` (NULL: every hosted domain): request = 2 when
 * `force`, else 1, requested_at = now. Returns how many domains were marked (a domain that is
 * not hosted is not marked), -1 on error. */
int hosted_acme_request(struct hosted *h, const char *domain, int force, int64_t now);
/* A certificate ACME obtained: hosted_cert_install (actor "acme") of the chain + key, then the
 * row records state ok, failures 0, no error, no request, the serial, not_after, last_success
 * = now and `account`. 0, or -1 with the reason in err. */
int hosted_acme_installed(struct hosted *h, const char *domain, const char *pem, size_t len,
                          const char *account, int64_t now, char *err, size_t errlen);
void hosted_acme_free(struct hosted_acme *v, size_t n);
void hosted_acme_clear(struct hosted_acme *a); /* frees the strings of one row */

/* ---------------------------------------------------------------- latest check (checks.c) */

/* The self-checks' results (stored by serve's scheduled checks and "check now"; `stsd check`
 * never stores). Thin: the rows are sql/'s. */
struct db_check;
struct db_check_finding;
int hosted_check_store(struct hosted *h, const struct db_check *c, const struct db_check_finding *f,
                       size_t n, int64_t *id);
/* The newest run of `domain` (NULL: of every domain), see db_check_latest. 0 or -1. */
int hosted_check_latest(struct hosted *h, const char *domain, struct db_check **out, size_t *n);

/* ---------------------------------------------------------------- audit (manage.c) */

struct hosted_audit {
    int64_t id, at;
    char *actor, *action, *domain; /* action: "policy.create", "policy.change", "enforce",
                                      "withdraw", "remove", "certificate" */
    char *old_id, *new_id;         /* NULL when not applicable */
    char *detail;
};
/* Newest first; at most `limit` rows; only `domain` when not NULL. 0 or -1. */
int hosted_audit_list(struct hosted *h, const char *domain, int64_t limit,
                      struct hosted_audit **out, size_t *n);
void hosted_audit_free(struct hosted_audit *v, size_t n);

#endif
