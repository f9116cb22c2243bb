/* hash.c - immutable open-addressing tables from host names to entry indexes. */
#include "server/server_int.h"
#include "common/common.h"

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
