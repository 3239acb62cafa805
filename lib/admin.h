/* admin.h: a small HTTP listener for /healthz, /readyz and /metrics
 * (libmicrohttpd, one internal thread). Private to libhookbus. */
#ifndef HOOKBUS_ADMIN_H
#define HOOKBUS_ADMIN_H

#include <stdbool.h>
#include <stddef.h>

#include "hookbus/metrics.h"
#include "hookbus/secret.h"
#include "recent.h"

struct hb_admin;
/* Readiness: true, or false with a short reason in why. */
typedef bool (*hb_admin_ready_fn)(void *ud, char *why, size_t whylen);

/* The console's data: recent events (NULL: no /api/ or /ui/) and the
 * bearer token (len 0: none; then they are served on loopback only). */
struct hb_admin_console {
    struct hb_recent *recent;
    const struct hb_secret *token;
    char *(*api)(void *ud, const char *path); /* the application's routes, or NULL */
    void *api_ud;
};

/* Listens on "host:port" (port 0: any free port; logged as msg=listening
 * what=admin port=N). console may be NULL. NULL with err. */
struct hb_admin *hb_admin_start(const char *addr, struct hb_metrics *metrics,
                                hb_admin_ready_fn ready, void *ud,
                                const struct hb_admin_console *console, char *err, size_t errlen);
/* The embedded consumer console page (lib/ui/events.html). */
extern const char hb_events_html[];
int hb_admin_port(const struct hb_admin *a);
void hb_admin_stop(struct hb_admin *a);

#endif
