/* cmd_policy.c - `stsd policy`: list and set the hosted policies; the shared option parsing. */
#include "cli/cmd_policy_int.h"
#include "common/common.h"
#include "policy/policy.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * Every command that reads policy files records the content of each valid file in the
 * policy versions (HOSTED_IDS), so a hand edit gets its id the first time any command (or the
 * server) sees it. Broken contents get no id: they are never served, so DNS must never
 * publish one for them. `policy set` goes through hosted_policy_put: validated, written
 * atomically, its version recorded and audited (actor "cli").
 */

static const char usage[] =
    "usage: stsd policy [-c FILE] COMMAND [ARGS...]\n"
    "\n"
    "Manage the MTA-STS policies this stsd hosts: one file <domain>.txt per domain in the\n"
    "policy directory of [server] state_dir, holding exactly the policy text.\n"
    "\n"
    "commands:\n"
    "  list [--json]                   every hosted domain: mode, max_age, mx, id, valid\n"
    "  show DOMAIN [--json]            one policy: text, id, diagnostics, version history\n"
    "  set DOMAIN --mode MODE --mx HOST [--mx HOST ...] [--max-age SECONDS]\n"
    "                                  write a policy (atomically) and print its id\n"
    "  validate FILE|DOMAIN|-          check a policy file; exit 65 when it is invalid\n"
    "  dns DOMAIN [--address IP ...]   the DNS records to publish, in zone-file syntax\n"
    "  advise DOMAIN [--json]          from reports and checks: the next step to enforce\n"
    "\n"
    "options (also accepted after the command):\n"
    "  -c, --config FILE               configuration file\n"
    "  -h, --help                      this help; 'stsd policy COMMAND --help' for one command\n";

static const char usage_list[] =
    "usage: stsd policy list [--json] [-c FILE]\n"
    "\n"
    "List every <domain>.txt in the policy directory with its mode, max_age, number of mx\n"
    "patterns, current id and whether it is valid (or the first error as file:line: reason).\n"
    "\n"
    "  --json            one JSON object {\"policies\": [...], \"skipped\": [...]}\n"
    "  -c, --config FILE configuration file\n"
    "  -h, --help        this help\n";

static const char usage_set[] =
    "usage: stsd policy set DOMAIN --mode MODE --mx HOST [--mx HOST ...] [--max-age SECONDS]\n"
    "\n"
    "Write DOMAIN's policy (RFC 8461 §3.2) to its file DOMAIN.txt atomically, audited,\n"
    "record its id and print the _mta-sts TXT record to publish.\n"
    "\n"
    "  --mode MODE        enforce, testing or none\n"
    "  --mx HOST          an MX host name or *.domain pattern; repeat for each (needed unless\n"
    "                     the mode is none)\n"
    "  --max-age SECONDS  how long senders may cache the policy: seconds (at most 31557600)\n"
    "                     or a duration like 7d; default 604800 (one week)\n"
    "  -c, --config FILE  configuration file\n"
    "  -h, --help         this help\n";

int cli__policy_load(struct cli__policy_ctx *c, const char *config_path, unsigned flags)
{
    int rc;
    c->hs = cli_open_hosted(&c->cfg, config_path ? config_path : c->config_path, flags, &rc);
    return c->hs != NULL ? 0 : rc;
}

static void ctx_free(struct cli__policy_ctx *c)
{
    hosted_close(c->hs);
    config_free(&c->cfg);
}

const char *cli__policy_first_error(const char *path, const struct policy_diag *d, char *buf,
                                    size_t n)
{
    for (size_t i = 0; i < d->n; i++) {
        if (d->items[i].severity == POLICY_SEV_ERROR) {
            snprintf(buf, n, "%s:%d: %s", path, d->items[i].line, d->items[i].message);
            return buf;
        }
    }
    snprintf(buf, n, "%s: invalid", path);
    return buf;
}

const char *cli__policy_severity(enum policy_severity s)
{
    return s == POLICY_SEV_ERROR ? "error" : "warning";
}

static json_t *mx_json(const struct policy *p)
{
    json_t *a = json_array();
    for (size_t i = 0; i < p->n_mx; i++)
        json_array_append_new(a, json_string(p->mx[i]));
    return a;
}

static void append(char ***v, size_t *n, const char *arg)
{
    *v = xrealloc(*v, (*n + 1) * sizeof(char *));
    (*v)[(*n)++] = (char *)arg;
}

static int on_flag(struct cli__policy_flags *f, int opt, const char *arg)
{
    if (opt == CLI__OPT_JSON)
        f->json = 1;
    else if (opt == CLI__OPT_MODE || opt == CLI__OPT_MAX_AGE)
        *(opt == CLI__OPT_MODE ? &f->mode : &f->max_age) = arg;
    else if (opt == CLI__OPT_MX || opt == CLI__OPT_ADDRESS)
        append(opt == CLI__OPT_MX ? &f->mx : &f->addr, opt == CLI__OPT_MX ? &f->n_mx : &f->n_addr,
               arg);
    else
        return EXIT_USAGE;
    return -1;
}

int cli__policy_opts(int argc, char **argv, const char *help, const struct option *extra_long,
                     const char *arg, struct cli__policy_flags *f, const char **config)
{
    static const struct option common[] = {CLI_COMMON_OPTIONS, {NULL, 0, NULL, 0}};
    struct option opts[16];
    size_t n = 0;
    for (; extra_long != NULL && extra_long[n].name != NULL; n++)
        opts[n] = extra_long[n];
    memcpy(opts + n, common, sizeof(common));
    optind = 0;
    opterr = 0; /* our own message names the command */
    int o;
    while ((o = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        if (o == 'c' || o == 'h') {
            int rc = cli_common_option(o, help, config);
            if (rc != CLI_NEXT)
                return rc;
        } else if (o == '?' || o == ':') {
            cli_error("policy %s: unknown option or missing argument in '%s'; see 'stsd policy "
                      "%s --help'",
                      argv[0], argv[optind - 1], argv[0]);
            return EXIT_USAGE;
        } else {
            int rc = on_flag(f, o, optarg);
            if (rc >= 0)
                return rc;
        }
    }
    if (arg == NULL && optind < argc) {
        cli_error("policy %s: unexpected argument '%s'; see 'stsd policy %s --help'", argv[0],
                  argv[optind], argv[0]);
        return EXIT_USAGE;
    }
    if (arg != NULL && argc - optind != 1) {
        cli_error("policy %s: give exactly one %s; see 'stsd policy %s --help'", argv[0], arg,
                  argv[0]);
        return EXIT_USAGE;
    }
    return -1;
}

void cli__policy_flags_free(struct cli__policy_flags *f)
{
    free(f->mx);
    free(f->addr);
}

/* One trailing dot is allowed: the absolute form a zone file uses names the same domain. */
char *cli__policy_domain(const char *cmd, const char *arg)
{
    char d[256];
    const char *why = domain_normalise_problem(arg, strlen(arg), d, sizeof(d));
    if (why != NULL) {
        cli_error("policy %s: '%s' is not a valid domain name: it %s; give the mail "
                  "domain in A-labels, e.g. example.com",
                  cmd, arg, why);
        return NULL;
    }
    return xstrdup(d);
}

/* ---- list ---------------------------------------------------------------------------- */

static json_t *list_item_json(const struct hosted_policy *e, const char *path)
{
    char buf[512];
    json_t *o = json_pack("{s:s, s:s, s:b}", "domain", e->domain, "file", path, "valid", e->valid);
    if (e->valid) {
        json_object_set_new(o, "mode", json_string(policy_mode_name(e->policy.mode)));
        json_object_set_new(o, "max_age", json_integer(e->policy.max_age));
        json_object_set_new(o, "n_mx", json_integer((json_int_t)e->policy.n_mx));
        json_object_set_new(o, "mx", mx_json(&e->policy));
    }
    json_object_set_new(o, "id", e->id[0] ? json_string(e->id) : json_null());
    if (e->text != NULL) {
        char hex[65];
        format_hex(e->sha256, 32, hex);
        json_object_set_new(o, "sha256", json_string(hex));
    }
    json_object_set_new(
        o, "error",
        e->valid ? json_null()
                 : json_string(cli__policy_first_error(path, &e->diag, buf, sizeof(buf))));
    json_object_set_new(o, "warnings", json_integer((json_int_t)e->diag.n_warnings));
    return o;
}

static void list_item_text(const struct hosted_policy *e, const char *path)
{
    char buf[512];
    if (e->valid) {
        char status[64];
        if (e->diag.n_warnings > 0)
            snprintf(status, sizeof(status), "valid (%zu warning%s)", e->diag.n_warnings,
                     e->diag.n_warnings == 1 ? "" : "s");
        else
            snprintf(status, sizeof(status), "valid");
        printf("%-32s %-8s %9ld %3zu %-17s %s\n", e->domain, policy_mode_name(e->policy.mode),
               e->policy.max_age, e->policy.n_mx, e->id[0] ? e->id : "-", status);
    } else {
        char *why = text_escape_dup(cli__policy_first_error(path, &e->diag, buf, sizeof(buf)));
        printf("%-32s %-8s %9s %3s %-17s broken: %s\n", e->domain, "-", "-", "-", "-", why);
        free(why);
    }
}

static int do_list(struct cli__policy_ctx *c, int argc, char **argv)
{
    static const struct option lo[] = {{"json", no_argument, NULL, CLI__OPT_JSON},
                                       {NULL, 0, NULL, 0}};
    struct cli__policy_flags f = {0};
    const char *config = NULL;
    int rc = cli__policy_opts(argc, argv, usage_list, lo, NULL, &f, &config);
    if (rc >= 0)
        return rc;
    if ((rc = cli__policy_load(c, config, 0)) != 0)
        return rc;
    struct hosted_policy_list l;
    char err[512];
    if (hosted_policy_list(c->hs, HOSTED_IDS, &l, err, sizeof(err)) != 0) {
        cli_error("%s", err);
        return EXIT_SOFTWARE;
    }
    json_t *arr = f.json ? json_array() : NULL;
    if (!f.json)
        printf("%-32s %-8s %9s %3s %-17s %s\n", "DOMAIN", "MODE", "MAX_AGE", "MX", "ID", "STATUS");
    for (size_t i = 0; i < l.n; i++) {
        char *path = hosted_policy_file(c->hs, l.items[i].domain);
        if (f.json)
            json_array_append_new(arr, list_item_json(&l.items[i], path));
        else
            list_item_text(&l.items[i], path);
        free(path);
    }
    const char *dir = hosted_policy_dir(c->hs);
    for (size_t i = 0; i < l.n_skipped; i++)
        cli_error("skipped %s/%s: the name is not <domain>.txt with a valid lowercase domain", dir,
                  l.skipped[i]);
    if (f.json) {
        json_t *sk = json_array();
        for (size_t i = 0; i < l.n_skipped; i++)
            json_array_append_new(sk, json_string(l.skipped[i]));
        json_t *o = json_pack("{s:s, s:o, s:o}", "dir", dir, "policies", arr, "skipped", sk);
        char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        puts(s);
        free(s);
        json_decref(o);
    }
    hosted_policy_list_free(&l);
    cli__policy_flags_free(&f);
    return EXIT_OK_;
}

/* ---- set ----------------------------------------------------------------------------- */

/* --max-age: seconds (1-10 digits) or a duration like 7d; -1 when it is neither. The range
 * is hosted_policy_compose's to check. */
static long max_age_arg(const char *s)
{
    size_t n = strlen(s);
    int64_t secs = -1;
    if (n > 0 && strspn(s, "0123456789") == n)
        return n <= 10 ? (long)strtoll(s, NULL, 10) : -1;
    return parse_duration(s, &secs) == 0 && secs <= (int64_t)POLICY_MAX_AGE_LIMIT + 1 ? (long)secs
                                                                                      : -1;
}

/* Say why the flags do not make a policy, naming the flag. */
static void set_refused(const struct cli__policy_flags *f, const char *domain, const char *field,
                        const char *err)
{
    if (strcmp(field, "max_age") == 0)
        cli_error("policy set: --max-age '%s' is not a number of seconds from 0 to 31557600 "
                  "(or a duration like 7d); 604800 (one week) is usual",
                  f->max_age);
    else if (strcmp(field, "mx") == 0 && f->n_mx == 0)
        cli_error("policy set: --mode %s needs at least one --mx HOST (the host names your MX "
                  "records point to, or *.domain patterns)",
                  f->mode);
    else if (strcmp(field, "mx") == 0)
        cli_error("policy set: --%s (e.g. --mx mail.%s or --mx '*.%s')", err, domain, domain);
    else
        cli_error("policy set: --%s", err);
}

static int do_set(struct cli__policy_ctx *c, int argc, char **argv)
{
    static const struct option lo[] = {{"mode", required_argument, NULL, CLI__OPT_MODE},
                                       {"mx", required_argument, NULL, CLI__OPT_MX},
                                       {"max-age", required_argument, NULL, CLI__OPT_MAX_AGE},
                                       {NULL, 0, NULL, 0}};
    struct cli__policy_flags f = {0};
    const char *config = NULL;
    char *domain = NULL, *text = NULL;
    int rc = cli__policy_opts(argc, argv, usage_set, lo, "DOMAIN", &f, &config);
    if (rc >= 0)
        goto out;
    rc = EXIT_USAGE;
    if ((domain = cli__policy_domain("set", argv[optind])) == NULL)
        goto out;
    if (f.mode == NULL) {
        cli_error("policy set: --mode is missing; give --mode enforce, --mode testing or "
                  "--mode none");
        goto out;
    }
    int mode = policy_mode_parse(f.mode);
    if (mode < 0) {
        cli_error("policy set: --mode '%s' is not one of enforce, testing, none (lowercase)",
                  f.mode);
        goto out;
    }
    long max_age = f.max_age != NULL ? max_age_arg(f.max_age) : 604800;
    char field[32], err[300];
    size_t len;
    if (hosted_policy_compose(mode, (const char *const *)f.mx, f.n_mx, max_age, &text, &len, field,
                              err, sizeof(err)) != 0) {
        set_refused(&f, domain, field, err);
        goto out;
    }
    if ((rc = cli__policy_load(c, config, HOSTED_CREATE)) != 0)
        goto out;
    struct hosted_put res;
    int put = hosted_policy_put(c->hs, domain, text, len, "cli", (int64_t)time(NULL), &res);
    if (put != 0) {
        cli_error("policy set: %s", res.error);
        rc = put == -1 ? EXIT_DATAERR : EXIT_SOFTWARE;
        goto out;
    }
    char txt[80];
    char *path = hosted_policy_file(c->hs, domain);
    printf("wrote %s%s\n", path,
           res.change == HOSTED_UNCHANGED ? " (content unchanged)"
           : res.new_id                   ? ""
                                          : " (a content seen before)");
    printf("id: %s\n", res.id);
    printf("publish: _mta-sts.%s. IN TXT \"%s\"\n", domain,
           policy_sts_txt_format(res.id, txt, sizeof(txt)));
    free(path);
    rc = EXIT_OK_;
out:
    free(text);
    free(domain);
    cli__policy_flags_free(&f);
    return rc;
}

/* ---- dispatch ------------------------------------------------------------------------ */

/* Each command with its context: the -c given before it, the hosted state it opens. */
static int with_ctx(int (*fn)(struct cli__policy_ctx *, int, char **), int argc, char **argv,
                    const char *config)
{
    struct cli__policy_ctx c;
    memset(&c, 0, sizeof(c));
    c.config_path = config;
    int rc = fn(&c, argc, argv);
    ctx_free(&c);
    return rc;
}

static int run_list(int argc, char **argv, const char *config)
{
    return with_ctx(do_list, argc, argv, config);
}

static int run_show(int argc, char **argv, const char *config)
{
    return with_ctx(cli__policy_show, argc, argv, config);
}

static int run_set(int argc, char **argv, const char *config)
{
    return with_ctx(do_set, argc, argv, config);
}

static int run_validate(int argc, char **argv, const char *config)
{
    return with_ctx(cli__policy_validate, argc, argv, config);
}

static int run_dns(int argc, char **argv, const char *config)
{
    return with_ctx(cli__policy_dns, argc, argv, config);
}

int cmd_policy(int argc, char **argv)
{
    static const struct cli_command cmds[] = {{"list", run_list}, {"show", run_show},
                                              {"set", run_set},   {"validate", run_validate},
                                              {"dns", run_dns},   {"advise", cmd_policy_advise},
                                              {NULL, NULL}};
    return cli_run_group(argc, argv, usage, cmds);
}
