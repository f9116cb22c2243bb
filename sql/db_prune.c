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

void db_report_conflicts_free(struct db_report_conflict *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].organization_name);
        free(v[i].report_id);
        free(v[i].source);
        for (size_t j = 0; j < v[i].n_domains; j++)
            free(v[i].domains[j]);
        free(v[i].domains);
    }
    free(v);
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
    struct db_report_conflict *v = NULL;
    size_t len = 0, cap = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        v = db__grow(v, len, &cap, 4, sizeof(*v));
        struct db_report_conflict *c = &v[len++];
        memset(c, 0, sizeof(*c));
        c->id = sqlite3_column_int64(st, 0);
        c->conflict_of = sqlite3_column_int64(st, 1);
        c->organization_name = db__col_text(st, 2);
        c->report_id = db__col_text(st, 3);
        c->source = db__col_text(st, 4);
    }
    sqlite3_reset(st);
    for (size_t i = 0; rc == SQLITE_DONE && i < len; i++)
        if (db__report_domains(db, v[i].id, &v[i].domains, &v[i].n_domains) != 0)
            rc = SQLITE_ERROR;
    if (rc != SQLITE_DONE) {
        db_report_conflicts_free(v, len);
        return -1;
    }
    *out = v;
    *n = len;
    return 0;
}
