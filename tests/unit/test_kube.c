/* test_kube.c: unit tests for the consumers' Kubernetes client
 * configuration (lib/kube.c, included h2o-style): kubeconfig
 * contexts, clusters and users in every supported form, errors that name the
 * file and what is missing, in-cluster configuration from the environment,
 * token files re-read when rotated, and transport errors that name the
 * cluster. No server is needed (requests go to a closed port). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../lib/kube.c"
#include "helpers.h"

static char dir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/hb-kube-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *write_tmp(const char *name, const char *text)
{
    static char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    hbt_write_file(path, text);
    return path;
}

#define KUBECONFIG_HEAD                                                                            \
    "apiVersion: v1\nkind: Config\ncurrent-context: one\n"                                         \
    "contexts:\n"                                                                                  \
    "- name: one\n  context: {cluster: c1, user: u1}\n"                                            \
    "- name: two\n  context: {cluster: c2, user: u2}\n"                                            \
    "- name: dangling\n  context: {cluster: nope, user: u1}\n"                                     \
    "- name: execuser\n  context: {cluster: c1, user: u3}\n"                                       \
    "- name: nouser\n  context: {cluster: c1, user: ghost}\n"

static const char kubeconfig[] = KUBECONFIG_HEAD
    "clusters:\n"
    "- name: c1\n  cluster:\n    server: https://k8s.example.com:6443/\n"
    "    certificate-authority: ca.pem\n"
    "- name: c2\n  cluster:\n    server: http://127.0.0.1:1\n"
    "    certificate-authority-data: LS0tLS1CRUdJTg==\n"
    "    insecure-skip-tls-verify: true\n"
    "users:\n"
    "- name: u1\n  user:\n    token: abc.def\n"
    "- name: u2\n  user:\n    client-certificate-data: Y2VydA==\n    client-key-data: a2V5\n"
    "    tokenFile: token\n"
    "- name: u3\n  user:\n    exec: {command: aws}\n";

static struct hb_kube *load(const char *ctx, char *err, size_t errlen)
{
    const char *path = write_tmp("config", kubeconfig);
    struct hb_kube_opts o = {.kubeconfig = path, .context = ctx, .timeout_ms = 2000};
    return hb_kube_new(&o, err, errlen);
}

static void test_current_context(void **state)
{
    (void)state;
    char err[512] = "";
    struct hb_kube *k = load(NULL, err, sizeof(err));
    assert_non_null(k);
    assert_string_equal(hb_kube_cluster(k), "c1");
    assert_string_equal(hb_kube_server(k), "https://k8s.example.com:6443");
    assert_string_equal(k->token, "abc.def");
    char want[512];
    snprintf(want, sizeof(want), "%s/ca.pem", dir);
    assert_string_equal(k->ca_file, want);
    assert_false(k->insecure);
    hb_kube_free(k);
}

static void test_named_context_with_data_and_token_file(void **state)
{
    (void)state;
    char err[512] = "";
    write_tmp("token", "first-token\n");
    struct hb_kube *k = load("two", err, sizeof(err));
    assert_non_null(k);
    assert_string_equal(hb_kube_cluster(k), "c2");
    assert_true(k->insecure);
    assert_int_equal(k->ca_len, 10);
    assert_memory_equal(k->ca_data, "-----BEGIN", 10);
    assert_int_equal(k->cert_len, 4);
    assert_memory_equal(k->cert_data, "cert", 4);
    assert_int_equal(k->key_len, 3);
    assert_string_equal(k->token, "first-token");

    /* kubelet rotates projected tokens: a changed file is read again */
    usleep(10000);
    write_tmp("token", "second-token-longer\n");
    pthread_mutex_lock(&k->lock);
    assert_int_equal(token_refresh_locked(k, false, err, sizeof(err)), 0);
    pthread_mutex_unlock(&k->lock);
    assert_string_equal(k->token, "second-token-longer");

    /* a token file that disappears keeps the last token */
    char path[512];
    snprintf(path, sizeof(path), "%s/token", dir);
    unlink(path);
    pthread_mutex_lock(&k->lock);
    assert_int_equal(token_refresh_locked(k, true, err, sizeof(err)), 0);
    pthread_mutex_unlock(&k->lock);
    assert_string_equal(k->token, "second-token-longer");

    /* a request to a closed port is a transport error naming the cluster */
    char *resp = (char *)1;
    int st = hb_kube_request(k, "GET", "/apis", NULL, NULL, &resp, NULL, err, sizeof(err));
    assert_int_equal(st, -1);
    assert_null(resp);
    assert_non_null(strstr(err, "cluster c2: GET /apis:"));
    assert_null(strstr(err, "token"));
    hb_kube_free(k);
}

static void test_kubeconfig_errors(void **state)
{
    (void)state;
    static const struct {
        const char *ctx, *want;
    } cases[] = {
        {"missing", "context 'missing' not found"},
        {"dangling", "cluster 'nope' not found"},
        {"execuser", "exec and auth-provider credentials are not supported"},
        {"nouser", "user 'ghost' not found"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[512] = "";
        struct hb_kube *k = load(cases[i].ctx, err, sizeof(err));
        assert_null(k);
        if (!strstr(err, cases[i].want) || !strstr(err, dir))
            fail_msg("context %s: '%s' lacks '%s' or the file", cases[i].ctx, err, cases[i].want);
    }
    char err[512] = "";
    struct hb_kube_opts o = {.kubeconfig = write_tmp("c2", "current-context: x\n")};
    assert_null(hb_kube_new(&o, err, sizeof(err)));
    assert_non_null(strstr(err, "context 'x' not found"));
    o.kubeconfig = write_tmp("c3", "contexts: []\n");
    assert_null(hb_kube_new(&o, err, sizeof(err)));
    assert_non_null(strstr(err, "no current-context"));
    o.kubeconfig = write_tmp("c4", "current-context: a\ncontexts:\n- name: a\n  context: "
                                   "{cluster: c}\nclusters:\n- name: c\n  cluster: {server: "
                                   "ftp://x}\n");
    assert_null(hb_kube_new(&o, err, sizeof(err)));
    assert_non_null(strstr(err, "server must be an http(s) URL"));
    o.kubeconfig = write_tmp("c5", "current-context: a\ncontexts:\n- name: a\n  context: "
                                   "{cluster: c}\nclusters:\n- name: c\n  cluster: {server: "
                                   "https://x, certificate-authority-data: '!!'}\n");
    assert_null(hb_kube_new(&o, err, sizeof(err)));
    assert_non_null(strstr(err, "certificate-authority-data is not base64"));
    o.kubeconfig = "/nonexistent/kubeconfig";
    assert_null(hb_kube_new(&o, err, sizeof(err)));
    assert_non_null(strstr(err, "/nonexistent/kubeconfig"));
}

static void test_in_cluster(void **state)
{
    (void)state;
    char err[512] = "";
    struct hb_kube_opts o = {.sa_dir = dir};
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
    assert_null(hb_kube_new(&o, err, sizeof(err)));
    assert_non_null(strstr(err, "KUBERNETES_SERVICE_HOST"));

    setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    char path[512];
    snprintf(path, sizeof(path), "%s/token", dir);
    unlink(path);
    assert_null(hb_kube_new(&o, err, sizeof(err)));
    assert_non_null(strstr(err, "token"));
    assert_non_null(strstr(err, "in-cluster"));

    write_tmp("token", "sa-token");
    struct hb_kube *k = hb_kube_new(&o, err, sizeof(err));
    assert_non_null(k);
    assert_string_equal(hb_kube_cluster(k), "in-cluster");
    assert_string_equal(hb_kube_server(k), "https://[fd00::1]:443");
    assert_string_equal(k->token, "sa-token");
    char want[512];
    snprintf(want, sizeof(want), "%s/ca.crt", dir);
    assert_string_equal(k->ca_file, want);
    hb_kube_free(k);

    setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "6443", 1);
    k = hb_kube_new(&o, err, sizeof(err));
    assert_non_null(k);
    assert_string_equal(hb_kube_server(k), "https://10.0.0.1:6443");
    hb_kube_free(k);
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
}

static void test_status_message(void **state)
{
    (void)state;
    char out[64];
    status_message("{\"kind\":\"Status\",\"message\":\"warehouses is forbidden\",\"code\":403}",
                   out, sizeof(out));
    assert_string_equal(out, "warehouses is forbidden");
    status_message("<html>bad gateway</html>", out, sizeof(out));
    assert_string_equal(out, "<html>bad gateway</html>");
    status_message(NULL, out, sizeof(out));
    assert_string_equal(out, "");
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_current_context),
        cmocka_unit_test(test_named_context_with_data_and_token_file),
        cmocka_unit_test(test_kubeconfig_errors),
        cmocka_unit_test(test_in_cluster),
        cmocka_unit_test(test_status_message),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
