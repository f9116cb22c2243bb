/* fuzz_policy.c - libFuzzer target: policy_parse, and format/re-parse round trips. */
#include "policy/policy.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct policy p;
    struct policy_diag d;
    int rc = policy_parse((const char *)data, size, &p, &d);
    /* The verdict follows the error count, and every stored item has a line number. */
    if ((rc == 0) != (d.n_errors == 0) || d.n > 32)
        abort();
    for (size_t i = 0; i < d.n; i++) {
        if (d.items[i].line < 1 || memchr(d.items[i].message, '\0', 200) == NULL)
            abort();
    }
    char buf[300];
    policy_diag_first(&d, buf, sizeof(buf));
    if (rc == 0) {
        /* Canonical text must parse to the same policy, without a single diagnostic. */
        size_t len;
        char *text = policy_format(&p, &len);
        struct policy q;
        struct policy_diag dq;
        if (policy_parse(text, len, &q, &dq) != 0 || dq.n != 0 || q.mode != p.mode ||
            q.max_age != p.max_age || q.n_mx != p.n_mx)
            abort();
        for (size_t i = 0; i < p.n_mx; i++) {
            if (strcmp(p.mx[i], q.mx[i]) != 0 || !policy_mx_pattern_valid(p.mx[i]))
                abort();
            /* A pattern without a wildcard matches itself; "*.d" matches "x.d". */
            if (p.mx[i][0] != '*' && !policy_match_mx(p.mx[i], p.mx[i]))
                abort();
            if (p.mx[i][0] == '*') {
                char host[300];
                size_t n = strlen(p.mx[i]);
                if (n < sizeof(host) - 2) {
                    host[0] = 'x';
                    memcpy(host + 1, p.mx[i] + 1, n); /* "x.d" with its NUL */
                    if (!policy_match_mx(p.mx[i], host))
                        abort();
                }
            }
        }
        /* Formatting is a fixed point. */
        size_t len2;
        char *text2 = policy_format(&q, &len2);
        if (len2 != len || memcmp(text, text2, len) != 0)
            abort();
        free(text2);
        free(text);
        policy_clear(&q);
    }
    policy_clear(&p);
    return 0;
}
