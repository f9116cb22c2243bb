/* parse_pool.c - the threads that inflate, pre-scan, parse and check report bodies off the
 * event loops, within the parse memory budget, and pass them on to the writer. */
#include "server/intake_int.h"
#include "common/common.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

struct srv_parse_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct srv_job *head, *tail; /* waiting jobs, oldest first */
    size_t n_queued, n_busy;
    int stopping;
    int n_threads;
    pthread_t *tids;
    const struct srv_intake_conf *conf;
};

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

/* 1 if one of the report's policy-domains is hosted; lists the domains in `list` else. */
static int any_hosted(const struct srv_intake_conf *conf, const struct report *r, char *list,
                      size_t listsz)
{
    size_t o = 0;
    list[0] = '\0';
    for (size_t i = 0; i < r->n_policies; i++) {
        const char *d = r->policies[i].policy_domain;
        if (conf->is_hosted(d))
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
static void work(const struct srv_intake_conf *conf, struct srv_job *job)
{
    const struct stsd_config *cfg = conf->cfg;
    struct report_body_limits lim = {
        .max_json = (size_t)cfg->max_json,
        .max_values = (size_t)cfg->max_values,
        .budget = job->budget,
    };
    struct report_error err;
    memset(&err, 0, sizeof(err));
    size_t held = 0;
    int st = report_parse_body_limited(job->raw, job->rawlen, &lim, &job->report, &held, &err);
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
             !any_hosted(conf, &job->report, list, sizeof(list)))
        reply(job, 422, 0, "no policy-domain of this report is hosted here (%s)", list);
    /* While the store is failing (the last batch did not commit) one batch at a time probes
     * it; everything else is answered at once instead of waiting out the busy timeout. */
    else if (srv_writer_failing(conf->writer) && srv_writer_queued(conf->writer) > 0)
        reply(job, 503, RETRY_STORE_FAILED, "the report store is unavailable; retry later");
    else if (srv_writer_submit(conf->writer, job) != 0)
        reply(job, 503, RETRY_QUEUE_FULL, "too many reports waiting to be stored; retry in %d s",
              RETRY_QUEUE_FULL);
    /* else the writer sends it back after the commit */
}

static void *pool_main(void *arg)
{
    struct srv_parse_pool *p = arg;
    /* Per thread on Linux: parsing yields the CPU to the event loops (policy GETs). */
    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), SRV_PARSE_NICE) != 0)
        log_event(LOG_WARN, "report.pool", "what=\"cannot lower the parse threads' priority\"");
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->head == NULL && !p->stopping)
            pthread_cond_wait(&p->cv, &p->mu);
        if (p->head == NULL)
            break;
        struct srv_job *job = p->head;
        p->head = job->next;
        if (p->head == NULL)
            p->tail = NULL;
        job->next = NULL;
        p->n_queued--;
        p->n_busy++;
        pthread_mutex_unlock(&p->mu);
        work(p->conf, job);
        pthread_mutex_lock(&p->mu);
        p->n_busy--;
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

struct srv_parse_pool *srv_parse_pool_new(int n_threads, const struct srv_intake_conf *conf)
{
    struct srv_parse_pool *p = xcalloc(1, sizeof(*p));
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->conf = conf;
    p->n_threads = n_threads > 0 ? n_threads : 1;
    p->tids = xcalloc((size_t)p->n_threads, sizeof(*p->tids));
    for (int i = 0; i < p->n_threads; i++) {
        if (pthread_create(&p->tids[i], NULL, pool_main, p) != 0)
            abort(); /* as out of memory: no thread for the intake */
        pthread_setname_np(p->tids[i], "stsd-parse");
    }
    return p;
}

void srv_parse_pool_submit(struct srv_parse_pool *p, struct srv_job *job)
{
    job->next = NULL;
    job->status = 0;
    pthread_mutex_lock(&p->mu);
    if (p->tail != NULL)
        p->tail->next = job;
    else
        p->head = job;
    p->tail = job;
    p->n_queued++;
    pthread_cond_signal(&p->cv); /* no system call when no thread waits */
    pthread_mutex_unlock(&p->mu);
}

size_t srv_parse_pool_queued(struct srv_parse_pool *p)
{
    pthread_mutex_lock(&p->mu);
    size_t n = p->n_queued + p->n_busy;
    pthread_mutex_unlock(&p->mu);
    return n;
}

void srv_parse_pool_free(struct srv_parse_pool *p)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->mu);
    p->stopping = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_threads; i++)
        pthread_join(p->tids[i], NULL);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p->tids);
    free(p);
}
