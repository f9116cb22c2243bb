/* acme_stats.c - counters of the ACME scheduler's orders, read by /metrics and the dashboard. */
#include "server/server_int.h"

#include <stdatomic.h>
#include <string.h>

static atomic_uint_fast64_t orders[8];
static atomic_int in_flight, in_flight_max, enabled;

void srv_acme_count_order(int status)
{
    if (status >= 0 && status < 8)
        atomic_fetch_add(&orders[status], 1);
}

void srv_acme_inflight(int delta)
{
    int now = atomic_fetch_add(&in_flight, delta) + delta;
    int max = atomic_load(&in_flight_max);
    while (now > max && !atomic_compare_exchange_weak(&in_flight_max, &max, now))
        ;
}

void srv_acme_set_enabled(int on)
{
    atomic_store(&enabled, on);
}

void srv_acme_stats(struct srv_acme_stats *out)
{
    memset(out, 0, sizeof(*out));
    for (int i = 0; i < 8; i++)
        out->orders[i] = atomic_load(&orders[i]);
    out->in_flight = atomic_load(&in_flight);
    out->in_flight_max = atomic_load(&in_flight_max);
    out->enabled = atomic_load(&enabled);
}
