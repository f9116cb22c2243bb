/* handler_report.c - POST <reports.path>: TLS-RPT intake over HTTPS (RFC 8460 §5.4, SPEC §3). */
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
#include <zlib.h>

#define RETRY_QUEUE_FULL 1    /* seconds: the writer drains a full queue in well under that */
#define RETRY_STORE_FAILED 30 /* seconds: a locked or failing database needs a person */
#define RETRY_DISK_LOW 300    /* seconds: a nearly full disk needs a person too */

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
    case SRV_JOB_CONFLICT: /* SPEC §3: stored, never discarded; the first copy named */
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

/* Runs on the loop thread that queued the jobs. */
static void on_writer_reply(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
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
            answer_job(job->pending->req, job);
        }
        srv_job_free(job);
        t->outstanding--;
        atomic_fetch_sub(&inflight, 1);
    }
}

void srv_intake_thread_init(struct srv_intake_thread *t, h2o_multithread_queue_t *queue)
{
    memset(t, 0, sizeof(*t));
    h2o_multithread_register_receiver(queue, &t->receiver, on_writer_reply);
}

void srv_intake_thread_stop(struct srv_intake_thread *t, h2o_evloop_t *loop)
{
    /* The writer stores and sends back everything it was given (it stops only after the
     * loop threads did), so this ends; the cap is for a database that hangs. */
    uint64_t deadline = h2o_now(loop) + 120000;
    while (t->outstanding > 0 && h2o_now(loop) < deadline)
        h2o_evloop_run(loop, 100);
    if (t->outstanding > 0) {
        log_event(LOG_ERROR, "report.shutdown",
                  "outstanding=%zu what=\"reports still being stored at exit\"", t->outstanding);
        return; /* leave the receiver registered: the writer may still send to it */
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
 * the generic types; for those the gzip magic decides (SPEC §3). */
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

/* One gzip layer being inflated into a fixed window, counting what comes out. */
struct layer {
    z_stream zs;
    int live;   /* inflateInit2 done */
    size_t out; /* bytes produced so far */
    unsigned char head[2];
};

static int layer_init(struct layer *l)
{
    memset(l, 0, sizeof(*l));
    if (inflateInit2(&l->zs, 16 + MAX_WBITS) != Z_OK) /* gzip wrapper only (RFC 1952) */
        return -1;
    l->live = 1;
    return 0;
}

/*
 * Measure before allocating: does the gzip body inflate past `cap`, or does its content,
 * when that is gzip again, inflate past it? Both layers are inflated as streams into
 * fixed 16 KiB windows and only counted, so a bomb (1 MB -> 1 GB, or 2 KB -> 1 MB -> 1 GB)
 * costs CPU up to the cap and no memory. A body that is corrupt is not judged here: the
 * parser reports it. Reports are inflated once (as by e-mail), so a gzip inside gzip that
 * stays under the cap is still refused by the parser as "not JSON".
 */
static int gzip_over_cap(const void *body, size_t len, size_t cap)
{
    unsigned char w1[16384], w2[16384];
    struct layer outer, inner;
    int over = 0, inner_state = -1; /* -1 not known yet, 0 not gzip, 1 inflating */
    if (layer_init(&outer) != 0)
        return 0;
    memset(&inner, 0, sizeof(inner));
    outer.zs.next_in = (Bytef *)(uintptr_t)body;
    outer.zs.avail_in = len > UINT32_MAX ? UINT32_MAX : (uInt)len;
    for (;;) {
        outer.zs.next_out = w1;
        outer.zs.avail_out = sizeof(w1);
        int zr = inflate(&outer.zs, Z_NO_FLUSH);
        size_t got = sizeof(w1) - outer.zs.avail_out;
        for (size_t k = 0; k < got && outer.out + k < 2; k++)
            outer.head[outer.out + k] = w1[k];
        outer.out += got;
        if (outer.out > cap) {
            over = 1;
            break;
        }
        if (inner_state == -1 && outer.out >= 2)
            inner_state =
                (outer.head[0] == 0x1f && outer.head[1] == 0x8b && layer_init(&inner) == 0) ? 1 : 0;
        if (inner_state == 1 && got > 0) {
            inner.zs.next_in = w1;
            inner.zs.avail_in = (uInt)got;
            while (inner_state == 1 && inner.zs.avail_in > 0) {
                inner.zs.next_out = w2;
                inner.zs.avail_out = sizeof(w2);
                int zi = inflate(&inner.zs, Z_NO_FLUSH);
                inner.out += sizeof(w2) - inner.zs.avail_out;
                if (inner.out > cap) {
                    over = 1;
                    goto done;
                }
                if (zi == Z_STREAM_END && inner.zs.avail_in >= 2 && inner.zs.next_in[0] == 0x1f &&
                    inner.zs.next_in[1] == 0x8b)
                    inflateReset(&inner.zs); /* another member (RFC 1952 §2.2) */
                else if (zi != Z_OK && !(zi == Z_BUF_ERROR && inner.zs.avail_out == 0))
                    inner_state = 0; /* ended or corrupt: nothing more to count */
            }
        }
        if (zr == Z_STREAM_END) {
            if (outer.zs.avail_in >= 2 && outer.zs.next_in[0] == 0x1f &&
                outer.zs.next_in[1] == 0x8b && inflateReset(&outer.zs) == Z_OK)
                continue;
            break;
        }
        if (zr == Z_OK || (zr == Z_BUF_ERROR && outer.zs.avail_out == 0))
            continue;
        break; /* truncated or corrupt: left to the parser */
    }
done:
    inflateEnd(&outer.zs);
    if (inner.live)
        inflateEnd(&inner.zs);
    return over;
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* 1 if one of the report's policy-domains is hosted; lists the domains in `list` else. */
static int any_hosted(const struct srv_intake_conf *conf, const struct report *r, char *list,
                      size_t listsz)
{
    size_t o = 0;
    list[0] = '\0';
    for (size_t i = 0; i < r->n_policies; i++) {
        const char *d = r->policies[i].policy_domain;
        if (conf->is_hosted(d))
            return 1;
        if (o + 4 < listsz) {
            int n = snprintf(list + o, listsz - o, "%s%s", o ? ", " : "", d);
            if (n > 0)
                o = (size_t)n >= listsz - o ? listsz - 1 : o + (size_t)n;
        }
    }
    return 0;
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

    /* Inflate and parse on the loop thread: both are bounded (max_json, the parser's caps)
     * and take well under a millisecond for real reports (NOTES.md: ~58 us per parse). */
    struct srv_job *job = xcalloc(1, sizeof(*job));
    struct report_error err;
    memset(&err, 0, sizeof(err));
    size_t max_json = (size_t)conf->cfg->max_json;
    if (gzip && gzip_over_cap(req->entity.base, req->entity.len, max_json)) {
        srv_job_free(job);
        send_error(req, 413, "Payload Too Large", 0,
                   "body: gzip: inflates past the size limit (max_json = %zu bytes)", max_json);
        return 0;
    }
    int prc = report_parse_body(req->entity.base, req->entity.len, max_json, &job->report, &err);
    if (prc != 0) {
        srv_job_free(job);
        if (prc == 413)
            send_error(req, 413, "Payload Too Large", 0, "%s: %s (max_json = %zu bytes)",
                       err.path[0] ? err.path : "body", err.message, max_json);
        else if (err.path[0])
            send_error(req, 400, "Bad Request", 0, "%s: %s", err.path, err.message);
        else
            send_error(req, 400, "Bad Request", 0, "%s", err.message);
        return 0;
    }

    if (!conf->cfg->accept_any && conf->is_hosted != NULL) {
        char list[400];
        if (!any_hosted(conf, &job->report, list, sizeof(list))) {
            srv_job_free(job);
            send_error(req, 422, "Unprocessable Entity", 0,
                       "no policy-domain of this report is hosted here (%s)", list);
            return 0;
        }
    }

    job->raw = xmalloc(req->entity.len);
    memcpy(job->raw, req->entity.base, req->entity.len);
    job->rawlen = req->entity.len;
    job->received = (int64_t)time(NULL);
    job->t0_ns = mono_ns();
    struct srv_intake_thread *t = conf->thread();
    job->reply = &t->receiver;

    struct srv_job_pending *pending =
        h2o_mem_alloc_shared(&req->pool, sizeof(*pending), on_pending_dispose);
    pending->req = req;
    pending->job = job;
    job->pending = pending;

    /* While the store is failing (the last batch did not commit) one batch at a time probes
     * it; everything else is answered at once instead of waiting out the busy timeout. */
    if (srv_writer_failing(conf->writer) && srv_writer_queued(conf->writer) > 0) {
        pending->job = NULL;
        srv_job_free(job);
        send_error(req, 503, "Service Unavailable", RETRY_STORE_FAILED,
                   "the report store is unavailable; retry later");
        return 0;
    }
    atomic_fetch_add(&inflight, 1);
    t->outstanding++;
    if (srv_writer_submit(conf->writer, job) != 0) {
        atomic_fetch_sub(&inflight, 1);
        t->outstanding--;
        pending->job = NULL;
        srv_job_free(job);
        send_error(req, 503, "Service Unavailable", RETRY_QUEUE_FULL,
                   "too many reports waiting to be stored; retry in %d s", RETRY_QUEUE_FULL);
        return 0;
    }
    return 0; /* answered by on_writer_reply after the commit */
}

h2o_handler_t *srv_report_register(h2o_pathconf_t *pathconf, const struct srv_intake_conf *conf)
{
    struct report_handler *self = (void *)h2o_create_handler(pathconf, sizeof(*self));
    self->conf = *conf;
    self->super.on_req = on_req;
    return &self->super;
}
