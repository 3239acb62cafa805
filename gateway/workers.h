/* workers.h: the webhooks listener's event loops (see workers.c). */
#ifndef GW_WORKERS_H
#define GW_WORKERS_H

#include <microhttpd.h>
#include <stddef.h>

#include "gateway.h"

struct gw_workers;
struct gw_worker;

/* Starts one thread per daemon in daemons[0, n): each daemon must run in
 * external epoll mode (MHD_USE_EPOLL, no internal thread). Takes the
 * producer's delivery reports over (gw_producer_reports_take) so that the
 * workers run them. Takes ownership of the daemons in every case (stopped
 * on failure). NULL with err. */
struct gw_workers *gw_workers_start(struct MHD_Daemon *const *daemons, size_t n,
                                    struct gw_producer *producer, char *err, size_t errlen);
/* The worker whose loop runs on the calling thread; NULL on any other
 * thread. A request keeps its own to resume it (gw_worker_resumed). */
struct gw_worker *gw_worker_self(void);
/* Call after MHD_resume_connection of a connection of w, from any thread:
 * on w's own thread its daemon runs again before the loop waits, from any
 * other w is woken (libmicrohttpd's external mode has no channel to do it). */
void gw_worker_resumed(struct gw_worker *w);
/* Every worker stops accepting connections (MHD_quiesce_daemon in its own
 * loop, listening socket closed); returns once all did. Requests in flight
 * go on. */
void gw_workers_quiesce(struct gw_workers *ws);
/* Ends the loops, stops the daemons and gives the delivery reports back to
 * the producer's poll thread. NULL: nothing. */
void gw_workers_stop(struct gw_workers *ws);

#endif
