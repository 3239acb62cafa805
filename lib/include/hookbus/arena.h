/* hookbus/arena.h: a scratch allocator for the cJSON trees of one request.
 *
 * A webhook body becomes a few hundred small cJSON nodes that all die
 * together when the request has been normalized; taking each from malloc and
 * giving it back one by one was a third of the gateway's time per request.
 * While a thread has entered an arena, cJSON takes its small blocks from the
 * arena's chunks (a pointer bump) and frees of those blocks cost nothing;
 * hb_arena_leave() releases them all at once. Large blocks (printed JSON,
 * long strings) still come from malloc and are freed normally, so one large
 * body does not pin memory until the end of the request.
 *
 * Rules: hb_json_arena_install() once, before any thread starts (it sets
 * cJSON's process-wide hooks); memory cJSON returns must be freed with
 * cJSON_free() or cJSON_Delete(), never free(); and no cJSON value made
 * inside an arena may be used after hb_arena_leave() (ASan builds poison
 * released chunks, so such a use is reported). Outside an arena the hooks are
 * malloc and free. */
#ifndef HOOKBUS_ARENA_H
#define HOOKBUS_ARENA_H

#include <stdbool.h>
#include <stddef.h>

struct hb_arena_chunk;

struct hb_arena {
    struct hb_arena_chunk *head; /* the chunk being filled, then older ones */
    size_t used;                 /* bytes handed out, for tests and metrics */
};

/* Sets cJSON's allocation hooks to the arena-aware pair. Idempotent. */
void hb_json_arena_install(void);
/* Makes a (zeroed) the calling thread's arena. buf[size] (may be NULL/0),
 * typically on the caller's stack, is used first; more chunks come from
 * malloc as needed. Arenas do not nest: entering while one is entered is a
 * programming error (abort); see hb_arena_entered(). */
void hb_arena_enter(struct hb_arena *a, void *buf, size_t size);
/* True while the calling thread is in an arena. */
bool hb_arena_entered(void);
/* Enters a as hb_arena_enter unless the thread is in an arena already (then
 * that one serves). True when it entered: leave then, and only then. */
bool hb_arena_enter_if_none(struct hb_arena *a, void *buf, size_t size);
/* Leaves the thread's arena and frees the chunks it took from malloc. */
void hb_arena_leave(void);

#endif
