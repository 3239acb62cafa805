/* test_filter.c: unit tests for lib/filter.c, the CloudEvents Subscriptions
 * API filter dialects (exact, prefix, suffix, all, any, not, sql). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hookbus/filter.h"

struct attr {
    const char *name;
    struct hb_cesql_value v;
};

static const struct attr event_attrs[] = {
    {"specversion", {HB_CESQL_STRING, false, 0, "1.0"}},
    {"id", {HB_CESQL_STRING, false, 0, "d-1"}},
    {"source", {HB_CESQL_STRING, false, 0, "https://github.com/acme/app"}},
    {"type", {HB_CESQL_STRING, false, 0, "dev.hookbus.git.push"}},
    {"provider", {HB_CESQL_STRING, false, 0, "github"}},
    {"repo", {HB_CESQL_STRING, false, 0, "github.com/acme/app"}},
    {"tag", {HB_CESQL_STRING, false, 0, "v1.2.3"}},
    {"sequence", {HB_CESQL_INTEGER, false, 42, NULL}},
    {"truncated", {HB_CESQL_BOOLEAN, false, 0, NULL}},
};

/* Lookup over event_attrs. */
static int lookup(void *ctx, const char *name, struct hb_cesql_value *out)
{
    (void)ctx;
    for (size_t i = 0; i < sizeof(event_attrs) / sizeof(event_attrs[0]); i++)
        if (strcmp(event_attrs[i].name, name) == 0) {
            *out = event_attrs[i].v;
            return 0;
        }
    return -1;
}

/* Builds a filter from JSON text; fails the test on an error. */
static struct hb_filter *make(const char *json)
{
    char err[512];
    cJSON *spec = cJSON_Parse(json);
    struct hb_filter *f;

    if (!spec)
        fail_msg("bad JSON in test: %s", json);
    f = hb_filter_new(spec, err, sizeof(err));
    cJSON_Delete(spec);
    if (!f)
        fail_msg("%s: %s", json, err);
    return f;
}

static void expect_match(const char *json, bool want)
{
    struct hb_filter *f = make(json);
    bool got = hb_filter_match(f, lookup, NULL);

    hb_filter_free(f);
    if (got != want)
        fail_msg("%s: got %s, want %s", json, got ? "match" : "no match",
                 want ? "match" : "no match");
}

/* Expects hb_filter_new to fail with a message containing every given
 * fragment (NULL-terminated list). */
static void expect_error(const char *json, ...)
{
    char err[512] = "";
    cJSON *spec = cJSON_Parse(json);
    struct hb_filter *f;
    const char *frag;
    va_list ap;

    if (!spec)
        fail_msg("bad JSON in test: %s", json);
    f = hb_filter_new(spec, err, sizeof(err));
    cJSON_Delete(spec);
    if (f) {
        hb_filter_free(f);
        fail_msg("%s: built, want an error", json);
    }
    va_start(ap, json);
    while ((frag = va_arg(ap, const char *)) != NULL)
        if (!strstr(err, frag)) {
            va_end(ap);
            fail_msg("%s: message '%s' lacks '%s'", json, err, frag);
        }
    va_end(ap);
}

static void test_exact_prefix_suffix(void **state)
{
    (void)state;
    expect_match("{\"exact\": {\"provider\": \"github\"}}", true);
    expect_match("{\"exact\": {\"PROVIDER\": \"github\"}}", true);
    expect_match("{\"exact\": {\"provider\": \"GitHub\"}}", false);
    expect_match("{\"exact\": {\"provider\": \"git\"}}", false);
    expect_match("{\"exact\": {\"provider\": \"github\", \"tag\": \"v1.2.3\"}}", true);
    expect_match("{\"exact\": {\"provider\": \"github\", \"tag\": \"v1\"}}", false);
    expect_match("{\"exact\": {\"missing\": \"\"}}", false);
    expect_match("{\"exact\": {\"sequence\": \"42\"}}", true);
    expect_match("{\"exact\": {\"sequence\": 42}}", true);
    expect_match("{\"exact\": {\"truncated\": false}}", true);
    expect_match("{\"exact\": {\"truncated\": \"true\"}}", false);

    expect_match("{\"prefix\": {\"type\": \"dev.hookbus.\"}}", true);
    expect_match("{\"prefix\": {\"Type\": \"dev.hookbus.git.push\"}}", true);
    expect_match("{\"prefix\": {\"type\": \"dev.hookbus.git.push.x\"}}", false);
    expect_match("{\"prefix\": {\"type\": \"DEV.\"}}", false);
    expect_match("{\"prefix\": {\"type\": \"\"}}", true);
    expect_match("{\"prefix\": {\"missing\": \"\"}}", false);
    expect_match("{\"prefix\": {\"sequence\": \"4\"}}", true);

    expect_match("{\"suffix\": {\"repo\": \"/app\"}}", true);
    expect_match("{\"suffix\": {\"repo\": \"/APP\"}}", false);
    expect_match("{\"suffix\": {\"repo\": \"x-github.com/acme/app\"}}", false);
    expect_match("{\"suffix\": {\"missing\": \"x\"}}", false);
    expect_match("{\"suffix\": {\"truncated\": \"lse\"}}", true);
}

static void test_nested_dialects(void **state)
{
    (void)state;
    /* The example of docs/design.md section 5. */
    expect_match("[{\"exact\": {\"provider\": \"github\"}}, {\"prefix\": {\"type\": "
                 "\"dev.hookbus.\"}}, {\"any\": [{\"suffix\": {\"repo\": \"/app\"}}, {\"sql\": "
                 "\"tag LIKE 'v%'\"}]}]",
                 true);
    expect_match("[{\"exact\": {\"provider\": \"gitlab\"}}, {\"prefix\": {\"type\": "
                 "\"dev.hookbus.\"}}]",
                 false);
    expect_match("[]", true);
    expect_match(
        "{\"all\": [{\"exact\": {\"provider\": \"github\"}}, {\"sql\": \"sequence > 40\"}]}", true);
    expect_match(
        "{\"all\": [{\"exact\": {\"provider\": \"github\"}}, {\"sql\": \"sequence > 50\"}]}",
        false);
    expect_match(
        "{\"any\": [{\"exact\": {\"provider\": \"gitlab\"}}, {\"sql\": \"sequence > 50\"}]}",
        false);
    expect_match(
        "{\"any\": [{\"exact\": {\"provider\": \"gitlab\"}}, {\"sql\": \"tag LIKE 'v1.%'\"}]}",
        true);
    expect_match("{\"not\": {\"exact\": {\"provider\": \"gitlab\"}}}", true);
    expect_match("{\"not\": {\"not\": {\"exact\": {\"provider\": \"gitlab\"}}}}", false);
    expect_match("{\"not\": {\"any\": [{\"sql\": \"FALSE\"}, {\"all\": [{\"prefix\": {\"tag\": "
                 "\"v\"}}, {\"not\": {\"suffix\": {\"tag\": \"-rc\"}}}]}]}}",
                 false);
    expect_match("{\"any\": [{\"all\": [{\"sql\": \"missing = 1\"}]}, {\"not\": {\"exact\": "
                 "{\"missing\": \"x\"}}}]}",
                 true);
    /* sql: a non-Boolean result or an error never passes; NOT inverts that. */
    expect_match("{\"sql\": \"tag\"}", false);
    expect_match("{\"sql\": \"INT(tag) = 1\"}", false);
    expect_match("{\"not\": {\"sql\": \"INT(tag) = 1\"}}", true);
    expect_match("{\"sql\": \"EXISTS repo AND NOT EXISTS missing\"}", true);

    assert_true(hb_filter_match(NULL, lookup, NULL));
    hb_filter_free(NULL);

    /* Without a lookup every attribute is missing. */
    struct hb_filter *f = make("{\"not\": {\"exact\": {\"provider\": \"github\"}}}");
    assert_true(hb_filter_match(f, NULL, NULL));
    hb_filter_free(f);
}

static void test_bad_specs(void **state)
{
    char deep[4096] = "", err[64];
    size_t len = 0;

    (void)state;
    expect_error("\"exact\"", "filter:", "exactly one of", NULL);
    expect_error("{}", "filter:", "exactly one of", NULL);
    expect_error("{\"exact\": {\"a\": \"b\"}, \"prefix\": {\"a\": \"b\"}}", "exactly one", NULL);
    expect_error("{\"regex\": {\"a\": \"b\"}}", "unknown filter dialect 'regex'", NULL);
    expect_error("{\"EXACT\": {\"a\": \"b\"}}", "unknown filter dialect", NULL);
    expect_error("{\"exact\": {}}", "filter.exact:", "non-empty object", NULL);
    expect_error("{\"exact\": \"type\"}", "filter.exact:", NULL);
    expect_error("{\"prefix\": {\"type\": null}}", "filter.prefix:", "'type'", "string", NULL);
    expect_error("{\"suffix\": {\"type\": 1.5}}", "'type'", NULL);
    expect_error("{\"exact\": {\"type\": {\"x\": 1}}}", "'type'", NULL);
    expect_error("{\"exact\": {\"my_ext\": \"x\"}}", "invalid attribute name 'my_ext'", NULL);
    expect_error("{\"exact\": {\"\": \"x\"}}", "invalid attribute name", NULL);
    expect_error("{\"any\": []}", "filter.any:", "non-empty array", NULL);
    expect_error("{\"all\": {\"exact\": {\"a\": \"b\"}}}", "filter.all:", "array", NULL);
    expect_error("{\"not\": [{\"exact\": {\"a\": \"b\"}}]}", "filter.not:", "filter object", NULL);
    expect_error("{\"sql\": 42}", "filter.sql:", "string", NULL);
    expect_error("{\"sql\": \"a = \"}", "filter.sql:", "parse error at column 5", NULL);
    expect_error("[{\"exact\": {\"a\": \"b\"}}, {\"any\": [{\"prefix\": {\"a\": \"b\"}}, "
                 "{\"sql\": \"tag LIKE 1\"}]}]",
                 "filter[1].any[1].sql:", "column 10", NULL);
    expect_error("[{\"exact\": {\"a\": \"b\"}}, 7]", "filter[1]:", NULL);

    for (int i = 0; i < 40; i++)
        len += (size_t)snprintf(deep + len, sizeof(deep) - len, "{\"not\": ");
    len += (size_t)snprintf(deep + len, sizeof(deep) - len, "{\"sql\": \"TRUE\"}");
    for (int i = 0; i < 40; i++)
        len += (size_t)snprintf(deep + len, sizeof(deep) - len, "}");
    expect_error(deep, "nested deeper than", NULL);

    /* A short error buffer is truncated, never overrun; none at all is fine. */
    cJSON *spec = cJSON_Parse("{\"sql\": \"(((\"}");
    assert_null(hb_filter_new(spec, err, sizeof(err)));
    assert_true(strlen(err) < sizeof(err));
    assert_null(hb_filter_new(spec, NULL, 0));
    cJSON_Delete(spec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_prefix_suffix),
        cmocka_unit_test(test_nested_dialects),
        cmocka_unit_test(test_bad_specs),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
