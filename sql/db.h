/*
 * db.h - the only interface to storage (SQLite today; every statement stays behind
 * db_ so that a PostgreSQL backend is one more file). Bound parameters only.
 *
 * A struct db is used by one thread at a time. The server's writer thread owns one;
 * the CLI opens its own. WAL mode, synchronous=NORMAL (committed transactions survive a
 * process crash), busy_timeout so the server and `stsd reports ingest` can both write.
 */
#ifndef STSD_DB_H
#define STSD_DB_H

#include <stddef.h>
#include <stdint.h>

struct db;

/* db.c */
/* Open (creating if needed) the database at path and run pending migrations.
 * NULL on error with a message in err. */
struct db *db_open(const char *path, char *err, size_t errlen);
/* Open an existing database for reading only: no migration, no pragma that writes, every
 * change fails (SQLITE_READONLY). Tables of migrations it has not had yet are missing, so
 * their queries fail. NULL with a message in err (also when the file does not exist). */
struct db *db_open_readonly(const char *path, char *err, size_t errlen);
void db_close(struct db *db); /* db_close(NULL) is a no-op */
int db_begin(struct db *db);  /* BEGIN IMMEDIATE; 0 or -1 */
int db_commit(struct db *db);
int db_rollback(struct db *db);
/* Last error message of this connection. */
const char *db_errmsg(struct db *db);
/* Current schema version (PRAGMA user_version) and the newest one this build knows. */
int db_schema_version(struct db *db);
int db_schema_latest(void);
/* "ok" or the first problem from PRAGMA integrity_check, into buf. 0 ok, -1 problem. */
int db_integrity_check(struct db *db, char *buf, size_t bufsz);

/* db_policy.c - policy_versions: every distinct content of a domain's policy file. */
struct db_policy_version {
    char id[33];
    char sha256_hex[65];
    int64_t first_seen; /* unix time the content was first recorded */
};
/*
 * Look up the version of `domain` with this content hash; record it with a new id
 * (policy_new_id, unique per domain) if it is new. The id is written to id_out; *is_new
 * tells whether it was inserted. 0 or -1.
 */
int db_policy_version_record(struct db *db, const char *domain, const unsigned char sha256[32],
                             int64_t now, char id_out[33], int *is_new);
/* The id of this content of `domain` without recording anything (read-only use).
 * 1 found (id_out filled), 0 not recorded, -1 error. */
int db_policy_version_find(struct db *db, const char *domain, const unsigned char sha256[32],
                           char id_out[33]);
/* Every version of a domain, newest first; *out malloc'd (free()). 0 or -1. */
int db_policy_versions(struct db *db, const char *domain, struct db_policy_version **out,
                       size_t *n);

/* db_reports.c - TLS-RPT reports (RFC 8460): stored once per (organization-name, report-id),
 * listed, shown and summarised. The structs come from reports/reports.h (data only). */
struct report;
struct report_listing;
struct report_summary;

/*
 * Store one parsed report with its original bytes (`raw`, gzip or JSON exactly as received;
 * gzip is recognised by its magic) and its content digest (report_digest, taken before
 * report_merge_details; see report_prepare_store) and its origin (below). Works inside a
 * transaction opened by the caller (db_begin ... db_commit: the writer thread batches this
 * way; a failed report is rolled back alone through a savepoint and the batch goes on) and
 * alone (then it is its own transaction). Outcomes, in *res:
 *   DB_STORE_STORED     a new (organization-name, report-id): stored as res->id.
 *   DB_STORE_DUPLICATE  a copy with the same digest is stored (or one stored before digests
 *                       were kept): nothing written, res->id is that copy.
 *   DB_STORE_CONFLICT   copies with other content are stored: this one is stored too as
 *                       res->id, marked as a conflict of the group's first copy
 *                       res->conflict_of and left out of summaries (db_report_summary).
 * Session counts are clamped to DB_REPORT_MAX_COUNT. 0 or -1 (db_errmsg says why).
 */
#define DB_REPORT_MAX_COUNT ((int64_t)1 << 40)
enum db_store_outcome { DB_STORE_STORED = 0, DB_STORE_DUPLICATE, DB_STORE_CONFLICT };
struct db_store_result {
    enum db_store_outcome outcome;
    int64_t id;
    int64_t conflict_of; /* DB_STORE_CONFLICT: the first stored copy; else 0 */
};
/* Where a report came from: source "https", "email" or "file"; received the unix time of
 * arrival; for e-mail the DKIM result of its message (dkim NULL otherwise: "pass",
 * "unaligned", "fail", "none" or "temperror"; dkim_domain the d= that decided it, dkim_detail
 * why; both may be NULL). A copy with dkim "pass" from source "email" wins its conflict group
 * (SPEC §9): it is the counted copy. */
struct db_report_origin {
    const char *source;
    int64_t received;
    const char *dkim, *dkim_domain, *dkim_detail;
};
int db_report_store(struct db *db, const struct report *r, const unsigned char digest[32],
                    const void *raw, size_t rawlen, const struct db_report_origin *origin,
                    struct db_store_result *res);

/* Which reports a list covers: start-datetime in [since, until), optionally only reports
 * with a policy for `domain` (lowercase), newest first, at most `limit` (0 = all). */
struct db_report_filter {
    const char *domain;
    int64_t since, until;
    int64_t limit;
};
/* *out malloc'd, release with db_report_list_free. 0 or -1. */
int db_report_list(struct db *db, const struct db_report_filter *f, struct report_listing **out,
                   size_t *n);
void db_report_list_free(struct report_listing *v, size_t n);
/*
 * One report: its row (meta), its policies and failure details (r; policy_string and mx_host
 * as stored) and, if raw is not NULL, the original bytes (malloc'd into *raw, *rawlen).
 * Release with db_report_listing_clear(meta), db_report_clear(r) and free(*raw).
 * 1 found, 0 no such report, -1 error.
 */
int db_report_get(struct db *db, int64_t id, struct report_listing *meta, struct report *r,
                  void **raw, size_t *rawlen);
void db_report_listing_clear(struct report_listing *meta);
void db_report_clear(struct report *r);
/*
 * Fill the result part of a summary whose query part (since, until, domain, by) the caller
 * set (semantics in reports/reports.h, summary.c). Rows are unsorted: report_summary_sort.
 * Release with db_report_summary_clear. 0 or -1.
 */
int db_report_summary(struct db *db, struct report_summary *s);
void db_report_summary_clear(struct report_summary *s);
/* Number of stored reports. 0 or -1. */
int db_report_count(struct db *db, int64_t *n);

/* db_prune.c - the life of stored reports: pruning ([reports] keep) and conflict alerts. */
/*
 * Delete at most `batch` reports whose end-datetime is before `cutoff` (unix seconds), with
 * their raw bytes, policies and failure details (ON DELETE CASCADE), oldest first, in one
 * transaction of its own (not inside db_begin). The first copy of a conflict group stays
 * while a later copy is still recent. *reports gets the reports deleted (0: nothing is left
 * to prune), *rows every row deleted with them. 0 or -1.
 */
int db_report_prune(struct db *db, int64_t cutoff, int64_t batch, int64_t *reports, int64_t *rows);
/* Copies stored as conflicts with an id after `after_id`, oldest first, at most `limit`;
 * *max_id gets the newest report id (after_id when there is none; with out NULL only
 * that). Release with db_report_conflicts_free. 0 or -1. */
struct db_report_conflict {
    int64_t id, conflict_of;
    char *organization_name, *report_id, *source;
    char **domains; /* distinct policy-domains of the new copy */
    size_t n_domains;
};
int db_report_conflicts_after(struct db *db, int64_t after_id, int64_t limit,
                              struct db_report_conflict **out, size_t *n, int64_t *max_id);
void db_report_conflicts_free(struct db_report_conflict *v, size_t n);

/* db_checks.c - results of the scheduled self-checks (003_checks.sql). */
#define DB_CHECK_MAX_FINDINGS 1000 /* findings stored per run */
#define DB_CHECK_MAX_ROWS 10000    /* rows any one query returns */
struct db_check_finding {
    char *finding;  /* the stable id, e.g. "mx.cert.expired" */
    char *severity; /* "error", "warning" or "info" */
    char *subject;
    char *message;
};
struct db_check {
    int64_t id;
    char *domain;
    int64_t started; /* unix seconds */
    int64_t duration_ms;
    int status; /* the checker's exit status (0, 1, 2, 69) */
    int errors, warnings, infos;
    char *dns_id; /* the _mta-sts id DNS published; NULL when none */
    char *result; /* the checker's JSON; NULL when not asked for */
};
/* Store one run with its findings in its own transaction (not inside db_begin). The new
 * row's id goes to *id (may be NULL). 0 or -1. */
int db_check_store(struct db *db, const struct db_check *c, const struct db_check_finding *f,
                   size_t n, int64_t *id);
/* The newest run of `domain` (NULL: of every domain, ordered by domain), with its result.
 * *out malloc'd, release with db_checks_free. 0 or -1; *n == 0 when there is none. */
int db_check_latest(struct db *db, const char *domain, struct db_check **out, size_t *n);
/* The newest run of every domain without its result JSON (domain, started, counts, dns_id),
 * ordered by domain, at most DB_CHECK_BRIEF_MAX rows: one query for a dashboard of every
 * hosted domain. Release with db_checks_free. 0 or -1. */
#define DB_CHECK_BRIEF_MAX 1000000
int db_check_latest_brief(struct db *db, struct db_check **out, size_t *n);
/* Runs of `domain` (NULL = all), newest first, at most `limit` (<= 0: DB_CHECK_MAX_ROWS);
 * result JSON only if with_result. 0 or -1. */
int db_check_history(struct db *db, const char *domain, int64_t limit, int with_result,
                     struct db_check **out, size_t *n);
/* The findings of one run in the checker's order; release with db_check_findings_free. */
int db_check_findings(struct db *db, int64_t check_id, struct db_check_finding **out, size_t *n);
/* Keep only the newest `keep` runs of a domain. 0 or -1. */
int db_check_prune(struct db *db, const char *domain, int64_t keep);
void db_checks_free(struct db_check *v, size_t n);
void db_check_findings_free(struct db_check_finding *v, size_t n);
/* Reports stored after report id `after_id`, summed per policy domain (for the failure-rate
 * alert). *max_id gets the newest report id (after_id when there is none); with out NULL
 * only that. 0 or -1. */
struct db_new_reports {
    char *domain;
    int64_t reports, successful, failed;
};
/* keep (may be NULL) chooses the domains returned, before the DB_CHECK_MAX_ROWS cap. */
int db_check_new_reports(struct db *db, int64_t after_id, struct db_new_reports **out, size_t *n,
                         int64_t *max_id, int (*keep)(void *ctx, const char *domain),
                         void *keep_ctx);
void db_new_reports_free(struct db_new_reports *v, size_t n);
/* Failed sessions of all stored failure details per (policy-domain, result-type), all time,
 * ordered by domain (the /metrics series; one query whatever the number of domains). */
struct db_failed_by_type {
    char *domain;
    char *result_type;
    int64_t failed;
};
int db_check_failed_by_type(struct db *db, struct db_failed_by_type **out, size_t *n);
void db_failed_by_type_free(struct db_failed_by_type *v, size_t n);
/* The sums /metrics starts from: reports with id in (after_id, upto_id] (only those not
 * stored over https when not_https), streamed to the callbacks: the report count once, then
 * sessions per policy domain, then failed sessions per (policy domain, result type as
 * stored). The range bounds the cost. 0 or -1. */
struct db_report_sums_cb {
    void *ctx;
    void (*reports)(void *ctx, int64_t n);
    void (*sessions)(void *ctx, const char *domain, int64_t successful, int64_t failed);
    void (*failures)(void *ctx, const char *domain, const char *result_type, int64_t failed);
};
int db_check_report_sums(struct db *db, int64_t after_id, int64_t upto_id, int not_https,
                         struct db_report_sums_cb *cb);
/* The newest run of one domain: id, started and the counts only (domain, dns_id and result
 * stay NULL), by one index seek. 1 found, 0 none, -1 error. */
int db_check_latest_counts(struct db *db, const char *domain, struct db_check *out);
/* The newest report id (0 when there is none). 0 or -1. */
int db_check_max_report_id(struct db *db, int64_t *max_id);

/* ---------------------------------------------------------------- db_advise.c */

/* What `stsd policy advise` and the API's enforce gate decide from: the domain's reports in
 * [since, until) grouped by day into the caller's *s (s->groups.n = days with reports;
 * unsorted), its latest check (nchk 0 or 1) and that check's findings. Release with
 * db_advise_facts_clear (also after -1; it clears *s too). */
struct db_advise_facts {
    struct report_summary *s;
    struct db_check *chk;
    size_t nchk;
    struct db_check_finding *f;
    size_t nf;
};
int db_advise_facts(struct db *db, const char *domain, int64_t since, int64_t until,
                    struct report_summary *s, struct db_advise_facts *out);
void db_advise_facts_clear(struct db_advise_facts *a);

/* db_audit.c - the audit and withdrawals tables (005_hosted.sql). */
struct db_audit {
    int64_t id, at;
    char *actor, *action, *domain;
    char *old_id, *new_id, *detail; /* NULL when not applicable */
};
/* Append one row (id is ignored; the new row's id goes to *id, which may be NULL). 0 or -1. */
int db_audit_add(struct db *db, const struct db_audit *row, int64_t *id);
/* Newest first, at most `limit` rows (<= 0: DB_CHECK_MAX_ROWS), only `domain` when not NULL.
 * *out malloc'd, release with db_audit_free. 0 or -1. */
int db_audit_list(struct db *db, const char *domain, int64_t limit, struct db_audit **out,
                  size_t *n);
void db_audit_free(struct db_audit *v, size_t n);

struct db_withdrawal {
    char domain[254];
    int64_t started, until;
    char old_id[33]; /* "" when the withdrawn content had no id */
};
/* Start (or restart) the withdrawal of w->domain. 0 or -1. */
int db_withdrawal_put(struct db *db, const struct db_withdrawal *w);
/* The withdrawal of one domain. 1 found, 0 none, -1 error. */
int db_withdrawal_get(struct db *db, const char *domain, struct db_withdrawal *out);
/* End the withdrawal of a domain (no row: nothing to do). 0 or -1. */
int db_withdrawal_delete(struct db *db, const char *domain);
/* Withdrawals whose `until` is at most `due` (INT64_MAX: all), ordered by domain; there is
 * at most one row per hosted domain. *out malloc'd (free()). 0 or -1. */
int db_withdrawals(struct db *db, int64_t due, struct db_withdrawal **out, size_t *n);

/* ---------------------------------------------------------------- db_acme.c */

/* acme_state (006_acme.sql): the ACME scheduler's bookkeeping of one hosted domain's
 * certificate and the CLI's renewal request. Fields as hosted_acme (hosted/hosted.h). */
struct db_acme {
    char *domain;
    char state[12];
    int failures;
    int64_t next_attempt, last_attempt, last_success, not_after;
    char *serial, *last_error, *account; /* NULL when none */
    int request;
    int64_t requested_at;
};
/* Every row, sorted by domain, at most DB_CHECK_BRIEF_MAX. *out malloc'd, release with
 * db_acme_free. 0 or -1. */
int db_acme_list(struct db *db, struct db_acme **out, size_t *n);
/* One domain's row. 1 found, 0 none (*out zeroed), -1 error. Release with db_acme_clear. */
int db_acme_get(struct db *db, const char *domain, struct db_acme *out);
/* Insert or replace the row of a->domain. A request made after the caller read the row (the
 * stored requested_at is newer than a->requested_at) is kept, so that the scheduler writing
 * back what it read never loses a `stsd certs renew` that came meanwhile. 0 or -1. */
int db_acme_put(struct db *db, const struct db_acme *a);
/* Ask for a renewal of `domain`: request = max(the pending request, `request`), requested_at
 * = now; a domain without a row gets one (state ""). 0 or -1. */
int db_acme_request(struct db *db, const char *domain, int request, int64_t now);
void db_acme_free(struct db_acme *v, size_t n);
void db_acme_clear(struct db_acme *a); /* the strings of one row; zeroes it */

#endif
