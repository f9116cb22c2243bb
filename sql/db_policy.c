/* db_policy.c - the policy_versions table: ids for every content of a policy file. */
#include "sql/db.h"
#include "sql/db_int.h"
#include "common/common.h"
#include "policy/policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct taken_ctx {
    struct db *db;
    const char *domain;
};

static int id_taken(void *p, const char *id)
{
    struct taken_ctx *c = p;
    sqlite3_stmt *st =
        db__stmt(c->db, "SELECT 1 FROM policy_versions WHERE domain = ?1 AND id = ?2");
    if (st == NULL)
        return 1;
    sqlite3_bind_text(st, 1, c->domain, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
    int taken = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_reset(st);
    return taken;
}

static int lookup(struct db *db, const char *domain, const char *h, char id_out[33])
{
    sqlite3_stmt *st =
        db__stmt(db, "SELECT id FROM policy_versions WHERE domain = ?1 AND sha256 = ?2");
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, domain, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, h, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        snprintf(id_out, 33, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int db_policy_version_find(struct db *db, const char *domain, const unsigned char sha256[32],
                           char id_out[33])
{
    char h[65];
    format_hex(sha256, 32, h);
    return lookup(db, domain, h, id_out);
}

/*
 * The look-up and the insert run in one IMMEDIATE transaction (unless the caller already
 * holds one), so that the server and a `stsd policy` command seeing the same new content at
 * the same moment agree on one id instead of one of them failing on the UNIQUE key.
 */
int db_policy_version_record(struct db *db, const char *domain, const unsigned char sha256[32],
                             int64_t now, char id_out[33], int *is_new)
{
    char h[65];
    format_hex(sha256, 32, h);
    *is_new = 0;
    int found = lookup(db, domain, h, id_out);
    if (found != 0)
        return found > 0 ? 0 : -1;
    int own_tx = sqlite3_get_autocommit(db->h);
    if (own_tx && db_begin(db) != 0)
        return -1;
    found = lookup(db, domain, h, id_out);
    if (found != 0) {
        if (own_tx && (found < 0 ? db_rollback(db) : db_commit(db)) != 0)
            return -1;
        return found > 0 ? 0 : -1;
    }
    struct taken_ctx c = {db, domain};
    policy_new_id(now, id_taken, &c, id_out);
    sqlite3_stmt *st = db__stmt(db, "INSERT INTO policy_versions (domain, id, sha256, first_seen) "
                                    "VALUES (?1, ?2, ?3, ?4)");
    int rc = SQLITE_ERROR;
    if (st != NULL) {
        sqlite3_bind_text(st, 1, domain, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, id_out, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, h, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, now);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
    }
    if (rc != SQLITE_DONE) {
        if (own_tx)
            db_rollback(db);
        return -1;
    }
    if (own_tx && db_commit(db) != 0)
        return -1;
    *is_new = 1;
    return 0;
}

int db_policy_versions(struct db *db, const char *domain, struct db_policy_version **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = db__stmt(db, "SELECT id, sha256, first_seen FROM policy_versions "
                                    "WHERE domain = ?1 ORDER BY first_seen DESC, rowid DESC");
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, domain, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        *out = xrealloc(*out, (*n + 1) * sizeof(**out));
        struct db_policy_version *v = &(*out)[(*n)++];
        snprintf(v->id, sizeof(v->id), "%s", (const char *)sqlite3_column_text(st, 0));
        snprintf(v->sha256_hex, sizeof(v->sha256_hex), "%s",
                 (const char *)sqlite3_column_text(st, 1));
        v->first_seen = sqlite3_column_int64(st, 2);
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : -1;
}
