/* test_repo.c: unit tests for hookbus/repo.h (lib/repo.c): every spelling of
 * a git repository URL seen in webhook payloads and Kargo Warehouses must map
 * to the one canonical id of DESIGN section 4, and image / chart references
 * must parse into registry, path, tag and digest with Docker Hub's aliases
 * folded into docker.io. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "hookbus/repo.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

#define DIGEST "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* ---- git ---------------------------------------------------------------- */

struct git_case {
    const char *url, *id; /* id NULL: invalid */
};

/* Runs every case, printing each mismatch, then fails if there was one. */
static void run_git_cases(const struct git_case *cases, size_t n)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        char out[HB_REPO_ID_MAX];
        memset(out, 'X', sizeof(out));
        int rc = hb_repo_git_id(cases[i].url, out, sizeof(out));
        if (cases[i].id && rc != 0) {
            print_error("'%s' should give '%s', got an error\n", cases[i].url, cases[i].id);
            bad++;
        } else if (cases[i].id && strcmp(out, cases[i].id) != 0) {
            print_error("'%s' gave '%s', want '%s'\n", cases[i].url, out, cases[i].id);
            bad++;
        } else if (!cases[i].id && rc != -1) {
            print_error("'%s' should be invalid, got '%s'\n", cases[i].url, out);
            bad++;
        }
    }
    if (bad)
        fail_msg("%d git case(s) failed", bad);
}

static void test_git_github_forms(void **state)
{
    (void)state;
    static const struct git_case cases[] = {
        /* The DESIGN examples. */
        {"https://GitHub.com/Acme/App.git", "github.com/acme/app"},
        {"git@github.com:acme/app.git", "github.com/acme/app"},
        {"ssh://git@github.com/acme/app", "github.com/acme/app"},
        /* https with/without .git, trailing slash, case. */
        {"https://github.com/acme/app", "github.com/acme/app"},
        {"https://github.com/acme/app.git", "github.com/acme/app"},
        {"https://github.com/acme/app/", "github.com/acme/app"},
        {"https://github.com/acme/app.git/", "github.com/acme/app"},
        {"https://github.com/acme/app.GIT", "github.com/acme/app"},
        {"HTTPS://GITHUB.COM/ACME/APP", "github.com/acme/app"},
        {"https://github.com/acme/app//", "github.com/acme/app"},
        /* User info. */
        {"https://user@github.com/acme/app.git", "github.com/acme/app"},
        {"https://user:password@github.com/acme/app.git", "github.com/acme/app"},
        {"https://x-access-token:ghs_abc123@github.com/acme/app.git", "github.com/acme/app"},
        {"https://oauth2:p%40ss@github.com/acme/app", "github.com/acme/app"},
        /* Ports 443 and 22 are dropped. */
        {"https://github.com:443/acme/app.git", "github.com/acme/app"},
        {"ssh://git@github.com:22/acme/app.git", "github.com/acme/app"},
        {"ssh://git@github.com/acme/app.git", "github.com/acme/app"},
        {"git+ssh://git@github.com/acme/app.git", "github.com/acme/app"},
        /* scp-like. */
        {"github.com:acme/app.git", "github.com/acme/app"},
        {"git@github.com:acme/app", "github.com/acme/app"},
        {"git@github.com:acme/app.git/", "github.com/acme/app"},
        {"git@GitHub.com:Acme/App.git", "github.com/acme/app"},
        {"git@github.com:/acme/app.git", "github.com/acme/app"},
        /* git:// and http:// (port 80 dropped for http). */
        {"git://github.com/acme/app.git", "github.com/acme/app"},
        {"http://github.com/acme/app", "github.com/acme/app"},
        {"http://github.com:80/acme/app.git", "github.com/acme/app"},
        /* Query strings and fragments. */
        {"https://github.com/acme/app?tab=readme", "github.com/acme/app"},
        {"https://github.com/acme/app.git?ref=main", "github.com/acme/app"},
        {"https://github.com/acme/app#readme", "github.com/acme/app"},
        {"https://github.com/acme/app/?a=1#b", "github.com/acme/app"},
        {"git@github.com:acme/app.git#main", "github.com/acme/app"},
        /* Bare host/path. */
        {"github.com/acme/app", "github.com/acme/app"},
        {"github.com/acme/app.git", "github.com/acme/app"},
        {"GitHub.com/Acme/App/", "github.com/acme/app"},
        /* Surrounding whitespace is trimmed. */
        {"  https://github.com/acme/app.git\n", "github.com/acme/app"},
    };
    run_git_cases(cases, COUNT(cases));
}

static void test_git_other_hosts(void **state)
{
    (void)state;
    static const struct git_case cases[] = {
        /* Other ports are kept. */
        {"https://git.example.com:8443/a/b", "git.example.com:8443/a/b"},
        {"https://git.example.com:8443/a/b.git", "git.example.com:8443/a/b"},
        {"http://git.example.com:8080/a/b", "git.example.com:8080/a/b"},
        {"http://git.example.com:443/a/b", "git.example.com/a/b"},
        {"git.example.com:8080/a/b", "git.example.com:8080/a/b"},
        {"git://git.example.com:9418/a/b", "git.example.com/a/b"},
        {"git://git.example.com:1234/a/b", "git.example.com:1234/a/b"},
        /* Bitbucket Server over ssh with its port, and over https: one id. */
        {"ssh://git@bitbucket.example.com:7999/proj/repo.git",
         "bitbucket.example.com/scm/proj/repo"},
        {"ssh://git@Bitbucket.Example.com:7999/~alice/dots.git",
         "bitbucket.example.com/scm/~alice/dots"},
        {"ssh://git@bitbucket.example.com:7998/proj/repo.git",
         "bitbucket.example.com:7998/proj/repo"},
        {"https://bitbucket.example.com/scm/proj/repo.git", "bitbucket.example.com/scm/proj/repo"},
        {"https://admin@bitbucket.example.com:8443/scm/proj/repo.git",
         "bitbucket.example.com:8443/scm/proj/repo"},
        /* Bitbucket Cloud. */
        {"https://acme@bitbucket.org/acme/app.git", "bitbucket.org/acme/app"},
        {"git@bitbucket.org:acme/app.git", "bitbucket.org/acme/app"},
        /* GitLab with subgroups. */
        {"https://gitlab.com/group/sub/app.git", "gitlab.com/group/sub/app"},
        {"git@gitlab.com:group/sub/app.git", "gitlab.com/group/sub/app"},
        {"https://gitlab.com/Group/Sub/Deeper/App", "gitlab.com/group/sub/deeper/app"},
        {"ssh://git@gitlab.example.com:2222/group/sub/app.git",
         "gitlab.example.com:2222/group/sub/app"},
        /* Azure DevOps. */
        {"https://dev.azure.com/org/proj/_git/repo", "dev.azure.com/org/proj/_git/repo"},
        /* Azure DevOps over ssh: the same id as https. */
        {"git@ssh.dev.azure.com:v3/Org/Proj/Repo", "dev.azure.com/org/proj/_git/repo"},
        {"ssh://git@ssh.dev.azure.com/v3/org/proj/repo", "dev.azure.com/org/proj/_git/repo"},
        {"git@ssh.dev.azure.com:v3/org/proj", "ssh.dev.azure.com/v3/org/proj"},
        {"https://org@dev.azure.com/org/proj/_git/repo", "dev.azure.com/org/proj/_git/repo"},
        {"https://dev.azure.com/Org/Proj/_git/Repo?path=/README.md",
         "dev.azure.com/org/proj/_git/repo"},
        /* Gitea / self-hosted with a path prefix. */
        {"https://git.example.com/gitea/acme/app.git", "git.example.com/gitea/acme/app"},
        /* IPv6 literal host. */
        {"https://[::1]:3000/a/b.git", "[::1]:3000/a/b"},
        {"https://[::1]/a/b", "[::1]/a/b"},
    };
    run_git_cases(cases, COUNT(cases));
}

static void test_git_invalid(void **state)
{
    (void)state;
    static const struct git_case cases[] = {
        {"", NULL},
        {"   ", NULL},
        {"foo", NULL},
        {"ftp://x/y", NULL},
        {"file:///srv/git/app.git", NULL},
        {"https://github.com", NULL},
        {"https://github.com/", NULL},
        {"https://github.com/.git", NULL},
        {"https://", NULL},
        {"https:///acme/app", NULL},
        {"github.com", NULL},
        {"git@github.com:", NULL},
        {"https://github.com/acme/my app", NULL},
        {"https://git hub.com/acme/app", NULL},
        {"github.com/acme/\tapp", NULL},
        {"https://github.com/acme/app\"", NULL},
        {"https://github.com:abc/acme/app", NULL},
        {"https://github.com/acme/<app>", NULL},
    };
    run_git_cases(cases, COUNT(cases));
    char out[8];
    assert_int_equal(hb_repo_git_id(NULL, out, sizeof(out)), -1);
}

static void test_git_out_too_small(void **state)
{
    (void)state;
    char out[20];
    /* "github.com/acme/app" is 19 characters: fits exactly. */
    assert_int_equal(hb_repo_git_id("https://github.com/acme/app", out, sizeof(out)), 0);
    assert_string_equal(out, "github.com/acme/app");
    assert_int_equal(hb_repo_git_id("https://github.com/acme/apps", out, sizeof(out)), -1);
    char big[HB_REPO_ID_MAX + 64] = "https://github.com/";
    size_t l = strlen(big);
    memset(big + l, 'a', sizeof(big) - l - 1);
    big[sizeof(big) - 1] = '\0';
    char id[HB_REPO_ID_MAX];
    assert_int_equal(hb_repo_git_id(big, id, sizeof(id)), -1);
}

/* All spellings of one repository meet the same id. */
static void test_git_all_spellings_agree(void **state)
{
    (void)state;
    static const char *const urls[] = {
        "https://github.com/acme/app",       "https://github.com/acme/app.git",
        "https://GitHub.com/Acme/App.git/",  "http://github.com/acme/app",
        "git@github.com:acme/app.git",       "ssh://git@github.com/acme/app.git",
        "ssh://git@github.com:22/acme/app",  "git://github.com/acme/app.git",
        "https://token@github.com/acme/app", "github.com/acme/app",
    };
    char first[HB_REPO_ID_MAX], out[HB_REPO_ID_MAX];
    assert_int_equal(hb_repo_git_id(urls[0], first, sizeof(first)), 0);
    for (size_t i = 1; i < COUNT(urls); i++) {
        assert_int_equal(hb_repo_git_id(urls[i], out, sizeof(out)), 0);
        if (strcmp(out, first) != 0)
            fail_msg("'%s' -> '%s' differs from '%s'", urls[i], out, first);
    }
}

/* ---- images ------------------------------------------------------------- */

struct image_case {
    const char *ref, *id, *registry, *path, *tag, *digest; /* id NULL: invalid */
};

/* Runs every case, printing each mismatch, then fails if there was one. */
static void run_image_cases(const struct image_case *cases, size_t n)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        struct hb_image_ref r;
        char id[HB_REPO_ID_MAX];
        int rc = hb_repo_image_parse(cases[i].ref, &r);
        int rc2 = hb_repo_image_id(cases[i].ref, id, sizeof(id));
        if (!cases[i].id) {
            if (rc != -1 || rc2 != -1) {
                print_error("'%s' should be invalid, got '%s'\n", cases[i].ref, r.id);
                bad++;
            }
            continue;
        }
        if (rc != 0 || rc2 != 0) {
            print_error("'%s' should parse\n", cases[i].ref);
            bad++;
        } else if (strcmp(r.id, cases[i].id) || strcmp(r.registry, cases[i].registry) ||
                   strcmp(r.path, cases[i].path) || strcmp(r.tag, cases[i].tag) ||
                   strcmp(r.digest, cases[i].digest) || strcmp(id, cases[i].id)) {
            print_error("'%s' gave id=%s registry=%s path=%s tag=%s digest=%s; "
                        "want %s %s %s %s %s\n",
                        cases[i].ref, r.id, r.registry, r.path, r.tag, r.digest, cases[i].id,
                        cases[i].registry, cases[i].path, cases[i].tag, cases[i].digest);
            bad++;
        }
    }
    if (bad)
        fail_msg("%d image case(s) failed", bad);
}

static void test_image_docker_hub(void **state)
{
    (void)state;
    static const struct image_case cases[] = {
        {"nginx", "docker.io/library/nginx", "docker.io", "library/nginx", "", ""},
        {"nginx:1.25", "docker.io/library/nginx", "docker.io", "library/nginx", "1.25", ""},
        {"nginx@" DIGEST, "docker.io/library/nginx", "docker.io", "library/nginx", "", DIGEST},
        {"nginx:1.25@" DIGEST, "docker.io/library/nginx", "docker.io", "library/nginx", "1.25",
         DIGEST},
        {"acme/app", "docker.io/acme/app", "docker.io", "acme/app", "", ""},
        {"acme/app:v2", "docker.io/acme/app", "docker.io", "acme/app", "v2", ""},
        {"docker.io/nginx", "docker.io/library/nginx", "docker.io", "library/nginx", "", ""},
        {"docker.io/library/nginx:latest", "docker.io/library/nginx", "docker.io", "library/nginx",
         "latest", ""},
        {"index.docker.io/library/nginx", "docker.io/library/nginx", "docker.io", "library/nginx",
         "", ""},
        {"index.docker.io/nginx", "docker.io/library/nginx", "docker.io", "library/nginx", "", ""},
        {"registry-1.docker.io/acme/app", "docker.io/acme/app", "docker.io", "acme/app", "", ""},
        {"registry.hub.docker.com/acme/app", "docker.io/acme/app", "docker.io", "acme/app", "", ""},
        {"Docker.IO/Acme/App:Tag", "docker.io/acme/app", "docker.io", "acme/app", "Tag", ""},
        {"https://registry-1.docker.io/acme/app", "docker.io/acme/app", "docker.io", "acme/app", "",
         ""},
        {"docker.io:443/acme/app", "docker.io/acme/app", "docker.io", "acme/app", "", ""},
        {"  nginx:1.25  ", "docker.io/library/nginx", "docker.io", "library/nginx", "1.25", ""},
    };
    run_image_cases(cases, COUNT(cases));
}

static void test_image_registries(void **state)
{
    (void)state;
    static const struct image_case cases[] = {
        {"ghcr.io/Acme/App:v1", "ghcr.io/acme/app", "ghcr.io", "acme/app", "v1", ""},
        {"ghcr.io/acme/app", "ghcr.io/acme/app", "ghcr.io", "acme/app", "", ""},
        {"GHCR.IO/acme/app", "ghcr.io/acme/app", "ghcr.io", "acme/app", "", ""},
        {"localhost:5000/app:dev", "localhost:5000/app", "localhost:5000", "app", "dev", ""},
        {"localhost/app", "localhost/app", "localhost", "app", "", ""},
        {"localhost:5000/app", "localhost:5000/app", "localhost:5000", "app", "", ""},
        {"registry.example.com:5000/team/app@" DIGEST, "registry.example.com:5000/team/app",
         "registry.example.com:5000", "team/app", "", DIGEST},
        {"registry.example.com:5000/team/app:1.0@" DIGEST, "registry.example.com:5000/team/app",
         "registry.example.com:5000", "team/app", "1.0", DIGEST},
        {"registry.example.com:443/team/app", "registry.example.com/team/app",
         "registry.example.com", "team/app", "", ""},
        {"https://registry.example.com/team/app:1", "registry.example.com/team/app",
         "registry.example.com", "team/app", "1", ""},
        {"HTTPS://ghcr.io/acme/app", "ghcr.io/acme/app", "ghcr.io", "acme/app", "", ""},
        {"http://registry.local:5000/app", "registry.local:5000/app", "registry.local:5000", "app",
         "", ""},
        {"oci://ghcr.io/acme/charts/app", "ghcr.io/acme/charts/app", "ghcr.io", "acme/charts/app",
         "", ""},
        {"oci://ghcr.io/acme/charts/app:0.1.0", "ghcr.io/acme/charts/app", "ghcr.io",
         "acme/charts/app", "0.1.0", ""},
        {"oci://registry-1.docker.io/acme/chart", "docker.io/acme/chart", "docker.io", "acme/chart",
         "", ""},
        {"123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app:v1",
         "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app",
         "123456789012.dkr.ecr.us-east-1.amazonaws.com", "team/app", "v1", ""},
        {"europe-docker.pkg.dev/proj/repo/app", "europe-docker.pkg.dev/proj/repo/app",
         "europe-docker.pkg.dev", "proj/repo/app", "", ""},
        {"quay.io/acme/app/", "quay.io/acme/app", "quay.io", "acme/app", "", ""},
        {"[::1]:5000/app:dev", "[::1]:5000/app", "[::1]:5000", "app", "dev", ""},
        /* Other digest algorithms follow the OCI grammar. */
        {"ghcr.io/acme/app@multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8",
         "ghcr.io/acme/app", "ghcr.io", "acme/app", "",
         "multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8"},
    };
    run_image_cases(cases, COUNT(cases));
}

static void test_image_invalid(void **state)
{
    (void)state;
    static const struct image_case cases[] = {
        {"", NULL, NULL, NULL, NULL, NULL},
        {"   ", NULL, NULL, NULL, NULL, NULL},
        {"/", NULL, NULL, NULL, NULL, NULL},
        {"nginx:", NULL, NULL, NULL, NULL, NULL},
        {"nginx@", NULL, NULL, NULL, NULL, NULL},
        {"nginx@sha256", NULL, NULL, NULL, NULL, NULL},
        {"nginx@sha256:", NULL, NULL, NULL, NULL, NULL},
        {"nginx@:abc", NULL, NULL, NULL, NULL, NULL},
        {"nginx@sha256:xyz!", NULL, NULL, NULL, NULL, NULL},
        {"@" DIGEST, NULL, NULL, NULL, NULL, NULL},
        {":tag", NULL, NULL, NULL, NULL, NULL},
        {"ghcr.io/", NULL, NULL, NULL, NULL, NULL},
        {"ghcr.io//app", NULL, NULL, NULL, NULL, NULL},
        {"/app", NULL, NULL, NULL, NULL, NULL},
        {"nginx@sha256:0123", NULL, NULL, NULL, NULL, NULL}, /* short sha256 */
        {"nginx@sha256:"
         "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
         NULL, NULL, NULL, NULL, NULL}, /* uppercase hex */
        {"nginx@SHA256:abc", NULL, NULL, NULL, NULL, NULL},
        {"nginx@sha256+:abc", NULL, NULL, NULL, NULL, NULL},
        {"ghcr.io/acme//app", NULL, NULL, NULL, NULL, NULL},
        {"ngi nx", NULL, NULL, NULL, NULL, NULL},
        {"acme/app\t:v1", NULL, NULL, NULL, NULL, NULL},
        {"oci://", NULL, NULL, NULL, NULL, NULL},
        {"https://", NULL, NULL, NULL, NULL, NULL},
        {"ghcr.io/acme/\"app\"", NULL, NULL, NULL, NULL, NULL},
    };
    run_image_cases(cases, COUNT(cases));
    struct hb_image_ref r;
    assert_int_equal(hb_repo_image_parse(NULL, &r), -1);

    /* A tag longer than 128 characters does not fit. */
    char ref[300] = "nginx:";
    memset(ref + 6, 't', 129);
    ref[6 + 129] = '\0';
    assert_int_equal(hb_repo_image_parse(ref, &r), -1);
    ref[6 + 128] = '\0';
    assert_int_equal(hb_repo_image_parse(ref, &r), 0);
    assert_int_equal(strlen(r.tag), 128);
}

static void test_image_id_buffer(void **state)
{
    (void)state;
    char out[24];
    assert_int_equal(hb_repo_image_id("nginx", out, sizeof(out)), 0); /* 23 chars */
    assert_string_equal(out, "docker.io/library/nginx");
    assert_int_equal(hb_repo_image_id("nginx2", out, sizeof(out)), -1);
    assert_int_equal(hb_repo_image_id("", out, sizeof(out)), -1);
}

static void test_registry_canonical(void **state)
{
    (void)state;
    static const char *const hub[] = {
        "docker.io",      "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com",
        "hub.docker.com", "Docker.IO",       "INDEX.DOCKER.IO"};
    for (size_t i = 0; i < COUNT(hub); i++)
        assert_string_equal(hb_repo_registry_canonical(hub[i]), "docker.io");
    static const char *const other[] = {
        "ghcr.io",       "quay.io", "localhost:5000", "docker.com", "mirror.docker.io.example.com",
        "docker.io:5000"};
    for (size_t i = 0; i < COUNT(other); i++)
        assert_string_equal(hb_repo_registry_canonical(other[i]), other[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_git_github_forms),
        cmocka_unit_test(test_git_other_hosts),
        cmocka_unit_test(test_git_invalid),
        cmocka_unit_test(test_git_out_too_small),
        cmocka_unit_test(test_git_all_spellings_agree),
        cmocka_unit_test(test_image_docker_hub),
        cmocka_unit_test(test_image_registries),
        cmocka_unit_test(test_image_invalid),
        cmocka_unit_test(test_image_id_buffer),
        cmocka_unit_test(test_registry_canonical),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
