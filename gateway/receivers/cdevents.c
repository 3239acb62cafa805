/* cdevents.c: CDEvents (https://cdevents.dev) over HTTP, i.e. CloudEvents
 * whose type is dev.cdevents.<subject>.<predicate>.<version> and whose data
 * is the CDEvent {"context", "subject"}: structured, binary, or the bare
 * CDEvent. Mapped to hookbus events (README: "CDEvents mapping"):
 *
 *   branch.created                  -> dev.hookbus.git.push (refs/heads/<id>)
 *   branch.deleted                  -> dev.hookbus.git.push, deleted
 *   change.merged                   -> dev.hookbus.source.changed (the merge
 *                                      target is not in the event)
 *   repository.created / .modified  -> dev.hookbus.source.changed
 *   artifact.published              -> dev.hookbus.image.push for pkg:oci and
 *                                      pkg:docker purls
 *
 * Every other CDEvent (pipelines, tests, changes in review, ...) is answered
 * 200 and ignored. Authenticated by the shared token check or the key route;
 * the CloudEvent's id (else context.id) is the delivery id. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hookbus/util.h"
#include "receivers/receiver.h"

#define PREFIX "dev.cdevents."

/* True when type (without PREFIX) is "<what>.<version>". */
static bool is(const char *type, const char *what)
{
    size_t n = strlen(what);
    return strncmp(type, what, n) == 0 && (type[n] == '.' || type[n] == '\0');
}

/* The URL of a repository object {id, source} (or {url, viewUrl, name, owner}
 * of repository events) into out. NULL when it names none. */
static const char *repo_url(const cJSON *repo, char *out, size_t outlen)
{
    const char *url = gw_json_str(repo, "url");
    const char *view = gw_json_str(repo, "viewUrl");
    const char *id = gw_json_str(repo, "id");
    const char *source = gw_json_str(repo, "source");
    /* The https form when there is one: it is what Warehouses mostly use, and
     * an ssh URL on a non-standard port gives another id. */
    if (url && (hb_str_has_prefix(url, "https://") || hb_str_has_prefix(url, "http://") || !view))
        return url;
    if (view)
        return view;
    if (id && strstr(id, "://"))
        return id;
    if (id && source && hb_snprintf(out, outlen, "%s/%s", source, id) == 0) {
        size_t sl = strlen(source);
        /* "https://git.example/" + "/" + "org/app": drop the double slash. */
        if (sl && source[sl - 1] == '/')
            memmove(out + sl, out + sl + 1, strlen(out + sl + 1) + 1);
        return out;
    }
    return NULL;
}

static void on_branch(struct gw_ctx *ctx, const cJSON *subject, bool deleted, const char *type)
{
    char url[1024], ref[512];
    const char *branch = gw_json_str(subject, "id");
    const char *r = repo_url(gw_json_get(subject, "content.repository"), url, sizeof(url));
    if (!branch || !r) {
        gw_bad_request(ctx, "branch CDEvent has no subject.id or content.repository");
        return;
    }
    const char *prefix = hb_str_has_prefix(branch, "refs/") ? "" : "refs/heads/";
    if (hb_snprintf(ref, sizeof(ref), "%s%s", prefix, branch) < 0) {
        gw_bad_request(ctx, "branch name too long");
        return;
    }
    struct gw_change ch = {.deleted = deleted, .provider_event = type, .repo_url = r, .ref = ref};
    gw_emit_ref(ctx, &ch);
}

static void on_source_changed(struct gw_ctx *ctx, const cJSON *repo, const char *type)
{
    char url[1024];
    struct gw_change ch = {
        .deleted = -1, .type = "dev.hookbus.source.changed", .provider_event = type};
    ch.repo_url = repo_url(repo, url, sizeof(url));
    ch.urls[0] = gw_json_str(repo, "url");
    ch.urls[1] = gw_json_str(repo, "viewUrl");
    if (!ch.repo_url && !ch.urls[0]) {
        gw_bad_request(ctx, "CDEvent names no repository");
        return;
    }
    gw_emit(ctx, &ch);
}

/* A purl qualifier's decoded value (caller frees), or NULL. */
static char *qualifier(const char *q, const char *key)
{
    size_t kl = strlen(key);
    while (q && *q) {
        size_t n = strcspn(q, "&");
        if (n > kl && strncmp(q, key, kl) == 0 && q[kl] == '=') {
            char *raw = hb_strndup(q + kl + 1, n - kl - 1);
            char *v = raw ? gw_pct_decode(raw) : NULL;
            free(raw);
            return v;
        }
        q += n + (q[n] == '&');
    }
    return NULL;
}

/* artifact.published: subject.id is a package URL. pkg:oci/<name>@<digest>
 * ?repository_url=<registry/path>&tag=<tag>; pkg:docker/<path>@<tag or
 * digest>?repository_url=<registry host> (Docker Hub when absent). */
static void on_artifact(struct gw_ctx *ctx, const cJSON *subject, const char *type)
{
    char image[768];
    const char *purl = gw_json_str(subject, "id");
    char *spec = NULL, *repo = NULL, *tag = NULL, *version = NULL;
    bool oci = purl && hb_str_has_prefix(purl, "pkg:oci/");
    if (!purl) {
        gw_bad_request(ctx, "artifact CDEvent has no subject.id");
        return;
    }
    if (!oci && !hb_str_has_prefix(purl, "pkg:docker/")) {
        gw_ignore(ctx, "artifact '%.100s' is not an OCI or Docker image", purl);
        return;
    }
    const char *path = purl + (oci ? strlen("pkg:oci/") : strlen("pkg:docker/"));
    size_t pl = strcspn(path, "@?#");
    spec = hb_strndup(path, pl);
    const char *at = path[pl] == '@' ? path + pl + 1 : NULL;
    const char *q = strchr(path, '?');
    if (at) {
        char *raw = hb_strndup(at, strcspn(at, "?#"));
        version = raw ? gw_pct_decode(raw) : NULL;
        free(raw);
    }
    repo = q ? qualifier(q + 1, "repository_url") : NULL;
    tag = q ? qualifier(q + 1, "tag") : NULL;
    int rc;
    if (oci)
        rc = repo ? hb_snprintf(image, sizeof(image), "%s", repo) : -1;
    else
        rc = hb_snprintf(image, sizeof(image), "%s/%s", repo ? repo : "docker.io",
                         spec ? spec : "");
    bool digest = version && strchr(version, ':');
    if (!tag && version && !digest)
        tag = strdup(version); /* pkg:docker/<path>@<tag> */
    struct gw_change ch = gw_image_change(type, image, tag, digest ? version : NULL);
    if (rc < 0 || !spec || !*spec)
        gw_bad_request(ctx, "artifact purl '%.100s' names no image (pkg:oci needs repository_url)",
                       purl);
    else if (!ch.tag && !ch.digest)
        gw_ignore(ctx, "artifact purl names neither a tag nor a digest");
    else
        gw_emit(ctx, &ch);
    free(spec);
    free(repo);
    free(tag);
    free(version);
}

static void cdevents_normalize(struct gw_ctx *ctx)
{
    const struct gw_request *req = ctx->req;
    const cJSON *root = gw_body_json(ctx);
    if (!root)
        return;
    const char *type = req->header(req, "ce-type");
    const char *id = req->header(req, "ce-id");
    const cJSON *cdevent = root;
    if (!type && gw_json_str(root, "specversion")) {
        type = gw_json_str(root, "type");
        id = gw_json_str(root, "id");
        cdevent = cJSON_GetObjectItemCaseSensitive(root, "data");
    } else if (!type) {
        type = gw_json_str(root, "context.type");
        id = gw_json_str(root, "context.id");
    }
    gw_set_delivery_id(ctx, id);
    const cJSON *subject = cJSON_GetObjectItemCaseSensitive(cdevent, "subject");
    if (!type) {
        gw_bad_request(ctx, "no CloudEvent type and no CDEvent context.type");
        return;
    }
    if (!hb_str_has_prefix(type, PREFIX)) {
        gw_ignore(ctx, "'%.64s' is not a CDEvent", type);
        return;
    }
    const char *t = type + strlen(PREFIX);
    bool known = is(t, "branch.created") || is(t, "branch.deleted") || is(t, "change.merged") ||
                 is(t, "repository.created") || is(t, "repository.modified") ||
                 is(t, "artifact.published");
    if (!known) {
        gw_ignore(ctx, "CDEvent '%.64s' is not acted on", type);
        return;
    }
    if (!cJSON_IsObject(subject)) {
        gw_bad_request(ctx, "CDEvent has no subject");
        return;
    }
    if (is(t, "branch.created") || is(t, "branch.deleted"))
        on_branch(ctx, subject, is(t, "branch.deleted"), type);
    else if (is(t, "change.merged"))
        on_source_changed(ctx, gw_json_get(subject, "content.repository"), type);
    else if (is(t, "artifact.published"))
        on_artifact(ctx, subject, type);
    else
        on_source_changed(ctx, gw_json_get(subject, "content"), type);
}

const struct gw_receiver_type gw_receiver_cdevents = {
    .type = "cdevents",
    .provider = "cdevents",
    .normalize = cdevents_normalize,
};
