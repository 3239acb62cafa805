/* warehouses.h: hookbus-kargo's view of the cluster's Kargo Warehouses: the
 * list + watch cache of lib/ (hookbus/kube_cache.h), one thread per scope
 * (all namespaces, or each configured one), and an index from canonical
 * repository id to the subscriptions naming it. */
#ifndef KARGO_WAREHOUSES_H
#define KARGO_WAREHOUSES_H

#include <stdbool.h>
#include <stddef.h>

#include "hookbus/metrics.h"
#include "hookbus/kube_cache.h"
#include "match.h"

#define KARGO_API "/apis/kargo.akuity.io/v1alpha1"

struct wh_opts {
    char **namespaces; /* NULL / 0: all namespaces */
    size_t nnamespaces;
    const char *label_selector; /* NULL or "": none */
    long resync_ms;             /* periodic relist; 0: never */
    long watch_timeout_ms;      /* timeoutSeconds of one watch request */
    long page_size;             /* list limit per page */
};

struct wh_cache;

/* Creates the cache (nothing runs yet). k is borrowed. NULL on ENOMEM. */
struct wh_cache *wh_cache_new(struct hb_kube *k, const struct wh_opts *o, struct hb_metrics *m);
/* Starts one thread per scope. 0 or -1 with err. */
int wh_cache_start(struct wh_cache *c, char *err, size_t errlen);
/* True once every scope has been listed successfully. */
bool wh_cache_ready(struct wh_cache *c);
/* Stops and joins the threads (a watch in flight is aborted). */
void wh_cache_stop(struct wh_cache *c);
void wh_cache_free(struct wh_cache *c);

/* Calls fn for every subscription whose canonical repository is repo, under
 * the cache's read lock (fn must not call back into the cache). */
typedef void (*wh_visit_fn)(void *ud, const char *ns, const char *name,
                            const struct kargo_sub *sub);
void wh_cache_visit(struct wh_cache *c, const char *repo, wh_visit_fn fn, void *ud);

/* Applies one Warehouse object (a cJSON *) as ADDED/MODIFIED (deleted =
 * false) or DELETED. Exposed for tests; the watch threads use it. */
void wh_cache_apply(struct wh_cache *c, const void *obj, bool deleted);
size_t wh_cache_count(struct wh_cache *c);

#endif
