/* test_semver.c: unit tests for hookbus/semver.h.
 *
 * The tables are facts about github.com/Masterminds/semver/v3, the library
 * Kargo evaluates semverConstraint with: most rows are copied from its own
 * test tables (version_test.go, constraints_test.go), the rest follow from its
 * documented rules (README) and from Kargo's strictSemvers parser
 * (pkg/controller/semver: NewVersion, then StrictNewVersion without one "v").
 * Rows marked "quirk" are upstream behaviour that looks odd but that Kargo
 * has, so hookbus must have it too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hookbus/semver.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------------ parsing */

/* loose / strict: whether NewVersion / Kargo's strict parse accept the input;
 * the parts are checked whenever loose parsing succeeds. */
struct parse_case {
    const char *in;
    bool loose, strict;
    uint64_t major, minor, patch;
    const char *pre, *meta;
};

static const struct parse_case parse_cases[] = {
    /* Masterminds TestNewVersion / TestStrictNewVersion / TestCoerceString */
    {"1.2.3", true, true, 1, 2, 3, "", ""},
    {"1.2.3-alpha.01", false, false, 0, 0, 0, NULL, NULL},
    {"1.2.3+test.01", true, true, 1, 2, 3, "", "test.01"},
    {"1.2.3-alpha.-1", true, true, 1, 2, 3, "alpha.-1", ""},
    {"v1.2.3", true, true, 1, 2, 3, "", ""}, /* Kargo strips the "v" before strict parsing */
    {"1.0", true, false, 1, 0, 0, "", ""},
    {"v1.0", true, false, 1, 0, 0, "", ""},
    {"1", true, false, 1, 0, 0, "", ""},
    {"v1", true, false, 1, 0, 0, "", ""},
    {"1.2", true, false, 1, 2, 0, "", ""},
    {"1.2.beta", false, false, 0, 0, 0, NULL, NULL},
    {"v1.2.beta", false, false, 0, 0, 0, NULL, NULL},
    {"foo", false, false, 0, 0, 0, NULL, NULL},
    {"1.2-5", true, false, 1, 2, 0, "5", ""},
    {"v1.2-5", true, false, 1, 2, 0, "5", ""},
    {"1.2-beta.5", true, false, 1, 2, 0, "beta.5", ""},
    {"v1.2-beta.5", true, false, 1, 2, 0, "beta.5", ""},
    {"\n1.2", false, false, 0, 0, 0, NULL, NULL},
    {"\nv1.2", false, false, 0, 0, 0, NULL, NULL},
    {"1.2.0-x.Y.0+metadata", true, true, 1, 2, 0, "x.Y.0", "metadata"},
    {"v1.2.0-x.Y.0+metadata", true, true, 1, 2, 0, "x.Y.0", "metadata"},
    {"1.2.0-x.Y.0+metadata-width-hypen", true, true, 1, 2, 0, "x.Y.0", "metadata-width-hypen"},
    {"v1.2.0-x.Y.0+metadata-width-hypen", true, true, 1, 2, 0, "x.Y.0", "metadata-width-hypen"},
    {"1.2.3-rc1-with-hypen", true, true, 1, 2, 3, "rc1-with-hypen", ""},
    {"v1.2.3-rc1-with-hypen", true, true, 1, 2, 3, "rc1-with-hypen", ""},
    {"1.2.3.4", false, false, 0, 0, 0, NULL, NULL},
    {"v1.2.3.4", false, false, 0, 0, 0, NULL, NULL},
    {"1.2.2147483648", true, true, 1, 2, 2147483648u, "", ""},
    {"1.2147483648.3", true, true, 1, 2147483648u, 3, "", ""},
    {"2147483648.3.0", true, true, 2147483648u, 3, 0, "", ""},
    {"12.3.4.1234", false, false, 0, 0, 0, NULL, NULL},
    {"12.23.4.1234", false, false, 0, 0, 0, NULL, NULL},
    {"12.3.34.1234", false, false, 0, 0, 0, NULL, NULL},
    {"20221209-update-renovatejson-v4", true, false, 20221209, 0, 0, "update-renovatejson-v4", ""},
    {"1.1.2+.123", false, false, 0, 0, 0, NULL, NULL},
    {"1.0.0-alpha_beta", false, false, 0, 0, 0, NULL, NULL},
    {"1.0.0-alpha..", false, false, 0, 0, 0, NULL, NULL},
    {"1.0.0-alpha..1", false, false, 0, 0, 0, NULL, NULL},
    {"9.8.7+meta+meta", false, false, 0, 0, 0, NULL, NULL},
    {"1.2.31----RC-SNAPSHOT.12.09.1--.12+788", false, false, 0, 0, 0, NULL, NULL},
    {"1.2.3-0123", false, false, 0, 0, 0, NULL, NULL},
    {"1.2.3-0123.0123", false, false, 0, 0, 0, NULL, NULL},
    {"+invalid", false, false, 0, 0, 0, NULL, NULL},
    {"-invalid", false, false, 0, 0, 0, NULL, NULL},
    {"-invalid.01", false, false, 0, 0, 0, NULL, NULL},
    {"alpha+beta", false, false, 0, 0, 0, NULL, NULL},
    {"1.2.3-alpha_beta+foo", false, false, 0, 0, 0, NULL, NULL},
    /* Leading zeros: NewVersion coerces them (CoerceNewVersion, default since
     * v3.4.0), StrictNewVersion refuses them. */
    {"01.1.1", true, false, 1, 1, 1, "", ""},
    {"1.01.1", true, false, 1, 1, 1, "", ""},
    {"1.1.01", true, false, 1, 1, 1, "", ""},
    {"v2024.01.05", true, false, 2024, 1, 5, "", ""},
    {"0.0.0", true, true, 0, 0, 0, "", ""},
    {"1.2.3-0", true, true, 1, 2, 3, "0", ""},
    {"1.2.3-0a", true, true, 1, 2, 3, "0a", ""},
    {"1.2.3-a.b+c.d", true, true, 1, 2, 3, "a.b", "c.d"},
    {"1.2.3+b-c-d", true, true, 1, 2, 3, "", "b-c-d"},
    {"1.2.3-a-b+c", true, true, 1, 2, 3, "a-b", "c"},
    {"1.2.3-99999999999999999999", true, true, 1, 2, 3, "99999999999999999999", ""},
    /* Shapes neither parser takes. */
    {"", false, false, 0, 0, 0, NULL, NULL},
    {"v", false, false, 0, 0, 0, NULL, NULL},
    {"V1.2.3", false, false, 0, 0, 0, NULL, NULL},
    {"vv1.2.3", false, false, 0, 0, 0, NULL, NULL},
    {"1.", false, false, 0, 0, 0, NULL, NULL},
    {".1", false, false, 0, 0, 0, NULL, NULL},
    {"1..2", false, false, 0, 0, 0, NULL, NULL},
    {" 1.2.3", false, false, 0, 0, 0, NULL, NULL},
    {"1.2.3 ", false, false, 0, 0, 0, NULL, NULL},
    {"1.2.3-", false, false, 0, 0, 0, NULL, NULL},
    {"1.2.3+", false, false, 0, 0, 0, NULL, NULL},
    {"1.2.3-a.", false, false, 0, 0, 0, NULL, NULL},
    {"1.2.3-é", false, false, 0, 0, 0, NULL, NULL},
    {"-1.2.3", false, false, 0, 0, 0, NULL, NULL},
    {"1.-2.3", false, false, 0, 0, 0, NULL, NULL},
    {"latest", false, false, 0, 0, 0, NULL, NULL},
    {"sha-4f2a1b", false, false, 0, 0, 0, NULL, NULL},
    /* 64-bit parts: the largest value is fine, one more is not. */
    {"18446744073709551615.18446744073709551615.18446744073709551615", true, true, UINT64_MAX,
     UINT64_MAX, UINT64_MAX, "", ""},
    {"18446744073709551616.0.0", false, false, 0, 0, 0, NULL, NULL},
    {"0.18446744073709551616.0", false, false, 0, 0, 0, NULL, NULL},
    {"0.0.99999999999999999999", false, false, 0, 0, 0, NULL, NULL},
};

static void test_parse_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(parse_cases); i++) {
        const struct parse_case *tc = &parse_cases[i];
        struct hb_semver v;
        int rc = hb_semver_parse(tc->in, false, &v);
        if ((rc == 0) != tc->loose)
            fail_msg("loose parse of \"%s\": got %d", tc->in, rc);
        if (rc == 0) {
            assert_int_equal(v.major, tc->major);
            assert_int_equal(v.minor, tc->minor);
            assert_int_equal(v.patch, tc->patch);
            assert_string_equal(v.pre, tc->pre);
            assert_string_equal(v.meta, tc->meta);
            assert_string_equal(v.original, tc->in);
        }
        struct hb_semver sv;
        rc = hb_semver_parse(tc->in, true, &sv);
        if ((rc == 0) != tc->strict)
            fail_msg("strict parse of \"%s\": got %d", tc->in, rc);
        if (rc == 0)
            assert_memory_equal(&sv, &v, sizeof v);
    }
}

/* The output is left alone on failure, and lengths are bounded by the struct. */
static void test_parse_limits(void **state)
{
    (void)state;
    struct hb_semver v;
    char buf[400];

    memset(&v, 0x5a, sizeof v);
    assert_int_equal(hb_semver_parse("nope", false, &v), -1);
    for (size_t i = 0; i < sizeof v; i++)
        assert_int_equal(((unsigned char *)&v)[i], 0x5a);
    assert_int_equal(hb_semver_parse(NULL, false, &v), -1);
    assert_int_equal(hb_semver_parse("1.2.3", false, NULL), -1);

    /* prerelease and metadata: up to 127 bytes */
    memset(buf, 0, sizeof buf);
    memcpy(buf, "1.2.3-", 6);
    memset(buf + 6, 'a', 127);
    assert_int_equal(strlen(buf), 6 + 127);
    assert_int_equal(hb_semver_parse(buf, true, &v), 0);
    assert_int_equal(strlen(v.pre), 127);
    memset(buf, 0, sizeof buf);
    memcpy(buf, "1.2.3-", 6);
    memset(buf + 6, 'a', 128);
    assert_int_equal(hb_semver_parse(buf, false, &v), -1);
    memcpy(buf, "1.2.3+", 6);
    memset(buf + 6, 'm', 127);
    buf[6 + 127] = '\0';
    assert_int_equal(hb_semver_parse(buf, false, &v), 0);
    assert_int_equal(strlen(v.meta), 127);
    buf[6 + 127] = 'm';
    assert_int_equal(hb_semver_parse(buf, false, &v), -1);

    /* the whole string: up to 159 bytes */
    memset(buf, 0, sizeof buf);
    memcpy(buf, "1.2.3-", 6);
    memset(buf + 6, 'a', 100);
    buf[106] = '+';
    memset(buf + 107, 'b', 52);
    assert_int_equal(strlen(buf), 159);
    assert_int_equal(hb_semver_parse(buf, true, &v), 0);
    assert_string_equal(v.original, buf);
    buf[159] = 'b';
    assert_int_equal(hb_semver_parse(buf, false, &v), -1);
}

/* ---------------------------------------------------------------- ordering */

struct cmp_case {
    const char *a, *b;
    int want;
};

static const struct cmp_case cmp_cases[] = {
    /* Masterminds TestCompare, TestGreaterThan */
    {"1.2.3", "1.5.1", -1},
    {"2.2.3", "1.5.1", 1},
    {"2.2.3", "2.2.2", 1},
    {"3.2-beta", "3.2-beta", 0},
    {"1.3", "1.1.4", 1},
    {"4.2", "4.2-beta", 1},
    {"4.2-beta", "4.2", -1},
    {"4.2-alpha", "4.2-beta", -1},
    {"4.2-alpha", "4.2-alpha", 0},
    {"4.2-beta.2", "4.2-beta.1", 1},
    {"4.2-beta2", "4.2-beta1", 1},
    {"4.2-beta", "4.2-beta.2", -1},
    {"4.2-beta", "4.2-beta.foo", -1},
    {"4.2-beta.2", "4.2-beta", 1},
    {"4.2-beta.foo", "4.2-beta", 1},
    {"1.2+bar", "1.2+baz", 0},
    {"1.0.0-beta.4", "1.0.0-beta.-2", -1},
    {"1.0.0-beta.-2", "1.0.0-beta.-3", -1},
    {"1.0.0-beta.-3", "1.0.0-beta.5", 1},
    {"3.2.0-beta.1", "3.2.0-beta.5", -1},
    {"3.2-beta.4", "3.2-beta.2", 1},
    {"7.43.0-SNAPSHOT.99", "7.43.0-SNAPSHOT.103", -1},
    {"7.43.0-SNAPSHOT.FOO", "7.43.0-SNAPSHOT.103", 1},
    {"7.43.0-SNAPSHOT.99", "7.43.0-SNAPSHOT.BAR", -1},
    /* the v prefix, coercion and metadata do not matter */
    {"v1.2.3", "1.2.3", 0},
    {"1.2", "1.2.0", 0},
    {"01.02.03", "1.2.3", 0},
    {"1.2.3+a", "1.2.3", 0},
    {"1.2.3-rc.1+a", "1.2.3-rc.1+b", 0},
    /* ASCII order for text identifiers; numbers before text */
    {"1.0.0-Alpha", "1.0.0-alpha", -1},
    {"1.0.0-1", "1.0.0-a", -1},
    {"1.0.0-10", "1.0.0-9", 1},
    {"1.0.0-10a", "1.0.0-9a", -1},
    {"18446744073709551615.0.0", "18446744073709551614.9.9", 1},
    /* quirk: a numeric identifier beyond 64 bits compares as text */
    {"1.0.0-99999999999999999999", "1.0.0-1", 1},
    {"1.0.0-100000000000000000000", "1.0.0-99999999999999999999", -1},
};

static void test_compare_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(cmp_cases); i++) {
        const struct cmp_case *tc = &cmp_cases[i];
        struct hb_semver a, b;
        assert_int_equal(hb_semver_parse(tc->a, false, &a), 0);
        assert_int_equal(hb_semver_parse(tc->b, false, &b), 0);
        int d = hb_semver_compare(&a, &b), r = hb_semver_compare(&b, &a);
        int got = (d > 0) - (d < 0), rev = (r > 0) - (r < 0);
        if (got != tc->want || rev != -tc->want)
            fail_msg("compare(%s, %s) = %d / %d, want %d", tc->a, tc->b, got, rev, tc->want);
    }
}

/* semver.org item 11's example chain, plus neighbours, sorted from reverse. */
static const char *const ordered[] = {
    "0.0.0-0",
    "0.0.0",
    "0.0.1",
    "0.1.0",
    "1.0.0-0",
    "1.0.0-1",
    "1.0.0-2",
    "1.0.0-10",
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-alpha.beta",
    "1.0.0-beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "1.0.0",
    "1.0.1",
    "1.1.0-rc.1",
    "1.1.0",
    "1.10.0",
    "2.0.0",
    "10.0.0",
};

static int cmp_qsort(const void *a, const void *b)
{
    return hb_semver_compare(a, b);
}

static void test_compare_sort(void **state)
{
    (void)state;
    enum { N = COUNT(ordered) };
    static struct hb_semver vs[N];
    for (size_t i = 0; i < N; i++)
        assert_int_equal(hb_semver_parse(ordered[N - 1 - i], false, &vs[i]), 0);
    qsort(vs, N, sizeof vs[0], cmp_qsort);
    for (size_t i = 0; i < N; i++)
        assert_string_equal(vs[i].original, ordered[i]);
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < N; j++) {
            int d = hb_semver_compare(&vs[i], &vs[j]);
            assert_int_equal((d > 0) - (d < 0), (i > j) - (i < j));
        }
    assert_true(hb_semver_compare(NULL, &vs[0]) < 0);
    assert_int_equal(hb_semver_compare(NULL, NULL), 0);
}

/* ------------------------------------------------------------- constraints */

struct check_case {
    const char *constraint, *version;
    bool want;
};

/* Masterminds TestConstraintsCheck (NewConstraint + Check). */
static const struct check_case upstream_checks[] = {
    {"*", "1.2.3", true},
    {"~0.0.0", "1.2.3", true},
    {"0.x.x", "1.2.3", false},
    {"0.0.x", "1.2.3", false},
    {"0.0.0", "1.2.3", false},
    {"^0.0.0", "1.2.3", false},
    {"= 2.0", "1.2.3", false},
    {"= 2.0", "2.0.0", true},
    {"4.1", "4.1.0", true},
    {"4.1.x", "4.1.3", true},
    {"1.x", "1.4", true},
    {"!=4.1", "4.1.0", false},
    {"!=4.1-alpha", "4.1.0-alpha", false},
    {"!=4.1-alpha", "4.1.1-alpha", false},
    {"!=4.1-alpha", "4.1.0", true},
    {"!=4.1", "5.1.0", true},
    {"!=4.x", "5.1.0", true},
    {"!=4.x", "4.1.0", false},
    {"!=4.1.x", "4.2.0", true},
    {"!=4.2.x", "4.2.3", false},
    {">1.1", "4.1.0", true},
    {">1.1", "1.1.0", false},
    {"<1.1", "0.1.0", true},
    {"<1.1", "1.1.0", false},
    {"<1.1", "1.1.1", false},
    {"<1.x", "1.1.1", false},
    {"<1.x", "0.1.1", true},
    {"<1.x", "2.0.0", false},
    {"<1.1.x", "1.2.1", false},
    {"<1.1.x", "1.1.500", false},
    {"<1.1.x", "1.0.500", true},
    {"<1.2.x", "1.1.1", true},
    {">=1.1", "4.1.0", true},
    {">=1.1", "4.1.0-beta", false},
    {">=1.1", "1.1.0", true},
    {">=1.1", "0.0.9", false},
    {"<=1.1", "0.1.0", true},
    {"<=1.1", "0.1.0-alpha", false},
    {"<=1.1-a", "0.1.0-alpha", true},
    {"<=1.1", "1.1.0", true},
    {"<=1.x", "1.1.0", true},
    {"<=2.x", "3.0.0", false},
    {"<=1.1", "1.1.1", true},
    {"<=1.1.x", "1.2.500", false},
    {"<=4.5", "3.4.0", true},
    {"<=4.5", "3.7.0", true},
    {"<=4.5", "4.6.3", false},
    {">1.1, <2", "1.1.1", false},
    {">1.1, <2", "1.2.1", true},
    {">1.1, <3", "4.3.2", false},
    {">=1.1, <2, !=1.2.3", "1.2.3", false},
    {">1.1 <2", "1.1.1", false},
    {">1.1 <2", "1.2.1", true},
    {">1.1    <3", "4.3.2", false},
    {">=1.1    <2    !=1.2.3", "1.2.3", false},
    {">=1.1, <2, !=1.2.3 || > 3", "4.1.2", true},
    {">=1.1, <2, !=1.2.3 || > 3", "3.1.2", false},
    {">=1.1, <2, !=1.2.3 || >= 3", "3.0.0", true},
    {">=1.1, <2, !=1.2.3 || > 3", "3.0.0", false},
    {">=1.1, <2, !=1.2.3 || > 3", "1.2.3", false},
    {">=1.1 <2 !=1.2.3", "1.2.3", false},
    {">=1.1 <2 !=1.2.3 || > 3", "4.1.2", true},
    {">=1.1 <2 !=1.2.3 || > 3", "3.1.2", false},
    {">=1.1 <2 !=1.2.3 || >= 3", "3.0.0", true},
    {">=1.1 <2 !=1.2.3 || > 3", "3.0.0", false},
    {">=1.1 <2 !=1.2.3 || > 3", "1.2.3", false},
    {"> 1.1, <     2", "1.1.1", false},
    {">   1.1, <2", "1.2.1", true},
    {">1.1, <  3", "4.3.2", false},
    {">= 1.1, <     2, !=1.2.3", "1.2.3", false},
    {"> 1.1 < 2", "1.1.1", false},
    {">1.1 < 2", "1.2.1", true},
    {"> 1.1    <3", "4.3.2", false},
    {">=1.1    < 2    != 1.2.3", "1.2.3", false},
    {">= 1.1, <2, !=1.2.3 || > 3", "4.1.2", true},
    {">= 1.1, <2, != 1.2.3 || > 3", "3.1.2", false},
    {">= 1.1, <2, != 1.2.3 || >= 3", "3.0.0", true},
    {">= 1.1, <2, !=1.2.3 || > 3", "3.0.0", false},
    {">= 1.1, <2, !=1.2.3 || > 3", "1.2.3", false},
    {">= 1.1 <2 != 1.2.3", "1.2.3", false},
    {">= 1.1 <2 != 1.2.3 || > 3", "4.1.2", true},
    {">= 1.1 <2 != 1.2.3 || > 3", "3.1.2", false},
    {">= 1.1 <2 != 1.2.3 || >= 3", "3.0.0", true},
    {">= 1.1 < 2 !=1.2.3 || > 3", "3.0.0", false},
    {">=1.1 < 2 !=1.2.3 || > 3", "1.2.3", false},
    {">= 1.0.0  <= 2.0.0-beta", "1.0.1-beta", true},
    {">= 1.0.0  <= 2.0.0-beta", "1.0.1", true},
    {">= 1.0.0  <= 2.0.0-beta", "3.0.0", false},
    {">= 1.0.0  <= 2.0.0-beta || > 3", "1.0.1-beta", true},
    {">= 1.0.0  <= 2.0.0-beta || > 3", "3.0.1-beta", false},
    {">= 1.0.0  <= 2.0.0-beta != 1.0.1 || > 3", "1.0.1-beta", true},
    {">= 1.0.0  <= 2.0.0-beta != 1.0.1-beta || > 3", "1.0.1-beta", false},
    {">= 1.0.0-0  <= 2.0.0", "1.0.1-beta", true},
    {"1.1 - 2", "1.1.1", true},
    {"1.5.0 - 4.5", "3.7.0", true},
    {"1.1-3", "4.3.2", false}, /* no blanks: version 1.1.0-3, not a range */
    {"^1.1", "1.1.1", true},
    {"^1.1", "4.3.2", false},
    {"^1.x", "1.1.1", true},
    {"^2.x", "1.1.1", false},
    {"^1.x", "2.1.1", false},
    {"^1.x", "1.1.1-beta1", false},
    {"^1.1.2-alpha", "1.2.1-beta1", true},
    {"^1.2.x-alpha", "1.1.1-beta1", false},
    {"^0.0.1", "0.0.1", true},
    {"^0.0.1", "0.3.1", false},
    {"~*", "2.1.1", true},
    {"~1", "2.1.1", false},
    {"~1", "1.3.5", true},
    {"~1", "1.4", true},
    {"~1.x", "2.1.1", false},
    {"~1.x", "1.3.5", true},
    {"~1.x", "1.4", true},
    {"~1.1", "1.1.1", true},
    {"~1.1", "1.1.1-alpha", false},
    {"~1.1-alpha", "1.1.1-beta", true},
    {"~1.1.1-beta", "1.1.1-alpha", false},
    {"~1.1.1-beta", "1.1.1", true},
    {"~1.2.3", "1.2.5", true},
    {"~1.2.3", "1.2.2", false},
    {"~1.2.3", "1.3.2", false},
    {"~1.1", "1.2.3", false},
    {"~1.3", "2.4.5", false},
    {"1.0.0 - 2.0.0 <=2.0.0", "1.5.0", true},
    {"1.0.0 - 2.0.0, <=2.0.0", "1.5.0", true},
    /* TestConstraintsValidate rows not above */
    {"<2.x", "1.1.1", true},
    {"<=2.x", "3.1.0", false},
    {"^1.1", "1.1.1-alpha", false},
    {"^1.1.1-alpha", "1.1.1-beta", true},
    {"^1.1.1-beta", "1.1.1-alpha", false},
    {"^0.0.1", "0.1.3", false},
    {"~1", "1.3.5-beta", false},
    {"~1.x", "1.3.5-beta", false},
    {"~1.3.6-alpha", "1.3.5-beta", false},
    {"~1.3.5-alpha", "1.3.5-beta", true},
    {"~1.3.5-beta", "1.3.5-alpha", false},
    {"1.1 - 3", "4.3.2", false},
    {"^1.12.7", "1.6.6", false},
    {"^0.2", "0.3.0", false},
    {"^0.2", "0.1.1", false},
    {"^0.0.3", "0.1.1", false},
    {"^0.0.3", "0.0.2", false},
    {"> 1.2.3", "1.2.3-beta.1", false},
    {"2.x", "1.2.3", false},
    {"2", "1.2.3", false},
};

/* Masterminds TestConstraintCheck: single comparators, prereleases allowed
 * exactly when the comparator names one. */
static const struct check_case upstream_single[] = {
    {"=2.0.0", "1.2.3", false},
    {"=2.0.0", "2.0.0", true},
    {"=2.0", "1.2.3", false},
    {"=2.0", "2.0.0", true},
    {"=2.0", "2.0.1", true},
    {"4.1", "4.1.0", true},
    {"!=4.1.0", "4.1.0", false},
    {"!=4.1.0", "4.1.1", true},
    {"!=4.1", "4.1.0", false},
    {"!=4.1", "4.1.1", false},
    {"!=4.1", "5.1.0-alpha.1", false},
    {"!=4.1.0", "5.1.0-alpha.1", false},
    {"!=4.1-alpha", "4.1.0", true},
    {"!=4.1", "5.1.0", true},
    {"<11", "0.1.0", true},
    {"<11", "11.1.0", false},
    {"<1.1", "0.1.0", true},
    {"<1.1", "1.1.0", false},
    {"<1.1", "1.1.1", false},
    {"<=11", "1.2.3", true},
    {"<=11", "12.2.3", false},
    {"<=11", "11.2.3", true},
    {"<=1.1", "1.2.3", false},
    {"<=1.1", "0.1.0", true},
    {"<=1.1", "1.1.0", true},
    {"<=1.1", "1.1.1", true},
    {">1.1", "4.1.0", true},
    {">1.1", "1.1.0", false},
    {">0", "0", false},
    {">0", "1", true},
    {">0", "0.0.1-alpha", false},
    {">0.0", "0.0.1-alpha", false},
    {">0-0", "0.0.1-alpha", false},
    {">0.0-0", "0.0.1-alpha", false},
    {">0", "0.0.0-alpha", false},
    {">0-0", "0.0.0-alpha", false},
    {">0.0.0-0", "0.0.0-alpha", true},
    {">1.2.3-alpha.1", "1.2.3-alpha.2", true},
    {">1.2.3-alpha.1", "1.3.3-alpha.2", true},
    {">11", "11.1.0", false},
    {">11.1", "11.1.0", false},
    {">11.1", "11.1.1", false},
    {">11.1", "11.2.1", true},
    {">=11", "11.1.2", true},
    {">=11.1", "11.1.2", true},
    {">=11.1", "11.0.2", false},
    {">=1.1", "4.1.0", true},
    {">=1.1", "1.1.0", true},
    {">=1.1", "0.0.9", false},
    {">=0", "0.0.1-alpha", false},
    {">=0.0", "0.0.1-alpha", false},
    {">=0-0", "0.0.1-alpha", true},
    {">=0.0-0", "0.0.1-alpha", true},
    {">=0", "0.0.0-alpha", false},
    {">=0-0", "0.0.0-alpha", true},
    {">=0.0.0-0", "0.0.0-alpha", true},
    {">=0.0.0-0", "1.2.3", true},
    {">=0.0.0-0", "3.4.5-beta.1", true},
    {"<0", "0.0.0-alpha", false},
    {"<0-z", "0.0.0-alpha", true},
    {">=0", "0", true},
    {"=0", "1", false},
    {"*", "1", true},
    {"*", "4.5.6", true},
    {"*", "1.2.3-alpha.1", false},
    {"*-0", "1.2.3-alpha.1", true},
    {"2.*", "1", false},
    {"2.*", "3.4.5", false},
    {"2.*", "2.1.1", true},
    {"2.1.*", "2.1.1", true},
    {"2.1.*", "2.2.1", false},
    {"2", "1", false},
    {"2", "3.4.5", false},
    {"2", "2.1.1", true},
    {"2.1", "2.1.1", true},
    {"2.1", "2.2.1", false},
    {"~1.2.3", "1.2.4", true},
    {"~1.2.3", "1.3.4", false},
    {"~1.2", "1.2.4", true},
    {"~1.2", "1.3.4", false},
    {"~1", "1.2.4", true},
    {"~1", "2.3.4", false},
    {"~0.2.3", "0.2.5", true},
    {"~0.2.3", "0.3.5", false},
    {"~1.2.3-beta.2", "1.2.3-beta.4", true},
    {"~1.2.3-beta.2", "1.2.4-beta.2", true},
    {"~1.2.3-beta.2", "1.3.4-beta.2", false},
    {"^1.2.3", "1.8.9", true},
    {"^1.2.3", "2.8.9", false},
    {"^1.2.3", "1.2.1", false},
    {"^1.1.0", "2.1.0", false},
    {"^1.2.0", "2.2.1", false},
    {"^1.2.0", "1.2.1-alpha.1", false},
    {"^1.2.0-alpha.0", "1.2.1-alpha.1", true},
    {"^1.2.0-alpha.0", "1.2.1-alpha.0", true},
    {"^1.2.0-alpha.2", "1.2.0-alpha.1", false},
    {"^1.2", "1.8.9", true},
    {"^1.2", "2.8.9", false},
    {"^1", "1.8.9", true},
    {"^1", "2.8.9", false},
    {"^0.2.3", "0.2.5", true},
    {"^0.2.3", "0.5.6", false},
    {"^0.2", "0.2.5", true},
    {"^0.2", "0.5.6", false},
    {"^0.0.3", "0.0.3", true},
    {"^0.0.3", "0.0.4", false},
    {"^0.0", "0.0.3", true},
    {"^0.0", "0.1.4", false},
    {"^0.0", "1.0.4", false},
    {"^0", "0.2.3", true},
    {"^0", "1.1.4", false},
    {"^0.2.3-beta.2", "0.2.3-beta.4", true},
    {"^0.2.3-beta.2", "0.2.4-beta.2", true},
    {"^0.2.3-beta.2", "0.3.4-beta.2", false},
    {"^0.2.3-beta.2", "0.2.3-beta.2", true},
};

/* The README's range rules, v prefixes, wildcards anywhere, OR groups, and the
 * prerelease rule of v3.4+ (a prerelease comparator opens its whole group). */
static const struct check_case readme_checks[] = {
    /* wildcards: 1.2.x is >= 1.2.0, < 1.3.0; * is >= 0.0.0 */
    {"1.2.x", "1.2.0", true},
    {"1.2.x", "1.2.99", true},
    {"1.2.x", "1.3.0", false},
    {"1.2.x", "1.1.9", false},
    {"1.2.X", "1.2.5", true},
    {"1.2.*", "1.2.5", true},
    {"1.*", "1.9.9", true},
    {"1.*", "2.0.0", false},
    {"1.x.x", "1.5.0", true},
    {"1.x.3", "1.5.0", true},
    {"*", "0.0.0", true},
    {"x", "3.0.0", true},
    {"X", "3.0.0", true},
    {"*.*.*", "9.9.9", true},
    {"v1.2.x", "1.2.4", true},
    {"1.2.x", "1.2.3-rc.1", false},
    {">= 1.2.x", "1.2.0", true},
    {">= 1.2.x", "1.1.9", false},
    {"<= 2.x", "2.99.99", true},
    {"<= 2.x", "3.0.0", false},
    {"> 1.x", "1.9.0", false},
    {"> 1.x", "2.0.0", true},
    /* tilde: ~1.2.3 is >= 1.2.3, < 1.3.0; ~1 is >= 1, < 2 */
    {"~1", "1.0.0", true},
    {"~1", "1.99.0", true},
    {"~1", "0.9.0", false},
    {"~1.2", "1.2.0", true},
    {"~1.2", "1.2.99", true},
    {"~1.2", "1.3.0", false},
    {"~1.2.3", "1.2.3", true},
    {"~>1.2.3", "1.2.9", true},
    {"~>1.2.3", "1.3.0", false},
    {"~> 1.2", "1.2.7", true},
    {"~0", "0.5.0", true},
    {"~0", "1.0.0", false},
    /* caret: ^1.2.3 is >= 1.2.3, < 2; ^0.2.3 < 0.3; ^0.0.3 < 0.0.4; ^0 < 1; ^0.0 < 0.1 */
    {"^1.2.3", "1.2.3", true},
    {"^1.2.3", "1.9.0", true},
    {"^1.2.3", "2.0.0", false},
    {"^1.2.3", "1.2.2", false},
    {"^0.2.3", "0.2.3", true},
    {"^0.2.3", "0.2.9", true},
    {"^0.2.3", "0.3.0", false},
    {"^0.2.3", "0.2.2", false},
    {"^0.2", "0.2.0", true},
    {"^0.2", "0.3.0", false},
    {"^0.x", "0.9.0", true},
    {"^0.x", "1.0.0", false},
    {"^0", "0.0.0", true},
    {"^0.0.3", "0.0.3", true},
    {"^0.0.3", "0.0.4", false},
    {"^0.0.3", "0.1.0", false},
    {"^0.0", "0.0.9", true},
    {"^0.0", "0.1.0", false},
    {"^0.0.x", "0.0.5", true},
    {"^0.0.x", "0.1.0", false},
    {"^0.0.0", "0.0.0", true},
    {"^0.0.0", "0.0.1", false},
    /* v prefixes on either side, metadata ignored, leading zeros coerced */
    {"v1.2.3", "1.2.3", true},
    {"v1.2.3", "1.2.4", false},
    {">=v1.0.0", "v1.5.0", true},
    {"^v1.2", "1.3.0", true},
    {"=v1.2.3", "v1.2.3", true},
    {"1.2.3+build.1", "1.2.3", true},
    {"1.2.3", "1.2.3+xyz", true},
    {"01.02.03", "1.2.3", true},
    {"^1.2.0", "01.02.03", true},
    /* operator spellings */
    {"=> 1.2", "1.2.0", true},
    {"=< 1.2", "1.2.9", true},
    {"=< 1.2", "1.3.0", false},
    /* hyphen ranges: A - B is >= A, <= B */
    {"1.2 - 1.4.5", "1.2.0", true},
    {"1.2 - 1.4.5", "1.4.5", true},
    {"1.2 - 1.4.5", "1.4.6", false},
    {"1.2 - 1.4.5", "1.1.99", false},
    {"1.2 - 1.4.5", "1.3.0-beta", false},
    {"1.2.0-0 - 1.4.5", "1.3.0-beta", true},
    {"2.3.4 - 4.5", "4.5.9", true},
    {"2.3.4 - 4.5", "4.6.0", false},
    {"2.3.4 - 4.5", "2.3.3", false},
    {"v1.0.0 - v2.0.0", "1.9.9", true},
    {"1 - 2 || 5", "2.9.0", true},
    {"1 - 2 || 5", "3.0.0", false},
    {"1 - 2 || 5", "5.0.3", true},
    {"2 - 3, 4.0.0 - 5.1", "2.5.0", false},
    {"2 - 3, 4.0.0 - 5.1", "4.5.0", false},
    {"2 - 3 4.0.0 - 5.1", "4.5.0", false},
    {">= 1.0, 1.2 - 1.4", "1.3.0", true},
    {">= 1.0, 1.2 - 1.4", "1.1.0", false},
    {"1.0.0\t-\t2.0.0", "1.5.0", true},
    /* AND by blanks (any of Go's \s) or commas, OR by || */
    {">=1.2.3 <1.3", "1.2.9", true},
    {">=1.2.3,<1.3", "1.3.0", false},
    {">=1.2.3 ,<1.3", "1.2.5", true},
    {">=1.2.3\t<2\n", "1.9.0", true},
    {"\r\n>=1.2.3\f<2", "2.0.0", false},
    {"^1.0 || ^2.0", "2.5.0", true},
    {"^1.0 || ^2.0", "3.0.0", false},
    {"1.2.3||1.2.5", "1.2.5", true},
    {"1.2.3||1.2.5", "1.2.4", false},
    /* != */
    {"!=1.2.3", "1.2.3", false},
    {"!=1.2.3", "1.2.4", true},
    {"!=1.2.3-alpha", "1.2.3-alpha", false},
    {"!=1.2.3-alpha", "1.2.3-beta", true},
    {"!=1.2.3-alpha", "1.2.3", true},
    {"!=1.2.x", "1.2.9", false},
    {"!=1.2.x", "1.3.0", true},
    {"!= 1.2.3, != 1.2.4", "1.2.4", false},
    /* prereleases match only groups with a prerelease comparator */
    {">=1.0.0", "1.5.0-rc.1", false},
    {">=1.0.0-0", "1.5.0-rc.1", true},
    {">=1.0.0-0 <2.0.0", "2.0.0-rc.1", true},
    {">=1.0.0 <2.0.0-0", "1.5.0-rc.1", true},
    {">=1.0.0 <2.0.0 || >=3.0.0-alpha", "1.5.0-rc.1", false},
    {">=1.0.0 <2.0.0 || >=3.0.0-alpha", "3.1.0-beta", true},
    {"^1.2.3-alpha", "1.2.3-alpha", true},
    {"^1.2.3-alpha", "1.2.3-beta.1", true},
    {"^1.2.3-alpha", "1.5.0-beta", true},
    {"^1.2.3-alpha", "1.2.2", false},
    {"~1.2.3-beta", "1.2.3-alpha", false},
    {"=1.2.3-rc.1", "1.2.3-rc.1", true},
    {"1.2.3-rc.1", "1.2.3-rc.2", false},
    {"1.2.3", "1.2.3-rc.1", false},
    {"^1.0.0", "1.4.0-rc.1", false},
    {"^1.0.0", "v1.4.0", true},
    /* quirks of upstream's code, reproduced */
    {"^*", "0.0.0", true},
    {"^*", "1.0.0", false},
    {"<= *", "0.0.7", true},
    {"<= *", "0.1.0", false},
    {"> *", "0.0.0", false},
    {"> *", "0.0.1", true},
    {"!= *", "0.0.0", false},
    {"!= *", "2.0.0", true},
    {"~0.0.0", "5.0.0", true},
    {"1 - 2||3", "3.5.0", true}, /* "2||3" is read as one version, then split */
    {"1 - 2||3", "2.5.0", true},
};

/* Parses each constraint and version and compares Check with the table. */
static void run_checks(const struct check_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct check_case *tc = &cases[i];
        char err[256] = "";
        struct hb_semver v;
        struct hb_semver_constraint *c;
        c = hb_semver_constraint_parse(tc->constraint, err, sizeof err);
        if (!c)
            fail_msg("constraint \"%s\" refused: %s", tc->constraint, err);
        if (hb_semver_parse(tc->version, false, &v) != 0)
            fail_msg("version \"%s\" refused", tc->version);
        bool got = hb_semver_satisfies(c, &v);
        hb_semver_constraint_free(c);
        if (got != tc->want)
            fail_msg("\"%s\" with %s: got %d, want %d", tc->constraint, tc->version, got, tc->want);
    }
}

static void test_upstream_checks(void **state)
{
    (void)state;
    run_checks(upstream_checks, COUNT(upstream_checks));
}

static void test_upstream_single(void **state)
{
    (void)state;
    run_checks(upstream_single, COUNT(upstream_single));
}

static void test_readme_checks(void **state)
{
    (void)state;
    run_checks(readme_checks, COUNT(readme_checks));
}

/* Constraints upstream accepts (TestNewConstraint and others). */
static const char *const valid_constraints[] = {
    ">= 1.1",
    ">40.50.60, < 50.70",
    "2.0",
    "v2.3.5-20161202202307-sha.e8fc5e5",
    ">= 1.2.3 < 2.0",
    ">= 1.2.3 < 2.0 || => 3.0 < 4",
    ">= 1.2.3, < 2.0",
    ">= 1.2.3, < 2.0 || => 3.0, < 4",
    "3 - 4 || => 3.0, < 4",
    "12.3.34 ~1.2.3",
    "1.0.0 - 2.0.0, <=2.0.0",
    "  ^1.2.3  ",
    "~>1.2",
    "1.2.3-alpha.1+build.5",
    "*-0",
};

/* Constraints upstream refuses. */
static const char *const invalid_constraints[] = {
    /* TestParseConstraint / TestNewConstraint */
    "foo",
    ">= bar",
    "BAR >= 1.2.3",
    "12.3.4.1234",
    "12.23.4.1234",
    "12.3.34.1234",
    "12.3.34~ 1.2.3",
    /* empty groups and stray separators */
    "",
    "   ",
    "||",
    "1.2.3 ||",
    "|| 1.2.3",
    "1.2.3 || || 2.0.0",
    ">=1.2.3,",
    ",>=1.2.3",
    ">=1.2.3,,<2.0.0",
    ">=1.2.3<2",
    "1.2.3 -",
    "- 1.2.3",
    "1.2.3\v",
    /* operators */
    "==1.2.3",
    "=>=1.2.3",
    "!1.2.3",
    "! =1.2.3",
    "= >1.2.3",
    "~ >1.2",
    "^^1",
    ">=",
    /* versions */
    "1.2.3-01",
    "1.2.x-01",
    "1.2.3-alpha..1",
    "1.2.3-",
    "1.2.3+",
    "V1.2.3",
    "vv1.2.3",
    "1|2",
    "1x",
    "x1",
    "1.2.3x",
    "1.2.3.",
    "18446744073709551616",
    "1.18446744073709551616",
    /* quirks: a range right after a blank-separated comparator, and "||"
     * glued to a range (read as version characters) */
    ">= 1.0 1.2 - 1.4",
    "2.3.1 - 0.*||3.3.1",
    "1 - 2||1 - 2",
    "<2.3||0.1.2 - 3.1.1",
};

static void test_constraint_validity(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(valid_constraints); i++) {
        char err[128] = "";
        struct hb_semver_constraint *c = hb_semver_constraint_parse(valid_constraints[i], err,
                                                                    sizeof err);
        if (!c)
            fail_msg("\"%s\" refused: %s", valid_constraints[i], err);
        hb_semver_constraint_free(c);
    }
    for (size_t i = 0; i < COUNT(invalid_constraints); i++) {
        char err[128] = "";
        struct hb_semver_constraint *c = hb_semver_constraint_parse(invalid_constraints[i], err,
                                                                    sizeof err);
        if (c) {
            hb_semver_constraint_free(c);
            fail_msg("\"%s\" accepted", invalid_constraints[i]);
        }
        assert_true(err[0] != '\0');
    }
}

/* Fills buf with n copies of unit joined by sep (bounded by cap). */
static void repeat(char *buf, size_t cap, const char *unit, const char *sep, int n)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < n; i++) {
        int w = snprintf(buf + len, cap - len, "%s%s", i ? sep : "", unit);
        assert_true(w > 0 && (size_t)w < cap - len);
        len += (size_t)w;
    }
}

static void expect_parse(const char *s, bool ok)
{
    char err[128] = "";
    struct hb_semver_constraint *c = hb_semver_constraint_parse(s, err, sizeof err);
    if ((c != NULL) != ok)
        fail_msg("constraint of %zu bytes: %s (%s)", strlen(s), c ? "accepted" : "refused", err);
    hb_semver_constraint_free(c);
}

/* 512 bytes, 32 OR groups (upstream), 64 comparators (hookbus). */
static void test_constraint_limits(void **state)
{
    (void)state;
    static char buf[4096];

    memset(buf, ' ', HB_SEMVER_MAX_CONSTRAINT_LEN);
    memcpy(buf, ">=1.0.0", 7);
    buf[HB_SEMVER_MAX_CONSTRAINT_LEN] = '\0';
    expect_parse(buf, true);
    buf[HB_SEMVER_MAX_CONSTRAINT_LEN] = ' ';
    buf[HB_SEMVER_MAX_CONSTRAINT_LEN + 1] = '\0';
    expect_parse(buf, false);

    repeat(buf, sizeof buf, "1", "||", HB_SEMVER_MAX_OR_GROUPS);
    expect_parse(buf, true);
    repeat(buf, sizeof buf, "1", "||", HB_SEMVER_MAX_OR_GROUPS + 1);
    expect_parse(buf, false);

    repeat(buf, sizeof buf, "1", " ", HB_SEMVER_MAX_TERMS);
    expect_parse(buf, true);
    repeat(buf, sizeof buf, "1", " ", HB_SEMVER_MAX_TERMS + 1);
    expect_parse(buf, false);
    repeat(buf, sizeof buf, "1 - 2", ", ", HB_SEMVER_MAX_TERMS / 2); /* a range is 2 */
    expect_parse(buf, true);
    repeat(buf, sizeof buf, "1 - 2", ", ", HB_SEMVER_MAX_TERMS / 2 + 1);
    expect_parse(buf, false);

    /* as many ranges as fit: the rewritten text grows, still bounded */
    repeat(buf, sizeof buf, "1 - 2", " ", 85);
    assert_true(strlen(buf) <= HB_SEMVER_MAX_CONSTRAINT_LEN);
    expect_parse(buf, false);
    repeat(buf, sizeof buf, "1 - 2", " || ", HB_SEMVER_MAX_OR_GROUPS);
    expect_parse(buf, true);

    /* 512 pipes: 257 groups */
    memset(buf, '|', HB_SEMVER_MAX_CONSTRAINT_LEN);
    buf[HB_SEMVER_MAX_CONSTRAINT_LEN] = '\0';
    expect_parse(buf, false);
    /* 512 digits: one number far beyond 64 bits */
    memset(buf, '9', HB_SEMVER_MAX_CONSTRAINT_LEN);
    expect_parse(buf, false);

    /* a constraint version may have up to 256 bytes (MaxVersionLen) */
    memset(buf, 0, sizeof buf);
    memcpy(buf, "^1.2.3-", 7);
    memset(buf + 7, 'a', 250);
    expect_parse(buf, true);
    buf[7 + 250] = 'a';
    expect_parse(buf, false);
}

/* NULL arguments and small or absent error buffers are safe. */
static void test_api_edges(void **state)
{
    (void)state;
    char err[8];
    struct hb_semver v;

    assert_null(hb_semver_constraint_parse(NULL, err, sizeof err));
    assert_true(err[0] != '\0');
    assert_null(hb_semver_constraint_parse(">= nope", NULL, 0));
    memset(err, 'z', sizeof err);
    assert_null(hb_semver_constraint_parse(">= nope", err, 0));
    assert_int_equal(err[0], 'z');
    assert_null(hb_semver_constraint_parse(">= nope and a rather long tail", err, sizeof err));
    assert_int_equal(strlen(err), sizeof err - 1);
    hb_semver_constraint_free(NULL);

    struct hb_semver_constraint *c = hb_semver_constraint_parse("^1", NULL, 0);
    assert_non_null(c);
    assert_int_equal(hb_semver_parse("1.5.0", false, &v), 0);
    assert_true(hb_semver_satisfies(c, &v));
    assert_false(hb_semver_satisfies(NULL, &v));
    assert_false(hb_semver_satisfies(c, NULL));
    hb_semver_constraint_free(c);
}

/* What hookbus-kargo does with an image tag: parse it the way the
 * subscription says (strictSemvers), then check the constraint. */
struct kargo_case {
    const char *constraint, *tag;
    bool strict, want;
};

static const struct kargo_case kargo_cases[] = {
    {"^1.0.0", "v1.4.0", false, true},     {"^1.0.0", "v1.4.0", true, true},
    {"^1.0.0", "1.4", false, true},        {"^1.0.0", "1.4", true, false},
    {"^1.0.0", "01.4.0", false, true},     {"^1.0.0", "01.4.0", true, false},
    {"^1.0.0", "1.4.0-rc.1", true, false}, {">=1.0.0-0", "1.4.0-rc.1", true, true},
    {"~2.3", "2.3.7+build.9", true, true}, {"<2", "latest", false, false},
    {"1.x || 3.x", "3.0.1", true, true},   {"1.x || 3.x", "2.0.1", true, false},
};

static void test_kargo_tags(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(kargo_cases); i++) {
        const struct kargo_case *tc = &kargo_cases[i];
        struct hb_semver_constraint *c = hb_semver_constraint_parse(tc->constraint, NULL, 0);
        struct hb_semver v;
        assert_non_null(c);
        bool got = hb_semver_parse(tc->tag, tc->strict, &v) == 0 && hb_semver_satisfies(c, &v);
        hb_semver_constraint_free(c);
        if (got != tc->want)
            fail_msg("\"%s\" with tag %s (strict %d): got %d", tc->constraint, tc->tag, tc->strict,
                     got);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_table),       cmocka_unit_test(test_parse_limits),
        cmocka_unit_test(test_compare_table),     cmocka_unit_test(test_compare_sort),
        cmocka_unit_test(test_upstream_checks),   cmocka_unit_test(test_upstream_single),
        cmocka_unit_test(test_readme_checks),     cmocka_unit_test(test_constraint_validity),
        cmocka_unit_test(test_constraint_limits), cmocka_unit_test(test_api_edges),
        cmocka_unit_test(test_kargo_tags),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
