/* db_audit.c - the audit and withdrawals tables: the trail of changes to what stsd hosts. */
#include "sql/db.h"
#include "sql/db_int.h"
#include "common/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    db__bind_opt(st, 5, row->old_id);
    db__bind_opt(st, 6, row->new_id);
    db__bind_opt(st, 7, row->detail);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return -1;
    if (id != NULL)
        *id = sqlite3_last_insert_rowid(db->h);
    return 0;
}

#define AUDIT(field, kind) DB__COL(struct db_audit, field, kind)
static const struct db__col audit_cols[] = {
    AUDIT(id, I64),      AUDIT(at, I64),      AUDIT(actor, TEXT),  AUDIT(action, TEXT),
    AUDIT(domain, TEXT), AUDIT(old_id, TEXT), AUDIT(new_id, TEXT), AUDIT(detail, TEXT)};
static const struct db__row_type audit_rows = DB__ROW_TYPE(struct db_audit, audit_cols, NULL, NULL);

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
    db__bind_opt(st, 1, domain);
    sqlite3_bind_int64(st, 2, limit);
    int rc;
    *out = db__rows(st, &audit_rows, SIZE_MAX, NULL, n, &rc);
    return rc;
}

void db_audit_free(struct db_audit *v, size_t n)
{
    db__rows_free(&audit_rows, v, n);
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
    db__bind_opt(st, 4, w->old_id[0] ? w->old_id : NULL);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

#define WITHDRAWAL(field, kind) DB__COL(struct db_withdrawal, field, kind)
static const struct db__col withdrawal_cols[] = {WITHDRAWAL(domain, CHARS),
                                                 WITHDRAWAL(started, I64), WITHDRAWAL(until, I64),
                                                 WITHDRAWAL(old_id, CHARS)};
static const struct db__row_type withdrawal_rows =
    DB__ROW_TYPE(struct db_withdrawal, withdrawal_cols, NULL, NULL);

int db_withdrawal_get(struct db *db, const char *domain, struct db_withdrawal *out)
{
    return db__row_by_key(
        db, "SELECT domain, started, until, old_id FROM withdrawals WHERE domain = ?1", domain,
        &withdrawal_rows, out);
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
    int rc;
    *out = db__rows_of(db,
                       "SELECT domain, started, until, old_id FROM withdrawals "
                       "WHERE until <= ?1 ORDER BY domain",
                       due, &withdrawal_rows, SIZE_MAX, n, &rc);
    return rc;
}
