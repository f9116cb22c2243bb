/* parse.c - strict parsers for sizes, durations and dates used by config and CLI. */
#include "common/common.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parse a run of decimal digits (at least one) without overflow. */
static int parse_digits(const char **sp, uint64_t max, uint64_t *out)
{
    const char *s = *sp;
    uint64_t v = 0;
    if (!isdigit((unsigned char)*s))
        return -1;
    for (; isdigit((unsigned char)*s); s++) {
        uint64_t d = (uint64_t)(*s - '0');
        if (v > (max - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *sp = s;
    *out = v;
    return 0;
}

/* Digits, then an optional unit letter of `units` (its multiplier in muls[]): the product, at
 * most max, in *out and *sp past the unit. 1 when a unit was read, 0 when not, -1 on bad input
 * or overflow. */
static int parse_scaled(const char **sp, uint64_t max, const char *units, const uint64_t *muls,
                        uint64_t *out)
{
    uint64_t v, mul = 1;
    const char *u = NULL;
    if (*sp == NULL || parse_digits(sp, max, &v) != 0)
        return -1;
    if (**sp != '\0' && (u = strchr(units, **sp)) != NULL) {
        mul = muls[u - units];
        (*sp)++;
    }
    if (v > max / mul)
        return -1;
    *out = v * mul;
    return u != NULL;
}

int parse_size(const char *s, uint64_t *out)
{
    static const uint64_t muls[] = {1u << 10, 1u << 10, 1u << 20, 1u << 20, 1u << 30, 1u << 30};
    uint64_t v;
    int unit = parse_scaled(&s, UINT64_MAX, "kKmMgG", muls, &v);
    if (unit == 1 && (*s == 'B' || *s == 'b'))
        s++; /* "4KB" */
    if (unit < 0 || *s != '\0')
        return -1;
    *out = v;
    return 0;
}

int parse_duration(const char *s, int64_t *seconds)
{
    static const uint64_t muls[] = {1, 60, 3600, 86400, 7 * 86400};
    uint64_t v;
    if (parse_scaled(&s, INT64_MAX, "smhdw", muls, &v) < 0 || *s != '\0')
        return -1;
    *seconds = (int64_t)v;
    return 0;
}

static int days_in_month(int y, int m)
{
    static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return d[m - 1];
}

/* Fixed-width digits. */
static int fixed(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

static int parse_ymd(const char *s, int *y, int *mo, int *d)
{
    if (fixed(s, 4, y) || s[4] != '-' || fixed(s + 5, 2, mo) || s[7] != '-' || fixed(s + 8, 2, d))
        return -1;
    if (*y < 1970 || *y > 9999 || *mo < 1 || *mo > 12 || *d < 1 || *d > days_in_month(*y, *mo))
        return -1;
    return 0;
}

int parse_date_or_ago(const char *s, time_t now, time_t *out)
{
    int y, mo, d;
    if (s == NULL)
        return -1;
    if (strlen(s) == 10 && parse_ymd(s, &y, &mo, &d) == 0) {
        struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d};
        *out = timegm(&tm);
        return 0;
    }
    int64_t secs;
    if (s[0] != '\0' && s[strlen(s) - 1] != 's' && parse_duration(s, &secs) == 0 &&
        isalpha((unsigned char)s[strlen(s) - 1]) && secs <= (int64_t)now) {
        *out = now - (time_t)secs;
        return 0;
    }
    return -1;
}

/* One end of a report window: YYYY-MM-DD, a relative 30d/12h, or an RFC 3339 time. */
static int parse_when(const char *s, time_t now, int64_t *out)
{
    time_t t;
    if (parse_date_or_ago(s, now, &t) != 0 && parse_rfc3339(s, &t) != 0)
        return -1;
    *out = (int64_t)t;
    return 0;
}

int parse_window(const char *since, const char *until, time_t now, int64_t *since_out,
                 int64_t *until_out, char *err, size_t errlen)
{
    const char *names[2] = {"since", "until"}, *args[2] = {since, until};
    int64_t v[2] = {(int64_t)now - 30 * 86400, (int64_t)now};
    for (int i = 0; i < 2; i++) {
        if (args[i] != NULL && parse_when(args[i], now, &v[i]) != 0) {
            snprintf(err, errlen,
                     "%s '%.40s': expected YYYY-MM-DD, an RFC 3339 time or a relative 30d/12h",
                     names[i], args[i]);
            return -1;
        }
    }
    if (v[0] > v[1]) {
        snprintf(err, errlen, "since is after until");
        return -1;
    }
    *since_out = v[0];
    *until_out = v[1];
    return 0;
}

int parse_rfc3339(const char *s, time_t *out)
{
    int y, mo, d, h, mi, sec;
    if (s == NULL || strlen(s) < 19 || parse_ymd(s, &y, &mo, &d) != 0)
        return -1;
    if ((s[10] != 'T' && s[10] != 't' && s[10] != ' ') || fixed(s + 11, 2, &h) || s[13] != ':' ||
        fixed(s + 14, 2, &mi) || s[16] != ':' || fixed(s + 17, 2, &sec))
        return -1;
    if (h > 23 || mi > 59 || sec > 60)
        return -1;
    const char *p = s + 19;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return -1;
        while (isdigit((unsigned char)*p))
            p++;
    }
    long offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (fixed(p + 1, 2, &oh) || p[3] != ':' || fixed(p + 4, 2, &om) || oh > 23 || om > 59)
            return -1;
        offset = (oh * 3600L + om * 60L) * (*p == '-' ? -1 : 1);
        p += 6;
    }
    /* A missing zone is read as UTC: Microsoft sends such datetimes. */
    if (*p != '\0')
        return -1;
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = sec > 59 ? 59 : sec};
    *out = timegm(&tm) - offset;
    return 0;
}

void format_rfc3339(time_t t, char buf[21])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

char *format_hex(const void *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *b = in;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
    return out;
}

int hex_digit(int c, int lower_only)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (!lower_only && c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void format_date(time_t t, char buf[11])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, 11, "%Y-%m-%d", &tm);
}
