/* db_prune.c - the life of stored reports after the store: pruning by age, conflict alerts. */
#include "sql/db.h"
#include "sql/db_int.h"
#include "common/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Oldest first through reports_by_start (a range ends after it starts, so every report that
 * ended before the cutoff started before it; no index of its own to maintain on every
 * insert); a first copy waits for its recent later copies (reports_conflicts), so that a
 * group is never left without the copy it points at. */
static const char SQL_PRUNE[] =
    "DELETE FROM reports WHERE id IN (SELECT x.id FROM reports x WHERE x.start_time < ?1 "
    "AND x.end_time < ?1 AND NOT EXISTS (SELECT 1 FROM reports c WHERE c.conflict_of = x.id "
    "AND c.end_time >= ?1) ORDER BY x.start_time LIMIT ?2)";
static const char SQL_CONFLICTS_AFTER[] =
    "SELECT id, conflict_of, organization_name, report_id, source FROM reports "
    "WHERE conflict_of IS NOT NULL AND id > ?1 ORDER BY id LIMIT ?2";
static const char SQL_MAX_ID[] = "SELECT COALESCE(MAX(id), 0) FROM reports";

int db_report_prune(struct db *db, int64_t cutoff, int64_t batch, int64_t *reports, int64_t *rows)
{
    *reports = *rows = 0;
    db->err[0] = '\0';
    if (db_begin(db) != 0)
        return -1;
    sqlite3_stmt *st = db__stmt(db, SQL_PRUNE);
    if (st == NULL) {
        db_rollback(db);
        return -1;
    }
    sqlite3_int64 before = sqlite3_total_changes64(db->h);
    sqlite3_bind_int64(st, 1, cutoff);
    sqlite3_bind_int64(st, 2, batch > 0 ? batch : 1);
    int rc = sqlite3_step(st);
    int64_t n = sqlite3_changes64(db->h);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        snprintf(db->err, sizeof(db->err), "%s", sqlite3_errmsg(db->h));
        db_rollback(db);
        return -1;
    }
    /* total_changes counts the rows the cascades deleted as well */
    int64_t all = sqlite3_total_changes64(db->h) - before;
    if (db_commit(db) != 0) {
        snprintf(db->err, sizeof(db->err), "%s", sqlite3_errmsg(db->h));
        db_rollback(db);
        return -1;
    }
    *reports = n;
    *rows = all;
    return 0;
}

static void clear_conflict_domains(void *c)
{
    db__domains_free(((struct db_report_conflict *)c)->domains,
                     ((struct db_report_conflict *)c)->n_domains);
}

#define CONFLICT(field, kind) DB__COL(struct db_report_conflict, field, kind)
static const struct db__col conflict_cols[] = {CONFLICT(id, I64), CONFLICT(conflict_of, I64),
                                               CONFLICT(organization_name, TEXT),
                                               CONFLICT(report_id, TEXT), CONFLICT(source, TEXT)};
static const struct db__row_type conflict_rows =
    DB__ROW_TYPE(struct db_report_conflict, conflict_cols, NULL, clear_conflict_domains);

void db_report_conflicts_free(struct db_report_conflict *v, size_t n)
{
    db__rows_free(&conflict_rows, v, n);
}

int db_report_conflicts_after(struct db *db, int64_t after_id, int64_t limit,
                              struct db_report_conflict **out, size_t *n, int64_t *max_id)
{
    sqlite3_stmt *st = db__stmt(db, SQL_MAX_ID);
    if (st == NULL)
        return -1;
    int rc = sqlite3_step(st);
    *max_id = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : after_id;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW)
        return -1;
    if (*max_id < after_id)
        *max_id = after_id;
    if (out == NULL)
        return 0;
    *out = NULL;
    *n = 0;
    st = db__stmt(db, SQL_CONFLICTS_AFTER);
    if (st == NULL)
        return -1;
    sqlite3_bind_int64(st, 1, after_id);
    sqlite3_bind_int64(st, 2, limit > 0 ? limit : 1);
    struct db_report_conflict *v = db__rows(st, &conflict_rows, SIZE_MAX, NULL, n, &rc);
    for (size_t i = 0; rc == 0 && i < *n; i++)
        rc = db__report_domains(db, v[i].id, &v[i].domains, &v[i].n_domains);
    if (rc != 0) {
        db_report_conflicts_free(v, *n);
        *n = 0;
        return -1;
    }
    *out = v;
    return 0;
}
