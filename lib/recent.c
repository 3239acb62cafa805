/* recent.c: a ring of the last N events a consumer took in, each with its
 * decision (filtered, deduplicated, debounced, queued, acted, retrying,
 * dead_lettered), attempts, last error and action time. The consumer's
 * main thread writes, the admin listener's thread reads: one lock. Strings
 * are copied (bounded by the event's attribute limits). */
#include "recent.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "hookbus/util.h"

#define ERROR_MAX 512
#define DETAIL_MAX 1024

struct rec {
    uint64_t handle; /* 0: empty */
    char time[32], action_time[32];
    char *id, *type, *subject, *source, *topic, *error, *detail;
    int partition;
    long long offset;
    const char *decision; /* a string literal */
    int attempts;
};

struct hb_recent {
    pthread_mutex_t lock;
    struct rec *recs;
    size_t keep, next;
    uint64_t next_handle;
};

struct hb_recent *hb_recent_new(long keep)
{
    struct hb_recent *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->keep = keep > 0 ? (size_t)keep : 0;
    if (r->keep && !(r->recs = calloc(r->keep, sizeof(*r->recs)))) {
        free(r);
        return NULL;
    }
    pthread_mutex_init(&r->lock, NULL);
    r->next_handle = 1;
    return r;
}

static void rec_clear(struct rec *e)
{
    free(e->id);
    free(e->type);
    free(e->subject);
    free(e->source);
    free(e->topic);
    free(e->error);
    free(e->detail);
    memset(e, 0, sizeof(*e));
}

void hb_recent_free(struct hb_recent *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->keep; i++)
        rec_clear(&r->recs[i]);
    free(r->recs);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

static char *attr(const struct hb_event *ev, const char *name)
{
    const char *v = ev ? hb_event_get(ev, name) : NULL;
    return v ? strdup(v) : NULL;
}

uint64_t hb_recent_add(struct hb_recent *r, const struct hb_event *ev, const char *topic,
                       int partition, long long offset, const char *decision)
{
    if (!r || !r->keep)
        return 0;
    struct rec e = {.partition = partition, .offset = offset, .decision = decision};
    hb_now_rfc3339(e.time);
    e.id = attr(ev, "id");
    e.type = attr(ev, "type");
    e.subject = attr(ev, "subject");
    e.source = attr(ev, "source");
    e.topic = topic ? strdup(topic) : NULL;
    pthread_mutex_lock(&r->lock);
    struct rec *slot = &r->recs[r->next];
    rec_clear(slot);
    e.handle = r->next_handle++;
    *slot = e;
    r->next = (r->next + 1) % r->keep;
    pthread_mutex_unlock(&r->lock);
    return e.handle;
}

void hb_recent_update(struct hb_recent *r, uint64_t handle, const char *decision, int attempts,
                      const char *error)
{
    if (!r || !r->keep || !handle)
        return;
    char *err = error && *error ? hb_strndup(error, strnlen(error, ERROR_MAX)) : NULL;
    pthread_mutex_lock(&r->lock);
    /* handles are consecutive: the entry sits at a known slot if still there */
    struct rec *e = &r->recs[(handle - 1) % r->keep];
    if (e->handle == handle) {
        e->decision = decision;
        e->attempts = attempts;
        if (strcmp(decision, "acted") == 0 || strcmp(decision, "retrying") == 0 ||
            strcmp(decision, "dead_lettered") == 0)
            hb_now_rfc3339(e->action_time);
        if (err || strcmp(decision, "acted") == 0) {
            free(e->error);
            e->error = err;
            err = NULL;
        }
    }
    pthread_mutex_unlock(&r->lock);
    free(err);
}

void hb_recent_note(struct hb_recent *r, uint64_t handle, const char *text)
{
    if (!r || !r->keep || !handle)
        return;
    char *d = text && *text ? hb_strndup(text, strnlen(text, DETAIL_MAX)) : NULL;
    pthread_mutex_lock(&r->lock);
    struct rec *e = &r->recs[(handle - 1) % r->keep];
    if (e->handle == handle) {
        free(e->detail);
        e->detail = d;
        d = NULL;
    }
    pthread_mutex_unlock(&r->lock);
    free(d);
}

static void add_str(cJSON *o, const char *k, const char *v)
{
    if (v && *v)
        cJSON_AddStringToObject(o, k, v);
    else
        cJSON_AddNullToObject(o, k);
}

char *hb_recent_list(struct hb_recent *r, const char *decision, long limit)
{
    cJSON *arr = cJSON_CreateArray();
    if (!arr)
        return NULL;
    pthread_mutex_lock(&r->lock);
    long n = 0;
    for (size_t k = 1; k <= r->keep && n < limit; k++) {
        const struct rec *e = &r->recs[(r->next + r->keep - k) % r->keep];
        if (!e->handle)
            break;
        if (decision && *decision && strcmp(decision, e->decision) != 0)
            continue;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "seq", (double)e->handle);
        cJSON_AddStringToObject(o, "time", e->time);
        add_str(o, "id", e->id);
        add_str(o, "type", e->type);
        add_str(o, "subject", e->subject);
        add_str(o, "source", e->source);
        add_str(o, "topic", e->topic);
        cJSON_AddNumberToObject(o, "partition", e->partition);
        cJSON_AddNumberToObject(o, "offset", (double)e->offset);
        cJSON_AddStringToObject(o, "decision", e->decision);
        cJSON_AddNumberToObject(o, "attempts", e->attempts);
        add_str(o, "error", e->error);
        add_str(o, "action_time", e->action_time);
        add_str(o, "detail", e->detail);
        cJSON_AddItemToArray(arr, o);
        n++;
    }
    pthread_mutex_unlock(&r->lock);
    char *s = cJSON_PrintUnformatted(arr);
    cJSON_Delete(arr);
    return s;
}
