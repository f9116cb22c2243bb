/* records.c - the DNS records a hosted domain publishes (RFC 8461 §3.1 _mta-sts TXT, RFC 8460
 * §3 _smtp._tls TXT, the mta-sts host's address), in zone-file syntax, with notes where the
 * configuration cannot say the public address. */
#include "policy/policy.h"
#include "common/common.h"
#include "common/config.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void add(struct policy_dns_lines *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void add(struct policy_dns_lines *l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        abort(); /* out of memory */
    va_end(ap);
    strv_push(&l->v, &l->n, s);
    free(s);
}

/* A rua path with "," "!" ";" %-encoded (RFC 8460 §3). */
static char *escape_path(const char *s)
{
    char *out = xmalloc(strlen(s) * 3 + 1);
    size_t o = 0;
    for (; *s; s++) {
        if (*s == ',' || *s == '!' || *s == ';' || (unsigned char)*s <= 0x20 ||
            (unsigned char)*s >= 0x7f)
            o += (size_t)sprintf(out + o, "%%%02X", (unsigned char)*s);
        else
            out[o++] = *s;
    }
    out[o] = '\0';
    return out;
}

static int is_ip(const char *s, int *v6)
{
    unsigned char buf[16];
    *v6 = inet_pton(AF_INET6, s, buf) == 1;
    return *v6 || inet_pton(AF_INET, s, buf) == 1;
}

/* One A/AAAA line per distinct address. */
static void add_address(struct policy_dns_lines *l, const char *domain, const char *addr,
                        char ***seen, size_t *n_seen)
{
    for (size_t i = 0; i < *n_seen; i++)
        if (strcmp((*seen)[i], addr) == 0)
            return;
    strv_push(seen, n_seen, addr);
    int v6 = 0;
    is_ip(addr, &v6);
    add(l, "mta-sts.%s. IN %s %s", domain, v6 ? "AAAA" : "A", addr);
}

int policy_dns_address_valid(const char *s)
{
    int v6;
    return is_ip(s, &v6);
}

void policy_dns_records(const char *domain, const char *id, const char *report_path,
                        const char *const *addrs, size_t n_addrs, const char *const *listen,
                        size_t n_listen, struct policy_dns_lines *out)
{
    memset(out, 0, sizeof(*out));
    char txt[80];
    char *rpath = escape_path(report_path ? report_path : "/tlsrpt");
    char *uri = xasprintf("https://mta-sts.%s%s%s", domain, rpath[0] == '/' ? "" : "/", rpath);
    const char *rua[] = {uri};
    char *rpt = policy_rpt_txt_format(rua, 1);
    add(out, "_mta-sts.%s. IN TXT \"%s\"", domain, policy_sts_txt_format(id, txt, sizeof(txt)));
    add(out, "_smtp._tls.%s. IN TXT \"%s\"", domain, rpt);
    free(rpt);
    free(uri);
    free(rpath);
    char **seen = NULL;
    size_t n_seen = 0;
    for (size_t i = 0; i < n_addrs; i++)
        add_address(out, domain, addrs[i], &seen, &n_seen);
    char host[256], port[8];
    for (size_t i = 0; n_addrs == 0 && i < n_listen; i++) {
        int v6;
        if (config_split_hostport(listen[i], host, sizeof(host), port, sizeof(port)) != 0)
            continue;
        if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "*") == 0) {
            add(out,
                "; mta-sts.%s. IN A <public IPv4 address>  ([server] listen = %s listens on "
                "every address: fill in the public one, or use --address)",
                domain, listen[i]);
        } else if (strcmp(host, "::") == 0) {
            add(out,
                "; mta-sts.%s. IN AAAA <public IPv6 address>  ([server] listen = %s listens "
                "on every address: fill in the public one, or use --address)",
                domain, listen[i]);
        } else if (is_ip(host, &v6)) {
            add_address(out, domain, host, &seen, &n_seen);
        } else {
            add(out, "; mta-sts.%s. IN CNAME %s.  ([server] listen = %s names a host)", domain,
                host, listen[i]);
        }
        if (strcmp(port, "443") != 0)
            add(out,
                "; note: [server] listen = %s is not port 443, where senders connect; "
                "forward 443 to it",
                listen[i]);
    }
    strv_free(seen, n_seen);
}

void policy_dns_lines_free(struct policy_dns_lines *l)
{
    strv_free(l->v, l->n);
    l->v = NULL;
    l->n = 0;
}
