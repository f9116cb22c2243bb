/* gunzip.c - inflate gzip report bodies (RFC 1952) with zlib into a buffer bounded by a cap. */
#include "reports/reports.h"
#include "reports/reports_int.h"

#include "common/common.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

int report_is_gzip(const void *buf, size_t len)
{
    const unsigned char *b = buf;
    return len >= 2 && b[0] == 0x1f && b[1] == 0x8b;
}

/* zlib counts in uInt; feed it at most this much at a time. */
#define CHUNK_MAX ((size_t)1 << 30)

enum report_gunzip_result report_gunzip(const void *in, size_t inlen, size_t cap, char **out,
                                        size_t *outlen)
{
    *out = NULL;
    *outlen = 0;
    if (!report_is_gzip(in, inlen))
        return REPORT_GUNZIP_CORRUPT;

    z_stream zs;
    memset(&zs, 0, sizeof zs);
    /* 16 + MAX_WBITS: a gzip wrapper only (no raw deflate, no zlib header). */
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
        abort(); /* only on out of memory or a broken zlib */

    /* The buffer holds cap + 1 bytes at most: the extra byte tells "exactly cap" (fine)
     * from "more than cap" (too big), and holds the final NUL. Start from a guess of
     * 4x the input (reports compress about 5-10x) and double, never past cap + 1. */
    size_t limit = (cap < SIZE_MAX / 2 ? cap : SIZE_MAX / 2) + 1;
    size_t size = inlen < limit / 4 ? inlen * 4 : limit;
    if (size < 4096)
        size = limit < 4096 ? limit : 4096;
    char *buf = xmalloc(size);
    size_t used = 0;
    const unsigned char *src = in;
    size_t left = inlen;
    enum report_gunzip_result res = REPORT_GUNZIP_CORRUPT;

    for (;;) {
        if (used == size) {
            if (size == limit) {
                res = REPORT_GUNZIP_TOO_BIG;
                break;
            }
            size = size > limit / 2 ? limit : size * 2;
            buf = xrealloc(buf, size);
        }
        size_t in_chunk = left < CHUNK_MAX ? left : CHUNK_MAX;
        size_t out_chunk = size - used < CHUNK_MAX ? size - used : CHUNK_MAX;
        zs.next_in = (Bytef *)(uintptr_t)src;
        zs.avail_in = (uInt)in_chunk;
        zs.next_out = (Bytef *)buf + used;
        zs.avail_out = (uInt)out_chunk;
        int zr = inflate(&zs, Z_NO_FLUSH);
        size_t consumed = in_chunk - zs.avail_in;
        src += consumed;
        left -= consumed;
        used += out_chunk - zs.avail_out;

        if (zr == Z_STREAM_END) {
            if (left == 0) {
                res = REPORT_GUNZIP_OK;
                break;
            }
            /* Another member follows (RFC 1952 §2.2: a file is a series of members);
             * anything else after the first member is trailing garbage. */
            if (!report_is_gzip(src, left))
                break;
            if (inflateReset(&zs) != Z_OK)
                break;
            continue;
        }
        if (zr == Z_OK)
            continue;
        if (zr == Z_BUF_ERROR && zs.avail_out == 0)
            continue; /* the output buffer is full: grow it or stop at the cap */
        /* Z_BUF_ERROR with output room means the input ended early (truncated);
         * Z_DATA_ERROR is bad data or a bad CRC/length; Z_NEED_DICT is not gzip. */
        break;
    }
    inflateEnd(&zs);
    if (res != REPORT_GUNZIP_OK) {
        free(buf);
        return res;
    }
    if (used == limit) { /* the stream ended on exactly cap + 1 bytes */
        free(buf);
        return REPORT_GUNZIP_TOO_BIG;
    }
    if (used == size)
        buf = xrealloc(buf, used + 1);
    buf[used] = '\0';
    *out = buf;
    *outlen = used;
    return REPORT_GUNZIP_OK;
}

const char *report_gunzip_strerror(enum report_gunzip_result r)
{
    switch (r) {
    case REPORT_GUNZIP_OK:
        return "gzip: ok";
    case REPORT_GUNZIP_TOO_BIG:
        return "gzip: inflates past the size limit";
    case REPORT_GUNZIP_CORRUPT:
        break;
    }
    return "gzip: corrupt, truncated or followed by trailing data";
}

int report_parse_body(const void *body, size_t len, size_t max_json, struct report *out,
                      struct report_error *err)
{
    if (!report_is_gzip(body, len)) {
        if (len > max_json) {
            memset(out, 0, sizeof *out);
            report__set_error(err, "body", "larger than the size limit (%zu bytes)", max_json);
            return 413;
        }
        return report_parse(body, len, out, err) == 0 ? 0 : 400;
    }
    char *json;
    size_t jlen;
    enum report_gunzip_result gr = report_gunzip(body, len, max_json, &json, &jlen);
    if (gr != REPORT_GUNZIP_OK) {
        memset(out, 0, sizeof *out);
        report__set_error(err, "body", "%s", report_gunzip_strerror(gr));
        return gr == REPORT_GUNZIP_TOO_BIG ? 413 : 400;
    }
    int r = report_parse(json, jlen, out, err);
    free(json);
    return r == 0 ? 0 : 400;
}
