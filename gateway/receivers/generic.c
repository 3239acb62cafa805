/* generic.c: a JSON receiver for senders without a type of their own. It
 * recognizes {"ref": ...}, a GitHub-style release, an Argo CD notification
 * (app.metadata.annotations["git.ref"]) and a Kargo promotion
 * (freight.commits[].tag), and emits dev.hookbus.ref.requested events. The
 * repository comes from the body or is fixed by the receiver's `repository`.
 * generic-hmac and standard-webhooks (below) are the same receiver for
 * senders that sign. */
#include <stdio.h>
#include <string.h>

#include "hookbus/util.h"
#include "receivers/receiver.h"

#define TYPE "dev.hookbus.ref.requested"

static int generic_configure(struct gw_receiver *r, const struct hb_config *cfg,
                             const struct hb_node *node, char *err, size_t errlen)
{
    return gw_configure_repository(r, cfg, node, false, err, errlen);
}

/* A repository named in the body: a string, or an object with a URL. */
static const char *body_repo(const cJSON *root)
{
    static const char *const keys[] = {"repository", "repo", "repoURL", "url"};
    static const char *const inner[] = {"clone_url", "url", "html_url", "git_http_url", "repoURL"};
    for (size_t i = 0; i < HB_ARRAY_LEN(keys); i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, keys[i]);
        if (cJSON_IsString(v) && v->valuestring[0])
            return v->valuestring;
        for (size_t j = 0; cJSON_IsObject(v) && j < HB_ARRAY_LEN(inner); j++) {
            const char *s = gw_json_str(v, inner[j]);
            if (s)
                return s;
        }
    }
    return NULL;
}

/* Emits one request for ref (full ref, short branch, or tag) of repo. */
static void emit_ref(struct gw_ctx *ctx, const char *repo, const char *ref, const char *tag,
                     const char *commit, const char *what)
{
    char full[512];
    struct gw_change ch = {.deleted = -1, .type = TYPE, .provider_event = what};
    ch.repo_url = ctx->rcv->repository ? ctx->rcv->repository : repo;
    if (ch.repo_url != repo)
        ch.urls[0] = repo;
    if (!ch.repo_url) {
        gw_bad_request(ctx, "no repository in the body and none configured for this receiver");
        return;
    }
    if (ref && hb_str_has_prefix(ref, "refs/tags/")) {
        ch.ref = ref;
        ch.tag = ref + strlen("refs/tags/");
    } else if (ref && hb_str_has_prefix(ref, "refs/heads/")) {
        ch.ref = ref;
        ch.branch = ref + strlen("refs/heads/");
    } else if (ref && hb_str_has_prefix(ref, "refs/")) {
        ch.ref = ref;
    } else if (ref) {
        ch.branch = ref;
        ch.ref = hb_snprintf(full, sizeof(full), "refs/heads/%s", ref) == 0 ? full : NULL;
    }
    if (tag) {
        ch.tag = tag;
        if (!ch.ref && hb_snprintf(full, sizeof(full), "refs/tags/%s", tag) == 0)
            ch.ref = full;
    }
    ch.commit = commit;
    gw_emit(ctx, &ch);
}

/* The body rules shared by generic, generic-hmac and standard-webhooks. */
static void normalize_body(struct gw_ctx *ctx)
{
    const cJSON *root = gw_body_json(ctx);
    if (!root)
        return;
    const char *ref = gw_json_str(root, "ref");
    const cJSON *commits = gw_json_get(root, "freight.commits");
    const cJSON *annotations = gw_json_get(root, "app.metadata.annotations");
    if (ref) {
        const char *commit = gw_json_str(root, "commit");
        if (!commit)
            commit = gw_json_str(root, "after");
        emit_ref(ctx, body_repo(root), ref, NULL, commit, "ref");
    } else if (gw_json_str(root, "release.tag_name")) {
        const char *action = gw_json_str(root, "action");
        if (action && strcmp(action, "published") != 0)
            gw_ignore(ctx, "release action '%s' is not acted on", action);
        else
            emit_ref(ctx, body_repo(root), NULL, gw_json_str(root, "release.tag_name"), NULL,
                     "release");
    } else if (cJSON_IsArray(commits)) {
        const cJSON *c;
        int n = 0;
        cJSON_ArrayForEach (c, commits) {
            const char *tag = gw_json_str(c, "tag");
            const char *branch = gw_json_str(c, "branch");
            if (!tag && !branch)
                continue;
            emit_ref(ctx, gw_json_str(c, "repoURL"), branch, tag, gw_json_str(c, "id"),
                     "kargo.promotion");
            n++;
            if (ctx->status)
                break;
        }
        if (!n)
            gw_ignore(ctx, "Kargo freight names no commit tag or branch");
    } else if (cJSON_IsObject(annotations)) {
        /* "git.ref" is one key (a dotted path for gw_json_str). */
        const cJSON *gref_item = cJSON_GetObjectItemCaseSensitive(annotations, "git.ref");
        const char *gref = cJSON_IsString(gref_item) && gref_item->valuestring[0]
                               ? gref_item->valuestring
                               : NULL;
        const char *repo = gw_json_str(root, "app.spec.source.repoURL");
        const cJSON *sources = gw_json_get(root, "app.spec.sources");
        if (!repo && cJSON_IsArray(sources))
            repo = gw_json_str(cJSON_GetArrayItem(sources, 0), "repoURL");
        if (!gref)
            gw_ignore(ctx, "Argo CD notification has no git.ref annotation");
        else
            emit_ref(ctx, repo, gref, NULL, gw_json_str(root, "app.status.sync.revision"),
                     "argocd.notification");
    } else {
        gw_bad_request(ctx, "unrecognized body: expected {\"ref\": ...}, a release, an Argo CD "
                            "notification or a Kargo promotion");
    }
}

static void generic_normalize(struct gw_ctx *ctx)
{
    gw_take_delivery_id(ctx, "X-Request-Id");
    normalize_body(ctx);
}

const struct gw_receiver_type gw_receiver_generic = {
    .type = "generic",
    .provider = "generic",
    .options = gw_repository_option,
    .configure = generic_configure,
    .normalize = generic_normalize,
};

/* generic-hmac: the generic receiver for senders that sign. X-Signature is
 * "<alg>=<hex>", alg one of sha1, sha256, sha512, the hex HMAC of the raw
 * body with the secret. */
static int generic_hmac_verify(const struct gw_receiver *r, const struct gw_request *req,
                               const char **reason)
{
    static const char *const algs[] = {"sha1", "sha256", "sha512"};
    char prefix[16];
    const char *sig = req->header(req, "X-Signature");
    if (!sig || !*sig) {
        *reason = "X-Signature missing";
        return -1;
    }
    for (size_t i = 0; i < HB_ARRAY_LEN(algs); i++) {
        snprintf(prefix, sizeof(prefix), "%s=", algs[i]);
        if (strncasecmp(sig, prefix, strlen(prefix)) == 0)
            return gw_auth_hmac_hex(r, req, "X-Signature", prefix, algs[i], reason);
    }
    *reason = "X-Signature is not sha1=, sha256= or sha512=<hex>";
    return -1;
}

const struct gw_receiver_type gw_receiver_generic_hmac = {
    .type = "generic-hmac",
    .provider = "generic",
    .options = gw_repository_option,
    .configure = generic_configure,
    .verify = generic_hmac_verify,
    .normalize = generic_normalize,
};

/* standard-webhooks: the generic receiver for any sender that signs with
 * Standard Webhooks (standard_webhooks.c); option tolerance_seconds (default
 * 300) bounds the age of webhook-timestamp. The event id is webhook-id. */
enum { OPT_TOLERANCE };
static const char *const sw_options[] = {"tolerance_seconds", NULL};
/* For --help: sw_options and gw_configure_repository's. */
static const char *const sw_help_options[] = {"tolerance_seconds", "repository", NULL};

static int sw_configure(struct gw_receiver *r, const struct hb_config *cfg,
                        const struct hb_node *node, char *err, size_t errlen)
{
    long t;
    if (gw_configure_repository(r, cfg, node, false, err, errlen) < 0 ||
        gw_options_configure(r, cfg, node, sw_options, NULL, err, errlen) < 0)
        return -1;
    const char *v = gw_option(r, OPT_TOLERANCE);
    if (v && hb_parse_long(v, 1, 3600, &t) < 0)
        return hb_config_error(cfg, hb_node_get(node, "tolerance_seconds"), err, errlen,
                               "receivers[%s].tolerance_seconds: seconds, 1 to 3600", r->name);
    return 0;
}

static long sw_tolerance(const struct gw_receiver *r, const struct gw_request *req)
{
    (void)req;
    long t = GW_SW_TOLERANCE_S;
    const char *v = gw_option(r, OPT_TOLERANCE);
    if (v)
        hb_parse_long(v, 1, 3600, &t);
    return t;
}

static int sw_verify(const struct gw_receiver *r, const struct gw_request *req, const char **reason)
{
    return gw_auth_standard_webhooks(r, req, sw_tolerance(r, req), reason);
}

static void sw_normalize(struct gw_ctx *ctx)
{
    gw_take_delivery_id(ctx, "webhook-id");
    normalize_body(ctx);
}

const struct gw_receiver_type gw_receiver_standard_webhooks = {
    .type = "standard-webhooks",
    .provider = "generic",
    .options = sw_help_options,
    .configure = sw_configure,
    .verify = sw_verify,
    .sw_tolerance = sw_tolerance,
    .normalize = sw_normalize,
    .destroy = gw_options_destroy,
};
