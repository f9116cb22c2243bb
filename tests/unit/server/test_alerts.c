/* test_alerts.c - unit tests of the /metrics report counters (the bounded result_type label
 * mapping, the load from a real temporary database for hosted domains only, the writer's
 * hook), the self-check slots spread over an interval, which body a full webhook queue
 * drops, the checker's hosted facts read through hosted/, "check now" (stored or not) and
 * the ACME rows cached for /metrics and the overview. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "server/admin_int.h"
#include "server/server.h"
#include "server/server_int.h"
#include "checker/checker.h"
#include "common/common.h"
#include "common/config.h"
#include "hosted/hosted.h"
#include "../hosted/hosted_test.h"
#include "reports/reports.h"
#include "sql/db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static void test_result_types(void **state)
{
    static const char *const rfc[] = {"starttls-not-supported", "certificate-host-mismatch",
                                      "certificate-expired",    "certificate-not-trusted",
                                      "validation-failure",     "tlsa-invalid",
                                      "dnssec-invalid",         "dane-required",
                                      "sts-policy-fetch-error", "sts-policy-invalid",
                                      "sts-webpki-invalid"};
    for (int i = 0; i < 11; i++) {
        assert_int_equal(srv__metrics_result_type(rfc[i]), i);
        assert_string_equal(srv__metrics_result_type_name(i), rfc[i]);
    }
    assert_int_equal(SRV_RESULT_TYPES, 12);
    assert_string_equal(srv__metrics_result_type_name(11), "other");
    assert_int_equal(srv__metrics_result_type("Certificate-Expired"), 2);
    assert_int_equal(srv__metrics_result_type("made-up-type-1"), 11);
    assert_int_equal(srv__metrics_result_type(""), 11);
    assert_int_equal(srv__metrics_result_type(NULL), 11);
    assert_int_equal(srv__metrics_result_type("certificate-expired "), 11);
    assert_string_equal(srv__metrics_result_type_name(-1), "other");
    assert_string_equal(srv__metrics_result_type_name(12), "other");
}

static void test_slots(void **state)
{
    /* 1,000 domains in 60 s: one every 60 ms, the last one before the interval ends */
    assert_int_equal(srv__selfcheck_slot_ms(5000, 60000, 0, 1000), 5000);
    assert_int_equal(srv__selfcheck_slot_ms(5000, 60000, 1, 1000), 5060);
    assert_int_equal(srv__selfcheck_slot_ms(5000, 60000, 500, 1000), 35000);
    assert_int_equal(srv__selfcheck_slot_ms(5000, 60000, 999, 1000), 64940);
    assert_int_equal(srv__selfcheck_slot_ms(5000, 60000, 0, 0), 5000);
    assert_int_equal(srv__selfcheck_slot_ms(0, 86400000, 1, 3), 28800000);
    for (size_t i = 1; i < 3000; i++)
        assert_true(srv__selfcheck_slot_ms(0, 3600000, i, 3000) >
                    srv__selfcheck_slot_ms(0, 3600000, i - 1, 3000));
}

/* A report with one policy for `domain`: ok successful sessions, and one failure detail per
 * result type in `types` of `each` sessions. */
static void make_report(struct report *r, const char *rid, const char *domain, int64_t ok,
                        const char *const *types, size_t nt, int64_t each)
{
    memset(r, 0, sizeof(*r));
    r->organization_name = xstrdup("Org");
    r->report_id = xstrdup(rid);
    r->start = 1764374400;
    r->end = r->start + 86399;
    r->policies = xcalloc(1, sizeof(*r->policies));
    r->n_policies = 1;
    struct report_policy *p = &r->policies[0];
    p->policy_type = xstrdup("sts");
    p->policy_domain = xstrdup(domain);
    p->total_successful = ok;
    p->total_failure = each * (int64_t)nt;
    p->failures = xcalloc(nt ? nt : 1, sizeof(*p->failures));
    p->n_failures = nt;
    for (size_t i = 0; i < nt; i++) {
        p->failures[i].result_type = xstrdup(types[i]);
        p->failures[i].failed_session_count = each;
    }
}

static const struct srv__metrics_domain *find(const struct srv__metrics_domain *v, size_t n,
                                              const char *d)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].domain, d) == 0)
            return &v[i];
    return NULL;
}

/* db_report_store with the report's digest; *id is the stored row. */
static int store(struct db *db, const struct report *r, const char *source, int64_t *id)
{
    unsigned char dg[REPORT_DIGEST_LEN];
    struct db_store_result res;
    report_digest(r, dg);
    struct db_report_origin o = {.source = source, .received = 1764400000};
    int rc = db_report_store(db, r, dg, "{}", 2, &o, &res);
    *id = res.id;
    return rc;
}

static void test_counters(void **state)
{
    char dir[] = "/tmp/test_metrics.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *pdir = xasprintf("%s/policies", dir), *dbp = xasprintf("%s/stsd.db", dir);
    mkdir(pdir, 0755);
    char *pf = xasprintf("%s/example.com.txt", pdir);
    FILE *f = fopen(pf, "w");
    assert_non_null(f);
    fputs("version: STSv1\nmode: testing\nmx: mail.example.com\nmax_age: 86400\n", f);
    fclose(f);
    char err[256];
    struct db *db = db_open(dbp, err, sizeof(err));
    assert_non_null(db);
    /* stored before the start: one hosted, one not, with made-up result types */
    static const char *const t1[] = {"certificate-expired", "x-made-up", "starttls-not-supported"};
    struct report r;
    int64_t id;
    make_report(&r, "r1", "example.com", 10, t1, 3, 2);
    assert_int_equal(store(db, &r, "file", &id), 0);
    report_clear(&r);
    make_report(&r, "r2", "forged.example", 5, t1, 3, 7);
    assert_int_equal(store(db, &r, "file", &id), 0);
    report_clear(&r);

    struct stsd_config cfg;
    config_defaults(&cfg);
    free(cfg.state_dir);
    cfg.state_dir = xstrdup(dir);
    srv__metrics_start(&cfg);
    struct srv__metrics_domain *v;
    size_t n;
    int64_t reports;
    assert_int_equal(srv__metrics_domains(&v, &n, &reports), 0);
    assert_int_equal(reports, 2);
    assert_int_equal(n, 1); /* the hosted domain only */
    const struct srv__metrics_domain *d = find(v, n, "example.com");
    assert_non_null(d);
    assert_int_equal(d->successful, 10);
    assert_int_equal(d->failed, 6);
    assert_int_equal(d->by_type[2], 2);  /* certificate-expired */
    assert_int_equal(d->by_type[0], 2);  /* starttls-not-supported */
    assert_int_equal(d->by_type[11], 2); /* other */
    srv__metrics_domains_free(v, n);

    /* the writer's hook after a commit: counted at once, without a query */
    static const char *const t2[] = {"a", "b", "c", "d", "sts-webpki-invalid"};
    make_report(&r, "r3", "example.com", 1, t2, 5, 1);
    assert_int_equal(store(db, &r, "https", &id), 0);
    srv_metrics_report_stored(&r, id);
    /* a hook call for a row the load already counted (id not above it) changes nothing */
    srv_metrics_report_stored(&r, 1);
    report_clear(&r);
    make_report(&r, "r4", "other.example", 1, t2, 5, 1);
    srv_metrics_report_stored(&r, id + 1);
    report_clear(&r);
    assert_int_equal(srv__metrics_domains(&v, &n, &reports), 0);
    assert_int_equal(reports, 4);
    d = find(v, n, "example.com");
    assert_non_null(d);
    assert_int_equal(d->successful, 11);
    assert_int_equal(d->failed, 11);
    assert_int_equal(d->by_type[10], 1); /* sts-webpki-invalid */
    assert_int_equal(d->by_type[11], 6); /* other: 2 + a, b, c, d */
    assert_null(find(v, n, "other.example"));
    srv__metrics_domains_free(v, n);

    /* rows the counters did not see (as after a prune, the other way round): a reload sums
     * the tables again */
    make_report(&r, "r5", "example.com", 100, t2, 0, 0);
    assert_int_equal(store(db, &r, "https", &id), 0);
    report_clear(&r);
    srv_metrics_reload();
    for (int tries = 0; tries < 100; tries++) {
        assert_int_equal(srv__metrics_domains(&v, &n, &reports), 0);
        d = find(v, n, "example.com");
        int done = reports == 4 && d != NULL && d->successful == 111;
        srv__metrics_domains_free(v, n);
        if (done)
            break;
        usleep(50000);
    }
    assert_int_equal(srv__metrics_domains(&v, &n, &reports), 0);
    d = find(v, n, "example.com");
    assert_non_null(d);
    assert_int_equal(reports, 4); /* r1, r2, r3, r5 (r4 was never stored) */
    assert_int_equal(d->successful, 111);
    assert_int_equal(d->by_type[11], 6);
    srv__metrics_domains_free(v, n);
    srv__metrics_stop();
    config_free(&cfg);

    /* the latest check of a domain by one seek: the newest run's counts */
    for (int k = 0; k < 3; k++) {
        struct db_check c = {.domain = "example.com",
                             .started = 1764400000 + 3600 * k,
                             .errors = k,
                             .warnings = 10 + k,
                             .infos = 20 + k};
        assert_int_equal(db_check_store(db, &c, NULL, 0, NULL), 0);
    }
    struct db_check c = {.domain = "other.example", .started = 1764500000, .errors = 9};
    assert_int_equal(db_check_store(db, &c, NULL, 0, NULL), 0);
    assert_int_equal(db_check_latest_counts(db, "example.com", &c), 1);
    assert_int_equal(c.started, 1764400000 + 7200);
    assert_int_equal(c.errors, 2);
    assert_int_equal(c.warnings, 12);
    assert_int_equal(c.infos, 22);
    assert_int_equal(db_check_latest_counts(db, "nothing.example", &c), 0);
    db_close(db);
    char *cmd = xasprintf("rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    free(pf);
    free(pdir);
    free(dbp);
}

/* A port on 127.0.0.1 where nothing listens (bound once, then closed). */
static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t len = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

static size_t count(const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *p = text; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

/* A full queue drops failure-rate bodies first, then the oldest; a failure-rate newcomer
 * with none queued is dropped itself. The log says which (stderr captured to a file). */
static void test_webhook_queue(void **state)
{
    char logpath[] = "/tmp/test_alerts_log.XXXXXX";
    int lfd = mkstemp(logpath);
    assert_true(lfd >= 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(lfd, 2);
    char *url = xasprintf("http://127.0.0.1:%d/hook", closed_port());
    struct srv_webhook *w = srv__webhook_new(url, 1);
    assert_non_null(w);
    srv__webhook_post(w, xstrdup("{\"kind\":\"first\"}"));
    usleep(300000); /* the delivery thread takes it and keeps retrying it */
    srv__webhook_post(w, xstrdup("{\"kind\":\"check.regression\"}"));
    for (int i = 0; i < WEBHOOK_QUEUE_MAX - 1; i++)
        srv__webhook_post_low(w, xstrdup("{\"kind\":\"reports.failure_rate\"}"));
    assert_int_equal(srv__webhook_pending(w), WEBHOOK_QUEUE_MAX + 1);
    /* full: 1 regular + 63 low. Another low and 63 regulars each drop a low body ... */
    srv__webhook_post_low(w, xstrdup("{\"kind\":\"reports.failure_rate\"}"));
    for (int i = 0; i < WEBHOOK_QUEUE_MAX - 1; i++)
        srv__webhook_post(w, xstrdup("{\"kind\":\"certificate.expiring\"}"));
    /* ... now only regular bodies: a regular newcomer drops the oldest, a low one itself */
    srv__webhook_post(w, xstrdup("{\"kind\":\"certificate.expiring\"}"));
    srv__webhook_post_low(w, xstrdup("{\"kind\":\"reports.failure_rate\"}"));
    assert_int_equal(srv__webhook_pending(w), WEBHOOK_QUEUE_MAX + 1);
    srv__webhook_free(w);
    free(url);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char buf[65536];
    ssize_t n = pread(lfd, buf, sizeof(buf) - 1, 0);
    close(lfd);
    unlink(logpath);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_int_equal(count(buf, "event=alert.dropped"), WEBHOOK_QUEUE_MAX + 2);
    assert_int_equal(count(buf, "which=failure_rate"), WEBHOOK_QUEUE_MAX + 1);
    assert_int_equal(count(buf, "which=oldest"), 1);
}

static void put(struct fixture *fx, const char *domain, const char *text, char id[33])
{
    struct hosted_put r;
    assert_int_equal(hosted_policy_put(fx->h, domain, text, strlen(text), "cli", 1795000000, &r),
                     0);
    snprintf(id, 33, "%s", r.id);
}

static const char POL_A[] = "version: STSv1\nmode: testing\nmx: mail.example.com\nmax_age: 86400\n";
static const char POL_B[] =
    "version: STSv1\nmode: enforce\nmx: mail.example.com\nmax_age: 604800\n";

static void test_check_facts(void **state)
{
    struct fixture *fx = fixture_new(HOSTED_CREATE);
    char id_a[33], id_b[33];
    put(fx, "example.com", POL_A, id_a);
    put(fx, "example.com", POL_B, id_b);
    assert_string_not_equal(id_a, id_b);
    /* the mta-sts certificate: self-signed, 30 days */
    char *cmd =
        xasprintf("cd '%s' && openssl req -x509 -newkey ec -pkeyopt "
                  "ec_paramgen_curve:P-256 -nodes -days 30 -subj /CN=mta-sts.example.com "
                  "-addext subjectAltName=DNS:mta-sts.example.com -keyout k.tmp -out c.tmp "
                  "2>/dev/null && cat c.tmp k.tmp > mta-sts.example.com.pem && rm k.tmp c.tmp",
                  fx->cfg.cert_dir);
    assert_int_equal(system(cmd), 0);
    free(cmd);

    struct check_hosted_facts f = {0};
    srv_check_facts(fx->h, "example.com", &f);
    assert_true(f.has_policy);
    assert_true(f.policy_valid);
    assert_int_equal(f.policy_len, strlen(POL_B));
    assert_memory_equal(f.policy_text, POL_B, f.policy_len);
    assert_string_equal(f.current_id, id_b);
    assert_int_equal(f.n_old_ids, 1);
    assert_string_equal(f.old_ids[0], id_a);
    assert_true(f.cert_found);
    int64_t left = f.cert_not_after - (int64_t)time(NULL);
    assert_true(left > 29 * 86400 && left <= 30 * 86400 + 60);
    assert_non_null(strstr(f.cert_path, "/certs/mta-sts.example.com.pem"));
    check_hosted_facts_clear(&f);

    srv_check_facts(fx->h, "other.example", &f); /* not hosted: nothing */
    assert_false(f.has_policy);
    assert_false(f.cert_found);
    assert_null(f.policy_text);
    check_hosted_facts_clear(&f);

    /* A read-only handle on a content nobody recorded: no id, and none recorded. */
    put_file(fx, "policies/example.com.txt", POL_A, strlen(POL_A) - 1);
    char err[300];
    struct hosted *ro = hosted_open(&fx->cfg, HOSTED_READ_ONLY, err, sizeof(err));
    assert_non_null(ro);
    srv_check_facts(ro, "example.com", &f);
    assert_true(f.has_policy);
    assert_string_equal(f.current_id, "");
    assert_int_equal(f.n_old_ids, 2);
    check_hosted_facts_clear(&f);
    hosted_close(ro);
    struct hosted_version *v = NULL;
    size_t n = 0;
    assert_int_equal(hosted_versions(fx->h, "example.com", &v, &n), 0);
    assert_int_equal(n, 2);
    free(v);

    struct check_opts o;
    fx->cfg.allow_private = 0;
    fx->cfg.check_smtp_port = 2525;
    srv_check_opts(&fx->cfg, &o);
    assert_int_equal(o.smtp_port, 2525);
    assert_true(o.no_private);
    assert_null(o.hosted_facts);
    fixture_free(fx);
}

/* "check now": stored like a scheduled check only when asked. An invalid name is checked
 * without any DNS query (check.input), which keeps the test off the network. */
static void test_check_now(void **state)
{
    struct fixture *fx = fixture_new(HOSTED_CREATE);
    struct check_result r;
    char err[300];
    assert_int_equal(srv_check_domain(NULL, &fx->cfg, "-bad-.example", 1, &r, err, sizeof(err)),
                     -1);
    assert_false(r.ran);
    check_result_free(&r);

    assert_int_equal(srv_check_domain(fx->h, &fx->cfg, "-bad-.example", 0, &r, err, sizeof(err)),
                     CHECK_ERROR);
    assert_int_equal(r.n_domains, 1);
    assert_string_equal(r.domains[0].findings[0].id, "check.input");
    check_result_free(&r);
    struct db_check *c = NULL;
    size_t n = 0;
    assert_int_equal(hosted_check_latest(fx->h, NULL, &c, &n), 0);
    assert_int_equal(n, 0); /* the API's variant stores nothing */
    db_checks_free(c, n);

    for (int i = 0; i < 2; i++) {
        assert_int_equal(
            srv_check_domain(fx->h, &fx->cfg, "-bad-.example", 1, &r, err, sizeof(err)),
            CHECK_ERROR);
        check_result_free(&r);
    }
    assert_int_equal(hosted_check_latest(fx->h, "-bad-.example", &c, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(c[0].status, 2);
    assert_int_equal(c[0].errors, 1);
    assert_non_null(c[0].result);
    json_t *j = json_loads(c[0].result, 0, NULL);
    assert_non_null(j); /* the result column: the domain's object of `stsd check --json` */
    assert_string_equal(json_string_value(json_object_get(j, "domain")), "-bad-.example");
    assert_string_equal(json_string_value(json_object_get(j, "verdict")), "error");
    json_decref(j);
    char err2[300];
    struct db_check_finding *fs = NULL;
    size_t nf = 0;
    assert_int_equal(db_check_findings(hosted_db(fx->h, err2, sizeof(err2)), c[0].id, &fs, &nf), 0);
    assert_int_equal(nf, 1);
    assert_string_equal(fs[0].finding, "check.input");
    assert_string_equal(fs[0].severity, "error");
    db_check_findings_free(fs, nf);
    db_checks_free(c, n);
    struct db_check *hist = NULL;
    assert_int_equal(db_check_history(hosted_db(fx->h, err2, sizeof(err2)), NULL, 10, 0, &hist, &n),
                     0);
    assert_int_equal(n, 2); /* both runs */
    db_checks_free(hist, n);
    fixture_free(fx);
}

/* The ACME rows the metrics thread caches: written with hosted_acme_put, read back sorted by
 * one refresh; failing means a failure since the last success; ACME off empties the cache. */
static void test_acme_rows(void **state)
{
    (void)state;
    struct fixture *fx = fixture_new(HOSTED_CREATE);
    fx->cfg.acme_directory = xstrdup("https://127.0.0.1:9/dir");
    static const struct {
        const char *domain, *state;
        int failures;
        int64_t next;
    } rows[] = {
        {"c.test", "failed", 3, 1800003600},
        {"a.test", "ok", 0, 0},
        {"b.test", "pending", 1, 1800000060}, /* a retry after a failure */
    };
    for (size_t i = 0; i < 3; i++) {
        struct hosted_acme a;
        memset(&a, 0, sizeof(a));
        a.domain = (char *)rows[i].domain;
        snprintf(a.state, sizeof(a.state), "%s", rows[i].state);
        a.failures = rows[i].failures;
        a.next_attempt = rows[i].next;
        a.last_error = rows[i].failures ? "network: connection refused" : NULL;
        assert_int_equal(hosted_acme_put(fx->h, &a), 0);
    }
    srv__metrics_acme_refresh(fx->h);
    struct srv__acme_brief *v = NULL;
    size_t n = 0;
    srv__metrics_acme_copy(&v, &n);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < 3; i++) { /* sorted by domain: rows 1, 2, 0 */
        size_t r = (i + 1) % 3;
        assert_string_equal(v[i].domain, rows[r].domain);
        assert_string_equal(v[i].state, rows[r].state);
        assert_int_equal(v[i].failures, rows[r].failures);
        assert_int_equal(v[i].next_attempt, rows[r].next);
    }
    assert_ptr_equal(srv__acme_brief_find(v, n, "b.test"), &v[1]);
    assert_null(srv__acme_brief_find(v, n, "d.test"));
    srv__acme_briefs_free(v, n);
    assert_false(srv__metrics_acme_failing("a.test"));
    assert_true(srv__metrics_acme_failing("b.test"));
    assert_true(srv__metrics_acme_failing("c.test"));
    assert_false(srv__metrics_acme_failing("d.test"));
    /* the scheduler hands over a row it wrote: shown at once, without a refresh */
    struct hosted_acme a;
    memset(&a, 0, sizeof(a));
    a.domain = "d.test";
    snprintf(a.state, sizeof(a.state), "failed");
    a.failures = 1;
    a.next_attempt = 1800000120;
    assert_int_equal(hosted_acme_put(fx->h, &a), 0);
    srv_metrics_acme_changed(fx->h, "d.test");
    snprintf(a.state, sizeof(a.state), "ok");
    a.domain = "c.test";
    a.failures = 0;
    assert_int_equal(hosted_acme_put(fx->h, &a), 0);
    srv_metrics_acme_changed(fx->h, "c.test");
    srv_metrics_acme_changed(fx->h, "e.test"); /* no row: nothing */
    assert_true(srv__metrics_acme_failing("d.test"));
    assert_false(srv__metrics_acme_failing("c.test"));
    srv__metrics_acme_copy(&v, &n);
    assert_int_equal(n, 4);
    assert_string_equal(v[3].domain, "d.test");
    assert_int_equal(v[3].next_attempt, 1800000120);
    assert_true(v[3].seq > 0);
    srv__acme_briefs_free(v, n);
    srv__metrics_acme_refresh(fx->h); /* the same rows, read back */
    srv__metrics_acme_copy(&v, &n);
    assert_int_equal(n, 4);
    assert_string_equal(v[2].state, "ok");
    assert_int_equal(v[3].failures, 1);
    srv__acme_briefs_free(v, n);
    /* ACME turned off: the rows of that earlier run say nothing now */
    free(fx->cfg.acme_directory);
    fx->cfg.acme_directory = NULL;
    srv__metrics_acme_refresh(fx->h);
    srv__metrics_acme_copy(&v, &n);
    assert_int_equal(n, 0);
    srv__acme_briefs_free(v, n);
    assert_false(srv__metrics_acme_failing("c.test"));
    fixture_free(fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_result_types), cmocka_unit_test(test_slots),
        cmocka_unit_test(test_counters),     cmocka_unit_test(test_webhook_queue),
        cmocka_unit_test(test_check_facts),  cmocka_unit_test(test_check_now),
        cmocka_unit_test(test_acme_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
