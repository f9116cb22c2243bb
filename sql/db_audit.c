/* db_audit.c - the audit and withdrawals tables: the trail of changes to what stsd hosts. */
#include "sql/db.h"
#include "sql/db_int.h"
#include "common/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void bind_opt(sqlite3_stmt *st, int i, const char *s)
{
    if (s != NULL)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

int db_audit_add(struct db *db, const struct db_audit *row, int64_t *id)
{
    sqlite3_stmt *st = db__stmt(db, "INSERT INTO audit (at, actor, action, domain, old_id, "
                                    "new_id, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    if (st == NULL)
        return -1;
    sqlite3_bind_int64(st, 1, row->at);
    sqlite3_bind_text(st, 2, row->actor ? row->actor : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, row->action ? row->action : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, row->domain ? row->domain : "", -1, SQLITE_STATIC);
    bind_opt(st, 5, row->old_id);
    bind_opt(st, 6, row->new_id);
    bind_opt(st, 7, row->detail);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return -1;
    if (id != NULL)
        *id = sqlite3_last_insert_rowid(db->h);
    return 0;
}

int db_audit_list(struct db *db, const char *domain, int64_t limit, struct db_audit **out,
                  size_t *n)
{
    *out = NULL;
    *n = 0;
    if (limit <= 0 || limit > DB_CHECK_MAX_ROWS)
        limit = DB_CHECK_MAX_ROWS;
    /* ?1 IS NULL: every domain; a domain reads its index range (audit_by_domain). */
    sqlite3_stmt *st = db__stmt(db, "SELECT id, at, actor, action, domain, old_id, new_id, detail "
                                    "FROM audit WHERE ?1 IS NULL OR domain = ?1 "
                                    "ORDER BY id DESC LIMIT ?2");
    if (st == NULL)
        return -1;
    bind_opt(st, 1, domain);
    sqlite3_bind_int64(st, 2, limit);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        *out = db__grow(*out, *n, &cap, 16, sizeof(**out));
        struct db_audit *a = &(*out)[(*n)++];
        a->id = sqlite3_column_int64(st, 0);
        a->at = sqlite3_column_int64(st, 1);
        a->actor = db__col_text(st, 2);
        a->action = db__col_text(st, 3);
        a->domain = db__col_text(st, 4);
        a->old_id = db__col_text(st, 5);
        a->new_id = db__col_text(st, 6);
        a->detail = db__col_text(st, 7);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        db_audit_free(*out, *n);
        *out = NULL;
        *n = 0;
        return -1;
    }
    return 0;
}

void db_audit_free(struct db_audit *v, size_t n)
{
    for (size_t i = 0; v != NULL && i < n; i++) {
        free(v[i].actor);
        free(v[i].action);
        free(v[i].domain);
        free(v[i].old_id);
        free(v[i].new_id);
        free(v[i].detail);
    }
    free(v);
}

int db_withdrawal_put(struct db *db, const struct db_withdrawal *w)
{
    sqlite3_stmt *st = db__stmt(db, "INSERT OR REPLACE INTO withdrawals (domain, started, until, "
                                    "old_id) VALUES (?1, ?2, ?3, ?4)");
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, w->domain, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, w->started);
    sqlite3_bind_int64(st, 3, w->until);
    bind_opt(st, 4, w->old_id[0] ? w->old_id : NULL);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static void withdrawal_row(sqlite3_stmt *st, struct db_withdrawal *w)
{
    const unsigned char *d = sqlite3_column_text(st, 0);
    const unsigned char *old = sqlite3_column_text(st, 3);
    snprintf(w->domain, sizeof(w->domain), "%s", d ? (const char *)d : "");
    w->started = sqlite3_column_int64(st, 1);
    w->until = sqlite3_column_int64(st, 2);
    snprintf(w->old_id, sizeof(w->old_id), "%s", old ? (const char *)old : "");
}

int db_withdrawal_get(struct db *db, const char *domain, struct db_withdrawal *out)
{
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *st =
        db__stmt(db, "SELECT domain, started, until, old_id FROM withdrawals WHERE domain = ?1");
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, domain, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        withdrawal_row(st, out);
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int db_withdrawal_delete(struct db *db, const char *domain)
{
    sqlite3_stmt *st = db__stmt(db, "DELETE FROM withdrawals WHERE domain = ?1");
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, domain, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

int db_withdrawals(struct db *db, int64_t due, struct db_withdrawal **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = db__stmt(db, "SELECT domain, started, until, old_id FROM withdrawals "
                                    "WHERE until <= ?1 ORDER BY domain");
    if (st == NULL)
        return -1;
    sqlite3_bind_int64(st, 1, due);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        *out = db__grow(*out, *n, &cap, 8, sizeof(**out));
        withdrawal_row(st, &(*out)[(*n)++]);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        free(*out);
        *out = NULL;
        *n = 0;
        return -1;
    }
    return 0;
}
