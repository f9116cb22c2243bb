/* prescan.c - count the values of a JSON text (RFC 8259) in one pass, without allocating, so
 * that a body of millions of tiny values is refused before jansson builds a tree of it. */
#include "reports/reports.h"

#include <string.h>

/* One bit per open container (1 = object, 0 = array): the scanner's only memory. */
struct scan {
    const unsigned char *p, *end;
    size_t depth, max_depth, values, max_values;
    unsigned char stack[REPORT_PRESCAN_MAX_DEPTH / 8];
};

static void skip_ws(struct scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int is_hex(unsigned char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* A string from its opening quote (RFC 8259 §7): no raw control characters, only the escapes
 * the RFC lists. UTF-8 validity, surrogate pairs and \u0000 are left to the parser: they do
 * not change how many values there are. 0, or -1 with s->p at the fault. */
static int scan_string(struct scan *s)
{
    s->p++;
    while (s->p < s->end) {
        unsigned char c = *s->p;
        if (c == '"') {
            s->p++;
            return 0;
        }
        if (c < 0x20)
            return -1;
        if (c != '\\') {
            s->p++;
            continue;
        }
        if (s->end - s->p < 2)
            return -1;
        c = s->p[1];
        if (c == 'u') {
            if (s->end - s->p < 6 || !is_hex(s->p[2]) || !is_hex(s->p[3]) || !is_hex(s->p[4]) ||
                !is_hex(s->p[5]))
                return -1;
            s->p += 6;
        } else if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' ||
                   c == 'r' || c == 't') {
            s->p += 2;
        } else {
            return -1;
        }
    }
    return -1;
}

static int scan_digits(struct scan *s)
{
    if (s->p >= s->end || !is_digit(*s->p))
        return -1;
    while (s->p < s->end && is_digit(*s->p))
        s->p++;
    return 0;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? (RFC 8259 §6). */
static int scan_number(struct scan *s)
{
    if (*s->p == '-')
        s->p++;
    if (s->p < s->end && *s->p == '0')
        s->p++;
    else if (scan_digits(s) != 0)
        return -1;
    if (s->p < s->end && *s->p == '.') {
        s->p++;
        if (scan_digits(s) != 0)
            return -1;
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        s->p++;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
            s->p++;
        if (scan_digits(s) != 0)
            return -1;
    }
    return 0;
}

static int scan_literal(struct scan *s, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
        return -1;
    s->p += n;
    return 0;
}

static int push(struct scan *s, int object)
{
    if (s->depth >= REPORT_PRESCAN_MAX_DEPTH)
        return -1;
    unsigned char bit = (unsigned char)(1u << (s->depth % 8));
    if (object)
        s->stack[s->depth / 8] |= bit;
    else
        s->stack[s->depth / 8] &= (unsigned char)~bit;
    s->depth++;
    if (s->depth > s->max_depth)
        s->max_depth = s->depth;
    return 0;
}

static int top_is_object(const struct scan *s)
{
    size_t i = s->depth - 1;
    return (s->stack[i / 8] >> (i % 8)) & 1;
}

/* An object member name and its colon; s->p is past the colon. */
static int scan_key(struct scan *s)
{
    skip_ws(s);
    if (s->p >= s->end || *s->p != '"' || scan_string(s) != 0)
        return -1;
    skip_ws(s);
    if (s->p >= s->end || *s->p != ':')
        return -1;
    s->p++;
    return 0;
}

static enum report_prescan_result scan(struct scan *s)
{
    for (;;) {
        /* A value is expected here. */
        skip_ws(s);
        if (s->p >= s->end)
            return REPORT_PRESCAN_INVALID;
        if (++s->values > s->max_values)
            return REPORT_PRESCAN_TOO_MANY;
        unsigned char c = *s->p;
        int rc = 0;
        if (c == '{' || c == '[') {
            if (push(s, c == '{') != 0)
                return REPORT_PRESCAN_INVALID;
            s->p++;
            skip_ws(s);
            if (s->p < s->end && *s->p == (c == '{' ? '}' : ']')) {
                s->p++;
                s->depth--; /* empty: go on after it */
            } else {
                if (c == '{' && scan_key(s) != 0)
                    return REPORT_PRESCAN_INVALID;
                continue;
            }
        } else if (c == '"') {
            rc = scan_string(s);
        } else if (c == '-' || is_digit(c)) {
            rc = scan_number(s);
        } else if (c == 't') {
            rc = scan_literal(s, "true");
        } else if (c == 'f') {
            rc = scan_literal(s, "false");
        } else if (c == 'n') {
            rc = scan_literal(s, "null");
        } else {
            rc = -1;
        }
        if (rc != 0)
            return REPORT_PRESCAN_INVALID;

        /* After a value: a comma, the end of its container(s), or the end of the text. */
        for (;;) {
            skip_ws(s);
            if (s->depth == 0)
                return s->p == s->end ? REPORT_PRESCAN_OK : REPORT_PRESCAN_INVALID;
            if (s->p >= s->end)
                return REPORT_PRESCAN_INVALID;
            c = *s->p;
            int obj = top_is_object(s);
            if (c == ',') {
                s->p++;
                if (obj && scan_key(s) != 0)
                    return REPORT_PRESCAN_INVALID;
                break; /* the next value */
            }
            if (c != (obj ? '}' : ']'))
                return REPORT_PRESCAN_INVALID;
            s->p++;
            s->depth--;
        }
    }
}

enum report_prescan_result report_prescan(const char *json, size_t len, size_t max_values,
                                          struct report_prescan *out)
{
    struct scan s;
    s.p = (const unsigned char *)json;
    s.end = s.p + len;
    s.depth = s.max_depth = s.values = 0;
    s.max_values = max_values;
    /* A UTF-8 byte order mark is ignored, as report_parse does (RFC 8259 §8.1). */
    if (len >= 3 && memcmp(json, "\xEF\xBB\xBF", 3) == 0)
        s.p += 3;
    enum report_prescan_result r = len == 0 ? REPORT_PRESCAN_INVALID : scan(&s);
    if (out != NULL) {
        out->values = s.values > max_values ? max_values + 1 : s.values;
        out->max_depth = s.max_depth;
        out->offset = (size_t)((const char *)s.p - json);
    }
    return r;
}
