/* test_admin.c - unit tests of the admin listener's pure parts: query parameters, the token
 * check, HTML escaping, the routes over a real temporary database, metrics text, regressions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/state_test.h"
#include "tests/unit/unit_test.h"

#include "server/admin_int.h"
#include "common/common.h"
#include "common/config.h"
#include "hosted/hosted.h"
#include "reports/reports.h"
#include "sql/db.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void test_params(void **state)
{
    struct admin_params p;
    assert_int_equal(srv__admin_params_parse("a=1&b=x%20y&c=&d", &p), 0);
    assert_int_equal(p.n, 4);
    assert_string_equal(srv__admin_param(&p, "a"), "1");
    assert_string_equal(srv__admin_param(&p, "b"), "x y");
    assert_string_equal(srv__admin_param(&p, "c"), "");
    assert_string_equal(srv__admin_param(&p, "d"), "");
    assert_null(srv__admin_param(&p, "e"));
    assert_int_equal(srv__admin_params_parse(NULL, &p), 0);
    assert_int_equal(p.n, 0);
    assert_int_equal(srv__admin_params_parse("a=%zz", &p), -1);
    assert_int_equal(srv__admin_params_parse("a=%00", &p), -1);
    assert_int_equal(srv__admin_params_parse("a=%4", &p), -1);
    char many[200] = "";
    for (int i = 0; i < ADMIN_MAX_PARAMS + 1; i++)
        strcat(many, "x=1&");
    assert_int_equal(srv__admin_params_parse(many, &p), -1);
    char big[400];
    memset(big, 'a', sizeof(big) - 1);
    big[0] = 'v';
    big[1] = '=';
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(srv__admin_params_parse(big, &p), -1); /* value over 255 bytes */
}

static void test_window(void **state)
{
    struct admin_params p;
    int64_t s, u;
    char msg[200];
    time_t now = 1764417600; /* 2025-11-29T12:00:00Z */
    srv__admin_params_parse("", &p);
    assert_int_equal(srv__admin_window(&p, now, &s, &u, msg, sizeof(msg)), 0);
    assert_int_equal(u, now);
    assert_int_equal(s, now - 30 * 86400);
    srv__admin_params_parse("since=2025-11-01&until=2025-11-02", &p);
    assert_int_equal(srv__admin_window(&p, now, &s, &u, msg, sizeof(msg)), 0);
    assert_int_equal(s, 1761955200);
    assert_int_equal(u, 1761955200 + 86400); /* exclusive, like stsd reports */
    srv__admin_params_parse("since=7d", &p);
    assert_int_equal(srv__admin_window(&p, now, &s, &u, msg, sizeof(msg)), 0);
    assert_int_equal(s, now - 7 * 86400);
    srv__admin_params_parse("since=yesterday", &p);
    assert_int_equal(srv__admin_window(&p, now, &s, &u, msg, sizeof(msg)), -1);
    assert_non_null(strstr(msg, "since"));
    srv__admin_params_parse("since=2025-11-02&until=2025-11-01", &p);
    assert_int_equal(srv__admin_window(&p, now, &s, &u, msg, sizeof(msg)), -1);
}

static size_t len(const char *s)
{
    return s ? strlen(s) : 0;
}

static void test_auth(void **state)
{
    struct admin_env env;
    memset(&env, 0, sizeof(env));
    strcpy(env.token, "s3cret-token");
    env.token_len = strlen(env.token);
    int fq = 0;
#define AUTH(a, c, q) srv__admin_auth(&env, a, len(a), c, len(c), q, len(q), &fq)
    assert_int_equal(AUTH(NULL, NULL, NULL), ADMIN_AUTH_MISSING);
    assert_int_equal(AUTH("Bearer s3cret-token", NULL, NULL), ADMIN_AUTH_OK);
    assert_int_equal(fq, 0);
    assert_int_equal(AUTH("bearer s3cret-token", NULL, NULL), ADMIN_AUTH_OK);
    assert_int_equal(AUTH("Bearer s3cret-tokeN", NULL, NULL), ADMIN_AUTH_INVALID);
    assert_int_equal(AUTH("Bearer s3cret-token2", NULL, NULL), ADMIN_AUTH_INVALID);
    assert_int_equal(AUTH("Bearer s3cret", NULL, NULL), ADMIN_AUTH_INVALID);
    assert_int_equal(AUTH("Bearer ", NULL, NULL), ADMIN_AUTH_INVALID);
    assert_int_equal(AUTH("Basic czNjcmV0", NULL, NULL), ADMIN_AUTH_INVALID);
    /* A wrong header is not rescued by a right cookie. */
    struct admin_sessions *ss = malloc(sizeof(*ss));
    srv__admin_sessions_init(ss, 3600);
    env.sessions = ss;
    char id[ADMIN_SESSION_HEX + 1], cookie[200];
    assert_int_equal(srv__admin_session_new(ss, srv__admin_session_now(), id), 0);
    snprintf(cookie, sizeof(cookie), "a=b; stsd_session=%s; c=d", id);
    assert_int_equal(AUTH("Bearer nope", cookie, NULL), ADMIN_AUTH_INVALID);
    assert_int_equal(AUTH(NULL, cookie, NULL), ADMIN_AUTH_OK);
    assert_int_equal(fq, 0);
    /* the token is no cookie, under either name */
    assert_int_equal(AUTH(NULL, "stsd_token=s3cret-token", NULL), ADMIN_AUTH_MISSING);
    assert_int_equal(AUTH(NULL, "stsd_session=s3cret-token", NULL), ADMIN_AUTH_SESSION);
    assert_int_equal(AUTH(NULL, "stsd_session=wrong", NULL), ADMIN_AUTH_SESSION);
    assert_int_equal(AUTH(NULL, "xstsd_session=s3cret-token", NULL), ADMIN_AUTH_MISSING);
    /* a token in the URL wins over a stale cookie */
    assert_int_equal(AUTH(NULL, "stsd_session=wrong", "token=s3cret-token"), ADMIN_AUTH_OK);
    assert_int_equal(fq, 1);
    srv__admin_sessions_destroy(ss);
    free(ss);
    env.sessions = NULL;
    assert_int_equal(AUTH(NULL, NULL, "since=7d&token=s3cret-token"), ADMIN_AUTH_OK);
    assert_int_equal(fq, 1);
    assert_int_equal(AUTH(NULL, NULL, "token=s3cret-token&x=1"), ADMIN_AUTH_OK);
    assert_int_equal(AUTH(NULL, NULL, "token=s3cret-toke"), ADMIN_AUTH_INVALID);
    assert_int_equal(AUTH(NULL, NULL, "mytoken=s3cret-token"), ADMIN_AUTH_MISSING);
#undef AUTH
}

static void test_html_escape(void **state)
{
    struct admin_buf b = {0};
    srv__buf_html(&b, "<script>alert(\"x\")</script>&'");
    assert_string_equal(b.p, "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;");
    free(b.p);
    struct admin_buf c = {0};
    srv__buf_html(&c, "a\x1b[2Jb\x7f\n\tc");
    assert_string_equal(c.p, "a\\x1b[2Jb\\x7f\n\tc");
    free(c.p);
}

static void test_sessions(void **state)
{
    struct admin_sessions *t = malloc(sizeof(*t));
    srv__admin_sessions_init(t, 600);
    char a[ADMIN_SESSION_HEX + 1], b[ADMIN_SESSION_HEX + 1];
    assert_int_equal(srv__admin_session_new(t, 1000, a), 0);
    assert_int_equal(srv__admin_session_new(t, 1001, b), 0);
    assert_int_equal(strlen(a), ADMIN_SESSION_HEX);
    assert_string_not_equal(a, b);
    assert_true(srv__admin_session_valid(t, a, strlen(a), 1000));
    assert_true(srv__admin_session_valid(t, b, strlen(b), 1600));
    /* expired: the ttl counts from creation, on the server */
    assert_false(srv__admin_session_valid(t, a, strlen(a), 1600));
    assert_true(srv__admin_session_valid(t, a, strlen(a), 1599));
    /* malformed or short values, upper-case hex, one digit off */
    assert_false(srv__admin_session_valid(t, a, strlen(a) - 1, 1000));
    assert_false(srv__admin_session_valid(t, NULL, 0, 1000));
    char c[ADMIN_SESSION_HEX + 1];
    memcpy(c, a, sizeof(c));
    c[10] = c[10] == '0' ? '1' : '0';
    assert_false(srv__admin_session_valid(t, c, strlen(c), 1000));
    char z[ADMIN_SESSION_HEX + 1];
    memset(z, '0', ADMIN_SESSION_HEX);
    z[ADMIN_SESSION_HEX] = '\0';
    assert_false(srv__admin_session_valid(t, z, strlen(z), 0)); /* a free slot is no session */
    /* bounded: the oldest goes when the table is full */
    for (int i = 0; i < ADMIN_SESSIONS_MAX - 2; i++)
        assert_int_equal(srv__admin_session_new(t, 1002, c), 0);
    assert_true(srv__admin_session_valid(t, a, strlen(a), 1002));
    assert_int_equal(srv__admin_session_new(t, 1002, c), 0);
    assert_false(srv__admin_session_valid(t, a, strlen(a), 1002)); /* a was the oldest */
    assert_true(srv__admin_session_valid(t, b, strlen(b), 1002));
    assert_true(srv__admin_session_valid(t, c, strlen(c), 1002));
    srv__admin_sessions_destroy(t);
    free(t);
}

static void test_query_without_token(void **state)
{
    char out[ADMIN_MAX_QUERY + 1];
#define QWT(q) (srv__admin_query_without_token(q, strlen(q), out, sizeof(out)), out)
    assert_string_equal(QWT("token=abc"), "");
    assert_string_equal(QWT("since=7d&token=abc&until=1d"), "since=7d&until=1d");
    assert_string_equal(QWT("token=abc&since=7d"), "since=7d");
    assert_string_equal(QWT("since=7d&token=a&token=b"), "since=7d");
    assert_string_equal(QWT("mytoken=a&token&&x=1"), "mytoken=a&x=1");
    assert_string_equal(QWT(""), "");
#undef QWT
    char small[8];
    assert_int_equal(srv__admin_query_without_token("a=1&bb=2&token=x", 16, small, sizeof(small)),
                     3);
    assert_string_equal(small, "a=1");
}

/* ---------------------------------------------------------------- routes over a real db */

struct fixture {
    char dir[64];
    struct stsd_config cfg;
    struct admin_env env;
    struct hosted *h; /* owns db */
    struct db *db;
    char *policy_dir;
};

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    strcpy(fx->dir, "/tmp/test_admin.XXXXXX");
    state_test_config(&fx->cfg, fx->dir);
    fx->env.cfg = &fx->cfg;
    char err[256];
    fx->h = hosted_open(&fx->cfg, HOSTED_CREATE, err, sizeof(err));
    assert_non_null(fx->h);
    fx->policy_dir = xstrdup(hosted_policy_dir(fx->h));
    char *p = xasprintf("%s/example.com.txt", fx->policy_dir);
    write_file(p, "version: STSv1\nmode: testing\nmx: mail.example.com\nmax_age: 86400\n");
    free(p);
    p = xasprintf("%s/broken.example.txt", fx->policy_dir);
    write_file(p, "version: STSv1\nmode: Enforce\nmx: mail.broken.example\nmax_age: 86400\n");
    free(p);
    fx->db = hosted_db(fx->h, err, sizeof(err));
    assert_non_null(fx->db);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    hosted_close(fx->h);
    char *cmd = xasprintf("rm -rf '%s'", fx->dir);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    free(fx->policy_dir);
    config_free(&fx->cfg);
    free(fx);
    return 0;
}

static json_t *get(struct fixture *fx, const char *path, const char *query, int *status)
{
    struct admin_request rq = {.hosted = fx->h};
    struct admin_response rs = {0};
    rq.path = path;
    rq.query = query;
    rq.now = time(NULL);
    srv__admin_handle(&fx->env, fx->db, &rq, &rs);
    *status = rs.status;
    json_t *j = NULL;
    if (rs.content_type && strcmp(rs.content_type, "application/json") == 0) {
        j = json_loadb(rs.body, rs.len, 0, NULL);
        assert_non_null(j);
    }
    free(rs.body);
    return j;
}

/* GET path?query and assert the status alone (the body, if any, is not looked at). */
static void expect_status(struct fixture *fx, const char *path, const char *query, int want)
{
    int st;
    json_t *j = get(fx, path, query, &st);
    if (st != want)
        print_message("# GET %s%s%s\n", path, query ? "?" : "", query ? query : "");
    assert_int_equal(st, want);
    json_decref(j);
}

static void test_routes(void **state)
{
    struct fixture *fx = *state;
    int st;
    json_t *j = get(fx, "/api/v1/domains", NULL, &st);
    assert_int_equal(st, 200);
    json_t *a = json_object_get(j, "domains");
    assert_int_equal(json_array_size(a), 2);
    json_t *b = json_array_get(a, 0), *e = json_array_get(a, 1);
    assert_string_equal(json_string_value(json_object_get(b, "domain")), "broken.example");
    assert_true(json_is_false(json_object_get(b, "valid")));
    assert_non_null(strstr(json_string_value(json_object_get(b, "error")), "Enforce"));
    assert_string_equal(json_string_value(json_object_get(e, "domain")), "example.com");
    assert_string_equal(json_string_value(json_object_get(e, "mode")), "testing");
    assert_true(json_is_null(json_object_get(e, "dns")));
    assert_true(json_is_null(json_object_get(e, "certificate")));
    json_decref(j);

    j = get(fx, "/api/v1/domains/EXAMPLE.com.", NULL, &st);
    assert_int_equal(st, 200);
    assert_string_equal(json_string_value(json_object_get(j, "domain")), "example.com");
    json_decref(j);
    j = get(fx, "/api/v1/domains/other.example", NULL, &st);
    assert_int_equal(st, 404);
    assert_string_equal(json_string_value(json_object_get(j, "error")),
                        "other.example is not a hosted domain");
    json_decref(j);
    expect_status(fx, "/api/v1/domains/not_a..domain", NULL, 400);
    j = get(fx, "/api/v1/domains", "bogus=1", &st);
    assert_int_equal(st, 400);
    assert_string_equal(json_string_value(json_object_get(j, "error")),
                        "unknown parameter 'bogus'");
    json_decref(j);

    j = get(fx, "/api/v1/reports", "since=2000-01-01", &st);
    assert_int_equal(st, 200);
    assert_int_equal(json_array_size(json_object_get(j, "reports")), 0);
    json_decref(j);
    expect_status(fx, "/api/v1/reports", "limit=0", 400);
    expect_status(fx, "/api/v1/reports", "since=soon", 400);
    expect_status(fx, "/api/v1/reports/abc", NULL, 400);
    j = get(fx, "/api/v1/reports/42", NULL, &st);
    assert_int_equal(st, 404);
    assert_string_equal(json_string_value(json_object_get(j, "error")), "no report with id 42");
    json_decref(j);
    expect_status(fx, "/api/v1/reports/42/raw", NULL, 404);
    expect_status(fx, "/api/v1/summary", "by=week", 400);
    j = get(fx, "/api/v1/summary", "since=2000-01-01&by=day", &st);
    assert_int_equal(st, 200);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "totals"), "reports")),
                     0);
    json_decref(j);
    expect_status(fx, "/api/v1/checks", "domain=other.example", 404);
    expect_status(fx, "/api/v1/nothing", NULL, 404);
    expect_status(fx, "/api/v2/domains", NULL, 404);
}

static void test_checks_and_regression(void **state)
{
    struct fixture *fx = *state;
    struct db_check c = {0};
    c.domain = "example.com";
    c.started = 1764417600;
    c.duration_ms = 120;
    c.status = 1;
    c.warnings = 1;
    c.dns_id = "20251129T120000";
    c.result = "{\"domain\":\"example.com\"}";
    struct db_check_finding f1[] = {
        {"sts.policy.mode", "warning", "example.com", "testing mode"},
    };
    int64_t id1 = 0, id2 = 0;
    assert_int_equal(db_check_store(fx->db, &c, f1, 1, &id1), 0);
    struct db_check_finding f2[] = {
        {"sts.policy.mode", "warning", "example.com", "testing mode"},
        {"mx.cert.expired", "error", "mail.example.com", "expired"},
        {"mx.cert.expired", "error", "mail.example.com", "expired"},
    };
    c.started += 3600;
    c.status = 2;
    c.errors = 2;
    assert_int_equal(db_check_store(fx->db, &c, f2, 3, &id2), 0);
    c.id = id2;
    /* new error vs the previous run: one regression body, the duplicate counted once */
    char *body = srv__selfcheck_regression("example.com", &c, f2, 3, f1, 1, id1);
    assert_non_null(body);
    json_t *j = json_loads(body, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(j, "kind")), "check.regression");
    assert_int_equal(json_integer_value(json_object_get(j, "check_id")), id2);
    assert_int_equal(json_integer_value(json_object_get(j, "previous_check_id")), id1);
    json_t *ne = json_object_get(j, "new_errors");
    assert_int_equal(json_array_size(ne), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(ne, 0), "id")),
                        "mx.cert.expired");
    json_decref(j);
    free(body);
    /* the same errors again: no regression */
    assert_null(srv__selfcheck_regression("example.com", &c, f2, 3, f2, 3, id2));

    int st;
    j = get(fx, "/api/v1/checks", "domain=example.com", &st);
    assert_int_equal(st, 200);
    json_t *latest = json_object_get(j, "latest");
    assert_int_equal(json_array_size(latest), 1);
    json_t *l0 = json_array_get(latest, 0);
    assert_int_equal(json_integer_value(json_object_get(l0, "id")), id2);
    assert_string_equal(json_string_value(json_object_get(l0, "verdict")), "error");
    assert_int_equal(json_array_size(json_object_get(l0, "findings")), 3);
    assert_int_equal(json_array_size(json_object_get(j, "history")), 2);
    json_decref(j);
    j = get(fx, "/api/v1/domains/example.com", NULL, &st);
    assert_int_equal(st, 200);
    json_t *dns = json_object_get(j, "dns");
    assert_string_equal(json_string_value(json_object_get(dns, "sts_id")), "20251129T120000");
    assert_true(json_is_false(json_object_get(dns, "in_agreement")));
    json_decref(j);
}

/* The body of a dashboard page answered with `status`. */
static char *html_page(struct fixture *fx, struct admin_request *rq, const char *path, int status)
{
    struct admin_response rs = {0};
    rq->path = path;
    srv__admin_handle(&fx->env, fx->db, rq, &rs);
    assert_int_equal(rs.status, status);
    assert_string_equal(rs.content_type, "text/html; charset=utf-8");
    return rs.body;
}

static void test_dashboard_and_metrics(void **state)
{
    struct fixture *fx = *state;
    struct admin_request rq = {.hosted = fx->h};
    struct admin_response rs = {0};
    /* a stored check with an error; DNS publishes the served id */
    struct db_check c = {.domain = "example.com",
                         .started = time(NULL),
                         .status = 2,
                         .errors = 1,
                         .dns_id = "20251129T120000",
                         .result = "{}"};
    struct db_check_finding f = {"mx.cert.expired", "error", "mail.example.com", "expired"};
    assert_int_equal(db_check_store(fx->db, &c, &f, 1, NULL), 0);
    /* what a server serves: example.com (broken.example never parsed: not served) */
    struct admin_served sv = {.domain = "example.com", .id = "20251129T120000"};
    rq.served = &sv;
    rq.n_served = 1;
    rq.have_served = 1;
    rq.path = "/";
    rq.now = time(NULL);
    srv__admin_handle(&fx->env, fx->db, &rq, &rs);
    assert_int_equal(rs.status, 200);
    assert_string_equal(rs.content_type, "text/html; charset=utf-8");
    assert_non_null(strstr(rs.body, "<meta name=\"viewport\""));
    /* no certificate, and the latest check has errors */
    assert_non_null(strstr(rs.body, "data-domain=\"example.com\" data-attention=\"cert check\""));
    assert_non_null(strstr(rs.body, "<a href=\"/domains/example.com\">"));
    assert_null(strstr(rs.body, "<script"));
    assert_null(strstr(rs.body, "src="));        /* nothing loaded */
    assert_null(strstr(rs.body, "href=\"http")); /* no links to other hosts */
    free(rs.body);

    /* the page of the broken file shows its error */
    char *body = html_page(fx, &rq, "/domains/broken.example", 200);
    assert_non_null(strstr(body, "data-domain=\"broken.example\""));
    assert_non_null(strstr(body, "Policy file error"));
    free(body);
    /* the page of example.com: the findings of its latest check (from the finding rows when
     * the stored result has none) */
    body = html_page(fx, &rq, "/domains/example.com", 200);
    assert_non_null(strstr(body, "data-id=\"mx.cert.expired\" data-severity=\"error\" "
                                 "data-subject=\"mail.example.com\""));
    assert_null(strstr(body, "<script"));
    free(body);
    free(html_page(fx, &rq, "/domains/nowhere.example", 404));
    rq.served = NULL;
    rq.n_served = 0;
    rq.have_served = 0;

    memset(&rs, 0, sizeof(rs));
    srv_metrics_count_request(SRV_EP_POLICY, 200);
    srv_metrics_count_request(SRV_EP_POLICY, 200);
    srv_metrics_count_request(SRV_EP_POLICY, 404);
    srv_metrics_count_report(SRV_REPORT_NOT_HOSTED);
    rq.path = "/metrics";
    srv__admin_handle(&fx->env, fx->db, &rq, &rs);
    assert_int_equal(rs.status, 200);
    assert_non_null(
        strstr(rs.body, "stsd_http_requests_total{endpoint=\"policy\",status=\"200\"} 2\n"));
    assert_non_null(
        strstr(rs.body, "stsd_http_requests_total{endpoint=\"policy\",status=\"404\"} 1\n"));
    assert_non_null(strstr(rs.body, "stsd_report_posts_total{outcome=\"not_hosted\"} 1\n"));
    assert_non_null(strstr(rs.body, "# TYPE stsd_certificate_days_left gauge\n"));
    assert_non_null(strstr(rs.body, "stsd_reports_stored 0\n"));
    free(rs.body);

    memset(&rs, 0, sizeof(rs));
    rq.path = "/";
    rq.query = "since=bad";
    srv__admin_handle(&fx->env, fx->db, &rq, &rs);
    assert_int_equal(rs.status, 400);
    free(rs.body);
}

static void test_digest(void **state)
{
    struct fixture *fx = *state;
    time_t now = 1764417600; /* 2025-11-29T12:00:00Z: the digest covers 2025-11-28 */
    static const char rep[] =
        "{\"organization-name\":\"Digest Org\",\"contact-info\":null,\"report-id\":\"d1\","
        "\"date-range\":{\"start-datetime\":\"2025-11-28T00:00:00Z\","
        "\"end-datetime\":\"2025-11-28T23:59:59Z\"},\"policies\":[{\"policy\":{"
        "\"policy-type\":\"sts\",\"policy-domain\":\"example.com\"},\"summary\":{"
        "\"total-successful-session-count\":90,\"total-failure-session-count\":10}}]}";
    static const char old[] =
        "{\"organization-name\":\"Digest Org\",\"report-id\":\"d0\","
        "\"date-range\":{\"start-datetime\":\"2025-11-27T00:00:00Z\","
        "\"end-datetime\":\"2025-11-27T23:59:59Z\"},\"policies\":[{\"policy\":{"
        "\"policy-type\":\"sts\",\"policy-domain\":\"example.com\"},\"summary\":{"
        "\"total-successful-session-count\":5,\"total-failure-session-count\":5}}]}";
    /* a report naming a domain this stsd does not host: in the totals, not in "domains" */
    static const char forged[] =
        "{\"organization-name\":\"Forger\",\"report-id\":\"f1\","
        "\"date-range\":{\"start-datetime\":\"2025-11-28T00:00:00Z\","
        "\"end-datetime\":\"2025-11-28T23:59:59Z\"},\"policies\":[{\"policy\":{"
        "\"policy-type\":\"sts\",\"policy-domain\":\"forged.example\"},\"summary\":{"
        "\"total-successful-session-count\":0,\"total-failure-session-count\":7}}]}";
    const char *const docs[] = {rep, old, forged};
    for (int i = 0; i < 3; i++) {
        struct report r;
        struct report_error err;
        assert_int_equal(report_parse(docs[i], strlen(docs[i]), &r, &err), 0);
        unsigned char dg[REPORT_DIGEST_LEN];
        report_digest(&r, dg);
        struct db_store_result res;
        struct db_report_origin o = {.source = "file", .received = now};
        assert_int_equal(db_report_store(fx->db, &r, dg, docs[i], strlen(docs[i]), &o, &res), 0);
        report_clear(&r);
    }
    struct db_check c = {0};
    c.domain = "example.com";
    c.started = now - 3600;
    c.errors = 1;
    c.status = 2;
    struct db_check_finding f = {"mx.starttls", "error", "mail.example.com", "no STARTTLS"};
    assert_int_equal(db_check_store(fx->db, &c, &f, 1, NULL), 0);
    char *body = srv__selfcheck_digest(fx->h, now);
    assert_non_null(body);
    json_t *j = json_loads(body, 0, NULL);
    free(body);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "kind")), "digest");
    assert_string_equal(json_string_value(json_object_get(j, "time")), "2025-11-29T12:00:00Z");
    assert_string_equal(json_string_value(json_object_get(j, "since")), "2025-11-28");
    assert_string_equal(json_string_value(json_object_get(j, "until")), "2025-11-29");
    assert_int_equal(json_integer_value(json_object_get(j, "reports")), 2);
    assert_int_equal(json_integer_value(json_object_get(j, "successful_sessions")), 90);
    assert_int_equal(json_integer_value(json_object_get(j, "failed_sessions")), 17);
    assert_int_equal(json_array_size(json_object_get(j, "domains")), 1);
    json_t *d = json_array_get(json_object_get(j, "domains"), 0);
    assert_string_equal(json_string_value(json_object_get(d, "domain")), "example.com");
    assert_int_equal(json_integer_value(json_object_get(d, "failed_sessions")), 10);
    json_t *ch = json_array_get(json_object_get(j, "checks"), 0);
    assert_string_equal(json_string_value(json_object_get(ch, "domain")), "example.com");
    assert_int_equal(json_integer_value(json_object_get(ch, "errors")), 1);
    assert_int_equal(json_array_size(json_object_get(j, "certificates")), 0);
    json_decref(j);
}

static void test_token_file(void **state)
{
    struct fixture *fx = *state;
    struct admin_env env;
    memset(&env, 0, sizeof(env));
    char err[300];
    char *path = xasprintf("%s/sub/admin.token", fx->dir);
    assert_int_equal(srv__admin_token_load(&env, path, err, sizeof(err)), 0);
    assert_int_equal(env.token_len, 2 * ADMIN_TOKEN_BYTES);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    struct admin_env env2;
    memset(&env2, 0, sizeof(env2));
    assert_int_equal(srv__admin_token_load(&env2, path, err, sizeof(err)), 0);
    assert_string_equal(env.token, env2.token); /* read back, not regenerated */
    write_file(path, "  \n");
    assert_int_equal(srv__admin_token_load(&env2, path, err, sizeof(err)), -1);
    write_file(path, " my token \nsecond line\n");
    assert_int_equal(srv__admin_token_load(&env2, path, err, sizeof(err)), 0);
    assert_string_equal(env2.token, "my token");
    free(path);
}

UNIT_TESTS(NULL, cmocka_unit_test(test_params), cmocka_unit_test(test_window),
           cmocka_unit_test(test_auth), cmocka_unit_test(test_html_escape),
           cmocka_unit_test(test_sessions), cmocka_unit_test(test_query_without_token),
           cmocka_unit_test_setup_teardown(test_routes, setup, teardown),
           cmocka_unit_test_setup_teardown(test_checks_and_regression, setup, teardown),
           cmocka_unit_test_setup_teardown(test_dashboard_and_metrics, setup, teardown),
           cmocka_unit_test_setup_teardown(test_digest, setup, teardown),
           cmocka_unit_test_setup_teardown(test_token_file, setup, teardown))
