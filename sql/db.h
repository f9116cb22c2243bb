/*
 * db.h - the only interface to storage (SQLite today; every statement stays behind
 * db_ so that a PostgreSQL backend is one more file). Bound parameters only.
 *
 * A struct db is used by one thread at a time. The server's writer thread owns one;
 * the CLI opens its own. WAL mode, synchronous=NORMAL (committed transactions survive a
 * process crash), busy_timeout so the server and `stsd reports ingest` can both write.
 */
#ifndef STSD_DB_H
#define STSD_DB_H

#include <stddef.h>
#include <stdint.h>

struct db;

/* db.c */
/* Open (creating if needed) the database at path and run pending migrations.
 * NULL on error with a message in err. */
struct db *db_open(const char *path, char *err, size_t errlen);
void db_close(struct db *db); /* db_close(NULL) is a no-op */
int db_begin(struct db *db);  /* BEGIN IMMEDIATE; 0 or -1 */
int db_commit(struct db *db);
int db_rollback(struct db *db);
/* Last error message of this connection. */
const char *db_errmsg(struct db *db);
/* Current schema version (PRAGMA user_version) and the newest one this build knows. */
int db_schema_version(struct db *db);
int db_schema_latest(void);
/* "ok" or the first problem from PRAGMA integrity_check, into buf. 0 ok, -1 problem. */
int db_integrity_check(struct db *db, char *buf, size_t bufsz);

/* db_policy.c - policy_versions: every distinct content of a domain's policy file. */
struct db_policy_version {
    char id[33];
    char sha256_hex[65];
    int64_t first_seen; /* unix time the content was first recorded */
};
/*
 * Look up the version of `domain` with this content hash; record it with a new id
 * (policy_new_id, unique per domain) if it is new. The id is written to id_out; *is_new
 * tells whether it was inserted. 0 or -1.
 */
int db_policy_version_record(struct db *db, const char *domain, const unsigned char sha256[32],
                             int64_t now, char id_out[33], int *is_new);
/* Every version of a domain, newest first; *out malloc'd (free()). 0 or -1. */
int db_policy_versions(struct db *db, const char *domain, struct db_policy_version **out,
                       size_t *n);

#endif
