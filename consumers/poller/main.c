/* main.c: hookbus-poller, the polling backstop. It polls each configured
 * source (Git remotes, OCI registry repositories, Helm chart repositories)
 * once for every consumer downstream and publishes the same events a
 * webhook of the change gives (provider poller, source /pollers/<name>).
 *
 * It is a consumer too: the runtime (hookbus/consumer.h) reads the event
 * topics, and every webhook event (any provider but the poller) marks its
 * repository as served by webhooks, which stretches that source's interval
 * to webhook_interval. The runtime also brings the common keys, flags,
 * --check-config and the admin listener; this file reads the `poller:`
 * section and starts the poll thread (loop.c). */
#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hookbus/config.h"
#include "hookbus/consumer.h"
#include "hookbus/log.h"
#include "hookbus/util.h"
#include "poller.h"

#define PL_KEY(k) "poller." k
static const struct hb_field pl_fields[] = {
    {PL_KEY("name"), HB_F_STRING, offsetof(struct pl_conf, name), "poller", 0, 0,
     "events carry source /pollers/<name> and receiver <name>"},
    {PL_KEY("interval"), HB_F_DURATION, offsetof(struct pl_conf, interval_ms), "5m", 100, 86400000L,
     "time between two polls of a source (jittered +-10 %)"},
    {PL_KEY("webhook_interval"), HB_F_DURATION, offsetof(struct pl_conf, webhook_interval_ms),
     "30m", 100, 86400000L, "the interval of a source that had a webhook event within it"},
    {PL_KEY("state_topic"), HB_F_STRING, offsetof(struct pl_conf, state_topic),
     "hookbus.poller.state", 0, 0, "compacted topic of the last seen refs / tags per source"},
    {PL_KEY("git_topic"), HB_F_STRING, offsetof(struct pl_conf, git_topic), "hookbus.git", 0, 0,
     "topic of git.push and git.tag events"},
    {PL_KEY("image_topic"), HB_F_STRING, offsetof(struct pl_conf, image_topic), "hookbus.image", 0,
     0, "topic of image.push and chart.push events"},
    {PL_KEY("request_timeout"), HB_F_DURATION, offsetof(struct pl_conf, request_timeout_ms), "30s",
     100, 600000, "one HTTP request"},
    {PL_KEY("git_timeout"), HB_F_DURATION, offsetof(struct pl_conf, git_timeout_ms), "30s", 100,
     3600000,
     "longest one Git listing (ls-remote) may take; a server silent for longer fails "
     "the poll (reason timeout)"},
    {PL_KEY("max_response_bytes"), HB_F_INT, offsetof(struct pl_conf, max_response_bytes),
     "67108864", 1024, 1073741824L, "largest HTTP response read (index.yaml, tag lists)"},
    {PL_KEY("host_requests_per_minute"), HB_F_INT,
     offsetof(struct pl_conf, host_requests_per_minute), "60", 1, 1000000,
     "request budget per registry / chart host"},
    {PL_KEY("max_retry_wait"), HB_F_DURATION, offsetof(struct pl_conf, max_retry_wait_ms), "60s", 0,
     3600000, "longest 429 Retry-After waited for within a poll; longer ones fail the poll"},
    {PL_KEY("sources"), HB_F_LIST, 0, "[]", 0, 0,
     "what to poll: entries {git: URL}, {image: REF}, {chart: URL, name: CHART}, each with "
     "optional credentials {username, password, token, ssh_key_file, ssh_user, "
     "ssh_passphrase, ssh_host_key_sha256} (secrets as env:/file:/literal: references), "
     "insecure_skip_verify, plain_http (image), and tags: a PCRE2 regex limiting the tags "
     "(git tags, image tags, chart versions) published and tracked"},
    {PL_KEY("discover.kargo"), HB_F_BOOL, offsetof(struct pl_conf, discover_kargo), "false", 0, 0,
     "also poll every repository a Kargo Warehouse subscribes to (the cluster of the kube: "
     "section: kubeconfig, context, namespaces, label_selector, service_account_dir, "
     "resync_interval, request_timeout, watch_timeout, max_response_bytes, page_size)"},
    {PL_KEY("discover.image_updater"), HB_F_BOOL, offsetof(struct pl_conf, discover_image_updater),
     "false", 0, 0,
     "also poll every image an Argo CD Image Updater ImageUpdater names (same kube: section)"},
    {PL_KEY("discover.image_updater_annotations"), HB_F_BOOL,
     offsetof(struct pl_conf, discover_image_updater_annotations), "false", 0, 0,
     "also poll every image an Argo CD Application's argocd-image-updater.argoproj.io/image-list "
     "annotation names (Image Updater 0.x; same kube: section)"},
    {PL_KEY("discover.kargo_credentials"), HB_F_BOOL,
     offsetof(struct pl_conf, discover_kargo_credentials), "false", 0, 0,
     "poll the repositories Warehouses name with Kargo's credentials: the Secrets labelled "
     "kargo.akuity.io/cred-type (git, image, helm) in each Warehouse's namespace, matched by "
     "repoURL or repoURLIsRegex as Kargo does (needs get, list, watch on secrets)"},
    {PL_KEY("discover.kargo_shared_namespaces"), HB_F_LIST, 0, "[]", 0, 0,
     "namespaces of shared Kargo credentials (as Kargo's shared resources namespace), "
     "searched after the Warehouse's own"},
    {PL_KEY("discover.plain_http_registries"), HB_F_LIST, 0, "[]", 0, 0,
     "registries (host:port) whose discovered images are polled over plain HTTP"},
};

static const char pl_help[] =
    "Sources, e.g.:\n"
    "  poller:\n"
    "    sources:\n"
    "      - {git: \"https://git.example.com/acme/app.git\",\n"
    "         credentials: {username: bot, password: \"env:GIT_TOKEN\"}}\n"
    "      - {git: \"git@github.com:acme/infra.git\", credentials: {ssh_key_file: /etc/hookbus/key,\n"
    "         ssh_host_key_sha256: \"SHA256:+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU\"}}\n"
    "      - {image: \"ghcr.io/acme/app\"}\n"
    "      - {image: \"registry.internal:5000/acme/app\", plain_http: true}\n"
    "      - {chart: \"https://charts.example.com\", name: app}\n";

static void poller_free(struct pl_poller *p)
{
    if (!p)
        return;
    pl_loop_stop(p);
    pl_discovery_free(p); /* releases the Warehouses: unrefs their sources */
    pl_loop_free_discovered(p);
    pl_kafka_free(p->kafka);
    pl_http_free(&p->http);
    for (size_t i = 0; i < p->nsources; i++)
        pl_source_clear(&p->sources[i]);
    free(p->sources);
    free(p->brokers);
    for (size_t i = 0; i < p->nplain; i++)
        free(p->plain_http_registries[i]);
    free(p->plain_http_registries);
    for (size_t i = 0; i < p->nshared; i++)
        free(p->shared_ns[i]);
    free(p->shared_ns);
    hb_kv_list_free(&p->props);
    hb_config_fields_free(pl_fields, HB_ARRAY_LEN(pl_fields), &p->conf);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
    free(p);
}

/* A string member of a map node, or NULL; error when present but not a
 * non-empty scalar. */
static int str_of(const struct hb_config *cfg, const struct hb_node *map, const char *key,
                  const char *where, char **out, char *err, size_t errlen)
{
    const struct hb_node *n = hb_node_get(map, key);
    *out = NULL;
    if (!n)
        return 0;
    if (n->type != HB_NODE_SCALAR || !*n->value)
        return hb_config_error(cfg, n, err, errlen, "%s.%s: must be a string", where, key);
    if (!(*out = strdup(n->value)))
        return hb_config_error(cfg, n, err, errlen, "out of memory");
    return 0;
}

static int bool_of(const struct hb_config *cfg, const struct hb_node *map, const char *key,
                   const char *where, bool *out, char *err, size_t errlen)
{
    const struct hb_node *n = hb_node_get(map, key);
    *out = false;
    if (n && (n->type != HB_NODE_SCALAR || hb_parse_bool(n->value, out) < 0))
        return hb_config_error(cfg, n, err, errlen, "%s.%s: must be true or false", where, key);
    return 0;
}

static int secret_of(const struct hb_config *cfg, const struct hb_node *map, const char *key,
                     const char *where, struct hb_secret *out, char *err, size_t errlen)
{
    char *ref = NULL, why[256];
    if (str_of(cfg, map, key, where, &ref, err, errlen) < 0)
        return -1;
    if (!ref)
        return 0;
    int rc = hb_secret_resolve(ref, out, why, sizeof(why));
    free(ref);
    if (rc < 0)
        return hb_config_error(cfg, hb_node_get(map, key), err, errlen, "%s.%s: %s", where, key,
                               why);
    return 0;
}

/* One `sources:` entry into s. */
static int load_source(const struct hb_config *cfg, const struct hb_node *n, size_t idx,
                       struct pl_source *s, char *err, size_t errlen)
{
    char where[64];
    snprintf(where, sizeof(where), "poller.sources[%zu]", idx);
    if (n->type != HB_NODE_MAP)
        return hb_config_error(cfg, n, err, errlen, "%s: must be a map", where);
    char *git = NULL, *image = NULL, *chart = NULL;
    if (str_of(cfg, n, "git", where, &git, err, errlen) < 0 ||
        str_of(cfg, n, "image", where, &image, err, errlen) < 0 ||
        str_of(cfg, n, "chart", where, &chart, err, errlen) < 0) {
        free(git);
        free(image);
        free(chart);
        return -1;
    }
    int kinds = !!git + !!image + !!chart;
    const char *url = git ? git : image ? image : chart;
    enum pl_kind kind = git ? PL_GIT : image ? PL_IMAGE : PL_CHART;
    char *name = NULL, why[256];
    int rc = -1;
    if (kinds != 1) {
        hb_config_error(cfg, n, err, errlen, "%s: needs exactly one of git, image, chart", where);
        goto out;
    }
    if (str_of(cfg, n, "name", where, &name, err, errlen) < 0)
        goto out;
    if (kind == PL_CHART && !name) {
        hb_config_error(cfg, n, err, errlen, "%s.name: required for a chart source", where);
        goto out;
    }
    if (kind != PL_CHART && name) {
        hb_config_error(cfg, hb_node_get(n, "name"), err, errlen, "%s.name: only for chart sources",
                        where);
        goto out;
    }
    if (pl_source_identify(s, kind, url, name, why, sizeof(why)) < 0) {
        hb_config_error(cfg, n, err, errlen, "%s: %s", where, why);
        goto out;
    }
    rc = 0;
out:
    free(git);
    free(image);
    free(chart);
    free(name);
    if (rc < 0)
        return -1;
    if (bool_of(cfg, n, "plain_http", where, &s->plain_http, err, errlen) < 0 ||
        bool_of(cfg, n, "insecure_skip_verify", where, &s->insecure_skip_verify, err, errlen) < 0)
        return -1;
    const struct hb_node *tn = hb_node_get(n, "tags");
    if (tn) {
        if (tn->type != HB_NODE_SCALAR || !*tn->value)
            return hb_config_error(cfg, tn, err, errlen, "%s.tags: must be a regex", where);
        if (!(s->tags = hb_regex_new(tn->value, why, sizeof(why))))
            return hb_config_error(cfg, tn, err, errlen, "%s.tags: %s", where, why);
    }
    if (s->plain_http && s->kind != PL_IMAGE)
        return hb_config_error(cfg, hb_node_get(n, "plain_http"), err, errlen,
                               "%s.plain_http: only for image sources (use an http:// URL)", where);
    const struct hb_node *cr = hb_node_get(n, "credentials");
    if (cr) {
        char cw[96];
        snprintf(cw, sizeof(cw), "%s.credentials", where);
        if (cr->type != HB_NODE_MAP)
            return hb_config_error(cfg, cr, err, errlen, "%s: must be a map", cw);
        if (str_of(cfg, cr, "username", cw, &s->user, err, errlen) < 0 ||
            secret_of(cfg, cr, "password", cw, &s->password, err, errlen) < 0 ||
            secret_of(cfg, cr, "token", cw, &s->token, err, errlen) < 0 ||
            str_of(cfg, cr, "ssh_key_file", cw, &s->ssh_key_file, err, errlen) < 0 ||
            str_of(cfg, cr, "ssh_user", cw, &s->ssh_user, err, errlen) < 0 ||
            str_of(cfg, cr, "ssh_host_key_sha256", cw, &s->ssh_host_key_sha256, err, errlen) < 0 ||
            secret_of(cfg, cr, "ssh_passphrase", cw, &s->ssh_passphrase, err, errlen) < 0)
            return -1;
        if (s->ssh_key_file && s->kind != PL_GIT)
            return hb_config_error(cfg, cr, err, errlen, "%s.ssh_key_file: only for git", cw);
        if (s->ssh_key_file && !s->ssh_host_key_sha256 && !s->insecure_skip_verify)
            return hb_config_error(cfg, cr, err, errlen,
                                   "%s.ssh_host_key_sha256: required with ssh_key_file (the "
                                   "server's key as `ssh-keygen -lf` prints it, SHA256:...)",
                                   cw);
        if (s->user && !s->password.value && s->kind != PL_GIT)
            return hb_config_error(cfg, cr, err, errlen, "%s.password: required with username", cw);
    }
    return 0;
}

static int load_sources(const struct hb_config *cfg, struct pl_poller *p, char *err, size_t errlen)
{
    const struct hb_node *list = hb_node_path(cfg->root, "poller.sources");
    if (!list)
        return 0;
    if (list->type != HB_NODE_SEQ)
        return hb_config_error(cfg, list, err, errlen, "poller.sources: must be a list");
    if (!(p->sources = calloc(list->n ? list->n : 1, sizeof(*p->sources))))
        return hb_config_error(cfg, list, err, errlen, "out of memory");
    for (size_t i = 0; i < list->n; i++) {
        struct pl_source *s = &p->sources[p->nsources++];
        ((struct hb_node *)&list->items[i])->used = true; /* its keys are checked */
        if (load_source(cfg, &list->items[i], i, s, err, errlen) < 0)
            return -1;
        for (size_t k = 0; k + 1 < p->nsources; k++)
            if (strcmp(p->sources[k].key, s->key) == 0)
                return hb_config_error(cfg, &list->items[i], err, errlen,
                                       "poller.sources[%zu]: %s is already listed", i, s->key);
    }
    return 0;
}

/* The list of non-empty strings at path (what: "host", "namespace") into
 * *out / *n, lowercased. 0 or -1 with err. */
static int load_strings(const struct hb_config *cfg, const char *path, const char *what,
                        char ***out, size_t *n, char *err, size_t errlen)
{
    const struct hb_node *l = hb_node_path(cfg->root, path);
    if (l && l->type != HB_NODE_SEQ)
        return hb_config_error(cfg, l, err, errlen, "%s: must be a list of %ss", path, what);
    if (l && l->n && !(*out = calloc(l->n, sizeof(char *))))
        return hb_config_error(cfg, l, err, errlen, "out of memory");
    for (size_t i = 0; l && i < l->n; i++) {
        const struct hb_node *h = &l->items[i];
        ((struct hb_node *)h)->used = true;
        if (h->type != HB_NODE_SCALAR || !*h->value)
            return hb_config_error(cfg, h, err, errlen, "%s[%zu]: must be a %s", path, i, what);
        if (!((*out)[(*n)++] = strdup(h->value)))
            return hb_config_error(cfg, h, err, errlen, "out of memory");
        hb_str_lower((*out)[*n - 1]);
    }
    return 0;
}

/* discover.*: kargo and image_updater read the `kube:` section;
 * plain_http_registries is a list of hosts, kargo_shared_namespaces of
 * namespaces. */
static int load_discover(const struct hb_config *cfg, struct pl_poller *p, char *err, size_t errlen)
{
    if (load_strings(cfg, "poller.discover.plain_http_registries", "host",
                     &p->plain_http_registries, &p->nplain, err, errlen) < 0 ||
        load_strings(cfg, "poller.discover.kargo_shared_namespaces", "namespace", &p->shared_ns,
                     &p->nshared, err, errlen) < 0)
        return -1;
    bool kargo = p->conf.discover_kargo, iu = p->conf.discover_image_updater;
    bool iu_ann = p->conf.discover_image_updater_annotations;
    if (kargo || iu || iu_ann)
        return pl_discovery_configure(p, cfg, kargo, iu, iu_ann, err, errlen);
    if (hb_node_get(cfg->root, "kube"))
        return hb_config_error(cfg, hb_node_get(cfg->root, "kube"), err, errlen,
                               "kube: only read with poller.discover.kargo, image_updater or "
                               "image_updater_annotations");
    return 0;
}

static int pl_configure(const struct hb_config *cfg, void **ud, char *err, size_t errlen)
{
    struct pl_poller *p = calloc(1, sizeof(*p));
    struct hb_consumer_config cc = {0};
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    *ud = p;
    if (hb_config_bind(cfg, NULL, "", pl_fields, HB_ARRAY_LEN(pl_fields), &p->conf, err, errlen) <
            0 ||
        load_sources(cfg, p, err, errlen) < 0 || load_discover(cfg, p, err, errlen) < 0)
        return -1;
    for (const char *c = p->conf.name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-'))
            return hb_config_error(cfg, hb_node_path(cfg->root, "poller.name"), err, errlen,
                                   "poller.name: only a-z, 0-9 and - (it is the receiver name)");
    if (!*p->conf.name || !*p->conf.state_topic || !*p->conf.git_topic || !*p->conf.image_topic) {
        snprintf(err, errlen, "poller: name and the topics must not be empty");
        return -1;
    }
    snprintf(p->source_attr, sizeof(p->source_attr), "/pollers/%s", p->conf.name);
    /* The producer and the state reader use the consumer's Kafka keys. */
    if (hb_consumer_config_load(cfg, "hookbus-poller", &cc, err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < cc.kafka_props.n; i++)
        if (hb_kv_list_add(&p->props, cc.kafka_props.keys[i], cc.kafka_props.values[i]) < 0) {
            hb_consumer_config_free(&cc);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    p->brokers = hb_consumer_brokers(&cc, err, errlen);
    hb_consumer_config_free(&cc);
    if (!p->brokers)
        return -1;
    p->http.per_minute = p->conf.host_requests_per_minute;
    p->http.timeout_ms = p->conf.request_timeout_ms;
    p->http.max_body = p->conf.max_response_bytes;
    p->http.max_wait_ms = p->conf.max_retry_wait_ms;
    p->seed = (unsigned int)hb_mono_ms() ^ (unsigned int)getpid();
    return 0;
}

static int pl_start(void *ud, struct hb_metrics *m, char *err, size_t errlen)
{
    struct pl_poller *p = ud;
    HB_LOG(HB_LOG_INFO, "polling", HB_I("sources", p->nsources),
           HB_I("interval_ms", p->conf.interval_ms),
           HB_I("webhook_interval_ms", p->conf.webhook_interval_ms));
    return pl_loop_start(p, m, err, errlen);
}

static bool pl_ready(void *ud)
{
    struct pl_poller *p = ud;
    return atomic_load(&p->ready) && pl_discovery_ready(p);
}

/* Every webhook event (any producer but a poller) stretches the polling of
 * its repository. */
static enum hb_act pl_act(void *ud, const struct hb_batch *b, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    struct pl_poller *p = ud;
    for (size_t i = 0; i < b->n; i++) {
        const char *src = hb_event_get(b->events[i], "source");
        const char *repo = hb_event_get(b->events[i], "repo");
        const char *type = hb_event_get(b->events[i], "type");
        if (!repo || !type || (src && hb_str_has_prefix(src, "/pollers/")))
            continue;
        pl_loop_webhook_seen(p, repo,
                             hb_str_has_prefix(type, "dev.hookbus.git.") ? "git" : "image");
    }
    return HB_ACT_DONE;
}

static void pl_stop(void *ud)
{
    pl_loop_stop(ud);
}

static void pl_destroy(void *ud)
{
    poller_free(ud);
}

int main(int argc, char **argv)
{
    static const struct hb_consumer_app app = {
        .name = "hookbus-poller",
        .help = pl_help,
        .configure = pl_configure,
        .start = pl_start,
        .ready = pl_ready,
        .act = pl_act,
        .stop = pl_stop,
        .destroy = pl_destroy,
        .fields = pl_fields,
        .nfields = HB_ARRAY_LEN(pl_fields),
    };
    git_libgit2_init();
    /* A Git listing's child (git.c): nothing else of the program runs. */
    int rc = argc == 2 && strcmp(argv[1], PL_GIT_CHILD_FLAG) == 0
                 ? pl_git_child_main()
                 : hb_consumer_main(argc, argv, &app);
    git_libgit2_shutdown();
    return rc;
}
