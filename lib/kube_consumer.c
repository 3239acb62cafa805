/* kube_consumer.c: the config section, client and refresh patch shared by
 * the consumers that act on Kubernetes objects (hookbus/kube_consumer.h). */
#include "hookbus/kube_consumer.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hookbus/trace.h"
#include "hookbus/util.h"

const struct hb_field hb_kube_section_fields[] = {
    {"kubeconfig", HB_F_STRING, offsetof(struct hb_kube_section, kubeconfig), "", 0, 0,
     "kubeconfig file; empty: KUBECONFIG, else the in-cluster service account"},
    {"context", HB_F_STRING, offsetof(struct hb_kube_section, context), "", 0, 0,
     "kubeconfig context; empty: current-context"},
    {"label_selector", HB_F_STRING, offsetof(struct hb_kube_section, label_selector), "", 0, 0,
     "only objects matching this label selector"},
    {"service_account_dir", HB_F_STRING, offsetof(struct hb_kube_section, sa_dir), HB_KUBE_SA_DIR,
     0, 0, "in-cluster token and ca.crt"},
    {"resync_interval", HB_F_DURATION, offsetof(struct hb_kube_section, resync_ms), "10m", 0,
     86400000, "complete relist of the watched resources; 0 disables"},
    {"request_timeout", HB_F_DURATION, offsetof(struct hb_kube_section, request_timeout_ms), "10s",
     100, 600000, "timeout of one Kubernetes API request"},
    {"watch_timeout", HB_F_DURATION, offsetof(struct hb_kube_section, watch_timeout_ms), "5m", 1000,
     3600000, "length of one watch request before it is renewed"},
    {"max_response_bytes", HB_F_INT, offsetof(struct hb_kube_section, max_response), "67108864",
     4096, 1073741824, "largest Kubernetes API response (one list page or watch event)"},
    {"page_size", HB_F_INT, offsetof(struct hb_kube_section, page_size), "500", 1, 10000,
     "objects per list page"},
    {"namespaces", HB_F_LIST, 0, "[]", 0, 0,
     "namespaces to watch ([]: all; the HOOKBUS_<SECTION>_NAMESPACES variable: comma-separated)"},
};

static void add_namespaces(struct hb_kube_section *s, const char *csv)
{
    const char *p = csv;
    while (*p && s->nnamespaces < HB_KUBE_MAX_NAMESPACES) {
        size_t n = strcspn(p, ", ");
        if (n) {
            char *ns = hb_strndup(p, n);
            char **grown = ns ? realloc(s->namespaces, (s->nnamespaces + 1) * sizeof(char *))
                              : NULL;
            if (!grown) {
                free(ns);
                return;
            }
            s->namespaces = grown;
            s->namespaces[s->nnamespaces++] = ns;
        }
        p += n;
        while (*p == ',' || *p == ' ')
            p++;
    }
}

int hb_kube_section_load(const struct hb_config *cfg, const char *name, struct hb_kube_section *s,
                         const struct hb_node **node, char *err, size_t errlen)
{
    char prefix[48], env_name[96];
    const struct hb_node *sec = hb_node_get(cfg->root, name);
    *node = NULL;
    if (sec && sec->type != HB_NODE_MAP)
        return hb_config_error(cfg, sec, err, errlen, "%s: must be a map", name);
    *node = sec;
    /* Without the section every key takes its default (and env). */
    static const struct hb_node empty = {.type = HB_NODE_MAP};
    (void)hb_snprintf(prefix, sizeof(prefix), "%s.", name);
    if (hb_config_bind(cfg, sec ? sec : &empty, prefix, hb_kube_section_fields,
                       HB_KUBE_SECTION_NFIELDS, s, err, errlen) < 0)
        return -1;
    const struct hb_node *ns = sec ? hb_node_get(sec, "namespaces") : NULL;
    hb_config_env_name(prefix, "namespaces", env_name, sizeof(env_name));
    const char *env = getenv(env_name);
    if (ns)
        hb_node_mark_used(ns);
    if (env) {
        add_namespaces(s, env);
    } else if (ns && ns->type == HB_NODE_SEQ) {
        for (size_t i = 0; i < ns->n; i++) {
            if (ns->items[i].type != HB_NODE_SCALAR)
                return hb_config_error(cfg, &ns->items[i], err, errlen,
                                       "%s.namespaces: items must be names", name);
            add_namespaces(s, ns->items[i].value);
        }
    } else if (ns && ns->type == HB_NODE_SCALAR) {
        add_namespaces(s, ns->value);
    } else if (ns) {
        return hb_config_error(cfg, ns, err, errlen, "%s.namespaces: must be a list of names",
                               name);
    }
    const char *kc = getenv("KUBECONFIG");
    if (!s->kubeconfig[0] && kc && kc[0]) {
        char *first = hb_strndup(kc, strcspn(kc, ":"));
        if (first) {
            free(s->kubeconfig);
            s->kubeconfig = first;
        }
    }
    return 0;
}

void hb_kube_section_free(struct hb_kube_section *s)
{
    hb_config_fields_free(hb_kube_section_fields, HB_KUBE_SECTION_NFIELDS, s);
    for (size_t i = 0; i < s->nnamespaces; i++)
        free(s->namespaces[i]);
    free(s->namespaces);
    memset(s, 0, sizeof(*s));
}

struct hb_kube *hb_kube_section_client(const struct hb_kube_section *s, const char *name, char *err,
                                       size_t errlen)
{
    struct hb_kube_opts ko = {
        .kubeconfig = s->kubeconfig,
        .context = s->context,
        .sa_dir = s->sa_dir,
        .timeout_ms = s->request_timeout_ms,
        .max_response = (size_t)s->max_response,
        .section = name,
    };
    return hb_kube_new(&ko, err, errlen);
}

struct hb_kube_cache_opts hb_kube_section_cache_opts(const struct hb_kube_section *s,
                                                     const char *api, const char *resource)
{
    struct hb_kube_cache_opts o = {
        .api = api,
        .resource = resource,
        .namespaces = s->namespaces,
        .nnamespaces = s->nnamespaces,
        .label_selector = s->label_selector,
        .resync_ms = s->resync_ms,
        .watch_timeout_ms = s->watch_timeout_ms,
        .page_size = s->page_size,
    };
    return o;
}

void hb_kube_section_namespaces(const struct hb_kube_section *s, char *out, size_t outlen)
{
    struct hb_buf b;
    hb_buf_init(&b, outlen > 4 ? outlen - 4 : 0);
    bool cut = false;
    for (size_t i = 0; i < s->nnamespaces && !cut; i++)
        cut = hb_buf_printf(&b, "%s%s", i ? "," : "", s->namespaces[i]) < 0;
    (void)hb_snprintf(out, outlen, "%s%s", b.p && b.len ? b.p : "(all)", cut ? "..." : "");
    hb_buf_free(&b);
}

int hb_kube_take_kubeconfig_flag(int argc, char **argv, const char *name)
{
    char env[96];
    char prefix[48];
    (void)hb_snprintf(prefix, sizeof(prefix), "%s.", name);
    hb_config_env_name(prefix, "kubeconfig", env, sizeof(env));
    int w = 1;
    for (int r = 1; r < argc; r++) {
        const char *v = NULL;
        if (strcmp(argv[r], "--kubeconfig") == 0 && r + 1 < argc)
            v = argv[++r];
        else if (hb_str_has_prefix(argv[r], "--kubeconfig="))
            v = argv[r] + 13;
        if (v) {
            setenv(env, v, 1);
            continue;
        }
        argv[w++] = argv[r];
    }
    argv[w] = NULL;
    return w;
}

enum hb_act hb_kube_annotate(struct hb_kube *k, const char *item_path, const char *key,
                             const char *value, const char *traceparent, bool *gone, char *err,
                             size_t errlen)
{
    char hdr[HB_TRACEPARENT_SIZE + 16];
    cJSON *patch = cJSON_CreateObject();
    cJSON *ann = cJSON_AddObjectToObject(cJSON_AddObjectToObject(patch, "metadata"), "annotations");
    char *body = ann && cJSON_AddStringToObject(ann, key, value) ? cJSON_PrintUnformatted(patch)
                                                                 : NULL;
    cJSON_Delete(patch);
    *gone = false;
    if (!body) {
        (void)hb_snprintf(err, errlen, "out of memory");
        return HB_ACT_RETRY;
    }
    char *resp = NULL;
    if (traceparent)
        (void)hb_snprintf(hdr, sizeof(hdr), "traceparent: %s", traceparent);
    int status = hb_kube_request_with(k, "PATCH", item_path, body, "application/merge-patch+json",
                                      traceparent ? hdr : NULL, &resp, NULL, err, errlen);
    free(resp);
    free(body);
    if (status >= 200 && status < 300)
        return HB_ACT_DONE;
    if (status == 404) {
        *gone = true;
        return HB_ACT_DONE;
    }
    if (status < 0 || status == 401 || status == 409 || status == 429 || status >= 500)
        return HB_ACT_RETRY;
    return HB_ACT_DROP;
}

/* ------------------------------------------------------------- targets */

void hb_kube_targets_note(struct hb_kube_targets *t, const char *ns, const char *name,
                          const char *reason)
{
    char id[512];
    if (hb_snprintf(id, sizeof(id), "%s/%s", ns, name) < 0)
        return;
    for (size_t i = 0; i < t->n; i++) {
        if (strcmp(t->t[i].id, id) == 0) {
            if (!reason)
                t->t[i].reason = NULL; /* any wanting entry is enough */
            return;
        }
    }
    if (t->n >= HB_KUBE_MAX_TARGETS) {
        t->overflow = true;
        return;
    }
    struct hb_kube_target *grown = realloc(t->t, (t->n + 1) * sizeof(*t->t));
    if (!grown)
        return;
    t->t = grown;
    t->t[t->n].id = strdup(id);
    t->t[t->n].reason = reason;
    if (t->t[t->n].id)
        t->n++;
}

size_t hb_kube_targets_wanted(const struct hb_kube_targets *t)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++)
        n += t->t[i].reason == NULL;
    return n;
}

void hb_kube_targets_clear(struct hb_kube_targets *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->t[i].id);
    free(t->t);
    memset(t, 0, sizeof(*t));
}

void hb_kube_targets_join(const struct hb_kube_targets *t, char *out, size_t outlen)
{
    struct hb_buf b;
    hb_buf_init(&b, outlen > 4 ? outlen - 4 : 0);
    bool cut = false, first = true;
    for (size_t i = 0; i < t->n && !cut; i++) {
        if (t->t[i].reason)
            continue;
        cut = hb_buf_printf(&b, "%s%s", first ? "" : ",", t->t[i].id) < 0;
        first = false;
    }
    (void)hb_snprintf(out, outlen, "%s%s", b.p ? b.p : "", cut ? "..." : "");
    hb_buf_free(&b);
}
