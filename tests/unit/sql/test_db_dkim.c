/* test_db_dkim.c - unit tests of the DKIM side of sql/db_reports.c: the result stored and
 * read back, a DKIM-verified e-mail copy winning its conflict group (not taken by a later
 * pass), and a pass recorded on a stored duplicate. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/unit_test.h"

#include "common/common.h"
#include "reports/reports.h"
#include "sql/db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char dir[64];

static struct db *open_db(void)
{
    snprintf(dir, sizeof(dir), "/tmp/stsd-test-dkim-XXXXXX");
    assert_non_null(mkdtemp(dir));
    char *path = xasprintf("%s/stsd.db", dir), err[256];
    struct db *db = db_open(path, err, sizeof(err));
    free(path);
    assert_non_null(db);
    return db;
}

static void close_db(struct db *db)
{
    db_close(db);
    char *cmd = xasprintf("rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    free(cmd);
}

/* One copy of report "r1" of Reporter, whose content differs by `ok` sessions, stored from
 * source with DKIM result dkim (NULL: not e-mail) of domain d. */
static struct db_store_result put(struct db *db, int ok, const char *source, const char *dkim,
                                  const char *d)
{
    char *json = xasprintf(
        "{\"organization-name\":\"Reporter\",\"report-id\":\"r1\",\"contact-info\":\"x@r.test\","
        "\"date-range\":{\"start-datetime\":\"2026-11-01T00:00:00Z\",\"end-datetime\":"
        "\"2026-11-01T23:59:59Z\"},\"policies\":[{\"policy\":{\"policy-type\":\"sts\","
        "\"policy-domain\":\"a.test\"},\"summary\":{\"total-successful-session-count\":%d,"
        "\"total-failure-session-count\":0}}]}",
        ok);
    struct report r;
    struct report_error err;
    assert_int_equal(report_parse(json, strlen(json), &r, &err), 0);
    unsigned char dg[REPORT_DIGEST_LEN];
    report_prepare_store(&r, 1000, dg);
    struct db_report_origin o = {.source = source,
                                 .received = 1796000000,
                                 .dkim = dkim,
                                 .dkim_domain = d,
                                 .dkim_detail = dkim && strcmp(dkim, "fail") == 0 ? "bad" : NULL};
    struct db_store_result res;
    assert_int_equal(db_report_store(db, &r, dg, json, strlen(json), &o, &res), 0);
    report_clear(&r);
    free(json);
    return res;
}

/* "id:counted:dkim" of every stored copy, by id. */
static char *copies(struct db *db)
{
    struct report_listing *v;
    size_t n;
    struct db_report_filter all = {.since = 0, .until = INT64_MAX};
    assert_int_equal(db_report_list(db, &all, &v, &n), 0);
    char *out = xstrdup("");
    for (size_t i = n; i-- > 0;) { /* newest first: turn it around */
        char *s = xasprintf("%s%s%lld:%d:%s", out, *out ? " " : "", (long long)v[i].id,
                            v[i].counted, v[i].dkim ? v[i].dkim : "-");
        free(out);
        out = s;
    }
    db_report_list_free(v, n);
    return out;
}

#define COPIES(db, want)                                                                           \
    do {                                                                                           \
        char *got_ = copies(db);                                                                   \
        assert_string_equal(got_, want);                                                           \
        free(got_);                                                                                \
    } while (0)

static void test_stored_and_read(void **state)
{
    (void)state;
    struct db *db = open_db();
    struct db_store_result a = put(db, 1, "email", "fail", "reporter.test");
    struct report_listing m;
    struct report r;
    assert_int_equal(db_report_get(db, a.id, &m, &r, NULL, NULL), 1);
    assert_string_equal(m.dkim, "fail");
    assert_string_equal(m.dkim_domain, "reporter.test");
    assert_string_equal(m.dkim_detail, "bad");
    db_report_listing_clear(&m);
    report_clear(&r);
    struct db_store_result b = put(db, 2, "file", NULL, NULL);
    assert_int_equal(db_report_get(db, b.id, &m, &r, NULL, NULL), 1);
    assert_null(m.dkim);
    assert_null(m.dkim_domain);
    assert_null(m.dkim_detail);
    db_report_listing_clear(&m);
    report_clear(&r);
    close_db(db);
}

static void test_pass_wins_conflict(void **state)
{
    (void)state;
    struct db *db = open_db();
    /* A forged unsigned copy first, then one failing: the first is counted. */
    assert_int_equal(put(db, 1, "email", "none", NULL).outcome, DB_STORE_STORED);
    assert_int_equal(put(db, 2, "https", NULL, NULL).outcome, DB_STORE_CONFLICT);
    assert_int_equal(put(db, 3, "email", "unaligned", "other.test").outcome, DB_STORE_CONFLICT);
    COPIES(db, "1:1:none 2:0:- 3:0:unaligned");
    /* The signed genuine copy wins the group. */
    struct db_store_result g = put(db, 4, "email", "pass", "reporter.test");
    assert_int_equal(g.outcome, DB_STORE_CONFLICT);
    assert_int_equal(g.conflict_of, 1);
    COPIES(db, "1:0:none 2:0:- 3:0:unaligned 4:1:pass");
    /* A later passing copy does not take it. */
    assert_int_equal(put(db, 5, "email", "pass", "reporter.test").outcome, DB_STORE_CONFLICT);
    COPIES(db, "1:0:none 2:0:- 3:0:unaligned 4:1:pass 5:0:pass");
    /* Summaries count the winner: 4 successful sessions, 4 copies left out. */
    struct report_summary s = {.since = 0, .until = INT64_MAX, .by = REPORT_BY_DAY};
    assert_int_equal(db_report_summary(db, &s), 0);
    assert_int_equal(s.reports, 1);
    assert_int_equal(s.successful, 4);
    assert_int_equal(s.conflicts, 4);
    db_report_summary_clear(&s);
    close_db(db);
}

static void test_duplicate_records_pass(void **state)
{
    (void)state;
    struct db *db = open_db();
    /* The genuine content first by HTTPS (counted), a forged copy, then the genuine one in a
     * forged-first group: the second content arrives by HTTPS, then again by signed e-mail. */
    put(db, 1, "https", NULL, NULL);
    put(db, 2, "https", NULL, NULL);
    COPIES(db, "1:1:- 2:0:-");
    struct db_store_result d = put(db, 2, "email", "pass", "reporter.test");
    assert_int_equal(d.outcome, DB_STORE_DUPLICATE);
    assert_int_equal(d.id, 2);
    COPIES(db, "1:0:- 2:1:pass");
    struct report_listing m;
    struct report r;
    assert_int_equal(db_report_get(db, 2, &m, &r, NULL, NULL), 1);
    assert_string_equal(m.source, "https");
    assert_string_equal(m.dkim_domain, "reporter.test");
    db_report_listing_clear(&m);
    report_clear(&r);
    /* A duplicate without a pass changes nothing; a pass on the other copy does not take the
     * group from the earlier pass. */
    assert_int_equal(put(db, 1, "email", "fail", "reporter.test").outcome, DB_STORE_DUPLICATE);
    COPIES(db, "1:0:- 2:1:pass");
    assert_int_equal(put(db, 1, "email", "pass", "reporter.test").outcome, DB_STORE_DUPLICATE);
    COPIES(db, "1:0:pass 2:1:pass");
    close_db(db);
}

UNIT_TESTS(NULL, cmocka_unit_test(test_stored_and_read), cmocka_unit_test(test_pass_wins_conflict),
           cmocka_unit_test(test_duplicate_records_pass))
