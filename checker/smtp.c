/* smtp.c - the STARTTLS probe (RFC 3207) as an explicit state machine over non-blocking
 * sockets, CONNECT -> BANNER -> EHLO -> STARTTLS -> HANDSHAKE -> VERIFY -> QUIT, with a
 * timeout per step; many probes run at once from the check's poll loop. */
#include "checker/checker_int.h"
#include "common/common.h"

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

struct check__probe {
    struct check__run *run;
    struct check_mx *mx;
    struct check_addr *a;
    enum smtp_step step;
    int fd;
    SSL *ssl;
    short events; /* CURL_WAIT_POLLIN / CURL_WAIT_POLLOUT */
    int slot;     /* index into the fds array of this loop turn, -1 when none */
    int active, finished, got_bytes;
    int64_t started, step_deadline;
    struct smtp_reply reply;
    char in[CHECK_SMTP_LINE_MAX + 2];
    size_t in_len;
    char out[320];
    size_t out_len, out_off;
    /* The same (host, address) for other domains of the run: they get a copy of the result. */
    struct check_addr **followers;
    size_t n_followers;
};

static const char *const step_names[] = {"connect",       "banner", "EHLO", "STARTTLS",
                                         "TLS handshake", "verify", "QUIT", "done"};

/* Record every chain error and go on: the probe reports, it does not refuse. */
static int verify_cb(int ok, X509_STORE_CTX *sctx)
{
    if (ok)
        return 1;
    SSL *ssl = X509_STORE_CTX_get_ex_data(sctx, SSL_get_ex_data_X509_STORE_CTX_idx());
    struct check__probe *p = ssl ? SSL_get_app_data(ssl) : NULL;
    if (p == NULL)
        return 1;
    int e = X509_STORE_CTX_get_error(sctx);
    int depth = X509_STORE_CTX_get_error_depth(sctx);
    if (e == X509_V_ERR_CERT_HAS_EXPIRED)
        p->a->err_expired = 1;
    else if (e == X509_V_ERR_CERT_NOT_YET_VALID)
        p->a->err_not_yet_valid = 1;
    else
        p->a->err_untrusted = 1;
    if (p->a->verify_error[0] == '\0')
        snprintf(p->a->verify_error, sizeof(p->a->verify_error), "%s (depth %d)",
                 X509_verify_cert_error_string(e), depth);
    return 1;
}

SSL_CTX *check__tls_ctx_new(const char *ca_file, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        snprintf(err, errlen, "cannot create a TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION);
    SSL_CTX_set_security_level(ctx, 0);
    SSL_CTX_set_cipher_list(ctx, "ALL:!aNULL:!eNULL:@SECLEVEL=0");
    SSL_CTX_set_options(ctx, SSL_OP_LEGACY_SERVER_CONNECT | SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_cb);
    int ok = ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL)
                     : SSL_CTX_set_default_verify_paths(ctx);
    if (ok != 1) {
        snprintf(err, errlen, "cannot load trust anchors from %s",
                 ca_file ? ca_file : "the system store");
        SSL_CTX_free(ctx);
        ERR_clear_error();
        return NULL;
    }
    return ctx;
}

static void probe_start(struct check__probe *p);

static void probe_finish(struct check__probe *p)
{
    struct check__run *run = p->run;
    if (p->ssl != NULL) {
        SSL_free(p->ssl);
        p->ssl = NULL;
    }
    if (p->fd >= 0) {
        close(p->fd);
        p->fd = -1;
    }
    ERR_clear_error();
    p->finished = 1;
    p->active = 0;
    p->step = SMTP_DONE;
    p->a->probed = 1;
    p->a->ms = check__now_ms() - p->started;
    for (size_t i = 0; i < p->n_followers; i++)
        *p->followers[i] = *p->a;
    log_event(LOG_DEBUG, "check.probe", "host=%s ip=%s ms=%lld step=%d", p->mx->host, p->a->ip,
              (long long)p->a->ms, (int)p->a->failed_step);
    run->n_active--;
    while (run->n_started < run->n_probes && run->n_active < CHECK_MAX_CONNS)
        probe_start(run->probes[run->n_started++]);
}

static void probe_fail(struct check__probe *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void probe_fail(struct check__probe *p, const char *fmt, ...)
{
    va_list ap;
    char msg[200];
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    p->a->failed_step = p->step;
    snprintf(p->a->error, sizeof(p->a->error), "%s: %s", step_names[p->step], msg);
    /* Be polite on the way out of a plain-text session. */
    if (p->fd >= 0 && p->ssl == NULL && p->step > SMTP_BANNER && p->step < SMTP_HANDSHAKE) {
        ssize_t w = send(p->fd, "QUIT\r\n", 6, MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)w;
    }
    probe_finish(p);
}

static void set_step(struct check__probe *p, enum smtp_step s)
{
    p->step = s;
    p->step_deadline = check__now_ms() + p->run->step_ms;
    memset(&p->reply, 0, sizeof(p->reply));
}

static void send_line(struct check__probe *p, const char *line)
{
    p->out_len = (size_t)snprintf(p->out, sizeof(p->out), "%s\r\n", line);
    if (p->out_len >= sizeof(p->out))
        p->out_len = sizeof(p->out) - 1;
    p->out_off = 0;
}

/* Write what is pending; 0 when all is written, 1 when it must wait, -1 on error. */
static int flush_out(struct check__probe *p)
{
    while (p->out_off < p->out_len) {
        ssize_t w = send(p->fd, p->out + p->out_off, p->out_len - p->out_off, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return 1;
            return -1;
        }
        p->out_off += (size_t)w;
    }
    return 0;
}

static void do_handshake(struct check__probe *p);

static void tls_begin(struct check__probe *p)
{
    p->a->starttls = 1;
    /* Bytes after the 220 were sent before TLS: RFC 3207 §4.2 says to discard them. */
    p->in_len = 0;
    set_step(p, SMTP_HANDSHAKE);
    p->ssl = SSL_new(p->run->ssl);
    SSL_set_app_data(p->ssl, p);
    /* SNI = the MX host name (RFC 8461 §4.2 checks the certificate against it). */
    SSL_set_tlsext_host_name(p->ssl, p->mx->host);
    SSL_set_fd(p->ssl, p->fd);
    do_handshake(p);
}

static int64_t asn1_time_unix(const ASN1_TIME *t)
{
    struct tm tm;
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
        return 0;
    return (int64_t)timegm(&tm);
}

static void verify(struct check__probe *p)
{
    struct check_addr *a = p->a;
    set_step(p, SMTP_VERIFY);
    a->handshake = 1;
    a->tls_version = SSL_version(p->ssl);
    snprintf(a->tls_version_name, sizeof(a->tls_version_name), "%s", SSL_get_version(p->ssl));
    const char *cipher = SSL_get_cipher_name(p->ssl);
    snprintf(a->cipher, sizeof(a->cipher), "%s", cipher ? cipher : "");
    X509 *cert = SSL_get1_peer_certificate(p->ssl);
    if (cert == NULL) {
        a->err_untrusted = 1;
        snprintf(a->verify_error, sizeof(a->verify_error), "no certificate presented");
    } else {
        a->have_cert = 1;
        a->not_before = asn1_time_unix(X509_get0_notBefore(cert));
        a->not_after = asn1_time_unix(X509_get0_notAfter(cert));
        /* RFC 8461 §4.2: SAN dNSName only, a wildcard only as the whole left-most label. */
        a->name_match = X509_check_host(cert, p->mx->host, 0,
                                        X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS |
                                            X509_CHECK_FLAG_NEVER_CHECK_SUBJECT,
                                        NULL) == 1;
        X509_free(cert);
    }
    a->verified = !a->err_expired && !a->err_not_yet_valid && !a->err_untrusted;
    /* QUIT inside TLS, close_notify, and done: the answer would tell nothing more. */
    set_step(p, SMTP_QUIT);
    SSL_write(p->ssl, "QUIT\r\n", 6);
    SSL_shutdown(p->ssl);
    probe_finish(p);
}

static void do_handshake(struct check__probe *p)
{
    ERR_clear_error();
    int rc = SSL_connect(p->ssl);
    if (rc == 1) {
        verify(p);
        return;
    }
    int e = SSL_get_error(p->ssl, rc);
    if (e == SSL_ERROR_WANT_READ) {
        p->events = CURL_WAIT_POLLIN;
        return;
    }
    if (e == SSL_ERROR_WANT_WRITE) {
        p->events = CURL_WAIT_POLLOUT;
        return;
    }
    unsigned long le = ERR_peek_error();
    char buf[160];
    if (le != 0)
        ERR_error_string_n(le, buf, sizeof(buf));
    else if (e == SSL_ERROR_SYSCALL)
        snprintf(buf, sizeof(buf), "connection closed by the server");
    else
        snprintf(buf, sizeof(buf), "TLS error %d", e);
    probe_fail(p, "%s", buf);
}

static void on_reply(struct check__probe *p)
{
    struct smtp_reply *r = &p->reply;
    switch (p->step) {
    case SMTP_BANNER:
        p->a->banner_ms = check__now_ms() - p->started;
        if (r->code != 220) {
            probe_fail(p, "the server refused the session: %d %s", r->code, r->text);
            return;
        }
        set_step(p, SMTP_EHLO);
        {
            char line[300];
            snprintf(line, sizeof(line), "EHLO %s", p->run->ehlo);
            send_line(p, line);
        }
        break;
    case SMTP_EHLO:
        if (r->code != 250) {
            probe_fail(p, "EHLO refused: %d %s", r->code, r->text);
            return;
        }
        if (!r->starttls) {
            probe_fail(p, "STARTTLS is not offered in the EHLO reply");
            return;
        }
        set_step(p, SMTP_STARTTLS);
        send_line(p, "STARTTLS");
        break;
    case SMTP_STARTTLS:
        if (r->code != 220) {
            probe_fail(p, "STARTTLS refused: %d %s", r->code, r->text);
            return;
        }
        tls_begin(p);
        return;
    default:
        return;
    }
    int f = flush_out(p);
    if (f < 0)
        probe_fail(p, "send: %s", strerror(errno));
    else
        p->events = f ? CURL_WAIT_POLLOUT : CURL_WAIT_POLLIN;
}

static void on_readable(struct check__probe *p)
{
    for (;;) {
        size_t room = sizeof(p->in) - p->in_len;
        if (room > 0) {
            ssize_t n = recv(p->fd, p->in + p->in_len, room, 0);
            if (n == 0) {
                if (p->step == SMTP_BANNER && !p->got_bytes)
                    p->a->reachable = 0;
                probe_fail(p, "connection closed by the server");
                return;
            }
            if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                    return;
                if (errno == EINTR)
                    continue;
                probe_fail(p, "recv: %s", strerror(errno));
                return;
            }
            p->got_bytes = 1;
            p->a->reachable = 1;
            p->in_len += (size_t)n;
        }
        size_t used;
        int rc =
            check__smtp_reply_feed(&p->reply, p->in, p->in_len, &used, p->in_len == sizeof(p->in));
        if (used > 0) {
            memmove(p->in, p->in + used, p->in_len - used);
            p->in_len -= used;
        }
        if (rc < 0) {
            probe_fail(p, "malformed or oversized reply (more than %d lines or %d bytes a line)",
                       CHECK_SMTP_MAX_LINES, CHECK_SMTP_LINE_MAX);
            return;
        }
        if (rc == 1) {
            on_reply(p);
            return;
        }
    }
}

static void on_event(struct check__probe *p, short revents)
{
    switch (p->step) {
    case SMTP_CONNECT: {
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
            err = errno;
        if (err != 0) {
            probe_fail(p, "%s", strerror(err));
            return;
        }
        set_step(p, SMTP_BANNER);
        p->events = CURL_WAIT_POLLIN;
        return;
    }
    case SMTP_BANNER:
    case SMTP_EHLO:
    case SMTP_STARTTLS:
        if (p->out_off < p->out_len) {
            int f = flush_out(p);
            if (f < 0) {
                probe_fail(p, "send: %s", strerror(errno));
                return;
            }
            p->events = f ? CURL_WAIT_POLLOUT : CURL_WAIT_POLLIN;
            if (f)
                return;
        }
        if (revents & CURL_WAIT_POLLIN)
            on_readable(p);
        return;
    case SMTP_HANDSHAKE:
        do_handshake(p);
        return;
    default:
        return;
    }
}

static void probe_start(struct check__probe *p)
{
    struct check__run *run = p->run;
    struct check_addr *a = p->a;
    run->n_active++;
    p->active = 1;
    p->started = check__now_ms();
    set_step(p, SMTP_CONNECT);
    /* a->ip was written by inet_ntop from an answer of a->family: it always parses. */
    struct sockaddr_storage sa;
    socklen_t salen = check__sockaddr(&sa, a->family, a->ip, run->smtp_port);
    p->fd = socket(a->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (p->fd < 0) {
        probe_fail(p, "socket: %s", strerror(errno));
        return;
    }
    if (connect(p->fd, (struct sockaddr *)&sa, salen) == 0) {
        set_step(p, SMTP_BANNER);
        p->events = CURL_WAIT_POLLIN;
        return;
    }
    if (errno != EINPROGRESS) {
        probe_fail(p, "%s", strerror(errno));
        return;
    }
    p->events = CURL_WAIT_POLLOUT;
}

static uint64_t probe_hash(const char *host, const char *ip)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (const char *c = host; *c; c++)
        h = (h ^ (unsigned char)*c) * 1099511628211ull;
    h = (h ^ '[') * 1099511628211ull;
    for (const char *c = ip; *c; c++)
        h = (h ^ (unsigned char)*c) * 1099511628211ull;
    return h;
}

/* The slot of (host, ip) in the probe table: its probe, or the empty slot to put it in. */
static struct check__probe **probe_slot(struct check__run *run, const char *host, const char *ip)
{
    size_t mask = run->ptab_cap - 1;
    for (size_t i = (size_t)probe_hash(host, ip) & mask;; i = (i + 1) & mask) {
        struct check__probe *q = run->ptab[i];
        if (q == NULL || (strcmp(q->mx->host, host) == 0 && strcmp(q->a->ip, ip) == 0))
            return &run->ptab[i];
    }
}

static void probe_index(struct check__run *run, struct check__probe *p)
{
    if (2 * (run->ptab_n + 1) > run->ptab_cap) {
        struct check__probe **old = run->ptab;
        size_t old_cap = run->ptab_cap;
        run->ptab_cap = old_cap ? 2 * old_cap : 64;
        run->ptab = xcalloc(run->ptab_cap, sizeof(*run->ptab));
        for (size_t i = 0; i < old_cap; i++)
            if (old[i] != NULL)
                *probe_slot(run, old[i]->mx->host, old[i]->a->ip) = old[i];
        free(old);
    }
    *probe_slot(run, p->mx->host, p->a->ip) = p;
    run->ptab_n++;
}

void check__probe_add(struct check__run *run, struct check_mx *mx, struct check_addr *addr)
{
    if (run->ptab_cap > 0) {
        struct check__probe *prim = *probe_slot(run, mx->host, addr->ip);
        if (prim != NULL) {
            if (prim->finished) {
                *addr = *prim->a;
            } else {
                prim->followers =
                    xrealloc(prim->followers, (prim->n_followers + 1) * sizeof(*prim->followers));
                prim->followers[prim->n_followers++] = addr;
            }
            return;
        }
    }
    struct check__probe *p = xcalloc(1, sizeof(*p));
    p->run = run;
    p->mx = mx;
    p->a = addr;
    p->fd = -1;
    p->slot = -1;
    if (run->n_probes == run->cap_probes) {
        run->cap_probes = run->cap_probes ? 2 * run->cap_probes : 16;
        run->probes = xrealloc(run->probes, run->cap_probes * sizeof(*run->probes));
    }
    run->probes[run->n_probes++] = p;
    probe_index(run, p);
    while (run->n_started < run->n_probes && run->n_active < CHECK_MAX_CONNS)
        probe_start(run->probes[run->n_started++]);
}

size_t check__probe_fds(struct check__run *run, struct curl_waitfd *fds, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < run->n_started; i++) {
        struct check__probe *p = run->probes[i];
        p->slot = -1;
        if (!p->active || p->fd < 0 || n >= cap)
            continue;
        p->slot = (int)n;
        fds[n].fd = p->fd;
        fds[n].events = p->events;
        fds[n].revents = 0;
        n++;
    }
    return n;
}

void check__probe_events(struct check__run *run, const struct curl_waitfd *fds, size_t n,
                         int64_t now)
{
    /* Only the probes that were given a slot this turn; finishing one may start others. */
    size_t started = run->n_started;
    for (size_t i = 0; i < started; i++) {
        struct check__probe *p = run->probes[i];
        if (!p->active)
            continue;
        if (p->slot >= 0 && (size_t)p->slot < n && fds[p->slot].revents != 0) {
            short revents = fds[p->slot].revents;
            p->slot = -1;
            on_event(p, revents);
        }
    }
    for (size_t i = 0; i < started; i++) {
        struct check__probe *p = run->probes[i];
        if (!p->active || now < p->step_deadline)
            continue;
        p->a->timed_out = 1;
        if (p->step == SMTP_CONNECT || (p->step == SMTP_BANNER && !p->got_bytes))
            p->a->reachable = 0;
        probe_fail(p, "no answer within %lld s", (long long)(run->step_ms / 1000));
    }
}

int64_t check__probe_next_deadline(const struct check__run *run)
{
    int64_t next = INT64_MAX;
    for (size_t i = 0; i < run->n_started; i++) {
        const struct check__probe *p = run->probes[i];
        if (p->active && p->step_deadline < next)
            next = p->step_deadline;
    }
    return next;
}

void check__probe_free_all(struct check__run *run)
{
    for (size_t i = 0; i < run->n_probes; i++) {
        struct check__probe *p = run->probes[i];
        if (p->ssl != NULL)
            SSL_free(p->ssl);
        if (p->fd >= 0)
            close(p->fd);
        free(p->followers);
        free(p);
    }
    free(run->probes);
    free(run->ptab);
    run->ptab = NULL;
    run->ptab_cap = run->ptab_n = 0;
    run->probes = NULL;
    run->n_probes = run->n_started = run->n_active = run->cap_probes = 0;
}
