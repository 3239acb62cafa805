/* test_http_binding.c: unit tests for lib/http_binding.c: percent-encoding of
 * ce- header values (HTTP protocol binding) and body templates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "hookbus/http_binding.h"

static void check_encode(const char *in, const char *want)
{
    struct hb_buf b;
    hb_buf_init(&b, 1024);
    assert_int_equal(hb_http_header_encode(in, &b), 0);
    assert_string_equal(b.p ? b.p : "", want);
    hb_buf_free(&b);
}

static void test_header_encoding(void **state)
{
    (void)state;
    check_encode("", "");
    check_encode("github.com/acme/app", "github.com/acme/app");
    check_encode("refs/heads/feature x", "refs/heads/feature%20x");
    check_encode("50% \"off\"", "50%25%20%22off%22");
    check_encode("Euro \xe2\x82\xac", "Euro%20%E2%82%AC"); /* UTF-8 bytes */
    check_encode("tab\there\x7f", "tab%09here%7F");
    check_encode("a:b;c=d,e'f~", "a:b;c=d,e'f~"); /* printable ASCII stays */
    struct hb_buf b;
    hb_buf_init(&b, 4);
    assert_int_equal(hb_http_header_encode("  ", &b), -1); /* bounded */
    hb_buf_free(&b);
}

static struct hb_event *event(void)
{
    struct hb_event *ev = hb_event_new();
    hb_event_set(ev, "specversion", "1.0");
    hb_event_set(ev, "id", "e-1");
    hb_event_set(ev, "type", "dev.hookbus.image.push");
    hb_event_set(ev, "tag", "v1.2.3");
    hb_event_set(ev, "subject", "quote \" back\\slash\nnewline");
    hb_event_set(ev, "datacontenttype", "application/json");
    const char *data = "{\"repository\":{\"name\":\"app\",\"tags\":[\"a\",\"b\"]},\"n\":42,"
                       "\"ok\":true,\"obj\":{\"k\":\"v\"},\"nil\":null}";
    hb_event_set_data(ev, data, strlen(data));
    return ev;
}

static void check_render(const struct hb_event *ev, const char *tmpl, const char *want)
{
    char err[256];
    char *out = hb_template_render(tmpl, ev, 4096, err, sizeof(err));
    if (!out)
        fail_msg("%s: %s", tmpl, err);
    assert_string_equal(out, want);
    free(out);
}

static void test_template(void **state)
{
    (void)state;
    struct hb_event *ev = event();
    check_render(ev, "{\"ref\": \"${tag}\"}", "{\"ref\": \"v1.2.3\"}");
    check_render(ev, "${subject}", "quote \\\" back\\\\slash\\nnewline");
    check_render(ev, "${data.repository.name}/${data.repository.tags.1}", "app/b");
    check_render(ev, "n=${data.n} ok=${data.ok} nil=[${data.nil}]", "n=42 ok=true nil=[]");
    check_render(ev, "${data.obj}", "{\\\"k\\\":\\\"v\\\"}");
    check_render(ev, "[${missing}${data.missing.x}${data.repository.tags.9}]", "[]");
    check_render(ev, "cost $$5 $x ${id}", "cost $5 $x e-1");
    check_render(ev, "", "");
    char err[256];
    assert_null(hb_template_render("${tag", ev, 4096, err, sizeof(err)));
    assert_non_null(strstr(err, "offset 0"));
    assert_int_equal(hb_template_check("ok ${} x", err, sizeof(err)), -1);
    assert_int_equal(hb_template_check("{\"a\": \"${tag}\", \"b\": $$}", err, sizeof(err)), 0);
    assert_null(
        hb_template_render("${data.repository}${data.repository}", ev, 16, err, sizeof(err)));
    assert_non_null(strstr(err, "exceeds"));
    /* data that is not JSON: data.* placeholders are empty */
    hb_event_set(ev, "datacontenttype", "text/plain");
    check_render(ev, "[${data.n}]", "[]");
    hb_event_free(ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_encoding),
        cmocka_unit_test(test_template),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
