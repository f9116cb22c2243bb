/* test_db_policy.c - policy_versions (sql/db_policy.c): ids per distinct content, history. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/unit_test.h"

#include "common/common.h"
#include "policy/policy.h"
#include "sql/db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_versions(void **state)
{
    char dir[] = "/tmp/stsd-dbpolicy-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *path = xasprintf("%s/stsd.db", dir);
    char err[256];
    struct db *db = db_open(path, err, sizeof(err));
    assert_non_null(db);
    unsigned char a[32], b[32];
    memset(a, 0xaa, sizeof(a));
    memset(b, 0xbb, sizeof(b));
    const int64_t t0 = 1795955400; /* 2026-11-29T12:30:00Z */
    char id[33];
    int is_new = -1;
    assert_int_equal(db_policy_version_record(db, "example.com", a, t0, id, &is_new), 0);
    assert_string_equal(id, "20261129T123000");
    assert_int_equal(is_new, 1);
    /* The same content keeps its id, whenever it is seen again. */
    assert_int_equal(db_policy_version_record(db, "example.com", a, t0 + 99, id, &is_new), 0);
    assert_string_equal(id, "20261129T123000");
    assert_int_equal(is_new, 0);
    /* A new content in the same second gets a suffix. */
    assert_int_equal(db_policy_version_record(db, "example.com", b, t0, id, &is_new), 0);
    assert_string_equal(id, "20261129T123000a");
    assert_int_equal(is_new, 1);
    /* Ids are per domain. */
    assert_int_equal(db_policy_version_record(db, "example.net", b, t0, id, &is_new), 0);
    assert_string_equal(id, "20261129T123000");
    /* Inside a caller's transaction it joins it instead of nesting. */
    unsigned char c[32];
    memset(c, 0xcc, sizeof(c));
    assert_int_equal(db_begin(db), 0);
    assert_int_equal(db_policy_version_record(db, "example.com", c, t0 + 60, id, &is_new), 0);
    assert_string_equal(id, "20261129T123100");
    assert_int_equal(db_commit(db), 0);

    struct db_policy_version *v;
    size_t n;
    assert_int_equal(db_policy_versions(db, "example.com", &v, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(v[0].id, "20261129T123100");
    assert_string_equal(v[1].id, "20261129T123000a");
    assert_string_equal(v[2].id, "20261129T123000");
    assert_string_equal(v[2].sha256_hex,
                        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    assert_int_equal(v[2].first_seen, t0);
    free(v);
    assert_int_equal(db_policy_versions(db, "missing.example", &v, &n), 0);
    assert_int_equal(n, 0);
    free(v);
    db_close(db);
    /* Reopened: the versions persist. */
    db = db_open(path, err, sizeof(err));
    assert_non_null(db);
    assert_int_equal(db_policy_version_record(db, "example.com", b, t0 + 500, id, &is_new), 0);
    assert_string_equal(id, "20261129T123000a");
    assert_int_equal(is_new, 0);
    db_close(db);
    char *cmd = xasprintf("rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    free(path);
}

UNIT_TESTS(NULL, cmocka_unit_test(test_versions))
