/* azure_devops.c: Azure DevOps (Services and Server) service hooks: git.push,
 * one event per entry of resource.refUpdates[], and pull requests created,
 * updated or merged as git.pull_request. Service hooks cannot sign:
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
    struct gw_change ch = {.deleted = gw_is_zero_sha(to),
                           .provider_event = "git.push",
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

/* git.pullrequest.created / .updated / .merged: resource.status completed
 * is a merge, abandoned a close; an update without new commits (votes,
 * reviewers) only carries the same lastMergeSourceCommit, still reported
 * as updated, since the payload does not tell them apart. */
static void on_pull_request(struct gw_ctx *ctx, const cJSON *root, const char *event)
{
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(root, "resource");
    const char *status = gw_json_str(res, "status");
    const char *what = status && strcmp(status, "completed") == 0      ? "merged"
                       : status && strcmp(status, "abandoned") == 0    ? "closed"
                       : strcmp(event, "git.pullrequest.created") == 0 ? "opened"
                       : strcmp(event, "git.pullrequest.updated") == 0 ? "updated"
                                                                       : NULL;
    if (!what) {
        gw_ignore(ctx, "Azure DevOps event '%.64s' is not acted on", event);
        return;
    }
    const char *src = gw_json_str(res, "sourceRefName"), *dst = gw_json_str(res, "targetRefName");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(res, "pullRequestId");
    const cJSON *repo = cJSON_GetObjectItemCaseSensitive(res, "repository");
    char url[1024];
    const char *web = gw_json_str(repo, "webUrl");
    struct gw_pull_request p = {
        .action = what,
        .number = cJSON_IsNumber(id) ? (long)id->valuedouble : 0,
        .url = web && cJSON_IsNumber(id) &&
                       hb_snprintf(url, sizeof(url), "%s/pullrequest/%ld", web,
                                   (long)id->valuedouble) == 0
                   ? url
                   : NULL,
        .source_branch = src && hb_str_has_prefix(src, "refs/heads/") ? src + 11 : src,
        .target_branch = dst && hb_str_has_prefix(dst, "refs/heads/") ? dst + 11 : dst,
        .merge_commit = strcmp(what, "merged") == 0 ? gw_json_str(res, "lastMergeCommit.commitId")
                                                    : NULL,
        .title = gw_json_str(res, "title"),
    };
    struct gw_change ch = {.provider_event = event};
    ch.repo_url = gw_json_str(repo, "remoteUrl");
    ch.urls[0] = gw_json_str(repo, "sshUrl");
    ch.urls[1] = web;
    ch.commit = gw_json_str(res, "lastMergeSourceCommit.commitId");
    ch.actor = gw_json_str(res, "createdBy.uniqueName");
    gw_emit_pull_request(ctx, &ch, &p);
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
    } else if (hb_str_has_prefix(event, "git.pullrequest.")) {
        on_pull_request(ctx, root, event);
    } else if (strcmp(event, "git.push") != 0) {
        gw_ignore(ctx, "Azure DevOps event '%.64s' is not acted on", event);
    } else if (!cJSON_IsArray(updates)) {
        gw_bad_request(ctx, "git.push payload has no resource.refUpdates array");
    } else {
        const cJSON *u;
        cJSON_ArrayForEach (u, updates) {
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
