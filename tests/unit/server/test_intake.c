/* test_intake.c - unit tests of the report intake internals: the per-address token buckets
 * (server/ratelimit.c) and the writer thread with its queue and replies (server/writer.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/unit_test.h"

#include "server/intake_int.h"
#include "common/common.h"
#include "sql/db.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------- ratelimit */

static struct sockaddr_in v4(const char *a)
{
    struct sockaddr_in s = {.sin_family = AF_INET};
    inet_pton(AF_INET, a, &s.sin_addr);
    return s;
}

static struct sockaddr_in6 v6(const char *a)
{
    struct sockaddr_in6 s = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, a, &s.sin6_addr);
    return s;
}

#define TAKE(rl, sa, ms) srv_ratelimit_take((rl), (const struct sockaddr *)&(sa), (ms))

static void test_bucket_burst_and_refill(void **state)
{
    struct srv_ratelimit *rl = srv_ratelimit_new(1.0, NULL, 0);
    struct sockaddr_in a = v4("192.0.2.1");
    assert_int_equal(TAKE(rl, a, 0), 0); /* new: the base rate (1 token), not the burst */
    assert_int_equal(TAKE(rl, a, 0), 1);
    for (int i = 0; i < 10; i++)
        assert_int_equal(TAKE(rl, a, 10000), 0); /* known for 10 s: burst 10 x 1/s */
    assert_int_equal(TAKE(rl, a, 10000), 1);     /* empty: one token in 1 s */
    assert_int_equal(TAKE(rl, a, 10500), 1);     /* half a token: still 1 s (rounded up) */
    assert_int_equal(TAKE(rl, a, 11000), 0);     /* refilled one */
    assert_int_equal(TAKE(rl, a, 11000), 1);
    assert_int_equal(TAKE(rl, a, 70000), 0); /* long idle: full again, capped at the burst */
    for (int i = 0; i < 9; i++)
        assert_int_equal(TAKE(rl, a, 70000), 0);
    assert_int_equal(TAKE(rl, a, 70000), 1);
    srv_ratelimit_free(rl);
}

static void test_retry_after_slow_rate(void **state)
{
    struct srv_ratelimit *rl = srv_ratelimit_new(0.2, NULL, 0); /* burst 2, starts with 1 */
    struct sockaddr_in a = v4("192.0.2.9");
    assert_int_equal(TAKE(rl, a, 0), 0);
    assert_int_equal(TAKE(rl, a, 0), 5);
    assert_int_equal(TAKE(rl, a, 4000), 1);
    assert_int_equal(TAKE(rl, a, 5000), 0);
    srv_ratelimit_free(rl);
}

static void test_addresses_apart_exempt_off(void **state)
{
    struct cfg_cidr ex[2];
    assert_int_equal(config_parse_cidr("127.0.0.0/8", &ex[0]), 0);
    assert_int_equal(config_parse_cidr("2001:db8:ffff::/48", &ex[1]), 0);
    struct srv_ratelimit *rl = srv_ratelimit_new(0.1, ex, 2); /* burst 1 */
    struct sockaddr_in a = v4("198.51.100.1"), b = v4("198.51.100.2"), lo = v4("127.0.0.2");
    assert_int_equal(TAKE(rl, a, 0), 0);
    assert_int_equal(TAKE(rl, a, 0), 10);
    assert_int_equal(TAKE(rl, b, 0), 0); /* its own bucket */
    for (int i = 0; i < 100; i++)
        assert_int_equal(TAKE(rl, lo, 0), 0); /* exempt */
    struct sockaddr_in6 x1 = v6("2001:db8:1:2::1"), x2 = v6("2001:db8:1:2::ffff"),
                        y = v6("2001:db8:1:3::1"), e = v6("2001:db8:ffff:1::1");
    assert_int_equal(TAKE(rl, x1, 0), 0);
    assert_int_equal(TAKE(rl, x2, 0), 10); /* the same /64 */
    assert_int_equal(TAKE(rl, y, 0), 0);   /* another /64 */
    for (int i = 0; i < 100; i++)
        assert_int_equal(TAKE(rl, e, 0), 0);
    struct sockaddr_in6 mapped = v6("::ffff:198.51.100.1"), mlo = v6("::ffff:127.0.0.1");
    assert_int_equal(TAKE(rl, mapped, 0), 10); /* IPv4-mapped is the IPv4 address */
    assert_int_equal(TAKE(rl, mlo, 0), 0);     /* ... also for the exempt check */
    srv_ratelimit_free(rl);

    rl = srv_ratelimit_new(0, NULL, 0); /* rate_limit = 0: off */
    for (int i = 0; i < 1000; i++)
        assert_int_equal(TAKE(rl, a, 0), 0);
    srv_ratelimit_free(rl);
    srv_ratelimit_free(NULL);
}

static void test_bounded_table(void **state)
{
    /* Far more addresses than slots: the table does not grow (it is a fixed array), and an
     * address that keeps sending stays limited (it is never the least recently used entry
     * of its set). One token per 1000 s, a burst of 1; the clock advances 1 ms per address. */
    struct srv_ratelimit *rl = srv_ratelimit_new(0.001, NULL, 0);
    struct sockaddr_in hot = v4("203.0.113.7");
    assert_int_equal(TAKE(rl, hot, 0), 0);
    for (uint32_t i = 0; i < 20 * SRV_RATELIMIT_SLOTS; i++) {
        struct sockaddr_in s = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x0a000000u + i)};
        assert_int_equal(TAKE(rl, s, i), 0);
        if (i % 64 == 0)
            assert_int_not_equal(TAKE(rl, hot, i), 0);
    }
    srv_ratelimit_free(rl);
}

/* ---------------------------------------------------------------- writer */

struct collect {
    h2o_multithread_receiver_t receiver;
    struct srv_job *jobs[64];
    int n;
};

static void on_reply(h2o_multithread_receiver_t *r, h2o_linklist_t *messages)
{
    struct collect *c = H2O_STRUCT_FROM_MEMBER(struct collect, receiver, r);
    while (!h2o_linklist_is_empty(messages)) {
        h2o_multithread_message_t *m =
            H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        h2o_linklist_unlink(&m->link);
        assert_true(c->n < 64);
        c->jobs[c->n++] = H2O_STRUCT_FROM_MEMBER(struct srv_job, super, m);
    }
}

struct wfix {
    char dir[64], db[96];
    h2o_evloop_t *loop;
    h2o_multithread_queue_t *queue;
    struct collect c;
};

static int wsetup(void **state)
{
    struct wfix *f = xcalloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/stsd-test-intake-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->db, sizeof(f->db), "%s/stsd.db", f->dir);
    f->loop = h2o_evloop_create();
    f->queue = h2o_multithread_create_queue(f->loop);
    h2o_multithread_register_receiver(f->queue, &f->c.receiver, on_reply);
    *state = f;
    return 0;
}

static int wteardown(void **state)
{
    struct wfix *f = *state;
    for (int i = 0; i < f->c.n; i++)
        srv_job_free(f->c.jobs[i]);
    h2o_multithread_unregister_receiver(f->queue, &f->c.receiver);
    h2o_multithread_destroy_queue(f->queue);
    h2o_evloop_destroy(f->loop);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* A job for a report with this id, end day and failure details (each 1 session). */
static struct srv_job *job_with(struct wfix *f, const char *report_id, const char *day,
                                int successful, int details)
{
    char *fd = xstrdup("");
    for (int i = 0; i < details; i++) {
        char *n =
            xasprintf("%s%s{\"result-type\":\"%s\",\"receiving-ip\":\"192.0.2.%d\","
                      "\"failed-session-count\":1}",
                      fd, i ? "," : "", i % 2 ? "certificate-expired" : "validation-failure", i);
        free(fd);
        fd = n;
    }
    char *json = xasprintf(
        "{\"organization-name\":\"Unit Sender\",\"date-range\":{\"start-datetime\":"
        "\"%sT00:00:00Z\",\"end-datetime\":\"%sT23:59:59Z\"},\"report-id\":\"%s\","
        "\"policies\":[{\"policy\":{\"policy-type\":\"sts\",\"policy-string\":[\"version: "
        "STSv1\"],\"policy-domain\":\"a.test\",\"mx-host\":[\"mx.a.test\"]},\"summary\":{"
        "\"total-successful-session-count\":%d,\"total-failure-session-count\":%d},"
        "\"failure-details\":[%s]}]}",
        day, day, report_id, successful, details, fd);
    free(fd);
    struct srv_job *j = xcalloc(1, sizeof(*j));
    struct report_error err;
    assert_int_equal(report_parse(json, strlen(json), &j->report, &err), 0);
    j->raw = json;
    j->rawlen = strlen(json);
    j->received = 1700000000;
    j->reply = &f->c.receiver;
    return j;
}

static struct srv_job *job(struct wfix *f, const char *report_id)
{
    return job_with(f, report_id, "2026-11-01", 1, 0);
}

/* Run the loop until n replies have come (or 30 s). */
static void wait_replies(struct wfix *f, int n)
{
    uint64_t deadline = h2o_now(f->loop) + 30000;
    while (f->c.n < n && h2o_now(f->loop) < deadline)
        h2o_evloop_run(f->loop, 100);
    assert_int_equal(f->c.n, n);
}

/* A writer on the fixture's database (queue_cap, batch_cap), which must open. */
static struct srv_writer *writer(struct wfix *f, size_t queue_cap, size_t batch_cap)
{
    char err[256];
    struct srv_writer *w = srv_writer_new(f->db, queue_cap, batch_cap, err, sizeof(err));
    if (w == NULL)
        fail_msg("srv_writer_new: %s", err);
    return w;
}

/* The reports stored in the database at path, read by a connection of its own. */
static int64_t stored_count(const char *path)
{
    char err[256];
    struct db *db = db_open(path, err, sizeof(err));
    assert_non_null(db);
    int64_t n = -1;
    assert_int_equal(db_report_count(db, &n), 0);
    db_close(db);
    return n;
}

static struct srv_job *reply_for(struct wfix *f, const char *report_id)
{
    for (int i = 0; i < f->c.n; i++)
        if (strcmp(f->c.jobs[i]->report.report_id, report_id) == 0)
            return f->c.jobs[i];
    fail_msg("no reply for %s", report_id);
    return NULL;
}

static void test_writer_stores_and_answers(void **state)
{
    struct wfix *f = *state;
    struct srv_writer *w = writer(f, 16, 2);
    assert_int_equal(srv_writer_submit(w, job(f, "u-1")), 0);
    assert_int_equal(srv_writer_submit(w, job(f, "u-2")), 0);
    assert_int_equal(srv_writer_submit(w, job(f, "u-3")), 0);
    assert_int_equal(srv_writer_submit(w, job(f, "u-1")), 0); /* the same report again */
    wait_replies(f, 4);
    struct srv_job *j1 = NULL, *dup = NULL;
    for (int i = 0; i < 4; i++) {
        struct srv_job *j = f->c.jobs[i];
        if (strcmp(j->report.report_id, "u-1") == 0 && j->result == SRV_JOB_STORED)
            j1 = j;
        else if (strcmp(j->report.report_id, "u-1") == 0)
            dup = j;
    }
    assert_non_null(j1);
    assert_non_null(dup);
    assert_int_equal(dup->result, SRV_JOB_DUPLICATE);
    assert_int_equal(dup->id, j1->id);
    assert_int_equal(reply_for(f, "u-2")->result, SRV_JOB_STORED);
    assert_int_equal(reply_for(f, "u-3")->result, SRV_JOB_STORED);
    assert_int_equal(srv_writer_queued(w), 0);
    assert_int_equal(srv_writer_failing(w), 0);
    srv_writer_free(w);

    /* Committed: another connection sees exactly three reports. */
    assert_int_equal(stored_count(f->db), 3);
}

static void test_writer_queue_full(void **state)
{
    struct wfix *f = *state;
    char err[256];
    struct srv_writer *w = writer(f, 4, 8);
    /* Another connection holds the write lock: the writer takes the first job and waits
     * in BEGIN (busy timeout), the next four fill the queue, the sixth is refused. */
    struct db *lock = db_open(f->db, err, sizeof(err));
    assert_non_null(lock);
    assert_int_equal(db_begin(lock), 0);
    assert_int_equal(srv_writer_submit(w, job(f, "q-0")), 0);
    struct timespec ts = {0, 500000000}; /* the writer takes it and blocks in BEGIN */
    nanosleep(&ts, NULL);
    char id[16];
    for (int i = 1; i <= 4; i++) {
        snprintf(id, sizeof(id), "q-%d", i);
        assert_int_equal(srv_writer_submit(w, job(f, id)), 0);
    }
    struct srv_job *extra = job(f, "q-5");
    assert_int_equal(srv_writer_submit(w, extra), -1); /* full: the caller keeps the job */
    assert_int_equal(srv_writer_queued(w), 5);
    srv_job_free(extra);
    assert_int_equal(db_rollback(lock), 0);
    wait_replies(f, 5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(f->c.jobs[i]->result, SRV_JOB_STORED);
    db_close(lock);
    srv_writer_free(w);
}

static void test_writer_stop_drains(void **state)
{
    struct wfix *f = *state;
    char id[16];
    struct srv_writer *w = writer(f, 64, 4);
    for (int i = 0; i < 20; i++) {
        snprintf(id, sizeof(id), "s-%d", i);
        assert_int_equal(srv_writer_submit(w, job(f, id)), 0);
    }
    srv_writer_free(w); /* stores everything queued before it returns */
    wait_replies(f, 20);
    for (int i = 0; i < 20; i++)
        assert_int_equal(f->c.jobs[i]->result, SRV_JOB_STORED);
    assert_int_equal(stored_count(f->db), 20);
}

static int64_t count_of(const char *path, const char *report_id, int64_t *rows)
{
    char err[256];
    struct db *db = db_open(path, err, sizeof(err));
    assert_non_null(db);
    struct report_listing *v;
    size_t n;
    struct db_report_filter all = {.since = 0, .until = INT64_MAX};
    /* One snapshot for the list and the gets: the writer may prune in between otherwise. */
    assert_int_equal(db_begin(db), 0);
    assert_int_equal(db_report_list(db, &all, &v, &n), 0);
    int64_t found = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(v[i].report_id, report_id) != 0)
            continue;
        found++;
        struct report_listing m;
        struct report r;
        assert_int_equal(db_report_get(db, v[i].id, &m, &r, NULL, NULL), 1);
        if (rows)
            *rows = (int64_t)r.policies[0].n_failures;
        db_report_listing_clear(&m);
        db_report_clear(&r);
    }
    db_report_list_free(v, n);
    db_rollback(db);
    db_close(db);
    return found;
}

/* Conflicting copies, merged detail rows, pruning past keep and the free-space check. */
static void test_writer_limits(void **state)
{
    struct wfix *f = *state;
    struct srv_writer *w = writer(f, 16, 4);
    srv_writer_set_limits(w, 3, 0, 0);
    assert_int_equal(srv_writer_submit(w, job_with(f, "c-1", "2026-11-01", 5, 0)), 0);
    wait_replies(f, 1);
    assert_int_equal(srv_writer_submit(w, job_with(f, "c-1", "2026-11-01", 6, 0)), 0);
    assert_int_equal(srv_writer_submit(w, job_with(f, "m-1", "2026-11-01", 0, 40)), 0);
    assert_int_equal(srv_writer_submit(w, job_with(f, "old-1", "2020-01-01", 1, 1)), 0);
    wait_replies(f, 4);
    struct srv_job *first = f->c.jobs[0], *second = reply_for(f, "c-1");
    for (int i = 1; i < 4; i++)
        if (strcmp(f->c.jobs[i]->report.report_id, "c-1") == 0)
            second = f->c.jobs[i];
    assert_int_equal(first->result, SRV_JOB_STORED);
    assert_int_equal(second->result, SRV_JOB_CONFLICT);
    assert_int_equal(second->conflict_of, first->id);
    assert_true(second->id > first->id);
    assert_int_equal(reply_for(f, "m-1")->result, SRV_JOB_STORED);
    assert_int_equal(reply_for(f, "m-1")->prepared, 1);
    int64_t rows = -1;
    assert_int_equal(count_of(f->db, "m-1", &rows), 1);
    assert_int_equal(rows, 3); /* 2 pairs (policy, result-type): 1 kept + 2 merged rows */
    assert_int_equal(count_of(f->db, "c-1", NULL), 2);
    assert_int_equal(count_of(f->db, "old-1", NULL), 1);

    /* keep = 400 days: the 2020 report goes at once, the others stay */
    srv_writer_set_limits(w, 3, 400 * 86400, 0);
    for (int i = 0; i < 100 && count_of(f->db, "old-1", NULL) != 0; i++) {
        struct timespec ts = {0, 50000000};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(count_of(f->db, "old-1", NULL), 0);
    assert_int_equal(count_of(f->db, "c-1", NULL), 2);

    /* min_free: off, then more than any disk has, then 1 byte: statvfs at most once a second */
    assert_int_equal(srv_writer_disk_low(w), 0);
    srv_writer_set_limits(w, 3, 0, UINT64_MAX);
    assert_int_equal(srv_writer_disk_low(w), 1);
    srv_writer_set_limits(w, 3, 0, 1);
    assert_int_equal(srv_writer_disk_low(w), 1); /* the last look is less than 1 s old */
    struct timespec ts = {1, 100000000};
    nanosleep(&ts, NULL);
    assert_int_equal(srv_writer_disk_low(w), 0);
    srv_writer_free(w);
}

static void test_writer_bad_path(void **state)
{
    char err[256] = "";
    assert_null(srv_writer_new("/nonexistent-dir/x/stsd.db", 4, 4, err, sizeof(err)));
    assert_true(strlen(err) > 0);
    srv_writer_free(NULL);
}

/* ---------------------------------------------------------------- parse pool */

static int hosted_a(const char *domain)
{
    return strcmp(domain, "a.test") == 0;
}

/* A job as the handler hands it to the pool: only the body, nothing parsed. */
static struct srv_job *raw_job(struct wfix *f, struct report_budget *b, const char *body)
{
    struct srv_job *j = xcalloc(1, sizeof(*j));
    j->raw = xstrdup(body);
    j->rawlen = strlen(body);
    j->received = 1700000000;
    j->reply = &f->c.receiver;
    j->budget = b;
    return j;
}

static char *report_json(const char *id, const char *domain, const char *extra)
{
    return xasprintf("{\"organization-name\":\"Pool Sender\",\"date-range\":{\"start-datetime\":"
                     "\"2026-11-01T00:00:00Z\",\"end-datetime\":\"2026-11-01T23:59:59Z\"},"
                     "\"report-id\":\"%s\",\"policies\":[{\"policy\":{\"policy-type\":\"sts\","
                     "\"policy-domain\":\"%s\"},\"summary\":{\"total-successful-session-count\":1,"
                     "\"total-failure-session-count\":0}}]%s}",
                     id, domain, extra);
}

/* Every outcome of the pool comes back to the loop thread's receiver: stored through the
 * writer, or a status from the pool itself; what the jobs hold is all that stays reserved. */
static void test_parse_pool(void **state)
{
    struct wfix *f = *state;
    struct stsd_config cfg;
    config_defaults(&cfg);
    cfg.accept_any = 0;
    cfg.max_values = 100;
    struct srv_writer *w = writer(f, 16, 8);
    struct report_budget budget, tiny;
    report_budget_init(&budget, 1u << 20);
    report_budget_init(&tiny, 100);
    struct srv_intake_conf conf = {
        .cfg = &cfg, .writer = w, .budget = &budget, .is_hosted = hosted_a};
    struct srv_parse_pool *p = srv_parse_pool_new(2, &conf);

    char pad[400] = ",\"x\":[";
    for (int i = 0; i < 100; i++)
        strcat(pad, i ? ",0" : "0");
    strcat(pad, "]");
    /* 200,000 null values (~1 MB of JSON): the large-report threads refuse it. */
    char *many = xmalloc(5 * 200000 + 16);
    strcpy(many, ",\"y\":[null");
    for (int i = 1; i < 200000; i++)
        memcpy(many + 10 + 5 * (i - 1), ",null", 5);
    strcpy(many + 10 + 5 * (200000 - 1), "]");
    char *bodies[] = {report_json("ok", "a.test", ""),    report_json("other", "b.test", ""),
                      xstrdup("{\"organization-name\":"), report_json("many", "a.test", pad),
                      report_json("tight", "a.test", ""), report_json("big", "a.test", many)};
    free(many);
    int want[] = {0, 422, 400, 413, 503, 413};
    struct srv_job *jobs[6];
    for (int i = 0; i < 6; i++) {
        jobs[i] = raw_job(f, i == 4 ? &tiny : &budget, bodies[i]);
        srv_parse_pool_submit(p, jobs[i]);
    }
    wait_replies(f, 6);
    for (int k = 0; k < 1000 && srv_parse_pool_queued(p) > 0; k++)
        usleep(1000); /* a thread counts its job done just after sending it back */
    assert_int_equal(srv_parse_pool_queued(p), 0);
    for (int i = 0; i < 6; i++) {
        if (jobs[i]->status != want[i])
            fail_msg("job %d: status %d, expected %d (%s)", i, jobs[i]->status, want[i],
                     jobs[i]->error);
        report_budget_give(jobs[i]->budget, jobs[i]->held);
    }
    assert_int_equal(jobs[0]->result, SRV_JOB_STORED);
    assert_true(jobs[0]->id > 0);
    assert_non_null(strstr(jobs[1]->error, "b.test"));
    assert_non_null(strstr(jobs[3]->error, "max_values (100)"));
    assert_int_equal(jobs[4]->retry_after, 1);
    assert_int_equal(report_budget_used(&budget), 0);
    assert_int_equal(report_budget_used(&tiny), 0);
    srv_parse_pool_free(p);
    srv_writer_free(w);
    srv_parse_pool_free(NULL);
    for (int i = 0; i < 6; i++)
        free(bodies[i]);
    config_free(&cfg);
}

static int quiet_logs(void **state)
{
    (void)state;
    log_set_level(LOG_ERROR);
    return 0;
}

UNIT_TESTS(quiet_logs, cmocka_unit_test(test_bucket_burst_and_refill),
           cmocka_unit_test(test_retry_after_slow_rate),
           cmocka_unit_test(test_addresses_apart_exempt_off), cmocka_unit_test(test_bounded_table),
           cmocka_unit_test_setup_teardown(test_writer_stores_and_answers, wsetup, wteardown),
           cmocka_unit_test_setup_teardown(test_writer_queue_full, wsetup, wteardown),
           cmocka_unit_test_setup_teardown(test_writer_stop_drains, wsetup, wteardown),
           cmocka_unit_test_setup_teardown(test_writer_limits, wsetup, wteardown),
           cmocka_unit_test(test_writer_bad_path),
           cmocka_unit_test_setup_teardown(test_parse_pool, wsetup, wteardown))
