/* db_reports.c - the TLS-RPT report tables (RFC 8460 §4.4): store, list and show reports. */
#include "sql/db.h"
#include "sql/db_int.h"
#include "common/common.h"
#include "reports/reports.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every statement is a literal here; db__stmt caches it by address. */
/* (1, id) of a stored copy with the same content (or one stored before digests were kept:
 * taken as the same), else (0, id) of the copy a new one conflicts with: the first stored
 * of the group, which any copy names; no row for a new report. One statement of three index
 * seeks (reports_by_key), however many copies an attacker sent. */
static const char SQL_FIND[] =
    "SELECT 1, id FROM reports WHERE organization_name = ?1 AND report_id = ?2 AND digest = ?3 "
    "UNION ALL SELECT 1, id FROM reports WHERE organization_name = ?1 AND report_id = ?2 "
    "AND digest IS NULL "
    "UNION ALL SELECT 0, COALESCE(conflict_of, id) FROM reports WHERE organization_name = ?1 "
    "AND report_id = ?2 LIMIT 1";
static const char SQL_INSERT_REPORT[] =
    "INSERT INTO reports (organization_name, report_id, contact_info, start_time, end_time, "
    "received, source, successful, failed, digest, conflict_of, counted, dkim, dkim_domain, "
    "dkim_detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) "
    "RETURNING id";
/* A DKIM-verified copy (RFC 8460 §5.3) decides its conflict group: the first of the group to
 * pass becomes the counted copy, the others are not counted; a later pass leaves it. */
static const char SQL_GROUP_OF[] = "SELECT COALESCE(conflict_of, id) FROM reports WHERE id = ?1";
static const char SQL_GROUP_PASS[] = "SELECT 1 FROM reports WHERE (id = ?1 OR conflict_of = ?1) "
                                     "AND dkim = 'pass' AND id <> ?2 LIMIT 1";
static const char SQL_GROUP_COUNT[] =
    "UPDATE reports SET counted = (id = ?2) WHERE (id = ?1 OR conflict_of = ?1) "
    "AND counted <> (id = ?2)";
/* The same content arrived again in a message that passes: the stored copy is verified now. */
static const char SQL_SET_PASS[] =
    "UPDATE reports SET dkim = 'pass', dkim_domain = ?2, dkim_detail = ?3 WHERE id = ?1 "
    "AND dkim IS NOT 'pass'";
static const char SQL_INSERT_RAW[] =
    "INSERT INTO report_raw (report, gzip, data) VALUES (?1, ?2, ?3)";
static const char SQL_INSERT_POLICY[] =
    "INSERT INTO report_policies (report, policy_type, policy_domain, policy_string, mx_host, "
    "successful, failed, start_time, domain_inferred) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
    "RETURNING id";
static const char SQL_INSERT_FAILURE[] =
    "INSERT INTO failure_details (policy, result_type, sending_mta_ip, receiving_mx_hostname, "
    "receiving_mx_helo, receiving_ip, failed_session_count, additional_information, "
    "failure_reason_code, report, start_time) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
    "?11)";
static const char SQL_SAVEPOINT[] = "SAVEPOINT report_store";
static const char SQL_RELEASE[] = "RELEASE report_store";
static const char SQL_ROLLBACK_TO[] = "ROLLBACK TO report_store";
static const char SQL_BEGIN[] = "BEGIN IMMEDIATE";
static const char SQL_COMMIT[] = "COMMIT";
static const char SQL_ROLLBACK[] = "ROLLBACK";
static const char SQL_COUNT[] = "SELECT COUNT(*) FROM reports";

#define LISTING_COLUMNS                                                                            \
    "r.id, r.organization_name, r.report_id, r.contact_info, r.source, r.start_time, "             \
    "r.end_time, r.received, r.successful, r.failed, w.gzip, length(w.data), "                     \
    "COALESCE(r.conflict_of, 0), r.counted, "                                                      \
    "(SELECT COUNT(*) FROM reports c WHERE c.conflict_of = r.id), r.dkim, r.dkim_domain, "         \
    "r.dkim_detail"
static const char SQL_LIST[] =
    "SELECT " LISTING_COLUMNS " FROM reports r JOIN report_raw w ON w.report = r.id "
    "WHERE r.start_time >= ?1 AND r.start_time < ?2 "
    "ORDER BY r.start_time DESC, r.id DESC LIMIT ?4";
/* With a domain: the reports found through that domain's index range. */
static const char SQL_LIST_DOM[] =
    "SELECT " LISTING_COLUMNS " FROM reports r JOIN report_raw w ON w.report = r.id "
    "WHERE r.id IN (SELECT p.report FROM report_policies p WHERE p.policy_domain = ?3 "
    "AND p.start_time >= ?1 AND p.start_time < ?2) "
    "ORDER BY r.start_time DESC, r.id DESC LIMIT ?4";
static const char SQL_GET[] =
    "SELECT " LISTING_COLUMNS " FROM reports r JOIN report_raw w ON w.report = r.id "
    "WHERE r.id = ?1";
static const char SQL_DOMAINS[] = "SELECT DISTINCT policy_domain FROM report_policies "
                                  "WHERE report = ?1 ORDER BY policy_domain";
/* The policy-domains of a listing as shown: a policy that named none is REPORT_UNATTRIBUTED,
 * one the channel named (domain_inferred) says which channel. */
static const char SQL_DOMAINS_SHOWN[] =
    "SELECT DISTINCT CASE WHEN p.policy_domain = '' THEN '" REPORT_UNATTRIBUTED "' "
    "WHEN p.domain_inferred THEN p.policy_domain || CASE r.source WHEN 'https' "
    "THEN ' (from the mta-sts host)' ELSE ' (from TLS-Report-Domain)' END "
    "ELSE p.policy_domain END AS d FROM report_policies p JOIN reports r ON r.id = p.report "
    "WHERE p.report = ?1 ORDER BY d";
static const char SQL_RAW[] = "SELECT data FROM report_raw WHERE report = ?1";
static const char SQL_POLICIES[] =
    "SELECT id, policy_type, policy_domain, policy_string, mx_host, successful, failed, "
    "domain_inferred FROM report_policies WHERE report = ?1 ORDER BY id";
static const char SQL_FAILURES[] =
    "SELECT result_type, sending_mta_ip, receiving_mx_hostname, receiving_mx_helo, "
    "receiving_ip, failed_session_count, additional_information, failure_reason_code "
    "FROM failure_details WHERE policy = ?1 ORDER BY id";

static int step_simple(struct db *db, const char *sql)
{
    sqlite3_stmt *st = db__stmt(db, sql);
    if (st == NULL)
        return -1;
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int64_t clamp_count(int64_t v)
{
    if (v < 0)
        return 0;
    return v > DB_REPORT_MAX_COUNT ? DB_REPORT_MAX_COUNT : v;
}

/* A JSON array of strings (compact), malloc'd. Strings that are not UTF-8 cannot reach here:
 * the parser rejects them; json_string would drop them. */
static char *json_string_array(char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i] ? v[i] : ""));
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s ? s : xstrdup("[]");
}

/* Look r up (SQL_FIND): 0 with res->outcome DB_STORE_DUPLICATE and res->id, or
 * DB_STORE_CONFLICT and res->conflict_of, or DB_STORE_STORED when r is new; -1 on error. */
static int find_report(struct db *db, const struct report *r, const unsigned char *digest,
                       struct db_store_result *res)
{
    sqlite3_stmt *st = db__stmt(db, SQL_FIND);
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, r->organization_name ? r->organization_name : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, r->report_id ? r->report_id : "", -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, digest, REPORT_DIGEST_LEN, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    res->outcome = DB_STORE_STORED;
    if (rc == SQLITE_ROW && sqlite3_column_int(st, 0) == 1) {
        res->outcome = DB_STORE_DUPLICATE;
        res->id = sqlite3_column_int64(st, 1);
    } else if (rc == SQLITE_ROW) {
        res->outcome = DB_STORE_CONFLICT;
        res->conflict_of = sqlite3_column_int64(st, 1);
    }
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

static int insert_policy(struct db *db, int64_t report, int64_t start,
                         const struct report_policy *p)
{
    sqlite3_stmt *st = db__stmt(db, SQL_INSERT_POLICY);
    if (st == NULL)
        return -1;
    char *ps = json_string_array(p->policy_string, p->n_policy_string);
    char *mx = json_string_array(p->mx_host, p->n_mx_host);
    sqlite3_bind_int64(st, 1, report);
    sqlite3_bind_text(st, 2, p->policy_type ? p->policy_type : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, p->policy_domain ? p->policy_domain : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, ps, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, mx, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, clamp_count(p->total_successful));
    sqlite3_bind_int64(st, 7, clamp_count(p->total_failure));
    sqlite3_bind_int64(st, 8, start);
    sqlite3_bind_int(st, 9, p->policy_domain != NULL && p->domain_inferred);
    int64_t pid = -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        pid = sqlite3_column_int64(st, 0);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    free(ps);
    free(mx);
    if (pid < 0 || rc != SQLITE_DONE)
        return -1;
    for (size_t i = 0; i < p->n_failures; i++) {
        const struct report_failure *f = &p->failures[i];
        st = db__stmt(db, SQL_INSERT_FAILURE);
        if (st == NULL)
            return -1;
        sqlite3_bind_int64(st, 1, pid);
        sqlite3_bind_text(st, 2, f->result_type ? f->result_type : "", -1, SQLITE_STATIC);
        db__bind_opt(st, 3, f->sending_mta_ip);
        db__bind_opt(st, 4, f->receiving_mx_hostname);
        db__bind_opt(st, 5, f->receiving_mx_helo);
        db__bind_opt(st, 6, f->receiving_ip);
        sqlite3_bind_int64(st, 7, clamp_count(f->failed_session_count));
        db__bind_opt(st, 8, f->additional_information);
        db__bind_opt(st, 9, f->failure_reason_code);
        sqlite3_bind_int64(st, 10, report);
        sqlite3_bind_int64(st, 11, start);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            return -1;
    }
    return 0;
}

/* One integer of a one-row statement bound to (a, b): *out; 0 with no row (*out 0), -1. */
static int query_int2(struct db *db, const char *sql, int64_t a, int64_t b, int64_t *out)
{
    sqlite3_stmt *st = db__stmt(db, sql);
    if (st == NULL)
        return -1;
    sqlite3_bind_int64(st, 1, a);
    sqlite3_bind_int64(st, 2, b);
    int rc = sqlite3_step(st);
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/*
 * Which copy of a conflict group the summaries count: the first stored, unless a copy came
 * in a message with a DKIM pass: the first such copy becomes the counted one (a forged copy
 * sent early does not suppress the signed genuine one), and a later pass does not take it.
 * `id` just passed (stored, or recorded on a stored duplicate). 0 or -1.
 */
static int conflict_copy_counted(struct db *db, int64_t id)
{
    int64_t group, other;
    if (query_int2(db, SQL_GROUP_OF, id, 0, &group) != 0 || group == 0 ||
        query_int2(db, SQL_GROUP_PASS, group, id, &other) != 0)
        return -1;
    return other ? 0 : query_int2(db, SQL_GROUP_COUNT, group, id, &other);
}

static int is_pass(const struct db_report_origin *o)
{
    return o->dkim != NULL && strcmp(o->dkim, "pass") == 0;
}

/* A duplicate whose message passes: the pass is recorded on the stored copy, which may now
 * decide its conflict group. */
static int record_pass(struct db *db, int64_t id, const struct db_report_origin *o)
{
    sqlite3_stmt *st = db__stmt(db, SQL_SET_PASS);
    if (st == NULL)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    db__bind_opt(st, 2, o->dkim_domain);
    db__bind_opt(st, 3, o->dkim_detail);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return -1;
    return sqlite3_changes(db->h) > 0 ? conflict_copy_counted(db, id) : 0;
}

/* The inserts of one new report; the caller wraps them in a transaction or savepoint.
 * conflict_of: the group's first copy, or 0. */
static int insert_report(struct db *db, const struct report *r, const unsigned char *digest,
                         int64_t conflict_of, const void *raw, size_t rawlen,
                         const struct db_report_origin *o, int64_t *id)
{
    int64_t ok = 0, failed = 0;
    for (size_t i = 0; i < r->n_policies; i++) {
        ok += clamp_count(r->policies[i].total_successful);
        failed += clamp_count(r->policies[i].total_failure);
    }
    sqlite3_stmt *st = db__stmt(db, SQL_INSERT_REPORT);
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, r->organization_name ? r->organization_name : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, r->report_id ? r->report_id : "", -1, SQLITE_STATIC);
    db__bind_opt(st, 3, r->contact_info);
    sqlite3_bind_int64(st, 4, (int64_t)r->start);
    sqlite3_bind_int64(st, 5, (int64_t)r->end);
    sqlite3_bind_int64(st, 6, o->received);
    sqlite3_bind_text(st, 7, o->source ? o->source : "file", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 8, ok);
    sqlite3_bind_int64(st, 9, failed);
    sqlite3_bind_blob(st, 10, digest, REPORT_DIGEST_LEN, SQLITE_STATIC);
    if (conflict_of > 0)
        sqlite3_bind_int64(st, 11, conflict_of);
    else
        sqlite3_bind_null(st, 11);
    sqlite3_bind_int(st, 12, conflict_of > 0 ? 0 : 1);
    db__bind_opt(st, 13, o->dkim);
    db__bind_opt(st, 14, o->dkim_domain);
    db__bind_opt(st, 15, o->dkim_detail);
    int64_t rid = -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        rid = sqlite3_column_int64(st, 0);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rid < 0 || rc != SQLITE_DONE)
        return -1;

    st = db__stmt(db, SQL_INSERT_RAW);
    if (st == NULL)
        return -1;
    const unsigned char *b = raw;
    sqlite3_bind_int64(st, 1, rid);
    sqlite3_bind_int(st, 2, rawlen >= 2 && b[0] == 0x1f && b[1] == 0x8b);
    sqlite3_bind_blob64(st, 3, raw ? raw : "", raw ? rawlen : 0, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return -1;

    for (size_t i = 0; i < r->n_policies; i++)
        if (insert_policy(db, rid, (int64_t)r->start, &r->policies[i]) != 0)
            return -1;
    *id = rid;
    return conflict_of > 0 && is_pass(o) ? conflict_copy_counted(db, rid) : 0;
}

int db_report_store(struct db *db, const struct report *r,
                    const unsigned char digest[REPORT_DIGEST_LEN], const void *raw, size_t rawlen,
                    const struct db_report_origin *origin, struct db_store_result *res)
{
    /* Inside the caller's transaction a savepoint lets one bad report fail alone; outside,
     * BEGIN IMMEDIATE takes the write lock first (busy_timeout waits for the other writer)
     * so the look-up and the insert see the same database. */
    int in_tx = !sqlite3_get_autocommit(db->h);
    memset(res, 0, sizeof(*res));
    db->err[0] = '\0';
    if (step_simple(db, in_tx ? SQL_SAVEPOINT : SQL_BEGIN) != 0)
        return -1;
    int rc = find_report(db, r, digest, res);
    if (rc == 0 && res->outcome != DB_STORE_DUPLICATE)
        rc = insert_report(db, r, digest, res->conflict_of, raw, rawlen, origin, &res->id);
    else if (rc == 0 && is_pass(origin))
        rc = record_pass(db, res->id, origin);
    if (rc < 0) {
        /* The rollback below succeeds and would replace the reason: keep it for db_errmsg. */
        snprintf(db->err, sizeof(db->err), "%s", sqlite3_errmsg(db->h));
        if (in_tx) {
            step_simple(db, SQL_ROLLBACK_TO);
            step_simple(db, SQL_RELEASE);
        } else {
            step_simple(db, SQL_ROLLBACK);
        }
        return -1;
    }
    if (step_simple(db, in_tx ? SQL_RELEASE : SQL_COMMIT) != 0) {
        if (!in_tx)
            step_simple(db, SQL_ROLLBACK);
        return -1;
    }
    return 0;
}

int db_report_count(struct db *db, int64_t *n)
{
    sqlite3_stmt *st = db__stmt(db, SQL_COUNT);
    if (st == NULL)
        return -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *n = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 0 : -1;
}

static const struct db__col string_cols[] = {{0, DB__TEXT, sizeof(char *)}};
static const struct db__row_type string_rows = DB__ROW_TYPE(char *, string_cols, NULL, NULL);

void db__domains_free(char **v, size_t n)
{
    db__rows_free(&string_rows, v, n);
}

int db__report_domains(struct db *db, int64_t report, char ***domains, size_t *n)
{
    int rc;
    *domains = db__rows_of(db, SQL_DOMAINS, report, &string_rows, SIZE_MAX, n, &rc);
    return rc;
}

static int load_domains(struct db *db, struct report_listing *m)
{
    int rc;
    m->domains =
        db__rows_of(db, SQL_DOMAINS_SHOWN, m->id, &string_rows, SIZE_MAX, &m->n_domains, &rc);
    return rc;
}

static void clear_listing_domains(void *m)
{
    db__domains_free(((struct report_listing *)m)->domains,
                     ((struct report_listing *)m)->n_domains);
}

#define LISTING(field, kind) DB__COL(struct report_listing, field, kind)
static const struct db__col listing_cols[] = {
    LISTING(id, I64),           LISTING(organization_name, TEXT),
    LISTING(report_id, TEXT),   LISTING(contact_info, TEXT),
    LISTING(source, TEXT),      LISTING(start, I64),
    LISTING(end, I64),          LISTING(received, I64),
    LISTING(successful, I64),   LISTING(failed, I64),
    LISTING(gzip, INT),         LISTING(rawsize, I64),
    LISTING(conflict_of, I64),  LISTING(counted, INT),
    LISTING(conflicts, I64),    LISTING(dkim, TEXT),
    LISTING(dkim_domain, TEXT), LISTING(dkim_detail, TEXT)};
static const struct db__row_type listing_rows =
    DB__ROW_TYPE(struct report_listing, listing_cols, NULL, clear_listing_domains);

void db_report_listing_clear(struct report_listing *m)
{
    if (m == NULL)
        return;
    db__clear_row(&listing_rows, m);
    memset(m, 0, sizeof(*m));
}

void db_report_list_free(struct report_listing *v, size_t n)
{
    db__rows_free(&listing_rows, v, n);
}

int db_report_list(struct db *db, const struct db_report_filter *f, struct report_listing **out,
                   size_t *n)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = db__stmt(db, f->domain ? SQL_LIST_DOM : SQL_LIST);
    if (st == NULL)
        return -1;
    sqlite3_bind_int64(st, 1, f->since);
    sqlite3_bind_int64(st, 2, f->until);
    if (f->domain) /* REPORT_UNATTRIBUTED: the policies stored with no domain ('') */
        sqlite3_bind_text(st, 3, strcmp(f->domain, REPORT_UNATTRIBUTED) ? f->domain : "", -1,
                          SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, f->limit > 0 ? f->limit : INT64_MAX);
    int rc;
    *out = db__rows(st, &listing_rows, SIZE_MAX, NULL, n, &rc);
    for (size_t i = 0; rc == 0 && i < *n; i++)
        rc = load_domains(db, &(*out)[i]);
    if (rc != 0) {
        db_report_list_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

/* Decode a stored JSON array of strings into a malloc'd char* array. */
static char **json_to_strings(const char *text, size_t *n)
{
    *n = 0;
    json_t *a = text ? json_loads(text, 0, NULL) : NULL;
    if (!json_is_array(a) || json_array_size(a) == 0) {
        json_decref(a);
        return NULL;
    }
    char **v = xcalloc(json_array_size(a), sizeof(*v));
    size_t i;
    json_t *e;
    json_array_foreach(a, i, e)
    {
        v[(*n)++] = xstrdup(json_is_string(e) ? json_string_value(e) : "");
    }
    json_decref(a);
    return v;
}

void db_report_clear(struct report *r)
{
    report_clear(r);
}

#define FAILURE(field, kind) DB__COL(struct report_failure, field, kind)
static const struct db__col failure_cols[] = {FAILURE(result_type, TEXT),
                                              FAILURE(sending_mta_ip, TEXT),
                                              FAILURE(receiving_mx_hostname, TEXT),
                                              FAILURE(receiving_mx_helo, TEXT),
                                              FAILURE(receiving_ip, TEXT),
                                              FAILURE(failed_session_count, I64),
                                              FAILURE(additional_information, TEXT),
                                              FAILURE(failure_reason_code, TEXT)};
static const struct db__row_type failure_rows =
    DB__ROW_TYPE(struct report_failure, failure_cols, NULL, NULL);

static int load_failures(struct db *db, int64_t pid, struct report_policy *p)
{
    int rc;
    p->failures = db__rows_of(db, SQL_FAILURES, pid, &failure_rows, SIZE_MAX, &p->n_failures, &rc);
    return rc;
}

static int load_policies(struct db *db, int64_t id, struct report *r)
{
    sqlite3_stmt *st = db__stmt(db, SQL_POLICIES);
    if (st == NULL)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    int64_t *pids = NULL;
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (r->n_policies == cap) {
            cap = cap ? 2 * cap : 2;
            r->policies = xrealloc(r->policies, cap * sizeof(*r->policies));
            pids = xrealloc(pids, cap * sizeof(*pids));
        }
        pids[r->n_policies] = sqlite3_column_int64(st, 0);
        struct report_policy *p = &r->policies[r->n_policies++];
        memset(p, 0, sizeof(*p));
        p->policy_type = db__col_text(st, 1);
        /* '' is a policy that named no policy-domain: NULL, as report_parse leaves it. */
        p->policy_domain = db__col_text(st, 2);
        if (p->policy_domain != NULL && p->policy_domain[0] == '\0') {
            free(p->policy_domain);
            p->policy_domain = NULL;
        }
        p->domain_inferred = sqlite3_column_int(st, 7) != 0;
        p->policy_string =
            json_to_strings((const char *)sqlite3_column_text(st, 3), &p->n_policy_string);
        p->mx_host = json_to_strings((const char *)sqlite3_column_text(st, 4), &p->n_mx_host);
        p->total_successful = sqlite3_column_int64(st, 5);
        p->total_failure = sqlite3_column_int64(st, 6);
    }
    sqlite3_reset(st);
    if (rc == SQLITE_DONE) {
        for (size_t i = 0; i < r->n_policies && rc == SQLITE_DONE; i++)
            if (load_failures(db, pids[i], &r->policies[i]) != 0)
                rc = SQLITE_ERROR;
    }
    free(pids);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int load_raw(struct db *db, int64_t id, void **raw, size_t *rawlen)
{
    sqlite3_stmt *st = db__stmt(db, SQL_RAW);
    if (st == NULL)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        size_t len = (size_t)sqlite3_column_bytes(st, 0);
        const void *b = sqlite3_column_blob(st, 0);
        *raw = xmalloc(len + 1);
        if (len)
            memcpy(*raw, b, len);
        ((char *)*raw)[len] = '\0';
        *rawlen = len;
    }
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 0 : -1;
}

int db_report_get(struct db *db, int64_t id, struct report_listing *meta, struct report *r,
                  void **raw, size_t *rawlen)
{
    memset(meta, 0, sizeof(*meta));
    memset(r, 0, sizeof(*r));
    if (raw) {
        *raw = NULL;
        *rawlen = 0;
    }
    sqlite3_stmt *st = db__stmt(db, SQL_GET);
    if (st == NULL)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        db__read_row(st, &listing_rows, meta);
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return 0;
    if (rc != SQLITE_ROW)
        return -1;
    r->organization_name = xstrdup(meta->organization_name ? meta->organization_name : "");
    r->report_id = xstrdup(meta->report_id ? meta->report_id : "");
    r->contact_info = meta->contact_info ? xstrdup(meta->contact_info) : NULL;
    r->start = (time_t)meta->start;
    r->end = (time_t)meta->end;
    if (load_domains(db, meta) != 0 || load_policies(db, id, r) != 0 ||
        (raw && load_raw(db, id, raw, rawlen) != 0)) {
        db_report_listing_clear(meta);
        db_report_clear(r);
        if (raw) {
            free(*raw);
            *raw = NULL;
        }
        return -1;
    }
    return 1;
}
