/* test_ingest.c - unit tests of mail/ingest.c and read.c on a temporary database: the
 * outcomes a run hands to its callback, in input order, with where they come from, and the
 * counts (stored, duplicate, rejected, missing); the DKIM result of a message with its
 * reports, and [mail] require_dkim. Keys come from the fixture lookup: no DNS. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/common.h"
#include "mail/mail.h"
#include "reports/reports.h"
#include "sql/db.h"
#include "tests/unit/mail/mail_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct fixture {
    char dir[64];
    struct db *db;
    struct stsd_config cfg;
    char *lines[32]; /* one line per outcome: "OUTCOME file message part org/reason" */
    int n;
    char *owned[16]; /* strings the test made, freed by teardown */
    int n_owned;
    struct dkim_keys keys;
    struct mail_dkim_verifier *dkim;
};

/* s, to be freed by teardown. */
static char *own(struct fixture *f, char *s)
{
    assert_true(f->n_owned < 16);
    return f->owned[f->n_owned++] = s;
}

static void on_item(const struct mail_item *it, void *user)
{
    struct fixture *f = user;
    static const char *const name[] = {"stored",  "duplicate", "conflict", "rejected",
                                       "missing", "dberror",   "deferred"};
    assert_true(f->n < 32);
    const char *base = strrchr(it->file, '/');
    f->lines[f->n++] =
        xasprintf("%s %s %ld %s %s%s%s%s%s", name[it->outcome], base ? base + 1 : it->file,
                  it->message, it->part ? it->part : "-", it->reason ? it->reason : it->report_id,
                  it->dkim ? " dkim=" : "", it->dkim ? it->dkim : "", it->dkim_domain ? " d=" : "",
                  it->dkim_domain ? it->dkim_domain : "");
}

static int setup(void **state)
{
    struct fixture *f = xcalloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/stsd-test-mail-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    char *path = xasprintf("%s/stsd.db", f->dir), err[256];
    f->db = db_open(path, err, sizeof(err));
    free(path);
    if (f->db == NULL)
        return -1;
    config_defaults(&f->cfg);
    f->dkim = dkim_keys_verifier(&f->keys);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    db_close(f->db);
    config_free(&f->cfg);
    dkim_keys_free(&f->keys, f->dkim);
    for (int i = 0; i < f->n; i++)
        free(f->lines[i]);
    for (int i = 0; i < f->n_owned; i++)
        free(f->owned[i]);
    char *cmd = xasprintf("rm -rf '%s'", f->dir);
    int rc = system(cmd);
    free(cmd);
    free(f);
    return rc == 0 ? 0 : -1;
}

static char *data_path(struct fixture *f, const char *rel)
{
    const char *d = getenv("STSD_TEST_DATA");
    return own(f, xasprintf("%s/%s", d ? d : "tests/data", rel));
}

static char *read_data(struct fixture *f, const char *rel, size_t *len)
{
    char *s = file_read_all(data_path(f, rel), 1 << 20, len);
    assert_non_null(s);
    return own(f, s);
}

static const char *write_file(struct fixture *f, const char *name, const char *bytes, size_t len)
{
    char *p = own(f, xasprintf("%s/%s", f->dir, name));
    FILE *o = fopen(p, "wb");
    assert_non_null(o);
    assert_int_equal(fwrite(bytes, 1, len, o), len);
    fclose(o);
    return p;
}

static struct mail_counts run(struct fixture *f, const char *const *paths, int n)
{
    struct mail_ingest *in = mail_ingest_new(f->db, &f->cfg, on_item, f);
    mail_ingest_set_dkim(in, f->dkim);
    for (int i = 0; i < n; i++)
        mail_ingest_path(in, paths[i]);
    struct mail_counts c;
    mail_ingest_finish(in, &c);
    return c;
}

/* The counts of a run, as "stored/duplicates/conflicts/rejected/missing/dberror". */
static void counts_are(const struct mail_counts *c, const char *want)
{
    char got[96];
    snprintf(got, sizeof(got), "%ld/%ld/%ld/%ld/%d/%d%s", c->stored, c->duplicates, c->conflicts,
             c->rejected, c->missing, c->dberror, c->deferred ? "/deferred" : "");
    assert_string_equal(got, want);
}

static void test_outcomes_in_order(void **state)
{
    struct fixture *f = *state;
    const char *json = data_path(f, "tlsrpt/valid/phi-rfc.json");
    size_t elen;
    const char *msg = read_data(f, "tlsrpt/email/mox-google-2022.eml", &elen);
    /* an mbox: the e-mail, then a message without a report */
    char *mb = own(f, xasprintf("From a@example.test Mon Jan  1 00:00:00 2024\n%s\n"
                                "From b@example.test Mon Jan  1 00:00:01 2024\n"
                                "Subject: hello\n\nhi\n",
                                msg));
    const char *paths[] = {json,
                           write_file(f, "two.mbox", mb, strlen(mb)),
                           write_file(f, "bad.json", "{\"x\": 1}", 8),
                           own(f, xasprintf("%s/nope", f->dir)),
                           write_file(f, "empty", "", 0),
                           json};
    struct mail_counts c = run(f, paths, 6);
    assert_int_equal(c.stored, 2);
    assert_int_equal(c.duplicates, 1);
    assert_int_equal(c.conflicts, 0);
    assert_int_equal(c.rejected, 3);
    assert_int_equal(c.missing, 1);
    assert_int_equal(c.dberror, 0);
    /* The missing path is reported at once; the rest when the batch is stored, in order. */
    assert_int_equal(f->n, 7);
    assert_string_equal(f->lines[0], "missing nope 0 - No such file or directory");
    assert_string_equal(f->lines[1],
                        "stored phi-rfc.json 0 - 5065427c-23d3-47ca-b6e0-946ea0e8c4be");
    assert_true(strncmp(f->lines[2], "stored two.mbox 1 - ", 20) == 0);
    /* Google's key cannot be fetched (offline): recorded, stored all the same. */
    assert_non_null(strstr(f->lines[2], " dkim=temperror d=google.com"));
    assert_string_equal(f->lines[3], "rejected two.mbox 2 - no TLS-RPT report in the message");
    assert_true(strncmp(f->lines[4], "rejected bad.json 0 - ", 22) == 0);
    assert_string_equal(f->lines[5], "rejected empty 0 - empty input");
    assert_string_equal(f->lines[6],
                        "duplicate phi-rfc.json 0 - 5065427c-23d3-47ca-b6e0-946ea0e8c4be");
}

static void test_maildir_and_limits(void **state)
{
    struct fixture *f = *state;
    /* A Maildir: new/ read after cur/, dot files skipped; a JSON file over max_json. */
    assert_int_equal(mkdir_p(own(f, xasprintf("%s/md/cur", f->dir)), 0700), 0);
    assert_int_equal(mkdir_p(own(f, xasprintf("%s/md/new", f->dir)), 0700), 0);
    size_t len;
    const char *body = read_data(f, "tlsrpt/valid/phi-rfc.json", &len);
    write_file(f, "md/new/1", body, len);
    write_file(f, "md/cur/2", "Subject: x\n\nnothing\n", 20);
    write_file(f, "md/cur/.hidden", "junk", 4);
    f->cfg.max_json = 64;
    const char *paths[] = {own(f, xasprintf("%s/md", f->dir))};
    struct mail_counts c = run(f, paths, 1);
    assert_int_equal(c.rejected, 2);
    assert_int_equal(c.stored, 0);
    assert_int_equal(f->n, 2);
    assert_string_equal(f->lines[0], "rejected 2 0 - no TLS-RPT report in the message");
    assert_string_equal(f->lines[1], "rejected 1 0 - larger than 64 bytes ([reports] max_json)");
}

/* What the progress callback saw: every step's done and total, and the last call. */
struct seen_progress {
    long calls, overshoot, done, total, first_total, finals;
};

static void on_progress(const struct mail_progress *p, void *user)
{
    struct seen_progress *s = user;
    if (s->calls++ == 0)
        s->first_total = p->total;
    s->overshoot += p->done > p->total;
    s->done = p->done;
    s->total = p->total;
    s->finals += p->final;
}

static void test_progress_totals(void **state)
{
    struct fixture *f = *state;
    /* A Maildir (2 in cur/, 1 in new/), an mbox of 3 messages, a directory holding a report
     * file, an mbox of 2 and a subdirectory (not read), and a path that does not exist: every
     * input is announced before it is handled, so done never passes total and ends on it. */
    assert_int_equal(mkdir_p(own(f, xasprintf("%s/md/cur", f->dir)), 0700), 0);
    assert_int_equal(mkdir_p(own(f, xasprintf("%s/md/new", f->dir)), 0700), 0);
    assert_int_equal(mkdir_p(own(f, xasprintf("%s/dir/sub", f->dir)), 0700), 0);
    write_file(f, "md/cur/1", "Subject: a\n\nx\n", 15);
    write_file(f, "md/cur/2", "Subject: b\n\nx\n", 15);
    write_file(f, "md/new/3", "Subject: c\n\nx\n", 15);
    static const char three[] = "From a\n\nx\n\nFrom b\n\n>From y\n\nFrom c\nFrom d\n";
    static const char two[] = "From a\nSubject: z\n\nFrom b\n";
    write_file(f, "three.mbox", three, sizeof(three) - 1);
    write_file(f, "dir/two.mbox", two, sizeof(two) - 1);
    write_file(f, "dir/bad.json", "{}", 2);
    const char *paths[] = {
        own(f, xasprintf("%s/md", f->dir)), own(f, xasprintf("%s/three.mbox", f->dir)),
        own(f, xasprintf("%s/dir", f->dir)), own(f, xasprintf("%s/nope", f->dir))};
    struct seen_progress s = {0};
    struct mail_ingest *in = mail_ingest_new(f->db, &f->cfg, on_item, f);
    mail_ingest_set_progress(in, on_progress, &s);
    for (int i = 0; i < 4; i++)
        mail_ingest_path(in, paths[i]);
    struct mail_counts c;
    mail_ingest_finish(in, &c);
    assert_int_equal(c.rejected, 9);    /* none of them holds a report */
    assert_int_equal(s.first_total, 3); /* the Maildir's cur/ and new/ at once */
    assert_int_equal(s.overshoot, 0);
    assert_int_equal(s.done, 9);
    assert_int_equal(s.total, 9);
    assert_int_equal(s.finals, 1);
    assert_int_equal(s.calls, 10); /* one a message or file, and the final one */
}

static const char *fixture_path(struct fixture *f, const char *name)
{
    return data_path(f, own(f, xasprintf("mail/dkim/%s", name)));
}

static void test_dkim_results(void **state)
{
    struct fixture *f = *state;
    /* The same report in each message but altered.eml (its content changed: a conflict). */
    const char *paths[] = {fixture_path(f, "unsigned.eml"), fixture_path(f, "altered.eml"),
                           fixture_path(f, "unrelated.eml"), fixture_path(f, "pass-lf.eml")};
    struct mail_counts c = run(f, paths, 4);
    counts_are(&c, "1/2/1/0/0/0");
    assert_int_equal(f->n, 4);
    assert_string_equal(f->lines[0], "stored unsigned.eml 0 - dkim-fixture dkim=none");
    assert_string_equal(f->lines[1],
                        "conflict altered.eml 0 - dkim-fixture dkim=fail d=reporter.test");
    assert_string_equal(f->lines[2],
                        "duplicate unrelated.eml 0 - dkim-fixture dkim=unaligned d=unrelated.test");
    assert_string_equal(f->lines[3], "duplicate pass-lf.eml 0 - dkim-fixture dkim=pass "
                                     "d=reporter.test");
    /* Stored with the report; the pass recorded on the stored duplicate, which now counts. */
    struct report_listing *v;
    size_t n;
    struct db_report_filter all = {.since = 0, .until = INT64_MAX};
    assert_int_equal(db_report_list(f->db, &all, &v, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].dkim, "fail"); /* newest first */
    assert_string_equal(v[0].dkim_detail, "body hash mismatch: the body changed after signing");
    assert_int_equal(v[0].counted, 0);
    assert_string_equal(v[1].dkim, "pass");
    assert_string_equal(v[1].dkim_domain, "reporter.test");
    assert_int_equal(v[1].counted, 1);
    db_report_list_free(v, n);
    /* A report file is not e-mail: no DKIM. */
    for (; f->n > 0; f->n--)
        free(f->lines[f->n - 1]);
    const char *json[] = {data_path(f, "tlsrpt/valid/phi-rfc.json")};
    run(f, json, 1);
    assert_string_equal(f->lines[0],
                        "stored phi-rfc.json 0 - 5065427c-23d3-47ca-b6e0-946ea0e8c4be");
}

static void test_require_dkim(void **state)
{
    struct fixture *f = *state;
    f->cfg.mail_require_dkim = 1;
    const char *paths[] = {fixture_path(f, "unsigned.eml"), fixture_path(f, "altered.eml"),
                           fixture_path(f, "tempfail.eml"), fixture_path(f, "pass.eml")};
    struct mail_counts c = run(f, paths, 4);
    counts_are(&c, "1/0/0/2/0/0/deferred");
    assert_int_equal(c.deferred, 1); /* the key could not be fetched: kept to try again */
    assert_int_equal(f->n, 4);
    assert_string_equal(f->lines[0],
                        "rejected unsigned.eml 0 - DKIM none: [mail] require_dkim = on stores "
                        "only reports whose message has a valid DKIM signature of its From: "
                        "domain (reporter.test); ask the reporter to sign, or set require_dkim "
                        "= off");
    assert_true(strncmp(f->lines[1],
                        "rejected altered.eml 0 - DKIM fail d=reporter.test: body hash mismatch",
                        70) == 0);
    assert_string_equal(f->lines[2],
                        "deferred tempfail.eml 0 - DKIM temperror d=reporter.test: key not "
                        "fetched from slow._domainkey.reporter.test: DNS rcode SERVFAIL; [mail] "
                        "require_dkim = on keeps the message to try again later (nothing stored)");
    assert_string_equal(f->lines[3], "stored pass.eml 0 - dkim-fixture dkim=pass d=reporter.test");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_outcomes_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_maildir_and_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_progress_totals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dkim_results, setup, teardown),
        cmocka_unit_test_setup_teardown(test_require_dkim, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
