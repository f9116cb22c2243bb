/* cmd_policy_dns.c - `stsd policy dns`: the DNS records a hosted domain must publish. */
#include "cli/cmd_policy_int.h"
#include "common/common.h"
#include "policy/policy.h"
#include "sql/db.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_dns[] =
    "usage: stsd policy dns DOMAIN [--address IP ...] [-c FILE]\n"
    "\n"
    "Print the DNS records DOMAIN must publish, in zone-file syntax: _mta-sts TXT with the\n"
    "current policy id, _smtp._tls TXT pointing at this server's first [reports] path, and\n"
    "the mta-sts host's A/AAAA records (from --address, else from [server] listen).\n"
    "\n"
    "  --address IP       the public address of the mta-sts host; repeat for IPv4 and IPv6\n"
    "  -c, --config FILE  configuration file\n"
    "  -h, --help         this help\n";

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

static void print_address(const char *domain, const char *addr, char ***seen, size_t *n_seen)
{
    for (size_t i = 0; i < *n_seen; i++) {
        if (strcmp((*seen)[i], addr) == 0)
            return;
    }
    *seen = xrealloc(*seen, (*n_seen + 1) * sizeof(char *));
    (*seen)[(*n_seen)++] = xstrdup(addr);
    unsigned char buf[16];
    int v6 = inet_pton(AF_INET6, addr, buf) == 1;
    printf("mta-sts.%s. IN %s %s\n", domain, v6 ? "AAAA" : "A", addr);
}

int cli__policy_dns(struct cli__policy_ctx *c, int argc, char **argv)
{
    static const struct option lo[] = {{"address", required_argument, NULL, CLI__OPT_ADDRESS},
                                       {NULL, 0, NULL, 0}};
    struct cli__policy_flags f = {0};
    const char *config = NULL;
    int rc = cli__policy_opts(argc, argv, usage_dns, lo, "DOMAIN", &f, &config);
    if (rc >= 0)
        goto out_flags;
    rc = EXIT_USAGE;
    unsigned char abuf[16];
    for (size_t i = 0; i < f.n_addr; i++) {
        if (inet_pton(AF_INET, f.addr[i], abuf) != 1 && inet_pton(AF_INET6, f.addr[i], abuf) != 1) {
            cli_error("policy dns: --address '%s' is not an IPv4 or IPv6 address; give the "
                      "public address of the mta-sts host, e.g. --address 192.0.2.10",
                      f.addr[i]);
            goto out_flags;
        }
    }
    char *domain = cli__policy_domain("dns", argv[optind]);
    if (domain == NULL)
        goto out_flags;
    if ((rc = cli__policy_load(c, config, 0)) != 0)
        goto out_domain;
    struct hosted_policy e;
    char *path = hosted_policy_file(c->hs, domain);
    char buf[512];
    if (hosted_policy_get(c->hs, domain, HOSTED_IDS, &e) == 0) {
        cli_error("policy dns: no policy for %s (no file %s); create one with 'stsd policy set "
                  "%s --mode ... --mx ...'",
                  domain, path, domain);
        rc = EXIT_NOINPUT;
        goto out_entry;
    }
    if (!e.valid) {
        cli_error("policy dns: the policy of %s is broken (%s); fix it first, see 'stsd policy "
                  "validate %s'",
                  domain, cli__policy_first_error(path, &e.diag, buf, sizeof(buf)), domain);
        rc = EXIT_DATAERR;
        goto out_entry;
    }
    const char *id = e.id;
    if (id[0] == '\0') {
        struct db *db = hosted_db(c->hs, buf, sizeof(buf));
        cli_error("cannot record the policy version of %s: %s", domain, db ? db_errmsg(db) : buf);
        rc = EXIT_SOFTWARE;
        goto out_entry;
    }
    char txt[80];
    char *rpath = escape_path(c->cfg.n_report_paths > 0 ? c->cfg.report_paths[0] : "/tlsrpt");
    char *uri = xasprintf("https://mta-sts.%s%s%s", domain, rpath[0] == '/' ? "" : "/", rpath);
    const char *rua[] = {uri};
    char *rpt = policy_rpt_txt_format(rua, 1);
    printf("; MTA-STS (RFC 8461) and TLS-RPT (RFC 8460) records for %s\n", domain);
    printf("_mta-sts.%s. IN TXT \"%s\"\n", domain, policy_sts_txt_format(id, txt, sizeof(txt)));
    printf("_smtp._tls.%s. IN TXT \"%s\"\n", domain, rpt);
    free(rpt);
    free(uri);
    free(rpath);
    char **seen = NULL;
    size_t n_seen = 0;
    for (size_t i = 0; i < f.n_addr; i++)
        print_address(domain, f.addr[i], &seen, &n_seen);
    for (size_t i = 0; f.n_addr == 0 && i < c->cfg.n_listen; i++) {
        char host[256], port[8];
        if (config_split_hostport(c->cfg.listen[i], host, sizeof(host), port, sizeof(port)) != 0)
            continue;
        if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "*") == 0) {
            printf("; mta-sts.%s. IN A <public IPv4 address>  ([server] listen = %s listens on "
                   "every address: fill in the public one, or use --address)\n",
                   domain, c->cfg.listen[i]);
        } else if (strcmp(host, "::") == 0) {
            printf("; mta-sts.%s. IN AAAA <public IPv6 address>  ([server] listen = %s listens "
                   "on every address: fill in the public one, or use --address)\n",
                   domain, c->cfg.listen[i]);
        } else if (inet_pton(AF_INET, host, abuf) == 1 || inet_pton(AF_INET6, host, abuf) == 1) {
            print_address(domain, host, &seen, &n_seen);
        } else {
            printf("; mta-sts.%s. IN CNAME %s.  ([server] listen = %s names a host)\n", domain,
                   host, c->cfg.listen[i]);
        }
        if (strcmp(port, "443") != 0)
            printf("; note: [server] listen = %s is not port 443, where senders connect; "
                   "forward 443 to it\n",
                   c->cfg.listen[i]);
    }
    for (size_t i = 0; i < n_seen; i++)
        free(seen[i]);
    free(seen);
    rc = EXIT_OK_;
out_entry:
    hosted_policy_clear(&e);
    free(path);
out_domain:
    free(domain);
out_flags:
    cli__policy_flags_free(&f);
    return rc;
}
