/* warehouses.c: hookbus-kargo's view of the Kargo Warehouses, the generic
 * list + watch cache (hookbus/kube_cache.h) of warehouses.kargo.akuity.io
 * with this file's compile step: each Warehouse becomes its compiled
 * subscriptions (match.c), indexed by each subscription's canonical
 * repository id. */
#include "warehouses.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "hookbus/log.h"
#include "hookbus/util.h"

struct wh {
    struct kargo_sub *subs;
    size_t nsubs;
};

struct wh_cache {
    struct hb_kube_cache *kc;
};

static void wh_release(void *ud, void *value)
{
    (void)ud;
    struct wh *w = value;
    if (!w)
        return;
    for (size_t i = 0; i < w->nsubs; i++)
        kargo_sub_clear(&w->subs[i]);
    free(w->subs);
    free(w);
}

/* Compiles a Warehouse's subscriptions; logs its invalid rules (once per
 * version, since an unchanged version is never compiled again). */
static void *wh_compile(void *ud, const void *json, const char *ns, const char *name,
                        struct hb_kube_keys *keys)
{
    (void)ud;
    const cJSON *obj = json;
    const cJSON *subs = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(obj, "spec"), "subscriptions");
    int n = cJSON_IsArray(subs) ? cJSON_GetArraySize(subs) : 0;
    struct wh *w = calloc(1, sizeof(*w));
    if (!w || (n > 0 && !(w->subs = calloc((size_t)n, sizeof(*w->subs))))) {
        wh_release(NULL, w);
        return NULL;
    }
    const cJSON *s;
    int i = 0;
    cJSON_ArrayForEach (s, subs) {
        char err[300];
        struct kargo_sub *ks = &w->subs[w->nsubs];
        i++;
        if (kargo_sub_compile(s, ks, err, sizeof(err)) < 0) {
            kargo_sub_clear(ks);
            HB_LOG(HB_LOG_WARN, "warehouse subscription ignored", HB_S("namespace", ns),
                   HB_S("warehouse", name), HB_I("subscription", i), HB_S("reason", err));
            continue;
        }
        if (ks->invalid)
            HB_LOG(HB_LOG_WARN,
                   "warehouse subscription has an invalid rule; it will match every "
                   "event of its repository",
                   HB_S("namespace", ns), HB_S("warehouse", name), HB_I("subscription", i),
                   HB_S("repo", ks->repo_id), HB_S("reason", ks->invalid));
        (void)hb_kube_keys_add(keys, ks->repo_id, w->nsubs);
        w->nsubs++;
    }
    return w;
}

struct wh_cache *wh_cache_new(struct hb_kube *k, const struct wh_opts *o, struct hb_metrics *m)
{
    struct wh_cache *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    struct hb_kube_cache_opts ko = {
        .api = KARGO_API,
        .resource = "warehouses",
        .namespaces = o->namespaces,
        .nnamespaces = o->nnamespaces,
        .label_selector = o->label_selector,
        .resync_ms = o->resync_ms,
        .watch_timeout_ms = o->watch_timeout_ms,
        .page_size = o->page_size,
        .compile = wh_compile,
        .release = wh_release,
        .metric_objects = "hookbus_kargo_warehouses",
        .metric_lists = "hookbus_kargo_warehouse_lists_total",
        .metric_errors = "hookbus_kargo_watch_errors_total",
    };
    c->kc = hb_kube_cache_new(k, &ko, m);
    if (!c->kc) {
        free(c);
        return NULL;
    }
    return c;
}

int wh_cache_start(struct wh_cache *c, char *err, size_t errlen)
{
    return hb_kube_cache_start(c->kc, err, errlen);
}

bool wh_cache_ready(struct wh_cache *c)
{
    return hb_kube_cache_ready(c->kc);
}

void wh_cache_stop(struct wh_cache *c)
{
    hb_kube_cache_stop(c->kc);
}

void wh_cache_free(struct wh_cache *c)
{
    if (!c)
        return;
    hb_kube_cache_free(c->kc);
    free(c);
}

struct visit_ctx {
    wh_visit_fn fn;
    void *ud;
};

static void on_obj(void *ud, const char *ns, const char *name, const void *value, size_t slot)
{
    const struct visit_ctx *v = ud;
    const struct wh *w = value;
    if (w && slot < w->nsubs)
        v->fn(v->ud, ns, name, &w->subs[slot]);
}

void wh_cache_visit(struct wh_cache *c, const char *repo, wh_visit_fn fn, void *ud)
{
    struct visit_ctx v = {fn, ud};
    hb_kube_cache_visit(c->kc, repo, on_obj, &v);
}

void wh_cache_apply(struct wh_cache *c, const void *obj, bool deleted)
{
    hb_kube_cache_apply(c->kc, obj, deleted);
}

size_t wh_cache_count(struct wh_cache *c)
{
    return hb_kube_cache_count(c->kc);
}

struct listing {
    cJSON **items;
    size_t n, cap;
};

/* One Warehouse into the listing (under the cache's read lock: copies). */
static void list_one(void *ud, const char *ns, const char *name, const void *value,
                     const char *const *keys, size_t nkeys)
{
    (void)value;
    struct listing *l = ud;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        cJSON **grown = realloc(l->items, cap * sizeof(*grown));
        if (!grown)
            return;
        l->items = grown;
        l->cap = cap;
    }
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return;
    cJSON_AddStringToObject(o, "namespace", ns);
    cJSON_AddStringToObject(o, "name", name);
    cJSON *subs = cJSON_AddArrayToObject(o, "subscriptions");
    for (size_t i = 0; i < nkeys; i++)
        cJSON_AddItemToArray(subs, cJSON_CreateString(keys[i]));
    l->items[l->n++] = o;
}

static int by_ns_name(const void *a, const void *b)
{
    const cJSON *x = *(cJSON *const *)a, *y = *(cJSON *const *)b;
    int d = strcmp(cJSON_GetObjectItem(x, "namespace")->valuestring,
                   cJSON_GetObjectItem(y, "namespace")->valuestring);
    return d ? d
             : strcmp(cJSON_GetObjectItem(x, "name")->valuestring,
                      cJSON_GetObjectItem(y, "name")->valuestring);
}

char *wh_cache_json(struct wh_cache *c)
{
    struct listing l = {0};
    hb_kube_cache_each(c->kc, list_one, &l);
    if (l.n)
        qsort(l.items, l.n, sizeof(*l.items), by_ns_name);
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < l.n; i++)
        cJSON_AddItemToArray(arr, l.items[i]);
    free(l.items);
    char *printed = cJSON_PrintUnformatted(arr);
    cJSON_Delete(arr);
    char *out = printed ? strdup(printed) : NULL; /* the runtime free()s it */
    cJSON_free(printed);
    return out;
}
