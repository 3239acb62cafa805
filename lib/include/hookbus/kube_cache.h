/* kube_cache.h: a list + watch cache of one Kubernetes resource (Kargo
 * Warehouses, Argo CD Applications, Flux GitRepositories, ...), indexed by
 * keys the consumer derives from each object, usually canonical repository
 * ids (hookbus/repo.h), so an event finds the objects naming its repository
 * without scanning the cluster's view.
 *
 * One thread per scope (all namespaces, or each configured namespace) lists
 * the resource page by page, then watches from the list's resourceVersion
 * with bookmarks, resumes from the last version seen when a watch ends,
 * lists again on 410 Gone and every resync interval. An object is compiled
 * by the consumer's callback once per spec (uid + generation, plus the
 * values of the annotations the consumer names), not on every change of its
 * status or of the annotations hookbus itself writes. */
#ifndef HOOKBUS_KUBE_CACHE_H
#define HOOKBUS_KUBE_CACHE_H

#include <stdbool.h>
#include <stddef.h>

#include "hookbus/kube.h"
#include "hookbus/metrics.h"

/* The keys a compiled object is indexed under, filled by the compile
 * callback. slot is the consumer's own number for the part of the object
 * the key came from (a subscription, a source), handed back on a visit. */
struct hb_kube_keys;
/* Adds key (copied). 0, or -1 on ENOMEM or past HB_KUBE_MAX_KEYS. */
int hb_kube_keys_add(struct hb_kube_keys *k, const char *key, size_t slot);
#define HB_KUBE_MAX_KEYS 1024

struct hb_kube_cache_opts {
    const char *api;      /* "/apis/GROUP/VERSION" */
    const char *resource; /* the plural: "warehouses" (also in log messages) */
    char **namespaces;    /* NULL / 0: all namespaces (borrowed) */
    size_t nnamespaces;
    const char *label_selector; /* NULL or "": none */
    long resync_ms;             /* periodic relist; 0: never */
    long watch_timeout_ms;      /* timeoutSeconds of one watch request */
    long page_size;             /* list limit per page */
    /* Annotations whose value is part of what compile reads: a change of
     * one recompiles the object (annotations do not bump the generation).
     * NULL-terminated, or NULL. */
    const char *const *version_annotations;
    /* Added for Kargo Promotions (append-only): compile reads the status
     * too, so every change (resourceVersion) recompiles the object. */
    bool every_change;

    /* Compiles obj (a cJSON * with metadata.namespace and .name) into the
     * consumer's value, adding its index keys to keys. NULL: the object is
     * kept out of the index (compile logs why). The cache owns the value
     * and frees it with release. Called from the watch threads. */
    void *(*compile)(void *ud, const void *obj, const char *ns, const char *name,
                     struct hb_kube_keys *keys);
    void (*release)(void *ud, void *value);
    void *ud;

    /* Metric names (NULL: not registered) and the labels of all three
     * ("resource=\"applications\"", or NULL). */
    const char *metric_objects, *metric_lists, *metric_errors, *metric_labels;
};

struct hb_kube_cache;

/* Creates the cache (nothing runs yet). k is borrowed, o copied (its
 * strings borrowed). NULL on ENOMEM. */
struct hb_kube_cache *hb_kube_cache_new(struct hb_kube *k, const struct hb_kube_cache_opts *o,
                                        struct hb_metrics *m);
/* Starts one thread per scope. 0 or -1 with err. */
int hb_kube_cache_start(struct hb_kube_cache *c, char *err, size_t errlen);
/* True once every scope has been listed successfully. */
bool hb_kube_cache_ready(struct hb_kube_cache *c);
/* Stops and joins the threads (a watch in flight is aborted). */
void hb_kube_cache_stop(struct hb_kube_cache *c);
void hb_kube_cache_free(struct hb_kube_cache *c);

/* Calls fn for every (object, slot) indexed under key, under the cache's
 * read lock (fn must not call back into the cache). An object indexed twice
 * under the same key (two sources of one repository) is visited twice. */
typedef void (*hb_kube_visit_fn)(void *ud, const char *ns, const char *name, const void *value,
                                 size_t slot);
void hb_kube_cache_visit(struct hb_kube_cache *c, const char *key, hb_kube_visit_fn fn, void *ud);

/* Calls fn for every object with its index keys, under the cache's read
 * lock (fn must not call back into the cache). For listings (a console). */
typedef void (*hb_kube_each_fn)(void *ud, const char *ns, const char *name, const void *value,
                                const char *const *keys, size_t nkeys);
void hb_kube_cache_each(struct hb_kube_cache *c, hb_kube_each_fn fn, void *ud);

/* Applies one object (a cJSON *) as ADDED/MODIFIED (deleted = false) or
 * DELETED. Exposed for tests; the watch threads use it. */
void hb_kube_cache_apply(struct hb_kube_cache *c, const void *obj, bool deleted);
size_t hb_kube_cache_count(struct hb_kube_cache *c);
const char *hb_kube_cache_resource(const struct hb_kube_cache *c);

#endif
