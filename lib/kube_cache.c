/* kube_cache.c: the list + watch cache of one Kubernetes resource with an
 * index from keys (canonical repository ids) to the compiled objects; see
 * hookbus/kube_cache.h for what it does and when objects are compiled. */
#include "hookbus/kube_cache.h"

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

struct hb_kube_keys {
    char **keys;
    size_t *slots;
    size_t n;
};

int hb_kube_keys_add(struct hb_kube_keys *k, const char *key, size_t slot)
{
    if (k->n >= HB_KUBE_MAX_KEYS)
        return -1;
    char *d = strdup(key);
    char **nk = d ? realloc(k->keys, (k->n + 1) * sizeof(*k->keys)) : NULL;
    if (nk)
        k->keys = nk;
    size_t *ns = nk ? realloc(k->slots, (k->n + 1) * sizeof(*k->slots)) : NULL;
    if (!ns) {
        free(d);
        return -1;
    }
    k->slots = ns;
    k->keys[k->n] = d;
    k->slots[k->n++] = slot;
    return 0;
}

static void keys_clear(struct hb_kube_keys *k)
{
    for (size_t i = 0; i < k->n; i++)
        free(k->keys[i]);
    free(k->keys);
    free(k->slots);
    memset(k, 0, sizeof(*k));
}

struct obj {
    char *ns, *name, *rv;
    char *version; /* uid + generation + annotations: what the compilation depends on */
    void *value;   /* the consumer's compiled object */
    struct hb_kube_keys keys;
    unsigned long seen; /* list generation of its scope */
    struct obj *next;   /* bucket chain of the name map */
};

struct idx_entry {
    struct obj *o;
    size_t key; /* index into o->keys */
    struct idx_entry *next;
};

struct scope {
    struct hb_kube_cache *cache;
    char *ns; /* NULL: all namespaces */
    char rv[128];
    bool need_list;
    unsigned long gen;
    int64_t next_resync;
    pthread_t thread;
    bool started;
};

struct hb_kube_cache {
    struct hb_kube *kube;
    struct hb_kube_cache_opts opts;
    char *selector_q; /* "&labelSelector=..." or "" */

    pthread_rwlock_t lock; /* guards the two tables */
    struct obj *by_name[NBUCKETS];
    struct idx_entry *by_key[NBUCKETS];
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

static void obj_free(struct hb_kube_cache *c, struct obj *o)
{
    if (!o)
        return;
    if (o->value && c->opts.release)
        c->opts.release(c->opts.ud, o->value);
    keys_clear(&o->keys);
    free(o->ns);
    free(o->name);
    free(o->rv);
    free(o->version);
    free(o);
}

/* ------------------------------------------------------------- the tables */

static struct obj **find_slot(struct hb_kube_cache *c, const char *ns, const char *name)
{
    struct obj **pp = &c->by_name[hash2(ns, name)];
    while (*pp && !(strcmp((*pp)->ns, ns) == 0 && strcmp((*pp)->name, name) == 0))
        pp = &(*pp)->next;
    return pp;
}

static void index_remove(struct hb_kube_cache *c, struct obj *o)
{
    for (size_t i = 0; i < o->keys.n; i++) {
        struct idx_entry **pp = &c->by_key[hash2(o->keys.keys[i], NULL)];
        while (*pp) {
            if ((*pp)->o == o) {
                struct idx_entry *dead = *pp;
                *pp = dead->next;
                free(dead);
            } else {
                pp = &(*pp)->next;
            }
        }
    }
}

static void index_add(struct hb_kube_cache *c, struct obj *o)
{
    for (size_t i = 0; i < o->keys.n; i++) {
        struct idx_entry *e = malloc(sizeof(*e));
        if (!e)
            continue;
        unsigned b = hash2(o->keys.keys[i], NULL);
        e->o = o;
        e->key = i;
        e->next = c->by_key[b];
        c->by_key[b] = e;
    }
}

/* Removes (and frees) the object ns/name. Write lock held. */
static void remove_locked(struct hb_kube_cache *c, const char *ns, const char *name)
{
    struct obj **pp = find_slot(c, ns, name);
    struct obj *old = *pp;
    if (!old)
        return;
    *pp = old->next;
    index_remove(c, old);
    obj_free(c, old);
    c->count--;
}

/* uid/generation[/hash of the version annotations]: the generation changes
 * with the spec only (not with a refresh annotation), so an object is
 * compiled, and its invalid rules logged, once per spec. Without a
 * generation, or with opts.every_change, the resourceVersion. */
static char *spec_version(const struct hb_kube_cache *c, const cJSON *meta)
{
    const cJSON *uid = cJSON_GetObjectItemCaseSensitive(meta, "uid");
    const cJSON *gen = cJSON_GetObjectItemCaseSensitive(meta, "generation");
    const cJSON *rv = cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion");
    const cJSON *ann = cJSON_GetObjectItemCaseSensitive(meta, "annotations");
    uint32_t h = HB_FNV1A_INIT;
    for (const char *const *a = c->opts.version_annotations; a && *a; a++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(ann, *a);
        h = hb_fnv1a(hb_fnv1a(h, cJSON_IsString(v) ? v->valuestring : "\x01"), "\x02");
    }
    char buf[320];
    if (cJSON_IsNumber(gen) && !c->opts.every_change)
        (void)hb_snprintf(buf, sizeof(buf), "%.200s/%.0f/%08x",
                          cJSON_IsString(uid) ? uid->valuestring : "", gen->valuedouble,
                          (unsigned)h);
    else
        (void)hb_snprintf(buf, sizeof(buf), "rv/%.200s", cJSON_IsString(rv) ? rv->valuestring : "");
    return strdup(buf);
}

/* Compiles an object through the consumer's callback. NULL when it has no
 * name, the callback refused it, or on ENOMEM. */
static struct obj *obj_compile(struct hb_kube_cache *c, const cJSON *obj, const char *ns,
                               const char *name, const cJSON *meta)
{
    const cJSON *rv = cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion");
    struct obj *o = calloc(1, sizeof(*o));
    if (!o)
        return NULL;
    o->ns = strdup(ns);
    o->name = strdup(name);
    o->rv = strdup(cJSON_IsString(rv) ? rv->valuestring : "");
    o->version = spec_version(c, meta);
    if (!o->ns || !o->name || !o->rv || !o->version) {
        obj_free(c, o);
        return NULL;
    }
    o->value = c->opts.compile ? c->opts.compile(c->opts.ud, obj, ns, name, &o->keys) : NULL;
    return o;
}

static void apply_object(struct hb_kube_cache *c, const cJSON *obj, bool deleted, unsigned long gen)
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
        HB_LOG(HB_LOG_DEBUG, "object deleted", HB_S("resource", c->opts.resource),
               HB_S("namespace", ns->valuestring), HB_S("name", name->valuestring));
        hb_gauge_set(c->g_count, (int64_t)hb_kube_cache_count(c));
        return;
    }
    /* The same spec as the one compiled: only note the version and mark it seen. */
    char *version = spec_version(c, meta);
    pthread_rwlock_wrlock(&c->lock);
    struct obj *cur = *find_slot(c, ns->valuestring, name->valuestring);
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

    struct obj *o = obj_compile(c, obj, ns->valuestring, name->valuestring, meta);
    if (!o)
        return;
    o->seen = gen;
    pthread_rwlock_wrlock(&c->lock);
    remove_locked(c, o->ns, o->name);
    struct obj **slot = find_slot(c, o->ns, o->name);
    *slot = o;
    index_add(c, o);
    c->count++;
    pthread_rwlock_unlock(&c->lock);
    HB_LOG(HB_LOG_DEBUG, "object updated", HB_S("resource", c->opts.resource),
           HB_S("namespace", o->ns), HB_S("name", o->name), HB_S("resource_version", o->rv),
           HB_I("keys", o->keys.n));
    hb_gauge_set(c->g_count, (int64_t)hb_kube_cache_count(c));
}

void hb_kube_cache_apply(struct hb_kube_cache *c, const void *obj, bool deleted)
{
    apply_object(c, obj, deleted, 0);
}

size_t hb_kube_cache_count(struct hb_kube_cache *c)
{
    pthread_rwlock_rdlock(&c->lock);
    size_t n = c->count;
    pthread_rwlock_unlock(&c->lock);
    return n;
}

const char *hb_kube_cache_resource(const struct hb_kube_cache *c)
{
    return c->opts.resource;
}

void hb_kube_cache_visit(struct hb_kube_cache *c, const char *key, hb_kube_visit_fn fn, void *ud)
{
    pthread_rwlock_rdlock(&c->lock);
    for (struct idx_entry *e = c->by_key[hash2(key, NULL)]; e; e = e->next) {
        if (strcmp(e->o->keys.keys[e->key], key) == 0)
            fn(ud, e->o->ns, e->o->name, e->o->value, e->o->keys.slots[e->key]);
    }
    pthread_rwlock_unlock(&c->lock);
}

void hb_kube_cache_each(struct hb_kube_cache *c, hb_kube_each_fn fn, void *ud)
{
    pthread_rwlock_rdlock(&c->lock);
    for (unsigned b = 0; b < NBUCKETS; b++)
        for (const struct obj *o = c->by_name[b]; o; o = o->next)
            fn(ud, o->ns, o->name, o->value, (const char *const *)o->keys.keys, o->keys.n);
    pthread_rwlock_unlock(&c->lock);
}

/* Drops the objects of scope s that the list of generation gen did not
 * return (deleted while we were not watching). */
static void sweep(struct hb_kube_cache *c, const struct scope *s, unsigned long gen)
{
    pthread_rwlock_wrlock(&c->lock);
    for (unsigned b = 0; b < NBUCKETS; b++) {
        struct obj **pp = &c->by_name[b];
        while (*pp) {
            struct obj *o = *pp;
            if ((!s->ns || strcmp(s->ns, o->ns) == 0) && o->seen != gen) {
                *pp = o->next;
                index_remove(c, o);
                HB_LOG(HB_LOG_DEBUG, "object gone", HB_S("resource", c->opts.resource),
                       HB_S("namespace", o->ns), HB_S("name", o->name));
                obj_free(c, o);
                c->count--;
            } else {
                pp = &o->next;
            }
        }
    }
    pthread_rwlock_unlock(&c->lock);
    hb_gauge_set(c->g_count, (int64_t)hb_kube_cache_count(c));
}

/* ------------------------------------------------------------- list/watch */

static int scope_path(const struct scope *s, char *out, size_t outlen)
{
    if (s->ns)
        return hb_snprintf(out, outlen, "%s/namespaces/%s/%s", s->cache->opts.api, s->ns,
                           s->cache->opts.resource);
    return hb_snprintf(out, outlen, "%s/%s", s->cache->opts.api, s->cache->opts.resource);
}

/* Lists scope s page by page and replaces its part of the cache. 0, 410
 * (a continue token expired: list again), or -1 with err. */
static int list_scope(struct scope *s, char *err, size_t errlen)
{
    struct hb_kube_cache *c = s->cache;
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
        int status = hb_kube_request(c->kube, "GET", path, NULL, NULL, &body, NULL, err, errlen);
        if (status != 200) {
            free(body);
            rc = status == 410 ? 410 : -1;
            if (status > 0 && status != 410 && status < 400)
                (void)hb_snprintf(err, errlen, "cluster %s: GET %s: HTTP %d",
                                  hb_kube_cluster(c->kube), path, status);
            goto out;
        }
        cJSON *list = cJSON_Parse(body);
        free(body);
        const cJSON *meta = cJSON_GetObjectItemCaseSensitive(list, "metadata");
        const cJSON *items = cJSON_GetObjectItemCaseSensitive(list, "items");
        if (!cJSON_IsArray(items)) {
            cJSON_Delete(list);
            (void)hb_snprintf(err, errlen, "cluster %s: GET %s: not a list",
                              hb_kube_cluster(c->kube), path);
            goto out;
        }
        const cJSON *rv = cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion");
        if (first && cJSON_IsString(rv))
            hb_strlcpy(s->rv, rv->valuestring, sizeof(s->rv));
        first = false;
        const cJSON *it;
        cJSON_ArrayForEach (it, items) {
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
    struct hb_kube_cache *c = w->s->cache;
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
static void pause_ms(struct hb_kube_cache *c, long ms)
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
    struct hb_kube_cache *c = s->cache;
    long backoff = 500;
    int64_t listed_at = 0;
    bool listed_once = false;
    const char *scope_name = s->ns ? s->ns : "(all namespaces)";
    /* "listing warehouses failed", "watching applications failed", ... */
    char msg_listing_failed[96], msg_listed[96], msg_watch_failed[96];
    (void)hb_snprintf(msg_listing_failed, sizeof(msg_listing_failed), "listing %s failed",
                      c->opts.resource);
    (void)hb_snprintf(msg_listed, sizeof(msg_listed), "%s listed", c->opts.resource);
    (void)hb_snprintf(msg_watch_failed, sizeof(msg_watch_failed), "watching %s failed",
                      c->opts.resource);
    while (!atomic_load(&c->stop)) {
        char err[600] = "";
        int64_t now = hb_mono_ms();
        if (s->need_list || (c->opts.resync_ms > 0 && now >= s->next_resync)) {
            int rc = list_scope(s, err, sizeof(err));
            if (atomic_load(&c->stop))
                break;
            if (rc != 0) {
                hb_counter_add(c->c_watch_errors, 1);
                HB_LOG(HB_LOG_WARN, msg_listing_failed, HB_S("namespace", scope_name),
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
            HB_LOG(HB_LOG_INFO, msg_listed, HB_S("namespace", scope_name),
                   HB_S("resource_version", s->rv), HB_I("objects", hb_kube_cache_count(c)));
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
        int status = hb_kube_watch(c->kube, path, tmo + 30000, on_watch_line, &w, &c->stop, err,
                                   sizeof(err));
        if (atomic_load(&c->stop))
            break;
        if (status == 410 || w.gone) {
            HB_LOG(HB_LOG_INFO, "watch expired, listing again", HB_S("resource", c->opts.resource),
                   HB_S("namespace", scope_name), HB_S("resource_version", s->rv));
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
        HB_LOG(HB_LOG_WARN, msg_watch_failed, HB_S("namespace", scope_name),
               HB_S("error", w.err[0] ? w.err : err), HB_I("retry_ms", backoff));
        if (w.err[0])
            s->need_list = true; /* a malformed or error event: start over */
        pause_ms(c, backoff);
        backoff = backoff * 2 > 30000 ? 30000 : backoff * 2;
    }
    return NULL;
}

/* ---------------------------------------------------------------- lifecycle */

struct hb_kube_cache *hb_kube_cache_new(struct hb_kube *k, const struct hb_kube_cache_opts *o,
                                        struct hb_metrics *m)
{
    struct hb_kube_cache *c = calloc(1, sizeof(*c));
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
        hb_kube_cache_free(c);
        return NULL;
    }
    for (size_t i = 0; i < c->nscopes; i++) {
        c->scopes[i].cache = c;
        c->scopes[i].need_list = true;
        c->scopes[i].ns = o->nnamespaces ? o->namespaces[i] : NULL;
    }
    if (m) {
        const char *l = o->metric_labels;
        if (o->metric_objects)
            c->g_count = hb_metrics_gauge(m, o->metric_objects,
                                          "Objects in the consumer's view of the cluster", l);
        if (o->metric_lists)
            c->c_relists = hb_metrics_counter(m, o->metric_lists,
                                              "Complete lists of the watched resource (start, "
                                              "410, resync)",
                                              l);
        if (o->metric_errors)
            c->c_watch_errors = hb_metrics_counter(m, o->metric_errors, "Failed lists or watches",
                                                   l);
    }
    return c;
}

int hb_kube_cache_start(struct hb_kube_cache *c, char *err, size_t errlen)
{
    for (size_t i = 0; i < c->nscopes; i++) {
        if (pthread_create(&c->scopes[i].thread, NULL, scope_main, &c->scopes[i]) != 0) {
            (void)hb_snprintf(err, errlen, "cannot start the %s watch thread", c->opts.resource);
            hb_kube_cache_stop(c);
            return -1;
        }
        c->scopes[i].started = true;
    }
    return 0;
}

bool hb_kube_cache_ready(struct hb_kube_cache *c)
{
    return atomic_load(&c->listed) >= c->nscopes;
}

void hb_kube_cache_stop(struct hb_kube_cache *c)
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

void hb_kube_cache_free(struct hb_kube_cache *c)
{
    if (!c)
        return;
    hb_kube_cache_stop(c);
    for (unsigned b = 0; b < NBUCKETS; b++) {
        while (c->by_name[b]) {
            struct obj *o = c->by_name[b];
            c->by_name[b] = o->next;
            index_remove(c, o);
            obj_free(c, o);
        }
    }
    free(c->scopes);
    free(c->selector_q);
    pthread_rwlock_destroy(&c->lock);
    pthread_mutex_destroy(&c->wait_lock);
    pthread_cond_destroy(&c->wait_cond);
    free(c);
}
