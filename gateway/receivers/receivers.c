/* receivers.c: the receiver table and the helpers every receiver shares:
 * authentication (key route, token, HMAC), body parsing, and building the
 * normalized CloudEvent of DESIGN section 4 from a struct gw_change. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hookbus/change.h"
#include "hookbus/crypto.h"
#include "hookbus/format.h"
#include "hookbus/repo.h"
#include "hookbus/trace.h"
#include "hookbus/util.h"
#include "receivers/receiver.h"

static const struct gw_receiver_type *const types[] = {
    &gw_receiver_github,
    &gw_receiver_gitlab,
    &gw_receiver_gitea,
    &gw_receiver_bitbucket,
    &gw_receiver_bitbucket_server,
    &gw_receiver_azure_devops,
    &gw_receiver_generic,
    &gw_receiver_cloudevents,
    &gw_receiver_dockerhub,
    &gw_receiver_quay,
    &gw_receiver_harbor,
    &gw_receiver_distribution,
    &gw_receiver_gitlab_registry,
    &gw_receiver_acr,
    &gw_receiver_artifactory,
    &gw_receiver_nexus,
    &gw_receiver_aliyun_acr,
    &gw_receiver_ecr,
    &gw_receiver_gar,
    &gw_receiver_generic_hmac,
    &gw_receiver_cdevents,
    &gw_receiver_opaque,
    &gw_receiver_standard_webhooks,
    &gw_receiver_zot,
    &gw_receiver_gerrit,
    &gw_receiver_sourcehut,
    &gw_receiver_azure_eventgrid,
    &gw_receiver_aws_sns,
};

const struct gw_receiver_type *gw_receiver_type_find(const char *type)
{
    for (size_t i = 0; i < HB_ARRAY_LEN(types); i++)
        if (strcmp(types[i]->type, type) == 0)
            return types[i];
    return NULL;
}

void gw_receiver_types_list(char *out, size_t outlen)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < HB_ARRAY_LEN(types) && o < outlen; i++) {
        int n = snprintf(out + o, outlen - o, "%s%s", i ? ", " : "", types[i]->type);
        if (n < 0)
            break;
        o += (size_t)n;
    }
}

/* ---- type options ---- */

struct gw_options {
    size_t n;
    char *v[];
};

int gw_options_configure(struct gw_receiver *r, const struct hb_config *cfg,
                         const struct hb_node *node, const char *const *keys,
                         const char *const *required, char *err, size_t errlen)
{
    size_t n = 0;
    while (keys[n])
        n++;
    struct gw_options *o = calloc(1, sizeof(*o) + n * sizeof(char *));
    if (!o)
        return hb_config_error(cfg, node, err, errlen, "out of memory");
    o->n = n;
    r->priv = o;
    for (size_t i = 0; i < n; i++) {
        const struct hb_node *v = hb_node_get(node, keys[i]);
        if (!v)
            continue;
        if (v->type != HB_NODE_SCALAR || !*v->value)
            return hb_config_error(cfg, v, err, errlen, "receivers[%s].%s: must be a string",
                                   r->name, keys[i]);
        if (!(o->v[i] = strdup(v->value)))
            return hb_config_error(cfg, v, err, errlen, "out of memory");
    }
    for (size_t i = 0; required && required[i]; i++)
        for (size_t k = 0; k < n; k++)
            if (strcmp(keys[k], required[i]) == 0 && !o->v[k])
                return hb_config_error(cfg, node, err, errlen,
                                       "receivers[%s].%s: required for type %s", r->name, keys[k],
                                       r->type->type);
    return 0;
}

const char *gw_option(const struct gw_receiver *r, size_t i)
{
    const struct gw_options *o = r->priv;
    return o && i < o->n ? o->v[i] : NULL;
}

void gw_options_destroy(struct gw_receiver *r)
{
    struct gw_options *o = r->priv;
    for (size_t i = 0; o && i < o->n; i++)
        free(o->v[i]);
    free(o);
    r->priv = NULL;
}

const char *const gw_repository_option[] = {"repository", NULL};

void gw_receiver_options_help(void (*emit)(void *arg, const char *line), void *arg)
{
    char line[256];
    for (size_t i = 0; i < HB_ARRAY_LEN(types); i++) {
        const char *const *o = types[i]->options;
        if (!o || !*o)
            continue;
        size_t n = (size_t)snprintf(line, sizeof(line), "%s:", types[i]->type);
        for (size_t k = 0; o[k] && n < sizeof(line); k++)
            n += (size_t)snprintf(line + n, sizeof(line) - n, "%s %s", k ? "," : "", o[k]);
        emit(arg, line);
    }
}

int gw_configure_repository(struct gw_receiver *r, const struct hb_config *cfg,
                            const struct hb_node *node, bool need, char *err, size_t errlen)
{
    char id[HB_REPO_ID_MAX];
    const struct hb_node *repo = hb_node_get(node, gw_repository_option[0]);
    if (!repo && !need)
        return 0;
    if (!repo || repo->type != HB_NODE_SCALAR || !*repo->value)
        return hb_config_error(cfg, repo ? repo : node, err, errlen,
                               "receivers[%s].repository: %s a repository URL", r->name,
                               need ? "required:" : "must be");
    if (hb_repo_git_id(repo->value, id, sizeof(id)) < 0 &&
        hb_repo_image_id(repo->value, id, sizeof(id)) < 0)
        return hb_config_error(cfg, repo, err, errlen,
                               "receivers[%s].repository: '%s' is not a repository URL", r->name,
                               repo->value);
    r->repository = strdup(repo->value);
    return r->repository ? 0 : hb_config_error(cfg, repo, err, errlen, "out of memory");
}

int gw_url_without_scheme(const char *url, char *out, size_t outlen)
{
    const char *p = url ? strstr(url, "://") : NULL;
    p = p ? p + 3 : url;
    if (!p || hb_strlcpy(out, p, outlen) < 0)
        return -1;
    size_t n = strlen(out);
    while (n && out[n - 1] == '/')
        out[--n] = '\0';
    return n ? 0 : -1;
}

char *gw_pct_decode(const char *v)
{
    size_t n = strlen(v), o = 0;
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned char hi, lo;
        if (v[i] == '%' && i + 2 < n && isxdigit(hi = (unsigned char)v[i + 1]) &&
            isxdigit(lo = (unsigned char)v[i + 2])) {
            char hex[3] = {(char)hi, (char)lo, 0};
            out[o++] = (char)strtol(hex, NULL, 16);
            i += 2;
        } else {
            out[o++] = v[i];
        }
    }
    out[o] = '\0';
    return out;
}

/* ---- authentication ---- */

bool gw_key_valid(const struct gw_receiver *r, const char *key)
{
    bool ok = false;
    char want[65];
    size_t klen = strlen(key);
    for (size_t i = 0; i < r->nsecrets; i++) {
        hb_sha256_hex2(r->name, strlen(r->name), r->secrets[i].value, r->secrets[i].len, want);
        /* Lowercase hex by contract; compare every secret, no early exit. */
        ok |= hb_ct_equal(key, klen, want, 64);
    }
    return ok;
}

bool gw_secret_equals(const struct gw_receiver *r, const char *v, size_t n)
{
    bool ok = false;
    for (size_t i = 0; i < r->nsecrets; i++)
        ok |= hb_ct_equal(v, n, r->secrets[i].value, r->secrets[i].len);
    return ok;
}

int gw_auth_token(const struct gw_receiver *r, const struct gw_request *req, const char **reason)
{
    const char *auth = req->header(req, "Authorization");
    if (auth) {
        if (gw_secret_equals(r, auth, strlen(auth)))
            return 0;
        const char *t = hb_bearer_token(auth);
        if (t) {
            if (gw_secret_equals(r, t, strlen(t)))
                return 0;
        } else if (strncasecmp(auth, "Basic ", 6) == 0) {
            size_t n;
            const char *b = auth + 6;
            unsigned char *dec = hb_base64_decode(b, strlen(b), &n);
            if (dec) {
                const char *colon = memchr(dec, ':', n);
                bool ok = colon &&
                          gw_secret_equals(r, colon + 1, n - (size_t)(colon + 1 - (char *)dec));
                free(dec);
                if (ok)
                    return 0;
            }
        }
    }
    if (r->token_header) {
        const char *v = req->header(req, r->token_header);
        if (v && gw_secret_equals(r, v, strlen(v)))
            return 0;
        if (!auth && !v) {
            *reason = "no token in Authorization or the token header";
            return -1;
        }
    } else if (!auth) {
        *reason = "no Authorization header";
        return -1;
    }
    *reason = "token does not match";
    return -1;
}

/* The index of alg in a receiver's hmac_keys, or -1. */
static int hmac_alg_index(const char *alg)
{
    static const char *const algs[GW_HMAC_ALGS] = {"sha1", "sha256", "sha512"};
    for (int i = 0; i < GW_HMAC_ALGS; i++)
        if (strcmp(alg, algs[i]) == 0)
            return i;
    return -1;
}

int gw_receiver_hmac_keys(struct gw_receiver *r)
{
    static const char *const algs[GW_HMAC_ALGS] = {"sha1", "sha256", "sha512"};
    if (!r->nsecrets)
        return 0;
    r->hmac_keys = calloc(r->nsecrets * GW_HMAC_ALGS, sizeof(*r->hmac_keys));
    if (!r->hmac_keys)
        return -1;
    for (size_t i = 0; i < r->nsecrets; i++)
        for (size_t a = 0; a < GW_HMAC_ALGS; a++)
            if (!(r->hmac_keys[i * GW_HMAC_ALGS + a] = hb_hmac_key_new(algs[a], r->secrets[i].value,
                                                                       r->secrets[i].len)))
                return -1;
    return 0;
}

void gw_receiver_hmac_keys_free(struct gw_receiver *r)
{
    for (size_t i = 0; r->hmac_keys && i < r->nsecrets * GW_HMAC_ALGS; i++)
        hb_hmac_key_free(r->hmac_keys[i]);
    free(r->hmac_keys);
    r->hmac_keys = NULL;
}

/* HMAC of the body with secret i of r: its ready key when there is one. */
static int body_hmac(const struct gw_receiver *r, size_t i, const char *alg,
                     const struct gw_request *req, unsigned char mac[HB_MAX_MD])
{
    int a = hmac_alg_index(alg);
    if (r->hmac_keys && a >= 0)
        return hb_hmac_key_mac(r->hmac_keys[i * GW_HMAC_ALGS + (size_t)a], req->body, req->body_len,
                               mac);
    return hb_hmac(alg, r->secrets[i].value, r->secrets[i].len, req->body, req->body_len, mac);
}

int gw_auth_hmac_hex(const struct gw_receiver *r, const struct gw_request *req, const char *header,
                     const char *prefix, const char *alg, const char **reason)
{
    const char *sig = req->header(req, header);
    if (!sig || !*sig) {
        *reason = "signature header missing";
        return -1;
    }
    size_t pl = prefix ? strlen(prefix) : 0;
    if (pl && strncasecmp(sig, prefix, pl) != 0) {
        *reason = "signature header has an unexpected format";
        return -1;
    }
    sig += pl;
    bool ok = false;
    for (size_t i = 0; i < r->nsecrets; i++) {
        unsigned char mac[HB_MAX_MD];
        int n = body_hmac(r, i, alg, req, mac);
        if (n > 0)
            ok |= hb_ct_equal_hex(sig, strlen(sig), mac, (size_t)n);
    }
    if (!ok) {
        *reason = "signature does not match";
        return -1;
    }
    return 0;
}

int gw_authenticate(const struct gw_receiver *r, const struct gw_request *req, const char **reason)
{
    if (req->key_route || r->insecure_no_auth)
        return 0;
    if (r->type->verify)
        return r->type->verify(r, req, reason);
    return gw_auth_token(r, req, reason);
}

int gw_authenticate_headers(const struct gw_receiver *r, const struct gw_request *req,
                            const char **reason)
{
    if (req->key_route)
        return GW_AUTH_OK;
    if (r->insecure_no_auth)
        return GW_AUTH_BODY;
    if (r->type->verify_headers)
        return r->type->verify_headers(r, req, reason);
    if (r->type->verify)
        return GW_AUTH_BODY;
    return gw_auth_token(r, req, reason) == 0 ? GW_AUTH_OK : GW_AUTH_REFUSED;
}

/* ---- statuses ---- */

static void vset(struct gw_ctx *ctx, int status, const char *fmt, va_list ap)
{
    ctx->status = status;
    vsnprintf(ctx->message, sizeof(ctx->message), fmt, ap);
}

void gw_set_status(struct gw_ctx *ctx, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vset(ctx, status, fmt, ap);
    va_end(ap);
}

void gw_ignore(struct gw_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vset(ctx, 200, fmt, ap);
    va_end(ap);
}

void gw_bad_request(struct gw_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vset(ctx, 400, fmt, ap);
    va_end(ap);
}

bool gw_set_delivery_id(struct gw_ctx *ctx, const char *id)
{
    /* It becomes the event id: only a valid CloudEvents String is kept. */
    if (!id || !*id || strlen(id) >= sizeof(ctx->delivery_id) ||
        !hb_attr_value_valid(id, HB_ATTR_STRING))
        return false;
    hb_strlcpy(ctx->delivery_id, id, sizeof(ctx->delivery_id));
    return true;
}

void gw_take_delivery_id(struct gw_ctx *ctx, const char *header)
{
    gw_set_delivery_id(ctx, ctx->req->header(ctx->req, header));
}

/* ---- JSON ---- */

const cJSON *gw_json_get(const cJSON *obj, const char *path)
{
    char part[96];
    while (obj && *path) {
        size_t l = strcspn(path, ".");
        if (l >= sizeof(part))
            return NULL;
        memcpy(part, path, l);
        part[l] = '\0';
        obj = cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, part) : NULL;
        path += l + (path[l] == '.');
    }
    return obj;
}

const char *gw_json_str(const cJSON *obj, const char *path)
{
    const cJSON *v = gw_json_get(obj, path);
    return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

bool gw_is_manifest_media_type(const char *media_type)
{
    static const char *const prefixes[] = {"application/vnd.docker.distribution.manifest.",
                                           "application/vnd.oci.image.manifest.",
                                           "application/vnd.oci.image.index."};
    for (size_t i = 0; media_type && i < HB_ARRAY_LEN(prefixes); i++)
        if (hb_str_has_prefix(media_type, prefixes[i]))
            return true;
    return false;
}

/* Union of commits[].added/modified/removed, in order, without duplicates and
 * at most GW_MAX_CHANGED_PATHS long (then *truncated is set; the caller sets it
 * first when the sender itself cut the commit list). Caller deletes. */
/* A commit's "added", "modified" and "removed" arrays, in that order, from
 * one walk over its members (a lookup each walked them three times). */
static void commit_lists(const cJSON *commit, const cJSON *lists[3])
{
    static const char *const names[] = {"added", "modified", "removed"};
    lists[0] = lists[1] = lists[2] = NULL;
    const cJSON *m;
    cJSON_ArrayForEach (m, commit) {
        for (size_t l = 0; m->string && l < HB_ARRAY_LEN(names); l++)
            if (!lists[l] && m->string[0] == names[l][0] && strcmp(m->string, names[l]) == 0)
                lists[l] = m;
    }
}

cJSON *gw_changed_paths(const cJSON *commits, bool *truncated)
{
    /* The paths seen so far, in an open-addressing set at most half full:
     * a push of many commits over many files must not cost a comparison per
     * pair. Sized to the paths listed (at most the cap are kept): on the
     * stack for a usual push, never more than 2048 slots. */
    enum { STACK_SLOTS = 256, MAX_SLOTS = 2048 };
    _Static_assert(MAX_SLOTS >= 2 * GW_MAX_CHANGED_PATHS, "set too small for the path cap");
    const char *stack[STACK_SLOTS] = {0}, **seen = stack;
    size_t listed = 0, slots = STACK_SLOTS;
    const cJSON *c, *lists[3];
    cJSON_ArrayForEach (c, commits) {
        commit_lists(c, lists);
        for (size_t l = 0; l < 3; l++)
            listed += (size_t)cJSON_GetArraySize(lists[l]);
    }
    if (listed > STACK_SLOTS / 2) {
        slots = MAX_SLOTS;
        if (!(seen = calloc(slots, sizeof(*seen))))
            return NULL;
    }
    cJSON *out = cJSON_CreateArray();
    int n = 0;
    cJSON_ArrayForEach (c, commits) {
        commit_lists(c, lists);
        for (size_t l = 0; out && l < 3; l++) {
            const cJSON *p;
            cJSON_ArrayForEach (p, lists[l]) {
                if (!cJSON_IsString(p))
                    continue;
                size_t i = hb_fnv1a(HB_FNV1A_INIT, p->valuestring) & (slots - 1);
                while (seen[i] && strcmp(seen[i], p->valuestring) != 0)
                    i = (i + 1) & (slots - 1);
                if (seen[i])
                    continue;
                if (n == GW_MAX_CHANGED_PATHS) {
                    *truncated = true;
                    goto done;
                }
                cJSON_AddItemToArray(out, cJSON_CreateString(p->valuestring));
                seen[i] = p->valuestring;
                n++;
            }
        }
    }
done:
    if (seen != stack)
        free(seen);
    return out;
}

/* Shared by the git receivers: classifies ch->ref and emits (or ignores). */
int gw_emit_ref(struct gw_ctx *ctx, struct gw_change *ch)
{
    bool deleted = ch->deleted == 1;
    if (!ch->ref) {
        gw_bad_request(ctx, "the payload names no ref");
        return -1;
    }
    if (hb_str_has_prefix(ch->ref, "refs/tags/")) {
        if (deleted) {
            gw_ignore(ctx, "tag deletion (%.200s) is not acted on", ch->ref);
            return 0;
        }
        ch->type = "dev.hookbus.git.tag";
        ch->tag = ch->ref + strlen("refs/tags/");
        ch->deleted = -1;
    } else if (hb_str_has_prefix(ch->ref, "refs/heads/")) {
        ch->type = "dev.hookbus.git.push";
        ch->branch = ch->ref + strlen("refs/heads/");
        ch->deleted = deleted;
    } else {
        gw_ignore(ctx, "update of %.200s is not a branch or tag", ch->ref);
        return 0;
    }
    if (deleted) {
        ch->commit = NULL;
        ch->changed_paths = NULL;
    }
    return gw_emit(ctx, ch);
}

bool gw_github_pull_request(struct gw_ctx *ctx, const cJSON *root, const char *sync,
                            struct gw_pull_request *p)
{
    const char *action = gw_json_str(root, "action");
    const cJSON *pr = cJSON_GetObjectItemCaseSensitive(root, "pull_request");
    bool merged = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(pr, "merged"));
    const char *what = NULL;
    if (!action)
        action = "";
    else if (strcmp(action, "opened") == 0 || strcmp(action, "reopened") == 0)
        what = "opened";
    else if (strcmp(action, sync) == 0)
        what = "updated";
    else if (strcmp(action, "closed") == 0)
        what = merged ? "merged" : "closed";
    if (!what) {
        gw_ignore(ctx, "pull_request action '%.32s' is not acted on", action);
        return false;
    }
    const cJSON *num = cJSON_GetObjectItemCaseSensitive(pr, "number");
    *p = (struct gw_pull_request){
        .action = what,
        .number = cJSON_IsNumber(num) ? (long)num->valuedouble : 0,
        .url = gw_json_str(pr, "html_url"),
        .source_branch = gw_json_str(pr, "head.ref"),
        .target_branch = gw_json_str(pr, "base.ref"),
        .merge_commit = merged ? gw_json_str(pr, "merge_commit_sha") : NULL,
        .title = gw_json_str(pr, "title"),
    };
    return true;
}

int gw_emit_pull_request(struct gw_ctx *ctx, struct gw_change *ch, const struct gw_pull_request *pr)
{
    if (!pr->action || pr->number <= 0) {
        gw_bad_request(ctx, "the pull request has no number or action");
        return -1;
    }
    ch->type = "dev.hookbus.git.pull_request";
    ch->deleted = -1;
    ch->ref = ch->tag = ch->branch = NULL;
    ch->pr = pr;
    int rc = gw_emit(ctx, ch);
    ch->pr = NULL;
    return rc;
}

int gw_emit_push(struct gw_ctx *ctx, struct gw_change *ch, const cJSON *commits, bool truncated)
{
    cJSON *paths = NULL;
    if (ch->deleted != 1 && cJSON_IsArray(commits)) {
        paths = gw_changed_paths(commits, &truncated);
        ch->changed_paths = paths;
        ch->changed_paths_truncated = truncated;
    }
    int rc = gw_emit_ref(ctx, ch);
    ch->changed_paths = NULL;
    cJSON_Delete(paths);
    return rc;
}

void gw_emit_release(struct gw_ctx *ctx, const cJSON *root, struct gw_change *ch)
{
    char ref[512];
    const char *action = gw_json_str(root, "action");
    const char *tag = gw_json_str(root, "release.tag_name");
    if (!action || strcmp(action, "published") != 0) {
        gw_ignore(ctx, "release action '%.32s' is not acted on (only published)",
                  action ? action : "");
        return;
    }
    if (!tag || hb_snprintf(ref, sizeof(ref), "refs/tags/%s", tag) < 0) {
        gw_bad_request(ctx, "release payload has no valid 'release.tag_name'");
        return;
    }
    cJSON *extra = cJSON_CreateObject();
    const char *name = gw_json_str(root, "release.name");
    if (extra && name)
        cJSON_AddStringToObject(extra, "release_name", name);
    if (extra)
        cJSON_AddBoolToObject(extra, "prerelease",
                              cJSON_IsTrue(gw_json_get(root, "release.prerelease")));
    ch->deleted = -1;
    ch->provider_event = "release";
    ch->type = "dev.hookbus.git.release";
    ch->ref = ref;
    ch->tag = tag;
    ch->extra = extra;
    gw_emit(ctx, ch);
    ch->extra = NULL;
    ch->ref = ch->tag = NULL;
    cJSON_Delete(extra);
}

/* True for a missing or all-zero object id (the "no commit" of a deleted ref). */
bool gw_is_zero_sha(const char *sha)
{
    if (!sha || !*sha)
        return true;
    return sha[strspn(sha, "0")] == '\0';
}

/* Parses the body (see gw_body_json; arrays too when any). NULL with a
 * status on ctx. */
static cJSON *parse_json_body(struct gw_ctx *ctx, bool any)
{
    const struct gw_request *req = ctx->req;
    const char *ct = req->content_type;
    cJSON *root = NULL;
    if (strcmp(ct, "application/x-www-form-urlencoded") == 0) {
        size_t n;
        char *payload = hb_form_get((const char *)req->body, req->body_len, "payload", &n);
        if (!payload) {
            gw_bad_request(ctx, "form body has no valid 'payload' field");
            return NULL;
        }
        root = hb_json_parse(payload, n);
        free(payload);
    } else if (!*ct || strcmp(ct, "application/json") == 0 || strcmp(ct, "text/json") == 0 ||
               hb_str_has_suffix(ct, "+json") || strcmp(ct, "text/plain") == 0) {
        root = hb_json_parse((const char *)req->body, req->body_len);
    } else {
        gw_set_status(ctx, 415, "unsupported content type '%.64s' (want application/json)", ct);
        return NULL;
    }
    if (!root) {
        gw_bad_request(ctx, "malformed JSON body");
        return NULL;
    }
    if (!cJSON_IsObject(root) && !(any && cJSON_IsArray(root))) {
        cJSON_Delete(root);
        gw_bad_request(ctx, "the JSON body must be an object%s", any ? " or an array" : "");
        return NULL;
    }
    return root;
}

const cJSON *gw_body_json(struct gw_ctx *ctx)
{
    if (!ctx->body_parsed) {
        ctx->body_parsed = true;
        ctx->body_json = parse_json_body(ctx, false);
    }
    return cJSON_IsObject(ctx->body_json) ? ctx->body_json : NULL;
}

const cJSON *gw_body_json_any(struct gw_ctx *ctx)
{
    if (!ctx->body_parsed) {
        ctx->body_parsed = true;
        ctx->body_json = parse_json_body(ctx, true);
    }
    return ctx->body_json;
}

int gw_reply(struct gw_ctx *ctx, const cJSON *body)
{
    /* Printed into the caller's arena, if any: copied to the heap, since
     * the reply outlives normalize. */
    char *s = cJSON_PrintUnformatted(body);
    free(ctx->reply);
    ctx->reply = s ? strdup(s) : NULL;
    cJSON_free(s);
    if (!ctx->reply) {
        gw_set_status(ctx, 500, "out of memory");
        return -1;
    }
    ctx->status = 200;
    return 0;
}

static void drop_body(struct gw_ctx *ctx)
{
    cJSON_Delete(ctx->body_json);
    ctx->body_json = NULL;
    cJSON_Delete(ctx->data_extra);
    ctx->data_extra = NULL;
}

void gw_normalize(struct gw_ctx *ctx)
{
    ctx->rcv->type->normalize(ctx);
    drop_body(ctx);
}

/* ---- events ---- */

const char *gw_topic_class(const char *type)
{
    if (hb_str_has_prefix(type, "dev.hookbus.git."))
        return "git";
    if (strcmp(type, "dev.hookbus.image.push") == 0 || strcmp(type, "dev.hookbus.chart.push") == 0)
        return "image";
    return "other";
}

static int grow(struct gw_ctx *ctx)
{
    if (ctx->nevents < ctx->cap)
        return 0;
    size_t ncap = ctx->cap ? ctx->cap * 2 : 4;
    if (ncap > 10000)
        return -1;
    struct hb_event **ne = realloc(ctx->events, ncap * sizeof(*ne));
    if (!ne)
        return -1;
    ctx->events = ne;
    bool *nn = realloc(ctx->normalized, ncap * sizeof(*nn));
    if (!nn)
        return -1;
    ctx->normalized = nn;
    ctx->cap = ncap;
    return 0;
}

static int push_event(struct gw_ctx *ctx, struct hb_event *ev, bool normalized)
{
    if (grow(ctx) < 0) {
        hb_event_free(ev);
        gw_set_status(ctx, 413, "too many events in one request");
        return -1;
    }
    ctx->events[ctx->nevents] = ev;
    ctx->normalized[ctx->nevents++] = normalized;
    return 0;
}

int gw_ctx_add_event(struct gw_ctx *ctx, struct hb_event *ev)
{
    return push_event(ctx, ev, false);
}

struct gw_change gw_image_change(const char *provider_event, const char *image, const char *tag,
                                 const char *digest)
{
    return (struct gw_change){.deleted = -1,
                              .type = "dev.hookbus.image.push",
                              .provider_event = provider_event,
                              .repo_url = image,
                              .tag = tag,
                              .digest = digest};
}

int gw_emit(struct gw_ctx *ctx, const struct gw_change *ch)
{
    char source[128], why[128];
    snprintf(source, sizeof(source), "/receivers/%s", ctx->rcv->name);
    const struct hb_change_origin o = {.provider = ctx->rcv->type->provider,
                                       .receiver = ctx->rcv->name,
                                       .source = source,
                                       .time = ctx->time,
                                       .delivery_id = ctx->delivery_id,
                                       .original = ctx->rcv->include_original ? ctx->body_json
                                                                              : NULL,
                                       .extra = ctx->data_extra};
    struct hb_event *ev;
    int rc = hb_change_event(ch, &o, "pending", &ev, why, sizeof(why));
    if (rc == HB_CHANGE_NOMEM)
        gw_set_status(ctx, 500, "out of memory");
    else if (rc == HB_CHANGE_NO_REPO)
        gw_bad_request(ctx, "cannot identify the repository from the payload");
    else if (rc < 0)
        gw_bad_request(ctx, "a field of the payload is too long or invalid");
    if (rc < 0)
        return -1;
    return push_event(ctx, ev, true);
}

/* Trace context (W3C Trace Context as the CloudEvents distributed tracing
 * extension): the request is one span, a child of the sender's traceparent
 * header, or the root of a new trace when there is none or it is invalid (an
 * invalid one never refuses the webhook). Every event carries that span as
 * its traceparent, plus the sender's tracestate when both headers are valid;
 * an event that arrived with a valid traceparent of its own (the cloudevents
 * receiver) keeps its own context. */
static void stamp_trace(struct gw_ctx *ctx)
{
    const struct gw_request *req = ctx->req;
    struct hb_trace in, span;
    const char *state = NULL;
    char tp[HB_TRACEPARENT_SIZE];
    if (req->header && hb_trace_parse(req->header(req, "traceparent"), &in) == 0 &&
        hb_trace_child(&in, &span) == 0) {
        state = req->header(req, "tracestate");
        if (state && !hb_tracestate_valid(state))
            state = NULL;
    } else if (hb_trace_new(&span) < 0) {
        return;
    }
    hb_trace_format(&span, tp);
    (void)hb_hex_decode(span.trace_id, HB_TRACE_ID_HEX, ctx->span_trace_id,
                        sizeof(ctx->span_trace_id));
    (void)hb_hex_decode(span.span_id, HB_SPAN_ID_HEX, ctx->span_id, sizeof(ctx->span_id));
    for (size_t i = 0; i < ctx->nevents; i++) {
        struct hb_event *ev = ctx->events[i];
        struct hb_trace own;
        if (!ctx->normalized[i] && hb_trace_parse(hb_event_get(ev, "traceparent"), &own) == 0) {
            const char *own_state = hb_event_get(ev, "tracestate");
            if (own_state && !hb_tracestate_valid(own_state))
                hb_event_unset(ev, "tracestate");
            continue;
        }
        hb_event_set(ev, "traceparent", tp);
        if (state)
            hb_event_set(ev, "tracestate", state);
        else
            hb_event_unset(ev, "tracestate");
    }
}

void gw_ctx_finish(struct gw_ctx *ctx)
{
    char base[256], id[300];
    size_t nnorm = 0;
    stamp_trace(ctx);
    for (size_t i = 0; i < ctx->nevents; i++)
        nnorm += ctx->normalized[i];
    if (!nnorm)
        return;
    /* Some receivers take the id from the body: it must still be a valid
     * CloudEvents String (no control characters), else the body hash is used. */
    if (ctx->delivery_id[0] && hb_attr_value_valid(ctx->delivery_id, HB_ATTR_STRING))
        hb_strlcpy(base, ctx->delivery_id, sizeof(base));
    else if (!ctx->id_per_request || hb_random_hex(16, base) != 0)
        hb_sha256_hex2(ctx->rcv->name, strlen(ctx->rcv->name), ctx->req->body, ctx->req->body_len,
                       base);
    size_t k = 0;
    for (size_t i = 0; i < ctx->nevents; i++) {
        if (!ctx->normalized[i])
            continue;
        k++;
        if (nnorm == 1)
            snprintf(id, sizeof(id), "%s", base);
        else
            snprintf(id, sizeof(id), "%s/%zu", base, k);
        hb_event_set(ctx->events[i], "id", id);
    }
}

void gw_ctx_clear(struct gw_ctx *ctx)
{
    for (size_t i = 0; i < ctx->nevents; i++)
        hb_event_free(ctx->events[i]);
    free(ctx->events);
    free(ctx->normalized);
    free(ctx->reply);
    ctx->reply = NULL;
    drop_body(ctx);
    ctx->events = NULL;
    ctx->normalized = NULL;
    ctx->nevents = ctx->cap = 0;
}
