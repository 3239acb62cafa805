/* consumer_sched.c: the consumer runtime's pure bookkeeping (dedup window,
 * debounce windows, per-partition commit order); see consumer_sched.h. */
#include "consumer_sched.h"

#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

/* ---- dedup: a FIFO ring of fixed-size entries in insertion (= time) order,
 * so expiry and eviction always take the oldest, plus a chained hash over
 * ring positions. An entry keeps a 128-bit digest (SHA-256, truncated) of
 * the id rather than the id: 32 bytes in one array instead of a malloc per
 * id, which at 50 events/s over a 10-minute window scattered ~30000 small
 * long-lived blocks across the heap and kept every page of it resident. A
 * cryptographic digest, so that a sender cannot craft an id that collides
 * with another's and suppresses it. ---- */

struct dd_entry {
    uint64_t h[2];
    int64_t at;
    uint32_t hnext; /* ring index + 1 of the next entry in the bucket; 0: end */
};

struct hb_dedup {
    long window_ms;
    size_t max;            /* entries at most */
    struct dd_entry *ring; /* entries head .. head + n - 1 (mod cap), oldest first */
    size_t cap, head, n;
    uint32_t *buckets; /* ring index + 1; 0: empty */
    size_t mask;
};

#define DD_MIN_CAP 64
#define DD_MAX_ENTRIES ((size_t)1 << 30)

struct hb_dedup *hb_dedup_new(long window_ms, size_t max_entries)
{
    struct hb_dedup *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    /* Both arrays start small and double with the number of ids (dd_grow):
     * sized for max_entries up front the buckets alone were 1 MiB for the
     * runtime's 200000, paged in at random by the first few hundred ids. */
    d->window_ms = window_ms;
    d->max = max_entries ? max_entries : 1;
    if (d->max > DD_MAX_ENTRIES)
        d->max = DD_MAX_ENTRIES;
    d->cap = d->max < DD_MIN_CAP ? d->max : DD_MIN_CAP;
    d->mask = DD_MIN_CAP - 1;
    d->ring = calloc(d->cap, sizeof(*d->ring));
    d->buckets = calloc(DD_MIN_CAP, sizeof(*d->buckets));
    if (!d->ring || !d->buckets) {
        hb_dedup_free(d);
        return NULL;
    }
    return d;
}

static size_t dd_pos(const struct hb_dedup *d, size_t i)
{
    return (d->head + i) % d->cap;
}

/* Unlinks the oldest entry. */
static void dd_pop(struct hb_dedup *d)
{
    uint32_t want = (uint32_t)d->head + 1;
    uint32_t *pp = &d->buckets[d->ring[d->head].h[0] & d->mask];
    while (*pp != want)
        pp = &d->ring[*pp - 1].hnext;
    *pp = d->ring[d->head].hnext;
    d->head = (d->head + 1) % d->cap;
    d->n--;
}

/* Doubles the ring (when full, up to max) and the buckets with it, moving
 * the entries to the start of the new ring in order. Without memory it
 * keeps the current arrays: the oldest id is then evicted early. */
static void dd_grow(struct hb_dedup *d)
{
    if (d->n < d->cap || d->cap >= d->max)
        return;
    size_t cap = d->cap * 2 < d->max ? d->cap * 2 : d->max;
    size_t nb = d->mask + 1;
    while (nb < cap)
        nb *= 2;
    struct dd_entry *ring = malloc(cap * sizeof(*ring));
    uint32_t *b = calloc(nb, sizeof(*b));
    if (!ring || !b) {
        free(ring);
        free(b);
        return;
    }
    for (size_t i = 0; i < d->n; i++) {
        ring[i] = d->ring[dd_pos(d, i)];
        uint32_t *head = &b[ring[i].h[0] & (nb - 1)];
        ring[i].hnext = *head;
        *head = (uint32_t)i + 1;
    }
    free(d->ring);
    free(d->buckets);
    d->ring = ring;
    d->buckets = b;
    d->cap = cap;
    d->head = 0;
    d->mask = nb - 1;
}

void hb_dedup_free(struct hb_dedup *d)
{
    if (!d)
        return;
    free(d->ring);
    free(d->buckets);
    free(d);
}

bool hb_dedup_seen(struct hb_dedup *d, const char *id, int64_t now_ms)
{
    while (d->n && now_ms - d->ring[d->head].at >= d->window_ms)
        dd_pop(d);
    unsigned char md[SHA256_DIGEST_LENGTH];
    uint64_t h[2];
    SHA256((const unsigned char *)id, strlen(id), md);
    memcpy(h, md, sizeof(h));
    for (uint32_t i = d->buckets[h[0] & d->mask]; i; i = d->ring[i - 1].hnext)
        if (d->ring[i - 1].h[0] == h[0] && d->ring[i - 1].h[1] == h[1])
            return true;
    dd_grow(d);
    if (d->n >= d->cap) /* at max (or the ring could not grow) */
        dd_pop(d);
    size_t pos = dd_pos(d, d->n);
    struct dd_entry *e = &d->ring[pos];
    e->h[0] = h[0];
    e->h[1] = h[1];
    e->at = now_ms;
    e->hnext = d->buckets[h[0] & d->mask];
    d->buckets[h[0] & d->mask] = (uint32_t)pos + 1;
    d->n++;
    return false;
}

size_t hb_dedup_size(const struct hb_dedup *d)
{
    return d->n;
}

/* ---- debounce: one entry per key with its open window and busy mark. The
 * number of keys is bounded by the runtime's in-flight limit, so a linear
 * scan is fine. ---- */

struct db_entry {
    char *key;
    bool busy;
    int64_t deadline;
    void **items;
    size_t n, cap;
    void *acc; /* the application's fold of the open window (see hb_debounce_acc) */
};

struct hb_debounce {
    long window_ms;
    struct db_entry *e;
    size_t n, cap;
    void (*acc_free)(void *acc, void *ud);
    void *acc_ud;
};

struct hb_debounce *hb_debounce_new(long window_ms)
{
    struct hb_debounce *d = calloc(1, sizeof(*d));
    if (d)
        d->window_ms = window_ms;
    return d;
}

static struct db_entry *db_find(const struct hb_debounce *d, const char *key)
{
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->e[i].key, key) == 0)
            return &d->e[i];
    return NULL;
}

static void db_remove(struct hb_debounce *d, struct db_entry *e)
{
    if (e->acc && d->acc_free)
        d->acc_free(e->acc, d->acc_ud);
    free(e->key);
    free(e->items);
    *e = d->e[--d->n];
}

void hb_debounce_clear(struct hb_debounce *d, void (*drop)(void *item, void *ud), void *ud)
{
    while (d->n) {
        struct db_entry *e = &d->e[d->n - 1];
        for (size_t i = 0; drop && i < e->n; i++)
            drop(e->items[i], ud);
        db_remove(d, e);
    }
}

void hb_debounce_free(struct hb_debounce *d, void (*drop)(void *item, void *ud), void *ud)
{
    if (!d)
        return;
    hb_debounce_clear(d, drop, ud);
    free(d->e);
    free(d);
}

int hb_debounce_add(struct hb_debounce *d, const char *key, void *item, int64_t now_ms)
{
    struct db_entry *e = db_find(d, key);
    if (!e) {
        if (d->n == d->cap) {
            size_t nc = d->cap ? d->cap * 2 : 16;
            struct db_entry *ne = realloc(d->e, nc * sizeof(*ne));
            if (!ne)
                return -1;
            d->e = ne;
            d->cap = nc;
        }
        e = &d->e[d->n];
        memset(e, 0, sizeof(*e));
        if (!(e->key = strdup(key)))
            return -1;
        d->n++;
    }
    if (e->n == e->cap) {
        size_t nc = e->cap ? e->cap * 2 : 4;
        void **ni = realloc(e->items, nc * sizeof(*ni));
        if (!ni)
            return -1;
        e->items = ni;
        e->cap = nc;
    }
    if (e->n == 0) /* the first item opens the window */
        e->deadline = now_ms + d->window_ms;
    e->items[e->n++] = item;
    return 0;
}

bool hb_debounce_take(struct hb_debounce *d, int64_t now_ms, struct hb_dwin *out)
{
    struct db_entry *best = NULL;
    for (size_t i = 0; i < d->n; i++) {
        struct db_entry *e = &d->e[i];
        if (!e->busy && e->n && e->deadline <= now_ms && (!best || e->deadline < best->deadline))
            best = e;
    }
    if (!best)
        return false;
    char *key = strdup(best->key);
    if (!key)
        return false;
    out->key = key;
    out->items = best->items;
    out->n = best->n;
    out->acc = best->acc;
    best->acc = NULL;
    best->items = NULL;
    best->n = best->cap = 0;
    best->busy = true;
    return true;
}

void hb_debounce_release(struct hb_debounce *d, const char *key)
{
    struct db_entry *e = db_find(d, key);
    if (!e)
        return;
    e->busy = false;
    if (!e->n)
        db_remove(d, e);
}

void hb_debounce_set_acc_free(struct hb_debounce *d, void (*acc_free)(void *acc, void *ud),
                              void *ud)
{
    d->acc_free = acc_free;
    d->acc_ud = ud;
}

void **hb_debounce_acc(struct hb_debounce *d, const char *key)
{
    struct db_entry *e = db_find(d, key);
    return e && e->n ? &e->acc : NULL;
}

long hb_debounce_next_ms(const struct hb_debounce *d, int64_t now_ms)
{
    long best = -1;
    for (size_t i = 0; i < d->n; i++) {
        const struct db_entry *e = &d->e[i];
        if (e->busy || !e->n)
            continue;
        long left = e->deadline > now_ms ? (long)(e->deadline - now_ms) : 0;
        if (best < 0 || left < best)
            best = left;
    }
    return best;
}

/* ---- per-partition offsets: a ring of pending offsets in order. ---- */

void hb_offsets_init(struct hb_offsets *t)
{
    memset(t, 0, sizeof(*t));
    t->next = -1;
    t->committed = -1;
}

void hb_offsets_clear(struct hb_offsets *t)
{
    free(t->off);
    free(t->done);
    hb_offsets_init(t);
}

#define RING(t, i) (((t)->head + (i)) % (t)->cap)

int64_t hb_offsets_last(const struct hb_offsets *t)
{
    return t->n ? t->off[RING(t, t->n - 1)] : -1;
}

int hb_offsets_push(struct hb_offsets *t, int64_t offset)
{
    if (t->n && offset <= t->off[RING(t, t->n - 1)])
        return -1;
    if (t->n == t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 64;
        int64_t *no = malloc(nc * sizeof(*no));
        unsigned char *nd = malloc(nc);
        if (!no || !nd) {
            free(no);
            free(nd);
            return -1;
        }
        for (size_t i = 0; i < t->n; i++) {
            no[i] = t->off[RING(t, i)];
            nd[i] = t->done[RING(t, i)];
        }
        free(t->off);
        free(t->done);
        t->off = no;
        t->done = nd;
        t->head = 0;
        t->cap = nc;
    }
    t->off[RING(t, t->n)] = offset;
    t->done[RING(t, t->n)] = 0;
    t->n++;
    return 0;
}

int hb_offsets_done(struct hb_offsets *t, int64_t offset)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) { /* offsets ascend along the ring */
        size_t mid = lo + (hi - lo) / 2;
        if (t->off[RING(t, mid)] < offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == t->n || t->off[RING(t, lo)] != offset || t->done[RING(t, lo)])
        return -1;
    t->done[RING(t, lo)] = 1;
    while (t->n && t->done[t->head]) {
        t->next = t->off[t->head] + 1;
        t->head = (t->head + 1) % t->cap;
        t->n--;
    }
    return 0;
}

int64_t hb_offsets_committable(const struct hb_offsets *t)
{
    int64_t c = t->n ? t->off[t->head] : t->next;
    return c >= 0 && c > t->committed ? c : -1;
}

void hb_offsets_committed(struct hb_offsets *t, int64_t offset)
{
    t->committed = offset;
}

size_t hb_offsets_pending(const struct hb_offsets *t)
{
    return t->n;
}
