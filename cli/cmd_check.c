/* cmd_check.c - 'stsd check DOMAIN...': flags, the check itself (checker/, handed what this
 * stsd hosts with -c, read-only), text or JSON out, and the exit status (0 no finding above
 * info, 1 warnings, 2 errors, 64 usage, 69 no resolver answered). */
#include "checker/checker.h"
#include "cli/cli.h"
#include "common/common.h"
#include "hosted/hosted.h"
#include "server/server.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "usage: stsd check DOMAIN... [--json] [--resolver IP[@PORT]] [--ca-file FILE]\n"
    "                  [--smtp-port N] [--https-port N] [--timeout S] [-c CONFIG]\n"
    "\n"
    "Check each domain as a sending MTA would see it: the MX records, STARTTLS and the\n"
    "certificate on every address of every MX, the _mta-sts and _smtp._tls TXT records, and\n"
    "the policy at https://mta-sts.DOMAIN/.well-known/mta-sts.txt (RFC 8461, RFC 8460).\n"
    "Everything runs in parallel. Every finding has an id, a severity, a subject and a fix.\n"
    "\n"
    "options:\n"
    "  --json               print one JSON object (see the README for its schema)\n"
    "  --resolver IP[@PORT] ask this DNS resolver (also IP:PORT, [v6]:PORT); default: the\n"
    "                       resolvers of /etc/resolv.conf\n"
    "  --ca-file FILE       trust these CA certificates (PEM) instead of the system store\n"
    "  --smtp-port N        SMTP port of every MX (default 25)\n"
    "  --https-port N       HTTPS port of the policy host (default 443)\n"
    "  --timeout S          seconds per SMTP step and for the policy fetch (default 10)\n"
    "  -c, --config FILE    also compare with what this stsd hosts (policy ids, served\n"
    "                       policy, mta-sts certificate)\n"
    "  -h, --help           this help\n"
    "\n"
    "exit: 0 no finding above info, 1 warnings only, 2 errors, 64 usage,\n"
    "      69 the check could not run (no resolver answered).\n";

static int parse_port(const char *s, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < 1 || v > 65535)
        return -1;
    *out = (int)v;
    return 0;
}

int cmd_check(int argc, char **argv)
{
    enum { O_JSON = 256, O_RESOLVER, O_CA, O_SMTP, O_HTTPS, O_TIMEOUT };
    static const struct option opts[] = {{"json", no_argument, NULL, O_JSON},
                                         {"resolver", required_argument, NULL, O_RESOLVER},
                                         {"ca-file", required_argument, NULL, O_CA},
                                         {"smtp-port", required_argument, NULL, O_SMTP},
                                         {"https-port", required_argument, NULL, O_HTTPS},
                                         {"timeout", required_argument, NULL, O_TIMEOUT},
                                         CLI_COMMON_OPTIONS,
                                         {NULL, 0, NULL, 0}};
    struct check_opts o;
    memset(&o, 0, sizeof(o));
    int json = 0, c;
    const char *config = NULL;
    char fwd[128];
    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (c) {
        case O_JSON:
            json = 1;
            break;
        case O_RESOLVER:
            if (resolver_parse(optarg, fwd, sizeof(fwd)) != 0) {
                cli_error("check: --resolver '%s' is not IP, IP@PORT or IP:PORT", optarg);
                return EXIT_USAGE;
            }
            o.resolver = optarg;
            break;
        case O_CA:
            if (access(optarg, R_OK) != 0) {
                cli_error("check: --ca-file %s cannot be read", optarg);
                return EXIT_USAGE;
            }
            o.ca_file = optarg;
            break;
        case O_SMTP:
        case O_HTTPS:
            if (parse_port(optarg, c == O_SMTP ? &o.smtp_port : &o.https_port) != 0) {
                cli_error("check: %s '%s' is not a port number (1-65535)",
                          c == O_SMTP ? "--smtp-port" : "--https-port", optarg);
                return EXIT_USAGE;
            }
            break;
        case O_TIMEOUT: {
            char *end;
            long t = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || t < 1 || t > 300) {
                cli_error("check: --timeout '%s' is not a number of seconds (1-300)", optarg);
                return EXIT_USAGE;
            }
            o.timeout = (int)t;
            break;
        }
        default: {
            int rc = cli_common_option(c, usage, &config);
            if (rc != CLI_NEXT)
                return rc;
        }
        }
    }
    if (optind >= argc) {
        cli_error("check: name at least one domain");
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    size_t n = (size_t)(argc - optind);
    if (n > CHECK_MAX_DOMAINS) {
        cli_error("check: %zu domains; at most %d per call", n, CHECK_MAX_DOMAINS);
        return EXIT_USAGE;
    }

    /* The hosted state is compared only when a configuration is named (-c here or before
     * the subcommand): a plain 'stsd check example.com' needs no file. */
    struct stsd_config cfg;
    int have_cfg = 0;
    struct hosted *h = NULL;
    if (config == NULL)
        config = cli_global_config;
    if (config != NULL) {
        int rc = cli_load_config(&cfg, config);
        if (rc != 0)
            return rc;
        have_cfg = 1;
        /* Read-only: the check leaves the database as it found it. */
        char herr[512];
        h = hosted_open(&cfg, HOSTED_READ_ONLY, herr, sizeof(herr));
        if (h == NULL) {
            cli_error("check: %s", herr);
            config_free(&cfg);
            return EXIT_CONFIG;
        }
        o.hosted_facts = srv_check_facts;
        o.hosted_ctx = h;
    }

    /* A probed server that hangs up must not kill the command (check_run blocks SIGPIPE in
     * its own thread too; this also covers writing to a closed stdout pipe quietly). */
    signal(SIGPIPE, SIG_IGN);
    struct check_result res;
    char err[512];
    int worst = check_run(&o, (const char *const *)(argv + optind), n, &res, err, sizeof(err));
    if (res.ran && json) {
        json_t *out = check_result_json(&res);
        char *s = json_dumps(out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (s != NULL) {
            fputs(s, stdout);
            fputc('\n', stdout);
            free(s);
        }
        json_decref(out);
    } else if (res.ran) {
        const char *nc = getenv("NO_COLOR");
        int color = isatty(STDOUT_FILENO) && (nc == NULL || nc[0] == '\0');
        check_print_text(stdout, &res, color);
    }
    check_result_free(&res);
    hosted_close(h);
    if (have_cfg)
        config_free(&cfg);
    fflush(stdout);
    if (worst < 0) {
        cli_error("check: %s", err);
        return EXIT_UNAVAILABLE;
    }
    return worst == CHECK_ERROR ? EXIT_ERRORS : worst == CHECK_WARNING ? EXIT_PARTIAL : 0;
}
