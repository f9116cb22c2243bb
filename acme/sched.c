/* sched.c - the arithmetic of when to order: certificates due for renewal, the backoff after
 * failures, and the CA's Retry-After. */
#include "acme/acme_int.h"

#include <ctype.h>
#include <string.h>
#include <time.h>

#define BACKOFF_FIRST 60
#define BACKOFF_MAX 86400

int acme_needs_cert(int64_t now, int64_t not_after, int covers, int64_t renew_before)
{
    if (not_after == 0 || !covers)
        return 1;
    return now >= not_after - renew_before;
}

int64_t acme_backoff(int failures, uint32_t rnd, long retry_after)
{
    int64_t base = BACKOFF_FIRST;
    for (int i = 1; i < failures && base < BACKOFF_MAX; i++)
        base *= 2;
    if (base > BACKOFF_MAX)
        base = BACKOFF_MAX;
    /* jitter in [-10 %, +10 %] so that many failed orders do not all come back at once */
    int64_t jitter = base * ((int64_t)(rnd % 2001) - 1000) / 10000;
    int64_t wait = base + jitter;
    return wait < retry_after ? (int64_t)retry_after : wait;
}

/* The HTTP-date forms a recipient must accept (RFC 9110 section 5.6.7): IMF-fixdate, the
 * obsolete RFC 850 form and asctime's. */
static int parse_http_date(const char *s, time_t *out)
{
    static const char *const forms[] = {"%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT",
                                        "%a %b %e %H:%M:%S %Y"};
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        struct tm tm;
        memset(&tm, 0, sizeof(tm));
        const char *end = strptime(s, forms[i], &tm);
        if (end == NULL)
            continue;
        while (*end == ' ' || *end == '\t')
            end++;
        if (*end != '\0')
            continue;
        *out = timegm(&tm);
        return 0;
    }
    return -1;
}

long acme_retry_after(const char *value, int64_t now)
{
    if (value == NULL)
        return 0;
    while (*value == ' ' || *value == '\t')
        value++;
    if (isdigit((unsigned char)*value)) {
        /* delta-seconds = 1*DIGIT; anything longer than the cap is read as the cap */
        long v = 0;
        const char *p = value;
        for (; isdigit((unsigned char)*p); p++)
            if (v <= ACME__RETRY_AFTER_MAX)
                v = v * 10 + (*p - '0');
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p != '\0')
            return 0;
        return v > ACME__RETRY_AFTER_MAX ? ACME__RETRY_AFTER_MAX : v;
    }
    time_t t;
    if (*value == '\0' || parse_http_date(value, &t) != 0 || (int64_t)t <= now)
        return 0;
    int64_t d = (int64_t)t - now;
    return d > ACME__RETRY_AFTER_MAX ? ACME__RETRY_AFTER_MAX : (long)d;
}
