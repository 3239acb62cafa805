/* roundtrip.h: the invariant every decoder driver checks on success. */
#ifndef FUZZ_ROUNDTRIP_H
#define FUZZ_ROUNDTRIP_H

#include "hookbus/event.h"

/* Aborts unless ev validates and decode(encode(ev)) in each Kafka mode gives
 * the same attributes (name, value, type) and the same data bytes. */
void fuzz_check_roundtrip(const struct hb_event *ev);

#endif
