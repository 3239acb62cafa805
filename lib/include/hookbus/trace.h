/* hookbus/trace.h: W3C Trace Context (traceparent / tracestate) for the
 * CloudEvents distributed tracing extension.
 *
 *   struct hb_trace in, span;
 *   if (hb_trace_parse(header, &in) == 0) hb_trace_child(&in, &span);
 *   else hb_trace_new(&span);
 *   char tp[HB_TRACEPARENT_SIZE];
 *   hb_trace_format(&span, tp);          // "00-<trace-id>-<span-id>-<flags>"
 *
 * The gateway is one span per request; a consumer's action is a child span of
 * the span an event carries. Ids come from the OpenSSL CSPRNG. */
#ifndef HOOKBUS_TRACE_H
#define HOOKBUS_TRACE_H

#include <stdbool.h>
#include <stddef.h>

#include "hookbus/event.h"

#define HB_TRACE_ID_HEX 32    /* trace-id: 16 bytes as lowercase hex */
#define HB_SPAN_ID_HEX 16     /* parent-id / span id: 8 bytes */
#define HB_TRACEPARENT_LEN 55 /* version 00 */
#define HB_TRACEPARENT_SIZE (HB_TRACEPARENT_LEN + 1)
#define HB_TRACEPARENT_MAX 512 /* longest header a future version may send */
#define HB_TRACESTATE_MAX 512  /* characters */
#define HB_TRACESTATE_MEMBERS 32
#define HB_TRACE_SAMPLED 0x01

/* One span's context: the trace it belongs to, its own id, its parent's id
 * ("" for a root span) and the trace-flags. */
struct hb_trace {
    char trace_id[HB_TRACE_ID_HEX + 1];
    char span_id[HB_SPAN_ID_HEX + 1];
    char parent_id[HB_SPAN_ID_HEX + 1];
    unsigned flags;
};

/* Parses a traceparent value strictly (version 00: exactly 55 characters;
 * a higher version: its first 55 characters, then nothing or '-'; version ff,
 * uppercase hex and all-zero ids are invalid). On success out->span_id is the
 * sender's parent-id and out->parent_id is "". 0, or -1 when invalid. */
int hb_trace_parse(const char *traceparent, struct hb_trace *out);
/* True when a tracestate value may be passed on: at most HB_TRACESTATE_MAX
 * characters and HB_TRACESTATE_MEMBERS list members, each key=value with the
 * W3C key and value syntax (empty members between commas allowed). */
bool hb_tracestate_valid(const char *tracestate);
/* A root span: new random trace id and span id, sampled. 0 or -1 (no
 * randomness). */
int hb_trace_new(struct hb_trace *out);
/* A child of parent: the same trace id and flags, a new random span id, the
 * parent's span id as parent_id. 0 or -1. */
int hb_trace_child(const struct hb_trace *parent, struct hb_trace *out);
/* Writes the version 00 traceparent of t into out[HB_TRACEPARENT_SIZE]. */
void hb_trace_format(const struct hb_trace *t, char out[HB_TRACEPARENT_SIZE]);

/* The trace id of ev's traceparent attribute into out, or "" when it has
 * none or an invalid one. Returns out (for log fields). */
const char *hb_trace_id_of(const struct hb_event *ev, char out[HB_TRACE_ID_HEX + 1]);
/* A consumer's action span for ev: a child of the event's traceparent, or a
 * new trace when the event carries none (or an invalid one). 0 or -1. */
int hb_trace_action(const struct hb_event *ev, struct hb_trace *out);

#endif
