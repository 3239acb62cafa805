/* test_log.c: unit tests for hookbus/log.h (lib/log.c). stderr is redirected
 * to a temporary file around each call so the exact lines can be checked:
 * the key=value text format and its quoting, the JSON-lines format with typed
 * fields, the level threshold (and that disabled calls do not evaluate their
 * arguments), and the level / format parsers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hookbus/log.h"
#include "hookbus/util.h"

/* ---- stderr capture ----------------------------------------------------- */

static int saved_fd = -1;
static FILE *capture_file;

static void capture_start(void)
{
    fflush(stderr);
    capture_file = tmpfile();
    assert_non_null(capture_file);
    saved_fd = dup(STDERR_FILENO);
    assert_true(saved_fd >= 0);
    assert_true(dup2(fileno(capture_file), STDERR_FILENO) >= 0);
}

/* Restores stderr and returns everything written meanwhile (caller frees). */
static char *capture_end(void)
{
    fflush(stderr);
    assert_true(dup2(saved_fd, STDERR_FILENO) >= 0);
    close(saved_fd);
    saved_fd = -1;
    assert_int_equal(fseek(capture_file, 0, SEEK_END), 0);
    long n = ftell(capture_file);
    assert_true(n >= 0);
    rewind(capture_file);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    size_t got = fread(buf, 1, (size_t)n, capture_file);
    buf[got] = '\0';
    fclose(capture_file);
    capture_file = NULL;
    return buf;
}

/* Counts newlines. */
static int lines_in(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* ---- tests -------------------------------------------------------------- */

/* Runs first: before any hb_log_setup, the format follows stderr, and a
 * file is not a terminal, so JSON. */
static void test_default_format(void **state)
{
    (void)state;
    capture_start();
    enum hb_log_format f = hb_log_default_format();
    hb_log_emit(HB_LOG_INFO, "hello", HB_KV_END);
    char *out = capture_end();
    assert_int_equal(f, HB_LOG_JSON);
    cJSON *j = cJSON_Parse(out);
    if (!j)
        fail_msg("not JSON: %s", out);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "msg")->valuestring, "hello");
    cJSON_Delete(j);
    free(out);
    /* Default level is info. */
    assert_false(hb_log_enabled(HB_LOG_DEBUG));
    assert_true(hb_log_enabled(HB_LOG_INFO));
}

static void test_parsers(void **state)
{
    (void)state;
    enum hb_log_level l;
    enum hb_log_format f;
    assert_int_equal(hb_log_level_parse("debug", &l), 0);
    assert_int_equal(l, HB_LOG_DEBUG);
    assert_int_equal(hb_log_level_parse("info", &l), 0);
    assert_int_equal(l, HB_LOG_INFO);
    assert_int_equal(hb_log_level_parse("warn", &l), 0);
    assert_int_equal(l, HB_LOG_WARN);
    assert_int_equal(hb_log_level_parse("warning", &l), 0);
    assert_int_equal(l, HB_LOG_WARN);
    assert_int_equal(hb_log_level_parse("error", &l), 0);
    assert_int_equal(l, HB_LOG_ERROR);
    assert_int_equal(hb_log_level_parse("trace", &l), -1);
    assert_int_equal(hb_log_level_parse("", &l), -1);
    assert_int_equal(hb_log_level_parse("INFO ", &l), -1);
    assert_int_equal(hb_log_format_parse("text", &f), 0);
    assert_int_equal(f, HB_LOG_TEXT);
    assert_int_equal(hb_log_format_parse("json", &f), 0);
    assert_int_equal(f, HB_LOG_JSON);
    assert_int_equal(hb_log_format_parse("logfmt", &f), -1);
    assert_int_equal(hb_log_format_parse("", &f), -1);
}

static void test_text_format(void **state)
{
    (void)state;
    hb_log_setup(HB_LOG_DEBUG, HB_LOG_TEXT);
    capture_start();
    HB_LOG(HB_LOG_INFO, "event published", HB_S("receiver", "acme-github"),
           HB_S("topic", "hookbus.git"), HB_I("partition", 3), HB_I("offset", -1LL),
           HB_F("latency", 0.25), HB_B("durable", 1), HB_B("spooled", 0));
    char *out = capture_end();
    assert_int_equal(lines_in(out), 1);
    /* 2024-01-02T03:04:05.678Z info  event published k=v ... */
    assert_int_equal(strlen(out) > 25, 1);
    assert_int_equal(out[10], 'T');
    assert_int_equal(out[23], 'Z');
    const char *rest = out + 24;
    assert_string_equal(rest, " info  event published receiver=acme-github topic=hookbus.git "
                              "partition=3 offset=-1 latency=0.25 durable=true spooled=false\n");
    free(out);

    capture_start();
    HB_LOG(HB_LOG_ERROR, "x");
    out = capture_end();
    assert_string_equal(out + 24, " error x\n");
    free(out);

    /* Integers written without printf: the ends of the range too. */
    capture_start();
    HB_LOG(HB_LOG_INFO, "n", HB_I("zero", 0), HB_I("max", LLONG_MAX), HB_I("min", LLONG_MIN),
           HB_I("neg", -42));
    out = capture_end();
    assert_string_equal(out + 24, " info  n zero=0 max=9223372036854775807 "
                                  "min=-9223372036854775808 neg=-42\n");
    free(out);

    capture_start();
    HB_LOG(HB_LOG_WARN, "y", HB_I("n", 1));
    out = capture_end();
    assert_string_equal(out + 24, " warn  y n=1\n");
    free(out);
}

static void test_text_quoting(void **state)
{
    (void)state;
    hb_log_setup(HB_LOG_DEBUG, HB_LOG_TEXT);
    static const struct {
        const char *value, *rendered;
    } cases[] = {
        {"plain", "plain"},
        {"two words", "\"two words\""},
        {"say \"hi\"", "\"say \\\"hi\\\"\""},
        {"a=b", "\"a=b\""},
        {"back\\slash", "\"back\\\\slash\""},
        {"", "\"\""},
        {"tab\there", "\"tab\\x09here\""},
        {"line\nbreak", "\"line\\x0abreak\""},
        {"cr\r", "\"cr\\x0d\""},
        /* Every control character is quoted and escaped: a raw ESC would
         * let a value drive the terminal. */
        {"\x1b[31mred", "\"\\x1b[31mred\""},
        {"bell\x07", "\"bell\\x07\""},
        {"del\x7f", "\"del\\x7f\""},
        {"caf\xc3\xa9", "caf\xc3\xa9"},
        {"https://github.com/acme/app.git", "https://github.com/acme/app.git"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        capture_start();
        HB_LOG(HB_LOG_INFO, "m", HB_S("k", cases[i].value));
        char *out = capture_end();
        char want[128];
        snprintf(want, sizeof(want), " info  m k=%s\n", cases[i].rendered);
        if (strcmp(out + 24, want) != 0)
            fail_msg("value %zu: got '%s', want '%s'", i, out + 24, want);
        assert_int_equal(lines_in(out), 1);
        free(out);
    }
    /* A NULL string is logged as empty. */
    capture_start();
    HB_LOG(HB_LOG_INFO, "m", HB_S("k", NULL));
    char *out = capture_end();
    assert_string_equal(out + 24, " info  m k=\"\"\n");
    free(out);
}

static void test_json_format(void **state)
{
    (void)state;
    hb_log_setup(HB_LOG_DEBUG, HB_LOG_JSON);
    capture_start();
    HB_LOG(HB_LOG_WARN, "delivery \"failed\"", HB_S("receiver", "hub"),
           HB_S("reason", "line\nbreak \x1b"), HB_I("status", 503), HB_I("big", 1LL << 40),
           HB_F("latency", 1.5), HB_B("retry", 1), HB_B("spooled", 0), HB_S("empty", NULL));
    char *out = capture_end();
    assert_int_equal(lines_in(out), 1);
    assert_int_equal(out[strlen(out) - 1], '\n');
    cJSON *j = cJSON_Parse(out);
    if (!j)
        fail_msg("not JSON: %s", out);
    const cJSON *it;
    it = cJSON_GetObjectItemCaseSensitive(j, "time");
    assert_true(cJSON_IsString(it));
    assert_int_equal(strlen(it->valuestring), 24);
    assert_int_equal(it->valuestring[23], 'Z');
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "level")->valuestring, "warn");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "msg")->valuestring,
                        "delivery \"failed\"");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "receiver")->valuestring, "hub");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "reason")->valuestring,
                        "line\nbreak \x1b");
    it = cJSON_GetObjectItemCaseSensitive(j, "status");
    assert_true(cJSON_IsNumber(it));
    assert_int_equal(it->valueint, 503);
    it = cJSON_GetObjectItemCaseSensitive(j, "big");
    assert_true(cJSON_IsNumber(it));
    assert_true(it->valuedouble == (double)(1LL << 40));
    it = cJSON_GetObjectItemCaseSensitive(j, "latency");
    assert_true(cJSON_IsNumber(it));
    assert_true(it->valuedouble == 1.5);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "retry")));
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(j, "spooled")));
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "empty")->valuestring, "");
    /* Byte for byte what cJSON prints for the same object (the line is
     * written directly, not printed from a tree). */
    char *again = cJSON_PrintUnformatted(j);
    assert_non_null(again);
    assert_int_equal(strlen(out), strlen(again) + 1);
    assert_memory_equal(out, again, strlen(again));
    cJSON_free(again);
    /* time, level, msg first. */
    assert_string_equal(j->child->string, "time");
    assert_string_equal(j->child->next->string, "level");
    assert_string_equal(j->child->next->next->string, "msg");
    cJSON_Delete(j);
    /* The newline inside a value is escaped: one physical line. */
    assert_ptr_equal(strchr(out, '\n'), out + strlen(out) - 1);
    free(out);

    /* Several calls give several lines, each valid JSON. */
    capture_start();
    for (int i = 0; i < 3; i++)
        HB_LOG(HB_LOG_ERROR, "n", HB_I("i", i));
    out = capture_end();
    assert_int_equal(lines_in(out), 3);
    int i = 0;
    for (char *line = out, *nl; (nl = strchr(line, '\n')) != NULL; line = nl + 1, i++) {
        *nl = '\0';
        cJSON *l = cJSON_Parse(line);
        assert_non_null(l);
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(l, "level")->valuestring, "error");
        assert_int_equal(cJSON_GetObjectItemCaseSensitive(l, "i")->valueint, i);
        cJSON_Delete(l);
    }
    assert_int_equal(i, 3);
    free(out);
}

/* Values over 8 KiB are cut at a UTF-8 boundary with "...", so even a
 * 100 KiB value (or twenty of them) still gives one valid line. */
static void test_long_values(void **state)
{
    (void)state;
    size_t n = 100 * 1024;
    char *big = malloc(n + 1);
    assert_non_null(big);
    for (size_t i = 0; i + 2 <= n; i += 2)
        memcpy(big + i, "\xc3\xa9", 2); /* U+00E9, two bytes */
    big[n] = '\0';
    for (int f = 0; f < 2; f++) {
        hb_log_setup(HB_LOG_DEBUG, f ? HB_LOG_JSON : HB_LOG_TEXT);
        capture_start();
        HB_LOG(HB_LOG_INFO, "big", HB_S("body", big + 1)); /* starts mid-sequence */
        char *out = capture_end();
        assert_int_equal(lines_in(out), 1);
        assert_true(strlen(out) > 8000 && strlen(out) < 9000);
        if (f) {
            cJSON *j = cJSON_Parse(out);
            assert_non_null(j);
            const char *v = cJSON_GetObjectItemCaseSensitive(j, "body")->valuestring;
            assert_true(hb_str_has_suffix(v, "\xc3\xa9..."));
            cJSON_Delete(j);
        }
        free(out);
    }
    /* Too many long values for one line: a marker line, never nothing. */
    hb_log_setup(HB_LOG_DEBUG, HB_LOG_JSON);
    capture_start();
    HB_LOG(HB_LOG_INFO, "many", HB_S("a", big), HB_S("b", big), HB_S("c", big), HB_S("d", big),
           HB_S("e", big), HB_S("f", big), HB_S("g", big), HB_S("h", big), HB_S("i", big));
    char *out = capture_end();
    assert_int_equal(lines_in(out), 1);
    cJSON *j = cJSON_Parse(out);
    assert_non_null(j);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "truncated")));
    cJSON_Delete(j);
    free(out);
    free(big);
}

static int evaluated;

static const char *side_effect(void)
{
    evaluated++;
    return "v";
}

static void test_threshold(void **state)
{
    (void)state;
    static const enum hb_log_level levels[] = {HB_LOG_DEBUG, HB_LOG_INFO, HB_LOG_WARN,
                                               HB_LOG_ERROR};
    for (int fmt = HB_LOG_TEXT; fmt <= HB_LOG_JSON; fmt++) {
        for (size_t t = 0; t < 4; t++) {
            hb_log_setup(levels[t], (enum hb_log_format)fmt);
            capture_start();
            for (size_t l = 0; l < 4; l++)
                HB_LOG(levels[l], "m", HB_I("level", (int)l));
            char *out = capture_end();
            /* Exactly the levels at or above the threshold. */
            assert_int_equal(lines_in(out), (int)(4 - t));
            for (size_t l = 0; l < 4; l++) {
                char needle[32];
                snprintf(needle, sizeof(needle), fmt == HB_LOG_TEXT ? "level=%zu" : "\"level\":%zu",
                         l);
                if ((strstr(out, needle) != NULL) != (l >= t))
                    fail_msg("threshold %zu, level %zu: %s", t, l, out);
                assert_int_equal(hb_log_enabled(levels[l]), l >= t);
            }
            free(out);
        }
    }

    /* A disabled call does not evaluate its arguments. */
    hb_log_setup(HB_LOG_ERROR, HB_LOG_TEXT);
    evaluated = 0;
    capture_start();
    HB_LOG(HB_LOG_DEBUG, "m", HB_S("k", side_effect()));
    HB_LOG(HB_LOG_WARN, "m", HB_S("k", side_effect()));
    HB_LOG(HB_LOG_ERROR, "m", HB_S("k", side_effect()));
    char *out = capture_end();
    assert_int_equal(evaluated, 1);
    assert_int_equal(lines_in(out), 1);
    free(out);
    hb_log_setup(HB_LOG_INFO, HB_LOG_TEXT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_format), cmocka_unit_test(test_parsers),
        cmocka_unit_test(test_text_format),    cmocka_unit_test(test_text_quoting),
        cmocka_unit_test(test_json_format),    cmocka_unit_test(test_long_values),
        cmocka_unit_test(test_threshold),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
