/* dns.c - the checker's DNS: many libunbound queries in flight, answered from the poll loop,
 * and the parsers for MX and TXT rdata. */
#include "checker/checker_int.h"
#include "common/common.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <poll.h>
#include <sys/socket.h>
#include <unbound.h>

enum qkind { Q_MX, Q_STS, Q_RPT, Q_HOST_A, Q_HOST_AAAA, Q_MX_A, Q_MX_AAAA, Q_RUA_A, Q_RUA_AAAA };

struct dns_query {
    struct check__run *run;
    struct check_domain *d;
    enum qkind kind;
    size_t idx; /* MX or rua host index */
    int async_id;
    int pending;
    int64_t started;
};

static struct dns_answer *answer_of(struct dns_query *q)
{
    struct check_domain *d = q->d;
    switch (q->kind) {
    case Q_MX:
        return &d->mx_ans;
    case Q_STS:
        return &d->sts_ans;
    case Q_RPT:
        return &d->rpt_ans;
    case Q_HOST_A:
        return &d->host_a;
    case Q_HOST_AAAA:
        return &d->host_aaaa;
    case Q_MX_A:
        return &d->mx[q->idx].a;
    case Q_MX_AAAA:
        return &d->mx[q->idx].aaaa;
    case Q_RUA_A:
        return &d->rua_hosts[q->idx].a;
    case Q_RUA_AAAA:
        return &d->rua_hosts[q->idx].aaaa;
    }
    return NULL;
}

static void on_answer(void *arg, int err, struct ub_result *res);

static void query(struct check__run *run, struct check_domain *d, enum qkind kind, size_t idx,
                  const char *name, int rrtype)
{
    struct dns_query *q = xcalloc(1, sizeof(*q));
    q->run = run;
    q->d = d;
    q->kind = kind;
    q->idx = idx;
    q->started = check__now_ms();
    if (run->n_queries == run->cap_queries) {
        run->cap_queries = run->cap_queries ? 2 * run->cap_queries : 32;
        run->queries = xrealloc(run->queries, run->cap_queries * sizeof(*run->queries));
    }
    run->queries[run->n_queries++] = q;
    struct dns_answer *ans = answer_of(q);
    ans->status = DNS_PENDING;
    int rc = ub_resolve_async(run->ub, name, rrtype, 1 /* IN */, q, on_answer, &q->async_id);
    if (rc != 0) {
        ans->status = DNS_FAIL;
        snprintf(ans->why, sizeof(ans->why), "%s", ub_strerror(rc));
        return;
    }
    q->pending = 1;
    run->n_dns_pending++;
}

static void start_fetch_if_ready(struct check__run *run, struct check_domain *d)
{
    if (d->host_a.status == DNS_PENDING || d->host_aaaa.status == DNS_PENDING)
        return;
    if (d->n_host_addrs > 0 && !d->fetch.attempted)
        check__fetch_start(run, d);
}

struct mx_rec {
    int preference, valid;
    char *host;
};

static int mx_cmp(const void *a, const void *b)
{
    const struct mx_rec *x = a, *y = b;
    if (x->preference != y->preference)
        return x->preference < y->preference ? -1 : 1;
    return strcmp(x->host, y->host);
}

/* The MX answer: all records listed (up to CHECK_MAX_MX_LISTED), sorted by preference; the
 * first CHECK_MAX_MX distinct hosts get their addresses looked up and probed. */
static void got_mx(struct check__run *run, struct check_domain *d, struct ub_result *res)
{
    size_t n = 0;
    for (; res->data[n] != NULL; n++)
        ;
    d->n_mx_total = n;
    size_t keep = n < CHECK_MAX_MX_LISTED ? n : CHECK_MAX_MX_LISTED;
    struct mx_rec *all = xcalloc(keep ? keep : 1, sizeof(*all));
    size_t k = 0;
    for (size_t i = 0; i < keep; i++) {
        char host[1100];
        int pref, valid;
        if (check__mx_rdata_parse((const unsigned char *)res->data[i], (size_t)res->len[i], &pref,
                                  host, sizeof(host), &valid) != 0)
            continue;
        if (host[0] == '\0') {
            d->null_mx = 1;
            continue;
        }
        all[k].host = xstrdup(host);
        all[k].preference = pref;
        all[k].valid = valid;
        k++;
    }
    qsort(all, k, sizeof(*all), mx_cmp);
    /* Drop duplicates (the same host twice with different preferences keeps the first). */
    size_t u = 0;
    for (size_t i = 0; i < k; i++) {
        int dup = 0;
        for (size_t j = 0; j < u && !dup; j++)
            dup = strcmp(all[j].host, all[i].host) == 0;
        if (dup)
            free(all[i].host);
        else
            all[u++] = all[i];
    }
    d->mx_listed = xcalloc(u ? u : 1, sizeof(*d->mx_listed));
    for (size_t i = 0; i < u; i++) {
        d->mx_listed[i].preference = all[i].preference;
        d->mx_listed[i].host = all[i].host; /* ownership moves */
    }
    d->n_mx_listed = u;
    d->n_mx = u < CHECK_MAX_MX ? u : CHECK_MAX_MX;
    d->mx = xcalloc(d->n_mx ? d->n_mx : 1, sizeof(*d->mx));
    for (size_t i = 0; i < d->n_mx; i++) {
        struct check_mx *m = &d->mx[i];
        m->host = xstrdup(all[i].host);
        m->preference = all[i].preference;
        m->host_valid = all[i].valid;
        if (!m->host_valid) {
            m->a.status = m->aaaa.status = DNS_FAIL;
            snprintf(m->a.why, sizeof(m->a.why), "not a valid host name");
            continue;
        }
        query(run, d, Q_MX_A, i, m->host, 1);
        query(run, d, Q_MX_AAAA, i, m->host, 28);
    }
    free(all);
}

static void got_txt(struct check_domain *d, int rpt, struct ub_result *res)
{
    char **list = rpt ? d->rpt_txt : d->sts_txt;
    size_t *n = rpt ? &d->n_rpt_txt : &d->n_sts_txt;
    size_t *total = rpt ? &d->n_rpt_txt_total : &d->n_sts_txt_total;
    size_t *longest = rpt ? &d->rpt_txt_longest : &d->sts_txt_longest;
    for (size_t i = 0; res->data[i] != NULL; i++) {
        (*total)++;
        if (*n >= CHECK_MAX_TXT)
            continue;
        char *buf = xmalloc(CHECK_MAX_TXT_LEN);
        long l = check__txt_rdata_join((const unsigned char *)res->data[i], (size_t)res->len[i],
                                       buf, CHECK_MAX_TXT_LEN);
        if (l < 0) {
            free(buf);
            continue;
        }
        if ((size_t)l > *longest)
            *longest = (size_t)l;
        list[(*n)++] = buf;
    }
}

/* The https: rua hosts of the TLS-RPT records (host and port of each URI), so that
 * rpt.rua.https can say whether they resolve and serve a valid certificate. */
static void rua_hosts(struct check__run *run, struct check_domain *d)
{
    for (size_t i = 0; i < d->n_rpt_txt; i++) {
        const char *p = d->rpt_txt[i];
        while ((p = strstr(p, "https://")) != NULL && d->n_rua_hosts < CHECK_MAX_RUA) {
            p += 8;
            size_t l = strcspn(p, "/:,;! ");
            if (l == 0 || l > 253)
                continue;
            char host[254];
            memcpy(host, p, l);
            host[l] = '\0';
            for (char *c = host; *c; c++)
                *c = (char)tolower((unsigned char)*c);
            int port = 443;
            if (p[l] == ':') {
                char *end;
                long v = strtol(p + l + 1, &end, 10);
                if (end == p + l + 1 || v < 1 || v > 65535)
                    continue;
                port = (int)v;
            }
            if (!domain_valid(host))
                continue;
            size_t k = d->n_rua_hosts++;
            d->rua_hosts[k].host = xstrdup(host);
            d->rua_hosts[k].port = port;
            query(run, d, Q_RUA_A, k, host, 1);
            query(run, d, Q_RUA_AAAA, k, host, 28);
        }
    }
}

static void add_address(char (*list)[INET6_ADDRSTRLEN], size_t *n, const char *data, int len)
{
    char ip[INET6_ADDRSTRLEN];
    if (*n >= CHECK_MAX_ADDRS)
        return;
    if (len == 4)
        inet_ntop(AF_INET, data, ip, sizeof(ip));
    else if (len == 16)
        inet_ntop(AF_INET6, data, ip, sizeof(ip));
    else
        return;
    snprintf(list[(*n)++], INET6_ADDRSTRLEN, "%s", ip);
}

static void got_mx_addrs(struct check__run *run, struct check_domain *d, size_t idx,
                         struct ub_result *res)
{
    struct check_mx *mx = &d->mx[idx];
    for (size_t i = 0; res->data[i] != NULL; i++) {
        if (mx->n_addrs >= CHECK_MAX_ADDRS) {
            mx->n_addrs_dropped++;
            continue;
        }
        int len = res->len[i];
        if (len != 4 && len != 16)
            continue;
        struct check_addr *a = &mx->addrs[mx->n_addrs++];
        a->family = len == 4 ? AF_INET : AF_INET6;
        inet_ntop(a->family, res->data[i], a->ip, sizeof(a->ip));
        a->failed_step = SMTP_DONE;
        if (run->opts->no_private && check_addr_private_ip(a->ip)) {
            a->private_skipped = 1;
            a->probed = 1;
            snprintf(a->error, sizeof(a->error), "a private address: not probed");
            continue;
        }
        check__probe_add(run, mx, a);
    }
}

static void after_answer(struct dns_query *q, struct ub_result *res)
{
    struct check__run *run = q->run;
    struct check_domain *d = q->d;
    switch (q->kind) {
    case Q_MX:
        if (res != NULL)
            got_mx(run, d, res);
        break;
    case Q_STS:
        if (res != NULL)
            got_txt(d, 0, res);
        break;
    case Q_RPT:
        if (res != NULL) {
            got_txt(d, 1, res);
            rua_hosts(run, d);
        }
        break;
    case Q_HOST_A:
    case Q_HOST_AAAA:
        if (res != NULL)
            for (size_t i = 0; res->data[i] != NULL; i++)
                add_address(d->host_addrs, &d->n_host_addrs, res->data[i], res->len[i]);
        start_fetch_if_ready(run, d);
        break;
    case Q_MX_A:
    case Q_MX_AAAA:
        if (res != NULL)
            got_mx_addrs(run, d, q->idx, res);
        break;
    case Q_RUA_A:
    case Q_RUA_AAAA: {
        struct check_rua *r = &d->rua_hosts[q->idx];
        if (res != NULL)
            for (size_t i = 0; res->data[i] != NULL; i++)
                add_address(r->addrs, &r->n_addrs, res->data[i], res->len[i]);
        if (r->a.status != DNS_PENDING && r->aaaa.status != DNS_PENDING && r->n_addrs > 0 &&
            !r->tls_attempted)
            check__rua_tls_start(run, d, q->idx);
        break;
    }
    }
}

static void on_answer(void *arg, int err, struct ub_result *res)
{
    struct dns_query *q = arg;
    struct dns_answer *ans = answer_of(q);
    if (!q->pending) {
        /* Expired and cancelled, but the answer was already on its way. */
        if (res != NULL)
            ub_resolve_free(res);
        return;
    }
    q->pending = 0;
    q->run->n_dns_pending--;
    log_event(LOG_DEBUG, "check.dns", "domain=%s kind=%d idx=%zu ms=%lld rcode=%d", q->d->name,
              (int)q->kind, q->idx, (long long)(check__now_ms() - q->started),
              res ? res->rcode : -1);
    if (err != 0 || res == NULL) {
        ans->status = DNS_FAIL;
        snprintf(ans->why, sizeof(ans->why), "%s", ub_strerror(err));
        after_answer(q, NULL);
        if (res != NULL)
            ub_resolve_free(res);
        return;
    }
    ans->rcode = res->rcode;
    ans->secure = res->secure;
    ans->bogus = res->bogus;
    if (res->bogus) {
        ans->status = DNS_FAIL;
        snprintf(ans->why, sizeof(ans->why), "DNSSEC bogus: %s",
                 res->why_bogus ? res->why_bogus : "validation failed");
        q->run->dns_answered = 1;
        after_answer(q, NULL);
    } else if (res->rcode == 0) {
        q->run->dns_answered = 1;
        ans->status = res->havedata ? DNS_OK : DNS_NODATA;
        after_answer(q, res->havedata ? res : NULL);
    } else if (res->rcode == 3) {
        q->run->dns_answered = 1;
        ans->status = DNS_NXDOMAIN;
        after_answer(q, NULL);
    } else {
        static const char *const rcodes[] = {"NOERROR",  "FORMERR", "SERVFAIL",
                                             "NXDOMAIN", "NOTIMP",  "REFUSED"};
        ans->status = DNS_FAIL;
        if (res->rcode < 6)
            snprintf(ans->why, sizeof(ans->why), "%s", rcodes[res->rcode]);
        else
            snprintf(ans->why, sizeof(ans->why), "rcode %d", res->rcode);
        if (res->rcode != 2)
            q->run->dns_answered = 1; /* a REFUSED comes from a resolver that answered */
        after_answer(q, NULL);
    }
    ub_resolve_free(res);
}

void check__dns_start(struct check__run *run, struct check_domain *d)
{
    char name[300];
    query(run, d, Q_MX, 0, d->name, 15);
    snprintf(name, sizeof(name), "_mta-sts.%s", d->name);
    query(run, d, Q_STS, 0, name, 16);
    snprintf(name, sizeof(name), "_smtp._tls.%s", d->name);
    query(run, d, Q_RPT, 0, name, 16);
    snprintf(name, sizeof(name), "mta-sts.%s", d->name);
    query(run, d, Q_HOST_A, 0, name, 1);
    query(run, d, Q_HOST_AAAA, 0, name, 28);
}

size_t check__dns_pending(const struct check__run *run)
{
    return run->n_dns_pending;
}

void check__dns_expire(struct check__run *run, int64_t now, int all)
{
    /* Index loop: after_answer may start new queries and grow the array. */
    for (size_t i = 0; i < run->n_queries; i++) {
        struct dns_query *q = run->queries[i];
        if (!q->pending || (!all && now - q->started < run->step_ms))
            continue;
        ub_cancel(run->ub, q->async_id);
        q->pending = 0;
        run->n_dns_pending--;
        struct dns_answer *ans = answer_of(q);
        ans->status = DNS_FAIL;
        snprintf(ans->why, sizeof(ans->why), "no answer within %lld s",
                 (long long)(run->step_ms / 1000));
        after_answer(q, NULL);
    }
}

static int ping_one(const char *ip, int port, int64_t ms)
{
    struct sockaddr_storage sa;
    socklen_t salen = check__sockaddr(&sa, AF_INET, ip, port);
    if (salen == 0)
        salen = check__sockaddr(&sa, AF_INET6, ip, port);
    if (salen == 0)
        return 0;
    int fd = socket(sa.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    /* ". IN NS" with RD set: any resolver answers it somehow, if only with REFUSED. */
    unsigned char q[17] = {0, 0, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1};
    unsigned short id = (unsigned short)(check__now_ms() * 7919u);
    q[0] = (unsigned char)(id >> 8);
    q[1] = (unsigned char)id;
    int ok = 0;
    if (connect(fd, (struct sockaddr *)&sa, salen) == 0 && send(fd, q, sizeof(q), 0) == 17) {
        int64_t end = check__now_ms() + ms;
        for (int64_t now; !ok && (now = check__now_ms()) < end;) {
            struct pollfd pfd = {.fd = fd, .events = POLLIN};
            if (poll(&pfd, 1, (int)(end - now)) <= 0)
                break;
            unsigned char r[512];
            ssize_t n = recv(fd, r, sizeof(r), 0);
            if (n < 0)
                break; /* ECONNREFUSED: nothing listens there */
            ok = n >= 12 && r[0] == q[0] && r[1] == q[1] && (r[2] & 0x80);
        }
    }
    close(fd);
    return ok;
}

int check__dns_ping(const char *fwd, int64_t ms)
{
    if (fwd != NULL) {
        char ip[INET6_ADDRSTRLEN + 1];
        const char *at = strrchr(fwd, '@');
        size_t l = at ? (size_t)(at - fwd) : strlen(fwd);
        if (l >= sizeof(ip))
            return 0;
        memcpy(ip, fwd, l);
        ip[l] = '\0';
        return ping_one(ip, at ? atoi(at + 1) : 53, ms);
    }
    FILE *f = fopen("/etc/resolv.conf", "r");
    if (f == NULL)
        return 0;
    char line[256];
    int ok = 0, n = 0;
    while (!ok && n < 3 && fgets(line, sizeof(line), f) != NULL) {
        char ip[INET6_ADDRSTRLEN + 1];
        if (sscanf(line, "nameserver %46s", ip) == 1) {
            n++;
            ok = ping_one(ip, 53, ms);
        }
    }
    fclose(f);
    return ok;
}

void check__dns_free(struct check__run *run)
{
    for (size_t i = 0; i < run->n_queries; i++)
        free(run->queries[i]);
    free(run->queries);
    run->queries = NULL;
    run->n_queries = run->cap_queries = 0;
}
