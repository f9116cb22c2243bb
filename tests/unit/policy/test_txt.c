/* test_txt.c - the _mta-sts (RFC 8461 §3.1) and _smtp._tls (RFC 8460 §3) TXT records. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/unit_test.h"

#include "policy/policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sts_case {
    const char *txt;
    const char *id;  /* expected id when valid, NULL when invalid */
    int id_error;    /* expected *id_error when invalid */
    const char *err; /* substring of the message when invalid */
};

static void test_sts_parse(void **state)
{
    static const struct sts_case cases[] = {
        {"v=STSv1; id=20160831085700Z;", "20160831085700Z", 0, NULL}, /* RFC 8461 §3.1 */
        {"v=STSv1; id=20261129T123000", "20261129T123000", 0, NULL},
        {"v=STSv1;id=abc", "abc", 0, NULL},
        {"v=STSv1 ; id=abc ; ", "abc", 0, NULL},
        {"v=STSv1;\tid=abc;\t", "abc", 0, NULL},
        {"v=STSv1; id=12345678901234567890123456789012", "12345678901234567890123456789012", 0,
         NULL},
        {"v=STSv1; ext=foo; id=x1", "x1", 0, NULL},
        {"v=STSv1; id=x1; a.b_c-d=!\"#$%&'()*+,-./0123456789:<>?@[]^_`{|}~", "x1", 0, NULL},
        {"v=STSv1; id=123456789012345678901234567890123", NULL, 1, "longer than 32"},
        {"v=STSv1; id=", NULL, 1, "id is empty"},
        {"v=STSv1; id=2026-11-29", NULL, 1, "only letters and digits"},
        {"v=STSv1; id=abc_def", NULL, 1, "only letters and digits"},
        {"v=STSv1", NULL, 1, "no 'id' field"},
        {"v=STSv1;", NULL, 1, "no 'id' field"},
        {"v=STSv1; foo=bar", NULL, 1, "no 'id' field"},
        {"v=STSv1; id=a; id=b", NULL, 1, "id appears twice"},
        {"v=STSv1; ID=abc", NULL, 1, "no 'id' field"},
        {"v=stsv1; id=abc", NULL, 0, "case-sensitive"},
        {"V=STSv1; id=abc", NULL, 0, "case-sensitive"},
        {"id=abc; v=STSv1", NULL, 0, "does not start with 'v=STSv1'"},
        {"v=STSv10; id=abc", NULL, 0, "does not start with 'v=STSv1'"},
        {" v=STSv1; id=abc", NULL, 0, "does not start"},
        {"", NULL, 0, "does not start"},
        {"v=STSv1; id=abc ", NULL, 0, "whitespace at the end"},
        {"v=STSv1 id=abc", NULL, 0, "expected ';' after 'v=STSv1'"},
        {"v=STSv1;; id=abc", NULL, 0, "empty field"},
        {"v=STSv1; id=abc;; ", NULL, 0, "empty field"},
        {"v=STSv1; id=abc; foo", NULL, 0, "not a 'name=value' field"},
        {"v=STSv1; id=abc; =x", NULL, 0, "not a 'name=value' field"},
        {"v=STSv1; id=abc; _x=1", NULL, 0, "not a 'name=value' field"},
        {"v=STSv1; id=abc; abcdefghijabcdefghijabcdefghijabc=1", NULL, 0, "longer than 32"},
        {"v=STSv1; id=abc; ext=", NULL, 0, "empty value"},
        {"v=STSv1; id=abc; ext=a=b", NULL, 0, "invalid character '='"},
        {"v=STSv1; id=abc; ext=caf\xc3\xa9", NULL, 0, "invalid character"},
        {"v=STSv1; id=abc def", NULL, 0, "expected ';' after 'id'"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sts_txt t;
        int id_error = -1;
        char err[256] = "";
        int rc = policy_sts_txt_parse(cases[i].txt, &t, &id_error, err, sizeof(err));
        if (cases[i].id != NULL) {
            if (rc != 0 || strcmp(t.id, cases[i].id) != 0)
                fail_msg("'%s': rc %d id '%s' err '%s'", cases[i].txt, rc, t.id, err);
            continue;
        }
        if (rc != -1 || id_error != cases[i].id_error || strstr(err, cases[i].err) == NULL)
            fail_msg("'%s': rc %d id_error %d err '%s', want id_error %d and '%s'", cases[i].txt,
                     rc, id_error, err, cases[i].id_error, cases[i].err);
    }
    struct sts_txt t;
    assert_int_equal(policy_sts_txt_parse("v=STSv1; a=1; id=x; b=2", &t, NULL, NULL, 0), 0);
    assert_int_equal(t.n_ext, 2);
    /* Longer than the cap. */
    char *big = malloc(5000);
    strcpy(big, "v=STSv1; id=x; e=");
    memset(big + strlen(big), 'a', 4500);
    big[4517] = '\0';
    char err[128];
    assert_int_equal(policy_sts_txt_parse(big, &t, NULL, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "longer than 4096"));
    free(big);
}

static void test_is_sts_rpt(void **state)
{
    assert_int_equal(policy_txt_is_sts("v=STSv1; id=1"), 1);
    assert_int_equal(policy_txt_is_sts("v=STSv1"), 1);
    assert_int_equal(policy_txt_is_sts("v=STSv1 ;id=1"), 1);
    assert_int_equal(policy_txt_is_sts("v=STSv10"), 0);
    assert_int_equal(policy_txt_is_sts("v=spf1 -all"), 0);
    assert_int_equal(policy_txt_is_sts(NULL), 0);
    assert_int_equal(policy_txt_is_rpt("v=TLSRPTv1; rua=mailto:a@b"), 1);
    assert_int_equal(policy_txt_is_rpt("v=TLSRPTv1"), 1);
    assert_int_equal(policy_txt_is_rpt("v=TLSRPTv2"), 0);
    assert_int_equal(policy_txt_is_rpt("v=STSv1"), 0);
}

static void test_sts_format(void **state)
{
    char buf[64];
    assert_string_equal(policy_sts_txt_format("20261129T123000", buf, sizeof(buf)),
                        "v=STSv1; id=20261129T123000");
    struct sts_txt t;
    assert_int_equal(policy_sts_txt_parse(buf, &t, NULL, NULL, 0), 0);
    assert_string_equal(t.id, "20261129T123000");
}

struct rpt_case {
    const char *txt;
    size_t n;         /* expected URIs when valid */
    const char *uris; /* expected URIs joined by ' ' */
    const char *err;  /* substring when invalid */
};

static void test_rpt_parse(void **state)
{
    static const struct rpt_case cases[] = {
        /* RFC 8460 §3 examples */
        {"v=TLSRPTv1;rua=mailto:reports@example.com", 1, "mailto:reports@example.com", NULL},
        {"v=TLSRPTv1; rua=https://reporting.example.com/v1/tlsrpt", 1,
         "https://reporting.example.com/v1/tlsrpt", NULL},
        {"v=TLSRPTv1; rua=mailto:reports@example.com,https://reporting.example.com/v1/tlsrpt", 2,
         "mailto:reports@example.com https://reporting.example.com/v1/tlsrpt", NULL},
        {"v=TLSRPTv1; rua=mailto:a@example.com , https://r.example.com/x ;", 2,
         "mailto:a@example.com https://r.example.com/x", NULL},
        {"v=TLSRPTv1; rua=mailto:a%2Cb@example.com", 1, "mailto:a%2Cb@example.com", NULL},
        {"v=TLSRPTv1; rua=https://r.example.com:8443/a?b=c%21", 1,
         "https://r.example.com:8443/a?b=c%21", NULL},
        {"v=TLSRPTv1; ext=1; rua=MAILTO:a@example.com;", 1, "MAILTO:a@example.com", NULL},
        {"v=TLSRPTv1", 0, NULL, "no 'rua' field"},
        {"v=TLSRPTv1; ext=1", 0, NULL, "no 'rua' field"},
        {"v=tlsrptv1; rua=mailto:a@example.com", 0, NULL, "case-sensitive"},
        {"v=TLSRPTv2; rua=mailto:a@example.com", 0, NULL, "does not start"},
        {"v=TLSRPTv1; rua=http://r.example.com/x", 0, NULL, "must use mailto: or https:"},
        {"v=TLSRPTv1; rua=ftp://r.example.com/x", 0, NULL, "must use mailto: or https:"},
        {"v=TLSRPTv1; rua=reports@example.com", 0, NULL, "must use mailto: or https:"},
        {"v=TLSRPTv1; rua=mailto:a@example.com!10m", 0, NULL, "unescaped '!'"},
        {"v=TLSRPTv1; rua=mailto:a@example.com,", 0, NULL, "empty URI"},
        {"v=TLSRPTv1; rua=,mailto:a@example.com", 0, NULL, "empty URI"},
        {"v=TLSRPTv1; rua=", 0, NULL, "empty URI"},
        {"v=TLSRPTv1; rua=mailto:", 0, NULL, "has no address"},
        {"v=TLSRPTv1; rua=mailto:example.com", 0, NULL, "not mailto:local@domain"},
        {"v=TLSRPTv1; rua=https://", 0, NULL, "not https://host/path"},
        {"v=TLSRPTv1; rua=https:///path", 0, NULL, "has no host"},
        {"v=TLSRPTv1; rua=https:r.example.com", 0, NULL, "not https://host/path"},
        {"v=TLSRPTv1; rua=mailto:a%zz@example.com", 0, NULL, "two hex digits"},
        {"v=TLSRPTv1; rua=mailto:a@example.com; rua=mailto:b@example.com", 0, NULL,
         "rua appears twice"},
        {"v=TLSRPTv1; rua=mailto:a@example.com ", 0, NULL, "whitespace at the end"},
        {"v=TLSRPTv1; rua=mailto:a@example.com mailto:b@example.com", 0, NULL, "expected ';'"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct rpt_txt r;
        char err[256] = "";
        int rc = policy_rpt_txt_parse(cases[i].txt, &r, err, sizeof(err));
        if (cases[i].err != NULL) {
            if (rc != -1 || strstr(err, cases[i].err) == NULL || r.n_rua != 0 || r.rua != NULL)
                fail_msg("'%s': rc %d err '%s', want '%s'", cases[i].txt, rc, err, cases[i].err);
            continue;
        }
        if (rc != 0 || r.n_rua != cases[i].n)
            fail_msg("'%s': rc %d n %zu err '%s'", cases[i].txt, rc, r.n_rua, err);
        char joined[512] = "";
        for (size_t j = 0; j < r.n_rua; j++) {
            if (j)
                strcat(joined, " ");
            strcat(joined, r.rua[j]);
        }
        if (strcmp(joined, cases[i].uris) != 0)
            fail_msg("'%s': uris '%s', want '%s'", cases[i].txt, joined, cases[i].uris);
        policy_rpt_txt_clear(&r);
    }
    policy_rpt_txt_clear(NULL);
}

static void test_rpt_format(void **state)
{
    const char *rua[] = {"https://mta-sts.example.com/tlsrpt", "mailto:tls@example.com"};
    char *s = policy_rpt_txt_format(rua, 2);
    assert_string_equal(s, "v=TLSRPTv1; rua=https://mta-sts.example.com/tlsrpt,"
                           "mailto:tls@example.com");
    struct rpt_txt r;
    assert_int_equal(policy_rpt_txt_parse(s, &r, NULL, 0), 0);
    assert_int_equal(r.n_rua, 2);
    assert_string_equal(r.rua[1], "mailto:tls@example.com");
    policy_rpt_txt_clear(&r);
    free(s);
}

static int taken_calls;
static int taken_below(void *ctx, const char *id)
{
    taken_calls++;
    /* ctx: how many candidates are taken */
    return taken_calls <= *(int *)ctx;
}
static int always(void *ctx, const char *id)
{
    return 1;
}

static void test_new_id(void **state)
{
    char id[POLICY_ID_MAX + 1];
    policy_new_id(1795955400, NULL, NULL, id); /* 2026-11-29T12:30:00Z */
    assert_string_equal(id, "20261129T123000");
    assert_int_equal(policy_id_valid(id), 1);
    /* n candidates taken: the next free suffix */
    static const struct {
        int taken;
        const char *want;
    } cases[] = {{0, "20261129T123000"},
                 {1, "20261129T123000a"},
                 {26, "20261129T123000z"},
                 {27, "20261129T123000aa"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int n = cases[i].taken;
        taken_calls = 0;
        policy_new_id(1795955400, taken_below, &n, id);
        assert_string_equal(id, cases[i].want);
        assert_int_equal(policy_id_valid(id), 1);
    }
    /* A callback that never says "free" still ends, with a valid id. */
    policy_new_id(0, always, NULL, id);
    assert_int_equal(policy_id_valid(id), 1);
    assert_int_equal(strncmp(id, "19700101T000000", 15), 0);
}

UNIT_TESTS(NULL, cmocka_unit_test(test_sts_parse), cmocka_unit_test(test_is_sts_rpt),
           cmocka_unit_test(test_sts_format), cmocka_unit_test(test_rpt_parse),
           cmocka_unit_test(test_rpt_format), cmocka_unit_test(test_new_id))
