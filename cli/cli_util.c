/* cli_util.c - the option handling every subcommand shares: -c/--config and -h/--help, and the
 * dispatch of a command group ("stsd reports [-c FILE] COMMAND ..."). */
#include "cli/cli.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

int cli_common_option(int c, const char *usage, const char **config)
{
    switch (c) {
    case 'c':
        *config = optarg;
        return CLI_NEXT;
    case 'h':
        fputs(usage, stdout);
        return EXIT_OK_;
    default:
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
}

int cli_parse_common(int argc, char **argv, const char *shortopts, const char *usage,
                     const char **config)
{
    static const struct option opts[] = {CLI_COMMON_OPTIONS, {NULL, 0, NULL, 0}};
    int c, rc;
    while ((c = getopt_long(argc, argv, shortopts, opts, NULL)) != -1)
        if ((rc = cli_common_option(c, usage, config)) != CLI_NEXT)
            return rc;
    return CLI_NEXT;
}

int cli_command_args(int argc, char **argv, const char *usage, int *sub_argc, char ***sub_argv)
{
    if (optind >= argc) {
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[optind], "help") == 0) {
        fputs(usage, stdout);
        return EXIT_OK_;
    }
    *sub_argc = argc - optind;
    *sub_argv = argv + optind;
    optind = 0; /* glibc: 0 re-initialises getopt for the command */
    return CLI_NEXT;
}

int cli_run_group(int argc, char **argv, const char *usage, const struct cli_command *cmds)
{
    const char *config = NULL;
    optind = 0; /* glibc: 0 re-initialises getopt */
    /* '+': stop at the command; it parses the rest (where -c is accepted too). */
    int rc = cli_parse_common(argc, argv, "+c:h", usage, &config);
    int sub_argc;
    char **sub_argv;
    if (rc != CLI_NEXT ||
        (rc = cli_command_args(argc, argv, usage, &sub_argc, &sub_argv)) != CLI_NEXT)
        return rc;
    for (; cmds->name; cmds++)
        if (strcmp(cmds->name, sub_argv[0]) == 0)
            return cmds->run(sub_argc, sub_argv, config);
    cli_error("%s: unknown command '%s'; see 'stsd %s --help'", argv[0], sub_argv[0], argv[0]);
    return EXIT_USAGE;
}
