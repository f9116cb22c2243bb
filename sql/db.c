/* db.c - opening the SQLite database, migrations, transactions and the statement cache. */
#include "sql/db.h"
#include "sql/db_int.h"
#include "common/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void db__bind_opt(sqlite3_stmt *st, int i, const char *s)
{
    if (s != NULL)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

char *db__col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? xstrdup((const char *)t) : NULL;
}

void *db__grow(void *v, size_t n, size_t *cap, size_t first, size_t size)
{
    if (n == *cap) {
        *cap = *cap ? 2 * *cap : first;
        v = xrealloc(v, *cap * size);
    }
    return v;
}

void db__read_row(sqlite3_stmt *st, const struct db__row_type *t, void *elem)
{
    for (int i = 0; i < (int)t->n_cols; i++) {
        void *f = (unsigned char *)elem + t->cols[i].off;
        if (t->cols[i].kind == DB__TEXT)
            *(char **)f = db__col_text(st, i);
        else if (t->cols[i].kind == DB__I64)
            *(int64_t *)f = sqlite3_column_int64(st, i);
        else if (t->cols[i].kind == DB__CHARS)
            snprintf(f, t->cols[i].size, "%s",
                     sqlite3_column_text(st, i) ? (const char *)sqlite3_column_text(st, i) : "");
        else
            *(int *)f = sqlite3_column_int(st, i);
    }
}

void db__clear_row(const struct db__row_type *t, void *elem)
{
    for (size_t i = 0; i < t->n_cols; i++)
        if (t->cols[i].kind == DB__TEXT)
            free(*(char **)((unsigned char *)elem + t->cols[i].off));
    if (t->clear_more != NULL)
        t->clear_more(elem);
}

void *db__rows(sqlite3_stmt *st, const struct db__row_type *t, size_t max, void *ctx, size_t *n,
               int *rc)
{
    unsigned char *v = NULL;
    size_t cap = 0;
    int step = SQLITE_DONE;
    *n = 0;
    while (*n < max && (step = sqlite3_step(st)) == SQLITE_ROW) {
        if (t->keep != NULL && !t->keep(st, ctx))
            continue;
        v = db__grow(v, *n, &cap, 8, t->size);
        memset(v + *n * t->size, 0, t->size);
        db__read_row(st, t, v + (*n)++ * t->size);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    *rc = *n < max && step != SQLITE_DONE ? -1 : 0;
    if (*rc != 0) {
        db__rows_free(t, v, *n);
        v = NULL;
        *n = 0;
    }
    return v;
}

void *db__rows_of(struct db *db, const char *sql, int64_t key, const struct db__row_type *t,
                  size_t max, size_t *n, int *rc)
{
    sqlite3_stmt *st = db__stmt(db, sql);
    if (st == NULL) {
        *n = 0;
        *rc = -1;
        return NULL;
    }
    sqlite3_bind_int64(st, 1, key);
    return db__rows(st, t, max, NULL, n, rc);
}

int db__row_by_key(struct db *db, const char *sql, const char *key, const struct db__row_type *t,
                   void *out)
{
    memset(out, 0, t->size);
    sqlite3_stmt *st = db__stmt(db, sql);
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        db__read_row(st, t, out);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

void db__bind_row(sqlite3_stmt *st, const struct db__row_type *t, const void *elem)
{
    for (int i = 0; i < (int)t->n_cols; i++) {
        const void *f = (const unsigned char *)elem + t->cols[i].off;
        if (t->cols[i].kind == DB__TEXT)
            db__bind_opt(st, i + 1, *(char *const *)f);
        else if (t->cols[i].kind == DB__I64)
            sqlite3_bind_int64(st, i + 1, *(const int64_t *)f);
        else if (t->cols[i].kind == DB__CHARS)
            sqlite3_bind_text(st, i + 1, f, -1, SQLITE_STATIC);
        else
            sqlite3_bind_int(st, i + 1, *(const int *)f);
    }
}

void db__rows_free(const struct db__row_type *t, void *v, size_t n)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        db__clear_row(t, (unsigned char *)v + i * t->size);
    free(v);
}

sqlite3_stmt *db__stmt(struct db *db, const char *sql)
{
    for (int i = 0; i < db->n_stmts; i++) {
        if (db->stmts[i].sql == sql) {
            sqlite3_reset(db->stmts[i].st);
            sqlite3_clear_bindings(db->stmts[i].st);
            return db->stmts[i].st;
        }
    }
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v3(db->h, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK)
        return NULL;
    if (db->n_stmts < DB__MAX_STMTS) {
        db->stmts[db->n_stmts].sql = sql;
        db->stmts[db->n_stmts].st = st;
        db->n_stmts++;
    } else {
        abort(); /* raise DB__MAX_STMTS: every statement is a literal, so the set is fixed */
    }
    return st;
}

static int exec(struct db *db, const char *sql)
{
    db->err[0] = '\0';
    return sqlite3_exec(db->h, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

int db_schema_latest(void)
{
    return db__n_migrations;
}

int db_schema_version(struct db *db)
{
    sqlite3_stmt *st;
    int v = -1;
    if (sqlite3_prepare_v2(db->h, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

static int migrate(struct db *db, char *err, size_t errlen)
{
    if (exec(db, "BEGIN IMMEDIATE") != 0) {
        snprintf(err, errlen, "cannot lock the database for migration: %s", sqlite3_errmsg(db->h));
        return -1;
    }
    int v = db_schema_version(db);
    if (v > db__n_migrations) {
        exec(db, "ROLLBACK");
        snprintf(err, errlen,
                 "the database schema is version %d but this stsd knows only up to %d; "
                 "use a newer stsd",
                 v, db__n_migrations);
        return -1;
    }
    for (int i = v; i < db__n_migrations; i++) {
        char *msg = NULL;
        if (sqlite3_exec(db->h, db__migrations[i].sql, NULL, NULL, &msg) != SQLITE_OK) {
            snprintf(err, errlen, "migration %s failed: %s", db__migrations[i].name,
                     msg ? msg : "?");
            sqlite3_free(msg);
            exec(db, "ROLLBACK");
            return -1;
        }
        char pragma[64];
        snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", db__migrations[i].version);
        exec(db, pragma);
    }
    if (exec(db, "COMMIT") != 0) {
        snprintf(err, errlen, "cannot commit migrations: %s", sqlite3_errmsg(db->h));
        return -1;
    }
    return 0;
}

/* A connection with sqlite3_open_v2 `flags` and the busy timeout; NULL with err. */
static struct db *conn_open(const char *path, int flags, char *err, size_t errlen)
{
    struct db *db = xcalloc(1, sizeof(*db));
    int rc = sqlite3_open_v2(path, &db->h, flags | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s: cannot open the database%s: %s", path,
                 flags & SQLITE_OPEN_READONLY ? " read-only" : "",
                 db->h ? sqlite3_errmsg(db->h) : sqlite3_errstr(rc));
        db_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db->h, 10000);
    return db;
}

struct db *db_open(const char *path, char *err, size_t errlen)
{
    struct db *db = conn_open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, err, errlen);
    if (db == NULL)
        return NULL;
    if (exec(db, "PRAGMA journal_mode=WAL") != 0 || exec(db, "PRAGMA synchronous=NORMAL") != 0) {
        snprintf(err, errlen, "%s: cannot set up the database: %s", path, sqlite3_errmsg(db->h));
        db_close(db);
        return NULL;
    }
    /* Foreign keys (the ON DELETE CASCADE of pruning) only after the migrations: a migration
     * that rebuilds a table drops the old one, which must not cascade. */
    if (migrate(db, err, errlen) != 0) {
        db_close(db);
        return NULL;
    }
    if (exec(db, "PRAGMA foreign_keys=ON") != 0) {
        snprintf(err, errlen, "%s: cannot set up the database: %s", path, sqlite3_errmsg(db->h));
        db_close(db);
        return NULL;
    }
    return db;
}

struct db *db_open_readonly(const char *path, char *err, size_t errlen)
{
    struct db *db = conn_open(path, SQLITE_OPEN_READONLY, err, errlen);
    if (db == NULL)
        return NULL;
    int v = db_schema_version(db);
    if (v < 0 || v > db__n_migrations) {
        snprintf(err, errlen, "%s: %s", path,
                 v < 0 ? "not a database stsd can read"
                       : "the schema is newer than this stsd knows; use a newer stsd");
        db_close(db);
        return NULL;
    }
    return db;
}

void db_close(struct db *db)
{
    if (db == NULL)
        return;
    for (int i = 0; i < db->n_stmts; i++)
        sqlite3_finalize(db->stmts[i].st);
    sqlite3_close(db->h);
    free(db);
}

int db_begin(struct db *db)
{
    return exec(db, "BEGIN IMMEDIATE");
}

int db_commit(struct db *db)
{
    return exec(db, "COMMIT");
}

int db_rollback(struct db *db)
{
    return exec(db, "ROLLBACK");
}

const char *db_errmsg(struct db *db)
{
    if (db->err[0] != '\0')
        return db->err;
    return sqlite3_errmsg(db->h);
}

int db_integrity_check(struct db *db, char *buf, size_t bufsz)
{
    sqlite3_stmt *st;
    int ok = -1;
    snprintf(buf, bufsz, "integrity_check did not run");
    if (sqlite3_prepare_v2(db->h, "PRAGMA integrity_check", -1, &st, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *r = (const char *)sqlite3_column_text(st, 0);
        snprintf(buf, bufsz, "%s", r ? r : "?");
        ok = r && strcmp(r, "ok") == 0 ? 0 : -1;
    }
    sqlite3_finalize(st);
    return ok;
}
