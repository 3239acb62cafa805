/* hookbus/event_lookup.h: exposes a struct hb_event to CESQL and filters. */
#ifndef HOOKBUS_EVENT_LOOKUP_H
#define HOOKBUS_EVENT_LOOKUP_H

#include "hookbus/cesql.h"
#include "hookbus/event.h"

/* An hb_cesql_lookup_fn over a const struct hb_event * (ctx): Integer and
 * Boolean attributes keep their types, all others are strings. */
int hb_event_lookup(void *ctx, const char *name, struct hb_cesql_value *out);

#endif
