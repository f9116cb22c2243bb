/* cmd_reports.c - 'stsd reports ingest|list|show|summary': feed TLS-RPT reports in, read them out.
 */
#include "cli/cli.h"
#include "common/common.h"
#include "mail/mail.h"
#include "reports/reports.h"
#include "sql/db.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_main[] =
    "usage: stsd reports [-c FILE] COMMAND [ARGS...]\n"
    "\n"
    "TLS-RPT reports (RFC 8460): feed them in from files and e-mail, read them out.\n"
    "\n"
    "commands:\n"
    "  ingest [PATH|-]...   store reports from .json/.json.gz files, e-mail messages, mbox\n"
    "                       files, Maildir folders, or one message (or report) on stdin\n"
    "  fetch                one pass over the IMAP mailbox of [mail] imap\n"
    "  list                 list stored reports, newest first\n"
    "  show ID              one stored report with its policies and failure details\n"
    "  summary              sessions, success rate and failures by result type, MX, reporter\n"
    "\n"
    "'stsd reports COMMAND --help' for the flags of each command.\n";

static const char usage_ingest[] =
    "usage: stsd reports ingest [-c FILE] [PATH|-]...\n"
    "\n"
    "Store TLS-RPT reports (RFC 8460 §5.3). Each PATH is a report (.json, or gzip: recognised\n"
    "by its content), an RFC 5322 message (.eml), an mbox file (messages split on 'From '\n"
    "lines, '>From' unquoted), a Maildir folder (cur/ and new/) or a directory of such files.\n"
    "'-' (or no PATH) reads one message or report from stdin, so an MTA can pipe to it.\n"
    "Report parts of messages are application/tlsrpt+gzip, application/tlsrpt+json, or\n"
    "parts named *.json / *.json.gz. Reports for any policy-domain are accepted: the\n"
    "operator chose to feed them in ([reports] accept applies to HTTPS only). A report\n"
    "already stored with the same content (same organization-name and report-id, by HTTPS\n"
    "or e-mail) is a duplicate and is not stored again; one with other content is stored\n"
    "and marked as a conflict of the first copy. Limits: [reports] max_json after\n"
    "inflating, [reports] max_body for a gzip file, 50 MiB per message, [reports]\n"
    "max_detail_rows failure-detail rows per report (the rest merged, totals exact).\n"
    "\n"
    "One line per report on stdout:\n"
    "  stored id=N org=... report-id=... file=... [message=N]\n"
    "  duplicate id=N org=... report-id=... file=...\n"
    "  conflict id=N conflict_of=M org=... report-id=... file=...\n"
    "  rejected file=... [message=N]: reason\n"
    "  deferred file=... [message=N]: reason (not stored now; try again later)\n"
    "\n"
    "When stderr is a terminal, a run that lasts shows its progress there, redrawn in place:\n"
    "'N of TOTAL messages: S stored, D duplicate, R rejected' (an mbox is counted first).\n"
    "The progress line is wiped before each line on the same terminal. Nothing otherwise.\n"
    "\n"
    "options:\n"
    "  -c, --config FILE   configuration file\n"
    "  -h, --help          this help\n"
    "\n"
    "exit: 0 every report stored, a duplicate or a conflict, 1 something was rejected, 66 a\n"
    "PATH does not exist, 75 the database could not be opened or written, or its file\n"
    "system has less than [reports] min_free free, or a message was deferred ([mail]\n"
    "require_dkim = on and its DKIM key could not be fetched now): try again later, an MTA\n"
    "piping to this command defers the message; 78 configuration error.\n";

static const char usage_list[] =
    "usage: stsd reports list [-c FILE] [--domain D] [--since 30d|DATE] [--until DATE]\n"
    "                         [--limit N] [--json|--csv]\n"
    "\n"
    "List stored reports whose start-datetime lies in [since, until), newest first, with\n"
    "the sessions summed over their policies. DATE is YYYY-MM-DD (UTC midnight) or an RFC\n"
    "3339 time; 30d/12h count back from now. Default: the last 30 days.\n"
    "\n"
    "options:\n"
    "  -d, --domain D      only reports with a policy for policy-domain D\n"
    "  -s, --since WHEN    window start (inclusive), default 30d\n"
    "  -u, --until WHEN    window end (exclusive), default now\n"
    "  -n, --limit N       at most N reports\n"
    "      --json          {\"since\",\"until\",\"reports\":[...]}\n"
    "      --csv           CSV with a header line (RFC 4180)\n"
    "  -c, --config FILE   configuration file\n"
    "  -h, --help          this help\n";

static const char usage_show[] =
    "usage: stsd reports show [-c FILE] ID [--raw] [--json]\n"
    "\n"
    "Show one stored report: its fields, policies and failure details.\n"
    "\n"
    "options:\n"
    "      --raw           write the original bytes exactly as received (gzip stays gzip;\n"
    "                      pipe to 'gunzip -c' when the listing says gzip)\n"
    "      --json          the report as one JSON object\n"
    "  -c, --config FILE   configuration file\n"
    "  -h, --help          this help\n"
    "\n"
    "exit: 0 shown, 66 no report with this ID.\n";

static const char usage_summary[] =
    "usage: stsd reports summary [-c FILE] [--domain D] [--since 30d|DATE] [--until DATE]\n"
    "                            [--by day|domain|mx|reporter|result] [--json|--csv]\n"
    "\n"
    "Successful and failed sessions, the success rate, and the failures by result type,\n"
    "receiving MX and reporting organisation, over the reports whose start-datetime lies in\n"
    "[since, until). With --domain only the policies for that policy-domain count. Sessions\n"
    "come from each policy's summary; the breakdowns by result type and MX come from the\n"
    "failure-details, which senders may let sum past the failure total.\n"
    "\n"
    "options:\n"
    "  -d, --domain D      only policies for policy-domain D\n"
    "  -s, --since WHEN    window start (inclusive): YYYY-MM-DD, RFC 3339, 30d, 12h; default 30d\n"
    "  -u, --until WHEN    window end (exclusive), default now\n"
    "  -b, --by KEY        also group by day, domain, mx, reporter or result\n"
    "      --json          one JSON object (since, until, totals, by_result_type,\n"
    "                      by_mx, by_reporter; with --by also \"by\" and \"groups\")\n"
    "      --csv           CSV: one row per group with --by, else section,key,... rows\n"
    "  -c, --config FILE   configuration file\n"
    "  -h, --help          this help\n";

enum { OPT_JSON = 256, OPT_CSV, OPT_RAW };
enum output_format { OUT_TEXT, OUT_JSON, OUT_CSV };

/* Load the configuration at path and open its database (creating state_dir when create_dir
 * is set). Returns 0 with *db open (the caller closes it, then frees cfg); the exit code of
 * a configuration error; or fail_rc when the database cannot be opened (cfg freed). */
static int load_open(struct stsd_config *cfg, const char *path, int create_dir, int fail_rc,
                     struct db **db)
{
    int rc = cli_load_config(cfg, path);
    if (rc != 0)
        return rc;
    *db = cli_open_db(cfg, create_dir);
    if (*db == NULL) {
        config_free(cfg);
        return fail_rc;
    }
    return 0;
}

/* Options shared by list and summary: what the command line said, then the window it
 * names. */
struct window {
    const char *config, *domain_arg, *since_arg, *until_arg;
    enum output_format fmt;
    char *domain;
    int64_t since, until;
    struct stsd_config cfg;
    struct db *db;
};

/* The long options list and summary share. */
/* clang-format off */
#define WINDOW_OPTIONS                                                                         \
    CLI_COMMON_OPTIONS, {"domain", required_argument, NULL, 'd'},                              \
        {"since", required_argument, NULL, 's'}, {"until", required_argument, NULL, 'u'},      \
        {"json", no_argument, NULL, OPT_JSON}, {"csv", no_argument, NULL, OPT_CSV}
/* clang-format on */

/* An option list and summary share (-d, -s, -u, --json, --csv): note it in w and return
 * CLI_NEXT; any other is one every command has (cli_common_option). */
static int window_option(struct window *w, int c, const char *usage)
{
    switch (c) {
    case 'd':
        w->domain_arg = optarg;
        return CLI_NEXT;
    case 's':
        w->since_arg = optarg;
        return CLI_NEXT;
    case 'u':
        w->until_arg = optarg;
        return CLI_NEXT;
    case OPT_JSON:
        w->fmt = OUT_JSON;
        return CLI_NEXT;
    case OPT_CSV:
        w->fmt = OUT_CSV;
        return CLI_NEXT;
    default:
        return cli_common_option(c, usage, &w->config);
    }
}

/* After the options of list or summary (cmd names it in messages): no argument may be left;
 * normalise --domain, work out the window, load the configuration and open the database.
 * Returns 0, and the caller ends with window_done; or an exit code, with nothing left to
 * free. */
static int window_setup(struct window *w, const char *cmd, int argc, char **argv)
{
    if (optind < argc) {
        cli_error("%s: unexpected argument '%s'", cmd, argv[optind]);
        return EXIT_USAGE;
    }
    char dom[256];
    const char *why = NULL;
    if (w->domain_arg != NULL && strcmp(w->domain_arg, REPORT_UNATTRIBUTED) == 0)
        snprintf(dom, sizeof(dom), "%s", w->domain_arg); /* the policies that named none */
    else if (w->domain_arg != NULL)
        why = domain_normalise_problem(w->domain_arg, strlen(w->domain_arg), dom, sizeof(dom));
    if (why != NULL) {
        cli_error("--domain '%s' %s", w->domain_arg, why);
        return EXIT_USAGE;
    }
    w->domain = w->domain_arg ? xstrdup(dom) : NULL;
    char err[200];
    int rc = 0;
    if (parse_window(w->since_arg, w->until_arg, time(NULL), &w->since, &w->until, err,
                     sizeof(err)) != 0) {
        cli_error("%s", err); /* the words of the admin API's 400 */
        rc = EXIT_USAGE;
    }
    if (rc == 0)
        rc = load_open(&w->cfg, w->config, 0, EXIT_SOFTWARE, &w->db);
    if (rc != 0) {
        free(w->domain);
        w->domain = NULL;
    }
    return rc;
}

/* Close what window_setup opened; returns rc, or EXIT_SOFTWARE with the database's error
 * printed when failed is set. */
static int window_done(struct window *w, int rc, int failed)
{
    if (failed) {
        cli_error("database: %s", db_errmsg(w->db));
        rc = EXIT_SOFTWARE;
    }
    db_close(w->db);
    config_free(&w->cfg);
    free(w->domain);
    return rc;
}

static void print_json(json_t *j)
{
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
    if (s) {
        fputs(s, stdout);
        fputc('\n', stdout);
        free(s);
    }
    json_decref(j);
}

/* ---- ingest ---- */

/* "file=... message=N part=...": where an outcome comes from, as logfmt. */
static char *make_where(const struct mail_item *it)
{
    char q1[1100], q2[600];
    log_field(q1, sizeof(q1), it->file);
    if (it->message > 0 && it->part)
        return xasprintf("file=%s message=%ld part=%s", q1, it->message,
                         log_field(q2, sizeof(q2), it->part));
    if (it->message > 0)
        return xasprintf("file=%s message=%ld", q1, it->message);
    if (it->part)
        return xasprintf("file=%s part=%s", q1, log_field(q2, sizeof(q2), it->part));
    return xasprintf("file=%s", q1);
}

/* One outcome of the run: a line on stdout, or (a missing path, a database failure) on
 * stderr. */
void cli_print_mail_item(const struct mail_item *it, void *user)
{
    (void)user;
    cli_progress_clear(it->outcome == MAIL_MISSING || it->outcome == MAIL_DBERROR ? stderr
                                                                                  : stdout);
    if (it->outcome == MAIL_MISSING) {
        cli_error("%s: %s", it->file, it->reason);
        return;
    }
    if (it->outcome == MAIL_DBERROR) {
        cli_error("database: %s", it->reason);
        return;
    }
    static const char *const word[] = {
        [MAIL_STORED] = "stored", [MAIL_DUPLICATE] = "duplicate", [MAIL_CONFLICT] = "conflict"};
    char *where = make_where(it), *line;
    if (it->outcome == MAIL_REJECTED || it->outcome == MAIL_DEFERRED) {
        line = xasprintf("%s %s: %s", it->outcome == MAIL_REJECTED ? "rejected" : "deferred", where,
                         it->reason);
    } else {
        char org[600], rid[600], of[40] = "";
        if (it->outcome == MAIL_CONFLICT)
            snprintf(of, sizeof(of), " conflict_of=%lld", (long long)it->conflict_of);
        char dkim[300] = "";
        if (it->dkim)
            snprintf(dkim, sizeof(dkim), " dkim=%s%s%s", it->dkim, it->dkim_domain ? " d=" : "",
                     it->dkim_domain ? it->dkim_domain : "");
        line = xasprintf("%s id=%lld%s org=%s report-id=%s %s%s", word[it->outcome],
                         (long long)it->id, of, log_field(org, sizeof(org), it->org),
                         log_field(rid, sizeof(rid), it->report_id), where, dkim);
    }
    char *esc = text_escape_dup(line); /* a rejection may quote the report */
    printf("%s\n", esc);
    fflush(stdout);
    free(esc);
    free(line);
    free(where);
}

static int reports_ingest(int argc, char **argv, const char *config)
{
    int rc = cli_parse_common(argc, argv, "c:h", usage_ingest, &config);
    if (rc != CLI_NEXT)
        return rc;
    struct stsd_config cfg;
    struct db *db;
    /* no database: EXIT_TEMPFAIL, an MTA piping to us defers and retries, nothing is lost */
    if ((rc = load_open(&cfg, config, 1, EXIT_TEMPFAIL, &db)) != 0)
        return rc;
    uint64_t avail = 0;
    if (cfg.min_free > 0 && fs_free_bytes(cfg.state_dir, &avail) == 0 && avail < cfg.min_free) {
        cli_error("%s: only %llu bytes free, less than [reports] min_free (%llu): nothing "
                  "stored; free some space (or lower min_free) and try again",
                  cfg.state_dir, (unsigned long long)avail, (unsigned long long)cfg.min_free);
        db_close(db);
        config_free(&cfg);
        return EXIT_TEMPFAIL; /* as above: the MTA keeps the message and retries */
    }
    struct mail_ingest *in = mail_ingest_new(db, &cfg, cli_print_mail_item, NULL);
    cli_progress_attach(in);
    if (optind >= argc)
        mail_ingest_path(in, "-");
    for (int i = optind; i < argc && !mail_ingest_counts(in)->dberror; i++)
        mail_ingest_path(in, argv[i]);
    struct mail_counts n;
    mail_ingest_finish(in, &n);
    db_close(db);
    config_free(&cfg);
    log_event(LOG_INFO, "reports.ingest",
              "stored=%ld duplicates=%ld conflicts=%ld rejected=%ld deferred=%ld", n.stored,
              n.duplicates, n.conflicts, n.rejected, n.deferred);
    if (n.dberror)
        return EXIT_TEMPFAIL;
    if (n.missing)
        return EXIT_NOINPUT;
    if (n.deferred)
        return EXIT_TEMPFAIL;
    return n.rejected ? EXIT_PARTIAL : 0;
}

/* ---- list, show, summary ---- */

static int reports_list(int argc, char **argv, const char *config)
{
    static const struct option opts[] = {
        WINDOW_OPTIONS, {"limit", required_argument, NULL, 'n'}, {NULL, 0, NULL, 0}};
    struct window w = {.config = config, .fmt = OUT_TEXT};
    long long limit = 0;
    int c, rc;
    while ((c = getopt_long(argc, argv, "c:hd:s:u:n:", opts, NULL)) != -1) {
        if (c != 'n') {
            if ((rc = window_option(&w, c, usage_list)) != CLI_NEXT)
                return rc;
            continue;
        }
        char *end;
        errno = 0;
        limit = strtoll(optarg, &end, 10);
        if (errno || *end || end == optarg || limit < 1) {
            cli_error("--limit '%s': expected a positive number", optarg);
            return EXIT_USAGE;
        }
    }
    if ((rc = window_setup(&w, "list", argc, argv)) != 0)
        return rc;
    struct report_listing *v = NULL;
    size_t n = 0;
    struct db_report_filter f = {
        .domain = w.domain, .since = w.since, .until = w.until, .limit = limit};
    int failed = db_report_list(w.db, &f, &v, &n) != 0;
    if (!failed && w.fmt == OUT_JSON)
        print_json(report_list_json(v, n, w.since, w.until));
    else if (!failed && w.fmt == OUT_CSV)
        report_list_csv(v, n, stdout);
    else if (!failed)
        report_list_text(v, n, stdout);
    db_report_list_free(v, n);
    return window_done(&w, 0, failed);
}

static int reports_show(int argc, char **argv, const char *config)
{
    static const struct option opts[] = {CLI_COMMON_OPTIONS,
                                         {"raw", no_argument, NULL, OPT_RAW},
                                         {"json", no_argument, NULL, OPT_JSON},
                                         {NULL, 0, NULL, 0}};
    int raw = 0, json = 0, c, rc;
    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        if (c == OPT_RAW)
            raw = 1;
        else if (c == OPT_JSON)
            json = 1;
        else if ((rc = cli_common_option(c, usage_show, &config)) != CLI_NEXT)
            return rc;
    }
    if (optind + 1 != argc) {
        cli_error("show: expected one report ID");
        fputs(usage_show, stderr);
        return EXIT_USAGE;
    }
    if (raw && json) {
        cli_error("show: --raw and --json exclude each other");
        return EXIT_USAGE;
    }
    char *end;
    errno = 0;
    long long id = strtoll(argv[optind], &end, 10);
    if (errno || *end || end == argv[optind] || id < 1) {
        cli_error("show: '%s' is not a report ID (a positive number, see 'stsd reports list')",
                  argv[optind]);
        return EXIT_USAGE;
    }
    struct stsd_config cfg;
    struct db *db;
    if ((rc = load_open(&cfg, config, 0, EXIT_SOFTWARE, &db)) != 0)
        return rc;
    struct report_listing meta;
    struct report r;
    void *bytes = NULL;
    size_t len = 0;
    int found = db_report_get(db, id, &meta, &r, raw ? &bytes : NULL, &len);
    if (found < 0) {
        cli_error("database: %s", db_errmsg(db));
        rc = EXIT_SOFTWARE;
    } else if (found == 0) {
        cli_error("no report with id %lld", id);
        rc = EXIT_NOINPUT;
    } else {
        if (raw) {
            if (fwrite(bytes, 1, len, stdout) != len || fflush(stdout) != 0) {
                cli_error("writing the report: %s", strerror(errno));
                rc = EXIT_SOFTWARE;
            }
        } else if (json) {
            print_json(report_detail_json(&meta, &r));
        } else {
            report_detail_text(&meta, &r, stdout);
        }
        db_report_listing_clear(&meta);
        db_report_clear(&r);
        free(bytes);
    }
    db_close(db);
    config_free(&cfg);
    return rc;
}

static int reports_summary(int argc, char **argv, const char *config)
{
    static const struct option opts[] = {
        WINDOW_OPTIONS, {"by", required_argument, NULL, 'b'}, {NULL, 0, NULL, 0}};
    struct window w = {.config = config, .fmt = OUT_TEXT};
    enum report_group by = REPORT_BY_NONE;
    int c, rc;
    while ((c = getopt_long(argc, argv, "c:hd:s:u:b:", opts, NULL)) != -1) {
        if (c != 'b') {
            if ((rc = window_option(&w, c, usage_summary)) != CLI_NEXT)
                return rc;
        } else if (report_group_parse(optarg, &by) != 0) {
            cli_error("--by '%s': expected day, domain, mx, reporter or result", optarg);
            return EXIT_USAGE;
        }
    }
    if ((rc = window_setup(&w, "summary", argc, argv)) != 0)
        return rc;
    struct report_summary s = {.since = w.since, .until = w.until, .domain = w.domain, .by = by};
    int failed = db_report_summary(w.db, &s) != 0;
    if (!failed) {
        report_summary_sort(&s);
        if (w.fmt == OUT_JSON)
            print_json(report_summary_json(&s));
        else if (w.fmt == OUT_CSV)
            report_summary_csv(&s, stdout);
        else
            report_summary_text(&s, stdout);
        db_report_summary_clear(&s);
    }
    return window_done(&w, 0, failed);
}

int cmd_reports(int argc, char **argv)
{
    /* "stsd reports -c FILE ingest ..." as well as "stsd reports ingest -c FILE ..." */
    static const struct cli_command cmds[] = {
        {"ingest", reports_ingest}, {"fetch", cmd_reports_fetch}, {"list", reports_list},
        {"show", reports_show},     {"summary", reports_summary}, {NULL, NULL}};
    return cli_run_group(argc, argv, usage_main, cmds);
}
