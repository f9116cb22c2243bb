/* test_store.c - the layout, policy files (hashes, skipped names, size cap), ids, read-only. */
#include "hosted_test.h"
#include "sql/db.h"

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

static const char good[] = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\n"
                           "max_age: 604800\r\n";

static void test_layout(void **state)
{
    struct fixture *fx = fixture_new(HOSTED_CREATE);
    char *p = hosted_path_db(&fx->cfg);
    char *want = xasprintf("%s/stsd.db", fx->dir);
    assert_string_equal(p, want);
    free(p);
    free(want);
    p = hosted_path_acme(&fx->cfg);
    want = xasprintf("%s/acme", fx->dir);
    assert_string_equal(p, want);
    free(p);
    free(want);
    /* HOSTED_CREATE made the directories, 0750 */
    const char *dirs[] = {hosted_policy_dir(fx->h), hosted_cert_dir(fx->h)};
    for (size_t i = 0; i < 2; i++) {
        struct stat st;
        assert_int_equal(stat(dirs[i], &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0750);
    }
    assert_ptr_equal(hosted_config(fx->h), &fx->cfg);
    /* Paths come from a validated, lowercased domain only. */
    p = hosted_policy_file(fx->h, "Example.COM");
    want = xasprintf("%s/policies/example.com.txt", fx->dir);
    assert_string_equal(p, want);
    free(p);
    free(want);
    const char *bad[] = {"../etc/passwd", "a/b.example", "example.com/", "..", "",
                         "localhost",     NULL};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_null(hosted_policy_file(fx->h, bad[i]));
    fixture_free(fx);
}

static void test_list_and_get(void **state)
{
    struct fixture *fx = fixture_new(HOSTED_CREATE);
    struct hosted_policy_list l;
    char err[256];
    /* nothing hosted yet */
    assert_int_equal(hosted_policy_list(fx->h, HOSTED_IDS, &l, err, sizeof(err)), 0);
    assert_int_equal(l.n, 0);
    hosted_policy_list_free(&l);

    const char *broken = "version: STSv1\nmode: enforce\nmx: mail.example.com\nmax_age: x\n";
    put_file(fx, "policies/example.com.txt", good, strlen(good));
    put_file(fx, "policies/broken.example.txt", broken, strlen(broken));
    put_file(fx, "policies/Upper.example.txt", good, strlen(good));
    put_file(fx, "policies/not_a_domain.txt", good, strlen(good));
    put_file(fx, "policies/localhost.txt", good, strlen(good));
    put_file(fx, "policies/README", "x", 1);
    put_file(fx, "policies/example.com.txt.tmp.123", "x", 1);
    put_file(fx, "policies/.hidden.example.txt", good, strlen(good));
    char *sub = xasprintf("%s/policies/dir.example.txt", fx->dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    free(sub);

    assert_int_equal(hosted_policy_list(fx->h, HOSTED_IDS, &l, err, sizeof(err)), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.items[0].domain, "broken.example");
    assert_string_equal(l.items[1].domain, "example.com");
    assert_int_equal(l.items[0].valid, 0);
    assert_string_equal(l.items[0].id, ""); /* a broken content never gets an id */
    char buf[300];
    assert_string_equal(policy_diag_first(&l.items[0].diag, buf, sizeof(buf)),
                        "line 4: max_age 'x' is not a number of seconds (1-10 digits)");
    assert_int_equal(l.items[1].valid, 1);
    assert_int_equal(l.items[1].policy.mode, POLICY_MODE_ENFORCE);
    assert_int_equal(l.items[1].len, strlen(good));
    assert_memory_equal(l.items[1].text, good, strlen(good));
    assert_int_equal(strlen(l.items[1].id), 15); /* YYYYMMDDTHHMMSS, recorded now */
    assert_int_equal(l.items[1].withdrawing, 0);
    /* SHA-256 of the content (sha256sum of the same bytes). */
    char hex[65];
    format_hex(l.items[1].sha256, 32, hex);
    char *cmd = xasprintf("sha256sum '%s/policies/example.com.txt' | cut -c1-64", fx->dir);
    FILE *pf = popen(cmd, "r");
    char line[80] = "";
    assert_non_null(fgets(line, sizeof(line), pf));
    pclose(pf);
    free(cmd);
    line[64] = '\0';
    assert_string_equal(hex, line);
    /* Skipped: the *.txt names that are not lowercase valid domains. */
    assert_int_equal(l.n_skipped, 3);
    assert_string_equal(l.skipped[0], "Upper.example.txt");
    assert_string_equal(l.skipped[1], "localhost.txt");
    assert_string_equal(l.skipped[2], "not_a_domain.txt");
    char id[33];
    snprintf(id, sizeof(id), "%s", l.items[1].id);
    hosted_policy_list_free(&l);
    hosted_policy_list_free(&l);

    /* One domain: the same id; without HOSTED_IDS none is looked up. */
    struct hosted_policy e;
    assert_int_equal(hosted_policy_get(fx->h, "EXAMPLE.com", HOSTED_IDS, &e), 1);
    assert_string_equal(e.domain, "example.com");
    assert_int_equal(e.valid, 1);
    assert_string_equal(e.id, id);
    hosted_policy_clear(&e);
    assert_int_equal(hosted_policy_get(fx->h, "example.com", 0, &e), 1);
    assert_string_equal(e.id, "");
    hosted_policy_clear(&e);
    assert_int_equal(hosted_policy_get(fx->h, "missing.example", HOSTED_IDS, &e), 0);
    assert_null(e.domain);
    hosted_policy_clear(&e);
    assert_int_equal(hosted_policy_get(fx->h, "../x", 0, &e), 0);
    hosted_policy_clear(&e);

    /* A file over 64 KiB is not read whole and is broken with a size error. */
    char *huge = xmalloc(70000);
    memset(huge, 'a', 70000);
    put_file(fx, "policies/huge.example.txt", huge, 70000);
    free(huge);
    assert_int_equal(hosted_policy_get(fx->h, "huge.example", HOSTED_IDS, &e), -1);
    assert_int_equal(e.valid, 0);
    assert_non_null(e.read_error);
    assert_int_equal(e.diag.n_errors, 1);
    assert_int_equal(e.diag.items[0].kind, POLICY_DIAG_SIZE);
    hosted_policy_clear(&e);

    /* versions: one recorded for example.com */
    struct hosted_version *v;
    size_t n;
    assert_int_equal(hosted_versions(fx->h, "example.com", &v, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].id, id);
    assert_string_equal(v[0].sha256_hex, hex);
    free(v);
    fixture_free(fx);
}

static void test_unreadable_dir(void **state)
{
    struct fixture *fx = fixture_new(0);
    char *p = xasprintf("%s/policies", fx->dir);
    put_file(fx, "policies", "x", 1); /* a file where the directory should be */
    struct hosted_policy_list l;
    char err[512];
    assert_int_equal(hosted_policy_list(fx->h, 0, &l, err, sizeof(err)), -1);
    assert_non_null(strstr(err, p));
    free(p);
    fixture_free(fx);
}

static void test_versions(void **state)
{
    struct fixture *fx = fixture_new(HOSTED_CREATE);
    unsigned char a[32] = {1}, b[32] = {2};
    char id[33], id2[33];
    int is_new;
    assert_int_equal(hosted_version_record(fx->h, "Example.com", a, 1795955400, id, &is_new), 0);
    assert_string_equal(id, "20261129T123000");
    assert_int_equal(is_new, 1);
    assert_int_equal(hosted_version_record(fx->h, "example.com", a, 1795955999, id2, &is_new), 0);
    assert_string_equal(id2, id);
    assert_int_equal(is_new, 0);
    /* another content in the same second: a unique id */
    assert_int_equal(hosted_version_record(fx->h, "example.com", b, 1795955400, id2, &is_new), 0);
    assert_string_equal(id2, "20261129T123000a");
    assert_int_equal(is_new, 1);
    assert_int_equal(hosted_version_record(fx->h, "../x", b, 1795955400, id2, &is_new), -1);
    struct hosted_version *v;
    size_t n;
    assert_int_equal(hosted_versions(fx->h, "example.com", &v, &n), 0);
    assert_int_equal(n, 2);
    free(v);
    fixture_free(fx);
}

static char *read_all(const char *path, size_t *len)
{
    char *s = file_read_all(path, 1 << 24, len);
    assert_non_null(s);
    return s;
}

/* HOSTED_READ_ONLY: ids are looked up, never recorded; the database file stays the same
 * bytes; a missing database is not created. */
static void test_read_only(void **state)
{
    struct fixture *fx = fixture_new(HOSTED_CREATE);
    put_file(fx, "policies/example.com.txt", good, strlen(good));
    struct hosted_policy e;
    assert_int_equal(hosted_policy_get(fx->h, "example.com", HOSTED_IDS, &e), 1);
    char id[33];
    snprintf(id, sizeof(id), "%s", e.id);
    assert_int_equal(strlen(id), 15);
    hosted_policy_clear(&e);
    hosted_close(fx->h);
    const char *other = "version: STSv1\nmode: none\nmax_age: 60\n";
    put_file(fx, "policies/other.example.txt", other, strlen(other));

    char *dbp = hosted_path_db(&fx->cfg);
    size_t len0, len1;
    char *before = read_all(dbp, &len0);
    char err[256];
    fx->h = hosted_open(&fx->cfg, HOSTED_READ_ONLY, err, sizeof(err));
    assert_non_null(fx->h);
    struct hosted_policy_list l;
    assert_int_equal(hosted_policy_list(fx->h, HOSTED_IDS, &l, err, sizeof(err)), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.items[0].id, id);
    assert_string_equal(l.items[1].id, ""); /* new content: not recorded */
    hosted_policy_list_free(&l);
    unsigned char sha[32] = {9};
    int is_new = 1;
    char vid[33];
    assert_int_equal(hosted_version_record(fx->h, "example.com", sha, 1, vid, &is_new), 0);
    assert_string_equal(vid, "");
    assert_int_equal(is_new, 0);
    struct hosted_put res;
    assert_int_equal(hosted_policy_put(fx->h, "example.com", good, strlen(good), "cli", 1, &res),
                     -2);
    struct db_check c = {.domain = "example.com", .started = 1};
    assert_int_equal(hosted_check_store(fx->h, &c, NULL, 0, NULL), -1);
    struct hosted_audit *a;
    size_t na;
    assert_int_equal(hosted_audit_list(fx->h, NULL, 10, &a, &na), 0);
    assert_int_equal(na, 0);
    hosted_audit_free(a, na);
    hosted_close(fx->h);
    fx->h = NULL;
    char *after = read_all(dbp, &len1);
    assert_int_equal(len0, len1);
    assert_memory_equal(before, after, len0);
    free(before);
    free(after);

    /* No database at all: none is created, ids stay "". */
    assert_int_equal(unlink(dbp), 0);
    fx->h = hosted_open(&fx->cfg, HOSTED_READ_ONLY, err, sizeof(err));
    assert_int_equal(hosted_policy_get(fx->h, "example.com", HOSTED_IDS, &e), 1);
    assert_string_equal(e.id, "");
    hosted_policy_clear(&e);
    assert_null(hosted_db(fx->h, err, sizeof(err)));
    assert_int_equal(access(dbp, F_OK), -1);
    free(dbp);
    fixture_free(fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout),         cmocka_unit_test(test_list_and_get),
        cmocka_unit_test(test_unreadable_dir), cmocka_unit_test(test_versions),
        cmocka_unit_test(test_read_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
