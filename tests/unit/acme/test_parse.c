/* test_parse.c - the parsers of the CA's answers over the cases in tests/data/acme. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "acme/acme_int.h"
#include "common/common.h"
#include "tests/unit/unit_test.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Run the parser a case's name selects; 0 with the parsed fields in out, or -1 with the
 * error. */
static int parse_case(const char *name, const char *text, size_t len, char *out, size_t outlen)
{
    char err[300] = "";
    if (strncmp(name, "directory-", 10) == 0) {
        struct acme__directory d;
        if (acme__parse_directory(text, len, &d, err, sizeof(err)) != 0)
            goto fail;
        snprintf(out, outlen, "newNonce=%s newAccount=%s newOrder=%s", d.new_nonce, d.new_account,
                 d.new_order);
        return 0;
    }
    if (strncmp(name, "order-", 6) == 0) {
        struct acme__order *o = xmalloc(sizeof(*o));
        if (acme__parse_order(text, len, o, err, sizeof(err)) != 0) {
            free(o);
            goto fail;
        }
        char authz[ACME__URL_MAX * 2] = "";
        for (size_t i = 0; i < o->n_authz; i++)
            snprintf(authz + strlen(authz), sizeof(authz) - strlen(authz), "%s%s", i ? "," : "",
                     o->authz[i]);
        snprintf(out, outlen, "status=%s authz=%s finalize=%s certificate=%s error=%s",
                 acme__state_name(o->status), authz, o->finalize, o->certificate, o->error);
        free(o);
        return 0;
    }
    if (strncmp(name, "authz-", 6) == 0) {
        struct acme__authz a;
        const char *type = strncmp(name, "authz-alpn-", 11) == 0 ? "tls-alpn-01" : "http-01";
        if (acme__parse_authz(text, len, type, &a, err, sizeof(err)) != 0)
            goto fail;
        snprintf(out, outlen, "status=%s identifier=%s ch_status=%s ch_url=%s token=%s ch_error=%s",
                 acme__state_name(a.status), a.identifier, acme__state_name(a.ch_status), a.ch_url,
                 a.ch_token, a.ch_error);
        return 0;
    }
    if (strncmp(name, "problem-", 8) == 0) {
        char type[96], detail[400];
        if (acme__parse_problem(text, len, type, sizeof(type), detail, sizeof(detail)) != 0) {
            assert_string_equal(type, "");
            assert_string_equal(detail, "");
            snprintf(err, sizeof(err), "not a problem document");
            goto fail;
        }
        snprintf(out, outlen, "type=%s detail=%s", type, detail);
        return 0;
    }
    fail_msg("case %s names no parser", name);
fail:
    snprintf(out, outlen, "%s", err);
    return -1;
}

static char *data_path(const char *sub, const char *name, const char *ext)
{
    const char *root = getenv("STSD_TEST_DATA");
    assert_non_null(root);
    return xasprintf("%s/acme/%s/%s%s", root, sub, name, ext);
}

/* Every case in sub ("valid" or "invalid"); returns how many ran. */
static int run_cases(const char *sub, int want_ok)
{
    char *dir = data_path(sub, "", "");
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *de;
    int n = 0, bad = 0;
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (l < 6 || strcmp(de->d_name + l - 5, ".json") != 0)
            continue;
        char *name = xstrndup(de->d_name, l - 5);
        char *jp = data_path(sub, name, ".json"), *ep = data_path(sub, name, ".expect");
        size_t jl = 0, el = 0;
        char *text = file_read_all(jp, 1 << 20, &jl), *expect = file_read_all(ep, 4096, &el);
        assert_non_null(text);
        assert_non_null(expect);
        if (el > 0 && expect[el - 1] == '\n')
            expect[el - 1] = '\0';
        char out[4096];
        int rc = parse_case(name, text, jl, out, sizeof(out));
        int ok =
            want_ok ? rc == 0 && strcmp(out, expect) == 0 : rc == -1 && strstr(out, expect) != NULL;
        if (!ok) {
            print_error("%s/%s: rc=%d got '%s' expected '%s'\n", sub, name, rc, out, expect);
            bad++;
        }
        n++;
        free(text);
        free(expect);
        free(jp);
        free(ep);
        free(name);
    }
    closedir(d);
    free(dir);
    assert_int_equal(bad, 0);
    return n;
}

static void test_valid_cases(void **state)
{
    assert_true(run_cases("valid", 1) >= 12);
}

static void test_invalid_cases(void **state)
{
    assert_true(run_cases("invalid", 0) >= 25);
}

/* The parsers read exactly len bytes: the same text cut short does not parse. */
static void test_length_respected(void **state)
{
    const char dir[] = "{\"newNonce\":\"https://a.test/n\",\"newAccount\":\"https://a.test/a\","
                       "\"newOrder\":\"https://a.test/o\"}";
    struct acme__directory d;
    char err[200];
    assert_int_equal(acme__parse_directory(dir, strlen(dir), &d, err, sizeof(err)), 0);
    assert_int_equal(acme__parse_directory(dir, strlen(dir) - 1, &d, err, sizeof(err)), -1);
    /* a NUL inside a string is refused by the JSON parser, a control character by ours */
    const char nul[] = "{\"newNonce\":\"https://a.test/n\\u0000x\",\"newAccount\":\"https://a.test/"
                       "a\",\"newOrder\":\"https://a.test/o\"}";
    assert_int_equal(acme__parse_directory(nul, strlen(nul), &d, err, sizeof(err)), -1);
    assert_memory_equal(err, "not JSON", 8);
    const char ctl[] = "{\"newNonce\":\"https://a.test/n\\u0001x\",\"newAccount\":\"https://a.test/"
                       "a\",\"newOrder\":\"https://a.test/o\"}";
    assert_int_equal(acme__parse_directory(ctl, strlen(ctl), &d, err, sizeof(err)), -1);
    assert_string_equal(err, "the newNonce URL holds a space or a control character");
}

static void test_link_target(void **state)
{
    struct {
        const char *value, *rel, *want; /* want NULL: none */
    } c[] = {
        {"<https://ca.test/acme/cert/1/up>;rel=\"up\"", "up", "https://ca.test/acme/cert/1/up"},
        {"<https://ca.test/dir>;rel=\"index\"", "up", NULL},
        {"<https://ca.test/dir>;rel=\"index\", <https://ca.test/i>; rel=up", "up",
         "https://ca.test/i"},
        {"<https://ca.test/a>; rel=\"alternate up\"", "up", "https://ca.test/a"},
        {"<https://ca.test/a>; REL=\"Up\"", "up", "https://ca.test/a"},
        {"<https://ca.test/a>; rel=\"upper\"", "up", NULL},
        {"<https://ca.test/a>; rel=upper", "up", NULL},
        {"<https://ca.test/a>; title=\"rel=up\"", "up", NULL},
        {"<https://ca.test/a>; foorel=up", "up", NULL},
        {"<https://ca.test/a>", "up", NULL},
        {"https://ca.test/a; rel=up", "up", NULL},
        {"<https://ca.test/a; rel=up", "up", NULL},
        {"", "up", NULL},
        {"<>; rel=up", "up", ""},
    };
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        char out[64];
        int rc = acme__link_target(c[i].value, c[i].rel, out, sizeof(out));
        if (c[i].want == NULL ? rc != -1 || out[0] != '\0' : rc != 0 || strcmp(out, c[i].want) != 0)
            fail_msg("'%s': rc %d out '%s'", c[i].value, rc, out);
    }
    /* a target longer than the buffer is not cut */
    char small[8];
    assert_int_equal(acme__link_target("<https://ca.test/long>;rel=up", "up", small, sizeof(small)),
                     -1);
}

static void test_nonce_ok(void **state)
{
    char at_cap[ACME__NONCE_MAX + 1], below[ACME__NONCE_MAX];
    memset(at_cap, 'a', ACME__NONCE_MAX);
    at_cap[ACME__NONCE_MAX] = '\0';
    memset(below, 'a', ACME__NONCE_MAX - 1);
    below[ACME__NONCE_MAX - 1] = '\0';
    const struct {
        const char *nonce;
        int ok;
    } c[] = {
        {"oFvnlFP1wIhRlYS2jTaXbA", 1},
        {"a-_Z09", 1},
        {below, 1},
        {"", 0},
        {"abc=", 0},
        {"ab\"c", 0},
        {"ab c", 0},
        {at_cap, 0},
    };
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++)
        if (acme__nonce_ok(c[i].nonce) != c[i].ok)
            fail_msg("'%s': not %d", c[i].nonce, c[i].ok);
}

static void test_state_names(void **state)
{
    assert_string_equal(acme__state_name(ACME__S_PROCESSING), "processing");
    assert_string_equal(acme__state_name(ACME__S_REVOKED), "revoked");
    assert_string_equal(acme__state_name((enum acme__state)99), "unknown");
    assert_string_equal(acme_status_name(ACME_E_RATELIMIT), "rate_limited");
    assert_string_equal(acme_status_name(ACME_E_LOCAL), "local");
    assert_string_equal(acme_status_name(ACME_OK), "ok");
}

UNIT_TESTS(NULL, cmocka_unit_test(test_valid_cases), cmocka_unit_test(test_invalid_cases),
           cmocka_unit_test(test_length_respected), cmocka_unit_test(test_link_target),
           cmocka_unit_test(test_nonce_ok), cmocka_unit_test(test_state_names))
