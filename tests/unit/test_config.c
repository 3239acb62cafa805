/* test_config.c: unit tests for hookbus/config.h (lib/config.c): YAML
 * loading into a line-numbered tree (maps, sequences, errors with FILE:LINE,
 * duplicate keys, bounds), table-driven binding with defaults, bounds and
 * HOOKBUS_* environment overrides, unknown-key detection and the conversion
 * of free-form sections to cJSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hookbus/config.h"
#include "helpers.h"

/* ---- helpers ------------------------------------------------------------ */

static void load_ok(const char *text, struct hb_config *cfg)
{
    char err[256] = "";
    if (hb_config_load_string("test.yaml", text, strlen(text), cfg, err, sizeof(err)) != 0)
        fail_msg("load failed: %s", err);
    assert_non_null(cfg->root);
    assert_int_equal(cfg->root->type, HB_NODE_MAP);
}

/* Expects a load error whose message starts with want_prefix and contains
 * want (either may be NULL). */
static void load_fails(const char *text, const char *want_prefix, const char *want)
{
    char err[256] = "";
    struct hb_config cfg;
    int rc = hb_config_load_string("test.yaml", text, strlen(text), &cfg, err, sizeof(err));
    if (rc == 0) {
        hb_config_free(&cfg);
        fail_msg("load should fail: %s", text);
    }
    assert_int_equal(rc, -1);
    /* On failure the config is left empty (safe to free again). */
    assert_null(cfg.root);
    assert_null(cfg.file);
    hb_config_free(&cfg);
    if (want_prefix && strncmp(err, want_prefix, strlen(want_prefix)) != 0)
        fail_msg("error '%s' does not start with '%s'", err, want_prefix);
    if (want && !strstr(err, want))
        fail_msg("error '%s' does not contain '%s'", err, want);
}

/* ---- loading ------------------------------------------------------------ */

static void test_load_tree(void **state)
{
    (void)state;
    struct hb_config cfg;
    load_ok("# comment\n"
            "listen: 0.0.0.0:8080\n"
            "kafka:\n"
            "  brokers: kafka:9092\n"
            "  topics: {git: hookbus.git, image: hookbus.image}\n"
            "  properties:\n"
            "    linger.ms: \"2\"\n"
            "receivers:\n"
            "  - name: acme-github\n"
            "    type: github\n"
            "    secrets: [env:A, file:/b]\n"
            "  - name: hub\n"
            "    type: dockerhub\n"
            "empty:\n"
            "tilde: ~\n"
            "quoted_null: \"null\"\n"
            "block: |\n"
            "  line one\n"
            "  line two\n",
            &cfg);
    assert_string_equal(cfg.file, "test.yaml");
    const struct hb_node *root = cfg.root;
    assert_int_equal(root->n, 7);

    const struct hb_node *n = hb_node_get(root, "listen");
    assert_non_null(n);
    assert_int_equal(n->type, HB_NODE_SCALAR);
    assert_string_equal(n->value, "0.0.0.0:8080");
    assert_string_equal(n->key, "listen");
    assert_int_equal(n->line, 2);
    assert_true(n->used);

    const struct hb_node *kafka = hb_node_get(root, "kafka");
    assert_int_equal(kafka->type, HB_NODE_MAP);
    assert_int_equal(kafka->line, 4); /* a block map starts at its first key */
    n = hb_node_path(root, "kafka.brokers");
    assert_string_equal(n->value, "kafka:9092");
    assert_int_equal(n->line, 4);
    n = hb_node_path(root, "kafka.topics.image");
    assert_non_null(n);
    assert_string_equal(n->value, "hookbus.image");
    assert_int_equal(n->line, 5);
    /* Keys with dots cannot be reached by path, but by get. */
    assert_null(hb_node_path(root, "kafka.properties.linger.ms"));
    n = hb_node_get(hb_node_path(root, "kafka.properties"), "linger.ms");
    assert_non_null(n);
    assert_string_equal(n->value, "2");
    assert_int_equal(n->line, 7);

    const struct hb_node *recv = hb_node_get(root, "receivers");
    assert_int_equal(recv->type, HB_NODE_SEQ);
    assert_int_equal(recv->n, 2);
    assert_null(recv->items[0].key);
    assert_int_equal(recv->items[0].type, HB_NODE_MAP);
    assert_int_equal(recv->items[0].line, 9);
    assert_int_equal(recv->items[1].line, 12);
    assert_string_equal(hb_node_get(&recv->items[1], "name")->value, "hub");
    const struct hb_node *sec = hb_node_get(&recv->items[0], "secrets");
    assert_int_equal(sec->type, HB_NODE_SEQ);
    assert_int_equal(sec->n, 2);
    assert_string_equal(sec->items[1].value, "file:/b");
    assert_int_equal(sec->items[1].line, 11);

    /* Empty and null plain scalars are "", a quoted "null" is text. */
    assert_string_equal(hb_node_get(root, "empty")->value, "");
    assert_string_equal(hb_node_get(root, "tilde")->value, "");
    assert_string_equal(hb_node_get(root, "quoted_null")->value, "null");
    assert_string_equal(hb_node_get(root, "block")->value, "line one\nline two\n");

    /* Missing keys, wrong node types. */
    assert_null(hb_node_get(root, "nope"));
    assert_null(hb_node_path(root, "kafka.nope"));
    assert_null(hb_node_path(root, "listen.deeper"));
    assert_null(hb_node_get(recv, "name")); /* a sequence is not a map */
    assert_null(hb_node_get(NULL, "x"));
    hb_config_free(&cfg);
    hb_config_free(&cfg); /* idempotent */
}

static void test_load_empty(void **state)
{
    (void)state;
    struct hb_config cfg;
    static const char *const empties[] = {"", "\n", "# only a comment\n", "{}"};
    for (size_t i = 0; i < sizeof(empties) / sizeof(empties[0]); i++) {
        load_ok(empties[i], &cfg);
        assert_int_equal(cfg.root->n, 0);
        char err[128];
        assert_int_equal(hb_config_check_unused(&cfg, err, sizeof(err)), 0);
        hb_config_free(&cfg);
    }
    /* hb_config_load(NULL): an empty config. */
    char err[128];
    assert_int_equal(hb_config_load(NULL, &cfg, err, sizeof(err)), 0);
    assert_int_equal(cfg.root->type, HB_NODE_MAP);
    assert_int_equal(cfg.root->n, 0);
    hb_config_free(&cfg);
}

static void test_load_file(void **state)
{
    (void)state;
    char path[] = "/tmp/hb_test_config_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "a: 1\nb:\n  c: two\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    struct hb_config cfg;
    char err[256];
    assert_int_equal(hb_config_load(path, &cfg, err, sizeof(err)), 0);
    assert_string_equal(cfg.file, path);
    assert_string_equal(hb_node_path(cfg.root, "b.c")->value, "two");
    hb_config_free(&cfg);

    /* Errors name the file. */
    hbt_write_file(path, "a: 1\na: 2\n");
    assert_int_equal(hb_config_load(path, &cfg, err, sizeof(err)), -1);
    char want[300];
    snprintf(want, sizeof(want), "%s:2: ", path);
    assert_true(strncmp(err, want, strlen(want)) == 0);

    /* Over 1 MiB. */
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("a: \"", f);
    for (int i = 0; i < (1 << 20); i++)
        fputc('x', f);
    fputs("\"\n", f);
    fclose(f);
    assert_int_equal(hb_config_load(path, &cfg, err, sizeof(err)), -1);
    assert_non_null(strstr(err, path));
    if (!strstr(err, "large"))
        fail_msg("error: %s", err);
    unlink(path);

    /* Missing file. */
    assert_int_equal(hb_config_load("/nonexistent/hookbus.yaml", &cfg, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "/nonexistent/hookbus.yaml"));
}

static void test_load_errors(void **state)
{
    (void)state;
    /* Duplicate keys, at any level, with the line of the second one. */
    load_fails("a: 1\nb: 2\na: 3\n", "test.yaml:3: ", "duplicate key 'a'");
    load_fails("k:\n  x: 1\n  y: 2\n  x: 3\n", "test.yaml:4: ", "duplicate key 'x'");
    load_fails("l:\n  - {a: 1, a: 2}\n", "test.yaml:2: ", "duplicate key 'a'");
    /* The root must be a mapping. */
    load_fails("- a\n- b\n", "test.yaml:1: ", "mapping");
    load_fails("just a string\n", "test.yaml:1: ", "mapping");
    load_fails("\n\n42\n", "test.yaml:3: ", "mapping");
    /* YAML syntax errors with their line. */
    load_fails("a: 1\nb: [1, 2\nc: 3\n", "test.yaml:", "YAML error");
    load_fails("a: 1\nb: \"unterminated\n", "test.yaml:", "YAML error");
    load_fails("a: 1\n  b: 2\n", "test.yaml:2: ", "YAML error");
    load_fails("a:\n  - x\n  y: 1\n", "test.yaml:3: ", "YAML error");
    load_fails("a: 1\n\tb: 2\n", "test.yaml:2: ", NULL);
    /* Keys must be scalars. */
    load_fails("? [a, b]\n: 1\n", "test.yaml:1: ", "keys");
    load_fails("{a: 1}: 2\n", "test.yaml:1: ", "keys");
}

static void test_load_depth_bound(void **state)
{
    (void)state;
    /* 40 nested flow sequences: over the depth bound of 32. */
    char deep[256] = "a: ";
    size_t o = strlen(deep);
    for (int i = 0; i < 40; i++)
        deep[o++] = '[';
    for (int i = 0; i < 40; i++)
        deep[o++] = ']';
    deep[o++] = '\n';
    deep[o] = '\0';
    load_fails(deep, "test.yaml:1: ", "too deep");

    /* 20 levels are fine. */
    char ok[256] = "a: ";
    o = strlen(ok);
    for (int i = 0; i < 20; i++)
        ok[o++] = '[';
    for (int i = 0; i < 20; i++)
        ok[o++] = ']';
    ok[o++] = '\n';
    ok[o] = '\0';
    struct hb_config cfg;
    load_ok(ok, &cfg);
    hb_config_free(&cfg);

    /* Alias expansion ("billion laughs") is bounded by the node count. */
    const char *laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                         "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                         "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                         "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                         "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                         "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n";
    load_fails(laughs, "test.yaml:", "too large");
}

/* ---- binding ------------------------------------------------------------ */

struct settings {
    char *listen;
    char *name;
    long workers;
    long timeout_ms;
    bool tls;
    long ratio;
};

static const struct hb_field fields[] = {
    {"listen", HB_F_STRING, offsetof(struct settings, listen), "127.0.0.1:8080", 0, 0, "address"},
    {"name", HB_F_STRING, offsetof(struct settings, name), NULL, 0, 0, "name"},
    {"limits.workers", HB_F_INT, offsetof(struct settings, workers), "4", 1, 64, "workers"},
    {"limits.timeout", HB_F_DURATION, offsetof(struct settings, timeout_ms), "10s", 100, 60000,
     "timeout"},
    {"tls.enabled", HB_F_BOOL, offsetof(struct settings, tls), "false", 0, 0, "tls"},
    {"ratio", HB_F_INT, offsetof(struct settings, ratio), "-5", 0, 0, "unbounded"},
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

static const char *const env_vars[] = {"HOOKBUS_TEST_LISTEN",         "HOOKBUS_TEST_NAME",
                                       "HOOKBUS_TEST_LIMITS_WORKERS", "HOOKBUS_TEST_LIMITS_TIMEOUT",
                                       "HOOKBUS_TEST_TLS_ENABLED",    "HOOKBUS_TEST_RATIO"};

static void clear_env(void)
{
    for (size_t i = 0; i < sizeof(env_vars) / sizeof(env_vars[0]); i++)
        unsetenv(env_vars[i]);
}

/* Binds text into s (zeroed first). 0 or -1 with err. */
static int bind_text(const char *text, const char *prefix, struct settings *s, char *err,
                     size_t errlen, struct hb_config *cfg)
{
    memset(s, 0, sizeof(*s));
    load_ok(text, cfg);
    return hb_config_bind(cfg, NULL, prefix, fields, NFIELDS, s, err, errlen);
}

static void test_bind_defaults(void **state)
{
    (void)state;
    clear_env();
    struct hb_config cfg;
    struct settings s;
    char err[256] = "";
    assert_int_equal(bind_text("{}", "test.", &s, err, sizeof(err), &cfg), 0);
    assert_string_equal(s.listen, "127.0.0.1:8080");
    assert_null(s.name);
    assert_int_equal(s.workers, 4);
    assert_int_equal(s.timeout_ms, 10000);
    assert_false(s.tls);
    assert_int_equal(s.ratio, -5);
    hb_config_fields_free(fields, NFIELDS, &s);
    assert_null(s.listen);
    hb_config_free(&cfg);
}

static void test_bind_values(void **state)
{
    (void)state;
    clear_env();
    struct hb_config cfg;
    struct settings s;
    char err[256] = "";
    assert_int_equal(bind_text("listen: 0.0.0.0:9000\n"
                               "name: gw\n"
                               "limits: {workers: 64, timeout: 500ms}\n"
                               "tls:\n"
                               "  enabled: yes\n"
                               "ratio: -999999\n",
                               NULL, &s, err, sizeof(err), &cfg),
                     0);
    assert_string_equal(s.listen, "0.0.0.0:9000");
    assert_string_equal(s.name, "gw");
    assert_int_equal(s.workers, 64);
    assert_int_equal(s.timeout_ms, 500);
    assert_true(s.tls);
    assert_int_equal(s.ratio, -999999);
    /* Everything bound was marked used. */
    assert_int_equal(hb_config_check_unused(&cfg, err, sizeof(err)), 0);
    hb_config_fields_free(fields, NFIELDS, &s);
    hb_config_free(&cfg);

    /* Durations in every unit, and bare milliseconds. */
    static const struct {
        const char *text;
        long ms;
    } durs[] = {{"limits: {timeout: 2s}", 2000},
                {"limits: {timeout: 1m}", 60000},
                {"limits: {timeout: 1500}", 1500},
                {"limits: {timeout: 100ms}", 100}};
    for (size_t i = 0; i < sizeof(durs) / sizeof(durs[0]); i++) {
        assert_int_equal(bind_text(durs[i].text, NULL, &s, err, sizeof(err), &cfg), 0);
        assert_int_equal(s.timeout_ms, durs[i].ms);
        hb_config_fields_free(fields, NFIELDS, &s);
        hb_config_free(&cfg);
    }
}

/* Expects binding text to fail with "test.yaml:LINE: KEY: ..." */
static void bind_fails(const char *text, int line, const char *key, const char *what)
{
    struct hb_config cfg;
    struct settings s;
    char err[256] = "";
    char want[128];
    if (bind_text(text, NULL, &s, err, sizeof(err), &cfg) != -1)
        fail_msg("binding should fail: %s", text);
    snprintf(want, sizeof(want), "test.yaml:%d: %s: ", line, key);
    if (strncmp(err, want, strlen(want)) != 0)
        fail_msg("error '%s' does not start with '%s'", err, want);
    if (what && !strstr(err, what))
        fail_msg("error '%s' does not contain '%s'", err, what);
    hb_config_fields_free(fields, NFIELDS, &s);
    hb_config_free(&cfg);
}

static void test_bind_errors(void **state)
{
    (void)state;
    clear_env();
    bind_fails("limits:\n  workers: 65\n", 2, "limits.workers", "out of range");
    bind_fails("limits:\n  workers: 0\n", 2, "limits.workers", "out of range");
    bind_fails("limits:\n  workers: four\n", 2, "limits.workers", "integer");
    bind_fails("limits:\n  workers: 4.5\n", 2, "limits.workers", "integer");
    bind_fails("limits:\n  workers: \"\"\n", 2, "limits.workers", "integer");
    bind_fails("limits:\n  workers: 99999999999999999999\n", 2, "limits.workers", NULL);
    bind_fails("a: 1\nlimits:\n  timeout: 50ms\n", 3, "limits.timeout", "out of range");
    bind_fails("limits:\n  timeout: 2m\n", 2, "limits.timeout", "out of range");
    bind_fails("limits:\n  timeout: 2 s\n", 2, "limits.timeout", "duration");
    bind_fails("limits:\n  timeout: -1s\n", 2, "limits.timeout", "duration");
    bind_fails("limits:\n  timeout: 1d\n", 2, "limits.timeout", "duration");
    bind_fails("tls:\n  enabled: maybe\n", 2, "tls.enabled", "true or false");
    bind_fails("\nlisten: [a, b]\n", 2, "listen", "scalar");
    bind_fails("tls: {enabled: {x: 1}}\n", 1, "tls.enabled", "scalar");
}

static void test_bind_env_override(void **state)
{
    (void)state;
    clear_env();
    struct hb_config cfg;
    struct settings s;
    char err[256] = "";
    char name[128];

    hb_config_env_name("test.", "limits.workers", name, sizeof(name));
    assert_string_equal(name, "HOOKBUS_TEST_LIMITS_WORKERS");
    hb_config_env_name("", "kafka.brokers", name, sizeof(name));
    assert_string_equal(name, "HOOKBUS_KAFKA_BROKERS");
    hb_config_env_name(NULL, "listen", name, sizeof(name));
    assert_string_equal(name, "HOOKBUS_LISTEN");
    hb_config_env_name("", "spool.max-bytes", name, sizeof(name));
    assert_string_equal(name, "HOOKBUS_SPOOL_MAX_BYTES");
    hb_config_env_name("", "kafka.brokers", name, 10); /* truncated, terminated */
    assert_string_equal(name, "HOOKBUS_K");

    /* Environment beats the file and the defaults. */
    setenv("HOOKBUS_TEST_LISTEN", "10.0.0.1:1", 1);
    setenv("HOOKBUS_TEST_LIMITS_WORKERS", "8", 1);
    setenv("HOOKBUS_TEST_LIMITS_TIMEOUT", "3s", 1);
    setenv("HOOKBUS_TEST_TLS_ENABLED", "on", 1);
    setenv("HOOKBUS_TEST_NAME", "", 1); /* set but empty is a value */
    assert_int_equal(bind_text("listen: 0.0.0.0:9000\nlimits: {workers: 2}\nname: file\n", "test.",
                               &s, err, sizeof(err), &cfg),
                     0);
    assert_string_equal(s.listen, "10.0.0.1:1");
    assert_int_equal(s.workers, 8);
    assert_int_equal(s.timeout_ms, 3000);
    assert_true(s.tls);
    assert_string_equal(s.name, "");
    assert_int_equal(s.ratio, -5); /* untouched: default */
    hb_config_fields_free(fields, NFIELDS, &s);
    hb_config_free(&cfg);

    /* Without a prefix (NULL) the environment is ignored. */
    assert_int_equal(bind_text("listen: 0.0.0.0:9000\n", NULL, &s, err, sizeof(err), &cfg), 0);
    assert_string_equal(s.listen, "0.0.0.0:9000");
    assert_int_equal(s.workers, 4);
    hb_config_fields_free(fields, NFIELDS, &s);
    hb_config_free(&cfg);

    /* A bad environment value is an error naming the variable. */
    setenv("HOOKBUS_TEST_LIMITS_WORKERS", "1000", 1);
    assert_int_equal(bind_text("{}", "test.", &s, err, sizeof(err), &cfg), -1);
    assert_non_null(strstr(err, "HOOKBUS_TEST_LIMITS_WORKERS"));
    assert_non_null(strstr(err, "out of range"));
    hb_config_fields_free(fields, NFIELDS, &s);
    hb_config_free(&cfg);
    setenv("HOOKBUS_TEST_LIMITS_WORKERS", "x", 1);
    assert_int_equal(bind_text("{}", "test.", &s, err, sizeof(err), &cfg), -1);
    assert_non_null(strstr(err, "HOOKBUS_TEST_LIMITS_WORKERS"));
    hb_config_fields_free(fields, NFIELDS, &s);
    hb_config_free(&cfg);
    clear_env();
}

static void test_bind_subnode_and_bad_default(void **state)
{
    (void)state;
    clear_env();
    struct hb_config cfg;
    char err[256] = "";
    load_ok("kafka:\n  brokers: k:9092\n  linger: 5ms\n", &cfg);
    struct kafka_settings {
        char *brokers;
        long linger;
    } k = {NULL, 0};
    const struct hb_field kf[] = {
        {"brokers", HB_F_STRING, offsetof(struct kafka_settings, brokers), NULL, 0, 0, ""},
        {"linger", HB_F_DURATION, offsetof(struct kafka_settings, linger), "0", 0, 0, ""},
    };
    setenv("HOOKBUS_KAFKA_BROKERS", "env:1", 1);
    assert_int_equal(
        hb_config_bind(&cfg, hb_node_get(cfg.root, "kafka"), "kafka.", kf, 2, &k, err, sizeof(err)),
        0);
    assert_string_equal(k.brokers, "env:1");
    assert_int_equal(k.linger, 5);
    unsetenv("HOOKBUS_KAFKA_BROKERS");
    hb_config_fields_free(kf, 2, &k);

    /* A bad default in the table is reported with the key. */
    const struct hb_field bad[] = {
        {"n", HB_F_INT, 0, "ten", 0, 0, ""},
    };
    long n;
    assert_int_equal(hb_config_bind(&cfg, NULL, NULL, bad, 1, &n, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "n: bad default"));
    hb_config_free(&cfg);
}

/* ---- --help ------------------------------------------------------------- */

/* A list or map entry documents a key the program reads itself: the binder
 * neither touches its member nor marks it used; hb_config_help prints every
 * entry with type, bounds (durations in their largest exact unit), default
 * and the HOOKBUS_* name of scalars, the help wrapped below. */
static void test_help_and_doc_entries(void **state)
{
    (void)state;
    clear_env();
    struct hb_config cfg;
    char err[256] = "", *text = NULL;
    size_t len = 0;
    load_ok("retry:\n  max: 3\ntopics: [a, b]\n", &cfg);
    struct s {
        long max, wait;
        bool on;
        char *name;
        int untouched;
    } v = {0, 0, false, NULL, 42};
    const struct hb_field f[] = {
        {"retry.max", HB_F_INT, offsetof(struct s, max), "8", 1, 1000, "attempts"},
        {"retry.wait", HB_F_DURATION, offsetof(struct s, wait), "500ms", 0, 7200000, "wait"},
        {"on", HB_F_BOOL, offsetof(struct s, on), "false", 0, 0, NULL},
        {"name", HB_F_STRING, offsetof(struct s, name), "", 0, 0, "a name"},
        {"topics", HB_F_LIST, offsetof(struct s, untouched), "[x]", 0, 0,
         "a long help text that has to be wrapped because it goes on and on beyond the "
         "width of one terminal line"},
        {"props", HB_F_MAP, offsetof(struct s, untouched), NULL, 0, 0, "free-form"},
    };
    assert_int_equal(hb_config_bind(&cfg, NULL, "", f, 6, &v, err, sizeof(err)), 0);
    assert_int_equal(v.max, 3);
    assert_int_equal(v.wait, 500);
    assert_int_equal(v.untouched, 42);
    assert_string_equal(v.name, "");
    /* topics was not read: still an unknown key until the program reads it. */
    assert_int_equal(hb_config_check_unused(&cfg, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "unknown key 'topics'"));

    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    hb_config_help(out, "app.", "app.", f, 6);
    fclose(out);
    assert_non_null(strstr(text,
                           "  app.retry.max  int 1..1000, default 8, env HOOKBUS_APP_RETRY_MAX\n"
                           "      attempts\n"));
    assert_non_null(strstr(text, "  app.retry.wait  duration 0..2h, default 500ms, "
                                 "env HOOKBUS_APP_RETRY_WAIT\n"));
    assert_non_null(strstr(text, "  app.on  bool, default false, env HOOKBUS_APP_ON\n  app.name"));
    assert_non_null(strstr(text, "  app.name  string, default \"\", env HOOKBUS_APP_NAME\n"));
    assert_non_null(strstr(text, "  app.topics  list, default [x]\n"
                                 "      a long help text that has to be wrapped because it goes on "
                                 "and on beyond\n      the width of one terminal line\n"));
    assert_non_null(strstr(text, "  app.props  map\n      free-form\n"));
    for (char *line = text; *line; line = strchr(line, '\n') + 1)
        assert_true(strcspn(line, "\n") <= 80 || strstr(line, "env HOOKBUS_"));
    free(text);
    hb_config_fields_free(f, 6, &v);
    hb_config_free(&cfg);
}

/* ---- unused keys -------------------------------------------------------- */

static void test_check_unused(void **state)
{
    (void)state;
    clear_env();
    struct hb_config cfg;
    struct settings s;
    char err[256] = "";
    assert_int_equal(bind_text("listen: a\n"
                               "limits:\n"
                               "  workers: 2\n"
                               "  wrokers: 3\n",
                               NULL, &s, err, sizeof(err), &cfg),
                     0);
    assert_int_equal(hb_config_check_unused(&cfg, err, sizeof(err)), -1);
    assert_string_equal(err, "test.yaml:4: unknown key 'limits.wrokers'");
    hb_config_fields_free(fields, NFIELDS, &s);
    hb_config_free(&cfg);

    /* An unknown top-level key. */
    assert_int_equal(bind_text("listen: a\nlisten_addr: b\n", NULL, &s, err, sizeof(err), &cfg), 0);
    assert_int_equal(hb_config_check_unused(&cfg, err, sizeof(err)), -1);
    assert_string_equal(err, "test.yaml:2: unknown key 'listen_addr'");
    hb_config_fields_free(fields, NFIELDS, &s);
    hb_config_free(&cfg);

    /* Items of a sequence read only in part. */
    load_ok("receivers:\n  - name: a\n  - name: b\n    typo: 1\n", &cfg);
    const struct hb_node *r = hb_node_get(cfg.root, "receivers");
    for (size_t i = 0; i < r->n; i++) {
        ((struct hb_node *)&r->items[i])->used = true;
        hb_node_get(&r->items[i], "name");
    }
    assert_int_equal(hb_config_check_unused(&cfg, err, sizeof(err)), -1);
    assert_string_equal(err, "test.yaml:4: unknown key 'receivers[1].typo'");
    hb_config_free(&cfg);

    /* A free-form section marked used as a whole. */
    load_ok("kafka:\n  properties:\n    linger.ms: 2\n    acks: all\n", &cfg);
    const struct hb_node *props = hb_node_path(cfg.root, "kafka.properties");
    assert_non_null(props);
    assert_int_equal(hb_config_check_unused(&cfg, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "kafka.properties.linger.ms"));
    hb_node_mark_used(props);
    assert_true(props->items[0].used);
    assert_true(props->items[1].used);
    assert_int_equal(hb_config_check_unused(&cfg, err, sizeof(err)), 0);
    hb_config_free(&cfg);
}

static void test_config_error(void **state)
{
    (void)state;
    struct hb_config cfg;
    char err[64];
    load_ok("a: 1\nb: 2\n", &cfg);
    const struct hb_node *b = hb_node_get(cfg.root, "b");
    assert_int_equal(hb_config_error(&cfg, b, err, sizeof(err), "b: %s %d", "bad", 7), -1);
    assert_string_equal(err, "test.yaml:2: b: bad 7");
    assert_int_equal(hb_config_error(&cfg, NULL, err, sizeof(err), "x"), -1);
    assert_string_equal(err, "test.yaml:1: x");
    /* Truncated, still terminated. */
    char small[12];
    hb_config_error(&cfg, b, small, sizeof(small), "a long message");
    assert_int_equal(strlen(small), sizeof(small) - 1);
    hb_config_free(&cfg);
}

/* ---- to cJSON ----------------------------------------------------------- */

static void test_node_to_cjson(void **state)
{
    (void)state;
    struct hb_config cfg;
    load_ok("headers:\n"
            "  X-Api-Key: env:KEY\n"
            "  n: 42\n"
            "  list: [a, 1, true]\n"
            "  nested: {k: v}\n"
            "  empty: ~\n",
            &cfg);
    cJSON *j = hb_node_to_cjson(hb_node_get(cfg.root, "headers"));
    assert_non_null(j);
    char *text = cJSON_PrintUnformatted(j);
    /* Scalars are strings (YAML types are not guessed). */
    assert_string_equal(text, "{\"X-Api-Key\":\"env:KEY\",\"n\":\"42\",\"list\":[\"a\",\"1\","
                              "\"true\"],\"nested\":{\"k\":\"v\"},\"empty\":\"\"}");
    free(text);
    cJSON_Delete(j);

    j = hb_node_to_cjson(cfg.root);
    assert_true(cJSON_IsObject(j));
    assert_true(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(j, "headers")));
    cJSON_Delete(j);

    j = hb_node_to_cjson(hb_node_path(cfg.root, "headers.n"));
    assert_true(cJSON_IsString(j));
    assert_string_equal(j->valuestring, "42");
    cJSON_Delete(j);
    hb_config_free(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_tree),
        cmocka_unit_test(test_load_empty),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_load_depth_bound),
        cmocka_unit_test(test_bind_defaults),
        cmocka_unit_test(test_bind_values),
        cmocka_unit_test(test_bind_errors),
        cmocka_unit_test(test_bind_env_override),
        cmocka_unit_test(test_bind_subnode_and_bad_default),
        cmocka_unit_test(test_help_and_doc_entries),
        cmocka_unit_test(test_check_unused),
        cmocka_unit_test(test_config_error),
        cmocka_unit_test(test_node_to_cjson),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
