/* db_checks.c - the checks and check_findings tables: results of the scheduled self-checks. */
#include "sql/db.h"
#include "sql/db_int.h"
#include "common/common.h"

#include <stdlib.h>
#include <string.h>

int db_check_store(struct db *db, const struct db_check *c, const struct db_check_finding *f,
                   size_t n, int64_t *id)
{
    if (db_begin(db) != 0)
        return -1;
    sqlite3_stmt *st = db__stmt(db, "INSERT INTO checks (domain, started, duration_ms, status, "
                                    "errors, warnings, infos, dns_id, result) "
                                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
    if (st == NULL)
        goto fail;
    sqlite3_bind_text(st, 1, c->domain, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, c->started);
    sqlite3_bind_int64(st, 3, c->duration_ms);
    sqlite3_bind_int(st, 4, c->status);
    sqlite3_bind_int(st, 5, c->errors);
    sqlite3_bind_int(st, 6, c->warnings);
    sqlite3_bind_int(st, 7, c->infos);
    db__bind_opt(st, 8, c->dns_id);
    sqlite3_bind_text(st, 9, c->result ? c->result : "{}", -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE)
        goto fail;
    int64_t cid = sqlite3_last_insert_rowid(db->h);
    st = db__stmt(db, "INSERT INTO check_findings (check_id, finding, severity, subject, message) "
                      "VALUES (?1, ?2, ?3, ?4, ?5)");
    if (st == NULL)
        goto fail;
    for (size_t i = 0; i < n && i < DB_CHECK_MAX_FINDINGS; i++) {
        sqlite3_bind_int64(st, 1, cid);
        sqlite3_bind_text(st, 2, f[i].finding ? f[i].finding : "", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, f[i].severity ? f[i].severity : "", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, f[i].subject ? f[i].subject : "", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, f[i].message ? f[i].message : "", -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            goto fail;
    }
    if (db_commit(db) != 0)
        goto fail;
    if (id != NULL)
        *id = cid;
    return 0;
fail:
    db_rollback(db);
    return -1;
}

#define CHECK(field, kind) DB__COL(struct db_check, field, kind)
static const struct db__col check_cols[] = {
    CHECK(id, I64),      CHECK(domain, TEXT), CHECK(started, I64),  CHECK(duration_ms, I64),
    CHECK(status, INT),  CHECK(errors, INT),  CHECK(warnings, INT), CHECK(infos, INT),
    CHECK(dns_id, TEXT), CHECK(result, TEXT)};
static const struct db__row_type check_rows = DB__ROW_TYPE(struct db_check, check_cols, NULL, NULL);
#define CHECK_COLS "id, domain, started, duration_ms, status, errors, warnings, infos, dns_id"

/* Bind ?1 to `domain` (NULL: every domain) and read the check rows of st (at most `cap`). */
static int collect(sqlite3_stmt *st, const char *domain, size_t cap, struct db_check **out,
                   size_t *n)
{
    if (domain != NULL)
        sqlite3_bind_text(st, 1, domain, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, 1);
    int rc;
    *out = db__rows(st, &check_rows, cap, NULL, n, &rc);
    return rc;
}

/* The newest run of each domain (the highest id, since ids grow with time), with `result`
 * as the last column. */
#define LATEST(result)                                                                             \
    "SELECT " CHECK_COLS ", " result " FROM checks WHERE id IN (SELECT max(id) FROM checks "       \
    "WHERE ?1 IS NULL OR domain = ?1 GROUP BY domain) ORDER BY domain"

static int latest(struct db *db, const char *sql, const char *domain, size_t cap,
                  struct db_check **out, size_t *n)
{
    sqlite3_stmt *st = db__stmt(db, sql);
    if (st == NULL)
        return -1;
    return collect(st, domain, cap, out, n);
}

int db_check_latest(struct db *db, const char *domain, struct db_check **out, size_t *n)
{
    return latest(db, LATEST("result"), domain, DB_CHECK_MAX_ROWS, out, n);
}

int db_check_latest_brief(struct db *db, struct db_check **out, size_t *n)
{
    /* The result column is left out: with 10,000 domains it would be most of the bytes. */
    return latest(db, LATEST("NULL"), NULL, DB_CHECK_BRIEF_MAX, out, n);
}

#define HISTORY " FROM checks WHERE ?1 IS NULL OR domain = ?1 ORDER BY id DESC LIMIT ?2"
static const char SQL_HISTORY[] = "SELECT " CHECK_COLS ", result" HISTORY;
static const char SQL_HISTORY_NO_RESULT[] = "SELECT " CHECK_COLS ", NULL" HISTORY;

int db_check_history(struct db *db, const char *domain, int64_t limit, int with_result,
                     struct db_check **out, size_t *n)
{
    sqlite3_stmt *st = db__stmt(db, with_result ? SQL_HISTORY : SQL_HISTORY_NO_RESULT);
    if (st == NULL)
        return -1;
    if (limit <= 0 || limit > DB_CHECK_MAX_ROWS)
        limit = DB_CHECK_MAX_ROWS;
    sqlite3_bind_int64(st, 2, limit);
    return collect(st, domain, (size_t)limit, out, n);
}

#define FINDING(field) DB__COL(struct db_check_finding, field, TEXT)
static const struct db__col finding_cols[] = {FINDING(finding), FINDING(severity), FINDING(subject),
                                              FINDING(message)};
static const struct db__row_type finding_rows =
    DB__ROW_TYPE(struct db_check_finding, finding_cols, NULL, NULL);

int db_check_findings(struct db *db, int64_t check_id, struct db_check_finding **out, size_t *n)
{
    int rc;
    *out = db__rows_of(db,
                       "SELECT finding, severity, subject, message FROM check_findings "
                       "WHERE check_id = ?1 ORDER BY id",
                       check_id, &finding_rows, DB_CHECK_MAX_FINDINGS, n, &rc);
    return rc;
}

int db_check_prune(struct db *db, const char *domain, int64_t keep)
{
    sqlite3_stmt *st = db__stmt(db, "DELETE FROM checks WHERE domain = ?1 AND id NOT IN "
                                    "(SELECT id FROM checks WHERE domain = ?1 "
                                    "ORDER BY id DESC LIMIT ?2)");
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, domain, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, keep);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

void db_checks_free(struct db_check *v, size_t n)
{
    db__rows_free(&check_rows, v, n);
}

void db_check_findings_free(struct db_check_finding *v, size_t n)
{
    db__rows_free(&finding_rows, v, n);
}

/* db_check_new_reports: the caller's filter of policy-domains. */
struct keep_filter {
    int (*keep)(void *ctx, const char *domain);
    void *ctx;
};

static int keep_domain(sqlite3_stmt *st, void *filter)
{
    const struct keep_filter *k = filter;
    const char *dom = (const char *)sqlite3_column_text(st, 0);
    return k->keep == NULL || (dom != NULL && k->keep(k->ctx, dom));
}

#define NEW_REPORTS(field, kind) DB__COL(struct db_new_reports, field, kind)
static const struct db__col new_reports_cols[] = {
    NEW_REPORTS(domain, TEXT), NEW_REPORTS(reports, I64), NEW_REPORTS(successful, I64),
    NEW_REPORTS(failed, I64)};
static const struct db__row_type new_reports_rows =
    DB__ROW_TYPE(struct db_new_reports, new_reports_cols, keep_domain, NULL);

int db_check_new_reports(struct db *db, int64_t after_id, struct db_new_reports **out, size_t *n,
                         int64_t *max_id, int (*keep)(void *ctx, const char *domain),
                         void *keep_ctx)
{
    if (out != NULL)
        *out = NULL;
    *n = 0;
    *max_id = after_id;
    sqlite3_stmt *st = db__stmt(db, "SELECT coalesce(max(id), ?1) FROM reports WHERE id > ?1");
    if (st == NULL)
        return -1;
    sqlite3_bind_int64(st, 1, after_id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *max_id = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (rc != SQLITE_ROW)
        return -1;
    if (*max_id == after_id || out == NULL)
        return 0;
    st = db__stmt(db, "SELECT p.policy_domain, count(DISTINCT r.id), sum(p.successful), "
                      "sum(p.failed) FROM reports r JOIN report_policies p ON p.report = r.id "
                      "WHERE r.id > ?1 AND r.id <= ?2 AND r.counted = 1 GROUP BY p.policy_domain "
                      "ORDER BY p.policy_domain");
    if (st == NULL)
        return -1;
    sqlite3_bind_int64(st, 1, after_id);
    sqlite3_bind_int64(st, 2, *max_id);
    struct keep_filter filter = {keep, keep_ctx};
    *out = db__rows(st, &new_reports_rows, DB_CHECK_MAX_ROWS, &filter, n, &rc);
    return rc;
}

void db_new_reports_free(struct db_new_reports *v, size_t n)
{
    db__rows_free(&new_reports_rows, v, n);
}

#define FAILED(field, kind) DB__COL(struct db_failed_by_type, field, kind)
static const struct db__col failed_cols[] = {FAILED(domain, TEXT), FAILED(result_type, TEXT),
                                             FAILED(failed, I64)};
static const struct db__row_type failed_rows =
    DB__ROW_TYPE(struct db_failed_by_type, failed_cols, NULL, NULL);

int db_check_failed_by_type(struct db *db, struct db_failed_by_type **out, size_t *n)
{
    /* All time, the same sums as a summary's by_result_type for each policy-domain. */
    sqlite3_stmt *st = db__stmt(db, "SELECT p.policy_domain, f.result_type, "
                                    "SUM(f.failed_session_count) FROM failure_details f "
                                    "JOIN report_policies p ON p.id = f.policy "
                                    "WHERE f.report NOT IN "
                                    "(SELECT id FROM reports WHERE counted = 0) "
                                    "GROUP BY p.policy_domain, f.result_type "
                                    "ORDER BY p.policy_domain, f.result_type");
    *out = NULL;
    *n = 0;
    if (st == NULL)
        return -1;
    int rc;
    *out = db__rows(st, &failed_rows, 10 * DB_CHECK_MAX_ROWS, NULL, n, &rc);
    return rc;
}

void db_failed_by_type_free(struct db_failed_by_type *v, size_t n)
{
    db__rows_free(&failed_rows, v, n);
}

int db_check_report_sums(struct db *db, int64_t after_id, int64_t upto_id, int not_https,
                         struct db_report_sums_cb *cb)
{
    /* Outer loop over the reports' id range (primary key), then each report's policies and
     * their failure details by index: the cost is that of the rows in the range. Only the
     * counted copy of a conflict group adds to the sums (as in summaries). */
    static const char *const sql[] = {
        "SELECT count(*) FROM reports r WHERE r.id > ?1 AND r.id <= ?2 "
        "AND r.counted = 1 AND (?3 = 0 OR r.source <> 'https')",
        "SELECT p.policy_domain, sum(p.successful), sum(p.failed) FROM reports r "
        "JOIN report_policies p ON p.report = r.id WHERE r.id > ?1 AND r.id <= ?2 "
        "AND r.counted = 1 AND (?3 = 0 OR r.source <> 'https') GROUP BY p.policy_domain",
        "SELECT p.policy_domain, f.result_type, sum(f.failed_session_count) FROM reports r "
        "JOIN report_policies p ON p.report = r.id JOIN failure_details f ON f.policy = p.id "
        "WHERE r.id > ?1 AND r.id <= ?2 AND r.counted = 1 AND (?3 = 0 OR r.source <> 'https') "
        "GROUP BY p.policy_domain, f.result_type"};
    for (int q = 0; q < 3; q++) {
        sqlite3_stmt *st = db__stmt(db, sql[q]);
        if (st == NULL)
            return -1;
        sqlite3_bind_int64(st, 1, after_id);
        sqlite3_bind_int64(st, 2, upto_id);
        sqlite3_bind_int(st, 3, not_https != 0);
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            const char *dom = q ? (const char *)sqlite3_column_text(st, 0) : NULL;
            if (q == 0)
                cb->reports(cb->ctx, sqlite3_column_int64(st, 0));
            else if (q == 1 && dom != NULL)
                cb->sessions(cb->ctx, dom, sqlite3_column_int64(st, 1),
                             sqlite3_column_int64(st, 2));
            else if (q == 2 && dom != NULL)
                cb->failures(cb->ctx, dom, (const char *)sqlite3_column_text(st, 1),
                             sqlite3_column_int64(st, 2));
        }
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        if (rc != SQLITE_DONE)
            return -1;
    }
    return 0;
}

int db_check_max_report_id(struct db *db, int64_t *max_id)
{
    return db_check_new_reports(db, 0, NULL, &(size_t){0}, max_id, NULL, NULL);
}

static const struct db__col count_cols[] = {CHECK(id, I64), CHECK(started, I64), CHECK(errors, INT),
                                            CHECK(warnings, INT), CHECK(infos, INT)};
static const struct db__row_type count_row = DB__ROW_TYPE(struct db_check, count_cols, NULL, NULL);

int db_check_latest_counts(struct db *db, const char *domain, struct db_check *out)
{
    /* One index seek (checks_by_domain, backwards), whatever the number of stored runs. */
    sqlite3_stmt *st = db__stmt(db, "SELECT id, started, errors, warnings, infos FROM checks "
                                    "WHERE domain = ?1 ORDER BY started DESC, id DESC LIMIT 1");
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, domain, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st), found = rc == SQLITE_ROW;
    memset(out, 0, sizeof(*out));
    if (found)
        db__read_row(st, &count_row, out);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return found ? 1 : rc == SQLITE_DONE ? 0 : -1;
}
