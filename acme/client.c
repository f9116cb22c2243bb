/* client.c - the ACME protocol flow (RFC 8555 section 7): directory, account, order,
 * authorizations and their challenges, finalization with a CSR, and the certificate download. */
#include "acme/acme_int.h"
#include "common/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* In the order of enum acme_status. */
static const char *const status_names[] = {"ok", "network",  "rate_limited", "challenge",
                                           "ca", "protocol", "local"};
_Static_assert(sizeof(status_names) / sizeof(status_names[0]) == ACME_E_LOCAL + 1,
               "a name for every acme_status");

const char *acme_status_name(enum acme_status s)
{
    if ((size_t)s >= sizeof(status_names) / sizeof(status_names[0]))
        return "unknown";
    return status_names[s];
}

static char *dup_or_null(const char *s)
{
    return s != NULL && *s != '\0' ? xstrdup(s) : NULL;
}

struct acme_client *acme_client_new(const struct acme_options *o, EVP_PKEY *key)
{
    if (o == NULL || o->directory == NULL || key == NULL)
        return NULL;
    struct acme_client *c = xcalloc(1, sizeof(*c));
    c->directory = xstrdup(o->directory);
    c->contact = dup_or_null(o->contact);
    c->ca_file = dup_or_null(o->ca_file);
    c->challenge = xstrdup(o->challenge != NULL ? o->challenge : "http-01");
    c->timeout = o->timeout > 0 ? o->timeout : 30;
    c->poll_max = o->poll_max > 0 ? o->poll_max : 120;
    c->cancelled = o->cancelled;
    c->cancel_arg = o->cancel_arg;
    EVP_PKEY_up_ref(key);
    c->key = key;
    c->thumbprint = acme_jwk_thumbprint(key);
    if (c->thumbprint == NULL || acme__http_init(c) != 0) {
        acme_client_free(c);
        return NULL;
    }
    return c;
}

void acme_client_free(struct acme_client *c)
{
    if (c == NULL)
        return;
    if (c->curl != NULL)
        curl_easy_cleanup(c->curl);
    EVP_PKEY_free(c->key);
    free(c->thumbprint);
    free(c->directory);
    free(c->contact);
    free(c->ca_file);
    free(c->challenge);
    free(c);
}

const char *acme_client_account_url(const struct acme_client *c)
{
    return c != NULL && c->kid[0] != '\0' ? c->kid : NULL;
}

static enum acme_status directory_fetch(struct acme_client *c, struct acme_error *e)
{
    if (c->have_dir)
        return ACME_OK;
    struct acme__resp r;
    enum acme_status s = acme__get(c, "directory", c->directory, ACME__BODY_MAX, &r, e);
    if (s != ACME_OK)
        return s;
    char err[200];
    if (acme__parse_directory(r.body, r.len, &c->dir, err, sizeof(err)) != 0) {
        acme__fail(e, ACME_E_PROTOCOL, &r, "directory", c->directory, "%s", err);
        acme__resp_free(&r);
        return ACME_E_PROTOCOL;
    }
    acme__resp_free(&r);
    c->have_dir = 1;
    return ACME_OK;
}

/* After a network failure the directory is fetched again and no nonce is kept: the CA may
 * have come back with other URLs, or anew. Returns s. */
static enum acme_status forget_on_network(struct acme_client *c, enum acme_status s)
{
    if (s == ACME_E_NETWORK) {
        c->have_dir = 0;
        c->nonce[0] = '\0';
    }
    return s;
}

static enum acme_status account(struct acme_client *c, int *created, struct acme_error *e)
{
    memset(e, 0, sizeof(*e));
    enum acme_status s = directory_fetch(c, e);
    if (s != ACME_OK)
        return s;
    json_t *p = json_pack("{s:b}", "termsOfServiceAgreed", 1);
    if (c->contact != NULL)
        json_object_set_new(p, "contact", json_pack("[s]", c->contact));
    char *payload = json_dumps(p, JSON_COMPACT);
    json_decref(p);
    struct acme__resp r;
    c->kid[0] = '\0'; /* newAccount is signed with the JWK, not a kid */
    s = acme__post(c, "newAccount", c->dir.new_account, payload, NULL, ACME__BODY_MAX, &r, e);
    free(payload);
    if (s != ACME_OK)
        return s;
    if (r.location[0] == '\0' || strncmp(r.location, "https://", 8) != 0) {
        acme__fail(e, ACME_E_PROTOCOL, &r, "newAccount", c->dir.new_account,
                   "no https account URL in Location");
        acme__resp_free(&r);
        return ACME_E_PROTOCOL;
    }
    snprintf(c->kid, sizeof(c->kid), "%s", r.location);
    if (created != NULL)
        *created = r.status == 201;
    acme__resp_free(&r);
    return ACME_OK;
}

/* POST-as-GET of an order into o. */
static enum acme_status order_get(struct acme_client *c, const char *step, const char *url,
                                  struct acme__order *o, long *retry_after, struct acme_error *e)
{
    struct acme__resp r;
    enum acme_status s = acme__post(c, step, url, NULL, NULL, ACME__BODY_MAX, &r, e);
    if (s != ACME_OK)
        return s;
    char err[200];
    if (acme__parse_order(r.body, r.len, o, err, sizeof(err)) != 0) {
        acme__fail(e, ACME_E_PROTOCOL, &r, step, url, "%s", err);
        s = ACME_E_PROTOCOL;
    }
    if (retry_after != NULL)
        *retry_after = r.retry_after;
    acme__resp_free(&r);
    return s;
}

static enum acme_status authz_get(struct acme_client *c, const char *url, struct acme__authz *a,
                                  long *retry_after, struct acme_error *e)
{
    struct acme__resp r;
    enum acme_status s = acme__post(c, "authorization", url, NULL, NULL, ACME__BODY_MAX, &r, e);
    if (s != ACME_OK)
        return s;
    char err[200];
    if (acme__parse_authz(r.body, r.len, c->challenge, a, err, sizeof(err)) != 0) {
        acme__fail(e, ACME_E_PROTOCOL, &r, "authorization", url, "%s", err);
        s = ACME_E_PROTOCOL;
    }
    if (retry_after != NULL)
        *retry_after = r.retry_after;
    acme__resp_free(&r);
    return s;
}

/* The wait before polling again: the CA's Retry-After, else one second, never past the
 * deadline. ACME_OK, else e filled: ACME_E_LOCAL when cancelled, `late` with "<step> <url>: still
 * <state> after poll_max" when the deadline has passed. */
static enum acme_status poll_wait(struct acme_client *c, time_t deadline, long retry_after,
                                  enum acme_status late, const char *step, const char *url,
                                  const char *state, struct acme_error *e)
{
    time_t now = time(NULL);
    long wait = retry_after > 0 ? retry_after : 1;
    if (wait > deadline - now)
        wait = (long)(deadline - now);
    if (now < deadline && acme__sleep(c, wait) == 0)
        return ACME_OK;
    if (acme__is_cancelled(c)) {
        acme__fail(e, ACME_E_LOCAL, NULL, step, url, "cancelled");
        return ACME_E_LOCAL;
    }
    acme__fail(e, late, NULL, step, url, "still %s after poll_max", state);
    return late;
}

/* Poll the authorization at url until it is no longer pending (bounded by poll_max). */
static enum acme_status authz_poll(struct acme_client *c, const char *url, struct acme__authz *a,
                                   struct acme_error *e)
{
    time_t deadline = time(NULL) + c->poll_max;
    for (;;) {
        long ra = 0;
        enum acme_status s = authz_get(c, url, a, &ra, e);
        if (s != ACME_OK)
            return s;
        if (a->status != ACME__S_PENDING)
            return ACME_OK;
        s = poll_wait(c, deadline, ra, ACME_E_CHALLENGE, "authorization", url, "pending", e);
        if (s != ACME_OK)
            return s;
    }
}

/* An authorization that did not become valid: the challenge's error is the reason. */
static enum acme_status authz_failed(struct acme_client *c, const char *url,
                                     const struct acme__authz *a, struct acme_error *e)
{
    acme__fail(e, ACME_E_CHALLENGE, NULL, "authorization", url, "%s %s for %s: %s", c->challenge,
               acme__state_name(a->status), a->identifier,
               a->ch_error[0] ? a->ch_error : "(no challenge error)");
    snprintf(e->type, sizeof(e->type), "%s", a->ch_type);
    return ACME_E_CHALLENGE;
}

/* Make one authorization valid: present the challenge, tell the CA, poll, clean up. */
static enum acme_status authorize(struct acme_client *c, const char *url,
                                  const struct acme_challenge_ops *ops, struct acme_error *e)
{
    struct acme__authz a;
    enum acme_status s = authz_get(c, url, &a, NULL, e);
    if (s != ACME_OK || a.status == ACME__S_VALID)
        return s;
    if (a.status != ACME__S_PENDING)
        return authz_failed(c, url, &a, e);
    char *key_auth = acme_key_authorization(c->key, a.ch_token);
    if (key_auth == NULL || ops == NULL || ops->present == NULL ||
        ops->present(ops->arg, c->challenge, a.identifier, a.ch_token, key_auth) != 0) {
        free(key_auth);
        acme__fail(e, ACME_E_LOCAL, NULL, "challenge", a.ch_url, "cannot present %s for %s",
                   c->challenge, a.identifier);
        return ACME_E_LOCAL;
    }
    free(key_auth);
    struct acme__resp r;
    s = acme__post(c, "challenge", a.ch_url, "{}", NULL, ACME__BODY_MAX, &r, e);
    if (s == ACME_OK) {
        acme__resp_free(&r);
        s = authz_poll(c, url, &a, e);
    }
    if (ops->cleanup != NULL)
        ops->cleanup(ops->arg, c->challenge, a.identifier, a.ch_token);
    if (s == ACME_OK && a.status != ACME__S_VALID)
        return authz_failed(c, url, &a, e);
    return s;
}

/* Poll the order at url while it is in `while_state` (pending or processing). */
static enum acme_status order_poll(struct acme_client *c, const char *url,
                                   enum acme__state while_state, struct acme__order *o,
                                   struct acme_error *e)
{
    time_t deadline = time(NULL) + c->poll_max;
    for (;;) {
        long ra = 0;
        enum acme_status s = order_get(c, "order", url, o, &ra, e);
        if (s != ACME_OK || o->status != while_state)
            return s;
        s = poll_wait(c, deadline, ra, ACME_E_CA, "order", url, acme__state_name(while_state), e);
        if (s != ACME_OK)
            return s;
    }
}

static enum acme_status order_state_fail(const struct acme__order *o, const char *url,
                                         enum acme__state want, struct acme_error *e)
{
    acme__fail(e, ACME_E_CA, NULL, "order", url, "%s, not %s%s%s", acme__state_name(o->status),
               acme__state_name(want), o->error[0] ? ": " : "", o->error);
    return ACME_E_CA;
}

static size_t count_certs(const char *pem)
{
    size_t n = 0;
    for (const char *p = pem; (p = strstr(p, "-----BEGIN CERTIFICATE-----")) != NULL; p++)
        n++;
    return n;
}

/* The certificate chain at url into r. A CA that sends the leaf alone and names its issuer in
 * a Link rel="up" header (RFC 8555 section 7.4.2) gets that one fetched and appended, within
 * the same cap. */
static enum acme_status chain_download(struct acme_client *c, const char *url, struct acme__resp *r,
                                       struct acme_error *e)
{
    static const char pem_chain[] = "application/pem-certificate-chain";
    enum acme_status s = acme__post(c, "certificate", url, NULL, pem_chain, ACME__CHAIN_MAX, r, e);
    if (s != ACME_OK || count_certs(r->body) != 1 || strncmp(r->link_up, "https://", 8) != 0 ||
        r->len >= ACME__CHAIN_MAX)
        return s;
    char up[ACME__URL_MAX];
    memcpy(up, r->link_up, sizeof(up));
    struct acme__resp ur;
    s = acme__post(c, "issuer", up, NULL, pem_chain, ACME__CHAIN_MAX - r->len, &ur, e);
    if (s != ACME_OK) {
        acme__resp_free(r);
        return s;
    }
    r->body = xrealloc(r->body, r->len + 1 + ur.len + 1);
    if (r->len > 0 && r->body[r->len - 1] != '\n')
        r->body[r->len++] = '\n';
    memcpy(r->body + r->len, ur.body, ur.len + 1);
    r->len += ur.len;
    acme__resp_free(&ur);
    return ACME_OK;
}

/* Finalize the order with a CSR for a new key; poll it to valid; download the chain. */
static enum acme_status finalize(struct acme_client *c, const char *host, const char *order_url,
                                 struct acme__order *o, char **chain_pem, char **key_pem,
                                 struct acme_error *e)
{
    EVP_PKEY *key = NULL;
    char *csr = NULL;
    if (acme__csr_new(host, &key, &csr) != 0) {
        acme__fail(e, ACME_E_LOCAL, NULL, "finalize", o->finalize, "cannot make a CSR");
        return ACME_E_LOCAL;
    }
    char *payload = xasprintf("{\"csr\":\"%s\"}", csr);
    free(csr);
    struct acme__resp r;
    enum acme_status s =
        acme__post(c, "finalize", o->finalize, payload, NULL, ACME__BODY_MAX, &r, e);
    free(payload);
    if (s == ACME_OK) {
        acme__resp_free(&r);
        s = order_poll(c, order_url, ACME__S_PROCESSING, o, e);
    }
    if (s == ACME_OK && o->status != ACME__S_VALID)
        s = order_state_fail(o, order_url, ACME__S_VALID, e);
    if (s == ACME_OK)
        s = chain_download(c, o->certificate, &r, e);
    if (s == ACME_OK) {
        char err[200];
        if (acme__chain_check(r.body, r.len, key, host, err, sizeof(err)) != 0) {
            acme__fail(e, ACME_E_PROTOCOL, &r, "certificate", o->certificate, "%s", err);
            s = ACME_E_PROTOCOL;
        } else {
            *key_pem = acme__key_pem(key);
            *chain_pem = r.body;
            r.body = NULL;
            if (*key_pem == NULL) {
                free(*chain_pem);
                *chain_pem = NULL;
                acme__fail(e, ACME_E_LOCAL, NULL, "certificate", o->certificate,
                           "cannot encode the key");
                s = ACME_E_LOCAL;
            }
        }
        acme__resp_free(&r);
    }
    EVP_PKEY_free(key);
    return s;
}

int acme_client_account(struct acme_client *c, int *created, struct acme_error *e)
{
    struct acme_error local;
    return forget_on_network(c, account(c, created, e != NULL ? e : &local));
}

static enum acme_status order(struct acme_client *c, const char *host,
                              const struct acme_challenge_ops *ops, char **chain_pem,
                              char **key_pem, struct acme_error *e)
{
    memset(e, 0, sizeof(*e));
    *chain_pem = NULL;
    *key_pem = NULL;
    if (host == NULL || !domain_valid(host)) {
        acme__fail(e, ACME_E_LOCAL, NULL, "newOrder", host != NULL ? host : "(none)",
                   "not a host name");
        return ACME_E_LOCAL;
    }
    enum acme_status s = ACME_OK;
    if (c->kid[0] == '\0' && (s = account(c, NULL, e)) != ACME_OK)
        return s;
    json_t *p = json_pack("{s:[{s:s,s:s}]}", "identifiers", "type", "dns", "value", host);
    char *payload = json_dumps(p, JSON_COMPACT);
    json_decref(p);
    struct acme__resp r;
    s = acme__post(c, "newOrder", c->dir.new_order, payload, NULL, ACME__BODY_MAX, &r, e);
    if (s == ACME_E_CA && strcmp(e->type, "urn:ietf:params:acme:error:accountDoesNotExist") == 0 &&
        (s = account(c, NULL, e)) == ACME_OK)
        /* the CA forgot the account (a test CA restarted): the same key registers it again */
        s = acme__post(c, "newOrder", c->dir.new_order, payload, NULL, ACME__BODY_MAX, &r, e);
    free(payload);
    if (s != ACME_OK)
        return s;
    struct acme__order o;
    char err[200], order_url[ACME__URL_MAX];
    snprintf(order_url, sizeof(order_url), "%s", r.location);
    if (strncmp(order_url, "https://", 8) != 0)
        snprintf(err, sizeof(err), "no https order URL in Location");
    if (strncmp(order_url, "https://", 8) != 0 ||
        acme__parse_order(r.body, r.len, &o, err, sizeof(err)) != 0) {
        acme__fail(e, ACME_E_PROTOCOL, &r, "newOrder", c->dir.new_order, "%s", err);
        acme__resp_free(&r);
        return ACME_E_PROTOCOL;
    }
    acme__resp_free(&r);
    for (size_t i = 0; i < o.n_authz && s == ACME_OK; i++)
        s = authorize(c, o.authz[i], ops, e);
    if (s != ACME_OK)
        return s;
    /* the CA may take a moment to see the order ready once its authorizations are valid */
    s = order_poll(c, order_url, ACME__S_PENDING, &o, e);
    if (s != ACME_OK)
        return s;
    if (o.status != ACME__S_READY)
        return order_state_fail(&o, order_url, ACME__S_READY, e);
    return finalize(c, host, order_url, &o, chain_pem, key_pem, e);
}

enum acme_status acme_order(struct acme_client *c, const char *host,
                            const struct acme_challenge_ops *ops, char **chain_pem, char **key_pem,
                            struct acme_error *e)
{
    struct acme_error local;
    return forget_on_network(c, order(c, host, ops, chain_pem, key_pem, e != NULL ? e : &local));
}
