/* roundtrip.h: the invariant every decoder driver checks on success. */
#ifndef FUZZ_ROUNDTRIP_H
#define FUZZ_ROUNDTRIP_H

#include "hookbus/event.h"

/* Aborts unless ev validates and decode(encode(ev)) in each Kafka mode gives
 * the same attributes (name, value, type) and the same data bytes. */
void fuzz_check_roundtrip(const struct hb_event *ev);
/* For a decoder's result: when rc is 0, checks ev as above and frees it. */
void fuzz_check_decoded(int rc, struct hb_event *ev);

#endif
