/* deliveries.c: the bounded in-memory record of recent webhook deliveries
 * (the console's data). One ring per receiver name, deliveries.keep
 * entries each, under one lock: http.c records from its server threads,
 * console.c reads from the admin listener's.
 *
 * What is kept: the answer, the sender's event name and delivery id, the
 * events with where Kafka put them and, for authentic requests only, the
 * body (up to deliveries.max_body_bytes) and the headers a redelivery
 * needs. A header that can carry a secret (Authorization, cookies,
 * signatures, tokens, the receiver's token_header) is never copied, and the
 * key segment of /webhooks/{name}/{key} is masked. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "deliveries.h"
#include "gateway.h"
#include "hookbus/util.h"

#define MAX_EVENTS 64 /* events listed per delivery; more are counted */

struct kept_event {
    char *id, *type, *subject, *topic;
    int partition;
    long long offset;
};

struct entry {
    unsigned long long id; /* 0: empty slot */
    char time[32];
    char *remote, *path, *event, *delivery_id, *reason, *content_type;
    unsigned status;
    int64_t latency_ms;
    bool authentic, key_route, body_kept;
    size_t nevents, nevents_total;
    struct kept_event *events;
    size_t nheaders;
    char *names[GW_DELIVERY_MAX_HEADERS], *values[GW_DELIVERY_MAX_HEADERS];
    unsigned char *body;
    size_t body_len;
    const char *body_note; /* why no body, when none */
    bool body_owned;       /* body is the request's own buffer, taken, not in block */
    void *block;           /* every other pointer above points into it (one allocation) */
};

struct ring {
    char *receiver;
    struct entry *entries; /* keep slots */
    size_t next;           /* the slot the next record takes */
};

struct gw_deliveries {
    pthread_mutex_t lock;
    size_t keep, max_body;
    unsigned long long next_id;
    struct ring *rings;
    size_t nrings;
};

/* Sender headers that name the event, in the order tried. */
static const char *const event_headers[] = {
    "X-GitHub-Event", "X-Gitea-Event",   "X-Gogs-Event", "X-Gitlab-Event",
    "X-Event-Key",    "X-Forgejo-Event", "ce-type",
};

struct gw_deliveries *gw_deliveries_new(long keep, long max_body)
{
    struct gw_deliveries *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    pthread_mutex_init(&d->lock, NULL);
    d->keep = keep > 0 ? (size_t)keep : 0;
    d->max_body = max_body > 0 ? (size_t)max_body : 0;
    d->next_id = 1;
    return d;
}

static void entry_clear(struct entry *e)
{
    if (e->body_owned)
        free(e->body);
    free(e->block);
    memset(e, 0, sizeof(*e));
}

void gw_deliveries_free(struct gw_deliveries *d)
{
    if (!d)
        return;
    for (size_t r = 0; r < d->nrings; r++) {
        for (size_t i = 0; i < d->keep; i++)
            entry_clear(&d->rings[r].entries[i]);
        free(d->rings[r].entries);
        free(d->rings[r].receiver);
    }
    free(d->rings);
    pthread_mutex_destroy(&d->lock);
    free(d);
}

bool gw_delivery_header_secret(const char *name, const char *token_header)
{
    static const char *const exact[] = {"authorization", "proxy-authorization", "cookie",
                                        "set-cookie"};
    char low[128];
    size_t n = strlen(name);
    if (n >= sizeof(low))
        return true; /* cannot tell: not kept */
    if (token_header && strcasecmp(name, token_header) == 0)
        return true;
    for (size_t i = 0; i <= n; i++)
        low[i] = (char)((name[i] >= 'A' && name[i] <= 'Z') ? name[i] + 32 : name[i]);
    for (size_t i = 0; i < HB_ARRAY_LEN(exact); i++)
        if (strcmp(low, exact[i]) == 0)
            return true;
    /* Names containing signature, token, secret, password, auth, api-key,
     * apikey or session: one walk, at each byte only the words starting with
     * it (this runs for every header of every request). */
    for (size_t at = 0; at < n; at++) {
        const char *p = low + at;
        size_t left = n - at;
#define HAS(word) (left >= sizeof(word) - 1 && memcmp(p, word, sizeof(word) - 1) == 0)
        switch (*p) {
        case 'a':
            if (HAS("auth") || HAS("api-key") || HAS("apikey"))
                return true;
            break;
        case 'p':
            if (HAS("password"))
                return true;
            break;
        case 's':
            if (HAS("signature") || HAS("secret") || HAS("session"))
                return true;
            break;
        case 't':
            if (HAS("token"))
                return true;
            break;
        }
#undef HAS
    }
    return false;
}

/* An entry's events, strings and body share one allocation (a delivery is
 * recorded per request: some thirty small mallocs and frees each were ~5 %
 * of the gateway's CPU). The first pass (p NULL) counts, the second copies. */
struct pack {
    char *p;
    size_t used;
};

static void *pack_mem(struct pack *k, const void *s, size_t n)
{
    char *out = k->p ? k->p + k->used : NULL;
    if (out && s && n)
        memcpy(out, s, n);
    k->used += n;
    return out;
}

/* A copy of s in the block; NULL for NULL or "" (and while counting). */
static char *pack_str(struct pack *k, const char *s)
{
    return s && *s ? pack_mem(k, s, strlen(s) + 1) : NULL;
}

#define HEADERS_SEEN 128 /* headers looked at per request; later ones are not kept */

struct header_copy {
    struct entry *e;
    const char *token_header;
    struct pack *k;
    size_t seen;
    /* Which headers are kept, decided in the counting pass (the copying
     * pass sees the same headers in the same order). */
    uint64_t keep[HEADERS_SEEN / 64];
};

static void copy_header(void *arg, const char *name, const char *value)
{
    struct header_copy *hc = arg;
    struct entry *e = hc->e;
    size_t i = hc->seen++;
    if (i >= HEADERS_SEEN || e->nheaders >= GW_DELIVERY_MAX_HEADERS)
        return;
    uint64_t bit = UINT64_C(1) << (i % 64);
    if (!hc->k->p && strlen(value) <= GW_DELIVERY_MAX_HEADER_VALUE &&
        !gw_delivery_header_secret(name, hc->token_header))
        hc->keep[i / 64] |= bit;
    if (!(hc->keep[i / 64] & bit))
        return;
    e->names[e->nheaders] = pack_mem(hc->k, name, strlen(name) + 1);
    e->values[e->nheaders++] = pack_mem(hc->k, value, strlen(value) + 1);
}

/* The receiver's ring, created on first use. NULL on ENOMEM. */
static struct ring *ring_for(struct gw_deliveries *d, const char *receiver)
{
    for (size_t i = 0; i < d->nrings; i++)
        if (strcmp(d->rings[i].receiver, receiver) == 0)
            return &d->rings[i];
    struct ring *rings = realloc(d->rings, (d->nrings + 1) * sizeof(*rings));
    if (!rings)
        return NULL;
    d->rings = rings;
    struct ring *r = &rings[d->nrings];
    *r = (struct ring){strdup(receiver), calloc(d->keep, sizeof(struct entry)), 0};
    if (!r->receiver || !r->entries) {
        free(r->receiver);
        free(r->entries);
        return NULL;
    }
    d->nrings++;
    return r;
}

/* True when the body can be taken from the request instead of copied. */
static bool body_takeable(const struct gw_delivery_info *info)
{
    const struct hb_buf *b = info->body_buf;
    return b && b->p && (const unsigned char *)b->p == info->req->body &&
           b->len == info->req->body_len;
}

/* One pass of entry_fill: every copy goes through k; hc carries the
 * header decisions from the first pass to the second. */
static void entry_pack(struct entry *e, const struct gw_delivery_info *info, size_t max_body,
                       struct pack *k, struct header_copy *hc)
{
    char path[160], mt[128];
    e->nevents_total = info->nevents;
    size_t n = info->nevents < MAX_EVENTS ? info->nevents : MAX_EVENTS;
    /* First: the block's start is aligned for the structs. */
    e->events = pack_mem(k, NULL, n * sizeof(*e->events));
    e->nevents = 0;
    for (size_t i = 0; i < n; i++) {
        const struct gw_delivery_event *s = &info->events[i];
        struct kept_event ke = {
            pack_str(k, s->id),    pack_str(k, s->type), pack_str(k, s->subject),
            pack_str(k, s->topic), s->partition,         s->offset};
        if (e->events)
            e->events[i] = ke;
        e->nevents++;
    }
    e->remote = pack_str(k, info->remote);
    snprintf(path, sizeof(path), "/webhooks/%s%s", info->rcv->name,
             info->key_route ? "/<key>" : "");
    e->path = pack_str(k, path);
    e->reason = pack_str(k, info->reason);
    e->delivery_id = info->ctx ? pack_str(k, info->ctx->delivery_id) : NULL;
    e->event = e->content_type = NULL;
    e->nheaders = 0;
    if (info->req) {
        const char *ev = NULL;
        for (size_t i = 0; i < HB_ARRAY_LEN(event_headers) && !(ev && *ev); i++)
            ev = info->req->header(info->req, event_headers[i]);
        e->event = pack_str(k, ev);
        /* req->content_type is valid only while the request is normalized:
         * the media type again, from the header */
        gw_media_type(info->req->header(info->req, "Content-Type"), mt, sizeof(mt));
        e->content_type = pack_str(k, mt);
        hc->e = e; /* keep: the first pass's decisions */
        hc->token_header = info->rcv->token_header;
        hc->k = k;
        hc->seen = 0;
        info->req->each_header(info->req, copy_header, hc);
    }
    e->body = NULL;
    e->body_len = 0;
    e->body_kept = false;
    e->body_note = NULL;
    if (!info->authentic || !info->req) {
        e->body_note = "not kept: the request was not authenticated";
    } else if (info->req->body_len > max_body) {
        e->body_note = "not kept: over deliveries.max_body_bytes";
    } else if (body_takeable(info)) { /* entry_fill takes it: no copy */
        e->body_len = info->req->body_len;
        e->body_kept = true;
    } else {
        e->body = pack_mem(k, info->req->body, info->req->body_len);
        pack_mem(k, "", 1);
        e->body_len = info->req->body_len;
        e->body_kept = true;
    }
}

/* Fills e from info (outside the lock: copies only). Without memory for
 * the copies the entry keeps only its fixed fields. */
static void entry_fill(struct entry *e, const struct gw_delivery_info *info, size_t max_body)
{
    struct pack k = {0};
    struct header_copy hc = {0};
    hb_now_rfc3339(e->time);
    e->status = info->status;
    e->latency_ms = info->latency_ms;
    e->authentic = info->authentic;
    e->key_route = info->key_route;
    entry_pack(e, info, max_body, &k, &hc);
    k.p = malloc(k.used ? k.used : 1);
    k.used = 0;
    if (k.p) {
        entry_pack(e, info, max_body, &k, &hc);
        e->block = k.p;
        if (e->body_kept && !e->body) { /* taken (a 4 KB copy per request was 1-2 % of the CPU) */
            struct hb_buf *buf = info->body_buf;
            e->body = (unsigned char *)buf->p;
            unsigned char *shrunk = realloc(e->body, buf->len + 1); /* the spare capacity back */
            if (shrunk)
                e->body = shrunk;
            e->body_owned = true;
            buf->p = NULL;
            buf->len = buf->cap = 0;
        }
        return;
    }
    e->nevents = e->nheaders = e->body_len = 0;
    e->body_kept = false;
    e->body_note = "not kept: out of memory";
}

void gw_deliveries_record(struct gw_deliveries *d, const struct gw_delivery_info *info)
{
    if (!d || !d->keep || !info->rcv)
        return;
    struct entry e = {0};
    entry_fill(&e, info, d->max_body);
    pthread_mutex_lock(&d->lock);
    struct ring *r = ring_for(d, info->rcv->name);
    if (r) {
        struct entry *slot = &r->entries[r->next];
        entry_clear(slot);
        e.id = d->next_id++;
        *slot = e;
        r->next = (r->next + 1) % d->keep;
    }
    pthread_mutex_unlock(&d->lock);
    if (!r)
        entry_clear(&e);
}

static void add_str(cJSON *o, const char *k, const char *v)
{
    if (v)
        cJSON_AddStringToObject(o, k, v);
    else
        cJSON_AddNullToObject(o, k);
}

/* The summary of e (list and detail). */
static cJSON *entry_json(const struct entry *e, const char *receiver)
{
    cJSON *o = cJSON_CreateObject();
    char id[32];
    snprintf(id, sizeof(id), "%llu", e->id);
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddStringToObject(o, "time", e->time);
    cJSON_AddStringToObject(o, "receiver", receiver);
    add_str(o, "remote", e->remote);
    add_str(o, "path", e->path);
    add_str(o, "event", e->event);
    add_str(o, "delivery_id", e->delivery_id);
    cJSON_AddNumberToObject(o, "status", e->status);
    add_str(o, "reason", e->reason);
    cJSON_AddNumberToObject(o, "latency_ms", (double)e->latency_ms);
    cJSON_AddBoolToObject(o, "authentic", e->authentic);
    cJSON_AddBoolToObject(o, "redeliverable", e->body_kept);
    cJSON_AddNumberToObject(o, "event_count", (double)e->nevents_total);
    cJSON *evs = cJSON_AddArrayToObject(o, "events");
    for (size_t i = 0; i < e->nevents; i++) {
        const struct kept_event *k = &e->events[i];
        cJSON *x = cJSON_CreateObject();
        add_str(x, "id", k->id);
        add_str(x, "type", k->type);
        add_str(x, "subject", k->subject);
        add_str(x, "topic", k->topic);
        if (k->topic) {
            cJSON_AddNumberToObject(x, "partition", k->partition);
            cJSON_AddNumberToObject(x, "offset", (double)k->offset);
        }
        cJSON_AddItemToArray(evs, x);
    }
    return o;
}

/* A status filter: "" any, "202" that code, "4xx" that class. */
static bool status_matches(unsigned status, const char *f)
{
    if (!f || !*f)
        return true;
    if (strlen(f) == 3 && (f[1] == 'x' || f[1] == 'X'))
        return (unsigned)(f[0] - '0') == status / 100;
    long want;
    return hb_parse_long(f, 100, 599, &want) == 0 && (unsigned)want == status;
}

static int by_id_desc(const void *a, const void *b)
{
    unsigned long long x = (*(const struct entry *const *)a)->id;
    unsigned long long y = (*(const struct entry *const *)b)->id;
    return x < y ? 1 : x > y ? -1 : 0;
}

char *gw_deliveries_list(struct gw_deliveries *d, const char *receiver, const char *status,
                         long limit)
{
    char *out = NULL;
    const struct entry **all = NULL;
    cJSON *arr = cJSON_CreateArray();
    if (!arr)
        return NULL;
    pthread_mutex_lock(&d->lock);
    size_t n = 0, cap = d->nrings * d->keep;
    all = calloc(cap ? cap : 1, sizeof(*all));
    if (!all)
        goto out;
    for (size_t r = 0; r < d->nrings; r++) {
        if (receiver && *receiver && strcmp(receiver, d->rings[r].receiver) != 0)
            continue;
        for (size_t i = 0; i < d->keep; i++) {
            const struct entry *e = &d->rings[r].entries[i];
            if (e->id && status_matches(e->status, status))
                all[n++] = e;
        }
    }
    qsort(all, n, sizeof(*all), by_id_desc);
    for (size_t i = 0; i < n && (long)i < limit; i++) {
        /* the ring of an entry: its receiver name */
        const char *rname = "";
        for (size_t r = 0; r < d->nrings; r++)
            if (all[i] >= d->rings[r].entries && all[i] < d->rings[r].entries + d->keep)
                rname = d->rings[r].receiver;
        cJSON_AddItemToArray(arr, entry_json(all[i], rname));
    }
    out = cJSON_PrintUnformatted(arr);
out:
    pthread_mutex_unlock(&d->lock);
    free(all);
    cJSON_Delete(arr);
    return out;
}

/* The entry with id, and its receiver (under the lock). */
static struct entry *find(struct gw_deliveries *d, unsigned long long id, const char **receiver)
{
    for (size_t r = 0; r < d->nrings; r++)
        for (size_t i = 0; i < d->keep; i++)
            if (d->rings[r].entries[i].id == id) {
                *receiver = d->rings[r].receiver;
                return &d->rings[r].entries[i];
            }
    return NULL;
}

char *gw_deliveries_get(struct gw_deliveries *d, unsigned long long id)
{
    char *out = NULL;
    const char *receiver;
    pthread_mutex_lock(&d->lock);
    struct entry *e = id ? find(d, id, &receiver) : NULL;
    if (!e)
        goto out;
    cJSON *o = entry_json(e, receiver);
    cJSON *h = cJSON_AddObjectToObject(o, "headers");
    for (size_t i = 0; i < e->nheaders; i++)
        cJSON_AddStringToObject(h, e->names[i], e->values[i]);
    add_str(o, "content_type", e->content_type);
    if (!e->body_kept) {
        cJSON_AddNullToObject(o, "body");
        cJSON_AddStringToObject(o, "body_note", e->body_note ? e->body_note : "not kept");
    } else if (hb_utf8_valid(e->body, e->body_len) && !memchr(e->body, 0, e->body_len)) {
        cJSON_AddStringToObject(o, "body", (const char *)e->body);
    } else {
        char *b64 = hb_base64_encode(e->body, e->body_len);
        cJSON_AddNullToObject(o, "body");
        add_str(o, "body_base64", b64);
        free(b64);
    }
    out = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
out:
    pthread_mutex_unlock(&d->lock);
    return out;
}

int gw_deliveries_replay(struct gw_deliveries *d, unsigned long long id,
                         struct gw_delivery_replay *out)
{
    int rc = -1;
    const char *receiver;
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&d->lock);
    struct entry *e = id ? find(d, id, &receiver) : NULL;
    if (!e)
        goto out;
    rc = -2;
    if (!e->body_kept)
        goto out;
    rc = -1;
    hb_strlcpy(out->receiver, receiver, sizeof(out->receiver));
    hb_strlcpy(out->delivery_id, e->delivery_id ? e->delivery_id : "", sizeof(out->delivery_id));
    out->key_route = e->key_route;
    out->body = malloc(e->body_len + 1);
    out->content_type = strdup(e->content_type ? e->content_type : "");
    if (!out->body || !out->content_type)
        goto out;
    memcpy(out->body, e->body, e->body_len + 1);
    out->body_len = e->body_len;
    for (size_t i = 0; i < e->nheaders; i++) {
        out->names[i] = strdup(e->names[i]);
        out->values[i] = strdup(e->values[i]);
        out->nheaders++;
        if (!out->names[i] || !out->values[i])
            goto out;
    }
    rc = 0;
out:
    pthread_mutex_unlock(&d->lock);
    if (rc == -1)
        gw_delivery_replay_clear(out);
    return rc;
}

void gw_delivery_replay_clear(struct gw_delivery_replay *r)
{
    free(r->body);
    free(r->content_type);
    for (size_t i = 0; i < r->nheaders; i++) {
        free(r->names[i]);
        free(r->values[i]);
    }
    memset(r, 0, sizeof(*r));
}
