/* dockerhub.c: Docker Hub repository webhooks (an image tag pushed).
 *
 * Docker Hub can neither sign its requests nor add headers, so it is
 * authenticated by the key route (/webhooks/{name}/{key}); the shared token
 * check remains as a fallback. The payload carries no delivery id and no
 * digest: the event id is the body hash. */
#include <string.h>

#include "receivers/receiver.h"

/* One push_data.tag of repository.repo_name ("acme/app", or "nginx" for an
 * official image, which canonicalizes to docker.io/library/nginx). */
static void dockerhub_normalize(struct gw_ctx *ctx)
{
    const cJSON *root = gw_body_json(ctx);
    if (!root)
        return;
    const char *repo = gw_json_str(root, "repository.repo_name");
    const char *tag = gw_json_str(root, "push_data.tag");
    if (!repo || !tag) {
        gw_bad_request(ctx, "Docker Hub payload has no 'repository.repo_name' or 'push_data.tag'");
        return;
    }
    struct gw_change ch = {
        .deleted = -1,
        .type = "dev.hookbus.image.push",
        .provider_event = "push",
        .repo_url = repo,
        .tag = tag,
        .actor = gw_json_str(root, "push_data.pusher"),
    };
    ch.urls[0] = gw_json_str(root, "repository.repo_url");
    gw_emit(ctx, &ch);
}

const struct gw_receiver_type gw_receiver_dockerhub = {
    .type = "dockerhub",
    .provider = "dockerhub",
    .normalize = dockerhub_normalize,
};
