/* fuzz_dkim.c - libFuzzer target: mail_dkim_verify over arbitrary bytes, with keys from a
 * fixed-answer lookup (the test key for "sel", an empty p=, garbage, no key or a temporary
 * failure by the selector's first letter), plus the TXT join and the alignment rule. */
#include "common/common.h"
#include "mail/mail.h"
#include "mail/mail_int.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char key[MAIL_DKIM_KEY_MAX + 1] = "v=DKIM1; k=rsa; p=MIIBIjANBgkq";

static enum mail_dkim_key lookup(const char *name, int64_t timeout_ms, char *txt, size_t txtsz,
                                 char *why, size_t whysz, void *user)
{
    (void)user;
    if (timeout_ms <= 0 || timeout_ms > MAIL_DKIM_LOOKUP_MS)
        abort();
    switch (name[0] % 5) {
    case 0:
        snprintf(txt, txtsz, "%s", strncmp(name, "sel.", 4) == 0 ? key : "v=DKIM1; p=");
        return MAIL_DKIM_KEY_FOUND;
    case 1:
        snprintf(txt, txtsz, "k=rsa; p=%s; t=y:s; h=sha1", name);
        return MAIL_DKIM_KEY_FOUND;
    case 2:
        snprintf(why, whysz, "DNS rcode SERVFAIL");
        return MAIL_DKIM_KEY_TEMPFAIL;
    default:
        snprintf(why, whysz, "NXDOMAIN");
        return MAIL_DKIM_KEY_MISSING;
    }
}

static struct mail_dkim_verifier *verifier(void)
{
    static struct mail_dkim_verifier *v;
    if (v == NULL) {
        const char *d = getenv("STSD_TEST_DATA");
        char *path = xasprintf("%s/mail/dkim/key.txt", d ? d : "tests/data");
        size_t len;
        char *s = file_read_all(path, sizeof(key) - 1, &len);
        if (s != NULL) {
            snprintf(key, sizeof(key), "%.*s", (int)strcspn(s, "\n"), s);
            free(s);
        }
        free(path);
        char err[256];
        v = mail_dkim_new_lookup(lookup, NULL, err, sizeof(err));
        if (v == NULL)
            abort();
    }
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mail_dkim out;
    mail_dkim_verify(verifier(), (const char *)data, size, "reporter.test", &out);
    if (strlen(mail_dkim_result_name(out.result)) == 0 || memchr(out.domain, '\0', 256) == NULL ||
        memchr(out.detail, '\0', 256) == NULL)
        abort();
    if (out.result == MAIL_DKIM_NONE && out.domain[0] != '\0')
        abort(); /* no signature, no d= */
    char txt[64];
    if (mail__dkim_txt_join(data, size, txt, sizeof(txt)) == 0 && strlen(txt) >= sizeof(txt))
        abort();
    /* alignment: symmetric, and reflexive for names */
    char *a = xstrndup((const char *)data, size / 2),
         *b = xstrndup((const char *)data + size / 2, size - size / 2);
    if (mail_dkim_aligned(a, b) != mail_dkim_aligned(b, a))
        abort();
    if (a[0] != '\0' && a[0] != '.' && strchr(a, '.') == NULL && !mail_dkim_aligned(a, a))
        abort();
    free(a);
    free(b);
    return 0;
}
