/* fuzz_gunzip.c - libFuzzer target: report_gunzip with a small cap on arbitrary bytes. */
#include "reports/reports.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CAP (64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *out = NULL;
    size_t outlen = 0;
    enum report_gunzip_result r = report_gunzip(data, size, CAP, &out, &outlen);
    if (r == REPORT_GUNZIP_OK) {
        /* Bounded by the cap, NUL-terminated (ASan checks the read is in bounds). */
        if (outlen > CAP || out == NULL || out[outlen] != '\0')
            abort();
        free(out);
    } else if (out != NULL || outlen != 0 ||
               (r != REPORT_GUNZIP_TOO_BIG && r != REPORT_GUNZIP_CORRUPT)) {
        abort();
    }
    if (!report_is_gzip(data, size) && r != REPORT_GUNZIP_CORRUPT)
        abort();
    return 0;
}
