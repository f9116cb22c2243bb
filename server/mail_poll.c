/* mail_poll.c - serve's IMAP poll: when [mail] imap is set, a thread of its own (never an event
 * loop) runs a pass at start and every [mail] interval over its own database connection, logs
 * what each pass did, counts it for /metrics, and stops at once when serve stops. */
#include "server/server_int.h"
#include "server/admin_int.h"
#include "common/common.h"
#include "mail/imap.h"
#include "mail/mail.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct mail_poll {
    const struct stsd_config *cfg;
    char *password; /* read before the privilege drop */
    char *db_path;
    pthread_t thread;
    int running;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_int stop;
};

/* The state made before the privilege drop; serve exits without fini when it fails to start
 * after that, and this keeps it reachable (not a leak) until then. */
static struct mail_poll *made;
/* For /metrics (any thread). */
static atomic_int enabled;
static atomic_uint_fast64_t passes_ok, passes_failed, moved_done, moved_rejected;

static int imap_on(const struct stsd_config *cfg)
{
    return cfg->mail_imap != NULL && cfg->mail_imap[0] != '\0';
}

static int cancelled(void *arg)
{
    return atomic_load(&((struct mail_poll *)arg)->stop);
}

/* The outcomes of a pass: rejections, deferrals and database failures are logged one by one (what
 * is stored shows in the pass's counts and in the reports themselves). */
static void on_item(const struct mail_item *it, void *user)
{
    (void)user;
    char q1[600], q2[900];
    if (it->outcome == MAIL_REJECTED || it->outcome == MAIL_DEFERRED)
        log_event(LOG_INFO,
                  it->outcome == MAIL_REJECTED ? "mail.imap.rejected" : "mail.imap.deferred",
                  "folder=%s uid=%ld reason=%s", log_field(q1, sizeof(q1), it->file), it->message,
                  log_quote(q2, sizeof(q2), it->reason));
    else if (it->outcome == MAIL_DBERROR)
        log_event(LOG_ERROR, "mail.imap.database", "reason=%s",
                  log_quote(q2, sizeof(q2), it->reason));
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static void one_pass(struct mail_poll *pl, struct db *db)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct mail_ingest *in = mail_ingest_new(db, pl->cfg, on_item, pl);
    struct mail_imap_options o = {
        .cfg = pl->cfg, .password = pl->password, .cancelled = cancelled, .cancel_arg = pl};
    struct mail_imap_result r;
    mail_imap_pass(in, &o, &r);
    mail_ingest_finish(in, NULL);
    atomic_fetch_add(&moved_done, (uint64_t)r.moved_done);
    atomic_fetch_add(&moved_rejected, (uint64_t)r.moved_rejected);
    if (r.stored > 0 || r.conflicts > 0)
        srv_metrics_reload(); /* the per-domain sums of /metrics count them too */
    const char *capped = r.capped ? " note=\"more messages than a pass takes: the rest next\"" : "";
    if (r.status == MAIL_IMAP_OK) {
        atomic_fetch_add(&passes_ok, 1);
        log_event(LOG_INFO, "mail.imap.pass",
                  "messages=%ld stored=%ld duplicates=%ld conflicts=%ld rejected=%ld "
                  "deferred=%ld moved_done=%ld moved_rejected=%ld seconds=%.3f%s",
                  r.messages, r.stored, r.duplicates, r.conflicts, r.rejected, r.deferred,
                  r.moved_done, r.moved_rejected, seconds_since(&t0), capped);
    } else if (r.status != MAIL_IMAP_CANCELLED || !atomic_load(&pl->stop)) {
        atomic_fetch_add(&passes_failed, 1);
        char q[900];
        log_event(LOG_WARN, "mail.imap.fail",
                  "error=%s messages=%ld stored=%ld moved_done=%ld "
                  "moved_rejected=%ld seconds=%.3f retry_in=%lld",
                  log_quote(q, sizeof(q), r.error), r.messages, r.stored, r.moved_done,
                  r.moved_rejected, seconds_since(&t0), (long long)pl->cfg->mail_interval);
    }
}

static void *poll_main(void *arg)
{
    struct mail_poll *pl = arg;
    struct db *db = NULL;
    while (!atomic_load(&pl->stop)) {
        char err[400];
        if (db == NULL && (db = db_open(pl->db_path, err, sizeof(err))) == NULL) {
            char q[600];
            atomic_fetch_add(&passes_failed, 1);
            log_event(LOG_WARN, "mail.imap.fail", "error=%s retry_in=%lld",
                      log_quote(q, sizeof(q), err), (long long)pl->cfg->mail_interval);
        }
        if (db != NULL)
            one_pass(pl, db);
        struct timespec dl;
        clock_gettime(CLOCK_MONOTONIC, &dl);
        dl.tv_sec += (time_t)pl->cfg->mail_interval;
        pthread_mutex_lock(&pl->mu);
        while (!atomic_load(&pl->stop) && pthread_cond_timedwait(&pl->cv, &pl->mu, &dl) == 0)
            ;
        pthread_mutex_unlock(&pl->mu);
    }
    db_close(db);
    return NULL;
}

/* Before the privilege drop: the password file may be readable by root only. */
static int mail_secrets(struct srv *s, int idx, char *err, size_t errlen)
{
    const struct stsd_config *cfg = s->cfg;
    if (!imap_on(cfg) || s->module_state[idx] != NULL)
        return 0;
    char e[600];
    struct mail_imap_url u;
    if (mail_imap_url_parse(cfg->mail_imap, &u, e, sizeof(e)) != 0) {
        snprintf(err, errlen, "[mail] imap %s", e);
        return -1;
    }
    struct mail_poll *pl = xcalloc(1, sizeof(*pl));
    if (mail_imap_password(cfg->mail_password_file, &pl->password, e, sizeof(e)) != 0) {
        snprintf(err, errlen, "%s", e);
        free(pl);
        return -1;
    }
    pl->cfg = cfg;
    s->module_state[idx] = pl;
    made = pl;
    return 0;
}

static int mail_init(struct srv *s, int idx, char *err, size_t errlen)
{
    if (!imap_on(s->cfg))
        return 0;
    if (s->module_state[idx] == NULL && mail_secrets(s, idx, err, errlen) != 0)
        return -1;
    struct mail_poll *pl = s->module_state[idx];
    pl->db_path = xstrdup(s->db_path);
    pthread_mutex_init(&pl->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&pl->cv, &ca);
    pthread_condattr_destroy(&ca);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (pthread_create(&pl->thread, NULL, poll_main, pl) != 0) {
        snprintf(err, errlen, "mail: cannot start the IMAP poll thread");
        return -1;
    }
    pl->running = 1;
    atomic_store(&enabled, 1);
    char q[600];
    log_event(LOG_INFO, "mail.imap.ready",
              "imap=%s interval=%lld done_folder=%s "
              "rejected_folder=%s",
              log_field(q, sizeof(q), s->cfg->mail_imap), (long long)s->cfg->mail_interval,
              s->cfg->mail_done_folder, s->cfg->mail_rejected_folder);
    return 0;
}

static void wake_stop(struct mail_poll *pl)
{
    pthread_mutex_lock(&pl->mu);
    atomic_store(&pl->stop, 1);
    pthread_cond_broadcast(&pl->cv);
    pthread_mutex_unlock(&pl->mu);
}

/* A graceful stop starts: a transfer under way is cancelled (libcurl's progress callback). */
static void mail_thread_stopping(struct srv_thread *t, int idx)
{
    struct mail_poll *pl = t->srv->module_state[idx];
    if (pl != NULL && pl->running)
        wake_stop(pl);
}

static void mail_fini(struct srv *s, int idx)
{
    struct mail_poll *pl = s->module_state[idx];
    if (pl == NULL)
        return;
    if (pl->running) {
        wake_stop(pl);
        pthread_join(pl->thread, NULL);
        pthread_mutex_destroy(&pl->mu);
        pthread_cond_destroy(&pl->cv);
        curl_global_cleanup();
    }
    atomic_store(&enabled, 0);
    if (pl->password != NULL)
        memset(pl->password, 0, strlen(pl->password));
    free(pl->password);
    free(pl->db_path);
    free(pl);
    made = NULL;
    s->module_state[idx] = NULL;
}

/* A counter of two series: name{label="v1"} and name{label="v2"}. */
static void counter2(struct admin_buf *b, const char *name, const char *help, const char *label,
                     const char *v1, atomic_uint_fast64_t *n1, const char *v2,
                     atomic_uint_fast64_t *n2)
{
    srv__buf_printf(b, "# HELP %s %s\n# TYPE %s counter\n%s{%s=\"%s\"} %llu\n%s{%s=\"%s\"} %llu\n",
                    name, help, name, name, label, v1, (unsigned long long)atomic_load(n1), name,
                    label, v2, (unsigned long long)atomic_load(n2));
}

void srv__mail_metrics_write(struct admin_buf *b)
{
    if (!atomic_load(&enabled))
        return;
    counter2(b, "stsd_mail_imap_passes_total", "IMAP passes by result.", "result", "ok", &passes_ok,
             "fail", &passes_failed);
    counter2(b, "stsd_mail_imap_messages_total",
             "Messages moved after their commit, by the folder they went to.", "outcome", "done",
             &moved_done, "rejected", &moved_rejected);
}

/* name, init (the thread starts), secrets (the password, before the privilege drop), no
 * thread_start, thread_stopping (a pass under way is cancelled), no thread_stop, fini. */
const struct srv_module srv_mail_module = {
    "mail", mail_init, mail_secrets, NULL, mail_thread_stopping, NULL, mail_fini};
