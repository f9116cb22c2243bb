/* imap_parse.c - the pure parts of the IMAP pull: the [mail] imap URL, the server's SEARCH,
 * LIST and CAPABILITY answers, and folder names and UID sets written into commands. */
#include "mail/imap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decode s[0..n) into out (NUL-terminated). 0, or -1 on a bad escape, a decoded
 * control byte or NUL, or when it does not fit. */
static int pct_decode(const char *s, size_t n, char *out, size_t outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) { /* at most n steps */
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= n)
                return -1;
            int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = (unsigned char)(hi * 16 + lo);
            i += 2;
        }
        if (c < 0x20 || c == 0x7f || o + 1 >= outlen)
            return -1;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return 0;
}

static int is_loopback(const char *host)
{
    if (strcasecmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0)
        return 1;
    if (strncmp(host, "127.", 4) != 0)
        return 0;
    return strspn(host, "0123456789.") == strlen(host);
}

/* A folder name of the configuration: printable ASCII without the characters that quoting or
 * LIST patterns give a meaning to. */
static int folder_ok(const char *f)
{
    if (*f == '\0')
        return 0;
    for (; *f; f++)
        if ((unsigned char)*f < 0x20 || (unsigned char)*f >= 0x7f || strchr("\"\\*%", *f))
            return 0;
    return 1;
}

#define URL_FAIL(...)                                                                              \
    do {                                                                                           \
        snprintf(err, errlen, __VA_ARGS__);                                                        \
        return -1;                                                                                 \
    } while (0)

int mail_imap_url_parse(const char *url, struct mail_imap_url *u, char *err, size_t errlen)
{
    memset(u, 0, sizeof(*u));
    const char *p;
    if (strncasecmp(url, "imaps://", 8) == 0) {
        u->tls = 1;
        u->port = 993;
        p = url + 8;
    } else if (strncasecmp(url, "imap://", 7) == 0) {
        u->port = 143;
        p = url + 7;
    } else {
        URL_FAIL("must start with imaps:// (or imap://)");
    }
    size_t alen = strcspn(p, "/?#");
    const char *at = NULL;
    for (size_t i = 0; i < alen; i++) /* the last '@' of the authority */
        if (p[i] == '@')
            at = p + i;
    if (at == NULL || at == p)
        URL_FAIL("must name the user: imaps://USER@HOST/FOLDER");
    size_t ulen = (size_t)(at - p);
    if (memchr(p, ':', ulen) != NULL)
        URL_FAIL("must not carry a password: put it in [mail] password_file");
    if (memchr(p, ';', ulen) != NULL)
        URL_FAIL("must not choose a login mechanism (;AUTH=)");
    if (pct_decode(p, ulen, u->user, sizeof(u->user)) != 0)
        URL_FAIL("has a user that does not decode (a bad %%XX escape or a control character)");
    const char *h = at + 1, *end = p + alen;
    const char *hend;
    if (h < end && *h == '[') {
        const char *rb = memchr(h, ']', (size_t)(end - h));
        if (rb == NULL)
            URL_FAIL("has an IPv6 address without its closing ]");
        for (const char *c = h + 1; c < rb; c++)
            if (hexval(*c) < 0 && *c != ':' && *c != '.')
                URL_FAIL("has a bad character in its IPv6 address");
        hend = rb + 1;
    } else {
        hend = h;
        while (hend < end && *hend != ':') {
            if (hexval(*hend) < 0 && !(*hend >= 'g' && *hend <= 'z') &&
                !(*hend >= 'G' && *hend <= 'Z') && *hend != '-' && *hend != '.')
                URL_FAIL("has a bad character in its host name");
            hend++;
        }
    }
    size_t hlen = (size_t)(hend - h);
    if (hlen == 0 || hlen >= sizeof(u->host) || (*h == '[' && hlen <= 2))
        URL_FAIL("must name the host: imaps://USER@HOST/FOLDER");
    memcpy(u->host, h, hlen);
    u->host[hlen] = '\0';
    if (hend < end) { /* ":port" */
        if (*hend != ':' || end - hend < 2 || end - hend > 6)
            URL_FAIL("has a bad port");
        long port = 0;
        for (const char *c = hend + 1; c < end; c++) {
            if (*c < '0' || *c > '9')
                URL_FAIL("has a bad port");
            port = port * 10 + (*c - '0');
        }
        if (port < 1 || port > 65535)
            URL_FAIL("has a port outside 1-65535");
        u->port = (int)port;
    }
    u->loopback = is_loopback(u->host);
    const char *path = *end == '/' ? end + 1 : end;
    size_t plen = strlen(path);
    if (strpbrk(path, ";?#") != NULL)
        URL_FAIL("must not have ;parameters, a query or a fragment after its folder");
    while (plen > 0 && path[plen - 1] == '/')
        plen--;
    if (plen == 0)
        snprintf(u->folder, sizeof(u->folder), "INBOX");
    else if (pct_decode(path, plen, u->folder, sizeof(u->folder)) != 0 || !folder_ok(u->folder))
        URL_FAIL("has a folder that is not printable ASCII without \", \\, * and %% (after "
                 "%%XX decoding)");
    return 0;
}

/* ---- answers ---- */

/* The next line of buf[*pos..len): its start and length without CR LF; *pos moves past it. */
static int next_line(const char *buf, size_t len, size_t *pos, const char **line, size_t *n)
{
    if (*pos >= len)
        return 0;
    const char *s = buf + *pos;
    const char *nl = memchr(s, '\n', len - *pos);
    size_t l = nl ? (size_t)(nl - s) : len - *pos;
    *pos += nl ? l + 1 : l;
    if (l > 0 && s[l - 1] == '\r')
        l--;
    *line = s;
    *n = l;
    return 1;
}

/* 1 when line[0..n) starts with word (case-insensitive) followed by a space or its end. */
static int starts_word(const char *line, size_t n, const char *word)
{
    size_t w = strlen(word);
    return n >= w && strncasecmp(line, word, w) == 0 && (n == w || line[w] == ' ');
}

static int cmp_uid(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

size_t mail_imap_parse_search(const char *buf, size_t len, uint32_t *uids, size_t max, int *capped)
{
    size_t n = 0, pos = 0, ln;
    const char *line;
    *capped = 0;
    /* one step per byte: the lines and the numbers in them cover buf once */
    while (next_line(buf, len, &pos, &line, &ln)) {
        if (!starts_word(line, ln, "* SEARCH"))
            continue;
        for (size_t i = 8; i < ln;) {
            if (line[i] < '0' || line[i] > '9') {
                i++;
                continue;
            }
            uint64_t v = 0;
            size_t digits = 0;
            while (i < ln && line[i] >= '0' && line[i] <= '9') {
                if (digits++ < 11)
                    v = v * 10 + (uint64_t)(line[i] - '0');
                i++;
            }
            if (v == 0 || v > UINT32_MAX || digits > 10)
                continue;
            if (n == max) {
                *capped = 1;
                continue;
            }
            uids[n++] = (uint32_t)v;
        }
    }
    if (n > 1)
        qsort(uids, n, sizeof(*uids), cmp_uid);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (k == 0 || uids[k - 1] != uids[i])
            uids[k++] = uids[i];
    return k;
}

int mail_imap_parse_delimiter(const char *buf, size_t len, char *delim)
{
    size_t pos = 0, ln;
    const char *line;
    while (next_line(buf, len, &pos, &line, &ln)) {
        if (!starts_word(line, ln, "* LIST"))
            continue;
        const char *rp = memchr(line, ')', ln); /* after the flags */
        if (rp == NULL)
            continue;
        size_t i = (size_t)(rp - line) + 1;
        while (i < ln && line[i] == ' ')
            i++;
        if (ln - i >= 3 && strncasecmp(line + i, "NIL", 3) == 0) {
            *delim = 0;
            return 1;
        }
        char d = 0;
        if (ln - i >= 3 && line[i] == '"' && line[i + 1] != '\\' && line[i + 2] == '"')
            d = line[i + 1];
        else if (ln - i >= 4 && line[i] == '"' && line[i + 1] == '\\' && line[i + 3] == '"')
            d = line[i + 2];        /* "\\" or "\"" */
        if (d > 0x20 && d < 0x7f) { /* a printable ASCII character, else not an answer */
            *delim = d;
            return 1;
        }
    }
    return 0;
}

/* The capabilities named in words[0..n) (space-separated). */
static int caps_of(const char *w, size_t n)
{
    int caps = 0;
    for (size_t i = 0; i < n;) {
        while (i < n && w[i] == ' ')
            i++;
        size_t s = i;
        while (i < n && w[i] != ' ' && w[i] != ']')
            i++;
        if (i - s == 4 && strncasecmp(w + s, "MOVE", 4) == 0)
            caps |= MAIL_IMAP_CAP_MOVE;
        if (i - s == 7 && strncasecmp(w + s, "UIDPLUS", 7) == 0)
            caps |= MAIL_IMAP_CAP_UIDPLUS;
        if (i < n && w[i] == ']')
            break;
    }
    return caps;
}

int mail_imap_parse_caps(const char *buf, size_t len)
{
    size_t pos = 0, ln;
    const char *line;
    int caps = 0;
    while (next_line(buf, len, &pos, &line, &ln)) {
        if (starts_word(line, ln, "* CAPABILITY")) {
            caps |= caps_of(line + 12, ln - 12);
            continue;
        }
        for (size_t i = 0; i + 12 <= ln; i++) /* "[CAPABILITY ...]" in a status response */
            if (line[i] == '[' && strncasecmp(line + i + 1, "CAPABILITY ", 11) == 0) {
                caps |= caps_of(line + i + 12, ln - i - 12);
                break;
            }
    }
    return caps;
}

/* ---- what goes into commands ---- */

int mail_imap_folder_name(const char *folder, char delim, char *out, size_t outlen)
{
    size_t n = strlen(folder);
    if (!folder_ok(folder) || n >= outlen)
        return -1;
    for (size_t i = 0; i <= n; i++)
        out[i] = folder[i] == '/' && delim != 0 ? delim : folder[i];
    return 0;
}

int mail_imap_quote(const char *name, char *out, size_t outlen)
{
    size_t o = 0;
    if (outlen < 3)
        return -1;
    out[o++] = '"';
    for (const unsigned char *c = (const unsigned char *)name; *c; c++) {
        if (*c == '\r' || *c == '\n' || *c >= 0x80)
            return -1;
        int esc = *c == '"' || *c == '\\';
        if (o + (size_t)esc + 3 > outlen) /* the character, the closing quote and NUL */
            return -1;
        if (esc)
            out[o++] = '\\';
        out[o++] = (char)*c;
    }
    out[o++] = '"';
    out[o] = '\0';
    return 0;
}

int mail_imap_url_encode(const char *name, char *out, size_t outlen)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *c = (const unsigned char *)name; *c; c++) {
        int plain = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                    (*c >= '0' && *c <= '9') || strchr("-._~", *c) != NULL;
        if (o + (plain ? 1 : 3) + 1 > outlen) /* and the NUL */
            return -1;
        if (plain) {
            out[o++] = (char)*c;
        } else {
            out[o++] = '%';
            out[o++] = hex[*c >> 4];
            out[o++] = hex[*c & 15];
        }
    }
    if (o >= outlen)
        return -1;
    out[o] = '\0';
    return 0;
}

int mail_imap_uid_set(const uint32_t *uids, size_t n, char *out, size_t outlen)
{
    size_t o = 0;
    if (outlen == 0)
        return -1;
    out[0] = '\0';
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j + 1 < n && uids[j + 1] == uids[j] + 1)
            j++;
        int w = j > i
                    ? snprintf(out + o, outlen - o, "%s%lu:%lu", o ? "," : "",
                               (unsigned long)uids[i], (unsigned long)uids[j])
                    : snprintf(out + o, outlen - o, "%s%lu", o ? "," : "", (unsigned long)uids[i]);
        if (w < 0 || (size_t)w >= outlen - o)
            return -1;
        o += (size_t)w;
        i = j + 1;
    }
    return n > 0 ? 0 : -1;
}
