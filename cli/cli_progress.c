/* cli_progress.c - the progress line of `reports ingest` and `reports fetch` on a terminal. */
#include "cli/cli.h"
#include "mail/mail.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

/* Redraw at most this often (ms): the line is for a person, not a log. */
#define PROGRESS_EVERY_MS 200

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void show(const struct mail_progress *p, void *user)
{
    static int64_t last;
    int *shown = user;
    int64_t t = now_ms();
    if (!p->final && t - last < PROGRESS_EVERY_MS)
        return;
    if (p->final && !*shown)
        return; /* a run too short to have shown anything says nothing more */
    last = t;
    *shown = 1;
    if (p->total > 0)
        fprintf(stderr, "\r%ld of %ld messages: %ld stored, %ld duplicate, %ld rejected\033[K",
                p->done, p->total, p->stored, p->duplicates, p->rejected);
    else
        fprintf(stderr, "\r%ld messages: %ld stored, %ld duplicate, %ld rejected\033[K", p->done,
                p->stored, p->duplicates, p->rejected);
    if (p->final)
        fputc('\n', stderr);
    fflush(stderr);
}

void cli_progress_attach(struct mail_ingest *in)
{
    static int shown;
    if (isatty(STDERR_FILENO))
        mail_ingest_set_progress(in, show, &shown);
}
