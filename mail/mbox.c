/* mbox.c - the pure readers of the e-mail route: what a file holds, and mbox splitting. */
#include "mail/mail.h"

#include "common/common.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum mail_kind mail_sniff(const unsigned char *b, size_t n)
{
    if (n >= 2 && b[0] == 0x1f && b[1] == 0x8b)
        return MAIL_KIND_GZIP;
    size_t i = 0;
    if (n >= 3 && b[0] == 0xef && b[1] == 0xbb && b[2] == 0xbf)
        i = 3; /* UTF-8 BOM */
    while (i < n && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n'))
        i++;
    if (i < n && b[i] == '{')
        return MAIL_KIND_JSON;
    if (n >= 5 && memcmp(b, "From ", 5) == 0)
        return MAIL_KIND_MBOX;
    return MAIL_KIND_MESSAGE;
}

/* The message being gathered. */
struct gather {
    char *msg;
    size_t len, cap, max;
    int too_big;
};

static void gather_add(struct gather *g, const char *p, size_t n)
{
    if (g->too_big || g->len + n > g->max) {
        g->too_big = 1;
        return;
    }
    if (g->len + n + 1 > g->cap) {
        g->cap = g->cap ? g->cap : 65536;
        while (g->cap < g->len + n + 1)
            g->cap *= 2;
        g->msg = xrealloc(g->msg, g->cap);
    }
    memcpy(g->msg + g->len, p, n);
    g->len += n;
    g->msg[g->len] = '\0';
}

/* Hand the gathered message to fn (NULL when it was too big) and start afresh. */
static void gather_end(struct gather *g, long number, mail_message_fn fn, void *user)
{
    if (g->too_big) {
        free(g->msg);
        fn(NULL, 0, number, user);
    } else {
        if (g->msg == NULL)
            g->msg = xstrdup(""); /* an empty message: still one */
        fn(g->msg, g->len, number, user);
    }
    g->msg = NULL;
    g->len = g->cap = 0;
    g->too_big = 0;
}

/* The line reader both the splitter and the counter use, so that they find the same
 * messages: one piece of at most MAIL_MBOX_LINE - 1 bytes at a time. */
struct scan {
    FILE *f;
    char *line;
    int at_start, prev_empty;
};

enum piece { PIECE_END, PIECE_SEPARATOR, PIECE_TEXT };

/* The next piece of f: PIECE_SEPARATOR for a "From " line at the top of the file or after an
 * empty line (its over-long rest read and dropped), PIECE_TEXT with *p, *keep the bytes to keep
 * (one '>' of ">From " removed), or PIECE_END at the end of the file or a read error. Each
 * call reads one piece of a bounded size and does bounded work on it. */
static enum piece scan_next(struct scan *s, const char **p, size_t *keep)
{
    char *line = s->line;
    if (fgets(line, MAIL_MBOX_LINE, s->f) == NULL)
        return PIECE_END;
    size_t l = strlen(line); /* a NUL byte ends the piece early: text only */
    int ends = l > 0 && line[l - 1] == '\n';
    if (s->at_start && s->prev_empty && l >= 5 && memcmp(line, "From ", 5) == 0) {
        /* the rest of an over-long "From " line is not part of the message */
        while (!ends && fgets(line, MAIL_MBOX_LINE, s->f)) {
            l = strlen(line);
            ends = l > 0 && line[l - 1] == '\n';
        }
        s->at_start = 1;
        s->prev_empty = 0;
        return PIECE_SEPARATOR;
    }
    *p = line;
    *keep = l;
    if (s->at_start && line[0] == '>') {
        size_t k = 0;
        while (line[k] == '>')
            k++;
        if (strncmp(line + k, "From ", 5) == 0) {
            (*p)++;
            (*keep)--;
        }
    }
    if (ends)
        s->prev_empty = s->at_start && (strcmp(line, "\n") == 0 || strcmp(line, "\r\n") == 0);
    s->at_start = ends;
    return PIECE_TEXT;
}

/* 0 after the whole of f was read, or -1 with errno set on a read error. */
static int scan_end(struct scan *s)
{
    free(s->line);
    if (ferror(s->f)) {
        if (errno == 0)
            errno = EIO;
        return -1;
    }
    return 0;
}

int mail_mbox_split(FILE *f, size_t max, mail_message_fn fn, void *user)
{
    struct scan s = {.f = f, .line = xmalloc(MAIL_MBOX_LINE), .at_start = 1, .prev_empty = 1};
    struct gather g = {.max = max};
    long number = 0;
    int in_msg = 0;
    for (;;) {
        const char *p = NULL;
        size_t keep = 0;
        enum piece k = scan_next(&s, &p, &keep);
        if (k == PIECE_TEXT) {
            if (in_msg) /* text before the first "From " line is not an mbox message */
                gather_add(&g, p, keep);
            continue;
        }
        if (in_msg)
            gather_end(&g, number, fn, user);
        if (k == PIECE_END)
            break;
        in_msg = 1;
        number++;
    }
    free(g.msg);
    return scan_end(&s);
}

long mail_mbox_count(FILE *f)
{
    struct scan s = {.f = f, .line = xmalloc(MAIL_MBOX_LINE), .at_start = 1, .prev_empty = 1};
    long n = 0;
    const char *p;
    size_t keep;
    enum piece k;
    /* one piece at a time: memory is one line buffer, time is linear in the file */
    while ((k = scan_next(&s, &p, &keep)) != PIECE_END)
        n += k == PIECE_SEPARATOR;
    return scan_end(&s) == 0 ? n : -1;
}
