/* distribution.c: notifications of the CNCF Distribution registry (Debian's
 * docker-registry, the GitLab container registry as type gitlab-registry,
 * and other registries built on it): an {"events": [...]} envelope with the
 * content type application/vnd.docker.distribution.events.v1+json.
 *
 * Only tagged manifest pushes become events; blob pushes, pulls, deletes and
 * untagged (digest-only) manifest pushes are answered 200 and ignored. The
 * token comes in the headers of the registry's endpoint config, so the shared
 * token check authenticates it. */
#include <string.h>

#include "hookbus/util.h"
#include "receivers/receiver.h"

/* Emits one event if ev is a push of a tagged manifest. The repository is
 * request.host + "/" + target.repository. 0 when emitted or skipped, -1 on a
 * failure that already set the status. */
static int distribution_event(struct gw_ctx *ctx, const cJSON *ev)
{
    char image[512];
    const char *action = gw_json_str(ev, "action");
    const char *tag = gw_json_str(ev, "target.tag");
    if (!action || strcmp(action, "push") != 0 || !tag ||
        !gw_is_manifest_media_type(gw_json_str(ev, "target.mediaType")))
        return 0;
    const char *host = gw_json_str(ev, "request.host");
    const char *repository = gw_json_str(ev, "target.repository");
    if (!host || !repository || hb_snprintf(image, sizeof(image), "%s/%s", host, repository) < 0) {
        gw_bad_request(ctx, "manifest push names no valid request.host and target.repository");
        return -1;
    }
    struct gw_change ch = gw_image_change("push", image, tag, gw_json_str(ev, "target.digest"));
    ch.media_type = gw_json_str(ev, "target.mediaType");
    ch.actor = gw_json_str(ev, "actor.name");
    return gw_emit(ctx, &ch);
}

/* Walks the envelope. A single-event envelope's event id is the delivery id;
 * with several events the ids are the body hash with /N, as for any fan-out. */
static void distribution_normalize(struct gw_ctx *ctx)
{
    const cJSON *root = gw_body_json(ctx);
    if (!root)
        return;
    const cJSON *events = cJSON_GetObjectItemCaseSensitive(root, "events");
    if (!cJSON_IsArray(events)) {
        gw_bad_request(ctx, "notification has no 'events' list");
        return;
    }
    if (cJSON_GetArraySize(events) == 1)
        gw_set_delivery_id(ctx, gw_json_str(cJSON_GetArrayItem(events, 0), "id"));
    const cJSON *ev;
    cJSON_ArrayForEach (ev, events) {
        if (distribution_event(ctx, ev) < 0)
            return;
    }
    if (ctx->nevents == 0)
        gw_ignore(ctx, "no tagged manifest push in the notification");
}

const struct gw_receiver_type gw_receiver_distribution = {
    .type = "distribution",
    .provider = "distribution",
    .normalize = distribution_normalize,
};

/* The GitLab container registry is Distribution with GitLab's endpoint config. */
const struct gw_receiver_type gw_receiver_gitlab_registry = {
    .type = "gitlab-registry",
    .provider = "gitlab-registry",
    .normalize = distribution_normalize,
};
