/* metrics.c: the gateway's per-receiver metrics, named in one table.
 *
 * Each receiver's counters are looked up by name and labels on first use
 * (so /metrics shows only series that counted something) and then cached in
 * the receiver's struct gw_receiver_metrics, instead of on every request.
 * The caches live in a configuration generation; the series belong to the
 * registry and outlive every generation. Two threads may both miss: the
 * registry hands both the same series. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "hookbus/util.h"
#include "metrics.h"

static const struct {
    const char *name, *help;
} named[GW_METRIC_COUNT] = {
    [GW_METRIC_PUBLISHED] = {"hookbus_gateway_events_published_total",
                             "Events acknowledged by Kafka"},
    [GW_METRIC_BYTES] = {"hookbus_gateway_request_bytes_total", "Request body bytes received"},
    [GW_METRIC_AUTH_FAILURES] = {"hookbus_gateway_auth_failures_total",
                                 "Requests refused as unauthenticated"},
};
#define REQUESTS_NAME "hookbus_gateway_requests_total"
#define REQUESTS_HELP "Webhook requests by receiver and status"

/* The codes a receiver's route answers; any other is looked up each time. */
static const unsigned codes[] = {200, 202, 400, 401, 403, 405, 413, 415, 429, 500, 503};
#define NCODES (sizeof(codes) / sizeof(codes[0]))

struct gw_receiver_metrics {
    _Atomic(struct hb_counter *) named[GW_METRIC_COUNT];
    _Atomic(struct hb_counter *) requests[NCODES]; /* same index as codes */
};

struct gw_receiver_metrics *gw_metrics_receivers_new(size_t nreceivers)
{
    return calloc(nreceivers ? nreceivers : 1, sizeof(struct gw_receiver_metrics));
}

void gw_metrics_receivers_free(struct gw_receiver_metrics *rm)
{
    free(rm);
}

struct gw_receiver_metrics *gw_metrics_receiver_at(struct gw_receiver_metrics *rm, size_t i)
{
    return &rm[i];
}

/* receiver="NAME" and, when code is not 0, ,code="CODE". */
static void receiver_labels(char *out, size_t outlen, const char *receiver, unsigned code)
{
    char esc[96];
    if (hb_metrics_label_escape(receiver, esc, sizeof(esc)) < 0)
        hb_strlcpy(esc, "?", sizeof(esc));
    if (code)
        snprintf(out, outlen, "receiver=\"%s\",code=\"%u\"", esc, code);
    else
        snprintf(out, outlen, "receiver=\"%s\"", esc);
}

/* Adds n to the counter cached in *slot (NULL: none), which is the series
 * metric{receiver labels}. */
static void cached_add(_Atomic(struct hb_counter *) *slot, struct hb_metrics *m, const char *metric,
                       const char *help, const char *receiver, unsigned code, uint64_t n)
{
    struct hb_counter *c = slot ? atomic_load_explicit(slot, memory_order_acquire) : NULL;
    if (!c) {
        char labels[160];
        receiver_labels(labels, sizeof(labels), receiver, code);
        c = hb_metrics_counter(m, metric, help, labels);
        if (slot)
            atomic_store_explicit(slot, c, memory_order_release);
    }
    hb_counter_add(c, n);
}

void gw_metrics_add(struct hb_metrics *m, const struct gw_receiver *rcv, enum gw_metric which,
                    uint64_t n)
{
    cached_add(rcv->metrics ? &rcv->metrics->named[which] : NULL, m, named[which].name,
               named[which].help, rcv->name, 0, n);
}

void gw_metrics_add_by_name(struct hb_metrics *m, const char *receiver, enum gw_metric which,
                            uint64_t n)
{
    cached_add(NULL, m, named[which].name, named[which].help, receiver, 0, n);
}

void gw_metrics_request(struct hb_metrics *m, const struct gw_receiver *rcv, unsigned status)
{
    _Atomic(struct hb_counter *) *slot = NULL;
    for (size_t i = 0; rcv && rcv->metrics && i < NCODES; i++)
        if (codes[i] == status) {
            slot = &rcv->metrics->requests[i];
            break;
        }
    cached_add(slot, m, REQUESTS_NAME, REQUESTS_HELP, rcv ? rcv->name : "-", status, 1);
}
