/* consumer_sched.h: the consumer runtime's bookkeeping, kept free of Kafka
 * and threads so that unit tests can drive it with a fake clock:
 *   hb_dedup      event ids seen within a window (bounded, expiring)
 *   hb_debounce   trailing windows of items per key, one action per key at once
 *   hb_offsets    per-partition completion, giving the offset safe to commit
 * Private to libhookbus (not installed). None of them is thread-safe. */
#ifndef HOOKBUS_CONSUMER_SCHED_H
#define HOOKBUS_CONSUMER_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- dedup ---- */
struct hb_dedup;
/* window_ms > 0; at most max_entries ids are kept (the oldest go first). */
struct hb_dedup *hb_dedup_new(long window_ms, size_t max_entries);
void hb_dedup_free(struct hb_dedup *d);
/* True when id was recorded less than window_ms before now; otherwise records
 * it (at now) and returns false. Also false when memory runs out. */
bool hb_dedup_seen(struct hb_dedup *d, const char *id, int64_t now_ms);
size_t hb_dedup_size(const struct hb_dedup *d);

/* ---- debounce ---- */
struct hb_debounce;
/* A window handed out by hb_debounce_take: items oldest first (owned by the
 * caller: free(items), free(key)), and acc, what hb_debounce_acc's slot held
 * (owned by the caller too; NULL when nothing was folded). */
struct hb_dwin {
    char *key;
    void **items;
    size_t n;
    void *acc;
};
struct hb_debounce *hb_debounce_new(long window_ms);
/* Frees the bookkeeping; items still queued are passed to drop (may be NULL). */
void hb_debounce_free(struct hb_debounce *d, void (*drop)(void *item, void *ud), void *ud);
/* Queues item under key. The first item for a key opens a window that closes
 * window_ms later. 0 or -1 (ENOMEM). */
int hb_debounce_add(struct hb_debounce *d, const char *key, void *item, int64_t now_ms);
/* Takes one window that has closed and whose key has no action running, and
 * marks the key busy until hb_debounce_release. True when out was filled. */
bool hb_debounce_take(struct hb_debounce *d, int64_t now_ms, struct hb_dwin *out);
/* The action for key finished: its next window (events that came meanwhile)
 * may be taken once it closes. */
void hb_debounce_release(struct hb_debounce *d, const char *key);
/* The slot of the open window of key for the caller's own summary of it (a
 * fold of its items), NULL when key has no open window. The slot starts
 * NULL, goes out with the window (hb_dwin.acc) and is handed to acc_free
 * when the window is dropped (hb_debounce_clear, hb_debounce_free). */
void **hb_debounce_acc(struct hb_debounce *d, const char *key);
void hb_debounce_set_acc_free(struct hb_debounce *d, void (*acc_free)(void *acc, void *ud),
                              void *ud);
/* Milliseconds until the next window closes (0: one is due now), or -1 when
 * no window is waiting for its deadline. */
long hb_debounce_next_ms(const struct hb_debounce *d, int64_t now_ms);
/* Removes every queued item (passed to drop) and busy mark. */
void hb_debounce_clear(struct hb_debounce *d, void (*drop)(void *item, void *ud), void *ud);

/* ---- per-partition offsets ---- */
/* Offsets of one partition in consumption order (ascending) and which of
 * them are fully handled. */
struct hb_offsets {
    int64_t *off;
    unsigned char *done;
    size_t head, n, cap;
    int64_t next;      /* offset after the last one handled in order; -1: none yet */
    int64_t committed; /* last offset given to commit; -1: none */
};
void hb_offsets_init(struct hb_offsets *t);
void hb_offsets_clear(struct hb_offsets *t);
/* The greatest recorded offset still tracked, -1 if none. */
int64_t hb_offsets_last(const struct hb_offsets *t);
/* Records a consumed offset (greater than every recorded one). 0 or -1. */
int hb_offsets_push(struct hb_offsets *t, int64_t offset);
/* Marks offset handled. 0, or -1 when it is not pending. */
int hb_offsets_done(struct hb_offsets *t, int64_t offset);
/* The offset to commit (first unhandled one, or the one after the last
 * handled) when it moved since hb_offsets_committed, else -1. */
int64_t hb_offsets_committable(const struct hb_offsets *t);
void hb_offsets_committed(struct hb_offsets *t, int64_t offset);
size_t hb_offsets_pending(const struct hb_offsets *t);

#endif
