/* policies.c - serve's hosted state and the policy table of /.well-known/mta-sts.txt (RFC 8461). */
#include "server/server_int.h"
#include "common/common.h"
#include "hosted/hosted.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

char *srv__crlf(const char *in, size_t len, size_t *outlen)
{
    size_t extra = 0;
    for (size_t i = 0; i < len; i++)
        if (in[i] == '\n' && (i == 0 || in[i - 1] != '\r'))
            extra++;
    char *out = xmalloc(len + extra + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (in[i] == '\n' && (i == 0 || in[i - 1] != '\r'))
            out[o++] = '\r';
        out[o++] = in[i];
    }
    out[o] = '\0';
    *outlen = o;
    return out;
}

int srv__policy_host(const char *host, size_t len, char *out, size_t outsz)
{
    static const char prefix[] = "mta-sts.";
    const size_t plen = sizeof(prefix) - 1;
    if (len == 0 || host[0] == '[')
        return -1; /* an IP literal is never a policy host */
    const char *colon = memchr(host, ':', len);
    if (colon != NULL)
        len = (size_t)(colon - host);
    if (len <= plen)
        return -1;
    for (size_t i = 0; i < plen; i++) {
        char c = host[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c + 32);
        if (c != prefix[i])
            return -1;
    }
    /* The rest is the policy domain: valid, and lowercased without the trailing dot. */
    if (domain_normalise_problem(host + plen, len - plen, out, outsz) != NULL)
        return -1;
    return (int)strlen(out);
}

static const char *policy_key(const void *ctx, uint32_t i)
{
    const struct srv_policy_table *t = ctx;
    return t->items[i].domain;
}

const struct srv_policy *srv_policy_lookup(const struct srv_policy_table *t, const char *domain,
                                           size_t len)
{
    if (t == NULL)
        return NULL;
    long i = srv__hash_get(&t->index, domain, len, policy_key, t);
    return i < 0 ? NULL : &t->items[i];
}

static int cmp_policy(const void *a, const void *b)
{
    const struct srv_policy *x = a, *y = b;
    return strcmp(x->domain, y->domain);
}

/* The first error of a parse (line and message), or the read error. */
static void first_error(const struct hosted_policy *e, int *line, const char **reason)
{
    *line = 0;
    *reason = e->read_error ? e->read_error : "invalid policy";
    for (size_t i = 0; i < e->diag.n; i++) {
        if (e->diag.items[i].severity == POLICY_SEV_ERROR) {
            *line = e->diag.items[i].line;
            *reason = e->diag.items[i].message;
            return;
        }
    }
}

/* A content the previous table did not serve: say so, with its id and warnings. */
static void log_new_content(const char *file, const struct hosted_policy *e)
{
    char q1[600], q2[300];
    if (e->id[0] != '\0')
        log_event(LOG_INFO, "policy.version", "domain=%s id=%s", e->domain, e->id);
    for (size_t k = 0; k < e->diag.n; k++)
        log_event(LOG_WARN, "policy.warning", "file=%s line=%d reason=%s",
                  log_quote(q1, sizeof(q1), file), e->diag.items[k].line,
                  log_quote(q2, sizeof(q2), e->diag.items[k].message));
}

static void keep_last_good(struct srv_policy_table *t, const struct srv_policy *old)
{
    struct srv_policy *p = &t->items[t->n++];
    p->domain = xstrdup(old->domain);
    p->body = xmalloc(old->len + 1);
    memcpy(p->body, old->body, old->len + 1);
    p->len = old->len;
    memcpy(p->sha256, old->sha256, sizeof(p->sha256));
    memcpy(p->id, old->id, sizeof(p->id));
    p->mode = old->mode;
    p->stale = 1;
}

struct srv_policy_table *srv__policies_build(struct hosted *h, const struct srv_policy_table *prev)
{
    struct srv_policy_table *t = xcalloc(1, sizeof(*t));
    struct hosted_policy_list list = {0};
    char err[512], q1[600], q2[300];
    const char *dir = hosted_policy_dir(h);
    struct stat sb;
    int rc = stat(dir, &sb) != 0 && prev != NULL ? -1 : 0;
    if (rc != 0)
        snprintf(err, sizeof(err), "cannot open the policy directory %s: %s", dir, strerror(errno));
    /* HOSTED_IDS: every valid content gets its id (recorded when new, in one transaction). */
    if (rc == 0)
        rc = hosted_policy_list(h, HOSTED_IDS, &list, err, sizeof(err));
    if (rc != 0) {
        log_event(LOG_ERROR, "policy.dir",
                  "dir=%s error=%s serving=%s fix=\"check the directory exists "
                  "and is readable\"",
                  log_quote(q1, sizeof(q1), dir), log_quote(q2, sizeof(q2), err),
                  prev ? "last-good" : "none");
        if (prev != NULL) {
            /* a directory that vanished or cannot be read is not "no policies" */
            free(t);
            return NULL;
        }
    }
    t->items = xcalloc(list.n + 1, sizeof(*t->items));
    t->invalid = xcalloc(list.n + 1, sizeof(*t->invalid));
    for (size_t i = 0; i < list.n; i++) {
        const struct hosted_policy *e = &list.items[i];
        const struct srv_policy *old = srv_policy_lookup(prev, e->domain, strlen(e->domain));
        char *file = hosted_policy_file(h, e->domain);
        if (e->valid && e->text != NULL) {
            struct srv_policy *p = &t->items[t->n++];
            p->domain = xstrdup(e->domain);
            p->body = srv__crlf(e->text, e->len, &p->len);
            memcpy(p->sha256, e->sha256, sizeof(p->sha256));
            memcpy(p->id, e->id, sizeof(p->id));
            p->mode = (int)e->policy.mode;
            if (old == NULL || old->stale || memcmp(old->sha256, e->sha256, 32) != 0)
                log_new_content(file, e);
            free(file);
            continue;
        }
        int line;
        const char *reason;
        first_error(e, &line, &reason);
        struct srv_policy_invalid *inv = &t->invalid[t->n_invalid++];
        inv->domain = xstrdup(e->domain);
        inv->file = file;
        inv->line = line;
        inv->reason = xstrdup(reason);
        log_event(LOG_WARN, "policy.invalid", "file=%s line=%d reason=%s serving=%s",
                  log_quote(q1, sizeof(q1), inv->file), line, log_quote(q2, sizeof(q2), reason),
                  old ? "last-good" : "none");
        if (old != NULL)
            keep_last_good(t, old);
    }
    hosted_policy_list_free(&list);
    qsort(t->items, t->n, sizeof(*t->items), cmp_policy);
    srv__hash_init(&t->index, t->n);
    for (size_t i = 0; i < t->n; i++)
        srv__hash_put(&t->index, t->items[i].domain, (uint32_t)i, policy_key, t);
    return t;
}

void srv__policies_free(struct srv_policy_table *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->n; i++) {
        free(t->items[i].domain);
        free(t->items[i].body);
    }
    for (size_t i = 0; i < t->n_invalid; i++) {
        free(t->invalid[i].domain);
        free(t->invalid[i].file);
        free(t->invalid[i].reason);
    }
    free(t->items);
    free(t->invalid);
    srv__hash_free(&t->index);
    free(t);
}

/* The hosted state, its directories created (0750) when missing; what serve creates belongs
 * to [server] user. */
int srv__hosted_open(struct srv *s)
{
    const struct stsd_config *cfg = s->cfg;
    char err[512], q[600];
    s->hosted = hosted_open(cfg, 0, err, sizeof(err)); /* to learn the paths */
    const char *dirs[] = {cfg->state_dir, s->hosted ? hosted_policy_dir(s->hosted) : NULL,
                          s->hosted ? hosted_cert_dir(s->hosted) : NULL};
    int existed[3] = {1, 1, 1};
    for (size_t i = 0; i < 3 && s->hosted != NULL; i++) {
        struct stat sb;
        existed[i] = stat(dirs[i], &sb) == 0;
    }
    struct hosted *h = s->hosted ? hosted_open(cfg, HOSTED_CREATE, err, sizeof(err)) : NULL;
    if (h == NULL)
        log_event(LOG_ERROR, "serve.start", "error=%s", log_quote(q, sizeof(q), err));
    for (size_t i = 0; i < 3 && h != NULL; i++)
        if (!existed[i])
            srv__priv_created(dirs[i]);
    hosted_close(s->hosted);
    s->hosted = h;
    return h != NULL ? 0 : -1;
}

int srv__withdrawals_expire(struct srv *s)
{
    int n = hosted_withdrawals_expire(s->hosted, (int64_t)time(NULL));
    if (n > 0)
        log_event(LOG_INFO, "policy.withdrawn", "removed=%d", n);
    else if (n < 0)
        log_event(LOG_DEBUG, "policy.withdrawals", "error=\"the database is not available\"");
    return n;
}
