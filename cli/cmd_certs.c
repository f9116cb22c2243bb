/* cmd_certs.c - `stsd certs list|renew`: the certificates served for the mta-sts host names and
 * what the ACME client of `stsd serve` knows of them; renewals are asked of that server. */
#include "acme/acme.h"
#include "cli/cli.h"
#include "common/common.h"
#include "hosted/hosted.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * The command line never orders nor writes a certificate: `renew` records a request in the
 * database (hosted_acme_request) and the running server's ACME scheduler, which polls those
 * rows, orders and installs, then records the outcome that `renew` waits for.
 */

static const char usage[] =
    "usage: stsd certs [-c FILE] COMMAND [ARGS...]\n"
    "\n"
    "The certificates served for the mta-sts.<domain> names: the files in [tls] cert_dir\n"
    "and what the ACME client of `stsd serve` ([acme] directory) knows of each.\n"
    "\n"
    "commands:\n"
    "  list [--json]                          every certificate, and every hosted domain\n"
    "                                         without one\n"
    "  renew [DOMAIN] [--force] [--wait SECS] ask the running `stsd serve` to renew (every\n"
    "                                         hosted domain without DOMAIN) and wait for it\n"
    "\n"
    "options (also accepted after the command):\n"
    "  -c, --config FILE                      configuration file\n"
    "  -h, --help                             this help; 'stsd certs COMMAND --help' for one\n";

static const char usage_list[] =
    "usage: stsd certs list [--json] [-c FILE]\n"
    "\n"
    "Every certificate in [tls] cert_dir and every hosted domain without one: the name it\n"
    "serves, its issuer, not-after (UTC), days left and source: acme (the certificate the\n"
    "ACME client last installed), file (put there by hand or uploaded), none (no certificate\n"
    "covers mta-sts.<domain>). When the ACME client has ordered for the domain, its state\n"
    "(ok, failed, pending), consecutive failures, next attempt and last error follow.\n"
    "\n"
    "  --json            one JSON object {\"cert_dir\": ..., \"certificates\": [...]}\n"
    "  -c, --config FILE configuration file\n"
    "  -h, --help        this help\n";

static const char usage_renew[] =
    "usage: stsd certs renew [DOMAIN] [--force] [--wait SECS] [-c FILE]\n"
    "\n"
    "Ask the running `stsd serve` to renew the certificate of mta-sts.DOMAIN (without\n"
    "DOMAIN: of every hosted domain) through ACME, and wait for the outcome. A certificate\n"
    "that is not due (more than [acme] renew_before left) is left alone unless --force.\n"
    "The request is kept in the database: a server started later acts on it too.\n"
    "\n"
    "  --force           renew even when not due\n"
    "  --wait SECS       wait at most this long for the outcome (default 120; 0: do not wait)\n"
    "  -c, --config FILE configuration file\n"
    "  -h, --help        this help\n"
    "\n"
    "One line per domain: 'renewed mta-sts.D: not after TIME', 'failed mta-sts.D: ERROR',\n"
    "'mta-sts.D: not due (N days left)', 'not renewed mta-sts.D: ...' (serve answered the\n"
    "request without a new order) or, with --wait 0, 'requested mta-sts.D'.\n"
    "\n"
    "exit: 0 every certificate asked for was renewed (or none was due), 1 some renewal\n"
    "failed or was not made, 64 usage, 66 DOMAIN is not hosted, 75 no outcome within --wait\n"
    "(is `stsd serve` running?), 78 ACME is not configured ([acme] directory).\n";

enum { OPT_JSON = 256, OPT_FORCE, OPT_WAIT };

#define WAIT_MAX 86400 /* --wait: at most a day */

struct certs {
    struct stsd_config cfg;
    struct hosted *h;
    const struct hosted_cert *certs; /* owned by h */
    size_t n_certs;
    struct hosted_acme *acme; /* sorted by domain */
    size_t n_acme;
};

/* Load the configuration and open the hosted state with flags. 0, or the exit code (said). */
static int certs_open(struct certs *c, const char *config, unsigned flags)
{
    int rc;
    memset(c, 0, sizeof(*c));
    c->h = cli_open_hosted(&c->cfg, config, flags, &rc);
    if (c->h == NULL)
        config_free(&c->cfg);
    return c->h != NULL ? 0 : rc;
}

static void certs_close(struct certs *c)
{
    hosted_acme_free(c->acme, c->n_acme);
    hosted_close(c->h);
    config_free(&c->cfg);
}

static int acme_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const struct hosted_acme *)elem)->domain);
}

/* The ACME row of domain d in rows (sorted by domain), or NULL. */
static const struct hosted_acme *acme_find(const struct hosted_acme *rows, size_t n, const char *d)
{
    return d != NULL && n > 0 ? bsearch(d, rows, n, sizeof(*rows), acme_cmp) : NULL;
}

/* Whole days from now to t, rounded down (negative once t has passed). */
static long long days_left(int64_t t, int64_t now)
{
    int64_t d = t - now;
    return d >= 0 ? d / 86400 : -((-d + 86399) / 86400);
}

/* t as RFC 3339 UTC into buf, "-" when 0. */
static const char *when(int64_t t, char buf[21])
{
    if (t == 0)
        return "-";
    format_rfc3339((time_t)t, buf);
    return buf;
}

/* ---- list ---------------------------------------------------------------------------- */

/* One line of the listing: a certificate file, or a hosted domain that has none. */
struct entry {
    const char *name;
    const char *domain; /* d of mta-sts.<d>, or NULL */
    const struct hosted_cert *cert;
    const struct hosted_acme *acme;
};

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const struct entry *)a)->name, ((const struct entry *)b)->name);
}

static json_t *json_time(int64_t t)
{
    char buf[21];
    return t ? json_string(when(t, buf)) : json_null();
}

static json_t *json_opt(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *acme_json(const struct hosted_acme *a)
{
    if (a == NULL)
        return json_null();
    return json_pack("{s:s, s:i, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:i, s:o}", "state", a->state,
                     "failures", a->failures, "next_attempt", json_time(a->next_attempt),
                     "last_attempt", json_time(a->last_attempt), "last_success",
                     json_time(a->last_success), "not_after", json_time(a->not_after), "serial",
                     json_opt(a->serial), "last_error", json_opt(a->last_error), "account",
                     json_opt(a->account), "request", a->request, "requested_at",
                     json_time(a->requested_at));
}

static json_t *entry_json(const struct entry *e, int64_t now)
{
    const struct hosted_cert *c = e->cert;
    json_t *o = json_pack("{s:s, s:o}", "name", e->name, "domain", json_opt(e->domain));
    json_object_set_new(o, "file", json_opt(c ? c->file : NULL));
    json_object_set_new(o, "issuer", json_opt(c ? c->issuer : NULL));
    json_object_set_new(o, "serial", json_opt(c ? c->serial : NULL));
    json_object_set_new(o, "not_before", json_time(c ? c->not_before : 0));
    json_object_set_new(o, "not_after", json_time(c ? c->not_after : 0));
    json_object_set_new(o, "days_left",
                        c ? json_integer(days_left(c->not_after, now)) : json_null());
    json_object_set_new(o, "source", json_string(c ? c->source : "none"));
    json_object_set_new(o, "acme", acme_json(e->acme));
    return o;
}

static void entry_text(const struct entry *e, int64_t now)
{
    const struct hosted_cert *c = e->cert;
    struct text_safe ts = {0}; /* the issuer and the CA's error are remote text */
    char t[21], days[24] = "-";
    if (c != NULL)
        snprintf(days, sizeof(days), "%lld", days_left(c->not_after, now));
    printf("%-34s %-20s %5s %-6s %s\n", e->name, c ? when(c->not_after, t) : "-", days,
           c ? c->source : "none", c ? text_safe(&ts, c->issuer) : "-");
    const struct hosted_acme *a = e->acme;
    if (a != NULL) {
        char t2[21];
        printf("    acme: %s, failures %d, next attempt %s",
               a->state[0] ? a->state : "not ordered yet", a->failures,
               a->next_attempt > now ? when(a->next_attempt, t) : "when due");
        if (a->request)
            printf(", renewal%s requested %s", a->request == 2 ? " (forced)" : "",
                   when(a->requested_at, t2));
        printf("%s%s\n", a->last_error ? ", last error: " : "",
               a->last_error ? text_safe(&ts, a->last_error) : "");
    }
    text_safe_free(&ts);
}

/* Read the certificates and the ACME rows into c (a database without them reads as none). */
static int certs_read(struct certs *c)
{
    if (hosted_certs(c->h, &c->certs, &c->n_certs) != 0) {
        cli_error("cannot read %s: %s", hosted_cert_dir(c->h), strerror(errno));
        return EXIT_SOFTWARE;
    }
    if (hosted_acme_list(c->h, &c->acme, &c->n_acme) != 0) {
        c->acme = NULL;
        c->n_acme = 0;
    }
    return 0;
}

static int do_list(int argc, char **argv, const char *config)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, OPT_JSON}, CLI_COMMON_OPTIONS, {NULL, 0, NULL, 0}};
    int o, rc, json = 0;
    while ((o = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        if (o == OPT_JSON)
            json = 1;
        else if ((rc = cli_common_option(o, usage_list, &config)) != CLI_NEXT)
            return rc;
    }
    if (optind < argc) {
        cli_error("certs list: unexpected argument '%s'; see 'stsd certs list --help'",
                  argv[optind]);
        return EXIT_USAGE;
    }
    struct certs c;
    /* Read-only: listing never creates nor migrates anything. */
    if ((rc = certs_open(&c, config, HOSTED_READ_ONLY)) != 0)
        return rc;
    struct hosted_policy_list l = {0};
    char err[512];
    if ((rc = certs_read(&c)) != 0 || hosted_policy_list(c.h, 0, &l, err, sizeof(err)) != 0) {
        if (rc == 0)
            cli_error("%s", err);
        certs_close(&c);
        return EXIT_SOFTWARE;
    }
    struct entry *v = xcalloc(c.n_certs + l.n + 1, sizeof(*v));
    size_t n = 0;
    for (size_t i = 0; i < c.n_certs; i++) {
        const char *name = c.certs[i].name;
        const char *d = strncmp(name, "mta-sts.", 8) == 0 ? name + 8 : NULL;
        v[n++] = (struct entry){name, d, &c.certs[i], acme_find(c.acme, c.n_acme, d)};
    }
    char **names = xcalloc(l.n + 1, sizeof(char *));
    for (size_t i = 0; i < l.n; i++) {
        const char *d = l.items[i].domain;
        if (hosted_cert_for(c.h, d) >= 0)
            continue;
        names[i] = xasprintf("mta-sts.%s", d);
        v[n++] = (struct entry){names[i], d, NULL, acme_find(c.acme, c.n_acme, d)};
    }
    qsort(v, n, sizeof(*v), entry_cmp);
    int64_t now = (int64_t)time(NULL);
    json_t *arr = json ? json_array() : NULL;
    if (!json)
        printf("%-34s %-20s %5s %-6s %s\n", "NAME", "NOT AFTER (UTC)", "DAYS", "SOURCE", "ISSUER");
    for (size_t i = 0; i < n; i++) {
        if (json)
            json_array_append_new(arr, entry_json(&v[i], now));
        else
            entry_text(&v[i], now);
    }
    if (json) {
        json_t *out =
            json_pack("{s:s, s:o}", "cert_dir", hosted_cert_dir(c.h), "certificates", arr);
        char *s = json_dumps(out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        puts(s);
        free(s);
        json_decref(out);
    }
    strv_free(names, l.n);
    free(v);
    hosted_policy_list_free(&l);
    certs_close(&c);
    return EXIT_OK_;
}

/* ---- renew --------------------------------------------------------------------------- */

/* One domain renew asked for, and what has become of it. */
struct pending {
    char *domain;
    int done;    /* the outcome was printed */
    int dropped; /* polls that saw the request gone without an order */
};

/* What the row of one pending domain says since the request at t0: 1 an outcome (printed; a
 * failure counted in *failed), 0 not yet. An order under way ("pending"), or one that ended
 * without a result (serve stopped during it), is no outcome: the request stays for the next. */
static int outcome(struct pending *p, const struct hosted_acme *a, int64_t t0, int *failed)
{
    char t[21];
    /* serve clears the request when it has handled it; an order that ended in the second of
     * the request but began before it leaves the request in place */
    if (a == NULL || a->request != 0)
        return 0;
    if (strcmp(a->state, "ok") == 0 && a->last_success >= t0) {
        printf("renewed mta-sts.%s: not after %s\n", p->domain, when(a->not_after, t));
        return 1;
    }
    if (strcmp(a->state, "failed") == 0 && a->last_attempt >= t0) {
        char *why = text_escape_dup(a->last_error ? a->last_error : "no reason recorded");
        printf("failed mta-sts.%s: %s\n", p->domain, why);
        free(why);
        (*failed)++;
        return 1;
    }
    /* The request was answered without an order since (serve found the certificate not due,
     * or an order that began before the request ended): seen on two polls in a row, so that
     * a request being taken up is not misread. */
    if (a->last_attempt < t0 && ++p->dropped >= 2) {
        printf("not renewed mta-sts.%s: `stsd serve` answered without a new order (see its log "
               "for acme.renew.not_due); run renew again\n",
               p->domain);
        (*failed)++;
        return 1;
    }
    return 0;
}

/* Poll the ACME rows until every pending domain has an outcome or `wait` seconds passed. */
static int wait_outcomes(struct certs *c, struct pending *p, size_t n, int64_t t0, long wait)
{
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    size_t left = n;
    int failed = 0;
    for (;;) {
        struct hosted_acme *rows;
        size_t nr;
        if (hosted_acme_list(c->h, &rows, &nr) != 0) {
            cli_error("cannot read the ACME state from the database");
            return EXIT_SOFTWARE;
        }
        for (size_t i = 0; i < n; i++)
            if (!p[i].done && outcome(&p[i], acme_find(rows, nr, p[i].domain), t0, &failed))
                p[i].done = 1, left--;
        hosted_acme_free(rows, nr);
        fflush(stdout);
        if (left == 0)
            return failed ? EXIT_PARTIAL : EXIT_OK_;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 >=
            wait * 1000) {
            cli_error("no result in %ld s: is `stsd serve` running with [acme] directory set? "
                      "(the request stays recorded; it is acted on when serve runs)",
                      wait);
            return EXIT_TEMPFAIL;
        }
        nanosleep(&(struct timespec){0, 250 * 1000 * 1000}, NULL);
    }
}

/* The hosted domains renew names: DOMAIN, or every one. 0, or the exit code (said). */
static int renew_domains(struct certs *c, const char *arg, struct hosted_policy_list *l)
{
    char err[512];
    memset(l, 0, sizeof(*l));
    if (arg == NULL) {
        if (hosted_policy_list(c->h, 0, l, err, sizeof(err)) != 0) {
            cli_error("%s", err);
            return EXIT_SOFTWARE;
        }
        if (l->n == 0) {
            cli_error("certs renew: no domain is hosted (no policy file in %s); add one with "
                      "'stsd policy set'",
                      hosted_policy_dir(c->h));
            return EXIT_NOINPUT;
        }
        return 0;
    }
    char d[256];
    const char *why = domain_normalise_problem(arg, strlen(arg), d, sizeof(d));
    if (why != NULL) {
        cli_error("certs renew: '%s' is not a valid domain name: it %s", arg, why);
        return EXIT_USAGE;
    }
    l->items = xcalloc(1, sizeof(*l->items));
    if (hosted_policy_get(c->h, d, 0, &l->items[0]) == 0) {
        char *file = hosted_policy_file(c->h, d);
        cli_error("certs renew: %s is not hosted: there is no policy file %s; add one with "
                  "'stsd policy set %s'",
                  d, file, d);
        free(file);
        return EXIT_NOINPUT;
    }
    l->n = 1;
    return 0;
}

static int do_renew(int argc, char **argv, const char *config)
{
    static const struct option opts[] = {{"force", no_argument, NULL, OPT_FORCE},
                                         {"wait", required_argument, NULL, OPT_WAIT},
                                         CLI_COMMON_OPTIONS,
                                         {NULL, 0, NULL, 0}};
    int o, rc, force = 0;
    int64_t wait = 120;
    while ((o = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        if (o == OPT_FORCE) {
            force = 1;
        } else if (o == OPT_WAIT) {
            if (parse_duration(optarg, &wait) != 0 || wait > WAIT_MAX) {
                cli_error("certs renew: --wait '%s' is not a number of seconds up to %d", optarg,
                          WAIT_MAX);
                return EXIT_USAGE;
            }
        } else if ((rc = cli_common_option(o, usage_renew, &config)) != CLI_NEXT) {
            return rc;
        }
    }
    if (argc - optind > 1) {
        cli_error("certs renew: give at most one DOMAIN; see 'stsd certs renew --help'");
        return EXIT_USAGE;
    }
    const char *arg = optind < argc ? argv[optind] : NULL;
    struct certs c;
    if ((rc = certs_open(&c, config, 0)) != 0)
        return rc;
    struct hosted_policy_list l = {0};
    if (c.cfg.acme_directory == NULL || c.cfg.acme_directory[0] == '\0') {
        cli_error("certs renew: ACME is not configured: set [acme] directory to the CA's "
                  "directory URL (and run `stsd serve`, which orders the certificates)");
        rc = EXIT_CONFIG;
    } else if ((rc = renew_domains(&c, arg, &l)) == 0) {
        rc = certs_read(&c);
    }
    struct pending *p = xcalloc(l.n + 1, sizeof(*p));
    size_t np = 0;
    int64_t now = (int64_t)time(NULL);
    /* Every domain forced: one transaction marks them all (thousands of domains). */
    int all = rc == 0 && force && arg == NULL;
    if (all && hosted_acme_request(c.h, NULL, 1, now) < 0) {
        cli_error("cannot record the renewal requests in the database");
        rc = EXIT_SOFTWARE;
    }
    for (size_t i = 0; rc == 0 && i < l.n; i++) {
        const char *d = l.items[i].domain;
        char host[262];
        snprintf(host, sizeof(host), "mta-sts.%s", d);
        int k = hosted_cert_for(c.h, d);
        int covers = k >= 0 && X509_check_host(c.certs[k].x509, host, 0,
                                               X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) == 1;
        int64_t not_after = k >= 0 ? c.certs[k].not_after : 0;
        if (!force && !acme_needs_cert(now, not_after, covers, c.cfg.acme_renew_before)) {
            printf("%s: not due (%lld days left)\n", host, days_left(not_after, now));
            continue;
        }
        int marked = all ? 1 : hosted_acme_request(c.h, d, force, now);
        if (marked < 0) {
            cli_error("cannot record the renewal request of %s in the database", host);
            rc = EXIT_SOFTWARE;
        } else if (marked > 0) {
            p[np++].domain = xstrdup(d);
            if (wait == 0)
                printf("requested %s\n", host);
        }
    }
    if (rc == 0 && np > 0 && wait > 0)
        rc = wait_outcomes(&c, p, np, now, (long)wait);
    for (size_t i = 0; i < np; i++)
        free(p[i].domain);
    free(p);
    hosted_policy_list_free(&l);
    certs_close(&c);
    return rc;
}

int cmd_certs(int argc, char **argv)
{
    static const struct cli_command cmds[] = {{"list", do_list}, {"renew", do_renew}, {NULL, NULL}};
    return cli_run_group(argc, argv, usage, cmds);
}
