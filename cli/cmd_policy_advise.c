/* cmd_policy_advise.c - `stsd policy advise DOMAIN`: from the stored reports and the latest
 * self-check, the next step towards enforce (RFC 8461 §5: testing before enforce) or what
 * blocks it. */
#include "cli/cli.h"
#include "common/common.h"
#include "hosted/hosted.h"
#include "policy/policy.h"
#include "reports/reports.h"
#include "sql/db.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char usage[] =
    "usage: stsd policy advise DOMAIN [--json] [--since 30d|DATE] [--until DATE] [-c FILE]\n"
    "\n"
    "Read the stored TLS-RPT reports and the latest self-check of DOMAIN and say whether its\n"
    "policy can move on (none -> testing -> enforce), with the exact commands and the new\n"
    "_mta-sts TXT record to publish, or what blocks it. Thresholds for enforce:\n"
    "  - reports starting on at least 14 distinct days in the window (default 30 days)\n"
    "  - at most 0.1% of the reported sessions failed\n"
    "  - a stored self-check ([checks] in stsd serve) whose latest run has no error\n"
    "\n"
    "  --json             one JSON object\n"
    "  --since WHEN       window start: YYYY-MM-DD, an RFC 3339 time or 30d (default 30d)\n"
    "  --until WHEN       window end, excluded, in the same forms (default now)\n"
    "  -c, --config FILE  configuration file\n"
    "  -h, --help         this help\n"
    "\n"
    "exit: 0 ready (or nothing left to do), 1 blocked, 64 usage, 66 not a hosted domain,\n"
    "70 database error.\n";

static json_t *rows_json(const struct report_summary_rows *r, const char *key, int reporters)
{
    json_t *a = json_array();
    for (size_t i = 0; i < r->n; i++) {
        json_t *o = json_pack("{s:s}", key, r->v[i].key);
        if (reporters) {
            json_object_set_new(o, "reports", json_integer(r->v[i].reports));
            json_object_set_new(o, "successful_sessions", json_integer(r->v[i].successful));
        }
        json_object_set_new(o, "failed_sessions", json_integer(r->v[i].failed));
        json_array_append_new(a, o);
    }
    return a;
}

struct taken_ctx {
    struct hosted *hs;
    const char *domain;
};

static int id_taken(void *p, const char *id)
{
    struct taken_ctx *c = p;
    struct hosted_version *v = NULL;
    size_t n = 0;
    int taken = 0;
    if (hosted_versions(c->hs, c->domain, &v, &n) == 0)
        for (size_t i = 0; i < n && !taken; i++)
            taken = strcmp(v[i].id, id) == 0;
    free(v);
    return taken;
}

int cmd_policy_advise(int argc, char **argv, const char *config_path)
{
    static const struct option opts[] = {CLI_COMMON_OPTIONS,
                                         {"json", no_argument, NULL, 'j'},
                                         {"since", required_argument, NULL, 's'},
                                         {"until", required_argument, NULL, 'u'},
                                         {NULL, 0, NULL, 0}};
    int json_out = 0, o;
    const char *since_arg = NULL, *until_arg = NULL;
    optind = 0;
    while ((o = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (o) {
        case 'j':
            json_out = 1;
            break;
        case 's':
            since_arg = optarg;
            break;
        case 'u':
            until_arg = optarg;
            break;
        default: {
            int rc = cli_common_option(o, usage, &config_path);
            if (rc != CLI_NEXT)
                return rc;
        }
        }
    }
    if (optind + 1 != argc) {
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    char domain[256], err[200];
    const char *arg = argv[optind];
    const char *why = domain_normalise_problem(arg, strlen(arg), domain, sizeof(domain));
    if (why != NULL) {
        cli_error("policy advise: '%s' %s", arg, why);
        return EXIT_USAGE;
    }
    time_t now = time(NULL);
    int64_t since, until;
    if (parse_window(since_arg, until_arg, now, &since, &until, err, sizeof(err)) != 0) {
        cli_error("policy advise: %s", err);
        return EXIT_USAGE;
    }

    struct stsd_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    int rc = cli_load_config(&cfg, config_path);
    if (rc != 0)
        return rc;
    char herr[512];
    struct hosted *hs = hosted_open(&cfg, 0, herr, sizeof(herr));
    struct hosted_policy e;
    memset(&e, 0, sizeof(e));
    if (hs == NULL || hosted_policy_get(hs, domain, HOSTED_IDS, &e) == 0) {
        if (hs == NULL)
            cli_error("%s", herr);
        else
            cli_error("policy advise: %s is not a hosted domain (no %s/%s.txt)", domain,
                      hosted_policy_dir(hs), domain);
        hosted_policy_clear(&e);
        hosted_close(hs);
        config_free(&cfg);
        return hs == NULL ? EXIT_SOFTWARE : EXIT_NOINPUT;
    }
    struct db *db = hosted_db(hs, herr, sizeof(herr));
    if (db == NULL) {
        cli_error("%s", herr);
        hosted_policy_clear(&e);
        hosted_close(hs);
        config_free(&cfg);
        return EXIT_SOFTWARE;
    }

    /* The current policy and its id. */
    char policy_id[33];
    snprintf(policy_id, sizeof(policy_id), "%s", e.id);

    struct db_advise_facts facts;
    struct report_summary s;
    if (db_advise_facts(db, domain, since, until_arg != NULL ? until : (int64_t)now + 1, &s,
                        &facts) != 0) {
        cli_error("policy advise: database error: %s", db_errmsg(db));
        rc = EXIT_SOFTWARE;
        goto out;
    }
    report_summary_sort(&s);
    struct db_check *chk = facts.chk;
    size_t nchk = facts.nchk;
    struct db_check_finding *f = facts.f;
    size_t nf = facts.nf;
    int64_t days = (int64_t)s.groups.n;

    /* What the next mode is and what blocks it. */
    enum policy_mode mode = e.valid ? e.policy.mode : POLICY_MODE_NONE;
    char diag_buf[300];
    struct report_advise_in in = {
        .valid = e.valid,
        .invalid_reason = e.valid ? NULL : policy_diag_first(&e.diag, diag_buf, sizeof(diag_buf)),
        .mode = policy_mode_name(mode),
        .max_age = e.valid ? e.policy.max_age : 0,
        .days = days,
        .successful = s.successful,
        .failed = s.failed,
        .have_check = nchk > 0,
        .check_errors = nchk > 0 ? chk[0].errors : 0,
    };
    struct report_advice adv;
    report_advise(&in, &adv);
    const char *target = adv.target;
    int ready = adv.ready, raise_max_age = adv.raise_max_age;
    size_t nb = adv.n_blockers;
    double frate = adv.failure_rate;

    char *cmd = NULL;
    char next_id[POLICY_ID_MAX + 1] = "", txt[128] = "";
    if (ready) {
        long max_age = adv.max_age;
        size_t cap = 128 + 300 * e.policy.n_mx, len;
        cmd = xmalloc(cap);
        len = (size_t)snprintf(cmd, cap, "stsd policy set %s --mode %s", domain, target);
        for (size_t i = 0; i < e.policy.n_mx; i++)
            len += (size_t)snprintf(cmd + len, cap - len, " --mx %s", e.policy.mx[i]);
        if (e.policy.n_mx == 0)
            len += (size_t)snprintf(cmd + len, cap - len, " --mx <your MX host>");
        snprintf(cmd + len, cap - len, " --max-age %ld", max_age);
        struct taken_ctx tc = {hs, domain};
        policy_new_id((int64_t)now, id_taken, &tc, next_id);
        policy_sts_txt_format(next_id, txt, sizeof(txt));
    }

    char t0[21], t1[21];
    report_format_time(s.since, t0);
    report_format_time(until, t1);
    if (json_out) {
        json_t *out_o = json_object();
        json_object_set_new(out_o, "domain", json_string(domain));
        json_object_set_new(out_o, "mode",
                            e.valid ? json_string(policy_mode_name(mode)) : json_null());
        json_object_set_new(out_o, "policy_id",
                            policy_id[0] ? json_string(policy_id) : json_null());
        json_object_set_new(out_o, "max_age",
                            e.valid ? json_integer(e.policy.max_age) : json_null());
        json_object_set_new(out_o, "since", json_string(t0));
        json_object_set_new(out_o, "until", json_string(t1));
        json_object_set_new(out_o, "days_with_reports", json_integer(days));
        json_object_set_new(out_o, "reports", json_integer(s.reports));
        json_object_set_new(out_o, "successful_sessions", json_integer(s.successful));
        json_object_set_new(out_o, "failed_sessions", json_integer(s.failed));
        json_object_set_new(out_o, "failure_rate", json_real(frate));
        json_object_set_new(out_o, "reporters", rows_json(&s.by_reporter, "organization", 1));
        json_object_set_new(out_o, "failures_by_result_type",
                            rows_json(&s.by_result_type, "result_type", 0));
        if (nchk > 0) {
            char t[21];
            format_rfc3339((time_t)chk[0].started, t);
            json_t *fa = json_array();
            for (size_t i = 0; i < nf; i++)
                json_array_append_new(fa, json_pack("{s:s,s:s,s:s,s:s}", "id", f[i].finding,
                                                    "severity", f[i].severity, "subject",
                                                    f[i].subject, "message", f[i].message));
            json_object_set_new(out_o, "latest_check",
                                json_pack("{s:s,s:i,s:i,s:o}", "started", t, "errors",
                                          chk[0].errors, "warnings", chk[0].warnings, "findings",
                                          fa));
        } else {
            json_object_set_new(out_o, "latest_check", json_null());
        }
        json_object_set_new(out_o, "thresholds",
                            json_pack("{s:i,s:f,s:i}", "min_days", REPORT_ADVISE_MIN_DAYS,
                                      "max_failure_rate", REPORT_ADVISE_MAX_FAILURE_RATE,
                                      "max_check_errors", 0));
        json_object_set_new(out_o, "target_mode", target ? json_string(target) : json_null());
        json_object_set_new(out_o, "ready", json_boolean(ready));
        json_t *ba = json_array();
        for (size_t i = 0; i < nb; i++)
            json_array_append_new(ba, json_pack("{s:s,s:s}", "id", adv.blockers[i].id, "message",
                                                adv.blockers[i].message));
        json_object_set_new(out_o, "blockers", ba);
        if (ready) {
            char name[300];
            snprintf(name, sizeof(name), "_mta-sts.%s.", domain);
            json_object_set_new(out_o, "next_step",
                                json_pack("{s:[s],s:{s:s,s:s,s:s}}", "commands", cmd, "txt", "name",
                                          name, "value", txt, "id", next_id));
        } else {
            json_object_set_new(out_o, "next_step", json_null());
        }
        char *out = json_dumps(out_o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        puts(out);
        free(out);
        json_decref(out_o);
    } else {
        struct text_safe ts = {0}; /* reporters, result types, findings: stored remote text */
        printf("domain:   %s\n", domain);
        if (e.valid)
            printf("policy:   mode %s, id %s, max_age %ld\n", policy_mode_name(mode),
                   policy_id[0] ? policy_id : "(not recorded)", e.policy.max_age);
        else
            printf("policy:   invalid\n");
        printf("window:   %s .. %s\n", t0, t1);
        printf("reports:  %lld on %lld day(s) from %zu reporter(s)\n", (long long)s.reports,
               (long long)days, s.by_reporter.n);
        for (size_t i = 0; i < s.by_reporter.n; i++)
            printf("          %s: %lld report(s), %lld successful, %lld failed\n",
                   text_safe(&ts, s.by_reporter.v[i].key), (long long)s.by_reporter.v[i].reports,
                   (long long)s.by_reporter.v[i].successful, (long long)s.by_reporter.v[i].failed);
        printf("sessions: %lld successful, %lld failed (%.2f%% failed; at most %.2f%% for "
               "enforce)\n",
               (long long)s.successful, (long long)s.failed, frate * 100.0,
               REPORT_ADVISE_MAX_FAILURE_RATE * 100.0);
        for (size_t i = 0; i < s.by_result_type.n; i++)
            printf("          %s: %lld failed\n", text_safe(&ts, s.by_result_type.v[i].key),
                   (long long)s.by_result_type.v[i].failed);
        if (nchk > 0) {
            char t[21];
            format_rfc3339((time_t)chk[0].started, t);
            printf("check:    %s: %d error(s), %d warning(s)\n", t, chk[0].errors, chk[0].warnings);
            for (size_t i = 0; i < nf; i++)
                if (strcmp(f[i].severity, "info") != 0)
                    printf("          %s %s %s: %s\n", f[i].severity, f[i].finding,
                           text_safe(&ts, f[i].subject), text_safe(&ts, f[i].message));
        } else {
            printf("check:    none stored\n");
        }
        if (ready) {
            printf("\nready: move to %s%s.\n", target,
                   raise_max_age ? " with a longer max_age" : "");
            printf("  1. %s\n", cmd);
            printf("  2. publish: _mta-sts.%s. IN TXT \"%s\"\n", domain, txt);
            printf("     (the id is the one 'stsd policy set' records now; if it prints "
                   "another, publish that)\n");
        } else if (nb > 0) {
            printf("\nnot ready%s%s; blocked by:\n", target ? " for " : "", target ? target : "");
            for (size_t i = 0; i < nb; i++)
                printf("  - %s\n", text_safe(&ts, adv.blockers[i].message));
        } else {
            printf("\nnothing to do: the policy enforces with max_age %ld.\n",
                   e.valid ? e.policy.max_age : 0L);
        }
        text_safe_free(&ts);
    }
    rc = nb > 0 ? EXIT_PARTIAL : EXIT_OK_;
    free(cmd);
out:
    db_advise_facts_clear(&facts);
    hosted_policy_clear(&e);
    hosted_close(hs);
    config_free(&cfg);
    return rc;
}
