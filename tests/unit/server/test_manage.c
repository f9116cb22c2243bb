/* test_manage.c - unit tests of the management API's pure parts: the routes and their
 * methods, the JSON body validation (each field named when wrong), the form field parser,
 * request body caps, the session cookie and the CSRF tokens. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/unit_test.h"

#include "server/admin_int.h"

#include <stdlib.h>
#include <string.h>

static void test_routes(void **state)
{
    (void)state;
    static const struct {
        const char *path;
        enum admin_method m;
        enum admin_route want;
        const char *name, *allow; /* allow: with ADMIN_ROUTE_METHOD */
    } cases[] = {
        {"/api/v1/domains/example.com/policy", ADMIN_PUT, ADMIN_ROUTE_POLICY, "example.com", NULL},
        {"/api/v1/domains/example.com/policy", ADMIN_GET, ADMIN_ROUTE_METHOD, NULL, "PUT"},
        {"/api/v1/domains/a.example/enforce", ADMIN_POST, ADMIN_ROUTE_ENFORCE, "a.example", NULL},
        {"/api/v1/domains/a.example/enforce", ADMIN_PUT, ADMIN_ROUTE_METHOD, NULL, "POST"},
        {"/api/v1/domains/a.example/certificate", ADMIN_PUT, ADMIN_ROUTE_CERTIFICATE, "a.example",
         NULL},
        {"/api/v1/domains/a.example", ADMIN_DELETE, ADMIN_ROUTE_WITHDRAW, "a.example", NULL},
        /* reading a domain is the read-only API's */
        {"/api/v1/domains/a.example", ADMIN_GET, ADMIN_ROUTE_NONE, NULL, NULL},
        {"/api/v1/domains/a.example", ADMIN_POST, ADMIN_ROUTE_METHOD, NULL, "GET, HEAD, DELETE"},
        {"/api/v1/check", ADMIN_POST, ADMIN_ROUTE_CHECK, NULL, NULL},
        {"/api/v1/check", ADMIN_GET, ADMIN_ROUTE_METHOD, NULL, "POST"},
        {"/api/v1/audit", ADMIN_HEAD, ADMIN_ROUTE_AUDIT, NULL, NULL},
        {"/api/v1/audit", ADMIN_DELETE, ADMIN_ROUTE_METHOD, NULL, "GET, HEAD"},
        {"/forms/policy", ADMIN_POST, ADMIN_ROUTE_FORM, "policy", NULL},
        {"/forms/policy", ADMIN_GET, ADMIN_ROUTE_FORM_PAGE, "policy", NULL},
        {"/forms/policy", ADMIN_PUT, ADMIN_ROUTE_METHOD, NULL, "GET, HEAD, POST"},
        /* read-only resources refuse writes; unknown ones are left to the 404 */
        {"/api/v1/domains", ADMIN_POST, ADMIN_ROUTE_METHOD, NULL, "GET, HEAD"},
        {"/api/v1/reports", ADMIN_GET, ADMIN_ROUTE_NONE, NULL, NULL},
        /* an empty or extra segment is no route of ours */
        {"/api/v1/domains//policy", ADMIN_PUT, ADMIN_ROUTE_METHOD, NULL, "GET, HEAD"},
        {"/api/v1/domains/a/b/policy", ADMIN_PUT, ADMIN_ROUTE_METHOD, NULL, "GET, HEAD"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char name[256];
        const char *allow = NULL;
        enum admin_route r = srv__admin_route(cases[i].path, cases[i].m, name, &allow);
        if (r != cases[i].want || (cases[i].name && strcmp(name, cases[i].name) != 0) ||
            (cases[i].allow && (!allow || strcmp(allow, cases[i].allow) != 0)))
            fail_msg("%s (method %d): route %d name '%s' allow '%s'", cases[i].path,
                     (int)cases[i].m, (int)r, name, allow ? allow : "");
    }
}

#define BODY(s) s, strlen(s)

static void test_policy_body(void **state)
{
    (void)state;
    struct admin_policy_body b;
    char field[32], err[300];
    assert_int_equal(
        srv__admin_policy_body(
            BODY("{\"mode\":\"testing\",\"mx\":[\"mail.example.com\",\"*.mx.example.com\"],"
                 "\"max_age\":604800}"),
            &b, field, err, sizeof(err)),
        0);
    assert_string_equal(b.mode, "testing");
    assert_int_equal(b.n_mx, 2);
    assert_string_equal(b.mx[1], "*.mx.example.com");
    assert_int_equal(b.max_age, 604800);
    srv__admin_policy_body_free(&b);
    /* mx may be left out (mode none) */
    assert_int_equal(srv__admin_policy_body(BODY("{\"mode\":\"none\",\"max_age\":86400}"), &b,
                                            field, err, sizeof(err)),
                     0);
    assert_int_equal(b.n_mx, 0);
    srv__admin_policy_body_free(&b);
    static const struct {
        const char *body, *field;
    } bad[] = {
        {"", ""},
        {"[1]", ""},
        {"{\"mode\":", ""},
        {"{\"mode\":\"testing\",\"mode\":\"none\",\"max_age\":1}", ""}, /* duplicate key */
        {"{\"mx\":[],\"max_age\":1}", "mode"},
        {"{\"mode\":1,\"mx\":[],\"max_age\":1}", "mode"},
        {"{\"mode\":\"testing\",\"mx\":\"mail.example.com\",\"max_age\":1}", "mx"},
        {"{\"mode\":\"testing\",\"mx\":[1],\"max_age\":1}", "mx"},
        {"{\"mode\":\"testing\",\"mx\":[]}", "max_age"},
        {"{\"mode\":\"testing\",\"mx\":[],\"max_age\":\"1\"}", "max_age"},
        {"{\"mode\":\"testing\",\"mx\":[],\"max_age\":1.5}", "max_age"},
        {"{\"mode\":\"testing\",\"mx\":[],\"max_age\":1,\"color\":\"red\"}", "color"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        strcpy(field, "unset");
        if (srv__admin_policy_body(BODY(bad[i].body), &b, field, err, sizeof(err)) != -1 ||
            strcmp(field, bad[i].field) != 0)
            fail_msg("body %s: field '%s', want '%s'", bad[i].body, field, bad[i].field);
        assert_true(err[0] != '\0');
    }
    /* more mx entries than a policy may hold */
    char big[8192];
    size_t o = (size_t)snprintf(big, sizeof(big), "{\"mode\":\"testing\",\"max_age\":1,\"mx\":[");
    for (int i = 0; i <= ADMIN_MAX_MX; i++)
        o += (size_t)snprintf(big + o, sizeof(big) - o, "%s\"m%d.example\"", i ? "," : "", i);
    snprintf(big + o, sizeof(big) - o, "]}");
    assert_int_equal(srv__admin_policy_body(BODY(big), &b, field, err, sizeof(err)), -1);
    assert_string_equal(field, "mx");
    /* a negative max_age reaches the policy rules as -1 */
    assert_int_equal(srv__admin_policy_body(BODY("{\"mode\":\"none\",\"max_age\":-5}"), &b, field,
                                            err, sizeof(err)),
                     0);
    assert_int_equal(b.max_age, -1);
    srv__admin_policy_body_free(&b);
}

static void test_small_bodies(void **state)
{
    (void)state;
    char field[32], err[300], dom[256];
    int force = 7;
    assert_int_equal(srv__admin_enforce_body(BODY(""), &force, field, err, sizeof(err)), 0);
    assert_int_equal(force, 0);
    assert_int_equal(
        srv__admin_enforce_body(BODY("{\"force\":true}"), &force, field, err, sizeof(err)), 0);
    assert_int_equal(force, 1);
    assert_int_equal(
        srv__admin_enforce_body(BODY("{\"force\":false}"), &force, field, err, sizeof(err)), 0);
    assert_int_equal(force, 0);
    assert_int_equal(
        srv__admin_enforce_body(BODY("{\"force\":\"yes\"}"), &force, field, err, sizeof(err)), -1);
    assert_string_equal(field, "force");
    assert_int_equal(
        srv__admin_enforce_body(BODY("{\"forse\":true}"), &force, field, err, sizeof(err)), -1);
    assert_string_equal(field, "forse");
    assert_int_equal(
        srv__admin_check_body(BODY("{\"domain\":\"example.org\"}"), dom, field, err, sizeof(err)),
        0);
    assert_string_equal(dom, "example.org");
    assert_int_equal(srv__admin_check_body(BODY("{\"domain\":5}"), dom, field, err, sizeof(err)),
                     -1);
    assert_string_equal(field, "domain");
    assert_int_equal(srv__admin_check_body(BODY("{}"), dom, field, err, sizeof(err)), -1);
    assert_string_equal(field, "domain");
    assert_int_equal(srv__admin_check_body(BODY(""), dom, field, err, sizeof(err)), -1);
    assert_string_equal(field, "");
}

static void test_form_fields(void **state)
{
    (void)state;
    const char *f = "csrf=ab12&domain=Example.COM&mx=mail.example.com%0D%0A*.mx.example.com"
                    "&max_age=86400&note=a+b%21";
    char *v = srv__admin_form_field(BODY(f), "domain", 255);
    assert_string_equal(v, "Example.COM");
    free(v);
    v = srv__admin_form_field(BODY(f), "mx", 4096);
    assert_string_equal(v, "mail.example.com\r\n*.mx.example.com");
    free(v);
    v = srv__admin_form_field(BODY(f), "note", 10);
    assert_string_equal(v, "a b!");
    free(v);
    assert_null(srv__admin_form_field(BODY(f), "note", 3)); /* over the cap */
    assert_null(srv__admin_form_field(BODY(f), "mode", 16));
    assert_null(srv__admin_form_field(BODY(f), "max", 16)); /* a prefix is no name */
    assert_null(srv__admin_form_field(BODY("a=%zz"), "a", 16));
    assert_null(srv__admin_form_field(BODY("a=x%00y"), "a", 16));
    assert_null(srv__admin_form_field(NULL, 0, "a", 16));
}

static void test_request_parts(void **state)
{
    (void)state;
    assert_int_equal(srv__admin_method(BODY("GET")), ADMIN_GET);
    assert_int_equal(srv__admin_method(BODY("DELETE")), ADMIN_DELETE);
    assert_int_equal(srv__admin_method(BODY("PATCH")), -1);
    assert_int_equal(srv__admin_method(BODY("get")), -1);
    assert_int_equal(srv__admin_body_cap(BODY("/api/v1/domains/a.example/certificate")),
                     ADMIN_MAX_UPLOAD);
    assert_int_equal(srv__admin_body_cap(BODY("/forms/certificate")), ADMIN_MAX_UPLOAD);
    assert_int_equal(srv__admin_body_cap(BODY("/api/v1/domains/a.example/policy")), ADMIN_MAX_JSON);
    char sid[ADMIN_SESSION_HEX + 1];
    char cookie[200];
    snprintf(cookie, sizeof(cookie), "a=b; %s=%064d; c=d", ADMIN_COOKIE, 7);
    assert_int_equal(srv__admin_cookie_session(BODY(cookie), sid), 0);
    assert_int_equal(strlen(sid), ADMIN_SESSION_HEX);
    assert_int_equal(srv__admin_cookie_session(BODY("stsd_session=abc"), sid), -1);
    assert_string_equal(sid, "");
    assert_int_equal(srv__admin_cookie_session(NULL, 0, sid), -1);
}

static void test_csrf(void **state)
{
    (void)state;
    char s1[ADMIN_SESSION_HEX + 1], s2[ADMIN_SESSION_HEX + 1];
    memset(s1, 'a', ADMIN_SESSION_HEX);
    s1[ADMIN_SESSION_HEX] = '\0';
    memcpy(s2, s1, sizeof(s1));
    s2[0] = 'b';
    char t1[ADMIN_CSRF_HEX + 1], t1b[ADMIN_CSRF_HEX + 1], t2[ADMIN_CSRF_HEX + 1];
    assert_int_equal(srv__admin_csrf(s1, t1), 0);
    assert_int_equal(srv__admin_csrf(s1, t1b), 0);
    assert_int_equal(srv__admin_csrf(s2, t2), 0);
    assert_int_equal(strlen(t1), ADMIN_CSRF_HEX);
    assert_string_equal(t1, t1b);    /* stable within the process */
    assert_string_not_equal(t1, t2); /* bound to the session */
    assert_string_not_equal(t1, s1); /* not the session id itself */
    assert_true(srv__admin_csrf_valid(s1, t1));
    assert_false(srv__admin_csrf_valid(s2, t1));
    assert_false(srv__admin_csrf_valid(s1, t2));
    assert_false(srv__admin_csrf_valid(s1, NULL));
    assert_false(srv__admin_csrf_valid(s1, ""));
    char shorter[ADMIN_CSRF_HEX + 1];
    memcpy(shorter, t1, sizeof(shorter));
    shorter[ADMIN_CSRF_HEX - 1] = '\0';
    assert_false(srv__admin_csrf_valid(s1, shorter));
    char longer[ADMIN_CSRF_HEX + 2];
    snprintf(longer, sizeof(longer), "%s0", t1);
    assert_false(srv__admin_csrf_valid(s1, longer));
    /* no session, no token */
    assert_int_equal(srv__admin_csrf("", t1), -1);
    assert_false(srv__admin_csrf_valid("", t1));
}

UNIT_TESTS(NULL, cmocka_unit_test(test_routes), cmocka_unit_test(test_policy_body),
           cmocka_unit_test(test_small_bodies), cmocka_unit_test(test_form_fields),
           cmocka_unit_test(test_request_parts), cmocka_unit_test(test_csrf))
