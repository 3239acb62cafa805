/* change.c: a struct hb_change (one changed artifact) turned into the
 * normalized CloudEvent of DESIGN section 4: the attributes, the data object
 * and the canonical repository id. The gateway's receivers and hookbus-poller
 * both build their events here. */
#include "hookbus/change.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hookbus/repo.h"
#include "hookbus/util.h"

const char *hb_change_kind(const char *type)
{
    if (hb_str_has_prefix(type, "dev.hookbus.git."))
        return "git";
    if (strcmp(type, "dev.hookbus.image.push") == 0)
        return "image";
    if (strcmp(type, "dev.hookbus.chart.push") == 0)
        return "chart";
    return "other";
}

/* Canonical id of one reference: git URL rules for git events, image rules
 * for image/chart events, either for the rest (git first). */
static int canonical(const char *kind, const char *url, char *out, size_t outlen)
{
    if (!url || !*url)
        return -1;
    if (strcmp(kind, "image") == 0 || strcmp(kind, "chart") == 0)
        return hb_repo_image_id(url, out, outlen);
    if (hb_repo_git_id(url, out, outlen) == 0)
        return 0;
    return strcmp(kind, "git") == 0 ? -1 : hb_repo_image_id(url, out, outlen);
}

static void add_str(cJSON *o, const char *k, const char *v)
{
    if (v && *v)
        cJSON_AddStringToObject(o, k, v);
}

/* Builds the data object of DESIGN section 4. */
static cJSON *build_data(const struct hb_change *ch, const struct hb_change_origin *o,
                         const char *kind, const char *repo)
{
    cJSON *d = cJSON_CreateObject();
    if (!d)
        return NULL;
    add_str(d, "provider", o->provider);
    add_str(d, "receiver", o->receiver);
    add_str(d, "kind", kind);
    cJSON *r = cJSON_AddObjectToObject(d, "repository");
    add_str(r, "id", repo);
    cJSON *urls = cJSON_AddArrayToObject(r, "urls");
    const char *all[HB_ARRAY_LEN(ch->urls) + 1];
    size_t n = 0;
    if (ch->repo_url)
        all[n++] = ch->repo_url;
    for (size_t i = 0; i < HB_ARRAY_LEN(ch->urls); i++)
        if (ch->urls[i] && *ch->urls[i])
            all[n++] = ch->urls[i];
    for (size_t i = 0; i < n; i++) {
        bool dup = false;
        for (size_t j = 0; j < i; j++)
            dup |= strcmp(all[i], all[j]) == 0;
        if (!dup)
            cJSON_AddItemToArray(urls, cJSON_CreateString(all[i]));
    }
    add_str(d, "ref", ch->ref);
    add_str(d, "branch", ch->branch);
    add_str(d, "tag", ch->tag);
    add_str(d, "commit", ch->commit);
    /* A tag names a commit; the previous value and the files of the commits
     * pushed with it are branch notions (the git.tag schema has neither). */
    bool tag_event = strcmp(ch->type, "dev.hookbus.git.tag") == 0;
    if (!tag_event)
        add_str(d, "before", ch->before);
    if (ch->deleted >= 0)
        cJSON_AddBoolToObject(d, "deleted", ch->deleted);
    add_str(d, "digest", ch->digest);
    add_str(d, "media_type", ch->media_type);
    struct hb_image_ref img;
    bool is_image = strcmp(kind, "image") == 0 || strcmp(kind, "chart") == 0;
    if (is_image && (!ch->registry || !ch->image) && hb_repo_image_parse(repo, &img) == 0) {
        add_str(d, "registry", ch->registry ? ch->registry : img.registry);
        add_str(d, "image", ch->image ? ch->image : img.path);
    } else {
        add_str(d, "registry", ch->registry);
        add_str(d, "image", ch->image);
    }
    add_str(d, "actor", ch->actor);
    if (ch->changed_paths && !tag_event) {
        cJSON_AddItemToObject(d, "changed_paths", cJSON_Duplicate(ch->changed_paths, 1));
        cJSON_AddBoolToObject(d, "changed_paths_truncated", ch->changed_paths_truncated);
    }
    if (ch->pr) {
        cJSON *p = cJSON_AddObjectToObject(d, "pull_request");
        add_str(p, "action", ch->pr->action);
        cJSON_AddNumberToObject(p, "number", (double)ch->pr->number);
        add_str(p, "url", ch->pr->url);
        add_str(p, "source_branch", ch->pr->source_branch);
        add_str(p, "target_branch", ch->pr->target_branch);
        add_str(p, "merge_commit", ch->pr->merge_commit);
        add_str(p, "title", ch->pr->title);
    }
    add_str(d, "delivery_id", o->delivery_id);
    add_str(d, "provider_event", ch->provider_event);
    const cJSON *extras[] = {ch->extra, o->extra};
    for (size_t i = 0; i < HB_ARRAY_LEN(extras); i++)
        for (const cJSON *e = extras[i] ? extras[i]->child : NULL; e; e = e->next)
            if (!cJSON_HasObjectItem(d, e->string))
                cJSON_AddItemToObject(d, e->string, cJSON_Duplicate(e, 1));
    if (o->original)
        cJSON_AddItemToObject(d, "original", cJSON_Duplicate(o->original, 1));
    return d;
}

int hb_change_event(const struct hb_change *ch, const struct hb_change_origin *o, const char *id,
                    struct hb_event **out, char *err, size_t errlen)
{
    const char *kind = hb_change_kind(ch->type);
    char repo[HB_REPO_ID_MAX], subject[HB_REPO_ID_MAX + 300], schema[128];
    *out = NULL;
    int ok = canonical(kind, ch->repo_url, repo, sizeof(repo)) == 0;
    for (size_t i = 0; !ok && i < HB_ARRAY_LEN(ch->urls); i++)
        ok = canonical(kind, ch->urls[i], repo, sizeof(repo)) == 0;
    if (!ok) {
        snprintf(err, errlen, "cannot identify the repository");
        return HB_CHANGE_NO_REPO;
    }
    struct hb_event *ev = hb_event_new();
    cJSON *data = build_data(ch, o, kind, repo);
    char *json = data ? cJSON_PrintUnformatted(data) : NULL;
    cJSON_Delete(data);
    if (!ev || !json)
        goto nomem;
    if (ch->pr)
        snprintf(subject, sizeof(subject), "%s#%ld", repo, ch->pr->number);
    else if (ch->ref)
        snprintf(subject, sizeof(subject), "%s@%s", repo, ch->ref);
    else if (ch->tag)
        snprintf(subject, sizeof(subject), "%s:%s", repo, ch->tag);
    else
        snprintf(subject, sizeof(subject), "%s", repo);
    snprintf(schema, sizeof(schema), "urn:hookbus:schema:%s:1", ch->type);
    int rc = 0;
    rc |= hb_event_set(ev, "specversion", "1.0");
    rc |= hb_event_set(ev, "id", id);
    rc |= hb_event_set(ev, "source", o->source);
    rc |= hb_event_set(ev, "type", ch->type);
    rc |= hb_event_set(ev, "subject", subject);
    rc |= hb_event_set(ev, "time", o->time);
    rc |= hb_event_set(ev, "datacontenttype", "application/json");
    rc |= hb_event_set(ev, "dataschema", schema);
    rc |= hb_event_set(ev, "provider", o->provider);
    rc |= hb_event_set(ev, "receiver", o->receiver);
    rc |= hb_event_set(ev, "repo", repo);
    if (ch->ref)
        rc |= hb_event_set(ev, "ref", ch->ref);
    if (ch->tag)
        rc |= hb_event_set(ev, "tag", ch->tag);
    if (ch->digest)
        rc |= hb_event_set(ev, "digest", ch->digest);
    if (ch->commit)
        rc |= hb_event_set(ev, "commit", ch->commit);
    rc |= hb_event_set(ev, "partitionkey", repo);
    rc |= hb_event_set_data(ev, json, strlen(json));
    cJSON_free(json);
    json = NULL;
    /* Payload strings reach attributes (subject, ref, tag, ...): an event a
     * consumer would refuse is refused here, before it reaches Kafka. */
    if (rc || hb_event_validate(ev, err, errlen) < 0) {
        snprintf(err, errlen, "a field is too long or invalid");
        hb_event_free(ev);
        return HB_CHANGE_INVALID;
    }
    *out = ev;
    return 0;
nomem:
    cJSON_free(json);
    hb_event_free(ev);
    snprintf(err, errlen, "out of memory");
    return HB_CHANGE_NOMEM;
}
