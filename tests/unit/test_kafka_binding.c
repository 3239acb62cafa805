/* test_kafka_binding.c: unit tests for the CloudEvents Kafka protocol binding
 * in hookbus/kafka.h (lib/kafka_binding.c): binary and structured encoding
 * (ce_ headers, content-type, the partitionkey as message key), decoding with
 * per-message mode detection, header validation, and round trips between the
 * modes. Messages are built with rd_kafka_headers_t directly: no broker. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hookbus/event.h"
#include "hookbus/format.h"
#include "hookbus/kafka.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- helpers ------------------------------------------------------------ */

static struct hb_event *base_event(void)
{
    struct hb_event *ev = hb_event_new();
    assert_non_null(ev);
    assert_int_equal(hb_event_set(ev, "specversion", "1.0"), 0);
    assert_int_equal(hb_event_set(ev, "id", "delivery-1/0"), 0);
    assert_int_equal(hb_event_set(ev, "source", "/receivers/acme-github"), 0);
    assert_int_equal(hb_event_set(ev, "type", "dev.hookbus.git.push"), 0);
    return ev;
}

/* A typical gateway event with JSON data and a partition key. */
static struct hb_event *full_event(void)
{
    struct hb_event *ev = base_event();
    assert_int_equal(hb_event_set(ev, "subject", "github.com/acme/app@refs/heads/main"), 0);
    assert_int_equal(hb_event_set(ev, "time", "2024-05-06T07:08:09.123Z"), 0);
    assert_int_equal(hb_event_set(ev, "datacontenttype", "application/json"), 0);
    assert_int_equal(hb_event_set(ev, "dataschema", "urn:hookbus:schema:dev.hookbus.git.push:1"),
                     0);
    assert_int_equal(hb_event_set(ev, "provider", "github"), 0);
    assert_int_equal(hb_event_set(ev, "repo", "github.com/acme/app"), 0);
    assert_int_equal(hb_event_set(ev, "ref", "refs/heads/main"), 0);
    assert_int_equal(hb_event_set(ev, "partitionkey", "github.com/acme/app"), 0);
    const char *data = "{\"kind\":\"git\",\"ref\":\"refs/heads/main\",\"n\":[1,2]}";
    assert_int_equal(hb_event_set_data(ev, data, strlen(data)), 0);
    return ev;
}

/* The last value of header name as a NUL-terminated copy (static buffer), or
 * NULL when absent. */
static const char *hdr(const rd_kafka_headers_t *h, const char *name)
{
    static char buf[8192];
    const void *v;
    size_t n;
    if (rd_kafka_header_get_last(h, name, &v, &n) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return NULL;
    assert_true(n < sizeof(buf));
    memcpy(buf, v ? v : "", n);
    buf[n] = '\0';
    return buf;
}

static void add_hdr(rd_kafka_headers_t *h, const char *name, const char *value)
{
    assert_int_equal(rd_kafka_header_add(h, name, -1, value, value ? -1 : 0),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
}

/* Headers of a minimal binary-mode event. */
static rd_kafka_headers_t *binary_headers(void)
{
    rd_kafka_headers_t *h = rd_kafka_headers_new(8);
    add_hdr(h, "ce_specversion", "1.0");
    add_hdr(h, "ce_id", "abc");
    add_hdr(h, "ce_source", "/receivers/x");
    add_hdr(h, "ce_type", "dev.hookbus.git.tag");
    return h;
}

/* Decodes a message built by hb_kafka_encode; caller frees. */
static struct hb_event *decode_msg(const struct hb_kafka_msg *m, enum hb_ce_mode want_mode)
{
    char err[256] = "";
    struct hb_event *ev = NULL;
    enum hb_ce_mode mode = (enum hb_ce_mode) - 1;
    if (hb_kafka_decode(m->value, m->value_len, m->key, m->key_len, m->headers, &ev, &mode, err,
                        sizeof(err)) != 0)
        fail_msg("decode: %s", err);
    assert_non_null(ev);
    assert_int_equal(mode, want_mode);
    return ev;
}

/* Expects hb_kafka_decode to fail with a message containing want. */
static void decode_fails(const void *value, size_t len, const rd_kafka_headers_t *h,
                         const char *want)
{
    char err[256] = "";
    struct hb_event *ev = NULL;
    enum hb_ce_mode mode;
    int rc = hb_kafka_decode(value, len, NULL, 0, h, &ev, &mode, err, sizeof(err));
    if (rc == 0) {
        hb_event_free(ev);
        fail_msg("decode should fail (%s)", want ? want : "");
    }
    assert_int_equal(rc, -1);
    assert_null(ev);
    assert_true(err[0] != '\0');
    if (want && !strstr(err, want))
        fail_msg("error '%s' does not mention '%s'", err, want);
}

static void assert_same_event(const struct hb_event *a, const struct hb_event *b)
{
    assert_int_equal(a->nattrs, b->nattrs);
    for (size_t i = 0; i < a->nattrs; i++) {
        const char *v = hb_event_get(b, a->attrs[i].name);
        if (!v)
            fail_msg("attribute %s lost", a->attrs[i].name);
        if (strcmp(v, a->attrs[i].value) != 0)
            fail_msg("attribute %s: '%s' became '%s'", a->attrs[i].name, a->attrs[i].value, v);
    }
    assert_int_equal(a->data != NULL, b->data != NULL);
    assert_int_equal(a->data_len, b->data_len);
    if (a->data_len)
        assert_memory_equal(a->data, b->data, a->data_len);
}

/* ---- modes -------------------------------------------------------------- */

static void test_mode_names(void **state)
{
    (void)state;
    enum hb_ce_mode m;
    assert_string_equal(hb_ce_mode_name(HB_CE_BINARY), "binary");
    assert_string_equal(hb_ce_mode_name(HB_CE_STRUCTURED), "structured");
    assert_string_equal(hb_ce_mode_name(HB_CE_AVRO), "avro");
    assert_int_equal(hb_ce_mode_parse("binary", &m), 0);
    assert_int_equal(m, HB_CE_BINARY);
    assert_int_equal(hb_ce_mode_parse("structured", &m), 0);
    assert_int_equal(m, HB_CE_STRUCTURED);
    assert_int_equal(hb_ce_mode_parse("avro", &m), 0);
    assert_int_equal(m, HB_CE_AVRO);
    assert_int_equal(hb_ce_mode_parse("json", &m), -1);
    assert_int_equal(hb_ce_mode_parse("", &m), -1);
    assert_int_equal(hb_ce_mode_parse("Binary", &m), -1);
}

/* ---- encode ------------------------------------------------------------- */

static void test_encode_binary(void **state)
{
    (void)state;
    struct hb_event *ev = full_event();
    /* the longest name an attribute may have, then one the encoder's buffer
     * must not take (refused by the event first) */
    char longest[HB_EVENT_MAX_ATTR_NAME + 2];
    memset(longest, 'x', HB_EVENT_MAX_ATTR_NAME + 1);
    longest[HB_EVENT_MAX_ATTR_NAME + 1] = '\0';
    assert_int_equal(hb_event_set(ev, longest, "too long"), -1);
    longest[HB_EVENT_MAX_ATTR_NAME] = '\0';
    assert_int_equal(hb_event_set(ev, longest, "longest"), 0);
    struct hb_kafka_msg m;
    char err[256];
    assert_int_equal(hb_kafka_encode(ev, HB_CE_BINARY, &m, err, sizeof(err)), 0);

    /* Key = partitionkey. */
    assert_non_null(m.key);
    assert_int_equal(m.key_len, strlen("github.com/acme/app"));
    assert_memory_equal(m.key, "github.com/acme/app", m.key_len);
    /* Value = data as is. */
    assert_int_equal(m.value_len, ev->data_len);
    assert_memory_equal(m.value, ev->data, ev->data_len);

    /* One ce_ header per attribute, except datacontenttype -> content-type. */
    assert_non_null(m.headers);
    assert_int_equal(rd_kafka_header_cnt(m.headers), ev->nattrs);
    for (size_t i = 0; i < ev->nattrs; i++) {
        const struct hb_attr *a = &ev->attrs[i];
        char name[3 + HB_EVENT_MAX_ATTR_NAME + 1];
        if (strcmp(a->name, "datacontenttype") == 0)
            snprintf(name, sizeof(name), "content-type");
        else
            snprintf(name, sizeof(name), "ce_%s", a->name);
        const char *v = hdr(m.headers, name);
        if (!v)
            fail_msg("header %s missing", name);
        assert_string_equal(v, a->value);
    }
    assert_null(hdr(m.headers, "ce_datacontenttype"));
    assert_string_equal(hdr(m.headers, "ce_partitionkey"), "github.com/acme/app");
    hb_kafka_msg_clear(&m);
    assert_null(m.key);
    assert_null(m.value);
    assert_null(m.headers);
    hb_event_free(ev);
}

static void test_encode_binary_no_data_no_key(void **state)
{
    (void)state;
    struct hb_event *ev = base_event();
    struct hb_kafka_msg m;
    char err[256];
    assert_int_equal(hb_kafka_encode(ev, HB_CE_BINARY, &m, err, sizeof(err)), 0);
    assert_null(m.key);
    assert_int_equal(m.key_len, 0);
    /* No data: no value (a tombstone in binary mode). */
    assert_null(m.value);
    assert_int_equal(m.value_len, 0);
    assert_null(hdr(m.headers, "content-type"));
    assert_int_equal(rd_kafka_header_cnt(m.headers), 4);
    hb_kafka_msg_clear(&m);

    /* Empty data: a present, empty value. */
    assert_int_equal(hb_event_set_data(ev, "", 0), 0);
    assert_int_equal(hb_kafka_encode(ev, HB_CE_BINARY, &m, err, sizeof(err)), 0);
    assert_non_null(m.value);
    assert_int_equal(m.value_len, 0);
    struct hb_event *back = decode_msg(&m, HB_CE_BINARY);
    assert_non_null(back->data);
    assert_int_equal(back->data_len, 0);
    hb_event_free(back);
    hb_kafka_msg_clear(&m);
    hb_event_free(ev);
}

static void test_encode_structured(void **state)
{
    (void)state;
    struct hb_event *ev = full_event();
    assert_int_equal(hb_event_set_typed(ev, "count", "3", HB_ATTR_INTEGER), 0);
    struct hb_kafka_msg m;
    char err[256];
    assert_int_equal(hb_kafka_encode(ev, HB_CE_STRUCTURED, &m, err, sizeof(err)), 0);
    assert_non_null(m.key);
    assert_memory_equal(m.key, "github.com/acme/app", m.key_len);
    const char *ct = hdr(m.headers, "content-type");
    assert_non_null(ct);
    assert_true(strncmp(ct, "application/cloudevents+json", 28) == 0);
    /* The value is the JSON format. */
    cJSON *obj = cJSON_ParseWithLength(m.value, m.value_len);
    assert_non_null(obj);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(obj, "id")->valuestring, "delivery-1/0");
    assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(obj, "count")));
    assert_true(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(obj, "data")));
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(obj, "partitionkey")->valuestring,
                        "github.com/acme/app");
    cJSON_Delete(obj);
    /* No ce_ headers are needed in structured mode. */
    assert_null(hdr(m.headers, "ce_id"));

    struct hb_event *back = decode_msg(&m, HB_CE_STRUCTURED);
    assert_same_event(ev, back);
    assert_int_equal(hb_event_find(back, "count")->type, HB_ATTR_INTEGER);
    hb_event_free(back);
    hb_kafka_msg_clear(&m);
    hb_event_free(ev);
}

static void test_encode_invalid(void **state)
{
    (void)state;
    struct hb_event *ev = base_event();
    assert_int_equal(hb_event_unset(ev, "type"), 0);
    struct hb_kafka_msg m;
    char err[256] = "";
    for (int mode = HB_CE_BINARY; mode <= HB_CE_AVRO; mode++) {
        err[0] = '\0';
        assert_int_equal(hb_kafka_encode(ev, (enum hb_ce_mode)mode, &m, err, sizeof(err)), -1);
        assert_non_null(strstr(err, "type"));
        assert_null(m.headers);
        assert_null(m.value);
        assert_null(m.key);
    }
    hb_event_free(ev);
}

/* ---- decode: binary ----------------------------------------------------- */

static void test_decode_binary(void **state)
{
    (void)state;
    rd_kafka_headers_t *h = binary_headers();
    add_hdr(h, "content-type", "application/json; charset=utf-8");
    add_hdr(h, "ce_time", "2024-01-02T03:04:05Z");
    add_hdr(h, "ce_partitionkey", "github.com/acme/app");
    add_hdr(h, "traceparent", "00-abc-def-01"); /* not a CloudEvents header: ignored */
    const char *value = "{\"a\":1}";
    struct hb_event *ev = NULL;
    enum hb_ce_mode mode;
    char err[256];
    assert_int_equal(
        hb_kafka_decode(value, strlen(value), "other-key", 9, h, &ev, &mode, err, sizeof(err)), 0);
    assert_int_equal(mode, HB_CE_BINARY);
    assert_string_equal(hb_event_get(ev, "id"), "abc");
    assert_string_equal(hb_event_get(ev, "type"), "dev.hookbus.git.tag");
    /* content-type <-> datacontenttype, parameters kept. */
    assert_string_equal(hb_event_get(ev, "datacontenttype"), "application/json; charset=utf-8");
    assert_int_equal(hb_event_find(ev, "time")->type, HB_ATTR_TIMESTAMP);
    /* The key does not modify the event: partitionkey comes from its header. */
    assert_string_equal(hb_event_get(ev, "partitionkey"), "github.com/acme/app");
    assert_null(hb_event_get(ev, "traceparent"));
    assert_int_equal(ev->nattrs, 7);
    assert_int_equal(ev->data_len, strlen(value));
    assert_memory_equal(ev->data, value, strlen(value));
    hb_event_free(ev);

    /* No value: no data. */
    assert_int_equal(hb_kafka_decode(NULL, 0, NULL, 0, h, &ev, &mode, err, sizeof(err)), 0);
    assert_null(ev->data);
    hb_event_free(ev);
    rd_kafka_headers_destroy(h);
}

static void test_decode_binary_uppercase(void **state)
{
    (void)state;
    rd_kafka_headers_t *h = rd_kafka_headers_new(8);
    add_hdr(h, "CE_SPECVERSION", "1.0");
    add_hdr(h, "Ce_Id", "abc");
    add_hdr(h, "CE_SOURCE", "/s");
    add_hdr(h, "ce_Type", "t");
    add_hdr(h, "CE_MYEXT", "Value Kept");
    add_hdr(h, "Content-Type", "text/plain");
    struct hb_event *ev = NULL;
    enum hb_ce_mode mode;
    char err[256];
    assert_int_equal(hb_kafka_decode("x", 1, NULL, 0, h, &ev, &mode, err, sizeof(err)), 0);
    assert_int_equal(mode, HB_CE_BINARY);
    assert_string_equal(hb_event_get(ev, "specversion"), "1.0");
    assert_string_equal(hb_event_get(ev, "id"), "abc");
    assert_string_equal(hb_event_get(ev, "myext"), "Value Kept"); /* values keep their case */
    assert_string_equal(hb_event_get(ev, "datacontenttype"), "text/plain");
    assert_int_equal(ev->nattrs, 6);
    hb_event_free(ev);
    rd_kafka_headers_destroy(h);
}

static void test_decode_binary_errors(void **state)
{
    (void)state;
    rd_kafka_headers_t *h;

    /* A NUL byte inside a header value. */
    h = binary_headers();
    assert_int_equal(rd_kafka_header_add(h, "ce_subject", -1, "a\0b", 3),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    decode_fails("x", 1, h, "ce_subject");
    rd_kafka_headers_destroy(h);

    /* A NUL byte in content-type. */
    h = binary_headers();
    assert_int_equal(rd_kafka_header_add(h, "content-type", -1, "text/plain\0x", 12),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    decode_fails("x", 1, h, NULL);
    rd_kafka_headers_destroy(h);

    /* Invalid attribute names after the prefix. */
    static const char *const bad_names[] = {"ce_", "ce_my-ext", "ce_my_ext", "ce_a.b",
                                            "ce_\xc3\xa9"};
    for (size_t i = 0; i < COUNT(bad_names); i++) {
        h = binary_headers();
        add_hdr(h, bad_names[i], "v");
        decode_fails("x", 1, h, "header");
        rd_kafka_headers_destroy(h);
    }
    /* A name longer than 64 characters. */
    char longname[100] = "ce_";
    memset(longname + 3, 'a', 65);
    longname[68] = '\0';
    h = binary_headers();
    add_hdr(h, longname, "v");
    decode_fails("x", 1, h, NULL);
    rd_kafka_headers_destroy(h);

    /* A value over the attribute limit. */
    char *big = malloc(HB_EVENT_MAX_ATTR_VALUE + 2);
    assert_non_null(big);
    memset(big, 'v', HB_EVENT_MAX_ATTR_VALUE + 1);
    big[HB_EVENT_MAX_ATTR_VALUE + 1] = '\0';
    h = binary_headers();
    add_hdr(h, "ce_big", big);
    decode_fails("x", 1, h, "ce_big");
    rd_kafka_headers_destroy(h);
    free(big);

    /* Too many attributes. */
    h = binary_headers();
    for (int i = 0; i < HB_EVENT_MAX_ATTRS; i++) {
        char name[16];
        snprintf(name, sizeof(name), "ce_x%d", i);
        add_hdr(h, name, "v");
    }
    decode_fails("x", 1, h, NULL);
    rd_kafka_headers_destroy(h);

    /* Validation errors are surfaced. */
    h = binary_headers();
    add_hdr(h, "ce_time", "not-a-time");
    decode_fails("x", 1, h, "time");
    rd_kafka_headers_destroy(h);

    h = rd_kafka_headers_new(4);
    add_hdr(h, "ce_specversion", "0.3");
    add_hdr(h, "ce_id", "a");
    add_hdr(h, "ce_source", "/s");
    add_hdr(h, "ce_type", "t");
    decode_fails("x", 1, h, "specversion");
    rd_kafka_headers_destroy(h);

    h = rd_kafka_headers_new(4);
    add_hdr(h, "ce_specversion", "1.0");
    add_hdr(h, "ce_source", "/s");
    add_hdr(h, "ce_type", "t");
    decode_fails("x", 1, h, "id");
    rd_kafka_headers_destroy(h);

    /* A header without a value is an empty attribute: an empty subject. */
    h = binary_headers();
    add_hdr(h, "ce_subject", NULL);
    decode_fails("x", 1, h, "subject");
    rd_kafka_headers_destroy(h);
}

static void test_decode_duplicate_headers(void **state)
{
    (void)state;
    /* Kafka headers may repeat: the last one wins, as for the mode. */
    rd_kafka_headers_t *h = binary_headers();
    add_hdr(h, "ce_id", "second");
    struct hb_event *ev = NULL;
    enum hb_ce_mode mode;
    char err[256];
    assert_int_equal(hb_kafka_decode(NULL, 0, NULL, 0, h, &ev, &mode, err, sizeof(err)), 0);
    assert_string_equal(hb_event_get(ev, "id"), "second");
    assert_int_equal(ev->nattrs, 4);
    hb_event_free(ev);
    rd_kafka_headers_destroy(h);
}

/* ---- decode: mode detection --------------------------------------------- */

static void test_mode_detection(void **state)
{
    (void)state;
    const char *json = "{\"specversion\":\"1.0\",\"id\":\"from-json\",\"source\":\"/s\","
                       "\"type\":\"t\",\"data\":{\"a\":1}}";
    struct hb_event *ev = NULL;
    enum hb_ce_mode mode;
    char err[256];

    /* Structured even though ce_ headers are present: the value wins. */
    static const char *const cts[] = {
        "application/cloudevents+json",
        "application/cloudevents+json; charset=UTF-8",
        "Application/CloudEvents+JSON",
        "APPLICATION/CLOUDEVENTS+JSON;charset=utf-8",
    };
    for (size_t i = 0; i < COUNT(cts); i++) {
        rd_kafka_headers_t *h = binary_headers();
        add_hdr(h, "content-type", cts[i]);
        if (hb_kafka_decode(json, strlen(json), NULL, 0, h, &ev, &mode, err, sizeof(err)) != 0)
            fail_msg("%s: %s", cts[i], err);
        assert_int_equal(mode, HB_CE_STRUCTURED);
        assert_string_equal(hb_event_get(ev, "id"), "from-json");
        assert_null(hb_event_get(ev, "datacontenttype"));
        assert_string_equal((const char *)ev->data, "{\"a\":1}");
        hb_event_free(ev);
        rd_kafka_headers_destroy(h);
    }

    /* content-type alone, structured. */
    rd_kafka_headers_t *h = rd_kafka_headers_new(1);
    add_hdr(h, "content-type", "application/cloudevents+json");
    assert_int_equal(hb_kafka_decode(json, strlen(json), NULL, 0, h, &ev, &mode, err, sizeof(err)),
                     0);
    assert_int_equal(mode, HB_CE_STRUCTURED);
    hb_event_free(ev);
    /* ...with a body that is not a valid event. */
    decode_fails("{\"id\":1}", 8, h, NULL);
    decode_fails("not json", 8, h, NULL);
    decode_fails(NULL, 0, h, NULL);
    rd_kafka_headers_destroy(h);

    /* ce_specversion with a non-CloudEvents content-type: binary. */
    h = binary_headers();
    add_hdr(h, "content-type", "application/json");
    assert_int_equal(hb_kafka_decode(json, strlen(json), NULL, 0, h, &ev, &mode, err, sizeof(err)),
                     0);
    assert_int_equal(mode, HB_CE_BINARY);
    assert_string_equal(hb_event_get(ev, "id"), "abc");
    assert_int_equal(ev->data_len, strlen(json));
    hb_event_free(ev);
    rd_kafka_headers_destroy(h);

    /* Neither: not a CloudEvent. */
    h = rd_kafka_headers_new(2);
    add_hdr(h, "content-type", "application/json");
    add_hdr(h, "ce_id", "abc");
    decode_fails(json, strlen(json), h, "not a CloudEvent");
    rd_kafka_headers_destroy(h);
    h = rd_kafka_headers_new(1);
    decode_fails(json, strlen(json), h, "not a CloudEvent");
    rd_kafka_headers_destroy(h);
    decode_fails(json, strlen(json), NULL, "not a CloudEvent");

    /* A CloudEvents media type we cannot read. */
    h = binary_headers();
    add_hdr(h, "content-type", "application/cloudevents-batch+json");
    decode_fails("[]", 2, h, "cloudevents-batch");
    rd_kafka_headers_destroy(h);
}

/* ---- round trips -------------------------------------------------------- */

static void test_round_trip_modes(void **state)
{
    (void)state;
    struct {
        const char *ct;
        const char *data;
        size_t len;
    } cases[] = {
        {"application/json", "{\"kind\":\"git\",\"n\":[1,2,{\"x\":null}]}", 0},
        {"application/json; charset=utf-8", "[\"caf\xc3\xa9\"]", 0},
        {"text/plain", "hello \"world\"\n", 0},
        {"application/octet-stream", "\x00\x01\xff\x00\x80", 5},
        {"application/json", "not json", 0},
        {NULL, NULL, 0},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        struct hb_event *ev = base_event();
        assert_int_equal(hb_event_set(ev, "subject", "github.com/acme/app:v1.2.3"), 0);
        assert_int_equal(hb_event_set(ev, "time", "2024-05-06T07:08:09.123Z"), 0);
        assert_int_equal(hb_event_set(ev, "partitionkey", "github.com/acme/app"), 0);
        assert_int_equal(hb_event_set(ev, "note", "spaces, \"quotes\" and caf\xc3\xa9"), 0);
        if (cases[i].ct)
            assert_int_equal(hb_event_set(ev, "datacontenttype", cases[i].ct), 0);
        if (cases[i].data) {
            size_t len = cases[i].len ? cases[i].len : strlen(cases[i].data);
            assert_int_equal(hb_event_set_data(ev, cases[i].data, len), 0);
        }
        char err[256];
        struct hb_kafka_msg m1, m2;

        /* event -> binary -> event */
        assert_int_equal(hb_kafka_encode(ev, HB_CE_BINARY, &m1, err, sizeof(err)), 0);
        struct hb_event *b = decode_msg(&m1, HB_CE_BINARY);
        assert_same_event(ev, b);

        /* -> structured -> event */
        assert_int_equal(hb_kafka_encode(b, HB_CE_STRUCTURED, &m2, err, sizeof(err)), 0);
        assert_int_equal(m2.key_len, m1.key_len);
        assert_memory_equal(m2.key, m1.key, m1.key_len);
        struct hb_event *s = decode_msg(&m2, HB_CE_STRUCTURED);
        assert_same_event(b, s);
        for (size_t k = 0; k < s->nattrs; k++)
            assert_int_equal(s->attrs[k].type, hb_event_find(b, s->attrs[k].name)->type);

        /* -> binary again: same headers and value as the first time. */
        struct hb_kafka_msg m3;
        assert_int_equal(hb_kafka_encode(s, HB_CE_BINARY, &m3, err, sizeof(err)), 0);
        assert_int_equal(m3.value_len, m1.value_len);
        if (m1.value_len)
            assert_memory_equal(m3.value, m1.value, m1.value_len);
        assert_int_equal(rd_kafka_header_cnt(m3.headers), rd_kafka_header_cnt(m1.headers));
        hb_kafka_msg_clear(&m3);

        hb_event_free(s);
        hb_event_free(b);
        hb_kafka_msg_clear(&m1);
        hb_kafka_msg_clear(&m2);
        hb_event_free(ev);
    }
}

static void test_round_trip_avro(void **state)
{
    (void)state;
    struct hb_event *ev = full_event();
    assert_int_equal(hb_event_set_typed(ev, "count", "7", HB_ATTR_INTEGER), 0);
    assert_int_equal(hb_event_set_typed(ev, "forced", "true", HB_ATTR_BOOLEAN), 0);
    struct hb_kafka_msg m;
    char err[256];
    if (hb_kafka_encode(ev, HB_CE_AVRO, &m, err, sizeof(err)) != 0)
        fail_msg("avro encode: %s", err);
    assert_string_equal(hdr(m.headers, "content-type"), HB_CT_CE_AVRO);
    assert_non_null(m.key);
    assert_memory_equal(m.key, "github.com/acme/app", m.key_len);
    struct hb_event *back = decode_msg(&m, HB_CE_AVRO);
    assert_same_event(ev, back);
    assert_int_equal(hb_event_find(back, "count")->type, HB_ATTR_INTEGER);
    assert_int_equal(hb_event_find(back, "forced")->type, HB_ATTR_BOOLEAN);
    hb_event_free(back);
    hb_kafka_msg_clear(&m);
    hb_event_free(ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mode_names),
        cmocka_unit_test(test_encode_binary),
        cmocka_unit_test(test_encode_binary_no_data_no_key),
        cmocka_unit_test(test_encode_structured),
        cmocka_unit_test(test_encode_invalid),
        cmocka_unit_test(test_decode_binary),
        cmocka_unit_test(test_decode_binary_uppercase),
        cmocka_unit_test(test_decode_binary_errors),
        cmocka_unit_test(test_decode_duplicate_headers),
        cmocka_unit_test(test_mode_detection),
        cmocka_unit_test(test_round_trip_modes),
        cmocka_unit_test(test_round_trip_avro),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
