/* mail_test.h - what the mail/ unit tests share: the DKIM fixtures of tests/data/mail/dkim
 * and a key lookup that publishes their keys (make.py's docstring lists them). */
#ifndef STSD_MAIL_TEST_H
#define STSD_MAIL_TEST_H

#include "mail/mail.h"

#include <stddef.h>
#include <stdint.h>

/* A fixture file (malloc'd, NUL-terminated; length in *len); the test fails when missing. */
char *dkim_fixture(const char *name, size_t *len);
/* The fixture keys; calls and last count and name the lookups made. */
struct dkim_keys {
    char *pub; /* key.txt's record */
    int calls;
    char last[256];
};
/* A mail_dkim_lookup_fn over the fixture keys (user: struct dkim_keys). */
enum mail_dkim_key dkim_keys_lookup(const char *name, int64_t timeout_ms, char *txt, size_t txtsz,
                                    char *why, size_t whysz, void *user);
/* A verifier with the fixture keys (k->pub loaded; free it with dkim_keys_free). */
struct mail_dkim_verifier *dkim_keys_verifier(struct dkim_keys *k);
void dkim_keys_free(struct dkim_keys *k, struct mail_dkim_verifier *v);

#endif
