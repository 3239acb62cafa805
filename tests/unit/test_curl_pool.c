/* test_curl_pool.c: unit tests for hookbus/curl_pool.h (lib/curl_pool.c):
 * handles come back in last-in first-out order with their options reset,
 * at most max are kept idle, and the rest are cleaned up (a leak here is an
 * ASan/LeakSanitizer report under `make asan`). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "hookbus/curl_pool.h"

static void test_reuse_and_bound(void **state)
{
    (void)state;
    struct hb_curl_pool p;
    assert_int_equal(hb_curl_pool_init(&p, 2), 0);
    CURL *a = hb_curl_pool_get(&p), *b = hb_curl_pool_get(&p), *c = hb_curl_pool_get(&p);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    assert_ptr_not_equal(a, b);
    curl_easy_setopt(a, CURLOPT_URL, "http://127.0.0.1:1/x");
    hb_curl_pool_put(&p, a);
    hb_curl_pool_put(&p, b);
    hb_curl_pool_put(&p, c); /* over max: cleaned up, not kept */
    assert_int_equal(p.n, 2);
    assert_ptr_equal(hb_curl_pool_get(&p), b);
    CURL *again = hb_curl_pool_get(&p);
    assert_ptr_equal(again, a);
    /* Reset on the way in: the old URL is gone. */
    char *url = (char *)"set";
    curl_easy_getinfo(again, CURLINFO_EFFECTIVE_URL, &url);
    assert_true(url == NULL || url[0] == '\0');
    assert_int_equal(p.n, 0);
    hb_curl_pool_put(&p, again);
    hb_curl_pool_put(&p, b);
    hb_curl_pool_put(&p, NULL); /* ignored */
    assert_int_equal(p.n, 2);
    hb_curl_pool_free(&p);
}

static void test_max_is_clamped(void **state)
{
    (void)state;
    struct hb_curl_pool p;
    assert_int_equal(hb_curl_pool_init(&p, 0), 0);
    assert_int_equal(p.max, 1);
    hb_curl_pool_free(&p);
    assert_int_equal(hb_curl_pool_init(&p, 1000), 0);
    assert_int_equal(p.max, HB_CURL_POOL_MAX);
    hb_curl_pool_free(&p);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reuse_and_bound),
        cmocka_unit_test(test_max_is_clamped),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
