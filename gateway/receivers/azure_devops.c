/* azure_devops.c: Azure DevOps (Services and Server) service hooks: git.push,
 * one event per entry of resource.refUpdates[]. Service hooks cannot sign:
 * they authenticate with Basic credentials (the password is the secret) or a
 * custom header, so the shared token check applies. The delivery id is the
 * body's "id" (the notification's event id). */
#include <stdio.h>
#include <string.h>

#include "hookbus/util.h"
#include "receivers/receiver.h"

/* One entry of resource.refUpdates[]: {name, oldObjectId, newObjectId}. */
static void on_ref_update(struct gw_ctx *ctx, const cJSON *root, const cJSON *upd)
{
    const cJSON *repo = gw_json_get(root, "resource.repository");
    const char *to = gw_json_str(upd, "newObjectId");
    const char *from = gw_json_str(upd, "oldObjectId");
    struct gw_change ch = {.deleted = gw_is_zero_sha(to), .provider_event = "git.push",
                           .ref = gw_json_str(upd, "name")};
    ch.repo_url = gw_json_str(repo, "remoteUrl");
    ch.urls[0] = gw_json_str(repo, "sshUrl");
    ch.urls[1] = gw_json_str(repo, "webUrl");
    ch.commit = to;
    ch.before = gw_is_zero_sha(from) ? NULL : from;
    ch.actor = gw_json_str(root, "resource.pushedBy.uniqueName");
    if (!ch.actor)
        ch.actor = gw_json_str(root, "resource.pushedBy.displayName");
    gw_emit_ref(ctx, &ch);
}

static void azure_devops_normalize(struct gw_ctx *ctx)
{
    const cJSON *root = gw_body_json(ctx);
    if (!root)
        return;
    gw_set_delivery_id(ctx, gw_json_str(root, "id"));
    const char *event = gw_json_str(root, "eventType");
    const cJSON *updates = gw_json_get(root, "resource.refUpdates");
    if (!event) {
        gw_bad_request(ctx, "service hook payload has no 'eventType'");
    } else if (strcmp(event, "git.push") != 0) {
        gw_ignore(ctx, "Azure DevOps event '%.64s' is not acted on", event);
    } else if (!cJSON_IsArray(updates)) {
        gw_bad_request(ctx, "git.push payload has no resource.refUpdates array");
    } else {
        const cJSON *u;
        cJSON_ArrayForEach(u, updates)
        {
            on_ref_update(ctx, root, u);
            if (ctx->status && ctx->status != 200)
                break;
        }
    }
}

const struct gw_receiver_type gw_receiver_azure_devops = {
    .type = "azure-devops",
    .provider = "azure-devops",
    .normalize = azure_devops_normalize,
};
