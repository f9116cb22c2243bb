/* test_db_reports.c - unit tests of sql/db_reports.c on a temporary database: store once,
 * duplicates, transactions, list filters, get, summary numbers and the schema version. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/unit_test.h"

#include "common/common.h"
#include "reports/reports.h"
#include "sql/db.h"
#include "sql/db_int.h"

#include <jansson.h>
#include <sqlite3.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DAY 86400
#define T0 1704067200 /* 2024-01-01T00:00:00Z */

struct fixture {
    char dir[64];
    char path[128];
    struct db *db;
};

static int setup(void **state)
{
    struct fixture *f = xcalloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/stsd-test-db-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/stsd.db", f->dir);
    char err[256];
    f->db = db_open(f->path, err, sizeof(err));
    if (f->db == NULL) {
        fprintf(stderr, "# db_open: %s\n", err);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    db_close(f->db);
    const char *suffix[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        char p[160];
        snprintf(p, sizeof(p), "%s%s", f->path, suffix[i]);
        unlink(p);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

/* A failure detail to put into a hand-made report. */
struct fd {
    const char *result_type, *mx, *ip;
    int64_t count;
};

static void add_policy(struct report *r, const char *domain, int64_t ok, int64_t failed,
                       const struct fd *fds, size_t nfd)
{
    r->policies = xrealloc(r->policies, (r->n_policies + 1) * sizeof(*r->policies));
    struct report_policy *p = &r->policies[r->n_policies++];
    memset(p, 0, sizeof(*p));
    p->policy_type = xstrdup("sts");
    p->policy_domain = xstrdup(domain);
    p->n_policy_string = 2;
    p->policy_string = xcalloc(2, sizeof(char *));
    p->policy_string[0] = xstrdup("version: STSv1");
    p->policy_string[1] = xstrdup("mode: \"enforce\"");
    p->n_mx_host = 1;
    p->mx_host = xcalloc(1, sizeof(char *));
    p->mx_host[0] = xasprintf("*.%s", domain);
    p->total_successful = ok;
    p->total_failure = failed;
    p->n_failures = nfd;
    p->failures = nfd ? xcalloc(nfd, sizeof(*p->failures)) : NULL;
    for (size_t i = 0; i < nfd; i++) {
        p->failures[i].result_type = xstrdup(fds[i].result_type);
        p->failures[i].receiving_mx_hostname = fds[i].mx ? xstrdup(fds[i].mx) : NULL;
        p->failures[i].receiving_ip = fds[i].ip ? xstrdup(fds[i].ip) : NULL;
        p->failures[i].sending_mta_ip = xstrdup("192.0.2.1");
        p->failures[i].failed_session_count = fds[i].count;
    }
}

static void make_report(struct report *r, const char *org, const char *id, int64_t start)
{
    memset(r, 0, sizeof(*r));
    r->organization_name = xstrdup(org);
    r->report_id = xstrdup(id);
    r->contact_info = xstrdup("tls-reports@sender.example");
    r->start = (time_t)start;
    r->end = (time_t)(start + DAY - 1);
}

/* db_report_store with the report's digest; -1 when it failed. */
static int store_raw(struct db *db, const struct report *r, const void *raw, size_t len,
                     const char *source, int64_t received, struct db_store_result *res)
{
    unsigned char dg[REPORT_DIGEST_LEN];
    report_digest(r, dg);
    struct db_report_origin o = {.source = source, .received = received};
    return db_report_store(db, r, dg, raw, len, &o, res);
}

static int64_t store(struct db *db, const struct report *r, int *dup)
{
    struct db_store_result res;
    static const char raw[] = "{\"raw\":true}";
    assert_int_equal(store_raw(db, r, raw, sizeof(raw) - 1, "file", T0 + 100, &res), 0);
    assert_int_not_equal(res.outcome, DB_STORE_CONFLICT);
    if (dup)
        *dup = res.outcome == DB_STORE_DUPLICATE;
    return res.id;
}

static void test_schema_version(void **state)
{
    struct fixture *f = *state;
    assert_true(db_schema_latest() >= 2);
    assert_int_equal(db_schema_version(f->db), db_schema_latest());
    int64_t n = -1;
    assert_int_equal(db_report_count(f->db, &n), 0);
    assert_int_equal(n, 0);
    /* Opening again runs no migration twice. */
    char err[256];
    struct db *again = db_open(f->path, err, sizeof(err));
    assert_non_null(again);
    assert_int_equal(db_schema_version(again), db_schema_latest());
    db_close(again);
}

static void test_store_duplicate(void **state)
{
    struct fixture *f = *state;
    struct report r;
    make_report(&r, "Google Inc.", "2024-01-01_example.com", T0);
    static const struct fd fds[] = {{"certificate-expired", "mx1.example.com", NULL, 3}};
    add_policy(&r, "example.com", 10, 3, fds, 1);
    int dup;
    int64_t id = store(f->db, &r, &dup);
    assert_true(id > 0);
    assert_int_equal(dup, 0);
    /* The same (organization-name, report-id) again: nothing stored, the existing id. */
    int64_t id2 = store(f->db, &r, &dup);
    assert_int_equal(id2, id);
    assert_int_equal(dup, 1);
    /* Same report-id from another organisation is another report. */
    free(r.organization_name);
    r.organization_name = xstrdup("Microsoft Corporation");
    int64_t id3 = store(f->db, &r, &dup);
    assert_int_equal(dup, 0);
    assert_true(id3 > id);
    int64_t n;
    assert_int_equal(db_report_count(f->db, &n), 0);
    assert_int_equal(n, 2);
    db_report_clear(&r);
}

static void test_transaction_batch(void **state)
{
    struct fixture *f = *state;
    struct report r;
    int dup;
    /* A batch in the caller's transaction, with a duplicate inside it. */
    assert_int_equal(db_begin(f->db), 0);
    for (int i = 0; i < 3; i++) {
        char id[32];
        snprintf(id, sizeof(id), "batch-%d", i % 2);
        make_report(&r, "Org", id, T0);
        add_policy(&r, "example.com", 1, 0, NULL, 0);
        int64_t got = store(f->db, &r, &dup);
        assert_true(got > 0);
        assert_int_equal(dup, i == 2);
        db_report_clear(&r);
    }
    assert_int_equal(db_commit(f->db), 0);
    int64_t n;
    assert_int_equal(db_report_count(f->db, &n), 0);
    assert_int_equal(n, 2);
    /* A rolled-back batch leaves nothing behind. */
    assert_int_equal(db_begin(f->db), 0);
    make_report(&r, "Org", "rolled-back", T0);
    store(f->db, &r, &dup);
    assert_int_equal(dup, 0);
    assert_int_equal(db_rollback(f->db), 0);
    assert_int_equal(db_report_count(f->db, &n), 0);
    assert_int_equal(n, 2);
    /* ... and can be stored afterwards on its own. */
    store(f->db, &r, &dup);
    assert_int_equal(dup, 0);
    assert_int_equal(db_report_count(f->db, &n), 0);
    assert_int_equal(n, 3);
    db_report_clear(&r);
}

/* A report the database refuses (here a trigger, standing in for a full disk or a constraint)
 * fails alone inside the caller's transaction: its partial rows are rolled back, the others
 * commit, and db_errmsg still gives the reason after the savepoint rollback. */
static void test_refused_report_in_batch(void **state)
{
    struct fixture *f = *state;
    sqlite3 *h;
    assert_int_equal(sqlite3_open(f->path, &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h,
                                  "CREATE TRIGGER refuse BEFORE INSERT ON failure_details "
                                  "WHEN NEW.result_type = 'boom' "
                                  "BEGIN SELECT RAISE(ABORT, 'boom refused'); END",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(h);

    struct report r;
    struct db_store_result res;
    static const char raw[] = "{}";
    assert_int_equal(db_begin(f->db), 0);
    make_report(&r, "Org", "good-1", T0);
    add_policy(&r, "example.com", 1, 0, NULL, 0);
    assert_int_equal(store_raw(f->db, &r, raw, 2, "https", T0, &res), 0);
    db_report_clear(&r);
    make_report(&r, "Org", "bad", T0);
    static const struct fd boom[] = {{"certificate-expired", "mx", NULL, 1},
                                     {"boom", "mx", NULL, 1}};
    add_policy(&r, "example.com", 1, 2, boom, 2);
    assert_int_equal(store_raw(f->db, &r, raw, 2, "https", T0, &res), -1);
    assert_non_null(strstr(db_errmsg(f->db), "boom refused"));
    db_report_clear(&r);
    make_report(&r, "Org", "good-2", T0);
    add_policy(&r, "example.com", 1, 0, NULL, 0);
    assert_int_equal(store_raw(f->db, &r, raw, 2, "https", T0, &res), 0);
    db_report_clear(&r);
    assert_int_equal(db_commit(f->db), 0);

    int64_t n;
    assert_int_equal(db_report_count(f->db, &n), 0);
    assert_int_equal(n, 2);
    struct report_summary s = {.since = 0, .until = T0 + DAY};
    assert_int_equal(db_report_summary(f->db, &s), 0);
    assert_int_equal(s.reports, 2);
    assert_int_equal(s.failed, 0);
    assert_int_equal(s.by_result_type.n, 0); /* the refused report's first detail is gone too */
    db_report_summary_clear(&s);

    /* Alone (no caller transaction) the same report fails the same way. */
    make_report(&r, "Org", "bad", T0);
    add_policy(&r, "example.com", 1, 2, boom, 2);
    assert_int_equal(store_raw(f->db, &r, raw, 2, "https", T0, &res), -1);
    assert_non_null(strstr(db_errmsg(f->db), "boom refused"));
    db_report_clear(&r);
    assert_int_equal(db_report_count(f->db, &n), 0);
    assert_int_equal(n, 2);
}

static void test_get_roundtrip(void **state)
{
    struct fixture *f = *state;
    struct report r;
    make_report(&r, "Org \"quoted\"", "rt-1", T0 + 3600);
    free(r.contact_info);
    r.contact_info = NULL;
    static const struct fd fds[] = {{"validation-failure", "Mx1.Example.COM.", "198.51.100.7", 2},
                                    {"x-unknown-type", NULL, NULL, 1}};
    add_policy(&r, "example.com", 5, 3, fds, 2);
    add_policy(&r, "example.net", 7, 0, NULL, 0);
    r.policies[0].failures[0].additional_information = xstrdup("https://x.example/why");
    r.policies[0].failures[0].failure_reason_code = xstrdup("X509_V_ERR 10");
    r.policies[0].failures[0].receiving_mx_helo = xstrdup("mx1");
    const unsigned char gz[] = {0x1f, 0x8b, 0x08, 0x00, 0x01, 0x02, 0x00, 0xff};
    struct db_store_result res;
    assert_int_equal(store_raw(f->db, &r, gz, sizeof(gz), "https", T0 + 7200, &res), 0);
    int64_t id = res.id;

    struct report_listing m;
    struct report g;
    void *raw;
    size_t rawlen;
    assert_int_equal(db_report_get(f->db, id, &m, &g, &raw, &rawlen), 1);
    assert_int_equal(rawlen, sizeof(gz));
    assert_memory_equal(raw, gz, sizeof(gz));
    assert_int_equal(m.gzip, 1);
    assert_int_equal(m.rawsize, sizeof(gz));
    assert_string_equal(m.organization_name, "Org \"quoted\"");
    assert_string_equal(m.report_id, "rt-1");
    assert_null(m.contact_info);
    assert_string_equal(m.source, "https");
    assert_int_equal(m.start, T0 + 3600);
    assert_int_equal(m.end, T0 + 3600 + DAY - 1);
    assert_int_equal(m.received, T0 + 7200);
    assert_int_equal(m.successful, 12);
    assert_int_equal(m.failed, 3);
    assert_int_equal(m.n_domains, 2);
    assert_string_equal(m.domains[0], "example.com");
    assert_string_equal(m.domains[1], "example.net");
    assert_int_equal(g.n_policies, 2);
    assert_string_equal(g.policies[0].policy_type, "sts");
    assert_int_equal(g.policies[0].n_policy_string, 2);
    assert_string_equal(g.policies[0].policy_string[1], "mode: \"enforce\"");
    assert_int_equal(g.policies[0].n_mx_host, 1);
    assert_string_equal(g.policies[0].mx_host[0], "*.example.com");
    assert_int_equal(g.policies[0].n_failures, 2);
    struct report_failure *f0 = &g.policies[0].failures[0];
    assert_string_equal(f0->result_type, "validation-failure");
    assert_string_equal(f0->receiving_mx_hostname, "Mx1.Example.COM."); /* kept as sent */
    assert_string_equal(f0->receiving_ip, "198.51.100.7");
    assert_string_equal(f0->receiving_mx_helo, "mx1");
    assert_string_equal(f0->additional_information, "https://x.example/why");
    assert_string_equal(f0->failure_reason_code, "X509_V_ERR 10");
    assert_int_equal(f0->failed_session_count, 2);
    assert_string_equal(g.policies[0].failures[1].result_type, "x-unknown-type");
    assert_null(g.policies[0].failures[1].receiving_ip);
    assert_int_equal(g.policies[1].total_successful, 7);
    assert_int_equal(g.policies[1].n_failures, 0);
    db_report_listing_clear(&m);
    db_report_clear(&g);
    free(raw);

    /* Without raw, and a missing id. */
    assert_int_equal(db_report_get(f->db, id, &m, &g, NULL, NULL), 1);
    assert_int_equal(m.gzip, 1);
    db_report_listing_clear(&m);
    db_report_clear(&g);
    assert_int_equal(db_report_get(f->db, id + 1000, &m, &g, &raw, &rawlen), 0);
    assert_null(raw);
    db_report_clear(&r);
}

static void test_list_filters(void **state)
{
    struct fixture *f = *state;
    /* Reports starting on days 0..4, alternating domains. */
    for (int i = 0; i < 5; i++) {
        struct report r;
        char id[16];
        snprintf(id, sizeof(id), "day-%d", i);
        make_report(&r, i % 2 ? "B" : "A", id, T0 + i * DAY);
        add_policy(&r, i % 2 ? "b.example" : "a.example", 10 * i, i, NULL, 0);
        if (i == 4)
            add_policy(&r, "b.example", 1, 1, NULL, 0);
        store(f->db, &r, NULL);
        db_report_clear(&r);
    }
    struct report_listing *v;
    size_t n;
    struct db_report_filter all = {.since = T0, .until = T0 + 5 * DAY};
    assert_int_equal(db_report_list(f->db, &all, &v, &n), 0);
    assert_int_equal(n, 5);
    /* newest first, with totals over all policies */
    assert_string_equal(v[0].report_id, "day-4");
    assert_int_equal(v[0].successful, 41);
    assert_int_equal(v[0].failed, 5);
    assert_int_equal(v[0].n_domains, 2);
    assert_string_equal(v[4].report_id, "day-0");
    db_report_list_free(v, n);

    /* [since, until): a report starting exactly at until is out, at since is in. */
    struct db_report_filter win = {.since = T0 + DAY, .until = T0 + 3 * DAY};
    assert_int_equal(db_report_list(f->db, &win, &v, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].report_id, "day-2");
    assert_string_equal(v[1].report_id, "day-1");
    db_report_list_free(v, n);

    struct db_report_filter dom = {.domain = "b.example", .since = 0, .until = T0 + 10 * DAY};
    assert_int_equal(db_report_list(f->db, &dom, &v, &n), 0);
    assert_int_equal(n, 3); /* day-1, day-3, and day-4's second policy */
    assert_string_equal(v[0].report_id, "day-4");
    assert_string_equal(v[2].report_id, "day-1");
    db_report_list_free(v, n);

    struct db_report_filter lim = {.since = 0, .until = T0 + 10 * DAY, .limit = 2};
    assert_int_equal(db_report_list(f->db, &lim, &v, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(v[1].report_id, "day-3");
    db_report_list_free(v, n);

    struct db_report_filter none = {.domain = "c.example", .since = 0, .until = T0 + 10 * DAY};
    assert_int_equal(db_report_list(f->db, &none, &v, &n), 0);
    assert_int_equal(n, 0);
    db_report_list_free(v, n);
}

/* A summary's totals. */
static void totals_are(const struct report_summary *s, int64_t reports, int64_t successful,
                       int64_t failed)
{
    assert_int_equal(s->reports, reports);
    assert_int_equal(s->successful, successful);
    assert_int_equal(s->failed, failed);
}

/* One row of a breakdown: its key and counts. */
static void row_is(const struct report_summary_row *r, const char *key, int64_t reports,
                   int64_t successful, int64_t failed)
{
    assert_string_equal(r->key, key);
    assert_int_equal(r->reports, reports);
    assert_int_equal(r->successful, successful);
    assert_int_equal(r->failed, failed);
}

static const struct report_summary_row *find_row(const struct report_summary_rows *rows,
                                                 const char *key)
{
    for (size_t i = 0; i < rows->n; i++)
        if (strcmp(rows->v[i].key, key) == 0)
            return &rows->v[i];
    fail_msg("no row '%s'", key);
    return NULL;
}

static void test_summary_numbers(void **state)
{
    struct fixture *f = *state;
    struct report r;
    /* R1: Google, day 0, example.com: 100 ok, 5 failed; details 3 expired @ MX1.example.com.,
     *     2 starttls @ ip only. Plus a policy for other.example: 50 ok, 1 failed, 1 unknown. */
    make_report(&r, "Google Inc.", "r1", T0);
    static const struct fd f1[] = {{"certificate-expired", "MX1.example.com.", "192.0.2.9", 3},
                                   {"starttls-not-supported", "", "198.51.100.1", 2}};
    add_policy(&r, "example.com", 100, 5, f1, 2);
    static const struct fd f1b[] = {{"validation-failure", NULL, NULL, 1}};
    add_policy(&r, "other.example", 50, 1, f1b, 1);
    store(f->db, &r, NULL);
    db_report_clear(&r);
    /* R2: Google, day 1, example.com: 200 ok, 4 failed; details sum past the total (6). */
    make_report(&r, "Google Inc.", "r2", T0 + DAY + 7200);
    static const struct fd f2[] = {{"certificate-expired", "mx1.example.com", NULL, 6}};
    add_policy(&r, "example.com", 200, 4, f2, 1);
    store(f->db, &r, NULL);
    db_report_clear(&r);
    /* R3: Microsoft, day 1, example.com: 7 ok. */
    make_report(&r, "Microsoft Corporation", "r3", T0 + DAY);
    add_policy(&r, "example.com", 7, 0, NULL, 0);
    store(f->db, &r, NULL);
    db_report_clear(&r);
    /* R4: outside the window (day 10). */
    make_report(&r, "Google Inc.", "r4", T0 + 10 * DAY);
    add_policy(&r, "example.com", 1000, 1000, NULL, 0);
    store(f->db, &r, NULL);
    db_report_clear(&r);

    struct report_summary s = {.since = T0, .until = T0 + 10 * DAY, .by = REPORT_BY_DAY};
    assert_int_equal(db_report_summary(f->db, &s), 0);
    report_summary_sort(&s);
    totals_are(&s, 3, 357, 10);
    assert_int_equal(s.by_result_type.n, 3);
    row_is(&s.by_result_type.v[0], "certificate-expired", 2, -1, 9);
    assert_int_equal(find_row(&s.by_result_type, "starttls-not-supported")->failed, 2);
    assert_int_equal(find_row(&s.by_result_type, "validation-failure")->failed, 1);
    /* mx: hostname lowercased without the dot; else the IP; else (unknown) */
    assert_int_equal(s.by_mx.n, 3);
    assert_string_equal(s.by_mx.v[0].key, "mx1.example.com");
    assert_int_equal(s.by_mx.v[0].failed, 9);
    assert_int_equal(find_row(&s.by_mx, "198.51.100.1")->failed, 2);
    assert_int_equal(find_row(&s.by_mx, "(unknown)")->failed, 1);
    assert_int_equal(s.by_reporter.n, 2);
    row_is(&s.by_reporter.v[0], "Google Inc.", 2, 350, 10);
    assert_int_equal(find_row(&s.by_reporter, "Microsoft Corporation")->successful, 7);
    /* by day: day 0 = R1, day 1 = R2 + R3 */
    assert_int_equal(s.groups.n, 2);
    row_is(&s.groups.v[0], "2024-01-01", 1, 150, 6);
    row_is(&s.groups.v[1], "2024-01-02", 2, 207, 4);
    db_report_summary_clear(&s);

    /* Domain filter: only example.com policies count. */
    struct report_summary d = {
        .since = T0, .until = T0 + 10 * DAY, .domain = "other.example", .by = REPORT_BY_DOMAIN};
    assert_int_equal(db_report_summary(f->db, &d), 0);
    totals_are(&d, 1, 50, 1);
    assert_int_equal(d.by_result_type.n, 1);
    assert_string_equal(d.by_result_type.v[0].key, "validation-failure");
    assert_int_equal(d.groups.n, 1);
    assert_string_equal(d.groups.v[0].key, "other.example");
    db_report_summary_clear(&d);

    struct report_summary g = {.since = T0, .until = T0 + 10 * DAY, .by = REPORT_BY_DOMAIN};
    assert_int_equal(db_report_summary(f->db, &g), 0);
    report_summary_sort(&g);
    assert_int_equal(g.groups.n, 2);
    row_is(&g.groups.v[0], "example.com", 3, 307, 9); /* 9 failed before 1 */
    db_report_summary_clear(&g);

    /* An empty window. */
    struct report_summary e = {.since = 0, .until = T0};
    assert_int_equal(db_report_summary(f->db, &e), 0);
    totals_are(&e, 0, 0, 0);
    assert_int_equal(e.by_mx.n, 0);
    db_report_summary_clear(&e);
}

/* A no-policy-found policy that named no policy-domain (Postfix 3.10): stored '' and
 * unattributed, or with the channel's domain and domain_inferred; read back as parsed (NULL);
 * counted in the totals and grouped as REPORT_UNATTRIBUTED; listings say which is which. */
static void test_unattributed(void **state)
{
    struct fixture *f = *state;
    struct report r;
    struct db_store_result res;
    /* U: by e-mail, no TLS-Report-Domain: an unattributed policy (4 ok, 1 failed) and one
     * for example.com (10 ok). */
    make_report(&r, "mail.sender.example", "u1", T0);
    static const struct fd fu[] = {{"starttls-not-supported", "mx.example.org", NULL, 1}};
    add_policy(&r, "x", 4, 1, fu, 1);
    free(r.policies[0].policy_type);
    r.policies[0].policy_type = xstrdup("no-policy-found");
    free(r.policies[0].policy_domain);
    r.policies[0].policy_domain = NULL;
    add_policy(&r, "example.com", 10, 0, NULL, 0);
    report_attribute(&r, NULL); /* no channel domain: stays unattributed */
    assert_null(r.policies[0].policy_domain);
    assert_int_equal(store_raw(f->db, &r, "{}", 2, "email", T0 + 10, &res), 0);
    int64_t u = res.id;
    db_report_clear(&r);
    /* A: the same shape by HTTPS to mta-sts.example.test, attributed (7 ok). */
    make_report(&r, "mail.sender.example", "a1", T0 + 60);
    add_policy(&r, "x", 7, 0, NULL, 0);
    free(r.policies[0].policy_domain);
    r.policies[0].policy_domain = NULL;
    report_attribute(&r, "Example.TEST.");
    assert_string_equal(r.policies[0].policy_domain, "example.test");
    assert_int_equal(r.policies[0].domain_inferred, 1);
    assert_int_equal(store_raw(f->db, &r, "{}", 2, "https", T0 + 70, &res), 0);
    int64_t a = res.id;
    db_report_clear(&r);

    /* The rows: '' with domain_inferred 0, the domain with 1, a named one 0. */
    sqlite3 *h;
    assert_int_equal(sqlite3_open(f->path, &h), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(h,
                                        "SELECT group_concat(policy_domain || '=' || "
                                        "domain_inferred, ',') FROM (SELECT * FROM "
                                        "report_policies ORDER BY id)",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0),
                        "=0,example.com=0,example.test=1");
    sqlite3_finalize(st);
    sqlite3_close(h);

    /* Read back: NULL as report_parse leaves it; the inferred flag kept. */
    struct report_listing m;
    struct report g;
    assert_int_equal(db_report_get(f->db, u, &m, &g, NULL, NULL), 1);
    assert_null(g.policies[0].policy_domain);
    assert_int_equal(g.policies[0].domain_inferred, 0);
    assert_string_equal(g.policies[1].policy_domain, "example.com");
    assert_int_equal(m.n_domains, 2);
    assert_string_equal(m.domains[0], REPORT_UNATTRIBUTED);
    assert_string_equal(m.domains[1], "example.com");
    char *text = NULL;
    size_t tlen = 0;
    FILE *out = open_memstream(&text, &tlen);
    report_detail_text(&m, &g, out);
    fclose(out);
    assert_non_null(strstr(text, "policy 1: no-policy-found (unattributed), 4 successful"));
    free(text);
    db_report_listing_clear(&m);
    db_report_clear(&g);
    assert_int_equal(db_report_get(f->db, a, &m, &g, NULL, NULL), 1);
    assert_string_equal(g.policies[0].policy_domain, "example.test");
    assert_int_equal(g.policies[0].domain_inferred, 1);
    assert_int_equal(m.n_domains, 1);
    assert_string_equal(m.domains[0], "example.test (from the mta-sts host)");
    json_t *j = report_detail_json(&m, &g);
    json_t *p0 = json_array_get(json_object_get(j, "policies"), 0);
    assert_true(json_is_true(json_object_get(p0, "domain_inferred")));
    assert_string_equal(json_string_value(json_object_get(p0, "domain_from")), "the mta-sts host");
    json_decref(j);
    db_report_listing_clear(&m);
    db_report_clear(&g);

    /* Totals count the unattributed policy; by domain it is a group of its own. */
    struct report_summary s = {.since = T0, .until = T0 + DAY, .by = REPORT_BY_DOMAIN};
    assert_int_equal(db_report_summary(f->db, &s), 0);
    report_summary_sort(&s);
    totals_are(&s, 2, 21, 1);
    assert_int_equal(s.groups.n, 3);
    row_is(find_row(&s.groups, REPORT_UNATTRIBUTED), REPORT_UNATTRIBUTED, 1, 4, 1);
    row_is(find_row(&s.groups, "example.test"), "example.test", 1, 7, 0);
    row_is(find_row(&s.groups, "example.com"), "example.com", 1, 10, 0);
    db_report_summary_clear(&s);
    /* The inferred domain is a domain like any other for --domain and the list filter. */
    struct report_summary d = {.since = T0, .until = T0 + DAY, .domain = "example.test"};
    assert_int_equal(db_report_summary(f->db, &d), 0);
    totals_are(&d, 1, 7, 0);
    db_report_summary_clear(&d);
    struct db_report_filter lf = {.since = T0, .until = T0 + DAY, .domain = "example.test"};
    struct report_listing *v;
    size_t n;
    assert_int_equal(db_report_list(f->db, &lf, &v, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(v[0].id, a);
    db_report_list_free(v, n);
    /* REPORT_UNATTRIBUTED as the filter: the policies that named none. */
    struct report_summary un = {.since = T0, .until = T0 + DAY, .domain = REPORT_UNATTRIBUTED};
    assert_int_equal(db_report_summary(f->db, &un), 0);
    totals_are(&un, 1, 4, 1);
    assert_int_equal(un.by_result_type.n, 1);
    assert_string_equal(un.by_result_type.v[0].key, "starttls-not-supported");
    db_report_summary_clear(&un);
    lf.domain = REPORT_UNATTRIBUTED;
    assert_int_equal(db_report_list(f->db, &lf, &v, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(v[0].id, u);
    db_report_list_free(v, n);
}

static void test_clamp_and_no_policies(void **state)
{
    struct fixture *f = *state;
    struct report r;
    make_report(&r, "Big", "huge", T0);
    add_policy(&r, "example.com", (int64_t)1 << 53, 0, NULL, 0);
    add_policy(&r, "example.com", (int64_t)1 << 53, 0, NULL, 0);
    store(f->db, &r, NULL);
    db_report_clear(&r);
    make_report(&r, "Empty", "no-policies", T0);
    store(f->db, &r, NULL);
    db_report_clear(&r);
    struct report_summary s = {.since = T0, .until = T0 + DAY};
    assert_int_equal(db_report_summary(f->db, &s), 0);
    assert_int_equal(s.reports, 2); /* a report without policies still counts */
    assert_int_equal(s.successful, 2 * DB_REPORT_MAX_COUNT);
    db_report_summary_clear(&s);
}

/* Batched inserts: 10 transactions of 500 reports. The speed (target >= 10,000 reports/s,
 * measured by bench/, not here) is printed as a diagnostic only: a shared machine or a
 * sanitizer build must not make this test flaky. */
static void test_batch_speed(void **state)
{
    struct fixture *f = *state;
    enum { N = 5000, BATCH = 500 };
    struct timespec a, b, ca, cb;
    clock_gettime(CLOCK_MONOTONIC, &a);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ca);
    for (int i = 0; i < N; i += BATCH) {
        assert_int_equal(db_begin(f->db), 0);
        for (int j = i; j < i + BATCH; j++) {
            struct report r;
            char id[32];
            snprintf(id, sizeof(id), "speed-%d", j);
            make_report(&r, "Google Inc.", id, T0 + (j % 30) * DAY);
            static const struct fd fds[] = {{"certificate-expired", "mx1.example.com", NULL, 1}};
            add_policy(&r, "example.com", 100, 1, fds, 1);
            int dup;
            store(f->db, &r, &dup);
            assert_int_equal(dup, 0);
            db_report_clear(&r);
        }
        assert_int_equal(db_commit(f->db), 0);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cb);
    double secs = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    double cpu = (double)(cb.tv_sec - ca.tv_sec) + (double)(cb.tv_nsec - ca.tv_nsec) / 1e9;
    printf("# stored %d reports in %.3f s (%.3f s CPU): %.0f reports/s\n", N, secs, cpu, N / secs);
    int64_t n;
    assert_int_equal(db_report_count(f->db, &n), 0);
    assert_int_equal(n, N);
}

/* The same (organization-name, report-id) with other content is stored and
 * marked; the same content is a duplicate; summaries count the group once. */
static void test_conflicting_copies(void **state)
{
    struct fixture *f = *state;
    struct report forged, genuine;
    make_report(&forged, "Google Inc.", "2024-01-01_example.com", T0);
    static const struct fd ff[] = {{"certificate-expired", "mx1.example.com", NULL, 50}};
    add_policy(&forged, "example.com", 0, 50, ff, 1);
    make_report(&genuine, "Google Inc.", "2024-01-01_example.com", T0);
    static const struct fd gf[] = {{"starttls-not-supported", "mx1.example.com", NULL, 2}};
    add_policy(&genuine, "example.com", 100, 2, gf, 1);

    struct db_store_result a, b, c, d;
    static const char raw[] = "{}";
    assert_int_equal(store_raw(f->db, &forged, raw, 2, "https", T0, &a), 0);
    assert_int_equal(a.outcome, DB_STORE_STORED);
    assert_int_equal(store_raw(f->db, &genuine, raw, 2, "https", T0, &b), 0);
    assert_int_equal(b.outcome, DB_STORE_CONFLICT);
    assert_true(b.id > a.id);
    assert_int_equal(b.conflict_of, a.id);
    /* each copy again: a duplicate of itself */
    assert_int_equal(store_raw(f->db, &genuine, raw, 2, "email", T0, &c), 0);
    assert_int_equal(c.outcome, DB_STORE_DUPLICATE);
    assert_int_equal(c.id, b.id);
    assert_int_equal(store_raw(f->db, &forged, raw, 2, "email", T0, &c), 0);
    assert_int_equal(c.outcome, DB_STORE_DUPLICATE);
    assert_int_equal(c.id, a.id);
    /* a third content: a conflict of the first copy too */
    genuine.policies[0].total_successful = 101;
    assert_int_equal(store_raw(f->db, &genuine, raw, 2, "https", T0, &d), 0);
    assert_int_equal(d.outcome, DB_STORE_CONFLICT);
    assert_int_equal(d.conflict_of, a.id);

    struct report_listing *v;
    size_t n;
    struct db_report_filter all = {.since = 0, .until = T0 + DAY};
    assert_int_equal(db_report_list(f->db, &all, &v, &n), 0);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) {
        if (v[i].id == a.id) {
            assert_int_equal(v[i].conflict_of, 0);
            assert_int_equal(v[i].conflicts, 2);
            assert_int_equal(v[i].counted, 1);
        } else {
            assert_int_equal(v[i].conflict_of, a.id);
            assert_int_equal(v[i].conflicts, 0);
            assert_int_equal(v[i].counted, 0);
        }
    }
    db_report_list_free(v, n);

    /* Summaries: one copy per group, and the copies left out counted as conflicts. */
    for (int dom = 0; dom < 2; dom++) {
        struct report_summary s = {.since = 0,
                                   .until = T0 + DAY,
                                   .domain = dom ? "example.com" : NULL,
                                   .by = REPORT_BY_DAY};
        assert_int_equal(db_report_summary(f->db, &s), 0);
        totals_are(&s, 1, 0, 50);
        assert_int_equal(s.conflicts, 2);
        assert_int_equal(s.by_result_type.n, 1);
        assert_string_equal(s.by_result_type.v[0].key, "certificate-expired");
        assert_int_equal(s.by_mx.n, 1);
        assert_int_equal(s.by_mx.v[0].failed, 50);
        assert_int_equal(s.by_reporter.n, 1);
        assert_int_equal(s.by_reporter.v[0].reports, 1);
        assert_int_equal(s.groups.n, 1);
        assert_int_equal(s.groups.v[0].reports, 1);
        db_report_summary_clear(&s);
    }

    /* The alert pass sees the conflicts once, after a high-water mark. */
    struct db_report_conflict *cv;
    int64_t max_id;
    assert_int_equal(db_report_conflicts_after(f->db, 0, 100, &cv, &n, &max_id), 0);
    assert_int_equal(n, 2);
    assert_int_equal(cv[0].id, b.id);
    assert_int_equal(cv[0].conflict_of, a.id);
    assert_string_equal(cv[0].organization_name, "Google Inc.");
    assert_string_equal(cv[0].report_id, "2024-01-01_example.com");
    assert_string_equal(cv[0].source, "https");
    assert_int_equal(cv[0].n_domains, 1);
    assert_string_equal(cv[0].domains[0], "example.com");
    assert_int_equal(max_id, d.id);
    db_report_conflicts_free(cv, n);
    assert_int_equal(db_report_conflicts_after(f->db, max_id, 100, &cv, &n, &max_id), 0);
    assert_int_equal(n, 0);
    db_report_conflicts_free(cv, n);
    db_report_clear(&forged);
    db_report_clear(&genuine);
}

static int64_t rows_of(struct db *db, const char *path, const char *sql)
{
    (void)db;
    sqlite3 *h;
    assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return n;
}

/* [reports] keep: old reports go with every row and their raw bytes, in batches; recent
 * ones stay; a first copy stays while a later conflicting copy is recent. */
static void test_prune(void **state)
{
    struct fixture *f = *state;
    static const struct fd fds[] = {{"certificate-expired", "mx1.example.com", NULL, 1},
                                    {"validation-failure", "mx2.example.com", NULL, 1}};
    for (int i = 0; i < 10; i++) {
        struct report r;
        char id[16];
        snprintf(id, sizeof(id), "old-%d", i);
        make_report(&r, "Org", id, T0 + i * 3600); /* ends on day 0/1 */
        add_policy(&r, "example.com", 1, 2, fds, 2);
        add_policy(&r, "example.net", 1, 0, NULL, 0);
        store(f->db, &r, NULL);
        db_report_clear(&r);
    }
    struct report r;
    make_report(&r, "Org", "recent", T0 + 100 * DAY);
    add_policy(&r, "example.com", 1, 2, fds, 2);
    int64_t recent = store(f->db, &r, NULL);
    db_report_clear(&r);
    /* an old first copy with a recent conflicting copy */
    make_report(&r, "Org", "grouped", T0);
    add_policy(&r, "example.com", 1, 0, NULL, 0);
    int64_t first = store(f->db, &r, NULL);
    r.end = (time_t)(T0 + 100 * DAY);
    struct db_store_result res;
    assert_int_equal(store_raw(f->db, &r, "{}", 2, "https", T0, &res), 0);
    assert_int_equal(res.outcome, DB_STORE_CONFLICT);
    db_report_clear(&r);

    int64_t cutoff = T0 + 50 * DAY, n = -1, rows = -1, total = 0, all_rows = 0;
    int batches = 0;
    do {
        assert_int_equal(db_report_prune(f->db, cutoff, 4, &n, &rows), 0);
        assert_true(n <= 4);
        total += n;
        all_rows += rows;
        batches++;
    } while (n > 0);
    assert_int_equal(total, 10);
    assert_int_equal(batches, 4); /* 4 + 4 + 2 + the empty one */
    /* per report: itself, raw, 2 policies, 2 details */
    assert_int_equal(all_rows, 10 * 6);
    int64_t count;
    assert_int_equal(db_report_count(f->db, &count), 0);
    assert_int_equal(count, 3);
    assert_int_equal(rows_of(f->db, f->path, "SELECT COUNT(*) FROM report_raw"), 3);
    assert_int_equal(rows_of(f->db, f->path, "SELECT COUNT(*) FROM report_policies"), 3);
    assert_int_equal(rows_of(f->db, f->path, "SELECT COUNT(*) FROM failure_details"), 2);
    struct report_listing m;
    struct report g;
    assert_int_equal(db_report_get(f->db, recent, &m, &g, NULL, NULL), 1);
    db_report_listing_clear(&m);
    db_report_clear(&g);
    assert_int_equal(db_report_get(f->db, first, &m, &g, NULL, NULL), 1);
    db_report_listing_clear(&m);
    db_report_clear(&g);
    /* once the later copy is old too, the group goes */
    assert_int_equal(db_report_prune(f->db, T0 + 200 * DAY, 100, &n, &rows), 0);
    assert_int_equal(n, 3);
    assert_int_equal(db_report_count(f->db, &count), 0);
    assert_int_equal(count, 0);
}

/* A database of schema 3 (reports UNIQUE on organization_name, report_id) keeps every row
 * through migration 004, which rebuilds the table: nothing cascades. */
static void test_migration_keeps_rows(void **state)
{
    char dir[64], path[128];
    snprintf(dir, sizeof(dir), "/tmp/stsd-test-mig-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/stsd.db", dir);
    sqlite3 *h;
    assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h, "PRAGMA foreign_keys=ON", NULL, NULL, NULL), SQLITE_OK);
    for (int i = 0; i < 3; i++)
        assert_int_equal(sqlite3_exec(h, db__migrations[i].sql, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(
            h,
            "PRAGMA user_version = 3;"
            "INSERT INTO reports VALUES (7, 'Org', 'r', NULL, 100, 200, 300, 'file', 5, 1);"
            "INSERT INTO report_raw VALUES (7, 0, x'7b7d');"
            "INSERT INTO report_policies VALUES (1, 7, 100, 'sts', 'example.com', '[]',"
            " '[]', 5, 1);"
            "INSERT INTO failure_details VALUES (1, 1, 7, 100, 'certificate-expired',"
            " NULL, NULL, NULL, NULL, 1, NULL, NULL);",
            NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(h);
    char err[256];
    struct db *db = db_open(path, err, sizeof(err));
    assert_non_null(db);
    assert_int_equal(db_schema_version(db), db_schema_latest());
    struct report_listing m;
    struct report g;
    assert_int_equal(db_report_get(db, 7, &m, &g, NULL, NULL), 1);
    assert_int_equal(m.counted, 1);
    assert_int_equal(m.conflict_of, 0);
    assert_int_equal(g.n_policies, 1);
    assert_int_equal(g.policies[0].n_failures, 1);
    db_report_listing_clear(&m);
    db_report_clear(&g);
    /* a row stored before digests were kept: a copy of it is taken as a duplicate */
    struct report r;
    make_report(&r, "Org", "r", 100);
    struct db_store_result res;
    assert_int_equal(store_raw(db, &r, "{}", 2, "file", 400, &res), 0);
    assert_int_equal(res.outcome, DB_STORE_DUPLICATE);
    assert_int_equal(res.id, 7);
    db_report_clear(&r);
    /* foreign keys are on after the migrations: pruning cascades */
    int64_t n, rows;
    assert_int_equal(db_report_prune(db, 1000, 10, &n, &rows), 0);
    assert_int_equal(n, 1);
    assert_int_equal(rows, 4);
    db_close(db);
    const char *suffix[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        char p[160];
        snprintf(p, sizeof(p), "%s%s", path, suffix[i]);
        unlink(p);
    }
    rmdir(dir);
}

UNIT_TESTS(NULL, cmocka_unit_test_setup_teardown(test_schema_version, setup, teardown),
           cmocka_unit_test_setup_teardown(test_store_duplicate, setup, teardown),
           cmocka_unit_test_setup_teardown(test_transaction_batch, setup, teardown),
           cmocka_unit_test_setup_teardown(test_refused_report_in_batch, setup, teardown),
           cmocka_unit_test_setup_teardown(test_get_roundtrip, setup, teardown),
           cmocka_unit_test_setup_teardown(test_list_filters, setup, teardown),
           cmocka_unit_test_setup_teardown(test_summary_numbers, setup, teardown),
           cmocka_unit_test_setup_teardown(test_unattributed, setup, teardown),
           cmocka_unit_test_setup_teardown(test_clamp_and_no_policies, setup, teardown),
           cmocka_unit_test_setup_teardown(test_batch_speed, setup, teardown),
           cmocka_unit_test_setup_teardown(test_conflicting_copies, setup, teardown),
           cmocka_unit_test_setup_teardown(test_prune, setup, teardown),
           cmocka_unit_test(test_migration_keeps_rows))
