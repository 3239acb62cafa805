/* kube.c: the Kubernetes API client of the hookbus consumers that act on a
 * cluster (hookbus-kargo, hookbus-argocd, hookbus-flux), on libcurl.
 *
 * Configuration comes from a kubeconfig (current or named context; token,
 * tokenFile, basic auth, client certificate and key as files or inline data,
 * certificate authority as a file or inline data, insecure-skip-tls-verify)
 * or from the in-cluster environment (KUBERNETES_SERVICE_HOST/PORT, the
 * service-account token and CA). Token files are re-read when they change,
 * since kubelet rotates projected tokens; a 401 forces a re-read too.
 * Every response body is bounded. Secrets never reach messages or logs. */
#include "hookbus/kube.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "hookbus/config.h"
#include "hookbus/curl_pool.h"
#include "hookbus/secret.h"
#include "hookbus/util.h"

#define MAX_URL 4096

#define KUBE_POOL_MAX 8 /* idle handles kept (consumer concurrency is 4 by default) */

struct hb_kube {
    char *cluster, *server;
    char *ca_file, *cert_file, *key_file; /* paths */
    unsigned char *ca_data, *cert_data, *key_data;
    size_t ca_len, cert_len, key_len;
    bool insecure;
    char *username, *password;
    long timeout_ms;
    size_t max_response;
    char section[32]; /* the config section, for messages */
    char user_agent[64];

    pthread_mutex_t lock; /* guards the token and what identifies its file */
    char *token;          /* the bearer token, or NULL */
    char *token_file;     /* re-read when it changes */
    struct timespec token_mtime;
    off_t token_size;
    ino_t token_ino;

    /* Idle handles of finished requests, kept for their open connection
     * (and TLS session): a refresh reuses one instead of a TCP connection
     * and TLS handshake per PATCH. */
    struct hb_curl_pool pool;
};

static void wipe_free(char *s)
{
    if (s) {
        volatile char *p = s;
        while (*p)
            *p++ = 0;
        free(s);
    }
}

static void wipe_free_n(unsigned char *p, size_t n)
{
    if (p) {
        volatile unsigned char *q = p;
        for (size_t i = 0; i < n; i++)
            q[i] = 0;
        free(p);
    }
}

void hb_kube_free(struct hb_kube *k)
{
    if (!k)
        return;
    free(k->cluster);
    free(k->server);
    free(k->ca_file);
    free(k->cert_file);
    free(k->key_file);
    free(k->ca_data);
    free(k->cert_data);
    wipe_free_n(k->key_data, k->key_len);
    free(k->username);
    wipe_free(k->password);
    wipe_free(k->token);
    free(k->token_file);
    pthread_mutex_destroy(&k->lock);
    hb_curl_pool_free(&k->pool);
    free(k);
}

const char *hb_kube_cluster(const struct hb_kube *k)
{
    return k->cluster;
}

const char *hb_kube_server(const struct hb_kube *k)
{
    return k->server;
}

/* (Re)reads the token file when its identity, size or mtime changed.
 * Called with k->lock held. force: read even when it looks unchanged. */
static int token_refresh_locked(struct hb_kube *k, bool force, char *err, size_t errlen)
{
    struct stat st;
    if (!k->token_file)
        return 0;
    if (stat(k->token_file, &st) < 0) {
        if (k->token)
            return 0; /* keep the last one; a rotation may be half-done */
        (void)hb_snprintf(err, errlen, "cluster %s: token file %s: cannot stat", k->cluster,
                          k->token_file);
        return -1;
    }
    if (!force && k->token && st.st_ino == k->token_ino && st.st_size == k->token_size &&
        st.st_mtim.tv_sec == k->token_mtime.tv_sec && st.st_mtim.tv_nsec == k->token_mtime.tv_nsec)
        return 0;
    char ferr[256];
    size_t len;
    char *t = hb_read_file(k->token_file, HB_SECRET_MAX, &len, ferr, sizeof(ferr));
    if (!t) {
        (void)hb_snprintf(err, errlen, "cluster %s: %s", k->cluster, ferr);
        return k->token ? 0 : -1;
    }
    while (len > 0 && (t[len - 1] == '\n' || t[len - 1] == '\r' || t[len - 1] == ' '))
        t[--len] = '\0';
    wipe_free(k->token);
    k->token = t;
    k->token_ino = st.st_ino;
    k->token_size = st.st_size;
    k->token_mtime = st.st_mtim;
    return 0;
}

/* ------------------------------------------------------------ kubeconfig */

/* The element of sequence seq whose "name" is name, its member `inner`. */
static const struct hb_node *named(const struct hb_node *root, const char *seq, const char *name,
                                   const char *inner)
{
    const struct hb_node *list = hb_node_get(root, seq);
    if (!list || list->type != HB_NODE_SEQ)
        return NULL;
    for (size_t i = 0; i < list->n; i++) {
        const struct hb_node *it = &list->items[i];
        const struct hb_node *n = it->type == HB_NODE_MAP ? hb_node_get(it, "name") : NULL;
        if (n && n->type == HB_NODE_SCALAR && strcmp(n->value, name) == 0) {
            const struct hb_node *in = hb_node_get(it, inner);
            return in && in->type == HB_NODE_MAP ? in : NULL;
        }
    }
    return NULL;
}

static const char *scalar(const struct hb_node *map, const char *key)
{
    const struct hb_node *n = map ? hb_node_get(map, key) : NULL;
    return n && n->type == HB_NODE_SCALAR && n->value && n->value[0] ? n->value : NULL;
}

/* A path from a kubeconfig, relative to the kubeconfig's directory. */
static char *resolve_path(const char *dir, const char *p)
{
    if (p[0] == '/')
        return strdup(p);
    char buf[MAX_URL];
    if (hb_snprintf(buf, sizeof(buf), "%s/%s", dir, p) < 0)
        return NULL;
    return strdup(buf);
}

static int decode_data(const char *b64, unsigned char **out, size_t *len)
{
    *out = hb_base64_decode(b64, strlen(b64), len);
    return *out ? 0 : -1;
}

static int load_kubeconfig(struct hb_kube *k, const char *file, const char *want_ctx, char *err,
                           size_t errlen)
{
    struct hb_config cfg = {0};
    char *dircopy = NULL;
    int rc = -1;
    if (hb_config_load(file, &cfg, err, errlen) < 0)
        return -1;
    dircopy = strdup(file);
    if (!dircopy)
        goto fail;
    const char *dir = dirname(dircopy);
    const char *ctx_name = want_ctx && want_ctx[0] ? want_ctx : scalar(cfg.root, "current-context");
    if (!ctx_name) {
        (void)hb_snprintf(err, errlen, "%s: no current-context and no %s.context", file,
                          k->section);
        goto fail;
    }
    const struct hb_node *ctx = named(cfg.root, "contexts", ctx_name, "context");
    if (!ctx) {
        (void)hb_snprintf(err, errlen, "%s: context '%s' not found", file, ctx_name);
        goto fail;
    }
    const char *cluster_name = scalar(ctx, "cluster");
    const char *user_name = scalar(ctx, "user");
    const struct hb_node *cl = cluster_name ? named(cfg.root, "clusters", cluster_name, "cluster")
                                            : NULL;
    if (!cl) {
        (void)hb_snprintf(err, errlen, "%s: context '%s': cluster '%s' not found", file, ctx_name,
                          cluster_name ? cluster_name : "");
        goto fail;
    }
    k->cluster = strdup(cluster_name);
    const char *server = scalar(cl, "server");
    if (!k->cluster || !server ||
        !(hb_str_has_prefix(server, "https://") || hb_str_has_prefix(server, "http://"))) {
        (void)hb_snprintf(err, errlen, "%s: cluster '%s': server must be an http(s) URL", file,
                          cluster_name);
        goto fail;
    }
    k->server = strdup(server);
    const char *v;
    if ((v = scalar(cl, "certificate-authority-data")) &&
        decode_data(v, &k->ca_data, &k->ca_len) < 0) {
        (void)hb_snprintf(err, errlen, "%s: cluster '%s': certificate-authority-data is not base64",
                          file, cluster_name);
        goto fail;
    }
    if ((v = scalar(cl, "certificate-authority")))
        k->ca_file = resolve_path(dir, v);
    if ((v = scalar(cl, "insecure-skip-tls-verify")) && hb_parse_bool(v, &k->insecure) < 0) {
        (void)hb_snprintf(err, errlen, "%s: cluster '%s': insecure-skip-tls-verify: not a boolean",
                          file, cluster_name);
        goto fail;
    }
    const struct hb_node *u = user_name ? named(cfg.root, "users", user_name, "user") : NULL;
    if (user_name && !u) {
        (void)hb_snprintf(err, errlen, "%s: context '%s': user '%s' not found", file, ctx_name,
                          user_name);
        goto fail;
    }
    if (u) {
        if (hb_node_get(u, "exec") || hb_node_get(u, "auth-provider")) {
            (void)hb_snprintf(err, errlen,
                              "%s: user '%s': exec and auth-provider credentials are not "
                              "supported; use a token, tokenFile or a client certificate",
                              file, user_name);
            goto fail;
        }
        if ((v = scalar(u, "token")))
            k->token = strdup(v);
        if ((v = scalar(u, "tokenFile")))
            k->token_file = resolve_path(dir, v);
        if ((v = scalar(u, "username")))
            k->username = strdup(v);
        if ((v = scalar(u, "password")))
            k->password = strdup(v);
        if ((v = scalar(u, "client-certificate")))
            k->cert_file = resolve_path(dir, v);
        if ((v = scalar(u, "client-key")))
            k->key_file = resolve_path(dir, v);
        if (((v = scalar(u, "client-certificate-data")) &&
             decode_data(v, &k->cert_data, &k->cert_len) < 0) ||
            ((v = scalar(u, "client-key-data")) && decode_data(v, &k->key_data, &k->key_len) < 0)) {
            (void)hb_snprintf(err, errlen,
                              "%s: user '%s': client certificate or key data is not "
                              "base64",
                              file, user_name);
            goto fail;
        }
    }
    rc = 0;
fail:
    free(dircopy);
    hb_config_free(&cfg);
    return rc;
}

static int load_in_cluster(struct hb_kube *k, const char *sa_dir, char *err, size_t errlen)
{
    const char *host = getenv("KUBERNETES_SERVICE_HOST");
    const char *port = getenv("KUBERNETES_SERVICE_PORT");
    char buf[MAX_URL];
    if (!host || !host[0] || !port || !port[0]) {
        (void)hb_snprintf(err, errlen,
                          "no kubeconfig (%s.kubeconfig, --kubeconfig, "
                          "KUBECONFIG) and not in a cluster (KUBERNETES_SERVICE_HOST/PORT unset)",
                          k->section);
        return -1;
    }
    bool v6 = strchr(host, ':') != NULL;
    if (hb_snprintf(buf, sizeof(buf), "https://%s%s%s:%s", v6 ? "[" : "", host, v6 ? "]" : "",
                    port) < 0)
        return -1;
    k->cluster = strdup("in-cluster");
    k->server = strdup(buf);
    if (hb_snprintf(buf, sizeof(buf), "%s/token", sa_dir) < 0)
        return -1;
    k->token_file = strdup(buf);
    if (hb_snprintf(buf, sizeof(buf), "%s/ca.crt", sa_dir) < 0)
        return -1;
    k->ca_file = strdup(buf);
    return k->cluster && k->server && k->token_file && k->ca_file ? 0 : -1;
}

struct hb_kube *hb_kube_new(const struct hb_kube_opts *o, char *err, size_t errlen)
{
    struct hb_kube *k = calloc(1, sizeof(*k));
    if (!k) {
        (void)hb_snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&k->lock, NULL);
    hb_curl_pool_init(&k->pool, KUBE_POOL_MAX);
    k->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 30000;
    hb_strlcpy(k->section, o->section && o->section[0] ? o->section : "kube", sizeof(k->section));
    (void)hb_snprintf(k->user_agent, sizeof(k->user_agent), "hookbus-%s/%s", k->section,
                      HB_VERSION);
    k->max_response = o->max_response ? o->max_response : 64u << 20;
    int rc = o->kubeconfig && o->kubeconfig[0]
                 ? load_kubeconfig(k, o->kubeconfig, o->context, err, errlen)
                 : load_in_cluster(k, o->sa_dir && o->sa_dir[0] ? o->sa_dir : HB_KUBE_SA_DIR, err,
                                   errlen);
    if (rc == 0 && !k->server)
        rc = -1;
    if (rc == 0) {
        size_t n = strlen(k->server);
        while (n > 0 && k->server[n - 1] == '/')
            k->server[--n] = '\0';
        pthread_mutex_lock(&k->lock);
        rc = token_refresh_locked(k, true, err, errlen);
        pthread_mutex_unlock(&k->lock);
    }
    if (rc < 0) {
        hb_kube_free(k);
        return NULL;
    }
    return k;
}

/* --------------------------------------------------------------- requests */

struct sink {
    struct hb_buf body;
    bool overflow;
    /* watch mode */
    CURL *curl;
    int (*on_line)(void *ud, const char *line, size_t len);
    void *ud;
    bool ended; /* on_line asked to stop */
    const atomic_bool *stop;
};

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
    struct sink *s = arg;
    size_t len = sz * n;
    long status = 0;
    if (s->on_line)
        curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status);
    /* A plain response, or a watch's error body (kept whole for the message). */
    if (!s->on_line || status != 200) {
        if (hb_buf_append(&s->body, p, len) < 0) {
            s->overflow = true;
            return 0;
        }
        return len;
    }
    for (size_t i = 0; i < len;) {
        const char *nl = memchr(p + i, '\n', len - i);
        size_t take = nl ? (size_t)(nl - (p + i)) : len - i;
        if (hb_buf_append(&s->body, p + i, take) < 0) {
            s->overflow = true;
            return 0;
        }
        i += take;
        if (!nl)
            break;
        i++; /* the newline */
        if (s->body.len && s->on_line(s->ud, s->body.p, s->body.len) != 0) {
            s->ended = true;
            return 0;
        }
        s->body.len = 0;
        if (s->body.p)
            s->body.p[0] = '\0';
    }
    return len;
}

static int on_progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    (void)a, (void)b, (void)c, (void)d;
    const struct sink *s = arg;
    return s->stop && atomic_load(s->stop) ? 1 : 0;
}

/* The Status message of an error body, or the start of the body. */
static void status_message(const char *body, char *out, size_t outlen)
{
    cJSON *j = body ? cJSON_Parse(body) : NULL;
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "message");
    if (cJSON_IsString(m))
        (void)hb_snprintf(out, outlen, "%.300s", m->valuestring);
    else
        (void)hb_snprintf(out, outlen, "%.120s", body ? body : "");
    cJSON_Delete(j);
}

/* A handle set up for method and path (pooled: from the handle pool, for a
 * request; else new, for a watch). NULL with err. */
static CURL *make_handle(struct hb_kube *k, bool pooled, const char *method, const char *path,
                         struct curl_slist **hdrs, const char *content_type, struct sink *s,
                         char *err, size_t errlen)
{
    char url[MAX_URL];
    if (hb_snprintf(url, sizeof(url), "%s%s", k->server, path) < 0) {
        (void)hb_snprintf(err, errlen, "cluster %s: URL too long", k->cluster);
        return NULL;
    }
    CURL *c = pooled ? hb_curl_pool_get(&k->pool) : curl_easy_init();
    if (!c) {
        (void)hb_snprintf(err, errlen, "cluster %s: curl_easy_init failed", k->cluster);
        return NULL;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, k->user_agent);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, s);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    if (k->insecure) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (k->ca_data) {
        struct curl_blob b = {k->ca_data, k->ca_len, CURL_BLOB_COPY};
        curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &b);
    } else if (k->ca_file) {
        curl_easy_setopt(c, CURLOPT_CAINFO, k->ca_file);
    }
    if (k->cert_data) {
        struct curl_blob b = {k->cert_data, k->cert_len, CURL_BLOB_COPY};
        curl_easy_setopt(c, CURLOPT_SSLCERT_BLOB, &b);
        curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM");
    } else if (k->cert_file) {
        curl_easy_setopt(c, CURLOPT_SSLCERT, k->cert_file);
    }
    if (k->key_data) {
        struct curl_blob b = {k->key_data, k->key_len, CURL_BLOB_COPY};
        curl_easy_setopt(c, CURLOPT_SSLKEY_BLOB, &b);
        curl_easy_setopt(c, CURLOPT_SSLKEYTYPE, "PEM");
    } else if (k->key_file) {
        curl_easy_setopt(c, CURLOPT_SSLKEY, k->key_file);
    }
    if (k->username && k->password) {
        curl_easy_setopt(c, CURLOPT_USERNAME, k->username);
        curl_easy_setopt(c, CURLOPT_PASSWORD, k->password);
    }
    *hdrs = curl_slist_append(NULL, "Accept: application/json");
    if (content_type) {
        char h[160];
        (void)hb_snprintf(h, sizeof(h), "Content-Type: %s", content_type);
        *hdrs = curl_slist_append(*hdrs, h);
    }
    pthread_mutex_lock(&k->lock);
    char terr[256];
    (void)token_refresh_locked(k, false, terr, sizeof(terr));
    if (k->token) {
        struct hb_buf h;
        hb_buf_init(&h, HB_SECRET_MAX + 64);
        if (hb_buf_printf(&h, "Authorization: Bearer %s", k->token) == 0)
            *hdrs = curl_slist_append(*hdrs, h.p);
        if (h.p)
            memset(h.p, 0, h.len);
        hb_buf_free(&h);
    }
    pthread_mutex_unlock(&k->lock);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, *hdrs);
    return c;
}

static void free_headers(struct curl_slist *h)
{
    /* The Authorization header holds the token: wipe before freeing. */
    for (struct curl_slist *p = h; p; p = p->next) {
        volatile char *s = p->data;
        while (s && *s)
            *s++ = 0;
    }
    curl_slist_free_all(h);
}

/* Runs a prepared transfer and turns its outcome into a status or an error. */
static int perform(struct hb_kube *k, CURL *c, const char *method, const char *path, struct sink *s,
                   char *err, size_t errlen)
{
    CURLcode cc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (s->ended || (s->stop && atomic_load(s->stop) && cc == CURLE_ABORTED_BY_CALLBACK))
        return 200;
    if (s->overflow) {
        (void)hb_snprintf(err, errlen, "cluster %s: %s %s: response larger than %zu bytes",
                          k->cluster, method, path, k->max_response);
        return -1;
    }
    if (cc != CURLE_OK) {
        (void)hb_snprintf(err, errlen, "cluster %s: %s %s: %s", k->cluster, method, path,
                          curl_easy_strerror(cc));
        return -1;
    }
    if (status >= 400) {
        char msg[400];
        status_message(s->body.p, msg, sizeof(msg));
        (void)hb_snprintf(err, errlen, "cluster %s: %s %s: HTTP %ld: %s", k->cluster, method, path,
                          status, msg);
        if (status == 401 && k->token_file) {
            pthread_mutex_lock(&k->lock);
            char terr[256];
            (void)token_refresh_locked(k, true, terr, sizeof(terr));
            pthread_mutex_unlock(&k->lock);
        }
    }
    return (int)status;
}

int hb_kube_request(struct hb_kube *k, const char *method, const char *path, const char *body,
                    const char *content_type, char **resp, size_t *resplen, char *err,
                    size_t errlen)
{
    return hb_kube_request_with(k, method, path, body, content_type, NULL, resp, resplen, err,
                                errlen);
}

int hb_kube_request_with(struct hb_kube *k, const char *method, const char *path, const char *body,
                         const char *content_type, const char *header, char **resp, size_t *resplen,
                         char *err, size_t errlen)
{
    struct sink s = {0};
    struct curl_slist *hdrs = NULL;
    *resp = NULL;
    if (resplen)
        *resplen = 0;
    hb_buf_init(&s.body, k->max_response);
    CURL *c = make_handle(k, true, method, path, &hdrs, content_type, &s, err, errlen);
    if (!c)
        return -1;
    s.curl = c;
    struct curl_slist *more = header && hdrs ? curl_slist_append(hdrs, header) : NULL;
    if (more) /* without memory the request goes without the extra header */
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs = more);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, k->timeout_ms);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    int status = perform(k, c, method, path, &s, err, errlen);
    hb_curl_pool_put(&k->pool, c);
    free_headers(hdrs);
    if (status < 0) {
        hb_buf_free(&s.body);
        return -1;
    }
    size_t len = s.body.len;
    *resp = hb_buf_steal(&s.body);
    if (!*resp) {
        (void)hb_snprintf(err, errlen, "cluster %s: out of memory", k->cluster);
        return -1;
    }
    if (resplen)
        *resplen = len;
    return status;
}

int hb_kube_watch(struct hb_kube *k, const char *path, long timeout_ms,
                  int (*on_line)(void *ud, const char *line, size_t len), void *ud,
                  const atomic_bool *stop, char *err, size_t errlen)
{
    struct sink s = {.on_line = on_line, .ud = ud, .stop = stop};
    struct curl_slist *hdrs = NULL;
    hb_buf_init(&s.body, k->max_response);
    CURL *c = make_handle(k, false, "GET", path, &hdrs, NULL, &s, err, errlen);
    if (!c)
        return -1;
    s.curl = c;
    if (timeout_ms > 0)
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    /* A connection silent for two minutes (no event, no bookmark) is dead. */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 120L);
    int status = perform(k, c, "GET", path, &s, err, errlen);
    if (status == 200 && !s.ended && s.body.len && !s.overflow)
        (void)on_line(ud, s.body.p, s.body.len); /* a last line without newline */
    curl_easy_cleanup(c);
    free_headers(hdrs);
    hb_buf_free(&s.body);
    return status;
}
