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
/* Column i of the current row as a malloc'd string, or NULL when it is NULL. */
char *db__col_text(sqlite3_stmt *st, int i);
/* Make room for element n of a growing array v of size-byte elements with *cap slots: when
 * full, double *cap (to first when 0) and reallocate. Returns v, perhaps moved. */
void *db__grow(void *v, size_t n, size_t *cap, size_t first, size_t size);
/* db_reports.c: append the distinct policy-domains of a report to *domains (malloc'd strings,
 * *n of them, grown with db__grow). 0 or -1. */
int db__report_domains(struct db *db, int64_t report, char ***domains, size_t *n);

#endif
