/* test_deliveries.c: unit tests for the console's records: the gateway's
 * delivery store (gateway/deliveries.c: the per-receiver bound, newest
 * first, filters, no secret-bearing header, body only when authentic and
 * small enough, the replay copy) and the consumers' recent events
 * (lib/recent.c: the bound, decision updates, the handle of an overwritten
 * entry). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "deliveries.h"
#include "recent.h"

/* A request with fixed headers, as http.c's plumbing gives them. */
static const char *const hdrs[][2] = {
    {"Content-Type", "application/json"},
    {"X-GitHub-Event", "push"},
    {"X-GitHub-Delivery", "d-1"},
    {"X-Hub-Signature-256", "sha256=abc"},
    {"Authorization", "Bearer s3cret"},
    {"Cookie", "session=zzz"},
    {"X-Api-Key", "k-123"},
    {"X-Gitlab-Token", "glt"},
};

static const char *header(const struct gw_request *req, const char *name)
{
    (void)req;
    for (size_t i = 0; i < sizeof(hdrs) / sizeof(hdrs[0]); i++)
        if (strcasecmp(hdrs[i][0], name) == 0)
            return hdrs[i][1];
    return NULL;
}

static void each_header(const struct gw_request *req,
                        void (*fn)(void *arg, const char *name, const char *value), void *arg)
{
    (void)req;
    for (size_t i = 0; i < sizeof(hdrs) / sizeof(hdrs[0]); i++)
        fn(arg, hdrs[i][0], hdrs[i][1]);
}

static struct gw_receiver rcv_a = {.name = "a", .token_header = "X-Api-Key"};
static struct gw_receiver rcv_b = {.name = "b"};

static void record(struct gw_deliveries *d, struct gw_receiver *rcv, unsigned status,
                   bool authentic, const char *body, const char *delivery)
{
    struct gw_request req = {.content_type = "application/json",
                             .body = (const unsigned char *)body,
                             .body_len = strlen(body),
                             .header = header,
                             .each_header = each_header};
    struct gw_ctx ctx = {0};
    snprintf(ctx.delivery_id, sizeof(ctx.delivery_id), "%s", delivery);
    struct gw_delivery_event ev = {"id-1", "dev.hookbus.git.push", "<b>x</b>", "hookbus.git", 2,
                                   41};
    struct gw_delivery_info info = {.rcv = rcv,
                                    .req = &req,
                                    .ctx = &ctx,
                                    .remote = "10.0.0.1",
                                    .authentic = authentic,
                                    .status = status,
                                    .reason = "r",
                                    .latency_ms = 3,
                                    .events = &ev,
                                    .nevents = status == 202 ? 1 : 0};
    gw_deliveries_record(d, &info);
}

static cJSON *list(struct gw_deliveries *d, const char *receiver, const char *status, long limit)
{
    char *s = gw_deliveries_list(d, receiver, status, limit);
    assert_non_null(s);
    cJSON *j = cJSON_Parse(s);
    cJSON_free(s);
    assert_non_null(j);
    return j;
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void test_ring_filters_and_order(void **state)
{
    (void)state;
    struct gw_deliveries *d = gw_deliveries_new(3, 1024);
    char id[16];
    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof(id), "a%d", i);
        record(d, &rcv_a, i == 1 ? 401 : 202, i != 1, "{}", id);
    }
    record(d, &rcv_b, 400, true, "{}", "b0");
    cJSON *all = list(d, NULL, NULL, 100);
    assert_int_equal(cJSON_GetArraySize(all), 4); /* 3 of a (bounded) + 1 of b */
    assert_string_equal(str(cJSON_GetArrayItem(all, 0), "delivery_id"), "b0");
    assert_string_equal(str(cJSON_GetArrayItem(all, 1), "delivery_id"), "a4");
    assert_string_equal(str(cJSON_GetArrayItem(all, 3), "delivery_id"), "a2");
    const cJSON *ev = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(all, 1), "events"),
                                         0);
    assert_string_equal(str(ev, "subject"), "<b>x</b>");
    assert_int_equal(cJSON_GetObjectItem(ev, "offset")->valueint, 41);
    cJSON_Delete(all);
    cJSON *a = list(d, "a", "2xx", 2);
    assert_int_equal(cJSON_GetArraySize(a), 2);
    cJSON_Delete(a);
    cJSON *c4 = list(d, NULL, "4xx", 100);
    assert_int_equal(cJSON_GetArraySize(c4), 1); /* the 401 was evicted from a's ring */
    cJSON_Delete(c4);
    cJSON *none = list(d, "zzz", NULL, 100);
    assert_int_equal(cJSON_GetArraySize(none), 0);
    cJSON_Delete(none);
    gw_deliveries_free(d);
}

static void test_no_secret_and_body_rules(void **state)
{
    (void)state;
    struct gw_deliveries *d = gw_deliveries_new(10, 8);
    record(d, &rcv_a, 202, true, "{\"a\":1}", "ok");   /* 7 bytes: kept */
    record(d, &rcv_a, 401, false, "{\"a\":1}", "bad"); /* not authentic: not kept */
    record(d, &rcv_a, 202, true, "{\"a\":12345}", "big");
    for (unsigned long long id = 1; id <= 3; id++) {
        char *s = gw_deliveries_get(d, id);
        assert_non_null(s);
        assert_null(strstr(s, "sha256=abc"));
        assert_null(strstr(s, "s3cret"));
        assert_null(strstr(s, "session=zzz"));
        assert_null(strstr(s, "k-123")); /* the receiver's token_header */
        assert_null(strstr(s, "glt"));
        assert_non_null(strstr(s, "\"X-GitHub-Event\":\"push\""));
        cJSON *j = cJSON_Parse(s);
        cJSON_free(s);
        const cJSON *body = cJSON_GetObjectItem(j, "body");
        if (id == 1)
            assert_string_equal(body->valuestring, "{\"a\":1}");
        else
            assert_true(cJSON_IsNull(body));
        cJSON_Delete(j);
    }
    assert_null(gw_deliveries_get(d, 99));
    struct gw_delivery_replay rp;
    assert_int_equal(gw_deliveries_replay(d, 1, &rp), 0);
    assert_string_equal(rp.receiver, "a");
    assert_string_equal(rp.delivery_id, "ok");
    assert_int_equal(rp.body_len, 7);
    gw_delivery_replay_clear(&rp);
    assert_int_equal(gw_deliveries_replay(d, 2, &rp), -2);
    assert_int_equal(gw_deliveries_replay(d, 3, &rp), -2);
    assert_int_equal(gw_deliveries_replay(d, 42, &rp), -1);
    gw_deliveries_free(d);
}

/* A kept body is taken from the request's buffer (left empty), not copied;
 * one that is not kept stays with the request. Evicting and freeing the
 * records frees it (ASan: no leak, no double free). */
static void test_body_taken_from_the_request(void **state)
{
    (void)state;
    struct gw_deliveries *d = gw_deliveries_new(1, 64);
    for (int round = 0; round < 3; round++) {
        struct hb_buf buf;
        hb_buf_init(&buf, 1 << 20);
        assert_int_equal(hb_buf_reserve(&buf, 4096), 0); /* spare capacity, given back */
        assert_int_equal(hb_buf_puts(&buf, "{\"taken\":true}"), 0);
        bool authentic = round != 1;
        struct gw_request req = {.body = (const unsigned char *)buf.p,
                                 .body_len = buf.len,
                                 .header = header,
                                 .each_header = each_header};
        struct gw_ctx ctx = {0};
        struct gw_delivery_info info = {.rcv = &rcv_b,
                                        .req = &req,
                                        .ctx = &ctx,
                                        .authentic = authentic,
                                        .status = authentic ? 202 : 401,
                                        .body_buf = &buf};
        gw_deliveries_record(d, &info);
        if (authentic) {
            assert_null(buf.p);
            assert_int_equal(buf.len, 0);
        } else {
            assert_non_null(buf.p); /* not kept: still the request's */
            assert_string_equal(buf.p, "{\"taken\":true}");
        }
        hb_buf_free(&buf);
        char *s = gw_deliveries_get(d, (unsigned long long)round + 1);
        assert_non_null(s);
        cJSON *j = cJSON_Parse(s);
        cJSON_free(s);
        const cJSON *body = cJSON_GetObjectItem(j, "body");
        if (authentic)
            assert_string_equal(body->valuestring, "{\"taken\":true}");
        else
            assert_true(cJSON_IsNull(body));
        cJSON_Delete(j);
    }
    struct gw_delivery_replay rp;
    assert_int_equal(gw_deliveries_replay(d, 3, &rp), 0);
    assert_int_equal(rp.body_len, strlen("{\"taken\":true}"));
    gw_delivery_replay_clear(&rp);
    gw_deliveries_free(d);
}

static void test_header_secret_names(void **state)
{
    (void)state;
    assert_true(gw_delivery_header_secret("authorization", NULL));
    assert_true(gw_delivery_header_secret("X-Hub-Signature", NULL));
    assert_true(gw_delivery_header_secret("X-Gitlab-Token", NULL));
    assert_true(gw_delivery_header_secret("x-custom", "X-Custom"));
    assert_false(gw_delivery_header_secret("X-GitHub-Event", NULL));
    assert_false(gw_delivery_header_secret("X-Event-Key", NULL));
    /* Every part, anywhere in the name, in any case; the exact names. */
    static const char *const secret[] = {"X-Hub-Signature-256",
                                         "Session",
                                         "x-session-id",
                                         "X-API-KEY",
                                         "ApiKey",
                                         "x-my-password",
                                         "Secret",
                                         "X-Auth-User",
                                         "Token",
                                         "Proxy-Authorization",
                                         "Cookie",
                                         "Set-Cookie",
                                         "webhook-signature"};
    for (size_t i = 0; i < sizeof(secret) / sizeof(secret[0]); i++)
        assert_true(gw_delivery_header_secret(secret[i], NULL));
    static const char *const kept[] = {
        "Content-Type", "User-Agent", "X-GitHub-Delivery", "X-GitHub-Hook-ID", "Host",
        "ce-type",      "Accept"};
    for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
        assert_false(gw_delivery_header_secret(kept[i], NULL));
    char long_name[200];
    memset(long_name, 'a', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    assert_true(gw_delivery_header_secret(long_name, NULL)); /* cannot tell: not kept */
}

static void test_recent_ring_and_updates(void **state)
{
    (void)state;
    struct hb_recent *r = hb_recent_new(2);
    uint64_t h1 = hb_recent_add(r, NULL, "t", 0, 1, "queued");
    uint64_t h2 = hb_recent_add(r, NULL, "t", 0, 2, "queued");
    hb_recent_update(r, h2, "retrying", 1, "boom");
    uint64_t h3 = hb_recent_add(r, NULL, "t", 0, 3, "filtered"); /* evicts h1 */
    hb_recent_update(r, h1, "acted", 1, NULL);                   /* gone: ignored */
    assert_true(h1 && h2 && h3);
    char *s = hb_recent_list(r, NULL, 10);
    cJSON *j = cJSON_Parse(s);
    cJSON_free(s);
    assert_int_equal(cJSON_GetArraySize(j), 2);
    assert_string_equal(str(cJSON_GetArrayItem(j, 0), "decision"), "filtered");
    assert_string_equal(str(cJSON_GetArrayItem(j, 1), "decision"), "retrying");
    assert_string_equal(str(cJSON_GetArrayItem(j, 1), "error"), "boom");
    assert_non_null(str(cJSON_GetArrayItem(j, 1), "action_time"));
    cJSON_Delete(j);
    hb_recent_update(r, h2, "acted", 2, NULL);
    s = hb_recent_list(r, "acted", 10);
    j = cJSON_Parse(s);
    cJSON_free(s);
    assert_int_equal(cJSON_GetArraySize(j), 1);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetArrayItem(j, 0), "error")));
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(j, 0), "attempts")->valueint, 2);
    cJSON_Delete(j);
    hb_recent_free(r);
    struct hb_recent *off = hb_recent_new(0);
    assert_int_equal(hb_recent_add(off, NULL, "t", 0, 1, "queued"), 0);
    s = hb_recent_list(off, NULL, 10);
    assert_string_equal(s, "[]");
    cJSON_free(s);
    hb_recent_free(off);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ring_filters_and_order),
        cmocka_unit_test(test_no_secret_and_body_rules),
        cmocka_unit_test(test_body_taken_from_the_request),
        cmocka_unit_test(test_header_secret_names),
        cmocka_unit_test(test_recent_ring_and_updates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
