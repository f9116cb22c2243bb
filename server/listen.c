/* listen.c - listening sockets (SO_REUSEPORT, one per loop thread), accept, per-address caps. */
#include "server/server_int.h"
#include "common/common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LISTEN_BACKLOG 4096
#define ACCEPT_BATCH 32

char srv__conns_exempt_token;

static const char *bind_fix(int e)
{
    switch (e) {
    case EADDRINUSE:
        return "address already in use: stop the other server on this port or change the "
               "listen address";
    case EACCES:
        return "permission denied: ports below 1024 need root or CAP_NET_BIND_SERVICE";
    case EADDRNOTAVAIL:
        return "address not available: it is not an address of this host";
    default:
        return strerror(e);
    }
}

static int open_one(const struct addrinfo *ai, int reuseport, int *e)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *e = errno;
        return -1;
    }
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    if (reuseport)
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on));
    if (ai->ai_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
    /* accepted sockets inherit it: small responses must not wait for delayed ACKs */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
        (reuseport && listen(fd, LISTEN_BACKLOG) != 0)) {
        *e = errno;
        close(fd);
        return -1;
    }
    return fd;
}

int srv__listener_open(struct srv_listener *l, const char *addr, int admin, int n_threads,
                       char *err, size_t errlen)
{
    char host[256], port[8];
    memset(l, 0, sizeof(*l));
    l->addr = xstrdup(addr);
    l->admin = admin;
    l->fds = xmalloc((size_t)n_threads * sizeof(int));
    l->n_fds = n_threads;
    for (int i = 0; i < n_threads; i++)
        l->fds[i] = -1;
    const char *section = admin ? "[admin] listen" : "[server] listen";
    if (config_split_hostport(addr, host, sizeof(host), port, sizeof(port)) != 0) {
        snprintf(err, errlen, "%s = %s is not host:port ([v6]:port for IPv6)", section, addr);
        return -1;
    }
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0) {
        snprintf(err, errlen, "%s = %s: %s", section, addr, gai_strerror(gai));
        return -1;
    }
    /* A probe bind without SO_REUSEPORT fails when anyone (even another stsd, which would
     * otherwise silently share the port with us) listens there already. */
    int e = 0;
    int probe = open_one(res, 0, &e);
    if (probe < 0) {
        snprintf(err, errlen, "cannot listen on %s (%s): %s", addr, section, bind_fix(e));
        freeaddrinfo(res);
        return -1;
    }
    close(probe);
    for (int i = 0; i < n_threads; i++) {
        l->fds[i] = open_one(res, 1, &e);
        if (l->fds[i] < 0) {
            snprintf(err, errlen, "cannot listen on %s (%s): %s", addr, section, bind_fix(e));
            freeaddrinfo(res);
            return -1;
        }
    }
    freeaddrinfo(res);
    return 0;
}

void srv__listener_close(struct srv_listener *l)
{
    for (int i = 0; l->fds != NULL && i < l->n_fds; i++)
        if (l->fds[i] >= 0)
            close(l->fds[i]); /* fds handed to a loop thread were set to -1 there */
    free(l->fds);
    free(l->addr);
    memset(l, 0, sizeof(*l));
}

/* ---- per-address connection counting ---- */

#define CONN_BUCKETS 4096
struct conn_node {
    struct conn_node *next;
    int family;
    unsigned char addr[16];
    int count;
};
static pthread_mutex_t conns_mu = PTHREAD_MUTEX_INITIALIZER;
static struct conn_node *conns[CONN_BUCKETS];

void srv__conns_init(void)
{
    memset(conns, 0, sizeof(conns));
}

static size_t conn_bucket(int family, const unsigned char *a)
{
    return srv__hash_str((const char *)a, family == AF_INET ? 4 : 16) % CONN_BUCKETS;
}

void *srv__conns_acquire(struct srv *s, const struct sockaddr *sa)
{
    int family;
    unsigned char a[16] = {0};
    if (sa->sa_family == AF_INET) {
        family = AF_INET;
        memcpy(a, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        const struct in6_addr *v6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(v6)) {
            family = AF_INET;
            memcpy(a, v6->s6_addr + 12, 4);
        } else {
            family = AF_INET6;
            memcpy(a, v6->s6_addr, 16);
        }
    } else {
        return &srv__conns_exempt_token;
    }
    int max = s->cfg->max_conn_per_address;
    if (max <= 0 || config_cidr_match(s->cfg->rate_exempt, s->cfg->n_rate_exempt, family, a))
        return &srv__conns_exempt_token;
    size_t b = conn_bucket(family, a);
    size_t alen = family == AF_INET ? 4 : 16;
    pthread_mutex_lock(&conns_mu);
    struct conn_node *n = conns[b];
    while (n != NULL && !(n->family == family && memcmp(n->addr, a, alen) == 0))
        n = n->next;
    if (n == NULL) {
        n = xcalloc(1, sizeof(*n));
        n->family = family;
        memcpy(n->addr, a, 16);
        n->next = conns[b];
        conns[b] = n;
    }
    if (n->count >= max) {
        pthread_mutex_unlock(&conns_mu);
        return NULL;
    }
    n->count++;
    pthread_mutex_unlock(&conns_mu);
    return n;
}

void srv__conns_release(void *token)
{
    if (token == NULL || token == &srv__conns_exempt_token)
        return;
    struct conn_node *n = token;
    pthread_mutex_lock(&conns_mu);
    if (--n->count == 0) {
        struct conn_node **pp = &conns[conn_bucket(n->family, n->addr)];
        while (*pp != n)
            pp = &(*pp)->next;
        *pp = n->next;
        free(n);
    }
    pthread_mutex_unlock(&conns_mu);
}

/* ---- accept ---- */

static void on_sock_close(void *data)
{
    struct srv_thread *t = srv_current();
    if (t != NULL)
        t->n_conns--;
    srv__conns_release(data);
}

static void log_refused(struct srv_thread *t, const struct sockaddr *sa)
{
    static __thread uint64_t last_ms;
    static __thread uint64_t refused;
    refused++;
    uint64_t now = h2o_now(t->loop);
    if (now - last_ms < 1000)
        return;
    last_ms = now;
    char ip[INET6_ADDRSTRLEN] = "?";
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, ip, sizeof(ip));
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, ip, sizeof(ip));
    log_event(LOG_WARN, "conn.refused",
              "addr=%s reason=max_conn_per_address limit=%d refused=%llu "
              "fix=\"raise [server] max_conn_per_address or add the range to [reports] "
              "rate_exempt\"",
              ip, t->srv->cfg->max_conn_per_address, (unsigned long long)refused);
    refused = 0;
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    struct srv_thread *t = srv_current();
    h2o_accept_ctx_t *actx = listener->data;
    int admin = actx == &t->accept_admin;
    if (err != NULL)
        return;
    for (int i = 0; i < ACCEPT_BATCH && !t->stopping; i++) {
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (sock == NULL)
            break;
        void *tok = &srv__conns_exempt_token;
        if (!admin) {
            struct sockaddr_storage ss;
            socklen_t sl = h2o_socket_getpeername(sock, (struct sockaddr *)&ss);
            if (sl > 0) {
                tok = srv__conns_acquire(t->srv, (struct sockaddr *)&ss);
                if (tok == NULL) {
                    log_refused(t, (struct sockaddr *)&ss);
                    h2o_socket_close(sock);
                    continue;
                }
            }
        }
        t->n_conns++;
        sock->on_close.cb = on_sock_close;
        sock->on_close.data = tok;
        h2o_accept(actx, sock);
    }
}

void srv__listeners_start(struct srv_thread *t)
{
    struct srv *s = t->srv;
    t->socks = xcalloc(s->n_listeners + 1, sizeof(*t->socks));
    for (size_t i = 0; i < s->n_listeners; i++) {
        struct srv_listener *l = &s->listeners[i];
        int fd = l->fds[t->idx];
        l->fds[t->idx] = -1; /* owned by this thread's h2o socket now */
        h2o_socket_t *sock = h2o_evloop_socket_create(t->loop, fd, H2O_SOCKET_FLAG_DONT_READ);
        sock->data = l->admin ? &t->accept_admin : &t->accept_public;
        h2o_socket_read_start(sock, on_accept);
        t->socks[i] = sock;
    }
}

void srv__listeners_stop(struct srv_thread *t)
{
    if (t->socks == NULL)
        return;
    for (size_t i = 0; i < t->srv->n_listeners; i++) {
        if (t->socks[i] != NULL) {
            h2o_socket_read_stop(t->socks[i]);
            h2o_socket_close(t->socks[i]);
            t->socks[i] = NULL;
        }
    }
    free(t->socks);
    t->socks = NULL;
}
