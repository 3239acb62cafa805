/* main.c: hookbus-flux, the consumer that asks Flux to reconcile exactly
 * the sources an event moves, from inside clusters that no webhook can
 * reach: it reads Kafka outbound and writes Flux's own trigger, the
 * `reconcile.fluxcd.io/requestedAt` annotation, by merge patch.
 *
 * configure reads the `flux:` section (the keys of `kargo:` plus
 * resources, source_api, image_api), start opens one list + watch cache per
 * resource (gitrepositories, ocirepositories, helmrepositories, helmcharts,
 * imagerepositories), key makes the event's repository the debounce key,
 * act matches the batch (sources.c) and patches each object once. */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hookbus/config.h"
#include "hookbus/consumer.h"
#include "hookbus/kube_consumer.h"
#include "hookbus/log.h"
#include "hookbus/metrics.h"
#include "hookbus/trace.h"
#include "hookbus/util.h"
#include "sources.h"

#define SECTION "flux"

struct flux_cfg {
    char *resources, *source_api, *image_api;
};

static const struct hb_field flux_fields[] = {
    {"resources", HB_F_STRING, offsetof(struct flux_cfg, resources),
     "gitrepositories,ocirepositories,helmrepositories,helmcharts,imagerepositories", 0, 0,
     "the Flux resources to watch and refresh (comma separated)"},
    {"source_api", HB_F_STRING, offsetof(struct flux_cfg, source_api),
     "source.toolkit.fluxcd.io/v1", 0, 0, "API group/version of the source kinds"},
    {"image_api", HB_F_STRING, offsetof(struct flux_cfg, image_api),
     "image.toolkit.fluxcd.io/v1beta2", 0, 0, "API group/version of ImageRepository"},
};

static const struct {
    const char *resource;
    enum flux_kind kind;
    bool image_api;
} kind_defs[FLUX_NKINDS] = {
    {"gitrepositories", FLUX_GIT, false},       {"ocirepositories", FLUX_OCI, false},
    {"helmrepositories", FLUX_HELMREPO, false}, {"helmcharts", FLUX_HELMCHART, false},
    {"imagerepositories", FLUX_IMAGE, true},
};

struct kind {
    const char *resource;
    enum flux_kind kind;
    char api[160];               /* "/apis/GROUP/VERSION" */
    struct hb_kube_cache *cache; /* NULL: not watched */
};

struct app {
    struct flux_cfg cfg;
    struct hb_kube_section kube_cfg;
    struct hb_kube *kube;
    struct kind kinds[FLUX_NKINDS];
    struct hb_metrics *metrics;
    struct hb_counter *c_patch_errors;
};

static void app_free(struct app *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < FLUX_NKINDS; i++)
        hb_kube_cache_free(a->kinds[i].cache);
    hb_kube_free(a->kube);
    hb_kube_section_free(&a->kube_cfg);
    hb_config_fields_free(flux_fields, HB_ARRAY_LEN(flux_fields), &a->cfg);
    free(a);
}

/* Marks the kinds named in the comma separated list; -1 with the unknown name. */
static int pick_kinds(struct app *a, const char *list, char *bad, size_t badlen)
{
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ", ");
        bool found = n == 0;
        for (size_t i = 0; i < FLUX_NKINDS && !found; i++) {
            if (strlen(kind_defs[i].resource) == n && strncmp(p, kind_defs[i].resource, n) == 0) {
                a->kinds[i].resource = kind_defs[i].resource;
                found = true;
            }
        }
        if (!found) {
            (void)hb_snprintf(bad, badlen, "%.*s", (int)n, p);
            return -1;
        }
        p += n;
        while (*p == ',' || *p == ' ')
            p++;
    }
    return 0;
}

static int configure(const struct hb_config *cfg, void **ud, char *err, size_t errlen)
{
    struct app *a = calloc(1, sizeof(*a));
    if (!a) {
        (void)hb_snprintf(err, errlen, "out of memory");
        return -1;
    }
    *ud = a;
    const struct hb_node *sec = NULL;
    if (hb_kube_section_load(cfg, SECTION, &a->kube_cfg, &sec, err, errlen) < 0)
        return -1;
    static const struct hb_node empty = {.type = HB_NODE_MAP};
    if (hb_config_bind(cfg, sec ? sec : &empty, SECTION ".", flux_fields, HB_ARRAY_LEN(flux_fields),
                       &a->cfg, err, errlen) < 0)
        return -1;
    char bad[64];
    const struct hb_node *rn = sec ? hb_node_get(sec, "resources") : NULL;
    if (pick_kinds(a, a->cfg.resources, bad, sizeof(bad)) < 0)
        return hb_config_error(cfg, rn ? rn : sec, err, errlen,
                               SECTION ".resources: unknown resource '%s'", bad);
    for (size_t i = 0; i < FLUX_NKINDS; i++) {
        a->kinds[i].kind = kind_defs[i].kind;
        const char *api = kind_defs[i].image_api ? a->cfg.image_api : a->cfg.source_api;
        if (!strchr(api, '/') ||
            hb_snprintf(a->kinds[i].api, sizeof(a->kinds[i].api), "/apis/%s", api) < 0)
            return hb_config_error(cfg, sec, err, errlen,
                                   SECTION ": '%s' is not an API group/version", api);
    }
    if (a->kinds[FLUX_HELMCHART].resource && !a->kinds[FLUX_HELMREPO].resource)
        return hb_config_error(cfg, rn ? rn : sec, err, errlen,
                               SECTION ".resources: helmcharts needs helmrepositories (a chart "
                                       "push reaches its HelmCharts through their HelmRepository)");
    return 0;
}

/* --------------------------------------------------------------- caches */

static void *compile_src(void *ud, const void *obj, const char *ns, const char *name,
                         struct hb_kube_keys *keys)
{
    const struct kind *k = ud;
    char err[300];
    struct flux_src *s = flux_compile(k->kind, obj, ns, err, sizeof(err));
    if (!s) {
        HB_LOG(HB_LOG_WARN, "object ignored", HB_S("resource", k->resource), HB_S("namespace", ns),
               HB_S("name", name), HB_S("reason", err));
        return NULL;
    }
    if (s->invalid)
        HB_LOG(HB_LOG_WARN,
               "object has an invalid rule; it will match every event of its "
               "repository",
               HB_S("resource", k->resource), HB_S("namespace", ns), HB_S("name", name),
               HB_S("reason", s->invalid));
    if (s->key[0])
        (void)hb_kube_keys_add(keys, s->key, 0);
    return s;
}

static void release_src(void *ud, void *value)
{
    (void)ud;
    flux_src_free(value);
}

static int start(void *ud, struct hb_metrics *metrics, char *err, size_t errlen)
{
    struct app *a = ud;
    a->kube = hb_kube_section_client(&a->kube_cfg, SECTION, err, errlen);
    if (!a->kube)
        return -1;
    a->metrics = metrics;
    a->c_patch_errors = hb_metrics_counter(metrics, "hookbus_flux_patch_errors_total",
                                           "Failed reconcile-request patches", NULL);
    for (size_t i = 0; i < FLUX_NKINDS; i++) {
        struct kind *k = &a->kinds[i];
        if (!k->resource)
            continue;
        char labels[64];
        (void)hb_snprintf(labels, sizeof(labels), "resource=\"%s\"", k->resource);
        struct hb_kube_cache_opts o = hb_kube_section_cache_opts(&a->kube_cfg, k->api, k->resource);
        o.compile = compile_src;
        o.release = release_src;
        o.ud = k;
        o.metric_objects = "hookbus_flux_objects";
        o.metric_lists = "hookbus_flux_lists_total";
        o.metric_errors = "hookbus_flux_watch_errors_total";
        o.metric_labels = labels;
        k->cache = hb_kube_cache_new(a->kube, &o, metrics);
        if (!k->cache) {
            (void)hb_snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    char nslist[1024];
    hb_kube_section_namespaces(&a->kube_cfg, nslist, sizeof(nslist));
    HB_LOG(HB_LOG_INFO, "watching flux sources", HB_S("cluster", hb_kube_cluster(a->kube)),
           HB_S("server", hb_kube_server(a->kube)), HB_S("namespaces", nslist),
           HB_S("resources", a->cfg.resources), HB_S("label_selector", a->kube_cfg.label_selector));
    for (size_t i = 0; i < FLUX_NKINDS; i++)
        if (a->kinds[i].cache && hb_kube_cache_start(a->kinds[i].cache, err, errlen) < 0)
            return -1;
    return 0;
}

static bool ready(void *ud)
{
    struct app *a = ud;
    bool any = false;
    for (size_t i = 0; i < FLUX_NKINDS; i++) {
        if (!a->kinds[i].resource)
            continue;
        if (!a->kinds[i].cache || !hb_kube_cache_ready(a->kinds[i].cache))
            return false;
        any = true;
    }
    return any;
}

/* ------------------------------------------------------------------ act */

struct visit {
    const struct hb_facts *facts;
    struct hb_kube_targets *t;
};

static void on_obj(void *ud, const char *ns, const char *name, const void *value, size_t slot)
{
    (void)slot;
    struct visit *v = ud;
    hb_kube_targets_note(v->t, ns, name, flux_match(value, v->facts));
}

static void skip_metric(struct app *a, const char *reason)
{
    char labels[96];
    if (hb_snprintf(labels, sizeof(labels), "reason=\"%s\"", reason) < 0)
        return;
    hb_counter_add(hb_metrics_counter(a->metrics, "hookbus_flux_skips_total",
                                      "Objects of an event's repository not refreshed, by reason",
                                      labels),
                   1);
}

static void split_id(const char *id, char *ns, size_t nslen, const char **name)
{
    const char *slash = strchr(id, '/');
    (void)hb_snprintf(ns, nslen, "%.*s", (int)(slash - id), id);
    *name = slash + 1;
}

/* Visits kind k's cache under key and notes the outcome per object: wanted
 * ones into want[k] (the batch's union), skips logged and counted. */
static void consider(struct app *a, size_t k, const char *key_, const struct hb_facts *f,
                     const char *id, struct hb_kube_targets *want, struct hb_kube_targets *hit)
{
    struct kind *kd = &a->kinds[k];
    struct hb_kube_targets t = {0};
    struct visit v = {f, &t};
    if (!kd->cache)
        return;
    hb_kube_cache_visit(kd->cache, key_, on_obj, &v);
    for (size_t i = 0; i < t.n; i++) {
        char ns[256];
        const char *name;
        split_id(t.t[i].id, ns, sizeof(ns), &name);
        if (t.t[i].reason) {
            HB_LOG(HB_LOG_DEBUG, "object skipped", HB_S("id", id), HB_S("repo", f->repo),
                   HB_S("resource", kd->resource), HB_S("object", t.t[i].id),
                   HB_S("reason", t.t[i].reason));
            skip_metric(a, t.t[i].reason);
            continue;
        }
        hb_kube_targets_note(&want[k], ns, name, NULL);
        hb_kube_targets_note(hit, ns, name, NULL);
    }
    hb_kube_targets_clear(&t);
}

static void match_event(struct app *a, const struct hb_event *ev, struct hb_kube_targets *want)
{
    const char *id = hb_event_get(ev, "id");
    struct hb_facts f;
    if (hb_facts_from_event(ev, &f) < 0) {
        HB_LOG(HB_LOG_DEBUG, "event without repo attribute skipped", HB_S("id", id));
        skip_metric(a, "no_repo");
        hb_facts_clear(&f);
        return;
    }
    for (size_t k = 0; k < FLUX_NKINDS; k++) {
        struct hb_kube_targets hit = {0};
        if (k == FLUX_HELMCHART)
            continue; /* reached through its HelmRepository below */
        if (k != FLUX_HELMREPO) {
            consider(a, k, f.repo, &f, id, want, &hit);
        } else if (f.kind != HB_FACTS_GIT) {
            /* A chart host/path/<chart>: the repositories at host/path, and
             * the HelmCharts taking <chart> from them. */
            char parent[HB_REPO_ID_MAX];
            const char *chart;
            struct hb_kube_targets repos = {0};
            if (flux_chart_split(f.repo, parent, sizeof(parent), &chart) == 0) {
                consider(a, k, parent, &f, id, want, &repos);
                for (size_t i = 0; i < repos.n; i++) {
                    char ns[256], ckey[FLUX_KEY_MAX];
                    const char *name;
                    split_id(repos.t[i].id, ns, sizeof(ns), &name);
                    hb_kube_targets_note(&hit, ns, name, NULL);
                    if (flux_helmchart_key(ns, name, chart, ckey, sizeof(ckey)) == 0)
                        consider(a, FLUX_HELMCHART, ckey, &f, id, want, &hit);
                }
            }
            hb_kube_targets_clear(&repos);
        }
        if (hit.n) {
            char names[1024];
            hb_kube_targets_join(&hit, names, sizeof(names));
            HB_LOG(HB_LOG_INFO, "event matches", HB_S("id", id), HB_S("repo", f.repo),
                   HB_S("resource", a->kinds[k].resource), HB_S("ref", f.ref), HB_S("tag", f.tag),
                   HB_I("matched", hit.n), HB_S("objects", names));
        }
        hb_kube_targets_clear(&hit);
    }
    hb_facts_clear(&f);
}

/* Patches requestedAt on every wanted object of kind k. The worst outcome
 * (RETRY beats DROP beats DONE), err from the first failure. */
static enum hb_act refresh_kind(struct app *a, struct kind *k, const struct hb_kube_targets *want,
                                const char *now, const struct hb_batch *b, char *err, size_t errlen)
{
    enum hb_act result = HB_ACT_DONE;
    char labels[64];
    (void)hb_snprintf(labels, sizeof(labels), "resource=\"%s\"", k->resource);
    struct hb_counter *c_ok = hb_metrics_counter(a->metrics, "hookbus_flux_refreshes_total",
                                                 "Objects asked to reconcile", labels);
    /* The PATCHes are the action's span: a child of the newest event's. */
    struct hb_trace span;
    char tp[HB_TRACEPARENT_SIZE];
    bool traced = hb_batch_trace(b, &span) == 0;
    if (traced)
        hb_trace_format(&span, tp);
    for (size_t i = 0; i < want->n; i++) {
        char ns[256], path[1024], perr[600] = "";
        const char *name;
        split_id(want->t[i].id, ns, sizeof(ns), &name);
        if (hb_snprintf(path, sizeof(path), "%s/namespaces/%s/%s/%s", k->api, ns, k->resource,
                        name) < 0)
            continue;
        bool gone = false;
        enum hb_act r = hb_kube_annotate(a->kube, path, FLUX_REQUESTED_AT, now, traced ? tp : NULL,
                                         &gone, perr, sizeof(perr));
        if (r == HB_ACT_DONE) {
            if (gone)
                HB_LOG(HB_LOG_INFO, "object gone before its refresh", HB_S("resource", k->resource),
                       HB_S("object", want->t[i].id));
            else
                hb_counter_add(c_ok, 1);
            continue;
        }
        hb_counter_add(a->c_patch_errors, 1);
        HB_LOG(HB_LOG_WARN, "refresh failed", HB_S("resource", k->resource),
               HB_S("object", want->t[i].id), HB_S("error", perr), HB_B("retry", r == HB_ACT_RETRY),
               HB_I("attempt", b->attempt), HB_S("trace_id", traced ? span.trace_id : ""));
        if (result != HB_ACT_RETRY) {
            if (result == HB_ACT_DONE || r == HB_ACT_RETRY)
                (void)hb_snprintf(err, errlen, "%s", perr);
            result = r;
        }
    }
    if (want->n) {
        char names[1024];
        hb_kube_targets_join(want, names, sizeof(names));
        HB_LOG(HB_LOG_INFO, "refreshed", HB_S("resource", k->resource), HB_S("repo", b->key),
               HB_I("events", b->n), HB_I("refreshed", want->n), HB_S("objects", names),
               HB_S("at", now), HB_S("trace_id", traced ? span.trace_id : ""));
    }
    return result;
}

static enum hb_act act(void *ud, const struct hb_batch *b, char *err, size_t errlen)
{
    struct app *a = ud;
    struct hb_kube_targets want[FLUX_NKINDS] = {{0}};
    enum hb_act result = HB_ACT_DONE;
    for (size_t e = 0; e < b->n; e++)
        match_event(a, b->events[e], want);
    char now[32];
    hb_now_rfc3339(now);
    for (size_t k = 0; k < FLUX_NKINDS; k++) {
        char kerr[600] = "";
        enum hb_act r = a->kinds[k].cache
                            ? refresh_kind(a, &a->kinds[k], &want[k], now, b, kerr, sizeof(kerr))
                            : HB_ACT_DONE;
        hb_kube_targets_clear(&want[k]);
        if (r != HB_ACT_DONE && result != HB_ACT_RETRY) {
            result = r;
            (void)hb_snprintf(err, errlen, "%s", kerr);
        }
    }
    return result;
}

static void stop(void *ud)
{
    struct app *a = ud;
    for (size_t i = 0; i < FLUX_NKINDS; i++)
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
        .name = "hookbus-flux",
        .help = "  --kubeconfig FILE     kubeconfig (config flux.kubeconfig; default KUBECONFIG,\n"
                "                        else the in-cluster service account)\n",
        .configure = configure,
        .start = start,
        .ready = ready,
        .key = hb_consumer_key_repo,
        .act = act,
        .stop = stop,
        .destroy = destroy,
        .fields = flux_fields,
        .nfields = HB_ARRAY_LEN(flux_fields),
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
