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

int mail_mbox_split(FILE *f, size_t max, mail_message_fn fn, void *user)
{
    char *line = xmalloc(MAIL_MBOX_LINE);
    struct gather g = {.max = max};
    long number = 0;
    int in_msg = 0, at_start = 1, prev_empty = 1;
    for (;;) {
        char *got = fgets(line, MAIL_MBOX_LINE, f);
        size_t l = got ? strlen(line) : 0; /* a NUL byte ends the piece early: text only */
        int ends = l > 0 && line[l - 1] == '\n';
        int separator = got && at_start && prev_empty && l >= 5 && memcmp(line, "From ", 5) == 0;
        if (got == NULL || separator) {
            if (in_msg)
                gather_end(&g, number, fn, user);
            if (got == NULL)
                break;
            in_msg = 1;
            number++;
            /* the rest of an over-long "From " line is not part of the message */
            while (!ends && fgets(line, MAIL_MBOX_LINE, f)) {
                l = strlen(line);
                ends = l > 0 && line[l - 1] == '\n';
            }
            at_start = 1;
            prev_empty = 0;
            continue;
        }
        const char *p = line;
        size_t keep = l;
        if (at_start && line[0] == '>') {
            size_t k = 0;
            while (line[k] == '>')
                k++;
            if (strncmp(line + k, "From ", 5) == 0) {
                p++;
                keep--;
            }
        }
        if (ends)
            prev_empty = at_start && (strcmp(line, "\n") == 0 || strcmp(line, "\r\n") == 0);
        at_start = ends;
        if (in_msg) /* text before the first "From " line is not an mbox message */
            gather_add(&g, p, keep);
    }
    free(line);
    free(g.msg);
    if (ferror(f)) {
        if (errno == 0)
            errno = EIO;
        return -1;
    }
    return 0;
}
