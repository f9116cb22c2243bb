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

/* Every --address must be an IPv4 or IPv6 address. -1, or EXIT_USAGE (said). */
static int check_addresses(const struct cli__policy_flags *f)
{
    for (size_t i = 0; i < f->n_addr; i++) {
        if (!policy_dns_address_valid(f->addr[i])) {
            cli_error("policy dns: --address '%s' is not an IPv4 or IPv6 address; give the "
                      "public address of the mta-sts host, e.g. --address 192.0.2.10",
                      f->addr[i]);
            return EXIT_USAGE;
        }
    }
    return -1;
}

int cli__policy_dns(struct cli__policy_ctx *c, int argc, char **argv)
{
    static const struct option lo[] = {{"address", required_argument, NULL, CLI__OPT_ADDRESS},
                                       {NULL, 0, NULL, 0}};
    struct cli__policy_target t = {0};
    char buf[512];
    int rc = cli__policy_target(c, argc, argv, usage_dns, lo, check_addresses, &t);
    if (rc >= 0)
        goto out;
    if (!t.e.valid) {
        cli_error("policy dns: the policy of %s is broken (%s); fix it first, see 'stsd policy "
                  "validate %s'",
                  t.domain, cli__policy_first_error(t.path, &t.e.diag, buf, sizeof(buf)), t.domain);
        rc = EXIT_DATAERR;
        goto out;
    }
    const char *id = t.e.id;
    if (id[0] == '\0') {
        struct db *db = hosted_db(c->hs, buf, sizeof(buf));
        cli_error("cannot record the policy version of %s: %s", t.domain, db ? db_errmsg(db) : buf);
        rc = EXIT_SOFTWARE;
        goto out;
    }
    struct policy_dns_lines l;
    policy_dns_records(t.domain, id, c->cfg.n_report_paths > 0 ? c->cfg.report_paths[0] : NULL,
                       (const char *const *)t.f.addr, t.f.n_addr,
                       (const char *const *)c->cfg.listen, c->cfg.n_listen, &l);
    printf("; MTA-STS (RFC 8461) and TLS-RPT (RFC 8460) records for %s\n", t.domain);
    for (size_t i = 0; i < l.n; i++)
        printf("%s\n", l.v[i]);
    policy_dns_lines_free(&l);
    rc = EXIT_OK_;
out:
    cli__policy_target_free(&t);
    return rc;
}
