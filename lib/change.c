/* change.c: a struct hb_change (one changed artifact) turned into the
 * normalized CloudEvent of DESIGN section 4: the attributes, the data object
 * and the canonical repository id. The gateway's receivers and hookbus-poller
 * both build their events here. */
#include "hookbus/change.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

/* The data object is written directly into a buffer, in the order and
 * with the escapes cJSON would print the tree (a tree printed afterwards
 * was a tenth of the gateway's CPU per event). */
#define DATA_MAX_BYTES ((size_t)1 << 30)
#define DATA_KEYS_MAX 64 /* top-level members remembered for the extras' check */

struct data_writer {
    struct hb_buf b;
    const char *keys[DATA_KEYS_MAX]; /* top-level members written so far */
    size_t nkeys;
    bool first; /* nothing written in the current object yet */
    int bad;    /* an append failed (ENOMEM or the cap) */
};

/* Starts member k of the current object (the top-level one remembers it). */
static void member(struct data_writer *w, const char *k, bool top)
{
    if (!w->first)
        w->bad |= hb_buf_append(&w->b, ",", 1);
    w->first = false;
    w->bad |= hb_buf_json_str(&w->b, k);
    w->bad |= hb_buf_append(&w->b, ":", 1);
    if (top && w->nkeys < DATA_KEYS_MAX)
        w->keys[w->nkeys++] = k;
}

static void put_str(struct data_writer *w, const char *k, const char *v, bool top)
{
    if (!v || !*v)
        return;
    member(w, k, top);
    w->bad |= hb_buf_json_str(&w->b, v);
}

static void put_bool(struct data_writer *w, const char *k, bool v)
{
    member(w, k, true);
    w->bad |= hb_buf_puts(&w->b, v ? "true" : "false");
}

/* Any JSON value, printed by cJSON (the payload's own members). */
static void put_json(struct data_writer *w, const char *k, const cJSON *v)
{
    char *text = cJSON_PrintUnformatted(v);
    if (!text) {
        w->bad = -1;
        return;
    }
    member(w, k, true);
    w->bad |= hb_buf_puts(&w->b, text);
    cJSON_free(text);
}

static void open_obj(struct data_writer *w, const char *k)
{
    member(w, k, true);
    w->bad |= hb_buf_append(&w->b, "{", 1);
    w->first = true;
}

static void close_obj(struct data_writer *w)
{
    w->bad |= hb_buf_append(&w->b, "}", 1);
    w->first = false;
}

/* True when the top-level object has member k (case-insensitive, as
 * cJSON_HasObjectItem, which decided this when the data was a tree). */
static bool has_key(const struct data_writer *w, const char *k)
{
    for (size_t i = 0; i < w->nkeys; i++)
        if (strcasecmp(w->keys[i], k) == 0)
            return true;
    return false;
}

/* Writes the data object of DESIGN section 4 into w->b. 0, or -1. */
static int write_data(struct data_writer *w, const struct hb_change *ch,
                      const struct hb_change_origin *o, const char *kind, const char *repo)
{
    w->bad |= hb_buf_append(&w->b, "{", 1);
    w->first = true;
    put_str(w, "provider", o->provider, true);
    put_str(w, "receiver", o->receiver, true);
    put_str(w, "kind", kind, true);
    open_obj(w, "repository");
    put_str(w, "id", repo, false);
    member(w, "urls", false);
    w->bad |= hb_buf_append(&w->b, "[", 1);
    const char *all[HB_ARRAY_LEN(ch->urls) + 1];
    size_t n = 0, written = 0;
    if (ch->repo_url)
        all[n++] = ch->repo_url;
    for (size_t i = 0; i < HB_ARRAY_LEN(ch->urls); i++)
        if (ch->urls[i] && *ch->urls[i])
            all[n++] = ch->urls[i];
    for (size_t i = 0; i < n; i++) {
        bool dup = false;
        for (size_t j = 0; j < i; j++)
            dup |= strcmp(all[i], all[j]) == 0;
        if (dup)
            continue;
        if (written++)
            w->bad |= hb_buf_append(&w->b, ",", 1);
        w->bad |= hb_buf_json_str(&w->b, all[i]);
    }
    w->bad |= hb_buf_append(&w->b, "]", 1);
    close_obj(w);
    put_str(w, "ref", ch->ref, true);
    put_str(w, "branch", ch->branch, true);
    put_str(w, "tag", ch->tag, true);
    put_str(w, "commit", ch->commit, true);
    /* A tag names a commit; the previous value and the files of the commits
     * pushed with it are branch notions (the git.tag schema has neither). */
    bool tag_event = strcmp(ch->type, "dev.hookbus.git.tag") == 0;
    if (!tag_event)
        put_str(w, "before", ch->before, true);
    if (ch->deleted >= 0)
        put_bool(w, "deleted", ch->deleted);
    put_str(w, "digest", ch->digest, true);
    put_str(w, "media_type", ch->media_type, true);
    struct hb_image_ref img;
    bool is_image = strcmp(kind, "image") == 0 || strcmp(kind, "chart") == 0;
    if (is_image && (!ch->registry || !ch->image) && hb_repo_image_parse(repo, &img) == 0) {
        put_str(w, "registry", ch->registry ? ch->registry : img.registry, true);
        put_str(w, "image", ch->image ? ch->image : img.path, true);
    } else {
        put_str(w, "registry", ch->registry, true);
        put_str(w, "image", ch->image, true);
    }
    put_str(w, "actor", ch->actor, true);
    if (ch->changed_paths && !tag_event) {
        put_json(w, "changed_paths", ch->changed_paths);
        put_bool(w, "changed_paths_truncated", ch->changed_paths_truncated);
    }
    if (ch->pr) {
        open_obj(w, "pull_request");
        put_str(w, "action", ch->pr->action, false);
        member(w, "number", false);
        cJSON *num = cJSON_CreateNumber((double)ch->pr->number);
        char *text = num ? cJSON_PrintUnformatted(num) : NULL;
        w->bad |= text ? hb_buf_puts(&w->b, text) : -1;
        cJSON_free(text);
        cJSON_Delete(num);
        put_str(w, "url", ch->pr->url, false);
        put_str(w, "source_branch", ch->pr->source_branch, false);
        put_str(w, "target_branch", ch->pr->target_branch, false);
        put_str(w, "merge_commit", ch->pr->merge_commit, false);
        put_str(w, "title", ch->pr->title, false);
        close_obj(w);
    }
    put_str(w, "delivery_id", o->delivery_id, true);
    put_str(w, "provider_event", ch->provider_event, true);
    const cJSON *extras[] = {ch->extra, o->extra};
    for (size_t i = 0; i < HB_ARRAY_LEN(extras); i++)
        for (const cJSON *e = extras[i] ? extras[i]->child : NULL; e; e = e->next)
            if (e->string && !has_key(w, e->string))
                put_json(w, e->string, e);
    if (o->original)
        put_json(w, "original", o->original);
    w->bad |= hb_buf_append(&w->b, "}", 1);
    return w->bad ? -1 : 0;
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
    struct data_writer *w = calloc(1, sizeof(*w));
    if (!ev || !w)
        goto nomem;
    hb_buf_init(&w->b, DATA_MAX_BYTES);
    if (write_data(w, ch, o, kind, repo) < 0)
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
    rc |= hb_event_set_data(ev, w->b.p, w->b.len);
    hb_buf_free(&w->b);
    free(w);
    w = NULL;
    /* Payload strings reach attributes (subject, ref, tag, ...): an event a
     * consumer would refuse is refused here, before it reaches Kafka. */
    if (rc || hb_event_check(ev, err, errlen) < 0) {
        snprintf(err, errlen, "a field is too long or invalid");
        hb_event_free(ev);
        return HB_CHANGE_INVALID;
    }
    *out = ev;
    return 0;
nomem:
    if (w)
        hb_buf_free(&w->b);
    free(w);
    hb_event_free(ev);
    snprintf(err, errlen, "out of memory");
    return HB_CHANGE_NOMEM;
}
