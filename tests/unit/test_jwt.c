/* test_jwt.c: unit tests for hookbus/jwt.h (lib/jwt.c) with the throw-away
 * key of tests/fixtures/gar/: a valid Google-style identity token verifies,
 * and every way of getting it wrong is refused (expiry, audience, issuer,
 * tampering, algorithm, key id, malformed input, unusable key sets). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hookbus/jwt.h"
#include "hookbus/util.h"
#include "helpers.h"

#define NOW 1795100000 /* after the expired token's exp (iat + 1 h) */

static const char *const google[] = {"https://accounts.google.com", "accounts.google.com", NULL};
static const char *const other[] = {"https://token.actions.githubusercontent.com", NULL};

static char *fixture(const char *name)
{
    char rel[256];
    snprintf(rel, sizeof(rel), "tests/fixtures/gar/%s", name);
    char *s = hbt_read_source(rel, NULL);
    if (!strchr(s, '{'))
        s[strcspn(s, "\r\n")] = '\0'; /* a token file: one line */
    return s;
}

static struct hb_jwks *keys(void)
{
    char err[256];
    char *text = fixture("jwks.json");
    struct hb_jwks *k = hb_jwks_parse(text, strlen(text), err, sizeof(err));
    free(text);
    assert_non_null(k);
    return k;
}

static int verify(const struct hb_jwks *k, const char *token, const char *const *iss,
                  const char *aud, char *err, size_t errlen)
{
    struct hb_jwt_expect want = {.issuers = iss, .audience = aud, .now = NOW, .leeway_s = 60};
    return hb_jwt_verify(k, token, &want, NULL, err, errlen);
}

#define AUD "https://hooks.example.com/webhooks/gar"

static void test_valid_token(void **state)
{
    (void)state;
    char err[128];
    void *claims = NULL;
    struct hb_jwks *k = keys();
    char *tok = fixture("token-valid.txt");
    struct hb_jwt_expect want = {.issuers = google, .audience = AUD, .now = NOW, .leeway_s = 60};
    assert_int_equal(hb_jwt_verify(k, tok, &want, &claims, err, sizeof(err)), 0);
    assert_non_null(claims);
    assert_string_equal(cJSON_GetObjectItem(claims, "email")->valuestring,
                        "gcr-push@acme-prod.iam.gserviceaccount.com");
    cJSON_Delete(claims);
    free(tok);
    hb_jwks_free(k);
}

static void test_refused_claims(void **state)
{
    (void)state;
    char err[128];
    struct hb_jwks *k = keys();
    char *valid = fixture("token-valid.txt"), *expired = fixture("token-expired.txt");
    char *aud = fixture("token-wrong-audience.txt");
    assert_int_equal(verify(k, expired, google, AUD, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "expired"));
    assert_int_equal(verify(k, aud, google, AUD, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "audience"));
    assert_int_equal(verify(k, valid, other, AUD, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "issuer"));
    assert_int_equal(verify(k, valid, google, "https://other.example.com", err, sizeof(err)), -1);
    assert_int_equal(verify(k, valid, google, NULL, err, sizeof(err)), -1);
    free(valid);
    free(expired);
    free(aud);
    hb_jwks_free(k);
}

/* Flips one character of part (0 header, 1 payload, 2 signature). */
static void flip(char *tok, int part)
{
    char *p = tok;
    for (int i = 0; i < part; i++)
        p = strchr(p, '.') + 1;
    p[5] = p[5] == 'A' ? 'B' : 'A';
}

static void test_tampered_and_malformed(void **state)
{
    (void)state;
    char err[128];
    struct hb_jwks *k = keys();
    for (int part = 1; part <= 2; part++) {
        char *tok = fixture("token-valid.txt");
        flip(tok, part);
        assert_int_equal(verify(k, tok, google, AUD, err, sizeof(err)), -1);
        free(tok);
    }
    /* alg none, an HS256 header, another kid: all refused before any claim. */
    const char *const headers[] = {"{\"alg\":\"none\"}", "{\"alg\":\"HS256\"}",
                                   "{\"alg\":\"RS256\",\"kid\":\"unknown\"}"};
    char *valid = fixture("token-valid.txt");
    const char *rest = strchr(valid, '.');
    for (size_t i = 0; i < 3; i++) {
        char *h64 = hb_base64_encode((const unsigned char *)headers[i], strlen(headers[i]));
        char tok[4096];
        snprintf(tok, sizeof(tok), "%.*s%s", (int)strcspn(h64, "="), h64, rest);
        assert_int_equal(verify(k, tok, google, AUD, err, sizeof(err)), -1);
        free(h64);
    }
    const char *const bad[] = {"", ".", "..", "a.b.c", "a.b.c.d", "e30.e30.", "e30.e30.AAAA"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(verify(k, bad[i], google, AUD, err, sizeof(err)), -1);
    free(valid);
    hb_jwks_free(k);
}

static void test_unusable_key_sets(void **state)
{
    (void)state;
    char err[128];
    const char *const sets[] = {
        "",
        "[]",
        "{}",
        "{\"keys\": {}}",
        "{\"keys\": []}",
        "{\"keys\": [{\"kty\": \"EC\", \"crv\": \"P-256\", \"x\": \"AA\", \"y\": \"AA\"}]}",
        "{\"keys\": [{\"kty\": \"RSA\", \"n\": \"AQAB\", \"e\": \"AQAB\"}]}",
        "{\"keys\": [{\"kty\": \"RSA\", \"n\": \"!!\", \"e\": \"AQAB\"}]}",
    };
    for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++) {
        struct hb_jwks *k = hb_jwks_parse(sets[i], strlen(sets[i]), err, sizeof(err));
        assert_null(k);
        assert_true(err[0] != '\0');
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_token),
        cmocka_unit_test(test_refused_claims),
        cmocka_unit_test(test_tampered_and_malformed),
        cmocka_unit_test(test_unusable_key_sets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
