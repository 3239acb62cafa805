/* main.c: hookbus-argocd, the consumer that refreshes exactly the Argo CD
 * Applications (and ApplicationSets) an event moves, from inside a cluster
 * that Argo CD's own /api/webhook need not be reachable in.
 *
 * It plugs into the consumer runtime (hookbus/consumer.h): configure reads
 * the `argocd:` section (the keys of `kargo:` plus refresh, applicationsets,
 * jitter, jitter_threshold), start opens the client and the caches of
 * applications.argoproj.io and applicationsets.argoproj.io, key makes the
 * event's repository the debounce key, and act matches every event of a
 * batch (apps.c) and patches the union of what they matched once each:
 * `argocd.argoproj.io/refresh: normal|hard` on Applications,
 * `argocd.argoproj.io/application-set-refresh: "true"` on ApplicationSets. */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps.h"
#include "hookbus/config.h"
#include "hookbus/consumer.h"
#include "hookbus/kube_consumer.h"
#include "hookbus/log.h"
#include "hookbus/metrics.h"
#include "hookbus/trace.h"
#include "hookbus/util.h"

#define SECTION "argocd"
#define REFRESH_ANNOTATION "argocd.argoproj.io/refresh"
#define APPSET_ANNOTATION "argocd.argoproj.io/application-set-refresh"

struct argocd_cfg {
    char *refresh;
    bool appsets;
    long jitter_ms, jitter_threshold;
};

static const struct hb_field argocd_fields[] = {
    {"refresh", HB_F_STRING, offsetof(struct argocd_cfg, refresh), "normal", 0, 0,
     "value of argocd.argoproj.io/refresh: normal, or hard (also drops the manifest cache)"},
    {"applicationsets", HB_F_BOOL, offsetof(struct argocd_cfg, appsets), "true", 0, 0,
     "also watch ApplicationSets and refresh those whose Git generators name the repository"},
    {"jitter", HB_F_DURATION, offsetof(struct argocd_cfg, jitter_ms), "0", 0, 3600000,
     "spread a refresh of more than jitter_threshold Applications over this window; 0: off"},
    {"jitter_threshold", HB_F_INT, offsetof(struct argocd_cfg, jitter_threshold), "20", 1, 1000000,
     "Applications refreshed at once before jitter spreads them"},
};

/* One watched resource: its cache and what a refresh writes. */
struct kind {
    const char *resource; /* "applications" */
    const char *annotation;
    const char *value;
    bool appset;
    struct hb_kube_cache *cache;
};

struct app {
    struct argocd_cfg cfg;
    struct hb_kube_section kube_cfg;
    struct hb_kube *kube;
    struct kind kinds[2];
    size_t nkinds;
    struct hb_metrics *metrics;
    struct hb_counter *c_patch_errors;
    /* jitter waits end early on stop / cancel */
    pthread_mutex_t wait_lock;
    pthread_cond_t wait_cond;
    atomic_bool cancelled;
};

static void app_free(struct app *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->nkinds; i++)
        hb_kube_cache_free(a->kinds[i].cache);
    hb_kube_free(a->kube);
    hb_kube_section_free(&a->kube_cfg);
    hb_config_fields_free(argocd_fields, HB_ARRAY_LEN(argocd_fields), &a->cfg);
    pthread_mutex_destroy(&a->wait_lock);
    pthread_cond_destroy(&a->wait_cond);
    free(a);
}

static int configure(const struct hb_config *cfg, void **ud, char *err, size_t errlen)
{
    struct app *a = calloc(1, sizeof(*a));
    if (!a) {
        (void)hb_snprintf(err, errlen, "out of memory");
        return -1;
    }
    pthread_mutex_init(&a->wait_lock, NULL);
    pthread_cond_init(&a->wait_cond, NULL);
    *ud = a;
    const struct hb_node *sec = NULL;
    if (hb_kube_section_load(cfg, SECTION, &a->kube_cfg, &sec, err, errlen) < 0)
        return -1;
    static const struct hb_node empty = {.type = HB_NODE_MAP};
    if (hb_config_bind(cfg, sec ? sec : &empty, SECTION ".", argocd_fields,
                       HB_ARRAY_LEN(argocd_fields), &a->cfg, err, errlen) < 0)
        return -1;
    if (strcmp(a->cfg.refresh, "normal") != 0 && strcmp(a->cfg.refresh, "hard") != 0) {
        const struct hb_node *n = sec ? hb_node_get(sec, "refresh") : NULL;
        return hb_config_error(cfg, n ? n : sec, err, errlen,
                               SECTION ".refresh: must be normal or hard");
    }
    return 0;
}

/* --------------------------------------------------------------- caches */

static void warn_source(void *ud, const char *why)
{
    const char *const *id = ud;
    HB_LOG(HB_LOG_WARN, "source ignored", HB_S("resource", id[0]), HB_S("namespace", id[1]),
           HB_S("name", id[2]), HB_S("reason", why));
}

static void *compile_app(void *ud, const void *obj, const char *ns, const char *name,
                         struct hb_kube_keys *keys)
{
    const struct kind *k = ud;
    const char *id[3] = {k->resource, ns, name};
    struct argo_app *a = argo_app_compile(obj, k->appset, warn_source, (void *)id);
    for (size_t i = 0; a && i < a->nsrc; i++)
        (void)hb_kube_keys_add(keys, a->src[i].repo_id, i);
    return a;
}

static void release_app(void *ud, void *value)
{
    (void)ud;
    argo_app_free(value);
}

static int start(void *ud, struct hb_metrics *metrics, char *err, size_t errlen)
{
    struct app *a = ud;
    a->kube = hb_kube_section_client(&a->kube_cfg, SECTION, err, errlen);
    if (!a->kube)
        return -1;
    a->metrics = metrics;
    a->c_patch_errors = hb_metrics_counter(metrics, "hookbus_argocd_patch_errors_total",
                                           "Failed refresh patches", NULL);
    a->kinds[0] = (struct kind){"applications", REFRESH_ANNOTATION, a->cfg.refresh, false, NULL};
    a->kinds[1] = (struct kind){"applicationsets", APPSET_ANNOTATION, "true", true, NULL};
    a->nkinds = a->cfg.appsets ? 2 : 1;
    static const char *const versioned[] = {ARGOCD_PATHS_ANNOTATION, NULL};
    for (size_t i = 0; i < a->nkinds; i++) {
        struct kind *k = &a->kinds[i];
        char labels[64];
        (void)hb_snprintf(labels, sizeof(labels), "resource=\"%s\"", k->resource);
        struct hb_kube_cache_opts o = hb_kube_section_cache_opts(&a->kube_cfg, ARGOCD_API,
                                                                 k->resource);
        o.version_annotations = k->appset ? NULL : versioned;
        o.compile = compile_app;
        o.release = release_app;
        o.ud = k;
        o.metric_objects = "hookbus_argocd_objects";
        o.metric_lists = "hookbus_argocd_lists_total";
        o.metric_errors = "hookbus_argocd_watch_errors_total";
        o.metric_labels = labels;
        k->cache = hb_kube_cache_new(a->kube, &o, metrics);
        if (!k->cache) {
            (void)hb_snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    char nslist[1024];
    hb_kube_section_namespaces(&a->kube_cfg, nslist, sizeof(nslist));
    HB_LOG(HB_LOG_INFO, "watching argo cd applications", HB_S("cluster", hb_kube_cluster(a->kube)),
           HB_S("server", hb_kube_server(a->kube)), HB_S("namespaces", nslist),
           HB_B("applicationsets", a->cfg.appsets), HB_S("refresh", a->cfg.refresh),
           HB_S("label_selector", a->kube_cfg.label_selector));
    for (size_t i = 0; i < a->nkinds; i++)
        if (hb_kube_cache_start(a->kinds[i].cache, err, errlen) < 0)
            return -1;
    return 0;
}

static bool ready(void *ud)
{
    struct app *a = ud;
    for (size_t i = 0; i < a->nkinds; i++)
        if (!a->kinds[i].cache || !hb_kube_cache_ready(a->kinds[i].cache))
            return false;
    return a->nkinds > 0;
}

/* ------------------------------------------------------------------ act */

struct visit {
    const struct hb_facts *facts;
    struct hb_kube_targets *t;
};

static void on_obj(void *ud, const char *ns, const char *name, const void *value, size_t slot)
{
    struct visit *v = ud;
    hb_kube_targets_note(v->t, ns, name, argo_match(value, slot, v->facts));
}

static void skip_metric(struct app *a, const char *reason)
{
    char labels[96];
    if (hb_snprintf(labels, sizeof(labels), "reason=\"%s\"", reason) < 0)
        return;
    hb_counter_add(hb_metrics_counter(a->metrics, "hookbus_argocd_skips_total",
                                      "Objects of an event's repository not refreshed, by reason",
                                      labels),
                   1);
}

/* Matches every event of batch b against kind k's cache: logs per event
 * what it wants (and at debug level what it does not, and why), and notes
 * the wanted objects in *want (the union over the batch). */
static void match_batch(struct app *a, struct kind *k, const struct hb_batch *b,
                        struct hb_kube_targets *want)
{
    for (size_t e = 0; e < b->n; e++) {
        const char *id = hb_event_get(b->events[e], "id");
        struct hb_facts f;
        if (hb_facts_from_event(b->events[e], &f) < 0) {
            if (k == &a->kinds[0]) {
                HB_LOG(HB_LOG_DEBUG, "event without repo attribute skipped", HB_S("id", id));
                skip_metric(a, "no_repo");
            }
            hb_facts_clear(&f);
            continue;
        }
        struct hb_kube_targets t = {0};
        struct visit v = {&f, &t};
        hb_kube_cache_visit(k->cache, f.repo, on_obj, &v);
        for (size_t i = 0; i < t.n; i++) {
            if (t.t[i].reason) {
                HB_LOG(HB_LOG_DEBUG, "object skipped", HB_S("id", id), HB_S("repo", f.repo),
                       HB_S("resource", k->resource), HB_S("object", t.t[i].id),
                       HB_S("reason", t.t[i].reason));
                skip_metric(a, t.t[i].reason);
            } else {
                const char *slash = strchr(t.t[i].id, '/');
                char ns[256];
                (void)hb_snprintf(ns, sizeof(ns), "%.*s", (int)(slash - t.t[i].id), t.t[i].id);
                hb_kube_targets_note(want, ns, slash + 1, NULL);
            }
        }
        if (t.overflow)
            HB_LOG(HB_LOG_WARN, "too many objects for one repository; some were not considered",
                   HB_S("repo", f.repo), HB_S("resource", k->resource),
                   HB_I("limit", HB_KUBE_MAX_TARGETS));
        size_t nhit = hb_kube_targets_wanted(&t);
        char names[1024];
        hb_kube_targets_join(&t, names, sizeof(names));
        HB_LOG(nhit ? HB_LOG_INFO : HB_LOG_DEBUG, nhit ? "event matches" : "event matches none",
               HB_S("id", id), HB_S("repo", f.repo), HB_S("resource", k->resource),
               HB_S("ref", f.ref), HB_S("tag", f.tag), HB_I("matched", nhit),
               HB_I("considered", t.n), HB_S("objects", names));
        hb_kube_targets_clear(&t);
        hb_facts_clear(&f);
    }
}

/* Waits ms unless stop or cancel comes first. false when cancelled. */
static bool jitter_wait(struct app *a, long ms)
{
    struct timespec ts;
    hb_realtime_after_ms(ms, &ts);
    pthread_mutex_lock(&a->wait_lock);
    while (!atomic_load(&a->cancelled))
        if (pthread_cond_timedwait(&a->wait_cond, &a->wait_lock, &ts) != 0)
            break;
    pthread_mutex_unlock(&a->wait_lock);
    return !atomic_load(&a->cancelled);
}

/* Patches every wanted object of kind k. Returns the worst outcome
 * (RETRY beats DROP beats DONE), err from the first failure. */
static enum hb_act refresh_kind(struct app *a, struct kind *k, const struct hb_kube_targets *want,
                                const struct hb_batch *b, char *err, size_t errlen)
{
    enum hb_act result = HB_ACT_DONE;
    size_t n = hb_kube_targets_wanted(want), done = 0;
    long spacing = 0;
    if (!k->appset && a->cfg.jitter_ms > 0 && n > (size_t)a->cfg.jitter_threshold)
        spacing = a->cfg.jitter_ms / (long)n;
    char labels[64];
    (void)hb_snprintf(labels, sizeof(labels), "resource=\"%s\"", k->resource);
    struct hb_counter *c_ok = hb_metrics_counter(a->metrics, "hookbus_argocd_refreshes_total",
                                                 "Objects refreshed", labels);
    /* The PATCHes are the action's span: a child of the newest event's. */
    struct hb_trace span;
    char tp[HB_TRACEPARENT_SIZE];
    bool traced = hb_batch_trace(b, &span) == 0;
    if (traced)
        hb_trace_format(&span, tp);
    for (size_t i = 0; i < want->n; i++) {
        const char *id = want->t[i].id;
        const char *slash = strchr(id, '/');
        char path[1024], perr[600] = "";
        if (spacing && done && !jitter_wait(a, spacing)) {
            (void)hb_snprintf(err, errlen, "cancelled while spreading refreshes");
            return HB_ACT_RETRY;
        }
        if (hb_snprintf(path, sizeof(path), ARGOCD_API "/namespaces/%.*s/%s/%s", (int)(slash - id),
                        id, k->resource, slash + 1) < 0)
            continue;
        bool gone = false;
        enum hb_act r = hb_kube_annotate(a->kube, path, k->annotation, k->value, traced ? tp : NULL,
                                         &gone, perr, sizeof(perr));
        done++;
        if (r == HB_ACT_DONE) {
            if (gone)
                HB_LOG(HB_LOG_INFO, "object gone before its refresh", HB_S("resource", k->resource),
                       HB_S("object", id));
            else
                hb_counter_add(c_ok, 1);
            continue;
        }
        hb_counter_add(a->c_patch_errors, 1);
        HB_LOG(HB_LOG_WARN, "refresh failed", HB_S("resource", k->resource), HB_S("object", id),
               HB_S("error", perr), HB_B("retry", r == HB_ACT_RETRY), HB_I("attempt", b->attempt),
               HB_S("trace_id", traced ? span.trace_id : ""));
        if (result != HB_ACT_RETRY) {
            if (result == HB_ACT_DONE || r == HB_ACT_RETRY)
                (void)hb_snprintf(err, errlen, "%s", perr);
            result = r;
        }
    }
    if (n) {
        char names[1024];
        hb_kube_targets_join(want, names, sizeof(names));
        HB_LOG(HB_LOG_INFO, "refreshed", HB_S("resource", k->resource), HB_S("repo", b->key),
               HB_I("events", b->n), HB_I("refreshed", n), HB_S("objects", names),
               HB_S("value", k->value), HB_I("spread_ms", spacing * (long)(n ? n - 1 : 0)),
               HB_S("trace_id", traced ? span.trace_id : ""));
    }
    return result;
}

/* The action for one debounce window of a repository: the union of the
 * Applications and ApplicationSets its events move, each patched once. */
static enum hb_act act(void *ud, const struct hb_batch *b, char *err, size_t errlen)
{
    struct app *a = ud;
    enum hb_act result = HB_ACT_DONE;
    for (size_t i = 0; i < a->nkinds; i++) {
        struct hb_kube_targets want = {0};
        match_batch(a, &a->kinds[i], b, &want);
        char kerr[600] = "";
        enum hb_act r = refresh_kind(a, &a->kinds[i], &want, b, kerr, sizeof(kerr));
        hb_kube_targets_clear(&want);
        if (r != HB_ACT_DONE && result != HB_ACT_RETRY) {
            result = r;
            (void)hb_snprintf(err, errlen, "%s", kerr);
        }
    }
    return result;
}

static void cancel(void *ud)
{
    struct app *a = ud;
    pthread_mutex_lock(&a->wait_lock);
    atomic_store(&a->cancelled, true);
    pthread_cond_broadcast(&a->wait_cond);
    pthread_mutex_unlock(&a->wait_lock);
}

static void stop(void *ud)
{
    struct app *a = ud;
    for (size_t i = 0; i < a->nkinds; i++)
        if (a->kinds[i].cache)
            hb_kube_cache_stop(a->kinds[i].cache);
}

static void destroy(void *ud)
{
    app_free(ud);
}

int main(int argc, char **argv)
{
    static const struct hb_consumer_app app = {
        .name = "hookbus-argocd",
        .help =
            "  --kubeconfig FILE     kubeconfig (config argocd.kubeconfig; default KUBECONFIG,\n"
            "                        else the in-cluster service account)\n",
        .configure = configure,
        .start = start,
        .ready = ready,
        .key = hb_consumer_key_repo,
        .act = act,
        .stop = stop,
        .destroy = destroy,
        .cancel = cancel,
        .fields = argocd_fields,
        .nfields = HB_ARRAY_LEN(argocd_fields),
        .fields_prefix = SECTION ".",
        .shared_fields = hb_kube_section_fields,
        .nshared_fields = HB_KUBE_SECTION_NFIELDS,
    };
    argc = hb_kube_take_kubeconfig_flag(argc, argv, SECTION);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = hb_consumer_main(argc, argv, &app);
    curl_global_cleanup();
    return rc;
}
