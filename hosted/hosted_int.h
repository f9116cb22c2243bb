/*
 * hosted_int.h - declarations shared between the files of hosted/ only.
 */
#ifndef STSD_HOSTED_INT_H
#define STSD_HOSTED_INT_H

#include "hosted/hosted.h"

#include <openssl/x509.h>
#include <sys/types.h>
#include <time.h>

/* What hosted_certs knows of one file, so that an unchanged file is not decoded again. */
struct hosted__cert_seen {
    off_t size;
    struct timespec mtime;
};

struct hosted {
    const struct stsd_config *cfg; /* not owned */
    unsigned flags;
    char *policy_dir, *cert_dir, *db_path;
    struct db *db; /* opened on first need (hosted_db) */
    /* certs.c: the last listing, and the size/mtime each entry was read at */
    struct hosted_cert *certs;
    struct hosted__cert_seen *certs_seen;
    size_t n_certs;
    /* cert_index.c: the names of that listing, built when asked after it changed */
    struct hosted_cert_index index;
    int index_stale;
};

/* Audit rows (manage.c; the table is sql/'s). `now` unix seconds; old_id, new_id, detail may
 * be NULL. 0 or -1. Every change hosted/ makes calls it once. */
int hosted__audit(struct hosted *h, const char *actor, const char *action, const char *domain,
                  const char *old_id, const char *new_id, const char *detail, int64_t now);

/* layout.c */
/* The canonical form of a domain (common's domain_normalise: validated, lowercased, a trailing
 * dot dropped) into out. 0, or -1 when it is not a valid domain name. Every path below is
 * built from such a name only. */
int hosted__domain(const char *domain, char out[254]);
/* <policy_dir>/<domain>.txt for a domain that passed hosted__domain (malloc'd). */
char *hosted__policy_path(const struct hosted *h, const char *canonical);
/* The database unless the handle may not write (HOSTED_NO_DB, HOSTED_READ_ONLY): NULL with
 * the reason in err. */
struct db *hosted__db_rw(struct hosted *h, char *err, size_t errlen);

/* certs.c */
/* Release the cached certificate listing. */
void hosted__certs_free(struct hosted *h);
/* An ASN.1 time as unix seconds (0 when NULL or unreadable). */
int64_t hosted__asn1_unix(const ASN1_TIME *a);
/* The serial number of x (X509 *) in hex, upper case, without colons ("" when x is NULL). */
void hosted__serial_hex(const X509 *x, char out[66]);

/* store.c */
/* SHA-256 of buf. */
void hosted__sha256(const void *buf, size_t len, unsigned char out[32]);

#endif
