/* test_records.c - unit tests of the records a hosted domain publishes (policy/records.c):
 * the TXT records, addresses from --address or from the listen addresses, and the notes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/unit_test.h"

#include "policy/policy.h"

#include <string.h>

static void test_records(void **state)
{
    (void)state;
    struct policy_dns_lines l;
    const char *listen[] = {"127.0.0.1:8443", "[::1]:443", "0.0.0.0:443", "mta.example.net:443",
                            "127.0.0.1:443"};
    policy_dns_records("example.com", "20261207T030000", "/tls,rpt", NULL, 0, listen, 5, &l);
    const char *want[] = {
        "_mta-sts.example.com. IN TXT \"v=STSv1; id=20261207T030000\"",
        "_smtp._tls.example.com. IN TXT \"v=TLSRPTv1; rua=https://mta-sts.example.com/tls%2Crpt\"",
        "mta-sts.example.com. IN A 127.0.0.1",
        "; note: [server] listen = 127.0.0.1:8443 is not port 443, where senders connect; "
        "forward 443 to it",
        "mta-sts.example.com. IN AAAA ::1",
        "; mta-sts.example.com. IN A <public IPv4 address>  ([server] listen = 0.0.0.0:443 "
        "listens on every address: fill in the public one, or use --address)",
    }; /* a listen address that is not host:port is skipped; the second 127.0.0.1 gives no
        * second A record */
    assert_int_equal(l.n, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < l.n && i < sizeof(want) / sizeof(want[0]); i++)
        assert_string_equal(l.v[i], want[i]);
    policy_dns_lines_free(&l);
    /* given addresses replace the listen addresses; the default report path */
    const char *addrs[] = {"192.0.2.10", "2001:db8::1", "192.0.2.10"};
    policy_dns_records("example.org", "abc", NULL, addrs, 3, listen, 5, &l);
    assert_int_equal(l.n, 4);
    assert_string_equal(l.v[1], "_smtp._tls.example.org. IN TXT \"v=TLSRPTv1; "
                                "rua=https://mta-sts.example.org/tlsrpt\"");
    assert_string_equal(l.v[2], "mta-sts.example.org. IN A 192.0.2.10");
    assert_string_equal(l.v[3], "mta-sts.example.org. IN AAAA 2001:db8::1");
    policy_dns_lines_free(&l);
    assert_true(policy_dns_address_valid("::1"));
    assert_true(policy_dns_address_valid("10.0.0.1"));
    assert_false(policy_dns_address_valid("10.0.0"));
    assert_false(policy_dns_address_valid("mail.example.com"));
}

UNIT_TESTS(NULL, cmocka_unit_test(test_records))
