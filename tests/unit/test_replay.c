/* test_replay.c: the Standard Webhooks replay cache: what it remembers, for
 * how long, what a full cache evicts, and which requests it applies to. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "replay.h"

static void test_remembers_until_expiry(void **state)
{
    (void)state;
    struct gw_replay *c = gw_replay_new(16, NULL);
    assert_non_null(c);
    assert_false(gw_replay_seen(c, "sw", "msg_1", "1000", 1000));
    gw_replay_remember(c, "sw", "msg_1", "1000", 1300, 1000);
    assert_true(gw_replay_seen(c, "sw", "msg_1", "1000", 1000));
    assert_true(gw_replay_seen(c, "sw", "msg_1", "1000", 1300));
    /* The timestamp has left the window: the timestamp check refuses it. */
    assert_false(gw_replay_seen(c, "sw", "msg_1", "1000", 1301));
    /* Another timestamp (the sender's re-signed retry), another receiver, another id. */
    assert_false(gw_replay_seen(c, "sw", "msg_1", "1001", 1000));
    assert_false(gw_replay_seen(c, "gl", "msg_1", "1000", 1000));
    assert_false(gw_replay_seen(c, "sw", "msg_2", "1000", 1000));
    /* No two triples share their bytes: ("a", "b.c") is not ("a.b", "c"). */
    gw_replay_remember(c, "sw", "a", "12", 2000, 1000);
    assert_false(gw_replay_seen(c, "sw", "a1", "2", 1000));
    gw_replay_free(c);
}

static void test_full_cache_evicts_the_oldest(void **state)
{
    (void)state;
    char id[32];
    struct hb_metrics *m = hb_metrics_new();
    struct gw_replay *c = gw_replay_new(4, m);
    assert_non_null(c);
    for (int i = 0; i < 4; i++) {
        snprintf(id, sizeof(id), "msg_%d", i);
        gw_replay_remember(c, "sw", id, "1000", 1300, 1000);
    }
    /* Remembering one again does not take a second entry. */
    gw_replay_remember(c, "sw", "msg_3", "1000", 1300, 1000);
    for (int i = 0; i < 4; i++) {
        snprintf(id, sizeof(id), "msg_%d", i);
        assert_true(gw_replay_seen(c, "sw", id, "1000", 1000));
    }
    gw_replay_remember(c, "sw", "msg_4", "1000", 1300, 1000);
    assert_false(gw_replay_seen(c, "sw", "msg_0", "1000", 1000));
    for (int i = 1; i < 5; i++) {
        snprintf(id, sizeof(id), "msg_%d", i);
        assert_true(gw_replay_seen(c, "sw", id, "1000", 1000));
    }
    char *text = hb_metrics_render(m);
    assert_non_null(strstr(text, "hookbus_gateway_replay_cache_evictions_total 1"));
    free(text);
    /* An expired entry evicted is not counted. */
    gw_replay_remember(c, "sw", "msg_5", "1000", 5000, 2000);
    text = hb_metrics_render(m);
    assert_non_null(strstr(text, "hookbus_gateway_replay_cache_evictions_total 1"));
    free(text);
    /* Many more than the capacity: every chain stays consistent. */
    for (int i = 0; i < 1000; i++) {
        snprintf(id, sizeof(id), "many_%d", i);
        gw_replay_remember(c, "sw", id, "1000", 1300, 1000);
        assert_true(gw_replay_seen(c, "sw", id, "1000", 1000));
    }
    assert_false(gw_replay_seen(c, "sw", "many_995", "1000", 1000));
    assert_true(gw_replay_seen(c, "sw", "many_996", "1000", 1000));
    gw_replay_free(c);
    hb_metrics_free(m);
}

static void test_off(void **state)
{
    (void)state;
    struct gw_replay *c = gw_replay_new(0, NULL);
    assert_null(c);
    gw_replay_remember(c, "sw", "msg_1", "1000", 1300, 1000);
    assert_false(gw_replay_seen(c, "sw", "msg_1", "1000", 1000));
}

/* ---- requests ---- */

struct hdrs {
    struct gw_request req;
    const char *names[4], *values[4];
};

static const char *hdr(const struct gw_request *req, const char *name)
{
    const struct hdrs *h = (const struct hdrs *)req;
    for (size_t i = 0; i < 4 && h->names[i]; i++)
        if (strcasecmp(h->names[i], name) == 0)
            return h->values[i];
    return NULL;
}

static void test_requests_it_applies_to(void **state)
{
    (void)state;
    char ts[32];
    const char *id, *t;
    long long expires;
    snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL));
    struct hdrs h = {.req = {.header = hdr},
                     .names = {"webhook-id", "webhook-timestamp", "webhook-signature"},
                     .values = {"msg_x", ts, "v1,AAAA"}};
    struct gw_receiver sw = {.name = "sw", .type = &gw_receiver_standard_webhooks};
    struct gw_receiver gl = {.name = "gl", .type = &gw_receiver_gitlab};
    struct gw_receiver gh = {.name = "gh", .type = &gw_receiver_github};
    assert_true(gw_sw_replay_key(&sw, &h.req, &id, &t, &expires));
    assert_string_equal(id, "msg_x");
    assert_int_equal(expires, atoll(ts) + GW_SW_TOLERANCE_S);
    assert_true(gw_sw_replay_key(&gl, &h.req, &id, &t, &expires));
    assert_false(gw_sw_replay_key(&gh, &h.req, &id, &t, &expires));
    /* Not checked by its signature: a key route, an open receiver. */
    h.req.key_route = true;
    assert_false(gw_sw_replay_key(&sw, &h.req, &id, &t, &expires));
    h.req.key_route = false;
    sw.insecure_no_auth = true;
    assert_false(gw_sw_replay_key(&sw, &h.req, &id, &t, &expires));
    sw.insecure_no_auth = false;
    /* GitLab authenticated by X-Gitlab-Token: no signature, no key. */
    h.names[2] = "X-Gitlab-Token";
    assert_false(gw_sw_replay_key(&gl, &h.req, &id, &t, &expires));
    h.names[2] = "webhook-signature";
    struct gw_replay *c = gw_replay_new(8, NULL);
    assert_false(gw_replay_check(c, &sw, &h.req));
    gw_replay_note(c, &sw, &h.req);
    assert_true(gw_replay_check(c, &sw, &h.req));
    assert_false(gw_replay_check(c, &gl, &h.req));
    gw_replay_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_remembers_until_expiry),
        cmocka_unit_test(test_full_cache_evicts_the_oldest),
        cmocka_unit_test(test_off),
        cmocka_unit_test(test_requests_it_applies_to),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
