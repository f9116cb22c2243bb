/* admin_session.c - dashboard browser sessions: a random id per `?token=` visit, handed out as
 * a cookie, kept in a bounded table with a server-side expiry; the redirect target that
 * drops the token from the URL; and the forms' CSRF tokens bound to a session. */
#include "server/admin_int.h"
#include "common/common.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

int64_t srv__admin_session_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec;
}

void srv__admin_sessions_init(struct admin_sessions *t, int64_t ttl)
{
    memset(t->v, 0, sizeof(t->v));
    t->ttl = ttl;
    pthread_mutex_init(&t->mu, NULL);
}

void srv__admin_sessions_destroy(struct admin_sessions *t)
{
    OPENSSL_cleanse(t->v, sizeof(t->v));
    pthread_mutex_destroy(&t->mu);
}

int srv__admin_session_new(struct admin_sessions *t, int64_t now, char out[ADMIN_SESSION_HEX + 1])
{
    unsigned char id[ADMIN_SESSION_BYTES];
    if (RAND_bytes(id, sizeof(id)) != 1)
        return -1;
    pthread_mutex_lock(&t->mu);
    /* A free or expired slot, else the one that expires first (the oldest: the ttl is the
     * same for all). */
    size_t pick = 0;
    for (size_t i = 0; i < ADMIN_SESSIONS_MAX; i++) {
        if (t->v[i].expires <= now) {
            pick = i;
            break;
        }
        if (t->v[i].expires < t->v[pick].expires)
            pick = i;
    }
    memcpy(t->v[pick].id, id, sizeof(id));
    t->v[pick].expires = now + t->ttl;
    pthread_mutex_unlock(&t->mu);
    format_hex(id, sizeof(id), out);
    OPENSSL_cleanse(id, sizeof(id));
    return 0;
}

int srv__admin_session_valid(struct admin_sessions *t, const char *value, size_t len, int64_t now)
{
    unsigned char id[ADMIN_SESSION_BYTES];
    if (t == NULL || value == NULL || len != ADMIN_SESSION_HEX)
        return 0;
    for (size_t i = 0; i < ADMIN_SESSION_BYTES; i++) {
        int hi = hex_digit((unsigned char)value[2 * i], 1);
        int lo = hex_digit((unsigned char)value[2 * i + 1], 1);
        if (hi < 0 || lo < 0)
            return 0;
        id[i] = (unsigned char)(hi * 16 + lo);
    }
    /* Every slot is compared in full, whatever matches: the time taken says nothing about
     * which ids exist. */
    int found = 0;
    pthread_mutex_lock(&t->mu);
    for (size_t i = 0; i < ADMIN_SESSIONS_MAX; i++) {
        int same = CRYPTO_memcmp(t->v[i].id, id, sizeof(id)) == 0;
        found |= same & (t->v[i].expires > now);
    }
    pthread_mutex_unlock(&t->mu);
    OPENSSL_cleanse(id, sizeof(id));
    return found;
}

size_t srv__admin_query_without_token(const char *query, size_t qlen, char *out, size_t outsz)
{
    size_t o = 0, i = 0;
    if (outsz == 0)
        return 0;
    while (i < qlen) {
        size_t j = i;
        while (j < qlen && query[j] != '&')
            j++;
        int is_token = j - i >= 6 && memcmp(query + i, "token=", 6) == 0;
        is_token |= j - i == 5 && memcmp(query + i, "token", 5) == 0;
        if (j > i && !is_token) {
            size_t need = (o ? 1 : 0) + (j - i);
            if (o + need >= outsz)
                break; /* the query was capped at ADMIN_MAX_QUERY: out is as large */
            if (o)
                out[o++] = '&';
            memcpy(out + o, query + i, j - i);
            o += j - i;
        }
        i = j + 1;
    }
    out[o] = '\0';
    return o;
}

/* ------------------------------------------------------------------ CSRF tokens */

static unsigned char csrf_key[32];
static pthread_once_t csrf_once = PTHREAD_ONCE_INIT;
static int csrf_ready;

static void csrf_init(void)
{
    csrf_ready = RAND_bytes(csrf_key, sizeof(csrf_key)) == 1;
}

int srv__admin_csrf(const char *session, char out[ADMIN_CSRF_HEX + 1])
{
    out[0] = '\0';
    pthread_once(&csrf_once, csrf_init);
    if (!csrf_ready || session == NULL || strlen(session) != ADMIN_SESSION_HEX)
        return -1;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int ml = 0;
    if (HMAC(EVP_sha256(), csrf_key, sizeof(csrf_key), (const unsigned char *)session,
             ADMIN_SESSION_HEX, mac, &ml) == NULL ||
        ml * 2 != ADMIN_CSRF_HEX)
        return -1;
    format_hex(mac, ml, out);
    OPENSSL_cleanse(mac, sizeof(mac));
    return 0;
}

int srv__admin_csrf_valid(const char *session, const char *token)
{
    char want[ADMIN_CSRF_HEX + 1], got[ADMIN_CSRF_HEX + 1];
    if (token == NULL || srv__admin_csrf(session, want) != 0)
        return 0;
    /* A fixed-size copy: the comparison takes the same time whatever the candidate. */
    memset(got, 0, sizeof(got));
    size_t tl = strlen(token);
    memcpy(got, token, tl < ADMIN_CSRF_HEX ? tl : ADMIN_CSRF_HEX);
    int same = CRYPTO_memcmp(got, want, ADMIN_CSRF_HEX) == 0 && tl == ADMIN_CSRF_HEX;
    OPENSSL_cleanse(want, sizeof(want));
    return same;
}
