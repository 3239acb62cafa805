/* otlp.c: span export over OTLP/HTTP (JSON encoding) for the gateway and the
 * consumers (see hookbus/otlp.h): the tracing.* keys, the span record, the
 * ExportTraceServiceRequest encoding, and the bounded queue one exporter
 * thread drains with libcurl. Callers only copy a span into the queue under
 * a mutex; encoding and HTTP happen on the exporter thread. */
#include "hookbus/otlp.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hookbus/log.h"
#include "hookbus/secret.h"
#include "hookbus/util.h"

/* ---- configuration ---- */

#define F(...) HB_FIELD(struct hb_otlp_config, __VA_ARGS__)

static const struct hb_field otlp_fields[] = {
    F("tracing.otlp_endpoint", HB_F_STRING, endpoint, "", 0, 0,
      "OTLP/HTTP traces URL spans are exported to as JSON, e.g. "
      "http://collector:4318/v1/traces (\"\": no export)"),
    F("tracing.service_name", HB_F_STRING, service_name, "", 0, 0,
      "service.name of the exported spans (\"\": the program's name)"),
    F("tracing.headers", HB_F_MAP, headers, "{}", 0, 0,
      "extra headers of export requests {Name: value}; values may be secret references"),
    F("tracing.queue_size", HB_F_INT, queue_size, "2048", 1, 1000000,
      "spans waiting for export; when full, new spans are dropped and counted"),
    F("tracing.batch_size", HB_F_INT, batch_size, "256", 1, 10000, "spans per export request"),
    F("tracing.flush_interval", HB_F_DURATION, flush_interval_ms, "2s", 10, 3600 * 1000,
      "longest wait before queued spans are exported"),
    F("tracing.timeout", HB_F_DURATION, timeout_ms, "5s", 10, 600 * 1000,
      "one export request; a failed export drops its spans (counted)"),
};

void hb_otlp_config_help(FILE *out)
{
    hb_config_help(out, "", "", otlp_fields, HB_ARRAY_LEN(otlp_fields));
}

int hb_otlp_config_load(const struct hb_config *cfg, struct hb_otlp_config *out, char *err,
                        size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (hb_config_bind(cfg, NULL, "", otlp_fields, HB_ARRAY_LEN(otlp_fields), out, err, errlen) < 0)
        goto fail;
    const char *e = out->endpoint;
    if (e[0] && !hb_str_has_prefix(e, "http://") && !hb_str_has_prefix(e, "https://")) {
        hb_config_error(cfg, hb_node_path(cfg->root, "tracing.otlp_endpoint"), err, errlen,
                        "tracing.otlp_endpoint: must be an http:// or https:// URL");
        goto fail;
    }
    if (out->batch_size > out->queue_size)
        out->batch_size = out->queue_size;
    if (hb_config_headers(cfg, "tracing.headers", &out->headers, &out->nheaders, err, errlen) < 0)
        goto fail;
    return 0;
fail:
    hb_otlp_config_free(out); /* leaves *out zeroed: freeing it again is harmless */
    return -1;
}

void hb_otlp_config_free(struct hb_otlp_config *c)
{
    if (!c)
        return;
    hb_config_headers_free(c->headers, c->nheaders);
    hb_config_fields_free(otlp_fields, HB_ARRAY_LEN(otlp_fields), c);
    memset(c, 0, sizeof(*c));
}

/* ---- spans ---- */

int64_t hb_unix_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void hb_span_init(struct hb_span *s, const struct hb_trace *ctx, const char *name,
                  enum hb_span_kind kind, int64_t start_ns)
{
    memset(s, 0, sizeof(*s));
    s->ctx = *ctx;
    hb_strlcpy(s->name, name, sizeof(s->name));
    s->kind = kind;
    s->start_ns = s->end_ns = start_ns;
}

void hb_span_attr_str(struct hb_span *s, const char *key, const char *value)
{
    if (!value || s->nattrs >= HB_SPAN_ATTRS)
        return;
    struct hb_span_attr *a = &s->attrs[s->nattrs++];
    a->key = key;
    a->is_int = false;
    hb_strlcpy(a->s, value, sizeof(a->s));
}

void hb_span_attr_int(struct hb_span *s, const char *key, int64_t value)
{
    if (s->nattrs >= HB_SPAN_ATTRS)
        return;
    struct hb_span_attr *a = &s->attrs[s->nattrs++];
    a->key = key;
    a->is_int = true;
    a->i = value;
}

void hb_span_end(struct hb_span *s, int64_t end_ns, bool error, const char *status_msg)
{
    s->end_ns = end_ns < s->start_ns ? s->start_ns : end_ns;
    s->error = error;
    hb_strlcpy(s->status_msg, error && status_msg ? status_msg : "", sizeof(s->status_msg));
}

/* A cut string value may end inside a UTF-8 sequence: drop the partial one. */
static void utf8_trim(char *s)
{
    size_t n = strlen(s);
    while (n && !hb_utf8_valid(s, n))
        s[--n] = '\0';
}

/* {"key": k, "value": {"stringValue": v}} or {"intValue": "n"} (OTLP JSON
 * writes 64-bit integers as decimal strings). */
static cJSON *attr_json(const char *key, const char *str, bool is_int, int64_t i)
{
    char num[24];
    cJSON *a = cJSON_CreateObject(), *v = cJSON_CreateObject();
    if (!a || !v)
        goto fail;
    cJSON_AddItemToObject(a, "key", cJSON_CreateString(key));
    cJSON_AddItemToObject(a, "value", v);
    if (is_int) {
        snprintf(num, sizeof(num), "%lld", (long long)i);
        cJSON_AddItemToObject(v, "intValue", cJSON_CreateString(num));
    } else {
        cJSON_AddItemToObject(v, "stringValue", cJSON_CreateString(str));
    }
    return a;
fail:
    cJSON_Delete(a);
    cJSON_Delete(v);
    return NULL;
}

static cJSON *span_json(const struct hb_span *s)
{
    char num[24], text[HB_SPAN_ATTR_LEN];
    cJSON *j = cJSON_CreateObject(), *attrs = cJSON_CreateArray(), *st = cJSON_CreateObject();
    if (!j || !attrs || !st) {
        cJSON_Delete(j);
        cJSON_Delete(attrs);
        cJSON_Delete(st);
        return NULL;
    }
    cJSON_AddStringToObject(j, "traceId", s->ctx.trace_id);
    cJSON_AddStringToObject(j, "spanId", s->ctx.span_id);
    if (s->ctx.parent_id[0])
        cJSON_AddStringToObject(j, "parentSpanId", s->ctx.parent_id);
    cJSON_AddNumberToObject(j, "flags", (double)(s->ctx.flags & 0xff));
    cJSON_AddStringToObject(j, "name", s->name);
    cJSON_AddNumberToObject(j, "kind", (double)s->kind);
    snprintf(num, sizeof(num), "%lld", (long long)s->start_ns);
    cJSON_AddStringToObject(j, "startTimeUnixNano", num);
    snprintf(num, sizeof(num), "%lld", (long long)s->end_ns);
    cJSON_AddStringToObject(j, "endTimeUnixNano", num);
    for (size_t i = 0; i < s->nattrs && i < HB_SPAN_ATTRS; i++) {
        const struct hb_span_attr *a = &s->attrs[i];
        hb_strlcpy(text, a->s, sizeof(text));
        utf8_trim(text);
        cJSON_AddItemToArray(attrs, attr_json(a->key, text, a->is_int, a->i));
    }
    cJSON_AddItemToObject(j, "attributes", attrs);
    if (s->error) {
        cJSON_AddNumberToObject(st, "code", 2); /* STATUS_CODE_ERROR */
        hb_strlcpy(text, s->status_msg, sizeof(text));
        utf8_trim(text);
        if (text[0])
            cJSON_AddStringToObject(st, "message", text);
    }
    cJSON_AddItemToObject(j, "status", st);
    return j;
}

char *hb_otlp_encode(const char *service, const struct hb_span *spans, size_t n)
{
    char *out = NULL;
    cJSON *root = cJSON_CreateObject();
    cJSON *rss = cJSON_AddArrayToObject(root, "resourceSpans");
    cJSON *rs = cJSON_CreateObject();
    cJSON_AddItemToArray(rss, rs);
    cJSON *res = cJSON_AddObjectToObject(rs, "resource");
    cJSON *rattrs = cJSON_AddArrayToObject(res, "attributes");
    cJSON_AddItemToArray(rattrs, attr_json("service.name", service, false, 0));
    cJSON *sss = cJSON_AddArrayToObject(rs, "scopeSpans");
    cJSON *ss = cJSON_CreateObject();
    cJSON_AddItemToArray(sss, ss);
    cJSON *scope = cJSON_AddObjectToObject(ss, "scope");
    cJSON_AddStringToObject(scope, "name", "hookbus");
    cJSON_AddStringToObject(scope, "version", HB_VERSION);
    cJSON *arr = cJSON_AddArrayToObject(ss, "spans");
    if (!arr)
        goto done;
    for (size_t i = 0; i < n; i++) {
        cJSON *sj = span_json(&spans[i]);
        if (!sj)
            goto done;
        cJSON_AddItemToArray(arr, sj);
    }
    out = cJSON_PrintUnformatted(root);
done:
    cJSON_Delete(root);
    return out;
}

/* ---- the exporter ---- */

struct hb_otlp {
    char *endpoint, *service; /* copies */
    struct curl_slist *headers;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    bool started, stop;
    struct hb_span *ring; /* queue_size spans */
    size_t cap, head, count;
    struct hb_span *batch; /* the exporter thread's */
    size_t batch_max;
    long flush_ms, timeout_ms;
    bool failing; /* the last export failed (logged once per outage) */
    /* Set by hb_otlp_stop: hb_mono_ms() after which an export in flight is
     * aborted and no more are tried (0: not stopping), so a collector that
     * hangs delays shutdown by at most STOP_GRACE_MS. */
    _Atomic int64_t abort_at;
    struct hb_counter *exported, *dropped_full, *dropped_failed, *requests_failed;
};

bool hb_otlp_enabled(const struct hb_otlp *x)
{
    return x != NULL;
}

void hb_otlp_emit(struct hb_otlp *x, const struct hb_span *s)
{
    /* Parent-based sampling: a trace its sender marked not sampled (flags
     * 00, kept by child spans) is not recorded. */
    if (!x || !s || !(s->ctx.flags & HB_TRACE_SAMPLED))
        return;
    pthread_mutex_lock(&x->mu);
    if (x->count == x->cap || x->stop) {
        pthread_mutex_unlock(&x->mu);
        hb_counter_add(x->dropped_full, 1);
        return;
    }
    x->ring[(x->head + x->count) % x->cap] = *s;
    x->count++;
    if (x->count >= x->batch_max)
        pthread_cond_signal(&x->cv);
    pthread_mutex_unlock(&x->mu);
}

#define STOP_GRACE_MS 2000

static int abort_on_stop(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                         curl_off_t ulnow)
{
    struct hb_otlp *x = arg;
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    int64_t at = atomic_load(&x->abort_at);
    return at && hb_mono_ms() >= at;
}

/* POSTs n spans; true when the collector answered 2xx. */
static bool export_batch(struct hb_otlp *x, CURL *h, const struct hb_span *spans, size_t n)
{
    char reply_data[256], errbuf[CURL_ERROR_SIZE] = "";
    struct hb_buf reply;
    long status = 0;
    char *body = hb_otlp_encode(x->service, spans, n);
    if (!body)
        return false;
    hb_buf_init(&reply, sizeof(reply_data) - 1);
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, x->endpoint);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, x->headers);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, x->timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, x->timeout_ms);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, hb_buf_write_prefix);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &reply);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, abort_on_stop);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, x);
    CURLcode rc = curl_easy_perform(h);
    if (rc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    free(body);
    bool ok = rc == CURLE_OK && status >= 200 && status < 300;
    if (ok) {
        hb_counter_add(x->exported, n);
        if (x->failing)
            HB_LOG(HB_LOG_INFO, "span export works again", HB_I("spans", n));
        x->failing = false;
    } else {
        hb_counter_add(x->requests_failed, 1);
        hb_counter_add(x->dropped_failed, n);
        if (!x->failing) {
            char why[CURL_ERROR_SIZE + 32];
            if (rc != CURLE_OK)
                hb_strlcpy(why, errbuf[0] ? errbuf : curl_easy_strerror(rc), sizeof(why));
            else
                snprintf(why, sizeof(why), "HTTP %ld", status);
            HB_LOG(HB_LOG_WARN, "span export failed; spans are dropped until it works again",
                   HB_S("error", why), HB_I("spans", n));
        }
        x->failing = true;
    }
    hb_buf_free(&reply);
    return ok;
}

/* Takes up to batch_max spans off the queue (caller holds mu). */
static size_t take(struct hb_otlp *x)
{
    size_t n = x->count < x->batch_max ? x->count : x->batch_max;
    for (size_t i = 0; i < n; i++)
        x->batch[i] = x->ring[(x->head + i) % x->cap];
    x->head = (x->head + n) % x->cap;
    x->count -= n;
    return n;
}

static void *exporter_main(void *arg)
{
    struct hb_otlp *x = arg;
    CURL *h = curl_easy_init();
    pthread_mutex_lock(&x->mu);
    while (!x->stop) {
        if (x->count < x->batch_max) {
            struct timespec until;
            hb_realtime_after_ms(x->flush_ms, &until);
            while (!x->stop && x->count < x->batch_max) {
                int rc = pthread_cond_timedwait(&x->cv, &x->mu, &until);
                if (rc == ETIMEDOUT)
                    break;
            }
        }
        if (x->stop || !x->count)
            continue;
        size_t n = take(x);
        pthread_mutex_unlock(&x->mu);
        if (h)
            export_batch(x, h, x->batch, n);
        else
            hb_counter_add(x->dropped_failed, n);
        pthread_mutex_lock(&x->mu);
    }
    /* Stopping: what is queued gets one try, batch by batch, while the
     * collector takes it and the grace period lasts. */
    bool ok = true;
    while (x->count && ok && h && hb_mono_ms() < atomic_load(&x->abort_at)) {
        size_t n = take(x);
        pthread_mutex_unlock(&x->mu);
        ok = export_batch(x, h, x->batch, n);
        pthread_mutex_lock(&x->mu);
    }
    hb_counter_add(x->dropped_failed, x->count);
    x->count = 0;
    pthread_mutex_unlock(&x->mu);
    if (h)
        curl_easy_cleanup(h);
    return NULL;
}

int hb_otlp_start(const struct hb_otlp_config *c, const char *default_service,
                  struct hb_metrics *metrics, struct hb_otlp **out, char *err, size_t errlen)
{
    static const char help[] = "Spans not exported, by reason (queue_full, export_failed)";
    *out = NULL;
    if (!c->endpoint || !c->endpoint[0])
        return 0;
    struct hb_otlp *x = calloc(1, sizeof(*x));
    if (!x)
        goto oom;
    pthread_mutex_init(&x->mu, NULL);
    pthread_cond_init(&x->cv, NULL);
    x->cap = (size_t)c->queue_size;
    x->batch_max = (size_t)c->batch_size;
    x->flush_ms = c->flush_interval_ms;
    x->timeout_ms = c->timeout_ms;
    x->endpoint = strdup(c->endpoint);
    x->service = strdup(c->service_name && c->service_name[0] ? c->service_name : default_service);
    x->ring = calloc(x->cap, sizeof(*x->ring));
    x->batch = calloc(x->batch_max, sizeof(*x->batch));
    if (!x->endpoint || !x->service || !x->ring || !x->batch)
        goto oom;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct curl_slist *l = curl_slist_append(NULL, "Content-Type: application/json");
    for (size_t i = 0; l && i < c->nheaders; i++) {
        struct curl_slist *nl = curl_slist_append(l, c->headers[i]);
        if (!nl) {
            curl_slist_free_all(l);
            l = NULL;
        }
        l = nl;
    }
    if (!(x->headers = l))
        goto oom;
    x->exported = hb_metrics_counter(metrics, "hookbus_otlp_spans_exported_total",
                                     "Spans the OTLP collector accepted", NULL);
    x->dropped_full = hb_metrics_counter(metrics, "hookbus_otlp_spans_dropped_total", help,
                                         "reason=\"queue_full\"");
    x->dropped_failed = hb_metrics_counter(metrics, "hookbus_otlp_spans_dropped_total", help,
                                           "reason=\"export_failed\"");
    x->requests_failed = hb_metrics_counter(metrics, "hookbus_otlp_export_failures_total",
                                            "OTLP export requests that failed", NULL);
    if (pthread_create(&x->thread, NULL, exporter_main, x) != 0) {
        snprintf(err, errlen, "cannot start the span exporter thread");
        hb_otlp_stop(x);
        return -1;
    }
    x->started = true;
    *out = x;
    /* A URL with user:password@ is not logged (no secret in logs). */
    HB_LOG(HB_LOG_INFO, "exporting spans",
           HB_S("endpoint", strchr(x->endpoint, '@') ? "(has credentials)" : x->endpoint),
           HB_S("service", x->service));
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
    hb_otlp_stop(x);
    return -1;
}

void hb_otlp_stop(struct hb_otlp *x)
{
    if (!x)
        return;
    if (x->started) {
        pthread_mutex_lock(&x->mu);
        long grace = x->timeout_ms < STOP_GRACE_MS ? x->timeout_ms : STOP_GRACE_MS;
        atomic_store(&x->abort_at, hb_mono_ms() + grace);
        x->stop = true;
        pthread_cond_signal(&x->cv);
        pthread_mutex_unlock(&x->mu);
        pthread_join(x->thread, NULL);
    }
    curl_slist_free_all(x->headers);
    free(x->endpoint);
    free(x->service);
    free(x->ring);
    free(x->batch);
    pthread_cond_destroy(&x->cv);
    pthread_mutex_destroy(&x->mu);
    free(x);
}
