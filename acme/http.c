/* http.c - the ACME client's HTTPS exchange (RFC 8555 section 6): one libcurl easy handle per
 * client, the nonce pool (newNonce, Replay-Nonce of every answer, badNonce retried), the
 * headers the protocol reads, capped bodies, and the mapping of failures to acme_status. */
#include "acme/acme_int.h"
#include "common/common.h"
#include "common/trust.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The body being received, with its cap. */
struct body {
    char *buf;
    size_t len, cap;
    int too_big;
};

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct body *b = ud;
    size_t n = size * nmemb;
    /* the cap lives here: CURLOPT_MAXFILESIZE does not stop a chunked body */
    if (b->len + n > b->cap) {
        b->too_big = 1;
        return 0;
    }
    b->buf = xrealloc(b->buf, b->len + n + 1);
    memcpy(b->buf + b->len, ptr, n);
    b->len += n;
    b->buf[b->len] = '\0';
    return n;
}

int acme__is_cancelled(struct acme_client *c)
{
    return c->cancelled != NULL && c->cancelled(c->cancel_arg) != 0;
}

static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    return acme__is_cancelled(arg);
}

/* ca_file is added to the trust curl already set up (the system store), so that a CA whose
 * directory has a publicly trusted certificate keeps working when ca_file is set. */
static CURLcode on_ssl_ctx(CURL *curl, void *ssl_ctx, void *arg)
{
    struct acme_client *c = arg;
    return trust_add_ca_file(ssl_ctx, c->ca_file) == 0 ? CURLE_OK : CURLE_SSL_CACERT_BADFILE;
}

int acme__http_init(struct acme_client *c)
{
    c->curl = curl_easy_init();
    if (c->curl == NULL)
        return -1;
    CURL *h = c->curl;
    long t = c->timeout > 0 ? c->timeout : 30;
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, t);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, t);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "stsd-acme/" STSD_VERSION);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, c);
    if (c->ca_file != NULL) {
        curl_easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
        curl_easy_setopt(h, CURLOPT_SSL_CTX_DATA, c);
    }
    return 0;
}

void acme__resp_free(struct acme__resp *r)
{
    free(r->body);
    memset(r, 0, sizeof(*r));
}

void acme__fail(struct acme_error *e, enum acme_status s, const struct acme__resp *r,
                const char *step, const char *url, const char *fmt, ...)
{
    if (e == NULL)
        return;
    memset(e, 0, sizeof(*e));
    e->status = s;
    if (r != NULL) {
        e->http_status = r->status;
        e->retry_after = r->retry_after;
        snprintf(e->type, sizeof(e->type), "%s", r->type);
    }
    char what[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    char safe_url[200];
    text_escape(safe_url, sizeof(safe_url), url != NULL ? url : "", 0);
    if (snprintf(e->detail, sizeof(e->detail), "%s %s: %s", step, safe_url, what) >=
        (int)sizeof(e->detail))
        memcpy(e->detail + sizeof(e->detail) - 4, "...", 4); /* say that it was cut */
}

/* The last value of header `name` in the answer, "" when absent or longer than cap - 1. */
static void header_value(CURL *h, const char *name, char *out, size_t cap)
{
    struct curl_header *hd = NULL;
    out[0] = '\0';
    if (curl_easy_header(h, name, 0, CURLH_HEADER, -1, &hd) != CURLHE_OK)
        return;
    size_t amount = hd->amount;
    if (amount > 1 && curl_easy_header(h, name, amount - 1, CURLH_HEADER, -1, &hd) != CURLHE_OK)
        return;
    if (strlen(hd->value) < cap)
        snprintf(out, cap, "%s", hd->value);
}

/* The target of the first Link header with rel="up" (RFC 8555 section 7.4.2). */
static void link_up(CURL *h, char *out, size_t cap)
{
    struct curl_header *hd = NULL;
    out[0] = '\0';
    for (size_t i = 0; curl_easy_header(h, "Link", i, CURLH_HEADER, -1, &hd) == CURLHE_OK; i++)
        if (acme__link_target(hd->value, "up", out, cap) == 0 || i + 1 >= hd->amount)
            return;
}

/* One HTTP exchange: method "GET", "HEAD" or "POST" (with `jws`). 0 with the answer in r
 * (any status), or -1 with e filled (connect, TLS, timeout, cancelled, too big). */
static int perform(struct acme_client *c, const char *method, const char *step, const char *url,
                   const char *jws, const char *accept, size_t cap, struct acme__resp *r,
                   struct acme_error *e)
{
    CURL *h = c->curl;
    struct body b = {.cap = cap};
    struct curl_slist *hdrs = NULL;
    memset(r, 0, sizeof(*r));
    if (acme__is_cancelled(c)) {
        acme__fail(e, ACME_E_LOCAL, NULL, step, url, "cancelled");
        return -1;
    }
    c->errbuf[0] = '\0';
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(h, CURLOPT_NOBODY, strcmp(method, "HEAD") == 0 ? 1L : 0L);
    if (strcmp(method, "POST") == 0) {
        hdrs = curl_slist_append(hdrs, "Content-Type: application/jose+json");
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, jws);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(jws));
    } else if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    }
    if (accept != NULL) {
        char *a = xasprintf("Accept: %s", accept);
        hdrs = curl_slist_append(hdrs, a);
        free(a);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    CURLcode rc = curl_easy_perform(h);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hdrs);
    if (rc != CURLE_OK) {
        free(b.buf);
        if (rc == CURLE_ABORTED_BY_CALLBACK)
            acme__fail(e, ACME_E_LOCAL, NULL, step, url, "cancelled");
        else if (rc == CURLE_SSL_CACERT_BADFILE)
            acme__fail(e, ACME_E_LOCAL, NULL, step, url, "cannot load the CA file %s",
                       c->ca_file != NULL ? c->ca_file : "(system store)");
        else if (b.too_big)
            acme__fail(e, ACME_E_PROTOCOL, NULL, step, url, "the answer exceeds %zu bytes", cap);
        else
            acme__fail(e, ACME_E_NETWORK, NULL, step, url, "%s",
                       c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc));
        return -1;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    r->body = b.buf != NULL ? b.buf : xstrdup("");
    r->len = b.len;
    char nonce[ACME__NONCE_MAX], ra[64];
    header_value(h, "Replay-Nonce", nonce, sizeof(nonce));
    if (acme__nonce_ok(nonce))
        memcpy(c->nonce, nonce, sizeof(nonce));
    header_value(h, "Location", r->location, sizeof(r->location));
    header_value(h, "Retry-After", ra, sizeof(ra));
    r->retry_after = acme_retry_after(ra, (int64_t)time(NULL));
    link_up(h, r->link_up, sizeof(r->link_up));
    r->problem = r->status >= 400 && acme__parse_problem(r->body, r->len, r->type, sizeof(r->type),
                                                         r->detail, sizeof(r->detail)) == 0;
    return 0;
}

static int type_is(const struct acme__resp *r, const char *name)
{
    static const char prefix[] = "urn:ietf:params:acme:error:";
    return r->problem && strncmp(r->type, prefix, sizeof(prefix) - 1) == 0 &&
           strcmp(r->type + sizeof(prefix) - 1, name) == 0;
}

/* ACME_OK for a 2xx answer, else e filled by what the scheduler does about it, r freed. */
static enum acme_status judge(struct acme__resp *r, const char *step, const char *url,
                              struct acme_error *e)
{
    if (r->status >= 200 && r->status < 300)
        return ACME_OK;
    enum acme_status s;
    if (r->status == 429 || type_is(r, "rateLimited"))
        s = ACME_E_RATELIMIT;
    else if (r->status >= 500)
        s = ACME_E_NETWORK;
    else if (r->problem)
        s = ACME_E_CA;
    else
        s = ACME_E_PROTOCOL;
    if (r->problem)
        acme__fail(e, s, r, step, url, "HTTP %ld %s: %s", r->status, r->type, r->detail);
    else
        acme__fail(e, s, r, step, url, "HTTP %ld without a problem document", r->status);
    acme__resp_free(r);
    return s;
}

enum acme_status acme__get(struct acme_client *c, const char *step, const char *url, size_t cap,
                           struct acme__resp *r, struct acme_error *e)
{
    if (perform(c, "GET", step, url, NULL, NULL, cap, r, e) != 0)
        return e->status;
    return judge(r, step, url, e);
}

/* A nonce for the next request into c->nonce: the one held, else HEAD newNonce. */
static enum acme_status nonce_fill(struct acme_client *c, struct acme_error *e)
{
    if (c->nonce[0] != '\0')
        return ACME_OK;
    struct acme__resp r;
    if (perform(c, "HEAD", "newNonce", c->dir.new_nonce, NULL, NULL, ACME__BODY_MAX, &r, e) != 0)
        return e->status;
    enum acme_status s = judge(&r, "newNonce", c->dir.new_nonce, e);
    if (s != ACME_OK)
        return s;
    acme__resp_free(&r);
    if (c->nonce[0] == '\0') {
        acme__fail(e, ACME_E_PROTOCOL, NULL, "newNonce", c->dir.new_nonce, "no Replay-Nonce");
        return ACME_E_PROTOCOL;
    }
    return ACME_OK;
}

enum acme_status acme__post(struct acme_client *c, const char *step, const char *url,
                            const char *payload, const char *accept, size_t cap,
                            struct acme__resp *r, struct acme_error *e)
{
    for (int attempt = 0;; attempt++) {
        enum acme_status s = nonce_fill(c, e);
        if (s != ACME_OK)
            return s;
        char nonce[ACME__NONCE_MAX];
        memcpy(nonce, c->nonce, sizeof(nonce));
        c->nonce[0] = '\0'; /* a nonce is good for one request */
        char *jws = acme_jws_sign(c->key, nonce, url, c->kid[0] ? c->kid : NULL, payload);
        if (jws == NULL) {
            acme__fail(e, ACME_E_LOCAL, NULL, step, url, "cannot sign the request");
            return ACME_E_LOCAL;
        }
        int rc = perform(c, "POST", step, url, jws, accept, cap, r, e);
        free(jws);
        if (rc != 0)
            return e->status;
        /* RFC 8555 section 6.5: a badNonce answer carries a fresh nonce; retry with it */
        if (type_is(r, "badNonce") && attempt < ACME__BAD_NONCE_RETRIES) {
            acme__resp_free(r);
            continue;
        }
        return judge(r, step, url, e);
    }
}

int acme__sleep(struct acme_client *c, long seconds)
{
    struct timespec slice = {0, 100 * 1000 * 1000};
    for (long i = 0; i < seconds * 10; i++) {
        if (acme__is_cancelled(c))
            return -1;
        nanosleep(&slice, NULL);
    }
    return acme__is_cancelled(c) ? -1 : 0;
}
