/* discover.c: sources found in the cluster (poller.discover.kargo): the
 * repositories Kargo Warehouses subscribe to, from lib's list + watch cache
 * (hookbus/kube_cache.h, the cache hookbus-kargo's Warehouse view is). Each
 * Warehouse compiles into the keys of the sources it names; the sources are
 * reference counted (pl_loop_ref / pl_loop_unref), so a repository many
 * Warehouses name is polled once, and one no Warehouse names any more is
 * dropped. Discovered sources are polled without credentials: list a private
 * repository under poller.sources (with credentials), which takes
 * precedence. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hookbus/kube_cache.h"
#include "hookbus/kube_consumer.h"
#include "hookbus/log.h"
#include "hookbus/util.h"
#include "poller.h"

#define PL_KARGO_API "/apis/kargo.akuity.io/v1alpha1"

struct pl_discovery {
    struct hb_kube_section sec;
    struct hb_kube *kube;
    struct hb_kube_cache *cache;
};

/* A compiled Warehouse: the keys of the sources it holds a reference on. */
struct wh_refs {
    struct pl_poller *p;
    size_t n;
    char **keys;
};

static void wh_release(void *ud, void *value)
{
    (void)ud;
    struct wh_refs *w = value;
    if (!w)
        return;
    for (size_t i = 0; i < w->n; i++) {
        pl_loop_unref(w->p, w->keys[i]);
        free(w->keys[i]);
    }
    free(w->keys);
    free(w);
}

static const char *str_at(const cJSON *o, const char *k)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

/* One subscription's source: git.repoURL, image.repoURL, chart.repoURL +
 * name (an oci:// chart is an image repository). */
static void add_sub(struct wh_refs *w, const cJSON *sub, const char *ns, const char *name)
{
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(sub, "git");
    const cJSON *i = cJSON_GetObjectItemCaseSensitive(sub, "image");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(sub, "chart");
    enum pl_kind kind;
    const char *url, *chart = NULL;
    if (g) {
        kind = PL_GIT;
        url = str_at(g, "repoURL");
    } else if (i) {
        kind = PL_IMAGE;
        url = str_at(i, "repoURL");
    } else if (c) {
        url = str_at(c, "repoURL");
        kind = url && hb_str_has_prefix(url, "oci://") ? PL_IMAGE : PL_CHART;
        chart = kind == PL_CHART ? str_at(c, "name") : NULL;
        if (kind == PL_CHART && !chart)
            url = NULL;
    } else {
        return;
    }
    char key[HB_REPO_ID_MAX + 8];
    char **nk = url ? realloc(w->keys, (w->n + 1) * sizeof(*nk)) : NULL;
    if (!url || !nk) {
        HB_LOG(HB_LOG_WARN, "warehouse subscription not polled", HB_S("namespace", ns),
               HB_S("warehouse", name), HB_S("reason", url ? "out of memory" : "no repoURL"));
        return;
    }
    w->keys = nk;
    if (pl_loop_ref(w->p, kind, url, chart, key, sizeof(key)) < 0)
        return;
    if (!(w->keys[w->n] = strdup(key))) {
        pl_loop_unref(w->p, key);
        return;
    }
    w->n++;
}

static void *wh_compile(void *ud, const void *json, const char *ns, const char *name,
                        struct hb_kube_keys *keys)
{
    (void)keys; /* nothing is looked up by key: the references are the point */
    const cJSON *subs = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive((const cJSON *)json, "spec"), "subscriptions");
    struct wh_refs *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->p = ud;
    const cJSON *s;
    cJSON_ArrayForEach(s, subs)
    {
        add_sub(w, s, ns, name);
    }
    return w;
}

int pl_discovery_configure(struct pl_poller *p, const struct hb_config *cfg, char *err,
                           size_t errlen)
{
    const struct hb_node *node;
    if (!(p->discovery = calloc(1, sizeof(*p->discovery)))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return hb_kube_section_load(cfg, "kube", &p->discovery->sec, &node, err, errlen);
}

int pl_discovery_start(struct pl_poller *p, struct hb_metrics *m, char *err, size_t errlen)
{
    struct pl_discovery *d = p->discovery;
    if (!(d->kube = hb_kube_section_client(&d->sec, "kube", err, errlen)))
        return -1;
    struct hb_kube_cache_opts o = hb_kube_section_cache_opts(&d->sec, PL_KARGO_API, "warehouses");
    o.compile = wh_compile;
    o.release = wh_release;
    o.ud = p;
    o.metric_objects = "hookbus_poller_warehouses";
    o.metric_lists = "hookbus_poller_warehouse_lists_total";
    o.metric_errors = "hookbus_poller_watch_errors_total";
    if (!(d->cache = hb_kube_cache_new(d->kube, &o, m))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    char nss[256];
    hb_kube_section_namespaces(&d->sec, nss, sizeof(nss));
    HB_LOG(HB_LOG_INFO, "discovering Kargo Warehouses", HB_S("cluster", hb_kube_cluster(d->kube)),
           HB_S("namespaces", nss));
    return hb_kube_cache_start(d->cache, err, errlen);
}

bool pl_discovery_ready(struct pl_poller *p)
{
    return !p->discovery || (p->discovery->cache && hb_kube_cache_ready(p->discovery->cache));
}

void pl_discovery_free(struct pl_poller *p)
{
    struct pl_discovery *d = p->discovery;
    if (!d)
        return;
    if (d->cache) {
        hb_kube_cache_stop(d->cache);
        hb_kube_cache_free(d->cache);
    }
    hb_kube_free(d->kube);
    hb_kube_section_free(&d->sec);
    free(d);
    p->discovery = NULL;
}
