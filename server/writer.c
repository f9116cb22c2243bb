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
    atomic_int stopping;
    atomic_int failing;
    pthread_t tid;
    struct db *db;
    char *db_path;
    char *db_dir; /* where free space is measured */
    /* srv_writer_set_limits */
    uint64_t max_detail_rows;
    int64_t keep;      /* seconds; 0 = never prune */
    uint64_t min_free; /* bytes; 0 = never refuse */
    atomic_uint_least64_t disk_checked_ms;
    atomic_int disk_low;
    /* pruning, writer thread only: due at prune_at (CLOCK_MONOTONIC ns), then one batch
     * at a time between the intake's batches until nothing is left */
    uint64_t prune_at;
    int pruning;
    int64_t pruned_reports, pruned_rows;
    uint64_t prune_t0;
};

/* Reports deleted per pruning transaction: each may carry up to max_detail_rows detail rows,
 * so a batch holds the write lock for milliseconds, and intake batches go in between. */
#define PRUNE_BATCH 32
#define PRUNE_EVERY_NS (86400ull * 1000000000u)
#define PRUNE_RETRY_NS (3600ull * 1000000000u) /* after a failed run (a locked database) */

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
        if (d == NULL)
            d = REPORT_UNATTRIBUTED;
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++) {
            const char *e = r->policies[j].policy_domain;
            seen = strcmp(e != NULL ? e : REPORT_UNATTRIBUTED, d) == 0;
        }
        if (seen)
            continue;
        int n = snprintf(buf + o, bufsz - o, "%s%s", o ? "," : "", d);
        if (n < 0 || (size_t)n >= bufsz - o)
            break;
        o += (size_t)n;
    }
}

/* A logfmt value: bare when it needs no quotes (domain=example.com), else quoted. */
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
    else if (job->result == SRV_JOB_CONFLICT)
        log_event(LOG_WARN, "report.conflict",
                  "id=%lld conflict_of=%lld org=%s domain=%s ms=%lu source=https "
                  "what=\"another copy of this report-id with other content is stored; both are "
                  "kept\"",
                  (long long)job->id, (long long)job->conflict_of, org, domq, ms);
}

void srv_writer_prepare(struct srv_writer *w, struct srv_job *j)
{
    if (j->prepared)
        return;
    size_t merged = report_prepare_store(&j->report, w->max_detail_rows, j->digest);
    /* After the digest, which is of the report as sent. */
    report_attribute(&j->report, j->channel_domain);
    j->prepared = 1;
    if (merged > 0) {
        char org[160];
        log_event(LOG_INFO, "report.details_merged", "org=%s merged=%zu max_detail_rows=%llu",
                  log_quote(org, sizeof(org), j->report.organization_name), merged,
                  (unsigned long long)w->max_detail_rows);
    }
}

/* Digest and merge what the parse pool did not, before the transaction, so that the write
 * lock is not held for work that needs no database. */
static void prepare_batch(struct srv_writer *w, struct srv_job *batch)
{
    for (struct srv_job *j = batch; j != NULL; j = j->next)
        srv_writer_prepare(w, j);
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
        struct db_store_result res;
        struct db_report_origin o = {.source = "https", .received = j->received};
        if (db_report_store(w->db, &j->report, j->digest, j->raw, j->rawlen, &o, &res) != 0) {
            char org[160];
            log_event(LOG_ERROR, "report.store_failed", "stage=insert org=%s error=\"%s\"",
                      log_quote(org, sizeof(org), j->report.organization_name), db_errmsg(w->db));
            j->result = SRV_JOB_FAILED;
            continue;
        }
        j->id = res.id;
        j->conflict_of = res.conflict_of;
        j->result = res.outcome == DB_STORE_DUPLICATE  ? SRV_JOB_DUPLICATE
                    : res.outcome == DB_STORE_CONFLICT ? SRV_JOB_CONFLICT
                                                       : SRV_JOB_STORED;
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

/* One pruning transaction ([reports] keep): reports whose end-datetime is older than keep.
 * Called on the writer thread without the queue lock; logs once a run is over. */
static void prune_step(struct srv_writer *w)
{
    if (!w->pruning) {
        w->pruning = 1;
        w->pruned_reports = w->pruned_rows = 0;
        w->prune_t0 = mono_ns();
    }
    int64_t cutoff = (int64_t)time(NULL) - w->keep, n = 0, rows = 0;
    int rc = db_report_prune(w->db, cutoff, PRUNE_BATCH, &n, &rows);
    w->pruned_reports += n;
    w->pruned_rows += rows;
    if (rc == 0 && n > 0)
        return;
    if (rc != 0)
        log_event(LOG_ERROR, "reports.prune_failed",
                  "error=\"%s\" reports=%lld rows=%lld what=\"pruning is tried again in an hour\"",
                  db_errmsg(w->db), (long long)w->pruned_reports, (long long)w->pruned_rows);
    else
        log_event(LOG_INFO, "reports.pruned", "reports=%lld rows=%lld keep_days=%lld ms=%llu",
                  (long long)w->pruned_reports, (long long)w->pruned_rows,
                  (long long)(w->keep / 86400),
                  (unsigned long long)((mono_ns() - w->prune_t0) / 1000000u));
    if (w->pruned_reports > 0)
        srv_metrics_reload(); /* the /metrics sums still hold what was deleted */
    w->pruning = 0;
    w->prune_at = mono_ns() + (rc != 0 ? PRUNE_RETRY_NS : PRUNE_EVERY_NS);
}

static int prune_due(const struct srv_writer *w)
{
    return w->keep > 0 && (w->pruning || mono_ns() >= w->prune_at);
}

/* Wait for jobs, or until pruning is due. Called with w->mu held. */
static void wait_for_work(struct srv_writer *w)
{
    while (w->head == NULL && !w->stopping && !prune_due(w)) {
        if (w->keep <= 0) {
            pthread_cond_wait(&w->cv, &w->mu);
            continue;
        }
        struct timespec ts = {.tv_sec = (time_t)(w->prune_at / 1000000000u),
                              .tv_nsec = (long)(w->prune_at % 1000000000u)};
        pthread_cond_timedwait(&w->cv, &w->mu, &ts);
    }
}

static void *writer_main(void *arg)
{
    struct srv_writer *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        wait_for_work(w);
        if (w->head == NULL && w->stopping)
            break; /* stopping, and everything queued has been stored */
        if (w->head == NULL) {
            pthread_mutex_unlock(&w->mu);
            prune_step(w);
            pthread_mutex_lock(&w->mu);
            continue;
        }
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
        prepare_batch(w, batch);
        store_batch(w, batch);
        pthread_mutex_lock(&w->mu);
        w->n_busy = 0;
        pthread_mutex_unlock(&w->mu);
        send_replies(batch);
        if (prune_due(w))
            prune_step(w); /* a steady intake does not starve pruning, nor wait for all of it */
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
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* prune_at is a CLOCK_MONOTONIC time */
    pthread_cond_init(&w->cv, &ca);
    pthread_condattr_destroy(&ca);
    w->max_detail_rows = 1000;
    w->keep = 0; /* until srv_writer_set_limits */
    atomic_init(&w->disk_checked_ms, 0);
    atomic_init(&w->disk_low, 0);
    w->cap = queue_cap ? queue_cap : 1;
    w->batch_cap = batch_cap ? batch_cap : 1;
    w->db = db;
    w->db_path = xstrdup(db_path);
    const char *slash = strrchr(db_path, '/');
    w->db_dir = slash == NULL      ? xstrdup(".")
                : slash == db_path ? xstrdup("/")
                                   : xstrndup(db_path, (size_t)(slash - db_path));
    atomic_init(&w->failing, 0);
    if (pthread_create(&w->tid, NULL, writer_main, w) != 0) {
        snprintf(err, errlen, "cannot start the writer thread");
        db_close(db);
        free(w->db_path);
        free(w->db_dir);
        free(w);
        return NULL;
    }
    return w;
}

int srv_writer_submit(struct srv_writer *w, struct srv_job *job)
{
    job->next = NULL; /* also when refused */
    job->result = SRV_JOB_PENDING;
    pthread_mutex_lock(&w->mu);
    if (w->stopping || w->n_queued >= w->cap) {
        pthread_mutex_unlock(&w->mu);
        return -1;
    }
    srv__jobs_append(&w->head, &w->tail, job);
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

void srv_writer_set_limits(struct srv_writer *w, uint64_t max_detail_rows, int64_t keep,
                           uint64_t min_free)
{
    pthread_mutex_lock(&w->mu);
    w->max_detail_rows = max_detail_rows;
    w->keep = keep > 0 ? keep : 0;
    w->min_free = min_free;
    w->prune_at = mono_ns(); /* the first run at start */
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

int srv_writer_disk_low(struct srv_writer *w)
{
    if (w->min_free == 0)
        return 0;
    /* statvfs at most once a second, by whichever loop thread comes first */
    uint64_t now = mono_ns() / 1000000u, last = atomic_load(&w->disk_checked_ms);
    if (now - last < 1000 || !atomic_compare_exchange_strong(&w->disk_checked_ms, &last, now))
        return atomic_load(&w->disk_low);
    uint64_t avail = 0;
    int low = fs_free_bytes(w->db_dir, &avail) == 0 && avail < w->min_free;
    if (atomic_exchange(&w->disk_low, low) != low) {
        if (low)
            log_event(LOG_WARN, "disk.low",
                      "dir=%s free=%llu min_free=%llu what=\"reports are answered 503 until "
                      "space is freed or [reports] min_free lowered\"",
                      w->db_dir, (unsigned long long)avail, (unsigned long long)w->min_free);
        else
            log_event(LOG_INFO, "disk.ok", "dir=%s free=%llu min_free=%llu", w->db_dir,
                      (unsigned long long)avail, (unsigned long long)w->min_free);
    }
    return low;
}

void srv_writer_free(struct srv_writer *w)
{
    if (w == NULL)
        return;
    srv__threads_end(&w->mu, &w->stopping, &w->cv, NULL, &w->tid, 1);
    db_close(w->db);
    free(w->db_path);
    free(w->db_dir);
    free(w);
}
