/* main.c: hookbus-kargo, the consumer that refreshes exactly the Kargo
 * Warehouses an event concerns (DESIGN section 5).
 *
 * It plugs into the consumer runtime (hookbus/consumer.h): configure reads
 * the `kargo:` section, start opens the Kubernetes client and the Warehouse
 * cache (warehouses.c), ready waits for the first complete list, key makes
 * the event's repository the debounce key, and act matches every event of a
 * batch against the cache (match.c) and patches the union of the Warehouses
 * they matched once each, with the refresh annotation Kargo watches. */
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
#include "match.h"
#include "warehouses.h"

#define REFRESH_ANNOTATION "kargo.akuity.io/refresh"
#define MAX_NAMESPACES 256
#define MAX_TARGETS 4096
#define NOTE_MAX 1024 /* bytes of an event's console note */
#define MAX_DONE_SETS 1024

struct kargo_cfg {
    char *kubeconfig, *context, *label_selector, *sa_dir;
    long resync_ms, request_timeout_ms, watch_timeout_ms, max_response, page_size;
};

static const struct hb_field kargo_fields[] = {
    {"kubeconfig", HB_F_STRING, offsetof(struct kargo_cfg, kubeconfig), "", 0, 0,
     "kubeconfig file; empty: KUBECONFIG, else the in-cluster service account"},
    {"context", HB_F_STRING, offsetof(struct kargo_cfg, context), "", 0, 0,
     "kubeconfig context; empty: current-context"},
    {"label_selector", HB_F_STRING, offsetof(struct kargo_cfg, label_selector), "", 0, 0,
     "only Warehouses matching this label selector"},
    {"service_account_dir", HB_F_STRING, offsetof(struct kargo_cfg, sa_dir), HB_KUBE_SA_DIR, 0, 0,
     "in-cluster token and ca.crt"},
    {"resync_interval", HB_F_DURATION, offsetof(struct kargo_cfg, resync_ms), "10m", 0, 86400000,
     "complete relist of Warehouses; 0 disables"},
    {"request_timeout", HB_F_DURATION, offsetof(struct kargo_cfg, request_timeout_ms), "10s", 100,
     600000, "timeout of one Kubernetes API request"},
    {"watch_timeout", HB_F_DURATION, offsetof(struct kargo_cfg, watch_timeout_ms), "5m", 1000,
     3600000, "length of one watch request before it is renewed"},
    {"max_response_bytes", HB_F_INT, offsetof(struct kargo_cfg, max_response), "67108864", 4096,
     1073741824, "largest Kubernetes API response (one list page or watch event)"},
    {"page_size", HB_F_INT, offsetof(struct kargo_cfg, page_size), "500", 1, 10000,
     "Warehouses per list page"},
    {"namespaces", HB_F_LIST, 0, "[]", 0, 0,
     "Kargo project namespaces to watch ([]: all; HOOKBUS_KARGO_NAMESPACES: comma-separated)"},
};

/* A Warehouse a batch refreshed, kept across retries of the same batch so a
 * retry patches only the ones that failed. */
struct done_set {
    char key[HB_REPO_ID_MAX];
    char sig[512]; /* first and last event id + count of the batch */
    char **names;  /* "ns/name" */
    size_t n;
    struct done_set *next;
};

static void done_free(struct done_set *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++)
        free(d->names[i]);
    free(d->names);
    free(d);
}

struct app {
    struct kargo_cfg cfg;
    char **namespaces;
    size_t nnamespaces;
    struct hb_kube *kube;
    struct wh_cache *cache;
    struct hb_metrics *metrics;
    struct hb_counter *c_refreshes, *c_patch_errors;
    pthread_mutex_t lock; /* done sets and the skip counters */
    struct done_set *done;
};

static void split_namespaces(struct app *a, const char *csv)
{
    if (!csv)
        return;
    const char *p = csv;
    while (*p && a->nnamespaces < MAX_NAMESPACES) {
        size_t n = strcspn(p, ", ");
        if (n) {
            char *ns = hb_strndup(p, n);
            char **grown = ns ? realloc(a->namespaces, (a->nnamespaces + 1) * sizeof(char *))
                              : NULL;
            if (!grown) {
                free(ns);
                return;
            }
            a->namespaces = grown;
            a->namespaces[a->nnamespaces++] = ns;
        }
        p += n;
        while (*p == ',' || *p == ' ')
            p++;
    }
}

static void app_free(struct app *a)
{
    if (!a)
        return;
    wh_cache_free(a->cache);
    hb_kube_free(a->kube);
    for (size_t i = 0; i < a->nnamespaces; i++)
        free(a->namespaces[i]);
    free(a->namespaces);
    while (a->done) {
        struct done_set *d = a->done;
        a->done = d->next;
        done_free(d);
    }
    hb_config_fields_free(kargo_fields, HB_ARRAY_LEN(kargo_fields), &a->cfg);
    pthread_mutex_destroy(&a->lock);
    free(a);
}

static int configure(const struct hb_config *cfg, void **ud, char *err, size_t errlen)
{
    struct app *a = calloc(1, sizeof(*a));
    if (!a) {
        (void)hb_snprintf(err, errlen, "out of memory");
        return -1;
    }
    pthread_mutex_init(&a->lock, NULL);
    const struct hb_node *sec = hb_node_get(cfg->root, "kargo");
    if (sec && sec->type != HB_NODE_MAP) {
        hb_config_error(cfg, sec, err, errlen, "kargo: must be a map");
        goto fail;
    }
    /* Without a kargo: section every key takes its default (and env). */
    struct hb_node empty = {.type = HB_NODE_MAP};
    if (hb_config_bind(cfg, sec ? sec : &empty, "kargo.", kargo_fields, HB_ARRAY_LEN(kargo_fields),
                       &a->cfg, err, errlen) < 0)
        goto fail;
    /* namespaces: a list, or a comma-separated scalar (HOOKBUS_KARGO_NAMESPACES). */
    const struct hb_node *ns = sec ? hb_node_get(sec, "namespaces") : NULL;
    const char *env = getenv("HOOKBUS_KARGO_NAMESPACES");
    if (ns)
        hb_node_mark_used(ns);
    if (env) {
        split_namespaces(a, env);
    } else if (ns && ns->type == HB_NODE_SEQ) {
        for (size_t i = 0; i < ns->n; i++) {
            if (ns->items[i].type != HB_NODE_SCALAR) {
                hb_config_error(cfg, &ns->items[i], err, errlen,
                                "kargo.namespaces: items must be names");
                goto fail;
            }
            split_namespaces(a, ns->items[i].value);
        }
    } else if (ns && ns->type == HB_NODE_SCALAR) {
        split_namespaces(a, ns->value);
    } else if (ns) {
        hb_config_error(cfg, ns, err, errlen, "kargo.namespaces: must be a list of names");
        goto fail;
    }
    /* kubeconfig: kargo.kubeconfig (or --kubeconfig, which main() turns into
     * HOOKBUS_KARGO_KUBECONFIG), else KUBECONFIG's first file. */
    if (!a->cfg.kubeconfig[0] && getenv("KUBECONFIG") && getenv("KUBECONFIG")[0]) {
        const char *kc = getenv("KUBECONFIG");
        char *first = hb_strndup(kc, strcspn(kc, ":"));
        if (first) {
            free(a->cfg.kubeconfig);
            a->cfg.kubeconfig = first;
        }
    }
    *ud = a;
    return 0;
fail:
    app_free(a);
    return -1;
}

static void join_ids(char **ids, size_t n, char *out, size_t outlen);

static int start(void *ud, struct hb_metrics *metrics, char *err, size_t errlen)
{
    struct app *a = ud;
    struct hb_kube_opts ko = {
        .kubeconfig = a->cfg.kubeconfig,
        .context = a->cfg.context,
        .sa_dir = a->cfg.sa_dir,
        .timeout_ms = a->cfg.request_timeout_ms,
        .max_response = (size_t)a->cfg.max_response,
        .section = "kargo",
    };
    a->kube = hb_kube_new(&ko, err, errlen);
    if (!a->kube)
        return -1;
    a->metrics = metrics;
    a->c_refreshes = hb_metrics_counter(metrics, "hookbus_kargo_refreshes_total",
                                        "Warehouses refreshed", NULL);
    a->c_patch_errors = hb_metrics_counter(metrics, "hookbus_kargo_patch_errors_total",
                                           "Failed Warehouse refresh patches", NULL);
    struct wh_opts wo = {
        .namespaces = a->namespaces,
        .nnamespaces = a->nnamespaces,
        .label_selector = a->cfg.label_selector,
        .resync_ms = a->cfg.resync_ms,
        .watch_timeout_ms = a->cfg.watch_timeout_ms,
        .page_size = a->cfg.page_size,
    };
    a->cache = wh_cache_new(a->kube, &wo, metrics);
    if (!a->cache) {
        (void)hb_snprintf(err, errlen, "out of memory");
        return -1;
    }
    char nslist[1024];
    join_ids(a->namespaces, a->nnamespaces, nslist, sizeof(nslist));
    HB_LOG(HB_LOG_INFO, "watching kargo warehouses", HB_S("cluster", hb_kube_cluster(a->kube)),
           HB_S("server", hb_kube_server(a->kube)),
           HB_S("namespaces", nslist[0] ? nslist : "(all)"),
           HB_I("scopes", a->nnamespaces ? a->nnamespaces : 1),
           HB_S("label_selector", a->cfg.label_selector));
    return wh_cache_start(a->cache, err, errlen);
}

static bool ready(void *ud)
{
    struct app *a = ud;
    return a->cache && wh_cache_ready(a->cache);
}

static int key(void *ud, const struct hb_event *ev, char *out, size_t outlen)
{
    (void)ud;
    const char *repo = hb_event_get(ev, "repo");
    if (!repo || !repo[0])
        return -1;
    return hb_strlcpy(out, repo, outlen);
}

/* ------------------------------------------------------------------ act */

/* The Warehouses one event wants, as "ns/name", and per Warehouse that
 * wants none of it the reason of its first subscription's skip. */
struct target {
    char *id;           /* "ns/name" */
    const char *reason; /* NULL: refresh */
};

struct visit {
    const struct kargo_facts *facts;
    struct target *t;
    size_t n;
    bool overflow;
};

static struct target *target_find(struct target *t, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(t[i].id, id) == 0)
            return &t[i];
    return NULL;
}

static void on_sub(void *ud, const char *ns, const char *name, const struct kargo_sub *sub)
{
    struct visit *v = ud;
    char id[512];
    if (hb_snprintf(id, sizeof(id), "%s/%s", ns, name) < 0)
        return;
    const char *why = kargo_sub_match(sub, v->facts);
    struct target *t = target_find(v->t, v->n, id);
    if (t) {
        if (!why)
            t->reason = NULL; /* any matching subscription is enough */
        return;
    }
    if (v->n >= MAX_TARGETS) {
        v->overflow = true;
        return;
    }
    struct target *grown = realloc(v->t, (v->n + 1) * sizeof(*v->t));
    if (!grown)
        return;
    v->t = grown;
    v->t[v->n].id = strdup(id);
    v->t[v->n].reason = why;
    if (v->t[v->n].id)
        v->n++;
}

static void skip_metric(struct app *a, const char *reason)
{
    char labels[96];
    if (hb_snprintf(labels, sizeof(labels), "reason=\"%s\"", reason) < 0)
        return;
    struct hb_counter *c = hb_metrics_counter(a->metrics, "hookbus_kargo_skips_total",
                                              "Warehouses of an event's repository not refreshed, "
                                              "by reason",
                                              labels);
    hb_counter_add(c, 1);
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

static bool list_has(char **list, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], s) == 0)
            return true;
    return false;
}

static int list_add(char ***list, size_t *n, const char *s)
{
    if (list_has(*list, *n, s))
        return 0;
    char *d = strdup(s);
    char **grown = d ? realloc(*list, (*n + 1) * sizeof(char *)) : NULL;
    if (!grown) {
        free(d);
        return -1;
    }
    *list = grown;
    (*list)[(*n)++] = d;
    return 0;
}

static void batch_sig(const struct hb_batch *b, char *out, size_t outlen)
{
    const char *first = hb_event_get(b->events[0], "id");
    const char *last = hb_event_get(b->events[b->n - 1], "id");
    (void)hb_snprintf(out, outlen, "%zu|%.200s|%.200s", b->n, first ? first : "", last ? last : "");
}

/* The done set of a retried batch (NULL for a first attempt or another
 * batch); removes it from the list: the caller owns it. */
static struct done_set *done_take(struct app *a, const struct hb_batch *b)
{
    char sig[512];
    batch_sig(b, sig, sizeof(sig));
    pthread_mutex_lock(&a->lock);
    struct done_set **pp = &a->done, *found = NULL;
    while (*pp) {
        if (strcmp((*pp)->key, b->key) == 0) {
            struct done_set *d = *pp;
            *pp = d->next;
            if (b->attempt > 1 && strcmp(d->sig, sig) == 0 && !found) {
                found = d;
                continue;
            }
            done_free(d);
            continue;
        }
        pp = &(*pp)->next;
    }
    pthread_mutex_unlock(&a->lock);
    return found;
}

/* Keeps d for the next attempt of its batch. A batch whose retries run out
 * is dead-lettered and never comes back: at most MAX_DONE_SETS are kept,
 * the oldest dropped (its retry would then refresh everything again). */
static void done_put(struct app *a, struct done_set *d)
{
    pthread_mutex_lock(&a->lock);
    d->next = a->done;
    a->done = d;
    size_t n = 0;
    for (struct done_set **pp = &a->done; *pp; pp = &(*pp)->next) {
        if (++n > MAX_DONE_SETS) {
            struct done_set *rest = *pp;
            *pp = NULL;
            while (rest) {
                struct done_set *next = rest->next;
                done_free(rest);
                rest = next;
            }
            break;
        }
    }
    pthread_mutex_unlock(&a->lock);
}

/* PATCHes the refresh annotation of ns/name, with a traceparent header when
 * traceparent is not NULL (the action's span). Returns HB_ACT_DONE (patched,
 * or 404: the Warehouse is gone), HB_ACT_RETRY (409, 429, 5xx, transport,
 * and 401: the token rotated, kube.c reads it again) or HB_ACT_DROP (any
 * other status, e.g. 403: RBAC), with err. */
static enum hb_act refresh_one(struct app *a, const char *id, const char *now,
                               const char *traceparent, char *err, size_t errlen)
{
    char ns[256], path[1024], body[160], hdr[HB_TRACEPARENT_SIZE + 16];
    const char *slash = strchr(id, '/');
    if (!slash || (size_t)(slash - id) >= sizeof(ns))
        return HB_ACT_DROP;
    memcpy(ns, id, (size_t)(slash - id));
    ns[slash - id] = '\0';
    (void)hb_snprintf(path, sizeof(path), KARGO_API "/namespaces/%s/warehouses/%s", ns, slash + 1);
    (void)hb_snprintf(body, sizeof(body),
                      "{\"metadata\":{\"annotations\":{\"" REFRESH_ANNOTATION "\":\"%s\"}}}", now);
    char *resp = NULL;
    if (traceparent)
        (void)hb_snprintf(hdr, sizeof(hdr), "traceparent: %s", traceparent);
    int status = hb_kube_request_with(a->kube, "PATCH", path, body, "application/merge-patch+json",
                                      traceparent ? hdr : NULL, &resp, NULL, err, errlen);
    free(resp);
    if (status >= 200 && status < 300) {
        hb_counter_add(a->c_refreshes, 1);
        return HB_ACT_DONE;
    }
    if (status == 404) {
        HB_LOG(HB_LOG_INFO, "warehouse gone before its refresh", HB_S("warehouse", id));
        return HB_ACT_DONE;
    }
    hb_counter_add(a->c_patch_errors, 1);
    if (status < 0 || status == 401 || status == 409 || status == 429 || status >= 500)
        return HB_ACT_RETRY;
    return HB_ACT_DROP;
}

/* Matches one event (see match_batch); its decision as one line in *note:
 * "refresh ns/a, ns/b; skip ns/c (reason)", "skip (no_repo)" or "skip
 * (no_warehouse for REPO)"; adds the wanted Warehouses to *want. */
static void match_event(struct app *a, const struct hb_event *ev, char ***want, size_t *nwant,
                        struct hb_buf *note)
{
    const char *id = hb_event_get(ev, "id");
    char trace_id[HB_TRACE_ID_HEX + 1];
    struct kargo_facts f;
    if (kargo_facts_from_event(ev, &f) < 0) {
        HB_LOG(HB_LOG_DEBUG, "event without repo attribute skipped", HB_S("id", id));
        skip_metric(a, "no_repo");
        (void)hb_buf_puts(note, "skip (no_repo)");
        kargo_facts_clear(&f);
        return;
    }
    struct visit v = {.facts = &f};
    wh_cache_visit(a->cache, f.repo, on_sub, &v);
    char **hit = NULL;
    size_t nhit = 0;
    struct hb_buf skips;
    hb_buf_init(&skips, NOTE_MAX);
    for (size_t i = 0; i < v.n; i++) {
        if (v.t[i].reason) {
            (void)hb_buf_printf(&skips, "%s%s (%s)", skips.len ? ", " : "", v.t[i].id,
                                v.t[i].reason);
            HB_LOG(HB_LOG_DEBUG, "warehouse skipped", HB_S("id", id), HB_S("repo", f.repo),
                   HB_S("warehouse", v.t[i].id), HB_S("reason", v.t[i].reason));
            skip_metric(a, v.t[i].reason);
        } else {
            (void)hb_buf_printf(note, "%s%s", note->len ? ", " : "refresh ", v.t[i].id);
            (void)list_add(&hit, &nhit, v.t[i].id);
            (void)list_add(want, nwant, v.t[i].id);
        }
        free(v.t[i].id);
    }
    if (v.overflow)
        HB_LOG(HB_LOG_WARN,
               "too many warehouses for one repository; some were not "
               "considered",
               HB_S("repo", f.repo), HB_I("limit", MAX_TARGETS));
    char names[1024];
    join_ids(hit, nhit, names, sizeof(names));
    HB_LOG(nhit ? HB_LOG_INFO : HB_LOG_DEBUG,
           nhit ? "event matches warehouses" : "event matches no warehouse", HB_S("id", id),
           HB_S("repo", f.repo), HB_S("ref", f.ref), HB_S("tag", f.tag), HB_I("matched", nhit),
           HB_I("considered", v.n), HB_S("warehouses", names),
           HB_S("trace_id", hb_trace_id_of(ev, trace_id)));
    if (!v.n) {
        skip_metric(a, "no_warehouse");
        (void)hb_buf_printf(note, "skip (no_warehouse for %s)", f.repo);
    } else if (skips.len) {
        (void)hb_buf_printf(note, "%sskip %s", note->len ? "; " : "", skips.p);
    }
    hb_buf_free(&skips);
    for (size_t i = 0; i < nhit; i++)
        free(hit[i]);
    free(hit);
    free(v.t);
    kargo_facts_clear(&f);
}

/* Matches every event of batch b against the cache: logs per event which
 * Warehouses it wants (and at debug level which it does not, and why), notes
 * the same for the console (hb_batch_note: "refresh ns/a; skip ns/b
 * (reason)", the reasons of the skip metric) and adds the wanted ones to
 * *want (the union over the batch, "ns/name"). */
static void match_batch(struct app *a, const struct hb_batch *b, char ***want, size_t *nwant)
{
    struct hb_buf note;
    for (size_t e = 0; e < b->n; e++) {
        hb_buf_init(&note, NOTE_MAX);
        match_event(a, b->events[e], want, nwant, &note);
        hb_batch_note(b, e, note.p ? note.p : "");
        hb_buf_free(&note);
    }
}

/* The action for one debounce window of a repository: the union of the
 * Warehouses its events want, each patched once. A retry of the same batch
 * skips those an earlier attempt refreshed. Any retryable failure makes the
 * batch HB_ACT_RETRY; else a permanent one makes it HB_ACT_DROP. */
static enum hb_act act(void *ud, const struct hb_batch *b, char *err, size_t errlen)
{
    struct app *a = ud;
    char **want = NULL; /* union over the batch */
    size_t nwant = 0;
    enum hb_act result = HB_ACT_DONE;

    match_batch(a, b, &want, &nwant);
    struct done_set *done = done_take(a, b);
    if (!done && (done = calloc(1, sizeof(*done)))) {
        hb_strlcpy(done->key, b->key ? b->key : "", sizeof(done->key));
        batch_sig(b, done->sig, sizeof(done->sig));
    }
    char now[32];
    hb_now_rfc3339(now);
    /* The PATCHes are the action's span: a child of the newest event's. */
    struct hb_trace span;
    char tp[HB_TRACEPARENT_SIZE];
    bool traced = hb_batch_trace(b, &span) == 0;
    if (traced)
        hb_trace_format(&span, tp);
    char **ok = NULL;
    size_t nok = 0;
    for (size_t i = 0; i < nwant; i++) {
        if (done && list_has(done->names, done->n, want[i]))
            continue; /* refreshed by an earlier attempt of this batch */
        char perr[600] = "";
        enum hb_act r = refresh_one(a, want[i], now, traced ? tp : NULL, perr, sizeof(perr));
        if (r == HB_ACT_DONE) {
            (void)list_add(&ok, &nok, want[i]);
            if (done)
                (void)list_add(&done->names, &done->n, want[i]);
            continue;
        }
        HB_LOG(HB_LOG_WARN, "warehouse refresh failed", HB_S("warehouse", want[i]),
               HB_S("error", perr), HB_B("retry", r == HB_ACT_RETRY), HB_I("attempt", b->attempt),
               HB_S("trace_id", traced ? span.trace_id : ""));
        if (result != HB_ACT_RETRY) {
            result = r;
            (void)hb_snprintf(err, errlen, "%s", perr);
        }
    }
    if (nok) {
        char names[1024];
        join_ids(ok, nok, names, sizeof(names));
        HB_LOG(HB_LOG_INFO, "warehouses refreshed", HB_S("repo", b->key), HB_I("events", b->n),
               HB_I("refreshed", nok), HB_S("warehouses", names), HB_S("at", now),
               HB_S("trace_id", traced ? span.trace_id : ""));
    }
    if (result == HB_ACT_RETRY && done)
        done_put(a, done);
    else
        done_free(done);
    for (size_t i = 0; i < nwant; i++)
        free(want[i]);
    free(want);
    for (size_t i = 0; i < nok; i++)
        free(ok[i]);
    free(ok);
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

/* --kubeconfig FILE (or --kubeconfig=FILE) is hookbus-kargo's own flag; it
 * becomes HOOKBUS_KARGO_KUBECONFIG so it beats the file like every flag. */
static int take_kubeconfig_flag(int argc, char **argv)
{
    int w = 1;
    for (int r = 1; r < argc; r++) {
        const char *v = NULL;
        if (strcmp(argv[r], "--kubeconfig") == 0 && r + 1 < argc)
            v = argv[++r];
        else if (hb_str_has_prefix(argv[r], "--kubeconfig="))
            v = argv[r] + 13;
        if (v) {
            setenv("HOOKBUS_KARGO_KUBECONFIG", v, 1);
            continue;
        }
        argv[w++] = argv[r];
    }
    argv[w] = NULL;
    return w;
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
    char **want = NULL;
    size_t nwant = 0;
    hb_buf_init(&note, NOTE_MAX);
    match_event(ud, ev, &want, &nwant, &note);
    printf("%s: %s\n", hb_event_get(ev, "id"), note.p ? note.p : "");
    for (size_t i = 0; i < nwant; i++)
        free(want[i]);
    free(want);
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
        .key = key,
        .act = act,
        .stop = stop,
        .destroy = destroy,
        .fields = kargo_fields,
        .nfields = HB_ARRAY_LEN(kargo_fields),
        .fields_prefix = "kargo.",
        .api = api,
    };
    const char *event = NULL;
    argc = take_kubeconfig_flag(argc, argv);
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
