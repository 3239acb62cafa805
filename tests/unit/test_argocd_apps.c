/* test_argocd_apps.c: unit tests for hookbus-argocd's matching
 * (consumers/argocd/apps.c, included h2o-style): targetRevision forms (HEAD,
 * branch, tag, bare names, semver constraints, commit SHAs, OCI digests),
 * Git / Helm / OCI sources, single and multi-source Applications,
 * manifest-generate-paths against changed paths (relative, absolute, globs,
 * several entries, unknown or truncated paths), ApplicationSet Git
 * generators nested in matrix and merge. Cases are data: an object as JSON,
 * an event, and the expected verdict. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "../../consumers/argocd/apps.c"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define MATCH NULL
#define GL "gitlab.example.com/acme/app"
#define URL "https://gitlab.example.com/Acme/App.git"

struct acase {
    const char *obj; /* metadata.annotations + spec, JSON */
    bool appset;
    const char *type; /* event type without dev.hookbus. */
    const char *repo, *ref, *tag, *digest;
    const char *data;
    const char *want; /* NULL: refresh; else the reason */
};

#define SRC(fields) "{\"spec\":{\"source\":{\"repoURL\":\"" URL "\"" fields "}}}"
#define SRCP(paths, fields)                                                                        \
    "{\"metadata\":{\"annotations\":{\"argocd.argoproj.io/manifest-generate-paths\":\"" paths      \
    "\"}},\"spec\":{\"source\":{\"repoURL\":\"" URL "\"" fields "}}}"
#define PATHS(list) "{\"changed_paths\":[" list "]}"

static const struct acase cases[] = {
    /* HEAD and empty: the default branch, main or master */
    {SRC(""), false, "git.push", GL, "refs/heads/main", NULL, NULL, NULL, MATCH},
    {SRC(",\"targetRevision\":\"HEAD\""), false, "git.push", GL, "refs/heads/master", NULL, NULL,
     NULL, MATCH},
    {SRC(",\"targetRevision\":\"HEAD\""), false, "git.push", GL, "refs/heads/dev", NULL, NULL, NULL,
     "branch"},
    {SRC(""), false, "git.tag", GL, "refs/tags/v1.0.0", "v1.0.0", NULL, NULL, "not_branch"},
    /* ... or the default branch the event names */
    {SRC(""), false, "git.push", GL, "refs/heads/trunk", NULL, NULL,
     "{\"default_branch\":\"trunk\"}", MATCH},
    {SRC(""), false, "git.push", GL, "refs/heads/main", NULL, NULL,
     "{\"default_branch\":\"trunk\"}", "branch"},
    /* explicit refs */
    {SRC(",\"targetRevision\":\"refs/heads/dev\""), false, "git.push", GL, "refs/heads/dev", NULL,
     NULL, NULL, MATCH},
    {SRC(",\"targetRevision\":\"refs/heads/dev\""), false, "git.tag", GL, "refs/tags/dev", "dev",
     NULL, NULL, "not_branch"},
    {SRC(",\"targetRevision\":\"refs/tags/v2\""), false, "git.tag", GL, "refs/tags/v2", "v2", NULL,
     NULL, MATCH},
    {SRC(",\"targetRevision\":\"refs/tags/v2\""), false, "git.push", GL, "refs/heads/v2", NULL,
     NULL, NULL, "not_tag"},
    /* a bare name is a branch or a tag (Argo CD does not tell them apart) */
    {SRC(",\"targetRevision\":\"release\""), false, "git.push", GL, "refs/heads/release", NULL,
     NULL, NULL, MATCH},
    {SRC(",\"targetRevision\":\"release\""), false, "git.tag", GL, "refs/tags/release", "release",
     NULL, NULL, MATCH},
    {SRC(",\"targetRevision\":\"release\""), false, "git.push", GL, "refs/heads/main", NULL, NULL,
     NULL, "branch"},
    {SRC(",\"targetRevision\":\"v1.2.3\""), false, "git.tag", GL, "refs/tags/v1.2.3", "v1.2.3",
     NULL, NULL, MATCH},
    {SRC(",\"targetRevision\":\"v1.2.3\""), false, "git.tag", GL, "refs/tags/v1.2.4", "v1.2.4",
     NULL, NULL, "tag"},
    /* semver constraints against tags */
    {SRC(",\"targetRevision\":\"1.2.*\""), false, "git.tag", GL, "refs/tags/v1.2.9", "v1.2.9", NULL,
     NULL, MATCH},
    {SRC(",\"targetRevision\":\"1.2.*\""), false, "git.tag", GL, "refs/tags/v1.3.0", "v1.3.0", NULL,
     NULL, "constraint"},
    {SRC(",\"targetRevision\":\">=1.0.0 <2.0.0\""), false, "git.tag", GL, NULL, "1.5.0", NULL, NULL,
     MATCH},
    {SRC(",\"targetRevision\":\"^1.0\""), false, "git.tag", GL, NULL, "latest", NULL, NULL,
     "not_semver"},
    {SRC(",\"targetRevision\":\"1.x\""), false, "git.push", GL, "refs/heads/main", NULL, NULL, NULL,
     "not_tag"},
    /* a commit SHA is pinned */
    {SRC(",\"targetRevision\":\"da1560886d4f094c3e6c9ef40349f7d38b5d27d7\""), false, "git.push", GL,
     "refs/heads/main", NULL, NULL, NULL, "pinned"},
    /* an event without ref or tag: "go check the tip" */
    {SRC(",\"targetRevision\":\"dev\""), false, "source.changed", GL, NULL, NULL, NULL, NULL,
     MATCH},
    /* kinds */
    {SRC(""), false, "image.push", GL, NULL, "1.0", NULL, NULL, "kind"},
    /* manifest-generate-paths, relative to the source path */
    {SRCP(".", ",\"path\":\"apps/web\""), false, "git.push", GL, "refs/heads/main", NULL, NULL,
     PATHS("\"apps/web/values.yaml\""), MATCH},
    {SRCP(".", ",\"path\":\"apps/web\""), false, "git.push", GL, "refs/heads/main", NULL, NULL,
     PATHS("\"apps/webx/values.yaml\",\"apps/api/a.yaml\""), "paths"},
    {SRCP("..", ",\"path\":\"apps/web\""), false, "git.push", GL, "refs/heads/main", NULL, NULL,
     PATHS("\"apps/api/a.yaml\""), MATCH},
    {SRCP("../../common", ",\"path\":\"apps/web\""), false, "git.push", GL, "refs/heads/main", NULL,
     NULL, PATHS("\"common/lib.yaml\""), MATCH},
    {SRCP("/common; ./overlays", ",\"path\":\"apps/web\""), false, "git.push", GL,
     "refs/heads/main", NULL, NULL, PATHS("\"apps/web/overlays/prod/k.yaml\""), MATCH},
    {SRCP("/common; ./overlays", ",\"path\":\"apps/web\""), false, "git.push", GL,
     "refs/heads/main", NULL, NULL, PATHS("\"apps/web/base/k.yaml\""), "paths"},
    {SRCP("/apps/*/values.yaml", ",\"path\":\"x\""), false, "git.push", GL, "refs/heads/main", NULL,
     NULL, PATHS("\"apps/api/values.yaml\""), MATCH},
    {SRCP("/apps/*/values.yaml", ",\"path\":\"x\""), false, "git.push", GL, "refs/heads/main", NULL,
     NULL, PATHS("\"apps/api/other.yaml\""), "paths"},
    {SRCP("/", ",\"path\":\"x\""), false, "git.push", GL, "refs/heads/main", NULL, NULL,
     PATHS("\"anything\""), MATCH},
    {SRCP("README.md", ""), false, "git.push", GL, "refs/heads/main", NULL, NULL,
     PATHS("\"README.md\""), MATCH},
    /* paths unknown or truncated: refresh */
    {SRCP(".", ",\"path\":\"apps/web\""), false, "git.push", GL, "refs/heads/main", NULL, NULL,
     NULL, MATCH},
    {SRCP(".", ",\"path\":\"apps/web\""), false, "git.push", GL, "refs/heads/main", NULL, NULL,
     "{\"changed_paths\":[\"other\"],\"changed_paths_truncated\":true}", MATCH},
    /* the branch is decided before the paths */
    {SRCP(".", ",\"path\":\"apps/web\",\"targetRevision\":\"dev\""), false, "git.push", GL,
     "refs/heads/main", NULL, NULL, PATHS("\"apps/web/a\""), "branch"},
    /* Helm chart repositories: exact versions and constraints */
    {"{\"spec\":{\"source\":{\"repoURL\":\"https://charts.example.com/\",\"chart\":\"app\","
     "\"targetRevision\":\"1.2.3\"}}}",
     false, "chart.push", "charts.example.com/app", NULL, "1.2.3", NULL, NULL, MATCH},
    {"{\"spec\":{\"source\":{\"repoURL\":\"https://charts.example.com/\",\"chart\":\"app\","
     "\"targetRevision\":\"1.2.3\"}}}",
     false, "chart.push", "charts.example.com/app", NULL, "1.2.4", NULL, NULL, "constraint"},
    {"{\"spec\":{\"source\":{\"repoURL\":\"oci://ghcr.io/acme/charts\",\"chart\":\"app\","
     "\"targetRevision\":\"~1.2\"}}}",
     false, "image.push", "ghcr.io/acme/charts/app", NULL, "1.2.8", NULL, NULL, MATCH},
    {"{\"spec\":{\"source\":{\"repoURL\":\"ghcr.io/acme/charts\",\"chart\":\"app\"}}}", false,
     "chart.push", "ghcr.io/acme/charts/app", NULL, "9.9.9", NULL, NULL, MATCH},
    {"{\"spec\":{\"source\":{\"repoURL\":\"ghcr.io/acme/charts\",\"chart\":\"app\"}}}", false,
     "git.push", "ghcr.io/acme/charts/app", "refs/heads/main", NULL, NULL, NULL, "kind"},
    /* OCI sources: tags, digests */
    {"{\"spec\":{\"source\":{\"repoURL\":\"oci://ghcr.io/acme/manifests\","
     "\"targetRevision\":\"prod\"}}}",
     false, "image.push", "ghcr.io/acme/manifests", NULL, "prod", NULL, NULL, MATCH},
    {"{\"spec\":{\"source\":{\"repoURL\":\"oci://ghcr.io/acme/manifests\","
     "\"targetRevision\":\"prod\"}}}",
     false, "image.push", "ghcr.io/acme/manifests", NULL, "dev", NULL, NULL, "tag"},
    {"{\"spec\":{\"source\":{\"repoURL\":\"oci://ghcr.io/acme/manifests\","
     "\"targetRevision\":\"prod\"}}}",
     false, "image.push", "ghcr.io/acme/manifests", NULL, NULL, "sha256:ab", NULL, MATCH},
    {"{\"spec\":{\"source\":{\"repoURL\":\"oci://ghcr.io/acme/manifests\","
     "\"targetRevision\":\"sha256:ab\"}}}",
     false, "image.push", "ghcr.io/acme/manifests", NULL, "x", "sha256:cd", NULL, "pinned"},
    {"{\"spec\":{\"source\":{\"repoURL\":\"oci://ghcr.io/acme/manifests\","
     "\"targetRevision\":\"sha256:ab\"}}}",
     false, "image.push", "ghcr.io/acme/manifests", NULL, "x", "sha256:ab", NULL, MATCH},
    {"{\"spec\":{\"source\":{\"repoURL\":\"oci://ghcr.io/acme/manifests\","
     "\"targetRevision\":\">=1.0.0\"}}}",
     false, "image.push", "ghcr.io/acme/manifests", NULL, "0.9.0", NULL, NULL, "constraint"},
    /* multi-source: the slot of the event's repository decides */
    {"{\"spec\":{\"sources\":[{\"repoURL\":\"https://github.com/acme/x\",\"targetRevision\":"
     "\"dev\"},{\"repoURL\":\"" URL "\",\"targetRevision\":\"main\",\"ref\":\"values\"}]}}",
     false, "git.push", GL, "refs/heads/main", NULL, NULL, NULL, MATCH},
    {"{\"spec\":{\"sources\":[{\"repoURL\":\"" URL "\",\"targetRevision\":\"dev\"},"
     "{\"repoURL\":\"" URL "\",\"targetRevision\":\"main\",\"path\":\"b\"}]}}",
     false, "git.push", GL, "refs/heads/main", NULL, NULL, NULL, MATCH},
    {"{\"spec\":{\"sources\":[{\"repoURL\":\"" URL "\",\"targetRevision\":\"dev\"},"
     "{\"repoURL\":\"" URL "\",\"targetRevision\":\"qa\"}]}}",
     false, "git.push", GL, "refs/heads/main", NULL, NULL, NULL, "branch"},
    /* ApplicationSet Git generators, nested too; no path filter */
    {"{\"spec\":{\"generators\":[{\"git\":{\"repoURL\":\"" URL "\",\"revision\":\"HEAD\"}}]}}",
     true, "git.push", GL, "refs/heads/main", NULL, NULL, PATHS("\"x\""), MATCH},
    {"{\"spec\":{\"generators\":[{\"matrix\":{\"generators\":[{\"list\":{}},{\"merge\":{"
     "\"generators\":[{\"git\":{\"repoURL\":\"" URL "\",\"revision\":\"release\"}}]}}]}}]}}",
     true, "git.push", GL, "refs/heads/release", NULL, NULL, NULL, MATCH},
    {"{\"spec\":{\"generators\":[{\"git\":{\"repoURL\":\"" URL "\"}}]}}", true, "git.push", GL,
     "refs/heads/feature", NULL, NULL, NULL, "branch"},
};

static struct hb_event *make_event(const struct acase *c)
{
    struct hb_event *ev = hb_event_new();
    char type[128];
    snprintf(type, sizeof(type), "dev.hookbus.%s", c->type);
    assert_int_equal(hb_event_set(ev, "type", type), 0);
    assert_int_equal(hb_event_set(ev, "repo", c->repo), 0);
    if (c->ref)
        assert_int_equal(hb_event_set(ev, "ref", c->ref), 0);
    if (c->tag)
        assert_int_equal(hb_event_set(ev, "tag", c->tag), 0);
    if (c->digest)
        assert_int_equal(hb_event_set(ev, "digest", c->digest), 0);
    if (c->data)
        assert_int_equal(hb_event_set_data(ev, c->data, strlen(c->data)), 0);
    return ev;
}

/* The verdict over every slot of the event's repository: refresh when any
 * slot wants it, else the first slot's reason; "no_slot" when none has it. */
static const char *verdict(const struct argo_app *a, const struct hb_facts *f)
{
    const char *why = "no_slot";
    bool first = true;
    for (size_t i = 0; i < a->nsrc; i++) {
        if (strcmp(a->src[i].repo_id, f->repo) != 0)
            continue;
        const char *r = argo_match(a, i, f);
        if (!r)
            return NULL;
        if (first)
            why = r;
        first = false;
    }
    return why;
}

static void test_cases(void **state)
{
    (void)state;
    int bad = 0;
    for (size_t i = 0; i < COUNT(cases); i++) {
        const struct acase *c = &cases[i];
        cJSON *json = cJSON_Parse(c->obj);
        if (!json) {
            print_error("case %zu: bad JSON %s\n", i, c->obj);
            bad++;
            continue;
        }
        struct argo_app *a = argo_app_compile(json, c->appset, NULL, NULL);
        cJSON_Delete(json);
        assert_non_null(a);
        struct hb_event *ev = make_event(c);
        struct hb_facts f;
        assert_int_equal(hb_facts_from_event(ev, &f), 0);
        const char *got = verdict(a, &f);
        if ((got == NULL) != (c->want == NULL) || (got && strcmp(got, c->want) != 0)) {
            print_error("case %zu: %s ref=%s tag=%s: got %s, want %s\n", i, c->obj,
                        c->ref ? c->ref : "-", c->tag ? c->tag : "-", got ? got : "refresh",
                        c->want ? c->want : "refresh");
            bad++;
        }
        hb_facts_clear(&f);
        hb_event_free(ev);
        argo_app_free(a);
    }
    assert_int_equal(bad, 0);
}

static void warn_count(void *ud, const char *why)
{
    (void)why;
    (*(int *)ud)++;
}

/* Sources without a usable URL are left out (and reported), the rest kept;
 * ids are canonical whatever the spelling. */
static void test_compile(void **state)
{
    (void)state;
    int warned = 0;
    cJSON *j = cJSON_Parse(
        "{\"spec\":{\"sources\":[{\"repoURL\":\"git@gitlab.example.com:Acme/App.git\"},"
        "{\"path\":\"x\"},{\"repoURL\":\"::nope::\"},"
        "{\"repoURL\":\"https://charts.example.com/repo/\",\"chart\":\"db\"},"
        "{\"repoURL\":\"oci://Registry.Example.com:5000/a/b\"}]}}");
    struct argo_app *a = argo_app_compile(j, false, warn_count, &warned);
    cJSON_Delete(j);
    assert_int_equal(a->nsrc, 3);
    assert_int_equal(warned, 2);
    assert_string_equal(a->src[0].repo_id, GL);
    assert_int_equal(a->src[0].kind, ARGO_SRC_GIT);
    assert_string_equal(a->src[1].repo_id, "charts.example.com/repo/db");
    assert_int_equal(a->src[1].kind, ARGO_SRC_HELM);
    assert_int_equal(a->src[2].kind, ARGO_SRC_OCI);
    assert_false(a->has_gen_paths);
    argo_app_free(a);
}

static void test_paths(void **state)
{
    (void)state;
    assert_true(argo_path_matches(".", "apps/web", "apps/web/a.yaml"));
    assert_false(argo_path_matches(".", "apps/web", "apps/web2/a.yaml"));
    assert_true(argo_path_matches("./", "", "anything/at/all"));
    assert_true(argo_path_matches("/a/../b", "x", "b/c"));
    assert_false(argo_path_matches("/a/../b", "x", "a/c"));
    assert_true(argo_path_matches("values-*.yaml", "env", "env/values-prod.yaml"));
    assert_false(argo_path_matches("values-*.yaml", "env", "env/values.yaml"));
    assert_true(argo_path_matches("//deep//dir/", "", "deep/dir/f"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_compile),
        cmocka_unit_test(test_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
