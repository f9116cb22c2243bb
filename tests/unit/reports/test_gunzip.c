/* test_gunzip.c - report_gunzip: members, truncation, trailing data, the cap and bombs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/unit_test.h"

#include "common/common.h"
#include "reports/reports.h"
#include "tests/unit/reports/reports_test.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static const char text[] = "{\"organization-name\":\"x\",\"report-id\":\"1\"}";

static void test_magic(void **state)
{
    assert_int_equal(report_is_gzip("\x1f\x8b", 2), 1);
    assert_int_equal(report_is_gzip("\x1f", 1), 0);
    assert_int_equal(report_is_gzip("{}", 2), 0);
    assert_int_equal(report_is_gzip("", 0), 0);
}

static void test_one_member(void **state)
{
    size_t zl, ol;
    unsigned char *z = rt_gzip(text, strlen(text), &zl);
    char *out;
    assert_int_equal(report_gunzip(z, zl, 1 << 20, &out, &ol), REPORT_GUNZIP_OK);
    assert_int_equal(ol, strlen(text));
    assert_string_equal(out, text); /* also checks the NUL terminator */
    free(out);
    free(z);
}

/* RFC 1952 §2.2: a gzip file is a series of members; their data concatenates. */
static void test_multi_member(void **state)
{
    size_t l1, l2, l3, ol;
    unsigned char *a = rt_gzip(text, 10, &l1);
    unsigned char *b = rt_gzip(text + 10, 0, &l2); /* an empty member in the middle */
    unsigned char *c = rt_gzip(text + 10, strlen(text) - 10, &l3);
    unsigned char *all = xmalloc(l1 + l2 + l3);
    memcpy(all, a, l1);
    memcpy(all + l1, b, l2);
    memcpy(all + l1 + l2, c, l3);
    char *out;
    assert_int_equal(report_gunzip(all, l1 + l2 + l3, 1 << 20, &out, &ol), REPORT_GUNZIP_OK);
    assert_int_equal(ol, strlen(text));
    assert_memory_equal(out, text, ol);
    free(out);
    /* The cap counts the output of all members together. */
    assert_int_equal(report_gunzip(all, l1 + l2 + l3, strlen(text) - 1, &out, &ol),
                     REPORT_GUNZIP_TOO_BIG);
    assert_null(out);
    free(a);
    free(b);
    free(c);
    free(all);
}

static void test_truncated(void **state)
{
    size_t zl, ol;
    unsigned char *z = rt_gzip(text, strlen(text), &zl);
    char *out = (char *)1;
    /* Every proper prefix is truncated: header, deflate data, CRC or length missing. */
    for (size_t cut = 0; cut < zl; cut++) {
        assert_int_equal(report_gunzip(z, cut, 1 << 20, &out, &ol), REPORT_GUNZIP_CORRUPT);
        assert_null(out);
        assert_int_equal(ol, 0);
    }
    free(z);
}

static void test_trailing_and_corrupt(void **state)
{
    size_t zl, ol;
    unsigned char *z = rt_gzip(text, strlen(text), &zl);
    unsigned char *g = xmalloc(zl + 8);
    char *out;
    memcpy(g, z, zl);
    memcpy(g + zl, "garbage!", 8);
    assert_int_equal(report_gunzip(g, zl + 8, 1 << 20, &out, &ol), REPORT_GUNZIP_CORRUPT);
    /* Zero padding after the member is trailing data too. */
    memset(g + zl, 0, 8);
    assert_int_equal(report_gunzip(g, zl + 8, 1 << 20, &out, &ol), REPORT_GUNZIP_CORRUPT);
    /* A second gzip magic followed by nothing valid. */
    memcpy(g + zl, "\x1f\x8b\x08\x00", 4);
    assert_int_equal(report_gunzip(g, zl + 4, 1 << 20, &out, &ol), REPORT_GUNZIP_CORRUPT);
    /* A flipped CRC byte, a wrong length (ISIZE) byte. */
    memcpy(g, z, zl);
    g[zl - 8] ^= 1;
    assert_int_equal(report_gunzip(g, zl, 1 << 20, &out, &ol), REPORT_GUNZIP_CORRUPT);
    memcpy(g, z, zl);
    g[zl - 1] ^= 1;
    assert_int_equal(report_gunzip(g, zl, 1 << 20, &out, &ol), REPORT_GUNZIP_CORRUPT);
    /* Not gzip at all; a zlib (RFC 1950) stream is not accepted either. */
    assert_int_equal(report_gunzip(text, strlen(text), 1 << 20, &out, &ol), REPORT_GUNZIP_CORRUPT);
    uLongf cl = compressBound(sizeof text);
    unsigned char *zz = xmalloc(cl);
    assert_int_equal(compress(zz, &cl, (const Bytef *)text, sizeof text), Z_OK);
    assert_int_equal(report_gunzip(zz, cl, 1 << 20, &out, &ol), REPORT_GUNZIP_CORRUPT);
    assert_int_equal(report_gunzip(NULL, 0, 1 << 20, &out, &ol), REPORT_GUNZIP_CORRUPT);
    free(zz);
    free(g);
    free(z);
}

/* Output of exactly `cap` bytes passes; one more byte does not. */
static void test_cap_exact(void **state)
{
    size_t sizes[] = {0, 1, 4095, 4096, 4097, 100000};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        size_t n = sizes[k], zl, ol;
        char *data = xmalloc(n + 1);
        for (size_t i = 0; i < n; i++)
            data[i] = (char)('a' + (i * 7) % 26);
        unsigned char *z = rt_gzip(data, n, &zl);
        char *out;
        assert_int_equal(report_gunzip(z, zl, n, &out, &ol), REPORT_GUNZIP_OK);
        assert_int_equal(ol, n);
        assert_memory_equal(out, data, n);
        assert_int_equal(out[n], '\0');
        free(out);
        if (n > 0) {
            assert_int_equal(report_gunzip(z, zl, n - 1, &out, &ol), REPORT_GUNZIP_TOO_BIG);
            assert_null(out);
        }
        assert_int_equal(report_gunzip(z, zl, n + 1, &out, &ol), REPORT_GUNZIP_OK);
        free(out);
        free(data);
        free(z);
    }
}

/* Compress `n` zero bytes without holding them in memory. */
static unsigned char *gzip_zeros(size_t n, size_t *outlen)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY), Z_OK);
    static unsigned char zeros[1 << 16];
    size_t cap = n / 500 + 4096, done = 0;
    unsigned char *out = xmalloc(cap);
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    int zr;
    do {
        size_t chunk = n - done < sizeof zeros ? n - done : sizeof zeros;
        zs.next_in = zeros;
        zs.avail_in = (uInt)chunk;
        done += chunk;
        zr = deflate(&zs, done == n ? Z_FINISH : Z_NO_FLUSH);
        assert_true(zr == Z_OK || zr == Z_STREAM_END);
        assert_int_not_equal(zs.avail_out, 0);
    } while (zr != Z_STREAM_END);
    *outlen = zs.total_out;
    deflateEnd(&zs);
    return out;
}

/*
 * A 1 GiB bomb (about 1 MB compressed, ratio ~1000:1) stops at the cap; and a bomb wrapped
 * in a second gzip layer inflates one layer only: its output is the inner gzip, not 1 GiB.
 */
static void test_bombs(void **state)
{
    size_t zl, ol;
    unsigned char *bomb = gzip_zeros((size_t)1 << 30, &zl);
    assert_true(zl < 2 * 1024 * 1024);
    char *out;
    assert_int_equal(report_gunzip(bomb, zl, 20u << 20, &out, &ol), REPORT_GUNZIP_TOO_BIG);
    assert_null(out);

    size_t z2l;
    unsigned char *two = rt_gzip(bomb, zl, &z2l);
    assert_int_equal(report_gunzip(two, z2l, 20u << 20, &out, &ol), REPORT_GUNZIP_OK);
    assert_int_equal(ol, zl);
    assert_memory_equal(out, bomb, zl);
    assert_true(report_is_gzip(out, ol));
    /* Measuring sees through the second layer: the intake step refuses it as too big
     * before allocating anything, as it does the bomb itself. */
    size_t n = 0;
    assert_int_equal(report_gunzip_measure(two, z2l, 20u << 20, &n), REPORT_GUNZIP_TOO_BIG);
    assert_int_equal(report_gunzip_measure(bomb, zl, 20u << 20, &n), REPORT_GUNZIP_TOO_BIG);
    assert_int_equal(report_gunzip_measure(two, z2l, (size_t)2 << 30, &n), REPORT_GUNZIP_OK);
    assert_int_equal(n, zl);
    struct report r;
    struct report_error err;
    assert_int_equal(report_parse_body(two, z2l, 20u << 20, &r, &err), 413);
    assert_string_equal(err.path, "body");
    free(out);
    /* With a cap below the inner size, the outer layer alone is too big. */
    assert_int_equal(report_gunzip(two, z2l, zl - 1, &out, &ol), REPORT_GUNZIP_TOO_BIG);
    assert_int_equal(report_parse_body(bomb, zl, 20u << 20, &r, &err), 413);
    assert_string_equal(err.path, "body");
    free(two);
    free(bomb);
}

static void test_strerror(void **state)
{
    assert_non_null(strstr(report_gunzip_strerror(REPORT_GUNZIP_TOO_BIG), "size limit"));
    assert_non_null(strstr(report_gunzip_strerror(REPORT_GUNZIP_CORRUPT), "corrupt"));
}

UNIT_TESTS(NULL, cmocka_unit_test(test_magic), cmocka_unit_test(test_one_member),
           cmocka_unit_test(test_multi_member), cmocka_unit_test(test_truncated),
           cmocka_unit_test(test_trailing_and_corrupt), cmocka_unit_test(test_cap_exact),
           cmocka_unit_test(test_bombs), cmocka_unit_test(test_strerror))
