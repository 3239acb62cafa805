/* test_kargo_match.c: unit tests for hookbus-kargo's subscription matching
 * (consumers/kargo/match.c, included h2o-style): every selection strategy,
 * allow / ignore regexes and the deprecated allowTags / ignoreTags, path
 * filters (base directories, glob: and regex:), canonicalization of every
 * Warehouse URL form, semver edge cases through the matcher, and invalid
 * rules that must match rather than drop. Cases are data: a subscription as
 * JSON, an event, and the expected verdict. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "../../consumers/kargo/match.c"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define MATCH NULL

struct mcase {
    const char *sub;  /* one spec.subscriptions element, JSON */
    const char *type; /* event type (without dev.hookbus.) */
    const char *repo, *ref, *tag;
    const char *data; /* event data JSON or NULL */
    const char *want; /* NULL: matches; else the skip reason */
};

static struct hb_event *make_event(const struct mcase *c)
{
    struct hb_event *ev = hb_event_new();
    char type[128];
    snprintf(type, sizeof(type), "dev.hookbus.%s", c->type);
    assert_int_equal(hb_event_set(ev, "type", type), 0);
    if (c->repo)
        assert_int_equal(hb_event_set(ev, "repo", c->repo), 0);
    if (c->ref)
        assert_int_equal(hb_event_set(ev, "ref", c->ref), 0);
    if (c->tag)
        assert_int_equal(hb_event_set(ev, "tag", c->tag), 0);
    if (c->data)
        assert_int_equal(hb_event_set_data(ev, c->data, strlen(c->data)), 0);
    return ev;
}

/* Runs every case, printing each mismatch, then fails if there was one. */
static void run_cases(const struct mcase *cases, size_t n)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        const struct mcase *c = &cases[i];
        char err[256] = "";
        cJSON *json = cJSON_Parse(c->sub);
        if (!json) {
            print_error("case %zu: bad JSON %s\n", i, c->sub);
            bad++;
            continue;
        }
        struct kargo_sub s;
        int rc = kargo_sub_compile(json, &s, err, sizeof(err));
        cJSON_Delete(json);
        if (rc < 0) {
            print_error("case %zu: %s: compile failed: %s\n", i, c->sub, err);
            bad++;
            continue;
        }
        struct hb_event *ev = make_event(c);
        struct kargo_facts f;
        assert_int_equal(kargo_facts_from_event(ev, &f), 0);
        if (strcmp(s.repo_id, f.repo) != 0) {
            print_error("case %zu: sub repo '%s' != event repo '%s'\n", i, s.repo_id, f.repo);
            bad++;
        } else {
            const char *got = kargo_sub_match(&s, &f);
            if ((got == NULL) != (c->want == NULL) || (got && strcmp(got, c->want) != 0)) {
                print_error("case %zu: %s ref=%s tag=%s: got %s, want %s\n", i, c->sub,
                            c->ref ? c->ref : "-", c->tag ? c->tag : "-", got ? got : "match",
                            c->want ? c->want : "match");
                bad++;
            }
        }
        kargo_facts_clear(&f);
        hb_event_free(ev);
        kargo_sub_clear(&s);
    }
    assert_int_equal(bad, 0);
}

#define GH "github.com/acme/app"
#define GITSUB(extra) "{\"git\":{\"repoURL\":\"https://github.com/acme/app.git\"" extra "}}"

static void test_git_newest_from_branch(void **state)
{
    (void)state;
    static const struct mcase cases[] = {
        /* no branch: main or master */
        {GITSUB(""), "git.push", GH, "refs/heads/main", NULL, NULL, MATCH},
        {GITSUB(""), "git.push", GH, "refs/heads/master", NULL, NULL, MATCH},
        {GITSUB(""), "git.push", GH, "refs/heads/dev", NULL, NULL, "branch"},
        {GITSUB(",\"commitSelectionStrategy\":\"NewestFromBranch\""), "git.push", GH,
         "refs/heads/main", NULL, NULL, MATCH},
        {GITSUB(",\"branch\":\"release/1.x\""), "git.push", GH, "refs/heads/release/1.x", NULL,
         NULL, MATCH},
        {GITSUB(",\"branch\":\"release/1.x\""), "git.push", GH, "refs/heads/main", NULL, NULL,
         "branch"},
        /* a tag is not a branch */
        {GITSUB(""), "git.tag", GH, "refs/tags/v1.0.0", "v1.0.0", NULL, "not_branch"},
        {GITSUB(""), "git.release", GH, NULL, "v1.0.0", NULL, "not_branch"},
        {GITSUB(""), "git.push", GH, "refs/pull/1/head", NULL, NULL, "not_branch"},
        /* no ref or tag: go look */
        {GITSUB(",\"branch\":\"x\""), "source.changed", GH, NULL, NULL, NULL, MATCH},
        /* bare ref from a generic receiver */
        {GITSUB(""), "ref.requested", GH, "main", NULL, NULL, MATCH},
        {GITSUB(",\"branch\":\"dev\""), "ref.requested", GH, "main", NULL, NULL, "branch"},
        /* tag rules do not apply to branches */
        {GITSUB(",\"allowTagsRegexes\":[\"^v\"]"), "git.push", GH, "refs/heads/main", NULL, NULL,
         MATCH},
    };
    run_cases(cases, COUNT(cases));
}

static void test_git_tag_strategies(void **state)
{
    (void)state;
    static const struct mcase cases[] = {
        {GITSUB(",\"commitSelectionStrategy\":\"SemVer\""), "git.tag", GH, "refs/tags/v1.2.3",
         "v1.2.3", NULL, MATCH},
        {GITSUB(",\"commitSelectionStrategy\":\"SemVer\""), "git.push", GH, "refs/heads/main", NULL,
         NULL, "not_tag"},
        /* strictSemvers defaults to true */
        {GITSUB(",\"commitSelectionStrategy\":\"SemVer\""), "git.tag", GH, "refs/tags/v1.2", NULL,
         NULL, "not_semver"},
        {GITSUB(",\"commitSelectionStrategy\":\"SemVer\",\"strictSemvers\":false"), "git.tag", GH,
         "refs/tags/v1.2", NULL, NULL, MATCH},
        {GITSUB(",\"commitSelectionStrategy\":\"SemVer\",\"strictSemvers\":true"), "git.tag", GH,
         "refs/tags/01.2.3", NULL, NULL, "not_semver"},
        {GITSUB(",\"commitSelectionStrategy\":\"SemVer\""), "git.tag", GH, "refs/tags/latest", NULL,
         NULL, "not_semver"},
        {GITSUB(",\"commitSelectionStrategy\":\"SemVer\",\"semverConstraint\":\"^1.2.0\""),
         "git.tag", GH, "refs/tags/v1.9.0", NULL, NULL, MATCH},
        {GITSUB(",\"commitSelectionStrategy\":\"SemVer\",\"semverConstraint\":\"^1.2.0\""),
         "git.tag", GH, "refs/tags/v2.0.0", NULL, NULL, "constraint"},
        {GITSUB(",\"commitSelectionStrategy\":\"SemVer\",\"semverConstraint\":\"^1.2.0\""),
         "git.tag", GH, "refs/tags/v1.3.0-rc.1", NULL, NULL, "constraint"},
        {GITSUB(",\"commitSelectionStrategy\":\"SemVer\",\"semverConstraint\":\">=1.3.0-0\""),
         "git.tag", GH, "refs/tags/v1.3.0-rc.1", NULL, NULL, MATCH},
        {GITSUB(",\"commitSelectionStrategy\":\"SemVer\",\"semverConstraint\":\"~1\""), "git.tag",
         GH, "refs/tags/1.9.9", NULL, NULL, MATCH},
        {GITSUB(",\"commitSelectionStrategy\":\"SemVer\",\"semverConstraint\":\"^0.2\""), "git.tag",
         GH, "refs/tags/0.3.0", NULL, NULL, "constraint"},
        {GITSUB(",\"commitSelectionStrategy\":\"SemVer\",\"semverConstraint\":\"1.2.x || >=3\""),
         "git.tag", GH, "refs/tags/3.1.0", NULL, NULL, MATCH},
        {GITSUB(",\"commitSelectionStrategy\":\"SemVer\",\"semverConstraint\":\"1.0 - 1.4.5\""),
         "git.tag", GH, "refs/tags/1.4.6", NULL, NULL, "constraint"},
        /* SemVer also honours allow / ignore */
        {GITSUB(",\"commitSelectionStrategy\":\"SemVer\",\"ignoreTagsRegexes\":[\"-rc\"]"),
         "git.tag", GH, "refs/tags/v1.0.0-rc.1", NULL, NULL, "ignore_regex"},
        /* Lexical / NewestTag: regexes only */
        {GITSUB(",\"commitSelectionStrategy\":\"Lexical\""), "git.tag", GH,
         "refs/tags/nightly-20240101", NULL, NULL, MATCH},
        {GITSUB(",\"commitSelectionStrategy\":\"Lexical\",\"allowTagsRegexes\":[\"^nightly-\"]"),
         "git.tag", GH, "refs/tags/nightly-20240101", NULL, NULL, MATCH},
        {GITSUB(",\"commitSelectionStrategy\":\"Lexical\",\"allowTagsRegexes\":[\"^nightly-\"]"),
         "git.tag", GH, "refs/tags/v1", NULL, NULL, "allow_regex"},
        {GITSUB(",\"commitSelectionStrategy\":\"NewestTag\",\"allowTagsRegexes\":[\"^a\",\"^b\"]"),
         "git.tag", GH, "refs/tags/b-1", NULL, NULL, MATCH},
        {GITSUB(",\"commitSelectionStrategy\":\"NewestTag\",\"ignoreTagsRegexes\":[\"^tmp\"]"),
         "git.tag", GH, "refs/tags/tmp-1", NULL, NULL, "ignore_regex"},
        {GITSUB(",\"commitSelectionStrategy\":\"NewestTag\""), "git.push", GH, "refs/heads/main",
         NULL, NULL, "not_tag"},
        /* the tag attribute wins over the ref */
        {GITSUB(",\"commitSelectionStrategy\":\"NewestTag\",\"allowTagsRegexes\":[\"^v\"]"),
         "git.release", GH, NULL, "v3", NULL, MATCH},
        /* unanchored, like Go's MatchString */
        {GITSUB(",\"commitSelectionStrategy\":\"NewestTag\",\"allowTagsRegexes\":[\"prod\"]"),
         "git.tag", GH, "refs/tags/eu-prod-7", NULL, NULL, MATCH},
        /* deprecated allowTags (one regex) and ignoreTags (exact names) */
        {GITSUB(",\"commitSelectionStrategy\":\"NewestTag\",\"allowTags\":\"^v\\\\d\""), "git.tag",
         GH, "refs/tags/v1", NULL, NULL, MATCH},
        {GITSUB(",\"commitSelectionStrategy\":\"NewestTag\",\"allowTags\":\"^v\\\\d\""), "git.tag",
         GH, "refs/tags/x1", NULL, NULL, "allow_regex"},
        {GITSUB(",\"commitSelectionStrategy\":\"NewestTag\",\"ignoreTags\":[\"v1\",\"v2\"]"),
         "git.tag", GH, "refs/tags/v2", NULL, NULL, "ignore_tag"},
        {GITSUB(",\"commitSelectionStrategy\":\"NewestTag\",\"ignoreTags\":[\"v1\"]"), "git.tag",
         GH, "refs/tags/v10", NULL, NULL, MATCH},
        /* a git event never concerns image subscriptions and vice versa */
        {"{\"image\":{\"repoURL\":\"github.com/acme/app\"}}", "git.push", GH, "refs/heads/main",
         NULL, NULL, "kind"},
        {GITSUB(""), "image.push", GH, NULL, "v1", NULL, "kind"},
    };
    run_cases(cases, COUNT(cases));
}

#define PATHS(list) "{\"changed_paths\":[" list "]}"

static void test_git_paths(void **state)
{
    (void)state;
    static const struct mcase cases[] = {
        /* base directories */
        {GITSUB(",\"includePaths\":[\"apps/web\"]"), "git.push", GH, "refs/heads/main", NULL,
         PATHS("\"apps/web/values.yaml\""), MATCH},
        {GITSUB(",\"includePaths\":[\"apps/web/\"]"), "git.push", GH, "refs/heads/main", NULL,
         PATHS("\"apps/web\""), MATCH},
        {GITSUB(",\"includePaths\":[\"apps/web\"]"), "git.push", GH, "refs/heads/main", NULL,
         PATHS("\"apps/webshop/x\""), "paths"},
        {GITSUB(",\"includePaths\":[\"./apps\"]"), "git.push", GH, "refs/heads/main", NULL,
         PATHS("\"docs/a.md\",\"apps/b\""), MATCH},
        /* excludes */
        {GITSUB(",\"excludePaths\":[\"docs\"]"), "git.push", GH, "refs/heads/main", NULL,
         PATHS("\"docs/a.md\""), "paths"},
        {GITSUB(",\"excludePaths\":[\"docs\"]"), "git.push", GH, "refs/heads/main", NULL,
         PATHS("\"docs/a.md\",\"src/x.c\""), MATCH},
        {GITSUB(",\"includePaths\":[\"apps\"],\"excludePaths\":[\"glob:**/*.md\"]"), "git.push", GH,
         "refs/heads/main", NULL, PATHS("\"apps/README.md\""), "paths"},
        {GITSUB(",\"includePaths\":[\"apps\"],\"excludePaths\":[\"glob:**/*.md\"]"), "git.push", GH,
         "refs/heads/main", NULL, PATHS("\"apps/README.md\",\"apps/x.yaml\""), MATCH},
        /* globs: * stays in a segment, ** crosses them, {a,b}, ?, classes */
        {GITSUB(",\"includePaths\":[\"glob:apps/*.yaml\"]"), "git.push", GH, "refs/heads/main",
         NULL, PATHS("\"apps/sub/x.yaml\""), "paths"},
        {GITSUB(",\"includePaths\":[\"glob:apps/*.yaml\"]"), "git.push", GH, "refs/heads/main",
         NULL, PATHS("\"apps/x.yaml\""), MATCH},
        {GITSUB(",\"includePaths\":[\"glob:apps/**/x.yaml\"]"), "git.push", GH, "refs/heads/main",
         NULL, PATHS("\"apps/x.yaml\""), MATCH},
        {GITSUB(",\"includePaths\":[\"glob:apps/**/x.yaml\"]"), "git.push", GH, "refs/heads/main",
         NULL, PATHS("\"apps/a/b/x.yaml\""), MATCH},
        {GITSUB(",\"includePaths\":[\"glob:apps/**\"]"), "git.push", GH, "refs/heads/main", NULL,
         PATHS("\"apps/a/b/c\""), MATCH},
        {GITSUB(",\"includePaths\":[\"glob:{charts,apps}/?/[a-c]*.y[!x]ml\"]"), "git.push", GH,
         "refs/heads/main", NULL, PATHS("\"charts/1/b.yaml\""), MATCH},
        {GITSUB(",\"includePaths\":[\"glob:{charts,apps}/?/[a-c]*.y[!x]ml\"]"), "git.push", GH,
         "refs/heads/main", NULL, PATHS("\"charts/1/d.yaml\""), "paths"},
        {GITSUB(",\"includePaths\":[\"glob:a.b\"]"), "git.push", GH, "refs/heads/main", NULL,
         PATHS("\"axb\""), "paths"},
        /* regexes */
        {GITSUB(",\"includePaths\":[\"regex:^env/(dev|prod)/\"]"), "git.push", GH,
         "refs/heads/main", NULL, PATHS("\"env/prod/a\""), MATCH},
        {GITSUB(",\"includePaths\":[\"regexp:^env/(dev|prod)/\"]"), "git.push", GH,
         "refs/heads/main", NULL, PATHS("\"env/stage/a\""), "paths"},
        /* unknown, truncated or empty paths: no filtering */
        {GITSUB(",\"includePaths\":[\"apps\"]"), "git.push", GH, "refs/heads/main", NULL, NULL,
         MATCH},
        {GITSUB(",\"includePaths\":[\"apps\"]"), "git.push", GH, "refs/heads/main", NULL,
         "{\"changed_paths\":[\"docs/x\"],\"changed_paths_truncated\":true}", MATCH},
        {GITSUB(",\"includePaths\":[\"apps\"]"), "git.push", GH, "refs/heads/main", NULL, PATHS(""),
         MATCH},
        /* filters apply after the branch check */
        {GITSUB(",\"includePaths\":[\"apps\"]"), "git.push", GH, "refs/heads/dev", NULL,
         PATHS("\"apps/x\""), "branch"},
    };
    run_cases(cases, COUNT(cases));
}

#define IMG(extra) "{\"image\":{\"repoURL\":\"ghcr.io/acme/app\"" extra "}}"
#define GHCR "ghcr.io/acme/app"

static void test_image_strategies(void **state)
{
    (void)state;
    static const struct mcase cases[] = {
        /* SemVer is the default; non-semver tags are not candidates */
        {IMG(""), "image.push", GHCR, NULL, "1.2.3", NULL, MATCH},
        {IMG(""), "image.push", GHCR, NULL, "latest", NULL, "not_semver"},
        {IMG(""), "image.push", GHCR, NULL, "v1.2", NULL, "not_semver"},
        {IMG(",\"strictSemvers\":false"), "image.push", GHCR, NULL, "v1.2", NULL, MATCH},
        {IMG(",\"constraint\":\"^1.26.0\""), "image.push", GHCR, NULL, "1.27.1", NULL, MATCH},
        {IMG(",\"constraint\":\"^1.26.0\""), "image.push", GHCR, NULL, "1.25.9", NULL,
         "constraint"},
        {IMG(",\"semverConstraint\":\"<2\""), "image.push", GHCR, NULL, "2.0.0", NULL,
         "constraint"},
        {IMG(",\"imageSelectionStrategy\":\"SemVer\",\"allowTagsRegexes\":[\"^v\"]"), "image.push",
         GHCR, NULL, "1.0.0", NULL, "allow_regex"},
        {IMG(",\"constraint\":\"!=1.0.0\""), "image.push", GHCR, NULL, "1.0.0", NULL, "constraint"},
        {IMG(",\"constraint\":\"1.2.x\""), "image.push", GHCR, NULL, "v1.2.7", NULL, MATCH},
        /* Lexical / NewestBuild: regexes only */
        {IMG(",\"imageSelectionStrategy\":\"Lexical\""), "image.push", GHCR, NULL, "latest", NULL,
         MATCH},
        {IMG(",\"imageSelectionStrategy\":\"Lexical\",\"ignoreTagsRegexes\":[\"^latest$\"]"),
         "image.push", GHCR, NULL, "latest", NULL, "ignore_regex"},
        {IMG(",\"imageSelectionStrategy\":\"NewestBuild\""), "image.push", GHCR, NULL, "sha-abc",
         NULL, MATCH},
        {IMG(",\"imageSelectionStrategy\":\"NewestBuild\",\"allowTagsRegexes\":[\"^[0-9a-f]{7}$\"]"),
         "image.push", GHCR, NULL, "main", NULL, "allow_regex"},
        /* Digest follows one mutable tag, named by constraint */
        {IMG(",\"imageSelectionStrategy\":\"Digest\",\"constraint\":\"latest\""), "image.push",
         GHCR, NULL, "latest", NULL, MATCH},
        {IMG(",\"imageSelectionStrategy\":\"Digest\",\"constraint\":\"latest\""), "image.push",
         GHCR, NULL, "stable", NULL, "digest_tag"},
        {IMG(",\"imageSelectionStrategy\":\"Digest\",\"semverConstraint\":\"stable\""),
         "image.push", GHCR, NULL, "stable", NULL, MATCH},
        /* a push without tag (digest only) */
        {IMG(",\"imageSelectionStrategy\":\"Digest\",\"constraint\":\"latest\""), "image.push",
         GHCR, NULL, NULL, NULL, MATCH},
        {IMG(",\"constraint\":\"^9\""), "image.push", GHCR, NULL, NULL, NULL, MATCH},
        /* a generic event with a bare ref counts as a tag for images */
        {IMG(""), "ref.requested", GHCR, "1.0.0", NULL, NULL, MATCH},
    };
    run_cases(cases, COUNT(cases));
}

static void test_charts(void **state)
{
    (void)state;
    static const struct mcase cases[] = {
        {"{\"chart\":{\"repoURL\":\"oci://ghcr.io/acme/charts/app\"}}", "chart.push",
         "ghcr.io/acme/charts/app", NULL, "0.1.0", NULL, MATCH},
        {"{\"chart\":{\"repoURL\":\"oci://ghcr.io/acme/charts/app\",\"semverConstraint\":\"^1\"}}",
         "chart.push", "ghcr.io/acme/charts/app", NULL, "0.1.0", NULL, "constraint"},
        {"{\"chart\":{\"repoURL\":\"oci://ghcr.io/acme/charts/app\",\"semverConstraint\":\"^1\"}}",
         "chart.push", "ghcr.io/acme/charts/app", NULL, "1.4.0", NULL, MATCH},
        /* registries that publish OCI charts as image pushes */
        {"{\"chart\":{\"repoURL\":\"oci://harbor.example.com/p/app\",\"semverConstraint\":\"^1\"}}",
         "image.push", "harbor.example.com/p/app", NULL, "1.4.0", NULL, MATCH},
        {"{\"chart\":{\"repoURL\":\"oci://ghcr.io/acme/charts/app\",\"semverConstraint\":\"^1\"}}",
         "chart.push", "ghcr.io/acme/charts/app", NULL, "not-a-version", NULL, "not_semver"},
        /* HTTP repositories: repoURL + name */
        {"{\"chart\":{\"repoURL\":\"https://charts.example.com/stable/\",\"name\":\"app\"}}",
         "chart.push", "charts.example.com/stable/app", NULL, "2.0.0", NULL, MATCH},
    };
    run_cases(cases, COUNT(cases));
}

/* Every URL form a Warehouse may use meets the gateway's canonical id. */
static void test_canonical_ids(void **state)
{
    (void)state;
    static const struct {
        enum kargo_sub_kind kind;
        const char *url, *name, *id;
    } cases[] = {
        {KARGO_SUB_GIT, "https://github.com/Acme/App.git", NULL, GH},
        {KARGO_SUB_GIT, "https://github.com/acme/app", NULL, GH},
        {KARGO_SUB_GIT, "https://user:token@github.com/acme/app.git/", NULL, GH},
        {KARGO_SUB_GIT, "http://github.com/acme/app", NULL, GH},
        {KARGO_SUB_GIT, "ssh://git@github.com/acme/app.git", NULL, GH},
        {KARGO_SUB_GIT, "ssh://git@github.com:22/acme/app", NULL, GH},
        {KARGO_SUB_GIT, "git@github.com:acme/app.git", NULL, GH},
        {KARGO_SUB_GIT, "git@github.com:acme/app", NULL, GH},
        {KARGO_SUB_GIT, "https://gitlab.example.com:8443/group/sub/app.git", NULL,
         "gitlab.example.com:8443/group/sub/app"},
        {KARGO_SUB_GIT, "ssh://git@bitbucket.example.com:7999/proj/app.git", NULL,
         "bitbucket.example.com/scm/proj/app"},
        {KARGO_SUB_GIT, "https://bitbucket.example.com/scm/proj/app.git", NULL,
         "bitbucket.example.com/scm/proj/app"},
        {KARGO_SUB_GIT, "git@ssh.dev.azure.com:v3/org/proj/app", NULL,
         "dev.azure.com/org/proj/_git/app"},
        {KARGO_SUB_GIT, "https://dev.azure.com/org/proj/_git/app", NULL,
         "dev.azure.com/org/proj/_git/app"},
        {KARGO_SUB_IMAGE, "nginx", NULL, "docker.io/library/nginx"},
        {KARGO_SUB_IMAGE, "docker.io/nginx", NULL, "docker.io/library/nginx"},
        {KARGO_SUB_IMAGE, "index.docker.io/library/nginx", NULL, "docker.io/library/nginx"},
        {KARGO_SUB_IMAGE, "registry-1.docker.io/acme/app", NULL, "docker.io/acme/app"},
        {KARGO_SUB_IMAGE, "acme/app", NULL, "docker.io/acme/app"},
        {KARGO_SUB_IMAGE, "GHCR.io/acme/app", NULL, "ghcr.io/acme/app"},
        {KARGO_SUB_IMAGE, "localhost:5000/app", NULL, "localhost:5000/app"},
        {KARGO_SUB_IMAGE, "public.ecr.aws/nginx/nginx", NULL, "public.ecr.aws/nginx/nginx"},
        {KARGO_SUB_CHART, "oci://ghcr.io/acme/charts/app", NULL, "ghcr.io/acme/charts/app"},
        {KARGO_SUB_CHART, "oci://registry-1.docker.io/bitnamicharts/redis", NULL,
         "docker.io/bitnamicharts/redis"},
        {KARGO_SUB_CHART, "https://charts.example.com", "app", "charts.example.com/app"},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        char out[HB_REPO_ID_MAX];
        if (kargo_repo_id(cases[i].kind, cases[i].url, cases[i].name, out, sizeof(out)) != 0 ||
            strcmp(out, cases[i].id) != 0)
            fail_msg("%s: got %s, want %s", cases[i].url, out, cases[i].id);
    }
    char out[HB_REPO_ID_MAX];
    assert_int_equal(kargo_repo_id(KARGO_SUB_GIT, "not a url", NULL, out, sizeof(out)), -1);
    assert_int_equal(kargo_repo_id(KARGO_SUB_GIT, NULL, NULL, out, sizeof(out)), -1);
}

/* Invalid rules are reported and the subscription matches everything of its
 * repository; a subscription without a usable repoURL fails to compile. */
static void test_invalid_rules(void **state)
{
    (void)state;
    static const struct mcase cases[] = {
        {GITSUB(",\"commitSelectionStrategy\":\"NewestTag\",\"allowTagsRegexes\":[\"(\"]"),
         "git.tag", GH, "refs/tags/v1", NULL, NULL, MATCH},
        {GITSUB(",\"commitSelectionStrategy\":\"SemVer\",\"semverConstraint\":\">>1\""), "git.tag",
         GH, "refs/tags/nope", NULL, NULL, MATCH},
        {GITSUB(",\"includePaths\":[\"regex:[\"]"), "git.push", GH, "refs/heads/dev", NULL,
         PATHS("\"x\""), MATCH},
        {GITSUB(",\"includePaths\":[\"glob:[abc\"]"), "git.push", GH, "refs/heads/main", NULL,
         PATHS("\"x\""), MATCH},
        {IMG(",\"imageSelectionStrategy\":\"Newest\""), "image.push", GHCR, NULL, "x", NULL, MATCH},
        /* still never for the other kind of event */
        {IMG(",\"constraint\":\"^^\""), "git.push", GHCR, "refs/heads/main", NULL, NULL, "kind"},
    };
    run_cases(cases, COUNT(cases));

    static const char *const reported[] = {
        GITSUB(",\"allowTagsRegexes\":[\"a\",\"(?<\"]"),
        GITSUB(",\"commitSelectionStrategy\":\"SemVer\",\"semverConstraint\":\"1.2.3.4\""),
        IMG(",\"constraint\":\"~>x.y\""),
        GITSUB(",\"excludePaths\":[\"regexp:*\"]"),
    };
    for (size_t i = 0; i < COUNT(reported); i++) {
        cJSON *j = cJSON_Parse(reported[i]);
        struct kargo_sub s;
        char err[256];
        assert_int_equal(kargo_sub_compile(j, &s, err, sizeof(err)), 0);
        if (!s.invalid)
            fail_msg("%s: not reported invalid", reported[i]);
        kargo_sub_clear(&s);
        cJSON_Delete(j);
    }

    static const char *const unusable[] = {
        "{\"git\":{}}",
        "{\"git\":{\"repoURL\":\"\"}}",
        "{\"image\":{\"repoURL\":\"UPPER CASE/with space\"}}",
        "{\"helm\":{\"repoURL\":\"x\"}}",
        "{}",
    };
    for (size_t i = 0; i < COUNT(unusable); i++) {
        cJSON *j = cJSON_Parse(unusable[i]);
        struct kargo_sub s;
        char err[256] = "";
        if (kargo_sub_compile(j, &s, err, sizeof(err)) != -1 || !err[0])
            fail_msg("%s: compiled", unusable[i]);
        kargo_sub_clear(&s);
        cJSON_Delete(j);
    }
}

static void test_glob_to_regex(void **state)
{
    (void)state;
    char out[256];
    assert_int_equal(kargo_glob_to_regex("a/*.md", out, sizeof(out)), 0);
    assert_string_equal(out, "^a/[^/]*\\.md$");
    assert_int_equal(kargo_glob_to_regex("**/x", out, sizeof(out)), 0);
    assert_string_equal(out, "^(?:[^/]*(?:/[^/]*)*/)?x$");
    assert_int_equal(kargo_glob_to_regex("{a,b}", out, sizeof(out)), 0);
    assert_string_equal(out, "^(?:a|b)$");
    assert_int_equal(kargo_glob_to_regex("\\*", out, sizeof(out)), 0);
    assert_string_equal(out, "^\\*$");
    assert_int_equal(kargo_glob_to_regex("{a", out, sizeof(out)), -1);
    assert_int_equal(kargo_glob_to_regex("[a", out, sizeof(out)), -1);
    assert_int_equal(kargo_glob_to_regex("x\\", out, sizeof(out)), -1);
    assert_int_equal(kargo_glob_to_regex("aaaaaaaaaaaaaaaa", out, 8), -1);
}

static void test_facts(void **state)
{
    (void)state;
    struct mcase c = {NULL, "git.push", GH, "refs/heads/main", NULL, PATHS("\"a\",\"b\",1"), NULL};
    struct hb_event *ev = make_event(&c);
    struct kargo_facts f;
    assert_int_equal(kargo_facts_from_event(ev, &f), 0);
    assert_int_equal(f.kind, KARGO_EV_GIT);
    assert_string_equal(f.branch, "main");
    assert_null(f.tag);
    assert_true(f.paths_known);
    assert_int_equal(f.npaths, 2);
    kargo_facts_clear(&f);
    hb_event_free(ev);

    struct mcase nr = {NULL, "image.push", NULL, NULL, "v1", NULL, NULL};
    ev = make_event(&nr);
    assert_int_equal(kargo_facts_from_event(ev, &f), -1);
    kargo_facts_clear(&f);
    hb_event_free(ev);

    struct mcase bad = {NULL, "git.push", GH, "refs/heads/x", NULL, "{not json", NULL};
    ev = make_event(&bad);
    assert_int_equal(kargo_facts_from_event(ev, &f), 0);
    assert_false(f.paths_known);
    kargo_facts_clear(&f);
    hb_event_free(ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_git_newest_from_branch),
        cmocka_unit_test(test_git_tag_strategies),
        cmocka_unit_test(test_git_paths),
        cmocka_unit_test(test_image_strategies),
        cmocka_unit_test(test_charts),
        cmocka_unit_test(test_canonical_ids),
        cmocka_unit_test(test_invalid_rules),
        cmocka_unit_test(test_glob_to_regex),
        cmocka_unit_test(test_facts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
