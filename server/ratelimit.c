/* ratelimit.c - per-client-address token buckets for report intake, in bounded memory. */
#include "server/intake_int.h"
#include "server/server_int.h"
#include "common/common.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define WAYS 8 /* slots per set; a new address evicts the least recently used of its set */

struct slot {
    unsigned char key[SRV_ADDR_KEY_LEN]; /* family byte + address (IPv6: the /64) */
    unsigned char used;
    double tokens;
    uint64_t last_ms;
};

struct srv_ratelimit {
    pthread_mutex_t mu;
    double rate, burst, start; /* tokens per second, bucket size, tokens of a new entry */
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
    /* A new address, or one whose entry was evicted by others, starts with one second's worth
     * (at least one request), not the burst: otherwise an attacker with many addresses, or
     * one who evicts entries on purpose, would get a fresh burst per address. The burst
     * builds up while an address stays known. */
    rl->start = rate_per_sec < 1 ? 1 : rate_per_sec;
    if (rl->start > rl->burst)
        rl->start = rl->burst;
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

int srv_ratelimit_take(struct srv_ratelimit *rl, const struct sockaddr *sa, uint64_t now_ms)
{
    if (rl == NULL || rl->rate <= 0 || sa == NULL)
        return 0;
    unsigned char key[SRV_ADDR_KEY_LEN];
    int family;
    const unsigned char *addr;
    if (srv__addr_key(sa, key, &family, &addr) != 0)
        return 0; /* unix sockets and the like: local, not limited */
    if (config_cidr_match(rl->exempt, rl->n_exempt, family, addr))
        return 0;

    /* keyed: an attacker cannot pick addresses that all land in the set of a victim's */
    size_t set = (size_t)(srv__hash_keyed(key, sizeof(key)) % (SRV_RATELIMIT_SLOTS / WAYS)) * WAYS;
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
        s->tokens = rl->start;
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
