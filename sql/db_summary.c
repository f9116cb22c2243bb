/* db_summary.c - summaries of the stored reports: totals and breakdowns, one index
 * range per query, one copy per conflict group. */
#include "sql/db.h"
#include "sql/db_int.h"
#include "common/common.h"
#include "reports/reports.h"

#include <stdlib.h>
#include <string.h>

/*
 * Summary queries: ?1 since, ?2 until, and ?3 the policy-domain in the *_DOM variants. Two
 * literal variants per breakdown (rather than "?3 IS NULL OR ...") so that each one reads
 * one index range: without a domain, sessions come from the per-report sums in `reports`
 * (a report without policies still counts as a report); with one, from the report_policies
 * of that domain. Failure breakdowns read failure_details by start_time. The mx of a failure
 * detail is its hostname (lowercased, no trailing dot), else its IP, else "(unknown)".
 */
#define MX_KEY                                                                                     \
    "COALESCE(NULLIF(lower(rtrim(f.receiving_mx_hostname, '.')), ''), "                            \
    "NULLIF(f.receiving_ip, ''), '(unknown)')"
/* The policy-domain of a group; a policy that named none (stored as '') is counted in the
 * totals like any other and grouped under REPORT_UNATTRIBUTED, which no domain name can be. */
#define DOMAIN_KEY "COALESCE(NULLIF(p.policy_domain, ''), '" REPORT_UNATTRIBUTED "')"
/* One copy per conflict group counts (reports.counted); the others are few (a partial
 * index), so leaving them out is one small list read once per query. */
#define UNCOUNTED "(SELECT id FROM reports WHERE counted = 0)"
#define R_WINDOW " WHERE r.start_time >= ?1 AND r.start_time < ?2 AND r.id NOT IN " UNCOUNTED
#define P_WINDOW_DOM                                                                               \
    " WHERE p.policy_domain = ?3 AND p.start_time >= ?1 AND p.start_time < ?2 AND p.report NOT "   \
    "IN " UNCOUNTED
#define F_WINDOW " WHERE f.start_time >= ?1 AND f.start_time < ?2 AND f.report NOT IN " UNCOUNTED
/* "conflicts" in totals: the copies left out, with their start-datetime in the window. */
static const char SQL_SUM_CONFLICTS[] = "SELECT COUNT(*) FROM reports r WHERE r.counted = 0 "
                                        "AND r.start_time >= ?1 AND r.start_time < ?2";
static const char SQL_SUM_CONFLICTS_DOM[] =
    "SELECT COUNT(DISTINCT p.report) FROM report_policies p WHERE p.policy_domain = ?3 "
    "AND p.start_time >= ?1 AND p.start_time < ?2 AND p.report IN " UNCOUNTED;
static const char SQL_SUM_TOTALS[] = "SELECT COUNT(*), COALESCE(SUM(r.successful), 0), "
                                     "COALESCE(SUM(r.failed), 0) FROM reports r" R_WINDOW;
static const char SQL_SUM_TOTALS_DOM[] =
    "SELECT COUNT(DISTINCT p.report), COALESCE(SUM(p.successful), 0), "
    "COALESCE(SUM(p.failed), 0) FROM report_policies p" P_WINDOW_DOM;
/* A breakdown's statement: key, reports, successful, failed over `from`, grouped by key. */
#define GROUPED(key, reports, sums, from)                                                          \
    "SELECT " key ", " reports ", " sums " FROM " from " GROUP BY " key
#define SUMS_R "SUM(r.successful), SUM(r.failed)"
#define SUMS_P "SUM(p.successful), SUM(p.failed)"
#define SUMS_F "-1, SUM(f.failed_session_count)" /* failure breakdowns have no successful */
#define F_DOM                                                                                      \
    "failure_details f JOIN report_policies p ON p.id = f.policy" F_WINDOW                         \
    " AND p.policy_domain = ?3"

/* The statements of each breakdown (REPORT_BY_*), without and with a domain (_DOM). */
static const struct breakdown {
    const char *sql, *sql_dom;
} breakdowns[] = {
    [REPORT_BY_DAY] = {GROUPED("r.start_time / 86400", "COUNT(*)", SUMS_R, "reports r" R_WINDOW),
                       GROUPED("p.start_time / 86400", "COUNT(DISTINCT p.report)", SUMS_P,
                               "report_policies p" P_WINDOW_DOM)},
    [REPORT_BY_DOMAIN] = {GROUPED(DOMAIN_KEY, "COUNT(DISTINCT p.report)", SUMS_P,
                                  "report_policies p WHERE p.start_time >= ?1 AND p.start_time "
                                  "< ?2 AND p.report NOT IN " UNCOUNTED),
                          GROUPED(DOMAIN_KEY, "COUNT(DISTINCT p.report)", SUMS_P,
                                  "report_policies p" P_WINDOW_DOM)},
    [REPORT_BY_MX] = {GROUPED(MX_KEY, "COUNT(DISTINCT f.report)", SUMS_F,
                              "failure_details f" F_WINDOW),
                      GROUPED(MX_KEY, "COUNT(DISTINCT f.report)", SUMS_F, F_DOM)},
    [REPORT_BY_REPORTER] =
        {GROUPED("r.organization_name", "COUNT(*)", SUMS_R, "reports r" R_WINDOW),
         GROUPED("r.organization_name", "COUNT(DISTINCT r.id)", SUMS_P,
                 "report_policies p JOIN reports r ON r.id = p.report" P_WINDOW_DOM)},
    [REPORT_BY_RESULT] = {GROUPED("f.result_type", "COUNT(DISTINCT f.report)", SUMS_F,
                                  "failure_details f" F_WINDOW),
                          GROUPED("f.result_type", "COUNT(DISTINCT f.report)", SUMS_F, F_DOM)},
};

static void rows_add(struct report_summary_rows *rows, char *key, int64_t reports,
                     int64_t successful, int64_t failed)
{
    /* Reallocate to twice the size whenever n reaches a power of two: capacity > n. */
    if ((rows->n & (rows->n - 1)) == 0) {
        size_t cap = rows->n ? 2 * rows->n : 4;
        rows->v = xrealloc(rows->v, cap * sizeof(*rows->v));
    }
    struct report_summary_row *r = &rows->v[rows->n++];
    r->key = key;
    r->reports = reports;
    r->successful = successful;
    r->failed = failed;
}

static void rows_clear(struct report_summary_rows *rows)
{
    for (size_t i = 0; i < rows->n; i++)
        free(rows->v[i].key);
    free(rows->v);
    rows->v = NULL;
    rows->n = 0;
}

/* The statement for a breakdown: the _DOM variant when the summary has a domain. */
static sqlite3_stmt *summary_stmt(struct db *db, const char *sql, const char *sql_dom,
                                  const struct report_summary *s)
{
    sqlite3_stmt *st = db__stmt(db, s->domain ? sql_dom : sql);
    if (st == NULL)
        return NULL;
    sqlite3_bind_int64(st, 1, s->since);
    sqlite3_bind_int64(st, 2, s->until);
    if (s->domain) /* REPORT_UNATTRIBUTED: the policies stored with no domain ('') */
        sqlite3_bind_text(st, 3, strcmp(s->domain, REPORT_UNATTRIBUTED) ? s->domain : "", -1,
                          SQLITE_STATIC);
    return st;
}

/* Run the grouped summary query of breakdown `by` (key, reports, successful, failed) into
 * rows; the key of REPORT_BY_DAY is a day number to format as YYYY-MM-DD. */
static int summary_rows(struct db *db, enum report_group by, const struct report_summary *s,
                        struct report_summary_rows *rows)
{
    sqlite3_stmt *st = summary_stmt(db, breakdowns[by].sql, breakdowns[by].sql_dom, s);
    if (st == NULL)
        return -1;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        char *key;
        if (by == REPORT_BY_DAY) {
            char buf[11];
            format_date((time_t)(sqlite3_column_int64(st, 0) * 86400), buf);
            key = xstrdup(buf);
        } else {
            key = db__col_text(st, 0);
            if (key == NULL)
                key = xstrdup("");
        }
        rows_add(rows, key, sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2),
                 sqlite3_column_int64(st, 3));
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

void db_report_summary_clear(struct report_summary *s)
{
    if (s == NULL)
        return;
    rows_clear(&s->by_result_type);
    rows_clear(&s->by_mx);
    rows_clear(&s->by_reporter);
    rows_clear(&s->groups);
    s->reports = s->successful = s->failed = s->conflicts = 0;
}

int db_report_summary(struct db *db, struct report_summary *s)
{
    s->reports = s->successful = s->failed = s->conflicts = 0;
    memset(&s->by_result_type, 0, sizeof(s->by_result_type));
    memset(&s->by_mx, 0, sizeof(s->by_mx));
    memset(&s->by_reporter, 0, sizeof(s->by_reporter));
    memset(&s->groups, 0, sizeof(s->groups));

    sqlite3_stmt *st = summary_stmt(db, SQL_SUM_TOTALS, SQL_SUM_TOTALS_DOM, s);
    if (st == NULL)
        return -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        s->reports = sqlite3_column_int64(st, 0);
        s->successful = sqlite3_column_int64(st, 1);
        s->failed = sqlite3_column_int64(st, 2);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW)
        return -1;
    st = summary_stmt(db, SQL_SUM_CONFLICTS, SQL_SUM_CONFLICTS_DOM, s);
    if (st == NULL)
        return -1;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        s->conflicts = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (rc != SQLITE_ROW)
        return -1;

    if (summary_rows(db, REPORT_BY_RESULT, s, &s->by_result_type) != 0 ||
        summary_rows(db, REPORT_BY_MX, s, &s->by_mx) != 0 ||
        summary_rows(db, REPORT_BY_REPORTER, s, &s->by_reporter) != 0 ||
        (s->by > REPORT_BY_NONE && s->by <= REPORT_BY_RESULT &&
         summary_rows(db, s->by, s, &s->groups) != 0)) {
        db_report_summary_clear(s);
        return -1;
    }
    return 0;
}
