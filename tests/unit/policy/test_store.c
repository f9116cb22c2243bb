/* test_store.c - the policy directory (temp dir), SHA-256 of contents, atomic writes, ids. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/common.h"
#include "policy/policy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char good[] = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\n"
                           "max_age: 604800\r\n";

static char *tmpdir(void)
{
    char *t = xstrdup("/tmp/stsd-policy-test-XXXXXX");
    assert_non_null(mkdtemp(t));
    return t;
}

static void rm_rf(const char *dir)
{
    char *cmd = xasprintf("rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    free(cmd);
}

static void put(const char *dir, const char *name, const char *text, size_t len)
{
    char *p = xasprintf("%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
    free(p);
}

static void test_path(void **state)
{
    char *p = policy_store_path("/x/policies", "Example.COM");
    assert_string_equal(p, "/x/policies/example.com.txt");
    free(p);
    assert_null(policy_store_path("/x", "../etc/passwd"));
    assert_null(policy_store_path("/x", "a/b.example"));
    assert_null(policy_store_path("/x", "example.com/"));
    assert_null(policy_store_path("/x", ".."));
    assert_null(policy_store_path("/x", ""));
    assert_null(policy_store_path("/x", NULL));
    assert_null(policy_store_path("/x", "localhost"));
}

static void test_write_and_load(void **state)
{
    char *root = tmpdir();
    char *dir = xasprintf("%s/policies", root); /* created by the write */
    assert_int_equal(policy_store_write(dir, "Example.com", good, strlen(good)), 0);
    char *path = xasprintf("%s/example.com.txt", dir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);
    size_t len;
    char *back = file_read_all(path, 1 << 16, &len);
    assert_non_null(back);
    assert_int_equal(len, strlen(good));
    assert_memory_equal(back, good, len);
    free(back);
    /* Rewriting replaces the content atomically and leaves no temporary file behind. */
    assert_int_equal(policy_store_write(dir, "example.com", "x", 1), 0);
    back = file_read_all(path, 1 << 16, &len);
    assert_int_equal(len, 1);
    free(back);
    assert_int_equal(policy_store_write(dir, "example.com", good, strlen(good)), 0);
    errno = 0;
    assert_int_equal(policy_store_write(dir, "../evil.example", good, strlen(good)), -1);
    assert_int_equal(errno, EINVAL);

    const char *broken = "version: STSv1\nmode: enforce\nmx: mail.example.com\nmax_age: x\n";
    put(dir, "broken.example.txt", broken, strlen(broken));
    put(dir, "Upper.example.txt", good, strlen(good));
    put(dir, "not_a_domain.txt", good, strlen(good));
    put(dir, "localhost.txt", good, strlen(good));
    put(dir, "README", "x", 1);
    put(dir, "example.com.txt.tmp.123", "x", 1);
    put(dir, ".hidden.example.txt", good, strlen(good));
    char *sub = xasprintf("%s/dir.example.txt", dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    free(sub);

    struct policy_store_list l;
    char err[256];
    assert_int_equal(policy_store_load(dir, &l, err, sizeof(err)), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.items[0].domain, "broken.example");
    assert_string_equal(l.items[1].domain, "example.com");
    assert_int_equal(l.items[0].valid, 0);
    char buf[300];
    assert_string_equal(policy_diag_first(&l.items[0].diag, buf, sizeof(buf)),
                        "line 4: max_age 'x' is not a number of seconds (1-10 digits)");
    assert_int_equal(l.items[1].valid, 1);
    assert_int_equal(l.items[1].policy.mode, POLICY_MODE_ENFORCE);
    assert_int_equal(l.items[1].len, strlen(good));
    assert_memory_equal(l.items[1].text, good, strlen(good));
    /* SHA-256 of the content (sha256sum of the same bytes). */
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", l.items[1].sha256[i]);
    char *cmd = xasprintf("sha256sum '%s' | cut -c1-64", path);
    FILE *pf = popen(cmd, "r");
    char line[80] = "";
    assert_non_null(fgets(line, sizeof(line), pf));
    pclose(pf);
    free(cmd);
    line[64] = '\0';
    assert_string_equal(hex, line);
    /* Skipped: the *.txt names that are not lowercase valid domains. */
    assert_int_equal(l.n_skipped, 3);
    int seen = 0;
    for (size_t i = 0; i < l.n_skipped; i++) {
        seen |= strcmp(l.skipped[i], "Upper.example.txt") == 0 ? 1 : 0;
        seen |= strcmp(l.skipped[i], "not_a_domain.txt") == 0 ? 2 : 0;
        seen |= strcmp(l.skipped[i], "localhost.txt") == 0 ? 4 : 0;
    }
    assert_int_equal(seen, 7);
    policy_store_list_free(&l);
    policy_store_list_free(&l);

    /* One domain. */
    struct policy_store_entry e;
    assert_int_equal(policy_store_load_one(dir, "EXAMPLE.com", &e), 0);
    assert_string_equal(e.domain, "example.com");
    assert_int_equal(e.valid, 1);
    policy_store_entry_clear(&e);
    errno = 0;
    assert_int_equal(policy_store_load_one(dir, "missing.example", &e), -1);
    assert_int_equal(errno, ENOENT);
    assert_non_null(e.read_error);
    assert_int_equal(e.valid, 0);
    policy_store_entry_clear(&e);
    assert_int_equal(policy_store_load_one(dir, "../x", &e), -1);
    policy_store_entry_clear(&e);

    /* A file over 64 KiB is not read whole and is broken with a size error. */
    char *huge = xmalloc(70000);
    memset(huge, 'a', 70000);
    put(dir, "huge.example.txt", huge, 70000);
    free(huge);
    assert_int_equal(policy_store_load_one(dir, "huge.example", &e), -1);
    assert_int_equal(e.valid, 0);
    assert_int_equal(e.diag.n_errors, 1);
    assert_int_equal(e.diag.items[0].kind, POLICY_DIAG_SIZE);
    policy_store_entry_clear(&e);

    assert_int_equal(policy_store_load("/nonexistent/stsd", &l, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "/nonexistent/stsd"));
    free(path);
    free(dir);
    rm_rf(root);
    free(root);
}

static int taken_calls;
static int taken_below(void *ctx, const char *id)
{
    taken_calls++;
    /* ctx: how many candidates are taken */
    return taken_calls <= *(int *)ctx;
}
static int always(void *ctx, const char *id)
{
    return 1;
}

static void test_new_id(void **state)
{
    char id[POLICY_ID_MAX + 1];
    policy_new_id(1795955400, NULL, NULL, id); /* 2026-11-29T12:30:00Z */
    assert_string_equal(id, "20261129T123000");
    assert_int_equal(policy_id_valid(id), 1);
    int n = 0;
    taken_calls = 0;
    policy_new_id(1795955400, taken_below, &n, id);
    assert_string_equal(id, "20261129T123000");
    n = 1;
    taken_calls = 0;
    policy_new_id(1795955400, taken_below, &n, id);
    assert_string_equal(id, "20261129T123000a");
    n = 26;
    taken_calls = 0;
    policy_new_id(1795955400, taken_below, &n, id);
    assert_string_equal(id, "20261129T123000z");
    n = 27;
    taken_calls = 0;
    policy_new_id(1795955400, taken_below, &n, id);
    assert_string_equal(id, "20261129T123000aa");
    assert_int_equal(policy_id_valid(id), 1);
    /* A callback that never says "free" still ends, with a valid id. */
    policy_new_id(0, always, NULL, id);
    assert_int_equal(policy_id_valid(id), 1);
    assert_int_equal(strncmp(id, "19700101T000000", 15), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path),
        cmocka_unit_test(test_write_and_load),
        cmocka_unit_test(test_new_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
