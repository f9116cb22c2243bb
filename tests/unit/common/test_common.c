/* test_common.c - unit tests of common/: the config loader, logfmt quoting and text escaping
 * (the value parsers and the domain validator: test_parse.c, run from main here). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/common.h"
#include "common/config.h"
#include "tests/unit/common/common_test.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static char *write_tmp(const char *text)
{
    char *path = strdup("/tmp/stsd-test-conf-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void test_config_defaults_and_values(void **state)
{
    char err[1024];
    struct stsd_config cfg;
    char *p = write_tmp("");
    assert_int_equal(config_load(&cfg, p, err, sizeof(err)), 0);
    assert_string_equal(cfg.state_dir, "/var/lib/stsd");
    assert_string_equal(cfg.cert_dir, "/var/lib/stsd/certs");
    assert_int_equal(cfg.n_listen, 1);
    assert_string_equal(cfg.listen[0], "0.0.0.0:443");
    assert_string_equal(cfg.admin_listen, "127.0.0.1:8080");
    assert_int_equal(cfg.max_body, 10 * 1024 * 1024);
    config_free(&cfg);
    unlink(p);
    free(p);

    p = write_tmp("[server]\nlisten = 127.0.0.1:8443\nlisten = [::1]:8443\n"
                  "state_dir = /tmp/x\n[reports]\nmax_body = 1M\naccept = any\n"
                  "rate_exempt = 10.0.0.0/8, ::1\n[tls]\nmin_version = TLSv1.3\n"
                  "session_tickets = off\n");
    assert_int_equal(config_load(&cfg, p, err, sizeof(err)), 0);
    assert_int_equal(cfg.n_listen, 2);
    assert_string_equal(cfg.listen[1], "[::1]:8443");
    assert_string_equal(cfg.cert_dir, "/tmp/x/certs");
    assert_int_equal(cfg.max_body, 1024 * 1024);
    assert_int_equal(cfg.accept_any, 1);
    assert_int_equal(cfg.min_version, 0x0304);
    assert_int_equal(cfg.session_tickets, 0);
    assert_int_equal(cfg.n_rate_exempt, 2);
    unsigned char a[16];
    inet_pton(AF_INET, "10.1.2.3", a);
    assert_true(config_cidr_match(cfg.rate_exempt, cfg.n_rate_exempt, AF_INET, a));
    inet_pton(AF_INET, "11.1.2.3", a);
    assert_false(config_cidr_match(cfg.rate_exempt, cfg.n_rate_exempt, AF_INET, a));
    config_free(&cfg);
    unlink(p);
    free(p);
}

static void expect_error(const char *text, const char *needle)
{
    char err[1024];
    struct stsd_config cfg;
    char *p = write_tmp(text);
    assert_int_equal(config_load(&cfg, p, err, sizeof(err)), -1);
    if (strstr(err, needle) == NULL)
        fail_msg("error '%s' lacks '%s'", err, needle);
    assert_non_null(strstr(err, p)); /* names the file */
    config_free(&cfg);
    unlink(p);
    free(p);
}

static void test_config_errors(void **state)
{
    expect_error("[server]\nlisten = 127.0.0.1:443\nbogus = 1\n", ":3: unknown key 'bogus'");
    expect_error("[server]\nthreads = many\n", ":2: [server] threads = 'many'");
    expect_error("[nope]\nx = 1\n", ":2: unknown section [nope]");
    expect_error("x = 1\n", "outside a section");
    expect_error("[reports]\nmax_body = 10Q\n", "max_body");
    expect_error("[server]\nlisten = 443\n", "not an address:port");
    expect_error("[server\n", ":1: syntax error");
    expect_error("[tls]\nsession_tickets = maybe\n", ":2: [tls] session_tickets = 'maybe'");
    expect_error("[checks]\nresolver = localhost\n",
                 ":2: [checks] resolver = 'localhost' must be IP, IP@PORT or IP:PORT");
    char err[1024];
    struct stsd_config cfg;
    assert_int_equal(config_load(&cfg, "/nonexistent/stsd.conf", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "/nonexistent/stsd.conf"));
    config_free(&cfg);
}

/* config_format of the configuration loaded from path (a file of the source tree when rel). */
static char *format_loaded(const char *path, int rel)
{
    char err[1024], full[4096];
    const char *root = getenv("STSD_SOURCE_ROOT");
    assert_non_null(root);
    snprintf(full, sizeof(full), "%s/%s", rel ? root : "", path);
    struct stsd_config cfg;
    if (config_load(&cfg, rel ? full : path, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    char *text = config_format(&cfg);
    config_free(&cfg);
    return text;
}

/* Each of the NULL-terminated lines is a whole line of text. */
static void expect_lines(const char *text, ...)
{
    va_list ap;
    va_start(ap, text);
    for (const char *l = va_arg(ap, const char *); l != NULL; l = va_arg(ap, const char *)) {
        char *line = xasprintf("\n%s\n", l);
        if (strstr(text, line) == NULL && strncmp(text, line + 1, strlen(line + 1)) != 0)
            fail_msg("no line '%s' in:\n%s", l, text);
        free(line);
    }
    va_end(ap);
}

/* examples/stsd.conf lists every key with its default: it must load and change nothing. */
static void test_config_example_file(void **state)
{
    char *example = format_loaded("examples/stsd.conf", 1), *def = format_loaded("/dev/null", 0);
    assert_string_equal(example, def);
    expect_lines(def, "[server]\nlisten=0.0.0.0:443\nstate_dir=/var/lib/stsd",
                 "rate_exempt=127.0.0.0/8\nrate_exempt=::1/128", "keep=34560000", "access_log=",
                 NULL);
    free(example);
    free(def);
}

/* config_format writes what config_load reads back to the same values, for every key. */
static void test_config_format_round_trip(void **state)
{
    static const char *const files[] = {"tests/data/common/config/full.conf",
                                        "tests/data/common/config/lists.conf",
                                        "tests/data/common/config/empty.conf"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char *first = format_loaded(files[i], 1);
        char *p = write_tmp(first);
        char *again = format_loaded(p, 0);
        assert_string_equal(again, first);
        unlink(p);
        free(p);
        free(again);
        free(first);
    }
    char *full = format_loaded("tests/data/common/config/full.conf", 1);
    expect_lines(full, "listen=0.0.0.0:443\nlisten=[::]:443",
                 "domains=example.com\ndomains=example.org", "min_version=TLSv1.2",
                 "failure_rate=0.050000000000000003", NULL);
    free(full);
}

static void test_log_quote(void **state)
{
    char buf[64];
    assert_string_equal(log_quote(buf, sizeof(buf), "Google Inc."), "\"Google Inc.\"");
    assert_string_equal(log_quote(buf, sizeof(buf), "a\"b\n"), "\"a\\\"b\\n\"");
    char small[12];
    log_quote(small, sizeof(small), "a very long value indeed");
    assert_true(strlen(small) < sizeof(small));
}

static void test_log_quote_controls(void **state)
{
    char buf[64];
    assert_string_equal(log_quote(buf, sizeof(buf), "a\x1b[31mb\\"), "\"a\\x1b[31mb\\\\\"");
    assert_string_equal(log_quote(buf, sizeof(buf),
                                  "\xc2\x9b"
                                  "2J"),
                        "\"\\u009b2J\"");
    /* cut between escapes, never inside one */
    char small[12];
    log_quote(small, sizeof(small), "\x1b\x1b\x1b");
    assert_string_equal(small, "\"\\x1b...\"");
}

static void test_log_field(void **state)
{
    char buf[64];
    assert_string_equal(log_field(buf, sizeof(buf), "example.com"), "example.com");
    assert_string_equal(log_field(buf, sizeof(buf), "Google Inc."), "\"Google Inc.\"");
    assert_string_equal(log_field(buf, sizeof(buf), "a=b"), "\"a=b\"");
    assert_string_equal(log_field(buf, sizeof(buf), ""), "\"\"");
    assert_string_equal(log_field(buf, sizeof(buf), NULL), "\"\"");
    /* nothing but printable ASCII goes out bare: C1 and invalid bytes are escaped */
    assert_string_equal(log_field(buf, sizeof(buf), "x\xc2\x9by"), "\"x\\u009by\"");
    assert_string_equal(log_field(buf, sizeof(buf), "x\xffy"), "\"x\\xffy\"");
    assert_string_equal(log_field(buf, sizeof(buf), "\xc3\xa9"), "\"\xc3\xa9\"");
}

static void test_text_escape(void **state)
{
    static const struct {
        const char *in;
        unsigned flags;
        size_t outsz, consumed; /* outsz 0: 128 */
        const char *want;
    } cases[] = {
        /* printable ASCII and UTF-8 stay */
        {"Gr\xc3\xbc\xc3\x9f \xe2\x82\xac x", 0, 0, 12, "Gr\xc3\xbc\xc3\x9f \xe2\x82\xac x"},
        /* ESC is the four characters \x1b; every C0 control and DEL likewise */
        {"a\x1b]0;t\x07"
         "b\x7f",
         0, 0, 9, "a\\x1b]0;t\\x07b\\x7f"},
        {"1\n2\r3\t4\x01", 0, 0, 8, "1\\n2\\r3\\t4\\x01"},
        /* C1 (UTF-8 encoded), a raw 8-bit CSI byte, invalid and overlong UTF-8 */
        {"\xc2\x9b|\x9b|\xff|\xc0\xaf|\xed\xa0\x80", 0, 0, 13,
         "\\u009b|\\x9b|\\xff|\\xc0\\xaf|\\xed\\xa0\\x80"},
        /* bidirectional override and line separator; a truncated sequence at the end */
        {"\xe2\x80\xae"
         "abc\xe2\x80\xa8\xe2\x82",
         0, 0, 11, "\\u202eabc\\u2028\\xe2\\x82"},
        /* quotes only with TEXT_ESC_QUOTES */
        {"\"\\", 0, 0, 2, "\"\\"},
        {"\"\\", TEXT_ESC_QUOTES, 0, 2, "\\\"\\\\"},
        /* NULL is "", and the output is cut before an escape that does not fit */
        {NULL, 0, 0, 0, ""},
        {"ab\x1b", 0, 6, 2, "ab"},
        {"a\x1b", 0, 6, 2, "a\\x1b"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[128];
        size_t n = text_escape(out, cases[i].outsz ? cases[i].outsz : sizeof(out), cases[i].in,
                               cases[i].flags);
        if (n != cases[i].consumed || strcmp(out, cases[i].want) != 0)
            fail_msg("case %zu: consumed %zu out '%s', want %zu '%s'", i, n, out, cases[i].consumed,
                     cases[i].want);
    }
    /* every byte value: the output never holds a control byte */
    char all[256], big[1100];
    for (int i = 0; i < 255; i++)
        all[i] = (char)(i + 1);
    all[255] = '\0';
    assert_int_equal(text_escape(big, sizeof(big), all, 0), 255);
    for (const unsigned char *p = (const unsigned char *)big; *p; p++)
        assert_true(*p >= 0x20 && *p != 0x7f && *p < 0x80);
    char *d = text_escape_dup(all);
    assert_string_equal(d, big);
    free(d);
}

static void test_text_safe_and_csv_guard(void **state)
{
    struct text_safe ts = {0};
    for (int i = 0; i < 20; i++)
        assert_string_equal(text_safe(&ts, "x\x1by"), "x\\x1by");
    assert_null(text_safe(&ts, NULL));
    text_safe_free(&ts);
    assert_int_equal(ts.n, 0);
    assert_true(text_csv_needs_guard("=1+2"));
    assert_true(text_csv_needs_guard("+1"));
    assert_true(text_csv_needs_guard("-1"));
    assert_true(text_csv_needs_guard("@SUM(A1)"));
    assert_true(text_csv_needs_guard("\tx"));
    assert_false(text_csv_needs_guard("a=b"));
    assert_false(text_csv_needs_guard(""));
    assert_false(text_csv_needs_guard(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_defaults_and_values),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_config_example_file),
        cmocka_unit_test(test_config_format_round_trip),
        cmocka_unit_test(test_log_quote),
        cmocka_unit_test(test_log_quote_controls),
        cmocka_unit_test(test_text_escape),
        cmocka_unit_test(test_log_field),
        cmocka_unit_test(test_text_safe_and_csv_guard),
        cmocka_unit_test(test_value_parsers),
        cmocka_unit_test(test_formats),
        cmocka_unit_test(test_window),
        cmocka_unit_test(test_domain_table),
        cmocka_unit_test(test_domain_normalise),
        cmocka_unit_test(test_resolver_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
