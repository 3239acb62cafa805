/* window.h: what hookbus-kargo keeps of one debounce window (burst folding,
 * issue 23): the Warehouses and Promotions its events asked to refresh and,
 * across the tries of its action, the objects an earlier try already
 * refreshed (the runtime keeps the newest event's trace context). A burst of a thousand pushes
 * of one repository is held as these few names instead of its events. */
#ifndef KARGO_WINDOW_H
#define KARGO_WINDOW_H

#include <stdbool.h>
#include <stddef.h>

#define KARGO_SET_MAX 4096 /* names in one set */

/* A set of names ("ns/name"), in insertion order. */
struct kargo_set {
    char **v;
    size_t n;
    bool overflow; /* a name was dropped: KARGO_SET_MAX reached */
};
bool kargo_set_has(const struct kargo_set *s, const char *name);
/* Adds a copy of name unless present. 0, or -1 (ENOMEM or full). */
int kargo_set_add(struct kargo_set *s, const char *name);
void kargo_set_clear(struct kargo_set *s);

struct kargo_window {
    struct kargo_set warehouses, promotions; /* to refresh */
    struct kargo_set done_wh, done_promo;    /* refreshed by an earlier try */
    size_t events;                           /* events folded in */
};

struct kargo_window *kargo_window_new(void);
void kargo_window_free(struct kargo_window *w);

#endif
