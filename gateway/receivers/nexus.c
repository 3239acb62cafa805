/* nexus.c: Sonatype Nexus Repository webhooks (Capabilities > Webhook:
 * Repository): a Docker component created or updated, or a Docker manifest
 * asset created or updated, becomes dev.hookbus.image.push. Other formats,
 * blobs, deletions and the global webhooks (audit, repository) are answered
 * 200 and ignored.
 *
 * Nexus signs with the webhook's secret key: X-Nexus-Webhook-Signature is
 * the lowercase hex HMAC-SHA1 of the body. X-Nexus-Webhook-Delivery is the
 * delivery id. The payload names the repository but not the host Docker
 * clients use (a connector port, or a path-based route), so base_url is
 * required: the registry prefix images are pulled from. */
#include <string.h>

#include "hookbus/util.h"
#include "receivers/receiver.h"

enum { OPT_BASE_URL };
static const char *const options[] = {"base_url", NULL};

static int nexus_configure(struct gw_receiver *r, const struct hb_config *cfg,
                           const struct hb_node *node, char *err, size_t errlen)
{
    return gw_options_configure(r, cfg, node, options, options, err, errlen);
}

static int nexus_verify(const struct gw_receiver *r, const struct gw_request *req,
                        const char **reason)
{
    return gw_auth_hmac_hex(r, req, "X-Nexus-Webhook-Signature", NULL, "sha1", reason);
}

/* Emits name at tag or digest ref (a manifest reference: tag or algo:hex). */
static void nexus_emit(struct gw_ctx *ctx, const char *name, const char *ref, const char *event)
{
    char host[256], image[768];
    if (gw_url_without_scheme(gw_option(ctx->rcv, OPT_BASE_URL), host, sizeof(host)) < 0 ||
        hb_snprintf(image, sizeof(image), "%s/%s", host, name) < 0) {
        gw_bad_request(ctx, "image name too long");
        return;
    }
    bool digest = strchr(ref, ':') != NULL;
    struct gw_change ch = gw_image_change(event, image, digest ? NULL : ref, digest ? ref : NULL);
    gw_emit(ctx, &ch);
}

/* An asset name of a Docker manifest: v2/<image>/manifests/<reference>. */
static void nexus_asset(struct gw_ctx *ctx, const char *name)
{
    char image[512];
    const char *m = strstr(name ? name : "", "/manifests/");
    if (!name || !hb_str_has_prefix(name, "v2/") || !m || !m[11] || strchr(m + 11, '/')) {
        gw_ignore(ctx, "Nexus asset '%.100s' is not a Docker manifest", name ? name : "");
        return;
    }
    size_t n = (size_t)(m - (name + 3));
    if (!n || n >= sizeof(image)) {
        gw_bad_request(ctx, "Nexus asset name has no valid image");
        return;
    }
    memcpy(image, name + 3, n);
    image[n] = '\0';
    nexus_emit(ctx, image, m + 11, "asset");
}

static void nexus_normalize(struct gw_ctx *ctx)
{
    const char *hook = ctx->req->header(ctx->req, "X-Nexus-Webhook-Id");
    gw_take_delivery_id(ctx, "X-Nexus-Webhook-Delivery");
    const cJSON *root = gw_body_json(ctx);
    if (!root)
        return;
    bool component = hook && strcmp(hook, "rm:repository:component") == 0;
    bool asset = hook && strcmp(hook, "rm:repository:asset") == 0;
    const char *action = gw_json_str(root, "action");
    const cJSON *obj = cJSON_GetObjectItemCaseSensitive(root, component ? "component" : "asset");
    const char *format = gw_json_str(obj, "format");
    if (!hook)
        gw_bad_request(ctx, "missing X-Nexus-Webhook-Id header");
    else if (!component && !asset)
        gw_ignore(ctx, "Nexus webhook '%.64s' is not acted on", hook);
    else if (!action || !cJSON_IsObject(obj))
        gw_bad_request(ctx, "Nexus payload has no action or %s", component ? "component" : "asset");
    else if (strcmp(action, "CREATED") != 0 && strcmp(action, "UPDATED") != 0)
        gw_ignore(ctx, "Nexus action '%.32s' is not acted on", action);
    else if (!format || strcmp(format, "docker") != 0)
        gw_ignore(ctx, "Nexus %.32s components are not acted on", format ? format : "");
    else if (asset)
        nexus_asset(ctx, gw_json_str(obj, "name"));
    else if (!gw_json_str(obj, "name") || !gw_json_str(obj, "version"))
        gw_bad_request(ctx, "Nexus docker component has no name or version");
    else
        nexus_emit(ctx, gw_json_str(obj, "name"), gw_json_str(obj, "version"), "component");
}

const struct gw_receiver_type gw_receiver_nexus = {
    .type = "nexus",
    .provider = "nexus",
    .options = options,
    .configure = nexus_configure,
    .verify = nexus_verify,
    .normalize = nexus_normalize,
    .destroy = gw_options_destroy,
};
