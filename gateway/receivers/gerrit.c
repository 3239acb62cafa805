/* gerrit.c: Gerrit's webhooks plugin: a ref-updated event (a branch or tag
 * moved, created or deleted by a push or a submit) becomes a git.push or
 * git.tag; every other event (patchset-created, comment-added, ...) is
 * answered 200.
 *
 * The plugin cannot sign, so the receiver is authenticated by the key route
 * or the shared token rules (a header the remote's configuration adds, or
 * token_header). The payload names the project but not the host, so
 * base_url (required) is the https URL the repository is cloned from, less
 * the project ("https://review.example.com" or ".../a"). */
#include <stdio.h>
#include <string.h>

#include "hookbus/util.h"
#include "receivers/receiver.h"

enum { OPT_BASE_URL };
static const char *const options[] = {"base_url", NULL};

static int gerrit_configure(struct gw_receiver *r, const struct hb_config *cfg,
                            const struct hb_node *node, char *err, size_t errlen)
{
    return gw_options_configure(r, cfg, node, options, options, err, errlen);
}

static void gerrit_normalize(struct gw_ctx *ctx)
{
    char url[768], ref[512];
    const cJSON *root = gw_body_json(ctx);
    if (!root)
        return;
    const char *type = gw_json_str(root, "type");
    if (!type) {
        gw_bad_request(ctx, "Gerrit event has no 'type'");
        return;
    }
    if (strcmp(type, "ref-updated") != 0) {
        gw_ignore(ctx, "Gerrit event '%.64s' is not acted on", type);
        return;
    }
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(root, "refUpdate");
    const char *project = gw_json_str(u, "project");
    const char *name = gw_json_str(u, "refName");
    const char *base = gw_option(ctx->rcv, OPT_BASE_URL);
    size_t bl = strlen(base);
    if (!project || !name) {
        gw_bad_request(ctx, "ref-updated has no refUpdate.project or refUpdate.refName");
        return;
    }
    /* Old Gerrit versions gave branches as short names. */
    if (hb_snprintf(ref, sizeof(ref), "%s%s", hb_str_has_prefix(name, "refs/") ? "" : "refs/heads/",
                    name) < 0 ||
        hb_snprintf(url, sizeof(url), "%.*s/%s", (int)(bl && base[bl - 1] == '/' ? bl - 1 : bl),
                    base, project) < 0) {
        gw_bad_request(ctx, "project or ref name too long");
        return;
    }
    struct gw_change ch = {.provider_event = "ref-updated", .repo_url = url, .ref = ref};
    ch.before = gw_json_str(u, "oldRev");
    ch.commit = gw_json_str(u, "newRev");
    ch.deleted = gw_is_zero_sha(ch.commit);
    ch.actor = gw_json_str(root, "submitter.username");
    if (!ch.actor)
        ch.actor = gw_json_str(root, "submitter.name");
    gw_emit_ref(ctx, &ch);
}

const struct gw_receiver_type gw_receiver_gerrit = {
    .type = "gerrit",
    .provider = "gerrit",
    .options = options,
    .configure = gerrit_configure,
    .normalize = gerrit_normalize,
    .destroy = gw_options_destroy,
};
