/* budget.h: a byte budget shared by every connection: the bodies held
 * before their request is authenticated (see budget.c). */
#ifndef GW_BUDGET_H
#define GW_BUDGET_H

#include <stdatomic.h>
#include <stdbool.h>

#include "hookbus/metrics.h"

struct gw_budget {
    atomic_llong used;
    long long cap; /* 0: unlimited */
    struct hb_gauge *gauge;
};

/* cap bytes at most (0: unlimited); the gauge is registered in metrics. */
void gw_budget_init(struct gw_budget *b, long long cap, struct hb_metrics *metrics);
/* Takes n bytes; false (nothing taken) when they would exceed the cap. */
bool gw_budget_take(struct gw_budget *b, long long n);
/* Gives back n bytes taken before. */
void gw_budget_give(struct gw_budget *b, long long n);

#endif
