/* server.c - `stsd serve`: loop threads, the control thread (signals, inotify, reloads), stop. */
#include "server/server_int.h"
#include "server/acme_int.h"
#include "common/common.h"
#include "hosted/hosted.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DRAIN_MS 10000       /* longest graceful stop before giving up on open connections */
#define DEBOUNCE_MS 200      /* a reload runs this long after the last change in a directory */
#define DEBOUNCE_MAX_MS 2000 /* ... but no later than this after the first one */
#define MAX_THREADS 256

enum { RELOAD_POLICIES = SRV_RELOAD_POLICIES, RELOAD_CERTS = SRV_RELOAD_CERTS };
enum { MSG_SWAP = 1, MSG_STOP = 2 };

/* The modules `stsd serve` runs besides policy hosting; see server_int.h. */
const struct srv_module *const srv__modules[] = {
    &srv_report_module,
    &srv_admin_module,
    &srv_acme_module,
    &srv_mail_module,
    NULL,
};

static __thread struct srv_thread *cur_thread;

struct srv_thread *srv_current(void)
{
    return cur_thread;
}

h2o_pathconf_t *srv_public_path(struct srv *s, const char *path)
{
    return h2o_config_register_path(s->host_public, path, 0);
}

h2o_pathconf_t *srv_admin_path(struct srv *s, const char *path)
{
    return h2o_config_register_path(s->host_admin, path, 0);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- loop threads ---- */

static void begin_stop(struct srv_thread *t)
{
    if (t->stopping)
        return;
    t->stopping = 1;
    srv__listeners_stop(t);
    /* HTTP/2 connections get GOAWAY; idle HTTP/1 keep-alive connections are closed by
     * shortening their request timeout (it only runs while waiting for a request, so a
     * request being answered is not cut short). */
    h2o_context_request_shutdown(&t->ctx);
    t->ctx.http1.req_timeout.timeout = 100;
    for (int i = 0; srv__modules[i] != NULL; i++)
        if (srv__modules[i]->thread_stopping)
            srv__modules[i]->thread_stopping(t, i);
    t->stop_deadline = h2o_now(t->loop) + DRAIN_MS;
}

static void on_ctl(h2o_multithread_receiver_t *r, h2o_linklist_t *messages)
{
    struct srv_thread *t = H2O_STRUCT_FROM_MEMBER(struct srv_thread, ctl, r);
    while (!h2o_linklist_is_empty(messages)) {
        struct srv_ctl_msg *m =
            H2O_STRUCT_FROM_MEMBER(struct srv_ctl_msg, super.link, messages->next);
        h2o_linklist_unlink(&m->super.link);
        if (m->kind == MSG_SWAP) {
            /* Nothing of the old snapshot is in use between callbacks: acknowledge. */
            t->snap = atomic_load(&t->srv->current);
            atomic_fetch_sub(&t->srv->pending_acks, 1);
        } else if (m->kind == MSG_STOP) {
            begin_stop(t);
        }
    }
}

static void *thread_main(void *arg)
{
    struct srv_thread *t = arg;
    struct srv *s = t->srv;
    cur_thread = t;
    t->loop = h2o_evloop_create();
    h2o_context_init(&t->ctx, t->loop, &s->globalconf);
    t->accept_public.ctx = &t->ctx;
    t->accept_public.hosts = s->hosts_public;
    t->accept_public.ssl_ctx = s->ssl_ctx;
    t->accept_admin.ctx = &t->ctx;
    t->accept_admin.hosts = s->hosts_admin;
    t->accept_acme.ctx = &t->ctx;
    t->accept_acme.hosts = s->hosts_acme;
    t->snap = atomic_load(&s->current);
    t->msg_swap.kind = MSG_SWAP;
    t->msg_stop.kind = MSG_STOP;
    h2o_multithread_register_receiver(t->ctx.queue, &t->ctl, on_ctl);
    for (int i = 0; srv__modules[i] != NULL; i++)
        if (srv__modules[i]->thread_start)
            srv__modules[i]->thread_start(t, i);
    srv__listeners_start(t);
    atomic_fetch_add(&s->threads_running, 1);

    while (!t->stopping || (t->n_conns > 0 && h2o_now(t->loop) < t->stop_deadline))
        h2o_evloop_run(t->loop, t->stopping ? 50 : INT32_MAX);

    for (int i = 0; srv__modules[i] != NULL; i++)
        if (srv__modules[i]->thread_stop)
            srv__modules[i]->thread_stop(t, i);
    h2o_multithread_unregister_receiver(t->ctx.queue, &t->ctl);
    if (t->n_conns == 0) {
        /* With connections still open (the drain timed out) the context stays: the
         * process is about to exit. */
        /* h2o_context_request_shutdown armed the GOAWAY resend timer; nothing needs it now */
        if (h2o_timeout_is_linked(&t->ctx.http2._graceful_shutdown_timeout))
            h2o_timeout_unlink(&t->ctx.http2._graceful_shutdown_timeout);
        h2o_context_dispose(&t->ctx);
        srv__listeners_dispose(t);
        h2o_evloop_destroy(t->loop);
    } else {
        log_event(LOG_WARN, "serve.drain_timeout", "thread=%d open_connections=%zu", t->idx,
                  t->n_conns);
    }
    cur_thread = NULL;
    atomic_fetch_sub(&s->threads_running, 1);
    return NULL;
}

/* ---- snapshots ---- */

/* Threads other than the loop threads read the current snapshot under this lock; the control
 * thread takes it for writing after publishing a new snapshot and before releasing the old
 * one, so that none of them still reads the old one. */
static pthread_rwlock_t snap_readers = PTHREAD_RWLOCK_INITIALIZER;

int srv_domain_hosted(struct srv *s, const char *domain)
{
    pthread_rwlock_rdlock(&snap_readers);
    const struct srv_snapshot *sn = atomic_load(&s->current);
    int r = sn != NULL && sn->policies != NULL &&
            srv_policy_lookup(sn->policies, domain, strlen(domain)) != NULL;
    pthread_rwlock_unlock(&snap_readers);
    return r;
}

static void snapshot_release(struct srv_snapshot *sn)
{
    if (sn == NULL)
        return;
    if (sn->policies != NULL && --sn->policies->refs == 0)
        srv__policies_free(sn->policies);
    if (sn->certs != NULL && --sn->certs->refs == 0)
        srv__certs_free(sn->certs);
    free(sn);
}

/* Publish sn and wait until every loop thread has switched to it. */
static void snapshot_publish(struct srv *s, struct srv_snapshot *sn, int started)
{
    if (!started) {
        atomic_store(&s->current, sn);
        return;
    }
    atomic_store(&s->pending_acks, s->n_threads);
    atomic_store(&s->current, sn);
    for (int i = 0; i < s->n_threads; i++)
        h2o_multithread_send_message(&s->threads[i].ctl, &s->threads[i].msg_swap.super);
    uint64_t t0 = now_ms();
    int warned = 0;
    while (atomic_load(&s->pending_acks) > 0) {
        sleep_ms(1);
        if (!warned && now_ms() - t0 > 5000) {
            log_event(LOG_WARN, "policy.swap_slow", "waiting_threads=%d",
                      atomic_load(&s->pending_acks));
            warned = 1;
        }
    }
}

/* The database of the control thread's handle, opened on first need (after the privilege
 * drop): without it the policies are served without ids. */
static void open_db(struct srv *s)
{
    char err[512], q[600];
    if (hosted_db(s->hosted, err, sizeof(err)) == NULL)
        log_event(LOG_WARN, "db.open",
                  "path=%s error=%s note=\"policy ids are not "
                  "recorded until the database opens\"",
                  s->db_path, log_quote(q, sizeof(q), err));
}

static void reload(struct srv *s, int what, int started, const char *why)
{
    uint64_t t0 = now_ms();
    struct srv_snapshot *old = (struct srv_snapshot *)atomic_load(&s->current);
    struct srv_snapshot *sn = xcalloc(1, sizeof(*sn));
    sn->generation = old ? old->generation + 1 : 1;
    if ((what & RELOAD_POLICIES) || old == NULL) {
        open_db(s);
        sn->policies = srv__policies_build(s->hosted, old ? old->policies : NULL);
    }
    if (sn->policies == NULL) /* not asked to reload, or the directory is unreadable */
        sn->policies = old->policies;
    sn->policies->refs++;
    uint64_t t1 = now_ms();
    if (s->first_certs != NULL) { /* read at start, before the privilege drop */
        sn->certs = s->first_certs;
        s->first_certs = NULL;
    } else if ((what & RELOAD_CERTS) || old == NULL) {
        sn->certs = srv__certs_build(hosted_cert_dir(s->hosted), old ? old->certs : NULL);
    }
    if (sn->certs == NULL)
        sn->certs = old->certs;
    sn->certs->refs++;
    uint64_t t2 = now_ms();
    snapshot_publish(s, sn, started);
    /* a domain added now gets its certificate without waiting; a certificate replaced or
     * removed is looked at soon */
    srv__acme_kick(((what & RELOAD_POLICIES) ? SRV_ACME_KICK_POLICIES : 0) |
                   ((what & RELOAD_CERTS) ? SRV_ACME_KICK_CERTS : 0));
    pthread_rwlock_wrlock(&snap_readers); /* readers off the loops are done with `old` */
    pthread_rwlock_unlock(&snap_readers);
    snapshot_release(old);
    size_t stale = 0;
    for (size_t i = 0; i < sn->policies->n; i++)
        stale += (size_t)sn->policies->items[i].stale;
    srv_metrics_count_reload(1);
    srv_metrics_set_policies((int64_t)sn->policies->n, (int64_t)sn->policies->n_invalid);
    log_event(LOG_INFO, "policy.reload",
              "why=%s domains=%zu invalid=%zu stale=%zu certs=%zu cert_names=%zu "
              "default_cert=%s generation=%llu policies_ms=%llu certs_ms=%llu ms=%llu",
              why, sn->policies->n, sn->policies->n_invalid, stale, sn->certs->n,
              sn->certs->n_names, sn->certs->default_cert >= 0 ? "yes" : "no",
              (unsigned long long)sn->generation, (unsigned long long)(t1 - t0),
              (unsigned long long)(t2 - t1), (unsigned long long)(now_ms() - t0));
}

/* ---- start-up ---- */

static void log_ready(struct srv *s)
{
    char buf[1024] = "";
    size_t o = 0;
    for (size_t i = 0; i < s->n_listeners && o < sizeof(buf) - 1; i++)
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%s%s", i ? "," : "",
                              s->listeners[i].admin == SRV_LISTEN_ADMIN  ? "admin="
                              : s->listeners[i].admin == SRV_LISTEN_ACME ? "acme="
                                                                         : "",
                              s->listeners[i].addr);
    const struct srv_snapshot *sn = atomic_load(&s->current);
    log_event(LOG_INFO, "serve.ready", "listen=%s threads=%d domains=%zu certs=%zu", buf,
              s->n_threads, sn->policies->n, sn->certs->n);
}

/* The port-80 listener for http-01 runs when ACME is on with that challenge. */
static int acme_http(const struct stsd_config *cfg)
{
    return cfg->acme_directory != NULL && cfg->acme_directory[0] != '\0' &&
           cfg->acme_challenge == 0 && cfg->acme_http_listen != NULL;
}

static void setup_h2o(struct srv *s)
{
    const struct stsd_config *cfg = s->cfg;
    h2o_config_init(&s->globalconf);
    s->globalconf.server_name = h2o_iovec_init(H2O_STRLIT("stsd"));
    s->globalconf.max_request_entity_size = (size_t)cfg->max_body;
    s->globalconf.http2.graceful_shutdown_timeout = DRAIN_MS / 2;
    s->host_public =
        h2o_config_register_host(&s->globalconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    s->host_admin =
        h2o_config_register_host(&s->globalconf, h2o_iovec_init(H2O_STRLIT("stsd-admin")), 65535);
    s->hosts_public[0] = s->host_public;
    s->hosts_admin[0] = s->host_admin;
    if (acme_http(cfg))
        srv__acme_conf_init(s);
}

/* Opened before the privilege drop, like the listening sockets. */
static void open_access_log(struct srv *s)
{
    if (s->cfg->access_log != NULL) {
        const char *path =
            strcmp(s->cfg->access_log, "-") == 0 ? "/dev/stderr" : s->cfg->access_log;
        s->access_log = h2o_access_log_open_handle(path, NULL, H2O_LOGCONF_ESCAPE_APACHE);
    }
}

static void register_catch_all(struct srv *s)
{
    /* Registered after the modules' paths: h2o takes the first matching path. */
    srv__policy_register(s, h2o_config_register_path(s->host_public, "/", 0));
    srv__notfound_register(h2o_config_register_path(s->host_admin, "/", 0));
    if (s->host_acme != NULL)
        srv__acme_http_register(h2o_config_register_path(s->host_acme, "/", 0));
    if (s->access_log != NULL)
        for (size_t i = 0; i < s->host_public->paths.size; i++)
            h2o_access_log_register(&s->host_public->paths.entries[i], s->access_log);
}

/* Everything that needs the starting user's rights: the modules' secrets and the
 * certificates are read, the access log opened; then [server] user takes over for good. */
static int read_secrets_and_drop(struct srv *s, char *err, size_t errlen)
{
    char q[600];
    for (int i = 0; srv__modules[i] != NULL; i++) {
        if (srv__modules[i]->secrets && srv__modules[i]->secrets(s, i, err, errlen) != 0) {
            log_event(LOG_ERROR, "serve.module", "module=%s error=%s", srv__modules[i]->name,
                      log_quote(q, sizeof(q), err));
            return -1;
        }
    }
    s->first_certs = srv__certs_build(hosted_cert_dir(s->hosted), NULL);
    open_access_log(s);
    if (srv__priv_drop(err, errlen) != 0 ||
        srv__priv_check_state(s->cfg->state_dir, s->db_path, err, errlen) != 0) {
        log_event(LOG_ERROR, "serve.privileges", "error=%s", log_quote(q, sizeof(q), err));
        return -1;
    }
    return 0;
}

static int open_listeners(struct srv *s)
{
    const struct stsd_config *cfg = s->cfg;
    int admin = cfg->admin_listen != NULL && strcmp(cfg->admin_listen, "off") != 0;
    int acme = acme_http(cfg);
    s->listeners = xcalloc(cfg->n_listen + 2, sizeof(*s->listeners));
    char err[512], q[600];
    for (size_t i = 0; i < cfg->n_listen + (size_t)admin + (size_t)acme; i++) {
        int kind = i < cfg->n_listen             ? SRV_LISTEN_PUBLIC
                   : i == cfg->n_listen && admin ? SRV_LISTEN_ADMIN
                                                 : SRV_LISTEN_ACME;
        const char *addr = kind == SRV_LISTEN_ADMIN  ? cfg->admin_listen
                           : kind == SRV_LISTEN_ACME ? cfg->acme_http_listen
                                                     : cfg->listen[i];
        if (srv__listener_open(&s->listeners[s->n_listeners++], addr, kind, s->n_threads, err,
                               sizeof(err)) != 0) {
            log_event(LOG_ERROR, "serve.listen", "error=%s config=%s", log_quote(q, sizeof(q), err),
                      cfg->file ? cfg->file : "(defaults)");
            return -1;
        }
    }
    return 0;
}

static void block_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGHUP);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    pthread_sigmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* ---- the control thread ---- */

#define EXPIRE_EVERY_MS 5000 /* how often ended withdrawals are looked for (one indexed query) */

/* Run until SIGTERM/SIGINT: signals, inotify with debounce, reloads, withdrawals. */
static void control_loop(struct srv *s, int sfd, int ifd, int wd_pol, int wd_cert)
{
    uint64_t next_expire = now_ms();
    int pending = 0;
    uint64_t first = 0, last = 0;
    /* Keys are decoded in the background, a batch per turn, after each reload. */
    const struct srv_cert_table *warm = atomic_load(&s->current)->certs;
    size_t warm_i = 0;
    uint64_t warm_t0 = now_ms();
    int afd = srv__reload_ask_open();
    for (;;) {
        int timeout = -1;
        if (pending) {
            uint64_t due = last + DEBOUNCE_MS;
            if (due > first + DEBOUNCE_MAX_MS)
                due = first + DEBOUNCE_MAX_MS;
            uint64_t now = now_ms();
            timeout = due > now ? (int)(due - now) : 0;
        }
        if (warm != NULL)
            timeout = 0;
        uint64_t tnow = now_ms();
        int to_expire = next_expire > tnow ? (int)(next_expire - tnow) : 0;
        if (timeout < 0 || timeout > to_expire)
            timeout = to_expire;
        /* poll skips a negative fd: no inotify, or no reload requests */
        struct pollfd pfd[3] = {{sfd, POLLIN, 0}, {ifd, POLLIN, 0}, {afd, POLLIN, 0}};
        int n = poll(pfd, 3, timeout);
        if (n < 0 && errno != EINTR)
            break;
        if (n > 0 && (pfd[0].revents & POLLIN)) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                if (si.ssi_signo == SIGHUP) {
                    pending = 0;
                    reload(s, RELOAD_POLICIES | RELOAD_CERTS, 1, "sighup");
                    warm = atomic_load(&s->current)->certs;
                    warm_i = 0;
                    warm_t0 = now_ms();
                } else {
                    log_event(LOG_INFO, "serve.stopping", "signal=%s",
                              si.ssi_signo == SIGTERM ? "TERM" : "INT");
                    return;
                }
            }
        }
        if (n > 0 && ifd >= 0 && (pfd[1].revents & POLLIN)) {
            int what = srv__read_inotify(ifd, wd_pol, wd_cert);
            if (what) {
                uint64_t now = now_ms();
                if (!pending)
                    first = now;
                last = now;
                pending |= what;
            }
        }
        if (n > 0 && afd >= 0 && (pfd[2].revents & POLLIN)) {
            /* an admin change waits for this: both tables, at once, without the debounce */
            uint64_t seq = srv__reload_ask_take();
            pending = 0;
            reload(s, RELOAD_POLICIES | RELOAD_CERTS, 1, "admin");
            srv__reload_ask_done(seq);
            warm = atomic_load(&s->current)->certs;
            warm_i = 0;
            warm_t0 = now_ms();
        }
        if (pending) {
            uint64_t now = now_ms();
            if (now >= last + DEBOUNCE_MS || now >= first + DEBOUNCE_MAX_MS) {
                int what = pending;
                pending = 0;
                reload(s, what, 1, "inotify");
                warm = atomic_load(&s->current)->certs;
                warm_i = 0;
                warm_t0 = now_ms();
            }
        }
        if (now_ms() >= next_expire) {
            /* the policy directory's watch reloads; without inotify it is done here */
            if (srv__withdrawals_expire(s) > 0 && ifd < 0)
                reload(s, RELOAD_POLICIES, 1, "withdrawn");
            next_expire = now_ms() + EXPIRE_EVERY_MS;
        }
        if (warm != NULL && !srv__certs_warm(warm, &warm_i, 256)) {
            log_event(LOG_DEBUG, "cert.warm", "n=%zu ms=%llu", warm->n,
                      (unsigned long long)(now_ms() - warm_t0));
            int sans = warm->n_undecoded > 0;
            warm = NULL;
            if (sans) {
                /* index the SANs of the certificates decoded since the table was built:
                 * nothing is read again (files unchanged), the decoded objects are shared */
                reload(s, RELOAD_CERTS, 1, "sans");
                warm = atomic_load(&s->current)->certs;
                warm_i = 0;
                warm_t0 = now_ms();
            }
        }
    }
}

/* Graceful stop: every thread stops accepting and drains; a second signal exits at once. */
static enum srv_status stop_threads(struct srv *s, int sfd)
{
    for (int i = 0; i < s->n_threads; i++)
        h2o_multithread_send_message(&s->threads[i].ctl, &s->threads[i].msg_stop.super);
    while (atomic_load(&s->threads_running) > 0) {
        struct pollfd pfd = {sfd, POLLIN, 0};
        if (poll(&pfd, 1, 20) > 0) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
                    log_event(LOG_WARN, "serve.forced_stop", "signal=%s",
                              si.ssi_signo == SIGTERM ? "TERM" : "INT");
                    fflush(stderr);
                    _exit(SRV_FORCED);
                }
            }
        }
    }
    for (int i = 0; i < s->n_threads; i++)
        pthread_join(s->threads[i].tid, NULL);
    return SRV_STOPPED;
}

enum srv_status srv_run(const struct stsd_config *cfg)
{
    struct srv *s = xcalloc(1, sizeof(*s));
    enum srv_status rc = SRV_CONFIG_ERROR;
    int sfd = -1, ifd = -1;
    sigset_t set;
    s->cfg = cfg;
    long nproc = sysconf(_SC_NPROCESSORS_ONLN);
    s->n_threads = cfg->threads > 0 ? cfg->threads : (int)(nproc > 0 ? nproc : 1);
    if (s->n_threads > MAX_THREADS)
        s->n_threads = MAX_THREADS;
    s->db_path = hosted_path_db(cfg);
    char err[512], q[600];
    if (srv__priv_prepare(cfg, err, sizeof(err)) != 0) {
        log_event(LOG_ERROR, "serve.privileges", "error=%s", log_quote(q, sizeof(q), err));
        goto out;
    }
    if (srv__hosted_open(s) != 0)
        goto out;

    block_signals(&set);
    sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    srv__conns_init(cfg);
    setup_h2o(s);
    s->ssl_ctx = srv__ssl_ctx_new(cfg, err, sizeof(err));
    if (s->ssl_ctx == NULL) {
        log_event(LOG_ERROR, "serve.tls", "error=%s", log_quote(q, sizeof(q), err));
        goto out;
    }
    if (open_listeners(s) != 0)
        goto out;
    /* Watch before the certificates are first read so that no change between the two is
     * missed (and while the directories are surely readable). */
    ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    int wd_pol = ifd >= 0 ? srv__watch_dir(ifd, hosted_policy_dir(s->hosted)) : -1;
    int wd_cert = ifd >= 0 ? srv__watch_dir(ifd, hosted_cert_dir(s->hosted)) : -1;
    if (read_secrets_and_drop(s, err, sizeof(err)) != 0)
        goto out;
    for (int i = 0; srv__modules[i] != NULL; i++) {
        if (srv__modules[i]->init && srv__modules[i]->init(s, i, err, sizeof(err)) != 0) {
            log_event(LOG_ERROR, "serve.module", "module=%s error=%s", srv__modules[i]->name,
                      log_quote(q, sizeof(q), err));
            goto out;
        }
    }
    register_catch_all(s);
    reload(s, RELOAD_POLICIES | RELOAD_CERTS, 0, "start");
    srv__reload_ask_open(); /* before the first admin request can ask */

    s->threads = xcalloc((size_t)s->n_threads, sizeof(*s->threads));
    for (int i = 0; i < s->n_threads; i++) {
        s->threads[i].srv = s;
        s->threads[i].idx = i;
        h2o_multithread_create_thread(&s->threads[i].tid, NULL, thread_main, &s->threads[i]);
    }
    while (atomic_load(&s->threads_running) < s->n_threads)
        sleep_ms(1);
    log_ready(s);

    control_loop(s, sfd, ifd, wd_pol, wd_cert);
    srv__reload_ask_close();
    rc = stop_threads(s, sfd);
    log_event(LOG_INFO, "serve.stopped", "status=%d", (int)rc);
    for (int i = 0; srv__modules[i] != NULL; i++)
        if (srv__modules[i]->fini)
            srv__modules[i]->fini(s, i);
out:
    snapshot_release((struct srv_snapshot *)atomic_load(&s->current));
    if (s->first_certs != NULL) /* start-up failed before the first reload */
        srv__certs_free(s->first_certs);
    for (size_t i = 0; i < s->n_listeners; i++)
        srv__listener_close(&s->listeners[i]);
    free(s->listeners);
    free(s->threads);
    if (s->ssl_ctx != NULL)
        SSL_CTX_free(s->ssl_ctx);
    if (s->host_public != NULL)
        h2o_config_dispose(&s->globalconf);
    if (s->host_acme != NULL)
        h2o_config_dispose(&s->globalconf_acme);
    hosted_close(s->hosted);
    if (ifd >= 0)
        close(ifd);
    if (sfd >= 0)
        close(sfd);
    free(s->db_path);
    free(s);
    return rc;
}
