/* harbor.c: Harbor webhooks (PUSH_ARTIFACT), in both of Harbor's payload
 * formats: its default JSON ({"type", "operator", "event_data"}) and its
 * CloudEvents format (type harbor.artifact.pushed, structured mode as Harbor
 * sends it, or binary mode with ce-* headers). One event per pushed resource.
 *
 * Harbor sends the webhook's configured "Auth Header" verbatim as
 * Authorization, so the shared token check authenticates it. */
#include <string.h>

#include "hookbus/util.h"
#include "receivers/receiver.h"

#define HELM_CONFIG_MEDIA_TYPE "application/vnd.cncf.helm.config.v1+json"

/* The parts every Harbor format carries, wherever it put them. */
struct harbor_event {
    const char *type;  /* PUSH_ARTIFACT or harbor.artifact.pushed, ... */
    const char *actor; /* who pushed (Harbor: "operator") */
    const cJSON *data; /* {"resources": [...], "repository": {...}} */
};

/* Finds type, actor and data in the default or the CloudEvents format.
 * Binary-mode CloudEvents: attributes in ce-* headers, the body is data. A
 * CloudEvent's id becomes the delivery id. */
static void harbor_locate(struct gw_ctx *ctx, const cJSON *root, struct harbor_event *ev)
{
    const struct gw_request *req = ctx->req;
    const char *ce_type = req->header(req, "ce-type");
    if (ce_type) {
        ev->type = ce_type;
        ev->actor = req->header(req, "ce-operator");
        ev->data = root;
        gw_take_delivery_id(ctx, "ce-id");
    } else if (strcmp(req->content_type, "application/cloudevents+json") == 0 ||
               gw_json_str(root, "specversion")) {
        ev->type = gw_json_str(root, "type");
        ev->actor = gw_json_str(root, "operator");
        ev->data = cJSON_GetObjectItemCaseSensitive(root, "data");
        gw_set_delivery_id(ctx, gw_json_str(root, "id"));
    } else {
        ev->type = gw_json_str(root, "type");
        ev->actor = gw_json_str(root, "operator");
        ev->data = cJSON_GetObjectItemCaseSensitive(root, "event_data");
    }
}

/* True when the artifact is a Helm chart. Harbor's payload has no media type
 * field today; a resource's mime_type / media_type (when a Harbor version
 * adds one) or the legacy repo_type "chart" marks a chart. */
static bool harbor_is_chart(const cJSON *resource, const cJSON *repository)
{
    const char *mt = gw_json_str(resource, "mime_type");
    if (!mt)
        mt = gw_json_str(resource, "media_type");
    if (mt && (strcmp(mt, HELM_CONFIG_MEDIA_TYPE) == 0 || strstr(mt, ".helm.")))
        return true;
    const char *rt = gw_json_str(repository, "repo_type");
    return rt && strcmp(rt, "chart") == 0;
}

/* Emits one change per tagged resource. Digest-only resources (Harbor then
 * puts the digest in "tag") are skipped; none left: 200 ignored. */
static void harbor_push(struct gw_ctx *ctx, const struct harbor_event *ev)
{
    const cJSON *repository = cJSON_GetObjectItemCaseSensitive(ev->data, "repository");
    const cJSON *resources = cJSON_GetObjectItemCaseSensitive(ev->data, "resources");
    if (!cJSON_IsArray(resources)) {
        gw_bad_request(ctx, "Harbor push has no 'resources' list");
        return;
    }
    const cJSON *res;
    cJSON_ArrayForEach (res, resources) {
        const char *tag = gw_json_str(res, "tag");
        const char *url = gw_json_str(res, "resource_url");
        if (!tag || hb_str_has_prefix(tag, "sha256:"))
            continue;
        if (!url) {
            gw_bad_request(ctx, "Harbor resource has no 'resource_url'");
            return;
        }
        struct gw_change ch = {
            .deleted = -1,
            .type = harbor_is_chart(res, repository) ? "dev.hookbus.chart.push"
                                                     : "dev.hookbus.image.push",
            .provider_event = ev->type,
            .repo_url = url,
            .tag = tag,
            .digest = gw_json_str(res, "digest"),
            .media_type = gw_json_str(res, "mime_type"),
            .actor = ev->actor,
        };
        if (gw_emit(ctx, &ch) < 0)
            return;
    }
    if (ctx->nevents == 0)
        gw_ignore(ctx, "Harbor push of untagged artifacts is not acted on");
}

static void harbor_normalize(struct gw_ctx *ctx)
{
    struct harbor_event ev = {0};
    const cJSON *root = gw_body_json(ctx);
    if (!root)
        return;
    harbor_locate(ctx, root, &ev);
    if (!ev.type)
        gw_bad_request(ctx, "Harbor payload has no event type");
    else if (strcmp(ev.type, "PUSH_ARTIFACT") == 0 ||
             strcmp(ev.type, "harbor.artifact.pushed") == 0)
        harbor_push(ctx, &ev);
    else
        gw_ignore(ctx, "Harbor event '%.64s' is not acted on", ev.type);
}

const struct gw_receiver_type gw_receiver_harbor = {
    .type = "harbor",
    .provider = "harbor",
    .normalize = harbor_normalize,
};
