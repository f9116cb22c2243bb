/* h1guard.c - one bound on the HTTP/1 request input libh2o holds, in all connections at once. */
#include "server/server_int.h"
#include "common/common.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

/*
 * libh2o 2.2.5 reads a whole HTTP/1 request body (Content-Length or chunked) into the
 * connection's socket input buffer before it runs any handler, up to its
 * max_request_entity_size, on any path. One connection is bounded by that, but nothing bounds
 * them together: a few hundred connections each sending most of a body and then stalling
 * would hold gigabytes until their request timeout. This file keeps the capacity of every
 * HTTP/1 connection's input buffer beyond its first H1_FREE bytes (a request head, a small
 * report: no policy GET is ever counted) in one shared count, and closes a connection whose
 * buffer grows while the count is past the budget ([reports] parse_memory, at least four of
 * the largest requests h2o takes), before h2o parses its bytes.
 *
 * h2o calls these two exported functions of its own through its PLT, so the definitions in
 * this executable win (the originals are reached with dlsym(RTLD_NEXT), as in h2guard.c):
 *
 *   - h2o_http1_accept: the read callback h2o has just set is HTTP/1's; it is remembered and
 *     h1guard_on_read put in front of it;
 *   - h2o_socket_read_start: h2o sets that callback again for every request on a kept-alive
 *     connection (after it has freed the previous request's input), and then it is put in
 *     front again and the count brought up to date.
 *
 * A read that leaves the counted part as it was (every policy GET) costs a few comparisons,
 * one that changes it an atomic add; no allocation, no I/O.
 */

#define H1_FREE (64 * 1024) /* input a connection holds without being counted */

static atomic_uint_least64_t held;     /* counted input of HTTP/1 connections, all threads */
static uint64_t budget;                /* see srv__h1_guard_init */
static _Atomic(h2o_socket_cb) h1_read; /* h2o's HTTP/1 read callback, once seen */

void srv__h1_guard_init(uint64_t parse_memory, uint64_t entity_cap)
{
    budget = srv__h1_guard_budget(parse_memory, entity_cap);
    atomic_store(&held, 0);
}

uint64_t srv__h1_guard_budget(uint64_t parse_memory, uint64_t entity_cap)
{
    return parse_memory > 4 * entity_cap ? parse_memory : 4 * entity_cap;
}

uint64_t srv__h1_guard_counted(uint64_t capacity)
{
    return capacity > H1_FREE ? capacity - H1_FREE : 0;
}

/* The counted part of sock's input buffer now (h2o's shared empty prototype: nothing). */
static uint64_t input_counted(h2o_socket_t *sock)
{
    return sock->input != NULL && sock->input->bytes != NULL
               ? srv__h1_guard_counted(sock->input->capacity)
               : 0;
}

int srv__h1_guard_charge(struct srv_h1_guard *g, uint64_t now_bytes)
{
    uint64_t was = g->charged;
    if (now_bytes == was)
        return 0;
    g->charged = now_bytes;
    if (now_bytes < was) {
        atomic_fetch_sub(&held, was - now_bytes);
        return 0;
    }
    uint64_t total = atomic_fetch_add(&held, now_bytes - was) + (now_bytes - was);
    return total > budget ? -1 : 0;
}

void srv__h1_guard_release(struct srv_h1_guard *g)
{
    if (g->charged > 0)
        atomic_fetch_sub(&held, g->charged);
    g->charged = 0;
}

void srv__input_over_log(struct srv_over_log *l, uint64_t now_ms, const char *event,
                         const char *proto)
{
    l->closed++;
    if (l->last_ms != 0 && now_ms - l->last_ms < 1000)
        return;
    l->last_ms = now_ms;
    log_event(LOG_WARN, event,
              "budget=%llu closed=%llu note=\"%s connection closed: the request bodies held "
              "for all connections would pass [reports] parse_memory\"",
              (unsigned long long)budget, (unsigned long long)l->closed, proto);
    l->closed = 0;
}

uint64_t srv__h1_guard_held(void)
{
    return atomic_load(&held);
}

/* h2o's HTTP/1 read callback, with the count in front. */
static void h1guard_on_read(h2o_socket_t *sock, const char *err)
{
    struct srv_h1_guard *g = srv__conn_h1(sock);
    if (err == NULL && srv__h1_guard_charge(g, input_counted(sock)) != 0) {
        struct srv_thread *t = srv_current();
        static __thread struct srv_over_log over_log;
        srv__input_over_log(&over_log, t != NULL ? h2o_now(t->loop) : 1, "conn.h1_input", "HTTP/1");
        err = "HTTP/1 input budget"; /* h2o closes the connection as after a read error */
    }
    atomic_load_explicit(&h1_read, memory_order_relaxed)(sock, err); /* may close it */
}

/* ---- the two libh2o functions taken over (see the top of this file) ---- */

typedef void (*read_start_fn)(h2o_socket_t *, h2o_socket_cb);
static srv_accept_fn real_http1_accept;
static read_start_fn real_read_start;
static pthread_once_t real_once = PTHREAD_ONCE_INIT;

static void find_real(void)
{
    *(void **)&real_http1_accept = srv__libh2o_original("h2o_http1_accept");
    *(void **)&real_read_start = srv__libh2o_original("h2o_socket_read_start");
}

void h2o_socket_read_start(h2o_socket_t *sock, h2o_socket_cb cb);
void h2o_socket_read_start(h2o_socket_t *sock, h2o_socket_cb cb)
{
    pthread_once(&real_once, find_real);
    struct srv_h1_guard *g;
    if (cb != NULL && cb == atomic_load_explicit(&h1_read, memory_order_relaxed) &&
        (g = srv__conn_h1(sock)) != NULL) {
        /* a new request on a kept-alive connection: h2o has freed the last one's input */
        srv__h1_guard_charge(g, input_counted(sock));
        cb = h1guard_on_read;
    }
    real_read_start(sock, cb);
}

void h2o_http1_accept(h2o_accept_ctx_t *ctx, h2o_socket_t *sock, struct timeval connected_at);
void h2o_http1_accept(h2o_accept_ctx_t *ctx, h2o_socket_t *sock, struct timeval connected_at)
{
    pthread_once(&real_once, find_real);
    struct srv_h1_guard *g = srv__conn_h1(sock);
    if (g == NULL) { /* not a socket listen.c accepted */
        real_http1_accept(ctx, sock, connected_at);
        return;
    }
    /* h2o gets an empty input, so that the count is in front of its read callback before
     * it parses a byte of the input */
    srv__accept_input_held(real_http1_accept, ctx, sock, connected_at);
    if (sock->_cb.read == NULL)
        return;                /* h2o refused the connection already */
    h2o_socket_cb none = NULL; /* the same static function for every connection: */
    if (sock->_cb.read != h1guard_on_read)
        atomic_compare_exchange_strong(&h1_read, &none, sock->_cb.read);
    if (sock->_cb.read == h1guard_on_read ||
        sock->_cb.read == atomic_load_explicit(&h1_read, memory_order_relaxed)) {
        sock->_cb.read = h1guard_on_read;
        if (sock->input->size != 0)
            h1guard_on_read(sock, NULL);
    }
}
