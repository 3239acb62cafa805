/* test_gateway_metrics.c: the gateway's per-receiver metrics (metrics.c):
 * the series each call counts into, with and without a receiver's cache,
 * and the by-name path of the spool's replay landing on the same series. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "hookbus/metrics.h"
#include "metrics.h"

/* The value of metric{labels}; the registry hands back the existing series. */
static uint64_t value(struct hb_metrics *m, const char *metric, const char *labels)
{
    return hb_counter_get(hb_metrics_counter(m, metric, "", labels));
}

static void cached_and_by_name_share_a_series(void **state)
{
    (void)state;
    struct hb_metrics *m = hb_metrics_new();
    struct gw_receiver_metrics *rm = gw_metrics_receivers_new(2);
    assert_non_null(m);
    assert_non_null(rm);
    struct gw_receiver a = {.name = "acme", .metrics = gw_metrics_receiver_at(rm, 0)};
    struct gw_receiver b = {.name = "other", .metrics = gw_metrics_receiver_at(rm, 1)};
    gw_metrics_add(m, &a, GW_METRIC_PUBLISHED, 2);
    gw_metrics_add(m, &a, GW_METRIC_PUBLISHED, 1); /* from the cache */
    gw_metrics_add_by_name(m, "acme", GW_METRIC_PUBLISHED, 4);
    gw_metrics_add(m, &b, GW_METRIC_BYTES, 100);
    gw_metrics_add(m, &b, GW_METRIC_AUTH_FAILURES, 1);
    assert_int_equal(value(m, "hookbus_gateway_events_published_total", "receiver=\"acme\""), 7);
    assert_int_equal(value(m, "hookbus_gateway_events_published_total", "receiver=\"other\""), 0);
    assert_int_equal(value(m, "hookbus_gateway_request_bytes_total", "receiver=\"other\""), 100);
    assert_int_equal(value(m, "hookbus_gateway_auth_failures_total", "receiver=\"other\""), 1);
    gw_metrics_receivers_free(rm);
    hb_metrics_free(m);
}

static void requests_by_status(void **state)
{
    (void)state;
    struct hb_metrics *m = hb_metrics_new();
    struct gw_receiver_metrics *rm = gw_metrics_receivers_new(1);
    struct gw_receiver a = {.name = "acme", .metrics = gw_metrics_receiver_at(rm, 0)};
    struct gw_receiver bare = {.name = "we\"ird"}; /* no cache: looked up each time */
    gw_metrics_request(m, &a, 202);
    gw_metrics_request(m, &a, 202);
    gw_metrics_request(m, &a, 418); /* a code outside the cached table */
    gw_metrics_request(m, NULL, 404);
    gw_metrics_request(m, &bare, 401);
    gw_metrics_request(m, &bare, 401);
    const char *name = "hookbus_gateway_requests_total";
    assert_int_equal(value(m, name, "receiver=\"acme\",code=\"202\""), 2);
    assert_int_equal(value(m, name, "receiver=\"acme\",code=\"418\""), 1);
    assert_int_equal(value(m, name, "receiver=\"-\",code=\"404\""), 1);
    assert_int_equal(value(m, name, "receiver=\"we\\\"ird\",code=\"401\""), 2);
    gw_metrics_receivers_free(rm);
    hb_metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cached_and_by_name_share_a_series),
        cmocka_unit_test(requests_by_status),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
