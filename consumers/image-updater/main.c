/* main.c: hookbus-image-updater, a consumer that triggers Argo CD Image
 * Updater (its webhook server, `?type=cloudevents`) for every image pushed to
 * any registry hookbus has a receiver for.
 *
 * The consumer runtime (hookbus/consumer.h) does Kafka, filters, dedup,
 * debounce (keyed here by the image repository as Image Updater spells it),
 * retries and the dead-letter topic; this file reads the `image_updater:`
 * section and POSTs one structured CloudEvent per distinct tag of a batch
 * (mapping.c builds it). Image Updater answers 200 before it does any work,
 * so the status alone says done / retry / dead-letter. */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hookbus/config.h"
#include "hookbus/consumer.h"
#include "hookbus/curl_pool.h"
#include "hookbus/http_client.h"
#include "hookbus/log.h"
#include "hookbus/metrics.h"
#include "hookbus/secret.h"
#include "hookbus/trace.h"
#include "hookbus/util.h"
#include "mapping.h"

/* The `image_updater:` section as bound by hb_config_bind. */
struct iu_conf {
    char *url, *secret, *tls_ca_file;
    bool insecure_skip_verify, strip_library_prefix, charts;
    long timeout_ms, connect_timeout_ms;
};

#define IU_KEY(k) "image_updater." k
static const struct hb_field iu_fields[] = {
    {IU_KEY("url"), HB_F_STRING, offsetof(struct iu_conf, url), NULL, 0, 0,
     "required: Image Updater's webhook endpoint, e.g. "
     "https://argocd-image-updater-service.argocd.svc:8080/webhook"},
    {IU_KEY("secret"), HB_F_STRING, offsetof(struct iu_conf, secret), NULL, 0, 0,
     "required: secret reference of Image Updater's --cloudevents-webhook-secret (sent as "
     "X-Webhook-Secret)"},
    {IU_KEY("tls_ca_file"), HB_F_STRING, offsetof(struct iu_conf, tls_ca_file), NULL, 0, 0,
     "PEM CA bundle that signed Image Updater's webhook certificate"},
    {IU_KEY("insecure_skip_verify"), HB_F_BOOL, offsetof(struct iu_conf, insecure_skip_verify),
     "false", 0, 0,
     "accept any certificate (Image Updater generates a self-signed one unless "
     "the argocd-image-updater-tls Secret exists)"},
    {IU_KEY("timeout"), HB_F_DURATION, offsetof(struct iu_conf, timeout_ms), "10s", 100, 300000,
     "whole-request timeout"},
    {IU_KEY("connect_timeout"), HB_F_DURATION, offsetof(struct iu_conf, connect_timeout_ms), "5s",
     100, 300000, "connection (and TLS handshake) timeout"},
    {IU_KEY("strip_library_prefix"), HB_F_BOOL, offsetof(struct iu_conf, strip_library_prefix),
     "true", 0, 0, "send Docker Hub official images as 'nginx', not 'library/nginx'"},
    {IU_KEY("charts"), HB_F_BOOL, offsetof(struct iu_conf, charts), "false", 0, 0,
     "also act on dev.hookbus.chart.push (OCI charts)"},
    {IU_KEY("registry_aliases"), HB_F_MAP, 0, "{}", 0, 0,
     "canonical registry host -> the host string Image Updater's images are written with, "
     "e.g. {docker.io: registry-1.docker.io}"},
};

struct iu {
    struct iu_conf conf;
    char *url; /* conf.url with type=cloudevents */
    struct hb_secret secret;
    struct curl_slist *headers; /* see iu_headers */
    struct iu_mapping map;
    struct hb_curl_pool pool; /* idle handles: posts reuse connections and TLS sessions */
    struct hb_counter *m_ok, *m_retry, *m_drop, *m_skipped;
    struct hb_histogram *m_seconds;
};

static void iu_free(struct iu *iu)
{
    if (!iu)
        return;
    curl_slist_free_all(iu->headers);
    hb_secret_clear(&iu->secret);
    iu_mapping_free(&iu->map);
    hb_config_fields_free(iu_fields, HB_ARRAY_LEN(iu_fields), &iu->conf);
    free(iu->url);
    hb_curl_pool_free(&iu->pool);
    free(iu);
}

/* conf.url plus type=cloudevents, checked to be an absolute http(s) URL. */
static int iu_build_url(struct iu *iu, char *err, size_t errlen)
{
    int rc = -1;
    char *scheme = NULL, *query = NULL, *out = NULL;
    CURLU *u = curl_url();
    if (!u || curl_url_set(u, CURLUPART_URL, iu->conf.url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
        snprintf(err, errlen, "image_updater.url: '%.200s' is not an http(s) URL", iu->conf.url);
        goto done;
    }
    /* Image Updater picks the handler from ?type=; a URL that already names
     * one (as its docs show for the registry's own webhooks) must say
     * cloudevents. */
    if (curl_url_get(u, CURLUPART_QUERY, &query, 0) == CURLUE_OK && query &&
        (hb_str_has_prefix(query, "type=") || strstr(query, "&type="))) {
        if (!strstr(query, "type=cloudevents")) {
            snprintf(err, errlen, "image_updater.url: the query must be type=cloudevents");
            goto done;
        }
    } else if (curl_url_set(u, CURLUPART_QUERY, "type=cloudevents", CURLU_APPENDQUERY) !=
               CURLUE_OK) {
        snprintf(err, errlen, "image_updater.url: cannot add type=cloudevents");
        goto done;
    }
    if (curl_url_get(u, CURLUPART_URL, &out, 0) != CURLUE_OK || !(iu->url = strdup(out))) {
        snprintf(err, errlen, "image_updater.url: out of memory");
        goto done;
    }
    rc = 0;
done:
    curl_free(scheme);
    curl_free(query);
    curl_free(out);
    curl_url_cleanup(u);
    return rc;
}

/* registry_aliases: a map of registry host -> host string. */
static int iu_load_aliases(const struct hb_config *cfg, struct iu *iu, char *err, size_t errlen)
{
    const struct hb_node *sec = hb_node_get(cfg->root, "image_updater");
    const struct hb_node *al = sec && sec->type == HB_NODE_MAP
                                   ? hb_node_get(sec, "registry_aliases")
                                   : NULL;
    char why[256];
    if (!al || (al->type == HB_NODE_SCALAR &&
                (!*al->value || strcmp(al->value, "~") == 0 || strcmp(al->value, "null") == 0)))
        return 0;
    if (al->type != HB_NODE_MAP)
        return hb_config_error(cfg, al, err, errlen,
                               "image_updater.registry_aliases: must be a map of host: host");
    hb_node_mark_used(al);
    for (size_t i = 0; i < al->n; i++) {
        const struct hb_node *a = &al->items[i];
        if (a->type != HB_NODE_SCALAR)
            return hb_config_error(cfg, a, err, errlen,
                                   "image_updater.registry_aliases.%s: must be a host", a->key);
        if (iu_mapping_add_alias(&iu->map, a->key, a->value, why, sizeof(why)) < 0)
            return hb_config_error(cfg, a, err, errlen, "image_updater.registry_aliases: %s", why);
    }
    return 0;
}

/* The request headers, built once and shared read-only by every handle. The
 * secret's line is never logged (no CURLOPT_VERBOSE). NULL on ENOMEM. */
static struct curl_slist *iu_headers(const struct hb_secret *secret)
{
    struct hb_buf h;
    struct curl_slist *l = NULL, *n;
    hb_buf_init(&h, HB_SECRET_MAX + 64);
    if (hb_buf_printf(&h, "X-Webhook-Secret: %s", secret->value) == 0) {
        const char *lines[] = {"Content-Type: application/cloudevents+json", h.p, "Expect:"};
        for (size_t i = 0; i < HB_ARRAY_LEN(lines); i++) {
            if (!(n = curl_slist_append(l, lines[i]))) {
                curl_slist_free_all(l);
                l = NULL;
                break;
            }
            l = n;
        }
    }
    if (h.p)
        memset(h.p, 0, h.len);
    hb_buf_free(&h);
    return l;
}

static int iu_configure(const struct hb_config *cfg, void **ud, char *err, size_t errlen)
{
    char why[256];
    struct iu *iu = calloc(1, sizeof(*iu));
    *ud = NULL;
    if (!iu || hb_curl_pool_init(&iu->pool, HB_CURL_POOL_MAX) != 0) {
        free(iu);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (hb_config_bind(cfg, NULL, "", iu_fields, HB_ARRAY_LEN(iu_fields), &iu->conf, err, errlen) <
        0)
        goto fail;
    const struct hb_node *sec = hb_node_get(cfg->root, "image_updater");
    if (!iu->conf.url || !*iu->conf.url) {
        hb_config_error(cfg, sec, err, errlen, "image_updater.url: required");
        goto fail;
    }
    if (!iu->conf.secret || !*iu->conf.secret) {
        hb_config_error(cfg, sec, err, errlen,
                        "image_updater.secret: required (Image Updater refuses cloudevents "
                        "without a secret unless --webhook-require-secrets=false)");
        goto fail;
    }
    if (!hb_secret_ref_valid(iu->conf.secret)) {
        hb_config_error(cfg, hb_node_path(cfg->root, "image_updater.secret"), err, errlen,
                        "image_updater.secret: must be env:NAME, file:/path or literal:VALUE");
        goto fail;
    }
    if (hb_secret_resolve(iu->conf.secret, &iu->secret, why, sizeof(why)) < 0) {
        hb_config_error(cfg, hb_node_path(cfg->root, "image_updater.secret"), err, errlen,
                        "image_updater.secret: %s", why);
        goto fail;
    }
    if (strpbrk(iu->secret.value, "\r\n") || strlen(iu->secret.value) != iu->secret.len) {
        hb_config_error(cfg, hb_node_path(cfg->root, "image_updater.secret"), err, errlen,
                        "image_updater.secret: cannot be sent in a header (control bytes)");
        goto fail;
    }
    if (iu->conf.tls_ca_file && *iu->conf.tls_ca_file) {
        size_t len;
        char *pem = hb_read_file(iu->conf.tls_ca_file, 4 << 20, &len, why, sizeof(why));
        if (!pem) {
            hb_config_error(cfg, hb_node_path(cfg->root, "image_updater.tls_ca_file"), err, errlen,
                            "image_updater.tls_ca_file: %s", why);
            goto fail;
        }
        free(pem);
    }
    iu->map.strip_library = iu->conf.strip_library_prefix;
    if (iu_load_aliases(cfg, iu, err, errlen) < 0)
        goto fail;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, errlen, "libcurl initialisation failed");
        goto fail;
    }
    if (iu_build_url(iu, err, errlen) < 0)
        goto fail_curl;
    if (!(iu->headers = iu_headers(&iu->secret))) {
        snprintf(err, errlen, "out of memory");
        goto fail_curl;
    }
    *ud = iu;
    return 0;
fail_curl:
    iu_free(iu);
    curl_global_cleanup();
    return -1;
fail:
    iu_free(iu);
    return -1;
}

static int iu_start(void *ud, struct hb_metrics *m, char *err, size_t errlen)
{
    static const double bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
    struct iu *iu = ud;
    const char *name = "hookbus_image_updater_requests_total";
    const char *help = "Requests to Image Updater's webhook by outcome";
    (void)err;
    (void)errlen;
    if (!m)
        return 0;
    iu->m_ok = hb_metrics_counter(m, name, help, "outcome=\"ok\"");
    iu->m_retry = hb_metrics_counter(m, name, help, "outcome=\"retry\"");
    iu->m_drop = hb_metrics_counter(m, name, help, "outcome=\"dead_letter\"");
    iu->m_skipped = hb_metrics_counter(m, "hookbus_image_updater_skipped_total",
                                       "Events not sent (not an image push, or no tag)", NULL);
    iu->m_seconds = hb_metrics_histogram(m, "hookbus_image_updater_request_seconds",
                                         "Latency of requests to Image Updater's webhook", NULL,
                                         bounds, HB_ARRAY_LEN(bounds));
    return 0;
}

static void count(struct hb_counter *c)
{
    if (c)
        hb_counter_add(c, 1);
}

/* The debounce key: the image repository as Image Updater spells it, so
 * every alias of one repository lands in one batch. */
static int iu_key(void *ud, const struct hb_event *ev, char *out, size_t outlen)
{
    struct iu *iu = ud;
    char reg[IU_REGISTRY_MAX], repo[IU_REPOSITORY_MAX];
    if (!iu_type_wanted(hb_event_get(ev, "type"), iu->conf.charts) ||
        iu_map_repo(&iu->map, hb_event_get(ev, "repo"), reg, sizeof(reg), repo, sizeof(repo)) < 0)
        return -1;
    return hb_snprintf(out, outlen, "%s/%s", reg, repo);
}

/* POSTs one CloudEvent through the shared client, as the span `span` (a
 * child of ev's, NULL: no trace headers); what the outcome means for
 * the batch (hb_http_classify), with Image Updater's error text in err. */
static enum hb_act iu_post(struct iu *iu, const struct hb_batch *b, const struct hb_event *ev,
                           const struct hb_trace *span, const char *body, long *status, char *err,
                           size_t errlen)
{
    struct hb_http_result res;
    char tp[HB_TRACEPARENT_SIZE];
    if (span)
        hb_trace_format(span, tp);
    const struct hb_http_request req = {
        .traceparent = span ? tp : NULL,
        .tracestate = span && span->parent_id[0] ? hb_event_get(ev, "tracestate") : NULL,
        .url = iu->url,
        .headers = iu->headers,
        .body = body,
        .bodylen = strlen(body),
        .user_agent = "hookbus-image-updater/" HB_VERSION,
        .timeout_ms = iu->conf.timeout_ms,
        .connect_timeout_ms = iu->conf.connect_timeout_ms,
        .ca_file = iu->conf.tls_ca_file,
        .insecure_skip_verify = iu->conf.insecure_skip_verify,
    };
    enum hb_act r = hb_http_post(&iu->pool, &req, &res);
    *status = res.status;
    if (res.curl_code != CURLE_OK) {
        /* Timeouts, refused connections, TLS failures: all retried (the last
         * is a configuration problem the hint names). */
        snprintf(err, errlen, "POST %s: %s%s", iu->url, res.error,
                 res.curl_code == CURLE_PEER_FAILED_VERIFICATION
                     ? " (Image Updater's webhook certificate is self-signed unless "
                       "argocd-image-updater-tls is set: configure image_updater.tls_ca_file or "
                       "insecure_skip_verify)"
                     : "");
    } else if (r != HB_ACT_DONE) {
        snprintf(err, errlen, "image updater answered %ld: %s", res.status, res.reply);
    }
    if (r == HB_ACT_RETRY)
        hb_batch_set_retry_after(b, res.retry_after_ms);
    return r;
}

static enum hb_act iu_act(void *ud, const struct hb_batch *b, char *err, size_t errlen)
{
    struct iu *iu = ud;
    enum hb_act r = HB_ACT_DONE;
    const struct hb_event **wanted = calloc(b->n ? b->n : 1, sizeof(*wanted));
    size_t *pick = calloc(b->n ? b->n : 1, sizeof(*pick));
    size_t nw = 0;
    if (!wanted || !pick) {
        snprintf(err, errlen, "out of memory");
        r = HB_ACT_RETRY;
        goto done;
    }
    for (size_t i = 0; i < b->n; i++) {
        if (iu_type_wanted(hb_event_get(b->events[i], "type"), iu->conf.charts))
            wanted[nw++] = b->events[i];
        else
            count(iu->m_skipped);
    }
    size_t np = iu_pick_tags(wanted, nw, pick);
    if (np < nw) {
        HB_LOG(HB_LOG_DEBUG, "events merged or without a tag", HB_S("key", b->key),
               HB_I("events", nw), HB_I("tags", np));
        for (size_t i = np; i < nw; i++)
            count(iu->m_skipped);
    }
    for (size_t i = 0; i < np && r == HB_ACT_DONE; i++) {
        const struct hb_event *ev = wanted[pick[i]];
        char reg[IU_REGISTRY_MAX], repo[IU_REPOSITORY_MAX];
        const char *repo_id = hb_event_get(ev, "repo");
        if (iu_map_repo(&iu->map, repo_id, reg, sizeof(reg), repo, sizeof(repo)) < 0) {
            snprintf(err, errlen, "event %s: repo '%.200s' is not an image repository",
                     hb_event_get(ev, "id"), repo_id ? repo_id : "");
            r = HB_ACT_DROP;
            break;
        }
        const char *tag = hb_event_get(ev, "tag");
        char *body = iu_build_body(hb_event_get(ev, "id"), hb_event_get(ev, "source"),
                                   hb_event_get(ev, "time"), reg, repo, tag,
                                   hb_event_get(ev, "digest"));
        if (!body) {
            snprintf(err, errlen, "out of memory");
            r = HB_ACT_RETRY;
            break;
        }
        long status;
        int64_t t0 = hb_mono_ms();
        struct hb_trace span;
        bool traced = hb_trace_action(ev, &span) == 0;
        r = iu_post(iu, b, ev, traced ? &span : NULL, body, &status, err, errlen);
        free(body);
        if (iu->m_seconds)
            hb_histogram_observe(iu->m_seconds, (double)(hb_mono_ms() - t0) / 1000.0);
        count(r == HB_ACT_DONE ? iu->m_ok : r == HB_ACT_RETRY ? iu->m_retry : iu->m_drop);
        HB_LOG(r == HB_ACT_DONE ? HB_LOG_INFO : HB_LOG_WARN,
               r == HB_ACT_DONE ? "image updater notified" : "image updater request failed",
               HB_S("registry", reg), HB_S("repository", repo), HB_S("tag", tag),
               HB_S("id", hb_event_get(ev, "id")), HB_I("status", status),
               HB_I("attempt", b->attempt), HB_I("ms", hb_mono_ms() - t0),
               HB_S("trace_id", traced ? span.trace_id : ""));
    }
done:
    free(wanted);
    free(pick);
    return r;
}

static void iu_destroy(void *ud)
{
    if (!ud)
        return;
    iu_free(ud);
    curl_global_cleanup();
}

int main(int argc, char **argv)
{
    static const struct hb_consumer_app app = {
        .name = "hookbus-image-updater",
        .configure = iu_configure,
        .start = iu_start,
        .key = iu_key,
        .act = iu_act,
        .destroy = iu_destroy,
        .fields = iu_fields,
        .nfields = HB_ARRAY_LEN(iu_fields),
    };
    return hb_consumer_main(argc, argv, &app);
}
