/* test_format.c: unit tests for hookbus/format.h (lib/json_format.c), the
 * CloudEvents JSON event format: encode/decode round trips that keep every
 * attribute with its type, the "data" / "data_base64" mapping driven by
 * datacontenttype, and the decoder's errors (malformed JSON, wrong member
 * types, both data members, validation failures). */
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

/* Decodes text (expecting success); caller frees. */
static struct hb_event *decode_ok(const char *text)
{
    char err[256] = "";
    struct hb_event *ev = NULL;
    if (hb_event_from_json(text, strlen(text), &ev, err, sizeof(err)) != 0)
        fail_msg("decode failed: %s\ninput: %s", err, text);
    assert_non_null(ev);
    return ev;
}

/* Decodes text expecting an error whose message contains want (if not NULL). */
static void decode_fails(const char *text, size_t len, const char *want)
{
    char err[256] = "";
    struct hb_event *ev = NULL;
    int rc = hb_event_from_json(text, len, &ev, err, sizeof(err));
    if (rc == 0)
        fail_msg("decode should fail (%s): %.*s", want ? want : "", (int)len, text);
    assert_int_equal(rc, -1);
    assert_true(err[0] != '\0');
    if (want && !strstr(err, want))
        fail_msg("error '%s' does not mention '%s' (input %.*s)", err, want, (int)len, text);
}

/* Encodes ev and parses the result back with cJSON; caller deletes. */
static cJSON *encode_parse(const struct hb_event *ev)
{
    char *json = hb_event_to_json(ev);
    assert_non_null(json);
    cJSON *obj = cJSON_Parse(json);
    if (!obj)
        fail_msg("encoder produced invalid JSON: %s", json);
    free(json);
    return obj;
}

/* Encodes and decodes; caller frees. */
static struct hb_event *round_trip(const struct hb_event *ev)
{
    char *json = hb_event_to_json(ev);
    assert_non_null(json);
    struct hb_event *back = decode_ok(json);
    free(json);
    return back;
}

static void assert_same_attrs(const struct hb_event *a, const struct hb_event *b)
{
    assert_int_equal(a->nattrs, b->nattrs);
    for (size_t i = 0; i < a->nattrs; i++) {
        const struct hb_attr *x = &a->attrs[i];
        const struct hb_attr *y = hb_event_find(b, x->name);
        if (!y)
            fail_msg("attribute %s lost", x->name);
        assert_string_equal(y->value, x->value);
        if (y->type != x->type)
            fail_msg("attribute %s: type %s became %s", x->name, hb_attr_type_name(x->type),
                     hb_attr_type_name(y->type));
    }
}

/* ---- encode ------------------------------------------------------------- */

static void test_encode_types(void **state)
{
    (void)state;
    struct hb_event *ev = base_event();
    assert_int_equal(hb_event_set_typed(ev, "count", "42", HB_ATTR_INTEGER), 0);
    assert_int_equal(hb_event_set_typed(ev, "neg", "-2147483648", HB_ATTR_INTEGER), 0);
    assert_int_equal(hb_event_set_typed(ev, "yes", "true", HB_ATTR_BOOLEAN), 0);
    assert_int_equal(hb_event_set_typed(ev, "no", "false", HB_ATTR_BOOLEAN), 0);
    assert_int_equal(hb_event_set(ev, "repo", "github.com/acme/app"), 0);
    assert_int_equal(hb_event_set(ev, "numeric", "42"), 0); /* a String that looks like a number */
    assert_int_equal(hb_event_set(ev, "time", "2024-05-06T07:08:09.123Z"), 0);

    cJSON *obj = encode_parse(ev);
    const cJSON *it;
    it = cJSON_GetObjectItemCaseSensitive(obj, "count");
    assert_true(cJSON_IsNumber(it));
    assert_int_equal(it->valueint, 42);
    it = cJSON_GetObjectItemCaseSensitive(obj, "neg");
    assert_true(cJSON_IsNumber(it));
    assert_true(it->valuedouble == -2147483648.0);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(obj, "yes")));
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(obj, "no")));
    it = cJSON_GetObjectItemCaseSensitive(obj, "numeric");
    assert_true(cJSON_IsString(it));
    assert_string_equal(it->valuestring, "42");
    it = cJSON_GetObjectItemCaseSensitive(obj, "specversion");
    assert_true(cJSON_IsString(it));
    assert_string_equal(it->valuestring, "1.0");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(obj, "time")->valuestring,
                        "2024-05-06T07:08:09.123Z");
    /* No data: neither member. */
    assert_null(cJSON_GetObjectItemCaseSensitive(obj, "data"));
    assert_null(cJSON_GetObjectItemCaseSensitive(obj, "data_base64"));
    /* Exactly one member per attribute. */
    assert_int_equal(cJSON_GetArraySize(obj), (int)ev->nattrs);
    cJSON_Delete(obj);
    hb_event_free(ev);
}

static void test_round_trip_attributes(void **state)
{
    (void)state;
    struct hb_event *ev = base_event();
    assert_int_equal(hb_event_set(ev, "subject", "github.com/acme/app@refs/heads/main"), 0);
    assert_int_equal(hb_event_set(ev, "time", "2024-05-06T07:08:09.123Z"), 0);
    assert_int_equal(hb_event_set(ev, "dataschema", "urn:hookbus:schema:dev.hookbus.git.push:1"),
                     0);
    assert_int_equal(hb_event_set(ev, "datacontenttype", "application/json"), 0);
    assert_int_equal(hb_event_set(ev, "provider", "github"), 0);
    assert_int_equal(hb_event_set(ev, "ref", "refs/heads/main"), 0);
    assert_int_equal(hb_event_set(ev, "partitionkey", "github.com/acme/app"), 0);
    assert_int_equal(hb_event_set(ev, "note", "caf\xc3\xa9 \"quoted\" \\ back"), 0);
    assert_int_equal(hb_event_set_typed(ev, "count", "2147483647", HB_ATTR_INTEGER), 0);
    assert_int_equal(hb_event_set_typed(ev, "small", "-5", HB_ATTR_INTEGER), 0);
    assert_int_equal(hb_event_set_typed(ev, "zero", "0", HB_ATTR_INTEGER), 0);
    assert_int_equal(hb_event_set_typed(ev, "deleted", "false", HB_ATTR_BOOLEAN), 0);
    assert_int_equal(hb_event_set_typed(ev, "forced", "true", HB_ATTR_BOOLEAN), 0);
    const char *data = "{\"ref\":\"refs/heads/main\",\"n\":[1,2,3]}";
    assert_int_equal(hb_event_set_data(ev, data, strlen(data)), 0);

    struct hb_event *back = round_trip(ev);
    assert_same_attrs(ev, back);
    assert_int_equal(hb_event_find(back, "time")->type, HB_ATTR_TIMESTAMP);
    assert_int_equal(hb_event_find(back, "source")->type, HB_ATTR_URI_REF);
    assert_int_equal(hb_event_find(back, "dataschema")->type, HB_ATTR_URI);
    assert_int_equal(back->data_len, ev->data_len);
    assert_memory_equal(back->data, ev->data, ev->data_len);

    /* And a second time: stable. */
    struct hb_event *again = round_trip(back);
    assert_same_attrs(back, again);
    assert_int_equal(again->data_len, back->data_len);
    assert_memory_equal(again->data, back->data, back->data_len);
    hb_event_free(again);
    hb_event_free(back);
    hb_event_free(ev);
}

static void test_json_data_embedded(void **state)
{
    (void)state;
    static const char *const cts[] = {NULL, "application/json", "application/json; charset=utf-8",
                                      "text/json",
                                      "application/vnd.docker.distribution.events.v1+json"};
    const char *data = "{\"a\": [1, 2, {\"b\": null}], \"s\": \"x\\u00e9\"}";
    for (size_t i = 0; i < COUNT(cts); i++) {
        struct hb_event *ev = base_event();
        if (cts[i])
            assert_int_equal(hb_event_set(ev, "datacontenttype", cts[i]), 0);
        assert_int_equal(hb_event_set_data(ev, data, strlen(data)), 0);
        cJSON *obj = encode_parse(ev);
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(obj, "data");
        if (!cJSON_IsObject(d))
            fail_msg("ct %s: data not embedded as an object", cts[i] ? cts[i] : "(none)");
        assert_null(cJSON_GetObjectItemCaseSensitive(obj, "data_base64"));
        cJSON *want = cJSON_Parse(data);
        assert_true(cJSON_Compare(d, want, true));
        cJSON_Delete(want);
        cJSON_Delete(obj);

        /* Decoded data is the same JSON value. */
        struct hb_event *back = round_trip(ev);
        assert_non_null(back->data);
        cJSON *got = cJSON_ParseWithLength((const char *)back->data, back->data_len);
        want = cJSON_Parse(data);
        assert_non_null(got);
        assert_true(cJSON_Compare(got, want, true));
        cJSON_Delete(got);
        cJSON_Delete(want);
        hb_event_free(back);
        hb_event_free(ev);
    }

    /* Scalars are JSON data too: a JSON string stays a JSON text. */
    struct hb_event *ev = base_event();
    assert_int_equal(hb_event_set(ev, "datacontenttype", "application/json"), 0);
    assert_int_equal(hb_event_set_data(ev, "\"hello\"", 7), 0);
    cJSON *obj = encode_parse(ev);
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(obj, "data");
    assert_true(cJSON_IsString(d));
    assert_string_equal(d->valuestring, "hello");
    cJSON_Delete(obj);
    struct hb_event *back = round_trip(ev);
    assert_int_equal(back->data_len, 7);
    assert_memory_equal(back->data, "\"hello\"", 7);
    hb_event_free(back);
    hb_event_free(ev);
}

/* JSON data is embedded as the sender wrote it: an integer beyond 2^53 and
 * the spacing survive encoding (a double round trip would change both). */
static void test_json_data_verbatim(void **state)
{
    (void)state;
    const char *data = "{\"id\": 9007199254740993, \"n\": 1.50}";
    struct hb_event *ev = base_event();
    assert_int_equal(hb_event_set(ev, "datacontenttype", "application/json"), 0);
    assert_int_equal(hb_event_set_data(ev, data, strlen(data)), 0);
    char *json = hb_event_to_json(ev);
    assert_non_null(json);
    if (!strstr(json, "\"data\":{\"id\": 9007199254740993, \"n\": 1.50}"))
        fail_msg("data not verbatim: %s", json);
    /* Decoding keeps the bytes too, whatever the member order, nesting and
     * strings holding brackets, quotes and escapes. */
    struct hb_event *back = round_trip(ev);
    assert_int_equal(back->data_len, strlen(data));
    assert_memory_equal(back->data, data, strlen(data));
    hb_event_free(back);
    const char *text =
        "{\"data\": 1, \"specversion\":\"1.0\",\"id\":\"x\",\"source\":\"/s\","
        "\"type\":\"t\", \"data\": {\"data\": 2}, \"data\" : [ \"]}\\\"\", {\"a\": 1e400} ]"
        " }";
    back = decode_ok(text);
    const char *want = "[ \"]}\\\"\", {\"a\": 1e400} ]";
    assert_int_equal(back->data_len, strlen(want));
    assert_memory_equal(back->data, want, strlen(want));
    hb_event_free(back);
    free(json);
    hb_event_free(ev);
}

static void test_non_json_data_base64(void **state)
{
    (void)state;
    struct {
        const char *ct;
        const char *data;
        size_t len;
    } cases[] = {
        {"text/plain", "hello", 5},
        {"application/octet-stream", "\x00\x01\xff\xfe\x00", 5},
        {"application/xml", "<a>1</a>", 8},
        /* Declared JSON but not JSON: must survive as bytes, not be dropped. */
        {"application/json", "not json {", 10},
        /* JSON followed by garbage is not JSON: keeping only the prefix would
         * lose bytes. */
        {"application/json", "{\"a\":1} trailing", 16},
        {"application/json", "{\"a\":1}\x00zz", 10},
        {NULL, "\xff\xfe", 2},
        {"text/plain", "", 0},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        struct hb_event *ev = base_event();
        if (cases[i].ct)
            assert_int_equal(hb_event_set(ev, "datacontenttype", cases[i].ct), 0);
        assert_int_equal(hb_event_set_data(ev, cases[i].data, cases[i].len), 0);
        cJSON *obj = encode_parse(ev);
        if (cJSON_GetObjectItemCaseSensitive(obj, "data"))
            fail_msg("case %zu: non-JSON data put in \"data\"", i);
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(obj, "data_base64");
        if (!cJSON_IsString(b))
            fail_msg("case %zu: no data_base64", i);
        cJSON_Delete(obj);

        struct hb_event *back = round_trip(ev);
        assert_non_null(back->data);
        if (back->data_len != cases[i].len || memcmp(back->data, cases[i].data, cases[i].len))
            fail_msg("case %zu: data changed in the round trip", i);
        hb_event_free(back);
        hb_event_free(ev);
    }

    /* The exact encoding of a known value. */
    struct hb_event *ev = base_event();
    assert_int_equal(hb_event_set(ev, "datacontenttype", "text/plain"), 0);
    assert_int_equal(hb_event_set_data(ev, "hello", 5), 0);
    cJSON *obj = encode_parse(ev);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(obj, "data_base64")->valuestring,
                        "aGVsbG8=");
    cJSON_Delete(obj);
    hb_event_free(ev);
}

/* ---- decode ------------------------------------------------------------- */

#define HEAD "\"specversion\":\"1.0\",\"id\":\"x\",\"source\":\"/s\",\"type\":\"t\""

static void test_decode_types(void **state)
{
    (void)state;
    struct hb_event *ev = decode_ok("{" HEAD ",\"count\":42,\"neg\":-7,\"big\":2147483647,"
                                    "\"min\":-2147483648,\"exp\":1e3,\"flag\":true,\"off\":false,"
                                    "\"s\":\"str\",\"time\":\"2024-01-02T03:04:05Z\"}");
    static const struct {
        const char *name, *value;
        enum hb_attr_type type;
    } want[] = {
        {"count", "42", HB_ATTR_INTEGER},
        {"neg", "-7", HB_ATTR_INTEGER},
        {"big", "2147483647", HB_ATTR_INTEGER},
        {"min", "-2147483648", HB_ATTR_INTEGER},
        {"exp", "1000", HB_ATTR_INTEGER},
        {"flag", "true", HB_ATTR_BOOLEAN},
        {"off", "false", HB_ATTR_BOOLEAN},
        {"s", "str", HB_ATTR_STRING},
        {"time", "2024-01-02T03:04:05Z", HB_ATTR_TIMESTAMP},
        {"source", "/s", HB_ATTR_URI_REF},
    };
    for (size_t i = 0; i < COUNT(want); i++) {
        const struct hb_attr *a = hb_event_find(ev, want[i].name);
        if (!a)
            fail_msg("%s missing", want[i].name);
        assert_string_equal(a->value, want[i].value);
        assert_int_equal(a->type, want[i].type);
    }
    assert_null(ev->data);
    hb_event_free(ev);
}

static void test_decode_null_is_absent(void **state)
{
    (void)state;
    struct hb_event *ev = decode_ok("{" HEAD
                                    ",\"subject\":null,\"ext\":null,\"data\":null,\"time\":null}");
    assert_null(hb_event_get(ev, "subject"));
    assert_null(hb_event_get(ev, "ext"));
    assert_null(hb_event_get(ev, "time"));
    assert_null(ev->data);
    assert_int_equal(ev->nattrs, 4);
    hb_event_free(ev);

    ev = decode_ok("{" HEAD ",\"data_base64\":null}");
    assert_null(ev->data);
    hb_event_free(ev);

    /* A null required attribute is a missing one. */
    const char *nullid = "{\"specversion\":\"1.0\",\"id\":null,\"source\":\"/s\",\"type\":\"t\"}";
    decode_fails(nullid, strlen(nullid), "id");
}

static void test_decode_data(void **state)
{
    (void)state;
    struct hb_event *ev;
    /* JSON data (no datacontenttype: JSON) kept as compact JSON text. */
    ev = decode_ok("{" HEAD ",\"data\":{\"a\":1}}");
    assert_int_equal(ev->data_len, 7);
    assert_memory_equal(ev->data, "{\"a\":1}", 7);
    hb_event_free(ev);

    ev = decode_ok("{" HEAD ",\"data\":[1,true,null]}");
    assert_string_equal((const char *)ev->data, "[1,true,null]");
    hb_event_free(ev);

    ev = decode_ok("{" HEAD ",\"data\":42}");
    assert_string_equal((const char *)ev->data, "42");
    hb_event_free(ev);

    /* A JSON string with a JSON content type stays a JSON text (quoted). */
    ev = decode_ok("{" HEAD ",\"datacontenttype\":\"application/json\",\"data\":\"hi\"}");
    assert_string_equal((const char *)ev->data, "\"hi\"");
    hb_event_free(ev);

    /* With a non-JSON content type, a string is the text itself. */
    ev = decode_ok("{" HEAD ",\"datacontenttype\":\"text/plain\",\"data\":\"hi \\\"there\\\"\"}");
    assert_string_equal((const char *)ev->data, "hi \"there\"");
    assert_int_equal(ev->data_len, 10);
    hb_event_free(ev);

    /* data_base64 decodes to bytes, including NULs. */
    ev = decode_ok("{" HEAD ",\"datacontenttype\":\"application/octet-stream\","
                   "\"data_base64\":\"AAH/AA==\"}");
    assert_int_equal(ev->data_len, 4);
    assert_memory_equal(ev->data, "\x00\x01\xff\x00", 4);
    hb_event_free(ev);

    /* Empty data_base64 is present but empty data. */
    ev = decode_ok("{" HEAD ",\"data_base64\":\"\"}");
    assert_non_null(ev->data);
    assert_int_equal(ev->data_len, 0);
    hb_event_free(ev);

    /* URL-safe alphabet and missing padding are accepted. */
    ev = decode_ok("{" HEAD ",\"data_base64\":\"-_8\"}");
    assert_int_equal(ev->data_len, 2);
    assert_memory_equal(ev->data, "\xfb\xff", 2);
    hb_event_free(ev);
}

static void test_decode_data_errors(void **state)
{
    (void)state;
    const char *both = "{" HEAD ",\"data\":{},\"data_base64\":\"AA==\"}";
    decode_fails(both, strlen(both), "data");
    const char *bad64 = "{" HEAD ",\"data_base64\":\"not base64!\"}";
    decode_fails(bad64, strlen(bad64), "data_base64");
    const char *num64 = "{" HEAD ",\"data_base64\":12}";
    decode_fails(num64, strlen(num64), "data_base64");
    const char *mid = "{" HEAD ",\"data_base64\":\"AA=A\"}";
    decode_fails(mid, strlen(mid), "data_base64");
}

static void test_decode_attr_errors(void **state)
{
    (void)state;
    static const struct {
        const char *json, *want;
    } cases[] = {
        {"{" HEAD ",\"n\":1.5}", "n"},
        {"{" HEAD ",\"n\":-0.25}", "n"},
        {"{" HEAD ",\"n\":2147483648}", "n"},
        {"{" HEAD ",\"n\":-2147483649}", "n"},
        {"{" HEAD ",\"n\":1e300}", "n"},
        {"{" HEAD ",\"n\":-1e300}", "n"},
        {"{" HEAD ",\"n\":9223372036854775808}", "n"},
        {"{" HEAD ",\"obj\":{\"a\":1}}", "obj"},
        {"{" HEAD ",\"arr\":[1]}", "arr"},
        {"{" HEAD ",\"Bad-Name\":\"x\"}", "Bad-Name"},
        {"{" HEAD ",\"\":\"x\"}", "attribute"},
        {"{" HEAD ",\"note\":\"a\\u0001b\"}", "note"},
        {"{" HEAD ",\"time\":\"yesterday\"}", "time"},
        {"{" HEAD ",\"time\":12}", "time"},
        {"{" HEAD ",\"subject\":\"\"}", "subject"},
        {"{" HEAD ",\"dataschema\":\"relative/path\"}", "dataschema"},
        {"{" HEAD ",\"datacontenttype\":\"json\"}", "datacontenttype"},
        {"{\"specversion\":\"0.3\",\"id\":\"x\",\"source\":\"/s\",\"type\":\"t\"}", "specversion"},
        {"{\"specversion\":1.0,\"id\":\"x\",\"source\":\"/s\",\"type\":\"t\"}", "specversion"},
        {"{\"specversion\":\"1.0\",\"source\":\"/s\",\"type\":\"t\"}", "id"},
        {"{\"specversion\":\"1.0\",\"id\":\"x\",\"type\":\"t\"}", "source"},
        {"{\"specversion\":\"1.0\",\"id\":\"x\",\"source\":\"/s\"}", "type"},
        {"{\"specversion\":\"1.0\",\"id\":\"\",\"source\":\"/s\",\"type\":\"t\"}", "id"},
        {"{}", "specversion"},
    };
    for (size_t i = 0; i < COUNT(cases); i++)
        decode_fails(cases[i].json, strlen(cases[i].json), cases[i].want);
}

static void test_decode_malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        " ",
        "{",
        "not json",
        "{\"specversion\":\"1.0\",}",
        "{" HEAD "} trailing",
        "{" HEAD "}{}",
        "{" HEAD ",\"x\":\"\\ud800\"}",
    };
    for (size_t i = 0; i < COUNT(bad); i++)
        decode_fails(bad[i], strlen(bad[i]), NULL);
    /* Not an object. */
    static const char *const notobj[] = {"[]", "\"str\"", "42", "null", "true", "[{" HEAD "}]"};
    for (size_t i = 0; i < COUNT(notobj); i++)
        decode_fails(notobj[i], strlen(notobj[i]), "object");
    /* The length is honoured: a valid prefix with the rest cut off fails. */
    const char *full = "{" HEAD "}";
    decode_fails(full, strlen(full) - 1, NULL);
    /* ...and bytes past len are not read (here: a valid event followed by
     * junk outside the given length). */
    char buf[256];
    snprintf(buf, sizeof(buf), "%sJUNK", full);
    struct hb_event *ev = NULL;
    char err[128];
    assert_int_equal(hb_event_from_json(buf, strlen(full), &ev, err, sizeof(err)), 0);
    hb_event_free(ev);
    /* Trailing whitespace is fine. */
    snprintf(buf, sizeof(buf), " %s \r\n\t", full);
    ev = decode_ok(buf);
    hb_event_free(ev);
}

static void test_decode_limits(void **state)
{
    (void)state;
    /* Too many attributes. */
    char *buf = malloc(8192);
    assert_non_null(buf);
    size_t o = (size_t)snprintf(buf, 8192, "{" HEAD);
    for (int i = 0; i < HB_EVENT_MAX_ATTRS; i++)
        o += (size_t)snprintf(buf + o, 8192 - o, ",\"x%d\":\"v\"", i);
    snprintf(buf + o, 8192 - o, "}");
    decode_fails(buf, strlen(buf), NULL);
    free(buf);

    /* A value over the limit. */
    size_t n = HB_EVENT_MAX_ATTR_VALUE + 1;
    buf = malloc(n + 256);
    assert_non_null(buf);
    o = (size_t)snprintf(buf, n + 256, "{" HEAD ",\"big\":\"");
    memset(buf + o, 'a', n);
    o += n;
    snprintf(buf + o, n + 256 - o, "\"}");
    decode_fails(buf, strlen(buf), "big");
    free(buf);
}

static void test_from_cjson(void **state)
{
    (void)state;
    char err[256];
    struct hb_event *ev = NULL;
    cJSON *arr = cJSON_CreateArray();
    assert_int_equal(hb_event_from_cjson(arr, &ev, err, sizeof(err)), -1);
    assert_null(ev);
    cJSON_Delete(arr);

    cJSON *obj = cJSON_Parse("{" HEAD ",\"count\":3}");
    assert_int_equal(hb_event_from_cjson(obj, &ev, err, sizeof(err)), 0);
    assert_string_equal(hb_event_get(ev, "count"), "3");
    assert_int_equal(hb_event_find(ev, "count")->type, HB_ATTR_INTEGER);
    hb_event_free(ev);
    cJSON_Delete(obj);
}

static void test_unicode(void **state)
{
    (void)state;
    struct hb_event *ev = decode_ok(
        "{" HEAD ",\"note\":\"caf\\u00e9 \\ud83d\\ude00\",\"raw\":\"\xe2\x82\xac\"}");
    assert_string_equal(hb_event_get(ev, "note"), "caf\xc3\xa9 \xf0\x9f\x98\x80");
    assert_string_equal(hb_event_get(ev, "raw"), "\xe2\x82\xac");
    struct hb_event *back = round_trip(ev);
    assert_same_attrs(ev, back);
    hb_event_free(back);
    hb_event_free(ev);
    /* Invalid UTF-8 inside a JSON string fails validation. */
    const char *bad = "{" HEAD ",\"note\":\"\xc3(\"}";
    decode_fails(bad, strlen(bad), NULL);
}

/* JSON lines (hookbus-tail --output json, hookbus-exec's stdin): pretty JSON
 * data keeps its value but not its line breaks (issue 17: a structured event
 * printed over several lines broke line-oriented readers). */
static void test_json_line(void **state)
{
    (void)state;
    struct hb_event *ev = base_event();
    static const char data[] = "{\n  \"ref\": \"refs/heads/main\",\r\n  \"n\": [1,\n2]\n}";
    assert_int_equal(hb_event_set(ev, "datacontenttype", "application/json"), 0);
    assert_int_equal(hb_event_set_data(ev, data, sizeof(data) - 1), 0);
    char *line = hb_event_to_json_line(ev);
    assert_non_null(line);
    assert_null(strchr(line, '\n'));
    assert_null(strchr(line, '\r'));
    struct hb_event *back = decode_ok(line);
    cJSON *got = cJSON_ParseWithLength((const char *)back->data, back->data_len);
    cJSON *want = cJSON_Parse(data);
    assert_non_null(got);
    assert_true(cJSON_Compare(got, want, true));
    cJSON_Delete(got);
    cJSON_Delete(want);
    hb_event_free(back);
    free(line);
    hb_event_free(ev);
}

/* A raw tab or line break inside a JSON string is not JSON (RFC 8259: control
 * characters in strings are escaped), though cJSON takes it; between tokens
 * it is whitespace. */
static void test_raw_line_break_in_string_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {"{\"a\": \"x\ny\"}", "{\"a\": \"x\ty\"}", "[\"\\\"\r\"]"};
    for (size_t i = 0; i < COUNT(bad); i++)
        assert_null(hb_json_parse(bad[i], strlen(bad[i])));
    static const char ok[] = "{\n\t\"a\\\"\": \"x\\ny\"\r\n}";
    cJSON *j = hb_json_parse(ok, sizeof(ok) - 1);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "a\"")->valuestring, "x\ny");
    cJSON_Delete(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_types),
        cmocka_unit_test(test_round_trip_attributes),
        cmocka_unit_test(test_json_data_embedded),
        cmocka_unit_test(test_json_data_verbatim),
        cmocka_unit_test(test_non_json_data_base64),
        cmocka_unit_test(test_decode_types),
        cmocka_unit_test(test_decode_null_is_absent),
        cmocka_unit_test(test_decode_data),
        cmocka_unit_test(test_decode_data_errors),
        cmocka_unit_test(test_decode_attr_errors),
        cmocka_unit_test(test_decode_malformed),
        cmocka_unit_test(test_decode_limits),
        cmocka_unit_test(test_from_cjson),
        cmocka_unit_test(test_unicode),
        cmocka_unit_test(test_json_line),
        cmocka_unit_test(test_raw_line_break_in_string_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
