/* azure_eventgrid.c: Azure Container Registry events delivered by Event
 * Grid to a webhook, in either schema of the event subscription:
 *
 * - Event Grid schema: a JSON array of {id, eventType, subject, data, ...}.
 *   The subscription is validated first with one
 *   Microsoft.EventGrid.SubscriptionValidationEvent (aeg-event-type:
 *   SubscriptionValidation), answered 200 {"validationResponse": code}.
 * - CloudEvents 1.0 schema: one event (application/cloudevents+json) or a
 *   batch array, type in "type". The endpoint is validated first with the
 *   OPTIONS abuse-protection handshake (http.c, allowed_origin below).
 *
 * Microsoft.ContainerRegistry.ImagePushed and ChartPushed become image.push
 * and chart.push, one per array entry; deletes and other types are answered
 * 200. Authentication: the key route (the URL Event Grid is given), or a
 * delivery header (Authorization: Bearer <secret>). Option allowed_origin:
 * the WebHook-Request-Origin accepted (default eventgrid.azure.net). */
#include <string.h>

#include "hookbus/util.h"
#include "receivers/receiver.h"

enum { OPT_ALLOWED_ORIGIN };
static const char *const options[] = {"allowed_origin", NULL};
#define EG_ORIGIN "eventgrid.azure.net"
#define EG_VALIDATION "Microsoft.EventGrid.SubscriptionValidationEvent"

static int eg_configure(struct gw_receiver *r, const struct hb_config *cfg,
                        const struct hb_node *node, char *err, size_t errlen)
{
    return gw_options_configure(r, cfg, node, options, NULL, err, errlen);
}

static const char *eg_allowed_origin(const struct gw_receiver *r, const char *origin)
{
    const char *want = gw_option(r, OPT_ALLOWED_ORIGIN);
    want = want ? want : EG_ORIGIN;
    return strcasecmp(origin, want) == 0 ? want : NULL;
}

/* The event type of one entry in either schema. */
static const char *entry_type(const cJSON *e)
{
    const char *t = gw_json_str(e, "eventType");
    return t ? t : gw_json_str(e, "type");
}

/* Answers the Event Grid validation with the entry's code. */
static void validate(struct gw_ctx *ctx, const cJSON *e)
{
    const char *code = gw_json_str(e, "data.validationCode");
    if (!code) {
        gw_bad_request(ctx, "SubscriptionValidationEvent without data.validationCode");
        return;
    }
    cJSON *reply = cJSON_CreateObject();
    if (!reply || !cJSON_AddStringToObject(reply, "validationResponse", code)) {
        cJSON_Delete(reply);
        gw_set_status(ctx, 500, "out of memory");
        return;
    }
    if (gw_reply(ctx, reply) == 0)
        hb_strlcpy(ctx->message, "Event Grid subscription validated", sizeof(ctx->message));
    cJSON_Delete(reply);
}

/* One ImagePushed / ChartPushed entry: data.target names the repository,
 * tag (chart: version) and digest; data.request.host the registry. */
static int pushed(struct gw_ctx *ctx, const cJSON *e, const char *type, bool chart)
{
    char image[768];
    const cJSON *target = gw_json_get(e, "data.target");
    const char *host = gw_json_str(e, "data.request.host");
    const char *repo = gw_json_str(target, "repository");
    const char *tag = gw_json_str(target, chart ? "version" : "tag");
    if (!tag)
        tag = gw_json_str(target, "tag");
    if (!host || !repo || hb_snprintf(image, sizeof(image), "%s/%s", host, repo) < 0) {
        gw_bad_request(ctx, "%s has no data.request.host or data.target.repository", type);
        return -1;
    }
    struct gw_change ch = gw_image_change(type, image, tag, gw_json_str(target, "digest"));
    if (chart)
        ch.type = "dev.hookbus.chart.push";
    ch.media_type = gw_json_str(target, "mediaType");
    if (!ch.tag && !ch.digest) {
        gw_bad_request(ctx, "%s names neither a tag nor a digest", type);
        return -1;
    }
    return gw_emit(ctx, &ch);
}

static void eg_normalize(struct gw_ctx *ctx)
{
    const cJSON *root = gw_body_json_any(ctx);
    const cJSON *e;
    if (!root)
        return;
    int n = cJSON_IsArray(root) ? cJSON_GetArraySize(root) : 1;
    if (n == 0) {
        gw_ignore(ctx, "empty Event Grid batch");
        return;
    }
    /* A single event keeps its id across Event Grid's retries. */
    if (n == 1)
        gw_set_delivery_id(ctx, gw_json_str(cJSON_IsArray(root) ? root->child : root, "id"));
    bool batch = cJSON_IsArray(root);
    for (e = batch ? root->child : root; e; e = batch ? e->next : NULL) {
        const char *type = entry_type(e);
        if (!cJSON_IsObject(e) || !type) {
            gw_bad_request(ctx, "an Event Grid entry has no eventType or type");
            return;
        }
        if (strcmp(type, EG_VALIDATION) == 0) {
            validate(ctx, e);
            return;
        }
        bool image = strcmp(type, "Microsoft.ContainerRegistry.ImagePushed") == 0;
        bool chart = strcmp(type, "Microsoft.ContainerRegistry.ChartPushed") == 0;
        if ((image || chart) && pushed(ctx, e, type, chart) < 0)
            return;
        if (!image && !chart && !ctx->status)
            gw_ignore(ctx, "Event Grid event '%.80s' is not acted on", type);
    }
}

const struct gw_receiver_type gw_receiver_azure_eventgrid = {
    .type = "azure-eventgrid",
    .provider = "acr",
    .options = options,
    .configure = eg_configure,
    .normalize = eg_normalize,
    .destroy = gw_options_destroy,
    .allowed_origin = eg_allowed_origin,
};
