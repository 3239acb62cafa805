/* ecr.c: Amazon ECR pushes, in the two shapes they arrive in:
 *
 * - the raw EventBridge event ("detail-type": "ECR Image Action") that an
 *   EventBridge API destination POSTs: detail.action-type PUSH with result
 *   SUCCESS becomes dev.hookbus.image.push (a push without image-tag is a
 *   digest-only push and gives an event with the digest alone); DELETE,
 *   failures and the other ECR detail types are answered 200;
 * - the CloudEvent of Argo CD Image Updater's documented input transformer
 *   (type com.amazon.ecr.image.push, source urn:aws:ecr:<region>:<account>:
 *   repository/<name> or the arn:aws:ecr: form, data {repositoryName,
 *   imageTag, imageDigest, registryId}), structured or binary.
 *
 * The registry host is <registryId>.dkr.ecr.<region>.amazonaws.com. API
 * destinations authenticate with the connection's API key header, Basic or
 * OAuth credentials: the shared token check (token_header for an API key). */
#include <stdio.h>
#include <string.h>

#include "hookbus/util.h"
#include "receivers/receiver.h"

struct ecr_push {
    const char *account, *region, *repository, *tag, *digest, *event;
    char source_region[64], source_account[32];
};

static void ecr_emit(struct gw_ctx *ctx, const struct ecr_push *p)
{
    char image[512];
    if (!p->account || !p->region || !p->repository ||
        hb_snprintf(image, sizeof(image), "%s.dkr.ecr.%s.amazonaws.com/%s", p->account, p->region,
                    p->repository) < 0) {
        gw_bad_request(ctx, "ECR event has no valid account, region or repository name");
        return;
    }
    if (!p->tag && !p->digest) {
        gw_bad_request(ctx, "ECR push names neither a tag nor a digest");
        return;
    }
    struct gw_change ch = gw_image_change(p->event, image, p->tag, p->digest);
    gw_emit(ctx, &ch);
}

/* The raw EventBridge event. */
static void ecr_eventbridge(struct gw_ctx *ctx, const cJSON *root, const char *detail_type)
{
    const char *action = gw_json_str(root, "detail.action-type");
    const char *result = gw_json_str(root, "detail.result");
    gw_set_delivery_id(ctx, gw_json_str(root, "id"));
    if (strcmp(detail_type, "ECR Image Action") != 0) {
        gw_ignore(ctx, "EventBridge '%.64s' events are not acted on", detail_type);
        return;
    }
    if (!action || !result) {
        gw_bad_request(ctx, "ECR Image Action has no detail.action-type or detail.result");
        return;
    }
    if (strcmp(action, "PUSH") != 0 || strcmp(result, "SUCCESS") != 0) {
        gw_ignore(ctx, "ECR %.32s with result %.32s is not acted on", action, result);
        return;
    }
    struct ecr_push p = {
        .account = gw_json_str(root, "account"),
        .region = gw_json_str(root, "region"),
        .repository = gw_json_str(root, "detail.repository-name"),
        .tag = gw_json_str(root, "detail.image-tag"),
        .digest = gw_json_str(root, "detail.image-digest"),
        .event = detail_type,
    };
    ecr_emit(ctx, &p);
}

/* urn:aws:ecr:<region>:<account>:repository/<name> (or arn:aws:ecr:...):
 * region and account into p. 0 or -1. */
static int ecr_parse_source(const char *source, struct ecr_push *p)
{
    const char *s;
    if (hb_str_has_prefix(source, "urn:aws:ecr:"))
        s = source + strlen("urn:aws:ecr:");
    else if (hb_str_has_prefix(source, "arn:aws:ecr:"))
        s = source + strlen("arn:aws:ecr:");
    else
        return -1;
    size_t r = strcspn(s, ":");
    if (!r || r >= sizeof(p->source_region) || s[r] != ':')
        return -1;
    memcpy(p->source_region, s, r);
    p->source_region[r] = '\0';
    s += r + 1;
    size_t a = strcspn(s, ":");
    if (!a || a >= sizeof(p->source_account) || s[a] != ':')
        return -1;
    memcpy(p->source_account, s, a);
    p->source_account[a] = '\0';
    return 0;
}

/* The CloudEvents form; type, source and id from the headers (binary mode)
 * or from the envelope (structured). */
static void ecr_cloudevent(struct gw_ctx *ctx, const cJSON *root)
{
    const struct gw_request *req = ctx->req;
    const char *type = req->header(req, "ce-type"), *source = req->header(req, "ce-source");
    const cJSON *data = root;
    if (type) {
        gw_take_delivery_id(ctx, "ce-id");
    } else {
        type = gw_json_str(root, "type");
        source = gw_json_str(root, "source");
        data = cJSON_GetObjectItemCaseSensitive(root, "data");
        gw_set_delivery_id(ctx, gw_json_str(root, "id"));
    }
    if (!type || !source) {
        gw_bad_request(ctx, "CloudEvent has no type or source");
        return;
    }
    if (!strstr(type, "image.push")) {
        gw_ignore(ctx, "CloudEvent type '%.64s' is not acted on", type);
        return;
    }
    struct ecr_push p = {.event = type};
    if (ecr_parse_source(source, &p) < 0) {
        gw_bad_request(ctx,
                       "CloudEvent source '%.100s' is not urn:aws:ecr: or arn:aws:ecr:", source);
        return;
    }
    p.region = p.source_region;
    p.account = gw_json_str(data, "registryId");
    if (!p.account)
        p.account = p.source_account;
    p.repository = gw_json_str(data, "repositoryName");
    p.tag = gw_json_str(data, "imageTag");
    p.digest = gw_json_str(data, "imageDigest");
    ecr_emit(ctx, &p);
}

static void ecr_normalize(struct gw_ctx *ctx)
{
    const cJSON *root = gw_body_json(ctx);
    if (!root)
        return;
    const char *detail_type = gw_json_str(root, "detail-type");
    if (detail_type)
        ecr_eventbridge(ctx, root, detail_type);
    else if (ctx->req->header(ctx->req, "ce-specversion") || gw_json_str(root, "specversion"))
        ecr_cloudevent(ctx, root);
    else
        gw_bad_request(ctx, "neither an EventBridge event (detail-type) nor a CloudEvent");
}

const struct gw_receiver_type gw_receiver_ecr = {
    .type = "ecr",
    .provider = "ecr",
    .normalize = ecr_normalize,
};
