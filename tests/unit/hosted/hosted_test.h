/* hosted_test.h - a temporary state directory and its configuration for the hosted/ tests. */
#ifndef STSD_HOSTED_TEST_H
#define STSD_HOSTED_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/common.h"
#include "common/config.h"
#include "hosted/hosted.h"
#include "tests/unit/state_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fixture {
    char dir[64];
    struct stsd_config cfg;
    struct hosted *h;
};

/* A fresh state directory (state_dir = dir, cert_dir = dir/certs) opened with `flags`. */
static inline struct fixture *fixture_new(unsigned flags)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/stsd-hosted-test-XXXXXX");
    state_test_config(&fx->cfg, fx->dir);
    char err[256];
    fx->h = hosted_open(&fx->cfg, flags, err, sizeof(err));
    assert_non_null(fx->h);
    return fx;
}

static inline void fixture_free(struct fixture *fx)
{
    hosted_close(fx->h);
    char *cmd = xasprintf("rm -rf '%s'", fx->dir);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    config_free(&fx->cfg);
    free(fx);
}

/* Write dir/name (relative to the state directory) with exactly these bytes. */
static inline void put_file(const struct fixture *fx, const char *name, const char *text,
                            size_t len)
{
    char *p = xasprintf("%s/%s", fx->dir, name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
    free(p);
}

/* The audit trail of `domain` holds n rows, the newest by `actor` with `action` and, unless
 * detail_has is NULL, a detail containing it. */
static inline void assert_audit(struct fixture *fx, const char *domain, size_t n, const char *actor,
                                const char *action, const char *detail_has)
{
    struct hosted_audit *v = NULL;
    size_t got = 0;
    assert_int_equal(hosted_audit_list(fx->h, domain, 10, &v, &got), 0);
    assert_int_equal(got, n);
    assert_string_equal(v[0].actor, actor);
    assert_string_equal(v[0].action, action);
    if (detail_has != NULL)
        assert_non_null(strstr(v[0].detail, detail_has));
    hosted_audit_free(v, got);
}

#endif
