/* test_kargo_warehouses.c: unit tests for hookbus-kargo's Warehouse cache
 * index (consumers/kargo/warehouses.c and lib/kube_cache.c, included h2o-style, without its watch
 * threads): objects from ADDED / MODIFIED / DELETED events land in the index
 * under the canonical id of each subscription, every URL spelling meets the
 * same id, a modified spec replaces the old subscriptions, and a refresh
 * (same generation) does not recompile. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "../../lib/kube_cache.c"
#include "../../consumers/kargo/match.c"
#include "../../consumers/kargo/warehouses.c"

struct seen {
    char names[16][128];
    const struct kargo_sub *subs[16];
    int n;
};

static void collect(void *ud, const char *ns, const char *name, const struct kargo_sub *sub)
{
    struct seen *s = ud;
    if (s->n < 16) {
        snprintf(s->names[s->n], sizeof(s->names[0]), "%s/%s", ns, name);
        s->subs[s->n++] = sub;
    }
}

static struct seen visit(struct wh_cache *c, const char *repo)
{
    struct seen s = {0};
    wh_cache_visit(c, repo, collect, &s);
    return s;
}

static void apply(struct wh_cache *c, const char *json, bool deleted)
{
    cJSON *o = cJSON_Parse(json);
    assert_non_null(o);
    wh_cache_apply(c, o, deleted);
    cJSON_Delete(o);
}

#define WH(ns, name, gen, subs)                                                                    \
    "{\"metadata\":{\"namespace\":\"" ns "\",\"name\":\"" name "\",\"uid\":\"u-" name              \
    "\",\"generation\":" #gen ",\"resourceVersion\":\"" #gen                                       \
    "\"},\"spec\":{\"subscriptions\":[" subs "]}}"

static void test_index(void **state)
{
    (void)state;
    struct wh_opts o = {0};
    struct wh_cache *c = wh_cache_new(NULL, &o, NULL);
    assert_non_null(c);
    apply(c,
          WH("a", "w1", 1,
             "{\"git\":{\"repoURL\":\"git@github.com:Acme/App.git\"}},"
             "{\"image\":{\"repoURL\":\"nginx\"}},"
             "{\"chart\":{\"repoURL\":\"oci://ghcr.io/acme/charts/app\"}},"
             "{\"git\":{\"repoURL\":\"::not a url::\"}}"),
          false);
    apply(c, WH("b", "w2", 1, "{\"git\":{\"repoURL\":\"https://github.com/acme/app\"}}"), false);
    assert_int_equal(wh_cache_count(c), 2);

    struct seen s = visit(c, "github.com/acme/app");
    assert_int_equal(s.n, 2);
    s = visit(c, "docker.io/library/nginx");
    assert_int_equal(s.n, 1);
    assert_string_equal(s.names[0], "a/w1");
    assert_int_equal(s.subs[0]->kind, KARGO_SUB_IMAGE);
    s = visit(c, "ghcr.io/acme/charts/app");
    assert_int_equal(s.n, 1);
    assert_int_equal(visit(c, "github.com/acme/other").n, 0);

    /* a new spec replaces every subscription of the Warehouse */
    apply(c, WH("a", "w1", 2, "{\"git\":{\"repoURL\":\"https://github.com/acme/other\"}}"), false);
    assert_int_equal(wh_cache_count(c), 2);
    assert_int_equal(visit(c, "docker.io/library/nginx").n, 0);
    assert_int_equal(visit(c, "github.com/acme/app").n, 1);
    assert_int_equal(visit(c, "github.com/acme/other").n, 1);

    /* the same generation (our own refresh annotation) is not recompiled */
    const struct kargo_sub *before = visit(c, "github.com/acme/other").subs[0];
    apply(c,
          "{\"metadata\":{\"namespace\":\"a\",\"name\":\"w1\",\"uid\":\"u-w1\",\"generation\":2,"
          "\"resourceVersion\":\"99\"},\"spec\":{\"subscriptions\":[]}}",
          false);
    assert_ptr_equal(visit(c, "github.com/acme/other").subs[0], before);
    pthread_rwlock_rdlock(&c->kc->lock);
    assert_string_equal((*find_slot(c->kc, "a", "w1"))->rv, "99");
    pthread_rwlock_unlock(&c->kc->lock);

    apply(c, WH("b", "w2", 1, ""), true);
    assert_int_equal(wh_cache_count(c), 1);
    assert_int_equal(visit(c, "github.com/acme/app").n, 0);
    apply(c, WH("b", "w2", 1, ""), true); /* deleting twice is harmless */
    apply(c, "{\"metadata\":{\"name\":\"no-namespace\"}}", false);
    assert_int_equal(wh_cache_count(c), 1);
    wh_cache_free(c);
}

/* Many Warehouses on one repository and many repositories in the buckets. */
static void test_many(void **state)
{
    (void)state;
    struct wh_opts o = {0};
    struct wh_cache *c = wh_cache_new(NULL, &o, NULL);
    char json[512], repo[128];
    for (int i = 0; i < 3000; i++) {
        snprintf(json, sizeof(json),
                 "{\"metadata\":{\"namespace\":\"n%d\",\"name\":\"w\",\"generation\":1},"
                 "\"spec\":{\"subscriptions\":[{\"git\":{\"repoURL\":"
                 "\"https://git.example.com/r/%d\"}},{\"git\":{\"repoURL\":"
                 "\"https://git.example.com/shared\"}}]}}",
                 i, i % 1500);
        apply(c, json, false);
    }
    assert_int_equal(wh_cache_count(c), 3000);
    snprintf(repo, sizeof(repo), "git.example.com/r/%d", 77);
    assert_int_equal(visit(c, repo).n, 2);
    struct seen s = {0};
    int n = 0;
    wh_cache_visit(c, "git.example.com/shared", collect, &s);
    n = s.n; /* collect caps at 16 */
    assert_int_equal(n, 16);
    wh_cache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_index),
        cmocka_unit_test(test_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
