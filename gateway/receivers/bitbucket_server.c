/* bitbucket_server.c: Bitbucket Server / Data Center webhooks:
 * repo:refs_changed, one event per entry of changes[]; pull requests
 * (pr:opened, ...) as git.pull_request; diagnostics:ping is
 * answered 200. Signed with X-Hub-Signature: sha256=<hex> of the raw body. */
#include <stdio.h>
#include <string.h>

#include "hookbus/util.h"
#include "receivers/receiver.h"

#define MAX_CLONE_LINKS 4

static int bitbucket_server_verify(const struct gw_receiver *r, const struct gw_request *req,
                                   const char **reason)
{
    return gw_auth_hmac_hex(r, req, "X-Hub-Signature", "sha256=", "sha256", reason);
}

/* Fills ch's URLs from a repository's links: the http clone URL first (it
 * names the repository), then the ssh clone URL, then the browse link. */
static void repo_urls(const cJSON *repo, struct gw_change *ch)
{
    const cJSON *clone = gw_json_get(repo, "links.clone");
    const cJSON *l;
    size_t n = 0;
    cJSON_ArrayForEach (l, clone) {
        const char *href = gw_json_str(l, "href"), *name = gw_json_str(l, "name");
        if (!href)
            continue;
        if (name && (strcmp(name, "http") == 0 || strcmp(name, "https") == 0) && !ch->repo_url)
            ch->repo_url = href;
        else if (n < MAX_CLONE_LINKS)
            ch->urls[n++] = href;
    }
    const cJSON *self = gw_json_get(repo, "links.self");
    if (cJSON_IsArray(self) && cJSON_GetArraySize(self) > 0)
        ch->urls[n] = gw_json_str(cJSON_GetArrayItem(self, 0), "href");
}

/* One entry of changes[]: {ref: {id, type}, fromHash, toHash, type}. */
static void on_change(struct gw_ctx *ctx, const cJSON *root, const cJSON *change)
{
    const char *ref = gw_json_str(change, "ref.id");
    if (!ref)
        ref = gw_json_str(change, "refId");
    const char *kind = gw_json_str(change, "type");
    const char *to = gw_json_str(change, "toHash");
    bool deleted = (kind && strcmp(kind, "DELETE") == 0) || gw_is_zero_sha(to);
    struct gw_change ch = {.deleted = deleted, .provider_event = "repo:refs_changed", .ref = ref};
    repo_urls(cJSON_GetObjectItemCaseSensitive(root, "repository"), &ch);
    ch.commit = to;
    ch.before = gw_is_zero_sha(gw_json_str(change, "fromHash")) ? NULL
                                                                : gw_json_str(change, "fromHash");
    ch.actor = gw_json_str(root, "actor.slug");
    if (!ch.actor)
        ch.actor = gw_json_str(root, "actor.name");
    gw_emit_ref(ctx, &ch);
}

/* pr:opened, pr:from_ref_updated (new commits), pr:merged, pr:declined and
 * pr:deleted; the repository is the target's (toRef.repository). */
static void on_pull_request(struct gw_ctx *ctx, const char *event)
{
    static const char *const map[][2] = {{"pr:opened", "opened"},
                                         {"pr:from_ref_updated", "updated"},
                                         {"pr:merged", "merged"},
                                         {"pr:declined", "closed"},
                                         {"pr:deleted", "closed"}};
    const char *what = NULL;
    for (size_t i = 0; i < HB_ARRAY_LEN(map); i++)
        if (strcmp(event, map[i][0]) == 0)
            what = map[i][1];
    if (!what) {
        gw_ignore(ctx, "Bitbucket Server event '%.64s' is not acted on", event);
        return;
    }
    const cJSON *root = gw_body_json(ctx);
    if (!root)
        return;
    const cJSON *pr = cJSON_GetObjectItemCaseSensitive(root, "pullRequest");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(pr, "id");
    const cJSON *self = gw_json_get(pr, "links.self");
    struct gw_pull_request p = {
        .action = what,
        .number = cJSON_IsNumber(id) ? (long)id->valuedouble : 0,
        .url = cJSON_IsArray(self) ? gw_json_str(cJSON_GetArrayItem(self, 0), "href") : NULL,
        .source_branch = gw_json_str(pr, "fromRef.displayId"),
        .target_branch = gw_json_str(pr, "toRef.displayId"),
        .merge_commit = gw_json_str(pr, "properties.mergeCommit.id"),
        .title = gw_json_str(pr, "title"),
    };
    struct gw_change ch = {.provider_event = event};
    repo_urls(gw_json_get(pr, "toRef.repository"), &ch);
    ch.commit = gw_json_str(pr, "fromRef.latestCommit");
    ch.actor = gw_json_str(root, "actor.slug");
    if (!ch.actor)
        ch.actor = gw_json_str(root, "actor.name");
    gw_emit_pull_request(ctx, &ch, &p);
}

static void bitbucket_server_normalize(struct gw_ctx *ctx)
{
    const char *event = ctx->req->header(ctx->req, "X-Event-Key");
    gw_take_delivery_id(ctx, "X-Request-Id");
    if (!event) {
        gw_bad_request(ctx, "missing X-Event-Key header");
        return;
    }
    if (strcmp(event, "diagnostics:ping") == 0) {
        gw_ignore(ctx, "pong");
        return;
    }
    if (hb_str_has_prefix(event, "pr:")) {
        on_pull_request(ctx, event);
        return;
    }
    if (strcmp(event, "repo:refs_changed") != 0) {
        gw_ignore(ctx, "Bitbucket Server event '%.64s' is not acted on", event);
        return;
    }
    const cJSON *root = gw_body_json(ctx);
    if (!root)
        return;
    const cJSON *changes = cJSON_GetObjectItemCaseSensitive(root, "changes");
    if (!cJSON_IsArray(changes)) {
        gw_bad_request(ctx, "repo:refs_changed payload has no changes array");
        return;
    }
    const cJSON *c;
    cJSON_ArrayForEach (c, changes) {
        on_change(ctx, root, c);
        if (ctx->status && ctx->status != 200)
            return;
    }
}

const struct gw_receiver_type gw_receiver_bitbucket_server = {
    .type = "bitbucket-server",
    .provider = "bitbucket-server",
    .verify = bitbucket_server_verify,
    .normalize = bitbucket_server_normalize,
};
