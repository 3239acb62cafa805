/* gitlab.c: GitLab webhooks (gitlab.com and self-managed): Push Hook, Tag
 * Push Hook, Merge Request Hook, and the same bodies delivered as System
 * Hook. Authenticated by the signing token (Standard Webhooks:
 * webhook-signature, checked whenever the request carries one, with a
 * whsec_ secret), else X-Gitlab-Token (the secret itself, older instances)
 * or the shared token rules. Every other event (pipelines, notes, ...) is
 * answered 200 and ignored, since GitLab disables a webhook after repeated
 * failures of any kind. */
#include <stdio.h>
#include <string.h>

#include "hookbus/util.h"
#include "receivers/receiver.h"

/* A signed delivery must verify (an X-Gitlab-Token next to a bad signature
 * does not rescue it); else X-Gitlab-Token equal to any secret (constant
 * time, every secret compared), else the shared token check. */
static int gitlab_verify(const struct gw_receiver *r, const struct gw_request *req,
                         const char **reason)
{
    if (req->header(req, "webhook-signature"))
        return gw_auth_standard_webhooks(r, req, GW_SW_TOLERANCE_S, reason);
    const char *tok = req->header(req, "X-Gitlab-Token");
    if (tok) {
        if (gw_secret_equals(r, tok, strlen(tok)))
            return 0;
        *reason = "X-Gitlab-Token does not match";
        return -1;
    }
    return gw_auth_token(r, req, reason);
}

static long gitlab_sw_tolerance(const struct gw_receiver *r, const struct gw_request *req)
{
    (void)r;
    return req->header(req, "webhook-signature") ? GW_SW_TOLERANCE_S : 0;
}

/* Before the body: a signed delivery waits for it (the signature covers
 * it); the tokens are decided from the headers. */
static int gitlab_verify_headers(const struct gw_receiver *r, const struct gw_request *req,
                                 const char **reason)
{
    if (req->header(req, "webhook-signature"))
        return GW_AUTH_BODY;
    return gitlab_verify(r, req, reason) == 0 ? GW_AUTH_OK : GW_AUTH_REFUSED;
}

/* Fills the repository URL forms: project.* (current payloads), then
 * repository.* (older payloads and some system hooks). */
static void repo_urls(const cJSON *root, struct gw_change *ch)
{
    ch->repo_url = gw_json_str(root, "project.git_http_url");
    ch->urls[0] = gw_json_str(root, "project.git_ssh_url");
    ch->urls[1] = gw_json_str(root, "project.web_url");
    ch->urls[2] = gw_json_str(root, "repository.git_http_url");
    ch->urls[3] = gw_json_str(root, "repository.git_ssh_url");
    ch->urls[4] = gw_json_str(root, "repository.homepage");
    ch->urls[5] = gw_json_str(root, "repository.url");
}

/* A push or tag_push body: one event for the ref it moved. */
static void on_push(struct gw_ctx *ctx, const cJSON *root, const char *kind)
{
    const char *ref = gw_json_str(root, "ref");
    const char *after = gw_json_str(root, "after");
    const char *commit = gw_json_str(root, "checkout_sha");
    bool deleted = gw_is_zero_sha(after);
    if (!commit || gw_is_zero_sha(commit))
        commit = after;
    struct gw_change ch = {.deleted = deleted, .provider_event = kind, .ref = ref};
    repo_urls(root, &ch);
    ch.before = gw_json_str(root, "before");
    ch.commit = commit;
    ch.actor = gw_json_str(root, "user_username");
    if (!ch.actor)
        ch.actor = gw_json_str(root, "user_name");
    /* GitLab lists at most 20 commits; total_commits_count tells the rest. */
    const cJSON *commits = cJSON_GetObjectItemCaseSensitive(root, "commits");
    const cJSON *total = cJSON_GetObjectItemCaseSensitive(root, "total_commits_count");
    gw_emit_push(ctx, &ch, commits,
                 cJSON_IsNumber(total) && total->valuedouble > cJSON_GetArraySize(commits));
}

/* Merge Request Hook: open/reopen, update with new commits (oldrev set),
 * merge, close; approvals and edits are answered 200. */
static void on_merge_request(struct gw_ctx *ctx, const cJSON *root)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, "object_attributes");
    const char *action = gw_json_str(a, "action");
    const char *what = !action                                                        ? NULL
                       : strcmp(action, "open") == 0 || strcmp(action, "reopen") == 0 ? "opened"
                       : strcmp(action, "update") == 0 && gw_json_str(a, "oldrev")    ? "updated"
                       : strcmp(action, "merge") == 0                                 ? "merged"
                       : strcmp(action, "close") == 0                                 ? "closed"
                                                                                      : NULL;
    if (!what) {
        gw_ignore(ctx, "merge request action '%.32s' is not acted on", action ? action : "");
        return;
    }
    const cJSON *iid = cJSON_GetObjectItemCaseSensitive(a, "iid");
    struct gw_pull_request p = {
        .action = what,
        .number = cJSON_IsNumber(iid) ? (long)iid->valuedouble : 0,
        .url = gw_json_str(a, "url"),
        .source_branch = gw_json_str(a, "source_branch"),
        .target_branch = gw_json_str(a, "target_branch"),
        .merge_commit = strcmp(what, "merged") == 0 ? gw_json_str(a, "merge_commit_sha") : NULL,
        .title = gw_json_str(a, "title"),
    };
    struct gw_change ch = {.provider_event = "merge_request"};
    repo_urls(root, &ch);
    ch.commit = gw_json_str(a, "last_commit.id");
    ch.actor = gw_json_str(root, "user.username");
    gw_emit_pull_request(ctx, &ch, &p);
}

static void gitlab_normalize(struct gw_ctx *ctx)
{
    const char *event = ctx->req->header(ctx->req, "X-Gitlab-Event");
    gw_take_delivery_id(ctx, "X-Gitlab-Event-UUID");
    /* Signed deliveries: webhook-id (GitLab's Idempotency-Key) is kept by a
     * retry, so it is the event id. */
    gw_take_delivery_id(ctx, "webhook-id");
    if (!event) {
        gw_bad_request(ctx, "missing X-Gitlab-Event header");
        return;
    }
    bool push = strcmp(event, "Push Hook") == 0, tag = strcmp(event, "Tag Push Hook") == 0;
    bool system = strcmp(event, "System Hook") == 0;
    bool mr = strcmp(event, "Merge Request Hook") == 0;
    if (!push && !tag && !system && !mr) {
        gw_ignore(ctx, "GitLab event '%.64s' is not acted on", event);
        return;
    }
    const cJSON *root = gw_body_json(ctx);
    if (!root)
        return;
    const char *kind = gw_json_str(root, "object_kind");
    if (!kind)
        kind = gw_json_str(root, "event_name");
    if (kind && (strcmp(kind, "push") == 0 || strcmp(kind, "tag_push") == 0))
        on_push(ctx, root, kind);
    else if (kind && strcmp(kind, "merge_request") == 0)
        on_merge_request(ctx, root);
    else if (system)
        gw_ignore(ctx, "GitLab system hook '%.64s' is not acted on", kind ? kind : "");
    else
        gw_bad_request(ctx, "%s payload has no object_kind push or tag_push", event);
}

const struct gw_receiver_type gw_receiver_gitlab = {
    .type = "gitlab",
    .provider = "gitlab",
    .verify = gitlab_verify,
    .verify_headers = gitlab_verify_headers,
    .sw_tolerance = gitlab_sw_tolerance,
    .normalize = gitlab_normalize,
};
