/* test_imap_parse.c - unit tests of mail/imap_parse.c: the [mail] imap URL, SEARCH, LIST and
 * CAPABILITY answers, folder names, quoting, URL encoding and UID sets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "mail/imap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_url(void **state)
{
    (void)state;
    struct mail_imap_url u;
    char err[200];
    assert_int_equal(mail_imap_url_parse("imaps://tlsrpt%40example.com@imap.example.com/Reports",
                                         &u, err, sizeof(err)),
                     0);
    assert_int_equal(u.tls, 1);
    assert_int_equal(u.port, 993);
    assert_int_equal(u.loopback, 0);
    assert_string_equal(u.user, "tlsrpt@example.com");
    assert_string_equal(u.host, "imap.example.com");
    assert_string_equal(u.folder, "Reports");

    assert_int_equal(mail_imap_url_parse("imaps://tlsrpt@127.0.0.1:10993", &u, err, sizeof(err)),
                     0);
    assert_int_equal(u.port, 10993);
    assert_int_equal(u.loopback, 1);
    assert_string_equal(u.folder, "INBOX");

    assert_int_equal(mail_imap_url_parse("IMAP://u@[::1]:143/a%20b/c/", &u, err, sizeof(err)), 0);
    assert_int_equal(u.tls, 0);
    assert_int_equal(u.loopback, 1);
    assert_string_equal(u.host, "[::1]");
    assert_string_equal(u.folder, "a b/c");
    assert_int_equal(mail_imap_url_parse("imap://u@localhost/", &u, err, sizeof(err)), 0);
    assert_int_equal(u.loopback, 1);
    assert_int_equal(u.port, 143);
    assert_int_equal(mail_imap_url_parse("imaps://u@127.example.com/", &u, err, sizeof(err)), 0);
    assert_int_equal(u.loopback, 0);

    /* what is refused, each with a reason */
    static const char *const bad[] = {
        "https://u@h/INBOX", "imaps://h/INBOX",         "imaps://@h/INBOX",
        "imaps://u:pw@h/",   "imaps://u;AUTH=PLAIN@h/", "imaps://u@/INBOX",
        "imaps://u@h:0/",    "imaps://u@h:65536/",      "imaps://u@h:99999999/",
        "imaps://u@h:/",     "imaps://u@h:12a/",        "imaps://u@[::1/",
        "imaps://u@[]/",     "imaps://u@h_x/",          "imaps://u@h/INBOX;UID=1",
        "imaps://u@h/?x",    "imaps://u@h/a%2",         "imaps://u@h/a%zz",
        "imaps://u@h/a%0Ab", "imaps://u@h/a%22b",       "imaps://u@h/a*",
        "imaps://u%00@h/",   "imaps://u@h/%C3%A4",      "imaps://u@[g::1]/",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        if (mail_imap_url_parse(bad[i], &u, err, sizeof(err)) != -1)
            fail_msg("accepted %s", bad[i]);
        assert_true(strlen(err) > 10);
    }
    char longer[600];
    snprintf(longer, sizeof(longer), "imaps://u@h/%0300d", 7);
    assert_int_equal(mail_imap_url_parse(longer, &u, err, sizeof(err)), -1);
}

static void test_search(void **state)
{
    (void)state;
    uint32_t uids[8];
    int capped = 1;
    const char *a = "* 3 EXISTS\r\n* SEARCH 5 3 9 3 4294967295 4294967296 0 12345678901\r\n"
                    "* OK [x] 77\r\n";
    size_t n = mail_imap_parse_search(a, strlen(a), uids, 8, &capped);
    assert_int_equal(capped, 0);
    assert_int_equal(n, 4);
    assert_int_equal(uids[0], 3);
    assert_int_equal(uids[1], 5);
    assert_int_equal(uids[2], 9);
    assert_int_equal(uids[3], 4294967295u);
    /* an empty answer, and one without CR */
    assert_int_equal(mail_imap_parse_search("* SEARCH\r\n", 10, uids, 8, &capped), 0);
    assert_int_equal(mail_imap_parse_search("* search 2 1", 12, uids, 8, &capped), 2);
    assert_int_equal(uids[0], 1);
    /* "* SEARCHING" is another word; a number outside the line's data is not a UID */
    assert_int_equal(mail_imap_parse_search("* SEARCHING 1\n* 4 FETCH", 23, uids, 8, &capped), 0);
    /* the cap: the first max numbers, sorted, and it says so */
    const char *many = "* SEARCH 10 9 8 7 6 5 4 3 2 1\r\n";
    n = mail_imap_parse_search(many, strlen(many), uids, 3, &capped);
    assert_int_equal(n, 3);
    assert_int_equal(capped, 1);
    assert_int_equal(uids[0], 8);
    assert_int_equal(uids[2], 10);
    /* bytes are not NUL-terminated: the length is the bound */
    assert_int_equal(mail_imap_parse_search("* SEARCH 12", 10, uids, 8, &capped), 1);
    assert_int_equal(uids[0], 1);
}

static void test_delimiter(void **state)
{
    (void)state;
    char d = 'x';
    const char *dot = "* LIST (\\Noselect) \".\" \"\"\r\n";
    assert_int_equal(mail_imap_parse_delimiter(dot, strlen(dot), &d), 1);
    assert_int_equal(d, '.');
    const char *slash = "* OK hi\r\n* list (\\HasNoChildren) \"/\" \"\"\r\n";
    assert_int_equal(mail_imap_parse_delimiter(slash, strlen(slash), &d), 1);
    assert_int_equal(d, '/');
    assert_int_equal(mail_imap_parse_delimiter("* LIST () NIL \"\"", 16, &d), 1);
    assert_int_equal(d, 0);
    const char *bs = "* LIST () \"\\\\\" \"\"";
    assert_int_equal(mail_imap_parse_delimiter(bs, strlen(bs), &d), 1);
    assert_int_equal(d, '\\');
    d = 'x';
    assert_int_equal(mail_imap_parse_delimiter("* LIST (", 8, &d), 0);
    assert_int_equal(mail_imap_parse_delimiter("* LIST () \"", 11, &d), 0);
    assert_int_equal(mail_imap_parse_delimiter("* LSUB () \".\" x", 15, &d), 0);
    assert_int_equal(mail_imap_parse_delimiter("", 0, &d), 0);
    assert_int_equal(d, 'x');
}

static void test_caps(void **state)
{
    (void)state;
    const char *a = "* CAPABILITY IMAP4rev1 SASL-IR UIDPLUS MOVE IDLE\r\n";
    assert_int_equal(mail_imap_parse_caps(a, strlen(a)),
                     MAIL_IMAP_CAP_MOVE | MAIL_IMAP_CAP_UIDPLUS);
    const char *b = "* CAPABILITY IMAP4rev1 MOVEX UIDPLUSS\r\n";
    assert_int_equal(mail_imap_parse_caps(b, strlen(b)), 0);
    const char *c = "* OK [CAPABILITY IMAP4rev1 move] ready\r\n";
    assert_int_equal(mail_imap_parse_caps(c, strlen(c)), MAIL_IMAP_CAP_MOVE);
    const char *d = "* OK [CAPABILITY IMAP4rev1] MOVE\r\n* FLAGS (MOVE)\r\n";
    assert_int_equal(mail_imap_parse_caps(d, strlen(d)), 0);
    assert_int_equal(mail_imap_parse_caps("* CAPABILITY", 12), 0);
    assert_int_equal(mail_imap_parse_caps("* CAPABILITY MOVE", 16), 0); /* cut by the length */
}

static void test_names(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(mail_imap_folder_name("TLSRPT/done", '.', out, sizeof(out)), 0);
    assert_string_equal(out, "TLSRPT.done");
    assert_int_equal(mail_imap_folder_name("TLSRPT/done", '/', out, sizeof(out)), 0);
    assert_string_equal(out, "TLSRPT/done");
    assert_int_equal(mail_imap_folder_name("a/b/c", 0, out, sizeof(out)), 0);
    assert_string_equal(out, "a/b/c");
    assert_int_equal(mail_imap_folder_name("", '.', out, sizeof(out)), -1);
    assert_int_equal(mail_imap_folder_name("a\"b", '.', out, sizeof(out)), -1);
    assert_int_equal(mail_imap_folder_name("a\xc3\xa4", '.', out, sizeof(out)), -1);
    assert_int_equal(mail_imap_folder_name("a%", '.', out, sizeof(out)), -1);
    assert_int_equal(mail_imap_folder_name("abcdef", '.', out, 6), -1);

    assert_int_equal(mail_imap_quote("TLSRPT.done", out, sizeof(out)), 0);
    assert_string_equal(out, "\"TLSRPT.done\"");
    assert_int_equal(mail_imap_quote("a\"b\\c", out, sizeof(out)), 0);
    assert_string_equal(out, "\"a\\\"b\\\\c\"");
    assert_int_equal(mail_imap_quote("", out, sizeof(out)), 0);
    assert_string_equal(out, "\"\"");
    assert_int_equal(mail_imap_quote("a\r\nb", out, sizeof(out)), -1);
    assert_int_equal(mail_imap_quote("\xff", out, sizeof(out)), -1);
    assert_int_equal(mail_imap_quote("abc", out, 5), -1);
    assert_int_equal(mail_imap_quote("abc", out, 6), 0);

    assert_int_equal(mail_imap_url_encode("TLSRPT.done", out, sizeof(out)), 0);
    assert_string_equal(out, "TLSRPT.done");
    assert_int_equal(mail_imap_url_encode("a b/c;%", out, sizeof(out)), 0);
    assert_string_equal(out, "a%20b%2Fc%3B%25");
    assert_int_equal(mail_imap_url_encode("abc", out, 3), -1);
    assert_int_equal(mail_imap_url_encode("abc", out, 4), 0);
}

static void test_uid_set(void **state)
{
    (void)state;
    char out[64];
    uint32_t a[] = {1, 2, 3, 7, 9, 10, 4294967295u};
    assert_int_equal(mail_imap_uid_set(a, 7, out, sizeof(out)), 0);
    assert_string_equal(out, "1:3,7,9:10,4294967295");
    assert_int_equal(mail_imap_uid_set(a, 1, out, sizeof(out)), 0);
    assert_string_equal(out, "1");
    assert_int_equal(mail_imap_uid_set(a, 0, out, sizeof(out)), -1);
    assert_int_equal(mail_imap_uid_set(a, 7, out, 10), -1);
}

/* mail_imap_password (imap.c): the first line of a file, CR LF stripped; empty or unreadable
 * files are errors that say so. */
static void test_password(void **state)
{
    (void)state;
    char path[] = "/tmp/stsd-imap-pw-XXXXXX", err[300], *pw = NULL;
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "app pass\r\nsecond line\n", 23), 23);
    close(fd);
    assert_int_equal(mail_imap_password(path, &pw, err, sizeof(err)), 0);
    assert_string_equal(pw, "app pass");
    free(pw);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(mail_imap_password(path, &pw, err, sizeof(err)), -1);
    assert_null(pw);
    assert_non_null(strstr(err, "is empty"));
    f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < 2000; i++)
        fputc('x', f);
    fclose(f);
    assert_int_equal(mail_imap_password(path, &pw, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "longer than"));
    unlink(path);
    assert_int_equal(mail_imap_password(path, &pw, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "cannot read the password file"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url),       cmocka_unit_test(test_search),
        cmocka_unit_test(test_delimiter), cmocka_unit_test(test_caps),
        cmocka_unit_test(test_names),     cmocka_unit_test(test_uid_set),
        cmocka_unit_test(test_password),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
