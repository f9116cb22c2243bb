/* test_mbox.c - unit tests of mail/mbox.c: content sniffing and mbox splitting (From_ lines,
 * mboxrd >From quoting, the per-message cap, over-long lines, text before the first message),
 * and the counting pass that must find as many messages as the splitter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/common.h"
#include "mail/mail.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What the splitter handed over: each message (or "<too big>") with its number. */
struct got {
    char *msg[16];
    size_t len[16];
    long number[16];
    int n;
};

static void on_message(char *msg, size_t len, long number, void *user)
{
    struct got *g = user;
    assert_true(g->n < 16);
    g->msg[g->n] = msg ? msg : xstrdup("<too big>");
    g->len[g->n] = msg ? len : 0;
    g->number[g->n] = number;
    g->n++;
}

static void got_free(struct got *g)
{
    for (int i = 0; i < g->n; i++)
        free(g->msg[i]);
}

/* Split text (of len bytes) with cap max; returns the splitter's result. */
static int split(const char *text, size_t len, size_t max, struct got *g)
{
    memset(g, 0, sizeof(*g));
    FILE *f = fmemopen((void *)text, len, "r");
    assert_non_null(f);
    int rc = mail_mbox_split(f, max, on_message, g);
    fclose(f);
    return rc;
}

static void count_message(char *msg, size_t len, long number, void *user)
{
    (void)len;
    (void)number;
    long *n = user;
    (*n)++;
    free(msg);
}

/* Messages the splitter hands over for text (any cap: skipped ones count too). */
static long split_count(const char *text, size_t len, size_t max)
{
    long c = 0;
    FILE *f = fmemopen((void *)text, len, "r");
    assert_non_null(f);
    assert_int_equal(mail_mbox_split(f, max, count_message, &c), 0);
    fclose(f);
    return c;
}

/* What mail_mbox_count says for text; it reads f to its end. */
static long count_only(const char *text, size_t len)
{
    FILE *f = fmemopen((void *)text, len, "r");
    assert_non_null(f);
    long n = mail_mbox_count(f);
    assert_int_equal(fgetc(f), EOF); /* read to its end: the caller rewinds */
    fclose(f);
    return n;
}

/* The count agrees with the splitter; want is what both must say. */
static void check_count(const char *what, const char *text, size_t len, long want)
{
    long split1 = split_count(text, len, 1 << 20), split2 = split_count(text, len, 8);
    long counted = len ? count_only(text, len) : 0;
    if (counted != split1 || split1 != split2 || (want >= 0 && counted != want))
        fail_msg("%s: counted %ld, split %ld (cap 8: %ld), want %ld", what, counted, split1, split2,
                 want);
}

static void test_sniff(void **state)
{
    (void)state;
    static const struct {
        const char *bytes;
        size_t n;
        enum mail_kind want;
    } cases[] = {
        {"\x1f\x8b\x08\x00", 4, MAIL_KIND_GZIP},
        {"{\"a\":1}", 7, MAIL_KIND_JSON},
        {"  \r\n\t{", 6, MAIL_KIND_JSON},
        {"\xef\xbb\xbf{", 4, MAIL_KIND_JSON},          /* UTF-8 BOM */
        {"\xef\xbb\xbf  \n{\"x\"", 8, MAIL_KIND_JSON}, /* BOM and white space */
        {"        {", 8, MAIL_KIND_MESSAGE},           /* '{' past the bytes given */
        {"From a@b Mon", 12, MAIL_KIND_MBOX},
        {"From:", 5, MAIL_KIND_MESSAGE}, /* a header, not a From_ line */
        {"from a@b", 8, MAIL_KIND_MESSAGE},
        {"Subject: x", 10, MAIL_KIND_MESSAGE},
        {"\x1f", 1, MAIL_KIND_MESSAGE},
        {"", 0, MAIL_KIND_MESSAGE},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum mail_kind k = mail_sniff((const unsigned char *)cases[i].bytes, cases[i].n);
        if (k != cases[i].want)
            fail_msg("case %zu: got %d, want %d", i, (int)k, (int)cases[i].want);
    }
}

/* From_ lines (the envelope line of each message). */
#define FROM_A "From a@example.test Mon Jan  1 00:00:00 2024\n"
#define FROM_B "From b@example.test Mon Jan  1 00:00:01 2024\n"
#define FROM_C "From c@example.test Mon Jan  1 00:00:02 2024\n"

static const struct split_case {
    const char *what, *in;
    size_t max;
    const char *want[4]; /* the messages in order, "<too big>" for one over max */
} split_cases[] = {
    {"a From_ line starts a message only at the top or after a blank line",
     FROM_A "Subject: one\n\nbody one\n\n" FROM_B "Subject: two\n\nbody\nFrom here on\n\n" FROM_C
            "Subject: three\n",
     1 << 20,
     {"Subject: one\n\nbody one\n\n", "Subject: two\n\nbody\nFrom here on\n\n",
      "Subject: three\n"}},
    {"mboxrd: '>From ' and '>>From ' lose one '>'; '>Fromage', '> From' stay; CRLF blank lines",
     "From a@b\r\nSubject: q\r\n\r\n>From the start\r\n>>From deeper\r\n>Fromage\r\n"
     "> From spaced\r\n\r\nFrom b@c\r\nx\r\n",
     1 << 20,
     {"Subject: q\r\n\r\nFrom the start\r\n>From deeper\r\n>Fromage\r\n> From spaced\r\n\r\n",
      "x\r\n"}},
    {"text before the first From_ line is dropped; From_ lines in a row: an empty message",
     "not a message\n\n" FROM_A "\n" FROM_B "last",
     1 << 20,
     {"\n", "last"}},
    {"an empty file, a file without From_ lines: no message", "", 1 << 20, {NULL}},
    {"no From_ line", "Subject: x\n\nbody\nFrom inside\n", 1 << 20, {NULL}},
    {"a message over the cap is skipped, the next one is whole",
     FROM_A "0123456789\n0123456789\n\n" FROM_B "short\n",
     16,
     {"<too big>", "short\n"}},
    {"exactly at the cap is not over it",
     FROM_A "0123456789\n0123456789\n\n" FROM_B "short\n",
     23,
     {"0123456789\n0123456789\n\n", "short\n"}},
};

static void test_split(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(split_cases) / sizeof(split_cases[0]); i++) {
        const struct split_case *c = &split_cases[i];
        struct got g;
        assert_int_equal(split(c->in, strlen(c->in), c->max, &g), 0);
        int n = 0;
        while (n < 4 && c->want[n])
            n++;
        if (g.n != n)
            fail_msg("%s: %d messages, want %d", c->what, g.n, n);
        for (int k = 0; k < n; k++) {
            if (strcmp(g.msg[k], c->want[k]) != 0 || g.number[k] != k + 1)
                fail_msg("%s: message %d is %ld '%s', want '%s'", c->what, k, g.number[k], g.msg[k],
                         c->want[k]);
            assert_int_equal(g.len[k], strcmp(c->want[k], "<too big>") ? strlen(c->want[k]) : 0);
        }
        got_free(&g);
    }
}

static void test_split_long_lines(void **state)
{
    (void)state;
    /* A line longer than MAIL_MBOX_LINE is read in pieces: a piece that does not start a
     * line is never a separator nor unquoted, and the rest of a long From_ line is dropped. */
    size_t big = MAIL_MBOX_LINE + 100;
    char *text = xmalloc(3 * big + 200);
    size_t n = 0;
    n += (size_t)sprintf(text + n, "From a@example.test ");
    memset(text + n, 'x', big);
    n += big;
    n += (size_t)sprintf(text + n, "\nSubject: long\n\n");
    memset(text + n, 'y', MAIL_MBOX_LINE - 1); /* the next piece starts mid-line */
    n += MAIL_MBOX_LINE - 1;
    n += (size_t)sprintf(text + n, ">From mid-line\n\nFrom b@example.test\nz\n");
    struct got g;
    assert_int_equal(split(text, n, 1 << 20, &g), 0);
    assert_int_equal(g.n, 2);
    assert_int_equal(g.len[0], strlen("Subject: long\n\n") + MAIL_MBOX_LINE - 1 +
                                   strlen(">From mid-line\n\n"));
    assert_memory_equal(g.msg[0], "Subject: long\n\n", 15);
    assert_non_null(strstr(g.msg[0], "y>From mid-line\n\n"));
    assert_string_equal(g.msg[1], "z\n");
    got_free(&g);
    free(text);
}

static void test_count_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(split_cases) / sizeof(split_cases[0]); i++) {
        const struct split_case *c = &split_cases[i];
        long n = 0;
        while (n < 4 && c->want[n])
            n++;
        check_count(c->what, c->in, strlen(c->in), n);
    }
    /* Inputs where a line-by-line count could go wrong. */
    static const struct {
        const char *what, *in;
        size_t len;
        long want;
    } tricky[] = {
/* a case: its text may hold NUL bytes, so its length is the literal's */
#define T(what, text, want) {what, text, sizeof(text) - 1, want}
        T("NUL bytes inside lines", "From a\n\0From b\n\nx\0\n\nFrom c\ny\n", 1),
        T("a NUL piece then a From_ line after a blank line", "From a\n\n\0\nFrom b\n", 1),
        T("From_ after a line of spaces is not a separator", "From a\n \nFrom b\n", 1),
        T("From_ after CRLF blank line", "From a\r\n\r\nFrom b\r\n", 2),
        T("a lone CR is not a blank line", "From a\n\r\rFrom b\n", 1),
        T("quoted >From lines are not separators", "From a\n\n>From b\n\n>>From c\n", 1),
        T("From_ lines back to back", "From a\nFrom b\nFrom c\n", 1),
        T("From_ lines each after a blank line", "From a\n\nFrom b\n\nFrom c", 3),
        T("no final newline", "From a\n\nFrom", 1),
        T("'From' without its space", "From a\n\nFrom\n\nFrom\tb\n", 1),
        T("text before the first From_ line", "x\nFrom a\n\nFrom b\n", 1),
        T("a blank first line, then From_", "\nFrom a\n", 1),
    };
#undef T
    for (size_t i = 0; i < sizeof(tricky) / sizeof(tricky[0]); i++)
        check_count(tricky[i].what, tricky[i].in, tricky[i].len, tricky[i].want);
}

static void test_count_long_lines(void **state)
{
    (void)state;
    /* Lines longer than the line buffer: a piece that does not start a line is never a
     * separator, also when it starts with "From " right after a blank-looking piece. */
    size_t big = 3 * MAIL_MBOX_LINE;
    char *text = xmalloc(2 * big + 400);
    size_t n = 0;
    n += (size_t)sprintf(text + n, "From a@example.test ");
    memset(text + n, 'x', big); /* an over-long From_ line, its rest dropped */
    n += big;
    n += (size_t)sprintf(text + n, "\n\n");
    memset(text + n, 'y', MAIL_MBOX_LINE - 1); /* the next piece starts with "From " */
    n += MAIL_MBOX_LINE - 1;
    n += (size_t)sprintf(text + n, "From mid-line\n\nFrom b@example.test\nz\n");
    memset(text + n, '\n', 100);
    n += 100;
    check_count("long lines", text, n, 2);
    free(text);
}

/* The seed files of the mbox fuzzer and the e-mail samples: count and split agree. */
static void test_count_fixtures(void **state)
{
    (void)state;
    const char *root = getenv("STSD_SOURCE_ROOT");
    const char *dirs[] = {"fuzz/corpus/mbox", "tests/data/tlsrpt/email"};
    int files = 0;
    for (size_t k = 0; k < 2; k++) {
        char *dir = xasprintf("%s/%s", root ? root : ".", dirs[k]);
        DIR *d = opendir(dir);
        assert_non_null(d);
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            char *path = xasprintf("%s/%s", dir, e->d_name);
            size_t len;
            char *text = file_read_all(path, 1 << 24, &len);
            assert_non_null(text);
            check_count(path, text, len, -1);
            files++;
            free(text);
            free(path);
        }
        closedir(d);
        free(dir);
    }
    assert_true(files >= 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_sniff),
                                       cmocka_unit_test(test_split),
                                       cmocka_unit_test(test_split_long_lines),
                                       cmocka_unit_test(test_count_cases),
                                       cmocka_unit_test(test_count_long_lines),
                                       cmocka_unit_test(test_count_fixtures)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
