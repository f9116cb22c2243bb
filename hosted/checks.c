/* checks.c - the latest self-check of each hosted domain (the rows are sql/'s). */
#include "hosted/hosted_int.h"
#include "sql/db.h"

int hosted_check_store(struct hosted *h, const struct db_check *c, const struct db_check_finding *f,
                       size_t n, int64_t *id)
{
    char err[256];
    struct db *db = hosted__db_rw(h, err, sizeof(err));
    return db == NULL ? -1 : db_check_store(db, c, f, n, id);
}

int hosted_check_latest(struct hosted *h, const char *domain, struct db_check **out, size_t *n)
{
    char err[256];
    *out = NULL;
    *n = 0;
    struct db *db = hosted_db(h, err, sizeof(err));
    return db == NULL ? -1 : db_check_latest(db, domain, out, n);
}
