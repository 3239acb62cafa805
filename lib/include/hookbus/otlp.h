/* hookbus/otlp.h: span export over OTLP/HTTP with the JSON encoding, off the
 * request path.
 *
 *   struct hb_otlp *x = NULL;
 *   hb_otlp_start(&cfg.tracing, "hookbus-gateway", metrics, &x, err, sizeof(err));
 *   struct hb_span s;
 *   hb_span_init(&s, &trace, "POST /webhooks/{receiver}", HB_SPAN_SERVER, start_ns);
 *   hb_span_attr_str(&s, "hookbus.receiver", "acme-github");
 *   hb_span_end(&s, hb_unix_ns(), false, NULL);
 *   hb_otlp_emit(x, &s);                 // copies; never blocks, never fails the caller
 *   hb_otlp_stop(x);                      // one last export, at most 2 s
 *
 * hb_otlp_emit puts a copy in a bounded queue (tracing.queue_size); one
 * exporter thread POSTs batches (tracing.batch_size spans, or whatever waited
 * tracing.flush_interval) to tracing.otlp_endpoint with libcurl. A full queue
 * drops the span, a failed export drops its batch; both are counted in
 * hookbus_otlp_spans_dropped_total{reason}. With no endpoint configured
 * nothing starts and every call is a no-op on the NULL exporter. */
#ifndef HOOKBUS_OTLP_H
#define HOOKBUS_OTLP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "hookbus/config.h"
#include "hookbus/metrics.h"
#include "hookbus/trace.h"

/* The tracing.* keys, shared by the gateway and every consumer. */
struct hb_otlp_config {
    char *endpoint;     /* tracing.otlp_endpoint: "" = no export */
    char *service_name; /* tracing.service_name: "" = the program's name */
    long queue_size;    /* spans waiting for export before new ones are dropped */
    long batch_size;    /* spans per export request */
    long flush_interval_ms;
    long timeout_ms; /* one export request */
    char **headers;  /* tracing.headers as "Name: value", secrets resolved */
    size_t nheaders;
};

/* Reads tracing.* from cfg's root (marking them used). 0, or -1 with
 * "FILE:LINE: key: problem" and *out left empty. */
int hb_otlp_config_load(const struct hb_config *cfg, struct hb_otlp_config *out, char *err,
                        size_t errlen);
/* Frees what c holds and zeroes it (so a second call is harmless). */
void hb_otlp_config_free(struct hb_otlp_config *c);
/* The tracing.* entries of --help. */
void hb_otlp_config_help(FILE *out);

/* OTLP's SpanKind. */
enum hb_span_kind {
    HB_SPAN_INTERNAL = 1,
    HB_SPAN_SERVER = 2,
    HB_SPAN_CLIENT = 3,
    HB_SPAN_PRODUCER = 4,
    HB_SPAN_CONSUMER = 5,
};

#define HB_SPAN_ATTRS 8
#define HB_SPAN_ATTR_LEN 96 /* longer string values are cut */

struct hb_span_attr {
    const char *key; /* a string that outlives the span (a literal) */
    bool is_int;
    int64_t i;
    char s[HB_SPAN_ATTR_LEN];
};

/* One finished span, self-contained (copied by hb_otlp_emit). */
struct hb_span {
    struct hb_trace ctx; /* trace_id, span_id, parent_id ("" for a root) */
    char name[64];
    enum hb_span_kind kind;
    int64_t start_ns, end_ns; /* Unix time in nanoseconds */
    bool error;               /* OTLP status ERROR, else UNSET */
    char status_msg[128];
    struct hb_span_attr attrs[HB_SPAN_ATTRS];
    size_t nattrs;
};

/* Nanoseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t hb_unix_ns(void);

void hb_span_init(struct hb_span *s, const struct hb_trace *ctx, const char *name,
                  enum hb_span_kind kind, int64_t start_ns);
/* Attributes beyond HB_SPAN_ATTRS are ignored; NULL values too. */
void hb_span_attr_str(struct hb_span *s, const char *key, const char *value);
void hb_span_attr_int(struct hb_span *s, const char *key, int64_t value);
void hb_span_end(struct hb_span *s, int64_t end_ns, bool error, const char *status_msg);

/* The OTLP/HTTP JSON body (ExportTraceServiceRequest) for spans of one
 * service. Caller frees; NULL on ENOMEM. */
char *hb_otlp_encode(const char *service, const struct hb_span *spans, size_t n);

struct hb_otlp;

/* Starts the exporter when c->endpoint is set (*out = NULL otherwise);
 * registers hookbus_otlp_* in metrics. 0, or -1 with err. */
int hb_otlp_start(const struct hb_otlp_config *c, const char *default_service,
                  struct hb_metrics *metrics, struct hb_otlp **out, char *err, size_t errlen);
/* Queues a copy of s; drops it (counted) when the queue is full. A span
 * whose trace flags say not sampled is ignored. x may be NULL. */
void hb_otlp_emit(struct hb_otlp *x, const struct hb_span *s);
/* True when x exports (callers may skip building spans otherwise). */
bool hb_otlp_enabled(const struct hb_otlp *x);
/* Exports what is queued (one try, within min(tracing.timeout, 2 s); an
 * export still in flight then is aborted), stops the thread and frees x.
 * NULL is fine. */
void hb_otlp_stop(struct hb_otlp *x);

#endif
