/* state_test.h - a temporary state directory and a configuration that points at it, for the
 * unit tests of code that reads what stsd hosts. */
#ifndef STSD_STATE_TEST_H
#define STSD_STATE_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/common.h"
#include "common/config.h"

#include <stdlib.h>

/* Make the directory `dir` (a mkdtemp template, filled in) and give cfg the defaults with
 * state_dir = dir and cert_dir = dir/certs. */
static inline void state_test_config(struct stsd_config *cfg, char *dir)
{
    assert_non_null(mkdtemp(dir));
    config_defaults(cfg);
    free(cfg->state_dir);
    cfg->state_dir = xstrdup(dir);
    free(cfg->cert_dir);
    cfg->cert_dir = xasprintf("%s/certs", dir);
}

#endif
