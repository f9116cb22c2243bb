/* text.c - make text from stored or remote data safe for a terminal, a log line or a CSV cell. */
#include "common/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t text_utf8_seq(const unsigned char *p, size_t n, unsigned *cp)
{
    unsigned c = p[0];
    size_t len;
    unsigned min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if (c >= 0xc2 && c <= 0xdf) {
        len = 2, min = 0x80, c &= 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3, min = 0x800, c &= 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4, min = 0x10000, c &= 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (p[i] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return len;
}

/* Code points a terminal would act on or that reorder or break the line: line and paragraph
 * separators and the bidirectional controls ("Trojan Source"). C1 is handled by the caller. */
static int invisible_control(unsigned cp)
{
    return cp == 0x200e || cp == 0x200f || (cp >= 0x2028 && cp <= 0x202e) ||
           (cp >= 0x2066 && cp <= 0x2069);
}

size_t text_escape(char *out, size_t outsz, const char *in, unsigned flags)
{
    const unsigned char *p = (const unsigned char *)(in ? in : "");
    size_t n = strlen((const char *)p), i = 0, o = 0;
    if (outsz == 0)
        return 0;
    while (i < n) {
        char tmp[16];
        const char *rep = tmp;
        size_t need, take;
        unsigned cp = 0;
        size_t len = text_utf8_seq(p + i, n - i, &cp);
        if (len == 0) { /* not UTF-8: the byte as is, escaped */
            snprintf(tmp, sizeof(tmp), "\\x%02x", p[i]);
            take = 1;
        } else if (cp == '\n' || cp == '\r' || cp == '\t') {
            rep = cp == '\n' ? "\\n" : cp == '\r' ? "\\r" : "\\t";
            take = 1;
        } else if (cp < 0x20 || cp == 0x7f) {
            snprintf(tmp, sizeof(tmp), "\\x%02x", cp);
            take = 1;
        } else if ((cp >= 0x80 && cp <= 0x9f) || invisible_control(cp)) {
            snprintf(tmp, sizeof(tmp), "\\u%04x", cp);
            take = len;
        } else if ((flags & TEXT_ESC_QUOTES) && (cp == '"' || cp == '\\')) {
            rep = cp == '"' ? "\\\"" : "\\\\";
            take = 1;
        } else {
            rep = (const char *)p + i;
            need = len;
            if (o + need >= outsz)
                break;
            memcpy(out + o, rep, need);
            o += need;
            i += len;
            continue;
        }
        need = strlen(rep);
        if (o + need >= outsz)
            break;
        memcpy(out + o, rep, need);
        o += need;
        i += take;
    }
    out[o] = '\0';
    return i;
}

char *text_escape_dup(const char *in)
{
    size_t n = in ? strlen(in) : 0;
    /* Worst case: every byte becomes "\xHH" (a 2-byte C1 character becomes 6, a 3-byte bidi
     * control 6: both less). */
    char *out = xmalloc(4 * n + 1);
    text_escape(out, 4 * n + 1, in, 0);
    return out;
}

const char *text_safe(struct text_safe *ts, const char *s)
{
    if (s == NULL)
        return NULL;
    if (ts->n == ts->cap) {
        ts->cap = ts->cap ? ts->cap * 2 : 8;
        ts->v = xrealloc(ts->v, ts->cap * sizeof(*ts->v));
    }
    ts->v[ts->n] = text_escape_dup(s);
    return ts->v[ts->n++];
}

void text_safe_free(struct text_safe *ts)
{
    strv_free(ts->v, ts->n);
    ts->v = NULL;
    ts->n = ts->cap = 0;
}

int text_csv_needs_guard(const char *s)
{
    /* Spreadsheets run a cell starting with these as a formula (OWASP "CSV injection"); a
     * leading tab or CR is dropped by some, exposing what follows. */
    return s != NULL && s[0] != '\0' && strchr("=+-@\t\r", s[0]) != NULL;
}
