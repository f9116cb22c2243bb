/* db_acme.c - the acme_state table: the ACME scheduler's bookkeeping per hosted domain and the
 * renewal requests of the command line. */
#include "sql/db.h"
#include "sql/db_int.h"
#include "common/common.h"

#include <stdlib.h>
#include <string.h>

#define ACME(field, kind) DB__COL(struct db_acme, field, kind)
static const struct db__col acme_cols[] = {
    ACME(domain, TEXT),      ACME(state, CHARS),      ACME(failures, INT),
    ACME(next_attempt, I64), ACME(last_attempt, I64), ACME(last_success, I64),
    ACME(not_after, I64),    ACME(serial, TEXT),      ACME(last_error, TEXT),
    ACME(account, TEXT),     ACME(request, INT),      ACME(requested_at, I64)};
static const struct db__row_type acme_rows = DB__ROW_TYPE(struct db_acme, acme_cols, NULL, NULL);
#define ACME_COLS                                                                                  \
    "domain, state, failures, next_attempt, last_attempt, last_success, not_after, serial, "       \
    "last_error, account, request, requested_at"

int db_acme_list(struct db *db, struct db_acme **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = db__stmt(db, "SELECT " ACME_COLS " FROM acme_state ORDER BY domain");
    if (st == NULL)
        return -1;
    int rc;
    *out = db__rows(st, &acme_rows, DB_CHECK_BRIEF_MAX, NULL, n, &rc);
    return rc;
}

int db_acme_get(struct db *db, const char *domain, struct db_acme *out)
{
    return db__row_by_key(db, "SELECT " ACME_COLS " FROM acme_state WHERE domain = ?1", domain,
                          &acme_rows, out);
}

/* A whole row (the columns in the order of acme_cols) into the INSERT ... ON CONFLICT sql. */
static int upsert(struct db *db, const char *sql, const struct db_acme *a)
{
    sqlite3_stmt *st = db__stmt(db, sql);
    if (st == NULL)
        return -1;
    db__bind_row(st, &acme_rows, a);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

#define INSERT                                                                                     \
    "INSERT INTO acme_state (" ACME_COLS                                                           \
    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, "                                     \
    "?12) ON CONFLICT (domain) DO UPDATE SET "

int db_acme_put(struct db *db, const struct db_acme *a)
{
    /* The stored request wins when it was made after the one the caller read. */
    return upsert(db,
                  INSERT "state = excluded.state, failures = excluded.failures, "
                         "next_attempt = excluded.next_attempt, "
                         "last_attempt = excluded.last_attempt, "
                         "last_success = excluded.last_success, not_after = excluded.not_after, "
                         "serial = excluded.serial, last_error = excluded.last_error, "
                         "account = excluded.account, request = CASE WHEN requested_at > "
                         "excluded.requested_at THEN request ELSE excluded.request END, "
                         "requested_at = max(requested_at, excluded.requested_at)",
                  a);
}

int db_acme_request(struct db *db, const char *domain, int request, int64_t now)
{
    /* A new row is a domain never ordered for; an existing one keeps its bookkeeping. */
    struct db_acme a = {.domain = (char *)domain, .request = request, .requested_at = now};
    return upsert(db,
                  INSERT "request = max(request, excluded.request), "
                         "requested_at = excluded.requested_at",
                  &a);
}

void db_acme_clear(struct db_acme *a)
{
    db__clear_row(&acme_rows, a);
    memset(a, 0, sizeof(*a));
}

void db_acme_free(struct db_acme *v, size_t n)
{
    db__rows_free(&acme_rows, v, n);
}
