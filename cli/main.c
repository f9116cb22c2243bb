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
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"help", no_argument, NULL, 'h'},
                                         {"version", no_argument, NULL, 'V'},
                                         {NULL, 0, NULL, 0}};
    int c;
    /* '+' stops at the first non-option: the subcommand parses the rest. */
    while ((c = getopt_long(argc, argv, "+c:hV", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            cli_global_config = optarg;
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        case 'V':
            printf("stsd %s\n", STSD_VERSION);
            return 0;
        default:
            fputs(usage, stderr);
            return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[optind];
    int sub_argc = argc - optind;
    char **sub_argv = argv + optind;
    optind = 0; /* reset getopt for the subcommand (glibc: 0 re-initialises) */
    if (strcmp(cmd, "serve") == 0)
        return cmd_serve(sub_argc, sub_argv);
    if (strcmp(cmd, "policy") == 0)
        return cmd_policy(sub_argc, sub_argv);
    if (strcmp(cmd, "reports") == 0)
        return cmd_reports(sub_argc, sub_argv);
    if (strcmp(cmd, "check") == 0)
        return cmd_check(sub_argc, sub_argv);
    if (strcmp(cmd, "certs") == 0)
        return cmd_certs(sub_argc, sub_argv);
    if (strcmp(cmd, "help") == 0) {
        fputs(usage, stdout);
        return 0;
    }
    cli_error("unknown command '%s'; see 'stsd --help'", cmd);
    return EXIT_USAGE;
}
