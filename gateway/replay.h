/* replay.h: the Standard Webhooks replay cache: the deliveries answered 2xx
 * within their timestamp tolerance, so that an exact replay is refused
 * (see replay.c). */
#ifndef GW_REPLAY_H
#define GW_REPLAY_H

#include <stdbool.h>
#include <stddef.h>

#include "hookbus/metrics.h"
#include "receivers/receiver.h"

struct gw_replay;

/* A cache of cap entries at most (full: the oldest is evicted, counted in
 * metrics when still live). NULL when cap is 0 (off) or on ENOMEM; every
 * function below takes NULL as "off". */
struct gw_replay *gw_replay_new(size_t cap, struct hb_metrics *metrics);
void gw_replay_free(struct gw_replay *c);

/* True when (receiver, id, ts) was remembered and now is not past the
 * expiry it was remembered with. */
bool gw_replay_seen(struct gw_replay *c, const char *receiver, const char *id, const char *ts,
                    long long now);
/* Remembers (receiver, id, ts) until expires (Unix seconds). */
void gw_replay_remember(struct gw_replay *c, const char *receiver, const char *id, const char *ts,
                        long long expires, long long now);

/* The same for a request: true when req's Standard Webhooks signature was
 * checked (gw_sw_replay_key) and the delivery was remembered. */
bool gw_replay_check(struct gw_replay *c, const struct gw_receiver *r,
                     const struct gw_request *req);
/* Remembers req (answered 2xx) when its signature was checked. */
void gw_replay_note(struct gw_replay *c, const struct gw_receiver *r, const struct gw_request *req);

#endif
