/* sourcehut.c: git.sr.ht webhooks. A GIT_POST_RECEIVE GraphQL webhook (the
 * query's result, {"data": {"webhook": {event, repository {name, owner
 * {canonicalName}}, pusher, updates [{ref {name}, old {id}, new {id}}]}}})
 * or a legacy repo:post-update webhook ({push, pusher, repository, refs
 * [{name, old, new}]}) becomes one git.push or git.tag per updated ref;
 * other events are answered 200.
 *
 * sourcehut signs every delivery with its Ed25519 key: X-Payload-Signature
 * is the base64 signature of the body followed by the X-Payload-Nonce value.
 * public_key (required) is sourcehut's published key, base64; secrets are
 * optional. The nonce makes signatures unique but carries no time: a
 * captured delivery replays with the same event id (consumers deduplicate).
 * base_url is the instance (default https://git.sr.ht). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hookbus/crypto.h"
#include "hookbus/util.h"
#include "receivers/receiver.h"

enum { OPT_PUBLIC_KEY, OPT_BASE_URL };
static const char *const options[] = {"public_key", "base_url", NULL};
static const char *const required[] = {"public_key", NULL};

#define MAX_NONCE 256

static int sourcehut_configure(struct gw_receiver *r, const struct hb_config *cfg,
                               const struct hb_node *node, char *err, size_t errlen)
{
    size_t n = 0;
    if (gw_options_configure(r, cfg, node, options, required, err, errlen) < 0)
        return -1;
    const char *k = gw_option(r, OPT_PUBLIC_KEY);
    unsigned char *key = hb_base64_decode(k, strlen(k), &n);
    free(key);
    if (!key || n != 32)
        return hb_config_error(cfg, hb_node_get(node, "public_key"), err, errlen,
                               "receivers[%s].public_key: the base64 of a 32-byte Ed25519 key",
                               r->name);
    r->own_auth = true;
    return 0;
}

static int sourcehut_verify(const struct gw_receiver *r, const struct gw_request *req,
                            const char **reason)
{
    const char *sig64 = req->header(req, "X-Payload-Signature");
    const char *nonce = req->header(req, "X-Payload-Nonce");
    const char *k = gw_option(r, OPT_PUBLIC_KEY);
    unsigned char *sig = NULL, *key = NULL, *msg = NULL;
    size_t sl = 0, kl = 0, nl;
    int rc = -1;
    *reason = "X-Payload-Signature does not verify";
    if (!sig64 || !nonce || (nl = strlen(nonce)) > MAX_NONCE) {
        *reason = "X-Payload-Signature or X-Payload-Nonce missing";
        goto fail;
    }
    sig = hb_base64_decode(sig64, strlen(sig64), &sl);
    key = hb_base64_decode(k, strlen(k), &kl);
    if (!sig || sl != 64 || !key || kl != 32 || !(msg = malloc(req->body_len + nl + 1)))
        goto fail;
    if (req->body_len)
        memcpy(msg, req->body, req->body_len);
    memcpy(msg + req->body_len, nonce, nl);
    if (hb_ed25519_verify(key, msg, req->body_len + nl, sig))
        rc = 0;
fail:
    free(sig);
    free(key);
    free(msg);
    return rc;
}

/* One updated ref: name, old and new object ids (the legacy format may give
 * an annotated tag's target commit separately). */
static int emit_update(struct gw_ctx *ctx, const char *url, const char *actor, const char *name,
                       const char *old, const char *nw, const char *event)
{
    struct gw_change ch = {.provider_event = event, .repo_url = url, .ref = name};
    ch.before = old;
    ch.commit = nw;
    ch.deleted = gw_is_zero_sha(nw);
    ch.actor = actor;
    return gw_emit_ref(ctx, &ch);
}

static void sourcehut_normalize(struct gw_ctx *ctx)
{
    char url[768], host[256];
    const cJSON *root = gw_body_json(ctx);
    if (!root)
        return;
    const char *base = gw_option(ctx->rcv, OPT_BASE_URL);
    if (gw_url_without_scheme(base ? base : "https://git.sr.ht", host, sizeof(host)) < 0) {
        gw_set_status(ctx, 500, "base_url is not usable");
        return;
    }
    const cJSON *wh = gw_json_get(root, "data.webhook");
    bool legacy = !wh;
    const cJSON *ev = legacy ? root : wh;
    const char *event = legacy ? "repo:post-update" : gw_json_str(wh, "event");
    const cJSON *updates = cJSON_GetObjectItemCaseSensitive(ev, legacy ? "refs" : "updates");
    if (!legacy) {
        gw_set_delivery_id(ctx, gw_json_str(wh, "uuid"));
        if (!event || strcmp(event, "GIT_POST_RECEIVE") != 0) {
            gw_ignore(ctx, "sourcehut event '%.64s' is not acted on", event ? event : "");
            return;
        }
    } else {
        gw_set_delivery_id(ctx, gw_json_str(root, "push"));
    }
    const char *owner = gw_json_str(ev, legacy ? "repository.owner.canonical_name"
                                               : "repository.owner.canonicalName");
    const char *name = gw_json_str(ev, "repository.name");
    const char *actor = gw_json_str(ev, legacy ? "pusher.canonical_name" : "pusher.canonicalName");
    if (!owner || !name || !cJSON_IsArray(updates)) {
        gw_bad_request(ctx, "sourcehut payload has no repository owner, name or ref updates");
        return;
    }
    if (hb_snprintf(url, sizeof(url), "https://%s/%s/%s", host, owner, name) < 0) {
        gw_bad_request(ctx, "repository name too long");
        return;
    }
    const cJSON *u;
    cJSON_ArrayForEach (u, updates) {
        const char *ref = gw_json_str(u, legacy ? "name" : "ref.name");
        if (emit_update(ctx, url, actor, ref, gw_json_str(u, "old.id"), gw_json_str(u, "new.id"),
                        event) < 0 ||
            (ctx->status && ctx->status != 200))
            return;
    }
    if (!ctx->nevents && !ctx->status)
        gw_ignore(ctx, "the push updated no branch or tag");
}

const struct gw_receiver_type gw_receiver_sourcehut = {
    .type = "sourcehut",
    .provider = "sourcehut",
    .options = options,
    .configure = sourcehut_configure,
    .verify = sourcehut_verify,
    .normalize = sourcehut_normalize,
    .destroy = gw_options_destroy,
};
