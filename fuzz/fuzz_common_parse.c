/* fuzz_common_parse.c - libFuzzer target over the strict value parsers of common/: sizes,
 * durations, dates, RFC 3339 date-times, report windows, domain names, CIDR ranges and
 * host:port, each checked by a round trip through its formatter or an invariant. */
#include "common/common.h"
#include "common/config.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A fixed "now" for the relative dates: 2026-12-01T00:00:00Z. */
#define FUZZ_NOW ((time_t)1796083200)
/* 9999-12-31T23:59:59Z, the last instant the date parsers accept. */
#define MAX_TIME ((time_t)253402300799)

static int size_u64(const char *s, uint64_t *v)
{
    return parse_size(s, v);
}

static int duration_u64(const char *s, uint64_t *v)
{
    int64_t d;
    if (parse_duration(s, &d) != 0)
        return -1;
    if (d < 0)
        abort();
    *v = (uint64_t)d;
    return 0;
}

/* A size or a duration reads back the same from its plain number of bytes or seconds. */
static void check_number(const char *s, int (*parse)(const char *, uint64_t *))
{
    uint64_t v, v2;
    char buf[32];
    if (parse(s, &v) != 0)
        return;
    snprintf(buf, sizeof(buf), "%" PRIu64, v);
    if (parse(buf, &v2) != 0 || v2 != v)
        abort();
}

/* A window is ordered; a name that normalises is valid and stays the same. */
static void check_window_and_domain(const char *s)
{
    int64_t since, until;
    char err[200], out[256], again[256];
    for (int end = 0; end < 2; end++) {
        if (parse_window(end ? NULL : s, end ? s : NULL, FUZZ_NOW, &since, &until, err,
                         sizeof(err)) == 0 &&
            since > until)
            abort();
    }
    (void)domain_problem(s, strlen(s));
    if (domain_normalise(s, out, sizeof(out)) != 0)
        return;
    if (!domain_valid(out) || domain_normalise(out, again, sizeof(again)) != 0 ||
        strcmp(out, again) != 0)
        abort();
}

static void check_dates(const char *s)
{
    time_t t, t2;
    char buf[21];
    if (parse_rfc3339(s, &t) == 0 && t >= 0 && t <= MAX_TIME) {
        format_rfc3339(t, buf);
        if (parse_rfc3339(buf, &t2) != 0 || t2 != t)
            abort();
    }
    if (parse_date_or_ago(s, FUZZ_NOW, &t) == 0) {
        if (t < 0 || t > MAX_TIME)
            abort();
        char day[11];
        format_date(t, day);
        /* "YYYY-MM-DD" is midnight of that day ("000000002h", also 10 characters, is a
         * relative time). */
        if (strlen(s) == 10 && s[4] == '-' &&
            (parse_date_or_ago(day, FUZZ_NOW, &t2) != 0 || t2 != t))
            abort();
    }
}

static void check_cidr(const char *s)
{
    struct cfg_cidr c, c2;
    if (config_parse_cidr(s, &c) != 0)
        return;
    if (!((c.family == AF_INET && c.prefix >= 0 && c.prefix <= 32) ||
          (c.family == AF_INET6 && c.prefix >= 0 && c.prefix <= 128)))
        abort();
    /* A range holds its own address. */
    if (config_cidr_match(&c, 1, c.family, c.addr) != 1)
        abort();
    char addr[INET6_ADDRSTRLEN], buf[INET6_ADDRSTRLEN + 8];
    if (inet_ntop(c.family, c.addr, addr, sizeof(addr)) == NULL)
        abort();
    snprintf(buf, sizeof(buf), "%s/%d", addr, c.prefix);
    if (config_parse_cidr(buf, &c2) != 0 || c2.family != c.family || c2.prefix != c.prefix ||
        memcmp(c2.addr, c.addr, sizeof(c.addr)) != 0)
        abort();
}

static void check_hostport(const char *s)
{
    char host[64], port[8];
    if (config_split_hostport(s, host, sizeof(host), port, sizeof(port)) != 0)
        return;
    if (host[0] == '\0' || strlen(port) == 0 || strlen(port) > 5 || atoi(port) < 1 ||
        atoi(port) > 65535)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 256)
        return 0; /* config values and command-line arguments are short */
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    check_number(s, size_u64);
    check_number(s, duration_u64);
    check_window_and_domain(s);
    check_dates(s);
    check_cidr(s);
    check_hostport(s);
    free(s);
    return 0;
}
