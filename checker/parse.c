/* parse.c - the checker's parsers of network input, pure and fuzzable: SMTP replies
 * (RFC 5321 §4.2), MX and TXT rdata, and domain names. */
#include "checker/checker_int.h"
#include "common/common.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int check__smtp_reply_feed(struct smtp_reply *r, const char *buf, size_t len, size_t *used,
                           int buffer_full)
{
    size_t o = 0;
    *used = 0;
    while (o < len) {
        const char *line = buf + o;
        const char *nl = memchr(line, '\n', len - o);
        if (nl == NULL)
            return (buffer_full || len - o > CHECK_SMTP_LINE_MAX) ? -1 : 0;
        size_t l = (size_t)(nl - line);
        if (l > CHECK_SMTP_LINE_MAX)
            return -1;
        o += l + 1;
        *used = o;
        if (l > 0 && line[l - 1] == '\r')
            l--;
        if (l < 3 || !isdigit((unsigned char)line[0]) || !isdigit((unsigned char)line[1]) ||
            !isdigit((unsigned char)line[2]) || line[0] < '1' || line[0] > '5')
            return -1;
        int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
        if (r->n_lines > 0 && code != r->code)
            return -1;
        r->code = code;
        if (++r->n_lines > CHECK_SMTP_MAX_LINES)
            return -1;
        char sep = l > 3 ? line[3] : ' ';
        if (sep != ' ' && sep != '-')
            return -1;
        const char *text = l > 4 ? line + 4 : "";
        size_t tl = l > 4 ? l - 4 : 0;
        if (r->n_lines == 1) {
            size_t w = 0;
            for (size_t i = 0; i < tl && w + 1 < sizeof(r->text); i++) {
                unsigned char c = (unsigned char)text[i];
                r->text[w++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
            }
            r->text[w] = '\0';
        } else if (tl >= 8 && strncasecmp(text, "STARTTLS", 8) == 0 &&
                   (tl == 8 || text[8] == ' ')) {
            /* RFC 3207 §4: the EHLO keyword; the first line is the greeting, not a keyword. */
            r->starttls = 1;
        }
        if (sep == ' ')
            return 1;
    }
    return 0;
}

int check__mx_rdata_parse(const unsigned char *rd, size_t len, int *pref, char *host, size_t hostsz,
                          int *valid)
{
    size_t o = 2, w = 0;
    if (len < 3 || hostsz < 8)
        return -1;
    *pref = (rd[0] << 8) | rd[1];
    *valid = 1;
    host[0] = '\0';
    for (;;) {
        if (o >= len)
            return -1;
        size_t l = rd[o++];
        if (l == 0)
            break;
        if (l > 63 || o + l > len)
            return -1; /* compression pointers do not occur in unbound's rdata */
        if (w > 0) {
            if (w + 1 >= hostsz)
                return -1;
            host[w++] = '.';
        }
        for (size_t i = 0; i < l; i++) {
            unsigned char c = rd[o + i];
            if (isalnum(c) || c == '-' || c == '_') {
                if (w + 1 >= hostsz)
                    return -1;
                host[w++] = (char)tolower(c);
            } else {
                if (w + 5 >= hostsz)
                    return -1;
                w += (size_t)snprintf(host + w, hostsz - w, "\\%03u", c);
                *valid = 0;
            }
        }
        o += l;
    }
    host[w] = '\0';
    if (w == 0)
        *valid = 0; /* "." : a null MX (RFC 7505) */
    else if (!domain_valid(host))
        *valid = 0;
    return 0;
}

long check__txt_rdata_join(const unsigned char *rd, size_t len, char *out, size_t cap)
{
    size_t o = 0, w = 0;
    long total = 0;
    if (cap == 0)
        return -1;
    while (o < len) {
        size_t l = rd[o++];
        if (o + l > len) {
            out[w] = '\0';
            return -1;
        }
        for (size_t i = 0; i < l; i++) {
            unsigned char c = rd[o + i];
            total++;
            if (c >= 0x20 && c < 0x7f) {
                if (w + 1 < cap)
                    out[w++] = (char)c;
            } else if (w + 5 < cap) {
                w += (size_t)snprintf(out + w, cap - w, "\\%03u", c);
            }
        }
        o += l;
    }
    out[w] = '\0';
    return total;
}
