/* gar.c: Google Artifact Registry (and Container Registry) notifications,
 * delivered by a Pub/Sub push subscription on the "gcr" topic. The body is
 * the push envelope {"message": {"data": base64, "messageId", ...},
 * "subscription"}; data decodes to {"action", "digest", "tag"} where digest
 * and tag are full image references. action INSERT becomes
 * dev.hookbus.image.push (tag and/or digest: a digest-only push has no tag);
 * DELETE and anything else is answered 200 and ignored. messageId is the
 * delivery id, so Pub/Sub's redeliveries keep their event ids.
 *
 * Authentication: with oidc_jwks_file set, the push subscription's OIDC
 * token (Authorization: Bearer, a Google-signed RS256 JWT) is verified
 * against that JWKS (Google's keys, https://www.googleapis.com/oauth2/v3/certs,
 * which the operator keeps current), with iss accounts.google.com, aud
 * oidc_audience and an unexpired exp, and email oidc_email when set.
 * Without it, the key route (or the shared token check). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hookbus/format.h"
#include "hookbus/jwt.h"
#include "hookbus/repo.h"
#include "hookbus/util.h"
#include "receivers/receiver.h"

#define JWKS_MAX_BYTES (256 * 1024)

struct gar {
    struct hb_jwks *jwks;
    char *audience, *email;
};

static void gar_destroy(struct gw_receiver *r)
{
    struct gar *g = r->priv;
    if (g) {
        hb_jwks_free(g->jwks);
        free(g->audience);
        free(g->email);
        free(g);
    }
    r->priv = NULL;
}

static const char *const keys[] = {"oidc_jwks_file", "oidc_audience", "oidc_email", NULL};

static int gar_configure(struct gw_receiver *r, const struct hb_config *cfg,
                         const struct hb_node *node, char *err, size_t errlen)
{
    const struct hb_node *v[3];
    char e[256];
    struct gar *g = calloc(1, sizeof(*g));
    if (!g)
        return hb_config_error(cfg, node, err, errlen, "out of memory");
    r->priv = g;
    for (size_t i = 0; i < 3; i++) {
        v[i] = hb_node_get(node, keys[i]);
        if (v[i] && (v[i]->type != HB_NODE_SCALAR || !*v[i]->value))
            return hb_config_error(cfg, v[i], err, errlen, "receivers[%s].%s: must be a string",
                                   r->name, keys[i]);
    }
    if (!v[0]) {
        if (v[1] || v[2])
            return hb_config_error(cfg, v[1] ? v[1] : v[2], err, errlen,
                                   "receivers[%s]: oidc_* options need oidc_jwks_file", r->name);
        return 0;
    }
    if (!v[1])
        return hb_config_error(cfg, v[0], err, errlen,
                               "receivers[%s].oidc_audience: required with oidc_jwks_file "
                               "(the push subscription's audience)",
                               r->name);
    size_t len;
    char *text = hb_read_file(v[0]->value, JWKS_MAX_BYTES, &len, e, sizeof(e));
    if (!text)
        return hb_config_error(cfg, v[0], err, errlen, "receivers[%s].oidc_jwks_file: %s", r->name,
                               e);
    g->jwks = hb_jwks_parse(text, len, e, sizeof(e));
    free(text);
    if (!g->jwks)
        return hb_config_error(cfg, v[0], err, errlen, "receivers[%s].oidc_jwks_file: %s", r->name,
                               e);
    g->audience = strdup(v[1]->value);
    g->email = v[2] ? strdup(v[2]->value) : NULL;
    if (!g->audience || (v[2] && !g->email))
        return hb_config_error(cfg, node, err, errlen, "out of memory");
    r->own_auth = true;
    return 0;
}

static int gar_verify(const struct gw_receiver *r, const struct gw_request *req,
                      const char **reason)
{
    static const char *const issuers[] = {"https://accounts.google.com", "accounts.google.com",
                                          NULL};
    const struct gar *g = r->priv;
    if (!g || !g->jwks)
        return gw_auth_token(r, req, reason);
    const char *auth = req->header(req, "Authorization");
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0) {
        *reason = "no OIDC bearer token";
        return -1;
    }
    char err[128];
    void *claims = NULL;
    struct hb_jwt_expect want = {
        .issuers = issuers, .audience = g->audience, .now = time(NULL), .leeway_s = 60};
    if (hb_jwt_verify(g->jwks, auth + 7, &want, &claims, err, sizeof(err)) < 0) {
        *reason = "OIDC token rejected";
        return -1;
    }
    const char *email = gw_json_str(claims, "email");
    bool ok = !g->email || (email && strcmp(email, g->email) == 0 &&
                            cJSON_IsTrue(gw_json_get(claims, "email_verified")));
    cJSON_Delete(claims);
    if (!ok) {
        *reason = "OIDC token of another service account";
        return -1;
    }
    return 0;
}

/* The OIDC token (or the shared token) is all in the headers. */
static int gar_verify_headers(const struct gw_receiver *r, const struct gw_request *req,
                              const char **reason)
{
    return gar_verify(r, req, reason) == 0 ? GW_AUTH_OK : GW_AUTH_REFUSED;
}

/* The decoded notification {action, digest, tag}. */
static void gar_notification(struct gw_ctx *ctx, const cJSON *n)
{
    struct hb_image_ref by_tag, by_digest;
    const char *action = gw_json_str(n, "action");
    const char *tag = gw_json_str(n, "tag");
    const char *digest = gw_json_str(n, "digest");
    bool has_tag = tag && hb_repo_image_parse(tag, &by_tag) == 0 && by_tag.tag[0];
    bool has_digest = digest && hb_repo_image_parse(digest, &by_digest) == 0 && by_digest.digest[0];
    if (!action) {
        gw_bad_request(ctx, "Artifact Registry notification has no action");
        return;
    }
    if (strcmp(action, "INSERT") != 0) {
        gw_ignore(ctx, "Artifact Registry action '%.32s' is not acted on", action);
        return;
    }
    if (!has_tag && !has_digest) {
        gw_bad_request(ctx, "Artifact Registry INSERT names no valid tag or digest");
        return;
    }
    struct gw_change ch = gw_image_change(action, has_tag ? by_tag.id : by_digest.id,
                                          has_tag ? by_tag.tag : NULL,
                                          has_digest ? by_digest.digest : NULL);
    gw_emit(ctx, &ch);
}

static void gar_normalize(struct gw_ctx *ctx)
{
    size_t len;
    const cJSON *root = gw_body_json(ctx);
    if (!root)
        return;
    const char *id = gw_json_str(root, "message.messageId");
    const char *data = gw_json_str(root, "message.data");
    if (!id)
        id = gw_json_str(root, "message.message_id");
    gw_set_delivery_id(ctx, id);
    unsigned char *raw = data ? hb_base64_decode(data, strlen(data), &len) : NULL;
    cJSON *n = raw ? hb_json_parse((const char *)raw, len) : NULL;
    if (!data)
        gw_bad_request(ctx, "not a Pub/Sub push envelope: no message.data");
    else if (!cJSON_IsObject(n))
        gw_bad_request(ctx, "message.data is not base64 of a JSON object");
    else
        gar_notification(ctx, n);
    cJSON_Delete(n);
    free(raw);
}

const struct gw_receiver_type gw_receiver_gar = {
    .type = "gar",
    .provider = "gar",
    .options = keys,
    .configure = gar_configure,
    .verify = gar_verify,
    .verify_headers = gar_verify_headers,
    .normalize = gar_normalize,
    .destroy = gar_destroy,
};
