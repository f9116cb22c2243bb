/* fuzz_check_rdata.c - libFuzzer target for the checker's DNS rdata parsers (MX and TXT, as
 * libunbound hands them over) and the name checks: the first byte picks the parser. */
#include "checker/checker_int.h"
#include "common/common.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const uint8_t *rd = data + 1;
    size_t len = size - 1;
    switch (data[0] % 3) {
    case 0: {
        char host[1100];
        int pref, valid;
        if (check__mx_rdata_parse(rd, len, &pref, host, sizeof(host), &valid) == 0) {
            if (strlen(host) >= sizeof(host) || pref < 0 || pref > 65535)
                __builtin_trap();
            if (valid && !domain_valid(host))
                __builtin_trap();
        }
        break;
    }
    case 1: {
        char out[CHECK_MAX_TXT_LEN];
        long total = check__txt_rdata_join(rd, len, out, sizeof(out));
        if (strlen(out) >= sizeof(out) || (total >= 0 && (size_t)total > len))
            __builtin_trap();
        for (const char *p = out; *p; p++)
            if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
                __builtin_trap(); /* the output is always printable */
        break;
    }
    default: {
        char *s = malloc(len + 1);
        memcpy(s, rd, len);
        s[len] = '\0';
        char fwd[128];
        (void)domain_valid(s);
        if (resolver_parse(s, fwd, sizeof(fwd)) == 0 && strchr(fwd, '@') == NULL)
            __builtin_trap();
        free(s);
        break;
    }
    }
    return 0;
}
