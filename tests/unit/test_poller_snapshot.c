/* test_poller_snapshot.c: hookbus-poller's snapshots (consumers/poller/
 * snapshot.c, included h2o-style): which changes between two snapshots
 * become which events, deterministic ids, the state record round trip, and
 * that a polled event carries the same attributes and data members as the
 * gateway's event of the same change. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "../../consumers/poller/snapshot.c"

static const char A1[] = "1111111111111111111111111111111111111111";
static const char A2[] = "2222222222222222222222222222222222222222";
static const char A3[] = "3333333333333333333333333333333333333333";

static void snap(struct pl_snapshot *s, const char *const *kv)
{
    memset(s, 0, sizeof(*s));
    for (size_t i = 0; kv[i]; i += 2)
        assert_int_equal(pl_snapshot_add(s, kv[i], kv[i + 1]), 0);
    pl_snapshot_sort(s);
}

static const struct pl_source_desc git_desc = {PL_GIT, "https://github.com/Acme/App.git", "poller",
                                               "poller", "/pollers/poller"};

static void free_events(struct hb_event **evs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        hb_event_free(evs[i]);
    free(evs);
}

static const struct hb_event *find(struct hb_event **evs, size_t n, const char *attr,
                                   const char *value)
{
    for (size_t i = 0; i < n; i++)
        if (hb_event_get(evs[i], attr) && strcmp(hb_event_get(evs[i], attr), value) == 0)
            return evs[i];
    return NULL;
}

static void test_git_diff(void **state)
{
    (void)state;
    struct pl_snapshot old, cur;
    snap(&old, (const char *[]){"refs/heads/main", A1, "refs/heads/gone", A1, "refs/tags/v1", A1,
                                "refs/tags/old", A1, NULL});
    snap(&cur, (const char *[]){"refs/heads/main", A2, "refs/heads/new", A3, "refs/tags/v1", A1,
                                "refs/tags/v2", A2, NULL});
    struct hb_event **evs = NULL;
    size_t n = 0;
    char err[256];
    assert_int_equal(
        pl_diff(&git_desc, &old, &cur, "2026-12-04T00:00:00Z", &evs, &n, err, sizeof(err)), 0);
    /* moved main, new branch, deleted branch, new tag; unchanged v1 and the
     * deleted tag give nothing. */
    assert_int_equal(n, 4);
    const struct hb_event *main = find(evs, n, "ref", "refs/heads/main");
    assert_non_null(main);
    assert_string_equal(hb_event_get(main, "type"), "dev.hookbus.git.push");
    assert_string_equal(hb_event_get(main, "commit"), A2);
    assert_string_equal(hb_event_get(main, "repo"), "github.com/acme/app");
    assert_string_equal(hb_event_get(main, "source"), "/pollers/poller");
    assert_string_equal(hb_event_get(main, "provider"), "poller");
    assert_string_equal(hb_event_get(main, "subject"), "github.com/acme/app@refs/heads/main");
    cJSON *d = cJSON_ParseWithLength((const char *)main->data, main->data_len);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(d, "before")), A1);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(d, "branch")), "main");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(d, "deleted")));
    cJSON_Delete(d);

    const struct hb_event *nb = find(evs, n, "ref", "refs/heads/new");
    d = cJSON_ParseWithLength((const char *)nb->data, nb->data_len);
    assert_null(cJSON_GetObjectItem(d, "before")); /* a new branch has none */
    cJSON_Delete(d);

    const struct hb_event *gone = find(evs, n, "ref", "refs/heads/gone");
    assert_null(hb_event_get(gone, "commit"));
    d = cJSON_ParseWithLength((const char *)gone->data, gone->data_len);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(d, "deleted")));
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(d, "before")), A1);
    cJSON_Delete(d);

    const struct hb_event *tag = find(evs, n, "tag", "v2");
    assert_string_equal(hb_event_get(tag, "type"), "dev.hookbus.git.tag");
    assert_string_equal(hb_event_get(tag, "ref"), "refs/tags/v2");
    assert_string_equal(hb_event_get(tag, "commit"), A2);
    assert_null(find(evs, n, "tag", "v1"));
    free_events(evs, n);
    pl_snapshot_free(&old);
    pl_snapshot_free(&cur);
}

static void test_same_snapshot_no_events(void **state)
{
    (void)state;
    struct pl_snapshot a, b;
    snap(&a, (const char *[]){"refs/heads/main", A1, "refs/tags/v1", A1, NULL});
    snap(&b, (const char *[]){"refs/tags/v1", A1, "refs/heads/main", A1, NULL});
    assert_true(pl_snapshot_equal(&a, &b));
    struct hb_event **evs = NULL;
    size_t n = 0;
    char err[256];
    assert_int_equal(pl_diff(&git_desc, &a, &b, "2026-12-04T00:00:00Z", &evs, &n, err, sizeof(err)),
                     0);
    assert_int_equal(n, 0);
    assert_null(evs);
    pl_snapshot_free(&a);
    pl_snapshot_free(&b);
}

static void test_image_and_chart_diff(void **state)
{
    (void)state;
    const char *d1 = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const char *d2 = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    struct pl_snapshot old, cur;
    snap(&old, (const char *[]){"1.0", d1, "latest", d1, NULL});
    snap(&cur, (const char *[]){"1.0", d1, "latest", d2, "1.1", d2, NULL});
    const struct pl_source_desc img = {PL_IMAGE, "nginx", "poller", "poller", "/pollers/poller"};
    struct hb_event **evs = NULL;
    size_t n = 0;
    char err[256];
    assert_int_equal(pl_diff(&img, &old, &cur, "2026-12-04T00:00:00Z", &evs, &n, err, sizeof(err)),
                     0);
    assert_int_equal(n, 2); /* a moved tag and a new one */
    const struct hb_event *latest = find(evs, n, "tag", "latest");
    assert_string_equal(hb_event_get(latest, "type"), "dev.hookbus.image.push");
    assert_string_equal(hb_event_get(latest, "digest"), d2);
    assert_string_equal(hb_event_get(latest, "repo"), "docker.io/library/nginx");
    assert_string_equal(hb_event_get(latest, "subject"), "docker.io/library/nginx:latest");
    free_events(evs, n);

    /* Charts: new versions only (a re-published version is not a release). */
    const struct pl_source_desc chart = {PL_CHART, "https://charts.example.com/app", "poller",
                                         "poller", "/pollers/poller"};
    evs = NULL;
    n = 0;
    assert_int_equal(
        pl_diff(&chart, &old, &cur, "2026-12-04T00:00:00Z", &evs, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 1);
    assert_string_equal(hb_event_get(evs[0], "type"), "dev.hookbus.chart.push");
    assert_string_equal(hb_event_get(evs[0], "tag"), "1.1");
    assert_string_equal(hb_event_get(evs[0], "repo"), "charts.example.com/app");
    free_events(evs, n);

    /* An OCI Helm chart (oci.c marks it): chart.push with its digest. */
    for (size_t i = 0; i < cur.n; i++)
        cur.items[i].chart = strcmp(cur.items[i].name, "1.1") == 0;
    evs = NULL;
    n = 0;
    assert_int_equal(pl_diff(&img, &old, &cur, "2026-12-04T00:00:00Z", &evs, &n, err, sizeof(err)),
                     0);
    assert_int_equal(n, 2);
    const struct hb_event *oci_chart = find(evs, n, "tag", "1.1");
    assert_string_equal(hb_event_get(oci_chart, "type"), "dev.hookbus.chart.push");
    assert_string_equal(hb_event_get(oci_chart, "digest"), d2);
    assert_string_equal(hb_event_get(find(evs, n, "tag", "latest"), "type"),
                        "dev.hookbus.image.push");
    free_events(evs, n);
    pl_snapshot_free(&old);
    pl_snapshot_free(&cur);
}

static bool keep_v(const void *arg, const char *name)
{
    (void)arg;
    return name[0] == 'v';
}

static void test_filter(void **state)
{
    (void)state;
    struct pl_snapshot s;
    snap(&s, (const char *[]){"a", A1, "v1", A2, "b", A1, "v2", A3, NULL});
    pl_snapshot_filter(&s, keep_v, NULL);
    assert_int_equal(s.n, 2);
    assert_string_equal(pl_snapshot_get(&s, "v1"), A2);
    assert_string_equal(pl_snapshot_get(&s, "v2"), A3);
    assert_null(pl_snapshot_get(&s, "a"));
    pl_snapshot_free(&s);
}

static void test_ids_deterministic(void **state)
{
    (void)state;
    char a[33], b[33], c[33];
    pl_event_id("github.com/acme/app", "refs/heads/main", A1, a);
    pl_event_id("github.com/acme/app", "refs/heads/main", A1, b);
    pl_event_id("github.com/acme/app", "refs/heads/main", A2, c);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    assert_int_equal(strlen(a), 32);
    /* The documented recipe: SHA-256 of "repo\nref\ncommit", 32 hex digits. */
    char want[65];
    const char *in =
        "github.com/acme/app\nrefs/heads/main\n1111111111111111111111111111111111111111";
    hb_sha256_hex2(in, strlen(in), "", 0, want);
    want[32] = '\0';
    assert_string_equal(a, want);

    /* Two polls (a restart, a second replica) of the same change: same ids. */
    struct pl_snapshot old, cur;
    snap(&old, (const char *[]){"refs/heads/main", A1, NULL});
    snap(&cur, (const char *[]){"refs/heads/main", A2, NULL});
    struct hb_event **e1 = NULL, **e2 = NULL;
    size_t n1 = 0, n2 = 0;
    char err[256];
    assert_int_equal(
        pl_diff(&git_desc, &old, &cur, "2026-12-04T00:00:00Z", &e1, &n1, err, sizeof(err)), 0);
    assert_int_equal(
        pl_diff(&git_desc, &old, &cur, "2026-12-04T00:05:00Z", &e2, &n2, err, sizeof(err)), 0);
    assert_int_equal(n1, 1);
    assert_int_equal(n2, 1);
    assert_string_equal(hb_event_get(e1[0], "id"), hb_event_get(e2[0], "id"));
    free_events(e1, n1);
    free_events(e2, n2);
    pl_snapshot_free(&old);
    pl_snapshot_free(&cur);
}

static void test_state_round_trip(void **state)
{
    (void)state;
    struct pl_snapshot a, b = {0};
    snap(&a, (const char *[]){"refs/heads/main", A1, "refs/tags/v1", A2, NULL});
    char *json = pl_snapshot_encode(&a, PL_GIT, "https://github.com/acme/app");
    assert_non_null(json);
    assert_non_null(strstr(json, "\"kind\":\"git\""));
    assert_int_equal(pl_snapshot_decode(json, strlen(json), &b), 0);
    assert_true(pl_snapshot_equal(&a, &b));
    assert_string_equal(pl_snapshot_get(&b, "refs/tags/v1"), A2);
    assert_null(pl_snapshot_get(&b, "refs/tags/v9"));
    free(json);
    pl_snapshot_free(&b);
    /* Malformed or another version: refused (the source is then first seen). */
    assert_int_equal(pl_snapshot_decode("{\"v\":2,\"items\":{}}", 19, &b), -1);
    assert_int_equal(pl_snapshot_decode("not json", 8, &b), -1);
    assert_int_equal(pl_snapshot_decode("{\"v\":1,\"items\":{\"a\":1}}", 24, &b), -1);
    assert_int_equal(b.n, 0);
    pl_snapshot_free(&a);
}

/* The polled git.push has every attribute and data member of the gateway's
 * GitHub push event (tests/fixtures/github/push.expect.json) except the
 * webhook-only ones (actor, changed paths, delivery id, GitHub's hook target). */
static void test_like_gateway(void **state)
{
    (void)state;
    const char *dir = getenv("HB_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof(path), "%s/tests/fixtures/github/push.expect.json", dir ? dir : ".");
    char err[256];
    size_t len;
    char *text = hb_read_file(path, 1 << 20, &len, err, sizeof(err));
    assert_non_null(text);
    cJSON *exp = cJSON_Parse(text);
    free(text);
    const cJSON *want = cJSON_GetArrayItem(cJSON_GetObjectItem(exp, "events"), 0);
    struct pl_snapshot old, cur;
    snap(&old,
         (const char *[]){"refs/heads/main", "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c", NULL});
    snap(&cur,
         (const char *[]){"refs/heads/main", "7113728f27ae82c7b1a177c8d03f9e96e0adf247", NULL});
    struct hb_event **evs = NULL;
    size_t n = 0;
    assert_int_equal(
        pl_diff(&git_desc, &old, &cur, "2026-12-04T00:00:00Z", &evs, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 1);
    static const char *const differ[] = {"id", "source", "provider", "receiver", "data", NULL};
    for (const cJSON *a = want->child; a; a = a->next) {
        bool skip = false;
        for (size_t i = 0; differ[i]; i++)
            skip |= strcmp(a->string, differ[i]) == 0;
        if (skip)
            continue;
        const char *got = hb_event_get(evs[0], a->string);
        if (!got)
            fail_msg("attribute %s missing", a->string);
        assert_string_equal(got, a->valuestring);
    }
    cJSON *data = cJSON_ParseWithLength((const char *)evs[0]->data, evs[0]->data_len);
    static const char *const webhook_only[] = {"actor",
                                               "changed_paths",
                                               "changed_paths_truncated",
                                               "delivery_id",
                                               "installation_target_type",
                                               NULL};
    for (const cJSON *m = cJSON_GetObjectItem(want, "data")->child; m; m = m->next) {
        bool skip = false;
        for (size_t i = 0; webhook_only[i]; i++)
            skip |= strcmp(m->string, webhook_only[i]) == 0;
        if (!skip && !cJSON_GetObjectItem(data, m->string))
            fail_msg("data member %s missing", m->string);
    }
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(data, "provider_event")), "poll");
    cJSON_Delete(data);
    cJSON_Delete(exp);
    free_events(evs, n);
    pl_snapshot_free(&old);
    pl_snapshot_free(&cur);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_git_diff),
        cmocka_unit_test(test_same_snapshot_no_events),
        cmocka_unit_test(test_image_and_chart_diff),
        cmocka_unit_test(test_filter),
        cmocka_unit_test(test_ids_deterministic),
        cmocka_unit_test(test_state_round_trip),
        cmocka_unit_test(test_like_gateway),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
