/* test_event.c: unit tests for hookbus/event.h (lib/event.c): setting,
 * replacing, removing and copying attributes and data, the attribute name
 * rules, hb_event_validate against the CloudEvents v1.0 type system (required
 * attributes, Integer / Boolean / URI / Timestamp / String rules), the
 * decoder limits, and hb_content_type_is_json. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hookbus/event.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- helpers ------------------------------------------------------------ */

/* A minimal valid event; caller frees. */
static struct hb_event *base_event(void)
{
    struct hb_event *ev = hb_event_new();
    assert_non_null(ev);
    assert_int_equal(hb_event_set(ev, "specversion", "1.0"), 0);
    assert_int_equal(hb_event_set(ev, "id", "delivery-1/0"), 0);
    assert_int_equal(hb_event_set(ev, "source", "/receivers/acme-github"), 0);
    assert_int_equal(hb_event_set(ev, "type", "dev.hookbus.git.push"), 0);
    return ev;
}

/* Validates ev and checks the outcome; on failure, that the message names
 * want_in_msg (when not NULL). */
static void expect_valid(const struct hb_event *ev, bool ok, const char *want_in_msg)
{
    char err[256] = "";
    int rc = hb_event_validate(ev, err, sizeof(err));
    if (ok && rc != 0)
        fail_msg("expected valid, got: %s", err);
    if (!ok) {
        if (rc == 0)
            fail_msg("expected invalid (%s)", want_in_msg ? want_in_msg : "");
        assert_int_equal(rc, -1);
        assert_true(err[0] != '\0');
        if (want_in_msg && !strstr(err, want_in_msg))
            fail_msg("message '%s' does not mention '%s'", err, want_in_msg);
    }
}

/* Sets one typed attribute on a fresh valid event and validates it. */
static void check_typed(const char *name, const char *value, enum hb_attr_type t, bool ok)
{
    struct hb_event *ev = base_event();
    if (hb_event_set_typed(ev, name, value, t) != 0)
        fail_msg("set_typed %s='%s' refused", name, value);
    char err[256] = "";
    int rc = hb_event_validate(ev, err, sizeof(err));
    if (ok && rc != 0)
        fail_msg("%s='%s' (%s) should be valid: %s", name, value, hb_attr_type_name(t), err);
    if (!ok && rc == 0)
        fail_msg("%s='%s' (%s) should be invalid", name, value, hb_attr_type_name(t));
    if (!ok && !strstr(err, name))
        fail_msg("message '%s' does not name attribute %s", err, name);
    hb_event_free(ev);
}

/* ---- set / get / unset / dup -------------------------------------------- */

static void test_set_get(void **state)
{
    (void)state;
    struct hb_event *ev = hb_event_new();
    assert_non_null(ev);
    assert_int_equal(ev->nattrs, 0);
    assert_null(ev->data);
    assert_null(hb_event_get(ev, "id"));
    assert_null(hb_event_find(ev, "id"));

    assert_int_equal(hb_event_set(ev, "id", "a"), 0);
    assert_int_equal(hb_event_set(ev, "repo", "github.com/acme/app"), 0);
    assert_string_equal(hb_event_get(ev, "id"), "a");
    assert_string_equal(hb_event_get(ev, "repo"), "github.com/acme/app");
    assert_int_equal(ev->nattrs, 2);

    /* Values are copied, not borrowed. */
    char buf[16] = "mutable";
    assert_int_equal(hb_event_set(ev, "subject", buf), 0);
    buf[0] = 'X';
    assert_string_equal(hb_event_get(ev, "subject"), "mutable");

    /* Replacing keeps one attribute, in its place. */
    assert_int_equal(hb_event_set(ev, "id", "b"), 0);
    assert_string_equal(hb_event_get(ev, "id"), "b");
    assert_int_equal(ev->nattrs, 3);
    assert_string_equal(ev->attrs[0].name, "id");

    /* Setting a value from the event itself (aliasing) is safe. */
    assert_int_equal(hb_event_set(ev, "id", hb_event_get(ev, "id")), 0);
    assert_string_equal(hb_event_get(ev, "id"), "b");

    /* Empty values are stored (validation decides). */
    assert_int_equal(hb_event_set(ev, "tag", ""), 0);
    assert_string_equal(hb_event_get(ev, "tag"), "");
    /* NULL value is refused. */
    assert_int_equal(hb_event_set(ev, "tag", NULL), -1);
    assert_string_equal(hb_event_get(ev, "tag"), "");
    hb_event_free(ev);
    hb_event_free(NULL); /* no-op */
}

static void test_spec_types(void **state)
{
    (void)state;
    assert_int_equal(hb_attr_spec_type("specversion"), HB_ATTR_STRING);
    assert_int_equal(hb_attr_spec_type("id"), HB_ATTR_STRING);
    assert_int_equal(hb_attr_spec_type("source"), HB_ATTR_URI_REF);
    assert_int_equal(hb_attr_spec_type("type"), HB_ATTR_STRING);
    assert_int_equal(hb_attr_spec_type("datacontenttype"), HB_ATTR_STRING);
    assert_int_equal(hb_attr_spec_type("dataschema"), HB_ATTR_URI);
    assert_int_equal(hb_attr_spec_type("subject"), HB_ATTR_STRING);
    assert_int_equal(hb_attr_spec_type("time"), HB_ATTR_TIMESTAMP);
    assert_int_equal(hb_attr_spec_type("partitionkey"), HB_ATTR_STRING);
    assert_int_equal(hb_attr_spec_type("whatever"), HB_ATTR_STRING);

    assert_string_equal(hb_attr_type_name(HB_ATTR_STRING), "String");
    assert_string_equal(hb_attr_type_name(HB_ATTR_INTEGER), "Integer");
    assert_string_equal(hb_attr_type_name(HB_ATTR_BOOLEAN), "Boolean");
    assert_string_equal(hb_attr_type_name(HB_ATTR_BINARY), "Binary");
    assert_string_equal(hb_attr_type_name(HB_ATTR_URI), "URI");
    assert_string_equal(hb_attr_type_name(HB_ATTR_URI_REF), "URI-reference");
    assert_string_equal(hb_attr_type_name(HB_ATTR_TIMESTAMP), "Timestamp");
    assert_string_equal(hb_attr_type_name((enum hb_attr_type)99), "?");

    /* hb_event_set picks the spec type; set_typed keeps the one given. */
    struct hb_event *ev = hb_event_new();
    assert_int_equal(hb_event_set(ev, "time", "2024-01-02T03:04:05Z"), 0);
    assert_int_equal(hb_event_find(ev, "time")->type, HB_ATTR_TIMESTAMP);
    assert_int_equal(hb_event_set(ev, "source", "/x"), 0);
    assert_int_equal(hb_event_find(ev, "source")->type, HB_ATTR_URI_REF);
    assert_int_equal(hb_event_set_typed(ev, "count", "42", HB_ATTR_INTEGER), 0);
    assert_int_equal(hb_event_find(ev, "count")->type, HB_ATTR_INTEGER);
    /* Replacing with another type changes the type. */
    assert_int_equal(hb_event_set(ev, "count", "many"), 0);
    assert_int_equal(hb_event_find(ev, "count")->type, HB_ATTR_STRING);
    assert_string_equal(hb_event_get(ev, "count"), "many");
    hb_event_free(ev);
}

static void test_unset(void **state)
{
    (void)state;
    struct hb_event *ev = hb_event_new();
    assert_int_equal(hb_event_set(ev, "a", "1"), 0);
    assert_int_equal(hb_event_set(ev, "b", "2"), 0);
    assert_int_equal(hb_event_set(ev, "c", "3"), 0);
    assert_int_equal(hb_event_unset(ev, "b"), 0);
    assert_int_equal(ev->nattrs, 2);
    assert_null(hb_event_get(ev, "b"));
    /* Order of the others is kept. */
    assert_string_equal(ev->attrs[0].name, "a");
    assert_string_equal(ev->attrs[1].name, "c");
    assert_string_equal(hb_event_get(ev, "c"), "3");
    assert_int_equal(hb_event_unset(ev, "b"), -1);
    assert_int_equal(hb_event_unset(ev, "zzz"), -1);
    assert_int_equal(hb_event_unset(ev, "c"), 0); /* the last one */
    assert_int_equal(hb_event_unset(ev, "a"), 0);
    assert_int_equal(ev->nattrs, 0);
    /* Re-adding after removing everything works. */
    assert_int_equal(hb_event_set(ev, "b", "again"), 0);
    assert_string_equal(hb_event_get(ev, "b"), "again");
    hb_event_free(ev);
}

static void test_data(void **state)
{
    (void)state;
    struct hb_event *ev = hb_event_new();
    const unsigned char bin[] = {0x00, 0xff, 0x10, 0x00, 0x7f};
    assert_int_equal(hb_event_set_data(ev, bin, sizeof(bin)), 0);
    assert_non_null(ev->data);
    assert_int_equal(ev->data_len, sizeof(bin));
    assert_memory_equal(ev->data, bin, sizeof(bin));
    /* A NUL follows the data (text convenience) but is not counted. */
    assert_int_equal(ev->data[sizeof(bin)], 0);

    /* Empty data is data (present, length 0), unlike NULL. */
    assert_int_equal(hb_event_set_data(ev, "", 0), 0);
    assert_non_null(ev->data);
    assert_int_equal(ev->data_len, 0);

    assert_int_equal(hb_event_set_data(ev, "{\"a\":1}", 7), 0);
    assert_string_equal((const char *)ev->data, "{\"a\":1}");

    assert_int_equal(hb_event_set_data(ev, NULL, 5), 0);
    assert_null(ev->data);
    assert_int_equal(ev->data_len, 0);
    hb_event_free(ev);
}

static void test_dup(void **state)
{
    (void)state;
    struct hb_event *ev = base_event();
    assert_int_equal(hb_event_set_typed(ev, "count", "-7", HB_ATTR_INTEGER), 0);
    assert_int_equal(hb_event_set_typed(ev, "flag", "true", HB_ATTR_BOOLEAN), 0);
    const unsigned char bin[] = {1, 0, 2};
    assert_int_equal(hb_event_set_data(ev, bin, sizeof(bin)), 0);

    struct hb_event *d = hb_event_dup(ev);
    assert_non_null(d);
    assert_int_equal(d->nattrs, ev->nattrs);
    for (size_t i = 0; i < ev->nattrs; i++) {
        assert_string_equal(d->attrs[i].name, ev->attrs[i].name);
        assert_string_equal(d->attrs[i].value, ev->attrs[i].value);
        assert_int_equal(d->attrs[i].type, ev->attrs[i].type);
        /* Deep: distinct storage. */
        assert_ptr_not_equal(d->attrs[i].value, ev->attrs[i].value);
    }
    assert_int_equal(d->data_len, sizeof(bin));
    assert_memory_equal(d->data, bin, sizeof(bin));
    assert_ptr_not_equal(d->data, ev->data);

    /* Changing the copy leaves the original alone. */
    assert_int_equal(hb_event_set(d, "id", "other"), 0);
    assert_string_equal(hb_event_get(ev, "id"), "delivery-1/0");
    hb_event_free(ev);
    expect_valid(d, true, NULL);
    hb_event_free(d);

    /* Without data, and with empty data. */
    ev = base_event();
    d = hb_event_dup(ev);
    assert_non_null(d);
    assert_null(d->data);
    hb_event_free(d);
    assert_int_equal(hb_event_set_data(ev, "", 0), 0);
    d = hb_event_dup(ev);
    assert_non_null(d);
    assert_non_null(d->data);
    assert_int_equal(d->data_len, 0);
    hb_event_free(d);
    hb_event_free(ev);
}

/* ---- names -------------------------------------------------------------- */

static void test_attr_names(void **state)
{
    (void)state;
    char name65[66], name64[65];
    memset(name64, 'a', 64);
    name64[64] = '\0';
    memset(name65, 'a', 65);
    name65[65] = '\0';

    static const char *const good[] = {"a",  "id", "specversion", "partitionkey",
                                       "x1", "0",  "abc123xyz"};
    for (size_t i = 0; i < COUNT(good); i++)
        if (!hb_attr_name_valid(good[i]))
            fail_msg("'%s' should be a valid name", good[i]);
    assert_true(hb_attr_name_valid(name64));

    static const char *const bad[] = {"",    "ID",       "Id",  "my-ext", "my_ext", "a.b",
                                      "a b", "\xc3\xa9", "a\n", "data!",  " id"};
    for (size_t i = 0; i < COUNT(bad); i++)
        if (hb_attr_name_valid(bad[i]))
            fail_msg("'%s' should be an invalid name", bad[i]);
    assert_false(hb_attr_name_valid(name65));

    /* Setters refuse bad names and leave the event unchanged. */
    struct hb_event *ev = hb_event_new();
    for (size_t i = 0; i < COUNT(bad); i++)
        assert_int_equal(hb_event_set(ev, bad[i], "v"), -1);
    assert_int_equal(hb_event_set(ev, name65, "v"), -1);
    assert_int_equal(hb_event_set_typed(ev, "Count", "1", HB_ATTR_INTEGER), -1);
    assert_int_equal(ev->nattrs, 0);
    assert_int_equal(hb_event_set(ev, name64, "v"), 0);
    assert_int_equal(ev->nattrs, 1);
    hb_event_free(ev);
}

/* ---- required attributes ------------------------------------------------ */

static void test_validate_minimal(void **state)
{
    (void)state;
    struct hb_event *ev = base_event();
    expect_valid(ev, true, NULL);
    /* A fully populated hookbus event. */
    assert_int_equal(hb_event_set(ev, "subject", "github.com/acme/app@refs/heads/main"), 0);
    assert_int_equal(hb_event_set(ev, "time", "2024-05-06T07:08:09.123Z"), 0);
    assert_int_equal(hb_event_set(ev, "datacontenttype", "application/json"), 0);
    assert_int_equal(hb_event_set(ev, "dataschema", "urn:hookbus:schema:dev.hookbus.git.push:1"),
                     0);
    assert_int_equal(hb_event_set(ev, "provider", "github"), 0);
    assert_int_equal(hb_event_set(ev, "repo", "github.com/acme/app"), 0);
    assert_int_equal(hb_event_set(ev, "partitionkey", "github.com/acme/app"), 0);
    assert_int_equal(hb_event_set_data(ev, "{}", 2), 0);
    expect_valid(ev, true, NULL);
    hb_event_free(ev);
}

static void test_validate_required(void **state)
{
    (void)state;
    static const char *const required[] = {"specversion", "id", "source", "type"};
    for (size_t i = 0; i < COUNT(required); i++) {
        struct hb_event *ev = base_event();
        assert_int_equal(hb_event_unset(ev, required[i]), 0);
        expect_valid(ev, false, required[i]);
        assert_int_equal(hb_event_set(ev, required[i], ""), 0);
        expect_valid(ev, false, required[i]);
        hb_event_free(ev);
    }
    /* An empty event names the first missing one. */
    struct hb_event *ev = hb_event_new();
    expect_valid(ev, false, "specversion");
    hb_event_free(ev);
}

/* hb_event_check remembers a pass until an attribute changes: a change
 * through set or unset is validated again, and a dup keeps the mark. */
static void test_check_remembered(void **state)
{
    (void)state;
    char err[256];
    struct hb_event *ev = base_event();
    assert_int_equal(hb_event_check(ev, err, sizeof(err)), 0);
    assert_true(ev->checked);
    struct hb_event *copy = hb_event_dup(ev);
    assert_true(copy->checked);
    hb_event_free(copy);
    /* A valid set or an optional unset keeps the mark; the value is checked. */
    assert_int_equal(hb_event_set(ev, "traceparent",
                                  "00-0af7651916cd43dd8448eb211c80319c-"
                                  "b7ad6b7169203331-01"),
                     0);
    assert_int_equal(hb_event_set(ev, "id", "other"), 0);
    assert_int_equal(hb_event_unset(ev, "traceparent"), 0);
    assert_true(ev->checked);
    assert_int_equal(hb_event_set(ev, "id", ""), 0);
    assert_false(ev->checked);
    assert_int_equal(hb_event_validate(ev, err, sizeof(err)), -1);
    assert_int_equal(hb_event_set(ev, "id", "1"), 0);
    assert_false(ev->checked); /* not re-marked by a set: only by a check */
    assert_int_equal(hb_event_check(ev, err, sizeof(err)), 0);
    assert_int_equal(hb_event_set(ev, "specversion", "0.3"), 0);
    assert_false(ev->checked);
    assert_int_equal(hb_event_set(ev, "specversion", "1.0"), 0);
    assert_int_equal(hb_event_check(ev, err, sizeof(err)), 0);
    assert_int_equal(hb_event_set(ev, "subject", ""), 0);
    assert_false(ev->checked);
    assert_int_equal(hb_event_unset(ev, "subject"), 0);
    assert_int_equal(hb_event_check(ev, err, sizeof(err)), 0);
    assert_int_equal(hb_event_set(ev, "time", "yesterday"), 0);
    assert_false(ev->checked);
    assert_int_equal(hb_event_validate(ev, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "time"));
    assert_int_equal(hb_event_check(ev, err, sizeof(err)), -1);
    assert_false(ev->checked);
    assert_int_equal(hb_event_unset(ev, "time"), 0);
    assert_int_equal(hb_event_check(ev, err, sizeof(err)), 0);
    assert_int_equal(hb_event_unset(ev, "id"), 0);
    assert_false(ev->checked);
    assert_int_equal(hb_event_validate(ev, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "'id'"));
    /* Required ones are named before a bad attribute, whatever the order. */
    assert_int_equal(hb_event_set(ev, "dataschema", "not a uri"), 0);
    assert_int_equal(hb_event_validate(ev, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "'id'"));
    assert_int_equal(hb_event_set(ev, "id", "1"), 0);
    assert_int_equal(hb_event_validate(ev, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "dataschema"));
    hb_event_free(ev);
}

static void test_validate_specversion(void **state)
{
    (void)state;
    static const char *const bad[] = {"0.3", "1", "1.0.0", "2.0", " 1.0", "1.0 ", "v1.0"};
    for (size_t i = 0; i < COUNT(bad); i++) {
        struct hb_event *ev = base_event();
        assert_int_equal(hb_event_set(ev, "specversion", bad[i]), 0);
        expect_valid(ev, false, "specversion");
        hb_event_free(ev);
    }
}

/* ---- typed values ------------------------------------------------------- */

static void test_validate_integer(void **state)
{
    (void)state;
    static const char *const good[] = {"0", "-0", "42", "-1", "2147483647", "-2147483648"};
    /* The string encoding is the integer part of a JSON number: no '+', no
     * leading zeros, no spaces. */
    static const char *const bad[] = {
        "2147483648", "-2147483649", "+1",  "007", "-01",
        "00",         "1.0",         "1e3", "",    " 1",
        "1 ",         "0x10",        "abc", "-",   "99999999999999999999"};
    for (size_t i = 0; i < COUNT(good); i++)
        check_typed("count", good[i], HB_ATTR_INTEGER, true);
    for (size_t i = 0; i < COUNT(bad); i++)
        check_typed("count", bad[i], HB_ATTR_INTEGER, false);
}

static void test_validate_boolean(void **state)
{
    (void)state;
    check_typed("flag", "true", HB_ATTR_BOOLEAN, true);
    check_typed("flag", "false", HB_ATTR_BOOLEAN, true);
    static const char *const bad[] = {"TRUE", "True", "FALSE", "1", "0", "yes", "", "true "};
    for (size_t i = 0; i < COUNT(bad); i++)
        check_typed("flag", bad[i], HB_ATTR_BOOLEAN, false);
}

static void test_validate_binary(void **state)
{
    (void)state;
    check_typed("blob", "AAEC", HB_ATTR_BINARY, true);
    check_typed("blob", "aGVsbG8=", HB_ATTR_BINARY, true);
    check_typed("blob", "", HB_ATTR_BINARY, true);
    check_typed("blob", "a*b=", HB_ATTR_BINARY, false);
    check_typed("blob", "A", HB_ATTR_BINARY, false);
}

static void test_validate_uri(void **state)
{
    (void)state;
    /* dataschema is a URI: absolute, with a scheme. */
    static const char *const good[] = {"https://example.com/schema.json",
                                       "urn:hookbus:schema:dev.hookbus.git.push:1", "http://x",
                                       "tag:example.com,2024:x", "a+b-c.d:rest"};
    static const char *const bad[] = {"/relative/path", "schema.json", "",
                                      "://x",           "1http://x",   "https://exa mple.com",
                                      "https://x/\ty",  "-x:y"};
    for (size_t i = 0; i < COUNT(good); i++)
        check_typed("dataschema", good[i], HB_ATTR_URI, true);
    for (size_t i = 0; i < COUNT(bad); i++)
        check_typed("dataschema", bad[i], HB_ATTR_URI, false);
    /* An extension declared URI follows the same rules. */
    check_typed("link", "https://example.com", HB_ATTR_URI, true);
    check_typed("link", "example.com", HB_ATTR_URI, false);

    /* source is a URI-reference: relative is fine, empty or spaces are not. */
    struct hb_event *ev = base_event();
    assert_int_equal(hb_event_set(ev, "source", "https://github.com/acme/app"), 0);
    expect_valid(ev, true, NULL);
    assert_int_equal(hb_event_set(ev, "source", "urn:x"), 0);
    expect_valid(ev, true, NULL);
    assert_int_equal(hb_event_set(ev, "source", "relative/ref"), 0);
    expect_valid(ev, true, NULL);
    assert_int_equal(hb_event_set(ev, "source", "/a b"), 0);
    expect_valid(ev, false, "source");
    hb_event_free(ev);
}

static void test_validate_timestamp(void **state)
{
    (void)state;
    static const char *const good[] = {
        "2024-01-02T03:04:05Z",           "2024-01-02T03:04:05z",      "2024-01-02t03:04:05Z",
        "2024-01-02 03:04:05Z",           "2024-01-02T03:04:05.1Z",    "2024-01-02T03:04:05.123Z",
        "2024-01-02T03:04:05.123456789Z", "2024-01-02T03:04:05+01:00", "2024-01-02T03:04:05-08:00",
        "2024-01-02T03:04:05.5+05:30",    "2024-12-31T23:59:59Z",      "2016-12-31T23:59:60Z",
        "2024-02-29T00:00:00Z",           "0001-01-01T00:00:00Z",      "2024-01-02T03:04:05+00:00",
        "2024-01-02T03:04:05+23:59",
    };
    static const char *const bad[] = {
        "",
        "2024-01-02",
        "2024-01-02T03:04:05",    /* no offset */
        "2024-13-02T03:04:05Z",   /* month 13 */
        "2024-00-02T03:04:05Z",   /* month 0 */
        "2024-01-00T03:04:05Z",   /* day 0 */
        "2024-01-32T03:04:05Z",   /* day 32 */
        "2024-01-02T24:00:00Z",   /* hour 24 */
        "2024-01-02T03:60:05Z",   /* minute 60 */
        "2024-01-02T03:04:61Z",   /* second 61 */
        "2024-01-02T03:04:05.Z",  /* empty fraction */
        "2024-01-02T03:04:05,5Z", /* comma fraction */
        "2024-01-02T03:04:05.12aZ",
        "2024-01-02T03:04:05+0100", /* offset without colon */
        "2024-01-02T03:04:05+01",   /* offset without minutes */
        "2024-01-02T03:04:05+1:00",
        "2024-01-02T03:04:05 +01:00",
        "2024-01-02T03:04:05+01:00Z",
        "2024-01-02T03:04:05ZZ",
        "2024-01-02T03:04:05Z ",
        "2024-01-02T03:04:05UTC",
        "2024/01/02T03:04:05Z",
        "2024-1-02T03:04:05Z",
        "24-01-02T03:04:05Z",
        "2024-01-02X03:04:05Z",
        "2024-01-02T03:04:05+24:00", /* offset hour 24 */
        "2024-01-02T03:04:05-01:60", /* offset minute 60 */
        "2023-02-29T00:00:00Z",      /* not a leap year */
        "2024-02-30T00:00:00Z",
        "2024-04-31T00:00:00Z",
        "1900-02-29T00:00:00Z", /* century, not a leap year */
        "1714000000",
    };
    for (size_t i = 0; i < COUNT(good); i++)
        check_typed("time", good[i], HB_ATTR_TIMESTAMP, true);
    for (size_t i = 0; i < COUNT(bad); i++)
        check_typed("time", bad[i], HB_ATTR_TIMESTAMP, false);
    check_typed("time", "2000-02-29T00:00:00Z", HB_ATTR_TIMESTAMP, true);
    /* Extensions declared Timestamp are checked too. */
    check_typed("seen", "2024-01-02T03:04:05Z", HB_ATTR_TIMESTAMP, true);
    check_typed("seen", "yesterday", HB_ATTR_TIMESTAMP, false);
}

static void test_validate_string(void **state)
{
    (void)state;
    static const char *const good[] = {
        "plain",
        "",                 /* an empty extension string is allowed */
        "caf\xc3\xa9",      /* U+00E9 */
        "\xe2\x82\xac",     /* U+20AC */
        "\xf0\x9f\x98\x80", /* U+1F600 */
        "\xc2\xa0",         /* U+00A0, first after the C1 range */
        "\xef\xbf\xbd",     /* U+FFFD */
        "tab-free ~ text",
    };
    static const char *const bad[] = {
        "a\tb", /* C0 controls */
        "line\n",
        "cr\r",
        "\x01",
        "\x1b[31m",
        "del\x7f",
        "\xc2\x80",             /* U+0080, C1 control */
        "\xc2\x9f",             /* U+009F */
        "\xc3",                 /* truncated sequence */
        "\xc3(",                /* bad continuation */
        "\x80",                 /* lone continuation byte */
        "\xc0\xaf",             /* overlong '/' */
        "\xe0\x80\xaf",         /* overlong */
        "\xed\xa0\x80",         /* surrogate U+D800 */
        "\xed\xbf\xbf",         /* surrogate U+DFFF */
        "\xf4\x90\x80\x80",     /* above U+10FFFF */
        "\xf8\x88\x80\x80\x80", /* 5-byte form */
        "\xff",
        "\xe2\x82",         /* truncated at the end */
        "\xef\xbf\xbe",     /* noncharacter U+FFFE */
        "\xef\xbf\xbf",     /* noncharacter U+FFFF */
        "\xef\xb7\x90",     /* noncharacter U+FDD0 */
        "\xf0\x9f\xbf\xbf", /* noncharacter U+1FFFF */
    };
    for (size_t i = 0; i < COUNT(good); i++)
        check_typed("note", good[i], HB_ATTR_STRING, true);
    for (size_t i = 0; i < COUNT(bad); i++)
        check_typed("note", bad[i], HB_ATTR_STRING, false);
    /* The same rules apply to the required String attributes. */
    check_typed("id", "abc\n", HB_ATTR_STRING, false);
    check_typed("type", "dev.hookbus.\xc3", HB_ATTR_STRING, false);
}

static void test_validate_subject_and_content_type(void **state)
{
    (void)state;
    check_typed("subject", "", HB_ATTR_STRING, false);
    check_typed("subject", "github.com/acme/app:v1", HB_ATTR_STRING, true);

    check_typed("datacontenttype", "json", HB_ATTR_STRING, false);
    check_typed("datacontenttype", "", HB_ATTR_STRING, false);
    check_typed("datacontenttype", "application/json", HB_ATTR_STRING, true);
    check_typed("datacontenttype", "application/json; charset=utf-8", HB_ATTR_STRING, true);
    check_typed("datacontenttype", "text/plain", HB_ATTR_STRING, true);

    /* Empty optional spec attributes with a structured type are invalid. */
    check_typed("dataschema", "", HB_ATTR_URI, false);
    check_typed("time", "", HB_ATTR_TIMESTAMP, false);
}

static void test_validate_spec_attr_types(void **state)
{
    (void)state;
    /* A spec attribute may be given as String (it is then checked against its
     * spec type) or with its own type, but not with another type. */
    check_typed("time", "2024-01-02T03:04:05Z", HB_ATTR_STRING, true);
    check_typed("time", "not a time", HB_ATTR_STRING, false);
    check_typed("dataschema", "relative", HB_ATTR_STRING, false);
    check_typed("id", "1", HB_ATTR_INTEGER, false);
    check_typed("time", "true", HB_ATTR_BOOLEAN, false);
    check_typed("source", "https://x/y", HB_ATTR_URI, false); /* must be URI-reference */
    check_typed("source", "https://x/y", HB_ATTR_URI_REF, true);
}

static void test_validate_reserved_and_bad_names(void **state)
{
    (void)state;
    /* A name that the setters refuse can still reach validate through a
     * decoder that builds attrs itself; validate must catch it. */
    struct hb_event *ev = base_event();
    struct hb_attr *a = &ev->attrs[0];
    static const char bad[] = "Spec-Version";
    size_t vlen = strlen(a->value);
    char *block = malloc(sizeof(bad) + vlen + 1); /* name and value, as the setters */
    assert_non_null(block);
    memcpy(block, bad, sizeof(bad));
    memcpy(block + sizeof(bad), a->value, vlen + 1);
    free(a->name);
    a->name = block;
    a->value = block + sizeof(bad);
    /* specversion is now missing; fix that so the name check is reached. */
    assert_int_equal(hb_event_set(ev, "specversion", "1.0"), 0);
    expect_valid(ev, false, "Spec-Version");
    hb_event_free(ev);

    /* "data" and "data_base64": data_base64 is an invalid name anyway,
     * "data" is a valid name but reserved. */
    ev = base_event();
    assert_int_equal(hb_event_set(ev, "data", "x"), 0);
    expect_valid(ev, false, "data");
    hb_event_free(ev);
}

/* ---- limits ------------------------------------------------------------- */

static void test_limits(void **state)
{
    (void)state;
    char name[16];
    struct hb_event *ev = hb_event_new();
    for (int i = 0; i < HB_EVENT_MAX_ATTRS; i++) {
        snprintf(name, sizeof(name), "x%d", i);
        assert_int_equal(hb_event_set(ev, name, "v"), 0);
    }
    assert_int_equal(ev->nattrs, HB_EVENT_MAX_ATTRS);
    assert_int_equal(hb_event_set(ev, "onemore", "v"), -1);
    assert_int_equal(ev->nattrs, HB_EVENT_MAX_ATTRS);
    assert_null(hb_event_get(ev, "onemore"));
    /* Replacing an existing one still works at the limit. */
    assert_int_equal(hb_event_set(ev, "x5", "replaced"), 0);
    assert_string_equal(hb_event_get(ev, "x5"), "replaced");
    /* After removing one there is room again. */
    assert_int_equal(hb_event_unset(ev, "x0"), 0);
    assert_int_equal(hb_event_set(ev, "onemore", "v"), 0);
    hb_event_free(ev);

    char *big = malloc(HB_EVENT_MAX_ATTR_VALUE + 2);
    assert_non_null(big);
    memset(big, 'v', HB_EVENT_MAX_ATTR_VALUE + 1);
    big[HB_EVENT_MAX_ATTR_VALUE + 1] = '\0';
    ev = base_event();
    assert_int_equal(hb_event_set(ev, "big", big), -1);
    assert_null(hb_event_get(ev, "big"));
    /* Replacing with an over-long value keeps the old value. */
    assert_int_equal(hb_event_set(ev, "id", big), -1);
    assert_string_equal(hb_event_get(ev, "id"), "delivery-1/0");
    big[HB_EVENT_MAX_ATTR_VALUE] = '\0'; /* exactly the limit */
    assert_int_equal(hb_event_set(ev, "big", big), 0);
    assert_int_equal(strlen(hb_event_get(ev, "big")), HB_EVENT_MAX_ATTR_VALUE);
    expect_valid(ev, true, NULL);
    free(big);
    hb_event_free(ev);
}

/* ---- content types ------------------------------------------------------ */

static void test_content_type_is_json(void **state)
{
    (void)state;
    static const char *const yes[] = {
        "application/json",
        "APPLICATION/JSON",
        "Application/Json",
        "text/json",
        "application/json; charset=utf-8",
        "application/json;charset=UTF-8",
        "application/json ; charset=utf-8",
        "application/cloudevents+json",
        "application/vnd.docker.distribution.events.v1+json",
        "application/vnd.api+json; ext=bulk",
        "application/ld+json",
        "",
    };
    static const char *const no[] = {
        "text/plain",
        "application/xml",
        "application/octet-stream",
        "application/jsonx",
        "application/json-patch",
        "application/x-www-form-urlencoded",
        "application/cloudevents+avro",
        "json",
        "application/json+xml",
        "text/plain; note=application/json",
    };
    for (size_t i = 0; i < COUNT(yes); i++)
        if (!hb_content_type_is_json(yes[i]))
            fail_msg("'%s' should be JSON", yes[i]);
    for (size_t i = 0; i < COUNT(no); i++)
        if (hb_content_type_is_json(no[i]))
            fail_msg("'%s' should not be JSON", no[i]);
    assert_true(hb_content_type_is_json(NULL)); /* absent: JSON */

    /* A very long media type is not JSON (and does not overflow). */
    char longct[300];
    memset(longct, 'a', sizeof(longct) - 6);
    memcpy(longct + sizeof(longct) - 6, "+json", 6);
    assert_false(hb_content_type_is_json(longct));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_get),
        cmocka_unit_test(test_spec_types),
        cmocka_unit_test(test_unset),
        cmocka_unit_test(test_data),
        cmocka_unit_test(test_dup),
        cmocka_unit_test(test_attr_names),
        cmocka_unit_test(test_validate_minimal),
        cmocka_unit_test(test_validate_required),
        cmocka_unit_test(test_validate_specversion),
        cmocka_unit_test(test_check_remembered),
        cmocka_unit_test(test_validate_integer),
        cmocka_unit_test(test_validate_boolean),
        cmocka_unit_test(test_validate_binary),
        cmocka_unit_test(test_validate_uri),
        cmocka_unit_test(test_validate_timestamp),
        cmocka_unit_test(test_validate_string),
        cmocka_unit_test(test_validate_subject_and_content_type),
        cmocka_unit_test(test_validate_spec_attr_types),
        cmocka_unit_test(test_validate_reserved_and_bad_names),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_content_type_is_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
