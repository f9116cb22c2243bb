/* fuzz_mime.c - libFuzzer target: report_mime_extract, then parse every part it finds. */
#include "reports/reports.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct report_part *parts;
    struct report_error err;
    struct report_mime_info info;
    int n = report_mime_extract((const char *)data, size, &parts, &info, &err);
    if (n < -1 || n > REPORT_MAX_PARTS || (n <= 0 && parts != NULL))
        abort();
    if (n >= 0 && (strnlen(info.report_domain, 256) == 256 || strnlen(info.submitter, 256) == 256 ||
                   strnlen(info.from_domain, 256) == 256))
        abort(); /* every header field is a terminated string */
    for (int i = 0; i < n; i++) {
        struct report r;
        if (parts[i].data == NULL || parts[i].len > size)
            abort(); /* decoding never grows a part past the message */
        if (report_parse_body(parts[i].data, parts[i].len, 1 << 16, &r, &err) == 0)
            report_clear(&r);
    }
    if (n > 0)
        report_parts_free(parts, n);
    return 0;
}
