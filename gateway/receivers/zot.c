/* zot.c: the zot registry's events extension (http sink). zot posts each
 * event as a binary-mode CloudEvent: ce-type "zotregistry.image.updated"
 * (the prefix is zot's typePrefix, so any "<prefix>.image.updated" is
 * taken), ce-id, and JSON data {name, reference, digest, mediaType, ...}.
 * An updated image becomes dev.hookbus.image.push; image.deleted,
 * image.lint_failed, repository.created and the rest are answered 200.
 * A structured CloudEvent (application/cloudevents+json) is read the same.
 *
 * The sink's credentials (Basic user/password or a bearer token) meet the
 * shared token check. The data names the repository but not the host
 * clients pull from, so base_url (required) gives the registry host. */
#include <string.h>

#include "hookbus/util.h"
#include "receivers/receiver.h"

enum { OPT_BASE_URL };
static const char *const options[] = {"base_url", NULL};

static int zot_configure(struct gw_receiver *r, const struct hb_config *cfg,
                         const struct hb_node *node, char *err, size_t errlen)
{
    return gw_options_configure(r, cfg, node, options, options, err, errlen);
}

/* True for a manifest reference that is a digest (algorithm:hex). */
static bool is_digest_ref(const char *ref)
{
    return strchr(ref, ':') != NULL;
}

static void zot_normalize(struct gw_ctx *ctx)
{
    char host[256], image[768];
    const struct gw_request *req = ctx->req;
    const char *type = req->header(req, "ce-type");
    const cJSON *root = gw_body_json(ctx);
    const cJSON *data = root;
    if (!root)
        return;
    if (!type) {
        /* Structured mode: the attributes are members, data is one of them. */
        type = gw_json_str(root, "type");
        data = cJSON_GetObjectItemCaseSensitive(root, "data");
        gw_set_delivery_id(ctx, gw_json_str(root, "id"));
    } else {
        gw_take_delivery_id(ctx, "ce-id");
    }
    if (!type) {
        gw_bad_request(ctx, "not a zot event: no ce-type header or type member");
        return;
    }
    if (!hb_str_has_suffix(type, ".image.updated")) {
        gw_ignore(ctx, "zot event '%.64s' is not acted on", type);
        return;
    }
    const char *name = gw_json_str(data, "name");
    const char *ref = gw_json_str(data, "reference");
    const char *digest = gw_json_str(data, "digest");
    if (!name || (!ref && !digest)) {
        gw_bad_request(ctx, "zot image.updated data has no 'name' or 'reference'");
        return;
    }
    if (gw_url_without_scheme(gw_option(ctx->rcv, OPT_BASE_URL), host, sizeof(host)) < 0 ||
        hb_snprintf(image, sizeof(image), "%s/%s", host, name) < 0) {
        gw_bad_request(ctx, "image name too long");
        return;
    }
    /* A push by digest names no tag: the digest is the reference. */
    const char *tag = ref && !is_digest_ref(ref) ? ref : NULL;
    if (!digest && ref && !tag)
        digest = ref;
    struct gw_change ch = gw_image_change(type, image, tag, digest);
    ch.media_type = gw_json_str(data, "mediaType");
    ch.actor = gw_json_str(data, "actor.name");
    gw_emit(ctx, &ch);
}

const struct gw_receiver_type gw_receiver_zot = {
    .type = "zot",
    .provider = "zot",
    .options = options,
    .configure = zot_configure,
    .normalize = zot_normalize,
    .destroy = gw_options_destroy,
};
