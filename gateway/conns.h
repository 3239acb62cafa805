/* conns.h: the webhooks listener's open connections (see conns.c). */
#ifndef GW_CONNS_H
#define GW_CONNS_H

#include <microhttpd.h>
#include <stdbool.h>

#include "hookbus/metrics.h"

struct gw_conns;

/* Starts tracking (and the reaper thread): a request's line and headers must
 * arrive within header_timeout_ms, the whole request within
 * request_timeout_ms; at most per_ip connections (0: no limit) from one
 * remote address are admitted, the others answered 503 at once (tls: the
 * listener speaks TLS, they are only closed). NULL with err. */
struct gw_conns *gw_conns_new(long request_timeout_ms, long header_timeout_ms, long per_ip,
                              bool tls, struct hb_metrics *metrics, char *err, size_t errlen);
/* Stops the reaper and frees the list (after the daemon stopped). */
void gw_conns_free(struct gw_conns *cs);
/* libmicrohttpd's MHD_OPTION_NOTIFY_CONNECTION callback (cls: the list). */
void gw_conns_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                     enum MHD_ConnectionNotificationCode code);
/* How many connections are open. */
long gw_conns_count(struct gw_conns *cs);
/* arm: the next request's headers must arrive within the header timeout;
 * false: the gateway holds the request now, no deadline. */
void gw_conns_deadline(struct gw_conns *cs, struct MHD_Connection *conn, bool arm);
/* The headers of a request on conn are in: the rest of it must arrive by
 * the request deadline. False when conn is past the per-address limit (it
 * is then answered 503). */
bool gw_conns_admit(struct gw_conns *cs, struct MHD_Connection *conn);

#endif
