/* consumer_span.c: the span of one action attempt of a consumer, a child of
 * the event's trace context, as the runtime exports it over OTLP (see
 * hookbus/otlp.h). The action hands the same span id on to what it calls
 * (hb_batch_trace), so the trace reads sender -> gateway -> action ->
 * target. */
#include "consumer_span.h"

#include <stdio.h>

#include "hookbus/event.h"
#include "hookbus/trace.h"

int hb_batch_trace(const struct hb_batch *b, struct hb_trace *out)
{
    if (b->trace) {
        *out = *b->trace;
        return 0;
    }
    return hb_trace_action(b->n ? b->events[b->n - 1] : NULL, out);
}

static const char *outcome_name(enum hb_act r)
{
    switch (r) {
    case HB_ACT_DONE: return "done";
    case HB_ACT_RETRY: return "retry";
    default: return "drop";
    }
}

void hb_consumer_span_export(struct hb_otlp *x, const char *app, const struct hb_batch *b,
                             int64_t start_ns, enum hb_act r, const char *err)
{
    if (!hb_otlp_enabled(x) || !b->trace)
        return;
    const struct hb_event *ev = b->n ? b->events[b->n - 1] : NULL; /* NULL: all folded */
    char name[64];
    struct hb_span s;
    snprintf(name, sizeof(name), "%s act", app);
    hb_span_init(&s, b->trace, name, HB_SPAN_CONSUMER, start_ns);
    hb_span_attr_str(&s, "hookbus.consumer", app);
    hb_span_attr_int(&s, "hookbus.events", (int64_t)(b->n + b->nfolded));
    hb_span_attr_int(&s, "hookbus.attempt", b->attempt);
    hb_span_attr_str(&s, "hookbus.outcome", outcome_name(r));
    if (ev) {
        hb_span_attr_str(&s, "cloudevents.event_id", hb_event_get(ev, "id"));
        hb_span_attr_str(&s, "cloudevents.event_type", hb_event_get(ev, "type"));
        hb_span_attr_str(&s, "cloudevents.event_source", hb_event_get(ev, "source"));
    }
    if (b->key && b->key[0])
        hb_span_attr_str(&s, "hookbus.debounce_key", b->key);
    hb_span_end(&s, hb_unix_ns(), r != HB_ACT_DONE, err);
    hb_otlp_emit(x, &s);
}
