/* cmd_policy_dns.c - `stsd policy dns`: the DNS records a hosted domain must publish. */
#include "cli/cmd_policy_int.h"
#include "common/common.h"
#include "policy/policy.h"
#include "sql/db.h"

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
    for (size_t i = 0; i < f.n_addr; i++) {
        if (!policy_dns_address_valid(f.addr[i])) {
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
    struct policy_dns_lines l;
    policy_dns_records(domain, id, c->cfg.n_report_paths > 0 ? c->cfg.report_paths[0] : NULL,
                       (const char *const *)f.addr, f.n_addr, (const char *const *)c->cfg.listen,
                       c->cfg.n_listen, &l);
    printf("; MTA-STS (RFC 8461) and TLS-RPT (RFC 8460) records for %s\n", domain);
    for (size_t i = 0; i < l.n; i++)
        printf("%s\n", l.v[i]);
    policy_dns_lines_free(&l);
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
