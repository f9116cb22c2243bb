/* cmd_serve.c - `stsd serve`: load the configuration and run the HTTPS server. */
#include "cli/cli.h"
#include "common/common.h"
#include "server/server.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const char usage[] =
    "usage: stsd serve [-c FILE]\n"
    "\n"
    "Run the HTTPS server: MTA-STS policies at https://mta-sts.<domain>/.well-known/mta-sts.txt\n"
    "for every hosted domain's policy file (RFC 8461), with the certificate of\n"
    "<cert_dir>/<hostname>.pem (or .crt + .key) chosen by SNI, TLS-RPT reports at each\n"
    "[reports] path, and the admin API on [admin] listen.\n"
    "\n"
    "Certificates: <cert_dir>/<name>.pem, or <name>.crt + <name>.key, are found by their file\n"
    "name and by their DNS subject alternative names (wildcards cover one label). A client\n"
    "that sends no SNI or an unknown name gets <cert_dir>/default.pem if it exists; without\n"
    "it the handshake is refused (unrecognized_name). Keys must be unencrypted; a key file\n"
    "readable by group or others is warned about.\n"
    "\n"
    "SIGHUP (and any change in the policy or certificate directory) reloads policies and\n"
    "certificates without dropping connections; a file that does not parse keeps its last\n"
    "good version. SIGTERM/SIGINT stop gracefully; a second one stops at once.\n"
    "\n"
    "options:\n"
    "  -c, --config FILE   configuration file (default " STSD_DEFAULT_CONFIG " if it exists)\n"
    "  -h, --help          this help\n"
    "\n"
    "exit codes: 0 stopped by SIGTERM/SIGINT, 1 forced stop (second signal),\n"
    "70 runtime error, 78 configuration error (bad file, port in use, directories).\n";

int cmd_serve(int argc, char **argv)
{
    const char *config = NULL;
    optind = 1;
    int rc = cli_parse_common(argc, argv, "c:h", usage, &config);
    if (rc != CLI_NEXT)
        return rc;
    if (optind != argc) {
        cli_error("serve: unexpected argument '%s'", argv[optind]);
        return EXIT_USAGE;
    }
    struct stsd_config cfg;
    rc = cli_load_config(&cfg, config);
    if (rc != 0)
        return rc;
    enum srv_status st = srv_run(&cfg);
    config_free(&cfg);
    switch (st) {
    case SRV_STOPPED:
        return EXIT_OK_;
    case SRV_FORCED:
        return EXIT_PARTIAL;
    case SRV_CONFIG_ERROR:
        return EXIT_CONFIG;
    default:
        return EXIT_SOFTWARE;
    }
}
