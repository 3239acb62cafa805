/* test_fuzz_regressions.c: one test per defect the libFuzzer targets found
 * (fuzz/); each crashing input is also kept in fuzz/corpus/<target>/regress-*.
 *
 *  - cJSON accepts bytes that are not UTF-8 and truncates strings at a raw
 *    NUL: such "JSON" reached Avro strings the decoder refuses, and lost bytes
 *    in structured mode. hb_json_parse now refuses it, and such data travels
 *    as bytes (data_base64), unchanged.
 *  - A receiver copied payload strings into attributes unchecked, so an event
 *    with a control character or invalid UTF-8 in its subject reached Kafka
 *    where every consumer refuses it. gw_emit now validates (400).
 *  - cJSON takes any control character for whitespace: "\x0e{...}" passed as
 *    JSON and went into structured events verbatim (invalid JSON there).
 *  - An HTTP request with Content-Type application/cloudevents (no +json)
 *    and ce- headers was taken as binary mode with that datacontenttype;
 *    a Kafka consumer then reads the binary message as structured and fails.
 *  - JSON data "null" became "data": null in structured mode, which reads
 *    back as an event without data.
 *  - Structured mode put JSON data with surrounding whitespace in "data"; the
 *    decoder takes the value's span, so the whitespace was lost.
 *  - A delivery id (a header, or the body's id for acr, azure-devops,
 *    distribution, harbor) became the event id unchecked (same effect). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hookbus/format.h"
#include "hookbus/kafka.h"
#include "hookbus/util.h"
#include "receivers/receiver.h"

static void json_parse_refuses_invalid_utf8_and_nul(void **state)
{
    (void)state;
    static const char bad_utf8[] = "{\"tag\": \"v2.\xa6\xa6\"}";
    static const char nul[] = "{\"provider\0\0\x01w_event\": 1}";
    static const char ok[] = "{\"tag\": \"v2.\xc3\xa9\"}";
    static const char *const controls[] = {"\x0e{\"a\": 1}", "{\x01\"a\": 1}", "{\"a\": \"x\x01\"}",
                                           "{\"a\": 1}\x0b"};
    for (size_t i = 0; i < sizeof(controls) / sizeof(controls[0]); i++)
        assert_null(hb_json_parse(controls[i], strlen(controls[i])));
    static const char spaced[] = " \t\r\n{\"a\":\n1}\n";
    cJSON *ws = hb_json_parse(spaced, sizeof(spaced) - 1);
    assert_non_null(ws);
    cJSON_Delete(ws);
    assert_null(hb_json_parse(bad_utf8, sizeof(bad_utf8) - 1));
    /* The escape \u0000: cJSON would cut the string there (issue 17). An
     * escaped backslash before "u0000" is text, not the escape. */
    static const char nul_escape[] = "{\"ref\": \"refs/heads/main\\u0000evil\"}";
    assert_null(hb_json_parse(nul_escape, sizeof(nul_escape) - 1));
    static const char nul_escape3[] = "{\"a\": \"x\\\\\\u0000\"}";
    assert_null(hb_json_parse(nul_escape3, sizeof(nul_escape3) - 1));
    static const char slash_u0000[] = "{\"a\": \"x\\\\u0000\"}";
    cJSON *lit = hb_json_parse(slash_u0000, sizeof(slash_u0000) - 1);
    assert_non_null(lit);
    assert_string_equal(cJSON_GetObjectItem(lit, "a")->valuestring, "x\\u0000");
    cJSON_Delete(lit);
    assert_null(hb_json_parse(nul, sizeof(nul) - 1));
    cJSON *j = hb_json_parse(ok, sizeof(ok) - 1);
    assert_non_null(j);
    cJSON_Delete(j);
}

/* hb_utf8_valid (what hb_json_parse now checks), around its 8-byte ASCII
 * fast path: a NUL or a bad byte is found at every position. */
static void utf8_valid_every_position(void **state)
{
    (void)state;
    char buf[40];
    for (size_t len = 0; len <= 24; len++) {
        memset(buf, 'a', len);
        assert_true(hb_utf8_valid(buf, len));
        for (size_t at = 0; at < len; at++) {
            memset(buf, 'a', len);
            buf[at] = '\0';
            assert_false(hb_utf8_valid(buf, len));
            buf[at] = (char)0xff;
            assert_false(hb_utf8_valid(buf, len));
            if (at + 2 <= len) { /* U+00E9 anywhere, across word boundaries too */
                buf[at] = (char)0xc3;
                buf[at + 1] = (char)0xa9;
                assert_true(hb_utf8_valid(buf, len));
                assert_false(hb_utf8_valid(buf, at + 1)); /* cut in the middle */
            }
        }
    }
    assert_false(hb_utf8_valid("\xc0\xaf", 2));         /* overlong */
    assert_false(hb_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    assert_false(hb_utf8_valid("\xf4\x90\x80\x80", 4)); /* beyond U+10FFFF */
    assert_true(hb_utf8_valid("\xf0\x9f\x98\x80", 4));  /* U+1F600 */
}

/* JSON-typed data survives modes first..last byte for byte. */
static void round_trip(const char *data, size_t len, enum hb_ce_mode last)
{
    for (int mode = HB_CE_BINARY; mode <= (int)last; mode++) {
        char err[256];
        struct hb_kafka_msg msg = {0};
        struct hb_event *ev = hb_event_new(), *back = NULL;
        enum hb_ce_mode got;
        assert_int_equal(hb_event_set(ev, "specversion", "1.0"), 0);
        assert_int_equal(hb_event_set(ev, "id", "1"), 0);
        assert_int_equal(hb_event_set(ev, "source", "/s"), 0);
        assert_int_equal(hb_event_set(ev, "type", "t"), 0);
        assert_int_equal(hb_event_set(ev, "datacontenttype", "application/json"), 0);
        assert_int_equal(hb_event_set_data(ev, data, len), 0);
        assert_int_equal(hb_kafka_encode(ev, (enum hb_ce_mode)mode, &msg, err, sizeof(err)), 0);
        assert_int_equal(hb_kafka_decode(msg.value, msg.value_len, msg.key, msg.key_len,
                                         msg.headers, &back, &got, err, sizeof(err)),
                         0);
        assert_int_equal(back->data_len, len);
        assert_memory_equal(back->data, data, len);
        hb_event_free(back);
        hb_event_free(ev);
        hb_kafka_msg_clear(&msg);
    }
}

static void non_json_data_round_trips(void **state)
{
    (void)state;
    static const char nul[] = "{\"urls\": [\"https://gitlab.ex\0\0\0ample.com/a.git\"]}";
    static const char padded[] = " {\"ref\": \"main\"}\n";
    round_trip(nul, sizeof(nul) - 1, HB_CE_AVRO); /* not JSON: bytes everywhere */
    /* Avro re-serializes JSON data by design (lib/avro_format.c). */
    round_trip(padded, sizeof(padded) - 1, HB_CE_STRUCTURED);
    /* "data": null would read back as no data (Avro's null branch means
     * that by design, schemas/README.md). */
    round_trip("null", 4, HB_CE_STRUCTURED);
}

/* ---- a request without HTTP ---- */

struct fake {
    const char *names[4], *values[4];
};

static const char *fake_header(const struct gw_request *req, const char *name)
{
    const struct fake *f = req->conn;
    for (size_t i = 0; i < 4 && f->names[i]; i++)
        if (strcasecmp(f->names[i], name) == 0)
            return f->values[i];
    return NULL;
}

/* Runs the generic receiver over body; returns the status (0: events). */
static int normalize(const char *body, const char *request_id, struct gw_ctx *ctx,
                     struct gw_request *req, struct fake *f)
{
    static struct gw_receiver rcv = {
        .name = "g", .type = &gw_receiver_generic, .insecure_no_auth = true};
    *f = (struct fake){{"X-Request-Id"}, {request_id}};
    *req = (struct gw_request){.method = "POST",
                               .content_type = "application/json",
                               .body = (const unsigned char *)body,
                               .body_len = strlen(body),
                               .header = fake_header,
                               .conn = f};
    *ctx = (struct gw_ctx){.rcv = &rcv, .req = req};
    hb_now_rfc3339(ctx->time);
    gw_normalize(ctx);
    return ctx->status;
}

static void receiver_refuses_invalid_attribute_values(void **state)
{
    (void)state;
    struct gw_ctx ctx;
    struct gw_request req;
    struct fake f;
    /* A control character (valid JSON escape) in a tag name -> subject. */
    assert_int_equal(normalize("{\"ref\": \"refs/tags/v1\\u0001\", \"repository\": "
                               "\"https://github.com/a/b\"}",
                               "r1", &ctx, &req, &f),
                     400);
    assert_int_equal(ctx.nevents, 0);
    gw_ctx_clear(&ctx);
    /* \u0000 in a ref: refused, never published cut at the NUL. */
    assert_int_equal(normalize("{\"ref\": \"refs/heads/main\\u0000evil\", \"repository\": "
                               "\"https://github.com/a/b\"}",
                               "r1", &ctx, &req, &f),
                     400);
    assert_int_equal(ctx.nevents, 0);
    gw_ctx_clear(&ctx);
    /* Invalid UTF-8 is not JSON at all. */
    assert_int_equal(normalize("{\"release\": {\"tag_name\": \"v2.\xa6\"}, \"url\": "
                               "\"https://x.org/a/b\"}",
                               "r1", &ctx, &req, &f),
                     400);
    gw_ctx_clear(&ctx);
}

static void delivery_id_must_be_a_valid_string(void **state)
{
    (void)state;
    static const char body[] = "{\"ref\": \"main\", \"repository\": \"https://github.com/a/b\"}";
    struct gw_ctx ctx;
    struct gw_request req;
    struct fake f;
    assert_int_equal(normalize(body, "id\x01with-control", &ctx, &req, &f), 0);
    assert_int_equal(ctx.nevents, 1);
    assert_string_equal(ctx.delivery_id, "");
    gw_ctx_finish(&ctx);
    char err[256];
    assert_int_equal(hb_event_validate(ctx.events[0], err, sizeof(err)), 0);
    gw_ctx_clear(&ctx);
    assert_int_equal(normalize(body, "d-42", &ctx, &req, &f), 0);
    gw_ctx_finish(&ctx);
    assert_string_equal(hb_event_get(ctx.events[0], "id"), "d-42");
    gw_ctx_clear(&ctx);
}

/* A receiver that takes the delivery id from the body (acr). */
static void body_delivery_id_must_be_a_valid_string(void **state)
{
    (void)state;
    static const char body[] =
        "{\"id\": \"cb8c\\nce-x\", \"action\": \"push\", \"target\": {\"mediaType\": "
        "\"application/vnd.docker.distribution.manifest.v2+json\", \"digest\": "
        "\"sha256:80f0d5c8786bb9e621a45ece0db56d11cdc624ad20da9fe62e9d2f0ef331d7d0\", "
        "\"repository\": \"team/web\", \"tag\": \"v1\"}, \"request\": {\"host\": "
        "\"acme.azurecr.io\"}}";
    static struct gw_receiver rcv = {
        .name = "a", .type = &gw_receiver_acr, .insecure_no_auth = true};
    struct fake f = {{NULL}, {NULL}};
    struct gw_request req = {.method = "POST",
                             .content_type = "application/json",
                             .body = (const unsigned char *)body,
                             .body_len = strlen(body),
                             .header = fake_header,
                             .conn = &f};
    struct gw_ctx ctx = {.rcv = &rcv, .req = &req};
    char err[256];
    hb_now_rfc3339(ctx.time);
    gw_normalize(&ctx);
    assert_int_equal(ctx.status, 0);
    assert_int_equal(ctx.nevents, 1);
    gw_ctx_finish(&ctx);
    assert_int_equal(hb_event_validate(ctx.events[0], err, sizeof(err)), 0);
    assert_string_equal(ctx.delivery_id, ""); /* refused as the header path would */
    assert_int_equal(strlen(hb_event_get(ctx.events[0], "id")), 64); /* the body hash */
    gw_ctx_clear(&ctx);
}

/* Binary-mode HTTP with a CloudEvents format as content type: 415. */
static void cloudevents_format_content_type_is_refused(void **state)
{
    (void)state;
    static struct gw_receiver rcv = {
        .name = "ce", .type = &gw_receiver_cloudevents, .insecure_no_auth = true};
    struct fake f = {{"ce-specversion", "ce-id", "ce-source", "ce-type"}, {"1.0", "1", "/s", "t"}};
    struct gw_request req = {.method = "POST",
                             .content_type = "application/cloudevents",
                             .body = (const unsigned char *)"{}",
                             .body_len = 2,
                             .header = fake_header,
                             .conn = &f};
    struct gw_ctx ctx = {.rcv = &rcv, .req = &req};
    hb_now_rfc3339(ctx.time);
    gw_normalize(&ctx);
    assert_int_equal(ctx.status, 415);
    assert_int_equal(ctx.nevents, 0);
    gw_ctx_clear(&ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(json_parse_refuses_invalid_utf8_and_nul),
        cmocka_unit_test(utf8_valid_every_position),
        cmocka_unit_test(non_json_data_round_trips),
        cmocka_unit_test(receiver_refuses_invalid_attribute_values),
        cmocka_unit_test(delivery_id_must_be_a_valid_string),
        cmocka_unit_test(body_delivery_id_must_be_a_valid_string),
        cmocka_unit_test(cloudevents_format_content_type_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
