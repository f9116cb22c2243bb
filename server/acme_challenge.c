/* acme_challenge.c - the ACME challenges serve answers now, shared by the scheduler's order
 * threads (which add and remove them) and the loop threads (which look them up). */
#include "server/acme_int.h"
#include "common/common.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct chal {
    enum srv_acme_chal_type type;
    char host[256];                      /* lowercased; "" for http-01 */
    char token[SRV_ACME_TOKEN_MAX + 1];  /* "" for tls-alpn-01 when none was given */
    char key_auth[SRV_ACME_KEYAUTH_MAX]; /* http-01 */
    X509 *cert;                          /* tls-alpn-01 */
    EVP_PKEY *key;
    unsigned long answered; /* tls-alpn-01 handshakes answered with cert */
    int used;
};

/* A few entries (bounded by the orders in flight): a linear scan under one mutex costs less
 * than anything cleverer, and the loop threads only come here for an ACME request. */
static struct {
    pthread_mutex_t mu;
    struct chal *v;
    size_t cap, n;
} table = {.mu = PTHREAD_MUTEX_INITIALIZER};

int srv__acme_token_valid(const char *s, size_t len)
{
    if (s == NULL || len == 0 || len > SRV_ACME_TOKEN_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return 0;
    }
    return 1;
}

static void chal_release(struct chal *c)
{
    X509_free(c->cert);
    EVP_PKEY_free(c->key);
    memset(c, 0, sizeof(*c));
}

void srv__acme_chal_fini(void)
{
    pthread_mutex_lock(&table.mu);
    for (size_t i = 0; i < table.cap; i++)
        chal_release(&table.v[i]);
    free(table.v);
    table.v = NULL;
    table.cap = table.n = 0;
    pthread_mutex_unlock(&table.mu);
}

void srv__acme_chal_init(size_t capacity)
{
    srv__acme_chal_fini();
    pthread_mutex_lock(&table.mu);
    table.v = xcalloc(capacity > 0 ? capacity : 1, sizeof(*table.v));
    table.cap = capacity > 0 ? capacity : 1;
    pthread_mutex_unlock(&table.mu);
}

static int copy_lower(char *out, size_t outsz, const char *s)
{
    size_t len = s != NULL ? strlen(s) : 0;
    if (len >= outsz)
        return -1;
    for (size_t i = 0; i < len; i++)
        out[i] = (char)((s[i] >= 'A' && s[i] <= 'Z') ? s[i] - 'A' + 'a' : s[i]);
    out[len] = '\0';
    return 0;
}

int srv__acme_chal_add(enum srv_acme_chal_type type, const char *host, const char *token,
                       const char *key_auth, X509 *cert, EVP_PKEY *key)
{
    struct chal c = {.type = type, .cert = cert, .key = key, .used = 1};
    int ok = copy_lower(c.host, sizeof(c.host), host) == 0;
    if (token != NULL) {
        size_t tl = strlen(token);
        ok = ok && srv__acme_token_valid(token, tl);
        if (ok)
            memcpy(c.token, token, tl + 1); /* case matters in a token */
    }
    if (type == SRV_ACME_HTTP01) {
        ok = ok && c.token[0] != '\0' && key_auth != NULL && strlen(key_auth) < sizeof(c.key_auth);
        if (ok)
            memcpy(c.key_auth, key_auth, strlen(key_auth) + 1);
    } else {
        ok = ok && c.host[0] != '\0' && cert != NULL && key != NULL;
    }
    pthread_mutex_lock(&table.mu);
    struct chal *slot = NULL;
    for (size_t i = 0; ok && i < table.cap && slot == NULL; i++)
        if (!table.v[i].used)
            slot = &table.v[i];
    if (slot != NULL) {
        *slot = c;
        table.n++;
    }
    pthread_mutex_unlock(&table.mu);
    if (slot == NULL) {
        chal_release(&c);
        return -1;
    }
    return 0;
}

static int same_name(const char *a, const char *b, size_t blen)
{
    return strlen(a) == blen && strncasecmp(a, b, blen) == 0;
}

void srv__acme_chal_remove(enum srv_acme_chal_type type, const char *host, const char *token)
{
    pthread_mutex_lock(&table.mu);
    for (size_t i = 0; i < table.cap; i++) {
        struct chal *c = &table.v[i];
        if (!c->used || c->type != type)
            continue;
        if (type == SRV_ACME_HTTP01 ? token != NULL && strcmp(c->token, token) == 0
                                    : host != NULL && same_name(c->host, host, strlen(host)) &&
                                          (token == NULL || strcmp(c->token, token) == 0)) {
            chal_release(c);
            table.n--;
            break;
        }
    }
    pthread_mutex_unlock(&table.mu);
}

int srv__acme_chal_http(const char *token, size_t len, char *out, size_t outsz)
{
    int r = -1;
    if (!srv__acme_token_valid(token, len))
        return -1;
    pthread_mutex_lock(&table.mu);
    for (size_t i = 0; i < table.cap; i++) {
        const struct chal *c = &table.v[i];
        if (c->used && c->type == SRV_ACME_HTTP01 && strlen(c->token) == len &&
            memcmp(c->token, token, len) == 0) {
            size_t kl = strlen(c->key_auth);
            if (kl < outsz) {
                memcpy(out, c->key_auth, kl + 1);
                r = (int)kl;
            }
            break;
        }
    }
    pthread_mutex_unlock(&table.mu);
    return r;
}

int srv__acme_chal_tls(const char *host, size_t len, X509 **cert, EVP_PKEY **key)
{
    int r = 0;
    pthread_mutex_lock(&table.mu);
    for (size_t i = 0; i < table.cap && host != NULL; i++) {
        const struct chal *c = &table.v[i];
        if (c->used && c->type == SRV_ACME_TLSALPN01 && same_name(c->host, host, len)) {
            X509_up_ref(c->cert);
            EVP_PKEY_up_ref(c->key);
            *cert = c->cert;
            *key = c->key;
            r = ++table.v[i].answered > INT_MAX ? INT_MAX : (int)table.v[i].answered;
            break;
        }
    }
    pthread_mutex_unlock(&table.mu);
    return r;
}

size_t srv__acme_chal_count(void)
{
    pthread_mutex_lock(&table.mu);
    size_t n = table.n;
    pthread_mutex_unlock(&table.mu);
    return n;
}
