/* test_net.c - unit tests of the keyed address hash and /64 keys (hash.c), the connection
 * caps (listen.c), the rate limiter's start for new addresses (ratelimit.c) and the empty
 * DATA frames of the HTTP/2 guard (h2guard.c). */
#include "server/server_int.h"
#include "server/intake_int.h"
#include "common/common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static struct sockaddr_in v4(const char *a)
{
    struct sockaddr_in s = {.sin_family = AF_INET};
    assert_int_equal(inet_pton(AF_INET, a, &s.sin_addr), 1);
    return s;
}

static struct sockaddr_in6 v6(const char *a)
{
    struct sockaddr_in6 s = {.sin6_family = AF_INET6};
    assert_int_equal(inet_pton(AF_INET6, a, &s.sin6_addr), 1);
    return s;
}

#define SA(x) ((const struct sockaddr *)&(x))

/* SipHash-2-4 as computed by OpenSSL's EVP_MAC "SIPHASH" (8-byte output, little-endian). */
static uint64_t openssl_siphash(const unsigned char key[16], const unsigned char *m, size_t n)
{
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "SIPHASH", NULL);
    assert_non_null(mac);
    EVP_MAC_CTX *c = EVP_MAC_CTX_new(mac);
    size_t size = 8;
    OSSL_PARAM p[] = {OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &size), OSSL_PARAM_END};
    assert_int_equal(EVP_MAC_init(c, key, 16, p), 1);
    assert_int_equal(EVP_MAC_update(c, m, n), 1);
    unsigned char out[8];
    size_t outl = 0;
    assert_int_equal(EVP_MAC_final(c, out, &outl, sizeof(out)), 1);
    assert_int_equal(outl, 8);
    EVP_MAC_CTX_free(c);
    EVP_MAC_free(mac);
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | out[i];
    return v;
}

static void test_siphash_vectors(void **state)
{
    (void)state;
    unsigned char key[16], msg[64];
    for (int i = 0; i < 16; i++)
        key[i] = (unsigned char)i;
    for (int i = 0; i < 64; i++)
        msg[i] = (unsigned char)i;
    /* the reference vectors of the SipHash paper (key 00..0f, message 00..len-1) */
    assert_true(srv__siphash(key, msg, 0) == 0x726fdb47dd0e0e31ULL);
    assert_true(srv__siphash(key, msg, 15) == 0xa129ca6149be45e5ULL);
    /* every length up to 64 (all tail sizes) agrees with OpenSSL's implementation */
    for (size_t n = 0; n <= 64; n++)
        assert_true(srv__siphash(key, msg, n) == openssl_siphash(key, msg, n));
}

static void test_keyed_hash_is_keyed(void **state)
{
    (void)state;
    unsigned char zero[16] = {0}, k[SRV_ADDR_KEY_LEN];
    int fam;
    const unsigned char *a;
    struct sockaddr_in x = v4("198.51.100.7");
    assert_int_equal(srv__addr_key(SA(x), k, &fam, &a), 0);
    /* stable within the process ... */
    assert_true(srv__hash_keyed(k, sizeof(k)) == srv__hash_keyed(k, sizeof(k)));
    /* ... and not the hash under a known key: the key is random (RAND_bytes) */
    assert_true(srv__hash_keyed(k, sizeof(k)) != srv__siphash(zero, k, sizeof(k)));
    /* Bucket spread of 4096 consecutive addresses over 512 sets: none gets more than 32
     * (the mean is 8); a keyed PRF has no pattern an address plan could follow. */
    int sets[512] = {0}, worst = 0;
    for (uint32_t i = 0; i < 4096; i++) {
        struct sockaddr_in s = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0xc6336400u + i)};
        assert_int_equal(srv__addr_key(SA(s), k, &fam, &a), 0);
        int b = (int)(srv__hash_keyed(k, sizeof(k)) % 512);
        if (++sets[b] > worst)
            worst = sets[b];
    }
    assert_true(worst <= 32);
}

static void test_addr_key_64(void **state)
{
    (void)state;
    unsigned char k1[SRV_ADDR_KEY_LEN], k2[SRV_ADDR_KEY_LEN];
    int fam;
    const unsigned char *a;
    struct sockaddr_in6 x1 = v6("2001:db8:1:2::1"), x2 = v6("2001:db8:1:2:ffff:ffff:ffff:ffff"),
                        y = v6("2001:db8:1:3::1");
    assert_int_equal(srv__addr_key(SA(x1), k1, &fam, &a), 0);
    assert_int_equal(fam, AF_INET6);
    assert_memory_equal(a, &x1.sin6_addr, 16); /* the full address, for rate_exempt */
    assert_int_equal(srv__addr_key(SA(x2), k2, &fam, &a), 0);
    assert_memory_equal(k1, k2, sizeof(k1)); /* one /64 */
    assert_int_equal(srv__addr_key(SA(y), k2, &fam, &a), 0);
    assert_memory_not_equal(k1, k2, sizeof(k1));
    /* IPv4-mapped IPv6 is the IPv4 address */
    struct sockaddr_in p = v4("192.0.2.5");
    struct sockaddr_in6 m = v6("::ffff:192.0.2.5");
    assert_int_equal(srv__addr_key(SA(p), k1, &fam, &a), 0);
    assert_int_equal(fam, AF_INET);
    assert_int_equal(srv__addr_key(SA(m), k2, &fam, &a), 0);
    assert_int_equal(fam, AF_INET);
    assert_memory_equal(k1, k2, sizeof(k1));
    /* 192.0.2.5 and the IPv6 /64 c000:205:: start with the same bytes: the family byte differs */
    struct sockaddr_in6 z = v6("c000:205::");
    assert_int_equal(srv__addr_key(SA(z), k2, &fam, &a), 0);
    assert_memory_not_equal(k1, k2, sizeof(k1));
    struct sockaddr un = {.sa_family = AF_UNIX};
    assert_int_equal(srv__addr_key(&un, k1, &fam, &a), -1);
}

static void test_conns_per_64(void **state)
{
    (void)state;
    struct stsd_config cfg;
    config_defaults(&cfg);
    cfg.max_conn_per_address = 2;
    cfg.max_connections = 100;
    struct cfg_cidr lo8;
    assert_int_equal(config_parse_cidr("127.0.0.0/8", &lo8), 0);
    cfg.rate_exempt = &lo8;
    cfg.n_rate_exempt = 1;
    struct srv s = {.cfg = &cfg};
    srv__conns_init(&cfg);
    struct sockaddr_in6 a1 = v6("2001:db8:0:1::1"), a2 = v6("2001:db8:0:1::2"),
                        a3 = v6("2001:db8:0:1:8000::3"), b = v6("2001:db8:0:2::1");
    void *t1 = srv__conns_acquire(&s, SA(a1)), *t2 = srv__conns_acquire(&s, SA(a2));
    assert_non_null(t1);
    assert_non_null(t2);
    assert_null(srv__conns_acquire(&s, SA(a3))); /* the third from one /64 */
    void *tb = srv__conns_acquire(&s, SA(b));    /* another /64 has its own count */
    assert_non_null(tb);
    srv__conns_release(t1);
    void *t3 = srv__conns_acquire(&s, SA(a3)); /* room again after a close */
    assert_non_null(t3);
    assert_null(srv__conns_acquire(&s, SA(a1)));
    /* IPv4: per address */
    struct sockaddr_in p = v4("198.51.100.1"), q = v4("198.51.100.2");
    void *p1 = srv__conns_acquire(&s, SA(p)), *p2 = srv__conns_acquire(&s, SA(p));
    assert_non_null(p1);
    assert_non_null(p2);
    assert_null(srv__conns_acquire(&s, SA(p)));
    void *q1 = srv__conns_acquire(&s, SA(q));
    assert_non_null(q1);
    for (void **t = (void *[]){t2, tb, t3, p1, p2, q1, NULL}; *t != NULL; t++)
        srv__conns_release(*t);
    /* penalties: by address (/64), until a time, never for rate_exempt ranges */
    srv__conns_penalize(SA(a1), 5000);
    assert_int_equal(srv__conns_penalized(SA(a3), 4999), 1); /* the same /64 */
    assert_int_equal(srv__conns_penalized(SA(a3), 5000), 0); /* over */
    assert_int_equal(srv__conns_penalized(SA(b), 1000), 0);
    struct sockaddr_in lo = v4("127.0.0.5"); /* rate_exempt */
    srv__conns_penalize(SA(lo), 5000);
    assert_int_equal(srv__conns_penalized(SA(lo), 1000), 0);
    cfg.rate_exempt = NULL;
    cfg.n_rate_exempt = 0;
    config_free(&cfg);
}

/* A smaller cap for one listener: the count per address is shared, the cap is the caller's. */
static void test_conns_acquire_max(void **state)
{
    (void)state;
    struct stsd_config cfg;
    config_defaults(&cfg);
    cfg.max_conn_per_address = 3;
    struct srv s = {.cfg = &cfg};
    srv__conns_init(&cfg);
    struct sockaddr_in a = v4("198.51.100.7");
    void *t1 = srv__conns_acquire(&s, SA(a));
    assert_non_null(t1);
    assert_null(srv__conns_acquire_max(&s, SA(a), 1)); /* one already: the cap of 1 is full */
    void *t2 = srv__conns_acquire_max(&s, SA(a), 2);
    assert_non_null(t2);
    assert_true(t2 == t1);                    /* the same address's count */
    void *t3 = srv__conns_acquire(&s, SA(a)); /* the third under max_conn_per_address = 3 */
    assert_non_null(t3);
    assert_null(srv__conns_acquire(&s, SA(a)));
    assert_ptr_equal(srv__conns_acquire_max(&s, SA(a), 0), &srv__conns_exempt_token);
    srv__conns_release(t3);
    srv__conns_release(t2);
    assert_null(srv__conns_acquire_max(&s, SA(a), 1));
    srv__conns_release(t1);
    void *t4 = srv__conns_acquire_max(&s, SA(a), 1); /* all closed: room again */
    assert_non_null(t4);
    srv__conns_release(t4);
    config_free(&cfg);
}

static void test_conns_max_default(void **state)
{
    (void)state;
    assert_int_equal(srv__conns_max_default(1024), 819);
    assert_int_equal(srv__conns_max_default(20000), 16000);
    assert_int_equal(srv__conns_max_default(1), 1);
    assert_int_equal(srv__conns_max_default(1048576), 838860);
}

static void test_ratelimit_new_address_base_rate(void **state)
{
    (void)state;
    /* 5/s with a burst of 50: a new address gets 5 (one second's worth), not 50 */
    struct srv_ratelimit *rl = srv_ratelimit_new(5.0, NULL, 0);
    struct sockaddr_in a = v4("203.0.113.1");
    for (int i = 0; i < 5; i++)
        assert_int_equal(srv_ratelimit_take(rl, SA(a), 1000), 0);
    assert_int_not_equal(srv_ratelimit_take(rl, SA(a), 1000), 0);
    /* evicted by many other addresses, it comes back with the base rate again */
    for (uint32_t i = 0; i < 40 * SRV_RATELIMIT_SLOTS; i++) {
        struct sockaddr_in s = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x0a000000u + i)};
        srv_ratelimit_take(rl, SA(s), 100000);
    }
    int allowed = 0;
    for (int i = 0; i < 60; i++)
        allowed += srv_ratelimit_take(rl, SA(a), 100000) == 0;
    assert_int_equal(allowed, 5);
    srv_ratelimit_free(rl);
    /* a slow rate still lets a new address send one request */
    rl = srv_ratelimit_new(0.01, NULL, 0);
    assert_int_equal(srv_ratelimit_take(rl, SA(a), 0), 0);
    assert_int_equal(srv_ratelimit_take(rl, SA(a), 0), 100);
    srv_ratelimit_free(rl);
}

/* Walk frames written by srv__h2_empty_data and check them (RFC 9113 §6.1). */
static void check_empty_data(size_t len, int end_stream)
{
    unsigned char out[20000];
    size_t n = srv__h2_empty_data(out, len, end_stream, 0x12345);
    size_t credited = 0, frames = 0;
    for (size_t i = 0; i < n;) {
        size_t flen = (size_t)out[i] << 16 | (size_t)out[i + 1] << 8 | out[i + 2];
        assert_true(i + 9 + flen <= n);
        assert_int_equal(out[i + 3], 0x0); /* DATA */
        int last = i + 9 + flen == n;
        assert_int_equal(out[i + 4], 0x8 | (last && end_stream ? 0x1 : 0)); /* PADDED */
        assert_int_equal(out[i + 5] << 24 | out[i + 6] << 16 | out[i + 7] << 8 | out[i + 8],
                         0x12345);
        assert_true(flen >= 1 && flen <= 256);
        assert_int_equal(out[i + 9], flen - 1); /* pad length: no data left */
        for (size_t k = 10; k < 9 + flen; k++)
            assert_int_equal(out[i + k], 0);
        credited += flen;
        frames++;
        i += 9 + flen;
    }
    assert_int_equal(credited, len); /* the same flow-control credit as the original */
    assert_int_equal(frames, (len + 255) / 256);
    assert_true(n <= len + 9 * (len / 256 + 1));
}

static void test_h2_empty_data(void **state)
{
    (void)state;
    check_empty_data(16384, 0);
    check_empty_data(16384, 1);
    check_empty_data(1, 1);
    check_empty_data(256, 0);
    check_empty_data(257, 1);
    check_empty_data(300, 0);
    assert_true(srv__h2_entity_cap(10u << 20) == 20u << 20);   /* twice, as before */
    assert_true(srv__h2_entity_cap(1024) == 1024 + 64 * 1024); /* room for a frame */
}

static void test_h1_guard(void **state)
{
    (void)state;
    /* parse_memory, but never less than four of h2o's largest requests */
    assert_true(srv__h1_guard_budget(256u << 20, 20u << 20) == 256u << 20);
    assert_true(srv__h1_guard_budget(16u << 20, 20u << 20) == 80u << 20);
    /* the first 64 KiB of a connection's input are never counted */
    assert_true(srv__h1_guard_counted(0) == 0);
    assert_true(srv__h1_guard_counted(64 * 1024) == 0);
    assert_true(srv__h1_guard_counted(1u << 20) == (1u << 20) - 64 * 1024);

    srv__h1_guard_init(10u << 20, 1u << 20); /* budget 10 MiB */
    struct srv_h1_guard a = {0}, b = {0}, c = {0};
    assert_int_equal(srv__h1_guard_charge(&a, 4u << 20), 0);
    assert_int_equal(srv__h1_guard_charge(&b, 4u << 20), 0);
    assert_int_equal(srv__h1_guard_charge(&c, 2u << 20), 0);        /* exactly the budget */
    assert_int_equal(srv__h1_guard_charge(&c, (2u << 20) + 1), -1); /* grows past it */
    assert_int_equal(srv__h1_guard_charge(&c, 2u << 20), 0);        /* shrinking is allowed */
    assert_int_equal(srv__h1_guard_charge(&a, 4u << 20), 0);        /* unchanged: allowed */
    srv__h1_guard_release(&c);
    assert_true(c.charged == 0);
    assert_int_equal(srv__h1_guard_charge(&a, 6u << 20), 0); /* c's share is free again */
    assert_int_equal(srv__h1_guard_charge(&b, 0), 0);        /* a kept-alive request done */
    assert_int_equal(srv__h1_guard_charge(&c, 4u << 20), 0);
    assert_int_equal(srv__h1_guard_charge(&c, (4u << 20) + 1), -1);
    srv__h1_guard_release(&a);
    srv__h1_guard_release(&b);
    srv__h1_guard_release(&c);
    assert_int_equal(srv__h1_guard_charge(&a, 10u << 20), 0); /* all released: empty again */
    srv__h1_guard_release(&a);
}

/* HTTP/2 body bytes in progress charged to the count HTTP/1 uses (frame types: DATA 0,
 * HEADERS 1, RST_STREAM 3; flag END_STREAM 1). */
static void test_h2_guard_total(void **state)
{
    (void)state;
    const uint64_t M = 1u << 20;
    srv__h2_guard_init(M);                 /* per connection: 2 MiB + 64 KiB, 32 streams */
    srv__h1_guard_init(3 * M, 512 * 1024); /* budget 3 MiB, for both protocols */
    struct srv_h2_guard *a = srv__h2_guard_new(NULL, 0), *b = srv__h2_guard_new(NULL, 0);
    int over = -1;
    /* a GET: HEADERS with END_STREAM charges nothing */
    assert_int_equal(srv__h2_guard_frame(a, 1, 1, 1, 0, &over), 0);
    assert_int_equal(over, 0);
    assert_int_equal(srv__h2_guard_settle(a), 0);
    assert_true(srv__h1_guard_held() == 0);
    /* bodies in progress on two connections fill the shared budget */
    assert_int_equal(srv__h2_guard_frame(a, 1, 0, 3, 0, &over), 0);
    assert_int_equal(srv__h2_guard_frame(a, 0, 0, 3, M, &over), 0);
    assert_int_equal(srv__h2_guard_frame(a, 1, 0, 5, 0, &over), 0);
    assert_int_equal(srv__h2_guard_frame(a, 0, 0, 5, M, &over), 0);
    assert_int_equal(srv__h2_guard_settle(a), 0);
    assert_true(srv__h1_guard_held() == 2 * M);
    assert_int_equal(srv__h2_guard_frame(b, 1, 0, 1, 0, &over), 0);
    assert_int_equal(srv__h2_guard_frame(b, 0, 0, 1, M, &over), 0);
    assert_int_equal(srv__h2_guard_settle(b), 0); /* exactly the budget */
    assert_int_equal(srv__h2_guard_settle(b), 0); /* unchanged */
    assert_int_equal(srv__h2_guard_frame(b, 0, 0, 1, 1, &over), 0);
    assert_int_equal(srv__h2_guard_settle(b), -1); /* grows past it: b is closed */
    assert_true(srv__h1_guard_held() == 3 * M + 1);
    assert_int_equal(srv__h2_guard_frame(b, 0, 0, 1, 10, &over), 0);
    assert_int_equal(over, 1); /* past max_body: h2o keeps no more of it, nothing charged */
    /* a reset and an END_STREAM release their streams' bytes */
    assert_int_equal(srv__h2_guard_frame(a, 3, 0, 5, 0, &over), 0);
    assert_int_equal(srv__h2_guard_settle(a), 0);
    assert_true(srv__h1_guard_held() == 2 * M + 1);
    assert_int_equal(srv__h2_guard_frame(a, 0, 1, 3, 0, &over), 0);
    assert_int_equal(srv__h2_guard_settle(a), 0);
    assert_true(srv__h1_guard_held() == M + 1);
    /* the per-connection caps are unchanged: 32 streams, 2 MiB + 64 KiB */
    for (uint32_t id = 7; id < 7 + 2 * 32; id += 2)
        assert_int_equal(srv__h2_guard_frame(a, 1, 0, id, 0, &over), 0);
    assert_int_equal(srv__h2_guard_frame(a, 1, 0, 7 + 2 * 32, 0, &over), -1);
    assert_int_equal(srv__h2_guard_frame(a, 0, 0, 7, M, &over), 0);
    assert_int_equal(srv__h2_guard_frame(a, 0, 0, 9, M + 64 * 1024 + 1, &over), -1);
    /* closing both leaves the count empty */
    srv__h2_guard_free(b);
    assert_true(srv__h1_guard_held() == 0);
    srv__h2_guard_settle(a);
    srv__h2_guard_free(a);
    assert_true(srv__h1_guard_held() == 0);
    srv__h2_guard_free(NULL);
}

int main(void)
{
    log_set_level(LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_siphash_vectors),
        cmocka_unit_test(test_keyed_hash_is_keyed),
        cmocka_unit_test(test_addr_key_64),
        cmocka_unit_test(test_conns_per_64),
        cmocka_unit_test(test_conns_acquire_max),
        cmocka_unit_test(test_conns_max_default),
        cmocka_unit_test(test_ratelimit_new_address_base_rate),
        cmocka_unit_test(test_h2_empty_data),
        cmocka_unit_test(test_h1_guard),
        cmocka_unit_test(test_h2_guard_total),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
