/* acme_http.c - the port-80 listener's one handler: http-01 challenge answers (RFC 8555 §8.3),
 * 404 for everything else and never a redirect. */
#include "server/server_int.h"
#include "server/acme_int.h"

#include <string.h>

static int answer(h2o_req_t *req, int status, const char *reason, const char *body, size_t len,
                  int head)
{
    static h2o_generator_t generator = {NULL, NULL};
    srv_metrics_count_request(SRV_EP_OTHER, status);
    req->res.status = status;
    req->res.reason = reason;
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("text/plain"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("no-store"));
    h2o_start_response(req, &generator);
    if (head || len == 0) {
        h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
    } else {
        h2o_iovec_t b = h2o_strdup(&req->pool, body, len);
        h2o_send(req, &b, 1, H2O_SEND_STATE_FINAL);
    }
    return 0;
}

/*
 * RFC 8555 §8.3: the CA fetches http://<name>/.well-known/acme-challenge/<token> and expects
 * the key authorization as the body. Only the tokens of challenges being answered now are
 * known; the token is checked to be base64url of a sane length before it is looked up, and
 * nothing else is ever served on this port (no redirect to HTTPS either: a CA may follow one,
 * but nobody else has business here).
 */
static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    static const char notfound[] = "not found\n";
    const char *p = req->path_normalized.base;
    size_t plen = req->path_normalized.len, pre = strlen(SRV_ACME_CHALLENGE_PATH);
    int head = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"));
    int get = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"));
    if (plen <= pre || memcmp(p, SRV_ACME_CHALLENGE_PATH, pre) != 0)
        return answer(req, 404, "Not Found", notfound, sizeof(notfound) - 1, head);
    if (!head && !get) {
        static const char body[] = "method not allowed\n";
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL,
                       H2O_STRLIT("GET, HEAD"));
        return answer(req, 405, "Method Not Allowed", body, sizeof(body) - 1, 0);
    }
    char key_auth[SRV_ACME_KEYAUTH_MAX];
    int n = srv__acme_chal_http(p + pre, plen - pre, key_auth, sizeof(key_auth));
    if (n < 0)
        return answer(req, 404, "Not Found", notfound, sizeof(notfound) - 1, head);
    return answer(req, 200, "OK", key_auth, (size_t)n, head);
}

void srv__acme_http_register(struct st_h2o_pathconf_t *pathconf)
{
    h2o_handler_t *h = h2o_create_handler(pathconf, sizeof(*h));
    h->on_req = on_req;
}
