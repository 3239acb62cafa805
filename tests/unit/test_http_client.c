/* test_http_client.c: unit tests for hookbus/http_client.h (lib/http_client.c):
 * the one status rule both HTTP consumers follow, Retry-After in both of its
 * forms (RFC 9110 section 10.2.3, including the obsolete date formats a
 * recipient must accept), and a POST that cannot connect. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "hookbus/http_client.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static void test_classify(void **state)
{
    (void)state;
    static const long done[] = {200, 201, 202, 204, 299};
    static const long retry[] = {408, 429, 500, 502, 503, 504, 599};
    static const long drop[] = {0,   100, 199, 300, 301, 302, 304, 400, 401,
                                403, 404, 405, 409, 413, 415, 422, 600, 999};
    for (size_t i = 0; i < COUNT(done); i++)
        assert_int_equal(hb_http_classify(done[i], CURLE_OK), HB_ACT_DONE);
    for (size_t i = 0; i < COUNT(retry); i++)
        assert_int_equal(hb_http_classify(retry[i], CURLE_OK), HB_ACT_RETRY);
    for (size_t i = 0; i < COUNT(drop); i++)
        assert_int_equal(hb_http_classify(drop[i], CURLE_OK), HB_ACT_DROP);
    /* No answer (or a broken one) is worth another try, whatever the status. */
    static const int transport[] = {
        CURLE_COULDNT_CONNECT, CURLE_OPERATION_TIMEDOUT, CURLE_PEER_FAILED_VERIFICATION,
        CURLE_RECV_ERROR,      CURLE_GOT_NOTHING,        CURLE_SSL_CONNECT_ERROR};
    for (size_t i = 0; i < COUNT(transport); i++) {
        assert_int_equal(hb_http_classify(0, transport[i]), HB_ACT_RETRY);
        assert_int_equal(hb_http_classify(400, transport[i]), HB_ACT_RETRY);
    }
}

static void test_retry_after_seconds(void **state)
{
    (void)state;
    time_t now = 1700000000;
    assert_int_equal(hb_http_retry_after_ms("120", now), 120000);
    assert_int_equal(hb_http_retry_after_ms("  7 ", now), 7000);
    assert_int_equal(hb_http_retry_after_ms("0", now), 0);
    /* Beyond a day (or beyond long) is a day, never an overflow. */
    assert_int_equal(hb_http_retry_after_ms("86401", now), HB_HTTP_RETRY_AFTER_MAX_MS);
    assert_int_equal(hb_http_retry_after_ms("99999999999999999999999999", now),
                     HB_HTTP_RETRY_AFTER_MAX_MS);
    /* Neither delay-seconds nor a date. */
    static const char *const bad[] = {"", "-5", "1.5", "5s", "soon", "12 34", "0x10"};
    for (size_t i = 0; i < COUNT(bad); i++)
        assert_int_equal(hb_http_retry_after_ms(bad[i], now), 0);
    assert_int_equal(hb_http_retry_after_ms(NULL, now), 0);
}

static void test_retry_after_date(void **state)
{
    (void)state;
    /* 1994-11-06 08:49:37 UTC, the RFC's example, in its three forms. */
    const time_t at = 784111777;
    assert_int_equal(hb_http_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", at - 30), 30000);
    assert_int_equal(hb_http_retry_after_ms("Sunday, 06-Nov-94 08:49:37 GMT", at - 30), 30000);
    assert_int_equal(hb_http_retry_after_ms("Sun Nov  6 08:49:37 1994", at - 30), 30000);
    /* Past or now: no wait asked for. */
    assert_int_equal(hb_http_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", at), 0);
    assert_int_equal(hb_http_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", at + 60), 0);
    /* Far future: capped at a day. */
    assert_int_equal(hb_http_retry_after_ms("Fri, 01 Jan 2100 00:00:00 GMT", at),
                     HB_HTTP_RETRY_AFTER_MAX_MS);
}

/* Nothing listens on port 1 of the loopback: a transport failure, retried,
 * with curl's reason and no status. The handle goes back to the pool. */
static void test_post_refused(void **state)
{
    (void)state;
    struct hb_curl_pool pool;
    struct hb_http_result res;
    assert_int_equal(hb_curl_pool_init(&pool, 2), 0);
    const struct hb_http_request req = {
        .url = "http://127.0.0.1:1/hook", .body = "{}", .bodylen = 2, .timeout_ms = 2000};
    assert_int_equal(hb_http_post(&pool, &req, &res), HB_ACT_RETRY);
    assert_int_not_equal(res.curl_code, CURLE_OK);
    assert_int_equal(res.status, 0);
    assert_int_equal(res.retry_after_ms, 0);
    assert_true(res.error[0] != '\0');
    assert_int_equal(pool.n, 1);
    /* Only http and https: another scheme is refused by libcurl itself. */
    const struct hb_http_request file = {.url = "file:///etc/passwd", .timeout_ms = 2000};
    assert_int_equal(hb_http_post(&pool, &file, &res), HB_ACT_RETRY);
    assert_int_equal(res.curl_code, CURLE_UNSUPPORTED_PROTOCOL);
    hb_curl_pool_free(&pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_retry_after_seconds),
        cmocka_unit_test(test_retry_after_date),
        cmocka_unit_test(test_post_refused),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
