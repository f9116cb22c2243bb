/* test_manage.c - compose, put, withdrawal (RFC 8461 §8.3) and its expiry, the audit trail. */
#include "hosted_test.h"

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

static void test_compose(void **state)
{
    char *text, field[32], err[300];
    size_t len;
    const char *mx[] = {"mail.example.com", "*.MX.example.net", "MAIL.example.com"};
    assert_int_equal(hosted_policy_compose(POLICY_MODE_ENFORCE, mx, 3, 86400, &text, &len, field,
                                           err, sizeof(err)),
                     0);
    assert_string_equal(text, "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\n"
                              "mx: *.mx.example.net\r\nmax_age: 86400\r\n");
    assert_int_equal(len, strlen(text));
    free(text);
    assert_int_equal(
        hosted_policy_compose(POLICY_MODE_NONE, NULL, 0, 0, &text, &len, field, err, sizeof(err)),
        0);
    assert_string_equal(text, "version: STSv1\r\nmode: none\r\nmax_age: 0\r\n");
    free(text);

    struct {
        int mode;
        const char *mx;
        long max_age;
        const char *field, *err;
    } bad[] = {
        {7, "mail.example.com", 1, "mode", "mode is not one of enforce, testing, none"},
        {-1, "mail.example.com", 1, "mode", "mode is not one of enforce, testing, none"},
        {POLICY_MODE_TESTING, "mail.example.com", 31557601, "max_age",
         "max_age 31557601 is not a number of seconds from 0 to 31557600"},
        {POLICY_MODE_TESTING, "mail.example.com", -1, "max_age",
         "max_age -1 is not a number of seconds from 0 to 31557600"},
        {POLICY_MODE_TESTING, NULL, 1, "mx",
         "mode testing needs at least one mx: the host names the MX records point to, or "
         "*.domain patterns"},
        {POLICY_MODE_ENFORCE, "mail.example.com.", 1, "mx",
         "mx 'mail.example.com.' has a trailing dot; remove it"},
        {POLICY_MODE_ENFORCE, "192.0.2.1", 1, "mx",
         "mx '192.0.2.1' is an IP address; write a host name"},
        {POLICY_MODE_ENFORCE, "a\nmode: none", 1, "mx",
         "mx 'a\\nmode: none' is an IP address; write a host name"},
        {POLICY_MODE_ENFORCE, "mail_x.example.com", 1, "mx",
         "mx 'mail_x.example.com' has a character other than letters, digits, hyphens and dots"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *m[] = {bad[i].mx};
        text = (char *)"unchanged";
        assert_int_equal(hosted_policy_compose(bad[i].mode, m, bad[i].mx ? 1 : 0, bad[i].max_age,
                                               &text, &len, field, err, sizeof(err)),
                         -1);
        assert_null(text);
        assert_string_equal(field, bad[i].field);
        assert_string_equal(err, bad[i].err);
    }
}

static const char pol_a[] = "version: STSv1\nmode: testing\nmx: mail.example.com\nmax_age: 86400\n";
static const char pol_b[] = "version: STSv1\nmode: enforce\nmx: mail.example.com\nmax_age: 86400\n";

static char *policy_text(const struct fixture *fx, const char *domain, size_t *len)
{
    char *p = xasprintf("%s/policies/%s.txt", fx->dir, domain);
    char *s = file_read_all(p, 1 << 16, len);
    free(p);
    return s;
}

/* A put that succeeds with this change and these ids (new_id: the id was made by it). */
static void put_ok(struct fixture *fx, const char *domain, const char *text, const char *actor,
                   int64_t now, enum hosted_change change, const char *id, const char *old_id,
                   int new_id)
{
    struct hosted_put r;
    assert_int_equal(hosted_policy_put(fx->h, domain, text, strlen(text), actor, now, &r), 0);
    assert_int_equal(r.change, change);
    assert_string_equal(r.id, id);
    assert_string_equal(r.old_id, old_id);
    assert_int_equal(r.new_id, new_id);
}

static void test_put(void **state)
{
    struct fixture *fx = fixture_new(0); /* the put creates what it needs */
    struct hosted_put r;
    put_ok(fx, "Example.COM", pol_a, "cli", 1795955400, HOSTED_CREATED, "20261129T123000", "", 1);
    size_t len;
    char *t = policy_text(fx, "example.com", &len);
    assert_non_null(t);
    assert_int_equal(len, strlen(pol_a));
    assert_memory_equal(t, pol_a, len);
    free(t);
    struct stat st;
    char *p = xasprintf("%s/policies/example.com.txt", fx->dir);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);
    free(p);
    p = xasprintf("%s/policies", fx->dir);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0750);
    free(p);

    /* the same bytes: unchanged, same id, no audit row */
    put_ok(fx, "example.com", pol_a, "api", 1795955500, HOSTED_UNCHANGED, "20261129T123000",
           "20261129T123000", 0);
    /* changed: a new id */
    put_ok(fx, "example.com", pol_b, "api", 1795955600, HOSTED_CHANGED, "20261129T123320",
           "20261129T123000", 1);
    /* back to the first content: its id again, not a new one */
    put_ok(fx, "example.com", pol_a, "dashboard", 1795955700, HOSTED_CHANGED, "20261129T123000",
           "20261129T123320", 0);

    /* refused: the field and the §2 reason; nothing written */
    const char *broken = "version: STSv1\nmode: Enforce\nmx: mail.example.com\nmax_age: 1\n";
    assert_int_equal(
        hosted_policy_put(fx->h, "example.com", broken, strlen(broken), "api", 1795955800, &r), -1);
    assert_string_equal(r.field, "policy");
    assert_string_equal(r.error, "line 2: mode 'Enforce' is not one of enforce, testing, none "
                                 "(lowercase: write 'enforce')");
    t = policy_text(fx, "example.com", &len);
    assert_memory_equal(t, pol_a, strlen(pol_a));
    free(t);
    assert_int_equal(
        hosted_policy_put(fx->h, "../evil.example", pol_a, strlen(pol_a), "api", 1, &r), -1);
    assert_string_equal(r.field, "domain");

    /* the audit trail, newest first */
    struct hosted_audit *a;
    size_t n;
    assert_int_equal(hosted_audit_list(fx->h, NULL, 0, &a, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(a[0].action, "policy.change");
    assert_string_equal(a[0].actor, "dashboard");
    assert_string_equal(a[0].old_id, "20261129T123320");
    assert_string_equal(a[0].new_id, "20261129T123000");
    assert_int_equal(a[0].at, 1795955700);
    assert_string_equal(a[1].action, "enforce"); /* testing -> enforce */
    assert_string_equal(a[1].actor, "api");
    assert_string_equal(a[2].action, "policy.create");
    assert_string_equal(a[2].actor, "cli");
    assert_string_equal(a[2].domain, "example.com");
    assert_null(a[2].old_id);
    assert_string_equal(a[2].new_id, "20261129T123000");
    assert_true(a[0].id > a[1].id && a[1].id > a[2].id);
    hosted_audit_free(a, n);
    assert_int_equal(hosted_audit_list(fx->h, "other.example", 0, &a, &n), 0);
    assert_int_equal(n, 0);
    hosted_audit_free(a, n);
    assert_int_equal(hosted_audit_list(fx->h, "example.com", 1, &a, &n), 0);
    assert_int_equal(n, 1);
    hosted_audit_free(a, n);
    fixture_free(fx);
}

static void test_withdraw(void **state)
{
    struct fixture *fx = fixture_new(HOSTED_CREATE);
    struct hosted_put r;
    int64_t t0 = 1795955400, until = 0;
    char err[256];
    assert_int_equal(hosted_policy_put(fx->h, "example.com", pol_b, strlen(pol_b), "api", t0, &r),
                     0);
    char first[33];
    snprintf(first, sizeof(first), "%s", r.id);
    assert_int_equal(
        hosted_policy_withdraw(fx->h, "missing.example", 0, "api", t0, &until, err, sizeof(err)),
        0);
    /* withdrawal: mode none with a new id now, the old max_age kept */
    assert_int_equal(
        hosted_policy_withdraw(fx->h, "example.com", 0, "api", t0 + 60, &until, err, sizeof(err)),
        1);
    assert_int_equal(until, t0 + 60 + 86400);
    size_t len;
    char *t = policy_text(fx, "example.com", &len);
    assert_string_equal(t, "version: STSv1\r\nmode: none\r\nmax_age: 86400\r\n");
    free(t);
    struct hosted_policy e;
    assert_int_equal(hosted_policy_get(fx->h, "example.com", HOSTED_IDS, &e), 1);
    assert_int_equal(e.withdrawing, 1);
    assert_int_equal(e.withdraw_until, t0 + 60 + 86400);
    assert_string_not_equal(e.id, first);
    assert_int_equal(e.policy.mode, POLICY_MODE_NONE);
    char none_id[33];
    snprintf(none_id, sizeof(none_id), "%s", e.id);
    hosted_policy_clear(&e);
    /* asked again: the same end, nothing new */
    assert_int_equal(
        hosted_policy_withdraw(fx->h, "example.com", 0, "api", t0 + 120, &until, err, sizeof(err)),
        1);
    assert_int_equal(until, t0 + 60 + 86400);
    /* not due yet: nothing removed */
    assert_int_equal(hosted_withdrawals_expire(fx->h, t0 + 60 + 86399), 0);
    assert_int_equal(hosted_policy_get(fx->h, "example.com", 0, &e), 1);
    hosted_policy_clear(&e);
    /* due: the file goes */
    assert_int_equal(hosted_withdrawals_expire(fx->h, t0 + 60 + 86400), 1);
    assert_int_equal(hosted_policy_get(fx->h, "example.com", 0, &e), 0);
    hosted_policy_clear(&e);
    assert_int_equal(hosted_withdrawals_expire(fx->h, t0 + 999999), 0);

    /* a put while withdrawing cancels the withdrawal */
    assert_int_equal(hosted_policy_put(fx->h, "b.example", pol_b, strlen(pol_b), "api", t0, &r), 0);
    assert_int_equal(
        hosted_policy_withdraw(fx->h, "b.example", 0, "api", t0, &until, err, sizeof(err)), 1);
    assert_int_equal(hosted_policy_put(fx->h, "b.example", pol_a, strlen(pol_a), "api", t0 + 5, &r),
                     0);
    assert_int_equal(r.change, HOSTED_CHANGED);
    assert_int_equal(hosted_policy_get(fx->h, "b.example", HOSTED_IDS, &e), 1);
    assert_int_equal(e.withdrawing, 0);
    hosted_policy_clear(&e);
    assert_int_equal(hosted_withdrawals_expire(fx->h, t0 + 999999), 0);
    assert_int_equal(hosted_policy_get(fx->h, "b.example", 0, &e), 1);
    hosted_policy_clear(&e);

    /* at once: the file goes now */
    assert_int_equal(
        hosted_policy_withdraw(fx->h, "b.example", 1, "cli", t0 + 9, &until, err, sizeof(err)), 1);
    assert_int_equal(until, t0 + 9);
    assert_int_equal(hosted_policy_get(fx->h, "b.example", 0, &e), 0);
    hosted_policy_clear(&e);

    /* every change has its audit row, the versions stay */
    struct hosted_audit *a;
    size_t n;
    assert_int_equal(hosted_audit_list(fx->h, "example.com", 0, &a, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(a[0].action, "remove");
    assert_string_equal(a[0].actor, "stsd");
    assert_string_equal(a[0].old_id, none_id);
    assert_null(a[0].new_id);
    assert_string_equal(a[1].action, "withdraw");
    assert_string_equal(a[1].old_id, first);
    assert_string_equal(a[1].new_id, none_id);
    assert_string_equal(a[1].detail, "mode none until 2026-11-30T12:31:00Z");
    assert_string_equal(a[2].action, "policy.create");
    hosted_audit_free(a, n);
    assert_int_equal(hosted_audit_list(fx->h, "b.example", 0, &a, &n), 0);
    assert_int_equal(n, 4);
    assert_string_equal(a[0].action, "remove");
    assert_string_equal(a[0].actor, "cli");
    assert_string_equal(a[1].action, "policy.change");
    assert_string_equal(a[1].detail, "withdrawal cancelled");
    assert_string_equal(a[2].action, "withdraw");
    hosted_audit_free(a, n);
    struct hosted_version *v;
    assert_int_equal(hosted_versions(fx->h, "example.com", &v, &n), 0);
    assert_int_equal(n, 2);
    free(v);
    fixture_free(fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compose),
        cmocka_unit_test(test_put),
        cmocka_unit_test(test_withdraw),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
