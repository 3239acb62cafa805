/* test_metrics.c: unit tests for hookbus/metrics.h (lib/metrics.c): counters,
 * gauges and histograms with labels, type clashes, the Prometheus text
 * exposition (HELP/TYPE once per family, cumulative buckets ending in
 * le="+Inf", _sum and _count), label escaping, and exact totals under
 * concurrent updates from several threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hookbus/metrics.h"

/* ---- helpers ------------------------------------------------------------ */

/* Counts the occurrences of needle in hay. */
static int count_of(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* The rendered text must contain line (a whole line). */
static void assert_line(const char *text, const char *line)
{
    char want[512];
    snprintf(want, sizeof(want), "\n%s\n", line);
    /* Prepend a newline so the first line matches too. */
    size_t n = strlen(text);
    char *t = malloc(n + 2);
    assert_non_null(t);
    t[0] = '\n';
    memcpy(t + 1, text, n + 1);
    if (!strstr(t, want)) {
        free(t);
        fail_msg("line '%s' not found in:\n%s", line, text);
    }
    free(t);
}

/* ---- series ------------------------------------------------------------- */

static void test_counter(void **state)
{
    (void)state;
    struct hb_metrics *m = hb_metrics_new();
    assert_non_null(m);
    struct hb_counter *c = hb_metrics_counter(m, "hookbus_requests_total", "Requests.", NULL);
    assert_non_null(c);
    assert_int_equal(hb_counter_get(c), 0);
    hb_counter_add(c, 1);
    hb_counter_add(c, 41);
    assert_int_equal(hb_counter_get(c), 42);
    hb_counter_add(c, 0);
    assert_int_equal(hb_counter_get(c), 42);

    /* The same name and labels return the same series. */
    assert_ptr_equal(hb_metrics_counter(m, "hookbus_requests_total", "Requests.", NULL), c);
    assert_ptr_equal(hb_metrics_counter(m, "hookbus_requests_total", "other help", ""), c);
    /* Other labels: another series of the family. */
    struct hb_counter *c2 = hb_metrics_counter(m, "hookbus_requests_total", "Requests.",
                                               "receiver=\"a\"");
    assert_non_null(c2);
    assert_ptr_not_equal(c2, c);
    assert_int_equal(hb_counter_get(c2), 0);

    /* Large values. */
    hb_counter_add(c2, UINT64_C(10000000000));
    assert_true(hb_counter_get(c2) == UINT64_C(10000000000));

    /* NULL handles are ignored (a failed registration must not crash). */
    hb_counter_add(NULL, 1);
    assert_int_equal(hb_counter_get(NULL), 0);
    hb_metrics_free(m);
    hb_metrics_free(NULL);
}

static void test_gauge(void **state)
{
    (void)state;
    struct hb_metrics *m = hb_metrics_new();
    struct hb_gauge *g = hb_metrics_gauge(m, "hookbus_inflight", "In flight.", NULL);
    assert_non_null(g);
    assert_int_equal(hb_gauge_get(g), 0);
    hb_gauge_set(g, 10);
    hb_gauge_add(g, -3);
    assert_int_equal(hb_gauge_get(g), 7);
    hb_gauge_add(g, -10);
    assert_int_equal(hb_gauge_get(g), -3);
    hb_gauge_set(g, INT64_MAX);
    assert_true(hb_gauge_get(g) == INT64_MAX);
    hb_gauge_set(NULL, 1);
    hb_gauge_add(NULL, 1);
    assert_int_equal(hb_gauge_get(NULL), 0);
    hb_metrics_free(m);
}

static void test_type_clash(void **state)
{
    (void)state;
    struct hb_metrics *m = hb_metrics_new();
    const double b[] = {1};
    assert_non_null(hb_metrics_counter(m, "x_total", "", NULL));
    assert_null(hb_metrics_gauge(m, "x_total", "", NULL));
    assert_null(hb_metrics_gauge(m, "x_total", "", "a=\"1\""));
    assert_null(hb_metrics_histogram(m, "x_total", "", NULL, b, 1));
    assert_non_null(hb_metrics_gauge(m, "y", "", "a=\"1\""));
    assert_null(hb_metrics_counter(m, "y", "", NULL));
    assert_non_null(hb_metrics_histogram(m, "z_seconds", "", NULL, b, 1));
    assert_null(hb_metrics_counter(m, "z_seconds", "", NULL));
    /* The clash did not register anything. */
    char *text = hb_metrics_render(m);
    assert_int_equal(count_of(text, "# TYPE x_total "), 1);
    assert_int_equal(count_of(text, "# TYPE y "), 1);
    assert_line(text, "# TYPE x_total counter");
    assert_line(text, "# TYPE y gauge");
    free(text);

    /* Too many histogram bounds. */
    double many[33];
    for (int i = 0; i < 33; i++)
        many[i] = i;
    assert_null(hb_metrics_histogram(m, "h_many", "", NULL, many, 33));
    assert_non_null(hb_metrics_histogram(m, "h_ok", "", NULL, many, 32));
    hb_metrics_free(m);
}

/* ---- rendering ---------------------------------------------------------- */

static void test_render_counters_gauges(void **state)
{
    (void)state;
    struct hb_metrics *m = hb_metrics_new();
    struct hb_counter *a = hb_metrics_counter(m, "hookbus_events_total", "Events published.",
                                              "receiver=\"gh\",type=\"push\"");
    struct hb_gauge *g = hb_metrics_gauge(m, "hookbus_spool_bytes", "Spool size.", NULL);
    struct hb_counter *b = hb_metrics_counter(m, "hookbus_events_total", "Events published.",
                                              "receiver=\"hub\",type=\"image\"");
    struct hb_counter *plain = hb_metrics_counter(m, "hookbus_starts_total", NULL, NULL);
    hb_counter_add(a, 3);
    hb_counter_add(b, 5);
    hb_gauge_set(g, -12);
    hb_counter_add(plain, 1);
    char *text = hb_metrics_render(m);
    assert_non_null(text);

    /* HELP and TYPE once per family, before its samples. */
    assert_int_equal(count_of(text, "# HELP hookbus_events_total "), 1);
    assert_int_equal(count_of(text, "# TYPE hookbus_events_total "), 1);
    assert_line(text, "# HELP hookbus_events_total Events published.");
    assert_line(text, "# TYPE hookbus_events_total counter");
    assert_line(text, "hookbus_events_total{receiver=\"gh\",type=\"push\"} 3");
    assert_line(text, "hookbus_events_total{receiver=\"hub\",type=\"image\"} 5");
    assert_true(strstr(text, "# TYPE hookbus_events_total") <
                strstr(text, "hookbus_events_total{receiver=\"hub\""));
    /* The family's samples are grouped: the gauge family is not between. */
    const char *hub = strstr(text, "hookbus_events_total{receiver=\"hub\"");
    const char *spool = strstr(text, "# TYPE hookbus_spool_bytes");
    assert_true(hub < spool);

    assert_line(text, "# TYPE hookbus_spool_bytes gauge");
    assert_line(text, "hookbus_spool_bytes -12");
    assert_line(text, "# TYPE hookbus_starts_total counter");
    assert_line(text, "hookbus_starts_total 1");
    /* Every line ends with a newline, and the text with one. */
    assert_int_equal(text[strlen(text) - 1], '\n');
    assert_null(strstr(text, "\n\n"));
    free(text);

    /* An empty registry renders as "". */
    struct hb_metrics *e = hb_metrics_new();
    text = hb_metrics_render(e);
    assert_non_null(text);
    assert_string_equal(text, "");
    free(text);
    hb_metrics_free(e);
    hb_metrics_free(m);
}

static void test_render_histogram(void **state)
{
    (void)state;
    struct hb_metrics *m = hb_metrics_new();
    const double bounds[] = {0.005, 0.1, 1, 2.5};
    struct hb_histogram *h = hb_metrics_histogram(m, "hookbus_produce_seconds", "Latency.",
                                                  "topic=\"git\"", bounds, 4);
    struct hb_histogram *h2 = hb_metrics_histogram(m, "hookbus_produce_seconds", "Latency.", NULL,
                                                   bounds, 4);
    assert_non_null(h);
    assert_non_null(h2);
    hb_histogram_observe(h, 0.001); /* <= 0.005 */
    hb_histogram_observe(h, 0.005); /* boundary: le is inclusive */
    hb_histogram_observe(h, 0.05);
    hb_histogram_observe(h, 0.5);
    hb_histogram_observe(h, 2.0);
    hb_histogram_observe(h, 10.0); /* only +Inf */
    hb_histogram_observe(h, 0.0);
    char *text = hb_metrics_render(m);
    assert_non_null(text);
    assert_int_equal(count_of(text, "# TYPE hookbus_produce_seconds histogram"), 1);
    assert_int_equal(count_of(text, "# HELP hookbus_produce_seconds Latency."), 1);
    /* Cumulative buckets. */
    assert_line(text, "hookbus_produce_seconds_bucket{topic=\"git\",le=\"0.005\"} 3");
    assert_line(text, "hookbus_produce_seconds_bucket{topic=\"git\",le=\"0.1\"} 4");
    assert_line(text, "hookbus_produce_seconds_bucket{topic=\"git\",le=\"1\"} 5");
    assert_line(text, "hookbus_produce_seconds_bucket{topic=\"git\",le=\"2.5\"} 6");
    assert_line(text, "hookbus_produce_seconds_bucket{topic=\"git\",le=\"+Inf\"} 7");
    assert_line(text, "hookbus_produce_seconds_count{topic=\"git\"} 7");
    /* The sum: 12.556. */
    const char *sum = strstr(text, "hookbus_produce_seconds_sum{topic=\"git\"} ");
    assert_non_null(sum);
    double s = strtod(sum + strlen("hookbus_produce_seconds_sum{topic=\"git\"} "), NULL);
    assert_true(s > 12.5559 && s < 12.5561);
    /* Without labels: le alone inside the braces, no stray comma. */
    assert_line(text, "hookbus_produce_seconds_bucket{le=\"0.005\"} 0");
    assert_line(text, "hookbus_produce_seconds_bucket{le=\"+Inf\"} 0");
    assert_line(text, "hookbus_produce_seconds_count 0");
    assert_non_null(strstr(text, "\nhookbus_produce_seconds_sum 0"));
    assert_null(strstr(text, "{,"));
    assert_null(strstr(text, ",}"));
    /* Bucket lines come in ascending order, +Inf last, then _sum/_count. */
    const char *b1 = strstr(text, "{topic=\"git\",le=\"0.005\"}");
    const char *b2 = strstr(text, "{topic=\"git\",le=\"2.5\"}");
    const char *inf = strstr(text, "{topic=\"git\",le=\"+Inf\"}");
    assert_true(b1 < b2 && b2 < inf && inf < sum);
    free(text);

    /* A histogram with no bounds has only +Inf. */
    struct hb_histogram *h0 = hb_metrics_histogram(m, "h0", "", NULL, NULL, 0);
    hb_histogram_observe(h0, 1.5);
    text = hb_metrics_render(m);
    assert_line(text, "h0_bucket{le=\"+Inf\"} 1");
    assert_line(text, "h0_count 1");
    free(text);
    hb_histogram_observe(NULL, 1.0);
    hb_metrics_free(m);
}

static void test_label_escape(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(hb_metrics_label_escape("plain", out, sizeof(out)), 0);
    assert_string_equal(out, "plain");
    assert_int_equal(hb_metrics_label_escape("a\"b\\c\nd", out, sizeof(out)), 0);
    assert_string_equal(out, "a\\\"b\\\\c\\nd");
    assert_int_equal(hb_metrics_label_escape("", out, sizeof(out)), 0);
    assert_string_equal(out, "");
    assert_int_equal(hb_metrics_label_escape("caf\xc3\xa9", out, sizeof(out)), 0);
    assert_string_equal(out, "caf\xc3\xa9");
    /* Bounds: "abc" needs 4 bytes; an escape needs 2 + NUL. */
    char small[4];
    assert_int_equal(hb_metrics_label_escape("abc", small, sizeof(small)), 0);
    assert_string_equal(small, "abc");
    assert_int_equal(hb_metrics_label_escape("abcd", small, sizeof(small)), -1);
    assert_int_equal(hb_metrics_label_escape("ab\"", small, sizeof(small)), -1);
    assert_int_equal(hb_metrics_label_escape("a\"", small, sizeof(small)), 0);
    assert_string_equal(small, "a\\\"");
    assert_int_equal(hb_metrics_label_escape("", small, 1), 0);
    assert_int_equal(hb_metrics_label_escape("a", small, 1), -1);

    /* Escaped values render as given. */
    struct hb_metrics *m = hb_metrics_new();
    char labels[128], esc[64];
    assert_int_equal(hb_metrics_label_escape("we\"ird\\name\n", esc, sizeof(esc)), 0);
    snprintf(labels, sizeof(labels), "receiver=\"%s\"", esc);
    hb_counter_add(hb_metrics_counter(m, "c_total", "C.", labels), 2);
    char *text = hb_metrics_render(m);
    assert_line(text, "c_total{receiver=\"we\\\"ird\\\\name\\n\"} 2");
    free(text);
    hb_metrics_free(m);
}

/* ---- concurrency -------------------------------------------------------- */

#define THREADS 8
#define ITERS 20000

struct worker {
    struct hb_metrics *m;
    int id;
};

/* Each thread looks its series up itself (exercising the registration
 * lock), then updates them without a lock. */
static void *worker_main(void *arg)
{
    struct worker *w = arg;
    const double bounds[] = {0.5, 1.5};
    struct hb_counter *c = hb_metrics_counter(w->m, "conc_total", "C.", NULL);
    struct hb_counter *own = NULL;
    char labels[32];
    snprintf(labels, sizeof(labels), "t=\"%d\"", w->id);
    own = hb_metrics_counter(w->m, "conc_per_thread_total", "P.", labels);
    struct hb_gauge *g = hb_metrics_gauge(w->m, "conc_gauge", "G.", NULL);
    struct hb_histogram *h = hb_metrics_histogram(w->m, "conc_seconds", "H.", NULL, bounds, 2);
    for (int i = 0; i < ITERS; i++) {
        hb_counter_add(c, 1);
        hb_counter_add(own, 2);
        hb_gauge_add(g, (i % 2) ? 3 : -1);
        hb_histogram_observe(h, (i % 2) ? 1.0 : 0.25);
    }
    return NULL;
}

static void test_concurrent(void **state)
{
    (void)state;
    struct hb_metrics *m = hb_metrics_new();
    pthread_t th[THREADS];
    struct worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){m, i};
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    /* Render concurrently with the updates: must not crash or tear. */
    for (int i = 0; i < 20; i++)
        free(hb_metrics_render(m));
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);

    struct hb_counter *c = hb_metrics_counter(m, "conc_total", "C.", NULL);
    assert_int_equal(hb_counter_get(c), (uint64_t)THREADS * ITERS);
    for (int i = 0; i < THREADS; i++) {
        char labels[32];
        snprintf(labels, sizeof(labels), "t=\"%d\"", i);
        assert_int_equal(
            hb_counter_get(hb_metrics_counter(m, "conc_per_thread_total", "P.", labels)),
            2 * ITERS);
    }
    /* Each thread: ITERS/2 * (3 - 1). */
    assert_int_equal(hb_gauge_get(hb_metrics_gauge(m, "conc_gauge", "G.", NULL)),
                     (int64_t)THREADS * ITERS);

    char *text = hb_metrics_render(m);
    char line[128];
    snprintf(line, sizeof(line), "conc_total %d", THREADS * ITERS);
    assert_line(text, line);
    snprintf(line, sizeof(line), "conc_seconds_bucket{le=\"0.5\"} %d", THREADS * ITERS / 2);
    assert_line(text, line);
    snprintf(line, sizeof(line), "conc_seconds_bucket{le=\"1.5\"} %d", THREADS * ITERS);
    assert_line(text, line);
    snprintf(line, sizeof(line), "conc_seconds_count %d", THREADS * ITERS);
    assert_line(text, line);
    /* One family each, however many threads registered it. */
    assert_int_equal(count_of(text, "# TYPE conc_total counter"), 1);
    assert_int_equal(count_of(text, "# TYPE conc_per_thread_total counter"), 1);
    assert_int_equal(count_of(text, "conc_per_thread_total{"), THREADS);
    /* Sum: THREADS * ITERS/2 * (1.0 + 0.25). */
    const char *sum = strstr(text, "\nconc_seconds_sum ");
    assert_non_null(sum);
    double s = strtod(sum + strlen("\nconc_seconds_sum "), NULL);
    double want = THREADS * (ITERS / 2) * 1.25;
    assert_true(s > want - 0.001 && s < want + 0.001);
    free(text);
    hb_metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter),          cmocka_unit_test(test_gauge),
        cmocka_unit_test(test_type_clash),       cmocka_unit_test(test_render_counters_gauges),
        cmocka_unit_test(test_render_histogram), cmocka_unit_test(test_label_escape),
        cmocka_unit_test(test_concurrent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
