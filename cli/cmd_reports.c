/* cmd_reports.c - 'stsd reports ingest|list|show|summary': feed TLS-RPT reports in, read them out.
 */
#include "cli/cli.h"
#include "common/common.h"
#include "reports/reports.h"
#include "sql/db.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char usage_main[] =
    "usage: stsd reports [-c FILE] COMMAND [ARGS...]\n"
    "\n"
    "TLS-RPT reports (RFC 8460): feed them in from files and e-mail, read them out.\n"
    "\n"
    "commands:\n"
    "  ingest [PATH|-]...   store reports from .json/.json.gz files, e-mail messages, mbox\n"
    "                       files, Maildir folders, or one message (or report) on stdin\n"
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
    "\n"
    "options:\n"
    "  -c, --config FILE   configuration file\n"
    "  -h, --help          this help\n"
    "\n"
    "exit: 0 every report stored, a duplicate or a conflict, 1 something was rejected, 66 a\n"
    "PATH does not exist, 75 the database could not be opened or written, or its file\n"
    "system has less than [reports] min_free free (try again later: an MTA piping to this\n"
    "command defers the message), 78 configuration error.\n";

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

/* Reports stored per transaction, and the raw bytes buffered before a flush: short
 * transactions, so that the server writing the same database waits little. */
#define INGEST_BATCH 256
#define INGEST_BATCH_BYTES (64u * 1024 * 1024)
#define MBOX_LINE 65536

/* Options shared by list and summary: what the command line said, then the window it
 * names. */
struct window {
    const char *config, *domain_arg, *since_arg, *until_arg;
    enum output_format fmt;
    char *domain;
    int64_t since, until;
};

/* An option list and summary share (-c, -d, -s, -u, --json, --csv): note it in w and
 * return 1; return 0 for any other. */
static int window_option(struct window *w, int c)
{
    switch (c) {
    case 'c':
        w->config = optarg;
        return 1;
    case 'd':
        w->domain_arg = optarg;
        return 1;
    case 's':
        w->since_arg = optarg;
        return 1;
    case 'u':
        w->until_arg = optarg;
        return 1;
    case OPT_JSON:
        w->fmt = OUT_JSON;
        return 1;
    case OPT_CSV:
        w->fmt = OUT_CSV;
        return 1;
    default:
        return 0;
    }
}

/* After the options of list or summary (cmd names it in messages): no argument may be left;
 * normalise --domain, work out the window and load the configuration. Returns 0, and the
 * caller frees w->domain and cfg; or an exit code, with nothing left to free. */
static int window_setup(struct window *w, const char *cmd, int argc, char **argv,
                        struct stsd_config *cfg)
{
    if (optind < argc) {
        cli_error("%s: unexpected argument '%s'", cmd, argv[optind]);
        return EXIT_USAGE;
    }
    char dom[256];
    const char *why = w->domain_arg ? domain_normalise_problem(w->domain_arg, strlen(w->domain_arg),
                                                               dom, sizeof(dom))
                                    : NULL;
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
        rc = cli_load_config(cfg, w->config);
    if (rc != 0) {
        free(w->domain);
        w->domain = NULL;
    }
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

/* One line of output, in input order; a report waits in it until its batch is stored. */
struct pending {
    struct report r;
    unsigned char digest[REPORT_DIGEST_LEN]; /* of r as parsed, before merging */
    int has_report;
    char *raw;
    size_t rawlen;
    const char *source;
    char *where; /* "file=... message=N" */
    char *line;  /* the rejection line, or NULL */
};

struct ingest {
    const struct stsd_config *cfg;
    struct db *db;
    struct pending *items;
    size_t n, cap, bytes;
    int rejected;
    int missing;
    int dberror;
    long stored, duplicates, conflicts;
};

/* A logfmt value: as is when it needs no quoting, else quoted by log_quote. */
static const char *lf(char *buf, size_t bufsz, const char *v)
{
    return log_field(buf, bufsz, v);
}

static char *make_where(const char *file, long message, const char *part)
{
    char q1[1100], q2[600];
    lf(q1, sizeof(q1), file);
    char *w;
    if (message > 0 && part)
        w = xasprintf("file=%s message=%ld part=%s", q1, message, lf(q2, sizeof(q2), part));
    else if (message > 0)
        w = xasprintf("file=%s message=%ld", q1, message);
    else if (part)
        w = xasprintf("file=%s part=%s", q1, lf(q2, sizeof(q2), part));
    else
        w = xasprintf("file=%s", q1);
    return w;
}

static struct pending *push(struct ingest *in)
{
    if (in->n == in->cap) {
        in->cap = in->cap ? 2 * in->cap : 64;
        in->items = xrealloc(in->items, in->cap * sizeof(*in->items));
    }
    struct pending *p = &in->items[in->n++];
    memset(p, 0, sizeof(*p));
    return p;
}

static void flush(struct ingest *in);

static void reject(struct ingest *in, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void reject(struct ingest *in, const char *where, const char *fmt, ...)
{
    char reason[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    struct pending *p = push(in);
    p->line = xasprintf("rejected %s: %s", where, reason);
    in->rejected++;
    if (in->n >= INGEST_BATCH) /* keep memory bounded on inputs that are mostly rejected */
        flush(in);
}

/* Parse one report body (gzip or JSON); takes ownership of `raw` (malloc'd). */
static void add_report(struct ingest *in, char *raw, size_t len, const char *source,
                       const char *where)
{
    struct report r;
    struct report_error err;
    /* The same bounded step as HTTPS (max_json, max_values); no budget: one at a time. */
    struct report_body_limits lim = {.max_json = (size_t)in->cfg->max_json,
                                     .max_values = (size_t)in->cfg->max_values};
    int rc = report_parse_body_limited(raw, len, &lim, &r, NULL, &err);
    if (rc != 0) {
        char buf[512];
        if (rc == 413 && strstr(err.message, "size limit") != NULL)
            reject(in, where, "inflates past [reports] max_json (%llu bytes)",
                   (unsigned long long)in->cfg->max_json);
        else
            reject(in, where, "%s", report_error_text(&err, buf, sizeof(buf)));
        free(raw);
        return;
    }
    struct pending *p = push(in);
    p->r = r;
    report_prepare_store(&p->r, in->cfg->max_detail_rows, p->digest);
    p->has_report = 1;
    p->raw = raw;
    p->rawlen = len;
    p->source = source;
    p->where = xstrdup(where);
    in->bytes += len;
    if (in->n >= INGEST_BATCH || in->bytes >= INGEST_BATCH_BYTES)
        flush(in);
}

/* Store the pending reports in one transaction, then print every pending line in order. */
static void flush(struct ingest *in)
{
    int any = 0;
    for (size_t i = 0; i < in->n; i++)
        any |= in->items[i].has_report;
    int64_t now = (int64_t)time(NULL);
    int ok = 1;
    if (any && !in->dberror) {
        if (db_begin(in->db) != 0) {
            cli_error("database: cannot begin a transaction: %s", db_errmsg(in->db));
            ok = 0;
        }
        for (size_t i = 0; ok && i < in->n; i++) {
            struct pending *p = &in->items[i];
            if (!p->has_report)
                continue;
            struct db_store_result res;
            char org[600], rid[600], of[40] = "";
            if (db_report_store(in->db, &p->r, p->digest, p->raw, p->rawlen, p->source, now,
                                &res) != 0) {
                p->line = xasprintf("rejected %s: database: %s", p->where, db_errmsg(in->db));
                in->rejected++;
                continue;
            }
            static const char *const word[] = {[DB_STORE_STORED] = "stored",
                                               [DB_STORE_DUPLICATE] = "duplicate",
                                               [DB_STORE_CONFLICT] = "conflict"};
            if (res.outcome == DB_STORE_CONFLICT)
                snprintf(of, sizeof(of), " conflict_of=%lld", (long long)res.conflict_of);
            p->line = xasprintf("%s id=%lld%s org=%s report-id=%s %s", word[res.outcome],
                                (long long)res.id, of, lf(org, sizeof(org), p->r.organization_name),
                                lf(rid, sizeof(rid), p->r.report_id), p->where);
            in->duplicates += res.outcome == DB_STORE_DUPLICATE;
            in->conflicts += res.outcome == DB_STORE_CONFLICT;
            in->stored += res.outcome == DB_STORE_STORED;
        }
        if (ok && db_commit(in->db) != 0) {
            cli_error("database: cannot commit: %s", db_errmsg(in->db));
            db_rollback(in->db);
            ok = 0;
        }
        if (!ok)
            in->dberror = 1;
    }
    for (size_t i = 0; i < in->n; i++) {
        struct pending *p = &in->items[i];
        /* After a failed commit nothing of this batch was stored: say nothing false. */
        if (p->line && (ok || !p->has_report)) {
            char *line = text_escape_dup(p->line); /* a rejection may quote the report */
            printf("%s\n", line);
            free(line);
        }
        free(p->line);
        free(p->where);
        free(p->raw);
        if (p->has_report)
            report_clear(&p->r);
    }
    fflush(stdout);
    in->n = 0;
    in->bytes = 0;
}

/* One RFC 5322 message: store every report part it carries. Takes ownership of msg. */
static void add_message(struct ingest *in, char *msg, size_t len, const char *file, long number)
{
    struct report_part *parts = NULL;
    struct report_error err;
    int n = report_mime_extract(msg, len, &parts, &err);
    free(msg);
    char *where = make_where(file, number, NULL);
    if (n < 0) {
        char buf[512];
        reject(in, where, "not a readable message: %s", report_error_text(&err, buf, sizeof(buf)));
    } else if (n == 0) {
        reject(in, where, "no TLS-RPT report in the message");
    }
    for (int i = 0; i < n; i++) {
        char *w = n > 1 ? make_where(file, number, parts[i].filename ? parts[i].filename : "?")
                        : xstrdup(where);
        char *data = parts[i].data;
        parts[i].data = NULL; /* ownership moves to add_report */
        add_report(in, data, parts[i].len, "email", w);
        free(w);
    }
    if (n > 0)
        report_parts_free(parts, n);
    free(where);
}

/* What a file holds, from its first bytes. */
enum kind { KIND_GZIP, KIND_JSON, KIND_MBOX, KIND_MESSAGE };

static enum kind sniff(const unsigned char *b, size_t n)
{
    if (n >= 2 && b[0] == 0x1f && b[1] == 0x8b)
        return KIND_GZIP;
    size_t i = 0;
    if (n >= 3 && b[0] == 0xef && b[1] == 0xbb && b[2] == 0xbf)
        i = 3; /* UTF-8 BOM */
    while (i < n && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n'))
        i++;
    if (i < n && b[i] == '{')
        return KIND_JSON;
    if (n >= 5 && memcmp(b, "From ", 5) == 0)
        return KIND_MBOX;
    return KIND_MESSAGE;
}

/* mbox (mboxo/mboxrd): a message starts at a "From " line at the top of the file or after
 * an empty line; ">From ", ">>From " ... lose one '>' (mboxrd quoting). Read line by line
 * with a fixed buffer; each message is capped at REPORT_MAX_MESSAGE. */
static void ingest_mbox(struct ingest *in, FILE *f, const char *file)
{
    char *line = xmalloc(MBOX_LINE);
    char *msg = NULL;
    size_t len = 0, cap = 0;
    long number = 0;
    int in_msg = 0, too_big = 0, at_start = 1, prev_empty = 1;
    for (;;) {
        char *got = fgets(line, MBOX_LINE, f);
        size_t l = got ? strlen(line) : 0; /* a NUL byte ends the chunk early: text only */
        int ends = l > 0 && line[l - 1] == '\n';
        int separator = got && at_start && prev_empty && l >= 5 && memcmp(line, "From ", 5) == 0;
        if (got == NULL || separator) {
            if (in_msg) {
                if (too_big) {
                    char *w = make_where(file, number, NULL);
                    reject(in, w, "message larger than %d bytes", REPORT_MAX_MESSAGE);
                    free(w);
                    free(msg);
                } else {
                    add_message(in, msg, len, file, number);
                }
                msg = NULL;
                len = cap = 0;
            }
            if (got == NULL)
                break;
            in_msg = 1;
            too_big = 0;
            number++;
            /* the rest of an over-long "From " line is not part of the message */
            while (!ends && fgets(line, MBOX_LINE, f)) {
                l = strlen(line);
                ends = l > 0 && line[l - 1] == '\n';
            }
            at_start = 1;
            prev_empty = 0;
            continue;
        }
        const char *p = line;
        size_t keep = l;
        if (at_start && line[0] == '>') {
            size_t k = 0;
            while (line[k] == '>')
                k++;
            if (strncmp(line + k, "From ", 5) == 0) {
                p++;
                keep--;
            }
        }
        if (ends)
            prev_empty = at_start && (strcmp(line, "\n") == 0 || strcmp(line, "\r\n") == 0);
        at_start = ends;
        if (!in_msg) /* text before the first "From " line: not an mbox message */
            continue;
        if (too_big || len + keep > REPORT_MAX_MESSAGE) {
            too_big = 1;
            continue;
        }
        if (len + keep + 1 > cap) {
            cap = cap ? cap : 65536;
            while (cap < len + keep + 1)
                cap *= 2;
            msg = xrealloc(msg, cap);
        }
        memcpy(msg + len, p, keep);
        len += keep;
        msg[len] = '\0';
    }
    if (ferror(f)) {
        char *w = make_where(file, 0, NULL);
        reject(in, w, "read error: %s", strerror(errno));
        free(w);
    }
    free(line);
}

/* Read at most cap bytes from f; NULL with errno EFBIG when there is more. */
static char *read_capped(FILE *f, size_t cap, size_t *len)
{
    size_t n = 0, size = 65536;
    char *buf = xmalloc(size);
    for (;;) {
        if (n == size - 1) {
            if (size > cap + 1) {
                free(buf);
                errno = EFBIG;
                return NULL;
            }
            size *= 2;
            buf = xrealloc(buf, size);
        }
        size_t r = fread(buf + n, 1, size - 1 - n, f);
        n += r;
        if (r == 0)
            break;
    }
    if (ferror(f)) {
        free(buf);
        errno = EIO;
        return NULL;
    }
    if (n > cap) {
        free(buf);
        errno = EFBIG;
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* One input file (or stdin when f is stdin): sniff it, then read it as what it is. */
static void ingest_stream(struct ingest *in, FILE *f, const char *file, int is_stdin)
{
    unsigned char head[8];
    size_t hn = fread(head, 1, sizeof(head), f);
    enum kind k = sniff(head, hn);
    int from_line = 0;
    if (is_stdin && k == KIND_MBOX) {
        k = KIND_MESSAGE; /* an MTA pipe may hand over one message with its "From " line */
        from_line = 1;
    }
    if (k == KIND_MBOX && !is_stdin) {
        rewind(f);
        ingest_mbox(in, f, file);
        return;
    }
    size_t cap = k == KIND_GZIP   ? (size_t)in->cfg->max_body
                 : k == KIND_JSON ? (size_t)in->cfg->max_json
                                  : REPORT_MAX_MESSAGE;
    size_t len;
    char *rest = read_capped(f, cap >= hn ? cap - hn : 0, &len);
    char *where = make_where(file, 0, NULL);
    if (rest == NULL) {
        if (errno == EFBIG)
            reject(in, where, "larger than %zu bytes (%s)", cap,
                   k == KIND_GZIP   ? "[reports] max_body"
                   : k == KIND_JSON ? "[reports] max_json"
                                    : "message limit");
        else
            reject(in, where, "read error: %s", strerror(errno));
        free(where);
        return;
    }
    char *buf = xmalloc(hn + len + 1);
    memcpy(buf, head, hn);
    memcpy(buf + hn, rest, len);
    buf[hn + len] = '\0';
    free(rest);
    if (hn + len == 0)
        reject(in, where, "empty input");
    else if (k == KIND_GZIP || k == KIND_JSON) {
        add_report(in, buf, hn + len, "file", where);
        buf = NULL;
    } else {
        size_t skip = 0;
        if (from_line) { /* drop the envelope "From " line: it is not a header */
            char *nl = memchr(buf, '\n', hn + len);
            skip = nl ? (size_t)(nl - buf) + 1 : hn + len;
            memmove(buf, buf + skip, hn + len - skip + 1);
        }
        add_message(in, buf, hn + len - skip, file, 0);
        buf = NULL;
    }
    free(buf);
    free(where);
}

static void ingest_file(struct ingest *in, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        char *w = make_where(path, 0, NULL);
        reject(in, w, "%s", strerror(errno));
        free(w);
        return;
    }
    ingest_stream(in, f, path, 0);
    fclose(f);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The regular files of a directory (not starting with '.'), sorted; in Maildir order. */
static void ingest_dir_files(struct ingest *in, const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        char *w = make_where(dir, 0, NULL);
        reject(in, w, "%s", strerror(errno));
        free(w);
        return;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 32;
            names = xrealloc(names, cap * sizeof(*names));
        }
        names[n++] = xasprintf("%s/%s", dir, e->d_name);
    }
    closedir(d);
    if (n > 1)
        qsort(names, n, sizeof(*names), cmp_str);
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode))
            ingest_file(in, names[i]);
        free(names[i]);
    }
    free(names);
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void ingest_path(struct ingest *in, const char *path)
{
    if (strcmp(path, "-") == 0) {
        ingest_stream(in, stdin, "-", 1);
        return;
    }
    struct stat st;
    if (stat(path, &st) != 0) {
        cli_error("%s: %s", path, strerror(errno));
        in->missing = 1;
        return;
    }
    if (S_ISDIR(st.st_mode)) {
        char *cur = xasprintf("%s/cur", path), *nw = xasprintf("%s/new", path);
        if (is_dir(cur) || is_dir(nw)) { /* Maildir: messages in cur/ and new/ */
            if (is_dir(cur))
                ingest_dir_files(in, cur);
            if (is_dir(nw))
                ingest_dir_files(in, nw);
        } else {
            ingest_dir_files(in, path);
        }
        free(cur);
        free(nw);
        return;
    }
    ingest_file(in, path);
}

static int reports_ingest(int argc, char **argv, const char *config)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config = optarg;
            break;
        case 'h':
            fputs(usage_ingest, stdout);
            return 0;
        default:
            fputs(usage_ingest, stderr);
            return EXIT_USAGE;
        }
    }
    struct stsd_config cfg;
    int rc = cli_load_config(&cfg, config);
    if (rc != 0)
        return rc;
    struct ingest in = {.cfg = &cfg};
    in.db = cli_open_db(&cfg, 1);
    if (in.db == NULL) {
        config_free(&cfg);
        return EXIT_TEMPFAIL; /* an MTA piping to us defers and retries, nothing is lost */
    }
    uint64_t avail = 0;
    if (cfg.min_free > 0 && fs_free_bytes(cfg.state_dir, &avail) == 0 && avail < cfg.min_free) {
        cli_error("%s: only %llu bytes free, less than [reports] min_free (%llu): nothing "
                  "stored; free some space (or lower min_free) and try again",
                  cfg.state_dir, (unsigned long long)avail, (unsigned long long)cfg.min_free);
        db_close(in.db);
        config_free(&cfg);
        return EXIT_TEMPFAIL; /* as above: the MTA keeps the message and retries */
    }
    if (optind >= argc) {
        ingest_path(&in, "-");
    } else {
        for (int i = optind; i < argc && !in.dberror; i++)
            ingest_path(&in, argv[i]);
    }
    flush(&in);
    free(in.items);
    db_close(in.db);
    config_free(&cfg);
    log_event(LOG_INFO, "reports.ingest", "stored=%ld duplicates=%ld conflicts=%ld rejected=%d",
              in.stored, in.duplicates, in.conflicts, in.rejected);
    if (in.dberror)
        return EXIT_TEMPFAIL;
    if (in.missing)
        return EXIT_NOINPUT;
    return in.rejected ? EXIT_PARTIAL : 0;
}

/* ---- list, show, summary ---- */

static int reports_list(int argc, char **argv, const char *config)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"help", no_argument, NULL, 'h'},
                                         {"domain", required_argument, NULL, 'd'},
                                         {"since", required_argument, NULL, 's'},
                                         {"until", required_argument, NULL, 'u'},
                                         {"limit", required_argument, NULL, 'n'},
                                         {"json", no_argument, NULL, OPT_JSON},
                                         {"csv", no_argument, NULL, OPT_CSV},
                                         {NULL, 0, NULL, 0}};
    struct window w = {.config = config, .fmt = OUT_TEXT};
    long long limit = 0;
    int c;
    while ((c = getopt_long(argc, argv, "c:hd:s:u:n:", opts, NULL)) != -1) {
        if (window_option(&w, c))
            continue;
        switch (c) {
        case 'h':
            fputs(usage_list, stdout);
            return 0;
        case 'n': {
            char *end;
            errno = 0;
            limit = strtoll(optarg, &end, 10);
            if (errno || *end || end == optarg || limit < 1) {
                cli_error("--limit '%s': expected a positive number", optarg);
                return EXIT_USAGE;
            }
            break;
        }
        default:
            fputs(usage_list, stderr);
            return EXIT_USAGE;
        }
    }
    struct stsd_config cfg;
    int rc = window_setup(&w, "list", argc, argv, &cfg);
    if (rc != 0)
        return rc;
    struct db *db = cli_open_db(&cfg, 0);
    struct report_listing *v = NULL;
    size_t n = 0;
    struct db_report_filter f = {
        .domain = w.domain, .since = w.since, .until = w.until, .limit = limit};
    if (db == NULL) {
        rc = EXIT_SOFTWARE;
    } else if (db_report_list(db, &f, &v, &n) != 0) {
        cli_error("database: %s", db_errmsg(db));
        rc = EXIT_SOFTWARE;
    } else if (w.fmt == OUT_JSON) {
        print_json(report_list_json(v, n, w.since, w.until));
    } else if (w.fmt == OUT_CSV) {
        report_list_csv(v, n, stdout);
    } else {
        report_list_text(v, n, stdout);
    }
    db_report_list_free(v, n);
    db_close(db);
    config_free(&cfg);
    free(w.domain);
    return rc;
}

static int reports_show(int argc, char **argv, const char *config)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"help", no_argument, NULL, 'h'},
                                         {"raw", no_argument, NULL, OPT_RAW},
                                         {"json", no_argument, NULL, OPT_JSON},
                                         {NULL, 0, NULL, 0}};
    int raw = 0, json = 0, c;
    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config = optarg;
            break;
        case 'h':
            fputs(usage_show, stdout);
            return 0;
        case OPT_RAW:
            raw = 1;
            break;
        case OPT_JSON:
            json = 1;
            break;
        default:
            fputs(usage_show, stderr);
            return EXIT_USAGE;
        }
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
    int rc = cli_load_config(&cfg, config);
    if (rc != 0)
        return rc;
    struct db *db = cli_open_db(&cfg, 0);
    struct report_listing meta;
    struct report r;
    void *bytes = NULL;
    size_t len = 0;
    int found = db ? db_report_get(db, id, &meta, &r, raw ? &bytes : NULL, &len) : -1;
    if (found < 0) {
        if (db)
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
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"help", no_argument, NULL, 'h'},
                                         {"domain", required_argument, NULL, 'd'},
                                         {"since", required_argument, NULL, 's'},
                                         {"until", required_argument, NULL, 'u'},
                                         {"by", required_argument, NULL, 'b'},
                                         {"json", no_argument, NULL, OPT_JSON},
                                         {"csv", no_argument, NULL, OPT_CSV},
                                         {NULL, 0, NULL, 0}};
    struct window w = {.config = config, .fmt = OUT_TEXT};
    enum report_group by = REPORT_BY_NONE;
    int c;
    while ((c = getopt_long(argc, argv, "c:hd:s:u:b:", opts, NULL)) != -1) {
        if (window_option(&w, c))
            continue;
        switch (c) {
        case 'h':
            fputs(usage_summary, stdout);
            return 0;
        case 'b':
            if (report_group_parse(optarg, &by) != 0) {
                cli_error("--by '%s': expected day, domain, mx, reporter or result", optarg);
                return EXIT_USAGE;
            }
            break;
        default:
            fputs(usage_summary, stderr);
            return EXIT_USAGE;
        }
    }
    struct stsd_config cfg;
    int rc = window_setup(&w, "summary", argc, argv, &cfg);
    if (rc != 0)
        return rc;
    struct db *db = cli_open_db(&cfg, 0);
    struct report_summary s = {.since = w.since, .until = w.until, .domain = w.domain, .by = by};
    if (db == NULL) {
        rc = EXIT_SOFTWARE;
    } else if (db_report_summary(db, &s) != 0) {
        cli_error("database: %s", db_errmsg(db));
        rc = EXIT_SOFTWARE;
    } else {
        report_summary_sort(&s);
        if (w.fmt == OUT_JSON)
            print_json(report_summary_json(&s));
        else if (w.fmt == OUT_CSV)
            report_summary_csv(&s, stdout);
        else
            report_summary_text(&s, stdout);
        db_report_summary_clear(&s);
    }
    db_close(db);
    config_free(&cfg);
    free(w.domain);
    return rc;
}

int cmd_reports(int argc, char **argv)
{
    const char *config = NULL;
    int i = 1;
    /* "stsd reports -c FILE ingest ..." as well as "stsd reports ingest -c FILE ..." */
    while (i < argc && argv[i][0] == '-') {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage_main, stdout);
            return 0;
        }
        if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < argc) {
            config = argv[i + 1];
            i += 2;
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            config = argv[i] + 9;
            i++;
        } else {
            cli_error("reports: unknown option '%s'", argv[i]);
            fputs(usage_main, stderr);
            return EXIT_USAGE;
        }
    }
    if (i >= argc) {
        fputs(usage_main, stderr);
        return EXIT_USAGE;
    }
    const char *sub = argv[i];
    int sub_argc = argc - i;
    char **sub_argv = argv + i;
    optind = 0; /* glibc: re-initialise getopt for the subcommand */
    if (strcmp(sub, "ingest") == 0)
        return reports_ingest(sub_argc, sub_argv, config);
    if (strcmp(sub, "list") == 0)
        return reports_list(sub_argc, sub_argv, config);
    if (strcmp(sub, "show") == 0)
        return reports_show(sub_argc, sub_argv, config);
    if (strcmp(sub, "summary") == 0)
        return reports_summary(sub_argc, sub_argv, config);
    if (strcmp(sub, "help") == 0) {
        fputs(usage_main, stdout);
        return 0;
    }
    cli_error("reports: unknown command '%s'; see 'stsd reports --help'", sub);
    return EXIT_USAGE;
}
