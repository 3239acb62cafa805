/* request_span.c: the gateway's span of one webhook request, exported over
 * OTLP/HTTP (hookbus/otlp.h) when tracing.otlp_endpoint is set. Its ids are
 * the ones gw_ctx_finish stamped on the events (so the consumers' action
 * spans are its children); the parent is the sender's traceparent when the
 * request continued the sender's trace. */
#include "request_span.h"

#include <stdbool.h>
#include <string.h>

#include "hookbus/trace.h"
#include "hookbus/util.h"

static bool all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

/* The request's span context into out. 0, or -1 (no randomness). */
static int span_context(const struct gw_request_span *r, struct hb_trace *out)
{
    struct hb_trace in;
    bool have_in = r->traceparent && hb_trace_parse(r->traceparent, &in) == 0;
    const struct gw_ctx *c = r->ctx;
    if (!c || all_zero(c->span_id, sizeof(c->span_id)))
        return have_in ? hb_trace_child(&in, out) : hb_trace_new(out);
    memset(out, 0, sizeof(*out));
    hb_hex_encode(c->span_trace_id, sizeof(c->span_trace_id), out->trace_id);
    hb_hex_encode(c->span_id, sizeof(c->span_id), out->span_id);
    out->flags = HB_TRACE_SAMPLED;
    if (have_in && strcmp(in.trace_id, out->trace_id) == 0) {
        hb_strlcpy(out->parent_id, in.span_id, sizeof(out->parent_id));
        out->flags = in.flags;
    }
    return 0;
}

void gw_request_span_export(struct hb_otlp *x, const struct gw_request_span *r)
{
    if (!hb_otlp_enabled(x))
        return;
    struct hb_trace t;
    if (span_context(r, &t) < 0)
        return;
    /* The start in wall-clock time: now minus the (monotonic) duration. */
    int64_t now = hb_unix_ns(), elapsed_ms = hb_mono_ms() - r->start_ms;
    struct hb_span s;
    hb_span_init(&s, &t, "POST /webhooks/{receiver}", HB_SPAN_SERVER,
                 now - (elapsed_ms > 0 ? elapsed_ms : 0) * 1000000);
    hb_span_attr_str(&s, "http.request.method", "POST");
    hb_span_attr_str(&s, "http.route", "/webhooks/{receiver}");
    hb_span_attr_int(&s, "http.response.status_code", r->status);
    hb_span_attr_str(&s, "hookbus.receiver", r->receiver);
    hb_span_attr_int(&s, "hookbus.events", (int64_t)r->nevents);
    hb_span_attr_str(&s, "client.address", r->remote);
    if (r->status >= 400 && r->reason)
        hb_span_attr_str(&s, "hookbus.reason", r->reason);
    hb_span_end(&s, now, r->status >= 500, r->reason);
    hb_otlp_emit(x, &s);
}
