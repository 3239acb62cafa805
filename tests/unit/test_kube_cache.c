/* test_kube_cache.c: unit tests for the generic list + watch cache index
 * (lib/kube_cache.c, included h2o-style, without its watch threads) and the
 * shared consumer chores (lib/kube_consumer.c targets, lib/event_facts.c):
 * keys and slots handed back on a visit, one object under several keys,
 * recompilation when the generation or a named annotation changes (and
 * only then), deletion, objects the compile step refuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "../../lib/kube_cache.c"
#include "hookbus/event_facts.h"
#include "hookbus/kube_consumer.h"

static int compiles;

/* value: a copy of the object's spec.keys list; keys: each string, slot = index. */
static void *compile_keys(void *ud, const void *json, const char *ns, const char *name,
                          struct hb_kube_keys *keys)
{
    (void)ud, (void)ns, (void)name;
    compiles++;
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive((const cJSON *)json, "spec"), "keys");
    if (!cJSON_IsArray(list))
        return NULL;
    const cJSON *k;
    size_t i = 0;
    cJSON_ArrayForEach (k, list) {
        assert_int_equal(hb_kube_keys_add(keys, k->valuestring, i++), 0);
    }
    return cJSON_Duplicate(list, 1);
}

static void release_keys(void *ud, void *value)
{
    (void)ud;
    cJSON_Delete(value);
}

struct seen {
    char what[16][160];
    int n;
};

static void collect(void *ud, const char *ns, const char *name, const void *value, size_t slot)
{
    struct seen *s = ud;
    const cJSON *k = cJSON_GetArrayItem((const cJSON *)value, (int)slot);
    if (s->n < 16)
        snprintf(s->what[s->n++], sizeof(s->what[0]), "%s/%s#%zu=%s", ns, name, slot,
                 k ? k->valuestring : "?");
}

static struct seen visit(struct hb_kube_cache *c, const char *key)
{
    struct seen s = {0};
    hb_kube_cache_visit(c, key, collect, &s);
    return s;
}

static void apply(struct hb_kube_cache *c, const char *json, bool deleted)
{
    cJSON *o = cJSON_Parse(json);
    assert_non_null(o);
    hb_kube_cache_apply(c, o, deleted);
    cJSON_Delete(o);
}

#define OBJ(name, gen, ann, keys)                                                                  \
    "{\"metadata\":{\"namespace\":\"ns\",\"name\":\"" name "\",\"uid\":\"u-" name                  \
    "\",\"generation\":" #gen ",\"resourceVersion\":\"" #gen "\",\"annotations\":{" ann "}},"      \
    "\"spec\":{\"keys\":[" keys "]}}"

static void test_index_and_versions(void **state)
{
    (void)state;
    static const char *const versioned[] = {"example.com/paths", NULL};
    struct hb_kube_cache_opts o = {.api = "/apis/g/v1",
                                   .resource = "things",
                                   .compile = compile_keys,
                                   .release = release_keys,
                                   .version_annotations = versioned};
    struct hb_kube_cache *c = hb_kube_cache_new(NULL, &o, NULL);
    assert_non_null(c);
    assert_string_equal(hb_kube_cache_resource(c), "things");
    compiles = 0;
    apply(c, OBJ("a", 1, "", "\"r1\",\"r2\",\"r1\""), false);
    apply(c, OBJ("b", 1, "", "\"r2\""), false);
    assert_int_equal(hb_kube_cache_count(c), 2);
    struct seen s = visit(c, "r1");
    assert_int_equal(s.n, 2); /* twice under r1: slots 0 and 2 */
    assert_true(strcmp(s.what[0], "ns/a#0=r1") == 0 || strcmp(s.what[1], "ns/a#0=r1") == 0);
    assert_true(strcmp(s.what[0], "ns/a#2=r1") == 0 || strcmp(s.what[1], "ns/a#2=r1") == 0);
    assert_int_equal(visit(c, "r2").n, 2);
    assert_int_equal(visit(c, "r3").n, 0);
    assert_int_equal(compiles, 2);

    /* same generation, other annotations (a refresh we wrote): not recompiled */
    apply(c, OBJ("a", 1, "\"example.com/refresh\":\"now\"", "\"r9\""), false);
    assert_int_equal(compiles, 2);
    assert_int_equal(visit(c, "r9").n, 0);
    /* a named annotation changed: recompiled although the generation did not */
    apply(c, OBJ("a", 1, "\"example.com/paths\":\"x\"", "\"r9\""), false);
    assert_int_equal(compiles, 3);
    assert_int_equal(visit(c, "r9").n, 1);
    assert_int_equal(visit(c, "r1").n, 0);
    /* a new generation */
    apply(c, OBJ("b", 2, "", "\"r3\""), false);
    assert_int_equal(visit(c, "r2").n, 0);
    assert_int_equal(visit(c, "r3").n, 1);

    /* refused by compile: counted, not indexed */
    apply(c, "{\"metadata\":{\"namespace\":\"ns\",\"name\":\"c\",\"generation\":1}}", false);
    assert_int_equal(hb_kube_cache_count(c), 3);
    /* deleted, twice; an object without namespace is ignored */
    apply(c, OBJ("b", 2, "", ""), true);
    apply(c, OBJ("b", 2, "", ""), true);
    apply(c, "{\"metadata\":{\"name\":\"no-ns\"}}", false);
    assert_int_equal(hb_kube_cache_count(c), 2);
    assert_int_equal(visit(c, "r3").n, 0);
    hb_kube_cache_free(c);
}

static void test_targets(void **state)
{
    (void)state;
    struct hb_kube_targets t = {0};
    hb_kube_targets_note(&t, "a", "x", "branch");
    hb_kube_targets_note(&t, "a", "y", NULL);
    hb_kube_targets_note(&t, "a", "x", NULL); /* another entry of x wants it */
    hb_kube_targets_note(&t, "a", "z", "paths");
    hb_kube_targets_note(&t, "a", "z", "kind");
    assert_int_equal(t.n, 3);
    assert_int_equal(hb_kube_targets_wanted(&t), 2);
    assert_string_equal(t.t[2].reason, "paths"); /* the first reason stays */
    char out[64];
    hb_kube_targets_join(&t, out, sizeof(out));
    assert_string_equal(out, "a/x,a/y");
    hb_kube_targets_join(&t, out, 7);
    assert_string_equal(out, "a/x..."); /* cut, and says so */
    hb_kube_targets_clear(&t);
    assert_int_equal(t.n, 0);
}

static void test_facts(void **state)
{
    (void)state;
    struct hb_event *ev = hb_event_new();
    struct hb_facts f;
    assert_int_equal(hb_facts_from_event(ev, &f), -1);
    hb_facts_clear(&f);
    assert_int_equal(hb_event_set(ev, "type", "dev.hookbus.git.push"), 0);
    assert_int_equal(hb_event_set(ev, "repo", "h/r"), 0);
    assert_int_equal(hb_event_set(ev, "ref", "refs/heads/main"), 0);
    const char *data = "{\"changed_paths\":[\"a\",\"b/c\"]}";
    assert_int_equal(hb_event_set_data(ev, data, strlen(data)), 0);
    assert_int_equal(hb_facts_from_event(ev, &f), 0);
    assert_int_equal(f.kind, HB_FACTS_GIT);
    assert_string_equal(f.branch, "main");
    assert_null(f.tag);
    assert_true(f.paths_known);
    assert_int_equal(f.npaths, 2);
    assert_string_equal(f.paths[1], "b/c");
    assert_null(f.default_branch);
    hb_facts_clear(&f);
    data = "{\"changed_paths\":[\"a\"],\"changed_paths_truncated\":true,"
           "\"default_branch\":\"trunk\"}";
    assert_int_equal(hb_event_set_data(ev, data, strlen(data)), 0);
    assert_int_equal(hb_facts_from_event(ev, &f), 0);
    assert_false(f.paths_known);
    assert_string_equal(f.default_branch, "trunk");
    hb_facts_clear(&f);
    assert_int_equal(hb_event_set(ev, "type", "dev.hookbus.chart.push"), 0);
    assert_int_equal(hb_event_set(ev, "ref", "release"), 0);
    assert_int_equal(hb_event_set(ev, "tag", "1.0.0"), 0);
    assert_int_equal(hb_event_set(ev, "digest", "sha256:ab"), 0);
    assert_int_equal(hb_facts_from_event(ev, &f), 0);
    assert_int_equal(f.kind, HB_FACTS_ARTIFACT);
    assert_true(f.chart);
    assert_null(f.branch); /* a bare ref with a tag is the tag's */
    assert_string_equal(f.tag, "1.0.0");
    assert_string_equal(f.digest, "sha256:ab");
    assert_false(f.paths_known);
    hb_facts_clear(&f);
    hb_event_free(ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_index_and_versions),
        cmocka_unit_test(test_targets),
        cmocka_unit_test(test_facts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
