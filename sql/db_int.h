/* db_int.h - declarations shared by the files of sql/ only. */
#ifndef STSD_DB_INT_H
#define STSD_DB_INT_H

#include <sqlite3.h>

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

#endif
