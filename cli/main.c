/* main.c - the stsd entry point: global flags and dispatch to subcommands. */
#include "cli/cli.h"
#include "common/common.h"
#include "hosted/hosted.h"
#include "sql/db.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *cli_global_config;

static const char usage[] =
    "usage: stsd [-c FILE] COMMAND [ARGS...]\n"
    "\n"
    "MTA-STS policy hosting, TLS-RPT report collection and self-checks.\n"
    "\n"
    "commands:\n"
    "  serve                     run the HTTPS server (policies, report intake, admin API)\n"
    "  policy  list|show|set|validate|dns|advise\n"
    "                            manage the hosted policies and the DNS records to publish\n"
    "  reports ingest|list|show|summary\n"
    "                            feed TLS-RPT reports in (files, e-mail, stdin), read them out\n"
    "  check   DOMAIN...         validate DNS, MX STARTTLS/certificates and the policy\n"
    "  certs   list|renew        the mta-sts certificates; renewals by ACME\n"
    "\n"
    "options:\n"
    "  -c, --config FILE         configuration file (default " STSD_DEFAULT_CONFIG
    " if it exists)\n"
    "  -h, --help                this help; 'stsd COMMAND --help' for a command's flags\n"
    "  -V, --version             print the version\n"
    "\n"
    "exit codes: 0 ok, 1 partial failure or warnings, 2 errors found (check), 64 usage,\n"
    "65 invalid data, 66 no such input, 69 unavailable, 70 runtime error, 75 try again later,\n"
    "78 configuration.\n";

void cli_error(const char *fmt, ...)
{
    va_list ap;
    fputs("stsd: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cli_load_config(struct stsd_config *cfg, const char *path)
{
    char err[1024];
    if (path == NULL)
        path = cli_global_config;
    if (config_load(cfg, path, err, sizeof(err)) != 0) {
        cli_error("%s", err);
        config_free(cfg);
        return EXIT_CONFIG;
    }
    log_set_level((enum log_level)cfg->log_level);
    return 0;
}

struct db *cli_open_db(const struct stsd_config *cfg, int create_dir)
{
    if (create_dir && mkdir_p(cfg->state_dir, 0750) != 0) {
        cli_error("%s: cannot create the state directory: %s", cfg->state_dir, strerror(errno));
        return NULL;
    }
    char *path = hosted_path_db(cfg);
    char err[512];
    struct db *db = db_open(path, err, sizeof(err));
    if (db == NULL)
        cli_error("%s", err);
    free(path);
    return db;
}

struct hosted *cli_open_hosted(struct stsd_config *cfg, const char *path, unsigned flags, int *rc)
{
    *rc = cli_load_config(cfg, path);
    if (*rc != 0)
        return NULL;
    char err[512];
    struct hosted *h = hosted_open(cfg, flags, err, sizeof(err));
    if (h == NULL) {
        cli_error("%s", err);
        *rc = EXIT_SOFTWARE;
    }
    return h;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS, {"version", no_argument, NULL, 'V'}, {NULL, 0, NULL, 0}};
    static const struct {
        const char *name;
        int (*run)(int argc, char **argv);
    } cmds[] = {{"serve", cmd_serve}, {"policy", cmd_policy}, {"reports", cmd_reports},
                {"check", cmd_check}, {"certs", cmd_certs}};
    int c, rc, sub_argc;
    char **sub_argv;
    /* '+' stops at the first non-option: the subcommand parses the rest. */
    while ((c = getopt_long(argc, argv, "+c:hV", opts, NULL)) != -1) {
        if (c == 'V') {
            printf("stsd %s\n", STSD_VERSION);
            return 0;
        }
        if ((rc = cli_common_option(c, usage, &cli_global_config)) != CLI_NEXT)
            return rc;
    }
    if ((rc = cli_command_args(argc, argv, usage, &sub_argc, &sub_argv)) != CLI_NEXT)
        return rc;
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
        if (strcmp(cmds[i].name, sub_argv[0]) == 0)
            return cmds[i].run(sub_argc, sub_argv);
    cli_error("unknown command '%s'; see 'stsd --help'", sub_argv[0]);
    return EXIT_USAGE;
}
