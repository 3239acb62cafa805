/* main.c: hookbus-kargo, the consumer that refreshes exactly the Kargo
 * Warehouses an event concerns (DESIGN section 5), and the Promotions
 * waiting on a pull request that was merged or closed.
 *
 * It plugs into the consumer runtime (hookbus/consumer.h): configure reads
 * the `kargo:` section (lib's common Kubernetes keys, hb_kube_section, plus
 * its own), start opens the Kubernetes client, the Warehouse cache
 * (warehouses.c) and the Promotion cache (promotions.c), ready waits for
 * their first complete lists, key makes the event's repository the debounce
 * key, fold matches each event as it arrives (match.c, promotions.c) into
 * its window's summary (window.c), so that a burst is held as the set of
 * objects to refresh rather than as its events, and act patches each object
 * of the summary once, with the refresh annotation Kargo watches. */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hookbus/cli.h"
#include "hookbus/config.h"
#include "hookbus/consumer.h"
#include "hookbus/format.h"
#include "hookbus/log.h"
#include "hookbus/metrics.h"
#include "hookbus/trace.h"
#include "hookbus/util.h"
#include "hookbus/kube.h"
#include "hookbus/kube_consumer.h"
#include "match.h"
#include "promotions.h"
#include "warehouses.h"
#include "window.h"

#define SECTION "kargo"
#define REFRESH_ANNOTATION "kargo.akuity.io/refresh"
#define NOTE_MAX 1024 /* bytes of an event's console note */
#define WH_SKIPS "hookbus_kargo_skips_total"
#define WH_SKIPS_HELP "Warehouses of an event's repository not refreshed, by reason"
#define PR_SKIPS "hookbus_kargo_promotion_skips_total"
#define PR_SKIPS_HELP "Pull request events that refreshed no Promotion, by reason"

/* hookbus-kargo's own keys; the common Kubernetes ones (kubeconfig, context,
 * namespaces, label_selector, timeouts, ...) are lib's hb_kube_section. */
struct kargo_cfg {
    bool promotions;
};

static const struct hb_field kargo_fields[] = {
    {"promotions", HB_F_BOOL, offsetof(struct kargo_cfg, promotions), "true", 0, 0,
     "watch Promotions and refresh those waiting (git-wait-for-pr) on a pull request that "
     "was merged or closed; needs list, watch and patch on promotions.kargo.akuity.io"},
};

struct app {
    struct kargo_cfg cfg;
    struct hb_kube_section kube_cfg;
    struct hb_kube *kube;
    struct wh_cache *cache;
    struct hb_kube_cache *promos; /* NULL: kargo.promotions is false */
    struct hb_metrics *metrics;
    struct hb_counter *c_refreshes, *c_promo_refreshes, *c_patch_errors;
};

static void app_free(struct app *a)
{
    if (!a)
        return;
    wh_cache_free(a->cache);
    hb_kube_cache_free(a->promos);
    hb_kube_free(a->kube);
    hb_kube_section_free(&a->kube_cfg);
    hb_config_fields_free(kargo_fields, HB_ARRAY_LEN(kargo_fields), &a->cfg);
    free(a);
}

/* The common keys through lib (hb_kube_section_load: the same names and
 * HOOKBUS_KARGO_* variables as before), then hookbus-kargo's own. */
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
    return hb_config_bind(cfg, sec ? sec : &empty, SECTION ".", kargo_fields,
                          HB_ARRAY_LEN(kargo_fields), &a->cfg, err, errlen);
}

static void join_ids(char **ids, size_t n, char *out, size_t outlen);

/* The Promotion cache: every change recompiled (the status is what
 * promotions.c reads), no label selector (the one configured selects
 * Warehouses; Kargo labels its Promotions itself). */
static int start_promotions(struct app *a, struct hb_metrics *metrics, char *err, size_t errlen)
{
    struct hb_kube_cache_opts o = hb_kube_section_cache_opts(&a->kube_cfg, KARGO_API, "promotions");
    o.label_selector = NULL;
    o.every_change = true;
    o.compile = kargo_promo_compile;
    o.release = kargo_promo_release;
    o.metric_objects = "hookbus_kargo_promotions";
    o.metric_lists = "hookbus_kargo_promotion_lists_total";
    o.metric_errors = "hookbus_kargo_promotion_watch_errors_total";
    if (!(a->promos = hb_kube_cache_new(a->kube, &o, metrics))) {
        (void)hb_snprintf(err, errlen, "out of memory");
        return -1;
    }
    return hb_kube_cache_start(a->promos, err, errlen);
}

static int start(void *ud, struct hb_metrics *metrics, char *err, size_t errlen)
{
    struct app *a = ud;
    a->kube = hb_kube_section_client(&a->kube_cfg, SECTION, err, errlen);
    if (!a->kube)
        return -1;
    a->metrics = metrics;
    a->c_refreshes = hb_metrics_counter(metrics, "hookbus_kargo_refreshes_total",
                                        "Warehouses refreshed", NULL);
    a->c_promo_refreshes = hb_metrics_counter(metrics, "hookbus_kargo_promotion_refreshes_total",
                                              "Promotions refreshed (waiting on a pull request)",
                                              NULL);
    a->c_patch_errors = hb_metrics_counter(metrics, "hookbus_kargo_patch_errors_total",
                                           "Failed refresh patches (Warehouses and Promotions)",
                                           NULL);
    struct wh_opts wo = {
        .namespaces = a->kube_cfg.namespaces,
        .nnamespaces = a->kube_cfg.nnamespaces,
        .label_selector = a->kube_cfg.label_selector,
        .resync_ms = a->kube_cfg.resync_ms,
        .watch_timeout_ms = a->kube_cfg.watch_timeout_ms,
        .page_size = a->kube_cfg.page_size,
    };
    a->cache = wh_cache_new(a->kube, &wo, metrics);
    if (!a->cache) {
        (void)hb_snprintf(err, errlen, "out of memory");
        return -1;
    }
    char nslist[1024];
    hb_kube_section_namespaces(&a->kube_cfg, nslist, sizeof(nslist));
    HB_LOG(HB_LOG_INFO, "watching kargo warehouses", HB_S("cluster", hb_kube_cluster(a->kube)),
           HB_S("server", hb_kube_server(a->kube)), HB_S("namespaces", nslist),
           HB_I("scopes", a->kube_cfg.nnamespaces ? a->kube_cfg.nnamespaces : 1),
           HB_S("label_selector", a->kube_cfg.label_selector),
           HB_B("promotions", a->cfg.promotions));
    if (wh_cache_start(a->cache, err, errlen) < 0)
        return -1;
    if (a->cfg.promotions) /* so that the series exist before the first pull request */
        for (size_t i = 0; i < 2; i++)
            hb_metrics_counter(metrics, PR_SKIPS, PR_SKIPS_HELP,
                               i ? "reason=\"pr_open\"" : "reason=\"no_promotion\"");
    return a->cfg.promotions ? start_promotions(a, metrics, err, errlen) : 0;
}

static bool ready(void *ud)
{
    struct app *a = ud;
    return a->cache && wh_cache_ready(a->cache) &&
           (!a->cfg.promotions || (a->promos && hb_kube_cache_ready(a->promos)));
}

/* ------------------------------------------------------------------ match */

struct visit {
    const struct kargo_facts *facts;
    struct hb_kube_targets *t;
};

/* Any matching subscription of a Warehouse is enough (hb_kube_targets). */
static void on_sub(void *ud, const char *ns, const char *name, const struct kargo_sub *sub)
{
    struct visit *v = ud;
    hb_kube_targets_note(v->t, ns, name, kargo_sub_match(sub, v->facts));
}

static void skip_metric(struct app *a, const char *name, const char *help, const char *reason)
{
    char labels[96];
    if (hb_snprintf(labels, sizeof(labels), "reason=\"%s\"", reason) < 0)
        return;
    hb_counter_add(hb_metrics_counter(a->metrics, name, help, labels), 1);
}

/* Joins ids into out ("a/x,b/y"), truncating with "...". */
static void join_ids(char **ids, size_t n, char *out, size_t outlen)
{
    struct hb_buf b;
    hb_buf_init(&b, outlen > 4 ? outlen - 4 : 0);
    bool cut = false;
    for (size_t i = 0; i < n && !cut; i++)
        cut = hb_buf_printf(&b, "%s%s", i ? "," : "", ids[i]) < 0;
    (void)hb_snprintf(out, outlen, "%s%s", b.p ? b.p : "", cut ? "..." : "");
    hb_buf_free(&b);
}

/* Matches one event against the Warehouse cache; its decision as one line
 * in *note: "refresh ns/a, ns/b; skip ns/c (reason)", "skip (no_repo)" or
 * "skip (no_warehouse for REPO)"; adds the wanted Warehouses to *want. */
static void match_event(struct app *a, const struct hb_event *ev, struct kargo_set *want,
                        struct hb_buf *note)
{
    const char *id = hb_event_get(ev, "id");
    char trace_id[HB_TRACE_ID_HEX + 1];
    struct kargo_facts f;
    if (kargo_facts_from_event(ev, &f) < 0) {
        HB_LOG(HB_LOG_DEBUG, "event without repo attribute skipped", HB_S("id", id));
        skip_metric(a, WH_SKIPS, WH_SKIPS_HELP, "no_repo");
        (void)hb_buf_puts(note, "skip (no_repo)");
        kargo_facts_clear(&f);
        return;
    }
    struct hb_kube_targets t = {0};
    struct visit v = {&f, &t};
    wh_cache_visit(a->cache, f.repo, on_sub, &v);
    struct hb_buf skips;
    hb_buf_init(&skips, NOTE_MAX);
    for (size_t i = 0; i < t.n; i++) {
        if (t.t[i].reason) {
            (void)hb_buf_printf(&skips, "%s%s (%s)", skips.len ? ", " : "", t.t[i].id,
                                t.t[i].reason);
            HB_LOG(HB_LOG_DEBUG, "warehouse skipped", HB_S("id", id), HB_S("repo", f.repo),
                   HB_S("warehouse", t.t[i].id), HB_S("reason", t.t[i].reason));
            skip_metric(a, WH_SKIPS, WH_SKIPS_HELP, t.t[i].reason);
        } else {
            (void)hb_buf_printf(note, "%s%s", note->len ? ", " : "refresh ", t.t[i].id);
            (void)kargo_set_add(want, t.t[i].id);
        }
    }
    if (t.overflow)
        HB_LOG(HB_LOG_WARN, "too many warehouses for one repository; some were not considered",
               HB_S("repo", f.repo), HB_I("limit", HB_KUBE_MAX_TARGETS));
    size_t nhit = hb_kube_targets_wanted(&t);
    char names[1024];
    hb_kube_targets_join(&t, names, sizeof(names));
    HB_LOG(nhit ? HB_LOG_INFO : HB_LOG_DEBUG,
           nhit ? "event matches warehouses" : "event matches no warehouse", HB_S("id", id),
           HB_S("repo", f.repo), HB_S("ref", f.ref), HB_S("tag", f.tag), HB_I("matched", nhit),
           HB_I("considered", t.n), HB_S("warehouses", names),
           HB_S("trace_id", hb_trace_id_of(ev, trace_id)));
    if (!t.n) {
        skip_metric(a, WH_SKIPS, WH_SKIPS_HELP, "no_warehouse");
        (void)hb_buf_printf(note, "skip (no_warehouse for %s)", f.repo);
    } else if (skips.len) {
        (void)hb_buf_printf(note, "%sskip %s", note->len ? "; " : "", skips.p);
    }
    hb_buf_free(&skips);
    hb_kube_targets_clear(&t);
    kargo_facts_clear(&f);
}

static void on_promo(void *ud, const char *ns, const char *name, const void *value, size_t slot)
{
    (void)value;
    (void)slot;
    hb_kube_targets_note(ud, ns, name, NULL);
}

/* Matches a pull request event against the Promotion cache (Kargo's rule,
 * promotions.h): merged or closed, the Running Promotions waiting on it,
 * into *want; the decision into *note ("refresh promotion ns/p", "skip
 * (no_promotion waiting on URL)", "skip (pr_opened)"). */
static void match_pr(struct app *a, const struct hb_event *ev, const struct kargo_pr *pr,
                     struct kargo_set *want, struct hb_buf *note)
{
    const char *id = hb_event_get(ev, "id");
    const char *url = pr->url_key[0] ? pr->url_key + 4 : pr->num_key + 3;
    char reason[40];
    if (!pr->final || !a->promos) {
        (void)hb_snprintf(reason, sizeof(reason), "%s%s", a->promos ? "pr_" : "promotions_off",
                          a->promos ? pr->action : "");
        HB_LOG(HB_LOG_DEBUG, "pull request event refreshes no promotion", HB_S("id", id),
               HB_S("pull_request", url), HB_S("reason", reason));
        skip_metric(a, PR_SKIPS, PR_SKIPS_HELP, a->promos ? "pr_open" : "promotions_off");
        (void)hb_buf_printf(note, "skip (%s)", reason);
        return;
    }
    struct hb_kube_targets t = {0};
    if (pr->url_key[0])
        hb_kube_cache_visit(a->promos, pr->url_key, on_promo, &t);
    if (pr->num_key[0])
        hb_kube_cache_visit(a->promos, pr->num_key, on_promo, &t);
    for (size_t i = 0; i < t.n; i++) {
        (void)hb_buf_printf(note, "%s%s", i ? ", " : "refresh promotion ", t.t[i].id);
        (void)kargo_set_add(want, t.t[i].id);
    }
    char names[1024];
    hb_kube_targets_join(&t, names, sizeof(names));
    HB_LOG(t.n ? HB_LOG_INFO : HB_LOG_DEBUG,
           t.n ? "pull request event matches promotions" : "no promotion waits on the pull request",
           HB_S("id", id), HB_S("pull_request", url), HB_S("action", pr->action),
           HB_I("matched", t.n), HB_S("promotions", names));
    if (!t.n) {
        skip_metric(a, PR_SKIPS, PR_SKIPS_HELP, "no_promotion");
        (void)hb_buf_printf(note, "skip (no_promotion waiting on %s)", url);
    }
    hb_kube_targets_clear(&t);
}

/* One event into window w: a pull request wakes Promotions (and no
 * Warehouse: the merge's push does that), anything else is matched against
 * the Warehouses. The decision line into note. */
static void fold_event(struct app *a, struct kargo_window *w, const struct hb_event *ev,
                       struct hb_buf *note)
{
    struct kargo_pr pr;
    if (kargo_pr_from_event(ev, &pr) == 0)
        match_pr(a, ev, &pr, &w->promotions, note);
    else
        match_event(a, ev, &w->warehouses, note);
    w->events++;
}

/* The runtime's fold: each event is matched as it arrives, so the window
 * holds the names to refresh, not the events (issue 23). */
static int fold(void *ud, void **acc, const struct hb_event *ev, char *note, size_t notelen)
{
    struct app *a = ud;
    if (!*acc && !(*acc = kargo_window_new()))
        return -1;
    struct hb_buf nb;
    hb_buf_init(&nb, NOTE_MAX);
    fold_event(a, *acc, ev, &nb);
    (void)hb_snprintf(note, notelen, "%s", nb.p ? nb.p : "");
    hb_buf_free(&nb);
    return 0;
}

static void fold_free(void *ud, void *acc)
{
    (void)ud;
    kargo_window_free(acc);
}

/* ------------------------------------------------------------------ act */

/* PATCHes the refresh annotation of the object id ("ns/name") of resource
 * (warehouses, promotions), as Kargo's api.RefreshObject does (a merge
 * patch of kargo.akuity.io/refresh with the time). HB_ACT_DONE (patched, or
 * gone), HB_ACT_RETRY or HB_ACT_DROP (hb_kube_annotate), with err. */
static enum hb_act refresh_one(struct app *a, const char *resource, const char *id, const char *now,
                               const char *traceparent, char *err, size_t errlen)
{
    char path[1024];
    const char *slash = strchr(id, '/');
    if (!slash || hb_snprintf(path, sizeof(path), KARGO_API "/namespaces/%.*s/%s/%s",
                              (int)(slash - id), id, resource, slash + 1) < 0)
        return HB_ACT_DROP;
    bool gone = false;
    enum hb_act r = hb_kube_annotate(a->kube, path, REFRESH_ANNOTATION, now, traceparent, &gone,
                                     err, errlen);
    if (r != HB_ACT_DONE)
        hb_counter_add(a->c_patch_errors, 1);
    else if (gone)
        HB_LOG(HB_LOG_INFO, "object gone before its refresh", HB_S("resource", resource),
               HB_S("object", id));
    else
        hb_counter_add(strcmp(resource, "warehouses") == 0 ? a->c_refreshes : a->c_promo_refreshes,
                       1);
    return r;
}

/* Refreshes every name of want not in done (an earlier try's), adding the
 * refreshed ones to done. The worst outcome (RETRY beats DROP beats DONE),
 * err from the first failure of that kind; the names patched now in *nok. */
static enum hb_act refresh_set(struct app *a, const char *resource, const struct kargo_set *want,
                               struct kargo_set *done, const char *now, const char *tp,
                               const struct hb_batch *b, size_t *nok, char *err, size_t errlen)
{
    enum hb_act result = HB_ACT_DONE;
    for (size_t i = 0; i < want->n; i++) {
        if (kargo_set_has(done, want->v[i]))
            continue; /* refreshed by an earlier try of this window */
        char perr[600] = "";
        enum hb_act r = refresh_one(a, resource, want->v[i], now, tp, perr, sizeof(perr));
        if (r == HB_ACT_DONE) {
            (void)kargo_set_add(done, want->v[i]);
            (*nok)++;
            continue;
        }
        HB_LOG(HB_LOG_WARN, "refresh failed", HB_S("resource", resource),
               HB_S("object", want->v[i]), HB_S("error", perr), HB_B("retry", r == HB_ACT_RETRY),
               HB_I("attempt", b->attempt));
        if (result != HB_ACT_RETRY) {
            if (result == HB_ACT_DONE || r == HB_ACT_RETRY)
                (void)hb_snprintf(err, errlen, "%s", perr);
            result = r;
        }
    }
    return result;
}

/* The action for one debounce window of a repository: each Warehouse and
 * Promotion its events asked for, patched once. The window's summary comes
 * from fold (the events not folded are matched here, with their notes); a
 * retry skips what an earlier try refreshed. Any retryable failure makes
 * the batch HB_ACT_RETRY; else a permanent one makes it HB_ACT_DROP. */
static enum hb_act act(void *ud, const struct hb_batch *b, char *err, size_t errlen)
{
    struct app *a = ud;
    struct kargo_window local = {0};
    struct kargo_window *w = b->folded ? b->folded : &local;
    struct hb_buf note;
    for (size_t e = 0; e < b->n; e++) {
        hb_buf_init(&note, NOTE_MAX);
        fold_event(a, w, b->events[e], &note);
        hb_batch_note(b, e, note.p ? note.p : "");
        hb_buf_free(&note);
    }
    if (w->warehouses.overflow || w->promotions.overflow)
        HB_LOG(HB_LOG_WARN, "too many objects for one window; some were not refreshed",
               HB_S("repo", b->key), HB_I("limit", KARGO_SET_MAX));
    char now[32], tp[HB_TRACEPARENT_SIZE];
    hb_now_rfc3339(now);
    /* The PATCHes are the action's span: a child of the newest event's. */
    struct hb_trace span;
    bool traced = hb_batch_trace(b, &span) == 0;
    if (traced)
        hb_trace_format(&span, tp);
    size_t nwh = 0, npromo = 0;
    char werr[600] = "", perr[600] = "";
    enum hb_act rw = refresh_set(a, "warehouses", &w->warehouses, &w->done_wh, now,
                                 traced ? tp : NULL, b, &nwh, werr, sizeof(werr));
    enum hb_act rp = refresh_set(a, "promotions", &w->promotions, &w->done_promo, now,
                                 traced ? tp : NULL, b, &npromo, perr, sizeof(perr));
    enum hb_act result = rw == HB_ACT_RETRY || rp == HB_ACT_RETRY ? HB_ACT_RETRY
                         : rw != HB_ACT_DONE                      ? rw
                                                                  : rp;
    if (result != HB_ACT_DONE)
        (void)hb_snprintf(err, errlen, "%s", rw == result ? werr : perr);
    if (nwh || npromo) {
        char names[1024], pnames[1024];
        join_ids(w->done_wh.v, w->done_wh.n, names, sizeof(names));
        join_ids(w->done_promo.v, w->done_promo.n, pnames, sizeof(pnames));
        HB_LOG(HB_LOG_INFO, nwh ? "warehouses refreshed" : "promotions refreshed",
               HB_S("repo", b->key), HB_I("events", b->n + b->nfolded), HB_I("refreshed", nwh),
               HB_S("warehouses", names), HB_I("promotions_refreshed", npromo),
               HB_S("promotions", pnames), HB_S("at", now),
               HB_S("trace_id", traced ? span.trace_id : ""));
    }
    if (w == &local) {
        kargo_set_clear(&local.warehouses);
        kargo_set_clear(&local.promotions);
        kargo_set_clear(&local.done_wh);
        kargo_set_clear(&local.done_promo);
    }
    return result;
}

/* The console's GET /api/v1/warehouses: the cache. */
static char *api(void *ud, const char *path)
{
    struct app *a = ud;
    if (strcmp(path, "warehouses") != 0 || !a->cache)
        return NULL;
    return wh_cache_json(a->cache);
}

static void stop(void *ud)
{
    struct app *a = ud;
    if (a->cache)
        wh_cache_stop(a->cache);
}

static void destroy(void *ud)
{
    app_free(ud);
}

/* `explain --event FILE` (anywhere among the arguments): removed from argv,
 * *event set to FILE. argc after, or -1 when --event has no FILE. */
static int take_explain(int argc, char **argv, const char **event)
{
    int w = 1;
    bool explain = false;
    for (int r = 1; r < argc; r++) {
        if (strcmp(argv[r], "explain") == 0) {
            explain = true;
            continue;
        }
        if (strcmp(argv[r], "--event") == 0) {
            if (r + 1 >= argc)
                return -1;
            *event = argv[++r];
            continue;
        }
        if (hb_str_has_prefix(argv[r], "--event=")) {
            *event = argv[r] + 8;
            continue;
        }
        argv[w++] = argv[r];
    }
    argv[w] = NULL;
    if (explain != (*event != NULL))
        return -1;
    return w;
}

#define EXPLAIN_EVENT_MAX (4 << 20)
#define EXPLAIN_READY_MS 30000

/* hookbus-kargo explain --event FILE: lists the Warehouses of the live
 * cluster (the config's kargo section), matches the structured CloudEvent
 * in FILE against them as act would and prints the decision line the
 * console shows ("refresh ...; skip ... (reason)"). Patches nothing, reads
 * no Kafka. 0, 1 when the cluster cannot be listed, 2 on a usage, config or
 * event error. */
static int explain_main(int argc, char **argv, const char *event_file)
{
    struct hb_cli cli;
    struct hb_config hc;
    struct hb_metrics *metrics = NULL;
    struct hb_event *ev = NULL;
    struct hb_buf note = {0};
    char err[1024], *text = NULL;
    void *ud = NULL;
    bool started = false;
    size_t len = 0;
    int rc = 2;
    if (hb_cli_parse(argc, argv, &cli) < 0)
        return 2;
    if (cli.nrest) {
        fprintf(stderr, "hookbus-kargo explain: unknown argument '%s'\n", cli.rest[0]);
        goto out;
    }
    if (hb_cli_setup_logging(&cli) < 0)
        goto out;
    if (hb_config_load(cli.config, &hc, err, sizeof(err)) < 0) {
        fprintf(stderr, "hookbus-kargo: config error: %s\n", err);
        goto out;
    }
    int crc = configure(&hc, &ud, err, sizeof(err));
    hb_config_free(&hc);
    if (crc < 0) {
        fprintf(stderr, "hookbus-kargo: config error: %s\n", err);
        goto out;
    }
    if (!(text = hb_read_file(event_file, EXPLAIN_EVENT_MAX, &len, err, sizeof(err))) ||
        hb_event_from_json(text, len, &ev, err, sizeof(err)) < 0) {
        fprintf(stderr, "hookbus-kargo explain: %s: %s\n", event_file, err);
        goto out;
    }
    rc = 1;
    if (!(metrics = hb_metrics_new()) || start(ud, metrics, err, sizeof(err)) < 0) {
        fprintf(stderr, "hookbus-kargo explain: %s\n", metrics ? err : "out of memory");
        goto out;
    }
    started = true;
    int64_t deadline = hb_mono_ms() + EXPLAIN_READY_MS;
    while (!ready(ud) && hb_mono_ms() < deadline) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (!ready(ud)) {
        fprintf(stderr,
                "hookbus-kargo explain: the Warehouses could not be listed within %d s "
                "(see the log)\n",
                EXPLAIN_READY_MS / 1000);
        goto out;
    }
    struct kargo_window *w = kargo_window_new();
    if (!w)
        goto out;
    hb_buf_init(&note, NOTE_MAX);
    fold_event(ud, w, ev, &note);
    printf("%s: %s\n", hb_event_get(ev, "id"), note.p ? note.p : "");
    kargo_window_free(w);
    rc = 0;
out:
    if (started)
        stop(ud);
    if (ud)
        destroy(ud);
    hb_buf_free(&note);
    hb_event_free(ev);
    free(text);
    hb_metrics_free(metrics);
    hb_cli_free(&cli);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct hb_consumer_app app = {
        .name = "hookbus-kargo",
        .help = "  --kubeconfig FILE     kubeconfig (config kargo.kubeconfig; default KUBECONFIG,\n"
                "                        else the in-cluster service account)\n"
                "  explain --event FILE  print which Warehouses of the live cluster the\n"
                "                        structured CloudEvent in FILE would refresh or skip\n",
        .configure = configure,
        .start = start,
        .ready = ready,
        .key = hb_consumer_key_repo,
        .act = act,
        .stop = stop,
        .destroy = destroy,
        .fields = kargo_fields,
        .nfields = HB_ARRAY_LEN(kargo_fields),
        .fields_prefix = SECTION ".",
        .shared_fields = hb_kube_section_fields,
        .nshared_fields = HB_KUBE_SECTION_NFIELDS,
        .api = api,
        .fold = fold,
        .fold_free = fold_free,
    };
    const char *event = NULL;
    argc = hb_kube_take_kubeconfig_flag(argc, argv, SECTION);
    if ((argc = take_explain(argc, argv, &event)) < 0) {
        fprintf(stderr, "usage: hookbus-kargo explain --event FILE [--config FILE] "
                        "[--kubeconfig FILE]\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = event ? explain_main(argc, argv, event) : hb_consumer_main(argc, argv, &app);
    curl_global_cleanup();
    return rc;
}
