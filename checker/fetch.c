/* fetch.c - the policy fetch as senders do it (RFC 8461 §3.3): HTTPS GET of
 * https://mta-sts.<domain>/.well-known/mta-sts.txt through libcurl's multi interface, pinned
 * to the addresses our resolver found, redirects never followed, the body capped. */
#include "checker/checker_int.h"
#include "common/common.h"
#include "policy/policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fetch_ctx {
    struct fetch_ctx *next, **prevp; /* run->fetches */
    struct check_domain *d;
    struct check_fetch *fe; /* the policy fetch (or one address's); NULL for a rua check */
    struct check_rua *rua;  /* NULL for the policy fetch */
    CURL *easy;
    struct curl_slist *resolve;
    char errbuf[CURL_ERROR_SIZE];
};

/* The cap lives here, not in CURLOPT_MAXFILESIZE: that does not stop a chunked body. */
static size_t on_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct check_fetch *fe = ((struct fetch_ctx *)ud)->fe;
    size_t n = size * nmemb;
    if (fe->len + n >= POLICY_MAX_BODY) {
        fe->too_big = 1;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    fe->body = xrealloc(fe->body, fe->len + n + 1);
    memcpy(fe->body + fe->len, ptr, n);
    fe->len += n;
    fe->body[fe->len] = '\0';
    return n;
}

/* An easy handle for https://host:port/... pinned (CURLOPT_RESOLVE: "host:port:addr,..." with
 * IPv6 in brackets) to the addresses our resolver found, not the system's; HTTPS only,
 * redirects not followed, verified against --ca-file or the system store. */
static struct fetch_ctx *easy_new(struct check__run *run, struct check_domain *d, const char *url,
                                  const char *host, int port, char (*addrs)[INET6_ADDRSTRLEN],
                                  size_t n_addrs)
{
    size_t cap = 64 + strlen(host) + n_addrs * (INET6_ADDRSTRLEN + 3);
    char *entry = xmalloc(cap);
    int w = snprintf(entry, cap, "%s:%d:", host, port);
    for (size_t i = 0; i < n_addrs; i++) {
        const char *ip = addrs[i];
        int v6 = strchr(ip, ':') != NULL;
        w += snprintf(entry + w, cap - (size_t)w, "%s%s%s%s", i ? "," : "", v6 ? "[" : "", ip,
                      v6 ? "]" : "");
    }
    struct fetch_ctx *f = xcalloc(1, sizeof(*f));
    f->d = d;
    f->resolve = curl_slist_append(NULL, entry);
    free(entry);
    f->easy = curl_easy_init();
    CURL *e = f->easy;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_RESOLVE, f->resolve);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)run->step_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)run->step_ms);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    if (run->opts->ca_file != NULL)
        curl_easy_setopt(e, CURLOPT_CAINFO, run->opts->ca_file);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "stsd-check/" STSD_VERSION);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, f->errbuf);
    curl_easy_setopt(e, CURLOPT_PRIVATE, f);
    f->next = run->fetches;
    if (f->next != NULL)
        f->next->prevp = &f->next;
    f->prevp = &run->fetches;
    run->fetches = f;
    return f;
}

static void fetch_add(struct check__run *run, struct check_domain *d, struct check_fetch *fe,
                      const char *host, char (*addrs)[INET6_ADDRSTRLEN], size_t n_addrs)
{
    struct fetch_ctx *f = easy_new(run, d, fe->url, host, run->https_port, addrs, n_addrs);
    f->fe = fe;
    fe->attempted = 1;
    curl_easy_setopt(f->easy, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(f->easy, CURLOPT_WRITEDATA, f);
    curl_multi_add_handle(run->multi, f->easy);
    run->n_fetch_running++;
}

/* With opts->no_private, mark the private ones of n addresses in flags (1 = skip); returns
 * how many are public. Without it, marks none and returns n. */
static size_t addrs_filter(const struct check__run *run, char (*addrs)[INET6_ADDRSTRLEN], size_t n,
                           unsigned char *flags)
{
    size_t pub = 0;
    for (size_t i = 0; i < n; i++) {
        flags[i] = run->opts->no_private && check_addr_private_ip(addrs[i]);
        pub += !flags[i];
    }
    return pub;
}

/* The addresses not flagged, copied into out. */
static size_t public_addrs(char (*addrs)[INET6_ADDRSTRLEN], size_t n, const unsigned char *flags,
                           char (*out)[INET6_ADDRSTRLEN])
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!flags[i])
            memcpy(out[k++], addrs[i], INET6_ADDRSTRLEN);
    return k;
}

void check__fetch_start(struct check__run *run, struct check_domain *d)
{
    struct check_fetch *fe = &d->fetch;
    char pub[CHECK_MAX_ADDRS][INET6_ADDRSTRLEN];
    size_t n_pub = addrs_filter(run, d->host_addrs, d->n_host_addrs, d->host_private);
    d->n_host_private = d->n_host_addrs - n_pub;
    if (n_pub == 0)
        return; /* every address is private: sts.host.private says so */
    public_addrs(d->host_addrs, d->n_host_addrs, d->host_private, pub);
    char host[300];
    snprintf(host, sizeof(host), "mta-sts.%s", d->name);
    if (run->https_port == 443)
        snprintf(fe->url, sizeof(fe->url), "https://%s/.well-known/mta-sts.txt", host);
    else
        snprintf(fe->url, sizeof(fe->url), "https://%s:%d/.well-known/mta-sts.txt", host,
                 run->https_port);
    /* As a sender would: any of the addresses. */
    fetch_add(run, d, fe, host, pub, n_pub);
    /* And each address on its own, so that one bad server behind the name shows. */
    if (d->n_host_addrs > 1) {
        fe->per_addr = xcalloc(d->n_host_addrs, sizeof(*fe->per_addr));
        fe->n_per_addr = d->n_host_addrs;
        for (size_t i = 0; i < d->n_host_addrs; i++) {
            struct check_fetch *pa = &fe->per_addr[i];
            snprintf(pa->url, sizeof(pa->url), "%s", fe->url);
            if (d->host_private[i]) {
                pa->private_skipped = 1;
                snprintf(pa->error, sizeof(pa->error), "a private address: not fetched");
                continue;
            }
            fetch_add(run, d, pa, host, &d->host_addrs[i], 1);
        }
    }
}

void check__rua_tls_start(struct check__run *run, struct check_domain *d, size_t idx)
{
    struct check_rua *r = &d->rua_hosts[idx];
    char url[400], pub[CHECK_MAX_ADDRS][INET6_ADDRSTRLEN];
    size_t n_pub = addrs_filter(run, r->addrs, r->n_addrs, r->addr_private);
    r->n_private = r->n_addrs - n_pub;
    if (n_pub == 0)
        return; /* rpt.rua.private says so */
    public_addrs(r->addrs, r->n_addrs, r->addr_private, pub);
    r->tls_attempted = 1;
    snprintf(url, sizeof(url), "https://%s:%d/", r->host, r->port);
    struct fetch_ctx *f = easy_new(run, d, url, r->host, r->port, pub, n_pub);
    f->rua = r;
    /* Connect and handshake only: a reporter's POST would fail on the same certificate. */
    curl_easy_setopt(f->easy, CURLOPT_CONNECT_ONLY, 1L);
    curl_multi_add_handle(run->multi, f->easy);
    run->n_fetch_running++;
}

static void ctx_free(struct check__run *run, struct fetch_ctx *f)
{
    *f->prevp = f->next;
    if (f->next != NULL)
        f->next->prevp = f->prevp;
    curl_multi_remove_handle(run->multi, f->easy);
    curl_easy_cleanup(f->easy);
    curl_slist_free_all(f->resolve);
    free(f);
    run->n_fetch_running--;
}

static void classify(struct check_fetch *fe, CURLcode rc, const char *errbuf)
{
    switch (rc) {
    case CURLE_OK:
        return;
    case CURLE_WRITE_ERROR:
        if (fe->too_big) {
            snprintf(fe->error, sizeof(fe->error), "the body reached %d bytes", POLICY_MAX_BODY);
            return;
        }
        break;
    case CURLE_OPERATION_TIMEDOUT:
        fe->timed_out = 1;
        break;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_INVALIDCERTSTATUS:
        fe->tls_error = 1;
        break;
    default:
        fe->connect_error = 1;
        break;
    }
    snprintf(fe->error, sizeof(fe->error), "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
}

void check__fetch_collect(struct check__run *run)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(run->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *e = msg->easy_handle;
        CURLcode rc = msg->data.result;
        struct fetch_ctx *f = NULL;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&f);
        if (f->rua != NULL) {
            f->rua->tls_done = 1;
            f->rua->tls_ok = rc == CURLE_OK;
            snprintf(f->rua->tls_error, sizeof(f->rua->tls_error), "%s",
                     f->errbuf[0] ? f->errbuf : curl_easy_strerror(rc));
            goto done;
        }
        struct check_fetch *fe = f->fe;
        long status = 0;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        fe->status = status;
        char *ct = NULL;
        if (curl_easy_getinfo(e, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct != NULL)
            snprintf(fe->content_type, sizeof(fe->content_type), "%s", ct);
        char *loc = NULL;
        if (status >= 300 && status < 400 &&
            curl_easy_getinfo(e, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK && loc != NULL)
            snprintf(fe->redirect, sizeof(fe->redirect), "%s", loc);
        curl_off_t us = 0;
        curl_easy_getinfo(e, CURLINFO_TOTAL_TIME_T, &us);
        fe->ms = (int64_t)(us / 1000);
        classify(fe, rc, f->errbuf);
        fe->done = 1;
        log_event(LOG_DEBUG, "check.fetch", "url=%s status=%ld ms=%lld curl=%d", fe->url, status,
                  (long long)fe->ms, (int)rc);
    done:
        ctx_free(run, f);
    }
}

void check__fetch_free_all(struct check__run *run)
{
    while (run->fetches != NULL)
        ctx_free(run, run->fetches);
}
