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

/* report_gunzip, starting from a buffer of `first` bytes (grown by doubling up to cap + 1).
 * With keep_prefix, TOO_BIG comes with the first cap bytes in *out (not NUL-terminated). */
static enum report_gunzip_result gunzip(const void *in, size_t inlen, size_t cap, size_t first,
                                        int keep_prefix, char **out, size_t *outlen)
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
    size_t size = first < limit ? first : limit;
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
    if (used == limit) /* the stream ended on exactly cap + 1 bytes */
        res = REPORT_GUNZIP_TOO_BIG;
    if (res == REPORT_GUNZIP_TOO_BIG && keep_prefix) {
        *out = buf;
        *outlen = used < cap ? used : cap;
        return res;
    }
    if (res != REPORT_GUNZIP_OK) {
        free(buf);
        return res;
    }
    if (used == size)
        buf = xrealloc(buf, used + 1);
    buf[used] = '\0';
    *out = buf;
    *outlen = used;
    return REPORT_GUNZIP_OK;
}

enum report_gunzip_result report_gunzip(const void *in, size_t inlen, size_t cap, char **out,
                                        size_t *outlen)
{
    /* Start from a guess of 4x the input (reports compress about 5-10x) and double. */
    size_t first = inlen < SIZE_MAX / 4 ? inlen * 4 : SIZE_MAX;
    return gunzip(in, inlen, cap, first < 4096 ? 4096 : first, 0, out, outlen);
}

enum report_gunzip_result report__gunzip_prefix(const void *in, size_t inlen, size_t cap,
                                                char **out, size_t *outlen)
{
    size_t first = inlen < SIZE_MAX / 4 ? inlen * 4 : SIZE_MAX;
    return gunzip(in, inlen, cap, first < 4096 ? 4096 : first, 1, out, outlen);
}

enum report_gunzip_result report__gunzip_exact(const void *in, size_t inlen, size_t size,
                                               char **out, size_t *outlen)
{
    return gunzip(in, inlen, size, size + 1, 0, out, outlen);
}

/* One gzip layer being inflated into a fixed window, counting what comes out. */
struct layer {
    z_stream zs;
    int live;   /* inflateInit2 done */
    int done;   /* ended or corrupt: nothing more to count */
    size_t out; /* bytes produced so far */
};

static void layer_init(struct layer *l)
{
    memset(l, 0, sizeof(*l));
    /* A gzip wrapper only (RFC 1952); failing is out of memory or a broken zlib. */
    if (inflateInit2(&l->zs, 16 + MAX_WBITS) != Z_OK)
        abort();
    l->live = 1;
}

/* Feed `got` bytes of the outer layer's output to the inner layer; 1 once it passed cap. */
static int inner_feed(struct layer *inner, unsigned char *data, size_t got, size_t cap)
{
    unsigned char w[16384];
    inner->zs.next_in = data;
    inner->zs.avail_in = (uInt)got;
    while (!inner->done && inner->zs.avail_in > 0) {
        inner->zs.next_out = w;
        inner->zs.avail_out = sizeof(w);
        int zi = inflate(&inner->zs, Z_NO_FLUSH);
        inner->out += sizeof(w) - inner->zs.avail_out;
        if (inner->out > cap)
            return 1;
        if (zi == Z_STREAM_END && report_is_gzip(inner->zs.next_in, inner->zs.avail_in))
            inflateReset(&inner->zs); /* another member (RFC 1952 §2.2) */
        else if (zi != Z_OK && !(zi == Z_BUF_ERROR && inner->zs.avail_out == 0))
            inner->done = 1;
    }
    return 0;
}

enum report_gunzip_result report_gunzip_measure(const void *in, size_t inlen, size_t cap,
                                                size_t *outlen)
{
    unsigned char w[16384], head[2];
    struct layer outer, inner;
    int inner_state = -1; /* -1 not known yet, 0 not gzip, 1 inflating */
    enum report_gunzip_result res = REPORT_GUNZIP_CORRUPT;
    *outlen = 0;
    if (!report_is_gzip(in, inlen))
        return REPORT_GUNZIP_CORRUPT;
    layer_init(&outer);
    memset(&inner, 0, sizeof(inner));
    const unsigned char *src = in;
    size_t left = inlen;
    for (;;) {
        size_t in_chunk = left < CHUNK_MAX ? left : CHUNK_MAX;
        outer.zs.next_in = (Bytef *)(uintptr_t)src;
        outer.zs.avail_in = (uInt)in_chunk;
        outer.zs.next_out = w;
        outer.zs.avail_out = sizeof(w);
        int zr = inflate(&outer.zs, Z_NO_FLUSH);
        src += in_chunk - outer.zs.avail_in;
        left -= in_chunk - outer.zs.avail_in;
        size_t got = sizeof(w) - outer.zs.avail_out;
        for (size_t k = 0; k < got && outer.out + k < 2; k++)
            head[outer.out + k] = w[k];
        outer.out += got;
        if (outer.out > cap) {
            res = REPORT_GUNZIP_TOO_BIG;
            break;
        }
        if (inner_state == -1 && outer.out >= 2) {
            inner_state = report_is_gzip(head, 2);
            if (inner_state)
                layer_init(&inner);
        }
        if (inner_state == 1 && got > 0 && inner_feed(&inner, w, got, cap)) {
            res = REPORT_GUNZIP_TOO_BIG;
            break;
        }
        if (zr == Z_STREAM_END) {
            if (left == 0) {
                res = REPORT_GUNZIP_OK;
                break;
            }
            /* Another member, else trailing garbage (as report_gunzip). */
            if (!report_is_gzip(src, left) || inflateReset(&outer.zs) != Z_OK)
                break;
            continue;
        }
        if (zr == Z_OK || (zr == Z_BUF_ERROR && outer.zs.avail_out == 0))
            continue;
        break; /* truncated or corrupt */
    }
    inflateEnd(&outer.zs);
    if (inner.live)
        inflateEnd(&inner.zs);
    if (res == REPORT_GUNZIP_OK)
        *outlen = outer.out;
    return res;
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
