/* budget.c: the pre-authentication body budget. Each request takes the
 * bytes of its body (announced, or as chunks arrive) before holding them and
 * gives them back once it is authenticated or over: a flood of large
 * unsigned bodies holds at most the cap, and the request past it gets 503
 * with Retry-After instead of memory. Lock-free: one atomic counter. */
#include "budget.h"

void gw_budget_init(struct gw_budget *b, long long cap, struct hb_metrics *metrics)
{
    atomic_init(&b->used, 0);
    b->cap = cap;
    b->gauge = hb_metrics_gauge(metrics, "hookbus_gateway_unauthenticated_body_bytes",
                                "Body bytes held for requests not authenticated yet", NULL);
}

bool gw_budget_take(struct gw_budget *b, long long n)
{
    long long now = atomic_fetch_add(&b->used, n) + n;
    if (b->cap && now > b->cap) {
        atomic_fetch_sub(&b->used, n);
        return false;
    }
    hb_gauge_set(b->gauge, now);
    return true;
}

void gw_budget_give(struct gw_budget *b, long long n)
{
    hb_gauge_set(b->gauge, atomic_fetch_sub(&b->used, n) - n);
}
