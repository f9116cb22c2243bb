/* listen.c - listening sockets (SO_REUSEPORT, one per loop thread), accept, connection caps. */
#include "server/server_int.h"
#include "common/common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define LISTEN_BACKLOG 4096
#define ACCEPT_BATCH 32
/* The port-80 listener ([acme] http_listen) answers a CA's validation requests, a handful at a
 * time, yet anyone may open connections there without TLS, and each can hold an unfinished
 * request of up to h2o's request length limit (some 400 KB) for its 10 s request timeout. So
 * it has its own, smaller caps besides the public ones: per address, and in all. */
#define ACME_CONN_PER_ADDRESS 8
#define ACME_CONNS_MAX 256

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

int srv__listener_open(struct srv_listener *l, const char *addr, int kind, int n_threads, char *err,
                       size_t errlen)
{
    char host[256], port[8];
    memset(l, 0, sizeof(*l));
    l->addr = xstrdup(addr);
    l->admin = kind;
    l->fds = xmalloc((size_t)n_threads * sizeof(int));
    l->n_fds = n_threads;
    for (int i = 0; i < n_threads; i++)
        l->fds[i] = -1;
    const char *section = kind == SRV_LISTEN_ADMIN  ? "[admin] listen"
                          : kind == SRV_LISTEN_ACME ? "[acme] http_listen"
                                                    : "[server] listen";
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

/* ---- connection counting: per address (IPv4 or IPv6 /64) and in all ---- */

#define CONN_BUCKETS 4096
#define ACCEPT_RETRY_MS 100   /* paused accepting looks again this often (no busy loop) */
#define NOFILE_WANT (1 << 20) /* the soft RLIMIT_NOFILE is raised up to this (or the hard one) */

struct conn_node {
    struct conn_node *next;
    unsigned char key[SRV_ADDR_KEY_LEN];
    int count;
};
static pthread_mutex_t conns_mu = PTHREAD_MUTEX_INITIALIZER;
static struct conn_node *conns[CONN_BUCKETS];
static atomic_long conns_open; /* connections on the public listeners, all threads */
static atomic_long acme_open;  /* of those, on the port-80 listener */
static long conns_max;         /* [server] max_connections, resolved at start */
static char admin_token;       /* on_close data of admin-listener connections */
static const struct stsd_config *conns_cfg;

/* Addresses (IPv4, IPv6 /64) refused for a while after abusing a connection (see
 * srv__conns_penalize): a fixed table, a slot per keyed hash, the newest entry wins a slot. */
#define PENALTY_SLOTS 4096
static struct {
    unsigned char key[SRV_ADDR_KEY_LEN];
    uint64_t until_ms;
} penalty[PENALTY_SLOTS];

long srv__conns_max_default(long nofile)
{
    long m = nofile / 10 * 8 + nofile % 10 * 8 / 10; /* 80 %, without overflow */
    return m > 0 ? m : 1;
}

void srv__conns_init(const struct stsd_config *cfg)
{
    memset(conns, 0, sizeof(conns));
    memset(penalty, 0, sizeof(penalty));
    conns_cfg = cfg;
    atomic_store(&conns_open, 0);
    atomic_store(&acme_open, 0);
    srv__h2_guard_init(cfg->max_body);
    /* Raise the soft file limit to the hard one (systemd's default soft limit is 1024, its
     * hard limit far higher), as a server that holds one descriptor per client should. */
    long nofile = 1024;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rlim_t want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > NOFILE_WANT
                          ? (rlim_t)NOFILE_WANT
                          : rl.rlim_max;
        if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
            struct rlimit up = {want, rl.rlim_max};
            if (setrlimit(RLIMIT_NOFILE, &up) == 0)
                rl.rlim_cur = want;
        }
        nofile = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (rlim_t)LONG_MAX / 2
                     ? (long)NOFILE_WANT
                     : (long)rl.rlim_cur;
    }
    conns_max = cfg->max_connections > 0 ? cfg->max_connections : srv__conns_max_default(nofile);
    log_event(cfg->max_connections > nofile ? LOG_WARN : LOG_INFO, "serve.max_connections",
              "max_connections=%ld from=%s nofile=%ld%s", conns_max,
              cfg->max_connections > 0 ? "config" : "80%_of_nofile", nofile,
              cfg->max_connections > nofile
                  ? " note=\"above the file limit: accepting pauses when descriptors run out\""
                  : "");
}

static size_t conn_bucket(const unsigned char *key)
{
    return (size_t)(srv__hash_keyed(key, SRV_ADDR_KEY_LEN) % CONN_BUCKETS);
}

void *srv__conns_acquire(struct srv *s, const struct sockaddr *sa)
{
    return srv__conns_acquire_max(s, sa, s->cfg->max_conn_per_address);
}

void *srv__conns_acquire_max(struct srv *s, const struct sockaddr *sa, int max)
{
    unsigned char key[SRV_ADDR_KEY_LEN];
    int family;
    const unsigned char *a;
    if (srv__addr_key(sa, key, &family, &a) != 0)
        return &srv__conns_exempt_token;
    if (max <= 0 || config_cidr_match(s->cfg->rate_exempt, s->cfg->n_rate_exempt, family, a))
        return &srv__conns_exempt_token;
    size_t b = conn_bucket(key);
    pthread_mutex_lock(&conns_mu);
    struct conn_node *n = conns[b];
    while (n != NULL && memcmp(n->key, key, SRV_ADDR_KEY_LEN) != 0)
        n = n->next;
    if (n == NULL) {
        n = xcalloc(1, sizeof(*n));
        memcpy(n->key, key, SRV_ADDR_KEY_LEN);
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

void srv__conns_penalize(const struct sockaddr *sa, uint64_t until_ms)
{
    unsigned char key[SRV_ADDR_KEY_LEN];
    int family;
    const unsigned char *a;
    if (srv__addr_key(sa, key, &family, &a) != 0 || conns_cfg == NULL ||
        config_cidr_match(conns_cfg->rate_exempt, conns_cfg->n_rate_exempt, family, a))
        return; /* never shut out a local proxy that speaks for everyone */
    size_t i = (size_t)(srv__hash_keyed(key, sizeof(key)) % PENALTY_SLOTS);
    pthread_mutex_lock(&conns_mu);
    memcpy(penalty[i].key, key, sizeof(key));
    penalty[i].until_ms = until_ms;
    pthread_mutex_unlock(&conns_mu);
}

int srv__conns_penalized(const struct sockaddr *sa, uint64_t now_ms)
{
    unsigned char key[SRV_ADDR_KEY_LEN];
    int family;
    const unsigned char *a;
    if (srv__addr_key(sa, key, &family, &a) != 0)
        return 0;
    size_t i = (size_t)(srv__hash_keyed(key, sizeof(key)) % PENALTY_SLOTS);
    pthread_mutex_lock(&conns_mu);
    int hit = penalty[i].until_ms > now_ms && memcmp(penalty[i].key, key, sizeof(key)) == 0;
    pthread_mutex_unlock(&conns_mu);
    return hit;
}

void srv__conns_release(void *token)
{
    if (token == NULL || token == &srv__conns_exempt_token || token == &admin_token)
        return;
    struct conn_node *n = token;
    pthread_mutex_lock(&conns_mu);
    if (--n->count == 0) {
        struct conn_node **pp = &conns[conn_bucket(n->key)];
        while (*pp != n)
            pp = &(*pp)->next;
        *pp = n->next;
        free(n);
    }
    pthread_mutex_unlock(&conns_mu);
}

/* ---- accept, and pausing it ---- */

/* Per loop thread: accepting stops (the listening sockets are not read, so the loop does not
 * wake for them) at max_connections or when accept() runs out of descriptors, and a timer
 * looks again every ACCEPT_RETRY_MS; a connection closing on this thread resumes at once. */
static __thread struct {
    h2o_timeout_t retry;
    h2o_timeout_entry_t entry;
    int paused; /* 1: at max_connections, 2: out of descriptors (admin listener paused too) */
    uint64_t last_log_ms;
} acc;

static void on_accept(h2o_socket_t *listener, const char *err);

static void accept_resume(struct srv_thread *t)
{
    if (t->stopping || t->socks == NULL)
        return;
    acc.paused = 0;
    if (h2o_timeout_is_linked(&acc.entry))
        h2o_timeout_unlink(&acc.entry);
    for (size_t i = 0; i < t->srv->n_listeners; i++)
        if (t->socks[i] != NULL && !h2o_socket_is_reading(t->socks[i]))
            h2o_socket_read_start(t->socks[i], on_accept);
}

static void accept_pause(struct srv_thread *t, int why)
{
    const char *reason = why == 2 ? strerror(errno) : "max_connections";
    if (why > acc.paused)
        acc.paused = why;
    for (size_t i = 0; i < t->srv->n_listeners; i++)
        if (t->socks[i] != NULL && (why == 2 || t->srv->listeners[i].admin != SRV_LISTEN_ADMIN) &&
            h2o_socket_is_reading(t->socks[i]))
            h2o_socket_read_stop(t->socks[i]);
    if (!h2o_timeout_is_linked(&acc.entry))
        h2o_timeout_link(t->loop, &acc.retry, &acc.entry);
    uint64_t now = h2o_now(t->loop);
    if (now - acc.last_log_ms >= 10000) {
        acc.last_log_ms = now;
        if (why == 1)
            log_event(LOG_WARN, "conn.paused",
                      "reason=max_connections limit=%ld thread=%d note=\"new connections wait "
                      "in the listen backlog until others close\" fix=\"raise [server] "
                      "max_connections or the file limit if this is ordinary load\"",
                      conns_max, t->idx);
        else
            log_event(LOG_WARN, "conn.paused",
                      "reason=\"%s\" thread=%d note=\"accepting again in %d ms\" "
                      "fix=\"raise the file limit (LimitNOFILE=) or lower [server] "
                      "max_connections\"",
                      reason, t->idx, ACCEPT_RETRY_MS);
    }
}

static void on_accept_retry(h2o_timeout_entry_t *entry)
{
    (void)entry;
    struct srv_thread *t = srv_current();
    if (atomic_load(&conns_open) >= conns_max) {
        acc.paused = 1;
        h2o_timeout_link(t->loop, &acc.retry, &acc.entry); /* still at the cap: look later */
        return;
    }
    accept_resume(t);
}

static void on_sock_close(void *data);

/* What this file keeps per accepted connection (its socket's on_close.data). */
struct conn {
    void *token;             /* from srv__conns_acquire, or &admin_token */
    struct srv_h2_guard *h2; /* h2guard.c's state once the connection speaks HTTP/2 */
    int acme;                /* on the port-80 listener (counted in acme_open) */
};

struct srv_h2_guard **srv__conn_h2(h2o_socket_t *sock)
{
    if (sock->on_close.cb != on_sock_close)
        return NULL;
    return &((struct conn *)sock->on_close.data)->h2;
}

static void on_sock_close(void *data)
{
    struct conn *c = data;
    struct srv_thread *t = srv_current();
    if (t != NULL)
        t->n_conns--;
    if (c->acme)
        atomic_fetch_sub(&acme_open, 1);
    if (c->token != &admin_token) {
        atomic_fetch_sub(&conns_open, 1);
        if (t != NULL && acc.paused == 1 && atomic_load(&conns_open) < conns_max)
            accept_resume(t);
    }
    srv__conns_release(c->token);
    srv__h2_guard_free(c->h2);
    free(c);
}

enum refusal { REFUSED_PER_ADDRESS, REFUSED_PENALTY, REFUSED_ACME_PER_ADDRESS, REFUSED_ACME_ALL };

static void log_refused(struct srv_thread *t, const struct sockaddr *sa, enum refusal why)
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
    if (why == REFUSED_PENALTY)
        log_event(LOG_WARN, "conn.refused",
                  "addr=%s reason=penalty refused=%llu note=\"it broke an HTTP/2 limit "
                  "recently\"",
                  ip, (unsigned long long)refused);
    else if (why != REFUSED_PER_ADDRESS)
        log_event(LOG_WARN, "conn.refused",
                  "addr=%s reason=%s limit=%d listener=acme refused=%llu note=\"the port-80 "
                  "listener only answers ACME http-01 validations\"",
                  ip, why == REFUSED_ACME_ALL ? "acme_connections" : "acme_conn_per_address",
                  why == REFUSED_ACME_ALL ? ACME_CONNS_MAX : ACME_CONN_PER_ADDRESS,
                  (unsigned long long)refused);
    else
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
    int admin = actx == &t->accept_admin, acme = actx == &t->accept_acme;
    if (err != NULL)
        return;
    for (int i = 0; i < ACCEPT_BATCH && !t->stopping; i++) {
        /* reserve the slot first, so that threads accepting at once never pass the cap */
        if (!admin && atomic_fetch_add(&conns_open, 1) >= conns_max) {
            atomic_fetch_sub(&conns_open, 1);
            accept_pause(t, 1);
            break;
        }
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (sock == NULL) {
            int e = errno;
            if (!admin)
                atomic_fetch_sub(&conns_open, 1);
            if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
                errno = e;
                accept_pause(t, 2); /* the backlog stays readable: do not spin on it */
            }
            break;
        }
        void *tok = &admin_token;
        if (!admin) {
            tok = &srv__conns_exempt_token;
            struct sockaddr_storage ss;
            ss.ss_family = AF_UNSPEC; /* log_refused prints "?" when getpeername fails */
            socklen_t sl = h2o_socket_getpeername(sock, (struct sockaddr *)&ss);
            enum refusal why = REFUSED_PER_ADDRESS;
            if (acme && atomic_fetch_add(&acme_open, 1) >= ACME_CONNS_MAX) {
                tok = NULL;
                why = REFUSED_ACME_ALL;
            } else if (sl > 0 && srv__conns_penalized((struct sockaddr *)&ss, h2o_now(t->loop))) {
                tok = NULL;
                why = REFUSED_PENALTY;
            } else if (sl > 0) {
                int max = t->srv->cfg->max_conn_per_address;
                if (acme && (max <= 0 || max > ACME_CONN_PER_ADDRESS)) {
                    max = ACME_CONN_PER_ADDRESS;
                    why = REFUSED_ACME_PER_ADDRESS;
                }
                tok = srv__conns_acquire_max(t->srv, (struct sockaddr *)&ss, max);
            }
            if (tok == NULL) {
                atomic_fetch_sub(&conns_open, 1);
                if (acme)
                    atomic_fetch_sub(&acme_open, 1);
                log_refused(t, (struct sockaddr *)&ss, why);
                h2o_socket_close(sock);
                continue;
            }
        }
        t->n_conns++;
        struct conn *c = xcalloc(1, sizeof(*c));
        c->token = tok;
        c->acme = acme;
        sock->on_close.cb = on_sock_close;
        sock->on_close.data = c;
        h2o_accept(actx, sock);
    }
}

void srv__acme_conf_init(struct srv *s)
{
    h2o_config_init(&s->globalconf_acme);
    s->globalconf_acme.server_name = h2o_iovec_init(H2O_STRLIT("stsd"));
    s->globalconf_acme.max_request_entity_size = 0;
    s->host_acme = h2o_config_register_host(&s->globalconf_acme,
                                            h2o_iovec_init(H2O_STRLIT("stsd-acme")), 65535);
    s->hosts_acme[0] = s->host_acme;
}

void srv__listeners_start(struct srv_thread *t)
{
    struct srv *s = t->srv;
    if (s->host_acme != NULL) {
        h2o_context_init(&t->ctx_acme, t->loop, &s->globalconf_acme);
        t->accept_acme.ctx = &t->ctx_acme;
    }
    t->socks = xcalloc(s->n_listeners + 1, sizeof(*t->socks));
    memset(&acc, 0, sizeof(acc));
    h2o_timeout_init(t->loop, &acc.retry, ACCEPT_RETRY_MS);
    acc.entry.cb = on_accept_retry;
    for (size_t i = 0; i < s->n_listeners; i++) {
        struct srv_listener *l = &s->listeners[i];
        int fd = l->fds[t->idx];
        l->fds[t->idx] = -1; /* owned by this thread's h2o socket now */
        h2o_socket_t *sock = h2o_evloop_socket_create(t->loop, fd, H2O_SOCKET_FLAG_DONT_READ);
        sock->data = l->admin == SRV_LISTEN_ADMIN  ? &t->accept_admin
                     : l->admin == SRV_LISTEN_ACME ? &t->accept_acme
                                                   : &t->accept_public;
        h2o_socket_read_start(sock, on_accept);
        t->socks[i] = sock;
    }
}

void srv__listeners_stop(struct srv_thread *t)
{
    if (t->srv->host_acme != NULL) { /* as begin_stop does for the other listeners */
        h2o_context_request_shutdown(&t->ctx_acme);
        t->ctx_acme.http1.req_timeout.timeout = 100;
    }
    if (t->socks == NULL)
        return;
    if (h2o_timeout_is_linked(&acc.entry))
        h2o_timeout_unlink(&acc.entry);
    h2o_timeout_dispose(t->loop, &acc.retry);
    for (size_t i = 0; i < t->srv->n_listeners; i++) {
        if (t->socks[i] != NULL) {
            if (h2o_socket_is_reading(t->socks[i]))
                h2o_socket_read_stop(t->socks[i]);
            h2o_socket_close(t->socks[i]);
            t->socks[i] = NULL;
        }
    }
    free(t->socks);
    t->socks = NULL;
}

void srv__listeners_dispose(struct srv_thread *t)
{
    if (t->srv->host_acme == NULL)
        return;
    if (h2o_timeout_is_linked(&t->ctx_acme.http2._graceful_shutdown_timeout))
        h2o_timeout_unlink(&t->ctx_acme.http2._graceful_shutdown_timeout);
    h2o_context_dispose(&t->ctx_acme);
}
