/* mapping.c: hookbus image events -> Argo CD Image Updater's webhook request
 * (see mapping.h for the rules Image Updater matches by). */
#include "mapping.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hookbus/repo.h"
#include "hookbus/util.h"

/* The canonical spelling of a registry host given in configuration. */
static int canonical_host(const char *in, char *out, size_t outlen)
{
    char host[IU_REGISTRY_MAX];
    if (!in || !*in || strchr(in, '/') || hb_strlcpy(host, in, sizeof(host)) < 0)
        return -1;
    hb_str_lower(host);
    size_t n = strlen(host);
    if (n > 4 && strcmp(host + n - 4, ":443") == 0)
        host[n - 4] = '\0';
    return hb_strlcpy(out, hb_repo_registry_canonical(host), outlen);
}

int iu_mapping_add_alias(struct iu_mapping *m, const char *from, const char *to, char *err,
                         size_t errlen)
{
    char key[IU_REGISTRY_MAX];
    if (canonical_host(from, key, sizeof(key)) < 0) {
        snprintf(err, errlen, "'%.64s' is not a registry host", from ? from : "");
        return -1;
    }
    if (!to || !*to || strlen(to) >= IU_REGISTRY_MAX || strpbrk(to, "/ \t\r\n")) {
        snprintf(err, errlen, "%s: '%.64s' is not a registry host", key, to ? to : "");
        return -1;
    }
    for (size_t i = 0; i < m->naliases; i++) {
        if (strcmp(m->aliases[i].from, key) == 0) {
            snprintf(err, errlen, "%s: more than one alias for this registry", key);
            return -1;
        }
    }
    struct iu_alias *a = realloc(m->aliases, (m->naliases + 1) * sizeof(*a));
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    m->aliases = a;
    a = &m->aliases[m->naliases];
    a->from = strdup(key);
    a->to = strdup(to);
    if (!a->from || !a->to) {
        free(a->from);
        free(a->to);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    m->naliases++;
    return 0;
}

void iu_mapping_free(struct iu_mapping *m)
{
    for (size_t i = 0; i < m->naliases; i++) {
        free(m->aliases[i].from);
        free(m->aliases[i].to);
    }
    free(m->aliases);
    m->aliases = NULL;
    m->naliases = 0;
}

int iu_map_repo(const struct iu_mapping *m, const char *repo, char *registry, size_t reglen,
                char *repository, size_t repolen)
{
    struct hb_image_ref ref;
    /* A tag or digest in repo would be a gateway bug; the parser drops them. */
    if (!repo || hb_repo_image_parse(repo, &ref) < 0)
        return -1;
    const char *path = ref.path;
    /* Image Updater drops library/ from Docker Hub names unless the image was
     * written as library/x; only a single name below library/ is official. */
    if (m->strip_library && strcmp(ref.registry, "docker.io") == 0 &&
        hb_str_has_prefix(path, "library/") && !strchr(path + 8, '/'))
        path += 8;
    const char *host = ref.registry;
    for (size_t i = 0; i < m->naliases; i++) {
        if (strcmp(m->aliases[i].from, ref.registry) == 0) {
            host = m->aliases[i].to;
            break;
        }
    }
    if (hb_strlcpy(registry, host, reglen) < 0 || hb_strlcpy(repository, path, repolen) < 0)
        return -1;
    return 0;
}

char *iu_build_body(const char *id, const char *source, const char *time, const char *registry,
                    const char *repository, const char *tag, const char *digest)
{
    char *out = NULL;
    char subject[IU_REPOSITORY_MAX + 160];
    cJSON *ce = cJSON_CreateObject(), *data = NULL;
    if (!ce || hb_snprintf(subject, sizeof(subject), "%s:%s", repository, tag) < 0)
        goto done;
    if (!cJSON_AddStringToObject(ce, "specversion", "1.0") ||
        !cJSON_AddStringToObject(ce, "id", id) || !cJSON_AddStringToObject(ce, "source", source) ||
        !cJSON_AddStringToObject(ce, "type", IU_EVENT_TYPE) ||
        !cJSON_AddStringToObject(ce, "subject", subject) ||
        (time && !cJSON_AddStringToObject(ce, "time", time)) ||
        !cJSON_AddStringToObject(ce, "datacontenttype", "application/json") ||
        !(data = cJSON_AddObjectToObject(ce, "data")) ||
        !cJSON_AddStringToObject(data, "registry", registry) ||
        !cJSON_AddStringToObject(data, "repository", repository) ||
        !cJSON_AddStringToObject(data, "tag", tag) ||
        (digest && *digest && !cJSON_AddStringToObject(data, "digest", digest)))
        goto done;
    out = cJSON_PrintUnformatted(ce);
done:
    cJSON_Delete(ce);
    return out;
}

size_t iu_pick_tags(const struct hb_event *const *events, size_t n, size_t *out)
{
    size_t k = 0;
    /* Newest first, so the first event seen for a tag is its newest; then
     * reverse, which orders the picks by their position in the batch. */
    for (size_t i = n; i-- > 0;) {
        const char *tag = hb_event_get(events[i], "tag");
        bool seen = !tag || !*tag;
        for (size_t j = 0; j < k && !seen; j++)
            seen = strcmp(hb_event_get(events[out[j]], "tag"), tag) == 0;
        if (!seen)
            out[k++] = i;
    }
    for (size_t a = 0, b = k; a + 1 < b; a++, b--) {
        size_t t = out[a];
        out[a] = out[b - 1];
        out[b - 1] = t;
    }
    return k;
}

bool iu_type_wanted(const char *type, bool charts)
{
    if (!type)
        return false;
    return strcmp(type, "dev.hookbus.image.push") == 0 ||
           (charts && strcmp(type, "dev.hookbus.chart.push") == 0);
}
