/* db_int.h - declarations shared by the files of sql/ only. */
#ifndef STSD_DB_INT_H
#define STSD_DB_INT_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

struct db__migration {
    int version;
    const char *name;
    const char *sql;
};
extern const struct db__migration db__migrations[];
extern const int db__n_migrations;

/* Prepared statements are cached per connection, keyed by their SQL text's address. */
#define DB__MAX_STMTS 64
struct db {
    sqlite3 *h;
    struct {
        const char *sql;
        sqlite3_stmt *st;
    } stmts[DB__MAX_STMTS];
    int n_stmts;
    char err[256]; /* an error saved across the rollback that follows it; "" = none */
};

/* Get (preparing once) a cached statement for a string literal; reset and unbound. */
sqlite3_stmt *db__stmt(struct db *db, const char *sql);
/* Bind text s (static for the statement's step) to parameter i, or NULL when s is NULL. */
void db__bind_opt(sqlite3_stmt *st, int i, const char *s);
/* Column i of the current row as a malloc'd string, or NULL when it is NULL. */
char *db__col_text(sqlite3_stmt *st, int i);
/* Make room for element n of a growing array v of size-byte elements with *cap slots: when
 * full, double *cap (to first when 0) and reallocate. Returns v, perhaps moved. */
void *db__grow(void *v, size_t n, size_t *cap, size_t first, size_t size);
/* Where column i of a row lands in an element: at byte `off`, as a malloc'd string (NULL for
 * NULL), an int64_t, an int, or a string copied into a char array of `size` bytes (cut to
 * fit; "" for NULL). */
enum db__kind { DB__TEXT = 1, DB__I64, DB__INT, DB__CHARS };
struct db__col {
    size_t off;
    enum db__kind kind;
    size_t size;
};
#define DB__COL(type, field, kind)                                                                 \
    {                                                                                              \
        offsetof(type, field), DB__##kind, sizeof(((type *)0)->field)                              \
    }
/* A kind of row: its element type and columns (in SELECT order), an optional filter (keep
 * returns 0 to pass the current row over) and what to free beyond the text columns. */
struct db__row_type {
    size_t size;
    const struct db__col *cols;
    size_t n_cols;
    int (*keep)(sqlite3_stmt *st, void *ctx);
    void (*clear_more)(void *elem);
};
#define DB__ROW_TYPE(type, cols, keep, clear_more)                                                 \
    {                                                                                              \
        sizeof(type), cols, sizeof(cols) / sizeof((cols)[0]), keep, clear_more                     \
    }
/* Fill elem from the current row; free what a row of type t holds (not elem itself). */
void db__read_row(sqlite3_stmt *st, const struct db__row_type *t, void *elem);
void db__clear_row(const struct db__row_type *t, void *elem);
/* Step a bound SELECT to its end (or to `max` kept rows) into a malloc'd array of zeroed
 * elements filled by db__read_row; resets st. Returns the array (NULL when empty) and *n; on
 * a step error frees it, *n = 0, *rc = -1 and returns NULL; else *rc = 0. */
void *db__rows(sqlite3_stmt *st, const struct db__row_type *t, size_t max, void *ctx, size_t *n,
               int *rc);
/* db__rows of the statement sql with ?1 bound to key (*rc = -1, *n = 0 when it cannot be
 * prepared). */
void *db__rows_of(struct db *db, const char *sql, int64_t key, const struct db__row_type *t,
                  size_t max, size_t *n, int *rc);
/* The one row of the statement sql with ?1 bound to the text key, into out (zeroed first).
 * 1 found, 0 none, -1 error. */
int db__row_by_key(struct db *db, const char *sql, const char *key, const struct db__row_type *t,
                   void *out);
/* Bind parameter i + 1 to column i of elem (the reverse of db__read_row; a NULL string binds
 * NULL), for an INSERT that lists the columns in the order of t. */
void db__bind_row(sqlite3_stmt *st, const struct db__row_type *t, const void *elem);
/* Free an array of n elements of type t; v may be NULL. */
void db__rows_free(const struct db__row_type *t, void *v, size_t n);
/* db_reports.c: the distinct policy-domains of a report into *domains (a malloc'd array of
 * malloc'd strings, *n of them). 0 or -1 (then none). */
int db__report_domains(struct db *db, int64_t report, char ***domains, size_t *n);
/* Free such an array of domains. */
void db__domains_free(char **v, size_t n);

#endif
