/* bitbucket.c: Bitbucket Cloud webhooks: repo:push, one event per entry of
 * push.changes[] (a push that moves three refs gives three events), and
 * pull requests (pullrequest:created, ...) as git.pull_request. Webhooks
 * with a secret are signed with X-Hub-Signature: sha256=<hex>; without one,
 * the shared token rules or the key route apply. */
#include <stdio.h>
#include <string.h>

#include "hookbus/util.h"
#include "receivers/receiver.h"

/* The signature when the request carries one, else the token rules. */
static int bitbucket_verify(const struct gw_receiver *r, const struct gw_request *req,
                            const char **reason)
{
    if (req->header(req, "X-Hub-Signature"))
        return gw_auth_hmac_hex(r, req, "X-Hub-Signature", "sha256=", "sha256", reason);
    return gw_auth_token(r, req, reason);
}

/* Before the body: a signed delivery waits for it; a token is decided from
 * the headers. */
static int bitbucket_verify_headers(const struct gw_receiver *r, const struct gw_request *req,
                                    const char **reason)
{
    if (req->header(req, "X-Hub-Signature"))
        return GW_AUTH_BODY;
    return gw_auth_token(r, req, reason) == 0 ? GW_AUTH_OK : GW_AUTH_REFUSED;
}

/* One entry of push.changes[]: new == null is a deletion (of old). */
static void on_change(struct gw_ctx *ctx, const cJSON *root, const cJSON *change,
                      const char *clone_url)
{
    const cJSON *nw = cJSON_GetObjectItemCaseSensitive(change, "new");
    const cJSON *old = cJSON_GetObjectItemCaseSensitive(change, "old");
    bool deleted = !cJSON_IsObject(nw);
    const cJSON *side = deleted ? old : nw;
    const char *type = gw_json_str(side, "type");
    const char *name = gw_json_str(side, "name");
    char ref[512];
    if (!type || !name) {
        gw_bad_request(ctx, "repo:push change has no ref type or name");
        return;
    }
    const char *prefix = strcmp(type, "branch") == 0 ? "refs/heads/"
                         : strcmp(type, "tag") == 0 || strcmp(type, "annotated_tag") == 0
                             ? "refs/tags/"
                             : NULL;
    if (!prefix) {
        gw_ignore(ctx, "push of a %.32s is not acted on", type);
        return;
    }
    if (hb_snprintf(ref, sizeof(ref), "%s%s", prefix, name) < 0) {
        gw_bad_request(ctx, "ref name too long");
        return;
    }
    struct gw_change ch = {.deleted = deleted, .provider_event = "repo:push", .ref = ref};
    ch.repo_url = gw_json_str(root, "repository.links.html.href");
    ch.urls[0] = clone_url;
    ch.commit = gw_json_str(nw, "target.hash");
    ch.before = gw_json_str(old, "target.hash");
    ch.actor = gw_json_str(root, "actor.nickname");
    if (!ch.actor)
        ch.actor = gw_json_str(root, "actor.display_name");
    gw_emit_ref(ctx, &ch);
}

/* pullrequest:created, :updated, :fulfilled (merged), :rejected (declined). */
static void on_pull_request(struct gw_ctx *ctx, const char *event, const char *clone_url)
{
    static const char *const map[][2] = {{"pullrequest:created", "opened"},
                                         {"pullrequest:updated", "updated"},
                                         {"pullrequest:fulfilled", "merged"},
                                         {"pullrequest:rejected", "closed"}};
    const char *what = NULL;
    for (size_t i = 0; i < HB_ARRAY_LEN(map); i++)
        if (strcmp(event, map[i][0]) == 0)
            what = map[i][1];
    if (!what) {
        gw_ignore(ctx, "Bitbucket event '%.64s' is not acted on", event);
        return;
    }
    const cJSON *root = ctx->body_json;
    const cJSON *pr = cJSON_GetObjectItemCaseSensitive(root, "pullrequest");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(pr, "id");
    struct gw_pull_request p = {
        .action = what,
        .number = cJSON_IsNumber(id) ? (long)id->valuedouble : 0,
        .url = gw_json_str(pr, "links.html.href"),
        .source_branch = gw_json_str(pr, "source.branch.name"),
        .target_branch = gw_json_str(pr, "destination.branch.name"),
        .merge_commit = gw_json_str(pr, "merge_commit.hash"),
        .title = gw_json_str(pr, "title"),
    };
    struct gw_change ch = {.provider_event = event};
    ch.repo_url = gw_json_str(root, "repository.links.html.href");
    ch.urls[0] = clone_url;
    ch.commit = gw_json_str(pr, "source.commit.hash");
    ch.actor = gw_json_str(root, "actor.nickname");
    if (!ch.actor)
        ch.actor = gw_json_str(root, "actor.display_name");
    gw_emit_pull_request(ctx, &ch, &p);
}

static void bitbucket_normalize(struct gw_ctx *ctx)
{
    const char *event = ctx->req->header(ctx->req, "X-Event-Key");
    gw_take_delivery_id(ctx, "X-Request-UUID");
    if (!event) {
        gw_bad_request(ctx, "missing X-Event-Key header");
        return;
    }
    bool pr = hb_str_has_prefix(event, "pullrequest:");
    if (strcmp(event, "repo:push") != 0 && !pr) {
        gw_ignore(ctx, "Bitbucket event '%.64s' is not acted on", event);
        return;
    }
    const cJSON *root = gw_body_json(ctx);
    if (!root)
        return;
    const cJSON *changes = gw_json_get(root, "push.changes");
    char clone[512];
    const char *full = gw_json_str(root, "repository.full_name");
    bool have_clone = full &&
                      hb_snprintf(clone, sizeof(clone), "https://bitbucket.org/%s.git", full) == 0;
    if (pr) {
        on_pull_request(ctx, event, have_clone ? clone : NULL);
        return;
    }
    if (!cJSON_IsArray(changes)) {
        gw_bad_request(ctx, "repo:push payload has no push.changes array");
        return;
    }
    const cJSON *c;
    cJSON_ArrayForEach (c, changes) {
        on_change(ctx, root, c, have_clone ? clone : NULL);
        if (ctx->status && ctx->status != 200)
            return;
    }
}

const struct gw_receiver_type gw_receiver_bitbucket = {
    .type = "bitbucket",
    .provider = "bitbucket",
    .verify = bitbucket_verify,
    .verify_headers = bitbucket_verify_headers,
    .normalize = bitbucket_normalize,
};
