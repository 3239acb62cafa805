/* quay.c: Quay (quay.io or self-hosted Red Hat Quay) "repository push"
 * notifications: one event per entry of updated_tags.
 *
 * Quay cannot sign its notifications, so it is authenticated by the key route
 * (the shared token check remains as a fallback). The registry host comes
 * from docker_url, so self-hosted Quay instances keep their own host. */
#include "hookbus/util.h"
#include "receivers/receiver.h"

/* Emits one image event per updated tag of docker_url (or quay.io/<repository>
 * when docker_url is absent). No tags: answered 200 and ignored. */
static void quay_normalize(struct gw_ctx *ctx)
{
    char image[512];
    const cJSON *root = gw_body_json(ctx);
    if (!root)
        return;
    const char *docker_url = gw_json_str(root, "docker_url");
    const char *repository = gw_json_str(root, "repository");
    const cJSON *tags = cJSON_GetObjectItemCaseSensitive(root, "updated_tags");
    if (!docker_url &&
        (!repository || hb_snprintf(image, sizeof(image), "quay.io/%s", repository) < 0)) {
        gw_bad_request(ctx, "Quay payload has no 'docker_url' or 'repository'");
        return;
    }
    if (!cJSON_IsArray(tags)) {
        gw_bad_request(ctx, "Quay payload has no 'updated_tags' list");
        return;
    }
    const cJSON *t;
    cJSON_ArrayForEach (t, tags) {
        if (!cJSON_IsString(t) || !t->valuestring[0])
            continue;
        struct gw_change ch = {
            .deleted = -1,
            .type = "dev.hookbus.image.push",
            .provider_event = "repo_push",
            .repo_url = docker_url ? docker_url : image,
            .tag = t->valuestring,
        };
        ch.urls[0] = gw_json_str(root, "homepage");
        if (gw_emit(ctx, &ch) < 0)
            return;
    }
    if (ctx->nevents == 0)
        gw_ignore(ctx, "Quay push updated no tags");
}

const struct gw_receiver_type gw_receiver_quay = {
    .type = "quay",
    .provider = "quay",
    .normalize = quay_normalize,
};
