/* admin.h: a small HTTP listener for /healthz, /readyz and /metrics
 * (libmicrohttpd, one internal thread). Private to libhookbus. */
#ifndef HOOKBUS_ADMIN_H
#define HOOKBUS_ADMIN_H

#include <stdbool.h>
#include <stddef.h>

#include "hookbus/metrics.h"

struct hb_admin;
/* Readiness: true, or false with a short reason in why. */
typedef bool (*hb_admin_ready_fn)(void *ud, char *why, size_t whylen);

/* Listens on "host:port" (port 0: any free port; logged as msg=listening
 * what=admin port=N). NULL with err. */
struct hb_admin *hb_admin_start(const char *addr, struct hb_metrics *metrics,
                                hb_admin_ready_fn ready, void *ud, char *err, size_t errlen);
int hb_admin_port(const struct hb_admin *a);
void hb_admin_stop(struct hb_admin *a);

#endif
