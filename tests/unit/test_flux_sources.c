/* test_flux_sources.c: unit tests for hookbus-flux's matching
 * (consumers/flux/sources.c, included h2o-style): GitRepository references
 * and their precedence (commit > name > semver > tag > branch, default
 * master), OCIRepository references (digest > semver > tag, default
 * latest), HelmRepository and HelmChart keys and versions, ImageRepository,
 * kinds of events, URL spellings. Cases are data: an object as JSON, an
 * event, and the expected index key and verdict. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "../../consumers/flux/sources.c"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define MATCH NULL
#define GL "gitlab.example.com/acme/app"

struct fcase {
    enum flux_kind kind;
    const char *spec; /* the spec object, JSON */
    const char *key;  /* expected index key */
    const char *type; /* event type without dev.hookbus. */
    const char *ref, *tag, *digest;
    const char *want; /* NULL: refresh */
};

#define GIT(ref) "{\"url\":\"https://gitlab.example.com/Acme/App.git\"" ref "}"
#define OCI(ref) "{\"url\":\"oci://harbor.example.com/acme/app\"" ref "}"

static const struct fcase cases[] = {
    /* GitRepository */
    {FLUX_GIT, GIT(",\"ref\":{\"branch\":\"main\"}"), GL, "git.push", "refs/heads/main", NULL, NULL,
     MATCH},
    {FLUX_GIT, GIT(",\"ref\":{\"branch\":\"main\"}"), GL, "git.push", "refs/heads/dev", NULL, NULL,
     "branch"},
    {FLUX_GIT, GIT(",\"ref\":{\"branch\":\"main\"}"), GL, "git.tag", "refs/tags/v1", "v1", NULL,
     "not_branch"},
    {FLUX_GIT, GIT(""), GL, "git.push", "refs/heads/master", NULL, NULL, MATCH},
    {FLUX_GIT, GIT(""), GL, "git.push", "refs/heads/main", NULL, NULL, "branch"},
    {FLUX_GIT, GIT(",\"ref\":{\"tag\":\"v1.0.0\"}"), GL, "git.tag", "refs/tags/v1.0.0", "v1.0.0",
     NULL, MATCH},
    {FLUX_GIT, GIT(",\"ref\":{\"tag\":\"v1.0.0\"}"), GL, "git.tag", "refs/tags/v1.0.1", "v1.0.1",
     NULL, "tag"},
    {FLUX_GIT, GIT(",\"ref\":{\"tag\":\"v1.0.0\"}"), GL, "git.push", "refs/heads/main", NULL, NULL,
     "not_tag"},
    {FLUX_GIT, GIT(",\"ref\":{\"semver\":\">=1.0.0 <2.0.0\",\"tag\":\"v0.1\"}"), GL, "git.tag",
     "refs/tags/v1.4.0", "v1.4.0", NULL, MATCH},
    {FLUX_GIT, GIT(",\"ref\":{\"semver\":\">=1.0.0 <2.0.0\"}"), GL, "git.tag", "refs/tags/v2.0.0",
     "v2.0.0", NULL, "constraint"},
    {FLUX_GIT, GIT(",\"ref\":{\"semver\":\"*\"}"), GL, "git.tag", "refs/tags/nightly", "nightly",
     NULL, "not_semver"},
    {FLUX_GIT, GIT(",\"ref\":{\"name\":\"refs/heads/main\",\"branch\":\"dev\"}"), GL, "git.push",
     "refs/heads/main", NULL, NULL, MATCH},
    {FLUX_GIT, GIT(",\"ref\":{\"name\":\"refs/tags/v3\"}"), GL, "git.tag", NULL, "v3", NULL, MATCH},
    {FLUX_GIT, GIT(",\"ref\":{\"name\":\"refs/pull/4/head\"}"), GL, "git.push", "refs/heads/main",
     NULL, NULL, "ref"},
    {FLUX_GIT, GIT(",\"ref\":{\"commit\":\"abc\",\"branch\":\"main\"}"), GL, "git.push",
     "refs/heads/main", NULL, NULL, "pinned"},
    {FLUX_GIT, GIT(",\"ref\":{\"branch\":\"dev\"}"), GL, "source.changed", NULL, NULL, NULL, MATCH},
    {FLUX_GIT, GIT(""), GL, "image.push", NULL, "1", NULL, "kind"},
    {FLUX_GIT, "{\"url\":\"ssh://git@gitlab.example.com:22/acme/app\"}", GL, "git.push",
     "refs/heads/master", NULL, NULL, MATCH},
    /* OCIRepository */
    {FLUX_OCI, OCI(""), "harbor.example.com/acme/app", "image.push", NULL, "latest", NULL, MATCH},
    {FLUX_OCI, OCI(""), "harbor.example.com/acme/app", "image.push", NULL, "v1", NULL, "tag"},
    {FLUX_OCI, OCI(",\"ref\":{\"tag\":\"v1\"}"), "harbor.example.com/acme/app", "image.push", NULL,
     "v1", "sha256:aa", MATCH},
    {FLUX_OCI, OCI(",\"ref\":{\"tag\":\"v1\"}"), "harbor.example.com/acme/app", "image.push", NULL,
     NULL, "sha256:aa", MATCH},
    {FLUX_OCI, OCI(",\"ref\":{\"semver\":\"^1.2\",\"tag\":\"x\"}"), "harbor.example.com/acme/app",
     "image.push", NULL, "1.3.0", NULL, MATCH},
    {FLUX_OCI, OCI(",\"ref\":{\"semver\":\"^1.2\"}"), "harbor.example.com/acme/app", "image.push",
     NULL, "2.0.0", NULL, "constraint"},
    {FLUX_OCI, OCI(",\"ref\":{\"digest\":\"sha256:aa\",\"tag\":\"v1\"}"),
     "harbor.example.com/acme/app", "image.push", NULL, "v1", "sha256:bb", "pinned"},
    {FLUX_OCI, OCI(",\"ref\":{\"digest\":\"sha256:aa\"}"), "harbor.example.com/acme/app",
     "image.push", NULL, "v1", "sha256:aa", MATCH},
    {FLUX_OCI, OCI(""), "harbor.example.com/acme/app", "git.push", "refs/heads/main", NULL, NULL,
     "kind"},
    {FLUX_OCI, OCI(",\"ref\":{\"semver\":\"((\"}"), "harbor.example.com/acme/app", "image.push",
     NULL, "x", NULL, MATCH}, /* an invalid range takes every event */
    /* HelmRepository: keyed by its URL, any chart below it */
    {FLUX_HELMREPO, "{\"type\":\"oci\",\"url\":\"oci://ghcr.io/acme/charts\"}",
     "ghcr.io/acme/charts", "chart.push", NULL, "1.0.0", NULL, MATCH},
    {FLUX_HELMREPO, "{\"url\":\"https://charts.example.com/stable/\"}", "charts.example.com/stable",
     "chart.push", NULL, "1.0.0", NULL, MATCH},
    {FLUX_HELMREPO, "{\"type\":\"oci\",\"url\":\"oci://ghcr.io/acme/charts\"}",
     "ghcr.io/acme/charts", "git.push", "refs/heads/main", NULL, NULL, "kind"},
    /* HelmChart: keyed by namespace, HelmRepository and chart */
    {FLUX_HELMCHART,
     "{\"chart\":\"app\",\"version\":\"1.2.x\",\"sourceRef\":{\"kind\":\"HelmRepository\","
     "\"name\":\"hr\"}}",
     "helmchart:ns/hr/app", "chart.push", NULL, "1.2.3", NULL, MATCH},
    {FLUX_HELMCHART,
     "{\"chart\":\"app\",\"version\":\"1.2.x\",\"sourceRef\":{\"kind\":\"HelmRepository\","
     "\"name\":\"hr\"}}",
     "helmchart:ns/hr/app", "chart.push", NULL, "1.3.0", NULL, "constraint"},
    {FLUX_HELMCHART,
     "{\"chart\":\"app\",\"sourceRef\":{\"kind\":\"HelmRepository\",\"name\":\"hr\"}}",
     "helmchart:ns/hr/app", "chart.push", NULL, "0.0.1", NULL, MATCH},
    {FLUX_HELMCHART,
     "{\"chart\":\"./charts/app\",\"sourceRef\":{\"kind\":\"GitRepository\",\"name\":\"g\"}}", "",
     "chart.push", NULL, "1", NULL, MATCH},
    /* ImageRepository: images, not charts */
    {FLUX_IMAGE, "{\"image\":\"nginx\"}", "docker.io/library/nginx", "image.push", NULL, "1.27",
     NULL, MATCH},
    {FLUX_IMAGE, "{\"image\":\"ghcr.io/acme/app\"}", "ghcr.io/acme/app", "chart.push", NULL, "1",
     NULL, "kind"},
};

static void test_cases(void **state)
{
    (void)state;
    int bad = 0;
    for (size_t i = 0; i < COUNT(cases); i++) {
        const struct fcase *c = &cases[i];
        char json[2048], err[300] = "", type[128];
        snprintf(json, sizeof(json), "{\"spec\":%s}", c->spec);
        cJSON *j = cJSON_Parse(json);
        assert_non_null(j);
        struct flux_src *s = flux_compile(c->kind, j, "ns", err, sizeof(err));
        cJSON_Delete(j);
        if (!s) {
            print_error("case %zu: %s: %s\n", i, c->spec, err);
            bad++;
            continue;
        }
        if (strcmp(s->key, c->key) != 0) {
            print_error("case %zu: key '%s', want '%s'\n", i, s->key, c->key);
            bad++;
        }
        struct hb_event *ev = hb_event_new();
        snprintf(type, sizeof(type), "dev.hookbus.%s", c->type);
        assert_int_equal(hb_event_set(ev, "type", type), 0);
        assert_int_equal(hb_event_set(ev, "repo", "any/repo"), 0);
        if (c->ref)
            assert_int_equal(hb_event_set(ev, "ref", c->ref), 0);
        if (c->tag)
            assert_int_equal(hb_event_set(ev, "tag", c->tag), 0);
        if (c->digest)
            assert_int_equal(hb_event_set(ev, "digest", c->digest), 0);
        struct hb_facts f;
        assert_int_equal(hb_facts_from_event(ev, &f), 0);
        const char *got = flux_match(s, &f);
        if ((got == NULL) != (c->want == NULL) || (got && strcmp(got, c->want) != 0)) {
            print_error("case %zu: %s %s ref=%s tag=%s: got %s, want %s\n", i, c->spec, c->type,
                        c->ref ? c->ref : "-", c->tag ? c->tag : "-", got ? got : "refresh",
                        c->want ? c->want : "refresh");
            bad++;
        }
        hb_facts_clear(&f);
        hb_event_free(ev);
        flux_src_free(s);
    }
    assert_int_equal(bad, 0);
}

static void test_unusable(void **state)
{
    (void)state;
    const struct {
        enum flux_kind kind;
        const char *obj;
    } bad[] = {
        {FLUX_GIT, "{\"spec\":{}}"},
        {FLUX_GIT, "{\"spec\":{\"url\":\"::nope::\"}}"},
        {FLUX_OCI, "{}"},
        {FLUX_HELMCHART, "{\"spec\":{\"chart\":\"x\"}}"},
        {FLUX_IMAGE, "{\"spec\":{\"image\":\"\"}}"},
    };
    for (size_t i = 0; i < COUNT(bad); i++) {
        char err[300] = "";
        cJSON *j = cJSON_Parse(bad[i].obj);
        assert_null(flux_compile(bad[i].kind, j, "ns", err, sizeof(err)));
        assert_true(err[0] != '\0');
        cJSON_Delete(j);
    }
}

static void test_chart_split(void **state)
{
    (void)state;
    char parent[256];
    const char *chart = NULL;
    assert_int_equal(flux_chart_split("ghcr.io/acme/charts/app", parent, sizeof(parent), &chart),
                     0);
    assert_string_equal(parent, "ghcr.io/acme/charts");
    assert_string_equal(chart, "app");
    assert_int_equal(flux_chart_split("app", parent, sizeof(parent), &chart), -1);
    assert_int_equal(flux_chart_split("a/", parent, sizeof(parent), &chart), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_unusable),
        cmocka_unit_test(test_chart_split),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
