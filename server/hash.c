/* hash.c - hashing for server/: host-name tables, and keyed hashes of client addresses. */
#include "server/server_int.h"
#include "common/common.h"

#include <netinet/in.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

uint32_t srv__hash_str(const char *s, size_t len)
{
    /* FNV-1a: short keys, built once, looked up on every request and handshake. */
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

void srv__hash_init(struct srv_hash *h, size_t n)
{
    size_t cap = 16;
    while (cap < n * 2 + 1)
        cap <<= 1;
    h->slots = xcalloc(cap, sizeof(*h->slots));
    h->mask = cap - 1;
}

void srv__hash_free(struct srv_hash *h)
{
    free(h->slots);
    h->slots = NULL;
    h->mask = 0;
}

int srv__hash_put(struct srv_hash *h, const char *key, uint32_t idx,
                  const char *(*keys)(const void *ctx, uint32_t i), const void *ctx)
{
    size_t len = strlen(key);
    size_t i = srv__hash_str(key, len) & h->mask;
    while (h->slots[i] != 0) {
        if (strcmp(keys(ctx, h->slots[i] - 1), key) == 0)
            return 0;
        i = (i + 1) & h->mask;
    }
    h->slots[i] = idx + 1;
    return 1;
}

long srv__hash_get(const struct srv_hash *h, const char *key, size_t len,
                   const char *(*keys)(const void *ctx, uint32_t i), const void *ctx)
{
    if (h->slots == NULL)
        return -1;
    size_t i = srv__hash_str(key, len) & h->mask;
    while (h->slots[i] != 0) {
        const char *k = keys(ctx, h->slots[i] - 1);
        if (strncmp(k, key, len) == 0 && k[len] == '\0')
            return (long)h->slots[i] - 1;
        i = (i + 1) & h->mask;
    }
    return -1;
}

/* ---- keyed hashing of client addresses ---- */

static uint64_t rotl(uint64_t x, int b)
{
    return (x << b) | (x >> (64 - b));
}

static uint64_t load_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

#define SIPROUND                                                                                   \
    do {                                                                                           \
        v0 += v1;                                                                                  \
        v1 = rotl(v1, 13);                                                                         \
        v1 ^= v0;                                                                                  \
        v0 = rotl(v0, 32);                                                                         \
        v2 += v3;                                                                                  \
        v3 = rotl(v3, 16);                                                                         \
        v3 ^= v2;                                                                                  \
        v0 += v3;                                                                                  \
        v3 = rotl(v3, 21);                                                                         \
        v3 ^= v0;                                                                                  \
        v2 += v1;                                                                                  \
        v1 = rotl(v1, 17);                                                                         \
        v1 ^= v2;                                                                                  \
        v2 = rotl(v2, 32);                                                                         \
    } while (0)

uint64_t srv__siphash(const unsigned char key[16], const void *data, size_t len)
{
    /* SipHash-2-4 (Aumasson and Bernstein, 2012): a keyed PRF for short inputs. */
    const unsigned char *in = data;
    uint64_t k0 = load_le64(key), k1 = load_le64(key + 8);
    uint64_t v0 = 0x736f6d6570736575ULL ^ k0, v1 = 0x646f72616e646f6dULL ^ k1;
    uint64_t v2 = 0x6c7967656e657261ULL ^ k0, v3 = 0x7465646279746573ULL ^ k1;
    size_t whole = len - len % 8;
    for (size_t i = 0; i < whole; i += 8) {
        uint64_t m = load_le64(in + i);
        v3 ^= m;
        SIPROUND;
        SIPROUND;
        v0 ^= m;
    }
    uint64_t b = (uint64_t)len << 56;
    for (size_t i = 0; i < len % 8; i++)
        b |= (uint64_t)in[whole + i] << (8 * i);
    v3 ^= b;
    SIPROUND;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

static unsigned char process_key[16];
static pthread_once_t process_key_once = PTHREAD_ONCE_INIT;

static void process_key_init(void)
{
    /* Never written anywhere: a new key each start, so nobody outside can aim addresses at
     * one bucket of the rate-limit or connection tables. */
    if (RAND_bytes(process_key, sizeof(process_key)) != 1)
        abort(); /* no randomness: nothing here would be safe either */
}

uint64_t srv__hash_keyed(const void *data, size_t len)
{
    pthread_once(&process_key_once, process_key_init);
    return srv__siphash(process_key, data, len);
}

int srv__addr_key(const struct sockaddr *sa, unsigned char key[SRV_ADDR_KEY_LEN], int *family,
                  const unsigned char **addr)
{
    memset(key, 0, SRV_ADDR_KEY_LEN);
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        *family = AF_INET;
        *addr = (const unsigned char *)&s4->sin_addr;
        key[0] = 4;
        memcpy(key + 1, *addr, 4);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        const unsigned char *a = (const unsigned char *)&s6->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
            *family = AF_INET;
            *addr = a + 12;
            key[0] = 4;
            memcpy(key + 1, a + 12, 4);
            return 0;
        }
        /* One host or one customer is usually given a whole /64 (RFC 4291 §2.5.1, RFC 6177):
         * counting /128s would hand one attacker 2^64 fresh budgets. */
        *family = AF_INET6;
        *addr = a;
        key[0] = 6;
        memcpy(key + 1, a, 8);
        return 0;
    }
    return -1;
}
