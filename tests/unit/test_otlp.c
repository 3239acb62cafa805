/* test_otlp.c: unit tests for hookbus/otlp.h (lib/otlp.c): the OTLP JSON
 * encoding of spans (ids as hex, times as decimal strings, typed attributes,
 * kind, status), attribute bounds, the tracing.* keys and their errors, and
 * an exporter whose collector cannot be reached: emit never blocks, a full
 * queue drops and counts, stop is bounded. (tests/e2e/test_otlp.py decodes
 * real exports with the official protobuf classes.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "hookbus/otlp.h"
#include "hookbus/util.h"

static struct hb_trace ctx_of(const char *trace, const char *span, const char *parent)
{
    struct hb_trace t = {.flags = 1};
    hb_strlcpy(t.trace_id, trace, sizeof(t.trace_id));
    hb_strlcpy(t.span_id, span, sizeof(t.span_id));
    hb_strlcpy(t.parent_id, parent, sizeof(t.parent_id));
    return t;
}

static const cJSON *attr(const cJSON *attrs, const char *key)
{
    const cJSON *a;
    cJSON_ArrayForEach (a, attrs) {
        if (strcmp(cJSON_GetObjectItem(a, "key")->valuestring, key) == 0)
            return cJSON_GetObjectItem(a, "value");
    }
    return NULL;
}

static void test_encode(void **state)
{
    (void)state;
    struct hb_span s[2];
    struct hb_trace t = ctx_of("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", "");
    hb_span_init(&s[0], &t, "POST /webhooks/{receiver}", HB_SPAN_SERVER, 1700000000123456789LL);
    hb_span_attr_str(&s[0], "hookbus.receiver", "acme \"github\"");
    hb_span_attr_int(&s[0], "http.response.status_code", 202);
    hb_span_end(&s[0], 1700000000223456789LL, false, "ignored when not an error");
    t = ctx_of("4bf92f3577b34da6a3ce929d0e0e4736", "b7ad6b7169203331", "00f067aa0ba902b7");
    hb_span_init(&s[1], &t, "hookbus-http act", HB_SPAN_CONSUMER, 1700000000300000000LL);
    hb_span_end(&s[1], 1700000000100000000LL, true, "HTTP 500: boom"); /* end before start */

    char *json = hb_otlp_encode("hookbus-gateway", s, 2);
    assert_non_null(json);
    cJSON *root = cJSON_Parse(json);
    assert_non_null(root);
    const cJSON *rs = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "resourceSpans"), 0);
    const cJSON *res = cJSON_GetObjectItem(cJSON_GetObjectItem(rs, "resource"), "attributes");
    assert_string_equal(cJSON_GetObjectItem(attr(res, "service.name"), "stringValue")->valuestring,
                        "hookbus-gateway");
    const cJSON *ss = cJSON_GetArrayItem(cJSON_GetObjectItem(rs, "scopeSpans"), 0);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(ss, "scope"), "name")->valuestring,
                        "hookbus");
    const cJSON *spans = cJSON_GetObjectItem(ss, "spans");
    assert_int_equal(cJSON_GetArraySize(spans), 2);

    const cJSON *a = cJSON_GetArrayItem(spans, 0);
    assert_string_equal(cJSON_GetObjectItem(a, "traceId")->valuestring,
                        "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_string_equal(cJSON_GetObjectItem(a, "spanId")->valuestring, "00f067aa0ba902b7");
    assert_null(cJSON_GetObjectItem(a, "parentSpanId")); /* a root span */
    assert_int_equal(cJSON_GetObjectItem(a, "kind")->valueint, 2);
    assert_string_equal(cJSON_GetObjectItem(a, "startTimeUnixNano")->valuestring,
                        "1700000000123456789");
    assert_string_equal(cJSON_GetObjectItem(a, "endTimeUnixNano")->valuestring,
                        "1700000000223456789");
    const cJSON *at = cJSON_GetObjectItem(a, "attributes");
    assert_string_equal(
        cJSON_GetObjectItem(attr(at, "hookbus.receiver"), "stringValue")->valuestring,
        "acme \"github\"");
    assert_string_equal(
        cJSON_GetObjectItem(attr(at, "http.response.status_code"), "intValue")->valuestring, "202");
    assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(a, "status"), "code")); /* UNSET */

    const cJSON *b = cJSON_GetArrayItem(spans, 1);
    assert_string_equal(cJSON_GetObjectItem(b, "parentSpanId")->valuestring, "00f067aa0ba902b7");
    assert_int_equal(cJSON_GetObjectItem(b, "kind")->valueint, 5);
    /* An end before the start is clamped to the start. */
    assert_string_equal(cJSON_GetObjectItem(b, "endTimeUnixNano")->valuestring,
                        "1700000000300000000");
    const cJSON *st = cJSON_GetObjectItem(b, "status");
    assert_int_equal(cJSON_GetObjectItem(st, "code")->valueint, 2);
    assert_string_equal(cJSON_GetObjectItem(st, "message")->valuestring, "HTTP 500: boom");
    cJSON_Delete(root);
    free(json);
}

static void test_attribute_bounds(void **state)
{
    (void)state;
    struct hb_span s;
    struct hb_trace t = ctx_of("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", "");
    char longv[300];
    hb_span_init(&s, &t, "n", HB_SPAN_INTERNAL, 1);
    for (int i = 0; i < HB_SPAN_ATTRS + 3; i++)
        hb_span_attr_int(&s, "k", i);
    assert_int_equal(s.nattrs, HB_SPAN_ATTRS);
    hb_span_init(&s, &t, "n", HB_SPAN_INTERNAL, 1);
    hb_span_attr_str(&s, "skipped", NULL);
    assert_int_equal(s.nattrs, 0);
    /* A value cut inside a UTF-8 sequence loses the partial character. */
    memset(longv, 'a', sizeof(longv));
    memcpy(longv + HB_SPAN_ATTR_LEN - 2, "\xc3\xa9", 2); /* é across the cut */
    longv[sizeof(longv) - 1] = '\0';
    hb_span_attr_str(&s, "long", longv);
    char *json = hb_otlp_encode("svc", &s, 1);
    assert_non_null(json);
    cJSON *root = cJSON_Parse(json);
    assert_non_null(root);
    assert_true(hb_utf8_valid(json, strlen(json)));
    const char *v = strstr(json, "\"stringValue\":\"aaaa");
    assert_non_null(v);
    cJSON_Delete(root);
    free(json);
}

static int load(const char *yaml, struct hb_otlp_config *c, char *err, size_t errlen)
{
    struct hb_config cfg;
    assert_int_equal(hb_config_load_string("t.yaml", yaml, strlen(yaml), &cfg, err, errlen), 0);
    int rc = hb_otlp_config_load(&cfg, c, err, errlen);
    if (rc == 0 && (rc = hb_config_check_unused(&cfg, err, errlen)) < 0)
        hb_otlp_config_free(c);
    hb_config_free(&cfg);
    return rc;
}

static void test_config(void **state)
{
    (void)state;
    struct hb_otlp_config c;
    char err[256];
    assert_int_equal(load("{}", &c, err, sizeof(err)), 0);
    assert_string_equal(c.endpoint, "");
    assert_int_equal(c.queue_size, 2048);
    assert_int_equal(c.batch_size, 256);
    assert_int_equal(c.flush_interval_ms, 2000);
    hb_otlp_config_free(&c);

    assert_int_equal(load("tracing:\n  otlp_endpoint: https://c:4318/v1/traces\n"
                          "  service_name: gw-eu\n  queue_size: 10\n  batch_size: 50\n"
                          "  headers: {Authorization: literal:Bearer x, X-Tenant: t1}\n",
                          &c, err, sizeof(err)),
                     0);
    assert_string_equal(c.service_name, "gw-eu");
    assert_int_equal(c.batch_size, 10); /* never more than the queue holds */
    assert_int_equal(c.nheaders, 2);
    assert_string_equal(c.headers[0], "Authorization: Bearer x");
    assert_string_equal(c.headers[1], "X-Tenant: t1");
    hb_otlp_config_free(&c);

    assert_int_equal(load("tracing:\n  otlp_endpoint: collector:4318\n", &c, err, sizeof(err)), -1);
    assert_string_equal(err, "t.yaml:2: tracing.otlp_endpoint: must be an http:// or https:// URL");
    assert_int_equal(load("tracing:\n  headers: {\"Bad Name\": x}\n", &c, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "needs a valid header name"));
    assert_int_equal(load("tracing:\n  queue_size: 0\n", &c, err, sizeof(err)), -1);
    assert_int_equal(load("tracing:\n  sample: 1\n", &c, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "tracing.sample"));
}

/* A collector that refuses connections: emits never block, spans beyond
 * the queue are dropped and counted, stop returns within its grace. */
static void test_exporter_unreachable(void **state)
{
    (void)state;
    struct hb_otlp_config c;
    char err[256];
    /* Port 9 (discard) on loopback: nothing listens there in the tests. */
    assert_int_equal(load("tracing:\n  otlp_endpoint: http://127.0.0.1:9/v1/traces\n"
                          "  queue_size: 4\n  batch_size: 4\n  flush_interval: 1h\n"
                          "  timeout: 500ms\n",
                          &c, err, sizeof(err)),
                     0);
    struct hb_metrics *m = hb_metrics_new();
    struct hb_otlp *x = NULL;
    assert_int_equal(hb_otlp_start(&c, "svc", m, &x, err, sizeof(err)), 0);
    assert_true(hb_otlp_enabled(x));
    struct hb_span s;
    struct hb_trace t = ctx_of("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", "");
    hb_span_init(&s, &t, "n", HB_SPAN_INTERNAL, hb_unix_ns());
    /* Spans of an unsampled trace are not even queued. */
    s.ctx.flags = 0;
    for (int i = 0; i < 10; i++)
        hb_otlp_emit(x, &s);
    s.ctx.flags = HB_TRACE_SAMPLED;
    int64_t t0 = hb_mono_ms();
    for (int i = 0; i < 1000; i++)
        hb_otlp_emit(x, &s);
    assert_true(hb_mono_ms() - t0 < 1000);
    hb_otlp_stop(x);
    assert_true(hb_mono_ms() - t0 < 5000);
    char *text = hb_metrics_render(m);
    assert_non_null(text);
    /* 1000 emitted, at most 4 queued at a time: each one was either dropped
     * as queue_full or taken by the exporter and failed. None exported. */
    assert_non_null(strstr(text, "hookbus_otlp_spans_exported_total 0\n"));
    const char *full = strstr(text, "hookbus_otlp_spans_dropped_total{reason=\"queue_full\"} ");
    const char *failed = strstr(text,
                                "hookbus_otlp_spans_dropped_total{reason=\"export_failed\"} ");
    assert_non_null(full);
    assert_non_null(failed);
    long nfull = strtol(strchr(full, '}') + 2, NULL, 10);
    long nfailed = strtol(strchr(failed, '}') + 2, NULL, 10);
    assert_int_equal(nfull + nfailed, 1000);
    assert_true(nfull > 0);
    free(text);
    hb_metrics_free(m);
    hb_otlp_config_free(&c);

    /* No endpoint: nothing starts and every call is a no-op. */
    assert_int_equal(load("{}", &c, err, sizeof(err)), 0);
    assert_int_equal(hb_otlp_start(&c, "svc", NULL, &x, err, sizeof(err)), 0);
    assert_null(x);
    assert_false(hb_otlp_enabled(x));
    hb_otlp_emit(x, &s);
    hb_otlp_stop(x);
    hb_otlp_config_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode),
        cmocka_unit_test(test_attribute_bounds),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_exporter_unreachable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
