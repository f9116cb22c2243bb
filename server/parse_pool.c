/* parse_pool.c - the threads that inflate, pre-scan, parse and check report bodies off the
 * event loops, within the parse memory budget, and pass them on to the writer. */
#include "server/intake_int.h"
#include "server/server_int.h"
#include "common/common.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Jobs waiting for one kind of thread, oldest first. */
struct queue {
    pthread_cond_t cv;
    struct srv_job *head, *tail;
    size_t n; /* queued and being worked on */
};

/*
 * Two kinds of threads. Every body goes to a quick thread first (normal priority, like the
 * event loops): it handles reports of up to REPORT_BODY_QUICK bytes of JSON, which is nearly
 * all of them, at once. A larger body, or a gzip that inflates past that (a bomb looks like a
 * 20 KB body), it passes to a large-report thread, which runs at nice +SRV_PARSE_NICE: the
 * expensive work only gets the CPU the event loops and the quick path leave.
 */
struct srv_parse_pool {
    pthread_mutex_t mu;
    struct queue quick, large;
    atomic_int stopping;
    int n_threads; /* of each kind */
    pthread_t *tids;
    const struct srv_intake_conf *conf;
};

struct worker {
    struct srv_parse_pool *p;
    int large;
};

void srv__jobs_append(struct srv_job **head, struct srv_job **tail, struct srv_job *job)
{
    job->next = NULL;
    if (*tail != NULL)
        (*tail)->next = job;
    else
        *head = job;
    *tail = job;
}

static void push(struct srv_parse_pool *p, struct queue *q, struct srv_job *job)
{
    pthread_mutex_lock(&p->mu);
    srv__jobs_append(&q->head, &q->tail, job);
    q->n++;
    pthread_cond_signal(&q->cv); /* no system call when no thread waits */
    pthread_mutex_unlock(&p->mu);
}

/* Send a job back to its loop thread with the status to answer. */
static void reply(struct srv_job *job, int status, int retry_after, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void reply(struct srv_job *job, int status, int retry_after, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(job->error, sizeof(job->error), fmt, ap);
    va_end(ap);
    job->status = status;
    job->retry_after = retry_after;
    h2o_multithread_send_message(job->reply, &job->super);
}

/* 1 if one of the report's policy-domains is hosted; lists the domains in `list` else. A
 * policy that names none counts as the domain of the mta-sts.<domain> the report was posted
 * to (`channel`, "" for none; report_attribute gives it that domain); when nothing names one
 * it is unattributed and accepted: the accept rule turns away reports about other domains,
 * and this one names no domain at all (Postfix 3.10 sends such reports to the rua URL of a
 * domain hosted here, whatever host name that URL has). */
static int any_hosted(const struct srv_intake_conf *conf, const struct report *r,
                      const char *channel, char *list, size_t listsz)
{
    size_t o = 0;
    list[0] = '\0';
    for (size_t i = 0; i < r->n_policies; i++) {
        const char *d = r->policies[i].policy_domain;
        if (d == NULL && channel[0] != '\0')
            d = channel;
        if (d == NULL || conf->is_hosted(d))
            return 1;
        if (o + 4 < listsz) {
            int n = snprintf(list + o, listsz - o, "%s%s", o ? ", " : "", d);
            if (n > 0)
                o = (size_t)n >= listsz - o ? listsz - 1 : o + (size_t)n;
        }
    }
    return 0;
}

/* Everything between the body's arrival and the writer's queue. */
static void work(struct srv_parse_pool *p, struct srv_job *job, int large)
{
    const struct srv_intake_conf *conf = p->conf;
    const struct stsd_config *cfg = conf->cfg;
    struct report_body_limits lim = {
        .max_json = (size_t)cfg->max_json,
        .max_values = (size_t)cfg->max_values,
        .budget = job->budget,
        .quick = !large,
    };
    struct report_error err;
    memset(&err, 0, sizeof(err));
    size_t held = 0;
    int st = report_parse_body_limited(job->raw, job->rawlen, &lim, &job->report, &held, &err);
    if (st == REPORT_BODY_LARGE) {
        push(p, &p->large, job);
        return;
    }
    job->held += held;
    const char *where = err.path[0] ? err.path : "body";
    char list[400];
    if (st == 413 && strstr(err.message, "size limit") != NULL)
        reply(job, 413, 0, "%s: %s (max_json = %zu bytes)", where, err.message, lim.max_json);
    else if (st == 503)
        reply(job, 503, RETRY_BUDGET, "%s: %s", where, err.message);
    else if (st != 0 && err.path[0])
        reply(job, st, 0, "%s: %s", err.path, err.message);
    else if (st != 0)
        reply(job, st, 0, "%s", err.message);
    else if (!cfg->accept_any && conf->is_hosted != NULL &&
             !any_hosted(conf, &job->report, job->channel_domain, list, sizeof(list)))
        reply(job, 422, 0, "no policy-domain of this report is hosted here (%s)", list);
    /* While the store is failing (the last batch did not commit) one batch at a time probes
     * it; everything else is answered at once instead of waiting out the busy timeout. */
    else if (srv_writer_failing(conf->writer) && srv_writer_queued(conf->writer) > 0)
        reply(job, 503, RETRY_STORE_FAILED, "the report store is unavailable; retry later");
    else {
        srv_writer_prepare(conf->writer, job);
        if (srv_writer_submit(conf->writer, job) != 0)
            reply(job, 503, RETRY_QUEUE_FULL,
                  "too many reports waiting to be stored; retry in %d s", RETRY_QUEUE_FULL);
        /* else the writer sends it back after the commit */
    }
}

static void *pool_main(void *arg)
{
    struct worker *wk = arg;
    struct srv_parse_pool *p = wk->p;
    struct queue *q = wk->large ? &p->large : &p->quick;
    /* Per thread on Linux: large reports yield the CPU to the event loops (policy GETs). */
    if (wk->large && setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), SRV_PARSE_NICE) != 0)
        log_event(LOG_WARN, "report.pool", "what=\"cannot lower the parse threads' priority\"");
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (q->head == NULL && !p->stopping)
            pthread_cond_wait(&q->cv, &p->mu);
        if (q->head == NULL)
            break;
        struct srv_job *job = q->head;
        q->head = job->next;
        if (q->head == NULL)
            q->tail = NULL;
        job->next = NULL;
        pthread_mutex_unlock(&p->mu);
        work(p, job, wk->large);
        pthread_mutex_lock(&p->mu);
        q->n--; /* a job passed on was counted in the other queue first */
    }
    pthread_mutex_unlock(&p->mu);
    free(wk);
    return NULL;
}

struct srv_parse_pool *srv_parse_pool_new(int n_threads, const struct srv_intake_conf *conf)
{
    struct srv_parse_pool *p = xcalloc(1, sizeof(*p));
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->quick.cv, NULL);
    pthread_cond_init(&p->large.cv, NULL);
    p->conf = conf;
    p->n_threads = n_threads > 0 ? n_threads : 1;
    p->tids = xcalloc(2 * (size_t)p->n_threads, sizeof(*p->tids));
    for (int i = 0; i < 2 * p->n_threads; i++) {
        struct worker *wk = xcalloc(1, sizeof(*wk)); /* the thread frees it */
        wk->p = p;
        wk->large = i >= p->n_threads;
        if (pthread_create(&p->tids[i], NULL, pool_main, wk) != 0)
            abort(); /* as out of memory: no thread for the intake */
        pthread_setname_np(p->tids[i], i >= p->n_threads ? "stsd-parse-big" : "stsd-parse");
    }
    return p;
}

void srv_parse_pool_submit(struct srv_parse_pool *p, struct srv_job *job)
{
    job->status = 0;
    push(p, &p->quick, job);
}

size_t srv_parse_pool_queued(struct srv_parse_pool *p)
{
    pthread_mutex_lock(&p->mu);
    size_t n = p->quick.n + p->large.n;
    pthread_mutex_unlock(&p->mu);
    return n;
}

void srv__threads_end(pthread_mutex_t *mu, atomic_int *stop, pthread_cond_t *cv,
                      pthread_cond_t *cv2, pthread_t *tids, int n)
{
    pthread_mutex_lock(mu);
    atomic_store(stop, 1);
    pthread_cond_broadcast(cv);
    if (cv2 != NULL)
        pthread_cond_broadcast(cv2);
    pthread_mutex_unlock(mu);
    for (int i = 0; i < n; i++)
        pthread_join(tids[i], NULL);
    pthread_cond_destroy(cv);
    if (cv2 != NULL)
        pthread_cond_destroy(cv2);
    pthread_mutex_destroy(mu);
}

void srv_parse_pool_free(struct srv_parse_pool *p)
{
    if (p == NULL)
        return;
    srv__threads_end(&p->mu, &p->stopping, &p->quick.cv, &p->large.cv, p->tids, 2 * p->n_threads);
    free(p->tids);
    free(p);
}
