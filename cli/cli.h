/*
 * cli.h - the stsd command line: one function per subcommand, shared exit codes
 * (sysexits(3) values) and small helpers every subcommand uses.
 */
#ifndef STSD_CLI_H
#define STSD_CLI_H

#include "common/config.h"

#include <stdio.h>

struct db;
struct hosted;

/* Exit codes (documented in the README). */
enum {
    EXIT_OK_ = 0,
    EXIT_PARTIAL = 1,      /* check: warnings only; other commands: some inputs failed */
    EXIT_ERRORS = 2,       /* check: at least one error finding */
    EXIT_USAGE = 64,       /* bad flags or arguments */
    EXIT_DATAERR = 65,     /* input data invalid (stsd policy validate on a broken file) */
    EXIT_NOINPUT = 66,     /* a named input (file, domain, report) does not exist */
    EXIT_UNAVAILABLE = 69, /* cannot run now (no resolver answered, not implemented) */
    EXIT_SOFTWARE = 70,    /* runtime error (database, I/O) */
    EXIT_TEMPFAIL = 75,    /* try again later: reports ingest could not store (an MTA retries) */
    EXIT_CONFIG = 78,      /* configuration error */
};

/* Subcommands: each parses its own flags (getopt_long, with -c/--config and --help).
 * argv[0] is the subcommand's name. They return the process exit code. */
int cmd_serve(int argc, char **argv);
int cmd_policy(int argc, char **argv);
int cmd_reports(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_certs(int argc, char **argv);

/* cmd_policy_advise.c: `stsd policy advise` (argv[0] is "advise"); config_path is a -c
 * given before the command, or NULL. Called by cmd_policy's dispatcher. */
int cmd_policy_advise(int argc, char **argv, const char *config_path);

/* main.c */
/* -c given before the subcommand ("stsd -c FILE policy list"), or NULL. */
extern const char *cli_global_config;
/* Load the configuration (path NULL = -c before the subcommand or the default path),
 * printing the one-line error on failure. Returns 0, or EXIT_CONFIG. */
int cli_load_config(struct stsd_config *cfg, const char *path);
/* Print "stsd: <message>" to stderr (printf style). */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Open the database of the configuration, first creating state_dir when create_dir is set;
 * on failure print why and return NULL. The caller closes it with db_close. */
struct db *cli_open_db(const struct stsd_config *cfg, int create_dir);
/* Load the configuration (path as cli_load_config) and open its hosted state with `flags`
 * (hosted_open). NULL with the exit code in *rc, said already; the caller frees cfg either
 * way (config_free). */
struct hosted *cli_open_hosted(struct stsd_config *cfg, const char *path, unsigned flags, int *rc);

/* cli_util.c */
/* The long options every subcommand accepts, for its struct option table: -c/--config FILE
 * and -h/--help. */
/* clang-format off */
#define CLI_COMMON_OPTIONS                                                                     \
    {"config", required_argument, NULL, 'c'}, {"help", no_argument, NULL, 'h'}
/* clang-format on */
/* "Go on parsing": what the option helpers return when the command continues. */
#define CLI_NEXT (-1)
/* A getopt_long result the subcommand did not handle itself: -c sets *config and returns
 * CLI_NEXT; -h prints usage on stdout and returns 0; anything else prints usage on stderr and
 * returns EXIT_USAGE. In a getopt loop, for every option the command does not handle:
 *     if ((rc = cli_common_option(c, usage, &config)) != CLI_NEXT) return rc; */
int cli_common_option(int c, const char *usage, const char **config);
/* The whole option loop of a command whose only flags are -c and -h (getopt_long with
 * shortopts, from optind). Returns CLI_NEXT, with optind at the first argument, or the exit
 * code. */
int cli_parse_common(int argc, char **argv, const char *shortopts, const char *usage,
                     const char **config);
/* After the options of a group (optind at the first argument): the command named by
 * argv[optind], from which sub_argc and sub_argv start, with getopt re-initialised for it;
 * returns CLI_NEXT. No command: usage on stderr, EXIT_USAGE; "help": usage on stdout, 0. */
int cli_command_args(int argc, char **argv, const char *usage, int *sub_argc, char ***sub_argv);
/* A command of a group: run gets argv from the command's name on (getopt re-initialised)
 * and the -c given before the command (or NULL). */
struct cli_command {
    const char *name;
    int (*run)(int argc, char **argv, const char *config);
};
/* A command group, argv[0] its name ("reports"): -c/-h before the command, then the command
 * of cmds (ended by a NULL name) named by the next argument; "help" prints usage. Returns
 * the exit code. */
int cli_run_group(int argc, char **argv, const char *usage, const struct cli_command *cmds);

/* cli_progress.c: when stderr is a terminal, show an ingest run's progress there (messages
 * done of total; stored, duplicate, rejected), redrawn in place at most five times a second
 * from 200 ms into the run, and ended with a newline; otherwise nothing. */
struct mail_ingest;
void cli_progress_attach(struct mail_ingest *in);
/* Call before writing a line to out (stdout or stderr) during a run with progress attached:
 * wipes the progress line when out shows on the same terminal, so that the line printed
 * starts at column 0 and the progress is drawn again below it at its next step. */
void cli_progress_clear(FILE *out);

#endif
