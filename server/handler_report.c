/* handler_report.c - POST <reports.path>: TLS-RPT intake over HTTPS (RFC 8460 §5.4). */
#include "server/intake_int.h"
#include "server/server_int.h"
#include "common/common.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#define RETRY_DISK_LOW 300 /* seconds: a nearly full disk needs a person */

struct report_handler {
    h2o_handler_t super;
    struct srv_intake_conf conf;
};

/* The state of a request waiting for the writer, allocated on req->pool as a shared object
 * so that h2o's release of the request (client gone) runs on_pending_dispose. */
struct srv_job_pending {
    h2o_req_t *req;
    struct srv_job *job; /* NULL once the job came back */
};

static atomic_size_t inflight;

size_t srv_intake_inflight(void)
{
    return atomic_load(&inflight);
}

/* ---------------------------------------------------------------- answers */

/* Append s to buf as the inside of a JSON string (RFC 8259 §7). */
static size_t json_escape(char *buf, size_t bufsz, const char *s)
{
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p && o + 7 < bufsz; p++) {
        if (*p == '"' || *p == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)*p;
        } else if (*p < 0x20 || *p == 0x7f) {
            o += (size_t)snprintf(buf + o, bufsz - o, "\\u%04x", *p);
        } else {
            buf[o++] = (char)*p;
        }
    }
    buf[o] = '\0';
    return o;
}

/* The /metrics outcome of an answer (admin listener, server/metrics.c). */
static void count(int status)
{
    static const struct {
        int status;
        enum srv_report_outcome o;
    } map[] = {{201, SRV_REPORT_STORED},       {200, SRV_REPORT_DUPLICATE},
               {400, SRV_REPORT_INVALID},      {413, SRV_REPORT_TOO_LARGE},
               {415, SRV_REPORT_MEDIA_TYPE},   {422, SRV_REPORT_NOT_HOSTED},
               {429, SRV_REPORT_RATE_LIMITED}, {503, SRV_REPORT_UNAVAILABLE}};
    srv_metrics_count_request(SRV_EP_REPORT, status);
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (map[i].status == status)
            srv_metrics_count_report(map[i].o);
}

static void send_json(h2o_req_t *req, int status, const char *reason, const char *body,
                      int retry_after)
{
    count(status);
    req->res.status = status;
    req->res.reason = reason;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("application/json"));
    if (retry_after > 0) {
        char ra[16];
        int n = snprintf(ra, sizeof(ra), "%d", retry_after);
        h2o_iovec_t v = h2o_strdup(&req->pool, ra, (size_t)n);
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, v.base, v.len);
    }
    size_t len = strlen(body);
    req->res.content_length = len;
    h2o_send_inline(req, body, len);
}

/* {"error":"<message>"} with the given status. */
static void send_error(h2o_req_t *req, int status, const char *reason, int retry_after,
                       const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void send_error(h2o_req_t *req, int status, const char *reason, int retry_after,
                       const char *fmt, ...)
{
    char msg[600], esc[1400], body[1500];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_escape(esc, sizeof(esc), msg);
    snprintf(body, sizeof(body), "{\"error\":\"%s\"}\n", esc);
    send_json(req, status, reason, body, retry_after);
}

/* ---------------------------------------------------------------- writer replies */

static void on_pending_dispose(void *p)
{
    struct srv_job_pending *pending = p;
    if (pending->job != NULL)
        pending->job->pending = NULL; /* the client went away: never touch req again */
}

static void answer_job(h2o_req_t *req, const struct srv_job *job)
{
    char body[128];
    switch (job->result) {
    case SRV_JOB_CONFLICT: /* stored, never discarded; the first copy named */
        snprintf(body, sizeof(body), "{\"status\":\"conflict\",\"id\":%lld,\"conflict_of\":%lld}\n",
                 (long long)job->id, (long long)job->conflict_of);
        send_json(req, 201, "Created", body, 0);
        break;
    case SRV_JOB_STORED:
        snprintf(body, sizeof(body), "{\"status\":\"stored\",\"id\":%lld}\n", (long long)job->id);
        send_json(req, 201, "Created", body, 0);
        break;
    case SRV_JOB_DUPLICATE:
        snprintf(body, sizeof(body), "{\"status\":\"duplicate\",\"id\":%lld}\n",
                 (long long)job->id);
        send_json(req, 200, "OK", body, 0);
        break;
    default:
        send_error(req, 503, "Service Unavailable", RETRY_STORE_FAILED,
                   "the report store is unavailable; retry later");
        break;
    }
}

static const char *reason(int status)
{
    switch (status) {
    case 400:
        return "Bad Request";
    case 413:
        return "Payload Too Large";
    case 422:
        return "Unprocessable Entity";
    case 503:
        return "Service Unavailable";
    }
    return "Error";
}

/* Release a job that came back, with its share of the parse budget. */
static void job_release(struct srv_job *job)
{
    report_budget_give(job->budget, job->held);
    srv_job_free(job);
}

/* Runs on the loop thread that queued the jobs: answers from the parse pool (job->status
 * set) and from the writer. */
static void on_job_back(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    struct srv_intake_thread *t =
        H2O_STRUCT_FROM_MEMBER(struct srv_intake_thread, receiver, receiver);
    while (!h2o_linklist_is_empty(messages)) {
        h2o_multithread_message_t *m =
            H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        h2o_linklist_unlink(&m->link);
        struct srv_job *job = H2O_STRUCT_FROM_MEMBER(struct srv_job, super, m);
        if (job->pending != NULL) {
            job->pending->job = NULL;
            if (job->status != 0)
                send_error(job->pending->req, job->status, reason(job->status), job->retry_after,
                           "%s", job->error);
            else
                answer_job(job->pending->req, job);
        }
        job_release(job);
        t->outstanding--;
        atomic_fetch_sub(&inflight, 1);
    }
}

void srv_intake_thread_init(struct srv_intake_thread *t, h2o_multithread_queue_t *queue)
{
    memset(t, 0, sizeof(*t));
    h2o_multithread_register_receiver(queue, &t->receiver, on_job_back);
}

void srv_intake_thread_stop(struct srv_intake_thread *t, h2o_evloop_t *loop)
{
    /* The parse pool and the writer send back every job they were given (they stop only
     * after the loop threads did), so this ends unless the database hangs; then a second
     * SIGTERM ends the process. Giving up instead would leave the pool or the writer a
     * receiver to send to that is gone. */
    uint64_t next_log = h2o_now(loop) + 10000;
    while (t->outstanding > 0) {
        h2o_evloop_run(loop, 100);
        if (t->outstanding > 0 && h2o_now(loop) >= next_log) {
            log_event(LOG_WARN, "report.shutdown_wait",
                      "outstanding=%zu what=\"reports still being parsed or stored; a second "
                      "SIGTERM stops at once\"",
                      t->outstanding);
            next_log = h2o_now(loop) + 10000;
        }
    }
    h2o_multithread_unregister_receiver(t->receiver.queue, &t->receiver);
}

/* ---------------------------------------------------------------- the request */

/* The media type of the request without parameters, lowercased, into buf ("" if none). */
static void media_type(h2o_req_t *req, char *buf, size_t bufsz)
{
    buf[0] = '\0';
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
    if (i < 0)
        return;
    h2o_iovec_t v = req->headers.entries[i].value;
    size_t s = 0, e = v.len;
    while (s < e && (v.base[s] == ' ' || v.base[s] == '\t'))
        s++;
    for (size_t k = s; k < e; k++) {
        if (v.base[k] == ';') {
            e = k;
            break;
        }
    }
    while (e > s && (v.base[e - 1] == ' ' || v.base[e - 1] == '\t'))
        e--;
    size_t n = e - s < bufsz - 1 ? e - s : bufsz - 1;
    for (size_t k = 0; k < n; k++) {
        char c = v.base[s + k];
        buf[k] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    buf[n] = '\0';
}

enum body_kind { BODY_UNSUPPORTED, BODY_GZIP, BODY_JSON, BODY_SNIFF };

/* RFC 8460 §5.4: application/tlsrpt+gzip or application/tlsrpt+json. Real senders also use
 * the generic types; for those the gzip magic decides. */
static enum body_kind body_kind(const char *mt)
{
    if (strcmp(mt, "application/tlsrpt+gzip") == 0)
        return BODY_GZIP;
    if (strcmp(mt, "application/tlsrpt+json") == 0)
        return BODY_JSON;
    if (strcmp(mt, "application/gzip") == 0 || strcmp(mt, "application/x-gzip") == 0 ||
        strcmp(mt, "application/json") == 0 || strcmp(mt, "application/octet-stream") == 0)
        return BODY_SNIFF;
    return BODY_UNSUPPORTED;
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int on_req(h2o_handler_t *_self, h2o_req_t *req)
{
    struct report_handler *self = (struct report_handler *)_self;
    const struct srv_intake_conf *conf = &self->conf;

    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"))) {
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, H2O_STRLIT("POST"));
        send_error(req, 405, "Method Not Allowed", 0,
                   "method %.*s is not allowed here; TLS-RPT reports are sent with POST "
                   "(RFC 8460 section 5.4)",
                   (int)(req->method.len > 16 ? 16 : req->method.len), req->method.base);
        return 0;
    }

    if (conf->ratelimit != NULL) {
        struct sockaddr_storage ss;
        socklen_t sl = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
        if (sl > 0) {
            int retry = srv_ratelimit_take(conf->ratelimit, (struct sockaddr *)&ss,
                                           h2o_now(req->conn->ctx->loop));
            if (retry > 0) {
                send_error(req, 429, "Too Many Requests", retry,
                           "too many reports from this address; retry in %d s", retry);
                return 0;
            }
        }
    }

    if (srv_writer_disk_low(conf->writer)) {
        send_error(req, 503, "Service Unavailable", RETRY_DISK_LOW,
                   "the report store's disk is nearly full; retry later");
        return 0;
    }

    /* h2o itself refuses bodies past twice max_body (intake.c says why); between max_body
     * and that, the answer is this JSON 413, over HTTP/1.1 and HTTP/2 alike. */
    if (req->entity.len > conf->cfg->max_body) {
        send_error(req, 413, "Payload Too Large", 0, "the body is over max_body (%llu bytes)",
                   (unsigned long long)conf->cfg->max_body);
        return 0;
    }

    char mt[128];
    media_type(req, mt, sizeof(mt));
    enum body_kind kind = body_kind(mt);
    if (kind == BODY_UNSUPPORTED) {
        send_error(req, 415, "Unsupported Media Type", 0,
                   "Content-Type '%s' is not application/tlsrpt+gzip or "
                   "application/tlsrpt+json (RFC 8460 section 5.4)",
                   mt[0] ? mt : "(none)");
        return 0;
    }
    if (req->entity.base == NULL)
        req->entity = h2o_iovec_init(H2O_STRLIT(""));

    int gzip = report_is_gzip(req->entity.base, req->entity.len);
    if (kind == BODY_GZIP && !gzip) {
        send_error(req, 400, "Bad Request", 0,
                   "Content-Type is application/tlsrpt+gzip but the body does not start with "
                   "the gzip magic 1f 8b");
        return 0;
    }

    /* The body's bytes are reserved before anything is allocated for it; the parse pool
     * reserves the rest (inflated text, tree, report) as it goes. */
    size_t need = req->entity.len + sizeof(struct srv_job);
    if (report_budget_take(conf->budget, need) != 0) {
        send_error(req, 503, "Service Unavailable", RETRY_BUDGET,
                   "the parse memory budget is spent (parse_memory = %llu bytes); retry in %d s",
                   (unsigned long long)conf->cfg->parse_memory, RETRY_BUDGET);
        return 0;
    }
    struct srv_job *job = xcalloc(1, sizeof(*job));
    job->budget = conf->budget;
    job->held = need;
    job->raw = xmalloc(req->entity.len ? req->entity.len : 1);
    memcpy(job->raw, req->entity.base, req->entity.len);
    job->rawlen = req->entity.len;
    job->received = (int64_t)time(NULL);
    job->t0_ns = mono_ns();
    if (srv__policy_host(req->authority.base, req->authority.len, job->channel_domain,
                         sizeof(job->channel_domain)) < 0)
        job->channel_domain[0] = '\0';
    struct srv_intake_thread *t = conf->thread();
    job->reply = &t->receiver;

    struct srv_job_pending *pending =
        h2o_mem_alloc_shared(&req->pool, sizeof(*pending), on_pending_dispose);
    pending->req = req;
    pending->job = job;
    job->pending = pending;
    atomic_fetch_add(&inflight, 1);
    t->outstanding++;
    srv_parse_pool_submit(conf->pool, job);
    return 0; /* answered by on_job_back: an error from the pool, or after the commit */
}

h2o_handler_t *srv_report_register(h2o_pathconf_t *pathconf, const struct srv_intake_conf *conf)
{
    struct report_handler *self = (void *)h2o_create_handler(pathconf, sizeof(*self));
    self->conf = *conf;
    self->super.on_req = on_req;
    return &self->super;
}
