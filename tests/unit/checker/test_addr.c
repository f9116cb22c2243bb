/* test_addr.c - unit tests of check_addr_private: which addresses the self-checks and the
 * webhook refuse by default. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "checker/checker.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

static void test_private_ip(void **state)
{
    static const char *const priv[] = {"0.0.0.0",
                                       "0.1.2.3",
                                       "10.0.0.1",
                                       "10.255.255.255",
                                       "100.64.0.1",
                                       "100.127.255.254",
                                       "127.0.0.1",
                                       "127.255.0.9",
                                       "169.254.1.1",
                                       "172.16.0.1",
                                       "172.31.255.255",
                                       "192.168.1.1",
                                       "224.0.0.1",
                                       "239.1.2.3",
                                       "240.0.0.1",
                                       "255.255.255.255",
                                       "::",
                                       "::1",
                                       "fc00::1",
                                       "fd12:3456::1",
                                       "fe80::1",
                                       "febf::1",
                                       "fec0::1",
                                       "ff02::1",
                                       "::ffff:127.0.0.1",
                                       "::ffff:10.1.2.3",
                                       "::ffff:192.168.0.1",
                                       "::ffff:0.0.0.0",
                                       "::ffff:169.254.3.4",
                                       "::ffff:100.64.1.1",
                                       "::127.0.0.1",
                                       "::10.0.0.1",
                                       "64:ff9b::7f00:1",
                                       "64:ff9b::a00:1",
                                       "not an address",
                                       "",
                                       "1.2.3",
                                       "127.0.0.1:25"};
    static const char *const pub[] = {
        "1.1.1.1",        "8.8.8.8",         "9.255.255.255",    "11.0.0.1",     "100.63.255.255",
        "100.128.0.1",    "126.255.255.255", "128.0.0.1",        "169.253.1.1",  "169.255.0.1",
        "172.15.255.255", "172.32.0.1",      "192.167.1.1",      "192.169.0.1",  "192.0.2.1",
        "203.0.113.9",    "223.255.255.255", "2001:db8::1",      "2a00:1450::1", "fbff::1",
        "fe7f::1",        "::ffff:8.8.8.8",  "64:ff9b::808:808", "2002::1"};
    for (size_t i = 0; i < sizeof(priv) / sizeof(*priv); i++) {
        if (!check_addr_private_ip(priv[i]))
            print_message("# expected private: %s\n", priv[i]);
        assert_true(check_addr_private_ip(priv[i]));
    }
    for (size_t i = 0; i < sizeof(pub) / sizeof(*pub); i++) {
        if (check_addr_private_ip(pub[i]))
            print_message("# expected public: %s\n", pub[i]);
        assert_false(check_addr_private_ip(pub[i]));
    }
    assert_true(check_addr_private_ip(NULL));
}

/* check_addr_private on the sockaddr of a numeric address of family af. */
static int private_sa(int af, const char *ip)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    ss.ss_family = (sa_family_t)af;
    void *where = af == AF_INET ? (void *)&((struct sockaddr_in *)&ss)->sin_addr
                                : (void *)&((struct sockaddr_in6 *)&ss)->sin6_addr;
    assert_int_equal(inet_pton(af, ip, where), 1);
    return check_addr_private((struct sockaddr *)&ss);
}

static void test_private_sockaddr(void **state)
{
    assert_true(private_sa(AF_INET, "127.0.0.1"));
    assert_false(private_sa(AF_INET, "93.184.216.34"));
    assert_true(private_sa(AF_INET6, "::ffff:127.0.0.1"));
    assert_false(private_sa(AF_INET6, "2606:2800:220:1::1"));
    struct sockaddr un = {.sa_family = AF_UNIX};
    assert_true(check_addr_private(&un));
    assert_true(check_addr_private(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_private_ip),
        cmocka_unit_test(test_private_sockaddr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
