/*
 * intake_int.h - report intake over HTTPS (RFC 8460 §5.4), shared between the
 * files of server/ only: the POST handler (handler_report.c), the writer thread that owns
 * the database connection (writer.c) and the per-address rate limiter (ratelimit.c).
 *
 * How a report travels: a loop thread checks what costs nothing (method, rate limit, size,
 * media type), reserves the body's bytes in the parse budget, copies the body into a
 * srv_job and hands it to the parse pool (parse_pool.c) without answering. A pool thread
 * (for large bodies one at a lower scheduling priority than the loops) inflates, pre-scans,
 * parses and validates it within the budget (report_parse_body_limited) and checks
 * accept = hosted; a job that fails there goes straight back to its loop thread with an HTTP
 * status, one that passes goes into the writer's queue. The writer thread takes everything
 * queued (up to a batch cap), stores it in one transaction, commits, and sends each job back
 * to the receiver of the loop thread that queued it (h2o_multithread_send_message); that
 * thread answers
 * 201/200/4xx/503 and frees the job, giving its bytes back to the budget. So the event
 * loops never run zlib, jansson or SQLite, and every report in flight, from its arrival to
 * its answer, is bounded in bytes by [reports] parse_memory.
 */
#ifndef STSD_SERVER_INTAKE_INT_H
#define STSD_SERVER_INTAKE_INT_H

#include <h2o.h>
#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "reports/reports.h"

/* Retry-After values (seconds) of the intake's 503 answers. */
#define RETRY_QUEUE_FULL 1    /* the writer drains a full queue in well under that */
#define RETRY_BUDGET 1        /* reports in flight give their bytes back about that fast */
#define RETRY_STORE_FAILED 30 /* a locked or failing database needs a person */

/* ---------------------------------------------------------------- ratelimit.c */

/*
 * A token bucket per client address (rate r/s, burst 10 r), shared by all loop threads
 * (one mutex, a short critical section). The table is a fixed array of slots, so memory is
 * bounded whatever the number of addresses: an unknown address takes the least recently
 * used slot of its set (sets are chosen by a hash keyed per process). A new address, or one
 * evicted that way, starts with one second's worth of tokens (at least 1), not the burst.
 */
struct srv_ratelimit;
#define SRV_RATELIMIT_BURST 10.0
#define SRV_RATELIMIT_SLOTS 16384 /* 16384 * 48 bytes = 768 KiB */

/* rate_per_sec <= 0 disables the limit (every call allows). `exempt` is not copied: it must
 * outlive the limiter. */
struct srv_ratelimit *srv_ratelimit_new(double rate_per_sec, const struct cfg_cidr *exempt,
                                        size_t n_exempt);
void srv_ratelimit_free(struct srv_ratelimit *rl); /* NULL is a no-op */
/*
 * Take one token for the address `sa` at time `now_ms` (a monotonic clock in ms).
 * Returns 0 when the request may go on, else the number of seconds (>= 1) after which a
 * token will be there (the Retry-After value). Exempt addresses always get 0.
 */
int srv_ratelimit_take(struct srv_ratelimit *rl, const struct sockaddr *sa, uint64_t now_ms);

/* ---------------------------------------------------------------- writer.c */

enum srv_job_result {
    SRV_JOB_PENDING = 0,
    SRV_JOB_STORED,    /* committed: 201 */
    SRV_JOB_DUPLICATE, /* already stored: 200 */
    SRV_JOB_CONFLICT,  /* stored, a copy with other content is stored too: 201 conflict */
    SRV_JOB_FAILED,    /* the store failed or the commit did: 503 */
};

struct srv_job_pending;

/* One report on its way to the database and back. Allocated by the loop thread, owned by the
 * parse pool, then the writer, while queued, given back through `reply`, freed by the loop
 * thread (srv_job_free, after giving `held` back to the budget). */
struct srv_job {
    h2o_multithread_message_t super; /* the link used to send it back */
    struct srv_job *next;            /* parse pool queue, then writer queue */
    h2o_multithread_receiver_t *reply;
    /* the parse budget and the bytes of it this job holds (the body, then the report) */
    struct report_budget *budget;
    size_t held;
    /* set by the parse pool when the report goes no further than the pool: the status to
     * answer (400, 413, 422, 503), its Retry-After (0 = none) and the error message */
    int status;
    int retry_after;
    char error[600];
    struct report report;
    char *raw; /* the body exactly as received (gzip or JSON), malloc'd */
    size_t rawlen;
    int64_t received; /* unix time */
    /* the <domain> of the mta-sts.<domain> the report was posted to (Host or :authority), ""
     * for any other name or an IP: report_attribute gives it to policies that name none */
    char channel_domain[254];
    uint64_t t0_ns; /* when the body arrived (CLOCK_MONOTONIC), for the log line */
    /* written by the writer thread before the job is sent back */
    enum srv_job_result result;
    int64_t id;
    int64_t conflict_of;                     /* SRV_JOB_CONFLICT: the first stored copy */
    unsigned char digest[REPORT_DIGEST_LEN]; /* of the report as parsed, before merging */
    /* 1 when report_prepare_store already ran on `report` (digest set, failure details
     * merged), e.g. off the writer thread; else the writer runs it */
    int prepared;
    /* loop thread only: the request waiting for this job, NULL once the client went away */
    struct srv_job_pending *pending;
};

struct srv_writer;

/*
 * Open the database at db_path (running migrations) and start the writer thread. At most
 * `queue_cap` jobs wait at a time; up to `batch_cap` are stored per transaction.
 * NULL with a message in err when the database cannot be opened.
 */
struct srv_writer *srv_writer_new(const char *db_path, size_t queue_cap, size_t batch_cap,
                                  char *err, size_t errlen);
/*
 * Queue a job (ownership passes to the writer until it comes back through job->reply).
 * -1 when the queue is full or the writer is stopping: the caller keeps the job and answers
 * 503. Thread-safe.
 */
int srv_writer_submit(struct srv_writer *w, struct srv_job *job);
/* Jobs queued or being stored right now. Thread-safe. */
size_t srv_writer_queued(struct srv_writer *w);
/* 1 while the last batch failed to commit (the store is unavailable). */
int srv_writer_failing(struct srv_writer *w);
/*
 * The store's limits ([reports] max_detail_rows, keep, min_free), set once after
 * srv_writer_new. Reports past `keep` seconds (by end-datetime; 0 = never) are pruned now
 * and then daily, a small batch at a time on the writer thread between the intake's batches.
 */
void srv_writer_set_limits(struct srv_writer *w, uint64_t max_detail_rows, int64_t keep,
                           uint64_t min_free);
/* Digest the job's report and merge its failure details past max_detail_rows
 * (report_prepare_store), logging report.details_merged; a no-op once done. Any thread that
 * owns the job: the parse pool calls it so that the writer, which stores serially, does not. */
void srv_writer_prepare(struct srv_writer *w, struct srv_job *job);
/* 1 while the database's file system has less than min_free bytes free (statvfs at most once
 * a second; logs disk.low / disk.ok when that changes). Thread-safe. */
int srv_writer_disk_low(struct srv_writer *w);
/*
 * Stop: refuse new jobs, store and commit everything queued, send it back, then end the
 * thread and close the database. The loop threads must keep running until the replies are
 * handled (see srv_intake_inflight). NULL is a no-op.
 */
void srv_writer_free(struct srv_writer *w);
/* Release a job's report and raw bytes and the job. */
void srv_job_free(struct srv_job *job);
/* Append job to the queue *head..*tail (parse_pool.c; the caller holds the queue's lock). */
void srv__jobs_append(struct srv_job **head, struct srv_job **tail, struct srv_job *job);

/* ---------------------------------------------------------------- parse_pool.c */

struct srv_parse_pool;
struct srv_intake_conf;
/*
 * Start n_threads (at least 1) quick parse threads at normal priority, for reports of up to
 * REPORT_BODY_QUICK bytes of JSON, and as many for larger ones at nice +SRV_PARSE_NICE, so
 * that the event loops (policy GETs) win the CPU over expensive bodies (a value bomb is a
 * large one: the quick thread passes it on after inflating 64 KiB of it). `conf` is not
 * copied: it must outlive the pool.
 */
#define SRV_PARSE_NICE 10
struct srv_parse_pool *srv_parse_pool_new(int n_threads, const struct srv_intake_conf *conf);
/* Queue a job (ownership passes to the pool; it comes back through job->reply, or goes on to
 * the writer and comes back from there). Any thread. */
void srv_parse_pool_submit(struct srv_parse_pool *p, struct srv_job *job);
/* Jobs queued or being parsed right now. Any thread. */
size_t srv_parse_pool_queued(struct srv_parse_pool *p);
/* Stop the threads once the queue is empty (the loop threads waited for every job before
 * this: see srv_intake_thread_stop). NULL is a no-op. */
void srv_parse_pool_free(struct srv_parse_pool *p);

/* ---------------------------------------------------------------- handler_report.c */

/* Per loop thread: where the writer sends finished jobs back, and how many are out. */
struct srv_intake_thread {
    h2o_multithread_receiver_t receiver;
    size_t outstanding; /* jobs queued by this thread and not back yet (loop thread only) */
};

/* What the report handler and the parse pool need from the rest of the server. */
struct srv_intake_conf {
    const struct stsd_config *cfg; /* max_body, max_json, max_values, accept_any; outlives
                                      the handler */
    struct srv_writer *writer;
    struct srv_ratelimit *ratelimit; /* NULL = no limit */
    struct srv_parse_pool *pool;
    struct report_budget *budget; /* [reports] parse_memory; NULL = unbounded */
    /* accept = hosted: 1 if `domain` (lowercase, no trailing dot) is a hosted domain. Called
     * on parse pool threads (any thread). NULL = every domain is accepted. */
    int (*is_hosted)(const char *domain);
    /* The calling loop thread's srv_intake_thread. */
    struct srv_intake_thread *(*thread)(void);
};

/* Register the POST handler on a path (one call per [reports] path). `conf` is copied. */
h2o_handler_t *srv_report_register(h2o_pathconf_t *pathconf, const struct srv_intake_conf *conf);
/* Set up / tear down a loop thread's receiver (on that thread; ctx->queue of its context).
 * srv_intake_thread_stop first runs the loop until every job of the thread came back from the
 * parse pool and the writer (both always send every job back), however long that takes: a
 * database that hangs is ended by the second SIGTERM. Only then is the receiver unregistered,
 * so nothing is ever sent to a receiver that is gone. */
void srv_intake_thread_init(struct srv_intake_thread *t, h2o_multithread_queue_t *queue);
void srv_intake_thread_stop(struct srv_intake_thread *t, h2o_evloop_t *loop);
/* Reports accepted by the handlers and not answered yet (being parsed, queued, being stored,
 * or stored and waiting for their loop thread). Thread-safe. */
size_t srv_intake_inflight(void);

/* ---------------------------------------------------------------- intake.c */

/* The server module (server_int.h extension point) that wires the above into stsd serve. */
struct srv_module;
extern const struct srv_module srv_report_module;

#endif
