/* warehouses.c: the Warehouse cache of hookbus-kargo.
 *
 * Each scope (all namespaces, or one configured namespace) has a thread that
 * lists Warehouses (paged), then watches from the list's resourceVersion
 * with bookmarks, resuming from the last resourceVersion seen when a watch
 * ends, relisting when the server answers 410 Gone (the version is too old)
 * and every resync interval. Warehouses are compiled into kargo_sub entries
 * (match.c) once per resourceVersion and indexed by canonical repository id,
 * so an event finds its subscriptions without scanning the cluster's view. */
#include "warehouses.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hookbus/log.h"
#include "hookbus/util.h"

#define NBUCKETS 1024u
#define MAX_PATH 2048

struct wh {
    char *ns, *name, *rv;
    char *version; /* uid + generation: what the spec's compilation depends on */
    struct kargo_sub *subs;
    size_t nsubs;
    unsigned long seen; /* list generation of its scope */
    struct wh *next;    /* bucket chain of the name map */
};

struct idx_entry {
    struct wh *wh;
    size_t sub;
    struct idx_entry *next;
};

struct scope {
    struct wh_cache *cache;
    char *ns; /* NULL: all namespaces */
    char rv[128];
    bool need_list;
    unsigned long gen;
    int64_t next_resync;
    pthread_t thread;
    bool started;
};

struct wh_cache {
    struct kube *kube;
    struct wh_opts opts;
    char *selector_q; /* "&labelSelector=..." or "" */

    pthread_rwlock_t lock; /* guards the two tables */
    struct wh *by_name[NBUCKETS];
    struct idx_entry *by_repo[NBUCKETS];
    size_t count;

    struct scope *scopes;
    size_t nscopes;
    atomic_size_t listed; /* scopes listed at least once */
    atomic_bool stop;
    pthread_mutex_t wait_lock;
    pthread_cond_t wait_cond;

    struct hb_gauge *g_count;
    struct hb_counter *c_relists, *c_watch_errors;
};

static unsigned hash2(const char *a, const char *b)
{
    return hb_fnv1a(hb_fnv1a(hb_fnv1a(HB_FNV1A_INIT, a), "/"), b) % NBUCKETS;
}

static void wh_free(struct wh *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->nsubs; i++)
        kargo_sub_clear(&w->subs[i]);
    free(w->subs);
    free(w->ns);
    free(w->name);
    free(w->rv);
    free(w->version);
    free(w);
}

/* ------------------------------------------------------------- the tables */

static struct wh **find_slot(struct wh_cache *c, const char *ns, const char *name)
{
    struct wh **pp = &c->by_name[hash2(ns, name)];
    while (*pp && !(strcmp((*pp)->ns, ns) == 0 && strcmp((*pp)->name, name) == 0))
        pp = &(*pp)->next;
    return pp;
}

static void index_remove(struct wh_cache *c, struct wh *w)
{
    for (size_t i = 0; i < w->nsubs; i++) {
        struct idx_entry **pp = &c->by_repo[hash2(w->subs[i].repo_id, NULL)];
        while (*pp) {
            if ((*pp)->wh == w) {
                struct idx_entry *dead = *pp;
                *pp = dead->next;
                free(dead);
            } else {
                pp = &(*pp)->next;
            }
        }
    }
}

static void index_add(struct wh_cache *c, struct wh *w)
{
    for (size_t i = 0; i < w->nsubs; i++) {
        struct idx_entry *e = malloc(sizeof(*e));
        if (!e)
            continue;
        unsigned b = hash2(w->subs[i].repo_id, NULL);
        e->wh = w;
        e->sub = i;
        e->next = c->by_repo[b];
        c->by_repo[b] = e;
    }
}

/* Removes (and frees) the Warehouse ns/name. Write lock held. */
static void remove_locked(struct wh_cache *c, const char *ns, const char *name)
{
    struct wh **pp = find_slot(c, ns, name);
    struct wh *old = *pp;
    if (!old)
        return;
    *pp = old->next;
    index_remove(c, old);
    wh_free(old);
    c->count--;
}

/* uid/generation: the generation changes with the spec only (not with our
 * own refresh annotation), so a Warehouse is compiled, and its invalid rules
 * logged, once per spec. Without a generation, the resourceVersion. */
static char *spec_version(const cJSON *meta)
{
    const cJSON *uid = cJSON_GetObjectItemCaseSensitive(meta, "uid");
    const cJSON *gen = cJSON_GetObjectItemCaseSensitive(meta, "generation");
    const cJSON *rv = cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion");
    char buf[300];
    if (cJSON_IsNumber(gen))
        (void)hb_snprintf(buf, sizeof(buf), "%.200s/%.0f", cJSON_IsString(uid) ? uid->valuestring : "",
                          gen->valuedouble);
    else
        (void)hb_snprintf(buf, sizeof(buf), "rv/%.200s", cJSON_IsString(rv) ? rv->valuestring : "");
    return strdup(buf);
}

/* Compiles a Warehouse object; logs its invalid rules (once per version,
 * since an unchanged version is never compiled again). NULL when it has no
 * name or on ENOMEM. */
static struct wh *wh_compile(const cJSON *obj)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const cJSON *ns = cJSON_GetObjectItemCaseSensitive(meta, "namespace");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(meta, "name");
    const cJSON *rv = cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion");
    if (!cJSON_IsString(ns) || !cJSON_IsString(name))
        return NULL;
    struct wh *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->ns = strdup(ns->valuestring);
    w->name = strdup(name->valuestring);
    w->rv = strdup(cJSON_IsString(rv) ? rv->valuestring : "");
    w->version = spec_version(meta);
    const cJSON *subs = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(obj, "spec"), "subscriptions");
    int n = cJSON_IsArray(subs) ? cJSON_GetArraySize(subs) : 0;
    if (!w->ns || !w->name || !w->rv || !w->version || (n > 0 && !(w->subs = calloc((size_t)n, sizeof(*w->subs))))) {
        wh_free(w);
        return NULL;
    }
    const cJSON *s;
    int i = 0;
    cJSON_ArrayForEach(s, subs)
    {
        char err[300];
        struct kargo_sub *ks = &w->subs[w->nsubs];
        i++;
        if (kargo_sub_compile(s, ks, err, sizeof(err)) < 0) {
            kargo_sub_clear(ks);
            HB_LOG(HB_LOG_WARN, "warehouse subscription ignored", HB_S("namespace", w->ns),
                   HB_S("warehouse", w->name), HB_I("subscription", i), HB_S("reason", err));
            continue;
        }
        if (ks->invalid)
            HB_LOG(HB_LOG_WARN, "warehouse subscription has an invalid rule; it will match every "
                   "event of its repository",
                   HB_S("namespace", w->ns), HB_S("warehouse", w->name),
                   HB_I("subscription", i), HB_S("repo", ks->repo_id),
                   HB_S("reason", ks->invalid));
        w->nsubs++;
    }
    return w;
}

static void apply_object(struct wh_cache *c, const cJSON *obj, bool deleted,
                              unsigned long gen)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const cJSON *ns = cJSON_GetObjectItemCaseSensitive(meta, "namespace");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(meta, "name");
    const cJSON *rv = cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion");
    if (!cJSON_IsString(ns) || !cJSON_IsString(name))
        return;
    if (deleted) {
        pthread_rwlock_wrlock(&c->lock);
        remove_locked(c, ns->valuestring, name->valuestring);
        pthread_rwlock_unlock(&c->lock);
        HB_LOG(HB_LOG_DEBUG, "warehouse deleted", HB_S("namespace", ns->valuestring),
               HB_S("warehouse", name->valuestring));
        hb_gauge_set(c->g_count, (int64_t)wh_cache_count(c));
        return;
    }
    /* The same spec as the one compiled: only note the version and mark it seen. */
    char *version = spec_version(meta);
    pthread_rwlock_wrlock(&c->lock);
    struct wh *cur = *find_slot(c, ns->valuestring, name->valuestring);
    if (cur && version && strcmp(cur->version, version) == 0) {
        char *nrv = cJSON_IsString(rv) ? strdup(rv->valuestring) : NULL;
        if (nrv) {
            free(cur->rv);
            cur->rv = nrv;
        }
        cur->seen = gen;
        pthread_rwlock_unlock(&c->lock);
        free(version);
        return;
    }
    pthread_rwlock_unlock(&c->lock);
    free(version);

    struct wh *w = wh_compile(obj);
    if (!w)
        return;
    w->seen = gen;
    pthread_rwlock_wrlock(&c->lock);
    remove_locked(c, w->ns, w->name);
    struct wh **slot = find_slot(c, w->ns, w->name);
    *slot = w;
    index_add(c, w);
    c->count++;
    pthread_rwlock_unlock(&c->lock);
    HB_LOG(HB_LOG_DEBUG, "warehouse updated", HB_S("namespace", w->ns), HB_S("warehouse", w->name),
           HB_S("resource_version", w->rv), HB_I("subscriptions", w->nsubs));
    hb_gauge_set(c->g_count, (int64_t)wh_cache_count(c));
}

void wh_cache_apply(struct wh_cache *c, const void *obj, bool deleted)
{
    apply_object(c, obj, deleted, 0);
}

size_t wh_cache_count(struct wh_cache *c)
{
    pthread_rwlock_rdlock(&c->lock);
    size_t n = c->count;
    pthread_rwlock_unlock(&c->lock);
    return n;
}

void wh_cache_visit(struct wh_cache *c, const char *repo, wh_visit_fn fn, void *ud)
{
    pthread_rwlock_rdlock(&c->lock);
    for (struct idx_entry *e = c->by_repo[hash2(repo, NULL)]; e; e = e->next) {
        const struct kargo_sub *s = &e->wh->subs[e->sub];
        if (strcmp(s->repo_id, repo) == 0)
            fn(ud, e->wh->ns, e->wh->name, s);
    }
    pthread_rwlock_unlock(&c->lock);
}

/* Drops the Warehouses of scope s that the list of generation gen did not
 * return (deleted while we were not watching). */
static void sweep(struct wh_cache *c, const struct scope *s, unsigned long gen)
{
    pthread_rwlock_wrlock(&c->lock);
    for (unsigned b = 0; b < NBUCKETS; b++) {
        struct wh **pp = &c->by_name[b];
        while (*pp) {
            struct wh *w = *pp;
            if ((!s->ns || strcmp(s->ns, w->ns) == 0) && w->seen != gen) {
                *pp = w->next;
                index_remove(c, w);
                HB_LOG(HB_LOG_DEBUG, "warehouse gone", HB_S("namespace", w->ns),
                       HB_S("warehouse", w->name));
                wh_free(w);
                c->count--;
            } else {
                pp = &w->next;
            }
        }
    }
    pthread_rwlock_unlock(&c->lock);
    hb_gauge_set(c->g_count, (int64_t)wh_cache_count(c));
}

/* ------------------------------------------------------------- list/watch */

static int scope_path(const struct scope *s, char *out, size_t outlen)
{
    if (s->ns)
        return hb_snprintf(out, outlen, KARGO_API "/namespaces/%s/warehouses", s->ns);
    return hb_snprintf(out, outlen, KARGO_API "/warehouses");
}

/* Lists scope s page by page and replaces its part of the cache. 0, 410
 * (a continue token expired: list again), or -1 with err. */
static int list_scope(struct scope *s, char *err, size_t errlen)
{
    struct wh_cache *c = s->cache;
    char base[MAX_PATH], path[MAX_PATH * 2];
    char *cont = NULL;
    int rc = -1;
    unsigned long gen = ++s->gen;
    bool first = true;
    if (scope_path(s, base, sizeof(base)) < 0)
        return -1;
    do {
        char *escaped = cont ? curl_easy_escape(NULL, cont, 0) : NULL;
        if (hb_snprintf(path, sizeof(path), "%s?limit=%ld%s%s%s", base, c->opts.page_size,
                        c->selector_q, escaped ? "&continue=" : "", escaped ? escaped : "") < 0) {
            curl_free(escaped);
            (void)hb_snprintf(err, errlen, "list path too long");
            goto out;
        }
        curl_free(escaped);
        free(cont);
        cont = NULL;
        char *body = NULL;
        int status = kube_request(c->kube, "GET", path, NULL, NULL, &body, NULL, err, errlen);
        if (status != 200) {
            free(body);
            rc = status == 410 ? 410 : -1;
            if (status > 0 && status != 410 && status < 400)
                (void)hb_snprintf(err, errlen, "cluster %s: GET %s: HTTP %d",
                                  kube_cluster(c->kube), path, status);
            goto out;
        }
        cJSON *list = cJSON_Parse(body);
        free(body);
        const cJSON *meta = cJSON_GetObjectItemCaseSensitive(list, "metadata");
        const cJSON *items = cJSON_GetObjectItemCaseSensitive(list, "items");
        if (!cJSON_IsArray(items)) {
            cJSON_Delete(list);
            (void)hb_snprintf(err, errlen, "cluster %s: GET %s: not a list",
                              kube_cluster(c->kube), path);
            goto out;
        }
        const cJSON *rv = cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion");
        if (first && cJSON_IsString(rv))
            hb_strlcpy(s->rv, rv->valuestring, sizeof(s->rv));
        first = false;
        const cJSON *it;
        cJSON_ArrayForEach(it, items)
        {
            apply_object(c, it, false, gen);
        }
        const cJSON *ct = cJSON_GetObjectItemCaseSensitive(meta, "continue");
        if (cJSON_IsString(ct) && ct->valuestring[0])
            cont = strdup(ct->valuestring);
        cJSON_Delete(list);
    } while (cont && !atomic_load(&c->stop));
    if (atomic_load(&c->stop))
        goto out;
    sweep(c, s, gen);
    rc = 0;
out:
    free(cont);
    return rc;
}

struct watch_ctx {
    struct scope *s;
    size_t lines;
    bool gone; /* an ERROR event with code 410 */
    char err[300];
};

static int on_watch_line(void *ud, const char *line, size_t len)
{
    struct watch_ctx *w = ud;
    struct wh_cache *c = w->s->cache;
    w->lines++;
    cJSON *ev = cJSON_ParseWithLength(line, len);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(ev, "type");
    const cJSON *obj = cJSON_GetObjectItemCaseSensitive(ev, "object");
    int rc = 0;
    if (!cJSON_IsString(type) || !cJSON_IsObject(obj)) {
        (void)hb_snprintf(w->err, sizeof(w->err), "malformed watch event");
        rc = 1;
        goto out;
    }
    const char *t = type->valuestring;
    if (strcmp(t, "ERROR") == 0) {
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(obj, "code");
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(obj, "message");
        w->gone = cJSON_IsNumber(code) && code->valueint == 410;
        (void)hb_snprintf(w->err, sizeof(w->err), "watch error %d: %.200s",
                          cJSON_IsNumber(code) ? code->valueint : 0,
                          cJSON_IsString(msg) ? msg->valuestring : "");
        rc = 1;
        goto out;
    }
    const cJSON *rv = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "resourceVersion");
    if (strcmp(t, "ADDED") == 0 || strcmp(t, "MODIFIED") == 0)
        apply_object(c, obj, false, w->s->gen);
    else if (strcmp(t, "DELETED") == 0)
        apply_object(c, obj, true, w->s->gen);
    else if (strcmp(t, "BOOKMARK") != 0)
        goto out; /* unknown types are skipped */
    if (cJSON_IsString(rv) && rv->valuestring[0])
        hb_strlcpy(w->s->rv, rv->valuestring, sizeof(w->s->rv));
out:
    cJSON_Delete(ev);
    return rc;
}

/* Sleeps up to ms unless the cache is stopping. */
static void pause_ms(struct wh_cache *c, long ms)
{
    struct timespec ts;
    hb_realtime_after_ms(ms, &ts);
    pthread_mutex_lock(&c->wait_lock);
    while (!atomic_load(&c->stop))
        if (pthread_cond_timedwait(&c->wait_cond, &c->wait_lock, &ts) != 0)
            break;
    pthread_mutex_unlock(&c->wait_lock);
}

static void *scope_main(void *arg)
{
    struct scope *s = arg;
    struct wh_cache *c = s->cache;
    long backoff = 500;
    int64_t listed_at = 0;
    bool listed_once = false;
    const char *scope_name = s->ns ? s->ns : "(all namespaces)";
    while (!atomic_load(&c->stop)) {
        char err[600] = "";
        int64_t now = hb_mono_ms();
        if (s->need_list || (c->opts.resync_ms > 0 && now >= s->next_resync)) {
            int rc = list_scope(s, err, sizeof(err));
            if (atomic_load(&c->stop))
                break;
            if (rc != 0) {
                hb_counter_add(c->c_watch_errors, 1);
                HB_LOG(HB_LOG_WARN, "listing warehouses failed", HB_S("namespace", scope_name),
                       HB_S("error", err), HB_I("retry_ms", backoff));
                if (rc != 410)
                    pause_ms(c, backoff);
                backoff = backoff * 2 > 30000 ? 30000 : backoff * 2;
                continue;
            }
            hb_counter_add(c->c_relists, 1);
            s->need_list = false;
            listed_at = hb_mono_ms();
            s->next_resync = listed_at + c->opts.resync_ms;
            HB_LOG(HB_LOG_INFO, "warehouses listed", HB_S("namespace", scope_name),
                   HB_S("resource_version", s->rv), HB_I("warehouses", wh_cache_count(c)));
            if (!listed_once) {
                listed_once = true;
                atomic_fetch_add(&c->listed, 1);
            }
        }
        /* Watch until the next resync is due (or the watch timeout). */
        long tmo = c->opts.watch_timeout_ms;
        if (c->opts.resync_ms > 0) {
            int64_t left = s->next_resync - hb_mono_ms();
            if (left < tmo)
                tmo = left < 1000 ? 1000 : (long)left;
        }
        char base[MAX_PATH], path[MAX_PATH * 2];
        if (scope_path(s, base, sizeof(base)) < 0 ||
            hb_snprintf(path, sizeof(path),
                        "%s?watch=true&allowWatchBookmarks=true&resourceVersion=%s"
                        "&timeoutSeconds=%ld%s",
                        base, s->rv, (tmo + 999) / 1000, c->selector_q) < 0) {
            s->need_list = true;
            pause_ms(c, backoff);
            continue;
        }
        struct watch_ctx w = {.s = s};
        int64_t began = hb_mono_ms();
        int status = kube_watch(c->kube, path, tmo + 30000, on_watch_line, &w, &c->stop, err,
                                sizeof(err));
        if (atomic_load(&c->stop))
            break;
        if (status == 410 || w.gone) {
            HB_LOG(HB_LOG_INFO, "watch expired, listing again", HB_S("namespace", scope_name),
                   HB_S("resource_version", s->rv));
            s->need_list = true;
            if (hb_mono_ms() - listed_at < 1000) { /* gone right after a list: slow down */
                pause_ms(c, backoff);
                backoff = backoff * 2 > 30000 ? 30000 : backoff * 2;
            }
            continue;
        }
        if (status == 200 && !w.err[0]) {
            /* The server ended the watch: resume from s->rv, at once unless
             * it ended an empty watch right away (a proxy cutting streams). */
            if (!w.lines && hb_mono_ms() - began < 1000) {
                pause_ms(c, backoff);
                backoff = backoff * 2 > 30000 ? 30000 : backoff * 2;
            } else {
                backoff = 500;
            }
            continue;
        }
        hb_counter_add(c->c_watch_errors, 1);
        HB_LOG(HB_LOG_WARN, "watching warehouses failed", HB_S("namespace", scope_name),
               HB_S("error", w.err[0] ? w.err : err), HB_I("retry_ms", backoff));
        if (w.err[0])
            s->need_list = true; /* a malformed or error event: start over */
        pause_ms(c, backoff);
        backoff = backoff * 2 > 30000 ? 30000 : backoff * 2;
    }
    return NULL;
}

/* ---------------------------------------------------------------- lifecycle */

struct wh_cache *wh_cache_new(struct kube *k, const struct wh_opts *o, struct hb_metrics *m)
{
    struct wh_cache *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->kube = k;
    c->opts = *o;
    if (c->opts.watch_timeout_ms <= 0)
        c->opts.watch_timeout_ms = 300000;
    if (c->opts.page_size <= 0)
        c->opts.page_size = 500;
    pthread_rwlock_init(&c->lock, NULL);
    pthread_mutex_init(&c->wait_lock, NULL);
    pthread_cond_init(&c->wait_cond, NULL);
    if (o->label_selector && o->label_selector[0]) {
        char *e = curl_easy_escape(NULL, o->label_selector, 0);
        struct hb_buf b;
        hb_buf_init(&b, 4096);
        if (e)
            hb_buf_printf(&b, "&labelSelector=%s", e);
        curl_free(e);
        c->selector_q = hb_buf_steal(&b);
    } else {
        c->selector_q = strdup("");
    }
    c->nscopes = o->nnamespaces ? o->nnamespaces : 1;
    c->scopes = calloc(c->nscopes, sizeof(*c->scopes));
    if (!c->selector_q || !c->scopes) {
        wh_cache_free(c);
        return NULL;
    }
    for (size_t i = 0; i < c->nscopes; i++) {
        c->scopes[i].cache = c;
        c->scopes[i].need_list = true;
        c->scopes[i].ns = o->nnamespaces ? o->namespaces[i] : NULL;
    }
    if (m) {
        c->g_count = hb_metrics_gauge(m, "hookbus_kargo_warehouses",
                                      "Warehouses in hookbus-kargo's view of the cluster", NULL);
        c->c_relists = hb_metrics_counter(m, "hookbus_kargo_warehouse_lists_total",
                                          "Complete lists of Warehouses (start, 410, resync)",
                                          NULL);
        c->c_watch_errors = hb_metrics_counter(m, "hookbus_kargo_watch_errors_total",
                                               "Failed Warehouse lists or watches", NULL);
    }
    return c;
}

int wh_cache_start(struct wh_cache *c, char *err, size_t errlen)
{
    for (size_t i = 0; i < c->nscopes; i++) {
        if (pthread_create(&c->scopes[i].thread, NULL, scope_main, &c->scopes[i]) != 0) {
            (void)hb_snprintf(err, errlen, "cannot start the warehouse watch thread");
            wh_cache_stop(c);
            return -1;
        }
        c->scopes[i].started = true;
    }
    return 0;
}

bool wh_cache_ready(struct wh_cache *c)
{
    return atomic_load(&c->listed) >= c->nscopes;
}

void wh_cache_stop(struct wh_cache *c)
{
    pthread_mutex_lock(&c->wait_lock);
    atomic_store(&c->stop, true);
    pthread_cond_broadcast(&c->wait_cond);
    pthread_mutex_unlock(&c->wait_lock);
    for (size_t i = 0; i < c->nscopes; i++) {
        if (c->scopes[i].started)
            pthread_join(c->scopes[i].thread, NULL);
        c->scopes[i].started = false;
    }
}

void wh_cache_free(struct wh_cache *c)
{
    if (!c)
        return;
    wh_cache_stop(c);
    for (unsigned b = 0; b < NBUCKETS; b++) {
        while (c->by_name[b]) {
            struct wh *w = c->by_name[b];
            c->by_name[b] = w->next;
            index_remove(c, w);
            wh_free(w);
        }
    }
    free(c->scopes);
    free(c->selector_q);
    pthread_rwlock_destroy(&c->lock);
    pthread_mutex_destroy(&c->wait_lock);
    pthread_cond_destroy(&c->wait_cond);
    free(c);
}
