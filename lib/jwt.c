/* jwt.c: RS256 JSON Web Token verification with OpenSSL against a JWKS.
 * Only what OIDC identity tokens need: compact serialization, RS256, the
 * iss / aud / exp / nbf claims. Every input is bounded. */
#include <cjson/cJSON.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hookbus/format.h"
#include "hookbus/jwt.h"
#include "hookbus/util.h"

#define MAX_KEYS 32
#define MAX_TOKEN 16384

struct jwk {
    char kid[128];
    EVP_PKEY *pkey;
};

struct hb_jwks {
    struct jwk keys[MAX_KEYS];
    size_t n;
};

/* An RSA public key from the base64url n and e of a JWK. NULL on error. */
static EVP_PKEY *rsa_from_jwk(const char *n64, const char *e64)
{
    size_t nl = 0, el = 0;
    unsigned char *n = hb_base64_decode(n64, strlen(n64), &nl);
    unsigned char *e = hb_base64_decode(e64, strlen(e64), &el);
    BIGNUM *bn = n ? BN_bin2bn(n, (int)nl, NULL) : NULL;
    BIGNUM *be = e ? BN_bin2bn(e, (int)el, NULL) : NULL;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *pkey = NULL;
    if (!bn || !be || !bld || nl < 256 || nl > 1024 ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) ||
        !(params = OSSL_PARAM_BLD_to_param(bld)) ||
        !(ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) ||
        EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
        pkey = NULL;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn);
    BN_free(be);
    free(n);
    free(e);
    return pkey;
}

struct hb_jwks *hb_jwks_parse(const char *json, size_t len, char *err, size_t errlen)
{
    cJSON *root = hb_json_parse(json, len);
    struct hb_jwks *k = calloc(1, sizeof(*k));
    const cJSON *it;
    if (!k) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(root, "keys"))) {
        snprintf(err, errlen, "not a JWKS document: no \"keys\" list");
        goto fail;
    }
    cJSON_ArrayForEach (it, cJSON_GetObjectItemCaseSensitive(root, "keys")) {
        const cJSON *kty = cJSON_GetObjectItemCaseSensitive(it, "kty");
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(it, "n");
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(it, "e");
        const cJSON *kid = cJSON_GetObjectItemCaseSensitive(it, "kid");
        if (k->n == MAX_KEYS || !cJSON_IsString(kty) || strcmp(kty->valuestring, "RSA") != 0 ||
            !cJSON_IsString(n) || !cJSON_IsString(e))
            continue;
        EVP_PKEY *pkey = rsa_from_jwk(n->valuestring, e->valuestring);
        if (!pkey)
            continue;
        k->keys[k->n].pkey = pkey;
        if (cJSON_IsString(kid))
            hb_strlcpy(k->keys[k->n].kid, kid->valuestring, sizeof(k->keys[k->n].kid));
        k->n++;
    }
    if (!k->n) {
        snprintf(err, errlen, "the JWKS has no usable RSA key");
        goto fail;
    }
    cJSON_Delete(root);
    return k;
fail:
    cJSON_Delete(root);
    hb_jwks_free(k);
    return NULL;
}

void hb_jwks_free(struct hb_jwks *k)
{
    for (size_t i = 0; k && i < k->n; i++)
        EVP_PKEY_free(k->keys[i].pkey);
    free(k);
}

static bool rs256_ok(EVP_PKEY *pkey, const char *signed_part, size_t len, const unsigned char *sig,
                     size_t siglen)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool ok = md && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pkey) == 1 &&
              EVP_DigestVerify(md, sig, siglen, (const unsigned char *)signed_part, len) == 1;
    EVP_MD_CTX_free(md);
    return ok;
}

static bool audience_ok(const cJSON *aud, const char *want)
{
    if (cJSON_IsString(aud))
        return strcmp(aud->valuestring, want) == 0;
    const cJSON *a;
    if (!cJSON_IsArray(aud))
        return false;
    cJSON_ArrayForEach (a, aud)
        if (cJSON_IsString(a) && strcmp(a->valuestring, want) == 0)
            return true;
    return false;
}

/* The claims checks of want against the payload. */
static int check_claims(const cJSON *c, const struct hb_jwt_expect *want, char *err, size_t errlen)
{
    const cJSON *iss = cJSON_GetObjectItemCaseSensitive(c, "iss");
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(c, "exp");
    const cJSON *nbf = cJSON_GetObjectItemCaseSensitive(c, "nbf");
    bool iss_ok = false;
    for (size_t i = 0; cJSON_IsString(iss) && want->issuers && want->issuers[i]; i++)
        iss_ok |= strcmp(iss->valuestring, want->issuers[i]) == 0;
    if (!iss_ok) {
        snprintf(err, errlen, "issuer not accepted");
        return -1;
    }
    const cJSON *aud = cJSON_GetObjectItemCaseSensitive(c, "aud");
    if (!want->audience || !audience_ok(aud, want->audience)) {
        snprintf(err, errlen, "audience does not match");
        return -1;
    }
    if (!cJSON_IsNumber(exp) || exp->valuedouble <= (double)(want->now - want->leeway_s)) {
        snprintf(err, errlen, "token expired or without exp");
        return -1;
    }
    if (nbf && (!cJSON_IsNumber(nbf) || nbf->valuedouble > (double)(want->now + want->leeway_s))) {
        snprintf(err, errlen, "token not yet valid");
        return -1;
    }
    return 0;
}

int hb_jwt_verify(const struct hb_jwks *k, const char *token, const struct hb_jwt_expect *want,
                  void **claims, char *err, size_t errlen)
{
    size_t tl = strlen(token), hl, pl, sl = 0;
    const char *d1 = memchr(token, '.', tl);
    const char *d2 = d1 ? memchr(d1 + 1, '.', tl - (size_t)(d1 + 1 - token)) : NULL;
    unsigned char *hdr = NULL, *pay = NULL, *sig = NULL;
    cJSON *h = NULL, *c = NULL;
    int rc = -1;
    if (tl > MAX_TOKEN || !d1 || !d2 || memchr(d2 + 1, '.', tl - (size_t)(d2 + 1 - token))) {
        snprintf(err, errlen, "not a compact JWT");
        goto done;
    }
    hdr = hb_base64_decode(token, (size_t)(d1 - token), &hl);
    pay = hb_base64_decode(d1 + 1, (size_t)(d2 - d1 - 1), &pl);
    sig = hb_base64_decode(d2 + 1, tl - (size_t)(d2 + 1 - token), &sl);
    h = hdr ? hb_json_parse((const char *)hdr, hl) : NULL;
    c = pay ? hb_json_parse((const char *)pay, pl) : NULL;
    if (!cJSON_IsObject(h) || !cJSON_IsObject(c) || !sig) {
        snprintf(err, errlen, "malformed JWT");
        goto done;
    }
    const cJSON *alg = cJSON_GetObjectItemCaseSensitive(h, "alg");
    const cJSON *kid = cJSON_GetObjectItemCaseSensitive(h, "kid");
    if (!cJSON_IsString(alg) || strcmp(alg->valuestring, "RS256") != 0) {
        snprintf(err, errlen, "JWT algorithm is not RS256");
        goto done;
    }
    bool ok = false, found = false;
    for (size_t i = 0; i < k->n && !ok; i++) {
        if (cJSON_IsString(kid) && k->keys[i].kid[0] && strcmp(kid->valuestring, k->keys[i].kid))
            continue;
        found = true;
        ok = rs256_ok(k->keys[i].pkey, token, (size_t)(d2 - token), sig, sl);
    }
    if (!ok) {
        snprintf(err, errlen, "%s",
                 found ? "JWT signature does not verify" : "JWT key id not in the JWKS");
        goto done;
    }
    if (check_claims(c, want, err, errlen) < 0)
        goto done;
    rc = 0;
    if (claims) {
        *claims = c;
        c = NULL;
    }
done:
    cJSON_Delete(h);
    cJSON_Delete(c);
    free(hdr);
    free(pay);
    free(sig);
    return rc;
}
