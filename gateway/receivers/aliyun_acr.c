/* aliyun_acr.c: Alibaba Cloud Container Registry (ACR) triggers: a pushed
 * tag ({"push_data": {tag, digest}, "repository": {namespace, name, region}})
 * becomes dev.hookbus.image.push.
 *
 * ACR triggers can neither sign nor add a header, so they are authenticated
 * by the key route (the shared token check remains as a fallback). The
 * payload names the region but not the instance: the host is the receiver's
 * registry_url (Enterprise Edition: <instance>-registry.<region>.cr.aliyuncs.com),
 * else the Personal Edition's registry.<region>.aliyuncs.com. */
#include "hookbus/util.h"
#include "receivers/receiver.h"

enum { OPT_REGISTRY_URL };
static const char *const options[] = {"registry_url", NULL};

static int aliyun_configure(struct gw_receiver *r, const struct hb_config *cfg,
                            const struct hb_node *node, char *err, size_t errlen)
{
    return gw_options_configure(r, cfg, node, options, NULL, err, errlen);
}

static void aliyun_normalize(struct gw_ctx *ctx)
{
    char host[256], image[768];
    const cJSON *root = gw_body_json(ctx);
    if (!root)
        return;
    const char *tag = gw_json_str(root, "push_data.tag");
    const char *ns = gw_json_str(root, "repository.namespace");
    const char *name = gw_json_str(root, "repository.name");
    const char *region = gw_json_str(root, "repository.region");
    const char *registry = gw_option(ctx->rcv, OPT_REGISTRY_URL);
    int rc = 0;
    if (!cJSON_IsObject(gw_json_get(root, "push_data")) || !ns || !name) {
        gw_bad_request(ctx, "Aliyun ACR payload has no push_data or repository namespace/name");
        return;
    }
    if (!tag) {
        gw_ignore(ctx, "Aliyun ACR notification without a tag is not acted on");
        return;
    }
    if (registry)
        rc = gw_url_without_scheme(registry, host, sizeof(host));
    else if (region)
        rc = hb_snprintf(host, sizeof(host), "registry.%s.aliyuncs.com", region);
    else
        rc = -1;
    if (rc < 0 || hb_snprintf(image, sizeof(image), "%s/%s/%s", host, ns, name) < 0) {
        gw_bad_request(ctx, "no registry host: the payload has no repository.region and the "
                            "receiver sets no registry_url");
        return;
    }
    const char *digest = gw_json_str(root, "push_data.digest");
    struct gw_change ch = gw_image_change("push", image, tag, digest);
    ch.actor = gw_json_str(root, "push_data.pusher");
    gw_emit(ctx, &ch);
}

const struct gw_receiver_type gw_receiver_aliyun_acr = {
    .type = "aliyun-acr",
    .provider = "aliyun-acr",
    .options = options,
    .configure = aliyun_configure,
    .normalize = aliyun_normalize,
    .destroy = gw_options_destroy,
};
