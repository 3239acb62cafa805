/* hookbus/jwt.h: verification of RS256-signed JSON Web Tokens against a JSON
 * Web Key Set, as OIDC identity tokens (Google's for Pub/Sub push) need. */
#ifndef HOOKBUS_JWT_H
#define HOOKBUS_JWT_H

#include <stddef.h>
#include <time.h>

struct hb_jwks;

/* Parses a JWKS document ({"keys": [...]}); RSA keys (kty RSA, n, e, optional
 * kid) are kept, others skipped. NULL with err when none is usable. */
struct hb_jwks *hb_jwks_parse(const char *json, size_t len, char *err, size_t errlen);
void hb_jwks_free(struct hb_jwks *k);

struct hb_jwt_expect {
    const char *const *issuers; /* NULL-terminated; iss must be one of them */
    const char *audience;       /* aud (string or array) must contain it */
    time_t now;                 /* exp > now - leeway, nbf/iat <= now + leeway */
    long leeway_s;
};

/* Verifies token (header.payload.signature, alg RS256, signed by the key
 * named by kid, or by any key without kid) and its iss / aud / exp claims.
 * On success returns 0 and, when claims is not NULL, the parsed payload
 * (a cJSON *, caller deletes). -1 with err otherwise. */
int hb_jwt_verify(const struct hb_jwks *k, const char *token, const struct hb_jwt_expect *want,
                  void **claims, char *err, size_t errlen);

#endif
