/* window.c: hookbus-kargo's summary of one debounce window (window.h). */
#include "window.h"

#include <stdlib.h>
#include <string.h>

bool kargo_set_has(const struct kargo_set *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i], name) == 0)
            return true;
    return false;
}

int kargo_set_add(struct kargo_set *s, const char *name)
{
    if (kargo_set_has(s, name))
        return 0;
    if (s->n >= KARGO_SET_MAX) {
        s->overflow = true;
        return -1;
    }
    char *d = strdup(name);
    char **grown = d ? realloc(s->v, (s->n + 1) * sizeof(*s->v)) : NULL;
    if (!grown) {
        free(d);
        return -1;
    }
    s->v = grown;
    s->v[s->n++] = d;
    return 0;
}

void kargo_set_clear(struct kargo_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof(*s));
}

struct kargo_window *kargo_window_new(void)
{
    return calloc(1, sizeof(struct kargo_window));
}

void kargo_window_free(struct kargo_window *w)
{
    if (!w)
        return;
    kargo_set_clear(&w->warehouses);
    kargo_set_clear(&w->promotions);
    kargo_set_clear(&w->done_wh);
    kargo_set_clear(&w->done_promo);
    free(w);
}
