/* test_avro_format.c: unit tests of the CloudEvents Avro event format
 * (lib/avro_format.c): round trips of attributes and data, the JSON data
 * mapping, interoperability with Python's avro module and with the schema file,
 * and robustness against truncated, garbage and hostile inputs. Fixtures are
 * found under $HB_SOURCE_DIR (default "."). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <cjson/cJSON.h>

#include <avro.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hookbus/event.h"
#include "hookbus/format.h"
#include "hookbus/kafka.h"
#include "hookbus/util.h"
#include "helpers.h"

/* ---- helpers ------------------------------------------------------------ */

/* A minimal valid event; caller frees. */
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

/* Encodes and decodes ev; returns the decoded event (caller frees). */
static struct hb_event *round_trip(const struct hb_event *ev)
{
    char err[256] = "";
    void *buf = NULL;
    size_t len = 0;
    struct hb_event *back = NULL;
    int rc = hb_avro_encode(ev, &buf, &len, err, sizeof(err));
    if (rc != 0)
        fail_msg("encode: %s", err);
    rc = hb_avro_decode(buf, len, &back, err, sizeof(err));
    free(buf);
    if (rc != 0)
        fail_msg("decode: %s", err);
    return back;
}

/* Asserts that two events have the same attributes (order, value, type). */
static void assert_same_attrs(const struct hb_event *a, const struct hb_event *b)
{
    assert_int_equal(a->nattrs, b->nattrs);
    for (size_t i = 0; i < a->nattrs; i++) {
        assert_string_equal(a->attrs[i].name, b->attrs[i].name);
        assert_string_equal(a->attrs[i].value, b->attrs[i].value);
        assert_int_equal(a->attrs[i].type, b->attrs[i].type);
    }
}

/* Round trips JSON text as application/json data and returns the decoded data
 * as a string (caller frees). */
static char *json_round_trip(const char *json)
{
    struct hb_event *ev = base_event();
    assert_int_equal(hb_event_set(ev, "datacontenttype", "application/json"), 0);
    assert_int_equal(hb_event_set_data(ev, json, strlen(json)), 0);
    struct hb_event *back = round_trip(ev);
    assert_non_null(back->data);
    char *s = hb_strndup((const char *)back->data, back->data_len);
    assert_non_null(s);
    assert_int_equal(strlen(s), back->data_len);
    hb_event_free(ev);
    hb_event_free(back);
    return s;
}

/* Appends the Avro zig-zag varint of v at p; returns the bytes written. */
static size_t put_long(unsigned char *p, int64_t v)
{
    uint64_t u = v < 0 ? ~((uint64_t)v << 1) : (uint64_t)v << 1;
    size_t n = 0;
    while (u >= 0x80) {
        p[n++] = (unsigned char)((u & 0x7f) | 0x80);
        u >>= 7;
    }
    p[n++] = (unsigned char)u;
    return n;
}

/* Appends an Avro string. */
static size_t put_str(unsigned char *p, const char *s)
{
    size_t n = put_long(p, (int64_t)strlen(s));
    memcpy(p + n, s, strlen(s));
    return n + strlen(s);
}

/* Writes the attribute map of base_event() (4 string attributes). */
static size_t put_base_attrs(unsigned char *p)
{
    static const char *const kv[] = {"specversion", "1.0", "id", "x", "source", "/s", "type", "t"};
    size_t n = put_long(p, 4);
    for (size_t i = 0; i < 8; i += 2) {
        n += put_str(p + n, kv[i]);
        n += put_long(p + n, 3); /* string branch */
        n += put_str(p + n, kv[i + 1]);
    }
    n += put_long(p + n, 0);
    return n;
}

static int decode_rc(const void *buf, size_t len, char *err, size_t errlen)
{
    struct hb_event *ev = NULL;
    int rc = hb_avro_decode(buf, len, &ev, err, errlen);
    if (rc == 0) {
        char verr[256];
        assert_int_equal(hb_event_validate(ev, verr, sizeof(verr)), 0);
    } else {
        assert_null(ev);
        assert_true(err[0] != '\0');
    }
    hb_event_free(ev);
    return rc;
}

/* A rich event used by the robustness tests; caller frees. */
static struct hb_event *rich_event(void)
{
    static const char data[] =
        "{\"provider\":\"github\",\"kind\":\"git\",\"repository\":{\"id\":\"github.com/a/b\","
        "\"urls\":[\"https://github.com/a/b.git\"]},\"deleted\":false,\"n\":[1,2.5,null,"
        "{\"$value\":[]}],\"o\":{\"p\":{\"q\":\"r\"}}}";
    struct hb_event *ev = base_event();
    assert_int_equal(hb_event_set(ev, "time", "2024-01-02T03:04:05.678Z"), 0);
    assert_int_equal(hb_event_set(ev, "datacontenttype", "application/json"), 0);
    assert_int_equal(hb_event_set_typed(ev, "count", "-17", HB_ATTR_INTEGER), 0);
    assert_int_equal(hb_event_set_typed(ev, "flag", "true", HB_ATTR_BOOLEAN), 0);
    assert_int_equal(hb_event_set_typed(ev, "blob", "AAEC/w==", HB_ATTR_BINARY), 0);
    assert_int_equal(hb_event_set_data(ev, data, strlen(data)), 0);
    return ev;
}

/* ---- round trips ---------------------------------------------------------- */

static void test_attribute_types(void **state)
{
    (void)state;
    struct hb_event *ev = base_event();
    assert_int_equal(hb_event_set(ev, "subject", "github.com/acme/app@refs/heads/main"), 0);
    assert_int_equal(hb_event_set(ev, "time", "2024-01-02T03:04:05.678Z"), 0);
    assert_int_equal(hb_event_set(ev, "dataschema", "urn:hookbus:schema:dev.hookbus.git.push:1"),
                     0);
    assert_int_equal(hb_event_set(ev, "provider", "github"), 0);
    assert_int_equal(hb_event_set(ev, "partitionkey", "github.com/acme/app"), 0);
    assert_int_equal(hb_event_set(ev, "unicode", "Zoë ☃ 𝄞"), 0);
    assert_int_equal(hb_event_set(ev, "empty", ""), 0);
    assert_int_equal(hb_event_set_typed(ev, "int0", "0", HB_ATTR_INTEGER), 0);
    assert_int_equal(hb_event_set_typed(ev, "intmin", "-2147483648", HB_ATTR_INTEGER), 0);
    assert_int_equal(hb_event_set_typed(ev, "intmax", "2147483647", HB_ATTR_INTEGER), 0);
    assert_int_equal(hb_event_set_typed(ev, "yes", "true", HB_ATTR_BOOLEAN), 0);
    assert_int_equal(hb_event_set_typed(ev, "no", "false", HB_ATTR_BOOLEAN), 0);
    assert_int_equal(hb_event_set_typed(ev, "bin", "AAECA/7/", HB_ATTR_BINARY), 0);
    assert_int_equal(hb_event_set_typed(ev, "binempty", "", HB_ATTR_BINARY), 0);
    assert_int_equal(hb_event_set_typed(ev, "uri", "https://example.com/x", HB_ATTR_URI), 0);
    struct hb_event *back = round_trip(ev);
    /* URI and URI-reference extensions travel as Avro strings: they come back
     * as String, the type an extension without a declared type has. */
    assert_int_equal(hb_event_set_typed(ev, "uri", "https://example.com/x", HB_ATTR_STRING), 0);
    assert_same_attrs(ev, back);
    assert_int_equal(hb_event_find(back, "time")->type, HB_ATTR_TIMESTAMP);
    assert_int_equal(hb_event_find(back, "source")->type, HB_ATTR_URI_REF);
    assert_int_equal(hb_event_find(back, "dataschema")->type, HB_ATTR_URI);
    assert_null(back->data);
    hb_event_free(ev);
    hb_event_free(back);
}

static void test_max_attributes(void **state)
{
    (void)state;
    struct hb_event *ev = base_event();
    char name[16];
    for (size_t i = ev->nattrs; i < HB_EVENT_MAX_ATTRS; i++) {
        snprintf(name, sizeof(name), "ext%zu", i);
        assert_int_equal(hb_event_set(ev, name, "v"), 0);
    }
    struct hb_event *back = round_trip(ev);
    assert_same_attrs(ev, back);
    hb_event_free(ev);
    hb_event_free(back);
}

static void test_json_data_exact(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "{}",
        "[]",
        "{\"a\":1}",
        "[1,2,3]",
        "42",
        "-1.5",
        "0",
        "1e+300",
        "\"text\"",
        "\"\"",
        "true",
        "false",
        "[null]",
        "{\"a\":null,\"b\":true,\"c\":false,\"d\":\"x\",\"e\":0.25}",
        "{\"a\":[1,\"two\",false,null,{\"b\":[]}]}",
        "[[[[[]]]]]",
        "[{},{\"a\":{}},[{}]]",
        "{\"a\":{\"b\":{\"c\":{\"d\":[1,{\"e\":\"f\"}]}}}}",
        "{\"$value\":1}",
        "{\"$value\":{\"$value\":[]}}",
        "{\"o\":{\"$value\":\"boxed?\"},\"p\":[{\"$value\":null}]}",
        "{\"\":\"\",\"value\":{\"value\":{\"value\":1}}}",
        "{\"s\":\"quote \\\" backslash \\\\ tab \\t nl \\n ctl \\u0001\",\"u\":\"Zoë ☃ 𝄞\"}",
        "{\"provider\":\"github\",\"receiver\":\"acme-github\",\"kind\":\"git\",\"repository\":"
        "{\"id\":\"github.com/acme/app\",\"urls\":[\"https://github.com/acme/app.git\","
        "\"git@github.com:acme/app.git\"]},\"ref\":\"refs/heads/main\",\"branch\":\"main\","
        "\"commit\":\"9f2c1e0b\",\"deleted\":false,\"changed_paths\":[\"a.c\",\"b/c.h\"],"
        "\"changed_paths_truncated\":false}",
    };
    for (size_t i = 0; i < HB_ARRAY_LEN(cases); i++) {
        char *back = json_round_trip(cases[i]);
        assert_string_equal(back, cases[i]);
        free(back);
    }
}

static void test_json_data_normalized(void **state)
{
    (void)state;
    /* Not compact: the value survives, the spelling becomes cJSON's compact one. */
    char *back = json_round_trip(" { \"a\" : [ 1.0 , 2 ] ,\n \"b\" : { } } \n");
    assert_string_equal(back, "{\"a\":[1,2],\"b\":{}}");
    free(back);
}

static void test_json_null_data(void **state)
{
    (void)state;
    /* JSON null travels in the null branch, which also means "no data". */
    struct hb_event *ev = base_event();
    assert_int_equal(hb_event_set_data(ev, "null", 4), 0);
    struct hb_event *back = round_trip(ev);
    assert_null(back->data);
    hb_event_free(ev);
    hb_event_free(back);
}

static void test_json_content_types(void **state)
{
    (void)state;
    /* No datacontenttype and +json types count as JSON: a string comes back
     * as JSON text (quoted), like the JSON event format does it. */
    static const char *const types[] = {NULL, "application/json; charset=utf-8",
                                        "application/vnd.hookbus+json", "text/json"};
    for (size_t i = 0; i < HB_ARRAY_LEN(types); i++) {
        struct hb_event *ev = base_event();
        if (types[i])
            assert_int_equal(hb_event_set(ev, "datacontenttype", types[i]), 0);
        assert_int_equal(hb_event_set_data(ev, "\"hi\"", 4), 0);
        struct hb_event *back = round_trip(ev);
        assert_int_equal(back->data_len, 4);
        assert_memory_equal(back->data, "\"hi\"", 4);
        hb_event_free(ev);
        hb_event_free(back);
    }
}

static void test_binary_data(void **state)
{
    (void)state;
    unsigned char bytes[300];
    for (size_t i = 0; i < sizeof(bytes); i++)
        bytes[i] = (unsigned char)(i * 7);
    struct hb_event *ev = base_event();
    assert_int_equal(hb_event_set(ev, "datacontenttype", "application/octet-stream"), 0);
    assert_int_equal(hb_event_set_data(ev, bytes, sizeof(bytes)), 0);
    struct hb_event *back = round_trip(ev);
    assert_same_attrs(ev, back);
    assert_int_equal(back->data_len, sizeof(bytes));
    assert_memory_equal(back->data, bytes, sizeof(bytes));
    hb_event_free(back);
    /* Empty data is data, not "no data". */
    assert_int_equal(hb_event_set_data(ev, "", 0), 0);
    back = round_trip(ev);
    assert_non_null(back->data);
    assert_int_equal(back->data_len, 0);
    hb_event_free(back);
    hb_event_free(ev);
}

static void test_non_json_text_and_bad_json(void **state)
{
    (void)state;
    static const struct {
        const char *ct, *data;
    } cases[] = {
        {"text/plain", "{\"looks\":\"like json\"}"},
        {"application/xml", "<a/>"},
        {"application/json", "{\"a\":1} trailing"},
        {"application/json", "{\"a\":"},
        {"application/json", "not json"},
        {"application/json", ""},
    };
    for (size_t i = 0; i < HB_ARRAY_LEN(cases); i++) {
        struct hb_event *ev = base_event();
        assert_int_equal(hb_event_set(ev, "datacontenttype", cases[i].ct), 0);
        assert_int_equal(hb_event_set_data(ev, cases[i].data, strlen(cases[i].data)), 0);
        struct hb_event *back = round_trip(ev);
        assert_int_equal(back->data_len, strlen(cases[i].data));
        assert_memory_equal(back->data, cases[i].data, back->data_len);
        hb_event_free(ev);
        hb_event_free(back);
    }
}

/* Nested arrays of the given depth: [[[...]]]. Caller frees. */
static char *nested_arrays(int depth)
{
    char *s = malloc((size_t)depth * 2 + 1);
    assert_non_null(s);
    for (int i = 0; i < depth; i++) {
        s[i] = '[';
        s[depth * 2 - 1 - i] = ']';
    }
    s[depth * 2] = '\0';
    return s;
}

static void test_depth_limit(void **state)
{
    (void)state;
    /* 64 nested containers are JSON in Avro; 65 fall back to bytes, which
     * still bring the same text back. Either way the data survives. */
    for (int depth = 63; depth <= 66; depth++) {
        char *json = nested_arrays(depth);
        char *back = json_round_trip(json);
        assert_string_equal(back, json);
        free(back);
        free(json);
    }
}

/* ---- interoperability ---------------------------------------------------- */

static void test_python_vector(void **state)
{
    (void)state;
    size_t blen, jlen;
    char err[256] = "";
    unsigned char *bin = (unsigned char *)hbt_read_source("tests/fixtures/avro/python-event.bin",
                                                          &blen);
    unsigned char *json = (unsigned char *)hbt_read_source("tests/fixtures/avro/python-event.json",
                                                           &jlen);
    struct hb_event *got = NULL, *want = NULL;
    if (hb_avro_decode(bin, blen, &got, err, sizeof(err)) != 0)
        fail_msg("decode python-event.bin: %s", err);
    if (hb_event_from_json((const char *)json, jlen, &want, err, sizeof(err)) != 0)
        fail_msg("parse python-event.json: %s", err);
    /* The JSON format cannot say that "sig" is Binary: it is a string there. */
    assert_int_equal(hb_event_set_typed(want, "sig", hb_event_get(want, "sig"), HB_ATTR_BINARY), 0);
    assert_same_attrs(want, got);
    assert_int_equal(hb_event_find(got, "sequence")->type, HB_ATTR_INTEGER);
    assert_int_equal(hb_event_find(got, "redelivered")->type, HB_ATTR_BOOLEAN);
    assert_null(hb_event_get(got, "nothing")); /* null attribute: absent */
    assert_non_null(got->data);
    /* The same JSON value (the .json file is indented, Avro holds no spacing). */
    cJSON *gj = cJSON_ParseWithLength((const char *)got->data, got->data_len);
    cJSON *wj = cJSON_ParseWithLength((const char *)want->data, want->data_len);
    assert_non_null(gj);
    assert_non_null(wj);
    assert_true(cJSON_Compare(gj, wj, true));
    cJSON_Delete(gj);
    cJSON_Delete(wj);

    /* And back: our encoding of the same event is Python's, byte for byte,
     * less the null attribute "nothing" hb_event cannot hold (its 9 bytes:
     * key length, "nothing", branch 0; one less entry in the block count). */
    void *out = NULL;
    size_t outlen = 0;
    static const char nothing[] = "\x0enothing\x00";
    unsigned char *p = memmem(bin, blen, nothing, 9);
    assert_non_null(p);
    assert_int_equal(bin[0], 2 * 18); /* zig-zag count of Python's 18 attributes */
    memmove(p, p + 9, blen - (size_t)(p + 9 - bin));
    bin[0] = 2 * 17;
    assert_int_equal(hb_avro_encode(got, &out, &outlen, err, sizeof(err)), 0);
    assert_int_equal(outlen, blen - 9);
    assert_memory_equal(out, bin, outlen);
    free(out);
    hb_event_free(got);
    hb_event_free(want);
    free(bin);
    free(json);
}

static void test_schema_file_compatible(void **state)
{
    (void)state;
    /* Our bytes read with schemas/cloudevent.avsc and written again are the
     * same bytes: the embedded schema and the file describe one encoding. */
    size_t slen;
    char err[256] = "";
    char *text = hbt_read_source("schemas/cloudevent.avsc", &slen);
    avro_schema_t schema = NULL;
    if (avro_schema_from_json_length(text, slen, &schema) != 0)
        fail_msg("schema: %s", avro_strerror());
    avro_value_iface_t *iface = avro_generic_class_from_schema(schema);
    assert_non_null(iface);
    struct hb_event *ev = rich_event();
    void *buf = NULL;
    size_t len = 0;
    assert_int_equal(hb_avro_encode(ev, &buf, &len, err, sizeof(err)), 0);
    avro_value_t val;
    assert_int_equal(avro_generic_value_new(iface, &val), 0);
    avro_reader_t rd = avro_reader_memory(buf, (int64_t)len);
    assert_int_equal(avro_value_read(rd, &val), 0);
    size_t size = 0;
    assert_int_equal(avro_value_sizeof(&val, &size), 0);
    assert_int_equal(size, len);
    char *again = malloc(size);
    assert_non_null(again);
    avro_writer_t w = avro_writer_memory(again, (int64_t)size);
    assert_int_equal(avro_value_write(w, &val), 0);
    assert_memory_equal(again, buf, len);

    /* A null attribute written with the file schema is skipped on decode. */
    avro_value_t attrs, u, br;
    assert_int_equal(avro_value_get_by_index(&val, 0, &attrs, NULL), 0);
    assert_int_equal(avro_value_add(&attrs, "gone", &u, NULL, NULL), 0);
    assert_int_equal(avro_value_set_branch(&u, 0, &br), 0);
    assert_int_equal(avro_value_set_null(&br), 0);
    assert_int_equal(avro_value_sizeof(&val, &size), 0);
    char *with_null = malloc(size);
    assert_non_null(with_null);
    avro_writer_t w2 = avro_writer_memory(with_null, (int64_t)size);
    assert_int_equal(avro_value_write(w2, &val), 0);
    struct hb_event *back = NULL;
    assert_int_equal(hb_avro_decode(with_null, size, &back, err, sizeof(err)), 0);
    assert_same_attrs(ev, back);

    hb_event_free(back);
    avro_writer_free(w2);
    free(with_null);
    avro_writer_free(w);
    free(again);
    avro_reader_free(rd);
    avro_value_decref(&val);
    avro_value_iface_decref(iface);
    avro_schema_decref(schema);
    hb_event_free(ev);
    free(buf);
    free(text);
}

/* ---- robustness ------------------------------------------------------------ */

static void test_truncated(void **state)
{
    (void)state;
    char err[256];
    struct hb_event *ev = rich_event();
    void *buf = NULL;
    size_t len = 0;
    assert_int_equal(hb_avro_encode(ev, &buf, &len, err, sizeof(err)), 0);
    assert_int_equal(decode_rc(buf, len, err, sizeof(err)), 0);
    for (size_t n = 0; n < len; n++) {
        /* a copy of exactly n bytes, so ASan sees any read past the end */
        unsigned char *cut = malloc(n ? n : 1);
        assert_non_null(cut);
        memcpy(cut, buf, n);
        err[0] = '\0';
        if (decode_rc(cut, n, err, sizeof(err)) != -1)
            fail_msg("prefix of %zu of %zu bytes decoded", n, len);
        free(cut);
    }
    hb_event_free(ev);
    free(buf);
}

static void test_trailing_garbage(void **state)
{
    (void)state;
    char err[256] = "";
    struct hb_event *ev = rich_event();
    void *buf = NULL;
    size_t len = 0;
    assert_int_equal(hb_avro_encode(ev, &buf, &len, err, sizeof(err)), 0);
    unsigned char *more = malloc(len + 1);
    assert_non_null(more);
    memcpy(more, buf, len);
    more[len] = 0;
    assert_int_equal(decode_rc(more, len + 1, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "trailing"));
    free(more);
    hb_event_free(ev);
    free(buf);
}

/* xorshift64*: deterministic pseudo-random bytes. */
static uint64_t rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

static void test_random_garbage(void **state)
{
    (void)state;
    char err[256];
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    unsigned char buf[512] = {0};
    for (int i = 0; i < 20000; i++) {
        size_t n = rnd(&seed) % sizeof(buf);
        for (size_t k = 0; k < n; k++)
            buf[k] = (unsigned char)rnd(&seed);
        unsigned char *copy = malloc(n ? n : 1);
        assert_non_null(copy);
        memcpy(copy, buf, n);
        err[0] = '\0';
        (void)decode_rc(copy, n, err, sizeof(err));
        free(copy);
    }
}

static void test_mutations(void **state)
{
    (void)state;
    /* Flip bytes of a valid encoding: whatever decodes must be a valid event. */
    char err[256];
    struct hb_event *ev = rich_event();
    void *buf = NULL;
    size_t len = 0;
    uint64_t seed = 42;
    int ok = 0;
    assert_int_equal(hb_avro_encode(ev, &buf, &len, err, sizeof(err)), 0);
    unsigned char *m = malloc(len);
    assert_non_null(m);
    for (int i = 0; i < 20000; i++) {
        memcpy(m, buf, len);
        int flips = 1 + (int)(rnd(&seed) % 4);
        for (int f = 0; f < flips; f++)
            m[rnd(&seed) % len] = (unsigned char)rnd(&seed);
        err[0] = '\0';
        if (decode_rc(m, len, err, sizeof(err)) == 0)
            ok++;
    }
    assert_true(ok > 0); /* string bytes can change without breaking anything */
    free(m);
    hb_event_free(ev);
    free(buf);
}

static void test_hostile_lengths(void **state)
{
    (void)state;
    char err[256];
    unsigned char b[64];
    size_t n;

    /* No input at all. */
    struct hb_event *ev = NULL;
    err[0] = '\0';
    assert_int_equal(hb_avro_decode(NULL, 0, &ev, err, sizeof(err)), -1);
    assert_null(ev);
    assert_true(err[0] != '\0');
    assert_int_equal(decode_rc("", 0, err, sizeof(err)), -1);

    /* A string length of 2^62 must not be allocated. */
    n = put_long(b, 1);
    n += put_long(b + n, INT64_C(1) << 62);
    assert_int_equal(decode_rc(b, n, err, sizeof(err)), -1);

    /* A map block count of 2^40 entries with nothing behind it. */
    n = put_long(b, INT64_C(1) << 40);
    assert_int_equal(decode_rc(b, n, err, sizeof(err)), -1);

    /* Negative block count (with block size) INT64_MIN. */
    n = put_long(b, INT64_MIN);
    n += put_long(b + n, 0);
    assert_int_equal(decode_rc(b, n, err, sizeof(err)), -1);

    /* An 11-byte varint. */
    memset(b, 0xff, 10);
    b[10] = 0;
    assert_int_equal(decode_rc(b, 11, err, sizeof(err)), -1);

    /* Union branch out of range in the data union, and negative. */
    n = put_base_attrs(b);
    n += put_long(b + n, 7);
    assert_int_equal(decode_rc(b, n, err, sizeof(err)), -1);
    n = put_base_attrs(b);
    n += put_long(b + n, -1);
    assert_int_equal(decode_rc(b, n, err, sizeof(err)), -1);

    /* A boolean byte other than 0 or 1. */
    n = put_base_attrs(b);
    n += put_long(b + n, 2);
    b[n++] = 2;
    assert_int_equal(decode_rc(b, n, err, sizeof(err)), -1);

    /* The same, valid: null data. */
    n = put_base_attrs(b);
    n += put_long(b + n, 1);
    assert_int_equal(decode_rc(b, n, err, sizeof(err)), 0);

    /* NUL inside a string, and invalid UTF-8. */
    n = put_base_attrs(b);
    n += put_long(b + n, 6);
    n += put_long(b + n, 3);
    memcpy(b + n, "a\0b", 3);
    assert_int_equal(decode_rc(b, n + 3, err, sizeof(err)), -1);
    memcpy(b + n, "a\xc0\x80", 3);
    assert_int_equal(decode_rc(b, n + 3, err, sizeof(err)), -1);
    memcpy(b + n, "abc", 3);
    assert_int_equal(decode_rc(b, n + 3, err, sizeof(err)), 0);

    /* An int attribute over 32 bits. */
    n = put_long(b, 1);
    n += put_str(b + n, "big");
    n += put_long(b + n, 2);
    n += put_long(b + n, INT64_C(1) << 31);
    n += put_long(b + n, 0);
    n += put_long(b + n, 1);
    assert_int_equal(decode_rc(b, n, err, sizeof(err)), -1);

    /* An int attribute where a String is required. */
    n = put_base_attrs(b) - 1; /* reopen the attribute map */
    n += put_long(b + n, 1);
    n += put_str(b + n, "subject");
    n += put_long(b + n, 2);
    n += put_long(b + n, 5);
    n += put_long(b + n, 0);
    n += put_long(b + n, 1);
    assert_int_equal(decode_rc(b, n, err, sizeof(err)), -1);
}

static void test_too_many_attributes(void **state)
{
    (void)state;
    char err[256] = "";
    unsigned char *b = malloc(4096);
    assert_non_null(b);
    size_t n = put_base_attrs(b) - 1;
    n += put_long(b + n, HB_EVENT_MAX_ATTRS - 4 + 1);
    for (int i = 0; i < HB_EVENT_MAX_ATTRS - 4 + 1; i++) {
        char name[16];
        snprintf(name, sizeof(name), "x%d", i);
        n += put_str(b + n, name);
        n += put_long(b + n, 0); /* even null ones count */
    }
    n += put_long(b + n, 0);
    n += put_long(b + n, 1);
    assert_int_equal(decode_rc(b, n, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "attributes"));
    free(b);
}

/* Writes data that nests `depth` arrays: data array -> boxed R -> V2 array ... */
static size_t put_nested(unsigned char *b, int depth)
{
    size_t n = put_base_attrs(b);
    n += put_long(b + n, 4); /* data: array of R */
    for (int i = 1; i < depth; i++) {
        n += put_long(b + n, 1); /* one item */
        n += put_long(b + n, 1); /* R map: one entry */
        n += put_str(b + n, "$value");
        n += put_long(b + n, 3); /* V2: array of R */
    }
    n += put_long(b + n, 0); /* innermost array: empty */
    for (int i = 1; i < depth; i++) {
        n += put_long(b + n, 0); /* end of R map */
        n += put_long(b + n, 0); /* end of array */
    }
    return n;
}

static void test_nesting_limit(void **state)
{
    (void)state;
    char err[256] = "";
    unsigned char *b = malloc(100000);
    assert_non_null(b);
    size_t n = put_nested(b, 64);
    assert_int_equal(decode_rc(b, n, err, sizeof(err)), 0);
    n = put_nested(b, 65);
    assert_int_equal(decode_rc(b, n, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "deep"));
    n = put_nested(b, 5000); /* would overflow a recursive reader's stack */
    assert_int_equal(decode_rc(b, n, err, sizeof(err)), -1);
    free(b);
}

static void test_too_many_nodes(void **state)
{
    (void)state;
    /* 2^20 empty objects in 1 MiB: refused before avro-c builds them. */
    char err[256] = "";
    size_t items = (size_t)1 << 20;
    unsigned char *b = malloc(items + 64);
    assert_non_null(b);
    size_t n = put_base_attrs(b);
    n += put_long(b + n, 4);
    n += put_long(b + n, (int64_t)items);
    memset(b + n, 0, items);
    n += items;
    n += put_long(b + n, 0);
    assert_int_equal(decode_rc(b, n, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "too many"));
    free(b);
}

static void test_oversized_input(void **state)
{
    (void)state;
    char err[256] = "";
    size_t len = (size_t)16 * 1024 * 1024 + 1;
    unsigned char *b = calloc(1, len);
    assert_non_null(b);
    struct hb_event *ev = NULL;
    assert_int_equal(hb_avro_decode(b, len, &ev, err, sizeof(err)), -1);
    assert_null(ev);
    assert_non_null(strstr(err, "exceeds"));
    free(b);
}

static void test_encode_errors(void **state)
{
    (void)state;
    char err[256] = "";
    void *buf = (void *)1;
    size_t len = 1;
    struct hb_event *ev = base_event();
    assert_int_equal(hb_event_set_typed(ev, "n", "12x", HB_ATTR_INTEGER), 0);
    assert_int_equal(hb_avro_encode(ev, &buf, &len, err, sizeof(err)), -1);
    assert_null(buf);
    assert_int_equal(len, 0);
    assert_non_null(strstr(err, "'n'"));
    assert_int_equal(hb_event_set_typed(ev, "n", "yes", HB_ATTR_BOOLEAN), 0);
    assert_int_equal(hb_avro_encode(ev, &buf, &len, err, sizeof(err)), -1);
    assert_int_equal(hb_event_set_typed(ev, "n", "!!", HB_ATTR_BINARY), 0);
    assert_int_equal(hb_avro_encode(ev, &buf, &len, err, sizeof(err)), -1);
    hb_event_free(ev);
}

/* ---- threads ------------------------------------------------------------------ */

/* Encodes and decodes the rich event a number of times; NULL on success. */
static void *thread_main(void *arg)
{
    (void)arg;
    char err[256];
    struct hb_event *ev = rich_event();
    void *result = NULL;
    for (int i = 0; i < 200 && !result; i++) {
        void *buf = NULL;
        size_t len = 0;
        struct hb_event *back = NULL;
        if (hb_avro_encode(ev, &buf, &len, err, sizeof(err)) != 0 ||
            hb_avro_decode(buf, len, &back, err, sizeof(err)) != 0 ||
            back->data_len != ev->data_len || memcmp(back->data, ev->data, ev->data_len) != 0)
            result = (void *)1;
        hb_event_free(back);
        free(buf);
    }
    hb_event_free(ev);
    return result;
}

static void test_threads(void **state)
{
    (void)state;
    pthread_t t[8];
    for (size_t i = 0; i < HB_ARRAY_LEN(t); i++)
        assert_int_equal(pthread_create(&t[i], NULL, thread_main, NULL), 0);
    for (size_t i = 0; i < HB_ARRAY_LEN(t); i++) {
        void *r = (void *)1;
        assert_int_equal(pthread_join(t[i], &r), 0);
        assert_null(r);
    }
}

int main(void)
{
    /* The thread test runs first, so the schema's lazy init races for real. */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_attribute_types),
        cmocka_unit_test(test_max_attributes),
        cmocka_unit_test(test_json_data_exact),
        cmocka_unit_test(test_json_data_normalized),
        cmocka_unit_test(test_json_null_data),
        cmocka_unit_test(test_json_content_types),
        cmocka_unit_test(test_binary_data),
        cmocka_unit_test(test_non_json_text_and_bad_json),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_python_vector),
        cmocka_unit_test(test_schema_file_compatible),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_trailing_garbage),
        cmocka_unit_test(test_random_garbage),
        cmocka_unit_test(test_mutations),
        cmocka_unit_test(test_hostile_lengths),
        cmocka_unit_test(test_too_many_attributes),
        cmocka_unit_test(test_nesting_limit),
        cmocka_unit_test(test_too_many_nodes),
        cmocka_unit_test(test_oversized_input),
        cmocka_unit_test(test_encode_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
