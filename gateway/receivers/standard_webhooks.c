/* standard_webhooks.c: the Standard Webhooks signature scheme (spec v1.0.0),
 * shared by every receiver whose sender uses it (the standard-webhooks type
 * in generic.c, GitLab's signing token in gitlab.c).
 *
 * A delivery carries webhook-id, webhook-timestamp (Unix seconds) and
 * webhook-signature, a space-separated list of "<version>,<base64>" entries.
 * The signed content is "<id>.<timestamp>.<body>". Keys are the receiver's
 * secrets that carry the scheme's prefix: "whsec_<base64>" is a symmetric key
 * (v1: HMAC-SHA256), "whpk_<base64>" an Ed25519 public key (v1a). Other
 * secrets are not keys of this scheme and are skipped.
 *
 * The timestamp bounds replays: a delivery older or newer than the tolerance
 * is refused, and a replay with a fresh timestamp no longer matches its
 * signature. A sender's retry keeps webhook-id, which becomes the event id. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hookbus/crypto.h"
#include "hookbus/util.h"
#include "receivers/receiver.h"

#define SW_MAX_ID 256        /* webhook-id bytes (it becomes the event id) */
#define SW_MAX_SIGNATURES 16 /* entries of webhook-signature looked at */

/* The key bytes of secret s when it carries prefix ("whsec_", "whpk_"):
 * malloc'd, length in *n. NULL when it does not or is not base64. */
static unsigned char *key_of(const struct hb_secret *s, const char *prefix, size_t *n)
{
    size_t pl = strlen(prefix);
    if (s->len <= pl || memcmp(s->value, prefix, pl) != 0)
        return NULL;
    return hb_base64_decode(s->value + pl, s->len - pl, n);
}

/* True when the base64 signature sig[0, n) equals mac[maclen] (constant
 * time in the MAC). */
static bool b64_equals(const char *sig, size_t n, const unsigned char *mac, size_t maclen)
{
    size_t got_len = 0;
    unsigned char *got = hb_base64_decode(sig, n, &got_len);
    bool ok = got && hb_ct_equal(got, got_len, mac, maclen);
    free(got);
    return ok;
}

/* Checks every signature entry against every key. true when one verifies. */
static bool any_signature(const struct gw_receiver *r, const char *sigs, const unsigned char *msg,
                          size_t msglen)
{
    bool ok = false;
    for (size_t i = 0; i < r->nsecrets; i++) {
        size_t klen = 0;
        unsigned char mac[HB_MAX_MD];
        unsigned char *hkey = key_of(&r->secrets[i], "whsec_", &klen);
        unsigned char *pub = hkey ? NULL : key_of(&r->secrets[i], "whpk_", &klen);
        int maclen = hkey ? hb_hmac("sha256", hkey, klen, msg, msglen, mac) : -1;
        const char *p = sigs;
        for (int k = 0; *p && k < SW_MAX_SIGNATURES; k++) {
            p += strspn(p, " ");
            size_t len = strcspn(p, " ");
            const char *comma = memchr(p, ',', len);
            if (comma) {
                size_t vlen = (size_t)(comma - p), slen = len - vlen - 1;
                if (maclen > 0 && vlen == 2 && memcmp(p, "v1", 2) == 0)
                    ok |= b64_equals(comma + 1, slen, mac, (size_t)maclen);
                if (pub && klen == 32 && vlen == 3 && memcmp(p, "v1a", 3) == 0) {
                    size_t sl = 0;
                    unsigned char *sig = hb_base64_decode(comma + 1, slen, &sl);
                    ok |= sig && sl == 64 && hb_ed25519_verify(pub, msg, msglen, sig);
                    free(sig);
                }
            }
            p += len;
        }
        free(hkey);
        free(pub);
    }
    return ok;
}

bool gw_sw_replay_key(const struct gw_receiver *r, const struct gw_request *req, const char **id,
                      const char **ts, long long *expires)
{
    long t, tolerance;
    if (req->key_route || r->insecure_no_auth || !r->type->sw_tolerance ||
        (tolerance = r->type->sw_tolerance(r, req)) <= 0)
        return false;
    *id = req->header(req, "webhook-id");
    *ts = req->header(req, "webhook-timestamp");
    if (!*id || !*ts || hb_parse_long(*ts, 0, 32503680000L, &t) < 0)
        return false;
    *expires = (long long)t + tolerance;
    return true;
}

int gw_auth_standard_webhooks(const struct gw_receiver *r, const struct gw_request *req,
                              long tolerance_s, const char **reason)
{
    const char *id = req->header(req, "webhook-id");
    const char *ts = req->header(req, "webhook-timestamp");
    const char *sigs = req->header(req, "webhook-signature");
    unsigned char *msg = NULL;
    long t;
    int rc = -1;
    if (!id || !ts || !sigs || !*id || !*sigs) {
        *reason = "webhook-id, webhook-timestamp or webhook-signature missing";
        goto fail;
    }
    if (strlen(id) > SW_MAX_ID || strchr(id, '.')) {
        *reason = "webhook-id too long or has a '.'";
        goto fail;
    }
    if (hb_parse_long(ts, 0, 32503680000L, &t) < 0) {
        *reason = "webhook-timestamp is not Unix seconds";
        goto fail;
    }
    long now = (long)time(NULL);
    if (t < now - tolerance_s || t > now + tolerance_s) {
        *reason = "webhook-timestamp outside the tolerance (stale or future)";
        goto fail;
    }
    size_t idl = strlen(id), tsl = strlen(ts), n = idl + 1 + tsl + 1 + req->body_len;
    if (!(msg = malloc(n))) {
        *reason = "out of memory";
        goto fail;
    }
    memcpy(msg, id, idl);
    msg[idl] = '.';
    memcpy(msg + idl + 1, ts, tsl);
    msg[idl + 1 + tsl] = '.';
    if (req->body_len)
        memcpy(msg + idl + tsl + 2, req->body, req->body_len);
    if (!any_signature(r, sigs, msg, n)) {
        *reason = "webhook-signature does not match";
        goto fail;
    }
    rc = 0;
fail:
    free(msg);
    return rc;
}
