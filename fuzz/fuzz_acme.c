/* fuzz_acme.c - libFuzzer target: the parsers of an ACME CA's answers (directory, order,
 * authorization, problem document), of Retry-After, Link and Replay-Nonce header values,
 * each run on every input. */
#include "acme/acme_int.h"
#include "common/common.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A parsed URL is an https URL without spaces or control characters. */
static void check_url(const char *u, int may_be_empty)
{
    if (may_be_empty && u[0] == '\0')
        return;
    if (strncmp(u, "https://", 8) != 0 || strlen(u) >= ACME__URL_MAX)
        abort();
    for (const char *p = u; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
            abort();
}

/* Text for logs holds no control characters (they are escaped). */
static void check_printable(const char *s)
{
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > ACME__BODY_MAX)
        return 0;
    const char *text = (const char *)data;
    char err[300];

    struct acme__directory d;
    if (acme__parse_directory(text, size, &d, err, sizeof(err)) == 0) {
        check_url(d.new_nonce, 0);
        check_url(d.new_account, 0);
        check_url(d.new_order, 0);
    }

    struct acme__order *o = malloc(sizeof(*o));
    if (acme__parse_order(text, size, o, err, sizeof(err)) == 0) {
        if (o->n_authz < 1 || o->n_authz > ACME__AUTHZ_MAX || o->status == ACME__S_UNKNOWN)
            abort();
        for (size_t i = 0; i < o->n_authz; i++)
            check_url(o->authz[i], 0);
        check_url(o->finalize, 0);
        check_url(o->certificate, o->status != ACME__S_VALID);
        check_printable(o->error);
    }
    free(o);

    static const char *const types[] = {"http-01", "tls-alpn-01"};
    for (size_t t = 0; t < 2; t++) {
        struct acme__authz a;
        if (acme__parse_authz(text, size, types[t], &a, err, sizeof(err)) != 0)
            continue;
        if (a.status == ACME__S_UNKNOWN || !domain_valid(a.identifier))
            abort();
        if (a.ch_url[0] != '\0' || a.status != ACME__S_VALID) {
            check_url(a.ch_url, 0);
            if (strlen(a.ch_token) < 22 ||
                strspn(a.ch_token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                   "0123456789-_") != strlen(a.ch_token))
                abort();
        }
        check_printable(a.ch_error);
        check_printable(a.ch_type);
    }

    char type[96], detail[400];
    if (acme__parse_problem(text, size, type, sizeof(type), detail, sizeof(detail)) == 0) {
        check_printable(type);
        check_printable(detail);
    }

    /* Retry-After as a header value: a C string of at most a line */
    if (size < 256) {
        char *v = malloc(size + 1);
        memcpy(v, data, size);
        v[size] = '\0';
        long ra = acme_retry_after(v, 1445412480);
        if (ra < 0 || ra > ACME__RETRY_AFTER_MAX)
            abort();
        char up[64];
        if (acme__link_target(v, "up", up, sizeof(up)) == 0 && strstr(v, up) == NULL)
            abort();
        if (acme__nonce_ok(v) && strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                           "0123456789-_") != strlen(v))
            abort();
        free(v);
    }
    return 0;
}
