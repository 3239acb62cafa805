/* test_util.c: unit tests for hookbus/util.h (lib/util.c) and hookbus/crypto.h
 * (lib/crypto.c): bounded buffers, strict number / duration / boolean
 * parsing, string helpers, hex and base64 (standard and URL-safe), form
 * decoding, file helpers, and HMAC against the RFC 2202 / RFC 4231 vectors
 * with constant-time comparison. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "hookbus/crypto.h"
#include "hookbus/util.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- hb_buf ------------------------------------------------------------- */

static void test_buf_basic(void **state)
{
    (void)state;
    struct hb_buf b;
    hb_buf_init(&b, 1024);
    assert_null(b.p);
    assert_int_equal(b.len, 0);
    assert_int_equal(hb_buf_puts(&b, "hello"), 0);
    assert_int_equal(hb_buf_append(&b, ", ", 2), 0);
    assert_int_equal(hb_buf_printf(&b, "%s #%d", "world", 42), 0);
    assert_string_equal(b.p, "hello, world #42");
    assert_int_equal(b.len, 16);
    /* Binary data with NULs is counted by len and still terminated. */
    assert_int_equal(hb_buf_append(&b, "\0x", 2), 0);
    assert_int_equal(b.len, 18);
    assert_int_equal(b.p[18], '\0');
    char *s = hb_buf_steal(&b);
    assert_non_null(s);
    assert_memory_equal(s, "hello, world #42\0x", 19);
    free(s);
    assert_null(b.p);
    assert_int_equal(b.len, 0);
    /* Reusable after steal. */
    assert_int_equal(hb_buf_puts(&b, "again"), 0);
    assert_string_equal(b.p, "again");
    hb_buf_free(&b);
    assert_null(b.p);

    /* Stealing an empty buffer gives "". */
    hb_buf_init(&b, 10);
    s = hb_buf_steal(&b);
    assert_non_null(s);
    assert_string_equal(s, "");
    free(s);
    /* Appending nothing gives a terminated empty string. */
    assert_int_equal(hb_buf_append(&b, "", 0), 0);
    assert_non_null(b.p);
    assert_string_equal(b.p, "");
    hb_buf_free(&b);
    hb_buf_free(&b); /* twice is fine */
}

static void test_buf_cap(void **state)
{
    (void)state;
    struct hb_buf b;
    hb_buf_init(&b, 10);
    assert_int_equal(hb_buf_puts(&b, "0123456789"), 0); /* exactly max */
    assert_int_equal(b.len, 10);
    assert_int_equal(hb_buf_append(&b, "x", 1), -1);
    assert_int_equal(hb_buf_puts(&b, "x"), -1);
    assert_int_equal(hb_buf_printf(&b, "%d", 1), -1);
    /* Refused appends leave the content alone. */
    assert_int_equal(b.len, 10);
    assert_string_equal(b.p, "0123456789");
    assert_true(b.cap <= 11);
    /* Appending nothing at the cap is fine. */
    assert_int_equal(hb_buf_append(&b, "", 0), 0);
    hb_buf_free(&b);

    /* A refused append in the middle keeps the prefix. */
    hb_buf_init(&b, 8);
    assert_int_equal(hb_buf_puts(&b, "abc"), 0);
    assert_int_equal(hb_buf_puts(&b, "defghi"), -1);
    assert_string_equal(b.p, "abc");
    assert_int_equal(hb_buf_printf(&b, "%s", "123456"), -1);
    assert_string_equal(b.p, "abc");
    assert_int_equal(hb_buf_printf(&b, "%s", "12345"), 0);
    assert_string_equal(b.p, "abc12345");
    hb_buf_free(&b);

    /* A huge n does not wrap around the bound. */
    hb_buf_init(&b, 100);
    assert_int_equal(hb_buf_puts(&b, "x"), 0);
    assert_int_equal(hb_buf_append(&b, "y", SIZE_MAX), -1);
    assert_int_equal(hb_buf_append(&b, "y", SIZE_MAX - 1), -1);
    assert_string_equal(b.p, "x");
    hb_buf_free(&b);

    /* Growth across many appends stays within max + 1 bytes. */
    hb_buf_init(&b, 100000);
    char chunk[1000];
    memset(chunk, 'c', sizeof(chunk));
    for (int i = 0; i < 100; i++)
        assert_int_equal(hb_buf_append(&b, chunk, sizeof(chunk)), 0);
    assert_int_equal(b.len, 100000);
    assert_true(b.cap <= 100001);
    assert_int_equal(hb_buf_append(&b, chunk, 1), -1);
    hb_buf_free(&b);

    /* max 0: only the empty string. */
    hb_buf_init(&b, 0);
    assert_int_equal(hb_buf_append(&b, "", 0), 0);
    assert_int_equal(hb_buf_append(&b, "a", 1), -1);
    hb_buf_free(&b);
}

/* ---- strings ------------------------------------------------------------ */

static void test_string_helpers(void **state)
{
    (void)state;
    char small[6];
    assert_int_equal(hb_snprintf(small, sizeof(small), "%s", "abcde"), 0);
    assert_string_equal(small, "abcde");
    assert_int_equal(hb_snprintf(small, sizeof(small), "%s", "abcdef"), -1);
    assert_string_equal(small, "abcde"); /* truncated, terminated */
    assert_string_equal(hb_bearer_token("Bearer abc"), "abc");
    assert_string_equal(hb_bearer_token("bearer   abc"), "abc");
    assert_null(hb_bearer_token("Basic abc"));
    assert_null(hb_bearer_token("Bearerabc"));
    assert_null(hb_bearer_token(NULL));

    assert_int_equal(hb_strlcpy(small, "hello", sizeof(small)), 0);
    assert_string_equal(small, "hello");
    assert_int_equal(hb_strlcpy(small, "hello!", sizeof(small)), -1);
    assert_string_equal(small, "hello");
    assert_int_equal(hb_strlcpy(small, "", sizeof(small)), 0);
    assert_string_equal(small, "");
    assert_int_equal(hb_strlcpy(small, "x", 0), -1);

    char *d = hb_strndup("abcdef", 3);
    assert_string_equal(d, "abc");
    free(d);
    d = hb_strndup("a\0b", 3);
    assert_memory_equal(d, "a\0b\0", 4);
    free(d);

    assert_true(hb_str_has_prefix("refs/heads/main", "refs/heads/"));
    assert_true(hb_str_has_prefix("abc", ""));
    assert_false(hb_str_has_prefix("ref", "refs/"));
    assert_true(hb_str_has_suffix("app.git", ".git"));
    assert_true(hb_str_has_suffix("x", ""));
    assert_false(hb_str_has_suffix("git", ".git"));
    assert_false(hb_str_has_suffix("app.gitx", ".git"));

    char mixed[] = "GitHub.COM/Acme-1_\xc3\x89";
    assert_string_equal(hb_str_lower(mixed), "github.com/acme-1_\xc3\x89");
}

/* ---- parsing ------------------------------------------------------------ */

static void test_parse_long(void **state)
{
    (void)state;
    long v = 7;
    assert_int_equal(hb_parse_long("42", 0, 100, &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(hb_parse_long("-5", -10, 10, &v), 0);
    assert_int_equal(v, -5);
    assert_int_equal(hb_parse_long("0", 0, 0, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(hb_parse_long("100", 0, 100, &v), 0);
    assert_int_equal(hb_parse_long("9223372036854775807", LONG_MIN, LONG_MAX, &v), 0);
    assert_true(v == LONG_MAX);
    assert_int_equal(hb_parse_long("-9223372036854775808", LONG_MIN, LONG_MAX, &v), 0);
    assert_true(v == LONG_MIN);

    v = 7;
    static const char *const bad[] = {"",
                                      " 1",
                                      "1 ",
                                      "1a",
                                      "a1",
                                      "1.0",
                                      "0x10",
                                      "--1",
                                      "-",
                                      "1e3",
                                      "\t1",
                                      "1\n",
                                      "9223372036854775808",
                                      "-9223372036854775809"};
    for (size_t i = 0; i < COUNT(bad); i++)
        if (hb_parse_long(bad[i], LONG_MIN, LONG_MAX, &v) != -1)
            fail_msg("'%s' should not parse", bad[i]);
    assert_int_equal(v, 7); /* untouched on failure */
    assert_int_equal(hb_parse_long("101", 0, 100, &v), -1);
    assert_int_equal(hb_parse_long("-1", 0, 100, &v), -1);
    assert_int_equal(hb_parse_long(NULL, 0, 100, &v), -1);
    assert_int_equal(v, 7);
}

static void test_parse_ull(void **state)
{
    (void)state;
    unsigned long long v = 7;
    const char *end = NULL;
    const char *s = "00000000000000000042.spool";
    assert_int_equal(hb_parse_ull(s, &end, &v), 0);
    assert_true(v == 42);
    assert_string_equal(end, ".spool");
    assert_int_equal(hb_parse_ull("18446744073709551615 9", &end, &v), 0);
    assert_true(v == ULLONG_MAX);
    assert_string_equal(end, " 9");
    /* At least one digit, no sign, no space, no overflow; *out untouched. */
    v = 7;
    assert_int_equal(hb_parse_ull("", &end, &v), -1);
    assert_int_equal(hb_parse_ull(" 1", &end, &v), -1);
    assert_int_equal(hb_parse_ull("-1", &end, &v), -1);
    assert_int_equal(hb_parse_ull("+1", &end, &v), -1);
    assert_int_equal(hb_parse_ull("18446744073709551616", &end, &v), -1);
    assert_int_equal(hb_parse_ull(NULL, &end, &v), -1);
    assert_true(v == 7);
}

static void test_strerror(void **state)
{
    (void)state;
    char buf[128];
    assert_string_equal(hb_strerror(ENOENT, buf, sizeof(buf)), "No such file or directory");
    /* The block-scoped buffer of HB_STRERROR, and an unknown value. */
    char line[256];
    snprintf(line, sizeof(line), "open: %s", HB_STRERROR(EACCES));
    assert_string_equal(line, "open: Permission denied");
    assert_non_null(strstr(HB_STRERROR(-12345), "12345"));
    /* A buffer too small still gives a terminated string. */
    char tiny[4];
    const char *t = hb_strerror(99999, tiny, sizeof(tiny));
    assert_true(strlen(t) < sizeof(tiny) || t != tiny);
}

static void test_parse_duration(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        long ms;
    } good[] = {{"500ms", 500}, {"2s", 2000}, {"10m", 600000}, {"1h", 3600000},   {"1500", 1500},
                {"0", 0},       {"0s", 0},    {"60s", 60000},  {"24h", 86400000}, {"007s", 7000}};
    for (size_t i = 0; i < COUNT(good); i++) {
        long ms = -1;
        if (hb_parse_duration_ms(good[i].s, &ms) != 0)
            fail_msg("'%s' should parse", good[i].s);
        assert_int_equal(ms, good[i].ms);
    }
    static const char *const bad[] = {"",
                                      "s",
                                      "ms",
                                      "-1s",
                                      "+1s",
                                      "1.5s",
                                      "1d",
                                      "1 s",
                                      " 1s",
                                      "1s ",
                                      "1S",
                                      "1Ms",
                                      "1sm",
                                      "1ms2",
                                      "abc",
                                      "1hh",
                                      "9223372036854775807h",
                                      "9223372036854775807s",
                                      "99999999999999999999"};
    for (size_t i = 0; i < COUNT(bad); i++) {
        long ms = -7;
        if (hb_parse_duration_ms(bad[i], &ms) != -1)
            fail_msg("'%s' should not parse (got %ld)", bad[i], ms);
        assert_int_equal(ms, -7);
    }
    long ms;
    assert_int_equal(hb_parse_duration_ms(NULL, &ms), -1);
    /* The largest hour count that fits. */
    char buf[32];
    snprintf(buf, sizeof(buf), "%ldh", LONG_MAX / 3600000);
    assert_int_equal(hb_parse_duration_ms(buf, &ms), 0);
    snprintf(buf, sizeof(buf), "%ldh", LONG_MAX / 3600000 + 1);
    assert_int_equal(hb_parse_duration_ms(buf, &ms), -1);
}

static void test_parse_bool(void **state)
{
    (void)state;
    static const char *const yes[] = {"true", "yes", "on", "1", "TRUE", "True", "YES", "On"};
    static const char *const no[] = {"false", "no", "off", "0", "FALSE", "No", "OFF"};
    static const char *const bad[] = {"",  "2", "maybe", "truee", " true",  "true ",
                                      "y", "n", "t",     "f",     "enabled"};
    bool b;
    for (size_t i = 0; i < COUNT(yes); i++) {
        b = false;
        assert_int_equal(hb_parse_bool(yes[i], &b), 0);
        assert_true(b);
    }
    for (size_t i = 0; i < COUNT(no); i++) {
        b = true;
        assert_int_equal(hb_parse_bool(no[i], &b), 0);
        assert_false(b);
    }
    for (size_t i = 0; i < COUNT(bad); i++) {
        b = true;
        if (hb_parse_bool(bad[i], &b) != -1)
            fail_msg("'%s' should not be a boolean", bad[i]);
        assert_true(b);
    }
}

/* ---- hex ---------------------------------------------------------------- */

static void test_hex(void **state)
{
    (void)state;
    const unsigned char in[] = {0x00, 0x0a, 0xff, 0x7f, 0x80, 0x12};
    char out[2 * sizeof(in) + 1];
    memset(out, 'X', sizeof(out));
    hb_hex_encode(in, sizeof(in), out);
    assert_string_equal(out, "000aff7f8012");
    hb_hex_encode(in, 0, out);
    assert_string_equal(out, "");

    unsigned char dec[8];
    assert_int_equal(hb_hex_decode("000aff7f8012", 12, dec, sizeof(dec)), 6);
    assert_memory_equal(dec, in, 6);
    assert_int_equal(hb_hex_decode("000AFF7F8012", 12, dec, sizeof(dec)), 6);
    assert_memory_equal(dec, in, 6);
    assert_int_equal(hb_hex_decode("aBcD", 4, dec, sizeof(dec)), 2);
    assert_int_equal(dec[0], 0xab);
    assert_int_equal(dec[1], 0xcd);
    assert_int_equal(hb_hex_decode("", 0, dec, sizeof(dec)), 0);
    /* Only inlen bytes are read. */
    assert_int_equal(hb_hex_decode("abzz", 2, dec, sizeof(dec)), 1);
    assert_int_equal(dec[0], 0xab);

    assert_int_equal(hb_hex_decode("abc", 3, dec, sizeof(dec)), -1); /* odd */
    assert_int_equal(hb_hex_decode("zz", 2, dec, sizeof(dec)), -1);  /* not hex */
    assert_int_equal(hb_hex_decode("0g", 2, dec, sizeof(dec)), -1);
    assert_int_equal(hb_hex_decode(" a", 2, dec, sizeof(dec)), -1);
    assert_int_equal(hb_hex_decode("0x", 2, dec, sizeof(dec)), -1);
    assert_int_equal(hb_hex_decode("000102030405060708", 18, dec, sizeof(dec)), -1); /* 9 > 8 */
    assert_int_equal(hb_hex_decode("0001020304050607", 16, dec, sizeof(dec)), 8);
}

/* ---- base64 ------------------------------------------------------------- */

static void test_base64_encode(void **state)
{
    (void)state;
    /* RFC 4648 section 10. */
    static const struct {
        const char *in, *out;
    } v[] = {{"", ""},
             {"f", "Zg=="},
             {"fo", "Zm8="},
             {"foo", "Zm9v"},
             {"foob", "Zm9vYg=="},
             {"fooba", "Zm9vYmE="},
             {"foobar", "Zm9vYmFy"}};
    for (size_t i = 0; i < COUNT(v); i++) {
        char *e = hb_base64_encode((const unsigned char *)v[i].in, strlen(v[i].in));
        assert_non_null(e);
        assert_string_equal(e, v[i].out);
        free(e);
    }
    const unsigned char bin[] = {0xfb, 0xff, 0x00};
    char *e = hb_base64_encode(bin, 3);
    assert_string_equal(e, "+/8A"); /* standard alphabet */
    free(e);
}

static void test_base64_decode(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
        size_t outlen;
    } good[] = {
        {"", "", 0},
        {"Zg==", "f", 1},
        {"Zm8=", "fo", 2},
        {"Zm9v", "foo", 3},
        {"Zm9vYmFy", "foobar", 6},
        {"Zg", "f", 1}, /* padding omitted */
        {"Zm8", "fo", 2},
        {"Zm9vYg", "foob", 4},
        {"+/8A", "\xfb\xff\x00", 3},
        {"-_8A", "\xfb\xff\x00", 3}, /* URL-safe */
        {"-_8", "\xfb\xff", 2},
        {"-_8=", "\xfb\xff", 2},
        {"AAAA", "\x00\x00\x00", 3},
    };
    for (size_t i = 0; i < COUNT(good); i++) {
        size_t n = 99;
        unsigned char *d = hb_base64_decode(good[i].in, strlen(good[i].in), &n);
        if (!d)
            fail_msg("'%s' should decode", good[i].in);
        assert_int_equal(n, good[i].outlen);
        assert_memory_equal(d, good[i].out, n);
        assert_int_equal(d[n], 0); /* terminated for convenience */
        free(d);
    }
    static const char *const bad[] = {
        "Z",                           /* one char in the last quantum */
        "Zm9vY",  "Zm9v!",             /* not in either alphabet */
        "Zm 9v",                       /* spaces */
        "Zm9v\n", "Zg==Zg==",          /* '=' in the middle */
        "Z=g=",   "=Zg",      "Zg===", /* too much padding */
        "Zm9v=",                       /* padding where none is due */
        "Zm9v==", "Zg=",               /* partial padding */
        "Zm8==",  "====",     "Zm9v\xc3\xa9",
    };
    for (size_t i = 0; i < COUNT(bad); i++) {
        size_t n;
        unsigned char *d = hb_base64_decode(bad[i], strlen(bad[i]), &n);
        if (d) {
            free(d);
            fail_msg("'%s' should not decode", bad[i]);
        }
    }
    /* Only inlen bytes are read. */
    size_t n;
    unsigned char *d = hb_base64_decode("Zm9v!!!!", 4, &n);
    assert_non_null(d);
    assert_int_equal(n, 3);
    free(d);

    /* Round trip of every byte value, both alphabets. */
    unsigned char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    for (size_t len = 0; len <= 256; len += 37) {
        char *e = hb_base64_encode(all, len);
        assert_non_null(e);
        d = hb_base64_decode(e, strlen(e), &n);
        assert_non_null(d);
        assert_int_equal(n, len);
        assert_memory_equal(d, all, len);
        free(d);
        for (char *p = e; *p; p++)
            *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
        char *eq = strchr(e, '=');
        if (eq)
            *eq = '\0';
        d = hb_base64_decode(e, strlen(e), &n);
        assert_non_null(d);
        assert_int_equal(n, len);
        assert_memory_equal(d, all, len);
        free(d);
        free(e);
    }
}

/* ---- form decoding ------------------------------------------------------ */

static void test_form_get(void **state)
{
    (void)state;
    static const struct {
        const char *body, *key, *want;
        size_t wantlen;
    } cases[] = {
        {"payload=%7B%22a%22%3A1%7D", "payload", "{\"a\":1}", 7},
        {"a=1&payload=x+y&b=2", "payload", "x y", 3},
        {"payload=a%2Bb", "payload", "a+b", 3},
        {"payload=%e2%82%AC", "payload", "\xe2\x82\xac", 3},
        {"payload=", "payload", "", 0},
        {"pay=1&payload=2", "payload", "2", 1},
        {"xpayload=1&payload=2", "payload", "2", 1},
        {"payload=first&payload=second", "payload", "first", 5},
        {"a=1&&payload=z&", "payload", "z", 1},
        {"payload=a=b", "payload", "a=b", 3},
        {"payload=%00x", "payload", "\0x", 2},
        {"k=%41", "k", "A", 1},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        size_t n = 99;
        char *v = hb_form_get(cases[i].body, strlen(cases[i].body), cases[i].key, &n);
        if (!v)
            fail_msg("'%s' -> %s should be found", cases[i].body, cases[i].key);
        assert_int_equal(n, cases[i].wantlen);
        assert_memory_equal(v, cases[i].want, n);
        assert_int_equal(v[n], '\0');
        free(v);
    }
    static const struct {
        const char *body, *key;
    } absent[] = {
        {"", "payload"},
        {"payload", "payload"}, /* no '=' */
        {"a=1&b=2", "payload"},
        {"payloads=1", "payload"},
        {"payload=%zz", "payload"}, /* malformed escapes */
        {"payload=%4", "payload"},
        {"payload=%", "payload"},
        {"payload=ab%", "payload"},
        {"payload=%g1", "payload"},
        {"payload=%4&x=1", "payload"},
    };
    for (size_t i = 0; i < COUNT(absent); i++) {
        size_t n;
        char *v = hb_form_get(absent[i].body, strlen(absent[i].body), absent[i].key, &n);
        if (v) {
            free(v);
            fail_msg("'%s' -> %s should be NULL", absent[i].body, absent[i].key);
        }
    }
    /* The length is honoured: the body need not be NUL-terminated. */
    const char body[] = {'k', '=', 'a', 'b', '&', 'z', '=', '1'};
    size_t n;
    char *v = hb_form_get(body, 4, "k", &n);
    assert_non_null(v);
    assert_string_equal(v, "ab");
    free(v);
    assert_null(hb_form_get(body, 4, "z", &n));
    /* A '%' escape cut by the length is malformed. */
    assert_null(hb_form_get("k=%41", 4, "k", &n));
}

/* ---- time and files ----------------------------------------------------- */

static void test_time(void **state)
{
    (void)state;
    char ts[32];
    hb_now_rfc3339(ts);
    /* 2024-01-02T03:04:05.678Z */
    assert_int_equal(strlen(ts), 24);
    assert_int_equal(ts[4], '-');
    assert_int_equal(ts[7], '-');
    assert_int_equal(ts[10], 'T');
    assert_int_equal(ts[13], ':');
    assert_int_equal(ts[16], ':');
    assert_int_equal(ts[19], '.');
    assert_int_equal(ts[23], 'Z');
    assert_true(strncmp(ts, "2020", 4) > 0);
    /* The seconds part is cached per thread: each call still matches the
     * clock read around it (the second call takes the cached text). */
    for (int i = 0; i < 2; i++) {
        char want0[32], want1[32];
        struct tm tm;
        /* The clock hb_now_rfc3339 reads: time(2) is the coarse clock, a tick
         * behind it, and made this flaky at a second's boundary. */
        struct timespec c0, c1;
        clock_gettime(CLOCK_REALTIME, &c0);
        hb_now_rfc3339(ts);
        clock_gettime(CLOCK_REALTIME, &c1);
        strftime(want0, sizeof(want0), "%Y-%m-%dT%H:%M:%S", gmtime_r(&c0.tv_sec, &tm));
        strftime(want1, sizeof(want1), "%Y-%m-%dT%H:%M:%S", gmtime_r(&c1.tv_sec, &tm));
        assert_true(strncmp(ts, want0, 19) == 0 || strncmp(ts, want1, 19) == 0);
        assert_int_equal(strspn(ts + 20, "0123456789"), 3);
        assert_string_equal(ts + 23, "Z");
    }

    int64_t a = hb_mono_ms();
    usleep(20000);
    int64_t b = hb_mono_ms();
    assert_true(b >= a + 15);
    assert_true(b < a + 5000);
}

static void test_files(void **state)
{
    (void)state;
    char dir[] = "/tmp/hb_test_util_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128], err[256];
    snprintf(path, sizeof(path), "%s/out.txt", dir);

    assert_int_equal(hb_write_file_atomic(path, "127.0.0.1:9092", err, sizeof(err)), 0);
    size_t n = 0;
    char *text = hb_read_file(path, 1024, &n, err, sizeof(err));
    assert_non_null(text);
    assert_int_equal(n, 15);
    assert_string_equal(text, "127.0.0.1:9092\n");
    free(text);
    /* Overwrite. */
    assert_int_equal(hb_write_file_atomic(path, "x", err, sizeof(err)), 0);
    text = hb_read_file(path, 1024, &n, err, sizeof(err));
    assert_string_equal(text, "x\n");
    free(text);

    /* The bound of hb_read_file. */
    assert_null(hb_read_file(path, 1, &n, err, sizeof(err)));
    assert_non_null(strstr(err, path));
    text = hb_read_file(path, 2, &n, err, sizeof(err));
    assert_non_null(text);
    free(text);

    /* Errors. */
    char bad[160];
    snprintf(bad, sizeof(bad), "%s/missing/out.txt", dir);
    assert_int_equal(hb_write_file_atomic(bad, "x", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "missing"));
    assert_null(hb_read_file(bad, 10, &n, err, sizeof(err)));
    assert_non_null(strstr(err, bad));

    unlink(path);
    assert_int_equal(rmdir(dir), 0); /* no temporary file left behind */
}

/* ---- crypto ------------------------------------------------------------- */

static void test_hmac_vectors(void **state)
{
    (void)state;
    unsigned char k0b[20], kaa[131];
    memset(k0b, 0x0b, sizeof(k0b));
    memset(kaa, 0xaa, sizeof(kaa));
    const char *jefe = "what do ya want for nothing?";
    const char *big = "Test Using Larger Than Block-Size Key - Hash Key First";
    static const char *const hi = "Hi There";
    struct {
        const char *alg;
        const void *key;
        size_t keylen;
        const char *data, *mac;
    } v[] = {
        /* RFC 4231 test case 2 */
        {"sha256", "Jefe", 4, jefe,
         "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
        {"sha512", "Jefe", 4, jefe,
         "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f"
         "65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"},
        /* RFC 2202 test case 2 */
        {"sha1", "Jefe", 4, jefe, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"},
        /* RFC 2202 / 4231 test case 1 */
        {"sha1", k0b, 20, hi, "b617318655057264e28bc0b6fb378c8ef146be00"},
        {"sha256", k0b, 20, hi, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
        /* RFC 4231 test case 6 / RFC 2202 test case 6: key longer than a block */
        {"sha256", kaa, 131, big,
         "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
        {"sha512", kaa, 131, big,
         "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f3526b56d037e05f2598bd0fd2"
         "215d6a1e5295e64f73f63f0aec8b915a985d786598"},
        {"sha1", kaa, 80, big, "aa4ae5e15272d00e95705637ce8a3b55ed402112"},
        /* Empty key and message. */
        {"sha256", "", 0, "", "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad"},
    };
    for (size_t i = 0; i < COUNT(v); i++) {
        char hex[2 * HB_MAX_MD + 1];
        assert_int_equal(
            hb_hmac_hex(v[i].alg, v[i].key, v[i].keylen, v[i].data, strlen(v[i].data), hex), 0);
        if (strcmp(hex, v[i].mac) != 0)
            fail_msg("vector %zu (%s): got %s", i, v[i].alg, hex);
        unsigned char raw[HB_MAX_MD];
        int n = hb_hmac(v[i].alg, v[i].key, v[i].keylen, v[i].data, strlen(v[i].data), raw);
        assert_int_equal(n, (int)strlen(v[i].mac) / 2);
        assert_true(hb_ct_equal_hex(v[i].mac, strlen(v[i].mac), raw, (size_t)n));
        /* The prepared key gives the same MAC, and again: the template is
         * copied per MAC, never consumed. */
        struct hb_hmac_key *k = hb_hmac_key_new(v[i].alg, v[i].key, v[i].keylen);
        assert_non_null(k);
        for (int again = 0; again < 2; again++) {
            memset(raw, 0, sizeof(raw));
            n = hb_hmac_key_mac(k, v[i].data, strlen(v[i].data), raw);
            assert_int_equal(n, (int)strlen(v[i].mac) / 2);
            if (!hb_ct_equal_hex(v[i].mac, strlen(v[i].mac), raw, (size_t)n))
                fail_msg("vector %zu (%s): the prepared key's MAC differs", i, v[i].alg);
        }
        hb_hmac_key_free(k);
    }
    assert_null(hb_hmac_key_new("md5", "k", 1));
    hb_hmac_key_free(NULL);
    unsigned char raw[HB_MAX_MD];
    char hex[2 * HB_MAX_MD + 1];
    assert_int_equal(hb_hmac("md5", "k", 1, "d", 1, raw), -1);
    assert_int_equal(hb_hmac("SHA256", "k", 1, "d", 1, raw), -1);
    assert_int_equal(hb_hmac_hex("sha384", "k", 1, "d", 1, hex), -1);
    assert_int_equal(hb_hmac_hex("", "k", 1, "d", 1, hex), -1);
}

/* RFC 8032 section 7.1, TEST 2 (one-byte message 0x72): the published
 * signature verifies; a changed message, signature or key does not. */
static void test_ed25519_verify(void **state)
{
    (void)state;
    unsigned char pub[32], sig[64], msg[1] = {0x72};
    static const char pub_hex[] =
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";
    static const char sig_hex[] =
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
        "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00";
    assert_int_equal(hb_hex_decode(pub_hex, 64, pub, sizeof(pub)), 32);
    assert_int_equal(hb_hex_decode(sig_hex, 128, sig, sizeof(sig)), 64);
    assert_true(hb_ed25519_verify(pub, msg, 1, sig));
    msg[0] = 0x73;
    assert_false(hb_ed25519_verify(pub, msg, 1, sig));
    msg[0] = 0x72;
    sig[63] ^= 1;
    assert_false(hb_ed25519_verify(pub, msg, 1, sig));
    sig[63] ^= 1;
    pub[0] ^= 1;
    assert_false(hb_ed25519_verify(pub, msg, 1, sig));
    assert_false(hb_ed25519_verify(pub, "", 0, sig));
}

static void test_sha256_hex2(void **state)
{
    (void)state;
    char out[65];
    /* FIPS 180-2 "abc", split across the two buffers. */
    hb_sha256_hex2("a", 1, "bc", 2, out);
    assert_string_equal(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    hb_sha256_hex2("abc", 3, "", 0, out);
    assert_string_equal(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    hb_sha256_hex2("", 0, "", 0, out);
    assert_string_equal(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_ct_equal(void **state)
{
    (void)state;
    assert_true(hb_ct_equal("abc", 3, "abc", 3));
    assert_false(hb_ct_equal("abc", 3, "abd", 3));
    assert_false(hb_ct_equal("abc", 3, "abcd", 4));
    assert_false(hb_ct_equal("abcd", 4, "abc", 3));
    assert_false(hb_ct_equal("Abc", 3, "abc", 3));
    assert_true(hb_ct_equal("", 0, "", 0));
    assert_true(hb_ct_equal("a\0b", 3, "a\0b", 3));
    assert_false(hb_ct_equal("a\0b", 3, "a\0c", 3));

    const unsigned char mac[] = {0xde, 0xad, 0xbe, 0xef};
    assert_true(hb_ct_equal_hex("deadbeef", 8, mac, 4));
    assert_true(hb_ct_equal_hex("DEADBEEF", 8, mac, 4));
    assert_true(hb_ct_equal_hex("DeAdBeEf", 8, mac, 4));
    assert_false(hb_ct_equal_hex("deadbeee", 8, mac, 4));
    assert_false(hb_ct_equal_hex("deadbe", 6, mac, 4));      /* short */
    assert_false(hb_ct_equal_hex("deadbeef00", 10, mac, 4)); /* long */
    assert_false(hb_ct_equal_hex("deadbeef", 8, mac, 3));    /* hex is a prefix longer */
    assert_false(hb_ct_equal_hex("deadbeeg", 8, mac, 4));    /* not hex */
    assert_false(hb_ct_equal_hex("deadbee", 7, mac, 4));
    assert_false(hb_ct_equal_hex(" eadbeef", 8, mac, 4));
    /* A MAC longer than HB_MAX_MD is refused rather than overflowing. */
    unsigned char bigmac[HB_MAX_MD + 1];
    char bighex[2 * (HB_MAX_MD + 1) + 1];
    memset(bigmac, 0x11, sizeof(bigmac));
    hb_hex_encode(bigmac, sizeof(bigmac), bighex);
    assert_false(hb_ct_equal_hex(bighex, strlen(bighex), bigmac, sizeof(bigmac)));
    /* A full-size (SHA-512) MAC works. */
    hb_hex_encode(bigmac, HB_MAX_MD, bighex);
    assert_true(hb_ct_equal_hex(bighex, 2 * HB_MAX_MD, bigmac, HB_MAX_MD));
}

/* Deadlines for pthread_cond_timedwait: normalized, and ms after now. */
static void test_realtime_after_ms(void **state)
{
    (void)state;
    static const long cases[] = {0, 1, 999, 1000, 1500, 61999};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct timespec before, ts, after;
        clock_gettime(CLOCK_REALTIME, &before);
        hb_realtime_after_ms(cases[i], &ts);
        clock_gettime(CLOCK_REALTIME, &after);
        assert_true(ts.tv_nsec >= 0 && ts.tv_nsec < 1000000000L);
        /* Integer nanoseconds: doubles round at this magnitude. */
        int64_t t = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec, ns = cases[i] * 1000000L;
        assert_true(t >= (int64_t)before.tv_sec * 1000000000 + before.tv_nsec + ns);
        assert_true(t <= (int64_t)after.tv_sec * 1000000000 + after.tv_nsec + ns);
    }
}

/* Error-text helpers for HTTP replies: one printable line, and a bounded
 * prefix that never fails the transfer. */
static void test_reply_helpers(void **state)
{
    (void)state;
    char s[] = "line one\r\nline\ttwo\x7f\n \r\n";
    assert_string_equal(hb_str_one_line(s), "line one  line two ");
    char empty[] = "\n\n";
    assert_string_equal(hb_str_one_line(empty), "");
    struct hb_buf b;
    hb_buf_init(&b, 8);
    char chunk[] = "0123456";
    assert_int_equal(hb_buf_write_prefix(chunk, 1, 7, &b), 7);
    assert_int_equal(hb_buf_write_prefix(chunk, 7, 1, &b), 7); /* told all was taken */
    assert_int_equal(hb_buf_write_prefix(chunk, 1, 7, &b), 7);
    assert_true(b.len <= 8);
    assert_memory_equal(b.p, "0123456", 7);
    hb_buf_free(&b);
}

/* The published FNV-1a 32-bit vectors, and chaining over pieces. */
static void test_fnv1a(void **state)
{
    (void)state;
    assert_int_equal(hb_fnv1a(HB_FNV1A_INIT, ""), 0x811c9dc5u);
    assert_int_equal(hb_fnv1a(HB_FNV1A_INIT, NULL), 0x811c9dc5u);
    assert_int_equal(hb_fnv1a(HB_FNV1A_INIT, "a"), 0xe40c292cu);
    assert_int_equal(hb_fnv1a(HB_FNV1A_INIT, "foobar"), 0xbf9cf968u);
    assert_int_equal(hb_fnv1a(hb_fnv1a(HB_FNV1A_INIT, "foo"), "bar"), 0xbf9cf968u);
}

/* Every byte 1..255 (and runs of them) is escaped as JSON wants: what
 * comes out is the exact spelling below, and cJSON reads the bytes back. */
static void test_buf_json_str(void **state)
{
    (void)state;
    struct hb_buf b;
    hb_buf_init(&b, 1 << 20);
    assert_int_equal(hb_buf_json_str(&b, "plain/ref"), 0);
    assert_string_equal(b.p, "\"plain/ref\"");
    b.len = 0;
    assert_int_equal(hb_buf_json_str(&b, "a\"b\\c\bd\fe\nf\rg\th\x01i\x1f\x7f\xc3\xa9"), 0);
    assert_string_equal(b.p, "\"a\\\"b\\\\c\\bd\\fe\\nf\\rg\\th\\u0001i\\u001f\x7f\xc3\xa9\"");
    b.len = 0;
    assert_int_equal(hb_buf_json_str(&b, ""), 0);
    assert_string_equal(b.p, "\"\"");
    char all[256 * 2];
    for (int i = 1; i < 256; i++)
        all[i - 1] = all[255 + i - 1] = (char)i;
    all[2 * 255] = '\0';
    b.len = 0;
    assert_int_equal(hb_buf_json_str(&b, all), 0);
    assert_int_equal(strlen(b.p), b.len);
    cJSON *v = cJSON_Parse(b.p);
    assert_non_null(v);
    assert_true(cJSON_IsString(v));
    assert_string_equal(v->valuestring, all);
    cJSON_Delete(v);
    hb_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fnv1a),          cmocka_unit_test(test_buf_basic),
        cmocka_unit_test(test_buf_cap),        cmocka_unit_test(test_string_helpers),
        cmocka_unit_test(test_parse_long),     cmocka_unit_test(test_parse_ull),
        cmocka_unit_test(test_strerror),       cmocka_unit_test(test_parse_duration),
        cmocka_unit_test(test_parse_bool),     cmocka_unit_test(test_hex),
        cmocka_unit_test(test_base64_encode),  cmocka_unit_test(test_base64_decode),
        cmocka_unit_test(test_form_get),       cmocka_unit_test(test_time),
        cmocka_unit_test(test_files),          cmocka_unit_test(test_hmac_vectors),
        cmocka_unit_test(test_ed25519_verify), cmocka_unit_test(test_sha256_hex2),
        cmocka_unit_test(test_ct_equal),       cmocka_unit_test(test_realtime_after_ms),
        cmocka_unit_test(test_reply_helpers),  cmocka_unit_test(test_buf_json_str),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
