/* recent.h: the consumers' bounded record of recent events and what became
 * of each (the console's /api/v1/events). Private to libhookbus. */
#ifndef HOOKBUS_RECENT_H
#define HOOKBUS_RECENT_H

#include <stddef.h>
#include <stdint.h>

#include "hookbus/event.h"

struct hb_recent;

/* keep: events remembered (0: none). NULL on ENOMEM. */
struct hb_recent *hb_recent_new(long keep);
void hb_recent_free(struct hb_recent *r);
/* Records an event taken in (ev may be NULL: undecodable) with its first
 * decision. Returns its handle for hb_recent_update (0: not recorded). */
uint64_t hb_recent_add(struct hb_recent *r, const struct hb_event *ev, const char *topic,
                       int partition, long long offset, const char *decision);
/* A later decision for handle (ignored once the entry was overwritten):
 * attempts so far, error (NULL: none). Stamps the action time for acted,
 * retrying and dead_lettered. */
void hb_recent_update(struct hb_recent *r, uint64_t handle, const char *decision, int attempts,
                      const char *error);
/* The application's note about handle's event (the `detail` field). */
void hb_recent_note(struct hb_recent *r, uint64_t handle, const char *text);
/* JSON array text, newest first, optionally only one decision; at most
 * limit entries. Caller frees with cJSON_free; NULL on ENOMEM. */
char *hb_recent_list(struct hb_recent *r, const char *decision, long limit);

#endif
