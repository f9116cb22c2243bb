/* intake.c - the report intake module of stsd serve: parse pool, writer thread, rate limiter,
 * memory budget, handlers. */
#include "server/intake_int.h"
#include "server/server_int.h"
#include "common/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reports stored per transaction: large enough that the commit cost is shared (SQLite in WAL
 * mode stores ~66k rows/s batched but commits only ~4k transactions/s with fsync), small
 * enough that a batch commits in milliseconds. */
#define BATCH_CAP 512

struct intake {
    struct srv_writer *writer;
    struct srv_ratelimit *ratelimit;
    struct srv_parse_pool *pool;
    struct report_budget budget;
    struct srv_intake_conf conf; /* the pool's; the handlers have copies */
};

static int module_idx = -1;
static struct srv *the_srv; /* for is_hosted, which has no other way to reach it */

/* On the parse pool's threads: srv_domain_hosted reads the current snapshot safely there. */
static int is_hosted(const char *domain)
{
    return srv_domain_hosted(the_srv, domain);
}

static struct srv_intake_thread *this_thread(void)
{
    return srv_current()->module_data[module_idx];
}

static int intake_init(struct srv *s, int idx, char *err, size_t errlen)
{
    const struct stsd_config *cfg = s->cfg;
    module_idx = idx;
    /* Over HTTP/1.1 h2o answers 413 itself to a body past max_request_entity_size, but over
     * HTTP/2 (h2o 2.2.5) it resets the stream with REFUSED_STREAM, which senders take as
     * "retry". So h2o's cap is above max_body and this handler answers 413 for a body
     * between the two; over HTTP/2, h2guard.c keeps h2o below the cap whatever the size. */
    if (s->globalconf.max_request_entity_size < srv__h2_entity_cap(cfg->max_body))
        s->globalconf.max_request_entity_size = (size_t)srv__h2_entity_cap(cfg->max_body);

    struct intake *in = xcalloc(1, sizeof(*in));
    char e[512];
    in->writer = srv_writer_new(s->db_path, cfg->queue, BATCH_CAP, e, sizeof(e));
    if (in->writer == NULL) {
        snprintf(err, errlen, "report intake: %s", e);
        free(in);
        return -1;
    }
    srv_writer_set_limits(in->writer, cfg->max_detail_rows, cfg->keep, cfg->min_free);
    if (cfg->rate_per_sec > 0)
        in->ratelimit = srv_ratelimit_new(cfg->rate_per_sec, cfg->rate_exempt, cfg->n_rate_exempt);
    s->module_state[idx] = in;

    /* The cap on the bytes of every report in flight, from its arrival to its answer:
     * bodies, inflated text, jansson trees, parsed reports waiting for the writer. */
    report_budget_init(&in->budget, (size_t)cfg->parse_memory);
    the_srv = s;
    in->conf = (struct srv_intake_conf){
        .cfg = cfg,
        .writer = in->writer,
        .ratelimit = in->ratelimit,
        .budget = &in->budget,
        .is_hosted = is_hosted,
        .thread = this_thread,
    };
    /* As many parse threads as loop threads: at nice +10 they use the CPU the loops leave. */
    in->pool = srv_parse_pool_new(s->n_threads, &in->conf);
    in->conf.pool = in->pool;
    for (size_t i = 0; i < cfg->n_report_paths; i++)
        srv_report_register(srv_public_path(s, cfg->report_paths[i]), &in->conf);
    return 0;
}

static void intake_thread_start(struct srv_thread *t, int idx)
{
    struct srv_intake_thread *it = xcalloc(1, sizeof(*it));
    srv_intake_thread_init(it, t->ctx.queue);
    t->module_data[idx] = it;
}

static void intake_thread_stop(struct srv_thread *t, int idx)
{
    struct srv_intake_thread *it = t->module_data[idx];
    if (it == NULL)
        return;
    srv_intake_thread_stop(it, t->loop); /* returns once every job of the thread is back */
    free(it);
    t->module_data[idx] = NULL;
}

static void intake_fini(struct srv *s, int idx)
{
    struct intake *in = s->module_state[idx];
    if (in == NULL)
        return;
    /* Every loop thread has exited, after every job it queued came back: the pool and the
     * writer are idle. */
    srv_parse_pool_free(in->pool);
    srv_writer_free(in->writer);
    srv_ratelimit_free(in->ratelimit);
    free(in);
    s->module_state[idx] = NULL;
}

const struct srv_module srv_report_module = {
    .name = "reports",
    .init = intake_init,
    .thread_start = intake_thread_start,
    .thread_stop = intake_thread_stop,
    .fini = intake_fini,
};
