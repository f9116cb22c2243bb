/* mail_test.c - the DKIM fixtures and their keys for the mail/ unit tests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/mail/mail_test.h"

#include "common/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *dkim_fixture(const char *name, size_t *len)
{
    const char *d = getenv("STSD_TEST_DATA");
    char *path = xasprintf("%s/mail/dkim/%s", d ? d : "tests/data", name);
    char *s = file_read_all(path, 1 << 20, len);
    free(path);
    assert_non_null(s);
    return s;
}

enum mail_dkim_key dkim_keys_lookup(const char *name, int64_t timeout_ms, char *txt, size_t txtsz,
                                    char *why, size_t whysz, void *user)
{
    struct dkim_keys *k = user;
    k->calls++;
    snprintf(k->last, sizeof(k->last), "%s", name);
    assert_true(timeout_ms > 0 && timeout_ms <= MAIL_DKIM_LOOKUP_MS);
    if (strcmp(name, "sel._domainkey.reporter.test") == 0 ||
        strcmp(name, "other._domainkey.unrelated.test") == 0) {
        snprintf(txt, txtsz, "%s", k->pub);
        return MAIL_DKIM_KEY_FOUND;
    }
    if (strcmp(name, "revoked._domainkey.reporter.test") == 0) {
        snprintf(txt, txtsz, "v=DKIM1; k=rsa; p=");
        return MAIL_DKIM_KEY_FOUND;
    }
    if (strcmp(name, "slow._domainkey.reporter.test") == 0 || strstr(name, ".test") == NULL) {
        snprintf(why, whysz, "DNS rcode SERVFAIL"); /* and every real domain: offline */
        return MAIL_DKIM_KEY_TEMPFAIL;
    }
    snprintf(why, whysz, "NXDOMAIN");
    return MAIL_DKIM_KEY_MISSING;
}

struct mail_dkim_verifier *dkim_keys_verifier(struct dkim_keys *k)
{
    size_t len;
    memset(k, 0, sizeof(*k));
    k->pub = dkim_fixture("key.txt", &len);
    k->pub[strcspn(k->pub, "\n")] = '\0';
    char err[256];
    struct mail_dkim_verifier *v = mail_dkim_new_lookup(dkim_keys_lookup, k, err, sizeof(err));
    assert_non_null(v);
    return v;
}

void dkim_keys_free(struct dkim_keys *k, struct mail_dkim_verifier *v)
{
    mail_dkim_free(v);
    free(k->pub);
}
