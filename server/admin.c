/* admin.c - the admin listener's front: bearer-token check (RFC 6750) and the browser login
 * (?token= -> 303 + session cookie), the worker pool that runs the database queries off the
 * event loop, and sending the answers back on the loop. */
#include "server/admin_int.h"
#include "server/server_int.h"
#include "common/common.h"
#include "hosted/hosted.h"
#include "sql/db.h"

#include <errno.h>
#include <h2o.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ------------------------------------------------------------------ token */

int srv__admin_token_load(struct admin_env *env, const char *path, char *err, size_t errlen)
{
    size_t len = 0;
    char *buf = file_read_all(path, 4096, &len);
    if (buf == NULL && errno == ENOENT) {
        /* First start: a new random token, readable by the owner only. */
        unsigned char rnd[ADMIN_TOKEN_BYTES];
        char hex[2 * ADMIN_TOKEN_BYTES + 2];
        if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
            snprintf(err, errlen, "%s: cannot generate a token (no randomness)", path);
            return -1;
        }
        format_hex(rnd, sizeof(rnd), hex);
        hex[2 * ADMIN_TOKEN_BYTES] = '\n';
        char *dir = xstrdup(path);
        char *slash = strrchr(dir, '/');
        if (slash != NULL && slash != dir) {
            *slash = '\0';
            mkdir_p(dir, 0750);
        }
        free(dir);
        if (file_write_atomic(path, hex, 2 * ADMIN_TOKEN_BYTES + 1, 0600) != 0) {
            snprintf(err, errlen, "%s: cannot create the admin token file: %s", path,
                     strerror(errno));
            return -1;
        }
        srv__priv_created(path); /* readable by [server] user, like the rest of state_dir */
        log_event(LOG_INFO, "admin.token_created", "file=%s mode=0600", path);
        buf = file_read_all(path, 4096, &len);
    }
    if (buf == NULL) {
        snprintf(err, errlen, "%s: cannot read the admin token file: %s", path, strerror(errno));
        return -1;
    }
    /* The token is the first line, surrounding white space removed. */
    size_t s = 0, e = 0;
    while (s < len && (buf[s] == ' ' || buf[s] == '\t' || buf[s] == '\r' || buf[s] == '\n'))
        s++;
    e = s;
    while (e < len && buf[e] != '\n' && buf[e] != '\r')
        e++;
    while (e > s && (buf[e - 1] == ' ' || buf[e - 1] == '\t'))
        e--;
    if (e == s || e - s > ADMIN_TOKEN_MAX) {
        snprintf(err, errlen, "%s: the admin token must be 1-%d characters on the first line", path,
                 ADMIN_TOKEN_MAX);
        free(buf);
        return -1;
    }
    memcpy(env->token, buf + s, e - s);
    env->token[e - s] = '\0';
    env->token_len = e - s;
    free(buf);
    return 0;
}

/* ------------------------------------------------------------------ jobs and workers */

struct admin_pending;

struct admin_job {
    h2o_multithread_message_t super; /* first: the message link sent back to the loop */
    struct admin_job *next;          /* worker queue */
    h2o_multithread_receiver_t *reply;
    char *path, *query, *body, *content_type;
    struct admin_served *served;
    struct admin_invalid *invalid;
    size_t n_invalid;
    struct admin_request rq;
    struct admin_response rs;
    enum srv_endpoint ep;
    /* loop thread only */
    h2o_req_t *req; /* NULL once the client went away */
    struct admin_pending *pending;
};

struct admin_pending {
    struct admin_job *job;
};

/* Per loop thread: the receiver for finished jobs and how many are still out. */
struct admin_thread {
    h2o_multithread_receiver_t recv; /* first: on_done gets its address */
    size_t inflight;                 /* loop thread only */
};

struct admin_state {
    struct admin_env env;
    pthread_t workers[ADMIN_WORKERS];
    int n_workers;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct admin_job *head, **tail;
    size_t queued;
    int stop;
    int module_idx;
    struct admin_sessions sessions;
};

static struct admin_state *admin_state;

static void *worker_main(void *arg)
{
    struct admin_state *st = arg;
    char err[512], q[600];
    struct hosted *h = hosted_open(st->env.cfg, 0, err, sizeof(err));
    struct db *db = NULL;
    if (h == NULL)
        log_event(LOG_ERROR, "admin.hosted", "reason=%s", log_quote(q, sizeof(q), err));
    /* Its certificate index is built now (with 10,000 certificates the first decode takes
     * seconds), not by the first dashboard request. */
    srv__admin_certs_view(h);
    for (;;) {
        pthread_mutex_lock(&st->mu);
        while (st->head == NULL && !st->stop)
            pthread_cond_wait(&st->cv, &st->mu);
        if (st->head == NULL) {
            pthread_mutex_unlock(&st->mu);
            break;
        }
        struct admin_job *job = st->head;
        st->head = job->next;
        if (st->head == NULL)
            st->tail = &st->head;
        st->queued--;
        pthread_mutex_unlock(&st->mu);
        if (db == NULL && h != NULL && (db = hosted_db(h, err, sizeof(err))) == NULL)
            log_event(LOG_ERROR, "admin.db", "reason=%s", log_quote(q, sizeof(q), err));
        job->rq.hosted = h;
        if (db == NULL)
            srv__admin_error(&job->rs, 503, "the database is not available");
        else
            srv__admin_handle(&st->env, db, &job->rq, &job->rs);
        h2o_multithread_send_message(job->reply, &job->super);
    }
    hosted_close(h); /* and its database */
    return NULL;
}

static void job_free(struct admin_job *job)
{
    free(job->path);
    free(job->query);
    free(job->body);
    free(job->content_type);
    free(job->served);
    for (size_t k = 0; k < job->n_invalid; k++) {
        free(job->invalid[k].file);
        free(job->invalid[k].reason);
    }
    free(job->invalid);
    free(job->rs.body);
    free(job->rs.location);
    free(job);
}

static const char *reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 303:
        return "See Other";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Content";
    case 503:
        return "Service Unavailable";
    default:
        return "Internal Server Error";
    }
}

/* Send an answer on the loop thread (copies the body into the request's pool). */
static void send_response(h2o_req_t *req, const struct admin_response *rs, enum srv_endpoint ep)
{
    req->res.status = rs->status;
    req->res.reason = reason(rs->status);
    const char *ct = rs->content_type ? rs->content_type : "application/json";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, ct, strlen(ct));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("no-store"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-content-type-options"), 0,
                          NULL, H2O_STRLIT("nosniff"));
    /* No admin URL (a domain name in a query, a report id) leaks to where a link leads. */
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("referrer-policy"), 0, NULL,
                          H2O_STRLIT("no-referrer"));
    if (ep == SRV_EP_DASHBOARD || strncmp(ct, "text/html", 9) == 0)
        /* Nothing loads from anywhere: no scripts, styles inline, images inline SVG. */
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("content-security-policy"),
                              0, NULL,
                              H2O_STRLIT("default-src 'none'; style-src 'unsafe-inline'; "
                                         "img-src data:; frame-ancestors 'none'"));
    if (rs->allow != NULL)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, rs->allow,
                       strlen(rs->allow));
    if (rs->location != NULL)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_LOCATION, NULL,
                       h2o_strdup(&req->pool, rs->location, SIZE_MAX).base, strlen(rs->location));
    if (rs->content_disposition != NULL)
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("content-disposition"), 0,
                              NULL, rs->content_disposition, strlen(rs->content_disposition));
    req->res.content_length = rs->len;
    srv_metrics_count_request(ep, rs->status);
    h2o_send_inline(req, rs->body ? rs->body : "", rs->len);
}

static void on_pending_dispose(void *p)
{
    struct admin_pending *pd = p;
    if (pd->job != NULL)
        pd->job->req = NULL;
}

static void on_done(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    struct admin_thread *at = (struct admin_thread *)receiver;
    while (!h2o_linklist_is_empty(messages)) {
        h2o_multithread_message_t *m =
            H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        h2o_linklist_unlink(&m->link);
        struct admin_job *job = (struct admin_job *)m;
        if (job->req != NULL) {
            job->pending->job = NULL;
            send_response(job->req, &job->rs, job->ep);
        }
        job_free(job);
        at->inflight--;
    }
}

static enum srv_endpoint endpoint_of(const char *path, size_t len)
{
    if ((len == 1 && path[0] == '/') || (len > 9 && memcmp(path, ADMIN_DOMAIN_PAGE, 9) == 0) ||
        (len > 9 && memcmp(path, ADMIN_REPORT_PAGE, 9) == 0) ||
        (len == 6 && memcmp(path, "/check", 6) == 0))
        return SRV_EP_DASHBOARD;
    if (len == 8 && memcmp(path, "/metrics", 8) == 0)
        return SRV_EP_METRICS;
    if (len >= 8 && memcmp(path, "/api/v1/", 8) == 0)
        return SRV_EP_API;
    return SRV_EP_OTHER;
}

static void answer_now(h2o_req_t *req, int status, const char *msg, enum srv_endpoint ep, int auth)
{
    struct admin_response rs;
    memset(&rs, 0, sizeof(rs));
    srv__admin_error(&rs, status, msg);
    if (auth == ADMIN_AUTH_MISSING || auth == ADMIN_AUTH_SESSION)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL,
                       H2O_STRLIT("Bearer realm=\"stsd\""));
    else if (auth == ADMIN_AUTH_INVALID)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL,
                       H2O_STRLIT("Bearer realm=\"stsd\", error=\"invalid_token\", "
                                  "error_description=\"the token does not match\""));
    if (status == 405)
        rs.allow = ADMIN_METHODS_ALLOWED;
    send_response(req, &rs, ep);
    free(rs.body);
}

/* Bytes that may go into a Location header as they are. */
static int url_chars_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return 0;
    return 1;
}

/* The browser login: the token was right and came in the URL. 303 to the same URL without
 * it (so that it leaves the address bar and the history) with a new session cookie. */
static void answer_login(h2o_req_t *req, struct admin_state *st, const char *query, size_t qlen,
                         enum srv_endpoint ep)
{
    char id[ADMIN_SESSION_HEX + 1];
    if (srv__admin_session_new(&st->sessions, srv__admin_session_now(), id) != 0) {
        answer_now(req, 503, "no randomness for a session id; try again", ep, -1);
        return;
    }
    const char *path = req->path.base;
    size_t plen = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    /* only a local path: never "//host" (another site) nor anything odd */
    if (plen == 0 || path[0] != '/' || (plen > 1 && path[1] == '/') || !url_chars_ok(path, plen))
        path = "/", plen = 1;
    char *rest = h2o_mem_alloc_pool(&req->pool, ADMIN_MAX_QUERY + 1);
    size_t rlen = srv__admin_query_without_token(query, qlen, rest, ADMIN_MAX_QUERY + 1);
    if (!url_chars_ok(rest, rlen))
        rlen = 0;
    char *loc = h2o_mem_alloc_pool(&req->pool, plen + rlen + 2);
    int ln = snprintf(loc, plen + rlen + 2, "%.*s%s%.*s", (int)plen, path, rlen ? "?" : "",
                      (int)rlen, rest);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_LOCATION, NULL, loc, (size_t)ln);
    /* No Secure: the admin listener speaks plain HTTP (keep it on loopback or behind TLS). */
    char *c = h2o_mem_alloc_pool(&req->pool, ADMIN_SESSION_HEX + 128);
    int cn = snprintf(c, ADMIN_SESSION_HEX + 128,
                      "%s=%s; Path=/; Max-Age=%lld; HttpOnly; SameSite=Strict", ADMIN_COOKIE, id,
                      (long long)st->sessions.ttl);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_SET_COOKIE, NULL, c, (size_t)cn);
    OPENSSL_cleanse(id, sizeof(id));
    struct admin_response rs = {.status = 303,
                                .content_type = "text/plain; charset=utf-8",
                                .body = "see the Location header\n"};
    rs.len = strlen(rs.body);
    send_response(req, &rs, ep);
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    struct admin_state *st = admin_state;
    struct srv_thread *t = srv_current();
    const char *path = req->path_normalized.base;
    size_t plen = req->path_normalized.len;
    enum srv_endpoint ep = endpoint_of(path, plen);
    if (st == NULL || t == NULL)
        return -1;
    int method = srv__admin_method(req->method.base, req->method.len);
    if (method < 0) {
        answer_now(req, 405, "only " ADMIN_METHODS_ALLOWED " are allowed", ep, -1);
        return 0;
    }
    /* The cap is the route's: the body is copied into the job only within it. */
    if (req->entity.base != NULL && req->entity.len > srv__admin_body_cap(path, plen)) {
        answer_now(req, 413, "the request body is too large", ep, -1);
        return 0;
    }
    const char *query = NULL;
    size_t qlen = 0;
    if (req->query_at != SIZE_MAX) {
        query = req->path.base + req->query_at + 1;
        qlen = req->path.len - req->query_at - 1;
    }
    if (plen > ADMIN_MAX_PATH || qlen > ADMIN_MAX_QUERY) {
        answer_now(req, 400, "path or query string too long", ep, -1);
        return 0;
    }
    const char *auth = NULL, *cookie = NULL;
    size_t authlen = 0, cookielen = 0;
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    if (i >= 0) {
        auth = req->headers.entries[i].value.base;
        authlen = req->headers.entries[i].value.len;
    }
    i = h2o_find_header(&req->headers, H2O_TOKEN_COOKIE, -1);
    if (i >= 0) {
        cookie = req->headers.entries[i].value.base;
        cookielen = req->headers.entries[i].value.len;
    }
    int from_query = 0;
    enum admin_auth a =
        srv__admin_auth(&st->env, auth, authlen, cookie, cookielen, query, qlen, &from_query);
    if (a != ADMIN_AUTH_OK) {
        answer_now(req, 401,
                   a == ADMIN_AUTH_MISSING   ? "a bearer token is required"
                   : a == ADMIN_AUTH_SESSION ? "the session has expired; open the page with "
                                               "?token= again"
                                             : "the token does not match",
                   ep, (int)a);
        return 0;
    }
    if (from_query) {
        answer_login(req, st, query, qlen, ep);
        return 0;
    }
    struct admin_job *job = xcalloc(1, sizeof(*job));
    struct admin_thread *at = t->module_data[st->module_idx];
    if (at == NULL)
        return -1;
    job->reply = &at->recv;
    job->path = xstrndup(path, plen);
    job->query = query ? xstrndup(query, qlen) : NULL;
    job->rq.head = method == ADMIN_HEAD;
    job->rq.method = (enum admin_method)method;
    if (method == ADMIN_PUT || method == ADMIN_POST || method == ADMIN_DELETE) {
        job->body = xstrndup(req->entity.base ? req->entity.base : "",
                             req->entity.base ? req->entity.len : 0);
        job->rq.body = job->body;
        job->rq.body_len = req->entity.base ? req->entity.len : 0;
    }
    i = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
    job->content_type =
        i >= 0 ? xstrndup(req->headers.entries[i].value.base, req->headers.entries[i].value.len)
               : xstrdup("");
    job->rq.content_type = job->content_type;
    srv__admin_cookie_session(cookie, cookielen, job->rq.session);
    job->rq.path = job->path;
    job->rq.query = job->query;
    job->rq.now = time(NULL);
    /* What this thread serves (the snapshot may change once this callback returns). */
    if (ep == SRV_EP_DASHBOARD || (plen >= 15 && memcmp(path, "/api/v1/domains", 15) == 0)) {
        const struct srv_policy_table *pt = t->snap ? t->snap->policies : NULL;
        size_t n = pt ? pt->n : 0;
        job->served = xcalloc(n ? n : 1, sizeof(*job->served));
        for (size_t k = 0; k < n; k++) {
            snprintf(job->served[k].domain, sizeof(job->served[k].domain), "%s",
                     pt->items[k].domain);
            snprintf(job->served[k].id, sizeof(job->served[k].id), "%s", pt->items[k].id);
            job->served[k].stale = pt->items[k].stale;
            job->served[k].mode = pt->items[k].mode;
        }
        job->n_invalid = pt ? pt->n_invalid : 0;
        job->invalid = xcalloc(job->n_invalid ? job->n_invalid : 1, sizeof(*job->invalid));
        for (size_t k = 0; k < job->n_invalid; k++) {
            struct admin_invalid *iv = &job->invalid[k];
            snprintf(iv->domain, sizeof(iv->domain), "%s", pt->invalid[k].domain);
            iv->file = xstrdup(pt->invalid[k].file);
            iv->line = pt->invalid[k].line;
            iv->reason = xstrdup(pt->invalid[k].reason);
        }
        job->rq.invalid = job->invalid;
        job->rq.n_invalid = job->n_invalid;
        job->rq.served = job->served;
        job->rq.n_served = n;
        job->rq.have_served = 1;
    }
    job->ep = ep;
    job->req = req;
    pthread_mutex_lock(&st->mu);
    if (st->queued >= ADMIN_QUEUE_MAX || st->stop) {
        pthread_mutex_unlock(&st->mu);
        job_free(job);
        answer_now(req, 503, "the admin workers are busy; try again", ep, -1);
        return 0;
    }
    job->pending = h2o_mem_alloc_shared(&req->pool, sizeof(*job->pending), on_pending_dispose);
    job->pending->job = job;
    *st->tail = job;
    st->tail = &job->next;
    st->queued++;
    at->inflight++;
    pthread_cond_signal(&st->cv);
    pthread_mutex_unlock(&st->mu);
    return 0;
}

/* ------------------------------------------------------------------ the module */

/* The token is read before the privilege drop (the file may be root's, mode 0600). */
static int admin_secrets(struct srv *s, int idx, char *err, size_t errlen)
{
    const struct stsd_config *cfg = s->cfg;
    if (cfg->admin_listen == NULL || strcmp(cfg->admin_listen, "off") == 0)
        return 0;
    struct admin_state *st = xcalloc(1, sizeof(*st));
    st->env.cfg = cfg;
    st->module_idx = idx;
    srv__admin_sessions_init(&st->sessions, cfg->session_ttl);
    st->env.sessions = &st->sessions;
    if (srv__admin_token_load(&st->env, cfg->token_file, err, errlen) != 0) {
        srv__admin_sessions_destroy(&st->sessions);
        free(st);
        return -1;
    }
    s->module_state[idx] = st;
    return 0;
}

static int admin_init(struct srv *s, int idx, char *err, size_t errlen)
{
    const struct stsd_config *cfg = s->cfg;
    /* The self-checks and alerts run whether or not the admin listener does. */
    srv__selfcheck_start(cfg);
    if (cfg->admin_listen == NULL || strcmp(cfg->admin_listen, "off") == 0)
        return 0;
    if (s->module_state[idx] == NULL && admin_secrets(s, idx, err, errlen) != 0)
        return -1;
    struct admin_state *st = s->module_state[idx];
    pthread_mutex_init(&st->mu, NULL);
    pthread_cond_init(&st->cv, NULL);
    st->tail = &st->head;
    h2o_pathconf_t *pc = srv_admin_path(s, "/");
    if (pc == NULL) {
        snprintf(err, errlen, "admin: no admin listener to register on");
        return -1;
    }
    h2o_handler_t *h = h2o_create_handler(pc, sizeof(*h));
    h->on_req = on_req;
    for (int i = 0; i < ADMIN_WORKERS; i++) {
        if (pthread_create(&st->workers[i], NULL, worker_main, st) != 0)
            break;
        st->n_workers++;
    }
    if (st->n_workers == 0) {
        snprintf(err, errlen, "admin: cannot start the worker threads");
        return -1;
    }
    admin_state = st;
    srv__metrics_start(cfg);
    log_event(LOG_INFO, "admin.ready", "listen=%s workers=%d", cfg->admin_listen, st->n_workers);
    return 0;
}

static void admin_thread_start(struct srv_thread *t, int idx)
{
    if (admin_state == NULL)
        return;
    struct admin_thread *at = xcalloc(1, sizeof(*at));
    h2o_multithread_register_receiver(t->ctx.queue, &at->recv, on_done);
    t->module_data[idx] = at;
}

static void admin_thread_stop(struct srv_thread *t, int idx)
{
    struct admin_thread *at = t->module_data[idx];
    if (at == NULL)
        return;
    /* A job whose client went away may still be with a worker: let it come back first, so
     * that no worker ever sends to a receiver that is gone. */
    while (at->inflight > 0)
        h2o_evloop_run(t->loop, 10);
    h2o_multithread_unregister_receiver(t->ctx.queue, &at->recv);
    free(at);
    t->module_data[idx] = NULL;
}

static void admin_fini(struct srv *s, int idx)
{
    srv__selfcheck_stop();
    srv__metrics_stop();
    struct admin_state *st = s->module_state[idx];
    if (st == NULL)
        return;
    pthread_mutex_lock(&st->mu);
    st->stop = 1;
    pthread_cond_broadcast(&st->cv);
    pthread_mutex_unlock(&st->mu);
    for (int i = 0; i < st->n_workers; i++)
        pthread_join(st->workers[i], NULL);
    /* Jobs still queued belong to requests whose loops are gone. */
    while (st->head != NULL) {
        struct admin_job *j = st->head;
        st->head = j->next;
        job_free(j);
    }
    pthread_mutex_destroy(&st->mu);
    pthread_cond_destroy(&st->cv);
    srv__admin_sessions_destroy(&st->sessions);
    admin_state = NULL;
    free(st);
    s->module_state[idx] = NULL;
}

const struct srv_module srv_admin_module = {
    .name = "admin",
    .init = admin_init,
    .secrets = admin_secrets,
    .thread_start = admin_thread_start,
    .thread_stop = admin_thread_stop,
    .fini = admin_fini,
};
