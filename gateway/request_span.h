/* request_span.h: the gateway's span of one webhook request (OTLP export). */
#ifndef GW_REQUEST_SPAN_H
#define GW_REQUEST_SPAN_H

#include <stddef.h>
#include <stdint.h>

#include "hookbus/otlp.h"
#include "receivers/receiver.h"

struct gw_request_span {
    const char *receiver;
    const char *traceparent;  /* the request's header, NULL when none */
    const struct gw_ctx *ctx; /* its span ids, when gw_ctx_finish chose them */
    unsigned status;
    const char *reason; /* why it was refused, the span's error message on 5xx */
    size_t nevents;     /* events accepted (published or spooled) */
    int64_t start_ms;   /* hb_mono_ms() when the request began */
    const char *remote;
};

/* Exports the request's span when x exports: the ids the events carry (or,
 * for a request that produced none, a child of the sender's traceparent or
 * a new trace), SERVER kind, error status on 5xx. Never blocks. */
void gw_request_span_export(struct hb_otlp *x, const struct gw_request_span *r);

#endif
