/* fuzz_mbox.c - libFuzzer target: mail_sniff and mail_mbox_split over arbitrary bytes, checking
 * what the splitter hands over (numbering, caps, no byte invented), and that mail_mbox_count
 * finds exactly as many messages. */
#include "common/common.h"
#include "mail/mail.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CAP 4096 /* small, so that inputs reach the cap */

struct seen {
    long messages;
    size_t bytes, size;
};

static void on_message(char *msg, size_t len, long number, void *user)
{
    struct seen *s = user;
    if (number != ++s->messages)
        abort(); /* numbered 1, 2, ... with no gap, skipped ones included */
    if (msg == NULL) {
        if (len != 0)
            abort();
        return;
    }
    /* lines are text: no NUL inside; never longer than the cap; never more bytes than came in */
    if (len > CAP || strlen(msg) != len || msg[len] != '\0')
        abort();
    s->bytes += len;
    if (s->bytes > s->size)
        abort();
    free(msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    enum mail_kind k = mail_sniff(data, size < MAIL_SNIFF_BYTES ? size : MAIL_SNIFF_BYTES);
    if (k != MAIL_KIND_GZIP && k != MAIL_KIND_JSON && k != MAIL_KIND_MBOX && k != MAIL_KIND_MESSAGE)
        abort();
    if (size == 0)
        return 0;
    FILE *f = fmemopen((void *)data, size, "r");
    if (f == NULL)
        return 0;
    struct seen s = {.size = size};
    if (mail_mbox_split(f, CAP, on_message, &s) != 0)
        abort(); /* a memory stream has no read errors */
    fclose(f);
    f = fmemopen((void *)data, size, "r");
    if (f == NULL)
        return 0;
    if (mail_mbox_count(f) != s.messages)
        abort(); /* the counting pass announces what the splitter then hands over */
    fclose(f);
    if (s.messages > 0 && memmem(data, size, "From ", 5) == NULL)
        abort(); /* a message starts at a "From " line only */
    return 0;
}
