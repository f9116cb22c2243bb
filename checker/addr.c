/* addr.c - which IP addresses the self-checks and the webhook must not connect to by default:
 * loopback, private, link-local, CGNAT, unspecified, multicast and reserved ones. */
#include "checker/checker.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

/* A non-public IPv4 address (a = the four bytes, network order). */
static int v4_private(const unsigned char *a)
{
    if (a[0] == 0 || a[0] == 10 || a[0] == 127) /* this network, RFC 1918, loopback */
        return 1;
    if (a[0] == 100 && (a[1] & 0xc0) == 64) /* CGNAT 100.64/10 (RFC 6598) */
        return 1;
    if (a[0] == 169 && a[1] == 254) /* link-local */
        return 1;
    if (a[0] == 172 && (a[1] & 0xf0) == 16) /* RFC 1918 172.16/12 */
        return 1;
    if (a[0] == 192 && a[1] == 168) /* RFC 1918 192.168/16 */
        return 1;
    return a[0] >= 224; /* multicast 224/4, reserved 240/4, broadcast */
}

static int v6_private(const unsigned char *a)
{
    static const unsigned char zero[12] = {0};
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(a, mapped, 12) == 0) /* ::ffff:a.b.c.d: the IPv4 address decides */
        return v4_private(a + 12);
    if (memcmp(a, zero, 12) == 0) /* ::, ::1 and the deprecated IPv4-compatible ::a.b.c.d */
        return 1;
    if ((a[0] & 0xfe) == 0xfc) /* unique local fc00::/7 */
        return 1;
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) /* link-local fe80::/10 */
        return 1;
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0) /* site-local fec0::/10 (deprecated) */
        return 1;
    if (a[0] == 0xff) /* multicast */
        return 1;
    static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
    if (memcmp(a, nat64, 12) == 0) /* 64:ff9b::a.b.c.d (RFC 6052): the IPv4 address decides */
        return v4_private(a + 12);
    return 0;
}

int check_addr_private(const struct sockaddr *sa)
{
    if (sa == NULL)
        return 1;
    if (sa->sa_family == AF_INET)
        return v4_private((const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr);
    if (sa->sa_family == AF_INET6)
        return v6_private(((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr);
    return 1; /* not an internet address: never a public one */
}

int check_addr_private_ip(const char *ip)
{
    unsigned char b[16];
    if (ip != NULL && inet_pton(AF_INET, ip, b) == 1)
        return v4_private(b);
    if (ip != NULL && inet_pton(AF_INET6, ip, b) == 1)
        return v6_private(b);
    return 1;
}
