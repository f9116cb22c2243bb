/* test_mime.c - report_mime_extract on the real e-mails of tests/data and on crafted ones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/unit_test.h"

#include "common/common.h"
#include "reports/reports.h"
#include "tests/unit/reports/reports_test.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char report_json[] =
    "{\"organization-name\":\"Crafted Sender\",\"date-range\":{\"start-datetime\":"
    "\"2026-11-01T00:00:00Z\",\"end-datetime\":\"2026-11-01T23:59:59Z\"},\"contact-info\":"
    "\"a@b.example\",\"report-id\":\"crafted-1\",\"policies\":[{\"policy\":{\"policy-type\":"
    "\"sts\",\"policy-domain\":\"example.org\"},\"summary\":{\"total-successful-session-count\":"
    "5,\"total-failure-session-count\":1},\"failure-details\":[{\"result-type\":"
    "\"starttls-not-supported\",\"failed-session-count\":1}]}]}";

static char *b64(const unsigned char *in, size_t n)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = xmalloc(n * 2 + 8), *o = out;
    size_t col = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        *o++ = tbl[(v >> 18) & 63];
        *o++ = tbl[(v >> 12) & 63];
        *o++ = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
        *o++ = i + 2 < n ? tbl[v & 63] : '=';
        if ((col += 4) == 76) {
            *o++ = '\n';
            col = 0;
        }
    }
    *o = '\0';
    return out;
}

/* The base64 of the gzip of the crafted report. */
static char *gz_b64(void)
{
    size_t zl;
    unsigned char *z = rt_gzip(report_json, strlen(report_json), &zl);
    char *s = b64(z, zl);
    free(z);
    return s;
}

/* The part holds the crafted report (gzip or not, as declared). */
static void assert_crafted(const struct report_part *p, int gzip)
{
    assert_int_equal(p->gzip, gzip);
    struct report r;
    struct report_error err;
    char t[512];
    int st = report_parse_body(p->data, p->len, 1 << 20, &r, &err);
    if (st != 0)
        fail_msg("%d %s", st, report_error_text(&err, t, sizeof t));
    assert_string_equal(r.organization_name, "Crafted Sender");
    assert_string_equal(r.report_id, "crafted-1");
    assert_int_equal(r.n_policies, 1);
    assert_int_equal(r.policies[0].total_successful, 5);
    report_clear(&r);
}

static int extract(const char *msg, struct report_part **parts)
{
    struct report_error err;
    return report_mime_extract(msg, strlen(msg), parts, NULL, &err);
}

/* What one part of a message must be: its file name (NULL: none), gzip or not, and its
 * length (0: not checked); it must hold the crafted report. */
struct want_part {
    const char *filename;
    int gzip;
    size_t len;
};

/* msg (freed here) yields exactly n report parts, as want says. */
static void expect_parts(char *msg, int n, const struct want_part *want)
{
    struct report_part *parts;
    assert_int_equal(extract(msg, &parts), n);
    for (int i = 0; i < n; i++) {
        if (want[i].filename == NULL)
            assert_null(parts[i].filename);
        else
            assert_string_equal(parts[i].filename, want[i].filename);
        assert_crafted(&parts[i], want[i].gzip);
        if (want[i].len != 0)
            assert_int_equal(parts[i].len, want[i].len);
    }
    report_parts_free(parts, n);
    free(msg);
}

/* The three real reports (Google 2022 and 2024, Microsoft 2023): exactly one part each,
 * whose report matches the .expect file written by Python's email package. */
static void test_real_emails(void **state)
{
    static const char *names[] = {"mox-google-2022", "mox-microsoft-2023",
                                  "parsedmarc-google-2024"};
    const char *data = getenv("STSD_TEST_DATA");
    assert_non_null(data);
    for (size_t k = 0; k < 3; k++) {
        char *path = xasprintf("%s/tlsrpt/email/%s.eml", data, names[k]);
        char *epath = xasprintf("%s/tlsrpt/email/%s.expect", data, names[k]);
        size_t len, elen;
        char *msg = file_read_all(path, REPORT_MAX_MESSAGE, &len);
        char *exp = file_read_all(epath, 1 << 20, &elen);
        assert_non_null(msg);
        assert_non_null(exp);
        struct report_part *parts;
        struct report_error err;
        int n = report_mime_extract(msg, len, &parts, NULL, &err);
        assert_int_equal(n, 1);
        struct report r;
        char t[512];
        int st = report_parse_body(parts[0].data, parts[0].len, 20u << 20, &r, &err);
        if (st != 0)
            fail_msg("%s: %d %s", path, st, report_error_text(&err, t, sizeof t));
        char *desc = rt_describe(&r);
        char *got = xasprintf("parts: %d\npart[0]: gzip=%d filename=%s\n%s", n, parts[0].gzip,
                              parts[0].filename, desc);
        assert_string_equal(got, exp);
        free(got);
        free(desc);
        report_clear(&r);
        report_parts_free(parts, n);
        free(msg);
        free(exp);
        free(path);
        free(epath);
    }
}

/* An application/octet-stream part, base64, recognised by name= on Content-Type only. */
static void test_octet_stream_name(void **state)
{
    char *b = gz_b64();
    char *msg = xasprintf("From: r@sender.example\nTo: t@example.org\nSubject: report\n"
                          "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"XX\"\n\n"
                          "--XX\nContent-Type: text/plain\n\nhello\n"
                          "--XX\nContent-Type: application/octet-stream;\n"
                          "\tname=\"sender.example!example.org!1!2!3.json.gz\"\n"
                          "Content-Transfer-Encoding: base64\n\n%s\n--XX--\n",
                          b);
    expect_parts(msg, 1,
                 (const struct want_part[]){{"sender.example!example.org!1!2!3.json.gz", 1, 0}});
    free(b);
}

/* Two reports in one message: tlsrpt+json in quoted-printable, a .JSON.GZ attachment
 * (upper case) with filename= only, and non-report parts around them. CRLF lines. */
static void test_two_reports(void **state)
{
    char *b = gz_b64();
    /* quoted-printable: '=' becomes =3D; a soft line break in the middle. */
    char qp[2048];
    size_t o = 0;
    for (const char *p = report_json; *p; p++) {
        if (*p == '=') {
            memcpy(qp + o, "=3D", 3);
            o += 3;
        } else {
            qp[o++] = *p;
        }
        if (p - report_json == 60) {
            memcpy(qp + o, "=\r\n", 3);
            o += 3;
        }
    }
    qp[o] = '\0';
    char *msg =
        xasprintf("From: r@sender.example\r\nTo: t@example.org\r\nMIME-Version: 1.0\r\n"
                  "Content-Type: multipart/report; report-type=tlsrpt; boundary=\"b1\"\r\n\r\n"
                  "--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nTwo reports.\r\n"
                  "--b1\r\nContent-Type: application/tlsrpt+json\r\n"
                  "Content-Transfer-Encoding: quoted-printable\r\n\r\n%s\r\n"
                  "--b1\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                  "iVBORw0KGgo=\r\n"
                  "--b1\r\nContent-Type: application/x-whatever\r\n"
                  "Content-Disposition: attachment; filename=\"REPORT.JSON.GZ\"\r\n"
                  "Content-Transfer-Encoding: base64\r\n\r\n%s\r\n--b1--\r\n",
                  qp, b);
    expect_parts(
        msg, 2,
        (const struct want_part[]){{NULL, 0, strlen(report_json)}, {"REPORT.JSON.GZ", 1, 0}});
    free(b);
}

/* A report inside a forwarded message (message/rfc822 in multipart/mixed), plain JSON
 * labelled octet-stream with a .json file name. */
static void test_nested_forward(void **state)
{
    char *msg =
        xasprintf("From: admin@example.org\nTo: t@example.org\nMIME-Version: 1.0\n"
                  "Content-Type: multipart/mixed; boundary=\"outer\"\n\n"
                  "--outer\nContent-Type: text/plain\n\nFYI, forwarded.\n"
                  "--outer\nContent-Type: message/rfc822\n\n"
                  "From: r@sender.example\nTo: tlsrpt@example.org\nMIME-Version: 1.0\n"
                  "Content-Type: multipart/report; report-type=tlsrpt; boundary=\"inner\"\n\n"
                  "--inner\nContent-Type: text/plain\n\nreport\n"
                  "--inner\nContent-Type: application/octet-stream\n"
                  "Content-Disposition: attachment; filename=\"r.json\"\n\n%s\n"
                  "--inner--\n\n--outer--\n",
                  report_json);
    expect_parts(msg, 1, (const struct want_part[]){{"r.json", 0, 0}});
}

/* A message whose whole body is the report (no multipart). */
static void test_single_part(void **state)
{
    char *b = gz_b64();
    char *msg = xasprintf("From: r@sender.example\nMIME-Version: 1.0\n"
                          "Content-Type: application/tlsrpt+gzip\n"
                          "Content-Transfer-Encoding: base64\n\n%s\n",
                          b);
    expect_parts(msg, 1, (const struct want_part[]){{NULL, 1, 0}});
    free(b);
}

static void test_no_report(void **state)
{
    struct report_part *parts = (struct report_part *)1;
    const char *msg = "From: a@example.org\nTo: b@example.org\nSubject: hi\n"
                      "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"q\"\n\n"
                      "--q\nContent-Type: text/plain\n\nnothing here\n"
                      "--q\nContent-Type: application/pdf\n"
                      "Content-Disposition: attachment; filename=\"invoice.pdf\"\n\n%PDF\n"
                      "--q\nContent-Type: text/plain\n"
                      "Content-Disposition: attachment; filename=\"notes.json.txt\"\n\n{}\n"
                      "--q--\n";
    assert_int_equal(extract(msg, &parts), 0);
    assert_null(parts);
    assert_int_equal(extract("Subject: plain\n\nJust text.\n", &parts), 0);
    assert_null(parts);
}

/* Binary garbage and an empty input are not messages; broken multiparts still give what
 * they hold. */
static void test_garbage(void **state)
{
    struct report_part *parts;
    struct report_error err;
    unsigned char junk[4096];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof junk; i++) {
        x = x * 1103515245u + 12345u;
        junk[i] = (unsigned char)(x >> 16);
    }
    assert_int_equal(report_mime_extract((const char *)junk, sizeof junk, &parts, NULL, &err), -1);
    assert_null(parts);
    assert_string_equal(err.path, "message");
    assert_string_equal(err.message, "not an RFC 5322 message");
    assert_int_equal(report_mime_extract("", 0, &parts, NULL, &err), -1);
    /* A multipart whose boundary never appears, and one that is never closed. */
    assert_int_equal(extract("Content-Type: multipart/mixed; boundary=zz\n\nno parts\n", &parts),
                     0);
    assert_int_equal(extract("Content-Type: multipart/mixed; boundary=zz\n\n--zz\n"
                             "Content-Type: application/tlsrpt+json\n\n{\"a\":1}\n",
                             &parts),
                     1);
    assert_string_equal(parts[0].data, "{\"a\":1}\n");
    report_parts_free(parts, 1);
}

static void test_caps(void **state)
{
    struct report_part *parts = (struct report_part *)1;
    struct report_error err;
    /* Over the message cap: refused before parsing. */
    char *big = xmalloc(REPORT_MAX_MESSAGE + 1);
    memset(big, 'a', REPORT_MAX_MESSAGE + 1);
    assert_int_equal(report_mime_extract(big, REPORT_MAX_MESSAGE + 1, &parts, NULL, &err), -1);
    assert_null(parts);
    assert_non_null(strstr(err.message, "larger than"));
    free(big);
    /* One part more than REPORT_MAX_PARTS. */
    size_t cap = 64 * (REPORT_MAX_PARTS + 2) + 200, o = 0;
    char *msg = xmalloc(cap);
    o += (size_t)snprintf(msg + o, cap - o, "Content-Type: multipart/mixed; boundary=b\n\n");
    for (int i = 0; i <= REPORT_MAX_PARTS; i++)
        o += (size_t)snprintf(msg + o, cap - o,
                              "--b\nContent-Type: application/tlsrpt+json\n\n{}\n");
    snprintf(msg + o, cap - o, "--b--\n");
    assert_int_equal(report_mime_extract(msg, strlen(msg), &parts, NULL, &err), -1);
    assert_null(parts);
    assert_non_null(strstr(err.message, "report parts"));
    /* Exactly REPORT_MAX_PARTS is fine. */
    char *last = strstr(msg, "--b--");
    char *cut = last - strlen("--b\nContent-Type: application/tlsrpt+json\n\n{}\n");
    memcpy(cut, "--b--\n", 7);
    assert_int_equal(report_mime_extract(msg, strlen(msg), &parts, NULL, &err), REPORT_MAX_PARTS);
    report_parts_free(parts, REPORT_MAX_PARTS);
    free(msg);
}

/* `depth` nested multiparts around one report part. */
static char *nested(int depth)
{
    size_t cap = (size_t)depth * 80 + 200, o = 0;
    char *m = xmalloc(cap);
    for (int i = 0; i < depth; i++)
        o += (size_t)snprintf(m + o, cap - o,
                              "Content-Type: multipart/mixed; boundary=\"b%d\"\n\n--b%d\n", i, i);
    snprintf(m + o, cap - o, "Content-Type: application/tlsrpt+json\n\n{}\n");
    return m;
}

/* Nesting: ten levels are walked, 256 are parsed but not walked to the end; past
 * REPORT_MAX_MIME_BOUNDARIES (256) "boundary" parameters the message is refused before gmime spends
 * minutes on it. */
static void test_nesting(void **state)
{
    struct report_part *parts;
    struct report_error err;
    char *m = nested(10);
    assert_int_equal(report_mime_extract(m, strlen(m), &parts, NULL, &err), 1);
    report_parts_free(parts, 1);
    free(m);
    m = nested(256);
    /* Parsed, but the report sits deeper than the 16 levels walked. */
    assert_int_equal(report_mime_extract(m, strlen(m), &parts, NULL, &err), 0);
    assert_null(parts);
    free(m);
    m = nested(257);
    assert_int_equal(report_mime_extract(m, strlen(m), &parts, NULL, &err), -1);
    assert_null(parts);
    assert_string_equal(err.message, "more than 256 multipart boundaries");
    free(m);
}

/* Several threads extract at once: the one-time gmime set-up and the parse are re-entrant. */
static void *extract_thread(void *arg)
{
    const char *msg = arg;
    for (int i = 0; i < 20; i++) {
        struct report_part *parts;
        if (extract(msg, &parts) != 1)
            return (void *)1;
        report_parts_free(parts, 1);
    }
    return NULL;
}

static void test_threads(void **state)
{
    char *b = gz_b64();
    char *msg = xasprintf("Content-Type: application/tlsrpt+gzip\n"
                          "Content-Transfer-Encoding: base64\n\n%s\n",
                          b);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, extract_thread, msg), 0);
    for (int i = 0; i < 4; i++) {
        void *res;
        pthread_join(t[i], &res);
        assert_null(res);
    }
    free(msg);
    free(b);
}

UNIT_TESTS(NULL, cmocka_unit_test(test_threads), /* first: races the one-time set-up */
           cmocka_unit_test(test_real_emails), cmocka_unit_test(test_octet_stream_name),
           cmocka_unit_test(test_two_reports), cmocka_unit_test(test_nested_forward),
           cmocka_unit_test(test_single_part), cmocka_unit_test(test_no_report),
           cmocka_unit_test(test_garbage), cmocka_unit_test(test_caps),
           cmocka_unit_test(test_nesting))
