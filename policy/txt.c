/* txt.c - _mta-sts (RFC 8461 §3.1) and _smtp._tls (RFC 8460 §3) TXT records; policy ids. */
#include "policy/policy_int.h"
#include "common/common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/*
 * Both records share one shape:
 *
 *   record      = version 1*(field-delim field) [field-delim]
 *   field-delim = *WSP ";" *WSP
 *   extension   = ext-name "=" ext-value
 *   ext-name    = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")
 *   ext-value   = 1*(%x21-3A / %x3C / %x3E-7E)   ; no "=", ";", SP or controls
 *
 * RFC 8461 §3.1: version %s"v=STSv1", sts-id = %s"id=" 1*32(ALPHA / DIGIT), required.
 * RFC 8460 §3:   version %s"v=TLSRPTv1", tlsrpt-rua = %s"rua=" uri *(*WSP "," *WSP uri),
 *                required; "," "!" and ";" must be %-encoded inside a URI; schemes mailto:
 *                and https:.
 *
 * The grammar is applied as written: whitespace at the end of a record is only allowed after
 * a ';' (field-delim), a field may not be empty (";;"), names and the version are
 * case-sensitive. We also refuse a record longer than POLICY__TXT_MAX.
 */
#define POLICY__TXT_MAX 4096
#define POLICY__RUA_MAX 32

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err != NULL && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Quote at most 40 bytes of s[0..n) for a message. */
static const char *quote(char out[200], const char *s, size_t n)
{
    return policy__quote(out, s, n, 40);
}

static int starts_with_version(const char *txt, const char *v)
{
    size_t n = strlen(v);
    if (strncmp(txt, v, n) != 0)
        return 0;
    char c = txt[n];
    return c == '\0' || c == ';' || policy__is_wsp((unsigned char)c);
}

int policy_txt_is_sts(const char *txt)
{
    return txt != NULL && starts_with_version(txt, "v=STSv1");
}

int policy_txt_is_rpt(const char *txt)
{
    return txt != NULL && starts_with_version(txt, "v=TLSRPTv1");
}

static int is_ext_value_char(unsigned char c)
{
    return c >= 0x21 && c <= 0x7e && c != '=' && c != ';';
}

/* A field's name: (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / "."); returns its length
 * (which may exceed 32, the caller checks) or 0 when it does not start like one. */
static size_t name_len(const char *p)
{
    if (!policy__is_alnum((unsigned char)p[0]))
        return 0;
    size_t n = 1;
    while (policy__is_alnum((unsigned char)p[n]) || p[n] == '_' || p[n] == '-' || p[n] == '.')
        n++;
    return n;
}

/*
 * Walk the fields after the version. For each one calls field(ctx, name, nlen, value) with
 * `value` pointing after "="; the callback returns the length of the value it consumed or
 * -1 (having filled err). Separators and the end are checked here.
 */
typedef long (*field_fn)(void *ctx, const char *name, size_t nlen, const char *value, char *err,
                         size_t errlen);

static int walk_fields(const char *p, const char *version, field_fn field, void *ctx, char *err,
                       size_t errlen)
{
    char q[200];
    char last[40]; /* the previous field's name, for messages */
    snprintf(last, sizeof(last), "%s", version);
    for (;;) {
        const char *d = p;
        while (policy__is_wsp((unsigned char)*p))
            p++;
        if (*p == '\0') {
            if (p != d)
                return fail(err, errlen,
                            "whitespace at the end after '%s' (only allowed after a ';')", last);
            return 0;
        }
        if (*p != ';')
            return fail(err, errlen, "expected ';' after '%s', found '%s'", last,
                        quote(q, p, strlen(p)));
        p++;
        while (policy__is_wsp((unsigned char)*p))
            p++;
        if (*p == '\0')
            return 0; /* a trailing field-delim is allowed */
        size_t nl = name_len(p);
        if (nl == 0 || p[nl] != '=') {
            if (*p == ';')
                return fail(err, errlen, "empty field (two ';' in a row)");
            return fail(err, errlen, "'%s' is not a 'name=value' field",
                        quote(q, p, strcspn(p, "; \t")));
        }
        if (nl > 32)
            return fail(err, errlen, "field name '%s' is longer than 32 characters",
                        quote(q, p, nl));
        long used = field(ctx, p, nl, p + nl + 1, err, errlen);
        if (used < 0)
            return -1;
        snprintf(last, sizeof(last), "%.*s", (int)nl, p);
        p += nl + 1 + (size_t)used;
        if (*p != '\0' && *p != ';' && !policy__is_wsp((unsigned char)*p))
            return fail(err, errlen, "invalid character '%s' in the value of '%s'", quote(q, p, 1),
                        last);
    }
}

/* An extension's value: 1*(%x21-3A / %x3C / %x3E-7E). */
static long ext_value(const char *name, size_t nlen, const char *v, char *err, size_t errlen)
{
    char q[200];
    size_t n = 0;
    while (is_ext_value_char((unsigned char)v[n]))
        n++;
    if (n == 0)
        return fail(err, errlen, "field '%s' has an empty value", quote(q, name, nlen));
    return (long)n;
}

struct sts_ctx {
    struct sts_txt *out;
    int have_id;
    int id_error;
};

static long sts_field(void *ctx, const char *name, size_t nlen, const char *v, char *err,
                      size_t errlen)
{
    struct sts_ctx *c = ctx;
    char q[200];
    if (!(nlen == 2 && memcmp(name, "id", 2) == 0)) {
        c->out->n_ext++;
        return ext_value(name, nlen, v, err, errlen);
    }
    c->id_error = 1;
    if (c->have_id)
        return fail(err, errlen, "id appears twice");
    size_t n = 0;
    while (policy__is_alnum((unsigned char)v[n]))
        n++;
    size_t rest = strcspn(v + n, "; \t");
    if (n == 0 && rest == 0)
        return fail(err, errlen, "id is empty; write 1-32 letters and digits");
    if (rest > 0)
        return fail(err, errlen, "id '%s' may hold only letters and digits", quote(q, v, n + rest));
    if (n > POLICY_ID_MAX)
        return fail(err, errlen, "id '%s' is longer than 32 characters", quote(q, v, n));
    memcpy(c->out->id, v, n);
    c->out->id[n] = '\0';
    c->have_id = 1;
    c->id_error = 0;
    return (long)n;
}

/* What every record must pass before its fields are read: its length, and `version` first
 * (is(txt) says so; the tag is case-sensitive). 0, or -1 with err. */
static int check_start(const char *txt, const char *version, int (*is)(const char *), char *err,
                       size_t errlen)
{
    if (strnlen(txt, POLICY__TXT_MAX + 1) > POLICY__TXT_MAX)
        return fail(err, errlen, "the record is longer than %d characters", POLICY__TXT_MAX);
    if (is(txt))
        return 0;
    size_t n = strlen(version);
    if (strncmp(txt, version, n) != 0 && strncasecmp(txt, version, n) == 0)
        return fail(err, errlen, "the record must start with '%s' (case-sensitive)", version);
    return fail(err, errlen, "the record does not start with '%s'", version);
}

/* RFC 8461 §3.1. */
int policy_sts_txt_parse(const char *txt, struct sts_txt *out, int *id_error, char *err,
                         size_t errlen)
{
    int dummy;
    if (id_error == NULL)
        id_error = &dummy;
    *id_error = 0;
    memset(out, 0, sizeof(*out));
    if (check_start(txt, "v=STSv1", policy_txt_is_sts, err, errlen) != 0)
        return -1;
    struct sts_ctx c = {.out = out};
    if (walk_fields(txt + 7, "v=STSv1", sts_field, &c, err, errlen) != 0) {
        *id_error = c.id_error;
        return -1;
    }
    if (!c.have_id) {
        *id_error = 1;
        return fail(err, errlen,
                    "the record has no 'id' field (write v=STSv1; id=<1-32 "
                    "letters and digits>)");
    }
    return 0;
}

const char *policy_sts_txt_format(const char *id, char *buf, size_t bufsz)
{
    snprintf(buf, bufsz, "v=STSv1; id=%s", id);
    return buf;
}

struct rpt_ctx {
    struct rpt_txt *out;
    int have_rua;
};

static int is_hex(int c)
{
    return policy__is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* One rua URI of n bytes (RFC 8460 §3: mailto: or https:, ",!;" %-encoded). */
static int check_uri(const char *u, size_t n, char *err, size_t errlen)
{
    char q[200];
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)u[i];
        if (c == '!')
            return fail(err, errlen, "unescaped '!' in rua URI '%s' (write %%21)", quote(q, u, n));
        if (c < 0x21 || c > 0x7e)
            return fail(err, errlen, "invalid character in rua URI '%s'", quote(q, u, n));
        if (c == '%' &&
            !(i + 2 < n && is_hex((unsigned char)u[i + 1]) && is_hex((unsigned char)u[i + 2])))
            return fail(err, errlen, "'%%' not followed by two hex digits in rua URI '%s'",
                        quote(q, u, n));
    }
    if (n > 7 && strncasecmp(u, "mailto:", 7) == 0) {
        const char *at = memchr(u + 7, '@', n - 7);
        if (at == NULL || at == u + 7 || at + 1 == u + n)
            return fail(err, errlen, "rua URI '%s' is not mailto:local@domain", quote(q, u, n));
        return 0;
    }
    if (n > 8 && strncasecmp(u, "https://", 8) == 0) {
        size_t host = 0;
        while (8 + host < n && strchr("/?#:", u[8 + host]) == NULL)
            host++;
        if (host == 0)
            return fail(err, errlen, "rua URI '%s' has no host", quote(q, u, n));
        return 0;
    }
    if (n >= 6 && strncasecmp(u, "https:", 6) == 0)
        return fail(err, errlen, "rua URI '%s' is not https://host/path", quote(q, u, n));
    if (n >= 7 && strncasecmp(u, "mailto:", 7) == 0)
        return fail(err, errlen, "rua URI '%s' has no address", quote(q, u, n));
    return fail(err, errlen, "rua URI '%s' must use mailto: or https:", quote(q, u, n));
}

static long rpt_field(void *ctx, const char *name, size_t nlen, const char *v, char *err,
                      size_t errlen)
{
    struct rpt_ctx *c = ctx;
    if (!(nlen == 3 && memcmp(name, "rua", 3) == 0))
        return ext_value(name, nlen, v, err, errlen);
    if (c->have_rua)
        return fail(err, errlen, "rua appears twice; list every URI in one rua, separated by ','");
    c->have_rua = 1;
    const char *p = v;
    for (;;) {
        size_t n = strcspn(p, ",; \t");
        if (n == 0)
            return fail(err, errlen, "empty URI in rua");
        if (check_uri(p, n, err, errlen) != 0)
            return -1;
        if (c->out->n_rua >= POLICY__RUA_MAX)
            return fail(err, errlen, "more than %d URIs in rua", POLICY__RUA_MAX);
        c->out->rua = xrealloc(c->out->rua, (c->out->n_rua + 1) * sizeof(char *));
        c->out->rua[c->out->n_rua++] = xstrndup(p, n);
        const char *s = p + n;
        while (policy__is_wsp((unsigned char)*s))
            s++;
        if (*s != ',')
            return (long)(p + n - v); /* leave trailing WSP to the field walker */
        s++;
        while (policy__is_wsp((unsigned char)*s))
            s++;
        p = s;
    }
}

/* RFC 8460 §3. */
int policy_rpt_txt_parse(const char *txt, struct rpt_txt *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (check_start(txt, "v=TLSRPTv1", policy_txt_is_rpt, err, errlen) != 0)
        return -1;
    struct rpt_ctx c = {.out = out};
    if (walk_fields(txt + 10, "v=TLSRPTv1", rpt_field, &c, err, errlen) != 0) {
        policy_rpt_txt_clear(out);
        return -1;
    }
    if (!c.have_rua) {
        policy_rpt_txt_clear(out);
        return fail(err, errlen,
                    "the record has no 'rua' field (write rua=mailto:... or "
                    "rua=https://...)");
    }
    return 0;
}

void policy_rpt_txt_clear(struct rpt_txt *r)
{
    if (r == NULL)
        return;
    strv_free(r->rua, r->n_rua);
    r->rua = NULL;
    r->n_rua = 0;
}

char *policy_rpt_txt_format(const char *const *rua, size_t n)
{
    size_t cap = 32;
    for (size_t i = 0; i < n; i++)
        cap += strlen(rua[i]) + 1;
    char *out = xmalloc(cap);
    size_t o = (size_t)snprintf(out, cap, "v=TLSRPTv1; rua=");
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(out + o, cap - o, "%s%s", i ? "," : "", rua[i]);
    return out;
}

/* Bijective base 26 ("a".."z", "aa".."zz", ...) of k >= 1 into out. */
static void letters(unsigned k, char *out)
{
    char tmp[8];
    size_t n = 0;
    while (k > 0 && n < sizeof(tmp)) {
        k--;
        tmp[n++] = (char)('a' + k % 26);
        k /= 26;
    }
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = '\0';
}

void policy_new_id(int64_t now, int (*taken)(void *ctx, const char *id), void *ctx,
                   char out[POLICY_ID_MAX + 1])
{
    time_t t = (time_t)now;
    struct tm tm;
    gmtime_r(&t, &tm);
    char base[24];
    strftime(base, sizeof(base), "%Y%m%dT%H%M%S", &tm);
    snprintf(out, POLICY_ID_MAX + 1, "%s", base);
    /* A bounded search: 26 + 26^2 suffixes are more than one second can need. When the
     * callback keeps saying "taken" (a failing database), the last candidate is returned
     * and the caller's insert fails on its unique key. */
    for (unsigned k = 1; taken != NULL && taken(ctx, out) && k <= 26 + 26 * 26; k++) {
        char suffix[8];
        letters(k, suffix);
        snprintf(out, POLICY_ID_MAX + 1, "%s%s", base, suffix);
    }
}
