/* snapshot.c: what one poll of a source showed (refs, tags or chart versions
 * with their commits or digests), its state record, and the events the
 * difference between two snapshots gives. The events are built by lib's
 * hb_change_event, the code the gateway's receivers use, so a polled change
 * looks like the webhook of the same change. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hookbus/change.h"
#include "hookbus/crypto.h"
#include "hookbus/util.h"
#include "poller.h"

const char *pl_kind_name(enum pl_kind k)
{
    return k == PL_GIT ? "git" : k == PL_IMAGE ? "image" : "chart";
}

static int item_cmp(const void *a, const void *b)
{
    return strcmp(((const struct pl_item *)a)->name, ((const struct pl_item *)b)->name);
}

int pl_snapshot_add(struct pl_snapshot *s, const char *name, const char *value)
{
    if (s->n == s->cap) {
        if (s->cap >= PL_MAX_ITEMS)
            return -1;
        size_t ncap = s->cap ? s->cap * 2 : 16;
        struct pl_item *ni = realloc(s->items, ncap * sizeof(*ni));
        if (!ni)
            return -1;
        s->items = ni;
        s->cap = ncap;
    }
    char *n = strdup(name), *v = strdup(value ? value : "");
    if (!n || !v) {
        free(n);
        free(v);
        return -1;
    }
    s->items[s->n].name = n;
    s->items[s->n].value = v;
    s->items[s->n].chart = false;
    s->n++;
    return 0;
}

/* Sorts by name; a name given twice keeps one of its values. */
void pl_snapshot_sort(struct pl_snapshot *s)
{
    if (s->n < 2)
        return;
    qsort(s->items, s->n, sizeof(*s->items), item_cmp);
    size_t o = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (o && strcmp(s->items[o - 1].name, s->items[i].name) == 0) {
            free(s->items[i].name);
            free(s->items[i].value);
            continue;
        }
        s->items[o++] = s->items[i];
    }
    s->n = o;
}

const char *pl_snapshot_get(const struct pl_snapshot *s, const char *name)
{
    if (!s->n)
        return NULL;
    struct pl_item key = {.name = (char *)name};
    const struct pl_item *it = bsearch(&key, s->items, s->n, sizeof(*s->items), item_cmp);
    return it ? it->value : NULL;
}

bool pl_snapshot_equal(const struct pl_snapshot *a, const struct pl_snapshot *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->items[i].name, b->items[i].name) != 0 ||
            strcmp(a->items[i].value, b->items[i].value) != 0)
            return false;
    return true;
}

void pl_snapshot_free(struct pl_snapshot *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->items[i].name);
        free(s->items[i].value);
    }
    free(s->items);
    memset(s, 0, sizeof(*s));
}

char *pl_snapshot_encode(const struct pl_snapshot *s, enum pl_kind kind, const char *url)
{
    char *out = NULL;
    cJSON *root = cJSON_CreateObject();
    cJSON *items = cJSON_CreateObject();
    if (!root || !items) {
        cJSON_Delete(items);
        goto done;
    }
    cJSON_AddNumberToObject(root, "v", 1);
    cJSON_AddStringToObject(root, "kind", pl_kind_name(kind));
    cJSON_AddStringToObject(root, "url", url);
    cJSON_AddItemToObject(root, "items", items);
    for (size_t i = 0; i < s->n; i++)
        if (!cJSON_AddStringToObject(items, s->items[i].name, s->items[i].value))
            goto done;
    out = cJSON_PrintUnformatted(root);
done:
    cJSON_Delete(root);
    return out;
}

int pl_snapshot_decode(const char *json, size_t len, struct pl_snapshot *s)
{
    int rc = -1;
    cJSON *root = cJSON_ParseWithLength(json, len);
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(root, "items");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "v");
    if (!cJSON_IsObject(items) || !cJSON_IsNumber(v) || v->valuedouble != 1)
        goto done;
    for (const cJSON *it = items->child; it; it = it->next)
        if (!cJSON_IsString(it) || pl_snapshot_add(s, it->string, it->valuestring) < 0)
            goto done;
    pl_snapshot_sort(s);
    rc = 0;
done:
    cJSON_Delete(root);
    if (rc < 0)
        pl_snapshot_free(s);
    return rc;
}

void pl_snapshot_filter(struct pl_snapshot *s, bool (*keep)(const void *arg, const char *name),
                        const void *arg)
{
    size_t j = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (keep(arg, s->items[i].name)) {
            s->items[j++] = s->items[i];
        } else {
            free(s->items[i].name);
            free(s->items[i].value);
        }
    }
    s->n = j;
}

void pl_event_id(const char *repo, const char *name, const char *value, char out[33])
{
    char hex[65];
    struct hb_buf b;
    hb_buf_init(&b, 3 * 4096);
    if (hb_buf_printf(&b, "%s\n%s\n%s", repo, name, value) < 0) {
        /* Over the bound: hash the parts one after the other instead. */
        hb_sha256_hex2(repo, strlen(repo), name, strlen(name), hex);
        hb_sha256_hex2(hex, 64, value, strlen(value), hex);
    } else {
        hb_sha256_hex2(b.p, b.len, "", 0, hex);
    }
    hb_buf_free(&b);
    memcpy(out, hex, 32);
    out[32] = '\0';
}

/* Appends ev to the array. Takes ownership. */
static int push(struct hb_event ***evs, size_t *nev, struct hb_event *ev)
{
    struct hb_event **ne = realloc(*evs, (*nev + 1) * sizeof(*ne));
    if (!ne) {
        hb_event_free(ev);
        return -1;
    }
    *evs = ne;
    ne[(*nev)++] = ev;
    return 0;
}

/* Builds the event of one change and appends it. */
static int emit(const struct pl_source_desc *d, const struct hb_change *ch, const char *time,
                const char *name, const char *value, struct hb_event ***evs, size_t *nev, char *err,
                size_t errlen)
{
    const struct hb_change_origin o = {
        .provider = d->provider, .receiver = d->receiver, .source = d->source, .time = time};
    struct hb_event *ev;
    char id[33];
    if (hb_change_event(ch, &o, "pending", &ev, err, errlen) < 0)
        return -1;
    pl_event_id(hb_event_get(ev, "repo"), name, value, id);
    if (hb_event_set(ev, "id", id) < 0 || push(evs, nev, ev) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* One git ref that is new, moved or gone. */
static int git_change(const struct pl_source_desc *d, const char *ref, const char *before,
                      const char *after, const char *time, struct hb_event ***evs, size_t *nev,
                      char *err, size_t errlen)
{
    struct hb_change ch = {.repo_url = d->url, .ref = ref, .deleted = -1, .provider_event = "poll"};
    if (hb_str_has_prefix(ref, "refs/heads/")) {
        ch.type = "dev.hookbus.git.push";
        ch.branch = ref + strlen("refs/heads/");
        ch.before = before;
        ch.commit = after;
        ch.deleted = after == NULL;
        return emit(d, &ch, time, ref, after ? after : "deleted", evs, nev, err, errlen);
    }
    if (hb_str_has_prefix(ref, "refs/tags/") && after) {
        ch.type = "dev.hookbus.git.tag";
        ch.tag = ref + strlen("refs/tags/");
        ch.commit = after;
        return emit(d, &ch, time, ref, after, evs, nev, err, errlen);
    }
    return 0; /* a deleted tag: the gateway publishes none either */
}

int pl_diff(const struct pl_source_desc *d, const struct pl_snapshot *old,
            const struct pl_snapshot *cur, const char *time, struct hb_event ***evs, size_t *nev,
            char *err, size_t errlen)
{
    for (size_t i = 0; i < cur->n; i++) {
        const struct pl_item *it = &cur->items[i];
        const char *was = pl_snapshot_get(old, it->name);
        if (was && strcmp(was, it->value) == 0)
            continue;
        int rc = 0;
        if (d->kind == PL_GIT) {
            rc = git_change(d, it->name, was, it->value, time, evs, nev, err, errlen);
        } else if (d->kind == PL_IMAGE) {
            /* An OCI Helm chart (oci.c): chart.push, as the registries'
             * webhooks give it, with its manifest digest. */
            struct hb_change ch = {.type = it->chart ? "dev.hookbus.chart.push"
                                                     : "dev.hookbus.image.push",
                                   .repo_url = d->url,
                                   .tag = it->name,
                                   .digest = *it->value ? it->value : NULL,
                                   .deleted = -1,
                                   .provider_event = "poll"};
            rc = emit(d, &ch, time, it->name, it->value, evs, nev, err, errlen);
        } else if (!was) { /* a chart version is published once */
            struct hb_change ch = {.type = "dev.hookbus.chart.push",
                                   .repo_url = d->url,
                                   .tag = it->name,
                                   .deleted = -1,
                                   .provider_event = "poll"};
            rc = emit(d, &ch, time, it->name, it->value, evs, nev, err, errlen);
        }
        if (rc < 0)
            return -1;
    }
    if (d->kind != PL_GIT)
        return 0;
    for (size_t i = 0; i < old->n; i++)
        if (hb_str_has_prefix(old->items[i].name, "refs/heads/") &&
            !pl_snapshot_get(cur, old->items[i].name) &&
            git_change(d, old->items[i].name, old->items[i].value, NULL, time, evs, nev, err,
                       errlen) < 0)
            return -1;
    return 0;
}
