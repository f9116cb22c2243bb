/* fuzz_smtp.c - libFuzzer target for the STARTTLS probe's SMTP reply parser
 * (check__smtp_reply_feed), fed the way the probe feeds it: through a buffer of one line's
 * capacity, in reads of varying size, one reply after another. */
#include "checker/checker_int.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char buf[CHECK_SMTP_LINE_MAX + 2];
    size_t len = 0, off = 0;
    struct smtp_reply r;
    memset(&r, 0, sizeof(r));
    /* The read size varies with the input so that lines get split at every position. */
    size_t chunk = size > 0 ? (size_t)data[0] % 64 + 1 : 1;
    while (off < size) {
        size_t n = size - off;
        if (n > chunk)
            n = chunk;
        if (n > sizeof(buf) - len)
            n = sizeof(buf) - len;
        memcpy(buf + len, data + off, n);
        len += n;
        off += n;
        for (;;) {
            size_t used = 0;
            int rc = check__smtp_reply_feed(&r, buf, len, &used, len == sizeof(buf));
            if (used > len)
                __builtin_trap();
            memmove(buf, buf + used, len - used);
            len -= used;
            if (rc < 0)
                return 0; /* the probe gives up on a malformed reply */
            if (rc == 0)
                break;
            if (r.code < 100 || r.code > 599 || r.n_lines < 1 || r.n_lines > CHECK_SMTP_MAX_LINES ||
                strlen(r.text) >= sizeof(r.text))
                __builtin_trap();
            memset(&r, 0, sizeof(r));
        }
    }
    return 0;
}
