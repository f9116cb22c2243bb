/* test_policy.c - the data-driven policy parser cases (tests/data/policy) and formatting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/unit_test.h"

#include "common/common.h"
#include "policy/policy.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * Case files (tests/data/policy/README.md):
 *   valid/<case>.txt      a policy that must parse
 *   valid/<case>.expect   the canonical text (policy_format with LF for CRLF), then optionally
 *                         a line "--- warnings" and every expected warning, in order, as
 *                         "line N: <substring of the message>"
 *   invalid/<case>.txt    a policy that must not parse
 *   invalid/<case>.expect "line N: <substring>" of the first error
 */

static char *data_dir(const char *sub)
{
    const char *root = getenv("STSD_TEST_DATA");
    assert_non_null(root);
    return xasprintf("%s/policy/%s", root, sub);
}

static char *read_file(const char *path, size_t *len)
{
    char *s = file_read_all(path, 1 << 20, len);
    if (s == NULL)
        fail_msg("cannot read %s", path);
    return s;
}

/* "line N: substring" against one diagnostic item. */
static int item_matches(const struct policy_diag_item *it, const char *expect)
{
    int line;
    int off = 0;
    if (sscanf(expect, "line %d: %n", &line, &off) != 1 || off == 0)
        fail_msg("bad expectation '%s'", expect);
    return it->line == line && strstr(it->message, expect + off) != NULL;
}

static char *crlf_to_lf(const char *s, size_t n)
{
    char *out = xmalloc(n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n')
            continue;
        out[o++] = s[i];
    }
    out[o] = '\0';
    return out;
}

/* Names of the *.txt cases in dir, sorted. */
static size_t list_cases(const char *dir, char ***out)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        fail_msg("cannot open %s", dir);
    size_t n = 0;
    *out = NULL;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (l > 4 && strcmp(de->d_name + l - 4, ".txt") == 0) {
            *out = xrealloc(*out, (n + 1) * sizeof(char *));
            (*out)[n++] = xstrndup(de->d_name, l - 4);
        }
    }
    closedir(d);
    return n;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static size_t cases(const char *sub, char ***names, char **dir)
{
    *dir = data_dir(sub);
    size_t n = list_cases(*dir, names);
    qsort(*names, n, sizeof(char *), cmp_str);
    return n;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

static int check_valid(const char *name, const char *text, size_t tlen, char *expect)
{
    int ok = 1;
    char *warnings = strstr(expect, "--- warnings\n");
    if (warnings != NULL) {
        *warnings = '\0';
        warnings += strlen("--- warnings\n");
    }
    struct policy p;
    struct policy_diag d;
    if (policy_parse(text, tlen, &p, &d) != 0) {
        char buf[300];
        print_error("valid/%s: does not parse: %s\n", name,
                    policy_diag_first(&d, buf, sizeof(buf)));
        ok = 0;
        goto out;
    }
    size_t flen;
    char *formatted = policy_format(&p, &flen);
    char *lf = crlf_to_lf(formatted, flen);
    if (strcmp(lf, expect) != 0) {
        print_error("valid/%s: formatted\n%s---- expected\n%s", name, lf, expect);
        ok = 0;
    }
    /* Every CRLF, none bare LF: the canonical form. */
    for (size_t i = 0; i < flen; i++) {
        if (formatted[i] == '\n' && (i == 0 || formatted[i - 1] != '\r'))
            ok = 0;
    }
    free(lf);
    free(formatted);
    /* The warnings, exactly. */
    size_t want = 0;
    for (char *line = warnings; line != NULL && *line != '\0'; want++) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        if (want >= d.n || !item_matches(&d.items[want], line) ||
            d.items[want].severity != POLICY_SEV_WARNING) {
            print_error("valid/%s: warning %zu: expected '%s', got 'line %d: %s'\n", name, want + 1,
                        line, want < d.n ? d.items[want].line : 0,
                        want < d.n ? d.items[want].message : "(none)");
            ok = 0;
        }
        line = nl ? nl + 1 : NULL;
    }
    if (d.n_warnings != want || d.n_errors != 0) {
        print_error("valid/%s: %zu warnings and %zu errors, expected %zu warnings\n", name,
                    d.n_warnings, d.n_errors, want);
        for (size_t i = 0; i < d.n; i++)
            print_error("  line %d: %s\n", d.items[i].line, d.items[i].message);
        ok = 0;
    }
    /* Round trip: the canonical text parses to the same policy without diagnostics. */
    {
        size_t l2;
        char *f2 = policy_format(&p, &l2);
        struct policy p2;
        struct policy_diag d2;
        if (policy_parse(f2, l2, &p2, &d2) != 0 || d2.n != 0 || p2.mode != p.mode ||
            p2.max_age != p.max_age || p2.n_mx != p.n_mx) {
            print_error("valid/%s: canonical text does not round-trip\n", name);
            ok = 0;
        }
        for (size_t i = 0; ok && i < p.n_mx; i++)
            ok = strcmp(p.mx[i], p2.mx[i]) == 0;
        policy_clear(&p2);
        free(f2);
    }
out:
    policy_clear(&p);
    return ok;
}

static int check_invalid(const char *name, const char *text, size_t tlen, char *expect)
{
    int ok = 1;
    char *nl = strchr(expect, '\n');
    if (nl)
        *nl = '\0';
    struct policy p;
    struct policy_diag d;
    char buf[300];
    if (policy_parse(text, tlen, &p, &d) == 0) {
        print_error("invalid/%s: parses without error\n", name);
        ok = 0;
    } else {
        const struct policy_diag_item *first = NULL;
        for (size_t i = 0; i < d.n && first == NULL; i++) {
            if (d.items[i].severity == POLICY_SEV_ERROR)
                first = &d.items[i];
        }
        if (first == NULL || d.n_errors == 0 || !item_matches(first, expect)) {
            print_error("invalid/%s: first error '%s', expected '%s'\n", name,
                        policy_diag_first(&d, buf, sizeof(buf)), expect);
            ok = 0;
        }
        /* policy_diag_first gives the same "line N: message". */
        policy_diag_first(&d, buf, sizeof(buf));
        if (strncmp(buf, "line ", 5) != 0)
            ok = 0;
    }
    /* Every diagnostic has a line number. */
    for (size_t i = 0; i < d.n; i++) {
        if (d.items[i].line < 1)
            ok = 0;
    }
    /* Without a diag the verdict is the same. */
    struct policy p3;
    if (policy_parse(text, tlen, &p3, NULL) == 0)
        ok = 0;
    policy_clear(&p3);
    policy_clear(&p);
    return ok;
}

/* Run check on every case of tests/data/policy/<sub> (at least 20): its <name>.txt and
 * <name>.expect, which check may change. Returns the number that fail. */
static size_t failed_cases(const char *sub, int (*check)(const char *name, const char *text,
                                                         size_t tlen, char *expect))
{
    char **names, *dir;
    size_t n = cases(sub, &names, &dir);
    assert_true(n >= 20);
    size_t failed = 0;
    for (size_t i = 0; i < n; i++) {
        char *tpath = xasprintf("%s/%s.txt", dir, names[i]);
        char *epath = xasprintf("%s/%s.expect", dir, names[i]);
        size_t tlen, elen;
        char *text = read_file(tpath, &tlen);
        char *expect = read_file(epath, &elen);
        failed += !check(names[i], text, tlen, expect);
        free(text);
        free(expect);
        free(tpath);
        free(epath);
    }
    free_names(names, n);
    free(dir);
    return failed;
}

static void test_valid_cases(void **state)
{
    assert_int_equal(failed_cases("valid", check_valid), 0);
}

static void test_invalid_cases(void **state)
{
    assert_int_equal(failed_cases("invalid", check_invalid), 0);
}

static void test_format(void **state)
{
    char *mx[] = {"mail.example.com", "*.example.net"};
    struct policy p = {.mode = POLICY_MODE_TESTING, .max_age = 86400, .mx = mx, .n_mx = 2};
    size_t len;
    char *s = policy_format(&p, &len);
    const char *want = "version: STSv1\r\nmode: testing\r\nmx: mail.example.com\r\n"
                       "mx: *.example.net\r\nmax_age: 86400\r\n";
    assert_string_equal(s, want);
    assert_int_equal(len, strlen(want));
    free(s);
    struct policy none = {.mode = POLICY_MODE_NONE, .max_age = 0};
    s = policy_format(&none, &len);
    assert_string_equal(s, "version: STSv1\r\nmode: none\r\nmax_age: 0\r\n");
    free(s);
}

static void test_mode_names(void **state)
{
    assert_string_equal(policy_mode_name(POLICY_MODE_ENFORCE), "enforce");
    assert_string_equal(policy_mode_name(POLICY_MODE_TESTING), "testing");
    assert_string_equal(policy_mode_name(POLICY_MODE_NONE), "none");
    assert_int_equal(policy_mode_parse("enforce"), POLICY_MODE_ENFORCE);
    assert_int_equal(policy_mode_parse("testing"), POLICY_MODE_TESTING);
    assert_int_equal(policy_mode_parse("none"), POLICY_MODE_NONE);
    assert_int_equal(policy_mode_parse("Enforce"), -1);
    assert_int_equal(policy_mode_parse("enforce "), -1);
    assert_int_equal(policy_mode_parse(""), -1);
    assert_int_equal(policy_mode_parse(NULL), -1);
}

static void test_parsed_fields(void **state)
{
    const char *t = "version: STSv1\nmode: enforce\nmx: MX1.Example.com\nmx: *.example.net\n"
                    "max_age: 31557600\n";
    struct policy p;
    struct policy_diag d;
    assert_int_equal(policy_parse(t, strlen(t), &p, &d), 0);
    assert_int_equal(p.mode, POLICY_MODE_ENFORCE);
    assert_int_equal(p.max_age, 31557600);
    assert_int_equal(p.n_mx, 2);
    assert_string_equal(p.mx[0], "mx1.example.com");
    assert_string_equal(p.mx[1], "*.example.net");
    assert_int_equal(d.n, 0);
    policy_clear(&p);
    policy_clear(&p); /* idempotent */
    policy_clear(NULL);
}

/* A flood of warnings must not hide the first error behind the 32-item cap. */
static void test_diag_cap(void **state)
{
    char *t = xstrdup("version: STSv1\nmode: enforce\nmx: mail.example.com\nmax_age: 1\n");
    for (int i = 0; i < 50; i++) {
        char *n = xasprintf("%sx%d: y\n", t, i);
        free(t);
        t = n;
    }
    char *n = xasprintf("%smx: bad_host.example\n", t);
    free(t);
    t = n;
    struct policy p;
    struct policy_diag d;
    assert_int_equal(policy_parse(t, strlen(t), &p, &d), -1);
    assert_int_equal(d.n, 32);
    assert_int_equal(d.n_warnings, 50);
    assert_int_equal(d.n_errors, 1);
    char buf[300];
    policy_diag_first(&d, buf, sizeof(buf));
    assert_non_null(strstr(buf, "line 55: mx 'bad_host.example'"));
    policy_clear(&p);
    free(t);
}

/* 10,000 policies must parse well within the server's start-up budget. */
static void test_speed(void **state)
{
    const char *t = "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.com\r\n"
                    "mx: mx2.example.com\r\nmx: *.backup.example.net\r\nmax_age: 604800\r\n";
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < 10000; i++) {
        struct policy p;
        assert_int_equal(policy_parse(t, strlen(t), &p, NULL), 0);
        policy_clear(&p);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
    print_message("# 10000 parses in %.1f ms\n", ms);
    assert_true(ms < 1000.0);
}

UNIT_TESTS(NULL, cmocka_unit_test(test_valid_cases), cmocka_unit_test(test_invalid_cases),
           cmocka_unit_test(test_format), cmocka_unit_test(test_mode_names),
           cmocka_unit_test(test_parsed_fields), cmocka_unit_test(test_diag_cap),
           cmocka_unit_test(test_speed))
