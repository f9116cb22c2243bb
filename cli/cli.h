/*
 * cli.h - the stsd command line: one function per subcommand, shared exit codes
 * (sysexits(3) values) and small helpers every subcommand uses.
 */
#ifndef STSD_CLI_H
#define STSD_CLI_H

#include "common/config.h"

struct db;

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
/* Path of the database inside state_dir (malloc'd). */
char *cli_db_path(const struct stsd_config *cfg);
/* Open the database of the configuration, first creating state_dir when create_dir is set;
 * on failure print why and return NULL. The caller closes it with db_close. */
struct db *cli_open_db(const struct stsd_config *cfg, int create_dir);

#endif
