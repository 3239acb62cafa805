/* metrics.c: counters, gauges and histograms with Prometheus exposition. */
#include "hookbus/metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hookbus/util.h"

#define MAX_BOUNDS 32

enum kind { K_COUNTER, K_GAUGE, K_HISTOGRAM };

struct series {
    char *name, *help, *labels;
    enum kind kind;
    atomic_uint_least64_t count; /* counter value, histogram count */
    atomic_int_least64_t gauge;
    atomic_uint_least64_t sum_nano; /* histogram sum, in 1e-9 units */
    size_t nbounds;
    double bounds[MAX_BOUNDS];
    atomic_uint_least64_t buckets[MAX_BOUNDS];
    struct series *next;
};

struct hb_counter {
    struct series s;
};
struct hb_gauge {
    struct series s;
};
struct hb_histogram {
    struct series s;
};

struct hb_metrics {
    pthread_mutex_t lock;
    struct series *head, *tail;
};

struct hb_metrics *hb_metrics_new(void)
{
    struct hb_metrics *m = calloc(1, sizeof(*m));
    if (m)
        pthread_mutex_init(&m->lock, NULL);
    return m;
}

void hb_metrics_free(struct hb_metrics *m)
{
    if (!m)
        return;
    for (struct series *s = m->head, *n; s; s = n) {
        n = s->next;
        free(s->name);
        free(s->help);
        free(s->labels);
        free(s);
    }
    pthread_mutex_destroy(&m->lock);
    free(m);
}

/* Finds or creates a series; NULL on type clash or ENOMEM. */
static struct series *get_series(struct hb_metrics *m, const char *name, const char *help,
                                 const char *labels, enum kind kind, const double *bounds,
                                 size_t nbounds)
{
    struct series *s;
    if (!labels)
        labels = "";
    if (nbounds > MAX_BOUNDS)
        return NULL;
    int clash = 0;
    pthread_mutex_lock(&m->lock);
    for (s = m->head; s; s = s->next) {
        if (strcmp(s->name, name) != 0)
            continue;
        if (s->kind != kind)
            clash = 1;
        else if (strcmp(s->labels, labels) == 0)
            break;
    }
    if (!s && !clash && (s = calloc(1, sizeof(*s)))) {
        s->name = strdup(name);
        s->help = strdup(help ? help : "");
        s->labels = strdup(labels);
        s->kind = kind;
        s->nbounds = nbounds;
        if (nbounds)
            memcpy(s->bounds, bounds, nbounds * sizeof(double));
        if (!s->name || !s->help || !s->labels) {
            free(s->name);
            free(s->help);
            free(s->labels);
            free(s);
            s = NULL;
        } else {
            if (m->tail)
                m->tail->next = s;
            else
                m->head = s;
            m->tail = s;
        }
    }
    pthread_mutex_unlock(&m->lock);
    return s;
}

struct hb_counter *hb_metrics_counter(struct hb_metrics *m, const char *name, const char *help,
                                      const char *labels)
{
    return (struct hb_counter *)get_series(m, name, help, labels, K_COUNTER, NULL, 0);
}

struct hb_gauge *hb_metrics_gauge(struct hb_metrics *m, const char *name, const char *help,
                                  const char *labels)
{
    return (struct hb_gauge *)get_series(m, name, help, labels, K_GAUGE, NULL, 0);
}

struct hb_histogram *hb_metrics_histogram(struct hb_metrics *m, const char *name, const char *help,
                                          const char *labels, const double *bounds, size_t nbounds)
{
    return (struct hb_histogram *)get_series(m, name, help, labels, K_HISTOGRAM, bounds, nbounds);
}

void hb_counter_add(struct hb_counter *c, uint64_t n)
{
    if (c)
        atomic_fetch_add(&c->s.count, n);
}

uint64_t hb_counter_get(const struct hb_counter *c)
{
    return c ? atomic_load(&c->s.count) : 0;
}

void hb_gauge_set(struct hb_gauge *g, int64_t v)
{
    if (g)
        atomic_store(&g->s.gauge, v);
}

void hb_gauge_add(struct hb_gauge *g, int64_t d)
{
    if (g)
        atomic_fetch_add(&g->s.gauge, d);
}

int64_t hb_gauge_get(const struct hb_gauge *g)
{
    return g ? atomic_load(&g->s.gauge) : 0;
}

void hb_histogram_observe(struct hb_histogram *h, double v)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->s.nbounds; i++)
        if (v <= h->s.bounds[i])
            atomic_fetch_add(&h->s.buckets[i], 1);
    atomic_fetch_add(&h->s.count, 1);
    if (v > 0)
        atomic_fetch_add(&h->s.sum_nano, (uint64_t)(v * 1e9));
}

int hb_metrics_label_escape(const char *v, char *out, size_t outlen)
{
    size_t o = 0;
    for (const char *p = v; *p; p++) {
        const char *rep = *p == '\\' ? "\\\\" : *p == '"' ? "\\\"" : *p == '\n' ? "\\n" : NULL;
        size_t n = rep ? 2 : 1;
        if (o + n >= outlen)
            return -1;
        memcpy(out + o, rep ? rep : p, n);
        o += n;
    }
    if (o >= outlen)
        return -1;
    out[o] = '\0';
    return 0;
}

/* name{labels,extra} with the right punctuation when either part is empty. */
static void series_name(struct hb_buf *b, const char *name, const char *suffix, const char *labels,
                        const char *extra)
{
    hb_buf_printf(b, "%s%s", name, suffix);
    if (*labels || (extra && *extra))
        hb_buf_printf(b, "{%s%s%s}", labels, *labels && extra && *extra ? "," : "",
                      extra ? extra : "");
}

char *hb_metrics_render(struct hb_metrics *m)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    struct hb_buf b;
    hb_buf_init(&b, 64 << 20);
    pthread_mutex_lock(&m->lock);
    for (struct series *s = m->head; s; s = s->next) {
        int first = 1;
        for (struct series *t = m->head; t != s; t = t->next)
            if (strcmp(t->name, s->name) == 0)
                first = 0;
        if (!first)
            continue;
        hb_buf_printf(&b, "# HELP %s %s\n# TYPE %s %s\n", s->name, s->help, s->name,
                      types[s->kind]);
        for (struct series *t = s; t; t = t->next) {
            if (strcmp(t->name, s->name) != 0)
                continue;
            if (t->kind == K_COUNTER || t->kind == K_GAUGE) {
                series_name(&b, t->name, "", t->labels, NULL);
                if (t->kind == K_COUNTER)
                    hb_buf_printf(&b, " %llu\n", (unsigned long long)atomic_load(&t->count));
                else
                    hb_buf_printf(&b, " %lld\n", (long long)atomic_load(&t->gauge));
                continue;
            }
            char le[48];
            for (size_t i = 0; i < t->nbounds; i++) {
                snprintf(le, sizeof(le), "le=\"%g\"", t->bounds[i]);
                series_name(&b, t->name, "_bucket", t->labels, le);
                hb_buf_printf(&b, " %llu\n", (unsigned long long)atomic_load(&t->buckets[i]));
            }
            unsigned long long cnt = atomic_load(&t->count);
            series_name(&b, t->name, "_bucket", t->labels, "le=\"+Inf\"");
            hb_buf_printf(&b, " %llu\n", cnt);
            series_name(&b, t->name, "_sum", t->labels, NULL);
            hb_buf_printf(&b, " %.9f\n", (double)atomic_load(&t->sum_nano) / 1e9);
            series_name(&b, t->name, "_count", t->labels, NULL);
            hb_buf_printf(&b, " %llu\n", cnt);
        }
    }
    pthread_mutex_unlock(&m->lock);
    return hb_buf_steal(&b);
}
