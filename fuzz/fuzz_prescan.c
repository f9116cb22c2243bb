/* fuzz_prescan.c - libFuzzer target: report_prescan never reads out of bounds, and it agrees
 * with jansson: whatever jansson reads, the scan accepts with the same count of values. */
#include "reports/reports.h"
#include "tests/unit/reports/reports_test.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A copy of exactly `size` bytes, so that ASan sees any read past the end. */
    char *buf = malloc(size ? size : 1);
    memcpy(buf, data, size);
    struct report_prescan ps;
    enum report_prescan_result r = report_prescan(buf, size, SIZE_MAX - 1, &ps);
    if (ps.offset > size || ps.max_depth > REPORT_PRESCAN_MAX_DEPTH)
        abort();
    if (r != REPORT_PRESCAN_OK && r != REPORT_PRESCAN_INVALID)
        abort();
    size_t off = size >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    /* report_parse's flags. jansson passes over a NUL byte after a number ({"a":0\0}): the
     * scan refuses any NUL outside a string, as RFC 8259 does, so texts with a NUL byte are
     * only checked not to crash. */
    json_t *j = memchr(buf, 0, size) != NULL
                    ? NULL
                    : json_loadb(buf + off, size - off, JSON_REJECT_DUPLICATES, NULL);
    if (j != NULL) {
        size_t n = rt_json_values(j);
        if (r != REPORT_PRESCAN_OK || ps.values != n)
            abort();
        /* A cap below the count stops the scan at the first value past it. */
        if (n > 1) {
            struct report_prescan p2;
            if (report_prescan(buf, size, n - 1, &p2) != REPORT_PRESCAN_TOO_MANY || p2.values != n)
                abort();
        }
        json_decref(j);
    }
    free(buf);
    return 0;
}
