/* artifactory.c: JFrog Artifactory webhooks of the Docker domain: a "pushed"
 * event (a tag of a Docker or OCI image pushed to a local, remote or
 * federated repository) becomes dev.hookbus.image.push; "deleted",
 * "promoted" and the events of every other domain are answered 200.
 *
 * Artifactory signs with the webhook's secret when "Use secret for payload
 * signing" is ticked: X-JFrog-Event-Auth is then the lowercase hex
 * HMAC-SHA256 of the body. Without it Artifactory sends the secret itself in
 * that header, which is accepted too (constant time either way).
 *
 * The payload names the repository key and the image, not the host clients
 * pull from: the host is the configured base_url, else the payload's
 * jpd_origin (the platform URL). Clients usually pull through a virtual
 * repository, whose key is the receiver's virtual_repo. */
#include <string.h>

#include "hookbus/util.h"
#include "receivers/receiver.h"

enum { OPT_BASE_URL, OPT_VIRTUAL_REPO };
static const char *const options[] = {"base_url", "virtual_repo", NULL};

static int artifactory_configure(struct gw_receiver *r, const struct hb_config *cfg,
                                 const struct hb_node *node, char *err, size_t errlen)
{
    return gw_options_configure(r, cfg, node, options, NULL, err, errlen);
}

static int artifactory_verify(const struct gw_receiver *r, const struct gw_request *req,
                              const char **reason)
{
    const char *auth = req->header(req, "X-JFrog-Event-Auth");
    if (!auth || !*auth) {
        *reason = "X-JFrog-Event-Auth missing";
        return -1;
    }
    bool hmac_ok = gw_auth_hmac_hex(r, req, "X-JFrog-Event-Auth", NULL, "sha256", reason) == 0;
    bool plain_ok = gw_secret_equals(r, auth, strlen(auth));
    if (hmac_ok || plain_ok)
        return 0;
    *reason = "X-JFrog-Event-Auth is neither the body's HMAC nor the secret";
    return -1;
}

/* Before the body: the secret itself in X-JFrog-Event-Auth is authentic at
 * once; anything else may be the body's HMAC, which waits for the body. */
static int artifactory_verify_headers(const struct gw_receiver *r, const struct gw_request *req,
                                      const char **reason)
{
    (void)reason;
    const char *auth = req->header(req, "X-JFrog-Event-Auth");
    return auth && *auth && gw_secret_equals(r, auth, strlen(auth)) ? GW_AUTH_OK : GW_AUTH_BODY;
}

/* data of a docker "pushed" event: repo_key, image_name, tag, sha256 (of the
 * manifest, i.e. its digest). */
static void artifactory_pushed(struct gw_ctx *ctx, const cJSON *root, const cJSON *data)
{
    char host[256], image[768], digest[80];
    const char *repo_key = gw_json_str(data, "repo_key");
    const char *name = gw_json_str(data, "image_name");
    const char *tag = gw_json_str(data, "tag");
    const char *sha = gw_json_str(data, "sha256");
    const char *base = gw_option(ctx->rcv, OPT_BASE_URL);
    const char *vrepo = gw_option(ctx->rcv, OPT_VIRTUAL_REPO);
    if (!base)
        base = gw_json_str(root, "jpd_origin");
    if (!repo_key || !name) {
        gw_bad_request(ctx, "Artifactory docker event has no data.repo_key or data.image_name");
        return;
    }
    if (!tag) {
        gw_ignore(ctx, "Artifactory push without a tag is not acted on");
        return;
    }
    if (gw_url_without_scheme(base, host, sizeof(host)) < 0) {
        gw_bad_request(ctx, "no registry host: the payload has no jpd_origin and the receiver "
                            "sets no base_url");
        return;
    }
    if (hb_snprintf(image, sizeof(image), "%s/%s/%s", host, vrepo ? vrepo : repo_key, name) < 0) {
        gw_bad_request(ctx, "image name too long");
        return;
    }
    bool has_digest = sha && hb_snprintf(digest, sizeof(digest), "sha256:%s", sha) == 0;
    struct gw_change ch = gw_image_change("docker.pushed", image, tag, has_digest ? digest : NULL);
    gw_emit(ctx, &ch);
}

static void artifactory_normalize(struct gw_ctx *ctx)
{
    const cJSON *root = gw_body_json(ctx);
    if (!root)
        return;
    const char *domain = gw_json_str(root, "domain");
    const char *event = gw_json_str(root, "event_type");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
    if (!domain || !event || !cJSON_IsObject(data))
        gw_bad_request(ctx, "Artifactory payload has no domain, event_type or data");
    else if (strcmp(domain, "docker") != 0)
        gw_ignore(ctx, "Artifactory %.32s events are not acted on", domain);
    else if (strcmp(event, "pushed") != 0)
        gw_ignore(ctx, "Artifactory docker event '%.32s' is not acted on", event);
    else
        artifactory_pushed(ctx, root, data);
}

const struct gw_receiver_type gw_receiver_artifactory = {
    .type = "artifactory",
    .provider = "artifactory",
    .options = options,
    .configure = artifactory_configure,
    .verify = artifactory_verify,
    .verify_headers = artifactory_verify_headers,
    .normalize = artifactory_normalize,
    .destroy = gw_options_destroy,
};
