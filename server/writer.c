/* writer.c - the thread that owns the database connection and stores queued reports in batches. */
#include "server/intake_int.h"
#include "server/server_int.h"
#include "common/common.h"
#include "sql/db.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct srv_writer {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct srv_job *head, *tail; /* waiting jobs, oldest first */
    size_t n_queued;             /* jobs in the list */
    size_t n_busy;               /* jobs of the batch being stored */
    size_t cap, batch_cap;
    int stopping;
    atomic_int failing;
    pthread_t tid;
    struct db *db;
    char *db_path;
};

void srv_job_free(struct srv_job *job)
{
    if (job == NULL)
        return;
    report_clear(&job->report);
    free(job->raw);
    free(job);
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The distinct policy-domains of a report, comma-separated, for the log line. */
static void report_domains(const struct report *r, char *buf, size_t bufsz)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < r->n_policies; i++) {
        const char *d = r->policies[i].policy_domain;
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcmp(r->policies[j].policy_domain, d) == 0;
        if (seen)
            continue;
        int n = snprintf(buf + o, bufsz - o, "%s%s", o ? "," : "", d);
        if (n < 0 || (size_t)n >= bufsz - o)
            break;
        o += (size_t)n;
    }
}

/* A logfmt value: bare when it needs no quotes (SPEC §8's domain=example.com), else quoted. */
static const char *log_value(char *buf, size_t bufsz, const char *v)
{
    return log_field(buf, bufsz, v);
}

static void log_result(const struct srv_job *job, uint64_t now_ns)
{
    char org[160], dom[300], domq[320];
    report_domains(&job->report, dom, sizeof(dom));
    log_value(org, sizeof(org), job->report.organization_name);
    log_value(domq, sizeof(domq), dom);
    unsigned long ms = (unsigned long)((now_ns - job->t0_ns) / 1000000u);
    if (job->result == SRV_JOB_STORED)
        log_event(LOG_INFO, "report.stored", "id=%lld org=%s domain=%s ms=%lu source=https",
                  (long long)job->id, org, domq, ms);
    else if (job->result == SRV_JOB_DUPLICATE)
        log_event(LOG_INFO, "report.duplicate", "id=%lld org=%s domain=%s ms=%lu source=https",
                  (long long)job->id, org, domq, ms);
}

/* Store a batch in one transaction. Every job leaves with a result. A report the database
 * refuses is rolled back alone (db_report_store's savepoint) and answered 503; a failed BEGIN
 * or COMMIT fails the whole batch, because nothing of it is durable. */
static void store_batch(struct srv_writer *w, struct srv_job *batch)
{
    int ok = db_begin(w->db) == 0;
    if (!ok)
        log_event(LOG_ERROR, "report.store_failed",
                  "stage=begin error=\"%s\" what=\"the database is locked or unavailable; "
                  "reports are answered 503 until it recovers\"",
                  db_errmsg(w->db));
    for (struct srv_job *j = batch; ok && j != NULL; j = j->next) {
        int64_t id = 0;
        int dup = 0;
        if (db_report_store(w->db, &j->report, j->raw, j->rawlen, "https", j->received, &id,
                            &dup) != 0) {
            char org[160];
            log_event(LOG_ERROR, "report.store_failed", "stage=insert org=%s error=\"%s\"",
                      log_quote(org, sizeof(org), j->report.organization_name), db_errmsg(w->db));
            j->result = SRV_JOB_FAILED;
            continue;
        }
        j->id = id;
        j->result = dup ? SRV_JOB_DUPLICATE : SRV_JOB_STORED;
    }
    if (ok && db_commit(w->db) != 0) {
        log_event(LOG_ERROR, "report.store_failed",
                  "stage=commit error=\"%s\" what=\"check the disk and the database file\"",
                  db_errmsg(w->db));
        db_rollback(w->db);
        ok = 0;
    }
    atomic_store(&w->failing, !ok);
    uint64_t now = mono_ns();
    for (struct srv_job *j = batch; j != NULL; j = j->next) {
        if (!ok)
            j->result = SRV_JOB_FAILED;
        if (j->result == SRV_JOB_STORED)
            srv_metrics_report_stored(&j->report, j->id);
        log_result(j, now);
    }
}

/* Give each job back to the loop thread that queued it. */
static void send_replies(struct srv_job *batch)
{
    for (struct srv_job *j = batch; j != NULL;) {
        struct srv_job *next = j->next;
        j->next = NULL;
        /* From here the job belongs to its loop thread again. */
        h2o_multithread_send_message(j->reply, &j->super);
        j = next;
    }
}

static void *writer_main(void *arg)
{
    struct srv_writer *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (w->head == NULL && !w->stopping)
            pthread_cond_wait(&w->cv, &w->mu);
        if (w->head == NULL)
            break; /* stopping, and everything queued has been stored */
        struct srv_job *batch = w->head, *last = w->head;
        size_t n = 1;
        while (n < w->batch_cap && last->next != NULL) {
            last = last->next;
            n++;
        }
        w->head = last->next;
        if (w->head == NULL)
            w->tail = NULL;
        last->next = NULL;
        w->n_queued -= n;
        w->n_busy = n;
        pthread_mutex_unlock(&w->mu);
        store_batch(w, batch);
        pthread_mutex_lock(&w->mu);
        w->n_busy = 0;
        pthread_mutex_unlock(&w->mu);
        send_replies(batch);
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

struct srv_writer *srv_writer_new(const char *db_path, size_t queue_cap, size_t batch_cap,
                                  char *err, size_t errlen)
{
    struct db *db = db_open(db_path, err, errlen);
    if (db == NULL)
        return NULL;
    struct srv_writer *w = xcalloc(1, sizeof(*w));
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->cap = queue_cap ? queue_cap : 1;
    w->batch_cap = batch_cap ? batch_cap : 1;
    w->db = db;
    w->db_path = xstrdup(db_path);
    atomic_init(&w->failing, 0);
    if (pthread_create(&w->tid, NULL, writer_main, w) != 0) {
        snprintf(err, errlen, "cannot start the writer thread");
        db_close(db);
        free(w->db_path);
        free(w);
        return NULL;
    }
    return w;
}

int srv_writer_submit(struct srv_writer *w, struct srv_job *job)
{
    job->next = NULL;
    job->result = SRV_JOB_PENDING;
    pthread_mutex_lock(&w->mu);
    if (w->stopping || w->n_queued >= w->cap) {
        pthread_mutex_unlock(&w->mu);
        return -1;
    }
    if (w->tail != NULL)
        w->tail->next = job;
    else
        w->head = job;
    w->tail = job;
    w->n_queued++;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return 0;
}

size_t srv_writer_queued(struct srv_writer *w)
{
    pthread_mutex_lock(&w->mu);
    size_t n = w->n_queued + w->n_busy;
    pthread_mutex_unlock(&w->mu);
    return n;
}

int srv_writer_failing(struct srv_writer *w)
{
    return atomic_load(&w->failing);
}

void srv_writer_free(struct srv_writer *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->mu);
    w->stopping = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->tid, NULL);
    db_close(w->db);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w->db_path);
    free(w);
}
