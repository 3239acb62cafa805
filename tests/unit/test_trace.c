/* test_trace.c: unit tests for hookbus/trace.h (lib/trace.c): strict
 * traceparent parsing (version 00 and future versions), tracestate bounds and
 * syntax, new root and child spans, and the helpers consumers use. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "hookbus/event.h"
#include "hookbus/trace.h"

#define TP "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

static void test_parse_v00(void **state)
{
    (void)state;
    struct hb_trace t;
    assert_int_equal(hb_trace_parse(TP, &t), 0);
    assert_string_equal(t.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_string_equal(t.span_id, "00f067aa0ba902b7");
    assert_string_equal(t.parent_id, "");
    assert_int_equal(t.flags, 1);
    assert_int_equal(hb_trace_parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", &t),
                     0);
    assert_int_equal(t.flags, 0);
    char out[HB_TRACEPARENT_SIZE];
    assert_int_equal(hb_trace_parse(TP, &t), 0);
    hb_trace_format(&t, out);
    assert_string_equal(out, TP);
}

static void test_parse_invalid(void **state)
{
    (void)state;
    static const char *const bad[] = {
        NULL,
        "",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",   /* short */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-", /* v00: nothing after */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", /* uppercase */
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01", /* zero trace id */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", /* zero parent id */
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", /* version ff */
        "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-g1",
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x", /* future: no '-' */
        " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct hb_trace t;
        if (hb_trace_parse(bad[i], &t) == 0)
            fail_msg("accepted %s", bad[i]);
    }
    char longer[HB_TRACEPARENT_MAX + 2];
    memset(longer, 'a', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    memcpy(longer, "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-", 56);
    struct hb_trace t;
    assert_int_equal(hb_trace_parse(longer, &t), -1); /* over the bound */
}

static void test_parse_future_version(void **state)
{
    (void)state;
    struct hb_trace t;
    /* A higher version: the version 00 fields, more fields after a '-'; only
     * the sampled flag is kept. */
    assert_int_equal(
        hb_trace_parse("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03-what-ever", &t), 0);
    assert_string_equal(t.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_string_equal(t.span_id, "00f067aa0ba902b7");
    assert_int_equal(t.flags, 1);
    assert_int_equal(hb_trace_parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", &t),
                     0);
    assert_int_equal(t.flags, 0);
    char out[HB_TRACEPARENT_SIZE];
    hb_trace_format(&t, out);
    assert_string_equal(out, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
}

static void test_tracestate(void **state)
{
    (void)state;
    assert_true(hb_tracestate_valid("congo=t61rcWkgMzE"));
    assert_true(hb_tracestate_valid("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"));
    assert_true(hb_tracestate_valid(" rojo=1 ,, congo=2\t"));
    assert_true(hb_tracestate_valid("1tenant@vendor=x,a_b-c*d/e=v a"));
    assert_false(hb_tracestate_valid(NULL));
    assert_false(hb_tracestate_valid(""));
    assert_false(hb_tracestate_valid(" , "));
    assert_false(hb_tracestate_valid("Rojo=1"));  /* uppercase key */
    assert_false(hb_tracestate_valid("1rojo=1")); /* simple key starts with a digit */
    assert_false(hb_tracestate_valid("rojo"));    /* no value */
    assert_false(hb_tracestate_valid("rojo="));
    assert_false(hb_tracestate_valid("rojo=a=b"));
    assert_false(hb_tracestate_valid("rojo=a\x01"));
    assert_false(hb_tracestate_valid("t@=1"));
    assert_false(hb_tracestate_valid("t@v@w=1"));
    assert_false(hb_tracestate_valid("t@abcdefghijklmno=1")); /* system id over 14 */
    char buf[HB_TRACESTATE_MAX + 64];
    size_t n = 0;
    for (int i = 0; i < 32; i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%sk%d=v", i ? "," : "", i);
    assert_true(hb_tracestate_valid(buf)); /* 32 members */
    snprintf(buf + n, sizeof(buf) - n, ",k32=v");
    assert_false(hb_tracestate_valid(buf)); /* 33 */
    memset(buf, 'a', HB_TRACESTATE_MAX + 1);
    buf[0] = 'k';
    buf[1] = '=';
    buf[HB_TRACESTATE_MAX + 1] = '\0';
    assert_false(hb_tracestate_valid(buf)); /* 513 characters */
}

static void test_new_and_child(void **state)
{
    (void)state;
    struct hb_trace a, b, c;
    char tp[HB_TRACEPARENT_SIZE];
    assert_int_equal(hb_trace_new(&a), 0);
    assert_int_equal(hb_trace_new(&b), 0);
    assert_string_not_equal(a.trace_id, b.trace_id);
    assert_int_equal(strlen(a.trace_id), 32);
    assert_int_equal(strlen(a.span_id), 16);
    assert_string_equal(a.parent_id, "");
    assert_int_equal(a.flags, HB_TRACE_SAMPLED);
    hb_trace_format(&a, tp);
    assert_int_equal(strlen(tp), HB_TRACEPARENT_LEN);
    assert_int_equal(hb_trace_parse(tp, &c), 0); /* what we write, we read */
    assert_string_equal(c.trace_id, a.trace_id);
    assert_int_equal(hb_trace_child(&a, &c), 0);
    assert_string_equal(c.trace_id, a.trace_id);
    assert_string_equal(c.parent_id, a.span_id);
    assert_string_not_equal(c.span_id, a.span_id);
    assert_int_equal(c.flags, a.flags);
}

static void test_event_helpers(void **state)
{
    (void)state;
    struct hb_event *ev = hb_event_new();
    assert_non_null(ev);
    char id[HB_TRACE_ID_HEX + 1];
    struct hb_trace t;
    assert_string_equal(hb_trace_id_of(ev, id), "");
    assert_int_equal(hb_trace_action(ev, &t), 0); /* no context: a new trace */
    assert_string_equal(t.parent_id, "");
    assert_int_equal(hb_event_set(ev, "traceparent", "00-zz"), 0);
    assert_string_equal(hb_trace_id_of(ev, id), "");
    assert_int_equal(hb_event_set(ev, "traceparent", TP), 0);
    assert_string_equal(hb_trace_id_of(ev, id), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_int_equal(hb_trace_action(ev, &t), 0);
    assert_string_equal(t.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_string_equal(t.parent_id, "00f067aa0ba902b7");
    assert_string_not_equal(t.span_id, "00f067aa0ba902b7");
    hb_event_free(ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_v00),
        cmocka_unit_test(test_parse_invalid),
        cmocka_unit_test(test_parse_future_version),
        cmocka_unit_test(test_tracestate),
        cmocka_unit_test(test_new_and_child),
        cmocka_unit_test(test_event_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
