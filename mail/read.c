/* read.c - the inputs of an ingest run: paths, directories, Maildir folders, files and stdin,
 * each read as what its first bytes say it is. */
#include "mail/mail_int.h"

#include "common/common.h"
#include "reports/reports.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Read at most cap bytes from f; NULL with errno EFBIG when there is more. */
static char *read_capped(FILE *f, size_t cap, size_t *len)
{
    size_t n = 0, size = 65536;
    char *buf = xmalloc(size);
    for (;;) {
        if (n == size - 1) {
            if (size > cap + 1) {
                free(buf);
                errno = EFBIG;
                return NULL;
            }
            size *= 2;
            buf = xrealloc(buf, size);
        }
        size_t r = fread(buf + n, 1, size - 1 - n, f);
        n += r;
        if (r == 0)
            break;
    }
    if (ferror(f)) {
        free(buf);
        errno = EIO;
        return NULL;
    }
    if (n > cap) {
        free(buf);
        errno = EFBIG;
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

struct mbox_ctx {
    struct mail_ingest *in;
    const char *file;
};

static void on_mbox_message(char *msg, size_t len, long number, void *user)
{
    struct mbox_ctx *c = user;
    if (msg == NULL)
        mail__reject(c->in, c->file, number, NULL, "message larger than %d bytes",
                     REPORT_MAX_MESSAGE);
    else
        mail__add_message(c->in, msg, len, c->file, number);
    mail__done(c->in);
}

/* The whole of a file that is not an mbox, after its first hn bytes (head). */
static void read_single(struct mail_ingest *in, FILE *f, const char *file, enum mail_kind k,
                        const unsigned char *head, size_t hn, int from_line)
{
    const struct stsd_config *cfg = mail__config(in);
    size_t cap = k == MAIL_KIND_GZIP   ? (size_t)cfg->max_body
                 : k == MAIL_KIND_JSON ? (size_t)cfg->max_json
                                       : REPORT_MAX_MESSAGE;
    size_t len;
    char *rest = read_capped(f, cap >= hn ? cap - hn : 0, &len);
    if (rest == NULL) {
        if (errno == EFBIG)
            mail__reject(in, file, 0, NULL, "larger than %zu bytes (%s)", cap,
                         k == MAIL_KIND_GZIP   ? "[reports] max_body"
                         : k == MAIL_KIND_JSON ? "[reports] max_json"
                                               : "message limit");
        else
            mail__reject(in, file, 0, NULL, "read error: %s", strerror(errno));
        return;
    }
    size_t n = hn + len;
    char *buf = xmalloc(n + 1);
    memcpy(buf, head, hn);
    memcpy(buf + hn, rest, len);
    buf[n] = '\0';
    free(rest);
    if (n == 0) {
        mail__reject(in, file, 0, NULL, "empty input");
        free(buf);
    } else if (k == MAIL_KIND_GZIP || k == MAIL_KIND_JSON) {
        mail__add_report(in, buf, n, "file", file, 0, NULL);
    } else {
        size_t skip = 0;
        if (from_line) { /* drop the envelope "From " line: it is not a header */
            char *nl = memchr(buf, '\n', n);
            skip = nl ? (size_t)(nl - buf) + 1 : n;
            memmove(buf, buf + skip, n - skip + 1);
        }
        mail__add_message(in, buf, n - skip, file, 0);
    }
}

/* An mbox file, announced as one input: its messages, counted first when a progress display
 * wants the total. */
static void read_mbox(struct mail_ingest *in, FILE *f, const char *file)
{
    if (mail__shows_progress(in)) {
        rewind(f);
        long n = mail_mbox_count(f);
        if (n < 0) {
            mail__reject(in, file, 0, NULL, "read error: %s", strerror(errno));
            mail__done(in);
            return;
        }
        /* announced as one input, it is n messages (at least one: it starts with "From ") */
        mail_ingest_expect(in, n - 1);
    }
    rewind(f);
    struct mbox_ctx c = {in, file};
    if (mail_mbox_split(f, REPORT_MAX_MESSAGE, on_mbox_message, &c) != 0)
        mail__reject(in, file, 0, NULL, "read error: %s", strerror(errno));
}

/* One input file (or stdin), announced as one input: sniff it, then read it as what it is. */
static void read_stream(struct mail_ingest *in, FILE *f, const char *file, int is_stdin)
{
    unsigned char head[MAIL_SNIFF_BYTES];
    size_t hn = fread(head, 1, sizeof(head), f);
    enum mail_kind k = mail_sniff(head, hn);
    if (k == MAIL_KIND_MBOX && !is_stdin) {
        read_mbox(in, f, file);
        return;
    }
    /* an MTA pipe may hand over one message with its "From " line */
    read_single(in, f, file, k == MAIL_KIND_MBOX ? MAIL_KIND_MESSAGE : k, head, hn,
                k == MAIL_KIND_MBOX);
    mail__done(in);
}

static void read_file(struct mail_ingest *in, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        mail__reject(in, path, 0, NULL, "%s", strerror(errno));
        mail__done(in);
        return;
    }
    read_stream(in, f, path, 0);
    fclose(f);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names of the regular files of a directory (not starting with '.'), sorted (Maildir
 * order), appended to *names (*n of them, room for *cap); a directory that cannot be read is
 * rejected. */
static void list_dir(struct mail_ingest *in, const char *dir, char ***names, size_t *n, size_t *cap)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        mail__reject(in, dir, 0, NULL, "%s", strerror(errno));
        return;
    }
    size_t first = *n;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char *path = xasprintf("%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
            free(path);
            continue;
        }
        if (*n == *cap) {
            *cap = *cap ? 2 * *cap : 32;
            *names = xrealloc(*names, *cap * sizeof(**names));
        }
        (*names)[(*n)++] = path;
    }
    closedir(d);
    if (*n - first > 1)
        qsort(*names + first, *n - first, sizeof(**names), cmp_str);
}

/* The files listed: announced first (the total of a progress display), then read. */
static void read_listed(struct mail_ingest *in, char **names, size_t n)
{
    mail_ingest_expect(in, (long)n);
    for (size_t i = 0; i < n; i++) {
        read_file(in, names[i]);
        free(names[i]);
    }
    free(names);
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

void mail_ingest_path(struct mail_ingest *in, const char *path)
{
    if (strcmp(path, "-") == 0) {
        mail_ingest_expect(in, 1);
        read_stream(in, stdin, "-", 1);
        return;
    }
    struct stat st;
    if (stat(path, &st) != 0) {
        mail__missing(in, path, strerror(errno));
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        mail_ingest_expect(in, 1);
        read_file(in, path);
        return;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    char *cur = xasprintf("%s/cur", path), *nw = xasprintf("%s/new", path);
    if (is_dir(cur) || is_dir(nw)) { /* Maildir: messages in cur/ and new/ */
        if (is_dir(cur))
            list_dir(in, cur, &names, &n, &cap);
        if (is_dir(nw))
            list_dir(in, nw, &names, &n, &cap);
    } else {
        list_dir(in, path, &names, &n, &cap);
    }
    read_listed(in, names, n);
    free(cur);
    free(nw);
}
