/* test_poller_sources.c: the parsing and politeness pieces of hookbus-poller
 * (every file of consumers/poller but main.c, included h2o-style): Helm index.yaml
 * parsing, Retry-After, the per-host request budget, the poll schedule
 * (jitter, backoff, webhook stretch), registry Bearer challenges and Link
 * paging. The sources themselves are tested against real servers in
 * tests/e2e/test_poller.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "../../consumers/poller/discover.c"
#include "../../consumers/poller/git.c"
#include "../../consumers/poller/helm.c"
#include "../../consumers/poller/http.c"
#include "../../consumers/poller/kafka.c"
#include "../../consumers/poller/loop.c"
#include "../../consumers/poller/oci.c"
#include "../../consumers/poller/snapshot.c"

static const char index_yaml[] =
    "apiVersion: v1\n"
    "entries:\n"
    "  other:\n"
    "  - name: other\n"
    "    version: 9.9.9\n"
    "  app:\n"
    "  - apiVersion: v2\n"
    "    name: app\n"
    "    version: 1.2.0\n"
    "    digest: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n"
    "    urls: [app-1.2.0.tgz]\n"
    "    maintainers:\n"
    "    - {name: x, email: x@example.com}\n"
    "    annotations: {version: not-this-one}\n"
    "  - name: app\n"
    "    version: \"1.10.0-rc.1\"\n"
    "    dependencies:\n"
    "    - name: dep\n"
    "      version: 3.0.0\n"
    "  zzz:\n"
    "  - name: zzz\n"
    "    version: 0.0.1\n"
    "generated: \"2026-12-04T00:00:00Z\"\n";

static void test_helm_index(void **state)
{
    (void)state;
    struct pl_snapshot s = {0};
    char err[256];
    assert_int_equal(
        pl_helm_parse_index(index_yaml, strlen(index_yaml), "app", &s, err, sizeof(err)), 0);
    assert_int_equal(s.n, 2); /* not the dependency's, other charts' or annotation's */
    assert_string_equal(pl_snapshot_get(&s, "1.2.0"),
                        "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    assert_string_equal(pl_snapshot_get(&s, "1.10.0-rc.1"), "");
    pl_snapshot_free(&s);

    assert_int_equal(
        pl_helm_parse_index(index_yaml, strlen(index_yaml), "missing", &s, err, sizeof(err)), 0);
    assert_int_equal(s.n, 0);
    const char *bad = "apiVersion: v1\nentries: [\n";
    assert_int_equal(pl_helm_parse_index(bad, strlen(bad), "app", &s, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "index.yaml"));
    const char *none = "apiVersion: v1\n";
    assert_int_equal(pl_helm_parse_index(none, strlen(none), "app", &s, err, sizeof(err)), -1);
    pl_snapshot_free(&s);
}

static void test_retry_after(void **state)
{
    (void)state;
    assert_int_equal(pl_retry_after_ms("5", 0), 5000);
    assert_int_equal(pl_retry_after_ms(" 0", 0), 0);
    assert_int_equal(pl_retry_after_ms(NULL, 0), -1);
    assert_int_equal(pl_retry_after_ms("soon", 0), -1);
    assert_int_equal(pl_retry_after_ms("-3", 0), -1);
    /* An HTTP date: 1994-11-06 08:49:37 GMT is 784111777. */
    assert_int_equal(pl_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", 784111770LL), 7000);
    assert_int_equal(pl_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", 784111800LL), 0);
}

static void test_host_budget(void **state)
{
    (void)state;
    struct pl_host h = {0};
    /* 60 a minute: a minute's worth at once, then one a second. */
    for (int i = 0; i < 60; i++)
        assert_int_equal(pl_host_take(&h, 60, 1000), 0);
    long wait = pl_host_take(&h, 60, 1000);
    assert_in_range(wait, 990, 1001);
    assert_true(pl_host_take(&h, 60, 1500) > 0);
    assert_int_equal(pl_host_take(&h, 60, 2001), 0);
    assert_true(pl_host_take(&h, 60, 2001) > 0);
    /* Idle for an hour: the bucket is full again but not over. */
    for (int i = 0; i < 60; i++)
        assert_int_equal(pl_host_take(&h, 60, 3600000), 0);
    assert_true(pl_host_take(&h, 60, 3600000) > 0);
}

static void test_schedule(void **state)
{
    (void)state;
    struct pl_conf c = {.interval_ms = 300000, .webhook_interval_ms = 1800000};
    int64_t now = 10000000;
    /* Jitter: +-10 %. */
    assert_int_equal(pl_next_wait_ms(&c, 0, 0, now, 0.0), 270000);
    assert_int_equal(pl_next_wait_ms(&c, 0, 0, now, 0.5), 300000);
    assert_in_range(pl_next_wait_ms(&c, 0, 0, now, 0.999999), 329000, 330000);
    /* A webhook event within webhook_interval stretches; an old one does not. */
    assert_int_equal(pl_next_wait_ms(&c, 0, now - 60000, now, 0.5), 1800000);
    assert_int_equal(pl_next_wait_ms(&c, 0, now - 1800001, now, 0.5), 300000);
    /* Errors: exponential backoff from 1 s, capped at the interval. */
    assert_in_range(pl_next_wait_ms(&c, 1, 0, now, 0.0), 500, 1000);
    assert_in_range(pl_next_wait_ms(&c, 3, 0, now, 0.0), 2000, 4000);
    assert_in_range(pl_next_wait_ms(&c, 30, now - 1, now, 0.99), 150000, 300000);
}

static void test_bearer_challenge(void **state)
{
    (void)state;
    char realm[256], service[128], scope[256];
    const char *h = "Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
                    "scope=\"repository:library/nginx:pull\"";
    assert_int_equal(pl_oci_parse_challenge(h, realm, sizeof(realm), service, sizeof(service),
                                            scope, sizeof(scope)),
                     0);
    assert_string_equal(realm, "https://auth.docker.io/token");
    assert_string_equal(service, "registry.docker.io");
    assert_string_equal(scope, "repository:library/nginx:pull");
    /* GHCR's order, no scope. */
    h = "Bearer service=\"ghcr.io\", realm=\"https://ghcr.io/token\"";
    assert_int_equal(pl_oci_parse_challenge(h, realm, sizeof(realm), service, sizeof(service),
                                            scope, sizeof(scope)),
                     0);
    assert_string_equal(realm, "https://ghcr.io/token");
    assert_string_equal(scope, "");
    assert_int_equal(pl_oci_parse_challenge("Basic realm=\"x\"", realm, sizeof(realm), service,
                                            sizeof(service), scope, sizeof(scope)),
                     -1);
    assert_int_equal(pl_oci_parse_challenge("Bearer service=\"x\"", realm, sizeof(realm), service,
                                            sizeof(service), scope, sizeof(scope)),
                     -1);
}

static void test_next_link(void **state)
{
    (void)state;
    char url[512];
    assert_int_equal(pl_oci_next_link("</v2/acme/app/tags/list?last=b&n=2>; rel=\"next\"",
                                      "https://r.example", url, sizeof(url)),
                     0);
    assert_string_equal(url, "https://r.example/v2/acme/app/tags/list?last=b&n=2");
    assert_int_equal(pl_oci_next_link("<https://other/v2/x?last=c>; rel=\"next\"", "https://r", url,
                                      sizeof(url)),
                     0);
    assert_string_equal(url, "https://other/v2/x?last=c");
    assert_int_equal(pl_oci_next_link(NULL, "https://r", url, sizeof(url)), -1);
    assert_int_equal(pl_oci_next_link("</x>; rel=\"prev\"", "https://r", url, sizeof(url)), -1);
    assert_int_equal(pl_oci_next_link("<>; rel=\"next\"", "https://r", url, sizeof(url)), -1);
}

static void test_image_name_repo(void **state)
{
    (void)state;
    char out[256];
    static const char *const cases[][2] = {
        {"quay.io/dkarpele/my-guestbook:~29437546.0", "quay.io/dkarpele/my-guestbook"},
        {"ghcr.io/acme/app", "ghcr.io/acme/app"},
        {"nginx:^1.25", "nginx"},
        {"localhost:5000/app", "localhost:5000/app"},
        {"localhost:5000/app:>=1.0", "localhost:5000/app"},
        {"acr.example.io/svc:develop@sha256:abcd", "acr.example.io/svc"},
        {"docker.io/library/nginx@sha256:abcd", "docker.io/library/nginx"},
    };
    for (size_t i = 0; i < HB_ARRAY_LEN(cases); i++) {
        assert_int_equal(pl_image_name_repo(cases[i][0], out, sizeof(out)), 0);
        assert_string_equal(out, cases[i][1]);
    }
    assert_int_equal(pl_image_name_repo("", out, sizeof(out)), -1);
    assert_int_equal(pl_image_name_repo(":1.0", out, sizeof(out)), -1);
    assert_int_equal(pl_image_name_repo("ghcr.io/a/b", out, 5), -1);
}

static void test_tag_valid(void **state)
{
    (void)state;
    assert_true(tag_valid("1.0"));
    assert_true(tag_valid("latest"));
    assert_true(tag_valid("v1.2.3-rc_1"));
    assert_true(tag_valid("_x"));
    assert_false(tag_valid(""));
    assert_false(tag_valid("../x"));
    assert_false(tag_valid(".x"));
    assert_false(tag_valid("-x"));
    assert_false(tag_valid("a b"));
    assert_false(tag_valid("a?b"));
    char longtag[200];
    memset(longtag, 'a', 129);
    longtag[129] = '\0';
    assert_false(tag_valid(longtag));
    longtag[128] = '\0';
    assert_true(tag_valid(longtag));
}

struct collected {
    char got[8][HB_REPO_ID_MAX];
    size_t n;
};

static void collect(void *arg, const char *repo)
{
    struct collected *c = arg;
    if (c->n < 8)
        hb_strlcpy(c->got[c->n++], repo, sizeof(c->got[0]));
}

static void test_image_list_annotation(void **state)
{
    (void)state;
    struct collected c = {0};
    /* Image Updater 0.x: [alias=]image[:constraint], comma separated. */
    assert_int_equal(pl_image_list_each("nginx, web=ghcr.io/acme/web:~1.2,"
                                        "host:5000/a/b:>=1.0 , api=quay.io/x/api:1.x,,"
                                        "registry.local:5000/app",
                                        collect, &c),
                     1); /* the empty entry */
    assert_int_equal(c.n, 5);
    assert_string_equal(c.got[0], "nginx");
    assert_string_equal(c.got[1], "ghcr.io/acme/web");
    assert_string_equal(c.got[2], "host:5000/a/b"); /* '=' of a constraint is no alias */
    assert_string_equal(c.got[3], "quay.io/x/api");
    assert_string_equal(c.got[4], "registry.local:5000/app");
    c.n = 0;
    assert_int_equal(pl_image_list_each("", collect, &c), 0);
    assert_int_equal(c.n, 0);
}

/* A Kargo credential Secret as the API server returns it (data in base64). */
static cJSON *cred_secret(const char *name, const char *ns, const char *type, const char *url,
                          bool regex, const char *user, const char *password)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(o, "metadata");
    cJSON_AddStringToObject(meta, "name", name);
    cJSON_AddStringToObject(meta, "namespace", ns);
    cJSON_AddStringToObject(meta, "uid", name);
    cJSON_AddStringToObject(meta, "resourceVersion", "1");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(meta, "labels"), "kargo.akuity.io/cred-type",
                            type);
    cJSON *data = cJSON_AddObjectToObject(o, "data");
    const char *kv[][2] = {{"repoURL", url},
                           {"repoURLIsRegex", regex ? "true" : NULL},
                           {"username", user},
                           {"password", password}};
    for (size_t i = 0; i < HB_ARRAY_LEN(kv); i++) {
        if (!kv[i][1])
            continue;
        char *b = hb_base64_encode((const unsigned char *)kv[i][1], strlen(kv[i][1]));
        cJSON_AddStringToObject(data, kv[i][0], b);
        free(b);
    }
    return o;
}

static void apply(struct hb_kube_cache *c, cJSON *o, bool deleted)
{
    hb_kube_cache_apply(c, o, deleted);
    cJSON_Delete(o);
}

static void test_kargo_credentials(void **state)
{
    (void)state;
    struct pl_poller p = {0};
    struct pl_discovery d = {.kargo_credentials = true};
    char err[256];
    pthread_mutex_init(&p.lock, NULL);
    p.discovery = &d;
    struct hb_kube_cache_opts o = {.api = PL_CORE_API,
                                   .resource = "secrets",
                                   .compile = cred_compile,
                                   .release = cred_release,
                                   .ud = &p};
    d.secrets = hb_kube_cache_new(NULL, &o, NULL);
    assert_non_null(d.secrets);
    const char *url = "https://git.example.com/acme/app.git";
    apply(d.secrets,
          cred_secret("a-pattern", "demo", "git", "^https://git\\.example\\.com/", true, "pattern",
                      "p1"),
          false);
    apply(d.secrets, cred_secret("z-pattern", "demo", "git", ".*", true, "later", "p2"), false);
    apply(d.secrets,
          cred_secret("exact", "demo", "git", "https://GIT.example.com/acme/app", false, "exact",
                      "p3"),
          false);
    apply(d.secrets, cred_secret("image", "demo", "image", url, false, "image", "p4"), false);
    apply(d.secrets, cred_secret("other-ns", "other", "git", url, false, "other", "p5"), false);
    apply(d.secrets, cred_secret("no-password", "demo", "git", url, false, "nopw", NULL), false);
    /* no-password is kept out of the index (an exact match below would say) */
    assert_int_equal(hb_kube_cache_count(d.secrets), 6);

    struct pl_source s = {0};
    assert_int_equal(pl_source_identify(&s, PL_GIT, url, NULL, err, sizeof(err)), 0);
    pl_discovery_credentials(&p, &s); /* not a Warehouse's: untouched */
    assert_null(s.user);
    s.cred_type = "git";
    add_cred_ns(&s, "demo");
    pl_discovery_credentials(&p, &s); /* the same repository by canonical id wins */
    assert_string_equal(s.user, "exact");
    assert_string_equal(s.password.value, "p3");
    apply(d.secrets, cred_secret("exact", "demo", "git", url, false, "exact", "p3"), true);
    pl_discovery_credentials(&p, &s); /* then the first pattern by name */
    assert_string_equal(s.user, "pattern");
    assert_string_equal(s.password.value, "p1");
    apply(d.secrets, cred_secret("a-pattern", "demo", "git", "x", true, "x", "x"), true);
    apply(d.secrets, cred_secret("z-pattern", "demo", "git", "x", true, "x", "x"), true);
    pl_discovery_credentials(&p, &s); /* none left in its namespace: cleared */
    assert_null(s.user);
    assert_null(s.password.value);

    /* Shared namespaces come after the Warehouse's own, whose pattern beats
     * a shared exact match. */
    char *shared[] = {"shared"};
    p.shared_ns = shared;
    p.nshared = 1;
    apply(d.secrets, cred_secret("global", "shared", "git", url, false, "global", "p6"), false);
    pl_discovery_credentials(&p, &s);
    assert_string_equal(s.user, "global");
    apply(d.secrets, cred_secret("mine", "demo", "git", "acme", true, "mine", "p7"), false);
    pl_discovery_credentials(&p, &s);
    assert_string_equal(s.user, "mine");
    assert_string_equal(s.password.value, "p7");

    pl_source_clear(&s);
    hb_kube_cache_free(d.secrets);
    pthread_mutex_destroy(&p.lock);
}

static void test_tag_filter(void **state)
{
    (void)state;
    char err[256];
    struct pl_source git = {.kind = PL_GIT}, img = {.kind = PL_IMAGE};
    assert_true(pl_source_wants(&git, "refs/tags/anything")); /* no filter: all */
    git.tags = hb_regex_new("^v\\d+\\.\\d+$", err, sizeof(err));
    img.tags = hb_regex_new("^1\\.", err, sizeof(err));
    assert_non_null(git.tags);
    assert_non_null(img.tags);
    assert_true(pl_source_wants(&git, "refs/tags/v1.2"));
    assert_false(pl_source_wants(&git, "refs/tags/v1.2-rc"));
    assert_false(pl_source_wants(&git, "refs/tags/nightly"));
    assert_true(pl_source_wants(&git, "refs/heads/nightly")); /* branches: never filtered */
    assert_true(pl_source_wants(&img, "1.0"));
    assert_false(pl_source_wants(&img, "2.1")); /* the tag itself, not a prefix */
    assert_false(pl_source_wants(&img, "v1.0"));
    hb_regex_free(git.tags);
    hb_regex_free(img.tags);
    assert_null(hb_regex_new("(", err, sizeof(err)));
    assert_non_null(strstr(err, "offset"));
}

/* The discovered source of key, or NULL. */
static struct pl_source *discovered(struct pl_poller *p, const char *key)
{
    for (struct pl_source *s = p->discovered; s; s = s->next)
        if (strcmp(s->key, key) == 0)
            return s;
    return NULL;
}

static void *compile_wh(struct pl_poller *p, const char *name, const char *subs)
{
    char buf[2048];
    snprintf(buf, sizeof(buf), "{\"spec\":{\"subscriptions\":%s}}", subs);
    cJSON *j = cJSON_Parse(buf);
    assert_non_null(j);
    void *w = wh_compile(p, j, "demo", name, NULL);
    cJSON_Delete(j);
    assert_non_null(w);
    return w;
}

/* A Warehouse's tag rules become its discovered sources' tag filter: a tag
 * is tracked when some subscription naming the source lets it through;
 * branch subscriptions, Digest images, charts and rules that do not compile
 * filter nothing. */
static void test_warehouse_tag_rules(void **state)
{
    (void)state;
    struct pl_poller p = {0};
    struct pl_discovery d = {0};
    pthread_mutex_init(&p.lock, NULL);
    pthread_cond_init(&p.cond, NULL);
    p.discovery = &d;
    void *a = compile_wh(
        &p, "a",
        "[{\"image\":{\"repoURL\":\"r.example/acme/app\",\"imageSelectionStrategy\":\"Lexical\","
        "\"allowTagsRegexes\":[\"^1\\\\.\"],\"ignoreTags\":[\"1.9\"]}},"
        "{\"git\":{\"repoURL\":\"https://git.example/acme/app.git\","
        "\"commitSelectionStrategy\":\"NewestTag\",\"ignoreTagsRegexes\":[\"-rc\"],"
        "\"allowTags\":\"^v\"}},"
        "{\"git\":{\"repoURL\":\"https://git.example/acme/branch.git\","
        "\"allowTagsRegexes\":[\"^v\"]}},"
        "{\"image\":{\"repoURL\":\"r.example/acme/digest\",\"imageSelectionStrategy\":\"Digest\","
        "\"constraint\":\"latest\",\"allowTagsRegexes\":[\"^v\"]}},"
        "{\"image\":{\"repoURL\":\"r.example/acme/bad\",\"allowTagsRegexes\":[\"(\"]}}]");
    struct pl_source *img = discovered(&p, "image:r.example/acme/app");
    struct pl_source *git = discovered(&p, "git:git.example/acme/app");
    struct pl_source *branch = discovered(&p, "git:git.example/acme/branch");
    struct pl_source *digest = discovered(&p, "image:r.example/acme/digest");
    struct pl_source *bad = discovered(&p, "image:r.example/acme/bad");
    assert_non_null(img);
    assert_non_null(git);
    assert_non_null(branch);
    assert_non_null(digest);
    assert_non_null(bad);
    assert_true(pl_source_wants(img, "1.0"));
    assert_false(pl_source_wants(img, "1.9")); /* ignoreTags: exact */
    assert_true(pl_source_wants(img, "1.90"));
    assert_false(pl_source_wants(img, "2.0")); /* allowTagsRegexes */
    assert_true(pl_source_wants(git, "refs/tags/v1.0.0"));
    assert_false(pl_source_wants(git, "refs/tags/v1.0.0-rc.1")); /* ignoreTagsRegexes */
    assert_false(pl_source_wants(git, "refs/tags/x1"));          /* allowTags */
    assert_true(pl_source_wants(git, "refs/heads/feature"));     /* branches: never */
    assert_true(pl_source_wants(branch, "refs/tags/x1"));        /* NewestFromBranch */
    assert_true(pl_source_wants(digest, "latest"));
    assert_true(pl_source_wants(bad, "anything")); /* not compiled: nothing dropped */

    /* A second Warehouse wants more of the same image; gone, less again. */
    void *b = compile_wh(&p, "b",
                         "[{\"image\":{\"repoURL\":\"r.example/acme/app\","
                         "\"allowTagsRegexes\":[\"^2\\\\.\"]}}]");
    assert_int_equal(img->refs, 2);
    assert_true(pl_source_wants(img, "2.0"));
    assert_false(pl_source_wants(img, "3.0"));
    void *c = compile_wh(&p, "c", "[{\"image\":{\"repoURL\":\"r.example/acme/app\"}}]");
    assert_true(pl_source_wants(img, "3.0")); /* no rules: every tag */
    wh_release(NULL, c);
    assert_false(pl_source_wants(img, "3.0"));
    wh_release(NULL, b);
    assert_false(pl_source_wants(img, "2.0"));
    assert_true(pl_source_wants(img, "1.0"));
    wh_release(NULL, a);
    assert_int_equal(img->refs, 0);
    assert_int_equal(img->nrules, 0);
    assert_int_equal(img->unfiltered, 0);
    pl_loop_free_discovered(&p);
    pthread_cond_destroy(&p.cond);
    pthread_mutex_destroy(&p.lock);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_helm_index),        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_host_budget),       cmocka_unit_test(test_schedule),
        cmocka_unit_test(test_bearer_challenge),  cmocka_unit_test(test_next_link),
        cmocka_unit_test(test_image_name_repo),   cmocka_unit_test(test_tag_valid),
        cmocka_unit_test(test_tag_filter),        cmocka_unit_test(test_image_list_annotation),
        cmocka_unit_test(test_kargo_credentials), cmocka_unit_test(test_warehouse_tag_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
