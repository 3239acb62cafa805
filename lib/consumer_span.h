/* consumer_span.h: the consumer runtime's action span (internal to lib/). */
#ifndef HB_CONSUMER_SPAN_H
#define HB_CONSUMER_SPAN_H

#include <stdint.h>

#include "hookbus/consumer.h"
#include "hookbus/otlp.h"

/* Exports one action attempt of app as a span: b->trace's ids, from
 * start_ns to now, with the outcome r and, unless done, err as the error. */
void hb_consumer_span_export(struct hb_otlp *x, const char *app, const struct hb_batch *b,
                             int64_t start_ns, enum hb_act r, const char *err);

#endif
