/* h2guard.c - HTTP/2 limits libh2o 2.2.5 lacks: rapid reset, and 413 for bodies over max_body. */
#include "server/server_int.h"
#include "common/common.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*
 * libh2o 2.2.5 has no hook between its HTTP/2 framing and its handlers: a request handler runs
 * only once the whole body is in, a body past max_request_entity_size gets RST_STREAM
 * (REFUSED_STREAM, which senders read as "retry"), and nothing limits how fast a client may
 * open and reset streams (CVE-2023-44487). Its stream state is in a header Debian does not
 * ship whole. So this file works on the bytes h2o is about to parse: it takes over two of
 * libh2o's exported functions (the library calls them through its PLT, so the definitions
 * in this executable win, and the originals are reached with dlsym(RTLD_NEXT)):
 *
 *   - h2o_http2_accept: once h2o has made the connection HTTP/2, h2guard_on_read is put in
 *     front of h2o's read callback, before h2o parses a single byte;
 *   - h2o_hpack_parse_headers: a Content-Length over max_body is forgotten (h2o would reset
 *     the stream when the body it keeps does not match it).
 *
 * h2guard_on_read walks the complete frames in h2o's input buffer (h2o consumes whole frames
 * only, so the buffer always starts at a frame boundary once the 24-byte preface is read):
 *
 *   - RST_STREAM frames from the client take from a per-connection budget (H2_RESET_BURST,
 *     refilled at H2_RESET_RATE a second); past it h2o is told to close the connection, and
 *     the client's address is refused for H2_PENALTY_MS (it would reconnect for more);
 *   - DATA frames are added up per stream. Once a stream has more than max_body, its further
 *     DATA frames are rewritten into padded DATA frames of at most 256 bytes that carry no
 *     data: h2o credits flow control for every byte as before (the client keeps sending to
 *     the end), keeps none of them, and at END_STREAM runs the handler with a body of just
 *     over max_body, which the report handler answers 413. The bodies in progress on one
 *     connection are capped at conn_body_max bytes in all (2 x max_body + 64 KiB) and at
 *     H2_STREAMS_MAX streams; past either the connection is closed. The bytes kept are
 *     also charged to h1guard.c's count, shared with HTTP/1 and all threads (one budget,
 *     [reports] parse_memory, for every unfinished request body): a connection whose body
 *     bytes grow while the count is past it is closed as well. A read that keeps no more
 *     body bytes than before (every policy GET) leaves the count alone.
 */

#define H2_RESET_BURST 100.0 /* stream resets a connection may send at once */
#define H2_RESET_RATE 33.0   /* ... and per second after that */
#define H2_STREAMS_MAX 32    /* request bodies in progress per connection; more: closed */
#define H2_PIECE 256         /* a rewritten DATA frame: pad-length byte + 255 bytes of padding */
#define H2_PREFACE_LEN 24    /* "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" (RFC 9113 §3.4) */
#define H2_PENALTY_MS 30000  /* an address that broke the reset limit is refused this long */

enum { FRAME_DATA = 0x0, FRAME_HEADERS = 0x1, FRAME_RST_STREAM = 0x3 };
enum { FLAG_END_STREAM = 0x1, FLAG_PADDED = 0x8 };

struct h2_stream {
    uint32_t id;
    uint64_t kept; /* DATA payload bytes h2o keeps for it */
};

struct srv_h2_guard {
    h2o_socket_cb h2o_read;    /* h2o's read callback */
    uint64_t kept;             /* sum of streams[].kept */
    struct srv_h1_guard total; /* kept's share of h1guard.c's count (all protocols' bodies) */
    int preface_done;
    double resets; /* RST_STREAM budget left */
    uint64_t resets_ms;
    struct h2_stream streams[H2_STREAMS_MAX];
    size_t n_streams;
};

static uint64_t body_max;      /* [reports] max_body */
static uint64_t conn_body_max; /* body bytes in progress on one connection, all streams */

void srv__h2_guard_init(uint64_t max_body)
{
    body_max = max_body;
    conn_body_max = 2 * max_body + 64 * 1024;
}

uint64_t srv__h2_entity_cap(uint64_t max_body)
{
    /* With the guard h2o keeps max_body plus the frame that crosses it (16 KiB at most, its
     * max_frame_size); twice max_body, as before the guard, for small max_body and in case
     * a libh2o built otherwise ever bypasses the guard (then 413 up to twice max_body). */
    uint64_t a = max_body + 64 * 1024, b = 2 * max_body;
    return a > b ? a : b;
}

struct srv_h2_guard *srv__h2_guard_new(h2o_socket_cb h2o_read, uint64_t now)
{
    struct srv_h2_guard *g = xcalloc(1, sizeof(*g));
    g->h2o_read = h2o_read;
    g->resets = H2_RESET_BURST;
    g->resets_ms = now;
    return g;
}

void srv__h2_guard_free(struct srv_h2_guard *g)
{
    if (g != NULL)
        srv__h1_guard_release(&g->total);
    free(g);
}

static struct h2_stream *stream_find(struct srv_h2_guard *g, uint32_t id)
{
    for (size_t i = 0; i < g->n_streams; i++)
        if (g->streams[i].id == id)
            return &g->streams[i];
    return NULL;
}

static void stream_drop(struct srv_h2_guard *g, uint32_t id)
{
    struct h2_stream *s = stream_find(g, id);
    if (s != NULL) {
        g->kept -= s->kept;
        *s = g->streams[--g->n_streams];
    }
}

int srv__h2_guard_frame(struct srv_h2_guard *g, int type, int flags, uint32_t id, uint64_t data,
                        int *over)
{
    int rc = 0;
    *over = 0;
    if (type == FRAME_RST_STREAM) {
        stream_drop(g, id);
    } else if (type == FRAME_HEADERS && (flags & FLAG_END_STREAM)) {
        stream_drop(g, id); /* no body, or trailers: the body is complete */
    } else if (type == FRAME_HEADERS && stream_find(g, id) == NULL) {
        if (g->n_streams == H2_STREAMS_MAX)
            rc = -1; /* no sender uploads that many reports at once */
        else
            g->streams[g->n_streams++] = (struct h2_stream){id, 0};
    } else if (type == FRAME_DATA) {
        struct h2_stream *st = stream_find(g, id);
        if (st != NULL && st->kept > body_max) {
            *over = 1; /* over max_body: h2o keeps nothing more of it */
        } else if (st != NULL) {
            st->kept += data;
            g->kept += data;
            if (g->kept > conn_body_max)
                rc = -1;
        }
        if (st != NULL && (flags & FLAG_END_STREAM))
            stream_drop(g, id);
    }
    return rc;
}

int srv__h2_guard_settle(struct srv_h2_guard *g)
{
    return srv__h1_guard_charge(&g->total, g->kept);
}

static void put_header(unsigned char *p, size_t len, int type, int flags, uint32_t id)
{
    p[0] = (unsigned char)(len >> 16);
    p[1] = (unsigned char)(len >> 8);
    p[2] = (unsigned char)len;
    p[3] = (unsigned char)type;
    p[4] = (unsigned char)flags;
    p[5] = (unsigned char)(id >> 24 & 0x7f);
    p[6] = (unsigned char)(id >> 16);
    p[7] = (unsigned char)(id >> 8);
    p[8] = (unsigned char)id;
}

size_t srv__h2_empty_data(unsigned char *out, size_t len, int end_stream, uint32_t id)
{
    size_t o = 0;
    for (size_t left = len; left > 0;) {
        size_t piece = left < H2_PIECE ? left : H2_PIECE;
        left -= piece;
        put_header(out + o, piece, FRAME_DATA,
                   FLAG_PADDED | (left == 0 && end_stream ? FLAG_END_STREAM : 0), id);
        out[o + 9] = (unsigned char)(piece - 1); /* pad length: all but this byte */
        memset(out + o + 10, 0, piece - 1);      /* padding is zeros (RFC 9113 §6.1) */
        o += 9 + piece;
    }
    return o;
}

static __thread struct srv_over_log over_log; /* conn.h2_input's rate limit */

static uint32_t frame_id(const unsigned char *f)
{
    return ((uint32_t)f[5] << 24 | (uint32_t)f[6] << 16 | (uint32_t)f[7] << 8 | f[8]) & 0x7fffffff;
}

/* Walk the complete frames of h2o's input: account resets and request bodies, and rewrite the
 * DATA frames of streams over max_body (then sock->input is a new buffer). 0: let h2o parse
 * it; -1: close the connection (too many resets, or too much body in progress). */
static int guard_input(struct srv_h2_guard *g, h2o_socket_t *sock, uint64_t now)
{
    const unsigned char *buf = (const unsigned char *)sock->input->bytes;
    size_t len = sock->input->size, i = 0, resets = 0;
    h2o_buffer_t *nb = NULL; /* the rewritten input, once a frame needs rewriting */
    unsigned char *out = NULL;
    size_t o = 0, copied = 0; /* bytes written to nb; input bytes accounted for in nb */
    if (!g->preface_done) {
        if (len < H2_PREFACE_LEN)
            return 0;
        i = H2_PREFACE_LEN; /* h2o consumes it in this call, or closes the connection */
        g->preface_done = 1;
    }
    int rc = 0;
    while (i + 9 <= len) {
        size_t flen = (size_t)buf[i] << 16 | (size_t)buf[i + 1] << 8 | buf[i + 2];
        if (flen > len - i - 9)
            break; /* the rest of this frame has not arrived */
        int type = buf[i + 3], flags = buf[i + 4];
        uint32_t id = frame_id(buf + i);
        size_t pad =
            type == FRAME_DATA && (flags & FLAG_PADDED) && flen > 0 ? 1 + (size_t)buf[i + 9] : 0;
        int over;
        if (srv__h2_guard_frame(g, type, flags, id, flen > pad ? flen - pad : 0, &over) != 0)
            rc = -1;
        resets += type == FRAME_RST_STREAM;
        int empty = over && flen > 0;
        if (empty && nb == NULL) {
            /* growth: 9 bytes per extra 256-byte piece, at most 9/256 of the input */
            h2o_buffer_init(&nb, &h2o_socket_buffer_prototype);
            out = (unsigned char *)h2o_buffer_reserve(&nb, len + len / 256 * 9 + 64).base;
        }
        if (nb != NULL) {
            memcpy(out + o, buf + copied, i - copied); /* frames kept as they are */
            o += i - copied;
            if (empty) {
                o += srv__h2_empty_data(out + o, flen, flags & FLAG_END_STREAM, id);
            } else {
                memcpy(out + o, buf + i, 9 + flen);
                o += 9 + flen;
            }
            copied = i + 9 + flen;
        }
        i += 9 + flen;
    }
    if (nb != NULL) {
        memcpy(out + o, buf + copied, len - copied); /* and the partial frame at the end */
        nb->size = o + len - copied;
        h2o_buffer_dispose(&sock->input);
        sock->input = nb;
    }
    /* HEADERS-only streams (every policy GET) keep no body bytes: nothing to settle */
    if (g->kept != g->total.charged && srv__h2_guard_settle(g) != 0) {
        srv__input_over_log(&over_log, now, "conn.h2_input", "HTTP/2");
        rc = -1;
    }
    if (resets > 0) {
        g->resets += (double)(now - g->resets_ms) * H2_RESET_RATE / 1000.0;
        if (g->resets > H2_RESET_BURST)
            g->resets = H2_RESET_BURST;
        g->resets_ms = now;
        g->resets -= (double)resets;
        if (g->resets < 0) {
            static __thread uint64_t last_log;
            if (now - last_log >= 1000) {
                last_log = now;
                log_event(LOG_WARN, "conn.rapid_reset",
                          "burst=%.0f rate=%.0f/s note=\"HTTP/2 connection closed: too many "
                          "streams reset by the client (CVE-2023-44487)\"",
                          H2_RESET_BURST, H2_RESET_RATE);
            }
            /* it would just reconnect for another burst: its address waits a while */
            struct sockaddr_storage ss;
            if (h2o_socket_getpeername(sock, (struct sockaddr *)&ss) > 0)
                srv__conns_penalize((struct sockaddr *)&ss, now + H2_PENALTY_MS);
            rc = -1;
        }
    }
    return rc;
}

/* h2o's HTTP/2 read callback, with guard_input in front. */
static void h2guard_on_read(h2o_socket_t *sock, const char *err)
{
    struct srv_h2_guard *g = *srv__conn_h2(sock);
    struct srv_thread *t = srv_current();
    if (err == NULL && guard_input(g, sock, t != NULL ? h2o_now(t->loop) : 0) != 0)
        err = "HTTP/2 limits"; /* h2o closes the connection as after a read error */
    g->h2o_read(sock, err);    /* may close the connection and free g */
}

/* ---- the two libh2o functions taken over (see the top of this file) ---- */

typedef int (*parse_headers_fn)(h2o_req_t *, void *, const uint8_t *, size_t, int *, size_t *,
                                void **, const char **);
static srv_accept_fn real_http2_accept;
static parse_headers_fn real_parse_headers;
static pthread_once_t real_once = PTHREAD_ONCE_INIT;

void *srv__libh2o_original(const char *name)
{
    /* POSIX leaves function pointers from dlsym to the implementation; glibc's are real */
    void *f = dlsym(RTLD_NEXT, name);
    if (f == NULL)
        abort(); /* libh2o without it cannot be: we link against it */
    return f;
}

static void find_real(void)
{
    *(void **)&real_http2_accept = srv__libh2o_original("h2o_http2_accept");
    *(void **)&real_parse_headers = srv__libh2o_original("h2o_hpack_parse_headers");
}

void srv__accept_input_held(srv_accept_fn accept, h2o_accept_ctx_t *ctx, h2o_socket_t *sock,
                            struct timeval connected_at)
{
    h2o_buffer_t *held = sock->input;
    h2o_buffer_init(&sock->input, &h2o_socket_buffer_prototype);
    accept(ctx, sock, connected_at);
    h2o_buffer_dispose(&sock->input);
    sock->input = held;
}

void h2o_http2_accept(h2o_accept_ctx_t *ctx, h2o_socket_t *sock, struct timeval connected_at);
void h2o_http2_accept(h2o_accept_ctx_t *ctx, h2o_socket_t *sock, struct timeval connected_at)
{
    pthread_once(&real_once, find_real);
    struct srv_h2_guard **slot = srv__conn_h2(sock);
    if (slot == NULL) { /* not a socket listen.c accepted */
        real_http2_accept(ctx, sock, connected_at);
        return;
    }
    /* then the guard goes in front of the read callback h2o has set */
    srv__accept_input_held(real_http2_accept, ctx, sock, connected_at);
    struct srv_thread *t = srv_current();
    struct srv_h2_guard *g = srv__h2_guard_new(sock->_cb.read, t != NULL ? h2o_now(t->loop) : 0);
    *slot = g;
    sock->_cb.read = h2guard_on_read;
    if (sock->input->size != 0)
        h2guard_on_read(sock, NULL);
}

int h2o_hpack_parse_headers(h2o_req_t *req, void *table, const uint8_t *src, size_t len,
                            int *pseudo_map, size_t *content_length, void **digests,
                            const char **err_desc);
int h2o_hpack_parse_headers(h2o_req_t *req, void *table, const uint8_t *src, size_t len,
                            int *pseudo_map, size_t *content_length, void **digests,
                            const char **err_desc)
{
    pthread_once(&real_once, find_real);
    int rc =
        real_parse_headers(req, table, src, len, pseudo_map, content_length, digests, err_desc);
    /* h2o would reset the stream when the body it keeps (cut at just over max_body) differs
     * from the Content-Length; the handler answers 413 from the body's length instead. */
    if (body_max > 0 && *content_length != SIZE_MAX && *content_length > body_max)
        *content_length = SIZE_MAX;
    return rc;
}
