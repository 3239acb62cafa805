/* test_framing.c: the request framing verdicts and the URL unescaper. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "framing.h"

static struct gw_framing check(const char *cl1, const char *cl2, const char *te)
{
    struct gw_framing_in in = {0};
    struct gw_framing f;
    if (cl1)
        in.cl[in.ncl++] = cl1;
    if (cl2)
        in.cl[in.ncl++] = cl2;
    if (te)
        in.te[in.nte++] = te;
    gw_framing_check(&in, 1000, &f);
    return f;
}

static void test_framing_verdicts(void **state)
{
    (void)state;
    struct gw_framing f = check(NULL, NULL, NULL);
    assert_int_equal(f.status, 0);
    assert_int_equal(f.length, -1);
    f = check("7", NULL, NULL);
    assert_int_equal(f.status, 0);
    assert_int_equal(f.length, 7);
    f = check("1000", NULL, NULL);
    assert_int_equal(f.status, 0);
    f = check("1001", NULL, NULL);
    assert_int_equal(f.status, 413);
    assert_int_equal(f.length, 1001);
    f = check("9223372036854775807", NULL, NULL);
    assert_int_equal(f.status, 413);
    f = check("9223372036854775808", NULL, NULL);
    assert_int_equal(f.status, 413);
    assert_int_equal(f.length, -1);
    f = check("99999999999999999999999999", NULL, NULL);
    assert_int_equal(f.status, 413);
    assert_int_equal(check("7", "7", NULL).status, 400);
    assert_int_equal(check("7", "8", NULL).status, 400);
    assert_int_equal(check("7", NULL, "chunked").status, 400);
    assert_int_equal(check("+7", NULL, NULL).status, 400);
    assert_int_equal(check("7 ", NULL, NULL).status, 400);
    assert_int_equal(check("", NULL, NULL).status, 400);
    assert_int_equal(check("0x10", NULL, NULL).status, 400);
    f = check(NULL, NULL, "chunked");
    assert_int_equal(f.status, 0);
    assert_true(f.chunked);
    assert_int_equal(check(NULL, NULL, " Chunked ").status, 0);
    assert_int_equal(check(NULL, NULL, "gzip").status, 501);
    assert_int_equal(check(NULL, NULL, "gzip, chunked").status, 501);
    assert_int_equal(check(NULL, NULL, "chunked, chunked").status, 501);
    assert_int_equal(check(NULL, NULL, "identity").status, 501);
    assert_int_equal(check(NULL, NULL, "").status, 501);
    struct gw_framing_in in = {.overflow = true};
    gw_framing_check(&in, 1000, &f);
    assert_int_equal(f.status, 400);
}

static void test_url_unescape_keeps_nul_escaped(void **state)
{
    (void)state;
    char a[] = "/webhooks/gh%00x";
    assert_int_equal(gw_url_unescape(a), strlen("/webhooks/gh%00x"));
    assert_string_equal(a, "/webhooks/gh%00x");
    char b[] = "/webhooks/%67h/k%2Fy%";
    assert_int_equal(gw_url_unescape(b), strlen("/webhooks/gh/k/y%"));
    assert_string_equal(b, "/webhooks/gh/k/y%");
    char c[] = "%4%zz%41";
    gw_url_unescape(c);
    assert_string_equal(c, "%4%zzA");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_framing_verdicts),
        cmocka_unit_test(test_url_unescape_keeps_nul_escaped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
