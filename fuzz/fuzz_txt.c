/* fuzz_txt.c - libFuzzer target: the _mta-sts and _smtp._tls TXT record parsers. */
#include "policy/policy.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 8192)
        return 0;
    /* The parsers take the joined rdata as a C string. */
    char *txt = malloc(size + 1);
    memcpy(txt, data, size);
    txt[size] = '\0';
    char err[256];

    struct sts_txt s;
    int id_error = 0;
    if (policy_sts_txt_parse(txt, &s, &id_error, err, sizeof(err)) == 0) {
        if (!policy_id_valid(s.id) || !policy_txt_is_sts(txt))
            abort();
        char buf[64];
        struct sts_txt s2;
        if (policy_sts_txt_parse(policy_sts_txt_format(s.id, buf, sizeof(buf)), &s2, NULL, err,
                                 sizeof(err)) != 0 ||
            strcmp(s.id, s2.id) != 0)
            abort();
    }

    struct rpt_txt r;
    if (policy_rpt_txt_parse(txt, &r, err, sizeof(err)) == 0) {
        if (r.n_rua == 0 || !policy_txt_is_rpt(txt))
            abort();
        char *f = policy_rpt_txt_format((const char *const *)r.rua, r.n_rua);
        struct rpt_txt r2;
        if (policy_rpt_txt_parse(f, &r2, err, sizeof(err)) != 0 || r2.n_rua != r.n_rua)
            abort();
        for (size_t i = 0; i < r.n_rua; i++) {
            if (strcmp(r.rua[i], r2.rua[i]) != 0)
                abort();
        }
        policy_rpt_txt_clear(&r2);
        free(f);
        policy_rpt_txt_clear(&r);
    } else if (r.n_rua != 0 || r.rua != NULL) {
        abort();
    }
    free(txt);
    return 0;
}
