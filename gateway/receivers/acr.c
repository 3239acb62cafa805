/* acr.c: Azure Container Registry webhooks: "push" (an image or OCI artifact
 * manifest pushed) becomes an event; "ping" and every other action (delete,
 * quarantine, the retired Helm repository's chart_push / chart_delete) are
 * answered 200 and ignored.
 *
 * ACR adds only the custom headers configured on the webhook, so the shared
 * token check authenticates it (Authorization, or the receiver's
 * token_header); the key route works too. The payload's id is the delivery id. */
#include <string.h>

#include "hookbus/util.h"
#include "receivers/receiver.h"

/* A push of request.host/target.repository:target.tag. Untagged (digest-only)
 * pushes are ignored. */
static void acr_push(struct gw_ctx *ctx, const cJSON *root)
{
    char image[512];
    const char *tag = gw_json_str(root, "target.tag");
    const char *host = gw_json_str(root, "request.host");
    const char *repository = gw_json_str(root, "target.repository");
    const char *media_type = gw_json_str(root, "target.mediaType");
    if (!tag) {
        gw_ignore(ctx, "untagged ACR push is not acted on");
        return;
    }
    if (media_type && !gw_is_manifest_media_type(media_type)) {
        gw_ignore(ctx, "ACR push of '%.64s' is not a manifest", media_type);
        return;
    }
    if (!host || !repository || hb_snprintf(image, sizeof(image), "%s/%s", host, repository) < 0) {
        gw_bad_request(ctx, "ACR push names no valid request.host and target.repository");
        return;
    }
    struct gw_change ch = gw_image_change("push", image, tag, gw_json_str(root, "target.digest"));
    ch.media_type = media_type;
    gw_emit(ctx, &ch);
}

static void acr_normalize(struct gw_ctx *ctx)
{
    const cJSON *root = gw_body_json(ctx);
    if (!root)
        return;
    const char *action = gw_json_str(root, "action");
    gw_set_delivery_id(ctx, gw_json_str(root, "id"));
    if (!action)
        gw_bad_request(ctx, "ACR payload has no 'action'");
    else if (strcmp(action, "ping") == 0)
        gw_ignore(ctx, "pong");
    else if (strcmp(action, "push") == 0)
        acr_push(ctx, root);
    else
        gw_ignore(ctx, "ACR action '%.64s' is not acted on", action);
}

const struct gw_receiver_type gw_receiver_acr = {
    .type = "acr",
    .provider = "acr",
    .normalize = acr_normalize,
};
