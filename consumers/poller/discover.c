/* discover.c: sources found in the cluster: the repositories Kargo
 * Warehouses subscribe to (poller.discover.kargo) and the images Argo CD
 * Image Updater's ImageUpdater resources name (poller.discover.image_updater),
 * each from lib's list + watch cache (hookbus/kube_cache.h, the cache
 * hookbus-kargo's Warehouse view is). Each object compiles into the keys of
 * the sources it names; the sources are reference counted (pl_loop_ref /
 * pl_loop_unref), so a repository many objects name is polled once, and one
 * no object names any more is dropped. Discovered sources are polled without
 * credentials: list a private repository under poller.sources (with
 * credentials), which takes precedence. */
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
#define PL_IU_API "/apis/argocd-image-updater.argoproj.io/v1alpha1"

struct pl_discovery {
    struct hb_kube_section sec;
    bool kargo, image_updater;
    struct hb_kube *kube;
    struct hb_kube_cache *warehouses, *image_updaters;
};

/* A compiled object: the keys of the sources it holds a reference on. */
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

/* Takes a reference on the source of kind at url for w. */
static void add_ref(struct wh_refs *w, enum pl_kind kind, const char *url, const char *chart)
{
    char key[HB_REPO_ID_MAX + 8];
    char **nk = realloc(w->keys, (w->n + 1) * sizeof(*nk));
    if (!nk)
        return;
    w->keys = nk;
    if (pl_loop_ref(w->p, kind, url, chart, key, sizeof(key)) < 0)
        return;
    if (!(w->keys[w->n] = strdup(key))) {
        pl_loop_unref(w->p, key);
        return;
    }
    w->n++;
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
    if (!url) {
        HB_LOG(HB_LOG_WARN, "warehouse subscription not polled", HB_S("namespace", ns),
               HB_S("warehouse", name), HB_S("reason", "no repoURL"));
        return;
    }
    add_ref(w, kind, url, chart);
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
    cJSON_ArrayForEach (s, subs) {
        add_sub(w, s, ns, name);
    }
    return w;
}

int pl_image_name_repo(const char *image_name, char *out, size_t outlen)
{
    size_t n = strcspn(image_name, "@");
    if (n >= outlen || n == 0)
        return -1;
    memcpy(out, image_name, n);
    out[n] = '\0';
    char *slash = strrchr(out, '/');
    char *colon = strrchr(slash ? slash : out, ':');
    if (colon)
        *colon = '\0';
    return *out ? 0 : -1;
}

/* An ImageUpdater: spec.applicationRefs[].images[].imageName, each without
 * its version constraint or digest. */
static void *iu_compile(void *ud, const void *json, const char *ns, const char *name,
                        struct hb_kube_keys *keys)
{
    (void)keys;
    const cJSON *refs = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive((const cJSON *)json, "spec"), "applicationRefs");
    struct wh_refs *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->p = ud;
    const cJSON *ref, *img;
    cJSON_ArrayForEach (ref, refs) {
        cJSON_ArrayForEach (img, cJSON_GetObjectItemCaseSensitive(ref, "images")) {
            const char *in = str_at(img, "imageName");
            char repo[HB_REPO_ID_MAX];
            if (!in || pl_image_name_repo(in, repo, sizeof(repo)) < 0) {
                HB_LOG(HB_LOG_WARN, "image updater image not polled", HB_S("namespace", ns),
                       HB_S("imageupdater", name), HB_S("reason", "no imageName"));
                continue;
            }
            add_ref(w, PL_IMAGE, repo, NULL);
        }
    }
    return w;
}

int pl_discovery_configure(struct pl_poller *p, const struct hb_config *cfg, bool kargo,
                           bool image_updater, char *err, size_t errlen)
{
    const struct hb_node *node;
    if (!(p->discovery = calloc(1, sizeof(*p->discovery)))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    p->discovery->kargo = kargo;
    p->discovery->image_updater = image_updater;
    return hb_kube_section_load(cfg, "kube", &p->discovery->sec, &node, err, errlen);
}

/* The list + watch of one resource, started. NULL with err. */
static struct hb_kube_cache *
watch(struct pl_poller *p, const char *api, const char *plural,
      void *(*compile)(void *, const void *, const char *, const char *, struct hb_kube_keys *),
      const char *metric_labels, struct hb_metrics *m, char *err, size_t errlen)
{
    struct pl_discovery *d = p->discovery;
    struct hb_kube_cache_opts o = hb_kube_section_cache_opts(&d->sec, api, plural);
    o.compile = compile;
    o.release = wh_release;
    o.ud = p;
    o.metric_objects = "hookbus_poller_discovery_objects";
    o.metric_lists = "hookbus_poller_discovery_lists_total";
    o.metric_errors = "hookbus_poller_discovery_watch_errors_total";
    o.metric_labels = metric_labels;
    struct hb_kube_cache *c = hb_kube_cache_new(d->kube, &o, m);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    char nss[256];
    hb_kube_section_namespaces(&d->sec, nss, sizeof(nss));
    HB_LOG(HB_LOG_INFO, "discovering", HB_S("resource", plural),
           HB_S("cluster", hb_kube_cluster(d->kube)), HB_S("namespaces", nss));
    if (hb_kube_cache_start(c, err, errlen) < 0) {
        hb_kube_cache_free(c);
        return NULL;
    }
    return c;
}

int pl_discovery_start(struct pl_poller *p, struct hb_metrics *m, char *err, size_t errlen)
{
    struct pl_discovery *d = p->discovery;
    if (!(d->kube = hb_kube_section_client(&d->sec, "kube", err, errlen)))
        return -1;
    if (d->kargo && !(d->warehouses = watch(p, PL_KARGO_API, "warehouses", wh_compile,
                                            "resource=\"warehouses\"", m, err, errlen)))
        return -1;
    if (d->image_updater &&
        !(d->image_updaters = watch(p, PL_IU_API, "imageupdaters", iu_compile,
                                    "resource=\"imageupdaters\"", m, err, errlen)))
        return -1;
    return 0;
}

bool pl_discovery_ready(struct pl_poller *p)
{
    struct pl_discovery *d = p->discovery;
    if (!d)
        return true;
    return (!d->kargo || (d->warehouses && hb_kube_cache_ready(d->warehouses))) &&
           (!d->image_updater || (d->image_updaters && hb_kube_cache_ready(d->image_updaters)));
}

void pl_discovery_free(struct pl_poller *p)
{
    struct pl_discovery *d = p->discovery;
    if (!d)
        return;
    struct hb_kube_cache *caches[] = {d->warehouses, d->image_updaters};
    for (size_t i = 0; i < HB_ARRAY_LEN(caches); i++)
        if (caches[i]) {
            hb_kube_cache_stop(caches[i]);
            hb_kube_cache_free(caches[i]);
        }
    hb_kube_free(d->kube);
    hb_kube_section_free(&d->sec);
    free(d);
    p->discovery = NULL;
}
