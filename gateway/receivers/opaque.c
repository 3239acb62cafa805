/* opaque.c: a "something changed, go check the tip" trigger. The body is
 * not read; every authenticated request emits one dev.hookbus.source.changed
 * for the repository fixed in the receiver's `repository`. For senders whose
 * payload hookbus does not understand (CI systems, cron jobs, chat bots).
 *
 * Authentication: the shared token check or the key route. The delivery id
 * is X-Request-Id when the sender sets one (a retried request keeps its id);
 * otherwise every request gets a random id: the body says nothing, so two
 * identical POSTs are two signals, and consumers that deduplicate by id
 * must not fold them into one. */
#include "receivers/receiver.h"

static int opaque_configure(struct gw_receiver *r, const struct hb_config *cfg,
                            const struct hb_node *node, char *err, size_t errlen)
{
    return gw_configure_repository(r, cfg, node, true, err, errlen);
}

static void opaque_normalize(struct gw_ctx *ctx)
{
    gw_take_delivery_id(ctx, "X-Request-Id");
    ctx->id_per_request = true;
    struct gw_change ch = {
        .deleted = -1,
        .type = "dev.hookbus.source.changed",
        .provider_event = "trigger",
        .repo_url = ctx->rcv->repository,
    };
    gw_emit(ctx, &ch);
}

const struct gw_receiver_type gw_receiver_opaque = {
    .type = "opaque",
    .provider = "opaque",
    .options = gw_repository_option,
    .configure = opaque_configure,
    .normalize = opaque_normalize,
};
