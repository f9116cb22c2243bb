/* ratelimit.c - per-client-address token buckets for report intake, in bounded memory. */
#include "server/intake_int.h"
#include "common/common.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define WAYS 8 /* slots per set; a new address evicts the least recently used of its set */

struct slot {
    unsigned char key[17]; /* family byte + address (IPv6: the /64) */
    unsigned char used;
    double tokens;
    uint64_t last_ms;
};

struct srv_ratelimit {
    pthread_mutex_t mu;
    double rate, burst;
    const struct cfg_cidr *exempt;
    size_t n_exempt;
    struct slot slots[SRV_RATELIMIT_SLOTS];
};

struct srv_ratelimit *srv_ratelimit_new(double rate_per_sec, const struct cfg_cidr *exempt,
                                        size_t n_exempt)
{
    struct srv_ratelimit *rl = xcalloc(1, sizeof(*rl));
    pthread_mutex_init(&rl->mu, NULL);
    rl->rate = rate_per_sec;
    rl->burst = rate_per_sec * SRV_RATELIMIT_BURST;
    if (rl->burst < 1)
        rl->burst = 1;
    rl->exempt = exempt;
    rl->n_exempt = n_exempt;
    return rl;
}

void srv_ratelimit_free(struct srv_ratelimit *rl)
{
    if (rl == NULL)
        return;
    pthread_mutex_destroy(&rl->mu);
    free(rl);
}

/* FNV-1a over the key: cheap and good enough to spread addresses over the sets; an attacker
 * who makes addresses collide only evicts his own entries, each of which starts full. */
static uint32_t hash_key(const unsigned char *k, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= k[i];
        h *= 16777619u;
    }
    return h;
}

/* Fill key from sa: IPv4 (also IPv4-mapped IPv6) by address, IPv6 by its /64 (one host is
 * usually given a whole /64, RFC 4291). Also returns family and the address for the exempt
 * check. -1 for other families. */
static int make_key(const struct sockaddr *sa, unsigned char key[17], int *family,
                    const unsigned char **addr)
{
    memset(key, 0, 17);
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
        *family = AF_INET6;
        *addr = a;
        key[0] = 6;
        memcpy(key + 1, a, 8);
        return 0;
    }
    return -1;
}

int srv_ratelimit_take(struct srv_ratelimit *rl, const struct sockaddr *sa, uint64_t now_ms)
{
    if (rl == NULL || rl->rate <= 0 || sa == NULL)
        return 0;
    unsigned char key[17];
    int family;
    const unsigned char *addr;
    if (make_key(sa, key, &family, &addr) != 0)
        return 0; /* unix sockets and the like: local, not limited */
    if (config_cidr_match(rl->exempt, rl->n_exempt, family, addr))
        return 0;

    size_t set = (hash_key(key, sizeof(key)) % (SRV_RATELIMIT_SLOTS / WAYS)) * WAYS;
    int retry = 0;
    pthread_mutex_lock(&rl->mu);
    struct slot *s = NULL, *victim = &rl->slots[set];
    for (size_t i = set; i < set + WAYS; i++) {
        struct slot *c = &rl->slots[i];
        if (c->used && memcmp(c->key, key, sizeof(key)) == 0) {
            s = c;
            break;
        }
        if (!c->used)
            victim = c;
        else if (victim->used && c->last_ms < victim->last_ms)
            victim = c;
    }
    if (s == NULL) {
        s = victim;
        memcpy(s->key, key, sizeof(key));
        s->used = 1;
        s->tokens = rl->burst;
        s->last_ms = now_ms;
    }
    if (now_ms > s->last_ms) {
        s->tokens += (double)(now_ms - s->last_ms) * rl->rate / 1000.0;
        if (s->tokens > rl->burst)
            s->tokens = rl->burst;
        s->last_ms = now_ms;
    }
    if (s->tokens >= 1.0) {
        s->tokens -= 1.0;
    } else {
        double wait = (1.0 - s->tokens) / rl->rate;
        retry = (int)wait;
        if ((double)retry < wait)
            retry++;
        if (retry < 1)
            retry = 1;
    }
    pthread_mutex_unlock(&rl->mu);
    return retry;
}
