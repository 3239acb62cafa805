/* github.c: GitHub webhooks (also GitHub Enterprise Server): push, create
 * (tags), release, package / registry_package (GHCR), pull_request, ping. Signed with
 * X-Hub-Signature-256 (HMAC-SHA256 of the raw body); JSON or form bodies. */
#include <stdio.h>
#include <string.h>

#include "hookbus/event.h"
#include "hookbus/util.h"
#include "receivers/receiver.h"

#define GITHUB_MAX_COMMITS 2048 /* GitHub lists at most this many commits in a push */
#define HELM_CONFIG_MEDIA_TYPE "application/vnd.cncf.helm.config.v1+json"

static int github_verify(const struct gw_receiver *r, const struct gw_request *req,
                         const char **reason)
{
    return gw_auth_hmac_hex(r, req, "X-Hub-Signature-256", "sha256=", "sha256", reason);
}

/* Fills the repository URL forms a GitHub payload carries. */
static void repo_urls(const cJSON *root, struct gw_change *ch)
{
    ch->repo_url = gw_json_str(root, "repository.clone_url");
    ch->urls[0] = gw_json_str(root, "repository.html_url");
    ch->urls[1] = gw_json_str(root, "repository.ssh_url");
    ch->urls[2] = gw_json_str(root, "repository.git_url");
    ch->urls[3] = gw_json_str(root, "repository.clone_url");
}

static const char *actor(const cJSON *root)
{
    const char *a = gw_json_str(root, "sender.login");
    return a ? a : gw_json_str(root, "pusher.name");
}

static void on_push(struct gw_ctx *ctx, const cJSON *root)
{
    bool deleted = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "deleted"));
    struct gw_change ch = {.deleted = deleted, .provider_event = "push"};
    ch.ref = gw_json_str(root, "ref");
    if (!ch.ref) {
        gw_bad_request(ctx, "push payload has no 'ref'");
        return;
    }
    repo_urls(root, &ch);
    ch.before = gw_json_str(root, "before");
    ch.commit = gw_json_str(root, "after");
    /* An annotated tag's "after" is the tag object; head_commit is the
     * commit it tags (the same id for a lightweight tag). */
    const char *tagged = gw_json_str(root, "head_commit.id");
    if (tagged && !deleted && hb_str_has_prefix(ch.ref, "refs/tags/"))
        ch.commit = tagged;
    ch.actor = actor(root);
    const cJSON *commits = cJSON_GetObjectItemCaseSensitive(root, "commits");
    gw_emit_push(ctx, &ch, commits, cJSON_GetArraySize(commits) >= GITHUB_MAX_COMMITS);
}

static void on_create(struct gw_ctx *ctx, const cJSON *root)
{
    char ref[512];
    const char *name = gw_json_str(root, "ref");
    const char *ref_type = gw_json_str(root, "ref_type");
    if (!name || !ref_type) {
        gw_bad_request(ctx, "create payload has no 'ref' or 'ref_type'");
        return;
    }
    if (strcmp(ref_type, "tag") != 0) {
        gw_ignore(ctx, "create of a %s is covered by push events", ref_type);
        return;
    }
    if (hb_snprintf(ref, sizeof(ref), "refs/tags/%s", name) < 0) {
        gw_bad_request(ctx, "tag name too long");
        return;
    }
    struct gw_change ch = {.deleted = -1,
                           .provider_event = "create",
                           .type = "dev.hookbus.git.tag",
                           .ref = ref,
                           .tag = name,
                           .actor = actor(root)};
    repo_urls(root, &ch);
    gw_emit(ctx, &ch);
}

static void on_release(struct gw_ctx *ctx, const cJSON *root)
{
    struct gw_change ch = {.actor = actor(root)};
    repo_urls(root, &ch);
    gw_emit_release(ctx, root, &ch);
}

/* package and registry_package: a container (or Helm chart) pushed to GHCR. */
static void on_package(struct gw_ctx *ctx, const cJSON *root, const char *event)
{
    const cJSON *pkg = cJSON_GetObjectItemCaseSensitive(root, event);
    const char *action = gw_json_str(root, "action");
    const char *ptype = gw_json_str(pkg, "package_type");
    if (!cJSON_IsObject(pkg)) {
        gw_bad_request(ctx, "%s payload has no '%s' object", event, event);
        return;
    }
    if (!action || (strcmp(action, "published") != 0 && strcmp(action, "updated") != 0)) {
        gw_ignore(ctx, "%s action '%s' is not acted on", event, action ? action : "");
        return;
    }
    if (!ptype || (strcasecmp(ptype, "container") != 0 && strcasecmp(ptype, "docker") != 0)) {
        gw_ignore(ctx, "package type '%s' is not a container image", ptype ? ptype : "");
        return;
    }
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(pkg, "package_version");
    const char *tag = gw_json_str(ver, "container_metadata.tag.name");
    const char *digest = gw_json_str(ver, "container_metadata.tag.digest");
    if (!digest)
        digest = gw_json_str(ver, "version");
    if (digest && !hb_str_has_prefix(digest, "sha256:"))
        digest = NULL;
    if (!tag) {
        gw_ignore(ctx, "untagged package version is not acted on");
        return;
    }
    /* The image reference: package_url when given, else ghcr.io/owner/name. */
    char image[512];
    const char *url = gw_json_str(ver, "package_url");
    const char *owner = gw_json_str(pkg, "namespace");
    if (!owner)
        owner = gw_json_str(pkg, "owner.login");
    const char *name = gw_json_str(pkg, "name");
    if (url) {
        hb_strlcpy(image, url, sizeof(image));
    } else if (!owner || !name ||
               hb_snprintf(image, sizeof(image), "ghcr.io/%s/%s", owner, name) < 0) {
        gw_bad_request(ctx, "%s payload names no package owner and name", event);
        return;
    }
    const char *cfg_mt = gw_json_str(ver, "container_metadata.manifest.config.media_type");
    bool chart = cfg_mt && strcmp(cfg_mt, HELM_CONFIG_MEDIA_TYPE) == 0;
    struct gw_change ch = {
        .deleted = -1,
        .provider_event = event,
        .type = chart ? "dev.hookbus.chart.push" : "dev.hookbus.image.push",
        .repo_url = image,
        .tag = tag,
        .digest = digest,
        .media_type = gw_json_str(ver, "container_metadata.manifest.media_type"),
        .actor = actor(root),
    };
    ch.urls[0] = gw_json_str(pkg, "html_url");
    gw_emit(ctx, &ch);
}

/* pull_request: opened/reopened, synchronize (new commits), closed (merged
 * or not); labels, reviews, edits and the rest are answered 200. */
static void on_pull_request(struct gw_ctx *ctx, const cJSON *root)
{
    struct gw_pull_request p;
    if (!gw_github_pull_request(ctx, root, "synchronize", &p))
        return;
    const cJSON *pr = cJSON_GetObjectItemCaseSensitive(root, "pull_request");
    struct gw_change ch = {.provider_event = "pull_request", .actor = actor(root)};
    repo_urls(root, &ch);
    ch.commit = gw_json_str(pr, "head.sha");
    gw_emit_pull_request(ctx, &ch, &p);
}

static void github_normalize(struct gw_ctx *ctx)
{
    const char *event = ctx->req->header(ctx->req, "X-GitHub-Event");
    gw_take_delivery_id(ctx, "X-GitHub-Delivery");
    /* repository, organization, integration (a GitHub App), business, ...:
     * which hook sent it, kept for consumers that route on it. */
    const char *target = ctx->req->header(ctx->req, "X-GitHub-Hook-Installation-Target-Type");
    if (target && strlen(target) <= 64 && hb_attr_value_valid(target, HB_ATTR_STRING) &&
        (ctx->data_extra = cJSON_CreateObject()))
        cJSON_AddStringToObject(ctx->data_extra, "installation_target_type", target);
    if (!event) {
        gw_bad_request(ctx, "missing X-GitHub-Event header");
        return;
    }
    const cJSON *root = gw_body_json(ctx);
    if (!root)
        return;
    if (strcmp(event, "ping") == 0)
        gw_ignore(ctx, "pong");
    else if (strcmp(event, "push") == 0)
        on_push(ctx, root);
    else if (strcmp(event, "create") == 0)
        on_create(ctx, root);
    else if (strcmp(event, "release") == 0)
        on_release(ctx, root);
    else if (strcmp(event, "package") == 0 || strcmp(event, "registry_package") == 0)
        on_package(ctx, root, event);
    else if (strcmp(event, "pull_request") == 0)
        on_pull_request(ctx, root);
    else
        gw_ignore(ctx, "GitHub event '%.64s' is not acted on", event);
}

const struct gw_receiver_type gw_receiver_github = {
    .type = "github",
    .provider = "github",
    .verify = github_verify,
    .normalize = github_normalize,
};
