/* oci.c: the tags of one OCI registry repository and the manifest digest of
 * each (Distribution API: GET tags/list, paged by Link headers, then HEAD
 * on each tag's manifest). A tag new or moved since the last poll has its
 * manifest read (GET) once: a config of media type
 * application/vnd.cncf.helm.config.v1+json makes it a Helm chart, published
 * as chart.push as the registries' webhooks are. Credentials: basic, a static bearer token, or
 * the anonymous / basic-authenticated token flow Docker Hub, GHCR and Quay
 * answer a 401 with (WWW-Authenticate: Bearer realm=...,service=...,scope=...). */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hookbus/log.h"
#include "hookbus/util.h"
#include "poller.h"

#define PL_OCI_MAX_PAGES 1000
#define PL_HELM_CONFIG_MEDIA_TYPE "application/vnd.cncf.helm.config.v1+json"

/* A tag as the Distribution spec allows it: [A-Za-z0-9_][A-Za-z0-9._-]{0,127}.
 * Anything else a registry lists is skipped (it goes into a URL and an
 * event attribute). */
static bool tag_valid(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n > 128 || t[0] == '.' || t[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}
#define PL_URL_MAX 4096

static const char manifest_types[] =
    "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.docker.distribution.manifest.v2+json";

/* Copies the value of one auth-param (quoted or token) into out. */
static void param(const char *h, const char *name, char *out, size_t outlen)
{
    out[0] = '\0';
    size_t nl = strlen(name);
    for (const char *p = h; (p = strcasestr(p, name)) != NULL; p += nl) {
        bool start = p == h || p[-1] == ' ' || p[-1] == ',';
        if (!start || p[nl] != '=')
            continue;
        const char *v = p + nl + 1;
        size_t n;
        if (*v == '"') {
            v++;
            const char *e = strchr(v, '"');
            n = e ? (size_t)(e - v) : strlen(v);
        } else {
            n = strcspn(v, ", ");
        }
        if (n < outlen) {
            memcpy(out, v, n);
            out[n] = '\0';
        }
        return;
    }
}

int pl_oci_parse_challenge(const char *h, char *realm, size_t rlen, char *service, size_t slen,
                           char *scope, size_t sclen)
{
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return -1;
    param(h + 7, "realm", realm, rlen);
    param(h + 7, "service", service, slen);
    param(h + 7, "scope", scope, sclen);
    return *realm ? 0 : -1;
}

int pl_oci_next_link(const char *link, const char *base, char *out, size_t outlen)
{
    if (!link || !strstr(link, "rel=\"next\""))
        return -1;
    const char *a = strchr(link, '<'), *b = a ? strchr(a, '>') : NULL;
    if (!a || !b || b == a + 1)
        return -1;
    int n;
    if (a[1] == '/')
        n = snprintf(out, outlen, "%s%.*s", base, (int)(b - a - 1), a + 1);
    else if (strncmp(a + 1, "http://", 7) == 0 || strncmp(a + 1, "https://", 8) == 0)
        n = snprintf(out, outlen, "%.*s", (int)(b - a - 1), a + 1);
    else
        return -1;
    return n > 0 && (size_t)n < outlen ? 0 : -1;
}

/* Fetches a registry token for the challenge (with the source's basic
 * credentials when it has them) into src->bearer_cache. 0 or -1. */
static int fetch_token(struct pl_source *src, struct pl_http *h, const char *challenge, char *err,
                       size_t errlen)
{
    char realm[1024], service[256], scope[512], url[PL_URL_MAX];
    int rc = -1;
    struct pl_http_resp r;
    cJSON *j = NULL;
    if (pl_oci_parse_challenge(challenge, realm, sizeof(realm), service, sizeof(service), scope,
                               sizeof(scope)) < 0) {
        snprintf(err, errlen, "HTTP 401 without a Bearer challenge");
        return -1;
    }
    char *es = curl_easy_escape(NULL, service, 0), *esc = curl_easy_escape(NULL, scope, 0);
    int n = snprintf(url, sizeof(url), "%s%sservice=%s%s%s", realm, strchr(realm, '?') ? "&" : "?",
                     es ? es : "", *scope ? "&scope=" : "", *scope && esc ? esc : "");
    curl_free(es);
    curl_free(esc);
    if (n < 0 || (size_t)n >= sizeof(url)) {
        snprintf(err, errlen, "token realm too long");
        return -1;
    }
    const struct pl_http_opts o = {
        .user = src->user, .password = src->password.value, .insecure = src->insecure_skip_verify};
    if (pl_http_do(h, url, &o, &r, err, errlen) < 0)
        return -1;
    if (r.status != 200) {
        snprintf(err, errlen, "token request: HTTP %ld", r.status);
        goto done;
    }
    j = cJSON_ParseWithLength(r.body, r.body_len);
    const char *t = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "token"));
    if (!t)
        t = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "access_token"));
    if (!t || !*t) {
        snprintf(err, errlen, "token request: no token in the answer");
        goto done;
    }
    free(src->bearer_cache);
    if (!(src->bearer_cache = strdup(t))) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    rc = 0;
done:
    cJSON_Delete(j);
    pl_http_resp_free(&r);
    return rc;
}

/* A registry request with the source's credentials; a 401 with a Bearer
 * challenge gets a token and is tried once more. */
/* accept: the Accept header, manifest_types for a manifest. */
static int request(struct pl_source *src, struct pl_http *h, const char *url, bool head,
                   const char *accept, struct pl_http_resp *r, char *err, size_t errlen)
{
    for (int attempt = 0;; attempt++) {
        struct pl_http_opts o = {
            .accept = accept, .head = head, .insecure = src->insecure_skip_verify};
        if (src->token.value)
            o.bearer = src->token.value;
        else if (src->bearer_cache)
            o.bearer = src->bearer_cache;
        else if (src->user) {
            o.user = src->user;
            o.password = src->password.value;
        }
        if (pl_http_do(h, url, &o, r, err, errlen) < 0)
            return -1;
        if (r->status != 401 || attempt > 0 || src->token.value || !r->www_authenticate ||
            strncasecmp(r->www_authenticate, "Bearer ", 7) != 0)
            return 0;
        char *challenge = strdup(r->www_authenticate);
        pl_http_resp_free(r);
        int rc = challenge ? fetch_token(src, h, challenge, err, errlen) : -1;
        free(challenge);
        if (rc < 0)
            return -1;
    }
}

/* Reads the manifest at url: *chart when its config is a Helm chart's. 0,
 * or -1 with err. */
static int is_chart(struct pl_source *src, struct pl_http *h, const char *url, bool *chart,
                    char *err, size_t errlen)
{
    struct pl_http_resp r = {0};
    if (request(src, h, url, false, manifest_types, &r, err, errlen) < 0)
        return -1;
    if (r.status == 404) { /* deleted since the HEAD: an image push as far as we know */
        pl_http_resp_free(&r);
        return 0;
    }
    if (r.status != 200) {
        snprintf(err, errlen, "GET manifest: HTTP %ld", r.status);
        pl_http_resp_free(&r);
        return -1;
    }
    cJSON *m = cJSON_ParseWithLength(r.body, r.body_len);
    const char *mt = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(m, "config"), "mediaType"));
    *chart = mt && strcmp(mt, PL_HELM_CONFIG_MEDIA_TYPE) == 0;
    cJSON_Delete(m);
    pl_http_resp_free(&r);
    return 0;
}

int pl_oci_list(struct pl_source *src, struct pl_http *h, struct pl_snapshot *s, char *err,
                size_t errlen)
{
    struct hb_image_ref ref;
    char base[300], url[PL_URL_MAX];
    struct pl_snapshot tags = {0};
    struct pl_http_resp r = {0};
    cJSON *j = NULL;
    int rc = -1;
    if (hb_repo_image_parse(src->url, &ref) < 0) {
        snprintf(err, errlen, "not an image reference");
        return -1;
    }
    const char *api = strcmp(ref.registry, "docker.io") == 0 ? "registry-1.docker.io"
                                                             : ref.registry;
    snprintf(base, sizeof(base), "%s://%s", src->plain_http ? "http" : "https", api);
    snprintf(url, sizeof(url), "%s/v2/%s/tags/list?n=1000", base, ref.path);
    for (int page = 0; page < PL_OCI_MAX_PAGES; page++) {
        if (request(src, h, url, false, "application/json", &r, err, errlen) < 0)
            goto done;
        if (r.status != 200) {
            snprintf(err, errlen, "GET tags/list: HTTP %ld", r.status);
            goto done;
        }
        j = cJSON_ParseWithLength(r.body, r.body_len);
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(j, "tags");
        if (!j || (!cJSON_IsArray(list) && !cJSON_IsNull(list) && list)) {
            snprintf(err, errlen, "tags/list: not a tag list");
            goto done;
        }
        const cJSON *t;
        cJSON_ArrayForEach (t, list) {
            if (cJSON_IsString(t) && tag_valid(t->valuestring) &&
                pl_snapshot_add(&tags, t->valuestring, "") < 0) {
                snprintf(err, errlen, "more than %d tags", PL_MAX_ITEMS);
                goto done;
            }
        }
        cJSON_Delete(j);
        j = NULL;
        int more = pl_oci_next_link(r.link, base, url, sizeof(url)) == 0;
        pl_snapshot_filter(&tags, pl_source_wants, src); /* no HEAD for a tag not tracked */
        pl_http_resp_free(&r);
        if (!more)
            break;
    }
    for (size_t i = 0; i < tags.n; i++) {
        snprintf(url, sizeof(url), "%s/v2/%s/manifests/%s", base, ref.path, tags.items[i].name);
        if (request(src, h, url, true, manifest_types, &r, err, errlen) < 0)
            goto done;
        if (r.status == 404) { /* deleted since the list */
            pl_http_resp_free(&r);
            continue;
        }
        if (r.status != 200 || !r.digest) {
            snprintf(err, errlen, "HEAD manifests/%s: HTTP %ld%s", tags.items[i].name, r.status,
                     r.status == 200 ? " without Docker-Content-Digest" : "");
            goto done;
        }
        if (pl_snapshot_add(s, tags.items[i].name, r.digest) < 0) {
            snprintf(err, errlen, "out of memory");
            goto done;
        }
        /* Only a change is published: only a change's manifest is read. */
        const char *was = src->known ? pl_snapshot_get(&src->seen, tags.items[i].name) : NULL;
        bool changed = src->known && (!was || strcmp(was, r.digest) != 0);
        pl_http_resp_free(&r);
        if (changed && is_chart(src, h, url, &s->items[s->n - 1].chart, err, errlen) < 0)
            goto done;
    }
    pl_snapshot_sort(s);
    rc = 0;
done:
    cJSON_Delete(j);
    pl_http_resp_free(&r);
    pl_snapshot_free(&tags);
    return rc;
}
