/* bitbucket_server.c: Bitbucket Server / Data Center webhooks:
 * repo:refs_changed, one event per entry of changes[]; diagnostics:ping is
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

/* Fills ch's URLs from repository.links: the http clone URL first (it names
 * the repository), then the ssh clone URL, then the browse link. */
static void repo_urls(const cJSON *root, struct gw_change *ch)
{
    const cJSON *clone = gw_json_get(root, "repository.links.clone");
    const cJSON *l;
    size_t n = 0;
    cJSON_ArrayForEach(l, clone)
    {
        const char *href = gw_json_str(l, "href"), *name = gw_json_str(l, "name");
        if (!href)
            continue;
        if (name && (strcmp(name, "http") == 0 || strcmp(name, "https") == 0) && !ch->repo_url)
            ch->repo_url = href;
        else if (n < MAX_CLONE_LINKS)
            ch->urls[n++] = href;
    }
    const cJSON *self = gw_json_get(root, "repository.links.self");
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
    repo_urls(root, &ch);
    ch.commit = to;
    ch.before = gw_is_zero_sha(gw_json_str(change, "fromHash"))
                    ? NULL
                    : gw_json_str(change, "fromHash");
    ch.actor = gw_json_str(root, "actor.slug");
    if (!ch.actor)
        ch.actor = gw_json_str(root, "actor.name");
    gw_emit_ref(ctx, &ch);
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
    cJSON_ArrayForEach(c, changes)
    {
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
