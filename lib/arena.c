/* arena.c: the per-request scratch allocator behind cJSON (see arena.h). */
#include "hookbus/arena.h"

#include <cjson/cJSON.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

enum {
    ALIGN = alignof(max_align_t),
    SMALL_MAX = 1024,        /* larger blocks come from malloc */
    CHUNK_MIN = 32 * 1024,   /* a ~4 KB push needs ~24 KB of nodes */
    CHUNK_MAX = 1024 * 1024, /* chunks double up to this: few chunks to search */
};

struct hb_arena_chunk {
    struct hb_arena_chunk *next;
    size_t size, off;
    bool borrowed; /* the caller's buffer: not freed on leave */
    alignas(max_align_t) unsigned char data[];
};

static __thread struct hb_arena *current;

static void *chunk_take(struct hb_arena *a, size_t n)
{
    struct hb_arena_chunk *c = a->head;
    if (!c || c->size - c->off < n) {
        size_t size = c && c->size * 2 > CHUNK_MIN ? c->size * 2 : CHUNK_MIN;
        if (size > CHUNK_MAX)
            size = CHUNK_MAX;
        struct hb_arena_chunk *fresh = malloc(sizeof(*fresh) + size);
        if (!fresh)
            return NULL;
        *fresh = (struct hb_arena_chunk){.next = c, .size = size};
        a->head = c = fresh;
    }
    void *p = c->data + c->off;
    c->off += n;
    a->used += n;
    return p;
}

static void *arena_malloc(size_t n)
{
    struct hb_arena *a = current;
    if (!a || n == 0 || n > SMALL_MAX)
        return malloc(n);
    return chunk_take(a, (n + ALIGN - 1) & ~(size_t)(ALIGN - 1));
}

static bool in_arena(const struct hb_arena *a, const void *p)
{
    uintptr_t u = (uintptr_t)p;
    for (const struct hb_arena_chunk *c = a->head; c; c = c->next)
        if (u >= (uintptr_t)c->data && u < (uintptr_t)c->data + c->size)
            return true;
    return false;
}

static void arena_free(void *p)
{
    /* A block of the entered arena dies with it; anything else (made outside
     * an arena, or too large for one) is the heap's. */
    if (p && current && in_arena(current, p))
        return;
    free(p);
}

void hb_json_arena_install(void)
{
    cJSON_Hooks hooks = {.malloc_fn = arena_malloc, .free_fn = arena_free};
    cJSON_InitHooks(&hooks);
}

void hb_arena_enter(struct hb_arena *a, void *buf, size_t size)
{
    if (current) {
        fputs("hb_arena_enter: an arena is already entered on this thread\n", stderr);
        abort();
    }
    /* The caller's buffer becomes the first chunk, header included. */
    uintptr_t u = ((uintptr_t)buf + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1);
    size_t skip = (size_t)(u - (uintptr_t)buf);
    if (buf && size > skip + sizeof(struct hb_arena_chunk) + ALIGN) {
        struct hb_arena_chunk *c = (struct hb_arena_chunk *)u;
        *c = (struct hb_arena_chunk){.size = size - skip - sizeof(*c), .borrowed = true};
        a->head = c;
    }
    current = a;
}

bool hb_arena_entered(void)
{
    return current != NULL;
}

bool hb_arena_enter_if_none(struct hb_arena *a, void *buf, size_t size)
{
    if (current)
        return false;
    hb_arena_enter(a, buf, size);
    return true;
}

void hb_arena_leave(void)
{
    struct hb_arena *a = current;
    current = NULL;
    if (!a)
        return;
    for (struct hb_arena_chunk *c = a->head, *next; c; c = next) {
        next = c->next;
        if (!c->borrowed)
            free(c);
    }
    a->head = NULL;
}
