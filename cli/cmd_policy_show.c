/* cmd_policy_show.c - `stsd policy show` and `stsd policy validate`: one policy file in detail. */
#include "cli/cmd_policy_int.h"
#include "common/common.h"
#include "policy/policy.h"
#include "sql/db.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static const char usage_show[] =
    "usage: stsd policy show DOMAIN [--json] [-c FILE]\n"
    "\n"
    "Show one domain's policy: its text, id, diagnostics and the history of its versions.\n"
    "Exit 66 when the domain has no policy file.\n"
    "\n"
    "  --json            one JSON object\n"
    "  -c, --config FILE configuration file\n"
    "  -h, --help        this help\n";

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

static json_t *diag_json(const struct policy_diag *d)
{
    json_t *a = json_array();
    for (size_t i = 0; i < d->n; i++) {
        json_array_append_new(a, json_pack("{s:i, s:s, s:s}", "line", d->items[i].line, "severity",
                                           cli__policy_severity(d->items[i].severity), "message",
                                           d->items[i].message));
    }
    return a;
}

static void show_json(const struct hosted_policy *e, const char *path, const char *hex,
                      const struct hosted_version *v, size_t nv)
{
    json_t *o = json_pack("{s:s, s:s, s:b}", "domain", e->domain, "file", path, "valid", e->valid);
    json_object_set_new(o, "id", e->id[0] ? json_string(e->id) : json_null());
    json_object_set_new(o, "sha256", e->text ? json_string(hex) : json_null());
    if (e->valid) {
        json_t *mx = json_array();
        for (size_t i = 0; i < e->policy.n_mx; i++)
            json_array_append_new(mx, json_string(e->policy.mx[i]));
        json_object_set_new(o, "mode", json_string(policy_mode_name(e->policy.mode)));
        json_object_set_new(o, "max_age", json_integer(e->policy.max_age));
        json_object_set_new(o, "mx", mx);
    }
    if (e->withdrawing) {
        char t[21];
        format_rfc3339((time_t)e->withdraw_until, t);
        json_object_set_new(o, "withdraw_until", json_string(t));
    }
    json_t *txt = e->text ? json_stringn(e->text, e->len) : NULL; /* NULL: not UTF-8 */
    json_object_set_new(o, "text", txt ? txt : json_null());
    json_object_set_new(o, "diagnostics", diag_json(&e->diag));
    json_t *h = json_array();
    for (size_t i = 0; i < nv; i++) {
        char t[21];
        format_rfc3339((time_t)v[i].first_seen, t);
        json_array_append_new(h, json_pack("{s:s, s:s, s:s, s:b}", "id", v[i].id, "sha256",
                                           v[i].sha256_hex, "first_seen", t, "current",
                                           e->id[0] && strcmp(v[i].id, e->id) == 0));
    }
    json_object_set_new(o, "history", h);
    char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    puts(s);
    free(s);
    json_decref(o);
}

static void show_text(const struct hosted_policy *e, const char *path, const char *hex,
                      const struct hosted_version *v, size_t nv)
{
    char buf[512];
    struct text_safe ts = {0}; /* file content in messages, escaped */
    printf("domain:  %s\nfile:    %s\n", e->domain, path);
    if (e->valid)
        printf("status:  valid\nid:      %s\nmode:    %s\nmax_age: %ld\n", e->id[0] ? e->id : "-",
               policy_mode_name(e->policy.mode), e->policy.max_age);
    else
        printf("status:  broken: %s\n",
               text_safe(&ts, cli__policy_first_error(path, &e->diag, buf, sizeof(buf))));
    for (size_t i = 0; e->valid && i < e->policy.n_mx; i++)
        printf("mx:      %s\n", e->policy.mx[i]);
    if (e->withdrawing) {
        char t[21];
        format_rfc3339((time_t)e->withdraw_until, t);
        printf("withdrawing: mode none until %s, then the file is removed\n", t);
    }
    if (e->text != NULL)
        printf("sha256:  %s\n", hex);
    if (e->diag.n > 0) {
        printf("diagnostics:\n");
        for (size_t i = 0; i < e->diag.n; i++)
            printf("  %s:%d: %s: %s\n", path, e->diag.items[i].line,
                   cli__policy_severity(e->diag.items[i].severity),
                   text_safe(&ts, e->diag.items[i].message));
    }
    if (e->text != NULL) {
        printf("text:\n");
        const char *s = e->text, *end = e->text + e->len;
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
               e->id[0] && strcmp(v[i].id, e->id) == 0 ? "  (current)" : "");
    }
    text_safe_free(&ts);
}

int cli__policy_target(struct cli__policy_ctx *c, int argc, char **argv, const char *help,
                       const struct option *lo, int (*check)(const struct cli__policy_flags *f),
                       struct cli__policy_target *t)
{
    const char *config = NULL;
    int rc = cli__policy_opts(argc, argv, help, lo, "DOMAIN", &t->f, &config);
    if (rc >= 0 || (check != NULL && (rc = check(&t->f)) >= 0))
        return rc;
    t->domain = cli__policy_domain(argv[0], argv[optind]);
    if (t->domain == NULL)
        return EXIT_USAGE;
    if ((rc = cli__policy_load(c, config, 0)) != 0)
        return rc;
    t->path = hosted_policy_file(c->hs, t->domain);
    if (hosted_policy_get(c->hs, t->domain, HOSTED_IDS, &t->e) == 0) {
        cli_error("policy %s: no policy for %s (no file %s); create one with 'stsd policy "
                  "set %s --mode ... --mx ...'",
                  argv[0], t->domain, t->path, t->domain);
        return EXIT_NOINPUT;
    }
    return -1;
}

void cli__policy_target_free(struct cli__policy_target *t)
{
    cli__policy_flags_free(&t->f);
    hosted_policy_clear(&t->e);
    free(t->path);
    free(t->domain);
    memset(t, 0, sizeof(*t));
}

int cli__policy_show(struct cli__policy_ctx *c, int argc, char **argv)
{
    static const struct option lo[] = {{"json", no_argument, NULL, CLI__OPT_JSON},
                                       {NULL, 0, NULL, 0}};
    struct cli__policy_target t = {0};
    int rc = cli__policy_target(c, argc, argv, usage_show, lo, NULL, &t);
    if (rc >= 0) {
        cli__policy_target_free(&t);
        return rc;
    }
    char hex[65] = "", err[512];
    if (t.e.text != NULL)
        format_hex(t.e.sha256, 32, hex);
    struct hosted_version *v = NULL;
    size_t nv = 0;
    if (hosted_versions(c->hs, t.domain, &v, &nv) != 0) {
        struct db *db = hosted_db(c->hs, err, sizeof(err));
        cli_error("cannot read the version history: %s", db ? db_errmsg(db) : err);
    }
    if (t.f.json)
        show_json(&t.e, t.path, hex, v, nv);
    else
        show_text(&t.e, t.path, hex, v, nv);
    free(v);
    cli__policy_target_free(&t);
    return EXIT_OK_;
}

/* A FILE (or - for standard input) read into e without the store. 0, or an exit code. */
static int validate_file(const char *path, int from_stdin, struct hosted_policy *e)
{
    size_t len = 0;
    memset(e, 0, sizeof(*e));
    e->text = file_read_all(from_stdin ? "/dev/stdin" : path, POLICY_MAX_BODY, &len);
    if (e->text == NULL) {
        int err = errno;
        printf("%s:1: error: %s\n", path,
               err == EFBIG ? "the file is larger than 64 KiB; a policy must be smaller"
                            : strerror(err));
        return err == EFBIG ? EXIT_DATAERR : EXIT_NOINPUT;
    }
    e->len = len;
    e->valid = policy_parse(e->text, len, &e->policy, &e->diag) == 0;
    return 0;
}

int cli__policy_validate(struct cli__policy_ctx *c, int argc, char **argv)
{
    struct cli__policy_flags f = {0};
    const char *config = NULL;
    int rc = cli__policy_opts(argc, argv, usage_validate, NULL, "FILE or DOMAIN", &f, &config);
    if (rc >= 0)
        return rc;
    const char *arg = argv[optind];
    struct stat st;
    struct hosted_policy e;
    char *path = NULL;
    int from_stdin = strcmp(arg, "-") == 0;
    if (from_stdin || (stat(arg, &st) == 0 && !S_ISDIR(st.st_mode))) {
        path = xstrdup(from_stdin ? "<stdin>" : arg);
        if ((rc = validate_file(path, from_stdin, &e)) != 0) {
            hosted_policy_clear(&e);
            free(path);
            return rc;
        }
    } else if (policy_domain_valid(arg)) {
        if ((rc = cli__policy_load(c, config, 0)) != 0)
            return rc;
        path = hosted_policy_file(c->hs, arg);
        int got = hosted_policy_get(c->hs, arg, HOSTED_IDS, &e);
        /* A file over 64 KiB is there: its size error is the diagnostic. */
        if (got == 0 || (got < 0 && e.diag.items[0].kind != POLICY_DIAG_SIZE)) {
            cli_error("policy validate: no policy for %s (%s: %s)", arg, path,
                      e.read_error ? e.read_error : strerror(ENOENT));
            hosted_policy_clear(&e);
            free(path);
            return EXIT_NOINPUT;
        }
    } else {
        cli_error("policy validate: '%s' is neither a file nor a domain name", arg);
        return EXIT_NOINPUT;
    }
    for (size_t i = 0; i < e.diag.n; i++) {
        char *msg = text_escape_dup(e.diag.items[i].message);
        printf("%s:%d: %s: %s\n", path, e.diag.items[i].line,
               cli__policy_severity(e.diag.items[i].severity), msg);
        free(msg);
    }
    size_t more = e.diag.n_errors + e.diag.n_warnings - e.diag.n;
    if (more > 0)
        printf("%s: %zu more diagnostics not shown\n", path, more);
    if (e.valid && e.id[0] != '\0')
        printf("%s: valid (mode %s, %zu mx, max_age %ld, id %s)\n", path,
               policy_mode_name(e.policy.mode), e.policy.n_mx, e.policy.max_age, e.id);
    else if (e.valid)
        printf("%s: valid (mode %s, %zu mx, max_age %ld)\n", path, policy_mode_name(e.policy.mode),
               e.policy.n_mx, e.policy.max_age);
    rc = e.valid ? EXIT_OK_ : EXIT_DATAERR;
    hosted_policy_clear(&e);
    free(path);
    cli__policy_flags_free(&f);
    return rc;
}
