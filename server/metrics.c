/* metrics.c - process-wide counters for /metrics: relaxed atomics, callable from any thread. */
#include "server/admin_int.h"

#include <stdatomic.h>
#include <string.h>

static _Atomic uint64_t requests[SRV_EP__N][600];
static _Atomic uint64_t reports[SRV_REPORT__N];
static _Atomic uint64_t reloads_ok, reloads_failed, webhooks_sent, webhooks_failed, checks_run;
static _Atomic int64_t policies, policies_broken;

void srv_metrics_count_request(enum srv_endpoint ep, int status)
{
    if ((int)ep < 0 || ep >= SRV_EP__N)
        ep = SRV_EP_OTHER;
    if (status < 100 || status > 599)
        status = 0;
    atomic_fetch_add_explicit(&requests[ep][status], 1, memory_order_relaxed);
}

void srv_metrics_count_report(enum srv_report_outcome o)
{
    if ((int)o < 0 || o >= SRV_REPORT__N)
        return;
    atomic_fetch_add_explicit(&reports[o], 1, memory_order_relaxed);
}

void srv_metrics_count_reload(int ok)
{
    atomic_fetch_add_explicit(ok ? &reloads_ok : &reloads_failed, 1, memory_order_relaxed);
}

void srv_metrics_set_policies(int64_t served, int64_t broken)
{
    atomic_store_explicit(&policies, served, memory_order_relaxed);
    atomic_store_explicit(&policies_broken, broken, memory_order_relaxed);
    srv__metrics_policies_changed();
}

void srv__metrics_count_webhook(int ok)
{
    atomic_fetch_add_explicit(ok ? &webhooks_sent : &webhooks_failed, 1, memory_order_relaxed);
}

void srv__metrics_count_check(void)
{
    atomic_fetch_add_explicit(&checks_run, 1, memory_order_relaxed);
}

void srv__metrics_snapshot(struct srv__metrics_snapshot *s)
{
    memset(s, 0, sizeof(*s));
    for (int e = 0; e < SRV_EP__N; e++)
        for (int st = 0; st < 600; st++)
            s->requests[e][st] = atomic_load_explicit(&requests[e][st], memory_order_relaxed);
    for (int o = 0; o < SRV_REPORT__N; o++)
        s->reports[o] = atomic_load_explicit(&reports[o], memory_order_relaxed);
    s->reloads_ok = atomic_load_explicit(&reloads_ok, memory_order_relaxed);
    s->reloads_failed = atomic_load_explicit(&reloads_failed, memory_order_relaxed);
    s->policies = atomic_load_explicit(&policies, memory_order_relaxed);
    s->policies_broken = atomic_load_explicit(&policies_broken, memory_order_relaxed);
    s->webhooks_sent = atomic_load_explicit(&webhooks_sent, memory_order_relaxed);
    s->webhooks_failed = atomic_load_explicit(&webhooks_failed, memory_order_relaxed);
    s->checks_run = atomic_load_explicit(&checks_run, memory_order_relaxed);
}

const char *srv__metrics_endpoint_name(int ep)
{
    static const char *const names[SRV_EP__N] = {"policy",    "report",  "api",
                                                 "dashboard", "metrics", "other"};
    return ep >= 0 && ep < SRV_EP__N ? names[ep] : "other";
}

const char *srv__metrics_outcome_name(int o)
{
    static const char *const names[SRV_REPORT__N] = {"stored",       "duplicate",  "invalid",
                                                     "too_large",    "media_type", "not_hosted",
                                                     "rate_limited", "unavailable"};
    return o >= 0 && o < SRV_REPORT__N ? names[o] : "unknown";
}
