/* test_kargo_promotions.c: unit tests for hookbus-kargo's Promotion index
 * (consumers/kargo/promotions.c, with lib/kube_cache.c included h2o-style,
 * without its watch threads) and its window summary (window.c): the cases
 * of Kargo 1.11's RunningPromotionsByPullRequestURL (Running only, steps up
 * to status.currentStep, an alias and a pr.url in the step's output), the
 * literal-config fallback, what a pull request event yields, and that a
 * status change recompiles a Promotion (the status is what is indexed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "../../lib/kube_cache.c"
#include "../../consumers/kargo/promotions.c"
#include "../../consumers/kargo/window.c"

#define URL42 "https://github.com/Acme/App/pull/42"

struct seen {
    char names[8][128];
    int n;
};

static void collect(void *ud, const char *ns, const char *name, const void *value, size_t slot)
{
    (void)value;
    (void)slot;
    struct seen *s = ud;
    if (s->n < 8)
        snprintf(s->names[s->n++], sizeof(s->names[0]), "%s/%s", ns, name);
}

static struct seen visit(struct hb_kube_cache *c, const char *key)
{
    struct seen s = {0};
    hb_kube_cache_visit(c, key, collect, &s);
    return s;
}

/* A Promotion ns/name with steps_json, phase, currentStep and state_json
 * (NULL: absent), applied to the cache. */
static void promo(struct hb_kube_cache *c, const char *name, const char *rv, const char *phase,
                  int current, const char *steps_json, const char *state_json)
{
    char json[4096];
    snprintf(json, sizeof(json),
             "{\"metadata\":{\"namespace\":\"kargo-demo\",\"name\":\"%s\",\"uid\":\"u-%s\","
             "\"generation\":1,\"resourceVersion\":\"%s\"},"
             "\"spec\":{\"steps\":%s},"
             "\"status\":{\"phase\":\"%s\",\"currentStep\":%d%s%s}}",
             name, name, rv, steps_json, phase, current, state_json ? ",\"state\":" : "",
             state_json ? state_json : "");
    cJSON *o = cJSON_Parse(json);
    assert_non_null(o);
    hb_kube_cache_apply(c, o, false);
    cJSON_Delete(o);
}

static struct hb_kube_cache *new_cache(void)
{
    struct hb_kube_cache_opts o = {
        .api = "/apis/kargo.akuity.io/v1alpha1",
        .resource = "promotions",
        .every_change = true,
        .compile = kargo_promo_compile,
        .release = kargo_promo_release,
    };
    struct hb_kube_cache *c = hb_kube_cache_new(NULL, &o, NULL);
    assert_non_null(c);
    return c;
}

#define STEPS_OPEN_WAIT                                                                            \
    "[{\"uses\":\"git-clone\"},{\"uses\":\"git-open-pr\",\"as\":\"open-pr\"},"                     \
    "{\"uses\":\"git-wait-for-pr\",\"as\":\"wait-for-pr\",\"config\":{\"repoURL\":"                \
    "\"https://github.com/acme/app.git\",\"prNumber\":\"${{ outputs['open-pr'].pr.id }}\"}}]"
#define STATE_42 "{\"wait-for-pr\":{\"pr\":{\"id\":42,\"url\":\"" URL42 "\",\"open\":true}}}"

static void test_index_follows_kargo(void **state)
{
    (void)state;
    struct hb_kube_cache *c = new_cache();
    promo(c, "waiting", "1", "Running", 2, STEPS_OPEN_WAIT, STATE_42);
    promo(c, "not-yet", "2", "Running", 1, STEPS_OPEN_WAIT, STATE_42);
    promo(c, "succeeded", "3", "Succeeded", 2, STEPS_OPEN_WAIT, STATE_42);
    promo(c, "pending", "4", "Pending", 2, STEPS_OPEN_WAIT, STATE_42);
    promo(c, "no-alias", "5", "Running", 0, "[{\"uses\":\"git-wait-for-pr\"}]", STATE_42);
    promo(c, "no-output", "6", "Running", 2, STEPS_OPEN_WAIT, "{\"wait-for-pr\":{}}");
    promo(c, "empty-url", "7", "Running", 2, STEPS_OPEN_WAIT,
          "{\"wait-for-pr\":{\"pr\":{\"url\":\"\"}}}");
    /* a step behind the current one still counts, as in Kargo's index */
    promo(c, "past-it", "8", "Running", 3,
          "[{\"uses\":\"git-wait-for-pr\",\"as\":\"w\"},{\"uses\":\"a\"},{\"uses\":\"b\"},"
          "{\"uses\":\"argocd-update\"}]",
          "{\"w\":{\"pr\":{\"url\":\"" URL42 "/\"}}}");
    promo(c, "other-pr", "9", "Running", 2, STEPS_OPEN_WAIT,
          "{\"wait-for-pr\":{\"pr\":{\"url\":\"https://github.com/Acme/App/pull/43\"}}}");
    struct seen s = visit(c, "url:" URL42);
    assert_int_equal(s.n, 2);
    assert_true(strcmp(s.names[0], "kargo-demo/waiting") == 0 ||
                strcmp(s.names[1], "kargo-demo/waiting") == 0);
    assert_true(strcmp(s.names[0], "kargo-demo/past-it") == 0 ||
                strcmp(s.names[1], "kargo-demo/past-it") == 0);
    s = visit(c, "url:https://github.com/Acme/App/pull/43");
    assert_int_equal(s.n, 1);
    assert_string_equal(s.names[0], "kargo-demo/other-pr");
    /* the config's prNumber is an expression: no fallback key */
    assert_int_equal(visit(c, "pr:github.com/acme/app#42").n, 0);
    assert_int_equal(hb_kube_cache_count(c), 9); /* all kept, most without keys */
    hb_kube_cache_free(c);
}

static void test_literal_config_and_status_changes(void **state)
{
    (void)state;
    struct hb_kube_cache *c = new_cache();
    const char *steps = "[{\"uses\":\"git-clone\"},{\"uses\":\"git-wait-for-pr\",\"as\":\"w\","
                        "\"config\":{\"repoURL\":\"git@github.com:Acme/App.git\","
                        "\"prNumber\":42}}]";
    promo(c, "literal", "1", "Running", 0, steps, NULL);
    assert_int_equal(visit(c, "pr:github.com/acme/app#42").n, 0); /* not at the step yet */
    /* the controller moves on: same generation, new resourceVersion */
    promo(c, "literal", "2", "Running", 1, steps, NULL);
    struct seen s = visit(c, "pr:github.com/acme/app#42");
    assert_int_equal(s.n, 1);
    assert_string_equal(s.names[0], "kargo-demo/literal");
    /* the step ran once and wrote its output: the URL is the key now */
    const char *out = "{\"w\":{\"pr\":{\"url\":\"" URL42 "\"}}}";
    promo(c, "literal", "3", "Running", 1, steps, out);
    assert_int_equal(visit(c, "pr:github.com/acme/app#42").n, 0);
    assert_int_equal(visit(c, "url:" URL42).n, 1);
    /* finished: out of the index */
    promo(c, "literal", "4", "Succeeded", 1, steps, out);
    assert_int_equal(visit(c, "url:" URL42).n, 0);
    hb_kube_cache_free(c);
}

static struct hb_event *pr_event(const char *type, const char *data)
{
    struct hb_event *ev = hb_event_new();
    assert_non_null(ev);
    assert_int_equal(hb_event_set(ev, "type", type), 0);
    assert_int_equal(hb_event_set(ev, "repo", "github.com/acme/app"), 0);
    assert_int_equal(hb_event_set_data(ev, data, strlen(data)), 0);
    return ev;
}

static void test_pull_request_events(void **state)
{
    (void)state;
    struct kargo_pr pr;
    struct hb_event *ev = pr_event("dev.hookbus.git.pull_request",
                                   "{\"pull_request\":{\"action\":\"merged\",\"number\":42,"
                                   "\"url\":\"" URL42 "\"}}");
    assert_int_equal(kargo_pr_from_event(ev, &pr), 0);
    assert_string_equal(pr.url_key, "url:" URL42);
    assert_string_equal(pr.num_key, "pr:github.com/acme/app#42");
    assert_true(pr.final);
    hb_event_free(ev);
    ev = pr_event("dev.hookbus.git.pull_request",
                  "{\"pull_request\":{\"action\":\"opened\",\"number\":7}}");
    assert_int_equal(kargo_pr_from_event(ev, &pr), 0);
    assert_string_equal(pr.url_key, "");
    assert_string_equal(pr.num_key, "pr:github.com/acme/app#7");
    assert_false(pr.final);
    hb_event_free(ev);
    ev = pr_event("dev.hookbus.git.push", "{\"pull_request\":{\"number\":7}}");
    assert_int_equal(kargo_pr_from_event(ev, &pr), -1);
    hb_event_free(ev);
    ev = pr_event("dev.hookbus.git.pull_request", "{\"pull_request\":{\"action\":\"closed\"}}");
    assert_int_equal(kargo_pr_from_event(ev, &pr), -1); /* names no pull request */
    hb_event_free(ev);
}

static void test_window_sets(void **state)
{
    (void)state;
    struct kargo_window *w = kargo_window_new();
    assert_non_null(w);
    for (int i = 0; i < 1000; i++) /* a burst: the same few names again and again */
        assert_int_equal(kargo_set_add(&w->warehouses, i % 2 ? "ns/a" : "ns/b"), 0);
    assert_int_equal(w->warehouses.n, 2);
    assert_true(kargo_set_has(&w->warehouses, "ns/a"));
    assert_false(kargo_set_has(&w->warehouses, "ns/c"));
    char name[32];
    for (int i = 0; i < KARGO_SET_MAX + 10; i++) {
        snprintf(name, sizeof(name), "ns/p%d", i);
        (void)kargo_set_add(&w->promotions, name);
    }
    assert_int_equal(w->promotions.n, KARGO_SET_MAX);
    assert_true(w->promotions.overflow);
    kargo_window_free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_index_follows_kargo),
        cmocka_unit_test(test_literal_config_and_status_changes),
        cmocka_unit_test(test_pull_request_events),
        cmocka_unit_test(test_window_sets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
