/* fuzz_gunzip.c - libFuzzer target: report_gunzip and report_gunzip_measure with a small cap on
 * arbitrary bytes, and the two agree. */
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
    /* Measuring agrees with inflating: the same size when both succeed; it may only say
     * TOO_BIG where inflating does not (a gzip inside that inflates past the cap). */
    size_t n = 1;
    enum report_gunzip_result m = report_gunzip_measure(data, size, CAP, &n);
    if (m == REPORT_GUNZIP_OK && (r != REPORT_GUNZIP_OK || n != outlen))
        abort();
    if (m != REPORT_GUNZIP_OK && (n != 0 || (m != r && m != REPORT_GUNZIP_TOO_BIG)))
        abort();
    if (r == REPORT_GUNZIP_TOO_BIG && m != REPORT_GUNZIP_TOO_BIG)
        abort();
    return 0;
}
