/* test_secret.c: unit tests for hookbus/secret.h (lib/secret.c): env:, file:
 * and literal: references, the trailing-newline rule for files, the size
 * bound, errors for unknown schemes and empty values, and that no error
 * message ever contains the secret value. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hookbus/secret.h"

#define SECRET "s3cr3t-Value-42"

/* ---- helpers ------------------------------------------------------------ */

/* A temporary file holding content[len]; the path is written to path. */
static void write_temp(char *path, size_t pathlen, const void *content, size_t len)
{
    snprintf(path, pathlen, "/tmp/hb_test_secret_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, (const char *)content + off, len - off);
        assert_true(w > 0);
        off += (size_t)w;
    }
    close(fd);
}

/* Resolves ref expecting success with exactly want[wantlen]. */
static void resolve_ok(const char *ref, const void *want, size_t wantlen)
{
    struct hb_secret s;
    char err[256] = "";
    if (hb_secret_resolve(ref, &s, err, sizeof(err)) != 0)
        fail_msg("resolve %s: %s", ref, err);
    assert_non_null(s.value);
    assert_int_equal(s.len, wantlen);
    assert_memory_equal(s.value, want, wantlen);
    assert_int_equal(s.value[s.len], '\0');
    hb_secret_clear(&s);
    assert_null(s.value);
    assert_int_equal(s.len, 0);
}

/* Resolves ref expecting an error that contains want and never leak. */
static void resolve_fails(const char *ref, const char *want, const char *leak)
{
    struct hb_secret s;
    char err[512] = "";
    int rc = hb_secret_resolve(ref, &s, err, sizeof(err));
    if (rc == 0) {
        hb_secret_clear(&s);
        fail_msg("resolve %s should fail", ref);
    }
    assert_int_equal(rc, -1);
    assert_null(s.value);
    assert_int_equal(s.len, 0);
    assert_true(err[0] != '\0');
    if (want && !strstr(err, want))
        fail_msg("error '%s' does not contain '%s'", err, want);
    if (leak && strstr(err, leak))
        fail_msg("error '%s' leaks the secret", err);
}

/* ---- tests -------------------------------------------------------------- */

static void test_ref_valid(void **state)
{
    (void)state;
    assert_true(hb_secret_ref_valid("env:X"));
    assert_true(hb_secret_ref_valid("file:/run/secrets/x"));
    assert_true(hb_secret_ref_valid("literal:abc"));
    assert_true(hb_secret_ref_valid("literal:"));
    assert_false(hb_secret_ref_valid("abc"));
    assert_false(hb_secret_ref_valid(""));
    assert_false(hb_secret_ref_valid("ENV:X"));
    assert_false(hb_secret_ref_valid("vault:x"));
    assert_false(hb_secret_ref_valid(" env:X"));
}

static void test_env(void **state)
{
    (void)state;
    setenv("HB_TEST_SECRET", SECRET, 1);
    resolve_ok("env:HB_TEST_SECRET", SECRET, strlen(SECRET));
    /* env: values are taken as they are (no newline stripping). */
    setenv("HB_TEST_SECRET", "with newline\n", 1);
    resolve_ok("env:HB_TEST_SECRET", "with newline\n", 13);

    unsetenv("HB_TEST_SECRET_MISSING");
    resolve_fails("env:HB_TEST_SECRET_MISSING", "HB_TEST_SECRET_MISSING", NULL);
    setenv("HB_TEST_SECRET", "", 1);
    resolve_fails("env:HB_TEST_SECRET", "empty", NULL);
    resolve_fails("env:", NULL, NULL);
    unsetenv("HB_TEST_SECRET");
}

static void test_literal(void **state)
{
    (void)state;
    resolve_ok("literal:" SECRET, SECRET, strlen(SECRET));
    resolve_ok("literal:a:b:c", "a:b:c", 5);
    resolve_ok("literal: spaced ", " spaced ", 8);
    resolve_fails("literal:", "empty", NULL);
}

static void test_file(void **state)
{
    (void)state;
    char path[64], ref[128];
    static const struct {
        const char *content;
        size_t len;
        const char *want;
        size_t wantlen;
    } cases[] = {
        {SECRET, sizeof(SECRET) - 1, SECRET, sizeof(SECRET) - 1},
        {SECRET "\n", sizeof(SECRET), SECRET, sizeof(SECRET) - 1},
        {SECRET "\r\n", sizeof(SECRET) + 1, SECRET, sizeof(SECRET) - 1},
        /* Only one trailing newline goes. */
        {SECRET "\n\n", sizeof(SECRET) + 1, SECRET "\n", sizeof(SECRET)},
        /* Inner newlines and binary bytes stay. */
        {"a\nb\x00\xff", 5, "a\nb\x00\xff", 5},
        {" pad ", 5, " pad ", 5},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        write_temp(path, sizeof(path), cases[i].content, cases[i].len);
        snprintf(ref, sizeof(ref), "file:%s", path);
        resolve_ok(ref, cases[i].want, cases[i].wantlen);
        unlink(path);
    }

    /* Files that resolve to nothing. */
    static const char *const empties[] = {"", "\n", "\r\n"};
    for (size_t i = 0; i < 3; i++) {
        write_temp(path, sizeof(path), empties[i], strlen(empties[i]));
        snprintf(ref, sizeof(ref), "file:%s", path);
        resolve_fails(ref, "empty", NULL);
        unlink(path);
    }

    /* A missing file names the path. */
    resolve_fails("file:/nonexistent/hb/secret", "/nonexistent/hb/secret", NULL);
    resolve_fails("file:", NULL, NULL);
}

static void test_file_size_bound(void **state)
{
    (void)state;
    char path[64], ref[128];
    char *buf = malloc(HB_SECRET_MAX + 2);
    assert_non_null(buf);
    memset(buf, 'k', HB_SECRET_MAX + 2);

    /* Exactly 64 KiB is accepted. */
    write_temp(path, sizeof(path), buf, HB_SECRET_MAX);
    snprintf(ref, sizeof(ref), "file:%s", path);
    resolve_ok(ref, buf, HB_SECRET_MAX);
    unlink(path);

    /* Over 64 KiB of content: an error naming the path, not the content. */
    buf[HB_SECRET_MAX] = 'k';
    buf[HB_SECRET_MAX + 1] = 'k';
    write_temp(path, sizeof(path), buf, HB_SECRET_MAX + 2);
    snprintf(ref, sizeof(ref), "file:%s", path);
    resolve_fails(ref, path, "kkkkkkkk");
    unlink(path);
    free(buf);

    /* A literal over 64 KiB. */
    char *lit = malloc(HB_SECRET_MAX + 16);
    assert_non_null(lit);
    memcpy(lit, "literal:", 8);
    memset(lit + 8, 'z', HB_SECRET_MAX + 1);
    lit[8 + HB_SECRET_MAX + 1] = '\0';
    resolve_fails(lit, NULL, "zzzzzzzz");
    free(lit);
}

static void test_unknown_scheme(void **state)
{
    (void)state;
    /* A bare value may be the secret itself: it must not be echoed. */
    resolve_fails(SECRET, "env:", SECRET);
    resolve_fails("vault:" SECRET, NULL, SECRET);
    resolve_fails("ENV:X", NULL, NULL);
    resolve_fails("", NULL, NULL);
    resolve_fails("Literal:" SECRET, NULL, SECRET);
}

static void test_errors_never_leak(void **state)
{
    (void)state;
    /* A directory is not readable as a secret file. */
    char dir[] = "/tmp/hb_test_secret_dir_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char ref[128];
    snprintf(ref, sizeof(ref), "file:%s", dir);
    resolve_fails(ref, dir, NULL);
    rmdir(dir);

    /* An unreadable file (when not running as root). */
    char path[64];
    write_temp(path, sizeof(path), SECRET, strlen(SECRET));
    chmod(path, 0);
    snprintf(ref, sizeof(ref), "file:%s", path);
    struct hb_secret s;
    char err[512] = "";
    if (hb_secret_resolve(ref, &s, err, sizeof(err)) == 0) {
        hb_secret_clear(&s); /* root can read it anyway */
    } else {
        assert_null(strstr(err, SECRET));
        assert_non_null(strstr(err, path));
    }
    unlink(path);

    /* An empty env value's message names the kind, not a value. */
    setenv("HB_TEST_SECRET", "", 1);
    resolve_fails("env:HB_TEST_SECRET", "env", NULL);
    unsetenv("HB_TEST_SECRET");

    /* Clearing an empty secret is harmless. */
    struct hb_secret e = {NULL, 0};
    hb_secret_clear(&e);
    assert_null(e.value);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ref_valid),         cmocka_unit_test(test_env),
        cmocka_unit_test(test_literal),           cmocka_unit_test(test_file),
        cmocka_unit_test(test_file_size_bound),   cmocka_unit_test(test_unknown_scheme),
        cmocka_unit_test(test_errors_never_leak),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
