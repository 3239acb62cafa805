/* gitea.c: Gitea, Forgejo and Gogs webhooks (the same GitHub-like payloads
 * under X-Gitea-*, X-Forgejo-* or X-Gogs-* headers): push, create (tags),
 * delete (branches), release (published), pull_request. Signed with the lowercase hex
 * HMAC-SHA256 of the raw body, without a "sha256=" prefix. */
#include <stdio.h>
#include <string.h>

#include "hookbus/util.h"
#include "receivers/receiver.h"

/* The header families, newest first; a sender may set several of them. */
static const char *const signature_headers[] = {"X-Forgejo-Signature", "X-Gitea-Signature",
                                                "X-Gogs-Signature"};
static const char *const event_headers[] = {"X-Forgejo-Event", "X-Gitea-Event", "X-Gogs-Event"};
static const char *const delivery_headers[] = {"X-Forgejo-Delivery", "X-Gitea-Delivery",
                                               "X-Gogs-Delivery"};

/* Authentic when any present signature header matches any secret. */
static int gitea_verify(const struct gw_receiver *r, const struct gw_request *req,
                        const char **reason)
{
    *reason = "signature header missing";
    for (size_t i = 0; i < HB_ARRAY_LEN(signature_headers); i++)
        if (req->header(req, signature_headers[i]) &&
            gw_auth_hmac_hex(r, req, signature_headers[i], NULL, "sha256", reason) == 0)
            return 0;
    return -1;
}

/* The first of the header family that the request carries, or NULL. */
static const char *first_header(const struct gw_request *req, const char *const *names, size_t n,
                                const char **which)
{
    for (size_t i = 0; i < n; i++) {
        const char *v = req->header(req, names[i]);
        if (v && *v) {
            if (which)
                *which = names[i];
            return v;
        }
    }
    return NULL;
}

/* Fills the repository URL forms and the actor shared by every event. */
static void common(const cJSON *root, struct gw_change *ch, const char *event)
{
    ch->deleted = -1;
    ch->provider_event = event;
    ch->repo_url = gw_json_str(root, "repository.clone_url");
    ch->urls[0] = gw_json_str(root, "repository.ssh_url");
    ch->urls[1] = gw_json_str(root, "repository.html_url");
    ch->actor = gw_json_str(root, "sender.login");
    if (!ch->actor)
        ch->actor = gw_json_str(root, "sender.username");
    if (!ch->actor)
        ch->actor = gw_json_str(root, "pusher.username");
}

static void on_push(struct gw_ctx *ctx, const cJSON *root)
{
    struct gw_change ch;
    memset(&ch, 0, sizeof(ch));
    common(root, &ch, "push");
    ch.ref = gw_json_str(root, "ref");
    ch.before = gw_json_str(root, "before");
    ch.commit = gw_json_str(root, "after");
    ch.deleted = gw_is_zero_sha(ch.commit);
    /* An annotated tag's "after" may be the tag object; head_commit is the
     * commit it tags. */
    const char *tagged = gw_json_str(root, "head_commit.id");
    if (tagged && ch.deleted != 1 && ch.ref && hb_str_has_prefix(ch.ref, "refs/tags/"))
        ch.commit = tagged;
    /* Gitea lists only the newest commits; total_commits counts them all. */
    const cJSON *commits = cJSON_GetObjectItemCaseSensitive(root, "commits");
    const cJSON *total = cJSON_GetObjectItemCaseSensitive(root, "total_commits");
    gw_emit_push(ctx, &ch, commits,
                 cJSON_IsNumber(total) && total->valuedouble > cJSON_GetArraySize(commits));
}

/* create and delete: {ref: short name, ref_type: branch|tag}. Branch
 * creations are covered by push; a branch deletion is a deleted git.push. */
static void on_create_delete(struct gw_ctx *ctx, const cJSON *root, const char *event)
{
    char ref[512];
    const char *name = gw_json_str(root, "ref");
    const char *ref_type = gw_json_str(root, "ref_type");
    bool del = strcmp(event, "delete") == 0;
    if (!name || !ref_type) {
        gw_bad_request(ctx, "%s payload has no 'ref' or 'ref_type'", event);
        return;
    }
    bool tag = strcmp(ref_type, "tag") == 0;
    if (!tag && (strcmp(ref_type, "branch") != 0 || !del)) {
        gw_ignore(ctx, "%s of a %.32s is covered by push events", event, ref_type);
        return;
    }
    if (hb_snprintf(ref, sizeof(ref), "%s%s", tag ? "refs/tags/" : "refs/heads/", name) < 0) {
        gw_bad_request(ctx, "ref name too long");
        return;
    }
    struct gw_change ch;
    memset(&ch, 0, sizeof(ch));
    common(root, &ch, event);
    ch.ref = ref;
    ch.deleted = del;
    ch.commit = gw_json_str(root, "sha");
    gw_emit_ref(ctx, &ch);
}

static void on_release(struct gw_ctx *ctx, const cJSON *root)
{
    struct gw_change ch;
    memset(&ch, 0, sizeof(ch));
    common(root, &ch, "release");
    gw_emit_release(ctx, root, &ch);
}

/* pull_request: opened/reopened, synchronized, closed (merged or not). */
static void on_pull_request(struct gw_ctx *ctx, const cJSON *root)
{
    struct gw_pull_request p;
    if (!gw_github_pull_request(ctx, root, "synchronized", &p))
        return;
    const cJSON *pr = cJSON_GetObjectItemCaseSensitive(root, "pull_request");
    struct gw_change ch;
    memset(&ch, 0, sizeof(ch));
    common(root, &ch, "pull_request");
    ch.commit = gw_json_str(pr, "head.sha");
    gw_emit_pull_request(ctx, &ch, &p);
}

static void gitea_normalize(struct gw_ctx *ctx)
{
    const char *event = first_header(ctx->req, event_headers, HB_ARRAY_LEN(event_headers), NULL);
    const char *dh = NULL;
    if (first_header(ctx->req, delivery_headers, HB_ARRAY_LEN(delivery_headers), &dh))
        gw_take_delivery_id(ctx, dh);
    if (!event) {
        gw_bad_request(ctx, "missing X-Gitea-Event, X-Forgejo-Event or X-Gogs-Event header");
        return;
    }
    const cJSON *root = gw_body_json(ctx);
    if (!root)
        return;
    if (strcmp(event, "push") == 0)
        on_push(ctx, root);
    else if (strcmp(event, "create") == 0 || strcmp(event, "delete") == 0)
        on_create_delete(ctx, root, event);
    else if (strcmp(event, "release") == 0)
        on_release(ctx, root);
    else if (strcmp(event, "pull_request") == 0)
        on_pull_request(ctx, root);
    else
        gw_ignore(ctx, "Gitea event '%.64s' is not acted on", event);
}

const struct gw_receiver_type gw_receiver_gitea = {
    .type = "gitea",
    .provider = "gitea",
    .verify = gitea_verify,
    .normalize = gitea_normalize,
};
