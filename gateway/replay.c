/* replay.c: the Standard Webhooks replay cache. The spec asks receivers to
 * keep the ids they saw within the timestamp tolerance: a captured delivery
 * replayed as is (same webhook-id, webhook-timestamp and signature) inside
 * the window is refused. Only deliveries answered 2xx are remembered, so a
 * sender's retry after a 503 gets in; a retry the sender signs again with a
 * new timestamp is another key and gets in too (same event id: consumers
 * deduplicate).
 *
 * An entry is a 128-bit digest of (receiver, id, timestamp) and its expiry
 * (timestamp + tolerance); expired entries are ignored and overwritten. The
 * entries are a ring in insertion order with hash chains over it: full, the
 * oldest is evicted (a replay of it is then refused only by the timestamp).
 * One mutex; every operation is a short chain walk. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hookbus/crypto.h"
#include "replay.h"

#define KEY_BYTES 16

struct entry {
    unsigned char key[KEY_BYTES];
    long long expires;
    uint32_t next; /* next entry of the chain + 1; 0: end */
};

struct gw_replay {
    pthread_mutex_t lock;
    struct entry *e;  /* ring of cap entries, oldest at head once full */
    uint32_t *bucket; /* first entry of each chain + 1; 0: empty */
    size_t cap, nbuckets, head, count;
    struct hb_counter *evicted;
};

struct gw_replay *gw_replay_new(size_t cap, struct hb_metrics *metrics)
{
    if (!cap || cap > UINT32_MAX / 4)
        return NULL;
    struct gw_replay *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->cap = cap;
    for (c->nbuckets = 16; c->nbuckets < 2 * cap;)
        c->nbuckets *= 2;
    c->e = calloc(cap, sizeof(*c->e));
    c->bucket = calloc(c->nbuckets, sizeof(*c->bucket));
    if (!c->e || !c->bucket) {
        gw_replay_free(c);
        return NULL;
    }
    pthread_mutex_init(&c->lock, NULL);
    if (metrics)
        c->evicted = hb_metrics_counter(
            metrics, "hookbus_gateway_replay_cache_evictions_total",
            "Standard Webhooks deliveries dropped from the replay cache while inside their "
            "tolerance (limits.replay_cache_entries full)",
            NULL);
    return c;
}

void gw_replay_free(struct gw_replay *c)
{
    if (!c)
        return;
    if (c->e && c->bucket)
        pthread_mutex_destroy(&c->lock);
    free(c->e);
    free(c->bucket);
    free(c);
}

/* The digest of (receiver, id, ts): an HMAC keyed with the receiver name
 * over "id\0ts", so that no two triples share their bytes. */
static void digest(const char *receiver, const char *id, const char *ts,
                   unsigned char key[KEY_BYTES])
{
    unsigned char mac[HB_MAX_MD], msg[600];
    size_t il = strlen(id), tl = strlen(ts);
    memset(key, 0, KEY_BYTES);
    if (il + 1 + tl > sizeof(msg))
        return; /* webhook-id is at most 256 bytes and the timestamp a number */
    memcpy(msg, id, il);
    msg[il] = '\0';
    memcpy(msg + il + 1, ts, tl);
    if (hb_hmac("sha256", receiver, strlen(receiver), msg, il + 1 + tl, mac) >= KEY_BYTES)
        memcpy(key, mac, KEY_BYTES);
}

static size_t bucket_of(const struct gw_replay *c, const unsigned char *key)
{
    uint32_t h;
    memcpy(&h, key, sizeof(h));
    return h & (c->nbuckets - 1);
}

/* The entry of key, or NULL. Under the lock. */
static struct entry *find(struct gw_replay *c, const unsigned char *key)
{
    for (uint32_t i = c->bucket[bucket_of(c, key)]; i; i = c->e[i - 1].next)
        if (memcmp(c->e[i - 1].key, key, KEY_BYTES) == 0)
            return &c->e[i - 1];
    return NULL;
}

/* Takes entry slot out of its chain. Under the lock. */
static void unlink_slot(struct gw_replay *c, size_t slot)
{
    uint32_t *p = &c->bucket[bucket_of(c, c->e[slot].key)];
    while (*p && *p != slot + 1)
        p = &c->e[*p - 1].next;
    if (*p)
        *p = c->e[slot].next;
}

bool gw_replay_seen(struct gw_replay *c, const char *receiver, const char *id, const char *ts,
                    long long now)
{
    unsigned char key[KEY_BYTES];
    if (!c)
        return false;
    digest(receiver, id, ts, key);
    pthread_mutex_lock(&c->lock);
    const struct entry *e = find(c, key);
    bool seen = e && now <= e->expires;
    pthread_mutex_unlock(&c->lock);
    return seen;
}

void gw_replay_remember(struct gw_replay *c, const char *receiver, const char *id, const char *ts,
                        long long expires, long long now)
{
    unsigned char key[KEY_BYTES];
    if (!c)
        return;
    digest(receiver, id, ts, key);
    pthread_mutex_lock(&c->lock);
    struct entry *e = find(c, key);
    if (e) {
        if (expires > e->expires)
            e->expires = expires;
        goto out;
    }
    size_t slot = c->head;
    if (c->count == c->cap) {
        if (c->e[slot].expires >= now)
            hb_counter_add(c->evicted, 1);
        unlink_slot(c, slot);
    } else {
        c->count++;
    }
    e = &c->e[slot];
    memcpy(e->key, key, KEY_BYTES);
    e->expires = expires;
    size_t b = bucket_of(c, key);
    e->next = c->bucket[b];
    c->bucket[b] = (uint32_t)(slot + 1);
    c->head = (slot + 1) % c->cap;
out:
    pthread_mutex_unlock(&c->lock);
}

bool gw_replay_check(struct gw_replay *c, const struct gw_receiver *r, const struct gw_request *req)
{
    const char *id, *ts;
    long long expires;
    return c && gw_sw_replay_key(r, req, &id, &ts, &expires) &&
           gw_replay_seen(c, r->name, id, ts, (long long)time(NULL));
}

void gw_replay_note(struct gw_replay *c, const struct gw_receiver *r, const struct gw_request *req)
{
    const char *id, *ts;
    long long expires;
    if (c && gw_sw_replay_key(r, req, &id, &ts, &expires))
        gw_replay_remember(c, r->name, id, ts, expires, (long long)time(NULL));
}
