/* test_image_updater.c: unit tests for consumers/image-updater/mapping.c, the
 * pure part of hookbus-image-updater: canonical repository ids -> the
 * registry / repository strings Argo CD Image Updater compares (aliases,
 * Docker Hub's library/, GHCR, ECR, ports), the CloudEvent it is sent, which
 * tags of a debounced batch are sent (what each HTTP status means is
 * hb_http_classify's, tested in test_http_client.c).
 * The .c is included (h2o style) so the test needs no Makefile rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../consumers/image-updater/mapping.c"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define DIGEST "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

struct map_case {
    const char *repo, *registry, *repository; /* registry NULL: invalid */
};

/* Runs every case against m, printing each mismatch, then fails if any. */
static void run_map_cases(const struct iu_mapping *m, const struct map_case *cases, size_t n)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        char reg[IU_REGISTRY_MAX], repo[IU_REPOSITORY_MAX];
        int rc = iu_map_repo(m, cases[i].repo, reg, sizeof(reg), repo, sizeof(repo));
        if (!cases[i].registry) {
            if (rc == 0) {
                print_error("'%s' should be invalid, got %s %s\n", cases[i].repo, reg, repo);
                bad++;
            }
        } else if (rc != 0) {
            print_error("'%s' should map, got an error\n", cases[i].repo);
            bad++;
        } else if (strcmp(reg, cases[i].registry) || strcmp(repo, cases[i].repository)) {
            print_error("'%s' gave %s %s, want %s %s\n", cases[i].repo, reg, repo,
                        cases[i].registry, cases[i].repository);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

static void test_map_defaults(void **state)
{
    (void)state;
    struct iu_mapping m = {.strip_library = true};
    static const struct map_case cases[] = {
        /* Docker Hub: docker.io stays docker.io; official images lose library/ */
        {"docker.io/library/nginx", "docker.io", "nginx"},
        {"docker.io/acme/app", "docker.io", "acme/app"},
        {"docker.io/library/team/app", "docker.io", "library/team/app"},
        {"docker.io/libraryx/app", "docker.io", "libraryx/app"},
        /* other registries: host as is (lowercase), ports kept */
        {"ghcr.io/acme/app", "ghcr.io", "acme/app"},
        {"ghcr.io/Acme/App", "ghcr.io", "acme/app"},
        {"quay.io/acme/app", "quay.io", "acme/app"},
        {"harbor.example.com/library/nginx", "harbor.example.com", "library/nginx"},
        {"123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app",
         "123456789012.dkr.ecr.us-east-1.amazonaws.com", "team/app"},
        {"localhost:5000/team/app", "localhost:5000", "team/app"},
        {"registry.example.com:8443/a/b/c", "registry.example.com:8443", "a/b/c"},
        {"registry.example.com:443/a", "registry.example.com", "a"},
        {"europe-west1-docker.pkg.dev/proj/repo/img", "europe-west1-docker.pkg.dev",
         "proj/repo/img"},
        /* not image repositories */
        {"", NULL, NULL},
        {"ghcr.io/", NULL, NULL},
        {"bad repo", NULL, NULL},
    };
    run_map_cases(&m, cases, COUNT(cases));
    assert_int_equal(iu_map_repo(&m, NULL, NULL, 0, NULL, 0), -1);
}

static void test_map_keep_library(void **state)
{
    (void)state;
    struct iu_mapping m = {.strip_library = false};
    static const struct map_case cases[] = {
        {"docker.io/library/nginx", "docker.io", "library/nginx"},
        {"docker.io/acme/app", "docker.io", "acme/app"},
    };
    run_map_cases(&m, cases, COUNT(cases));
}

static void test_map_aliases(void **state)
{
    (void)state;
    char err[256];
    struct iu_mapping m = {.strip_library = true};
    /* Keys in any Docker Hub spelling or case name the canonical host. */
    assert_int_equal(
        iu_mapping_add_alias(&m, "index.docker.io", "registry-1.docker.io", err, sizeof(err)), 0);
    assert_int_equal(iu_mapping_add_alias(&m, "Harbor.Example.com:443", "harbor.internal:8443", err,
                                          sizeof(err)),
                     0);
    assert_int_equal(
        iu_mapping_add_alias(&m, "localhost:5000", "kind-registry:5000", err, sizeof(err)), 0);
    static const struct map_case cases[] = {
        {"docker.io/library/nginx", "registry-1.docker.io", "nginx"},
        {"docker.io/acme/app", "registry-1.docker.io", "acme/app"},
        {"harbor.example.com/acme/app", "harbor.internal:8443", "acme/app"},
        {"localhost:5000/app", "kind-registry:5000", "app"},
        /* no alias: unchanged; a port is part of the host */
        {"localhost:5001/app", "localhost:5001", "app"},
        {"ghcr.io/acme/app", "ghcr.io", "acme/app"},
    };
    run_map_cases(&m, cases, COUNT(cases));

    /* A second alias for the same registry, in another spelling, is refused. */
    assert_int_equal(iu_mapping_add_alias(&m, "docker.io", "docker.io", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "more than one alias"));
    assert_int_equal(iu_mapping_add_alias(&m, "ghcr.io/acme", "x", err, sizeof(err)), -1);
    assert_int_equal(iu_mapping_add_alias(&m, "", "x", err, sizeof(err)), -1);
    assert_int_equal(iu_mapping_add_alias(&m, "ghcr.io", "", err, sizeof(err)), -1);
    assert_int_equal(iu_mapping_add_alias(&m, "ghcr.io", "ghcr.io/x", err, sizeof(err)), -1);
    assert_int_equal(m.naliases, 3);
    iu_mapping_free(&m);
    assert_int_equal(m.naliases, 0);
}

static void test_map_buffers(void **state)
{
    (void)state;
    struct iu_mapping m = {.strip_library = true};
    char reg[8], repo[IU_REPOSITORY_MAX], small[4];
    assert_int_equal(iu_map_repo(&m, "ghcr.io/acme/app", reg, sizeof(reg), repo, sizeof(repo)), 0);
    assert_int_equal(iu_map_repo(&m, "quay.example.com/a", reg, sizeof(reg), repo, sizeof(repo)),
                     -1);
    assert_int_equal(iu_map_repo(&m, "ghcr.io/acme/app", reg, sizeof(reg), small, sizeof(small)),
                     -1);
}

static void test_body(void **state)
{
    (void)state;
    char *s = iu_build_body("id-1/2", "/receivers/hub", "2024-05-07T10:05:12.004Z", "docker.io",
                            "nginx", "1.27", DIGEST);
    assert_non_null(s);
    cJSON *j = cJSON_Parse(s);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "specversion")->valuestring, "1.0");
    assert_string_equal(cJSON_GetObjectItem(j, "id")->valuestring, "id-1/2");
    assert_string_equal(cJSON_GetObjectItem(j, "source")->valuestring, "/receivers/hub");
    /* Image Updater's generic handler wants "image" (or "container") in the type. */
    assert_non_null(strstr(cJSON_GetObjectItem(j, "type")->valuestring, "image"));
    assert_string_equal(cJSON_GetObjectItem(j, "subject")->valuestring, "nginx:1.27");
    assert_string_equal(cJSON_GetObjectItem(j, "time")->valuestring, "2024-05-07T10:05:12.004Z");
    assert_string_equal(cJSON_GetObjectItem(j, "datacontenttype")->valuestring, "application/json");
    cJSON *d = cJSON_GetObjectItem(j, "data");
    assert_string_equal(cJSON_GetObjectItem(d, "registry")->valuestring, "docker.io");
    assert_string_equal(cJSON_GetObjectItem(d, "repository")->valuestring, "nginx");
    assert_string_equal(cJSON_GetObjectItem(d, "tag")->valuestring, "1.27");
    assert_string_equal(cJSON_GetObjectItem(d, "digest")->valuestring, DIGEST);
    cJSON_Delete(j);
    free(s);

    /* No digest, no time: the keys are absent; odd characters are escaped. */
    s = iu_build_body("x", "/r", NULL, "ghcr.io", "acme/\"app\"", "v1", NULL);
    j = cJSON_Parse(s);
    assert_non_null(j);
    assert_null(cJSON_GetObjectItem(j, "time"));
    d = cJSON_GetObjectItem(j, "data");
    assert_null(cJSON_GetObjectItem(d, "digest"));
    assert_string_equal(cJSON_GetObjectItem(d, "repository")->valuestring, "acme/\"app\"");
    cJSON_Delete(j);
    free(s);
    s = iu_build_body("x", "/r", NULL, "ghcr.io", "a", "v1", "");
    assert_null(strstr(s, "digest"));
    free(s);
}

static struct hb_event *ev_tag(const char *id, const char *tag)
{
    struct hb_event *e = hb_event_new();
    assert_non_null(e);
    assert_int_equal(hb_event_set(e, "id", id), 0);
    if (tag)
        assert_int_equal(hb_event_set(e, "tag", tag), 0);
    return e;
}

static void test_pick_tags(void **state)
{
    (void)state;
    /* v1, v2, v1 (re-pushed), untagged, v3, v2: one per tag, the newest event
     * of each, ordered by that event's position (newest tag last). */
    struct hb_event *evs[] = {ev_tag("a", "v1"), ev_tag("b", "v2"), ev_tag("c", "v1"),
                              ev_tag("d", NULL), ev_tag("e", "v3"), ev_tag("f", "v2")};
    const struct hb_event *const *b = (const struct hb_event *const *)evs;
    size_t out[COUNT(evs)];
    size_t n = iu_pick_tags(b, COUNT(evs), out);
    assert_int_equal(n, 3);
    assert_string_equal(hb_event_get(evs[out[0]], "id"), "c");
    assert_string_equal(hb_event_get(evs[out[1]], "id"), "e");
    assert_string_equal(hb_event_get(evs[out[2]], "id"), "f");
    /* One event; one untagged; none. */
    assert_int_equal(iu_pick_tags(b, 1, out), 1);
    assert_int_equal(out[0], 0);
    assert_int_equal(iu_pick_tags(b + 3, 1, out), 0);
    assert_int_equal(iu_pick_tags(b, 0, out), 0);
    /* The same tag only: its newest event. */
    assert_int_equal(iu_pick_tags(b, 3, out), 2);
    assert_string_equal(hb_event_get(evs[out[0]], "id"), "b");
    assert_string_equal(hb_event_get(evs[out[1]], "id"), "c");
    for (size_t i = 0; i < COUNT(evs); i++)
        hb_event_free(evs[i]);
}

static void test_type_wanted(void **state)
{
    (void)state;
    assert_true(iu_type_wanted("dev.hookbus.image.push", false));
    assert_false(iu_type_wanted("dev.hookbus.chart.push", false));
    assert_true(iu_type_wanted("dev.hookbus.chart.push", true));
    assert_false(iu_type_wanted("dev.hookbus.git.push", true));
    assert_false(iu_type_wanted("dev.hookbus.image.push.x", true));
    assert_false(iu_type_wanted(NULL, true));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_map_defaults), cmocka_unit_test(test_map_keep_library),
        cmocka_unit_test(test_map_aliases),  cmocka_unit_test(test_map_buffers),
        cmocka_unit_test(test_body),         cmocka_unit_test(test_pick_tags),
        cmocka_unit_test(test_type_wanted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
