/* cmd_policy_int.h - what the files of `stsd policy` share: the context, option parsing and
 * the messages about a policy file. */
#ifndef STSD_CMD_POLICY_INT_H
#define STSD_CMD_POLICY_INT_H

#include "cli/cli.h"
#include "hosted/hosted.h"

#include <getopt.h>
#include <stddef.h>

struct cli__policy_ctx {
    const char *config_path; /* -c given after `policy`, or NULL */
    struct stsd_config cfg;
    struct hosted *hs; /* after cli__policy_load */
};
/* Load the configuration (config_path from the command's own -c, else the one of `policy`)
 * and open the hosted state with `flags` (HOSTED_CREATE for what writes). 0 or an exit code
 * (said already). */
int cli__policy_load(struct cli__policy_ctx *c, const char *config_path, unsigned flags);

enum { CLI__OPT_JSON = 1000, CLI__OPT_MODE, CLI__OPT_MX, CLI__OPT_MAX_AGE, CLI__OPT_ADDRESS };
struct cli__policy_flags {
    int json;
    const char *mode;
    char **mx;
    size_t n_mx;
    const char *max_age;
    char **addr;
    size_t n_addr;
};
void cli__policy_flags_free(struct cli__policy_flags *f);
/*
 * Parse the options of a subcommand: `extra_long` holds the command's own options besides
 * -c and -h (NULL: none), filled into f. `arg` names the one argument it takes ("DOMAIN"), or
 * is NULL when it takes none. Returns -1 to go on (argv[optind] is the argument), else an
 * exit code (said already).
 */
int cli__policy_opts(int argc, char **argv, const char *help, const struct option *extra_long,
                     const char *arg, struct cli__policy_flags *f, const char **config);
/* Lowercase copy of a domain argument, or NULL (with a message) when it is not valid. */
char *cli__policy_domain(const char *cmd, const char *arg);
/* "file:line: reason" of the first error, into buf. */
const char *cli__policy_first_error(const char *path, const struct policy_diag *d, char *buf,
                                    size_t n);
/* "warning" / "error" */
const char *cli__policy_severity(enum policy_severity s);

/* cmd_policy_show.c, cmd_policy_dns.c (argv[0] is the command's name) */
/* What a command on the policy of one hosted DOMAIN starts from. */
struct cli__policy_target {
    struct cli__policy_flags f;
    char *domain; /* lowercased */
    char *path;   /* its policy file */
    struct hosted_policy e;
};
/*
 * The start of such a command (t zeroed): its options (lo: its own besides -c and -h), then
 * check(&t->f) when given (-1 to go on, else an exit code, said already), the DOMAIN
 * argument, the configuration and hosted state, the domain's policy. -1 to go on, else an
 * exit code (said already). Either way cli__policy_target_free(t) releases what it holds.
 */
int cli__policy_target(struct cli__policy_ctx *c, int argc, char **argv, const char *help,
                       const struct option *lo, int (*check)(const struct cli__policy_flags *f),
                       struct cli__policy_target *t);
void cli__policy_target_free(struct cli__policy_target *t);
int cli__policy_show(struct cli__policy_ctx *c, int argc, char **argv);
int cli__policy_validate(struct cli__policy_ctx *c, int argc, char **argv);
int cli__policy_dns(struct cli__policy_ctx *c, int argc, char **argv);

#endif
