/* cli_progress.c - the progress line of `reports ingest` and `reports fetch` on a terminal. */
#include "cli/cli.h"
#include "mail/mail.h"

#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Redraw at most this often (ms), and draw nothing before a run has lasted this long: the
 * line is for a person watching a long run, not a log, and a short run says nothing more. */
#define PROGRESS_EVERY_MS 200

/* The display of the one run a command makes (the CLI runs one at a time). */
static struct {
    int drawn;    /* a progress line stands on the terminal now, the cursor at its end */
    int shown;    /* something was drawn in this run */
    int same_tty; /* stdout is the terminal stderr is */
    int64_t last; /* when it was drawn last, or when the run began */
} pr;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Columns of the terminal on stderr; a line longer than that would wrap, and "\r" would
 * then redraw only its last row. */
static size_t columns(void)
{
    struct winsize ws;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1)
        return ws.ws_col;
    return 80;
}

static void show(const struct mail_progress *p, void *user)
{
    (void)user;
    int64_t t = now_ms();
    if (!p->final && t - pr.last < PROGRESS_EVERY_MS)
        return;
    if (p->final && !pr.shown)
        return; /* a run too short to have shown anything says nothing more */
    pr.last = t;
    pr.shown = 1;
    char line[256]; /* room for every number at its longest */
    int n;
    if (p->total > 0)
        n = snprintf(line, sizeof(line), "%ld of %ld messages: ", p->done, p->total);
    else
        n = snprintf(line, sizeof(line), "%ld messages: ", p->done);
    n += snprintf(line + n, sizeof(line) - (size_t)n, "%ld stored, %ld duplicate, %ld rejected",
                  p->stored, p->duplicates, p->rejected);
    if (p->conflicts > 0)
        n += snprintf(line + n, sizeof(line) - (size_t)n, ", %ld conflict", p->conflicts);
    if (p->deferred > 0)
        snprintf(line + n, sizeof(line) - (size_t)n, ", %ld deferred", p->deferred);
    size_t cols = columns();
    if (strlen(line) >= cols)
        line[cols - 1] = '\0'; /* one column free: the cursor stays on the line */
    /* "\r": back to the start of the line; ESC [ K: erase what a longer line left */
    fprintf(stderr, "\r%s\033[K%s", line, p->final ? "\n" : "");
    fflush(stderr);
    pr.drawn = !p->final;
}

void cli_progress_clear(FILE *out)
{
    if (!pr.drawn || (out != stderr && !(out == stdout && pr.same_tty)))
        return;
    fputs("\r\033[K", stderr);
    fflush(stderr);
    pr.drawn = 0; /* drawn again at the next step due */
}

void cli_progress_attach(struct mail_ingest *in)
{
    if (!isatty(STDERR_FILENO))
        return;
    struct stat so, se;
    pr.drawn = pr.shown = 0;
    pr.same_tty = isatty(STDOUT_FILENO) && fstat(STDOUT_FILENO, &so) == 0 &&
                  fstat(STDERR_FILENO, &se) == 0 && so.st_rdev == se.st_rdev;
    pr.last = now_ms();
    mail_ingest_set_progress(in, show, NULL);
}
