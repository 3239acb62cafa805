/* conns.h: the webhooks listener's open connections (see conns.c). */
#ifndef GW_CONNS_H
#define GW_CONNS_H

#include <microhttpd.h>
#include <stdbool.h>

#include "hookbus/metrics.h"

struct gw_conns;

/* Starts tracking (and the reaper thread) with request_timeout_ms as each
 * request's deadline. NULL with err. */
struct gw_conns *gw_conns_new(long request_timeout_ms, struct hb_metrics *metrics, char *err,
                              size_t errlen);
/* Stops the reaper and frees the list (after the daemon stopped). */
void gw_conns_free(struct gw_conns *cs);
/* libmicrohttpd's MHD_OPTION_NOTIFY_CONNECTION callback (cls: the list). */
void gw_conns_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                     enum MHD_ConnectionNotificationCode code);
/* How many connections are open. */
long gw_conns_count(struct gw_conns *cs);
/* arm: the next request on conn must be complete within the timeout;
 * false: the gateway holds the request now, no deadline. */
void gw_conns_deadline(struct gw_conns *cs, struct MHD_Connection *conn, bool arm);

#endif
