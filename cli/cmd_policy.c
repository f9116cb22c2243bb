/* cmd_policy.c - `stsd policy`: list, show, set, validate the hosted policies; print DNS. */
#include "cli/cli.h"
#include "common/common.h"
#include "policy/policy.h"
#include "sql/db.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/*
 * Every command that reads policy files records the content of each valid file in
 * policy_versions (via db_policy_version_record), so a hand edit gets its id the first time
 * any command (or the server) sees it. Broken contents get no id: they are never served, so
 * DNS must never publish one for them.
 */

static const char usage[] =
    "usage: stsd policy [-c FILE] COMMAND [ARGS...]\n"
    "\n"
    "Manage the MTA-STS policies this stsd hosts (<state_dir>/policies/<domain>.txt).\n"
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
    "List every <domain>.txt in <state_dir>/policies with its mode, max_age, number of mx\n"
    "patterns, current id and whether it is valid (or the first error as file:line: reason).\n"
    "\n"
    "  --json            one JSON object {\"policies\": [...], \"skipped\": [...]}\n"
    "  -c, --config FILE configuration file\n"
    "  -h, --help        this help\n";

static const char usage_show[] =
    "usage: stsd policy show DOMAIN [--json] [-c FILE]\n"
    "\n"
    "Show one domain's policy: its text, id, diagnostics and the history of its versions.\n"
    "Exit 66 when the domain has no policy file.\n"
    "\n"
    "  --json            one JSON object\n"
    "  -c, --config FILE configuration file\n"
    "  -h, --help        this help\n";

static const char usage_set[] =
    "usage: stsd policy set DOMAIN --mode MODE --mx HOST [--mx HOST ...] [--max-age SECONDS]\n"
    "\n"
    "Write DOMAIN's policy (RFC 8461 §3.2) to <state_dir>/policies/DOMAIN.txt atomically,\n"
    "record its id and print the _mta-sts TXT record to publish.\n"
    "\n"
    "  --mode MODE        enforce, testing or none\n"
    "  --mx HOST          an MX host name or *.domain pattern; repeat for each (needed unless\n"
    "                     the mode is none)\n"
    "  --max-age SECONDS  how long senders may cache the policy: seconds (at most 31557600)\n"
    "                     or a duration like 7d; default 604800 (one week)\n"
    "  -c, --config FILE  configuration file\n"
    "  -h, --help         this help\n";

static const char usage_validate[] =
    "usage: stsd policy validate FILE|DOMAIN|- [-c FILE]\n"
    "\n"
    "Check a policy file (a path, a hosted DOMAIN's file, or - for standard input, e.g. a\n"
    "fetched policy) and print every diagnostic as\n"
    "FILE:LINE: error|warning: message. Exit 0 when valid (warnings allowed), 65 when\n"
    "invalid, 66 when the file or domain does not exist.\n"
    "\n"
    "  -c, --config FILE  configuration file\n"
    "  -h, --help         this help\n";

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

struct ctx {
    const char *config_path; /* -c given after `policy`, or NULL */
    struct stsd_config cfg;
    char *dir; /* <state_dir>/policies */
    struct db *db;
    int db_failed;
};

static int load(struct ctx *c, const char *config_path)
{
    int rc = cli_load_config(&c->cfg, config_path ? config_path : c->config_path);
    if (rc != 0)
        return rc;
    c->dir = xasprintf("%s/policies", c->cfg.state_dir);
    return 0;
}

static void ctx_free(struct ctx *c)
{
    db_close(c->db);
    free(c->dir);
    config_free(&c->cfg);
}

/* The database, opened on first use; NULL (said once) when it cannot be opened. */
static struct db *ctx_db(struct ctx *c, int create)
{
    if (c->db != NULL || c->db_failed)
        return c->db;
    if (create && mkdir_p(c->cfg.state_dir, 0755) != 0) {
        cli_error("cannot create the state directory %s: %s", c->cfg.state_dir, strerror(errno));
        c->db_failed = 1;
        return NULL;
    }
    char *path = cli_db_path(&c->cfg);
    char err[512];
    c->db = db_open(path, err, sizeof(err));
    if (c->db == NULL) {
        cli_error("cannot open the database %s: %s", path, err);
        c->db_failed = 1;
    }
    free(path);
    return c->db;
}

/* The id of a valid entry's content, recording it when new. 0, or -1 (no database). */
static int entry_id(struct ctx *c, const struct policy_store_entry *e, char id[33], int *is_new)
{
    int dummy;
    if (is_new == NULL)
        is_new = &dummy;
    *is_new = 0;
    id[0] = '\0';
    if (!e->valid)
        return -1;
    struct db *db = ctx_db(c, 0);
    if (db == NULL)
        return -1;
    if (db_policy_version_record(db, e->domain, e->sha256, (int64_t)time(NULL), id, is_new) != 0) {
        cli_error("cannot record the policy version of %s: %s", e->domain, db_errmsg(db));
        return -1;
    }
    return 0;
}

/* "file:line: reason" of the first error, into buf. */
static const char *first_error(const char *path, const struct policy_diag *d, char *buf, size_t n)
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

/* One line of a policy file, with control characters and what is not UTF-8 shown as escapes
 * (a hand-edited file must not send escape sequences to the terminal). */
static void print_line(const char *s, size_t n)
{
    char *line = xstrndup(s, n);
    char *e = text_escape_dup(line);
    puts(e);
    free(e);
    free(line);
}

static const char *const sev_names[] = {"", "warning", "error"};

static json_t *diag_json(const struct policy_diag *d)
{
    json_t *a = json_array();
    for (size_t i = 0; i < d->n; i++) {
        json_array_append_new(a, json_pack("{s:i, s:s, s:s}", "line", d->items[i].line, "severity",
                                           sev_names[d->items[i].severity], "message",
                                           d->items[i].message));
    }
    return a;
}

static json_t *mx_json(const struct policy *p)
{
    json_t *a = json_array();
    for (size_t i = 0; i < p->n_mx; i++)
        json_array_append_new(a, json_string(p->mx[i]));
    return a;
}

static void print_json(json_t *j)
{
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    puts(s);
    free(s);
    json_decref(j);
}

/*
 * Parse the options of a subcommand. `shortopts`/`longopts` hold the command's own options
 * besides -c and -h; `handle` gets each of them. Returns -1 to go on, else an exit code.
 */
typedef int (*opt_fn)(void *st, int opt, const char *arg);

static int parse_opts(int argc, char **argv, const char *help, const char *extra_short,
                      const struct option *extra_long, opt_fn handle, void *st, const char **config)
{
    struct option opts[16];
    size_t n = 0;
    for (; extra_long != NULL && extra_long[n].name != NULL; n++)
        opts[n] = extra_long[n];
    opts[n++] = (struct option){"config", required_argument, NULL, 'c'};
    opts[n++] = (struct option){"help", no_argument, NULL, 'h'};
    opts[n] = (struct option){NULL, 0, NULL, 0};
    char shortopts[32];
    snprintf(shortopts, sizeof(shortopts), "c:h%s", extra_short);
    optind = 0;
    opterr = 0; /* our own message names the command */
    int o;
    while ((o = getopt_long(argc, argv, shortopts, opts, NULL)) != -1) {
        if (o == 'c') {
            *config = optarg;
        } else if (o == 'h') {
            fputs(help, stdout);
            return EXIT_OK_;
        } else if (o == '?' || o == ':') {
            cli_error("policy %s: unknown option or missing argument in '%s'; see 'stsd policy "
                      "%s --help'",
                      argv[0], argv[optind - 1], argv[0]);
            return EXIT_USAGE;
        } else {
            int rc = handle(st, o, optarg);
            if (rc >= 0)
                return rc;
        }
    }
    return -1;
}

enum { OPT_JSON = 1000, OPT_MODE, OPT_MX, OPT_MAX_AGE, OPT_ADDRESS };

struct flags {
    int json;
    const char *mode;
    char **mx;
    size_t n_mx;
    const char *max_age;
    char **addr;
    size_t n_addr;
};

static int on_flag(void *st, int opt, const char *arg)
{
    struct flags *f = st;
    switch (opt) {
    case OPT_JSON:
        f->json = 1;
        break;
    case OPT_MODE:
        f->mode = arg;
        break;
    case OPT_MX:
        f->mx = xrealloc(f->mx, (f->n_mx + 1) * sizeof(char *));
        f->mx[f->n_mx++] = (char *)arg;
        break;
    case OPT_MAX_AGE:
        f->max_age = arg;
        break;
    case OPT_ADDRESS:
        f->addr = xrealloc(f->addr, (f->n_addr + 1) * sizeof(char *));
        f->addr[f->n_addr++] = (char *)arg;
        break;
    default:
        return EXIT_USAGE;
    }
    return -1;
}

static void flags_free(struct flags *f)
{
    free(f->mx);
    free(f->addr);
}

/* Lowercase copy of a domain argument (one trailing dot allowed: the absolute form a zone
 * file uses names the same domain), or NULL (with a message) when it is not valid. */
static char *domain_arg(const char *cmd, const char *arg)
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

static int do_list(struct ctx *c, int argc, char **argv)
{
    static const struct option lo[] = {{"json", no_argument, NULL, OPT_JSON}, {NULL, 0, NULL, 0}};
    struct flags f = {0};
    const char *config = NULL;
    int rc = parse_opts(argc, argv, usage_list, "", lo, on_flag, &f, &config);
    if (rc >= 0)
        return rc;
    if (optind < argc) {
        cli_error("policy list: unexpected argument '%s'; see 'stsd policy list --help'",
                  argv[optind]);
        return EXIT_USAGE;
    }
    if ((rc = load(c, config)) != 0)
        return rc;
    struct policy_store_list l;
    char err[512];
    if (policy_store_load(c->dir, &l, err, sizeof(err)) != 0) {
        if (errno != ENOENT) {
            cli_error("%s", err);
            return EXIT_SOFTWARE;
        }
        /* No policy directory yet: nothing hosted. */
        memset(&l, 0, sizeof(l));
    }
    json_t *arr = f.json ? json_array() : NULL;
    if (!f.json)
        printf("%-32s %-8s %9s %3s %-17s %s\n", "DOMAIN", "MODE", "MAX_AGE", "MX", "ID", "STATUS");
    /* One transaction for all the new versions: 10,000 domains record in well under a
     * second instead of one commit each. */
    struct db *db = l.n > 0 ? ctx_db(c, 0) : NULL;
    int in_tx = db != NULL && db_begin(db) == 0;
    for (size_t i = 0; i < l.n; i++) {
        struct policy_store_entry *e = &l.items[i];
        char *path = policy_store_path(c->dir, e->domain);
        char id[33], buf[512];
        int have_id = entry_id(c, e, id, NULL) == 0;
        if (f.json) {
            json_t *o =
                json_pack("{s:s, s:s, s:b}", "domain", e->domain, "file", path, "valid", e->valid);
            if (e->valid) {
                json_object_set_new(o, "mode", json_string(policy_mode_name(e->policy.mode)));
                json_object_set_new(o, "max_age", json_integer(e->policy.max_age));
                json_object_set_new(o, "n_mx", json_integer((json_int_t)e->policy.n_mx));
                json_object_set_new(o, "mx", mx_json(&e->policy));
            }
            json_object_set_new(o, "id", have_id ? json_string(id) : json_null());
            if (e->text != NULL) {
                char hex[65];
                format_hex(e->sha256, 32, hex);
                json_object_set_new(o, "sha256", json_string(hex));
            }
            json_object_set_new(o, "error",
                                e->valid
                                    ? json_null()
                                    : json_string(first_error(path, &e->diag, buf, sizeof(buf))));
            json_object_set_new(o, "warnings", json_integer((json_int_t)e->diag.n_warnings));
            json_array_append_new(arr, o);
        } else if (e->valid) {
            char status[64];
            if (e->diag.n_warnings > 0)
                snprintf(status, sizeof(status), "valid (%zu warning%s)", e->diag.n_warnings,
                         e->diag.n_warnings == 1 ? "" : "s");
            else
                snprintf(status, sizeof(status), "valid");
            printf("%-32s %-8s %9ld %3zu %-17s %s\n", e->domain, policy_mode_name(e->policy.mode),
                   e->policy.max_age, e->policy.n_mx, have_id ? id : "-", status);
        } else {
            char *why = text_escape_dup(first_error(path, &e->diag, buf, sizeof(buf)));
            printf("%-32s %-8s %9s %3s %-17s broken: %s\n", e->domain, "-", "-", "-", "-", why);
            free(why);
        }
        free(path);
    }
    if (in_tx && db_commit(db) != 0)
        cli_error("cannot record the policy versions: %s", db_errmsg(db));
    for (size_t i = 0; i < l.n_skipped; i++)
        cli_error("skipped %s/%s: the name is not <domain>.txt with a valid lowercase domain",
                  c->dir, l.skipped[i]);
    if (f.json) {
        json_t *sk = json_array();
        for (size_t i = 0; i < l.n_skipped; i++)
            json_array_append_new(sk, json_string(l.skipped[i]));
        print_json(json_pack("{s:s, s:o, s:o}", "dir", c->dir, "policies", arr, "skipped", sk));
    }
    policy_store_list_free(&l);
    flags_free(&f);
    return EXIT_OK_;
}

/* ---- show ---------------------------------------------------------------------------- */

static int do_show(struct ctx *c, int argc, char **argv)
{
    static const struct option lo[] = {{"json", no_argument, NULL, OPT_JSON}, {NULL, 0, NULL, 0}};
    struct flags f = {0};
    const char *config = NULL;
    int rc = parse_opts(argc, argv, usage_show, "", lo, on_flag, &f, &config);
    if (rc >= 0)
        return rc;
    if (argc - optind != 1) {
        cli_error("policy show: give exactly one DOMAIN; see 'stsd policy show --help'");
        return EXIT_USAGE;
    }
    char *domain = domain_arg("show", argv[optind]);
    if (domain == NULL)
        return EXIT_USAGE;
    if ((rc = load(c, config)) != 0) {
        free(domain);
        return rc;
    }
    struct policy_store_entry e;
    char *path = policy_store_path(c->dir, domain);
    if (policy_store_load_one(c->dir, domain, &e) != 0 && errno == ENOENT) {
        cli_error("policy show: no policy for %s (no file %s); create one with 'stsd policy "
                  "set %s --mode ... --mx ...'",
                  domain, path, domain);
        policy_store_entry_clear(&e);
        free(path);
        free(domain);
        return EXIT_NOINPUT;
    }
    char id[33], buf[512], hex[65] = "";
    int have_id = entry_id(c, &e, id, NULL) == 0;
    if (e.text != NULL)
        format_hex(e.sha256, 32, hex);
    struct db_policy_version *v = NULL;
    size_t nv = 0;
    struct db *db = ctx_db(c, 0);
    if (db != NULL && db_policy_versions(db, domain, &v, &nv) != 0)
        cli_error("cannot read the version history: %s", db_errmsg(db));
    if (f.json) {
        json_t *o = json_pack("{s:s, s:s, s:b}", "domain", domain, "file", path, "valid", e.valid);
        json_object_set_new(o, "id", have_id ? json_string(id) : json_null());
        json_object_set_new(o, "sha256", e.text ? json_string(hex) : json_null());
        if (e.valid) {
            json_object_set_new(o, "mode", json_string(policy_mode_name(e.policy.mode)));
            json_object_set_new(o, "max_age", json_integer(e.policy.max_age));
            json_object_set_new(o, "mx", mx_json(&e.policy));
        }
        json_t *txt = e.text ? json_stringn(e.text, e.len) : NULL; /* NULL: not UTF-8 */
        json_object_set_new(o, "text", txt ? txt : json_null());
        json_object_set_new(o, "diagnostics", diag_json(&e.diag));
        json_t *h = json_array();
        for (size_t i = 0; i < nv; i++) {
            char t[21];
            format_rfc3339((time_t)v[i].first_seen, t);
            json_array_append_new(h, json_pack("{s:s, s:s, s:s, s:b}", "id", v[i].id, "sha256",
                                               v[i].sha256_hex, "first_seen", t, "current",
                                               have_id && strcmp(v[i].id, id) == 0));
        }
        json_object_set_new(o, "history", h);
        print_json(o);
    } else {
        struct text_safe ts = {0}; /* file content in messages, escaped */
        printf("domain:  %s\nfile:    %s\n", domain, path);
        if (e.valid)
            printf("status:  valid\nid:      %s\nmode:    %s\nmax_age: %ld\n", have_id ? id : "-",
                   policy_mode_name(e.policy.mode), e.policy.max_age);
        else
            printf("status:  broken: %s\n",
                   text_safe(&ts, first_error(path, &e.diag, buf, sizeof(buf))));
        for (size_t i = 0; e.valid && i < e.policy.n_mx; i++)
            printf("mx:      %s\n", e.policy.mx[i]);
        if (e.text != NULL)
            printf("sha256:  %s\n", hex);
        if (e.diag.n > 0) {
            printf("diagnostics:\n");
            for (size_t i = 0; i < e.diag.n; i++)
                printf("  %s:%d: %s: %s\n", path, e.diag.items[i].line,
                       sev_names[e.diag.items[i].severity],
                       text_safe(&ts, e.diag.items[i].message));
        }
        if (e.text != NULL) {
            printf("text:\n");
            const char *s = e.text, *end = e.text + e.len;
            while (s < end) {
                const char *nl = memchr(s, '\n', (size_t)(end - s));
                size_t n = (size_t)((nl ? nl : end) - s);
                if (n > 0 && s[n - 1] == '\r')
                    n--;
                fputs("  ", stdout);
                print_line(s, n);
                s = nl ? nl + 1 : end;
            }
        }
        printf("history (newest first):\n");
        for (size_t i = 0; i < nv; i++) {
            char t[21];
            format_rfc3339((time_t)v[i].first_seen, t);
            printf("  %-17s %s sha256 %.16s%s\n", v[i].id, t, v[i].sha256_hex,
                   have_id && strcmp(v[i].id, id) == 0 ? "  (current)" : "");
        }
        text_safe_free(&ts);
    }
    free(v);
    policy_store_entry_clear(&e);
    free(path);
    free(domain);
    flags_free(&f);
    return EXIT_OK_;
}

/* ---- set ----------------------------------------------------------------------------- */

static int do_set(struct ctx *c, int argc, char **argv)
{
    static const struct option lo[] = {{"mode", required_argument, NULL, OPT_MODE},
                                       {"mx", required_argument, NULL, OPT_MX},
                                       {"max-age", required_argument, NULL, OPT_MAX_AGE},
                                       {NULL, 0, NULL, 0}};
    struct flags f = {0};
    const char *config = NULL;
    struct policy p = {0};
    char *domain = NULL, *text = NULL;
    int rc = parse_opts(argc, argv, usage_set, "", lo, on_flag, &f, &config);
    if (rc >= 0)
        goto out;
    rc = EXIT_USAGE;
    if (argc - optind != 1) {
        cli_error("policy set: give exactly one DOMAIN; usage: stsd policy set DOMAIN --mode "
                  "enforce|testing|none --mx HOST [--mx HOST ...] [--max-age SECONDS]");
        goto out;
    }
    if ((domain = domain_arg("set", argv[optind])) == NULL)
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
    p.mode = (enum policy_mode)mode;
    p.max_age = 604800;
    if (f.max_age != NULL) {
        int64_t secs = -1;
        int digits = f.max_age[0] != '\0' && strspn(f.max_age, "0123456789") == strlen(f.max_age);
        if ((digits && strlen(f.max_age) <= 10) ||
            (!digits && parse_duration(f.max_age, &secs) == 0)) {
            if (digits)
                secs = strtoll(f.max_age, NULL, 10);
        } else {
            secs = -1;
        }
        if (secs < 0 || secs > POLICY_MAX_AGE_LIMIT) {
            cli_error("policy set: --max-age '%s' is not a number of seconds from 0 to 31557600 "
                      "(or a duration like 7d); 604800 (one week) is usual",
                      f.max_age);
            goto out;
        }
        p.max_age = (long)secs;
    }
    if (f.n_mx == 0 && p.mode != POLICY_MODE_NONE) {
        cli_error("policy set: --mode %s needs at least one --mx HOST (the host names your MX "
                  "records point to, or *.domain patterns)",
                  f.mode);
        goto out;
    }
    p.mx = xcalloc(f.n_mx ? f.n_mx : 1, sizeof(char *));
    for (size_t i = 0; i < f.n_mx; i++) {
        if (!policy_mx_pattern_valid(f.mx[i])) {
            /* Say why in the parser's words. */
            char *probe = xasprintf("version: STSv1\nmode: none\nmx: %s\nmax_age: 0\n", f.mx[i]);
            struct policy tmp;
            struct policy_diag d;
            policy_parse(probe, strlen(probe), &tmp, &d);
            const char *why = "is not a valid host name";
            for (size_t k = 0; k < d.n; k++) {
                if (d.items[k].severity == POLICY_SEV_ERROR) {
                    why = d.items[k].message;
                    break;
                }
            }
            cli_error("policy set: --%s (e.g. --mx mail.%s or --mx '*.%s')", why, domain, domain);
            policy_clear(&tmp);
            free(probe);
            goto out;
        }
        char *mx = xstrdup(f.mx[i]);
        for (char *q = mx; *q; q++) {
            if (*q >= 'A' && *q <= 'Z')
                *q = (char)(*q - 'A' + 'a');
        }
        int dup = 0;
        for (size_t k = 0; k < p.n_mx && !dup; k++)
            dup = strcmp(p.mx[k], mx) == 0;
        if (dup)
            free(mx);
        else
            p.mx[p.n_mx++] = mx;
    }
    if ((rc = load(c, config)) != 0)
        goto out;
    size_t len;
    text = policy_format(&p, &len);
    struct policy_store_entry e;
    memset(&e, 0, sizeof(e));
    if (policy_parse(text, len, &e.policy, &e.diag) != 0)
        abort(); /* policy_format always produces a valid policy from validated parts */
    policy_clear(&e.policy);
    rc = EXIT_SOFTWARE;
    if (mkdir_p(c->cfg.state_dir, 0755) != 0) {
        cli_error("cannot create the state directory %s: %s", c->cfg.state_dir, strerror(errno));
        goto out;
    }
    char *path = policy_store_path(c->dir, domain);
    /* Same bytes as the file holds now? Then it keeps its id (and says so). */
    size_t old_len = 0;
    char *old = file_read_all(path, POLICY_MAX_BODY, &old_len);
    int unchanged = old != NULL && old_len == len && memcmp(old, text, len) == 0;
    free(old);
    if (policy_store_write(c->dir, domain, text, len) != 0) {
        cli_error("cannot write %s: %s", path, strerror(errno));
        free(path);
        goto out;
    }
    if (policy_store_load_one(c->dir, domain, &e) != 0 || !e.valid) {
        cli_error("%s changed while it was written; run the command again", path);
        policy_store_entry_clear(&e);
        free(path);
        goto out;
    }
    char id[33];
    int is_new = 0;
    if (ctx_db(c, 1) == NULL || entry_id(c, &e, id, &is_new) != 0) {
        cli_error("wrote %s but could not record its id; run 'stsd policy dns %s' once the "
                  "database is available",
                  path, domain);
        policy_store_entry_clear(&e);
        free(path);
        goto out;
    }
    char txt[80];
    printf("wrote %s%s\n", path,
           unchanged ? " (content unchanged)"
           : is_new  ? ""
                     : " (a content seen before)");
    printf("id: %s\n", id);
    printf("publish: _mta-sts.%s. IN TXT \"%s\"\n", domain,
           policy_sts_txt_format(id, txt, sizeof(txt)));
    policy_store_entry_clear(&e);
    free(path);
    rc = EXIT_OK_;
out:
    policy_clear(&p);
    free(text);
    free(domain);
    flags_free(&f);
    return rc;
}

/* ---- validate ------------------------------------------------------------------------ */

static int do_validate(struct ctx *c, int argc, char **argv)
{
    struct flags f = {0};
    const char *config = NULL;
    int rc = parse_opts(argc, argv, usage_validate, "", NULL, on_flag, &f, &config);
    if (rc >= 0)
        return rc;
    if (argc - optind != 1) {
        cli_error("policy validate: give exactly one FILE or DOMAIN; see 'stsd policy validate "
                  "--help'");
        return EXIT_USAGE;
    }
    const char *arg = argv[optind];
    struct stat st;
    struct policy_store_entry e;
    memset(&e, 0, sizeof(e));
    char *path = NULL;
    int in_store = 0;
    int from_stdin = strcmp(arg, "-") == 0;
    if (from_stdin || (stat(arg, &st) == 0 && !S_ISDIR(st.st_mode))) {
        path = xstrdup(from_stdin ? "<stdin>" : arg);
        size_t len = 0;
        e.text = file_read_all(from_stdin ? "/dev/stdin" : path, POLICY_MAX_BODY, &len);
        if (e.text == NULL) {
            int err = errno;
            printf("%s:1: error: %s\n", path,
                   err == EFBIG ? "the file is larger than 64 KiB; a policy must be smaller"
                                : strerror(err));
            free(path);
            return err == EFBIG ? EXIT_DATAERR : EXIT_NOINPUT;
        }
        e.len = len;
        e.valid = policy_parse(e.text, len, &e.policy, &e.diag) == 0;
    } else if (policy_domain_valid(arg)) {
        if ((rc = load(c, config)) != 0)
            return rc;
        path = policy_store_path(c->dir, arg);
        if (policy_store_load_one(c->dir, arg, &e) != 0 && errno != EFBIG) {
            cli_error("policy validate: no policy for %s (%s: %s)", arg, path,
                      e.read_error ? e.read_error : strerror(errno));
            policy_store_entry_clear(&e);
            free(path);
            return EXIT_NOINPUT;
        }
        in_store = 1;
    } else {
        cli_error("policy validate: '%s' is neither a file nor a domain name", arg);
        return EXIT_NOINPUT;
    }
    for (size_t i = 0; i < e.diag.n; i++) {
        char *msg = text_escape_dup(e.diag.items[i].message);
        printf("%s:%d: %s: %s\n", path, e.diag.items[i].line, sev_names[e.diag.items[i].severity],
               msg);
        free(msg);
    }
    size_t more = e.diag.n_errors + e.diag.n_warnings - e.diag.n;
    if (more > 0)
        printf("%s: %zu more diagnostics not shown\n", path, more);
    if (e.valid) {
        char id[33];
        if (in_store && entry_id(c, &e, id, NULL) == 0)
            printf("%s: valid (mode %s, %zu mx, max_age %ld, id %s)\n", path,
                   policy_mode_name(e.policy.mode), e.policy.n_mx, e.policy.max_age, id);
        else
            printf("%s: valid (mode %s, %zu mx, max_age %ld)\n", path,
                   policy_mode_name(e.policy.mode), e.policy.n_mx, e.policy.max_age);
    }
    rc = e.valid ? EXIT_OK_ : EXIT_DATAERR;
    policy_store_entry_clear(&e);
    free(path);
    flags_free(&f);
    return rc;
}

/* ---- dns ----------------------------------------------------------------------------- */

/* A rua path with "," "!" ";" %-encoded (RFC 8460 §3). */
static char *escape_path(const char *s)
{
    char *out = xmalloc(strlen(s) * 3 + 1);
    size_t o = 0;
    for (; *s; s++) {
        if (*s == ',' || *s == '!' || *s == ';' || (unsigned char)*s <= 0x20 ||
            (unsigned char)*s >= 0x7f)
            o += (size_t)sprintf(out + o, "%%%02X", (unsigned char)*s);
        else
            out[o++] = *s;
    }
    out[o] = '\0';
    return out;
}

static void print_address(const char *domain, const char *addr, char ***seen, size_t *n_seen)
{
    for (size_t i = 0; i < *n_seen; i++) {
        if (strcmp((*seen)[i], addr) == 0)
            return;
    }
    *seen = xrealloc(*seen, (*n_seen + 1) * sizeof(char *));
    (*seen)[(*n_seen)++] = xstrdup(addr);
    unsigned char buf[16];
    int v6 = inet_pton(AF_INET6, addr, buf) == 1;
    printf("mta-sts.%s. IN %s %s\n", domain, v6 ? "AAAA" : "A", addr);
}

static int do_dns(struct ctx *c, int argc, char **argv)
{
    static const struct option lo[] = {{"address", required_argument, NULL, OPT_ADDRESS},
                                       {NULL, 0, NULL, 0}};
    struct flags f = {0};
    const char *config = NULL;
    int rc = parse_opts(argc, argv, usage_dns, "", lo, on_flag, &f, &config);
    if (rc >= 0)
        goto out_flags;
    rc = EXIT_USAGE;
    if (argc - optind != 1) {
        cli_error("policy dns: give exactly one DOMAIN; see 'stsd policy dns --help'");
        goto out_flags;
    }
    unsigned char abuf[16];
    for (size_t i = 0; i < f.n_addr; i++) {
        if (inet_pton(AF_INET, f.addr[i], abuf) != 1 && inet_pton(AF_INET6, f.addr[i], abuf) != 1) {
            cli_error("policy dns: --address '%s' is not an IPv4 or IPv6 address; give the "
                      "public address of the mta-sts host, e.g. --address 192.0.2.10",
                      f.addr[i]);
            goto out_flags;
        }
    }
    char *domain = domain_arg("dns", argv[optind]);
    if (domain == NULL)
        goto out_flags;
    if ((rc = load(c, config)) != 0)
        goto out_domain;
    struct policy_store_entry e;
    char *path = policy_store_path(c->dir, domain);
    char buf[512];
    if (policy_store_load_one(c->dir, domain, &e) != 0 && errno == ENOENT) {
        cli_error("policy dns: no policy for %s (no file %s); create one with 'stsd policy set "
                  "%s --mode ... --mx ...'",
                  domain, path, domain);
        rc = EXIT_NOINPUT;
        goto out_entry;
    }
    if (!e.valid) {
        cli_error("policy dns: the policy of %s is broken (%s); fix it first, see 'stsd policy "
                  "validate %s'",
                  domain, first_error(path, &e.diag, buf, sizeof(buf)), domain);
        rc = EXIT_DATAERR;
        goto out_entry;
    }
    char id[33];
    if (ctx_db(c, 1) == NULL || entry_id(c, &e, id, NULL) != 0) {
        rc = EXIT_SOFTWARE;
        goto out_entry;
    }
    char txt[80];
    char *rpath = escape_path(c->cfg.n_report_paths > 0 ? c->cfg.report_paths[0] : "/tlsrpt");
    char *uri = xasprintf("https://mta-sts.%s%s%s", domain, rpath[0] == '/' ? "" : "/", rpath);
    const char *rua[] = {uri};
    char *rpt = policy_rpt_txt_format(rua, 1);
    printf("; MTA-STS (RFC 8461) and TLS-RPT (RFC 8460) records for %s\n", domain);
    printf("_mta-sts.%s. IN TXT \"%s\"\n", domain, policy_sts_txt_format(id, txt, sizeof(txt)));
    printf("_smtp._tls.%s. IN TXT \"%s\"\n", domain, rpt);
    free(rpt);
    free(uri);
    free(rpath);
    char **seen = NULL;
    size_t n_seen = 0;
    for (size_t i = 0; i < f.n_addr; i++)
        print_address(domain, f.addr[i], &seen, &n_seen);
    for (size_t i = 0; f.n_addr == 0 && i < c->cfg.n_listen; i++) {
        char host[256], port[8];
        if (config_split_hostport(c->cfg.listen[i], host, sizeof(host), port, sizeof(port)) != 0)
            continue;
        if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "*") == 0) {
            printf("; mta-sts.%s. IN A <public IPv4 address>  ([server] listen = %s listens on "
                   "every address: fill in the public one, or use --address)\n",
                   domain, c->cfg.listen[i]);
        } else if (strcmp(host, "::") == 0) {
            printf("; mta-sts.%s. IN AAAA <public IPv6 address>  ([server] listen = %s listens "
                   "on every address: fill in the public one, or use --address)\n",
                   domain, c->cfg.listen[i]);
        } else if (inet_pton(AF_INET, host, abuf) == 1 || inet_pton(AF_INET6, host, abuf) == 1) {
            print_address(domain, host, &seen, &n_seen);
        } else {
            printf("; mta-sts.%s. IN CNAME %s.  ([server] listen = %s names a host)\n", domain,
                   host, c->cfg.listen[i]);
        }
        if (strcmp(port, "443") != 0)
            printf("; note: [server] listen = %s is not port 443, where senders connect; "
                   "forward 443 to it\n",
                   c->cfg.listen[i]);
    }
    for (size_t i = 0; i < n_seen; i++)
        free(seen[i]);
    free(seen);
    rc = EXIT_OK_;
out_entry:
    policy_store_entry_clear(&e);
    free(path);
out_domain:
    free(domain);
out_flags:
    flags_free(&f);
    return rc;
}

/* ---- dispatch ------------------------------------------------------------------------ */

int cmd_policy(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    struct ctx c;
    memset(&c, 0, sizeof(c));
    int o;
    optind = 0;
    /* '+': stop at the command; it parses the rest (where -c is accepted too). */
    while ((o = getopt_long(argc, argv, "+c:h", opts, NULL)) != -1) {
        if (o == 'c') {
            c.config_path = optarg;
        } else if (o == 'h') {
            fputs(usage, stdout);
            return EXIT_OK_;
        } else {
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
    int rc;
    if (strcmp(cmd, "list") == 0) {
        rc = do_list(&c, sub_argc, sub_argv);
    } else if (strcmp(cmd, "show") == 0) {
        rc = do_show(&c, sub_argc, sub_argv);
    } else if (strcmp(cmd, "set") == 0) {
        rc = do_set(&c, sub_argc, sub_argv);
    } else if (strcmp(cmd, "validate") == 0) {
        rc = do_validate(&c, sub_argc, sub_argv);
    } else if (strcmp(cmd, "dns") == 0) {
        rc = do_dns(&c, sub_argc, sub_argv);
    } else if (strcmp(cmd, "advise") == 0) {
        rc = cmd_policy_advise(sub_argc, sub_argv, c.config_path);
    } else if (strcmp(cmd, "help") == 0) {
        fputs(usage, stdout);
        rc = EXIT_OK_;
    } else {
        cli_error("policy: unknown command '%s'; see 'stsd policy --help'", cmd);
        rc = EXIT_USAGE;
    }
    ctx_free(&c);
    return rc;
}
