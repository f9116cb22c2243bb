/* test_check.c - check_run as the server calls it (checker/check.c): repeated runs, invalid
 * names, a resolver that does not answer (a closed loopback port), and the text output. */
#include "checker/checker.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <cmocka.h>

static const char *first_id(const struct check_result *res, size_t dom)
{
    assert_true(dom < res->n_domains);
    assert_true(res->domains[dom].n_findings > 0);
    return res->domains[dom].findings[0].id;
}

/* Invalid names never reach the resolver; the run can be repeated (ASan checks for leaks). */
static void test_invalid_names(void **state)
{
    const char *const names[] = {"-bad-.test", "a..b", "192.0.2.1", "bad_label!.test", "A..B"};
    struct check_opts o;
    memset(&o, 0, sizeof(o));
    o.resolver = "127.0.0.1@9"; /* never asked */
    for (int round = 0; round < 3; round++) {
        struct check_result res;
        char err[256];
        int rc = check_run(&o, names, 5, &res, err, sizeof(err));
        assert_int_equal(rc, CHECK_ERROR);
        assert_true(res.ran);
        json_t *j = check_result_json(&res);
        assert_int_equal(json_integer_value(json_object_get(j, "version")), 1);
        /* "A..B" is "a..b" again once lowercased: one entry. */
        assert_int_equal(json_array_size(json_object_get(j, "domains")), 4);
        assert_int_equal(res.n_domains, 4);
        json_decref(j);
        for (size_t i = 0; i < 4; i++) {
            assert_string_equal(first_id(&res, i), "check.input");
            assert_false(res.domains[i].valid);
            assert_int_equal(res.domains[i].worst, CHECK_ERROR);
        }
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        check_print_text(f, &res, 0);
        fclose(f);
        assert_non_null(strstr(buf, "check.input"));
        assert_non_null(strstr(buf, "192.0.2.1: error"));
        assert_null(strchr(buf, '\033'));
        free(buf);
        check_result_free(&res);
    }
}

/* A UDP port on 127.0.0.1 where nothing listens. */
static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t l = sizeof(sa);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, l), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &l), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static void test_no_resolver(void **state)
{
    char resolver[64];
    snprintf(resolver, sizeof(resolver), "127.0.0.1:%d", closed_port());
    struct check_opts o;
    memset(&o, 0, sizeof(o));
    o.resolver = resolver;
    o.timeout = 1;
    const char *const names[] = {"example.test", "not valid"};
    struct check_result res;
    char err[256];
    assert_int_equal(check_run(&o, names, 2, &res, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "resolver"));
    assert_non_null(strstr(err, resolver));
    assert_true(res.ran);
    assert_true(res.unavailable);
    assert_string_equal(first_id(&res, 0), "dns.resolver");
    assert_string_equal(first_id(&res, 1), "check.input");
    check_result_free(&res);
}

static void test_bad_options(void **state)
{
    struct check_opts o;
    memset(&o, 0, sizeof(o));
    o.resolver = "nowhere";
    const char *const names[] = {"example.test"};
    struct check_result res;
    char err[256];
    assert_int_equal(check_run(&o, names, 1, &res, err, sizeof(err)), -1);
    assert_false(res.ran);
    assert_null(check_result_json(&res));
    assert_non_null(strstr(err, "nowhere"));
    o.resolver = NULL;
    o.ca_file = "/nonexistent/ca.pem";
    assert_int_equal(check_run(&o, names, 1, &res, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "/nonexistent/ca.pem"));
    assert_false(res.ran); /* nothing was checked */
    assert_null(check_result_json(&res));
    check_result_free(&res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_invalid_names),
        cmocka_unit_test(test_no_resolver),
        cmocka_unit_test(test_bad_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
