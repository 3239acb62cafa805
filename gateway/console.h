/* console.h: the gateway console's routes (/api/v1/..., /ui/) on admin_listen. */
#ifndef GW_CONSOLE_H
#define GW_CONSOLE_H

#include <microhttpd.h>
#include <stdbool.h>

#include "deliveries.h"
#include "gateway.h"

/* What a console request works with; cfg is a configuration generation the
 * caller holds for the request's duration. */
struct gw_console_env {
    struct gw_deliveries *deliveries;
    struct gw_producer *producer;
    struct gw_spool *spool;
    const struct gw_config *cfg;
};

/* Serves url when it is a console route (*handled), else leaves it to the
 * caller. Every route needs "Authorization: Bearer <admin.token>" when a
 * token is configured. */
enum MHD_Result gw_console_serve(const struct gw_console_env *env, struct MHD_Connection *conn,
                                 const char *url, const char *method, bool *handled);

/* The embedded page (gateway/ui/console.html, generated into C). */
extern const char gw_console_html[];

#endif
