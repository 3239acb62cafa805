/* main.c: hookbus-http forwards each event to `url` as an HTTP CloudEvent
 * (DESIGN section 5): binary mode (ce- headers), structured mode, or a body
 * template; optional extra headers (secret references allowed) and an
 * X-Hub-Signature-256 HMAC of the body. The outcome is hb_http_classify's
 * (2xx: done; 408, 429, 5xx and network errors: retry, after the reply's
 * Retry-After; other statuses: dead letter). With debounce, a
 * window of events for one key is one request for the newest event. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hookbus/consumer.h"
#include "hookbus/crypto.h"
#include "hookbus/format.h"
#include "hookbus/http_binding.h"
#include "hookbus/http_client.h"
#include "hookbus/log.h"
#include "hookbus/secret.h"
#include "hookbus/trace.h"
#include "hookbus/util.h"

#define MAX_BODY ((size_t)16 << 20)

enum http_mode { MODE_BINARY, MODE_STRUCTURED, MODE_TEMPLATE };

struct http_app {
    char *url, *mode_name, *template, *content_type, *sign_secret_ref, *tls_ca_file, *debounce_key;
    long timeout_ms;
    bool insecure;
    enum http_mode mode;
    struct hb_secret sign_secret;
    char **headers; /* "Name: value", secrets resolved */
    size_t nheaders;
    bool user_content_type;
    struct hb_curl_pool pool; /* idle handles: requests reuse connections and TLS sessions */
    bool pool_made;
};

#define F(...) HB_FIELD(struct http_app, __VA_ARGS__)

static const struct hb_field http_fields[] = {
    F("url", HB_F_STRING, url, "", 0, 0, "where to POST each event (required)"),
    F("mode", HB_F_STRING, mode_name, "binary", 0, 0,
      "binary (ce- headers) | structured (application/cloudevents+json) | template"),
    F("template", HB_F_STRING, template, "", 0, 0,
      "the body for mode template: ${attribute}, ${data.field} (inserted JSON-escaped), $$ for $"),
    F("content_type", HB_F_STRING, content_type, "application/json", 0, 0,
      "Content-Type of template bodies"),
    F("sign_secret", HB_F_STRING, sign_secret_ref, "", 0, 0,
      "secret reference: adds X-Hub-Signature-256: sha256=<HMAC of the body>"),
    F("timeout", HB_F_DURATION, timeout_ms, "10s", 100, 3600 * 1000, "whole request timeout"),
    F("tls_ca_file", HB_F_STRING, tls_ca_file, "", 0, 0, "PEM CA bundle for https"),
    F("insecure_skip_verify", HB_F_BOOL, insecure, "false", 0, 0,
      "do not verify the server certificate (testing only)"),
    F("debounce_key", HB_F_STRING, debounce_key, "repo", 0, 0,
      "attribute that groups events for `debounce` (\"\": none)"),
    F("headers", HB_F_MAP, headers, "{}", 0, 0,
      "extra request headers {Name: value}; values may be secret references (env:, file:)"),
};

static void http_destroy(void *ud)
{
    struct http_app *a = ud;
    if (!a)
        return;
    hb_config_headers_free(a->headers, a->nheaders);
    hb_secret_clear(&a->sign_secret);
    if (a->pool_made)
        hb_curl_pool_free(&a->pool);
    hb_config_fields_free(http_fields, HB_ARRAY_LEN(http_fields), a);
    free(a);
    curl_global_cleanup();
}

static int http_configure(const struct hb_config *cfg, void **ud, char *err, size_t errlen)
{
    char e[256];
    struct http_app *a = calloc(1, sizeof(*a));
    if (!a)
        return hb_config_error(cfg, NULL, err, errlen, "out of memory");
    *ud = a;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return hb_config_error(cfg, NULL, err, errlen, "cannot initialise libcurl");
    if (hb_curl_pool_init(&a->pool, HB_CURL_POOL_MAX) != 0)
        return hb_config_error(cfg, NULL, err, errlen, "cannot create the connection pool");
    a->pool_made = true;
    if (hb_config_bind(cfg, NULL, "", http_fields, HB_ARRAY_LEN(http_fields), a, err, errlen) < 0)
        return -1;
    if (!hb_str_has_prefix(a->url, "http://") && !hb_str_has_prefix(a->url, "https://"))
        return hb_config_error(cfg, hb_node_get(cfg->root, "url"), err, errlen,
                               "url: required, an http:// or https:// URL");
    if (strcmp(a->mode_name, "binary") == 0)
        a->mode = MODE_BINARY;
    else if (strcmp(a->mode_name, "structured") == 0)
        a->mode = MODE_STRUCTURED;
    else if (strcmp(a->mode_name, "template") == 0)
        a->mode = MODE_TEMPLATE;
    else
        return hb_config_error(cfg, hb_node_get(cfg->root, "mode"), err, errlen,
                               "mode: must be binary, structured or template");
    if (a->mode == MODE_TEMPLATE && !*a->template)
        return hb_config_error(cfg, hb_node_get(cfg->root, "mode"), err, errlen,
                               "template: required with mode: template");
    if (*a->template && hb_template_check(a->template, e, sizeof(e)) < 0)
        return hb_config_error(cfg, hb_node_get(cfg->root, "template"), err, errlen, "template: %s",
                               e);
    if (*a->sign_secret_ref &&
        hb_secret_resolve(a->sign_secret_ref, &a->sign_secret, e, sizeof(e)) < 0)
        return hb_config_error(cfg, hb_node_get(cfg->root, "sign_secret"), err, errlen,
                               "sign_secret: %s", e);
    if (hb_config_headers(cfg, "headers", &a->headers, &a->nheaders, err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < a->nheaders; i++)
        if (strncasecmp(a->headers[i], "Content-Type:", 13) == 0)
            a->user_content_type = true;
    return 0;
}

static int http_start(void *ud, struct hb_metrics *metrics, char *err, size_t errlen)
{
    const struct http_app *a = ud;
    (void)metrics;
    (void)err;
    (void)errlen;
    if (a->insecure)
        HB_LOG(HB_LOG_WARN, "insecure_skip_verify: the server certificate is NOT verified");
    char shown[512]; /* a query string may carry a token: never logged */
    snprintf(shown, sizeof(shown), "%.*s%s", (int)strcspn(a->url, "?#"), a->url,
             a->url[strcspn(a->url, "?#")] ? "?..." : "");
    HB_LOG(HB_LOG_INFO, "forwarding events", HB_S("url", shown), HB_S("mode", a->mode_name),
           HB_B("signed", a->sign_secret.value != NULL), HB_I("headers", a->nheaders));
    return 0;
}

static int http_key(void *ud, const struct hb_event *ev, char *out, size_t outlen)
{
    const struct http_app *a = ud;
    const char *v = *a->debounce_key ? hb_event_get(ev, a->debounce_key) : NULL;
    return v && hb_strlcpy(out, v, outlen) == 0 ? 0 : -1;
}

/* Appends one header line; on ENOMEM clears *ok and keeps the list as it was. */
static struct curl_slist *add_header(struct curl_slist *l, const char *line, bool *ok)
{
    struct curl_slist *n = curl_slist_append(l, line);
    if (!n) {
        *ok = false;
        return l;
    }
    return n;
}

/* The body and headers of one request for ev. NULL body with err. */
static char *build_request(const struct http_app *a, const struct hb_event *ev, size_t *bodylen,
                           struct curl_slist **hl, char *err, size_t errlen)
{
    char *body = NULL;
    const char *ct = NULL;
    bool ok = true;
    struct hb_buf line;
    hb_buf_init(&line, 3 * HB_EVENT_MAX_ATTR_VALUE + 128);
    if (a->mode == MODE_BINARY) {
        body = malloc(ev->data_len + 1);
        if (body && ev->data_len)
            memcpy(body, ev->data, ev->data_len);
        *bodylen = ev->data_len;
        ct = hb_event_get(ev, "datacontenttype");
        for (size_t i = 0; i < ev->nattrs && ok; i++) {
            const struct hb_attr *at = &ev->attrs[i];
            if (strcmp(at->name, "datacontenttype") == 0)
                continue;
            line.len = 0;
            ok = hb_buf_printf(&line, "ce-%s: ", at->name) == 0 &&
                 hb_http_header_encode(at->value, &line) == 0;
            if (ok)
                *hl = add_header(*hl, line.p, &ok);
        }
    } else if (a->mode == MODE_STRUCTURED) {
        body = hb_event_to_json(ev);
        *bodylen = body ? strlen(body) : 0;
        ct = HB_CT_CE_JSON "; charset=utf-8";
    } else {
        body = hb_template_render(a->template, ev, MAX_BODY, err, errlen);
        if (!body) {
            hb_buf_free(&line);
            return NULL;
        }
        *bodylen = strlen(body);
        ct = a->content_type;
    }
    if (!body)
        ok = false;
    if (ok && !a->user_content_type) {
        line.len = 0;
        ok = hb_buf_printf(&line, "Content-Type: %s", ct ? ct : "application/octet-stream") == 0;
        if (ok)
            *hl = add_header(*hl, line.p, &ok);
    }
    if (ok && a->sign_secret.value) {
        char mac[2 * HB_MAX_MD + 1];
        hb_hmac_hex("sha256", a->sign_secret.value, a->sign_secret.len, body, *bodylen, mac);
        line.len = 0;
        ok = hb_buf_printf(&line, "X-Hub-Signature-256: sha256=%s", mac) == 0;
        if (ok)
            *hl = add_header(*hl, line.p, &ok);
    }
    for (size_t i = 0; ok && i < a->nheaders; i++)
        *hl = add_header(*hl, a->headers[i], &ok);
    if (ok)
        *hl = add_header(*hl, "Expect:", &ok); /* no 100-continue round trip */
    hb_buf_free(&line);
    if (!ok) {
        free(body);
        snprintf(err, errlen, "cannot build the request (a header is too long, or out of memory)");
        return NULL;
    }
    return body;
}

static enum hb_act http_act(void *ud, const struct hb_batch *b, char *err, size_t errlen)
{
    struct http_app *a = ud;
    const struct hb_event *ev = b->events[b->n - 1]; /* the newest of the window */
    struct curl_slist *hl = NULL;
    struct hb_http_result res;
    size_t bodylen = 0;
    char *body = build_request(a, ev, &bodylen, &hl, err, errlen);
    if (!body) {
        curl_slist_free_all(hl);
        return HB_ACT_DROP;
    }
    /* The POST is the action's span, a child of the event's (the newest of
     * the window's). */
    struct hb_trace span;
    char tp[HB_TRACEPARENT_SIZE];
    bool traced = hb_batch_trace(b, &span) == 0;
    if (traced)
        hb_trace_format(&span, tp);
    const struct hb_http_request req = {
        .traceparent = traced ? tp : NULL,
        .tracestate = traced && span.parent_id[0] ? hb_event_get(ev, "tracestate") : NULL,
        .url = a->url,
        .headers = hl,
        .body = body,
        .bodylen = bodylen,
        .user_agent = "hookbus-http/" HB_VERSION,
        .timeout_ms = a->timeout_ms,
        .ca_file = a->tls_ca_file,
        .insecure_skip_verify = a->insecure,
    };
    enum hb_act r = hb_http_post(&a->pool, &req, &res);
    if (res.curl_code != CURLE_OK)
        snprintf(err, errlen, "%s", res.error);
    else if (r != HB_ACT_DONE)
        snprintf(err, errlen, "HTTP %ld%s%.200s", res.status, res.reply[0] ? ": " : "", res.reply);
    if (r == HB_ACT_RETRY)
        hb_batch_set_retry_after(b, res.retry_after_ms);
    HB_LOG(r == HB_ACT_DONE ? HB_LOG_INFO : HB_LOG_WARN, "event forwarded",
           HB_S("id", hb_event_get(ev, "id")), HB_S("key", b->key), HB_I("events", b->n),
           HB_I("attempt", b->attempt), HB_I("status", res.status), HB_I("ms", res.ms),
           HB_S("result", r == HB_ACT_DONE    ? "done"
                          : r == HB_ACT_RETRY ? "retry"
                                              : "drop"),
           HB_S("error", r == HB_ACT_DONE ? "" : err),
           HB_S("trace_id", traced ? span.trace_id : ""));
    curl_slist_free_all(hl);
    free(body);
    return r;
}

int main(int argc, char **argv)
{
    static const struct hb_consumer_app app = {
        .name = "hookbus-http",
        .configure = http_configure,
        .start = http_start,
        .key = http_key,
        .act = http_act,
        .destroy = http_destroy,
        .fields = http_fields,
        .nfields = HB_ARRAY_LEN(http_fields),
    };
    return hb_consumer_main(argc, argv, &app);
}
