/* test_consumer.c: unit tests for the consumer runtime's pure pieces: the
 * retry schedule (hb_backoff_ms), the dedup window, debounce grouping and
 * per-key exclusion, per-partition commit ordering (lib/consumer_sched.c),
 * and the common configuration (lib/consumer_config.c). Kafka itself is
 * covered by the e2e suite. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "consumer_sched.h"
#include "hookbus/consumer.h"
#include "hookbus/event.h"
#include "hookbus/event_lookup.h"
#include "hookbus/filter.h"

/* ---- backoff ---- */

static void test_backoff_schedule(void **state)
{
    (void)state;
    /* jitter 0 gives the lower half, jitter ~1 the full delay */
    assert_int_equal(hb_backoff_ms(500, 60000, 2, 0.0), 250);
    assert_int_equal(hb_backoff_ms(500, 60000, 3, 0.0), 500);
    assert_int_equal(hb_backoff_ms(500, 60000, 4, 0.0), 1000);
    assert_int_equal(hb_backoff_ms(500, 60000, 2, 0.999999), 499);
    assert_int_equal(hb_backoff_ms(500, 60000, 2, 0.5), 375);
    /* doubling stops at max */
    assert_int_equal(hb_backoff_ms(500, 60000, 9, 0.0), 30000);
    assert_int_equal(hb_backoff_ms(500, 60000, 10, 0.0), 30000);
    assert_int_equal(hb_backoff_ms(500, 60000, 1000, 0.0), 30000);
    assert_true(hb_backoff_ms(500, 60000, 1000, 0.99) <= 60000);
    /* never zero, even with a 1 ms base; out-of-range jitter is clamped */
    assert_true(hb_backoff_ms(1, 1, 2, 0.0) >= 0);
    assert_int_equal(hb_backoff_ms(1000, 1000, 5, -3.0), 500);
    assert_true(hb_backoff_ms(1000, 1000, 5, 7.0) < 1000);
    /* monotonic in the attempt for a fixed jitter */
    long prev = 0;
    for (int a = 2; a < 40; a++) {
        long d = hb_backoff_ms(500, 60000, a, 0.3);
        assert_true(d >= prev);
        assert_true(d >= 250 / 2);
        prev = d;
    }
    /* no overflow with huge bounds */
    assert_true(hb_backoff_ms(1000, 24L * 3600 * 1000, 200, 0.0) == 12L * 3600 * 1000);
}

/* ---- dedup ---- */

static void test_dedup_window(void **state)
{
    (void)state;
    struct hb_dedup *d = hb_dedup_new(1000, 100);
    assert_non_null(d);
    assert_false(hb_dedup_seen(d, "a", 0));
    assert_true(hb_dedup_seen(d, "a", 10));
    assert_true(hb_dedup_seen(d, "a", 999));
    assert_false(hb_dedup_seen(d, "b", 500));
    /* the window counts from the first sighting: "a" expires at 1000 */
    assert_false(hb_dedup_seen(d, "a", 1000));
    assert_true(hb_dedup_seen(d, "b", 1499));
    assert_false(hb_dedup_seen(d, "b", 1500));
    assert_int_equal(hb_dedup_size(d), 2);
    hb_dedup_free(d);
}

static void test_dedup_bounded(void **state)
{
    (void)state;
    char id[32];
    struct hb_dedup *d = hb_dedup_new(60000, 10);
    for (int i = 0; i < 25; i++) {
        snprintf(id, sizeof(id), "id-%d", i);
        assert_false(hb_dedup_seen(d, id, i));
    }
    assert_int_equal(hb_dedup_size(d), 10);
    /* the oldest were evicted, the newest are remembered */
    assert_false(hb_dedup_seen(d, "id-0", 30));
    assert_true(hb_dedup_seen(d, "id-24", 31));
    hb_dedup_free(d);
}

/* The bucket array grows with the ids it holds (it starts at 64): every id
 * stays findable across the rehashes, and expiry and eviction still take the
 * oldest. */
static void test_dedup_grows(void **state)
{
    (void)state;
    char id[32];
    struct hb_dedup *d = hb_dedup_new(1000, 6000);
    for (int i = 0; i < 5000; i++) {
        snprintf(id, sizeof(id), "/receivers/x\nid-%d", i);
        assert_false(hb_dedup_seen(d, id, i / 10));
    }
    assert_int_equal(hb_dedup_size(d), 5000);
    for (int i = 0; i < 5000; i += 7) {
        snprintf(id, sizeof(id), "/receivers/x\nid-%d", i);
        assert_true(hb_dedup_seen(d, id, 499));
    }
    /* at 1000 ms the ids first seen at 0 ms (0..9) have expired, the rest not */
    assert_false(hb_dedup_seen(d, "/receivers/x\nid-3", 1000));
    assert_true(hb_dedup_seen(d, "/receivers/x\nid-10", 1000));
    for (int i = 5000; i < 7000; i++) { /* past max: the oldest are evicted */
        snprintf(id, sizeof(id), "/receivers/x\nid-%d", i);
        assert_false(hb_dedup_seen(d, id, 1000));
    }
    assert_int_equal(hb_dedup_size(d), 6000);
    assert_false(hb_dedup_seen(d, "/receivers/x\nid-11", 1000));
    assert_true(hb_dedup_seen(d, "/receivers/x\nid-6999", 1000));
    hb_dedup_free(d);
}

/* ---- debounce ---- */

static int items[16];

static void count_drop(void *item, void *ud)
{
    (void)item;
    (*(int *)ud)++;
}

static void test_debounce_trailing_window(void **state)
{
    (void)state;
    struct hb_dwin w;
    struct hb_debounce *d = hb_debounce_new(2000);
    assert_int_equal(hb_debounce_next_ms(d, 0), -1);
    assert_int_equal(hb_debounce_add(d, "repo-a", &items[0], 100), 0);
    assert_int_equal(hb_debounce_add(d, "repo-a", &items[1], 1500), 0);
    assert_int_equal(hb_debounce_add(d, "repo-b", &items[2], 1600), 0);
    assert_int_equal(hb_debounce_add(d, "repo-a", &items[3], 2099), 0);
    /* the first event opened repo-a's window: it closes at 2100 */
    assert_int_equal(hb_debounce_next_ms(d, 2000), 100);
    assert_false(hb_debounce_take(d, 2099, &w));
    assert_true(hb_debounce_take(d, 2100, &w));
    assert_string_equal(w.key, "repo-a");
    assert_int_equal(w.n, 3);
    assert_ptr_equal(w.items[0], &items[0]); /* oldest first */
    assert_ptr_equal(w.items[1], &items[1]);
    assert_ptr_equal(w.items[2], &items[3]);
    free(w.key);
    free(w.items);
    /* repo-b closes at 3600 */
    assert_false(hb_debounce_take(d, 3599, &w));
    assert_int_equal(hb_debounce_next_ms(d, 3000), 600);
    assert_true(hb_debounce_take(d, 3600, &w));
    assert_string_equal(w.key, "repo-b");
    assert_int_equal(w.n, 1);
    free(w.key);
    free(w.items);
    hb_debounce_release(d, "repo-a");
    hb_debounce_release(d, "repo-b");
    assert_int_equal(hb_debounce_next_ms(d, 4000), -1);
    hb_debounce_free(d, NULL, NULL);
}

/* Burst folding: each open window has one summary slot; it goes out with
 * the window, the key's next window starts with an empty one, and a window
 * dropped unacted hands its summary to acc_free. */
static void count_acc(void *acc, void *ud)
{
    (void)acc;
    (*(int *)ud)++;
}

static void test_debounce_fold_slot(void **state)
{
    (void)state;
    struct hb_dwin w;
    int freed = 0;
    int summary_a = 0, summary_next = 0, summary_z = 0;
    struct hb_debounce *d = hb_debounce_new(100);
    hb_debounce_set_acc_free(d, count_acc, &freed);
    assert_null(hb_debounce_acc(d, "k")); /* no window */
    hb_debounce_add(d, "k", &items[0], 0);
    void **slot = hb_debounce_acc(d, "k");
    assert_non_null(slot);
    assert_null(*slot);
    *slot = &summary_a;
    hb_debounce_add(d, "k", &items[1], 10);
    assert_ptr_equal(*hb_debounce_acc(d, "k"), &summary_a); /* the same window */
    assert_true(hb_debounce_take(d, 100, &w));
    assert_ptr_equal(w.acc, &summary_a);
    assert_int_equal(w.n, 2);
    free(w.key);
    free(w.items);
    assert_null(hb_debounce_acc(d, "k"));    /* busy, no open window */
    hb_debounce_add(d, "k", &items[2], 120); /* arrives while k's action runs */
    slot = hb_debounce_acc(d, "k");
    assert_non_null(slot);
    assert_null(*slot); /* a new window, a new summary */
    *slot = &summary_next;
    hb_debounce_add(d, "z", &items[3], 130);
    *hb_debounce_acc(d, "z") = &summary_z;
    hb_debounce_free(d, NULL, NULL);
    assert_int_equal(freed, 2); /* k's next window and z's */
}

static void test_debounce_one_action_per_key(void **state)
{
    (void)state;
    struct hb_dwin w;
    int dropped = 0;
    struct hb_debounce *d = hb_debounce_new(0); /* debounce 0: act at once */
    hb_debounce_add(d, "k", &items[0], 0);
    assert_true(hb_debounce_take(d, 0, &w));
    assert_int_equal(w.n, 1);
    free(w.key);
    free(w.items);
    /* while k's action runs, new events for k wait, others do not */
    hb_debounce_add(d, "k", &items[1], 5);
    hb_debounce_add(d, "k", &items[2], 6);
    hb_debounce_add(d, "other", &items[3], 7);
    assert_true(hb_debounce_take(d, 10, &w));
    assert_string_equal(w.key, "other");
    free(w.key);
    free(w.items);
    assert_false(hb_debounce_take(d, 10, &w));
    assert_int_equal(hb_debounce_next_ms(d, 10), -1); /* waits for a release, not a time */
    hb_debounce_release(d, "k");
    assert_int_equal(hb_debounce_next_ms(d, 10), 0);
    assert_true(hb_debounce_take(d, 10, &w));
    assert_string_equal(w.key, "k");
    assert_int_equal(w.n, 2);
    assert_ptr_equal(w.items[0], &items[1]);
    free(w.key);
    free(w.items);
    /* clearing hands queued items back */
    hb_debounce_add(d, "z", &items[4], 20);
    hb_debounce_add(d, "z", &items[5], 21);
    hb_debounce_free(d, count_drop, &dropped);
    assert_int_equal(dropped, 2);
}

/* ---- per-partition commit order ---- */

static void test_offsets_commit_order(void **state)
{
    (void)state;
    struct hb_offsets t;
    hb_offsets_init(&t);
    assert_int_equal(hb_offsets_committable(&t), -1);
    for (int64_t o = 10; o < 15; o++)
        assert_int_equal(hb_offsets_push(&t, o), 0);
    assert_int_equal(hb_offsets_push(&t, 14), -1); /* not ascending */
    hb_offsets_committed(&t, 10);
    /* 11 and 12 done before 10: nothing moves */
    assert_int_equal(hb_offsets_done(&t, 12), 0);
    assert_int_equal(hb_offsets_done(&t, 11), 0);
    assert_int_equal(hb_offsets_committable(&t), -1);
    assert_int_equal(hb_offsets_done(&t, 11), -1); /* twice */
    assert_int_equal(hb_offsets_done(&t, 99), -1); /* unknown */
    /* 10 done: 10..12 are contiguous, commit 13 (the next to read) */
    assert_int_equal(hb_offsets_done(&t, 10), 0);
    assert_int_equal(hb_offsets_committable(&t), 13);
    hb_offsets_committed(&t, 13);
    assert_int_equal(hb_offsets_committable(&t), -1);
    assert_int_equal(hb_offsets_pending(&t), 2);
    assert_int_equal(hb_offsets_done(&t, 14), 0);
    assert_int_equal(hb_offsets_committable(&t), -1);
    assert_int_equal(hb_offsets_done(&t, 13), 0);
    assert_int_equal(hb_offsets_committable(&t), 15);
    assert_int_equal(hb_offsets_pending(&t), 0);
    hb_offsets_clear(&t);
}

static void test_offsets_gaps_and_growth(void **state)
{
    (void)state;
    struct hb_offsets t;
    hb_offsets_init(&t);
    /* compacted topics have gaps; the ring grows and wraps */
    for (int round = 0; round < 3; round++) {
        int64_t base = round * 1000;
        for (int64_t i = 0; i < 200; i++)
            assert_int_equal(hb_offsets_push(&t, base + i * 3), 0);
        for (int64_t i = 199; i >= 1; i--)
            assert_int_equal(hb_offsets_done(&t, base + i * 3), 0);
        assert_int_equal(hb_offsets_committable(&t), base); /* first one still pending */
        hb_offsets_committed(&t, base);
        assert_int_equal(hb_offsets_done(&t, base), 0);
        assert_int_equal(hb_offsets_committable(&t), base + 199 * 3 + 1);
        hb_offsets_committed(&t, base + 199 * 3 + 1);
    }
    hb_offsets_clear(&t);
}

/* ---- configuration ---- */

static int load(const char *yaml, struct hb_consumer_config *cc, char *err, size_t errlen)
{
    struct hb_config hc;
    if (hb_config_load_string("c.yaml", yaml, strlen(yaml), &hc, err, errlen) < 0)
        return -1;
    int r = hb_consumer_config_load(&hc, "hookbus-test", cc, err, errlen);
    if (r == 0 && (r = hb_config_check_unused(&hc, err, errlen)) < 0)
        hb_consumer_config_free(cc);
    hb_config_free(&hc);
    return r;
}

static void test_config_defaults(void **state)
{
    (void)state;
    char err[512];
    struct hb_consumer_config cc;
    assert_int_equal(load("kafka:\n  brokers: k:9092\n", &cc, err, sizeof(err)), 0);
    assert_string_equal(cc.brokers, "k:9092");
    assert_string_equal(cc.group, "hookbus-test");
    assert_int_equal(cc.ntopics, 3);
    assert_string_equal(cc.topics[0], "hookbus.git");
    assert_null(cc.filter);
    assert_int_equal(cc.dedup_window_ms, 600000);
    assert_int_equal(cc.debounce_ms, 0);
    assert_int_equal(cc.retry_max_attempts, 8);
    assert_int_equal(cc.retry_initial_backoff_ms, 500);
    assert_int_equal(cc.retry_max_backoff_ms, 60000);
    assert_string_equal(cc.dead_letter_topic, "hookbus.dlq");
    assert_string_equal(cc.admin_listen, "127.0.0.1:9090");
    assert_int_equal(cc.concurrency, 4);
    hb_consumer_config_free(&cc);
}

static const char full_yaml[] =
    "kafka:\n"
    "  brokers: a:1,b:2\n"
    "  group: g1\n"
    "  topics: [t1, t2]\n"
    "  properties:\n"
    "    session.timeout.ms: '6000'\n"
    "filter:\n"
    "  - exact: {provider: github}\n"
    "  - any:\n"
    "      - suffix: {repo: /app}\n"
    "      - sql: \"tag LIKE 'v%'\"\n"
    "dedup_window: 0\n"
    "debounce: 2s\n"
    "retry: {max_attempts: 3, initial_backoff: 100ms, max_backoff: 1s}\n"
    "dead_letter_topic: ''\n"
    "admin_listen: ''\n"
    "concurrency: 2\n";

static void test_config_full_and_filter(void **state)
{
    (void)state;
    char err[512];
    struct hb_consumer_config cc;
    assert_int_equal(load(full_yaml, &cc, err, sizeof(err)), 0);
    assert_string_equal(cc.group, "g1");
    assert_int_equal(cc.ntopics, 2);
    assert_string_equal(cc.topics[1], "t2");
    assert_int_equal(cc.kafka_props.n, 1);
    assert_int_equal(cc.debounce_ms, 2000);
    assert_int_equal(cc.retry_max_attempts, 3);
    assert_int_equal(cc.concurrency, 2);
    assert_string_equal(cc.dead_letter_topic, "");
    assert_non_null(cc.filter);
    struct hb_event *ev = hb_event_new();
    hb_event_set(ev, "provider", "github");
    hb_event_set(ev, "repo", "github.com/acme/app");
    assert_true(hb_filter_match(cc.filter, hb_event_lookup, ev));
    hb_event_set(ev, "repo", "github.com/acme/lib");
    assert_false(hb_filter_match(cc.filter, hb_event_lookup, ev));
    hb_event_set(ev, "tag", "v1.0.0");
    assert_true(hb_filter_match(cc.filter, hb_event_lookup, ev));
    hb_event_set(ev, "provider", "gitlab");
    assert_false(hb_filter_match(cc.filter, hb_event_lookup, ev));
    hb_event_free(ev);
    hb_consumer_config_free(&cc);
}

static void test_config_errors(void **state)
{
    (void)state;
    char err[512];
    struct hb_consumer_config cc;
    /* a filter that does not parse: FILE:LINE and the place inside it */
    assert_int_equal(
        load("kafka: {brokers: x}\nfilter:\n  - sql: \"tag LIKE\"\n", &cc, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "c.yaml:3:"));
    assert_non_null(strstr(err, "filter[0].sql"));
    assert_int_equal(load("filter:\n  - nope: {a: b}\n", &cc, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "filter"));
    assert_int_equal(
        load("retry: {initial_backoff: 10s, max_backoff: 1s}\n", &cc, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "retry.max_backoff"));
    assert_int_equal(load("concurrency: 0\n", &cc, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "concurrency"));
    assert_int_equal(load("kafka: {topics: []}\n", &cc, err, sizeof(err)), -1);
    assert_int_equal(load("kafka: {brokers: embedded}\n", &cc, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "embedded_bootstrap_file"));
    assert_int_equal(load("debounce: soon\n", &cc, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "c.yaml:1: debounce"));
    /* keys the runtime does not know are left for the application */
    assert_int_equal(load("command: [x]\n", &cc, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "unknown key 'command'"));
}

static void test_config_env_and_brokers_file(void **state)
{
    (void)state;
    char err[512], path[] = "/tmp/hb-test-bootstrap-XXXXXX";
    struct hb_consumer_config cc;
    setenv("HOOKBUS_KAFKA_TOPICS", "x,y,,z", 1);
    setenv("HOOKBUS_RETRY_MAX_ATTEMPTS", "5", 1);
    assert_int_equal(load("retry: {max_attempts: 2}\n", &cc, err, sizeof(err)), 0);
    unsetenv("HOOKBUS_KAFKA_TOPICS");
    unsetenv("HOOKBUS_RETRY_MAX_ATTEMPTS");
    assert_int_equal(cc.ntopics, 3);
    assert_string_equal(cc.topics[2], "z");
    assert_int_equal(cc.retry_max_attempts, 5);
    hb_consumer_config_free(&cc);

    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "127.0.0.1:39092\n", 16), 16);
    close(fd);
    char yaml[256];
    snprintf(yaml, sizeof(yaml), "kafka: {brokers: '@%s'}\n", path);
    assert_int_equal(load(yaml, &cc, err, sizeof(err)), 0);
    char *b = hb_consumer_brokers(&cc, err, sizeof(err));
    assert_string_equal(b, "127.0.0.1:39092");
    free(b);
    hb_consumer_config_free(&cc);
    snprintf(yaml, sizeof(yaml), "kafka: {brokers: embedded, embedded_bootstrap_file: %s}\n", path);
    assert_int_equal(load(yaml, &cc, err, sizeof(err)), 0);
    b = hb_consumer_brokers(&cc, err, sizeof(err));
    assert_string_equal(b, "127.0.0.1:39092");
    free(b);
    unlink(path);
    assert_null(hb_consumer_brokers(&cc, err, sizeof(err)));
    hb_consumer_config_free(&cc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff_schedule),
        cmocka_unit_test(test_dedup_window),
        cmocka_unit_test(test_dedup_bounded),
        cmocka_unit_test(test_dedup_grows),
        cmocka_unit_test(test_debounce_trailing_window),
        cmocka_unit_test(test_debounce_one_action_per_key),
        cmocka_unit_test(test_debounce_fold_slot),
        cmocka_unit_test(test_offsets_commit_order),
        cmocka_unit_test(test_offsets_gaps_and_growth),
        cmocka_unit_test(test_config_defaults),
        cmocka_unit_test(test_config_full_and_filter),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_config_env_and_brokers_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
