/* handler_policy.c - GET|HEAD /.well-known/mta-sts.txt on mta-sts.<domain> (RFC 8461 §3.3). */
#include "server/server_int.h"

#include <string.h>

struct policy_handler {
    h2o_handler_t super;
    struct srv *srv;
};

static const char text_plain[] = "text/plain; charset=utf-8";

static int send_status(h2o_req_t *req, int status, const char *reason, const char *body,
                       enum srv_endpoint ep)
{
    srv_metrics_count_request(ep, status);
    req->res.status = status;
    req->res.reason = reason;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT(text_plain));
    req->res.content_length = strlen(body);
    h2o_send_inline(req, body, strlen(body));
    return 0;
}

/*
 * RFC 8461 §3.3: the policy is served over HTTPS at this one path with Content-Type
 * text/plain; senders must not follow redirects, so this never answers 3xx. The lookup uses
 * the thread's snapshot; the body is copied into the request pool because the snapshot may
 * be released once this callback returns (see server_int.h).
 */
static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    if (!h2o_memis(req->path_normalized.base, req->path_normalized.len,
                   H2O_STRLIT(SRV_POLICY_PATH)))
        return send_status(req, 404, "Not Found", "not found\n", SRV_EP_OTHER);
    int head = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"));
    if (!head && !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"))) {
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL,
                       H2O_STRLIT("GET, HEAD"));
        return send_status(req, 405, "Method Not Allowed", "method not allowed\n", SRV_EP_POLICY);
    }
    char domain[256];
    int n = srv__policy_host(req->authority.base, req->authority.len, domain, sizeof(domain));
    struct srv_thread *t = srv_current();
    const struct srv_policy *p =
        n > 0 && t != NULL ? srv_policy_lookup(t->snap->policies, domain, (size_t)n) : NULL;
    if (p == NULL)
        return send_status(req, 404, "Not Found", "no MTA-STS policy is hosted for this name\n",
                           SRV_EP_POLICY);

    static h2o_generator_t generator = {NULL, NULL};
    srv_metrics_count_request(SRV_EP_POLICY, 200);
    req->res.status = 200;
    req->res.reason = "OK";
    req->res.content_length = p->len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT(text_plain));
    h2o_start_response(req, &generator);
    if (head) {
        h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
    } else {
        h2o_iovec_t body = h2o_strdup(&req->pool, p->body, p->len);
        h2o_send(req, &body, 1, H2O_SEND_STATE_FINAL);
    }
    return 0;
}

void srv__policy_register(struct srv *s, h2o_pathconf_t *pathconf)
{
    struct policy_handler *h = (void *)h2o_create_handler(pathconf, sizeof(*h));
    h->super.on_req = on_req;
    h->srv = s;
}

static int on_req_notfound(h2o_handler_t *self, h2o_req_t *req)
{
    return send_status(req, 404, "Not Found", "not found\n", SRV_EP_OTHER);
}

void srv__notfound_register(h2o_pathconf_t *pathconf)
{
    h2o_handler_t *h = h2o_create_handler(pathconf, sizeof(*h));
    h->on_req = on_req_notfound;
}
