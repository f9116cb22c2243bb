/* resolver.c - the DNS resolver every module asks: the `[checks] resolver` / --resolver
 * argument parsed, and a libunbound context set up to forward to it or to use the system's. */
#include "common/common.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <unbound.h>

#define TRUST_ANCHOR_FILE "/usr/share/dns/root.key"

int resolver_parse(const char *s, char *out, size_t outsz)
{
    char ip[INET6_ADDRSTRLEN + 1];
    const char *port = NULL;
    size_t iplen;
    if (s == NULL || s[0] == '\0' || strlen(s) > 80)
        return -1;
    if (s[0] == '[') { /* [v6]:port or [v6]@port */
        const char *e = strchr(s, ']');
        if (e == NULL)
            return -1;
        iplen = (size_t)(e - s - 1);
        if (iplen >= sizeof(ip))
            return -1;
        memcpy(ip, s + 1, iplen);
        if (e[1] == ':' || e[1] == '@')
            port = e + 2;
        else if (e[1] != '\0')
            return -1;
    } else {
        const char *at = strchr(s, '@');
        const char *colon = strchr(s, ':');
        if (at != NULL) {
            iplen = (size_t)(at - s);
            port = at + 1;
        } else if (colon != NULL && strchr(colon + 1, ':') == NULL) {
            iplen = (size_t)(colon - s); /* IPv4:port; a bare IPv6 has several colons */
            port = colon + 1;
        } else {
            iplen = strlen(s);
        }
        if (iplen >= sizeof(ip))
            return -1;
        memcpy(ip, s, iplen);
    }
    ip[iplen] = '\0';
    unsigned char buf[16];
    if (inet_pton(AF_INET, ip, buf) != 1 && inet_pton(AF_INET6, ip, buf) != 1)
        return -1;
    long p = 53;
    if (port != NULL) {
        char *end;
        if (!isdigit((unsigned char)port[0]))
            return -1;
        p = strtol(port, &end, 10);
        if (*end != '\0' || p < 1 || p > 65535)
            return -1;
    }
    int n = snprintf(out, outsz, "%s@%ld", ip, p);
    return (n > 0 && (size_t)n < outsz) ? 0 : -1;
}

struct ub_ctx *resolver_new(const char *fwd, char *err, size_t errlen)
{
    struct ub_ctx *ctx = ub_ctx_create();
    int rc;
    if (ctx == NULL) {
        snprintf(err, errlen, "cannot create a resolver context");
        return NULL;
    }
    /* A thread, not a forked process, answers the queries: the callers may run inside the
     * multi-threaded server. */
    if ((rc = ub_ctx_async(ctx, 1)) != 0)
        goto fail;
    /* libunbound answers the special-use zone test. itself with NXDOMAIN (RFC 6761); ask the
     * configured resolver instead so that test domains work (a local-zone "test. transparent"). */
    if ((rc = ub_ctx_set_option(ctx, "local-zone:", "test. transparent")) != 0)
        goto fail;
    if (fwd != NULL) {
        if ((rc = ub_ctx_set_fwd(ctx, fwd)) != 0)
            goto fail;
    } else {
        if ((rc = ub_ctx_resolvconf(ctx, NULL)) != 0)
            goto fail;
        /* Validate DNSSEC when the root trust anchor is installed (dns-root-data). A test
         * forwarder serves unsigned local data, so not with a configured resolver. */
        if (access(TRUST_ANCHOR_FILE, R_OK) == 0)
            ub_ctx_add_ta_file(ctx, TRUST_ANCHOR_FILE);
    }
    return ctx;
fail:
    snprintf(err, errlen, "resolver setup failed (%s): %s", fwd ? fwd : "resolv.conf",
             ub_strerror(rc));
    ub_ctx_delete(ctx);
    return NULL;
}
