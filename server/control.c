/* control.c - what wakes the control thread besides signals: inotify batches on the policy and
 * certificate directories, and reload requests from the admin workers, which wait until the
 * new tables are served by every loop thread (so that a change is visible to the next
 * request). */
#include "server/server_int.h"
#include "common/common.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

int srv__watch_dir(int ifd, const char *dir)
{
    int wd = inotify_add_watch(ifd, dir,
                               IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE |
                                   IN_CREATE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF);
    if (wd < 0) {
        char q[600];
        log_event(LOG_WARN, "serve.inotify",
                  "dir=%s error=%s note=\"changes are picked up "
                  "on SIGHUP only\"",
                  log_quote(q, sizeof(q), dir), strerror(errno));
    }
    return wd;
}

int srv__read_inotify(int ifd, int wd_pol, int wd_cert)
{
    char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
    int what = 0;
    for (;;) {
        ssize_t n = read(ifd, buf, sizeof(buf));
        if (n <= 0)
            break;
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *ev = (struct inotify_event *)p;
            p += sizeof(*ev) + ev->len;
            if (ev->len > 0 && ev->name[0] == '.')
                continue; /* editors' and our own temporary files */
            if (ev->wd == wd_pol)
                what |= SRV_RELOAD_POLICIES;
            if (ev->wd == wd_cert)
                what |= SRV_RELOAD_CERTS;
        }
    }
    return what;
}

/* Reload requests: a counter of requests and one of requests served, under one lock. */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t asked, done;
    int fd; /* eventfd the control thread polls; -1 when no server runs */
} ask = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, -1};

int srv__reload_ask_open(void)
{
    pthread_mutex_lock(&ask.mu);
    if (ask.fd < 0)
        ask.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    int fd = ask.fd;
    pthread_mutex_unlock(&ask.mu);
    return fd;
}

uint64_t srv__reload_ask_take(void)
{
    uint64_t v;
    pthread_mutex_lock(&ask.mu);
    if (ask.fd >= 0 && read(ask.fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
        log_event(LOG_WARN, "serve.reload_ask", "error=%s", strerror(errno));
    uint64_t seq = ask.asked;
    pthread_mutex_unlock(&ask.mu);
    return seq;
}

void srv__reload_ask_done(uint64_t seq)
{
    pthread_mutex_lock(&ask.mu);
    if (seq > ask.done)
        ask.done = seq;
    pthread_cond_broadcast(&ask.cv);
    pthread_mutex_unlock(&ask.mu);
}

void srv__reload_ask_close(void)
{
    pthread_mutex_lock(&ask.mu);
    if (ask.fd >= 0)
        close(ask.fd);
    ask.fd = -1;
    ask.done = ask.asked; /* nobody waits for a reload that will not come */
    pthread_cond_broadcast(&ask.cv);
    pthread_mutex_unlock(&ask.mu);
}

int srv_reload_now(int timeout_ms)
{
    pthread_mutex_lock(&ask.mu);
    if (ask.fd < 0) {
        pthread_mutex_unlock(&ask.mu);
        return -1;
    }
    uint64_t want = ++ask.asked, one = 1;
    if (write(ask.fd, &one, sizeof(one)) < 0 && errno != EAGAIN) {
        pthread_mutex_unlock(&ask.mu);
        return -1;
    }
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    int rc = 0;
    while (ask.done < want && rc == 0)
        rc = pthread_cond_timedwait(&ask.cv, &ask.mu, &dl);
    int ok = ask.done >= want && ask.fd >= 0;
    pthread_mutex_unlock(&ask.mu);
    return ok ? 0 : -1;
}
