/* discover.c: sources found in the cluster: the repositories Kargo
 * Warehouses subscribe to (poller.discover.kargo) and the images Argo CD
 * Image Updater's ImageUpdater resources name (poller.discover.image_updater),
 * each from lib's list + watch cache (hookbus/kube_cache.h, the cache
 * hookbus-kargo's Warehouse view is). Each object compiles into the keys of
 * the sources it names; the sources are reference counted (pl_loop_ref /
 * pl_loop_unref), so a repository many objects name is polled once, and one
 * no object names any more is dropped.
 *
 * Credentials: with poller.discover.kargo_credentials, the Secrets Kargo
 * keeps repository credentials in (labelled kargo.akuity.io/cred-type: git,
 * image or helm, in the project's namespace, with repoURL (+ repoURLIsRegex)
 * or the older repoURLPattern, username and password) are listed and watched
 * too, and a source a Warehouse names is polled with the credentials Kargo
 * would use for it. A repository listed under poller.sources is polled as
 * listed there, with its own credentials. Secret values never reach a log,
 * a metric or an event. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hookbus/kube_cache.h"
#include "hookbus/regex.h"
#include "hookbus/secret.h"
#include "hookbus/tag_rules.h"
#include "hookbus/kube_consumer.h"
#include "hookbus/log.h"
#include "hookbus/util.h"
#include "poller.h"

#define PL_KARGO_API "/apis/kargo.akuity.io/v1alpha1"
#define PL_IU_API "/apis/argocd-image-updater.argoproj.io/v1alpha1"
#define PL_CORE_API "/api/v1"
#define PL_ARGOCD_API "/apis/argoproj.io/v1alpha1"
#define PL_IMAGE_LIST_ANN "argocd-image-updater.argoproj.io/image-list"
#define PL_CRED_LABEL "kargo.akuity.io/cred-type"

struct pl_discovery {
    struct hb_kube_section sec;
    bool kargo, image_updater, kargo_credentials, iu_annotations;
    struct hb_kube *kube;
    struct hb_kube_cache *warehouses, *image_updaters, *secrets, *applications;
    char **cred_scope; /* the Secrets' namespaces: kube.namespaces + the shared ones */
    size_t ncred_scope;
};

/* A compiled object: the keys of the sources it holds a reference on, and
 * the tag rules of each reference (NULL: every tag). */
struct wh_refs {
    struct pl_poller *p;
    size_t n;
    char **keys;
    struct hb_tag_rules **rules;
};

static void rules_free(struct hb_tag_rules *r)
{
    if (!r)
        return;
    hb_tag_rules_clear(r);
    free(r);
}

static void wh_release(void *ud, void *value)
{
    (void)ud;
    struct wh_refs *w = value;
    if (!w)
        return;
    for (size_t i = 0; i < w->n; i++) {
        pl_loop_unref(w->p, w->keys[i], w->rules[i]);
        free(w->keys[i]);
        rules_free(w->rules[i]);
    }
    free(w->keys);
    free(w->rules);
    free(w);
}

static const char *str_at(const cJSON *o, const char *k)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

/* Takes a reference on the source of kind at url for w (ns, cred_type:
 * pl_loop_ref's), wanting the tags rules let through (taken; NULL: all). */
static void add_ref(struct wh_refs *w, enum pl_kind kind, const char *url, const char *chart,
                    const char *ns, const char *cred_type, struct hb_tag_rules *rules)
{
    char key[HB_REPO_ID_MAX + 8];
    char **nk = realloc(w->keys, (w->n + 1) * sizeof(*nk));
    if (nk)
        w->keys = nk;
    struct hb_tag_rules **nr = nk ? realloc(w->rules, (w->n + 1) * sizeof(*nr)) : NULL;
    if (nr)
        w->rules = nr;
    if (!nr || pl_loop_ref(w->p, kind, url, chart, ns, cred_type, rules, key, sizeof(key)) < 0)
        goto fail;
    if (!(w->keys[w->n] = strdup(key))) {
        pl_loop_unref(w->p, key, rules);
        goto fail;
    }
    w->rules[w->n++] = rules;
    return;
fail:
    rules_free(rules);
}

/* The tag rules Kargo applies to a subscription's tags: allow / ignore
 * lists of a git subscription that selects tags (SemVer, Lexical,
 * NewestTag) or an image subscription that does not follow one mutable tag
 * (all but Digest). NULL (every tag) otherwise, when it has none, or when
 * they do not compile (never drop silently: Kargo would refuse the
 * subscription, a fixed Warehouse then finds the tags tracked). */
static struct hb_tag_rules *sub_rules(const cJSON *o, bool git, const char *ns, const char *name)
{
    const char *strategy = str_at(o, git ? "commitSelectionStrategy" : "imageSelectionStrategy");
    char err[400];
    if (git ? !strategy || strcmp(strategy, "NewestFromBranch") == 0
            : strategy && strcmp(strategy, "Digest") == 0)
        return NULL;
    struct hb_tag_rules *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    if (hb_tag_rules_compile(o, r, err, sizeof(err)) < 0) {
        HB_LOG(HB_LOG_WARN, "warehouse tag rules not applied", HB_S("namespace", ns),
               HB_S("warehouse", name), HB_S("reason", err));
        rules_free(r);
        return NULL;
    }
    if (hb_tag_rules_empty(r)) {
        rules_free(r);
        return NULL;
    }
    return r;
}

/* One subscription's source: git.repoURL, image.repoURL, chart.repoURL +
 * name (an oci:// chart is an image repository), with its tag rules. */
static void add_sub(struct wh_refs *w, const cJSON *sub, const char *ns, const char *name)
{
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(sub, "git");
    const cJSON *i = cJSON_GetObjectItemCaseSensitive(sub, "image");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(sub, "chart");
    enum pl_kind kind;
    const char *url, *chart = NULL, *cred_type = "helm"; /* Kargo's credential types */
    if (g) {
        kind = PL_GIT;
        url = str_at(g, "repoURL");
        cred_type = "git";
    } else if (i) {
        kind = PL_IMAGE;
        url = str_at(i, "repoURL");
        cred_type = "image";
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
    add_ref(w, kind, url, chart, ns, w->p->discovery->kargo_credentials ? cred_type : NULL,
            g || i ? sub_rules(g ? g : i, g != NULL, ns, name) : NULL);
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
            add_ref(w, PL_IMAGE, repo, NULL, NULL, NULL, NULL);
        }
    }
    return w;
}

/* ---- Image Updater 0.x: the image-list annotation of Applications ---- */

/* True for the characters of an alias (Image Updater's are names). */
static bool alias_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
}

int pl_image_list_each(const char *list, void (*fn)(void *arg, const char *repo), void *arg)
{
    int skipped = 0;
    const char *p = list;
    while (*p) {
        size_t n = strcspn(p, ",");
        const char *e = p + n;
        while (p < e && (*p == ' ' || *p == '\t' || *p == '\n'))
            p++;
        const char *end = e;
        while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n'))
            end--;
        /* "alias=image:constraint": the alias is a name before the first '='
         * (a constraint may hold '=' too: "app:>=1.0" has no alias). */
        const char *q = p;
        while (q < end && alias_char(*q))
            q++;
        if (q < end && *q == '=' && q > p)
            p = q + 1;
        char entry[HB_REPO_ID_MAX], repo[HB_REPO_ID_MAX];
        size_t len = (size_t)(end - p);
        if (len > 0 && len < sizeof(entry)) {
            memcpy(entry, p, len);
            entry[len] = '\0';
        }
        if (len == 0 || len >= sizeof(entry) || pl_image_name_repo(entry, repo, sizeof(repo)) < 0)
            skipped++;
        else
            fn(arg, repo);
        p = *e ? e + 1 : e;
    }
    return skipped;
}

static void app_image(void *arg, const char *repo)
{
    add_ref(arg, PL_IMAGE, repo, NULL, NULL, NULL, NULL);
}

/* An Argo CD Application: the images of its image-list annotation. */
static void *app_compile(void *ud, const void *json, const char *ns, const char *name,
                         struct hb_kube_keys *keys)
{
    (void)keys;
    const char *list = str_at(
        cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive((const cJSON *)json, "metadata"), "annotations"),
        PL_IMAGE_LIST_ANN);
    struct wh_refs *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->p = ud;
    if (list && pl_image_list_each(list, app_image, w) > 0)
        HB_LOG(HB_LOG_WARN, "image updater image not polled", HB_S("namespace", ns),
               HB_S("application", name), HB_S("reason", "empty or malformed image-list entry"));
    return w;
}

/* ---- Kargo's credential Secrets ---- */

/* One credential Secret, compiled (indexed under "<type>/<namespace>"). */
struct pl_cred {
    char *name;          /* the Secret's, for the order of pattern matches */
    char *repo_url;      /* repoURL; NULL for a pattern */
    struct hb_regex *re; /* repoURLIsRegex / repoURLPattern */
    char *user;
    struct hb_secret password;
};

static void cred_release(void *ud, void *value)
{
    (void)ud;
    struct pl_cred *c = value;
    if (!c)
        return;
    free(c->name);
    free(c->repo_url);
    hb_regex_free(c->re);
    if (c->user) {
        explicit_bzero(c->user, strlen(c->user));
        free(c->user);
    }
    hb_secret_clear(&c->password);
    free(c);
}

/* data.<k> decoded (Secrets' values are base64 in the API), NULL when
 * absent or not base64. Caller wipes and frees. */
static char *secret_data(const cJSON *data, const char *k, size_t *len)
{
    const char *b64 = str_at(data, k);
    size_t n = 0;
    unsigned char *v = b64 ? hb_base64_decode(b64, strlen(b64), &n) : NULL;
    if (len)
        *len = n;
    return (char *)v;
}

static void wipe_free(char *s, size_t n)
{
    if (s) {
        explicit_bzero(s, n);
        free(s);
    }
}

static void *cred_compile(void *ud, const void *json, const char *ns, const char *name,
                          struct hb_kube_keys *keys)
{
    (void)ud;
    const cJSON *o = json;
    const char *type = str_at(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "metadata"), "labels"),
        PL_CRED_LABEL);
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(o, "data");
    const char *why = NULL;
    char *url = NULL, *is_re = NULL, *pattern = NULL, err[256], key[320];
    size_t ulen = 0, rlen = 0, plen = 0;
    struct pl_cred *c = NULL;
    if (!type ||
        (strcmp(type, "git") != 0 && strcmp(type, "image") != 0 && strcmp(type, "helm") != 0))
        return NULL; /* generic and other credentials: not a repository's */
    if (!(c = calloc(1, sizeof(*c))) || !(c->name = strdup(name)))
        goto fail;
    url = secret_data(data, "repoURL", &ulen);
    is_re = secret_data(data, "repoURLIsRegex", &rlen);
    pattern = secret_data(data, "repoURLPattern", &plen); /* before repoURLIsRegex */
    if (url && is_re && strcmp(is_re, "true") == 0) {
        if (!(c->re = hb_regex_new(url, err, sizeof(err))))
            why = "repoURL is not a valid regex";
    } else if (url) {
        c->repo_url = strdup(url);
    } else if (pattern) {
        if (!(c->re = hb_regex_new(pattern, err, sizeof(err))))
            why = "repoURLPattern is not a valid regex";
    } else {
        why = "no repoURL";
    }
    size_t pn = 0;
    c->user = secret_data(data, "username", NULL);
    c->password.value = secret_data(data, "password", &pn);
    c->password.len = pn;
    if (!why && (!c->user || !c->password.value))
        why = "no username and password";
    if (why || (!c->repo_url && !c->re) || hb_snprintf(key, sizeof(key), "%s/%s", type, ns) < 0 ||
        hb_kube_keys_add(keys, key, 0) < 0)
        goto fail;
    wipe_free(url, ulen);
    wipe_free(is_re, rlen);
    wipe_free(pattern, plen);
    return c;
fail:
    if (why) /* the Secret's name and what is missing, never a value */
        HB_LOG(HB_LOG_WARN, "credentials secret ignored", HB_S("namespace", ns),
               HB_S("secret", name), HB_S("reason", why));
    wipe_free(url, ulen);
    wipe_free(is_re, rlen);
    wipe_free(pattern, plen);
    cred_release(NULL, c);
    return NULL;
}

/* The search of one source's credentials across its namespaces. */
struct cred_search {
    const struct pl_source *src;
    char id[HB_REPO_ID_MAX]; /* the source repository's canonical id */
    const struct pl_cred *exact, *pattern;
    char *user;
    struct hb_secret password;
};

/* The canonical id of a credential's repoURL for a source of kind (Git
 * URLs and image / chart references are canonicalized differently). */
static int cred_id(const struct pl_source *s, const char *url, char *out, size_t outlen)
{
    return s->kind == PL_GIT ? hb_repo_git_id(url, out, outlen)
                             : hb_repo_image_id(url, out, outlen);
}

static void cred_visit(void *ud, const char *ns, const char *name, const void *value, size_t slot)
{
    (void)ns;
    (void)name;
    (void)slot;
    struct cred_search *cs = ud;
    const struct pl_cred *c = value;
    char id[HB_REPO_ID_MAX];
    if (c->repo_url) {
        if (!cs->exact && cred_id(cs->src, c->repo_url, id, sizeof(id)) == 0 &&
            strcmp(id, cs->id) == 0)
            cs->exact = c;
    } else if (hb_regex_search(c->re, cs->src->url) == 1 || hb_regex_search(c->re, cs->id) == 1) {
        if (!cs->pattern || strcmp(c->name, cs->pattern->name) < 0)
            cs->pattern = c;
    }
    const struct pl_cred *best = cs->exact ? cs->exact : cs->pattern;
    if (best != c)
        return;
    /* Copied now: the cache's values may change once its lock is released. */
    free(cs->user);
    hb_secret_clear(&cs->password);
    cs->user = strdup(c->user);
    if ((cs->password.value = strdup(c->password.value)))
        cs->password.len = c->password.len;
}

void pl_discovery_credentials(struct pl_poller *p, struct pl_source *s)
{
    struct pl_discovery *d = p->discovery;
    struct cred_search cs = {.src = s};
    char key[320];
    if (!d || !d->secrets)
        return;
    /* The repository a chart source's credentials name is the chart
     * repository, not <repository>/<chart>. */
    if (cred_id(s, s->url, cs.id, sizeof(cs.id)) < 0)
        return;
    /* Namespace by namespace (the Warehouses' own, then the shared ones), as
     * Kargo: the first with a match decides, its exact match first. */
    pthread_mutex_lock(&p->lock);
    const char *type = s->cred_type;
    for (size_t i = 0; type && i < s->ncred_ns + p->nshared; i++) {
        const char *ns = i < s->ncred_ns ? s->cred_ns[i] : p->shared_ns[i - s->ncred_ns];
        cs.exact = cs.pattern = NULL;
        if (hb_snprintf(key, sizeof(key), "%s/%s", type, ns) == 0)
            hb_kube_cache_visit(d->secrets, key, cred_visit, &cs);
        if (cs.exact || cs.pattern)
            break;
    }
    pthread_mutex_unlock(&p->lock);
    if (!type)
        return; /* not a Warehouse's: no Kargo credentials */
    bool had = s->user != NULL;
    free(s->user);
    hb_secret_clear(&s->password);
    s->user = cs.user;
    s->password = cs.password;
    if (had != (s->user != NULL))
        HB_LOG(HB_LOG_INFO, s->user ? "credentials found" : "credentials gone",
               HB_S("source", s->key));
}

int pl_discovery_configure(struct pl_poller *p, const struct hb_config *cfg, bool kargo,
                           bool image_updater, bool iu_annotations, char *err, size_t errlen)
{
    const struct hb_node *node;
    if (!(p->discovery = calloc(1, sizeof(*p->discovery)))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    p->discovery->kargo_credentials = kargo && p->conf.discover_kargo_credentials;
    p->discovery->kargo = kargo;
    p->discovery->iu_annotations = iu_annotations;
    p->discovery->image_updater = image_updater;
    return hb_kube_section_load(cfg, "kube", &p->discovery->sec, &node, err, errlen);
}

/* The list + watch of one resource, started. NULL with err. */
static struct hb_kube_cache *watch(struct pl_poller *p, const char *api, const char *plural,
                                   void *(*compile)(void *, const void *, const char *,
                                                    const char *, struct hb_kube_keys *),
                                   void (*release)(void *, void *), const char *metric_labels,
                                   struct hb_metrics *m, char *err, size_t errlen)
{
    struct pl_discovery *d = p->discovery;
    struct hb_kube_cache_opts o = hb_kube_section_cache_opts(&d->sec, api, plural);
    o.compile = compile;
    o.release = release;
    if (compile == cred_compile) { /* Kargo's credentials only, not every Secret */
        o.label_selector = PL_CRED_LABEL;
        if (d->ncred_scope) {
            o.namespaces = d->cred_scope;
            o.nnamespaces = d->ncred_scope;
        }
    }
    /* Annotations do not bump the generation: a changed image list must
     * recompile the Application. */
    static const char *const app_annotations[] = {PL_IMAGE_LIST_ANN, NULL};
    if (compile == app_compile)
        o.version_annotations = app_annotations;
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
    /* Limited to some namespaces: the shared credentials' are watched too. */
    if (d->kargo_credentials && d->sec.nnamespaces && p->nshared) {
        if (!(d->cred_scope = calloc(d->sec.nnamespaces + p->nshared, sizeof(char *)))) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        for (size_t i = 0; i < d->sec.nnamespaces + p->nshared; i++) {
            const char *ns = i < d->sec.nnamespaces ? d->sec.namespaces[i]
                                                    : p->shared_ns[i - d->sec.nnamespaces];
            bool dup = false;
            for (size_t k = 0; k < d->ncred_scope; k++)
                dup |= strcmp(d->cred_scope[k], ns) == 0;
            if (!dup)
                d->cred_scope[d->ncred_scope++] = (char *)ns; /* borrowed */
        }
    }
    /* The Secrets first: a Warehouse's first poll finds its credentials. */
    if (d->kargo_credentials &&
        !(d->secrets = watch(p, PL_CORE_API, "secrets", cred_compile, cred_release,
                             "resource=\"secrets\"", m, err, errlen)))
        return -1;
    if (d->kargo && !(d->warehouses = watch(p, PL_KARGO_API, "warehouses", wh_compile, wh_release,
                                            "resource=\"warehouses\"", m, err, errlen)))
        return -1;
    if (d->image_updater &&
        !(d->image_updaters = watch(p, PL_IU_API, "imageupdaters", iu_compile, wh_release,
                                    "resource=\"imageupdaters\"", m, err, errlen)))
        return -1;
    if (d->iu_annotations &&
        !(d->applications = watch(p, PL_ARGOCD_API, "applications", app_compile, wh_release,
                                  "resource=\"applications\"", m, err, errlen)))
        return -1;
    return 0;
}

bool pl_discovery_ready(struct pl_poller *p)
{
    struct pl_discovery *d = p->discovery;
    if (!d)
        return true;
    return (!d->kargo_credentials || (d->secrets && hb_kube_cache_ready(d->secrets))) &&
           (!d->kargo || (d->warehouses && hb_kube_cache_ready(d->warehouses))) &&
           (!d->iu_annotations || (d->applications && hb_kube_cache_ready(d->applications))) &&
           (!d->image_updater || (d->image_updaters && hb_kube_cache_ready(d->image_updaters)));
}

void pl_discovery_free(struct pl_poller *p)
{
    struct pl_discovery *d = p->discovery;
    if (!d)
        return;
    struct hb_kube_cache *caches[] = {d->warehouses, d->image_updaters, d->applications,
                                      d->secrets};
    for (size_t i = 0; i < HB_ARRAY_LEN(caches); i++)
        if (caches[i]) {
            hb_kube_cache_stop(caches[i]);
            hb_kube_cache_free(caches[i]);
        }
    hb_kube_free(d->kube);
    free(d->cred_scope);
    hb_kube_section_free(&d->sec);
    free(d);
    p->discovery = NULL;
}
