/* metrics.h: the gateway's per-receiver metrics (see metrics.c). */
#ifndef GW_METRICS_H
#define GW_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "hookbus/metrics.h"
#include "receivers/receiver.h"

/* The counters every receiver has, besides requests by status. */
enum gw_metric {
    GW_METRIC_PUBLISHED,     /* events acknowledged by Kafka */
    GW_METRIC_BYTES,         /* request body bytes received */
    GW_METRIC_AUTH_FAILURES, /* requests refused as unauthenticated */
    GW_METRIC_COUNT
};

/* One cache per receiver of a configuration generation: NULL on ENOMEM.
 * gw_metrics_receivers_free frees it (the series stay in the registry). */
struct gw_receiver_metrics *gw_metrics_receivers_new(size_t nreceivers);
void gw_metrics_receivers_free(struct gw_receiver_metrics *rm);
/* Receiver i's cache (hang it off struct gw_receiver's ->metrics). */
struct gw_receiver_metrics *gw_metrics_receiver_at(struct gw_receiver_metrics *rm, size_t i);

/* Adds n to a receiver's counter (rcv->metrics caches the series). */
void gw_metrics_add(struct hb_metrics *m, const struct gw_receiver *rcv, enum gw_metric which,
                    uint64_t n);
/* The same for a receiver known only by name (the spool's replay, whose
 * records outlive configuration generations): the series is looked up. */
void gw_metrics_add_by_name(struct hb_metrics *m, const char *receiver, enum gw_metric which,
                            uint64_t n);
/* Counts one answered webhook request by receiver and status; rcv NULL: a
 * request that matched no receiver (receiver="-"). */
void gw_metrics_request(struct hb_metrics *m, const struct gw_receiver *rcv, unsigned status);

#endif
